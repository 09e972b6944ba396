//! `/v1/channels/whatsapp` through the dev gateway on moto: an admin registers a number (its token
//! a Secrets Manager secret of its own, never answered), the messages that came to it before are
//! replayed once, replies go out with the number's own token (read again when Meta refuses it),
//! and only admins of the organisation may touch it.

use max_dev::testing::{TestStack, WAIT, eventually, fixture, items};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer};

use crate::{accepted, meta_error};

/// A number nobody had registered when its customers first wrote.
const NEW_NUMBER: &str = "301234567890123";
const NEW_WABA: &str = "301234567890000";
const TOKEN: &str = "EAAG-new-number-token";

fn registration(number: &str, waba: &str, token: &str) -> Value {
    json!({
        "phone_number_id": number, "waba_id": waba, "display_phone_number": "+1 555-010-0123",
        "fallback_template": { "name": "hello_world", "language": "en_US" }, "access_token": token
    })
}

/// Meta's example text message, stamped now, sent to `number`.
fn text_to(number: &str) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&crate::fresh(&fixture("meta-openapi/text-message.json"))).unwrap();
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!(number);
    serde_json::to_vec(&body).unwrap()
}

/// The organisation's conversations on `number`.
async fn conversations_on(t: &TestStack, number: &str) -> Vec<Value> {
    t.conversations().await.into_iter().filter(|c| c["phone_number_id"] == number).collect()
}

async fn quarantined(t: &TestStack, number: &str) -> usize {
    let bucket = t.stack.settings.media_bucket.clone().expect("bucket");
    let prefix = format!("quarantine/unknown-phone-number-id/{number}/");
    let out = t.stack.s3.list_objects_v2().bucket(&bucket).prefix(&prefix).send().await.expect("list");
    out.key_count().unwrap_or(0) as usize
}

