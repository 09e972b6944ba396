//! Chat support end to end: customers write through signed webhooks, the bot answers with its
//! menu, Chat support opens tickets, admins answer and close them from the API, and what reaches
//! WhatsApp is read from a wiremock Graph API.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use max_dev::testing::{NUMBER, TestStack, WAIT, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const GREETING: &str = "Live chat support — you can now chat with our support team. Please describe your issue.";
const RESOLVED: &str = "Your support ticket has been resolved!";

/// The Graph API accepting every send with a new WhatsApp message id.
struct Accepts(AtomicUsize);

impl Respond for Accepts {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(json!({ "messaging_product": "whatsapp", "messages": [{ "id": format!("wamid.OUT-{n}") }] }))
    }
}

async fn graph() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(format!("/{NUMBER}/messages"))).respond_with(Accepts(AtomicUsize::new(0))).mount(&server).await;
    server
}

/// A customer on WhatsApp, writing to the demo organisation's number.
struct Customer {
    wa_id: &'static str,
    name: &'static str,
    sent: AtomicUsize,
}

impl Customer {
    fn new(wa_id: &'static str, name: &'static str) -> Self {
        Customer { wa_id, name, sent: AtomicUsize::new(0) }
    }

    /// A webhook body with one message of this customer; returns it so a test can redeliver it.
    fn body(&self, message: Value) -> Vec<u8> {
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        let ts = next_timestamp();
        let mut m = message;
        m["from"] = json!(self.wa_id);
        m["id"] = json!(format!("wamid.IN-{}-{n}", self.wa_id));
        m["timestamp"] = json!(ts.to_string());
        serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "15550783881", "phone_number_id": NUMBER },
                "contacts": [{ "profile": { "name": self.name }, "wa_id": self.wa_id }],
                "messages": [m]
            }}]}]
        }))
        .unwrap()
    }

    async fn says(&self, t: &TestStack, text: &str) -> Vec<u8> {
        let body = self.body(json!({ "type": "text", "text": { "body": text } }));
        assert_eq!(t.post_webhook(&body).await.status(), StatusCode::OK);
        body
    }

    async fn taps(&self, t: &TestStack, row_id: &str, title: &str) {
        let body = self.body(json!({ "type": "interactive", "interactive": { "type": "list_reply", "list_reply": { "id": row_id, "title": title } } }));
        assert_eq!(t.post_webhook(&body).await.status(), StatusCode::OK);
    }
}

/// The last WhatsApp timestamp given to a test message (process-wide).
fn last_stamp() -> &'static AtomicI64 {
    static LAST: OnceLock<AtomicI64> = OnceLock::new();
    LAST.get_or_init(|| AtomicI64::new(0))
}

/// WhatsApp stamps messages with the current second: each test message gets a second of its
/// own (now, or just after the previous one), so customer messages never tie.
fn next_timestamp() -> i64 {
    let now = chrono::Utc::now().timestamp();
    let mut last = last_stamp().load(Ordering::SeqCst);
    loop {
        let stamp = now.max(last + 1);
        match last_stamp().compare_exchange(last, stamp, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return stamp,
            Err(actual) => last = actual,
        }
    }
}

