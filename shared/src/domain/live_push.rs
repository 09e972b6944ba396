//! Live push to dashboards (`docs/live-push.md`): a dashboard's open WebSocket connection, kept
//! under its organisation until it closes or its time is up.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// API Gateway closes a WebSocket connection after 2 hours whatever happens on it, so a stored
/// connection is worth no more (the table's TTL removes the ones whose `$disconnect` never came).
pub const CONNECTION_TTL: Duration = Duration::hours(2);
/// API Gateway's connection ids are short base64 strings (`L0SM9cOFvHcCIhw=`); anything longer
/// or with other characters names no connection.
pub const MAX_CONNECTION_ID_CHARS: usize = 128;

/// One dashboard's open WebSocket connection, stored under its organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveConnection {
    pub org_id: String,
    pub connection_id: String,
    /// The user the token spoke for (`sub`).
    pub user_id: String,
    pub connected_at: DateTime<Utc>,
    /// Epoch seconds after which the connection is taken for gone (the table's TTL attribute).
    pub expires_at: i64,
}

impl LiveConnection {
    /// A connection opened at `now`, kept [`CONNECTION_TTL`].
    pub fn open(org_id: &str, connection_id: &str, user_id: &str, now: DateTime<Utc>) -> Self {
        LiveConnection {
            org_id: org_id.to_string(),
            connection_id: connection_id.to_string(),
            user_id: user_id.to_string(),
            connected_at: now,
            expires_at: (now + CONNECTION_TTL).timestamp(),
        }
    }

    /// Still worth a push at `now`: DynamoDB's TTL deletes expired items late (up to days), so
    /// readers skip them themselves.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        now.timestamp() < self.expires_at
    }
}

/// Whether `id` can be a connection id API Gateway handed out (base64 characters, bounded), so
/// no key is built from anything else.
pub fn is_connection_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_CONNECTION_ID_CHARS && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'+' | b'/' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_connection_is_kept_two_hours_and_not_a_second_more() {
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap();
        let c = LiveConnection::open("org_a", "L0SM9cOFvHcCIhw=", "user_1", now);
        assert!(c.is_open(now + Duration::minutes(119)));
        assert!(!c.is_open(now + Duration::hours(2)));
        assert_eq!(c.expires_at, now.timestamp() + 7200);
    }

    #[test]
    fn only_api_gateway_shaped_ids_are_connection_ids() {
        assert!(is_connection_id("L0SM9cOFvHcCIhw="));
        assert!(!is_connection_id(""));
        assert!(!is_connection_id("a#b"));
        assert!(!is_connection_id(&"a".repeat(129)));
    }
}
