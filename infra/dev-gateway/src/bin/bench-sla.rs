//! The SLA scheduler at scale (issue 13): `--open` (10,000) open conversations with running SLA
//! clocks on DynamoDB in moto, `--due` (200) of them with their warning in this minute, the rest
//! spread over the next days. One scheduler run (its cursor at the minute before, as when it ran
//! a minute ago): the steps it took, the DynamoDB calls it made (counted by the SDK interceptor,
//! nothing else runs in this process) and its time. It fails unless it warned exactly the due
//! ones and made at most 3 calls per due conversation plus 4 (two minutes read, the cursor read
//! and written): proportional to what is due, never to what is open.
//!
//! Then routing (issue 13): `--queued` (50) conversations queued in a team with auto-assignment,
//! 3 online agents of capacity 5, routed 10 at a time: the assignments (exactly 15, none over
//! capacity) and the DynamoDB calls per conversation routed.
//!
//! Usage: bench-sla [--open 10000] [--due 200] [--queued 50]

use std::time::Instant;

use chrono::{Duration, DurationRound, TimeDelta, Utc};
use futures::stream::{self, StreamExt};
use max_core::app::sla::run_scheduler;
use max_core::domain::conversation::Conversation;
use max_core::domain::sla::SlaPolicy;
use max_core::telemetry::{AwsCalls, calls_by_operation, operations_since};
use max_dev::testing::{TestOptions, TestStack};
use serde_json::json;

#[tokio::main]
async fn main() {
    let (open, due) = (max_dev::bench::arg("--open", 10_000) as i64, max_dev::bench::arg("--due", 200) as i64);
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let store = t.stack.deps.store.clone();
    let org = t.org.seed.id.clone();
    // The run's instant: 50 s into a minute; the due warnings fall in that minute before it.
    let minute = Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap() + Duration::minutes(1);
    let now = minute + Duration::seconds(50);
    let policy: SlaPolicy = serde_json::from_value(json!({
        "id": "01BENCHPOLICY", "org_id": org, "name": "bench", "counted_in": "calendar",
        "targets": { "first_response_seconds": 600 }, "warning_percent": 50, "version": 1
    }))
    .unwrap();

    // first message at `first`: warning 300 s later.
    let conversation = |n: i64| -> Conversation {
        let first = if n < due { minute - Duration::seconds(300) + Duration::seconds(n % 50) } else { now + Duration::minutes(2 + n) };
        let mut c: Conversation = serde_json::from_value(json!({
            "id": format!("CB{n:06}"), "org_id": org, "customer_id": format!("cu{n}"), "channel": "whatsapp",
            "phone_number_id": t.org.seed.phone_number_id, "customer_address": format!("1650555{n:06}"), "status": "open",
            "created_at": first, "updated_at": first, "last_message_at": first, "version": 1
        }))
        .unwrap();
        c.sla = Some(max_core::domain::sla::ConversationSla::new(policy.clone()));
        c.customer_wrote(first, first, None);
        c
    };
    let seeding = Instant::now();
    stream::iter(0..open)
        .for_each_concurrent(32, |n| {
            let store = store.clone();
            let c = conversation(n);
            async move { store.save_conversation(&c).await.expect("conversation stored") }
        })
        .await;
    eprintln!("bench-sla: {open} open conversations with clocks seeded in {:.1} s", seeding.elapsed().as_secs_f64());
    store.save_sla_cursor(minute - Duration::minutes(1)).await.expect("cursor");

    let ports = t.stack.deps.sla_ports();
    let (before, ops_before) = (AwsCalls::now(), calls_by_operation());
    let clock = Instant::now();
    let run = run_scheduler(&ports, now).await.expect("the run");
    let elapsed = clock.elapsed();
    let calls = AwsCalls::now().since(&before);
    println!(
        "\nMAX SLA scheduler: {open} open conversations with clocks, {due} due this minute (moto; {} build)\n",
        if cfg!(debug_assertions) { "debug" } else { "optimised" }
    );
    println!("run: {} minutes read, {} due, {} warnings, {} breaches, {} escalations in {:.0} ms", run.minutes, run.due, run.warnings, run.breaches, run.escalations, elapsed.as_secs_f64() * 1000.0);
    println!("DynamoDB calls: {} ({:.2} per due conversation; {})", calls.dynamodb, calls.dynamodb as f64 / due.max(1) as f64, operations_since(&ops_before, &calls_by_operation()));
    // A second run in the same minute finds nothing more.
    let before = AwsCalls::now();
    let again = run_scheduler(&ports, now + Duration::seconds(5)).await.expect("the second run");
    println!("second run: {} warnings, {} DynamoDB calls", again.warnings, AwsCalls::now().since(&before).dynamodb);
    let sample = store.conversation(&org, "CB000000").await.unwrap().unwrap();
    let mut failed = false;
    if run.warnings as i64 != due || again.warnings != 0 || !sample.sla.as_ref().is_some_and(|s| s.frt.as_ref().is_some_and(|c| c.warned)) {
        eprintln!("bench-sla: {} warnings (then {}), {due} due", run.warnings, again.warnings);
        failed = true;
    }
    if calls.dynamodb as i64 > 3 * due + 4 {
        eprintln!("bench-sla: {} DynamoDB calls for {due} due conversations, more than 3 each + 4", calls.dynamodb);
        failed = true;
    }
    failed |= !bench_routing(&t, max_dev::bench::arg("--queued", 50) as i64).await;
    if failed {
        std::process::exit(1);
    }
}

