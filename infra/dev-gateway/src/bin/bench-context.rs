//! The customer context panel at scale (issue 12): one customer with `--conversations` (100)
//! conversations, and tickets, actions, interactions, feedback calls and transactions beside
//! them, written through the store ports (the items the functions write, links included) on
//! DynamoDB in moto. Then `--requests` (200) `GET /v1/customers/{id}/context` through the dev
//! gateway, one after another: p50 / p95 / p99 latency and the DynamoDB calls per request (the
//! gateway runs in this process with nothing polling, so every call counted is the panel's).
//! It fails when a request makes more than 4 DynamoDB calls or the p50 is over `--p50-ms` (50).
//!
//! Usage: bench-context [--conversations 100] [--requests 200] [--p50-ms 50]

use std::time::Instant;

use chrono::{Duration, Utc};
use max_core::domain::action::Action;
use max_core::domain::call::Call;
use max_core::domain::conversation::Conversation;
use max_core::domain::customer::{ChannelIdentity, Customer};
use max_core::domain::interaction::Interaction;
use max_core::domain::support::{NewTicket, SupportTicket, TicketPriority, TicketSource, TicketStatus};
use max_core::domain::transaction::Transaction;
use max_core::ports::{CallWrite, TicketWrite};
use max_core::telemetry::AwsCalls;
use max_dev::bench::{arg, percentile, report};
use max_dev::testing::{TestOptions, TestStack};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn from<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid seed item")
}

