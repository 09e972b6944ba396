//! Canned responses: the agent's quick replies, kept per organisation, team or agent; rendered
//! for a conversation from what MAX knows; sent as a reply that counts one use. Decisions:
//! `docs/canned-responses.md`.
//!
//! A response another agent keeps for themselves is, for everyone else, not there (404), as
//! another organisation's is.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::app::delivery::{NewReply, accepts_replies, queue_reply};
use crate::domain::audit::{AuditActor, AuditEntity, AuditEntry};
use crate::domain::canned::{
    self, AGENT_NAME, CONVERSATION_ID, CUSTOMER_NAME, CUSTOMER_PHONE, CannedEdit, CannedInput, CannedResponse, MAX_RESPONSES_PER_ORG,
    Rendered, TICKET_ID,
};
use crate::domain::conversation::Conversation;
use crate::domain::ids::{IdempotencyKey, new_id};
use crate::domain::message::{Message, Sender, SenderType};
use crate::domain::outbound::OutboundContent;
use crate::domain::support::TicketStatus;
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{CannedResponseStore, CannedSaved, ConversationStore, CustomerStore, MessageStore, Outbox, SupportStore, Written};

/// Who is asking, as the use cases need it.
#[derive(Debug, Clone)]
pub struct Author<'a> {
    pub org_id: &'a str,
    pub user_id: &'a str,
    /// The caller's name (the `agent_name` variable).
    pub name: Option<&'a str>,
    /// Supervisors and admins manage the organisation's and teams' responses; agents only their
    /// own personal ones.
    pub manages_shared: bool,
    /// The role the caller's token gives, for the audit trail.
    pub role: &'a str,
}

impl Author<'_> {
    fn audit(&self, now: DateTime<Utc>, id: &str, operation: &str, before: Option<&CannedResponse>, after: Option<&CannedResponse>) -> Option<AuditEntry> {
        let by = AuditActor { user_id: self.user_id.to_string(), role: self.role.to_string() };
        by.change(now, self.org_id, (AuditEntity::CannedResponse, id), operation, &AUDITED_FIELDS, before, after)
    }
}

/// What the audit trail records of a canned response (not its usage count).
const AUDITED_FIELDS: [&str; 7] = ["shortcut", "title", "content", "category", "team_id", "owner_id", "attachments"];

/// The ports rendering needs: the response, the conversation, its customer and ticket.
pub struct CannedPorts<'a> {
    pub canned: &'a dyn CannedResponseStore,
    pub conversations: &'a dyn ConversationStore,
    pub customers: &'a dyn CustomerStore,
    pub support: &'a dyn SupportStore,
}

/// Sending also queues the reply.
pub struct SendPorts<'a> {
    pub canned: CannedPorts<'a>,
    pub messages: &'a dyn MessageStore,
    pub outbox: &'a dyn Outbox,
}

/// `GET /v1/canned-responses`.
#[derive(Debug, Clone, Default)]
pub struct CannedQuery {
    pub q: Option<String>,
    pub category: Option<String>,
    pub team_id: Option<String>,
    pub limit: usize,
}

fn may_change(author: &Author<'_>, r: &CannedResponse) -> Result<()> {
    if r.owner_id.is_none() && !author.manages_shared {
        return Err(Error::Forbidden("agents may change only their personal canned responses".into()));
    }
    Ok(())
}

fn taken(shortcut: &str) -> Error {
    Error::conflict(format!("shortcut: {shortcut} is already another canned response's in this scope"), "shortcut_taken")
}

/// The response, if the caller may see it.
pub async fn get(store: &dyn CannedResponseStore, author: &Author<'_>, id: &str) -> Result<CannedResponse> {
    store
        .canned_response(author.org_id, id)
        .await?
        .filter(|r| r.visible_to(author.user_id))
        .ok_or(Error::NotFound("canned response"))
}

