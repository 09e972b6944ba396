//! Support tickets: what a customer asked the support team, its status, priority and assignee,
//! the messages exchanged, and the counters the admin dashboard's notifications read.
//!
//! Status rules (everything else answers 409 with the current status):
//! - `OPEN` -> `IN_PROGRESS` with the first admin answer (or by hand), and back to `OPEN` by hand.
//! - `OPEN` / `IN_PROGRESS` -> `RESOLVED` or `CLOSED` when an admin closes the ticket.
//! - `RESOLVED` and `CLOSED` are final: nothing is answered, added, assigned or reprioritised there.
//!   Closing again with the same outcome is harmless; with the other outcome it is a conflict.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::message::DeliveryStatus;
use crate::domain::outbound::MAX_TEXT_CHARS;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketStatus {
    Open,
    InProgress,
    Resolved,
    Closed,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 4] = [Self::Open, Self::InProgress, Self::Resolved, Self::Closed];
    /// The tickets still waiting for the support team: the "open list".
    pub const ACTIVE: [TicketStatus; 2] = [Self::Open, Self::InProgress];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::InProgress => "IN_PROGRESS",
            Self::Resolved => "RESOLVED",
            Self::Closed => "CLOSED",
        }
    }

    /// Reads a status from a query parameter (case-insensitive); 422 lists the allowed values.
    pub fn parse(field: &str, value: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| Error::invalid(field, format!("must be one of: {}", allowed(&Self::ALL))))
    }

    pub fn is_active(self) -> bool {
        matches!(self, Self::Open | Self::InProgress)
    }
}

impl fmt::Display for TicketStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketPriority {
    Low,
    #[default]
    Medium,
    High,
    Urgent,
}

impl TicketPriority {
    pub const ALL: [TicketPriority; 4] = [Self::Low, Self::Medium, Self::High, Self::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Urgent => "URGENT",
        }
    }

    pub fn parse(field: &str, value: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| Error::invalid(field, format!("must be one of: {}", allowed(&Self::ALL))))
    }
}

impl fmt::Display for TicketPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn allowed<T: fmt::Display>(values: &[T]) -> String {
    values.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Who wrote a ticket message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketSenderType {
    /// The customer (on WhatsApp, or typed in for them through the API).
    User,
    /// An admin or supervisor answering from the dashboard.
    Admin,
    /// MAX itself: the closing message.
    System,
}

/// Where a ticket came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketSource {
    /// The customer chose Chat support in the WhatsApp bot menu and wrote.
    Whatsapp,
    /// Created through `POST /v1/support/tickets`.
    Api,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SupportTicket {
    pub id: String,
    pub org_id: String,
    pub source: TicketSource,
    #[serde(default)]
    pub customer_id: Option<String>,
    /// The WhatsApp conversation answers go to; `None` for a ticket without one.
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub sender_name: Option<String>,
    pub issue_description: String,
    pub status: TicketStatus,
    pub priority: TicketPriority,
    #[serde(default)]
    pub assigned_admin_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it was resolved or closed.
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The first admin answer.
    #[serde(default)]
    pub first_response_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub message_count: u32,
    #[serde(default)]
    pub last_message_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_message_preview: Option<String>,
    /// The business's own reference for the ticket (a student id, an order number): searchable
    /// by exact value (`GET /v1/admin/support/tickets?external_ref=`).
    #[serde(default)]
    pub external_ref: Option<String>,
    /// Counts writes; a write of version n succeeds only over version n-1 (optimistic locking).
    pub version: u64,
}

/// What a new ticket starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub id: String,
    pub org_id: String,
    pub source: TicketSource,
    pub customer_id: Option<String>,
    pub conversation_id: Option<String>,
    pub phone_number: Option<String>,
    pub sender_name: Option<String>,
    pub issue_description: String,
    pub priority: TicketPriority,
    pub external_ref: Option<String>,
    pub now: DateTime<Utc>,
}

/// Whether a command changed the ticket or found it already so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Changed,
    Unchanged,
}

fn finished(ticket: &SupportTicket, doing: &str) -> Error {
    Error::conflict(format!("the ticket is {}; {doing} is only possible while it is OPEN or IN_PROGRESS", ticket.status), ticket.status.as_str())
}

const PREVIEW_CHARS: usize = 200;

