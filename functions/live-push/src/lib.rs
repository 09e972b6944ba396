//! The table's stream consumer for live push (`docs/live-push.md`): each event written to an
//! organisation's feed is posted to that organisation's open WebSocket connections, as
//! `GET /v1/events` shows it. Every other item of the table is skipped (the event source
//! mapping's filter already keeps most of them away). A record whose connections cannot be read
//! stops the batch there: Lambda retries the stream from that record. A post that fails is not
//! retried (the client catches up from the feed); a closed connection is forgotten.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::Error;
use max_core::adapters::dynamo::feed_event_from_stream;
use max_core::app::live_push;
use max_core::config::Deps;
use tracing::{error, info};

pub async fn handle(event: Event, deps: &Deps) -> Result<DynamoDbEventResponse, Error> {
    let mut response = DynamoDbEventResponse::default();
    for record in &event.records {
        if record.event_name != "INSERT" {
            continue;
        }
        let Some(feed_event) = feed_event_from_stream(&record.change.new_image) else {
            continue;
        };
        match live_push::push(&deps.live_push_ports(), &feed_event).await {
            Ok(p) if p.delivered + p.gone + p.failed == 0 => {}
            Ok(p) => info!(org_id = feed_event.org_id, seq = feed_event.seq, delivered = p.delivered, gone = p.gone, failed = p.failed, "event pushed to dashboards"),
            Err(e) => {
                error!(error = %e, org_id = feed_event.org_id, seq = feed_event.seq, "push failed; the stream retries from this record");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = record.change.sequence_number.clone();
                response.batch_item_failures.push(failure);
                break;
            }
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests;
