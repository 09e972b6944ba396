//! This function's `events/` samples through its handler, on the memory adapter.

use max_core::app::calls::DialJob;
use max_core::config::Deps;
use max_core::ports::Queue;
use max_core::testing::{SampleRequest, http_samples, statuses};
use serde_json::{Value, json};

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-calls", |req| crate::handle(req, deps)).await;
    assert_eq!(
        answered,
        statuses(&[
            ("create-demo-call-as-agent.json", 403),
            ("create-service-record-bad-phone.json", 422),
            ("create-service-record.json", 201),
            ("get-schedule-config.json", 200),
            ("get-unknown-call.json", 404),
            ("get-unknown-service-record.json", 404),
            ("initiate-unknown-demo-call.json", 404),
            ("list-completed-detractors.json", 200),
            ("list-ready-calls.json", 200),
            ("list-service-records.json", 200),
            ("nps-by-advisor.json", 200),
            ("put-schedule-config-as-agent.json", 403),
            ("put-schedule-config-overlapping-windows.json", 422),
            ("put-schedule-config.json", 200),
        ])
    );
    // Nothing was initiated: no dial job.
    assert!(world.outbox.jobs(Queue::Calls).is_empty());
}

/// A sample's request with another method, path, body and role (its claims otherwise).
fn request(method: &str, path: &str, body: Option<Value>, group: &str) -> lambda_http::Request {
    let r = SampleRequest::new("api-calls", "get-unknown-call.json", method, path).group(group);
    match body {
        Some(b) => r.body(&b.to_string()).build(),
        None => r.build(),
    }
}

async fn call(deps: &Deps, method: &str, path: &str, body: Option<Value>, group: &str) -> (u16, Value) {
    let answer = crate::handle(request(method, path, body, group), deps).await.unwrap();
    (answer.status().as_u16(), serde_json::from_slice(answer.body()).unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_initiated_demo_call_is_one_dial_job_on_the_calls_queue_grouped_by_organisation() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    // GIVEN a demo call to the number entered
    let (status, demo) = call(&deps, "POST", "/v1/calls/demo", Some(json!({ "customer_number": "+1 650 555 1234" })), "supervisor").await;
    assert_eq!(status, 201, "{demo}");
    assert_eq!((demo["call_type"].as_str(), demo["status"].as_str(), demo["due_at"].clone()), (Some("demo"), Some("ready"), Value::Null));
    let id = demo["id"].as_str().unwrap();
    // WHEN an agent initiates it THEN 403; WHEN a supervisor does, twice THEN 202 each time
    let path = format!("/v1/calls/demo/{id}/initiate");
    assert_eq!(call(&deps, "POST", &path, None, "agent").await.0, 403);
    for _ in 0..2 {
        let (status, queued) = call(&deps, "POST", &path, None, "supervisor").await;
        assert_eq!((status, queued), (202, json!({ "call_id": id, "attempt": 1 })));
    }
    // AND both jobs name the first attempt and the minute: one job on the FIFO queue, which
    // deduplicates them
    let jobs = world.outbox.jobs(Queue::Calls);
    assert_eq!(jobs.len(), 1);
    let minute = deps.clock.now().timestamp() / 60;
    assert_eq!((jobs[0].group_id.as_deref(), jobs[0].dedup_id.clone()), (Some("org_demo"), Some(format!("call:{id}:1:{minute}"))));
    let parsed: DialJob = serde_json::from_str(&jobs[0].body).unwrap();
    assert_eq!(parsed, DialJob { org_id: "org_demo".into(), call_id: id.into(), attempt: 1 });
    // AND a feedback call is no demo call
    let (status, manual) = call(&deps, "POST", "/v1/calls", Some(json!({ "customer_number": "+16505551234" })), "agent").await;
    assert_eq!(status, 201, "{manual}");
    let (status, _) = call(&deps, "POST", &format!("/v1/calls/demo/{}/initiate", manual["id"].as_str().unwrap()), None, "supervisor").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_input_answers_422_naming_the_field() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    for (method, path, body, field) in [
        ("POST", "/v1/calls", json!({ "customer_number": "650 555" }), "customer_number"),
        ("POST", "/v1/calls", json!({ "customer_number": "+16505551234", "customer_name": "x".repeat(201) }), "customer_name"),
        ("POST", "/v1/service-records", json!({ "service_advisor_id": "a#b" }), "service_advisor_id"),
        ("POST", "/v1/service-records", json!({ "positive_mentions": [" "] }), "positive_mentions[0]"),
        ("PUT", "/v1/calls/schedule-config", json!({ "time_zone": "Mars/Olympus" }), "time_zone"),
        ("PUT", "/v1/calls/schedule-config", json!({ "max_attempts": 0 }), "max_attempts"),
    ] {
        let (status, problem) = call(&deps, method, path, Some(body), "admin").await;
        assert_eq!((status, problem["field"].as_str()), (422, Some(field)), "{method} {path}: {problem}");
    }
    for (query, field) in [("nps_min=11", "nps_min"), ("nps_min=7&nps_max=3", "nps_max"), ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"), ("skip=5", "skip")] {
        let req = request("GET", &format!("/v1/calls/completed?{query}"), None, "agent");
        let answer = crate::handle(req, &deps).await.unwrap();
        let problem: Value = serde_json::from_slice(answer.body()).unwrap();
        assert_eq!((answer.status().as_u16(), problem["field"].as_str()), (422, Some(field)), "{query}: {problem}");
    }
}
