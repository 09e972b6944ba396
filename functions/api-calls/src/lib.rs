//! Feedback calls: the services a business records, the calls that follow them, the schedule
//! they are placed by, demo calls and NPS. Decisions: `docs/feedback-calls.md`.
//!
//! Anyone signed in (agents included):
//! - `POST /v1/service-records` (with a phone, its call is created `ready` at the schedule's time)
//! - `GET  /v1/service-records?from=&to=&advisor_id=&status=&limit=&cursor=` (newest service first)
//! - `GET  /v1/service-records/{id}`, `PUT /v1/service-records/{id}` (a replacement)
//! - `GET  /v1/calls/ready|missed|completed?from=&to=&advisor_id=&service_type=&nps_min=&nps_max=&tag=&limit=&cursor=`
//! - `POST /v1/calls` (a manual call), `GET /v1/calls/{id}`, `PUT /v1/calls/{id}` (notes, tags,
//!   the feedback's reading, a completed call's score), `POST /v1/calls/{id}/retry` (a missed call)
//! - `GET  /v1/calls/schedule-config?campaign_id=`
//! - `GET  /v1/calls/nps?from=&to=&group_by=advisor|service_type|week`
//!
//! Supervisors and admins: `DELETE /v1/service-records/{id}`, `DELETE /v1/calls/{id}` (cancels it),
//! `POST /v1/calls/demo`, `POST /v1/calls/demo/{id}/initiate` (its dial job on the calls queue).
//! Admins: `PUT /v1/calls/schedule-config`.
//!
//! Each route reads its query into a typed struct (`http::query_params`): an unknown or empty
//! parameter answers 422. The contract of these routes is `api::openapi()`.

pub mod api;

use chrono::{DateTime, Days, NaiveDate, Utc};
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::calls::{self as use_cases, NewCallRequest};
use max_core::config::Deps;
use max_core::domain::call::{CallEdit, CallStatus, MAX_NAME_CHARS, NpsGrouping, ServiceRecordInput, ServiceStatus};
use max_core::domain::call_schedule::ScheduleConfig;
use max_core::error::Error as AppError;
use max_core::http::{Caller, NoQuery, PageBody, Role, caller, json, json_body, no_content, ok, page_request, query_params, respond, segments};
use max_core::ports::{CallFilter, CallStore, Queue, ServiceRecordFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    Ok(respond(route(&req, deps).await))
}

/// Every route of this function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    CreateServiceRecord,
    ListServiceRecords,
    GetServiceRecord(String),
    ReplaceServiceRecord(String),
    DeleteServiceRecord(String),
    ListCalls(CallStatus),
    CreateCall,
    GetCall(String),
    EditCall(String),
    CancelCall(String),
    RetryCall(String),
    GetScheduleConfig,
    PutScheduleConfig,
    CreateDemoCall,
    InitiateDemoCall(String),
    Nps,
}

impl Route {
    /// Fixed segments first: `ready`, `missed`, `completed`, `schedule-config`, `nps` and `demo`
    /// are not call ids.
    pub fn parse(method: &Method, path: &[&str]) -> Option<Route> {
        let id = |s: &str| s.to_string();
        Some(match (method, path) {
            (&Method::POST, ["v1", "service-records"]) => Route::CreateServiceRecord,
            (&Method::GET, ["v1", "service-records"]) => Route::ListServiceRecords,
            (&Method::GET, ["v1", "service-records", r]) => Route::GetServiceRecord(id(r)),
            (&Method::PUT, ["v1", "service-records", r]) => Route::ReplaceServiceRecord(id(r)),
            (&Method::DELETE, ["v1", "service-records", r]) => Route::DeleteServiceRecord(id(r)),
            (&Method::GET, ["v1", "calls", "ready"]) => Route::ListCalls(CallStatus::Ready),
            (&Method::GET, ["v1", "calls", "missed"]) => Route::ListCalls(CallStatus::Missed),
            (&Method::GET, ["v1", "calls", "completed"]) => Route::ListCalls(CallStatus::Completed),
            (&Method::GET, ["v1", "calls", "schedule-config"]) => Route::GetScheduleConfig,
            (&Method::PUT, ["v1", "calls", "schedule-config"]) => Route::PutScheduleConfig,
            (&Method::GET, ["v1", "calls", "nps"]) => Route::Nps,
            (&Method::POST, ["v1", "calls", "demo"]) => Route::CreateDemoCall,
            (&Method::POST, ["v1", "calls", "demo", c, "initiate"]) => Route::InitiateDemoCall(id(c)),
            (&Method::POST, ["v1", "calls"]) => Route::CreateCall,
            (&Method::GET, ["v1", "calls", c]) => Route::GetCall(id(c)),
            (&Method::PUT, ["v1", "calls", c]) => Route::EditCall(id(c)),
            (&Method::DELETE, ["v1", "calls", c]) => Route::CancelCall(id(c)),
            (&Method::POST, ["v1", "calls", c, "retry"]) => Route::RetryCall(id(c)),
            _ => return None,
        })
    }

