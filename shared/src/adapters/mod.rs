//! Every call to AWS and to the Graph API lives here.

#[cfg(any(test, feature = "testing"))]
pub mod contract;
pub mod dynamo;
pub mod graph;
pub mod memory;
pub mod s3;
pub mod secrets;
pub mod sqs;
pub mod twilio;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::error::Error;

/// An SDK error with its whole cause chain, for logs and `Error::Backend`.
pub(crate) fn sdk_error<E: std::error::Error + ProvideErrorMetadata + 'static>(service: &'static str, err: E) -> Error {
    Error::backend(service, DisplayErrorContext(err))
}
