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
    fn new_ids_are_unique() {
        let now = Utc::now();
        assert_ne!(new_id(now), new_id(now));
    }
}
