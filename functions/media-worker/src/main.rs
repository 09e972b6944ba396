//! Cold-start wiring: build the clients once (the Graph API's HTTP client, S3, Secrets Manager for
//! the numbers' tokens), lend them to every batch.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use max_core::batch::StopBy;
use max_core::config::{Deps, Needs, graph_api, s3_bucket, secrets_manager};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // The media queue only to set a retry's delay on its own record.
    let deps = Deps::from_env(Needs {
        queues: &[Queue::Media],
        blobs: Some(s3_bucket),
        whatsapp: Some(graph_api),
        secrets: Some(secrets_manager),
        ..Needs::default()
    })
    .await;
    let deps = &deps;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            media_worker::handle(
                event.payload,
                deps,
                StopBy::before_deadline(&event.context, media_worker::RECORD_RESERVE),
            )
            .await
        },
    ))
    .await
}
