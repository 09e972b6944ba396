//! DynamoDB for the customer context panel (`docs/customer-context.md`): the customer's partition
//! (`ORG#o#CUSTOMER#c`: the `CUSTOMER` item and a link per conversation, ticket, action and call
//! of theirs) in one Query, then the records of the most recent links in one BatchGetItem per 100
//! keys, run concurrently. Eventually consistent: a panel, not a read before a write.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::{DynamoStore, Item, from_item, key_map, keys};
use crate::domain::customer::Customer;
use crate::error::{Error, Result};
use crate::ports::{CustomerContextReads, CustomerLinks, LinkedIds, LinkedRecords};

/// BatchGetItem takes at most 100 keys.
const BATCH_GET: usize = 100;

/// Keys DynamoDB leaves unprocessed (throttling) are asked again this often before the read fails.
const BATCH_ATTEMPTS: usize = 5;

fn text(item: &Item, name: &str) -> String {
    item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

impl DynamoStore {
    /// The items of `wanted` that exist, by key; one BatchGetItem per 100 keys, concurrently.
    pub(super) async fn batch_get(&self, wanted: Vec<(String, String)>) -> Result<HashMap<(String, String), Item>> {
        let reads = wanted.chunks(BATCH_GET).map(|chunk| self.batch_get_chunk(chunk.to_vec()));
        let mut found = HashMap::new();
        for items in futures::future::try_join_all(reads).await? {
            found.extend(items.into_iter().map(|item| ((text(&item, "pk"), text(&item, "sk")), item)));
        }
        Ok(found)
    }

    async fn batch_get_chunk(&self, chunk: Vec<(String, String)>) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut keys: Vec<Item> = chunk.into_iter().map(key_map).collect();
        for _ in 0..BATCH_ATTEMPTS {
            if keys.is_empty() {
                return Ok(items);
            }
            let request = KeysAndAttributes::builder().set_keys(Some(std::mem::take(&mut keys))).build().map_err(|e| Error::backend("dynamodb", e))?;
            let out = self
                .client()
                .batch_get_item()
                .request_items(self.table(), request)
                .send()
                .await
                .map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
            items.extend(out.responses.unwrap_or_default().remove(self.table()).unwrap_or_default());
            keys = out.unprocessed_keys.unwrap_or_default().remove(self.table()).map(|k| k.keys).unwrap_or_default();
        }
        if keys.is_empty() { Ok(items) } else { Err(Error::backend("dynamodb", "context reads left unprocessed")) }
    }
}

#[async_trait]
impl CustomerContextReads for DynamoStore {
    async fn customer_links(&self, org_id: &str, customer_id: &str) -> Result<Option<CustomerLinks>> {
        let mut own = self.partition(None, "pk", &keys::customer_pk(org_id, customer_id), None).await?;
        let Some(position) = own.iter().position(|i| text(i, "sk") == "CUSTOMER") else { return Ok(None) };
        let customer: Customer = from_item(own.swap_remove(position))?;
        // Sort keys come back in order, so each list is in id order.
        let linked = |prefix: &str| own.iter().filter_map(|i| text(i, "sk").strip_prefix(prefix).map(str::to_string)).collect::<Vec<_>>();
        Ok(Some(CustomerLinks {
            customer,
            conversation_ids: linked("CONV#"),
            ticket_ids: linked("TICKET#"),
            action_ids: linked("ACTION#"),
            call_ids: linked("CALL#"),
        }))
    }

    async fn linked_records(&self, org_id: &str, ids: &LinkedIds) -> Result<LinkedRecords> {
        let conversation = |id: &String| keys::conversation(org_id, id);
        let ticket = |id: &String| super::support::keys::ticket(org_id, id);
        let action = |id: &String| super::actions::keys::action(org_id, id);
        let answer = |id: &String| super::actions::keys::action_response(org_id, id);
        let call = |id: &String| super::calls::keys::call(org_id, id);
        let wanted: Vec<(String, String)> = ids
            .conversations
            .iter()
            .map(conversation)
            .chain(ids.tickets.iter().map(ticket))
            .chain(ids.actions.iter().flat_map(|id| [action(id), answer(id)]))
            .chain(ids.calls.iter().map(call))
            .collect();
        if wanted.is_empty() {
            return Ok(LinkedRecords::default());
        }
        let mut found = self.batch_get(wanted).await?;
        let mut take = |key: (String, String)| found.remove(&key);
        let mut records = LinkedRecords::default();
        for id in &ids.conversations {
            if let Some(item) = take(conversation(id)) {
                records.conversations.push(from_item(item)?);
            }
        }
        for id in &ids.tickets {
            if let Some(item) = take(ticket(id)) {
                records.tickets.push(from_item(item)?);
            }
        }
        for id in &ids.actions {
            let answer = take(answer(id)).map(from_item).transpose()?;
            if let Some(item) = take(action(id)) {
                records.actions.push((from_item(item)?, answer));
            }
        }
        for id in &ids.calls {
            if let Some(item) = take(call(id)) {
                records.calls.push(from_item(item)?);
            }
        }
        Ok(records)
    }
}
