//! Agent replies through reply-sender to a wiremock Graph API: one correct request, statuses,
//! the 24-hour window, retries, token failures and redelivery.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use max_dev::testing::{CUSTOMER, NUMBER, TestOptions, TestStack, WAIT, eventually, fixture, sqs_job};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{accepted, graph_requests, meta_error, status_for};

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

/// The job reply-sender gets for message `id`.
fn reply_job(t: &TestStack, conversation: &str, id: &str) -> Value {
    json!({ "org_id": t.org.seed.id, "conversation_id": conversation, "message_id": id })
}

/// The text message of the fixture's customer as the Graph API receives it.
fn text_request(body: &str) -> Value {
    json!({
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
        "type": "text", "text": { "body": body, "preview_url": false }
    })
}

#[tokio::test]
async fn an_agent_reply_reaches_the_graph_api_once_and_statuses_follow() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/{NUMBER}/messages")))
        .and(header("authorization", "Bearer EAAG-dev-demo-token"))
        .and(body_partial_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "type": "text", "text": { "body": "Yes, it also comes in blue.", "preview_url": false }
        })))
        .respond_with(accepted("wamid.OUT-1"))
        .expect(1)
        .mount(&graph)
        .await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Yes, it also comes in blue." })).await;
    let id = sent["id"].as_str().unwrap();
    let m = message_when(&t, &conversation, id, "sent", |m| m["status"] == "sent").await;
    assert_eq!(m["wamid"], "wamid.OUT-1");

    // Status callbacks, out of order: read first (it implies delivered), then a late delivered
    // and sent, which change nothing. Each callback is consumed before its effect is checked.
    for file in ["statuses/status-read.json", "statuses/status-delivered.json", "statuses/status-sent.json"] {
        assert_eq!(t.post_webhook(&status_for(&fixture(file), "wamid.OUT-1")).await.status(), StatusCode::OK);
        t.drained().await;
        let m = message_when(&t, &conversation, id, "the message", |_| true).await;
        assert_eq!(m["status"], "read", "after {file}: {m}");
        assert!(m["delivered_at"].is_string() && m["read_at"].is_string(), "{m}");
    }
    graph.verify().await;
}

#[tokio::test]
async fn a_failed_status_shows_its_reason() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.OUT-2")).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Are you still there?" })).await;
    let id = sent["id"].as_str().unwrap();
    message_when(&t, &conversation, id, "sent", |m| m["status"] == "sent").await;
    let failed = status_for(&fixture("statuses/status-failed-outside-24h-window.json"), "wamid.OUT-2");
    assert_eq!(t.post_webhook(&failed).await.status(), StatusCode::OK);
    let m = message_when(&t, &conversation, id, "failed", |m| m["status"] == "failed").await;
    assert_eq!(m["failure"]["code"], 131047);
    assert_eq!(m["failure"]["reason"], "outside_customer_service_window");
    // Failed is final: a late delivered callback, once consumed, does not revive it.
    assert_eq!(t.post_webhook(&status_for(&fixture("statuses/status-delivered.json"), "wamid.OUT-2")).await.status(), StatusCode::OK);
    t.drained().await;
    let m = message_when(&t, &conversation, id, "the message", |_| true).await;
    assert_eq!((m["status"].as_str(), m["failure"]["code"].as_i64()), (Some("failed"), Some(131047)), "{m}");
}

#[tokio::test]
async fn outside_the_window_the_fallback_template_goes_instead() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({
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
    t.stack.deps.store.put_channel(&channel, None).await.unwrap();
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
    let conversation = t.live_conversation().await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Third time lucky" })).await;
    let m = message_when(&t, &conversation, sent["id"].as_str().unwrap(), "sent", |m| m["status"] == "sent").await;
    assert_eq!(m["wamid"], "wamid.OUT-3");
    t.drained().await;
    assert_eq!(graph_requests(&graph).await, 3, "two failures and one success, nothing more");
}

#[tokio::test]
async fn throttling_is_retried_later_then_fails_into_the_dlq() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(meta_error(400, 130429, "Rate limit hit")).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
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
    let conversation = t.live_conversation().await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Hello" })).await;
    let m = message_when(&t, &conversation, sent["id"].as_str().unwrap(), "failed", |m| m["status"] == "failed").await;
    assert_eq!(m["failure"]["code"], 190);
    t.drained().await;
    graph.verify().await;
}

