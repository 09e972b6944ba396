//! The HTTP contract, assembled in one place from the functions' own routes and types
//! (`<function>::api::openapi()`, derived with utoipa): served by the dev gateway at
//! `/openapi.json` and `/openapi.yaml`, written to `infra/openapi.yaml` by `make openapi`, and
//! checked for drift by `cargo test`. The Lambda binaries never build it.

use max_core::http::{GatewayMessage, InvalidParam, Problem};
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, ServerBuilder};
use utoipa::{PartialSchema, ToSchema};

/// Where the committed copy lives, relative to the repository root.
pub const COMMITTED: &str = "infra/openapi.yaml";

const PROBLEM_JSON: &str = "application/problem+json";

/// The whole API: every HTTP function's operations, with the statuses they all share.
pub fn document() -> OpenApi {
    let info = InfoBuilder::new()
        .title("MAX HTTP API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "WhatsApp-first customer engagement backend. Every /v1 route needs a Cognito ID token: the organisation comes \
             from `custom:org_id`, the user from `sub`, the role from `cognito:groups` (`agent`, `supervisor`, `admin`). Errors are application/problem+json \
             (RFC 9457). Generated from the code (`make openapi`); do not edit by hand.",
        ))
        .build();
    let components = ComponentsBuilder::new()
        .security_scheme("cognitoJwt", SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()))
        .schema(Problem::name(), Problem::schema())
        .schema(InvalidParam::name(), InvalidParam::schema())
        .schema(GatewayMessage::name(), GatewayMessage::schema())
        .build();
    let mut doc = OpenApiBuilder::new()
        .info(info)
        .servers(Some([ServerBuilder::new().url("http://127.0.0.1:3000").description(Some("make dev")).build()]))
        .components(Some(components))
        .security(Some([SecurityRequirement::new("cognitoJwt", Vec::<String>::new())]))
        .build();
    for part in [
        whatsapp_webhook::api::openapi(),
        chat_app_webhook::api::openapi(),
        voice_webhook::api::openapi(),
        api_conversations::api::openapi(),
        api_customers::api::openapi(),
        api_support::api::openapi(),
        api_channels::api::openapi(),
        api_actions::api::openapi(),
        api_events::api::openapi(),
        api_interactions::api::openapi(),
        api_calls::api::openapi(),
        api_whatsapp_templates::api::openapi(),
        api_canned_responses::api::openapi(),
        api_webhooks::api::openapi(),
        api_teams::api::openapi(),
        api_media::api::openapi(),
    ] {
        // Two types with one schema name would silently become one: refuse it.
        let (ours, theirs) = (doc.components.as_ref().map(|c| &c.schemas), part.components.as_ref().map(|c| &c.schemas));
        for (name, schema) in theirs.into_iter().flatten() {
            if let Some(existing) = ours.and_then(|o| o.get(name)) {
                let same = serde_json::to_value(existing).ok() == serde_json::to_value(schema).ok();
                assert!(same, "two different types are named {name} in the contract: rename one (`#[schema(as = ...)]`)");
            }
        }
        doc.merge(part);
    }
    let schemas = doc.components.as_ref().map(|c| c.schemas.clone()).unwrap_or_default();
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in operations(item) {
            shared_statuses(path, op);
            optional_body(op, &schemas);
        }
    }
    doc
}

/// The document as YAML, exactly as committed.
pub fn yaml() -> String {
    serde_yaml::to_string(&document()).expect("the OpenAPI document serialises")
}

pub fn json() -> String {
    document().to_pretty_json().expect("the OpenAPI document serialises")
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().filter_map(Option::as_mut)
}

/// A body whose fields are all optional may be left out (`http::json_body` reads none as `{}`).
fn optional_body(op: &mut Operation, schemas: &std::collections::BTreeMap<String, RefOr<Schema>>) {
    let Some(body) = &mut op.request_body else { return };
    let all_optional = body.content.values().all(|c| {
        let schema = match &c.schema {
            Some(RefOr::Ref(r)) => schemas.get(r.ref_location.trim_start_matches("#/components/schemas/")),
            other => other.as_ref(),
        };
        matches!(schema, Some(RefOr::T(Schema::Object(o))) if o.required.is_empty())
    });
    if all_optional {
        body.required = Some(utoipa::openapi::Required::False);
    }
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name(Problem::name()))).build())
        .build()
        .into()
}

