#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of the canned responses API (OpenAPI, assembled by max-dev).

use max_core::domain::canned::{CannedEdit, CannedInput, CannedResponse, Rendered};
use utoipa::OpenApi;

use crate::{CannedResponseList, ListQuery, RenderBody};

#[derive(OpenApi)]
#[openapi(paths(list_canned_responses, create_canned_response, get_canned_response, edit_canned_response, delete_canned_response, render_canned_response))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// The canned responses the caller may use matching what they typed (`q=/gre`): most used first,
/// then by shortcut.
#[utoipa::path(get, path = "/v1/canned-responses", tag = "canned-responses", params(ListQuery),
    responses((status = 200, description = "The responses found", body = CannedResponseList)))]
fn list_canned_responses() {}

/// Creates a canned response: the organisation's or a team's (supervisors and admins), or the
/// caller's personal one (`personal: true`, anyone). Its shortcut is unique in its scope.
#[utoipa::path(post, path = "/v1/canned-responses", tag = "canned-responses", request_body = CannedInput,
    responses(
        (status = 201, description = "Created (`Location` names it)", body = CannedResponse),
        (status = 403, description = "Agents create personal responses only"),
        (status = 409, description = "The shortcut is taken in this scope, or the organisation keeps the most responses it may"),
    ))]
fn create_canned_response() {}

/// A canned response (another agent's personal one is not found).
#[utoipa::path(get, path = "/v1/canned-responses/{id}", tag = "canned-responses", params(("id" = String, Path)),
    responses((status = 200, description = "The response", body = CannedResponse), (status = 404, description = "No such canned response")))]
fn get_canned_response() {}

/// Changes the fields given (`null` clears a category or team).
#[utoipa::path(patch, path = "/v1/canned-responses/{id}", tag = "canned-responses", params(("id" = String, Path)), request_body = CannedEdit,
    responses(
        (status = 200, description = "The response", body = CannedResponse),
        (status = 403, description = "Agents change personal responses only"),
        (status = 404, description = "No such canned response"),
        (status = 409, description = "The shortcut is taken in this scope, or it changed concurrently"),
    ))]
fn edit_canned_response() {}

/// Deletes a canned response; its shortcut is free again.
#[utoipa::path(delete, path = "/v1/canned-responses/{id}", tag = "canned-responses", params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Agents delete personal responses only"),
        (status = 404, description = "No such canned response"),
        (status = 409, description = "Changed concurrently; try again"),
    ))]
fn delete_canned_response() {}

/// The response's text for a conversation: what MAX knows (`customer_name`, `customer_phone`,
/// `agent_name`, `conversation_id`, `ticket_id`) filled in, `values` filling the rest, and the
/// variables still missing (shown as `[name]` in the text).
#[utoipa::path(post, path = "/v1/canned-responses/{id}/render", tag = "canned-responses", params(("id" = String, Path)), request_body = RenderBody,
    responses(
        (status = 200, description = "The rendered text and what is missing", body = Rendered),
        (status = 404, description = "No such canned response or conversation"),
    ))]
fn render_canned_response() {}
