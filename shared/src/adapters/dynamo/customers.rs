//! DynamoDB: everything stored about one customer, read for export and written back erased.
//! The customer's partition holds a link per conversation and ticket of theirs; the rest is
//! found from those (a conversation's messages and actions, a ticket's messages) and from the
//! customer's interaction index. Nothing here scans.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};

use std::collections::HashMap;

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::{DynamoStore, Item, from_item, key_map, keyed, keys, message_item, n, s};
use crate::domain::customer::{ChannelIdentity, Customer};
use crate::domain::audit::AuditEntry;
use crate::domain::erasure::{CustomerRecord, Erasure};
use crate::error::{Error, Result};
use crate::ports::{CustomerAdded, CustomerDirectory, CustomerRecords, Page, PageRequest, TermHit};

/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE: usize = 25;

/// Calls of one batch that DynamoDB leaves unprocessed (throttling) are sent again this often
/// before the erasure fails (and is repeated by the admin: it is idempotent).
const BATCH_ATTEMPTS: usize = 5;

fn text(item: &Item, name: &str) -> String {
    item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

impl DynamoStore {
    async fn write_batch(&self, mut requests: Vec<WriteRequest>) -> Result<()> {
        for _ in 0..BATCH_ATTEMPTS {
            if requests.is_empty() {
                return Ok(());
            }
            let out = self
                .client()
                .batch_write_item()
                .request_items(self.table(), requests)
                .send()
                .await
                .map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
            requests = out.unprocessed_items.unwrap_or_default().remove(self.table()).unwrap_or_default();
        }
        if requests.is_empty() { Ok(()) } else { Err(Error::backend("dynamodb", "erasure writes left unprocessed; erase again")) }
    }
}

impl DynamoStore {
    /// The puts of `terms` of customer `c` in the search index (plain puts: a term written again
    /// is the same item).
    pub(super) fn term_puts<'a>(&self, c: &Customer, terms: impl IntoIterator<Item = &'a String>) -> Result<Vec<TransactWriteItem>> {
        terms.into_iter().map(|term| self.put_op(term_item(c, term), None, None)).collect()
    }

    /// The customer put under `condition` (`attribute_not_exists` for a new one).
    pub(super) fn customer_put(&self, c: &Customer, condition: Option<(&str, Item)>) -> Result<TransactWriteItem> {
        let item = keyed(c, keys::customer(&c.org_id, &c.id), &[])?;
        match condition {
            Some((expression, values)) => self.put_op(item, Some(expression), (!values.is_empty()).then_some(values)),
            None => self.put_op(item, None, None),
        }
    }

    /// The put of `next` over the customer as stored at `version` (items from before customers
    /// had a version are at version 1).
    pub(super) fn customer_put_over(&self, next: &Customer, version: u64) -> Result<TransactWriteItem> {
        let values = HashMap::from([(":version".to_string(), n(version))]);
        let condition = if version == 1 { "attribute_exists(pk) AND (attribute_not_exists(version) OR version = :version)" } else { "version = :version" };
        self.customer_put(next, Some((condition, values)))
    }
}

fn term_item(c: &Customer, term: &str) -> Item {
    let mut item = key_map(keys::customer_term(&c.org_id, term, &c.id));
    item.insert("term".into(), s(term));
    item.insert("customer_id".into(), s(&c.id));
    item
}

