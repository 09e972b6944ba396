//! Inbound media (`docs/media.md`): a received file is recorded `pending` and queued; media-worker
//! fetches it from Meta (a fresh URL per attempt), streams it to the bucket while counting its
//! size and hash, checks both against Meta's, and records it `stored` or `unavailable` with an
//! event; readers get a presigned URL minted for their organisation; cleanup deletes what passed
//! the organisation's retention, reading only the expiry index's past days.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tracing::{info, warn};

use crate::app::access_tokens::AccessTokens;
use crate::domain::audit::{AuditActor, AuditEntity};
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::ids::new_id;
use crate::domain::media::{
    DEFAULT_RETENTION_DAYS, Fingerprint, MAX_ATTEMPTS, MediaFile, MediaJob, MediaLocation,
    MediaStatus, NewUpload, PRESIGNED_GET_SECS, PRESIGNED_PUT_SECS, PRESIGNED_SEND_SECS, Upload,
    UploadRequest, media_reference, mismatch,
};
use crate::domain::outbound::OutboundContent;
use crate::domain::message::Message;
use crate::error::{Error, Result};
use crate::ports::{
    BlobStore, ChunkSource, Clock, DownloadStart, EventStore, MediaLookup, MediaStore, Outbox,
    Queue, QueueMessage, Secrets, WhatsApp, Written,
};

/// How many past days cleanup reads besides today: a day it missed (an outage) is caught up.
pub const CLEANUP_CATCH_UP_DAYS: i64 = 7;
/// Records read per expiry-index query.
const CLEANUP_PAGE: i32 = 100;

pub struct MediaPorts<'a> {
    pub media: &'a dyn MediaStore,
    pub events: &'a dyn EventStore,
    pub blobs: &'a dyn BlobStore,
    pub outbox: &'a dyn Outbox,
    pub whatsapp: &'a dyn WhatsApp,
    pub secrets: &'a dyn Secrets,
    pub tokens: &'a AccessTokens,
    pub clock: &'a dyn Clock,
}

/// Records the file of a just-stored inbound message as pending and queues its fetch. Safe to
/// repeat (a redelivered webhook): the record is created once, a second job finds it done.
pub async fn register(
    media: &dyn MediaStore,
    outbox: &dyn Outbox,
    message: &Message,
    phone_number_id: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let Some(reference) = media_reference(&message.kind, message.content.as_ref()) else {
        return Ok(false);
    };
    let file = MediaFile::pending(
        &message.org_id,
        &message.conversation_id,
        &message.id,
        phone_number_id,
        &reference,
        at,
    );
    if media.create_media_file(&file).await? == Written::AlreadyThere
        && media
            .media_file(&file.org_id, &file.id)
            .await?
            .is_some_and(|f| f.status != MediaStatus::Pending)
    {
        return Ok(false);
    }
    let job = MediaJob {
        org_id: file.org_id.clone(),
        media_id: file.id.clone(),
    };
    let body = serde_json::to_string(&job).map_err(|e| Error::backend("media job", e))?;
    outbox
        .send_batch(
            Queue::Media,
            &[QueueMessage {
                body,
                group_id: None,
                dedup_id: None,
            }],
        )
        .await?;
    Ok(true)
}

/// What one attempt at a file came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    Stored,
    Unavailable(String),
    /// Stored or given up before (a redelivered job), or no longer known: nothing changed.
    AlreadyDone,
    /// Worth another attempt later (SQS redelivers it with backoff).
    RetryLater(String),
}

