//! Benchmark: what the support notification badge costs with 10 and with 10,000 tickets.
//!
//! For each size, a fresh stack in moto is filled with tickets through the app's own write (a
//! transaction per ticket with its counters), or with `--import` through the store's bulk import
//! (BatchWriteItem + counter updates). Then the notification counts are read
//! many times: DynamoDB calls per read (counted by `max_core::telemetry::AwsCalls`) and latency,
//! for the use case and for `GET /v1/admin/support/notifications` through the dev gateway. For
//! contrast, the same count done by querying the tickets (`Select=COUNT` over the status index)
//! is measured too.
//!
//! `infra/bench/support-notifications.sh` (or `cargo run -p max-dev --example support_notifications
//! -- 10 10000`). Numbers against moto measure our call pattern, not DynamoDB's own latency.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use chrono::Utc;
use futures::StreamExt;
use max_core::adapters::dynamo::support::keys;
use max_core::app::support;
use max_core::domain::ids::new_id;
use max_core::domain::support::{NewTicket, SupportTicket, TicketPriority, TicketSource, TicketStatus};
use max_core::ports::{SupportStore, TicketWrite};
use max_core::telemetry::AwsCalls;
use max_dev::testing::{TestOptions, TestStack};

const READS: usize = 200;
const WARM_UP: usize = 20;

fn ticket(org: &str, i: usize) -> SupportTicket {
    let now = Utc::now();
    let mut t = SupportTicket::open(NewTicket {
        id: new_id(now),
        org_id: org.to_string(),
        source: TicketSource::Api,
        customer_id: None,
        conversation_id: None,
        phone_number: Some(format!("3460000{i:04}")),
        sender_name: None,
        issue_description: format!("benchmark ticket {i}"),
        priority: TicketPriority::ALL[i % 4],
        external_ref: None,
        now,
    });
    // A realistic mix: 40% open, 30% in progress, 30% resolved; every other one assigned.
    match i % 10 {
        0..=3 => {}
        4..=6 => t.status = TicketStatus::InProgress,
        _ => {
            t.status = TicketStatus::Resolved;
            t.resolved_at = Some(now);
        }
    }
    if i.is_multiple_of(2) {
        t.assigned_admin_id = Some(format!("admin-{}", i % 5));
    }
    t
}

struct Timing {
    calls_per_read: f64,
    median: Duration,
    p95: Duration,
}

fn summarise(mut samples: Vec<Duration>, calls: u64) -> Timing {
    samples.sort();
    Timing {
        calls_per_read: calls as f64 / samples.len() as f64,
        median: samples[samples.len() / 2],
        p95: samples[samples.len() * 95 / 100],
    }
}

async fn time_reads<F, Fut>(mut read: F) -> Timing
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..WARM_UP {
        read().await;
    }
    let before = AwsCalls::now();
    let mut samples = Vec::with_capacity(READS);
    for _ in 0..READS {
        let started = Instant::now();
        read().await;
        samples.push(started.elapsed());
    }
    summarise(samples, AwsCalls::now().since(&before).dynamodb)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn run(size: usize, import: bool) {
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let store = &t.stack.dynamo;
    let org = t.org.seed.id.clone();

    let started = Instant::now();
    let org_ref = org.as_str();
    if !import {
        let results: Vec<_> = futures::stream::iter(0..size)
            .map(|i| async move {
                let t = ticket(org_ref, i);
                store.save_ticket(&TicketWrite { before: None, after: &t, message: None, conversation: None, daily_cap: None, audit: None }).await
            })
            .buffer_unordered(16)
            .collect()
            .await;
        assert!(results.iter().all(|r| r.is_ok()), "every ticket stored");
    } else {
        let all: Vec<SupportTicket> = (0..size).map(|i| ticket(org_ref, i)).collect();
        store.import_tickets(&all).await.expect("tickets imported");
    }
    let fill = started.elapsed();

    let counts = support::notifications(store, &org, None).await.expect("counts");
    let expect_open = (0..size).filter(|i| i % 10 <= 3).count() as i64;
    assert_eq!(counts.open_tickets, expect_open, "counters match what was written");

    let use_case = time_reads(|| async {
        support::notifications(store, &org, None).await.expect("read");
    })
    .await;
    let token = t.org.admin.clone();
    let http = time_reads(|| async {
        let (status, _) = t.get("/v1/admin/support/notifications", &token).await;
        assert!(status.is_success());
    })
    .await;

    // The same number by querying the tickets themselves: what the counters save.
    let client = store.client().clone();
    let table = store.table().to_string();
    let count_by_query = || {
        let (client, table, org) = (client.clone(), table.clone(), org.clone());
        async move {
            let mut total = 0;
            let mut start = None;
            loop {
                let out = client
                    .query()
                    .table_name(&table)
                    .index_name("gsi1")
                    .key_condition_expression("gsi1pk = :pk")
                    .expression_attribute_values(":pk", AttributeValue::S(keys::tickets_by_status(&org, TicketStatus::Open)))
                    .select(Select::Count)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .expect("count query");
                total += out.count;
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
            assert_eq!(total as i64, expect_open);
        }
    };
    let by_query = time_reads(count_by_query).await;

    println!(
        "| {size:>6} | {:>8.1} s | counters (use case) | {:.2} | {} | {} |",
        fill.as_secs_f64(),
        use_case.calls_per_read,
        ms(use_case.median),
        ms(use_case.p95)
    );
    println!("| {size:>6} |            | counters (HTTP, gateway) | {:.2} | {} | {} |", http.calls_per_read, ms(http.median), ms(http.p95));
    println!(
        "| {size:>6} |            | Query COUNT of OPEN (not used) | {:.2} | {} | {} |",
        by_query.calls_per_read,
        ms(by_query.median),
        ms(by_query.p95)
    );
    eprintln!(
        "{}",
        serde_json::json!({
            "tickets": size,
            "open": counts.open_tickets,
            "counters": { "dynamodb_calls_per_read": use_case.calls_per_read, "median_ms": use_case.median.as_secs_f64() * 1e3, "p95_ms": use_case.p95.as_secs_f64() * 1e3 },
            "http": { "dynamodb_calls_per_read": http.calls_per_read, "median_ms": http.median.as_secs_f64() * 1e3, "p95_ms": http.p95.as_secs_f64() * 1e3 },
            "query_count": { "dynamodb_calls_per_read": by_query.calls_per_read, "median_ms": by_query.median.as_secs_f64() * 1e3, "p95_ms": by_query.p95.as_secs_f64() * 1e3 },
        })
    );
}

#[tokio::main]
async fn main() {
    let import = std::env::args().any(|a| a == "--import");
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10, 10_000] } else { sizes };
    println!("{READS} sequential reads after {WARM_UP} warm-up reads, DynamoDB in moto (JSON per size on stderr)\n");
    println!("| tickets | fill time | read | DynamoDB calls / read | median | p95 |");
    println!("|---:|---:|---|---:|---:|---:|");
    for size in sizes {
        run(size, import).await;
    }
}
