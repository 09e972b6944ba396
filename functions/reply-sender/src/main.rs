//! Cold-start wiring: build the clients once, lend them to every invocation (SQS batches and the
//! scheduled sweep).

use lambda_runtime::Error;
use max_core::batch::StopBy;
use max_core::config::{Deps, Needs, graph_api, s3_bucket, secrets_manager};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Secrets: each number's Graph token, read when it sends (kept for a few minutes). The media
    // bucket: an agent's upload goes to Meta as a presigned link minted at send time.
    let deps = Deps::from_env(Needs {
        queues: &[Queue::Replies],
        whatsapp: Some(graph_api),
        secrets: Some(secrets_manager),
        blobs: Some(s3_bucket),
        ..Needs::default()
    })
    .await;
    let reserve = reply_sender::record_reserve(&deps);
    let handle = |batch, context| reply_sender::handle(batch, &deps, StopBy::before_deadline(&context, reserve));
    max_core::batch::serve_queue_and_sweep(handle, || reply_sender::sweep(&deps)).await
}
