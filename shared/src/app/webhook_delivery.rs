//! Delivering the feed's events to webhook subscriptions (`docs/webhooks.md`). Fan-out: each
//! event recorded in the feed becomes one job per enabled subscription that wants it, on the
//! webhooks queue. Delivery: one job is one signed POST; its answer decides (rules in
//! `domain::webhook_delivery`) whether it is done, retried later on the schedule (a new message,
//! held back in steps of at most 15 minutes), or given up; every attempt leaves a line in the
//! subscription's log, and a 410 or five days of failures switch the subscription off with an
//! admin event.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::{info, warn};

use crate::domain::event::{DashboardEvent, EventKind, NewEvent};
use crate::domain::webhook_delivery::{
    ATTEMPT_RETENTION, AttemptOutcome, AttemptResult, AttemptVerdict, DeliveryAttempt, DeliveryJob, HealthChange, classify, headers, health_after, logged_body,
    message_id, next_delay, parse_retry_after, payload,
};
use crate::domain::webhook_subscription::WebhookSubscription;
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{Clock, EventStore, Outbox, Queue, QueueMessage, Secrets, WebhookAnswer, WebhookRequest, WebhookSender, WebhookStore, Written};

/// What fan-out takes: the subscriptions, and the queue the jobs go on.
pub struct FanOutPorts<'a> {
    pub subscriptions: &'a dyn WebhookStore,
    pub outbox: &'a dyn Outbox,
    pub clock: &'a dyn Clock,
}

/// How retries are timed. `Immediate` is the dev stack's (`WEBHOOKS_IMMEDIATE_RETRIES=true`):
/// the schedule is still computed and logged, but the next attempt is queued without a delay, so
/// a test sees three attempts without waiting five minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryTiming {
    #[default]
    Scheduled,
    Immediate,
}

/// What one delivery takes.
pub struct DeliveryPorts<'a> {
    pub subscriptions: &'a dyn WebhookStore,
    /// Where `webhook.subscription_disabled` is recorded.
    pub events: &'a dyn EventStore,
    pub secrets: &'a dyn Secrets,
    pub sender: &'a dyn WebhookSender,
    pub outbox: &'a dyn Outbox,
    pub clock: &'a dyn Clock,
    pub timing: RetryTiming,
    /// A number in [0, 1) for each retry's jitter.
    pub jitter: fn() -> f64,
}

/// The job as a queue message (a standard queue: no group, no deduplication id; a receiver
/// deduplicates on `webhook-id`).
fn message(job: &DeliveryJob) -> Result<QueueMessage> {
    let body = serde_json::to_string(job).map_err(|e| Error::backend("webhooks", e))?;
    Ok(QueueMessage { body, group_id: None, dedup_id: None })
}

/// Queues one job per enabled subscription of the event's organisation that wants its kind.
/// Running it twice for the same event (the stream's at-least-once) queues the jobs twice: each
/// carries the event's `webhook-id`, which receivers deduplicate on. Answers the jobs queued.
pub async fn fan_out(ports: &FanOutPorts<'_>, event: &DashboardEvent) -> Result<usize> {
    if event.kind == EventKind::Void {
        return Ok(0);
    }
    let now = ports.clock.now();
    let jobs = ports
        .subscriptions
        .webhook_subscriptions(&event.org_id)
        .await?
        .iter()
        .filter(|s| s.wants(event.kind))
        .map(|s| message(&DeliveryJob::first(&event.org_id, &s.id, event, now)))
        .collect::<Result<Vec<_>>>()?;
    for batch in jobs.chunks(10) {
        ports.outbox.send_batch(Queue::Webhooks, batch).await?;
    }
    Ok(jobs.len())
}

/// What became of one job.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivered {
    /// Not due yet (a delay longer than the queue's 15 minutes): back on the queue for the rest.
    NotDueYet { wait_secs: u32 },
    /// The subscription is gone, switched off, or no longer wants the event: nothing sent.
    Dropped(&'static str),
    /// Sent; the attempt's log line says how it went.
    Attempted(DeliveryAttempt),
}

