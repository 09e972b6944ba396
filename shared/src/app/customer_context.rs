//! The customer context panel (`GET /v1/customers/{id}/context`, `docs/customer-context.md`):
//! everything an agent wants beside a conversation, in one answer from a handful of by-customer
//! reads, never a scan.
//!
//! Three reads at once — the customer's partition (the customer and the ids of their
//! conversations, tickets, actions and calls), their open interactions (soonest due first) and
//! their newest transactions — then one batch read of the most recent conversations, tickets,
//! actions (with their answers) and calls. Each section holds the most recent [`RECENT`]; the
//! panel links to the full lists.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::action::{Action, ActionResponse};
use crate::domain::call::Call;
use crate::domain::conversation::{CloseReason, Conversation, ConversationStatus};
use crate::domain::customer::Customer;
use crate::domain::interaction::Interaction;
use crate::domain::support::{SupportTicket, TicketStatus};
use crate::domain::transaction::Transaction;
use crate::error::{Error, Result};
use crate::ports::{CustomerContextReads, CustomerLinks, InteractionStore, LinkedIds, Page, PageRequest, TransactionStore};

/// Items per section: what a side panel shows before "see all". 10 conversations, tickets,
/// actions (+ their 10 answers) and calls are 50 keys, one BatchGetItem; 20 each (100 keys) made
/// the panel's p50 59 ms on the dev stack, over its 50 ms target (`docs/customer-context.md`).
pub const RECENT: usize = 10;

/// The ports the panel reads.
#[derive(Clone, Copy)]
pub struct ContextPorts<'a> {
    pub reads: &'a dyn CustomerContextReads,
    pub interactions: &'a dyn InteractionStore,
    pub transactions: &'a dyn TransactionStore,
}

/// A previous (or the current) conversation, as the panel lists it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ConversationSummary {
    pub id: String,
    pub channel: String,
    pub status: ConversationStatus,
    pub assignee_id: Option<String>,
    pub ticket_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
    pub last_message_preview: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<CloseReason>,
}

impl From<Conversation> for ConversationSummary {
    fn from(c: Conversation) -> Self {
        ConversationSummary {
            id: c.id,
            channel: c.channel,
            status: c.status,
            assignee_id: c.assignee_id,
            ticket_id: c.ticket_id,
            created_at: c.created_at,
            last_message_at: c.last_message_at,
            last_message_preview: c.last_message_preview,
            closed_at: c.closed_at,
            close_reason: c.close_reason,
        }
    }
}

/// The customer's open interactions, split by the clock.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InteractionsContext {
    /// The next one to come: the soonest due that is not overdue yet.
    pub next: Option<Interaction>,
    /// Open and due now or later, soonest first.
    pub pending: Vec<Interaction>,
    /// Open and due before now, longest overdue first.
    pub overdue: Vec<Interaction>,
    /// More open interactions than these exist (`GET /v1/interactions/customers/{id}/pending`).
    pub more: bool,
}

/// An action with how it ended: its decision (on the action) and its answer's delivery.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ActionOutcome {
    pub action: Action,
    /// The answer sent to the customer once decided, with its delivery status.
    pub answer: Option<ActionResponse>,
}

/// The NPS of the feedback calls listed.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NpsSummary {
    /// Calls listed with a score.
    pub answered: u32,
    /// The newest score.
    pub latest: Option<u8>,
    /// Their mean, to one decimal.
    pub average: Option<f64>,
}

/// `GET /v1/customers/{id}/context`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CustomerContext {
    /// The customer with their identities and tags (and `merged_into` once linked into another).
    pub customer: Customer,
    /// How many conversations the customer has had in all.
    pub conversation_count: usize,
    /// The most recent, newest activity first.
    pub conversations: Vec<ConversationSummary>,
    /// Open or in progress, among the most recent tickets; newest first.
    pub open_tickets: Vec<SupportTicket>,
    pub interactions: InteractionsContext,
    /// The most recent, newest first.
    pub actions: Vec<ActionOutcome>,
    /// The most recent feedback calls, newest first.
    pub feedback_calls: Vec<Call>,
    pub nps: NpsSummary,
    /// The newest by `occurred_at`.
    #[schema(value_type = Vec<crate::domain::transaction::TransactionShape>)]
    pub transactions: Vec<Transaction>,
    /// More transactions than these exist (`GET /v1/customers/{id}/transactions`).
    pub more_transactions: bool,
}

/// The last `n` of ids in time order: the most recent.
fn most_recent(ids: &[String], n: usize) -> Vec<String> {
    ids[ids.len().saturating_sub(n)..].iter().rev().cloned().collect()
}

