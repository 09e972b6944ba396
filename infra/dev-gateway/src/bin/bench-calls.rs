//! The feedback calls' scheduler at scale (issue 11): `--orgs` organisations with `--calls` ready
//! calls each (10 × 1,000 by default), of which `--due` per organisation are due now and the rest
//! days away; every organisation may place `--due` calls at once. One scheduler minute
//! (`app::calls::dispatch_due_calls`, what the call-scheduler function runs) on DynamoDB and SQS
//! in moto must read what it can place, not the calls at large: it reports the AWS calls the run
//! made, the jobs it queued and its time (three runs: the first queues, the next two find the
//! same jobs, deduplicated by the queue).
//!
//! Usage: bench-calls [--orgs 10] [--calls 1000] [--due 50] [--concurrency 32]

use std::time::Instant;

use chrono::{Duration, Utc};
use futures::StreamExt;
use max_core::app::calls::{self, dispatch_due_calls};
use max_core::domain::call::ServiceRecordInput;
use max_core::domain::call_schedule::{CallWindow, ScheduleConfig};
use max_core::domain::workflow::DayOfWeek::*;
use max_core::telemetry::AwsCalls;
use max_dev::bench::arg;
use max_dev::testing::{TestOptions, TestStack};

#[tokio::main]
async fn main() {
    let (orgs, per_org, due, concurrency) = (arg("--orgs", 10), arg("--calls", 1000), arg("--due", 50), arg("--concurrency", 32) as usize);
    let (orgs, per_org, due) = (orgs as usize, per_org as usize, due as usize);
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let deps = &t.stack.deps;
    let now = Utc::now();
    let started = Instant::now();
    for o in 0..orgs {
        let org = format!("org_bench_{o:02}");
        let mut config = ScheduleConfig::default_for(&org, None);
        config.calling_days = vec![Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday];
        config.windows = vec![CallWindow::new("00:00", "24:00")];
        config.max_concurrent_calls = due as u32;
        calls::save_schedule_config(&*deps.store, &org, config, now).await.expect("schedule saved");
    }
    // The records: due ones serviced two days ago (first attempt 24 h after), the rest in ten days.
    let records = (0..orgs).flat_map(|o| (0..per_org).map(move |i| (o, i)));
    let created: usize = futures::stream::iter(records)
        .map(|(o, i)| async move {
            let input = ServiceRecordInput {
                customer_name: Some(format!("Customer {o}-{i}")),
                customer_phone: Some(format!("+1650{o:02}{i:05}")),
                appointment_date: Some(if i < due { now - Duration::days(2) } else { now + Duration::days(10) }),
                ..Default::default()
            };
            calls::create_service_record(&deps.call_ports(), &format!("org_bench_{o:02}"), input, now).await.expect("record created");
            1
        })
        .buffer_unordered(concurrency)
        .fold(0, |n, one| async move { n + one })
        .await;
    eprintln!("bench-calls: {created} records and their calls written in {:.1} s", started.elapsed().as_secs_f64());

    println!("\nMAX feedback calls' scheduler: {orgs} organisations × {per_org} ready calls, {due} due each (moto; {} build)\n", if cfg!(debug_assertions) { "debug" } else { "optimised" });
    for run in 1..=3 {
        let before = AwsCalls::now();
        let clock = Instant::now();
        let dispatched = dispatch_due_calls(&deps.call_ports(), &*deps.outbox, Utc::now()).await.expect("the scheduler's minute runs");
        let took = clock.elapsed();
        let calls = AwsCalls::now().since(&before);
        println!(
            "run {run}: queued {} dial jobs (given up {}) in {:.0} ms; AWS calls {} (dynamodb {}, sqs {}); {:.2} DynamoDB calls per organisation",
            dispatched.queued,
            dispatched.given_up,
            took.as_secs_f64() * 1000.0,
            calls.total(),
            calls.dynamodb,
            calls.sqs,
            calls.dynamodb as f64 / orgs as f64
        );
    }
    println!("calls on the queue: {} (the second and third runs' jobs are the first's, deduplicated by attempt)", t.queued("CallsQueue").await);
}
