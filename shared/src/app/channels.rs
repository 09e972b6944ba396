//! WhatsApp numbers, registered by the organisation's admins (`/v1/channels/whatsapp`). Each number
//! has its own Graph access token in its own secret, and the changes that came for it before it
//! was registered are replayed through the normal inbound path, once each.

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use tracing::{error, info};

use crate::domain::audit::{AuditActor, AuditEntity};
use crate::domain::channel::{
    Channel, ChannelRegistration, TemplateRef, VoiceChannel, VoiceChannelView, VoiceRegistration, access_token_secret, is_graph_id, quarantine_prefix,
    voice_account_secret,
};
use crate::domain::ids::sha256_hex;
use crate::domain::webhook::InboundJob;
use crate::error::{Error, Result};
use crate::ports::{BlobStore, ChannelDirectory, ChannelPut, Outbox, Page, PageRequest, Queue, QueueMessage, Secrets, Written};

/// The ports the channel routes need.
pub struct ChannelPorts<'a> {
    pub channels: &'a dyn ChannelDirectory,
    pub secrets: &'a dyn Secrets,
    /// Where quarantined changes wait for their number.
    pub blobs: &'a dyn BlobStore,
    /// Replayed changes go back on the inbound queue.
    pub outbox: &'a dyn Outbox,
    /// A number's default team must be one of the organisation's.
    pub teams: &'a dyn crate::ports::TeamStore,
}

/// A number as the API shows it: never its token, only whether it has one and since when.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    pub phone_number_id: String,
    pub waba_id: Option<String>,
    pub display_phone_number: Option<String>,
    pub fallback_template: Option<TemplateRef>,
    /// Whether the number has a Graph access token of its own (without one its replies fail).
    pub access_token_set: bool,
    /// When the token was last stored (registered or rotated).
    pub access_token_rotated_at: Option<DateTime<Utc>>,
}

impl From<&Channel> for ChannelView {
    fn from(c: &Channel) -> Self {
        ChannelView {
            phone_number_id: c.phone_number_id.clone(),
            waba_id: c.waba_id.clone(),
            display_phone_number: c.display_phone_number.clone(),
            fallback_template: c.fallback_template.clone(),
            access_token_set: c.access_token_rotated_at.is_some(),
            access_token_rotated_at: c.access_token_rotated_at,
        }
    }
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// Changes put back on the inbound queue (and removed from quarantine).
    pub requeued: usize,
    /// Kept changes that could not be queued (not a job, or too large for a queue message): left
    /// in quarantine, each with an error log.
    pub skipped: usize,
    /// More changes wait for this number: ask again.
    pub more: bool,
}

/// `POST /v1/channels/whatsapp` answers the number and what its registration replayed.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Registered {
    #[serde(flatten)]
    pub channel: ChannelView,
    pub replay: Replayed,
    /// The number was the organisation's already (registered again: 200, not 201).
    #[serde(skip)]
    pub replaced: bool,
}

/// Changes replayed per call: each is a read, a tenth of a `SendMessageBatch` and a delete, well
/// within an API call's time.
pub const REPLAY_BATCH: usize = 100;
/// What one `SendMessageBatch` may carry in all (SQS allows 256 KiB), with room for its framing.
const QUEUE_BATCH_BYTES: usize = 250 * 1024;
/// Quarantined changes read at once.
const READS_AT_ONCE: usize = 10;

fn taken(field: &str) -> Error {
    Error::Conflict { detail: format!("{field}: registered to another organisation"), current: None }
}

/// Registers a number of the organisation, or registers it again (a new token: rotation; new
/// details). The token goes to the number's own secret first, so a number that can receive can
/// answer; then the channel; then the changes quarantined for the number are replayed.
/// What the audit trail records of a number: its details, its WABA, its fallback template, its
/// team and when its token was rotated (never the token).
const AUDITED_FIELDS: [&str; 5] = ["display_phone_number", "waba_id", "fallback_template", "default_team_id", "access_token_rotated_at"];

