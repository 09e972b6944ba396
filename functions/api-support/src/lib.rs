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
//! - `GET   /v1/admin/support/tickets?status=&priority=&assigned=&limit=&cursor=` (newest first, with total)
//! - `GET   /v1/admin/support/tickets/{id}`
//! - `POST  /v1/admin/support/tickets/{id}/messages` (sent on WhatsApp) → `{ message_id, whatsapp_status }`
//! - `POST  /v1/admin/support/tickets/{id}/close` `{ outcome?: RESOLVED | CLOSED }`
//! - `PATCH /v1/admin/support/tickets/{id}` `{ status?, priority? }`
//! - `POST  /v1/admin/support/tickets/{id}/assign` `{ admin_id: "..." | "me" | null }`
//! - `GET   /v1/bot/menu`; `PUT /v1/bot/menu` (admins only)

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::bot;
use max_core::app::support::{self, Staff, TicketRequest};
use max_core::config::Deps;
use max_core::domain::bot::{BotSettings, StoredBotSettings};
use max_core::domain::support::{Assigned, TicketFilter, TicketPriority, TicketStatus};
use max_core::error::Error as AppError;
use max_core::http::{Caller, Role, caller, header_value, json, json_body, ok, page_request, query, respond, segments};
use serde::Deserialize;
use serde_json::json;

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
    Staff { user_id: caller.user_id.clone(), name: caller.name.clone() }
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req);
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let route = Route::parse(req.method(), &path).ok_or(AppError::NotFound("route"))?;
    caller.require(route.role())?;
    let org = caller.org_id.as_str();
    let now = deps.clock.now();
    let ports = deps.support_ports();
    match route {
        Route::CreateTicket => {
            let body: CreateTicketBody = json_body(req)?;
            let request = TicketRequest {
                issue_description: body.issue_description,
                phone_number: body.phone_number,
                sender_name: body.sender_name,
                priority: body.priority,
                conversation_id: body.conversation_id,
            };
            let ticket = support::create(&ports, org, &request, &staff(&caller), now).await?;
            Ok(json(StatusCode::CREATED, &json!({ "ticket_id": ticket.id })))
        }
        Route::AddCustomerMessage(id) => {
            let body: CustomerMessageBody = json_body(req)?;
            let message = support::add_customer_message(&*deps.store, org, &id, &body.message, body.sender_name.as_deref(), now).await?;
            Ok(json(StatusCode::CREATED, &json!({ "message_id": message.id })))
        }
        Route::GetTicket(id) | Route::AdminGetTicket(id) => Ok(ok(&support::view(&ports, org, &id, &page_request(req)?).await?)),
        Route::OpenTickets => Ok(ok(&support::list(&*deps.store, org, &TicketFilter::open_list(), &page_request(req)?).await?)),
        Route::Notifications => Ok(ok(&support::notifications(&*deps.store, org, Some(&caller.user_id)).await?)),
        Route::AdminNotifications => Ok(ok(&support::notifications(&*deps.store, org, None).await?)),
        Route::AdminTickets => {
            let filter = ticket_filter(req, &caller)?;
            Ok(ok(&support::list(&*deps.store, org, &filter, &page_request(req)?).await?))
        }
        Route::AdminAnswer(id) => {
            let body: AnswerBody = json_body(req)?;
            let key = header_value(req, "idempotency-key");
            let answered = support::answer(&ports, org, &id, &staff(&caller), &body.message, key, now).await?;
            Ok(json(StatusCode::ACCEPTED, &answered))
        }
        Route::AdminClose(id) => {
            let body: CloseBody = json_body(req)?;
            let outcome = body.outcome.unwrap_or(TicketStatus::Resolved);
            Ok(ok(&support::close(&ports, org, &id, outcome, now).await?))
        }
        Route::AdminUpdate(id) => {
            let body: UpdateBody = json_body(req)?;
            if body.status.is_none() && body.priority.is_none() {
                return Err(AppError::invalid("body", "give status, priority or both"));
            }
            Ok(ok(&support::update(&ports, org, &id, body.status, body.priority, now).await?))
        }
        Route::AdminAssign(id) => {
            let body: AssignBody = json_body(req)?;
            let admin = body.admin_id.map(|a| if a == "me" { caller.user_id.clone() } else { a });
            Ok(ok(&support::assign(&*deps.store, org, &id, admin.as_deref(), now).await?))
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
            let stored = bot::save_settings(&*deps.store, org, settings, &caller.user_id, now).await?;
            Ok(ok(&menu_view(&stored.settings, Some(&stored), false)))
        }
    }
}

fn menu_view(settings: &BotSettings, stored: Option<&StoredBotSettings>, is_default: bool) -> serde_json::Value {
    let mut view = serde_json::to_value(settings).unwrap_or_default();
    view["is_default"] = json!(is_default);
    view["updated_at"] = json!(stored.map(|s| s.updated_at));
    view["updated_by"] = json!(stored.and_then(|s| s.updated_by.clone()));
    view
}

/// `status` (one or several, comma-separated), `priority`, `assigned` (an admin id, `me` or `none`).
fn ticket_filter(req: &Request, caller: &Caller) -> Result<TicketFilter, AppError> {
    let statuses = match query(req, "status") {
        None => Vec::new(),
        Some(list) => {
            let mut out = Vec::new();
            for s in list.split(',') {
                let st = TicketStatus::parse("status", s)?;
                if !out.contains(&st) {
                    out.push(st);
                }
            }
            out
        }
    };
    let priority = query(req, "priority").map(|p| TicketPriority::parse("priority", &p)).transpose()?;
    let assigned = query(req, "assigned").map(|a| Assigned::parse(&a, &caller.user_id)).transpose()?;
    Ok(TicketFilter { statuses, priority, assigned })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTicketBody {
    #[serde(default)]
    issue_description: String,
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    sender_name: Option<String>,
    #[serde(default)]
    priority: Option<TicketPriority>,
    #[serde(default)]
    conversation_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerMessageBody {
    /// Missing reads as empty, so both answer "message: must not be empty".
    #[serde(default)]
    message: String,
    #[serde(default)]
    sender_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    #[serde(default)]
    outcome: Option<TicketStatus>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    status: Option<TicketStatus>,
    #[serde(default)]
    priority: Option<TicketPriority>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    admin_id: Option<String>,
}

#[cfg(test)]
mod tests;
