//! DynamoDB for a customer's transactions (`docs/customer-context.md`, `docs/data-model.md`):
//!
//! - `ORG#o#CUSTOMER#c#TXNS` / `TXNID#{id}`: the transaction under the business's id, put with
//!   `attribute_not_exists(pk)`, so a retried post writes nothing.
//! - gsi1 `ORG#o#CUSTOMER#c#TXNS` / `TXN#{occurred_at}#{id}` (`Transaction::list_key`): the list,
//!   newest first, one Query.
//!
//! A partition of their own rather than the customer's: export, erasure and the context read the
//! customer's partition whole, and a customer may have thousands of transactions.

use async_trait::async_trait;

use super::{DynamoStore, Filters, IndexQuery, Item, keyed};
use crate::domain::transaction::Transaction;
use crate::error::Result;
use crate::ports::{Page, PageRequest, TransactionPut, TransactionStore, Written};

pub mod keys {
    pub fn transactions(org: &str, customer: &str) -> String {
        format!("ORG#{org}#CUSTOMER#{customer}#TXNS")
    }
    pub fn transaction(org: &str, customer: &str, id: &str) -> (String, String) {
        (transactions(org, customer), format!("TXNID#{id}"))
    }
}

/// The list key's fixed prefix (`Transaction::list_key`).
const LIST_PREFIX: &str = "TXN#";

fn transaction_item(t: &Transaction) -> Result<Item> {
    let extra = [("gsi1pk", keys::transactions(&t.org_id, &t.customer_id)), ("gsi1sk", t.list_key())];
    keyed(t, keys::transaction(&t.org_id, &t.customer_id, &t.fields.id), &extra)
}

/// The stored transaction without its keys: the posted fields (flattened into it) refuse any
/// attribute they do not name.
fn transaction_of(item: serde_json::Value) -> Result<Transaction> {
    let mut item = item;
    if let Some(map) = item.as_object_mut() {
        for key in ["pk", "sk", "gsi1pk", "gsi1sk"] {
            map.remove(key);
        }
    }
    serde_json::from_value(item).map_err(|e| crate::error::Error::backend("dynamodb", e))
}

#[async_trait]
impl TransactionStore for DynamoStore {
    async fn record_transaction(&self, t: &Transaction) -> Result<TransactionPut> {
        if self.put_new(transaction_item(t)?).await? == Written::Stored {
            return Ok(TransactionPut::Stored);
        }
        let stored: Option<serde_json::Value> = self.get_consistent(keys::transaction(&t.org_id, &t.customer_id, &t.fields.id)).await?;
        match stored {
            Some(item) => Ok(TransactionPut::Exists(transaction_of(item)?)),
            // Nothing deletes transactions, so the item the condition saw is still there.
            None => Err(crate::error::Error::LostUpdate("transaction")),
        }
    }

    async fn transactions(&self, org_id: &str, customer_id: &str, page: &PageRequest) -> Result<Page<Transaction>> {
        let query = IndexQuery {
            index: Some("gsi1"),
            partition_attr: "gsi1pk",
            partition: keys::transactions(org_id, customer_id),
            sort_attr: "gsi1sk",
            prefix: LIST_PREFIX,
            from: None,
            to: None,
            forward: false,
        };
        let items: Page<serde_json::Value> = self.query_index(query, Filters::default(), page).await?;
        Ok(Page { items: items.items.into_iter().map(transaction_of).collect::<Result<_>>()?, next_cursor: items.next_cursor })
    }
}
