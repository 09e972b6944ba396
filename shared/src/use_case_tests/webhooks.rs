//! Outbound webhook subscriptions' use cases on the memory adapter (`app::webhooks`).

use crate::app::webhooks::*;
use crate::domain::webhook_subscription::{DestinationPolicy, MAX_SUBSCRIPTIONS_PER_ORG, WebhookSubscriptionInput};
use crate::error::Error;
use chrono::{DateTime, Utc};
use crate::adapters::memory::{MemorySecrets, MemoryStore};
use crate::domain::webhook_subscription::ROTATION_OVERLAP;
use chrono::TimeZone;
use serde_json::json;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap()
}

fn input(url: &str) -> WebhookSubscriptionInput {
    serde_json::from_value(json!({"url": url, "event_types": ["*"]})).unwrap()
}

#[tokio::test]
async fn a_subscription_gets_its_own_secret_shown_once_and_rotation_keeps_the_old_one_a_day() {
    // GIVEN an organisation with no subscriptions
    let (store, secrets) = (MemoryStore::new(), MemorySecrets::new());
    let ports = SubscriptionPorts { store: &store, secrets: &secrets, destinations: DestinationPolicy::default() };
    // WHEN an admin subscribes
    let created = create(&ports, "o1", "admin", input("https://crm.example.com/h"), now()).await.unwrap();
    // THEN the secret is answered and kept, and the stored subscription has none
    assert!(created.secret.starts_with("whsec_"));
    let keys = signing_keys(&secrets, "o1", &created.subscription.id).await.unwrap();
    assert_eq!(keys.current.expose(), created.secret);
    assert!(!serde_json::to_string(&get(&store, "o1", &created.subscription.id).await.unwrap()).unwrap().contains(&created.secret));
    // WHEN it rotates THEN both sign for 24 hours, the new one first
    let rotated = rotate_secret(&ports, "o1", &created.subscription.id, now()).await.unwrap();
    assert_ne!(rotated.secret, created.secret);
    assert_eq!(rotated.subscription.secret_rotated_at, Some(now()));
    assert_eq!(rotated.subscription.version, 2);
    let keys = signing_keys(&secrets, "o1", &created.subscription.id).await.unwrap();
    let signing: Vec<&str> = keys.signing_at(now()).iter().map(|k| k.expose()).collect();
    assert_eq!(signing, [rotated.secret.as_str(), created.secret.as_str()]);
    assert_eq!(keys.signing_at(now() + ROTATION_OVERLAP).len(), 1);
    // AND another organisation finds neither the subscription nor its rotation
    assert!(matches!(get(&store, "o2", &created.subscription.id).await, Err(Error::NotFound(_))));
    assert!(matches!(rotate_secret(&ports, "o2", &created.subscription.id, now()).await, Err(Error::NotFound(_))));
    // WHEN it is deleted THEN its secret goes too
    delete(&ports, "o1", &created.subscription.id).await.unwrap();
    assert!(signing_keys(&secrets, "o1", &created.subscription.id).await.is_err());
    assert!(matches!(delete(&ports, "o1", &created.subscription.id).await, Err(Error::NotFound(_))));
}

#[tokio::test]
async fn a_private_destination_is_refused_and_an_organisation_keeps_twenty_at_most() {
    let (store, secrets) = (MemoryStore::new(), MemorySecrets::new());
    let ports = SubscriptionPorts { store: &store, secrets: &secrets, destinations: DestinationPolicy::default() };
    let refused = create(&ports, "o1", "admin", input("https://169.254.169.254/latest"), now()).await;
    assert!(matches!(refused, Err(Error::Invalid { ref field, .. }) if field == "url"), "{refused:?}");
    for i in 0..MAX_SUBSCRIPTIONS_PER_ORG {
        create(&ports, "o1", "admin", input(&format!("https://crm{i}.example.com/h")), now()).await.unwrap();
    }
    let full = create(&ports, "o1", "admin", input("https://one-more.example.com/h"), now()).await;
    assert!(matches!(full, Err(Error::Conflict { .. })), "{full:?}");
    assert!(create(&ports, "o2", "admin", input("https://crm.example.com/h"), now()).await.is_ok(), "per organisation");
}
