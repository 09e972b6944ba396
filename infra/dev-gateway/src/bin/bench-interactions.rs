//! Interactions benchmark of the dev stack (issue 5): completion → next interaction visible
//! through the API. For each sample a fresh customer gets an interaction; the clock starts just
//! before `POST /v1/interactions/{id}/complete` and stops when `GET /v1/interactions/{id}` shows
//! the link and `GET /v1/interactions/{nextId}` answers the new interaction; then
//! `GET /v1/interactions/customers/{customerId}/next` (a query on gsi1) must answer it too (its
//! time is reported as well). The path measured is the real one: the API
//! function, the next-step SQS queue in moto, the dev gateway's queue poller, the next-step
//! function, DynamoDB in moto.
//!
//! Usage: bench-interactions [--samples 200] [--warmup 10] [--poll-ms 5] [--concurrency 1]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use max_core::domain::conversation::{Conversation, ConversationStatus};
use max_core::domain::customer::{ChannelIdentity, Customer, IdentityChannel};
use max_dev::testing::TestStack;
use serde_json::json;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let p50 = percentile(&samples, 50.0);
    println!(
        "{name:<44} n={:<4} p50={:>7.1} ms  p95={:>7.1} ms  p99={:>7.1} ms  max={:>7.1} ms",
        samples.len(),
        p50,
        percentile(&samples, 95.0),
        percentile(&samples, 99.0),
        samples.last().copied().unwrap_or(f64::NAN)
    );
    p50
}

/// A customer as the inbound path would have created them.
async fn customer(t: &TestStack, n: u64) -> String {
    let now = Utc::now();
    let org = t.org.seed.id.clone();
    let id = ulid::Ulid::new().to_string();
    let address = format!("4915300{n:06}");
    let conversation_id = format!("c{id}");
    let customer = Customer::new(id.clone(), &org, Some(format!("Bench {n}")), Some(address.clone()), None, now);
    let identity = ChannelIdentity { org_id: org.clone(), channel: IdentityChannel::Whatsapp, address: address.clone(), customer_id: id.clone(), open_conversation_id: Some(conversation_id.clone()), profile_name: None, last_conversation_id: None, blocked: None };
    let conversation = Conversation {
        id: conversation_id, org_id: org, customer_id: id.clone(), channel: "whatsapp".into(),
        phone_number_id: t.org.seed.phone_number_id.clone(), customer_address: address, status: ConversationStatus::Open,
        assignee_id: None, state: "menu".into(), ticket_id: None, created_at: now, updated_at: now,
        last_message_at: now, last_message_preview: None, last_inbound_at: None, last_inbound_message_id: None, window_closes_at: None,
        closed_at: None, close_reason: None, team_id: None, priority: Default::default(), required_skills: vec![], first_message_at: None,
        first_response_at: None, waiting_since: None, sla_policy_id: None, sla: None, holds_capacity_of: None, version: 1, after_hours_reply: None, sla_counts: Vec::new(),
    };
    t.stack.deps.store.create_customer(&customer, &identity, &conversation).await.expect("customer stored");
    id
}

/// One sample: the complete round trip, completion → next visible by id, and completion → next
/// answered by `/next` (all in ms).
async fn sample(t: &TestStack, n: u64, poll: Duration) -> Option<(f64, f64, f64, f64)> {
    let c = customer(t, n).await;
    let (status, created) = t.post("/v1/interactions", &t.org.agent, json!({ "customer_id": c, "type": "phone_call", "title": format!("Call {n}") })).await;
    if !status.is_success() {
        eprintln!("create failed: {status} {created}");
        return None;
    }
    let id = created["id"].as_str()?.to_string();
    let started = Instant::now();
    let (status, done) = t.post(&format!("/v1/interactions/{id}/complete"), &t.org.agent, json!({ "outcome": "success" })).await;
    let complete_ms = started.elapsed().as_secs_f64() * 1000.0;
    if !status.is_success() {
        eprintln!("complete failed: {status} {done}");
        return None;
    }
    // Poll the completed interaction (one GetItem behind the API) until it links its successor,
    // then read the successor. Polling `/next` itself would load moto with a table scan per poll
    // (moto serves GSI queries by scanning), slowing the very path being measured.
    let ms = |i: Instant| i.duration_since(started).as_secs_f64() * 1000.0;
    let mut by_id = None;
    while started.elapsed() < Duration::from_secs(10) {
        let (_, previous) = t.get(&format!("/v1/interactions/{id}"), &t.org.agent).await;
        if let Some(next_id) = previous["next_interaction_id"].as_str() {
            let (status, next) = t.get(&format!("/v1/interactions/{next_id}"), &t.org.agent).await;
            if status.is_success() {
                let server_ms = (time(&next["created_at"]) - time(&previous["completed_at"])).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                by_id = Some((ms(Instant::now()), server_ms));
                break;
            }
        }
        tokio::time::sleep(poll).await;
    }
    let Some((by_id, server_ms)) = by_id else {
        eprintln!("next interaction of {id} never seen");
        return None;
    };
    let (status, next) = t.get(&format!("/v1/interactions/customers/{c}/next"), &t.org.agent).await;
    if !status.is_success() || next["previous_interaction_id"] != id.as_str() {
        eprintln!("/next of customer {c} does not answer the successor of {id}: {next}");
        return None;
    }
    Some((complete_ms, by_id, ms(Instant::now()), server_ms))
}

fn time(v: &serde_json::Value) -> chrono::DateTime<Utc> {
    v.as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let samples = arg("--samples", 200);
    let warmup = arg("--warmup", 10);
    let poll = Duration::from_millis(arg("--poll-ms", 5));
    let concurrency = arg("--concurrency", 1).max(1);
    let t = Arc::new(TestStack::start().await);

    for n in 0..warmup {
        sample(&t, 1_000_000 - 1 - n, poll).await;
    }
    let started = Instant::now();
    let mut complete = Vec::new();
    let mut visible = Vec::new();
    let mut via_next = Vec::new();
    let mut server = Vec::new();
    let mut lost = 0;
    let per_worker = samples.div_ceil(concurrency);
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let t = t.clone();
            tokio::spawn(async move {
                let mut out = Vec::new();
                for k in 0..per_worker {
                    out.push(sample(&t, w * per_worker + k, poll).await);
                }
                out
            })
        })
        .collect();
    for worker in workers {
        for s in worker.await.unwrap_or_default() {
            match s {
                Some((c, v, n, s)) => {
                    complete.push(c);
                    visible.push(v);
                    via_next.push(n);
                    server.push(s);
                }
                None => lost += 1,
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();

    println!(
        "\nMAX dev stack, interactions: {} samples ({} at a time, {warmup} warm-up), polling every {} ms (debug build unless noted)\n",
        complete.len() + lost,
        concurrency,
        poll.as_millis()
    );
    report("POST /v1/interactions/{id}/complete", complete);
    let p50 = report("completion → next interaction visible", visible);
    report("completion → ... and answered by /next", via_next);
    report("completed_at → next created_at (server)", server);
    println!("samples whose next interaction never showed: {lost}; wall time {wall:.1} s");
    println!("goal p50 ≤ 150 ms: {}", if p50 <= 150.0 { "met" } else { "NOT met" });
}
