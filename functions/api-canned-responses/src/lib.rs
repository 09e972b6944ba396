//! Canned responses: the agents' quick replies (`/greeting`). Decisions:
//! `docs/canned-responses.md`. Sending one is a reply: `POST /v1/conversations/{id}/messages`
//! with `canned_response_id` and `values` (api-conversations).
//!
//! Anyone signed in (agents included):
//! - `GET    /v1/canned-responses?q=&category=&team_id=&limit=` (prefix of shortcut or title, most
//!   used first; the organisation's, the team's and the caller's own personal ones)
//! - `GET    /v1/canned-responses/{id}`
//! - `POST   /v1/canned-responses/{id}/render` `{ conversation_id?, values? }`: the text with what
//!   MAX knows filled in, and what is still missing
//!
//! Create, edit and delete — `POST /v1/canned-responses`, `PATCH /v1/canned-responses/{id}`,
//! `DELETE /v1/canned-responses/{id}`: supervisors and admins for the organisation's and teams'
//! responses; agents for their own personal ones only (`personal: true`).
//!
//! Each route reads its query into a typed struct (`http::query_params`): an unknown or empty
//! parameter answers 422. The contract of these routes is `api::openapi()`.

pub mod api;

use std::collections::BTreeMap;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::canned::{self as use_cases, Author, CannedQuery};
use max_core::config::Deps;
use max_core::domain::canned::{CannedEdit, CannedInput, CannedResponse};
use max_core::error::Error as AppError;
use max_core::http::{Caller, DEFAULT_PAGE, MAX_PAGE, NoQuery, Role, caller, json, json_body, no_content, ok, query_params, respond, segments};
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
    Render(String),
}

impl Route {
    pub fn parse(method: &Method, path: &[&str]) -> Option<Route> {
        let id = |s: &str| s.to_string();
        Some(match (method, path) {
            (&Method::GET, ["v1", "canned-responses"]) => Route::List,
            (&Method::POST, ["v1", "canned-responses"]) => Route::Create,
            (&Method::GET, ["v1", "canned-responses", c]) => Route::Get(id(c)),
            (&Method::PATCH, ["v1", "canned-responses", c]) => Route::Edit(id(c)),
            (&Method::DELETE, ["v1", "canned-responses", c]) => Route::Delete(id(c)),
            (&Method::POST, ["v1", "canned-responses", c, "render"]) => Route::Render(id(c)),
            _ => return None,
        })
    }
}

/// `GET /v1/canned-responses`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// What the agent typed: a prefix of the shortcut (with or without its `/`) or of the title
    /// or one of its words, ignoring case.
    #[param(min_length = 1, max_length = 100, pattern = "\\S")]
    pub q: Option<String>,
    #[param(min_length = 1, max_length = 50, pattern = "\\S")]
    pub category: Option<String>,
    /// The organisation's responses, this team's and the caller's personal ones (other teams'
    /// are left out).
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[param(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub team_id: Option<String>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
}

/// The responses found, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CannedResponseList {
    pub items: Vec<CannedResponse>,
}

/// `POST /v1/canned-responses/{id}/render`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderBody {
    /// The conversation whose customer, ticket and id fill the variables.
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub conversation_id: Option<String>,
    /// Values of variables MAX does not know (`order_id`); they never replace what it knows.
    #[serde(default)]
    #[schema(schema_with = max_core::domain::canned::values_schema)]
    pub values: BTreeMap<String, String>,
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let route = Route::parse(req.method(), &path).ok_or(AppError::NotFound("route"))?;
    let author = author(&caller);
    let store = &*deps.store;
    let now = deps.clock.now();
    if route == Route::List {
        let q: ListQuery = query_params(req)?;
        let limit = match q.limit {
            None => DEFAULT_PAGE,
            Some(l) if (1..=MAX_PAGE).contains(&l) => l,
            Some(_) => return Err(AppError::invalid("limit", format!("must be between 1 and {MAX_PAGE}"))),
        };
        for (name, value, max) in [("q", &q.q, 100), ("category", &q.category, 50)] {
            if value.as_ref().is_some_and(|v| v.trim().is_empty() || v.chars().count() > max) {
                return Err(AppError::invalid(name, format!("must be 1 to {max} characters, not blank")));
            }
        }
        let query = CannedQuery { q: q.q, category: q.category, team_id: q.team_id, limit: limit as usize };
        return Ok(ok(&CannedResponseList { items: use_cases::list(store, &author, &query).await? }));
    }
    let NoQuery {} = query_params(req)?;
    match route {
        Route::Create => {
            let input: CannedInput = json_body(req)?;
            let response = use_cases::create(store, &author, input, now).await?;
            let mut answer = json(StatusCode::CREATED, &response);
            if let Ok(v) = HeaderValue::from_str(&format!("/v1/canned-responses/{}", response.id)) {
                answer.headers_mut().insert(header::LOCATION, v);
            }
            Ok(answer)
        }
        Route::Get(id) => Ok(ok(&use_cases::get(store, &author, &id).await?)),
        Route::Edit(id) => {
            let edit: CannedEdit = json_body(req)?;
            Ok(ok(&use_cases::edit(store, &author, &id, edit, now).await?))
        }
        Route::Delete(id) => {
            use_cases::delete(store, &author, &id, now).await?;
            Ok(no_content())
        }
        Route::Render(id) => {
            let body: RenderBody = json_body(req)?;
            let rendered = use_cases::render(&deps.canned_ports(), &author, &id, body.conversation_id.as_deref(), &body.values).await?;
            Ok(ok(&rendered))
        }
        Route::List => Err(AppError::NotFound("route")),
    }
}

/// The caller as the use cases see them.
fn author(caller: &Caller) -> Author<'_> {
    Author {
        org_id: &caller.org_id,
        user_id: &caller.user_id,
        name: caller.name.as_deref(),
        manages_shared: caller.role >= Role::Supervisor,
        role: caller.role.as_str(),
    }
}

#[cfg(test)]
mod tests;
