//! Actions end to end (issue 4): a customer writes (signed webhook), an action is proposed on the
//! conversation, a person approves / denies / edits it through the API, the customer gets exactly
//! one WhatsApp message with the rendered template (wiremock Graph API), the status callbacks move
//! the answer to delivered and read, and the dashboard's feed shows every step in order.

use std::time::{Duration, Instant};

use max_dev::registry;
use max_dev::testing::{CUSTOMER, NUMBER, TestStack, WAIT, eventually, fixture, sqs_job};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{accepted, status_for};

/// The Graph API request for a text to the fixture's customer.
fn text_to_customer(body: &str) -> Value {
    json!({
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
        "type": "text", "text": { "body": body, "preview_url": false }
    })
}

/// A Graph API that accepts exactly one send of `text` and answers `wamid`.
async fn graph_expecting(text: &str, wamid: &str) -> MockServer {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/{NUMBER}/messages")))
        .and(header("authorization", "Bearer EAAG-dev-demo-token"))
        .and(body_partial_json(text_to_customer(text)))
        .respond_with(accepted(wamid))
        .expect(1)
        .mount(&graph)
        .await;
    graph
}

async fn create_action(t: &TestStack, conversation: &str, body: Value) -> Value {
    let mut body = body;
    body["conversation_id"] = json!(conversation);
    let (status, action) = t.post("/v1/actions", &t.org.agent, body).await;
    assert_eq!(status, StatusCode::CREATED, "{action}");
    assert_eq!(action["status"], "pending");
    action
}

fn refund() -> Value {
    json!({
        "type": "refund_request",
        "title": "Refund order 1042",
        "details": { "order": "1042", "amount": "25.00" },
        "proposed_reply": "The 25.00 will be back on your card within 5 days."
    })
}

async fn action_when(t: &TestStack, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    eventually(what, WAIT, || async {
        let (status, a) = t.get(&format!("/v1/actions/{id}"), &t.org.agent).await;
        (status == StatusCode::OK && check(&a)).then_some(a)
    })
    .await
}

