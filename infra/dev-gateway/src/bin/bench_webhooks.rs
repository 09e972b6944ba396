//! Outbound webhook delivery under load (issue 15): `--events` events (1,000 by default) recorded
//! in one organisation's feed, 3 subscribers to everything — two healthy local receivers and one
//! that answers 500 — through the whole path on the dev stack: the table's stream (moto), the
//! fan-out, the webhooks queue, webhook-delivery's signed POSTs. Retries wait their scheduled
//! delay, as when deployed (the failing subscriber's second attempt comes 5 s later; its third,
//! 5 minutes later, after the run). Reports the delay from an event's recording to its arrival at
//! each healthy receiver (p50, p95, p99, max), and the functions' AWS calls per delivered event
//! (the event source mappings' own calls — stream reads, queue receives and deletes — are
//! Lambda's, not counted, as in every benchmark here).
//!
//! Usage: bench_webhooks [--events 1000] [--concurrency 10]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::Utc;
use futures::StreamExt;
use max_core::domain::event::{EventKind, NewEvent};
use max_core::telemetry::{AwsCalls, calls_by_operation, operations_since};
use max_dev::bench::{arg, report};
use max_dev::testing::{TestOptions, TestStack};
use serde_json::{Value, json};

/// Arrivals at one receiver: the event's number and when it came.
type Arrivals = Arc<Mutex<Vec<(u64, Instant)>>>;

/// A local receiver answering `status` to every POST, noting each event's `data.n` as it arrives.
async fn receiver(status: StatusCode) -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hooks",
            post(|State((arrivals, status)): State<(Arrivals, StatusCode)>, body: axum::body::Bytes| async move {
                if let Some(n) = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["data"]["n"].as_u64()) {
                    arrivals.lock().unwrap().push((n, Instant::now()));
                }
                status
            }),
        )
        .with_state((arrivals.clone(), status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, arrivals)
}

#[tokio::main]
async fn main() {
    let events = arg("--events", 1000);
    let concurrency = arg("--concurrency", 10) as usize;
    let t = TestStack::with(TestOptions { dev_pollers: true, webhooks_scheduled_retries: true, ..Default::default() }).await;
    let (a_url, a) = receiver(StatusCode::NO_CONTENT).await;
    let (b_url, b) = receiver(StatusCode::OK).await;
    let (failing_url, failing) = receiver(StatusCode::INTERNAL_SERVER_ERROR).await;
    for url in [&a_url, &b_url, &failing_url] {
        let (status, created) = t.post("/v1/webhook-subscriptions", &t.org.admin, json!({"url": url, "event_types": ["*"], "timeout_secs": 5})).await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
    }
    let org = t.org.seed.id.clone();
    let recorded: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let calls_before = AwsCalls::now();
    let ops_before = calls_by_operation();
    let started = Instant::now();
    futures::stream::iter(0..events)
        .for_each_concurrent(concurrency, |n| {
            let (t, org, recorded) = (&t, org.clone(), recorded.clone());
            async move {
                let event = NewEvent::new(&org, EventKind::TicketOpened, Utc::now(), json!({"n": n, "ticket_id": format!("bench-{n}")}), format!("bench-{n}"));
                t.stack.deps.store.record_event(&event).await.expect("recorded");
                recorded.lock().unwrap().insert(n, Instant::now());
            }
        })
        .await;
    let recording = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (got_a, got_b) = (a.lock().unwrap().len() as u64, b.lock().unwrap().len() as u64);
        if got_a >= events && got_b >= events {
            break;
        }
        assert!(Instant::now() < deadline, "timed out: {got_a} and {got_b} of {events} delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_delivered = started.elapsed();
    // The failing subscriber's second attempts (5 s ± 20 % after the first) land in the count too.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let calls = AwsCalls::now().since(&calls_before);
    let ops = operations_since(&ops_before, &calls_by_operation());
    let recorded = recorded.lock().unwrap().clone();
    println!("{events} events recorded in {:.1} s ({concurrency} at a time); both healthy receivers had every one after {:.1} s", recording.as_secs_f64(), all_delivered.as_secs_f64());
    for (name, arrivals) in [("recorded → healthy receiver A", &a), ("recorded → healthy receiver B", &b)] {
        let samples: Vec<f64> = arrivals.lock().unwrap().iter().filter_map(|(n, at)| recorded.get(n).map(|r| at.saturating_duration_since(*r).as_secs_f64() * 1000.0)).collect();
        report(name, samples);
    }
    let failing_attempts = failing.lock().unwrap().len();
    let delivered = 2 * events;
    println!("failing subscriber: {failing_attempts} attempts answered 500 (first attempts and the retries due within the run)");
    // Recording an event is 2 calls (the counter's UpdateItem, the TransactWriteItems): the
    // use case's, not the delivery's.
    let delivery_calls = calls.total().saturating_sub(2 * events);
    println!(
        "AWS calls by the functions: {} (DynamoDB {}, SQS {}, Secrets Manager {}); without recording the events (2 each): {delivery_calls} = {:.2} per delivered event ({delivered} delivered to the healthy two)",
        calls.total(),
        calls.dynamodb,
        calls.sqs,
        calls.secrets_manager,
        delivery_calls as f64 / delivered as f64,
    );
    println!("by operation: {ops}");
}
