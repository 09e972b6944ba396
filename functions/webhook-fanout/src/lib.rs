//! The table's stream consumer (`docs/webhooks.md`): each event written to an organisation's feed
//! becomes one delivery job per enabled webhook subscription that wants it, on the webhooks
//! queue (`max_core::batch::each_feed_insert` skips every other item). A record that cannot be
//! fanned out stops the batch there: Lambda retries the stream from that record, so nothing after
//! it is lost or reordered.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::Error;
use max_core::app::webhook_delivery;
use max_core::batch::each_feed_insert;
use max_core::config::Deps;
use tracing::info;

pub async fn handle(event: Event, deps: &Deps) -> Result<DynamoDbEventResponse, Error> {
    let ports = deps.webhook_fan_out_ports();
    Ok(each_feed_insert(&event, |feed_event| {
        let ports = &ports;
        async move {
            let jobs = webhook_delivery::fan_out(ports, &feed_event).await?;
            if jobs > 0 {
                info!(org_id = feed_event.org_id, seq = feed_event.seq, jobs, "event fanned out to webhook subscriptions");
            }
            Ok(())
        }
    })
    .await)
}

#[cfg(test)]
mod tests;