fn steps(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e["data"]["status"].as_str() {
            Some(s) if e["kind"] != "action.created" && e["kind"] != "action.decided" => format!("{} {s}", e["kind"].as_str().unwrap()),
            _ => e["kind"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// Drives the status fixtures for `wamid` and checks the answer follows, then the feed.
async fn deliver_and_read(t: &TestStack, action_id: &str, wamid: &str) -> Value {
    for (file, expect) in [("statuses/status-delivered.json", "delivered"), ("statuses/status-read.json", "read")] {
        assert_eq!(t.post_webhook(&status_for(&fixture(file), wamid)).await.status(), StatusCode::OK);
        // Both, as above: the GET's BatchGetItem may read between the transaction's items.
        let a = action_when(t, action_id, expect, |a| a["response"]["status"] == expect && a["answer_status"] == expect).await;
        assert_eq!(a["answer_status"], expect, "the action shows the answer's status: {a}");
    }
    let a = action_when(t, action_id, "read", |a| a["response"]["status"] == "read").await;
    assert!(a["response"]["delivered_at"].is_string() && a["response"]["read_at"].is_string(), "{a}");
    // The feed is written after the answer's status, by the same job: once the callbacks' jobs
    // are consumed, the feed is complete (reading it right after the status above raced).
    t.drained().await;
    a
}

const FULL_STORY: [&str; 8] = [
    "action.created",
    "action.decided",
    "message.status_changed sent",
    "action.response_status_changed sent",
    "message.status_changed delivered",
    "action.response_status_changed delivered",
    "message.status_changed read",
    "action.response_status_changed read",
];

/// Approve (`/approve` with a reply text): one WhatsApp message with the refund template, the
/// answer followed to read, the conversation's bubble and note, and the feed in order.
#[tokio::test]
async fn an_approval_reaches_the_customer_once_and_the_dashboard_sees_every_step() {
    let expected = "Great news! Your refund request has been approved. You'll see it on your card by Friday.";
    let graph = graph_expecting(expected, "wamid.ACT-APPROVE").await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
    let action = create_action(&t, &conversation, refund()).await;
    let id = action["id"].as_str().unwrap();

    let (status, decided) =
        t.post(&format!("/v1/actions/{id}/approve"), &t.org.agent, json!({ "reply_text": "You'll see it on your card by Friday." })).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["decision"]["decided_by"]["name"], "Al Agent");
    // Decided, the answer not sent yet: the action shows processing.
    assert_eq!(decided["answer_status"], "processing", "{decided}");

    // The action and its answer's record move in one transaction, but the GET reads both in one
    // BatchGetItem, which is not isolated from a transaction as a whole: wait for both.
    let a = action_when(&t, id, "answer sent", |a| a["response"]["status"] == "sent" && a["answer_status"] == "sent").await;
    assert_eq!(a["answer_status"], "sent", "reply-sender sent it: {a}");
    assert_eq!(a["response"]["text"], expected);
    assert_eq!(a["response"]["wamid"], "wamid.ACT-APPROVE");
    assert_eq!(a["response"]["template_source"], "default");
    let a = deliver_and_read(&t, id, "wamid.ACT-APPROVE").await;
    assert_eq!(a["status"], "approved");
    assert_eq!(a["response_message_id"], a["response"]["message_id"]);

    // The conversation: the bubble shows the decision, a note follows, then the answer itself.
    let messages = t.messages(&conversation).await;
    let kinds: Vec<&str> = messages.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["text", "action_request", "action_status_update", "text"], "{messages:?}");
    assert_eq!(messages[1]["direction"], "internal");
    assert_eq!(messages[1]["content"]["status"], "approved");
    assert_eq!(messages[1]["content"]["answer_status"], "read", "the bubble follows the answer too");
    assert_eq!(messages[2]["content"]["response_message_id"], a["response_message_id"]);
    assert_eq!(messages[3]["status"], "read");
    assert_eq!(messages[3]["id"], a["response"]["message_id"]);

    let feed = t.feed(&t.org.agent).await;
    assert_eq!(steps(&feed), FULL_STORY);
    let answer_statuses: Vec<&Value> = feed.iter().filter(|e| e["kind"] == "action.response_status_changed").map(|e| &e["data"]["answer_status"]).collect();
    assert_eq!(answer_statuses, [&json!("sent"), &json!("delivered"), &json!("read")], "live push shows each move");

    // Meta repeats callbacks: the same statuses again change nothing, in the answer or the feed.
    for file in ["statuses/status-read.json", "statuses/status-delivered.json", "statuses/status-read.json"] {
        assert_eq!(t.post_webhook(&status_for(&fixture(file), "wamid.ACT-APPROVE")).await.status(), StatusCode::OK);
    }
    t.drained().await;
    assert_eq!(action_when(&t, id, "still read", |_| true).await["response"], a["response"]);
    assert_eq!(steps(&t.feed(&t.org.agent).await), FULL_STORY);
    graph.verify().await;
}

/// Deny through the seed's single endpoint, `POST /v1/action-feedback`.
#[tokio::test]
async fn a_denial_through_action_feedback_sends_the_denial_template() {
    let expected = "We've reviewed your refund request and unfortunately can't approve it. The order is past the 30-day return window.";
    let graph = graph_expecting(expected, "wamid.ACT-DENY").await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
    let id = create_action(&t, &conversation, refund()).await["id"].as_str().unwrap().to_string();

    let body = json!({ "action_id": id, "status": "denied", "user_response": "The order is past the 30-day return window." });
    let (status, decided) = t.post("/v1/action-feedback", &t.org.agent, body).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "denied");

    let a = action_when(&t, &id, "answer sent", |a| a["response"]["status"] == "sent").await;
    assert_eq!(a["response"]["text"], expected);
    deliver_and_read(&t, &id, "wamid.ACT-DENY").await;
    assert_eq!(steps(&t.feed(&t.org.agent).await), FULL_STORY);
    graph.verify().await;
}

