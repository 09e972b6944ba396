//! The agent's view of conversations: list, read, assign, close, reopen.

use chrono::{DateTime, Utc};

use crate::domain::conversation::{Conversation, ConversationStatus};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{ConversationStore, Written};

pub async fn get(store: &dyn ConversationStore, org_id: &str, id: &str) -> Result<Conversation> {
    store.conversation(org_id, id).await?.ok_or(Error::NotFound("conversation"))
}

/// Closes an open conversation. Closing a closed one again is harmless.
pub async fn close(store: &dyn ConversationStore, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<Conversation> {
    retry_lost_updates("conversation", |_| async move {
        let c = get(store, org_id, id).await?;
        if c.status == ConversationStatus::Closed {
            return Ok(c);
        }
        store.close(&c, now).await?;
        get(store, org_id, id).await
    })
    .await
}

/// Reopens a closed conversation, unless the customer has since started another one.
pub async fn reopen(store: &dyn ConversationStore, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<Conversation> {
    retry_lost_updates("conversation", |_| async move {
        let c = get(store, org_id, id).await?;
        if c.status == ConversationStatus::Open {
            return Ok(c);
        }
        match store.reopen(&c, now).await? {
            Written::Stored => get(store, org_id, id).await,
            Written::AlreadyThere => Err(Error::conflict("the customer has another open conversation on this number", "closed")),
        }
    })
    .await
}
