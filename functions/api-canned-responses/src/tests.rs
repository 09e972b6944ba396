//! This function's `events/` samples and routes through its handler, on the memory adapter.

use max_core::config::Deps;
use max_core::testing::{SampleRequest, http_samples, statuses};
use serde_json::{Value, json};

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-canned-responses", |req| crate::handle(req, deps)).await;
    assert_eq!(
        answered,
        statuses(&[
            ("create-greeting.json", 201),
            ("create-malformed-variable.json", 422),
            ("create-personal.json", 201),
            ("create-shared-as-agent.json", 403),
            ("delete-unknown.json", 404),
            ("edit-unknown.json", 404),
            ("get-unknown.json", 404),
            ("list-by-typed-prefix.json", 200),
            ("render-unknown.json", 404),
        ])
    );
}

/// A sample's request with another method, path, body, role and user.
fn request(method: &str, path: &str, body: Option<Value>, group: &str, user: &str) -> lambda_http::Request {
    let r = SampleRequest::new("api-canned-responses", "get-unknown.json", method, path).group(group).claim("sub", user);
    match body {
        Some(b) => r.body(&b.to_string()).build(),
        None => r.build(),
    }
}

async fn call(deps: &Deps, method: &str, path: &str, body: Option<Value>, group: &str, user: &str) -> (u16, Value) {
    let answer = crate::handle(request(method, path, body, group, user), deps).await.unwrap();
    (answer.status().as_u16(), serde_json::from_slice(answer.body()).unwrap_or(Value::Null))
}

fn greeting() -> Value {
    json!({ "shortcut": "/greeting", "title": "Saludo inicial", "content": "Hola {{customer_name}}, pedido {{order_id}}", "category": "general" })
}

