//! The narrow async traits the use cases need. Adapters implement them; a use case takes the
//! narrowest one it can, so a test hands it exactly that.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::domain::audit::{AuditEntry, AuditQuery};
use crate::domain::bot::StoredBotSettings;
use crate::domain::call::{Call, CallStatus, NpsDay, ServiceRecord, ServiceStatus};
use crate::domain::call_schedule::ScheduleConfig;
use crate::domain::channel::Channel;
use crate::domain::chat_app::ChatAppKey;
use crate::domain::conversation::{Conversation, ConversationStatus};
use crate::domain::customer::{ChannelIdentity, Customer, IdentityChannel};
use crate::domain::erasure::{CustomerRecord, Erasure};
use crate::domain::interaction::{Interaction, InteractionStatus, InteractionType, Priority};
use crate::domain::message::{DeliveryStatus, FailureReason, Message};
use crate::domain::secret::Secret;
use crate::domain::workflow::{InteractionSettings, WorkflowCatalog, WorkflowTemplate};
use crate::domain::support::{DailyTicketCap, SupportTicket, TicketCounts, TicketFilter, TicketMessage};
use crate::error::Result;

/// Where a page continues from (`Page::next_cursor` of the page before); opaque to callers, and
/// refused by the adapter when it points into another organisation's partition.
pub type Cursor = Option<String>;

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub limit: i32,
    pub cursor: Cursor,
}

/// Whether a conditional write took effect or found its work already done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Stored,
    AlreadyThere,
}

/// What registering a number did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelPut {
    /// Registered, or replaced (the organisation's own number).
    Stored,
    /// Another organisation holds the number: nothing was written.
    NumberTaken,
    /// Another organisation holds the number's WhatsApp Business Account: nothing was written.
    WabaTaken,
}

/// The registry of WhatsApp numbers: which organisation each belongs to (and each WABA).
#[async_trait]
pub trait ChannelDirectory: Send + Sync {
    /// The number's channel. An adapter may keep a channel it found for a short while (every
    /// inbound message reads one); a number it did not find is read again, strongly consistent,
    /// every time (it may have just been registered).
    async fn channel_by_number(&self, phone_number_id: &str) -> Result<Option<Channel>>;
    async fn org_by_waba(&self, waba_id: &str) -> Result<Option<String>>;
    /// Registers, or replaces, a number of `channel.org_id` and makes its WABA the organisation's,
    /// both or neither: not over another organisation's number or WABA. An admin's registration
    /// carries its audit entry, stored with it.
    async fn put_channel(&self, channel: &Channel, audit: Option<&AuditEntry>) -> Result<ChannelPut>;
    /// The organisation's numbers, by phone number id.
    async fn channels(&self, org_id: &str, page: &PageRequest) -> Result<Page<Channel>>;
    /// Removes the number if it is the organisation's; `AlreadyThere` when it is not (nothing
    /// removed); with the admin's audit entry, stored with the removal.
    async fn delete_channel(&self, org_id: &str, phone_number_id: &str, audit: Option<&AuditEntry>) -> Result<Written>;
    /// Forgets that the WABA is the organisation's (its last number is gone), if it still is.
    async fn forget_waba(&self, org_id: &str, waba_id: &str) -> Result<()>;
}

/// The API keys of the organisations' chat apps (`docs/chat-app.md`): found by key id (every
/// signed call reads its key), listed and removed per organisation, at most `MAX_KEYS` each.
#[async_trait]
pub trait ChatAppKeyStore: Send + Sync {
    /// The key with this id, strongly consistent: a key removed a moment ago is refused at once.
    async fn chat_app_key(&self, key_id: &str) -> Result<Option<ChatAppKey>>;
    /// Stores a new key in its organisation's `slot`; `AlreadyThere` when the slot is held (another
    /// key was created meanwhile): nothing written.
    async fn put_chat_app_key(&self, key: &ChatAppKey) -> Result<Written>;
    /// The organisation's keys, by slot.
    async fn chat_app_keys(&self, org_id: &str) -> Result<Vec<ChatAppKey>>;
    /// Removes the key and frees its slot, both or neither; `AlreadyThere` when it is gone.
    async fn delete_chat_app_key(&self, key: &ChatAppKey) -> Result<Written>;
}

#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// The identity item of `address` on `channel`: who it leads to, the conversation open there.
    async fn identity(&self, org_id: &str, channel: IdentityChannel, address: &str) -> Result<Option<ChannelIdentity>>;
    /// `identity` on WhatsApp, the channel most callers know they are on.
    async fn whatsapp_identity(&self, org_id: &str, address: &str) -> Result<Option<ChannelIdentity>> {
        self.identity(org_id, IdentityChannel::Whatsapp, address).await
    }
    /// Creates a customer, their identity and their first conversation at once; `AlreadyThere`
    /// when the identity appeared meanwhile (the caller reads it again).
    async fn create_customer(&self, customer: &Customer, identity: &ChannelIdentity, conversation: &Conversation) -> Result<Written>;
    /// Opens `conversation` and points the identity at it, if the identity still points at
    /// `previous` and still leads to the conversation's customer (another worker may have opened
    /// one first, a link may have re-pointed it: then `AlreadyThere`).
    async fn open_conversation(&self, identity: &ChannelIdentity, previous: Option<&str>, conversation: &Conversation) -> Result<Written>;
    async fn customer(&self, org_id: &str, customer_id: &str) -> Result<Option<Customer>>;
}

/// What adding a customer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerAdded {
    Stored,
    /// Nothing written: the phone's WhatsApp identity (`field` "phone") or the external id
    /// (`field` "external_id") is already the customer's `customer_id`.
    Taken { field: &'static str, customer_id: String },
}

/// An entry of the customers' search index: one of the customer's terms.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct TermHit {
    pub term: String,
    pub customer_id: String,
}

/// Customers created and edited by hand, and found by search (`docs/customers.md`). Every write
/// keeps the customer's search terms (`Customer::search_terms`) and the claim of their external id
/// in step with the customer, in the same transaction.
#[async_trait]
pub trait CustomerDirectory: Send + Sync {
    /// Creates the customer with their terms, the claim of their external id and, for a customer
    /// with a phone, its WhatsApp identity: all or nothing (`Taken` names who has the number or id).
    async fn add_customer(&self, customer: &Customer, identity: Option<&ChannelIdentity>) -> Result<CustomerAdded>;
    /// Writes `next` over `previous` (still stored at `previous.version`) and moves the terms that
    /// changed; `LostUpdate` when the customer changed meanwhile.
    async fn save_customer(&self, previous: &Customer, next: &Customer) -> Result<()>;
    /// The organisation's search index from the first term starting with `prefix`, in term order.
    async fn search_terms(&self, org_id: &str, prefix: &str, page: &PageRequest) -> Result<Page<TermHit>>;
    /// The customers of these ids that exist (at most 100), in no particular order.
    async fn customers_by_id(&self, org_id: &str, ids: &[String]) -> Result<Vec<Customer>>;
}

/// One step of a link or an unlink that switches customers (`docs/customers.md`, link): the link
/// item, both customers and the identity items re-pointed, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct LinkSwitch<'a> {
    /// The link item as it is to be stored: whole when new (`over` is `None`), else only its state
    /// changes (the conversations its pages recorded stay).
    pub link: &'a crate::domain::customer_link::CustomerLink,
    /// The link item's state it is written over: `None` when there is none (or it was unlinked).
    pub over: Option<crate::domain::customer_link::LinkState>,
    /// Each customer as read (the write holds only over its version) and as it is to be stored.
    pub customers: [(&'a Customer, &'a Customer); 2],
    /// The identity items re-pointed, each only while it still leads to `from`.
    pub identities: &'a [ChannelIdentity],
    pub from: &'a str,
    pub to: &'a str,
}

