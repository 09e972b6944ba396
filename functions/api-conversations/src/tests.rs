//! This function's `events/` samples through its handler, on the memory adapter.

use max_core::config::Deps;
use max_core::ports::Queue;
use max_core::testing::{http_samples, statuses};

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-conversations", |req| crate::handle(req, deps)).await;
    assert_eq!(
        answered,
        statuses(&[
            ("get-rate-limit-settings.json", 200),
            ("get-unknown-conversation.json", 404),
            ("list-open-conversations.json", 200),
            ("put-rate-limit-settings.json", 200),
            ("send-text-reply.json", 404),
            ("send-uploaded-image-reply.json", 404),
            ("update-conversation-as-agent.json", 403),
            ("update-unknown-conversation.json", 404),
        ])
    );
    // A reply to a conversation that does not exist queues nothing.
    assert!(world.outbox.jobs(Queue::Replies).is_empty());
}

#[tokio::test]
async fn a_reply_with_an_upload_is_409_until_its_bytes_are_there_then_202_and_404_for_another_organisation() {
    use lambda_http::Body;
    use max_core::adapters::memory::MemoryBlobs;
    use max_core::domain::media::NewUpload;
    use max_core::domain::outbound::MediaType;
    use max_core::ports::BlobStore;
    use max_core::testing::{DEMO_ORG, register_demo_channel, sample_events};

    // GIVEN the sample customer's conversation and an agent's upload, not PUT yet
    let now = chrono::DateTime::from_timestamp(1_749_416_443, 0).unwrap();
    let (deps, world) = Deps::in_memory(now);
    register_demo_channel(&*world.store, &*world.secrets).await;
    let [(_, inbound)] = sample_events("inbound-processor").try_into().expect("one sample");
    let inbound: serde_json::Value = serde_json::from_str(&inbound).unwrap();
    let job: max_core::domain::webhook::InboundJob = serde_json::from_str(inbound["Records"][0]["body"].as_str().unwrap()).unwrap();
    let conversation = max_core::app::inbound::process_job(&deps.inbound_ports(), &job).await.unwrap().remove(0).conversation;
    let wanted = NewUpload { media_type: MediaType::Image, mime_type: "image/png".into(), size: 4, filename: None, animated: None };
    let upload = max_core::app::media::create_upload(&*deps.store, &*deps.blobs, DEMO_ORG, "user_agent", &wanted, now).await.unwrap();
    let reply = |org: &str| {
        let mut e: serde_json::Value = serde_json::from_str(include_str!("../../../events/api-conversations/send-uploaded-image-reply.json")).unwrap();
        let path = format!("/v1/conversations/{}/messages", conversation.id);
        e["rawPath"] = path.clone().into();
        e["requestContext"]["http"]["path"] = path.into();
        e["pathParameters"]["id"] = conversation.id.clone().into();
        e["requestContext"]["authorizer"]["jwt"]["claims"]["custom:org_id"] = org.into();
        e["body"] = serde_json::json!({"type": "media", "media_type": "image", "media_id": upload.id, "caption": "Fitted"}).to_string().into();
        lambda_http::request::from_str(&e.to_string()).unwrap()
    };
    let send = |org: &'static str| {
        let deps = &deps;
        let req = reply(org);
        async move {
            let res = crate::handle(req, deps).await.unwrap();
            let body = match res.body() {
                Body::Text(t) => t.clone(),
                _ => String::new(),
            };
            (res.status().as_u16(), body)
        }
    };
    // WHEN the reply comes before the PUT THEN 409 naming the field, nothing queued
    let (status, body) = send(DEMO_ORG).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("content.media_id"), "{body}");
    assert!(world.outbox.jobs(Queue::Replies).is_empty());
    // WHEN the bytes are there THEN 202 with the file on the message; another organisation 404
    let key = MemoryBlobs::presigned_key(&upload.upload.url).unwrap().to_string();
    world.blobs.put(&key, b"\x89PNG".to_vec(), "image/png").await.unwrap();
    assert_eq!(send("org_other").await.0, 404);
    let (status, body) = send(DEMO_ORG).await;
    assert_eq!(status, 202, "{body}");
    let message: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(message["media"]["id"], upload.id.as_str());
    assert_eq!(message["outbound"]["media_id"], upload.id.as_str());
    assert_eq!(world.outbox.jobs(Queue::Replies).len(), 1);
}
