//! Cold-start wiring: build the clients once, lend them to every invocation. Reads the table (the
//! key of each call) and the keys' secrets (kept a few minutes per warm function); writes only
//! the inbound queue.

use lambda_http::{Error, Request, run, service_fn};
use max_core::config::{Deps, Needs, secrets_manager};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { queues: &[Queue::Inbound], secrets: Some(secrets_manager), ..Needs::default() }).await;
    let deps = &deps;
    run(service_fn(move |req: Request| async move { chat_app_webhook::handle(req, deps).await })).await
}
