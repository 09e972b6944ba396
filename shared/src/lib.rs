//! max-core: the one domain crate behind every MAX function.
//!
//! - [`domain`]: plain types and pure rules (no I/O, no async).
//! - [`ports`]: the narrow async traits the use cases need.
//! - [`app`]: use cases, one module per feature, written against ports only.
//! - [`adapters`]: DynamoDB, SQS, S3 and the WhatsApp Graph API. Nothing else talks to AWS.
//! - [`http`]: caller extraction, JSON bodies, problem+json, cursor pagination.
//! - [`config`]: the environment, read once per cold start into [`config::Deps`].

pub mod adapters;
pub mod app;
pub mod batch;
pub mod config;
pub mod domain;
pub mod error;
#[cfg(test)]
mod layers;
pub mod http;
pub mod optimistic;
pub mod ports;
pub mod telemetry;
/// The use cases' unit tests: they wire them as a handler does (`Deps::in_memory`), so they sit
/// above the layers they test, outside `app/`, like `functions/*`.
#[cfg(test)]
mod use_case_tests;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::{Error, Result};