/// The link job's writes (`app::customer_links`): every one all or nothing, under the conditions
/// that keep a link moved once, and never lost, whichever step a retry starts from.
#[async_trait]
pub trait CustomerLinkStore: Send + Sync {
    /// The link item of the secondary `customer_id` (strongly consistent), any state.
    async fn customer_link(&self, org_id: &str, customer_id: &str) -> Result<Option<crate::domain::customer_link::CustomerLink>>;
    /// The first step of a link or an unlink; `LostUpdate` when anything changed since it was read.
    async fn switch_customers(&self, step: &LinkSwitch<'_>) -> Result<()>;
    /// The first `limit` conversations linked to the customer, in id order (strongly consistent).
    async fn conversations_linked(&self, org_id: &str, customer_id: &str, limit: usize) -> Result<Vec<String>>;
    /// Those of `ids` linked to the customer now (strongly consistent), in the order given.
    async fn linked_among(&self, org_id: &str, customer_id: &str, ids: &[String]) -> Result<Vec<String>>;
    /// Moves the conversations `ids` (at most `CONVERSATIONS_PER_PAGE`) from `from` to `to` in one
    /// transaction while the link stands in its state; a link that is `moving` records them.
    /// `LostUpdate` when any of them moved meanwhile or the link changed: nothing is written.
    async fn move_conversations(&self, link: &crate::domain::customer_link::CustomerLink, ids: &[String], from: &str, to: &str) -> Result<()>;
    /// Writes `link` (its new state) over the state `over`; `AlreadyThere` when it is not in it.
    async fn end_link_step(&self, link: &crate::domain::customer_link::CustomerLink, over: crate::domain::customer_link::LinkState) -> Result<Written>;
}

/// Everything stored about a customer, for export and erasure.
#[async_trait]
pub trait CustomerRecords: Send + Sync {
    /// The customer with their identities, conversations and their messages, tickets and their
    /// messages, actions and interactions; `None` for an unknown customer (or another
    /// organisation's).
    async fn customer_record(&self, org_id: &str, customer_id: &str) -> Result<Option<CustomerRecord>>;
    /// Writes what an erasure changed over the stored records and deletes the identities it
    /// forgets. Each record is written whole, so a repeat writes the same again. The audit entry
    /// (that the customer was erased, by whom) is put first, on its own: the erasure's writes are
    /// batches, not one transaction, and an erasure stopped midway is completed by a repeat.
    async fn store_erasure(&self, erasure: &Erasure, audit: Option<&AuditEntry>) -> Result<()>;
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub assignee_id: Option<String>,
    pub team_id: Option<String>,
    pub priority: Option<crate::domain::sla::Priority>,
}

#[async_trait]
pub trait ConversationStore: Send + Sync {
    async fn conversation(&self, org_id: &str, conversation_id: &str) -> Result<Option<Conversation>>;
    async fn conversations(&self, org_id: &str, filter: &ConversationFilter, page: &PageRequest) -> Result<Page<Conversation>>;
    /// Saves a changed conversation (its `version` already advanced) over the version it was read
    /// at, refusing a lost update with `Error::LostUpdate`.
    async fn save_conversation(&self, conversation: &Conversation) -> Result<()>;
    /// Closes the conversation and frees the customer's identity for a new one; the agent whose
    /// place it held (`holds_capacity_of`) gets it back in the same write.
    async fn close(&self, conversation: &Conversation, at: DateTime<Utc>) -> Result<Written>;
    /// Reopens it, if the customer has no other open conversation on that number.
    async fn reopen(&self, conversation: &Conversation, at: DateTime<Utc>) -> Result<Written>;
}

/// Queuing a template message checks the organisation's templates in the same table, so a message
/// store reads them too (`app::delivery`).
#[async_trait]
pub trait MessageStore: WhatsAppTemplateStore + Send + Sync {
    /// Stores an inbound message exactly once (keyed by its WhatsApp id) together with its
    /// conversation's new state (`conversation.version` already advanced), its handling (bot,
    /// ticket) owed until `mark_handled`. A concurrent change to the conversation answers
    /// `Error::LostUpdate`: read it again and retry.
    async fn record_inbound(&self, message: &Message, conversation: &Conversation) -> Result<Written>;
    /// The stored inbound message with this WhatsApp id, if its handling is still owed (the job
    /// that stored it failed before handing it on).
    async fn unhandled_inbound(&self, org_id: &str, wamid: &str) -> Result<Option<Message>>;
    /// Its handling is done: a redelivered job will not hand it on again.
    async fn mark_handled(&self, message: &Message) -> Result<()>;
    /// Stores an outbound or internal message once (keyed by its id, and by its idempotency key if
    /// it has one) with the conversation's new state; `AlreadyThere` when either was stored before.
    async fn record_outbound(&self, message: &Message, conversation: &Conversation) -> Result<Written>;
    async fn message(&self, org_id: &str, conversation_id: &str, message_id: &str) -> Result<Option<Message>>;
    /// Outbound messages still `queued` that were stored between `from` and `to`, oldest first
    /// per shard (the lost-reply sweep).
    async fn queued_between(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit_per_shard: i32) -> Result<Vec<Message>>;
    /// The message an earlier request with this idempotency key stored (keys are remembered 24 h).
    async fn message_by_idempotency_key(&self, org_id: &str, conversation_id: &str, key: &str) -> Result<Option<Message>>;
    /// A message together with its conversation, in one read.
    async fn message_with_conversation(&self, org_id: &str, conversation_id: &str, message_id: &str) -> Result<(Option<Message>, Option<Conversation>)>;
    async fn messages(&self, org_id: &str, conversation_id: &str, page: &PageRequest, newest_first: bool) -> Result<Page<Message>>;
    /// reply-sender's claim before it calls the Graph API: `queued` → `sending` at `at`, once.
    /// One write that also reads (issue 18): the message as claimed, or, when it is not `queued`
    /// (any more), untouched and as it stands (`None`: no such message; nothing is created).
    async fn claim_send(&self, org_id: &str, conversation_id: &str, message_id: &str, at: DateTime<Utc>) -> Result<Claim>;
    /// Claims a `sending` message again to send it a second time (Meta never answered the first
    /// request nor called back): only over the claim as read (`message.sending_at`) and only if it
    /// was never resent; sets `resent_at`. `AlreadyThere` otherwise.
    async fn claim_resend(&self, message: &Message, at: DateTime<Utc>) -> Result<Written>;
    /// Gives up the claim `message.sending_at` after Meta refused the send: `sending` → `queued`.
    async fn release_send(&self, message: &Message) -> Result<Written>;
    /// Marks a queued or sending message sent with its WhatsApp id, once; `AlreadyThere` if it
    /// was neither.
    /// Statuses Meta called back before the send was recorded (`apply_status` kept them) are
    /// applied then too; those applied are returned, in order, to be followed like any callback.
    /// `sent_event`, the feed's `sent` event, is recorded in the same write: a `Stored` answer
    /// means it is in the feed (written then, or there before by its dedupe key); otherwise it is not
    /// written.
    async fn mark_sent(
        &self,
        message: &Message,
        wamid: &str,
        at: DateTime<Utc>,
        sent_as_template: Option<&str>,
        sent_event: Option<&crate::domain::event::NewEvent>,
    ) -> Result<(Written, Vec<EarlyStatus>)>;
    async fn mark_failed(&self, message: &Message, failure: &FailureReason, at: DateTime<Utc>) -> Result<Written>;
    /// Applies a delivery status monotonically; `AlreadyThere` when the message is already as far or
    /// further along, or its send is not recorded yet — then the status is kept for `mark_sent`.
    async fn apply_status(&self, org_id: &str, wamid: &str, status: DeliveryStatus, failure: Option<&FailureReason>, at: DateTime<Utc>) -> Result<Written>;
}

/// What `MessageStore::claim_send` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Was `queued`, now `sending`: the message as claimed.
    Claimed(Message),
    /// Not claimed: the message as it stands (not `queued`), or `None` when there is none.
    Unclaimed(Option<Message>),
}

/// A delivery status that came before its message's send was recorded: Meta may call back before
/// reply-sender has written the WhatsApp id it answered.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EarlyStatus {
    pub status: DeliveryStatus,
    #[serde(default)]
    pub failure: Option<FailureReason>,
    pub at: DateTime<Utc>,
}

/// The organisation's WhatsApp message templates (`domain::whatsapp_template`), keyed by Meta's
/// template id, listed by name and language.
#[async_trait]
pub trait WhatsAppTemplateStore: Send + Sync {
    /// A strongly consistent read: webhooks and edits decide from it.
    async fn whatsapp_template(&self, org_id: &str, template_id: &str) -> Result<Option<crate::domain::whatsapp_template::WhatsAppTemplate>>;
    /// The templates of that name and language (one per WhatsApp Business Account), without a
    /// scan: what a send checks.
    async fn whatsapp_templates_named(&self, org_id: &str, name: &str, language: &str) -> Result<Vec<crate::domain::whatsapp_template::WhatsAppTemplate>>;
    /// By name, then language, then id.
    async fn whatsapp_templates(
        &self,
        org_id: &str,
        filter: &crate::domain::whatsapp_template::TemplateFilter,
        page: &PageRequest,
    ) -> Result<Page<crate::domain::whatsapp_template::WhatsAppTemplate>>;
    /// Stores the template at `template.version`, over `version - 1` (new at 1); `AlreadyThere`
    /// when it changed (or appeared) meanwhile: nothing written. A staff change carries its audit
    /// entry, stored with it (Meta's status updates and syncs pass `None`).
    async fn save_whatsapp_template(&self, template: &crate::domain::whatsapp_template::WhatsAppTemplate, audit: Option<&AuditEntry>) -> Result<Written>;
    /// Removes it (with the staff's audit entry); `AlreadyThere` when it was not there.
    async fn delete_whatsapp_template(&self, org_id: &str, template_id: &str, audit: Option<&AuditEntry>) -> Result<Written>;
}

/// A template as Meta created it (`POST /{waba_id}/message_templates`).
#[derive(Debug, Clone, PartialEq)]
pub struct SubmittedTemplate {
    pub id: String,
    /// `PENDING`, or `APPROVED` at once for some utility templates.
    pub status: String,
}

/// One page of Meta's list of a WABA's templates.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateListPage {
    pub templates: Vec<crate::domain::whatsapp_template::ListedTemplate>,
    /// Meta's `paging.cursors.after` when there is a next page.
    pub after: Option<String>,
}

