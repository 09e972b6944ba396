//! Teams and agents (issue 13, `docs/sla.md`): who answers which conversations, when they are
//! open, and who is taking conversations now.
//!
//! Anyone signed in:
//! - `GET /v1/teams?limit=&cursor=` (in the order they were created)
//! - `GET /v1/teams/{id}`
//! - `GET /v1/teams/{id}/business-hours` (the default, open around the clock, until set)
//! - `GET /v1/teams/{id}/business-hours/status?at=` (open or closed at `at`, default now, and the
//!   next change)
//! - `GET /v1/agents?team_id=&availability=`, `GET /v1/agents/{id}` (the user's id)
//! - `PUT /v1/agents/me/availability` (the caller's own: `online`, `away`, `offline`)
//!
//! - `GET /v1/sla-policies`, `GET /v1/sla-policies/{id}`
//! - `GET /v1/routing/settings` (which sources set a conversation's team: the number's default,
//!   a bot menu entry, a supervisor's `PATCH`)
//!
//! Supervisors and admins: `GET /v1/sla/compliance?team=&from=&to=` (met, missed, compliance %,
//! median and p90 per team and metric, and the violations, over at most 92 days).
//!
//! Admins: `POST /v1/teams`, `PATCH /v1/teams/{id}`, `PUT /v1/teams/{id}/business-hours` (the
//! whole hours over the version read), `POST /v1/agents`, `PATCH /v1/agents/{id}`,
//! `POST /v1/sla-policies`, `PATCH /v1/sla-policies/{id}`, `DELETE /v1/sla-policies/{id}`,
//! `PUT /v1/routing/settings`.
//!
//! Each route reads its query into a typed struct (`http::query_params`): an unknown or empty
//! parameter answers 422. The contract of these routes is `api::openapi()`.

pub mod api;

use chrono::{DateTime, NaiveDate, Utc};
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::{routing, sla};
use max_core::domain::routing::RoutingSettings;
use max_core::app::teams as use_cases;
use max_core::domain::sla::{SlaPolicy, SlaPolicyEdit, SlaPolicyInput};
use max_core::config::Deps;
use max_core::domain::agent::{Agent, AgentEdit, AgentInput, Availability, AvailabilityInput};
use max_core::domain::team::{BusinessHoursInput, TeamEdit, TeamInput};
use max_core::error::Error as AppError;
use max_core::http::{Caller, NoQuery, PageBody, PageQuery, Role, caller, json, json_body, no_content, ok, query_params, respond, segments};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

/// Every route of this function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    List,
    Create,
    Get(String),
    Edit(String),
    Hours(String),
    SaveHours(String),
    HoursStatus(String),
    Agents,
    CreateAgent,
    Agent(String),
    EditAgent(String),
    MyAvailability,
    Policies,
    CreatePolicy,
    Policy(String),
    EditPolicy(String),
    DeletePolicy(String),
    Compliance,
    RoutingSettings,
    SaveRoutingSettings,
}

