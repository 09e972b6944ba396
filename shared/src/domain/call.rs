//! Feedback calls: service records, the calls they create, the call's state machine, and NPS.
//!
//! ```text
//! ready ─claim─▶ in_progress ─answered with a score─▶ completed (voice)
//!   ▲                 └─no answer / busy / failed / machine / no score─▶ missed(reason)
//!   └─ attempts left (spaced) ◀─┘        last attempt: missed, + WhatsApp survey ─answer─▶ completed (whatsapp)
//! ready / missed ─cancel─▶ cancelled;  missed ─retry by hand─▶ ready
//! ```
//!
//! Every change is a pure function of the call that answers `Unchanged` when its work is already
//! done (a redelivered job, a repeated provider callback), so repeats change nothing twice.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::support::Transition;
use crate::error::{Error, Result};

pub const MAX_TEXT_CHARS: usize = 5000;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_TAGS: usize = 20;
pub const MAX_LIST_ITEMS: usize = 50;

/// A phone number as E.164 (`+` then 8 to 15 digits, the first not 0), after dropping the
/// spaces, dashes, dots and brackets people type. The error names `field`.
pub fn normalise_phone(field: &str, raw: &str) -> Result<String> {
    let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = compact.strip_prefix('+').unwrap_or_default();
    let ok = (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0');
    if !ok {
        return Err(Error::invalid(field, "must be an E.164 phone number such as +16505551234"));
    }
    Ok(format!("+{digits}"))
}

/// The WhatsApp address (`wa_id`) of an E.164 number: its digits.
pub fn whatsapp_address(e164: &str) -> &str {
    e164.trim_start_matches('+')
}

fn check_text(field: &str, value: &Option<String>, max: usize) -> Result<()> {
    match value {
        Some(v) if v.chars().count() > max => Err(Error::invalid(field, format!("must be at most {max} characters"))),
        _ => Ok(()),
    }
}

/// Whether a text is blank as the contract reads it (`pattern: \S`): only ECMAScript's white
/// space, which counts U+FEFF and not U+0085, unlike `char::is_whitespace`.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}')
    })
}

fn check_list(field: &str, values: &[String], max_items: usize) -> Result<()> {
    if values.len() > max_items {
        return Err(Error::invalid(field, format!("at most {max_items} items")));
    }
    match values.iter().position(|v| is_blank(v) || v.chars().count() > MAX_NAME_CHARS) {
        Some(i) => Err(Error::invalid(format!("{field}[{i}]"), format!("must have 1 to {MAX_NAME_CHARS} characters"))),
        None => Ok(()),
    }
}

/// A list of short texts in the contract (`positive_mentions`, `tags`, ...): at most `max_items`,
/// each 1 to [`MAX_NAME_CHARS`] characters and not blank, as [`check_list`] reads them; `null`
/// too where the field is optional (an edit's "leave it as it is").
fn short_texts(max_items: usize, nullable: bool) -> utoipa::openapi::schema::Array {
    use utoipa::openapi::{Type, schema::SchemaType};
    let item = utoipa::openapi::ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(MAX_NAME_CHARS)).pattern(Some("\\S"));
    let types: SchemaType = if nullable { [Type::Array, Type::Null].into_iter().collect() } else { SchemaType::Type(Type::Array) };
    utoipa::openapi::schema::ArrayBuilder::new().schema_type(types).items(item).max_items(Some(max_items)).build()
}

fn mentions_schema() -> utoipa::openapi::schema::Array {
    short_texts(MAX_LIST_ITEMS, false)
}

fn optional_mentions_schema() -> utoipa::openapi::schema::Array {
    short_texts(MAX_LIST_ITEMS, true)
}

fn optional_tags_schema() -> utoipa::openapi::schema::Array {
    short_texts(MAX_TAGS, true)
}

/// Whether a phone as typed holds anything but the separators [`normalise_phone`] drops.
fn has_phone(raw: &str) -> bool {
    raw.chars().any(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
}

// ------------------------------------------------------------------------- service records

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    Scheduled,
    InProgress,
    #[default]
    Completed,
    Cancelled,
}

impl ServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A service the business performed (the seed's car service), which a feedback call follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServiceRecord {
    pub id: String,
    pub org_id: String,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub customer_name: Option<String>,
    /// E.164.
    #[serde(default)]
    pub customer_phone: Option<String>,
    #[serde(default)]
    pub vehicle_info: Option<String>,
    #[serde(default)]
    pub service_type: Option<String>,
    #[serde(default)]
    pub status: ServiceStatus,
    /// When the service was (or is) performed.
    #[serde(default)]
    pub appointment_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub service_advisor_id: Option<String>,
    #[serde(default)]
    pub service_advisor_name: Option<String>,
    #[serde(default)]
    pub feedback: Option<String>,
    #[serde(default)]
    pub rating: Option<u8>,
    #[serde(default)]
    pub positive_mentions: Vec<String>,
    #[serde(default)]
    pub areas_to_improve: Vec<String>,
    #[serde(default)]
    pub overall_feedback: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// The customer asked not to be called: no call is created, a ready one is cancelled.
    #[serde(default)]
    pub do_not_call: bool,
    /// The feedback call this record created.
    #[serde(default)]
    pub call_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl ServiceRecord {
    /// When the service took place, for the call's delay: the appointment, else the record's creation.
    pub fn service_time(&self) -> DateTime<Utc> {
        self.appointment_date.unwrap_or(self.created_at)
    }
}

/// The body of `POST /v1/service-records` and of a replacement with PUT.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRecordInput {
    #[serde(default)]
    #[schema(max_length = 200)]
    pub customer_name: Option<String>,
    /// E.164 once spaces, dashes, dots and brackets are dropped (`+1 650-555-1234`); blank or
    /// absent for none (then no call).
    #[serde(default)]
    #[schema(pattern = "^[ ().-]*(\\+[ ().-]*[1-9]([ ().-]*[0-9]){7,14}[ ().-]*)?$", example = "+1 650-555-1234")]
    pub customer_phone: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub vehicle_info: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub service_type: Option<String>,
    #[serde(default)]
    pub status: ServiceStatus,
    /// When the service was (or is) performed, from 2000-01-01 to 2099-12-31 (UTC): the call
    /// follows it by the schedule's delay.
    #[serde(default)]
    pub appointment_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "crate::domain::ids::optional_id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub service_advisor_id: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub service_advisor_name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub feedback: Option<String>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10)]
    pub rating: Option<u8>,
    #[serde(default)]
    #[schema(schema_with = mentions_schema)]
    pub positive_mentions: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = mentions_schema)]
    pub areas_to_improve: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub overall_feedback: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::ids::optional_id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub do_not_call: bool,
}

