//! actions.fifo worker: each record is one decided action to fan out (the customer's answer through
//! replies.fifo, the answer's record, the `action_status_update` note, the dashboard event). Every
//! effect is idempotent, so a redelivered record changes nothing.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::Error;
use max_core::app::actions::{ActionJob, ActionPorts, fan_out};
use max_core::batch::{self, RecordResult, receive_count};
use max_core::config::Deps;
use tracing::error;

pub async fn handle(event: SqsEvent, deps: &Deps) -> Result<SqsBatchResponse, Error> {
    Ok(batch::process(&event, |record| process_record(record, deps)).await)
}

fn ports(deps: &Deps) -> ActionPorts<'_> {
    ActionPorts::from_deps(deps)
}

async fn process_record(record: &SqsMessage, deps: &Deps) -> RecordResult {
    let Ok(job) = serde_json::from_str::<ActionJob>(record.body.as_deref().unwrap_or_default()) else {
        error!(message_id = record.message_id.as_deref().unwrap_or_default(), "actions record is not an action job; dropped");
        return Ok(());
    };
    match fan_out(&ports(deps), &job, receive_count(record), deps.clock.now()).await {
        Ok(()) => Ok(()),
        Err(e) => {
            error!(error = %e, action_id = job.action_id, "fan-out failed; SQS retries it");
            Err(())
        }
    }
}
