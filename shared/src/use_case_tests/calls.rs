//! Feedback calls on the memory store: records create their calls at the schedule's time, the
//! scheduler reads only what it can place, each attempt is placed once, outcomes apply once,
//! misses retry then fall back to WhatsApp, NPS counters move with completions.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::{CUSTOMER, NUMBER, ORG, OTHER_ORG, World, admin_actor, assert_conflict, assert_not_found, job, text_webhook};
use crate::app::bot::{BotOutcome, on_received, seed_defaults};
use crate::app::calls::{self, CallPorts, Claim, DialJob, NewCallRequest};
use crate::app::inbound::{Received, process_job};
use crate::domain::bot::BotReply;
use crate::domain::message::Message;
use crate::domain::outbound::OutboundContent;
use crate::domain::call::{CallChange, CallEnd, CallStatus, CompletedVia, MissReason, NpsGrouping, ProviderResult, ServiceRecordInput};
use crate::domain::call_schedule::{CallWindow, ScheduleConfig};
use crate::domain::event::EventKind;
use crate::error::Error;
use crate::ports::{CallFilter, CallStore, ConversationStore, CustomerStore, PageRequest, Queue};

/// Monday 2025-06-09 at `h:m` UTC.
fn monday(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 9, h, m, 0).unwrap()
}

fn ports(w: &World) -> CallPorts<'_> {
    w.deps.call_ports()
}

fn page(limit: i32, cursor: Option<String>) -> PageRequest {
    PageRequest { limit, cursor }
}

/// GIVEN the organisation's schedule: UTC, weekdays 09:00–12:00, 24 h after the service, two
/// attempts 2 h apart, `cap` calls at once, WhatsApp fallback on.
async fn given_schedule(w: &World, cap: u32) -> ScheduleConfig {
    let mut config = ScheduleConfig::default_for(ORG, None);
    config.windows = vec![CallWindow::new("09:00", "12:00")];
    config.max_concurrent_calls = cap;
    calls::save_schedule_config(w.store(), ORG, config, &admin_actor(), monday(8, 0)).await.unwrap()
}

fn record(phone: &str, advisor: &str) -> ServiceRecordInput {
    ServiceRecordInput {
        customer_name: Some("Sheena Nelson".into()),
        customer_phone: Some(phone.into()),
        service_type: Some("oil change".into()),
        service_advisor_id: Some(advisor.into()),
        appointment_date: Some(monday(9, 0)),
        ..Default::default()
    }
}

/// The ready call a new record created.
async fn given_ready_call(w: &World, phone: &str) -> String {
    let r = calls::create_service_record(&ports(w), ORG, record(phone, "adv-1"), monday(10, 0)).await.unwrap();
    r.call_id.expect("a record with a phone has a call")
}

fn end(result: ProviderResult, at: DateTime<Utc>) -> CallEnd {
    CallEnd { provider_call_id: Some("CA1".into()), result, answered_at: Some(at - Duration::seconds(47)), ended_at: at, duration_sec: Some(47) }
}

/// WHEN the scheduler runs at `now` and the dialer claims and places every job.
async fn dial_due(w: &World, now: DateTime<Utc>) -> Vec<DialJob> {
    let jobs = calls::take_due_calls(w.store(), now).await.unwrap();
    for job in &jobs {
        assert!(matches!(calls::claim(w.store(), job, now).await.unwrap(), Claim::Place { .. }));
        calls::record_placement(&ports(w), job, "CA1", now).await.unwrap();
    }
    jobs
}

