//! Cold-start wiring: the table (connections) and the dashboard token checker.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use max_core::config::{self, Deps, Needs};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { identity: Some(config::identity_tokens), ..Needs::default() }).await;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move { ws_connections::handle(event.payload, deps).await })).await
}
