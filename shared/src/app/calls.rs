//! Feedback calls: service records and the calls they create, the schedule config, the
//! scheduler's due calls, the dialer's claim, the provider's outcomes, the WhatsApp survey (asked
//! after the last miss, its answers routed here by the bot) and NPS stats. Decisions:
//! `docs/feedback-calls.md`.
//!
//! Every change reads the call, applies a pure rule (`domain::call`), and saves over the
//! version read (`retry_lost_updates`); a rule that finds its work done answers `Unchanged` and
//! nothing is written, so redelivered jobs and repeated callbacks change nothing twice.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use crate::app::delivery::{NewReply, queue_reply_in_state};
use crate::app::inbound::Received;
use crate::domain::audit::{AuditActor, AuditEntity};
use crate::domain::bot::BotState;
use crate::domain::call::{
    AfterMiss, Call, CallChange, CallEdit, CallEnd, CallStatus, CallType, CompletedVia, MAX_NAME_CHARS, NewCall, NpsGroupStats, NpsGrouping, ServiceRecord, ServiceRecordInput,
    normalise_phone, nps_stats as sum_nps, whatsapp_address,
};
use crate::domain::call_schedule::{CallingRules, ScheduleConfig};
use crate::domain::conversation::Conversation;
use crate::domain::customer::{ChannelIdentity, Customer, Identity, IdentityChannel};
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::ids::{IdempotencyKey, new_id, stable_id};
use crate::domain::message::{Sender, SenderType};
use crate::domain::outbound::OutboundContent;
use crate::domain::support::Transition;
use crate::domain::survey::{SurveyStage, SurveyState, SurveyStep, THANK_YOU, read_message, survey_list};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{
    CallFilter, CallSaved, CallStore, CallWrite, ChannelDirectory, ConversationStore, CustomerStore, EventStore, MessageStore, Outbox, Page,
    PageRequest, Queue, QueueMessage, ScheduleRef, ServiceRecordFilter, Written,
};

/// The ports the call use cases need.
pub struct CallPorts<'a> {
    pub calls: &'a dyn CallStore,
    pub customers: &'a dyn CustomerStore,
    pub events: &'a dyn EventStore,
    /// The WhatsApp survey: the organisation's numbers, the customer's conversation, its messages
    /// and the replies queue.
    pub channels: &'a dyn ChannelDirectory,
    pub conversations: &'a dyn ConversationStore,
    pub messages: &'a dyn MessageStore,
    pub outbox: &'a dyn Outbox,
}

/// A call in progress that heard nothing from the provider for this long is given up as `failed`.
pub const STALE_AFTER: Duration = Duration::minutes(15);
/// The largest NPS range one request may ask for.
pub const MAX_NPS_DAYS: i64 = 366;

// ------------------------------------------------------------------------------ schedule config

/// The schedule that decides for `campaign_id` (its own config, else the organisation's), or the
/// defaults when none is stored.
pub async fn schedule_config(calls: &dyn CallStore, org_id: &str, campaign_id: Option<&str>) -> Result<ScheduleConfig> {
    if let Some(campaign) = campaign_id
        && let Some(c) = calls.schedule_config(org_id, Some(campaign)).await?
    {
        return Ok(c);
    }
    Ok(calls.schedule_config(org_id, None).await?.unwrap_or_else(|| ScheduleConfig::default_for(org_id, None)))
}

/// The rules of a stored config. A stored config was valid when saved; one that no longer is
/// (a time zone dropped from the database) falls back to the defaults rather than stop calling.
fn rules_of(config: &ScheduleConfig) -> CallingRules {
    config.rules().unwrap_or_else(|e| {
        warn!(org_id = config.org_id, error = %e, "stored schedule config no longer valid; calling with the defaults");
        ScheduleConfig::default_for(&config.org_id, None).rules().unwrap_or_else(|_| unreachable!("the defaults are valid"))
    })
}

/// `PUT /v1/calls/schedule-config`: `config.version` is the version the admin read (0 when none
/// was stored); saving over a newer one answers 409.
pub async fn save_schedule_config(calls: &dyn CallStore, org_id: &str, mut config: ScheduleConfig, by: &AuditActor, now: DateTime<Utc>) -> Result<ScheduleConfig> {
    config.rules()?;
    config.org_id = org_id.to_string();
    config.version += 1;
    config.updated_at = Some(now);
    let before = calls.schedule_config(org_id, config.campaign_id.as_deref()).await?;
    let which = format!("call_schedule{}", config.campaign_id.as_deref().map(|c| format!(".{c}")).unwrap_or_default());
    let fields = ["time_zone", "calling_days", "windows", "holidays", "delay_after_service_minutes"];
    let audit = by.change(now, org_id, (AuditEntity::Settings, &which), "update", &fields, before.as_ref(), Some(&config));
    match calls.save_schedule_config(&config, audit.as_ref()).await? {
        Written::Stored => Ok(config),
        Written::AlreadyThere => {
            let current = calls.schedule_config(org_id, config.campaign_id.as_deref()).await?.map_or(0, |c| c.version);
            Err(Error::conflict("the schedule config was changed meanwhile; read it again", current.to_string()))
        }
    }
}

// ------------------------------------------------------------------------------------- events

/// Tells the dashboard feed, once per kind, call and attempt. After the call's write and best
/// effort: the call is committed, and the lists show it even if the feed missed it.
async fn announce(events: &dyn EventStore, kind: EventKind, call: &Call, at: DateTime<Utc>) {
    let data = json!({
        "call_id": call.id,
        "service_record_id": call.service_record_id,
        "customer_id": call.customer_id,
        "status": call.status,
        "attempts": call.attempts,
        "due_at": call.due_at,
        "miss_reason": call.miss_reason,
        "nps_score": call.nps_score,
        "completed_via": call.completed_via,
        "fallback": call.fallback.is_some(),
    });
    let dedupe = format!("{}:{}:{}:{}", kind.as_str(), call.id, call.attempts, call.manual_retries);
    if let Err(e) = events.record_event(&NewEvent::new(&call.org_id, kind, at, data, dedupe)).await {
        warn!(error = %e, call_id = call.id, kind = kind.as_str(), "call event not recorded in the dashboard feed");
    }
}

