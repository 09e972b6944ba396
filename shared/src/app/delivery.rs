//! Delivery: every message MAX sends to a customer (agent replies, ticket answers, action answers,
//! the bot's menus) is stored as `queued` first, its job handed to the outbox, then sent by
//! reply-sender through the Graph API (24-hour window, fallback template, retries, exactly-once
//! recording); its delivery statuses (ours and Meta's callbacks) are followed into the dashboard
//! feed and, for an action's answer, into the action. Every feature queues through here.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{error, info, warn};

use crate::domain::action::{AnswerStatus, action_of_response};
use crate::domain::conversation::{Conversation, ConversationStatus, window_is_open};
use crate::domain::customer::WhatsAppAddress;
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::ids::{IdempotencyKey, new_id};
use crate::app::access_tokens::AccessTokens;
use crate::domain::message::{DeliveryStatus, Direction, FailureReason, Message, NO_ACCESS_TOKEN, OUTSIDE_WINDOW, Sender, callback_tag, read_callback_tag};
use crate::domain::media::{MediaStatus, MessageMedia};
use crate::domain::outbound::OutboundContent;
use crate::domain::retry::{RetryPolicy, SendFailureKind, classify_graph_error};
use crate::domain::secret::Secret;
use crate::error::{Error, Result};
use crate::optimistic::{retry_lost_updates, retry_until_landed};
use crate::ports::{ActionStore, BlobStore, ChannelDirectory, MediaStore, Claim, ConversationStore, EventStore, EarlyStatus, MessageStore, Outbox, Queue, QueueMessage, Secrets, SendOutcome, WamidIndex, WhatsApp, Written};

/// The job on the replies queue: which stored message to send, and where it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyJob {
    pub org_id: String,
    pub conversation_id: String,
    pub message_id: String,
    /// Where it goes, copied from the conversation the reply was written with, so reply-sender
    /// claims the message without reading anything first (issue 18). Absent from jobs queued
    /// without their conversation at hand (an action's answer, the lost-reply sweep, jobs queued
    /// before this field): those read the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<ReplyTo>,
}

/// What sending a reply needs of its conversation. A copy cannot be wrong where it matters: the
/// number and the customer's address never change in a conversation, and its window only ever
/// closes later (`extend_window`), so a copy that says open is right; one that says closed is
/// checked against the conversation before the fallback template is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyTo {
    pub phone_number_id: String,
    pub customer_address: String,
    #[serde(default)]
    pub window_closes_at: Option<DateTime<Utc>>,
    /// The conversation's channel (a conversation never changes it): `chat_app` replies go to the
    /// app as events, anything else to WhatsApp. Absent in jobs queued before a second channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl ReplyTo {
    pub fn of(conversation: &Conversation) -> Self {
        ReplyTo {
            phone_number_id: conversation.phone_number_id.clone(),
            customer_address: conversation.customer_address.clone(),
            window_closes_at: conversation.window_closes_at,
            channel: conversation.is_chat_app().then(|| conversation.channel.clone()),
        }
    }

    fn is_chat_app(&self) -> bool {
        self.channel.as_deref() == Some(crate::domain::chat_app::CHANNEL)
    }
}

/// FIFO group of a customer's messages: in order per customer, parallel across customers.
pub fn customer_group(org_id: &str, customer_id: &str) -> String {
    format!("{org_id}#{customer_id}")
}

/// A message to queue for a customer.
pub struct NewReply<'a> {
    pub org_id: &'a str,
    pub conversation_id: &'a str,
    pub content: OutboundContent,
    pub sender: Sender,
    /// The same key gives the same message: a retried request queues nothing new; the key with
    /// another request answers 422.
    pub idempotency_key: Option<&'a IdempotencyKey>,
    pub now: DateTime<Utc>,
    /// The conversation as the caller has just read it (to check it accepts replies): the first
    /// attempt writes on it instead of reading it again. A stale copy costs a lost update and a
    /// fresh read, never a wrong write (the write is conditional on its version).
    pub just_read: Option<&'a Conversation>,
}

/// Stores the message as `queued` with its conversation, then puts the send job on the replies
/// queue. Returns the message as stored (the first one, for a repeated idempotency key).
pub async fn queue_reply(
    conversations: &dyn ConversationStore,
    messages: &dyn MessageStore,
    outbox: &dyn Outbox,
    reply: NewReply<'_>,
) -> Result<Message> {
    queue(conversations, messages, outbox, reply, None).await
}

