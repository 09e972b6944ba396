//! Cold-start wiring: build the clients once, lend them to every invocation.

use lambda_http::{Error, Request, run, service_fn};
use max_core::config::{Deps, Needs};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // The table only: no queue, no secret, no peer.
    let deps = Deps::from_env(Needs::default()).await;
    let deps = &deps;
    run(service_fn(move |req: Request| async move { api_teams::handle(req, deps).await })).await
}
