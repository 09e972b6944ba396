//! Local stand-ins for Lambda's SQS event source mappings and EventBridge schedules: poll each
//! queue, hand the function real `SqsEvent` batches (concurrently across FIFO message groups, in
//! order within one), delete what succeeded; fire schedules.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use max_core::config::Deps;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
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

/// Lambda's event source mapping for one queue, locally.
///
/// `receivers` loops long-poll the queue (up to `batch_size`, at most 10, per receive). For a
/// FIFO queue the records of one receive are split by message group and each group's records go
/// to the function as one invocation, in their order, while the receivers go on receiving: so
/// invocations run concurrently across groups, up to one per active group, bounded by
/// `max_concurrency` (Lambda's `ScalingConfig.MaximumConcurrency`). SQS (and moto) hands out no
/// message of a group while an earlier one is in flight, so a group's records are never processed
/// concurrently or out of order. A receive of a standard queue is one invocation. What the function
/// reports failed (`batchItemFailures`) is left on the queue; everything else is deleted as soon as
/// its invocation returns, which frees its group for the next receive.
pub struct EventSourceMapping {
    pub stats: Arc<PollerStats>,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub binary: String,
    pub batch_size: i32,
    pub deps: Arc<Deps>,
    /// Concurrent receive loops (long polls) on the queue.
    pub receivers: usize,
    /// Most invocations of the function at once for this queue.
    pub max_concurrency: usize,
    /// Told after each invocation (the stream pollers read then).
    pub writes: Arc<Writes>,
}

impl EventSourceMapping {
    /// Starts the receive loops; they run until their tasks are aborted.
    pub fn start(self) -> Vec<JoinHandle<()>> {
        let receivers = self.receivers;
        let slots = Arc::new(Semaphore::new(self.max_concurrency.max(1)));
        let mapping = Arc::new(self);
        (0..receivers).map(|_| tokio::spawn(mapping.clone().receive_loop(slots.clone()))).collect()
    }

