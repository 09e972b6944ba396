//! The dashboard's change feed.
//!
//! - `GET /v1/events?after=<cursor>|now&wait=<0..20>&limit=<1..100>`: the organisation's events
//!   after the cursor, oldest first. Answers at once when there is something; otherwise waits up to
//!   `wait` seconds for it (long poll). Without `after`, from the oldest event kept (24 hours);
//!   `after=now` starts at the present. `next_cursor` always continues the feed.

pub mod api;

use std::time::Duration;

use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use max_core::app::events::{self, EventView, FeedStart};
use max_core::config::Deps;
use max_core::domain::event::{EventCursor, MAX_WAIT_SECS};
use max_core::error::Error as AppError;
use max_core::http::{PageBody, PageQuery, caller, ok, query_params, respond, segments};
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
        _ => Err(AppError::NotFound("route")),
    }
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
