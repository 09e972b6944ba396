#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of the teams API (OpenAPI, assembled by max-dev). The statuses every route shares
//! (401, 422 for the query, 500; 400/413 for a body) are added there, once.

use max_core::domain::team::{BusinessHoursInput, HoursStatus, StoredBusinessHours, Team, TeamEdit, TeamInput};
use max_core::http::{PageBody, PageQuery};
use utoipa::OpenApi;

use max_core::domain::agent::{Agent, AgentEdit, AgentInput, AvailabilityInput};

use max_core::domain::sla::{SlaPolicy, SlaPolicyEdit, SlaPolicyInput};

use crate::{AgentList, AgentsQuery, ComplianceQuery, PolicyList, StatusQuery};
use max_core::app::sla::ComplianceReport;
use max_core::domain::routing::RoutingSettings;

#[derive(OpenApi)]
#[openapi(paths(list_teams, create_team, get_team, edit_team, get_business_hours, save_business_hours, business_hours_status, list_agents, create_agent, get_agent, edit_agent, set_my_availability, list_sla_policies, create_sla_policy, get_sla_policy, edit_sla_policy, delete_sla_policy, sla_compliance, get_routing_settings, save_routing_settings))]
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

/// The organisation's agents (by user id), of one team or one availability when asked.
#[utoipa::path(get, path = "/v1/agents", tag = "teams", params(AgentsQuery),
    responses((status = 200, description = "The agents", body = AgentList)))]
fn list_agents() {}

/// Registers a user of the organisation as an agent (admins): teams, skills, languages, capacity.
/// They start offline.
#[utoipa::path(post, path = "/v1/agents", tag = "teams", request_body = AgentInput,
    responses(
        (status = 201, description = "Created (`Location` names it)", body = Agent),
        (status = 403, description = "Not an admin"),
        (status = 409, description = "The user is an agent already"),
    ))]
fn create_agent() {}

/// An agent, by user id.
#[utoipa::path(get, path = "/v1/agents/{id}", tag = "teams", params(("id" = String, Path)),
    responses((status = 200, description = "The agent", body = Agent), (status = 404, description = "No such agent")))]
fn get_agent() {}

/// Changes the fields given (admins). With `version`, only over that version.
#[utoipa::path(patch, path = "/v1/agents/{id}", tag = "teams", params(("id" = String, Path)), request_body = AgentEdit,
    responses(
        (status = 200, description = "The agent", body = Agent),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such agent"),
        (status = 409, description = "The agent is at another version than the one given, or kept changing concurrently"),
    ))]
fn edit_agent() {}

/// The caller's own availability: `online` takes new conversations, `away` and `offline` do not.
#[utoipa::path(put, path = "/v1/agents/me/availability", tag = "teams", request_body = AvailabilityInput,
    responses(
        (status = 200, description = "The caller as an agent", body = Agent),
        (status = 404, description = "The caller is not an agent of the organisation (an admin adds them)"),
    ))]
fn set_my_availability() {}

/// The organisation's SLA policies, in the order they were created.
#[utoipa::path(get, path = "/v1/sla-policies", tag = "sla",
    responses((status = 200, description = "The policies", body = PolicyList)))]
fn list_sla_policies() {}

/// Adds an SLA policy (admins): targets for a team (or any) at a priority (or any), counted in the
/// team's business hours or in calendar time, a warning share and an escalation. The most
/// specific policy applies to a conversation (team and priority, team, priority, neither).
#[utoipa::path(post, path = "/v1/sla-policies", tag = "sla", request_body = SlaPolicyInput,
    responses(
        (status = 201, description = "The policy", body = SlaPolicy, headers(("Location" = String, description = "The policy's URL"))),
        (status = 403, description = "Not an admin"),
        (status = 422, description = "A target, share or escalation out of range, no such team, or the organisation has 200 policies already (`name`; at most 200 per organisation) (the field is named)"),
    ))]
fn create_sla_policy() {}

/// One SLA policy.
#[utoipa::path(get, path = "/v1/sla-policies/{id}", tag = "sla", params(("id" = String, Path)),
    responses((status = 200, description = "The policy", body = SlaPolicy), (status = 404, description = "No such policy")))]
fn get_sla_policy() {}

/// Changes an SLA policy (admins): the fields given; `null` clears team, priority or escalation.
/// Conversations take it when their policy is next evaluated; running clocks keep their deadlines.
#[utoipa::path(patch, path = "/v1/sla-policies/{id}", tag = "sla", params(("id" = String, Path)), request_body = SlaPolicyEdit,
    responses(
        (status = 200, description = "The policy", body = SlaPolicy),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such policy"),
        (status = 409, description = "The policy is at another version than the one given"),
        (status = 422, description = "A value out of range, or no such team (the field is named)"),
    ))]
fn edit_sla_policy() {}

/// Deletes an SLA policy (admins). Conversations under it keep their running clocks.
#[utoipa::path(delete, path = "/v1/sla-policies/{id}", tag = "sla", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Not an admin"), (status = 404, description = "No such policy")))]
fn delete_sla_policy() {}

/// SLA compliance (supervisors and admins) over the days `from..=to` (UTC days of the clocks'
/// ends, at most 92): per team and metric met, missed, compliance %, median and p90 response
/// times (calendar seconds, within 11.8 %), and the violations (the latest deadlines first, at
/// most 100 per team; `violations_truncated` when more). From counters kept as clocks end: per
/// team one read of its counters and one of its violations.
#[utoipa::path(get, path = "/v1/sla/compliance", tag = "teams", params(ComplianceQuery),
    responses(
        (status = 200, description = "The figures per team and metric", body = ComplianceReport),
        (status = 403, description = "Not a supervisor or an admin"),
        (status = 404, description = "No such team"),
    ))]
fn sla_compliance() {}

/// How the organisation's conversations get their team; until saved, every source may set it.
#[utoipa::path(get, path = "/v1/routing/settings", tag = "teams",
    responses((status = 200, description = "The settings", body = RoutingSettings)))]
fn get_routing_settings() {}

/// Sets which sources give conversations their team (admins): the number's default team when a
/// conversation opens, a bot menu entry naming a team, a supervisor's or admin's `PATCH`.
#[utoipa::path(put, path = "/v1/routing/settings", tag = "teams", request_body = RoutingSettings,
    responses(
        (status = 200, description = "The settings saved", body = RoutingSettings),
        (status = 403, description = "Not an admin"),
        (status = 422, description = "A source given twice (the field is named)"),
    ))]
fn save_routing_settings() {}
