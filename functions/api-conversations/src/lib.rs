//! The agent's conversation API.
//!
//! - `GET  /v1/conversations?status=&assignee=&team_id=&priority=&limit=&cursor=`
//! - `GET  /v1/conversations/{id}` (with its SLA clocks and violations)
//! - `PATCH /v1/conversations/{id}` `{ team_id?, priority?, required_skills? }` (supervisors and
//!   admins; a new team or priority evaluates the SLA policy again)
//! - `GET  /v1/conversations/{id}/messages?order=asc|desc&limit=&cursor=`
//! - `POST /v1/conversations/{id}/messages` (text, template, buttons, list, media — by Graph id,
//!   link, or an upload's `media_id` from `POST /v1/media`; `Idempotency-Key`), or a canned
//!   response `{ canned_response_id, values }` rendered for the conversation
//! - `POST /v1/conversations/{id}/assign` `{ "assignee_id": "..." | null }`
//! - `POST /v1/conversations/{id}/close` `{ outcome?, outcome_details? }` (with an outcome, the
//!   conversation's open interaction is completed with it and its next step follows),
//!   `POST /v1/conversations/{id}/reopen`
//! - `GET  /v1/settings/rate-limits`, `PUT /v1/settings/rate-limits` (admins): customer-side rate
//!   limits (`docs/rate-limits.md`)
//!
//! The `/v1/customers…` routes are api-customers'.
//!
//! Each route reads its query into a typed struct (`http::query_params`): an unknown or empty
//! parameter answers 422. The contract of these routes is `api::openapi()`.

pub mod api;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::{conversations, rate_limits};
use max_core::app::delivery::{NewReply, accepts_replies, queue_reply};
use max_core::app::canned;
use max_core::config::Deps;
use max_core::domain::conversation::ConversationStatus;
use max_core::domain::sla::Priority;
use max_core::domain::message::{Sender, SenderType};
use max_core::domain::outbound::OutboundContent;
use max_core::domain::rate_limit::RateLimitSettings;
use max_core::error::Error as AppError;
use max_core::http::{
    Caller, NoQuery, Order, PageBody, PageQuery, Role, caller, idempotency_key, json, json_body, ok, query_params, respond, segments,
};
use max_core::ports::ConversationFilter;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match (req.method(), path.as_slice()) {
        (&Method::GET, ["v1", "conversations"]) => list(req, deps, &caller).await,
        (&Method::GET, ["v1", "conversations", id, "messages"]) => messages(req, deps, &caller, id).await,
        (&Method::POST, ["v1", "conversations", id, "messages"]) => reply(req, deps, &caller, id).await,
        (method, path) => {
            let NoQuery {} = query_params(req)?;
            match (method, path) {
                (&Method::GET, ["v1", "conversations", id]) => Ok(ok(&conversations::get(&*deps.store, &caller.org_id, id).await?)),
                (&Method::PATCH, ["v1", "conversations", id]) => {
                    caller.require(Role::Supervisor)?;
                    let edit: conversations::ConversationEdit = json_body(req)?;
                    Ok(ok(&conversations::update(&deps.sla_ports(), &deps.routing_ports(), &caller.org_id, id, &edit, deps.clock.now()).await?))
                }
                (&Method::POST, ["v1", "conversations", id, "assign"]) => assign(req, deps, &caller, id).await,
                (&Method::POST, ["v1", "conversations", id, "close"]) => {
                    let request: conversations::CloseConversation = json_body(req)?;
                    let closed = conversations::close_with_outcome(&*deps.store, &deps.routing_ports(), &deps.interaction_ports(), &caller.org_id, id, &request, deps.clock.now()).await?;
                    Ok(ok(&closed.conversation))
                }
                (&Method::POST, ["v1", "conversations", id, "reopen"]) => {
                    Ok(ok(&conversations::reopen(&*deps.store, &deps.routing_ports(), &caller.org_id, id, deps.clock.now()).await?))
                }
                (&Method::GET, ["v1", "settings", "rate-limits"]) => Ok(ok(&rate_limits::settings(&*deps.store, &caller.org_id).await?)),
                (&Method::PUT, ["v1", "settings", "rate-limits"]) => {
                    caller.require(Role::Admin)?;
                    let settings: RateLimitSettings = json_body(req)?;
                    Ok(ok(&rate_limits::save_settings(&*deps.store, &caller.org_id, settings, &caller.audit_actor(), deps.clock.now()).await?))
                }
                _ => Err(AppError::NotFound("route")),
            }
        }
    }
}