// ---------------------------------------------------------------------------- service records

/// The customer with this E.164 phone: found through its WhatsApp identity, or created with it.
async fn customer_by_phone(ports: &CallPorts<'_>, org_id: &str, phone: &str, name: Option<&str>, now: DateTime<Utc>) -> Result<String> {
    let address = whatsapp_address(phone);
    for _ in 0..2 {
        if let Some(identity) = ports.customers.whatsapp_identity(org_id, address).await? {
            return Ok(identity.customer_id);
        }
        // Made by a service record, not by a person linking: `linked_by` stays null.
        let on_whatsapp = Identity { channel: IdentityChannel::Whatsapp, external_id: address.to_string(), linked_by: None, linked_at: now };
        let customer = Customer::new(new_id(now), org_id, name.map(str::to_string), Some(address.to_string()), Some(on_whatsapp), now);
        let identity = ChannelIdentity {
            org_id: org_id.to_string(),
            channel: IdentityChannel::Whatsapp,
            address: address.to_string(),
            customer_id: customer.id.clone(),
            open_conversation_id: None,
            profile_name: None,
            last_conversation_id: None,
            blocked: None,
        };
        if ports.calls.register_customer(&customer, &identity).await? == Written::Stored {
            return Ok(customer.id);
        }
        // Someone registered the number meanwhile (a message, another record): read theirs.
    }
    Err(Error::LostUpdate("customer"))
}

/// The call a new record creates, if any: it needs a phone and a customer who may be called.
async fn call_for(calls: &dyn CallStore, record: &ServiceRecord, now: DateTime<Utc>) -> Result<Option<Call>> {
    let Some(phone) = record.customer_phone.as_deref().filter(|_| !record.do_not_call) else { return Ok(None) };
    let config = schedule_config(calls, &record.org_id, record.campaign_id.as_deref()).await?;
    let rules = rules_of(&config);
    let due = rules.first_attempt_due(record.service_time()).ok_or_else(|| Error::invalid("holidays", "leave no day to call"))?;
    let id = stable_id(record.created_at, &format!("call#{}", record.id));
    Ok(Some(Call::for_service(id, record, phone, due, now)))
}

/// `POST /v1/service-records`: the record, its customer (found or created by phone) and, with a
/// phone, its feedback call, `ready` at the schedule's time.
pub async fn create_service_record(ports: &CallPorts<'_>, org_id: &str, input: ServiceRecordInput, now: DateTime<Utc>) -> Result<ServiceRecord> {
    let input = input.validated()?;
    let customer_id = match input.customer_phone.as_deref() {
        Some(phone) => Some(customer_by_phone(ports, org_id, phone, input.customer_name.as_deref(), now).await?),
        None => None,
    };
    let mut record = input.into_record(new_id(now), org_id, customer_id, now);
    let call = call_for(ports.calls, &record, now).await?;
    record.call_id = call.as_ref().map(|c| c.id.clone());
    if ports.calls.create_service_record(&record, call.as_ref()).await? == Written::AlreadyThere {
        return Err(Error::conflict("a record with this id exists", "exists"));
    }
    if let Some(c) = &call {
        announce(ports.events, EventKind::CallReady, c, now).await;
    }
    Ok(record)
}

pub async fn service_record(calls: &dyn CallStore, org_id: &str, id: &str) -> Result<ServiceRecord> {
    calls.service_record(org_id, id).await?.ok_or(Error::NotFound("service record"))
}

pub async fn service_records(calls: &dyn CallStore, org_id: &str, filter: &ServiceRecordFilter, page: &PageRequest) -> Result<Page<ServiceRecord>> {
    calls.service_records(org_id, filter, page).await
}

/// `PUT /v1/service-records/{id}`. A customer who asked not to be called gets their ready call
/// cancelled.
pub async fn update_service_record(ports: &CallPorts<'_>, org_id: &str, id: &str, input: ServiceRecordInput, now: DateTime<Utc>) -> Result<ServiceRecord> {
    let input = input.validated()?;
    let input = &input;
    let record = retry_lost_updates("service record", |_| async move {
        let mut record = service_record(ports.calls, org_id, id).await?;
        input.clone().apply_to(&mut record);
        record.updated_at = now;
        record.version += 1;
        ports.calls.save_service_record(&record).await?;
        Ok(record)
    })
    .await?;
    if record.do_not_call
        && let Some(call_id) = &record.call_id
    {
        let stop = change_call(ports.calls, org_id, call_id, None, |c| match c.status {
            crate::domain::call::CallStatus::Ready => c.cancel(now),
            _ => Ok(Transition::Unchanged),
        });
        stop.await?;
    }
    Ok(record)
}

