//! Actions: something the assistant or an agent proposes for a customer (a refund, a policy
//! clarification, an appointment change, a discount) that a person approves, denies or edits.
//! An action is decided once; its answer to the customer is tracked in an [`ActionResponse`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::message::{DeliveryStatus, FailureReason};
use crate::error::{Error, Result};

/// The types every organisation has. An organisation may add its own (see
/// `response_template::ResponseTemplates::custom_types`).
pub const BUILT_IN_TYPES: [&str; 5] = ["refund_request", "policy_clarification", "appointment_change", "discount_request", "other"];

pub const MAX_TITLE_CHARS: usize = 200;
/// A reply an agent types, or the assistant proposes; the rendered answer must still fit WhatsApp's 4096.
pub const MAX_REPLY_CHARS: usize = 2048;
pub const MAX_DETAIL_FIELDS: usize = 50;
/// Details are a small object of facts (amounts, dates, order numbers), not documents.
pub const MAX_DETAILS_BYTES: usize = 16 * 1024;
const MAX_TYPE_CHARS: usize = 48;

pub fn is_built_in(action_type: &str) -> bool {
    BUILT_IN_TYPES.contains(&action_type)
}

/// Type names are slugs (`warranty_claim`): they appear in URLs, keys and template settings.
pub fn validate_type_name(field: &str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let slug = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_TYPE_CHARS;
    if slug {
        Ok(())
    } else {
        Err(Error::invalid(field, format!("must be a lowercase name of letters, digits and _ (at most {MAX_TYPE_CHARS})")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Pending,
    Approved,
    Denied,
    /// Approved with changes to its details.
    Edited,
}

impl ActionStatus {
    pub const DECISIONS: [ActionStatus; 3] = [ActionStatus::Approved, ActionStatus::Denied, ActionStatus::Edited];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Pending => "pending",
            ActionStatus::Approved => "approved",
            ActionStatus::Denied => "denied",
            ActionStatus::Edited => "edited",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "denied" => Some(Self::Denied),
            "edited" => Some(Self::Edited),
            _ => None,
        }
    }

    pub fn is_decision(self) -> bool {
        self != ActionStatus::Pending
    }
}

/// Who did something: a user of the dashboard (or the assistant's service account).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    pub status: ActionStatus,
    /// What the person wrote for the customer (`{{user_response}}` in the templates).
    #[serde(default)]
    pub reply_text: Option<String>,
    /// An edit's changes to the details (a `null` removed that field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Map<String, Value>>,
    /// The details before an edit, for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_details: Option<Map<String, Value>>,
    pub decided_by: Actor,
    pub decided_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Action {
    pub id: String,
    pub org_id: String,
    pub conversation_id: String,
    pub customer_id: String,
    #[serde(rename = "type")]
    pub action_type: String,
    pub title: String,
    #[serde(default)]
    pub details: Map<String, Value>,
    /// A reply the proposer suggests; an approval without a reply text sends this one.
    #[serde(default)]
    pub proposed_reply: Option<String>,
    pub status: ActionStatus,
    pub created_by: Actor,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The internal `action_request` message (the action bubble) in the conversation.
    pub request_message_id: String,
    #[serde(default)]
    pub decision: Option<Decision>,
    /// The answer's message in the conversation, written with the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_message_id: Option<String>,
    /// Where the answer to the customer is (absent while pending): `processing` from the decision
    /// until reply-sender sends it, then `sent`, `delivered`, `read` or `failed`. Never backwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_status: Option<AnswerStatus>,
    /// Counts decisions; a decision is saved only over the pending version it was made on.
    #[serde(default)]
    pub version: u64,
}

/// The answer's delivery as the dashboard shows it on the action and its bubble (the seed's
/// `processing` state): the answer's message status, with `queued` / `sending` read as
/// `processing` (decided, not yet handed to WhatsApp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnswerStatus {
    Processing,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl AnswerStatus {
    /// The answer's status while its message is `status` (`None` for an inbound status).
    pub fn of(status: DeliveryStatus) -> Option<Self> {
        match status {
            DeliveryStatus::Received => None,
            DeliveryStatus::Queued | DeliveryStatus::Sending => Some(Self::Processing),
            DeliveryStatus::Sent => Some(Self::Sent),
            DeliveryStatus::Delivered => Some(Self::Delivered),
            DeliveryStatus::Read => Some(Self::Read),
            DeliveryStatus::Failed => Some(Self::Failed),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }
}

/// `POST /v1/actions`.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAction {
    #[serde(deserialize_with = "crate::domain::ids::id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub conversation_id: String,
    #[serde(rename = "type")]
    #[schema(schema_with = action_type_schema)]
    pub action_type: String,
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
    #[serde(default)]
    #[schema(schema_with = details_schema)]
    pub details: Map<String, Value>,
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub proposed_reply: Option<String>,
}

/// `type` in the contract: a built-in type, or one of the organisation's own.
fn action_type_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(BUILT_IN_TYPES))
        .description(Some("A built-in type, or one of the organisation's own (`custom_types` of /v1/action-response-templates)"))
        .build()
}

