//! Cold-start wiring: the table (subscriptions) and the webhooks queue.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use max_core::config::{Deps, Needs};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { queues: &[Queue::Webhooks], ..Needs::default() }).await;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<aws_lambda_events::event::dynamodb::Event>| async move {
        webhook_fanout::handle(event.payload, deps).await
    }))
    .await
}