impl ServiceRecordInput {
    /// Checks every field (errors name it) and answers the input with its phone in E.164.
    pub fn validated(mut self) -> Result<Self> {
        self.customer_phone = match self.customer_phone.as_deref().filter(|p| has_phone(p)) {
            Some(p) => Some(normalise_phone("customer_phone", p)?),
            None => None,
        };
        for (field, value) in [
            ("customer_name", &self.customer_name),
            ("vehicle_info", &self.vehicle_info),
            ("service_type", &self.service_type),
            ("service_advisor_id", &self.service_advisor_id),
            ("service_advisor_name", &self.service_advisor_name),
            ("campaign_id", &self.campaign_id),
        ] {
            check_text(field, value, MAX_NAME_CHARS)?;
        }
        check_text("feedback", &self.feedback, MAX_TEXT_CHARS)?;
        check_text("overall_feedback", &self.overall_feedback, MAX_TEXT_CHARS)?;
        // A service is performed in our lifetime; a date a millennium away is a typo (and a call
        // due then is past the range of RFC 3339 dates).
        if self.appointment_date.is_some_and(|d| !(2000..=2099).contains(&d.year())) {
            return Err(Error::invalid("appointment_date", "must be from 2000-01-01 to 2099-12-31"));
        }
        if self.rating.is_some_and(|r| r > 10) {
            return Err(Error::invalid("rating", "must be from 0 to 10"));
        }
        check_list("positive_mentions", &self.positive_mentions, MAX_LIST_ITEMS)?;
        check_list("areas_to_improve", &self.areas_to_improve, MAX_LIST_ITEMS)?;
        Ok(self)
    }

    /// A new record from a validated input.
    pub fn into_record(self, id: String, org_id: &str, customer_id: Option<String>, now: DateTime<Utc>) -> ServiceRecord {
        let mut record = ServiceRecord {
            id,
            org_id: org_id.to_string(),
            customer_id,
            customer_name: None,
            customer_phone: None,
            vehicle_info: None,
            service_type: None,
            status: ServiceStatus::Completed,
            appointment_date: None,
            service_advisor_id: None,
            service_advisor_name: None,
            feedback: None,
            rating: None,
            positive_mentions: Vec::new(),
            areas_to_improve: Vec::new(),
            overall_feedback: None,
            campaign_id: None,
            do_not_call: false,
            call_id: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.apply_to(&mut record);
        record
    }

    /// Replaces the record's editable fields (PUT).
    pub fn apply_to(self, r: &mut ServiceRecord) {
        r.customer_name = self.customer_name;
        r.customer_phone = self.customer_phone;
        r.vehicle_info = self.vehicle_info;
        r.service_type = self.service_type;
        r.status = self.status;
        r.appointment_date = self.appointment_date;
        r.service_advisor_id = self.service_advisor_id;
        r.service_advisor_name = self.service_advisor_name;
        r.feedback = self.feedback;
        r.rating = self.rating;
        r.positive_mentions = self.positive_mentions;
        r.areas_to_improve = self.areas_to_improve;
        r.overall_feedback = self.overall_feedback;
        r.campaign_id = self.campaign_id;
        r.do_not_call = self.do_not_call;
    }
}

// ------------------------------------------------------------------------------------ calls

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Due or scheduled (`due_at`).
    Ready,
    /// Claimed by the dialer: being placed or talking.
    InProgress,
    Completed,
    /// The last attempt was missed (`miss_reason`); retried by hand or followed on WhatsApp.
    Missed,
    Cancelled,
}

