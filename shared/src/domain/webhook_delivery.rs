//! Delivering an event to a subscription (`docs/webhooks.md`): the body and the Standard Webhooks
//! headers, the retry schedule, what an answer means (delivered, retry, final, gone), when a
//! subscription that keeps failing is switched off, and the log line each attempt leaves.

use std::time::Duration as StdDuration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::domain::event::DashboardEvent;
use crate::domain::ids::stable_id;
use crate::domain::webhook_subscription::{SigningSecret, WebhookSubscription};

/// The delays after the first attempt, before attempts 2 to 8 (Standard Webhooks' suggested
/// schedule): about 27 hours from the event to the last try.
pub const RETRY_SCHEDULE: [StdDuration; 7] = [
    StdDuration::from_secs(5),
    StdDuration::from_secs(5 * 60),
    StdDuration::from_secs(30 * 60),
    StdDuration::from_secs(2 * 3600),
    StdDuration::from_secs(5 * 3600),
    StdDuration::from_secs(10 * 3600),
    StdDuration::from_secs(10 * 3600),
];
/// Attempts in all, the immediate one included.
pub const MAX_ATTEMPTS: u32 = RETRY_SCHEDULE.len() as u32 + 1;
/// Each delay is moved by up to this fraction either way, so subscribers that failed together do
/// not get their retries all at once.
pub const JITTER: f64 = 0.2;
/// A `Retry-After` longer than this is held to it (a subscriber cannot park a delivery for days).
pub const MAX_RETRY_AFTER: StdDuration = StdDuration::from_secs(10 * 3600);
/// A subscription whose every attempt failed for this long is switched off (an admin event says so).
pub const FAILING_DISABLES_AFTER: Duration = Duration::days(5);
/// The attempt log keeps this much of an answer's body.
pub const MAX_LOGGED_BODY_BYTES: usize = 1000;
/// How long the attempt log is kept (the table's TTL).
pub const ATTEMPT_RETENTION: Duration = Duration::days(30);
/// The seed's header naming the event type, sent besides the Standard Webhooks ones.
pub const EVENT_HEADER: &str = "X-MAX-Event";

/// The `webhook-id` of an event: the same for every subscription and every attempt, so a receiver
/// deduplicates on it.
pub fn message_id(event: &DashboardEvent) -> String {
    format!("msg_{}", stable_id(event.recorded_at, &format!("{}/{}", event.org_id, event.seq)))
}

/// The body delivered (Standard Webhooks' payload shape): `type`, `timestamp`, `data`.
pub fn payload(event: &DashboardEvent) -> Value {
    json!({"type": event.kind.as_str(), "timestamp": event.at, "data": event.data})
}

/// The signatures of one delivery: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`
/// under each secret, space-separated (the current secret first).
pub fn signature(message_id: &str, timestamp: i64, body: &[u8], secrets: &[&SigningSecret]) -> String {
    secrets
        .iter()
        .map(|secret| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&secret.key()).expect("HMAC accepts keys of any length");
            mac.update(message_id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The headers of one attempt, in the order they are sent.
pub fn headers(message_id: &str, event_type: &str, timestamp: i64, body: &[u8], secrets: &[&SigningSecret]) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", message_id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature(message_id, timestamp, body, secrets)),
        (EVENT_HEADER, event_type.to_string()),
        ("content-type", "application/json".to_string()),
    ]
}

/// How an attempt ended, as the sender saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptResult {
    /// The subscriber answered (any status).
    Answered { status: u16, retry_after: Option<StdDuration> },
    /// No answer within the subscription's timeout.
    TimedOut,
    /// No connection (refused, reset, TLS, DNS) — including a destination the guard refused.
    ConnectionFailed,
    /// Every address of the host is one MAX never calls: retrying changes nothing.
    Refused,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptVerdict {
    Delivered,
    /// Try again (unless the schedule is spent): after at least `not_before` when the subscriber
    /// said so (`Retry-After`).
    Retry { not_before: Option<StdDuration> },
    /// Refused for good: a 4xx other than 429 and 410, a redirect (never followed), a refused
    /// destination.
    Final,
    /// 410: the endpoint is gone; the subscription is switched off.
    Gone,
}

