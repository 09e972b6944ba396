//! Customers by hand (`docs/customers.md`): any signed-in caller of the organisation.
//!
//! - `GET   /v1/customers?q=&limit=&cursor=`: prefix search on name words, phone digits, email,
//!   external id
//! - `POST  /v1/customers`: 201 with the customer; a phone or external id already a customer's is
//!   409 naming them (`current`)
//! - `PATCH /v1/customers/{id}`: name, email, tags, notes, language over `version` (409 when stale)

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use max_core::app::customers;
use max_core::config::Deps;
use max_core::domain::customer::{CustomerChanges, NewCustomer};
use max_core::error::Error as AppError;
use max_core::http::{Caller, NoQuery, PageBody, json, json_body, ok, page_request, query_params};

/// The search's query.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// A prefix of a name word, the phone's digits (any punctuation), an email or an external id;
    /// several words must each start one of the customer's.
    #[param(min_length = 1, max_length = 100, pattern = "[\\p{L}\\p{N}]")]
    pub q: String,
    /// Index entries per page (a page may answer fewer customers; follow `next_cursor`).
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// The answer of these routes, `None` for a route of another module.
pub async fn route(req: &Request, deps: &Deps, caller: &Caller, path: &[&str]) -> Option<Result<Response<Body>, AppError>> {
    let now = deps.clock.now();
    let org = caller.org_id.as_str();
    let answer = match (req.method(), path) {
        (&Method::GET, ["v1", "customers"]) => async {
            let query: SearchQuery = query_params(req)?;
            let page = customers::search(&*deps.store, org, &query.q, &page_request(query.limit, query.cursor)?).await?;
            Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
        }
        .await,
        (&Method::POST, ["v1", "customers"]) => async {
            let NoQuery {} = query_params(req)?;
            let input: NewCustomer = json_body(req)?;
            Ok(json(StatusCode::CREATED, &customers::create(&*deps.store, org, &input, &caller.user_id, now).await?))
        }
        .await,
        (&Method::PATCH, ["v1", "customers", id]) => async {
            let NoQuery {} = query_params(req)?;
            let changes: CustomerChanges = json_body(req)?;
            Ok(ok(&customers::update(&*deps.store, org, id, &changes, now).await?))
        }
        .await,
        _ => return None,
    };
    Some(answer)
}
