//! The worker on the memory adapter with Meta faked at the HTTP level (wiremock), so the real
//! Graph client asks for URLs and streams downloads: a file stored once; an expired URL asked for
//! afresh; a media id Meta forgot ends unavailable at once; a size mismatch is retried with backoff
//! and ends unavailable on the last attempt. And this function's `events/` sample.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{TimeZone, Utc};
use max_core::adapters::graph::GraphApi;
use max_core::adapters::memory::sqs_record;
use max_core::app::media::register;
use max_core::batch::StopBy;
use max_core::config::{Deps, InMemory};
use max_core::domain::media::{MAX_ATTEMPTS, MediaJob, MediaStatus};
use max_core::domain::message::{DeliveryStatus, Direction, Message, Sender, SenderType};
use max_core::ports::{Queue, QueueMessage};
use max_core::testing::{DEMO_ACCESS_TOKEN, DEMO_ORG, register_demo_channel, sample_events};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MEDIA_ID: &str = "1597321124388452";

/// GIVEN the demo number, a customer's document message registered (pending, its job queued),
/// and Meta (wiremock) behind the real Graph client.
async fn given() -> (Deps, InMemory, MockServer, QueueMessage) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap();
    let (deps, world) = Deps::in_memory(now);
    register_demo_channel(&*deps.store, &*deps.secrets).await;
    let meta = MockServer::start().await;
    let deps = Deps {
        whatsapp: Arc::new(GraphApi::new(
            &format!("{}/v23.0", meta.uri()),
            StdDuration::from_secs(5),
        )),
        ..deps
    };
    let message = Message {
        id: "01JMSG0000000000000000DOC1".into(),
        org_id: DEMO_ORG.into(),
        conversation_id: "01JCONV000000000000000000A".into(),
        customer_id: "cust-1".into(),
        direction: Direction::Inbound,
        kind: "document".into(),
        text: Some("Invoice".into()),
        content: Some(
            json!({"id": MEDIA_ID, "filename": "invoice-2291.pdf", "mime_type": "application/pdf", "sha256": "X9jY="}),
        ),
        context: None,
        referral: None,
        errors: None,
        outbound: None,
        wamid: Some("wamid.MEDIADOC0001".into()),
        status: DeliveryStatus::Received,
        failure: None,
        sender: Sender {
            kind: SenderType::Customer,
            id: None,
            name: None,
        },
        created_at: now,
        sent_at: None,
        delivered_at: None,
        read_at: None,
        failed_at: None,
        sent_as_template: None,
        idempotency_key: None,
        sending_at: None,
        resent_at: None,
        rate_limited: false,
        media: None,
    };
    assert!(
        register(
            &*deps.store,
            &*deps.outbox,
            &message,
            "106540352242922",
            now
        )
        .await
        .unwrap()
    );
    let job = world.outbox.take(Queue::Media).remove(0);
    (deps, world, meta, job)
}

/// Meta's answer for the media id: its URL on the fake, the bytes' size and hash.
fn media_url(meta: &MockServer, size: usize, sha256: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "url": format!("{}/whatsapp_business/attachments/?mid={MEDIA_ID}", meta.uri()),
        "mime_type": "application/pdf",
        "sha256": sha256,
        "file_size": size,
        "id": MEDIA_ID,
    }))
}

fn pdf() -> Vec<u8> {
    (0..70_000u32).map(|i| (i % 253) as u8).collect()
}

fn sha256_b64(bytes: &[u8]) -> String {
    let mut fp = max_core::domain::media::Fingerprint::default();
    fp.update(bytes);
    fp.sha256()
}

fn event(job: &QueueMessage, receive_count: u32) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = vec![sqs_record(0, job, receive_count)];
    event
}

