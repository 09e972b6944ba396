#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of this function's routes (OpenAPI, assembled by max-dev). The statuses every
//! route shares (401, 422 for the query, 500; 400/413 for a body) are added there, once.

use max_core::app::whatsapp_templates::SyncReport;
use max_core::domain::whatsapp_template::{NewTemplate, WhatsAppTemplate};
use max_core::http::PageBody;
use utoipa::OpenApi;

use crate::TemplatesQuery;

#[derive(OpenApi)]
#[openapi(paths(list_templates, get_template, submit_template, delete_template, sync_templates))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// The organisation's WhatsApp message templates, by name then language, with their review
/// status and quality as Meta's webhooks last told.
#[utoipa::path(get, path = "/v1/whatsapp-templates", tag = "whatsapp-templates", params(TemplatesQuery),
    responses((status = 200, description = "A page of templates", body = PageBody<WhatsAppTemplate>)))]
fn list_templates() {}

/// One template, by Meta's id.
#[utoipa::path(get, path = "/v1/whatsapp-templates/{id}", tag = "whatsapp-templates",
    params(("id" = String, Path, description = "Meta's template id")),
    responses(
        (status = 200, description = "The template", body = WhatsAppTemplate),
        (status = 404, description = "No such template of the organisation"),
    ))]
fn get_template() {}

/// Submits a template to Meta for review (admins), after checking it as Meta does (name, language,
/// category, components, variables and their samples): answers it `PENDING` with Meta's id. Its
/// status webhooks move it later, and tell the admin who submitted it.
#[utoipa::path(post, path = "/v1/whatsapp-templates", tag = "whatsapp-templates", request_body = NewTemplate,
    responses(
        (status = 201, description = "Submitted to Meta", body = WhatsAppTemplate),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "The named `waba_id` has no number of the organisation"),
        (status = 409, description = "The organisation has no WhatsApp number registered with a token, or numbers in several WhatsApp Business Accounts and no `waba_id` named"),
        (status = 422, description = "A field Meta would refuse (named), or Meta refused it (`template`)"),
    ))]
fn submit_template() {}

/// Deletes a template at Meta and in MAX (admins).
#[utoipa::path(delete, path = "/v1/whatsapp-templates/{id}", tag = "whatsapp-templates",
    params(("id" = String, Path, description = "Meta's template id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such template of the organisation"),
        (status = 409, description = "No number of the organisation is left in the template's WhatsApp Business Account"),
        (status = 422, description = "Meta refused the deletion (`template`)"),
    ))]
fn delete_template() {}

/// Reads Meta's list of the organisation's templates and brings MAX's records to it (admins):
/// templates made in Meta's tools appear.
#[utoipa::path(post, path = "/v1/whatsapp-templates/sync", tag = "whatsapp-templates",
    responses(
        (status = 200, description = "What the sync changed", body = SyncReport),
        (status = 403, description = "Not an admin"),
        (status = 409, description = "The organisation has no WhatsApp number registered with a token"),
        (status = 422, description = "Meta refused the request (`template`)"),
    ))]
fn sync_templates() {}
