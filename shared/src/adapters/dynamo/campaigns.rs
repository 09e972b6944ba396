//! DynamoDB for campaigns (`docs/data-model.md`, "Campaigns"):
//!
//! - `ORG#o#CAMPAIGNS` / `CAMPAIGN#id`: the campaign and its counters (ULID ids: newest first
//!   is a backward Query). Counters move only by `ADD`s in the writes that cause them.
//! - `ORG#o#CAMPAIGN#id` / `STARTED#customer`: the customer was started (or skipped) by the
//!   campaign, written with the interaction and the counters, only if absent.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use super::interactions::interaction_item;
use super::{DynamoStore, Item, key_map, keyed, n};
use crate::domain::campaign::{Campaign, CampaignStart, CampaignTally};
use crate::error::{Error, Result};
use crate::ports::{CampaignStore, Page, PageRequest, Written};

pub mod keys {
    pub fn campaigns(org: &str) -> String {
        format!("ORG#{org}#CAMPAIGNS")
    }
    pub fn campaign(org: &str, id: &str) -> (String, String) {
        (campaigns(org), format!("CAMPAIGN#{id}"))
    }
    /// A client's `Idempotency-Key` for `POST /v1/campaigns` (expires like every key).
    pub fn campaign_idempotency(org: &str, key: &str) -> (String, String) {
        (format!("ORG#{org}#CAMPAIGNKEY#{key}"), "CAMPAIGNKEY".into())
    }
    pub fn started(org: &str, campaign: &str, customer: &str) -> (String, String) {
        (format!("ORG#{org}#CAMPAIGN#{campaign}"), format!("STARTED#{customer}"))
    }
}

/// Derived on every read from the counters; never stored.
const DERIVED: [&str; 3] = ["status", "queued", "completion_rate"];

impl DynamoStore {
    /// The one write that moves a campaign's metrics: `ADD`s on the campaign item, inside the
    /// transaction of the interaction's write that caused them.
    pub(crate) fn campaign_tally_op(&self, t: &CampaignTally) -> Result<TransactWriteItem> {
        let values = HashMap::from([(":c".to_string(), n(t.completed)), (":x".to_string(), n(t.cancelled)), (":o".to_string(), n(t.overdue))]);
        self.update_op(keys::campaign(&t.org_id, &t.campaign_id), "ADD completed :c, cancelled :x, overdue :o", None, values, None)
    }
}

#[async_trait]
impl CampaignStore for DynamoStore {
    async fn create_campaign(&self, campaign: &Campaign, idempotency_key: Option<&str>) -> Result<Written> {
        let mut item = keyed(campaign, keys::campaign(&campaign.org_id, &campaign.id), &[])?;
        for derived in DERIVED {
            item.remove(derived);
        }
        let Some(key) = idempotency_key else { return self.put_new(item).await };
        let items = vec![
            self.put_op(item, Some("attribute_not_exists(pk)"), None)?,
            self.idempotency_put(keys::campaign_idempotency(&campaign.org_id, key), &campaign.id, campaign.created_at)?,
        ];
        Ok(match self.transact(items).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }

    async fn campaign_by_key(&self, org_id: &str, idempotency_key: &str) -> Result<Option<Campaign>> {
        match self.idempotency_target(keys::campaign_idempotency(org_id, idempotency_key)).await? {
            Some(id) => self.campaign(org_id, &id).await,
            None => Ok(None),
        }
    }

    async fn campaign(&self, org_id: &str, id: &str) -> Result<Option<Campaign>> {
        self.get_consistent(keys::campaign(org_id, id)).await
    }

    async fn campaigns(&self, org_id: &str, page: &PageRequest) -> Result<Page<Campaign>> {
        self.query_page(None, "pk", &keys::campaigns(org_id), Some(("sk", "CAMPAIGN#")), None, false, page).await
    }

    async fn start_campaign_customers(&self, org_id: &str, campaign_id: &str, starts: &[CampaignStart], counts_targets: bool) -> Result<Vec<String>> {
        let mut items = Vec::with_capacity(starts.len() * 2 + 1);
        for start in starts {
            items.push(self.put_op(key_map(keys::started(org_id, campaign_id, &start.customer_id)), Some("attribute_not_exists(pk)"), None)?);
            if let Some(i) = &start.interaction {
                items.push(self.put_op(interaction_item(i)?, Some("attribute_not_exists(pk)"), None)?);
            }
        }
        let started = starts.iter().filter(|s| s.interaction.is_some()).count() as i64;
        let skipped = starts.len() as i64 - started;
        let targeted = if counts_targets { started + skipped } else { 0 };
        let values: Item = HashMap::from([(":s".to_string(), n(started)), (":k".to_string(), n(skipped)), (":t".to_string(), n(targeted))]);
        items.push(self.update_op(keys::campaign(org_id, campaign_id), "ADD started :s, skipped :k, targeted :t", Some("attribute_exists(pk)"), values, None)?);
        // The interactions' statistics, after every item whose cancellation reason is read below.
        let created = starts.iter().filter_map(|s| s.interaction.as_ref()).flat_map(|i| crate::domain::interaction_stats::counts(i, crate::domain::interaction_stats::Counted::Created));
        items.extend(self.stats_count_ops(created.collect())?);
        match self.transact(items).await? {
            Ok(()) => Ok(Vec::new()),
            Err(codes) => {
                // The reasons follow the items: find the markers that were there already.
                let mut already = Vec::new();
                let mut at = 0;
                for start in starts {
                    if codes.get(at).is_some_and(|c| c == "ConditionalCheckFailed") {
                        already.push(start.customer_id.clone());
                    }
                    at += 1 + usize::from(start.interaction.is_some());
                }
                if already.is_empty() {
                    // No marker stood in the way: an interaction without its marker, or no campaign.
                    return Err(Error::backend("dynamodb", format!("campaign start refused: {codes:?}")));
                }
                Ok(already)
            }
        }
    }

    async fn finish_campaign_targeting(&self, org_id: &str, campaign_id: &str) -> Result<()> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_map(keys::campaign(org_id, campaign_id))))
            .update_expression("SET all_targeted = :yes")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
        Ok(())
    }
}
