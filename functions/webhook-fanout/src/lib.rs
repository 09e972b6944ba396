//! The table's stream consumer (`docs/webhooks.md`): each event written to an organisation's feed
//! becomes one delivery job per enabled webhook subscription that wants it, on the webhooks
//! queue. Every other item of the table is skipped (the event source mapping's filter already
//! keeps most of them away). A record that cannot be fanned out stops the batch there: Lambda
//! retries the stream from that record, so nothing after it is lost or reordered.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::Error;
use max_core::adapters::dynamo::feed_event_from_stream;
use max_core::app::webhook_delivery;
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
        match webhook_delivery::fan_out(&deps.webhook_fan_out_ports(), &feed_event).await {
            Ok(0) => {}
            Ok(jobs) => info!(org_id = feed_event.org_id, seq = feed_event.seq, jobs, "event fanned out to webhook subscriptions"),
            Err(e) => {
                error!(error = %e, org_id = feed_event.org_id, seq = feed_event.seq, "fan-out failed; the stream retries from this record");
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