pub async fn create(store: &dyn CannedResponseStore, author: &Author<'_>, input: CannedInput, now: DateTime<Utc>) -> Result<CannedResponse> {
    if !input.personal && !author.manages_shared {
        return Err(Error::Forbidden("agents may create personal canned responses only (`personal: true`)".into()));
    }
    let response = CannedResponse::create(new_id(now), author.org_id, author.user_id, input, now)?;
    // The bound that keeps the list one Query (read before writing: a race may pass it by one or two).
    if store.canned_responses(author.org_id).await?.len() >= MAX_RESPONSES_PER_ORG {
        return Err(Error::conflict(format!("the organisation has {MAX_RESPONSES_PER_ORG} canned responses, the most it may keep"), "full"));
    }
    let audit = author.audit(now, &response.id, "create", None, Some(&response));
    match store.create_canned_response(&response, audit.as_ref()).await? {
        CannedSaved::Stored | CannedSaved::AlreadyThere => Ok(response),
        CannedSaved::ShortcutTaken => Err(taken(&response.shortcut)),
    }
}

/// The responses the caller sees matching the query: most used first, then by shortcut.
pub async fn list(store: &dyn CannedResponseStore, author: &Author<'_>, query: &CannedQuery) -> Result<Vec<CannedResponse>> {
    let mut found: Vec<CannedResponse> = store
        .canned_responses(author.org_id)
        .await?
        .into_iter()
        .filter(|r| r.visible_to(author.user_id))
        .filter(|r| r.in_team(query.team_id.as_deref()))
        .filter(|r| query.category.as_ref().is_none_or(|c| r.category.as_ref().is_some_and(|own| own.eq_ignore_ascii_case(c))))
        .filter(|r| query.q.as_deref().is_none_or(|q| r.matches(q)))
        .collect();
    canned::most_used_first(&mut found);
    found.truncate(query.limit);
    Ok(found)
}

pub async fn edit(store: &dyn CannedResponseStore, author: &Author<'_>, id: &str, edit: CannedEdit, now: DateTime<Utc>) -> Result<CannedResponse> {
    let (edit, author) = (&edit, author);
    retry_lost_updates("canned response", |_| async move {
        let before = get(store, author, id).await?;
        may_change(author, &before)?;
        let after = before.edited(edit.clone(), now)?;
        let audit = author.audit(now, id, "update", Some(&before), Some(&after));
        match store.save_canned_response(&before, &after, audit.as_ref()).await? {
            CannedSaved::ShortcutTaken => Err(taken(&after.shortcut)),
            _ => Ok(CannedResponse { usage_count: before.usage_count, ..after }),
        }
    })
    .await
}

pub async fn delete(store: &dyn CannedResponseStore, author: &Author<'_>, id: &str, now: DateTime<Utc>) -> Result<()> {
    retry_lost_updates("canned response", |_| async move {
        let response = get(store, author, id).await?;
        may_change(author, &response)?;
        let audit = author.audit(now, id, "delete", Some(&response), None);
        store.delete_canned_response(&response, audit.as_ref()).await
    })
    .await
}

/// What MAX knows for the variables: the caller's name and, with a conversation, its id, its
/// customer's name and phone and its open support ticket.
async fn known_values(ports: &CannedPorts<'_>, author: &Author<'_>, conversation: Option<&Conversation>) -> Result<BTreeMap<String, String>> {
    let mut known = BTreeMap::new();
    if let Some(name) = author.name.filter(|n| !n.trim().is_empty()) {
        known.insert(AGENT_NAME.to_string(), name.to_string());
    }
    let Some(c) = conversation else { return Ok(known) };
    known.insert(CONVERSATION_ID.to_string(), c.id.clone());
    if let Some(customer) = ports.customers.customer(c.org_id.as_str(), &c.customer_id).await? {
        if let Some(name) = customer.name.filter(|n| !n.trim().is_empty()) {
            known.insert(CUSTOMER_NAME.to_string(), name);
        }
        if let Some(phone) = customer.phone.filter(|p| !p.trim().is_empty()) {
            known.insert(CUSTOMER_PHONE.to_string(), phone);
        }
    }
    if let Some(ticket_id) = &c.ticket_id
        && let Some(ticket) = ports.support.ticket(&c.org_id, ticket_id).await?
        && TicketStatus::ACTIVE.contains(&ticket.status)
    {
        known.insert(TICKET_ID.to_string(), ticket.id);
    }
    Ok(known)
}

