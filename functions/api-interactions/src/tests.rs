//! This function's `events/` samples through its handler, on the memory adapter.

use max_core::config::Deps;
use max_core::ports::Queue;
use max_core::testing::{http_samples, statuses};

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-interactions", |req| crate::handle(req, deps)).await;
    assert_eq!(
        answered,
        statuses(&[
            ("bulk-cancel-unknown-interactions.json", 200),
            ("complete-unknown-interaction.json", 404),
            ("create-campaign-repeated-customer.json", 422),
            ("create-interaction-unknown-customer.json", 422),
            ("create-template-with-loop.json", 422),
            ("get-unknown-campaign.json", 404),
            ("get-unknown-interaction.json", 404),
            ("list-overdue-interactions.json", 200),
            ("list-templates.json", 200),
            ("stats-by-assignee.json", 200),
            ("stats-over-366-days.json", 422),
        ])
    );
    // Nothing completed: no next step owed.
    assert!(world.outbox.jobs(Queue::NextSteps).is_empty());
}

/// `overdue` narrows the caller's range to what is already due: a range starting later is empty,
/// not an error; a range the caller wrote backwards is still refused.
#[tokio::test]
async fn overdue_from_a_future_date_is_an_empty_page_and_a_backward_range_is_refused() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let sample = max_core::testing::sample_events("api-interactions")
        .into_iter()
        .find(|(name, _)| name == "list-overdue-interactions.json")
        .expect("the overdue sample")
        .1;
    let with_query = |pairs: &[(&str, &str)]| {
        let mut event: serde_json::Value = serde_json::from_str(&sample).unwrap();
        let query: serde_json::Map<String, serde_json::Value> = pairs.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect();
        event["rawQueryString"] = serde_json::json!(pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"));
        event["queryStringParameters"] = serde_json::Value::Object(query);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    let future = (chrono::Utc::now() + chrono::Duration::days(400)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let answer = crate::handle(with_query(&[("overdue", "true"), ("due_after", &future)]), &deps).await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let body: serde_json::Value = serde_json::from_slice(answer.body()).unwrap();
    assert_eq!(body["items"], serde_json::json!([]));
    let backwards = crate::handle(with_query(&[("due_after", &future), ("due_before", "2026-01-01T00:00:00Z")]), &deps).await.unwrap();
    assert_eq!(backwards.status().as_u16(), 422);
}
