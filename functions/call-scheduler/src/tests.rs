//! This function's `events/` sample through its handler, on the memory adapter.

use chrono::{DateTime, Duration, Utc};
use max_core::app::calls::{self, DialJob, Dispatched};
use max_core::config::Deps;
use max_core::domain::call::ServiceRecordInput;
use max_core::domain::call_schedule::{CallWindow, ScheduleConfig};
use max_core::ports::Queue;
use max_core::testing::{DEMO_ORG, sample_events};

#[tokio::test]
async fn its_minute_queues_the_call_due_inside_the_window_once() {
    // GIVEN the sample's minute (Tuesday 09:00 UTC), a weekday 09:00-12:00 schedule and a service
    // done on Monday morning, recorded with the customer's phone
    let [(_, text)] = sample_events("call-scheduler").try_into().expect("one sample");
    let event: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(event["detail-type"], "Scheduled Event");
    let minute: DateTime<Utc> = event["time"].as_str().unwrap().parse().unwrap();
    let (deps, world) = Deps::in_memory(minute - Duration::days(1));
    let mut config = ScheduleConfig::default_for(DEMO_ORG, None);
    config.windows = vec![CallWindow::new("09:00", "12:00")];
    calls::save_schedule_config(&*deps.store, DEMO_ORG, config, &max_core::domain::audit::AuditActor { user_id: "admin".into(), role: "admin".into() }, deps.clock.now()).await.unwrap();
    let service = ServiceRecordInput {
        customer_name: Some("Sheena Nelson".into()),
        customer_phone: Some("+16505551234".into()),
        appointment_date: Some(minute - Duration::days(1)),
        ..Default::default()
    };
    let record = calls::create_service_record(&deps.call_ports(), DEMO_ORG, service, deps.clock.now()).await.unwrap();
    // WHEN the schedule fires a minute early, then on the minute
    world.clock.advance(Duration::days(1) - Duration::minutes(1));
    assert_eq!(crate::run(&deps).await.unwrap(), Dispatched::default());
    world.clock.advance(Duration::minutes(1));
    let run = crate::run(&deps).await.unwrap();
    // THEN the call's first attempt is on the calls queue, once
    assert_eq!(run, Dispatched { queued: 1, given_up: 0, surveys_asked: 0 });
    let jobs = world.outbox.jobs(Queue::Calls);
    let job: DialJob = serde_json::from_str(&jobs[0].body).unwrap();
    assert_eq!((jobs.len(), job.call_id.as_str(), job.attempt), (1, record.call_id.as_deref().unwrap(), 1));
}
