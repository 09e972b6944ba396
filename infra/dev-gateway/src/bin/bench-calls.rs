//! The feedback calls' scheduler at scale (issue 11): `--orgs` organisations with `--calls` ready
//! calls each (10 × 1,000 by default), of which `--due` per organisation are due now and the rest
//! days away; every organisation may place `--due` calls at once. One scheduler minute
//! (`app::calls::dispatch_due_calls`, what the call-scheduler function runs) on DynamoDB and SQS
//! in moto must read what it can place, not the calls at large: it reports the AWS calls the run
//! made, the jobs it queued and its time (three runs: the first queues, the next two find the
//! same jobs, deduplicated by the queue).
//!
//! Then the dialer (call-dialer's handler, fed by the calls queue the way Lambda's event source
//! mapping feeds it, one batch per organisation at a time) places every job through Twilio's REST
//! API faked by wiremock (each create answered after `--twilio-ms`, 300 ms by default): it reports
//! how long after the scheduler's minute the last call was placed, the calls placed per
//! organisation against its cap (`--cap`, `--due` by default: a smaller cap leaves the rest ready
//! for the next minute), and the AWS calls per placed call.
//!
//! Usage: bench-calls [--orgs 10] [--calls 1000] [--due 50] [--cap 50] [--twilio-ms 300] [--concurrency 32]

use std::time::Instant;

use chrono::{Duration, Utc};
use futures::StreamExt;
use max_core::app::calls::{self, dispatch_due_calls};
use max_core::domain::call::ServiceRecordInput;
use max_core::domain::call_schedule::{CallWindow, ScheduleConfig};
use max_core::domain::workflow::DayOfWeek::*;
use max_core::telemetry::AwsCalls;
use max_dev::bench::arg;
use max_dev::seed;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};
use max_dev::testing::{TestOptions, TestStack};

#[tokio::main]
async fn main() {
    let (orgs, per_org, due, concurrency) = (arg("--orgs", 10), arg("--calls", 1000), arg("--due", 50), arg("--concurrency", 32) as usize);
    let (orgs, per_org, due) = (orgs as usize, per_org as usize, due as usize);
    let (cap, twilio_ms) = (arg("--cap", due as u64) as u32, arg("--twilio-ms", 300));
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let twilio = MockServer::start().await;
    let sids = std::sync::atomic::AtomicU64::new(0);
    Mock::given(method("POST"))
        .respond_with(move |_: &wiremock::Request| {
            let n = sids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({ "sid": format!("CA{n:032x}"), "status": "queued" }))
                .set_delay(std::time::Duration::from_millis(twilio_ms))
        })
        .mount(&twilio)
        .await;
    let t = TestStack::with(TestOptions { no_pollers: true, twilio_url: Some(twilio.uri()), ..Default::default() }).await;
    let deps = &t.stack.deps;
    let now = Utc::now();
    let started = Instant::now();
    for o in 0..orgs {
        let org = format!("org_bench_{o:02}");
        let mut config = ScheduleConfig::default_for(&org, None);
        config.calling_days = vec![Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday];
        config.windows = vec![CallWindow::new("00:00", "24:00")];
        config.max_concurrent_calls = cap;
        calls::save_schedule_config(&*deps.store, &org, config, &max_core::domain::audit::AuditActor { user_id: "admin".into(), role: "admin".into() }, now).await.expect("schedule saved");
        let account = seed::SeedOrg { id: org.clone(), display_phone_number: format!("1555010{o:04}"), ..seed::SeedOrg::demo() };
        seed::voice_account(deps, &account).await.expect("voice account registered");
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
    let minute = Instant::now();
    for run in 1..=3 {
        let before = AwsCalls::now();
        let ops_before = max_core::telemetry::calls_by_operation();
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
        println!("  by operation: {}", max_core::telemetry::operations_since(&ops_before, &max_core::telemetry::calls_by_operation()));
    }
    let queued = t.queued("CallsQueue").await;
    println!("calls on the queue: {queued} (a run in the same minute offers the same jobs, deduplicated by the queue; a later minute's offers are skipped by the claim)");

    // The dialer: call-dialer's handler on the calls queue, as Lambda runs it (batches of 10, one
    // in flight per organisation's message group, up to 10 invocations at once).
    let source = t.stack.template.queue_sources.iter().find(|s| s.binary == "call-dialer").expect("template.yaml feeds call-dialer from a queue");
    let mapping = max_dev::pollers::EventSourceMapping {
        stats: std::sync::Arc::new(max_dev::pollers::PollerStats::new("CallsQueue")),
        sqs: t.stack.sqs.clone(),
        queue_url: t.stack.resources.queue_urls[&source.queue_logical_id].clone(),
        queue_arn: t.stack.resources.queue_arns[&source.queue_logical_id].clone(),
        binary: "call-dialer".into(),
        batch_size: source.batch_size,
        deps: t.stack.deps.clone(),
        receivers: 2,
        max_concurrency: source.maximum_concurrency.unwrap_or(10),
        writes: t.stack.writes.clone(),
    };
    let expected = orgs * due.min(cap as usize);
    let before = AwsCalls::now();
    let ops_before = max_core::telemetry::calls_by_operation();
    let dialing = Instant::now();
    let tasks = mapping.start();
    let placed_all = loop {
        let placed = twilio.received_requests().await.map_or(0, |r| r.len());
        if placed >= expected {
            break Some(dialing.elapsed());
        }
        if dialing.elapsed() > std::time::Duration::from_secs(180) {
            eprintln!("bench-calls: only {placed} of {expected} placed after 180 s");
            break None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // Whatever is left on the queue (duplicates, jobs at the cap) is taken too before counting.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    for task in tasks {
        task.abort();
    }
    let calls = AwsCalls::now().since(&before);
    let ops = max_core::telemetry::operations_since(&ops_before, &max_core::telemetry::calls_by_operation());
    let placed = twilio.received_requests().await.map_or(0, |r| r.len());
    let mut in_flight = Vec::new();
    for o in 0..orgs {
        in_flight.push(deps.store.calls_in_flight(&format!("org_bench_{o:02}")).await.expect("in-flight counter"));
    }
    println!("\ndialer: Twilio answering each create after {twilio_ms} ms; cap {cap} calls in flight per organisation");
    match placed_all {
        Some(d) => println!(
            "placed {placed} of {} due calls: the last {:.1} s after the dialer started, {:.1} s after the scheduler's minute began",
            orgs * due,
            d.as_secs_f64(),
            (minute.elapsed() - dialing.elapsed() + d).as_secs_f64()
        ),
        None => println!("placed {placed} of {} due calls: NOT all within 180 s", orgs * due),
    }
    println!(
        "in flight per organisation (cap {cap}): min {} max {}; Twilio creates {placed} (never more than the caps allow: {})",
        in_flight.iter().min().copied().unwrap_or(0),
        in_flight.iter().max().copied().unwrap_or(0),
        orgs * cap as usize
    );
    println!(
        "dialer AWS calls: {} (dynamodb {}, secrets manager {}; sqs {}: the event source's receives and deletes); {:.2} DynamoDB calls per placed call",
        calls.total(),
        calls.dynamodb,
        calls.secrets_manager,
        calls.sqs,
        calls.dynamodb as f64 / placed.max(1) as f64
    );
    println!("dialer AWS calls by operation: {ops}");
}