impl CallStatus {
    /// The ready list shows the soonest due first; every other list the newest first.
    pub fn newest_first(self) -> bool {
        self != Self::Ready
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Missed => "missed",
            Self::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissReason {
    NoAnswer,
    Busy,
    /// The provider failed or refused the call, or it was never placed.
    Failed,
    /// An answering machine picked up.
    Voicemail,
    /// Answered, but hung up before giving a score.
    NoScore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallType {
    #[default]
    Feedback,
    /// To the number entered on the demo screen: never counted in NPS, never retried.
    Demo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    #[default]
    Outbound,
    Inbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompletedVia {
    Voice,
    Whatsapp,
}

/// One time the call was placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallAttempt {
    pub number: u32,
    pub claimed_at: DateTime<Utc>,
    /// The provider's id (Twilio `CallSid`), once the provider accepted the call.
    #[serde(default)]
    pub provider_call_id: Option<String>,
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    /// How it ended: `None` while it runs; set once.
    #[serde(default)]
    pub missed: Option<MissReason>,
    #[serde(default)]
    pub answered: bool,
}

/// The WhatsApp survey that follows the last missed attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WhatsAppFallback {
    pub requested_at: DateTime<Utc>,
    /// The survey message, once queued.
    #[serde(default)]
    pub message_id: Option<String>,
    /// Why the survey could not be sent (`no_whatsapp_identity`: the customer's number is not
    /// known, or was erased; `no_whatsapp_number`: the organisation has no WhatsApp number). The
    /// scheduler's sweep does not try it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_sent: Option<String>,
}

/// The first number 0–10 in what a customer said or typed: digits ("9", "10/10") or a word
/// ("nine"). Anything else is no score.
pub fn score_in_words(text: &str) -> Option<u8> {
    const WORDS: [&str; 11] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];
    let text = text.to_lowercase();
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).find_map(|word| {
        word.parse::<u8>().ok().filter(|s| *s <= 10).or_else(|| WORDS.iter().position(|w| *w == word).map(|i| i as u8))
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Call {
    pub id: String,
    pub org_id: String,
    #[serde(default)]
    pub service_record_id: Option<String>,
    #[serde(default)]
    pub customer_id: Option<String>,
    /// E.164.
    pub customer_number: String,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub direction: CallDirection,
    #[serde(default)]
    pub call_type: CallType,
    pub status: CallStatus,
    #[serde(default)]
    pub miss_reason: Option<MissReason>,
    /// While `ready`: when it is next due (inside a calling window).
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub duration_sec: Option<u32>,
    #[serde(default)]
    pub recording_url: Option<String>,
    #[serde(default)]
    pub transcript: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub nps_score: Option<u8>,
    #[serde(default)]
    pub call_reason: Option<String>,
    #[serde(default)]
    pub feedback_summary: Option<String>,
    #[serde(default)]
    pub service_advisor_id: Option<String>,
    #[serde(default)]
    pub service_advisor_name: Option<String>,
    #[serde(default)]
    pub service_type: Option<String>,
    #[serde(default)]
    pub vehicle_info: Option<String>,
    #[serde(default)]
    pub positive_mentions: Vec<String>,
    #[serde(default)]
    pub areas_to_improve: Vec<String>,
    /// Attempts placed (claimed) so far.
    #[serde(default)]
    pub attempts: u32,
    /// Retries asked for by hand; each allows one attempt more than the config's `max_attempts`.
    #[serde(default)]
    pub manual_retries: u32,
    #[serde(default)]
    pub attempt_history: Vec<CallAttempt>,
    #[serde(default)]
    pub completed_via: Option<CompletedVia>,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    /// The local date (schedule time zone) the NPS counters count the answer on.
    #[serde(default)]
    pub nps_date: Option<NaiveDate>,
    #[serde(default)]
    pub fallback: Option<WhatsAppFallback>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

/// What a new call is made from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewCall {
    pub id: String,
    pub org_id: String,
    pub customer_number: String,
    pub customer_name: Option<String>,
    pub customer_id: Option<String>,
    pub call_type: CallType,
    pub campaign_id: Option<String>,
}

impl Call {
    /// A `ready` call due at `due_at`.
    pub fn ready(new: NewCall, due_at: DateTime<Utc>, now: DateTime<Utc>) -> Call {
        Call {
            id: new.id,
            org_id: new.org_id,
            service_record_id: None,
            customer_id: new.customer_id,
            customer_number: new.customer_number,
            customer_name: new.customer_name,
            direction: CallDirection::Outbound,
            call_type: new.call_type,
            status: CallStatus::Ready,
            miss_reason: None,
            due_at: Some(due_at),
            start_time: None,
            end_time: None,
            duration_sec: None,
            recording_url: None,
            transcript: None,
            notes: None,
            tags: Vec::new(),
            campaign_id: new.campaign_id,
            nps_score: None,
            call_reason: None,
            feedback_summary: None,
            service_advisor_id: None,
            service_advisor_name: None,
            service_type: None,
            vehicle_info: None,
            positive_mentions: Vec::new(),
            areas_to_improve: Vec::new(),
            attempts: 0,
            manual_retries: 0,
            attempt_history: Vec::new(),
            completed_via: None,
            completed_at: None,
            nps_date: None,
            fallback: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// The feedback call of a service record (which must have a phone), due at `due_at`. Its id is
    /// derived from the record's by the caller, so a retried create stores nothing twice.
    pub fn for_service(id: String, record: &ServiceRecord, phone: &str, due_at: DateTime<Utc>, now: DateTime<Utc>) -> Call {
        let new = NewCall {
            id,
            org_id: record.org_id.clone(),
            customer_number: phone.to_string(),
            customer_name: record.customer_name.clone(),
            customer_id: record.customer_id.clone(),
            call_type: CallType::Feedback,
            campaign_id: record.campaign_id.clone(),
        };
        let mut call = Call::ready(new, due_at, now);
        call.service_record_id = Some(record.id.clone());
        call.call_reason = Some("service feedback".into());
        call.service_advisor_id = record.service_advisor_id.clone();
        call.service_advisor_name = record.service_advisor_name.clone();
        call.service_type = record.service_type.clone();
        call.vehicle_info = record.vehicle_info.clone();
        call
    }

    /// Where the call sorts in its status's list: the ready list by due time (a demo waiting to
    /// be initiated by creation), missed by the last attempt's end, completed by completion.
    pub fn list_time(&self) -> DateTime<Utc> {
        let when = match self.status {
            CallStatus::Ready => self.due_at,
            CallStatus::Missed => self.end_time,
            CallStatus::Completed => self.completed_at,
            CallStatus::InProgress | CallStatus::Cancelled => None,
        };
        when.unwrap_or(match self.status {
            CallStatus::Ready => self.created_at,
            _ => self.updated_at,
        })
    }

    /// How many attempts this call may have under a config allowing `max_attempts`.
    pub fn attempt_limit(&self, max_attempts: u32) -> u32 {
        match self.call_type {
            CallType::Demo => 1 + self.manual_retries,
            CallType::Feedback => max_attempts + self.manual_retries,
        }
    }

    fn current_attempt(&mut self, attempt: u32) -> Option<&mut CallAttempt> {
        (self.status == CallStatus::InProgress && self.attempts == attempt).then(|| self.attempt_history.iter_mut().rev().find(|a| a.number == attempt)).flatten()
    }

    fn conflict(&self, doing: &str) -> Error {
        Error::conflict(format!("the call is {}; it cannot be {doing}", self.status.as_str()), self.status.as_str())
    }

    /// The dialer takes attempt `attempt` before asking the provider to call. `Unchanged` when
    /// that attempt was taken already (a redelivered job) or the call is no longer ready: then
    /// nothing is placed, so each attempt is placed at most once.
    pub fn claim(&mut self, attempt: u32, now: DateTime<Utc>) -> Transition {
        if self.status != CallStatus::Ready || self.attempts + 1 != attempt {
            return Transition::Unchanged;
        }
        self.status = CallStatus::InProgress;
        self.attempts = attempt;
        self.due_at = None;
        self.attempt_history.push(CallAttempt { number: attempt, claimed_at: now, provider_call_id: None, ended_at: None, missed: None, answered: false });
        self.updated_at = now;
        Transition::Changed
    }

    /// The provider accepted attempt `attempt` under `provider_call_id`.
    pub fn placed(&mut self, attempt: u32, provider_call_id: &str, now: DateTime<Utc>) -> Result<Transition> {
        let Some(a) = self.current_attempt(attempt) else { return Ok(Transition::Unchanged) };
        match &a.provider_call_id {
            Some(id) if id == provider_call_id => Ok(Transition::Unchanged),
            Some(_) => Err(Error::conflict("the attempt was placed under another provider call id", "in_progress")),
            None => {
                a.provider_call_id = Some(provider_call_id.to_string());
                self.updated_at = now;
                Ok(Transition::Changed)
            }
        }
    }

    /// The customer's answers during attempt `attempt` (the score keyed in, the spoken feedback).
    /// A repeat with the same answers changes nothing.
    pub fn record_answers(&mut self, attempt: u32, provider_call_id: Option<&str>, score: Option<u8>, speech: Option<&str>, now: DateTime<Utc>) -> Result<Transition> {
        if let Some(s) = score {
            classify(s)?;
        }
        let Some(a) = self.current_attempt(attempt) else { return Ok(Transition::Unchanged) };
        check_provider_id(a, provider_call_id)?;
        if a.missed.is_some() || a.answered {
            return Ok(Transition::Unchanged);
        }
        let speech = speech.map(str::trim).filter(|s| !s.is_empty()).map(|s| s.chars().take(MAX_TEXT_CHARS).collect::<String>());
        let before = (self.nps_score, self.transcript.clone());
        if score.is_some() {
            self.nps_score = score;
        }
        if speech.is_some() {
            self.transcript = speech;
        }
        if (self.nps_score, self.transcript.clone()) == before {
            return Ok(Transition::Unchanged);
        }
        self.updated_at = now;
        Ok(Transition::Changed)
    }

    /// How attempt `attempt` ended, from the provider's final status callback. Applied once: a
    /// repeated or late callback, or one of an older attempt, is `Unchanged`.
    pub fn finish(&mut self, attempt: u32, end: &CallEnd, next: &AfterMiss) -> Result<CallChange> {
        let scored = self.nps_score.is_some();
        let Some(a) = self.current_attempt(attempt) else { return Ok(CallChange::Unchanged) };
        check_provider_id(a, end.provider_call_id.as_deref())?;
        a.ended_at = Some(end.ended_at);
        let missed = match end.result {
            ProviderResult::Completed { machine: true } => Some(MissReason::Voicemail),
            ProviderResult::Completed { machine: false } if !scored => Some(MissReason::NoScore),
            ProviderResult::Completed { machine: false } => None,
            ProviderResult::NoAnswer => Some(MissReason::NoAnswer),
            ProviderResult::Busy => Some(MissReason::Busy),
            ProviderResult::Failed => Some(MissReason::Failed),
        };
        a.missed = missed;
        a.answered = missed.is_none();
        self.end_time = Some(end.ended_at);
        self.duration_sec = end.duration_sec.or(self.duration_sec);
        if end.answered_at.is_some() {
            self.start_time = end.answered_at;
        }
        self.updated_at = end.ended_at.max(self.updated_at);
        match missed {
            None => {
                self.complete(CompletedVia::Voice, end.ended_at, next.local_date);
                Ok(CallChange::Completed)
            }
            Some(reason) => Ok(self.miss(reason, next)),
        }
    }

    fn complete(&mut self, via: CompletedVia, at: DateTime<Utc>, local_date: NaiveDate) {
        self.status = CallStatus::Completed;
        self.completed_via = Some(via);
        self.completed_at = Some(at);
        self.nps_date = Some(local_date);
        self.miss_reason = None;
        self.due_at = None;
    }

    fn miss(&mut self, reason: MissReason, next: &AfterMiss) -> CallChange {
        self.miss_reason = Some(reason);
        // A score keyed in on a call that then went nowhere is not an answer.
        self.nps_score = None;
        let retry_at = next.retry_at.filter(|_| self.attempts < self.attempt_limit(next.max_attempts));
        if let Some(due) = retry_at {
            self.status = CallStatus::Ready;
            self.due_at = Some(due);
            return CallChange::Rescheduled;
        }
        self.status = CallStatus::Missed;
        self.due_at = None;
        let fallback = next.whatsapp_fallback && self.call_type == CallType::Feedback && self.fallback.is_none();
        if fallback {
            self.fallback = Some(WhatsAppFallback { requested_at: self.updated_at, message_id: None, not_sent: None });
        }
        CallChange::Missed { fallback }
    }

    /// A call in progress that heard nothing from the provider for too long (a dialer that died
    /// between its claim and the provider, a lost callback): missed as `failed`.
    pub fn give_up(&mut self, now: DateTime<Utc>, next: &AfterMiss) -> CallChange {
        let attempt = self.attempts;
        let Some(a) = self.current_attempt(attempt) else { return CallChange::Unchanged };
        a.ended_at = Some(now);
        a.missed = Some(MissReason::Failed);
        self.updated_at = now;
        self.miss(MissReason::Failed, next)
    }

    /// `POST /v1/calls/{id}/retry`: a missed call is ready again, with one more attempt.
    pub fn retry_by_hand(&mut self, due_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<Transition> {
        if self.status != CallStatus::Missed {
            return Err(self.conflict("retried (only a missed call can be)"));
        }
        self.status = CallStatus::Ready;
        self.manual_retries += 1;
        self.due_at = Some(due_at);
        self.updated_at = now;
        Ok(Transition::Changed)
    }

    /// A ready or missed call is not called (any more). Cancelling again is harmless.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> Result<Transition> {
        match self.status {
            CallStatus::Cancelled => Ok(Transition::Unchanged),
            CallStatus::Ready | CallStatus::Missed => {
                self.status = CallStatus::Cancelled;
                self.due_at = None;
                self.updated_at = now;
                Ok(Transition::Changed)
            }
            CallStatus::InProgress | CallStatus::Completed => Err(self.conflict("cancelled")),
        }
    }

    /// The customer answered the WhatsApp survey: the call is completed via WhatsApp. The same
    /// answer again changes nothing; a call not waiting for a survey answer is a conflict.
    pub fn complete_by_whatsapp(&mut self, score: u8, feedback: Option<&str>, now: DateTime<Utc>, local_date: NaiveDate) -> Result<Transition> {
        classify(score)?;
        if self.status == CallStatus::Completed && self.completed_via == Some(CompletedVia::Whatsapp) && self.nps_score == Some(score) {
            return Ok(Transition::Unchanged);
        }
        if self.fallback.is_none() || !matches!(self.status, CallStatus::Missed | CallStatus::Ready) {
            return Err(self.conflict("completed from a WhatsApp survey"));
        }
        self.nps_score = Some(score);
        if let Some(f) = feedback.map(str::trim).filter(|f| !f.is_empty()) {
            self.transcript = Some(f.chars().take(MAX_TEXT_CHARS).collect());
        }
        self.updated_at = now;
        self.complete(CompletedVia::Whatsapp, now, local_date);
        Ok(Transition::Changed)
    }

    /// Whether the WhatsApp survey is asked for and neither sent nor found impossible to send.
    pub fn survey_owed(&self) -> bool {
        self.status == CallStatus::Missed && self.fallback.as_ref().is_some_and(|f| f.message_id.is_none() && f.not_sent.is_none())
    }

    /// The survey message was queued as `message_id`; the first one recorded stays.
    pub fn survey_asked(&mut self, message_id: &str, now: DateTime<Utc>) -> Transition {
        match &mut self.fallback {
            Some(f) if f.message_id.is_none() => {
                f.message_id = Some(message_id.to_string());
                f.not_sent = None;
                self.updated_at = now;
                Transition::Changed
            }
            _ => Transition::Unchanged,
        }
    }

    /// The survey cannot be sent, for `reason`.
    pub fn survey_not_sent(&mut self, reason: &str, now: DateTime<Utc>) -> Transition {
        match &mut self.fallback {
            Some(f) if f.message_id.is_none() && f.not_sent.as_deref() != Some(reason) => {
                f.not_sent = Some(reason.to_string());
                self.updated_at = now;
                Transition::Changed
            }
            _ => Transition::Unchanged,
        }
    }

    /// The survey's free-text answer, after its score: kept as the call's transcript (what the
    /// voice path keeps of the spoken answer). The same text again changes nothing.
    pub fn record_whatsapp_feedback(&mut self, text: &str, now: DateTime<Utc>) -> Result<Transition> {
        if self.status != CallStatus::Completed || self.completed_via != Some(CompletedVia::Whatsapp) {
            return Err(self.conflict("given WhatsApp feedback (only a call completed on WhatsApp can be)"));
        }
        let text: String = text.trim().chars().take(MAX_TEXT_CHARS).collect();
        if text.is_empty() || self.transcript.as_deref() == Some(text.as_str()) {
            return Ok(Transition::Unchanged);
        }
        self.transcript = Some(text);
        self.updated_at = now;
        Ok(Transition::Changed)
    }

    /// `PUT /v1/calls/{id}`: the team's notes and the feedback's reading. The NPS score can be
    /// corrected only on a completed call (its counters move with it).
    pub fn edit(&mut self, edit: CallEdit, now: DateTime<Utc>) -> Result<Transition> {
        edit.validate()?;
        let before = self.clone();
        if let Some(score) = edit.nps_score {
            if self.status != CallStatus::Completed {
                // The call's state, not the request, is wrong: a score exists once it is completed.
                return Err(self.conflict("given a score"));
            }
            self.nps_score = Some(score);
        }
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = edit.$field { self.$field = v; } )* };
        }
        set!(customer_name, notes, feedback_summary, call_reason, recording_url);
        if let Some(tags) = edit.tags {
            self.tags = tags;
        }
        if let Some(v) = edit.positive_mentions {
            self.positive_mentions = v;
        }
        if let Some(v) = edit.areas_to_improve {
            self.areas_to_improve = v;
        }
        if *self == before {
            return Ok(Transition::Unchanged);
        }
        self.updated_at = now;
        Ok(Transition::Changed)
    }
}

fn check_provider_id(a: &CallAttempt, given: Option<&str>) -> Result<()> {
    match (&a.provider_call_id, given) {
        (Some(ours), Some(theirs)) if ours != theirs => Err(Error::conflict("the callback is for another provider call", "in_progress")),
        _ => Ok(()),
    }
}

/// `PUT /v1/calls/{id}`: absent fields stay; `null` clears an optional text.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallEdit {
    #[serde(default, deserialize_with = "crate::domain::interaction::present")]
    #[schema(max_length = 200)]
    pub customer_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::interaction::present")]
    #[schema(max_length = 5000)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::interaction::present")]
    #[schema(max_length = 5000)]
    pub feedback_summary: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::interaction::present")]
    #[schema(max_length = 200)]
    pub call_reason: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::interaction::present")]
    #[schema(max_length = 2000)]
    pub recording_url: Option<Option<String>>,
    #[serde(default)]
    #[schema(schema_with = optional_tags_schema)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = optional_mentions_schema)]
    pub positive_mentions: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = optional_mentions_schema)]
    pub areas_to_improve: Option<Vec<String>>,
    /// Corrects the score of a completed call (409 on any other).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10)]
    pub nps_score: Option<u8>,
}

