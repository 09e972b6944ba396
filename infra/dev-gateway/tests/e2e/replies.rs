//! Agent replies through reply-sender to a wiremock Graph API: one correct request, statuses,
//! the 24-hour window, retries, token failures and redelivery.

use std::time::Duration;

use max_dev::testing::{TestStack, eventually, fixture};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{fresh, status_for};

const WAIT: Duration = Duration::from_secs(20);
const NUMBER: &str = "106540352242922";
const CUSTOMER: &str = "16505551234";

fn accepted(wamid: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": CUSTOMER, "wa_id": CUSTOMER }],
        "messages": [{ "id": wamid }]
    }))
}

fn meta_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": { "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam" }
    }))
}

/// A customer wrote just now; returns the conversation id.
async fn live_conversation(t: &TestStack) -> String {
    assert_eq!(t.post_webhook(&fresh(&fixture("meta-openapi/text-message.json"))).await.status(), StatusCode::OK);
    let c = eventually("conversation", WAIT, || async { t.conversations().await.into_iter().next() }).await;
    c["id"].as_str().unwrap().to_string()
}

async fn reply(t: &TestStack, conversation: &str, body: Value) -> Value {
    let (status, message) = t.post(&format!("/v1/conversations/{conversation}/messages"), &t.org.agent, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{message}");
    assert_eq!(message["status"], "queued");
    message
}

async fn message_when(t: &TestStack, conversation: &str, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    eventually(what, WAIT, || async {
        t.messages(conversation).await.into_iter().find(|m| m["id"] == id).filter(|m| check(m))
    })
    .await
}

async fn graph_requests(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

#[tokio::test]
async fn an_agent_reply_reaches_the_graph_api_once_and_statuses_follow() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/{NUMBER}/messages")))
        .and(header("authorization", "Bearer test-token"))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "type": "text", "text": { "body": "Yes, it also comes in blue.", "preview_url": false }
        })))
        .respond_with(accepted("wamid.OUT-1"))
        .expect(1)
        .mount(&graph)
        .await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = live_conversation(&t).await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Yes, it also comes in blue." })).await;
    let id = sent["id"].as_str().unwrap();
    let m = message_when(&t, &conversation, id, "sent", |m| m["status"] == "sent").await;
    assert_eq!(m["wamid"], "wamid.OUT-1");

    // Status callbacks, out of order: read first (it implies delivered), then a late delivered
    // and sent, which change nothing.
    for (file, expect) in [("statuses/status-read.json", "read"), ("statuses/status-delivered.json", "read"), ("statuses/status-sent.json", "read")] {
        assert_eq!(t.post_webhook(&status_for(&fixture(file), "wamid.OUT-1")).await.status(), StatusCode::OK);
        let m = message_when(&t, &conversation, id, expect, |m| m["status"] == expect).await;
        assert!(m["delivered_at"].is_string());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(message_when(&t, &conversation, id, "still read", |_| true).await["status"], "read");
    graph.verify().await;
}

#[tokio::test]
async fn a_failed_status_shows_its_reason() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.OUT-2")).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = live_conversation(&t).await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Are you still there?" })).await;
    let id = sent["id"].as_str().unwrap();
    message_when(&t, &conversation, id, "sent", |m| m["status"] == "sent").await;
    let failed = status_for(&fixture("statuses/status-failed-outside-24h-window.json"), "wamid.OUT-2");
    assert_eq!(t.post_webhook(&failed).await.status(), StatusCode::OK);
    let m = message_when(&t, &conversation, id, "failed", |m| m["status"] == "failed").await;
    assert_eq!(m["failure"]["code"], 131047);
    assert_eq!(m["failure"]["reason"], "outside_customer_service_window");
    // Failed is final: a late delivered callback does not revive it.
    t.post_webhook(&status_for(&fixture("statuses/status-delivered.json"), "wamid.OUT-2")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(message_when(&t, &conversation, id, "still failed", |_| true).await["status"], "failed");
}

