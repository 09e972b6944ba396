//! Support tickets: opened from the WhatsApp bot or the API, answered and closed by admins from
//! the dashboard. Answers and the closing message reach the customer through
//! `delivery::queue_reply` (24 h window, retries, statuses); every ticket write moves the
//! notification counters in the same transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::app::delivery::{NewReply, accepts_replies, queue_reply};
use crate::domain::audit::{AuditActor, AuditEntity, AuditEntry};
use crate::domain::bot::BotState;
use crate::domain::conversation::Conversation;
use crate::domain::customer::e164_digits;
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::ids::{IdempotencyKey, new_id, stable_id};
use crate::domain::message::{DeliveryStatus, Message, Sender, SenderType};
use crate::domain::outbound::OutboundContent;
use crate::domain::support::{
    DailyTicketCap, NewTicket, SupportNotifications, SupportTicket, TicketFilter, TicketMessage, TicketPriority, TicketSenderType,
    TicketSource, TicketStatus, Transition, is_daily_limit_reached, validate_message_text,
};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{
    BotStore, ConversationStore, CustomerContextReads, CustomerStore, EventStore, MessageStore, Outbox, Page, PageRequest, SupportStore,
    TicketWrite, Written,
};

/// The ports the support use cases need.
pub struct SupportPorts<'a> {
    pub tickets: &'a dyn SupportStore,
    /// A ticket typed in with a phone number belongs to the customer of that WhatsApp identity.
    pub customers: &'a dyn CustomerStore,
    pub conversations: &'a dyn ConversationStore,
    pub messages: &'a dyn MessageStore,
    pub bot: &'a dyn BotStore,
    pub events: &'a dyn EventStore,
    pub outbox: &'a dyn Outbox,
}

/// Who is acting from the dashboard.
#[derive(Debug, Clone)]
pub struct Staff {
    pub user_id: String,
    pub name: Option<String>,
    /// The role they act in (`agent`, `supervisor`, `admin`), for the audit trail.
    pub role: String,
}

impl Staff {
    fn actor(&self) -> AuditActor {
        AuditActor { user_id: self.user_id.clone(), role: self.role.clone() }
    }
}

/// The audit entry of a staff change from `before` to `after` (`None` if no audited field moved).
fn audit_of(by: &Staff, operation: &str, before: &SupportTicket, after: &SupportTicket, at: DateTime<Utc>) -> Option<AuditEntry> {
    let fields = &crate::domain::support::AUDITED_FIELDS;
    by.actor().change(at, &after.org_id, (AuditEntity::Ticket, &after.id), operation, fields, Some(before), Some(after))
}

/// Tells the dashboard feed (`ticket.opened`, `ticket.answered`, `ticket.closed`), once per
/// `dedupe_key`. After the ticket's transaction, and best effort: the ticket and its counters are
/// committed already, and the notification counts show it even if the feed missed it.
async fn announce(events: &dyn EventStore, kind: EventKind, ticket: &SupportTicket, at: DateTime<Utc>, dedupe_key: String, extra: Value) {
    let mut data = json!({
        "ticket_id": ticket.id,
        "conversation_id": ticket.conversation_id,
        "customer_id": ticket.customer_id,
        "status": ticket.status,
        "priority": ticket.priority,
        "assigned_admin_id": ticket.assigned_admin_id,
        "phone_number": ticket.phone_number,
        "sender_name": ticket.sender_name,
    });
    if let (Some(d), Value::Object(more)) = (data.as_object_mut(), extra) {
        d.extend(more);
    }
    if let Err(e) = events.record_event(&NewEvent::new(&ticket.org_id, kind, at, data, dedupe_key)).await {
        warn!(error = %e, ticket_id = ticket.id, kind = kind.as_str(), "ticket event not recorded in the dashboard feed");
    }
}

pub async fn get(tickets: &dyn SupportStore, org_id: &str, id: &str) -> Result<SupportTicket> {
    tickets.ticket(org_id, id).await?.ok_or(Error::NotFound("ticket"))
}