/// `GET /v1/conversations`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[param(inline)]
    pub status: Option<ConversationStatus>,
    /// A user id, or `me` for the caller's own queue.
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[param(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub assignee: Option<String>,
    /// Conversations of this team (`status=queued` with it: the team's queue).
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[param(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub team_id: Option<String>,
    #[param(inline)]
    pub priority: Option<Priority>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// `GET /v1/conversations/{id}/messages`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// Oldest first (`asc`, the default) or newest first.
    #[param(inline)]
    pub order: Option<Order>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

async fn list(req: &Request, deps: &Deps, caller: &Caller) -> Result<Response<Body>, AppError> {
    let q: ListQuery = query_params(req)?;
    // `assignee=me` is the caller's own queue.
    let assignee_id = q.assignee.map(|a| if a == "me" { caller.user_id.clone() } else { a });
    let filter = ConversationFilter { status: q.status, assignee_id, team_id: q.team_id, priority: q.priority };
    let page = deps.store.conversations(&caller.org_id, &filter, &PageQuery { limit: q.limit, cursor: q.cursor }.page()?).await?;
    Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
}

async fn messages(req: &Request, deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, AppError> {
    let q: MessagesQuery = query_params(req)?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    conversations::get(&*deps.store, &caller.org_id, id).await?;
    let newest_first = q.order == Some(Order::Desc);
    let mut page = deps.store.messages(&caller.org_id, id, &page, newest_first).await?;
    // Each file's status and a presigned URL minted now, for this organisation (`docs/media.md`).
    max_core::app::media::attach(&*deps.store, &*deps.blobs, &caller.org_id, &mut page.items).await?;
    Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
}

/// `POST /v1/conversations/{id}/messages` with a canned response instead of content: its text
/// rendered for the conversation (`docs/canned-responses.md`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedReply {
    #[serde(deserialize_with = "max_core::domain::ids::id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub canned_response_id: String,
    /// Values of the variables MAX does not know (`order_id`); one still missing answers 422
    /// naming it (`values.order_id`).
    #[serde(default)]
    #[schema(schema_with = max_core::domain::canned::values_schema)]
    pub values: std::collections::BTreeMap<String, String>,
}

/// What a reply's body is: content, or a canned response (the contract's `oneOf`).
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ReplyBody {
    Content(OutboundContent),
    Canned(CannedReply),
}

async fn reply(req: &Request, deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, AppError> {
    let NoQuery {} = query_params(req)?;
    let body: serde_json::Value = json_body(req)?;
    if body.get("canned_response_id").is_some() {
        return canned_reply(req, deps, caller, id).await;
    }
    let content: OutboundContent = json_body(req)?;
    let key = idempotency_key(req)?;
    let conversation = conversations::get(&*deps.store, &caller.org_id, id).await?;
    accepts_replies(&conversation)?;
    content.validate()?;
    // An upload must be ours and in the bucket now, not when reply-sender gets to it.
    let content = max_core::app::media::use_upload(&*deps.store, &*deps.blobs, &caller.org_id, content, deps.clock.now()).await?;
    let message = queue_reply(
        &*deps.store,
        &*deps.store,
        &*deps.outbox,
        NewReply {
            org_id: &caller.org_id,
            conversation_id: id,
            content,
            sender: Sender { kind: SenderType::Agent, id: Some(caller.user_id.clone()), name: caller.name.clone() },
            idempotency_key: key.as_ref(),
            now: deps.clock.now(),
            just_read: Some(&conversation),
        },
    )
    .await?;
    Ok(json(StatusCode::ACCEPTED, &message))
}

/// Sends a canned response: counts one use per message, so a retry with the same
/// `Idempotency-Key` counts nothing more.
async fn canned_reply(req: &Request, deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, AppError> {
    let body: CannedReply = json_body(req)?;
    let key = idempotency_key(req)?;
    let author = canned::Author {
        org_id: &caller.org_id,
        user_id: &caller.user_id,
        name: caller.name.as_deref(),
        manages_shared: caller.role >= Role::Supervisor,
        role: caller.role.as_str(),
    };
    let ports = deps.canned_send_ports();
    let message = canned::send(&ports, &author, id, &body.canned_response_id, &body.values, key.as_ref(), deps.clock.now()).await?;
    Ok(json(StatusCode::ACCEPTED, &message))
}

/// `POST /v1/conversations/{id}/assign`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A user id, or `null` to unassign.
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub assignee_id: Option<String>,
}

async fn assign(req: &Request, deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>, AppError> {
    let body: AssignBody = json_body(req)?;
    let conversation = conversations::assign(&deps.routing_ports(), &caller.org_id, id, body.assignee_id.as_deref(), caller.role >= Role::Admin, deps.clock.now()).await?;
    Ok(ok(&conversation))
}

#[cfg(test)]
mod tests;
