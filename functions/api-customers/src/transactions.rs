//! `POST /v1/customers/{id}/transactions` and `GET /v1/customers/{id}/transactions`: what the
//! business's own systems report (`docs/customer-context.md`). Any signed-in caller of the
//! organisation; the business's integration posts with a token of its organisation.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use max_core::app::transactions;
use max_core::config::Deps;
use max_core::domain::transaction::NewTransaction;
use max_core::error::Error as AppError;
use max_core::http::{Caller, NoQuery, PageBody, PageQuery, json, json_body, ok, query_params};
use max_core::ports::Written;

pub async fn route(req: &Request, deps: &Deps, caller: &Caller, customer_id: &str) -> Result<Response<Body>, AppError> {
    match *req.method() {
        Method::POST => {
            let NoQuery {} = query_params(req)?;
            let new: NewTransaction = json_body(req)?;
            let (transaction, written) =
                transactions::record(&*deps.store, &*deps.store, &caller.org_id, customer_id, new, deps.clock.now()).await?;
            let status = if written == Written::Stored { StatusCode::CREATED } else { StatusCode::OK };
            Ok(json(status, &transaction))
        }
        Method::GET => {
            let query: PageQuery = query_params(req)?;
            let page = transactions::list(&*deps.store, &*deps.store, &caller.org_id, customer_id, &query.page()?).await?;
            Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
        }
        _ => Err(AppError::NotFound("route")),
    }
}
