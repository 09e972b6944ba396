//! The feedback calls' scheduler (EventBridge, every minute): calls in progress that heard nothing
//! for too long are given up (freeing their slots), then the due calls inside each organisation's
//! calling window, as many as it has free slots, go on the calls queue for the dialer. It reads
//! only what is due (a time-bucketed index per schedule), never the calls at large.

use lambda_runtime::Error;
use max_core::app::calls::{Dispatched, dispatch_due_calls};
use max_core::config::Deps;
use tracing::info;

pub async fn run(deps: &Deps) -> Result<Dispatched, Error> {
    let dispatched = dispatch_due_calls(&deps.call_ports(), &*deps.outbox, deps.clock.now()).await?;
    if dispatched != Dispatched::default() {
        info!(queued = dispatched.queued, given_up = dispatched.given_up, surveys_asked = dispatched.surveys_asked, "scheduler minute");
    }
    Ok(dispatched)
}

#[cfg(test)]
mod tests;
