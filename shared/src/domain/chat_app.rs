//! The chat-app channel (issue 12): an organisation's own app posts its users' messages to MAX
//! server to server, signed with an API key of the organisation's, and receives the agents'
//! replies as `chat_app.message` events. Here: the keys, the signature and its time window, the
//! bodies the app posts, and the ids under which a chat-app message is known (`docs/chat-app.md`).

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::channel::secret_name_part;
use crate::domain::message::{DeliveryStatus, FailureReason};
use crate::error::{Error, Result};

/// The channel's name on conversations and identities.
pub const CHANNEL: &str = "chat_app";

/// The request headers of a signed call: which key, when, and the signature.
pub const KEY_ID_HEADER: &str = "x-max-key-id";
pub const TIMESTAMP_HEADER: &str = "x-max-timestamp";
pub const SIGNATURE_HEADER: &str = "x-max-signature";
/// The signature's scheme, so another can follow without breaking apps that sign this one.
pub const SIGNATURE_SCHEME: &str = "v1=";

/// A signed call is accepted this long either side of our clock: a captured call cannot be played
/// back later, and an app's clock a little off still works.
pub const SIGNATURE_WINDOW: Duration = Duration::minutes(5);

/// A message is text of at most [`MAX_TEXT_CHARS`]; with its envelope a body stays far below this.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// WhatsApp's own limit for a text message: agents see both channels alike.
pub const MAX_TEXT_CHARS: usize = 4096;
/// The app's ids (its messages', its users') become part of our keys.
pub const MAX_APP_ID_CHARS: usize = 128;

/// Keys an organisation holds at once: two, so a key is rotated without a moment when the app has
/// none (create the second, switch the app, delete the first).
pub const MAX_KEYS: u8 = 2;

/// An API key of an organisation's chat app. Its HMAC secret is not here: it is kept in the
/// key's own secret ([`key_secret_name`]) and shown once, when the key is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatAppKey {
    pub org_id: String,
    pub key_id: String,
    /// Which of the organisation's [`MAX_KEYS`] places the key holds (1 or 2).
    pub slot: u8,
    pub created_at: DateTime<Utc>,
}

/// A key as the API lists it: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChatAppKeyView {
    /// Sent by the app in `X-Max-Key-Id`.
    pub key_id: String,
    pub created_at: DateTime<Utc>,
}

impl From<&ChatAppKey> for ChatAppKeyView {
    fn from(k: &ChatAppKey) -> Self {
        ChatAppKeyView { key_id: k.key_id.clone(), created_at: k.created_at }
    }
}

/// `POST /v1/channels/chat-app` answers the new key with its secret: the only time the secret is
/// shown (MAX keeps it in Secrets Manager and never answers it again).
#[derive(Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CreatedChatAppKey {
    pub key_id: String,
    /// The HMAC-SHA256 key the app signs with (its UTF-8 bytes, as shown). Shown once.
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for CreatedChatAppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedChatAppKey").field("key_id", &self.key_id).field("secret", &"[redacted]").finish()
    }
}

/// A key id from 16 random bytes: `cak_` and 32 hex digits. Not a secret (it names the key).
pub fn key_id_from(random: [u8; 16]) -> String {
    format!("cak_{}", hex::encode(random))
}

/// A key's secret from 32 random bytes (256 bits, HMAC-SHA256's block of strength): `cas_` and
/// 64 hex digits, so it is plain ASCII in every language's HMAC API.
pub fn key_secret_from(random: [u8; 32]) -> String {
    format!("cas_{}", hex::encode(random))
}

/// Whether `value` could be one of our key ids: anything else is refused before any read.
pub fn is_key_id(value: &str) -> bool {
    value.strip_prefix("cak_").is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// The secret (below the stack's prefix) holding one key's HMAC secret.
pub fn key_secret_name(org_id: &str, key_id: &str) -> String {
    format!("chat-app/{}/{key_id}", secret_name_part(org_id))
}

// ------------------------------------------------------------------------------- the signature

/// Why a signed call is refused (each answers 401; the log says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    MissingHeader(&'static str),
    /// Not a whole number of seconds, or outside [`SIGNATURE_WINDOW`].
    StaleTimestamp,
    UnknownKey,
    BadSignature,
}

