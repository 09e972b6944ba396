//! Interactions: the action items of a customer relationship (call on Monday, send the proposal
//! by Wednesday, follow up three days later), their state machine and the overdue rule.
//! What comes after a completed one is decided in `workflow` (the next-step rule).

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
pub const MAX_OUTCOME_CHARS: usize = 100;
pub const MAX_OUTCOME_DETAILS_CHARS: usize = 5000;
const MAX_TYPE_CHARS: usize = 50;

/// What kind of action an interaction is. The well-known ones are constants; organisations may use
/// their own (`site_visit`), written in lower snake case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(pattern = "^[a-z][a-z0-9_]{0,49}$")]
pub struct InteractionType(String);

impl InteractionType {
    pub const PHONE_CALL: &'static str = "phone_call";
    pub const SEND_PROPOSAL: &'static str = "send_proposal";
    pub const FOLLOW_UP: &'static str = "follow_up";
    pub const EMAIL: &'static str = "email";
    pub const SMS: &'static str = "sms";
    pub const MEETING: &'static str = "meeting";
    pub const DEMO: &'static str = "demo";
    pub const KNOWN: [&'static str; 7] =
        [Self::PHONE_CALL, Self::SEND_PROPOSAL, Self::FOLLOW_UP, Self::EMAIL, Self::SMS, Self::MEETING, Self::DEMO];

    pub fn new(name: &str) -> std::result::Result<Self, String> {
        let valid_start = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        let valid_rest = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_start || !valid_rest || name.len() > MAX_TYPE_CHARS {
            return Err(format!(
                "must be one of {} or a custom type in lower snake case (a-z, 0-9, _; at most {MAX_TYPE_CHARS} characters)",
                Self::KNOWN.join(", ")
            ));
        }
        Ok(InteractionType(name.to_string()))
    }

    pub fn follow_up() -> Self {
        InteractionType(Self::FOLLOW_UP.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_custom(&self) -> bool {
        !Self::KNOWN.contains(&self.0.as_str())
    }
}

impl TryFrom<String> for InteractionType {
    type Error = String;
    fn try_from(value: String) -> std::result::Result<Self, String> {
        InteractionType::new(&value)
    }
}

impl From<InteractionType> for String {
    fn from(value: InteractionType) -> String {
        value.0
    }
}

impl fmt::Display for InteractionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InteractionStatus {
    Pending,
    InProgress,
    Completed,
    Cancelled,
    Skipped,
}

/// The statuses an edit may set (`skipped` moves the chain on like completing; completing has its
/// own route, which creates the next step, and so has cancelling): the contract's view of an
/// edit's `status`; the others answer 422.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_camel_case_types)]
pub enum EditableStatus {
    pending,
    in_progress,
    skipped,
}

impl InteractionStatus {
    pub const ALL: [InteractionStatus; 5] = [Self::Pending, Self::InProgress, Self::Completed, Self::Cancelled, Self::Skipped];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Still to be done: the only states that can change, and the ones that can be overdue.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::InProgress)
    }

    /// Finished in a way that moves the relationship on, so a next step follows. A cancelled
    /// interaction ends its chain: cancelling is how a user stops the sequence.
    pub fn moves_on(self) -> bool {
        matches!(self, Self::Completed | Self::Skipped)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Self::Low, Self::Normal, Self::High, Self::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Interaction {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    #[serde(rename = "type")]
    pub kind: InteractionType,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub status: InteractionStatus,
    #[serde(default)]
    pub priority: Priority,
    pub scheduled_at: DateTime<Utc>,
    /// Never before `scheduled_at`; defaults to it.
    pub due_at: DateTime<Utc>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it was completed or skipped: the time the next step's dates count from.
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub outcome_details: Option<String>,
    /// The workflow template and step this interaction was created from, if any.
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub step_number: Option<u32>,
    /// The campaign that started this chain (set by the campaign only, kept by next steps).
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub previous_interaction_id: Option<String>,
    #[serde(default)]
    pub next_interaction_id: Option<String>,
    /// Set when the next-step rule decided that nothing follows (a template's last step with
    /// `on_last_step: end`), so the chain is known to have ended rather than to be waiting.
    #[serde(default)]
    pub chain_ended: bool,
    /// The user who created it; `None` for interactions the next-step rule created.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Who is to do it: reminders and overdue alerts name them (`data.notify.user_id`). The
    /// creator unless the request names someone; a next step keeps the assignee of the one before.
    #[serde(default)]
    pub assignee_id: Option<String>,
    /// When the assignee is reminded: the organisation's lead time before `scheduled_at`, never
    /// before the write that planned it; `None` when no reminder is owed (scheduled in the past,
    /// or reminders off).
    #[serde(default)]
    pub remind_at: Option<DateTime<Utc>>,
    /// The reminder for the current `scheduled_at` was sent (rescheduling clears it).
    #[serde(default)]
    pub reminded_at: Option<DateTime<Utc>>,
    /// The overdue alert for the current `due_at` was sent (a new `due_at` clears it).
    #[serde(default)]
    pub overdue_alerted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Counts writes; a write of version n succeeds only over version n-1 (optimistic locking).
    #[serde(default)]
    pub version: u64,
}

impl Interaction {
    /// Overdue: due in the past and still to be done.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        is_overdue(self.status, self.due_at, now)
    }

    /// Completed or skipped, and the next-step rule has not run to the end yet: its job is owed.
    pub fn awaits_next_step(&self) -> bool {
        self.status.moves_on() && self.next_interaction_id.is_none() && !self.chain_ended
    }

    /// Completes an open interaction with its outcome.
    pub fn complete(&self, completion: &Completion, now: DateTime<Utc>) -> Result<Interaction> {
        completion.validate()?;
        self.require_open("complete")?;
        let mut done = self.touched(now);
        done.status = InteractionStatus::Completed;
        done.completed_at = Some(now);
        done.outcome = Some(completion.outcome.trim().to_string());
        done.outcome_details = completion.outcome_details.clone();
        Ok(done)
    }

    /// Skips an open interaction: it did not happen, but the workflow moves on as if it had.
    pub fn skip(&self, now: DateTime<Utc>) -> Result<Interaction> {
        self.require_open("skip")?;
        let mut done = self.touched(now);
        done.status = InteractionStatus::Skipped;
        done.completed_at = Some(now);
        Ok(done)
    }

    /// Cancels an open interaction; nothing follows it.
    pub fn cancel(&self, now: DateTime<Utc>) -> Result<Interaction> {
        self.require_open("cancel")?;
        let mut done = self.touched(now);
        done.status = InteractionStatus::Cancelled;
        done.cancelled_at = Some(now);
        Ok(done)
    }

    /// Applies an edit to an open interaction. Status may move between `pending` and
    /// `in_progress` here; `skipped` goes through [`Interaction::skip`] (it has side effects).
    pub fn edit(&self, change: &InteractionChange, now: DateTime<Utc>) -> Result<Interaction> {
        self.require_open("update")?;
        let mut next = self.touched(now);
        if let Some(kind) = &change.kind {
            next.kind = kind.clone();
        }
        if let Some(title) = &change.title {
            next.title = title.trim().to_string();
        }
        if let Some(description) = &change.description {
            next.description = description.clone();
        }
        if let Some(priority) = change.priority {
            next.priority = priority;
        }
        if let Some(scheduled_at) = change.scheduled_at {
            // Moving the start moves an unedited deadline with it, keeping the window's length.
            if change.due_at.is_none() {
                next.due_at = scheduled_at + (self.due_at - self.scheduled_at);
            }
            next.scheduled_at = scheduled_at;
        }
        if let Some(due_at) = change.due_at {
            next.due_at = due_at;
        }
        if let Some(conversation_id) = &change.conversation_id {
            next.conversation_id = conversation_id.clone();
        }
        if let Some(assignee_id) = &change.assignee_id {
            next.assignee_id = assignee_id.clone();
        }
        // A new time owes a new alert: the caller plans the reminder again with the
        // organisation's lead time (`plan_reminder`).
        if next.scheduled_at != self.scheduled_at {
            next.remind_at = None;
            next.reminded_at = None;
        }
        if next.due_at != self.due_at {
            next.overdue_alerted_at = None;
        }
        match change.status {
            None => {}
            Some(InteractionStatus::Pending) => next.status = InteractionStatus::Pending,
            Some(InteractionStatus::InProgress) => {
                next.status = InteractionStatus::InProgress;
                next.started_at = next.started_at.or(Some(now));
            }
            Some(other) => {
                return Err(Error::invalid(
                    "status",
                    format!("cannot be set to {} here: use POST /v1/interactions/{{id}}/{}", other.as_str(), closing_route(other)),
                ));
            }
        }
        validate_fields(&next.title, next.description.as_deref(), next.scheduled_at, next.due_at)?;
        validate_reference("conversation_id", next.conversation_id.as_deref())?;
        validate_reference("assignee_id", next.assignee_id.as_deref())?;
        Ok(next)
    }

    /// Plans the reminder for the current `scheduled_at`: `lead` before it, or at once when that
    /// moment has passed; none when `scheduled_at` is not after `now` or the lead is zero (off).
    pub fn plan_reminder(&mut self, lead: Duration, now: DateTime<Utc>) {
        self.remind_at = (lead > Duration::zero() && self.scheduled_at > now && self.reminded_at.is_none())
            .then(|| (self.scheduled_at - lead).max(now));
    }

    /// The instant of the next alert owed (the deadline index's entry): the reminder, then the
    /// overdue alert at `due_at` (it fires in the first run strictly after it). `None` when the
    /// interaction is closed or both were sent.
    pub fn alert_check_at(&self) -> Option<DateTime<Utc>> {
        if !self.status.is_open() {
            return None;
        }
        let reminder = self.remind_at.filter(|_| self.reminded_at.is_none());
        let overdue = self.overdue_alerted_at.is_none().then_some(self.due_at);
        match (reminder, overdue) {
            (Some(r), Some(o)) => Some(r.min(o)),
            (r, o) => r.or(o),
        }
    }

    /// The alerts owed at `now`, flagged as sent on the interaction (its `version` advanced when
    /// any is): the reminder once `remind_at` has come, the overdue alert once `due_at` has passed.
    /// A reminder that comes with the overdue alert (a scheduler that was stopped) is dropped:
    /// the overdue alert says more.
    pub fn take_due_alerts(&mut self, now: DateTime<Utc>) -> Vec<InteractionAlert> {
        let mut alerts = Vec::new();
        if !self.status.is_open() {
            return alerts;
        }
        let overdue = self.overdue_alerted_at.is_none() && self.is_overdue(now);
        let remind = self.reminded_at.is_none() && self.remind_at.is_some_and(|r| r <= now);
        if remind {
            self.reminded_at = Some(now);
            if !overdue {
                alerts.push(InteractionAlert::Reminder);
            }
        }
        if overdue {
            self.overdue_alerted_at = Some(now);
            alerts.push(InteractionAlert::Overdue);
        }
        if remind || overdue {
            self.updated_at = self.updated_at.max(now);
            self.version += 1;
        }
        alerts
    }

    fn require_open(&self, what: &str) -> Result<()> {
        if self.status.is_open() {
            Ok(())
        } else {
            Err(Error::conflict(format!("cannot {what} an interaction that is {}", self.status.as_str()), self.status.as_str()))
        }
    }

    fn touched(&self, now: DateTime<Utc>) -> Interaction {
        let mut next = self.clone();
        next.updated_at = now;
        next.version += 1;
        next
    }
}

fn closing_route(status: InteractionStatus) -> &'static str {
    match status {
        InteractionStatus::Cancelled => "cancel",
        _ => "complete",
    }
}

/// What the interaction scheduler tells an interaction's assignee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractionAlert {
    /// `interaction.reminder`: it is scheduled soon (the organisation's lead time).
    Reminder,
    /// `interaction.overdue`: its `due_at` passed and it is still open.
    Overdue,
}

