//! Cold-start wiring: build the clients once, lend them to every invocation.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use max_core::config::Deps;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env().await;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move { action_responder::handle(event.payload, deps).await })).await
}
