//! The interactions API: action items, workflows and every customer's next step.
//!
//! - `GET  /v1/interactions?customer_id=&status=&type=&priority=&due_after=&due_before=&overdue=&order=&limit=&cursor=`
//! - `POST /v1/interactions` (`Idempotency-Key` honoured for 24 h)
//! - `GET  /v1/interactions/{id}`, `PUT /v1/interactions/{id}` (any subset of the editable fields)
//! - `POST /v1/interactions/{id}/complete` `{ outcome, outcome_details? }` (queues the next step)
//! - `POST /v1/interactions/{id}/cancel`
//! - `POST /v1/interactions/workflow/start` `{ customer_id, template_id, start_date? }`
//! - `POST /v1/interactions/bulk` `{ op: reassign|reschedule|cancel, ids, assignee_id | scheduled_at, due_at }`
//!   (per-item results, in the request's order)
//! - `GET  /v1/interactions/stats?from=&to=&group_by=type|assignee|template` (supervisors, admins)
//! - `GET  /v1/interactions/customers/{customerId}/next`, `/pending`, `/overdue`
//! - `GET  /v1/interactions/templates`, `POST /v1/interactions/templates` (admin)
//! - `GET  /v1/interactions/templates/{id}`, `PUT /v1/interactions/templates/{id}` (admin)
//! - `GET  /v1/interactions/settings`, `PUT /v1/interactions/settings` (admin)
//! - `POST /v1/campaigns` `{ name, workflow_template_id, customer_ids | filter }` (admin; 202,
//!   the start queued in pages), `GET /v1/campaigns?limit=&cursor=`, `GET /v1/campaigns/{id}`
//!
//! Each route reads its query into a typed struct (`http::query_params`): an unknown or empty
//! parameter answers 422. The contract of these routes is `api::openapi()`.

pub mod api;

use chrono::{DateTime, NaiveDate, Utc};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use max_core::app::campaigns;
use max_core::app::interactions::{self as use_cases, Actor, BulkRequest, StartWorkflow};
use max_core::domain::campaign::NewCampaign;
use max_core::config::Deps;
use max_core::domain::interaction::{Completion, InteractionChange, InteractionStatus, InteractionType, NewInteraction, Priority};
use max_core::domain::interaction_stats::StatsGroupBy;
use max_core::domain::workflow::{InteractionSettings, NewWorkflowTemplate};
use max_core::error::Error as AppError;
use max_core::http::{Caller, NoQuery, Order, PageBody, PageQuery, Role, caller, idempotency_key, json, json_body, ok, query_params, respond, segments};
use max_core::ports::{InteractionFilter, Written};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let (org, now) = (caller.org_id.as_str(), deps.clock.now());
    // Fixed segments first: `templates`, `settings`, `workflow` and `customers` are not ids.
    match (req.method(), path.as_slice()) {
        (&Method::GET, ["v1", "interactions"]) => list(req, deps, &caller).await,
        (&Method::GET, ["v1", "interactions", "stats"]) => {
            // Figures of everyone's work, like the SLA compliance report: supervisors and admins.
            caller.require(Role::Supervisor)?;
            let q: StatsQuery = query_params(req)?;
            let to = q.to.unwrap_or_else(|| now.date_naive());
            let from = q.from.unwrap_or(to - chrono::Duration::days(STATS_DEFAULT_DAYS - 1));
            Ok(ok(&use_cases::stats(&*deps.store, org, q.group_by.unwrap_or_default(), from, to).await?))
        }
        (&Method::GET, ["v1", "campaigns"]) => {
            let page = query_params::<PageQuery>(req)?.page()?;
            let page = campaigns::list(&*deps.store, org, &page).await?;
            Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
        }
        (&Method::GET, ["v1", "interactions", "customers", customer, which @ ("pending" | "overdue")]) => {
            let page = query_params::<PageQuery>(req)?.page()?;
            let overdue_at = (*which == "overdue").then_some(now);
            let page = use_cases::open_for_customer(&deps.interaction_ports(), org, customer, overdue_at, &page).await?;
            Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
        }
        (method, path) => {
            let NoQuery {} = query_params(req)?;
            single(req, deps, &caller, method, path).await
        }
    }
}

