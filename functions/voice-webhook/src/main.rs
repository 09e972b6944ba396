//! Cold-start wiring: build the clients once, lend them to every invocation.

use lambda_http::{Error, Request, run, service_fn};
use max_core::config::{Deps, Needs, secrets_manager};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Secrets: each organisation's voice account (its auth token verifies the callbacks), kept for
    // a few minutes; the public URL is what the provider signed.
    let deps = Deps::from_env(Needs { queues: &[Queue::Replies], secrets: Some(secrets_manager), public_url: true, ..Needs::default() }).await;
    let deps = &deps;
    run(service_fn(move |req: Request| async move { voice_webhook::handle(req, deps).await })).await
}
