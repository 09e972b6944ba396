//! The chat-app channel's entry points (`docs/chat-app.md`): the organisation's API keys (admins
//! create, list and remove them), the signature check of every call the app makes, and the
//! app's messages and delivery statuses handed to the inbound queue, where inbound-processor
//! takes them like WhatsApp's.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{info, warn};

use crate::app::access_tokens::AccessTokens;
use crate::domain::chat_app::{
    ChatAppKey, ChatAppKeyView, ChatAppMessage, ChatAppStatus, CreatedChatAppKey, MAX_KEYS, Refusal, check_timestamp, is_key_id, key_id_from,
    key_secret_from, key_secret_name, verify,
};
use crate::domain::ids::sha256_hex;
use crate::domain::secret::Secret;
use crate::domain::webhook::InboundJob;
use crate::error::{Error, Result};
use crate::ports::{ChatAppKeyStore, Outbox, Queue, QueueMessage, Secrets, Written};

/// What the chat-app routes need.
pub struct ChatAppPorts<'a> {
    pub keys: &'a dyn ChatAppKeyStore,
    pub secrets: &'a dyn Secrets,
    /// The keys' secrets this warm function has read (a key's secret never changes: its id is new
    /// with every key, so keeping it is safe; whether the key still exists is read every call).
    pub kept: &'a AccessTokens,
    pub outbox: &'a dyn Outbox,
}

// ------------------------------------------------------------------------------------ the keys

/// Creates a key for the organisation in a free place (at most [`MAX_KEYS`]: 409 beyond), its
/// secret stored first so a key that can be found can be checked. Answers the secret, once.
pub async fn create_key(keys: &dyn ChatAppKeyStore, secrets: &dyn Secrets, org_id: &str, now: DateTime<Utc>) -> Result<CreatedChatAppKey> {
    let held = keys.chat_app_keys(org_id).await?;
    let Some(slot) = (1..=MAX_KEYS).find(|s| held.iter().all(|k| k.slot != *s)) else {
        return Err(Error::conflict(format!("the organisation holds {MAX_KEYS} keys already; delete one first"), "keys_full"));
    };
    let key = ChatAppKey { org_id: org_id.to_string(), key_id: key_id_from(rand::random()), slot, created_at: now };
    let secret = key_secret_from(rand::random());
    let name = key_secret_name(org_id, &key.key_id);
    secrets.put_secret(&name, &Secret::new(secret.clone())).await?;
    if keys.put_chat_app_key(&key).await? == Written::AlreadyThere {
        // Another admin took the place meanwhile: this key never existed.
        secrets.delete_secret(&name).await?;
        return Err(Error::LostUpdate("chat-app keys"));
    }
    info!(org_id, key_id = key.key_id, "chat-app key created");
    Ok(CreatedChatAppKey { key_id: key.key_id, secret, created_at: now })
}

/// The organisation's keys, oldest place first; never a secret.
pub async fn list_keys(keys: &dyn ChatAppKeyStore, org_id: &str) -> Result<Vec<ChatAppKeyView>> {
    Ok(keys.chat_app_keys(org_id).await?.iter().map(ChatAppKeyView::from).collect())
}

/// Removes one of the organisation's keys: its secret is scheduled for deletion and calls signed
/// with it are refused from now on (the key is read on every call). Another organisation's key,
/// or an unknown one, is 404.
pub async fn remove_key(keys: &dyn ChatAppKeyStore, secrets: &dyn Secrets, org_id: &str, key_id: &str) -> Result<()> {
    if !is_key_id(key_id) {
        return Err(Error::NotFound("chat-app key"));
    }
    let key = keys.chat_app_key(key_id).await?.filter(|k| k.org_id == org_id).ok_or(Error::NotFound("chat-app key"))?;
    // The secret first: a removal cut short between the two is finished by asking again (the key
    // is still found), and meanwhile the key without its secret already refuses every call.
    secrets.delete_secret(&key_secret_name(org_id, key_id)).await?;
    if keys.delete_chat_app_key(&key).await? == Written::AlreadyThere {
        return Err(Error::NotFound("chat-app key"));
    }
    info!(org_id, key_id, "chat-app key removed");
    Ok(())
}

// ------------------------------------------------------------------------------- signed calls

/// A call from an app, as it came: the three headers and the raw body.
pub struct SignedCall<'a> {
    pub key_id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

