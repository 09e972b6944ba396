//! The customers API (`docs/customers.md`).
//!
//! - `GET  /v1/customers?q=`, `POST /v1/customers`, `PATCH /v1/customers/{id}`: search, create,
//!   edit (`directory.rs`)
//! - `GET  /v1/customers/{id}` (with its identities, `merged_into`, its rate-limit block: `blocked`, or `null`)
//! - `POST /v1/customers/{id}/unblock` (supervisors, admins): lifts a rate-limit block
//! - `DELETE /v1/customers/{id}` (admins): erases the customer; `GET /v1/customers/{id}/export`
//!   (admins): everything stored about them
//! - `POST /v1/customers/{id}/transactions`, `GET /v1/customers/{id}/transactions?limit=&cursor=`:
//!   the business's transactions (`transactions.rs`)
//! - `GET /v1/customers/{id}/context`: the customer context panel (`context.rs`)
//! - `POST /v1/customers/{id}/link`, `POST /v1/customers/{id}/unlink` `{customer_id}` (supervisors,
//!   admins): one customer linked into another and back (`links.rs`)
//!
//! Each route reads its query into a typed struct (`http::query_params`): an unknown or empty
//! parameter answers 422. The contract of these routes is `api::openapi()`.

pub mod api;
mod context;
pub mod directory;
mod links;
mod transactions;

use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use max_core::app::{customers, rate_limits};
use max_core::config::Deps;
use max_core::error::Error as AppError;
use max_core::http::{NoQuery, Role, caller, no_content, ok, query_params, respond, segments};

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    // Routes with a module of their own read their own query.
    match (req.method(), path.as_slice()) {
        (_, ["v1", "customers", id, "transactions"]) => return transactions::route(req, deps, &caller, id).await,
        (&Method::GET, ["v1", "customers", id, "context"]) => return context::route(req, deps, &caller, id).await,
        (&Method::POST, ["v1", "customers", id, "link"]) => return links::route(req, deps, &caller, id, links::Direction::Link).await,
        (&Method::POST, ["v1", "customers", id, "unlink"]) => return links::route(req, deps, &caller, id, links::Direction::Unlink).await,
        _ => {}
    }
    if let Some(answer) = directory::route(req, deps, &caller, &path).await {
        return answer;
    }
    let NoQuery {} = query_params(req)?;
    match (req.method(), path.as_slice()) {
        (&Method::GET, ["v1", "customers", id]) => Ok(ok(&rate_limits::customer_view(&*deps.store, &caller.org_id, id, deps.clock.now()).await?)),
        (&Method::POST, ["v1", "customers", id, "unblock"]) => {
            caller.require(Role::Supervisor)?;
            Ok(ok(&rate_limits::unblock(&*deps.store, &*deps.store, &caller.org_id, id, deps.clock.now()).await?))
        }
        (&Method::DELETE, ["v1", "customers", id]) => {
            caller.require(Role::Admin)?;
            customers::erase(&*deps.store, &deps.routing_ports(), &caller.org_id, id, &caller.audit_actor(), deps.clock.now()).await?;
            Ok(no_content())
        }
        (&Method::GET, ["v1", "customers", id, "export"]) => {
            caller.require(Role::Admin)?;
            Ok(ok(&customers::export(&*deps.store, &caller.org_id, id).await?))
        }
        _ => Err(AppError::NotFound("route")),
    }
}

#[cfg(test)]
mod tests;
