//! Inbound media on the memory adapter and the WhatsApp sandbox: a fixture's file is recorded
//! pending at once, fetched, checked and stored once; an expired URL is asked for again; a media
//! id Meta forgot ends unavailable; a file that never matches ends unavailable after its attempts;
//! another organisation never gets a URL; cleanup deletes only what passed the retention.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use serde_json::Value;

use super::*;
use crate::adapters::memory::MemoryBlobs;
use crate::app::media::{Fetched, attach, clean_up, fetch, media_url, register};
use crate::domain::media::{MAX_ATTEMPTS, MediaJob, MediaStatus};
use crate::domain::secret::Secret;
use crate::ports::{
    BlobStore, DownloadStart, MediaLookup, MediaStore, SendOutcome, WhatsApp, WhatsAppMedia,
};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../shared/fixtures/whatsapp/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// The fixture's media id, with the fixture's first message re-numbered so several can arrive.
fn media_webhook(name: &str, wamid: &str) -> (Value, String) {
    let mut body = fixture(name);
    let message = &mut body["entry"][0]["changes"][0]["value"]["messages"][0];
    message["id"] = wamid.into();
    message["timestamp"] = t(0).timestamp().to_string().into();
    let kind = message["type"].as_str().unwrap().to_string();
    let media_id = message[kind.as_str()]["id"].as_str().unwrap().to_string();
    (body, media_id)
}

/// A document the customer sent, received through the inbound worker and registered as the
/// processor does: the stored message, and the media job queued for it.
async fn receive_media(w: &World, name: &str, wamid: &str) -> (Message, MediaJob) {
    let (body, _) = media_webhook(name, wamid);
    let received = process_job(&w.deps.inbound_ports(), &job(body, t(0)))
        .await
        .unwrap();
    assert_eq!(received.len(), 1);
    let message = received[0].message.clone();
    assert!(
        register(w.store(), w.outbox(), &message, NUMBER, t(0))
            .await
            .unwrap()
    );
    let jobs = w.outbox().take(Queue::Media);
    assert_eq!(jobs.len(), 1, "one media job");
    (message, serde_json::from_str(&jobs[0].body).unwrap())
}

fn bytes_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[tokio::test(start_paused = true)]
async fn a_document_shows_pending_at_once_then_is_stored_once_with_a_url_for_its_organisation() {
    let w = World::new().with_channel(None).await;
    let (_, media_id) = media_webhook("media/document.json", "wamid.DOC1");
    let file = bytes_of(300_000);
    w.mem
        .whatsapp
        .know_media(&media_id, "application/pdf", file.clone());

    // WHEN the webhook is processed
    let (message, job) = receive_media(&w, "media/document.json", "wamid.DOC1").await;
    // THEN the message is there at once, its file pending
    let mut shown = vec![w.message(&message.conversation_id, &message.id).await];
    attach(w.store(), &*w.mem.blobs, ORG, &mut shown)
        .await
        .unwrap();
    let media = shown[0]
        .media
        .clone()
        .expect("the message carries its media");
    assert_eq!(
        (
            media.status,
            media.url.as_deref(),
            media.media_type.as_str()
        ),
        (MediaStatus::Pending, None, "document")
    );

    // WHEN the worker fetches it
    assert_eq!(
        fetch(&w.deps.media_ports(), &job, 1).await.unwrap(),
        Fetched::Stored
    );
    // THEN the same bytes are in the bucket under the org's key, typed, and the message shows a URL
    let stored = w
        .store()
        .media_file(ORG, &job.media_id)
        .await
        .unwrap()
        .unwrap();
    let key = stored.storage_key.clone().unwrap();
    assert_eq!(
        key,
        format!(
            "media/{ORG}/{}/{}/invoice-2291.pdf",
            message.conversation_id, message.id
        )
    );
    assert_eq!(w.mem.blobs.get(&key).await.unwrap(), file);
    assert_eq!(
        w.mem.blobs.content_type(&key).as_deref(),
        Some("application/pdf")
    );
    assert_eq!(
        (stored.size, stored.delete_after),
        (Some(300_000), Some(t(0) + Duration::days(90)))
    );
    attach(w.store(), &*w.mem.blobs, ORG, &mut shown)
        .await
        .unwrap();
    let media = shown[0].media.clone().unwrap();
    assert_eq!(media.status, MediaStatus::Stored);
    assert_eq!(
        MemoryBlobs::presigned_key(media.url.as_deref().unwrap()),
        Some(key.as_str())
    );
    assert_eq!(w.events_of(ORG, EventKind::MediaStored).await.len(), 1);

    // WHEN the job is delivered again, and the webhook too
    assert_eq!(
        fetch(&w.deps.media_ports(), &job, 2).await.unwrap(),
        Fetched::AlreadyDone
    );
    assert!(
        !register(w.store(), w.outbox(), &message, NUMBER, t(1))
            .await
            .unwrap()
    );
    // THEN nothing changed and nothing more was queued or announced
    assert_eq!(
        w.store()
            .media_file(ORG, &job.media_id)
            .await
            .unwrap()
            .unwrap(),
        stored
    );
    assert!(w.outbox().take(Queue::Media).is_empty());
    assert_eq!(w.events_of(ORG, EventKind::MediaStored).await.len(), 1);

    // AND another organisation gets 404 for it, and no URL on a read of its own
    assert!(matches!(
        media_url(w.store(), &*w.mem.blobs, OTHER_ORG, &job.media_id).await,
        Err(Error::NotFound(_))
    ));
    let mut theirs = shown.clone();
    theirs[0].media.as_mut().unwrap().url = None;
    attach(w.store(), &*w.mem.blobs, OTHER_ORG, &mut theirs)
        .await
        .unwrap();
    assert_eq!(theirs[0].media.as_ref().unwrap().url, None);
}