#[async_trait]
impl CustomerDirectory for DynamoStore {
    async fn add_customer(&self, customer: &Customer, identity: Option<&ChannelIdentity>) -> Result<CustomerAdded> {
        let not_exists = || Some(("attribute_not_exists(pk)", Item::new()));
        let mut items = vec![self.customer_put(customer, not_exists())?];
        if let Some(i) = identity {
            items.push(self.put_op(keyed(i, keys::identity_of(i), &[])?, Some("attribute_not_exists(pk)"), None)?);
        }
        if let Some(id) = &customer.external_id {
            let mut claim = key_map(keys::customer_external_id(&customer.org_id, id));
            claim.insert("customer_id".into(), s(&customer.id));
            items.push(self.put_op(claim, Some("attribute_not_exists(pk)"), None)?);
        }
        items.extend(self.term_puts(customer, &customer.search_terms())?);
        if self.transact(items).await?.is_ok() {
            return Ok(CustomerAdded::Stored);
        }
        // Who holds the number or the id (read after the refusal: the holder stays).
        if let Some(i) = identity
            && let Some(held) = self.get_consistent::<ChannelIdentity>(keys::identity_of(i)).await?
        {
            return Ok(CustomerAdded::Taken { field: "phone", customer_id: held.customer_id });
        }
        if let Some(id) = &customer.external_id
            && let Some(held) = self.get_consistent::<ExternalIdClaim>(keys::customer_external_id(&customer.org_id, id)).await?
        {
            return Ok(CustomerAdded::Taken { field: "external_id", customer_id: held.customer_id });
        }
        Err(Error::LostUpdate("customer"))
    }

    async fn save_customer(&self, previous: &Customer, next: &Customer) -> Result<()> {
        let (before, after) = (previous.search_terms(), next.search_terms());
        let mut items = vec![self.customer_put_over(next, previous.version)?];
        for gone in before.difference(&after) {
            items.push(self.delete_op(keys::customer_term(&next.org_id, gone, &next.id), None)?);
        }
        items.extend(self.term_puts(next, after.difference(&before))?);
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::LostUpdate("customer")),
        }
    }

    async fn search_terms(&self, org_id: &str, prefix: &str, page: &PageRequest) -> Result<Page<TermHit>> {
        // `begins_with` takes no empty prefix: the whole index is the empty prefix's.
        let prefix = (!prefix.is_empty()).then_some(("sk", prefix));
        self.query_page(None, "pk", &keys::customer_terms(org_id), prefix, None, true, page).await
    }

    async fn customers_by_id(&self, org_id: &str, ids: &[String]) -> Result<Vec<Customer>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<_> = ids.iter().map(|id| keys::customer(org_id, id)).collect();
        self.get_many_consistent(&wanted).await?.into_iter().flatten().map(from_item).collect()
    }
}

/// The claim of an external id, as read back.
#[derive(serde::Deserialize)]
struct ExternalIdClaim {
    customer_id: String,
}

fn put(item: Item) -> Result<WriteRequest> {
    Ok(WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build().map_err(|e| Error::backend("dynamodb", e))?).build())
}

fn delete(key: (String, String)) -> Result<WriteRequest> {
    Ok(WriteRequest::builder().delete_request(DeleteRequest::builder().set_key(Some(key_map(key))).build().map_err(|e| Error::backend("dynamodb", e))?).build())
}

