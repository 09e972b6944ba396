#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of the chat app's signed routes (OpenAPI, assembled by max-dev). Public: no JWT,
//! every call signed with one of the organisation's chat-app keys.

use max_core::app::chat_app::ChatAppAccepted;
use max_core::domain::chat_app::{ChatAppMessage, ChatAppStatus};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(receive_chat_app_message, receive_chat_app_status))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// A message a user wrote in the organisation's own app, posted server to server and signed with
/// one of its chat-app keys. Queued at once (202); inbound processing then finds or creates the
/// user's customer (identity `chat_app` / `user.id`) and their open conversation, and stores the
/// message once per `message_id`: posting it again changes nothing and is answered the same.
#[utoipa::path(post, path = "/v1/channels/chat-app/messages", tag = "chat-app",
    params(
        ("X-Max-Key-Id" = String, Header, description = "The key's id (`cak_…`)"),
        ("X-Max-Timestamp" = String, Header, description = "Unix seconds of the call; refused more than 5 minutes from MAX's clock"),
        ("X-Max-Signature" = String, Header, description = "`v1=` + hex HMAC-SHA256 of `{timestamp}.{raw body}` with the key's secret"),
    ),
    request_body = ChatAppMessage,
    responses(
        (status = 202, description = "Queued (or queued already: a repeat changes nothing)", body = ChatAppAccepted),
        (status = 401, description = "A header missing, a stale timestamp, an unknown or removed key, or a wrong signature; nothing read or stored"),
        (status = 413, description = "The body is over 64 KiB"),
        (status = 422, description = "A field of the signed body is invalid (`field` names it)"),
    ))]
fn receive_chat_app_message() {}

/// What became of a reply the app was given as a `chat_app.message` event (signed like a
/// message): delivered and read move the message forward, failed is final; a repeated or older
/// status changes nothing.
#[utoipa::path(post, path = "/v1/channels/chat-app/statuses", tag = "chat-app",
    params(
        ("X-Max-Key-Id" = String, Header, description = "The key's id (`cak_…`)"),
        ("X-Max-Timestamp" = String, Header, description = "Unix seconds of the call; refused more than 5 minutes from MAX's clock"),
        ("X-Max-Signature" = String, Header, description = "`v1=` + hex HMAC-SHA256 of `{timestamp}.{raw body}` with the key's secret"),
    ),
    request_body = ChatAppStatus,
    responses(
        (status = 202, description = "Queued", body = ChatAppAccepted),
        (status = 401, description = "A header missing, a stale timestamp, an unknown or removed key, or a wrong signature; nothing read or stored"),
        (status = 413, description = "The body is over 64 KiB"),
        (status = 422, description = "A field of the signed body is invalid (`field` names it)"),
    ))]
fn receive_chat_app_status() {}
