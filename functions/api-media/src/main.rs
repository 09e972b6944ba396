//! Cold-start wiring: the table and the media bucket (presigned GETs), lent to every invocation.

use lambda_http::{Error, Request, run, service_fn};
use max_core::config::{Deps, Needs, s3_bucket};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = Deps::from_env(Needs { blobs: Some(s3_bucket), ..Needs::default() }).await;
    let deps = &deps;
    run(service_fn(move |req: Request| async move { api_media::handle(req, deps).await })).await
}
