//! Outbound webhook deliveries end to end on the dev stack (docs/webhooks.md): an event recorded in
//! the feed reaches the table's stream, webhook-fanout queues one job per subscription, and
//! webhook-delivery POSTs it to receivers that are local servers (wiremock, or a bare socket that
//! holds its answer). Deliveries are verified by the `standardwebhooks` package from PyPI, run by
//! the venv's python (infra/scripts/verify_standard_webhook.py). The dev stack queues retries
//! without their delay (`WEBHOOKS_IMMEDIATE_RETRIES=true`), so three attempts come at once.

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::Utc;
use max_core::domain::event::{EventKind, NewEvent};
use max_dev::testing::{TestOptions, TestStack, WAIT, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// What `standardwebhooks` says of `request` under `secret`: the payload's type, or why not.
fn verified(secret: &str, headers: &[(String, String)], body: &[u8]) -> Result<String, String> {
    let root = max_dev::repo_root();
    let headers: serde_json::Map<String, Value> = headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let input = json!({"secret": secret, "headers": headers, "body": String::from_utf8(body.to_vec()).unwrap()});
    let mut child = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("infra/scripts/verify_standard_webhook.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the venv's python (infra/scripts/venv.sh)");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() { Ok(text) } else { Err(text) }
}

fn headers_of(request: &Request) -> Vec<(String, String)> {
    request.headers.iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string())).collect()
}

fn header<'a>(request: &'a Request, name: &str) -> &'a str {
    request.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// Subscribes the organisation's admin to `types` at `url`: (id, secret).
async fn subscribe(t: &TestStack, url: &str, types: Value) -> (String, String) {
    let (status, created) = t.post("/v1/webhook-subscriptions", &t.org.admin, json!({"url": url, "event_types": types, "timeout_secs": 15})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (created["id"].as_str().unwrap().to_string(), created["secret"].as_str().unwrap().to_string())
}

/// Records an event in the organisation's feed, as every use case does.
async fn record(t: &TestStack, kind: EventKind, key: &str) {
    let event = NewEvent::new(&t.org.seed.id, kind, Utc::now(), json!({"ticket_id": key}), key);
    t.stack.deps.store.record_event(&event).await.expect("event recorded");
}

async fn attempts(t: &TestStack, subscription: &str) -> Vec<Value> {
    let (status, page) = t.get(&format!("/v1/webhook-subscriptions/{subscription}/deliveries?limit=50"), &t.org.admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn requests(server: &MockServer, at_least: usize) -> Vec<Request> {
    eventually(&format!("{at_least} deliveries"), WAIT, || async {
        let got = server.received_requests().await.unwrap_or_default();
        (got.len() >= at_least).then_some(got)
    })
    .await
}

#[tokio::test]
async fn a_ticket_opened_reaches_the_subscriber_signed_and_standard_webhooks_verifies_it() {
    let t = TestStack::start().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;
    let (subscription, secret) = subscribe(&t, &format!("{}/hooks", receiver.uri()), json!(["ticket.opened"])).await;
    // WHEN an agent opens a ticket through the API
    let conversation = t.live_conversation().await;
    let (status, opened) = t.post("/v1/support/tickets", &t.org.agent, json!({"issue_description": "Brakes squeak", "conversation_id": conversation})).await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    // THEN the subscriber gets it, and an independent implementation verifies it
    let got = requests(&receiver, 1).await;
    let delivery = &got[0];
    assert_eq!(header(delivery, "x-max-event"), "ticket.opened");
    assert_eq!(verified(&secret, &headers_of(delivery), &delivery.body), Ok("ticket.opened".to_string()));
    let body: Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(body["data"]["ticket_id"], opened["ticket_id"]);
    // AND a changed body or another secret does not verify (the verifier can say no)
    let mut tampered = delivery.body.clone();
    tampered.push(b' ');
    assert!(verified(&secret, &headers_of(delivery), &tampered).is_err());
    assert!(verified("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &headers_of(delivery), &delivery.body).is_err());
    // AND the attempt log shows it delivered
    let log = eventually("the attempt logged", WAIT, || async { Some(attempts(&t, &subscription).await).filter(|a| !a.is_empty()) }).await;
    assert_eq!((log[0]["outcome"].as_str(), log[0]["status_code"].as_u64()), (Some("delivered"), Some(204)));
    assert_eq!(log[0]["message_id"].as_str(), Some(header(delivery, "webhook-id")));
}

#[tokio::test]
async fn a_receiver_answering_500_twice_then_200_gets_the_event_three_times_with_one_id() {
    let t = TestStack::start().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500).set_body_string("try later")).up_to_n_times(2).with_priority(1).mount(&receiver).await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).with_priority(2).mount(&receiver).await;
    let (subscription, _) = subscribe(&t, &format!("{}/hooks", receiver.uri()), json!(["*"])).await;
    record(&t, EventKind::TicketClosed, "flaky-1").await;
    // THEN three POSTs, one webhook-id
    let got = requests(&receiver, 3).await;
    let ids: Vec<&str> = got.iter().map(|r| header(r, "webhook-id")).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| *id == ids[0] && id.starts_with("msg_")), "{ids:?}");
    // AND the log shows all three, newest first
    let log = eventually("three attempts logged", WAIT, || async { Some(attempts(&t, &subscription).await).filter(|a| a.len() == 3) }).await;
    let lines: Vec<(u64, &str, u64)> = log.iter().map(|a| (a["attempt"].as_u64().unwrap(), a["outcome"].as_str().unwrap(), a["status_code"].as_u64().unwrap())).collect();
    assert_eq!(lines, [(3, "delivered", 200), (2, "retrying", 500), (1, "retrying", 500)]);
    assert_eq!(log[2]["response_body"], "try later");
    assert!(log[2]["next_attempt_at"].is_string(), "the schedule is logged even when the dev stack retries at once");
    assert!(log.iter().all(|a| a["message_id"] == ids[0]));
}

