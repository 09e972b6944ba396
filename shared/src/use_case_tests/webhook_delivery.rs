//! Fan-out and delivery of outbound webhooks on the memory adapter (`app::webhook_delivery`): the
//! receivers are `MemoryWebhookReceiver`'s scripted answers.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use crate::adapters::memory::{MemoryWebhookReceiver, ReceivedWebhook};
use crate::app::webhook_delivery::*;
use crate::app::webhooks::{SubscriptionPorts, create, deliveries, edit, rotate_secret};
use crate::config::{Deps, InMemory};
use crate::domain::event::{DashboardEvent, EventKind, NewEvent};
use crate::domain::webhook_delivery::{AttemptOutcome, DeliveryJob, FAILING_DISABLES_AFTER, MAX_QUEUE_DELAY_SECS, message_id, payload, signature};
use crate::domain::webhook_subscription::{DisabledReason, SigningSecret, WebhookSubscriptionEdit, WebhookSubscriptionInput};
use crate::ports::{EventStore, PageRequest, Queue, WebhookAnswer, WebhookStore};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap()
}

fn middle() -> f64 {
    0.5
}

struct World {
    deps: Deps,
    mem: InMemory,
}

impl World {
    fn new() -> Self {
        let (deps, mem) = Deps::in_memory(now());
        World { deps, mem }
    }

    fn ports(&self, timing: RetryTiming) -> DeliveryPorts<'_> {
        DeliveryPorts { timing, jitter: middle, ..self.deps.webhook_delivery_ports() }
    }

    /// A subscription of `org` to `types`, with its secret.
    async fn subscribe(&self, org: &str, url: &str, types: &[&str]) -> (String, String) {
        let ports = SubscriptionPorts { store: &*self.mem.store, secrets: &*self.mem.secrets, destinations: Default::default() };
        let input: WebhookSubscriptionInput = serde_json::from_value(json!({"url": url, "event_types": types})).unwrap();
        let created = create(&ports, org, "admin", input, self.mem.clock.now_()).await.unwrap();
        (created.subscription.id, created.secret)
    }

    async fn record(&self, org: &str, kind: EventKind, key: &str) -> DashboardEvent {
        self.mem.store.record_event(&NewEvent::new(org, kind, now(), json!({"ticket_id": "t1"}), key)).await.unwrap();
        let seq = self.mem.store.latest_event_seq(org).await.unwrap();
        self.mem.store.events_after(org, seq - 1, 1).await.unwrap().remove(0)
    }

    /// The jobs on the webhooks queue since the last look.
    fn jobs(&self) -> Vec<DeliveryJob> {
        self.mem.outbox.take(Queue::Webhooks).iter().map(|m| serde_json::from_str(&m.body).unwrap()).collect()
    }
}

trait Now {
    fn now_(&self) -> DateTime<Utc>;
}

impl Now for crate::adapters::memory::ManualClock {
    fn now_(&self) -> DateTime<Utc> {
        crate::ports::Clock::now(self)
    }
}

fn answered(delivered: Delivered) -> crate::domain::webhook_delivery::DeliveryAttempt {
    match delivered {
        Delivered::Attempted(a) => a,
        other => panic!("expected an attempt, got {other:?}"),
    }
}

/// Whether `request` verifies under `secret` (the signature recomputed from what was sent).
fn verifies(request: &ReceivedWebhook, secret: &str) -> bool {
    let id = request.header("webhook-id").unwrap();
    let timestamp: i64 = request.header("webhook-timestamp").unwrap().parse().unwrap();
    let expected = signature(id, timestamp, &request.body, &[&SigningSecret::parse(secret).unwrap()]);
    request.header("webhook-signature").unwrap().split(' ').any(|s| s == expected)
}

