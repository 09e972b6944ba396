//! The dev gateway: serves every HTTP function on one port with template.yaml's routes, checks dev
//! JWTs like the authorizer, and hands each function the API Gateway v2 event AWS would send.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use max_core::adapters::graph::Sandbox;
use max_core::adapters::twilio::VoiceSandbox;
use max_core::config::Deps;
use max_core::telemetry::AwsCalls;
use serde_json::{Value, json};

use crate::registry;
use crate::template::{HttpRoute, match_path};
use crate::tokens::{DevTokens, TokenRequest};

/// API Gateway's own payload limit; the functions apply their stricter ones.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

pub struct Gateway {
    /// Set once the stack is seeded: `/health` answers 503 until then.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    pub deps: Arc<Deps>,
    pub routes: Vec<HttpRoute>,
    pub tokens: DevTokens,
    pub sandbox: Option<Arc<Sandbox>>,
    /// The sandbox serves the files of the media ids in webhook bodies (`DevOptions::sandbox_media`).
    pub sandbox_media: bool,
    /// The voice sandbox (`GET /dev/calls`, `POST /dev/calls/{provider_call_id}`), unless calls go
    /// to Twilio.
    pub voice_sandbox: Option<Arc<VoiceSandbox>>,
    /// The functions template.yaml runs on a schedule (`POST /dev/schedules/{function}` runs one now).
    pub scheduled: Vec<String>,
    /// The contract generated from the code (`crate::openapi`), as YAML and as JSON.
    pub openapi_yaml: String,
    pub openapi_json: String,
    /// Posts the voice sandbox's callbacks.
    pub http: reqwest::Client,
    /// This gateway's own URL.
    pub url: String,
    /// The dashboards' WebSocket API from template.yaml (`crate::live`), if it has one.
    pub websocket: Option<crate::template::WebSocketDef>,
    /// Its open connections.
    pub sockets: crate::live::Sockets,
    /// Told after every function invocation (the stream pollers read then).
    pub writes: Arc<crate::pollers::Writes>,
}

pub fn router(gateway: Arc<Gateway>) -> Router {
    let mut router = Router::new();
    if let Some(api) = &gateway.websocket {
        // The stage's path, as the deployed API's URL ends (`wss://…/live`).
        router = router.route(&format!("/{}", api.stage), get(crate::live::connect));
    }
    router
        .route("/health", get(health))
        .route("/openapi.yaml", get(openapi_yaml))
        .route("/openapi.json", get(openapi_json))
        .route("/dev/outbox", get(outbox))
        .route("/dev/metrics", get(metrics))
        .route("/dev/tokens", post(mint_token))
        .route("/dev/schedules/{function}", post(run_schedule_now))
        .route("/dev/calls", get(sandbox_calls))
        .route("/dev/calls/{provider_call_id}", post(play_call))
        .route("/dev/whatsapp/templates/{name}", post(play_template_status))
        .route("/@connections/{id}", post(crate::live::post_to_connection).delete(crate::live::delete_connection))
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD))
        .with_state(gateway)
}

async fn health(State(g): State<Arc<Gateway>>) -> Response {
    if g.ready.load(std::sync::atomic::Ordering::Acquire) {
        axum::Json(json!({ "status": "ok" })).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "status": "starting" }))).into_response()
    }
}

async fn openapi_yaml(State(g): State<Arc<Gateway>>) -> Response {
    ([(header::CONTENT_TYPE, "application/yaml")], g.openapi_yaml.clone()).into_response()
}

async fn openapi_json(State(g): State<Arc<Gateway>>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], g.openapi_json.clone()).into_response()
}

async fn outbox(State(g): State<Arc<Gateway>>) -> Response {
    match &g.sandbox {
        Some(s) => axum::Json(json!({ "items": s.outbox() })).into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({ "message": "the WhatsApp sandbox is off: sends go to the Graph API" }))).into_response(),
    }
}

async fn metrics() -> Response {
    axum::Json(json!({ "aws_calls": AwsCalls::now() })).into_response()
}

/// `POST /dev/tokens`: a signed token for any user (`{org_id, groups, sub, claims?}`), so tests
/// and tools act as anyone. Only the dev gateway has this route (it is no function of
/// template.yaml), and it answers loopback peers only: whoever reaches it can be anyone.
async fn mint_token(State(g): State<Arc<Gateway>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: Bytes) -> Response {
    if !peer.ip().is_loopback() {
        return gateway_error(StatusCode::FORBIDDEN, "dev tokens are minted for loopback callers only");
    }
    let request: TokenRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return gateway_error(StatusCode::UNPROCESSABLE_ENTITY, &format!("body must be {{org_id, groups, sub, claims?}}: {e}")),
    };
    if request.org_id.trim().is_empty() || request.sub.trim().is_empty() {
        return gateway_error(StatusCode::UNPROCESSABLE_ENTITY, "org_id and sub must not be empty");
    }
    let token = g.tokens.mint_for(&request);
    axum::Json(json!({ "token": token, "token_type": "Bearer" })).into_response()
}

