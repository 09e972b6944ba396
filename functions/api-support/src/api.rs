#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of the support API (OpenAPI, assembled by max-dev).

use max_core::app::support::{Answered, Closed, TicketList, TicketView};
use max_core::domain::bot::BotSettings;
use max_core::domain::support::{SupportNotifications, SupportTicket};
use max_core::http::PageQuery;
use utoipa::OpenApi;

use crate::{AnswerBody, AssignBody, CloseBody, CreateTicketBody, CustomerMessageBody, MenuView, MessageAdded, TicketCreated, TicketsQuery, UpdateBody};
use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema};
use utoipa::openapi::{RefOr, Type};

#[derive(OpenApi)]
#[openapi(paths(
    create_ticket, add_customer_message, get_ticket, open_tickets, notifications, admin_notifications, admin_tickets,
    admin_get_ticket, admin_answer, admin_close, admin_update, admin_assign, get_bot_menu, put_bot_menu
))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// Opens a support ticket.
#[utoipa::path(post, path = "/v1/support/tickets", tag = "support", request_body = CreateTicketBody,
    responses(
        (status = 201, description = "Opened", body = TicketCreated),
        (status = 404, description = "No such conversation"),
        (status = 409, description = "The conversation has a ticket open already, or does not accept replies"),
    ))]
fn create_ticket() {}

/// Adds a message from the customer's side to a ticket.
#[utoipa::path(post, path = "/v1/support/tickets/{id}/messages", tag = "support", params(("id" = String, Path)), request_body = CustomerMessageBody,
    responses(
        (status = 201, description = "Added", body = MessageAdded),
        (status = 404, description = "No such ticket"),
        (status = 409, description = "The ticket is closed (`current_status`)"),
    ))]
fn add_customer_message() {}

/// A ticket with a page of its messages (oldest first).
#[utoipa::path(get, path = "/v1/support/tickets/{id}", tag = "support", params(("id" = String, Path), PageQuery),
    responses((status = 200, description = "The ticket", body = TicketView), (status = 404, description = "No such ticket")))]
fn get_ticket() {}

/// Open and in-progress tickets, newest first, with their total.
#[utoipa::path(get, path = "/v1/support/open-tickets", tag = "support", params(PageQuery),
    responses((status = 200, description = "A page of tickets", body = TicketList)))]
fn open_tickets() {}

/// The notification counts, with the caller's own.
#[utoipa::path(get, path = "/v1/support/notifications", tag = "support",
    responses((status = 200, description = "The counts", body = SupportNotifications)))]
fn notifications() {}

/// The notification counts (supervisors and admins).
#[utoipa::path(get, path = "/v1/admin/support/notifications", tag = "support",
    responses((status = 200, description = "The counts", body = SupportNotifications), (status = 403, description = "Supervisors and admins only")))]
fn admin_notifications() {}

/// Tickets by status, priority and assignee, newest first, with the filter's total; or the
/// tickets of the customer writing from `phone`, or those carrying `external_ref`.
#[utoipa::path(get, path = "/v1/admin/support/tickets", tag = "support", params(TicketsQuery),
    responses((status = 200, description = "A page of tickets", body = TicketList), (status = 403, description = "Supervisors and admins only")))]
fn admin_tickets() {}

/// A ticket with a page of its messages.
#[utoipa::path(get, path = "/v1/admin/support/tickets/{id}", tag = "support", params(("id" = String, Path), PageQuery),
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        (status = 403, description = "Supervisors and admins only"),
        (status = 404, description = "No such ticket"),
    ))]
fn admin_get_ticket() {}

/// Answers the customer on WhatsApp; the first answer takes the ticket `IN_PROGRESS`.
#[utoipa::path(post, path = "/v1/admin/support/tickets/{id}/messages", tag = "support",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key sends nothing new")),
    request_body = AnswerBody,
    responses(
        (status = 202, description = "Queued for WhatsApp", body = Answered),
        (status = 403, description = "Supervisors and admins only"),
        (status = 404, description = "No such ticket"),
        (status = 409, description = "The ticket is closed or has no conversation"),
    ))]
fn admin_answer() {}

/// Resolves or closes a ticket; the customer is told.
#[utoipa::path(post, path = "/v1/admin/support/tickets/{id}/close", tag = "support", params(("id" = String, Path)), request_body = CloseBody,
    responses(
        (status = 200, description = "The ticket", body = Closed),
        (status = 403, description = "Supervisors and admins only"),
        (status = 404, description = "No such ticket"),
        (status = 409, description = "Closed otherwise already (`current_status`)"),
    ))]
fn admin_close() {}

/// Changes a ticket's status, priority or both.
#[utoipa::path(patch, path = "/v1/admin/support/tickets/{id}", tag = "support", params(("id" = String, Path)), request_body = UpdateTicket,
    responses(
        (status = 200, description = "The ticket", body = SupportTicket),
        (status = 403, description = "Supervisors and admins only"),
        (status = 404, description = "No such ticket"),
        (status = 409, description = "The ticket cannot move to that status (`current_status`)"),
    ))]
fn admin_update() {}

/// Assigns a ticket to an admin (`me`), or unassigns it (`null`).
#[utoipa::path(post, path = "/v1/admin/support/tickets/{id}/assign", tag = "support", params(("id" = String, Path)), request_body = AssignBody,
    responses(
        (status = 200, description = "The ticket", body = SupportTicket),
        (status = 403, description = "Supervisors and admins only"),
        (status = 404, description = "No such ticket"),
        (status = 409, description = "The ticket is resolved or closed: only an open or in-progress ticket is assigned (`current_status`)"),
    ))]
fn admin_assign() {}

/// The WhatsApp bot's menu and texts.
#[utoipa::path(get, path = "/v1/bot/menu", tag = "support",
    responses((status = 200, description = "The settings", body = MenuView), (status = 403, description = "Supervisors and admins only")))]
fn get_bot_menu() {}

/// Replaces the bot's menu and texts (admins).
#[utoipa::path(put, path = "/v1/bot/menu", tag = "support", request_body = BotSettings,
    responses(
        (status = 200, description = "The settings", body = MenuView),
        (status = 403, description = "Admins only"),
        (status = 422, description = "A field out of range, or an entry's `team_id` that is not one of the organisation's teams (the field is named)"),
    ))]
fn put_bot_menu() {}

/// The PATCH body: `UpdateBody` with at least one of its fields set (status and priority not null;
/// `external_ref` may be null, which clears it).
struct UpdateTicket;

impl utoipa::PartialSchema for UpdateTicket {
    fn schema() -> RefOr<Schema> {
        let set = |field: &str| ObjectBuilder::new().property(field, ObjectBuilder::new().schema_type(Type::String)).required(field);
        let any = AnyOfBuilder::new().item(set("status")).item(set("priority")).item(ObjectBuilder::new().required("external_ref"));
        AllOfBuilder::new().item(<UpdateBody as utoipa::PartialSchema>::schema()).item(any).into()
    }
}

impl utoipa::ToSchema for UpdateTicket {}
