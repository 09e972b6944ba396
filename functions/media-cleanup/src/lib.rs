//! Media cleanup (EventBridge, daily; `docs/media.md`): deletes every stored inbound file whose
//! organisation's retention (default 90 days) has passed — the S3 object, then its record —
//! reading only the expiry index's partitions of the last days (`MEDIAEXP#{day}`), never scanning.
//! The bucket's lifecycle rule is the safety net behind it, not the mechanism.

use lambda_runtime::Error;
use max_core::app::media;
use max_core::config::Deps;
use tracing::info;

pub async fn run(deps: &Deps) -> Result<usize, Error> {
    let deleted = media::clean_up(&*deps.store, &*deps.blobs, deps.clock.now()).await?;
    info!(deleted, "media past retention deleted");
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use max_core::config::Deps;
    use max_core::domain::media::{MediaFile, media_reference};
    use max_core::ports::{BlobStore, MediaStore};

    #[tokio::test]
    async fn a_run_deletes_the_files_past_retention_and_keeps_the_rest() {
        let start = Utc.with_ymd_and_hms(2026, 1, 10, 3, 0, 0).unwrap();
        let (deps, mem) = Deps::in_memory(start + Duration::days(91));
        for (id, stored_at) in [("old", start), ("new", start + Duration::days(2))] {
            let r = media_reference(
                "image",
                Some(&serde_json::json!({"id": format!("1{id}"), "mime_type": "image/png"})),
            )
            .unwrap();
            let mut f = MediaFile::pending("org-1", "c1", id, "n1", &r, stored_at);
            let key = f.storage_key(None);
            mem.blobs
                .put(&key, vec![1, 2, 3], "image/png")
                .await
                .unwrap();
            f.stored(key, None, 3, "h".into(), stored_at, 90);
            mem.store.save_media_file(&f).await.unwrap();
        }
        assert_eq!(super::run(&deps).await.unwrap(), 1);
        assert!(
            mem.store
                .media_file("org-1", "old")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            mem.blobs.keys("media/"),
            vec!["media/org-1/c1/new/1new.png".to_string()]
        );
        assert_eq!(
            super::run(&deps).await.unwrap(),
            0,
            "a second run the same day finds nothing"
        );
    }
}
