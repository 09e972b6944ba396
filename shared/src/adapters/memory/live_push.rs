//! Live push in memory: the connections store (`ports::LiveConnectionStore`, keyed by organisation
//! like the table) and `MemoryLivePush`, a stand-in for API Gateway's Management API that keeps
//! what each connection received.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, key};
use crate::domain::live_push::LiveConnection;
use crate::error::{Error, Result};
use crate::ports::{LiveConnectionStore, LivePush, PushAnswer};

#[async_trait]
impl LiveConnectionStore for MemoryStore {
    async fn put_live_connection(&self, connection: &LiveConnection) -> Result<()> {
        let mut st = self.write("put_live_connection")?;
        st.live_connections.insert(key(&connection.org_id, &connection.connection_id), connection.clone());
        Ok(())
    }

    async fn delete_live_connection(&self, org_id: &str, connection_id: &str) -> Result<()> {
        self.write("delete_live_connection")?.live_connections.remove(&key(org_id, connection_id));
        Ok(())
    }

    async fn live_connections(&self, org_id: &str, now: DateTime<Utc>) -> Result<Vec<LiveConnection>> {
        let st = self.read("live_connections")?;
        Ok(st
            .live_connections
            .range(key(org_id, "")..)
            .take_while(|((o, _), _)| o == org_id)
            .map(|(_, c)| c.clone())
            .filter(|c| c.is_open(now))
            .collect())
    }
}

/// Connections in memory: an open one keeps what it was sent; a closed one answers `Gone`; one
/// told to fail answers an error (API Gateway throttling, say).
#[derive(Default)]
pub struct MemoryLivePush {
    state: Mutex<PushState>,
}

#[derive(Default)]
struct PushState {
    received: BTreeMap<String, Vec<Vec<u8>>>,
    closed: BTreeSet<String>,
    failing: BTreeSet<String>,
}

impl MemoryLivePush {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PushState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The client behind `connection_id` went away without a `$disconnect` reaching us.
    pub fn close(&self, connection_id: &str) {
        self.state().closed.insert(connection_id.to_string());
    }

    /// Posts to `connection_id` fail (not as gone).
    pub fn fail(&self, connection_id: &str) {
        self.state().failing.insert(connection_id.to_string());
    }

    /// What `connection_id` was sent, oldest first.
    pub fn received(&self, connection_id: &str) -> Vec<Vec<u8>> {
        self.state().received.get(connection_id).cloned().unwrap_or_default()
    }

    /// Every post that reached a connection.
    pub fn posts(&self) -> usize {
        self.state().received.values().map(Vec::len).sum()
    }
}

#[async_trait]
impl LivePush for MemoryLivePush {
    async fn post(&self, connection_id: &str, payload: &[u8]) -> Result<PushAnswer> {
        let mut st = self.state();
        if st.closed.contains(connection_id) {
            return Ok(PushAnswer::Gone);
        }
        if st.failing.contains(connection_id) {
            return Err(Error::backend("apigateway", "TooManyRequestsException"));
        }
        st.received.entry(connection_id.to_string()).or_default().push(payload.to_vec());
        Ok(PushAnswer::Delivered)
    }
}
