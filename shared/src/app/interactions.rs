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
    let stored = ports.interactions.create_interaction(interaction, key.map(|k| k.key.as_str())).await?;
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
