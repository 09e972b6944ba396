//! Interactions: create, edit, complete, cancel, start a workflow, and the next-step job that
//! gives every customer a next step. Completing answers once the completion is stored and its
//! next-step job is queued; the `next-step` worker creates exactly one next interaction.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::domain::audit::{AuditActor, AuditEntity};
use crate::domain::campaign;
use crate::domain::ids::{IdempotencyKey, new_id};
use crate::domain::interaction::{Completion, Interaction, InteractionChange, InteractionStatus, NewInteraction};
use crate::domain::interaction_stats::{GroupStats, StatsGroupBy, stats_range, summarize};
use crate::domain::workflow::{
    InteractionSettings, NewWorkflowTemplate, WorkflowCatalog, WorkflowTemplate, first_interaction, next_interaction, seeded_templates,
};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{CustomerStore, InteractionStore, Outbox, Page, PageRequest, Queue, QueueMessage, WorkflowStore, Written};

/// The job on the next-step queue: which completed interaction needs its successor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextStepJob {
    pub org_id: String,
    pub interaction_id: String,
}

/// Everything the interaction use cases touch.
pub struct InteractionPorts<'a> {
    pub interactions: &'a dyn InteractionStore,
    pub workflows: &'a dyn WorkflowStore,
    pub customers: &'a dyn CustomerStore,
    pub outbox: &'a dyn Outbox,
}

/// Who acts, for `created_by`.
pub struct Actor<'a> {
    pub org_id: &'a str,
    pub user_id: &'a str,
}

pub async fn get(store: &dyn InteractionStore, org_id: &str, id: &str) -> Result<Interaction> {
    store.interaction(org_id, id).await?.ok_or(Error::NotFound("interaction"))
}

async fn require_customer(customers: &dyn CustomerStore, org_id: &str, customer_id: &str, field: Option<&str>) -> Result<()> {
    match customers.customer(org_id, customer_id).await? {
        Some(_) => Ok(()),
        None => Err(match field {
            Some(f) => Error::invalid(f, "no customer with this id"),
            None => Error::NotFound("customer"),
        }),
    }
}

pub async fn create(ports: &InteractionPorts<'_>, actor: &Actor<'_>, request: NewInteraction, idempotency_key: Option<&IdempotencyKey>, now: DateTime<Utc>) -> Result<Interaction> {
    let mut interaction = request.into_interaction(interaction_id(actor.org_id, idempotency_key, now), actor.org_id, Some(actor.user_id), now)?;
    let (customer, settings) =
        futures::join!(require_customer(ports.customers, actor.org_id, &interaction.customer_id, Some("customer_id")), settings(ports.workflows, actor.org_id));
    customer?;
    interaction.plan_reminder(settings?.reminder_lead(), now);
    create_once(ports, &interaction, idempotency_key).await
}

/// A new interaction's id: derived from the idempotency key and the request when there is one.
fn interaction_id(org_id: &str, key: Option<&IdempotencyKey>, now: DateTime<Utc>) -> String {
    key.map_or_else(|| new_id(now), |k| k.id_at(org_id, now))
}

/// Stores a new interaction; a repeated key answers the interaction its first request created
/// (422 when that request was another one).
async fn create_once(ports: &InteractionPorts<'_>, interaction: &Interaction, key: Option<&IdempotencyKey>) -> Result<Interaction> {
    // A lost update here is a transaction that met another one on a statistics counter (nothing
    // was written): go again.
    let stored = retry_lost_updates("interaction", |_| ports.interactions.create_interaction(interaction, key.map(|k| k.key.as_str()))).await?;
    if let Some(key) = key
        && stored.id != interaction.id
    {
        key.check_first(&interaction.org_id, &stored.id, stored.created_at)?;
    }
    Ok(stored)
}

/// Applies an edit; `status: skipped` skips the interaction (after the other changes), which
/// moves a workflow on like a completion.
pub async fn update(ports: &InteractionPorts<'_>, org_id: &str, id: &str, change: &InteractionChange, now: DateTime<Utc>) -> Result<Interaction> {
    let skipping = change.status == Some(InteractionStatus::Skipped);
    let edit = InteractionChange { status: if skipping { None } else { change.status }, ..change.clone() };
    let edit = &edit;
    let saved = retry_lost_updates("interaction", |_| async move {
        let current = get(ports.interactions, org_id, id).await?;
        let mut next = current.edit(edit, now)?;
        if next.scheduled_at != current.scheduled_at {
            // Rescheduled: the reminder is owed again, the organisation's lead before the new time.
            next.plan_reminder(settings(ports.workflows, org_id).await?.reminder_lead(), now);
        }
        if skipping {
            next = next.skip(now)?;
            next.version = current.version + 1;
        }
        ports.interactions.save_interaction(&next).await?;
        Ok(next)
    })
    .await?;
    if skipping {
        enqueue_next_step(ports, &saved).await?;
    }
    Ok(saved)
}