/// `DELETE /v1/service-records/{id}`: the record goes; its call, while still to be placed
/// (`ready`) or retried (`missed`), is cancelled first, so nobody is called about a deleted
/// service. A call being placed answers 409; a completed call stays with its NPS.
pub async fn delete_service_record(ports: &CallPorts<'_>, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<()> {
    let record = service_record(ports.calls, org_id, id).await?;
    if let Some(call_id) = &record.call_id {
        let stop = change_call(ports.calls, org_id, call_id, None, |c| match c.status {
            CallStatus::Completed | CallStatus::Cancelled => Ok(Transition::Unchanged),
            CallStatus::Ready | CallStatus::Missed | CallStatus::InProgress => c.cancel(now),
        });
        match stop.await {
            Ok(_) | Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    // Over the version read: a record edited meanwhile is read again (its call may be new).
    retry_lost_updates("service record", |_| async move {
        let current = service_record(ports.calls, org_id, id).await?;
        ports.calls.delete_service_record(&current).await
    })
    .await
}

// ---------------------------------------------------------------------------------- the calls

/// Reads the call, applies `change` and saves it over the version read, retrying when something
/// else wrote first. `Unchanged` writes nothing. With `cap`, the write is a claim (`AtCapacity`).
async fn change_call<F>(calls: &dyn CallStore, org_id: &str, id: &str, cap: Option<u32>, change: F) -> Result<(Call, Transition, CallSaved)>
where
    F: Fn(&mut Call) -> Result<Transition>,
{
    let change = &change;
    retry_lost_updates("call", |_| async move {
        let before = get(calls, org_id, id).await?;
        let mut after = before.clone();
        if change(&mut after)? == Transition::Unchanged {
            return Ok((before, Transition::Unchanged, CallSaved::Stored));
        }
        after.version += 1;
        let saved = calls.save_call(&CallWrite { before: Some(&before), after: &after, in_flight_cap: cap }).await?;
        match saved {
            CallSaved::AtCapacity => Ok((before, Transition::Unchanged, saved)),
            _ => Ok((after, Transition::Changed, saved)),
        }
    })
    .await
}

pub async fn get(calls: &dyn CallStore, org_id: &str, id: &str) -> Result<Call> {
    calls.call(org_id, id).await?.ok_or(Error::NotFound("call"))
}

/// `GET /v1/calls/ready|missed|completed`.
pub async fn list(calls: &dyn CallStore, org_id: &str, filter: &CallFilter, page: &PageRequest) -> Result<Page<Call>> {
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from >= to
    {
        return Err(Error::invalid("to", "must be after from"));
    }
    if let (Some(min), Some(max)) = (filter.nps_min, filter.nps_max)
        && min > max
    {
        return Err(Error::invalid("nps_max", "must not be below nps_min"));
    }
    if filter.nps_max.is_some_and(|m| m > 10) || filter.nps_min.is_some_and(|m| m > 10) {
        return Err(Error::invalid(if filter.nps_min.is_some_and(|m| m > 10) { "nps_min" } else { "nps_max" }, "must be from 0 to 10"));
    }
    calls.calls(org_id, filter, page).await
}

/// `POST /v1/calls` (a manual feedback call) and `POST /v1/calls/demo` (a demo call).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCallRequest {
    /// E.164 once spaces, dashes, dots and brackets are dropped.
    #[schema(pattern = "^[ ().-]*\\+[ ().-]*[1-9]([ ().-]*[0-9]){7,14}[ ().-]*$", example = "+1 650-555-1234")]
    pub customer_number: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub customer_name: Option<String>,
    /// The service the call asks about (a manual call only; 404 when unknown).
    #[serde(default, deserialize_with = "crate::domain::ids::optional_id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub service_record_id: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::ids::optional_id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub campaign_id: Option<String>,
}

impl NewCallRequest {
    /// The number in E.164, once every field is checked (errors name the field).
    fn checked_number(&self) -> Result<String> {
        if self.customer_name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME_CHARS) {
            return Err(Error::invalid("customer_name", format!("must be at most {MAX_NAME_CHARS} characters")));
        }
        normalise_phone("customer_number", &self.customer_number)
    }
}

/// A manual call: `ready`, due at the schedule's next open instant.
pub async fn create_call(ports: &CallPorts<'_>, org_id: &str, request: &NewCallRequest, now: DateTime<Utc>) -> Result<Call> {
    let number = request.checked_number()?;
    let record = match &request.service_record_id {
        Some(id) => Some(service_record(ports.calls, org_id, id).await?),
        None => None,
    };
    let campaign = request.campaign_id.clone().or_else(|| record.as_ref().and_then(|r| r.campaign_id.clone()));
    let rules = rules_of(&schedule_config(ports.calls, org_id, campaign.as_deref()).await?);
    let due = rules.next_open(now).ok_or_else(|| Error::invalid("holidays", "leave no day to call"))?;
    let customer_id = customer_by_phone(ports, org_id, &number, request.customer_name.as_deref(), now).await?;
    let new = NewCall {
        id: new_id(now),
        org_id: org_id.to_string(),
        customer_number: number.clone(),
        customer_name: request.customer_name.clone(),
        customer_id: Some(customer_id),
        call_type: CallType::Feedback,
        campaign_id: campaign,
    };
    let mut call = match &record {
        Some(r) => {
            let mut c = Call::for_service(new.id.clone(), r, &number, due, now);
            c.customer_name = new.customer_name.clone().or(c.customer_name);
            c.customer_id = new.customer_id.clone();
            c.campaign_id = new.campaign_id.clone();
            c
        }
        None => Call::ready(new, due, now),
    };
    call.call_reason.get_or_insert_with(|| "manual".into());
    store_new(ports, &call, now).await?;
    Ok(call)
}

/// A demo call to the number entered: `ready` without a due time, placed only when initiated.
pub async fn create_demo_call(ports: &CallPorts<'_>, org_id: &str, request: &NewCallRequest, now: DateTime<Utc>) -> Result<Call> {
    let number = request.checked_number()?;
    let new = NewCall {
        id: new_id(now),
        org_id: org_id.to_string(),
        customer_number: number,
        customer_name: request.customer_name.clone(),
        customer_id: None,
        call_type: CallType::Demo,
        campaign_id: request.campaign_id.clone(),
    };
    let mut call = Call::ready(new, now, now);
    call.due_at = None;
    call.call_reason = Some("demo".into());
    store_new(ports, &call, now).await?;
    Ok(call)
}