impl Route {
    pub fn parse(method: &Method, path: &[&str]) -> Option<Route> {
        let id = |s: &str| s.to_string();
        Some(match (method, path) {
            (&Method::GET, ["v1", "teams"]) => Route::List,
            (&Method::POST, ["v1", "teams"]) => Route::Create,
            (&Method::GET, ["v1", "teams", t]) => Route::Get(id(t)),
            (&Method::PATCH, ["v1", "teams", t]) => Route::Edit(id(t)),
            (&Method::GET, ["v1", "teams", t, "business-hours"]) => Route::Hours(id(t)),
            (&Method::PUT, ["v1", "teams", t, "business-hours"]) => Route::SaveHours(id(t)),
            (&Method::GET, ["v1", "teams", t, "business-hours", "status"]) => Route::HoursStatus(id(t)),
            (&Method::GET, ["v1", "agents"]) => Route::Agents,
            (&Method::POST, ["v1", "agents"]) => Route::CreateAgent,
            (&Method::PUT, ["v1", "agents", "me", "availability"]) => Route::MyAvailability,
            (&Method::GET, ["v1", "agents", a]) => Route::Agent(id(a)),
            (&Method::PATCH, ["v1", "agents", a]) => Route::EditAgent(id(a)),
            (&Method::GET, ["v1", "sla-policies"]) => Route::Policies,
            (&Method::POST, ["v1", "sla-policies"]) => Route::CreatePolicy,
            (&Method::GET, ["v1", "sla-policies", p]) => Route::Policy(id(p)),
            (&Method::PATCH, ["v1", "sla-policies", p]) => Route::EditPolicy(id(p)),
            (&Method::DELETE, ["v1", "sla-policies", p]) => Route::DeletePolicy(id(p)),
            (&Method::GET, ["v1", "sla", "compliance"]) => Route::Compliance,
            (&Method::GET, ["v1", "routing", "settings"]) => Route::RoutingSettings,
            (&Method::PUT, ["v1", "routing", "settings"]) => Route::SaveRoutingSettings,
            _ => return None,
        })
    }
}

/// `GET /v1/teams/{id}/business-hours/status`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// The instant asked about (RFC 3339); now when absent.
    pub at: Option<DateTime<Utc>>,
}

/// `GET /v1/agents`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentsQuery {
    /// Only the agents of this team.
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[param(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub team_id: Option<String>,
    /// Only the agents with this availability.
    pub availability: Option<Availability>,
}

/// `GET /v1/sla/compliance`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ComplianceQuery {
    /// One team's figures; every team (and the conversations without one) when absent.
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[param(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub team: Option<String>,
    /// The first day (UTC, of the clocks' ends); 6 days before `to` when absent.
    pub from: Option<NaiveDate>,
    /// The last day, at most 91 days after `from`; today when absent.
    pub to: Option<NaiveDate>,
}

/// The organisation's SLA policies, in the order they were created (at most 200).
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    pub items: Vec<SlaPolicy>,
}

/// The organisation's agents, by user id.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    pub items: Vec<Agent>,
}