/// Reads the ticket, applies `change` and saves it over the version read with its audit entry
/// (`by`, `operation`), retrying when something else wrote first. `Unchanged` writes nothing.
async fn change_ticket<F>(
    tickets: &dyn SupportStore,
    org_id: &str,
    id: &str,
    by: &Staff,
    operation: &str,
    at: DateTime<Utc>,
    change: F,
) -> Result<(SupportTicket, Transition)>
where
    F: Fn(&mut SupportTicket) -> Result<Transition>,
{
    let change = &change;
    retry_lost_updates("ticket", |_| async move {
        let before = get(tickets, org_id, id).await?;
        let mut after = before.clone();
        if change(&mut after)? == Transition::Unchanged {
            return Ok((before, Transition::Unchanged));
        }
        after.version += 1;
        let audit = audit_of(by, operation, &before, &after, at);
        let write = TicketWrite { before: Some(&before), after: &after, message: None, conversation: None, daily_cap: None, audit: audit.as_ref() };
        tickets.save_ticket(&write).await?;
        Ok((after, Transition::Changed))
    })
    .await
}

/// Adds `message` to the ticket with `change` applied, once; retried over concurrent writes.
async fn add_message<F>(tickets: &dyn SupportStore, org_id: &str, id: &str, message: &TicketMessage, change: F) -> Result<SupportTicket>
where
    F: Fn(&mut SupportTicket) -> Result<()>,
{
    let change = &change;
    retry_lost_updates("ticket", |_| async move {
        let before = get(tickets, org_id, id).await?;
        let mut after = before.clone();
        change(&mut after)?;
        after.version += 1;
        match tickets.save_ticket(&TicketWrite { before: Some(&before), after: &after, message: Some(message), conversation: None, daily_cap: None, audit: None }).await? {
            Written::Stored => Ok(after),
            Written::AlreadyThere => Ok(before),
        }
    })
    .await
}

// ------------------------------------------------------------------------------- reading

/// A ticket with its messages, as the dashboard shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketView {
    #[serde(flatten)]
    pub ticket: SupportTicket,
    pub messages: Vec<TicketMessage>,
    /// More messages follow (`?messages_cursor=`).
    pub messages_next_cursor: Option<String>,
}

/// The ticket with a page of its messages (oldest first); admin and system messages carry their
/// current WhatsApp delivery status, read from the conversation messages that carried them.
pub async fn view(ports: &SupportPorts<'_>, org_id: &str, id: &str, page: &PageRequest) -> Result<TicketView> {
    let (ticket, messages) = futures::try_join!(get(ports.tickets, org_id, id), ports.tickets.ticket_messages(org_id, id, page))?;
    let Page { items: mut messages, next_cursor } = messages;
    if let Some(conversation_id) = &ticket.conversation_id {
        let sent: Vec<String> = messages.iter().filter_map(|m| m.whatsapp_message_id.clone()).collect();
        if !sent.is_empty() {
            let statuses = ports.tickets.delivery_statuses(org_id, conversation_id, &sent).await?;
            for m in &mut messages {
                if let Some(s) = m.whatsapp_message_id.as_ref().and_then(|w| statuses.get(w)) {
                    m.whatsapp_status = Some(*s);
                }
            }
        }
    }
    Ok(TicketView { ticket, messages, messages_next_cursor: next_cursor })
}

/// A page of tickets with the filter's total.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketList {
    pub items: Vec<SupportTicket>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

pub async fn list(tickets: &dyn SupportStore, org_id: &str, filter: &TicketFilter, page: &PageRequest) -> Result<TicketList> {
    let (page, counts) = futures::try_join!(tickets.tickets(org_id, filter, page), tickets.ticket_counts(org_id))?;
    Ok(TicketList { items: page.items, next_cursor: page.next_cursor, total: counts.total(filter) })
}

/// The notification badge: one read of the counter item. `me` adds the caller's own count.
pub async fn notifications(tickets: &dyn SupportStore, org_id: &str, me: Option<&str>) -> Result<SupportNotifications> {
    Ok(tickets.ticket_counts(org_id).await?.notifications(me))
}

// ------------------------------------------------------------------------- opening tickets

/// `POST /v1/support/tickets`.
#[derive(Debug, Clone, Default)]
pub struct TicketRequest {
    pub issue_description: String,
    pub phone_number: Option<String>,
    pub sender_name: Option<String>,
    pub priority: Option<TicketPriority>,
    /// The WhatsApp conversation the ticket is about: answers go there and the customer's next
    /// messages join the ticket.
    pub conversation_id: Option<String>,
    /// The business's reference (`domain::support::external_ref`).
    pub external_ref: Option<String>,
}

