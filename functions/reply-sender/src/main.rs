//! Cold-start wiring: build the clients once, lend them to every invocation. SQS batches carry
//! `Records`; anything else is the scheduled sweep.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use max_core::config::Deps;
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env().await;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        if event.payload.get("Records").is_some() {
            let batch = serde_json::from_value(event.payload)?;
            Ok::<Value, Error>(serde_json::to_value(reply_sender::handle(batch, deps).await?)?)
        } else {
            Ok(json!({ "requeued": reply_sender::sweep(deps).await? }))
        }
    }))
    .await
}