pub fn classify(result: &AttemptResult) -> AttemptVerdict {
    match *result {
        AttemptResult::Answered { status, .. } if (200..300).contains(&status) => AttemptVerdict::Delivered,
        AttemptResult::Answered { status: 410, .. } => AttemptVerdict::Gone,
        AttemptResult::Answered { status: 429, retry_after } => AttemptVerdict::Retry { not_before: retry_after },
        AttemptResult::Answered { status, .. } if status >= 500 => AttemptVerdict::Retry { not_before: None },
        AttemptResult::Answered { .. } => AttemptVerdict::Final,
        AttemptResult::TimedOut | AttemptResult::ConnectionFailed => AttemptVerdict::Retry { not_before: None },
        AttemptResult::Refused => AttemptVerdict::Final,
    }
}

/// The delay before attempt `attempt + 1` after attempt `attempt` (1-based) failed with a
/// retryable answer, or `None` when the schedule is spent. `unit` is a random number in [0, 1):
/// the scheduled delay moves by ±[`JITTER`]; a `Retry-After` is a floor (held to [`MAX_RETRY_AFTER`]).
pub fn next_delay(attempt: u32, not_before: Option<StdDuration>, unit: f64) -> Option<StdDuration> {
    let scheduled = *RETRY_SCHEDULE.get(attempt.checked_sub(1)? as usize)?;
    let jittered = scheduled.mul_f64(1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0));
    Some(match not_before {
        Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
        None => jittered,
    })
}

/// `Retry-After`: seconds, or an HTTP date (then the time left until it).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<StdDuration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(StdDuration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or_default())
}

/// What an attempt does to its subscription's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthChange {
    Unchanged,
    /// The first failure since the last delivery: remember when.
    StartedFailing,
    /// Delivered after failures: forget them.
    Recovered,
    /// 410, or failing for [`FAILING_DISABLES_AFTER`]: switch it off (and say so in the feed).
    Disable(crate::domain::webhook_subscription::DisabledReason),
}

pub fn health_after(subscription: &WebhookSubscription, verdict: AttemptVerdict, now: DateTime<Utc>) -> HealthChange {
    use crate::domain::webhook_subscription::DisabledReason;
    match (verdict, subscription.failing_since) {
        (AttemptVerdict::Delivered, Some(_)) => HealthChange::Recovered,
        (AttemptVerdict::Delivered, None) => HealthChange::Unchanged,
        (AttemptVerdict::Gone, _) => HealthChange::Disable(DisabledReason::Gone),
        (_, None) => HealthChange::StartedFailing,
        (_, Some(since)) if now - since >= FAILING_DISABLES_AFTER => HealthChange::Disable(DisabledReason::Failing),
        (_, Some(_)) => HealthChange::Unchanged,
    }
}

/// One attempt, as `GET /v1/webhook-subscriptions/{id}/deliveries` lists it (newest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    /// The attempt's id (ULID): `POST …/deliveries/{id}/redeliver` sends its event again.
    pub id: String,
    pub org_id: String,
    pub subscription_id: String,
    /// The `webhook-id` sent (the same on every attempt of the event).
    pub message_id: String,
    pub event_type: String,
    /// The event's place in the organisation's feed.
    pub event_seq: u64,
    /// 1 for the immediate attempt, then each retry; a redelivery starts again at 1.
    pub attempt: u32,
    #[serde(default)]
    pub status_code: Option<u16>,
    /// The first 1,000 bytes of the answer's body.
    #[serde(default)]
    pub response_body: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// `delivered`, `retrying`, `failed` (final or schedule spent), `gone` (410).
    pub outcome: AttemptOutcome,
    /// When the next attempt is due (a retry only).
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    /// Epoch seconds: the line is deleted 30 days after the attempt (DynamoDB's TTL).
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Delivered,
    Retrying,
    Failed,
    Gone,
}