#[tokio::test(start_paused = true)]
async fn an_expired_url_is_asked_for_again_and_the_file_stored() {
    let w = World::new().with_channel(None).await;
    let (_, media_id) = media_webhook("media/video.json", "wamid.VID1");
    w.mem
        .whatsapp
        .know_media(&media_id, "video/mp4", bytes_of(50_000));
    w.mem.whatsapp.expire_media_urls(&media_id, 1);
    let (_, job) = receive_media(&w, "media/video.json", "wamid.VID1").await;

    assert_eq!(
        fetch(&w.deps.media_ports(), &job, 1).await.unwrap(),
        Fetched::Stored
    );
    let stored = w
        .store()
        .media_file(ORG, &job.media_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        w.mem
            .blobs
            .get(stored.storage_key.as_deref().unwrap())
            .await
            .unwrap(),
        bytes_of(50_000)
    );
}

#[tokio::test(start_paused = true)]
async fn a_media_id_meta_does_not_know_is_unavailable_at_once_and_says_why() {
    let w = World::new().with_channel(None).await;
    let (message, job) = receive_media(&w, "media/audio-voice-note.json", "wamid.AUD1").await;

    let outcome = fetch(&w.deps.media_ports(), &job, 1).await.unwrap();
    assert!(
        matches!(outcome, Fetched::Unavailable(ref r) if r.contains("no longer has it")),
        "{outcome:?}"
    );
    let mut shown = vec![w.message(&message.conversation_id, &message.id).await];
    attach(w.store(), &*w.mem.blobs, ORG, &mut shown)
        .await
        .unwrap();
    let media = shown[0].media.clone().unwrap();
    assert_eq!((media.status, media.url), (MediaStatus::Unavailable, None));
    assert!(media.reason.unwrap().contains("not a valid media ID"));
    let events = w.events_of(ORG, EventKind::MediaUnavailable).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["message_id"], message.id.as_str());
    assert!(w.mem.blobs.keys("media/").is_empty());
}

/// Meta's lookup says one size more than the bytes served: a download that never matches.
struct WrongSize(Arc<crate::adapters::graph::Sandbox>);

#[async_trait]
impl WhatsApp for WrongSize {
    async fn send(&self, n: &str, token: &Secret, body: &Value) -> SendOutcome {
        self.0.send(n, token, body).await
    }
    fn media(&self) -> Option<&dyn WhatsAppMedia> {
        Some(self)
    }
}

