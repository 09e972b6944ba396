//! Benchmarks of issue 4 on the dev stack (moto, functions in process, the WhatsApp sandbox):
//! - approval → Graph API request: rounds of `--in-flight` approvals sent at once (one action per
//!   customer), from the approve POST leaving to the sandbox receiving the send;
//! - long-poll wake-up: a caller waits on `GET /v1/events?wait=20`; an event is recorded; from
//!   the write's return to the caller's answer.
//!
//! Queue consumers: Lambda runs one invocation per FIFO message group in flight; the dev gateway's
//! poller runs one batch at a time. `--pollers N` runs N pollers per queue (N concurrent batches).
//!
//! Usage: actions_bench [--in-flight 50] [--rounds 6] [--pollers 1] [--wakeups 60]

use std::sync::Arc;
use std::time::{Duration, Instant};

use max_core::domain::event::{EventKind, NewEvent};
use max_core::telemetry::AwsCalls;
use max_dev::pollers::EventSourceMapping;
use max_dev::bench::{arg, report, text_message};
use max_dev::testing::{TestOptions, TestStack};
use serde_json::{Value, json};





/// Starts an event source mapping with `per_queue` receive loops on every queue of template.yaml, like the dev stack does (with their
/// own client: event source mappings are not the functions' AWS calls).
async fn start_pollers(t: &TestStack, per_queue: usize) {
    let any_queue = t.stack.resources.queue_urls.values().next().expect("a queue");
    let endpoint = any_queue.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    let sqs = aws_sdk_sqs::Client::new(&max_dev::moto::sdk_config(&max_dev::moto::LocalAws::at(&endpoint)).await);
    for source in &t.stack.template.queue_sources {
        let url = t.stack.resources.queue_urls[&source.queue_logical_id].clone();
        let arn = t.stack.resources.queue_arns[&source.queue_logical_id].clone();
        let mapping = EventSourceMapping {
            stats: Arc::new(max_dev::pollers::PollerStats::new(&source.queue_logical_id)),
            sqs: sqs.clone(),
            queue_url: url,
            queue_arn: arn,
            binary: source.binary.clone(),
            batch_size: source.batch_size,
            deps: t.stack.deps.clone(),
            receivers: per_queue,
            max_concurrency: source.maximum_concurrency.unwrap_or(max_dev::DevOptions::new("bench").max_concurrency),
            writes: t.stack.writes.clone(),
        };
        mapping.start();
    }
}