/// The `X-Max-Timestamp` (Unix seconds) of a call, if it is within [`SIGNATURE_WINDOW`] of `now`.
pub fn check_timestamp(header: &str, now: DateTime<Utc>) -> Result<i64, Refusal> {
    let seconds: i64 = header.trim().parse().map_err(|_| Refusal::StaleTimestamp)?;
    let at = DateTime::from_timestamp(seconds, 0).ok_or(Refusal::StaleTimestamp)?;
    if (now - at).abs() > SIGNATURE_WINDOW {
        return Err(Refusal::StaleTimestamp);
    }
    Ok(seconds)
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Max-Signature` an app sends: `v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}`
/// with the key's secret (the apps' reference, and the tests').
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("{SIGNATURE_SCHEME}{}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// Checks `X-Max-Signature` over the timestamp and the raw body, in constant time (`verify_slice`).
pub fn verify(secret: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(expected) = header.trim().strip_prefix(SIGNATURE_SCHEME).and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&expected).is_ok()
}

// ---------------------------------------------------------------------------------- the bodies

/// An id of the app's (a message's, a user's): 1 to 128 of `A-Z a-z 0-9 . _ : - @`. It becomes
/// part of our keys, so nothing else may be in it.
pub fn check_app_id(field: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= MAX_APP_ID_CHARS
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-' | b'@'));
    if ok { Ok(()) } else { Err(Error::invalid(field, "must be 1 to 128 letters, digits or . _ : - @")) }
}

/// The user of the app who wrote: the identity is the app's user id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatAppUser {
    /// The user's id in the app: their identity on the `chat_app` channel.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:@-]+$")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 3, max_length = 254, pattern = "^[^@\\s]+@[^@\\s]+$")]
    pub email: Option<String>,
}

/// `POST /v1/channels/chat-app/messages`: one message a user wrote in the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatAppMessage {
    /// The app's id of the message: posting it again changes nothing (the first one stands).
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:@-]+$")]
    pub message_id: String,
    pub user: ChatAppUser,
    #[schema(min_length = 1, max_length = 4096)]
    pub text: String,
    /// When the user sent it (RFC 3339); at most 5 minutes ahead of MAX's clock.
    pub sent_at: DateTime<Utc>,
}

impl ChatAppMessage {
    /// Every field within its limits, or 422 naming the first that is not.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        check_app_id("message_id", &self.message_id)?;
        check_app_id("user.id", &self.user.id)?;
        if let Some(name) = &self.user.name
            && (name.trim().is_empty() || name.chars().count() > 200)
        {
            return Err(Error::invalid("user.name", "must be 1 to 200 characters, not blank"));
        }
        if let Some(email) = &self.user.email {
            let parts = email.split_once('@');
            let ok = email.len() <= 254
                && !email.chars().any(char::is_whitespace)
                && parts.is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
            if !ok {
                return Err(Error::invalid("user.email", "must be an email address"));
            }
        }
        if self.text.trim().is_empty() || self.text.chars().count() > MAX_TEXT_CHARS {
            return Err(Error::invalid("text", format!("must be 1 to {MAX_TEXT_CHARS} characters, not blank")));
        }
        if self.sent_at > now + SIGNATURE_WINDOW {
            return Err(Error::invalid("sent_at", "must not be ahead of MAX's clock by more than 5 minutes"));
        }
        Ok(())
    }

    /// The id the message is stored under once, whatever how often the app posts it.
    pub fn inbound_id(&self) -> String {
        inbound_id(&self.message_id)
    }
}

impl ChatAppMessage {
    /// The message as inbound processing and the bot read every channel's: a text message, kept
    /// under its marker id, its body as the app posted it.
    pub fn inbound(&self) -> crate::domain::webhook::InboundMessage {
        crate::domain::webhook::InboundMessage {
            wamid: self.inbound_id(),
            from: None,
            from_user_id: None,
            timestamp: Some(self.sent_at),
            kind: "text".into(),
            content: Some(serde_json::json!({ "body": self.text })),
            text: Some(self.text.clone()),
            context: None,
            referral: None,
            errors: None,
            raw: serde_json::to_value(self).unwrap_or_default(),
        }
    }
}

/// The marker id of an inbound chat-app message (the role Meta's `wamid` plays for WhatsApp): in
/// the organisation's namespace of channel message ids, never one of Meta's (`wamid.…`).
pub fn inbound_id(app_message_id: &str) -> String {
    format!("chat_app:in:{app_message_id}")
}

/// The marker id a reply delivered to the app is recorded sent under: statuses the app posts back
/// for our `message_id` find it there, and move it as Meta's statuses move a WhatsApp reply.
pub fn delivery_id(message_id: &str) -> String {
    format!("chat_app:out:{message_id}")
}

/// What the app may say of a reply it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatAppDeliveryStatus {
    Delivered,
    Read,
    Failed,
}

impl ChatAppDeliveryStatus {
    pub fn status(self) -> DeliveryStatus {
        match self {
            ChatAppDeliveryStatus::Delivered => DeliveryStatus::Delivered,
            ChatAppDeliveryStatus::Read => DeliveryStatus::Read,
            ChatAppDeliveryStatus::Failed => DeliveryStatus::Failed,
        }
    }
}

/// `POST /v1/channels/chat-app/statuses`: what became of a reply the app got as a
/// `chat_app.message` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatAppStatus {
    /// The reply's `message_id`, as the `chat_app.message` event gave it.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:@-]+$")]
    pub message_id: String,
    pub status: ChatAppDeliveryStatus,
    /// When it happened (RFC 3339); at most 5 minutes ahead of MAX's clock.
    pub at: DateTime<Utc>,
    /// Why it failed, in the app's words (with `failed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 500)]
    pub error: Option<String>,
}