/// `queue_reply`, moving the conversation to `state` in the same write: the reply and the step
/// it belongs to (a survey's next question) land together or not at all. A repeated key stores
/// nothing and moves nothing (the first one did both).
pub async fn queue_reply_in_state(
    conversations: &dyn ConversationStore,
    messages: &dyn MessageStore,
    outbox: &dyn Outbox,
    reply: NewReply<'_>,
    state: &str,
) -> Result<Message> {
    queue(conversations, messages, outbox, reply, Some(state)).await
}

async fn queue(
    conversations: &dyn ConversationStore,
    messages: &dyn MessageStore,
    outbox: &dyn Outbox,
    reply: NewReply<'_>,
    state: Option<&str>,
) -> Result<Message> {
    reply.content.validate()?;
    // A template Meta would refuse answers 422 now, before anything is stored or queued.
    crate::app::whatsapp_templates::check_sendable(messages, reply.org_id, &reply.content).await?;
    let id = match reply.idempotency_key {
        Some(key) => key.id_at(&reply_scope(reply.org_id, reply.conversation_id), reply.now),
        None => new_id(reply.now),
    };
    let (reply, id) = (&reply, id.as_str());
    let (message, written, conversation) = retry_lost_updates("conversation", |attempt| async move {
        let mut conversation = match reply.just_read {
            Some(c) if attempt == 1 && c.org_id == reply.org_id && c.id == reply.conversation_id => c.clone(),
            _ => conversations.conversation(reply.org_id, reply.conversation_id).await?.ok_or(Error::NotFound("conversation"))?,
        };
        let key = reply.idempotency_key.map(|k| k.key.as_str());
        let message = outbound_message(&conversation, id.to_string(), reply.content.clone(), reply.sender.clone(), reply.now, key);
        conversation.touch(reply.now, Some(&reply.content.preview()));
        if reply.sender.kind == crate::domain::message::SenderType::Agent {
            // An agent's answer stops the response clocks in this same write.
            conversation.agent_replied(reply.now, reply.now);
        }
        if let Some(state) = state {
            conversation.state = state.to_string();
        }
        conversation.version += 1;
        let written = messages.record_outbound(&message, &conversation).await?;
        Ok((message, written, conversation))
    })
    .await?;
    if written == Written::AlreadyThere {
        // Keyed ids embed the time, so a retried request has a new id: the key finds the first.
        let first = match reply.idempotency_key {
            Some(key) => messages.message_by_idempotency_key(reply.org_id, reply.conversation_id, &key.key).await?,
            None => None,
        };
        return match first {
            Some(message) => {
                if let Some(key) = reply.idempotency_key {
                    key.check_first(&reply_scope(reply.org_id, reply.conversation_id), &message.id, message.created_at)?;
                }
                Ok(message)
            }
            None => messages.message(reply.org_id, reply.conversation_id, id).await?.ok_or(Error::NotFound("message")),
        };
    }
    outbox.send_batch(Queue::Replies, &[reply_job(&message, Some(&conversation))?]).await?;
    Ok(message)
}

/// Where a reply's idempotency key is unique: its conversation.
fn reply_scope(org_id: &str, conversation_id: &str) -> String {
    format!("{org_id}#{conversation_id}")
}

/// The id `queue_reply` gives a message queued with one of our own idempotency keys at `now`
/// (callers that record the id elsewhere before queuing use it too).
pub fn keyed_reply_id(org_id: &str, conversation_id: &str, key: &str, now: DateTime<Utc>) -> String {
    IdempotencyKey::internal(key).id_at(&reply_scope(org_id, conversation_id), now)
}

/// A message to the conversation's customer, `queued` for reply-sender.
pub(crate) fn outbound_message(
    conversation: &Conversation,
    id: String,
    content: OutboundContent,
    sender: Sender,
    now: DateTime<Utc>,
    idempotency_key: Option<&str>,
) -> Message {
    Message {
        id,
        org_id: conversation.org_id.clone(),
        conversation_id: conversation.id.clone(),
        customer_id: conversation.customer_id.clone(),
        direction: Direction::Outbound,
        kind: content.kind().to_string(),
        text: Some(content.preview()),
        content: None,
        context: None,
        referral: None,
        errors: None,
        wamid: None,
        status: DeliveryStatus::Queued,
        failure: None,
        sender,
        created_at: now,
        sent_at: None,
        delivered_at: None,
        read_at: None,
        failed_at: None,
        sent_as_template: None,
        idempotency_key: idempotency_key.map(str::to_string),
        sending_at: None,
        resent_at: None,
        rate_limited: false,
        // An upload it sends shows as its file, filled from the record on every read.
        media: content.upload_id().map(|id| MessageMedia {
            id: id.to_string(),
            media_type: content.kind().to_string(),
            mime_type: None,
            filename: None,
            status: MediaStatus::Stored,
            reason: None,
            size: None,
            url: None,
        }),
        outbound: Some(content),
    }
}

