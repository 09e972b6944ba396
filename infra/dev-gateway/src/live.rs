//! The dashboards' WebSocket API, locally (`docs/live-push.md`): what API Gateway does for
//! template.yaml's WebSocket API, in front of the same function.
//!
//! - `GET /{stage}?token=` (`ws://127.0.0.1:{port}/live?token=…`): no token is 401 without an
//!   invocation (the authorizer's identity source); otherwise the function's authorizer runs
//!   with the token, `Unauthorized` is 401, an allow runs `$connect` with the authorizer's
//!   context, and only a 2xx from it upgrades the connection. Each text frame from the client
//!   runs `$default`; the socket's end runs `$disconnect`, with the same context.
//! - `POST /@connections/{id}`: the Management API's `PostToConnection` (what live-push calls
//!   through the real SDK, its endpoint pointed here): the body goes to the socket as one text
//!   frame; 410 `GoneException` when the connection is not open. `DELETE` closes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::{error, warn};

use crate::gateway::Gateway;
use crate::registry;

/// What the gateway holds for an open connection: where its frames go.
struct Socket {
    frames: mpsc::UnboundedSender<Message>,
}

/// The open connections, by id.
#[derive(Default)]
pub struct Sockets {
    open: Mutex<HashMap<String, Socket>>,
}

impl Sockets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Socket>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many connections are open (tests wait for a closed one to be gone).
    pub fn count(&self) -> usize {
        self.lock().len()
    }
}

/// A connection id shaped like API Gateway's (base64 characters).
fn new_connection_id() -> String {
    format!("{}=", &ulid::Ulid::new().to_string()[10..])
}

fn epoch_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One connection as API Gateway describes it in each of its events.
#[derive(Clone)]
struct Connection {
    id: String,
    stage: String,
    domain: String,
    connected_at: i64,
    /// The authorizer's context and principal, once it allowed the connection.
    authorizer: Option<Value>,
}

impl Connection {
    /// The `requestContext` of a `route` event.
    fn context(&self, route: &str, event_type: &str) -> Value {
        let mut ctx = json!({
            "routeKey": route,
            "eventType": event_type,
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": self.connected_at,
            "requestTimeEpoch": epoch_ms(),
            "requestId": ulid::Ulid::new().to_string(),
            "domainName": self.domain,
            "connectionId": self.id,
            "apiId": "maxdevlive",
            "identity": { "sourceIp": "127.0.0.1" },
        });
        if let Some(a) = &self.authorizer {
            ctx["authorizer"] = a.clone();
        }
        ctx
    }

    /// The event of a route (`$connect`, `$disconnect`, `$default` with the frame's text).
    fn event(&self, route: &str, event_type: &str, body: Option<String>) -> Value {
        let mut e = json!({ "requestContext": self.context(route, event_type), "isBase64Encoded": false });
        if let Some(b) = body {
            e["body"] = json!(b);
        }
        e
    }
}

