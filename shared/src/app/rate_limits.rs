//! Customer-side rate limits (issue 14; `docs/rate-limits.md`): the organisation's settings, a
//! customer's block as the API shows it, lifting it, and what a block owes once: one
//! `customer.rate_limited` event for supervisors and one polite notice to the customer.
//! Counting and blocking happen in `inbound`, before anything answers a message.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tracing::info;

use crate::app::delivery::{NewReply, queue_reply};
use crate::app::inbound::Received;
use crate::domain::audit::{AuditActor, AuditEntity};
use crate::domain::customer::{Customer, IdentityChannel};
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::ids::IdempotencyKey;
use crate::domain::message::{Sender, SenderType};
use crate::domain::outbound::OutboundContent;
use crate::domain::rate_limit::{
    BlockReason, BlockView, RateCounter, RateLimitSettings, StoredRateLimits, notice_text,
};
use crate::error::{Error, Result};
use crate::ports::{
    ConversationStore, CustomerStore, EventStore, MessageStore, Outbox, RateLimitStore,
};

/// Who an event meant for particular people is for (`data.notify`), one convention for the feed:
/// `{"role": "supervisor"}` or `{"user_id": "<sub>"}`.
pub fn notify_supervisors() -> serde_json::Value {
    json!({ "role": "supervisor" })
}

/// The organisation's limits: saved ones, or the defaults.
pub async fn settings(store: &dyn RateLimitStore, org_id: &str) -> Result<RateLimitSettings> {
    Ok(store
        .rate_limit_settings(org_id)
        .await?
        .map(|s| s.settings)
        .unwrap_or_default())
}

/// `PUT /v1/settings/rate-limits` (admins): validated, then stored whole.
pub async fn save_settings(
    store: &dyn RateLimitStore,
    org_id: &str,
    settings: RateLimitSettings,
    by: &AuditActor,
    now: DateTime<Utc>,
) -> Result<RateLimitSettings> {
    settings.validate()?;
    let before = store.rate_limit_settings(org_id).await?;
    let stored = StoredRateLimits { org_id: org_id.to_string(), settings, updated_at: now, updated_by: by.user_id.clone() };
    let audit = by.change(now, org_id, (AuditEntity::Settings, "rate_limits"), "update", &["settings"], before.as_ref(), Some(&stored));
    store.put_rate_limit_settings(&stored, audit.as_ref()).await?;
    Ok(settings)
}

/// A customer as `GET /v1/customers/{id}` shows them: with the block holding now, if any.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CustomerView {
    #[serde(flatten)]
    pub customer: Customer,
    /// The rate-limit block holding now (`null` when none).
    pub blocked: Option<BlockView>,
}

/// The customer with their block, read from their WhatsApp identities; `NotFound` for an unknown
/// customer (or another organisation's).
pub async fn customer_view(
    customers: &dyn CustomerStore,
    org_id: &str,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<CustomerView> {
    let customer = customers
        .customer(org_id, customer_id)
        .await?
        .ok_or(Error::NotFound("customer"))?;
    let mut blocked = None;
    for address in customer.addresses(IdentityChannel::Whatsapp) {
        let Some(stored) = customers
            .whatsapp_identity(org_id, address)
            .await?
        else {
            continue;
        };
        if stored.customer_id != customer.id {
            continue;
        }
        if let Some(block) = stored.blocked.filter(|b| now < b.until) {
            blocked = Some(block.view());
            break;
        }
    }
    Ok(CustomerView { customer, blocked })
}

/// `POST /v1/customers/{id}/unblock` (supervisors, admins): lifts the block and forgets the
/// current windows' counts, so the customer's next message is answered and counted afresh.
/// Unblocking a customer who is not blocked changes nothing.
pub async fn unblock(
    customers: &dyn CustomerStore,
    store: &dyn RateLimitStore,
    org_id: &str,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<CustomerView> {
    let view = customer_view(customers, org_id, customer_id, now).await?;
    for address in view.customer.addresses(IdentityChannel::Whatsapp) {
        let counters = [
            BlockReason::MessagesPerMinute,
            BlockReason::ConversationsPerHour,
        ]
        .map(|r| RateCounter::at(org_id, address, r, now));
        store
            .unblock_customer(org_id, address, &counters)
            .await?;
    }
    if view.blocked.is_some() {
        info!(org_id, customer_id, "customer unblocked");
    }
    Ok(CustomerView {
        blocked: None,
        ..view
    })
}

/// The ports a block's announcement needs.
pub struct AnnouncePorts<'a> {
    pub events: &'a dyn EventStore,
    pub conversations: &'a dyn ConversationStore,
    pub messages: &'a dyn MessageStore,
    pub outbox: &'a dyn Outbox,
}

/// For the message that started a block: the `customer.rate_limited` event and the notice to the
/// customer, each keyed by the block (a retry records and sends nothing more). Any other
/// rate-limited message owes nothing. The notice's id, if this message owed one.
pub async fn announce_block(
    ports: &AnnouncePorts<'_>,
    received: &Received,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let Some(block) = &received.rate_limit else {
        return Ok(None);
    };
    let conversation = &received.conversation;
    let org_id = conversation.org_id.as_str();
    let key = block.dedupe_key(org_id, &conversation.customer_address);
    let data = json!({
        "customer_id": conversation.customer_id,
        "conversation_id": received.message.conversation_id,
        "message_id": received.message.id,
        "reason": block.reason,
        "since": block.since,
        "until": block.until,
        "notify": notify_supervisors(),
    });
    ports
        .events
        .record_event(&NewEvent::new(
            org_id,
            EventKind::CustomerRateLimited,
            block.since,
            data,
            key.clone(),
        ))
        .await?;
    let notice = queue_reply(
        ports.conversations,
        ports.messages,
        ports.outbox,
        NewReply {
            org_id,
            conversation_id: &received.message.conversation_id,
            content: OutboundContent::text(notice_text(block)),
            sender: Sender {
                kind: SenderType::System,
                id: None,
                name: None,
            },
            idempotency_key: Some(&IdempotencyKey::internal(key)),
            now,
            just_read: None,
        },
    )
    .await?;
    Ok(Some(notice.id))
}
