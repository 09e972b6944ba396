//! Inbound processing: a queued webhook change becomes customers, conversations, messages,
//! delivery statuses and template statuses, each exactly once.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::domain::channel::{Channel, is_graph_id, quarantine_key};
use crate::domain::chat_app::{ChatAppMessage, ChatAppStatus, delivery_id};
use crate::domain::conversation::Conversation;
use crate::domain::routing::TeamSource;
use crate::domain::customer::{ChannelIdentity, Customer, Identity, IdentityChannel, WhatsAppAddress};
use crate::domain::ids::{inbound_message_id, new_id, sha256_hex};
use crate::domain::message::{DeliveryStatus, Direction, Message, Sender, SenderType};
use crate::domain::rate_limit::{BlockReason, CustomerBlock, RateCounter, RateDecision, RateLimitSettings, decide};
use crate::domain::webhook::{InboundJob, InboundMessage, MessagesChange, TemplateQualityChange, TemplateStatusChange, WebhookChange, read_changes};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{BlobStore, ChannelDirectory, ConversationStore, CustomerStore, MessageStore, RateLimitStore, WhatsAppTemplateStore, Written};

/// The ports inbound processing needs.
pub struct InboundPorts<'a> {
    pub channels: &'a dyn ChannelDirectory,
    pub customers: &'a dyn CustomerStore,
    pub conversations: &'a dyn ConversationStore,
    pub messages: &'a dyn MessageStore,
    /// Template status and quality webhooks move the organisation's templates (`app::whatsapp_templates`).
    pub templates: &'a dyn WhatsAppTemplateStore,
    pub blobs: &'a dyn BlobStore,
    /// Customer-side rate limits: counted here, before anything answers (`docs/rate-limits.md`).
    pub rate_limits: &'a dyn RateLimitStore,
    /// Delivery statuses also move action answers and feed the dashboard's events.
    pub deliveries: crate::app::delivery::DeliveryPorts<'a>,
    /// A conversation's first message fixes its SLA policy; customer messages start its clocks.
    pub sla: crate::app::sla::SlaPorts<'a>,
    /// Now, for the SLA deadline index (an entry is never placed in a minute already past).
    pub clock: &'a dyn crate::ports::Clock,
    /// The replies queue: a closed team's after-hours reply goes out through it.
    pub outbox: &'a dyn crate::ports::Outbox,
}

/// A stored message whose handling (bot, tickets) is owed, with its conversation as it now
/// stands: what the bot, tickets and rate limits react to. Stored by this job, or by an earlier
/// delivery of it that failed before handing it on; duplicates already handled never appear here.
#[derive(Debug, Clone)]
pub struct Received {
    pub conversation: Conversation,
    pub message: Message,
    pub inbound: InboundMessage,
    /// Stored by an earlier delivery of the job, which may have done some of its handling: what
    /// is keyed by the message (replies) may be there already, and the conversation may have moved.
    pub repeated: bool,
    /// The rate-limit block this message started by crossing a limit: its one event and one
    /// notice to the customer are owed. A message stored while blocked (`message.rate_limited`)
    /// that did not start the block has `None`.
    pub rate_limit: Option<CustomerBlock>,
}

pub async fn process_job(ports: &InboundPorts<'_>, job: &InboundJob) -> Result<Vec<Received>> {
    let (received_at, changes) = match job {
        InboundJob::Changes { received_at, changes } => (*received_at, changes.clone()),
        InboundJob::Stored { received_at, key } => {
            let bytes = ports.blobs.get(key).await?;
            match read_changes(&bytes) {
                Ok(changes) => (*received_at, changes),
                Err(_) => {
                    quarantine(ports.blobs, "unreadable-stored-body", &bytes).await?;
                    return Ok(Vec::new());
                }
            }
        }
        InboundJob::ChatApp { received_at, org_id, message } => {
            return Ok(receive_chat_app(ports, org_id, message, *received_at).await?.into_iter().collect());
        }
        InboundJob::ChatAppStatus { org_id, status, .. } => {
            chat_app_status(ports, org_id, status).await?;
            return Ok(Vec::new());
        }
    };
    let mut received = Vec::new();
    for change in &changes {
        received.extend(process_change(ports, change, received_at).await?);
    }
    Ok(received)
}

