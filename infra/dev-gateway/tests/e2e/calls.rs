//! Feedback calls through the API on the dev stack (moto): a service record's call is ready at
//! the configured time and the lists follow it through edits, cancelling and a retry; the
//! schedule config is validated field by field; NPS moves as calls complete (through the use
//! cases the dialer and the provider's callbacks will drive); demo calls queue one dial job;
//! another organisation sees nothing and its cursors are refused.

use chrono::{DateTime, Duration, TimeZone, Utc};
use max_core::app::calls::{self, Claim, DialJob};
use max_core::domain::call::{CallEnd, ProviderResult};
use max_dev::testing::{TestOptions, TestStack};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Monday 2030-01-07 at `h:00` UTC.
fn monday(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 7, h, 0, 0).unwrap()
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}"))).unwrap().with_timezone(&Utc)
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap_or_else(|| panic!("not a page: {page}")).iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

async fn stack() -> TestStack {
    TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await
}

/// GIVEN the organisation's schedule (an admin saves it): UTC, every day 09:00–12:00, the first
/// attempt 24 h after the service, `max_attempts` attempts.
async fn given_schedule(t: &TestStack, max_attempts: u32) -> Value {
    let every_day = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    let body = json!({
        "time_zone": "UTC", "calling_days": every_day, "windows": [{ "start": "09:00", "end": "12:00" }],
        "delay_after_service_minutes": 1440, "max_attempts": max_attempts, "version": 0,
    });
    let (status, saved) = t.api(Method::PUT, "/v1/calls/schedule-config", &t.org.admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    saved
}

/// A service done Monday 15:00 by `advisor`, recorded by an agent; returns the record.
async fn given_record(t: &TestStack, advisor: &str, service_type: &str) -> Value {
    let body = json!({
        "customer_name": "Sheena Nelson", "customer_phone": "+1 650-555-1234", "vehicle_info": "2021 Corolla",
        "service_type": service_type, "appointment_date": monday(15), "service_advisor_id": advisor, "service_advisor_name": "Ravi",
    });
    let (status, record) = t.post("/v1/service-records", &t.org.agent, body).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    record
}

/// The dialer and the provider, through the use cases: every call due at `at` is claimed and
/// placed, then ends as `result` (with `digits` keyed in) a minute later.
async fn dial_due(t: &TestStack, at: DateTime<Utc>, outcome: impl Fn(&DialJob) -> (ProviderResult, Option<u8>)) -> Vec<DialJob> {
    let (store, ports) = (&*t.stack.deps.store, t.stack.deps.call_ports());
    let jobs = calls::take_due_calls(store, at).await.unwrap();
    for job in &jobs {
        assert!(matches!(calls::claim(store, job, at).await.unwrap(), Claim::Place { .. }), "{job:?} placed");
        let sid = format!("CA{}", job.call_id);
        calls::record_placement(&ports, job, &sid, at).await.unwrap();
        let (result, digits) = outcome(job);
        if digits.is_some() {
            calls::record_answers(&ports, job, Some(&sid), digits, Some("quick and friendly"), at).await.unwrap();
        }
        let end = CallEnd { provider_call_id: Some(sid), result, answered_at: Some(at), ended_at: at + Duration::minutes(1), duration_sec: Some(60) };
        calls::apply_call_end(&ports, job, &end).await.unwrap();
    }
    jobs
}

#[tokio::test]
async fn a_service_records_call_is_ready_at_the_configured_time_and_is_edited_cancelled_and_retried() {
    let t = stack().await;
    given_schedule(&t, 1).await;
    // WHEN a service done Monday 15:00 is recorded
    let record = given_record(&t, "adv-1", "oil change").await;
    assert_eq!(record["customer_phone"], "+16505551234");
    let call_id = record["call_id"].as_str().expect("a record with a phone has its call").to_string();
    // THEN its call is ready 24 h later, when the window opens next: Tuesday 15:00 is past 12:00,
    // so Wednesday 09:00
    let (status, call) = t.get(&format!("/v1/calls/{call_id}"), &t.org.agent).await;
    assert_eq!(status, StatusCode::OK, "{call}");
    assert_eq!((call["status"].as_str(), time(&call["due_at"])), (Some("ready"), monday(9) + Duration::days(2)));
    assert_eq!((call["service_record_id"].clone(), call["service_advisor_id"].as_str()), (record["id"].clone(), Some("adv-1")));
    // AND the lists show it by advisor and by due time (`to` exclusive); the feed announced it
    let (_, ready) = t.get("/v1/calls/ready?advisor_id=adv-1", &t.org.agent).await;
    assert_eq!(ids(&ready), std::slice::from_ref(&call_id));
    let (_, other_advisor) = t.get("/v1/calls/ready?advisor_id=adv-2", &t.org.agent).await;
    assert!(ids(&other_advisor).is_empty());
    let (_, before) = t.get("/v1/calls/ready?to=2030-01-09T09:00:00Z", &t.org.agent).await;
    assert!(ids(&before).is_empty(), "{before}");
    let (_, at) = t.get("/v1/calls/ready?from=2030-01-09T09:00:00Z&to=2030-01-09T09:00:01Z", &t.org.agent).await;
    assert_eq!(ids(&at), std::slice::from_ref(&call_id));
    let (_, records) = t.get("/v1/service-records?advisor_id=adv-1&status=completed", &t.org.agent).await;
    assert_eq!(ids(&records), [record["id"].as_str().unwrap()]);
    let feed = t.feed(&t.org.admin).await;
    assert!(feed.iter().any(|e| e["kind"] == "call.ready" && e["data"]["call_id"] == call_id.as_str()), "{feed:?}");

    // Edit: notes and a tag; the tag filters the list. A score on a call not completed is the
    // call's state refusing it: 409.
    let (status, edited) = t.api(Method::PUT, &format!("/v1/calls/{call_id}"), &t.org.agent, Some(json!({ "notes": "call after 10", "tags": ["vip"] }))).await;
    assert_eq!((status, edited["notes"].as_str()), (StatusCode::OK, Some("call after 10")), "{edited}");
    let (_, vip) = t.get("/v1/calls/ready?tag=vip", &t.org.agent).await;
    assert_eq!(ids(&vip), std::slice::from_ref(&call_id));
    let (status, problem) = t.api(Method::PUT, &format!("/v1/calls/{call_id}"), &t.org.agent, Some(json!({ "nps_score": 9 }))).await;
    assert_eq!((status, problem["current_status"].as_str()), (StatusCode::CONFLICT, Some("ready")), "{problem}");

    // Cancel: supervisors only; the ready list no longer shows it, the scheduler never takes it.
    assert_eq!(t.api(Method::DELETE, &format!("/v1/calls/{call_id}"), &t.org.agent, None).await.0, StatusCode::FORBIDDEN);
    let (status, cancelled) = t.api(Method::DELETE, &format!("/v1/calls/{call_id}"), &t.org.supervisor, None).await;
    assert_eq!((status, cancelled["status"].as_str()), (StatusCode::OK, Some("cancelled")), "{cancelled}");
    assert!(ids(&t.get("/v1/calls/ready", &t.org.agent).await.1).is_empty());
    let (status, problem) = t.post(&format!("/v1/calls/{call_id}/retry"), &t.org.agent, json!({})).await;
    assert_eq!((status, problem["current_status"].as_str()), (StatusCode::CONFLICT, Some("cancelled")));
    assert!(calls::take_due_calls(&*t.stack.deps.store, monday(9) + Duration::days(2)).await.unwrap().is_empty());

    // Retry: a second record's call is missed on its only attempt, listed as missed, and a retry
    // makes it ready again at the schedule's next open time, with one more attempt allowed.
    let second = given_record(&t, "adv-1", "oil change").await;
    let second_call = second["call_id"].as_str().unwrap().to_string();
    let placed = dial_due(&t, monday(9) + Duration::days(2), |_| (ProviderResult::NoAnswer, None)).await;
    assert_eq!(placed.len(), 1);
    let (_, missed) = t.get("/v1/calls/missed?advisor_id=adv-1", &t.org.agent).await;
    assert_eq!(ids(&missed), std::slice::from_ref(&second_call));
    assert_eq!(missed["items"][0]["miss_reason"], "no_answer");
    let (status, retried) = t.post(&format!("/v1/calls/{second_call}/retry"), &t.org.agent, json!({})).await;
    assert_eq!((status, retried["status"].as_str(), retried["manual_retries"].as_u64()), (StatusCode::OK, Some("ready"), Some(1)), "{retried}");
    let due = time(&retried["due_at"]);
    let (now, hour) = (Utc::now(), |d: DateTime<Utc>| d.format("%H:%M").to_string());
    assert!(due >= now - Duration::seconds(5) && ("09:00".to_string()..="12:00".to_string()).contains(&hour(due)), "due {due}, inside the window");
    assert!(ids(&t.get("/v1/calls/missed", &t.org.agent).await.1).is_empty());
    let feed = t.feed(&t.org.admin).await;
    for kind in ["call.started", "call.missed"] {
        assert!(feed.iter().any(|e| e["kind"] == kind && e["data"]["call_id"] == second_call.as_str()), "{kind}: {feed:?}");
    }

    // Deleting a record (supervisors) cancels its call; the record is gone.
    let (status, _) = t.api(Method::DELETE, &format!("/v1/service-records/{}", second["id"].as_str().unwrap()), &t.org.supervisor, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(t.get(&format!("/v1/service-records/{}", second["id"].as_str().unwrap()), &t.org.agent).await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.get(&format!("/v1/calls/{second_call}"), &t.org.agent).await.1["status"], "cancelled");
}

#[tokio::test]
async fn the_schedule_config_is_validated_naming_the_field_and_saved_over_the_version_read() {
    let t = stack().await;
    let (status, defaults) = t.get("/v1/calls/schedule-config", &t.org.agent).await;
    assert_eq!((status, defaults["version"].as_u64(), defaults["max_attempts"].as_u64()), (StatusCode::OK, Some(0), Some(2)), "{defaults}");
    for (body, field) in [
        (json!({ "windows": [{ "start": "09:00", "end": "12:00" }, { "start": "11:00", "end": "13:00" }] }), "windows[1].start"),
        (json!({ "windows": [{ "start": "14:00", "end": "13:00" }] }), "windows[0].end"),
        (json!({ "time_zone": "Mars/Olympus" }), "time_zone"),
        (json!({ "calling_days": [] }), "calling_days"),
        (json!({ "max_attempts": 11 }), "max_attempts"),
        (json!({ "retry_spacing_minutes": 1 }), "retry_spacing_minutes"),
        (json!({ "caller_id": "555" }), "caller_id"),
        (json!({ "campaign_id": "spring#2030" }), "campaign_id"),
    ] {
        let (status, problem) = t.api(Method::PUT, "/v1/calls/schedule-config", &t.org.admin, Some(body.clone())).await;
        assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{body}: {problem}");
    }
    assert_eq!(t.api(Method::PUT, "/v1/calls/schedule-config", &t.org.supervisor, Some(json!({}))).await.0, StatusCode::FORBIDDEN);
    let saved = given_schedule(&t, 3).await;
    assert_eq!((saved["version"].as_u64(), saved["max_attempts"].as_u64()), (Some(1), Some(3)));
    // Saving over the version read before: someone saved in between.
    let (status, problem) = t.api(Method::PUT, "/v1/calls/schedule-config", &t.org.admin, Some(json!({ "version": 0 }))).await;
    assert_eq!((status, problem["current_status"].as_str()), (StatusCode::CONFLICT, Some("1")), "{problem}");
    let (_, read) = t.get("/v1/calls/schedule-config", &t.org.agent).await;
    assert_eq!(read, saved);
    // A campaign's own config decides for it; the organisation's for the others.
    let (status, spring) = t.api(Method::PUT, "/v1/calls/schedule-config", &t.org.admin, Some(json!({ "campaign_id": "spring", "max_attempts": 1 }))).await;
    assert_eq!(status, StatusCode::OK, "{spring}");
    assert_eq!(t.get("/v1/calls/schedule-config?campaign_id=spring", &t.org.agent).await.1["max_attempts"], 1);
    assert_eq!(t.get("/v1/calls/schedule-config?campaign_id=autumn", &t.org.agent).await.1["max_attempts"], 3);
}

#[tokio::test]
async fn nps_moves_as_calls_complete_by_advisor_service_type_and_week() {
    let t = stack().await;
    given_schedule(&t, 2).await;
    let mut scores = std::collections::HashMap::new();
    for (advisor, service, score) in [("adv-1", "oil change", 10), ("adv-1", "tyres", 9), ("adv-2", "oil change", 3)] {
        let r = given_record(&t, advisor, service).await;
        scores.insert(r["call_id"].as_str().unwrap().to_string(), score);
    }
    // The customers answer Wednesday between 09:00 and 09:01: completed on 2030-01-09 (UTC).
    let placed = dial_due(&t, monday(9) + Duration::days(2), |job| (ProviderResult::Completed { machine: false }, Some(scores[&job.call_id]))).await;
    assert_eq!(placed.len(), 3);
    let (status, nps) = t.get("/v1/calls/nps?from=2030-01-09&to=2030-01-09&group_by=advisor", &t.org.supervisor).await;
    assert_eq!(status, StatusCode::OK, "{nps}");
    assert_eq!(
        (nps["total"]["promoters"].as_i64(), nps["total"]["detractors"].as_i64(), nps["total"]["responses"].as_i64(), nps["total"]["nps"].as_f64()),
        (Some(2), Some(1), Some(3), Some(33.3)),
        "{nps}"
    );
    let groups: Vec<(String, f64)> = nps["groups"].as_array().unwrap().iter().map(|g| (g["group"].as_str().unwrap().to_string(), g["nps"].as_f64().unwrap())).collect();
    assert_eq!(groups, [("adv-1".to_string(), 100.0), ("adv-2".to_string(), -100.0)]);
    let (_, by_type) = t.get("/v1/calls/nps?from=2030-01-01&to=2030-01-31&group_by=service_type", &t.org.agent).await;
    assert_eq!(by_type["groups"].as_array().unwrap().iter().map(|g| g["group"].as_str().unwrap()).collect::<Vec<_>>(), ["oil change", "tyres"]);
    let (_, by_week) = t.get("/v1/calls/nps?from=2030-01-01&to=2030-01-31&group_by=week", &t.org.agent).await;
    assert_eq!((by_week["groups"][0]["group"].as_str(), by_week["groups"][0]["responses"].as_i64()), (Some("2030-W02"), Some(3)), "{by_week}");
    let (_, before) = t.get("/v1/calls/nps?from=2030-01-01&to=2030-01-08", &t.org.agent).await;
    assert_eq!((before["total"]["responses"].as_i64(), before["total"]["nps"].clone()), (Some(0), Value::Null));
    // The completed list, by score range; the feed announced every completion.
    let (_, promoters) = t.get("/v1/calls/completed?nps_min=9&nps_max=10", &t.org.agent).await;
    assert_eq!(ids(&promoters).len(), 2, "{promoters}");
    assert_eq!(promoters["items"][0]["transcript"], "quick and friendly");
    let completed = t.feed(&t.org.admin).await.into_iter().filter(|e| e["kind"] == "call.completed").count();
    assert_eq!(completed, 3);
    // Correcting a score moves the counters: the detractor becomes a passive.
    let detractor = scores.iter().find(|(_, s)| **s == 3).unwrap().0;
    let (status, corrected) = t.api(Method::PUT, &format!("/v1/calls/{detractor}"), &t.org.agent, Some(json!({ "nps_score": 7 }))).await;
    assert_eq!((status, corrected["nps_score"].as_u64()), (StatusCode::OK, Some(7)), "{corrected}");
    let (_, nps) = t.get("/v1/calls/nps?from=2030-01-09&to=2030-01-09", &t.org.agent).await;
    assert_eq!((nps["total"]["passives"].as_i64(), nps["total"]["detractors"].as_i64(), nps["total"]["nps"].as_f64()), (Some(1), Some(0), Some(66.7)));
    // A range backwards, or longer than a year, names `to`.
    for query in ["from=2030-01-09&to=2030-01-01", "from=2030-01-01&to=2031-01-02"] {
        let (status, problem) = t.get(&format!("/v1/calls/nps?{query}"), &t.org.agent).await;
        assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("to")), "{query}: {problem}");
    }
}