/// The routes without query parameters.
async fn single(req: &Request, deps: &Deps, caller: &Caller, method: &Method, path: &[&str]) -> Result<Response<Body>, AppError> {
    let ports = deps.interaction_ports();
    let actor = Actor { org_id: &caller.org_id, user_id: &caller.user_id };
    let org = caller.org_id.as_str();
    let now = deps.clock.now();
    match (method, path) {
        (&Method::POST, ["v1", "interactions"]) => {
            let body: NewInteraction = json_body(req)?;
            let created = use_cases::create(&ports, &actor, body, idempotency_key(req)?.as_ref(), now).await?;
            Ok(created_at(&format!("/v1/interactions/{}", created.id), &created))
        }
        (&Method::POST, ["v1", "interactions", "workflow", "start"]) => {
            let body: StartWorkflow = json_body(req)?;
            let first = use_cases::start_workflow(&ports, &actor, &body, idempotency_key(req)?.as_ref(), now).await?;
            Ok(created_at(&format!("/v1/interactions/{}", first.id), &first))
        }
        (&Method::POST, ["v1", "interactions", "bulk"]) => {
            let body: BulkRequest = json_body(req)?;
            Ok(ok(&use_cases::bulk(&ports, org, &body, now).await?))
        }
        (&Method::GET, ["v1", "interactions", "customers", customer, "next"]) => {
            let next = use_cases::next_for_customer(&ports, org, customer).await?.ok_or(AppError::NotFound("next interaction"))?;
            Ok(ok(&next))
        }
        (&Method::GET, ["v1", "interactions", "templates"]) => {
            let items = use_cases::templates(&*deps.store, org, now).await?;
            Ok(ok(&PageBody { items, next_cursor: None }))
        }
        (&Method::POST, ["v1", "interactions", "templates"]) => {
            caller.require(Role::Admin)?;
            let body: NewWorkflowTemplate = json_body(req)?;
            let template = use_cases::create_template(&*deps.store, &actor, body, now).await?;
            Ok(created_at(&format!("/v1/interactions/templates/{}", template.id), &template))
        }
        (&Method::GET, ["v1", "interactions", "templates", id]) => Ok(ok(&use_cases::template(&*deps.store, org, id).await?)),
        (&Method::PUT, ["v1", "interactions", "templates", id]) => {
            caller.require(Role::Admin)?;
            let body: NewWorkflowTemplate = json_body(req)?;
            Ok(ok(&use_cases::replace_template(&*deps.store, org, id, body, now).await?))
        }
        (&Method::GET, ["v1", "interactions", "settings"]) => Ok(ok(&use_cases::settings(&*deps.store, org).await?)),
        (&Method::PUT, ["v1", "interactions", "settings"]) => {
            caller.require(Role::Admin)?;
            let body: InteractionSettings = json_body(req)?;
            Ok(ok(&use_cases::save_settings(&*deps.store, org, &body, &caller.audit_actor(), deps.clock.now()).await?))
        }
        (&Method::GET, ["v1", "interactions", id]) => Ok(ok(&use_cases::get(&*deps.store, org, id).await?)),
        (&Method::PUT, ["v1", "interactions", id]) => {
            let change: InteractionChange = json_body(req)?;
            Ok(ok(&use_cases::update(&ports, org, id, &change, now).await?))
        }
        (&Method::POST, ["v1", "interactions", id, "complete"]) => {
            let completion: Completion = json_body(req)?;
            Ok(ok(&use_cases::complete(&ports, org, id, &completion, now).await?))
        }
        (&Method::POST, ["v1", "campaigns"]) => {
            caller.require(Role::Admin)?;
            let body: NewCampaign = json_body(req)?;
            let key = idempotency_key(req)?;
            let (campaign, written) = campaigns::create(&deps.campaign_ports(), &actor, body, key.as_ref(), now).await?;
            // A repeated Idempotency-Key answers the campaign the first request created.
            let status = if written == Written::Stored { StatusCode::ACCEPTED } else { StatusCode::OK };
            Ok(with_location(json(status, &campaign), &format!("/v1/campaigns/{}", campaign.id)))
        }
        (&Method::GET, ["v1", "campaigns", id]) => Ok(ok(&campaigns::get(&*deps.store, org, id).await?)),
        (&Method::POST, ["v1", "interactions", id, "cancel"]) => Ok(ok(&use_cases::cancel(&*deps.store, org, id, now).await?)),
        _ => Err(AppError::NotFound("route")),
    }
}

/// 201 with the new resource and where it lives.
fn created_at<T: Serialize>(location: &str, value: &T) -> Response<Body> {
    with_location(json(StatusCode::CREATED, value), location)
}

fn with_location(mut response: Response<Body>, location: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// The days `GET /v1/interactions/stats` reads when `from` is absent (ending at `to`).
const STATS_DEFAULT_DAYS: i64 = 30;

/// `GET /v1/interactions/stats`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// The first UTC day; 29 days before `to` when absent.
    pub from: Option<NaiveDate>,
    /// The last UTC day, at most 365 days after `from`; today when absent.
    pub to: Option<NaiveDate>,
    /// `type` (default), `assignee` or `template`.
    #[param(inline)]
    pub group_by: Option<StatsGroupBy>,
}

/// `GET /v1/interactions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[param(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub customer_id: Option<String>,
    #[param(inline)]
    pub status: Option<InteractionStatus>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<InteractionType>,
    #[param(inline)]
    pub priority: Option<Priority>,
    pub due_after: Option<DateTime<Utc>>,
    pub due_before: Option<DateTime<Utc>>,
    /// Only open interactions already due.
    pub overdue: Option<bool>,
    /// By due date: `asc` (default) or `desc`.
    #[param(inline)]
    pub order: Option<Order>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

async fn list(req: &Request, deps: &Deps, caller: &Caller) -> Result<Response<Body>, AppError> {
    let q: ListQuery = query_params(req)?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    let (status, priority, kind) = (q.status, q.priority, q.kind);
    let overdue = q.overdue.unwrap_or(false);
    let newest_first = q.order == Some(Order::Desc);
    let due_after = q.due_after;
    let mut due_before = q.due_before;
    // The caller's own range must make sense; `overdue` then narrows it to what is already due.
    if let (Some(a), Some(b)) = (due_after, due_before)
        && a > b
    {
        return Err(AppError::invalid("due_after", "must not be after due_before"));
    }
    if overdue {
        if status.is_some_and(|s| !s.is_open()) {
            return Err(AppError::invalid("status", "overdue interactions are pending or in_progress"));
        }
        let now = deps.clock.now();
        due_before = Some(due_before.map_or(now, |b| b.min(now)));
    }
    // Overdue from a date still to come: nothing can be, an empty page rather than an error.
    if let (Some(a), Some(b)) = (due_after, due_before)
        && a > b
    {
        return Ok(ok(&PageBody::<max_core::domain::interaction::Interaction> { items: Vec::new(), next_cursor: None }));
    }
    let filter = InteractionFilter {
        customer_id: q.customer_id,
        status,
        kind,
        priority,
        due_after,
        due_before,
        open_only: overdue,
        newest_first,
    };
    let page = max_core::ports::InteractionStore::interactions(&*deps.store, &caller.org_id, &filter, &page).await?;
    Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
}

#[cfg(test)]
mod tests;
