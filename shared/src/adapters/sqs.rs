//! SQS: the inbound, replies and next-step queues.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::error::{Error, Result};
use crate::ports::{Outbox, Queue, QueueMessage};

/// The outbox on SQS: each function knows the URLs of the queues it writes to, and only those.
#[derive(Debug, Clone)]
pub struct SqsOutbox {
    client: aws_sdk_sqs::Client,
    urls: HashMap<Queue, String>,
}

impl SqsOutbox {
    pub fn new(client: aws_sdk_sqs::Client, urls: HashMap<Queue, String>) -> Self {
        SqsOutbox { client, urls }
    }

    fn url(&self, queue: Queue) -> Result<&str> {
        // The wiring reads the URL of every queue a function declares; reaching this is a wiring bug.
        self.urls.get(&queue).map(String::as_str).ok_or_else(|| Error::backend("sqs", format!("no URL for the {} queue in this function", queue.as_str())))
    }
}

#[async_trait]
impl Outbox for SqsOutbox {
    async fn send_batch(&self, queue: Queue, messages: &[QueueMessage]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        if messages.len() > 10 {
            return Err(Error::backend("sqs", "a batch holds at most 10 messages"));
        }
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&m.body)
                    .set_message_group_id(m.group_id.clone())
                    .set_message_deduplication_id(m.dedup_id.clone())
                    .build()
                    .map_err(|e| Error::backend("sqs", e))
            })
            .collect::<Result<Vec<_>>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(self.url(queue)?)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| super::sdk_error("sqs", e))?;
        // A partial failure loses messages unless the caller retries the whole batch.
        if let Some(failed) = out.failed().first() {
            return Err(Error::backend("sqs", format!("{} of {} messages refused: {}", out.failed().len(), messages.len(), failed.message().unwrap_or(failed.code()))));
        }
        Ok(())
    }

    async fn retry_later(&self, queue: Queue, receipt_handle: &str, delay_secs: i32) -> Result<()> {
        self.client
            .change_message_visibility()
            .queue_url(self.url(queue)?)
            .receipt_handle(receipt_handle)
            .visibility_timeout(delay_secs.clamp(0, 43_200))
            .send()
            .await
            .map_err(|e| super::sdk_error("sqs", e))?;
        Ok(())
    }

    async fn send_delayed(&self, queue: Queue, message: &QueueMessage, delay_secs: u32) -> Result<()> {
        self.client
            .send_message()
            .queue_url(self.url(queue)?)
            .message_body(&message.body)
            .set_message_group_id(message.group_id.clone())
            .set_message_deduplication_id(message.dedup_id.clone())
            .delay_seconds(delay_secs.min(900) as i32)
            .send()
            .await
            .map_err(|e| super::sdk_error("sqs", e))?;
        Ok(())
    }
}