async fn store_new(ports: &CallPorts<'_>, call: &Call, now: DateTime<Utc>) -> Result<()> {
    match ports.calls.save_call(&CallWrite { before: None, after: call, in_flight_cap: None }).await? {
        CallSaved::Stored => {
            announce(ports.events, EventKind::CallReady, call, now).await;
            Ok(())
        }
        _ => Err(Error::conflict("a call with this id exists", "exists")),
    }
}

/// `POST /v1/calls/demo/{id}/initiate`: the dial job of a demo call's next attempt, now.
pub async fn initiate_demo(calls: &dyn CallStore, org_id: &str, id: &str) -> Result<DialJob> {
    let call = get(calls, org_id, id).await?;
    if call.call_type != CallType::Demo {
        return Err(Error::NotFound("demo call"));
    }
    if call.status != crate::domain::call::CallStatus::Ready {
        return Err(Error::conflict(format!("the demo call is {}", call.status.as_str()), call.status.as_str()));
    }
    Ok(DialJob::of(&call))
}

/// `PUT /v1/calls/{id}`.
pub async fn edit(ports: &CallPorts<'_>, org_id: &str, id: &str, edit: CallEdit, now: DateTime<Utc>) -> Result<Call> {
    let edit = &edit;
    Ok(change_call(ports.calls, org_id, id, None, |c| c.edit(edit.clone(), now)).await?.0)
}

/// `DELETE /v1/calls/{id}`: the call is cancelled (its history and counters stay).
pub async fn cancel(ports: &CallPorts<'_>, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<Call> {
    Ok(change_call(ports.calls, org_id, id, None, |c| c.cancel(now)).await?.0)
}

/// `POST /v1/calls/{id}/retry`: a missed call is ready again at the schedule's next open instant.
pub async fn retry(ports: &CallPorts<'_>, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<Call> {
    let call = get(ports.calls, org_id, id).await?;
    let rules = rules_of(&schedule_config(ports.calls, org_id, call.campaign_id.as_deref()).await?);
    let due = rules.next_open(now).ok_or_else(|| Error::invalid("holidays", "leave no day to call"))?;
    let (call, transition, _) = change_call(ports.calls, org_id, id, None, |c| c.retry_by_hand(due, now)).await?;
    if transition == Transition::Changed {
        announce(ports.events, EventKind::CallReady, &call, now).await;
    }
    Ok(call)
}

// ------------------------------------------------------------------------- scheduler and dialer

/// One attempt for the dialer. Its deduplication id names the attempt, so a job sent twice is one
/// job on a FIFO queue, and the claim makes a job delivered twice place one call anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialJob {
    pub org_id: String,
    pub call_id: String,
    pub attempt: u32,
}

impl DialJob {
    pub fn of(call: &Call) -> Self {
        DialJob { org_id: call.org_id.clone(), call_id: call.id.clone(), attempt: call.attempts + 1 }
    }

    /// The message for the calls queue (grouped by organisation) offering the attempt in the
    /// minute of `at`: one job per attempt and minute, so an offer the dialer could not take (the
    /// organisation at its cap) is made again next minute instead of being swallowed by the
    /// queue's 5-minute deduplication.
    pub fn offered_in_minute_of(&self, at: DateTime<Utc>) -> QueueMessage {
        self.message(format!("call:{}:{}:{}", self.call_id, self.attempt, at.timestamp() / 60))
    }

    fn message(&self, dedup_id: String) -> QueueMessage {
        QueueMessage {
            body: serde_json::to_string(self).unwrap_or_else(|_| unreachable!("a dial job serialises")),
            group_id: Some(self.org_id.clone()),
            dedup_id: Some(dedup_id),
        }
    }
}

/// The scheduler, each minute: for every schedule whose window is open now, the due calls, at most
/// as many as its organisation has free slots (`max_concurrent_calls` − calls in flight). Reads
/// only what it can place; a schedule whose window is closed, or an organisation at its cap, is
/// not read at all. The caller puts the jobs on the calls queue.
pub async fn take_due_calls(calls: &dyn CallStore, now: DateTime<Utc>) -> Result<Vec<DialJob>> {
    take_due_calls_of(calls, calls.call_schedules().await?, now).await
}

/// The organisations of `schedules` (listed by organisation, then campaign), once each.
fn orgs_of(schedules: &[ScheduleRef]) -> Vec<String> {
    let mut orgs: Vec<String> = schedules.iter().map(|s| s.org_id.clone()).collect();
    orgs.dedup();
    orgs
}

async fn take_due_calls_of(calls: &dyn CallStore, schedules: Vec<ScheduleRef>, now: DateTime<Utc>) -> Result<Vec<DialJob>> {
    let mut jobs = Vec::new();
    let mut free: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for schedule in schedules {
        let config = schedule_config(calls, &schedule.org_id, schedule.campaign_id.as_deref()).await?;
        if !rules_of(&config).is_open(now) {
            continue;
        }
        let slots = match free.get(&schedule.org_id) {
            Some(n) => *n,
            None => {
                // The cap is the organisation's: its calls share one provider account.
                let cap = match schedule.campaign_id {
                    None => config.max_concurrent_calls,
                    Some(_) => schedule_config(calls, &schedule.org_id, None).await?.max_concurrent_calls,
                };
                i64::from(cap) - calls.calls_in_flight(&schedule.org_id).await?
            }
        };
        if slots <= 0 {
            free.insert(schedule.org_id.clone(), 0);
            continue;
        }
        let due = calls.due_calls(&schedule, now, i32::try_from(slots).unwrap_or(i32::MAX)).await?;
        free.insert(schedule.org_id.clone(), slots - due.len() as i64);
        jobs.extend(due.iter().map(DialJob::of));
    }
    Ok(jobs)
}