#[tokio::test]
async fn a_410_switches_the_subscription_off_and_the_feed_tells_the_admins() {
    let t = TestStack::start().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(410)).mount(&receiver).await;
    let (subscription, _) = subscribe(&t, &format!("{}/hooks", receiver.uri()), json!(["ticket.closed"])).await;
    record(&t, EventKind::TicketClosed, "gone-1").await;
    let off = eventually("the subscription switched off", WAIT, || async {
        let (_, s) = t.get(&format!("/v1/webhook-subscriptions/{subscription}"), &t.org.admin).await;
        (s["enabled"] == false).then_some(s)
    })
    .await;
    assert_eq!(off["disabled_reason"], "gone");
    // The switch-off and its event are two writes: the feed may show the event a moment later.
    let disabled = eventually("the admin event", WAIT, || async {
        t.feed(&t.org.admin).await.into_iter().find(|e| e["kind"] == "webhook.subscription_disabled")
    })
    .await;
    assert_eq!((disabled["data"]["subscription_id"].as_str(), disabled["data"]["reason"].as_str()), (Some(subscription.as_str()), Some("gone")));
    assert_eq!(attempts(&t, &subscription).await[0]["outcome"], "gone");
}

/// A receiver that takes one request and answers 200 only when released.
async fn held_receiver() -> (String, tokio::sync::oneshot::Receiver<()>, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    let (got_tx, got_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        let _ = socket.read(&mut buf).await;
        let _ = got_tx.send(());
        let _ = release_rx.await;
        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
    });
    (url, got_rx, release_tx)
}

#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_another_subscribers_delivery() {
    let t = TestStack::start().await;
    let (slow_url, slow_got, release) = held_receiver().await;
    let fast = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&fast).await;
    let (slow, _) = subscribe(&t, &slow_url, json!(["*"])).await;
    let (quick, _) = subscribe(&t, &format!("{}/hooks", fast.uri()), json!(["*"])).await;
    record(&t, EventKind::TicketOpened, "hang-1").await;
    // THEN the other subscriber is delivered while the hanging one still holds its request
    slow_got.await.unwrap();
    requests(&fast, 1).await;
    eventually("the quick delivery logged", WAIT, || async { attempts(&t, &quick).await.first().filter(|a| a["outcome"] == "delivered").cloned() }).await;
    assert!(attempts(&t, &slow).await.is_empty(), "the hanging delivery is still waiting for its answer");
    // AND once released, the slow one is delivered too
    release.send(()).unwrap();
    eventually("the slow delivery logged", WAIT, || async { attempts(&t, &slow).await.first().filter(|a| a["outcome"] == "delivered").cloned() }).await;
}

