//! Cold-start wiring: build the clients once, lend them to every invocation. Reads and writes the
//! subscriptions' signing secrets (Secrets Manager, `webhooks/*` below the stack's prefix).

use lambda_http::{Error, Request, run, service_fn};
use max_core::config::{Deps, Needs, secrets_manager};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { queues: &[Queue::Webhooks], secrets: Some(secrets_manager), ..Needs::default() }).await;
    let deps = &deps;
    run(service_fn(move |req: Request| async move { api_webhooks::handle(req, deps).await })).await
}
