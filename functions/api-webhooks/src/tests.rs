//! This function's `events/` samples and routes through its handler, on the memory adapter.

use max_core::config::Deps;
use max_core::testing::{SampleRequest, http_samples, statuses};
use serde_json::{Value, json};

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-webhooks", |req| crate::handle(req, deps)).await;
    assert_eq!(
        answered,
        statuses(&[
            ("create-as-agent.json", 403),
            ("create-crm-subscription.json", 201),
            ("create-http-url.json", 422),
            ("create-private-address.json", 422),
            ("delete-unknown.json", 404),
            ("deliveries-unknown.json", 404),
            ("edit-unknown.json", 404),
            ("get-unknown.json", 404),
            ("list.json", 200),
            ("redeliver-unknown.json", 404),
            ("replay-unknown.json", 404),
            ("rotate-secret-unknown.json", 404),
        ])
    );
}

/// A sample's request with another method, path, body, role and organisation.
fn request(method: &str, path: &str, body: Option<Value>, group: &str, org: &str) -> lambda_http::Request {
    let r = SampleRequest::new("api-webhooks", "get-unknown.json", method, path).group(group).claim("custom:org_id", org);
    match body {
        Some(b) => r.body(&b.to_string()).build(),
        None => r.build(),
    }
}

async fn call(deps: &Deps, method: &str, path: &str, body: Option<Value>, group: &str, org: &str) -> (u16, Value) {
    let answer = crate::handle(request(method, path, body, group, org), deps).await.unwrap();
    (answer.status().as_u16(), serde_json::from_slice(answer.body()).unwrap_or(Value::Null))
}

#[tokio::test]
async fn admins_manage_subscriptions_the_secret_is_shown_once_and_others_find_nothing() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    // GIVEN an admin's subscription
    let body = json!({ "url": "https://crm.example.com/hooks", "event_types": ["ticket.opened"] });
    let (status, created) = call(&deps, "POST", "/v1/webhook-subscriptions", Some(body.clone()), "admin", "o1").await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    assert_eq!((created["enabled"].as_bool(), created["timeout_secs"].as_u64()), (Some(true), Some(10)));
    let path = format!("/v1/webhook-subscriptions/{}", created["id"].as_str().unwrap());
    // THEN reads never show the secret
    let (status, read) = call(&deps, "GET", &path, None, "admin", "o1").await;
    assert_eq!(status, 200);
    assert!(read.get("secret").is_none() && !read.to_string().contains(&secret));
    let (_, list) = call(&deps, "GET", "/v1/webhook-subscriptions", None, "admin", "o1").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret));
    // AND supervisors and agents may not even read them
    assert_eq!(call(&deps, "GET", &path, None, "supervisor", "o1").await.0, 403);
    assert_eq!(call(&deps, "GET", "/v1/webhook-subscriptions", None, "agent", "o1").await.0, 403);
    // AND another organisation's admin finds nothing, on every route
    for (method, suffix, body) in [("GET", "", None), ("PATCH", "", Some(json!({"enabled": false}))), ("DELETE", "", None), ("POST", "/rotate-secret", None), ("GET", "/deliveries", None)] {
        assert_eq!(call(&deps, method, &format!("{path}{suffix}"), body, "admin", "o2").await.0, 404, "{method} {suffix}");
    }
    // WHEN the admin edits it THEN only what is given changes; bad values name their field
    let (status, edited) = call(&deps, "PATCH", &path, Some(json!({ "description": "CRM", "timeout_secs": 15 })), "admin", "o1").await;
    assert_eq!((status, edited["description"].as_str(), edited["timeout_secs"].as_u64(), edited["version"].as_u64()), (200, Some("CRM"), Some(15), Some(2)));
    let (status, problem) = call(&deps, "PATCH", &path, Some(json!({ "event_types": ["nope"] })), "admin", "o1").await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem.to_string().contains("event_types[0]"), "{problem}");
    // WHEN the secret rotates THEN a new one is shown, once
    let (status, rotated) = call(&deps, "POST", &format!("{path}/rotate-secret"), None, "admin", "o1").await;
    assert_eq!(status, 200, "{rotated}");
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_ne!(rotated["secret"].as_str(), Some(secret.as_str()));
    // AND the attempt log starts empty
    let (status, log) = call(&deps, "GET", &format!("{path}/deliveries?limit=10"), None, "admin", "o1").await;
    assert_eq!((status, log["items"].as_array().map(Vec::len)), (200, Some(0)), "{log}");
    assert_eq!(call(&deps, "GET", &format!("{path}/deliveries?since=x"), None, "admin", "o1").await.0, 422);
    // WHEN it is deleted THEN it is gone
    assert_eq!(call(&deps, "DELETE", &path, None, "admin", "o1").await.0, 204);
    assert_eq!(call(&deps, "GET", &path, None, "admin", "o1").await.0, 404);
}