#[tokio::test]
async fn a_private_destination_is_refused_at_creation_and_a_name_resolving_to_one_at_connect() {
    // GIVEN a stack that refuses loopback, as when deployed, where a public-looking name resolves to 127.0.0.1
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let options = TestOptions { webhooks_refuse_loopback: true, webhook_hosts: vec![("rebound.example.com".into(), "127.0.0.1".parse().unwrap())], ..Default::default() };
    let t = TestStack::with(options).await;
    // WHEN an admin subscribes a private address THEN 422 naming the url
    for url in ["https://10.0.0.7/hooks", "https://[::ffff:192.168.1.1]/hooks", &format!("https://127.0.0.1:{}/hooks", receiver.address().port())] {
        let (status, problem) = t.post("/v1/webhook-subscriptions", &t.org.admin, json!({"url": url, "event_types": ["*"]})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {problem}");
        assert!(problem.to_string().contains("url"), "{problem}");
    }
    // WHEN the name is subscribed (it is not an address) and an event comes
    let (subscription, _) = subscribe(&t, &format!("https://rebound.example.com:{}/hooks", receiver.address().port()), json!(["*"])).await;
    record(&t, EventKind::TicketOpened, "rebind-1").await;
    // THEN the attempt is refused when the name resolves, final, and nothing reached the receiver
    let log = eventually("the refused attempt logged", WAIT, || async { Some(attempts(&t, &subscription).await).filter(|a| !a.is_empty()) }).await;
    assert_eq!(log[0]["outcome"], "failed");
    assert!(log[0]["status_code"].is_null());
    assert!(log[0]["error"].as_str().unwrap().contains("loopback"), "{}", log[0]);
    assert!(receiver.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn after_rotate_secret_the_old_and_the_new_secret_both_verify() {
    let t = TestStack::start().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let (subscription, old) = subscribe(&t, &format!("{}/hooks", receiver.uri()), json!(["*"])).await;
    let (status, rotated) = t.post(&format!("/v1/webhook-subscriptions/{subscription}/rotate-secret"), &t.org.admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().unwrap();
    record(&t, EventKind::TicketAnswered, "rotate-1").await;
    let got = requests(&receiver, 1).await;
    assert_eq!(header(&got[0], "webhook-signature").split(' ').count(), 2);
    assert_eq!(verified(new, &headers_of(&got[0]), &got[0].body), Ok("ticket.answered".to_string()));
    assert_eq!(verified(&old, &headers_of(&got[0]), &got[0].body), Ok("ticket.answered".to_string()));
}

#[tokio::test]
async fn an_admin_redelivers_a_failed_attempt_and_replays_the_feed_since_a_time() {
    let t = TestStack::start().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(400)).up_to_n_times(1).with_priority(1).mount(&receiver).await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).with_priority(2).mount(&receiver).await;
    let since = Utc::now() - chrono::Duration::seconds(1);
    let (subscription, _) = subscribe(&t, &format!("{}/hooks", receiver.uri()), json!(["ticket.opened"])).await;
    record(&t, EventKind::TicketOpened, "again-1").await;
    // GIVEN the delivery failed for good (a 400)
    let log = eventually("the failed attempt", WAIT, || async { Some(attempts(&t, &subscription).await).filter(|a| !a.is_empty()) }).await;
    assert_eq!(log[0]["outcome"], "failed");
    // WHEN the admin redelivers it THEN it is sent again with the same webhook-id
    let attempt = log[0]["id"].as_str().unwrap();
    let (status, resent) = t.post(&format!("/v1/webhook-subscriptions/{subscription}/deliveries/{attempt}/redeliver"), &t.org.admin, json!({})).await;
    assert_eq!((status, resent["queued"].as_u64()), (StatusCode::ACCEPTED, Some(1)), "{resent}");
    let got = requests(&receiver, 2).await;
    assert_eq!(header(&got[1], "webhook-id"), header(&got[0], "webhook-id"));
    // WHEN the admin replays since before the event THEN it comes a third time
    let (status, replayed) = t.post(&format!("/v1/webhook-subscriptions/{subscription}/replay?since={}", since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)), &t.org.admin, json!({})).await;
    assert_eq!((status, replayed["queued"].as_u64()), (StatusCode::ACCEPTED, Some(1)), "{replayed}");
    let got = requests(&receiver, 3).await;
    assert_eq!(header(&got[2], "webhook-id"), header(&got[0], "webhook-id"));
    // AND an attempt of no such id is 404
    let (status, _) = t.post(&format!("/v1/webhook-subscriptions/{subscription}/deliveries/01JNOSUCHATTEMPT0000000000/redeliver"), &t.org.admin, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
