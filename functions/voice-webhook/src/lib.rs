//! The voice provider's callbacks for the feedback calls (Twilio).
//!
//! - `POST /webhooks/voice/{orgId}/{callId}/{attempt}/{step}`: `X-Twilio-Signature` is verified
//!   over the public URL called and the form parameters with the organisation's own auth token
//!   (a missing or wrong one: 403, nothing read or written); then `answer`, `score` and
//!   `feedback` answer the call's next TwiML, and `status` takes in how the attempt went (204).
//!   A repeated callback changes nothing twice.

pub mod api;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::voice::{Callback, VoiceAnswer, on_callback, read_callback_path};
use max_core::config::Deps;
use max_core::domain::twilio::form_params;
use max_core::error::Error as AppError;
use max_core::http::{header_value, no_content, raw_body, respond};

/// Twilio's callbacks are a few dozen short parameters.
pub const MAX_CALLBACK_BYTES: usize = 64 * 1024;

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(callback(&req, deps).await))
}

async fn callback(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let path = req.uri().path();
    let Some((job, step)) = read_callback_path(path).filter(|_| req.method() == Method::POST) else {
        return Err(AppError::NotFound("route"));
    };
    let body = raw_body(req);
    if body.len() > MAX_CALLBACK_BYTES {
        return Err(AppError::TooLarge { limit: MAX_CALLBACK_BYTES, field: None });
    }
    let public_url = deps.settings.public_url.as_deref().ok_or_else(|| AppError::backend("config", "PUBLIC_API_URL not wired"))?;
    // What the provider called, as it signed it: the public URL, the path and the query.
    let url = match req.uri().query() {
        Some(q) if !q.is_empty() => format!("{public_url}{path}?{q}"),
        _ => format!("{public_url}{path}"),
    };
    let params = form_params(&String::from_utf8_lossy(body));
    let callback = Callback { job, step, url: &url, params: &params, signature: header_value(req, "x-twilio-signature") };
    match on_callback(&deps.voice_ports(), &callback, deps.clock.now()).await? {
        VoiceAnswer::Twiml(twiml) => Ok(twiml_response(twiml)),
        VoiceAnswer::Taken => Ok(no_content()),
    }
}

fn twiml_response(twiml: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(twiml));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests;
