//! Identifiers. Ids are ULIDs: sortable by time, so keys built from them list in order.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use ulid::Ulid;

/// A fresh id for something created now.
pub fn new_id(now: DateTime<Utc>) -> String {
    Ulid::from_parts(now.timestamp_millis().max(0) as u64, rand::random::<u128>()).to_string()
}

/// An id that is the same every time it is derived from the same inputs, so a retried or
/// redelivered job writes the same key and a conditional put turns the repeat into a no-op.
pub fn stable_id(at: DateTime<Utc>, seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut random = [0u8; 16];
    random.copy_from_slice(&digest[..16]);
    Ulid::from_parts(at.timestamp_millis().max(0) as u64, u128::from_be_bytes(random)).to_string()
}

/// The id of a customer's message sent at `at`, listed in the order the customer sent it.
/// WhatsApp's timestamps are whole seconds, so within one second the arrival order (a customer's
/// messages arrive in order: one FIFO group) decides: a message of the same second as the
/// conversation's latest inbound message (`latest`, its id) gets the millisecond after that one.
/// Otherwise its time is `at`. Its random part comes from the WhatsApp id. (A repeat is still
/// one message: the WhatsApp id's marker refuses the second write, whatever id it carries.)
pub fn inbound_message_id(at: DateTime<Utc>, wamid: &str, latest: Option<&str>) -> String {
    let at_ms = at.timestamp_millis().max(0) as u64;
    let after_latest = latest
        .and_then(|id| Ulid::from_string(id).ok())
        .map(|latest| latest.timestamp_ms())
        .filter(|&latest| latest >= at_ms && latest / 1000 == at_ms / 1000)
        .map(|latest| latest + 1);
    let digest = Sha256::digest(wamid.as_bytes());
    let mut random = [0u8; 16];
    random.copy_from_slice(&digest[..16]);
    Ulid::from_parts(after_latest.unwrap_or(at_ms), u128::from_be_bytes(random)).to_string()
}

/// Hex SHA-256, for deduplication ids and content hashes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stable_ids_repeat_and_sort_by_time() {
        let t1 = Utc.timestamp_opt(1_749_416_383, 0).unwrap();
        let t2 = Utc.timestamp_opt(1_749_416_384, 0).unwrap();
        assert_eq!(stable_id(t1, "wamid.A"), stable_id(t1, "wamid.A"));
        assert_ne!(stable_id(t1, "wamid.A"), stable_id(t1, "wamid.B"));
        assert!(stable_id(t1, "wamid.Z") < stable_id(t2, "wamid.A"));
    }

    #[test]
    fn a_seconds_inbound_messages_sort_in_arrival_order() {
        let second = Utc.timestamp_opt(1_749_416_383, 0).unwrap();
        let mut latest: Option<String> = None;
        let mut ids = Vec::new();
        // Wamids whose hashes sort otherwise (the order the issue measured).
        for wamid in ["wamid.04", "wamid.03", "wamid.01", "wamid.02", "wamid.00"] {
            let id = inbound_message_id(second, wamid, latest.as_deref());
            latest = Some(id.clone());
            ids.push(id);
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        // The next second starts afresh; an earlier second's late message sorts before.
        let next = inbound_message_id(second + chrono::Duration::seconds(1), "wamid.05", latest.as_deref());
        assert_eq!(next, stable_id(second + chrono::Duration::seconds(1), "wamid.05"));
        let late = inbound_message_id(second - chrono::Duration::seconds(1), "wamid.06", Some(&next));
        assert!(late < ids[0]);
        // The same WhatsApp id after the same message gives the same id.
        assert_eq!(inbound_message_id(second, "wamid.03", Some(&ids[0])), ids[1]);
    }

    #[test]
    fn new_ids_are_unique() {
        let now = Utc::now();
        assert_ne!(new_id(now), new_id(now));
    }
}
