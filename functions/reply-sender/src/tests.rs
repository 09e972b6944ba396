//! This function's `events/` sample (the lost-reply sweep) through its handler, on the memory
//! adapter, and the job it queues again through the send handler; a batch meeting its deadline;
//! an agent's upload sent to Meta (wiremock, the real Graph client) by a presigned link.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::Duration;
use max_core::app::delivery::{NewReply, queue_reply};
use max_core::app::inbound::process_job;
use max_core::config::Deps;
use max_core::domain::message::{DeliveryStatus, Sender, SenderType, callback_tag};
use max_core::domain::outbound::OutboundContent;
use max_core::domain::webhook::InboundJob;
use max_core::error::Error;
use max_core::adapters::graph::Sandbox;
use max_core::batch::StopBy;
use max_core::domain::secret::Secret;
use max_core::ports::{MessageStore, Queue, SendOutcome, WhatsApp};
use max_core::testing::{DEMO_ORG, register_demo_channel, sample_events};

#[tokio::test]
async fn the_sweep_queues_a_reply_whose_job_was_lost_and_it_is_sent_once() {
    // GIVEN a customer's conversation (from inbound-processor's sample) and a reply stored while
    // the queue was down: stored `queued`, its job lost.
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    register_demo_channel(&*world.store, &*world.secrets).await;
    let [(_, inbound)] = sample_events("inbound-processor").try_into().expect("one sample");
    let inbound: SqsEvent = serde_json::from_str(&inbound).unwrap();
    let job: InboundJob = serde_json::from_str(inbound.records[0].body.as_deref().unwrap()).unwrap();
    let received = process_job(&deps.inbound_ports(), &job).await.unwrap();
    let conversation = &received[0].conversation;
    world.outbox.fail_next_send(Error::backend("sqs", "queue unavailable"));
    let reply = NewReply {
        org_id: DEMO_ORG,
        conversation_id: &conversation.id,
        content: OutboundContent::text("We have it in blue and red."),
        sender: Sender { kind: SenderType::Agent, id: Some("agent-1".into()), name: None },
        idempotency_key: None,
        now: deps.clock.now(),
        just_read: None,
    };
    assert!(queue_reply(&*deps.store, &*deps.store, &*deps.outbox, reply).await.is_err());
    assert!(world.outbox.jobs(Queue::Replies).is_empty());

    // WHEN the schedule fires (its sample) before and after the reply counts as lost
    let [(_, schedule), _] = sample_events("reply-sender").try_into().expect("the sweep's and a job's samples");
    assert!(schedule.contains("Scheduled Event"));
    assert_eq!(crate::sweep(&deps).await.unwrap(), 0, "a young reply may still be on its way");
    world.clock.advance(Duration::minutes(3));
    assert_eq!(crate::sweep(&deps).await.unwrap(), 1);

    // THEN its job is queued again, and sending it sends once and records the send.
    let jobs = world.outbox.take_event(Queue::Replies);
    assert_eq!(jobs.records.len(), 1);
    let job: serde_json::Value = serde_json::from_str(jobs.records[0].body.as_deref().unwrap()).unwrap();
    let answer = crate::handle(jobs, &deps, StopBy::NEVER).await.unwrap();
    assert!(answer.batch_item_failures.is_empty());
    assert_eq!(world.whatsapp.outbox().len(), 1);
    let message = world.store.message(DEMO_ORG, &conversation.id, job["message_id"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!(message.status, DeliveryStatus::Sent);
}

#[tokio::test]
async fn its_job_sample_names_an_unknown_message_and_is_dropped_without_a_send() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let [_, (name, job)] = sample_events("reply-sender").try_into().expect("the sweep's and a job's samples");
    assert_eq!(name, "sqs-reply-job.json");
    let event: SqsEvent = serde_json::from_str(&job).unwrap();
    let answer = crate::handle(event, &deps, StopBy::NEVER).await.unwrap();
    // A job for a message that is not stored is not retried (it never will be), and sends nothing.
    assert!(answer.batch_item_failures.is_empty());
    assert!(world.whatsapp.outbox().is_empty());
    assert!(world.outbox.retries().is_empty());
}

/// A Graph API that takes `SLOW` to answer each send (the sandbox's answer), on tokio's clock.
struct SlowGraph(Sandbox);

const SLOW: std::time::Duration = std::time::Duration::from_secs(4);

#[async_trait::async_trait]
impl WhatsApp for SlowGraph {
    async fn send(&self, phone_number_id: &str, token: &Secret, body: &serde_json::Value) -> SendOutcome {
        tokio::time::sleep(SLOW).await;
        self.0.send(phone_number_id, token, body).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_batch_stops_before_the_deadline_and_no_reply_is_sent_twice() {
    // GIVEN a customer's conversation and three replies queued for them (one FIFO group)
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    register_demo_channel(&*world.store, &*world.secrets).await;
    let [(_, inbound)] = sample_events("inbound-processor").try_into().expect("one sample");
    let inbound: SqsEvent = serde_json::from_str(&inbound).unwrap();
    let job: InboundJob = serde_json::from_str(inbound.records[0].body.as_deref().unwrap()).unwrap();
    let conversation = process_job(&deps.inbound_ports(), &job).await.unwrap().remove(0).conversation;
    for text in ["one", "two", "three"] {
        let reply = NewReply {
            org_id: DEMO_ORG,
            conversation_id: &conversation.id,
            content: OutboundContent::text(text),
            sender: Sender { kind: SenderType::Agent, id: Some("agent-1".into()), name: None },
            idempotency_key: None,
            now: deps.clock.now(),
            just_read: None,
        };
        queue_reply(&*deps.store, &*deps.store, &*deps.outbox, reply).await.unwrap();
    }
    let batch = world.outbox.take_event(Queue::Replies);
    assert_eq!(batch.records.len(), 3);
    let batch_ids: Vec<String> = batch
        .records
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(r.body.as_deref().unwrap()).unwrap()["message_id"].as_str().unwrap().to_string())
        .collect();
    let graph = Arc::new(SlowGraph(Sandbox::default()));
    let deps = Deps { whatsapp: graph.clone(), ..deps };

    // WHEN the batch runs with time for two sends before it must stop
    let stop_by = StopBy::at(tokio::time::Instant::now() + SLOW + SLOW / 2);
    let answer = crate::handle(batch.clone(), &deps, stop_by).await.unwrap();

    // THEN two were sent and the third is handed back unprocessed, still queued
    let failed: Vec<&str> = answer.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, [batch.records[2].message_id.as_deref().unwrap()]);
    assert_eq!(graph.0.outbox().len(), 2);
    // WHEN SQS hands back the whole batch (as it would after a timeout), then it all goes through
    let answer = crate::handle(batch, &deps, StopBy::NEVER).await.unwrap();
    assert!(answer.batch_item_failures.is_empty());
    // THEN each reply went out once, in order (the sample's window has long closed: each as the
    // fallback template, tagged with its message)
    let tags: Vec<String> = graph.0.outbox().iter().rev().map(|e| e.request["biz_opaque_callback_data"].as_str().unwrap().to_string()).collect();
    let mut expected = Vec::new();
    for record in &batch_ids {
        let message = world.store.message(DEMO_ORG, &conversation.id, record).await.unwrap().unwrap();
        assert_eq!(message.status, DeliveryStatus::Sent);
        expected.push(callback_tag(&conversation.id, &message.id));
    }
    assert_eq!(tags, expected);
}

#[tokio::test]
async fn an_upload_reaches_meta_as_a_link_with_its_caption() {
    use max_core::adapters::graph::GraphApi;
    use max_core::adapters::memory::MemoryBlobs;
    use max_core::domain::media::{NewUpload, PRESIGNED_SEND_SECS};
    use max_core::domain::outbound::MediaType;
    use max_core::ports::BlobStore;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // GIVEN the sample's customer writing a minute ago (the window open), Meta behind the real client
    let now = chrono::DateTime::from_timestamp(1_749_416_443, 0).unwrap();
    let (deps, world) = Deps::in_memory(now);
    register_demo_channel(&*world.store, &*world.secrets).await;
    let [(_, inbound)] = sample_events("inbound-processor").try_into().expect("one sample");
    let inbound: SqsEvent = serde_json::from_str(&inbound).unwrap();
    let job: InboundJob = serde_json::from_str(inbound.records[0].body.as_deref().unwrap()).unwrap();
    let conversation = process_job(&deps.inbound_ports(), &job).await.unwrap().remove(0).conversation;
    let meta = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{}/messages", conversation.phone_number_id)))
        .and(header("authorization", format!("Bearer {}", max_core::testing::DEMO_ACCESS_TOKEN).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"messages": [{"id": "wamid.IMG1"}]})))
        .expect(1)
        .mount(&meta)
        .await;
    let deps = Deps { whatsapp: Arc::new(GraphApi::new(&format!("{}/v23.0", meta.uri()), std::time::Duration::from_secs(5))), ..deps };
    // AND an agent's image, uploaded, in a reply
    let wanted = NewUpload { media_type: MediaType::Image, mime_type: "image/jpeg".into(), size: 3, filename: None, animated: None };
    let upload = max_core::app::media::create_upload(&*deps.store, &*deps.blobs, DEMO_ORG, "agent-1", &wanted, now).await.unwrap();
    let key = MemoryBlobs::presigned_key(&upload.upload.url).unwrap().to_string();
    world.blobs.put(&key, vec![0xff, 0xd8, 0xff], "image/jpeg").await.unwrap();
    let content = OutboundContent::Media {
        media_type: MediaType::Image,
        id: None,
        link: None,
        media_id: Some(upload.id.clone()),
        caption: Some("Your new part".into()),
        filename: None,
    };
    let content = max_core::app::media::use_upload(&*deps.store, &*deps.blobs, DEMO_ORG, content, now).await.unwrap();
    let reply = NewReply {
        org_id: DEMO_ORG,
        conversation_id: &conversation.id,
        content,
        sender: Sender { kind: SenderType::Agent, id: Some("agent-1".into()), name: None },
        idempotency_key: None,
        now,
        just_read: None,
    };
    let message = queue_reply(&*deps.store, &*deps.store, &*deps.outbox, reply).await.unwrap();

    // WHEN reply-sender takes the job
    let answer = crate::handle(world.outbox.take_event(Queue::Replies), &deps, StopBy::NEVER).await.unwrap();
    assert!(answer.batch_item_failures.is_empty());

    // THEN Meta received an image by link, the upload's presigned GET, with the caption
    let received = meta.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["type"], "image");
    let link = body["image"]["link"].as_str().expect("sent by link");
    assert_eq!(MemoryBlobs::presigned_key(link), Some(key.as_str()));
    assert!(link.ends_with(&format!("expires_in={PRESIGNED_SEND_SECS}")));
    assert_eq!(body["image"]["caption"], "Your new part");
    assert_eq!(body["image"].as_object().unwrap().len(), 2, "a link and a caption, nothing else: {body}");
    let sent = world.store.message(DEMO_ORG, &conversation.id, &message.id).await.unwrap().unwrap();
    assert_eq!((sent.status, sent.wamid.as_deref()), (DeliveryStatus::Sent, Some("wamid.IMG1")));
}
