//! Customers' files and agents' uploads (`docs/media.md`).
//!
//! - `POST /v1/media` `{ type, mime_type, size, filename?, animated? }`: 201 with the upload's id
//!   and a presigned PUT (15 minutes) bound to its type and size; WhatsApp's types (422 naming
//!   `mime_type`) and size limits (413 naming `size`). A reply sends it with `media_id`.
//! - `GET /v1/media/{id}`: 302 to a presigned GET of the stored file, minted now for the caller's
//!   organisation (10 minutes); 404 for an unknown id or another organisation's; 409 while it is
//!   `pending` or when it is `unavailable` (the reason in `detail`).
//! - `GET /v1/settings/media-retention`: how many days the organisation keeps media (90 until an
//!   admin says otherwise); `PUT` it (admins) `{ "days": 1..365 }`, for files stored from then on.

pub mod api;

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::media;
use max_core::config::Deps;
use max_core::domain::media::{DEFAULT_RETENTION_DAYS, MediaStatus, NewUpload};
use max_core::error::Error as AppError;
use max_core::http::{NoQuery, Role, caller, json, json_body, ok, query_params, respond, segments};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest an organisation may keep media (the bucket's lifecycle rule, 400 days, stays behind it).
pub const MAX_RETENTION_DAYS: u32 = 365;

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

/// The organisation's media retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaRetention {
    /// Days a stored file is kept before media-cleanup deletes it.
    #[schema(minimum = 1, maximum = 365)]
    pub days: u32,
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match (req.method(), path.as_slice()) {
        (&Method::POST, ["v1", "media"]) => {
            let NoQuery {} = query_params(req)?;
            let wanted: NewUpload = json_body(req)?;
            let upload = media::create_upload(&*deps.store, &*deps.blobs, &caller.org_id, &caller.user_id, &wanted, deps.clock.now()).await?;
            Ok(json(StatusCode::CREATED, &upload))
        }
        (&Method::GET, ["v1", "media", id]) => {
            let NoQuery {} = query_params(req)?;
            let file = deps.store.media_file(&caller.org_id, id).await?.ok_or(AppError::NotFound("media"))?;
            match file.status {
                MediaStatus::Stored => {}
                MediaStatus::Pending => return Err(AppError::conflict("the file is not stored yet", "pending")),
                MediaStatus::AwaitingUpload => {
                    return Err(AppError::conflict("the upload is not used by a reply yet", "awaiting_upload"));
                }
                MediaStatus::Unavailable => {
                    return Err(AppError::conflict(format!("the file is unavailable: {}", file.reason.unwrap_or_default()), "unavailable"));
                }
            }
            let url = media::media_url(&*deps.store, &*deps.blobs, &caller.org_id, id).await?.ok_or(AppError::NotFound("media"))?;
            Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, url)
                // A presigned URL is a short-lived credential: never kept by a cache.
                .header(header::CACHE_CONTROL, "no-store")
                .body(Body::Empty)
                .map_err(|e| AppError::backend("http", e))
        }
        (&Method::GET, ["v1", "settings", "media-retention"]) => {
            let NoQuery {} = query_params(req)?;
            let days = deps.store.media_retention(&caller.org_id).await?.unwrap_or(DEFAULT_RETENTION_DAYS);
            Ok(ok(&MediaRetention { days }))
        }
        (&Method::PUT, ["v1", "settings", "media-retention"]) => {
            let NoQuery {} = query_params(req)?;
            caller.require(Role::Admin)?;
            let wanted: MediaRetention = json_body(req)?;
            if !(1..=MAX_RETENTION_DAYS).contains(&wanted.days) {
                return Err(AppError::invalid("days", format!("must be from 1 to {MAX_RETENTION_DAYS}")));
            }
            media::save_retention(&*deps.store, &caller.org_id, wanted.days, &caller.audit_actor(), deps.clock.now()).await?;
            Ok(ok(&wanted))
        }
        _ => Err(AppError::NotFound("route")),
    }
}

#[cfg(test)]
mod tests;
