//! Customer links (`docs/customers.md`, link): supervisors and admins.
//!
//! - `POST /v1/customers/{id}/link {customer_id}`: the customer `customer_id` (the secondary) is
//!   linked into `{id}` (the primary): its identities and conversations move, it answers
//!   `merged_into: {id}` from then on; 200 with the link. Asked again, it finishes what is left.
//! - `POST /v1/customers/{id}/unlink {customer_id}`: gives back what the link moved.

use lambda_http::{Body, Request, Response};
use max_core::app::customer_links;
use max_core::config::Deps;
use max_core::domain::customer_link::LinkRequest;
use max_core::error::Error as AppError;
use max_core::http::{Caller, NoQuery, Role, json_body, ok, query_params};

/// Which way the link goes.
#[derive(Clone, Copy)]
pub enum Direction {
    Link,
    Unlink,
}

pub async fn route(req: &Request, deps: &Deps, caller: &Caller, primary_id: &str, direction: Direction) -> Result<Response<Body>, AppError> {
    // A link changes whose history every agent sees under a customer (`docs/security.md`).
    caller.require(Role::Supervisor)?;
    let NoQuery {} = query_params(req)?;
    let body: LinkRequest = json_body(req)?;
    let (org, now) = (caller.org_id.as_str(), deps.clock.now());
    let link = match direction {
        Direction::Link => customer_links::link(deps.link_ports(), org, primary_id, &body.customer_id, &caller.user_id, now).await?,
        Direction::Unlink => customer_links::unlink(deps.link_ports(), org, primary_id, &body.customer_id, &caller.user_id, now).await?,
    };
    Ok(ok(&link))
}
