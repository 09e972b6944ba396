//! The worker on the memory adapter with the real HTTP sender (the guard in its resolver) and the
//! receivers at the HTTP level: wiremock, and a bare socket that holds its answer until the test
//! releases it. And this function's `events/` sample.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, TimeZone, Utc};
use max_core::adapters::memory::sqs_record;
use max_core::adapters::webhook_http::HttpWebhookSender;
use max_core::app::webhooks::{SubscriptionPorts, create, deliveries};
use max_core::batch::StopBy;
use max_core::config::{Deps, InMemory};
use max_core::domain::event::{DashboardEvent, EventKind, NewEvent};
use max_core::domain::webhook_delivery::{AttemptOutcome, DeliveryAttempt, DeliveryJob, message_id, signature};
use max_core::domain::webhook_subscription::{DestinationPolicy, SigningSecret, WebhookSubscriptionInput};
use max_core::ports::{PageRequest, QueueMessage};
use max_core::testing::sample_events;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::handle;

const LOOPBACK: DestinationPolicy = DestinationPolicy { allow_loopback: true };

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap()
}

/// GIVEN the memory adapter with the HTTP sender under `policy`, resolving `hosts` itself.
fn given(policy: DestinationPolicy, hosts: &[(&str, IpAddr)]) -> (Deps, InMemory) {
    let (deps, world) = Deps::in_memory(now());
    let hosts: HashMap<String, Vec<IpAddr>> = hosts.iter().map(|(h, ip)| (h.to_string(), vec![*ip])).collect();
    (Deps { webhooks: Arc::new(HttpWebhookSender::with_hosts(policy, hosts)), ..deps }, world)
}

/// A subscription to everything at `url` (created under the dev stack's policy), with its secret.
async fn subscribe(world: &InMemory, url: &str, timeout_secs: u32) -> (String, String) {
    let ports = SubscriptionPorts { store: &*world.store, secrets: &*world.secrets, destinations: LOOPBACK };
    let input: WebhookSubscriptionInput = serde_json::from_value(json!({"url": url, "event_types": ["*"], "timeout_secs": timeout_secs})).unwrap();
    let created = create(&ports, "o1", "admin", input, now()).await.unwrap();
    (created.subscription.id, created.secret)
}

fn event(seq: u64) -> DashboardEvent {
    DashboardEvent::recorded(&NewEvent::new("o1", EventKind::TicketOpened, now(), json!({"ticket_id": "t1"}), format!("k{seq}")), seq, now())
}

fn batch(jobs: &[DeliveryJob]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| sqs_record(i, &QueueMessage { body: serde_json::to_string(j).unwrap(), group_id: None, dedup_id: None }, 1))
        .collect();
    event
}

async fn log(world: &InMemory, subscription: &str) -> Vec<DeliveryAttempt> {
    deliveries(&*world.store, "o1", subscription, &PageRequest { limit: 20, cursor: None }).await.unwrap().items
}

#[tokio::test]
async fn a_delivery_reaches_the_receiver_signed_and_a_redirect_is_not_followed() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/h"))
        .and(header("X-MAX-Event", "ticket.opened"))
        .and(header("content-type", "application/json"))
        .and(header_exists("webhook-signature"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST")).and(path("/moved")).respond_with(ResponseTemplate::new(302).insert_header("location", "/h")).mount(&receiver).await;
    let (deps, world) = given(LOOPBACK, &[]);
    let (sub, secret) = subscribe(&world, &format!("{}/h", receiver.uri()), 5).await;
    let (moved, _) = subscribe(&world, &format!("{}/moved", receiver.uri()), 5).await;
    let e = event(7);
    // WHEN both jobs run in one batch
    let res = handle(batch(&[DeliveryJob::first("o1", &sub, &e, now()), DeliveryJob::first("o1", &moved, &e, now())]), &deps, StopBy::NEVER).await.unwrap();
    assert!(res.batch_item_failures.is_empty());
    // THEN the receiver got it once, verifiable with the secret shown at creation
    let requests = receiver.received_requests().await.unwrap();
    let delivered = requests.iter().find(|r| r.url.path() == "/h").unwrap();
    let h = |name: &str| delivered.headers.get(name).unwrap().to_str().unwrap().to_string();
    assert_eq!(h("webhook-id"), message_id(&e));
    let expected = signature(&h("webhook-id"), h("webhook-timestamp").parse().unwrap(), &delivered.body, &[&SigningSecret::parse(&secret).unwrap()]);
    assert_eq!(h("webhook-signature"), expected);
    assert_eq!(log(&world, &sub).await[0].outcome, AttemptOutcome::Delivered);
    // AND the 302 was not followed: final, logged with its status
    let redirected = &log(&world, &moved).await[0];
    assert_eq!((redirected.outcome, redirected.status_code), (AttemptOutcome::Failed, Some(302)));
    assert_eq!(requests.iter().filter(|r| r.url.path() == "/h").count(), 1);
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_at_connect_when_loopback_is_not_allowed() {
    // GIVEN a receiver on 127.0.0.1 and a public-looking name that resolves to it (DNS rebinding)
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&receiver).await;
    let port = receiver.address().port();
    let (deps, world) = given(DestinationPolicy::default(), &[("rebound.example.com", "127.0.0.1".parse().unwrap())]);
    let (by_name, _) = subscribe(&world, &format!("https://rebound.example.com:{port}/h"), 5).await;
    // AND a literal loopback URL accepted under another policy (as the dev stack allows)
    let (literal, _) = subscribe(&world, &format!("https://127.0.0.1:{port}/h"), 5).await;
    let e = event(3);
    // WHEN both are delivered under the deployed policy
    handle(batch(&[DeliveryJob::first("o1", &by_name, &e, now()), DeliveryJob::first("o1", &literal, &e, now())]), &deps, StopBy::NEVER).await.unwrap();
    // THEN neither connects: both are final failures naming loopback, and the receiver saw nothing
    for sub in [&by_name, &literal] {
        let a = &log(&world, sub).await[0];
        assert_eq!((a.outcome, a.status_code, a.next_attempt_at), (AttemptOutcome::Failed, None, None), "{a:?}");
        assert!(a.error.as_deref().unwrap().contains("loopback"), "{a:?}");
    }
    assert!(receiver.received_requests().await.unwrap().is_empty());
}

/// A receiver that takes a request and answers 200 only when released.
async fn held_receiver() -> (String, tokio::sync::oneshot::Receiver<()>, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    let (got_tx, got_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        let _ = socket.read(&mut buf).await;
        let _ = got_tx.send(());
        let _ = release_rx.await;
        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
    });
    (url, got_rx, release_tx)
}

