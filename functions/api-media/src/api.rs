#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of customers' files (OpenAPI, assembled by max-dev).

use utoipa::OpenApi;

use crate::MediaRetention;
use max_core::domain::media::{NewUpload, Upload};

#[derive(OpenApi)]
#[openapi(paths(create_upload, media_file, get_media_retention, put_media_retention), components(schemas(MediaRetention)))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// Starts an agent's upload: records it and answers a presigned PUT (15 minutes) bound to its
/// type and size. PUT the bytes with the given headers, then send it in a reply
/// (`POST /v1/conversations/{id}/messages` with `{type: "media", media_type, media_id, caption}`).
/// Unused for a day, it is deleted.
#[utoipa::path(post, path = "/v1/media", tag = "media", request_body = NewUpload,
    responses(
        (status = 201, description = "The upload and its presigned PUT", body = Upload),
        (status = 413, description = "`size` above WhatsApp's limit for the type (the field is named)"),
        (status = 422, description = "A type WhatsApp does not send as `type` (`mime_type`), or another invalid field (named)"),
    ))]
fn create_upload() {}

/// Redirects to the stored file: a presigned GET minted now, for the caller's organisation,
/// valid about ten minutes.
#[utoipa::path(get, path = "/v1/media/{id}", tag = "media", params(("id" = String, Path, min_length = 1, max_length = 128)),
    responses(
        (status = 302, description = "The file, at a presigned URL",
            headers(("Location" = String, description = "The presigned GET"), ("Cache-Control" = String, description = "no-store"))),
        (status = 404, description = "No such file in the organisation"),
        (status = 409, description = "The file is pending, unavailable (why in `detail`), or an upload no reply used yet"),
    ))]
fn media_file() {}

/// How many days the organisation keeps media (90 until an admin sets it).
#[utoipa::path(get, path = "/v1/settings/media-retention", tag = "settings",
    responses((status = 200, description = "The retention", body = MediaRetention)))]
fn get_media_retention() {}

/// Sets how many days the organisation keeps media (admins); files stored from then on keep it.
#[utoipa::path(put, path = "/v1/settings/media-retention", tag = "settings", request_body = MediaRetention,
    responses(
        (status = 200, description = "The retention saved", body = MediaRetention),
        (status = 403, description = "Not an admin"),
        (status = 422, description = "`days` out of range"),
    ))]
fn put_media_retention() {}