/// Keeps a body we cannot place under `quarantine/` so nothing is lost, and says so in the log.
pub async fn quarantine(blobs: &dyn BlobStore, reason: &str, bytes: &[u8]) -> Result<String> {
    let key = format!("quarantine/{}/{}/{}.json", reason, Utc::now().format("%Y-%m-%d"), sha256_hex(bytes));
    blobs.put(&key, bytes.to_vec(), "application/json").await?;
    warn!(reason, key, "webhook body quarantined");
    Ok(key)
}

/// Keeps a change for a number nobody has registered in the number's quarantine folder, as the
/// job it came in (`app::channels::replay` queues it again once the number is registered). Then
/// looks the number up once more: registered meanwhile, its replay may have listed the folder
/// before this change was in it, so it is handled here (and the kept copy dropped) instead of
/// waiting for a replay nobody will ask for. `None`: still nobody's.
async fn quarantine_for_number(ports: &InboundPorts<'_>, number: &str, change: &WebhookChange, received_at: DateTime<Utc>) -> Result<Option<Channel>> {
    if !is_graph_id(number) {
        // No number could ever be registered with this id (and it cannot name a folder).
        quarantine(ports.blobs, "no-phone-number-id", &serde_json::to_vec(change).unwrap_or_default()).await?;
        return Ok(None);
    }
    let job = InboundJob::Changes { received_at, changes: vec![change.clone()] };
    let bytes = serde_json::to_vec(&job).map_err(|e| Error::backend("s3", e))?;
    let key = quarantine_key(number, received_at, &sha256_hex(&bytes));
    ports.blobs.put(&key, bytes, "application/json").await?;
    match ports.channels.channel_by_number(number).await? {
        Some(channel) => {
            ports.blobs.delete(&key).await?;
            info!(phone_number_id = number, "number registered while its change was quarantined; handled now");
            Ok(Some(channel))
        }
        None => {
            warn!(reason = "unknown-phone-number-id", key, "webhook body quarantined");
            Ok(None)
        }
    }
}

async fn process_change(ports: &InboundPorts<'_>, change: &WebhookChange, received_at: DateTime<Utc>) -> Result<Vec<Received>> {
    let raw = || serde_json::to_vec(change).unwrap_or_default();
    match change.field.as_str() {
        "messages" => {
            let Some(number) = change.phone_number_id() else {
                quarantine(ports.blobs, "no-phone-number-id", &raw()).await?;
                return Ok(Vec::new());
            };
            let channel = match ports.channels.channel_by_number(&number).await? {
                Some(channel) => channel,
                None => match quarantine_for_number(ports, &number, change, received_at).await? {
                    Some(channel) => channel,
                    None => return Ok(Vec::new()),
                },
            };
            let value = MessagesChange::read(&change.value);
            for status in &value.statuses {
                let Some(s) = status.status else {
                    info!(status = status.status_word, "delivery status not tracked");
                    continue;
                };
                let at = status.timestamp.unwrap_or(received_at);
                let written = ports.messages.apply_status(&channel.org_id, &status.wamid, s, status.failure.as_ref(), at).await?;
                // Issue 4: `message.status_changed` for the dashboard, and an action's answer follows its message.
                let tag = status.callback_tag.as_deref();
                crate::app::delivery::status_callback(&ports.deliveries, &channel.org_id, &status.wamid, tag, s, status.failure.as_ref(), at, written)
                    .await?;
            }
            let mut received = Vec::new();
            for message in &value.messages {
                if let Some(r) = receive_message(ports, &channel, &value, message, received_at).await? {
                    received.push(r);
                }
            }
            Ok(received)
        }
        "message_template_status_update" => {
            let Some(update) = TemplateStatusChange::read(change) else {
                quarantine(ports.blobs, "unreadable-template-status", &raw()).await?;
                return Ok(Vec::new());
            };
            let Some(org_id) = ports.channels.org_by_waba(&update.waba_id).await? else {
                quarantine(ports.blobs, "unknown-waba", &raw()).await?;
                return Ok(Vec::new());
            };
            crate::app::whatsapp_templates::status_webhook(ports.templates, ports.deliveries.events, &org_id, &update, received_at).await?;
            Ok(Vec::new())
        }
        "message_template_quality_update" => {
            let Some(update) = TemplateQualityChange::read(change) else {
                quarantine(ports.blobs, "unreadable-template-quality", &raw()).await?;
                return Ok(Vec::new());
            };
            let Some(org_id) = ports.channels.org_by_waba(&update.waba_id).await? else {
                quarantine(ports.blobs, "unknown-waba", &raw()).await?;
                return Ok(Vec::new());
            };
            crate::app::whatsapp_templates::quality_webhook(ports.templates, ports.deliveries.events, &org_id, &update, received_at).await?;
            Ok(Vec::new())
        }
        other => {
            // Group, account and other fields we do not act on yet: kept whole for later.
            let key = format!("webhooks/unhandled/{}/{}.json", if other.is_empty() { "none" } else { other }, sha256_hex(&raw()));
            ports.blobs.put(&key, raw(), "application/json").await?;
            info!(field = other, key, "webhook field kept, not processed");
            Ok(Vec::new())
        }
    }
}

