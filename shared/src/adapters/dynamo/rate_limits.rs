//! Customer-side rate limits on DynamoDB (`docs/rate-limits.md`): the organisation's settings
//! (kept a minute per warm function), one counter item per customer and window, and the block on
//! the customer's WhatsApp identity item.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{DynamoStore, key_map, keyed, keys, n, s};
use crate::domain::customer::{ChannelIdentity, IdentityChannel};
use crate::domain::rate_limit::{CustomerBlock, RateCounter, StoredRateLimits};
use crate::error::{Error, Result};
use crate::domain::audit::AuditEntry;
use crate::ports::RateLimitStore;

/// Every inbound message needs its organisation's settings: an admin's change reaches every warm
/// inbound-processor within this long.
pub(super) const RATE_LIMITS_CACHE_TTL: Duration = Duration::from_secs(60);

pub mod keys_rate {
    /// The organisation's settings.
    pub fn settings(org: &str) -> (String, String) {
        (format!("ORG#{org}#RATELIMITS"), "SETTINGS".into())
    }
    /// One customer's counter for one window (`M#{minute}` or `H#{hour}`), TTL `expires_at`.
    pub fn counter(org: &str, address: &str, window: &str) -> (String, String) {
        (format!("ORG#{org}#RATE#{address}"), window.to_string())
    }
}

fn counter_key(counter: &RateCounter) -> (String, String) {
    keys_rate::counter(&counter.org_id, &counter.address, &counter.window_label())
}

fn conditional_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(
    e: &aws_sdk_dynamodb::error::SdkError<E>,
) -> bool {
    e.as_service_error().and_then(|se| se.code()) == Some("ConditionalCheckFailedException")
}

#[async_trait]
impl RateLimitStore for DynamoStore {
    async fn rate_limit_settings(&self, org_id: &str) -> Result<Option<StoredRateLimits>> {
        if let Some((at, cached)) = self
            .rate_limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(org_id)
            && at.elapsed() < RATE_LIMITS_CACHE_TTL
        {
            return Ok(cached.clone());
        }
        let stored: Option<StoredRateLimits> = self.get(keys_rate::settings(org_id)).await?;
        // Kept when absent too: most organisations never change the defaults.
        self.rate_limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(org_id.to_string(), (Instant::now(), stored.clone()));
        Ok(stored)
    }

    async fn put_rate_limit_settings(&self, settings: &StoredRateLimits, audit: Option<&AuditEntry>) -> Result<()> {
        let item = keyed(settings, keys_rate::settings(&settings.org_id), &[])?;
        match audit {
            Some(entry) => self.write_audited(self.put_op(item, None, None)?, entry).await.map(|_| ())?,
            None => self.put(item).await?,
        }
        self.rate_limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&settings.org_id);
        Ok(())
    }

    async fn count_once(&self, counter: &RateCounter, id: &str) -> Result<Option<u32>> {
        // The ids set makes a redelivered message's second ADD fail its condition: counted once.
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_map(counter_key(counter))))
            .update_expression("ADD #n :one, ids :ids SET expires_at = :expires")
            .condition_expression("attribute_not_exists(ids) OR NOT contains(ids, :id)")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ids", AttributeValue::Ss(vec![id.to_string()]))
            .expression_attribute_values(":id", s(id))
            .expression_attribute_values(":expires", n(counter.expires_at()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => out
                .attributes
                .as_ref()
                .and_then(|a| a.get("n"))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .map(Some)
                .ok_or_else(|| Error::backend("dynamodb", "the rate counter answered no number")),
            Err(e) if conditional_failure(&e) => Ok(None),
            Err(e) => Err(crate::adapters::sdk_error("dynamodb", e)),
        }
    }

    async fn block_customer(
        &self,
        org_id: &str,
        address: &str,
        block: &CustomerBlock,
    ) -> Result<CustomerBlock> {
        let value =
            serde_dynamo::to_attribute_value(block).map_err(|e| Error::backend("dynamodb", e))?;
        // `blocked_until` (epoch ms) beside the block itself: a number compares in a condition.
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_map(keys::identity(org_id, IdentityChannel::Whatsapp, address))))
            .update_expression("SET blocked = :block, blocked_until = :until")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(blocked_until) OR blocked_until <= :since)")
            .expression_attribute_values(":block", value)
            .expression_attribute_values(":until", n(block.until.timestamp_millis()))
            .expression_attribute_values(":since", n(block.since.timestamp_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(block.clone()),
            // Another delivery's block: read it strongly consistent (an eventually consistent read
            // of the identity may not show it yet, and this message must follow it).
            Err(e) if conditional_failure(&e) => {
                let identity: Option<ChannelIdentity> =
                    self.get_consistent(keys::identity(org_id, IdentityChannel::Whatsapp, address)).await?;
                identity.and_then(|i| i.blocked).ok_or(Error::LostUpdate("customer"))
            }
            Err(e) => Err(crate::adapters::sdk_error("dynamodb", e)),
        }
    }

    async fn unblock_customer(
        &self,
        org_id: &str,
        address: &str,
        counters: &[RateCounter],
    ) -> Result<()> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_map(keys::identity(org_id, IdentityChannel::Whatsapp, address))))
            .update_expression("REMOVE blocked, blocked_until")
            // Never creates an identity that is not there (an erased one).
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e) if conditional_failure(&e) => {}
            Err(e) => return Err(crate::adapters::sdk_error("dynamodb", e)),
        }
        for counter in counters {
            self.client()
                .delete_item()
                .table_name(self.table())
                .set_key(Some(key_map(counter_key(counter))))
                .send()
                .await
                .map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
        }
        Ok(())
    }
}
