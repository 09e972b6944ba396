//! The agent's view of conversations: list, read, assign, close, reopen.

use chrono::{DateTime, Utc};

use crate::domain::conversation::{CloseReason, Conversation, ConversationStatus};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{ConversationStore, Written};

pub async fn get(store: &dyn ConversationStore, org_id: &str, id: &str) -> Result<Conversation> {
    store.conversation(org_id, id).await?.ok_or(Error::NotFound("conversation"))
}

/// Assigns the conversation to an agent (`None` unassigns it), over the version read.
pub async fn assign(store: &dyn ConversationStore, org_id: &str, id: &str, assignee_id: Option<&str>, now: DateTime<Utc>) -> Result<Conversation> {
    retry_lost_updates("conversation", |_| async move {
        let mut c = get(store, org_id, id).await?;
        c.assignee_id = assignee_id.map(str::to_string);
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
        // The store writes the conversation as given, closed.
        c.close_reason = Some(CloseReason::Agent);
        store.close(&c, now).await?;
        get(store, org_id, id).await
    })
    .await
}

/// Reopens a closed conversation, unless the customer has since started another one.
pub async fn reopen(store: &dyn ConversationStore, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<Conversation> {
    retry_lost_updates("conversation", |_| async move {
        let mut c = get(store, org_id, id).await?;
        if c.status == ConversationStatus::Open {
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
