//! `app::chat_app`: an organisation's chat-app keys (two at most, the secret shown once and kept in
//! its own secret, another organisation's key 404) and the check of every signed call (headers,
//! time window, the key read every call, its secret kept, the signature).

use super::*;
use crate::app::chat_app::{self, SignedCall, authenticate, create_key, list_keys, remove_key};
use crate::domain::chat_app::{key_secret_name, sign};
use crate::ports::ChatAppKeyStore;

async fn created(w: &World, org: &str) -> crate::domain::chat_app::CreatedChatAppKey {
    create_key(w.store(), &*w.mem.secrets, org, w.deps.clock.now()).await.unwrap()
}

/// A call signed with `secret` at `at` (Unix seconds).
fn call<'a>(key_id: &'a str, timestamp: &'a str, signature: &'a str, body: &'a [u8]) -> SignedCall<'a> {
    SignedCall { key_id: Some(key_id), timestamp: Some(timestamp), signature: Some(signature), body }
}

#[tokio::test]
async fn a_key_keeps_its_secret_in_its_own_secret_shown_once() {
    let w = World::new();
    // WHEN an admin creates a key
    let key = created(&w, ORG).await;
    // THEN its secret is the organisation's secret of that key, and the list never shows it
    assert_eq!(w.mem.secrets.names(), vec![key_secret_name(ORG, &key.key_id)]);
    assert_eq!(w.mem.secrets.secret(&key_secret_name(ORG, &key.key_id)).await.unwrap().unwrap().expose(), key.secret);
    let listed = list_keys(w.store(), ORG).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key_id, key.key_id);
    assert!(!serde_json::to_string(&listed).unwrap().contains(&key.secret));
    assert_eq!(list_keys(w.store(), OTHER_ORG).await.unwrap(), []);
}

#[tokio::test]
async fn two_keys_at_most_so_a_rotation_overlaps_then_the_old_one_goes() {
    let w = World::new();
    let old = created(&w, ORG).await;
    let new = created(&w, ORG).await;
    assert_ne!(old.key_id, new.key_id);
    assert_ne!(old.secret, new.secret);
    // A third is refused until one goes.
    let third = create_key(w.store(), &*w.mem.secrets, ORG, t(0)).await;
    assert!(matches!(third, Err(Error::Conflict { .. })), "{third:?}");
    assert_eq!(w.mem.secrets.names().len(), 2, "the refused key left no secret");
    // Another organisation cannot remove ours (404), nor can an id that is not a key's.
    assert!(matches!(remove_key(w.store(), &*w.mem.secrets, OTHER_ORG, &old.key_id).await, Err(Error::NotFound(_))));
    assert!(matches!(remove_key(w.store(), &*w.mem.secrets, ORG, "cak_nope").await, Err(Error::NotFound(_))));
    // WHEN the old one is removed THEN its place is free again and its secret scheduled for deletion
    remove_key(w.store(), &*w.mem.secrets, ORG, &old.key_id).await.unwrap();
    assert!(matches!(remove_key(w.store(), &*w.mem.secrets, ORG, &old.key_id).await, Err(Error::NotFound(_))), "removed once");
    assert_eq!(w.mem.secrets.names(), vec![key_secret_name(ORG, &new.key_id)]);
    created(&w, ORG).await;
}

#[tokio::test]
async fn a_call_is_accepted_only_signed_in_time_with_a_live_key() {
    let w = World::new();
    let key = created(&w, ORG).await;
    let ports = w.deps.chat_app_ports();
    let now = t(0);
    let body = br#"{"message_id":"m-1"}"#.as_slice();
    let ts = now.timestamp().to_string();
    let good = sign(&key.secret, now.timestamp(), body);
    // Signed now with the key: the key's organisation.
    let accepted = authenticate(&ports, &call(&key.key_id, &ts, &good, body), now).await.unwrap();
    assert_eq!(accepted.org_id, ORG);
    let refused = |r: crate::Result<crate::domain::chat_app::ChatAppKey>| matches!(r, Err(Error::Unauthorized));
    // Another body, a signature of another secret, a header missing, an unknown key: 401.
    assert!(refused(authenticate(&ports, &call(&key.key_id, &ts, &good, b"{}"), now).await));
    let forged = sign("cas_guess", now.timestamp(), body);
    assert!(refused(authenticate(&ports, &call(&key.key_id, &ts, &forged, body), now).await));
    let unsigned = SignedCall { signature: None, ..call(&key.key_id, &ts, &good, body) };
    assert!(refused(authenticate(&ports, &unsigned, now).await));
    let unknown = crate::domain::chat_app::key_id_from([7; 16]);
    assert!(refused(authenticate(&ports, &call(&unknown, &ts, &good, body), now).await));
    // The same call played back six minutes later: stale, refused before any read.
    let reads = w.mem.secrets.reads();
    let later = now + Duration::minutes(6);
    assert!(refused(authenticate(&ports, &call(&key.key_id, &ts, &good, body), later).await));
    assert_eq!(w.mem.secrets.reads(), reads);
    // Signed again two minutes on: fine, and the key's secret was kept (no second read).
    let later = now + Duration::minutes(2);
    let again = sign(&key.secret, later.timestamp(), body);
    let later_ts = later.timestamp().to_string();
    assert!(authenticate(&ports, &call(&key.key_id, &later_ts, &again, body), later).await.is_ok());
    assert_eq!(w.mem.secrets.reads(), reads, "the secret is kept by the warm function");
    // WHEN the key is removed THEN the next call is refused at once, secret kept or not.
    remove_key(w.store(), &*w.mem.secrets, ORG, &key.key_id).await.unwrap();
    assert!(refused(authenticate(&ports, &call(&key.key_id, &later_ts, &again, body), later).await));
}

#[tokio::test]
async fn a_removal_cut_short_refuses_calls_and_finishes_when_asked_again() {
    let w = World::new();
    let key = created(&w, ORG).await;
    // GIVEN a removal that deleted the secret, then failed to remove the key
    w.store().fail_next_write(Error::backend("dynamodb", "throttled"));
    assert!(remove_key(w.store(), &*w.mem.secrets, ORG, &key.key_id).await.is_err());
    assert!(w.store().chat_app_key(&key.key_id).await.unwrap().is_some());
    // THEN calls with it are refused already (no secret: as good as unknown)
    let now = t(0);
    let body = b"{}".as_slice();
    let signature = sign(&key.secret, now.timestamp(), body);
    let ts = now.timestamp().to_string();
    let ports = chat_app::ChatAppPorts { kept: &crate::app::access_tokens::AccessTokens::new(), ..w.deps.chat_app_ports() };
    assert!(matches!(authenticate(&ports, &call(&key.key_id, &ts, &signature, body), now).await, Err(Error::Unauthorized)));
    // AND asking again finishes it
    remove_key(w.store(), &*w.mem.secrets, ORG, &key.key_id).await.unwrap();
    assert_eq!(w.store().chat_app_key(&key.key_id).await.unwrap(), None);
}