impl InteractionAlert {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reminder => "reminder",
            Self::Overdue => "overdue",
        }
    }
}

/// Overdue means `due_at` in the past and status `pending` or `in_progress`.
pub fn is_overdue(status: InteractionStatus, due_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    status.is_open() && due_at < now
}

/// The body of `POST /v1/interactions/{id}/complete`.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Completion {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub outcome: String,
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub outcome_details: Option<String>,
}

impl Completion {
    pub fn validate(&self) -> Result<()> {
        let outcome = self.outcome.trim();
        if outcome.is_empty() {
            return Err(Error::invalid("outcome", "must not be empty"));
        }
        if outcome.chars().count() > MAX_OUTCOME_CHARS {
            return Err(Error::invalid("outcome", format!("must be at most {MAX_OUTCOME_CHARS} characters")));
        }
        if self.outcome_details.as_ref().is_some_and(|d| d.chars().count() > MAX_OUTCOME_DETAILS_CHARS) {
            return Err(Error::invalid("outcome_details", format!("must be at most {MAX_OUTCOME_DETAILS_CHARS} characters")));
        }
        Ok(())
    }
}

/// The body of `POST /v1/interactions`.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInteraction {
    #[serde(deserialize_with = "crate::domain::ids::id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub customer_id: String,
    #[serde(rename = "type")]
    pub kind: InteractionType,
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    #[serde(default)]
    pub priority: Priority,
    /// Defaults to now.
    #[serde(default)]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Defaults to `scheduled_at`.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// `pending` (default) or `in_progress`.
    #[serde(default)]
    #[schema(schema_with = open_status_schema)]
    pub status: Option<InteractionStatus>,
    #[serde(default)]
    #[schema(max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub conversation_id: Option<String>,
    /// Who is to do it (a user id); the creator when absent.
    #[serde(default)]
    #[schema(max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub assignee_id: Option<String>,
}

