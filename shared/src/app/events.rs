//! Reading the dashboard feed, with a long poll: answer at once when something newer exists,
//! otherwise look again every [`POLL_INTERVAL`] until the caller's wait is over.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tracing::warn;

use crate::domain::event::{DashboardEvent, EventCursor, FeedRead, MAX_FEED_WAITERS, MAX_WAIT_SECS, read_feed};
use crate::domain::ids::new_id;
use crate::error::{Error, Result};
use crate::ports::{Clock, EventStore, FeedWaiters, WaitPlace};

/// How often a waiting reader looks again. One strongly consistent Query of an empty range costs
/// 1 read unit, so a caller waiting 20 s costs about 200 read units; it wakes within this interval
/// plus one query of a new event.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Where a read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedStart {
    /// The oldest event still kept (24 hours).
    Beginning,
    /// Only what happens from now on.
    Now,
    After(EventCursor),
}

/// One event as the API shows it: `id` is the cursor that continues after it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: String,
    pub kind: &'static str,
    pub at: chrono::DateTime<chrono::Utc>,
    pub data: Value,
}

impl From<&DashboardEvent> for EventView {
    fn from(e: &DashboardEvent) -> Self {
        EventView { id: EventCursor(e.seq).encode(), kind: e.kind.as_str(), at: e.at, data: e.data.clone() }
    }
}

/// Reads the organisation's feed after `start`, waiting up to `wait` for something to show. A
/// reader that has to wait takes one of the organisation's [`MAX_FEED_WAITERS`] places first;
/// when none is free it answers at once with when to come back (429).
pub async fn read<S: EventStore + FeedWaiters + ?Sized>(
    feed: &S,
    clock: &dyn Clock,
    org_id: &str,
    start: FeedStart,
    wait: Duration,
    limit: i32,
) -> Result<FeedRead> {
    let deadline = tokio::time::Instant::now() + wait;
    let cursor = match start {
        FeedStart::Beginning => EventCursor(0),
        FeedStart::Now => EventCursor(feed.latest_event_seq(org_id).await?),
        FeedStart::After(c) => c,
    };
    let first = read_feed(cursor, feed.events_after(org_id, cursor.0, limit).await?, clock.now());
    if !first.events.is_empty() || wait.is_zero() {
        return Ok(first);
    }
    let now = clock.now();
    let waiter = new_id(now);
    // A reader that dies mid-wait frees its place by itself a little after its wait.
    let until = now + chrono::Duration::from_std(wait).unwrap_or_default() + chrono::Duration::seconds(5);
    if let WaitPlace::Full { frees_at } = feed.take_wait_place(org_id, &waiter, now, until, MAX_FEED_WAITERS).await? {
        let millis = (frees_at - now).num_milliseconds().max(0) as u64;
        return Err(Error::TooManyWaiting { retry_after_secs: millis.div_ceil(1000).clamp(1, MAX_WAIT_SECS) });
    }
    let read = wait_for_events(feed, clock, org_id, first.cursor, deadline, limit).await;
    if let Err(e) = feed.leave_wait_place(org_id, &waiter).await {
        warn!(org_id, error = %e, "could not give a long-poll place back; it frees itself after the wait");
    }
    read
}

/// Looks again every [`POLL_INTERVAL`] until something shows or `deadline` passes.
async fn wait_for_events<S: EventStore + ?Sized>(
    feed: &S,
    clock: &dyn Clock,
    org_id: &str,
    mut cursor: EventCursor,
    deadline: tokio::time::Instant,
    limit: i32,
) -> Result<FeedRead> {
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(FeedRead { events: Vec::new(), cursor, waiting_for_gap: false });
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        let read = read_feed(cursor, feed.events_after(org_id, cursor.0, limit).await?, clock.now());
        if !read.events.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(read);
        }
        // Voids and expired events still move the cursor on.
        cursor = read.cursor;
    }
}