/// One attempt (`attempt` counts from 1, SQS's receive count) at fetching the job's file.
pub async fn fetch(ports: &MediaPorts<'_>, job: &MediaJob, attempt: u32) -> Result<Fetched> {
    let Some(mut file) = ports.media.media_file(&job.org_id, &job.media_id).await? else {
        return Ok(Fetched::AlreadyDone);
    };
    if file.status != MediaStatus::Pending {
        return Ok(Fetched::AlreadyDone);
    }
    let now = ports.clock.now();
    let Some(token) = ports
        .tokens
        .token(ports.secrets, &file.org_id, &file.phone_number_id, now)
        .await?
    else {
        return give_up(
            ports,
            &mut file,
            "the number has no access token (removed?)".into(),
        )
        .await;
    };
    let Some(graph) = ports.whatsapp.media() else {
        return Err(Error::backend(
            "graph",
            "this WhatsApp client cannot fetch media",
        ));
    };
    file.attempts = attempt;
    // An expired URL is asked for again at once, once: Meta's URLs live minutes.
    let mut outcome = Err("no attempt".to_string());
    for _ in 0..2 {
        let location = match graph.media_location(&file.channel_media_id, &token).await {
            MediaLookup::Found(l) => l,
            MediaLookup::Gone { detail } => {
                return give_up(ports, &mut file, format!("Meta no longer has it: {detail}")).await;
            }
            MediaLookup::Failed { detail } => {
                outcome = Err(format!("media URL not given: {detail}"));
                break;
            }
        };
        match graph.download(&location.url, &token).await {
            DownloadStart::Expired { http_status } => {
                info!(
                    org_id = file.org_id,
                    media_id = file.id,
                    http_status,
                    "media URL expired; asking Meta for a fresh one"
                );
                outcome = Err(format!("media URL expired (HTTP {http_status})"));
            }
            DownloadStart::Failed { detail } => {
                outcome = Err(detail);
                break;
            }
            DownloadStart::Body(body) => {
                outcome = store(ports, &mut file, &location, body).await?;
                break;
            }
        }
    }
    match outcome {
        Ok(()) => Ok(Fetched::Stored),
        Err(reason) if attempt >= MAX_ATTEMPTS => {
            give_up(
                ports,
                &mut file,
                format!("{reason} (after {attempt} attempts)"),
            )
            .await
        }
        Err(reason) => {
            warn!(
                org_id = file.org_id,
                media_id = file.id,
                attempt,
                reason,
                "media not stored; retried later"
            );
            Ok(Fetched::RetryLater(reason))
        }
    }
}

/// The file's bytes counted as they pass to the bucket.
struct Counted {
    body: Box<dyn ChunkSource>,
    fingerprint: Fingerprint,
}

#[async_trait::async_trait]
impl ChunkSource for Counted {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let chunk = self.body.next_chunk().await?;
        if let Some(c) = &chunk {
            self.fingerprint.update(c);
        }
        Ok(chunk)
    }
}

/// Streams the download to its key and checks it; `Err(reason)` when it must be tried again.
async fn store(
    ports: &MediaPorts<'_>,
    file: &mut MediaFile,
    location: &MediaLocation,
    body: Box<dyn ChunkSource>,
) -> Result<std::result::Result<(), String>> {
    let mime = location
        .mime_type
        .clone()
        .or_else(|| file.mime_type.clone());
    let key = file.storage_key(mime.as_deref());
    let mut counted = Counted {
        body,
        fingerprint: Fingerprint::default(),
    };
    if let Err(e) = ports
        .blobs
        .put_chunks(
            &key,
            mime.as_deref().unwrap_or("application/octet-stream"),
            &mut counted,
        )
        .await
    {
        return Ok(Err(format!("not stored: {e}")));
    }
    let size = counted.fingerprint.size;
    let sha256 = counted.fingerprint.sha256();
    if let Some(reason) = mismatch(location, size, &sha256) {
        // A wrong file is never shown: it goes, and the next attempt fetches it afresh.
        ports.blobs.delete(&key).await?;
        return Ok(Err(reason));
    }
    let retention = ports
        .media
        .media_retention(&file.org_id)
        .await?
        .unwrap_or(DEFAULT_RETENTION_DAYS);
    let now = ports.clock.now();
    file.stored(key, mime, size, sha256, now, retention);
    ports.media.save_media_file(file).await?;
    record_event(ports, file, EventKind::MediaStored, now).await?;
    Ok(Ok(()))
}

async fn give_up(ports: &MediaPorts<'_>, file: &mut MediaFile, reason: String) -> Result<Fetched> {
    warn!(
        org_id = file.org_id,
        media_id = file.id,
        reason,
        "media unavailable"
    );
    file.unavailable(reason.clone());
    ports.media.save_media_file(file).await?;
    record_event(ports, file, EventKind::MediaUnavailable, ports.clock.now()).await?;
    Ok(Fetched::Unavailable(reason))
}

async fn record_event(
    ports: &MediaPorts<'_>,
    file: &MediaFile,
    kind: EventKind,
    at: DateTime<Utc>,
) -> Result<()> {
    let data = json!({
        "conversation_id": file.conversation_id,
        "message_id": file.message_id,
        "media_id": file.id,
        "status": file.status.as_str(),
        "reason": file.reason,
    });
    // Keyed by the file and its outcome: a retried job records it once.
    let dedupe = format!("media#{}#{}", file.id, kind.as_str());
    ports
        .events
        .record_event(&NewEvent::new(&file.org_id, kind, at, data, dedupe))
        .await?;
    Ok(())
}

