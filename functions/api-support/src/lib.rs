//! Support tickets and the WhatsApp bot menu.
//!
//! Anyone signed in (agents included):
//! - `POST /v1/support/tickets` → `{ ticket_id }`
//! - `POST /v1/support/tickets/{id}/messages` (a message from the customer's side) → `{ message_id }`
//! - `GET  /v1/support/tickets/{id}?limit=&cursor=` (with a page of messages)
//! - `GET  /v1/support/open-tickets?limit=&cursor=` (OPEN and IN_PROGRESS, newest first, with total)
//! - `GET  /v1/support/notifications` (the counts, plus the caller's own)
//!
//! Admins and supervisors:
//! - `GET   /v1/admin/support/notifications` → `{ open_tickets, in_progress, unassigned, has_alerts }`
//! - `GET   /v1/admin/support/tickets?status=&priority=&assigned=&limit=&cursor=` (newest first, with total);
//!   `&phone=` (the customer writing from that number) or `&external_ref=` (exact) search instead
//! - `GET   /v1/admin/support/tickets/{id}`
//! - `POST  /v1/admin/support/tickets/{id}/messages` (sent on WhatsApp) → `{ message_id, whatsapp_status }`
//! - `POST  /v1/admin/support/tickets/{id}/close` `{ outcome?: RESOLVED | CLOSED }`
//! - `PATCH /v1/admin/support/tickets/{id}` `{ status?, priority?, external_ref? }` (`external_ref: null` clears it)
//! - `POST  /v1/admin/support/tickets/{id}/assign` `{ admin_id: "..." | "me" | null }`
//! - `GET   /v1/bot/menu`; `PUT /v1/bot/menu` (admins only)
//!
//! Each route reads its query into a typed struct (`http::query_params`): an unknown or empty
//! parameter answers 422. The contract of these routes is `api::openapi()`.

pub mod api;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::bot;
use max_core::app::support::{self, Staff, TicketRequest, TicketSearch};
use max_core::config::Deps;
use max_core::domain::bot::{BotSettings, StoredBotSettings};
use max_core::domain::support::{Assigned, TicketFilter, TicketPriority, TicketStatus};
use max_core::error::Error as AppError;
use chrono::{DateTime, Utc};
use max_core::http::{Caller, NoQuery, PageQuery, Role, caller, idempotency_key, json, json_body, ok, query_params, respond, segments};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

/// Every route of this function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    CreateTicket,
    AddCustomerMessage(String),
    GetTicket(String),
    OpenTickets,
    Notifications,
    AdminNotifications,
    AdminTickets,
    AdminGetTicket(String),
    AdminAnswer(String),
    AdminClose(String),
    AdminUpdate(String),
    AdminAssign(String),
    GetBotMenu,
    PutBotMenu,
}

impl Route {
    pub fn parse(method: &Method, path: &[&str]) -> Option<Route> {
        let id = |s: &str| s.to_string();
        Some(match (method, path) {
            (&Method::POST, ["v1", "support", "tickets"]) => Route::CreateTicket,
            (&Method::POST, ["v1", "support", "tickets", t, "messages"]) => Route::AddCustomerMessage(id(t)),
            (&Method::GET, ["v1", "support", "tickets", t]) => Route::GetTicket(id(t)),
            (&Method::GET, ["v1", "support", "open-tickets"]) => Route::OpenTickets,
            (&Method::GET, ["v1", "support", "notifications"]) => Route::Notifications,
            (&Method::GET, ["v1", "admin", "support", "notifications"]) => Route::AdminNotifications,
            (&Method::GET, ["v1", "admin", "support", "tickets"]) => Route::AdminTickets,
            (&Method::GET, ["v1", "admin", "support", "tickets", t]) => Route::AdminGetTicket(id(t)),
            (&Method::POST, ["v1", "admin", "support", "tickets", t, "messages"]) => Route::AdminAnswer(id(t)),
            (&Method::POST, ["v1", "admin", "support", "tickets", t, "close"]) => Route::AdminClose(id(t)),
            (&Method::PATCH, ["v1", "admin", "support", "tickets", t]) => Route::AdminUpdate(id(t)),
            (&Method::POST, ["v1", "admin", "support", "tickets", t, "assign"]) => Route::AdminAssign(id(t)),
            (&Method::GET, ["v1", "bot", "menu"]) => Route::GetBotMenu,
            (&Method::PUT, ["v1", "bot", "menu"]) => Route::PutBotMenu,
            _ => return None,
        })
    }

    /// The least role that may call it.
    pub fn role(&self) -> Role {
        match self {
            Route::CreateTicket | Route::AddCustomerMessage(_) | Route::GetTicket(_) | Route::OpenTickets | Route::Notifications => {
                Role::Agent
            }
            Route::PutBotMenu => Role::Admin,
            _ => Role::Supervisor,
        }
    }
}