async fn receive_message(
    ports: &InboundPorts<'_>,
    channel: &Channel,
    change: &MessagesChange,
    inbound: &InboundMessage,
    received_at: DateTime<Utc>,
) -> Result<Option<Received>> {
    let contact = change.contact_for(inbound);
    let address = WhatsAppAddress::from_parts(
        inbound.from.as_deref().or(contact.and_then(|c| c.wa_id.as_deref())),
        inbound.from_user_id.as_deref().or(contact.and_then(|c| c.user_id.as_deref())),
    );
    let Some(address) = address else {
        let raw = serde_json::to_vec(&inbound.raw).unwrap_or_default();
        quarantine(ports.blobs, "message-without-sender", &raw).await?;
        return Ok(None);
    };
    let org = channel.org_id.as_str();
    let at = inbound.timestamp.unwrap_or(received_at);
    let name = contact.and_then(|c| c.name.clone());

    // Cached a minute per warm function by DynamoDB: no read per message.
    let settings = ports.rate_limits.rate_limit_settings(org).await?.map(|s| s.settings).unwrap_or_default();
    let (address, name, settings) = (&address, &name, &settings);
    retry_lost_updates("conversation", |_| async move {
        let placed = current_conversation(ports, channel, address, name.as_deref(), at, &inbound.wamid, settings).await?;
        let conversation = placed.conversation;
        let mut block = placed.block;
        if block.is_none() {
            // One atomic write, counted once per WhatsApp id however often the job is delivered.
            let counter = RateCounter::at(org, &address.0, BlockReason::MessagesPerMinute, at);
            let counted = ports.rate_limits.count_once(&counter, &inbound.wamid).await?;
            if decide(None, at, counted, settings.messages_per_minute) == RateDecision::Crossed {
                let reason = BlockReason::MessagesPerMinute;
                block = Some(start_block(ports, org, address, settings, reason, at, &inbound.wamid, &conversation.id).await?);
            }
        }
        let message = customer_message(&conversation, inbound, at, name.clone(), block.is_some());
        // A redelivery of the message that crossed the limit finds its own block on the identity.
        let started = block.filter(|b| b.started_by(&inbound.wamid));
        record(ports, conversation, message, inbound, started).await
    })
    .await
}

/// A message from a user of the organisation's chat app (`docs/chat-app.md`): the user's
/// identity on `chat_app` leads to their customer (created with it on their first message, linked
/// by nobody) and their open conversation on the app (opened when none is), then the message is
/// stored once per app message id, exactly as a WhatsApp message. Not counted against the rate
/// limits: the app is the organisation's own and signs every call; it limits its users itself.
async fn receive_chat_app(ports: &InboundPorts<'_>, org: &str, posted: &ChatAppMessage, received_at: DateTime<Utc>) -> Result<Option<Received>> {
    let inbound = posted.inbound();
    // The app's clock may be ahead by the signature's window: never ahead of ours.
    let at = posted.sent_at.min(received_at);
    let (inbound, user) = (&inbound, &posted.user);
    retry_lost_updates("conversation", |_| async move {
        let conversation = chat_app_conversation(ports, org, posted, at).await?;
        let message = customer_message(&conversation, inbound, at, user.name.clone(), false);
        record(ports, conversation, message, inbound, None).await
    })
    .await
}