/// SQS's longest per-message delay: a retry due later arrives early and goes back on the queue
/// with the time left, as many times as it takes.
pub const MAX_QUEUE_DELAY_SECS: u32 = 900;

/// One delivery to make: an event for one subscription, at one attempt. The event travels whole:
/// the feed keeps 24 hours, the retries run about 27.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub org_id: String,
    pub subscription_id: String,
    pub event: DashboardEvent,
    /// 1 for the immediate attempt.
    pub attempt: u32,
    /// When the attempt is due.
    pub due_at: DateTime<Utc>,
    /// Set on an admin's redelivery (its own id): its attempts count from 1 again and log apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redelivery: Option<String>,
}

impl DeliveryJob {
    /// The immediate attempt of `event` for `subscription_id`.
    pub fn first(org_id: &str, subscription_id: &str, event: &DashboardEvent, now: DateTime<Utc>) -> Self {
        DeliveryJob { org_id: org_id.to_string(), subscription_id: subscription_id.to_string(), event: event.clone(), attempt: 1, due_at: now, redelivery: None }
    }

    /// The attempt after this one, due at `due_at`.
    pub fn retry(&self, due_at: DateTime<Utc>) -> Self {
        DeliveryJob { attempt: self.attempt + 1, due_at, ..self.clone() }
    }

    /// The attempt's line in the log: the same for a job SQS hands out twice, so it is logged once.
    pub fn attempt_id(&self) -> String {
        let seed = format!("{}/{}/{}/{}/{}", self.org_id, self.subscription_id, self.event.seq, self.attempt, self.redelivery.as_deref().unwrap_or(""));
        stable_id(self.due_at, &seed)
    }

    /// How long to hold the job back on the queue now: the time left until it is due, at most
    /// [`MAX_QUEUE_DELAY_SECS`] (0: attempt it now).
    pub fn wait_secs(&self, now: DateTime<Utc>) -> u32 {
        let left = (self.due_at - now).num_milliseconds();
        if left <= 0 { 0 } else { (left as u64).div_ceil(1000).min(MAX_QUEUE_DELAY_SECS as u64) as u32 }
    }
}