#[tokio::test]
async fn a_receiver_that_hangs_does_not_hold_up_another_subscribers_delivery() {
    let fast = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&fast).await;
    let (slow_url, slow_got, release) = held_receiver().await;
    let (deps, world) = given(LOOPBACK, &[]);
    let (slow, _) = subscribe(&world, &slow_url, 15).await;
    let (quick, _) = subscribe(&world, &format!("{}/h", fast.uri()), 15).await;
    let e = event(5);
    // WHEN one batch holds the hanging subscriber's job first, then the other's
    let deps = Arc::new(deps);
    let running = {
        let deps = deps.clone();
        let jobs = batch(&[DeliveryJob::first("o1", &slow, &e, now()), DeliveryJob::first("o1", &quick, &e, now())]);
        tokio::spawn(async move { handle(jobs, &deps, StopBy::NEVER).await.unwrap() })
    };
    // THEN the other subscriber is delivered while the hanging one still holds its request
    slow_got.await.unwrap();
    loop {
        if log(&world, &quick).await.first().is_some_and(|a| a.outcome == AttemptOutcome::Delivered) {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(log(&world, &slow).await.is_empty(), "the hanging delivery is still waiting for its answer");
    assert!(!running.is_finished());
    // AND once it answers, it is delivered too
    release.send(()).unwrap();
    assert!(running.await.unwrap().batch_item_failures.is_empty());
    assert_eq!(log(&world, &slow).await[0].outcome, AttemptOutcome::Delivered);
}

#[tokio::test]
async fn no_answer_within_the_subscriptions_timeout_is_retried_and_the_body_is_logged_cut() {
    let (silent_url, _got, _release) = held_receiver().await;
    let talkative = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500).set_body_string("x".repeat(5000))).mount(&talkative).await;
    let (deps, world) = given(LOOPBACK, &[]);
    let (silent, _) = subscribe(&world, &silent_url, 1).await;
    let (noisy, _) = subscribe(&world, &format!("{}/h", talkative.uri()), 5).await;
    let e = event(9);
    handle(batch(&[DeliveryJob::first("o1", &silent, &e, now()), DeliveryJob::first("o1", &noisy, &e, now())]), &deps, StopBy::NEVER).await.unwrap();
    let timed_out = &log(&world, &silent).await[0];
    assert_eq!((timed_out.outcome, timed_out.status_code), (AttemptOutcome::Retrying, None));
    assert!(timed_out.error.is_some());
    let failed = &log(&world, &noisy).await[0];
    assert_eq!((failed.outcome, failed.status_code), (AttemptOutcome::Retrying, Some(500)));
    assert_eq!(failed.response_body.as_deref().map(str::len), Some(1000));
    // Two retries queued, one per subscription.
    assert_eq!(world.outbox.jobs(max_core::ports::Queue::Webhooks).len(), 2);
}

#[tokio::test]
async fn every_sample_runs_and_a_job_for_an_unknown_subscription_is_dropped() {
    let (deps, world) = given(LOOPBACK, &[]);
    for (name, text) in sample_events("webhook-delivery") {
        let event: SqsEvent = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let res = handle(event, &deps, StopBy::NEVER).await.unwrap();
        assert!(res.batch_item_failures.is_empty(), "{name}");
    }
    assert!(world.outbox.jobs(max_core::ports::Queue::Webhooks).is_empty());
}