/// Fills the media of `messages` (all of `org_id`) from their records: status, reason, size, and
/// a presigned GET for a stored file. One BatchGetItem per 100 files.
pub async fn attach(
    media: &dyn MediaStore,
    blobs: &dyn BlobStore,
    org_id: &str,
    messages: &mut [Message],
) -> Result<()> {
    let ids: Vec<String> = messages
        .iter()
        .filter_map(|m| m.media.as_ref().map(|x| x.id.clone()))
        .filter(|id| !id.is_empty())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let files = media.media_files(org_id, &ids).await?;
    for message in messages.iter_mut() {
        let Some(shown) = message.media.as_mut() else {
            continue;
        };
        let Some(file) = files
            .iter()
            .find(|f| f.id == shown.id && f.org_id == org_id)
        else {
            continue;
        };
        *shown = file.as_message_media(presigned(blobs, file).await?);
    }
    Ok(())
}

/// A fresh presigned GET for the organisation's file `id`: `NotFound` for another organisation's
/// or an unknown id; `Conflict`-free: a file not stored (yet) has none.
pub async fn media_url(
    media: &dyn MediaStore,
    blobs: &dyn BlobStore,
    org_id: &str,
    id: &str,
) -> Result<Option<String>> {
    let file = media
        .media_file(org_id, id)
        .await?
        .ok_or(Error::NotFound("media"))?;
    presigned(blobs, &file).await
}

async fn presigned(blobs: &dyn BlobStore, file: &MediaFile) -> Result<Option<String>> {
    match (&file.status, &file.storage_key) {
        (MediaStatus::Stored, Some(key)) => {
            Ok(Some(blobs.presigned_get(key, PRESIGNED_GET_SECS).await?))
        }
        _ => Ok(None),
    }
}

/// Deletes every stored file (object, then record) whose retention ended before `now`, reading
/// the expiry index's days from `CLEANUP_CATCH_UP_DAYS` ago to today. Answers how many went.
pub async fn clean_up(
    media: &dyn MediaStore,
    blobs: &dyn BlobStore,
    now: DateTime<Utc>,
) -> Result<usize> {
    let mut deleted = 0;
    // The index lags its table a little: a page may bring back files just deleted. Those are
    // skipped, and a page with nothing new ends the day (tomorrow's run finds any rest).
    let mut done = std::collections::HashSet::new();
    for back in (0..=CLEANUP_CATCH_UP_DAYS).rev() {
        let day = (now - Duration::days(back)).date_naive();
        loop {
            let due: Vec<MediaFile> = media
                .expiring_media(day, now, CLEANUP_PAGE)
                .await?
                .into_iter()
                .filter(|f| !done.contains(&(f.org_id.clone(), f.id.clone())))
                .collect();
            if due.is_empty() {
                break;
            }
            for file in &due {
                done.insert((file.org_id.clone(), file.id.clone()));
                // The object first: a record left without its object is retried tomorrow; the
                // reverse would leave an object nothing points at.
                if let Some(key) = &file.storage_key {
                    blobs.delete(key).await?;
                }
                media.delete_media_file(&file.org_id, &file.id).await?;
                deleted += 1;
            }
        }
    }
    Ok(deleted)
}

// ------------------------------------------------------------------ agents' uploads

/// `POST /v1/media`: records the upload (`awaiting_upload`, deleted a day later unless a reply
/// uses it) and hands out a presigned PUT bound to its type and size.
pub async fn create_upload(
    media: &dyn MediaStore,
    blobs: &dyn BlobStore,
    org_id: &str,
    user_id: &str,
    upload: &NewUpload,
    now: DateTime<Utc>,
) -> Result<Upload> {
    upload.validate()?;
    let file = MediaFile::upload(org_id, &new_id(now), upload, user_id, now);
    let key = file
        .storage_key
        .as_deref()
        .ok_or_else(|| Error::backend("media", "an upload without a key"))?;
    // Signed before the record is written: a failed signing leaves nothing behind.
    let put = blobs
        .presigned_put(key, &upload.mime_type, upload.size, PRESIGNED_PUT_SECS)
        .await?;
    media.create_media_file(&file).await?;
    Ok(Upload {
        id: file.id.clone(),
        media_type: upload.media_type,
        mime_type: upload.mime_type.clone(),
        size: upload.size,
        filename: upload.filename.clone(),
        status: file.status,
        upload: UploadRequest {
            url: put.url,
            method: "PUT".into(),
            headers: put.headers.into_iter().collect(),
            expires_at: now + Duration::seconds(PRESIGNED_PUT_SECS as i64),
        },
        expires_at: file.delete_after.unwrap_or(now),
    })
}