/// Edit: the organisation's own template sees the changed details and the customer's name.
#[tokio::test]
async fn an_edit_changes_the_details_and_the_organisation_template_renders_them() {
    let expected = "Hi Sheena Nelson, we can refund 20.00 for order 1042. The rest is store credit.";
    let graph = graph_expecting(expected, "wamid.ACT-EDIT").await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let templates = json!({ "templates": [{
        "action_type": "refund_request", "decision": "edited",
        "body": "Hi {{customer_name}}, we can refund {{amount}} for order {{ order }}.{{no_such_variable}} {{user_response}}"
    }]});
    let (status, saved) = t.api(Method::PUT, "/v1/action-response-templates", &t.org.admin, Some(templates)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["version"], 1);
    let conversation = t.live_conversation().await;
    let id = create_action(&t, &conversation, refund()).await["id"].as_str().unwrap().to_string();

    let body = json!({ "reply_text": "The rest is store credit.", "changes": { "amount": "20.00" } });
    let (status, decided) = t.post(&format!("/v1/actions/{id}/edit"), &t.org.agent, body).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!((decided["status"].as_str(), decided["details"]["amount"].as_str()), (Some("edited"), Some("20.00")));
    assert_eq!(decided["decision"]["previous_details"]["amount"], "25.00");
    // The decision is in the audit trail: the agent (id and role of the token), the status and
    // the details before → after, written in the decision's own transaction.
    let (status, audit) = t.get(&format!("/v1/audit?entity=action:{id}"), &t.org.admin).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    let entry = &entries[0];
    assert_eq!((entry["operation"].as_str(), entry["actor"]["role"].as_str()), (Some("decide"), Some("agent")), "{entry}");
    assert_eq!(entry["actor"]["user_id"], decided["decision"]["decided_by"]["id"]);
    assert_eq!(entry["changes"]["status"], json!({ "before": "pending", "after": "edited" }), "{entry}");
    assert_eq!((&entry["changes"]["details"]["before"]["amount"], &entry["changes"]["details"]["after"]["amount"]), (&json!("25.00"), &json!("20.00")));

    let a = action_when(&t, &id, "answer sent", |a| a["response"]["status"] == "sent").await;
    assert_eq!((a["response"]["text"].as_str(), a["response"]["template_source"].as_str()), (Some(expected), Some("organisation")));
    deliver_and_read(&t, &id, "wamid.ACT-EDIT").await;
    assert_eq!(steps(&t.feed(&t.org.agent).await), FULL_STORY);
    graph.verify().await;
}