/// Completes an open interaction, then queues its next-step job. Completing a closed one answers
/// 409; if that one's next step is still owed (its job was lost before reaching the queue), the
/// job is queued again first, since the caller is most likely retrying after a failure.
pub async fn complete(ports: &InteractionPorts<'_>, org_id: &str, id: &str, completion: &Completion, now: DateTime<Utc>) -> Result<Interaction> {
    completion.validate()?;
    retry_lost_updates("interaction", |_| async move {
        let current = get(ports.interactions, org_id, id).await?;
        let done = match current.complete(completion, now) {
            Ok(done) => done,
            Err(conflict) => {
                if current.awaits_next_step() {
                    enqueue_next_step(ports, &current).await?;
                }
                return Err(conflict);
            }
        };
        // Another request changed it first: read again (a racing complete then answers 409).
        save_moved(ports.interactions, &current, &done).await?;
        enqueue_next_step(ports, &done).await?;
        Ok(done)
    })
    .await
}

pub async fn cancel(store: &dyn InteractionStore, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<Interaction> {
    retry_lost_updates("interaction", |_| async move {
        let current = get(store, org_id, id).await?;
        let cancelled = current.cancel(now)?;
        save_moved(store, &current, &cancelled).await?;
        Ok(cancelled)
    })
    .await
}

/// Saves an interaction that moved (completed, cancelled) over the version read, with what the
/// move adds to its campaign's metrics in the same write.
async fn save_moved(store: &dyn InteractionStore, before: &Interaction, after: &Interaction) -> Result<()> {
    match campaign::tally(before, after) {
        Some(t) => store.save_interaction_tallied(after, &t).await,
        None => store.save_interaction(after).await,
    }
}

async fn enqueue_next_step(ports: &InteractionPorts<'_>, done: &Interaction) -> Result<()> {
    let job = NextStepJob { org_id: done.org_id.clone(), interaction_id: done.id.clone() };
    let body = serde_json::to_string(&job).map_err(|e| Error::backend("sqs", e))?;
    ports.outbox.send_batch(Queue::NextSteps, &[QueueMessage { body, group_id: None, dedup_id: None }]).await
}

// ------------------------------------------------------------------ the next-step job

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStepOutcome {
    /// The next interaction was created and linked.
    Created { next_id: String },
    /// A previous delivery (or a racing worker) did it already.
    AlreadyLinked,
    /// The template ends the chain here; the interaction is marked so.
    ChainEnded,
    /// Unknown, still open or cancelled: nothing to do.
    Ignored,
}

/// Creates the one interaction that follows a completed one and links both. Safe to run any number
/// of times, concurrently, and after a crash at any point: the next id is derived from the
/// completion, the new item is written only if absent, and the link only over the version read.
pub async fn create_next_step(interactions: &dyn InteractionStore, workflows: &dyn WorkflowStore, job: &NextStepJob, now: DateTime<Utc>) -> Result<NextStepOutcome> {
    // Read once, on the first attempt that needs it.
    let catalog = tokio::sync::OnceCell::<WorkflowCatalog>::new();
    let catalog = &catalog;
    retry_lost_updates("interaction", |_| async move {
        let Some(previous) = interactions.interaction(&job.org_id, &job.interaction_id).await? else {
            warn!(org_id = job.org_id, interaction_id = job.interaction_id, "next-step job for an unknown interaction dropped");
            return Ok(NextStepOutcome::Ignored);
        };
        if previous.next_interaction_id.is_some() {
            return Ok(NextStepOutcome::AlreadyLinked);
        }
        if !previous.awaits_next_step() {
            info!(interaction_id = previous.id, status = previous.status.as_str(), "no next step owed");
            return Ok(NextStepOutcome::Ignored);
        }
        let catalog = catalog.get_or_try_init(|| workflows.workflow_catalog(&job.org_id)).await?;
        match next_interaction(&previous, catalog, now) {
            None => {
                let mut ended = previous.clone();
                ended.chain_ended = true;
                ended.updated_at = now.max(previous.updated_at);
                ended.version += 1;
                interactions.save_interaction(&ended).await?;
                Ok(NextStepOutcome::ChainEnded)
            }
            Some(mut next) => {
                next.plan_reminder(catalog.settings.reminder_lead(), now);
                // Two conditional writes, each idempotent: a crash between them leaves the next
                // step stored and the link owed; the retried job finds the same id and links it.
                if interactions.store_if_absent(&next).await? == Written::AlreadyThere {
                    info!(interaction_id = previous.id, next_id = next.id, "next step already stored; linking it");
                }
                let mut linked = previous.clone();
                linked.next_interaction_id = Some(next.id.clone());
                linked.updated_at = now.max(previous.updated_at);
                linked.version += 1;
                // A racing worker linked it first: the next attempt's read says so.
                interactions.save_interaction(&linked).await?;
                info!(interaction_id = previous.id, next_id = next.id, kind = next.kind.as_str(), "next step created");
                Ok(NextStepOutcome::Created { next_id: next.id })
            }
        }
    })
    .await
}

/// A next step still owed this long after the completion lost its job (or keeps failing).
pub const OWED_AFTER: chrono::Duration = chrono::Duration::minutes(10);
/// Older debts are left to the DLQ and its alarm rather than queued again forever.
pub const OWED_AT_MOST: chrono::Duration = chrono::Duration::hours(24);

/// Queues again the next-step jobs of completions that still have no next step after
/// [`OWED_AFTER`] (their job was lost: a crash between the completion and the queue). Returns
/// how many were queued.
pub async fn requeue_owed_next_steps(interactions: &dyn InteractionStore, outbox: &dyn Outbox, now: DateTime<Utc>) -> Result<usize> {
    let owed = interactions.owed_next_steps(now - OWED_AT_MOST, now - OWED_AFTER, 100).await?;
    let messages = owed
        .iter()
        .filter(|i| i.awaits_next_step())
        .map(|i| {
            let job = NextStepJob { org_id: i.org_id.clone(), interaction_id: i.id.clone() };
            serde_json::to_string(&job).map(|body| QueueMessage { body, group_id: None, dedup_id: None }).map_err(|e| Error::backend("sqs", e))
        })
        .collect::<Result<Vec<_>>>()?;
    for chunk in messages.chunks(10) {
        outbox.send_batch(Queue::NextSteps, chunk).await?;
    }
    if !messages.is_empty() {
        warn!(count = messages.len(), "next-step jobs queued again for completions without a next step");
    }
    Ok(messages.len())
}

// ------------------------------------------------------------------ workflows

/// The body of `POST /v1/interactions/workflow/start`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartWorkflow {
    #[serde(deserialize_with = "crate::domain::ids::id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub customer_id: String,
    #[serde(deserialize_with = "crate::domain::ids::id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub template_id: String,
    /// `YYYY-MM-DD` (midnight in the organisation's time zone) or an RFC 3339 date-time; now if absent.
    #[serde(default)]
    #[schema(schema_with = start_date_schema)]
    pub start_date: Option<String>,
    /// The conversation the workflow is started from: its interactions are tied to it (closing
    /// it with an outcome completes the open one).
    #[serde(default)]
    #[schema(max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub conversation_id: Option<String>,
}

