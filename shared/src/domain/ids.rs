//! Identifiers. Ids are ULIDs: sortable by time, so keys built from them list in order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};
use ulid::Ulid;

use crate::error::{Error, Result};

/// The longest id a client may name, in a path, a body or a query. Ours are 26-character ULIDs and
/// Cognito subs 36; 128 characters (at most 512 bytes) leave room for imported ids and keep every
/// key built from one below DynamoDB's limits (2048 bytes for a partition key, 1024 for a sort key).
pub const MAX_ID_CHARS: usize = 128;

/// An id a client names: not blank, at most [`MAX_ID_CHARS`], no `#` (it separates the parts of
/// our keys). A body or query field that breaks this answers 422 naming it; a path segment, 404.
pub fn check_id(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.chars().count() > MAX_ID_CHARS || value.contains('#') {
        return Err(Error::invalid(field, format!("must be an id of at most {MAX_ID_CHARS} characters without '#'")));
    }
    Ok(())
}

/// `#[serde(deserialize_with = "ids::id")]`: a body or query field that is an id (see [`check_id`]).
pub fn id<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    checked(String::deserialize(d)?)
}

/// [`id`] for an optional field (with `#[serde(default)]`); `null` stays `None`.
pub fn optional_id<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)?.map(checked).transpose()
}

fn checked<E: serde::de::Error>(value: String) -> std::result::Result<String, E> {
    match check_id("id", &value) {
        Ok(()) => Ok(value),
        Err(Error::Invalid { reason, .. }) => Err(E::custom(reason)),
        Err(other) => Err(E::custom(other)),
    }
}

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

/// A client's `Idempotency-Key` with the fingerprint of the request it came with. What a keyed
/// request creates takes its id from both ([`IdempotencyKey::id_at`]), so the first answer, found
/// again by the key, tells whether this very request created it: a retry gets it back, the same key
/// with another request is refused (422), as payment APIs do — with nothing more stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    /// Hex SHA-256 of the request (method, path, canonical body); empty for our own keys.
    fingerprint: String,
}

impl IdempotencyKey {
    /// A client's key for a request; `request` is what identifies it (method, path, body).
    pub fn for_request(key: &str, request: &[u8]) -> Self {
        IdempotencyKey { key: key.to_string(), fingerprint: sha256_hex(request) }
    }

    /// A key we derive ourselves (a bot reply, a ticket's closing message): no request to compare.
    pub fn internal(key: impl Into<String>) -> Self {
        IdempotencyKey { key: key.into(), fingerprint: String::new() }
    }

    /// The same client key for another use (a ticket answer's reply): same request, new key text.
    pub fn renamed(&self, key: impl Into<String>) -> Self {
        IdempotencyKey { key: key.into(), fingerprint: self.fingerprint.clone() }
    }

    /// The id of what this key creates in `scope` (an organisation, a conversation) at `at`.
    pub fn id_at(&self, scope: &str, at: DateTime<Utc>) -> String {
        if self.fingerprint.is_empty() {
            stable_id(at, &format!("{scope}#{}", self.key))
        } else {
            stable_id(at, &format!("{scope}#{}#{}", self.key, self.fingerprint))
        }
    }

    /// `first_id`, created at `first_at`, is what an earlier request with this key created: fine
    /// when that was this same request, 422 when it was another one.
    pub fn check_first(&self, scope: &str, first_id: &str, first_at: DateTime<Utc>) -> Result<()> {
        if self.id_at(scope, first_at) == first_id {
            Ok(())
        } else {
            Err(Error::invalid("Idempotency-Key", "was used with a different request: a new request needs a new key"))
        }
    }
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
    fn a_key_tells_its_own_request_from_another() {
        let at = Utc.timestamp_opt(1_749_416_383, 0).unwrap();
        let key = IdempotencyKey::for_request("k1", b"POST /v1/x {\"a\":1}");
        let first = key.id_at("org", at);
        assert!(key.check_first("org", &first, at).is_ok(), "a retry");
        let other = IdempotencyKey::for_request("k1", b"POST /v1/x {\"a\":2}");
        match other.check_first("org", &first, at) {
            Err(Error::Invalid { field, .. }) => assert_eq!(field, "Idempotency-Key"),
            wrong => panic!("another request with the key: {wrong:?}"),
        }
        assert_eq!(IdempotencyKey::internal("k1").id_at("org", at), stable_id(at, "org#k1"), "our own keys keep their ids");
    }

    #[test]
    fn ids_are_short_and_free_of_key_separators() {
        assert!(check_id("f", "01JXAMPLE0000000000000000").is_ok());
        assert!(check_id("f", &"é".repeat(MAX_ID_CHARS)).is_ok());
        for bad in ["", "  ", "a#b"] {
            assert!(matches!(check_id("f", bad), Err(Error::Invalid { ref field, .. }) if field == "f"), "{bad:?}");
        }
        assert!(check_id("f", &"a".repeat(MAX_ID_CHARS + 1)).is_err());
    }

    #[test]
    fn new_ids_are_unique() {
        let now = Utc::now();
        assert_ne!(new_id(now), new_id(now));
    }
}