/// An organisation's own type without a template: the generic approval, with the proposed reply.
#[tokio::test]
async fn a_missing_template_falls_back_to_the_generic_answer() {
    let expected = "Good news! Your request \"Replace the kettle\" has been approved. A new one ships tomorrow.";
    let graph = graph_expecting(expected, "wamid.ACT-GENERIC").await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let (status, saved) =
        t.api(Method::PUT, "/v1/action-response-templates", &t.org.admin, Some(json!({ "custom_types": ["warranty_claim"] }))).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let generic = saved["templates"].as_array().unwrap().iter().find(|e| e["action_type"] == "warranty_claim" && e["decision"] == "approved");
    assert_eq!(generic.unwrap()["source"], "generic");
    let conversation = t.live_conversation().await;
    let body = json!({ "type": "warranty_claim", "title": "Replace the kettle", "proposed_reply": "A new one ships tomorrow." });
    let id = create_action(&t, &conversation, body).await["id"].as_str().unwrap().to_string();

    // No reply text: an approval sends the proposed reply.
    let (status, _) = t.post(&format!("/v1/actions/{id}/approve"), &t.org.agent, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let a = action_when(&t, &id, "answer sent", |a| a["response"]["status"] == "sent").await;
    assert_eq!((a["response"]["text"].as_str(), a["response"]["template_source"].as_str()), (Some(expected), Some("generic")));
    deliver_and_read(&t, &id, "wamid.ACT-GENERIC").await;
    assert_eq!(steps(&t.feed(&t.org.agent).await), FULL_STORY);
    graph.verify().await;
}

/// The same decision again is harmless (nothing sent twice), a different one is 409 with the
/// current status, and the answer's job delivered again (SQS at-least-once) sends nothing.
#[tokio::test]
async fn decisions_are_made_once_and_repeats_change_nothing() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.ACT-ONCE")).expect(1).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
    let id = create_action(&t, &conversation, refund()).await["id"].as_str().unwrap().to_string();
    let approve = format!("/v1/actions/{id}/approve");

    let (first, _) = t.post(&approve, &t.org.agent, json!({ "reply_text": "Done." })).await;
    assert_eq!(first, StatusCode::OK);
    let (again, same) = t.post(&approve, &t.org.supervisor, json!({ "reply_text": "Done twice?" })).await;
    assert_eq!(again, StatusCode::OK, "{same}");
    assert_eq!(same["decision"]["reply_text"], "Done.");
    let (feedback_again, _) = t.post("/v1/action-feedback", &t.org.agent, json!({ "action_id": id, "status": "approved" })).await;
    assert_eq!(feedback_again, StatusCode::OK);

    for (path, body) in [
        (format!("/v1/actions/{id}/deny"), json!({})),
        (format!("/v1/actions/{id}/edit"), json!({ "changes": { "amount": "1.00" } })),
        ("/v1/action-feedback".to_string(), json!({ "action_id": id, "status": "denied" })),
    ] {
        let (status, problem) = t.post(&path, &t.org.agent, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {problem}");
        assert_eq!(problem["current_status"], "approved");
    }

    let a = action_when(&t, &id, "answer sent", |a| a["response"]["status"] == "sent").await;
    // The answer's job for reply-sender delivered again, after it was sent.
    let job = json!({ "org_id": t.org.seed.id, "conversation_id": conversation, "message_id": a["response_message_id"] });
    let result = registry::invoke_sqs("reply-sender", sqs_job(&job, 1, "replies.fifo"), &t.stack.deps).await.unwrap().unwrap();
    assert!(result.batch_item_failures.is_empty());
    // The handler ran to its end above; whatever it queued is consumed too.
    t.drained().await;

    let after = action_when(&t, &id, "unchanged", |_| true).await;
    assert_eq!(after["response"], a["response"]);
    let messages = t.messages(&conversation).await;
    let kinds: Vec<&str> = messages.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["text", "action_request", "action_status_update", "text"]);
    let events = steps(&t.feed(&t.org.agent).await);
    assert_eq!(events, FULL_STORY[..4]);
    graph.verify().await;
}

/// WhatsApp refuses the answer: the action stays decided, and the answer shows `failed` with the
/// reason, in the action and in the conversation.
#[tokio::test]
async fn a_refused_answer_shows_failed_with_its_reason_and_the_action_stays_decided() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": { "message": "Message Undeliverable.", "type": "OAuthException", "code": 131026, "error_user_title": "Message Undeliverable" }
        })))
        .expect(1)
        .mount(&graph)
        .await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
    let id = create_action(&t, &conversation, refund()).await["id"].as_str().unwrap().to_string();
    let (status, _) = t.post(&format!("/v1/actions/{id}/approve"), &t.org.agent, json!({})).await;
    assert_eq!(status, StatusCode::OK);

    let a = action_when(&t, &id, "answer failed", |a| a["response"]["status"] == "failed").await;
    assert_eq!(a["status"], "approved");
    assert_eq!(a["response"]["failure"]["code"], 131026);
    assert_eq!(a["response"]["failure"]["reason"], "Message Undeliverable");
    let answer = t.messages(&conversation).await.into_iter().find(|m| m["id"] == a["response"]["message_id"]).unwrap();
    assert_eq!((answer["status"].as_str(), answer["failure"]["code"].as_i64()), (Some("failed"), Some(131026)));
    t.drained().await;
    let events = steps(&t.feed(&t.org.agent).await);
    assert_eq!(events, ["action.created", "action.decided", "message.status_changed failed", "action.response_status_changed failed"]);
    graph.verify().await;
}

