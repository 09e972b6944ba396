//! Media queue worker (`docs/media.md`): each record names one inbound file (`MediaJob`). Per
//! attempt it asks Meta for a fresh URL (`GET /{media-id}`), downloads with the number's token as
//! a stream, uploads to S3 by multipart while counting size and SHA-256, checks both against
//! Meta's, and records the file `stored` (event `media.stored`). A media id Meta no longer knows
//! ends `unavailable` at once; other failures come back with a growing delay, and end
//! `unavailable` (event `media.unavailable`) on the last attempt, before the DLQ would take them.
//! A redelivered job for a file already stored or given up changes nothing.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::Error;
use max_core::app::media::{Fetched, fetch};
use max_core::batch::{self, RecordResult, StopBy};
use max_core::config::Deps;
use max_core::domain::media::MediaJob;
use max_core::ports::Queue;
use tracing::{error, info, warn};

/// What one record may take once started: a 100 MB file through Lambda's network (about 2 min at
/// a cautious 1 MB/s would not fit; in AWS it streams at tens of MB/s). The batch takes no new
/// record this long before the deadline.
pub const RECORD_RESERVE: Duration = Duration::from_secs(60);

/// The first retry's delay; doubled per attempt, at most `MAX_RETRY_DELAY_SECS`.
const FIRST_RETRY_DELAY_SECS: i32 = 30;
const MAX_RETRY_DELAY_SECS: i32 = 900;

pub async fn handle(
    event: SqsEvent,
    deps: &Deps,
    stop_by: StopBy,
) -> Result<SqsBatchResponse, Error> {
    Ok(batch::process(&event, stop_by, |record| process_record(record, deps)).await)
}

async fn process_record(record: &SqsMessage, deps: &Deps) -> RecordResult {
    let Ok(job) = serde_json::from_str::<MediaJob>(record.body.as_deref().unwrap_or_default())
    else {
        error!(
            message_id = record.message_id.as_deref().unwrap_or_default(),
            "media record is not a media job; dropped"
        );
        return Ok(());
    };
    let attempt = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(1);
    match fetch(&deps.media_ports(), &job, attempt).await {
        Ok(Fetched::Stored) => {
            info!(org_id = job.org_id, media_id = job.media_id, "media stored");
            Ok(())
        }
        Ok(Fetched::Unavailable(_) | Fetched::AlreadyDone) => Ok(()),
        Ok(Fetched::RetryLater(_)) => retry_after(record, deps, retry_delay(attempt)).await,
        Err(e) => {
            error!(error = %e, org_id = job.org_id, media_id = job.media_id, attempt, "media job failed; SQS retries it");
            retry_after(record, deps, retry_delay(attempt)).await
        }
    }
}

/// 30 s, 60 s, 120 s, … up to 15 minutes: Meta's outages pass, its URLs are asked for afresh.
pub fn retry_delay(attempt: u32) -> i32 {
    let doublings = attempt.saturating_sub(1).min(10);
    FIRST_RETRY_DELAY_SECS
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY_SECS)
}

/// Reports the record failed after setting when SQS hands it out again.
async fn retry_after(record: &SqsMessage, deps: &Deps, delay_secs: i32) -> RecordResult {
    if let Some(receipt) = record.receipt_handle.as_deref()
        && let Err(e) = deps
            .outbox
            .retry_later(Queue::Media, receipt, delay_secs)
            .await
    {
        warn!(error = %e, "could not set the retry delay; the visibility timeout applies");
    }
    Err(())
}

#[cfg(test)]
mod tests;