#[tokio::test(start_paused = true)]
async fn an_event_fans_out_to_each_enabled_subscription_that_wants_it_and_to_no_other_organisation() {
    // GIVEN subscriptions to everything, to tickets opened, to calls only, a switched-off one, and another organisation's
    let w = World::new();
    let (all, _) = w.subscribe("o1", "https://all.example.com/h", &["*"]).await;
    let (tickets, _) = w.subscribe("o1", "https://tickets.example.com/h", &["ticket.opened"]).await;
    w.subscribe("o1", "https://calls.example.com/h", &["call.completed"]).await;
    let (off, _) = w.subscribe("o1", "https://off.example.com/h", &["*"]).await;
    let sub_ports = SubscriptionPorts { store: &*w.mem.store, secrets: &*w.mem.secrets, destinations: Default::default() };
    edit(&sub_ports, "o1", &off, WebhookSubscriptionEdit { enabled: Some(false), ..Default::default() }, now()).await.unwrap();
    w.subscribe("o2", "https://other.example.com/h", &["*"]).await;
    // WHEN a ticket is opened in o1
    let event = w.record("o1", EventKind::TicketOpened, "k1").await;
    let queued = fan_out(&w.deps.webhook_fan_out_ports(), &event).await.unwrap();
    // THEN one job each for the two that want it, naming the organisation, subscription and event
    assert_eq!(queued, 2);
    let jobs = w.jobs();
    let mut subs: Vec<&str> = jobs.iter().map(|j| j.subscription_id.as_str()).collect();
    subs.sort();
    let mut expected = vec![all.as_str(), tickets.as_str()];
    expected.sort();
    assert_eq!(subs, expected);
    assert!(jobs.iter().all(|j| j.org_id == "o1" && j.event.seq == event.seq && j.attempt == 1));
    // AND a void filler fans out to nobody
    let void = DashboardEvent::void("o1", 99, now());
    assert_eq!(fan_out(&w.deps.webhook_fan_out_ports(), &void).await.unwrap(), 0);
    assert!(w.jobs().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_delivery_is_signed_the_standard_webhooks_way_with_the_event_type_header() {
    let w = World::new();
    let (sub, secret) = w.subscribe("o1", "https://crm.example.com/h", &["*"]).await;
    let event = w.record("o1", EventKind::TicketOpened, "k1").await;
    let job = DeliveryJob::first("o1", &sub, &event, now());
    // WHEN it is delivered
    let attempt = answered(deliver(&w.ports(RetryTiming::Scheduled), &job).await.unwrap());
    // THEN the receiver got the payload, signed, with the id the feed event gives
    let got = w.mem.webhooks.received();
    assert_eq!(got.len(), 1);
    let request = &got[0];
    assert_eq!(request.url, "https://crm.example.com/h");
    assert_eq!(request.header("webhook-id"), Some(message_id(&event).as_str()));
    assert_eq!(request.header("webhook-timestamp"), Some(now().timestamp().to_string().as_str()));
    assert_eq!(request.header("X-MAX-Event"), Some("ticket.opened"));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&request.body).unwrap(), payload(&event));
    assert!(verifies(request, &secret));
    assert!(!verifies(request, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    assert_eq!(request.timeout, std::time::Duration::from_secs(10), "the subscription's timeout");
    // AND the attempt is logged delivered, nothing more is queued
    assert_eq!(attempt.outcome, AttemptOutcome::Delivered);
    assert_eq!(attempt.status_code, Some(200));
    assert!(w.jobs().is_empty());
    let log = deliveries(&*w.mem.store, "o1", &sub, &PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert_eq!(log.items.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_receiver_failing_twice_gets_the_event_three_times_with_one_id_on_the_schedule() {
    // GIVEN a receiver that answers 500, 500, then 200
    let w = World::new();
    let url = "https://flaky.example.com/h";
    let (sub, _) = w.subscribe("o1", url, &["*"]).await;
    w.mem.webhooks.answer(url, [MemoryWebhookReceiver::status(500), WebhookAnswer::Answered { status: 503, retry_after: None, body: b"busy".to_vec() }]);
    let event = w.record("o1", EventKind::TicketOpened, "k1").await;
    let ports = w.ports(RetryTiming::Scheduled);
    // WHEN the first attempt fails THEN a retry is queued 5 s later (the middle of the jitter)
    let first = answered(deliver(&ports, &DeliveryJob::first("o1", &sub, &event, now())).await.unwrap());
    assert_eq!(first.outcome, AttemptOutcome::Retrying);
    assert_eq!(first.next_attempt_at, Some(now() + Duration::seconds(5)));
    assert_eq!(w.mem.outbox.delays(), [(Queue::Webhooks, 5)]);
    let second_job = w.jobs().remove(0);
    assert_eq!(second_job.attempt, 2);
    assert!(w.mem.store.webhook_subscription("o1", &sub).await.unwrap().unwrap().failing_since.is_some());
    // WHEN it comes back due THEN the second fails too, and the third is 5 minutes later
    w.mem.clock.advance(Duration::seconds(5));
    let second = answered(deliver(&ports, &second_job).await.unwrap());
    assert_eq!((second.outcome, second.status_code, second.response_body.as_deref()), (AttemptOutcome::Retrying, Some(503), Some("busy")));
    assert_eq!(w.mem.outbox.delays().last(), Some(&(Queue::Webhooks, 300)));
    let third_job = w.jobs().remove(0);
    w.mem.clock.advance(Duration::minutes(5));
    let third = answered(deliver(&ports, &third_job).await.unwrap());
    assert_eq!(third.outcome, AttemptOutcome::Delivered);
    // THEN the receiver saw the same webhook-id three times, and the log shows three attempts
    let ids: Vec<String> = w.mem.webhooks.received().iter().map(|r| r.header("webhook-id").unwrap().to_string()).collect();
    assert_eq!(ids, vec![message_id(&event); 3]);
    let log = deliveries(&*w.mem.store, "o1", &sub, &PageRequest { limit: 10, cursor: None }).await.unwrap();
    let attempts: Vec<(u32, AttemptOutcome)> = log.items.iter().map(|a| (a.attempt, a.outcome)).collect();
    assert_eq!(attempts, [(3, AttemptOutcome::Delivered), (2, AttemptOutcome::Retrying), (1, AttemptOutcome::Retrying)]);
    // AND the delivery forgot the failures
    assert_eq!(w.mem.store.webhook_subscription("o1", &sub).await.unwrap().unwrap().failing_since, None);
    // AND the same job handed out twice logs its attempt once
    deliver(&ports, &third_job).await.unwrap();
    assert_eq!(deliveries(&*w.mem.store, "o1", &sub, &PageRequest { limit: 10, cursor: None }).await.unwrap().items.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_retry_due_beyond_fifteen_minutes_goes_back_on_the_queue_for_the_rest() {
    let w = World::new();
    let (sub, _) = w.subscribe("o1", "https://crm.example.com/h", &["*"]).await;
    let event = w.record("o1", EventKind::TicketOpened, "k1").await;
    // GIVEN the fourth attempt, due two hours after the third
    let job = DeliveryJob { attempt: 4, ..DeliveryJob::first("o1", &sub, &event, now()) }.retry(now() + Duration::hours(2));
    // WHEN SQS hands it out after its 15 minutes
    let out = deliver(&w.ports(RetryTiming::Scheduled), &job).await.unwrap();
    // THEN nothing is sent; it waits again, at most 15 minutes at a time
    assert_eq!(out, Delivered::NotDueYet { wait_secs: MAX_QUEUE_DELAY_SECS });
    assert!(w.mem.webhooks.received().is_empty());
    assert_eq!(w.jobs(), [job.clone()]);
    // AND with the dev stack's immediate retries it is attempted at once
    assert!(matches!(deliver(&w.ports(RetryTiming::Immediate), &job).await.unwrap(), Delivered::Attempted(_)));
}

#[tokio::test(start_paused = true)]
async fn immediate_retries_queue_the_next_attempt_without_delay_but_log_the_schedule() {
    let w = World::new();
    let url = "https://flaky.example.com/h";
    let (sub, _) = w.subscribe("o1", url, &["*"]).await;
    w.mem.webhooks.answer(url, [MemoryWebhookReceiver::status(500)]);
    let event = w.record("o1", EventKind::TicketOpened, "k1").await;
    let attempt = answered(deliver(&w.ports(RetryTiming::Immediate), &DeliveryJob::first("o1", &sub, &event, now())).await.unwrap());
    assert_eq!(attempt.next_attempt_at, Some(now() + Duration::seconds(5)));
    assert_eq!(w.mem.outbox.delays(), [(Queue::Webhooks, 0)]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_of_a_429_is_honoured() {
    let w = World::new();
    let url = "https://busy.example.com/h";
    let (sub, _) = w.subscribe("o1", url, &["*"]).await;
    w.mem.webhooks.answer(url, [WebhookAnswer::Answered { status: 429, retry_after: Some("120".into()), body: Vec::new() }]);
    let event = w.record("o1", EventKind::TicketOpened, "k1").await;
    let attempt = answered(deliver(&w.ports(RetryTiming::Scheduled), &DeliveryJob::first("o1", &sub, &event, now())).await.unwrap());
    assert_eq!(attempt.outcome, AttemptOutcome::Retrying);
    assert_eq!(attempt.next_attempt_at, Some(now() + Duration::seconds(120)));
    assert_eq!(w.mem.outbox.delays(), [(Queue::Webhooks, 120)]);
}

#[tokio::test(start_paused = true)]
async fn a_410_switches_the_subscription_off_and_tells_the_admins_once() {
    let w = World::new();
    let url = "https://gone.example.com/h";
    let (sub, _) = w.subscribe("o1", url, &["*"]).await;
    w.mem.webhooks.answer(url, [MemoryWebhookReceiver::status(410)]);
    let event = w.record("o1", EventKind::TicketOpened, "k1").await;
    let before = w.mem.store.latest_event_seq("o1").await.unwrap();
    // WHEN the receiver answers 410
    let attempt = answered(deliver(&w.ports(RetryTiming::Scheduled), &DeliveryJob::first("o1", &sub, &event, now())).await.unwrap());
    // THEN the attempt is final, the subscription is off (gone), and the feed says so for admins
    assert_eq!(attempt.outcome, AttemptOutcome::Gone);
    assert!(w.jobs().is_empty());
    let s = w.mem.store.webhook_subscription("o1", &sub).await.unwrap().unwrap();
    assert!(!s.enabled);
    assert_eq!(s.disabled_reason, Some(DisabledReason::Gone));
    let events = w.mem.store.events_after("o1", before, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::WebhookSubscriptionDisabled);
    assert_eq!(events[0].data["subscription_id"], json!(sub));
    assert_eq!(events[0].data["reason"], json!("gone"));
    assert_eq!(events[0].data["notify"], json!({"role": "admin"}));
    // AND a later job for it is dropped without a request
    let second = w.record("o1", EventKind::TicketClosed, "k2").await;
    let out = deliver(&w.ports(RetryTiming::Scheduled), &DeliveryJob::first("o1", &sub, &second, now())).await.unwrap();
    assert!(matches!(out, Delivered::Dropped(_)));
    assert_eq!(w.mem.webhooks.received().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn failing_for_five_days_switches_the_subscription_off() {
    let w = World::new();
    let url = "https://down.example.com/h";
    let (sub, _) = w.subscribe("o1", url, &["*"]).await;
    let timeouts = (0..3).map(|_| WebhookAnswer::TimedOut { error: "operation timed out".into() });
    w.mem.webhooks.answer(url, timeouts);
    let event = w.record("o1", EventKind::TicketOpened, "k1").await;
    let ports = w.ports(RetryTiming::Scheduled);
    let first = answered(deliver(&ports, &DeliveryJob::first("o1", &sub, &event, now())).await.unwrap());
    assert_eq!((first.outcome, first.error.as_deref()), (AttemptOutcome::Retrying, Some("operation timed out")));
    // WHEN it still fails just short of five days THEN it stays on
    w.mem.clock.advance(FAILING_DISABLES_AFTER - Duration::seconds(1));
    let later = w.record("o1", EventKind::TicketClosed, "k2").await;
    deliver(&ports, &DeliveryJob::first("o1", &sub, &later, crate::ports::Clock::now(&*w.mem.clock))).await.unwrap();
    assert!(w.mem.store.webhook_subscription("o1", &sub).await.unwrap().unwrap().enabled);
    // WHEN a failure comes five days after the first THEN it is switched off for failing
    w.mem.clock.advance(Duration::seconds(1));
    let last = w.record("o1", EventKind::TicketAnswered, "k3").await;
    deliver(&ports, &DeliveryJob::first("o1", &sub, &last, crate::ports::Clock::now(&*w.mem.clock))).await.unwrap();
    let s = w.mem.store.webhook_subscription("o1", &sub).await.unwrap().unwrap();
    assert_eq!((s.enabled, s.disabled_reason), (false, Some(DisabledReason::Failing)));
    let latest = w.mem.store.latest_event_seq("o1").await.unwrap();
    let disabled = w.mem.store.events_after("o1", latest - 1, 1).await.unwrap();
    assert_eq!(disabled[0].kind, EventKind::WebhookSubscriptionDisabled);
    assert_eq!(disabled[0].data["reason"], json!("failing"));
}

#[tokio::test(start_paused = true)]
async fn after_a_rotation_both_secrets_sign_and_each_verifies() {
    let w = World::new();
    let (sub, old) = w.subscribe("o1", "https://crm.example.com/h", &["*"]).await;
    let sub_ports = SubscriptionPorts { store: &*w.mem.store, secrets: &*w.mem.secrets, destinations: Default::default() };
    let new = rotate_secret(&sub_ports, "o1", &sub, now()).await.unwrap().secret;
    let event = w.record("o1", EventKind::TicketOpened, "k1").await;
    deliver(&w.ports(RetryTiming::Scheduled), &DeliveryJob::first("o1", &sub, &event, now())).await.unwrap();
    let request = &w.mem.webhooks.received()[0];
    assert_eq!(request.header("webhook-signature").unwrap().split(' ').count(), 2);
    assert!(verifies(request, &new) && verifies(request, &old));
}

#[tokio::test(start_paused = true)]
async fn a_refused_destination_or_a_final_answer_is_not_retried() {
    let w = World::new();
    let url = "https://rebinding.example.com/h";
    let (sub, _) = w.subscribe("o1", url, &["*"]).await;
    w.mem.webhooks.answer(url, [WebhookAnswer::Refused { reason: "rebinding.example.com resolves to a private address (10.0.0.1)".into() }, MemoryWebhookReceiver::status(404)]);
    let event = w.record("o1", EventKind::TicketOpened, "k1").await;
    let ports = w.ports(RetryTiming::Scheduled);
    let refused = answered(deliver(&ports, &DeliveryJob::first("o1", &sub, &event, now())).await.unwrap());
    assert_eq!(refused.outcome, AttemptOutcome::Failed);
    assert!(refused.error.as_deref().unwrap().contains("private address"));
    let next = w.record("o1", EventKind::TicketClosed, "k2").await;
    let not_found = answered(deliver(&ports, &DeliveryJob::first("o1", &sub, &next, now())).await.unwrap());
    assert_eq!((not_found.outcome, not_found.next_attempt_at), (AttemptOutcome::Failed, None));
    assert!(w.jobs().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_logged_attempt_is_redelivered_with_the_same_id_and_a_fresh_count() {
    let w = World::new();
    let url = "https://crm.example.com/h";
    let (sub, _) = w.subscribe("o1", url, &["*"]).await;
    w.mem.webhooks.answer(url, [MemoryWebhookReceiver::status(404)]);
    let event = w.record("o1", EventKind::TicketOpened, "k1").await;
    let failed = answered(deliver(&w.ports(RetryTiming::Scheduled), &DeliveryJob::first("o1", &sub, &event, now())).await.unwrap());
    let resend = ResendPorts { subscriptions: &*w.mem.store, events: &*w.mem.store, outbox: &*w.mem.outbox, clock: &*w.mem.clock };
    // WHEN an admin redelivers the failed attempt
    let resent = redeliver(&resend, "o1", &sub, &failed.id).await.unwrap();
    assert_eq!(resent.queued, 1);
    let job = w.jobs().remove(0);
    assert_eq!((job.attempt, job.redelivery.as_deref(), job.event.seq), (1, Some(resent.redelivery_id.as_str()), event.seq));
    // THEN it is sent again with the same webhook-id, logged as a new line
    let again = answered(deliver(&w.ports(RetryTiming::Scheduled), &job).await.unwrap());
    assert_eq!(again.message_id, failed.message_id);
    assert_ne!(again.id, failed.id);
    assert_eq!(again.outcome, AttemptOutcome::Delivered);
    // AND another organisation's, an unknown attempt, or an event the feed no longer has is refused
    assert!(matches!(redeliver(&resend, "o2", &sub, &failed.id).await, Err(crate::Error::NotFound(_))));
    assert!(matches!(redeliver(&resend, "o1", &sub, "01JNOPE").await, Err(crate::Error::NotFound(_))));
    // (the memory feed stamps events with the real time: step past this one's expiry)
    w.mem.clock.advance(DateTime::from_timestamp(event.expires_at, 0).unwrap() - now() + Duration::seconds(1));
    assert!(matches!(redeliver(&resend, "o1", &sub, &failed.id).await, Err(crate::Error::Conflict { .. })));
}

#[tokio::test(start_paused = true)]
async fn a_replay_sends_the_wanted_events_since_a_time_once_each() {
    let w = World::new();
    let (sub, _) = w.subscribe("o1", "https://crm.example.com/h", &["ticket.opened", "ticket.closed"]).await;
    let first = w.record("o1", EventKind::TicketOpened, "k1").await;
    w.record("o1", EventKind::CallCompleted, "k2").await;
    let closed = w.record("o1", EventKind::TicketClosed, "k3").await;
    w.record("o2", EventKind::TicketOpened, "k4").await;
    let resend = ResendPorts { subscriptions: &*w.mem.store, events: &*w.mem.store, outbox: &*w.mem.outbox, clock: &*w.mem.clock };
    let resent = replay(&resend, "o1", &sub, now() - Duration::hours(1)).await.unwrap();
    assert_eq!(resent.queued, 2);
    let seqs: Vec<u64> = w.jobs().iter().map(|j| j.event.seq).collect();
    assert_eq!(seqs, [first.seq, closed.seq]);
    assert_eq!(replay(&resend, "o1", &sub, Utc::now() + Duration::hours(1)).await.unwrap().queued, 0, "nothing happened after a time to come");
    assert_eq!(replay(&resend, "o1", &sub, first.at).await.unwrap().queued, 2, "events at `since` count");
    w.jobs();
    // A switched-off subscription replays nothing until it is enabled again
    let sub_ports = SubscriptionPorts { store: &*w.mem.store, secrets: &*w.mem.secrets, destinations: Default::default() };
    edit(&sub_ports, "o1", &sub, WebhookSubscriptionEdit { enabled: Some(false), ..Default::default() }, now()).await.unwrap();
    assert!(matches!(replay(&resend, "o1", &sub, now() - Duration::hours(1)).await, Err(crate::Error::Conflict { .. })));
    assert!(w.jobs().is_empty());
}
