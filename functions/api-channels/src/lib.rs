//! An organisation's WhatsApp numbers and voice account (admins only; supervisors and agents get 403).
//!
//! - `GET    /v1/channels/whatsapp?limit=&cursor=` (by phone number id; never a token, only
//!   whether one is set and when it was rotated)
//! - `POST   /v1/channels/whatsapp` `{ phone_number_id, waba_id, display_phone_number,
//!   fallback_template?, access_token }` → 201 (200 when the number was the organisation's
//!   already: its token rotated); another organisation's number or WABA → 409. The changes
//!   quarantined for the number are replayed at once (`replay` in the answer).
//! - `DELETE /v1/channels/whatsapp/{phoneNumberId}` → 204 (the token's secret is scheduled for
//!   deletion)
//! - `POST   /v1/channels/whatsapp/{phoneNumberId}/replay` → what was queued again
//! - `GET    /v1/channels/chat-app` (the organisation's chat-app API keys: ids and dates, never
//!   a secret)
//! - `POST   /v1/channels/chat-app` → 201 `{ key_id, secret, created_at }`: a new key, its HMAC
//!   secret shown this once (kept in its own secret); two keys at most (409), so a rotation
//!   overlaps (`docs/chat-app.md`)
//! - `DELETE /v1/channels/chat-app/keys/{keyId}` → 204: calls signed with it are refused at once
//! - `GET/PUT/DELETE /v1/channels/voice`: the organisation's voice account for the feedback calls
//!   (`{ account_sid, auth_token, caller_id }`, the token kept in its own secret, never answered)
//!
//! Each route reads its query into a typed struct (`http::query_params`): an unknown or empty
//! parameter answers 422. The contract of these routes is `api::openapi()`.

pub mod api;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::{channels, chat_app};
use max_core::config::Deps;
use max_core::domain::channel::{ChannelRegistration, VoiceChannelView, VoiceRegistration};
use max_core::error::Error as AppError;
use max_core::http::{NoQuery, PageBody, PageQuery, Role, caller, json, json_body, no_content, ok, query_params, respond, segments};

/// `GET /v1/channels/chat-app`: at most two keys, so no cursor.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ChatAppKeys {
    pub items: Vec<max_core::domain::chat_app::ChatAppKeyView>,
}

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    // Every route here is an admin's: numbers and their tokens are settings.
    caller.require(Role::Admin)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let org = caller.org_id.as_str();
    let ports = deps.channel_ports();
    match (req.method(), path.as_slice()) {
        (&Method::GET, ["v1", "channels", "whatsapp"]) => {
            let page = query_params::<PageQuery>(req)?.page()?;
            let page = channels::list(&*deps.store, org, &page).await?;
            Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
        }
        (method, path) => {
            let NoQuery {} = query_params(req)?;
            match (method, path) {
                (&Method::POST, ["v1", "channels", "whatsapp"]) => {
                    let registration: ChannelRegistration = json_body(req)?;
                    let registered = channels::register(&ports, org, &registration, &caller.audit_actor(), deps.clock.now()).await?;
                    let status = if registered.replaced { StatusCode::OK } else { StatusCode::CREATED };
                    Ok(json(status, &registered))
                }
                (&Method::DELETE, ["v1", "channels", "whatsapp", number]) => {
                    channels::remove(&ports, org, number, &caller.audit_actor(), deps.clock.now()).await?;
                    Ok(no_content())
                }
                (&Method::POST, ["v1", "channels", "whatsapp", number, "replay"]) => {
                    Ok(ok(&channels::replay(&ports, org, number).await?))
                }
                (&Method::GET, ["v1", "channels", "chat-app"]) => {
                    Ok(ok(&ChatAppKeys { items: chat_app::list_keys(&*deps.store, org).await? }))
                }
                (&Method::POST, ["v1", "channels", "chat-app"]) => {
                    let created = chat_app::create_key(&*deps.store, ports.secrets, org, deps.clock.now()).await?;
                    Ok(json(StatusCode::CREATED, &created))
                }
                (&Method::DELETE, ["v1", "channels", "chat-app", "keys", key_id]) => {
                    chat_app::remove_key(&*deps.store, ports.secrets, org, key_id).await?;
                    Ok(no_content())
                }
                (&Method::GET, ["v1", "channels", "voice"]) => {
                    let account = channels::voice_account(ports.secrets, org).await?.ok_or(AppError::NotFound("voice account"))?;
                    Ok(ok(&VoiceChannelView::from(&account)))
                }
                (&Method::PUT, ["v1", "channels", "voice"]) => {
                    let registration: VoiceRegistration = json_body(req)?;
                    let (view, replaced) = channels::register_voice(ports.secrets, org, &registration, deps.clock.now()).await?;
                    Ok(json(if replaced { StatusCode::OK } else { StatusCode::CREATED }, &view))
                }
                (&Method::DELETE, ["v1", "channels", "voice"]) => {
                    channels::remove_voice(ports.secrets, org).await?;
                    Ok(no_content())
                }
                _ => Err(AppError::NotFound("route")),
            }
        }
    }
}

#[cfg(test)]
mod tests;
