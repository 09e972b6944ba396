//! DynamoDB: everything stored about one customer, read for export and written back erased.
//! The customer's partition holds a link per conversation and ticket of theirs; the rest is
//! found from those (a conversation's messages and actions, a ticket's messages) and from the
//! customer's interaction index. Nothing here scans.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};

use super::{DynamoStore, Item, from_item, key_map, keyed, keys, message_item, s};
use crate::domain::customer::{ChannelIdentity, Customer};
use crate::domain::erasure::{CustomerRecord, Erasure};
use crate::error::{Error, Result};
use crate::ports::CustomerRecords;

/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE: usize = 25;

/// Calls of one batch that DynamoDB leaves unprocessed (throttling) are sent again this often
/// before the erasure fails (and is repeated by the admin: it is idempotent).
const BATCH_ATTEMPTS: usize = 5;

fn text(item: &Item, name: &str) -> String {
    item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

impl DynamoStore {
    /// Every item of a query, following its pages (a customer's records are few).
    async fn query_all(&self, query: QueryFluentBuilder) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = query.clone().set_exclusive_start_key(start.take()).send().await.map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// One partition (of the table or of `index`), whole, optionally only the sort keys that start
    /// with `prefix`.
    async fn partition(&self, index: Option<&str>, partition_attr: &str, partition: &str, prefix: Option<&str>) -> Result<Vec<Item>> {
        let mut query = self
            .client()
            .query()
            .table_name(self.table())
            .set_index_name(index.map(str::to_string))
            .expression_attribute_values(":pk", s(partition));
        query = match prefix {
            Some(p) => query.key_condition_expression(format!("{partition_attr} = :pk AND begins_with(sk, :prefix)")).expression_attribute_values(":prefix", s(p)),
            None => query.key_condition_expression(format!("{partition_attr} = :pk")),
        };
        self.query_all(query).await
    }

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

    async fn store_erasure(&self, erasure: &Erasure) -> Result<()> {
        let mut requests = Vec::new();
        if let Some(c) = &erasure.customer {
            requests.push(put(keyed(c, keys::customer(&c.org_id, &c.id), &[])?)?);
        }
        for i in &erasure.forget_identities {
            requests.push(delete(keys::identity_of(i))?);
        }
        for c in &erasure.conversations {
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
