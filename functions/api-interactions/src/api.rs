#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of the interactions API (OpenAPI, assembled by max-dev).

use max_core::app::interactions::{BulkRequest, BulkResult, InteractionStats, StartWorkflow};
use max_core::domain::campaign::{Campaign, NewCampaign};
use max_core::domain::interaction::{Completion, Interaction, InteractionChange, NewInteraction};
use max_core::domain::workflow::{InteractionSettings, NewWorkflowTemplate, WorkflowTemplate};
use max_core::http::{PageBody, PageQuery};
use utoipa::OpenApi;

use crate::{ListQuery, StatsQuery};

#[derive(OpenApi)]
#[openapi(paths(
    list_interactions, create_interaction, start_workflow, bulk_interactions, interaction_stats, next_for_customer, pending_for_customer, overdue_for_customer,
    list_workflow_templates, create_workflow_template, get_workflow_template, replace_workflow_template,
    get_interaction_settings, put_interaction_settings, get_interaction, update_interaction, complete_interaction, cancel_interaction,
    create_campaign, list_campaigns, get_campaign
))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// Interactions, by due date.
#[utoipa::path(get, path = "/v1/interactions", tag = "interactions", params(ListQuery),
    responses((status = 200, description = "A page of interactions", body = PageBody<Interaction>)))]
fn list_interactions() {}

/// Creates an interaction.
#[utoipa::path(post, path = "/v1/interactions", tag = "interactions",
    params(("Idempotency-Key" = Option<String>, Header, description = "Honoured for 24 hours")),
    request_body = NewInteraction,
    responses(
        (status = 201, description = "Created (`Location` names it)", body = Interaction),
        (status = 404, description = "No such customer"),
        (status = 409, description = "The Idempotency-Key was used for another request"),
    ))]
fn create_interaction() {}

/// Starts a workflow for a customer: creates its first interaction.
#[utoipa::path(post, path = "/v1/interactions/workflow/start", tag = "interactions",
    params(("Idempotency-Key" = Option<String>, Header, description = "Honoured for 24 hours")),
    request_body = StartWorkflow,
    responses(
        (status = 201, description = "The first interaction (`Location` names it)", body = Interaction),
        (status = 404, description = "No such customer or template"),
        (status = 409, description = "The template is inactive, or the Idempotency-Key was used for another request"),
    ))]
fn start_workflow() {}

/// Reassigns, reschedules or cancels up to 100 interactions, each as its single route would;
/// every item's result is in the answer, in the request's order (partial success is a 200).
#[utoipa::path(post, path = "/v1/interactions/bulk", tag = "interactions", request_body = BulkRequest,
    responses(
        (status = 200, description = "One result per id: `ok` (with the interaction), `not_found` (unknown or another organisation's), `conflict` (`current_status`), `invalid` (`field`) or `failed` (retry it)", body = BulkResult),
        (status = 422, description = "No ids, more than 100, an id named twice (`ids[i]`), or a field missing or not of the operation"),
    ))]
fn bulk_interactions() {}

/// Created, completed and overdue interactions and the time to complete (median, p90) per type,
/// assignee or template over a range of UTC days (supervisors and admins), from counters kept
/// as interactions move.
#[utoipa::path(get, path = "/v1/interactions/stats", tag = "interactions", params(StatsQuery),
    responses(
        (status = 200, description = "The groups with anything counted in the range", body = InteractionStats),
        (status = 403, description = "Supervisors and admins only"),
        (status = 422, description = "`from` after `to`, or more than 366 days (`from` is named)"),
    ))]
fn interaction_stats() {}

/// The customer's next open interaction.
#[utoipa::path(get, path = "/v1/interactions/customers/{customerId}/next", tag = "interactions", params(("customerId" = String, Path)),
    responses((status = 200, description = "The next interaction", body = Interaction), (status = 404, description = "Nothing is next for this customer")))]
fn next_for_customer() {}

/// The customer's open interactions.
#[utoipa::path(get, path = "/v1/interactions/customers/{customerId}/pending", tag = "interactions", params(("customerId" = String, Path), PageQuery),
    responses((status = 200, description = "A page of interactions", body = PageBody<Interaction>), (status = 404, description = "No such customer")))]
fn pending_for_customer() {}

/// The customer's open interactions already due.
#[utoipa::path(get, path = "/v1/interactions/customers/{customerId}/overdue", tag = "interactions", params(("customerId" = String, Path), PageQuery),
    responses((status = 200, description = "A page of interactions", body = PageBody<Interaction>), (status = 404, description = "No such customer")))]
fn overdue_for_customer() {}

