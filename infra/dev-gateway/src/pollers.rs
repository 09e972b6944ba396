//! Local stand-ins for Lambda's SQS event source mappings and EventBridge schedules: poll each
//! queue, hand the function real `SqsEvent` batches, delete what succeeded; fire schedules.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use max_core::config::Deps;
use serde_json::json;
use tracing::{error, warn};

use crate::registry;

pub struct QueuePoller {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub binary: String,
    pub batch_size: i32,
    pub deps: Arc<Deps>,
}

impl QueuePoller {
    pub async fn run(self) {
        loop {
            if let Err(e) = self.poll_once().await {
                warn!(queue = self.queue_url, error = e, "poll failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    /// One receive, one invocation, one delete. Returns how many records were handled.
    pub async fn poll_once(&self) -> Result<usize, String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size.clamp(1, 10))
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let records: Vec<_> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, serde_json::Value> = m
                    .attributes
                    .as_ref()
                    .map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), json!(v))).collect())
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id,
                    "receiptHandle": m.receipt_handle,
                    "body": m.body,
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body,
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).map_err(|e| e.to_string())?;
        let failed: HashSet<String> = match registry::invoke_sqs(&self.binary, event, &self.deps).await {
            Some(Ok(response)) => response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
            Some(Err(e)) => {
                error!(function = self.binary, error = %e, "function failed; the batch comes back after its visibility timeout");
                return Ok(messages.len());
            }
            None => return Err(format!("function {} is not registered in the dev gateway", self.binary)),
        };
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| m.message_id.as_ref().is_some_and(|id| !failed.contains(id)))
            .enumerate()
            .filter_map(|(i, m)| DeleteMessageBatchRequestEntry::builder().id(i.to_string()).set_receipt_handle(m.receipt_handle.clone()).build().ok())
            .collect();
        if !done.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        }
        Ok(messages.len())
    }
}

pub async fn run_schedule(binary: String, period: Duration, deps: Arc<Deps>) {
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        let event = json!({
            "version": "0", "id": ulid::Ulid::new().to_string(), "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "000000000000", "time": chrono::Utc::now().to_rfc3339(),
            "region": "us-east-1", "resources": [], "detail": {}
        });
        match registry::invoke_schedule(&binary, event, &deps).await {
            Some(Ok(())) => {}
            Some(Err(e)) => error!(function = binary, error = %e, "scheduled run failed"),
            None => {
                warn!(function = binary, "scheduled function not registered in the dev gateway");
                return;
            }
        }
    }
}
