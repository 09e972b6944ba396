//! WhatsApp message templates, managed at Meta from MAX. Decisions: `docs/whatsapp-templates.md`.
//!
//! Anyone signed in:
//! - `GET    /v1/whatsapp-templates?status=&name=&limit=&cursor=` (by name, then language)
//! - `GET    /v1/whatsapp-templates/{id}` (Meta's template id)
//!
//! Admins (templates are settings):
//! - `POST   /v1/whatsapp-templates` `{ name, language, category, components, waba_id?,
//!   parameter_format? }` → 201 `PENDING` with Meta's id (checked as Meta checks it first: 422
//!   naming the field; no number registered → 409)
//! - `DELETE /v1/whatsapp-templates/{id}` → 204 (deleted at Meta too)
//! - `POST   /v1/whatsapp-templates/sync` → what Meta's list changed (templates made in Meta's
//!   tools appear)
//!
//! Each route reads its query into a typed struct (`http::query_params`): an unknown or empty
//! parameter answers 422. The contract of these routes is `api::openapi()`.

pub mod api;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::whatsapp_templates as use_cases;
use max_core::config::Deps;
use max_core::domain::whatsapp_template::{NewTemplate, TemplateFilter, TemplateStatus, check_name};
use max_core::error::Error as AppError;
use max_core::http::{NoQuery, PageBody, Role, caller, json, json_body, no_content, ok, page_request, query_params, respond, segments};
use serde::Deserialize;
use utoipa::IntoParams;

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

/// `GET /v1/whatsapp-templates`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TemplatesQuery {
    /// Only templates in this review status.
    pub status: Option<TemplateStatus>,
    /// Only templates of this name (every language).
    #[param(min_length = 1, max_length = 512, pattern = "^[a-z0-9_]+$")]
    pub name: Option<String>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
    /// `next_cursor` of the page before.
    pub cursor: Option<String>,
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let org = caller.org_id.as_str();
    let now = deps.clock.now();
    match (req.method(), path.as_slice()) {
        (&Method::GET, ["v1", "whatsapp-templates"]) => {
            let q: TemplatesQuery = query_params(req)?;
            if let Some(name) = &q.name {
                check_name("name", name)?;
            }
            let page = page_request(q.limit, q.cursor)?;
            let filter = TemplateFilter { status: q.status, name: q.name };
            let page = use_cases::list(&*deps.store, org, &filter, &page).await?;
            Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
        }
        (method, path) => {
            let NoQuery {} = query_params(req)?;
            match (method, path) {
                (&Method::GET, ["v1", "whatsapp-templates", id]) => Ok(ok(&use_cases::get(&*deps.store, org, id).await?)),
                (&Method::POST, ["v1", "whatsapp-templates", "sync"]) => {
                    caller.require(Role::Admin)?;
                    Ok(ok(&use_cases::sync(&deps.template_ports(), org, now).await?))
                }
                (&Method::POST, ["v1", "whatsapp-templates"]) => {
                    caller.require(Role::Admin)?;
                    let new: NewTemplate = json_body(req)?;
                    let template = use_cases::submit(&deps.template_ports(), org, &caller.audit_actor(), &new, now).await?;
                    Ok(json(StatusCode::CREATED, &template))
                }
                (&Method::DELETE, ["v1", "whatsapp-templates", id]) => {
                    caller.require(Role::Admin)?;
                    use_cases::delete(&deps.template_ports(), org, id, &caller.audit_actor(), now).await?;
                    Ok(no_content())
                }
                _ => Err(AppError::NotFound("route")),
            }
        }
    }
}

#[cfg(test)]
mod tests;
