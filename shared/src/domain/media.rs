//! Inbound media (`docs/media.md`): which WhatsApp messages carry a file, the record MAX keeps of
//! it once fetched from Meta, where it lives in S3, how long it is kept, and how a download is
//! checked against what Meta said about it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

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
    /// In S3, checked against Meta's size and hash.
    Stored,
    /// Meta no longer has it, or every attempt failed: `reason` says why.
    Unavailable,
}

impl MediaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaStatus::Pending => "pending",
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

/// One file received from a customer (the id is its message's: one file per message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaFile {
    pub org_id: String,
    pub id: String,
    pub conversation_id: String,
    pub message_id: String,
    /// The business number it came to: its token fetches the file.
    pub phone_number_id: String,
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
    /// When cleanup deletes it (stored files only): stored time plus the organisation's retention.
    #[serde(default)]
    pub delete_after: Option<DateTime<Utc>>,
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
        }
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

    /// The day partition of the expiry index it sits in (stored files only).
    pub fn expiry_day(&self) -> Option<NaiveDate> {
        self.delete_after.map(|e| e.date_naive())
    }
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