/// A reply is about to send `content`: when it names an upload (`media_id`), the upload must be
/// this organisation's (else 404), of the content's type (422 `content.media_type`) and its bytes
/// in the bucket as declared (HeadObject; 409 naming `content.media_id` until they are). The
/// upload is then `stored` and kept for the retention from now; a document without a `filename`
/// takes the upload's. Answers the content to queue.
pub async fn use_upload(
    media: &dyn MediaStore,
    blobs: &dyn BlobStore,
    org_id: &str,
    content: OutboundContent,
    now: DateTime<Utc>,
) -> Result<OutboundContent> {
    let Some(upload) = content.upload_id().map(str::to_string) else {
        return Ok(content);
    };
    let mut file = media
        .media_file(org_id, &upload)
        .await?
        .filter(|f| f.uploaded_by.is_some())
        .ok_or(Error::NotFound("media"))?;
    let OutboundContent::Media { media_type, id, link, media_id, caption, filename } = content else {
        return Ok(content);
    };
    if file.media_type != media_type.as_str() {
        return Err(Error::invalid(
            "content.media_type",
            format!("must be the upload's type, {}", file.media_type),
        ));
    }
    let key = file
        .storage_key
        .clone()
        .ok_or_else(|| Error::backend("media", "an upload without a key"))?;
    let Some(head) = blobs.head(&key).await? else {
        return Err(Error::conflict(
            "content.media_id: the file's bytes are not uploaded yet (PUT them to the upload URL)",
            file.status.as_str(),
        ));
    };
    let declared = file.mime_type.as_deref().unwrap_or_default();
    if Some(head.size) != file.size || head.content_type.as_deref().is_some_and(|t| t != declared) {
        return Err(Error::conflict(
            format!(
                "content.media_id: the uploaded file is {} bytes of {}, not the {} bytes of {declared} declared",
                head.size,
                head.content_type.as_deref().unwrap_or("no type"),
                file.size.unwrap_or(0)
            ),
            file.status.as_str(),
        ));
    }
    let retention = media
        .media_retention(org_id)
        .await?
        .unwrap_or(DEFAULT_RETENTION_DAYS);
    file.used(now, retention);
    media.save_media_file(&file).await?;
    let filename = filename.or_else(|| file.filename.clone());
    Ok(OutboundContent::Media { media_type, id, link, media_id, caption, filename })
}

/// The upload a reply sends, as a link Meta (or the chat app) can fetch: a presigned GET minted
/// now for [`PRESIGNED_SEND_SECS`], with the file. `None` when the file is gone (cleaned up).
pub async fn upload_link(
    media: &dyn MediaStore,
    blobs: &dyn BlobStore,
    org_id: &str,
    media_id: &str,
) -> Result<Option<(MediaFile, String)>> {
    let Some(file) = media.media_file(org_id, media_id).await? else {
        return Ok(None);
    };
    match (&file.status, &file.storage_key) {
        (MediaStatus::Stored, Some(key)) => {
            let url = blobs.presigned_get(key, PRESIGNED_SEND_SECS).await?;
            Ok(Some((file, url)))
        }
        _ => Ok(None),
    }
}

/// `PUT /v1/settings/media-retention` (admins, the days checked by the route): stored with the
/// audit trail's entry of the change, from what was in force (the default when none was set).
pub async fn save_retention(media: &dyn MediaStore, org_id: &str, days: u32, by: &AuditActor, now: DateTime<Utc>) -> Result<()> {
    let before = media.media_retention(org_id).await?.unwrap_or(DEFAULT_RETENTION_DAYS);
    let (before, after) = (json!({ "days": before }), json!({ "days": days }));
    let audit = by.change(now, org_id, (AuditEntity::Settings, "media_retention"), "update", &["days"], Some(&before), Some(&after));
    media.put_media_retention(org_id, days, audit.as_ref()).await
}
