//! Cold-start wiring: build the clients once, lend them to every invocation.

use lambda_http::{Error, Request, run, service_fn};
use max_core::config::{Deps, Needs, s3_bucket};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { queues: &[Queue::Replies, Queue::NextSteps], blobs: Some(s3_bucket), ..Needs::default() }).await;
    let deps = &deps;
    run(service_fn(move |req: Request| async move { api_conversations::handle(req, deps).await })).await
}