/// The chat-app user's open conversation, creating their customer or a new conversation when
/// there is none; another worker doing the same first is a lost update (read again).
async fn chat_app_conversation(ports: &InboundPorts<'_>, org: &str, posted: &ChatAppMessage, at: DateTime<Utc>) -> Result<Conversation> {
    let now = Utc::now();
    let user = &posted.user;
    match ports.customers.identity(org, IdentityChannel::ChatApp, &user.id).await? {
        None => {
            let first_seen = Identity::first_seen(IdentityChannel::ChatApp, &user.id, now);
            let mut customer = Customer::new(new_id(now), org, user.name.clone(), None, Some(first_seen), now);
            customer.email = user.email.clone();
            let conversation = Conversation::open_on_chat_app(new_id(now), org, &customer.id, &user.id, at, now);
            let identity = ChannelIdentity {
                org_id: org.to_string(),
                channel: IdentityChannel::ChatApp,
                address: user.id.clone(),
                customer_id: customer.id.clone(),
                open_conversation_id: Some(conversation.id.clone()),
                profile_name: user.name.clone(),
                last_conversation_id: Some(conversation.id.clone()),
                blocked: None,
            };
            match ports.customers.create_customer(&customer, &identity, &conversation).await? {
                Written::Stored => Ok(conversation),
                Written::AlreadyThere => Err(Error::LostUpdate("customer")),
            }
        }
        Some(identity) => {
            if let Some(id) = &identity.open_conversation_id
                && let Some(c) = ports.conversations.conversation(org, id).await?
                && c.status.is_open()
            {
                return Ok(c);
            }
            let conversation = Conversation::open_on_chat_app(new_id(now), org, &identity.customer_id, &user.id, at, now);
            match ports.customers.open_conversation(&identity, identity.open_conversation_id.as_deref(), &conversation).await? {
                Written::Stored => Ok(conversation),
                Written::AlreadyThere => Err(Error::LostUpdate("conversation")),
            }
        }
    }
}

/// What the app says became of a reply it was given: applied like Meta's statuses (forward only,
/// failed is final; one that comes before the send is recorded waits for it), then followed into
/// the feed and, for an action's answer, into the action.
async fn chat_app_status(ports: &InboundPorts<'_>, org: &str, posted: &ChatAppStatus) -> Result<()> {
    let id = delivery_id(&posted.message_id);
    let (status, failure) = (posted.status.status(), posted.failure());
    let written = ports.messages.apply_status(org, &id, status, failure.as_ref(), posted.at).await?;
    crate::app::delivery::status_callback(&ports.deliveries, org, &id, None, status, failure.as_ref(), posted.at, written).await
}

/// A customer's message in `conversation`, as stored: its id orders it after the conversation's
/// latest one of the same second.
fn customer_message(conversation: &Conversation, inbound: &InboundMessage, at: DateTime<Utc>, name: Option<String>, rate_limited: bool) -> Message {
    let mut message = Message {
        id: inbound_message_id(at, &inbound.wamid, conversation.last_inbound_message_id.as_deref()),
        org_id: conversation.org_id.clone(),
        conversation_id: conversation.id.clone(),
        customer_id: conversation.customer_id.clone(),
        direction: Direction::Inbound,
        kind: inbound.kind.clone(),
        text: inbound.text.clone(),
        content: inbound.content.clone(),
        context: inbound.context.clone(),
        referral: inbound.referral.clone(),
        errors: inbound.errors.clone(),
        outbound: None,
        wamid: Some(inbound.wamid.clone()),
        status: DeliveryStatus::Received,
        failure: None,
        sender: Sender { kind: SenderType::Customer, id: Some(conversation.customer_id.clone()), name },
        created_at: at,
        sent_at: None,
        delivered_at: None,
        read_at: None,
        failed_at: None,
        sent_as_template: None,
        idempotency_key: None,
        sending_at: None,
        resent_at: None,
        rate_limited,
        // The file is fetched by media-worker; the message shows it pending at once.
        media: crate::domain::media::media_reference(&inbound.kind, inbound.content.as_ref()).map(|r| crate::domain::media::MessageMedia {
            id: String::new(),
            media_type: r.media_type,
            mime_type: r.mime_type,
            filename: r.filename,
            status: crate::domain::media::MediaStatus::Pending,
            reason: None,
            size: None,
            url: None,
        }),
    };
    if let Some(media) = message.media.as_mut() {
        // One file per message: the media record shares the message's id.
        media.id = message.id.clone();
    }
    message
}

