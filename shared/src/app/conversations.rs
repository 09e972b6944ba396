//! The agent's view of conversations: list, read, assign, close, reopen.

use chrono::{DateTime, Utc};

use crate::domain::conversation::{CloseReason, Conversation, ConversationStatus};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::app::sla::SlaPorts;
use crate::domain::sla::Priority;
use crate::ports::{ConversationStore, Written};

pub async fn get(store: &dyn ConversationStore, org_id: &str, id: &str) -> Result<Conversation> {
    store.conversation(org_id, id).await?.ok_or(Error::NotFound("conversation"))
}

/// Assigns the conversation to an agent (`None` unassigns it), over the version read.
pub async fn assign(store: &dyn ConversationStore, org_id: &str, id: &str, assignee_id: Option<&str>, now: DateTime<Utc>) -> Result<Conversation> {
    retry_lost_updates("conversation", |_| async move {
        let mut c = get(store, org_id, id).await?;
        c.assignee_id = assignee_id.map(str::to_string);
        c.settle_status();
        c.updated_at = now;
        c.version += 1;
        store.save_conversation(&c).await?;
        Ok(c)
    })
    .await
}

/// Closes an open conversation. Closing a closed one again is harmless.
pub async fn close(store: &dyn ConversationStore, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<Conversation> {
    retry_lost_updates("conversation", |_| async move {
        let mut c = get(store, org_id, id).await?;
        if c.status == ConversationStatus::Closed {
            return Ok(c);
        }
        // The store writes the conversation as given, closed: its clocks stopped with it.
        c.close_reason = Some(CloseReason::Agent);
        c.closing(now);
        store.close(&c, now).await?;
        get(store, org_id, id).await
    })
    .await
}

/// Reopens a closed conversation, unless the customer has since started another one.
pub async fn reopen(store: &dyn ConversationStore, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<Conversation> {
    retry_lost_updates("conversation", |_| async move {
        let mut c = get(store, org_id, id).await?;
        if c.status.is_open() {
            return Ok(c);
        }
        c.close_reason = None;
        match store.reopen(&c, now).await? {
            Written::Stored => get(store, org_id, id).await,
            Written::AlreadyThere => Err(Error::conflict("the customer has another open conversation on this number", "closed")),
        }
    })
    .await
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

pub async fn update(conversations: &dyn ConversationStore, sla: &SlaPorts<'_>, org_id: &str, id: &str, edit: &ConversationEdit, now: DateTime<Utc>) -> Result<Conversation> {
    if let Some(Some(team)) = &edit.team_id
        && sla.teams.team(org_id, team).await?.is_none()
    {
        return Err(Error::invalid("team_id", "no such team in the organisation"));
    }
    let skills = edit.required_skills.as_ref().map(|s| crate::domain::agent::skill_names(s, "required_skills")).transpose()?;
    let skills = &skills;
    retry_lost_updates("conversation", |_| async move {
        let mut c = get(conversations, org_id, id).await?;
        let before = (c.team_id.clone(), c.priority);
        if let Some(team) = &edit.team_id {
            c.team_id = team.clone();
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
        conversations.save_conversation(&c).await?;
        Ok(c)
    })
    .await
}