/// Template management at Meta (the WhatsApp Business Management API), authorised by a token of
/// one of the WABA's numbers. Meta refusing the request (a 4xx) is `Error::Invalid` naming
/// `template` with Meta's words; anything else is `Error::Backend`.
#[async_trait]
pub trait WhatsAppTemplates: Send + Sync {
    async fn submit_template(&self, waba_id: &str, access_token: &Secret, body: &Value) -> Result<SubmittedTemplate>;
    async fn list_templates(&self, waba_id: &str, access_token: &Secret, after: Option<&str>) -> Result<TemplateListPage>;
    /// Deletes it at Meta (by name and id); one Meta no longer has is fine.
    async fn delete_template(&self, waba_id: &str, access_token: &Secret, name: &str, template_id: &str) -> Result<()>;
}

/// One message for a queue: FIFO queues need a group and a deduplication id.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    pub body: String,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

/// The queues jobs go on. Which URL each one has is the wiring's business, never a use case's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Queue {
    /// Webhook bodies for inbound-processor.
    Inbound,
    /// Stored outbound messages for reply-sender.
    Replies,
    /// Completed interactions for next-step.
    NextSteps,
    /// Feedback calls to place (`app::calls::DialJob`) for the dialer: FIFO, grouped by
    /// organisation, deduplicated by attempt.
    Calls,
    /// Inbound media to fetch from Meta into S3 (`domain::media::MediaJob`) for media-worker.
    Media,
    /// Outbound webhook deliveries (`domain::webhook_delivery::DeliveryJob`), one per event and
    /// subscription, for webhook-delivery: a standard queue, so each message has its own delay.
    Webhooks,
}

impl Queue {
    pub fn as_str(self) -> &'static str {
        match self {
            Queue::Inbound => "inbound",
            Queue::Replies => "replies",
            Queue::NextSteps => "next-steps",
            Queue::Calls => "calls",
            Queue::Media => "media",
            Queue::Webhooks => "webhooks",
        }
    }
}

/// Where jobs are handed to the workers (SQS when deployed).
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Sends all messages in one call (at most 10).
    async fn send_batch(&self, queue: Queue, messages: &[QueueMessage]) -> Result<()>;
    /// Makes an in-flight message visible again after `delay_secs` (retry backoff).
    async fn retry_later(&self, queue: Queue, receipt_handle: &str, delay_secs: i32) -> Result<()>;
    /// Sends one message that becomes visible after `delay_secs` (SQS's per-message delay, at
    /// most 900 s; standard queues only).
    async fn send_delayed(&self, queue: Queue, message: &QueueMessage, delay_secs: u32) -> Result<()>;
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<()>;
    async fn get(&self, key: &str) -> Result<Vec<u8>>;
    /// The first `limit` keys under `prefix`, in key order (S3 lists keys in UTF-8 binary order).
    async fn list(&self, prefix: &str, limit: i32) -> Result<Vec<String>>;
    /// Deletes the blob; one that is not there is fine.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Stores what `body` yields under `key` without holding it whole: S3 takes it in multipart
    /// parts of `PART_BYTES` (one PutObject when it fits one part) and aborts the upload on any
    /// failure, so nothing half-written is left. Answers the bytes stored.
    async fn put_chunks(&self, key: &str, content_type: &str, body: &mut dyn ChunkSource) -> Result<u64>;
    /// A GET of `key` anyone holding it may use for `expires_in_secs` (S3 presigned URL).
    async fn presigned_get(&self, key: &str, expires_in_secs: u64) -> Result<String>;
    /// A PUT of `key` anyone holding it may use for `expires_in_secs`, signed for this content
    /// type and length: the uploader must send them as the answer's `headers` say.
    async fn presigned_put(&self, key: &str, content_type: &str, content_length: u64, expires_in_secs: u64) -> Result<PresignedPut>;
    /// What is stored at `key` (S3 HeadObject), or `None` when nothing is.
    async fn head(&self, key: &str) -> Result<Option<BlobHead>>;
}

/// A presigned upload: where to PUT, and the headers the signature covers (sent exactly so).
#[derive(Debug, Clone, PartialEq)]
pub struct PresignedPut {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// What HeadObject says of a stored blob.
#[derive(Debug, Clone, PartialEq)]
pub struct BlobHead {
    pub size: u64,
    pub content_type: Option<String>,
}

/// The multipart part size of `BlobStore::put_chunks`: the most a streamed upload holds at once.
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// A body read piece by piece (a download as it arrives).
#[async_trait]
pub trait ChunkSource: Send {
    /// The next piece; `None` at the end.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>>;
}

/// What Meta said to `GET /{media-id}`.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaLookup {
    Found(crate::domain::media::MediaLocation),
    /// Meta does not know the id (expired or never valid): asking again will not help.
    Gone { detail: String },
    /// No usable answer (an outage, a timeout, a refused token): worth another attempt.
    Failed { detail: String },
}

/// How a download began.
pub enum DownloadStart {
    Body(Box<dyn ChunkSource>),
    /// The URL is no longer good (401/403/404/410): ask Meta for a fresh one.
    Expired { http_status: u16 },
    Failed { detail: String },
}

/// Meta's media endpoints (the Graph API, or the dev sandbox that serves the files of its webhooks).
#[async_trait]
pub trait WhatsAppMedia: Send + Sync {
    async fn media_location(&self, media_id: &str, access_token: &Secret) -> MediaLookup;
    /// Downloads `url` (which needs the same token), as a stream.
    async fn download(&self, url: &str, access_token: &Secret) -> DownloadStart;
}

/// Secrets (Secrets Manager when deployed): values kept nowhere else — not in the table, not in a
/// log, not in an answer. Names are relative; the adapter places them under the deployment's
/// prefix, the only names its grants cover.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// Stores `value` as the secret's current value, creating the secret, or bringing back one
    /// whose deletion was scheduled.
    async fn put_secret(&self, name: &str, value: &Secret) -> Result<()>;
    /// The current value; `None` when there is no such secret, or its deletion is scheduled.
    async fn secret(&self, name: &str) -> Result<Option<Secret>>;
    /// Schedules the secret's deletion (Secrets Manager keeps it, recoverable, for a while); one
    /// that is not there, or already scheduled, is fine.
    async fn delete_secret(&self, name: &str) -> Result<()>;
}

/// What the Graph API said to a send.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    Accepted { wamid: String },
    Refused { http_status: Option<u16>, code: Option<i64>, title: String, detail: Option<String> },
    /// The request went out and no usable answer came back (a timeout, the connection cut, a 2xx
    /// without a message id): Meta may have accepted it, and may deliver it.
    Unanswered { reason: String },
}

#[async_trait]
pub trait WhatsApp: Send + Sync {
    /// `POST /{phone_number_id}/messages` with `body`, authorised by the number's own
    /// `access_token`. A request that never reached Meta (no connection) comes back as `Refused`
    /// without an HTTP status, so every outcome is classified in one place; one that may have
    /// reached it as `Unanswered`.
    async fn send(&self, phone_number_id: &str, access_token: &Secret, body: &Value) -> SendOutcome;

    /// The same peer's template management (the Graph API, or the sandbox that keeps what it was
    /// sent); `None` for a client that only sends.
    fn templates(&self) -> Option<&dyn WhatsAppTemplates> {
        None
    }

    /// The same peer's media endpoints; `None` for a client that only sends.
    fn media(&self) -> Option<&dyn WhatsAppMedia> {
        None
    }
}

/// The voice provider account an organisation calls from (its own secret).
#[derive(Clone, PartialEq)]
pub struct VoiceAccount {
    pub account_sid: String,
    pub auth_token: String,
}

impl std::fmt::Debug for VoiceAccount {
    // The token never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceAccount").field("account_sid", &self.account_sid).field("auth_token", &"<redacted>").finish()
    }
}

/// One attempt of a call for the provider to place.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceCall {
    /// The customer, E.164.
    pub to: String,
    /// The caller id, E.164 (one of the account's numbers).
    pub from: String,
    /// Where the provider fetches the call's first TwiML.
    pub twiml_url: String,
    /// Where the provider posts the call's progress (initiated, ringing, answered, completed).
    pub status_callback_url: String,
    /// How long it rings before it counts as no answer.
    pub ring_timeout_secs: u32,
    /// Ask the provider whether a person or a machine answered (`AnsweredBy`).
    pub detect_machine: bool,
}

/// What the provider said to a call request.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaceOutcome {
    /// Queued for dialling under the provider's id for it.
    Placed { provider_call_id: String },
    /// Not placed (a bad number, a suspended account, the request never arrived).
    Refused { http_status: Option<u16>, code: Option<i64>, message: String },
    /// The request went out and no usable answer came back: the call may be under way, and its
    /// status callbacks (which carry the call in their URL) will tell.
    Unanswered { reason: String },
}