async fn conversations(t: &TestStack, wanted: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = cursor.as_ref().map_or("/v1/conversations?limit=100".to_string(), |c| format!("/v1/conversations?limit=100&cursor={c}"));
            let (_, page) = t.get(&path, &t.org.agent).await;
            all.extend(page["items"].as_array().cloned().unwrap_or_default());
            cursor = page["next_cursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        if all.len() >= wanted || Instant::now() > deadline {
            return all.iter().filter_map(|c| c["id"].as_str().map(str::to_string)).collect();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main]
async fn main() {
    max_core::telemetry::init_logging();
    let in_flight = arg("--in-flight", 50) as usize;
    let rounds = arg("--rounds", 6) as usize;
    let pollers = arg("--pollers", 1) as usize;
    let wakeups = arg("--wakeups", 60) as usize;
    let t = Arc::new(TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await);
    start_pollers(&t, pollers).await;
    let number = t.org.seed.phone_number_id.clone();

    // One live conversation per customer.
    for i in 0..in_flight {
        let res = t.post_webhook(&text_message(&number, &format!("4915200000{i:03}"), &format!("wamid.bench.{i}"), "I'd like a refund")).await;
        assert!(res.status().is_success(), "webhook {i}: {}", res.status());
    }
    let conversations = conversations(&t, in_flight).await;
    assert!(conversations.len() >= in_flight, "only {} conversations", conversations.len());

    // AWS calls per approval, one at a time with nothing else running: the decision (API), the
    // fan-out, the send and its status follow-up. Queue polling is the event source's, not counted.
    let counted = conversations.len().min(5);
    let mut ids = Vec::new();
    for (i, c) in conversations.iter().take(counted).enumerate() {
        let body = json!({ "conversation_id": c, "type": "refund_request", "title": format!("Count {i}") });
        let (_, a) = t.post("/v1/actions", &t.org.agent, body).await;
        ids.push(a["id"].as_str().unwrap_or_default().to_string());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = AwsCalls::now();
    for id in &ids {
        t.post(&format!("/v1/actions/{id}/approve"), &t.org.agent, json!({ "reply_text": "Counted." })).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let calls = AwsCalls::now().since(&before);

    // Approval → Graph API request.
    let sandbox = t.stack.sandbox.clone().expect("the bench runs on the WhatsApp sandbox");
    let mut approvals = Vec::new();
    let mut api_answers = Vec::new();
    let mut lost = 0;
    for round in 0..rounds {
        let mut actions = Vec::new();
        for (i, c) in conversations.iter().take(in_flight).enumerate() {
            let body = json!({ "conversation_id": c, "type": "refund_request", "title": format!("Refund {round}-{i}"), "details": { "amount": "25.00" } });
            let (status, a) = t.post("/v1/actions", &t.org.agent, body).await;
            assert!(status.is_success(), "{a}");
            actions.push(a["id"].as_str().unwrap_or_default().to_string());
        }
        let tasks: Vec<_> = actions
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let t = t.clone();
                let (id, reply) = (id.clone(), format!("Reference R{round}-{i}."));
                tokio::spawn(async move {
                    let sent_at = chrono::Utc::now();
                    let (status, _): (_, Value) = t.post(&format!("/v1/actions/{id}/approve"), &t.org.agent, json!({ "reply_text": reply })).await;
                    let answered = (chrono::Utc::now() - sent_at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                    status.is_success().then_some((reply, sent_at, answered))
                })
            })
            .collect();
        let mut sent = Vec::new();
        for task in tasks {
            if let Ok(Some((reply, sent_at, answered))) = task.await {
                sent.push((reply, sent_at));
                api_answers.push(answered);
            }
        }
        // Wait for the round to reach the sandbox (and the statuses to settle) before the next one.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let outbox = sandbox.outbox();
            let arrived = sent.iter().filter(|(reply, _)| outbox.iter().any(|e| e.request["text"]["body"].as_str().is_some_and(|b| b.ends_with(reply.as_str())))).count();
            if arrived == sent.len() || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let outbox = sandbox.outbox();
        for (reply, sent_at) in &sent {
            match outbox.iter().find(|e| e.request["text"]["body"].as_str().is_some_and(|b| b.ends_with(reply.as_str()))) {
                Some(entry) => approvals.push((entry.at - *sent_at).num_microseconds().unwrap_or(0) as f64 / 1000.0),
                None => lost += 1,
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // Long-poll wake-up: from the event's write returning to the waiting caller's answer.
    let mut wake = Vec::new();
    let org = t.org.seed.id.clone();
    for i in 0..wakeups {
        let (_, now) = t.get("/v1/events?after=now", &t.org.agent).await;
        let cursor = now["next_cursor"].as_str().unwrap_or_default().to_string();
        let waiter = {
            let t = t.clone();
            tokio::spawn(async move {
                let (_, body) = t.get(&format!("/v1/events?after={cursor}&wait=20"), &t.org.agent).await;
                (Instant::now(), body)
            })
        };
        // Let the caller settle into its wait, at a random point of the poll cycle.
        tokio::time::sleep(Duration::from_millis(400 + (i as u64 * 37) % 300)).await;
        let event = NewEvent::new(&org, EventKind::TicketOpened, chrono::Utc::now(), json!({ "bench": i }), format!("bench#{i}"));
        t.stack.deps.store.record_event(&event).await.expect("event recorded");
        let written = Instant::now();
        let (answered, body) = waiter.await.expect("waiter");
        if body["items"][0]["data"]["bench"] == i {
            wake.push(answered.saturating_duration_since(written).as_secs_f64() * 1000.0);
        }
    }

    // What the local DynamoDB (moto) serves: `in_flight` tasks each doing 20 GetItems in a row.
    let probe_started = Instant::now();
    let probes: Vec<_> = (0..in_flight)
        .map(|i| {
            let t = t.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    let key = max_core::adapters::dynamo::keys::customer(&t.org.seed.id, &format!("probe-{i}"));
                    let _ = t.stack.dynamo.get::<Value>(key).await;
                }
            })
        })
        .collect();
    for p in probes {
        let _ = p.await;
    }
    let probe_secs = probe_started.elapsed().as_secs_f64();

    println!("\nMAX dev stack, issue 4 benchmarks (debug build, moto, WhatsApp sandbox; {pollers} poller(s) per queue)\n");
    report(&format!("approval → Graph API request ({in_flight} in flight)"), approvals);
    report(&format!("approve API answered ({in_flight} in flight)"), api_answers);
    println!("approvals that never reached the sandbox: {lost}");
    report("long-poll wake-up after an event", wake);
    println!(
        "moto throughput, {in_flight} concurrent GetItem loops: {:.0} calls/s ({:.1} ms per call per task)",
        (in_flight * 20) as f64 / probe_secs,
        probe_secs * 1000.0 / 20.0
    );
    println!(
        "AWS calls per approval (decision + fan-out + send + status follow-up): {:.1}  (dynamodb {:.1}, sqs {:.1})",
        calls.total() as f64 / counted as f64,
        calls.dynamodb as f64 / counted as f64,
        calls.sqs as f64 / counted as f64
    );
}