pub async fn register(ports: &ChannelPorts<'_>, org_id: &str, registration: &ChannelRegistration, by: &AuditActor, now: DateTime<Utc>) -> Result<Registered> {
    registration.validate()?;
    if let Some(team) = &registration.default_team_id
        && ports.teams.team(org_id, team).await?.is_none()
    {
        return Err(Error::invalid("default_team_id", "no such team in the organisation"));
    }
    let number = registration.phone_number_id.as_str();
    let previous = ports.channels.channel_by_number(number).await?;
    if previous.as_ref().is_some_and(|c| c.org_id != org_id) {
        return Err(taken("phone_number_id"));
    }
    if ports.channels.org_by_waba(&registration.waba_id).await?.is_some_and(|owner| owner != org_id) {
        return Err(taken("waba_id"));
    }
    let secret = access_token_secret(org_id, number);
    ports.secrets.put_secret(&secret, &registration.access_token).await?;
    let channel = registration.channel(org_id, now);
    let audit = by.change(now, org_id, (AuditEntity::Channel, number), "register", &AUDITED_FIELDS, previous.as_ref(), Some(&channel));
    let put = ports.channels.put_channel(&channel, audit.as_ref()).await?;
    if put != ChannelPut::Stored {
        // Taken by another organisation between the checks and the write: the token just stored
        // serves no number of ours.
        if previous.is_none() {
            ports.secrets.delete_secret(&secret).await?;
        }
        return Err(taken(if put == ChannelPut::WabaTaken { "waba_id" } else { "phone_number_id" }));
    }
    let replaced = previous.is_some();
    if let Some(old) = previous.and_then(|p| p.waba_id).filter(|w| channel.waba_id.as_ref() != Some(w)) {
        forget_waba_if_unused(ports.channels, org_id, &old).await?;
    }
    info!(org_id, phone_number_id = number, "WhatsApp number registered");
    let replay = replay_quarantined(ports, number).await?;
    Ok(Registered { channel: ChannelView::from(&channel), replay, replaced })
}

// ------------------------------------------------------------------------------ voice account

/// `PUT /v1/channels/voice`: the organisation's voice account (Twilio), stored whole in its own
/// secret; registering again replaces it (rotation). Answers whether one was there before.
pub async fn register_voice(secrets: &dyn Secrets, org_id: &str, registration: &VoiceRegistration, now: DateTime<Utc>) -> Result<(VoiceChannelView, bool)> {
    let account = registration.account(now)?;
    let replaced = voice_account(secrets, org_id).await?.is_some();
    secrets.put_secret(&voice_account_secret(org_id), &account.to_secret()).await?;
    info!(org_id, account_sid = account.account_sid, "voice account registered");
    Ok((VoiceChannelView::from(&account), replaced))
}

/// The organisation's voice account, if it registered one. A secret that cannot be read as one
/// is an error (logged without its value): calls cannot be placed nor callbacks verified.
pub async fn voice_account(secrets: &dyn Secrets, org_id: &str) -> Result<Option<VoiceChannel>> {
    match secrets.secret(&voice_account_secret(org_id)).await? {
        None => Ok(None),
        Some(secret) => VoiceChannel::from_secret(&secret)
            .map(Some)
            .ok_or_else(|| Error::backend("secretsmanager", format!("the voice account secret of {org_id} is not a voice account"))),
    }
}

/// `DELETE /v1/channels/voice`: the secret is scheduled for deletion; calls are no longer placed
/// and callbacks of calls under way are refused (403). 404 when none was registered.
pub async fn remove_voice(secrets: &dyn Secrets, org_id: &str) -> Result<()> {
    if voice_account(secrets, org_id).await?.is_none() {
        return Err(Error::NotFound("voice account"));
    }
    secrets.delete_secret(&voice_account_secret(org_id)).await?;
    info!(org_id, "voice account removed");
    Ok(())
}

/// The organisation's numbers, by phone number id.
pub async fn list(channels: &dyn ChannelDirectory, org_id: &str, page: &PageRequest) -> Result<Page<ChannelView>> {
    let page = channels.channels(org_id, page).await?;
    Ok(Page { items: page.items.iter().map(ChannelView::from).collect(), next_cursor: page.next_cursor })
}

/// Removes one of the organisation's numbers: its token's secret first (scheduled for deletion),
/// so no token outlives its number, then the number (and its WABA, when it was the last number on
/// it). Another organisation's number, or an unknown one, is 404.
pub async fn remove(ports: &ChannelPorts<'_>, org_id: &str, phone_number_id: &str, by: &AuditActor, now: DateTime<Utc>) -> Result<()> {
    let channel = own_channel(ports.channels, org_id, phone_number_id).await?;
    ports.secrets.delete_secret(&access_token_secret(org_id, phone_number_id)).await?;
    let audit = by.change(now, org_id, (AuditEntity::Channel, phone_number_id), "remove", &AUDITED_FIELDS, Some(&channel), None);
    if ports.channels.delete_channel(org_id, phone_number_id, audit.as_ref()).await? == Written::AlreadyThere {
        return Err(Error::NotFound("channel"));
    }
    if let Some(waba) = &channel.waba_id {
        forget_waba_if_unused(ports.channels, org_id, waba).await?;
    }
    info!(org_id, phone_number_id, "WhatsApp number removed");
    Ok(())
}

