//! Cold-start wiring: build the clients once, lend them to every invocation. Template requests
//! go to Meta's Graph API (or the sandbox) with a token of one of the organisation's numbers,
//! read from its secret.

use lambda_http::{Error, Request, run, service_fn};
use max_core::config::{Deps, Needs, graph_api, secrets_manager};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { whatsapp: Some(graph_api), secrets: Some(secrets_manager), ..Needs::default() }).await;
    let deps = &deps;
    run(service_fn(move |req: Request| async move { api_whatsapp_templates::handle(req, deps).await })).await
}