/// An answer's body as logged: at most [`MAX_LOGGED_BODY_BYTES`], cut on a character boundary.
pub fn logged_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_LOGGED_BODY_BYTES + 3)]);
    let mut end = text.len().min(MAX_LOGGED_BODY_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{EventKind, NewEvent};
    use crate::domain::webhook_subscription::{DestinationPolicy, DisabledReason, WebhookSubscriptionInput};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap()
    }

    fn secs(s: u64) -> StdDuration {
        StdDuration::from_secs(s)
    }

    #[test]
    fn signs_the_standard_webhooks_published_test_vector() {
        // The specification's vector (standard-webhooks/standard-webhooks, libraries' tests).
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#, &[&secret]);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn during_a_rotation_both_secrets_sign_space_separated() {
        let new = SigningSecret::from_random([2; 32]);
        let old = SigningSecret::from_random([1; 32]);
        let both = signature("msg_1", 1, b"{}", &[&new, &old]);
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], signature("msg_1", 1, b"{}", &[&new]));
        assert_eq!(parts[1], signature("msg_1", 1, b"{}", &[&old]));
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn headers_carry_the_id_the_timestamp_the_signature_and_the_event_type() {
        let secret = SigningSecret::from_random([9; 32]);
        let h = headers("msg_x", "ticket.opened", 1_765_000_000, b"{}", &[&secret]);
        let names: Vec<&str> = h.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["webhook-id", "webhook-timestamp", "webhook-signature", "X-MAX-Event", "content-type"]);
        assert_eq!(h[1].1, "1765000000");
        assert!(h[2].1.starts_with("v1,"));
        assert_eq!(h[3].1, "ticket.opened");
    }

    #[test]
    fn an_events_message_id_is_stable_and_its_body_is_type_timestamp_data() {
        let new = NewEvent::new("org", EventKind::TicketOpened, now(), json!({"ticket_id": "t1"}), "k");
        let e = DashboardEvent::recorded(&new, 7, now());
        assert_eq!(message_id(&e), message_id(&e.clone()));
        assert!(message_id(&e).starts_with("msg_"));
        let other = DashboardEvent::recorded(&new, 8, now());
        assert_ne!(message_id(&e), message_id(&other));
        assert_eq!(payload(&e), json!({"type": "ticket.opened", "timestamp": "2026-12-06T10:00:00Z", "data": {"ticket_id": "t1"}}));
    }

    #[test]
    fn answers_are_classified() {
        let answered = |status| AttemptResult::Answered { status, retry_after: None };
        assert_eq!(classify(&answered(200)), AttemptVerdict::Delivered);
        assert_eq!(classify(&answered(204)), AttemptVerdict::Delivered);
        assert_eq!(classify(&answered(500)), AttemptVerdict::Retry { not_before: None });
        assert_eq!(classify(&answered(503)), AttemptVerdict::Retry { not_before: None });
        assert_eq!(classify(&AttemptResult::Answered { status: 429, retry_after: Some(secs(60)) }), AttemptVerdict::Retry { not_before: Some(secs(60)) });
        assert_eq!(classify(&AttemptResult::TimedOut), AttemptVerdict::Retry { not_before: None });
        assert_eq!(classify(&AttemptResult::ConnectionFailed), AttemptVerdict::Retry { not_before: None });
        assert_eq!(classify(&answered(410)), AttemptVerdict::Gone);
        for final_status in [301, 302, 400, 401, 403, 404, 408, 422] {
            assert_eq!(classify(&answered(final_status)), AttemptVerdict::Final, "{final_status}");
        }
        assert_eq!(classify(&AttemptResult::Refused), AttemptVerdict::Final);
    }

    #[test]
    fn retries_follow_the_schedule_with_jitter_and_stop_after_eight_attempts() {
        let expected = [5, 300, 1800, 7200, 18000, 36000, 36000];
        for (i, base) in expected.iter().enumerate() {
            let attempt = i as u32 + 1;
            assert_eq!(next_delay(attempt, None, 0.5), Some(secs(*base)), "attempt {attempt} in the middle");
            assert_eq!(next_delay(attempt, None, 0.0), Some(secs(*base).mul_f64(0.8)));
            let top = next_delay(attempt, None, 1.0).unwrap();
            assert!((top.as_secs_f64() - *base as f64 * 1.2).abs() < 1e-6);
        }
        assert_eq!(next_delay(8, None, 0.5), None, "the schedule is spent");
        assert_eq!(next_delay(0, None, 0.5), None);
        assert_eq!(MAX_ATTEMPTS, 8);
    }

    #[test]
    fn retry_after_is_a_floor_held_to_ten_hours() {
        assert_eq!(next_delay(1, Some(secs(120)), 0.5), Some(secs(120)), "longer than 5 s: honoured");
        assert_eq!(next_delay(3, Some(secs(120)), 0.5), Some(secs(1800)), "shorter than the schedule: the schedule");
        assert_eq!(next_delay(1, Some(secs(7 * 86400)), 0.5), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after(" 30 ", now()), Some(secs(30)));
        assert_eq!(parse_retry_after("Sun, 06 Dec 2026 10:02:00 GMT", now()), Some(secs(120)));
        assert_eq!(parse_retry_after("Sun, 06 Dec 2026 09:00:00 GMT", now()), Some(secs(0)), "a date past is now");
        assert_eq!(parse_retry_after("soon", now()), None);
    }

    fn subscription(failing_since: Option<DateTime<Utc>>) -> WebhookSubscription {
        let input: WebhookSubscriptionInput = serde_json::from_value(json!({"url": "https://a.example.com/h", "event_types": ["*"]})).unwrap();
        let s = input.into_subscription("s".into(), "o", "a", now(), DestinationPolicy::default()).unwrap();
        WebhookSubscription { failing_since, ..s }
    }

    #[test]
    fn failing_for_five_days_disables_and_a_delivery_forgets_the_failures() {
        let retry = AttemptVerdict::Retry { not_before: None };
        assert_eq!(health_after(&subscription(None), retry, now()), HealthChange::StartedFailing);
        assert_eq!(health_after(&subscription(None), AttemptVerdict::Final, now()), HealthChange::StartedFailing);
        let since = now() - FAILING_DISABLES_AFTER;
        assert_eq!(health_after(&subscription(Some(since + Duration::seconds(1))), retry, now()), HealthChange::Unchanged);
        assert_eq!(health_after(&subscription(Some(since)), retry, now()), HealthChange::Disable(DisabledReason::Failing));
        assert_eq!(health_after(&subscription(Some(since)), AttemptVerdict::Delivered, now()), HealthChange::Recovered);
        assert_eq!(health_after(&subscription(None), AttemptVerdict::Delivered, now()), HealthChange::Unchanged);
        assert_eq!(health_after(&subscription(None), AttemptVerdict::Gone, now()), HealthChange::Disable(DisabledReason::Gone));
    }

    #[test]
    fn a_job_due_beyond_the_queues_fifteen_minutes_waits_in_steps_and_logs_once_per_attempt() {
        let new = NewEvent::new("org", EventKind::TicketOpened, now(), json!({}), "k");
        let job = DeliveryJob::first("org", "s", &DashboardEvent::recorded(&new, 7, now()), now());
        assert_eq!(job.wait_secs(now()), 0);
        let later = job.retry(now() + Duration::hours(2));
        assert_eq!(later.attempt, 2);
        assert_eq!(later.wait_secs(now()), MAX_QUEUE_DELAY_SECS);
        assert_eq!(later.wait_secs(now() + Duration::minutes(119)), 60);
        assert_eq!(later.wait_secs(now() + Duration::milliseconds(7_199_500)), 1, "part of a second waits a second");
        assert_eq!(later.wait_secs(now() + Duration::hours(3)), 0);
        assert_eq!(job.attempt_id(), job.clone().attempt_id());
        assert_ne!(job.attempt_id(), later.attempt_id());
        let again = DeliveryJob { redelivery: Some("r1".into()), ..job.clone() };
        assert_ne!(job.attempt_id(), again.attempt_id());
        let back: DeliveryJob = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert_eq!(back, job);
    }

    #[test]
    fn every_catalogue_type_has_its_json_example_in_the_docs() {
        let docs = include_str!("../../../docs/webhooks.md");
        for kind in EventKind::CATALOGUE {
            let heading = format!("### `{}`", kind.as_str());
            let at = docs.find(&heading).unwrap_or_else(|| panic!("docs/webhooks.md has no example of {}", kind.as_str()));
            let example = &docs[at..];
            let json = &example[example.find("```json").unwrap() + 7..];
            let body: serde_json::Value = serde_json::from_str(&json[..json.find("```").unwrap()]).unwrap();
            assert_eq!(body["type"], kind.as_str());
            assert!(body["data"].is_object());
        }
    }

    #[test]
    fn the_log_keeps_the_first_thousand_bytes_on_a_character_boundary() {
        assert_eq!(logged_body(b"ok"), "ok");
        assert_eq!(logged_body(&[b'a'; 5000]).len(), 1000);
        let mut body = vec![b'a'; 999];
        body.extend("é".as_bytes()); // bytes 999 and 1000: cut before it
        assert_eq!(logged_body(&body), "a".repeat(999));
    }
}