/// Opens a ticket by hand. With a conversation, the ticket takes the conversation over (state
/// `chat_support`) unless it already has an active ticket (409).
pub async fn create(ports: &SupportPorts<'_>, org_id: &str, request: &TicketRequest, by: &Staff, now: DateTime<Utc>) -> Result<SupportTicket> {
    validate_message_text("issue_description", &request.issue_description)?;
    let phone_number = request.phone_number.as_deref().map(|p| e164_digits("phone_number", p)).transpose()?;
    let external_ref = request.external_ref.as_deref().map(|r| crate::domain::support::external_ref("external_ref", r)).transpose()?;
    // Without a conversation, a phone number a customer writes from names the customer: the
    // ticket is theirs, so a search by their phone finds it.
    let phone_customer = match (&request.conversation_id, &phone_number) {
        (None, Some(p)) => ports.customers.whatsapp_identity(org_id, p).await?.map(|i| i.customer_id),
        _ => None,
    };
    let (phone_number, external_ref, phone_customer) = (&phone_number, &external_ref, &phone_customer);
    let id = &new_id(now);
    retry_lost_updates("conversation", |_| async move {
        let mut conversation = match &request.conversation_id {
            None => None,
            Some(cid) => Some(ports.conversations.conversation(org_id, cid).await?.ok_or(Error::NotFound("conversation"))?),
        };
        if let Some(c) = &mut conversation {
            accepts_replies(c)?;
            let existing = match &c.ticket_id {
                Some(existing) => ports.tickets.ticket(org_id, existing).await?.filter(|t| t.status.is_active()),
                None => None,
            };
            if let Some(t) = existing {
                return Err(Error::conflict(format!("the conversation already has ticket {} open", t.id), t.status.as_str()));
            }
            c.state = BotState::CHAT_SUPPORT.to_string();
            c.ticket_id = Some(id.clone());
            c.updated_at = c.updated_at.max(now);
            c.version += 1;
        }
        let mut ticket = SupportTicket::open(NewTicket {
            id: id.clone(),
            org_id: org_id.to_string(),
            source: TicketSource::Api,
            customer_id: conversation.as_ref().map(|c| c.customer_id.clone()).or_else(|| phone_customer.clone()),
            conversation_id: conversation.as_ref().map(|c| c.id.clone()),
            phone_number: phone_number.clone().or_else(|| conversation.as_ref().and_then(phone_of)),
            sender_name: request.sender_name.clone(),
            issue_description: request.issue_description.clone(),
            priority: request.priority.unwrap_or_default(),
            external_ref: external_ref.clone(),
            now,
        });
        let first = TicketMessage {
            id: new_id(now),
            ticket_id: id.clone(),
            org_id: org_id.to_string(),
            sender_type: TicketSenderType::User,
            sender_id: None,
            sender_name: request.sender_name.clone(),
            text: request.issue_description.clone(),
            kind: None,
            created_at: now,
            conversation_id: ticket.conversation_id.clone(),
            whatsapp_message_id: None,
            whatsapp_status: None,
        };
        ticket.note_message(now, &first.text);
        let write = TicketWrite { before: None, after: &ticket, message: Some(&first), conversation: conversation.as_ref(), daily_cap: None, audit: None };
        ports.tickets.save_ticket(&write).await?;
        info!(ticket_id = ticket.id, org_id, created_by = by.user_id, "support ticket opened");
        announce(ports.events, EventKind::TicketOpened, &ticket, now, format!("ticket.opened:{}", ticket.id), json!({})).await;
        Ok(ticket)
    })
    .await
}

fn phone_of(c: &Conversation) -> Option<String> {
    (!c.customer_address.starts_with("user:")).then(|| c.customer_address.clone())
}

fn preview_of(message: &Message) -> String {
    message.text.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| format!("[{}]", message.kind))
}

fn customer_message(ticket_id: &str, conversation: &Conversation, message: &Message) -> TicketMessage {
    TicketMessage {
        // The conversation message's id: a redelivered message is stored once here too.
        id: message.id.clone(),
        ticket_id: ticket_id.to_string(),
        org_id: message.org_id.clone(),
        sender_type: TicketSenderType::User,
        sender_id: Some(conversation.customer_id.clone()),
        sender_name: message.sender.name.clone(),
        text: preview_of(message),
        kind: Some(message.kind.clone()),
        created_at: message.created_at,
        conversation_id: Some(conversation.id.clone()),
        whatsapp_message_id: None,
        whatsapp_status: None,
    }
}