#[tokio::test]
async fn outside_the_window_the_fallback_template_goes_instead() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "type": "template", "template": { "name": "hello_world", "language": { "code": "en_US" } }
        })))
        .respond_with(accepted("wamid.TPL-1"))
        .expect(1)
        .mount(&graph)
        .await;
    let t = TestStack::with_graph(&graph.uri()).await;
    // Meta's example is from 2025: its window closed long ago.
    assert_eq!(t.post_webhook(&fixture("meta-openapi/text-message.json")).await.status(), StatusCode::OK);
    let c = eventually("conversation", WAIT, || async { t.conversations().await.into_iter().next() }).await;
    let conversation = c["id"].as_str().unwrap();
    let sent = reply(&t, conversation, json!({ "type": "text", "body": "Hello again" })).await;
    let m = message_when(&t, conversation, sent["id"].as_str().unwrap(), "sent as template", |m| m["status"] == "sent").await;
    assert_eq!(m["sent_as_template"], "hello_world");
    graph.verify().await;
}

#[tokio::test]
async fn outside_the_window_without_a_fallback_the_message_fails_with_the_reason() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted("x")).expect(0).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let mut channel = t.stack.dynamo.get::<max_core::domain::channel::Channel>(max_core::adapters::dynamo::keys::channel(NUMBER)).await.unwrap().unwrap();
    channel.fallback_template = None;
    t.stack.deps.store.put_channel(&channel).await.unwrap();
    assert_eq!(t.post_webhook(&fixture("meta-openapi/text-message.json")).await.status(), StatusCode::OK);
    let c = eventually("conversation", WAIT, || async { t.conversations().await.into_iter().next() }).await;
    let conversation = c["id"].as_str().unwrap();
    let sent = reply(&t, conversation, json!({ "type": "text", "body": "Hello again" })).await;
    let m = message_when(&t, conversation, sent["id"].as_str().unwrap(), "failed", |m| m["status"] == "failed").await;
    assert_eq!(m["failure"]["reason"], "outside_customer_service_window");
    graph.verify().await;
}

#[tokio::test]
async fn two_server_errors_then_success_sends_once() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).up_to_n_times(2).with_priority(1).mount(&graph).await;
    Mock::given(method("POST")).respond_with(accepted("wamid.OUT-3")).with_priority(2).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = live_conversation(&t).await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Third time lucky" })).await;
    let m = message_when(&t, &conversation, sent["id"].as_str().unwrap(), "sent", |m| m["status"] == "sent").await;
    assert_eq!(m["wamid"], "wamid.OUT-3");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(graph_requests(&graph).await, 3, "two failures and one success, nothing more");
}

#[tokio::test]
async fn throttling_is_retried_later_then_fails_into_the_dlq() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(meta_error(400, 130429, "Rate limit hit")).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = live_conversation(&t).await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Busy line" })).await;
    let id = sent["id"].as_str().unwrap();
    eventually("a retry", WAIT, || async { (graph_requests(&graph).await >= 2).then_some(()) }).await;
    let m = message_when(&t, &conversation, id, "failed after retries", |m| m["status"] == "failed").await;
    assert!(m["failure"]["reason"].as_str().unwrap().starts_with("retries_exhausted"), "{m}");
    assert_eq!(m["failure"]["code"], 130429);
    assert_eq!(graph_requests(&graph).await, 5, "bounded: one attempt per delivery, five deliveries");
    let dlq = t.stack.resources.queue_urls["RepliesDLQ"].clone();
    let sqs = t.stack.sqs.clone();
    eventually("the job in the DLQ", WAIT, || async {
        let out = sqs.receive_message().queue_url(&dlq).send().await.ok()?;
        out.messages.filter(|m| !m.is_empty()).map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn an_invalid_token_fails_at_once() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(meta_error(401, 190, "Error validating access token")).expect(1).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = live_conversation(&t).await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Hello" })).await;
    let m = message_when(&t, &conversation, sent["id"].as_str().unwrap(), "failed", |m| m["status"] == "failed").await;
    assert_eq!(m["failure"]["code"], 190);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    graph.verify().await;
}

#[tokio::test]
async fn a_redelivered_job_after_a_successful_send_sends_nothing() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.OUT-4")).expect(1).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = live_conversation(&t).await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Only once" })).await;
    let id = sent["id"].as_str().unwrap();
    message_when(&t, &conversation, id, "sent", |m| m["status"] == "sent").await;
    // SQS delivers at least once: the same job again (past deduplication, as a redelivery would be).
    let job = json!({ "org_id": t.org.seed.id, "conversation_id": conversation, "message_id": id }).to_string();
    t.stack
        .sqs
        .send_message()
        .queue_url(&t.stack.settings.queues[&max_core::ports::Queue::Replies])
        .message_body(job)
        .message_group_id("redelivery")
        .message_deduplication_id("redelivery-1")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    graph.verify().await;
}

