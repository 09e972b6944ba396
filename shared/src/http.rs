//! The HTTP side every API function shares: who is calling, JSON bodies with a size limit, one
//! mapping from errors to `application/problem+json` (RFC 9457), and cursor pagination.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::domain::ids::IdempotencyKey;
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
    /// The role's name as its Cognito group spells it (`agent`, `supervisor`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    /// The Cognito group that grants the role (group names are exact: `Admin` is not `admin`).
    fn from_group(group: &str) -> Option<Self> {
        match group {
            "agent" => Some(Role::Agent),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The strongest role among the `cognito:groups` claim's groups, as the HTTP API authorizer
    /// passes an array claim: `[admin agent]` (brackets, names separated by spaces; Cognito group
    /// names contain no whitespace, but may contain commas, so only whitespace separates them).
    /// Groups that name no role (`billing`) are ignored.
    pub fn strongest_of_groups(claim: &str) -> Option<Self> {
        let inner = claim.trim();
        let inner = inner.strip_prefix('[').and_then(|g| g.strip_suffix(']')).unwrap_or(inner);
        inner.split_whitespace().filter_map(Role::from_group).max()
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
    /// Who the audit trail names for this caller's changes: their user id and the role of the token.
    pub fn audit_actor(&self) -> crate::domain::audit::AuditActor {
        crate::domain::audit::AuditActor { user_id: self.user_id.clone(), role: self.role.as_str().to_string() }
    }

    /// Admins and supervisors manage tickets and settings; agents answer conversations.
    pub fn require(&self, at_least: Role) -> Result<(), Error> {
        if self.role >= at_least {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("needs role {at_least:?} or above").to_lowercase()))
        }
    }
}

/// The claim naming the caller's organisation: a custom attribute the app client cannot write
/// (template.yaml leaves it out of the client's `WriteAttributes`, and it is immutable), set only
/// when an administrator creates the user (`infra/scripts/create-org.sh`).
pub const ORG_CLAIM: &str = "custom:org_id";
/// The claim naming the caller's groups; only an administrator adds a user to a group.
pub const GROUPS_CLAIM: &str = "cognito:groups";

/// Reads the caller from the JWT authorizer's claims, trusting only claims a user cannot write
/// (docs/security.md, "Tenancy" and "Roles"): the organisation from `custom:org_id`, the role
/// from `cognito:groups` (the strongest of `admin`, `supervisor`, `agent`). A `role`,
/// `custom:role` or plain `org_id` claim is ignored: a user may be able to write those.
/// No organisation or no subject is 401 (the token does not say who is calling); a valid
/// caller in none of the role groups is 403 (known, but granted nothing; signing in again
/// would not help).
pub fn caller(req: &Request) -> Result<Caller, Error> {
    let RequestContext::ApiGatewayV2(ctx) = req.request_context() else {
        return Err(Error::Unauthorized);
    };
    let claims = ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|j| &j.claims).ok_or(Error::Unauthorized)?;
    caller_from_claims(claims)
}

/// The caller a token's claims (as API Gateway passes them) speak for, by the rules of
/// [`caller`]: also what the WebSocket's authorizer decides a connection with.
pub fn caller_from_claims(claims: &std::collections::HashMap<String, String>) -> Result<Caller, Error> {
    let claim = |name: &str| claims.get(name).filter(|v| !v.trim().is_empty()).cloned();
    let org_id = claim(ORG_CLAIM).ok_or(Error::Unauthorized)?;
    let user_id = claim("sub").ok_or(Error::Unauthorized)?;
    let role = claim(GROUPS_CLAIM)
        .and_then(|g| Role::strongest_of_groups(&g))
        .ok_or_else(|| Error::Forbidden("the user is in none of the groups admin, supervisor, agent".into()))?;
    Ok(Caller { org_id, user_id, role, name: claim("name").or_else(|| claim("email")) })
}

