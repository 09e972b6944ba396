//! Media (`docs/media.md`): which WhatsApp messages carry a file, the record MAX keeps of it once
//! fetched from Meta, where it lives in S3, how long it is kept, and how a download is checked
//! against what Meta said about it; and an agent's upload (`POST /v1/media`): WhatsApp's types
//! and size limits, and the same record, awaiting its bytes until a reply uses it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::outbound::MediaType;
use crate::error::{Error, Result};

/// WhatsApp message types whose content is a file held by Meta under a media id.
pub const MEDIA_TYPES: [&str; 5] = ["image", "audio", "video", "document", "sticker"];

/// How long an organisation keeps media unless it says otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// The longest a presigned GET handed to the dashboard lives: minted on every read, so short.
pub const PRESIGNED_GET_SECS: u64 = 10 * 60;

/// Meta's documented ceiling (a document), a little over: a larger download is cut off.
pub const MAX_MEDIA_BYTES: u64 = 100 * 1024 * 1024 + 1024 * 1024;

/// Worker attempts before a file that keeps failing (not a media id Meta forgot) is given up as
/// `unavailable`: SQS redelivers with backoff in between.
pub const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaStatus {
    /// Received; the worker has not stored it yet.
    Pending,
    /// An agent's upload: its presigned PUT is handed out, a reply has not used it yet.
    AwaitingUpload,
    /// In S3, checked against Meta's size and hash.
    Stored,
    /// Meta no longer has it, or every attempt failed: `reason` says why.
    Unavailable,
}

impl MediaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaStatus::Pending => "pending",
            MediaStatus::AwaitingUpload => "awaiting_upload",
            MediaStatus::Stored => "stored",
            MediaStatus::Unavailable => "unavailable",
        }
    }
}

/// What a stored message says about its file, as the API shows it. The message keeps the file's
/// id and what the webhook said; the status and the URL are filled from the media record on each
/// read, so they are never stale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageMedia {
    /// The media file's id (`GET /v1/media/{id}` redirects to it).
    pub id: String,
    #[serde(rename = "type")]
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    pub status: MediaStatus,
    /// Why it is unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// A presigned GET of the stored file, minted for this answer (about ten minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The file a WhatsApp message refers to, as the webhook describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaReference {
    pub media_type: String,
    pub channel_media_id: String,
    pub mime_type: Option<String>,
    /// Base64 SHA-256, as Meta writes it.
    pub sha256: Option<String>,
    pub filename: Option<String>,
}

/// The file of an inbound message of type `kind` with WhatsApp's `content`, if it has one.
pub fn media_reference(kind: &str, content: Option<&Value>) -> Option<MediaReference> {
    if !MEDIA_TYPES.contains(&kind) {
        return None;
    }
    let c = content?;
    let text = |k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .filter(|v| !v.trim().is_empty())
    };
    Some(MediaReference {
        media_type: kind.to_string(),
        channel_media_id: text("id")?,
        mime_type: text("mime_type"),
        sha256: text("sha256"),
        filename: text("filename"),
    })
}

/// One file received from a customer (the id is its message's: one file per message), or one an
/// agent uploads to send (`uploaded_by` set; the inbound fields are empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaFile {
    pub org_id: String,
    pub id: String,
    #[serde(default)]
    pub conversation_id: String,
    #[serde(default)]
    pub message_id: String,
    /// The business number it came to: its token fetches the file.
    #[serde(default)]
    pub phone_number_id: String,
    #[serde(default)]
    pub channel_media_id: String,
    pub media_type: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    /// Base64 SHA-256 from the webhook; the download is checked against Meta's answer for the id.
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub storage_key: Option<String>,
    pub status: MediaStatus,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub stored_at: Option<DateTime<Utc>>,
    /// When cleanup deletes it: stored time plus the organisation's retention (an upload: a day
    /// after it was handed out until a reply uses it, then the retention from that use).
    #[serde(default)]
    pub delete_after: Option<DateTime<Utc>>,
    /// The agent who uploaded it (an outbound file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_by: Option<String>,
}

