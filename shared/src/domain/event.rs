//! The dashboard's change feed: each organisation's events in one gap-free sequence, kept 24 hours,
//! read with an opaque cursor (`GET /v1/events?after=&wait=`).
//!
//! Why a sequence and not time-ordered ids: with ids taken from clocks, an event whose write is
//! slow can land *behind* a cursor a reader has already moved past, and that reader never sees it.
//! Here every event takes the next number of its organisation's counter; a reader hands out events
//! only up to the first number that is not written yet, and waits for it. A number that never gets
//! written (a writer that died between taking it and writing) is skipped after [`GAP_GRACE`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// How long the feed keeps an event (the table's TTL attribute `expires_at`).
pub const EVENT_RETENTION: Duration = Duration::hours(24);
/// How long a reader waits for a missing number before it takes the writer for dead.
pub const GAP_GRACE: Duration = Duration::seconds(3);
/// Dedupe markers outlive every retry of the job that records the event.
pub const DEDUPE_RETENTION: Duration = Duration::hours(48);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "action.created")]
    ActionCreated,
    #[serde(rename = "action.decided")]
    ActionDecided,
    /// The delivery status of an action's answer moved (sent, delivered, read, failed).
    #[serde(rename = "action.response_status_changed")]
    ResponseStatusChanged,
    #[serde(rename = "message.status_changed")]
    MessageStatusChanged,
    #[serde(rename = "ticket.opened")]
    TicketOpened,
    #[serde(rename = "ticket.answered")]
    TicketAnswered,
    #[serde(rename = "ticket.closed")]
    TicketClosed,
    /// A feedback call is ready: created, or due again after a missed attempt.
    #[serde(rename = "call.ready")]
    CallReady,
    /// The voice provider accepted an attempt.
    #[serde(rename = "call.started")]
    CallStarted,
    #[serde(rename = "call.completed")]
    CallCompleted,
    /// An attempt was missed on its last try (with `fallback` when the WhatsApp survey follows).
    #[serde(rename = "call.missed")]
    CallMissed,
    /// A customer crossed a rate limit and is blocked for the cool-down (once per block; meant
    /// for supervisors: `data.notify = {"role": "supervisor"}`).
    #[serde(rename = "customer.rate_limited")]
    CustomerRateLimited,
    /// A WhatsApp template's review status or quality moved (`data.change`: `status` or
    /// `quality`); `data.notify.user_id` is who submitted it, when MAX knows.
    #[serde(rename = "template.status_changed")]
    TemplateStatusChanged,
    /// An inbound message's file is in S3 (`data`: conversation, message, media id).
    #[serde(rename = "media.stored")]
    MediaStored,
    /// An inbound message's file could not be kept (`data.reason`): Meta forgot it, or it never
    /// matched what Meta said.
    #[serde(rename = "media.unavailable")]
    MediaUnavailable,
    /// A reply for a user of the organisation's chat app, for the app to show them (`data`: ids,
    /// the app's `user_id`, `text`, `content`); the app posts back what became of it.
    #[serde(rename = "chat_app.message")]
    ChatAppMessage,
    /// An outbound webhook subscription was switched off by MAX (`data.reason`: `gone` for a 410,
    /// `failing` after 5 days of failed attempts); meant for admins: `data.notify = {"role": "admin"}`.
    #[serde(rename = "webhook.subscription_disabled")]
    WebhookSubscriptionDisabled,
    /// An SLA clock reached its warning share (`data`: conversation, metric, target and elapsed
    /// seconds, due time).
    #[serde(rename = "sla.warning")]
    SlaWarning,
    /// An SLA target was missed (`data`: metric, `target_seconds`, `actual_seconds` when seen).
    #[serde(rename = "sla.breached")]
    SlaBreached,
    /// A missed target's escalation ran (`data.escalation`: what it did; `data.notify` for
    /// supervisors when the policy says so).
    #[serde(rename = "sla.escalated")]
    SlaEscalated,
    /// A customer was linked into another (`data`: `customer_id` the secondary, `primary_id`,
    /// `linked_by`, `conversations` moved, `identities`).
    #[serde(rename = "customer.linked")]
    CustomerLinked,
    /// A link was undone (`data`: `customer_id`, `primary_id`, `unlinked_by`, `conversations`
    /// given back).
    #[serde(rename = "customer.unlinked")]
    CustomerUnlinked,
    /// A conversation got an agent (`data`: `assignee_id`, `team_id`, `by`: `routing`, `manual`
    /// or `escalation`).
    #[serde(rename = "conversation.assigned")]
    ConversationAssigned,
    /// A conversation's agent left it (`data.assignee_id`: who had it; `by` as above).
    #[serde(rename = "conversation.unassigned")]
    ConversationUnassigned,
    /// An interaction is scheduled soon (the organisation's `reminder_lead_minutes`), sent once
    /// per `scheduled_at` to its assignee (`data.notify.user_id`).
    #[serde(rename = "interaction.reminder")]
    InteractionReminder,
    /// An interaction's `due_at` passed while it is still open, sent once per `due_at`
    /// (`data.notify.user_id`: its assignee).
    #[serde(rename = "interaction.overdue")]
    InteractionOverdue,
    /// A number taken by a duplicate that found its event already recorded: keeps the sequence
    /// gap-free, never shown.
    #[serde(rename = "void")]
    Void,
}