#[tokio::main]
async fn main() {
    let (conversations, requests, p50_target) = (arg("--conversations", 100) as i64, arg("--requests", 200) as usize, arg("--p50-ms", 50) as f64);
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let store = &*t.stack.deps.store;
    let org = t.org.seed.id.clone();
    let customer_id = "cu_bench_context";
    let address = "16505550100";
    let now = Utc::now();
    let at = |minutes: i64| now - Duration::days(400) + Duration::minutes(minutes);

    // The customer and their conversations, one after another (each opened over the previous).
    let started = Instant::now();
    let customer: Customer = from(json!({ "id": customer_id, "org_id": org, "name": "Bench Customer", "phone": address,
        "created_at": at(0), "updated_at": at(0) }));
    let identity: ChannelIdentity = from(json!({ "org_id": org, "address": address, "customer_id": customer_id, "open_conversation_id": "C0001" }));
    let conversation = |n: i64| -> Conversation {
        let last = at(n * 60 + 30);
        from(json!({ "id": format!("C{n:04}"), "org_id": org, "customer_id": customer_id, "channel": "whatsapp",
            "phone_number_id": t.org.seed.phone_number_id, "customer_address": address,
            "status": if n == conversations { "open" } else { "closed" }, "created_at": at(n * 60), "updated_at": last,
            "last_message_at": last, "last_message_preview": format!("message {n}"),
            "closed_at": if n == conversations { Value::Null } else { json!(last) }, "version": 1 }))
    };
    store.create_customer(&customer, &identity, &conversation(1)).await.expect("customer created");
    for n in 2..=conversations {
        store.open_conversation(&identity, Some(&format!("C{:04}", n - 1)), &conversation(n)).await.expect("conversation opened");
    }
    // 30 tickets (every third still open), 40 actions, 15 interactions (5 overdue), 25 calls (20
    // scored), 60 transactions.
    for n in 0..30 {
        let mut ticket = SupportTicket::open(NewTicket {
            id: format!("T{n:04}"),
            org_id: org.clone(),
            source: TicketSource::Whatsapp,
            customer_id: Some(customer_id.into()),
            conversation_id: Some(format!("C{:04}", n + 1)),
            phone_number: Some(address.into()),
            sender_name: None,
            issue_description: format!("issue {n}"),
            priority: TicketPriority::Medium,
            external_ref: None,
            now: at(n * 60),
        });
        if n % 3 != 0 {
            ticket.status = TicketStatus::Resolved;
        }
        store.save_ticket(&TicketWrite { before: None, after: &ticket, message: None, conversation: None, daily_cap: None, audit: None }).await.expect("ticket saved");
    }
    for n in 0..40 {
        let action: Action = from(json!({ "id": format!("A{n:04}"), "org_id": org, "conversation_id": format!("C{:04}", n + 1),
            "customer_id": customer_id, "type": "refund_request", "title": format!("refund {n}"), "status": "pending",
            "created_by": { "id": "user_agent" }, "created_at": at(n * 60), "updated_at": at(n * 60),
            "request_message_id": format!("bubble-{n}"), "version": 1 }));
        store.create_action(&action, None).await.expect("action created");
    }
    for n in 0..15 {
        let due = now + Duration::hours(n - 5);
        let interaction: Interaction = from(json!({ "id": format!("I{n:04}"), "org_id": org, "customer_id": customer_id,
            "type": "phone_call", "title": format!("follow-up {n}"), "status": "pending",
            "scheduled_at": due - Duration::hours(1), "due_at": due, "created_at": at(0), "updated_at": at(0), "version": 1 }));
        store.create_interaction(&interaction, None).await.expect("interaction created");
    }
    for n in 0..25 {
        let call: Call = from(json!({ "id": format!("K{n:04}"), "org_id": org, "customer_id": customer_id, "customer_number": format!("+{address}"),
            "status": if n < 20 { "completed" } else { "missed" }, "nps_score": if n < 20 { json!(n % 11) } else { Value::Null },
            "created_at": at(n * 60), "updated_at": at(n * 60), "version": 1 }));
        store.save_call(&CallWrite { before: None, after: &call, in_flight_cap: None }).await.expect("call saved");
    }
    for n in 0..60 {
        let transaction: Transaction = from(json!({ "org_id": org, "customer_id": customer_id, "id": format!("order-{n}"),
            "amount_minor": 1999 + n, "currency": "EUR", "status": "completed", "occurred_at": at(n * 60), "recorded_at": at(n * 60) }));
        store.record_transaction(&transaction).await.expect("transaction recorded");
    }
    eprintln!("bench-context: customer with {conversations} conversations seeded in {:.1} s", started.elapsed().as_secs_f64());

    let path = format!("/v1/customers/{customer_id}/context");
    // One request first (connections, caches), not counted.
    let (status, body) = t.get(&path, &t.org.agent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["conversation_count"], conversations, "{body}");

    let before = AwsCalls::now();
    let ops_before = max_core::telemetry::calls_by_operation();
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let clock = Instant::now();
        let (status, _) = t.get(&path, &t.org.agent).await;
        samples.push(clock.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, StatusCode::OK);
    }
    let calls = AwsCalls::now().since(&before);
    let per_request = calls.dynamodb as f64 / requests as f64;
    println!(
        "\nMAX customer context: 1 customer, {conversations} conversations, 30 tickets, 40 actions, 15 interactions, 25 calls, 60 transactions (moto; {} build)\n",
        if cfg!(debug_assertions) { "debug" } else { "optimised" }
    );
    report("GET /v1/customers/{id}/context", samples.clone());
    println!("DynamoDB calls per request: {per_request:.2} ({})", max_core::telemetry::operations_since(&ops_before, &max_core::telemetry::calls_by_operation()));
    println!("sections: {} conversations, {} open tickets, {} actions, {} calls, {} transactions, {} overdue + {} pending interactions",
        body["conversations"].as_array().map_or(0, Vec::len), body["open_tickets"].as_array().map_or(0, Vec::len),
        body["actions"].as_array().map_or(0, Vec::len), body["feedback_calls"].as_array().map_or(0, Vec::len),
        body["transactions"].as_array().map_or(0, Vec::len), body["interactions"]["overdue"].as_array().map_or(0, Vec::len),
        body["interactions"]["pending"].as_array().map_or(0, Vec::len));
    samples.sort_by(|a, b| a.total_cmp(b));
    let p50 = percentile(&samples, 50.0);
    let mut failed = false;
    if per_request > 4.0 {
        eprintln!("bench-context: {per_request:.2} DynamoDB calls per request, more than 4");
        failed = true;
    }
    if p50 > p50_target {
        eprintln!("bench-context: p50 {p50:.1} ms over the {p50_target} ms target");
        failed = true;
    }
    if failed {
        std::process::exit(1);
    }
}