#[tokio::test(start_paused = true)]
async fn a_service_record_with_a_phone_creates_its_call_ready_at_the_configured_time() {
    // GIVEN the schedule
    let w = World::new();
    given_schedule(&w, 5).await;
    // WHEN a service done Monday 09:00 is recorded with a phone as people type it
    let r = calls::create_service_record(&ports(&w), ORG, record("+1 650-555-1234", "adv-1"), monday(10, 0)).await.unwrap();
    // THEN the record has the E.164 phone, a customer found by that number, and a ready call due
    // 24 h after the service, inside the window: Tuesday 09:00
    assert_eq!(r.customer_phone.as_deref(), Some("+16505551234"));
    let call = calls::get(w.store(), ORG, r.call_id.as_deref().unwrap()).await.unwrap();
    assert_eq!((call.status, call.due_at), (CallStatus::Ready, Some(monday(9, 0) + Duration::days(1))));
    assert_eq!((call.service_advisor_id.as_deref(), call.service_record_id.as_deref()), (Some("adv-1"), Some(r.id.as_str())));
    let identity = w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().expect("the customer is registered by phone");
    assert_eq!(Some(identity.customer_id.clone()), r.customer_id);
    assert_eq!(call.customer_id, r.customer_id);
    // AND a second record for the same phone finds the same customer
    let again = calls::create_service_record(&ports(&w), ORG, record("+16505551234", "adv-2"), monday(10, 5)).await.unwrap();
    assert_eq!(again.customer_id, r.customer_id);
    // AND the feed says the calls are ready
    assert_eq!(w.events_of(ORG, EventKind::CallReady).await.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_customer_who_wrote_on_whatsapp_is_the_one_a_record_finds() {
    let w = World::new().with_channel(None).await;
    let received = w.given_conversation().await;
    let r = calls::create_service_record(&ports(&w), ORG, record("+16505551234", "adv-1"), monday(10, 0)).await.unwrap();
    assert_eq!(r.customer_id.as_deref(), Some(received.conversation.customer_id.as_str()));
}

#[tokio::test(start_paused = true)]
async fn no_phone_or_do_not_call_makes_no_call_and_opting_out_later_cancels_it() {
    let w = World::new();
    let no_phone = calls::create_service_record(&ports(&w), ORG, ServiceRecordInput::default(), monday(10, 0)).await.unwrap();
    assert_eq!(no_phone.call_id, None);
    let opted_out = calls::create_service_record(&ports(&w), ORG, ServiceRecordInput { do_not_call: true, ..record("+16505551234", "a") }, monday(10, 0)).await.unwrap();
    assert_eq!(opted_out.call_id, None);
    // GIVEN a record whose call is ready; WHEN the customer opts out
    let r = calls::create_service_record(&ports(&w), ORG, record("+16505551235", "a"), monday(10, 0)).await.unwrap();
    let changed = calls::update_service_record(&ports(&w), ORG, &r.id, ServiceRecordInput { do_not_call: true, ..record("+16505551235", "a") }, monday(10, 1)).await.unwrap();
    // THEN the call is cancelled and the scheduler never sees it
    assert_eq!(changed.version, 2);
    assert_eq!(calls::get(w.store(), ORG, r.call_id.as_deref().unwrap()).await.unwrap().status, CallStatus::Cancelled);
    assert!(calls::take_due_calls(w.store(), monday(9, 0) + Duration::days(1)).await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_refused_naming_the_field() {
    let w = World::new();
    let bad = calls::create_service_record(&ports(&w), ORG, record("555-1234", "a"), monday(10, 0)).await;
    assert!(matches!(bad, Err(Error::Invalid { field, .. }) if field == "customer_phone"));
    let mut config = ScheduleConfig::default_for(ORG, None);
    config.windows = vec![CallWindow::new("12:00", "09:00")];
    let bad = calls::save_schedule_config(w.store(), ORG, config, &admin_actor(), monday(8, 0)).await;
    assert!(matches!(bad, Err(Error::Invalid { field, .. }) if field == "windows[0].end"));
}

#[tokio::test(start_paused = true)]
async fn the_schedule_config_is_saved_over_the_version_read() {
    let w = World::new();
    let first = given_schedule(&w, 5).await;
    assert_eq!(first.version, 1);
    assert_eq!(calls::schedule_config(w.store(), ORG, None).await.unwrap(), first);
    // Two admins edit version 1: the second one to save gets a 409.
    let second = calls::save_schedule_config(w.store(), ORG, first.clone(), &admin_actor(), monday(8, 1)).await.unwrap();
    assert_eq!(second.version, 2);
    assert_conflict(calls::save_schedule_config(w.store(), ORG, first, &admin_actor(), monday(8, 2)).await, "2");
    // A campaign without its own config follows the organisation's; with one, its own.
    assert_eq!(calls::schedule_config(w.store(), ORG, Some("spring")).await.unwrap().version, 2);
}

#[tokio::test(start_paused = true)]
async fn lists_filter_and_page_with_cursors() {
    // GIVEN five ready calls, two of advisor adv-2
    let w = World::new();
    given_schedule(&w, 5).await;
    for (i, advisor) in ["adv-1", "adv-2", "adv-1", "adv-2", "adv-1"].iter().enumerate() {
        let mut input = record(&format!("+1650555123{i}"), advisor);
        input.appointment_date = Some(monday(9, 0) + Duration::minutes(i as i64));
        calls::create_service_record(&ports(&w), ORG, input, monday(10, 0)).await.unwrap();
    }
    // WHEN the ready list is read two at a time
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = calls::list(w.store(), ORG, &CallFilter::of(CallStatus::Ready), &page(2, cursor)).await.unwrap();
        seen.extend(p.items);
        cursor = p.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    // THEN every call comes once, soonest due first
    assert_eq!(seen.len(), 5);
    assert!(seen.windows(2).all(|p| p[0].due_at <= p[1].due_at));
    // AND filters narrow it; another organisation sees nothing; a bad range is refused by name
    let adv2 = CallFilter { advisor_id: Some("adv-2".into()), ..CallFilter::of(CallStatus::Ready) };
    assert_eq!(calls::list(w.store(), ORG, &adv2, &page(10, None)).await.unwrap().items.len(), 2);
    assert!(calls::list(w.store(), OTHER_ORG, &CallFilter::of(CallStatus::Ready), &page(10, None)).await.unwrap().items.is_empty());
    assert!(calls::list(w.store(), ORG, &CallFilter::of(CallStatus::Completed), &page(10, None)).await.unwrap().items.is_empty());
    let bad = CallFilter { nps_min: Some(9), nps_max: Some(6), ..CallFilter::of(CallStatus::Completed) };
    assert!(matches!(calls::list(w.store(), ORG, &bad, &page(10, None)).await, Err(Error::Invalid { field, .. }) if field == "nps_max"));
    assert_not_found(calls::get(w.store(), OTHER_ORG, &seen[0].id).await, "call");
}

#[tokio::test(start_paused = true)]
async fn the_scheduler_takes_only_due_calls_inside_the_window_up_to_the_cap() {
    // GIVEN five calls due Tuesday 09:00 and a cap of two
    let w = World::new();
    given_schedule(&w, 2).await;
    for i in 0..5 {
        given_ready_call(&w, &format!("+1650555123{i}")).await;
    }
    let tuesday = |h, m| monday(h, m) + Duration::days(1);
    // WHEN the scheduler runs before they are due, or after the window closed: nothing
    assert!(calls::take_due_calls(w.store(), tuesday(8, 59)).await.unwrap().is_empty());
    assert!(calls::take_due_calls(w.store(), tuesday(12, 0)).await.unwrap().is_empty(), "a late scheduler waits for the next window");
    // WHEN it runs inside the window: two jobs, the cap
    let jobs = dial_due(&w, tuesday(9, 0)).await;
    assert_eq!(jobs.len(), 2);
    assert_eq!(w.store().calls_in_flight(ORG).await.unwrap(), 2);
    // THEN the next minute takes nothing while both are in flight
    assert!(calls::take_due_calls(w.store(), tuesday(9, 1)).await.unwrap().is_empty());
    // AND a dialer racing past the cap is told to wait, writing nothing
    let ready = calls::list(w.store(), ORG, &CallFilter::of(CallStatus::Ready), &page(10, None)).await.unwrap().items;
    assert_eq!(calls::claim(w.store(), &DialJob::of(&ready[0]), tuesday(9, 1)).await.unwrap(), Claim::AtCapacity);
    assert_eq!(calls::get(w.store(), ORG, &ready[0].id).await.unwrap().status, CallStatus::Ready);
    // WHEN one call ends, one slot frees
    calls::apply_call_end(&ports(&w), &jobs[0], &end(ProviderResult::Busy, tuesday(9, 2))).await.unwrap();
    assert_eq!(calls::take_due_calls(w.store(), tuesday(9, 3)).await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_schedulers_minute_gives_up_the_silent_then_queues_what_fits_ten_jobs_a_request() {
    // GIVEN twelve calls due Tuesday 09:00 and room for eleven at once
    let w = World::new();
    given_schedule(&w, 11).await;
    for i in 0..12 {
        given_ready_call(&w, &format!("+165055512{i:02}")).await;
    }
    let tuesday = |h, m| monday(h, m) + Duration::days(1);
    // WHEN the scheduler's minute runs before the window: nothing queued
    let before = calls::dispatch_due_calls(&ports(&w), w.outbox(), tuesday(8, 59)).await.unwrap();
    assert_eq!(before, calls::Dispatched { queued: 0, given_up: 0, surveys_asked: 0 });
    // WHEN it runs inside it: eleven jobs (two queue requests: the memory queue refuses more
    // than ten at once, as SQS does), each the organisation's and named by its attempt and minute
    let first = calls::dispatch_due_calls(&ports(&w), w.outbox(), tuesday(9, 0)).await.unwrap();
    assert_eq!(first, calls::Dispatched { queued: 11, given_up: 0, surveys_asked: 0 });
    let jobs = w.outbox().jobs(Queue::Calls);
    assert_eq!(jobs.len(), 11);
    assert!(jobs.iter().all(|j| j.group_id.as_deref() == Some(ORG) && j.dedup_id.as_deref().is_some_and(|d| d.starts_with("call:") && d.contains(":1:"))));
    // GIVEN the dialer claimed one and died before the provider answered
    let job: DialJob = serde_json::from_str(&jobs[0].body).unwrap();
    assert!(matches!(calls::claim(w.store(), &job, tuesday(9, 0)).await.unwrap(), Claim::Place { .. }));
    // WHEN the minute runs after 15 minutes of silence
    let later = calls::dispatch_due_calls(&ports(&w), w.outbox(), tuesday(9, 16)).await.unwrap();
    // THEN the silent call is given up (retried later) and its slot is used by the ready ones:
    // the ten the dialer had not taken (the same jobs again) and the twelfth
    assert_eq!(later, calls::Dispatched { queued: 11, given_up: 1, surveys_asked: 0 });
    assert_eq!(calls::get(w.store(), ORG, &job.call_id).await.unwrap().miss_reason, Some(MissReason::Failed));
    // (offered again in a later minute: new jobs, which the dialer's claim makes harmless)
    assert_eq!(w.outbox().jobs(Queue::Calls).len(), 22, "eleven offers a minute");
}

#[tokio::test(start_paused = true)]
async fn a_job_delivered_twice_places_one_call() {
    let w = World::new();
    given_schedule(&w, 5).await;
    let id = given_ready_call(&w, "+16505551234").await;
    let now = monday(9, 0) + Duration::days(1);
    let job = calls::take_due_calls(w.store(), now).await.unwrap().remove(0);
    assert_eq!(job, DialJob { org_id: ORG.into(), call_id: id.clone(), attempt: 1 });
    assert!(matches!(calls::claim(w.store(), &job, now).await.unwrap(), Claim::Place { .. }));
    // WHEN the same job comes again (SQS redelivery, or a second dialer)
    assert_eq!(calls::claim(w.store(), &job, now).await.unwrap(), Claim::Skip);
    assert_eq!(w.store().calls_in_flight(ORG).await.unwrap(), 1, "one slot taken");
    // AND a job for a call that does not exist (deleted meanwhile) places nothing
    assert_eq!(calls::claim(w.store(), &DialJob { call_id: "nope".into(), ..job.clone() }, now).await.unwrap(), Claim::Skip);
    // AND the scheduler's offers of the attempt are one job a minute
    let offer = |at| job.offered_in_minute_of(at).dedup_id;
    assert_eq!(offer(now), offer(now + Duration::seconds(59)));
    assert_ne!(offer(now), offer(now + Duration::minutes(1)));
}

#[tokio::test(start_paused = true)]
async fn answered_with_a_score_completes_the_call_once_and_moves_nps() {
    // GIVEN a placed call
    let w = World::new();
    given_schedule(&w, 5).await;
    given_ready_call(&w, "+16505551234").await;
    let now = monday(9, 0) + Duration::days(1);
    let job = dial_due(&w, now).await.remove(0);
    // WHEN the customer keys 9, says something, and the call completes
    calls::record_answers(&ports(&w), &job, Some("CA1"), Some(9), None, now + Duration::seconds(20)).await.unwrap();
    calls::record_answers(&ports(&w), &job, Some("CA1"), None, Some("The wait was long."), now + Duration::seconds(40)).await.unwrap();
    let (call, change) = calls::apply_call_end(&ports(&w), &job, &end(ProviderResult::Completed { machine: false }, now + Duration::minutes(1))).await.unwrap();
    // THEN it is completed with NPS 9, the transcript and the duration
    assert_eq!(change, CallChange::Completed);
    assert_eq!((call.status, call.nps_score, call.duration_sec), (CallStatus::Completed, Some(9), Some(47)));
    assert_eq!(call.transcript.as_deref(), Some("The wait was long."));
    assert_eq!(w.store().calls_in_flight(ORG).await.unwrap(), 0);
    let day = NaiveDate::from_ymd_opt(2025, 6, 10).unwrap();
    let report = calls::nps(w.store(), ORG, day, day, Some(NpsGrouping::Advisor)).await.unwrap();
    assert_eq!((report.total.promoters, report.total.responses, report.total.nps), (1, 1, Some(100.0)));
    assert_eq!(report.groups[0].group, "adv-1");
    // AND the same callback again changes nothing: no second count, no second event
    let (again, change) = calls::apply_call_end(&ports(&w), &job, &end(ProviderResult::Completed { machine: false }, now + Duration::minutes(1))).await.unwrap();
    assert_eq!((change, again.version), (CallChange::Unchanged, call.version));
    assert_eq!(calls::nps(w.store(), ORG, day, day, None).await.unwrap().total.responses, 1);
    assert_eq!(w.events_of(ORG, EventKind::CallCompleted).await.len(), 1);
    assert_eq!(w.events_of(ORG, EventKind::CallStarted).await.len(), 1);
    // AND the completed list finds it by NPS range
    let promoters = CallFilter { nps_min: Some(9), ..CallFilter::of(CallStatus::Completed) };
    assert_eq!(calls::list(w.store(), ORG, &promoters, &page(10, None)).await.unwrap().items.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn missed_twice_becomes_a_whatsapp_survey_whose_answer_completes_the_call() {
    // GIVEN a call placed Tuesday 09:00
    let w = World::new();
    given_schedule(&w, 5).await;
    let id = given_ready_call(&w, "+16505551234").await;
    let tuesday = |h, m| monday(h, m) + Duration::days(1);
    let first = dial_due(&w, tuesday(9, 0)).await.remove(0);
    // WHEN nobody answers: ready again two hours later, inside the window
    let (call, change) = calls::apply_call_end(&ports(&w), &first, &end(ProviderResult::NoAnswer, tuesday(9, 1))).await.unwrap();
    assert_eq!(change, CallChange::Rescheduled);
    assert_eq!((call.status, call.due_at, call.miss_reason), (CallStatus::Ready, Some(tuesday(11, 1)), Some(MissReason::NoAnswer)));
    assert!(calls::take_due_calls(w.store(), tuesday(11, 0)).await.unwrap().is_empty(), "spaced");
    // WHEN the second attempt is not answered either
    let second = dial_due(&w, tuesday(11, 1)).await.remove(0);
    assert_eq!(second.attempt, 2);
    let (call, change) = calls::apply_call_end(&ports(&w), &second, &end(ProviderResult::NoAnswer, tuesday(11, 2))).await.unwrap();
    // THEN it is missed for good, the WhatsApp survey asked for, and listed as missed
    assert_eq!(change, CallChange::Missed { fallback: true });
    assert_eq!((call.status, call.attempts), (CallStatus::Missed, 2));
    assert!(call.fallback.is_some());
    assert_eq!(calls::list(w.store(), ORG, &CallFilter::of(CallStatus::Missed), &page(10, None)).await.unwrap().items.len(), 1);
    assert_eq!(w.events_of(ORG, EventKind::CallMissed).await.len(), 1);
    // WHEN the customer answers 3 on WhatsApp (and the answer comes twice)
    let done = calls::complete_by_whatsapp(&ports(&w), ORG, &id, 3, Some("Too slow."), tuesday(15, 0)).await.unwrap();
    calls::complete_by_whatsapp(&ports(&w), ORG, &id, 3, Some("Too slow."), tuesday(15, 1)).await.unwrap();
    // THEN the call is completed via WhatsApp and NPS counts one detractor
    assert_eq!((done.status, done.completed_via, done.nps_score), (CallStatus::Completed, Some(CompletedVia::Whatsapp), Some(3)));
    let day = NaiveDate::from_ymd_opt(2025, 6, 10).unwrap();
    let total = calls::nps(w.store(), ORG, day, day, None).await.unwrap().total;
    assert_eq!((total.detractors, total.responses, total.nps), (1, 1, Some(-100.0)));
}

#[tokio::test(start_paused = true)]
async fn a_missed_call_is_retried_by_hand_and_a_ready_one_is_not() {
    let w = World::new();
    given_schedule(&w, 5).await;
    let id = given_ready_call(&w, "+16505551234").await;
    assert_conflict(calls::retry(&ports(&w), ORG, &id, monday(11, 0)).await, "ready");
    let tuesday = |h, m| monday(h, m) + Duration::days(1);
    // Two busy attempts: 09:00, then 2 h after the first one ended (09:01).
    for (at, n) in [(tuesday(9, 0), 1), (tuesday(11, 1), 2)] {
        let job = dial_due(&w, at).await.remove(0);
        assert_eq!(job.attempt, n);
        calls::apply_call_end(&ports(&w), &job, &end(ProviderResult::Busy, at + Duration::minutes(1))).await.unwrap();
    }
    let retried = calls::retry(&ports(&w), ORG, &id, tuesday(11, 30)).await.unwrap();
    assert_eq!((retried.status, retried.due_at), (CallStatus::Ready, Some(tuesday(11, 30))));
    let third = dial_due(&w, tuesday(11, 30)).await.remove(0);
    assert_eq!(third.attempt, 3);
    assert_conflict(calls::cancel(&ports(&w), ORG, &id, tuesday(11, 31)).await, "in_progress");
}

#[tokio::test(start_paused = true)]
async fn a_call_that_hears_nothing_is_given_up_and_frees_its_slot() {
    let w = World::new();
    given_schedule(&w, 1).await;
    given_ready_call(&w, "+16505551234").await;
    let now = monday(9, 0) + Duration::days(1);
    // GIVEN a dialer that claimed the call and died before the provider
    let job = calls::take_due_calls(w.store(), now).await.unwrap().remove(0);
    assert!(matches!(calls::claim(w.store(), &job, now).await.unwrap(), Claim::Place { .. }));
    // WHEN the sweep runs before and after 15 minutes of silence
    assert!(calls::give_up_stale_calls(&ports(&w), now + Duration::minutes(14)).await.unwrap().is_empty());
    let given_up = calls::give_up_stale_calls(&ports(&w), now + Duration::minutes(16)).await.unwrap();
    // THEN it is missed as failed, retried later, and the slot is free
    assert_eq!(given_up.len(), 1);
    assert_eq!((given_up[0].0.miss_reason, given_up[0].1), (Some(MissReason::Failed), CallChange::Rescheduled));
    assert_eq!(w.store().calls_in_flight(ORG).await.unwrap(), 0);
    // AND a late callback of that attempt changes nothing
    let (_, change) = calls::apply_call_end(&ports(&w), &job, &end(ProviderResult::Completed { machine: false }, now + Duration::minutes(16))).await.unwrap();
    assert_eq!(change, CallChange::Unchanged);
}

#[tokio::test(start_paused = true)]
async fn a_demo_call_waits_to_be_initiated_and_never_counts() {
    let w = World::new();
    given_schedule(&w, 5).await;
    let request = NewCallRequest { customer_number: "+16505550000".into(), ..Default::default() };
    let demo = calls::create_demo_call(&ports(&w), ORG, &request, monday(10, 0)).await.unwrap();
    assert_eq!(demo.due_at, None);
    assert!(calls::take_due_calls(w.store(), monday(10, 0) + Duration::days(1)).await.unwrap().is_empty(), "never due by itself");
    let job = calls::initiate_demo(w.store(), ORG, &demo.id).await.unwrap();
    assert!(matches!(calls::claim(w.store(), &job, monday(10, 1)).await.unwrap(), Claim::Place { .. }));
    calls::record_answers(&ports(&w), &job, None, Some(10), None, monday(10, 2)).await.unwrap();
    let (call, _) = calls::apply_call_end(&ports(&w), &job, &end(ProviderResult::Completed { machine: false }, monday(10, 3))).await.unwrap();
    assert_eq!(call.status, CallStatus::Completed);
    let day = NaiveDate::from_ymd_opt(2025, 6, 9).unwrap();
    assert_eq!(calls::nps(w.store(), ORG, day, day, None).await.unwrap().total.responses, 0);
    assert_not_found(calls::initiate_demo(w.store(), OTHER_ORG, &demo.id).await, "call");
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_leaves_no_record_and_no_call() {
    let w = World::new();
    given_schedule(&w, 5).await;
    w.store().fail_next("create_service_record", Error::backend("dynamodb", "throttled"));
    assert!(calls::create_service_record(&ports(&w), ORG, record("+16505551234", "a"), monday(10, 0)).await.is_err());
    assert!(calls::list(w.store(), ORG, &CallFilter::of(CallStatus::Ready), &page(10, None)).await.unwrap().items.is_empty());
    assert!(calls::service_records(w.store(), ORG, &Default::default(), &page(10, None)).await.unwrap().items.is_empty());
}

#[tokio::test(start_paused = true)]
async fn nps_ranges_are_checked_by_name() {
    let w = World::new();
    let d = |day| NaiveDate::from_ymd_opt(2025, 6, day).unwrap();
    assert!(matches!(calls::nps(w.store(), ORG, d(10), d(9), None).await, Err(Error::Invalid { field, .. }) if field == "to"));
    let year_later = d(1) + Duration::days(calls::MAX_NPS_DAYS);
    assert!(matches!(calls::nps(w.store(), ORG, d(1), year_later, None).await, Err(Error::Invalid { field, .. }) if field == "to"));
    assert_eq!(calls::nps(w.store(), ORG, d(1), d(30), Some(NpsGrouping::Week)).await.unwrap().total.nps, None);
}

#[tokio::test(start_paused = true)]
async fn deleting_a_service_record_cancels_its_call_unless_it_is_being_placed() {
    // GIVEN two records with ready calls
    let w = World::new();
    given_schedule(&w, 5).await;
    let r = calls::create_service_record(&ports(&w), ORG, record("+16505551234", "adv-1"), monday(10, 0)).await.unwrap();
    let busy = calls::create_service_record(&ports(&w), ORG, record("+16505551235", "adv-1"), monday(10, 0)).await.unwrap();
    // WHEN another organisation deletes one THEN it is not found and nothing changes
    assert_not_found(calls::delete_service_record(&ports(&w), OTHER_ORG, &r.id, monday(10, 1)).await, "service record");
    // WHEN the organisation deletes it THEN the record is gone and its call cancelled, never placed
    calls::delete_service_record(&ports(&w), ORG, &r.id, monday(10, 1)).await.unwrap();
    assert_not_found(calls::service_record(w.store(), ORG, &r.id).await, "service record");
    assert_eq!(calls::get(w.store(), ORG, r.call_id.as_deref().unwrap()).await.unwrap().status, CallStatus::Cancelled);
    let placed = dial_due(&w, monday(9, 0) + Duration::days(1)).await;
    assert_eq!(placed.iter().map(|j| j.call_id.as_str()).collect::<Vec<_>>(), [busy.call_id.as_deref().unwrap()]);
    // AND a record whose call is being placed stays (409): the provider is dialling
    assert_conflict(calls::delete_service_record(&ports(&w), ORG, &busy.id, monday(10, 2)).await, "in_progress");
    assert!(calls::service_record(w.store(), ORG, &busy.id).await.is_ok());
}

// ------------------------------------------------------------------------- the WhatsApp survey

fn tuesday(h: u32, m: u32) -> DateTime<Utc> {
    monday(h, m) + Duration::days(1)
}

/// GIVEN a call of the customer [`CUSTOMER`] missed on both attempts (no answer at 09:01 and at
/// 11:02 on Tuesday): the survey is asked for at 11:02.
async fn given_missed_for_good(w: &World) -> String {
    given_schedule(w, 5).await;
    let id = given_ready_call(w, "+16505551234").await;
    for at in [tuesday(9, 0), tuesday(11, 1)] {
        let job = dial_due(w, at).await.remove(0);
        calls::apply_call_end(&ports(w), &job, &end(ProviderResult::NoAnswer, at + Duration::minutes(1))).await.unwrap();
    }
    id
}

/// The customer's message as inbound-processor hands it on: stored, then seen by the survey (or
/// the bot). Every delivery of the same webhook is handed on until it is marked handled.
async fn customer_sends(w: &World, body: serde_json::Value, at: DateTime<Utc>) -> Option<(Received, BotOutcome)> {
    let received = process_job(&w.deps.inbound_ports(), &job(body, at)).await.unwrap().into_iter().next()?;
    let outcome = on_received(&w.deps.bot_ports(), &received, at).await.unwrap();
    Some((received, outcome))
}

async fn customer_types(w: &World, wamid: &str, text: &str, at: DateTime<Utc>) -> (Received, BotOutcome) {
    customer_sends(w, text_webhook(CUSTOMER, wamid, text, at), at).await.expect("a new message")
}

/// The customer taps a row of a list (`list_reply`).
fn tap_webhook(wamid: &str, row_id: &str, at: DateTime<Utc>) -> serde_json::Value {
    tap_webhook_from(CUSTOMER, wamid, row_id, at)
}

fn tap_webhook_from(from: &str, wamid: &str, row_id: &str, at: DateTime<Utc>) -> serde_json::Value {
    let mut body = text_webhook(from, wamid, "", at);
    body["entry"][0]["changes"][0]["value"]["messages"][0] = serde_json::json!({
        "from": from, "id": wamid, "timestamp": at.timestamp().to_string(), "type": "interactive",
        "interactive": { "type": "list_reply", "list_reply": { "id": row_id, "title": "9" } }
    });
    body
}

/// The reply queued since the last look, as stored.
async fn only_reply(w: &World, conversation_id: &str) -> Message {
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 1, "one reply queued: {jobs:?}");
    w.message(conversation_id, &jobs[0].message_id).await
}

async fn conversation_state(w: &World, conversation_id: &str) -> String {
    w.store().conversation(ORG, conversation_id).await.unwrap().unwrap().state
}

fn tuesday_nps() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 10).unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_last_miss_queues_the_survey_list_once_on_the_customers_conversation() {
    // GIVEN the organisation's WhatsApp number; WHEN the call is missed for good
    let w = World::new().with_channel(None).await;
    let id = given_missed_for_good(&w).await;
    // THEN one list is queued for the customer, on a conversation on that number, waiting for the score
    let call = calls::get(w.store(), ORG, &id).await.unwrap();
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 1);
    let list = w.message(&jobs[0].conversation_id, &jobs[0].message_id).await;
    assert_eq!(call.fallback.as_ref().and_then(|f| f.message_id.as_deref()), Some(list.id.as_str()));
    let Some(OutboundContent::List { sections, body, .. }) = &list.outbound else { panic!("a list: {list:?}") };
    assert_eq!(sections.iter().map(|s| s.rows.len()).sum::<usize>(), 10);
    assert!(body.contains("0 to 10"));
    let conversation = w.store().conversation(ORG, &list.conversation_id).await.unwrap().unwrap();
    assert_eq!((conversation.phone_number_id.as_str(), conversation.customer_address.as_str()), (NUMBER, CUSTOMER));
    assert_eq!(conversation.state, format!("survey:{id}:score"));
    assert_eq!(Some(conversation.customer_id), call.customer_id);
    // WHEN it is asked again (a repeated change, the sweep): nothing more is sent
    assert_eq!(calls::ask_by_whatsapp(&ports(&w), ORG, &id, tuesday(11, 5)).await.unwrap(), calls::SurveyAsk::NotOwed);
    assert!(w.reply_jobs().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_survey_queued_but_not_recorded_is_the_same_message_when_asked_again() {
    // GIVEN the asking at the last miss failed (the queue refused), so the survey is owed
    let w = World::new().with_channel(None).await;
    w.store().fail_next("record_outbound", Error::backend("dynamodb", "throttled"));
    let id = given_missed_for_good(&w).await;
    assert!(calls::get(w.store(), ORG, &id).await.unwrap().survey_owed());
    assert!(w.reply_jobs().is_empty());
    // WHEN it is asked and the list is queued, but recording it on the call fails
    w.store().fail_next("save_call", Error::backend("dynamodb", "throttled"));
    assert!(calls::ask_by_whatsapp(&ports(&w), ORG, &id, tuesday(11, 10)).await.is_err());
    // THEN asking again records the same message, sending nothing twice
    let asked = calls::ask_by_whatsapp(&ports(&w), ORG, &id, tuesday(11, 11)).await.unwrap();
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 1, "the list went on the queue once");
    assert_eq!(asked, calls::SurveyAsk::Asked { message_id: jobs[0].message_id.clone() });
    assert!(!calls::get(w.store(), ORG, &id).await.unwrap().survey_owed());
}

#[tokio::test(start_paused = true)]
async fn a_typed_3_completes_the_call_via_whatsapp_then_the_next_text_is_its_feedback() {
    // GIVEN the survey was asked
    let w = World::new().with_channel(None).await;
    let id = given_missed_for_good(&w).await;
    let conversation_id = w.reply_jobs()[0].conversation_id.clone();
    // WHEN the customer types 3
    let (_, outcome) = customer_types(&w, "wamid.score", "3", tuesday(15, 0)).await;
    // THEN the call is completed via WhatsApp with NPS 3, counted as a detractor
    let call = calls::get(w.store(), ORG, &id).await.unwrap();
    assert_eq!((call.status, call.completed_via, call.nps_score), (CallStatus::Completed, Some(CompletedVia::Whatsapp), Some(3)));
    let total = calls::nps(w.store(), ORG, tuesday_nps(), tuesday_nps(), None).await.unwrap().total;
    assert_eq!((total.detractors, total.responses, total.nps), (1, 1, Some(-100.0)));
    assert_eq!(w.events_of(ORG, EventKind::CallCompleted).await.len(), 1);
    // AND the one free-text question follows, the conversation waiting for its answer
    let follow_up = only_reply(&w, &conversation_id).await;
    assert_eq!(outcome.reply_id.as_deref(), Some(follow_up.id.as_str()));
    assert_eq!(follow_up.text.as_deref(), Some(ScheduleConfig::default_for(ORG, None).follow_up_prompt.as_str()));
    assert_eq!(conversation_state(&w, &conversation_id).await, format!("survey:{id}:feedback"));
    // WHEN the customer writes what went wrong
    customer_types(&w, "wamid.feedback", "The wait was too long.", tuesday(15, 2)).await;
    // THEN it is kept as the call's transcript, thanked for, and the conversation is back in the menu
    let call = calls::get(w.store(), ORG, &id).await.unwrap();
    assert_eq!((call.transcript.as_deref(), call.nps_score), (Some("The wait was too long."), Some(3)));
    assert_eq!(only_reply(&w, &conversation_id).await.text.as_deref(), Some(crate::domain::survey::THANK_YOU));
    assert_eq!(conversation_state(&w, &conversation_id).await, "menu");
    assert_eq!(calls::nps(w.store(), ORG, tuesday_nps(), tuesday_nps(), None).await.unwrap().total.responses, 1, "counted once");
}

#[tokio::test(start_paused = true)]
async fn a_tapped_row_answers_its_call() {
    let w = World::new().with_channel(None).await;
    let id = given_missed_for_good(&w).await;
    w.reply_jobs();
    // WHEN another customer's message carries a row naming this call: it is not theirs to answer
    customer_sends(&w, tap_webhook_from("16505559999", "wamid.other", &format!("nps:{id}:2"), tuesday(14, 0)), tuesday(14, 0)).await.unwrap();
    assert_eq!(calls::get(w.store(), ORG, &id).await.unwrap().status, CallStatus::Missed);
    assert!(w.reply_jobs().is_empty());
    // WHEN the customer taps 9
    customer_sends(&w, tap_webhook("wamid.tap", &format!("nps:{id}:9"), tuesday(15, 0)), tuesday(15, 0)).await.unwrap();
    let call = calls::get(w.store(), ORG, &id).await.unwrap();
    assert_eq!((call.status, call.nps_score), (CallStatus::Completed, Some(9)));
    let total = calls::nps(w.store(), ORG, tuesday_nps(), tuesday_nps(), None).await.unwrap().total;
    assert_eq!((total.promoters, total.responses), (1, 1));
    assert_eq!(w.reply_jobs().len(), 1, "the follow-up question");
    // AND a later tap of another score changes nothing: the first answer counts
    customer_sends(&w, tap_webhook("wamid.tap2", &format!("nps:{id}:4"), tuesday(15, 1)), tuesday(15, 1)).await.unwrap();
    assert_eq!(calls::get(w.store(), ORG, &id).await.unwrap(), call);
    assert!(w.reply_jobs().is_empty());
}

#[tokio::test(start_paused = true)]
async fn anything_but_a_score_asks_again_once_then_the_bot_takes_over() {
    // GIVEN the survey was asked and the organisation has the bot's menu
    let w = World::new().with_channel(None).await;
    seed_defaults(w.store(), ORG, monday(8, 0)).await.unwrap();
    let id = given_missed_for_good(&w).await;
    let conversation_id = w.reply_jobs()[0].conversation_id.clone();
    // WHEN the customer answers without a score
    customer_types(&w, "wamid.1", "who is this?", tuesday(15, 0)).await;
    // THEN the same list comes again, politely, once
    let again = only_reply(&w, &conversation_id).await;
    let Some(OutboundContent::List { body, sections, .. }) = &again.outbound else { panic!("the list again: {again:?}") };
    assert!(body.starts_with("Sorry") && sections[0].rows[0].id == format!("nps:{id}:10"), "{body}");
    assert_eq!(conversation_state(&w, &conversation_id).await, format!("survey:{id}:score_again"));
    // WHEN the next message is no score either: the survey lets go and the bot answers with its menu
    let (_, outcome) = customer_types(&w, "wamid.2", "I want to book a service", tuesday(15, 1)).await;
    assert_eq!(outcome.decision.reply, Some(BotReply::Menu));
    assert_eq!(conversation_state(&w, &conversation_id).await, "menu");
    assert_eq!(w.reply_jobs().len(), 1);
    // AND the call still waits for a score, which a tap on the list still gives
    assert_eq!(calls::get(w.store(), ORG, &id).await.unwrap().status, CallStatus::Missed);
    customer_sends(&w, tap_webhook("wamid.3", &format!("nps:{id}:7"), tuesday(15, 2)), tuesday(15, 2)).await.unwrap();
    assert_eq!(calls::get(w.store(), ORG, &id).await.unwrap().nps_score, Some(7));
}

#[tokio::test(start_paused = true)]
async fn a_redelivered_answer_changes_nothing_twice() {
    // GIVEN the survey was asked, the customer typed 3, and the worker died before marking the
    // message handled (so the redelivered job hands it on again)
    let w = World::new().with_channel(None).await;
    let id = given_missed_for_good(&w).await;
    let conversation_id = w.reply_jobs()[0].conversation_id.clone();
    let score = text_webhook(CUSTOMER, "wamid.score", "3", tuesday(15, 0));
    customer_sends(&w, score.clone(), tuesday(15, 0)).await.unwrap();
    let follow_up = only_reply(&w, &conversation_id).await;
    let completed = calls::get(w.store(), ORG, &id).await.unwrap();
    // WHEN the job comes again
    let (received, outcome) = customer_sends(&w, score, tuesday(15, 1)).await.expect("still owed its handling");
    // THEN it is not taken for the feedback, nothing is queued, the call is as it was
    assert!(received.repeated);
    assert_eq!(outcome.reply_id.as_deref(), Some(follow_up.id.as_str()));
    assert!(w.reply_jobs().is_empty());
    assert_eq!(calls::get(w.store(), ORG, &id).await.unwrap(), completed);
    assert_eq!(conversation_state(&w, &conversation_id).await, format!("survey:{id}:feedback"));
    // AND the same holds for the feedback, once the conversation is back in the menu
    let feedback = text_webhook(CUSTOMER, "wamid.feedback", "Too slow.", tuesday(15, 2));
    customer_sends(&w, feedback.clone(), tuesday(15, 2)).await.unwrap();
    assert_eq!(w.reply_jobs().len(), 1);
    let with_feedback = calls::get(w.store(), ORG, &id).await.unwrap();
    customer_sends(&w, feedback, tuesday(15, 3)).await.unwrap();
    assert!(w.reply_jobs().is_empty(), "no second thank-you, no menu");
    assert_eq!(calls::get(w.store(), ORG, &id).await.unwrap(), with_feedback);
    assert_eq!(calls::nps(w.store(), ORG, tuesday_nps(), tuesday_nps(), None).await.unwrap().total.responses, 1);
}

#[tokio::test(start_paused = true)]
async fn without_a_whatsapp_number_the_survey_is_not_sent_and_says_why() {
    // GIVEN an organisation with no WhatsApp number; WHEN the call is missed for good
    let w = World::new();
    let id = given_missed_for_good(&w).await;
    // THEN nothing is queued, and the call keeps why (so the sweep leaves it)
    assert!(w.reply_jobs().is_empty());
    let call = calls::get(w.store(), ORG, &id).await.unwrap();
    assert_eq!(call.fallback.as_ref().and_then(|f| f.not_sent.as_deref()), Some(calls::NO_WHATSAPP_NUMBER));
    assert!(!call.survey_owed());
    let run = calls::dispatch_due_calls(&ports(&w), w.outbox(), tuesday(11, 10)).await.unwrap();
    assert_eq!(run.surveys_asked, 0);
    // AND a customer whose WhatsApp identity is gone is not asked either
    let mut other = calls::get(w.store(), ORG, &id).await.unwrap();
    other.fallback.as_mut().unwrap().not_sent = None;
    other.customer_number = "+16505550000".into();
    other.version += 1;
    w.store().save_call(&crate::ports::CallWrite { before: Some(&call), after: &other, in_flight_cap: None }).await.unwrap();
    assert_eq!(calls::ask_by_whatsapp(&ports(&w), ORG, &id, tuesday(11, 11)).await.unwrap(), calls::SurveyAsk::NotSent { reason: calls::NO_WHATSAPP_IDENTITY });
}

#[tokio::test(start_paused = true)]
async fn the_schedulers_sweep_asks_an_owed_survey_once_and_not_an_asked_one() {
    // GIVEN two calls missed for good: one survey asked, the other's asking failed
    let w = World::new().with_channel(None).await;
    let asked = given_missed_for_good(&w).await;
    w.reply_jobs();
    let owed = {
        let id = given_ready_call(&w, "+16505551299").await;
        w.store().fail_next("record_outbound", Error::backend("dynamodb", "throttled"));
        for at in [tuesday(9, 0) + Duration::days(1), tuesday(11, 1) + Duration::days(1)] {
            let job = dial_due(&w, at).await.remove(0);
            calls::apply_call_end(&ports(&w), &job, &end(ProviderResult::NoAnswer, at + Duration::minutes(1))).await.unwrap();
        }
        id
    };
    let missed_at = tuesday(11, 2) + Duration::days(1);
    assert!(w.reply_jobs().is_empty(), "the second asking failed");
    // WHEN the scheduler runs within the grace: nothing yet (the miss may still be asking)
    assert_eq!(calls::dispatch_due_calls(&ports(&w), w.outbox(), missed_at + Duration::minutes(1)).await.unwrap().surveys_asked, 0);
    // WHEN it runs after it: the owed survey is asked, once
    let run = calls::dispatch_due_calls(&ports(&w), w.outbox(), missed_at + Duration::minutes(3)).await.unwrap();
    assert_eq!(run.surveys_asked, 1);
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 1);
    let call = calls::get(w.store(), ORG, &owed).await.unwrap();
    assert_eq!(call.fallback.and_then(|f| f.message_id), Some(jobs[0].message_id.clone()));
    assert_eq!(calls::dispatch_due_calls(&ports(&w), w.outbox(), missed_at + Duration::minutes(4)).await.unwrap().surveys_asked, 0);
    assert!(w.reply_jobs().is_empty());
    assert!(calls::get(w.store(), ORG, &asked).await.unwrap().fallback.unwrap().message_id.is_some());
}