impl SupportTicket {
    pub fn open(new: NewTicket) -> SupportTicket {
        SupportTicket {
            id: new.id,
            org_id: new.org_id,
            source: new.source,
            customer_id: new.customer_id,
            conversation_id: new.conversation_id,
            phone_number: new.phone_number,
            sender_name: new.sender_name,
            issue_description: new.issue_description,
            status: TicketStatus::Open,
            priority: new.priority,
            assigned_admin_id: None,
            created_at: new.now,
            updated_at: new.now,
            resolved_at: None,
            first_response_at: None,
            message_count: 0,
            last_message_at: None,
            last_message_preview: None,
            external_ref: new.external_ref,
            version: 1,
        }
    }

    /// A message joined the ticket (from either side).
    fn record_message(&mut self, at: DateTime<Utc>, preview: &str) {
        self.message_count += 1;
        if self.last_message_at.is_none_or(|l| at >= l) {
            self.last_message_at = Some(at);
            self.last_message_preview = Some(preview.chars().take(PREVIEW_CHARS).collect());
        }
        self.updated_at = self.updated_at.max(at);
    }

    /// The customer wrote (on WhatsApp, or typed in for them).
    pub fn add_customer_message(&mut self, at: DateTime<Utc>, preview: &str) -> Result<()> {
        if !self.status.is_active() {
            return Err(finished(self, "adding a message"));
        }
        self.record_message(at, preview);
        Ok(())
    }

    /// An admin answered: the first answer takes an `OPEN` ticket `IN_PROGRESS`.
    pub fn answer(&mut self, at: DateTime<Utc>, preview: &str) -> Result<()> {
        if !self.status.is_active() {
            return Err(finished(self, "answering"));
        }
        if self.status == TicketStatus::Open {
            self.status = TicketStatus::InProgress;
        }
        self.first_response_at.get_or_insert(at);
        self.record_message(at, preview);
        Ok(())
    }

    /// Records a message that was sent whatever the status: the closing message, or an answer
    /// that reached the customer while the ticket was being closed.
    pub fn note_message(&mut self, at: DateTime<Utc>, preview: &str) {
        self.record_message(at, preview);
    }

    /// Resolves or closes the ticket. `outcome` must be `RESOLVED` or `CLOSED`.
    pub fn close(&mut self, outcome: TicketStatus, at: DateTime<Utc>) -> Result<Transition> {
        if outcome.is_active() {
            return Err(Error::invalid("outcome", "must be one of: RESOLVED, CLOSED"));
        }
        if self.status == outcome {
            return Ok(Transition::Unchanged);
        }
        if !self.status.is_active() {
            return Err(Error::conflict(format!("the ticket is already {}; it cannot become {outcome}", self.status), self.status.as_str()));
        }
        self.status = outcome;
        self.resolved_at = Some(at);
        self.updated_at = self.updated_at.max(at);
        Ok(Transition::Changed)
    }

    /// A status set by hand (`PATCH`): `RESOLVED`/`CLOSED` close the ticket (see `close`);
    /// `OPEN` and `IN_PROGRESS` move between each other while the ticket is active.
    pub fn set_status(&mut self, status: TicketStatus, at: DateTime<Utc>) -> Result<Transition> {
        if !status.is_active() {
            return self.close(status, at);
        }
        if self.status == status {
            return Ok(Transition::Unchanged);
        }
        if !self.status.is_active() {
            return Err(Error::conflict(format!("the ticket is {}; a finished ticket cannot be reopened", self.status), self.status.as_str()));
        }
        self.status = status;
        self.updated_at = self.updated_at.max(at);
        Ok(Transition::Changed)
    }

    pub fn set_priority(&mut self, priority: TicketPriority, at: DateTime<Utc>) -> Result<Transition> {
        if self.priority == priority {
            return Ok(Transition::Unchanged);
        }
        if !self.status.is_active() {
            return Err(finished(self, "changing the priority"));
        }
        self.priority = priority;
        self.updated_at = self.updated_at.max(at);
        Ok(Transition::Changed)
    }

    /// Assigns the ticket to an admin, or unassigns it with `None`.
    pub fn assign(&mut self, admin_id: Option<&str>, at: DateTime<Utc>) -> Result<Transition> {
        if self.assigned_admin_id.as_deref() == admin_id {
            return Ok(Transition::Unchanged);
        }
        if !self.status.is_active() {
            return Err(finished(self, "assigning"));
        }
        self.assigned_admin_id = admin_id.map(str::to_string);
        self.updated_at = self.updated_at.max(at);
        Ok(Transition::Changed)
    }