#[async_trait]
pub trait VoiceProvider: Send + Sync {
    async fn place_call(&self, account: &VoiceAccount, call: &PlaceCall) -> PlaceOutcome;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

// ------------------------------------------------------------------ interactions (issue 5)

/// What `GET /v1/interactions` may narrow the list by. Due bounds are half-open: `due_after`
/// inclusive, `due_before` exclusive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InteractionFilter {
    pub customer_id: Option<String>,
    pub status: Option<InteractionStatus>,
    pub kind: Option<InteractionType>,
    pub priority: Option<Priority>,
    pub due_after: Option<DateTime<Utc>>,
    pub due_before: Option<DateTime<Utc>>,
    /// Pending and in progress only (with `due_before = now`, the overdue list).
    pub open_only: bool,
    pub newest_first: bool,
}

#[async_trait]
pub trait InteractionStore: Send + Sync {
    /// A strongly consistent read: what a state change decides from.
    async fn interaction(&self, org_id: &str, id: &str) -> Result<Option<Interaction>>;
    /// Stores a new interaction once. With an idempotency key, a repeated request gets back the
    /// interaction the first one stored.
    async fn create_interaction(&self, interaction: &Interaction, idempotency_key: Option<&str>) -> Result<Interaction>;
    /// Saves a changed interaction (its `version` already advanced), refusing a lost update with
    /// `Error::LostUpdate`: read it again and retry.
    async fn save_interaction(&self, interaction: &Interaction) -> Result<()>;
    /// Stores an interaction only if its id is new: `AlreadyThere` when it exists (the next step's
    /// id is derived from the completion, so an existing one is the same next step).
    async fn store_if_absent(&self, interaction: &Interaction) -> Result<Written>;
    async fn interactions(&self, org_id: &str, filter: &InteractionFilter, page: &PageRequest) -> Result<Page<Interaction>>;
    /// A customer's pending and in-progress interactions, soonest due first; with `due_before`,
    /// only those due before it (the customer's overdue ones).
    async fn open_interactions(&self, org_id: &str, customer_id: &str, due_before: Option<DateTime<Utc>>, page: &PageRequest) -> Result<Page<Interaction>>;
    /// Completed or skipped interactions whose next step is still owed, completed in
    /// `[from, to)`, across organisations (the recovery sweep after a lost job).
    async fn owed_next_steps(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit: i32) -> Result<Vec<Interaction>>;
    /// The interaction deadline index's minute `minute` (every organisation): the open
    /// interactions whose next alert (reminder, overdue) falls in it at or before `up_to`.
    async fn interactions_due(&self, minute: DateTime<Utc>, up_to: DateTime<Utc>) -> Result<Vec<InteractionDue>>;
    /// The first minute the interaction scheduler has not finished with (`None` before its first run).
    async fn interaction_alert_cursor(&self) -> Result<Option<DateTime<Utc>>>;
    async fn save_interaction_alert_cursor(&self, minute: DateTime<Utc>) -> Result<()>;
    /// Saves the interaction with its alerts flagged (`version` advanced) and the alerts' events,
    /// all or nothing: changed since it was read (or an event recorded before) is
    /// `Error::LostUpdate`, and nothing is written.
    async fn record_interaction_alerts(
        &self,
        interaction: &Interaction,
        events: &[crate::domain::event::NewEvent],
        tally: Option<&crate::domain::campaign::CampaignTally>,
    ) -> Result<()>;
    /// `save_interaction` with the campaign's metrics moved in the same write (a completion or
    /// cancel of one of its interactions): both or neither.
    async fn save_interaction_tallied(&self, interaction: &Interaction, tally: &crate::domain::campaign::CampaignTally) -> Result<()>;
    /// The statistics counters of one group kind over the days `from..=to` (one read; the
    /// writes above ADD to them, `domain::interaction_stats::Counted`).
    async fn interaction_stats(&self, org_id: &str, group_by: crate::domain::interaction_stats::StatsGroupBy, from: chrono::NaiveDate, to: chrono::NaiveDate) -> Result<Vec<crate::domain::interaction_stats::StatsDay>>;
}

// ------------------------------------------------------------------ campaigns (issue 16)

#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Stores a new campaign, with its `Idempotency-Key` pointing at it when given, all or nothing
    /// (`AlreadyThere` when its id or its key exists).
    async fn create_campaign(&self, campaign: &crate::domain::campaign::Campaign, idempotency_key: Option<&str>) -> Result<Written>;
    /// The campaign an `Idempotency-Key` created (while the key is kept).
    async fn campaign_by_key(&self, org_id: &str, idempotency_key: &str) -> Result<Option<crate::domain::campaign::Campaign>>;
    /// A strongly consistent read, counters included (derived fields not computed yet).
    async fn campaign(&self, org_id: &str, id: &str) -> Result<Option<crate::domain::campaign::Campaign>>;
    /// The organisation's campaigns, newest first.
    async fn campaigns(&self, org_id: &str, page: &PageRequest) -> Result<Page<crate::domain::campaign::Campaign>>;
    /// Starts `starts` (at most `campaign::STARTS_PER_WRITE`) all or nothing: per customer a
    /// marker that must be absent and the interaction (if any) that must be absent, and the
    /// campaign's `started` / `skipped` (and `targeted` too when `counts_targets`) `ADD`ed. When
    /// some customers' markers exist already nothing is written and those customers are returned.
    async fn start_campaign_customers(&self, org_id: &str, campaign_id: &str, starts: &[crate::domain::campaign::CampaignStart], counts_targets: bool) -> Result<Vec<String>>;
    /// `targeted` is final: a filter's last page was read.
    async fn finish_campaign_targeting(&self, org_id: &str, campaign_id: &str) -> Result<()>;
}

/// An interaction in the deadline index: an alert is owed at `check_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionDue {
    pub org_id: String,
    pub interaction_id: String,
    pub check_at: DateTime<Utc>,
}

#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// The organisation's templates, its default and its settings, in one read.
    async fn workflow_catalog(&self, org_id: &str) -> Result<WorkflowCatalog>;
    async fn workflow_template(&self, org_id: &str, id: &str) -> Result<Option<WorkflowTemplate>>;
    /// Stores a template: new when `version` is 1, else over `version - 1`. A default template
    /// becomes the organisation's only default (the previous one loses the flag) in the same
    /// transaction. `AlreadyThere` when the id exists already (new) or it changed meanwhile.
    async fn put_workflow_template(&self, template: &WorkflowTemplate) -> Result<Written>;
    /// Stores the seeded templates once per organisation; `AlreadyThere` when it was done before.
    async fn seed_workflow_templates(&self, org_id: &str, templates: &[WorkflowTemplate]) -> Result<Written>;
    /// Stores the settings whole, with the admin's audit entry in the same write.
    async fn save_interaction_settings(&self, org_id: &str, settings: &InteractionSettings, audit: Option<&AuditEntry>) -> Result<()>;
}

// --- actions, their answers and the dashboard feed -----------------------------------------------

/// Which actions to list; the most selective filter picks the index, the others filter it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionFilter {
    pub status: Option<crate::domain::action::ActionStatus>,
    pub action_type: Option<String>,
    pub conversation_id: Option<String>,
}

/// Everything a decision reads besides the action, fetched in one round trip.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecisionContext {
    pub templates: Option<crate::domain::response_template::ResponseTemplates>,
    pub conversation: Option<Conversation>,
    pub customer: Option<Customer>,
    /// The action's `action_request` bubble is there (with its content) to show the decision.
    pub bubble_shown: bool,
}

/// Everything a decision writes, all or nothing (`ActionStore::save_decision`).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionWrite {
    /// Decided, over the pending version it was decided on.
    pub action: crate::domain::action::Action,
    /// The answer's record, `queued`.
    pub response: crate::domain::action::ActionResponse,
    /// The answer to the customer, `queued` for reply-sender.
    pub answer: Message,
    /// The `action_status_update` note in the conversation.
    pub note: Message,
    /// Put the decision on the bubble too.
    pub bubble_shown: bool,
    /// The conversation with the note and the answer (its `version` advanced).
    pub conversation: Conversation,
    /// `action.decided`.
    pub event: crate::domain::event::NewEvent,
    /// Who decided and what moved (status, decision), stored in the same transaction.
    pub audit: Option<AuditEntry>,
}

#[async_trait]
pub trait ActionStore: Send + Sync {
    /// Stores a new action; with an idempotency key, `AlreadyThere` when the key was used before
    /// (read that action with `action_by_key`).
    async fn create_action(&self, action: &crate::domain::action::Action, idempotency_key: Option<&str>) -> Result<Written>;
    async fn action_by_key(&self, org_id: &str, idempotency_key: &str) -> Result<Option<crate::domain::action::Action>>;
    /// A strongly consistent read: a decision must see the latest state.
    async fn action(&self, org_id: &str, action_id: &str) -> Result<Option<crate::domain::action::Action>>;
    /// The action with its answer's record, in one round trip.
    async fn action_with_response(
        &self,
        org_id: &str,
        action_id: &str,
    ) -> Result<(Option<crate::domain::action::Action>, Option<crate::domain::action::ActionResponse>)>;
    /// The organisation's answer templates, the action's conversation, its customer and its bubble,
    /// in one strongly consistent read.
    async fn decision_context(&self, action: &crate::domain::action::Action) -> Result<DecisionContext>;
    /// Newest first.
    async fn actions(&self, org_id: &str, filter: &ActionFilter, page: &PageRequest) -> Result<Page<crate::domain::action::Action>>;
    /// Saves a decision with everything it changes in one transaction; `AlreadyThere` when the
    /// action or its conversation changed meanwhile (nothing was written: read again, decide again).
    async fn save_decision(&self, write: &DecisionWrite) -> Result<Written>;
    /// Applies a delivery status to an answer monotonically, like `MessageStore::apply_status`,
    /// and in the same write the action's `answer_status` and its bubble's
    /// `content.answer_status` (the bubble when it is there); `AlreadyThere` when it is already
    /// as far or further along, or unknown.
    async fn apply_response_status(
        &self,
        action: &crate::domain::action::Action,
        status: DeliveryStatus,
        wamid: Option<&str>,
        failure: Option<&FailureReason>,
        at: DateTime<Utc>,
    ) -> Result<Written>;
}

