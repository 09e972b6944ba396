//! The HTTP side every API function shares: who is calling, JSON bodies with a size limit, one
//! mapping from errors to `application/problem+json` (RFC 9457), and cursor pagination.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::Error;
use crate::ports::PageRequest;

/// API bodies are small JSON documents.
pub const MAX_JSON_BODY: usize = 256 * 1024;
pub const DEFAULT_PAGE: i32 = 50;
pub const MAX_PAGE: i32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
}

impl Role {
    fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "agent" => Some(Role::Agent),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The authenticated caller, from the JWT authorizer's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub org_id: String,
    pub user_id: String,
    pub role: Role,
    pub name: Option<String>,
}

impl Caller {
    /// Admins and supervisors manage tickets and settings; agents answer conversations.
    pub fn require(&self, at_least: Role) -> Result<(), Error> {
        if self.role >= at_least {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("needs role {at_least:?} or above").to_lowercase()))
        }
    }
}

/// Reads the caller from the request context. Cognito puts custom attributes under `custom:`;
/// groups (`cognito:groups`) may carry the role instead.
pub fn caller(req: &Request) -> Result<Caller, Error> {
    let RequestContext::ApiGatewayV2(ctx) = req.request_context() else {
        return Err(Error::Unauthorized);
    };
    let claims = ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|j| &j.claims).ok_or(Error::Unauthorized)?;
    let claim = |names: &[&str]| names.iter().find_map(|n| claims.get(*n)).filter(|v| !v.is_empty()).cloned();
    let org_id = claim(&["org_id", "custom:org_id"]).ok_or(Error::Unauthorized)?;
    let user_id = claim(&["sub"]).ok_or(Error::Unauthorized)?;
    let role = claim(&["role", "custom:role"])
        .and_then(|r| Role::parse(&r))
        .or_else(|| {
            // `cognito:groups` arrives as "[admin agent]" from an HTTP API authorizer.
            claim(&["cognito:groups"]).and_then(|g| {
                g.trim_matches(|c| c == '[' || c == ']').split([' ', ',']).filter_map(Role::parse).max()
            })
        })
        .unwrap_or(Role::Agent);
    Ok(Caller { org_id, user_id, role, name: claim(&["name", "email"]) })
}

/// The path split into segments, without empty ones.
pub fn segments(req: &Request) -> Vec<String> {
    req.uri().path().split('/').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

pub fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref().and_then(|q| q.first(name)).map(str::to_string).filter(|v| !v.is_empty())
}

fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Parses a JSON body; a wrong field answers 422 naming it, unreadable JSON answers 400.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, Error> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_JSON_BODY {
        return Err(Error::TooLarge { limit: MAX_JSON_BODY });
    }
    let bytes = if bytes.is_empty() { b"{}".as_slice() } else { bytes };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Error::BadRequest(format!("body is not valid JSON: {inner}"))
        } else {
            let message = strip_position(&inner.to_string());
            // serde reports a missing field at its parent's path; name the field itself.
            let missing = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`'));
            let field = match (path.as_str(), missing) {
                (".", Some(name)) => name.to_string(),
                (_, Some(name)) => format!("{path}.{name}"),
                (".", None) => "body".to_string(),
                _ => path,
            };
            Error::invalid(field, message)
        }
    })
}

fn strip_position(message: &str) -> String {
    message.split(" at line ").next().unwrap_or(message).to_string()
}

/// `limit` (1..=100, default 50) and `cursor` from the query string.
pub fn page_request(req: &Request) -> Result<PageRequest, Error> {
    let limit = match query(req, "limit") {
        None => DEFAULT_PAGE,
        Some(l) => l
            .parse::<i32>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| Error::invalid("limit", format!("must be an integer from 1 to {MAX_PAGE}")))?,
    };
    Ok(PageRequest { limit, cursor: query(req, "cursor") })
}

/// A page as the API answers it.
#[derive(Debug, Serialize)]
pub struct PageBody<T: Serialize> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string());
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub fn ok<T: Serialize>(value: &T) -> Response<Body> {
    json(StatusCode::OK, value)
}

pub fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// The one mapping from errors to answers. Backend details go to the log, never to the caller.
pub fn problem(err: &Error) -> Response<Body> {
    let (status, slug, title) = match err {
        Error::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", "A field is invalid"),
        Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "The request cannot be read"),
        Error::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
        Error::Conflict { .. } => (StatusCode::CONFLICT, "conflict", "The current state does not allow this"),
        Error::LostUpdate(_) => (StatusCode::CONFLICT, "changed-concurrently", "Changed concurrently; try again"),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Not allowed for this role"),
        Error::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required"),
        Error::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too-large", "The body is too large"),
        Error::Backend { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Something went wrong on our side"),
    };
    let mut body = json!({
        "type": format!("https://max.dev/problems/{slug}"),
        "title": title,
        "status": status.as_u16(),
    });
    match err {
        Error::Invalid { field, reason } => {
            body["detail"] = json!(format!("{field}: {reason}"));
            body["field"] = json!(field);
            body["invalid_params"] = json!([{ "name": field, "reason": reason }]);
        }
        Error::Conflict { detail, current } => {
            body["detail"] = json!(detail);
            if let Some(c) = current {
                body["current_status"] = json!(c);
            }
        }
        Error::Backend { service, message } => {
            tracing::error!(service, error = %message, "backend failure");
        }
        other => body["detail"] = json!(other.to_string()),
    }
    let mut response = json(status, &body);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    response
}

/// Turns a handler's result into the answer, errors included.
pub fn respond(result: Result<Response<Body>, Error>) -> Response<Body> {
    result.unwrap_or_else(|e| problem(&e))
}

/// A header as text.
pub fn header_value<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The raw body bytes (webhooks verify signatures over exactly these).
pub fn raw_body(req: &Request) -> &[u8] {
    body_bytes(req)
}
