//! Cold-start wiring: build the clients once, lend them to every invocation.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use max_core::batch::StopBy;
use max_core::config::{Deps, Needs, s3_bucket};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { queues: &[Queue::Replies, Queue::Media], blobs: Some(s3_bucket), ..Needs::default() }).await;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let stop_by = StopBy::before_deadline(&event.context, inbound_processor::RECORD_RESERVE);
        inbound_processor::handle(event.payload, deps, stop_by).await
    }))
    .await
}
