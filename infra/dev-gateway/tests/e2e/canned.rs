//! Canned responses on the dev stack (moto, the WhatsApp sandbox): `/gre` finds the greeting,
//! render fills the customer's name and reports the missing order id, sending it with the order
//! id reaches WhatsApp rendered and counts one use, retried or not; two creates of one shortcut
//! give one response.

use max_dev::testing::{CUSTOMER, TestStack, WAIT, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

const GREETING: &str = "Hola {{customer_name}}, tu pedido {{order_id}} está listo.";

async fn create(t: &TestStack, token: &str, body: Value) -> (StatusCode, Value) {
    t.post("/v1/canned-responses", token, body).await
}

/// A canned reply with an `Idempotency-Key`.
async fn send(t: &TestStack, conversation: &str, body: &Value, key: &str) -> (StatusCode, Value) {
    let res = t
        .http
        .post(t.url(&format!("/v1/conversations/{conversation}/messages")))
        .bearer_auth(&t.org.agent)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("POST messages");
    let status = res.status();
    (status, res.json::<Value>().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_greeting_is_found_rendered_sent_once_and_counted_once() {
    let t = TestStack::start().await;
    // GIVEN the organisation's greeting and another response, created by a supervisor
    let (status, greeting) = create(&t, &t.org.supervisor, json!({ "shortcut": "/greeting", "title": "Saludo inicial", "content": GREETING, "category": "general" })).await;
    assert_eq!(status, StatusCode::CREATED, "{greeting}");
    let (status, _) = create(&t, &t.org.supervisor, json!({ "shortcut": "/pricing", "title": "Precios", "content": "Desde $99/mes" })).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = greeting["id"].as_str().unwrap().to_string();

    // WHEN the agent types `/gre` THEN the greeting, alone
    let (status, found) = t.get("/v1/canned-responses?q=%2Fgre", &t.org.agent).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let shortcuts: Vec<&str> = found["items"].as_array().unwrap().iter().map(|r| r["shortcut"].as_str().unwrap()).collect();
    assert_eq!(shortcuts, ["/greeting"]);
    // AND another organisation does not find it
    let (_, theirs) = t.get("/v1/canned-responses?q=%2Fgre", &t.other.agent).await;
    assert_eq!(theirs["items"], json!([]));
    assert_eq!(t.get(&format!("/v1/canned-responses/{id}"), &t.other.admin).await.0, StatusCode::NOT_FOUND);

    // GIVEN Sheena Nelson (Meta's text fixture) writing
    let conversation = t.live_conversation().await;
    // WHEN the agent renders the greeting for her conversation
    let (status, rendered) = t.post(&format!("/v1/canned-responses/{id}/render"), &t.org.agent, json!({ "conversation_id": conversation })).await;
    // THEN her name is filled and the order id reported missing
    assert_eq!(status, StatusCode::OK, "{rendered}");
    assert_eq!(rendered, json!({ "text": "Hola Sheena Nelson, tu pedido [order_id] está listo.", "missing": ["order_id"] }));

    // WHEN the agent sends it without the order id THEN 422 naming it, and nothing is queued
    let (status, problem) = send(&t, &conversation, &json!({ "canned_response_id": id }), "greet-0").await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("values.order_id")), "{problem}");
    assert!(t.messages(&conversation).await.iter().all(|m| m["direction"] != "outbound"));

    // WHEN the agent sends it with the order id, and the client retries the same request
    let body = json!({ "canned_response_id": id, "values": { "order_id": "ORD-123" } });
    let (status, first) = send(&t, &conversation, &body, "greet-1").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (status, retried) = send(&t, &conversation, &body, "greet-1").await;
    assert_eq!((status, &retried["id"]), (StatusCode::ACCEPTED, &first["id"]));
    // THEN WhatsApp gets the rendered text, once
    let text = "Hola Sheena Nelson, tu pedido ORD-123 está listo.";
    let sandbox = t.stack.sandbox.clone().unwrap();
    let sent = eventually("the greeting is sent", WAIT, || async { sandbox.outbox().into_iter().find(|m| m.request["type"] == "text") }).await;
    assert_eq!((sent.request["to"].as_str(), sent.request["text"]["body"].as_str()), (Some(CUSTOMER), Some(text)), "{}", sent.request);
    t.drained().await;
    assert_eq!(sandbox.outbox().len(), 1, "one message for two requests");
    // AND another organisation can neither send it nor render it for this conversation
    let (status, _) = t.post(&format!("/v1/conversations/{conversation}/messages"), &t.other.admin, body.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = t.post(&format!("/v1/canned-responses/{id}/render"), &t.other.admin, json!({ "conversation_id": conversation })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // AND the greeting counts one use
    let (_, after) = t.get(&format!("/v1/canned-responses/{id}"), &t.org.agent).await;
    assert_eq!(after["usage_count"], 1, "{after}");
    // AND the most used comes first now
    let (_, all) = t.get("/v1/canned-responses", &t.org.agent).await;
    assert_eq!(all["items"][0]["shortcut"], "/greeting");
}

#[tokio::test]
async fn two_creates_of_one_shortcut_give_one_response() {
    let t = TestStack::start().await;
    let body = json!({ "shortcut": "/greeting", "title": "Saludo", "content": "Hola" });
    let (a, b) = tokio::join!(create(&t, &t.org.admin, body.clone()), create(&t, &t.org.supervisor, body.clone()));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "{} {}", a.1, b.1);
    let (_, all) = t.get("/v1/canned-responses", &t.org.agent).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    // The same shortcut is free in another organisation and in a team.
    assert_eq!(create(&t, &t.other.admin, body.clone()).await.0, StatusCode::CREATED);
    let mut team = body;
    team["team_id"] = json!("sales");
    assert_eq!(create(&t, &t.org.admin, team).await.0, StatusCode::CREATED);
}
