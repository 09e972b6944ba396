//! Routing (issue 13, `docs/sla.md`): a queued conversation of a team with auto-assignment goes to
//! the best eligible agent (`domain::routing`), in one conditional write that takes a place of
//! the agent's capacity; an agent who frees a place or comes online takes the longest waiting of
//! their teams' queues. It runs inline, in the use case that queued the conversation or freed the
//! place (inbound processing, `PATCH`, reopen, close, availability, the SLA scheduler's
//! escalation): one Query of the agents, and one transaction per assignment.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tracing::info;

use crate::domain::agent::Availability;
use crate::domain::audit::{AuditActor, AuditEntity};
use crate::domain::conversation::{Conversation, ConversationStatus};
use crate::domain::event::NewEvent;
use crate::domain::routing::{AssignedBy, CapacityChange, Hold, RoutingSettings, StoredRoutingSettings, TeamSource, assign, assignment_events, candidates};
use crate::error::Result;
use crate::ports::{AssignmentWrite, RoutingStore, TeamStore};

/// What routing needs: the queues and the assignment's write, and the teams and agents.
#[derive(Clone, Copy)]
pub struct RoutingPorts<'a> {
    pub routing: &'a dyn RoutingStore,
    pub teams: &'a dyn TeamStore,
}

/// The organisation's routing settings: saved ones, or the defaults (every source sets teams).
pub async fn settings(teams: &dyn TeamStore, org_id: &str) -> Result<RoutingSettings> {
    Ok(teams.routing_settings(org_id).await?.map(|s| s.settings).unwrap_or_default())
}

/// `PUT /v1/routing/settings` (admins): validated, then stored whole.
pub async fn save_settings(teams: &dyn TeamStore, org_id: &str, settings: RoutingSettings, by: &AuditActor, now: DateTime<Utc>) -> Result<RoutingSettings> {
    settings.validate()?;
    let before = teams.routing_settings(org_id).await?;
    let stored = StoredRoutingSettings { org_id: org_id.to_string(), settings, updated_at: now, updated_by: by.user_id.clone() };
    let audit = by.change(now, org_id, (AuditEntity::Settings, "routing"), "update", &["settings"], before.as_ref(), Some(&stored));
    teams.put_routing_settings(&stored, audit.as_ref()).await?;
    Ok(stored.settings)
}

/// Whether `source` may set the team of the organisation's conversations (one read of the
/// settings, made only where a source is about to set one).
pub async fn team_source_allowed(teams: &dyn TeamStore, org_id: &str, source: TeamSource) -> Result<bool> {
    Ok(settings(teams, org_id).await?.allows(source))
}

/// Times a conversation changed under routing before it gives up (it stays queued, and the next
/// agent freeing a place takes it).
const CONVERSATION_ATTEMPTS: usize = 8;
/// Conversations of each queue an agent freeing places looks at beyond the places they have.
const QUEUE_LOOKAHEAD: usize = 20;