async fn conversation(ports: &CannedPorts<'_>, org_id: &str, id: &str) -> Result<Conversation> {
    ports.conversations.conversation(org_id, id).await?.ok_or(Error::NotFound("conversation"))
}

/// The response's text for the conversation (if any): what MAX knows filled in, the caller's
/// `values` filling the rest, and what is still missing.
pub async fn render(
    ports: &CannedPorts<'_>,
    author: &Author<'_>,
    id: &str,
    conversation_id: Option<&str>,
    values: &BTreeMap<String, String>,
) -> Result<Rendered> {
    canned::check_values(values)?;
    let response = get(ports.canned, author, id).await?;
    let conversation = match conversation_id {
        Some(c) => Some(conversation(ports, author.org_id, c).await?),
        None => None,
    };
    let known = known_values(ports, author, conversation.as_ref()).await?;
    canned::render(&response.content, &canned::fill(known, values))
}

/// Sends the canned response to the conversation's customer: its text rendered (422 naming the
/// first missing variable as `values.{name}`: nothing is sent with a `{{…}}` or a gap), then
/// each attachment as a further message. The use is counted once per text message, so a retry
/// with the same `Idempotency-Key` (which finds the first message) counts nothing more, and one
/// whose first attempt failed after queuing counts it then.
pub async fn send(
    ports: &SendPorts<'_>,
    author: &Author<'_>,
    conversation_id: &str,
    canned_id: &str,
    values: &BTreeMap<String, String>,
    key: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
) -> Result<Message> {
    canned::check_values(values)?;
    let response = get(ports.canned.canned, author, canned_id).await?;
    let conversation = conversation(&ports.canned, author.org_id, conversation_id).await?;
    accepts_replies(&conversation)?;
    let known = known_values(&ports.canned, author, Some(&conversation)).await?;
    let rendered = canned::render(&response.content, &canned::fill(known, values))?;
    if let Some(first) = rendered.missing.first() {
        return Err(Error::invalid(format!("values.{first}"), format!("is needed by {} and MAX does not know it", response.shortcut)));
    }
    let sender = Sender { kind: SenderType::Agent, id: Some(author.user_id.to_string()), name: author.name.map(str::to_string) };
    let first = queue_reply(
        ports.canned.conversations,
        ports.messages,
        ports.outbox,
        NewReply {
            org_id: author.org_id,
            conversation_id,
            content: OutboundContent::text(rendered.text),
            sender: sender.clone(),
            idempotency_key: key,
            now,
            just_read: Some(&conversation),
        },
    )
    .await?;
    for (i, attachment) in response.attachments.iter().enumerate() {
        // Each attachment is its own message, keyed apart so a retry finds each one again.
        let attachment_key = key.map(|k| k.renamed(format!("{}#attachment-{i}", k.key)));
        let reply = NewReply {
            org_id: author.org_id,
            conversation_id,
            content: attachment.content(),
            sender: sender.clone(),
            idempotency_key: attachment_key.as_ref(),
            // A millisecond apart each: ids carry their time, so the conversation lists them
            // after the text, in order.
            now: now + chrono::Duration::milliseconds(i as i64 + 1),
            just_read: None,
        };
        queue_reply(ports.canned.conversations, ports.messages, ports.outbox, reply).await?;
    }
    match ports.canned.canned.count_canned_use(author.org_id, canned_id, &first.id, now).await {
        Ok(Written::Stored | Written::AlreadyThere) => {}
        // Deleted since it was read: the reply went, there is nothing left to count.
        Err(Error::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(first)
}
