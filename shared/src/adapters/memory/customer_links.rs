//! The link job's writes in memory (`adapters::dynamo::customer_links`): a conversation is the
//! customer's when its `customer_id` names them (DynamoDB keeps a `CONV#` link beside it, moved in
//! the same transaction); every step checks all its conditions, then writes all or nothing.

use async_trait::async_trait;

use super::{MemoryStore, identity_key_of, key};
use crate::domain::customer_link::{CustomerLink, LinkState};
use crate::error::{Error, Result};
use crate::ports::{CustomerLinkStore, LinkSwitch, Written};

fn lost() -> Error {
    Error::LostUpdate("customer link")
}

#[async_trait]
impl CustomerLinkStore for MemoryStore {
    async fn customer_link(&self, org_id: &str, customer_id: &str) -> Result<Option<CustomerLink>> {
        Ok(self.read("customer_link")?.customer_links.get(&key(org_id, customer_id)).cloned())
    }

    async fn switch_customers(&self, step: &LinkSwitch<'_>) -> Result<()> {
        let mut st = self.write("switch_customers")?;
        let link = step.link;
        let stored = st.customer_links.get(&key(&link.org_id, &link.customer_id));
        let link_fits = match step.over {
            None => stored.is_none_or(|l| l.state == LinkState::Unlinked),
            Some(state) => stored.is_some_and(|l| l.state == state && l.primary_id == link.primary_id),
        };
        let customers_fit = step.customers.iter().all(|(read, _)| st.customers.get(&key(&read.org_id, &read.id)).is_some_and(|c| c.version == read.version));
        let identities_fit = step.identities.iter().all(|i| st.identities.get(&identity_key_of(i)).is_some_and(|s| s.customer_id == step.from));
        if !(link_fits && customers_fit && identities_fit) {
            return Err(lost());
        }
        // A new link is stored whole; a standing one only changes state (its pages stay recorded).
        match st.customer_links.get_mut(&key(&link.org_id, &link.customer_id)) {
            Some(stored) if step.over.is_some() => stored.state = link.state,
            _ => {
                st.customer_links.insert(key(&link.org_id, &link.customer_id), link.clone());
            }
        }
        for (read, next) in step.customers {
            st.put_customer(Some(read), next);
        }
        for i in step.identities {
            if let Some(stored) = st.identities.get_mut(&identity_key_of(i)) {
                stored.customer_id = step.to.to_string();
            }
        }
        Ok(())
    }

    async fn conversations_linked(&self, org_id: &str, customer_id: &str, limit: usize) -> Result<Vec<String>> {
        let st = self.read("conversations_linked")?;
        // Keyed (org, id): in id order, as the customer's partition sorts its `CONV#` links.
        Ok(st.conversations.values().filter(|c| c.org_id == org_id && c.customer_id == customer_id).take(limit).map(|c| c.id.clone()).collect())
    }

    async fn linked_among(&self, org_id: &str, customer_id: &str, ids: &[String]) -> Result<Vec<String>> {
        let st = self.read("linked_among")?;
        Ok(ids.iter().filter(|id| st.conversations.get(&key(org_id, id)).is_some_and(|c| c.customer_id == customer_id)).cloned().collect())
    }

    async fn move_conversations(&self, link: &CustomerLink, ids: &[String], from: &str, to: &str) -> Result<()> {
        let mut st = self.write("move_conversations")?;
        let org = &link.org_id;
        let link_key = key(org, &link.customer_id);
        let link_stands = st.customer_links.get(&link_key).is_some_and(|l| l.state == link.state && l.primary_id == link.primary_id);
        let all_from = ids.iter().all(|id| st.conversations.get(&key(org, id)).is_some_and(|c| c.customer_id == from));
        if !(link_stands && all_from) {
            return Err(lost());
        }
        for id in ids {
            if let Some(c) = st.conversations.get_mut(&key(org, id)) {
                c.customer_id = to.to_string();
                c.version += 1;
            }
        }
        if link.state == LinkState::Moving
            && let Some(stored) = st.customer_links.get_mut(&link_key)
        {
            stored.conversation_ids.extend(ids.iter().cloned());
        }
        Ok(())
    }

    async fn end_link_step(&self, link: &CustomerLink, over: LinkState) -> Result<Written> {
        let mut st = self.write("end_link_step")?;
        let link_key = key(&link.org_id, &link.customer_id);
        let Some(stored) = st.customer_links.get_mut(&link_key).filter(|l| l.state == over && l.primary_id == link.primary_id) else {
            return Ok(Written::AlreadyThere);
        };
        // What the pages recorded stays; the step changes the state and who ended it.
        let conversation_ids = std::mem::take(&mut stored.conversation_ids);
        *stored = CustomerLink { conversation_ids, ..link.clone() };
        Ok(Written::Stored)
    }
}
