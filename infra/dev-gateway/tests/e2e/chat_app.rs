//! The chat-app channel through the dev gateway on moto (`docs/chat-app.md`): an admin creates a
//! key; the app's signed message becomes a customer, a chat-app conversation and a message (once,
//! however often it is posted); bad signatures, stale timestamps and unknown keys are refused; an
//! agent's reply reaches the app as a `chat_app.message` event, never Meta; the app's statuses
//! move it.

use max_core::domain::chat_app::sign;
use max_dev::testing::{TestStack, WAIT, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) struct Key {
    id: String,
    secret: String,
}

pub(crate) async fn create_key(t: &TestStack) -> Key {
    let (status, created) = t.post("/v1/channels/chat-app", &t.org.admin, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    Key { id: created["key_id"].as_str().unwrap().into(), secret: created["secret"].as_str().unwrap().into() }
}

/// POSTs `body` to the app's route `path`, signed with `key`'s `secret` at `timestamp`.
async fn post_signed(t: &TestStack, path: &str, key_id: &str, secret: &str, timestamp: i64, body: &Value) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let response = t
        .http
        .post(t.url(path))
        .header("content-type", "application/json")
        .header("x-max-key-id", key_id)
        .header("x-max-timestamp", timestamp.to_string())
        .header("x-max-signature", sign(secret, timestamp, &bytes))
        .body(bytes)
        .send()
        .await
        .expect("chat-app POST");
    let status = response.status();
    (status, serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or(Value::Null))
}

pub(crate) async fn app_posts(t: &TestStack, key: &Key, path: &str, body: &Value) -> (StatusCode, Value) {
    post_signed(t, path, &key.id, &key.secret, chrono::Utc::now().timestamp(), body).await
}

pub(crate) fn message(id: &str, text: &str) -> Value {
    json!({ "message_id": id, "user": { "id": "app-user-7", "name": "Rui Costa", "email": "rui@example.com" }, "text": text, "sent_at": chrono::Utc::now() })
}

async fn chat_app_conversations(t: &TestStack) -> Vec<Value> {
    t.conversations().await.into_iter().filter(|c| c["channel"] == "chat_app").collect()
}