#[tokio::test]
async fn a_demo_call_initiated_is_one_dial_job_on_the_calls_queue() {
    let t = stack().await;
    let (status, demo) = t.post("/v1/calls/demo", &t.org.supervisor, json!({ "customer_number": "+1 (650) 555-0000", "customer_name": "Demo" })).await;
    assert_eq!((status, demo["call_type"].as_str()), (StatusCode::CREATED, Some("demo")), "{demo}");
    let id = demo["id"].as_str().unwrap();
    // A demo call waits for its initiation: never among the scheduler's due calls, even inside the
    // default window (weekdays 09:00–12:00 UTC) long after it was made.
    assert!(calls::take_due_calls(&*t.stack.deps.store, monday(10)).await.unwrap().is_empty());
    for _ in 0..2 {
        let (status, queued) = t.post(&format!("/v1/calls/demo/{id}/initiate"), &t.org.supervisor, json!({})).await;
        assert_eq!((status, queued), (StatusCode::ACCEPTED, json!({ "call_id": id, "attempt": 1 })));
    }
    // Initiated twice, one job: the FIFO queue deduplicates by attempt.
    assert_eq!(t.queued("CallsQueue").await, 1);
    assert_eq!(t.post("/v1/calls/demo", &t.org.agent, json!({ "customer_number": "+16505550000" })).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn another_organisation_sees_none_of_ours_and_our_cursors_are_refused_in_its_lists() {
    let t = stack().await;
    given_schedule(&t, 2).await;
    let mut records = Vec::new();
    for _ in 0..3 {
        records.push(given_record(&t, "adv-1", "oil change").await);
    }
    let b = &t.other.admin;
    let call = records[0]["call_id"].as_str().unwrap();
    for path in [format!("/v1/calls/{call}"), format!("/v1/service-records/{}", records[0]["id"].as_str().unwrap())] {
        assert_eq!(t.get(&path, b).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    for list in ["/v1/calls/ready", "/v1/service-records"] {
        let (status, theirs) = t.get(list, b).await;
        assert_eq!((status, ids(&theirs).len()), (StatusCode::OK, 0), "{list}: {theirs}");
        // Our cursor pages our list, and is refused in theirs.
        let (_, first) = t.get(&format!("{list}?limit=2"), &t.org.agent).await;
        let cursor = first["next_cursor"].as_str().unwrap_or_else(|| panic!("{list} has a second page: {first}"));
        let (status, second) = t.get(&format!("{list}?limit=2&cursor={cursor}"), &t.org.agent).await;
        assert_eq!((status, ids(&second).len()), (StatusCode::OK, 1), "{second}");
        let (status, problem) = t.get(&format!("{list}?limit=2&cursor={cursor}"), b).await;
        assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor")), "{list}: {problem}");
    }
    // Another list's cursor is refused too: a ready-list cursor is no missed-list cursor.
    let (_, first) = t.get("/v1/calls/ready?limit=2", &t.org.agent).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (status, problem) = t.get(&format!("/v1/calls/missed?limit=2&cursor={cursor}"), &t.org.agent).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor")), "{problem}");
    let (_, nps) = t.get("/v1/calls/nps", b).await;
    assert_eq!(nps["total"]["responses"], 0);
}

#[tokio::test]
async fn the_scheduler_run_now_puts_the_due_call_on_the_calls_queue_once() {
    // GIVEN calls allowed at any hour of any day, a first attempt 24 h after the service, and a
    // service done two days ago: its call is due
    let t = stack().await;
    let every_day = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    let body = json!({
        "time_zone": "UTC", "calling_days": every_day, "windows": [{ "start": "00:00", "end": "24:00" }],
        "delay_after_service_minutes": 1440, "max_attempts": 2, "version": 0,
    });
    assert_eq!(t.api(Method::PUT, "/v1/calls/schedule-config", &t.org.admin, Some(body)).await.0, StatusCode::OK);
    let service = json!({ "customer_name": "Sheena Nelson", "customer_phone": "+16505551234", "appointment_date": Utc::now() - Duration::days(2) });
    let (status, record) = t.post("/v1/service-records", &t.org.agent, service).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    assert_eq!(t.queued("CallsQueue").await, 0, "nothing queued before the scheduler runs");
    // WHEN the scheduler's minute is run now, twice (as two minutes before a dialer takes it)
    let run = || async { t.http.post(t.url("/dev/schedules/call-scheduler")).send().await.unwrap() };
    for _ in 0..2 {
        let res = run().await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // THEN its first attempt is one job on the calls queue (deduplicated by attempt), and the call
    // is still ready (a dialer claims it)
    assert_eq!(t.queued("CallsQueue").await, 1);
    let (_, call) = t.get(&format!("/v1/calls/{}", record["call_id"].as_str().unwrap()), &t.org.agent).await;
    assert_eq!(call["status"], "ready", "{call}");
    // AND a function that is not scheduled is not run
    assert_eq!(t.http.post(t.url("/dev/schedules/api-calls")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}