/// What every operation can answer besides its own statuses, described once: the gateway's and
/// the function's 401, 422 for a query parameter that is unknown, empty or invalid (and for an
/// `Idempotency-Key` reused with another request), 404 for a path id (at most
/// `ids::MAX_ID_CHARS`), 400 and 413 for a body, 500 when a backend fails. Every error answer
/// carries the problem+json body.
/// The routes without the JWT authorizer: each call is signed by its sender.
fn signed(path: &str) -> bool {
    path.starts_with("/webhooks/") || matches!(path, "/v1/channels/chat-app/messages" | "/v1/channels/chat-app/statuses")
}

fn shared_statuses(path: &str, op: &mut Operation) {
    let params = op.parameters.iter().flatten();
    let has_path_id = params.clone().any(|p| p.parameter_in == ParameterIn::Path);
    let keyed = params.clone().any(|p| p.name == "Idempotency-Key");
    let responses = &mut op.responses.responses;
    let mut add = |status: &str, response: RefOr<utoipa::openapi::Response>| {
        responses.entry(status.to_string()).or_insert(response);
    };
    if signed(path) {
        // Public: Meta, the voice provider and the organisations' chat apps authenticate with
        // their signatures, not a token.
        op.security = Some(Vec::new());
    } else {
        let unauthorized = ResponseBuilder::new()
            .description("No token, or one the authorizer refuses (the gateway's `{message}`), or claims without an organisation or user")
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(GatewayMessage::name()))).build())
            .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name(Problem::name()))).build())
            .build();
        add("401", unauthorized.into());
        if keyed {
            add(
                "422",
                problem("A query parameter is unknown, empty or invalid, a body field is invalid, or the `Idempotency-Key` was used with another request (`field` names it)"),
            );
        }
        add("422", problem("A query parameter is unknown, empty or invalid, or a body field is invalid (`field` names it)"));
    }
    if has_path_id {
        add("404", problem("Nothing with this id in the caller's organisation (ids are at most 128 characters)"));
    }
    if op.request_body.is_some() {
        add("400", problem("The body is not JSON"));
        add("413", problem("The body is too large"));
    }
    add("500", problem("A backend failed; try again"));
    // Statuses the routes list with a description only get the problem body.
    for (status, response) in op.responses.responses.iter_mut() {
        if let (RefOr::T(r), true) = (response, status.as_str() >= "400")
            && r.content.is_empty() {
                r.content.insert(PROBLEM_JSON.to_string(), ContentBuilder::new().schema(Some(Ref::from_schema_name(Problem::name()))).build());
            }
    }
    for p in op.parameters.iter_mut().flatten() {
        let Some(RefOr::T(Schema::Object(o))) = &mut p.schema else { continue };
        if p.parameter_in == ParameterIn::Path {
            // An empty path segment never reaches a route; a longer one than any id answers 404.
            o.min_length = Some(1);
            o.max_length = Some(max_core::domain::ids::MAX_ID_CHARS);
        } else if p.name == "Idempotency-Key" {
            // `http::idempotency_key`: 1 to 200 visible characters.
            o.min_length = Some(1);
            o.max_length = Some(max_core::http::MAX_IDEMPOTENCY_KEY);
            o.pattern = Some("^[ -~]*[!-~][ -~]*$".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    /// The committed contract is what the code generates: `make openapi` rewrites it.
    #[test]
    fn committed_openapi_is_generated_from_the_code() {
        let committed = std::fs::read_to_string(crate::repo_root().join(super::COMMITTED)).unwrap_or_default();
        let generated = super::yaml();
        if committed != generated {
            let line = committed.lines().zip(generated.lines()).position(|(a, b)| a != b).map_or(0, |i| i + 1);
            panic!("{} differs from the code's contract (first at line {line}): run `make openapi` and commit it", super::COMMITTED);
        }
    }
}