/// Routes `queued` conversations of a team with auto-assignment to 3 online agents of capacity
/// 5, 10 at a time; true when exactly the places were taken.
async fn bench_routing(t: &TestStack, queued: i64) -> bool {
    use max_core::domain::agent::{Agent, AgentInput, Availability};
    use max_core::domain::team::{Team, TeamInput};
    let store = t.stack.deps.store.clone();
    let org = t.org.seed.id.clone();
    let now = Utc::now();
    let team = Team::new("01BENCHTEAM".into(), &org, TeamInput { name: "bench".into(), description: None, auto_assign: true, after_hours_reply: None }, now).unwrap();
    store.create_team(&team, None).await.expect("team");
    for id in ["bench_a", "bench_b", "bench_c"] {
        let input = AgentInput { user_id: id.into(), name: id.into(), team_ids: vec![team.id.clone()], skills: Default::default(), languages: vec![], capacity: 5 };
        let agent = Agent::new(&org, input, now).unwrap();
        store.create_agent(&agent, None).await.expect("agent");
        store.save_agent(&agent.with_availability(Availability::Online, now).unwrap(), None).await.expect("online");
    }
    let waiting: Vec<Conversation> = (0..queued)
        .map(|n| {
            serde_json::from_value::<Conversation>(json!({
                "id": format!("CQ{n:06}"), "org_id": org, "customer_id": format!("cq{n}"), "channel": "whatsapp",
                "phone_number_id": t.org.seed.phone_number_id, "customer_address": format!("1650666{n:06}"), "status": "queued",
                "team_id": team.id, "created_at": now, "updated_at": now, "last_message_at": now + Duration::seconds(n), "version": 1
            }))
            .unwrap()
        })
        .collect();
    for c in &waiting {
        store.save_conversation(c).await.expect("queued conversation");
    }
    let routing = t.stack.deps.routing_ports();
    let (before, ops_before) = (AwsCalls::now(), calls_by_operation());
    let clock = Instant::now();
    let routed: Vec<Conversation> = stream::iter(waiting)
        .map(|c| {
            let routing = routing;
            async move { max_core::app::routing::route(&routing, c, None, now).await.expect("routed") }
        })
        .buffer_unordered(10)
        .collect()
        .await;
    let elapsed = clock.elapsed();
    let calls = AwsCalls::now().since(&before);
    let assigned = routed.iter().filter(|c| c.assignee_id.is_some()).count() as i64;
    let agents = store.agents(&org).await.expect("agents");
    let counts: Vec<i64> = agents.iter().filter(|a| a.id.starts_with("bench_")).map(|a| a.open_count).collect();
    println!(
        "\nrouting: {queued} queued, 10 at a time, 3 agents of capacity 5: {assigned} assigned, {} still queued in {:.0} ms; open counts {counts:?}",
        queued - assigned,
        elapsed.as_secs_f64() * 1000.0
    );
    println!("DynamoDB calls: {} ({:.2} per conversation routed; {})", calls.dynamodb, calls.dynamodb as f64 / queued.max(1) as f64, operations_since(&ops_before, &calls_by_operation()));
    let ok = assigned == queued.min(15) && counts.iter().all(|&c| c <= 5) && counts.iter().sum::<i64>() == assigned;
    if !ok {
        eprintln!("bench-sla: routing assigned {assigned} of {queued}, open counts {counts:?}");
    }
    ok
}
