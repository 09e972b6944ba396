//! The WhatsApp Cloud API webhook.
//!
//! - `GET /webhooks/whatsapp`: Meta's verification handshake.
//! - `POST /webhooks/whatsapp`: verify `X-Hub-Signature-256` over the raw bytes, make one durable
//!   write (the inbound queue), answer 200. Everything else happens in inbound-processor.

pub mod api;

use chrono::Utc;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use max_core::app::inbound::quarantine;
use max_core::config::Deps;
use max_core::domain::ids::sha256_hex;
use max_core::domain::webhook::{InboundJob, MAX_WEBHOOK_BYTES, group_by_ordering_key, read_changes, verify_signature};
use max_core::error::Error as AppError;
use max_core::http::{header_value, ok, problem, query, raw_body, respond, text};
use max_core::ports::{Queue, QueueMessage};
use serde_json::json;
use tracing::{error, warn};

/// SQS refuses messages (and batches) over 256 KiB.
const MAX_QUEUE_BATCH_BYTES: usize = 256 * 1024;
const MAX_QUEUE_BATCH: usize = 10;

pub async fn handle(req: Request, deps: &Deps) -> Result<Response<Body>, Error> {
    let response = match (req.method(), req.uri().path().trim_end_matches('/')) {
        (&Method::GET, "/webhooks/whatsapp") => verify_subscription(&req, deps),
        (&Method::POST, "/webhooks/whatsapp") => respond(receive(&req, deps).await),
        _ => problem(&AppError::NotFound("route")),
    };
    Ok(response)
}

fn verify_subscription(req: &Request, deps: &Deps) -> Response<Body> {
    let mode = query(req, "hub.mode");
    let token = query(req, "hub.verify_token");
    let challenge = query(req, "hub.challenge");
    let expected = deps.settings.webhook.as_ref().map(|w| w.verify_token.expose());
    match (mode.as_deref(), token, challenge, expected) {
        (Some("subscribe"), Some(token), Some(challenge), Some(expected))
            if max_core::domain::webhook::constant_time_eq(token.as_bytes(), expected.as_bytes()) =>
        {
            text(StatusCode::OK, challenge)
        }
        (Some("subscribe"), Some(_), Some(_), _) => {
            warn!("webhook verification with a wrong verify token");
            text(StatusCode::FORBIDDEN, "verify token mismatch")
        }
        _ => problem(&AppError::BadRequest("hub.mode=subscribe, hub.verify_token and hub.challenge are required".into())),
    }
}

async fn receive(req: &Request, deps: &Deps) -> Result<Response<Body>, AppError> {
    let body = raw_body(req);
    if body.len() > MAX_WEBHOOK_BYTES {
        return Err(AppError::TooLarge { limit: MAX_WEBHOOK_BYTES, field: None });
    }
    // The wiring refuses to start without the secret (`Needs::webhook_secrets`).
    let secrets = deps.settings.webhook.as_ref().ok_or_else(|| AppError::backend("config", "WHATSAPP_APP_SECRET not wired"))?;
    if !verify_signature(secrets.app_secret.expose().as_bytes(), body, header_value(req, "x-hub-signature-256")) {
        warn!(bytes = body.len(), "webhook signature missing or wrong");
        return Err(AppError::Unauthorized);
    }
    let changes = match read_changes(body) {
        Ok(changes) => changes,
        Err(reason) => {
            // Signed by Meta but unreadable: keep it, and answer 200 so Meta does not retry for days.
            quarantine(&*deps.blobs, "unreadable-body", body).await.inspect_err(|e| error!(error = %e, "quarantine failed"))?;
            warn!(?reason, "signed webhook body is not a webhook");
            return Ok(accepted());
        }
    };
    if changes.is_empty() {
        return Ok(accepted());
    }
    let now = Utc::now();
    let mut batch = Vec::new();
    for (group, changes) in group_by_ordering_key(changes) {
        let dedup_id = sha256_hex(&serde_json::to_vec(&changes).unwrap_or_default());
        let job = InboundJob::Changes { received_at: now, changes };
        let body = serde_json::to_string(&job).map_err(|e| AppError::backend("json", e))?;
        batch.push(QueueMessage { body, group_id: Some(group), dedup_id: Some(dedup_id) });
    }
    let total: usize = batch.iter().map(|m| m.body.len()).sum();
    if batch.len() > MAX_QUEUE_BATCH || total > MAX_QUEUE_BATCH_BYTES {
        batch = vec![store_large_body(deps, body, &batch[0]).await?];
    }
    deps.outbox.send_batch(Queue::Inbound, &batch).await.inspect_err(|e| error!(error = %e, "inbound enqueue failed"))?;
    Ok(accepted())
}

/// A body too big for one queue call goes to S3, and a pointer to it on the queue.
async fn store_large_body(deps: &Deps, body: &[u8], first: &QueueMessage) -> Result<QueueMessage, AppError> {
    let hash = sha256_hex(body);
    let key = format!("inbound/{}/{hash}.json", Utc::now().format("%Y-%m-%d"));
    deps.blobs.put(&key, body.to_vec(), "application/json").await?;
    let job = InboundJob::Stored { received_at: Utc::now(), key };
    let json = serde_json::to_string(&job).map_err(|e| AppError::backend("json", e))?;
    Ok(QueueMessage { body: json, group_id: first.group_id.clone(), dedup_id: Some(hash) })
}

fn accepted() -> Response<Body> {
    ok(&json!({ "received": true }))
}

#[cfg(test)]
mod tests;
