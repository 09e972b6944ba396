//! The agent's view of conversations: list, read, assign, close, reopen.

use chrono::{DateTime, Utc};

use crate::domain::conversation::{CloseReason, Conversation, ConversationStatus};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::app::sla::SlaPorts;
use crate::domain::sla::Priority;
use crate::app::routing::RoutingPorts;
use crate::domain::routing::{self, AssignedBy, Hold, TeamSource, assignment_events};
use crate::ports::{AssignmentWrite, ConversationStore, Written};

pub async fn get(store: &dyn ConversationStore, org_id: &str, id: &str) -> Result<Conversation> {
    store.conversation(org_id, id).await?.ok_or(Error::NotFound("conversation"))
}

/// Assigns the conversation by hand (`None` unassigns it), over the version read. An agent of a
/// team's conversation is counted against their capacity: a full (or not online) agent is 409
/// unless `over_capacity` (admins may exceed it). The place given back, or a conversation left
/// in its queue, is routed again at once (never back to the one who left it).
pub async fn assign(ports: &RoutingPorts<'_>, org_id: &str, id: &str, assignee_id: Option<&str>, over_capacity: bool, now: DateTime<Utc>) -> Result<Conversation> {
    let hold = match assignee_id {
        Some(a) if ports.teams.agent(org_id, a).await?.is_some() => if over_capacity { Hold::OverCapacity } else { Hold::WithinCapacity },
        _ => Hold::NotCounted,
    };
    let (c, before, released) = retry_lost_updates("conversation", |_| async move {
        let mut c = ports.routing.conversation_for_routing(org_id, id).await?.ok_or(Error::NotFound("conversation"))?;
        let before = c.assignee_id.clone();
        let held = c.holds_capacity_of.clone();
        let changes = routing::assign(&mut c, assignee_id, hold, now);
        c.updated_at = now;
        c.version += 1;
        let events = assignment_events(&c, before.as_deref(), AssignedBy::Manual, now);
        match ports.routing.save_assignment(&c, &changes, &events).await? {
            AssignmentWrite::Stored => {
                let released = held.filter(|h| c.holds_capacity_of.as_ref() != Some(h));
                Ok((c, before, released))
            }
            AssignmentWrite::ConversationChanged => Err(Error::LostUpdate("conversation")),
            AssignmentWrite::AgentUnavailable(agent) => Err(Error::conflict(format!("agent {agent} is at capacity or not online (an admin may assign over capacity)"), "at_capacity")),
        }
    })
    .await?;
    let c = crate::app::routing::route(ports, c, before.as_deref(), now).await?;
    if let Some(agent) = released {
        crate::app::routing::agent_freed(ports, org_id, &agent, Some(&c.id), now).await?;
    }
    Ok(c)
}

/// Closes an open conversation. Closing a closed one again is harmless. The place it held of
/// its agent's capacity is given back in the close's write, and the agent takes the longest
/// waiting conversation of their teams.
pub async fn close(store: &dyn ConversationStore, routing: &RoutingPorts<'_>, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<Conversation> {
    let (closed, released) = retry_lost_updates("conversation", |_| async move {
        let mut c = get(store, org_id, id).await?;
        if c.status == ConversationStatus::Closed {
            return Ok((c, None));
        }
        // The store writes the conversation as given, closed: its clocks stopped with it.
        c.close_reason = Some(CloseReason::Agent);
        c.closing(now);
        store.close(&c, now).await?;
        Ok((get(store, org_id, id).await?, c.holds_capacity_of.clone()))
    })
    .await?;
    if let Some(agent) = released {
        crate::app::routing::agent_freed(routing, org_id, &agent, None, now).await?;
    }
    Ok(closed)
}

/// The body of `POST /v1/conversations/{id}/close` (optional: no body closes it alone).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseConversation {
    /// Completes the conversation's open interaction with this outcome (free text, as
    /// `POST /v1/interactions/{id}/complete` takes it: `success`, `no_answer`, …), which creates
    /// its next step as a completion does.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub outcome: Option<String>,
    /// Only with `outcome`.
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub outcome_details: Option<String>,
}

/// What a close with an outcome did: the conversation, and the interaction it completed (none
/// when the conversation has no open interaction from before its close).
#[derive(Debug, Clone)]
pub struct Closed {
    pub conversation: Conversation,
    pub completed: Option<crate::domain::interaction::Interaction>,
}