/// The reads of one customer: their partition, open interactions and newest transactions.
async fn own_reads(
    ports: ContextPorts<'_>,
    org_id: &str,
    customer_id: &str,
) -> Result<(Option<CustomerLinks>, Page<Interaction>, Page<Transaction>)> {
    let first_page = PageRequest { limit: RECENT as i32, cursor: None };
    let (links, open, transactions) = futures::join!(
        ports.reads.customer_links(org_id, customer_id),
        ports.interactions.open_interactions(org_id, customer_id, None, &first_page),
        ports.transactions.transactions(org_id, customer_id, &first_page),
    );
    Ok((links?, open?, transactions?))
}

/// The customer's context; another organisation's customer (or none) is not found. A primary's
/// context holds the customers linked into it (`Customer::merged_customers`, at most
/// `customer_link::MAX_MERGED`): their conversations moved with the link; their tickets, actions,
/// calls, interactions and transactions stay theirs and are read beside the primary's.
pub async fn customer_context(ports: ContextPorts<'_>, org_id: &str, customer_id: &str, now: DateTime<Utc>) -> Result<CustomerContext> {
    let (links, mut open, mut transactions) = own_reads(ports, org_id, customer_id).await?;
    let links = links.ok_or(Error::NotFound("customer"))?;
    let mut all = links.clone();
    let merged = futures::future::try_join_all(links.customer.merged_customers.iter().map(|id| own_reads(ports, org_id, id))).await?;
    for (theirs, their_open, their_transactions) in merged {
        if let Some(theirs) = theirs {
            all.conversation_ids.extend(theirs.conversation_ids);
            all.ticket_ids.extend(theirs.ticket_ids);
            all.action_ids.extend(theirs.action_ids);
            all.call_ids.extend(theirs.call_ids);
        }
        open.items.extend(their_open.items);
        open.next_cursor = open.next_cursor.or(their_open.next_cursor);
        transactions.items.extend(their_transactions.items);
        transactions.next_cursor = transactions.next_cursor.or(their_transactions.next_cursor);
    }
    if !links.customer.merged_customers.is_empty() {
        // Ids are ULIDs: sorted, the lists are in time order again, as each partition gave them.
        for ids in [&mut all.conversation_ids, &mut all.ticket_ids, &mut all.action_ids, &mut all.call_ids] {
            ids.sort();
            ids.dedup();
        }
        open.items.sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.id.cmp(&b.id)));
        transactions.items.sort_by_key(|t| std::cmp::Reverse(t.list_key()));
        if open.items.len() > RECENT {
            open.items.truncate(RECENT);
            open.next_cursor.get_or_insert_default();
        }
        if transactions.items.len() > RECENT {
            transactions.items.truncate(RECENT);
            transactions.next_cursor.get_or_insert_default();
        }
    }
    let links = all;
    let wanted = LinkedIds {
        conversations: most_recent(&links.conversation_ids, RECENT),
        tickets: most_recent(&links.ticket_ids, RECENT),
        actions: most_recent(&links.action_ids, RECENT),
        calls: most_recent(&links.call_ids, RECENT),
    };
    let records = ports.reads.linked_records(org_id, &wanted).await?;

    let mut conversations: Vec<ConversationSummary> = records.conversations.into_iter().map(ConversationSummary::from).collect();
    conversations.sort_by(|a, b| b.last_message_at.cmp(&a.last_message_at).then_with(|| b.id.cmp(&a.id)));
    let mut open_tickets: Vec<SupportTicket> = records.tickets.into_iter().filter(|t| matches!(t.status, TicketStatus::Open | TicketStatus::InProgress)).collect();
    open_tickets.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
    let mut actions: Vec<ActionOutcome> = records.actions.into_iter().map(|(action, answer)| ActionOutcome { action, answer }).collect();
    actions.sort_by(|a, b| b.action.created_at.cmp(&a.action.created_at).then_with(|| b.action.id.cmp(&a.action.id)));
    let mut feedback_calls = records.calls;
    feedback_calls.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));

    let more = open.next_cursor.is_some();
    let (overdue, pending): (Vec<Interaction>, Vec<Interaction>) = open.items.into_iter().partition(|i| i.is_overdue(now));
    let interactions = InteractionsContext { next: pending.first().cloned(), pending, overdue, more };

    Ok(CustomerContext {
        customer: links.customer,
        conversation_count: links.conversation_ids.len(),
        conversations,
        open_tickets,
        interactions,
        actions,
        nps: nps_of(&feedback_calls),
        feedback_calls,
        more_transactions: transactions.next_cursor.is_some(),
        transactions: transactions.items,
    })
}

/// `calls` newest first.
fn nps_of(calls: &[Call]) -> NpsSummary {
    let scores: Vec<u8> = calls.iter().filter_map(|c| c.nps_score).collect();
    let average = (!scores.is_empty()).then(|| {
        let mean = scores.iter().map(|s| f64::from(*s)).sum::<f64>() / scores.len() as f64;
        (mean * 10.0).round() / 10.0
    });
    NpsSummary { answered: scores.len() as u32, latest: scores.first().copied(), average }
}
