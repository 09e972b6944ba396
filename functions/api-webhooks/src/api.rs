#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of the webhook subscriptions API (OpenAPI, assembled by max-dev).

use max_core::domain::webhook_subscription::{SubscriptionWithSecret, WebhookSubscription, WebhookSubscriptionEdit, WebhookSubscriptionInput};
use max_core::domain::webhook_delivery::DeliveryAttempt;
use max_core::http::{PageBody, PageQuery};
use utoipa::OpenApi;

use max_core::app::webhook_delivery::Resent;

use crate::{ReplayQuery, WebhookSubscriptionList};

#[derive(OpenApi)]
#[openapi(paths(
    list_webhook_subscriptions,
    create_webhook_subscription,
    get_webhook_subscription,
    edit_webhook_subscription,
    delete_webhook_subscription,
    rotate_webhook_secret,
    list_webhook_deliveries,
    redeliver_webhook,
    replay_webhooks
))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// The organisation's outbound webhook subscriptions, oldest first (admins).
#[utoipa::path(get, path = "/v1/webhook-subscriptions", tag = "webhooks",
    responses((status = 200, description = "The subscriptions (never their secrets)", body = WebhookSubscriptionList), (status = 403, description = "Admins only")))]
fn list_webhook_subscriptions() {}

/// Subscribes an https endpoint to event types (`["*"]`: all). The answer carries the signing
/// secret (`whsec_…`): the only time it is shown.
#[utoipa::path(post, path = "/v1/webhook-subscriptions", tag = "webhooks", request_body = WebhookSubscriptionInput,
    responses(
        (status = 201, description = "Created (`Location` names it), with its secret", body = SubscriptionWithSecret),
        (status = 403, description = "Admins only"),
        (status = 409, description = "The organisation keeps the most subscriptions it may (20)"),
    ))]
fn create_webhook_subscription() {}

/// A subscription (never its secret).
#[utoipa::path(get, path = "/v1/webhook-subscriptions/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, description = "The subscription", body = WebhookSubscription), (status = 403, description = "Admins only"), (status = 404, description = "No such subscription")))]
fn get_webhook_subscription() {}

/// Changes the fields given (`description: null` clears it; `enabled: true` switches a
/// subscription MAX switched off back on, its failures forgotten).
#[utoipa::path(patch, path = "/v1/webhook-subscriptions/{id}", tag = "webhooks", params(("id" = String, Path)), request_body = WebhookSubscriptionEdit,
    responses(
        (status = 200, description = "The subscription", body = WebhookSubscription),
        (status = 403, description = "Admins only"),
        (status = 404, description = "No such subscription"),
        (status = 409, description = "Changed concurrently; try again"),
    ))]
fn edit_webhook_subscription() {}

/// Removes a subscription; deliveries still queued for it are dropped, its secret is scheduled
/// for deletion.
#[utoipa::path(delete, path = "/v1/webhook-subscriptions/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Admins only"),
        (status = 404, description = "No such subscription"),
        (status = 409, description = "Changed concurrently; try again"),
    ))]
fn delete_webhook_subscription() {}

/// A new signing secret, shown this once; the previous one also signs for 24 hours (two `v1,`
/// signatures in `webhook-signature`).
#[utoipa::path(post, path = "/v1/webhook-subscriptions/{id}/rotate-secret", tag = "webhooks", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The subscription with its new secret", body = SubscriptionWithSecret),
        (status = 403, description = "Admins only"),
        (status = 404, description = "No such subscription"),
        (status = 409, description = "Changed concurrently; try again"),
    ))]
fn rotate_webhook_secret() {}

/// Every attempt to deliver to the subscription, newest first, kept 30 days: event, attempt,
/// status code, the first 1,000 bytes of the answer, error, duration, next attempt.
#[utoipa::path(get, path = "/v1/webhook-subscriptions/{id}/deliveries", tag = "webhooks", params(("id" = String, Path), PageQuery),
    responses(
        (status = 200, description = "A page of attempts", body = PageBody<DeliveryAttempt>),
        (status = 403, description = "Admins only"),
        (status = 404, description = "No such subscription"),
    ))]
fn list_webhook_deliveries() {}

/// Sends the event of one logged attempt again, now, with the same `webhook-id` (its attempts
/// count from 1 again). The feed keeps events 24 hours: an older one answers 409.
#[utoipa::path(post, path = "/v1/webhook-subscriptions/{id}/deliveries/{deliveryId}/redeliver", tag = "webhooks",
    params(("id" = String, Path), ("deliveryId" = String, Path, description = "An attempt's `id` from the attempt log")),
    responses(
        (status = 202, description = "Queued", body = Resent),
        (status = 403, description = "Admins only"),
        (status = 404, description = "No such subscription or attempt"),
        (status = 409, description = "The subscription is switched off, or the event is no longer in the feed"),
    ))]
fn redeliver_webhook() {}

/// Sends again every event of the feed from `since` on that the subscription wants, oldest
/// first (the feed keeps events 24 hours: older ones are gone).
#[utoipa::path(post, path = "/v1/webhook-subscriptions/{id}/replay", tag = "webhooks", params(("id" = String, Path), ReplayQuery),
    responses(
        (status = 202, description = "Queued (how many)", body = Resent),
        (status = 403, description = "Admins only"),
        (status = 404, description = "No such subscription"),
        (status = 409, description = "The subscription is switched off"),
        (status = 422, description = "`since` missing or not a time"),
    ))]
fn replay_webhooks() {}
