//! Live push (`docs/live-push.md`): a dashboard opens a WebSocket with its JWT, the connection is
//! kept under its organisation, and every event its organisation's feed records is posted to each
//! of its open connections, as `GET /v1/events` shows it. The feed stays the record: a client
//! that reconnects reads `GET /v1/events?after=<the last id it got>` for what it missed.

use chrono::{DateTime, Utc};
use futures::future::join_all;
use tracing::{info, warn};

use crate::app::events::EventView;
use crate::domain::event::{DashboardEvent, EventKind};
use crate::domain::live_push::{LiveConnection, is_connection_id};
use crate::error::{Error, Result};
use crate::ports::{Clock, LiveConnectionStore, LivePush, PushAnswer};

/// What opening, refreshing and closing a connection take.
pub struct ConnectionPorts<'a> {
    pub connections: &'a dyn LiveConnectionStore,
    pub clock: &'a dyn Clock,
}

/// What the push of one event takes.
pub struct PushPorts<'a> {
    pub connections: &'a dyn LiveConnectionStore,
    pub push: &'a dyn LivePush,
    pub clock: &'a dyn Clock,
}

/// What the push of one event did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pushed {
    pub delivered: usize,
    /// Connections found closed, and forgotten.
    pub gone: usize,
    /// Posts that failed otherwise (throttled, API Gateway unavailable): not retried, the client
    /// catches up from the feed.
    pub failed: usize,
}

fn checked(connection_id: &str) -> Result<()> {
    if is_connection_id(connection_id) { Ok(()) } else { Err(Error::invalid("connection_id", "is not a WebSocket connection id")) }
}

/// `$connect` (after the authorizer accepted the token): keeps the connection under the caller's
/// organisation for [`crate::domain::live_push::CONNECTION_TTL`].
pub async fn connect(ports: &ConnectionPorts<'_>, org_id: &str, user_id: &str, connection_id: &str) -> Result<LiveConnection> {
    checked(connection_id)?;
    let connection = LiveConnection::open(org_id, connection_id, user_id, ports.clock.now());
    ports.connections.put_live_connection(&connection).await?;
    Ok(connection)
}

/// A message from the client (`$default`, e.g. a ping): the connection is kept another
/// [`crate::domain::live_push::CONNECTION_TTL`] from now.
pub async fn refresh(ports: &ConnectionPorts<'_>, org_id: &str, user_id: &str, connection_id: &str) -> Result<LiveConnection> {
    connect(ports, org_id, user_id, connection_id).await
}

/// `$disconnect`: the connection is forgotten.
pub async fn disconnect(ports: &ConnectionPorts<'_>, org_id: &str, connection_id: &str) -> Result<()> {
    checked(connection_id)?;
    ports.connections.delete_live_connection(org_id, connection_id).await
}

/// The bytes a connection receives for `event`: the feed's JSON for it, as `GET /v1/events`
/// lists it (`id`, `kind`, `at`, `data`), so a dashboard parses both with one parser.
pub fn payload(event: &DashboardEvent) -> Result<Vec<u8>> {
    serde_json::to_vec(&EventView::from(event)).map_err(|e| Error::backend("live push", e))
}

/// Posts `event` to every open connection of its organisation at once (one slow connection does
/// not hold up the others); a connection found gone is forgotten. Only reading the connections
/// fails the call (the stream then retries the record); a failed post is counted and logged.
pub async fn push(ports: &PushPorts<'_>, event: &DashboardEvent) -> Result<Pushed> {
    if event.kind == EventKind::Void {
        return Ok(Pushed::default());
    }
    let now: DateTime<Utc> = ports.clock.now();
    let connections = ports.connections.live_connections(&event.org_id, now).await?;
    if connections.is_empty() {
        return Ok(Pushed::default());
    }
    let body = payload(event)?;
    let answers = join_all(connections.iter().map(|c| ports.push.post(&c.connection_id, &body))).await;
    let mut pushed = Pushed::default();
    for (connection, answer) in connections.iter().zip(answers) {
        match answer {
            Ok(PushAnswer::Delivered) => pushed.delivered += 1,
            Ok(PushAnswer::Gone) => {
                pushed.gone += 1;
                if let Err(e) = ports.connections.delete_live_connection(&connection.org_id, &connection.connection_id).await {
                    // Its TTL removes it anyway; the next push finds it gone again.
                    warn!(org_id = connection.org_id, connection_id = connection.connection_id, error = %e, "could not forget a closed connection");
                }
            }
            Err(e) => {
                pushed.failed += 1;
                warn!(org_id = connection.org_id, connection_id = connection.connection_id, seq = event.seq, error = %e, "push to a connection failed");
            }
        }
    }
    if pushed.gone > 0 {
        info!(org_id = event.org_id, gone = pushed.gone, "closed connections forgotten");
    }
    Ok(pushed)
}