/// What one run of the scheduler did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Dispatched {
    /// Dial jobs put on the calls queue.
    pub queued: usize,
    /// Calls in progress given up as `failed` (heard nothing for [`STALE_AFTER`]).
    pub given_up: usize,
    /// WhatsApp surveys owed (their first asking failed) and asked now.
    pub surveys_asked: usize,
}

/// The scheduler's minute: first the calls that heard nothing for too long are given up (which
/// frees their slots), then the due calls each organisation has room for go to the dialer, ten
/// jobs per queue request. A job offered again next minute, before the dialer took it, is a second
/// job for the same attempt: the claim places an attempt once whatever arrives. Last, the WhatsApp
/// surveys still owed are asked.
pub async fn dispatch_due_calls(ports: &CallPorts<'_>, outbox: &dyn Outbox, now: DateTime<Utc>) -> Result<Dispatched> {
    // One read of the schedules serves the minute's three passes.
    let schedules = ports.calls.call_schedules().await?;
    let orgs = orgs_of(&schedules);
    let given_up = give_up_stale_calls_of(ports, &orgs, now).await?.len();
    let jobs: Vec<QueueMessage> = take_due_calls_of(ports.calls, schedules, now).await?.iter().map(|job| job.offered_in_minute_of(now)).collect();
    for chunk in jobs.chunks(10) {
        outbox.send_batch(Queue::Calls, chunk).await?;
    }
    let surveys_asked = ask_owed_surveys_of(ports, &orgs, now).await?;
    Ok(Dispatched { queued: jobs.len(), given_up, surveys_asked })
}

/// What the dialer does with a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Place this call now (the attempt is taken; its slot counted).
    Place { call: Box<Call>, config: Box<ScheduleConfig> },
    /// Nothing to place: the attempt was taken before (a redelivered job) or the call moved on.
    Skip,
    /// The organisation is at its cap: try the job again a little later.
    AtCapacity,
}

/// The dialer takes the job's attempt before it asks the provider to call: ready → in progress,
/// only over the version read and while the organisation has a free slot.
pub async fn claim(calls: &dyn CallStore, job: &DialJob, now: DateTime<Utc>) -> Result<Claim> {
    // The cap is the organisation's (a campaign's calls count towards it too).
    let org_config = schedule_config(calls, &job.org_id, None).await?;
    let cap = org_config.max_concurrent_calls;
    let (call, transition, saved) = match change_call(calls, &job.org_id, &job.call_id, Some(cap), |c| Ok(c.claim(job.attempt, now))).await {
        Err(Error::NotFound(_)) => return Ok(Claim::Skip),
        other => other?,
    };
    if saved == CallSaved::AtCapacity {
        return Ok(Claim::AtCapacity);
    }
    if transition == Transition::Unchanged {
        return Ok(Claim::Skip);
    }
    let config = match call.campaign_id.as_deref() {
        Some(campaign) => schedule_config(calls, &job.org_id, Some(campaign)).await?,
        None => org_config,
    };
    Ok(Claim::Place { call: Box::new(call), config: Box::new(config) })
}

/// The provider accepted the attempt under `provider_call_id`.
pub async fn record_placement(ports: &CallPorts<'_>, job: &DialJob, provider_call_id: &str, now: DateTime<Utc>) -> Result<Call> {
    let (call, transition, _) = change_call(ports.calls, &job.org_id, &job.call_id, None, |c| c.placed(job.attempt, provider_call_id, now)).await?;
    if transition == Transition::Changed {
        announce(ports.events, EventKind::CallStarted, &call, now).await;
    }
    Ok(call)
}