async fn file(deps: &Deps, job: &QueueMessage) -> max_core::domain::media::MediaFile {
    let job: MediaJob = serde_json::from_str(&job.body).unwrap();
    deps.store
        .media_file(&job.org_id, &job.media_id)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn an_expired_url_is_asked_for_again_and_the_same_bytes_are_stored_once() {
    let (deps, _world, meta, job) = given().await;
    let bytes = pdf();
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{MEDIA_ID}")))
        .and(header(
            "authorization",
            format!("Bearer {DEMO_ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(media_url(&meta, bytes.len(), &sha256_b64(&bytes)))
        .expect(2)
        .mount(&meta)
        .await;
    // The first URL has expired by the time it is fetched; the second one serves the file.
    Mock::given(method("GET"))
        .and(path("/whatsapp_business/attachments/"))
        .respond_with(ResponseTemplate::new(404))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&meta)
        .await;
    Mock::given(method("GET"))
        .and(path("/whatsapp_business/attachments/"))
        .and(header(
            "authorization",
            format!("Bearer {DEMO_ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes.clone()))
        .with_priority(2)
        .mount(&meta)
        .await;

    let answer = crate::handle(event(&job, 1), &deps, StopBy::NEVER)
        .await
        .unwrap();
    assert!(answer.batch_item_failures.is_empty());
    let stored = file(&deps, &job).await;
    assert_eq!(stored.status, MediaStatus::Stored);
    assert_eq!(
        deps.blobs
            .get(stored.storage_key.as_deref().unwrap())
            .await
            .unwrap(),
        bytes
    );
    // A redelivery asks Meta nothing more (the mock's expect(2) checks it on drop).
    let again = crate::handle(event(&job, 2), &deps, StopBy::NEVER)
        .await
        .unwrap();
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(file(&deps, &job).await, stored);
}

#[tokio::test]
async fn a_media_id_meta_does_not_know_is_unavailable_at_once() {
    let (deps, world, meta, job) = given().await;
    let not_found = json!({"error": {"message": "(#100) Param media_id is not a valid media ID", "type": "OAuthException", "code": 100, "error_subcode": 2494010}});
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{MEDIA_ID}")))
        .respond_with(ResponseTemplate::new(400).set_body_json(not_found))
        .expect(1)
        .mount(&meta)
        .await;

    let answer = crate::handle(event(&job, 1), &deps, StopBy::NEVER)
        .await
        .unwrap();
    assert!(answer.batch_item_failures.is_empty(), "nothing to retry");
    let f = file(&deps, &job).await;
    assert_eq!(f.status, MediaStatus::Unavailable);
    assert!(f.reason.unwrap().contains("not a valid media ID"));
    assert!(world.blobs.keys("media/").is_empty());
}

#[tokio::test]
async fn a_size_mismatch_is_retried_with_backoff_and_ends_unavailable_on_the_last_attempt() {
    let (deps, world, meta, job) = given().await;
    let bytes = pdf();
    // Meta says one byte more than it serves.
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{MEDIA_ID}")))
        .respond_with(media_url(&meta, bytes.len() + 1, &sha256_b64(&bytes)))
        .mount(&meta)
        .await;
    Mock::given(method("GET"))
        .and(path("/whatsapp_business/attachments/"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes))
        .mount(&meta)
        .await;

    let first = crate::handle(event(&job, 1), &deps, StopBy::NEVER)
        .await
        .unwrap();
    assert_eq!(
        first.batch_item_failures.len(),
        1,
        "handed back for a retry"
    );
    assert_eq!(
        world.outbox.retries(),
        vec![(Queue::Media, "receipt-0".to_string(), 30)]
    );
    assert_eq!(file(&deps, &job).await.status, MediaStatus::Pending);
    assert!(
        world.blobs.keys("media/").is_empty(),
        "the wrong bytes are not kept"
    );

    let last = crate::handle(event(&job, MAX_ATTEMPTS), &deps, StopBy::NEVER)
        .await
        .unwrap();
    assert!(last.batch_item_failures.is_empty());
    let f = file(&deps, &job).await;
    assert_eq!(f.status, MediaStatus::Unavailable);
    assert!(f.reason.unwrap().contains("size mismatch"));
}

#[test]
fn retries_wait_longer_each_time_up_to_fifteen_minutes() {
    assert_eq!(
        [1, 2, 3, 4, 5, 12].map(crate::retry_delay),
        [30, 60, 120, 240, 480, 900]
    );
}

#[tokio::test]
async fn its_sample_job_for_a_file_nobody_recorded_changes_nothing() {
    let (deps, world) = Deps::in_memory(Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap());
    for (_, text) in sample_events("media-worker") {
        let event: SqsEvent = serde_json::from_str(&text).unwrap();
        let answer = crate::handle(event, &deps, StopBy::NEVER).await.unwrap();
        assert!(answer.batch_item_failures.is_empty());
    }
    assert!(world.blobs.keys("").is_empty());
}
