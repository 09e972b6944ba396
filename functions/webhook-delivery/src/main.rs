//! Cold-start wiring: the table (subscriptions, attempt log, feed), Secrets Manager (the signing
//! secrets), the webhooks queue (retries) and the guarded HTTP client.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use max_core::batch::StopBy;
use max_core::config::{Deps, Needs, secrets_manager, webhook_http};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { queues: &[Queue::Webhooks], secrets: Some(secrets_manager), webhooks: Some(webhook_http), ..Needs::default() }).await;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
        webhook_delivery::handle(event.payload, deps, StopBy::before_deadline(&event.context, webhook_delivery::RECORD_RESERVE)).await
    }))
    .await
}