/// Another organisation sees none of it: 404 for the action (read or decided), an empty list, an
/// empty feed; and cannot propose an action on our conversation.
#[tokio::test]
async fn another_organisation_gets_404_and_sees_no_events() {
    let t = TestStack::start().await;
    let conversation = t.live_conversation().await;
    let id = create_action(&t, &conversation, refund()).await["id"].as_str().unwrap().to_string();
    let other = &t.other.admin;

    assert_eq!(t.get(&format!("/v1/actions/{id}"), other).await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.post(&format!("/v1/actions/{id}/approve"), other, json!({})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.post("/v1/action-feedback", other, json!({ "action_id": id, "status": "denied" })).await.0, StatusCode::NOT_FOUND);
    let mut body = refund();
    body["conversation_id"] = json!(conversation);
    assert_eq!(t.post("/v1/actions", other, body).await.0, StatusCode::NOT_FOUND);
    let (_, list) = t.get(&format!("/v1/actions?conversation_id={conversation}"), other).await;
    assert_eq!(list["items"], json!([]));
    assert_eq!(t.feed(other).await, Vec::<Value>::new());
    // Our cursor in their feed shows them nothing of ours either.
    let ours = t.feed(&t.org.agent).await;
    let (_, theirs) = t.get(&format!("/v1/events?after={}", ours[0]["id"].as_str().unwrap()), other).await;
    assert_eq!(theirs["items"], json!([]));
    // Still pending for us.
    assert_eq!(t.get(&format!("/v1/actions/{id}"), &t.org.agent).await.1["status"], "pending");
}

/// Lists by status, type and conversation, with cursors; bad input names the field.
#[tokio::test]
async fn actions_list_by_status_type_and_conversation_and_bad_input_names_the_field() {
    let t = TestStack::start().await;
    let conversation = t.live_conversation().await;
    let mut ids = Vec::new();
    for (kind, title) in [("refund_request", "Refund 1"), ("discount_request", "10% off"), ("refund_request", "Refund 2")] {
        let body = json!({ "type": kind, "title": title });
        ids.push(create_action(&t, &conversation, body).await["id"].as_str().unwrap().to_string());
    }
    let (status, _) = t.post(&format!("/v1/actions/{}/deny", ids[0]), &t.org.agent, json!({})).await;
    assert_eq!(status, StatusCode::OK);

    let titles = |v: &Value| v["items"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let (_, all) = t.get("/v1/actions", &t.org.agent).await;
    assert_eq!(titles(&all), ["Refund 2", "10% off", "Refund 1"]);
    let (_, pending) = t.get("/v1/actions?status=pending", &t.org.agent).await;
    assert_eq!(titles(&pending), ["Refund 2", "10% off"]);
    let (_, refunds) = t.get("/v1/actions?type=refund_request", &t.org.agent).await;
    assert_eq!(titles(&refunds), ["Refund 2", "Refund 1"]);
    let (_, here) = t.get(&format!("/v1/actions?conversation_id={conversation}&status=denied"), &t.org.agent).await;
    assert_eq!(titles(&here), ["Refund 1"]);
    let (_, page1) = t.get("/v1/actions?limit=2", &t.org.agent).await;
    let (_, page2) = t.get(&format!("/v1/actions?limit=2&cursor={}", page1["next_cursor"].as_str().unwrap()), &t.org.agent).await;
    assert_eq!(titles(&page2), ["Refund 1"]);

    let field = |v: &Value| v["field"].as_str().unwrap_or_default().to_string();
    let mut unknown_type = refund();
    unknown_type["type"] = json!("warranty_claim");
    unknown_type["conversation_id"] = json!(conversation);
    let (status, p) = t.post("/v1/actions", &t.org.agent, unknown_type).await;
    assert_eq!((status, field(&p).as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "type"));
    let (status, p) = t.post(&format!("/v1/actions/{}/edit", ids[1]), &t.org.agent, json!({ "reply_text": "x" })).await;
    assert_eq!((status, field(&p).as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "changes"));
    let (status, p) = t.post("/v1/action-feedback", &t.org.agent, json!({ "action_id": ids[1], "status": "maybe" })).await;
    assert_eq!((status, field(&p).as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "status"));
    let (status, _) = t.get("/v1/actions?status=maybe", &t.org.agent).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = t.api(Method::PUT, "/v1/action-response-templates", &t.org.agent, Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let bad = json!({ "templates": [{ "action_type": "other", "decision": "approved", "body": "Hi {{customer name}}" }] });
    let (status, p) = t.api(Method::PUT, "/v1/action-response-templates", &t.org.admin, Some(bad)).await;
    assert_eq!((status, field(&p).as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "templates[0].body"));
    let stale = json!({ "custom_types": [], "version": 7 });
    let (status, p) = t.api(Method::PUT, "/v1/action-response-templates", &t.org.admin, Some(stale)).await;
    assert_eq!((status, p["current_status"].as_str()), (StatusCode::CONFLICT, Some("0")));
    let (status, p) = t.get("/v1/events?wait=21", &t.org.agent).await;
    assert_eq!((status, field(&p).as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "wait"));
    let (status, p) = t.get("/v1/events?after=bogus", &t.org.agent).await;
    assert_eq!((status, field(&p).as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "after"));
}

/// `Idempotency-Key` on create: the retried request answers the first action, one bubble only.
#[tokio::test]
async fn a_retried_create_with_the_same_key_creates_one_action() {
    let t = TestStack::start().await;
    let conversation = t.live_conversation().await;
    let mut body = refund();
    body["conversation_id"] = json!(conversation);
    let send = || async {
        let res = t.http.post(t.url("/v1/actions")).bearer_auth(&t.org.agent).header("idempotency-key", "assistant-run-7").json(&body).send().await.unwrap();
        (res.status(), res.json::<Value>().await.unwrap())
    };
    let (first, a) = send().await;
    let (second, b) = send().await;
    assert_eq!((first, second), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(a["id"], b["id"]);
    let bubbles = t.messages(&conversation).await.into_iter().filter(|m| m["type"] == "action_request").count();
    assert_eq!(bubbles, 1);
    assert_eq!(steps(&t.feed(&t.org.agent).await), ["action.created"]);
}

/// A long-poll caller waiting on the feed is answered as soon as the decision lands.
#[tokio::test]
async fn a_waiting_dashboard_is_woken_by_the_decision() {
    let t = TestStack::start().await;
    let conversation = t.live_conversation().await;
    let id = create_action(&t, &conversation, refund()).await["id"].as_str().unwrap().to_string();
    let (_, now) = t.get("/v1/events?after=now", &t.org.agent).await;
    let cursor = now["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(now["items"], json!([]));

    let started = Instant::now();
    let long_poll = format!("/v1/events?after={cursor}&wait=15");
    let waiting = t.get(&long_poll, &t.org.agent);
    let decide = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        t.post(&format!("/v1/actions/{id}/approve"), &t.org.agent, json!({})).await
    };
    let ((status, woken), (decided, _)) = tokio::join!(waiting, decide);
    assert_eq!((status, decided), (StatusCode::OK, StatusCode::OK));
    assert_eq!(woken["items"][0]["kind"], "action.decided", "{woken}");
    assert_eq!(woken["items"][0]["data"]["action_id"], id.as_str());
    assert!(started.elapsed() < Duration::from_secs(10), "answered after {:?}", started.elapsed());
    // Nothing new: a short wait answers empty with the same position.
    let next = woken["next_cursor"].as_str().unwrap();
    let (_, quiet) = t.get(&format!("/v1/events?after={next}&wait=1"), &t.org.agent).await;
    assert!(quiet["items"].as_array().unwrap().iter().all(|e| e["kind"] != "action.decided"));
}

/// Tickets reach the same feed: opened, answered, closed (once each, even when repeated), with
/// the answer's and the closing message's delivery statuses in between.
#[tokio::test]
async fn ticket_changes_reach_the_feed_once() {
    let t = TestStack::start().await;
    let conversation = t.live_conversation().await;
    let body = json!({ "issue_description": "The car still makes the noise", "conversation_id": conversation });
    let (status, opened) = t.post("/v1/support/tickets", &t.org.agent, body).await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let ticket = opened["ticket_id"].as_str().unwrap().to_string();
    let (status, answered) = t.post(&format!("/v1/admin/support/tickets/{ticket}/messages"), &t.org.admin, json!({ "message": "We'll call you today." })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answered}");
    for _ in 0..2 {
        let (status, closed) = t.post(&format!("/v1/admin/support/tickets/{ticket}/close"), &t.org.admin, json!({ "outcome": "RESOLVED" })).await;
        assert_eq!(status, StatusCode::OK, "{closed}");
    }
    let events = eventually("ticket events and both sends", WAIT, || async {
        let events = t.feed(&t.org.agent).await;
        (events.iter().filter(|e| e["kind"] == "message.status_changed").count() == 2).then_some(events)
    })
    .await;
    let tickets: Vec<String> =
        events.iter().filter(|e| e["kind"].as_str().unwrap().starts_with("ticket.")).map(|e| format!("{} {}", e["kind"].as_str().unwrap(), e["data"]["status"].as_str().unwrap())).collect();
    assert_eq!(tickets, ["ticket.opened OPEN", "ticket.answered IN_PROGRESS", "ticket.closed RESOLVED"]);
    assert!(events.iter().all(|e| !e["kind"].as_str().unwrap().starts_with("ticket.") || e["data"]["ticket_id"] == ticket.as_str()));
}

/// The queue refuses the answer's job after the decision's transaction committed (the API answers
/// 5xx): the dashboard retries the same decision, which queues the stored answer; the customer
/// gets it once.
#[tokio::test]
async fn a_decision_whose_job_was_lost_is_answered_when_repeated() {
    let graph = graph_expecting("Great news! Your refund request has been approved. Done.", "wamid.ACT-LOST").await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
    let id = create_action(&t, &conversation, refund()).await["id"].as_str().unwrap().to_string();

    let deps = &t.stack.deps;
    let mut ports = deps.action_ports();
    ports.outbox = &crate::DownQueue;
    let request = max_core::domain::action::DecisionRequest::new(
        max_core::domain::action::ActionStatus::Approved,
        Some("Done.".into()),
        "reply_text",
        None,
    )
    .unwrap();
    let by = max_core::domain::action::Actor { id: "agent-1".into(), name: Some("Al Agent".into()) };
    let lost = max_core::app::actions::decide(&ports, &t.org.seed.id, &id, &request, by, "agent", chrono::Utc::now()).await;
    assert!(lost.is_err(), "the job could not be queued: {lost:?}");
    t.drained().await;
    let a = action_when(&t, &id, "decided, answer stored", |a| a["status"] == "approved").await;
    assert_eq!(a["response"]["status"], "queued", "nothing was sent: {a}");

    let (status, again) = t.post(&format!("/v1/actions/{id}/approve"), &t.org.agent, json!({ "reply_text": "Done." })).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    action_when(&t, &id, "answer sent", |a| a["response"]["status"] == "sent").await;
    // Once more: the answer is no longer queued, nothing is queued again.
    let (status, again) = t.post(&format!("/v1/actions/{id}/approve"), &t.org.agent, json!({ "reply_text": "Done." })).await;
    assert_eq!((status, again["status"].as_str()), (StatusCode::OK, Some("approved")), "{again}");
    t.drained().await;
    let events = steps(&t.feed(&t.org.agent).await);
    assert_eq!(events, FULL_STORY[..4]);
    graph.verify().await;
}

/// Eight actions on one conversation decided at once: every decision's transaction that meets a
/// conversation changed by another is read and made again; each customer answer is sent once and
/// the conversation holds every note and answer.
#[tokio::test]
async fn concurrent_decisions_on_one_conversation_all_land_once() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.ACT-MANY")).expect(8).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let mut body = refund();
        body["title"] = json!(format!("Refund {i}"));
        ids.push(create_action(&t, &conversation, body).await["id"].as_str().unwrap().to_string());
    }
    let decisions = ids.iter().map(|id| {
        let t = &t;
        async move { t.post(&format!("/v1/actions/{id}/approve"), &t.org.agent, json!({ "reply_text": format!("Ref {id}.") })).await }
    });
    for (status, body) in futures::future::join_all(decisions).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for id in &ids {
        action_when(&t, id, "answer sent", |a| a["response"]["status"] == "sent").await;
    }
    let messages = t.messages(&conversation).await;
    let count = |kind: &str, direction: &str| messages.iter().filter(|m| m["type"] == kind && m["direction"] == direction).count();
    assert_eq!((count("action_request", "internal"), count("action_status_update", "internal"), count("text", "outbound")), (8, 8, 8));
    let decided = t.feed(&t.org.agent).await.iter().filter(|e| e["kind"] == "action.decided").count();
    assert_eq!(decided, 8);
    graph.verify().await;
}

/// A filter that drops items (a conversation's actions by status) still answers full pages: the
/// three newest actions are decided, and the first page of two pending ones holds both.
#[tokio::test]
async fn a_filtered_list_fills_its_page() {
    let t = TestStack::start().await;
    let conversation = t.live_conversation().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut body = refund();
        body["title"] = json!(format!("Refund {i}"));
        ids.push(create_action(&t, &conversation, body).await["id"].as_str().unwrap().to_string());
    }
    for id in &ids[2..] {
        let (status, _) = t.post(&format!("/v1/actions/{id}/deny"), &t.org.agent, json!({})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, page) = t.get(&format!("/v1/actions?conversation_id={conversation}&status=pending&limit=2"), &t.org.agent).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let listed: Vec<&str> = page["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [ids[1].as_str(), ids[0].as_str()], "newest first, both pending actions on the first page");
    if let Some(cursor) = page["next_cursor"].as_str() {
        let (_, rest) = t.get(&format!("/v1/actions?conversation_id={conversation}&status=pending&limit=2&cursor={cursor}"), &t.org.agent).await;
        assert_eq!(rest["items"].as_array().map(Vec::len), Some(0), "{rest}");
    }
}

/// An edit is a decision: approving or denying afterwards is 409 with the current status, and only
/// the edit's answer is sent.
#[tokio::test]
async fn an_edited_action_cannot_then_be_approved() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.ACT-EDIT-ONCE")).expect(1).mount(&graph).await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let conversation = t.live_conversation().await;
    let id = create_action(&t, &conversation, refund()).await["id"].as_str().unwrap().to_string();
    let (status, edited) = t.post(&format!("/v1/actions/{id}/edit"), &t.org.agent, json!({ "changes": { "amount": "20.00" } })).await;
    assert_eq!((status, edited["status"].as_str()), (StatusCode::OK, Some("edited")), "{edited}");
    for path in [format!("/v1/actions/{id}/approve"), format!("/v1/actions/{id}/deny")] {
        let (status, problem) = t.post(&path, &t.org.agent, json!({})).await;
        assert_eq!((status, problem["current_status"].as_str()), (StatusCode::CONFLICT, Some("edited")), "{path}: {problem}");
    }
    let a = action_when(&t, &id, "answer sent", |a| a["response"]["status"] == "sent").await;
    assert_eq!((a["status"].as_str(), a["details"]["amount"].as_str()), (Some("edited"), Some("20.00")));
    t.drained().await;
    graph.verify().await;
}
