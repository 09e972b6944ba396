//! The WhatsApp Cloud API (Graph API) over reqwest, and the dev-mode sandbox that stands in for it.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::domain::secret::Secret;
use crate::ports::{SendOutcome, WhatsApp};

/// The Graph API client. It holds no token: each send carries its number's own (`ports::WhatsApp`).
#[derive(Debug, Clone)]
pub struct GraphApi {
    http: reqwest::Client,
    base_url: String,
}

impl GraphApi {
    /// `base_url` like `https://graph.facebook.com/v23.0`. Builds the HTTP client once (cold start).
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        let http = super::peer_http_client("Graph API", timeout);
        GraphApi { http, base_url: base_url.trim_end_matches('/').to_string() }
    }
}

#[async_trait]
impl WhatsApp for GraphApi {
    async fn send(&self, phone_number_id: &str, access_token: &Secret, body: &Value) -> SendOutcome {
        let url = format!("{}/{}/messages", self.base_url, phone_number_id);
        let response = match self.http.post(&url).bearer_auth(access_token.expose()).json(body).send().await {
            Ok(r) => r,
            // Never connected: Meta cannot have it.
            Err(e) if e.is_connect() => {
                return SendOutcome::Refused { http_status: None, code: None, title: transport_error(&e), detail: None };
            }
            Err(e) => return SendOutcome::Unanswered { reason: transport_error(&e) },
        };
        let status = response.status().as_u16();
        let json = response.json::<Value>().await;
        if (200..300).contains(&status) {
            return match json.as_ref().ok().and_then(|j| j.pointer("/messages/0/id")).and_then(Value::as_str) {
                Some(wamid) => SendOutcome::Accepted { wamid: wamid.to_string() },
                // Accepted, but its id was lost on the way: only a status callback can tell it now.
                None => SendOutcome::Unanswered { reason: format!("HTTP {status} without a message id") },
            };
        }
        let json = json.unwrap_or(Value::Null);
        let error = json.get("error").cloned().unwrap_or(Value::Null);
        SendOutcome::Refused {
            http_status: Some(status),
            code: error.get("code").and_then(Value::as_i64),
            title: error
                .get("error_user_title")
                .or_else(|| error.get("message"))
                .and_then(Value::as_str)
                .map_or_else(|| format!("HTTP {status}"), str::to_string),
            detail: error.pointer("/error_data/details").and_then(Value::as_str).map(str::to_string),
        }
    }
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "transport error".to_string()
    }
}

/// One send the sandbox accepted: what Meta would have received.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    pub at: DateTime<Utc>,
    pub phone_number_id: String,
    pub wamid: String,
    pub request: Value,
}

/// Dev mode's WhatsApp: accepts every send, answers like Meta, and keeps what was sent.
#[derive(Debug, Default)]
pub struct Sandbox {
    sent: Mutex<Vec<OutboxEntry>>,
}

impl Sandbox {
    /// Newest first.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.iter().rev().cloned().collect()
    }
}

#[async_trait]
impl WhatsApp for Sandbox {
    async fn send(&self, phone_number_id: &str, _access_token: &Secret, body: &Value) -> SendOutcome {
        let now = Utc::now();
        let wamid = format!("wamid.sandbox.{}", crate::domain::ids::new_id(now));
        let entry = OutboxEntry { at: now, phone_number_id: phone_number_id.to_string(), wamid: wamid.clone(), request: body.clone() };
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
        SendOutcome::Accepted { wamid }
    }
}