#[async_trait]
impl CustomerRecords for DynamoStore {
    async fn customer_record(&self, org_id: &str, customer_id: &str) -> Result<Option<CustomerRecord>> {
        let own = self.partition(None, "pk", &keys::customer_pk(org_id, customer_id), None).await?;
        let Some(customer) = own.iter().find(|i| text(i, "sk") == "CUSTOMER").cloned() else { return Ok(None) };
        let customer: Customer = from_item(customer)?;
        let linked = |prefix: &str| own.iter().filter_map(|i| text(i, "sk").strip_prefix(prefix).map(str::to_string)).collect::<BTreeSet<_>>();
        let mut identities = Vec::new();
        for i in &customer.identities {
            let identity: Option<ChannelIdentity> = self.get_consistent(keys::identity(org_id, i.channel, &i.external_id)).await?;
            identities.extend(identity.filter(|i| i.customer_id == customer_id));
        }
        // Links, and the conversation an identity holds open (conversations opened before links).
        let mut conversation_ids = linked("CONV#");
        conversation_ids.extend(identities.iter().filter_map(|i| i.open_conversation_id.clone()));
        let (mut conversations, mut messages, mut actions) = (Vec::new(), Vec::new(), Vec::new());
        for id in &conversation_ids {
            let Some(conversation) = self.get_consistent::<crate::domain::conversation::Conversation>(keys::conversation(org_id, id)).await? else { continue };
            for item in self.partition(None, "pk", &keys::conversation_pk(org_id, id), Some("MSG#")).await? {
                messages.push(from_item(item)?);
            }
            let by_conversation = super::actions::keys::actions_by_conversation(org_id, id);
            for item in self.partition(Some("gsi1"), "gsi1pk", &by_conversation, None).await? {
                actions.push(from_item(item)?);
            }
            conversations.push(conversation);
        }
        let (mut tickets, mut ticket_messages) = (Vec::new(), Vec::new());
        for id in &linked("TICKET#") {
            let Some(ticket) = self.get_consistent(super::support::keys::ticket(org_id, id)).await? else { continue };
            tickets.push(ticket);
            for item in self.partition(None, "pk", &super::support::keys::ticket_pk(org_id, id), Some("MSG#")).await? {
                ticket_messages.push(from_item(item)?);
            }
        }
        let by_customer = super::interactions::keys::customer_interactions(org_id, customer_id);
        let interactions = self.partition(Some("gsi1"), "gsi1pk", &by_customer, None).await?.into_iter().map(from_item).collect::<Result<_>>()?;
        Ok(Some(CustomerRecord { customer, identities, conversations, messages, tickets, ticket_messages, actions, interactions }.in_id_order()))
    }

    async fn store_erasure(&self, erasure: &Erasure, audit: Option<&AuditEntry>) -> Result<()> {
        // A conversation the erasure closes while it held an agent's place or ran SLA clocks is
        // written as a close writes it: one transaction over the version read, with the place
        // given back and the stopped clocks counted. First (before the audit entry too), so a
        // refused one (changed since the record was read) stops the erasure before anything else
        // is written, and the use case reads again.
        for c in erasure.conversations.iter().filter(|c| erasure.closes_with_counters(c)) {
            let mut items = vec![self.conversation_put(c)?];
            if let Some(change) = erasure.place_of(&c.id) {
                items.push(self.capacity_op(change)?);
            }
            items.extend(self.compliance_ops(c)?);
            if self.transact(items).await?.is_err() {
                return Err(Error::LostUpdate("conversation"));
            }
        }
        if let Some(entry) = audit {
            self.put_audit_entry(entry).await?;
        }
        let mut requests = Vec::new();
        if let Some(c) = &erasure.customer {
            requests.push(put(keyed(c, keys::customer(&c.org_id, &c.id), &[])?)?);
        }
        for i in &erasure.forget_identities {
            requests.push(delete(keys::identity_of(i))?);
        }
        if let Some(c) = &erasure.customer {
            for term in &erasure.forget_search_terms {
                requests.push(delete(keys::customer_term(&c.org_id, term, &c.id))?);
            }
            if let Some(id) = &erasure.forget_external_id {
                requests.push(delete(keys::customer_external_id(&c.org_id, id))?);
            }
        }
        for c in erasure.conversations.iter().filter(|c| !erasure.closes_with_counters(c)) {
            requests.push(put(self.conversation_item(c)?)?);
        }
        for m in &erasure.messages {
            requests.push(put(message_item(m)?)?);
        }
        for t in &erasure.tickets {
            requests.push(put(self.ticket_item(t)?)?);
        }
        for m in &erasure.ticket_messages {
            requests.push(put(keyed(m, super::support::keys::ticket_message(&m.org_id, &m.ticket_id, &m.id), &[])?)?);
        }
        for a in &erasure.actions {
            requests.push(put(super::actions::action_item(a)?)?);
        }
        for i in &erasure.interactions {
            requests.push(put(super::interactions::interaction_item(i)?)?);
        }
        while !requests.is_empty() {
            let rest = requests.split_off(requests.len().min(BATCH_WRITE));
            self.write_batch(requests).await?;
            requests = rest;
        }
        Ok(())
    }
}