/// Assigns `conversation` if it is queued in a team with auto-assignment and an eligible agent
/// has a place (`excluded`: an agent not to give it back to, the one who just left it). Returns
/// the conversation as it now stands: assigned, or still queued.
pub async fn route(ports: &RoutingPorts<'_>, conversation: Conversation, excluded: Option<&str>, now: DateTime<Utc>) -> Result<Conversation> {
    let mut c = conversation;
    let Some(team_id) = c.team_id.clone().filter(|_| c.status == ConversationStatus::Queued) else { return Ok(c) };
    let Some(team) = ports.teams.team(&c.org_id, &team_id).await? else { return Ok(c) };
    if !team.auto_assign {
        return Ok(c);
    }
    let agents = ports.teams.agents(&c.org_id).await?;
    let mut refused: HashSet<String> = excluded.map(str::to_string).into_iter().collect();
    let mut changed = 0;
    loop {
        let Some(agent) = candidates(&agents, &team_id, &c.required_skills).into_iter().find(|a| !refused.contains(&a.id)) else {
            info!(org_id = c.org_id, conversation_id = c.id, team_id, "no agent free: stays queued");
            return Ok(c);
        };
        let (next, changes, events) = routed(&c, &agent.id, now);
        match ports.routing.save_assignment(&next, &changes, &events).await? {
            AssignmentWrite::Stored => {
                info!(org_id = c.org_id, conversation_id = c.id, agent_id = agent.id, "conversation routed");
                return Ok(next);
            }
            // Full or gone offline since the agents were read: the next one.
            AssignmentWrite::AgentUnavailable(_) => {
                refused.insert(agent.id.clone());
            }
            AssignmentWrite::ConversationChanged => {
                changed += 1;
                let Some(fresh) = ports.routing.conversation_for_routing(&c.org_id, &c.id).await? else { return Ok(c) };
                if changed >= CONVERSATION_ATTEMPTS || fresh.status != ConversationStatus::Queued || fresh.team_id.as_deref() != Some(&team_id) {
                    return Ok(fresh);
                }
                c = fresh;
            }
        }
    }
}

/// The agent has places (they came online, or closed or left a conversation): they take the
/// longest waiting conversations of their teams' queues (teams with auto-assignment, the
/// conversations whose skills they have), as many as they have places. `excluded`: a
/// conversation not to take back (the one they just left). Returns the conversations assigned.
pub async fn agent_freed(ports: &RoutingPorts<'_>, org_id: &str, agent_id: &str, excluded: Option<&str>, now: DateTime<Utc>) -> Result<Vec<Conversation>> {
    let Some(agent) = ports.teams.agent(org_id, agent_id).await? else { return Ok(Vec::new()) };
    let room = usize::try_from(i64::from(agent.capacity) - agent.open_count).unwrap_or(0);
    if agent.availability != Availability::Online || room == 0 {
        return Ok(Vec::new());
    }
    let mut waiting = Vec::new();
    for team_id in &agent.team_ids {
        if ports.teams.team(org_id, team_id).await?.is_some_and(|t| t.auto_assign) {
            waiting.extend(ports.routing.team_queue(org_id, team_id, room + QUEUE_LOOKAHEAD).await?);
        }
    }
    // The longest waiting first across the agent's teams (each queue is in that order already).
    waiting.sort_by(|a, b| (a.last_message_at, &a.id).cmp(&(b.last_message_at, &b.id)));
    let mut assigned = Vec::new();
    for c in waiting {
        if assigned.len() >= room {
            break;
        }
        let team_id = c.team_id.clone().unwrap_or_default();
        if excluded == Some(c.id.as_str()) || !c.required_skills.iter().all(|s| agent.skills.contains_key(s)) || !agent.team_ids.contains(&team_id) {
            continue;
        }
        let (next, changes, events) = routed(&c, &agent.id, now);
        match ports.routing.save_assignment(&next, &changes, &events).await? {
            AssignmentWrite::Stored => {
                info!(org_id, conversation_id = next.id, agent_id, "queued conversation taken by a freed agent");
                assigned.push(next);
            }
            // Full (a concurrent assignment) or no longer online: nothing more for them.
            AssignmentWrite::AgentUnavailable(_) => break,
            // Taken or changed meanwhile (the queue is read from an index): the next one.
            AssignmentWrite::ConversationChanged => {}
        }
    }
    Ok(assigned)
}

/// `c` routed to `agent_id` within the agent's capacity: its next version, the counters to move
/// and the events, for one `save_assignment`.
fn routed(c: &Conversation, agent_id: &str, now: DateTime<Utc>) -> (Conversation, Vec<CapacityChange>, Vec<NewEvent>) {
    let mut next = c.clone();
    let changes = assign(&mut next, Some(agent_id), Hold::WithinCapacity, now);
    next.updated_at = now;
    next.version += 1;
    let events = assignment_events(&next, c.assignee_id.as_deref(), AssignedBy::Routing, now);
    (next, changes, events)
}
