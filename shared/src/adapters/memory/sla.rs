//! SLA policies and the deadline index in memory (`ports::SlaStore`), as DynamoDB keeps them: the
//! index is the open conversations' `sla.check_at` (the DynamoDB adapter's gsi4 keys come from
//! it), the scheduler's write is the conversation over its version with the events, all or none.

use async_trait::async_trait;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::{MemoryStore, key, written};
use crate::domain::audit::AuditEntry;
use crate::domain::conversation::Conversation;
use crate::domain::event::NewEvent;
use crate::domain::routing::CapacityChange;
use crate::domain::sla::SlaPolicy;
use crate::error::{Error, Result};
use crate::ports::{SlaDue, SlaStore, Written};

#[async_trait]
impl SlaStore for MemoryStore {
    async fn create_sla_policy(&self, policy: &SlaPolicy, audit: Option<&AuditEntry>) -> Result<Written> {
        let mut st = self.write("create_sla_policy")?;
        let k = key(&policy.org_id, &policy.id);
        let fits = !st.sla_policies.contains_key(&k);
        if !super::audit::with_entry(&mut st, fits, audit) {
            return Ok(Written::AlreadyThere);
        }
        st.sla_policies.insert(k, policy.clone());
        Ok(Written::Stored)
    }

    async fn sla_policy(&self, org_id: &str, policy_id: &str) -> Result<Option<SlaPolicy>> {
        Ok(self.read("sla_policy")?.sla_policies.get(&key(org_id, policy_id)).cloned())
    }

    async fn sla_policies(&self, org_id: &str) -> Result<Vec<SlaPolicy>> {
        let st = self.read("sla_policies")?;
        Ok(st.sla_policies.range(key(org_id, "")..).take_while(|((o, _), _)| o == org_id).map(|(_, p)| p.clone()).collect())
    }

    async fn sla_policies_cached(&self, org_id: &str) -> Result<Vec<SlaPolicy>> {
        self.sla_policies(org_id).await
    }

    async fn save_sla_policy(&self, policy: &SlaPolicy, audit: Option<&AuditEntry>) -> Result<Written> {
        let mut st = self.write("save_sla_policy")?;
        let k = key(&policy.org_id, &policy.id);
        let fits = st.sla_policies.get(&k).is_some_and(|p| p.version + 1 == policy.version);
        let fits = super::audit::with_entry(&mut st, fits, audit);
        if fits {
            st.sla_policies.insert(k, policy.clone());
        }
        Ok(written(fits))
    }

    async fn delete_sla_policy(&self, org_id: &str, policy_id: &str, audit: Option<&AuditEntry>) -> Result<Written> {
        let mut st = self.write("delete_sla_policy")?;
        let k = key(org_id, policy_id);
        let fits = st.sla_policies.contains_key(&k);
        let fits = super::audit::with_entry(&mut st, fits, audit);
        Ok(written(fits && st.sla_policies.remove(&k).is_some()))
    }

    async fn sla_due(&self, minute: DateTime<Utc>, up_to: DateTime<Utc>) -> Result<Vec<SlaDue>> {
        let st = self.read("sla_due")?;
        let minute = minute.duration_trunc(TimeDelta::minutes(1)).unwrap_or(minute);
        let mut due: Vec<SlaDue> = st
            .conversations
            .values()
            .filter(|c| c.status.is_open())
            .filter_map(|c| c.sla.as_ref().and_then(|s| s.check_at).map(|at| (c, at)))
            .filter(|(_, at)| at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(*at) == minute && *at <= up_to)
            .map(|(c, at)| SlaDue { org_id: c.org_id.clone(), conversation_id: c.id.clone(), check_at: at })
            .collect();
        due.sort_by(|a, b| (a.check_at, &a.org_id, &a.conversation_id).cmp(&(b.check_at, &b.org_id, &b.conversation_id)));
        Ok(due)
    }

    async fn sla_cursor(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.read("sla_cursor")?.sla_cursor)
    }

    async fn save_sla_cursor(&self, minute: DateTime<Utc>) -> Result<()> {
        self.write("save_sla_cursor")?.sla_cursor = Some(minute);
        Ok(())
    }

    async fn conversation_for_sla(&self, org_id: &str, conversation_id: &str) -> Result<Option<Conversation>> {
        Ok(self.read("conversation_for_sla")?.conversations.get(&key(org_id, conversation_id)).cloned())
    }

    async fn record_sla_steps(&self, conversation: &Conversation, changes: &[CapacityChange], events: &[NewEvent]) -> Result<()> {
        let mut st = self.write("record_sla_steps")?;
        let recorded_before = events.iter().any(|e| e.dedupe_key.as_ref().is_some_and(|k| st.event_keys.contains_key(&key(&e.org_id, k))));
        if !st.conversation_fits(conversation) || recorded_before || st.refused_change(changes).is_some() {
            return Err(Error::LostUpdate("conversation"));
        }
        st.put_conversation(conversation);
        st.apply_changes(changes);
        st.count_compliance(conversation);
        for event in events {
            st.record_event_with(event);
        }
        Ok(())
    }
}
