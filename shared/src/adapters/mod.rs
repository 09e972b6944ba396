//! Every call to AWS and to the Graph API lives here.

#[cfg(any(test, feature = "testing"))]
pub mod contract;
pub mod dynamo;
pub mod graph;
pub mod identity_tokens;
pub mod live_push;
pub mod memory;
pub mod s3;
pub mod secrets;
pub mod sqs;
pub mod twilio;
pub mod webhook_http;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::error::Error;

/// The HTTP client of a peer we call (Meta's Graph API, Twilio), built once at cold start: the
/// whole request bounded by `timeout`, a connection by 3 s, idle connections kept 50 s (under the
/// peers' keep-alive). The TLS provider is installed here, so no client can be built without it
/// (call-dialer's first release build aborted at cold start on "No provider set").
pub(crate) fn peer_http_client(peer: &str, timeout: std::time::Duration) -> reqwest::Client {
    crate::config::install_tls_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(std::time::Duration::from_secs(3))
        .pool_idle_timeout(std::time::Duration::from_secs(50))
        .build()
        .unwrap_or_else(|e| panic!("the {peer} HTTP client builds (TLS provider installed at cold start): {e}"))
}

/// An SDK error with its whole cause chain, for logs and `Error::Backend`.
pub(crate) fn sdk_error<E: std::error::Error + ProvideErrorMetadata + 'static>(service: &'static str, err: E) -> Error {
    Error::backend(service, DisplayErrorContext(err))
}
