//! The rest of the world in memory: an outbox with FIFO deduplication that keeps what was queued,
//! a blob store, secrets, and a clock a test moves by hand. With `MemoryStore` and the WhatsApp sandbox,
//! a handler runs whole without AWS.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Duration, Utc};

use crate::error::{Error, Result};
use crate::domain::secret::Secret;
use crate::ports::{BlobStore, Clock, Outbox, Queue, QueueMessage, Secrets};

#[derive(Default)]
struct OutboxState {
    queued: BTreeMap<Queue, Vec<QueueMessage>>,
    /// Deduplication ids seen per queue: a FIFO queue drops a repeated one (SQS does for five
    /// minutes; a test never runs that long).
    seen: BTreeSet<(Queue, String)>,
    retries: Vec<(Queue, String, i32)>,
    /// `(queue, delay)` of every delayed send, in order (the message is queued too).
    delays: Vec<(Queue, u32)>,
    fail_next: Option<Error>,
}

/// The outbox in memory: what was queued, in order, per queue.
#[derive(Default)]
pub struct MemoryOutbox {
    state: Mutex<OutboxState>,
}

impl MemoryOutbox {
    pub fn new() -> Self {
        MemoryOutbox::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every job queued on `queue` so far (duplicates dropped), oldest first.
    pub fn jobs(&self, queue: Queue) -> Vec<QueueMessage> {
        self.state().queued.get(&queue).cloned().unwrap_or_default()
    }

    /// The jobs queued on `queue` since the last take: what a worker would receive next.
    pub fn take(&self, queue: Queue) -> Vec<QueueMessage> {
        self.state().queued.remove(&queue).unwrap_or_default()
    }

    /// The jobs queued on `queue` since the last take, as the SQS event Lambda would hand the
    /// worker (first delivery; message ids and receipt handles numbered in order).
    pub fn take_event(&self, queue: Queue) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = self.take(queue).iter().enumerate().map(|(i, m)| sqs_record(i, m, 1)).collect();
        event
    }

    /// `(queue, receipt handle, delay)` of every retry asked for.
    pub fn retries(&self) -> Vec<(Queue, String, i32)> {
        self.state().retries.clone()
    }

    /// `(queue, delay in seconds)` of every `send_delayed`, oldest first.
    pub fn delays(&self) -> Vec<(Queue, u32)> {
        self.state().delays.clone()
    }

    /// The next `send_batch` fails with `error` and queues nothing (a queue outage).
    pub fn fail_next_send(&self, error: Error) {
        self.state().fail_next = Some(error);
    }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn send_batch(&self, queue: Queue, messages: &[QueueMessage]) -> Result<()> {
        if messages.len() > 10 {
            return Err(Error::backend("sqs", "a batch holds at most 10 messages"));
        }
        let mut state = self.state();
        if let Some(e) = state.fail_next.take() {
            return Err(e);
        }
        for m in messages {
            if let Some(dedup) = &m.dedup_id
                && !state.seen.insert((queue, dedup.clone())) {
                    continue;
                }
            state.queued.entry(queue).or_default().push(m.clone());
        }
        Ok(())
    }

    async fn retry_later(&self, queue: Queue, receipt_handle: &str, delay_secs: i32) -> Result<()> {
        self.state().retries.push((queue, receipt_handle.to_string(), delay_secs));
        Ok(())
    }

    async fn send_delayed(&self, queue: Queue, message: &QueueMessage, delay_secs: u32) -> Result<()> {
        if delay_secs > 900 {
            return Err(Error::backend("sqs", "a message's delay is at most 900 seconds"));
        }
        let mut state = self.state();
        if let Some(e) = state.fail_next.take() {
            return Err(e);
        }
        state.delays.push((queue, delay_secs));
        state.queued.entry(queue).or_default().push(message.clone());
        Ok(())
    }
}

/// A queued job as an SQS record delivered for the `receive_count`th time.
pub fn sqs_record(index: usize, message: &QueueMessage, receive_count: u32) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(format!("memory-{index}"));
    record.receipt_handle = Some(format!("receipt-{index}"));
    record.body = Some(message.body.clone());
    record.attributes.insert("ApproximateReceiveCount".into(), receive_count.to_string());
    if let Some(group) = &message.group_id {
        record.attributes.insert("MessageGroupId".into(), group.clone());
    }
    record
}

/// Blobs in memory, with their content types.
#[derive(Default)]
pub struct MemoryBlobs {
    blobs: Mutex<BTreeMap<String, (Vec<u8>, String)>>,
}

impl MemoryBlobs {
    pub fn new() -> Self {
        MemoryBlobs::default()
    }

    /// The keys stored under `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        blobs.keys().filter(|k| k.starts_with(prefix)).cloned().collect()
    }
}

