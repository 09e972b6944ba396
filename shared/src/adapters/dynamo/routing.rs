//! DynamoDB for routing (`docs/sla.md`): a team's queue is gsi3 `ORG#o#CONVS#QUEUE#{team}`
//! (`{last_message_at}#{id}`, read ascending: the longest waiting first); an assignment is one
//! TransactWriteItems — the conversation over its version, each agent counter moved with
//! `ADD open_count :delta, version :one` (a take within capacity under
//! `availability = online AND open_count < capacity`), and the events.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{SecondsFormat, Utc};

use super::{DynamoStore, failed_condition, n, s};
use crate::domain::conversation::Conversation;
use crate::domain::event::NewEvent;
use crate::domain::routing::CapacityChange;
use crate::error::{Error, Result};
use crate::ports::{AssignmentWrite, PageRequest, RoutingStore};

impl DynamoStore {
    /// One conversation's write with the agent counters it moves and its events (numbered here:
    /// the numbers `first..=last` are the caller's to void if the transaction fails), for
    /// routing's assignments and the SLA scheduler's steps alike.
    pub(super) async fn conversation_move_items(
        &self,
        conversation: &Conversation,
        changes: &[CapacityChange],
        events: &[NewEvent],
        now: chrono::DateTime<Utc>,
    ) -> Result<(Vec<TransactWriteItem>, u64, u64)> {
        let count = events.len() as u64;
        let (first, last) = if count == 0 {
            (0, 0)
        } else {
            let last = self.take_event_seqs(&conversation.org_id, count).await?;
            (last + 1 - count, last)
        };
        let mut items = vec![self.conversation_put(conversation)?];
        for change in changes {
            items.push(self.capacity_op(change)?);
        }
        for (i, event) in events.iter().enumerate() {
            items.extend(self.event_ops(event, first + i as u64, now)?);
        }
        // The clocks a step ended (a breach's miss) are counted in the same write.
        items.extend(self.compliance_ops(conversation)?);
        Ok((items, first, last))
    }

    /// Writes one conversation's move (`conversation_move_items`) in one transaction, and voids
    /// the feed numbers it took when the transaction did not go through — refused, a conflict
    /// with another transaction, or an error — so the feed never waits on a gap for them.
    /// `Err(codes)`: the cancellation's per-item reasons.
    pub(super) async fn write_conversation_move(&self, conversation: &Conversation, changes: &[CapacityChange], events: &[NewEvent]) -> Result<Result<(), Vec<String>>> {
        let now = Utc::now();
        let (items, first, last) = self.conversation_move_items(conversation, changes, events, now).await?;
        let outcome = self.transact(items).await;
        if !matches!(outcome, Ok(Ok(()))) && !events.is_empty() {
            self.void_events(&conversation.org_id, first, last, now).await?;
        }
        outcome
    }

    /// The update moving one agent's counter (the agent's version too, so an edit of the agent
    /// read before it is a lost update rather than a counter put back).
    pub(super) fn capacity_op(&self, change: &CapacityChange) -> Result<TransactWriteItem> {
        let mut values = HashMap::from([(":delta".to_string(), n(change.delta)), (":one".to_string(), n(1))]);
        let mut names = HashMap::from([("#version".to_string(), "version".to_string())]);
        let mut expression = "ADD open_count :delta, #version :one".to_string();
        if change.delta > 0 {
            expression = format!("SET last_assigned_at = :at {expression}");
            values.insert(":at".into(), s(change.at.to_rfc3339_opts(SecondsFormat::AutoSi, true)));
        }
        let condition = if change.within_capacity {
            names.insert("#availability".into(), "availability".into());
            names.insert("#capacity".into(), "capacity".into());
            values.insert(":online".into(), s("online"));
            "#availability = :online AND (attribute_not_exists(open_count) OR open_count < #capacity)"
        } else {
            // Never create an agent out of a counter.
            "attribute_exists(pk)"
        };
        self.update_op(super::teams::keys::agent(&change.org_id, &change.agent_id), &expression, Some(condition), values, Some(names))
    }
}

#[async_trait]
impl RoutingStore for DynamoStore {
    async fn team_queue(&self, org_id: &str, team_id: &str, limit: usize) -> Result<Vec<Conversation>> {
        let page = PageRequest { limit: limit.clamp(1, 100) as i32, cursor: None };
        let page = self.query_page(Some("gsi3"), "gsi3pk", &super::keys::team_queue(org_id, team_id), None, None, true, &page).await?;
        Ok(page.items)
    }

    async fn conversation_for_routing(&self, org_id: &str, conversation_id: &str) -> Result<Option<Conversation>> {
        self.get_consistent(super::keys::conversation(org_id, conversation_id)).await
    }

    async fn save_assignment(&self, conversation: &Conversation, changes: &[CapacityChange], events: &[NewEvent]) -> Result<AssignmentWrite> {
        match self.write_conversation_move(conversation, changes, events).await {
            Ok(Ok(())) => Ok(AssignmentWrite::Stored),
            Ok(Err(codes)) => match changes.iter().enumerate().find(|(i, _)| failed_condition(&codes, i + 1)) {
                Some((_, change)) => Ok(AssignmentWrite::AgentUnavailable(change.agent_id.clone())),
                None => Ok(AssignmentWrite::ConversationChanged),
            },
            // Another transaction on one of the items at that moment: read again and retry.
            Err(Error::LostUpdate(_)) => Ok(AssignmentWrite::ConversationChanged),
            Err(e) => Err(e),
        }
    }
}
