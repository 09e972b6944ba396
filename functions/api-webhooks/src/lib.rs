//! Outbound webhook subscriptions (`docs/webhooks.md`). Admins only (others 403); another
//! organisation's subscription answers 404.
//!
//! - `GET    /v1/webhook-subscriptions` (every one of the organisation's, oldest first; 20 at most)
//! - `POST   /v1/webhook-subscriptions` `{ url, event_types, description?, enabled?, timeout_secs? }`
//!   → 201 with `secret` (`whsec_…`), shown this once
//! - `GET    /v1/webhook-subscriptions/{id}`
//! - `PATCH  /v1/webhook-subscriptions/{id}` (the fields given; `enabled: true` again forgets the
//!   failures that switched it off)
//! - `DELETE /v1/webhook-subscriptions/{id}` → 204 (its secret is scheduled for deletion)
//! - `POST   /v1/webhook-subscriptions/{id}/rotate-secret` → 200 with the new `secret`; the
//!   previous one also signs for 24 hours
//! - `GET    /v1/webhook-subscriptions/{id}/deliveries?limit=&cursor=` (every attempt, newest first,
//!   kept 30 days)
//! - `POST   /v1/webhook-subscriptions/{id}/deliveries/{deliveryId}/redeliver` → 202: that attempt's
//!   event sent again now (the feed keeps events 24 hours; an older one answers 409)
//! - `POST   /v1/webhook-subscriptions/{id}/replay?since=` → 202: every event of the feed from
//!   `since` on (RFC 3339; the feed keeps 24 hours) that the subscription wants, sent again
//!
//! Each route reads its query into a typed struct (`http::query_params`): an unknown parameter
//! answers 422. The contract of these routes is `api::openapi()`.

pub mod api;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::webhook_delivery as delivery;
use max_core::app::webhooks as use_cases;
use max_core::config::Deps;
use max_core::domain::webhook_subscription::{WebhookSubscription, WebhookSubscriptionEdit, WebhookSubscriptionInput};
use max_core::error::Error as AppError;
use max_core::http::{NoQuery, PageBody, PageQuery, Role, caller, json, json_body, no_content, ok, query_params, respond, segments};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

/// Every route of this function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    List,
    Create,
    Get(String),
    Edit(String),
    Delete(String),
    RotateSecret(String),
    Deliveries(String),
    Redeliver(String, String),
    Replay(String),
}

impl Route {
    pub fn parse(method: &Method, path: &[&str]) -> Option<Route> {
        let id = |s: &str| s.to_string();
        Some(match (method, path) {
            (&Method::GET, ["v1", "webhook-subscriptions"]) => Route::List,
            (&Method::POST, ["v1", "webhook-subscriptions"]) => Route::Create,
            (&Method::GET, ["v1", "webhook-subscriptions", s]) => Route::Get(id(s)),
            (&Method::PATCH, ["v1", "webhook-subscriptions", s]) => Route::Edit(id(s)),
            (&Method::DELETE, ["v1", "webhook-subscriptions", s]) => Route::Delete(id(s)),
            (&Method::POST, ["v1", "webhook-subscriptions", s, "rotate-secret"]) => Route::RotateSecret(id(s)),
            (&Method::GET, ["v1", "webhook-subscriptions", s, "deliveries"]) => Route::Deliveries(id(s)),
            (&Method::POST, ["v1", "webhook-subscriptions", s, "deliveries", d, "redeliver"]) => Route::Redeliver(id(s), id(d)),
            (&Method::POST, ["v1", "webhook-subscriptions", s, "replay"]) => Route::Replay(id(s)),
            _ => return None,
        })
    }
}

/// `POST …/{id}/replay?since=`: from when (RFC 3339) the feed's events are sent again.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// Events that happened at or after this time (the feed keeps 24 hours).
    pub since: chrono::DateTime<chrono::Utc>,
}

/// The organisation's subscriptions (20 at most: no cursor).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSubscriptionList {
    pub items: Vec<WebhookSubscription>,
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let route = Route::parse(req.method(), &path).ok_or(AppError::NotFound("route"))?;
    caller.require(Role::Admin)?;
    let org = caller.org_id.as_str();
    let ports = deps.webhook_subscription_ports();
    let now = deps.clock.now();
    if let Route::Deliveries(id) = &route {
        let page = query_params::<PageQuery>(req)?.page()?;
        let found = use_cases::deliveries(ports.store, org, id, &page).await?;
        return Ok(ok(&PageBody { items: found.items, next_cursor: found.next_cursor }));
    }
    if let Route::Replay(id) = &route {
        let ReplayQuery { since } = query_params(req)?;
        return Ok(json(StatusCode::ACCEPTED, &delivery::replay(&deps.webhook_resend_ports(), org, id, since).await?));
    }
    let NoQuery {} = query_params(req)?;
    match route {
        Route::List => Ok(ok(&WebhookSubscriptionList { items: use_cases::list(ports.store, org).await? })),
        Route::Create => {
            let input: WebhookSubscriptionInput = json_body(req)?;
            let created = use_cases::create(&ports, org, &caller.user_id, input, now).await?;
            let mut answer = json(StatusCode::CREATED, &created);
            if let Ok(v) = HeaderValue::from_str(&format!("/v1/webhook-subscriptions/{}", created.subscription.id)) {
                answer.headers_mut().insert(header::LOCATION, v);
            }
            Ok(answer)
        }
        Route::Get(id) => Ok(ok(&use_cases::get(ports.store, org, &id).await?)),
        Route::Edit(id) => {
            let edit: WebhookSubscriptionEdit = json_body(req)?;
            Ok(ok(&use_cases::edit(&ports, org, &id, edit, now).await?))
        }
        Route::Delete(id) => {
            use_cases::delete(&ports, org, &id).await?;
            Ok(no_content())
        }
        Route::RotateSecret(id) => Ok(ok(&use_cases::rotate_secret(&ports, org, &id, now).await?)),
        Route::Redeliver(id, attempt) => Ok(json(StatusCode::ACCEPTED, &delivery::redeliver(&deps.webhook_resend_ports(), org, &id, &attempt).await?)),
        Route::Deliveries(_) | Route::Replay(_) => Err(AppError::NotFound("route")),
    }
}

#[cfg(test)]
mod tests;