    async fn receive_loop(self: Arc<Self>, slots: Arc<Semaphore>) {
        loop {
            // Receive only with room for at least one more invocation: what is received is in
            // flight (its visibility timeout runs) until its invocation returns.
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let messages = match self.receive().await {
                Ok(m) => m,
                Err(e) => {
                    warn!(queue = self.queue_url, error = e, "receive failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let received = Instant::now();
            let mut slot = Some(slot);
            for batch in split_by_group(messages) {
                let slot = match slot.take() {
                    Some(s) => s,
                    None => match slots.clone().acquire_owned().await {
                        Ok(s) => s,
                        Err(_) => return,
                    },
                };
                let mapping = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = mapping.invoke(batch, received).await {
                        warn!(queue = mapping.queue_url, error = e, "invocation's records not deleted; they come back after their visibility timeout");
                    }
                    drop(slot);
                });
            }
        }
    }

    async fn receive(&self) -> Result<Vec<Message>, String> {
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
        self.stats.received(messages.len(), asked.elapsed());
        Ok(messages)
    }

    /// One invocation with `messages` as its batch, then one delete of what succeeded.
    async fn invoke(&self, messages: Vec<Message>, received: Instant) -> Result<(), String> {
        let event = self.event(&messages)?;
        self.stats.invoking(split_groups_count(&messages));
        let started = Instant::now();
        let outcome = registry::invoke_sqs(&self.binary, event, &self.deps).await;
        self.writes.happened();
        let failed: HashSet<String> = match outcome {
            Some(Ok(response)) => response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
            Some(Err(e)) => {
                self.stats.invoked(started.elapsed(), messages.len());
                error!(function = self.binary, error = %e, "function failed; the batch comes back after its visibility timeout");
                return Ok(());
            }
            None => {
                self.stats.invoked(started.elapsed(), messages.len());
                return Err(format!("function {} is not registered in the dev gateway", self.binary));
            }
        };
        self.stats.invoked(started.elapsed(), failed.len());
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
        Ok(())
    }

    /// The `SqsEvent` Lambda would send for `messages`.
    fn event(&self, messages: &[Message]) -> Result<SqsEvent, String> {
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
        serde_json::from_value(json!({ "Records": records })).map_err(|e| e.to_string())
    }
}

fn group_of(m: &Message) -> Option<&str> {
    m.attributes.as_ref()?.get(&MessageSystemAttributeName::MessageGroupId).map(String::as_str)
}

fn split_groups_count(messages: &[Message]) -> usize {
    messages.iter().map(group_of).collect::<HashSet<_>>().len()
}

/// One batch per message group, each in the order received (the group's order); messages without
/// a group (a standard queue) stay together as one batch.
pub fn split_by_group(messages: Vec<Message>) -> Vec<Vec<Message>> {
    let mut batches: Vec<(Option<String>, Vec<Message>)> = Vec::new();
    for m in messages {
        let group = group_of(&m).map(str::to_string);
        match batches.iter_mut().find(|(g, _)| *g == group) {
            Some((_, batch)) => batch.push(m),
            None => batches.push((group, vec![m])),
        }
    }
    batches.into_iter().map(|(_, b)| b).collect()
}

/// The event EventBridge sends a scheduled function, for now.
pub fn scheduled_event() -> serde_json::Value {
    json!({
        "version": "0", "id": ulid::Ulid::new().to_string(), "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "000000000000", "time": chrono::Utc::now().to_rfc3339(),
        "region": "us-east-1", "resources": [], "detail": {}
    })
}

pub async fn run_schedule(binary: String, period: Duration, deps: Arc<Deps>, writes: Arc<Writes>) {
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        let outcome = registry::invoke_schedule(&binary, scheduled_event(), &deps).await;
        writes.happened();
        match outcome {
            Some(Ok(())) => {}
            Some(Err(e)) => error!(function = binary, error = %e, "scheduled run failed"),
            None => {
                warn!(function = binary, "scheduled function not registered in the dev gateway");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, group: Option<&str>) -> Message {
        let mut m = Message::builder().message_id(id);
        if let Some(g) = group {
            m = m.attributes(MessageSystemAttributeName::MessageGroupId, g);
        }
        m.build()
    }

    fn ids(batches: &[Vec<Message>]) -> Vec<Vec<&str>> {
        batches.iter().map(|b| b.iter().map(|m| m.message_id().unwrap_or_default()).collect()).collect()
    }

    #[test]
    fn a_fifo_receive_becomes_one_batch_per_group_in_the_group_s_order() {
        let received = vec![message("a1", Some("A")), message("b1", Some("B")), message("a2", Some("A")), message("c1", Some("C")), message("b2", Some("B"))];
        assert_eq!(ids(&split_by_group(received)), [vec!["a1", "a2"], vec!["b1", "b2"], vec!["c1"]]);
    }

    #[test]
    fn a_standard_queue_receive_stays_one_batch() {
        let received = vec![message("1", None), message("2", None), message("3", None)];
        assert_eq!(ids(&split_by_group(received)), [vec!["1", "2", "3"]]);
    }
}

/// Lambda's DynamoDB stream event source mapping, locally: reads each shard of the table's stream
/// from its start (the stack created the table), hands the function the records in order, and
/// hands a record it reported failed back again (with the ones after it) until it passes.
pub struct StreamSourceMapping {
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub stream_arn: String,
    pub binary: String,
    pub batch_size: i32,
    pub deps: Arc<Deps>,
    /// Rung after every function invocation of the stack: the stream is read at once then,
    /// instead of at the next idle read (`Writes`).
    pub kick: Arc<tokio::sync::Notify>,
}

/// The functions' writes, as a doorbell for the stream pollers. Only the functions the gateway
/// runs write to the table, so right after one returned is when the stream may have something
/// new: each poller is woken then (a stored permit if it is busy reading, so nothing is missed)
/// and otherwise reads an idle stream every [`STREAM_POLL`], as Lambda does. This is what gets
/// an event to a dashboard's WebSocket in tens of milliseconds without polling moto's one
/// DynamoDB process faster (`docs/live-push.md`).
#[derive(Default)]
pub struct Writes {
    pollers: std::sync::Mutex<Vec<Arc<tokio::sync::Notify>>>,
}

impl Writes {
    /// A doorbell for one more stream poller.
    pub fn bell(&self) -> Arc<tokio::sync::Notify> {
        let bell = Arc::new(tokio::sync::Notify::new());
        self.pollers.lock().unwrap_or_else(|p| p.into_inner()).push(bell.clone());
        bell
    }

    /// A function invocation has returned: every stream poller reads now.
    pub fn happened(&self) {
        for bell in self.pollers.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            bell.notify_one();
        }
    }
}

/// How often an idle stream is read again: Lambda polls each shard about four times a second, and
/// every test's stack polls its own stream on the one moto DynamoDB process, so no faster.
const STREAM_POLL: Duration = Duration::from_millis(250);
/// Shards are looked for again every this many reads (a table's stream gains shards rarely).
const DESCRIBE_EVERY: u32 = 8;

impl StreamSourceMapping {
    pub fn start(self) -> JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        let mut shards: std::collections::BTreeMap<String, Option<String>> = std::collections::BTreeMap::new();
        let mut pending: Vec<aws_lambda_events::event::dynamodb::EventRecord> = Vec::new();
        let mut reads: u32 = 0;
        loop {
            let describe = reads % DESCRIBE_EVERY == 0 || shards.values().all(Option::is_none);
            reads = reads.wrapping_add(1);
            if describe
                && let Ok(described) = self.streams.describe_stream().stream_arn(&self.stream_arn).send().await {
                for shard in described.stream_description().map(|d| d.shards()).unwrap_or_default() {
                    let Some(id) = shard.shard_id() else { continue };
                    if shards.contains_key(id) {
                        continue;
                    }
                    let iterator = self
                        .streams
                        .get_shard_iterator()
                        .stream_arn(&self.stream_arn)
                        .shard_id(id)
                        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
                        .send()
                        .await;
                    match iterator {
                        Ok(out) => {
                            shards.insert(id.to_string(), out.shard_iterator().map(str::to_string));
                        }
                        Err(e) => warn!(error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(e), "stream shard iterator"),
                    }
                }
            }
            let mut read_any = false;
            for iterator in shards.values_mut() {
                let Some(current) = iterator.clone() else { continue };
                match self.streams.get_records().shard_iterator(&current).limit(self.batch_size).send().await {
                    Ok(out) => {
                        *iterator = out.next_shard_iterator().map(str::to_string);
                        read_any |= !out.records().is_empty();
                        pending.extend(out.records().iter().map(event_record));
                    }
                    Err(e) => warn!(error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(e), "stream records"),
                }
            }
            if !pending.is_empty() {
                let mut event = aws_lambda_events::event::dynamodb::Event::default();
                event.records = pending.clone();
                match registry::invoke_stream(&self.binary, event, &self.deps).await {
                    Some(Ok(response)) => {
                        let failed = response.batch_item_failures.first().and_then(|f| f.item_identifier.clone());
                        match failed.and_then(|seq| pending.iter().position(|r| r.change.sequence_number.as_deref() == Some(seq.as_str()))) {
                            Some(at) => {
                                pending.drain(..at);
                            }
                            None => pending.clear(),
                        }
                    }
                    Some(Err(e)) => error!(binary = self.binary, error = %e, "stream consumer failed; the batch is retried"),
                    None => {
                        error!(binary = self.binary, "not a stream consumer of the dev gateway");
                        return;
                    }
                }
            }
            if !read_any {
                tokio::select! {
                    _ = tokio::time::sleep(STREAM_POLL) => {}
                    _ = self.kick.notified() => {}
                }
            }
        }
    }
}

