//! Cold-start wiring: build the clients once, lend them to every invocation. The only function
//! that writes secrets (each number's Graph token), and the one that replays quarantined changes
//! onto the inbound queue.

use lambda_http::{Error, Request, run, service_fn};
use max_core::config::{Deps, Needs, s3_bucket, secrets_manager};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { queues: &[Queue::Inbound], blobs: Some(s3_bucket), secrets: Some(secrets_manager), ..Needs::default() }).await;
    let deps = &deps;
    run(service_fn(move |req: Request| async move { api_channels::handle(req, deps).await })).await
}