#[async_trait]
impl WhatsAppMedia for WrongSize {
    async fn media_location(&self, id: &str, token: &Secret) -> MediaLookup {
        match self.0.media_location(id, token).await {
            MediaLookup::Found(mut l) => {
                l.file_size = l.file_size.map(|s| s + 1);
                MediaLookup::Found(l)
            }
            other => other,
        }
    }
    async fn download(&self, url: &str, token: &Secret) -> DownloadStart {
        self.0.download(url, token).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_size_mismatch_keeps_nothing_is_retried_and_ends_unavailable_after_the_last_attempt() {
    let w = World::new().with_channel(None).await;
    let (_, media_id) = media_webhook("media/sticker.json", "wamid.STK1");
    w.mem
        .whatsapp
        .know_media(&media_id, "image/webp", bytes_of(1000));
    let (_, job) = receive_media(&w, "media/sticker.json", "wamid.STK1").await;
    let lying = WrongSize(w.mem.whatsapp.clone());
    let ports = crate::app::media::MediaPorts {
        whatsapp: &lying,
        ..w.deps.media_ports()
    };

    let first = fetch(&ports, &job, 1).await.unwrap();
    assert!(
        matches!(first, Fetched::RetryLater(ref r) if r.contains("size mismatch")),
        "{first:?}"
    );
    assert!(
        w.mem.blobs.keys("media/").is_empty(),
        "a wrong file is not kept"
    );
    assert_eq!(
        w.store()
            .media_file(ORG, &job.media_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        MediaStatus::Pending
    );

    let last = fetch(&ports, &job, MAX_ATTEMPTS).await.unwrap();
    assert!(
        matches!(last, Fetched::Unavailable(ref r) if r.contains("size mismatch")),
        "{last:?}"
    );
    assert!(w.mem.blobs.keys("media/").is_empty());
    assert_eq!(w.events_of(ORG, EventKind::MediaUnavailable).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn cleanup_deletes_only_files_past_their_organisations_retention() {
    let w = World::new().with_channel(None).await;
    // GIVEN an organisation keeping media 7 days, a file stored at t(0), another 3 days later
    w.store().put_media_retention(ORG, 7, None).await.unwrap();
    let (_, old_id) = media_webhook("media/document.json", "wamid.OLD");
    w.mem
        .whatsapp
        .know_media(&old_id, "application/pdf", bytes_of(10));
    let (_, old) = receive_media(&w, "media/document.json", "wamid.OLD").await;
    assert_eq!(
        fetch(&w.deps.media_ports(), &old, 1).await.unwrap(),
        Fetched::Stored
    );
    w.mem.clock.advance(Duration::days(3));
    let (_, new_id) = media_webhook("media/video.json", "wamid.NEW");
    w.mem
        .whatsapp
        .know_media(&new_id, "video/mp4", bytes_of(20));
    let (_, new) = receive_media(&w, "media/video.json", "wamid.NEW").await;
    assert_eq!(
        fetch(&w.deps.media_ports(), &new, 1).await.unwrap(),
        Fetched::Stored
    );
    let old_key = w
        .store()
        .media_file(ORG, &old.media_id)
        .await
        .unwrap()
        .unwrap()
        .storage_key
        .unwrap();
    let new_key = w
        .store()
        .media_file(ORG, &new.media_id)
        .await
        .unwrap()
        .unwrap()
        .storage_key
        .unwrap();

    // WHEN cleanup runs a minute before the first one's retention ends: nothing goes
    let first_end = t(0) + Duration::days(7);
    assert_eq!(
        clean_up(w.store(), &*w.mem.blobs, first_end - Duration::minutes(1))
            .await
            .unwrap(),
        0
    );
    // WHEN it runs a day after: only the first goes, object and record
    assert_eq!(
        clean_up(w.store(), &*w.mem.blobs, first_end + Duration::days(1))
            .await
            .unwrap(),
        1
    );
    assert!(
        w.store()
            .media_file(ORG, &old.media_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(w.mem.blobs.get(&old_key).await.is_err());
    assert!(
        w.store()
            .media_file(ORG, &new.media_id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(w.mem.blobs.get(&new_key).await.is_ok());
    // AND a second run changes nothing
    assert_eq!(
        clean_up(w.store(), &*w.mem.blobs, first_end + Duration::days(1))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn an_admins_retention_change_is_in_the_audit_trail_from_the_default() {
    let w = World::new();
    crate::app::media::save_retention(w.store(), ORG, 30, &admin_actor(), t(1)).await.unwrap();
    assert_eq!(w.store().media_retention(ORG).await.unwrap(), Some(30));
    let query = crate::domain::audit::AuditQuery::default();
    let trail = crate::ports::AuditStore::audit_entries(w.store(), ORG, &query, &crate::ports::PageRequest { limit: 10, cursor: None }).await.unwrap().items;
    assert_eq!(trail.len(), 1);
    assert_eq!((trail[0].entity_id.as_str(), &trail[0].actor), ("media_retention", &admin_actor()));
    assert_eq!(trail[0].changes["days"], crate::domain::audit::FieldChange { before: json!(90), after: json!(30) });
}
