//! Local stand-ins for Lambda's SQS event source mappings and EventBridge schedules: poll each
//! queue, hand the function real `SqsEvent` batches, delete what succeeded; fire schedules.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use max_core::config::Deps;
use serde_json::json;
use tracing::{error, warn};

use crate::registry;

/// Counters of one queue's event source mapping (all its pollers): where a message's time goes
/// between the queue and the function. Read by the load benchmark (`snapshot`, `since`).
#[derive(Default)]
pub struct PollerStats {
    pub queue: String,
    receives: AtomicU64,
    empty_receives: AtomicU64,
    received: AtomicU64,
    receive_us: AtomicU64,
    invocations: AtomicU64,
    invoke_us: AtomicU64,
    groups: AtomicU64,
    held_us: AtomicU64,
    failed: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
}

/// A copy of the counters at one moment; `since` subtracts an earlier one.
#[derive(Debug, Clone, Copy, Default)]
pub struct PollerCounts {
    pub receives: u64,
    pub empty_receives: u64,
    pub received: u64,
    pub receive_ms: f64,
    pub invocations: u64,
    pub invoke_ms: f64,
    pub groups: u64,
    pub held_ms: f64,
    pub failed: u64,
    pub peak_in_flight: u64,
}

impl PollerStats {
    pub fn new(queue: &str) -> Self {
        PollerStats { queue: queue.to_string(), ..Default::default() }
    }

    pub fn snapshot(&self) -> PollerCounts {
        let ms = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1000.0;
        PollerCounts {
            receives: self.receives.load(Ordering::Relaxed),
            empty_receives: self.empty_receives.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            receive_ms: ms(&self.receive_us),
            invocations: self.invocations.load(Ordering::Relaxed),
            invoke_ms: ms(&self.invoke_us),
            groups: self.groups.load(Ordering::Relaxed),
            held_ms: ms(&self.held_us),
            failed: self.failed.load(Ordering::Relaxed),
            peak_in_flight: self.peak_in_flight.swap(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed),
        }
    }

    fn received(&self, n: usize, took: Duration) {
        self.receives.fetch_add(1, Ordering::Relaxed);
        self.receive_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        if n == 0 {
            self.empty_receives.fetch_add(1, Ordering::Relaxed);
        }
        self.received.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn invoking(&self, groups: usize) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        self.groups.fetch_add(groups as u64, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
    }

    fn invoked(&self, took: Duration, failed: usize) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.invoke_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.failed.fetch_add(failed as u64, Ordering::Relaxed);
    }

    fn held(&self, messages: usize, since_received: Duration) {
        self.held_us.fetch_add(since_received.as_micros() as u64 * messages as u64, Ordering::Relaxed);
    }
}

impl PollerCounts {
    pub fn since(&self, before: &PollerCounts) -> PollerCounts {
        PollerCounts {
            receives: self.receives - before.receives,
            empty_receives: self.empty_receives - before.empty_receives,
            received: self.received - before.received,
            receive_ms: self.receive_ms - before.receive_ms,
            invocations: self.invocations - before.invocations,
            invoke_ms: self.invoke_ms - before.invoke_ms,
            groups: self.groups - before.groups,
            held_ms: self.held_ms - before.held_ms,
            failed: self.failed - before.failed,
            peak_in_flight: self.peak_in_flight,
        }
    }
}

impl std::fmt::Display for PollerCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = |total: f64, n: u64| if n == 0 { 0.0 } else { total / n as f64 };
        write!(
            f,
            "receives {} ({} empty, {:.1} ms each), {} messages; invocations {} ({:.1} records, {:.1} groups, {:.1} ms each), peak {} in flight; received → deleted {:.1} ms per message; {} records failed",
            self.receives,
            self.empty_receives,
            per(self.receive_ms, self.receives),
            self.received,
            self.invocations,
            per(self.received as f64, self.invocations),
            per(self.groups as f64, self.invocations),
            per(self.invoke_ms, self.invocations),
            self.peak_in_flight,
            per(self.held_ms, self.received),
            self.failed
        )
    }
}

pub struct QueuePoller {
    pub stats: Arc<PollerStats>,
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
        let asked = Instant::now();
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
        let received = Instant::now();
        self.stats.received(messages.len(), received - asked);
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
        let groups: HashSet<&str> = messages.iter().filter_map(|m| m.attributes.as_ref()?.get(&MessageSystemAttributeName::MessageGroupId).map(String::as_str)).collect();
        self.stats.invoking(groups.len());
        let outcome = registry::invoke_sqs(&self.binary, event, &self.deps).await;
        let n_failed = match &outcome {
            Some(Ok(r)) => r.batch_item_failures.len(),
            _ => messages.len(),
        };
        self.stats.invoked(received.elapsed(), n_failed);
        let failed: HashSet<String> = match outcome {
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
        self.stats.held(messages.len(), received.elapsed());
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
