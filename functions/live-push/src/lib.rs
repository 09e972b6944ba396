//! The table's stream consumer for live push (`docs/live-push.md`): each event written to an
//! organisation's feed is posted to that organisation's open WebSocket connections, as
//! `GET /v1/events` shows it (`max_core::batch::each_feed_insert` skips every other item). A
//! record whose connections cannot be read stops the batch there: Lambda retries the stream from
//! that record. A post that fails is not retried (the client catches up from the feed); a closed
//! connection is forgotten.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::Error;
use max_core::app::live_push;
use max_core::batch::each_feed_insert;
use max_core::config::Deps;
use tracing::info;

pub async fn handle(event: Event, deps: &Deps) -> Result<DynamoDbEventResponse, Error> {
    let ports = deps.live_push_ports();
    Ok(each_feed_insert(&event, |feed_event| {
        let ports = &ports;
        async move {
            let p = live_push::push(ports, &feed_event).await?;
            if p.delivered + p.gone + p.failed > 0 {
                info!(org_id = feed_event.org_id, seq = feed_event.seq, delivered = p.delivered, gone = p.gone, failed = p.failed, "event pushed to dashboards");
            }
            Ok(())
        }
    })
    .await)
}

#[cfg(test)]
mod tests;