impl MediaFile {
    pub fn pending(
        org_id: &str,
        conversation_id: &str,
        message_id: &str,
        phone_number_id: &str,
        r: &MediaReference,
        at: DateTime<Utc>,
    ) -> Self {
        MediaFile {
            org_id: org_id.to_string(),
            id: message_id.to_string(),
            conversation_id: conversation_id.to_string(),
            message_id: message_id.to_string(),
            phone_number_id: phone_number_id.to_string(),
            channel_media_id: r.channel_media_id.clone(),
            media_type: r.media_type.clone(),
            mime_type: r.mime_type.clone(),
            filename: r.filename.clone(),
            sha256: r.sha256.clone(),
            size: None,
            storage_key: None,
            status: MediaStatus::Pending,
            reason: None,
            attempts: 0,
            created_at: at,
            stored_at: None,
            delete_after: None,
            uploaded_by: None,
        }
    }

    /// An agent's upload `id` handed out at `at`: awaiting its bytes at
    /// `media/{org}/outbound/{id}/{file}`, deleted by cleanup a day later unless a reply uses it.
    pub fn upload(org_id: &str, id: &str, upload: &NewUpload, user_id: &str, at: DateTime<Utc>) -> Self {
        let file = upload
            .filename
            .as_deref()
            .map(safe_file_name)
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| format!("{id}{}", extension(Some(&upload.mime_type))));
        MediaFile {
            org_id: org_id.to_string(),
            id: id.to_string(),
            conversation_id: String::new(),
            message_id: String::new(),
            phone_number_id: String::new(),
            channel_media_id: String::new(),
            media_type: upload.media_type.as_str().to_string(),
            mime_type: Some(upload.mime_type.clone()),
            filename: upload.filename.clone(),
            sha256: None,
            size: Some(upload.size),
            storage_key: Some(format!("media/{org_id}/outbound/{id}/{file}")),
            status: MediaStatus::AwaitingUpload,
            reason: None,
            attempts: 0,
            created_at: at,
            stored_at: None,
            delete_after: Some(at + UNUSED_UPLOAD_KEPT),
            uploaded_by: Some(user_id.to_string()),
        }
    }

    /// A reply uses this upload at `at`, its bytes being in the bucket: it is stored from now on
    /// and kept `retention_days` from this use (a later reply with it keeps it longer, never less).
    pub fn used(&mut self, at: DateTime<Utc>, retention_days: u32) {
        let until = at + Duration::days(i64::from(retention_days));
        let keep = match (self.status, self.delete_after) {
            (MediaStatus::Stored, Some(before)) if before > until => before,
            _ => until,
        };
        if self.status != MediaStatus::Stored {
            self.stored_at = Some(at);
        }
        self.status = MediaStatus::Stored;
        self.delete_after = Some(keep);
    }

    /// Whether cleanup finds it by its expiry day: a stored file, or an upload still awaiting its
    /// bytes (which may be in the bucket although no reply used them).
    pub fn in_expiry_index(&self) -> bool {
        matches!(self.status, MediaStatus::Stored | MediaStatus::AwaitingUpload) && self.delete_after.is_some()
    }

    /// `media/{org}/{conversation}/{message}/{file}`: the file's own name when the customer gave
    /// one (made safe for a key), else the media id with the extension of its type.
    pub fn storage_key(&self, mime_type: Option<&str>) -> String {
        let file = match self
            .filename
            .as_deref()
            .map(safe_file_name)
            .filter(|f| !f.is_empty())
        {
            Some(f) => f,
            None => format!(
                "{}{}",
                self.channel_media_id,
                extension(mime_type.or(self.mime_type.as_deref()))
            ),
        };
        format!(
            "media/{}/{}/{}/{}",
            self.org_id, self.conversation_id, self.message_id, file
        )
    }

    /// It is stored at `at` under `key`, checked, to be kept `retention_days`.
    pub fn stored(
        &mut self,
        key: String,
        mime_type: Option<String>,
        size: u64,
        sha256: String,
        at: DateTime<Utc>,
        retention_days: u32,
    ) {
        self.storage_key = Some(key);
        if mime_type.is_some() {
            self.mime_type = mime_type;
        }
        self.size = Some(size);
        self.sha256 = Some(sha256);
        self.status = MediaStatus::Stored;
        self.reason = None;
        self.stored_at = Some(at);
        self.delete_after = Some(at + Duration::days(i64::from(retention_days)));
    }

    pub fn unavailable(&mut self, reason: impl Into<String>) {
        self.status = MediaStatus::Unavailable;
        self.reason = Some(reason.into());
    }

    /// What the message shows of it (`url` minted by the reader).
    pub fn as_message_media(&self, url: Option<String>) -> MessageMedia {
        MessageMedia {
            id: self.id.clone(),
            media_type: self.media_type.clone(),
            mime_type: self.mime_type.clone(),
            filename: self.filename.clone(),
            status: self.status,
            reason: self.reason.clone(),
            size: self.size,
            url,
        }
    }

    /// The day partition of the expiry index it sits in (see `in_expiry_index`).
    pub fn expiry_day(&self) -> Option<NaiveDate> {
        self.delete_after.map(|e| e.date_naive())
    }
}

