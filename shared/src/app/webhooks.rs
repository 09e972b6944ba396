//! Outbound webhook subscriptions (`docs/webhooks.md`): an organisation's admins add, change,
//! rotate and remove them, and read each one's attempt log. The signing secrets live in Secrets
//! Manager (one secret per subscription), answered only at creation and at each rotation.

use chrono::{DateTime, Utc};

use crate::domain::ids::new_id;
use crate::domain::secret::Secret;
use crate::domain::webhook_delivery::DeliveryAttempt;
use crate::domain::webhook_subscription::{
    DestinationPolicy, MAX_SUBSCRIPTIONS_PER_ORG, SigningKeys, SigningSecret, SubscriptionWithSecret, WebhookSubscription, WebhookSubscriptionEdit,
    WebhookSubscriptionInput, signing_secret_name,
};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{Page, PageRequest, Secrets, WebhookStore, Written};

/// What managing subscriptions takes: the store, the secrets, and which destinations this
/// deployment allows.
pub struct SubscriptionPorts<'a> {
    pub store: &'a dyn WebhookStore,
    pub secrets: &'a dyn Secrets,
    pub destinations: DestinationPolicy,
}

/// A fresh `whsec_` secret from the operating system's randomness.
fn fresh_secret() -> SigningSecret {
    SigningSecret::from_random(rand::random::<[u8; 32]>())
}

pub async fn get(store: &dyn WebhookStore, org_id: &str, id: &str) -> Result<WebhookSubscription> {
    store.webhook_subscription(org_id, id).await?.ok_or(Error::NotFound("webhook subscription"))
}

pub async fn list(store: &dyn WebhookStore, org_id: &str) -> Result<Vec<WebhookSubscription>> {
    store.webhook_subscriptions(org_id).await
}

/// A new subscription with its secret (shown this once). The secret is stored first: a
/// subscription is never without one (a secret left behind by a failed write names nothing).
pub async fn create(ports: &SubscriptionPorts<'_>, org_id: &str, user_id: &str, input: WebhookSubscriptionInput, now: DateTime<Utc>) -> Result<SubscriptionWithSecret> {
    let subscription = input.into_subscription(new_id(now), org_id, user_id, now, ports.destinations)?;
    // The bound that keeps fan-out one small read (a race may pass it by one).
    if ports.store.webhook_subscriptions(org_id).await?.len() >= MAX_SUBSCRIPTIONS_PER_ORG {
        return Err(Error::conflict(format!("the organisation has {MAX_SUBSCRIPTIONS_PER_ORG} webhook subscriptions, the most it may keep"), "full"));
    }
    let secret = fresh_secret();
    ports.secrets.put_secret(&signing_secret_name(org_id, &subscription.id), &SigningKeys::new(secret.clone()).to_secret()).await?;
    match ports.store.create_webhook_subscription(&subscription).await? {
        Written::Stored => Ok(SubscriptionWithSecret { subscription, secret: secret.expose().to_string() }),
        Written::AlreadyThere => Err(Error::conflict("a subscription with this id exists; try again", "exists")),
    }
}

pub async fn edit(ports: &SubscriptionPorts<'_>, org_id: &str, id: &str, edit: WebhookSubscriptionEdit, now: DateTime<Utc>) -> Result<WebhookSubscription> {
    let edit = &edit;
    retry_lost_updates("webhook subscription", |_| async move {
        let before = get(ports.store, org_id, id).await?;
        let after = edit.clone().apply(&before, now, ports.destinations)?;
        match ports.store.save_webhook_subscription(&after).await? {
            Written::Stored => Ok(after),
            Written::AlreadyThere => Err(Error::LostUpdate("webhook subscription")),
        }
    })
    .await
}

/// Removes the subscription, then schedules its secret's deletion: deliveries still queued for
/// it find no subscription and are dropped.
pub async fn delete(ports: &SubscriptionPorts<'_>, org_id: &str, id: &str) -> Result<()> {
    retry_lost_updates("webhook subscription", |_| async move {
        let current = get(ports.store, org_id, id).await?;
        match ports.store.delete_webhook_subscription(&current).await? {
            Written::Stored => Ok(()),
            Written::AlreadyThere => Err(Error::LostUpdate("webhook subscription")),
        }
    })
    .await?;
    ports.secrets.delete_secret(&signing_secret_name(org_id, id)).await
}

/// The subscription's signing secrets, as a delivery uses them.
pub async fn signing_keys(secrets: &dyn Secrets, org_id: &str, id: &str) -> Result<SigningKeys> {
    let stored: Option<Secret> = secrets.secret(&signing_secret_name(org_id, id)).await?;
    stored.as_ref().and_then(SigningKeys::from_secret).ok_or_else(|| Error::backend("secrets", format!("webhook subscription {id} has no readable signing secret")))
}

/// A new secret that signs from now on; the previous one also signs for 24 hours.
pub async fn rotate_secret(ports: &SubscriptionPorts<'_>, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<SubscriptionWithSecret> {
    let before = get(ports.store, org_id, id).await?;
    let keys = signing_keys(ports.secrets, org_id, id).await?;
    let secret = fresh_secret();
    ports.secrets.put_secret(&signing_secret_name(org_id, id), &keys.rotated(secret.clone(), now).to_secret()).await?;
    // The rotation's time is shown on the subscription; the secret is what counts.
    let subscription = retry_lost_updates("webhook subscription", |attempt| {
        let before = before.clone();
        async move {
            let current = if attempt == 1 { before } else { get(ports.store, org_id, id).await? };
            let after = WebhookSubscription { secret_rotated_at: Some(now), updated_at: now, version: current.version + 1, ..current };
            match ports.store.save_webhook_subscription(&after).await? {
                Written::Stored => Ok(after),
                Written::AlreadyThere => Err(Error::LostUpdate("webhook subscription")),
            }
        }
    })
    .await?;
    Ok(SubscriptionWithSecret { subscription, secret: secret.expose().to_string() })
}

/// The subscription's attempts, newest first.
pub async fn deliveries(store: &dyn WebhookStore, org_id: &str, id: &str, page: &PageRequest) -> Result<Page<DeliveryAttempt>> {
    get(store, org_id, id).await?;
    store.delivery_attempts(org_id, id, page).await
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
