#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of the voice provider's callbacks (OpenAPI, assembled by max-dev). Public: the
//! provider signs its calls with the organisation's auth token.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(voice_callback))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// A callback of the voice provider (Twilio) for one attempt of a feedback or demo call, at the
/// URL MAX gave it when placing the call. Verified with `X-Twilio-Signature` (base64 HMAC-SHA1
/// over this URL and the sorted form parameters, keyed with the organisation's auth token).
/// `answer`, `score` and `feedback` answer TwiML (the NPS question, the follow-up question,
/// goodbye); `status` takes in the call's progress and how it ended.
#[utoipa::path(post, path = "/webhooks/voice/{orgId}/{callId}/{attempt}/{step}", tag = "voice",
    params(
        ("orgId" = String, Path, description = "The organisation whose account placed the call"),
        ("callId" = String, Path, description = "The call"),
        ("attempt" = u32, Path, minimum = 1, description = "The attempt the callback is about"),
        ("step" = String, Path, description = "`answer`, `score`, `feedback` or `status`"),
        ("X-Twilio-Signature" = String, Header, description = "base64 HMAC-SHA1 of the URL and the sorted parameters with the auth token"),
    ),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "Twilio's parameters (`CallSid`, `CallStatus`, `Digits`, `SpeechResult`, `AnsweredBy`, ...)"),
    responses(
        (status = 200, description = "The call's next TwiML", body = String, content_type = "text/xml"),
        (status = 204, description = "A status callback, taken in"),
        (status = 400, description = "A status callback without CallSid or CallStatus"),
        (status = 403, description = "Signature missing or wrong, or the organisation has no voice account; nothing read or written"),
        (status = 404, description = "No such callback route, or no such call of the organisation"),
        (status = 409, description = "The callback names another provider call than the attempt's"),
        (status = 413, description = "The body is over 64 KiB"),
    ))]
fn voice_callback() {}