/// Stores a customer's message with its conversation, once per channel message id (`wamid`):
/// a repeat still owed its handling (an earlier delivery died before handing it on) is handed on
/// again, one already handled is dropped. A changed conversation is a lost update.
async fn record(
    ports: &InboundPorts<'_>,
    mut conversation: Conversation,
    message: Message,
    inbound: &InboundMessage,
    started: Option<CustomerBlock>,
) -> Result<Option<Received>> {
    let org = conversation.org_id.clone();
    let first = conversation.first_message_at.is_none();
    // Before the clocks: a new conversation lowered to `low` runs under the policy for `low`.
    let after_hours = after_hours_reply(ports, &mut conversation, message.created_at, first).await?;
    // The clocks move in the same write as the message (the deadline index is the conversation's).
    crate::app::sla::customer_wrote(&ports.sla, &mut conversation, message.created_at, ports.clock.now()).await?;
    conversation.touch_inbound(message.created_at, &message.id, inbound.text.as_deref().or(Some(&inbound.kind)));
    conversation.version += 1;
    let routing = ports.sla.routing_ports();
    match ports.messages.record_inbound(&message, &conversation).await? {
        Written::Stored => {
            // A new conversation in a team's queue goes to an agent now (`app::routing`).
            let conversation = if first { crate::app::routing::route(&routing, conversation, None, ports.clock.now()).await? } else { conversation };
            let conversation = match after_hours {
                Some(text) => send_after_hours(ports, conversation, text).await?,
                None => conversation,
            };
            Ok(Some(Received { conversation, message, inbound: inbound.clone(), repeated: false, rate_limit: started }))
        }
        Written::AlreadyThere => match ports.messages.unhandled_inbound(&org, &inbound.wamid).await? {
            // Stored by an earlier delivery of this job that failed before handing it on (maybe
            // before routing it: a queued conversation is routed again, which is harmless).
            Some(stored) => {
                let conversation = ports.conversations.conversation(&org, &stored.conversation_id).await?.ok_or(Error::NotFound("conversation"))?;
                let conversation = crate::app::routing::route(&routing, conversation, None, ports.clock.now()).await?;
                info!(wamid = inbound.wamid, "duplicate message still owed its handling: handed on");
                let rate_limit = started.filter(|_| stored.rate_limited);
                Ok(Some(Received { conversation, message: stored, inbound: inbound.clone(), repeated: true, rate_limit }))
            }
            None => {
                info!(wamid = inbound.wamid, "duplicate message ignored");
                Ok(None)
            }
        },
    }
}

/// The after-hours reply owed to a customer message at `at`, recorded on `conversation` (its
/// closed period, and `low` for a new one) for the message's own conditional write: only a
/// conversation waiting in a team's queue (no agent yet) whose team has a reply and hours that are
/// closed at `at`. Reads the team and its hours (2 GetItems) for such a conversation only.
async fn after_hours_reply(ports: &InboundPorts<'_>, conversation: &mut Conversation, at: DateTime<Utc>, first: bool) -> Result<Option<String>> {
    let Some(team_id) = conversation.team_id.clone() else { return Ok(None) };
    if !conversation.status.is_open() || conversation.assignee_id.is_some() {
        return Ok(None);
    }
    let Some(team) = ports.sla.teams.team(&conversation.org_id, &team_id).await? else { return Ok(None) };
    if team.after_hours_reply.is_none() {
        return Ok(None);
    }
    // A team without hours is open around the clock: never after hours.
    let Some(calendar) = crate::app::sla::calendar(ports.sla.teams, &conversation.org_id, Some(&team_id)).await? else { return Ok(None) };
    Ok(conversation.after_hours(&team, &calendar, at, first))
}

