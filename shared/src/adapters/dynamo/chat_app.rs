//! DynamoDB for the chat apps' API keys (`docs/chat-app.md`, "Data model"):
//!
//! - `CHATAPPKEY#{key_id}` / `CHATAPPKEY`: the key → its organisation, read (consistent) by every
//!   signed call. Not under the organisation: the call names only its key.
//! - `ORG#{org}#CHATAPP` / `KEY#{slot}`: the organisation's place for one key, written in the
//!   key's own transaction with `attribute_not_exists`, so two admins creating keys at once never
//!   hold more than `MAX_KEYS`; the list is one Query of this partition.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};

use super::{DynamoStore, Item, key_map, keyed, s};
use crate::domain::chat_app::ChatAppKey;
use crate::error::{Error, Result};
use crate::ports::{ChatAppKeyStore, PageRequest, Written};

pub mod keys {
    pub fn key(key_id: &str) -> (String, String) {
        (format!("CHATAPPKEY#{key_id}"), "CHATAPPKEY".into())
    }
    pub fn partition(org: &str) -> String {
        format!("ORG#{org}#CHATAPP")
    }
    pub fn slot(org: &str, slot: u8) -> (String, String) {
        (partition(org), format!("KEY#{slot}"))
    }
}

impl DynamoStore {
    fn delete_if(&self, key: (String, String), condition: &str, values: Item) -> Result<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(self.table())
            .set_key(Some(key_map(key)))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| Error::backend("dynamodb", e))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

#[async_trait]
impl ChatAppKeyStore for DynamoStore {
    async fn chat_app_key(&self, key_id: &str) -> Result<Option<ChatAppKey>> {
        self.get_consistent(keys::key(key_id)).await
    }

    async fn put_chat_app_key(&self, key: &ChatAppKey) -> Result<Written> {
        let absent = Some("attribute_not_exists(pk)");
        let items = vec![
            self.put_op(keyed(key, keys::slot(&key.org_id, key.slot), &[])?, absent, None)?,
            self.put_op(keyed(key, keys::key(&key.key_id), &[])?, absent, None)?,
        ];
        Ok(match self.transact(items).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }

    async fn chat_app_keys(&self, org_id: &str) -> Result<Vec<ChatAppKey>> {
        // At most MAX_KEYS items: one page holds them all.
        let page = PageRequest { limit: 10, cursor: None };
        let page = self.query_page(None, "pk", &keys::partition(org_id), Some(("sk", "KEY#")), None, true, &page).await?;
        Ok(page.items)
    }

    async fn delete_chat_app_key(&self, key: &ChatAppKey) -> Result<Written> {
        let items = vec![
            self.delete_if(keys::slot(&key.org_id, key.slot), "key_id = :key", HashMap::from([(":key".to_string(), s(&key.key_id))]))?,
            self.delete_if(keys::key(&key.key_id), "org_id = :org", HashMap::from([(":org".to_string(), s(&key.org_id))]))?,
        ];
        Ok(match self.transact(items).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }
}