/// `details` in the contract: at most 50 named fields (16 KB of JSON).
pub fn details_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Object)
        .max_properties(Some(MAX_DETAIL_FIELDS))
        .property_names(Some(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String).pattern(Some("\\S"))))
        .build()
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn optional_text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>> {
    // The limit is on the text as sent, as the contract's maxLength reads it: white space trimmed
    // away afterwards does not make a text that was too long fit.
    if value.as_deref().is_some_and(|v| chars(v) > max) {
        return Err(Error::invalid(field, format!("must be at most {max} characters")));
    }
    Ok(value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
}

fn validate_details(field: &str, details: &Map<String, Value>) -> Result<()> {
    if details.len() > MAX_DETAIL_FIELDS {
        return Err(Error::invalid(field, format!("must have at most {MAX_DETAIL_FIELDS} fields")));
    }
    if serde_json::to_vec(details).map(|b| b.len()).unwrap_or(usize::MAX) > MAX_DETAILS_BYTES {
        return Err(Error::invalid(field, format!("must be at most {MAX_DETAILS_BYTES} bytes of JSON")));
    }
    if let Some(key) = details.keys().find(|k| k.trim().is_empty()) {
        return Err(Error::invalid(format!("{field}.{key}"), "field names must not be empty"));
    }
    Ok(())
}

impl NewAction {
    /// Checks the request; `custom_types` are the organisation's own types.
    pub fn validate(mut self, custom_types: &[String]) -> Result<NewAction> {
        if self.conversation_id.trim().is_empty() {
            return Err(Error::invalid("conversation_id", "must not be empty"));
        }
        validate_type_name("type", &self.action_type)?;
        if !is_built_in(&self.action_type) && !custom_types.contains(&self.action_type) {
            let mut known: Vec<&str> = BUILT_IN_TYPES.to_vec();
            known.extend(custom_types.iter().map(String::as_str));
            return Err(Error::invalid("type", format!("must be one of: {}", known.join(", "))));
        }
        self.title = self.title.trim().to_string();
        if self.title.is_empty() {
            return Err(Error::invalid("title", "must not be empty"));
        }
        if chars(&self.title) > MAX_TITLE_CHARS {
            return Err(Error::invalid("title", format!("must be at most {MAX_TITLE_CHARS} characters")));
        }
        validate_details("details", &self.details)?;
        self.proposed_reply = optional_text("proposed_reply", self.proposed_reply, MAX_REPLY_CHARS)?;
        Ok(self)
    }
}

/// A decision as asked for: `POST /v1/actions/{id}/approve|deny|edit` or `POST /v1/action-feedback`.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRequest {
    pub status: ActionStatus,
    pub reply_text: Option<String>,
    pub changes: Option<Map<String, Value>>,
}

impl DecisionRequest {
    /// Validates the request; field names are those of the HTTP body.
    pub fn new(status: ActionStatus, reply_text: Option<String>, reply_field: &str, changes: Option<Map<String, Value>>) -> Result<Self> {
        if !status.is_decision() {
            return Err(Error::invalid("status", "must be one of: approved, denied, edited"));
        }
        let reply_text = optional_text(reply_field, reply_text, MAX_REPLY_CHARS)?;
        match (status, &changes) {
            (ActionStatus::Edited, None) => return Err(Error::invalid("changes", "an edit needs the changes to the details")),
            (ActionStatus::Edited, Some(c)) if c.is_empty() => return Err(Error::invalid("changes", "must not be empty")),
            (ActionStatus::Edited, Some(c)) => validate_details("changes", c)?,
            (_, Some(_)) => return Err(Error::invalid("changes", "only an edit takes changes")),
            (_, None) => {}
        }
        Ok(DecisionRequest { status, reply_text, changes })
    }
}

/// What a decision request does to an action.
#[derive(Debug, Clone, PartialEq)]
pub enum DecisionOutcome {
    /// The action as decided now (its `version` advanced): save it over the pending one.
    Decide(Box<Action>),
    /// The same decision was already made: harmless, nothing changes and nothing is sent again.
    AlreadyDecided,
}