/// A stream record as Lambda hands it over.
fn event_record(record: &aws_sdk_dynamodbstreams::types::Record) -> aws_lambda_events::event::dynamodb::EventRecord {
    let mut out = aws_lambda_events::event::dynamodb::EventRecord::default();
    out.event_name = record.event_name().map(|n| n.as_str().to_string()).unwrap_or_default();
    out.event_id = record.event_id().unwrap_or_default().to_string();
    out.event_source = Some("aws:dynamodb".into());
    if let Some(change) = record.dynamodb() {
        out.change.keys = item(change.keys());
        out.change.new_image = item(change.new_image());
        out.change.old_image = item(change.old_image());
        out.change.sequence_number = change.sequence_number().map(str::to_string);
    }
    out
}

fn item(map: Option<&std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>) -> serde_dynamo::Item {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect::<std::collections::HashMap<_, _>>()).unwrap_or_default().into()
}

fn attribute(value: &aws_sdk_dynamodbstreams::types::AttributeValue) -> serde_dynamo::AttributeValue {
    use aws_sdk_dynamodbstreams::types::AttributeValue as S;
    use serde_dynamo::AttributeValue as D;
    match value {
        S::S(s) => D::S(s.clone()),
        S::N(n) => D::N(n.clone()),
        S::Bool(b) => D::Bool(*b),
        S::B(b) => D::B(b.clone().into_inner()),
        S::M(m) => D::M(m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect()),
        S::L(l) => D::L(l.iter().map(attribute).collect()),
        S::Ss(v) => D::Ss(v.clone()),
        S::Ns(v) => D::Ns(v.clone()),
        S::Bs(v) => D::Bs(v.iter().map(|b| b.clone().into_inner()).collect()),
        _ => D::Null(true),
    }
}