impl EventKind {
    /// Every kind a reader or a webhook subscriber is shown (all but `Void`): the catalogue the
    /// contract lists for `event_types`. A new kind goes here too, or no subscriber can want it.
    pub const CATALOGUE: [EventKind; 26] = [
        EventKind::ActionCreated,
        EventKind::ActionDecided,
        EventKind::ResponseStatusChanged,
        EventKind::MessageStatusChanged,
        EventKind::TicketOpened,
        EventKind::TicketAnswered,
        EventKind::TicketClosed,
        EventKind::CallReady,
        EventKind::CallStarted,
        EventKind::CallCompleted,
        EventKind::CallMissed,
        EventKind::CustomerRateLimited,
        EventKind::TemplateStatusChanged,
        EventKind::MediaStored,
        EventKind::MediaUnavailable,
        EventKind::ChatAppMessage,
        EventKind::WebhookSubscriptionDisabled,
        EventKind::SlaWarning,
        EventKind::SlaBreached,
        EventKind::SlaEscalated,
        EventKind::CustomerLinked,
        EventKind::CustomerUnlinked,
        EventKind::ConversationAssigned,
        EventKind::ConversationUnassigned,
        EventKind::InteractionReminder,
        EventKind::InteractionOverdue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SlaWarning => "sla.warning",
            EventKind::SlaBreached => "sla.breached",
            EventKind::SlaEscalated => "sla.escalated",
            EventKind::ActionCreated => "action.created",
            EventKind::ActionDecided => "action.decided",
            EventKind::ResponseStatusChanged => "action.response_status_changed",
            EventKind::MessageStatusChanged => "message.status_changed",
            EventKind::TicketOpened => "ticket.opened",
            EventKind::TicketAnswered => "ticket.answered",
            EventKind::TicketClosed => "ticket.closed",
            EventKind::CallReady => "call.ready",
            EventKind::CallStarted => "call.started",
            EventKind::CallCompleted => "call.completed",
            EventKind::CallMissed => "call.missed",
            EventKind::CustomerRateLimited => "customer.rate_limited",
            EventKind::TemplateStatusChanged => "template.status_changed",
            EventKind::MediaStored => "media.stored",
            EventKind::MediaUnavailable => "media.unavailable",
            EventKind::ChatAppMessage => "chat_app.message",
            EventKind::WebhookSubscriptionDisabled => "webhook.subscription_disabled",
            EventKind::CustomerLinked => "customer.linked",
            EventKind::CustomerUnlinked => "customer.unlinked",
            EventKind::ConversationAssigned => "conversation.assigned",
            EventKind::ConversationUnassigned => "conversation.unassigned",
            EventKind::InteractionReminder => "interaction.reminder",
            EventKind::InteractionOverdue => "interaction.overdue",
            EventKind::Void => "void",
        }
    }
}