impl CallEdit {
    fn validate(&self) -> Result<()> {
        let flat = |v: &Option<Option<String>>| v.clone().flatten();
        check_text("customer_name", &flat(&self.customer_name), MAX_NAME_CHARS)?;
        check_text("call_reason", &flat(&self.call_reason), MAX_NAME_CHARS)?;
        check_text("notes", &flat(&self.notes), MAX_TEXT_CHARS)?;
        check_text("feedback_summary", &flat(&self.feedback_summary), MAX_TEXT_CHARS)?;
        check_text("recording_url", &flat(&self.recording_url), 2000)?;
        check_list("tags", self.tags.as_deref().unwrap_or_default(), MAX_TAGS)?;
        check_list("positive_mentions", self.positive_mentions.as_deref().unwrap_or_default(), MAX_LIST_ITEMS)?;
        check_list("areas_to_improve", self.areas_to_improve.as_deref().unwrap_or_default(), MAX_LIST_ITEMS)?;
        if let Some(s) = self.nps_score {
            classify(s)?;
        }
        Ok(())
    }
}

/// The provider's final word on an attempt (Twilio `CallStatus` and `AnsweredBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderResult {
    /// The call connected and ended; `machine` when answering-machine detection said so.
    Completed { machine: bool },
    NoAnswer,
    Busy,
    /// `failed` or `canceled`, or the provider refused to place it.
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallEnd {
    pub provider_call_id: Option<String>,
    pub result: ProviderResult,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    pub duration_sec: Option<u32>,
}