/// Runs one route of the connection through the function; its status code, or why not.
async fn run_route(g: &Gateway, binary: &str, event: Value) -> Result<i64, String> {
    let answer = registry::invoke_websocket(binary, event, &g.deps).await;
    g.writes.happened();
    match answer {
        Some(Ok(v)) => Ok(v.get("statusCode").and_then(Value::as_i64).unwrap_or(200)),
        Some(Err(e)) => Err(e.to_string()),
        None => Err(format!("{binary} is not registered in the dev gateway")),
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// `GET /{stage}`: the WebSocket handshake, authorised and connected as API Gateway does it.
pub async fn connect(
    State(g): State<Arc<Gateway>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Some(api) = g.websocket.clone() else {
        return refuse(StatusCode::NOT_FOUND, "Not Found");
    };
    let stage = api.stage.clone();
    let Ok(upgrade) = upgrade else {
        return refuse(StatusCode::BAD_REQUEST, "a WebSocket handshake is expected here");
    };
    // The authorizer's identity source: no token, no invocation.
    if !query.get("token").is_some_and(|t| !t.is_empty()) {
        return refuse(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let mut connection = Connection { id: new_connection_id(), stage: stage.clone(), domain: g.url.trim_start_matches("http://").to_string(), connected_at: epoch_ms(), authorizer: None };
    let header_map: serde_json::Map<String, Value> = headers.iter().map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap_or_default()))).collect();
    let authorize = json!({
        "type": "REQUEST",
        "methodArn": format!("arn:aws:execute-api:us-east-1:000000000000:maxdevlive/{stage}/$connect"),
        "headers": header_map,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": query.iter().map(|(k, v)| (k.clone(), json!([v]))).collect::<serde_json::Map<String, Value>>(),
        "requestContext": connection.context("$connect", "CONNECT"),
    });
    let allowed = match registry::invoke_websocket(&api.binary, authorize, &g.deps).await {
        Some(Ok(policy)) => policy,
        Some(Err(_)) => return refuse(StatusCode::UNAUTHORIZED, "Unauthorized"),
        None => return refuse(StatusCode::NOT_IMPLEMENTED, &format!("{} is not registered in the dev gateway", api.binary)),
    };
    let allows = allowed["policyDocument"]["Statement"].as_array().is_some_and(|s| s.iter().any(|st| st["Effect"] == "Allow"));
    if !allows {
        return refuse(StatusCode::FORBIDDEN, "Forbidden");
    }
    // What API Gateway hands every route: the authorizer's context and its principal.
    let mut authorizer = allowed["context"].clone();
    if let Some(map) = authorizer.as_object_mut() {
        map.insert("principalId".into(), allowed["principalId"].clone());
    }
    connection.authorizer = Some(authorizer);
    match run_route(&g, &api.binary, connection.event("$connect", "CONNECT", None)).await {
        Ok(status) if (200..300).contains(&status) => {}
        Ok(status) => return refuse(StatusCode::from_u16(status as u16).unwrap_or(StatusCode::FORBIDDEN), "the connection was refused"),
        Err(e) => {
            error!(error = e, "$connect failed");
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    }
    let (frames, mut outgoing) = mpsc::unbounded_channel();
    g.sockets.lock().insert(connection.id.clone(), Socket { frames });
    let gateway = g.clone();
    upgrade.on_upgrade(move |socket: WebSocket| async move {
        let (mut sink, mut stream) = socket.split();
        loop {
            tokio::select! {
                frame = outgoing.recv() => {
                    let Some(frame) = frame else { break };
                    let closing = matches!(frame, Message::Close(_));
                    if sink.send(frame).await.is_err() || closing {
                        break;
                    }
                }
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if let Err(e) = run_route(&gateway, &api.binary, connection.event("$default", "MESSAGE", Some(text.to_string()))).await {
                            warn!(error = e, "$default failed");
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        // Gone for posts from now on, then $disconnect (API Gateway's order).
        gateway.sockets.lock().remove(&connection.id);
        if let Err(e) = run_route(&gateway, &api.binary, connection.event("$disconnect", "DISCONNECT", None)).await {
            warn!(error = e, "$disconnect failed");
        }
    })
}

fn gone() -> Response {
    let mut response = (StatusCode::GONE, axum::Json(json!({ "message": null }))).into_response();
    response.headers_mut().insert("x-amzn-errortype", axum::http::HeaderValue::from_static("GoneException"));
    response
}

/// `POST /@connections/{id}`: `PostToConnection`.
pub async fn post_to_connection(State(g): State<Arc<Gateway>>, Path(id): Path<String>, body: Bytes) -> Response {
    let frame = match String::from_utf8(body.to_vec()) {
        Ok(text) => Message::Text(text.into()),
        Err(e) => Message::Binary(e.into_bytes().into()),
    };
    let sent = g.sockets.lock().get(&id).map(|s| s.frames.send(frame).is_ok());
    match sent {
        Some(true) => StatusCode::OK.into_response(),
        _ => gone(),
    }
}

/// `DELETE /@connections/{id}`: `DeleteConnection` (closes the socket; `$disconnect` follows).
pub async fn delete_connection(State(g): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    let sent = g.sockets.lock().get(&id).map(|s| s.frames.send(Message::Close(None)).is_ok());
    match sent {
        Some(true) => StatusCode::NO_CONTENT.into_response(),
        _ => gone(),
    }
}