/// Puts the send job for a stored message on the replies queue (without its conversation:
/// reply-sender reads it).
pub async fn enqueue(outbox: &dyn Outbox, message: &Message) -> Result<()> {
    outbox.send_batch(Queue::Replies, &[reply_job(message, None)?]).await
}

/// The send job of a stored message: grouped per customer, deduplicated by the message; with
/// where it goes when the caller has the conversation it was written with.
fn reply_job(message: &Message, conversation: Option<&Conversation>) -> Result<QueueMessage> {
    let job = ReplyJob {
        org_id: message.org_id.clone(),
        conversation_id: message.conversation_id.clone(),
        message_id: message.id.clone(),
        to: conversation.map(ReplyTo::of),
    };
    let body = serde_json::to_string(&job).map_err(|e| Error::backend("sqs", e))?;
    Ok(QueueMessage { body, group_id: Some(customer_group(&message.org_id, &message.customer_id)), dedup_id: Some(message.id.clone()) })
}

/// A reply still `queued` this long after it was stored has lost its job (the queue refused it,
/// or the function died between storing and queueing); a younger one may be waiting its turn.
pub const LOST_AFTER: Duration = Duration::minutes(2);
/// Older ones are left as they are (and visible as `queued`): the customer asked a day ago.
pub const LOST_AT_MOST: Duration = Duration::hours(24);
const LOST_PER_SHARD_AND_RUN: i32 = 100;

/// The scheduled sweep: queues again the jobs of replies stored but never queued. A job queued
/// twice is harmless: FIFO deduplication by message id within 5 minutes, and after that
/// reply-sender finds the message no longer `queued` (one customer's jobs run one at a time).
pub async fn requeue_lost_replies(messages: &dyn MessageStore, outbox: &dyn Outbox, now: DateTime<Utc>) -> Result<usize> {
    let lost = messages.queued_between(now - LOST_AT_MOST, now - LOST_AFTER, LOST_PER_SHARD_AND_RUN).await?;
    let jobs = lost.iter().filter(|m| m.status == DeliveryStatus::Queued).map(|m| reply_job(m, None)).collect::<Result<Vec<_>>>()?;
    for chunk in jobs.chunks(10) {
        outbox.send_batch(Queue::Replies, chunk).await?;
    }
    if !jobs.is_empty() {
        warn!(count = jobs.len(), "replies queued again: stored, but their jobs were lost");
    }
    Ok(jobs.len())
}

/// What reply-sender does with the queue record after one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum SendResult {
    /// Sent, failed for good, or already handled: delete the job.
    Done,
    /// A transient fault: make the job visible again after this many seconds.
    RetryLater { delay_secs: i32 },
    /// Retries are exhausted and the message is marked failed: leave the job to reach the DLQ.
    GiveUp,
}

pub struct SenderPorts<'a> {
    pub messages: &'a dyn MessageStore,
    pub channels: &'a dyn ChannelDirectory,
    pub whatsapp: &'a dyn WhatsApp,
    /// Where each number's Graph access token is kept, and the tokens this function read already.
    pub secrets: &'a dyn Secrets,
    pub tokens: &'a AccessTokens,
    /// An agent's upload is sent by a presigned link minted here, at send time.
    pub media: &'a dyn MediaStore,
    pub blobs: &'a dyn BlobStore,
    pub retry: RetryPolicy,
    /// Sent and failed also move action answers and feed the dashboard's events.
    pub deliveries: DeliveryPorts<'a>,
}

/// Why a reply with an upload failed: its file is no longer kept (cleaned up after its retention).
pub const MEDIA_GONE: &str = "media_gone";

/// How long a `sending` claim waits for word from Meta (a status callback carrying the send's tag,
/// which records the send) before the message may be sent once more: Meta calls back `sent`
/// within seconds of accepting a message.
pub const SEND_CONFIRM_WAIT: Duration = Duration::minutes(2);