    /// The least role that may call it: the schedule is a setting (admins); deleting and demo
    /// calls (which dial any number entered) are the supervisors'.
    pub fn role(&self) -> Role {
        match self {
            Route::PutScheduleConfig => Role::Admin,
            Route::DeleteServiceRecord(_) | Route::CancelCall(_) | Route::CreateDemoCall | Route::InitiateDemoCall(_) => Role::Supervisor,
            _ => Role::Agent,
        }
    }
}

async fn route(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let caller = caller(req)?;
    let path = segments(req)?;
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let route = Route::parse(req.method(), &path).ok_or(AppError::NotFound("route"))?;
    caller.require(route.role())?;
    let calls: &dyn CallStore = &*deps.store;
    let org = caller.org_id.as_str();
    match route {
        Route::ListServiceRecords => {
            let q: ServiceRecordsQuery = query_params(req)?;
            let page = page_request(q.limit, q.cursor)?;
            ordered(q.from, q.to)?;
            let filter = ServiceRecordFilter { from: q.from, to: q.to, advisor_id: q.advisor_id, status: q.status };
            let page = use_cases::service_records(calls, org, &filter, &page).await?;
            Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
        }
        Route::ListCalls(status) => {
            let q: CallsQuery = query_params(req)?;
            let page = page_request(q.limit, q.cursor)?;
            let filter = CallFilter {
                status,
                from: q.from,
                to: q.to,
                advisor_id: q.advisor_id,
                service_type: short_text("service_type", q.service_type)?,
                nps_min: score("nps_min", q.nps_min)?,
                nps_max: score("nps_max", q.nps_max)?,
                tag: short_text("tag", q.tag)?,
            };
            let page = use_cases::list(calls, org, &filter, &page).await?;
            Ok(ok(&PageBody { items: page.items, next_cursor: page.next_cursor }))
        }
        Route::GetScheduleConfig => {
            let q: ScheduleConfigQuery = query_params(req)?;
            Ok(ok(&use_cases::schedule_config(calls, org, q.campaign_id.as_deref()).await?))
        }
        Route::Nps => {
            let q: NpsQuery = query_params(req)?;
            let (from, to) = nps_range(q.from, q.to, deps.clock.now())?;
            Ok(ok(&use_cases::nps(calls, org, from, to, q.group_by).await?))
        }
        other => {
            let NoQuery {} = query_params(req)?;
            single(req, deps, &caller, other).await
        }
    }
}

/// The routes without query parameters.
async fn single(req: &Request, deps: &Deps, caller: &Caller, route: Route) -> Result<Response<Body>, AppError> {
    let ports = deps.call_ports();
    let calls: &dyn CallStore = &*deps.store;
    let org = caller.org_id.as_str();
    let now = deps.clock.now();
    match route {
        Route::CreateServiceRecord => {
            let body: ServiceRecordInput = json_body(req)?;
            let record = use_cases::create_service_record(&ports, org, body, now).await?;
            Ok(created_at(&format!("/v1/service-records/{}", record.id), &record))
        }
        Route::GetServiceRecord(id) => Ok(ok(&use_cases::service_record(calls, org, &id).await?)),
        Route::ReplaceServiceRecord(id) => {
            let body: ServiceRecordInput = json_body(req)?;
            Ok(ok(&use_cases::update_service_record(&ports, org, &id, body, now).await?))
        }
        Route::DeleteServiceRecord(id) => {
            use_cases::delete_service_record(&ports, org, &id, now).await?;
            Ok(no_content())
        }
        Route::CreateCall => {
            let body: NewCallRequest = json_body(req)?;
            let call = use_cases::create_call(&ports, org, &body, now).await?;
            Ok(created_at(&format!("/v1/calls/{}", call.id), &call))
        }
        Route::GetCall(id) => Ok(ok(&use_cases::get(calls, org, &id).await?)),
        Route::EditCall(id) => {
            let edit: CallEdit = json_body(req)?;
            Ok(ok(&use_cases::edit(&ports, org, &id, edit, now).await?))
        }
        Route::CancelCall(id) => Ok(ok(&use_cases::cancel(&ports, org, &id, now).await?)),
        Route::RetryCall(id) => Ok(ok(&use_cases::retry(&ports, org, &id, now).await?)),
        Route::PutScheduleConfig => {
            let config: ScheduleConfig = json_body(req)?;
            Ok(ok(&use_cases::save_schedule_config(calls, org, config, &caller.audit_actor(), now).await?))
        }
        Route::CreateDemoCall => {
            let body: NewCallRequest = json_body(req)?;
            let call = use_cases::create_demo_call(&ports, org, &body, now).await?;
            Ok(created_at(&format!("/v1/calls/{}", call.id), &call))
        }
        Route::InitiateDemoCall(id) => {
            // The dialer places it: the job names the attempt and the minute, so initiating twice
            // in a minute is one job on the FIFO queue, and the dialer's claim places it once
            // anyway. (A demo the dialer could not take, its organisation at its cap, is
            // initiated again a minute later.)
            let job = use_cases::initiate_demo(calls, org, &id).await?;
            deps.outbox.send_batch(Queue::Calls, &[job.offered_in_minute_of(now)]).await?;
            Ok(json(StatusCode::ACCEPTED, &DialQueued { call_id: job.call_id, attempt: job.attempt }))
        }
        Route::ListServiceRecords | Route::ListCalls(_) | Route::GetScheduleConfig | Route::Nps => Err(AppError::NotFound("route")),
    }
}

