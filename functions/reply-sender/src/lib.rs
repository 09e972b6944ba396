//! replies.fifo worker: sends each queued outbound message through the Graph API once, with the
//! 24-hour window, the fallback template and backoff on throttling.
//!
//! On a schedule, the same function queues again the jobs of replies stored but never queued (a
//! job lost between the write and the queue).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::Error;
use max_core::app::delivery::{ReplyJob, SendResult, requeue_lost_replies, send_reply};
use std::time::Duration;

use max_core::batch::{self, RecordResult, StopBy, receive_count};
use max_core::config::{Deps, WhatsAppSettings};
use max_core::ports::Queue;
use tracing::{error, warn};

pub async fn handle(event: SqsEvent, deps: &Deps, stop_by: StopBy) -> Result<SqsBatchResponse, Error> {
    Ok(batch::process(&event, stop_by, |record| process_record(record, deps)).await)
}

/// What one record may take once started: the Graph request (twice when Meta's 131047 sends the
/// fallback template after it) and the recording of the send with its retries. The batch stops
/// taking new records this long before the invocation's deadline, so no send is cut off mid-way.
pub fn record_reserve(deps: &Deps) -> Duration {
    let graph = match &deps.settings.whatsapp {
        Some(WhatsAppSettings::Graph(graph)) => graph.timeout,
        _ => Duration::from_secs(1),
    };
    2 * graph + Duration::from_secs(3)
}

/// The scheduled sweep: queues again the jobs of replies stored but never queued.
pub async fn sweep(deps: &Deps) -> Result<usize, Error> {
    Ok(requeue_lost_replies(&*deps.store, &*deps.outbox, deps.clock.now()).await?)
}

async fn process_record(record: &SqsMessage, deps: &Deps) -> RecordResult {
    let Ok(job) = serde_json::from_str::<ReplyJob>(record.body.as_deref().unwrap_or_default()) else {
        error!(message_id = record.message_id.as_deref().unwrap_or_default(), "reply record is not a reply job; dropped");
        return Ok(());
    };
    match send_reply(&deps.sender_ports(), &job, receive_count(record), deps.clock.now()).await {
        Ok(SendResult::Done) => Ok(()),
        // Visible again at once: SQS sees the receive count past maxReceiveCount and moves the job
        // to the DLQ instead of waiting out the visibility timeout.
        Ok(SendResult::GiveUp) => retry_after(record, deps, 0).await,
        Ok(SendResult::RetryLater { delay_secs }) => retry_after(record, deps, delay_secs).await,
        Err(e) => {
            error!(error = %e, message_id = job.message_id, "reply job failed; SQS retries it");
            Err(())
        }
    }
}

/// Reports the record failed after setting when SQS hands it out again.
async fn retry_after(record: &SqsMessage, deps: &Deps, delay_secs: i32) -> RecordResult {
    if let Some(receipt) = record.receipt_handle.as_deref()
        && let Err(e) = deps.outbox.retry_later(Queue::Replies, receipt, delay_secs).await {
            warn!(error = %e, "could not set the retry delay; the visibility timeout applies");
        }
    Err(())
}

#[cfg(test)]
mod tests;
