//! The customer context reads in memory (`adapters::dynamo::customer_context`): the links are the
//! records that name the customer (DynamoDB writes a link with each of them), in id order.

use async_trait::async_trait;

use super::{MemoryStore, key};
use crate::error::Result;
use crate::ports::{CustomerContextReads, CustomerLinks, LinkedIds, LinkedRecords};

#[async_trait]
impl CustomerContextReads for MemoryStore {
    async fn customer_links(&self, org_id: &str, customer_id: &str) -> Result<Option<CustomerLinks>> {
        let st = self.read("customer_links")?;
        let Some(customer) = st.customers.get(&key(org_id, customer_id)).cloned() else { return Ok(None) };
        // Each map is keyed (org, id): its values come in id order.
        let conversation_ids = st.conversations.values().filter(|c| c.org_id == org_id && c.customer_id == customer_id).map(|c| c.id.clone()).collect();
        let ticket_ids =
            st.tickets.values().filter(|t| t.org_id == org_id && t.customer_id.as_deref() == Some(customer_id)).map(|t| t.id.clone()).collect();
        let action_ids = st.actions.values().filter(|a| a.org_id == org_id && a.customer_id == customer_id).map(|a| a.id.clone()).collect();
        let call_ids =
            st.calls.values().filter(|c| c.org_id == org_id && c.customer_id.as_deref() == Some(customer_id)).map(|c| c.id.clone()).collect();
        Ok(Some(CustomerLinks { customer, conversation_ids, ticket_ids, action_ids, call_ids }))
    }

    async fn linked_records(&self, org_id: &str, ids: &LinkedIds) -> Result<LinkedRecords> {
        let st = self.read("linked_records")?;
        Ok(LinkedRecords {
            conversations: ids.conversations.iter().filter_map(|id| st.conversations.get(&key(org_id, id)).cloned()).collect(),
            tickets: ids.tickets.iter().filter_map(|id| st.tickets.get(&key(org_id, id)).cloned()).collect(),
            actions: ids
                .actions
                .iter()
                .filter_map(|id| st.actions.get(&key(org_id, id)).map(|a| (a.clone(), st.action_responses.get(&key(org_id, id)).cloned())))
                .collect(),
            calls: ids.calls.iter().filter_map(|id| st.calls.get(&key(org_id, id)).cloned()).collect(),
        })
    }
}