/// What the customer's message did about a new ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketOpening {
    Opened(SupportTicket),
    /// The customer has opened `limit` tickets today already: none was opened.
    LimitReached { limit: u32 },
}

/// The customer's first message in chat support opens a ticket: ticket, first message,
/// counters, the customer's daily cap (at most `daily_limit` a UTC day) and the conversation
/// (which now points at the ticket) in one transaction. The id comes from the message's, so a
/// repeat finds the ticket already there (and counts nothing twice).
pub async fn open_from_whatsapp(
    tickets: &dyn SupportStore,
    events: &dyn EventStore,
    conversation: &Conversation,
    message: &Message,
    daily_limit: u32,
) -> Result<TicketOpening> {
    let id = stable_id(message.created_at, &format!("ticket#{}", message.id));
    let mut ticket = SupportTicket::open(NewTicket {
        id: id.clone(),
        org_id: conversation.org_id.clone(),
        source: TicketSource::Whatsapp,
        customer_id: Some(conversation.customer_id.clone()),
        conversation_id: Some(conversation.id.clone()),
        phone_number: phone_of(conversation),
        sender_name: message.sender.name.clone(),
        issue_description: preview_of(message),
        priority: TicketPriority::default(),
        external_ref: None,
        now: message.created_at,
    });
    let first = customer_message(&id, conversation, message);
    ticket.note_message(message.created_at, &first.text);
    let mut updated = conversation.clone();
    updated.state = BotState::CHAT_SUPPORT.to_string();
    updated.ticket_id = Some(id.clone());
    updated.version += 1;
    let cap = DailyTicketCap::new(&conversation.customer_id, message.created_at, daily_limit);
    let write = TicketWrite { before: None, after: &ticket, message: Some(&first), conversation: Some(&updated), daily_cap: Some(&cap), audit: None };
    match tickets.save_ticket(&write).await {
        Ok(Written::Stored) => {
            info!(ticket_id = id, org_id = conversation.org_id, conversation_id = conversation.id, "support ticket opened from WhatsApp")
        }
        Ok(Written::AlreadyThere) => {}
        Err(e) if is_daily_limit_reached(&e) => {
            info!(org_id = conversation.org_id, customer_id = conversation.customer_id, limit = daily_limit, "daily ticket limit reached");
            return Ok(TicketOpening::LimitReached { limit: daily_limit });
        }
        Err(e) => return Err(e),
    }
    // Also on a repeat: the dedupe key records it once, even if the first attempt stopped here.
    announce(events, EventKind::TicketOpened, &ticket, message.created_at, format!("ticket.opened:{id}"), json!({})).await;
    Ok(TicketOpening::Opened(ticket))
}

/// A later message in chat support joins the conversation's ticket. The conversation is saved
/// too (version advanced) so a decision taken on a stale conversation cannot land.
/// `Ok(None)` when the ticket has finished meanwhile: the caller opens a new one.
pub async fn append_from_whatsapp(
    tickets: &dyn SupportStore,
    conversation: &Conversation,
    ticket_id: &str,
    message: &Message,
) -> Result<Option<SupportTicket>> {
    let Some(before) = tickets.ticket(&conversation.org_id, ticket_id).await?.filter(|t| t.status.is_active()) else {
        return Ok(None);
    };
    let entry = customer_message(ticket_id, conversation, message);
    let mut after = before.clone();
    after.add_customer_message(message.created_at, &entry.text)?;
    after.version += 1;
    let mut updated = conversation.clone();
    updated.version += 1;
    let write = TicketWrite { before: Some(&before), after: &after, message: Some(&entry), conversation: Some(&updated), daily_cap: None, audit: None };
    Ok(Some(match tickets.save_ticket(&write).await? {
        Written::Stored => after,
        Written::AlreadyThere => before,
    }))
}