/// An event to record. `dedupe_key` makes recording it idempotent: a retried job that records the
/// same key again changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub org_id: String,
    pub kind: EventKind,
    /// When it happened (a decision's time, a status's timestamp).
    pub at: DateTime<Utc>,
    /// The ids the dashboard needs (`action_id`, `conversation_id`, `message_id`, `ticket_id`) and the new state.
    pub data: Value,
    pub dedupe_key: Option<String>,
}

impl NewEvent {
    pub fn new(org_id: &str, kind: EventKind, at: DateTime<Utc>, data: Value, dedupe_key: impl Into<String>) -> Self {
        NewEvent { org_id: org_id.to_string(), kind, at, data, dedupe_key: Some(dedupe_key.into()) }
    }
}

/// An event as stored in the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardEvent {
    pub org_id: String,
    pub seq: u64,
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    /// When the feed got it (decides whether a gap before it is stale).
    pub recorded_at: DateTime<Utc>,
    #[serde(default)]
    pub data: Value,
    /// Epoch seconds; DynamoDB's TTL deletes the item some time after.
    pub expires_at: i64,
}

impl DashboardEvent {
    pub fn recorded(event: &NewEvent, seq: u64, now: DateTime<Utc>) -> Self {
        DashboardEvent {
            org_id: event.org_id.clone(),
            seq,
            kind: event.kind,
            at: event.at,
            recorded_at: now,
            data: event.data.clone(),
            expires_at: (now + EVENT_RETENTION).timestamp(),
        }
    }

    /// Fills a number whose event turned out to be a duplicate.
    pub fn void(org_id: &str, seq: u64, now: DateTime<Utc>) -> Self {
        DashboardEvent {
            org_id: org_id.to_string(),
            seq,
            kind: EventKind::Void,
            at: now,
            recorded_at: now,
            data: Value::Null,
            expires_at: (now + EVENT_RETENTION).timestamp(),
        }
    }

    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now.timestamp()
    }
}

/// A position in an organisation's feed: the number of the last event handed out. Opaque to callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventCursor(pub u64);

const CURSOR_PREFIX: &str = "ev1.";

impl EventCursor {
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{}", self.0))
    }

    pub fn decode(field: &str, cursor: &str) -> Result<Self> {
        let bad = || Error::invalid(field, "is not a cursor this feed returned");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        text.strip_prefix(CURSOR_PREFIX).and_then(|n| n.parse().ok()).map(EventCursor).ok_or_else(bad)
    }
}

/// What a read of the feed hands out.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedRead {
    /// Visible events, oldest first.
    pub events: Vec<DashboardEvent>,
    /// Where the next read continues (past void and expired events too).
    pub cursor: EventCursor,
    /// Stopped at a number still being written: read again shortly.
    pub waiting_for_gap: bool,
}

/// Walks `items` (the stored events after `after`, in order) as far as the sequence has no hole.
/// A hole is waited for while the event after it is younger than [`GAP_GRACE`]; an older hole (a
/// dead writer, or events the TTL already deleted) is stepped over.
pub fn read_feed(after: EventCursor, items: Vec<DashboardEvent>, now: DateTime<Utc>) -> FeedRead {
    let mut cursor = after.0;
    let mut events = Vec::new();
    for item in items {
        if item.seq <= cursor {
            continue;
        }
        if item.seq != cursor + 1 && now - item.recorded_at < GAP_GRACE {
            return FeedRead { events, cursor: EventCursor(cursor), waiting_for_gap: true };
        }
        cursor = item.seq;
        if item.kind != EventKind::Void && !item.expired(now) {
            events.push(item);
        }
    }
    FeedRead { events, cursor: EventCursor(cursor), waiting_for_gap: false }
}