#[tokio::test]
async fn a_redelivered_job_after_a_successful_send_sends_nothing() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.OUT-4")).expect(1).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Only once" })).await;
    let id = sent["id"].as_str().unwrap();
    message_when(&t, &conversation, id, "sent", |m| m["status"] == "sent").await;
    // SQS delivers at least once: the same job again, twice in one batch, through the handler.
    let job = reply_job(&t, &conversation, id);
    let response = max_dev::registry::invoke_sqs("reply-sender", sqs_job(&job, 2, "replies.fifo"), &t.stack.deps).await.unwrap().unwrap();
    assert!(response.batch_item_failures.is_empty());
    graph.verify().await;
    let m = message_when(&t, &conversation, id, "the message", |_| true).await;
    assert_eq!((m["status"].as_str(), m["wamid"].as_str()), (Some("sent"), Some("wamid.OUT-4")));
}

#[tokio::test]
async fn templates_buttons_lists_and_media_become_graph_requests() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.ANY")).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
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
    let conversation = t.live_conversation().await;
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
    let conversation = t.live_conversation().await;
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
    // The key with another body is another request: 422, nothing queued.
    let res = t
        .http
        .post(t.url(&path))
        .bearer_auth(&t.org.agent)
        .header("idempotency-key", "client-retry-1")
        .json(&json!({ "type": "text", "body": "Something else" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["field"], "Idempotency-Key");
    t.drained().await;
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
        .and(body_partial_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "type": "text", "text": { "body": "Stored, never queued.", "preview_url": false }
        })))
        .respond_with(accepted("wamid.LOST-1"))
        .expect(1)
        .mount(&graph)
        .await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
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
            just_read: None,
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
    t.drained().await;
    let young = t.messages(&conversation).await.into_iter().find(|m| m["text"] == "Stored just now, its job may be on its way.").unwrap();
    assert_eq!(young["status"], "queued");
    let now = chrono::Utc::now();
    let outbox = deps.store.queued_between(now - chrono::Duration::hours(1), now, 100).await.unwrap();
    let ids: Vec<&str> = outbox.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [young["id"].as_str().unwrap()], "the sent reply left the outbox, the queued one is in it");
    graph.verify().await;
}

/// The Graph API answered, and Meta's callback for the id it answered is processed before
/// reply-sender records the send: the race of a slow Graph answer, injected instead of timed.
/// Records the message's status as the callback left it.
struct CallbackBeforeTheAnswerIsRecorded {
    graph: Arc<dyn max_core::ports::WhatsApp>,
    deps: Arc<max_core::config::Deps>,
    callback: Vec<u8>,
    job: Value,
    seen: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl max_core::ports::WhatsApp for CallbackBeforeTheAnswerIsRecorded {
    async fn send(&self, phone_number_id: &str, token: &max_core::config::Secret, body: &Value) -> max_core::ports::SendOutcome {
        let outcome = self.graph.send(phone_number_id, token, body).await;
        let event = max_dev::testing::inbound_event(&self.callback);
        let processed = max_dev::registry::invoke_sqs("inbound-processor", event, &self.deps).await.unwrap().unwrap();
        assert!(processed.batch_item_failures.is_empty(), "the callback was consumed");
        let (org, conversation, id) = (self.job["org_id"].as_str().unwrap(), self.job["conversation_id"].as_str().unwrap(), self.job["message_id"].as_str().unwrap());
        let message = self.deps.store.message(org, conversation, id).await.unwrap().unwrap();
        *self.seen.lock().unwrap() = Some(message.status.as_str().to_string());
        outcome
    }
}

/// Meta calls back `delivered` before reply-sender has recorded the send (the Graph API answered
/// slowly): the status is kept, applied when the send is recorded, and the feed tells sent, then
/// delivered.
#[tokio::test]
async fn a_status_that_comes_before_the_send_is_recorded_is_applied_with_it() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/{NUMBER}/messages")))
        .respond_with(accepted("wamid.EARLY-1"))
        .expect(1)
        .mount(&graph)
        .await;
    let t = TestStack::with(TestOptions { graph_url: Some(graph.uri()), no_pollers: true, ..Default::default() }).await;
    assert!(t.process_inbound(&crate::fresh(&fixture("meta-openapi/text-message.json"))).await.batch_item_failures.is_empty());
    let conversation = t.conversations().await[0]["id"].as_str().unwrap().to_string();
    let message = reply(&t, &conversation, json!({ "type": "text", "body": "A fast callback" })).await;
    let id = message["id"].as_str().unwrap();

