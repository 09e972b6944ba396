//! `GET /v1/customers/{id}/context`: the customer context panel (`docs/customer-context.md`), any
//! signed-in caller of the organisation.

use lambda_http::{Body, Request, Response};
use max_core::app::customer_context::{ContextPorts, customer_context};
use max_core::config::Deps;
use max_core::error::Error as AppError;
use max_core::http::{Caller, NoQuery, ok, query_params};

pub async fn route(req: &Request, deps: &Deps, caller: &Caller, customer_id: &str) -> Result<Response<Body>, AppError> {
    let NoQuery {} = query_params(req)?;
    let store = &*deps.store;
    let ports = ContextPorts { reads: store, interactions: store, transactions: store };
    Ok(ok(&customer_context(ports, &caller.org_id, customer_id, deps.clock.now()).await?))
}