/// `start_date` in the contract: a date or a date-time (blank: now).
fn start_date_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let format = |f| ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(f)));
    utoipa::openapi::schema::AnyOfBuilder::new()
        .item(format(KnownFormat::Date))
        .item(format(KnownFormat::DateTime))
        .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some("^\\s*$")))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build()
        .into()
}

fn start_time(start_date: Option<&str>, catalog: &WorkflowCatalog, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let Some(raw) = start_date.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(now) };
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(catalog.settings.calendar().start_of(date));
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| Error::invalid("start_date", "must be a date (YYYY-MM-DD) or an RFC 3339 date-time"))
}

/// Creates the first interaction of a workflow for a customer.
pub async fn start_workflow(
    ports: &InteractionPorts<'_>,
    actor: &Actor<'_>,
    request: &StartWorkflow,
    idempotency_key: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
) -> Result<Interaction> {
    let catalog = catalog_seeded(ports.workflows, actor.org_id, now).await?;
    let template = catalog.template(&request.template_id).ok_or_else(|| Error::invalid("template_id", "no template with this id"))?;
    if !template.is_active {
        return Err(Error::conflict("the template is inactive: activate it to start its workflow", "inactive"));
    }
    let start = start_time(request.start_date.as_deref(), &catalog, now)?;
    require_customer(ports.customers, actor.org_id, &request.customer_id, Some("customer_id")).await?;
    let id = interaction_id(actor.org_id, idempotency_key, now);
    let mut first = first_interaction(template, &catalog.settings.calendar(), id, &request.customer_id, start, Some(actor.user_id), now)?;
    if let Some(conversation) = &request.conversation_id {
        crate::domain::ids::check_id("conversation_id", conversation)?;
        first.conversation_id = Some(conversation.clone());
    }
    first.plan_reminder(catalog.settings.reminder_lead(), now);
    create_once(ports, &first, idempotency_key).await
}