/// Replays the changes quarantined for one of the organisation's numbers (404 for another's).
pub async fn replay(ports: &ChannelPorts<'_>, org_id: &str, phone_number_id: &str) -> Result<Replayed> {
    own_channel(ports.channels, org_id, phone_number_id).await?;
    replay_quarantined(ports, phone_number_id).await
}

async fn own_channel(channels: &dyn ChannelDirectory, org_id: &str, phone_number_id: &str) -> Result<Channel> {
    if !is_graph_id(phone_number_id) {
        return Err(Error::NotFound("channel"));
    }
    channels.channel_by_number(phone_number_id).await?.filter(|c| c.org_id == org_id).ok_or(Error::NotFound("channel"))
}

/// The WABA stops being the organisation's when none of its numbers is on it any more.
async fn forget_waba_if_unused(channels: &dyn ChannelDirectory, org_id: &str, waba_id: &str) -> Result<()> {
    let mut cursor = None;
    loop {
        let request = PageRequest { limit: 100, cursor };
        let page = channels.channels(org_id, &request).await?;
        if page.items.iter().any(|c| c.waba_id.as_deref() == Some(waba_id)) {
            return Ok(());
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return channels.forget_waba(org_id, waba_id).await,
        }
    }
}

/// Puts the oldest [`REPLAY_BATCH`] changes kept for the number back on the inbound queue, in the
/// order they came (keys sort by arrival), each in its customer's message group as the webhook
/// would have queued it; each is deleted once it is queued. So a second replay finds nothing to
/// queue, and a replay cut off between the two queues a change again, which the inbound path
/// drops by its WhatsApp id (and SQS by its deduplication id within 5 minutes).
async fn replay_quarantined(ports: &ChannelPorts<'_>, phone_number_id: &str) -> Result<Replayed> {
    let mut keys = ports.blobs.list(&quarantine_prefix(phone_number_id), REPLAY_BATCH as i32 + 1).await?;
    let more = keys.len() > REPLAY_BATCH;
    keys.truncate(REPLAY_BATCH);
    // The reads as a list first: a stream over a closure borrowing `ports` would make the
    // handler's future not `Send` for every lifetime (rust-lang/rust#102211).
    let reads: Vec<_> = keys.iter().map(|k| ports.blobs.get(k)).collect();
    let bodies: Vec<Result<Vec<u8>>> = stream::iter(reads).buffered(READS_AT_ONCE).collect().await;
    let mut replayed = Replayed { requeued: 0, skipped: 0, more };
    let mut batch: Vec<(QueueMessage, &str)> = Vec::new();
    for (key, body) in keys.iter().zip(bodies) {
        let body = body?;
        let Some(message) = queue_message(&body) else {
            error!(key, bytes = body.len(), "quarantined change cannot be queued again (not a job, or too large); left in quarantine");
            replayed.skipped += 1;
            continue;
        };
        let size: usize = batch.iter().map(|(m, _)| m.body.len()).sum();
        if batch.len() == 10 || size + message.body.len() > QUEUE_BATCH_BYTES {
            replayed.requeued += requeue(ports, std::mem::take(&mut batch)).await?;
        }
        batch.push((message, key.as_str()));
    }
    replayed.requeued += requeue(ports, batch).await?;
    if replayed.requeued > 0 {
        info!(phone_number_id, requeued = replayed.requeued, more, "quarantined changes replayed");
    }
    Ok(replayed)
}

/// A kept job as the webhook receiver would have queued it.
fn queue_message(body: &[u8]) -> Option<QueueMessage> {
    let job: InboundJob = serde_json::from_slice(body).ok()?;
    let InboundJob::Changes { changes, .. } = &job else {
        return None;
    };
    let group = changes.first()?.ordering_key();
    let text = String::from_utf8(body.to_vec()).ok().filter(|t| t.len() <= QUEUE_BATCH_BYTES)?;
    Some(QueueMessage { body: text, group_id: Some(group), dedup_id: Some(sha256_hex(body)) })
}

async fn requeue(ports: &ChannelPorts<'_>, batch: Vec<(QueueMessage, &str)>) -> Result<usize> {
    if batch.is_empty() {
        return Ok(0);
    }
    let messages: Vec<QueueMessage> = batch.iter().map(|(m, _)| m.clone()).collect();
    ports.outbox.send_batch(Queue::Inbound, &messages).await?;
    for (_, key) in &batch {
        ports.blobs.delete(key).await?;
    }
    Ok(batch.len())
}
