//! Conversations and the 24-hour customer-service window.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::business_hours::BusinessCalendar;
use crate::domain::sla::{AfterHoursReplied, ClockEnd, ClockEnded, ComplianceCount, ConversationSla, Escalation, FiredStep, Priority, SlaMetric, SlaPolicy, SlaStep, after_hours_reply_due};
use crate::domain::team::Team;

/// Meta lets a business send free-form messages for 24 hours after the customer's last message.
pub const CUSTOMER_SERVICE_WINDOW: Duration = Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// Open and in no team's queue: the bot's, or an organisation that does not route.
    Open,
    /// Open, in its team's queue, waiting for an agent.
    Queued,
    /// Open, with its team and an agent of it.
    Assigned,
    Closed,
}

impl ConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Queued => "queued",
            ConversationStatus::Assigned => "assigned",
            ConversationStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "queued" => Some(Self::Queued),
            "assigned" => Some(Self::Assigned),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }

    /// Every status but `closed` is an open conversation (it takes messages and replies).
    pub fn is_open(self) -> bool {
        self != ConversationStatus::Closed
    }
}

/// Why a conversation was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// An agent closed it (`POST /v1/conversations/{id}/close`).
    Agent,
    /// The customer was erased.
    Erased,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conversation {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    pub channel: String,
    /// Our business number the customer wrote to.
    pub phone_number_id: String,
    /// The customer's WhatsApp address (see `WhatsAppAddress`).
    pub customer_address: String,
    pub status: ConversationStatus,
    #[serde(default)]
    pub assignee_id: Option<String>,
    /// Where the bot is with this customer (`menu`, `chat_support`, ...).
    #[serde(default = "default_state")]
    pub state: String,
    #[serde(default)]
    pub ticket_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
    #[serde(default)]
    pub last_message_preview: Option<String>,
    #[serde(default)]
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// The id of the customer's latest message: the next one of the same second lists after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_message_id: Option<String>,
    /// When free-form replies stop being allowed; `None` until the customer has written.
    #[serde(default)]
    pub window_closes_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// While closed: why (absent on conversations closed before reasons were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<CloseReason>,
    /// The team whose queue it is in (the channel's default team, or set by a supervisor).
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub priority: Priority,
    /// What an agent needs to take it (routing), lower-cased skill names.
    #[serde(default)]
    pub required_skills: Vec<String>,
    /// The customer's first message (the first-response clock's start).
    #[serde(default)]
    pub first_message_at: Option<DateTime<Utc>>,
    /// An agent's first reply.
    #[serde(default)]
    pub first_response_at: Option<DateTime<Utc>>,
    /// The customer's oldest message not answered yet by an agent; `None` when nothing waits.
    #[serde(default)]
    pub waiting_since: Option<DateTime<Utc>>,
    /// The SLA policy that applies (fixed at the first message, evaluated again when the team or
    /// the priority changes); `None`: no policy applies.
    #[serde(default)]
    pub sla_policy_id: Option<String>,
    /// The running SLA clocks and the violations (`docs/sla.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<ConversationSla>,
    /// The agent whose `open_count` counts this conversation (its assignee, when the assignment
    /// counted: an agent, in a team); the close and the unassignment give that place back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds_capacity_of: Option<String>,
    /// Counts writes; a write of version n succeeds only over version n-1 (optimistic locking).
    #[serde(default)]
    pub version: u64,
    /// The after-hours reply last sent (once per closed period of its team).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_hours_reply: Option<AfterHoursReplied>,
    /// The SLA clocks this change ended, not stored on the conversation: the store adds them to
    /// the compliance counters in the same write (`docs/sla.md`).
    #[serde(skip)]
    pub sla_counts: Vec<ComplianceCount>,
}

