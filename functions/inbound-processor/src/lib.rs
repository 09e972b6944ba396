//! inbound.fifo worker: each record is one customer's webhook changes (or a pointer to a large
//! body). Records of one customer run in order; customers run in parallel; only failures return.
//! Every newly stored customer message then goes to the bot (menu, chat support, tickets).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::Error;
use max_core::app::{bot, media};
use max_core::app::inbound::{Received, process_job, quarantine};
use max_core::batch::{self, RecordResult, StopBy};
use max_core::config::Deps;
use max_core::domain::webhook::InboundJob;
use tracing::{error, warn};

/// What one record may take once started (a webhook body's messages, each stored and handed to
/// the bot): the batch stops taking new records this long before the invocation's deadline.
pub const RECORD_RESERVE: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn handle(event: SqsEvent, deps: &Deps, stop_by: StopBy) -> Result<SqsBatchResponse, Error> {
    Ok(batch::process(&event, stop_by, |record| process_record(record, deps)).await)
}

async fn process_record(record: &SqsMessage, deps: &Deps) -> RecordResult {
    let body = record.body.as_deref().unwrap_or_default();
    let job: InboundJob = match serde_json::from_str(body) {
        Ok(job) => job,
        Err(e) => {
            // Not ours to retry: keep it for a person and let the queue move on.
            error!(error = %e, "inbound record is not an inbound job");
            return quarantine(&*deps.blobs, "unreadable-inbound-job", body.as_bytes()).await.map(|_| ()).map_err(|_| ());
        }
    };
    match process_job(&deps.inbound_ports(), &job).await {
        Ok(received) => {
            for r in &received {
                // Before the bot marks it handled: a failure here comes back with the record, the
                // message still owed, and registers again (once; the job is harmless twice).
                if let Err(e) = media::register(&*deps.store, &*deps.outbox, &r.message, &r.conversation.phone_number_id, deps.clock.now()).await {
                    error!(error = %e, message_id = r.message.id, "media not registered; the record is retried");
                    return Err(());
                }
                // The rest stay owed: the redelivered record hands them on, in order.
                run_bot(r, deps).await?;
            }
            Ok(())
        }
        Err(e) => {
            error!(error = %e, message_id = record.message_id.as_deref().unwrap_or_default(), "inbound record failed; SQS retries it");
            Err(())
        }
    }
}

/// The bot reacts to a stored message, and its handling is recorded done. A failure is retried in
/// place first (every bot action is keyed by the message and safe to repeat), then by failing the
/// record: the redelivered job finds the message stored but still owed, and hands it on again.
async fn run_bot(received: &Received, deps: &Deps) -> RecordResult {
    let mut last = None;
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
        }
        match bot::handle_received(&deps.bot_ports(), received, deps.clock.now()).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                warn!(error = %e, attempt, message_id = received.message.id, "bot step failed");
                last = Some(e);
            }
        }
    }
    if let Some(e) = last {
        error!(
            error = %e,
            org_id = received.conversation.org_id,
            conversation_id = received.conversation.id,
            message_id = received.message.id,
            "bot step failed; the record is retried with the message still owed its handling"
        );
    }
    Err(())
}

#[cfg(test)]
mod tests;