#[tokio::test]
async fn a_signed_message_opens_a_chat_app_conversation_once_and_forgeries_are_refused() {
    let t = TestStack::start().await;
    let key = create_key(&t).await;

    // WHEN the app posts a user's message, signed
    let (status, accepted) = app_posts(&t, &key, "/v1/channels/chat-app/messages", &message("app-msg-1", "Is the shop open on Sunday?")).await;
    assert_eq!((status, accepted["message_id"].as_str()), (StatusCode::ACCEPTED, Some("app-msg-1")), "{accepted}");
    // THEN a conversation on the chat-app channel appears with the message, its customer has the identity
    let c = eventually("the chat-app conversation", WAIT, || async { chat_app_conversations(&t).await.into_iter().next() }).await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(c["customer_address"], "app-user-7", "{c}");
    let customer_id = c["customer_id"].as_str().unwrap();
    let (status, customer) = t.get(&format!("/v1/customers/{customer_id}"), &t.org.admin).await;
    assert_eq!(status, StatusCode::OK, "{customer}");
    let identities = customer["identities"].as_array().cloned().unwrap_or_default();
    assert!(identities.iter().any(|i| i["channel"] == "chat_app" && i["external_id"] == "app-user-7"), "{customer}");
    t.drained().await;
    let first = t.messages(id).await;
    assert_eq!(first.iter().filter(|m| m["direction"] == "inbound").count(), 1, "{first:?}");

    // WHEN the same message is posted again (a retry) THEN the same answer, and nothing changes
    let (status, again) = app_posts(&t, &key, "/v1/channels/chat-app/messages", &message("app-msg-1", "Is the shop open on Sunday?")).await;
    assert_eq!((status, &again), (StatusCode::ACCEPTED, &accepted));
    t.drained().await;
    assert_eq!(t.messages(id).await.len(), first.len());
    assert_eq!(chat_app_conversations(&t).await.len(), 1);

    // Forgeries: a wrong signature, a stale timestamp, an unknown key, no signature: 401, nothing queued.
    let body = message("app-msg-forged", "forged");
    let now = chrono::Utc::now().timestamp();
    let (status, _) = post_signed(&t, "/v1/channels/chat-app/messages", &key.id, "cas_guessed", now, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post_signed(&t, "/v1/channels/chat-app/messages", &key.id, &key.secret, now - 600, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "stale");
    let (status, _) = post_signed(&t, "/v1/channels/chat-app/messages", "cak_0123456789abcdef0123456789abcdef", &key.secret, now, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unknown key");
    let unsigned = t.http.post(t.url("/v1/channels/chat-app/messages")).json(&body).send().await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    // A signed body that is not right: 422 naming the field.
    let (status, problem) = app_posts(&t, &key, "/v1/channels/chat-app/messages", &json!({ "message_id": "x", "user": { "id": "u" }, "sent_at": chrono::Utc::now() })).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("text")), "{problem}");
    assert_eq!(t.queued("InboundQueue").await, 0);

    // WHEN the key is removed THEN its next call is refused at once
    let (status, _) = t.api(reqwest::Method::DELETE, &format!("/v1/channels/chat-app/keys/{}", key.id), &t.org.admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app_posts(&t, &key, "/v1/channels/chat-app/messages", &message("app-msg-2", "still there?")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another organisation never sees the conversation.
    let (status, _) = t.get(&format!("/v1/conversations/{id}"), &t.other.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_agents_reply_reaches_the_app_as_an_event_and_its_statuses_move_it() {
    let t = TestStack::start().await;
    let key = create_key(&t).await;
    let (status, _) = app_posts(&t, &key, "/v1/channels/chat-app/messages", &message("app-msg-1", "Can I change my delivery address?")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let c = eventually("the chat-app conversation", WAIT, || async { chat_app_conversations(&t).await.into_iter().next() }).await;
    let conversation = c["id"].as_str().unwrap().to_string();
    t.drained().await;

    // WHEN an agent replies in it
    let path = format!("/v1/conversations/{conversation}/messages");
    let (status, reply) = t.post(&path, &t.org.agent, json!({ "type": "text", "body": "Yes: send us the new one here." })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let reply_id = reply["id"].as_str().unwrap().to_string();
    // THEN the feed carries it for the app, with the user it is for, and it is sent (Meta got nothing)
    let event = eventually("the chat_app.message event", WAIT, || async {
        t.feed(&t.org.admin).await.into_iter().find(|e| e["kind"] == "chat_app.message" && e["data"]["message_id"] == reply_id.as_str())
    })
    .await;
    assert_eq!((event["data"]["user_id"].as_str(), event["data"]["text"].as_str()), (Some("app-user-7"), Some("Yes: send us the new one here.")), "{event}");
    let status_of = |reply_id: String| {
        let t = &t;
        let conversation = conversation.clone();
        async move { t.messages(&conversation).await.into_iter().find(|m| m["id"] == reply_id.as_str()).map(|m| m["status"].as_str().unwrap_or_default().to_string()) }
    };
    eventually("the reply sent", WAIT, || async { (status_of(reply_id.clone()).await.as_deref() == Some("sent")).then_some(()) }).await;
    assert!(t.stack.sandbox.as_ref().is_none_or(|s| s.outbox().iter().all(|o| o.request["text"]["body"] != "Yes: send us the new one here.")));

    // WHEN the app says it was read
    let (status, _) = app_posts(&t, &key, "/v1/channels/chat-app/statuses", &json!({ "message_id": reply_id, "status": "read", "at": chrono::Utc::now() })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // THEN the message is read, and the dashboard told
    eventually("the reply read", WAIT, || async { (status_of(reply_id.clone()).await.as_deref() == Some("read")).then_some(()) }).await;
    t.drained().await;
    let told = t.feed(&t.org.admin).await;
    assert!(told.iter().any(|e| e["kind"] == "message.status_changed" && e["data"]["message_id"] == reply_id.as_str() && e["data"]["status"] == "read"));
    // A later `delivered` changes nothing (forward only).
    let (status, _) = app_posts(&t, &key, "/v1/channels/chat-app/statuses", &json!({ "message_id": reply_id, "status": "delivered", "at": chrono::Utc::now() })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    t.drained().await;
    assert_eq!(status_of(reply_id.clone()).await.as_deref(), Some("read"));
}