#[tokio::test]
async fn supervisors_manage_shared_responses_and_agents_only_their_own() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    // GIVEN the organisation's greeting, created by a supervisor
    let (status, created) = call(&deps, "POST", "/v1/canned-responses", Some(greeting()), "supervisor", "sup").await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["variables"], json!(["customer_name", "order_id"]));
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/v1/canned-responses/{id}");
    // WHEN an agent edits or deletes it THEN 403, and it is unchanged
    assert_eq!(call(&deps, "PATCH", &path, Some(json!({ "title": "Mine now" })), "agent", "a1").await.0, 403);
    assert_eq!(call(&deps, "DELETE", &path, None, "agent", "a1").await.0, 403);
    assert_eq!(call(&deps, "GET", &path, None, "agent", "a1").await.1["title"], "Saludo inicial");
    // AND an agent's personal response is theirs alone: others do not find it
    let mine = json!({ "shortcut": "/greeting", "title": "My greeting", "content": "Hi!", "personal": true });
    let (status, personal) = call(&deps, "POST", "/v1/canned-responses", Some(mine), "agent", "a1").await;
    assert_eq!((status, personal["owner_id"].as_str()), (201, Some("a1")), "{personal}");
    let personal_path = format!("/v1/canned-responses/{}", personal["id"].as_str().unwrap());
    assert_eq!(call(&deps, "GET", &personal_path, None, "admin", "boss").await.0, 404);
    assert_eq!(call(&deps, "PATCH", &personal_path, Some(json!({ "title": "x" })), "agent", "a2").await.0, 404);
    let (status, edited) = call(&deps, "PATCH", &personal_path, Some(json!({ "title": "Hello there" })), "agent", "a1").await;
    assert_eq!((status, edited["title"].as_str(), edited["version"].as_u64()), (200, Some("Hello there"), Some(2)));
    // AND `/gre` lists both for their owner, only the shared one for another agent
    // Both unused and both `/greeting`: their order is their ids' (creation within one
    // millisecond decides nothing), so compare them sorted.
    let shortcuts = |v: &Value| {
        let mut titles = v["items"].as_array().unwrap().iter().map(|r| r["title"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        titles.sort();
        titles
    };
    let (_, for_a1) = call(&deps, "GET", "/v1/canned-responses?q=/gre", None, "agent", "a1").await;
    assert_eq!(shortcuts(&for_a1), ["Hello there", "Saludo inicial"]);
    let (_, for_a2) = call(&deps, "GET", "/v1/canned-responses?q=/gre", None, "agent", "a2").await;
    assert_eq!(shortcuts(&for_a2), ["Saludo inicial"]);
    // AND a supervisor deletes the shared one; the shortcut is free again
    assert_eq!(call(&deps, "DELETE", &path, None, "supervisor", "sup").await.0, 204);
    assert_eq!(call(&deps, "GET", &path, None, "supervisor", "sup").await.0, 404);
    assert_eq!(call(&deps, "POST", "/v1/canned-responses", Some(greeting()), "admin", "boss").await.0, 201);
}

#[tokio::test]
async fn a_taken_shortcut_is_409_and_bad_input_422_naming_the_field() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    assert_eq!(call(&deps, "POST", "/v1/canned-responses", Some(greeting()), "admin", "boss").await.0, 201);
    let (status, problem) = call(&deps, "POST", "/v1/canned-responses", Some(greeting()), "admin", "boss").await;
    assert_eq!((status, problem["current_status"].as_str()), (409, Some("shortcut_taken")), "{problem}");
    // The same shortcut in a team is another scope.
    let mut team = greeting();
    team["team_id"] = json!("sales");
    assert_eq!(call(&deps, "POST", "/v1/canned-responses", Some(team), "admin", "boss").await.0, 201);
    for (body, field) in [
        (json!({ "shortcut": "greeting", "title": "t", "content": "c" }), "shortcut"),
        (json!({ "shortcut": "/Greeting", "title": "t", "content": "c" }), "shortcut"),
        (json!({ "shortcut": "/x", "title": " ", "content": "c" }), "title"),
        (json!({ "shortcut": "/x", "title": "t", "content": "Hola {{name" }), "content"),
        (json!({ "shortcut": "/x", "title": "t", "content": "c", "attachments": [{ "type": "image", "link": "ftp://x" }] }), "attachments[0].link"),
        (json!({ "shortcut": "/x", "title": "t", "content": "c", "personal": true, "team_id": "sales" }), "team_id"),
        (json!({ "shortcut": "/x", "title": "t" }), "content"),
    ] {
        let (status, problem) = call(&deps, "POST", "/v1/canned-responses", Some(body.clone()), "admin", "boss").await;
        assert_eq!((status, problem["field"].as_str()), (422, Some(field)), "{body}: {problem}");
    }
    let (status, problem) = call(&deps, "GET", "/v1/canned-responses?limit=0", None, "agent", "a1").await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("limit")));
}

#[tokio::test]
async fn render_without_a_conversation_fills_the_agent_and_lists_the_rest() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let body = json!({ "shortcut": "/bye", "title": "Bye", "content": "Bye {{customer_name}}, {{agent_name}} here. Order {{order_id}}." });
    let (_, created) = call(&deps, "POST", "/v1/canned-responses", Some(body), "admin", "boss").await;
    let path = format!("/v1/canned-responses/{}/render", created["id"].as_str().unwrap());
    let (status, rendered) = call(&deps, "POST", &path, Some(json!({ "values": { "order_id": "ORD-9" } })), "agent", "a1").await;
    // The sample's claims name the caller "Sam Agent".
    assert_eq!(status, 200, "{rendered}");
    assert_eq!(rendered, json!({ "text": "Bye [customer_name], Sam Agent here. Order ORD-9.", "missing": ["customer_name"] }));
    let (status, problem) = call(&deps, "POST", &path, Some(json!({ "values": { "Order": "x" } })), "agent", "a1").await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("values.Order")));
    let (status, _) = call(&deps, "POST", &path, Some(json!({ "conversation_id": "nope" })), "agent", "a1").await;
    assert_eq!(status, 404);
}
