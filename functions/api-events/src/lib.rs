//! The dashboard's change feed.
//!
//! - `GET /v1/events?after=<cursor>|now&wait=<0..20>&limit=<1..100>`: the organisation's events
//!   after the cursor, oldest first. Answers at once when there is something; otherwise waits up to
//!   `wait` seconds for it (long poll). Without `after`, from the oldest event kept (24 hours);
//!   `after=now` starts at the present. `next_cursor` always continues the feed.

use std::time::Duration;

use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use max_core::app::events::{self, EventView, FeedStart};
use max_core::config::Deps;
use max_core::domain::event::{EventCursor, MAX_WAIT_SECS};
use max_core::error::Error as AppError;
use max_core::http::{PageBody, caller, ok, page_request, query, respond, segments};

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req);
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match (req.method(), path.as_slice()) {
        (&Method::GET, ["v1", "events"]) => {
            let start = match query(req, "after").as_deref() {
                None => FeedStart::Beginning,
                Some("now") => FeedStart::Now,
                Some(cursor) => FeedStart::After(EventCursor::decode("after", cursor)?),
            };
            let wait = match query(req, "wait") {
                None => 0,
                Some(w) => w
                    .parse::<u64>()
                    .ok()
                    .filter(|w| *w <= MAX_WAIT_SECS)
                    .ok_or_else(|| AppError::invalid("wait", format!("must be a whole number of seconds from 0 to {MAX_WAIT_SECS}")))?,
            };
            let limit = page_request(req)?.limit;
            let read = events::read(&*deps.store, deps.clock.as_ref(), &caller.org_id, start, Duration::from_secs(wait), limit).await?;
            let items: Vec<EventView> = read.events.iter().map(EventView::from).collect();
            Ok(ok(&PageBody { items, next_cursor: Some(read.cursor.encode()) }))
        }
        _ => Err(AppError::NotFound("route")),
    }
}

#[cfg(test)]
mod tests;