/// One attempt at sending a queued message. `attempt` is SQS's receive count (1 for the first).
///
/// The message is claimed (`queued` → `sending`) before the Graph API is called, so a job that
/// comes back (the function died, the send's recording failed, Meta never answered) finds it
/// `sending` and does not send it again blindly: it waits [`SEND_CONFIRM_WAIT`] for Meta's status
/// callback, then sends it at most once more (`resent_at` says so). Once Meta has accepted a send,
/// the job never fails: the recording is retried in place, and if it still cannot land the
/// callback records it.
pub async fn send_reply(ports: &SenderPorts<'_>, job: &ReplyJob, attempt: u32, now: DateTime<Utc>) -> Result<SendResult> {
    if let Some(to) = job.to.as_ref().filter(|to| to.is_chat_app()) {
        return deliver_to_chat_app(ports, job, &to.customer_address, now).await;
    }
    if let Some(to) = &job.to {
        // The usual case (issue 18): the token this function keeps, then one write that claims the
        // message and answers it. The token comes first, as below: a failed read leaves it queued.
        if let Some(token) = ports.tokens.token(ports.secrets, &job.org_id, &to.phone_number_id, now).await? {
            match ports.messages.claim_send(&job.org_id, &job.conversation_id, &job.message_id, now).await? {
                Claim::Claimed(message) => return send_claimed(ports, message, to.clone(), true, token, attempt, now).await,
                Claim::Unclaimed(None) => {
                    warn!(message_id = job.message_id, "reply job for an unknown message dropped");
                    return Ok(SendResult::Done);
                }
                // Claimed before, sent or failed: read and handled below like any such job.
                Claim::Unclaimed(Some(_)) => {}
            }
        }
        // No token: read below first, so that a message claimed already is not failed for it.
    }
    let (message, conversation) = ports.messages.message_with_conversation(&job.org_id, &job.conversation_id, &job.message_id).await?;
    let (Some(message), Some(conversation)) = (message, conversation) else {
        warn!(message_id = job.message_id, "reply job for an unknown message dropped");
        return Ok(SendResult::Done);
    };
    if conversation.is_chat_app() && matches!(message.status, DeliveryStatus::Queued | DeliveryStatus::Sending) {
        return deliver_to_chat_app(ports, job, &conversation.customer_address, now).await;
    }
    if !matches!(message.status, DeliveryStatus::Queued | DeliveryStatus::Sending) {
        // Redelivered after it was sent (or failed): never send twice.
        info!(message_id = message.id, status = message.status.as_str(), "reply already handled");
        // A retried job: an earlier attempt may have died before following its status.
        let at = status_time(&message).unwrap_or(now);
        follow_delivery(&ports.deliveries, &message, message.status, message.failure.as_ref(), at, false).await?;
        return Ok(SendResult::Done);
    }
    if let Some(result) = awaiting_metas_word(&message, now) {
        // Claimed already and maybe sent: Meta's callback may yet record it. Waited for before the
        // token, so a token removed meanwhile does not fail a reply that may have gone out.
        return Ok(result);
    }
    // The number's own token, read before the claim: a failed read leaves the message queued for
    // SQS's retry instead of claimed (a claimed message waits for Meta's word before a resend).
    let (org, number) = (conversation.org_id.as_str(), conversation.phone_number_id.as_str());
    let Some(token) = ports.tokens.token(ports.secrets, org, number, now).await? else {
        error!(org_id = org, phone_number_id = number, "WhatsApp access token missing: the number has none registered, its replies fail");
        return fail(ports, &message, FailureReason::ours(NO_ACCESS_TOKEN, None), now).await;
    };
    let message = match message.status {
        DeliveryStatus::Queued => match ports.messages.claim_send(&message.org_id, &message.conversation_id, &message.id, now).await? {
            Claim::Claimed(claimed) => claimed,
            Claim::Unclaimed(_) => {
                info!(message_id = message.id, "reply claimed or handled meanwhile");
                return Ok(SendResult::Done);
            }
        },
        _ => match claim_unconfirmed(ports, message, now).await? {
            Ok(claimed) => claimed,
            Err(result) => return Ok(result),
        },
    };
    send_claimed(ports, message, ReplyTo::of(&conversation), false, token, attempt, now).await
}

/// A reply in a chat-app conversation goes to the app, not to Meta: claimed like any send, then
/// the `chat_app.message` event the app reads (`/v1/events`), then recorded `sent` under its
/// delivery id, which the statuses the app posts back find. A job that comes back with the message
/// still `sending` (it died between the two) delivers again: the event's dedupe key keeps it
/// single, so unlike a WhatsApp send nothing waits for word from anyone.
async fn deliver_to_chat_app(ports: &SenderPorts<'_>, job: &ReplyJob, user_id: &str, now: DateTime<Utc>) -> Result<SendResult> {
    let message = match ports.messages.claim_send(&job.org_id, &job.conversation_id, &job.message_id, now).await? {
        Claim::Claimed(message) => message,
        Claim::Unclaimed(Some(message)) if message.status == DeliveryStatus::Sending => message,
        Claim::Unclaimed(Some(message)) => {
            info!(message_id = message.id, status = message.status.as_str(), "chat-app reply already handled");
            let at = status_time(&message).unwrap_or(now);
            follow_delivery(&ports.deliveries, &message, message.status, message.failure.as_ref(), at, false).await?;
            return Ok(SendResult::Done);
        }
        Claim::Unclaimed(None) => {
            warn!(message_id = job.message_id, "reply job for an unknown message dropped");
            return Ok(SendResult::Done);
        }
    };
    // An upload reaches the app as its file with a link minted now (the app fetches it itself).
    let media = match message.outbound.as_ref().and_then(OutboundContent::upload_id) {
        Some(media_id) => match crate::app::media::upload_link(ports.media, ports.blobs, &message.org_id, media_id).await? {
            Some((file, url)) => Some(json!({
                "id": file.id,
                "type": file.media_type,
                "mime_type": file.mime_type,
                "filename": file.filename,
                "size": file.size,
                "url": url,
            })),
            None => return fail(ports, &message, FailureReason::ours(MEDIA_GONE, None), now).await,
        },
        None => None,
    };
    ports.deliveries.events.record_events(&[chat_app_message_event(&message, user_id, media, now)]).await?;
    let id = crate::domain::chat_app::delivery_id(&message.id);
    let event = sent_event(&message, now);
    let recorded = ports.messages.mark_sent(&message, &id, now, None, event.as_ref()).await?;
    follow_sent(&ports.deliveries, &message, &id, now, recorded, event.is_some()).await?;
    Ok(SendResult::Done)
}

