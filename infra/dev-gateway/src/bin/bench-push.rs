//! Live push latency (issue 15, docs/live-push.md): `--events` events (200 by default), each
//! written by a function as in production — `POST /v1/actions` through the dev gateway, whose
//! api-actions records `action.created` in the feed — one after the other, with `--dashboards`
//! WebSocket clients of the organisation (2 by default) and one of another organisation
//! connected. The path is the deployed one: the table's stream (moto), live-push, the real
//! Management API SDK posting to the gateway, the gateway's socket. Reports, per event and
//! dashboard, the delay from the event's time (`at`, taken just before its write) to the client
//! receiving it (p50, p95, p99, max), and from the API's answer to the receipt; then the AWS
//! calls live-push makes per pushed event, counted on a second pass that hands the same feed
//! items to the function as stream records (the stream reads are Lambda's, not counted).
//!
//! Usage: bench-push [--events 200] [--dashboards 2] [--doorbell 1|0]
//! (`--doorbell 0`: the stream pollers are not woken after each invocation and read an idle
//! stream every 250 ms only, for comparison)

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use max_core::telemetry::{AwsCalls, calls_by_operation, operations_since};
use max_dev::bench::{arg, report};
use max_dev::testing::{TestOptions, TestStack};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A pushed action's id, its event time, when it arrived (wall clock, and monotonic).
type Arrival = (String, DateTime<Utc>, DateTime<Utc>, Instant);

/// A dashboard: connects with `token` and sends back every pushed action's id, event time and
/// arrival.
async fn dashboard(url: String) -> tokio::sync::mpsc::UnboundedReceiver<Arrival> {
    let (mut client, _) = tokio_tungstenite::connect_async(url).await.expect("the dashboard connects");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = client.next().await {
            let arrived = Instant::now();
            let received_at = Utc::now();
            let Message::Text(text) = frame else { continue };
            let Ok(event) = serde_json::from_str::<Value>(&text) else { continue };
            let (Some(id), Some(at)) = (event["data"]["action_id"].as_str(), event["at"].as_str().and_then(|a| a.parse::<DateTime<Utc>>().ok())) else {
                continue;
            };
            if tx.send((id.to_string(), at, received_at, arrived)).is_err() {
                return;
            }
        }
    });
    rx
}

#[tokio::main]
async fn main() {
    let events = arg("--events", 200) as usize;
    let dashboards = arg("--dashboards", 2) as usize;
    let doorbell = arg("--doorbell", 1) != 0;
    let t = TestStack::with(TestOptions { dev_pollers: true, no_stream_doorbell: !doorbell, ..Default::default() }).await;
    let stage = t.stack.template.websocket.as_ref().expect("template.yaml has a WebSocket API").stage.clone();
    let ws = |token: &str| format!("{}/{stage}?token={token}", t.stack.url.replace("http://", "ws://"));
    let mut clients = Vec::new();
    for _ in 0..dashboards {
        clients.push(dashboard(ws(&t.org.agent)).await);
    }
    let mut other = dashboard(ws(&t.other.agent)).await;
    let conversation = t.live_conversation().await;

    let mut since_event = Vec::new();
    let mut since_answer = Vec::new();
    let started = Instant::now();
    for i in 0..events {
        let (status, action) = t.post("/v1/actions", &t.org.agent, json!({"conversation_id": conversation, "type": "discount_request", "title": format!("offer {i}")})).await;
        let answered = Instant::now();
        assert!(status.is_success(), "{action}");
        let id = action["id"].as_str().expect("action id").to_string();
        for client in clients.iter_mut() {
            let (_, at, received_at, arrived) = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    let arrival = client.recv().await.expect("the dashboard is connected");
                    if arrival.0 == id {
                        return arrival;
                    }
                }
            })
            .await
            .unwrap_or_else(|_| panic!("action {id} never reached a dashboard"));
            since_event.push((received_at - at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
            since_answer.push(arrived.saturating_duration_since(answered).as_secs_f64() * 1000.0);
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{events} events written by api-actions one after the other, {dashboards} dashboards of the organisation + 1 of another, stream pollers {}, {:.1} s",
        if doorbell { "woken after each invocation" } else { "reading every 250 ms only" },
        elapsed.as_secs_f64()
    );
    report("event time -> dashboard receives it", since_event);
    report("API answer -> dashboard receives it", since_answer);
    let leaked = std::iter::from_fn(|| other.try_recv().ok()).count();
    println!("the other organisation's dashboard received {leaked} of these events");
    assert_eq!(leaked, 0, "another organisation's dashboard got pushes");

    // AWS calls of live-push per pushed event: the same feed items as stream records, straight to
    // the function (only its own calls are counted).
    let feed = t.stack.deps.store.events_after(&t.org.seed.id, 0, 1000).await.expect("feed");
    let pushed: Vec<_> = feed.iter().filter(|e| e.kind == max_core::domain::event::EventKind::ActionCreated).collect();
    let records: Vec<aws_lambda_events::event::dynamodb::EventRecord> = pushed
        .iter()
        .map(|e| {
            let mut record = aws_lambda_events::event::dynamodb::EventRecord::default();
            record.event_name = "INSERT".into();
            let mut item: serde_dynamo::Item = serde_dynamo::to_item(e).expect("item");
            item.insert("pk".into(), serde_dynamo::AttributeValue::S(format!("ORG#{}#EVENTS", e.org_id)));
            record.change.new_image = item;
            record
        })
        .collect();
    let mut batch = aws_lambda_events::event::dynamodb::Event::default();
    batch.records = records;
    let (before, ops_before) = (AwsCalls::now(), calls_by_operation());
    let response = max_dev::registry::invoke_stream("live-push", batch, &t.stack.deps).await.expect("live-push is registered").expect("live-push ran");
    assert!(response.batch_item_failures.is_empty());
    let calls = AwsCalls::now().since(&before);
    let n = pushed.len().max(1) as f64;
    println!(
        "live-push AWS calls per pushed event ({} events, {dashboards} connections): {:.2} (DynamoDB {:.2}, API Gateway {:.2}); {}",
        pushed.len(),
        calls.total() as f64 / n,
        calls.dynamodb as f64 / n,
        calls.api_gateway as f64 / n,
        operations_since(&ops_before, &calls_by_operation())
    );
}
