//! Reading the dashboard feed, with a long poll: answer at once when something newer exists,
//! otherwise look again every [`POLL_INTERVAL`] until the caller's wait is over.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::domain::event::{DashboardEvent, EventCursor, FeedRead, read_feed};
use crate::error::Result;
use crate::ports::{Clock, EventStore};

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

/// Reads the organisation's feed after `start`, waiting up to `wait` for something to show.
pub async fn read(events: &dyn EventStore, clock: &dyn Clock, org_id: &str, start: FeedStart, wait: Duration, limit: i32) -> Result<FeedRead> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut cursor = match start {
        FeedStart::Beginning => EventCursor(0),
        FeedStart::Now => EventCursor(events.latest_event_seq(org_id).await?),
        FeedStart::After(c) => c,
    };
    loop {
        let items = events.events_after(org_id, cursor.0, limit).await?;
        let read = read_feed(cursor, items, clock.now());
        let now = tokio::time::Instant::now();
        if !read.events.is_empty() || now >= deadline {
            return Ok(read);
        }
        // Voids and expired events still move the cursor on.
        cursor = read.cursor;
        tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
    }
}