/// `chat_app.message`: what the app needs to show the reply to its user, once per message.
fn chat_app_message_event(message: &Message, user_id: &str, media: Option<serde_json::Value>, at: DateTime<Utc>) -> NewEvent {
    NewEvent::new(
        &message.org_id,
        EventKind::ChatAppMessage,
        at,
        json!({
            "conversation_id": message.conversation_id,
            "message_id": message.id,
            "customer_id": message.customer_id,
            "user_id": user_id,
            "text": message.text,
            "content": message.outbound,
            "media": media,
            "sender": { "type": message.sender.kind, "name": message.sender.name },
            "created_at": message.created_at,
        }),
        format!("chat_app.message#{}", message.id),
    )
}

/// Sends a message this job has claimed to `to`, read from its conversation or `copied` into
/// the job when it was queued.
async fn send_claimed(
    ports: &SenderPorts<'_>,
    message: Message,
    mut to: ReplyTo,
    copied: bool,
    mut token: Secret,
    attempt: u32,
    now: DateTime<Utc>,
) -> Result<SendResult> {
    let Some(content) = message.outbound.clone() else {
        return fail(ports, &message, FailureReason::ours("nothing_to_send", None), now).await;
    };
    let org = message.org_id.as_str();
    // An upload goes to Meta as a link minted now: a retry mints a fresh one.
    let content = match content.upload_id() {
        Some(media_id) => match crate::app::media::upload_link(ports.media, ports.blobs, org, media_id).await? {
            Some((_, url)) => content.with_link(url),
            None => return fail(ports, &message, FailureReason::ours(MEDIA_GONE, None), now).await,
        },
        None => content,
    };
    let mut window_open = window_is_open(to.window_closes_at, now);
    if copied && !window_open && !content.is_template() {
        // Closed when the reply was queued; the customer may have written since.
        if let (_, Some(conversation)) = ports.messages.message_with_conversation(org, &message.conversation_id, &message.id).await? {
            to = ReplyTo::of(&conversation);
            window_open = window_is_open(to.window_closes_at, now);
        }
    }
    let number = to.phone_number_id.as_str();
    let (to_send, mut as_template) = if content.is_template() || window_open {
        (content.clone(), None)
    } else {
        match fallback(ports, org, &to).await? {
            Some(t) => t,
            None => return fail(ports, &message, FailureReason::ours(OUTSIDE_WINDOW, None), now).await,
        }
    };

    let mut outcome = graph_send(ports, &token, &to, &message, &to_send).await;
    if refused_as(&outcome, SendFailureKind::InvalidToken) {
        // Meta refused the token this function kept: it may have been rotated since it was read.
        // Read it again; a new one gets one more try (a refused send went nowhere).
        match ports.tokens.refresh(ports.secrets, org, number, now).await {
            Ok(Some(fresh)) if fresh != token => {
                info!(message_id = message.id, phone_number_id = number, "access token rotated since it was read; sending with the new one");
                token = fresh;
                outcome = graph_send(ports, &token, &to, &message, &to_send).await;
            }
            Ok(_) => {}
            Err(e) => {
                // Nothing went out: give the claim back, so SQS's retry sends without waiting.
                ports.messages.release_send(&message).await?;
                return Err(e);
            }
        }
    }
    if let SendOutcome::Refused { http_status, code, .. } = &outcome {
        let outside = classify_graph_error(*http_status, *code) == SendFailureKind::OutsideWindow;
        if outside && as_template.is_none() && !content.is_template() {
            // Meta knows better than our clock: the window has closed. Try the fallback once.
            if let Some((template, name)) = fallback(ports, org, &to).await? {
                as_template = name;
                outcome = graph_send(ports, &token, &to, &message, &template).await;
            }
        }
    }
    match outcome {
        SendOutcome::Accepted { wamid } => sent(ports, &message, &wamid, now, as_template.as_deref()).await,
        SendOutcome::Unanswered { reason } => {
            // Meta may have it: the claim stays, and the job comes back when its callback is due.
            warn!(message_id = message.id, attempt, reason, "send unanswered; waiting for Meta's callback before sending again");
            Ok(SendResult::RetryLater { delay_secs: SEND_CONFIRM_WAIT.num_seconds() as i32 })
        }
        SendOutcome::Refused { http_status, code, title, detail } => match classify_graph_error(http_status, code) {
            SendFailureKind::OutsideWindow | SendFailureKind::Permanent => {
                fail(ports, &message, FailureReason::from_meta(code, Some(title), detail), now).await
            }
            SendFailureKind::InvalidToken => {
                error!(org_id = org, phone_number_id = number, code, title, "WhatsApp access token rejected: sends fail until it is replaced");
                fail(ports, &message, FailureReason::from_meta(code, Some(title), detail), now).await
            }
            SendFailureKind::Retryable if ports.retry.exhausted(attempt) => {
                let mut failure = FailureReason::from_meta(code, Some(title), detail);
                failure.reason = format!("retries_exhausted: {}", failure.reason);
                fail(ports, &message, failure, now).await?;
                warn!(message_id = message.id, attempt, "reply failed after its last retry");
                Ok(SendResult::GiveUp)
            }
            SendFailureKind::Retryable => {
                // Meta said no: nothing went out, so the next attempt sends without waiting.
                ports.messages.release_send(&message).await?;
                let delay = ports.retry.delay(attempt, rand::random::<f64>());
                info!(message_id = message.id, attempt, code, http_status, delay_ms = delay.as_millis() as u64, "send retried later");
                Ok(SendResult::RetryLater { delay_secs: delay.as_secs_f64().ceil() as i32 })
            }
        },
    }
}

