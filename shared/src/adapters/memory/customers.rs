//! Everything stored about one customer, in memory (`adapters::dynamo::customers`): found by
//! the customer's id on each record, as DynamoDB finds it through the customer's links.

use async_trait::async_trait;

use super::{MemoryStore, fill_page, identity_key, identity_key_of, key};
use crate::domain::customer::{ChannelIdentity, Customer};
use crate::domain::audit::AuditEntry;
use crate::domain::erasure::{CustomerRecord, Erasure};
use crate::error::{Error, Result};
use crate::ports::{CustomerAdded, CustomerDirectory, CustomerRecords, Page, PageRequest, TermHit};

#[async_trait]
impl CustomerDirectory for MemoryStore {
    async fn add_customer(&self, customer: &Customer, identity: Option<&ChannelIdentity>) -> Result<CustomerAdded> {
        let mut st = self.write("add_customer")?;
        if let Some(held) = identity.and_then(|i| st.identities.get(&identity_key_of(i))) {
            return Ok(CustomerAdded::Taken { field: "phone", customer_id: held.customer_id.clone() });
        }
        let claim = customer.external_id.as_ref().map(|id| key(&customer.org_id, id));
        if let Some(held) = claim.as_ref().and_then(|c| st.external_ids.get(c)) {
            return Ok(CustomerAdded::Taken { field: "external_id", customer_id: held.clone() });
        }
        if st.customers.contains_key(&key(&customer.org_id, &customer.id)) {
            return Err(Error::LostUpdate("customer"));
        }
        if let Some(i) = identity {
            st.identities.insert(identity_key_of(i), i.clone());
        }
        if let Some(claim) = claim {
            st.external_ids.insert(claim, customer.id.clone());
        }
        st.put_customer(None, customer);
        Ok(CustomerAdded::Stored)
    }

    async fn save_customer(&self, previous: &Customer, next: &Customer) -> Result<()> {
        let mut st = self.write("save_customer")?;
        match st.customers.get(&key(&next.org_id, &next.id)) {
            Some(stored) if stored.version == previous.version => {
                let stored = stored.clone();
                st.put_customer(Some(&stored), next);
                Ok(())
            }
            _ => Err(Error::LostUpdate("customer")),
        }
    }

    async fn search_terms(&self, org_id: &str, prefix: &str, page: &PageRequest) -> Result<Page<TermHit>> {
        let st = self.read("search_terms")?;
        let entries = st
            .customer_terms
            .range(key(org_id, prefix)..)
            .take_while(|((org, sort), _)| org == org_id && sort.starts_with(prefix))
            .map(|((_, sort), hit)| (sort.clone(), hit.clone()))
            .collect();
        fill_page(&format!("{org_id}#CUSTOMER_TERMS"), entries, true, |_| true, page)
    }

    async fn customers_by_id(&self, org_id: &str, ids: &[String]) -> Result<Vec<Customer>> {
        let st = self.read("customers_by_id")?;
        Ok(ids.iter().filter_map(|id| st.customers.get(&key(org_id, id)).cloned()).collect())
    }
}

#[async_trait]
impl CustomerRecords for MemoryStore {
    async fn customer_record(&self, org_id: &str, customer_id: &str) -> Result<Option<CustomerRecord>> {
        let st = self.read("customer_record")?;
        let Some(customer) = st.customers.get(&key(org_id, customer_id)).cloned() else { return Ok(None) };
        // Through the customer's own list of addresses, as DynamoDB reads them.
        let identities = customer
            .identities
            .iter()
            .filter_map(|i| st.identities.get(&identity_key(org_id, i.channel, &i.external_id)))
            .filter(|i| i.customer_id == customer_id)
            .cloned()
            .collect();
        let conversations: Vec<_> = st.conversations.values().filter(|c| c.org_id == org_id && c.customer_id == customer_id).cloned().collect();
        let theirs = |conversation_id: &str| conversations.iter().any(|c| c.id == conversation_id);
        let messages = st.messages.values().filter(|m| m.org_id == org_id && theirs(&m.conversation_id)).cloned().collect();
        let actions = st.actions.values().filter(|a| a.org_id == org_id && theirs(&a.conversation_id)).cloned().collect();
        let tickets: Vec<_> =
            st.tickets.values().filter(|t| t.org_id == org_id && t.customer_id.as_deref() == Some(customer_id)).cloned().collect();
        let ticket_messages = st
            .ticket_messages
            .values()
            .filter(|m| m.org_id == org_id && tickets.iter().any(|t| t.id == m.ticket_id))
            .cloned()
            .collect();
        let interactions = st.interactions.values().filter(|i| i.org_id == org_id && i.customer_id == customer_id).cloned().collect();
        Ok(Some(
            CustomerRecord { customer, identities, conversations, messages, tickets, ticket_messages, actions, interactions }.in_id_order(),
        ))
    }

    async fn store_erasure(&self, erasure: &Erasure, audit: Option<&AuditEntry>) -> Result<()> {
        let mut st = self.write("store_erasure")?;
        // As DynamoDB does: the conversations closed with counters go over their version first.
        if erasure.conversations.iter().any(|c| erasure.closes_with_counters(c) && !st.conversation_fits(c)) {
            return Err(Error::LostUpdate("conversation"));
        }
        for c in erasure.conversations.iter().filter(|c| erasure.closes_with_counters(c)) {
            st.apply_changes(&erasure.place_of(&c.id).cloned().into_iter().collect::<Vec<_>>());
            st.count_compliance(c);
        }
        super::audit::with_entry(&mut st, true, audit);
        if let Some(c) = &erasure.customer {
            st.customers.insert(key(&c.org_id, &c.id), c.clone());
            for term in &erasure.forget_search_terms {
                st.customer_terms.remove(&key(&c.org_id, &format!("{term}#{}", c.id)));
            }
            if let Some(id) = &erasure.forget_external_id {
                st.external_ids.remove(&key(&c.org_id, id));
            }
        }
        for i in &erasure.forget_identities {
            st.identities.remove(&identity_key_of(i));
        }
        for c in &erasure.conversations {
            st.put_conversation(c);
        }
        for m in &erasure.messages {
            st.put_message(m);
        }
        for t in &erasure.tickets {
            st.tickets.insert(key(&t.org_id, &t.id), t.clone());
        }
        for m in &erasure.ticket_messages {
            st.ticket_messages.insert((m.org_id.clone(), m.ticket_id.clone(), m.id.clone()), m.clone());
        }
        for a in &erasure.actions {
            st.actions.insert(key(&a.org_id, &a.id), a.clone());
        }
        for i in &erasure.interactions {
            st.interactions.insert(key(&i.org_id, &i.id), i.clone());
        }
        Ok(())
    }
}
