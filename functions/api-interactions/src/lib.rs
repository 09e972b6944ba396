//! The interactions API: action items, workflows and every customer's next step.
//!
//! - `GET  /v1/interactions?customer_id=&status=&type=&priority=&due_after=&due_before=&overdue=&order=&limit=&cursor=`
//! - `POST /v1/interactions` (`Idempotency-Key` honoured for 24 h)
//! - `GET  /v1/interactions/{id}`, `PUT /v1/interactions/{id}` (any subset of the editable fields)
//! - `POST /v1/interactions/{id}/complete` `{ outcome, outcome_details? }` (queues the next step)
//! - `POST /v1/interactions/{id}/cancel`
//! - `POST /v1/interactions/workflow/start` `{ customer_id, template_id, start_date? }`
//! - `GET  /v1/interactions/customers/{customerId}/next`, `/pending`, `/overdue`
//! - `GET  /v1/interactions/templates`, `POST /v1/interactions/templates` (admin)
//! - `GET  /v1/interactions/templates/{id}`, `PUT /v1/interactions/templates/{id}` (admin)
//! - `GET  /v1/interactions/settings`, `PUT /v1/interactions/settings` (admin)

use chrono::{DateTime, Utc};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use max_core::app::interactions::{self as use_cases, Actor, StartWorkflow};
use max_core::config::Deps;
use max_core::domain::interaction::{Completion, InteractionChange, InteractionStatus, InteractionType, NewInteraction, Priority};
use max_core::domain::workflow::{InteractionSettings, NewWorkflowTemplate};
use max_core::error::Error as AppError;
use max_core::http::{Caller, PageBody, Role, caller, header_value, json, json_body, ok, page_request, query, respond, segments};
use max_core::ports::InteractionFilter;
use serde::Serialize;

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req);
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let ports = deps.interaction_ports();
    let actor = Actor { org_id: &caller.org_id, user_id: &caller.user_id };
    let org = caller.org_id.as_str();
    let now = deps.clock.now();
    // Fixed segments first: `templates`, `settings`, `workflow` and `customers` are not ids.
    match (req.method(), path.as_slice()) {
        (&Method::GET, ["v1", "interactions"]) => list(req, deps, &caller).await,
        (&Method::POST, ["v1", "interactions"]) => {
            let body: NewInteraction = json_body(req)?;
            let created = use_cases::create(&ports, &actor, body, header_value(req, "idempotency-key"), now).await?;
            Ok(created_at(&format!("/v1/interactions/{}", created.id), &created))
        }
        (&Method::POST, ["v1", "interactions", "workflow", "start"]) => {
            let body: StartWorkflow = json_body(req)?;
            let first = use_cases::start_workflow(&ports, &actor, &body, header_value(req, "idempotency-key"), now).await?;
            Ok(created_at(&format!("/v1/interactions/{}", first.id), &first))
        }
        (&Method::GET, ["v1", "interactions", "customers", customer, "next"]) => {
            let next = use_cases::next_for_customer(&ports, org, customer).await?.ok_or(AppError::NotFound("next interaction"))?;
            Ok(ok(&next))
        }
        (&Method::GET, ["v1", "interactions", "customers", customer, "pending"]) => {
            let page = use_cases::open_for_customer(&ports, org, customer, None, &page_request(req)?).await?;
            Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
        }
        (&Method::GET, ["v1", "interactions", "customers", customer, "overdue"]) => {
            let page = use_cases::open_for_customer(&ports, org, customer, Some(now), &page_request(req)?).await?;
            Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
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
            Ok(ok(&use_cases::save_settings(&*deps.store, org, &body).await?))
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
        (&Method::POST, ["v1", "interactions", id, "cancel"]) => Ok(ok(&use_cases::cancel(&*deps.store, org, id, now).await?)),
        _ => Err(AppError::NotFound("route")),
    }
}

/// 201 with the new resource and where it lives.
fn created_at<T: Serialize>(location: &str, value: &T) -> Response<Body> {
    let mut response = json(StatusCode::CREATED, value);
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn time_param(req: &Request, name: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    query(req, name)
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| AppError::invalid(name, "must be an RFC 3339 date-time, e.g. 2026-01-22T17:00:00Z"))
        })
        .transpose()
}

fn choice<T>(req: &Request, name: &str, parse: impl Fn(&str) -> Option<T>, allowed: &str) -> Result<Option<T>, AppError> {
    query(req, name).map(|v| parse(&v).ok_or_else(|| AppError::invalid(name, format!("must be one of: {allowed}")))).transpose()
}

async fn list(req: &Request, deps: &Deps, caller: &Caller) -> Result<Response<Body>, AppError> {
    let status = choice(req, "status", InteractionStatus::parse, "pending, in_progress, completed, cancelled, skipped")?;
    let priority = choice(req, "priority", Priority::parse, "low, normal, high, urgent")?;
    let kind = query(req, "type").map(|t| InteractionType::new(&t).map_err(|reason| AppError::invalid("type", reason))).transpose()?;
    let overdue = choice(req, "overdue", |v| v.parse::<bool>().ok(), "true, false")?.unwrap_or(false);
    let newest_first = choice(req, "order", |v| matches!(v, "asc" | "desc").then(|| v == "desc"), "asc, desc")?.unwrap_or(false);
    let due_after = time_param(req, "due_after")?;
    let mut due_before = time_param(req, "due_before")?;
    if overdue {
        if status.is_some_and(|s| !s.is_open()) {
            return Err(AppError::invalid("status", "overdue interactions are pending or in_progress"));
        }
        let now = deps.clock.now();
        due_before = Some(due_before.map_or(now, |b| b.min(now)));
    }
    if let (Some(a), Some(b)) = (due_after, due_before)
        && a > b
    {
        return Err(AppError::invalid("due_after", "must not be after due_before"));
    }
    let filter = InteractionFilter {
        customer_id: query(req, "customer_id"),
        status,
        kind,
        priority,
        due_after,
        due_before,
        open_only: overdue,
        newest_first,
    };
    let page = max_core::ports::InteractionStore::interactions(&*deps.store, &caller.org_id, &filter, &page_request(req)?).await?;
    Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
}

#[cfg(test)]
mod tests;
