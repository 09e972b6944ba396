//! The actions API.
//!
//! - `POST /v1/actions` `{ conversation_id, type, title, details?, proposed_reply? }` (`Idempotency-Key`)
//! - `GET  /v1/actions?status=&type=&conversation_id=&limit=&cursor=`
//! - `GET  /v1/actions/{id}` (with its decision and its answer's delivery status)
//! - `POST /v1/actions/{id}/approve`, `/deny` `{ reply_text? }`, `/edit` `{ reply_text?, changes }`
//! - `POST /v1/action-feedback` `{ action_id, status, user_response?, changes? }` (the seed design's single endpoint)
//! - `GET|PUT /v1/action-response-templates` (admins)
//!
//! Each route reads its query into a typed struct (`http::query_params`): an unknown or empty
//! parameter answers 422. The contract of these routes is `api::openapi()`.

pub mod api;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::actions;
use max_core::config::Deps;
use max_core::domain::action::{ActionStatus, Actor, DecisionRequest, NewAction};
use max_core::domain::response_template::TemplateSettingsRequest;
use max_core::error::Error as AppError;
use max_core::http::{Caller, NoQuery, PageBody, PageQuery, Role, caller, idempotency_key, json, json_body, ok, query_params, respond, segments};
use max_core::ports::{ActionFilter, Written};
use serde::Deserialize;
use utoipa::IntoParams;
use serde_json::{Map, Value};

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

fn actor(caller: &Caller) -> Actor {
    Actor { id: caller.user_id.clone(), name: caller.name.clone() }
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match (req.method(), path.as_slice()) {
        (&Method::GET, ["v1", "actions"]) => list(req, deps, &caller).await,
        (method, path) => {
            let NoQuery {} = query_params(req)?;
            match (method, path) {
                (&Method::POST, ["v1", "actions"]) => create(req, deps, &caller).await,
                (&Method::GET, ["v1", "actions", id]) => Ok(ok(&actions::get(&*deps.store, &caller.org_id, id).await?)),
                (&Method::POST, ["v1", "actions", id, verb @ ("approve" | "deny" | "edit")]) => decide_by_verb(req, deps, &caller, id, verb).await,
                (&Method::POST, ["v1", "action-feedback"]) => feedback(req, deps, &caller).await,
                (&Method::GET, ["v1", "action-response-templates"]) => {
                    caller.require(Role::Admin)?;
                    Ok(ok(&actions::templates(&*deps.store, &caller.org_id, deps.clock.now()).await?))
                }
                (&Method::PUT, ["v1", "action-response-templates"]) => {
                    caller.require(Role::Admin)?;
                    let body: TemplateSettingsRequest = json_body(req)?;
                    Ok(ok(&actions::save_templates(&*deps.store, &caller.org_id, &caller.audit_actor(), body, deps.clock.now()).await?))
                }
                _ => Err(AppError::NotFound("route")),
            }
        }
    }
}

async fn create(req: &Request, deps: &Deps, caller: &Caller) -> Result<Response<Body>, AppError> {
    let new: NewAction = json_body(req)?;
    let key = idempotency_key(req)?;
    let (action, written) = actions::create(&deps.action_ports(), &caller.org_id, actor(caller), new, key.as_ref(), deps.clock.now()).await?;
    // A repeated Idempotency-Key answers the action the first request created.
    let status = if written == Written::Stored { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json(status, &action))
}

/// `GET /v1/actions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[param(inline)]
    pub status: Option<ActionStatus>,
    /// An action type (built-in or the organisation's own).
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = "^[a-z][a-z0-9_]{0,47}$")]
    pub action_type: Option<String>,
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[param(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub conversation_id: Option<String>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

async fn list(req: &Request, deps: &Deps, caller: &Caller) -> Result<Response<Body>, AppError> {
    let q: ListQuery = query_params(req)?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    let filter = ActionFilter { status: q.status, action_type: q.action_type, conversation_id: q.conversation_id };
    let page = actions::list(&*deps.store, &caller.org_id, &filter, &page).await?;
    Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
}

/// `POST /v1/actions/{id}/approve|deny|edit`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// What the customer is told (`{{user_response}}` in the templates).
    #[serde(default)]
    reply_text: Option<String>,
    /// An edit's changes to the details (`null` removes a field); edits only.
    #[serde(default)]
    changes: Option<Map<String, Value>>,
}

async fn decide_by_verb(req: &Request, deps: &Deps, caller: &Caller, id: &str, verb: &str) -> Result<Response<Body>, AppError> {
    let body: DecisionBody = json_body(req)?;
    let status = match verb {
        "approve" => ActionStatus::Approved,
        "deny" => ActionStatus::Denied,
        _ => ActionStatus::Edited,
    };
    let request = DecisionRequest::new(status, body.reply_text, "reply_text", body.changes)?;
    let action = actions::decide(&deps.action_ports(), &caller.org_id, id, &request, actor(caller), caller.role.as_str(), deps.clock.now()).await?;
    Ok(ok(&action))
}

/// `POST /v1/action-feedback`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    #[serde(deserialize_with = "max_core::domain::ids::id")]
    action_id: String,
    status: String,
    #[serde(default)]
    user_response: Option<String>,
    #[serde(default)]
    changes: Option<Map<String, Value>>,
}

async fn feedback(req: &Request, deps: &Deps, caller: &Caller) -> Result<Response<Body>, AppError> {
    let body: FeedbackBody = json_body(req)?;
    let status = ActionStatus::parse(&body.status)
        .filter(|s| s.is_decision())
        .ok_or_else(|| AppError::invalid("status", "must be one of: approved, denied, edited"))?;
    let request = DecisionRequest::new(status, body.user_response, "user_response", body.changes)?;
    let action = actions::decide(&deps.action_ports(), &caller.org_id, &body.action_id, &request, actor(caller), caller.role.as_str(), deps.clock.now()).await?;
    Ok(ok(&action))
}

#[cfg(test)]
mod tests;