/// The catalog, with the starter templates stored first if this organisation never had them.
pub(crate) async fn catalog_seeded(workflows: &dyn WorkflowStore, org_id: &str, now: DateTime<Utc>) -> Result<WorkflowCatalog> {
    let catalog = workflows.workflow_catalog(org_id).await?;
    if catalog.seeded {
        return Ok(catalog);
    }
    seed_default_templates(workflows, org_id, now).await?;
    workflows.workflow_catalog(org_id).await
}

/// Stores "Standard Follow-up Sequence" and "Quick Outreach Sequence" once per organisation.
pub async fn seed_default_templates(workflows: &dyn WorkflowStore, org_id: &str, now: DateTime<Utc>) -> Result<Written> {
    workflows.seed_workflow_templates(org_id, &seeded_templates(org_id, now)).await
}

pub async fn templates(workflows: &dyn WorkflowStore, org_id: &str, now: DateTime<Utc>) -> Result<Vec<WorkflowTemplate>> {
    Ok(catalog_seeded(workflows, org_id, now).await?.templates)
}

pub async fn template(workflows: &dyn WorkflowStore, org_id: &str, id: &str) -> Result<WorkflowTemplate> {
    workflows.workflow_template(org_id, id).await?.ok_or(Error::NotFound("template"))
}

pub async fn create_template(workflows: &dyn WorkflowStore, actor: &Actor<'_>, request: NewWorkflowTemplate, now: DateTime<Utc>) -> Result<WorkflowTemplate> {
    let template = request.into_template(new_id(now), actor.org_id, Some(actor.user_id), now)?;
    match workflows.put_workflow_template(&template).await? {
        Written::Stored => Ok(template),
        Written::AlreadyThere => Err(Error::conflict("a template with this id exists already", "exists")),
    }
}

/// Replaces a template's definition. Interactions already created from it keep their dates; the
/// next steps after them follow the new definition.
pub async fn replace_template(workflows: &dyn WorkflowStore, org_id: &str, id: &str, request: NewWorkflowTemplate, now: DateTime<Utc>) -> Result<WorkflowTemplate> {
    let current = template(workflows, org_id, id).await?;
    let mut replaced = request.into_template(current.id.clone(), org_id, current.created_by.as_deref(), now)?;
    replaced.created_at = current.created_at;
    replaced.version = current.version + 1;
    match workflows.put_workflow_template(&replaced).await? {
        Written::Stored => Ok(replaced),
        Written::AlreadyThere => Err(Error::LostUpdate("workflow template")),
    }
}

pub async fn settings(workflows: &dyn WorkflowStore, org_id: &str) -> Result<InteractionSettings> {
    Ok(workflows.workflow_catalog(org_id).await?.settings)
}

pub async fn save_settings(workflows: &dyn WorkflowStore, org_id: &str, settings: &InteractionSettings, by: &AuditActor, now: DateTime<Utc>) -> Result<InteractionSettings> {
    settings.validate()?;
    let before = workflows.workflow_catalog(org_id).await?.settings;
    let audit = by.change(now, org_id, (AuditEntity::Settings, "interactions"), "update", &["default_follow_up_days", "offsets_in", "time_zone", "weekend", "holidays", "reminder_lead_minutes"], Some(&before), Some(settings));
    workflows.save_interaction_settings(org_id, settings, audit.as_ref()).await?;
    Ok(settings.clone())
}

// ------------------------------------------------------------------ a customer's interactions

/// The customer's most pressing open interaction (soonest due), if any.
pub async fn next_for_customer(ports: &InteractionPorts<'_>, org_id: &str, customer_id: &str) -> Result<Option<Interaction>> {
    let first = PageRequest { limit: 1, cursor: None };
    let (customer, page) =
        futures::join!(require_customer(ports.customers, org_id, customer_id, None), ports.interactions.open_interactions(org_id, customer_id, None, &first));
    customer?;
    Ok(page?.items.into_iter().next())
}

