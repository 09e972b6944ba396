//! calls.fifo worker (the dialer): each job is one attempt of a feedback or demo call. The
//! attempt is claimed (at most once, within the organisation's `max_concurrent_calls`) and placed
//! through the voice provider with the organisation's own account; the provider's callbacks
//! (voice-webhook) take it from there.
//!
//! Jobs are grouped by organisation: one organisation's calls are placed one after another,
//! different organisations' side by side.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::Error;
use max_core::app::calls::DialJob;
use max_core::app::voice::{Dialled, dial};
use max_core::batch::{self, RecordResult, StopBy};
use max_core::config::{Deps, VoiceSettings};
use tracing::{error, info};

pub async fn handle(event: SqsEvent, deps: &Deps, stop_by: StopBy) -> Result<SqsBatchResponse, Error> {
    Ok(batch::process(&event, stop_by, |record| process_record(record, deps)).await)
}

/// What one record may take once started: the voice provider's request and a few DynamoDB calls.
/// The batch stops taking new records this long before the invocation's deadline, so no attempt
/// is cut off between its claim and the provider.
pub fn record_reserve(deps: &Deps) -> Duration {
    let provider = match &deps.settings.voice {
        Some(VoiceSettings::Twilio { timeout, .. }) => *timeout,
        _ => Duration::from_secs(1),
    };
    provider + Duration::from_secs(3)
}

async fn process_record(record: &SqsMessage, deps: &Deps) -> RecordResult {
    let Ok(job) = serde_json::from_str::<DialJob>(record.body.as_deref().unwrap_or_default()) else {
        error!(message_id = record.message_id.as_deref().unwrap_or_default(), "calls record is not a dial job; dropped");
        return Ok(());
    };
    match dial(&deps.voice_ports(), &job, deps.clock.now()).await {
        // At the cap: the call stays ready (a demo stays initiated-able) and the scheduler offers
        // it again next minute, when calls under way may have ended. Handing the job back instead
        // would hold the organisation's whole group and count towards the DLQ.
        Ok(Dialled::AtCapacity) => {
            info!(org_id = job.org_id, call_id = job.call_id, "organisation at its concurrent call cap; offered again next minute");
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => {
            error!(error = %e, org_id = job.org_id, call_id = job.call_id, "dial job failed; SQS retries it");
            Err(())
        }
    }
}

#[cfg(test)]
mod tests;
