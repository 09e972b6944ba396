//! Campaigns in memory (`adapters::dynamo::campaigns`): the same all-or-nothing starts and
//! counters, the same newest-first pages.

use async_trait::async_trait;

use super::{MemoryStore, State, fill_page, key};
use crate::domain::campaign::{Campaign, CampaignStart, CampaignTally};
use crate::error::Result;
use crate::ports::{CampaignStore, Page, PageRequest, Written};

impl State {
    /// The campaign's metrics moved by a write of one of its interactions (an `ADD`, like DynamoDB's).
    pub(super) fn add_campaign_tally(&mut self, t: &CampaignTally) {
        let c = self.campaigns.entry(key(&t.org_id, &t.campaign_id)).or_insert_with(|| orphan(t));
        c.completed += t.completed;
        c.cancelled += t.cancelled;
        c.overdue += t.overdue;
    }
}

/// DynamoDB's `ADD` on a missing item creates it with only the counters: the same here.
fn orphan(t: &CampaignTally) -> Campaign {
    serde_json::from_value(serde_json::json!({
        "id": t.campaign_id, "org_id": t.org_id, "name": "", "workflow_template_id": "", "created_at": "1970-01-01T00:00:00Z"
    }))
    .expect("a bare campaign deserializes")
}

#[async_trait]
impl CampaignStore for MemoryStore {
    async fn create_campaign(&self, campaign: &Campaign, idempotency_key: Option<&str>) -> Result<Written> {
        let mut st = self.write("create_campaign")?;
        let id = key(&campaign.org_id, &campaign.id);
        let marker = idempotency_key.map(|k| key(&campaign.org_id, k));
        if st.campaigns.contains_key(&id) || marker.as_ref().is_some_and(|m| st.campaign_keys.contains_key(m)) {
            return Ok(Written::AlreadyThere);
        }
        st.campaigns.insert(id, campaign.clone());
        if let Some(m) = marker {
            st.campaign_keys.insert(m, campaign.id.clone());
        }
        Ok(Written::Stored)
    }

    async fn campaign_by_key(&self, org_id: &str, idempotency_key: &str) -> Result<Option<Campaign>> {
        let st = self.read("campaign_by_key")?;
        Ok(st.campaign_keys.get(&key(org_id, idempotency_key)).and_then(|id| st.campaigns.get(&key(org_id, id))).cloned())
    }

    async fn campaign(&self, org_id: &str, id: &str) -> Result<Option<Campaign>> {
        Ok(self.read("campaign")?.campaigns.get(&key(org_id, id)).cloned())
    }

    async fn campaigns(&self, org_id: &str, page: &PageRequest) -> Result<Page<Campaign>> {
        let st = self.read("campaigns")?;
        let mut entries: Vec<(String, Campaign)> =
            st.campaigns.values().filter(|c| c.org_id == org_id).map(|c| (format!("CAMPAIGN#{}", c.id), c.clone())).collect();
        entries.sort_by(|a, b| b.0.cmp(&a.0));
        fill_page(&format!("ORG#{org_id}#CAMPAIGNS"), entries, false, |_| true, page)
    }

    async fn start_campaign_customers(&self, org_id: &str, campaign_id: &str, starts: &[CampaignStart], counts_targets: bool) -> Result<Vec<String>> {
        let mut st = self.write("start_campaign_customers")?;
        let marker = |customer: &str| (org_id.to_string(), campaign_id.to_string(), customer.to_string());
        let already: Vec<String> = starts.iter().filter(|s| st.campaign_starts.contains(&marker(&s.customer_id))).map(|s| s.customer_id.clone()).collect();
        if !already.is_empty() {
            return Ok(already);
        }
        if starts.iter().filter_map(|s| s.interaction.as_ref()).any(|i| st.interactions.contains_key(&key(&i.org_id, &i.id))) {
            // The marker and the interaction are written together: one without the other is a bug.
            return Err(crate::error::Error::backend("memory", "a campaign's interaction exists without its marker"));
        }
        let started = starts.iter().filter(|s| s.interaction.is_some()).count() as i64;
        let skipped = starts.len() as i64 - started;
        for s in starts {
            st.campaign_starts.insert(marker(&s.customer_id));
            if let Some(i) = &s.interaction {
                st.interactions.insert(key(&i.org_id, &i.id), i.clone());
                st.count_interaction(i, Some(crate::domain::interaction_stats::Counted::Created));
            }
        }
        let c = st.campaigns.entry(key(org_id, campaign_id)).or_insert_with(|| orphan(&CampaignTally { org_id: org_id.into(), campaign_id: campaign_id.into(), ..Default::default() }));
        c.started += started;
        c.skipped += skipped;
        if counts_targets {
            c.targeted += started + skipped;
        }
        Ok(Vec::new())
    }

    async fn finish_campaign_targeting(&self, org_id: &str, campaign_id: &str) -> Result<()> {
        if let Some(c) = self.write("finish_campaign_targeting")?.campaigns.get_mut(&key(org_id, campaign_id)) {
            c.all_targeted = true;
        }
        Ok(())
    }
}
