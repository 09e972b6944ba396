//! The organisation's own chat app, server to server (`docs/chat-app.md`). No JWT: every call is
//! signed with one of the organisation's API keys (`X-Max-Key-Id`, `X-Max-Timestamp`,
//! `X-Max-Signature: v1=` hex HMAC-SHA256 of `{timestamp}.{body}`), checked over the raw bytes
//! before the body is read; then one durable write (the inbound queue) and 202.
//!
//! - `POST /v1/channels/chat-app/messages` `{ message_id, user { id, name?, email? }, text,
//!   sent_at }`: a user's message; inbound-processor stores it once per `message_id` (a repeat
//!   changes nothing and is answered the same), with the user's customer and conversation.
//! - `POST /v1/channels/chat-app/statuses` `{ message_id, status: delivered|read|failed, at,
//!   error? }`: what became of a reply the app got as a `chat_app.message` event.
//!
//! 413 over 64 KiB, 401 for a missing header, a stale timestamp (±5 minutes), an unknown or
//! removed key, a wrong signature; 422 naming the field of a signed body that is not right.

pub mod api;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::chat_app::{SignedCall, authenticate, receive_message, receive_status};
use max_core::config::Deps;
use max_core::domain::chat_app::{KEY_ID_HEADER, MAX_BODY_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use max_core::error::Error as AppError;
use max_core::http::{NoQuery, header_value, json, json_body, query_params, raw_body, respond};

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let path = req.uri().path().trim_end_matches('/');
    let messages = match (req.method(), path) {
        (&Method::POST, "/v1/channels/chat-app/messages") => true,
        (&Method::POST, "/v1/channels/chat-app/statuses") => false,
        _ => return Err(AppError::NotFound("route")),
    };
    let body = raw_body(req);
    if body.len() > MAX_BODY_BYTES {
        return Err(AppError::TooLarge { limit: MAX_BODY_BYTES, field: None });
    }
    let now = deps.clock.now();
    let call = SignedCall {
        key_id: header_value(req, KEY_ID_HEADER),
        timestamp: header_value(req, TIMESTAMP_HEADER),
        signature: header_value(req, SIGNATURE_HEADER),
        body,
    };
    // Nothing of the request is read before its signature holds.
    let key = authenticate(&deps.chat_app_ports(), &call, now).await?;
    let NoQuery {} = query_params(req)?;
    let accepted = if messages {
        receive_message(&*deps.outbox, &key, json_body(req)?, now).await?
    } else {
        receive_status(&*deps.outbox, &key, json_body(req)?, now).await?
    };
    Ok(json(StatusCode::ACCEPTED, &accepted))
}

#[cfg(test)]
mod tests;
