//! The dashboard's change feed.
//!
//! - `GET /v1/events?after=<cursor>|now&wait=<0..20>&limit=<1..100>`: the organisation's events
//!   after the cursor, oldest first. Answers at once when there is something; otherwise waits up to
//!   `wait` seconds for it (long poll). Without `after`, from the oldest event kept (24 hours);
//!   `after=now` starts at the present. `next_cursor` always continues the feed.
//! - `GET /v1/audit?actor=&entity=type[:id]&from=&to=&limit=&cursor=` (admins): the organisation's
//!   audit trail, newest first — who changed what, when, before → after (`docs/audit.md`). Each
//!   filter is one Query of its own key; entries are never edited through the API.

pub mod api;

use std::time::Duration;

use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use max_core::app::audit;
use max_core::app::events::{self, EventView, FeedStart};
use max_core::config::Deps;
use max_core::domain::audit::{AuditQuery, EntityFilter};
use max_core::domain::event::{EventCursor, MAX_WAIT_SECS};
use max_core::error::Error as AppError;
use max_core::http::{PageBody, PageQuery, Role, caller, ok, query_params, respond, segments};
use serde::Deserialize;
use utoipa::IntoParams;

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match (req.method(), path.as_slice()) {
        (&Method::GET, ["v1", "events"]) => {
            let q: EventsQuery = query_params(req)?;
            let start = match q.after.as_deref() {
                None => FeedStart::Beginning,
                Some("now") => FeedStart::Now,
                Some(cursor) => FeedStart::After(EventCursor::decode("after", cursor)?),
            };
            let wait = match q.wait {
                None => 0,
                Some(w) if w <= MAX_WAIT_SECS => w,
                Some(_) => return Err(AppError::invalid("wait", format!("must be a whole number of seconds from 0 to {MAX_WAIT_SECS}"))),
            };
            let limit = PageQuery { limit: q.limit, cursor: None }.page()?.limit;
            let read = events::read(&*deps.store, deps.clock.as_ref(), &caller.org_id, start, Duration::from_secs(wait), limit).await?;
            let items: Vec<EventView> = read.events.iter().map(EventView::from).collect();
            Ok(ok(&PageBody { items, next_cursor: Some(read.cursor.encode()) }))
        }
        (&Method::GET, ["v1", "audit"]) => {
            caller.require(Role::Admin)?;
            let q: AuditParams = query_params(req)?;
            let query = AuditQuery {
                actor: q.actor,
                entity: q.entity.as_deref().map(|e| EntityFilter::parse("entity", e)).transpose()?,
                from: q.from,
                to: q.to,
            };
            let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
            let found = audit::entries(&*deps.store, &caller.org_id, &query, &page).await?;
            Ok(ok(&PageBody { items: found.items, next_cursor: found.next_cursor }))
        }
        _ => Err(AppError::NotFound("route")),
    }
}

/// `GET /v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Changes made by this user id.
    #[param(min_length = 1, max_length = 128, pattern = "^[^#]+$")]
    pub actor: Option<String>,
    /// `ticket` (every ticket's changes) or `ticket:{id}` (one ticket's); the types are
    /// `AuditEntity`'s (a test keeps the pattern to them).
    #[param(pattern = r"^(ticket|action|whatsapp_template|response_templates|canned_response|sla_policy|team|agent|settings|channel|customer)(:[^#\s]{1,128})?$")]
    pub entity: Option<String>,
    /// Changes at or after this time (RFC 3339).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Changes before this time (RFC 3339); after `from`.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// `GET /v1/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// A `next_cursor` (or an event's `id`), or `now`; the oldest event kept when absent.
    #[param(min_length = 1)]
    pub after: Option<String>,
    /// Seconds to wait for an event when there is none yet (long poll).
    #[param(minimum = 0, maximum = 20, default = 0)]
    pub wait: Option<u64>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
}

#[cfg(test)]
mod tests;