/// Makes the job's attempt: signs with every current secret, POSTs, logs the attempt, queues the
/// next one when the answer calls for a retry, and updates the subscription's health. An error
/// (a store or queue outage) leaves the job to SQS's retry: the attempt's log line is written
/// once however often the job runs.
pub async fn deliver(ports: &DeliveryPorts<'_>, job: &DeliveryJob) -> Result<Delivered> {
    let now = ports.clock.now();
    if ports.timing == RetryTiming::Scheduled {
        let wait_secs = job.wait_secs(now);
        if wait_secs > 0 {
            ports.outbox.send_delayed(Queue::Webhooks, &message(job)?, wait_secs).await?;
            return Ok(Delivered::NotDueYet { wait_secs });
        }
    }
    let Some(subscription) = ports.subscriptions.webhook_subscription(&job.org_id, &job.subscription_id).await? else {
        return Ok(Delivered::Dropped("the subscription was deleted"));
    };
    if !subscription.enabled {
        return Ok(Delivered::Dropped("the subscription is switched off"));
    }
    if !subscription.wants(job.event.kind) {
        return Ok(Delivered::Dropped("the subscription no longer wants this event type"));
    }
    let keys = crate::app::webhooks::signing_keys(ports.secrets, &job.org_id, &job.subscription_id).await?;
    let id = message_id(&job.event);
    let body = serde_json::to_vec(&payload(&job.event)).map_err(|e| Error::backend("webhooks", e))?;
    let headers = headers(&id, job.event.kind.as_str(), now.timestamp(), &body, &keys.signing_at(now));
    let request = WebhookRequest { url: &subscription.url, headers: &headers, body: &body, timeout: StdDuration::from_secs(subscription.timeout_secs.into()) };
    let started = std::time::Instant::now();
    let answer = ports.sender.post(&request).await;
    let duration_ms = started.elapsed().as_millis() as u64;

    let (result, status_code, response_body, error) = match answer {
        WebhookAnswer::Answered { status, retry_after, body } => {
            let retry_after = retry_after.as_deref().and_then(|v| parse_retry_after(v, now));
            (AttemptResult::Answered { status, retry_after }, Some(status), Some(logged_body(&body)), None)
        }
        WebhookAnswer::TimedOut { error } => (AttemptResult::TimedOut, None, None, Some(error)),
        WebhookAnswer::ConnectionFailed { error } => (AttemptResult::ConnectionFailed, None, None, Some(error)),
        WebhookAnswer::Refused { reason } => (AttemptResult::Refused, None, None, Some(reason)),
    };
    let verdict = classify(&result);
    let next = match verdict {
        AttemptVerdict::Retry { not_before } => next_delay(job.attempt, not_before, (ports.jitter)()),
        _ => None,
    };
    let next_attempt_at = next.map(|d| now + chrono::Duration::from_std(d).unwrap_or_default());
    let outcome = match verdict {
        AttemptVerdict::Delivered => AttemptOutcome::Delivered,
        AttemptVerdict::Retry { .. } if next.is_some() => AttemptOutcome::Retrying,
        AttemptVerdict::Gone => AttemptOutcome::Gone,
        AttemptVerdict::Retry { .. } | AttemptVerdict::Final => AttemptOutcome::Failed,
    };
    let attempt = DeliveryAttempt {
        id: job.attempt_id(),
        org_id: job.org_id.clone(),
        subscription_id: job.subscription_id.clone(),
        message_id: id,
        event_type: job.event.kind.as_str().to_string(),
        event_seq: job.event.seq,
        attempt: job.attempt,
        status_code,
        response_body,
        error,
        duration_ms,
        outcome,
        next_attempt_at,
        at: now,
        expires_at: (now + ATTEMPT_RETENTION).timestamp(),
    };
    ports.subscriptions.record_delivery_attempt(&attempt).await?;
    if let Some(due_at) = next_attempt_at {
        let next_job = job.retry(due_at);
        let wait_secs = match ports.timing {
            RetryTiming::Scheduled => next_job.wait_secs(now),
            RetryTiming::Immediate => 0,
        };
        ports.outbox.send_delayed(Queue::Webhooks, &message(&next_job)?, wait_secs).await?;
    }
    follow_health(ports, &subscription, verdict, now).await?;
    info!(org_id = job.org_id, subscription_id = job.subscription_id, attempt = job.attempt, ?outcome, status = ?status_code, duration_ms, "webhook attempt");
    Ok(Delivered::Attempted(attempt))
}

/// Applies what the attempt means for the subscription's health (`health_after`), over the
/// version read; a switch-off records `webhook.subscription_disabled` for the admins once.
async fn follow_health(ports: &DeliveryPorts<'_>, read: &WebhookSubscription, verdict: AttemptVerdict, now: DateTime<Utc>) -> Result<()> {
    let changed = retry_lost_updates("webhook subscription", |attempt| {
        let read = read.clone();
        async move {
            let current = if attempt == 1 {
                read
            } else {
                match ports.subscriptions.webhook_subscription(&read.org_id, &read.id).await? {
                    Some(s) if s.enabled => s,
                    _ => return Ok(None),
                }
            };
            let next = match health_after(&current, verdict, now) {
                HealthChange::Unchanged => return Ok(None),
                HealthChange::StartedFailing => WebhookSubscription { failing_since: Some(now), ..current.clone() },
                HealthChange::Recovered => WebhookSubscription { failing_since: None, ..current.clone() },
                HealthChange::Disable(reason) => WebhookSubscription { enabled: false, disabled_reason: Some(reason), ..current.clone() },
            };
            let next = WebhookSubscription { updated_at: now, version: current.version + 1, ..next };
            match ports.subscriptions.save_webhook_subscription(&next).await? {
                Written::Stored => Ok(Some(next)),
                Written::AlreadyThere => Err(Error::LostUpdate("webhook subscription")),
            }
        }
    })
    .await?;
    if let Some(off) = changed.filter(|s| !s.enabled) {
        let reason = off.disabled_reason;
        warn!(org_id = off.org_id, subscription_id = off.id, ?reason, "webhook subscription switched off");
        let data = json!({
            "subscription_id": off.id,
            "url": off.url,
            "reason": reason,
            "failing_since": off.failing_since,
            "notify": {"role": "admin"},
        });
        let key = format!("webhook-disabled/{}/{}", off.id, off.version);
        ports.events.record_event(&NewEvent::new(&off.org_id, EventKind::WebhookSubscriptionDisabled, now, data, key)).await?;
    }
    Ok(())
}

