//! SQS batches with partial failures: records run concurrently across message groups and in
//! order within one; only the failed ids are reported back (never an empty id).

use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::dynamodb;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use crate::adapters::dynamo::feed_event_from_stream;
use crate::domain::event::DashboardEvent;

/// Whether a record is done (delete it) or must come back later.
pub type RecordResult = Result<(), ()>;

pub fn group_id(record: &SqsMessage) -> Option<&str> {
    record.attributes.get("MessageGroupId").map(String::as_str)
}

/// SQS's count of deliveries of this record, 1 for the first.
pub fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1)
}

/// When a batch stops taking new records: the invocation's deadline less what one record may
/// take. A record cut off by the timeout would fail the whole batch, so SQS would hand back the
/// records already done too; records not started by then are handed back unprocessed instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopBy(Option<tokio::time::Instant>);

impl StopBy {
    /// No deadline (the dev gateway, tests of other things).
    pub const NEVER: StopBy = StopBy(None);

    pub fn at(instant: tokio::time::Instant) -> Self {
        StopBy(Some(instant))
    }

    /// `reserve` before the Lambda invocation's deadline.
    pub fn before_deadline(context: &lambda_runtime::Context, reserve: Duration) -> Self {
        let left = context.deadline().duration_since(SystemTime::now()).unwrap_or_default();
        StopBy(Some(tokio::time::Instant::now() + left.saturating_sub(reserve)))
    }

    fn passed(self) -> bool {
        self.0.is_some_and(|at| tokio::time::Instant::now() >= at)
    }
}