/// Queues the after-hours reply (a system message: it answers no SLA clock) and answers the
/// conversation as it now stands. Keyed by the closed period, so a retried job queues it once.
async fn send_after_hours(ports: &InboundPorts<'_>, conversation: Conversation, text: String) -> Result<Conversation> {
    let period = conversation.after_hours_reply.as_ref().and_then(|r| r.opening).map_or_else(|| "never".to_string(), |o| o.to_rfc3339());
    let key = crate::domain::ids::IdempotencyKey::internal(format!("after-hours:{period}"));
    let reply = crate::app::delivery::NewReply {
        org_id: &conversation.org_id,
        conversation_id: &conversation.id,
        content: crate::domain::outbound::OutboundContent::text(text),
        sender: Sender { kind: SenderType::System, id: None, name: None },
        idempotency_key: Some(&key),
        now: ports.clock.now(),
        just_read: Some(&conversation),
    };
    crate::app::delivery::queue_reply(ports.conversations, ports.messages, ports.outbox, reply).await?;
    info!(conversation_id = conversation.id, period, "after-hours reply queued");
    Ok(ports.conversations.conversation(&conversation.org_id, &conversation.id).await?.unwrap_or(conversation))
}

/// Blocks the customer for the cool-down, if no other delivery did first: then this message
/// follows that block (it did not start it), so exactly one message starts a block.
#[allow(clippy::too_many_arguments)]
async fn start_block(
    ports: &InboundPorts<'_>,
    org: &str,
    address: &WhatsAppAddress,
    settings: &RateLimitSettings,
    reason: BlockReason,
    at: DateTime<Utc>,
    wamid: &str,
    conversation_id: &str,
) -> Result<CustomerBlock> {
    let block = CustomerBlock::start(settings, reason, at, wamid, conversation_id);
    let in_force = ports.rate_limits.block_customer(org, &address.0, &block).await?;
    if in_force == block {
        info!(org_id = org, reason = reason.as_str(), until = %block.until, "customer rate-limited");
    }
    Ok(in_force)
}

/// Where a message goes, and the rate-limit block holding at its time, if any.
struct Placed {
    conversation: Conversation,
    block: Option<CustomerBlock>,
}