/// The rule: a pending action is decided once; the same decision again is harmless; a different
/// one answers 409 naming the current status.
pub fn decide(action: &Action, request: &DecisionRequest, by: Actor, now: DateTime<Utc>) -> Result<DecisionOutcome> {
    if action.status == request.status {
        return Ok(DecisionOutcome::AlreadyDecided);
    }
    if action.status != ActionStatus::Pending {
        return Err(Error::conflict(
            format!("the action is already {}; it cannot be {} now", action.status.as_str(), request.status.as_str()),
            action.status.as_str(),
        ));
    }
    let mut decided = action.clone();
    let mut previous_details = None;
    if let Some(changes) = &request.changes {
        previous_details = Some(action.details.clone());
        for (key, value) in changes {
            if value.is_null() {
                decided.details.remove(key);
            } else {
                decided.details.insert(key.clone(), value.clone());
            }
        }
        validate_details("changes", &decided.details)?;
    }
    decided.status = request.status;
    // Every decision answers the customer: from now until reply-sender sends it.
    decided.answer_status = Some(AnswerStatus::Processing);
    decided.decision = Some(Decision {
        status: request.status,
        reply_text: request.reply_text.clone(),
        changes: request.changes.clone(),
        previous_details,
        decided_by: by,
        decided_at: now,
    });
    decided.updated_at = now;
    decided.version += 1;
    Ok(DecisionOutcome::Decide(Box::new(decided)))
}

impl Action {
    /// `{{user_response}}`: the decision's reply text; an approval without one sends the proposed reply.
    pub fn user_response(&self) -> Option<&str> {
        let decision = self.decision.as_ref()?;
        decision.reply_text.as_deref().or(match decision.status {
            ActionStatus::Approved | ActionStatus::Edited => self.proposed_reply.as_deref(),
            _ => None,
        })
    }
}

/// The idempotency key of an action's answer to the customer: its message is found again by it, and
/// a delivery status on that message leads back to the action.
pub fn response_key(action_id: &str) -> String {
    format!("action:{action_id}:response")
}

/// The action an answer message belongs to (see [`response_key`]).
pub fn action_of_response(idempotency_key: &str) -> Option<&str> {
    idempotency_key.strip_prefix("action:")?.strip_suffix(":response").filter(|id| !id.is_empty())
}

/// Where the answer's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateSource {
    /// The organisation's own template for this type and decision.
    Organisation,
    /// MAX's default for a built-in type.
    Default,
    /// The generic template for the decision (no template for this type).
    Generic,
}

