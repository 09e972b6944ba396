//! Campaign start throughput (issue 16): `--customers` (1,000) customers of the test organisation
//! on DynamoDB in moto; `--runs` (3) campaigns of all of them, each created through the use case
//! (the campaign stored, its page jobs queued on SQS, as `POST /v1/campaigns` does) and its pages
//! run in this process as the next-step worker runs them, `--workers` (1) pages at a time.
//! Reported: customers started per second per run and their median, and the AWS calls per
//! customer (counted by the SDK interceptor; nothing else runs in this process). Each run then
//! runs its first page again and fails unless that starts nobody and writes nothing but reads.
//!
//! Usage: bench-campaigns [--customers 1000] [--runs 3] [--workers 1]

use std::time::Instant;

use futures::stream::{self, StreamExt};
use max_core::app::campaigns::{self, PageOutcome};
use max_core::app::interactions::{Actor, templates};
use max_core::domain::campaign::{Audience, NewCampaign};
use max_core::domain::customer::NewCustomer;
use max_core::telemetry::{AwsCalls, calls_by_operation, operations_since};
use max_dev::testing::{TestOptions, TestStack};
use serde_json::json;

#[tokio::main]
async fn main() {
    let customers = max_dev::bench::arg("--customers", 1_000) as usize;
    let runs = max_dev::bench::arg("--runs", 3) as usize;
    let workers = max_dev::bench::arg("--workers", 1) as usize;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // No pollers: the page jobs the create queues stay on the queue; this process runs the pages.
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let store = t.stack.deps.store.clone();
    let org = t.org.seed.id.clone();
    let now = chrono::Utc::now();

    let seeding = Instant::now();
    let ids: Vec<String> = stream::iter(0..customers)
        .map(|n| {
            let store = store.clone();
            let org = org.clone();
            async move {
                let input: NewCustomer = serde_json::from_value(json!({ "name": format!("Bench Customer {n}") })).unwrap();
                max_core::app::customers::create(&*store, &org, &input, "bench", now).await.expect("customer stored").id
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    eprintln!("bench-campaigns: {customers} customers seeded in {:.1} s", seeding.elapsed().as_secs_f64());
    let template = templates(&*store, &org, now).await.expect("templates")[0].id.clone();
    let admin = format!("{org}_admin");
    let actor = Actor { org_id: &org, user_id: &admin };
    let ports = t.stack.deps.campaign_ports();

    println!(
        "\nMAX campaign start: {customers} customers, pages of {} run {workers} at a time (moto; {} build)\n",
        max_core::domain::campaign::PAGE_SIZE,
        if cfg!(debug_assertions) { "debug" } else { "optimised" }
    );
    let mut rates = Vec::new();
    for run in 1..=runs {
        let request: NewCampaign = serde_json::from_value(json!({ "name": format!("bench {run}"), "workflow_template_id": template, "customer_ids": ids })).unwrap();
        let (before, ops_before) = (AwsCalls::now(), calls_by_operation());
        let clock = Instant::now();
        let campaign = campaigns::create(&ports, &actor, request, None, chrono::Utc::now()).await.expect("campaign created").0;
        let accepted = clock.elapsed();
        let jobs = campaigns::page_jobs(&campaign, &Audience::Customers(ids.clone()));
        let outcomes: Vec<PageOutcome> = stream::iter(jobs.iter())
            .map(|job| {
                let ports = &ports;
                async move { campaigns::start_page(ports, job, chrono::Utc::now()).await.expect("page started") }
            })
            .buffer_unordered(workers)
            .collect()
            .await;
        let elapsed = clock.elapsed().as_secs_f64();
        let calls = AwsCalls::now().since(&before);
        let started: usize = outcomes.iter().map(|o| o.started).sum();
        let stored = campaigns::get(ports.campaigns, &org, &campaign.id).await.expect("campaign read");
        assert_eq!((started, stored.started as usize, stored.status), (customers, customers, Some(max_core::domain::campaign::CampaignStatus::Started)), "run {run}");
        let rate = customers as f64 / elapsed;
        rates.push(rate);
        println!(
            "run {run}: {customers} started in {:.2} s ({rate:.0} customers/s; API answered in {:.0} ms); AWS calls {} ({:.3} per customer: DynamoDB {}, SQS {}; {})",
            elapsed,
            accepted.as_secs_f64() * 1000.0,
            calls.dynamodb + calls.sqs,
            (calls.dynamodb + calls.sqs) as f64 / customers as f64,
            calls.dynamodb,
            calls.sqs,
            operations_since(&ops_before, &calls_by_operation())
        );
        // The first page delivered again: nobody started twice, nothing written.
        let ops_before = calls_by_operation();
        let again = campaigns::start_page(&ports, &jobs[0], chrono::Utc::now()).await.expect("page again");
        let after = campaigns::get(ports.campaigns, &org, &campaign.id).await.expect("campaign read");
        assert_eq!((again.started, again.already, after.started), (0, jobs[0].customer_ids.len(), customers as i64), "run {run}: a page delivered again");
        println!("  first page again: {} already started, 0 started ({})", again.already, operations_since(&ops_before, &calls_by_operation()));
    }
    rates.sort_by(f64::total_cmp);
    println!("\nmedian of {runs} runs: {:.0} customers/s", rates[rates.len() / 2]);
}
