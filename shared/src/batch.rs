//! SQS batches with partial failures: records run concurrently across message groups and in
//! order within one; only the failed ids are reported back (never an empty id).

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

/// Whether a record is done (delete it) or must come back later.
pub type RecordResult = Result<(), ()>;

pub fn group_id(record: &SqsMessage) -> Option<&str> {
    record.attributes.get("MessageGroupId").map(String::as_str)
}

/// SQS's count of deliveries of this record, 1 for the first.
pub fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1)
}

/// Runs `work` on each record. For a FIFO queue, once a record of a group fails the rest of that
/// group is reported failed unprocessed, so the group's order survives the retry.
pub async fn process<'a, F, Fut>(event: &'a SqsEvent, work: F) -> SqsBatchResponse
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
            if !failed.is_empty() || work(record).await.is_err() {
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
        let response = process(&ev, |r| async move { if r.body.as_deref() == Some("fail") { Err(()) } else { Ok(()) } }).await;
        let ids: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(ids, ["a2", "a3"]);
    }
}

/// The Lambda loop of a queue worker that also runs a scheduled sweep (next-step, reply-sender):
/// an invocation carrying `Records` is an SQS batch for `handle`; anything else is the
/// schedule's event, answered with `{"requeued": n}` from `sweep`.
pub async fn serve_queue_and_sweep<H, HF, S, SF>(handle: H, sweep: S) -> Result<(), lambda_runtime::Error>
where
    H: Fn(SqsEvent) -> HF,
    HF: Future<Output = Result<SqsBatchResponse, lambda_runtime::Error>>,
    S: Fn() -> SF,
    SF: Future<Output = Result<usize, lambda_runtime::Error>>,
{
    let (handle, sweep) = (&handle, &sweep);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
        if event.payload.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(event.payload)?;
            Ok::<serde_json::Value, lambda_runtime::Error>(serde_json::to_value(handle(batch).await?)?)
        } else {
            Ok(serde_json::json!({ "requeued": sweep().await? }))
        }
    }))
    .await
}
