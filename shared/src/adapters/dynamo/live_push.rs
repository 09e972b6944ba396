//! DynamoDB for live push (`docs/live-push.md`, "Data model"):
//!
//! - `ORG#o#LIVE` / `CONN#{connection id}`: a dashboard's open WebSocket connection, TTL
//!   `expires_at` 2 hours after it opened or was last refreshed (API Gateway's own limit).
//!
//! One partition per organisation: the push of an event reads its organisation's connections with
//! one Query (a page per 1 MB), never another organisation's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{DynamoStore, keyed, key_map};
use crate::domain::live_push::LiveConnection;
use crate::error::Result;
use crate::ports::{LiveConnectionStore, Page, PageRequest};

pub mod keys {
    pub fn connections(org: &str) -> String {
        format!("ORG#{org}#LIVE")
    }
    pub fn connection(org: &str, connection_id: &str) -> (String, String) {
        (connections(org), format!("CONN#{connection_id}"))
    }
}

#[async_trait]
impl LiveConnectionStore for DynamoStore {
    async fn put_live_connection(&self, connection: &LiveConnection) -> Result<()> {
        self.put(keyed(connection, keys::connection(&connection.org_id, &connection.connection_id), &[])?).await
    }

    async fn delete_live_connection(&self, org_id: &str, connection_id: &str) -> Result<()> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key_map(keys::connection(org_id, connection_id))))
            .send()
            .await
            .map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn live_connections(&self, org_id: &str, now: DateTime<Utc>) -> Result<Vec<LiveConnection>> {
        let mut all = Vec::new();
        let mut page = PageRequest { limit: 1000, cursor: None };
        loop {
            // Eventually consistent: a connection opened a moment ago may miss one event, which
            // its client reads from the feed; half the read units on every event.
            let found: Page<LiveConnection> = self.query_page(None, "pk", &keys::connections(org_id), Some(("sk", "CONN#")), None, true, &page).await?;
            all.extend(found.items.into_iter().filter(|c| c.is_open(now)));
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(all),
            }
        }
    }
}
