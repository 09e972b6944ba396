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