#[tokio::test]
async fn templates_buttons_lists_and_media_become_graph_requests() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.ANY")).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = live_conversation(&t).await;
    let bodies = [
        json!({ "type": "template", "name": "order_shipped", "language": "es", "parameters": ["Ana", "#123"] }),
        json!({ "type": "buttons", "body": "Pick one", "buttons": [{ "id": "yes", "title": "Yes" }, { "id": "no", "title": "No" }] }),
        json!({ "type": "list", "body": "Menu", "button": "Options", "sections": [{ "title": "Help", "rows": [{ "id": "1", "title": "Ask a question" }] }] }),
        json!({ "type": "media", "media_type": "image", "link": "https://example.com/car.jpg", "caption": "Your car" }),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let sent = reply(&t, &conversation, body.clone()).await;
        message_when(&t, &conversation, sent["id"].as_str().unwrap(), "sent", |m| m["status"] == "sent").await;
        let requests = graph.received_requests().await.unwrap();
        let last: Value = serde_json::from_slice(&requests[i].body).unwrap();
        let expected_type = ["template", "interactive", "interactive", "image"][i];
        assert_eq!(last["type"], expected_type);
    }
    let requests = graph.received_requests().await.unwrap();
    let template: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(template["template"]["components"][0]["parameters"][1]["text"], "#123");
    let list: Value = serde_json::from_slice(&requests[2].body).unwrap();
    assert_eq!(list["interactive"]["action"]["sections"][0]["rows"][0]["id"], "1");
}