    let job = reply_job(&t, &conversation, id);
    let racing = Arc::new(CallbackBeforeTheAnswerIsRecorded {
        graph: t.stack.deps.whatsapp.clone(),
        deps: t.stack.deps.clone(),
        callback: status_for(&fixture("statuses/status-delivered.json"), "wamid.EARLY-1"),
        job: job.clone(),
        seen: Mutex::new(None),
    });
    let mut deps = t.deps_copy();
    deps.whatsapp = racing.clone();
    let response = max_dev::registry::invoke_sqs("reply-sender", sqs_job(&job, 1, "replies.fifo"), &deps).await.unwrap().unwrap();
    assert!(response.batch_item_failures.is_empty());

    let before = racing.seen.lock().unwrap().clone().expect("the callback ran during the send");
    assert_eq!(before, "sending", "the callback came before the send was recorded (claimed, not yet sent)");
    let m = message_when(&t, &conversation, id, "the message", |_| true).await;
    assert_eq!((m["status"].as_str(), m["wamid"].as_str()), (Some("delivered"), Some("wamid.EARLY-1")), "the early status was kept and applied: {m}");
    assert!(m["sent_at"].is_string() && m["delivered_at"].is_string(), "{m}");
    // reply-sender records the events once both are applied: sent, then delivered, once each.
    let statuses: Vec<String> = t
        .feed(&t.org.agent)
        .await
        .iter()
        .filter(|e| e["kind"] == "message.status_changed" && e["data"]["message_id"] == id)
        .filter_map(|e| e["data"]["status"].as_str().map(str::to_string))
        .collect();
    assert_eq!(statuses, ["sent", "delivered"]);
    graph.verify().await;
}

/// Meta itself says the 24-hour window has closed (131047) though our clock says it is open: the
/// fallback template is sent instead, once.
#[tokio::test]
async fn meta_saying_the_window_closed_sends_the_fallback_template_once() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(text_request("Are you still there?")))
        .respond_with(meta_error(400, 131047, "Re-engagement message"))
        .expect(1)
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "type": "template", "template": { "name": "hello_world", "language": { "code": "en_US" } }
        })))
        .respond_with(accepted("wamid.TPL-2"))
        .expect(1)
        .mount(&graph)
        .await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Are you still there?" })).await;
    let m = message_when(&t, &conversation, sent["id"].as_str().unwrap(), "sent as template", |m| m["status"] == "sent").await;
    assert_eq!((m["sent_as_template"].as_str(), m["wamid"].as_str()), (Some("hello_world"), Some("wamid.TPL-2")));
    t.drained().await;
    graph.verify().await;
}

/// A reply stored and queued but not yet sent, on a stack whose queues nobody polls: returns the
/// conversation and the job reply-sender would get.
async fn queued_reply(t: &TestStack, text: &str) -> (String, Value) {
    assert!(t.process_inbound(&crate::fresh(&fixture("meta-openapi/text-message.json"))).await.batch_item_failures.is_empty());
    let conversation = t.conversations().await[0]["id"].as_str().unwrap().to_string();
    let message = reply(t, &conversation, json!({ "type": "text", "body": text })).await;
    let job = reply_job(t, &conversation, message["id"].as_str().unwrap());
    (conversation, job)
}

/// The job on its `attempt`-th delivery (SQS's receive count).
fn delivery(job: &Value, attempt: u32) -> aws_lambda_events::event::sqs::SqsEvent {
    let mut event = sqs_job(job, 1, "replies.fifo");
    event.records[0].attributes.insert("ApproximateReceiveCount".into(), attempt.to_string());
    event
}

