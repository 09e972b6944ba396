#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of the feedback calls API (OpenAPI, assembled by max-dev).

use max_core::app::calls::{NewCallRequest, NpsReport};
use max_core::domain::call::{Call, CallEdit, ServiceRecord, ServiceRecordInput};
use max_core::domain::call_schedule::ScheduleConfig;
use max_core::http::PageBody;
use utoipa::OpenApi;

use crate::{CallsQuery, DialQueued, NpsQuery, ScheduleConfigQuery, ServiceRecordsQuery};

#[derive(OpenApi)]
#[openapi(paths(
    create_service_record, list_service_records, get_service_record, replace_service_record, delete_service_record,
    list_ready_calls, list_missed_calls, list_completed_calls, get_schedule_config, put_schedule_config, nps,
    create_demo_call, initiate_demo_call, create_call, get_call, edit_call, cancel_call, retry_call
))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// Records a service; with a phone (E.164) its customer is found or created by that number and
/// its feedback call is created, `ready` at the schedule's time (`call_id`).
#[utoipa::path(post, path = "/v1/service-records", tag = "calls", request_body = ServiceRecordInput,
    responses(
        (status = 201, description = "Created (`Location` names it)", body = ServiceRecord),
        (status = 409, description = "Changed concurrently (the customer was being registered); try again"),
    ))]
fn create_service_record() {}

/// Service records, newest service first.
#[utoipa::path(get, path = "/v1/service-records", tag = "calls", params(ServiceRecordsQuery),
    responses((status = 200, description = "A page of service records", body = PageBody<ServiceRecord>)))]
fn list_service_records() {}

/// A service record.
#[utoipa::path(get, path = "/v1/service-records/{id}", tag = "calls", params(("id" = String, Path)),
    responses((status = 200, description = "The record", body = ServiceRecord), (status = 404, description = "No such service record")))]
fn get_service_record() {}

/// Replaces a service record's fields; `do_not_call` cancels its call while still ready.
#[utoipa::path(put, path = "/v1/service-records/{id}", tag = "calls", params(("id" = String, Path)), request_body = ServiceRecordInput,
    responses(
        (status = 200, description = "The record", body = ServiceRecord),
        (status = 404, description = "No such service record"),
        (status = 409, description = "Changed concurrently; try again"),
    ))]
fn replace_service_record() {}

/// Deletes a service record (supervisors); its call is cancelled unless completed.
#[utoipa::path(delete, path = "/v1/service-records/{id}", tag = "calls", params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Supervisors and admins only"),
        (status = 404, description = "No such service record"),
        (status = 409, description = "Its call is being placed (`current_status`), or it changed concurrently"),
    ))]
fn delete_service_record() {}

/// Calls ready to be placed (scheduled or due), soonest due first.
#[utoipa::path(get, path = "/v1/calls/ready", tag = "calls", params(CallsQuery),
    responses((status = 200, description = "A page of calls", body = PageBody<Call>)))]
fn list_ready_calls() {}

/// Missed calls (their last attempt), newest first.
#[utoipa::path(get, path = "/v1/calls/missed", tag = "calls", params(CallsQuery),
    responses((status = 200, description = "A page of calls", body = PageBody<Call>)))]
fn list_missed_calls() {}

/// Completed calls, newest first.
#[utoipa::path(get, path = "/v1/calls/completed", tag = "calls", params(CallsQuery),
    responses((status = 200, description = "A page of calls", body = PageBody<Call>)))]
fn list_completed_calls() {}

/// The schedule deciding for the organisation (or a campaign): stored, else the defaults (`version` 0).
#[utoipa::path(get, path = "/v1/calls/schedule-config", tag = "calls", params(ScheduleConfigQuery),
    responses((status = 200, description = "The schedule config", body = ScheduleConfig)))]
fn get_schedule_config() {}

/// Saves the organisation's schedule config, or a campaign's (`campaign_id`) (admins). `version`
/// is the version read.
#[utoipa::path(put, path = "/v1/calls/schedule-config", tag = "calls", request_body = ScheduleConfig,
    responses(
        (status = 200, description = "The saved config", body = ScheduleConfig),
        (status = 403, description = "Admins only"),
        (status = 409, description = "Saved by someone else since `version` was read"),
    ))]
fn put_schedule_config() {}

/// NPS of the calls completed on the dates `from..=to`: promoters (9–10), passives (7–8),
/// detractors (0–6), responses and NPS = %promoters − %detractors, in total and per group.
#[utoipa::path(get, path = "/v1/calls/nps", tag = "calls", params(NpsQuery),
    responses((status = 200, description = "The stats", body = NpsReport)))]
fn nps() {}

/// Creates a demo call to the number entered (supervisors): placed only when initiated.
#[utoipa::path(post, path = "/v1/calls/demo", tag = "calls", request_body = NewCallRequest,
    responses(
        (status = 201, description = "Created (`Location` names it)", body = Call),
        (status = 403, description = "Supervisors and admins only"),
        (status = 409, description = "A call with this id exists"),
    ))]
fn create_demo_call() {}

/// Places a demo call now (supervisors): its dial job goes on the calls queue.
#[utoipa::path(post, path = "/v1/calls/demo/{id}/initiate", tag = "calls", params(("id" = String, Path)),
    responses(
        (status = 202, description = "Queued for the dialer", body = DialQueued),
        (status = 403, description = "Supervisors and admins only"),
        (status = 404, description = "No such demo call"),
        (status = 409, description = "The demo call was placed already (`current_status`)"),
    ))]
fn initiate_demo_call() {}

/// Creates a manual feedback call, `ready` at the schedule's next open time.
#[utoipa::path(post, path = "/v1/calls", tag = "calls", request_body = NewCallRequest,
    responses(
        (status = 201, description = "Created (`Location` names it)", body = Call),
        (status = 404, description = "No such service record"),
        (status = 409, description = "Changed concurrently (the customer was being registered); try again"),
    ))]
fn create_call() {}

/// A call.
#[utoipa::path(get, path = "/v1/calls/{id}", tag = "calls", params(("id" = String, Path)),
    responses((status = 200, description = "The call", body = Call), (status = 404, description = "No such call")))]
fn get_call() {}

/// Changes any subset of a call's notes, tags and feedback (`null` clears an optional text), or
/// corrects a completed call's score (its NPS counters move with it).
#[utoipa::path(put, path = "/v1/calls/{id}", tag = "calls", params(("id" = String, Path)), request_body = CallEdit,
    responses(
        (status = 200, description = "The call", body = Call),
        (status = 404, description = "No such call"),
        (status = 409, description = "A score on a call not completed (`current_status`), or changed concurrently"),
    ))]
fn edit_call() {}

/// Cancels a ready or missed call (supervisors); its history and counters stay.
#[utoipa::path(delete, path = "/v1/calls/{id}", tag = "calls", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The cancelled call", body = Call),
        (status = 403, description = "Supervisors and admins only"),
        (status = 404, description = "No such call"),
        (status = 409, description = "Being placed or completed (`current_status`)"),
    ))]
fn cancel_call() {}

/// A missed call is ready again at the schedule's next open time, with one more attempt allowed.
#[utoipa::path(post, path = "/v1/calls/{id}/retry", tag = "calls", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The call", body = Call),
        (status = 404, description = "No such call"),
        (status = 409, description = "Not missed (`current_status`)"),
    ))]
fn retry_call() {}
