//! The agent's conversation API.
//!
//! - `GET  /v1/conversations?status=&assignee=&limit=&cursor=`
//! - `GET  /v1/conversations/{id}`
//! - `GET  /v1/conversations/{id}/messages?order=asc|desc&limit=&cursor=`
//! - `POST /v1/conversations/{id}/messages` (text, template, buttons, list, media; `Idempotency-Key`)
//! - `POST /v1/conversations/{id}/assign` `{ "assignee_id": "..." | null }`
//! - `POST /v1/conversations/{id}/close`, `POST /v1/conversations/{id}/reopen`
//! - `GET  /v1/customers/{id}`

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::conversations;
use max_core::app::delivery::{NewReply, accepts_replies, queue_reply};
use max_core::config::Deps;
use max_core::domain::conversation::ConversationStatus;
use max_core::domain::message::{Sender, SenderType};
use max_core::domain::outbound::OutboundContent;
use max_core::error::Error as AppError;
use max_core::http::{Caller, PageBody, caller, header_value, json, json_body, ok, page_request, query, respond, segments};
use max_core::ports::ConversationFilter;
use serde::Deserialize;

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req);
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match (req.method(), path.as_slice()) {
        (&Method::GET, ["v1", "conversations"]) => list(req, deps, &caller).await,
        (&Method::GET, ["v1", "conversations", id]) => {
            Ok(ok(&conversations::get(&*deps.store, &caller.org_id, id).await?))
        }
        (&Method::GET, ["v1", "conversations", id, "messages"]) => messages(req, deps, &caller, id).await,
        (&Method::POST, ["v1", "conversations", id, "messages"]) => reply(req, deps, &caller, id).await,
        (&Method::POST, ["v1", "conversations", id, "assign"]) => assign(req, deps, &caller, id).await,
        (&Method::POST, ["v1", "conversations", id, "close"]) => {
            Ok(ok(&conversations::close(&*deps.store, &caller.org_id, id, deps.clock.now()).await?))
        }
        (&Method::POST, ["v1", "conversations", id, "reopen"]) => {
            Ok(ok(&conversations::reopen(&*deps.store, &caller.org_id, id, deps.clock.now()).await?))
        }
        (&Method::GET, ["v1", "customers", id]) => {
            let customer = deps.store.customer(&caller.org_id, id).await?.ok_or(AppError::NotFound("customer"))?;
            Ok(ok(&customer))
        }
        _ => Err(AppError::NotFound("route")),
    }
}

async fn list(req: &Request, deps: &Deps, caller: &Caller) -> Result<Response<Body>, AppError> {
    let status = match query(req, "status") {
        None => None,
        Some(s) => Some(ConversationStatus::parse(&s).ok_or_else(|| AppError::invalid("status", "must be one of: open, closed"))?),
    };
    // `assignee=me` is the caller's own queue.
    let assignee_id = query(req, "assignee").map(|a| if a == "me" { caller.user_id.clone() } else { a });
    let filter = ConversationFilter { status, assignee_id };
    let page = deps.store.conversations(&caller.org_id, &filter, &page_request(req)?).await?;
    Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
}

async fn messages(req: &Request, deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, AppError> {
    conversations::get(&*deps.store, &caller.org_id, id).await?;
    let newest_first = match query(req, "order").as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(AppError::invalid("order", "must be one of: asc, desc")),
    };
    let page = deps.store.messages(&caller.org_id, id, &page_request(req)?, newest_first).await?;
    Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
}

async fn reply(req: &Request, deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, AppError> {
    let content: OutboundContent = json_body(req)?;
    let conversation = conversations::get(&*deps.store, &caller.org_id, id).await?;
    accepts_replies(&conversation)?;
    let message = queue_reply(
        &*deps.store,
        &*deps.store,
        &*deps.outbox,
        NewReply {
            org_id: &caller.org_id,
            conversation_id: id,
            content,
            sender: Sender { kind: SenderType::Agent, id: Some(caller.user_id.clone()), name: caller.name.clone() },
            idempotency_key: header_value(req, "idempotency-key"),
            now: deps.clock.now(),
        },
    )
    .await?;
    Ok(json(StatusCode::ACCEPTED, &message))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    assignee_id: Option<String>,
}

async fn assign(req: &Request, deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, AppError> {
    let body: AssignBody = json_body(req)?;
    if body.assignee_id.as_deref().is_some_and(|a| a.trim().is_empty()) {
        return Err(AppError::invalid("assignee_id", "must be a user id or null"));
    }
    let conversation = conversations::assign(&*deps.store, &caller.org_id, id, body.assignee_id.as_deref(), deps.clock.now()).await?;
    Ok(ok(&conversation))
}

#[cfg(test)]
mod tests;