/// The customer's open conversation on this number, creating the customer or a new conversation
/// when there is none. Safe against a concurrent worker doing the same. A blocked customer opens
/// nothing: their message goes to the open conversation, else to their latest one (unchanged, not
/// reopened). A new conversation counts against the hour's openings; the one past the limit is
/// not opened and blocks the customer.
async fn current_conversation(
    ports: &InboundPorts<'_>,
    channel: &Channel,
    address: &WhatsAppAddress,
    name: Option<&str>,
    at: DateTime<Utc>,
    wamid: &str,
    settings: &RateLimitSettings,
) -> Result<Placed> {
    let org = channel.org_id.as_str();
    // Another worker creating the customer or opening a conversation first is a lost update too.
    retry_lost_updates("conversation", |_| async move {
        let now = Utc::now();
        match ports.customers.whatsapp_identity(org, &address.0).await? {
            None => {
                // The first conversation counts against the hour too (it cannot cross a limit of 1 or more).
                let counter = RateCounter::at(org, &address.0, BlockReason::ConversationsPerHour, at);
                ports.rate_limits.count_once(&counter, wamid).await?;
                // The customer's own first message makes the identity: linked by nobody.
                let first_seen = Identity::first_seen(IdentityChannel::Whatsapp, &address.0, now);
                let customer =
                    Customer::new(new_id(now), org, name.map(str::to_string), address.phone().map(str::to_string), Some(first_seen), now);
                let conversation = new_conversation(ports, channel, &customer.id, address, at, now).await?;
                let identity = ChannelIdentity {
                    org_id: org.to_string(),
                    channel: IdentityChannel::Whatsapp,
                    address: address.0.clone(),
                    customer_id: customer.id.clone(),
                    open_conversation_id: Some(conversation.id.clone()),
                    profile_name: name.map(str::to_string),
                    last_conversation_id: Some(conversation.id.clone()),
                    blocked: None,
                };
                match ports.customers.create_customer(&customer, &identity, &conversation).await? {
                    Written::Stored => Ok(Placed { conversation, block: None }),
                    Written::AlreadyThere => Err(Error::LostUpdate("customer")),
                }
            }
            Some(identity) => {
                let mut open = None;
                if let Some(id) = &identity.open_conversation_id
                    && let Some(c) = ports.conversations.conversation(org, id).await?
                    && c.status.is_open()
                {
                    open = Some(c);
                }
                let block = identity.blocked.clone().filter(|b| decide(Some(b), at, None, 0) == RateDecision::Blocked);
                if let Some(block) = block {
                    let home = match open {
                        Some(c) => Some(c),
                        None => latest_conversation(ports, org, [Some(&block.conversation_id), identity.last_conversation_id.as_ref()]).await?,
                    };
                    if let Some(conversation) = home {
                        return Ok(Placed { conversation, block: Some(block) });
                    }
                    // Nothing of theirs to hold it (their conversations erased): opened as usual, still marked.
                    let conversation = open_new(ports, channel, &identity, address, at, now).await?;
                    return Ok(Placed { conversation, block: Some(block) });
                }
                if let Some(c) = open {
                    return Ok(Placed { conversation: c, block: None });
                }
                let counter = RateCounter::at(org, &address.0, BlockReason::ConversationsPerHour, at);
                let counted = ports.rate_limits.count_once(&counter, wamid).await?;
                if decide(None, at, counted, settings.conversations_per_hour) == RateDecision::Crossed
                    && let Some(latest) = latest_conversation(ports, org, [identity.last_conversation_id.as_ref(), None]).await?
                {
                    let reason = BlockReason::ConversationsPerHour;
                    let block = start_block(ports, org, address, settings, reason, at, wamid, &latest.id).await?;
                    return Ok(Placed { conversation: latest, block: Some(block) });
                }
                let conversation = open_new(ports, channel, &identity, address, at, now).await?;
                Ok(Placed { conversation, block: None })
            }
        }
    })
    .await
}

/// Opens a new conversation for a known customer (a lost update when another worker did first).
async fn open_new(
    ports: &InboundPorts<'_>,
    channel: &Channel,
    identity: &ChannelIdentity,
    address: &WhatsAppAddress,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Conversation> {
    let conversation = new_conversation(ports, channel, &identity.customer_id, address, at, now).await?;
    let previous = identity.open_conversation_id.as_deref();
    match ports.customers.open_conversation(identity, previous, &conversation).await? {
        Written::Stored => Ok(conversation),
        Written::AlreadyThere => Err(Error::LostUpdate("conversation")),
    }
}

/// The first of `candidates` that is still stored.
async fn latest_conversation(ports: &InboundPorts<'_>, org: &str, candidates: [Option<&String>; 2]) -> Result<Option<Conversation>> {
    for id in candidates.into_iter().flatten() {
        if let Some(c) = ports.conversations.conversation(org, id).await? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// A new conversation on the number: in its default team's queue, unless the organisation's
/// routing settings leave the channel's default out (the settings are read only then).
async fn new_conversation(ports: &InboundPorts<'_>, channel: &Channel, customer_id: &str, address: &WhatsAppAddress, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<Conversation> {
    let mut team = channel.default_team_id.as_deref();
    if team.is_some() && !crate::app::routing::team_source_allowed(ports.sla.teams, &channel.org_id, TeamSource::ChannelDefault).await? {
        team = None;
    }
    Ok(Conversation::open_on(new_id(now), &channel.org_id, &channel.phone_number_id, customer_id, &address.0, at, now).in_team(team))
}