/// What sending events again takes: the subscription and its log, the feed, the queue.
pub struct ResendPorts<'a> {
    pub subscriptions: &'a dyn WebhookStore,
    pub events: &'a dyn EventStore,
    pub outbox: &'a dyn Outbox,
    pub clock: &'a dyn Clock,
}

/// What a redelivery or a replay queued.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Resent {
    /// The redelivery's id: its attempts count from 1 again and are logged apart.
    pub redelivery_id: String,
    /// Deliveries queued (one per event).
    pub queued: usize,
}

/// A subscription that may be sent to now, or why not.
async fn sendable(ports: &ResendPorts<'_>, org_id: &str, subscription_id: &str) -> Result<WebhookSubscription> {
    let subscription = ports.subscriptions.webhook_subscription(org_id, subscription_id).await?.ok_or(Error::NotFound("webhook subscription"))?;
    if !subscription.enabled {
        return Err(Error::conflict("the subscription is switched off: enable it first (PATCH enabled: true)", "disabled"));
    }
    Ok(subscription)
}

/// The feed's event `seq`, while the feed keeps it (24 hours).
async fn feed_event(events: &dyn EventStore, org_id: &str, seq: u64, now: DateTime<Utc>) -> Result<Option<DashboardEvent>> {
    let found = events.events_after(org_id, seq.saturating_sub(1), 1).await?;
    Ok(found.into_iter().find(|e| e.seq == seq && e.kind != EventKind::Void && !e.expired(now)))
}

/// Sends the event of one logged attempt again, now, as a new delivery (same `webhook-id`).
/// The event must still be in the feed (kept 24 hours).
pub async fn redeliver(ports: &ResendPorts<'_>, org_id: &str, subscription_id: &str, attempt_id: &str) -> Result<Resent> {
    let now = ports.clock.now();
    let subscription = sendable(ports, org_id, subscription_id).await?;
    let attempt = ports.subscriptions.delivery_attempt(org_id, subscription_id, attempt_id).await?.ok_or(Error::NotFound("delivery"))?;
    let Some(event) = feed_event(ports.events, org_id, attempt.event_seq, now).await? else {
        return Err(Error::conflict("the event is no longer in the feed (it keeps events 24 hours)", "expired"));
    };
    let redelivery_id = crate::domain::ids::new_id(now);
    let job = DeliveryJob { redelivery: Some(redelivery_id.clone()), ..DeliveryJob::first(org_id, &subscription.id, &event, now) };
    ports.outbox.send_batch(Queue::Webhooks, &[message(&job)?]).await?;
    Ok(Resent { redelivery_id, queued: 1 })
}

/// How many feed events one read takes while replaying.
const REPLAY_PAGE: i32 = 100;

/// Sends again every event the feed still has from `since` on (when it happened, the feed
/// keeping 24 hours) that the subscription wants, oldest first, as one redelivery.
pub async fn replay(ports: &ResendPorts<'_>, org_id: &str, subscription_id: &str, since: DateTime<Utc>) -> Result<Resent> {
    let now = ports.clock.now();
    let subscription = sendable(ports, org_id, subscription_id).await?;
    let redelivery_id = crate::domain::ids::new_id(now);
    let mut after = 0;
    let mut jobs = Vec::new();
    loop {
        let page = ports.events.events_after(org_id, after, REPLAY_PAGE).await?;
        let Some(last) = page.last().map(|e| e.seq) else { break };
        for event in page.iter().filter(|e| e.at >= since && !e.expired(now) && subscription.wants(e.kind)) {
            jobs.push(message(&DeliveryJob { redelivery: Some(redelivery_id.clone()), ..DeliveryJob::first(org_id, &subscription.id, event, now) })?);
        }
        if page.len() < REPLAY_PAGE as usize {
            break;
        }
        after = last;
    }
    for batch in jobs.chunks(10) {
        ports.outbox.send_batch(Queue::Webhooks, batch).await?;
    }
    Ok(Resent { redelivery_id, queued: jobs.len() })
}
