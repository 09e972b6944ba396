//! This function's `events/` samples through its handler, on the memory adapter, and the same
//! message signed with a live key: queued once per call, answered the same when repeated, refused
//! when stale, forged, too large or not right.

use chrono::{DateTime, Utc};
use lambda_http::Body;
use max_core::app::chat_app::create_key;
use max_core::config::Deps;
use max_core::domain::chat_app::{CreatedChatAppKey, sign};
use max_core::domain::webhook::InboundJob;
use max_core::ports::Queue;
use max_core::testing::{DEMO_ORG, sample_events, statuses};
use serde_json::Value;

fn sample(name: &str) -> Value {
    let (_, text) = sample_events("chat-app-webhook").into_iter().find(|(n, _)| n == name).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The sample message as `key` signs it at `at`, with `body` in place of the sample's when given.
fn signed(key: &CreatedChatAppKey, at: DateTime<Utc>, body: Option<&str>) -> lambda_http::Request {
    let mut event = sample("receive-message-unknown-key.json");
    let body = body.map(str::to_string).unwrap_or_else(|| event["body"].as_str().unwrap().to_string());
    event["headers"]["x-max-key-id"] = key.key_id.clone().into();
    event["headers"]["x-max-timestamp"] = at.timestamp().to_string().into();
    event["headers"]["x-max-signature"] = sign(&key.secret, at.timestamp(), body.as_bytes()).into();
    event["body"] = body.into();
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn answer(response: &lambda_http::Response<Body>) -> Value {
    match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn its_samples_are_refused_unsigned_or_with_an_unknown_key() {
    let (deps, world) = Deps::in_memory(Utc::now());
    let mut answered = Vec::new();
    for (name, text) in sample_events("chat-app-webhook") {
        let response = crate::handle(lambda_http::request::from_str(&text).unwrap(), &deps).await.unwrap();
        answered.push((name, response.status().as_u16()));
    }
    assert_eq!(answered, statuses(&[("receive-message-unknown-key.json", 401), ("receive-status-unsigned.json", 401)]));
    assert!(world.outbox.jobs(Queue::Inbound).is_empty(), "nothing queued");
}

#[tokio::test]
async fn a_signed_message_is_queued_for_its_keys_organisation_and_a_repeat_is_answered_the_same() {
    let now = Utc::now();
    let (deps, world) = Deps::in_memory(now);
    let key = create_key(&*deps.store, &*deps.secrets, DEMO_ORG, now).await.unwrap();
    let first = crate::handle(signed(&key, now, None), &deps).await.unwrap();
    assert_eq!(first.status(), 202);
    let again = crate::handle(signed(&key, now, None), &deps).await.unwrap();
    assert_eq!((again.status(), answer(&again)), (first.status(), answer(&first)));
    assert_eq!(answer(&first)["message_id"], "msg-1001");
    let jobs = world.outbox.jobs(Queue::Inbound);
    // Both calls queue the same job under one deduplication id: the FIFO queue keeps one (and
    // after its 5 minutes, processing stores one message per app message id).
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].group_id.as_deref(), Some(format!("{DEMO_ORG}#chat_app#user-42").as_str()));
    match serde_json::from_str::<InboundJob>(&jobs[0].body).unwrap() {
        InboundJob::ChatApp { org_id, message, .. } => {
            assert_eq!(org_id, DEMO_ORG);
            assert_eq!(message.user.id, "user-42");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn stale_forged_too_large_and_bad_bodies_are_refused_and_queue_nothing() {
    let now = Utc::now();
    let (deps, world) = Deps::in_memory(now);
    let key = create_key(&*deps.store, &*deps.secrets, DEMO_ORG, now).await.unwrap();
    let status = |r: lambda_http::Response<Body>| r.status().as_u16();
    // Signed six minutes ago: a replay outside the window.
    assert_eq!(status(crate::handle(signed(&key, now - chrono::Duration::minutes(6), None), &deps).await.unwrap()), 401);
    // Signed with another secret.
    let forged = CreatedChatAppKey { secret: "cas_guess".into(), ..key.clone() };
    assert_eq!(status(crate::handle(signed(&forged, now, None), &deps).await.unwrap()), 401);
    // Over 64 KiB: refused before anything is read.
    let big = format!(r#"{{"message_id":"m","user":{{"id":"u"}},"text":"{}","sent_at":"2026-01-01T00:00:00Z"}}"#, "a".repeat(70 * 1024));
    assert_eq!(status(crate::handle(signed(&key, now, Some(&big)), &deps).await.unwrap()), 413);
    // Signed, but a field is wrong: 422 naming it.
    let bad = r#"{"message_id":"m#1","user":{"id":"u"},"text":"hi","sent_at":"2026-01-01T00:00:00Z"}"#;
    let response = crate::handle(signed(&key, now, Some(bad)), &deps).await.unwrap();
    assert_eq!((response.status().as_u16(), answer(&response)["field"].clone()), (422, "message_id".into()));
    let missing = r#"{"message_id":"m","user":{"id":"u"},"sent_at":"2026-01-01T00:00:00Z"}"#;
    let response = crate::handle(signed(&key, now, Some(missing)), &deps).await.unwrap();
    assert_eq!((response.status().as_u16(), answer(&response)["field"].clone()), (422, "text".into()));
    assert!(world.outbox.jobs(Queue::Inbound).is_empty());
}
