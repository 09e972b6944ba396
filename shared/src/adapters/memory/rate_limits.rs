//! Customer-side rate limits in memory (`ports::RateLimitStore`), as `adapters::dynamo::rate_limits`
//! stores them: a counter per customer and window holding the ids it counted, the block on the
//! identity. Settings are read fresh here (DynamoDB's minute of caching is a cost, not a rule).

use async_trait::async_trait;

use super::{MemoryStore, identity_key};
use crate::domain::customer::IdentityChannel;
use crate::domain::rate_limit::{CustomerBlock, RateCounter, StoredRateLimits};
use crate::error::{Error, Result};
use crate::domain::audit::AuditEntry;
use crate::ports::RateLimitStore;

/// `(org, address, window label)`.
pub(super) fn counter_key(counter: &RateCounter) -> (String, String, String) {
    (
        counter.org_id.clone(),
        counter.address.clone(),
        counter.window_label(),
    )
}

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn rate_limit_settings(&self, org_id: &str) -> Result<Option<StoredRateLimits>> {
        Ok(self
            .read("rate_limit_settings")?
            .rate_limits
            .get(org_id)
            .cloned())
    }

    async fn put_rate_limit_settings(&self, settings: &StoredRateLimits, audit: Option<&AuditEntry>) -> Result<()> {
        let mut st = self.write("put_rate_limit_settings")?;
        if super::audit::with_entry(&mut st, true, audit) {
            st.rate_limits.insert(settings.org_id.clone(), settings.clone());
        }
        Ok(())
    }

    async fn count_once(&self, counter: &RateCounter, id: &str) -> Result<Option<u32>> {
        let mut st = self.write("count_once")?;
        let counted = st.rate_counters.entry(counter_key(counter)).or_default();
        if !counted.insert(id.to_string()) {
            return Ok(None);
        }
        Ok(Some(counted.len() as u32))
    }

    async fn block_customer(&self, org_id: &str, address: &str, block: &CustomerBlock) -> Result<CustomerBlock> {
        let mut st = self.write("block_customer")?;
        let Some(identity) = st.identities.get_mut(&identity_key(org_id, IdentityChannel::Whatsapp, address)) else {
            return Err(Error::LostUpdate("customer"));
        };
        // As DynamoDB's condition: no block, or one that ended by the new one's start.
        match &identity.blocked {
            Some(held) if held.until > block.since => Ok(held.clone()),
            _ => {
                identity.blocked = Some(block.clone());
                Ok(block.clone())
            }
        }
    }

    async fn unblock_customer(
        &self,
        org_id: &str,
        address: &str,
        counters: &[RateCounter],
    ) -> Result<()> {
        let mut st = self.write("unblock_customer")?;
        if let Some(identity) = st.identities.get_mut(&identity_key(org_id, IdentityChannel::Whatsapp, address)) {
            identity.blocked = None;
        }
        for counter in counters {
            st.rate_counters.remove(&counter_key(counter));
        }
        Ok(())
    }
}