/// What the schedule says about the call after a miss, decided by the use case from its config.
#[derive(Debug, Clone, PartialEq)]
pub struct AfterMiss {
    pub max_attempts: u32,
    /// When the next attempt would be due (`CallingRules::retry_due`).
    pub retry_at: Option<DateTime<Utc>>,
    pub whatsapp_fallback: bool,
    /// Today in the schedule's time zone (NPS counters count a completion on it).
    pub local_date: NaiveDate,
}

/// What an outcome did to the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallChange {
    Unchanged,
    Completed,
    /// Missed, with attempts left: ready again, due later.
    Rescheduled,
    /// Missed on its last attempt; `fallback` when the WhatsApp survey is now asked for.
    Missed { fallback: bool },
}

/// How far a change moves the organisation's in-flight counter (calls `in_progress`).
pub fn in_flight_change(before: Option<&Call>, after: &Call) -> i64 {
    let in_flight = |c: &Call| i64::from(c.status == CallStatus::InProgress);
    in_flight(after) - before.map_or(0, in_flight)
}

// -------------------------------------------------------------------------------------- NPS

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NpsClass {
    Promoter,
    Passive,
    Detractor,
}

impl NpsClass {
    /// The counter attribute suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Promoter => "p",
            Self::Passive => "n",
            Self::Detractor => "d",
        }
    }
}