/// The customer's open interactions (pending and in progress), soonest due first; with
/// `overdue_at`, only those already overdue then.
pub async fn open_for_customer(ports: &InteractionPorts<'_>, org_id: &str, customer_id: &str, overdue_at: Option<DateTime<Utc>>, page: &PageRequest) -> Result<Page<Interaction>> {
    let (customer, items) =
        futures::join!(require_customer(ports.customers, org_id, customer_id, None), ports.interactions.open_interactions(org_id, customer_id, overdue_at, page));
    customer?;
    items
}

// ------------------------------------------------------------------ bulk

/// The most interactions one bulk request may name.
pub const BULK_MAX: usize = 100;

/// What a bulk request does to each interaction it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkOp {
    /// `assignee_id` (`null`: nobody), as `PUT /v1/interactions/{id}` would.
    Reassign,
    /// `scheduled_at` and/or `due_at`, as `PUT /v1/interactions/{id}` would (moving
    /// `scheduled_at` alone moves `due_at` with it).
    Reschedule,
    /// As `POST /v1/interactions/{id}/cancel` would.
    Cancel,
}

/// The body of `POST /v1/interactions/bulk`: one operation over up to [`BULK_MAX`] interactions.
/// Only the operation's own fields may be given.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub op: BulkOp,
    /// 1 to 100 distinct interaction ids; the results come back in this order.
    #[schema(schema_with = bulk_ids_schema)]
    pub ids: Vec<String>,
    /// `reassign`: who is to do them (`null`: nobody).
    #[serde(default, deserialize_with = "crate::domain::interaction::present")]
    #[schema(max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub assignee_id: Option<Option<String>>,
    /// `reschedule`: the new start (at least one of `scheduled_at`, `due_at`).
    #[serde(default)]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// `reschedule`: the new deadline.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
}

/// `ids` in the contract: 1 to 100 distinct ids (the pattern of every id).
fn bulk_ids_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Type};
    let id = ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(128)).pattern(Some("^[^#]*[^#\\s][^#]*$"));
    ArrayBuilder::new().items(id).min_items(Some(1)).max_items(Some(BULK_MAX)).unique_items(true).build().into()
}

/// What happened to one interaction of a bulk request.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum BulkItemResult {
    /// Done: the interaction as it is now.
    Ok { id: String, interaction: Box<Interaction> },
    /// Unknown, or another organisation's.
    NotFound { id: String },
    /// Not possible in its state (`current_status`, e.g. cancelling a completed one), or changed
    /// concurrently however often it was read again (no `current_status`: try again).
    Conflict {
        id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        current_status: Option<String>,
        detail: String,
    },
    /// The operation does not fit this interaction (e.g. a `due_at` before its `scheduled_at`).
    Invalid { id: String, field: String, detail: String },
    /// A backend failed on this one; the others' results stand. Retry this id.
    Failed { id: String, detail: String },
}

impl BulkItemResult {
    fn of(id: &str, outcome: Result<Interaction>) -> Self {
        let id = id.to_string();
        match outcome {
            Ok(interaction) => Self::Ok { id, interaction: Box::new(interaction) },
            Err(Error::NotFound(_)) => Self::NotFound { id },
            Err(Error::Conflict { detail, current }) => Self::Conflict { id, current_status: current, detail },
            Err(e @ Error::LostUpdate(_)) => Self::Conflict { id, current_status: None, detail: e.to_string() },
            Err(Error::Invalid { field, reason }) => Self::Invalid { id, field, detail: reason },
            Err(e) => {
                warn!(interaction_id = id, error = %e, "bulk item failed");
                Self::Failed { id, detail: "the operation failed on this interaction; retry it".into() }
            }
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok { .. })
    }
}

/// The answer of `POST /v1/interactions/bulk` (200 however many items failed: each says so).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    pub op: BulkOp,
    /// One per id, in the request's order.
    pub results: Vec<BulkItemResult>,
    /// How many are `ok`.
    pub succeeded: usize,
    /// How many are not (`not_found`, `conflict`, `invalid`, `failed`).
    pub failed: usize,
}