/// `POST /dev/schedules/{function}?at=`: the dev clock of one run (RFC 3339), so a test or a
/// person tries what a schedule does later (an SLA deadline an hour away) without waiting.
#[derive(serde::Deserialize)]
struct ScheduleAt {
    at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `POST /dev/schedules/{function}`: runs a scheduled function now (or at `?at=`, its clock set
/// there for this run only), with the event EventBridge would send, and answers once it finished,
/// so tests and tools need not wait for its minute. Loopback only, like the tokens.
async fn run_schedule_now(
    State(g): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(function): Path<String>,
    axum::extract::Query(when): axum::extract::Query<ScheduleAt>,
) -> Response {
    if !peer.ip().is_loopback() {
        return gateway_error(StatusCode::FORBIDDEN, "scheduled functions are run for loopback callers only");
    }
    if !g.scheduled.contains(&function) {
        return gateway_error(StatusCode::NOT_FOUND, &format!("no scheduled function {function}; template.yaml schedules {}", g.scheduled.join(", ")));
    }
    let moved;
    let deps = match when.at {
        Some(at) => {
            let d = &g.deps;
            moved = Deps {
                settings: d.settings.clone(),
                store: d.store.clone(),
                outbox: d.outbox.clone(),
                blobs: d.blobs.clone(),
                whatsapp: d.whatsapp.clone(),
                secrets: d.secrets.clone(),
                voice: d.voice.clone(),
                webhooks: d.webhooks.clone(),
                live: d.live.clone(),
                identity: d.identity.clone(),
                tokens: d.tokens.clone(),
                clock: Arc::new(max_core::adapters::memory::ManualClock::at(at)),
            };
            &moved
        }
        None => &*g.deps,
    };
    let outcome = registry::invoke_schedule(&function, crate::pollers::scheduled_event(), deps).await;
    g.writes.happened();
    match outcome {
        Some(Ok(())) => axum::Json(json!({ "function": function, "ran": true })).into_response(),
        Some(Err(e)) => gateway_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{function} failed: {e}")),
        None => gateway_error(StatusCode::NOT_IMPLEMENTED, &format!("{function} is scheduled in template.yaml but not registered in the dev gateway")),
    }
}

/// `GET /dev/calls`: the calls the voice sandbox was asked to place, oldest first.
async fn sandbox_calls(State(g): State<Arc<Gateway>>) -> Response {
    match &g.voice_sandbox {
        Some(s) => axum::Json(json!({ "items": s.calls() })).into_response(),
        None => gateway_error(StatusCode::NOT_FOUND, "the voice sandbox is off: calls go to Twilio"),
    }
}

/// `POST /dev/calls/{provider_call_id}` `{answer, digits?, speech?}`: plays the callbacks Twilio
/// would send for the call, signed, into the voice webhook (`crate::voice`), and answers each
/// callback's status and body. Loopback only: whoever reaches it completes calls.
async fn play_call(State(g): State<Arc<Gateway>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, Path(id): Path<String>, body: Bytes) -> Response {
    if !peer.ip().is_loopback() {
        return gateway_error(StatusCode::FORBIDDEN, "calls are played for loopback callers only");
    }
    let Some(sandbox) = &g.voice_sandbox else {
        return gateway_error(StatusCode::NOT_FOUND, "the voice sandbox is off: calls go to Twilio");
    };
    let Some(call) = sandbox.call(&id) else {
        return gateway_error(StatusCode::NOT_FOUND, &format!("the voice sandbox placed no call {id} (GET /dev/calls)"));
    };
    let answer: crate::voice::Answer = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return gateway_error(StatusCode::UNPROCESSABLE_ENTITY, &format!("body must be {{answer, digits?, speech?}}: {e}")),
    };
    match crate::voice::play(&g.deps, &g.http, &call, &answer).await {
        Ok(played) => axum::Json(json!({ "provider_call_id": id, "callbacks": played })).into_response(),
        Err(crate::voice::PlayError::Invalid(m)) => gateway_error(StatusCode::UNPROCESSABLE_ENTITY, &m),
        Err(crate::voice::PlayError::Failed(m)) => gateway_error(StatusCode::INTERNAL_SERVER_ERROR, &m),
    }
}

/// `POST /dev/whatsapp/templates/{name}` `{event, reason?, language?}`
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateReview {
    /// Meta's word: `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`, `FLAGGED`, `REINSTATED`…
    event: String,
    #[serde(default)]
    reason: Option<String>,
    /// Which language of the name, when the sandbox holds several (else the newest).
    #[serde(default)]
    language: Option<String>,
}

/// `POST /dev/whatsapp/templates/{name}`: plays Meta's review of a template the sandbox was given:
/// builds the `message_template_status_update` webhook Meta would send, signs it with the app
/// secret (`X-Hub-Signature-256`) and posts it to MAX's webhook route, so it travels the real
/// path (receiver, inbound queue, inbound-processor). Answers the webhook's status and the body
/// sent. Loopback only: whoever reaches it approves templates.
async fn play_template_status(State(g): State<Arc<Gateway>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, Path(name): Path<String>, body: Bytes) -> Response {
    if !peer.ip().is_loopback() {
        return gateway_error(StatusCode::FORBIDDEN, "template reviews are played for loopback callers only");
    }
    let Some(sandbox) = &g.sandbox else {
        return gateway_error(StatusCode::NOT_FOUND, "the WhatsApp sandbox is off: Meta reviews templates");
    };
    let review: TemplateReview = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return gateway_error(StatusCode::UNPROCESSABLE_ENTITY, &format!("body must be {{event, reason?, language?}}: {e}")),
    };
    if max_core::domain::whatsapp_template::TemplateStatus::from_meta(&review.event).is_none() {
        return gateway_error(StatusCode::UNPROCESSABLE_ENTITY, &format!("{} is not an event Meta sends (APPROVED, REJECTED, PAUSED, DISABLED, FLAGGED, REINSTATED…)", review.event));
    }
    let Some(template) = sandbox.template_named(&name, review.language.as_deref()) else {
        return gateway_error(StatusCode::NOT_FOUND, &format!("the sandbox holds no template {name}: submit it first (POST /v1/whatsapp-templates)"));
    };
    let (Some(webhook), Some(public_url)) = (&g.deps.settings.webhook, &g.deps.settings.public_url) else {
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "the stack has no app secret or public URL to post the webhook with");
    };
    let event = review.event.to_ascii_uppercase();
    let mut value = json!({
        "event": event,
        "message_template_id": template.id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(template.id.clone())),
        "message_template_name": template.name,
        "message_template_language": template.language,
        "reason": review.reason.clone().unwrap_or_else(|| "NONE".into()),
        "message_template_category": template.category,
    });
    if event == "DISABLED" || event == "FLAGGED" {
        value["disable_info"] = json!({ "disable_date": chrono::Utc::now().timestamp().to_string() });
    }
    let payload = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": template.waba_id, "time": chrono::Utc::now().timestamp(), "changes": [{ "value": value, "field": "message_template_status_update" }] }]
    })
    .to_string();
    let signature = max_core::domain::webhook::sign(webhook.app_secret.expose().as_bytes(), payload.as_bytes());
    let posted = g
        .http
        .post(format!("{public_url}/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(payload.clone())
        .send()
        .await;
    match posted {
        Ok(r) => {
            let status = r.status().as_u16();
            if (200..300).contains(&status) {
                // Meta's list shows the new status from now on (a sync agrees).
                if let Some(s) = max_core::domain::whatsapp_template::TemplateStatus::from_meta(&event) {
                    sandbox.set_template_status(&template.id, s.as_str());
                }
            }
            axum::Json(json!({ "template_id": template.id, "webhook_status": status, "webhook": serde_json::from_str::<Value>(&payload).unwrap_or_default() })).into_response()
        }
        Err(e) => gateway_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("posting the webhook: {e}")),
    }
}

