//! Webhooks queue worker (`docs/webhooks.md`): each record is one delivery job (an event for one
//! subscription, at one attempt). It signs with every current secret, POSTs within the
//! subscription's timeout (the destination guard inside the resolver, no redirects), logs the
//! attempt, and queues the next attempt when the answer calls for one (a new message; delays past
//! SQS's 15 minutes come back early and wait again). Records run concurrently, each bounded by its
//! subscription's timeout, so a slow subscriber never holds up another's deliveries.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::Error;
use max_core::app::webhook_delivery::{Delivered, deliver};
use max_core::batch::{self, RecordResult, StopBy};
use max_core::config::Deps;
use max_core::domain::webhook_delivery::DeliveryJob;
use tracing::{error, info};

/// What one record may take once started: the longest subscription timeout (15 s) and the
/// store's writes around it. The batch takes no new record this long before the deadline.
pub const RECORD_RESERVE: Duration = Duration::from_secs(20);

pub async fn handle(event: SqsEvent, deps: &Deps, stop_by: StopBy) -> Result<SqsBatchResponse, Error> {
    Ok(batch::process(&event, stop_by, |record| process_record(record, deps)).await)
}

async fn process_record(record: &SqsMessage, deps: &Deps) -> RecordResult {
    let Ok(job) = serde_json::from_str::<DeliveryJob>(record.body.as_deref().unwrap_or_default()) else {
        error!(message_id = record.message_id.as_deref().unwrap_or_default(), "webhooks record is not a delivery job; dropped");
        return Ok(());
    };
    match deliver(&deps.webhook_delivery_ports(), &job).await {
        Ok(Delivered::Dropped(why)) => {
            info!(org_id = job.org_id, subscription_id = job.subscription_id, seq = job.event.seq, why, "webhook delivery dropped");
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => {
            error!(error = %e, org_id = job.org_id, subscription_id = job.subscription_id, seq = job.event.seq, "webhook delivery failed; SQS retries it");
            Err(())
        }
    }
}

#[cfg(test)]
mod tests;