fn admins_only(caller: &Caller, what: &str) -> Result<(), AppError> {
    if caller.role < Role::Admin {
        return Err(AppError::Forbidden(format!("only admins {what}")));
    }
    Ok(())
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let route = Route::parse(req.method(), &path).ok_or(AppError::NotFound("route"))?;
    let store = &*deps.store;
    let org = caller.org_id.as_str();
    let now = deps.clock.now();
    match route {
        Route::List => {
            let q: PageQuery = query_params(req)?;
            let page = use_cases::list(store, org, &q.page()?).await?;
            Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
        }
        Route::HoursStatus(id) => {
            let q: StatusQuery = query_params(req)?;
            Ok(ok(&use_cases::status(store, org, &id, q.at.unwrap_or(now)).await?))
        }
        Route::Compliance => {
            if caller.role < Role::Supervisor {
                return Err(AppError::Forbidden("only supervisors and admins read SLA compliance".into()));
            }
            let q: ComplianceQuery = query_params(req)?;
            let to = q.to.unwrap_or_else(|| now.date_naive());
            let from = q.from.unwrap_or(to - chrono::Duration::days(6));
            Ok(ok(&sla::compliance(store, store, org, q.team.as_deref(), from, to).await?))
        }
        Route::Agents => {
            let q: AgentsQuery = query_params(req)?;
            Ok(ok(&AgentList { items: use_cases::agents(store, org, q.team_id.as_deref(), q.availability).await? }))
        }
        route => {
            let NoQuery {} = query_params(req)?;
            match route {
                Route::Create => {
                    admins_only(&caller, "create teams")?;
                    let input: TeamInput = json_body(req)?;
                    let team = use_cases::create(store, org, input, &caller.audit_actor(), now).await?;
                    let mut answer = json(StatusCode::CREATED, &team);
                    if let Ok(v) = HeaderValue::from_str(&format!("/v1/teams/{}", team.id)) {
                        answer.headers_mut().insert(header::LOCATION, v);
                    }
                    Ok(answer)
                }
                Route::Get(id) => Ok(ok(&use_cases::get(store, org, &id).await?)),
                Route::Edit(id) => {
                    admins_only(&caller, "change teams")?;
                    let edit: TeamEdit = json_body(req)?;
                    Ok(ok(&use_cases::edit(store, org, &id, &edit, &caller.audit_actor(), now).await?))
                }
                Route::Hours(id) => Ok(ok(&use_cases::business_hours(store, org, &id).await?)),
                Route::SaveHours(id) => {
                    admins_only(&caller, "set business hours")?;
                    let input: BusinessHoursInput = json_body(req)?;
                    Ok(ok(&use_cases::save_business_hours(store, org, &id, &input, &caller.audit_actor(), now).await?))
                }
                Route::CreateAgent => {
                    admins_only(&caller, "add agents")?;
                    let input: AgentInput = json_body(req)?;
                    let agent = use_cases::create_agent(store, org, input, &caller.audit_actor(), now).await?;
                    let mut answer = json(StatusCode::CREATED, &agent);
                    if let Ok(v) = HeaderValue::from_str(&format!("/v1/agents/{}", agent.id)) {
                        answer.headers_mut().insert(header::LOCATION, v);
                    }
                    Ok(answer)
                }
                Route::Agent(id) => Ok(ok(&use_cases::agent(store, org, &id).await?)),
                Route::EditAgent(id) => {
                    admins_only(&caller, "change agents")?;
                    let edit: AgentEdit = json_body(req)?;
                    Ok(ok(&use_cases::edit_agent(&deps.routing_ports(), org, &id, &edit, &caller.audit_actor(), now).await?))
                }
                Route::MyAvailability => {
                    let input: AvailabilityInput = json_body(req)?;
                    Ok(ok(&use_cases::set_availability(&deps.routing_ports(), org, &caller.user_id, input.availability, now).await?))
                }
                Route::Policies => Ok(ok(&PolicyList { items: sla::list(store, org).await? })),
                Route::CreatePolicy => {
                    admins_only(&caller, "create SLA policies")?;
                    let input: SlaPolicyInput = json_body(req)?;
                    let policy = sla::create(&deps.sla_ports(), org, input, &caller.audit_actor(), now).await?;
                    let mut answer = json(StatusCode::CREATED, &policy);
                    if let Ok(v) = HeaderValue::from_str(&format!("/v1/sla-policies/{}", policy.id)) {
                        answer.headers_mut().insert(header::LOCATION, v);
                    }
                    Ok(answer)
                }
                Route::Policy(id) => Ok(ok(&sla::get(store, org, &id).await?)),
                Route::EditPolicy(id) => {
                    admins_only(&caller, "change SLA policies")?;
                    let edit: SlaPolicyEdit = json_body(req)?;
                    Ok(ok(&sla::edit(&deps.sla_ports(), org, &id, &edit, &caller.audit_actor(), now).await?))
                }
                Route::DeletePolicy(id) => {
                    admins_only(&caller, "delete SLA policies")?;
                    sla::delete(store, org, &id, &caller.audit_actor(), now).await?;
                    Ok(no_content())
                }
                Route::RoutingSettings => Ok(ok(&routing::settings(store, org).await?)),
                Route::SaveRoutingSettings => {
                    admins_only(&caller, "decide how conversations get their team")?;
                    let settings: RoutingSettings = json_body(req)?;
                    Ok(ok(&routing::save_settings(store, org, settings, &caller.audit_actor(), now).await?))
                }
                Route::List | Route::HoursStatus(_) | Route::Agents | Route::Compliance => Err(AppError::NotFound("route")),
            }
        }
    }
}

#[cfg(test)]
mod tests;