/// How long an upload waits for a reply to use it before cleanup deletes it (and its bytes).
pub const UNUSED_UPLOAD_KEPT: Duration = Duration::hours(24);

/// How long an upload's presigned PUT lives: the dashboard uses it at once.
pub const PRESIGNED_PUT_SECS: u64 = 15 * 60;

/// How long the presigned GET Meta (or the chat app) fetches a sent file from lives: minted when
/// the reply is sent (a retry mints another), long enough for Meta's fetch and its retries.
pub const PRESIGNED_SEND_SECS: u64 = 60 * 60;

const KB: u64 = 1024;
const MB: u64 = 1024 * 1024;

/// WhatsApp's supported types for `media_type` and the largest file of each (Cloud API,
/// "Supported media types"; its MB and KB read as 1024² and 1024 bytes): what Meta would refuse
/// is refused at upload, before an agent waits on a send that fails.
pub fn supported_types(media_type: MediaType) -> &'static [&'static str] {
    match media_type {
        MediaType::Image => &["image/jpeg", "image/png"],
        // Ogg with the OPUS codec only (the type cannot say; Meta refuses other codecs).
        MediaType::Audio => &["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"],
        MediaType::Video => &["video/mp4", "video/3gpp"],
        MediaType::Document => &[
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ],
        MediaType::Sticker => &["image/webp"],
    }
}

/// The largest file WhatsApp sends as `media_type` (a sticker: `animated` or static).
pub fn size_limit(media_type: MediaType, animated: bool) -> u64 {
    match media_type {
        MediaType::Image => 5 * MB,
        MediaType::Audio | MediaType::Video => 16 * MB,
        MediaType::Document => 100 * MB,
        MediaType::Sticker if animated => 500 * KB,
        MediaType::Sticker => 100 * KB,
    }
}

/// What an agent is about to upload (`POST /v1/media`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpload {
    #[serde(rename = "type")]
    pub media_type: MediaType,
    /// One of WhatsApp's types for `type`: image `image/jpeg`, `image/png`; audio `audio/aac`,
    /// `audio/amr`, `audio/mpeg`, `audio/mp4`, `audio/ogg` (OPUS); video `video/mp4`,
    /// `video/3gpp`; document `text/plain`, `application/pdf`, Word, Excel, PowerPoint (the
    /// `application/msword`, `vnd.ms-excel`, `vnd.ms-powerpoint` and `vnd.openxmlformats-…`
    /// types); sticker `image/webp`. Anything else answers 422 naming `mime_type`.
    #[schema(min_length = 1, max_length = 127)]
    pub mime_type: String,
    /// Bytes: image ≤ 5 MiB, audio and video ≤ 16 MiB, document ≤ 100 MiB, sticker ≤ 100 KiB
    /// (animated ≤ 500 KiB); above answers 413 naming `size`. The PUT must send exactly this many.
    #[schema(minimum = 1, maximum = 104857600)]
    pub size: u64,
    /// The file's name (a document shows it to the customer): no path, no control characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 240, pattern = "^[^/\\\\\\x00-\\x1f\\x7f-\\x9f]*[^/\\\\\\s\\x00-\\x1f\\x7f-\\x9f][^/\\\\\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub filename: Option<String>,
    /// A sticker only: an animated sticker may be up to 500 KiB, a static one 100 KiB.
    #[serde(default)]
    pub animated: Option<bool>,
}