/// The organisation's workflow templates (the default one seeded on first read).
#[utoipa::path(get, path = "/v1/interactions/templates", tag = "interactions",
    responses((status = 200, description = "Every template (`next_cursor` is always null)", body = PageBody<WorkflowTemplate>)))]
fn list_workflow_templates() {}

/// Creates a workflow template (admins).
#[utoipa::path(post, path = "/v1/interactions/templates", tag = "interactions", request_body = NewWorkflowTemplate,
    responses(
        (status = 201, description = "Created (`Location` names it)", body = WorkflowTemplate),
        (status = 403, description = "Admins only"),
        (status = 409, description = "Another template is the default"),
    ))]
fn create_workflow_template() {}

/// A workflow template.
#[utoipa::path(get, path = "/v1/interactions/templates/{templateId}", tag = "interactions", params(("templateId" = String, Path)),
    responses((status = 200, description = "The template", body = WorkflowTemplate), (status = 404, description = "No such template")))]
fn get_workflow_template() {}

/// Replaces a workflow template (admins).
#[utoipa::path(put, path = "/v1/interactions/templates/{templateId}", tag = "interactions", params(("templateId" = String, Path)), request_body = NewWorkflowTemplate,
    responses(
        (status = 200, description = "The template", body = WorkflowTemplate),
        (status = 403, description = "Admins only"),
        (status = 404, description = "No such template"),
        (status = 409, description = "Changed concurrently, or another template is the default"),
    ))]
fn replace_workflow_template() {}

/// The organisation's interaction settings.
#[utoipa::path(get, path = "/v1/interactions/settings", tag = "interactions",
    responses((status = 200, description = "The settings", body = InteractionSettings)))]
fn get_interaction_settings() {}

/// Replaces the interaction settings (admins).
#[utoipa::path(put, path = "/v1/interactions/settings", tag = "interactions", request_body = InteractionSettings,
    responses((status = 200, description = "The settings", body = InteractionSettings), (status = 403, description = "Admins only")))]
fn put_interaction_settings() {}

/// An interaction.
#[utoipa::path(get, path = "/v1/interactions/{id}", tag = "interactions", params(("id" = String, Path)),
    responses((status = 200, description = "The interaction", body = Interaction), (status = 404, description = "No such interaction")))]
fn get_interaction() {}

/// Changes any subset of an interaction's editable fields (`null` clears an optional one).
#[utoipa::path(put, path = "/v1/interactions/{id}", tag = "interactions", params(("id" = String, Path)), request_body = InteractionChange,
    responses(
        (status = 200, description = "The interaction", body = Interaction),
        (status = 404, description = "No such interaction"),
        (status = 409, description = "Completed or cancelled already (`current_status`), or changed concurrently"),
    ))]
fn update_interaction() {}

/// Completes an interaction; its next step is queued.
#[utoipa::path(post, path = "/v1/interactions/{id}/complete", tag = "interactions", params(("id" = String, Path)), request_body = Completion,
    responses(
        (status = 200, description = "The interaction", body = Interaction),
        (status = 404, description = "No such interaction"),
        (status = 409, description = "Completed otherwise or cancelled already (`current_status`)"),
    ))]
fn complete_interaction() {}

/// Cancels an interaction.
#[utoipa::path(post, path = "/v1/interactions/{id}/cancel", tag = "interactions", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The interaction", body = Interaction),
        (status = 404, description = "No such interaction"),
        (status = 409, description = "Completed already (`current_status`)"),
    ))]
fn cancel_interaction() {}

/// Starts a workflow for many customers (admins): stores the campaign and queues its start in
/// pages of 100 customers; each customer's first interaction is created once.
#[utoipa::path(post, path = "/v1/campaigns", tag = "campaigns", request_body = NewCampaign,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key answers the first campaign (200) and starts nobody twice")),
    responses(
        (status = 202, description = "The campaign, `starting` (`Location` names it; `GET` it for progress)", body = Campaign),
        (status = 200, description = "Created before with this Idempotency-Key (`Location` names it)", body = Campaign),
        (status = 403, description = "Admins only"),
        (status = 409, description = "The template is inactive"),
    ))]
fn create_campaign() {}

/// The organisation's campaigns, newest first.
#[utoipa::path(get, path = "/v1/campaigns", tag = "campaigns", params(PageQuery),
    responses((status = 200, description = "A page of campaigns", body = PageBody<Campaign>)))]
fn list_campaigns() {}

/// A campaign: its progress (targeted, queued, started, skipped, status) and the metrics of the
/// interactions it created (completed, cancelled, overdue, completion rate).
#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 200, description = "The campaign", body = Campaign), (status = 404, description = "No such campaign")))]
fn get_campaign() {}