#[async_trait]
pub trait ResponseTemplateStore: Send + Sync {
    async fn response_templates(&self, org_id: &str) -> Result<Option<crate::domain::response_template::ResponseTemplates>>;
    /// Saves the settings at `settings.version`, over version - 1 (or new at 1); `AlreadyThere` when
    /// someone saved in between.
    /// With the admin's audit entry in the same write.
    async fn save_response_templates(&self, settings: &crate::domain::response_template::ResponseTemplates, audit: Option<&AuditEntry>) -> Result<Written>;
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends an event to its organisation's feed, once per dedupe key.
    async fn record_event(&self, event: &crate::domain::event::NewEvent) -> Result<Written>;
    /// Appends several events of one organisation, in this order, with one counter update and
    /// one transaction.
    async fn record_events(&self, events: &[crate::domain::event::NewEvent]) -> Result<Vec<Written>>;
    /// Stored events after `after`, in sequence order, from a strongly consistent read.
    async fn events_after(&self, org_id: &str, after: u64, limit: i32) -> Result<Vec<crate::domain::event::DashboardEvent>>;
    /// The last number handed out in the organisation's feed (0 before the first event).
    async fn latest_event_seq(&self, org_id: &str) -> Result<u64>;
}

/// What a long-poll reader of the feed got when it asked to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitPlace {
    Taken,
    /// Every place of the organisation is held; the first frees itself at `frees_at`.
    Full { frees_at: DateTime<Utc> },
}

/// The places an organisation's long-poll readers wait in: capped, so one tenant's dashboards
/// cannot hold every instance of the API function while the other tenants' requests queue.
#[async_trait]
pub trait FeedWaiters: Send + Sync {
    /// Takes a place for `waiter` until `until`, if fewer than `cap` of the organisation's places
    /// are held at `now`. A place past its `until` is free: a reader that crashed frees its own.
    async fn take_wait_place(&self, org_id: &str, waiter: &str, now: DateTime<Utc>, until: DateTime<Utc>, cap: usize) -> Result<WaitPlace>;
    /// Gives the place back (one not held is fine).
    async fn leave_wait_place(&self, org_id: &str, waiter: &str) -> Result<()>;
}

#[async_trait]
pub trait WamidIndex: Send + Sync {
    /// The message a WhatsApp message id belongs to (ours once sent, or the customer's).
    async fn message_by_wamid(&self, org_id: &str, wamid: &str) -> Result<Option<Message>>;
}

// ------------------------------------------------------------------ support tickets and the bot

/// One change to a ticket, stored in one transaction with the ticket counters (so the
/// notification counts are always exact) and, when given, a new message and the conversation.
pub struct TicketWrite<'a> {
    /// The ticket as read (`None` for a new one): the write succeeds only over that version.
    pub before: Option<&'a SupportTicket>,
    /// The ticket to store, its `version` advanced.
    pub after: &'a SupportTicket,
    /// A message to add, at most once (keyed by its id).
    pub message: Option<&'a TicketMessage>,
    /// The conversation's new state, its `version` advanced (optimistic locking).
    pub conversation: Option<&'a Conversation>,
    /// A new ticket the customer opened counts against their daily cap: the counter moves in the
    /// same transaction, only while under the limit; at the limit nothing is written and the
    /// write answers `support::daily_limit_reached` (a repeat of a stored ticket is still
    /// `AlreadyThere`).
    pub daily_cap: Option<&'a DailyTicketCap>,
    /// The audit entry of a staff change (status, priority, assignment, reference), stored in the
    /// same transaction: the change is never stored without it.
    pub audit: Option<&'a AuditEntry>,
}

#[async_trait]
pub trait SupportStore: Send + Sync {
    async fn ticket(&self, org_id: &str, ticket_id: &str) -> Result<Option<SupportTicket>>;
    /// A ticket's messages, oldest first.
    async fn ticket_messages(&self, org_id: &str, ticket_id: &str, page: &PageRequest) -> Result<Page<TicketMessage>>;
    /// Tickets matching `filter`, newest first.
    async fn tickets(&self, org_id: &str, filter: &TicketFilter, page: &PageRequest) -> Result<Page<SupportTicket>>;
    /// The organisation's ticket counters: one read, whatever the number of tickets.
    async fn ticket_counts(&self, org_id: &str) -> Result<TicketCounts>;
    /// `Stored`; `AlreadyThere` when the new ticket or the message exists already (the work was
    /// done before); `Error::LostUpdate` when the ticket or the
    /// conversation changed since they were read (read again and retry).
    async fn save_ticket(&self, write: &TicketWrite<'_>) -> Result<Written>;
    /// The ids of the tickets carrying `external_ref` (exact), newest first (DynamoDB: a Query of
    /// the reference's index partition).
    async fn ticket_ids_by_external_ref(&self, org_id: &str, external_ref: &str) -> Result<Vec<String>>;
    /// The tickets of `ids` that exist, in the order asked (DynamoDB: BatchGetItem, 100 a call).
    async fn tickets_by_id(&self, org_id: &str, ids: &[String]) -> Result<Vec<SupportTicket>>;
    /// The delivery status of some messages of a conversation, by message id.
    async fn delivery_statuses(&self, org_id: &str, conversation_id: &str, message_ids: &[String]) -> Result<HashMap<String, DeliveryStatus>>;
}

#[async_trait]
pub trait BotStore: Send + Sync {
    async fn bot_settings(&self, org_id: &str) -> Result<Option<StoredBotSettings>>;
    /// Stores the settings whole, with the admin's audit entry in the same write.
    async fn put_bot_settings(&self, settings: &StoredBotSettings, audit: Option<&AuditEntry>) -> Result<()>;
    /// Stores the settings only if the organisation has none yet.
    async fn put_bot_settings_if_missing(&self, settings: &StoredBotSettings) -> Result<Written>;
}

// ------------------------------------------------------------------ feedback calls (issue 11)

/// Which calls a list (`GET /v1/calls/ready|missed|completed`) shows. Time bounds are on the
/// list's own time (`Call::list_time`), half-open: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFilter {
    pub status: CallStatus,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub advisor_id: Option<String>,
    pub service_type: Option<String>,
    /// NPS range, inclusive both ends (calls without a score never match a range).
    pub nps_min: Option<u8>,
    pub nps_max: Option<u8>,
    pub tag: Option<String>,
}

impl CallFilter {
    pub fn of(status: CallStatus) -> Self {
        CallFilter { status, from: None, to: None, advisor_id: None, service_type: None, nps_min: None, nps_max: None, tag: None }
    }

    /// Whether a call of the list passes the filters that are not key bounds.
    pub fn admits(&self, call: &Call) -> bool {
        let nps_bounded = self.nps_min.is_some() || self.nps_max.is_some();
        call.status == self.status
            && self.advisor_id.as_ref().is_none_or(|a| call.service_advisor_id.as_ref() == Some(a))
            && self.service_type.as_ref().is_none_or(|t| call.service_type.as_ref() == Some(t))
            && self.tag.as_ref().is_none_or(|t| call.tags.contains(t))
            && (!nps_bounded
                || call.nps_score.is_some_and(|n| self.nps_min.is_none_or(|m| n >= m) && self.nps_max.is_none_or(|m| n <= m)))
    }
}

/// Which service records a list shows, newest service first; bounds on `ServiceRecord::service_time`,
/// `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceRecordFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub advisor_id: Option<String>,
    pub status: Option<ServiceStatus>,
}

/// A schedule the call scheduler visits: an organisation's own (`campaign_id` absent) or a
/// campaign's. Its due calls are the ready calls of that organisation and campaign.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScheduleRef {
    pub org_id: String,
    pub campaign_id: Option<String>,
}

/// One change to a call, written with everything that follows from it in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct CallWrite<'a> {
    /// The call as read (`None` for a new one): the write succeeds only over that version.
    pub before: Option<&'a Call>,
    /// The call to store, its `version` advanced.
    pub after: &'a Call,
    /// For a claim: the organisation's `max_concurrent_calls`; the write takes a slot only while
    /// fewer calls than that are in progress.
    pub in_flight_cap: Option<u32>,
}