/// The key a call is signed with, or why it is refused (401). The cheap checks come first (the
/// headers, the time window) so a stale or unsigned call costs no read; then the key, read on
/// every call; then its secret, kept by the warm function; then the signature.
pub async fn authenticate(ports: &ChatAppPorts<'_>, call: &SignedCall<'_>, now: DateTime<Utc>) -> Result<ChatAppKey> {
    let checked = check(ports, call, now).await?;
    checked.map_err(|refusal| {
        warn!(?refusal, key_id = call.key_id.unwrap_or_default(), "chat-app call refused");
        Error::Unauthorized
    })
}

async fn check(ports: &ChatAppPorts<'_>, call: &SignedCall<'_>, now: DateTime<Utc>) -> Result<Result<ChatAppKey, Refusal>> {
    use crate::domain::chat_app::{KEY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
    let (Some(key_id), Some(timestamp), Some(signature)) = (call.key_id, call.timestamp, call.signature) else {
        let missing = if call.key_id.is_none() {
            KEY_ID_HEADER
        } else if call.timestamp.is_none() {
            TIMESTAMP_HEADER
        } else {
            SIGNATURE_HEADER
        };
        return Ok(Err(Refusal::MissingHeader(missing)));
    };
    let timestamp = match check_timestamp(timestamp, now) {
        Ok(t) => t,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if !is_key_id(key_id) {
        return Ok(Err(Refusal::UnknownKey));
    }
    let Some(key) = ports.keys.chat_app_key(key_id).await? else {
        return Ok(Err(Refusal::UnknownKey));
    };
    let Some(secret) = ports.kept.secret(ports.secrets, key_secret_name(&key.org_id, key_id), now).await? else {
        // Removed between the two reads (its secret goes last): as good as unknown.
        return Ok(Err(Refusal::UnknownKey));
    };
    if !verify(secret.expose(), timestamp, call.body, signature) {
        return Ok(Err(Refusal::BadSignature));
    }
    Ok(Ok(key))
}
/// What the app is answered once its message or status is on the inbound queue (202): the same
/// for a repeat, which changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChatAppAccepted {
    /// The `message_id` the app posted.
    pub message_id: String,
    pub accepted: bool,
}

/// FIFO group of a chat-app user's messages: in order per user, in parallel across users (the
/// user's identity leads to one customer; a linked customer's other channels keep their own).
pub fn user_group(org_id: &str, user_id: &str) -> String {
    format!("{org_id}#chat_app#{user_id}")
}

/// Takes a user's message: checked (422 naming the field), then one durable write, the inbound
/// queue. Deduplicated by SQS within 5 minutes and, after that, by inbound processing, which
/// stores one message per app message id.
pub async fn receive_message(outbox: &dyn Outbox, key: &ChatAppKey, message: ChatAppMessage, now: DateTime<Utc>) -> Result<ChatAppAccepted> {
    message.validate(now)?;
    let org_id = key.org_id.clone();
    let group = user_group(&org_id, &message.user.id);
    let dedup = sha256_hex(format!("{org_id}#{}", message.inbound_id()).as_bytes());
    let message_id = message.message_id.clone();
    let job = InboundJob::ChatApp { received_at: now, org_id, message };
    queue(outbox, &job, group, dedup).await?;
    Ok(ChatAppAccepted { message_id, accepted: true })
}

/// Takes what became of a reply: checked, then queued like a message. Statuses only move a
/// message forward (failed is final), so their order across a user's messages does not matter;
/// one message's statuses share a group.
pub async fn receive_status(outbox: &dyn Outbox, key: &ChatAppKey, status: ChatAppStatus, now: DateTime<Utc>) -> Result<ChatAppAccepted> {
    status.validate(now)?;
    let org_id = key.org_id.clone();
    let group = format!("{org_id}#chat_app_status#{}", status.message_id);
    let dedup = sha256_hex(format!("{org_id}#{}#{:?}", status.message_id, status.status).as_bytes());
    let message_id = status.message_id.clone();
    let job = InboundJob::ChatAppStatus { received_at: now, org_id, status };
    queue(outbox, &job, group, dedup).await?;
    Ok(ChatAppAccepted { message_id, accepted: true })
}

async fn queue(outbox: &dyn Outbox, job: &InboundJob, group: String, dedup: String) -> Result<()> {
    let body = serde_json::to_string(job).map_err(|e| Error::backend("sqs", e))?;
    outbox.send_batch(Queue::Inbound, &[QueueMessage { body, group_id: Some(group), dedup_id: Some(dedup) }]).await
}