/// How long `GET /v1/events` may hold a request open.
pub const MAX_WAIT_SECS: u64 = 20;

/// Long-poll readers of one organisation's feed waiting at once; the next one answers 429. Each
/// holds an instance of the API function for up to [`MAX_WAIT_SECS`]: a few dashboards' worth,
/// far below the account's concurrency, so one tenant cannot take it from the rest.
pub const MAX_FEED_WAITERS: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_750_000_000_000 + ms).unwrap()
    }

    fn ev(seq: u64, recorded_ms: i64) -> DashboardEvent {
        let new = NewEvent::new("o", EventKind::ActionDecided, t(recorded_ms), json!({"action_id": seq}), format!("k{seq}"));
        DashboardEvent::recorded(&new, seq, t(recorded_ms))
    }

    fn seqs(read: &FeedRead) -> Vec<u64> {
        read.events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn events_come_out_in_order_and_the_cursor_moves_past_them() {
        let read = read_feed(EventCursor(0), vec![ev(1, 0), ev(2, 1), ev(3, 2)], t(10));
        assert_eq!(seqs(&read), [1, 2, 3]);
        assert_eq!(read.cursor, EventCursor(3));
        assert!(!read.waiting_for_gap);
    }

    #[test]
    fn a_number_still_being_written_holds_back_everything_after_it() {
        // 2 is taken but not written yet; 3 landed first.
        let read = read_feed(EventCursor(0), vec![ev(1, 0), ev(3, 5)], t(100));
        assert_eq!(seqs(&read), [1]);
        assert_eq!(read.cursor, EventCursor(1));
        assert!(read.waiting_for_gap);
        // Once 2 lands, 2 and 3 come out in order.
        let read = read_feed(read.cursor, vec![ev(2, 120), ev(3, 5)], t(130));
        assert_eq!(seqs(&read), [2, 3]);
    }

    #[test]
    fn a_hole_older_than_the_grace_is_stepped_over() {
        let stale = t(0) + GAP_GRACE;
        let read = read_feed(EventCursor(0), vec![ev(1, 0), ev(3, 0)], stale);
        assert_eq!(seqs(&read), [1, 3]);
        assert_eq!(read.cursor, EventCursor(3));
        // An old cursor whose next events the TTL already deleted.
        let read = read_feed(EventCursor(5), vec![ev(40, 0)], stale);
        assert_eq!(seqs(&read), [40]);
    }

    #[test]
    fn void_and_expired_events_move_the_cursor_but_are_not_shown() {
        let mut old = ev(2, 0);
        old.expires_at = t(0).timestamp();
        let read = read_feed(EventCursor(0), vec![DashboardEvent::void("o", 1, t(0)), old, ev(3, 0)], t(1000));
        assert_eq!(seqs(&read), [3]);
        assert_eq!(read.cursor, EventCursor(3));
    }

    #[test]
    fn cursors_are_opaque_and_checked() {
        let c = EventCursor(42);
        assert_eq!(EventCursor::decode("after", &c.encode()).unwrap(), c);
        assert!(!c.encode().contains("42"));
        assert!(EventCursor::decode("after", "42").is_err());
        assert!(EventCursor::decode("after", &URL_SAFE_NO_PAD.encode("ev1.x")).is_err());
    }

    #[test]
    fn kinds_read_as_the_dashboard_expects() {
        assert_eq!(serde_json::to_value(EventKind::ResponseStatusChanged).unwrap(), json!("action.response_status_changed"));
        assert_eq!(EventKind::TicketOpened.as_str(), "ticket.opened");
        assert_eq!(ev(1, 0).expires_at - ev(1, 0).recorded_at.timestamp(), 24 * 3600);
    }
}
