//! Cold-start wiring: the table, lent to every run.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use max_core::config::{Deps, Needs};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs::default()).await;
    let deps = &deps;
    // The schedule's event says nothing the run needs: the clock decides what is due.
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| async move { interaction_scheduler::run(deps).await }))
        .await
}