    /// Sets or clears the business's reference; allowed whatever the status (a closed ticket is
    /// still looked up by it).
    pub fn set_external_ref(&mut self, external_ref: Option<&str>, at: DateTime<Utc>) -> Transition {
        if self.external_ref.as_deref() == external_ref {
            return Transition::Unchanged;
        }
        self.external_ref = external_ref.map(str::to_string);
        self.updated_at = self.updated_at.max(at);
        Transition::Changed
    }

    /// The counters this ticket is counted in (see `TicketCounts`).
    pub fn count_keys(&self) -> Vec<String> {
        let facets = TicketFacets {
            status: Some(self.status),
            priority: Some(self.priority),
            assigned: Some(match &self.assigned_admin_id {
                Some(a) => Assigned::To(a.clone()),
                None => Assigned::Nobody,
            }),
        };
        facets.subsets().iter().map(TicketFacets::count_key).collect()
    }
}

/// A message of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketMessage {
    /// For messages that came from or went to WhatsApp, the conversation message's id: storing
    /// the same message twice is then a no-op.
    pub id: String,
    pub ticket_id: String,
    pub org_id: String,
    pub sender_type: TicketSenderType,
    #[serde(default)]
    pub sender_id: Option<String>,
    #[serde(default)]
    pub sender_name: Option<String>,
    pub text: String,
    /// WhatsApp's message type for customer messages (`text`, `image`, ...).
    #[serde(default)]
    pub kind: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// The conversation message that carried it on WhatsApp (admin and system messages).
    #[serde(default)]
    pub whatsapp_message_id: Option<String>,
    /// Its delivery status as last read from the conversation message.
    #[serde(default)]
    pub whatsapp_status: Option<DeliveryStatus>,
}

/// The text of a message typed through the API: not empty, at most WhatsApp's 4096 characters.
pub fn validate_message_text(field: &str, text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::invalid(field, format!("must be at most {MAX_TEXT_CHARS} characters")));
    }
    Ok(())
}

/// A ticket's business fields the audit trail records when staff change them.
pub const AUDITED_FIELDS: [&str; 4] = ["status", "priority", "assigned_admin_id", "external_ref"];

/// The longest external reference kept.
pub const MAX_EXTERNAL_REF_CHARS: usize = 64;

/// An external reference as given: trimmed, 1 to 64 printable ASCII characters (references are
/// codes: ids, order numbers), no whitespace inside and no `#` (it becomes part of an index key).
pub fn external_ref(field: &str, raw: &str) -> Result<String> {
    let value = raw.trim();
    let valid = !value.is_empty() && value.len() <= MAX_EXTERNAL_REF_CHARS && value.chars().all(|c| c.is_ascii_graphic() && c != '#');
    if valid {
        Ok(value.to_string())
    } else {
        Err(Error::invalid(field, format!("must be 1 to {MAX_EXTERNAL_REF_CHARS} printable ASCII characters without spaces or #")))
    }
}

/// The daily ticket cap a customer's new ticket counts against: at most `limit` tickets opened
/// by the same customer on one UTC day (`docs/support.md`). Kept as a counter beside the ticket,
/// moved in the ticket's own transaction under the condition that it stays within the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyTicketCap {
    pub customer_id: String,
    /// `yyyy-mm-dd`, UTC.
    pub day: String,
    pub limit: u32,
}

impl DailyTicketCap {
    pub fn new(customer_id: &str, at: DateTime<Utc>, limit: u32) -> Self {
        DailyTicketCap { customer_id: customer_id.to_string(), day: at.format("%Y-%m-%d").to_string(), limit }
    }
}

/// `current` of the 409 a ticket beyond the customer's daily cap answers (the bot tells them).
pub const DAILY_TICKET_LIMIT_REACHED: &str = "DAILY_TICKET_LIMIT_REACHED";

/// The error a store answers when the cap is reached: the ticket was not opened.
pub fn daily_limit_reached(cap: &DailyTicketCap) -> Error {
    Error::conflict(format!("the customer has opened {} tickets today already (the daily limit)", cap.limit), DAILY_TICKET_LIMIT_REACHED)
}