/// `POST /v1/support/tickets/{id}/messages`: a message from the customer's side typed in.
pub async fn add_customer_message(
    tickets: &dyn SupportStore,
    org_id: &str,
    id: &str,
    text: &str,
    sender_name: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TicketMessage> {
    validate_message_text("message", text)?;
    let ticket = get(tickets, org_id, id).await?;
    let message = TicketMessage {
        id: new_id(now),
        ticket_id: id.to_string(),
        org_id: org_id.to_string(),
        sender_type: TicketSenderType::User,
        sender_id: ticket.customer_id.clone(),
        sender_name: sender_name.map(str::to_string).or(ticket.sender_name.clone()),
        text: text.to_string(),
        kind: None,
        created_at: now,
        conversation_id: None,
        whatsapp_message_id: None,
        whatsapp_status: None,
    };
    add_message(tickets, org_id, id, &message, |t| t.add_customer_message(now, text)).await?;
    Ok(message)
}

// ------------------------------------------------------------------------- admin actions

/// What an admin answer became.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Answered {
    pub message_id: String,
    pub whatsapp_status: DeliveryStatus,
    pub ticket_status: TicketStatus,
}

/// An admin answers: the text is queued for the customer on WhatsApp (a conversation message),
/// then recorded in the ticket, whose first answer takes it `IN_PROGRESS`. A repeated request
/// with the same idempotency key sends and records nothing new.
pub async fn answer(
    ports: &SupportPorts<'_>,
    org_id: &str,
    id: &str,
    by: &Staff,
    text: &str,
    idempotency_key: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
) -> Result<Answered> {
    validate_message_text("message", text)?;
    let ticket = get(ports.tickets, org_id, id).await?;
    ticket.clone().answer(now, text)?;
    let conversation_id = ticket.conversation_id.clone().ok_or_else(|| {
        Error::conflict("the ticket has no WhatsApp conversation to answer in", ticket.status.as_str())
    })?;
    let conversation = ports.conversations.conversation(org_id, &conversation_id).await?.ok_or(Error::NotFound("conversation"))?;
    accepts_replies(&conversation)?;
    let key = idempotency_key.map(|k| k.renamed(format!("ticket:{id}:{}", k.key)));
    let sent = queue_reply(
        ports.conversations,
        ports.messages,
        ports.outbox,
        NewReply {
            org_id,
            conversation_id: &conversation_id,
            content: OutboundContent::text(text),
            sender: Sender { kind: SenderType::Agent, id: Some(by.user_id.clone()), name: by.name.clone() },
            idempotency_key: key.as_ref(),
            now,
            just_read: Some(&conversation),
        },
    )
    .await?;
    let entry = TicketMessage {
        id: sent.id.clone(),
        ticket_id: id.to_string(),
        org_id: org_id.to_string(),
        sender_type: TicketSenderType::Admin,
        sender_id: Some(by.user_id.clone()),
        sender_name: by.name.clone(),
        text: text.to_string(),
        kind: Some("text".into()),
        created_at: sent.created_at,
        conversation_id: Some(conversation_id),
        whatsapp_message_id: Some(sent.id.clone()),
        whatsapp_status: Some(sent.status),
    };
    let at = sent.created_at;
    let ticket = add_message(ports.tickets, org_id, id, &entry, |t| {
        // Closed while the answer was being queued: it went out, so it is still recorded.
        if t.answer(at, text).is_err() {
            t.note_message(at, text);
        }
        Ok(())
    })
    .await?;
    let extra = json!({ "message_id": sent.id, "answered_by": by.user_id });
    announce(ports.events, EventKind::TicketAnswered, &ticket, at, format!("ticket.answered:{}", sent.id), extra).await;
    Ok(Answered { message_id: sent.id, whatsapp_status: sent.status, ticket_status: ticket.status })
}

/// What closing a ticket did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Closed {
    #[serde(flatten)]
    pub ticket: SupportTicket,
    /// The closing message sent to the customer, if the ticket has a conversation.
    pub closing_message_id: Option<String>,
    pub user_notification: &'static str,
}