impl ChatAppStatus {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<()> {
        check_app_id("message_id", &self.message_id)?;
        if self.at > now + SIGNATURE_WINDOW {
            return Err(Error::invalid("at", "must not be ahead of MAX's clock by more than 5 minutes"));
        }
        match &self.error {
            Some(_) if self.status != ChatAppDeliveryStatus::Failed => Err(Error::invalid("error", "only a failed status carries an error")),
            Some(e) if e.trim().is_empty() || e.chars().count() > 500 => Err(Error::invalid("error", "must be 1 to 500 characters, not blank")),
            _ => Ok(()),
        }
    }

    /// A failure as the message keeps it.
    pub fn failure(&self) -> Option<FailureReason> {
        (self.status == ChatAppDeliveryStatus::Failed)
            .then(|| FailureReason::ours("chat_app_failed", self.error.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &str = "cas_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap()
    }

    #[test]
    fn a_signature_holds_for_its_timestamp_and_body_only() {
        let (t, body) = (now().timestamp(), br#"{"message_id":"m1"}"#.as_slice());
        let header = sign(SECRET, t, body);
        assert!(header.starts_with("v1=") && header.len() == 3 + 64, "{header}");
        assert!(verify(SECRET, t, body, &header));
        assert!(!verify(SECRET, t + 1, body, &header), "another timestamp");
        assert!(!verify(SECRET, t, br#"{"message_id":"m2"}"#, &header), "another body");
        assert!(!verify("cas_other", t, body, &header), "another key");
        assert!(!verify(SECRET, t, body, &header[3..]), "without its scheme");
        assert!(!verify(SECRET, t, body, "v1=zz"), "not hex");
        assert!(!verify(SECRET, t, body, &header[..40]), "cut short");
    }

    #[test]
    fn a_signature_is_the_hmac_of_timestamp_dot_body() {
        // What an app computes with any HMAC library (the client snippet in docs/chat-app.md).
        let mut m = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        m.update(b"1765015200.{}");
        assert_eq!(sign(SECRET, 1_765_015_200, b"{}"), format!("v1={}", hex::encode(m.finalize().into_bytes())));
    }

    #[test]
    fn the_timestamp_window_is_five_minutes_either_side() {
        let t = now().timestamp();
        assert_eq!(check_timestamp(&t.to_string(), now()), Ok(t));
        assert_eq!(check_timestamp(&(t - 300).to_string(), now()), Ok(t - 300));
        assert_eq!(check_timestamp(&(t + 300).to_string(), now()), Ok(t + 300));
        for stale in [t - 301, t + 301, 0] {
            assert_eq!(check_timestamp(&stale.to_string(), now()), Err(Refusal::StaleTimestamp), "{stale}");
        }
        for bad in ["", "soon", "1765015200.5", "99999999999999999999"] {
            assert_eq!(check_timestamp(bad, now()), Err(Refusal::StaleTimestamp), "{bad:?}");
        }
    }

    #[test]
    fn key_ids_and_secrets_are_random_hex_with_their_prefix() {
        let id = key_id_from([0xab; 16]);
        assert!(is_key_id(&id), "{id}");
        assert!(!is_key_id("cak_"), "too short");
        assert!(!is_key_id(&id.to_uppercase()));
        assert!(!is_key_id(&format!("{id}#x")));
        assert_eq!(key_secret_from([1; 32]).len(), 4 + 64);
        assert_eq!(key_secret_name("org/1", &id), format!("chat-app/org=2f1/{id}"));
        let shown = CreatedChatAppKey { key_id: id, secret: SECRET.into(), created_at: now() };
        assert!(!format!("{shown:?}").contains(SECRET), "Debug never prints the secret");
    }

    fn message(edit: impl FnOnce(&mut serde_json::Value)) -> Result<ChatAppMessage> {
        let mut body = serde_json::json!({
            "message_id": "m-1", "user": { "id": "user-42", "name": "Ana", "email": "ana@example.com" },
            "text": "Hello", "sent_at": "2026-12-06T09:59:00Z"
        });
        edit(&mut body);
        let m: ChatAppMessage = serde_json::from_value(body).map_err(|e| Error::invalid("body", e.to_string()))?;
        m.validate(now()).map(|_| m)
    }

    fn field(r: Result<ChatAppMessage>) -> String {
        match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_message_names_its_bad_field() {
        assert!(message(|_| {}).is_ok());
        assert_eq!(field(message(|b| b["message_id"] = "has#hash".into())), "message_id");
        assert_eq!(field(message(|b| b["message_id"] = "x".repeat(129).into())), "message_id");
        assert_eq!(field(message(|b| b["user"]["id"] = "".into())), "user.id");
        assert_eq!(field(message(|b| b["user"]["name"] = " ".into())), "user.name");
        assert_eq!(field(message(|b| b["user"]["email"] = "not-an-email".into())), "user.email");
        assert_eq!(field(message(|b| b["text"] = " \n".into())), "text");
        assert_eq!(field(message(|b| b["text"] = "a".repeat(4097).into())), "text");
        assert_eq!(field(message(|b| b["sent_at"] = "2026-12-06T10:05:01Z".into())), "sent_at");
        assert!(message(|b| b["sent_at"] = "2020-01-01T00:00:00Z".into()).is_ok(), "old messages are fine (an app's backlog)");
        assert!(message(|b| b["extra"] = 1.into()).is_err(), "unknown fields are refused");
    }

    #[test]
    fn inbound_and_delivery_ids_never_meet_each_other_or_metas() {
        assert_eq!(inbound_id("m-1"), "chat_app:in:m-1");
        assert_eq!(delivery_id("01J"), "chat_app:out:01J");
        assert_ne!(inbound_id("x"), delivery_id("x"));
        assert!(!inbound_id("x").starts_with("wamid."));
    }

    #[test]
    fn a_status_carries_an_error_only_when_failed() {
        let status = |s: &str, error: Option<&str>| ChatAppStatus {
            message_id: "01J".into(),
            status: serde_json::from_value(s.into()).unwrap(),
            at: now(),
            error: error.map(str::to_string),
        };
        assert!(status("delivered", None).validate(now()).is_ok());
        assert!(status("read", Some("why")).validate(now()).is_err());
        let failed = status("failed", Some("user blocked the app"));
        assert!(failed.validate(now()).is_ok());
        assert_eq!(failed.failure().unwrap().detail.as_deref(), Some("user blocked the app"));
        assert_eq!(failed.status.status(), DeliveryStatus::Failed);
        assert!(serde_json::from_value::<ChatAppDeliveryStatus>("sent".into()).is_err(), "the app cannot say sent: MAX did");
    }
}