impl Conversation {
    /// A new open conversation with a user of the organisation's chat app (`user_id`): on no
    /// WhatsApp number (`phone_number_id` empty), its replies delivered to the app as events.
    pub fn open_on_chat_app(id: String, org_id: &str, customer_id: &str, user_id: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> Conversation {
        Conversation { channel: crate::domain::chat_app::CHANNEL.into(), ..Conversation::open_on(id, org_id, "", customer_id, user_id, at, now) }
    }

    /// Whether the conversation is with a chat-app user (else WhatsApp).
    pub fn is_chat_app(&self) -> bool {
        self.channel == crate::domain::chat_app::CHANNEL
    }

    /// A new open conversation with the customer at `customer_address` on our number
    /// `phone_number_id`, in the bot's `menu`; `at` is when its first message was sent.
    pub fn open_on(id: String, org_id: &str, phone_number_id: &str, customer_id: &str, customer_address: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> Conversation {
        Conversation {
            id,
            org_id: org_id.to_string(),
            customer_id: customer_id.to_string(),
            channel: "whatsapp".into(),
            phone_number_id: phone_number_id.to_string(),
            customer_address: customer_address.to_string(),
            status: ConversationStatus::Open,
            assignee_id: None,
            state: "menu".into(),
            ticket_id: None,
            created_at: now,
            updated_at: now,
            last_message_at: at.min(now),
            last_message_preview: None,
            last_inbound_at: None,
            last_inbound_message_id: None,
            window_closes_at: None,
            closed_at: None,
            close_reason: None,
            team_id: None,
            priority: Priority::Normal,
            required_skills: Vec::new(),
            first_message_at: None,
            first_response_at: None,
            waiting_since: None,
            sla_policy_id: None,
            sla: None,
            holds_capacity_of: None,
            version: 1,
            after_hours_reply: None,
            sla_counts: Vec::new(),
        }
    }

    /// Joins `team`'s queue (a channel's default team at the opening).
    pub fn in_team(mut self, team: Option<&str>) -> Conversation {
        self.team_id = team.map(str::to_string);
        self.settle_status();
        self
    }

    /// The routing status an open conversation has: assigned with a team and an agent, queued
    /// with a team only, open otherwise (no team: nothing routes it, as before teams existed).
    pub fn open_status(&self) -> ConversationStatus {
        match (&self.team_id, &self.assignee_id) {
            (Some(_), Some(_)) => ConversationStatus::Assigned,
            (Some(_), None) => ConversationStatus::Queued,
            (None, _) => ConversationStatus::Open,
        }
    }

    /// Moves an open conversation to the status its team and assignee give it.
    pub fn settle_status(&mut self) {
        if self.status.is_open() {
            self.status = self.open_status();
        }
    }

    /// The team whose business hours the SLA counts in, when the policy counts business hours.
    pub fn sla_calendar_team(&self) -> Option<&str> {
        let sla = self.sla.as_ref()?;
        (sla.policy.counted_in == crate::domain::sla::CountedIn::BusinessHours).then_some(self.team_id.as_deref()).flatten()
    }

    /// A customer message sent at `at`: the first starts the first-response and resolution
    /// clocks; the first one left unanswered after an agent's reply starts the next-response clock.
    pub fn customer_wrote(&mut self, at: DateTime<Utc>, now: DateTime<Utc>, calendar: Option<&BusinessCalendar>) {
        let first = self.first_message_at.is_none();
        let was_waiting = self.waiting_since.is_some();
        self.first_message_at = Some(self.first_message_at.map_or(at, |f| f.min(at)));
        self.waiting_since = Some(self.waiting_since.map_or(at, |w| w.min(at)));
        let answered_before = self.first_response_at.is_some();
        if let Some(sla) = self.sla.as_mut() {
            if first {
                sla.start(SlaMetric::Frt, at, calendar);
                sla.start(SlaMetric::Resolution, at, calendar);
            } else if !was_waiting && answered_before {
                sla.start(SlaMetric::Nrt, at, calendar);
            }
            sla.reindex(now);
        }
    }

    /// A customer message at `at` while `team` (this conversation's, waiting for an agent) is
    /// closed under `calendar`: the after-hours reply's text, once per closed period — the period
    /// is recorded with this change, so a second message in it gets nothing and the first one of
    /// the next closed period gets it again. A new conversation's priority is lowered to `low`
    /// (one already in the queue keeps what a supervisor may have set). `None`: open, no reply
    /// set, or already replied in this period.
    pub fn after_hours(&mut self, team: &Team, calendar: &BusinessCalendar, at: DateTime<Utc>, first: bool) -> Option<String> {
        team.after_hours_reply.as_ref()?;
        let period = after_hours_reply_due(calendar, at, self.after_hours_reply.as_ref().map(|r| r.opening))?;
        let text = team.after_hours_text(calendar, period)?;
        self.after_hours_reply = Some(AfterHoursReplied { opening: period, at });
        if first {
            self.priority = Priority::Low;
        }
        Some(text)
    }

    /// An agent's reply at `at` answers what waits: it stops the response clocks.
    pub fn agent_replied(&mut self, at: DateTime<Utc>, now: DateTime<Utc>) {
        self.first_response_at = Some(self.first_response_at.map_or(at, |f| f.min(at)));
        self.waiting_since = None;
        if let Some(sla) = self.sla.as_mut() {
            let ended = [sla.stop(SlaMetric::Frt, at), sla.stop(SlaMetric::Nrt, at)];
            sla.reindex(now);
            self.count_ended(ended.into_iter().flatten());
        }
    }

    /// Keeps the ends of clocks for this change's write (per the team the conversation is in).
    fn count_ended(&mut self, ended: impl IntoIterator<Item = ClockEnded>) {
        for ended in ended {
            let day = ended.at.date_naive();
            self.sla_counts.push(ComplianceCount { org_id: self.org_id.clone(), conversation_id: self.id.clone(), team_id: self.team_id.clone(), day, ended });
        }
    }

    /// The scheduler's breaches among `fired` count as missed (on the deadline's day), each with
    /// the violation it recorded. Called before an escalation moves the conversation: the miss is
    /// the team's that had it.
    pub fn count_sla_breaches(&mut self, fired: &[FiredStep]) {
        let Some(sla) = self.sla.as_ref() else { return };
        let ended: Vec<ClockEnded> = fired
            .iter()
            .filter(|f| f.step == SlaStep::Breach)
            .map(|f| ClockEnded {
                metric: f.metric,
                end: ClockEnd::Missed,
                at: f.clock.due_at,
                response_seconds: None,
                violation: sla.violations.iter().rev().find(|v| v.metric == f.metric && v.started_at == f.clock.started_at).cloned(),
            })
            .collect();
        self.count_ended(ended);
    }

    /// The close at `at` resolves it: every clock stops, nothing stays in the deadline index.
    pub fn closing(&mut self, at: DateTime<Utc>) {
        if let Some(sla) = self.sla.as_mut() {
            let ended: Vec<ClockEnded> = [SlaMetric::Frt, SlaMetric::Nrt, SlaMetric::Resolution].into_iter().filter_map(|metric| sla.stop(metric, at)).collect();
            sla.check_at = None;
            self.count_ended(ended);
        }
    }

    /// Applies `policy` (the one that applies now to its team and priority): a different policy
    /// than the running one restarts the clocks still owed from their original starts, under its
    /// targets; the same one changes nothing; none clears the SLA.
    pub fn apply_policy(&mut self, policy: Option<&SlaPolicy>, now: DateTime<Utc>, calendar: Option<&BusinessCalendar>) {
        let current = self.sla.as_ref().map(|s| (&s.policy.id, s.policy.version));
        if current == policy.map(|p| (&p.id, p.version)) {
            return;
        }
        self.sla_policy_id = policy.map(|p| p.id.clone());
        let Some(policy) = policy else {
            self.sla = None;
            return;
        };
        let mut sla = ConversationSla::new(policy.clone());
        if let Some(first) = self.first_message_at {
            if self.first_response_at.is_none() {
                sla.start(SlaMetric::Frt, first, calendar);
            } else if let Some(waiting) = self.waiting_since {
                sla.start(SlaMetric::Nrt, waiting, calendar);
            }
            if self.status.is_open() {
                sla.start(SlaMetric::Resolution, first, calendar);
            }
        }
        if let Some(old) = self.sla.take() {
            sla.violations = old.violations;
        }
        sla.reindex(now);
        self.sla = Some(sla);
    }

    /// An escalation's actions: priority one step up, to another team's queue, to an agent.
    pub fn escalate(&mut self, escalation: &Escalation) {
        if escalation.raise_priority {
            self.priority = self.priority.raised();
        }
        if let Some(team) = &escalation.reassign_to_team {
            self.team_id = Some(team.clone());
            self.assignee_id = None;
        }
        if let Some(agent) = &escalation.reassign_to_agent {
            self.assignee_id = Some(agent.clone());
        }
        self.settle_status();
    }

    /// Records an inbound message (`message_id` its id): newer activity moves `last_message_at`,
    /// the window only grows.
    pub fn touch_inbound(&mut self, at: DateTime<Utc>, message_id: &str, preview: Option<&str>) {
        self.window_closes_at = Some(extend_window(self.window_closes_at, at));
        self.last_inbound_at = Some(self.last_inbound_at.map_or(at, |l| l.max(at)));
        if self.last_inbound_message_id.as_deref().is_none_or(|latest| latest < message_id) {
            self.last_inbound_message_id = Some(message_id.to_string());
        }
        self.touch(at, preview);
    }

    /// Records any message shown in the conversation.
    pub fn touch(&mut self, at: DateTime<Utc>, preview: Option<&str>) {
        if at >= self.last_message_at {
            self.last_message_at = at;
            if let Some(p) = preview {
                self.last_message_preview = Some(p.chars().take(200).collect());
            }
        }
        self.updated_at = self.updated_at.max(at);
    }
}

fn default_state() -> String {
    "menu".to_string()
}

/// When the window closes after a customer message sent at `inbound_at`.
pub fn window_closes_at(inbound_at: DateTime<Utc>) -> DateTime<Utc> {
    inbound_at + CUSTOMER_SERVICE_WINDOW
}

/// The later of two closing times: messages can arrive out of order, the window never shrinks.
pub fn extend_window(current: Option<DateTime<Utc>>, inbound_at: DateTime<Utc>) -> DateTime<Utc> {
    let candidate = window_closes_at(inbound_at);
    current.map_or(candidate, |c| c.max(candidate))
}

/// Free-form messages may go out only while the window is open.
pub fn window_is_open(closes_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    closes_at.is_some_and(|c| now < c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn window_is_24_hours_after_the_last_customer_message() {
        let inbound = t(1_000_000);
        let closes = window_closes_at(inbound);
        assert!(window_is_open(Some(closes), inbound + Duration::hours(23) + Duration::minutes(59)));
        assert!(!window_is_open(Some(closes), inbound + Duration::hours(24)));
        assert!(!window_is_open(None, inbound));
    }

    #[test]
    fn a_late_inbound_message_does_not_move_the_conversation_back() {
        let mut c = Conversation {
            id: "c".into(), org_id: "o".into(), customer_id: "u".into(), channel: "whatsapp".into(),
            phone_number_id: "p".into(), customer_address: "1".into(), status: ConversationStatus::Open,
            assignee_id: None, state: "menu".into(), ticket_id: None, created_at: t(0), updated_at: t(0),
            last_message_at: t(0), last_message_preview: None, last_inbound_at: None, last_inbound_message_id: None, window_closes_at: None,
            closed_at: None, close_reason: None, team_id: None, priority: Priority::Normal, required_skills: vec![],
            first_message_at: None, first_response_at: None, waiting_since: None, sla_policy_id: None, sla: None, holds_capacity_of: None, version: 1, after_hours_reply: None, sla_counts: vec![],
        };
        c.touch_inbound(t(200), "M2", Some("new"));
        c.touch_inbound(t(100), "M1", Some("old"));
        assert_eq!(c.last_message_at, t(200));
        assert_eq!(c.last_message_preview.as_deref(), Some("new"));
        assert_eq!(c.window_closes_at, Some(window_closes_at(t(200))));
    }

    #[test]
    fn an_older_message_arriving_late_never_shrinks_the_window() {
        let newer = extend_window(None, t(2_000_000));
        assert_eq!(extend_window(Some(newer), t(1_000_000)), newer);
        assert_eq!(extend_window(Some(newer), t(3_000_000)), window_closes_at(t(3_000_000)));
    }

    #[test]
    fn the_status_follows_team_and_assignee_and_closed_stays_closed() {
        let mut c = Conversation::open_on("c".into(), "o", "p", "u", "1", t(0), t(0));
        assert_eq!(c.status, ConversationStatus::Open, "no team: open, as before teams");
        c.assignee_id = Some("a".into());
        c.settle_status();
        assert_eq!(c.status, ConversationStatus::Open, "assigned without a team is not routed");
        let mut c = c.in_team(Some("billing"));
        assert_eq!(c.status, ConversationStatus::Assigned);
        c.assignee_id = None;
        c.settle_status();
        assert_eq!(c.status, ConversationStatus::Queued);
        c.status = ConversationStatus::Closed;
        c.settle_status();
        assert_eq!(c.status, ConversationStatus::Closed);
        assert!(!c.status.is_open() && ConversationStatus::Queued.is_open());
    }

    #[test]
    fn waiting_since_is_the_oldest_unanswered_message_and_an_agent_reply_clears_it() {
        let mut c = Conversation::open_on("c".into(), "o", "p", "u", "1", t(0), t(0));
        c.customer_wrote(t(10), t(10), None);
        c.customer_wrote(t(5), t(12), None);
        assert_eq!((c.first_message_at, c.waiting_since), (Some(t(5)), Some(t(5))));
        c.agent_replied(t(20), t(20));
        assert_eq!((c.first_response_at, c.waiting_since), (Some(t(20)), None));
        c.customer_wrote(t(30), t(30), None);
        assert_eq!((c.first_message_at, c.waiting_since), (Some(t(5)), Some(t(30))));
    }
}
