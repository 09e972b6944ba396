//! inbound.fifo worker: each record is one customer's webhook changes (or a pointer to a large
//! body). Records of one customer run in order; customers run in parallel; only failures return.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::Error;
use max_core::app::actions::DeliveryPorts;
use max_core::app::inbound::{InboundPorts, process_job, quarantine};
use max_core::batch::{self, RecordResult};
use max_core::config::Deps;
use max_core::domain::webhook::InboundJob;
use tracing::error;

pub async fn handle(event: SqsEvent, deps: &Deps) -> Result<SqsBatchResponse, Error> {
    Ok(batch::process(&event, |record| process_record(record, deps)).await)
}

fn ports(deps: &Deps) -> InboundPorts<'_> {
    InboundPorts {
        channels: &deps.store,
        customers: &deps.store,
        conversations: &deps.store,
        messages: &deps.store,
        templates: &deps.store,
        blobs: &deps.blobs,
        deliveries: DeliveryPorts { wamids: &deps.store, actions: &deps.store, events: &deps.store },
    }
}

async fn process_record(record: &SqsMessage, deps: &Deps) -> RecordResult {
    let body = record.body.as_deref().unwrap_or_default();
    let job: InboundJob = match serde_json::from_str(body) {
        Ok(job) => job,
        Err(e) => {
            // Not ours to retry: keep it for a person and let the queue move on.
            error!(error = %e, "inbound record is not an inbound job");
            return quarantine(&deps.blobs, "unreadable-inbound-job", body.as_bytes()).await.map(|_| ()).map_err(|_| ());
        }
    };
    match process_job(&ports(deps), &job).await {
        Ok(_received) => Ok(()),
        Err(e) => {
            error!(error = %e, message_id = record.message_id.as_deref().unwrap_or_default(), "inbound record failed; SQS retries it");
            Err(())
        }
    }
}
