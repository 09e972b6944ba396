//! Cold-start wiring: build the clients once (the voice provider's HTTP client among them), lend
//! them to every batch.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use max_core::batch::StopBy;
use max_core::config::{Deps, Needs, secrets_manager, twilio};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Secrets: each organisation's voice account, read when it dials (kept for a few minutes).
    let deps = Deps::from_env(Needs { queues: &[Queue::Replies], secrets: Some(secrets_manager), voice: Some(twilio), public_url: true, ..Needs::default() }).await;
    let (deps, reserve) = (&deps, call_dialer::record_reserve(&deps));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
        call_dialer::handle(event.payload, deps, StopBy::before_deadline(&event.context, reserve)).await
    }))
    .await
}
