//! DynamoDB for SLA policies and the SLA deadline index (`docs/sla.md`):
//!
//! - `ORG#o#SLA` / `POLICY#{id}`: a policy (ids are ULIDs: one Query lists them in creation order).
//! - gsi4 `SLADUE#{yyyy-mm-ddThh:mm}` / `{check_at}#{org}#{conversation}`: a conversation with an
//!   SLA step owed in that minute. The keys are on the conversation item itself
//!   (`conversation_item`), so the index moves with every write of the conversation: no entry is
//!   written or deleted apart, none is left behind by a reply or a close.
//! - `SLADUE#CURSOR` / `CURSOR`: the first minute the scheduler has not finished with.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{DynamoStore, keyed};
use crate::domain::audit::AuditEntry;
use crate::domain::conversation::Conversation;
use crate::domain::event::NewEvent;
use crate::domain::sla::SlaPolicy;
use crate::error::{Error, Result};
use crate::ports::{PageRequest, SlaDue, SlaStore, Written};

/// How long a warm function keeps an organisation's policies for its messages.
const POLICIES_CACHE_TTL: Duration = Duration::from_secs(60);

pub mod keys {
    pub fn policies(org: &str) -> String {
        format!("ORG#{org}#SLA")
    }
    pub fn policy(org: &str, id: &str) -> (String, String) {
        (policies(org), format!("POLICY#{id}"))
    }
    pub fn cursor() -> (String, String) {
        ("SLADUE#CURSOR".into(), "CURSOR".into())
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    minute: DateTime<Utc>,
}

#[async_trait]
impl SlaStore for DynamoStore {
    async fn create_sla_policy(&self, policy: &SlaPolicy, audit: Option<&AuditEntry>) -> Result<Written> {
        let written = self.put_versioned(keyed(policy, keys::policy(&policy.org_id, &policy.id), &[])?, 1, audit).await;
        self.forget_policies(&policy.org_id);
        written
    }

    async fn sla_policy(&self, org_id: &str, policy_id: &str) -> Result<Option<SlaPolicy>> {
        self.get_consistent(keys::policy(org_id, policy_id)).await
    }

    async fn sla_policies(&self, org_id: &str) -> Result<Vec<SlaPolicy>> {
        let mut policies = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.query_page(None, "pk", &keys::policies(org_id), Some(("sk", "POLICY#")), None, true, &PageRequest { limit: 100, cursor }).await?;
            policies.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(policies),
            }
        }
    }

    async fn sla_policies_cached(&self, org_id: &str) -> Result<Vec<SlaPolicy>> {
        if let Some((at, cached)) = self.sla_policies.lock().unwrap_or_else(|p| p.into_inner()).get(org_id)
            && at.elapsed() < POLICIES_CACHE_TTL
        {
            return Ok(cached.clone());
        }
        let policies = self.sla_policies(org_id).await?;
        // Kept when empty too: most organisations have none, and their messages then read nothing.
        self.sla_policies.lock().unwrap_or_else(|p| p.into_inner()).insert(org_id.to_string(), (Instant::now(), policies.clone()));
        Ok(policies)
    }

    async fn save_sla_policy(&self, policy: &SlaPolicy, audit: Option<&AuditEntry>) -> Result<Written> {
        if policy.version <= 1 {
            return Ok(Written::AlreadyThere);
        }
        let written = self.put_versioned(keyed(policy, keys::policy(&policy.org_id, &policy.id), &[])?, policy.version, audit).await;
        self.forget_policies(&policy.org_id);
        written
    }

    async fn delete_sla_policy(&self, org_id: &str, policy_id: &str, audit: Option<&AuditEntry>) -> Result<Written> {
        let written = self.delete_existing(keys::policy(org_id, policy_id), audit).await;
        self.forget_policies(org_id);
        written
    }

    async fn sla_due(&self, minute: DateTime<Utc>, up_to: DateTime<Utc>) -> Result<Vec<SlaDue>> {
        let due = self.due_entries(&super::keys::sla_due(minute), up_to).await?;
        Ok(due.into_iter().map(|(check_at, org_id, conversation_id)| SlaDue { org_id, conversation_id, check_at }).collect())
    }

    async fn sla_cursor(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.get_consistent::<Cursor>(keys::cursor()).await?.map(|c| c.minute))
    }

    async fn save_sla_cursor(&self, minute: DateTime<Utc>) -> Result<()> {
        self.put(keyed(&Cursor { minute }, keys::cursor(), &[])?).await
    }

    async fn conversation_for_sla(&self, org_id: &str, conversation_id: &str) -> Result<Option<Conversation>> {
        self.get_consistent(super::keys::conversation(org_id, conversation_id)).await
    }

    async fn record_sla_steps(&self, conversation: &Conversation, changes: &[crate::domain::routing::CapacityChange], events: &[NewEvent]) -> Result<()> {
        match self.write_conversation_move(conversation, changes, events).await? {
            Ok(()) => Ok(()),
            // The caller reads the conversation again (the numbers taken are void in the feed).
            Err(_) => Err(Error::LostUpdate("conversation")),
        }
    }
}

impl DynamoStore {
    fn forget_policies(&self, org_id: &str) {
        self.sla_policies.lock().unwrap_or_else(|p| p.into_inner()).remove(org_id);
    }
}
