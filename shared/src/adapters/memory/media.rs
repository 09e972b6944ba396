//! Inbound media records in memory (`ports::MediaStore`), as `adapters::dynamo::media` keeps
//! them: one per message, the expiry index read by day.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{MemoryStore, key, sort_time};
use crate::domain::media::MediaFile;
use crate::error::Result;
use crate::ports::{MediaStore, Written};

#[async_trait]
impl MediaStore for MemoryStore {
    async fn create_media_file(&self, file: &MediaFile) -> Result<Written> {
        let mut st = self.write("create_media_file")?;
        let k = key(&file.org_id, &file.id);
        if st.media.contains_key(&k) {
            return Ok(Written::AlreadyThere);
        }
        st.media.insert(k, file.clone());
        Ok(Written::Stored)
    }

    async fn media_file(&self, org_id: &str, id: &str) -> Result<Option<MediaFile>> {
        Ok(self
            .read("media_file")?
            .media
            .get(&key(org_id, id))
            .cloned())
    }

    async fn media_files(&self, org_id: &str, ids: &[String]) -> Result<Vec<MediaFile>> {
        let st = self.read("media_files")?;
        Ok(ids
            .iter()
            .filter_map(|id| st.media.get(&key(org_id, id)).cloned())
            .collect())
    }

    async fn save_media_file(&self, file: &MediaFile) -> Result<()> {
        self.write("save_media_file")?
            .media
            .insert(key(&file.org_id, &file.id), file.clone());
        Ok(())
    }

    async fn expiring_media(
        &self,
        day: NaiveDate,
        before: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<MediaFile>> {
        let st = self.read("expiring_media")?;
        // The index holds stored files and unused uploads, sorted by expiry then organisation and id.
        let mut due: Vec<&MediaFile> = st
            .media
            .values()
            .filter(|f| f.in_expiry_index() && f.expiry_day() == Some(day))
            .filter(|f| {
                f.delete_after
                    .is_some_and(|e| sort_time(e) < sort_time(before))
            })
            .collect();
        due.sort_by_key(|f| {
            (
                f.delete_after.map(sort_time),
                f.org_id.clone(),
                f.id.clone(),
            )
        });
        Ok(due
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(0))
            .cloned()
            .collect())
    }

    async fn delete_media_file(&self, org_id: &str, id: &str) -> Result<()> {
        self.write("delete_media_file")?
            .media
            .remove(&key(org_id, id));
        Ok(())
    }

    async fn media_retention(&self, org_id: &str) -> Result<Option<u32>> {
        Ok(self
            .read("media_retention")?
            .media_retention
            .get(org_id)
            .copied())
    }

    async fn put_media_retention(&self, org_id: &str, days: u32, audit: Option<&crate::domain::audit::AuditEntry>) -> Result<()> {
        let mut st = self.write("put_media_retention")?;
        if super::audit::with_entry(&mut st, true, audit) {
            st.media_retention.insert(org_id.to_string(), days);
        }
        Ok(())
    }
}
