//! Cold-start wiring: the table and the media bucket, lent to every daily run.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use max_core::config::{Deps, Needs, s3_bucket};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs {
        blobs: Some(s3_bucket),
        ..Needs::default()
    })
    .await;
    let deps = &deps;
    // The schedule's event says nothing the run needs: it is the day that matters.
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(serde_json::json!({ "deleted": media_cleanup::run(deps).await? }))
        },
    ))
    .await
}