/// What `CallStore::save_call` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallSaved {
    Stored,
    /// A new call whose id exists already (the work was done before).
    AlreadyThere,
    /// A claim found the organisation at its concurrency cap: nothing was written.
    AtCapacity,
}

/// The feedback calls' store. Every key starts with the organisation except the schedule
/// registry, which the scheduler reads across organisations (`docs/feedback-calls.md`).
///
/// Every call write derives the call's index keys from the stored value (its status list, and
/// the due index while `ready`) and moves, in the same transaction, the organisation's in-flight
/// counter (`domain::call::in_flight_change`) and its NPS day counters
/// (`domain::call::nps_changes`), so lists, counters and calls never disagree.
#[async_trait]
pub trait CallStore: Send + Sync {
    /// The stored config of an organisation (`campaign_id` `None`) or of a campaign.
    async fn schedule_config(&self, org_id: &str, campaign_id: Option<&str>) -> Result<Option<ScheduleConfig>>;
    /// Stores a config at `config.version`, over `version - 1` (new at 1), and registers its
    /// schedule, with the admin's audit entry; `AlreadyThere` when someone saved in between.
    async fn save_schedule_config(&self, config: &ScheduleConfig, audit: Option<&AuditEntry>) -> Result<Written>;
    /// Every registered schedule (a config was saved, or a call was created for it), across
    /// organisations: what the scheduler visits each minute.
    async fn call_schedules(&self) -> Result<Vec<ScheduleRef>>;

    /// Creates a customer known only by phone with their WhatsApp identity (no conversation yet:
    /// the first message they write opens one); `AlreadyThere` when the identity exists.
    async fn register_customer(&self, customer: &Customer, identity: &ChannelIdentity) -> Result<Written>;

    async fn service_record(&self, org_id: &str, id: &str) -> Result<Option<ServiceRecord>>;
    /// Stores a new record and, when given, its call (registering the call's schedule), all or
    /// nothing; `AlreadyThere` when the record or the call exists.
    async fn create_service_record(&self, record: &ServiceRecord, call: Option<&Call>) -> Result<Written>;
    /// Saves a changed record (its `version` advanced) over `version - 1`; `Error::LostUpdate`
    /// when it changed meanwhile.
    async fn save_service_record(&self, record: &ServiceRecord) -> Result<()>;
    /// Deletes the record as read (over its `version`); `Error::LostUpdate` when it changed
    /// meanwhile. Its call, if any, stays.
    async fn delete_service_record(&self, record: &ServiceRecord) -> Result<()>;
    /// Newest service first.
    async fn service_records(&self, org_id: &str, filter: &ServiceRecordFilter, page: &PageRequest) -> Result<Page<ServiceRecord>>;

    /// A strongly consistent read: every change decides from it.
    async fn call(&self, org_id: &str, id: &str) -> Result<Option<Call>>;
    /// Stores a call (new, or over `before`'s version) with its counters. `Error::LostUpdate` when
    /// the call changed since `before` was read (read again and retry).
    async fn save_call(&self, write: &CallWrite<'_>) -> Result<CallSaved>;
    /// One status list: ready soonest due first, the others newest first (`CallStatus::newest_first`).
    async fn calls(&self, org_id: &str, filter: &CallFilter, page: &PageRequest) -> Result<Page<Call>>;
    /// The schedule's ready calls due at or before `now`, soonest first, at most `limit`: reads
    /// only what is due.
    async fn due_calls(&self, schedule: &ScheduleRef, now: DateTime<Utc>, limit: i32) -> Result<Vec<Call>>;
    /// Calls in progress whose last change is before `before` (heard nothing since), oldest first.
    async fn stale_calls(&self, org_id: &str, before: DateTime<Utc>, limit: i32) -> Result<Vec<Call>>;
    /// The organisation's calls in progress now (the in-flight counter).
    async fn calls_in_flight(&self, org_id: &str) -> Result<i64>;
    /// The NPS day counters of local dates `from..=to` that have any.
    async fn nps_days(&self, org_id: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<NpsDay>>;
}

// ------------------------------------------------------------------ canned responses (issue 14)

/// What storing a canned response did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannedSaved {
    Stored,
    /// A new response whose id exists already (the work was done before).
    AlreadyThere,
    /// Its shortcut is another response's in the same scope: nothing was written.
    ShortcutTaken,
}

/// Canned responses (`docs/canned-responses.md`): each with its shortcut's claim (unique per
/// organisation and scope, written in the same transaction) and its usage counter.
#[async_trait]
pub trait CannedResponseStore: Send + Sync {
    /// Stores a new response and claims its shortcut in its scope, both or neither.
    async fn create_canned_response(&self, response: &crate::domain::canned::CannedResponse, audit: Option<&AuditEntry>) -> Result<CannedSaved>;
    /// A strongly consistent read, with its usage count.
    async fn canned_response(&self, org_id: &str, id: &str) -> Result<Option<crate::domain::canned::CannedResponse>>;
    /// Every response of the organisation (personal ones included) with its usage count, in id
    /// order: one partition, bounded by `domain::canned::MAX_RESPONSES_PER_ORG`.
    async fn canned_responses(&self, org_id: &str) -> Result<Vec<crate::domain::canned::CannedResponse>>;
    /// Saves `after` over `before`'s version, moving the shortcut's claim when the shortcut or
    /// the scope changed; `ShortcutTaken` writes nothing; `Error::LostUpdate` when the response
    /// changed since `before` was read.
    async fn save_canned_response(
        &self,
        before: &crate::domain::canned::CannedResponse,
        after: &crate::domain::canned::CannedResponse,
        audit: Option<&AuditEntry>,
    ) -> Result<CannedSaved>;
    /// Deletes the response as read (over its version) with its claim and counter;
    /// `Error::LostUpdate` when it changed meanwhile. Each write carries the author's audit entry,
    /// stored in its transaction.
    async fn delete_canned_response(&self, response: &crate::domain::canned::CannedResponse, audit: Option<&AuditEntry>) -> Result<()>;
    /// Counts one use of the response by the message `message_id`, once per message (a retried
    /// send counts nothing more): `AlreadyThere` when that message was counted; `NotFound` when
    /// the response is gone.
    async fn count_canned_use(&self, org_id: &str, id: &str, message_id: &str, at: DateTime<Utc>) -> Result<Written>;
}

// ------------------------------------------------------------------ rate limits (issue 14)

/// Customer-side rate limits (`docs/rate-limits.md`): the organisation's settings, one counter
/// per customer and window, and the block on the customer's WhatsApp identity.
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// The organisation's saved settings; `None` until an admin saves some (the defaults hold).
    /// DynamoDB keeps what it read for a minute per warm function: every inbound message needs them.
    async fn rate_limit_settings(&self, org_id: &str) -> Result<Option<crate::domain::rate_limit::StoredRateLimits>>;
    /// Stores the settings whole, with the admin's audit entry in the same write.
    async fn put_rate_limit_settings(&self, settings: &crate::domain::rate_limit::StoredRateLimits, audit: Option<&AuditEntry>) -> Result<()>;
    /// Counts `id` (a message's WhatsApp id) once in the counter's window: the count with it, or
    /// `None` when it was counted already (a redelivery). One atomic write; the counter expires
    /// by itself after its window.
    async fn count_once(&self, counter: &crate::domain::rate_limit::RateCounter, id: &str) -> Result<Option<u32>>;
    /// Puts `block` on the identity unless a block not yet ended at `block.since` is there
    /// already (another delivery won): nothing is written then. Answers the block in force after
    /// the call, read strongly consistent when it is another's (`block` itself when written);
    /// `Error::LostUpdate` when the identity has neither (gone meanwhile).
    async fn block_customer(
        &self,
        org_id: &str,
        address: &str,
        block: &crate::domain::rate_limit::CustomerBlock,
    ) -> Result<crate::domain::rate_limit::CustomerBlock>;
    /// Lifts any block on the identity and forgets `counters` (an unblocked customer starts
    /// their windows afresh). Harmless on an identity without a block.
    async fn unblock_customer(&self, org_id: &str, address: &str, counters: &[crate::domain::rate_limit::RateCounter]) -> Result<()>;
}

// ------------------------------------------------------------------ media (issue 12)

/// Inbound media files (`docs/media.md`): one record per message with a file, and the expiry
/// index (a partition per day) cleanup reads instead of scanning.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Stores a new record; `AlreadyThere` when the message's file is known (a redelivery).
    async fn create_media_file(&self, file: &crate::domain::media::MediaFile) -> Result<Written>;
    async fn media_file(&self, org_id: &str, id: &str) -> Result<Option<crate::domain::media::MediaFile>>;
    /// The records of `ids` found (one BatchGetItem), in any order.
    async fn media_files(&self, org_id: &str, ids: &[String]) -> Result<Vec<crate::domain::media::MediaFile>>;
    /// Saves the record (the worker, or a reply using an upload), placing it in its expiry day
    /// when it belongs in the index.
    async fn save_media_file(&self, file: &crate::domain::media::MediaFile) -> Result<()>;
    /// Files of every organisation in the expiry index (`MediaFile::in_expiry_index`: stored files
    /// and unused uploads) that expire on `day` before `before`, oldest first.
    async fn expiring_media(&self, day: chrono::NaiveDate, before: DateTime<Utc>, limit: i32) -> Result<Vec<crate::domain::media::MediaFile>>;
    async fn delete_media_file(&self, org_id: &str, id: &str) -> Result<()>;
    /// The organisation's retention in days, when it set one.
    async fn media_retention(&self, org_id: &str) -> Result<Option<u32>>;
    /// Stores the retention, with the admin's audit entry in the same write.
    async fn put_media_retention(&self, org_id: &str, days: u32, audit: Option<&AuditEntry>) -> Result<()>;
}