/// A job found its message `sending`: an earlier attempt claimed it and never learned (or never
/// recorded) what Meta made of it. Until [`SEND_CONFIRM_WAIT`] has passed since the claim, wait
/// for Meta's callback; after that, claim it once more to send it a second time (`Ok`); never a
/// third (`Err` with what to do with the job).
async fn claim_unconfirmed(ports: &SenderPorts<'_>, message: Message, now: DateTime<Utc>) -> Result<Result<Message, SendResult>> {
    if let Some(result) = awaiting_metas_word(&message, now) {
        return Ok(Err(result));
    }
    if message.resent_at.is_some() {
        warn!(message_id = message.id, "reply sent twice without a word from Meta; not sending it a third time");
        return Ok(Err(SendResult::Done));
    }
    match ports.messages.claim_resend(&message, now).await? {
        Written::Stored => {
            warn!(message_id = message.id, "no word from Meta on the first send; sending once more");
            Ok(Ok(Message { sending_at: Some(now), resent_at: Some(now), ..message }))
        }
        Written::AlreadyThere => Ok(Err(SendResult::Done)),
    }
}

/// A `sending` message claimed less than [`SEND_CONFIRM_WAIT`] ago: the job comes back once the
/// wait is over (`RetryLater`). `None` for a queued message, or once the wait is over.
fn awaiting_metas_word(message: &Message, now: DateTime<Utc>) -> Option<SendResult> {
    if message.status != DeliveryStatus::Sending {
        return None;
    }
    let waited = now - message.sending_at.unwrap_or(message.created_at);
    if waited >= SEND_CONFIRM_WAIT {
        return None;
    }
    let delay_secs = (SEND_CONFIRM_WAIT - waited).num_seconds().max(1) as i32;
    info!(message_id = message.id, delay_secs, "reply being sent; waiting for Meta's word");
    Some(SendResult::RetryLater { delay_secs })
}

/// Sends `content` for `message` from the conversation's number with its `token`, tagged so Meta's
/// status callbacks name the message.
async fn graph_send(ports: &SenderPorts<'_>, token: &Secret, to: &ReplyTo, message: &Message, content: &OutboundContent) -> SendOutcome {
    let recipient = WhatsAppAddress(to.customer_address.clone());
    let mut request = content.graph_request(recipient.recipient());
    request["biz_opaque_callback_data"] = json!(callback_tag(&message.conversation_id, &message.id));
    ports.whatsapp.send(&to.phone_number_id, token, &request).await
}

/// Whether Meta refused the send for this kind of reason.
fn refused_as(outcome: &SendOutcome, kind: SendFailureKind) -> bool {
    matches!(outcome, SendOutcome::Refused { http_status, code, .. } if classify_graph_error(*http_status, *code) == kind)
}

