//! next-step queue worker: for each completed interaction, creates the one interaction that
//! follows it (template step, default template, or default follow-up) and links both. Jobs may
//! arrive twice or race; the use case makes every repeat a no-op.
//!
//! On a schedule, the same function queues again the jobs of completions whose next step is
//! still missing long after (a job lost between the completion and the queue).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::Error;
use max_core::app::interactions::{NextStepJob, create_next_step, requeue_owed_next_steps};
use max_core::batch::{self, RecordResult, StopBy};
use max_core::config::Deps;
use tracing::error;

/// What one record may take once started (a few DynamoDB calls): the batch stops taking new
/// records this long before the invocation's deadline.
pub const RECORD_RESERVE: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn handle(event: SqsEvent, deps: &Deps, stop_by: StopBy) -> Result<SqsBatchResponse, Error> {
    Ok(batch::process(&event, stop_by, |record| process_record(record, deps)).await)
}

async fn process_record(record: &SqsMessage, deps: &Deps) -> RecordResult {
    let Ok(job) = serde_json::from_str::<NextStepJob>(record.body.as_deref().unwrap_or_default()) else {
        error!(message_id = record.message_id.as_deref().unwrap_or_default(), "next-step record is not a next-step job; dropped");
        return Ok(());
    };
    match create_next_step(&*deps.store, &*deps.store, &job, deps.clock.now()).await {
        Ok(_) => Ok(()),
        Err(e) => {
            error!(error = %e, interaction_id = job.interaction_id, "next-step job failed; SQS retries it");
            Err(())
        }
    }
}

/// The scheduled sweep: queues again the jobs of next steps still owed.
pub async fn sweep(deps: &Deps) -> Result<usize, Error> {
    Ok(requeue_owed_next_steps(&*deps.store, &*deps.outbox, deps.clock.now()).await?)
}

#[cfg(test)]
mod tests;