// ------------------------------------------------------------------ transactions (issue 12)

/// What recording a transaction found (`docs/customer-context.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionPut {
    Stored,
    /// The id was recorded before: the transaction stored under it (read strongly consistent),
    /// unchanged.
    Exists(crate::domain::transaction::Transaction),
}

/// A customer's transactions as the business reports them, keyed by the business's id.
#[async_trait]
pub trait TransactionStore: Send + Sync {
    /// Stores a new transaction unless its id is recorded for the customer already: nothing is
    /// written then, and the stored one is answered.
    async fn record_transaction(&self, transaction: &crate::domain::transaction::Transaction) -> Result<TransactionPut>;
    /// The customer's transactions, newest `occurred_at` first (then id, descending), cursor paged.
    async fn transactions(&self, org_id: &str, customer_id: &str, page: &PageRequest) -> Result<Page<crate::domain::transaction::Transaction>>;
}

// ------------------------------------------------------------------ customer context (issue 12)

/// The customer with the ids of what is theirs, from their own partition (`docs/data-model.md`):
/// each list in id order, oldest first (ids are time-ordered).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerLinks {
    pub customer: Customer,
    pub conversation_ids: Vec<String>,
    pub ticket_ids: Vec<String>,
    pub action_ids: Vec<String>,
    pub call_ids: Vec<String>,
}

/// Which linked records to read at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkedIds {
    pub conversations: Vec<String>,
    pub tickets: Vec<String>,
    pub actions: Vec<String>,
    pub calls: Vec<String>,
}

/// The linked records found (each in the order asked; one not found is left out), actions with
/// their answer's record when there is one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkedRecords {
    pub conversations: Vec<Conversation>,
    pub tickets: Vec<SupportTicket>,
    pub actions: Vec<(crate::domain::action::Action, Option<crate::domain::action::ActionResponse>)>,
    pub calls: Vec<Call>,
}

/// The by-customer reads of the customer context panel (`docs/customer-context.md`): no scan, a
/// Query of the customer's partition and one batch read.
#[async_trait]
pub trait CustomerContextReads: Send + Sync {
    /// The customer and the ids linked to them; `None` when the organisation has no such customer.
    async fn customer_links(&self, org_id: &str, customer_id: &str) -> Result<Option<CustomerLinks>>;
    /// The records of `ids` (DynamoDB: one BatchGetItem per 100 keys, eventually consistent).
    async fn linked_records(&self, org_id: &str, ids: &LinkedIds) -> Result<LinkedRecords>;
}

// ------------------------------------------------------------------ teams (issue 13)

/// Teams, their business hours and their agents (`docs/sla.md`): one partition per organisation.
/// A staff change's writes take its audit entry (`docs/audit.md`), stored in the same transaction
/// (the change is never stored without it); routing's own writes of an agent pass `None`.
#[async_trait]
pub trait TeamStore: Send + Sync {
    /// Stores a new team; `AlreadyThere` when its id is taken.
    async fn create_team(&self, team: &crate::domain::team::Team, audit: Option<&AuditEntry>) -> Result<Written>;
    async fn team(&self, org_id: &str, team_id: &str) -> Result<Option<crate::domain::team::Team>>;
    /// The organisation's teams in the order they were created (ids are ULIDs), cursor paged.
    async fn teams(&self, org_id: &str, page: &PageRequest) -> Result<Page<crate::domain::team::Team>>;
    /// Saves `team` over version `team.version - 1`; `AlreadyThere` when that is not what is stored.
    async fn save_team(&self, team: &crate::domain::team::Team, audit: Option<&AuditEntry>) -> Result<Written>;
    async fn business_hours(&self, org_id: &str, team_id: &str) -> Result<Option<crate::domain::team::StoredBusinessHours>>;
    /// Saves hours of version n over n - 1 (version 1 over none); `AlreadyThere` when that is not
    /// what is stored.
    async fn save_business_hours(&self, hours: &crate::domain::team::StoredBusinessHours, audit: Option<&AuditEntry>) -> Result<Written>;
    /// Stores a new agent; `AlreadyThere` when the user is one already.
    async fn create_agent(&self, agent: &crate::domain::agent::Agent, audit: Option<&AuditEntry>) -> Result<Written>;
    async fn agent(&self, org_id: &str, user_id: &str) -> Result<Option<crate::domain::agent::Agent>>;
    /// Every agent of the organisation, by user id (an organisation has hundreds at most; routing
    /// reads them whole).
    async fn agents(&self, org_id: &str) -> Result<Vec<crate::domain::agent::Agent>>;
    /// Saves `agent` over version `agent.version - 1`; `AlreadyThere` when that is not what is stored.
    async fn save_agent(&self, agent: &crate::domain::agent::Agent, audit: Option<&AuditEntry>) -> Result<Written>;
    /// The organisation's routing settings; `None` until an admin saves them (the defaults apply).
    async fn routing_settings(&self, org_id: &str) -> Result<Option<crate::domain::routing::StoredRoutingSettings>>;
    /// Stores the settings whole, with the audit entry of the change in the same write.
    async fn put_routing_settings(&self, settings: &crate::domain::routing::StoredRoutingSettings, audit: Option<&AuditEntry>) -> Result<()>;
}

/// A conversation in the SLA deadline index: a step of one of its clocks is owed at `check_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaDue {
    pub org_id: String,
    pub conversation_id: String,
    pub check_at: DateTime<Utc>,
}

/// SLA policies, the deadline index the SLA scheduler reads, and what it writes (`docs/sla.md`).
/// A policy's writes take the staff change's audit entry, stored in the same transaction.
#[async_trait]
pub trait SlaStore: Send + Sync {
    /// Stores a new policy; `AlreadyThere` when its id is taken.
    async fn create_sla_policy(&self, policy: &crate::domain::sla::SlaPolicy, audit: Option<&AuditEntry>) -> Result<Written>;
    async fn sla_policy(&self, org_id: &str, policy_id: &str) -> Result<Option<crate::domain::sla::SlaPolicy>>;
    /// Every policy of the organisation, by id (creation order), strongly consistent.
    async fn sla_policies(&self, org_id: &str) -> Result<Vec<crate::domain::sla::SlaPolicy>>;
    /// The same as a message's processing reads them: kept up to a minute per warm function, so
    /// a conversation's first message costs no read when its organisation wrote a minute ago.
    async fn sla_policies_cached(&self, org_id: &str) -> Result<Vec<crate::domain::sla::SlaPolicy>>;
    /// Saves `policy` over version `policy.version - 1`; `AlreadyThere` when that is not stored.
    async fn save_sla_policy(&self, policy: &crate::domain::sla::SlaPolicy, audit: Option<&AuditEntry>) -> Result<Written>;
    /// Deletes the policy; `AlreadyThere` when there was none.
    async fn delete_sla_policy(&self, org_id: &str, policy_id: &str, audit: Option<&AuditEntry>) -> Result<Written>;
    /// The deadline index's minute `minute` (every organisation): the conversations whose next
    /// step falls in it at or before `up_to`, in time order.
    async fn sla_due(&self, minute: DateTime<Utc>, up_to: DateTime<Utc>) -> Result<Vec<SlaDue>>;
    /// The first minute the scheduler has not finished with (`None` before its first run).
    async fn sla_cursor(&self) -> Result<Option<DateTime<Utc>>>;
    async fn save_sla_cursor(&self, minute: DateTime<Utc>) -> Result<()>;
    /// A conversation read strongly consistent: the scheduler decides from the latest write.
    async fn conversation_for_sla(&self, org_id: &str, conversation_id: &str) -> Result<Option<Conversation>>;
    /// Saves the conversation as the scheduler changed it (steps flagged, violations, escalation;
    /// `version` advanced) and the steps' events, all or nothing: a conversation changed since it
    /// was read is `Error::LostUpdate`, and nothing is written.
    /// `changes`: the agents' counters an escalation's reassignment moves (`domain::routing`).
    async fn record_sla_steps(
        &self,
        conversation: &Conversation,
        changes: &[crate::domain::routing::CapacityChange],
        events: &[crate::domain::event::NewEvent],
    ) -> Result<()>;
}