/// The path split into segments, without empty ones. A segment longer than any id
/// (`ids::MAX_ID_CHARS`) names nothing we store: 404 before a store builds a key from it (a key
/// past DynamoDB's size limit would fail as a 500).
pub fn segments(req: &Request) -> Result<Vec<String>, Error> {
    let path: Vec<String> = req.uri().path().split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
    if path.iter().any(|s| s.chars().count() > crate::domain::ids::MAX_ID_CHARS) {
        return Err(Error::NotFound("resource"));
    }
    Ok(path)
}

/// One query parameter as text (the webhook handshake's `hub.*`, which Meta names, not us).
pub fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref().and_then(|q| q.first(name)).map(str::to_string).filter(|v| !v.is_empty())
}

/// The query string as the route's typed parameters (a struct with `#[serde(deny_unknown_fields)]`
/// and only `Option` fields). The one way every route reads its query: a parameter the route does
/// not know answers 422 naming it (a `skip=50` is never silently ignored), an empty value
/// (`limit=`) answers 422 naming it, a repeated one too, and a value of the wrong type answers 422
/// with what it must be.
pub fn query_params<T: DeserializeOwned>(req: &Request) -> Result<T, Error> {
    let mut pairs: Vec<(&str, &str)> = req.query_string_parameters_ref().map(|q| q.iter().collect()).unwrap_or_default();
    pairs.sort_unstable();
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::invalid(w[0].0, "must be given once"));
    }
    let map = serde::de::value::MapDeserializer::new(pairs.into_iter().map(|(k, v)| (k, query::Value(v))));
    serde_path_to_error::deserialize(map).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        match message.strip_prefix("unknown field `").and_then(|m| m.split_once('`')) {
            Some((name, rest)) => {
                let known = rest.strip_prefix(", expected one of ").or_else(|| rest.strip_prefix(", expected ")).unwrap_or("none");
                Error::invalid(name, format!("is not a query parameter of this route (known: {})", known.replace('`', "")))
            }
            None => Error::invalid(if path == "." { "query".to_string() } else { path }, message),
        }
    })
}

/// The deserializer of one query value: text, numbers, booleans and enum names, never empty.
mod query {
    use serde::de::{self, IntoDeserializer, Visitor};

    pub(super) struct Value<'a>(pub &'a str);

    pub(super) type Error = de::value::Error;

    impl<'de, 'a> IntoDeserializer<'de, Error> for Value<'a> {
        type Deserializer = Self;
        fn into_deserializer(self) -> Self {
            self
        }
    }

    impl<'a> Value<'a> {
        fn number<T: std::str::FromStr>(&self) -> Result<T, Error> {
            self.0.parse().map_err(|_| de::Error::custom("must be an integer"))
        }
    }

    macro_rules! numbers {
        ($($method:ident $visit:ident $t:ty),*) => {$(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                visitor.$visit(self.number::<$t>()?)
            }
        )*};
    }

    impl<'de, 'a> de::Deserializer<'de> for Value<'a> {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.visit_string(self.0.to_string())
        }

        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            if self.0.is_empty() { Err(de::Error::custom("must not be empty")) } else { visitor.visit_some(self) }
        }

        fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.0 {
                "true" => visitor.visit_bool(true),
                "false" => visitor.visit_bool(false),
                _ => Err(de::Error::custom("must be true or false")),
            }
        }

        numbers!(deserialize_i32 visit_i32 i32, deserialize_i64 visit_i64 i64, deserialize_u32 visit_u32 u32, deserialize_u64 visit_u64 u64);

        fn deserialize_enum<V: Visitor<'de>>(self, name: &'static str, variants: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
            let text: de::value::StrDeserializer<'_, Error> = self.0.into_deserializer();
            de::Deserializer::deserialize_enum(text, name, variants, visitor).map_err(|_| de::Error::custom(format!("must be one of: {}", variants.join(", "))))
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
            visitor.visit_newtype_struct(self)
        }

        serde::forward_to_deserialize_any! {
            i8 i16 i128 u8 u16 u128 f32 f64 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
        }
    }
}

fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Parses a JSON body; a wrong field answers 422 naming it, unreadable JSON answers 400. A
/// missing body reads as `{}`. JSON has one number type: `3.0` is the integer 3 wherever an
/// integer is expected, as JSON Schema (and so the contract) reads it.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, Error> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_JSON_BODY {
        return Err(Error::TooLarge { limit: MAX_JSON_BODY, field: None });
    }
    let bytes = if bytes.is_empty() { b"{}".as_slice() } else { bytes };
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Error::BadRequest(format!("body is not valid JSON: {e}")))?;
    // Every body is an object: serde would also read a struct from an array of its fields in
    // order (`[]` for one whose fields are all optional), which no client means.
    if !value.is_object() {
        return Err(Error::invalid("body", "must be a JSON object"));
    }
    integral_floats_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = strip_position(&e.into_inner().to_string());
        // serde reports a missing field at its parent's path; name the field itself.
        let missing = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`'));
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name.to_string(),
            (_, Some(name)) => format!("{path}.{name}"),
            (".", None) => "body".to_string(),
            _ => path,
        };
        Error::invalid(field, message)
    })
}

fn integral_floats_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15) {
                *n = serde_json::Number::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

fn strip_position(message: &str) -> String {
    message.split(" at line ").next().unwrap_or(message).to_string()
}

/// `limit` (1..=100, default 50) and `cursor`, as every paged route's query struct carries them.
pub fn page_request(limit: Option<i32>, cursor: Option<String>) -> Result<PageRequest, Error> {
    let limit = match limit {
        None => DEFAULT_PAGE,
        Some(l) if (1..=MAX_PAGE).contains(&l) => l,
        Some(_) => return Err(Error::invalid("limit", format!("must be an integer from 1 to {MAX_PAGE}"))),
    };
    Ok(PageRequest { limit, cursor })
}

/// The query of a route that only pages: `limit` and `cursor`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub limit: Option<i32>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(self) -> Result<PageRequest, Error> {
        page_request(self.limit, self.cursor)
    }
}

/// A page as the API answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// 204: done, nothing to show.
pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
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
        Error::TooManyWaiting { .. } => (StatusCode::TOO_MANY_REQUESTS, "too-many-waiting", "Too many requests are waiting"),
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
        Error::TooLarge { limit, field: Some(field) } => {
            let reason = format!("must be at most {limit} bytes");
            body["detail"] = json!(format!("{field}: {reason}"));
            body["field"] = json!(field);
            body["invalid_params"] = json!([{ "name": field, "reason": reason }]);
        }
        Error::Backend { service, message } => {
            tracing::error!(service, error = %message, "backend failure");
        }
        other => body["detail"] = json!(other.to_string()),
    }
    let mut response = json(status, &body);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    if let Error::TooManyWaiting { retry_after_secs } = err {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
    }
    response
}

/// The body of every error answer (RFC 9457), as [`problem`] writes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Problem {
    /// `https://max.dev/problems/{slug}`: invalid-field, bad-request, not-found, conflict,
    /// changed-concurrently, forbidden, unauthorized, too-large, too-many-waiting, internal.
    r#type: String,
    title: String,
    /// The HTTP status, repeated.
    status: u16,
    detail: Option<String>,
    /// The invalid field (422): a body field's path, or a query parameter's name.
    field: Option<String>,
    invalid_params: Option<Vec<InvalidParam>>,
    /// The state that refused the change (409).
    current_status: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct InvalidParam {
    name: String,
    reason: String,
}

/// What the API Gateway itself answers (no or a bad token: 401) before a function runs.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct GatewayMessage {
    message: String,
}

/// A list's order, in queries (`order=asc|desc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Asc,
    Desc,
}

/// The query of a route that takes no parameter: any parameter answers 422.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// Turns a handler's result into the answer, errors included.
pub fn respond(result: Result<Response<Body>, Error>) -> Response<Body> {
    result.unwrap_or_else(|e| problem(&e))
}

