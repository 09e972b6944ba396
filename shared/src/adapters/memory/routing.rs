//! Routing in memory (`ports::RoutingStore`), with the DynamoDB adapter's conditions: the
//! conversation over its version, a take within capacity only while the agent is online below
//! capacity, every counter moved (and the agent's version with it) with the events, or nothing.

use async_trait::async_trait;

use super::{MemoryStore, State, key, sort_time};
use crate::domain::agent::Availability;
use crate::domain::conversation::{Conversation, ConversationStatus};
use crate::domain::event::NewEvent;
use crate::domain::routing::CapacityChange;
use crate::error::Result;
use crate::ports::{AssignmentWrite, RoutingStore};

impl State {
    /// The first change whose condition fails (`agent_exists` for a release or a take over
    /// capacity; online and below capacity for a take within it), as DynamoDB's transaction would.
    pub(super) fn refused_change(&self, changes: &[CapacityChange]) -> Option<String> {
        changes
            .iter()
            .find(|ch| {
                let agent = self.agents.get(&key(&ch.org_id, &ch.agent_id));
                match agent {
                    None => true,
                    Some(a) => ch.within_capacity && !(a.availability == Availability::Online && a.open_count < i64::from(a.capacity)),
                }
            })
            .map(|ch| ch.agent_id.clone())
    }

    /// Moves the counters (checked first with `refused_change`).
    pub(super) fn apply_changes(&mut self, changes: &[CapacityChange]) {
        for ch in changes {
            if let Some(a) = self.agents.get_mut(&key(&ch.org_id, &ch.agent_id)) {
                a.open_count += ch.delta;
                a.version += 1;
                if ch.delta > 0 {
                    a.last_assigned_at = Some(ch.at);
                }
            }
        }
    }
}

#[async_trait]
impl RoutingStore for MemoryStore {
    async fn team_queue(&self, org_id: &str, team_id: &str, limit: usize) -> Result<Vec<Conversation>> {
        let st = self.read("team_queue")?;
        // gsi3 `ORG#{org}#CONVS#QUEUE#{team}` / `{last_message_at}#{id}`, ascending.
        let mut queued: Vec<(String, Conversation)> = st
            .conversations
            .values()
            .filter(|c| c.org_id == org_id && c.status == ConversationStatus::Queued && c.assignee_id.is_none() && c.team_id.as_deref() == Some(team_id))
            .map(|c| (format!("{}#{}", sort_time(c.last_message_at), c.id), c.clone()))
            .collect();
        queued.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(queued.into_iter().take(limit).map(|(_, c)| c).collect())
    }

    async fn conversation_for_routing(&self, org_id: &str, conversation_id: &str) -> Result<Option<Conversation>> {
        Ok(self.read("conversation_for_routing")?.conversations.get(&key(org_id, conversation_id)).cloned())
    }

    async fn save_assignment(&self, conversation: &Conversation, changes: &[CapacityChange], events: &[NewEvent]) -> Result<AssignmentWrite> {
        let mut st = self.write("save_assignment")?;
        let recorded_before = events.iter().any(|e| e.dedupe_key.as_ref().is_some_and(|k| st.event_keys.contains_key(&key(&e.org_id, k))));
        if !st.conversation_fits(conversation) || recorded_before {
            return Ok(AssignmentWrite::ConversationChanged);
        }
        if let Some(agent) = st.refused_change(changes) {
            return Ok(AssignmentWrite::AgentUnavailable(agent));
        }
        st.put_conversation(conversation);
        st.apply_changes(changes);
        for event in events {
            st.record_event_with(event);
        }
        Ok(AssignmentWrite::Stored)
    }
}