/// The answer to the customer for a decided action (`action_responses`): its text, its message and
/// that message's delivery status, kept current by reply-sender and the status webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionResponse {
    pub action_id: String,
    pub org_id: String,
    pub conversation_id: String,
    pub decision: ActionStatus,
    pub text: String,
    pub template_source: TemplateSource,
    // Absent rather than null while unset: status updates use `if_not_exists`, which sees a null as set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureReason>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    fn ana() -> Actor {
        Actor { id: "u-ana".into(), name: Some("Ana".into()) }
    }

    fn pending() -> Action {
        Action {
            id: "a1".into(),
            org_id: "o".into(),
            conversation_id: "c".into(),
            customer_id: "u".into(),
            action_type: "refund_request".into(),
            title: "Refund order 1042".into(),
            details: json!({"amount": "25.00", "order": "1042"}).as_object().unwrap().clone(),
            proposed_reply: Some("We'll refund 25.00 within 5 days.".into()),
            status: ActionStatus::Pending,
            created_by: ana(),
            created_at: t(0),
            updated_at: t(0),
            request_message_id: "m1".into(),
            decision: None,
            response_message_id: None,
            answer_status: None,
            version: 1,
        }
    }

    fn request(status: ActionStatus) -> DecisionRequest {
        let changes = (status == ActionStatus::Edited).then(|| json!({"amount": "20.00"}).as_object().unwrap().clone());
        DecisionRequest::new(status, Some("Thanks!".into()), "reply_text", changes).unwrap()
    }

    fn decided(action: &Action, status: ActionStatus) -> Action {
        match decide(action, &request(status), ana(), t(10)).unwrap() {
            DecisionOutcome::Decide(a) => *a,
            DecisionOutcome::AlreadyDecided => panic!("expected a decision"),
        }
    }

    #[test]
    fn a_pending_action_is_decided_once() {
        let approved = decided(&pending(), ActionStatus::Approved);
        assert_eq!(approved.status, ActionStatus::Approved);
        assert_eq!(approved.version, 2);
        let d = approved.decision.as_ref().unwrap();
        assert_eq!((d.decided_at, d.reply_text.as_deref()), (t(10), Some("Thanks!")));
    }

    #[test]
    fn the_same_decision_again_is_harmless() {
        for status in ActionStatus::DECISIONS {
            let once = decided(&pending(), status);
            assert_eq!(decide(&once, &request(status), ana(), t(20)).unwrap(), DecisionOutcome::AlreadyDecided);
        }
    }

    #[test]
    fn a_different_decision_conflicts_and_names_the_current_one() {
        let approved = decided(&pending(), ActionStatus::Approved);
        for other in [ActionStatus::Denied, ActionStatus::Edited] {
            match decide(&approved, &request(other), ana(), t(20)) {
                Err(Error::Conflict { current, .. }) => assert_eq!(current.as_deref(), Some("approved")),
                r => panic!("expected a conflict, got {r:?}"),
            }
        }
    }

    #[test]
    fn an_edit_changes_the_details_and_keeps_the_old_ones() {
        let mut changes = json!({"amount": "20.00", "order": null, "note": "partial"}).as_object().unwrap().clone();
        let req = DecisionRequest::new(ActionStatus::Edited, None, "reply_text", Some(changes.clone())).unwrap();
        let DecisionOutcome::Decide(edited) = decide(&pending(), &req, ana(), t(5)).unwrap() else { panic!() };
        assert_eq!(edited.status, ActionStatus::Edited);
        assert_eq!(Value::Object(edited.details.clone()), json!({"amount": "20.00", "note": "partial"}));
        let d = edited.decision.unwrap();
        assert_eq!(d.previous_details.unwrap()["order"], "1042");
        changes.clear();
        assert!(DecisionRequest::new(ActionStatus::Edited, None, "reply_text", Some(changes)).is_err());
    }

    #[test]
    fn decision_requests_name_the_wrong_field() {
        let err = |r: Result<DecisionRequest>| match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        };
        assert_eq!(err(DecisionRequest::new(ActionStatus::Pending, None, "reply_text", None)), "status");
        assert_eq!(err(DecisionRequest::new(ActionStatus::Edited, None, "reply_text", None)), "changes");
        let changes = json!({"a": 1}).as_object().unwrap().clone();
        assert_eq!(err(DecisionRequest::new(ActionStatus::Approved, None, "reply_text", Some(changes))), "changes");
        let long = "x".repeat(MAX_REPLY_CHARS + 1);
        assert_eq!(err(DecisionRequest::new(ActionStatus::Denied, Some(long), "user_response", None)), "user_response");
        // Too long as sent, though it would fit once its white space is trimmed (schemathesis).
        let padded = format!("\n{}", "x".repeat(MAX_REPLY_CHARS));
        assert_eq!(err(DecisionRequest::new(ActionStatus::Approved, Some(padded), "reply_text", None)), "reply_text");
        let fits = format!("\n{}", "x".repeat(MAX_REPLY_CHARS - 1));
        assert_eq!(DecisionRequest::new(ActionStatus::Approved, Some(fits), "reply_text", None).unwrap().reply_text.map(|r| r.len()), Some(MAX_REPLY_CHARS - 1));
        let blank = DecisionRequest::new(ActionStatus::Denied, Some("  ".into()), "reply_text", None).unwrap();
        assert_eq!(blank.reply_text, None);
    }

    #[test]
    fn an_approval_without_a_reply_sends_the_proposed_one_a_denial_does_not() {
        let no_reply = |status| {
            let req = DecisionRequest::new(status, None, "reply_text", None).unwrap();
            let DecisionOutcome::Decide(a) = decide(&pending(), &req, ana(), t(1)).unwrap() else { panic!() };
            a.user_response().map(str::to_string)
        };
        assert_eq!(no_reply(ActionStatus::Approved).as_deref(), Some("We'll refund 25.00 within 5 days."));
        assert_eq!(no_reply(ActionStatus::Denied), None);
    }

    #[test]
    fn new_actions_accept_built_in_and_the_organisations_own_types() {
        let new = |t: &str| NewAction {
            conversation_id: "c".into(),
            action_type: t.into(),
            title: " Refund ".into(),
            details: Map::new(),
            proposed_reply: Some(" ".into()),
        };
        let ok = new("refund_request").validate(&[]).unwrap();
        assert_eq!((ok.title.as_str(), ok.proposed_reply), ("Refund", None));
        assert!(new("warranty_claim").validate(&[]).is_err());
        assert!(new("warranty_claim").validate(&["warranty_claim".into()]).is_ok());
        assert!(new("Bad Type").validate(&["Bad Type".into()]).is_err());
    }

    #[test]
    fn response_keys_lead_back_to_the_action() {
        assert_eq!(action_of_response(&response_key("01ABC")), Some("01ABC"));
        assert_eq!(action_of_response("client-key-1"), None);
        assert_eq!(action_of_response("action::response"), None);
    }
}