async fn fail(ports: &SenderPorts<'_>, message: &Message, failure: FailureReason, now: DateTime<Utc>) -> Result<SendResult> {
    warn!(message_id = message.id, reason = failure.reason, code = failure.code, "reply failed");
    if ports.messages.mark_failed(message, &failure, now).await? == Written::Stored {
        let mut failed = message.clone();
        failed.status = DeliveryStatus::Failed;
        failed.failure = Some(failure.clone());
        failed.failed_at = Some(now);
        follow_delivery(&ports.deliveries, &failed, DeliveryStatus::Failed, Some(&failure), now, true).await?;
    }
    Ok(SendResult::Done)
}

/// Meta accepted the send: record it, retried in place. Past this point a failed job is never a
/// second send: the message is `sent`, or still `sending` if the recording never landed, and then
/// Meta's `sent` callback, carrying the send's tag, records it.
async fn sent(ports: &SenderPorts<'_>, message: &Message, wamid: &str, now: DateTime<Utc>, as_template: Option<&str>) -> Result<SendResult> {
    let event = sent_event(message, now);
    match retry_until_landed(|_| ports.messages.mark_sent(message, wamid, now, as_template, event.as_ref())).await {
        Ok(recorded) => follow_sent(&ports.deliveries, message, wamid, now, recorded, event.is_some()).await?,
        Err(e) => error!(error = %e, message_id = message.id, wamid, "Meta accepted the reply but recording it failed; its status callback will"),
    }
    Ok(SendResult::Done)
}

/// The feed's `sent` event for `message`, to be recorded in the same write as the send itself
/// (`MessageStore::mark_sent`: one transaction instead of two; issue 18). `None` for an action's
/// answer: its `sent` moves the action's record first, so it is followed after the send.
fn sent_event(message: &Message, at: DateTime<Utc>) -> Option<NewEvent> {
    let action_id = message.idempotency_key.as_deref().and_then(action_of_response);
    action_id.is_none().then(|| status_event(message, DeliveryStatus::Sent, None, at, None))
}

/// Follows a send `mark_sent` answered for, with the statuses Meta called back before it was
/// recorded (applied with it: followed like the callbacks they were). `event_recorded`: its `sent`
/// event went with it.
async fn follow_sent(
    deliveries: &DeliveryPorts<'_>,
    message: &Message,
    wamid: &str,
    at: DateTime<Utc>,
    (written, early): (Written, Vec<EarlyStatus>),
    event_recorded: bool,
) -> Result<()> {
    if written == Written::Stored {
        let mut sent = message.clone();
        sent.status = DeliveryStatus::Sent;
        sent.wamid = Some(wamid.to_string());
        sent.sent_at = Some(at);
        if !event_recorded {
            follow_delivery(deliveries, &sent, DeliveryStatus::Sent, None, at, true).await?;
        }
        for e in early {
            sent.status = e.status;
            follow_delivery(deliveries, &sent, e.status, e.failure.as_ref(), e.at, true).await?;
        }
    }
    Ok(())
}

/// When a message reached its current status.
fn status_time(message: &Message) -> Option<DateTime<Utc>> {
    match message.status {
        DeliveryStatus::Sent => message.sent_at,
        DeliveryStatus::Delivered => message.delivered_at,
        DeliveryStatus::Read => message.read_at,
        DeliveryStatus::Failed => message.failed_at,
        DeliveryStatus::Queued | DeliveryStatus::Sending | DeliveryStatus::Received => None,
    }
}

/// The organisation's fallback template for this number, as content plus its name.
async fn fallback(ports: &SenderPorts<'_>, org_id: &str, to: &ReplyTo) -> Result<Option<(OutboundContent, Option<String>)>> {
    let channel = ports.channels.channel_by_number(&to.phone_number_id).await?;
    let Some(t) = channel.and_then(|c| c.fallback_template) else {
        return Ok(None);
    };
    let content = OutboundContent::Template { name: t.name.clone(), language: t.language.clone(), parameters: Vec::new() };
    // A fallback Meta would refuse (not approved, or with variables to fill) is no fallback: the
    // message fails as outside the window, which says what happened.
    if let Err(e) = crate::app::whatsapp_templates::check_sendable(ports.messages, org_id, &content).await {
        match e {
            Error::Invalid { reason, .. } => {
                warn!(org_id, template = t.name, reason, "fallback template not sendable");
                return Ok(None);
            }
            other => return Err(other),
        }
    }
    Ok(Some((content, Some(t.name))))
}