#[tokio::test]
async fn bad_replies_are_refused_naming_the_field() {
    let t = TestStack::start().await;
    let conversation = live_conversation(&t).await;
    let path = format!("/v1/conversations/{conversation}/messages");
    let (status, body) = t.post(&path, &t.org.agent, json!({ "type": "text", "body": "" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "content.body");
    let (status, body) = t.post(&path, &t.org.agent, json!({ "type": "text", "body": "x".repeat(4097) })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = t.post(&path, &t.org.agent, json!({ "type": "fax" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let res = t.http.post(t.url(&path)).bearer_auth(&t.org.agent).body("{not json").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(t.messages(&conversation).await.len(), 1, "nothing was stored");
}

#[tokio::test]
async fn the_same_idempotency_key_queues_one_message() {
    let t = TestStack::start().await;
    let conversation = live_conversation(&t).await;
    let path = format!("/v1/conversations/{conversation}/messages");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let res = t
            .http
            .post(t.url(&path))
            .bearer_auth(&t.org.agent)
            .header("idempotency-key", "client-retry-1")
            .json(&json!({ "type": "text", "body": "Sent once" }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        ids.push(res.json::<Value>().await.unwrap()["id"].clone());
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let outbox = t.stack.sandbox.as_ref().unwrap().outbox();
    assert_eq!(outbox.len(), 1);
}

/// A reply stored but never queued (the queue refused its job) is found by reply-sender's sweep
/// once it is 2 minutes old and sent once; a younger one is left to its job; a sent one is not
/// in the outbox any more.
#[tokio::test]
async fn the_sweep_sends_a_reply_whose_job_was_lost_once() {
    use max_core::app::delivery::{NewReply, queue_reply};
    use max_core::domain::message::{Sender, SenderType};
    use max_core::domain::outbound::OutboundContent;
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/{NUMBER}/messages")))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "type": "text", "text": { "body": "Stored, never queued.", "preview_url": false }
        })))
        .respond_with(accepted("wamid.LOST-1"))
        .expect(1)
        .mount(&graph)
        .await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = live_conversation(&t).await;
    let deps = &t.stack.deps;
    let org = t.org.seed.id.clone();
    for (text, age) in [("Stored, never queued.", chrono::Duration::minutes(3)), ("Stored just now, its job may be on its way.", chrono::Duration::seconds(30))] {
        let reply = NewReply {
            org_id: &org,
            conversation_id: &conversation,
            content: OutboundContent::text(text),
            sender: Sender { kind: SenderType::Agent, id: Some("agent-1".into()), name: None },
            idempotency_key: None,
            now: chrono::Utc::now() - age,
        };
        let lost = queue_reply(&*deps.store, &*deps.store, &crate::DownQueue, reply).await;
        assert!(lost.is_err(), "the job could not be queued");
    }

    let sweep = || max_dev::registry::invoke_schedule("reply-sender", json!({ "detail-type": "Scheduled Event" }), deps);
    sweep().await.expect("registered").expect("swept");
    let sent = eventually("the lost reply sent", WAIT, || async {
        t.messages(&conversation).await.into_iter().find(|m| m["text"] == "Stored, never queued." && m["status"] == "sent")
    })
    .await;
    assert_eq!(sent["wamid"], "wamid.LOST-1");
    // Again: the sent reply left the outbox, the young one is still not due.
    sweep().await.expect("registered").expect("swept");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let young = t.messages(&conversation).await.into_iter().find(|m| m["text"] == "Stored just now, its job may be on its way.").unwrap();
    assert_eq!(young["status"], "queued");
    let now = chrono::Utc::now();
    let outbox = deps.store.queued_between(now - chrono::Duration::hours(1), now, 100).await.unwrap();
    let ids: Vec<&str> = outbox.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [young["id"].as_str().unwrap()], "the sent reply left the outbox, the queued one is in it");
    graph.verify().await;
}

/// Meta calls back `delivered` before reply-sender has recorded the send (the Graph API answered
/// slowly): the status is kept, applied when the send is recorded, and the feed tells sent, then
/// delivered.
#[tokio::test]
async fn a_status_that_comes_before_the_send_is_recorded_is_applied_with_it() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/{NUMBER}/messages")))
        .respond_with(accepted("wamid.EARLY-1").set_delay(Duration::from_millis(4000)))
        .expect(1)
        .mount(&graph)
        .await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = live_conversation(&t).await;
    let message = reply(&t, &conversation, json!({ "type": "text", "body": "A fast callback" })).await;
    let id = message["id"].as_str().unwrap();
    // The Graph API has not answered yet when the callback for the id it will answer arrives.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(t.post_webhook(&status_for(&fixture("statuses/status-delivered.json"), "wamid.EARLY-1")).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = t.messages(&conversation).await.into_iter().find(|m| m["id"] == id).unwrap();
    assert_eq!(before["status"], "queued", "the send is not recorded yet: {before}");

    let m = message_when(&t, &conversation, id, "delivered", |m| m["status"] == "delivered").await;
    assert_eq!(m["wamid"], "wamid.EARLY-1");
    assert!(m["sent_at"].is_string() && m["delivered_at"].is_string(), "{m}");
    // The feed follows right after the message (reply-sender records the events once both are applied).
    let statuses = eventually("sent and delivered in the feed", WAIT, || async {
        let (_, feed) = t.get("/v1/events?limit=100", &t.org.agent).await;
        let statuses: Vec<String> = feed["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["kind"] == "message.status_changed" && e["data"]["message_id"] == id)
            .filter_map(|e| e["data"]["status"].as_str().map(str::to_string))
            .collect();
        (statuses.len() >= 2).then_some(statuses)
    })
    .await;
    assert_eq!(statuses, ["sent", "delivered"]);
    graph.verify().await;
}
