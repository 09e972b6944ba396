//! One error type for the use cases; `http::problem` maps it to RFC 9457 answers once.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// Bad input: the field it names and why (answers 422).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// Malformed request that cannot be read at all (answers 400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Unknown, or owned by another organisation (answers 404 either way).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A state transition that makes no sense now (answers 409 with the current state).
    #[error("conflict: {detail}")]
    Conflict { detail: String, current: Option<String> },
    /// An optimistic update lost to a concurrent change of the thing it names (a conditional write
    /// over a version that moved on). Use cases read again and retry (`optimistic::retry_lost_updates`); one that
    /// keeps losing answers 409 and the client tries again.
    #[error("the {0} changed concurrently; try again")]
    LostUpdate(&'static str),
    /// The caller's role may not do this (answers 403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Missing or unusable credentials (answers 401).
    #[error("unauthorized")]
    Unauthorized,
    /// Too many of the organisation's requests are waiting already (long polls): come back after
    /// `retry_after_secs` (answers 429 with `Retry-After`).
    #[error("too many requests of the organisation are waiting; retry after {retry_after_secs} s")]
    TooManyWaiting { retry_after_secs: u64 },
    /// The request body is too large, or the size a field declares (answers 413, naming it).
    #[error("payload too large: limit {limit} bytes")]
    TooLarge { limit: usize, field: Option<String> },
    /// A backend (DynamoDB, SQS, S3, Graph API) failed; retryable from the caller's view.
    #[error("{service} failed: {message}")]
    Backend { service: &'static str, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), reason: reason.into() }
    }

    pub fn conflict(detail: impl Into<String>, current: impl Into<String>) -> Self {
        Error::Conflict { detail: detail.into(), current: Some(current.into()) }
    }

    /// 409 for an edit made over a version that is no longer the stored one: `what` (the team,
    /// the agent…) changed since `read`, and `current` is the version to read again.
    pub fn stale_version(what: &str, read: u64, current: u64) -> Self {
        Error::conflict(format!("the {what} changed since version {read} was read"), format!("version {current}"))
    }

    pub fn backend(service: &'static str, err: impl std::fmt::Display) -> Self {
        Error::Backend { service, message: err.to_string() }
    }
}
