//! S3: media, quarantined webhook bodies (listed and deleted when they are replayed) and bodies too
//! large for a queue message.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;

use crate::error::{Error, Result};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::ports::{BlobHead, BlobStore, ChunkSource, PART_BYTES, PresignedPut};

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

    async fn put_chunks(&self, key: &str, content_type: &str, body: &mut dyn ChunkSource) -> Result<u64> {
        // The first part decides: a body that ends within it is one PutObject (one call, not three).
        let (first, ended) = fill_part(body).await?;
        if ended {
            let size = first.len() as u64;
            self.put(key, first, content_type).await?;
            return Ok(size);
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| super::sdk_error("s3", e))?;
        let upload_id = created.upload_id.ok_or_else(|| Error::backend("s3", "CreateMultipartUpload answered no upload id"))?;
        match self.upload_parts(key, &upload_id, first, body).await {
            Ok(size) => Ok(size),
            Err(e) => {
                // Parts of an unfinished upload are billed until aborted: abort, then report.
                if let Err(abort) = self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(&upload_id).send().await {
                    tracing::warn!(error = %super::sdk_error("s3", abort), key, "multipart upload not aborted; the bucket's lifecycle rule removes it");
                }
                Err(e)
            }
        }
    }

    async fn presigned_get(&self, key: &str, expires_in_secs: u64) -> Result<String> {
        let config = PresigningConfig::expires_in(std::time::Duration::from_secs(expires_in_secs)).map_err(|e| Error::backend("s3", e))?;
        let presigned = self.client.get_object().bucket(&self.bucket).key(key).presigned(config).await.map_err(|e| super::sdk_error("s3", e))?;
        Ok(presigned.uri().to_string())
    }

    async fn presigned_put(&self, key: &str, content_type: &str, content_length: u64, expires_in_secs: u64) -> Result<PresignedPut> {
        let config = PresigningConfig::expires_in(std::time::Duration::from_secs(expires_in_secs)).map_err(|e| Error::backend("s3", e))?;
        let length = i64::try_from(content_length).map_err(|e| Error::backend("s3", e))?;
        // Both headers are signed: S3 refuses a PUT of another type or length.
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .presigned(config)
            .await
            .map_err(|e| super::sdk_error("s3", e))?;
        let headers = presigned.headers().map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())).collect();
        Ok(PresignedPut { url: presigned.uri().to_string(), headers })
    }

    async fn head(&self, key: &str) -> Result<Option<BlobHead>> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(BlobHead { size: out.content_length.and_then(|l| u64::try_from(l).ok()).unwrap_or(0), content_type: out.content_type })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(super::sdk_error("s3", e)),
        }
    }
}

impl S3Blobs {
    /// Uploads `first` and the rest of `body` part by part, then completes the upload: at most one
    /// part is held at a time.
    async fn upload_parts(&self, key: &str, upload_id: &str, first: Vec<u8>, body: &mut dyn ChunkSource) -> Result<u64> {
        let mut parts = Vec::new();
        let mut size = 0u64;
        let mut part = first;
        let mut ended = false;
        loop {
            let number = parts.len() as i32 + 1;
            size += part.len() as u64;
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(part))
                .send()
                .await
                .map_err(|e| super::sdk_error("s3", e))?;
            parts.push(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag).build());
            if ended {
                break;
            }
            let (next, last) = fill_part(body).await?;
            if next.is_empty() {
                break;
            }
            part = next;
            ended = last;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| super::sdk_error("s3", e))?;
        Ok(size)
    }
}

/// Reads `body` until one part is full (`PART_BYTES`) or the body ends (then `true`).
async fn fill_part(body: &mut dyn ChunkSource) -> Result<(Vec<u8>, bool)> {
    let mut part = Vec::with_capacity(PART_BYTES);
    while part.len() < PART_BYTES {
        match body.next_chunk().await? {
            Some(chunk) => part.extend_from_slice(&chunk),
            None => return Ok((part, true)),
        }
    }
    Ok((part, false))
}