/// Whether an error is the daily cap's.
pub fn is_daily_limit_reached(e: &Error) -> bool {
    matches!(e, Error::Conflict { current: Some(c), .. } if c == DAILY_TICKET_LIMIT_REACHED)
}

/// Who a ticket is assigned to, as a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assigned {
    Nobody,
    To(String),
}

impl Assigned {
    /// `none` (or `unassigned`) for nobody, `me` for the caller, anything else is an admin id.
    pub fn parse(value: &str, caller_id: &str) -> Result<Self> {
        match value.trim() {
            "" => Err(Error::invalid("assigned", "must be an admin id, me or none")),
            v if v.eq_ignore_ascii_case("none") || v.eq_ignore_ascii_case("unassigned") => Ok(Assigned::Nobody),
            v if v.eq_ignore_ascii_case("me") => Ok(Assigned::To(caller_id.to_string())),
            v => Ok(Assigned::To(v.to_string())),
        }
    }
}

/// A list filter: which statuses (empty for all), which priority, whose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    pub statuses: Vec<TicketStatus>,
    pub priority: Option<TicketPriority>,
    pub assigned: Option<Assigned>,
}

impl TicketFilter {
    /// `GET /v1/support/open-tickets`: everything still waiting for the team.
    pub fn open_list() -> Self {
        TicketFilter { statuses: TicketStatus::ACTIVE.to_vec(), ..Default::default() }
    }

    pub fn matches(&self, t: &SupportTicket) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&t.status))
            && self.priority.is_none_or(|p| p == t.priority)
            && match &self.assigned {
                None => true,
                Some(Assigned::Nobody) => t.assigned_admin_id.is_none(),
                Some(Assigned::To(a)) => t.assigned_admin_id.as_deref() == Some(a.as_str()),
            }
    }

    /// The counters whose sum is this filter's total.
    pub fn count_keys(&self) -> Vec<String> {
        let statuses: Vec<Option<TicketStatus>> =
            if self.statuses.is_empty() { vec![None] } else { self.statuses.iter().copied().map(Some).collect() };
        statuses
            .into_iter()
            .map(|status| TicketFacets { status, priority: self.priority, assigned: self.assigned.clone() }.count_key())
            .collect()
    }
}

/// One combination of the three list dimensions; `None` is "any".
#[derive(Debug, Clone, PartialEq)]
struct TicketFacets {
    status: Option<TicketStatus>,
    priority: Option<TicketPriority>,
    assigned: Option<Assigned>,
}

impl TicketFacets {
    /// Every combination of "this value or any" over the three dimensions (8 of them).
    fn subsets(&self) -> Vec<TicketFacets> {
        let mut out = Vec::with_capacity(8);
        for mask in 0..8u8 {
            out.push(TicketFacets {
                status: if mask & 1 != 0 { self.status } else { None },
                priority: if mask & 2 != 0 { self.priority } else { None },
                assigned: if mask & 4 != 0 { self.assigned.clone() } else { None },
            });
        }
        out
    }

    fn count_key(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = self.status {
            parts.push(format!("s={s}"));
        }
        if let Some(p) = self.priority {
            parts.push(format!("p={p}"));
        }
        match &self.assigned {
            Some(Assigned::Nobody) => parts.push("a=-".to_string()),
            Some(Assigned::To(a)) => parts.push(format!("a={a}")),
            None => {}
        }
        if parts.is_empty() { "n:all".to_string() } else { format!("n:{}", parts.join(",")) }
    }
}

/// How each counter moves when a ticket goes from `before` (`None`: new) to `after`. Counters
/// are kept for every combination of status, priority and assignee, so any list filter's total
/// and the notification counts are one read, whatever the number of tickets.
pub fn counter_changes(before: Option<&SupportTicket>, after: &SupportTicket) -> Vec<(String, i64)> {
    let mut delta: BTreeMap<String, i64> = BTreeMap::new();
    if let Some(b) = before {
        for k in b.count_keys() {
            *delta.entry(k).or_default() -= 1;
        }
    }
    for k in after.count_keys() {
        *delta.entry(k).or_default() += 1;
    }
    delta.into_iter().filter(|(_, d)| *d != 0).collect()
}

/// The organisation's ticket counters, as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketCounts {
    pub counts: BTreeMap<String, i64>,
}

