//! The chat apps' API keys in memory (`ports::ChatAppKeyStore`), with the DynamoDB adapter's
//! transactions: a key and its organisation's slot are written and removed together or not at all.

use async_trait::async_trait;

use super::{MemoryStore, written};
use crate::domain::chat_app::ChatAppKey;
use crate::error::Result;
use crate::ports::{ChatAppKeyStore, Written};

#[async_trait]
impl ChatAppKeyStore for MemoryStore {
    async fn chat_app_key(&self, key_id: &str) -> Result<Option<ChatAppKey>> {
        Ok(self.read("chat_app_key")?.chat_app_keys.get(key_id).cloned())
    }

    async fn put_chat_app_key(&self, key: &ChatAppKey) -> Result<Written> {
        let mut st = self.write("put_chat_app_key")?;
        let slot = (key.org_id.clone(), key.slot);
        let fits = !st.chat_app_slots.contains_key(&slot) && !st.chat_app_keys.contains_key(&key.key_id);
        if fits {
            st.chat_app_slots.insert(slot, key.key_id.clone());
            st.chat_app_keys.insert(key.key_id.clone(), key.clone());
        }
        Ok(written(fits))
    }

    async fn chat_app_keys(&self, org_id: &str) -> Result<Vec<ChatAppKey>> {
        let st = self.read("chat_app_keys")?;
        let held = st.chat_app_slots.iter().filter(|((org, _), _)| org == org_id);
        Ok(held.filter_map(|(_, key_id)| st.chat_app_keys.get(key_id).cloned()).collect())
    }

    async fn delete_chat_app_key(&self, key: &ChatAppKey) -> Result<Written> {
        let mut st = self.write("delete_chat_app_key")?;
        let slot = (key.org_id.clone(), key.slot);
        let fits = st.chat_app_slots.get(&slot) == Some(&key.key_id)
            && st.chat_app_keys.get(&key.key_id).is_some_and(|k| k.org_id == key.org_id);
        if fits {
            st.chat_app_slots.remove(&slot);
            st.chat_app_keys.remove(&key.key_id);
        }
        Ok(written(fits))
    }
}