/// 201 with the new resource and where it lives.
fn created_at<T: Serialize>(location: &str, value: &T) -> Response<Body> {
    let mut response = json(StatusCode::CREATED, value);
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// `POST /v1/calls/demo/{id}/initiate`: the attempt queued for the dialer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DialQueued {
    pub call_id: String,
    /// The attempt the dialer will place (1 for a demo call never placed).
    pub attempt: u32,
}

/// A range on a list's times: `from` inclusive, `to` exclusive, so `to` must come after `from`.
fn ordered(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<(), AppError> {
    match (from, to) {
        (Some(f), Some(t)) if f >= t => Err(AppError::invalid("to", "must be after from")),
        _ => Ok(()),
    }
}

/// An NPS score bound of a query: 0 to 10.
fn score(field: &str, value: Option<u32>) -> Result<Option<u8>, AppError> {
    value.map(|v| u8::try_from(v).ok().filter(|v| *v <= 10).ok_or_else(|| AppError::invalid(field, "must be from 0 to 10"))).transpose()
}

/// A text filter: a service type or a tag is at most [`MAX_NAME_CHARS`] characters.
fn short_text(field: &str, value: Option<String>) -> Result<Option<String>, AppError> {
    match value {
        Some(v) if v.chars().count() > MAX_NAME_CHARS => Err(AppError::invalid(field, format!("must be at most {MAX_NAME_CHARS} characters"))),
        other => Ok(other),
    }
}

/// How many local dates an NPS range covers when one end is left out.
const DEFAULT_NPS_DAYS: u64 = 30;

/// The NPS range: both ends as given; one left out is [`DEFAULT_NPS_DAYS`] from the other; both
/// left out, the last [`DEFAULT_NPS_DAYS`] days to today (UTC).
fn nps_range(from: Option<NaiveDate>, to: Option<NaiveDate>, now: DateTime<Utc>) -> Result<(NaiveDate, NaiveDate), AppError> {
    let span = Days::new(DEFAULT_NPS_DAYS - 1);
    let out_of_range = |field: &str| AppError::invalid(field, "is out of range");
    Ok(match (from, to) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, f.checked_add_days(span).ok_or_else(|| out_of_range("from"))?),
        (None, Some(t)) => (t.checked_sub_days(span).ok_or_else(|| out_of_range("to"))?, t),
        (None, None) => {
            let today = now.date_naive();
            (today.checked_sub_days(span).ok_or_else(|| out_of_range("to"))?, today)
        }
    })
}

/// `GET /v1/service-records`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceRecordsQuery {
    /// Services at or after this time (the appointment date, else when the record was made).
    pub from: Option<DateTime<Utc>>,
    /// Services before this time; after `from`.
    pub to: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[param(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub advisor_id: Option<String>,
    #[param(inline)]
    pub status: Option<ServiceStatus>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// `GET /v1/calls/ready|missed|completed`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CallsQuery {
    /// At or after this list time: the due time of a ready call, the last attempt's end of a
    /// missed one, the completion of a completed one.
    pub from: Option<DateTime<Utc>>,
    /// Before this list time; after `from`.
    pub to: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[param(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub advisor_id: Option<String>,
    #[param(min_length = 1, max_length = 200)]
    pub service_type: Option<String>,
    /// Calls scored at least this (calls without a score never match a score range).
    #[param(minimum = 0, maximum = 10)]
    pub nps_min: Option<u32>,
    /// Calls scored at most this; not below `nps_min`.
    #[param(minimum = 0, maximum = 10)]
    pub nps_max: Option<u32>,
    /// Calls carrying this tag.
    #[param(min_length = 1, max_length = 200)]
    pub tag: Option<String>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// `GET /v1/calls/schedule-config`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScheduleConfigQuery {
    /// The schedule deciding for this campaign (its own, else the organisation's).
    #[serde(default, deserialize_with = "max_core::domain::ids::optional_id")]
    #[param(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub campaign_id: Option<String>,
}

/// `GET /v1/calls/nps`: local dates of the schedule's time zone, both inclusive.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NpsQuery {
    /// The first date (default: 29 days before `to`).
    pub from: Option<NaiveDate>,
    /// The last date, not before `from` and at most 365 days after it (default: 29 days after
    /// `from`, or today).
    pub to: Option<NaiveDate>,
    #[param(inline)]
    pub group_by: Option<NpsGrouping>,
}

#[cfg(test)]
mod tests;