impl NewUpload {
    /// WhatsApp's rules: a type it sends as `type` (422 naming `mime_type`), a size within its
    /// limit (413 naming `size`), a file name and not a path (422 naming `filename`).
    pub fn validate(&self) -> Result<()> {
        let essence = self.mime_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if essence != self.mime_type {
            return Err(Error::invalid("mime_type", "must be a bare media type in lower case (no parameters)"));
        }
        let supported = supported_types(self.media_type);
        if !supported.contains(&essence.as_str()) {
            return Err(Error::invalid(
                "mime_type",
                format!("WhatsApp sends {} as {} only", self.media_type.as_str(), supported.join(", ")),
            ));
        }
        if self.animated.is_some() && self.media_type != MediaType::Sticker {
            return Err(Error::invalid("animated", "is for stickers only"));
        }
        if self.size == 0 {
            return Err(Error::invalid("size", "must be at least 1 byte"));
        }
        let limit = size_limit(self.media_type, self.animated.unwrap_or(false));
        if self.size > limit {
            return Err(Error::TooLarge { limit: limit as usize, field: Some("size".into()) });
        }
        if let Some(f) = &self.filename {
            if f.trim().is_empty() || f.chars().count() > 240 {
                return Err(Error::invalid("filename", "must be 1 to 240 characters"));
            }
            if f.contains(['/', '\\']) || f.chars().any(char::is_control) {
                return Err(Error::invalid("filename", "must be a file name, without '/', '\\' or control characters"));
            }
        }
        Ok(())
    }
}

/// `POST /v1/media`'s answer: the upload's id (a reply's `media_id`) and how to PUT its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Upload {
    pub id: String,
    #[serde(rename = "type")]
    pub media_type: MediaType,
    pub mime_type: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// `awaiting_upload`; a reply using it makes it `stored`.
    pub status: MediaStatus,
    pub upload: UploadRequest,
    /// When it is deleted unless a reply uses it first (a day).
    pub expires_at: DateTime<Utc>,
}

/// The request that uploads the bytes: `PUT url` with exactly these headers and `size` bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadRequest {
    /// A presigned S3 URL (a credential: keep it out of logs).
    pub url: String,
    /// Always `PUT`.
    pub method: String,
    /// The signed headers (`content-type`, `content-length`): send them as given.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The URL works until then (15 minutes).
    pub expires_at: DateTime<Utc>,
}

/// The expiry index's partition for `day`: cleanup reads only the days that have passed.
pub fn expiry_partition(day: NaiveDate) -> String {
    format!("MEDIAEXP#{}", day.format("%Y-%m-%d"))
}

/// A media queue job: fetch the file of this message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaJob {
    pub org_id: String,
    pub media_id: String,
}

/// What Meta says about a media id (`GET /{media-id}`): where to download it for the next
/// minutes, and what the bytes must be.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaLocation {
    pub url: String,
    pub mime_type: Option<String>,
    /// Base64 SHA-256.
    pub sha256: Option<String>,
    pub file_size: Option<u64>,
}

/// Size and SHA-256 counted over a download as it streams by.
#[derive(Clone, Default)]
pub struct Fingerprint {
    hasher: Sha256,
    pub size: u64,
}

impl Fingerprint {
    pub fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
    }

    /// Base64 SHA-256, Meta's notation.
    pub fn sha256(self) -> String {
        STANDARD.encode(self.hasher.finalize())
    }
}