impl BulkRequest {
    /// The whole request's rules (422 naming the field, nothing done): 1..=100 distinct ids, and
    /// exactly the operation's own fields. A repeated id is refused rather than done once: it is
    /// a client's mistake, and one result per position keeps the answer in the request's order.
    fn change(&self) -> Result<Option<InteractionChange>> {
        if self.ids.is_empty() || self.ids.len() > BULK_MAX {
            return Err(Error::invalid("ids", format!("must name 1 to {BULK_MAX} interactions")));
        }
        for (i, id) in self.ids.iter().enumerate() {
            crate::domain::ids::check_id(&format!("ids[{i}]"), id)?;
            if self.ids[..i].contains(id) {
                return Err(Error::invalid(format!("ids[{i}]"), "is named twice"));
            }
        }
        let not_for = |field: &str, given: bool| if given { Err(Error::invalid(field, format!("is not a field of {}", self.op.as_str()))) } else { Ok(()) };
        match self.op {
            BulkOp::Reassign => {
                not_for("scheduled_at", self.scheduled_at.is_some())?;
                not_for("due_at", self.due_at.is_some())?;
                let Some(assignee) = &self.assignee_id else { return Err(Error::invalid("assignee_id", "is required to reassign (null: nobody)")) };
                if let Some(assignee) = assignee {
                    crate::domain::ids::check_id("assignee_id", assignee)?;
                }
                Ok(Some(InteractionChange { assignee_id: Some(assignee.clone()), ..Default::default() }))
            }
            BulkOp::Reschedule => {
                not_for("assignee_id", self.assignee_id.is_some())?;
                match (self.scheduled_at, self.due_at) {
                    (None, None) => return Err(Error::invalid("scheduled_at", "scheduled_at or due_at is required to reschedule")),
                    (Some(s), Some(d)) if d < s => return Err(Error::invalid("due_at", "must not be before scheduled_at")),
                    _ => {}
                }
                Ok(Some(InteractionChange { scheduled_at: self.scheduled_at, due_at: self.due_at, ..Default::default() }))
            }
            BulkOp::Cancel => {
                not_for("assignee_id", self.assignee_id.is_some())?;
                not_for("scheduled_at", self.scheduled_at.is_some())?;
                not_for("due_at", self.due_at.is_some())?;
                Ok(None)
            }
        }
    }
}

impl BulkOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reassign => "reassign",
            Self::Reschedule => "reschedule",
            Self::Cancel => "cancel",
        }
    }
}

/// One item of a bulk request: the single use case (`change`: an edit; none: a cancel).
async fn bulk_item(ports: &InteractionPorts<'_>, org_id: &str, id: &str, change: Option<&InteractionChange>, now: DateTime<Utc>) -> BulkItemResult {
    let outcome = match change {
        Some(change) => update(ports, org_id, id, change, now).await,
        None => cancel(ports.interactions, org_id, id, now).await,
    };
    BulkItemResult::of(id, outcome)
}

/// How many items of a bulk request are worked on at once (each is a read and a write or two).
const BULK_IN_FLIGHT: usize = 8;

/// Reassigns, reschedules or cancels up to 100 interactions, each through the single-item use
/// case ([`update`], [`cancel`]) so reminders are planned again and the deadline index moves as
/// for one. Items are independent: one failing does not undo or stop the others, and each
/// result says what happened to its interaction.
pub async fn bulk(ports: &InteractionPorts<'_>, org_id: &str, request: &BulkRequest, now: DateTime<Utc>) -> Result<BulkResult> {
    let change = request.change()?;
    let mut results = Vec::with_capacity(request.ids.len());
    for ids in request.ids.chunks(BULK_IN_FLIGHT) {
        results.extend(futures::future::join_all(ids.iter().map(|id| bulk_item(ports, org_id, id, change.as_ref(), now))).await);
    }
    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    info!(org_id, op = request.op.as_str(), succeeded, failed = results.len() - succeeded, "bulk done");
    Ok(BulkResult { op: request.op, failed: results.len() - succeeded, succeeded, results })
}

// ------------------------------------------------------------------ statistics

/// `GET /v1/interactions/stats`: the days `from..=to` (UTC), one group kind.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InteractionStats {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: StatsGroupBy,
    /// The groups with anything counted in the range, by group (`null` first).
    pub groups: Vec<GroupStats>,
}

/// Created, completed and overdue interactions and the time to complete per group, from the
/// counters the writes keep (`domain::interaction_stats`): one read, whatever the volume.
pub async fn stats(store: &dyn InteractionStore, org_id: &str, group_by: StatsGroupBy, from: NaiveDate, to: NaiveDate) -> Result<InteractionStats> {
    stats_range(from, to)?;
    let days = store.interaction_stats(org_id, group_by, from, to).await?;
    Ok(InteractionStats { from, to, group_by, groups: summarize(&days) })
}