/// Closes the conversation (as [`close`]) and, with an `outcome`, completes its open interaction:
/// the one tied to it (`conversation_id`) created before the close, soonest due first. The
/// outcome is checked before anything is written (422 naming the field). Idempotent: a retry
/// after a failure between the two completes it then; a second close finds it completed, and a
/// next step (created after the close, even tied to the same conversation) is never completed
/// by it.
pub async fn close_with_outcome(
    store: &dyn ConversationStore,
    routing: &RoutingPorts<'_>,
    interactions: &crate::app::interactions::InteractionPorts<'_>,
    org_id: &str,
    id: &str,
    request: &CloseConversation,
    now: DateTime<Utc>,
) -> Result<Closed> {
    let completion = match &request.outcome {
        Some(outcome) => {
            let completion = crate::domain::interaction::Completion { outcome: outcome.clone(), outcome_details: request.outcome_details.clone() };
            completion.validate()?;
            Some(completion)
        }
        None if request.outcome_details.is_some() => return Err(Error::invalid("outcome_details", "only with an outcome")),
        None => None,
    };
    let conversation = close(store, routing, org_id, id, now).await?;
    let Some(completion) = completion else { return Ok(Closed { conversation, completed: None }) };
    let closed_at = conversation.closed_at.unwrap_or(now);
    let page = crate::ports::PageRequest { limit: 100, cursor: None };
    let open = interactions.interactions.open_interactions(org_id, &conversation.customer_id, None, &page).await?;
    let Some(tied) = open.items.into_iter().find(|i| i.conversation_id.as_deref() == Some(id) && i.created_at < closed_at) else {
        return Ok(Closed { conversation, completed: None });
    };
    match crate::app::interactions::complete(interactions, org_id, &tied.id, &completion, now).await {
        Ok(done) => Ok(Closed { conversation, completed: Some(done) }),
        // Completed meanwhile (a racing close or complete): one completion, already made.
        Err(Error::Conflict { .. }) => Ok(Closed { conversation, completed: None }),
        Err(e) => Err(e),
    }
}

/// Reopens a closed conversation, unless the customer has since started another one. In a team
/// it goes back to the team's queue (its agent may be away by now) and is routed again.
pub async fn reopen(store: &dyn ConversationStore, routing: &RoutingPorts<'_>, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<Conversation> {
    let reopened = retry_lost_updates("conversation", |_| async move {
        let mut c = get(store, org_id, id).await?;
        if c.status.is_open() {
            return Ok(c);
        }
        c.close_reason = None;
        if c.team_id.is_some() {
            c.assignee_id = None;
        }
        match store.reopen(&c, now).await? {
            Written::Stored => get(store, org_id, id).await,
            Written::AlreadyThere => Err(Error::conflict("the customer has another open conversation on this number", "closed")),
        }
    })
    .await?;
    crate::app::routing::route(routing, reopened, None, now).await
}

/// `PATCH /v1/conversations/{id}` (supervisors and admins): the team, priority and required
/// skills given change; `null` clears the team. A new team or priority evaluates the SLA policy
/// again. The team must be the organisation's (422 naming `team_id`).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationEdit {
    #[serde(default, deserialize_with = "crate::domain::interaction::present")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$", nullable)]
    pub team_id: Option<Option<String>>,
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Skill names (lower-cased; 1–50 letters, digits, `_`, `-`).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub required_skills: Option<Vec<String>>,
}

pub async fn update(sla: &SlaPorts<'_>, routing: &RoutingPorts<'_>, org_id: &str, id: &str, edit: &ConversationEdit, now: DateTime<Utc>) -> Result<Conversation> {
    change(sla, routing, org_id, id, edit, TeamSource::Agent, now).await
}

/// The edit made by `source` (a supervisor's `PATCH`, a bot menu entry): a team is set only while
/// the organisation's routing settings let `source` set teams (422 naming `team_id` otherwise).
pub async fn change(sla: &SlaPorts<'_>, routing: &RoutingPorts<'_>, org_id: &str, id: &str, edit: &ConversationEdit, source: TeamSource, now: DateTime<Utc>) -> Result<Conversation> {
    if edit.team_id.is_some() && !crate::app::routing::team_source_allowed(sla.teams, org_id, source).await? {
        return Err(Error::invalid("team_id", format!("the organisation's routing settings do not let {} set teams", source.as_str())));
    }
    if let Some(Some(team)) = &edit.team_id
        && sla.teams.team(org_id, team).await?.is_none()
    {
        return Err(Error::invalid("team_id", "no such team in the organisation"));
    }
    let skills = edit.required_skills.as_ref().map(|s| crate::domain::agent::skill_names(s, "required_skills")).transpose()?;
    let skills = &skills;
    let (c, released) = retry_lost_updates("conversation", |_| async move {
        let mut c = routing.routing.conversation_for_routing(org_id, id).await?.ok_or(Error::NotFound("conversation"))?;
        let before = (c.team_id.clone(), c.priority);
        let assignee = c.assignee_id.clone();
        let held = c.holds_capacity_of.clone();
        let mut changes = Vec::new();
        if let Some(team) = &edit.team_id
            && *team != c.team_id
        {
            // Another team's queue: its own agents take it (the agent it had is of the old one).
            c.team_id = team.clone();
            changes = routing::assign(&mut c, None, Hold::NotCounted, now);
        }
        if let Some(priority) = edit.priority {
            c.priority = priority;
        }
        if let Some(skills) = skills {
            c.required_skills = skills.clone();
        }
        c.settle_status();
        if before != (c.team_id.clone(), c.priority) {
            crate::app::sla::reevaluate(sla, &mut c, now).await?;
        }
        c.updated_at = now;
        c.version += 1;
        let events = assignment_events(&c, assignee.as_deref(), AssignedBy::Manual, now);
        match routing.routing.save_assignment(&c, &changes, &events).await? {
            AssignmentWrite::Stored => {
                let released = held.filter(|h| c.holds_capacity_of.as_ref() != Some(h));
                Ok((c, released))
            }
            _ => Err(Error::LostUpdate("conversation")),
        }
    })
    .await?;
    let c = crate::app::routing::route(routing, c, None, now).await?;
    if let Some(agent) = released {
        crate::app::routing::agent_freed(routing, org_id, &agent, Some(&c.id), now).await?;
    }
    Ok(c)
}
