//! End-to-end tests: signed webhooks and API calls through the dev gateway, functions in process,
//! DynamoDB/SQS/S3 in moto, the Graph API faked by wiremock. One binary, one moto, a fresh stack
//! (own table, queues, bucket) per test.

mod actions;
mod calls;
mod canned;
mod channels;
mod chat_app;
mod contract;
mod customer_context;
mod customers;
mod events;
mod input;
mod interactions;
mod live_push;
mod media;
mod rate_limits;
mod routing;
mod sla;
mod replies;
mod support;
mod teams;
mod tenancy;
mod voice;
mod whatsapp;
mod webhooks;
mod whatsapp_templates;

use serde_json::{Value, json};

/// A fixture with every message timestamp set to now, so the 24-hour window is open.
pub fn fresh(fixture: &[u8]) -> Vec<u8> {
    max_dev::testing::stamped_now(fixture)
}

/// The Graph API accepting a send to the fixtures' customer with WhatsApp id `wamid`.
pub fn accepted(wamid: &str) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": max_dev::testing::CUSTOMER, "wa_id": max_dev::testing::CUSTOMER }],
        "messages": [{ "id": wamid }]
    }))
}

/// The Graph API refusing a send the way Meta does.
pub fn meta_error(status: u16, code: i64, message: &str) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(status).set_body_json(json!({
        "error": { "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam" }
    }))
}

/// How many requests the Graph API fake has received.
pub async fn graph_requests(server: &wiremock::MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

/// A status fixture rewritten to name `wamid`.
pub fn status_for(fixture: &[u8], wamid: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(fixture).expect("fixture is JSON");
    for entry in v["entry"].as_array_mut().into_iter().flatten() {
        for change in entry["changes"].as_array_mut().into_iter().flatten() {
            for s in change["value"]["statuses"].as_array_mut().into_iter().flatten() {
                s["id"] = Value::String(wamid.to_string());
            }
        }
    }
    serde_json::to_vec(&v).expect("JSON")
}

/// A queue that refuses every job: a write that landed while its job was lost.
pub struct DownQueue;

#[async_trait::async_trait]
impl max_core::ports::Outbox for DownQueue {
    async fn send_batch(&self, _: max_core::ports::Queue, _: &[max_core::ports::QueueMessage]) -> max_core::error::Result<()> {
        Err(max_core::error::Error::backend("sqs", "queue unavailable"))
    }
    async fn retry_later(&self, _: max_core::ports::Queue, _: &str, _: i32) -> max_core::error::Result<()> {
        Ok(())
    }
    async fn send_delayed(&self, _: max_core::ports::Queue, _: &max_core::ports::QueueMessage, _: u32) -> max_core::error::Result<()> {
        Err(max_core::error::Error::backend("sqs", "queue unavailable"))
    }
}