/// Waits until the wall clock is past every stamp given so far and past this moment's second,
/// so what happens next on our side (an admin answer) and the customer's next message are both
/// later than everything before, as they would be on a real phone.
async fn settle_clock() {
    let target = last_stamp().load(Ordering::SeqCst).max(chrono::Utc::now().timestamp()) + 1;
    while chrono::Utc::now().timestamp() < target {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every Graph API send to `wa_id`, in order.
async fn sent_to(server: &MockServer, wa_id: &str) -> Vec<Value> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .filter(|b| b["to"] == wa_id)
        .collect()
}

/// Waits until `wa_id` has received `n` messages and returns the last.
async fn nth_sent(server: &MockServer, wa_id: &str, n: usize) -> Value {
    eventually(&format!("message {n} to {wa_id}"), WAIT, || async {
        let sent = sent_to(server, wa_id).await;
        (sent.len() >= n).then(|| sent[n - 1].clone())
    })
    .await
}

fn is_menu(body: &Value) -> bool {
    body["type"] == "interactive"
        && body["interactive"]["type"] == "list"
        && body["interactive"]["action"]["sections"][0]["rows"].as_array().is_some_and(|rows| {
            rows.iter().any(|r| r["title"] == "Chat support") && rows.iter().any(|r| r["title"] == "Ask a question") && rows.len() >= 4
        })
}

fn text_of(body: &Value) -> &str {
    body["text"]["body"].as_str().unwrap_or_default()
}

/// The tickets of a list, by query string.
async fn tickets(t: &TestStack, query: &str) -> (Vec<Value>, i64) {
    let (status, page) = t.get(&format!("/v1/admin/support/tickets{query}"), &t.org.admin).await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    (page["items"].as_array().cloned().unwrap_or_default(), page["total"].as_i64().unwrap_or(-1))
}

fn ids(list: &[Value]) -> Vec<&str> {
    list.iter().filter_map(|t| t["id"].as_str()).collect()
}

async fn ticket(t: &TestStack, id: &str) -> Value {
    let (status, body) = t.get(&format!("/v1/admin/support/tickets/{id}"), &t.org.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn texts(ticket: &Value) -> Vec<(String, String)> {
    ticket["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (m["sender_type"].as_str().unwrap_or_default().to_string(), m["text"].as_str().unwrap_or_default().to_string()))
        .collect()
}

/// The ticket of customer `wa_id` once it holds `n` messages.
async fn ticket_with(t: &TestStack, wa_id: &str, n: usize) -> Value {
    eventually(&format!("ticket of {wa_id} with {n} messages"), WAIT, || async {
        let (list, _) = tickets(t, "").await;
        let found = list.into_iter().find(|x| x["phone_number"] == wa_id)?;
        let full = ticket(t, found["id"].as_str()?).await;
        (full["messages"].as_array()?.len() >= n).then_some(full)
    })
    .await
}

async fn notifications(t: &TestStack) -> Value {
    let (status, body) = t.get("/v1/admin/support/notifications", &t.org.admin).await;
    assert_eq!(status, StatusCode::OK);
    body
}

fn counts(n: &Value) -> (i64, i64, i64, bool) {
    (n["open_tickets"].as_i64().unwrap(), n["in_progress"].as_i64().unwrap(), n["unassigned"].as_i64().unwrap(), n["has_alerts"].as_bool().unwrap())
}

#[tokio::test]
async fn menu_chat_support_ticket_answer_close_and_back_to_the_menu() {
    let server = graph().await;
    let t = TestStack::with_graph(&server.uri()).await;
    max_dev::seed::bot_menu(&t.stack.deps, &t.org.seed).await.unwrap();
    let ana = Customer::new("16505551234", "Ana Ruiz");
    let ben = Customer::new("5215512345678", "Ben Ortiz");

    // A first message gets the menu; its job delivered again (through inbound-processor, not
    // left to SQS deduplication) changes nothing: no second menu.
    let hello = ana.says(&t, "Hello").await;
    assert!(is_menu(&nth_sent(&server, ana.wa_id, 1).await));
    t.drained().await;
    assert!(t.process_inbound(&hello).await.batch_item_failures.is_empty());
    t.drained().await;
    assert_eq!(sent_to(&server, ana.wa_id).await.len(), 1, "one menu for one message");

    // Chat support from the list: the greeting, exactly.
    ana.taps(&t, "chat_support", "Chat support").await;
    assert_eq!(text_of(&nth_sent(&server, ana.wa_id, 2).await), GREETING);

    // The first message opens a ticket with it; the next ones join it; nothing is sent back.
    let first = ana.says(&t, "My car makes a grinding noise when I brake").await;
    let opened = ticket_with(&t, ana.wa_id, 1).await;
    assert_eq!(opened["status"], "OPEN");
    assert_eq!(opened["issue_description"], "My car makes a grinding noise when I brake");
    assert_eq!(opened["sender_name"], "Ana Ruiz");
    assert_eq!(opened["source"], "whatsapp");
    ana.says(&t, "It started yesterday").await;
    let ana_ticket = ticket_with(&t, ana.wa_id, 2).await;
    let ana_id = ana_ticket["id"].as_str().unwrap().to_string();
    assert_eq!(ana_id, opened["id"].as_str().unwrap());
    // The first message's job delivered again: it neither joins the ticket twice nor opens another.
    t.drained().await;
    assert!(t.process_inbound(&first).await.batch_item_failures.is_empty());
    t.drained().await;
    let (all, total) = tickets(&t, "").await;
    assert_eq!((ids(&all), total), (vec![ana_id.as_str()], 1), "one ticket");
    let joined = [("user", "My car makes a grinding noise when I brake"), ("user", "It started yesterday")];
    assert_eq!(texts(&ticket(&t, &ana_id).await), joined.map(|(a, b)| (a.to_string(), b.to_string())), "each message joined once");
    assert_eq!(sent_to(&server, ana.wa_id).await.len(), 2, "nothing sent back for ticket messages");

    // Notifications count it at once (admin); agents see their own view and not the admin one.
    assert_eq!(counts(&notifications(&t).await), (1, 0, 1, true));
    let (status, mine) = t.get("/v1/support/notifications", &t.org.agent).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["assigned_to_me"], 0);
    assert_eq!(t.get("/v1/admin/support/notifications", &t.org.agent).await.0, StatusCode::FORBIDDEN);

    // A second customer opens a ticket of their own at the same time (numeric menu choice).
    ben.says(&t, "hola").await;
    assert!(is_menu(&nth_sent(&server, ben.wa_id, 1).await));
    ben.says(&t, "2").await;
    assert_eq!(text_of(&nth_sent(&server, ben.wa_id, 2).await), GREETING);
    ben.says(&t, "Where is my refund?").await;
    let ben_ticket = ticket_with(&t, ben.wa_id, 1).await;
    let ben_id = ben_ticket["id"].as_str().unwrap().to_string();
    assert_ne!(ana_id, ben_id);
    assert_eq!(counts(&notifications(&t).await), (2, 0, 2, true));

    // The admin answers Ana: exactly that text reaches her on WhatsApp, the ticket is IN_PROGRESS.
    settle_clock().await;
    let answer = "Thanks Ana, please bring the car in tomorrow at 9.";
    let (status, answered) = t.post(&format!("/v1/admin/support/tickets/{ana_id}/messages"), &t.org.admin, json!({ "message": answer })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answered}");
    assert_eq!(answered["whatsapp_status"], "queued");
    assert_eq!(answered["ticket_status"], "IN_PROGRESS");
    let mut out = nth_sent(&server, ana.wa_id, 3).await;
    // Tagged so Meta's status callbacks find the message even if recording the send failed.
    let tag = out.as_object_mut().and_then(|o| o.remove("biz_opaque_callback_data"));
    assert!(tag.as_ref().and_then(|t| t.as_str()).is_some_and(|t| t.starts_with("max1:")), "{tag:?}");
    assert_eq!(
        out,
        json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": ana.wa_id, "type": "text",
                "text": { "body": answer, "preview_url": false } })
    );
    let message_id = answered["message_id"].as_str().unwrap().to_string();
    let shown = eventually("the answer's delivery status", WAIT, || async {
        let v = ticket(&t, &ana_id).await;
        let m = v["messages"].as_array()?.iter().find(|m| m["id"] == message_id.as_str())?.clone();
        (m["whatsapp_status"] == "sent").then_some(v)
    })
    .await;
    assert_eq!(shown["status"], "IN_PROGRESS");
    assert_eq!(counts(&notifications(&t).await), (1, 1, 2, true));

    // Ana replies: it joins her ticket. Ben's ticket holds only Ben's words, and Ben got nothing.
    settle_clock().await;
    ana.says(&t, "Great, see you then").await;
    let ana_full = ticket_with(&t, ana.wa_id, 4).await;
    assert_eq!(
        texts(&ana_full),
        [
            ("user", "My car makes a grinding noise when I brake"),
            ("user", "It started yesterday"),
            ("admin", answer),
            ("user", "Great, see you then"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(texts(&ticket(&t, &ben_id).await), [("user".to_string(), "Where is my refund?".to_string())]);
    assert_eq!(sent_to(&server, ben.wa_id).await.len(), 2);

    // Assignment and priority show in the lists and filter them.
    let (status, assigned) = t.post(&format!("/v1/admin/support/tickets/{ana_id}/assign"), &t.org.admin, json!({ "admin_id": "me" })).await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(assigned["assigned_admin_id"], "org_demo_admin");
    // The assignment is in the audit trail: who, and the field before → after. Admins read it;
    // the other organisation's admin sees none of it.
    let (status, audit) = t.get(&format!("/v1/audit?entity=ticket:{ana_id}"), &t.org.admin).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries = audit["items"].as_array().unwrap();
    let assignment = entries.iter().find(|e| e["operation"] == "assign").unwrap_or_else(|| panic!("no assignment in {audit}"));
    assert_eq!((&assignment["actor"]["user_id"], &assignment["actor"]["role"]), (&json!("org_demo_admin"), &json!("admin")));
    assert_eq!(assignment["changes"]["assigned_admin_id"], json!({ "before": null, "after": "org_demo_admin" }), "{assignment}");
    assert_eq!(t.get("/v1/audit?entity=ticket", &t.org.agent).await.0, StatusCode::FORBIDDEN);
    let (status, theirs) = t.get(&format!("/v1/audit?entity=ticket:{ana_id}"), &t.other.admin).await;
    assert_eq!((status, theirs["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{theirs}");
    let (status, urgent) =
        t.api(Method::PATCH, &format!("/v1/admin/support/tickets/{ben_id}"), &t.org.supervisor, Some(json!({ "priority": "URGENT" }))).await;
    assert_eq!(status, StatusCode::OK, "{urgent}");
    assert_eq!(urgent["priority"], "URGENT");
    let (all, total) = tickets(&t, "").await;
    assert_eq!((ids(&all), total), (vec![ben_id.as_str(), ana_id.as_str()], 2), "newest first");
    assert_eq!(all[1]["assigned_admin_id"], "org_demo_admin");
    assert_eq!(all[0]["priority"], "URGENT");
    for (query, want) in [
        ("?assigned=me", vec![ana_id.as_str()]),
        ("?assigned=org_demo_admin&status=IN_PROGRESS", vec![ana_id.as_str()]),
        ("?assigned=none", vec![ben_id.as_str()]),
        ("?priority=URGENT", vec![ben_id.as_str()]),
        ("?priority=urgent&status=OPEN", vec![ben_id.as_str()]),
        ("?priority=MEDIUM", vec![ana_id.as_str()]),
        ("?status=IN_PROGRESS", vec![ana_id.as_str()]),
        ("?status=OPEN,IN_PROGRESS&limit=1", vec![ben_id.as_str()]),
        ("?status=RESOLVED", vec![]),
    ] {
        let (list, total) = tickets(&t, query).await;
        assert_eq!(ids(&list), want, "{query}");
        if !query.contains("limit") {
            assert_eq!(total, want.len() as i64, "{query} total");
        }
    }
    let (first_page, total) = tickets(&t, "?limit=1").await;
    assert_eq!((ids(&first_page), total), (vec![ben_id.as_str()], 2));
    let (_, page) = t.get("/v1/admin/support/tickets?limit=1", &t.org.admin).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = t.get(&format!("/v1/admin/support/tickets?limit=1&cursor={cursor}"), &t.org.admin).await;
    assert_eq!(next["items"][0]["id"], ana_id.as_str());
    assert_eq!(counts(&notifications(&t).await), (1, 1, 1, true));

    // The admin closes Ana's ticket: the closing message goes out, RESOLVED, off the open list.
    let (status, closed) = t.post(&format!("/v1/admin/support/tickets/{ana_id}/close"), &t.org.admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["status"], "RESOLVED");
    assert!(closed["resolved_at"].is_string());
    assert_eq!(text_of(&nth_sent(&server, ana.wa_id, 4).await), RESOLVED);
    let (status, open) = t.get("/v1/support/open-tickets", &t.org.agent).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(open["items"].as_array().unwrap()), [ben_id.as_str()]);
    assert_eq!(open["total"], 1);
    assert_eq!(counts(&notifications(&t).await), (1, 0, 1, true));

    // Closing again the same way is harmless (nothing new sent); the other way, or answering, is 409.
    let (status, again) = t.post(&format!("/v1/admin/support/tickets/{ana_id}/close"), &t.org.admin, json!({ "outcome": "RESOLVED" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["closing_message_id"], closed["closing_message_id"]);
    let (status, problem) = t.post(&format!("/v1/admin/support/tickets/{ana_id}/close"), &t.org.admin, json!({ "outcome": "CLOSED" })).await;
    assert_eq!((status, problem["current_status"].as_str()), (StatusCode::CONFLICT, Some("RESOLVED")));
    let (status, problem) = t.post(&format!("/v1/admin/support/tickets/{ana_id}/messages"), &t.org.admin, json!({ "message": "one more" })).await;
    assert_eq!((status, problem["current_status"].as_str()), (StatusCode::CONFLICT, Some("RESOLVED")));

    // Ana writes again later: the menu, not her old ticket; support again opens a new ticket.
    ana.says(&t, "Car is fixed, thanks!").await;
    assert!(is_menu(&nth_sent(&server, ana.wa_id, 5).await));
    t.drained().await;
    assert_eq!(sent_to(&server, ana.wa_id).await.len(), 5, "one menu, nothing else, no repeat of the closing message");
    assert_eq!(ticket(&t, &ana_id).await["messages"].as_array().unwrap().len(), 5, "4 messages and the closing one");
    ana.taps(&t, "chat_support", "Chat support").await;
    assert_eq!(text_of(&nth_sent(&server, ana.wa_id, 6).await), GREETING);
    ana.says(&t, "Now the radio is broken").await;
    let newer = eventually("Ana's second ticket", WAIT, || async {
        let (list, _) = tickets(&t, "?status=OPEN").await;
        list.into_iter().find(|x| x["phone_number"] == ana.wa_id)
    })
    .await;
    assert_ne!(newer["id"].as_str().unwrap(), ana_id);
    assert_eq!(newer["issue_description"], "Now the radio is broken");
    let ticket_messages = ticket(&t, &ana_id).await;
    let last = ticket_messages["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["sender_type"].as_str(), last["text"].as_str()), (Some("system"), Some(RESOLVED)));

    // The dashboard feed told admins about each ticket once, in order (the repeated close and the
    // redelivered messages added nothing).
    let newer_id = newer["id"].as_str().unwrap();
    let want = vec![
        ("ticket.opened", ana_id.as_str()),
        ("ticket.opened", ben_id.as_str()),
        ("ticket.answered", ana_id.as_str()),
        ("ticket.closed", ana_id.as_str()),
        ("ticket.opened", newer_id),
    ];
    let feed = eventually("ticket events in the feed", WAIT, || async {
        let (_, page) = t.get("/v1/events?limit=100", &t.org.admin).await;
        let events: Vec<(String, String)> = page["items"]
            .as_array()?
            .iter()
            .filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("ticket.")))
            .map(|e| (e["kind"].as_str().unwrap_or_default().to_string(), e["data"]["ticket_id"].as_str().unwrap_or_default().to_string()))
            .collect();
        (events.len() >= want.len()).then_some(events)
    })
    .await;
    let want: Vec<(String, String)> = want.into_iter().map(|(k, id)| (k.to_string(), id.to_string())).collect();
    assert_eq!(feed, want);
}

#[tokio::test]
async fn bad_input_unknown_tickets_and_other_organisations() {
    let t = TestStack::start().await;
    let (status, created) = t
        .post("/v1/support/tickets", &t.org.agent, json!({ "issue_description": "Invoice 1042 is wrong", "sender_name": "Ana", "priority": "HIGH" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["ticket_id"].as_str().unwrap();
    let base = format!("/v1/admin/support/tickets/{id}");

    let problem = |status: StatusCode, body: &Value, field: &str| {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], field, "{body}");
    };
    let (s, b) = t.post(&format!("{base}/messages"), &t.org.admin, json!({ "message": "  " })).await;
    problem(s, &b, "message");
    let (s, b) = t.post(&format!("{base}/messages"), &t.org.admin, json!({})).await;
    problem(s, &b, "message");
    let (s, b) = t.post(&format!("/v1/support/tickets/{id}/messages"), &t.org.agent, json!({ "message": "x".repeat(4097) })).await;
    problem(s, &b, "message");
    assert!(b["detail"].as_str().unwrap().contains("4096"));
    let (s, b) = t.post("/v1/support/tickets", &t.org.agent, json!({ "issue_description": "" })).await;
    problem(s, &b, "issue_description");
    let (s, b) = t.get("/v1/admin/support/tickets?status=DONE", &t.org.admin).await;
    problem(s, &b, "status");
    assert!(b["detail"].as_str().unwrap().contains("OPEN, IN_PROGRESS, RESOLVED, CLOSED"));
    let (s, b) = t.api(Method::PATCH, &base, &t.org.admin, Some(json!({ "priority": "CRITICAL" }))).await;
    problem(s, &b, "priority");
    assert!(b["detail"].as_str().unwrap().contains("URGENT"), "{b}");
    let (s, b) = t.post(&format!("{base}/close"), &t.org.admin, json!({ "outcome": "OPEN" })).await;
    problem(s, &b, "outcome");
    let (s, b) = t.get("/v1/admin/support/tickets?cursor=bogus", &t.org.admin).await;
    problem(s, &b, "cursor");

    // Unknown tickets and other organisations' tickets are 404 alike.
    for token in [&t.org.admin, &t.other.admin] {
        let unknown = if token == &t.org.admin { "01JUNKNOWN0000000000000000" } else { id };
        let (s, _) = t.get(&format!("/v1/admin/support/tickets/{unknown}"), token).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = t.get(&format!("/v1/support/tickets/{unknown}"), token).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = t.post(&format!("/v1/admin/support/tickets/{unknown}/close"), token, json!({})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = t.post(&format!("/v1/admin/support/tickets/{unknown}/assign"), token, json!({ "admin_id": "me" })).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (_, other_list) = t.get("/v1/admin/support/tickets", &t.other.admin).await;
    assert_eq!(other_list["total"], 0);
    assert_eq!(counts(&t.get("/v1/admin/support/notifications", &t.other.admin).await.1), (0, 0, 0, false));

    // Roles: agents use /v1/support, not /v1/admin/support; only admins edit the menu.
    assert_eq!(t.get(&base, &t.org.agent).await.0, StatusCode::FORBIDDEN);
    assert_eq!(t.get(&base, &t.org.supervisor).await.0, StatusCode::OK);
    let (s, agent_view) = t.get(&format!("/v1/support/tickets/{id}"), &t.org.agent).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(agent_view["priority"], "HIGH");
    assert_eq!(texts(&agent_view), [("user".to_string(), "Invoice 1042 is wrong".to_string())]);

    // A ticket without a WhatsApp conversation cannot be answered on WhatsApp.
    let (s, b) = t.post(&format!("{base}/messages"), &t.org.admin, json!({ "message": "Hello" })).await;
    assert_eq!((s, b["current_status"].as_str()), (StatusCode::CONFLICT, Some("OPEN")));
    // A typed-in customer message joins it.
    let (s, added) = t.post(&format!("/v1/support/tickets/{id}/messages"), &t.org.agent, json!({ "message": "She called again" })).await;
    assert_eq!(s, StatusCode::CREATED, "{added}");
    assert_eq!(ticket(&t, id).await["message_count"], 2);
    // A finished ticket is read-only.
    let (s, b) = t.post(&format!("{base}/close"), &t.org.admin, json!({ "outcome": "CLOSED" })).await;
    assert_eq!((s, b["status"].as_str(), b["user_notification"].as_str()), (StatusCode::OK, Some("CLOSED"), Some("none")));
    let (s, b) = t.post(&format!("/v1/support/tickets/{id}/messages"), &t.org.agent, json!({ "message": "later" })).await;
    assert_eq!((s, b["current_status"].as_str()), (StatusCode::CONFLICT, Some("CLOSED")));
    let (s, b) = t.api(Method::PATCH, &base, &t.org.admin, Some(json!({ "status": "OPEN" }))).await;
    assert_eq!((s, b["current_status"].as_str()), (StatusCode::CONFLICT, Some("CLOSED")));
    let (s, b) = t.post(&format!("{base}/assign"), &t.org.admin, json!({ "admin_id": "someone" })).await;
    assert_eq!((s, b["current_status"].as_str()), (StatusCode::CONFLICT, Some("CLOSED")));
}

#[tokio::test]
async fn admins_edit_the_menu_and_customers_get_the_new_one() {
    let server = graph().await;
    let t = TestStack::with_graph(&server.uri()).await;
    // Nothing stored: the bot is off and GET shows the default it would use.
    let (s, shown) = t.get("/v1/bot/menu", &t.org.supervisor).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((shown["is_default"].as_bool(), shown["enabled"].as_bool()), (Some(true), Some(false)));
    assert_eq!(shown["texts"]["chat_support_greeting"], GREETING);
    let sam = Customer::new("4915112345678", "Sam Weber");
    sam.says(&t, "Hi").await;
    t.drained().await;
    assert!(sent_to(&server, sam.wa_id).await.is_empty(), "no menu without a stored bot");

    // Three entries go out as buttons; the greeting is the organisation's own.
    let mut menu = shown.clone();
    menu["enabled"] = json!(true);
    menu["menu"]["entries"] = json!([
        { "id": "chat_support", "title": "Talk to us", "action": { "type": "chat_support" } },
        { "id": "hours", "title": "Opening hours", "action": { "type": "reply", "text": "Mon-Fri 8-17" } },
        { "id": "book", "title": "Book a service", "action": { "type": "handover", "state": "booking", "text": "Which day suits you?" } }
    ]);
    menu["texts"]["chat_support_greeting"] = json!("Hola! Tell us what happened.");
    assert_eq!(t.api(Method::PUT, "/v1/bot/menu", &t.org.supervisor, Some(menu.clone())).await.0, StatusCode::FORBIDDEN);
    let mut bad = menu.clone();
    bad["menu"]["entries"][1]["title"] = json!("A title far too long for a button");
    let (s, b) = t.api(Method::PUT, "/v1/bot/menu", &t.org.admin, Some(bad)).await;
    assert_eq!((s, b["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("menu.entries[1].title")));
    let (s, saved) = t.api(Method::PUT, "/v1/bot/menu", &t.org.admin, Some(menu)).await;
    assert_eq!(s, StatusCode::OK, "{saved}");
    assert_eq!(saved["is_default"], false);
    assert_eq!(saved["updated_by"], "org_demo_admin");

    sam.says(&t, "menu").await;
    let buttons = nth_sent(&server, sam.wa_id, 1).await;
    assert_eq!(buttons["interactive"]["type"], "button");
    assert_eq!(buttons["interactive"]["action"]["buttons"][0]["reply"]["title"], "Talk to us");
    sam.says(&t, "Talk to us").await;
    assert_eq!(text_of(&nth_sent(&server, sam.wa_id, 2).await), "Hola! Tell us what happened.");
    sam.says(&t, "My invoice is wrong").await;
    let opened = ticket_with(&t, sam.wa_id, 1).await;
    assert_eq!(opened["issue_description"], "My invoice is wrong");
    // Other organisations keep their own (unset) menu.
    let (_, other) = t.get("/v1/bot/menu", &t.other.admin).await;
    assert_eq!(other["is_default"], true);
}

/// A menu entry naming a team (issue 13): picking it moves the conversation to the team's queue
/// as a supervisor's team change does, and the team's online agent takes it; a team that is not
/// the organisation's is refused when the menu is saved (422 naming the entry's field).
#[tokio::test]
async fn a_menu_entry_naming_a_team_queues_the_conversation_there_and_its_online_agent_takes_it() {
    let server = graph().await;
    let t = TestStack::with_graph(&server.uri()).await;
    // GIVEN a team with auto-assignment and an agent of it who is online
    let (s, team) = t.post("/v1/teams", &t.org.admin, json!({ "name": "Billing", "auto_assign": true })).await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    let team = team["id"].as_str().unwrap().to_string();
    let user = format!("{}_billing_agent", t.org.seed.id);
    let (s, agent) = t.post("/v1/agents", &t.org.admin, json!({ "user_id": user, "name": "Bea", "team_ids": [team], "capacity": 2 })).await;
    assert_eq!(s, StatusCode::CREATED, "{agent}");
    let token = t.stack.tokens.mint(&t.org.seed.id, &user, "agent", "Bea");
    assert_eq!(t.api(Method::PUT, "/v1/agents/me/availability", &token, Some(json!({ "availability": "online" }))).await.0, StatusCode::OK);
    // AND a menu whose entry hands over to that team (another organisation's team is refused)
    let (_, mut menu) = t.get("/v1/bot/menu", &t.org.admin).await;
    menu["enabled"] = json!(true);
    menu["menu"]["entries"] = json!([
        { "id": "billing", "title": "Billing", "action": { "type": "handover", "state": "billing", "text": "Billing will answer you here.", "team_id": team } },
        { "id": "hours", "title": "Opening hours", "action": { "type": "reply", "text": "Mon-Fri 8-17" } }
    ]);
    let (_, theirs) = t.post("/v1/teams", &t.other.admin, json!({ "name": "Theirs", "auto_assign": true })).await;
    let mut bad = menu.clone();
    bad["menu"]["entries"][0]["action"]["team_id"] = theirs["id"].clone();
    let (s, b) = t.api(Method::PUT, "/v1/bot/menu", &t.org.admin, Some(bad)).await;
    assert_eq!((s, b["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("menu.entries[0].action.team_id")), "{b}");
    let (s, saved) = t.api(Method::PUT, "/v1/bot/menu", &t.org.admin, Some(menu)).await;
    assert_eq!(s, StatusCode::OK, "{saved}");
    assert_eq!(saved["menu"]["entries"][0]["action"]["team_id"].as_str(), Some(team.as_str()));
    // WHEN a customer gets the menu and picks the entry
    let kim = Customer::new("4915112345699", "Kim Roth");
    kim.says(&t, "Hi").await;
    assert_eq!(nth_sent(&server, kim.wa_id, 1).await["interactive"]["type"], "button", "two entries: buttons");
    kim.says(&t, "Billing").await;
    assert_eq!(text_of(&nth_sent(&server, kim.wa_id, 2).await), "Billing will answer you here.");
    // THEN the conversation is the team's, assigned to its online agent, who holds one place
    let mine = eventually("the conversation assigned to the team's agent", WAIT, || async {
        let (_, page) = t.get(&format!("/v1/conversations?assignee={user}"), &t.org.admin).await;
        page["items"].as_array().and_then(|items| items.first().cloned())
    })
    .await;
    assert_eq!((mine["team_id"].as_str(), mine["status"].as_str(), mine["state"].as_str()), (Some(team.as_str()), Some("assigned"), Some("billing")), "{mine}");
    let (_, agent) = t.get(&format!("/v1/agents/{user}"), &t.org.admin).await;
    assert_eq!(agent["open_count"].as_i64(), Some(1), "{agent}");
}

/// PATCH to a final status behaves like close (closing message included, once); a CLOSED outcome
/// sends its own message; one active ticket per conversation (409); a ticket whose conversation
/// an agent closed cannot be answered (409).
#[tokio::test]
async fn final_statuses_by_patch_or_close_send_their_message_once_and_conflicts_answer_409() {
    let server = graph().await;
    let t = TestStack::with_graph(&server.uri()).await;
    let conversation = t.live_conversation().await;
    let customer = max_dev::testing::CUSTOMER;
    let open = |text: &'static str| {
        let t = &t;
        let conversation = conversation.clone();
        async move {
            let (s, b) = t.post("/v1/support/tickets", &t.org.agent, json!({ "issue_description": text, "conversation_id": conversation })).await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            b["ticket_id"].as_str().unwrap().to_string()
        }
    };

    let first = open("The brakes squeak").await;
    let (s, b) = t.post("/v1/support/tickets", &t.org.agent, json!({ "issue_description": "Again", "conversation_id": conversation })).await;
    assert_eq!((s, b["current_status"].as_str()), (StatusCode::CONFLICT, Some("OPEN")), "a second active ticket on the conversation: {b}");

    // PATCH to RESOLVED: like close, the resolved message goes out; the same PATCH again sends nothing.
    for _ in 0..2 {
        let (s, patched) = t.api(Method::PATCH, &format!("/v1/admin/support/tickets/{first}"), &t.org.admin, Some(json!({ "status": "RESOLVED" }))).await;
        assert_eq!((s, patched["status"].as_str()), (StatusCode::OK, Some("RESOLVED")), "{patched}");
        assert!(patched["resolved_at"].is_string(), "{patched}");
    }
    let (s, b) = t.api(Method::PATCH, &format!("/v1/admin/support/tickets/{first}"), &t.org.admin, Some(json!({ "status": "CLOSED" }))).await;
    assert_eq!((s, b["current_status"].as_str()), (StatusCode::CONFLICT, Some("RESOLVED")), "{b}");
    let last = ticket(&t, &first).await["messages"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!((last["sender_type"].as_str(), last["text"].as_str()), (Some("system"), Some(RESOLVED)));

    // The conversation is free again: a new ticket, closed with the CLOSED outcome.
    let second = open("The radio is broken").await;
    let (s, closed) = t.post(&format!("/v1/admin/support/tickets/{second}/close"), &t.org.admin, json!({ "outcome": "CLOSED" })).await;
    assert_eq!((s, closed["status"].as_str()), (StatusCode::OK, Some("CLOSED")), "{closed}");

    // A third ticket; an agent closes the conversation: the ticket cannot be answered on WhatsApp.
    let third = open("The window sticks").await;
    let (s, b) = t.post(&format!("/v1/conversations/{conversation}/close"), &t.org.agent, json!({})).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("closed")), "{b}");
    let (s, b) = t.post(&format!("/v1/admin/support/tickets/{third}/messages"), &t.org.admin, json!({ "message": "We'll look at it" })).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    t.drained().await;
    let texts: Vec<String> = sent_to(&server, customer).await.iter().map(|b| text_of(b).to_string()).collect();
    assert_eq!(texts, [RESOLVED, max_core::domain::bot::TICKET_CLOSED], "each closing message once, nothing else");
}

#[tokio::test]
async fn tickets_by_phone_and_reference_and_the_daily_limit_through_the_bot() {
    let server = graph().await;
    let t = TestStack::with_graph(&server.uri()).await;
    max_dev::seed::bot_menu(&t.stack.deps, &t.org.seed).await.unwrap();
    // GIVEN a bot letting a customer open 2 tickets a day
    let (_, mut menu) = t.get("/v1/bot/menu", &t.org.admin).await;
    assert_eq!(menu["daily_ticket_limit"], 5, "the default");
    for k in ["is_default", "updated_at", "updated_by"] {
        menu.as_object_mut().unwrap().remove(k);
    }
    menu["daily_ticket_limit"] = json!(2);
    let (s, saved) = t.api(Method::PUT, "/v1/bot/menu", &t.org.admin, Some(menu.clone())).await;
    assert_eq!((s, saved["daily_ticket_limit"].as_i64()), (StatusCode::OK, Some(2)), "{saved}");
    menu["daily_ticket_limit"] = json!(0);
    let (s, b) = t.api(Method::PUT, "/v1/bot/menu", &t.org.admin, Some(menu)).await;
    assert_eq!((s, b["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("daily_ticket_limit")), "{b}");

    let ana = Customer::new("16505551234", "Ana Ruiz");
    ana.says(&t, "Hello").await;
    nth_sent(&server, ana.wa_id, 1).await;
    // AND two tickets opened and resolved today
    let mut opened = Vec::new();
    for (n, issue) in ["The brakes squeak", "The radio is dead"].iter().enumerate() {
        let sent = 2 + n * 2;
        ana.says(&t, "2").await;
        assert_eq!(text_of(&nth_sent(&server, ana.wa_id, sent).await), GREETING);
        ana.says(&t, issue).await;
        let id = eventually("the ticket", WAIT, || async {
            let (list, _) = tickets(&t, "?status=OPEN").await;
            list.into_iter().find(|x| x["issue_description"] == *issue).and_then(|x| x["id"].as_str().map(str::to_string))
        })
        .await;
        let (s, _) = t.post(&format!("/v1/admin/support/tickets/{id}/close"), &t.org.admin, json!({})).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(text_of(&nth_sent(&server, ana.wa_id, sent + 1).await), RESOLVED);
        opened.push(id);
    }
    // WHEN Ana asks for a third
    ana.says(&t, "2").await;
    assert_eq!(text_of(&nth_sent(&server, ana.wa_id, 6).await), GREETING);
    ana.says(&t, "And the mirror fell off").await;
    // THEN the bot says so, and no ticket is opened
    let limit = text_of(&nth_sent(&server, ana.wa_id, 7).await).to_string();
    assert!(limit.contains("limit of 2 support tickets"), "{limit}");
    t.drained().await;
    let (all, total) = tickets(&t, "").await;
    assert_eq!(total, 2, "{all:?}");

    // Tickets by the customer's phone (with or without +), newest first, with their total.
    opened.reverse();
    let (found, total) = tickets(&t, &format!("?phone=%2B{}", ana.wa_id)).await;
    assert_eq!((ids(&found), total), (opened.iter().map(String::as_str).collect(), 2));
    let (found, _) = tickets(&t, &format!("?phone={}&limit=1", ana.wa_id)).await;
    assert_eq!(ids(&found), [opened[0].as_str()]);
    // A reference set by PATCH is found exactly; a ticket typed in with one too.
    let (s, patched) = t.api(Method::PATCH, &format!("/v1/admin/support/tickets/{}", opened[1]), &t.org.admin, Some(json!({ "external_ref": "STU-2024-001" }))).await;
    assert_eq!((s, patched["external_ref"].as_str()), (StatusCode::OK, Some("STU-2024-001")), "{patched}");
    // (typed after the customer's messages' own seconds, so it is the newest)
    settle_clock().await;
    let body = json!({ "issue_description": "Fees question", "external_ref": "STU-2024-001" });
    let (s, typed) = t.post("/v1/support/tickets", &t.org.agent, body).await;
    assert_eq!(s, StatusCode::CREATED, "{typed}");
    let (found, total) = tickets(&t, "?external_ref=STU-2024-001").await;
    assert_eq!((ids(&found), total), (vec![typed["ticket_id"].as_str().unwrap(), opened[1].as_str()], 2));
    let (found, total) = tickets(&t, "?external_ref=STU-2024-001&status=OPEN").await;
    assert_eq!((ids(&found), total), (vec![typed["ticket_id"].as_str().unwrap()], 1));
    // Bad input names its field; another organisation finds nothing.
    for (query, field) in [("?phone=12ab", "phone"), ("?external_ref=a%23b", "external_ref"), ("?phone=%2B34600111222&external_ref=S", "external_ref")] {
        let (s, b) = t.get(&format!("/v1/admin/support/tickets{query}"), &t.org.admin).await;
        assert_eq!((s, b["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{query}: {b}");
    }
    let (s, b) = t.api(Method::PATCH, &format!("/v1/admin/support/tickets/{}", opened[1]), &t.org.admin, Some(json!({ "external_ref": "a b" }))).await;
    assert_eq!((s, b["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("external_ref")), "{b}");
    for query in [format!("?phone={}", ana.wa_id), "?external_ref=STU-2024-001".to_string()] {
        let (s, other) = t.get(&format!("/v1/admin/support/tickets{query}"), &t.other.admin).await;
        assert_eq!((s, other["total"].as_i64(), other["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0), Some(0)), "{query}");
    }
}