fn staff(caller: &Caller) -> Staff {
    Staff { user_id: caller.user_id.clone(), name: caller.name.clone(), role: caller.role.as_str().to_string() }
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let route = Route::parse(req.method(), &path).ok_or(AppError::NotFound("route"))?;
    caller.require(route.role())?;
    let org = caller.org_id.as_str();
    let now = deps.clock.now();
    let ports = deps.support_ports();
    // The query: a page of tickets or messages, the admin list's own (read below), or none.
    let page = match route {
        Route::GetTicket(_) | Route::AdminGetTicket(_) | Route::OpenTickets => query_params::<PageQuery>(req)?,
        Route::AdminTickets => PageQuery::default(),
        _ => {
            let NoQuery {} = query_params(req)?;
            PageQuery::default()
        }
    }
    .page()?;
    match route {
        Route::CreateTicket => {
            let body: CreateTicketBody = json_body(req)?;
            let request = TicketRequest {
                issue_description: body.issue_description,
                phone_number: body.phone_number,
                sender_name: body.sender_name,
                priority: body.priority,
                conversation_id: body.conversation_id,
                external_ref: body.external_ref,
            };
            let ticket = support::create(&ports, org, &request, &staff(&caller), now).await?;
            Ok(json(StatusCode::CREATED, &TicketCreated { ticket_id: ticket.id }))
        }
        Route::AddCustomerMessage(id) => {
            let body: CustomerMessageBody = json_body(req)?;
            let message = support::add_customer_message(&*deps.store, org, &id, &body.message, body.sender_name.as_deref(), now).await?;
            Ok(json(StatusCode::CREATED, &MessageAdded { message_id: message.id }))
        }
        Route::GetTicket(id) | Route::AdminGetTicket(id) => Ok(ok(&support::view(&ports, org, &id, &page).await?)),
        Route::OpenTickets => Ok(ok(&support::list(&*deps.store, org, &TicketFilter::open_list(), &page).await?)),
        Route::Notifications => Ok(ok(&support::notifications(&*deps.store, org, Some(&caller.user_id)).await?)),
        Route::AdminNotifications => Ok(ok(&support::notifications(&*deps.store, org, None).await?)),
        Route::AdminTickets => {
            let q: TicketsQuery = query_params(req)?;
            let page = PageQuery { limit: q.limit, cursor: q.cursor.clone() }.page()?;
            let search = TicketSearch::from_query(q.phone.as_deref(), q.external_ref.as_deref())?;
            let filter = ticket_filter(q, &caller)?;
            match search {
                Some(search) => Ok(ok(&support::search(&deps.ticket_search_ports(), org, &search, &filter, &page).await?)),
                None => Ok(ok(&support::list(&*deps.store, org, &filter, &page).await?)),
            }
        }
        Route::AdminAnswer(id) => {
            let body: AnswerBody = json_body(req)?;
            let key = idempotency_key(req)?;
            let answered = support::answer(&ports, org, &id, &staff(&caller), &body.message, key.as_ref(), now).await?;
            Ok(json(StatusCode::ACCEPTED, &answered))
        }
        Route::AdminClose(id) => {
            let body: CloseBody = json_body(req)?;
            let outcome = body.outcome.unwrap_or(TicketStatus::Resolved);
            Ok(ok(&support::close(&ports, org, &id, outcome, &staff(&caller), now).await?))
        }
        Route::AdminUpdate(id) => {
            let body: UpdateBody = json_body(req)?;
            if body.status.is_none() && body.priority.is_none() && body.external_ref.is_none() {
                return Err(AppError::invalid("body", "give status, priority, external_ref or several"));
            }
            Ok(ok(&support::update(&ports, org, &id, body.status, body.priority, body.external_ref, &staff(&caller), now).await?))
        }
        Route::AdminAssign(id) => {
            let body: AssignBody = json_body(req)?;
            let admin = body.admin_id.map(|a| if a == "me" { caller.user_id.clone() } else { a });
            Ok(ok(&support::assign(&*deps.store, org, &id, admin.as_deref(), &staff(&caller), now).await?))
        }
        Route::GetBotMenu => {
            let stored = deps.store.bot_settings(org).await?;
            let body = match stored {
                Some(s) => menu_view(&s.settings, Some(&s), false),
                // Nothing stored: the bot is off; this is what saving the default would turn on.
                None => menu_view(&BotSettings { enabled: false, ..BotSettings::default() }, None, true),
            };
            Ok(ok(&body))
        }
        Route::PutBotMenu => {
            let settings: BotSettings = json_body(req)?;
            let stored = bot::save_settings(&*deps.store, &*deps.store, org, settings, &caller.audit_actor(), now).await?;
            Ok(ok(&menu_view(&stored.settings, Some(&stored), false)))
        }
    }
}