/// The Graph API does not answer in time (Meta may have the message): the message stays
/// `sending` and its job waits for Meta's word; with none after `SEND_CONFIRM_WAIT`, it is sent
/// once more, and the message says so.
#[tokio::test]
async fn a_graph_timeout_waits_for_metas_word_then_sends_once_more() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted("wamid.TOO-LATE").set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&graph)
        .await;
    Mock::given(method("POST")).respond_with(accepted("wamid.IN-TIME")).with_priority(2).mount(&graph).await;
    let t = TestStack::with(TestOptions { graph_url: Some(graph.uri()), no_pollers: true, ..Default::default() }).await;
    let (conversation, job) = queued_reply(&t, "Hello in time").await;
    let mut deps = t.deps_copy();
    deps.whatsapp = Arc::new(max_core::adapters::graph::GraphApi::new(&graph.uri(), Duration::from_millis(300)));

    let first = max_dev::registry::invoke_sqs("reply-sender", delivery(&job, 1), &deps).await.unwrap().unwrap();
    assert_eq!(first.batch_item_failures.len(), 1, "the unanswered send is reported failed, to come back");
    let id = job["message_id"].as_str().unwrap();
    let m = message_when(&t, &conversation, id, "the message", |_| true).await;
    assert_eq!(m["status"], "sending", "a timeout is neither a failure nor a send: {m}");

    // Back at once (a duplicate, a short delay): nothing is sent while Meta may still call back.
    let second = max_dev::registry::invoke_sqs("reply-sender", delivery(&job, 2), &deps).await.unwrap().unwrap();
    assert_eq!(second.batch_item_failures.len(), 1);
    assert_eq!(graph_requests(&graph).await, 1);

    // Back after the wait with no word from Meta: sent once more.
    deps.clock = Arc::new(max_core::adapters::memory::ManualClock::at(chrono::Utc::now() + max_core::app::delivery::SEND_CONFIRM_WAIT));
    let third = max_dev::registry::invoke_sqs("reply-sender", delivery(&job, 3), &deps).await.unwrap().unwrap();
    assert!(third.batch_item_failures.is_empty());
    let m = message_when(&t, &conversation, id, "the message", |_| true).await;
    assert_eq!((m["status"].as_str(), m["wamid"].as_str()), (Some("sent"), Some("wamid.IN-TIME")), "{m}");
    assert!(m["resent_at"].is_string(), "the message shows it was sent twice: {m}");
    assert_eq!(graph_requests(&graph).await, 2);
}

/// Records the visibility timeout of every `ChangeMessageVisibility` call its SQS client makes.
#[derive(Debug, Clone, Default)]
struct VisibilityTimeouts(Arc<Mutex<Vec<i32>>>);

impl aws_sdk_sqs::config::Intercept for VisibilityTimeouts {
    fn name(&self) -> &'static str {
        "VisibilityTimeouts"
    }

    fn read_before_execution(
        &self,
        context: &aws_sdk_sqs::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_sqs::config::ConfigBag,
    ) -> Result<(), aws_sdk_sqs::error::BoxError> {
        use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityInput;
        if let Some(input) = context.input().downcast_ref::<ChangeMessageVisibilityInput>() {
            self.0.lock().unwrap().push(input.visibility_timeout().unwrap_or(-1));
        }
        Ok(())
    }
}