fn gateway_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

async fn dispatch(State(g): State<Arc<Gateway>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path();
    let found = g.routes.iter().find_map(|r| {
        let method_ok = r.method == "ANY" || r.method == method.as_str();
        match_path(&r.path, path).filter(|_| method_ok).map(|params| (r, params))
    });
    let Some((route, params)) = found else {
        // A path of the API with a method it does not have: 405 naming the ones it has. (API
        // Gateway itself answers 404 here; the dev stack is stricter so the contract test can
        // check that no undeclared method is served.)
        // The most specific path wins, as in API Gateway: `/templates` is not an `{id}`.
        let matching: Vec<&HttpRoute> = g.routes.iter().filter(|r| match_path(&r.path, path).is_some()).collect();
        let specific = matching.iter().map(|r| r.path.matches('{').count()).min();
        let allowed: Vec<&str> = matching
            .iter()
            .filter(|r| Some(r.path.matches('{').count()) == specific)
            .map(|r| r.method.as_str())
            .collect();
        if !allowed.is_empty() {
            let mut response = gateway_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, v);
            }
            return response;
        }
        return gateway_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let claims = if route.authorized {
        match g.tokens.verify(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())) {
            Some(c) => Some(c),
            None => return gateway_error(StatusCode::UNAUTHORIZED, "Unauthorized"),
        }
    } else {
        None
    };
    let event = api_gateway_event(route, &params, &method, &uri, &headers, &body, claims);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("event conversion: {e}")),
    };
    if g.sandbox_media && route.binary == "whatsapp-webhook" && method == Method::POST
        && let Some(sandbox) = &g.sandbox
    {
        // What Meta would hold for the customer's files: media-worker then fetches them.
        sandbox.serve_webhook_media(&body);
    }
    let outcome = registry::invoke_http(&route.binary, request, &g.deps).await;
    g.writes.happened();
    match outcome {
        Some(Ok(response)) => into_axum(response),
        Some(Err(e)) => {
            tracing::error!(function = route.binary, error = %e, "function failed");
            gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        None => gateway_error(StatusCode::NOT_IMPLEMENTED, &format!("function {} is not registered in the dev gateway", route.binary)),
    }
}