/// `POST /v1/support/tickets` answers the new ticket's id.
#[derive(Serialize, ToSchema)]
pub struct TicketCreated {
    pub ticket_id: String,
}

/// `POST /v1/support/tickets/{id}/messages` answers the new message's id.
#[derive(Serialize, ToSchema)]
pub struct MessageAdded {
    pub message_id: String,
}

/// The bot's settings as `GET/PUT /v1/bot/menu` show them.
#[derive(Serialize, ToSchema)]
pub struct MenuView {
    #[serde(flatten)]
    pub settings: BotSettings,
    /// Nothing is stored: the bot is off, and this is what saving the default would turn on.
    pub is_default: bool,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

fn menu_view(settings: &BotSettings, stored: Option<&StoredBotSettings>, is_default: bool) -> MenuView {
    MenuView {
        settings: settings.clone(),
        is_default,
        updated_at: stored.map(|s| s.updated_at),
        updated_by: stored.and_then(|s| s.updated_by.clone()),
    }
}

/// `GET /v1/admin/support/tickets`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketsQuery {
    /// One status or several, comma-separated (`OPEN,IN_PROGRESS`).
    #[param(min_length = 1, pattern = "^(OPEN|IN_PROGRESS|RESOLVED|CLOSED)(,(OPEN|IN_PROGRESS|RESOLVED|CLOSED))*$")]
    pub status: Option<String>,
    /// Case does not matter.
    #[param(value_type = Option<TicketPriority>, inline)]
    pub priority: Option<String>,
    /// An admin's id, `me` or `none`.
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[param(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub assigned: Option<String>,
    /// The customer writing from this WhatsApp number (E.164, the `+` may be left out): their
    /// tickets. Not with `external_ref`.
    #[param(pattern = "^\\+?[1-9][0-9]{6,14}$")]
    pub phone: Option<String>,
    /// Tickets carrying this reference exactly. Not with `phone`.
    #[param(min_length = 1, max_length = 64, pattern = "^[!\"$-~]+$")]
    pub external_ref: Option<String>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

fn ticket_filter(q: TicketsQuery, caller: &Caller) -> Result<TicketFilter, AppError> {
    let mut statuses = Vec::new();
    for s in q.status.as_deref().map(|l| l.split(',').collect::<Vec<_>>()).unwrap_or_default() {
        let st = TicketStatus::parse("status", s)?;
        if !statuses.contains(&st) {
            statuses.push(st);
        }
    }
    let assigned = q.assigned.map(|a| Assigned::parse(&a, &caller.user_id)).transpose()?;
    let priority = q.priority.map(|p| TicketPriority::parse("priority", &p)).transpose()?;
    Ok(TicketFilter { statuses, priority, assigned })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicketBody {
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 4096, pattern = "\\S")]
    issue_description: String,
    /// E.164: `+34600111222` (the `+` may be left out).
    #[serde(default)]
    #[schema(pattern = "^\\+?[1-9][0-9]{6,14}$")]
    phone_number: Option<String>,
    #[serde(default)]
    sender_name: Option<String>,
    #[serde(default)]
    priority: Option<TicketPriority>,
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    conversation_id: Option<String>,
    /// The business's own reference (a student id, an order number): 1 to 64 printable ASCII
    /// characters, no spaces or `#`; searchable with `?external_ref=`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64, pattern = "^[!\"$-~]+$")]
    external_ref: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerMessageBody {
    /// Missing reads as empty, so both answer "message: must not be empty".
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 4096, pattern = "\\S")]
    message: String,
    #[serde(default)]
    sender_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 4096, pattern = "\\S")]
    message: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    /// `RESOLVED` (the default) or `CLOSED`.
    #[serde(default)]
    #[schema(value_type = Option<CloseOutcome>)]
    outcome: Option<TicketStatus>,
}

/// The statuses a close may leave a ticket in: the contract's view of `CloseBody::outcome` (the
/// use case refuses the others with 422).
#[derive(ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
enum CloseOutcome {
    RESOLVED,
    CLOSED,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    #[serde(default)]
    status: Option<TicketStatus>,
    #[serde(default)]
    priority: Option<TicketPriority>,
    /// The business's reference; `null` clears it.
    #[serde(default, deserialize_with = "max_core::domain::interaction::present")]
    #[schema(value_type = Option<String>, nullable, min_length = 1, max_length = 64, pattern = "^[!\"$-~]+$")]
    external_ref: Option<Option<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TicketAssignBody)]
pub struct AssignBody {
    /// An admin's id, `me`, or `null` to unassign.
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    admin_id: Option<String>,
}

#[cfg(test)]
mod tests;
