//! Cold-start wiring: build the clients once, lend them to every scheduled run.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use max_core::config::{Deps, Needs};
use max_core::ports::Queue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { queues: &[Queue::Calls, Queue::Replies], ..Needs::default() }).await;
    let deps = &deps;
    // The schedule's event says nothing the run needs: it is the minute that matters.
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| async move {
        Ok::<_, Error>(serde_json::to_value(call_scheduler::run(deps).await?)?)
    }))
    .await
}