impl NewInteraction {
    /// The interaction this request creates, or the first field that is wrong.
    pub fn into_interaction(self, id: String, org_id: &str, created_by: Option<&str>, now: DateTime<Utc>) -> Result<Interaction> {
        validate_reference("customer_id", Some(&self.customer_id))?;
        let status = self.status.unwrap_or(InteractionStatus::Pending);
        if !status.is_open() {
            return Err(Error::invalid("status", "a new interaction is pending or in_progress"));
        }
        let scheduled_at = self.scheduled_at.unwrap_or(now);
        let due_at = self.due_at.unwrap_or(scheduled_at);
        let title = self.title.trim().to_string();
        validate_fields(&title, self.description.as_deref(), scheduled_at, due_at)?;
        validate_reference("conversation_id", self.conversation_id.as_deref())?;
        validate_reference("assignee_id", self.assignee_id.as_deref())?;
        Ok(Interaction {
            id,
            org_id: org_id.to_string(),
            customer_id: self.customer_id,
            kind: self.kind,
            title,
            description: self.description,
            status,
            priority: self.priority,
            scheduled_at,
            due_at,
            started_at: (status == InteractionStatus::InProgress).then_some(now),
            completed_at: None,
            cancelled_at: None,
            outcome: None,
            outcome_details: None,
            template_id: None,
            step_number: None,
            campaign_id: None,
            conversation_id: self.conversation_id,
            previous_interaction_id: None,
            next_interaction_id: None,
            chain_ended: false,
            created_by: created_by.map(str::to_string),
            assignee_id: self.assignee_id.or_else(|| created_by.map(str::to_string)),
            remind_at: None,
            reminded_at: None,
            overdue_alerted_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }
}

/// The body of `PUT /v1/interactions/{id}`: any subset of the editable fields. For the optional
/// ones, `null` clears the value and an absent field leaves it alone.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionChange {
    #[serde(default, rename = "type")]
    pub kind: Option<InteractionType>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(max_length = 5000)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    #[schema(value_type = Option<EditableStatus>)]
    pub status: Option<InteractionStatus>,
    #[serde(default, deserialize_with = "present")]
    #[schema(max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub conversation_id: Option<Option<String>>,
    /// Reassigns it (`null`: nobody).
    #[serde(default, deserialize_with = "present")]
    #[schema(max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub assignee_id: Option<Option<String>>,
}

/// A field that is present, possibly as `null` (absent fields stay `None` through `default`).
pub fn present<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

pub fn validate_fields(title: &str, description: Option<&str>, scheduled_at: DateTime<Utc>, due_at: DateTime<Utc>) -> Result<()> {
    if title.trim().is_empty() {
        return Err(Error::invalid("title", "must not be empty"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(Error::invalid("title", format!("must be at most {MAX_TITLE_CHARS} characters")));
    }
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
        return Err(Error::invalid("description", format!("must be at most {MAX_DESCRIPTION_CHARS} characters")));
    }
    if due_at < scheduled_at {
        return Err(Error::invalid("due_at", "must not be before scheduled_at"));
    }
    Ok(())
}

/// A new interaction's `status` in the contract: open ones only.
fn open_status_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([utoipa::openapi::Type::String, utoipa::openapi::Type::Null]))
        .enum_values(Some(["pending", "in_progress"]))
        .build()
}