#[async_trait]
impl BlobStore for MemoryBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        self.blobs.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_string(), (bytes, content_type.to_string()));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        // S3 answers NoSuchKey: a backend failure from the caller's view, as the S3 adapter maps it.
        blobs.get(key).map(|(b, _)| b.clone()).ok_or_else(|| Error::backend("s3", format!("no blob at {key}")))
    }

    async fn list(&self, prefix: &str, limit: i32) -> Result<Vec<String>> {
        let limit = usize::try_from(limit).ok().filter(|l| *l >= 1).ok_or_else(|| Error::backend("s3", "max-keys must be at least 1"))?;
        // BTreeMap order is byte order, as S3 lists keys.
        Ok(self.keys(prefix).into_iter().take(limit).collect())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.blobs.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        Ok(())
    }

    async fn put_chunks(&self, key: &str, content_type: &str, body: &mut dyn crate::ports::ChunkSource) -> Result<u64> {
        // Like S3's aborted multipart upload: nothing is kept when the body fails half-way.
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next_chunk().await? {
            bytes.extend_from_slice(&chunk);
        }
        let size = bytes.len() as u64;
        self.put(key, bytes, content_type).await?;
        Ok(size)
    }

    async fn presigned_get(&self, key: &str, expires_in_secs: u64) -> Result<String> {
        // Not a URL anything serves: tests read the key back from it (`MemoryBlobs::presigned_key`).
        Ok(format!("memory://blobs/{key}?expires_in={expires_in_secs}"))
    }

    async fn presigned_put(&self, key: &str, content_type: &str, content_length: u64, expires_in_secs: u64) -> Result<crate::ports::PresignedPut> {
        // Like `presigned_get`, named for tests (`presigned_key`); S3's signed headers as S3 lists them.
        Ok(crate::ports::PresignedPut {
            url: format!("memory://blobs/{key}?put&expires_in={expires_in_secs}"),
            headers: vec![("content-length".into(), content_length.to_string()), ("content-type".into(), content_type.to_string())],
        })
    }

    async fn head(&self, key: &str) -> Result<Option<crate::ports::BlobHead>> {
        let blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        Ok(blobs.get(key).map(|(b, t)| crate::ports::BlobHead { size: b.len() as u64, content_type: Some(t.clone()) }))
    }
}

impl MemoryBlobs {
    /// The key a `presigned_get` URL of this store names.
    pub fn presigned_key(url: &str) -> Option<&str> {
        url.strip_prefix("memory://blobs/")?.split('?').next()
    }

    /// The content type stored with `key`.
    pub fn content_type(&self, key: &str) -> Option<String> {
        self.blobs.lock().unwrap_or_else(|p| p.into_inner()).get(key).map(|(_, t)| t.clone())
    }
}

#[derive(Default)]
struct SecretsState {
    /// Name → current value, and whether its deletion is scheduled.
    secrets: BTreeMap<String, (Secret, bool)>,
    reads: usize,
    fail_next: Option<Error>,
}

/// Secrets in memory, with Secrets Manager's answers (a secret scheduled for deletion reads as
/// none, and a put brings it back); counts reads, so a test sees what a cache saved.
#[derive(Default)]
pub struct MemorySecrets {
    state: Mutex<SecretsState>,
}

impl MemorySecrets {
    pub fn new() -> Self {
        MemorySecrets::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SecretsState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many times a value was read (`secret`): Secrets Manager calls on the send path.
    pub fn reads(&self) -> usize {
        self.state().reads
    }

    /// The names of the secrets that exist and are not scheduled for deletion.
    pub fn names(&self) -> Vec<String> {
        self.state().secrets.iter().filter(|(_, (_, deleted))| !deleted).map(|(n, _)| n.clone()).collect()
    }

    /// The next call fails with `error` (Secrets Manager unavailable).
    pub fn fail_next(&self, error: Error) {
        self.state().fail_next = Some(error);
    }

    fn planted(&self) -> Result<std::sync::MutexGuard<'_, SecretsState>> {
        let mut state = self.state();
        match state.fail_next.take() {
            Some(e) => Err(e),
            None => Ok(state),
        }
    }
}

#[async_trait]
impl Secrets for MemorySecrets {
    async fn put_secret(&self, name: &str, value: &Secret) -> Result<()> {
        self.planted()?.secrets.insert(name.to_string(), (value.clone(), false));
        Ok(())
    }

    async fn secret(&self, name: &str) -> Result<Option<Secret>> {
        let mut state = self.planted()?;
        state.reads += 1;
        Ok(state.secrets.get(name).filter(|(_, deleted)| !deleted).map(|(v, _)| v.clone()))
    }

    async fn delete_secret(&self, name: &str) -> Result<()> {
        if let Some((_, deleted)) = self.planted()?.secrets.get_mut(name) {
            *deleted = true;
        }
        Ok(())
    }
}

/// A clock that stands still until a test moves it.
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn at(now: DateTime<Utc>) -> Self {
        ManualClock { now: Mutex::new(now) }
    }

    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}
