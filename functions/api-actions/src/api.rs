#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of the actions API (OpenAPI, assembled by max-dev).

use max_core::app::actions::{ActionView, TemplatesView};
use max_core::domain::action::{Action, NewAction};
use max_core::domain::response_template::TemplateSettingsRequest;
use max_core::http::PageBody;
use utoipa::OpenApi;

use crate::ListQuery;
use max_core::domain::action::details_schema;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

#[derive(OpenApi)]
#[openapi(paths(create_action, list_actions, get_action, approve_action, deny_action, edit_action, action_feedback, get_action_response_templates, put_action_response_templates))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// Proposes an action in a conversation (shown to agents as an action bubble).
#[utoipa::path(post, path = "/v1/actions", tag = "actions",
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key answers the first action (200)")),
    request_body = NewAction,
    responses(
        (status = 201, description = "Created", body = Action),
        (status = 200, description = "Created before with this Idempotency-Key", body = Action),
        (status = 404, description = "No such conversation"),
        (status = 409, description = "The Idempotency-Key was used for another request"),
    ))]
fn create_action() {}

/// Actions, newest first.
#[utoipa::path(get, path = "/v1/actions", tag = "actions", params(ListQuery),
    responses((status = 200, description = "A page of actions", body = PageBody<Action>)))]
fn list_actions() {}

/// An action with its decision and its answer's delivery status.
#[utoipa::path(get, path = "/v1/actions/{id}", tag = "actions", params(("id" = String, Path)),
    responses((status = 200, description = "The action", body = ActionView), (status = 404, description = "No such action")))]
fn get_action() {}

/// Approves the action; the customer is told.
#[utoipa::path(post, path = "/v1/actions/{id}/approve", tag = "actions", params(("id" = String, Path)), request_body = ApproveOrDeny,
    responses(
        (status = 200, description = "The action, decided", body = Action),
        (status = 404, description = "No such action"),
        (status = 409, description = "Decided otherwise already (`current_status`)"),
    ))]
fn approve_action() {}

/// Denies the action; the customer is told.
#[utoipa::path(post, path = "/v1/actions/{id}/deny", tag = "actions", params(("id" = String, Path)), request_body = ApproveOrDeny,
    responses(
        (status = 200, description = "The action, decided", body = Action),
        (status = 404, description = "No such action"),
        (status = 409, description = "Decided otherwise already (`current_status`)"),
    ))]
fn deny_action() {}

/// Approves the action with changes to its details (`changes` required).
#[utoipa::path(post, path = "/v1/actions/{id}/edit", tag = "actions", params(("id" = String, Path)), request_body = EditDecision,
    responses(
        (status = 200, description = "The action, decided", body = Action),
        (status = 404, description = "No such action"),
        (status = 409, description = "Decided otherwise already (`current_status`)"),
    ))]
fn edit_action() {}

/// The seed design's single decision endpoint.
#[utoipa::path(post, path = "/v1/action-feedback", tag = "actions", request_body = ActionFeedback,
    responses(
        (status = 200, description = "The action, decided", body = Action),
        (status = 404, description = "No such action"),
        (status = 409, description = "Decided otherwise already (`current_status`)"),
    ))]
fn action_feedback() {}

/// Every action type's answer template in force, and where it comes from (admins).
#[utoipa::path(get, path = "/v1/action-response-templates", tag = "actions",
    responses((status = 200, description = "The templates", body = TemplatesView), (status = 403, description = "Admins only")))]
fn get_action_response_templates() {}

/// Replaces the organisation's own action types and templates (admins).
#[utoipa::path(put, path = "/v1/action-response-templates", tag = "actions", request_body = TemplateSettingsRequest,
    responses(
        (status = 200, description = "The templates", body = TemplatesView),
        (status = 403, description = "Admins only"),
        (status = 409, description = "Saved by someone else since `version`"),
    ))]
fn put_action_response_templates() {}

// The request bodies as each operation takes them (the handlers read them as `DecisionBody` and
// `FeedbackBody`, then `DecisionRequest::new` applies these rules).

/// `approve` and `deny` take no changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ApproveOrDeny {
    /// What the customer is told (`{{user_response}}` in the templates); the proposed reply when absent.
    #[schema(max_length = 2048)]
    reply_text: Option<String>,
}

/// `edit` needs its changes to the details (`null` removes a field).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EditDecision {
    #[schema(max_length = 2048)]
    reply_text: Option<String>,
    #[schema(schema_with = changes_schema)]
    changes: Map<String, Value>,
}

fn changes_schema() -> utoipa::openapi::Object {
    let mut changes = details_schema();
    changes.min_properties = Some(1);
    changes
}

/// The seed design's body: a decision, or an edit with its changes.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum ActionFeedback {
    Decide(FeedbackDecision),
    Edit(FeedbackEdit),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FeedbackDecision {
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    action_id: String,
    #[schema(pattern = "^(approved|denied)$")]
    status: String,
    #[schema(max_length = 2048)]
    user_response: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FeedbackEdit {
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    action_id: String,
    #[schema(pattern = "^edited$")]
    status: String,
    #[schema(max_length = 2048)]
    user_response: Option<String>,
    #[schema(schema_with = changes_schema)]
    changes: Map<String, Value>,
}
