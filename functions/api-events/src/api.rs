#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of the change feed (OpenAPI, assembled by max-dev).

use max_core::app::events::EventView;
use max_core::http::PageBody;
use utoipa::OpenApi;

use max_core::domain::audit::AuditEntry;

use crate::{AuditParams, EventsQuery};

#[derive(OpenApi)]
#[openapi(paths(list_events, list_audit_entries))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// The organisation's events after the cursor, oldest first; waits up to `wait` seconds when
/// there is none yet. `next_cursor` always continues the feed. At most 20 of an organisation's
/// readers wait at once; the next one that would have to wait answers 429.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery),
    responses(
        (status = 200, description = "Events (possibly none) and the cursor to continue from", body = PageBody<EventView>),
        (status = 429, description = "Too many of the organisation's readers are waiting already; come back after `Retry-After` seconds",
            headers(("Retry-After" = u64, description = "Seconds until a waiting place frees"))),
    ))]
fn list_events() {}

/// The organisation's audit trail, newest first: who (user id and role) changed what (entity type,
/// id, operation), when, and the changed fields before → after. Kept a year; no route edits or
/// deletes an entry. `actor`, `entity` and `from`/`to` combine.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditParams),
    responses(
        (status = 200, description = "A page of entries, newest first", body = PageBody<AuditEntry>),
        (status = 403, description = "Admins only"),
        (status = 422, description = "A query parameter is invalid (`field` names it): `entity` (a type or type:id), `actor`, or `to` not after `from`"),
    ))]
fn list_audit_entries() {}