/// Whether a conversation accepts agent replies at all.
pub fn accepts_replies(conversation: &Conversation) -> Result<()> {
    match conversation.status {
        ConversationStatus::Open | ConversationStatus::Queued | ConversationStatus::Assigned => Ok(()),
        ConversationStatus::Closed => Err(Error::conflict("the conversation is closed; reopen it to reply", "closed")),
    }
}

// --- delivery statuses: followed into the feed and into action answers -------------------------

/// What following a delivery status needs.
pub struct DeliveryPorts<'a> {
    pub wamids: &'a dyn WamidIndex,
    /// A callback may be the first to tell of a send (its recording failed): recorded from it.
    pub messages: &'a dyn MessageStore,
    pub actions: &'a dyn ActionStore,
    pub events: &'a dyn EventStore,
}

/// A status webhook was applied (`written` is what `MessageStore::apply_status` answered): follow it
/// into the feed and, for an action's answer, into its record. When the send it is about was never
/// recorded (Meta accepted it, then the store failed) but its `tag` names one of our messages still
/// `sending`, the send is recorded now: `apply_status` kept the status, `mark_sent` applies it.
#[allow(clippy::too_many_arguments)]
pub async fn status_callback(
    ports: &DeliveryPorts<'_>,
    org_id: &str,
    wamid: &str,
    tag: Option<&str>,
    status: DeliveryStatus,
    failure: Option<&FailureReason>,
    at: DateTime<Utc>,
    written: Written,
) -> Result<()> {
    if let Some(message) = ports.wamids.message_by_wamid(org_id, wamid).await? {
        return follow_delivery(ports, &message, status, failure, at, written == Written::Stored).await;
    }
    let Some((conversation_id, message_id)) = tag.and_then(read_callback_tag) else {
        return Ok(());
    };
    match ports.messages.message(org_id, conversation_id, message_id).await? {
        Some(message) if message.status == DeliveryStatus::Sending => {
            info!(message_id = message.id, wamid, "send recorded from Meta's callback");
            let event = sent_event(&message, at);
            let recorded = ports.messages.mark_sent(&message, wamid, at, None, event.as_ref()).await?;
            follow_sent(ports, &message, wamid, at, recorded, event.is_some()).await
        }
        _ => Ok(()),
    }
}

/// `message.status_changed`, once per message and status (its dedupe key).
fn status_event(message: &Message, status: DeliveryStatus, failure: Option<&FailureReason>, at: DateTime<Utc>, action_id: Option<&str>) -> NewEvent {
    NewEvent::new(
        &message.org_id,
        EventKind::MessageStatusChanged,
        at,
        json!({
            "conversation_id": message.conversation_id,
            "message_id": message.id,
            "status": status,
            "failure": failure,
            "action_id": action_id,
        }),
        format!("message.status#{}#{}", message.id, status.as_str()),
    )
}

/// A message's delivery status moved to `status`: record `message.status_changed`, and for an
/// action's answer move its record and record `action.response_status_changed`. `first_time` says
/// this caller made the change; otherwise (a retried job) the events are recorded only if `status`
/// is still the message's current one, and their dedupe keys keep them single.
pub async fn follow_delivery(
    ports: &DeliveryPorts<'_>,
    message: &Message,
    status: DeliveryStatus,
    failure: Option<&FailureReason>,
    at: DateTime<Utc>,
    first_time: bool,
) -> Result<()> {
    if !first_time && message.status != status {
        return Ok(());
    }
    if matches!(status, DeliveryStatus::Queued | DeliveryStatus::Sending | DeliveryStatus::Received) {
        return Ok(());
    }
    let action_id = message.idempotency_key.as_deref().and_then(action_of_response);
    let org_id = message.org_id.as_str();
    let mut events = vec![status_event(message, status, failure, at, action_id)];
    if let Some(action_id) = action_id {
        // The action names its bubble, which shows the answer's status too (one read).
        let Some(action) = ports.actions.action(org_id, action_id).await? else {
            ports.events.record_events(&events).await?;
            return Ok(());
        };
        let written = ports.actions.apply_response_status(&action, status, message.wamid.as_deref(), failure, at).await?;
        // First time and not applied: the answer is already as far or further along (callbacks
        // out of order), nothing new to tell. A retry tells it again (the dedupe key keeps it single).
        if written == Written::Stored || !first_time {
            events.push(NewEvent::new(
                org_id,
                EventKind::ResponseStatusChanged,
                at,
                json!({
                    "action_id": action_id,
                    "conversation_id": message.conversation_id,
                    "message_id": message.id,
                    "status": status,
                    "answer_status": AnswerStatus::of(status),
                    "failure": failure,
                }),
                format!("action.response_status#{action_id}#{}", status.as_str()),
            ));
        }
    }
    ports.events.record_events(&events).await?;
    Ok(())
}