/// Resolves or closes a ticket: the conversation goes back to `menu` in the same transaction,
/// then the closing message is queued. Repeating the same close changes nothing and sends
/// nothing new (the closing message's id is derived from the ticket and its close time).
pub async fn close(ports: &SupportPorts<'_>, org_id: &str, id: &str, outcome: TicketStatus, by: &Staff, now: DateTime<Utc>) -> Result<Closed> {
    let ticket = retry_lost_updates("ticket", |_| async move {
        let before = get(ports.tickets, org_id, id).await?;
        let mut after = before.clone();
        if after.close(outcome, now)? == Transition::Unchanged {
            return Ok(before);
        }
        after.version += 1;
        let mut conversation = match &after.conversation_id {
            Some(cid) => ports.conversations.conversation(org_id, cid).await?,
            None => None,
        };
        // Only a conversation still on this ticket goes back to the menu.
        let conversation = conversation.as_mut().filter(|c| c.ticket_id.as_deref() == Some(id)).map(|c| {
            c.state = BotState::MENU.to_string();
            c.ticket_id = None;
            c.updated_at = c.updated_at.max(now);
            c.version += 1;
            &*c
        });
        let audit = audit_of(by, "close", &before, &after, now);
        let write = TicketWrite { before: Some(&before), after: &after, message: None, conversation, daily_cap: None, audit: audit.as_ref() };
        ports.tickets.save_ticket(&write).await?;
        info!(ticket_id = id, org_id, status = after.status.as_str(), "support ticket closed");
        Ok(after)
    })
    .await?;
    let closed_key = format!("ticket.closed:{id}");
    let closed_at = ticket.resolved_at.unwrap_or(now);
    let conversation = match ticket.conversation_id.clone() {
        Some(cid) => ports.conversations.conversation(org_id, &cid).await?.map(|_| cid),
        None => None,
    };
    let Some(conversation_id) = conversation else {
        announce(ports.events, EventKind::TicketClosed, &ticket, closed_at, closed_key, json!({ "closing_message_id": null })).await;
        return Ok(Closed { ticket, closing_message_id: None, user_notification: "none" });
    };
    let texts = ports.bot.bot_settings(org_id).await?.map(|s| s.settings).unwrap_or_default().texts;
    let text = if ticket.status == TicketStatus::Closed { texts.ticket_closed } else { texts.ticket_resolved };
    let key = IdempotencyKey::internal(format!("ticket-closed:{id}"));
    let sent = queue_reply(
        ports.conversations,
        ports.messages,
        ports.outbox,
        NewReply {
            org_id,
            conversation_id: &conversation_id,
            content: OutboundContent::text(&text),
            sender: Sender { kind: SenderType::System, id: None, name: None },
            idempotency_key: Some(&key),
            now: closed_at,
            just_read: None,
        },
    )
    .await?;
    let entry = TicketMessage {
        id: sent.id.clone(),
        ticket_id: id.to_string(),
        org_id: org_id.to_string(),
        sender_type: TicketSenderType::System,
        sender_id: None,
        sender_name: None,
        text: text.clone(),
        kind: Some("text".into()),
        created_at: sent.created_at,
        conversation_id: Some(conversation_id),
        whatsapp_message_id: Some(sent.id.clone()),
        whatsapp_status: Some(sent.status),
    };
    let ticket = add_message(ports.tickets, org_id, id, &entry, |t| {
        t.note_message(sent.created_at, &text);
        Ok(())
    })
    .await?;
    announce(ports.events, EventKind::TicketClosed, &ticket, closed_at, closed_key, json!({ "closing_message_id": sent.id })).await;
    Ok(Closed { ticket, closing_message_id: Some(sent.id), user_notification: "queued" })
}

/// `PATCH`: priority and/or status. A status of `RESOLVED` or `CLOSED` closes the ticket the
/// way `close` does (the customer is told).
pub async fn update(
    ports: &SupportPorts<'_>,
    org_id: &str,
    id: &str,
    status: Option<TicketStatus>,
    priority: Option<TicketPriority>,
    external_ref: Option<Option<String>>,
    by: &Staff,
    now: DateTime<Utc>,
) -> Result<SupportTicket> {
    let external_ref = match external_ref {
        Some(Some(r)) => Some(Some(crate::domain::support::external_ref("external_ref", &r)?)),
        other => other,
    };
    let mut ticket = get(ports.tickets, org_id, id).await?;
    if let Some(r) = &external_ref {
        ticket = change_ticket(ports.tickets, org_id, id, by, "update", now, |t| Ok(t.set_external_ref(r.as_deref(), now))).await?.0;
    }
    if let Some(p) = priority {
        ticket = change_ticket(ports.tickets, org_id, id, by, "update", now, |t| t.set_priority(p, now)).await?.0;
    }
    match status {
        Some(s) if !s.is_active() => Ok(close(ports, org_id, id, s, by, now).await?.ticket),
        Some(s) => Ok(change_ticket(ports.tickets, org_id, id, by, "update", now, |t| t.set_status(s, now)).await?.0),
        None => Ok(ticket),
    }
}