/// Retryable failures back off exponentially with full jitter: the delay reply-sender hands to
/// `ChangeMessageVisibility` after attempt n lies in [0, 2 s·2^(n-1)] with the production policy,
/// and grows with n; after the last attempt the job is made visible at once (for the DLQ) and the
/// message fails.
#[tokio::test]
async fn retry_delays_handed_to_sqs_back_off_exponentially() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).mount(&graph).await;
    let t = TestStack::with(TestOptions { graph_url: Some(graph.uri()), no_pollers: true, ..Default::default() }).await;
    let (conversation, job) = queued_reply(&t, "Busy line").await;
    let timeouts = VisibilityTimeouts::default();
    let mut deps = t.deps_copy();
    let sqs = t.stack.sqs.config().to_builder().interceptor(timeouts.clone()).build();
    deps.outbox = std::sync::Arc::new(max_core::adapters::sqs::SqsOutbox::new(aws_sdk_sqs::Client::from_conf(sqs), deps.settings.queues.clone()));
    deps.settings.retry = max_core::domain::retry::RetryPolicy::default();
    assert_eq!(deps.settings.retry.max_attempts, 5);

    const SAMPLES: usize = 6;
    let mut delays: Vec<Vec<i32>> = Vec::new();
    for attempt in 1..=4u32 {
        for _ in 0..SAMPLES {
            let res = max_dev::registry::invoke_sqs("reply-sender", delivery(&job, attempt), &deps).await.unwrap().unwrap();
            assert_eq!(res.batch_item_failures.len(), 1, "attempt {attempt} is retried");
        }
        let recorded = std::mem::take(&mut *timeouts.0.lock().unwrap());
        assert_eq!(recorded.len(), SAMPLES, "one ChangeMessageVisibility per retried delivery");
        let cap = 2 * (1 << (attempt - 1));
        assert!(recorded.iter().all(|d| (0..=cap).contains(d)), "attempt {attempt}: {recorded:?} not within [0, {cap}] s");
        delays.push(recorded);
    }
    // Full jitter over [0, 16] s six times: all within the first attempt's 2 s is a 1-in-4-million chance.
    assert!(delays[3].iter().max() > Some(&2), "the fourth attempt waits longer than the first could: {delays:?}");

    let last = max_dev::registry::invoke_sqs("reply-sender", delivery(&job, 5), &deps).await.unwrap().unwrap();
    assert_eq!(last.batch_item_failures.len(), 1, "reported failed, so SQS moves it to the DLQ");
    assert_eq!(*timeouts.0.lock().unwrap(), [0], "visible again at once");
    let m = message_when(&t, &conversation, job["message_id"].as_str().unwrap(), "the message", |_| true).await;
    assert_eq!(m["status"], "failed");
    assert!(m["failure"]["reason"].as_str().unwrap().starts_with("retries_exhausted"), "{m}");
    assert_eq!(graph_requests(&graph).await, 4 * SAMPLES + 1);
}

#[tokio::test]
async fn a_send_graph_never_answered_is_recorded_by_metas_tagged_callback_and_not_sent_again() {
    // GIVEN a Graph API that takes the message but answers after the client's timeout (5 s)
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.SLOW-1").set_delay(Duration::from_secs(7))).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
    let sent = reply(&t, &conversation, json!({ "type": "text", "body": "Slow line" })).await;
    let id = sent["id"].as_str().unwrap();
    // WHEN the send goes unanswered: the message is `sending`, its job waits for Meta's word
    eventually("the request", WAIT, || async { (graph_requests(&graph).await == 1).then_some(()) }).await;
    message_when(&t, &conversation, id, "sending", |m| m["status"] == "sending").await;
    let request: Value = serde_json::from_slice(&graph.received_requests().await.unwrap()[0].body).unwrap();
    // AND Meta, which delivered it all the same, calls back with the tag the send carried
    let mut callback: Value = serde_json::from_slice(&status_for(&fixture("statuses/status-delivered.json"), "wamid.SLOW-1")).unwrap();
    callback["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = request["biz_opaque_callback_data"].clone();
    assert_eq!(t.post_webhook(&serde_json::to_vec(&callback).unwrap()).await.status(), StatusCode::OK);
    // THEN the callback records the send under Meta's id
    let m = message_when(&t, &conversation, id, "delivered", |m| m["status"] == "delivered").await;
    assert_eq!((m["wamid"].as_str(), m.get("resent_at")), (Some("wamid.SLOW-1"), None), "{m}");
    // AND the job, when it comes back, sends nothing more
    let job = reply_job(&t, &conversation, id);
    let response = max_dev::registry::invoke_sqs("reply-sender", sqs_job(&job, 1, "replies.fifo"), &t.stack.deps).await.unwrap().unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(graph_requests(&graph).await, 1);
}
