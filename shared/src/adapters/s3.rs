//! S3: media, quarantined webhook bodies (listed and deleted when they are replayed) and bodies too
//! large for a queue message.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

use crate::error::{Error, Result};
use crate::ports::BlobStore;

#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Blobs { client, bucket: bucket.into() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| super::sdk_error("s3", e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| super::sdk_error("s3", e))?;
        let bytes = out.body.collect().await.map_err(|e| Error::backend("s3", e))?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn list(&self, prefix: &str, limit: i32) -> Result<Vec<String>> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(limit)
            .send()
            .await
            .map_err(|e| super::sdk_error("s3", e))?;
        Ok(out.contents.unwrap_or_default().into_iter().filter_map(|o| o.key).collect())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(|e| super::sdk_error("s3", e))?;
        Ok(())
    }
}
