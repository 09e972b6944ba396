#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of the webhook (OpenAPI, assembled by max-dev). Public: Meta signs its calls.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(verify_whatsapp_webhook, receive_whatsapp_webhook))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// Meta's webhook verification handshake: echoes `hub.challenge` when the verify token matches.
#[utoipa::path(get, path = "/webhooks/whatsapp", tag = "whatsapp",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query),
        ("hub.challenge" = String, Query),
    ),
    responses(
        (status = 200, description = "The challenge, echoed", body = String, content_type = "text/plain"),
        (status = 400, description = "A parameter is missing"),
        (status = 403, description = "Wrong verify token", body = String, content_type = "text/plain"),
    ))]
fn verify_whatsapp_webhook() {}

/// The WhatsApp Cloud API webhook (messages, statuses, template updates): verified with
/// `X-Hub-Signature-256` over the raw body, queued in one SQS call, answered 200. Signed bodies
/// that are not a webhook are quarantined and still answered 200.
#[utoipa::path(post, path = "/webhooks/whatsapp", tag = "whatsapp",
    params(("X-Hub-Signature-256" = String, Header, description = "`sha256=` + hex HMAC-SHA256 of the body with the app secret")),
    request_body(content = Object, description = "Meta's webhook body (`object`, `entry[].changes[]`)"),
    responses(
        (status = 200, description = "Accepted", body = Received),
        (status = 401, description = "Signature missing or wrong; nothing stored"),
        (status = 413, description = "The body is over 3 MB"),
    ))]
fn receive_whatsapp_webhook() {}

#[derive(utoipa::ToSchema)]
struct Received {
    received: bool,
}