/// A header as text.
pub fn header_value<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Idempotency keys are short: they become part of a stored key.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The `Idempotency-Key` header, when given: 1 to 200 characters, not blank (422 otherwise), with
/// the fingerprint of this request (method, path, body as canonical JSON: a retry that orders its
/// fields differently is the same request).
pub fn idempotency_key(req: &Request) -> Result<Option<IdempotencyKey>, Error> {
    let key = match req.headers().get("idempotency-key") {
        None => return Ok(None),
        Some(v) => match v.to_str() {
            Ok(k) if !k.trim().is_empty() && k.chars().count() <= MAX_IDEMPOTENCY_KEY => k,
            _ => return Err(Error::invalid("Idempotency-Key", format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible characters"))),
        },
    };
    let body = body_bytes(req);
    // serde_json's maps are sorted: the same fields in any order serialise alike.
    let canonical = serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| serde_json::to_vec(&v).ok());
    let mut request = format!("{} {}\n", req.method(), req.uri().path()).into_bytes();
    request.extend_from_slice(canonical.as_deref().unwrap_or(body));
    Ok(Some(IdempotencyKey::for_request(key, &request)))
}

/// The raw body bytes (webhooks verify signatures over exactly these).
pub fn raw_body(req: &Request) -> &[u8] {
    body_bytes(req)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Q {
        limit: Option<i32>,
        status: Option<Order>,
        flag: Option<bool>,
        name: Option<String>,
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<Q, Error> {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            map.entry(k.to_string()).or_default().push(v.to_string());
        }
        query_params(&Request::default().with_query_string_parameters(map))
    }

    fn refused(pairs: &[(&str, &str)]) -> (String, String) {
        match parse(pairs) {
            Err(Error::Invalid { field, reason }) => (field, reason),
            other => panic!("{pairs:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn query_parameters_parse_into_their_types() {
        let q = parse(&[("limit", "7"), ("status", "desc"), ("flag", "true"), ("name", "a b")]).unwrap();
        assert_eq!((q.limit, q.status, q.flag, q.name.as_deref()), (Some(7), Some(Order::Desc), Some(true), Some("a b")));
        assert!(parse(&[]).unwrap().limit.is_none());
    }

    #[test]
    fn unknown_empty_repeated_or_mistyped_parameters_answer_422_naming_them() {
        assert_eq!(refused(&[("skip", "50")]).0, "skip");
        assert!(refused(&[("skip", "50")]).1.contains("limit"), "the reason lists the known ones");
        assert_eq!(refused(&[("limit", "")]), ("limit".into(), "must not be empty".into()));
        assert_eq!(refused(&[("name", "")]).0, "name");
        assert_eq!(refused(&[("limit", "1"), ("limit", "2")]).0, "limit");
        assert_eq!(refused(&[("limit", "ten")]).0, "limit");
        assert_eq!(refused(&[("status", "sideways")]), ("status".into(), "must be one of: asc, desc".into()));
        assert_eq!(refused(&[("flag", "yes")]).0, "flag");
    }

    /// A request as the HTTP API authorizer hands it over, with these claims.
    fn with_claims(claims: serde_json::Value) -> Request {
        let event = json!({
            "version": "2.0", "routeKey": "GET /v1/x", "rawPath": "/v1/x", "rawQueryString": "", "headers": {},
            "requestContext": {
                "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d", "requestId": "r",
                "routeKey": "GET /v1/x", "stage": "$default", "time": "t", "timeEpoch": 0,
                "http": { "method": "GET", "path": "/v1/x", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t" },
                "authorizer": { "jwt": { "claims": claims, "scopes": null } }
            },
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).expect("an HTTP API v2 event")
    }

    fn role_of(claims: serde_json::Value) -> Result<Role, Error> {
        caller(&with_claims(claims)).map(|c| c.role)
    }

    #[test]
    fn the_role_is_the_strongest_role_group() {
        let groups = |g: &str| role_of(json!({ "sub": "u1", "custom:org_id": "o1", "cognito:groups": g })).ok();
        assert_eq!(groups("[agent]"), Some(Role::Agent));
        assert_eq!(groups("[supervisor]"), Some(Role::Supervisor));
        assert_eq!(groups("[agent admin supervisor]"), Some(Role::Admin));
        assert_eq!(groups("[billing supervisor]"), Some(Role::Supervisor), "groups naming no role are ignored");
        assert_eq!(groups("admin"), Some(Role::Admin), "one group without brackets");
        assert_eq!(groups("[Admin]"), None, "group names are exact");
        assert_eq!(groups("[x,admin]"), None, "a comma is part of a group's name, not a separator");
    }

    #[test]
    fn role_claims_a_user_could_write_grant_nothing() {
        // GIVEN a token whose attributes say admin but whose groups say agent
        let claims = json!({ "sub": "u1", "custom:org_id": "o1", "role": "admin", "custom:role": "admin", "cognito:groups": "[agent]" });
        // THEN the caller is an agent
        assert_eq!(role_of(claims).unwrap(), Role::Agent);
        // AND attributes without a role group are no role at all: 403
        for claims in [
            json!({ "sub": "u1", "custom:org_id": "o1", "role": "admin", "custom:role": "admin" }),
            json!({ "sub": "u1", "custom:org_id": "o1", "cognito:groups": "[]" }),
            json!({ "sub": "u1", "custom:org_id": "o1", "cognito:groups": "[billing]" }),
        ] {
            assert!(matches!(role_of(claims.clone()), Err(Error::Forbidden(_))), "{claims}");
        }
    }

    #[test]
    fn the_organisation_comes_only_from_custom_org_id() {
        let c = caller(&with_claims(json!({ "sub": "u1", "custom:org_id": "o1", "org_id": "o2", "cognito:groups": "[agent]", "name": "Al" }))).unwrap();
        assert_eq!((c.org_id.as_str(), c.user_id.as_str(), c.name.as_deref()), ("o1", "u1", Some("Al")));
        for claims in [
            json!({ "sub": "u1", "org_id": "o2", "cognito:groups": "[admin]" }),
            json!({ "sub": "u1", "custom:org_id": "", "cognito:groups": "[admin]" }),
            json!({ "sub": "u1", "custom:org_id": " ", "cognito:groups": "[admin]" }),
            json!({ "custom:org_id": "o1", "cognito:groups": "[admin]" }),
        ] {
            assert!(matches!(caller(&with_claims(claims.clone())), Err(Error::Unauthorized)), "{claims}");
        }
    }

    #[test]
    fn too_many_waiting_answers_429_with_retry_after() {
        let response = problem(&Error::TooManyWaiting { retry_after_secs: 7 });
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
    }

    #[test]
    fn a_path_segment_longer_than_any_id_names_nothing() {
        let req = |path: String| {
            let mut r = Request::new(Body::Empty);
            *r.uri_mut() = path.parse().unwrap();
            r
        };
        assert_eq!(segments(&req("/v1/customers/01J".into())).unwrap(), ["v1", "customers", "01J"]);
        let long = "A".repeat(crate::domain::ids::MAX_ID_CHARS + 1);
        assert!(matches!(segments(&req(format!("/v1/customers/{long}"))), Err(Error::NotFound(_))));
    }

    #[test]
    fn limits_have_bounds() {
        assert_eq!(page_request(None, None).unwrap().limit, DEFAULT_PAGE);
        assert!(page_request(Some(0), None).is_err() && page_request(Some(MAX_PAGE + 1), None).is_err());
        assert_eq!(page_request(Some(MAX_PAGE), None).unwrap().limit, MAX_PAGE);
    }

    #[test]
    fn a_body_is_an_object_never_an_array_of_fields() {
        let with_body = |text: &str| Request::new(Body::from(text.to_string()));
        for array in ["[]", "[null, null]", "[50, null, null, null]"] {
            match json_body::<Q>(&with_body(array)) {
                Err(Error::Invalid { field, .. }) => assert_eq!(field, "body", "{array}"),
                other => panic!("{array} read as {other:?}"),
            }
        }
        assert_eq!(json_body::<Q>(&with_body(r#"{"limit": 5}"#)).unwrap().limit, Some(5));
        assert!(json_body::<Q>(&with_body("")).unwrap().limit.is_none(), "no body is an empty object");
    }
}
