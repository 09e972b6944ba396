#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of the teams API (OpenAPI, assembled by max-dev). The statuses every route shares
//! (401, 422 for the query, 500; 400/413 for a body) are added there, once.

use max_core::domain::team::{BusinessHoursInput, HoursStatus, StoredBusinessHours, Team, TeamEdit, TeamInput};
use max_core::http::{PageBody, PageQuery};
use utoipa::OpenApi;

use crate::StatusQuery;

#[derive(OpenApi)]
#[openapi(paths(list_teams, create_team, get_team, edit_team, get_business_hours, save_business_hours, business_hours_status))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// The organisation's teams, in the order they were created.
#[utoipa::path(get, path = "/v1/teams", tag = "teams", params(PageQuery),
    responses((status = 200, description = "A page of teams", body = PageBody<Team>)))]
fn list_teams() {}

/// Creates a team (admins).
#[utoipa::path(post, path = "/v1/teams", tag = "teams", request_body = TeamInput,
    responses(
        (status = 201, description = "Created (`Location` names it)", body = Team),
        (status = 403, description = "Not an admin"),
        (status = 409, description = "Created concurrently under the same id; post again"),
    ))]
fn create_team() {}

/// A team.
#[utoipa::path(get, path = "/v1/teams/{id}", tag = "teams", params(("id" = String, Path)),
    responses((status = 200, description = "The team", body = Team), (status = 404, description = "No such team")))]
fn get_team() {}

/// Changes the fields given (admins); `null` clears a description or after-hours reply. With
/// `version`, only over that version.
#[utoipa::path(patch, path = "/v1/teams/{id}", tag = "teams", params(("id" = String, Path)), request_body = TeamEdit,
    responses(
        (status = 200, description = "The team", body = Team),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such team"),
        (status = 409, description = "The team is at another version than the one given, or kept changing concurrently"),
    ))]
fn edit_team() {}

/// The team's business hours; until set, the default: open around the clock in UTC, version 0.
#[utoipa::path(get, path = "/v1/teams/{id}/business-hours", tag = "teams", params(("id" = String, Path)),
    responses((status = 200, description = "The hours", body = StoredBusinessHours), (status = 404, description = "No such team")))]
fn get_business_hours() {}

/// Replaces the team's business hours (admins) over the version read (0 when none were set):
/// windows per weekday (several, a window may cross midnight), holidays and dated exceptions, in
/// an IANA time zone.
#[utoipa::path(put, path = "/v1/teams/{id}/business-hours", tag = "teams", params(("id" = String, Path)), request_body = BusinessHoursInput,
    responses(
        (status = 200, description = "The hours saved", body = StoredBusinessHours),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such team"),
        (status = 409, description = "The hours are at another version than the one given"),
    ))]
fn save_business_hours() {}

/// Whether the team is open at `at` (default now) and when that changes next.
#[utoipa::path(get, path = "/v1/teams/{id}/business-hours/status", tag = "teams", params(("id" = String, Path), StatusQuery),
    responses((status = 200, description = "Open or closed, and the next change", body = HoursStatus), (status = 404, description = "No such team")))]
fn business_hours_status() {}