fn validate_reference(field: &str, value: Option<&str>) -> Result<()> {
    value.map_or(Ok(()), |v| crate::domain::ids::check_id(field, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_767_000_000 + secs, 0).unwrap()
    }

    fn new_call() -> NewInteraction {
        serde_json::from_value(serde_json::json!({
            "customer_id": "cust-1", "type": "phone_call", "title": "Call on Monday"
        }))
        .unwrap()
    }

    fn pending() -> Interaction {
        new_call().into_interaction("i-1".into(), "org-1", Some("agent-1"), t(0)).unwrap()
    }

    fn field_of(err: Error) -> String {
        match err {
            Error::Invalid { field, .. } => field,
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    fn current_of(err: Error) -> Option<String> {
        match err {
            Error::Conflict { current, .. } => current,
            other => panic!("expected a 409, got {other:?}"),
        }
    }

    #[test]
    fn a_new_interaction_is_pending_now_and_due_when_scheduled() {
        let i = pending();
        assert_eq!(i.status, InteractionStatus::Pending);
        assert_eq!(i.scheduled_at, t(0));
        assert_eq!(i.due_at, t(0));
        assert_eq!(i.priority, Priority::Normal);
        assert_eq!(i.version, 1);
    }

    #[test]
    fn types_are_known_or_custom_in_snake_case() {
        assert!(!InteractionType::new("phone_call").unwrap().is_custom());
        assert!(InteractionType::new("site_visit").unwrap().is_custom());
        for bad in ["", "Phone", "site visit", "9lives", "a#b", &"x".repeat(51)] {
            assert!(InteractionType::new(bad).is_err(), "{bad:?} should be refused");
        }
        let err = serde_json::from_value::<NewInteraction>(serde_json::json!({
            "customer_id": "c", "type": "Phone Call", "title": "x"
        }));
        assert!(err.is_err());
    }

    #[test]
    fn a_deadline_before_the_start_is_refused_naming_due_at() {
        let mut req = new_call();
        req.scheduled_at = Some(t(100));
        req.due_at = Some(t(99));
        assert_eq!(field_of(req.into_interaction("i".into(), "o", None, t(0)).unwrap_err()), "due_at");
    }

    #[test]
    fn a_new_interaction_cannot_start_closed() {
        let mut req = new_call();
        req.status = Some(InteractionStatus::Completed);
        assert_eq!(field_of(req.into_interaction("i".into(), "o", None, t(0)).unwrap_err()), "status");
    }

    #[test]
    fn blank_titles_and_references_are_refused() {
        let mut req = new_call();
        req.title = "  ".into();
        assert_eq!(field_of(req.into_interaction("i".into(), "o", None, t(0)).unwrap_err()), "title");
        let mut req = new_call();
        req.customer_id = "a#b".into();
        assert_eq!(field_of(req.into_interaction("i".into(), "o", None, t(0)).unwrap_err()), "customer_id");
    }

    #[test]
    fn completing_records_the_outcome_and_time() {
        let done = pending()
            .complete(&Completion { outcome: " success ".into(), outcome_details: Some("wants a proposal".into()) }, t(60))
            .unwrap();
        assert_eq!(done.status, InteractionStatus::Completed);
        assert_eq!(done.completed_at, Some(t(60)));
        assert_eq!(done.outcome.as_deref(), Some("success"));
        assert_eq!(done.version, 2);
        assert!(done.awaits_next_step());
    }

    #[test]
    fn complete_and_cancel_are_allowed_from_pending_and_in_progress_only() {
        let ok = Completion { outcome: "success".into(), outcome_details: None };
        let started = pending().edit(&InteractionChange { status: Some(InteractionStatus::InProgress), ..Default::default() }, t(1)).unwrap();
        assert_eq!(started.started_at, Some(t(1)));
        assert!(started.complete(&ok, t(2)).is_ok());
        assert!(started.cancel(t(2)).is_ok());

        let completed = pending().complete(&ok, t(1)).unwrap();
        let cancelled = pending().cancel(t(1)).unwrap();
        let skipped = pending().skip(t(1)).unwrap();
        for closed in [&completed, &cancelled, &skipped] {
            let status = closed.status.as_str().to_string();
            assert_eq!(current_of(closed.complete(&ok, t(3)).unwrap_err()).as_deref(), Some(status.as_str()));
            assert_eq!(current_of(closed.cancel(t(3)).unwrap_err()).as_deref(), Some(status.as_str()));
            assert_eq!(current_of(closed.skip(t(3)).unwrap_err()).as_deref(), Some(status.as_str()));
            assert!(closed.edit(&InteractionChange::default(), t(3)).is_err());
        }
    }

    #[test]
    fn an_empty_outcome_is_refused() {
        let err = pending().complete(&Completion { outcome: " ".into(), outcome_details: None }, t(1)).unwrap_err();
        assert_eq!(field_of(err), "outcome");
    }

    #[test]
    fn only_completed_and_skipped_move_the_chain_on() {
        let ok = Completion { outcome: "success".into(), outcome_details: None };
        assert!(pending().complete(&ok, t(1)).unwrap().awaits_next_step());
        assert!(pending().skip(t(1)).unwrap().awaits_next_step());
        assert!(!pending().cancel(t(1)).unwrap().awaits_next_step());
        assert!(!pending().awaits_next_step());
        let mut linked = pending().complete(&ok, t(1)).unwrap();
        linked.next_interaction_id = Some("next".into());
        assert!(!linked.awaits_next_step());
    }

    #[test]
    fn overdue_means_due_in_the_past_and_still_open() {
        let mut i = pending();
        i.due_at = t(100);
        assert!(!i.is_overdue(t(100)), "due exactly now is not overdue yet");
        assert!(i.is_overdue(t(101)));
        i.status = InteractionStatus::InProgress;
        assert!(i.is_overdue(t(101)));
        for closed in [InteractionStatus::Completed, InteractionStatus::Cancelled, InteractionStatus::Skipped] {
            i.status = closed;
            assert!(!i.is_overdue(t(1_000)));
        }
    }

    #[test]
    fn moving_the_start_moves_an_unedited_deadline_with_it() {
        let mut i = pending();
        i.due_at = t(0) + Duration::days(2);
        let moved = i.edit(&InteractionChange { scheduled_at: Some(t(0) + Duration::days(1)), ..Default::default() }, t(5)).unwrap();
        assert_eq!(moved.due_at, t(0) + Duration::days(3));
        let both = i
            .edit(&InteractionChange { scheduled_at: Some(t(10)), due_at: Some(t(5)), ..Default::default() }, t(5))
            .unwrap_err();
        assert_eq!(field_of(both), "due_at");
    }

    #[test]
    fn an_edit_cannot_close_an_interaction() {
        let err = pending().edit(&InteractionChange { status: Some(InteractionStatus::Completed), ..Default::default() }, t(1)).unwrap_err();
        assert_eq!(field_of(err), "status");
    }

    #[test]
    fn null_clears_an_optional_field_and_absence_keeps_it() {
        let mut i = pending();
        i.description = Some("old".into());
        let keep: InteractionChange = serde_json::from_str(r#"{"title":"New"}"#).unwrap();
        assert_eq!(i.edit(&keep, t(1)).unwrap().description.as_deref(), Some("old"));
        let clear: InteractionChange = serde_json::from_str(r#"{"description":null}"#).unwrap();
        assert_eq!(i.edit(&clear, t(1)).unwrap().description, None);
    }

    fn lead() -> Duration {
        Duration::minutes(15)
    }

    /// Scheduled an hour from t(0), due two hours from it, reminders 15 minutes ahead.
    fn planned() -> Interaction {
        let mut i = pending();
        i.scheduled_at = t(3600);
        i.due_at = t(7200);
        i.plan_reminder(lead(), t(0));
        i
    }

    #[test]
    fn the_reminder_is_planned_the_lead_time_before_and_never_in_the_past() {
        assert_eq!(planned().remind_at, Some(t(3600 - 900)));
        let mut soon = pending();
        soon.scheduled_at = t(300);
        soon.due_at = t(300);
        soon.plan_reminder(lead(), t(0));
        assert_eq!(soon.remind_at, Some(t(0)), "less than the lead away: at once");
        let mut now = pending();
        now.plan_reminder(lead(), t(0));
        assert_eq!(now.remind_at, None, "scheduled now: nothing to remind of");
        let mut off = planned();
        off.plan_reminder(Duration::zero(), t(0));
        assert_eq!(off.remind_at, None, "a zero lead switches reminders off");
    }

    #[test]
    fn the_index_holds_the_next_alert_owed_until_both_are_sent_or_it_closes() {
        let mut i = planned();
        assert_eq!(i.alert_check_at(), Some(t(2700)));
        assert!(i.take_due_alerts(t(2699)).is_empty());
        assert_eq!(i.version, 1, "nothing owed: nothing to write");
        assert_eq!(i.take_due_alerts(t(2700)), [InteractionAlert::Reminder]);
        assert_eq!((i.reminded_at, i.version), (Some(t(2700)), 2));
        assert_eq!(i.alert_check_at(), Some(t(7200)));
        assert!(i.take_due_alerts(t(2760)).is_empty(), "the reminder is sent once");
        assert!(i.take_due_alerts(t(7200)).is_empty(), "due exactly now is not overdue yet");
        assert_eq!(i.take_due_alerts(t(7201)), [InteractionAlert::Overdue]);
        assert_eq!(i.alert_check_at(), None);
        assert!(i.take_due_alerts(t(9000)).is_empty(), "the overdue alert is sent once");
        let closed = planned().cancel(t(1)).unwrap();
        assert_eq!(closed.alert_check_at(), None);
        assert!(closed.clone().take_due_alerts(t(9000)).is_empty());
    }

    #[test]
    fn a_late_run_sends_only_the_overdue_alert() {
        let mut i = planned();
        assert_eq!(i.take_due_alerts(t(8000)), [InteractionAlert::Overdue]);
        assert_eq!(i.alert_check_at(), None);
    }

    #[test]
    fn rescheduling_owes_new_alerts_and_reassigning_keeps_them() {
        let mut i = planned();
        i.take_due_alerts(t(2700));
        i.take_due_alerts(t(7201));
        let moved = i
            .edit(&InteractionChange { scheduled_at: Some(t(10_000)), ..Default::default() }, t(7300))
            .unwrap();
        assert_eq!((moved.remind_at, moved.reminded_at, moved.overdue_alerted_at), (None, None, None));
        let mut moved = moved;
        moved.plan_reminder(lead(), t(7300));
        assert_eq!(moved.alert_check_at(), Some(t(10_000 - 900)));
        let reassigned: InteractionChange = serde_json::from_str(r#"{"assignee_id":"agent-2"}"#).unwrap();
        let reassigned = i.edit(&reassigned, t(7300)).unwrap();
        assert_eq!((reassigned.assignee_id.as_deref(), reassigned.reminded_at), (Some("agent-2"), Some(t(2700))));
    }

    #[test]
    fn the_creator_is_the_assignee_unless_the_request_names_one() {
        assert_eq!(pending().assignee_id.as_deref(), Some("agent-1"));
        let mut req = new_call();
        req.assignee_id = Some("agent-9".into());
        assert_eq!(req.into_interaction("i".into(), "o", Some("agent-1"), t(0)).unwrap().assignee_id.as_deref(), Some("agent-9"));
    }
}
