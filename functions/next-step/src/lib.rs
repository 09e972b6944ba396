//! next-step queue worker: for each completed interaction, creates the one interaction that
//! follows it (template step, default template, or default follow-up) and links both. Jobs may
//! arrive twice or race; the use case makes every repeat a no-op.
//!
//! The same queue carries the campaign page jobs (`app::campaigns`): each starts a page of a
//! campaign's customers, each customer once however often the page is delivered.
//!
//! On a schedule, the same function queues again the jobs of completions whose next step is
//! still missing long after (a job lost between the completion and the queue).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::Error;
use max_core::app::campaigns::{NextStepQueueJob, start_page};
use max_core::app::interactions::{create_next_step, requeue_owed_next_steps};
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
    let Ok(job) = serde_json::from_str::<NextStepQueueJob>(record.body.as_deref().unwrap_or_default()) else {
        error!(message_id = record.message_id.as_deref().unwrap_or_default(), "next-step record is not a next-step or campaign page job; dropped");
        return Ok(());
    };
    let now = deps.clock.now();
    let done = match &job {
        NextStepQueueJob::NextStep(job) => create_next_step(&*deps.store, &*deps.store, job, now).await.map(drop),
        NextStepQueueJob::CampaignPage(page) => start_page(&deps.campaign_ports(), page, now).await.map(drop),
    };
    done.map_err(|e| error!(error = %e, job = ?job, "next-step queue job failed; SQS retries it"))
}

/// The scheduled sweep: queues again the jobs of next steps still owed.
pub async fn sweep(deps: &Deps) -> Result<usize, Error> {
    Ok(requeue_owed_next_steps(&*deps.store, &*deps.outbox, deps.clock.now()).await?)
}

#[cfg(test)]
mod tests;