/// The SLA compliance counters, per organisation, team, day and metric, and the violations the
/// report lists (`docs/sla.md`). Written by the conversation writes that end clocks — a reply
/// (`MessageStore::record_outbound`), a close (`ConversationStore::close`), the scheduler's steps
/// (`SlaStore::record_sla_steps`) — from the conversation's `sla_counts`, in their transaction.
#[async_trait]
pub trait ComplianceStore: Send + Sync {
    /// The counters of `team_id` (`None`: conversations without a team) for the days
    /// `from..=to`, one read.
    async fn compliance_days(&self, org_id: &str, team_id: Option<&str>, from: NaiveDate, to: NaiveDate) -> Result<Vec<crate::domain::sla::ComplianceDay>>;
    /// The violations of those days, the latest deadline first, at most `limit`, one read.
    async fn compliance_violations(&self, org_id: &str, team_id: Option<&str>, from: NaiveDate, to: NaiveDate, limit: usize) -> Result<Vec<crate::domain::sla::ReportedViolation>>;
}

/// How an assignment's write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentWrite {
    Stored,
    /// The conversation is not at the version read: nothing was written.
    ConversationChanged,
    /// The agent named (a take within capacity) is not online below capacity: nothing was written.
    AgentUnavailable(String),
}

/// Routing's reads and its one write (`docs/sla.md`): a team's queue oldest first, and the
/// assignment written with the agents' counters and its events, all or nothing.
#[async_trait]
pub trait RoutingStore: Send + Sync {
    /// The team's queue (open, with the team, no agent), the longest waiting first, at most `limit`.
    async fn team_queue(&self, org_id: &str, team_id: &str, limit: usize) -> Result<Vec<Conversation>>;
    /// A conversation read strongly consistent: routing decides from the latest write.
    async fn conversation_for_routing(&self, org_id: &str, conversation_id: &str) -> Result<Option<Conversation>>;
    /// Saves `conversation` over version `version - 1` with `changes` to the agents' counters (a
    /// take within capacity only if the agent is online and below capacity; a take also sets
    /// `last_assigned_at`) and `events`, all or nothing.
    async fn save_assignment(
        &self,
        conversation: &Conversation,
        changes: &[crate::domain::routing::CapacityChange],
        events: &[crate::domain::event::NewEvent],
    ) -> Result<AssignmentWrite>;
}

// ------------------------------------------------------------------ outbound webhooks (issue 15)

/// Outbound webhook subscriptions and their attempt log (`docs/webhooks.md`): one partition per
/// organisation for the subscriptions (a handful; fan-out reads them whole), one per subscription
/// for its attempts (newest first, kept 30 days by TTL).
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new subscription; `AlreadyThere` when its id is taken.
    async fn create_webhook_subscription(&self, subscription: &crate::domain::webhook_subscription::WebhookSubscription) -> Result<Written>;
    async fn webhook_subscription(&self, org_id: &str, id: &str) -> Result<Option<crate::domain::webhook_subscription::WebhookSubscription>>;
    /// Every subscription of the organisation, oldest first (bounded by
    /// `domain::webhook_subscription::MAX_SUBSCRIPTIONS_PER_ORG`).
    async fn webhook_subscriptions(&self, org_id: &str) -> Result<Vec<crate::domain::webhook_subscription::WebhookSubscription>>;
    /// Saves `subscription` over version `subscription.version - 1`; `AlreadyThere` when that is
    /// not what is stored (a concurrent change, or a deleted subscription).
    async fn save_webhook_subscription(&self, subscription: &crate::domain::webhook_subscription::WebhookSubscription) -> Result<Written>;
    /// Deletes the subscription at the version read; `AlreadyThere` when it moved on or is gone.
    async fn delete_webhook_subscription(&self, subscription: &crate::domain::webhook_subscription::WebhookSubscription) -> Result<Written>;
    /// Logs an attempt once (a retried job writing the same attempt id changes nothing).
    async fn record_delivery_attempt(&self, attempt: &crate::domain::webhook_delivery::DeliveryAttempt) -> Result<Written>;
    /// A subscription's attempts, newest first, cursor paged.
    async fn delivery_attempts(&self, org_id: &str, subscription_id: &str, page: &PageRequest) -> Result<Page<crate::domain::webhook_delivery::DeliveryAttempt>>;
    async fn delivery_attempt(&self, org_id: &str, subscription_id: &str, attempt_id: &str) -> Result<Option<crate::domain::webhook_delivery::DeliveryAttempt>>;
}

/// One POST of a webhook delivery.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub url: &'a str,
    pub headers: &'a [(&'static str, String)],
    pub body: &'a [u8],
    /// The subscription's timeout: the whole exchange, connection and answer included.
    pub timeout: std::time::Duration,
}

/// What came of one POST.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookAnswer {
    /// The subscriber answered: its status, its `Retry-After` as sent, the start of its body.
    Answered { status: u16, retry_after: Option<String>, body: Vec<u8> },
    TimedOut { error: String },
    /// No connection, or it broke (refused, reset, TLS, DNS).
    ConnectionFailed { error: String },
    /// Every address of the destination is one MAX never calls (checked when it resolves).
    Refused { reason: String },
}

/// Sends webhook deliveries: never follows a redirect, never connects to a refused address
/// (`domain::webhook_subscription::refused_address`, checked on every resolution).
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn post(&self, request: &WebhookRequest<'_>) -> WebhookAnswer;
}

// ------------------------------------------------------------------ live push (issue 15)

/// Dashboards' open WebSocket connections, one partition per organisation (`docs/live-push.md`).
#[async_trait]
pub trait LiveConnectionStore: Send + Sync {
    /// Stores the connection, or refreshes it (a new `expires_at`) when it is there.
    async fn put_live_connection(&self, connection: &crate::domain::live_push::LiveConnection) -> Result<()>;
    /// Forgets the connection (one already gone is fine).
    async fn delete_live_connection(&self, org_id: &str, connection_id: &str) -> Result<()>;
    /// The organisation's connections still open at `now`, never another organisation's.
    async fn live_connections(&self, org_id: &str, now: DateTime<Utc>) -> Result<Vec<crate::domain::live_push::LiveConnection>>;
}

/// What became of one post to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushAnswer {
    Delivered,
    /// The connection is closed (API Gateway's 410 `GoneException`): forget it.
    Gone,
}

/// Posts bytes to one WebSocket connection (API Gateway's Management API, `PostToConnection`).
#[async_trait]
pub trait LivePush: Send + Sync {
    async fn post(&self, connection_id: &str, payload: &[u8]) -> Result<PushAnswer>;
}

/// Checks a dashboard's JWT the way the HTTP API's authorizer does (signature, expiry, issuer,
/// audience) and answers its claims as API Gateway passes them to handlers (every value a
/// string); `None` for a token that is bad in any way.
#[async_trait]
pub trait IdentityTokens: Send + Sync {
    async fn claims(&self, token: &str) -> Option<std::collections::HashMap<String, String>>;
}

// ------------------------------------------------------------------ the audit trail (issue 16)

/// The audit trail's reads (`docs/audit.md`). There is no write of its own: an entry goes into
/// the transaction of the change it records (e.g. `TicketWrite::audit`), and nothing edits or
/// deletes one (the table's TTL removes it after a year).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// The organisation's entries matching `query`, newest first. DynamoDB: one Query of the
    /// partition that keys the most selective filter (entity, entity type, actor, or the
    /// organisation's by time), the time bounds as sort-key bounds.
    async fn audit_entries(&self, org_id: &str, query: &AuditQuery, page: &PageRequest) -> Result<Page<AuditEntry>>;
}

// ------------------------------------------------------------------ the whole store

/// Every store port at once: what one table (DynamoDB, or the memory adapter) provides. Handlers
/// hold it as `Arc<dyn Stores>` and hand each use case the narrow port it takes.
pub trait Stores:
    ChannelDirectory
    + ChatAppKeyStore
    + CustomerStore
    + CustomerRecords
    + CustomerDirectory
    + CustomerLinkStore
    + ConversationStore
    + MessageStore
    + WhatsAppTemplateStore
    + InteractionStore
    + WorkflowStore
    + ActionStore
    + ResponseTemplateStore
    + EventStore
    + FeedWaiters
    + WamidIndex
    + SupportStore
    + BotStore
    + CallStore
    + CannedResponseStore
    + RateLimitStore
    + MediaStore
    + TransactionStore
    + CustomerContextReads
    + TeamStore
    + SlaStore
    + ComplianceStore
    + RoutingStore
    + WebhookStore
    + LiveConnectionStore
    + AuditStore
    + CampaignStore
{
}

impl<T> Stores for T where
    T: ChannelDirectory
        + ChatAppKeyStore
        + CustomerStore
        + CustomerRecords
        + CustomerDirectory
        + CustomerLinkStore
        + ConversationStore
        + MessageStore
        + WhatsAppTemplateStore
        + InteractionStore
        + WorkflowStore
        + ActionStore
        + ResponseTemplateStore
        + EventStore
        + FeedWaiters
        + WamidIndex
        + SupportStore
        + BotStore
        + CallStore
        + CannedResponseStore
        + RateLimitStore
        + MediaStore
        + TransactionStore
        + CustomerContextReads
        + TeamStore
        + SlaStore
        + ComplianceStore
        + RoutingStore
        + WebhookStore
        + LiveConnectionStore
        + AuditStore
        + CampaignStore
        + ?Sized
{
}