/// What the dashboard's notification badge shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SupportNotifications {
    pub open_tickets: i64,
    pub in_progress: i64,
    /// Active (open or in progress) tickets nobody is assigned to.
    pub unassigned: i64,
    pub has_alerts: bool,
    /// Active tickets assigned to the caller (agent view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to_me: Option<i64>,
}

impl TicketCounts {
    pub fn get(&self, key: &str) -> i64 {
        self.counts.get(key).copied().unwrap_or(0).max(0)
    }

    pub fn total(&self, filter: &TicketFilter) -> i64 {
        filter.count_keys().iter().map(|k| self.get(k)).sum()
    }

    pub fn notifications(&self, me: Option<&str>) -> SupportNotifications {
        let active = |assigned: Option<Assigned>| {
            self.total(&TicketFilter { statuses: TicketStatus::ACTIVE.to_vec(), priority: None, assigned })
        };
        let open_tickets = self.total(&TicketFilter { statuses: vec![TicketStatus::Open], ..Default::default() });
        let in_progress = self.total(&TicketFilter { statuses: vec![TicketStatus::InProgress], ..Default::default() });
        let unassigned = active(Some(Assigned::Nobody));
        SupportNotifications {
            open_tickets,
            in_progress,
            unassigned,
            has_alerts: open_tickets > 0 || unassigned > 0,
            assigned_to_me: me.map(|m| active(Some(Assigned::To(m.to_string())))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_750_000_000 + secs, 0).unwrap()
    }

    fn ticket() -> SupportTicket {
        SupportTicket::open(NewTicket {
            id: "T1".into(),
            org_id: "o".into(),
            source: TicketSource::Whatsapp,
            customer_id: Some("c".into()),
            conversation_id: Some("conv".into()),
            phone_number: Some("34600000000".into()),
            sender_name: Some("Ana".into()),
            issue_description: "My order did not arrive".into(),
            priority: TicketPriority::Medium,
            external_ref: None,
            now: t(0),
        })
    }

    fn conflict_status(e: Error) -> Option<String> {
        match e {
            Error::Conflict { current, .. } => current,
            _ => None,
        }
    }

    #[test]
    fn first_admin_answer_moves_open_to_in_progress_once() {
        let mut tk = ticket();
        tk.answer(t(10), "Let me check").unwrap();
        assert_eq!(tk.status, TicketStatus::InProgress);
        assert_eq!(tk.first_response_at, Some(t(10)));
        tk.answer(t(20), "Found it").unwrap();
        assert_eq!(tk.status, TicketStatus::InProgress);
        assert_eq!(tk.first_response_at, Some(t(10)));
        assert_eq!(tk.message_count, 2);
        assert_eq!(tk.last_message_preview.as_deref(), Some("Found it"));
    }

    #[test]
    fn answering_or_adding_to_a_finished_ticket_is_a_conflict_naming_the_status() {
        let mut tk = ticket();
        tk.close(TicketStatus::Resolved, t(5)).unwrap();
        assert_eq!(conflict_status(tk.answer(t(6), "hi").unwrap_err()).as_deref(), Some("RESOLVED"));
        assert_eq!(conflict_status(tk.add_customer_message(t(6), "hi").unwrap_err()).as_deref(), Some("RESOLVED"));
        let mut closed = ticket();
        closed.close(TicketStatus::Closed, t(5)).unwrap();
        assert_eq!(conflict_status(closed.answer(t(6), "hi").unwrap_err()).as_deref(), Some("CLOSED"));
    }

    #[test]
    fn closing_twice_the_same_way_is_harmless_another_way_is_a_conflict() {
        let mut tk = ticket();
        assert_eq!(tk.close(TicketStatus::Resolved, t(5)).unwrap(), Transition::Changed);
        assert_eq!(tk.resolved_at, Some(t(5)));
        assert_eq!(tk.close(TicketStatus::Resolved, t(9)).unwrap(), Transition::Unchanged);
        assert_eq!(tk.resolved_at, Some(t(5)), "a repeated close changes nothing");
        assert_eq!(conflict_status(tk.close(TicketStatus::Closed, t(9)).unwrap_err()).as_deref(), Some("RESOLVED"));
        assert!(matches!(tk.close(TicketStatus::Open, t(9)).unwrap_err(), Error::Invalid { ref field, .. } if field == "outcome"));
    }

    #[test]
    fn status_by_hand_moves_between_active_states_but_never_reopens() {
        let mut tk = ticket();
        assert_eq!(tk.set_status(TicketStatus::InProgress, t(1)).unwrap(), Transition::Changed);
        assert_eq!(tk.set_status(TicketStatus::Open, t(2)).unwrap(), Transition::Changed);
        assert_eq!(tk.set_status(TicketStatus::Open, t(3)).unwrap(), Transition::Unchanged);
        assert_eq!(tk.set_status(TicketStatus::Resolved, t(4)).unwrap(), Transition::Changed);
        assert_eq!(conflict_status(tk.set_status(TicketStatus::Open, t(5)).unwrap_err()).as_deref(), Some("RESOLVED"));
        assert_eq!(tk.set_status(TicketStatus::Resolved, t(5)).unwrap(), Transition::Unchanged);
    }

    #[test]
    fn finished_tickets_are_not_reassigned_or_reprioritised() {
        let mut tk = ticket();
        tk.assign(Some("admin-1"), t(1)).unwrap();
        tk.set_priority(TicketPriority::High, t(1)).unwrap();
        tk.close(TicketStatus::Resolved, t(2)).unwrap();
        assert!(tk.assign(Some("admin-2"), t(3)).is_err());
        assert_eq!(tk.assign(Some("admin-1"), t(3)).unwrap(), Transition::Unchanged);
        assert!(tk.set_priority(TicketPriority::Low, t(3)).is_err());
        assert_eq!(tk.set_priority(TicketPriority::High, t(3)).unwrap(), Transition::Unchanged);
    }

    #[test]
    fn messages_are_validated_with_the_field_named() {
        assert!(validate_message_text("message", "hello").is_ok());
        let empty = validate_message_text("message", "   ").unwrap_err();
        assert!(matches!(empty, Error::Invalid { ref field, ref reason } if field == "message" && reason.contains("empty")));
        assert!(validate_message_text("message", &"é".repeat(MAX_TEXT_CHARS)).is_ok());
        let long = validate_message_text("message", &"x".repeat(MAX_TEXT_CHARS + 1)).unwrap_err();
        assert!(matches!(long, Error::Invalid { ref reason, .. } if reason.contains("4096")));
    }

    #[test]
    fn bad_enum_values_list_the_allowed_ones() {
        assert_eq!(TicketStatus::parse("status", "in_progress").unwrap(), TicketStatus::InProgress);
        let e = TicketStatus::parse("status", "DONE").unwrap_err();
        assert!(matches!(e, Error::Invalid { ref field, ref reason } if field == "status" && reason == "must be one of: OPEN, IN_PROGRESS, RESOLVED, CLOSED"));
        let e = TicketPriority::parse("priority", "critical").unwrap_err();
        assert!(matches!(e, Error::Invalid { ref reason, .. } if reason == "must be one of: LOW, MEDIUM, HIGH, URGENT"));
        // JSON bodies go through serde, whose message lists the variants too.
        let e = serde_json::from_str::<TicketPriority>("\"critical\"").unwrap_err().to_string();
        assert!(e.contains("LOW") && e.contains("URGENT"), "{e}");
        assert_eq!(serde_json::to_string(&TicketStatus::InProgress).unwrap(), "\"IN_PROGRESS\"");
        assert_eq!(serde_json::to_string(&TicketSenderType::Admin).unwrap(), "\"admin\"");
    }

    #[test]
    fn assigned_filter_reads_me_and_none() {
        assert_eq!(Assigned::parse("me", "u1").unwrap(), Assigned::To("u1".into()));
        assert_eq!(Assigned::parse("none", "u1").unwrap(), Assigned::Nobody);
        assert_eq!(Assigned::parse("admin-7", "u1").unwrap(), Assigned::To("admin-7".into()));
    }

    fn apply(counts: &mut TicketCounts, before: Option<&SupportTicket>, after: &SupportTicket) {
        for (k, d) in counter_changes(before, after) {
            *counts.counts.entry(k).or_default() += d;
        }
    }

    #[test]
    fn counters_follow_every_change_and_answer_every_filter() {
        let mut counts = TicketCounts::default();
        let a = ticket();
        apply(&mut counts, None, &a);
        let mut b = ticket();
        b.id = "T2".into();
        apply(&mut counts, None, &b);
        let n = counts.notifications(Some("admin-1"));
        assert_eq!((n.open_tickets, n.in_progress, n.unassigned, n.has_alerts), (2, 0, 2, true));

        // The first answer moves a ticket to IN_PROGRESS; assignment and priority move the rest.
        let before = a.clone();
        let mut a2 = a.clone();
        a2.answer(t(1), "hi").unwrap();
        a2.assign(Some("admin-1"), t(1)).unwrap();
        a2.set_priority(TicketPriority::Urgent, t(1)).unwrap();
        assert!(counter_changes(Some(&a2), &a2).is_empty(), "no change, no counter write");
        apply(&mut counts, Some(&before), &a2);
        let n = counts.notifications(Some("admin-1"));
        assert_eq!((n.open_tickets, n.in_progress, n.unassigned, n.assigned_to_me), (1, 1, 1, Some(1)));
        let urgent_mine = TicketFilter {
            statuses: vec![],
            priority: Some(TicketPriority::Urgent),
            assigned: Some(Assigned::To("admin-1".into())),
        };
        assert_eq!(counts.total(&urgent_mine), 1);
        assert_eq!(counts.total(&TicketFilter::open_list()), 2);
        assert_eq!(counts.total(&TicketFilter::default()), 2);

        // Closing takes it off the open list and the alerts.
        let before = a2.clone();
        a2.close(TicketStatus::Resolved, t(2)).unwrap();
        apply(&mut counts, Some(&before), &a2);
        let n = counts.notifications(None);
        assert_eq!((n.open_tickets, n.in_progress, n.unassigned, n.assigned_to_me), (1, 0, 1, None));
        assert_eq!(counts.total(&TicketFilter::open_list()), 1);
        assert_eq!(counts.total(&TicketFilter { statuses: vec![TicketStatus::Resolved], ..Default::default() }), 1);
        assert_eq!(counts.total(&TicketFilter::default()), 2);
    }

    #[test]
    fn filters_match_what_they_count() {
        let mut tk = ticket();
        tk.assign(Some("admin-1"), t(1)).unwrap();
        let f = TicketFilter { statuses: vec![TicketStatus::Open], priority: Some(TicketPriority::Medium), assigned: Some(Assigned::To("admin-1".into())) };
        assert!(f.matches(&tk));
        assert!(tk.count_keys().contains(&f.count_keys()[0]));
        let g = TicketFilter { assigned: Some(Assigned::Nobody), ..Default::default() };
        assert!(!g.matches(&tk));
        assert!(!tk.count_keys().contains(&g.count_keys()[0]));
    }

    #[test]
    fn external_refs_are_trimmed_and_refuse_spaces_hashes_and_length() {
        assert_eq!(external_ref("external_ref", "  STU-2024-001 ").unwrap(), "STU-2024-001");
        for bad in ["", "   ", "a b", "a#b", "a\u{17}b", "añb", &"x".repeat(65)] {
            let e = external_ref("external_ref", bad).unwrap_err();
            assert!(matches!(&e, Error::Invalid { field, .. } if field == "external_ref"), "{bad:?}: {e}");
        }
        assert!(external_ref("external_ref", &"x".repeat(64)).is_ok());
    }

    #[test]
    fn an_external_ref_changes_whatever_the_status() {
        let mut t1 = ticket();
        t1.close(TicketStatus::Closed, t(5)).unwrap();
        assert_eq!(t1.set_external_ref(Some("S1"), t(10)), Transition::Changed);
        assert_eq!(t1.external_ref.as_deref(), Some("S1"));
        assert_eq!(t1.set_external_ref(Some("S1"), t(11)), Transition::Unchanged);
        assert_eq!(t1.set_external_ref(None, t(12)), Transition::Changed);
        assert_eq!(t1.external_ref, None);
    }

    #[test]
    fn the_daily_cap_counts_by_utc_day() {
        use chrono::TimeZone;
        let late = Utc.with_ymd_and_hms(2026, 12, 6, 23, 59, 59).unwrap();
        let cap = DailyTicketCap::new("c1", late, 5);
        assert_eq!(cap.day, "2026-12-06");
        assert_eq!(DailyTicketCap::new("c1", late + chrono::Duration::seconds(1), 5).day, "2026-12-07");
        assert!(is_daily_limit_reached(&daily_limit_reached(&cap)));
        assert!(!is_daily_limit_reached(&Error::conflict("x", "OPEN")));
    }
}