/// Why a download does not match what Meta said, if it does not.
pub fn mismatch(expected: &MediaLocation, size: u64, sha256: &str) -> Option<String> {
    if let Some(want) = expected.file_size
        && want != size
    {
        return Some(format!(
            "size mismatch: Meta said {want} bytes, {size} came"
        ));
    }
    if let Some(want) = expected.sha256.as_deref()
        && want != sha256
    {
        return Some("sha256 mismatch".to_string());
    }
    None
}

fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

fn extension(mime: Option<&str>) -> &'static str {
    let essence = mime
        .and_then(|m| m.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    match essence {
        "image/jpeg" => ".jpg",
        "image/png" => ".png",
        "image/webp" => ".webp",
        "video/mp4" => ".mp4",
        "video/3gpp" => ".3gp",
        "audio/ogg" => ".ogg",
        "audio/mpeg" => ".mp3",
        "audio/mp4" => ".m4a",
        "audio/aac" => ".aac",
        "audio/amr" => ".amr",
        "application/pdf" => ".pdf",
        "text/plain" => ".txt",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
    }

    #[test]
    fn the_five_media_types_have_a_file_and_other_types_none() {
        for kind in MEDIA_TYPES {
            let r = media_reference(
                kind,
                Some(&json!({"id": "42", "mime_type": "x/y", "sha256": "abc="})),
            )
            .unwrap();
            assert_eq!(
                (r.media_type.as_str(), r.channel_media_id.as_str()),
                (kind, "42")
            );
        }
        assert_eq!(media_reference("text", Some(&json!({"id": "42"}))), None);
        assert_eq!(
            media_reference("image", Some(&json!({"caption": "no id"}))),
            None
        );
        assert_eq!(media_reference("image", None), None);
    }

    #[test]
    fn the_key_names_org_conversation_message_and_a_safe_file() {
        let r = media_reference(
            "document",
            Some(&json!({"id": "159", "filename": "../../etc/in voice.pdf"})),
        )
        .unwrap();
        let f = MediaFile::pending("o1", "c1", "m1", "n1", &r, at());
        assert_eq!(f.storage_key(None), "media/o1/c1/m1/in_voice.pdf");
        let r = media_reference(
            "image",
            Some(&json!({"id": "100", "mime_type": "image/jpeg"})),
        )
        .unwrap();
        assert_eq!(
            MediaFile::pending("o1", "c1", "m2", "n1", &r, at()).storage_key(None),
            "media/o1/c1/m2/100.jpg"
        );
    }

    #[test]
    fn a_stored_file_expires_after_the_retention_in_that_days_partition() {
        let r = media_reference("audio", Some(&json!({"id": "7"}))).unwrap();
        let mut f = MediaFile::pending("o1", "c1", "m1", "n1", &r, at());
        assert_eq!(f.expiry_day(), None);
        f.stored(
            "k".into(),
            Some("audio/ogg".into()),
            10,
            "h".into(),
            at(),
            90,
        );
        assert_eq!(f.delete_after, Some(at() + Duration::days(90)));
        assert_eq!(
            expiry_partition(f.expiry_day().unwrap()),
            "MEDIAEXP#2026-05-30"
        );
        assert_eq!(f.as_message_media(None).status, MediaStatus::Stored);
    }

    #[test]
    fn a_download_is_checked_against_metas_size_and_hash() {
        let mut fp = Fingerprint::default();
        fp.update(b"hello ");
        fp.update(b"world");
        let size = fp.size;
        let hash = fp.sha256();
        assert_eq!(hash, STANDARD.encode(Sha256::digest(b"hello world")));
        let meta = MediaLocation {
            url: "u".into(),
            mime_type: None,
            sha256: Some(hash.clone()),
            file_size: Some(11),
        };
        assert_eq!(mismatch(&meta, size, &hash), None);
        assert!(
            mismatch(
                &MediaLocation {
                    file_size: Some(12),
                    ..meta.clone()
                },
                size,
                &hash
            )
            .unwrap()
            .contains("size")
        );
        assert!(
            mismatch(
                &MediaLocation {
                    sha256: Some("other".into()),
                    ..meta
                },
                size,
                &hash
            )
            .unwrap()
            .contains("sha256")
        );
    }
}