/// Assigns the ticket to an admin (or unassigns it with `None`).
pub async fn assign(tickets: &dyn SupportStore, org_id: &str, id: &str, admin_id: Option<&str>, by: &Staff, now: DateTime<Utc>) -> Result<SupportTicket> {
    if admin_id.is_some_and(|a| a.trim().is_empty()) {
        return Err(Error::invalid("admin_id", "must be an admin id or null"));
    }
    Ok(change_ticket(tickets, org_id, id, by, "assign", now, |t| t.assign(admin_id, now)).await?.0)
}

// ------------------------------------------------------------------------------ searching

/// The ports of a ticket search: the tickets, and the customer a phone number belongs to.
pub struct TicketSearchPorts<'a> {
    pub tickets: &'a dyn SupportStore,
    pub customers: &'a dyn CustomerStore,
    pub links: &'a dyn CustomerContextReads,
}

/// What `GET /v1/admin/support/tickets?phone=` / `?external_ref=` look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketSearch {
    /// The customer writing from this WhatsApp number (E.164 digits): their tickets, with those
    /// of the customers linked into them.
    Phone(String),
    /// Tickets carrying this reference exactly.
    ExternalRef(String),
}

impl TicketSearch {
    /// Reads the search from the query's values; at most one of them (422 otherwise).
    pub fn from_query(phone: Option<&str>, external_ref: Option<&str>) -> Result<Option<Self>> {
        match (phone, external_ref) {
            (Some(_), Some(_)) => Err(Error::invalid("external_ref", "give phone or external_ref, not both")),
            (Some(p), None) => Ok(Some(TicketSearch::Phone(e164_digits("phone", p)?))),
            (None, Some(r)) => Ok(Some(TicketSearch::ExternalRef(crate::domain::support::external_ref("external_ref", r)?))),
            (None, None) => Ok(None),
        }
    }
}

/// The ids the search finds, newest first. No scan: the phone goes through the customer's
/// WhatsApp identity to their partition's ticket links; a reference is one index partition.
async fn search_ids(ports: &TicketSearchPorts<'_>, org_id: &str, search: &TicketSearch) -> Result<Vec<String>> {
    let mut ids = match search {
        TicketSearch::ExternalRef(r) => ports.tickets.ticket_ids_by_external_ref(org_id, r).await?,
        TicketSearch::Phone(p) => {
            let Some(identity) = ports.customers.whatsapp_identity(org_id, p).await? else { return Ok(Vec::new()) };
            let Some(links) = ports.links.customer_links(org_id, &identity.customer_id).await? else { return Ok(Vec::new()) };
            let mut ids = links.ticket_ids;
            let merged = futures::future::try_join_all(links.customer.merged_customers.iter().map(|c| ports.links.customer_links(org_id, c))).await?;
            ids.extend(merged.into_iter().flatten().flat_map(|l| l.ticket_ids));
            ids
        }
    };
    // Ids are ULIDs: descending is newest first.
    ids.sort_by(|a, b| b.cmp(a));
    ids.dedup();
    Ok(ids)
}

/// A search's page, newest first, with the filter's total over the tickets found. Bounded by
/// what the search finds (one customer's or one reference's tickets): they are read in batches
/// of 100 and filtered here.
pub async fn search(ports: &TicketSearchPorts<'_>, org_id: &str, search: &TicketSearch, filter: &TicketFilter, page: &PageRequest) -> Result<TicketList> {
    let before = page.cursor.as_deref().map(decode_search_cursor).transpose()?;
    let limit = page.limit.max(1) as usize;
    let ids = search_ids(ports, org_id, search).await?;
    let found = ports.tickets.tickets_by_id(org_id, &ids).await?;
    let matching: Vec<SupportTicket> = found.into_iter().filter(|t| filter.matches(t)).collect();
    let total = matching.len() as i64;
    let mut items: Vec<SupportTicket> = matching.into_iter().filter(|t| before.as_ref().is_none_or(|b| t.id < *b)).collect();
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more { items.last().map(|t| encode_search_cursor(&t.id)) } else { None };
    Ok(TicketList { items, next_cursor, total })
}

/// The same cursor as the ticket lists: the id the next page continues below, base64url.
fn encode_search_cursor(id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("before:{id}"))
}

fn decode_search_cursor(cursor: &str) -> Result<String> {
    use base64::Engine;
    let bad = || Error::invalid("cursor", "is not a cursor this list returned");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let id = text.strip_prefix("before:").ok_or_else(bad)?;
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(bad());
    }
    Ok(id.to_string())
}