/// Runs `work` on each record. For a FIFO queue, once a record of a group fails the rest of that
/// group is reported failed unprocessed, so the group's order survives the retry. Records not
/// started by `stop_by` are reported failed unprocessed too.
pub async fn process<'a, F, Fut>(event: &'a SqsEvent, stop_by: StopBy, work: F) -> SqsBatchResponse
where
    F: Fn(&'a SqsMessage) -> Fut,
    Fut: Future<Output = RecordResult>,
{
    let mut groups: Vec<(Option<&str>, Vec<&SqsMessage>)> = Vec::new();
    for record in &event.records {
        let group = group_id(record);
        match groups.iter_mut().find(|(g, _)| g.is_some() && *g == group) {
            Some((_, records)) => records.push(record),
            None => groups.push((group, vec![record])),
        }
    }
    let work = &work;
    let failures = futures::future::join_all(groups.into_iter().map(|(_, records)| async move {
        let mut failed: Vec<&SqsMessage> = Vec::new();
        for record in records {
            if !failed.is_empty() || stop_by.passed() || work(record).await.is_err() {
                failed.push(record);
            }
        }
        failed
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for record in failures.into_iter().flatten() {
        if let Some(id) = record.message_id.as_ref().filter(|id| !id.is_empty()) {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id.clone();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// A batch of the table's stream for a consumer of the organisations' feeds (webhook-fanout,
/// live push): each feed event inserted goes to `work`, in stream order; every other record is
/// skipped (the event source mapping's filter already keeps most of them away). The first record
/// `work` fails stops the batch there and is reported, so Lambda retries the stream from it and
/// nothing after it is lost or reordered.
pub async fn each_feed_insert<F, Fut>(event: &dynamodb::Event, mut work: F) -> DynamoDbEventResponse
where
    F: FnMut(DashboardEvent) -> Fut,
    Fut: Future<Output = crate::Result<()>>,
{
    let mut response = DynamoDbEventResponse::default();
    for record in &event.records {
        if record.event_name != "INSERT" {
            continue;
        }
        let Some(feed_event) = feed_event_from_stream(&record.change.new_image) else {
            continue;
        };
        let (org_id, seq) = (feed_event.org_id.clone(), feed_event.seq);
        if let Err(e) = work(feed_event).await {
            tracing::error!(error = %e, org_id, seq, "feed event not handled; the stream retries from this record");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}

/// The Lambda loop of a queue worker that also runs a scheduled sweep (next-step, reply-sender):
/// an invocation carrying `Records` is an SQS batch for `handle` (with its invocation's context,
/// for the deadline); anything else is the schedule's event, answered with `{"requeued": n}` from
/// `sweep`.
pub async fn serve_queue_and_sweep<H, HF, S, SF>(handle: H, sweep: S) -> Result<(), lambda_runtime::Error>
where
    H: Fn(SqsEvent, lambda_runtime::Context) -> HF,
    HF: Future<Output = Result<SqsBatchResponse, lambda_runtime::Error>>,
    S: Fn() -> SF,
    SF: Future<Output = Result<usize, lambda_runtime::Error>>,
{
    let (handle, sweep) = (&handle, &sweep);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
        if event.payload.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(event.payload)?;
            Ok::<serde_json::Value, lambda_runtime::Error>(serde_json::to_value(handle(batch, event.context).await?)?)
        } else {
            Ok(serde_json::json!({ "requeued": sweep().await? }))
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> SqsEvent {
        serde_json::from_value(json!({"Records": [
            {"messageId": "a1", "body": "ok", "attributes": {"MessageGroupId": "A"}},
            {"messageId": "a2", "body": "fail", "attributes": {"MessageGroupId": "A"}},
            {"messageId": "a3", "body": "ok", "attributes": {"MessageGroupId": "A"}},
            {"messageId": "b1", "body": "ok", "attributes": {"MessageGroupId": "B"}},
            {"messageId": "", "body": "fail", "attributes": {"MessageGroupId": "C"}}
        ]}))
        .unwrap()
    }

    #[tokio::test]
    async fn a_failure_fails_the_rest_of_its_group_only() {
        let ev = event();
        let response = process(&ev, StopBy::NEVER, |r| async move { if r.body.as_deref() == Some("fail") { Err(()) } else { Ok(()) } }).await;
        let ids: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(ids, ["a2", "a3"]);
    }

    /// A stream record as Lambda hands it over (every field the event type requires).
    fn stream_record(event_name: &str, sequence: &str, new_image: serde_json::Value) -> serde_json::Value {
        json!({"eventID": sequence, "eventName": event_name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/s",
            "dynamodb": {"ApproximateCreationDateTime": 1796032800, "Keys": {"pk": new_image["pk"].clone()},
                "NewImage": new_image, "SequenceNumber": sequence, "SizeBytes": 100, "StreamViewType": "NEW_IMAGE"}})
    }

    fn feed_insert(sequence: &str, seq: u64) -> serde_json::Value {
        stream_record("INSERT", sequence, json!({
            "pk": {"S": "ORG#org_demo#EVENTS"}, "sk": {"S": format!("{seq:020}")}, "org_id": {"S": "org_demo"},
            "seq": {"N": seq.to_string()}, "kind": {"S": "ticket.opened"}, "at": {"S": "2026-12-06T10:00:00Z"},
            "recorded_at": {"S": "2026-12-06T10:00:00Z"}, "data": {"M": {}}, "expires_at": {"N": "1796032800"}}))
    }

    #[tokio::test]
    async fn a_feed_event_not_handled_stops_the_stream_batch_at_its_record() {
        // GIVEN a counter's update, another item's insert, then three feed events
        let event: dynamodb::Event = serde_json::from_value(json!({"Records": [
            stream_record("MODIFY", "s1", json!({"pk": {"S": "ORG#org_demo#EVENTS#SEQ"}, "seq": {"N": "3"}})),
            stream_record("INSERT", "s2", json!({"pk": {"S": "ORG#org_demo"}, "sk": {"S": "TEAM#t1"}})),
            feed_insert("s3", 1), feed_insert("s4", 2), feed_insert("s5", 3),
        ]}))
        .unwrap();
        // WHEN the second feed event cannot be handled
        let mut seen = Vec::new();
        let response = each_feed_insert(&event, |feed_event| {
            seen.push(feed_event.seq);
            async move { if feed_event.seq == 2 { Err(crate::Error::backend("sqs", "unavailable")) } else { Ok(()) } }
        })
        .await;
        // THEN only feed events reached the work, none after the failure, and the stream is told
        // to retry from that record
        assert_eq!(seen, [1, 2]);
        let ids: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_deref().unwrap_or_default()).collect();
        assert_eq!(ids, ["s4"]);
    }

    #[tokio::test(start_paused = true)]
    async fn records_not_started_by_the_deadline_are_handed_back_unprocessed() {
        // GIVEN records that take a second each, and 1.5 s before the batch must stop
        let ev = event();
        let started = std::sync::Mutex::new(Vec::new());
        let stop_by = StopBy::at(tokio::time::Instant::now() + Duration::from_millis(1500));
        let response = process(&ev, stop_by, |r| {
            started.lock().unwrap().push(r.message_id.clone().unwrap_or_default());
            async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(())
            }
        })
        .await;
        // THEN each group started its first record (they run side by side) and A its second, and
        // the rest comes back untouched
        let ids: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(ids, ["a3"]);
        let mut started = started.into_inner().unwrap();
        started.sort();
        assert_eq!(started, ["", "a1", "a2", "b1"]);
    }
}