/// Promoters 9–10, passives 7–8, detractors 0–6.
pub fn classify(score: u8) -> Result<NpsClass> {
    match score {
        9..=10 => Ok(NpsClass::Promoter),
        7..=8 => Ok(NpsClass::Passive),
        0..=6 => Ok(NpsClass::Detractor),
        _ => Err(Error::invalid("nps_score", "must be from 0 to 10")),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NpsCounts {
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
}

impl NpsCounts {
    pub fn add(&mut self, class: NpsClass, delta: i64) {
        match class {
            NpsClass::Promoter => self.promoters += delta,
            NpsClass::Passive => self.passives += delta,
            NpsClass::Detractor => self.detractors += delta,
        }
    }

    pub fn merge(&mut self, other: &NpsCounts) {
        self.promoters += other.promoters;
        self.passives += other.passives;
        self.detractors += other.detractors;
    }

    pub fn responses(&self) -> i64 {
        self.promoters + self.passives + self.detractors
    }

    /// %promoters − %detractors, to one decimal; `None` without responses.
    pub fn nps(&self) -> Option<f64> {
        let n = self.responses();
        (n > 0).then(|| ((self.promoters - self.detractors) as f64 * 1000.0 / n as f64).round() / 10.0)
    }
}

/// The counter groups a completed call counts in.
pub fn nps_groups(call: &Call) -> Vec<String> {
    let mut groups = vec!["all".to_string()];
    if let Some(a) = &call.service_advisor_id {
        groups.push(format!("advisor:{a}"));
    }
    if let Some(t) = &call.service_type {
        groups.push(format!("service_type:{t}"));
    }
    groups
}

/// One counter to move: `delta` of `class` in `group` on the local `date`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpsChange {
    pub date: NaiveDate,
    pub group: String,
    pub class: NpsClass,
    pub delta: i64,
}

/// What a call counts for: its day, groups and class, when it is a completed feedback call with a score.
fn counted(call: &Call) -> Option<(NaiveDate, Vec<String>, NpsClass)> {
    if call.status != CallStatus::Completed || call.call_type != CallType::Feedback {
        return None;
    }
    let class = classify(call.nps_score?).ok()?;
    Some((call.nps_date?, nps_groups(call), class))
}

/// The NPS counter moves of a change: −before +after, so a completion counts once and a
/// corrected score moves from its old class to its new one.
pub fn nps_changes(before: Option<&Call>, after: &Call) -> Vec<NpsChange> {
    let (old, new) = (before.and_then(counted), counted(after));
    if old == new {
        return Vec::new();
    }
    let mut changes = Vec::new();
    for (counts, delta) in [(old, -1), (new, 1)] {
        if let Some((date, groups, class)) = counts {
            changes.extend(groups.into_iter().map(|group| NpsChange { date, group, class, delta }));
        }
    }
    changes
}

/// One local day's counters of an organisation: group key → counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NpsDay {
    pub date: NaiveDate,
    pub groups: BTreeMap<String, NpsCounts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NpsGrouping {
    Advisor,
    ServiceType,
    Week,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NpsGroupStats {
    /// The advisor id, the service type, or the ISO week (`2026-W23`); `all` for the total.
    pub group: String,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
    pub responses: i64,
    pub nps: Option<f64>,
}

impl NpsGroupStats {
    fn of(group: String, c: &NpsCounts) -> Self {
        NpsGroupStats { group, promoters: c.promoters, passives: c.passives, detractors: c.detractors, responses: c.responses(), nps: c.nps() }
    }
}

/// The total and, with a grouping, each group's stats, summed from day counters.
pub fn nps_stats(days: &[NpsDay], group_by: Option<NpsGrouping>) -> (NpsGroupStats, Vec<NpsGroupStats>) {
    let mut total = NpsCounts::default();
    let mut groups: BTreeMap<String, NpsCounts> = BTreeMap::new();
    for day in days {
        if let Some(all) = day.groups.get("all") {
            total.merge(all);
            if group_by == Some(NpsGrouping::Week) {
                let week = day.date.iso_week();
                groups.entry(format!("{}-W{:02}", week.year(), week.week())).or_default().merge(all);
            }
        }
        let prefix = match group_by {
            Some(NpsGrouping::Advisor) => "advisor:",
            Some(NpsGrouping::ServiceType) => "service_type:",
            _ => continue,
        };
        for (key, counts) in &day.groups {
            if let Some(name) = key.strip_prefix(prefix) {
                groups.entry(name.to_string()).or_default().merge(counts);
            }
        }
    }
    (NpsGroupStats::of("all".into(), &total), groups.iter().map(|(g, c)| NpsGroupStats::of(g.clone(), c)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 9, 9, 0, 0).unwrap() + Duration::minutes(minutes)
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 9).unwrap()
    }

    fn call() -> Call {
        let new = NewCall { id: "C1".into(), org_id: "o1".into(), customer_number: "+16505551234".into(), ..Default::default() };
        let mut c = Call::ready(new, t(0), t(-60));
        c.service_advisor_id = Some("adv-1".into());
        c.service_type = Some("oil change".into());
        c
    }

    fn plan(retry_at: Option<DateTime<Utc>>) -> AfterMiss {
        AfterMiss { max_attempts: 2, retry_at, whatsapp_fallback: true, local_date: today() }
    }

    fn end(result: ProviderResult, at: DateTime<Utc>) -> CallEnd {
        CallEnd { provider_call_id: Some("CA1".into()), result, answered_at: None, ended_at: at, duration_sec: Some(47) }
    }

    /// A call claimed and placed for its next attempt.
    fn dialled(mut c: Call, at: DateTime<Utc>) -> Call {
        let n = c.attempts + 1;
        assert_eq!(c.claim(n, at), Transition::Changed);
        c.placed(n, "CA1", at).unwrap();
        c
    }

    #[test]
    fn blank_is_what_the_contracts_pattern_calls_blank() {
        // ECMAScript's \s (the contract's regex) has U+FEFF and not U+0085 (NEL): schemathesis
        // sent a prompt "\u{85}", valid by the contract, that `str::trim` had emptied.
        assert!(is_blank("") && is_blank(" \t\n\u{a0}\u{3000}\u{feff}"));
        assert!(!is_blank("\u{85}") && !is_blank(" x "));
        assert!(CallEdit { tags: Some(vec!["\u{85}".into()]), ..Default::default() }.validate().is_ok());
        assert!(CallEdit { tags: Some(vec!["\u{feff}".into()]), ..Default::default() }.validate().is_err());
    }

    #[test]
    fn phones_become_e164_or_are_refused_by_field() {
        assert_eq!(normalise_phone("customer_phone", "+1 (650) 555-1234").unwrap(), "+16505551234");
        for bad in ["16505551234", "+0650555123", "+1650", "+1650555123456789", "+1650555l234", ""] {
            match normalise_phone("customer_phone", bad) {
                Err(Error::Invalid { field, .. }) => assert_eq!(field, "customer_phone"),
                other => panic!("{bad:?} accepted: {other:?}"),
            }
        }
        assert_eq!(whatsapp_address("+16505551234"), "16505551234");
    }

    #[test]
    fn a_service_record_input_is_checked_field_by_field() {
        let input = ServiceRecordInput { customer_phone: Some(" +44 20 7946 0958 ".into()), ..Default::default() };
        assert_eq!(input.validated().unwrap().customer_phone.as_deref(), Some("+442079460958"));
        let bad = |i: ServiceRecordInput, field: &str| match i.validated() {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected {field}: {other:?}"),
        };
        bad(ServiceRecordInput { customer_phone: Some("555".into()), ..Default::default() }, "customer_phone");
        bad(ServiceRecordInput { rating: Some(11), ..Default::default() }, "rating");
        bad(ServiceRecordInput { areas_to_improve: vec!["ok".into(), " ".into()], ..Default::default() }, "areas_to_improve[1]");
        bad(ServiceRecordInput { service_type: Some("x".repeat(201)), ..Default::default() }, "service_type");
    }

    #[test]
    fn a_claim_takes_each_attempt_once() {
        let mut c = call();
        assert_eq!(c.claim(1, t(0)), Transition::Changed);
        assert_eq!((c.status, c.attempts, c.due_at), (CallStatus::InProgress, 1, None));
        assert_eq!(c.claim(1, t(0)), Transition::Unchanged, "a redelivered job places nothing");
        assert_eq!(c.claim(2, t(0)), Transition::Unchanged, "no attempt while one runs");
        let mut other = call();
        assert_eq!(other.claim(2, t(0)), Transition::Unchanged, "an attempt from the future is not taken");
        other.cancel(t(0)).unwrap();
        assert_eq!(other.claim(1, t(0)), Transition::Unchanged, "a cancelled call is never placed");
    }

    #[test]
    fn an_answer_with_a_score_completes_with_nps_transcript_and_duration() {
        let mut c = dialled(call(), t(0));
        assert_eq!(c.record_answers(1, Some("CA1"), Some(9), None, t(1)).unwrap(), Transition::Changed);
        assert_eq!(c.record_answers(1, Some("CA1"), Some(9), None, t(1)).unwrap(), Transition::Unchanged, "the same digits again");
        c.record_answers(1, Some("CA1"), None, Some("The advisor explained everything."), t(2)).unwrap();
        let change = c.finish(1, &end(ProviderResult::Completed { machine: false }, t(3)), &plan(None)).unwrap();
        assert_eq!(change, CallChange::Completed);
        assert_eq!((c.status, c.nps_score, c.completed_via, c.duration_sec), (CallStatus::Completed, Some(9), Some(CompletedVia::Voice), Some(47)));
        assert_eq!(c.transcript.as_deref(), Some("The advisor explained everything."));
        assert_eq!(c.nps_date, Some(today()));
        // The same final callback again, or a late one, changes nothing.
        let again = c.clone();
        assert_eq!(c.finish(1, &end(ProviderResult::NoAnswer, t(4)), &plan(None)).unwrap(), CallChange::Unchanged);
        assert_eq!(c, again);
    }

    #[test]
    fn a_miss_with_attempts_left_is_ready_again_at_the_spaced_time() {
        let mut c = dialled(call(), t(0));
        let change = c.finish(1, &end(ProviderResult::NoAnswer, t(1)), &plan(Some(t(121)))).unwrap();
        assert_eq!(change, CallChange::Rescheduled);
        assert_eq!((c.status, c.due_at, c.miss_reason, c.attempts), (CallStatus::Ready, Some(t(121)), Some(MissReason::NoAnswer), 1));
        assert_eq!(c.attempt_history[0].missed, Some(MissReason::NoAnswer));
        // The repeated callback of attempt 1 does not touch the rescheduled call.
        let again = c.clone();
        assert_eq!(c.finish(1, &end(ProviderResult::Busy, t(2)), &plan(Some(t(200)))).unwrap(), CallChange::Unchanged);
        assert_eq!(c, again);
    }

    #[test]
    fn the_last_miss_asks_for_the_whatsapp_survey_once() {
        let mut c = dialled(call(), t(0));
        c.finish(1, &end(ProviderResult::NoAnswer, t(1)), &plan(Some(t(121)))).unwrap();
        let mut c = dialled(c, t(121));
        let change = c.finish(2, &end(ProviderResult::Busy, t(122)), &plan(Some(t(300)))).unwrap();
        assert_eq!(change, CallChange::Missed { fallback: true });
        assert_eq!((c.status, c.miss_reason, c.due_at), (CallStatus::Missed, Some(MissReason::Busy), None));
        assert!(c.fallback.is_some());
        // Retried by hand and missed again: the survey is not asked for twice.
        c.retry_by_hand(t(200), t(150)).unwrap();
        let mut c = dialled(c, t(200));
        assert_eq!(c.finish(3, &end(ProviderResult::Failed, t(201)), &plan(Some(t(400)))).unwrap(), CallChange::Missed { fallback: false });
    }

    #[test]
    fn without_fallback_or_for_a_demo_the_last_miss_just_stays_missed() {
        let mut c = dialled(call(), t(0));
        let no_fallback = AfterMiss { max_attempts: 1, whatsapp_fallback: false, ..plan(Some(t(100))) };
        assert_eq!(c.finish(1, &end(ProviderResult::NoAnswer, t(1)), &no_fallback).unwrap(), CallChange::Missed { fallback: false });
        let mut demo = call();
        demo.call_type = CallType::Demo;
        let mut demo = dialled(demo, t(0));
        assert_eq!(demo.finish(1, &end(ProviderResult::NoAnswer, t(1)), &plan(Some(t(100)))).unwrap(), CallChange::Missed { fallback: false }, "a demo is tried once");
    }

    #[test]
    fn machines_and_answers_without_a_score_are_misses_with_their_reason() {
        let mut c = dialled(call(), t(0));
        c.finish(1, &end(ProviderResult::Completed { machine: true }, t(1)), &plan(Some(t(100)))).unwrap();
        assert_eq!(c.miss_reason, Some(MissReason::Voicemail));
        let mut c = dialled(c, t(100));
        c.record_answers(2, None, None, Some("hello?"), t(101)).unwrap();
        c.finish(2, &end(ProviderResult::Completed { machine: false }, t(102)), &plan(None)).unwrap();
        assert_eq!((c.status, c.miss_reason), (CallStatus::Missed, Some(MissReason::NoScore)));
    }

    #[test]
    fn a_callback_for_another_provider_call_is_refused() {
        let mut c = dialled(call(), t(0));
        let mut forged = end(ProviderResult::Completed { machine: false }, t(1));
        forged.provider_call_id = Some("CA-other".into());
        assert!(matches!(c.finish(1, &forged, &plan(None)), Err(Error::Conflict { .. })));
        assert!(matches!(c.record_answers(1, Some("CA-other"), Some(0), None, t(1)), Err(Error::Conflict { .. })));
        assert_eq!(c.status, CallStatus::InProgress);
        assert!(matches!(c.placed(1, "CA-other", t(1)), Err(Error::Conflict { .. })));
        assert_eq!(c.placed(1, "CA1", t(1)).unwrap(), Transition::Unchanged);
    }

    #[test]
    fn scores_outside_zero_to_ten_are_refused() {
        let mut c = dialled(call(), t(0));
        assert!(matches!(c.record_answers(1, None, Some(11), None, t(1)), Err(Error::Invalid { .. })));
    }

    #[test]
    fn cancel_and_retry_by_hand_follow_the_status() {
        let mut c = call();
        assert!(matches!(c.retry_by_hand(t(0), t(0)), Err(Error::Conflict { .. })), "a ready call is not retried");
        assert_eq!(c.cancel(t(0)).unwrap(), Transition::Changed);
        assert_eq!(c.cancel(t(0)).unwrap(), Transition::Unchanged);
        let mut busy = dialled(call(), t(0));
        assert!(matches!(busy.cancel(t(0)), Err(Error::Conflict { current: Some(s), .. }) if s == "in_progress"));
    }

    #[test]
    fn the_whatsapp_answer_completes_a_missed_call_once() {
        let mut c = dialled(call(), t(0));
        c.finish(1, &end(ProviderResult::NoAnswer, t(1)), &AfterMiss { max_attempts: 1, ..plan(None) }).unwrap();
        assert_eq!(c.complete_by_whatsapp(3, Some("Too slow."), t(10), today()).unwrap(), Transition::Changed);
        assert_eq!((c.status, c.completed_via, c.nps_score), (CallStatus::Completed, Some(CompletedVia::Whatsapp), Some(3)));
        assert_eq!(c.complete_by_whatsapp(3, Some("Too slow."), t(11), today()).unwrap(), Transition::Unchanged);
        assert!(matches!(c.complete_by_whatsapp(9, None, t(12), today()), Err(Error::Conflict { .. })));
        let mut never_missed = call();
        assert!(matches!(never_missed.complete_by_whatsapp(9, None, t(0), today()), Err(Error::Conflict { .. })));
    }

    #[test]
    fn the_in_flight_counter_moves_when_a_call_enters_or_leaves_progress() {
        let ready = call();
        let running = dialled(ready.clone(), t(0));
        assert_eq!(in_flight_change(None, &ready), 0);
        assert_eq!(in_flight_change(Some(&ready), &running), 1);
        assert_eq!(in_flight_change(Some(&running), &running), 0);
        let mut done = running.clone();
        done.finish(1, &end(ProviderResult::Busy, t(1)), &plan(Some(t(100)))).unwrap();
        assert_eq!(in_flight_change(Some(&running), &done), -1);
    }

    #[test]
    fn nps_classes_and_score() {
        assert_eq!([0, 6, 7, 8, 9, 10].map(|s| classify(s).unwrap()), [
            NpsClass::Detractor, NpsClass::Detractor, NpsClass::Passive, NpsClass::Passive, NpsClass::Promoter, NpsClass::Promoter
        ]);
        assert!(classify(11).is_err());
        let c = NpsCounts { promoters: 5, passives: 3, detractors: 2 };
        assert_eq!((c.responses(), c.nps()), (10, Some(30.0)));
        assert_eq!(NpsCounts { promoters: 1, passives: 1, detractors: 1 }.nps(), Some(0.0));
        assert_eq!(NpsCounts { promoters: 2, passives: 0, detractors: 1 }.nps(), Some(33.3));
        assert_eq!(NpsCounts::default().nps(), None);
    }

    #[test]
    fn a_completion_counts_once_per_group_and_a_correction_moves_it() {
        let mut c = dialled(call(), t(0));
        c.record_answers(1, None, Some(9), None, t(1)).unwrap();
        let before = c.clone();
        c.finish(1, &end(ProviderResult::Completed { machine: false }, t(2)), &plan(None)).unwrap();
        let changes = nps_changes(Some(&before), &c);
        let groups: Vec<&str> = changes.iter().map(|ch| ch.group.as_str()).collect();
        assert_eq!(groups, ["all", "advisor:adv-1", "service_type:oil change"]);
        assert!(changes.iter().all(|ch| ch.class == NpsClass::Promoter && ch.delta == 1 && ch.date == today()));
        assert!(nps_changes(Some(&c), &c).is_empty(), "saving a completed call again counts nothing");
        let completed = c.clone();
        c.edit(CallEdit { nps_score: Some(4), ..Default::default() }, t(3)).unwrap();
        let moved = nps_changes(Some(&completed), &c);
        assert_eq!(moved.iter().map(|ch| (ch.class, ch.delta)).filter(|(_, d)| *d == -1).count(), 3);
        assert!(moved.iter().filter(|ch| ch.delta == 1).all(|ch| ch.class == NpsClass::Detractor));
        let mut demo = completed.clone();
        demo.call_type = CallType::Demo;
        assert!(nps_changes(None, &demo).is_empty(), "demo calls never count");
    }

    #[test]
    fn editing_is_checked_and_the_score_only_on_completed_calls() {
        let mut c = call();
        // A score on a call not completed: the call's state refuses it (409), not the request.
        assert!(matches!(c.edit(CallEdit { nps_score: Some(5), ..Default::default() }, t(0)), Err(Error::Conflict { current: Some(s), .. }) if s == "ready"));
        let tags = CallEdit { tags: Some(vec!["vip".into()]), notes: Some(Some("call after 5".into())), ..Default::default() };
        assert_eq!(c.edit(tags.clone(), t(1)).unwrap(), Transition::Changed);
        assert_eq!(c.edit(tags, t(2)).unwrap(), Transition::Unchanged);
        assert_eq!(c.edit(CallEdit { notes: Some(None), ..Default::default() }, t(3)).unwrap(), Transition::Changed);
        assert_eq!(c.notes, None);
        assert!(matches!(c.edit(CallEdit { tags: Some(vec!["".into()]), ..Default::default() }, t(4)), Err(Error::Invalid { field, .. }) if field == "tags[0]"));
    }

    #[test]
    fn stats_sum_days_per_group_and_week() {
        let day = |d: u32, all: NpsCounts, advisor: NpsCounts| NpsDay {
            date: NaiveDate::from_ymd_opt(2026, 6, d).unwrap(),
            groups: BTreeMap::from([("all".into(), all), ("advisor:a1".into(), advisor)]),
        };
        let c = |p, n, d| NpsCounts { promoters: p, passives: n, detractors: d };
        // 2026-06-07 is a Sunday (week 23), 06-08 a Monday (week 24).
        let days = [day(7, c(2, 0, 0), c(1, 0, 0)), day(8, c(1, 1, 2), c(1, 0, 1))];
        let (total, weeks) = nps_stats(&days, Some(NpsGrouping::Week));
        assert_eq!((total.responses, total.nps), (6, Some(16.7)));
        assert_eq!(weeks.iter().map(|w| (w.group.as_str(), w.responses)).collect::<Vec<_>>(), [("2026-W23", 2), ("2026-W24", 4)]);
        let (_, advisors) = nps_stats(&days, Some(NpsGrouping::Advisor));
        assert_eq!((advisors[0].group.as_str(), advisors[0].promoters, advisors[0].detractors, advisors[0].nps), ("a1", 2, 1, Some(33.3)));
        assert!(nps_stats(&days, None).1.is_empty());
    }
}
