//! Cold-start wiring: the table (connections) and the WebSocket API's Management endpoint.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use max_core::config::{self, Deps, Needs};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { live_push: Some(config::api_gateway_push), ..Needs::default() }).await;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<aws_lambda_events::event::dynamodb::Event>| async move {
        live_push::handle(event.payload, deps).await
    }))
    .await
}