#[tokio::test]
async fn a_message_to_an_unregistered_number_appears_once_when_the_number_is_registered() {
    let t = TestStack::start().await;
    // GIVEN a customer who wrote to a number nobody had registered: kept in the number's folder
    assert_eq!(t.post_webhook(&text_to(NEW_NUMBER)).await.status(), StatusCode::OK);
    eventually("the message kept in quarantine", WAIT, || async { (quarantined(&t, NEW_NUMBER).await == 1).then_some(()) }).await;
    t.drained().await;
    assert!(conversations_on(&t, NEW_NUMBER).await.is_empty());

    // WHEN the organisation's admin registers the number
    let (status, registered) = t.post("/v1/channels/whatsapp", &t.org.admin, registration(NEW_NUMBER, NEW_WABA, TOKEN)).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    assert_eq!((registered["access_token_set"].as_bool(), registered["replay"]["requeued"].as_u64()), (Some(true), Some(1)), "{registered}");
    assert!(!registered.to_string().contains(TOKEN), "the token is never answered: {registered}");

    // THEN the conversation appears, with the message once, and the quarantine is empty
    let c = eventually("the replayed conversation", WAIT, || async { conversations_on(&t, NEW_NUMBER).await.into_iter().next() }).await;
    t.drained().await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(t.messages(id).await.len(), 1);
    assert_eq!(quarantined(&t, NEW_NUMBER).await, 0);

    // WHEN it is replayed again on demand
    let (status, again) = t.post(&format!("/v1/channels/whatsapp/{NEW_NUMBER}/replay"), &t.org.admin, json!({})).await;
    assert_eq!((status, again["requeued"].as_u64()), (StatusCode::OK, Some(0)), "{again}");
    t.drained().await;
    // THEN still one conversation with one message
    assert_eq!(conversations_on(&t, NEW_NUMBER).await.len(), 1);
    assert_eq!(t.messages(id).await.len(), 1);

    // AND the token is the secret of this organisation and number, in Secrets Manager
    let secret = t.stack.deps.secrets.secret(&format!("whatsapp/{}/{NEW_NUMBER}", t.org.seed.id)).await.unwrap();
    assert_eq!(secret.map(|s| s.expose().to_string()).as_deref(), Some(TOKEN));
    // AND the list says a token is set, never which
    let (status, list) = t.get("/v1/channels/whatsapp", &t.org.admin).await;
    assert_eq!(status, StatusCode::OK);
    let numbers: Vec<String> = items(&list).iter().map(|n| n["phone_number_id"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(numbers, [t.org.seed.phone_number_id.clone(), NEW_NUMBER.to_string()], "by phone number id: {list}");
    assert!(items(&list).iter().all(|n| n["access_token_set"] == true && n["access_token_rotated_at"].is_string()), "{list}");
    assert!(!list.to_string().contains(TOKEN) && !list.to_string().contains(&t.org.seed.access_token), "{list}");

    // WHEN the admin removes the number
    let (status, _) = t.api(Method::DELETE, &format!("/v1/channels/whatsapp/{NEW_NUMBER}"), &t.org.admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // THEN its secret is scheduled for deletion, it is no longer listed, and a new message to it
    // waits in quarantine again
    let secret = t.stack.deps.secrets.secret(&format!("whatsapp/{}/{NEW_NUMBER}", t.org.seed.id)).await.unwrap();
    assert!(secret.is_none());
    let (_, list) = t.get("/v1/channels/whatsapp", &t.org.admin).await;
    assert_eq!(items(&list).len(), 1, "{list}");
    let (status, _) = t.api(Method::DELETE, &format!("/v1/channels/whatsapp/{NEW_NUMBER}"), &t.org.admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_the_organisations_admins_may_touch_its_numbers() {
    let t = TestStack::with(max_dev::testing::TestOptions { no_pollers: true, ..Default::default() }).await;
    let ours = t.org.seed.phone_number_id.clone();
    let calls = [
        (Method::GET, "/v1/channels/whatsapp".to_string(), None),
        (Method::POST, "/v1/channels/whatsapp".to_string(), Some(registration(NEW_NUMBER, NEW_WABA, TOKEN))),
        (Method::DELETE, format!("/v1/channels/whatsapp/{ours}"), None),
        (Method::POST, format!("/v1/channels/whatsapp/{ours}/replay"), Some(json!({}))),
    ];
    // Supervisors and agents: 403, as on every admin route.
    for token in [&t.org.supervisor, &t.org.agent] {
        for (m, p, body) in &calls {
            let (status, problem) = t.api(m.clone(), p, token, body.clone()).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{m} {p}: {problem}");
        }
    }
    // Another organisation's admin: our number is 409 to register, 404 to remove or replay.
    let (status, problem) = t.post("/v1/channels/whatsapp", &t.other.admin, registration(&ours, NEW_WABA, "EAAG-theirs")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("phone_number_id")), "{problem}");
    let (status, problem) = t.post("/v1/channels/whatsapp", &t.other.admin, registration(NEW_NUMBER, &t.org.seed.waba_id, "EAAG-theirs")).await;
    assert_eq!(status, StatusCode::CONFLICT, "our account: {problem}");
    for (m, p) in [(Method::DELETE, format!("/v1/channels/whatsapp/{ours}")), (Method::POST, format!("/v1/channels/whatsapp/{ours}/replay"))] {
        assert_eq!(t.api(m.clone(), &p, &t.other.admin, Some(json!({}))).await.0, StatusCode::NOT_FOUND, "{m} {p}");
    }
    let (_, theirs) = t.get("/v1/channels/whatsapp", &t.other.admin).await;
    assert_eq!(items(&theirs).iter().map(|n| n["phone_number_id"].clone()).collect::<Vec<_>>(), [json!(t.other.seed.phone_number_id)]);
    // Nothing of ours moved: still our number, our token.
    let secret = t.stack.deps.secrets.secret(&format!("whatsapp/{}/{ours}", t.org.seed.id)).await.unwrap();
    assert_eq!(secret.map(|s| s.expose().to_string()), Some(t.org.seed.access_token.clone()));
    assert!(t.stack.deps.secrets.secret(&format!("whatsapp/{}/{ours}", t.other.seed.id)).await.unwrap().is_none());
    // A body out of its limits names the field; the token's value is not repeated.
    let mut bad = registration(NEW_NUMBER, NEW_WABA, "has a space");
    bad["display_phone_number"] = json!("+1 555");
    let (status, problem) = t.post("/v1/channels/whatsapp", &t.org.admin, bad).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("access_token")), "{problem}");
    assert!(!problem.to_string().contains("has a space"), "{problem}");
}

/// The reply once reply-sender has recorded it sent.
async fn sent(t: &TestStack, conversation: &str, reply: &Value) -> Value {
    let id = reply["id"].as_str().expect("a queued reply").to_string();
    eventually("the reply sent", WAIT, || async { t.messages(conversation).await.into_iter().find(|m| m["id"] == id.as_str() && m["status"] == "sent") }).await
}

#[tokio::test]
async fn replies_go_out_with_the_numbers_own_token_and_a_rotated_one_after_meta_refuses_the_old() {
    // GIVEN the Graph API accepting only the demo number's token
    let graph = MockServer::start().await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let number = t.org.seed.phone_number_id.clone();
    let old = format!("Bearer {}", t.org.seed.access_token);
    Mock::given(method("POST")).and(path(format!("/{number}/messages"))).and(header("authorization", old.as_str()))
        .respond_with(accepted("wamid.OUT-1")).expect(1).mount(&graph).await;
    let conversation = t.live_conversation().await;
    let (status, first) = t.post(&format!("/v1/conversations/{conversation}/messages"), &t.org.agent, json!({ "type": "text", "body": "one" })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    sent(&t, &conversation, &first).await;
    graph.verify().await;

    // WHEN the admin rotates the token (reply-sender still keeps the old one) and Meta now refuses it
    graph.reset().await;
    Mock::given(method("POST")).and(header("authorization", old.as_str())).respond_with(meta_error(401, 190, "Error validating access token"))
        .expect(1).mount(&graph).await;
    Mock::given(method("POST")).and(path(format!("/{number}/messages"))).and(header("authorization", "Bearer EAAG-rotated"))
        .respond_with(accepted("wamid.OUT-2")).expect(1).mount(&graph).await;
    let (status, rotated) = t.post("/v1/channels/whatsapp", &t.org.admin, registration(&number, &t.org.seed.waba_id, "EAAG-rotated")).await;
    assert_eq!(status, StatusCode::OK, "registered again: {rotated}");
    let (_, second) = t.post(&format!("/v1/conversations/{conversation}/messages"), &t.org.agent, json!({ "type": "text", "body": "two" })).await;

    // THEN the reply goes out once, with the new token
    let m = sent(&t, &conversation, &second).await;
    assert_eq!(m["wamid"], "wamid.OUT-2");
    graph.verify().await;
}