/// The customer's answers during an attempt (`<Gather>` results: digits, then speech).
pub async fn record_answers(
    ports: &CallPorts<'_>,
    job: &DialJob,
    provider_call_id: Option<&str>,
    score: Option<u8>,
    speech: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Call> {
    Ok(change_call(ports.calls, &job.org_id, &job.call_id, None, |c| c.record_answers(job.attempt, provider_call_id, score, speech, now)).await?.0)
}

/// What the schedule of `call` says after a miss at `ended_at`.
fn after_miss(call: &Call, config: &ScheduleConfig, ended_at: DateTime<Utc>) -> AfterMiss {
    let rules = rules_of(config);
    AfterMiss {
        max_attempts: config.max_attempts,
        retry_at: rules.retry_due(ended_at),
        whatsapp_fallback: config.whatsapp_fallback && call.call_type == CallType::Feedback,
        local_date: rules.local_date(ended_at),
    }
}

/// How an attempt ended (the provider's final status callback, or its refusal to place it):
/// completed with NPS, or missed and rescheduled, or missed for good (and the WhatsApp survey asked
/// for). A repeated or late callback changes nothing.
pub async fn apply_call_end(ports: &CallPorts<'_>, job: &DialJob, end: &CallEnd) -> Result<(Call, CallChange)> {
    let call = get(ports.calls, &job.org_id, &job.call_id).await?;
    let config = schedule_config(ports.calls, &job.org_id, call.campaign_id.as_deref()).await?;
    let outcome = std::sync::Mutex::new(CallChange::Unchanged);
    let (call, _, _) = change_call(ports.calls, &job.org_id, &job.call_id, None, |c| {
        let next = after_miss(c, &config, end.ended_at);
        let change = c.finish(job.attempt, end, &next)?;
        *outcome.lock().unwrap_or_else(|p| p.into_inner()) = change;
        Ok(if change == CallChange::Unchanged { Transition::Unchanged } else { Transition::Changed })
    })
    .await?;
    let change = *outcome.lock().unwrap_or_else(|p| p.into_inner());
    follow(ports, &call, change, end.ended_at).await;
    Ok((call, change))
}

/// After a call's change is written: the feed, and the WhatsApp survey when the last miss asked
/// for it. Best effort: a survey not asked now is asked by the scheduler's sweep.
async fn follow(ports: &CallPorts<'_>, call: &Call, change: CallChange, at: DateTime<Utc>) {
    match change {
        CallChange::Completed => announce(ports.events, EventKind::CallCompleted, call, at).await,
        CallChange::Rescheduled => announce(ports.events, EventKind::CallReady, call, at).await,
        CallChange::Missed { fallback } => {
            announce(ports.events, EventKind::CallMissed, call, at).await;
            if fallback && let Err(e) = ask_by_whatsapp(ports, &call.org_id, &call.id, at).await {
                warn!(error = %e, org_id = call.org_id, call_id = call.id, "WhatsApp survey not asked; the scheduler asks again");
            }
        }
        CallChange::Unchanged => {}
    }
}

/// The sweep (with the scheduler): calls in progress that heard nothing for [`STALE_AFTER`] are
/// missed as `failed` — a dialer that died between its claim and the provider frees its slot, and
/// the call is retried or followed on WhatsApp like any miss.
pub async fn give_up_stale_calls(ports: &CallPorts<'_>, now: DateTime<Utc>) -> Result<Vec<(Call, CallChange)>> {
    give_up_stale_calls_of(ports, &orgs_of(&ports.calls.call_schedules().await?), now).await
}

async fn give_up_stale_calls_of(ports: &CallPorts<'_>, orgs: &[String], now: DateTime<Utc>) -> Result<Vec<(Call, CallChange)>> {
    let mut given_up = Vec::new();
    for org in orgs {
        for stale in ports.calls.stale_calls(org, now - STALE_AFTER, 100).await? {
            let config = schedule_config(ports.calls, org, stale.campaign_id.as_deref()).await?;
            let outcome = std::sync::Mutex::new(CallChange::Unchanged);
            let attempt = stale.attempts;
            let (call, _, _) = change_call(ports.calls, org, &stale.id, None, |c| {
                // Only the attempt found stale: one that moved on meanwhile is left alone.
                if c.attempts != attempt || c.list_time() >= now - STALE_AFTER {
                    return Ok(Transition::Unchanged);
                }
                let next = after_miss(c, &config, now);
                let change = c.give_up(now, &next);
                *outcome.lock().unwrap_or_else(|p| p.into_inner()) = change;
                Ok(if change == CallChange::Unchanged { Transition::Unchanged } else { Transition::Changed })
            })
            .await?;
            let change = *outcome.lock().unwrap_or_else(|p| p.into_inner());
            if change != CallChange::Unchanged {
                follow(ports, &call, change, now).await;
                given_up.push((call, change));
            }
        }
    }
    Ok(given_up)
}

/// The WhatsApp survey's answer completes the call (`completed_via: whatsapp`), counted in NPS.
pub async fn complete_by_whatsapp(ports: &CallPorts<'_>, org_id: &str, call_id: &str, score: u8, feedback: Option<&str>, now: DateTime<Utc>) -> Result<Call> {
    let call = get(ports.calls, org_id, call_id).await?;
    let rules = rules_of(&schedule_config(ports.calls, org_id, call.campaign_id.as_deref()).await?);
    let today = rules.local_date(now);
    let (call, transition, _) = change_call(ports.calls, org_id, call_id, None, |c| c.complete_by_whatsapp(score, feedback, now, today)).await?;
    if transition == Transition::Changed {
        announce(ports.events, EventKind::CallCompleted, &call, now).await;
    }
    Ok(call)
}

// --------------------------------------------------------------------------- the WhatsApp survey

/// The survey cannot be sent: the customer's number is not known on WhatsApp (or was erased).
pub const NO_WHATSAPP_IDENTITY: &str = "no_whatsapp_identity";
/// The survey cannot be sent: the organisation has no WhatsApp number.
pub const NO_WHATSAPP_NUMBER: &str = "no_whatsapp_number";
/// The sweep asks again surveys owed since at most this long (by the last attempt's end) ...
pub const SURVEY_OWED_FOR: Duration = Duration::days(1);
/// ... and at least this long: a younger one may still be asked by the change that missed it.
pub const SURVEY_GRACE: Duration = Duration::minutes(2);
const SURVEY_PAGE: i32 = 100;

/// What asking for a call's WhatsApp survey did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SurveyAsk {
    /// The list is queued (or was, by an earlier asking with the same key).
    Asked { message_id: String },
    /// Nothing owed: no survey asked for, sent already, found unsendable, or the call moved on.
    NotOwed,
    /// It cannot be sent (recorded on the call, so the sweep leaves it).
    NotSent { reason: &'static str },
}

fn survey_sender() -> Sender {
    Sender { kind: SenderType::Bot, id: None, name: None }
}

/// Sends the customer of a call missed for good the NPS question as a WhatsApp list, on their
/// open conversation (or a new one on one of the organisation's numbers), puts the conversation
/// in the survey's state and records the message on the call. Keyed by the call: asked twice,
/// one message.
pub async fn ask_by_whatsapp(ports: &CallPorts<'_>, org_id: &str, call_id: &str, now: DateTime<Utc>) -> Result<SurveyAsk> {
    let call = get(ports.calls, org_id, call_id).await?;
    if !call.survey_owed() {
        return Ok(SurveyAsk::NotOwed);
    }
    let conversation = match survey_conversation(ports, &call, now).await? {
        Ok(conversation) => conversation,
        Err(reason) => {
            warn!(org_id, call_id, reason, "WhatsApp survey not sent");
            change_call(ports.calls, org_id, call_id, None, |c| Ok(c.survey_not_sent(reason, now))).await?;
            return Ok(SurveyAsk::NotSent { reason });
        }
    };
    let config = schedule_config(ports.calls, org_id, call.campaign_id.as_deref()).await?;
    let key = IdempotencyKey::internal(format!("survey:{call_id}"));
    let reply = NewReply {
        org_id,
        conversation_id: &conversation.id,
        content: survey_list(call_id, &config.nps_prompt, false),
        sender: survey_sender(),
        idempotency_key: Some(&key),
        now,
        just_read: Some(&conversation),
    };
    let state = SurveyState::new(call_id, SurveyStage::Score).as_state();
    let message = queue_reply_in_state(ports.conversations, ports.messages, ports.outbox, reply, &state).await?;
    change_call(ports.calls, org_id, call_id, None, |c| Ok(c.survey_asked(&message.id, now))).await?;
    info!(org_id, call_id, conversation_id = conversation.id, message_id = message.id, "WhatsApp survey asked");
    Ok(SurveyAsk::Asked { message_id: message.id })
}

/// The conversation the survey goes on: the customer's open one on a number still the
/// organisation's, else a new one on the organisation's first number. `Err(reason)` when there
/// is nobody or nothing to send it with.
async fn survey_conversation(ports: &CallPorts<'_>, call: &Call, now: DateTime<Utc>) -> Result<std::result::Result<Conversation, &'static str>> {
    let (org, address) = (call.org_id.as_str(), whatsapp_address(&call.customer_number));
    retry_lost_updates("conversation", |_| async move {
        let Some(identity) = ports.customers.whatsapp_identity(org, address).await? else { return Ok(Err(NO_WHATSAPP_IDENTITY)) };
        if let Some(id) = &identity.open_conversation_id
            && let Some(open) = ports.conversations.conversation(org, id).await?
            && open.status.is_open()
            && ports.channels.channel_by_number(&open.phone_number_id).await?.is_some_and(|c| c.org_id == org)
        {
            return Ok(Ok(open));
        }
        let first = PageRequest { limit: 1, cursor: None };
        let Some(channel) = ports.channels.channels(org, &first).await?.items.into_iter().next() else { return Ok(Err(NO_WHATSAPP_NUMBER)) };
        let conversation = Conversation::open_on(new_id(now), org, &channel.phone_number_id, &identity.customer_id, address, now, now);
        match ports.customers.open_conversation(&identity, identity.open_conversation_id.as_deref(), &conversation).await? {
            Written::Stored => Ok(Ok(conversation)),
            // Someone opened one meanwhile (the customer wrote): use theirs.
            Written::AlreadyThere => Err(Error::LostUpdate("conversation")),
        }
    })
    .await
}

/// The sweep (with the scheduler): surveys asked for whose list never went out (the asking
/// failed after the call's write) are asked now. Reads each organisation's missed list of the
/// last [`SURVEY_OWED_FOR`] only (by the last attempt's end), never the calls at large.
pub async fn ask_owed_surveys(ports: &CallPorts<'_>, now: DateTime<Utc>) -> Result<usize> {
    ask_owed_surveys_of(ports, &orgs_of(&ports.calls.call_schedules().await?), now).await
}

async fn ask_owed_surveys_of(ports: &CallPorts<'_>, orgs: &[String], now: DateTime<Utc>) -> Result<usize> {
    let filter = CallFilter { from: Some(now - SURVEY_OWED_FOR), to: Some(now - SURVEY_GRACE), ..CallFilter::of(CallStatus::Missed) };
    let mut asked = 0;
    for org in orgs {
        let mut cursor = None;
        loop {
            let page = ports.calls.calls(org, &filter, &PageRequest { limit: SURVEY_PAGE, cursor }).await?;
            for call in page.items.iter().filter(|c| c.survey_owed()) {
                match ask_by_whatsapp(ports, org, &call.id, now).await {
                    Ok(SurveyAsk::Asked { .. }) => asked += 1,
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, org_id = org, call_id = call.id, "owed WhatsApp survey not asked; the next minute tries again"),
                }
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
    }
    Ok(asked)
}

/// What the survey did with a customer's message.
#[derive(Debug, Clone, PartialEq)]
pub enum SurveyRoute {
    /// The survey took it; the reply queued, if any, and the conversation's state now.
    Handled { reply_id: Option<String>, state: String },
    /// Not the survey's (or the survey let go of the conversation): the bot decides on it, on the
    /// conversation as it now stands.
    ToBot(Box<Conversation>),
}

/// A customer's stored message, seen by the survey first (the bot hands every one here): a
/// score (a tapped row, or typed 0–10) completes the call via WhatsApp and asks the free-text
/// question; the next text is kept as the call's transcript and thanked for; anything else while
/// waiting for the score asks again once. Each reply is keyed by the message and written with the
/// conversation's next state, so a redelivered message changes nothing twice.
pub async fn answer_survey(ports: &CallPorts<'_>, received: &Received, now: DateTime<Utc>) -> Result<SurveyRoute> {
    let org = received.conversation.org_id.as_str();
    retry_lost_updates("conversation", |attempt| async move {
        let conversation = if attempt == 1 {
            received.conversation.clone()
        } else {
            ports.conversations.conversation(org, &received.conversation.id).await?.ok_or(Error::NotFound("conversation"))?
        };
        survey_step(ports, received, conversation, now).await
    })
    .await
}

async fn survey_step(ports: &CallPorts<'_>, received: &Received, conversation: Conversation, now: DateTime<Utc>) -> Result<SurveyRoute> {
    let org = conversation.org_id.as_str();
    let step = read_message(&conversation.state, &received.inbound);
    match &step {
        SurveyStep::NotSurvey => return Ok(SurveyRoute::ToBot(Box::new(conversation))),
        SurveyStep::Ignore => return Ok(SurveyRoute::Handled { reply_id: None, state: conversation.state }),
        _ => {}
    }
    let key = IdempotencyKey::internal(format!("survey-reply:{}", received.message.id));
    if received.repeated
        && let Some(done) = ports.messages.message_by_idempotency_key(org, &conversation.id, &key.key).await?
    {
        // An earlier delivery answered it (its reply and next state were written together).
        return Ok(SurveyRoute::Handled { reply_id: Some(done.id), state: conversation.state });
    }
    match step {
        SurveyStep::NotSurvey | SurveyStep::Ignore => unreachable!("answered above"),
        SurveyStep::Leave => Ok(SurveyRoute::ToBot(Box::new(back_to_menu(ports, conversation).await?))),
        SurveyStep::AskAgain { call_id } => {
            let Some(call) = survey_call(ports, &conversation, &call_id).await? else { return let_go(ports, conversation, &call_id).await };
            if !matches!(call.status, CallStatus::Missed | CallStatus::Ready) {
                return let_go(ports, conversation, &call_id).await;
            }
            let config = schedule_config(ports.calls, org, call.campaign_id.as_deref()).await?;
            let content = survey_list(&call_id, &config.nps_prompt, true);
            let state = SurveyState::new(&call_id, SurveyStage::ScoreAgain).as_state();
            survey_reply(ports, &conversation, &key, content, &state, now).await
        }
        SurveyStep::Score { call_id, score } => {
            let Some(call) = survey_call(ports, &conversation, &call_id).await? else { return let_go(ports, conversation, &call_id).await };
            if call.status == CallStatus::Completed && call.completed_via == Some(CompletedVia::Whatsapp) && call.nps_score != Some(score) {
                // The first answer counts; a later tap on the list changes nothing.
                info!(call_id, "WhatsApp survey answered already; a later score is not taken");
                return Ok(SurveyRoute::Handled { reply_id: None, state: conversation.state });
            }
            match complete_by_whatsapp(ports, org, &call_id, score, None, now).await {
                Ok(_) => {}
                Err(Error::Conflict { .. } | Error::NotFound(_)) => return let_go(ports, conversation, &call_id).await,
                Err(e) => return Err(e),
            }
            let config = schedule_config(ports.calls, org, call.campaign_id.as_deref()).await?;
            let state = SurveyState::new(&call_id, SurveyStage::Feedback).as_state();
            survey_reply(ports, &conversation, &key, OutboundContent::text(config.follow_up_prompt.trim()), &state, now).await
        }
        SurveyStep::Feedback { call_id, text } => {
            if survey_call(ports, &conversation, &call_id).await?.is_none() {
                return let_go(ports, conversation, &call_id).await;
            }
            match change_call(ports.calls, org, &call_id, None, |c| c.record_whatsapp_feedback(&text, now)).await {
                Ok(_) => {}
                Err(Error::Conflict { .. } | Error::NotFound(_)) => return let_go(ports, conversation, &call_id).await,
                Err(e) => return Err(e),
            }
            survey_reply(ports, &conversation, &key, OutboundContent::text(THANK_YOU), BotState::MENU, now).await
        }
    }
}

/// The survey's call, if it is this conversation's customer's (a row names its call; the
/// organisation's other customers never answer for it).
async fn survey_call(ports: &CallPorts<'_>, conversation: &Conversation, call_id: &str) -> Result<Option<Call>> {
    let call = ports.calls.call(&conversation.org_id, call_id).await?;
    Ok(call.filter(|c| c.fallback.is_some() && whatsapp_address(&c.customer_number) == conversation.customer_address))
}

/// The reply of a survey step, written with the conversation's next state.
async fn survey_reply(
    ports: &CallPorts<'_>,
    conversation: &Conversation,
    key: &IdempotencyKey,
    content: OutboundContent,
    state: &str,
    now: DateTime<Utc>,
) -> Result<SurveyRoute> {
    let reply = NewReply {
        org_id: &conversation.org_id,
        conversation_id: &conversation.id,
        content,
        sender: survey_sender(),
        idempotency_key: Some(key),
        now,
        just_read: Some(conversation),
    };
    let message = queue_reply_in_state(ports.conversations, ports.messages, ports.outbox, reply, state).await?;
    Ok(SurveyRoute::Handled { reply_id: Some(message.id), state: state.to_string() })
}

/// The survey named a call that no longer waits for it (deleted, cancelled, answered by phone):
/// a conversation waiting on that call goes back to the menu, and the bot takes the message.
async fn let_go(ports: &CallPorts<'_>, conversation: Conversation, call_id: &str) -> Result<SurveyRoute> {
    info!(call_id, conversation_id = conversation.id, "message for a WhatsApp survey that is over; handed to the bot");
    let waiting_on_it = SurveyState::parse(&conversation.state).is_some_and(|s| s.call_id == call_id);
    let conversation = if waiting_on_it { back_to_menu(ports, conversation).await? } else { conversation };
    Ok(SurveyRoute::ToBot(Box::new(conversation)))
}

async fn back_to_menu(ports: &CallPorts<'_>, mut conversation: Conversation) -> Result<Conversation> {
    conversation.state = BotState::MENU.to_string();
    conversation.version += 1;
    ports.conversations.save_conversation(&conversation).await?;
    Ok(conversation)
}

// ------------------------------------------------------------------------------------------ NPS

/// `GET /v1/calls/nps`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NpsReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub total: NpsGroupStats,
    pub groups: Vec<NpsGroupStats>,
}

/// NPS of the local dates `from..=to` from the day counters: one read per day item, whatever the
/// number of calls.
pub async fn nps(calls: &dyn CallStore, org_id: &str, from: NaiveDate, to: NaiveDate, group_by: Option<NpsGrouping>) -> Result<NpsReport> {
    if to < from {
        return Err(Error::invalid("to", "must not be before from"));
    }
    if (to - from).num_days() >= MAX_NPS_DAYS {
        return Err(Error::invalid("to", format!("a range covers at most {MAX_NPS_DAYS} days")));
    }
    let days = calls.nps_days(org_id, from, to).await?;
    let (total, groups) = sum_nps(&days, group_by);
    Ok(NpsReport { from, to, total, groups })
}
