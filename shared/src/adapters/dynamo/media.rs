//! Inbound media records on DynamoDB (`docs/media.md`): `ORG#{org}#MEDIA#{id}` / `MEDIA`, a stored
//! file also in gsi3 under its expiry day (`MEDIAEXP#{yyyy-mm-dd}` / `{delete_after}#{org}#{id}`)
//! so cleanup queries only the days that passed; the retention setting `ORG#{org}#MEDIA` /
//! `RETENTION`. An agent's upload is the same record, in the index from the start (`MediaFile::upload`).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{DynamoStore, from_item, key_map, keyed, n, s, sort_time};
use crate::domain::media::{MediaFile, expiry_partition};
use crate::error::Result;
use crate::ports::{MediaStore, Written};

/// BatchGetItem's ceiling of keys per call.
const BATCH_GET_KEYS: usize = 100;

pub mod keys_media {
    pub fn file(org: &str, id: &str) -> (String, String) {
        (format!("ORG#{org}#MEDIA#{id}"), "MEDIA".into())
    }
    pub fn retention(org: &str) -> (String, String) {
        (format!("ORG#{org}#MEDIA"), "RETENTION".into())
    }
}

fn file_item(file: &MediaFile) -> Result<super::Item> {
    let mut extra = Vec::new();
    // Stored files and unused uploads wait for cleanup: pending and unavailable ones hold no object.
    if file.in_expiry_index()
        && let (Some(day), Some(at)) = (file.expiry_day(), file.delete_after)
    {
        extra.push(("gsi3pk", expiry_partition(day)));
        extra.push((
            "gsi3sk",
            format!("{}#{}#{}", sort_time(at), file.org_id, file.id),
        ));
    }
    keyed(file, keys_media::file(&file.org_id, &file.id), &extra)
}

#[async_trait]
impl MediaStore for DynamoStore {
    async fn create_media_file(&self, file: &MediaFile) -> Result<Written> {
        self.put_new(file_item(file)?).await
    }

    async fn media_file(&self, org_id: &str, id: &str) -> Result<Option<MediaFile>> {
        self.get_consistent(keys_media::file(org_id, id)).await
    }

    async fn media_files(&self, org_id: &str, ids: &[String]) -> Result<Vec<MediaFile>> {
        let mut found = Vec::new();
        let mut wanted: Vec<(String, String)> =
            ids.iter().map(|id| keys_media::file(org_id, id)).collect();
        wanted.dedup();
        for chunk in wanted.chunks(BATCH_GET_KEYS) {
            for item in self.get_many_consistent(chunk).await?.into_iter().flatten() {
                found.push(from_item(item)?);
            }
        }
        Ok(found)
    }

    async fn save_media_file(&self, file: &MediaFile) -> Result<()> {
        self.put(file_item(file)?).await
    }

    async fn expiring_media(
        &self,
        day: NaiveDate,
        before: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<MediaFile>> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name("gsi3")
            .key_condition_expression("gsi3pk = :pk AND gsi3sk < :before")
            .expression_attribute_values(":pk", s(expiry_partition(day)))
            .expression_attribute_values(":before", s(sort_time(before)))
            .limit(limit)
            .send()
            .await
            .map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect()
    }

    async fn delete_media_file(&self, org_id: &str, id: &str) -> Result<()> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key_map(keys_media::file(org_id, id))))
            .send()
            .await
            .map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn media_retention(&self, org_id: &str) -> Result<Option<u32>> {
        let item: Option<HashMap<String, serde_json::Value>> =
            self.get(keys_media::retention(org_id)).await?;
        Ok(item
            .and_then(|i| i.get("days").and_then(serde_json::Value::as_u64))
            .and_then(|d| u32::try_from(d).ok()))
    }

    async fn put_media_retention(&self, org_id: &str, days: u32, audit: Option<&crate::domain::audit::AuditEntry>) -> Result<()> {
        let mut item = key_map(keys_media::retention(org_id));
        item.insert("days".into(), n(days));
        match audit {
            Some(entry) => self.write_audited(self.put_op(item, None, None)?, entry).await.map(|_| ()),
            None => self.put(item).await,
        }
    }
}
