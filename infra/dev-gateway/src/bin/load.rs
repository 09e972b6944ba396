//! Load benchmark of the dev stack (issue 2, section 5): 20 inbound text messages per second for
//! 30 s through the signed webhook, and as many agent replies, measuring
//! - inbound → visible through the API (webhook POST sent → message listed by the API),
//! - agent reply → Graph API request (reply POST sent → the sandbox receives the send),
//! - AWS calls per inbound text message (receiver + processor) and per agent reply (the API and
//!   reply-sender), from the code's own counter.
//!
//! - the CPU moto and this process used in each phase, and what each queue's pollers did.
//!
//! Usage: max-load [--rate 20] [--seconds 30] [--customers 20] [--max-concurrency 64]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use max_core::telemetry::AwsCalls;
use max_dev::bench::{CpuMeter, arg, report, text_message};
use max_dev::pollers::PollerCounts;
use max_dev::testing::{TestStack, moto_pids};
use serde_json::{Value, json};

fn poller_counts(t: &TestStack) -> Vec<(String, PollerCounts)> {
    t.stack.pollers.iter().map(|p| (p.queue.clone(), p.snapshot())).collect()
}

/// What each busy queue's pollers did since `before`.
fn report_pollers(t: &TestStack, before: &[(String, PollerCounts)]) {
    for (queue, now) in poller_counts(t) {
        let Some((_, b)) = before.iter().find(|(q, _)| *q == queue) else { continue };
        let d = now.since(b);
        if d.received > 0 {
            println!("  {queue}: {d}");
        }
    }
}
async fn conversation_ids(t: &TestStack, customers: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/conversations?limit=100&cursor={c}"),
                None => "/v1/conversations?limit=100".to_string(),
            };
            let (_, page) = t.get(&path, &t.org.agent).await;
            all.extend(page["items"].as_array().cloned().unwrap_or_default());
            cursor = page["next_cursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        if all.len() >= customers || Instant::now() > deadline {
            return all
                .iter()
                .map(|c| (c["customer_address"].as_str().unwrap_or_default().to_string(), c["id"].as_str().unwrap_or_default().to_string()))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() {
    let rate = arg("--rate", 20);
    let seconds = arg("--seconds", 30);
    let customers = arg("--customers", 20) as usize;
    // Phase 0: the webhook's ack path, alone (no pollers): AWS calls per POST.
    let ack_calls = {
        let quiet = TestStack::with(max_dev::testing::TestOptions { no_pollers: true, ..Default::default() }).await;
        let before = AwsCalls::now();
        let n = 50;
        for i in 0..n {
            let body = text_message(&quiet.org.seed.phone_number_id, "4915199999999", &format!("wamid.ack.{i}"), "ack");
            assert!(quiet.post_webhook(&body).await.status().is_success());
        }
        let calls = AwsCalls::now().since(&before);
        (calls.total() as f64 / n as f64, calls)
    };
    // The same pollers as `make dev`.
    let max_concurrency = std::env::args().any(|a| a == "--max-concurrency").then(|| arg("--max-concurrency", 64) as usize);
    let t = Arc::new(TestStack::with(max_dev::testing::TestOptions { dev_pollers: true, max_concurrency, ..Default::default() }).await);
    let number = t.org.seed.phone_number_id.clone();
    let addresses: Vec<String> = (0..customers).map(|i| format!("4915100000{i:03}")).collect();

    // Warm-up: one message per customer opens their conversation.
    for (i, a) in addresses.iter().enumerate() {
        t.post_webhook(&text_message(&number, a, &format!("wamid.warm.{i}"), "hello")).await;
    }
    let began = Instant::now();
    let progress = |what: &str| eprintln!("load: {what} at {:.1} s (load average {})", began.elapsed().as_secs_f64(), std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" "));
    let conversations = conversation_ids(&t, customers).await;
    progress("warm-up done");
    let conversation_of = |address: &str| conversations.iter().find(|(a, _)| a == address).map(|(_, c)| c.clone()).unwrap_or_default();

    // Phase 1: AWS calls per inbound text message, with nothing else running.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = AwsCalls::now();
    let ops_before = max_core::telemetry::calls_by_operation();
    let n_count = 100;
    for i in 0..n_count {
        let a = &addresses[i % customers];
        t.post_webhook(&text_message(&number, a, &format!("wamid.count.{i}"), "counting")).await;
    }
    // Let the queue drain without reading anything through the API (reads are AWS calls too).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let calls = AwsCalls::now().since(&before);
    let inbound_ops = max_core::telemetry::operations_since(&ops_before, &max_core::telemetry::calls_by_operation());
    let mut stored = 0;
    for (_, c) in &conversations {
        let (_, page) = t.get(&format!("/v1/conversations/{c}/messages?limit=100"), &t.org.agent).await;
        stored += page["items"].as_array().map_or(0, |m| m.iter().filter(|m| m["wamid"].as_str().is_some_and(|w| w.starts_with("wamid.count."))).count());
    }

    // Phase 1b: AWS calls per agent reply (the POST, then reply-sender's send and its recording),
    // one at a time with nothing else running; waits on the sandbox, which costs no AWS call.
    let sandbox = t.stack.sandbox.clone().expect("sandbox");
    let reply_calls = {
        let before = AwsCalls::now();
        let ops_before = max_core::telemetry::calls_by_operation();
        let n = 20;
        for i in 0..n {
            let conversation = conversation_of(&addresses[i % customers]);
            let body = format!("Counted reply {i}");
            t.post(&format!("/v1/conversations/{conversation}/messages"), &t.org.agent, json!({ "type": "text", "body": body })).await;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !sandbox.outbox().iter().any(|e| e.request["text"]["body"] == body.as_str()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // The last send's recording lands after its Graph request.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let calls = AwsCalls::now().since(&before);
        let ops = max_core::telemetry::operations_since(&ops_before, &max_core::telemetry::calls_by_operation());
        (calls.total() as f64 / n as f64, calls, ops)
    };

    // Phase 2: inbound → visible, at `rate` per second for `seconds`. For one message in five a
    // watcher reads the customer's conversation (one GetItem behind the API) until its last
    // message is this one, every 10 ms or a tenth of the time waited so far, whichever is longer:
    // a figure is exact to 10 ms or 10 %. Sampling and the growing pause keep the watchers' own
    // reads from loading the stack they measure: at a fixed 10 ms, a stack that fell a second
    // behind had ~16 watchers reading 100 times a second each, which kept it behind (issue 18). (Listing conversations would go through a GSI, which moto serves by scanning
    // the whole table: the bench would measure moto, not MAX.)
    progress("calls counted");
    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let pollers_before = poller_counts(&t);
    let cpu = CpuMeter::start(moto_pids());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..total {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let t = t.clone();
        let a = addresses[i % customers].clone();
        let conversation = conversation_of(&a);
        tasks.push(tokio::spawn(async move {
            let text = format!("load-{i}");
            let sent = Instant::now();
            let res = t.post_webhook(&text_message(&t.org.seed.phone_number_id, &a, &format!("wamid.load.{i}"), &text)).await;
            if !res.status().is_success() || i % 5 != 0 {
                return None;
            }
            while sent.elapsed() < Duration::from_secs(10) {
                let (_, c) = t.get(&format!("/v1/conversations/{conversation}"), &t.org.agent).await;
                if c["last_message_preview"] == text.as_str() {
                    return Some(sent.elapsed().as_secs_f64() * 1000.0);
                }
                tokio::time::sleep(Duration::from_millis(10).max(sent.elapsed() / 10)).await;
            }
            None
        }));
    }
    let mut inbound = Vec::new();
    for task in tasks {
        if let Ok(Some(ms)) = task.await {
            inbound.push(ms);
        }
    }
    let inbound_lost = total / 5 - inbound.len();
    progress("inbound phase done");
    let inbound_cpu = cpu.report();
    let mut inbound_pollers = String::new();
    for (queue, now) in poller_counts(&t) {
        if let Some((_, b)) = pollers_before.iter().find(|(q, _)| *q == queue) {
            let d = now.since(b);
            if d.received > 0 {
                inbound_pollers.push_str(&format!("  {queue}: {d}\n"));
            }
        }
    }

    // Phase 3: agent reply → Graph API request (the sandbox records the send time).
    let mut tasks = Vec::new();
    let pollers_before = poller_counts(&t);
    let cpu = CpuMeter::start(moto_pids());
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    for i in 0..total {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let t = t.clone();
        let conversation = conversation_of(&addresses[i % customers]);
        tasks.push(tokio::spawn(async move {
            let sent_at = chrono::Utc::now();
            let (status, message): (_, Value) =
                t.post(&format!("/v1/conversations/{conversation}/messages"), &t.org.agent, json!({ "type": "text", "body": format!("Reply {i}") })).await;
            let answered_at = chrono::Utc::now();
            status.is_success().then(|| (message["id"].as_str().unwrap_or_default().to_string(), format!("Reply {i}"), sent_at, answered_at))
        }));
    }
    let mut replies = Vec::new();
    for task in tasks {
        if let Ok(Some(r)) = task.await {
            replies.push(r);
        }
    }
    progress("replies posted");
    // Every reply must reach the Graph API within the run plus 10 s.
    let run_end = start + interval * total as u32;
    let sent_bodies = || -> HashMap<String, chrono::DateTime<chrono::Utc>> {
        sandbox.outbox().into_iter().filter_map(|e| Some((e.request["text"]["body"].as_str()?.to_string(), e.at))).collect()
    };
    loop {
        let sent = sent_bodies();
        if Instant::now() >= run_end + Duration::from_secs(10) || replies.iter().all(|(_, body, _, _)| sent.contains_key(body)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained_after_run = run_end.elapsed();
    let run_end_utc = chrono::Utc::now() - chrono::Duration::from_std(drained_after_run).unwrap_or_default();
    let reply_cpu = cpu.report();
    let sent = sent_bodies();
    let mut reply_latency = Vec::new();
    // The two halves of it: the API storing and queueing the reply, then the queue and reply-sender.
    let (mut reply_post, mut reply_queued_to_graph) = (Vec::new(), Vec::new());
    let ms = |d: chrono::Duration| d.num_microseconds().unwrap_or(0) as f64 / 1000.0;
    let mut last_sent: Option<chrono::DateTime<chrono::Utc>> = None;
    for (_, body, sent_at, answered_at) in &replies {
        if let Some(at) = sent.get(body) {
            reply_latency.push(ms(*at - *sent_at));
            reply_post.push(ms(*answered_at - *sent_at));
            reply_queued_to_graph.push(ms(*at - *answered_at));
            last_sent = last_sent.max(Some(*at));
        }
    }
    let unsent = replies.len() - reply_latency.len();

    println!("\nMAX dev stack load: {rate} msg/s for {seconds} s, {customers} customers ({} build)\n", if cfg!(debug_assertions) { "debug" } else { "optimised: the stack profile, release without LTO" });
    report("inbound → visible through the API", inbound);
    println!("  CPU: {inbound_cpu}");
    print!("{inbound_pollers}");
    report("agent reply → Graph API request", reply_latency);
    report("  of which the reply POST (stored, queued)", reply_post);
    report("  of which queued → Graph API request", reply_queued_to_graph);
    println!("  CPU: {reply_cpu}");
    report_pollers(&t, &pollers_before);
    println!(
        "sampled inbound never seen within 10 s: {inbound_lost}; replies accepted {}, not sent within the run + 10 s: {unsent} (checked {:.1} s after the run)",
        replies.len(),
        drained_after_run.as_secs_f64()
    );
    if let Some(last) = last_sent {
        println!("last reply reached the Graph API {:.1} s after the run's last reply POST was due", (last - run_end_utc).num_milliseconds() as f64 / 1000.0);
    }
    println!(
        "AWS calls per webhook POST (ack path): {:.2}  (dynamodb {}, sqs {}, s3 {} over 50 POSTs)",
        ack_calls.0, ack_calls.1.dynamodb, ack_calls.1.sqs, ack_calls.1.s3
    );
    let per_message = calls.total() as f64 / n_count as f64;
    println!(
        "AWS calls per inbound text message (receiver + processor): {per_message:.2}  (over {n_count} messages: stored {stored}; dynamodb {}, sqs {}, s3 {})",
        calls.dynamodb, calls.sqs, calls.s3
    );
    println!("  by operation: {inbound_ops}");
    println!(
        "AWS calls per agent reply (the API, then reply-sender): {:.2}  (dynamodb {}, sqs {}, s3 {} over 20 replies; the pollers' receives and deletes not counted)",
        reply_calls.0, reply_calls.1.dynamodb, reply_calls.1.sqs, reply_calls.1.s3
    );
    println!("  by operation: {}", reply_calls.2);
}