/// The HTTP API (payload 2.0) event for this request.
fn api_gateway_event(
    route: &HttpRoute,
    params: &BTreeMap<String, String>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    claims: Option<std::collections::HashMap<String, String>>,
) -> Value {
    let mut header_map = serde_json::Map::new();
    for (name, value) in headers {
        let v = value.to_str().unwrap_or_default().to_string();
        match header_map.get_mut(name.as_str()) {
            // API Gateway joins repeated headers with commas.
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                header_map.insert(name.as_str().to_string(), json!(v));
            }
        }
    }
    let raw_query = uri.query().unwrap_or_default();
    let mut query = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        match query.get_mut(k.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k.into_owned(), json!(v.into_owned()));
            }
        }
    }
    let now = chrono::Utc::now();
    let route_key = format!("{} {}", route.method, route.path);
    let mut context = json!({
        "accountId": "000000000000",
        "apiId": "maxdev",
        "domainName": "127.0.0.1",
        "domainPrefix": "maxdev",
        "http": {
            "method": method.as_str(),
            "path": uri.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default(),
        },
        "requestId": ulid::Ulid::new().to_string(),
        "routeKey": route_key,
        "stage": "$default",
        "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
        "timeEpoch": now.timestamp_millis(),
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({ "jwt": { "claims": claims, "scopes": null } });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": header_map,
        "requestContext": context,
        "isBase64Encoded": true,
        "body": STANDARD.encode(body),
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    event
}

fn into_axum(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    let mut out = Response::new(axum::body::Body::from(bytes));
    *out.status_mut() = StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &parts.headers {
        if let (Ok(n), Ok(v)) = (header::HeaderName::from_bytes(name.as_str().as_bytes()), HeaderValue::from_bytes(value.as_bytes())) {
            out.headers_mut().append(n, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> State<Arc<Gateway>> {
        max_core::config::install_tls_provider();
        let (deps, _) = Deps::in_memory(chrono::Utc::now());
        State(Arc::new(Gateway {
            ready: Arc::default(),
            deps: Arc::new(deps),
            routes: Vec::new(),
            tokens: DevTokens::new("test"),
            sandbox: None,
            sandbox_media: false,
            voice_sandbox: None,
            scheduled: vec!["call-scheduler".into()],
            openapi_yaml: String::new(),
            openapi_json: String::new(),
            http: reqwest::Client::new(),
            url: "http://127.0.0.1:0".into(),
            websocket: None,
            sockets: Default::default(),
            writes: Default::default(),
        }))
    }

    #[tokio::test]
    async fn a_scheduled_function_runs_now_for_loopback_peers_only() {
        let run = |peer: &str, function: &str| run_schedule_now(gateway(), ConnectInfo(peer.parse().unwrap()), Path(function.to_string()), axum::extract::Query(ScheduleAt { at: None }));
        assert_eq!(run("10.0.0.7:5000", "call-scheduler").await.status(), StatusCode::FORBIDDEN);
        assert_eq!(run("127.0.0.1:5000", "whatsapp-webhook").await.status(), StatusCode::NOT_FOUND, "not a scheduled function");
        // Nothing scheduled in the empty store: the run finishes and says so.
        assert_eq!(run("127.0.0.1:5000", "call-scheduler").await.status(), StatusCode::OK);
    }

    const BODY: &str = r#"{"org_id": "o1", "groups": ["admin"], "sub": "u1"}"#;

    #[tokio::test]
    async fn dev_tokens_are_minted_for_loopback_peers_only() {
        for peer in ["10.0.0.7:5000", "192.168.1.2:5000", "[2001:db8::1]:5000"] {
            let res = mint_token(gateway(), ConnectInfo(peer.parse().unwrap()), Bytes::from_static(BODY.as_bytes())).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{peer}");
        }
        for peer in ["127.0.0.1:5000", "[::1]:5000"] {
            let res = mint_token(gateway(), ConnectInfo(peer.parse().unwrap()), Bytes::from_static(BODY.as_bytes())).await;
            assert_eq!(res.status(), StatusCode::OK, "{peer}");
        }
    }
}
