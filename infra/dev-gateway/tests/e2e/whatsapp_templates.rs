//! WhatsApp message templates end to end: submitted through the API to the WhatsApp sandbox,
//! reviewed by Meta as the dev stack plays it (`POST /dev/whatsapp/templates/{name}`: the signed
//! status webhook through the receiver, the inbound queue and inbound-processor), announced to the
//! admin who submitted it, and refused for sending until approved.

use max_dev::testing::{TestStack, WAIT, eventually, fixture, items};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn order_ready() -> Value {
    json!({
        "name": "order_ready", "language": "en", "category": "UTILITY",
        "components": [
            { "type": "BODY", "text": "Hi {{1}}, your car is ready for pickup.", "example": { "body_text": [["Ana"]] } },
            { "type": "FOOTER", "text": "Demo Motors" }
        ]
    })
}

/// Plays Meta's review of the template through the dev route; the webhook it posted was accepted.
async fn review(t: &TestStack, name: &str, body: Value) {
    let response = t.http.post(t.url(&format!("/dev/whatsapp/templates/{name}"))).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let played: Value = response.json().await.unwrap();
    assert_eq!(played["webhook_status"], 200, "{played}");
    assert_eq!(played["webhook"]["entry"][0]["changes"][0]["field"], "message_template_status_update");
}

async fn template_when(t: &TestStack, id: &str, status: &str) -> Value {
    eventually(status, WAIT, || async {
        // Not there yet: a webhook for a template MAX never saw creates it.
        let (code, template) = t.get(&format!("/v1/whatsapp-templates/{id}"), &t.org.agent).await;
        if code == StatusCode::NOT_FOUND {
            return None;
        }
        assert_eq!(code, StatusCode::OK, "{template}");
        (template["status"] == status).then_some(template)
    })
    .await
}

#[tokio::test]
async fn a_submitted_template_is_pending_then_approved_and_its_creator_is_told() {
    let t = TestStack::start().await;
    // An admin submits a template: Meta (the sandbox) has it, MAX answers it PENDING with Meta's id.
    let (status, submitted) = t.post("/v1/whatsapp-templates", &t.org.admin, order_ready()).await;
    assert_eq!(status, StatusCode::CREATED, "{submitted}");
    assert_eq!(submitted["status"], "PENDING");
    let id = submitted["id"].as_str().unwrap().to_string();
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "Meta's ids are digits: {id}");
    // Agents may read it, not submit; another organisation does not see it.
    let (status, _) = t.post("/v1/whatsapp-templates", &t.org.agent, order_ready()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = t.get(&format!("/v1/whatsapp-templates/{id}"), &t.other.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Sending it before Meta approved it: 422, and nothing is stored or queued.
    let conversation = t.live_conversation().await;
    let content = json!({ "type": "template", "name": "order_ready", "language": "en", "parameters": ["Ana"] });
    let (status, problem) = t.post(&format!("/v1/conversations/{conversation}/messages"), &t.org.agent, content.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem["field"].as_str().unwrap().ends_with("name"), "{problem}");
    assert_eq!(t.messages(&conversation).await.len(), 1, "only the customer's message");

    // Meta approves it: the signed webhook travels the real path and moves it.
    review(&t, "order_ready", json!({ "event": "APPROVED" })).await;
    let approved = template_when(&t, &id, "APPROVED").await;
    assert_eq!(approved["created_by"], submitted["created_by"]);
    // The admin who submitted it is told, in the feed, by an event addressed to them.
    let admin_sub = submitted["created_by"].as_str().unwrap().to_string();
    let told = eventually("template.status_changed", WAIT, || async {
        t.feed(&t.org.admin).await.into_iter().find(|e| e["kind"] == "template.status_changed" && e["data"]["template_id"] == id.as_str())
    })
    .await;
    assert_eq!(told["data"]["notify"], json!({ "user_id": admin_sub }));
    assert_eq!((told["data"]["status"].as_str(), told["data"]["previous_status"].as_str()), (Some("APPROVED"), Some("PENDING")));

    // Now it is sent, with its one parameter; a wrong count is still refused.
    let (status, sent) = t.post(&format!("/v1/conversations/{conversation}/messages"), &t.org.agent, content).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    let wrong = json!({ "type": "template", "name": "order_ready", "language": "en", "parameters": ["Ana", "extra"] });
    let (status, problem) = t.post(&format!("/v1/conversations/{conversation}/messages"), &t.org.agent, wrong).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
}

#[tokio::test]
async fn a_rejected_template_carries_its_reason_and_meta_refuses_a_duplicate() {
    let t = TestStack::start().await;
    let promo = json!({
        "name": "promo_weekend", "language": "en_US", "category": "UTILITY",
        "components": [{ "type": "BODY", "text": "20% off this weekend, {{1}}!", "example": { "body_text": [["Ana"]] } }]
    });
    let (status, submitted) = t.post("/v1/whatsapp-templates", &t.org.admin, promo.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{submitted}");
    let id = submitted["id"].as_str().unwrap().to_string();
    let (status, problem) = t.post("/v1/whatsapp-templates", &t.org.admin, promo).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("template")), "{problem}");

    review(&t, "promo_weekend", json!({ "event": "REJECTED", "reason": "INCORRECT_CATEGORY" })).await;
    let rejected = template_when(&t, &id, "REJECTED").await;
    assert_eq!(rejected["reason"], "INCORRECT_CATEGORY");
    let (status, list) = t.get("/v1/whatsapp-templates?status=REJECTED", &t.org.agent).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(items(&list).iter().map(|t| t["name"].as_str().unwrap().to_string()).collect::<Vec<_>>(), ["promo_weekend"]);
    // The seeded templates are the approved ones; a sync finds nothing new in the sandbox's list.
    let (status, list) = t.get("/v1/whatsapp-templates?status=APPROVED", &t.org.agent).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(items(&list).iter().map(|t| t["name"].as_str().unwrap().to_string()).collect::<Vec<_>>(), ["hello_world", "order_shipped"]);
    let (status, report) = t.post("/v1/whatsapp-templates/sync", &t.org.admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 0);
}

#[tokio::test]
async fn a_template_made_in_metas_tools_appears_on_sync_and_a_delete_reaches_meta() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox.clone().expect("the WhatsApp sandbox is on");
    let made_there = sandbox.know_template(&t.org.seed.waba_id, "service_reminder", "en", "UTILITY", "APPROVED", json!([{ "type": "BODY", "text": "Your service is due, {{1}}." }]));
    let (status, report) = t.post("/v1/whatsapp-templates/sync", &t.org.admin, json!({})).await;
    assert_eq!((status, report["created"].as_u64()), (StatusCode::OK, Some(1)), "{report}");
    let (status, found) = t.get(&format!("/v1/whatsapp-templates/{made_there}"), &t.org.agent).await;
    assert_eq!((status, found["status"].as_str(), found["body_parameters"].clone()), (StatusCode::OK, Some("APPROVED"), json!(["1"])));
    let (status, _) = t.api(reqwest::Method::DELETE, &format!("/v1/whatsapp-templates/{made_there}"), &t.org.admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(sandbox.template_named("service_reminder", None).is_none(), "deleted at Meta");
    let (status, _) = t.get(&format!("/v1/whatsapp-templates/{made_there}"), &t.org.agent).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_template_goes_to_metas_graph_api_with_a_token_of_the_organisations_number() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/102290129340398/message_templates"))
        .and(header("authorization", "Bearer EAAG-dev-demo-token"))
        .and(body_partial_json(json!({ "name": "order_ready", "language": "en", "category": "UTILITY",
            "components": [{ "type": "BODY", "example": { "body_text": [["Ana"]] } }, { "type": "FOOTER" }] })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "594425479261596", "status": "PENDING", "category": "UTILITY" })))
        .expect(1)
        .mount(&graph)
        .await;
    let t = TestStack::with_graph(&graph.uri()).await;
    let (status, submitted) = t.post("/v1/whatsapp-templates", &t.org.admin, order_ready()).await;
    assert_eq!((status, submitted["id"].as_str(), submitted["status"].as_str()), (StatusCode::CREATED, Some("594425479261596"), Some("PENDING")), "{submitted}");
    graph.verify().await;
}

/// Meta's own fixture: a template MAX never saw (made in WhatsApp Manager) rejected; the record is
/// created from the webhook, with its reason.
#[tokio::test]
async fn metas_rejection_of_a_template_made_in_its_tools_creates_it_with_the_reason() {
    let t = TestStack::start().await;
    assert_eq!(t.post_webhook(&fixture("template-status-rejected.json")).await.status(), StatusCode::OK);
    let rejected = template_when(&t, "1689556908129833", "REJECTED").await;
    assert_eq!((rejected["name"].as_str(), rejected["language"].as_str(), rejected["reason"].as_str()), (Some("promo_weekend"), Some("en_US"), Some("INCORRECT_CATEGORY")));
    assert_eq!(rejected["created_by"], Value::Null, "nobody in MAX submitted it: the event is addressed to no one");
    let told = eventually("template.status_changed", WAIT, || async {
        t.feed(&t.org.admin).await.into_iter().find(|e| e["kind"] == "template.status_changed")
    })
    .await;
    assert!(told["data"].get("notify").is_none(), "{told}");
    // Delivered again by Meta: nothing changes, nothing more is told.
    assert_eq!(t.post_webhook(&fixture("template-status-rejected.json")).await.status(), StatusCode::OK);
    t.drained().await;
    let events = t.feed(&t.org.admin).await.into_iter().filter(|e| e["kind"] == "template.status_changed").count();
    assert_eq!(events, 1);
}

/// `message_template_quality_update`, signed as Meta posts it, for one of the organisation's
/// approved templates: its quality moves, once.
#[tokio::test]
async fn a_quality_update_moves_the_templates_quality() {
    let t = TestStack::start().await;
    let (status, list) = t.get("/v1/whatsapp-templates?name=order_shipped", &t.org.agent).await;
    assert_eq!(status, StatusCode::OK);
    let id = items(&list)[0]["id"].as_str().unwrap().to_string();
    let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": t.org.seed.waba_id, "time": chrono::Utc::now().timestamp(), "changes": [{
        "field": "message_template_quality_update",
        "value": { "previous_quality_score": "GREEN", "new_quality_score": "RED", "message_template_id": id.parse::<u64>().unwrap(),
                   "message_template_name": "order_shipped", "message_template_language": "es" } }]}]})
    .to_string();
    for _ in 0..2 {
        assert_eq!(t.post_webhook(body.as_bytes()).await.status(), StatusCode::OK);
    }
    t.drained().await;
    let (_, template) = t.get(&format!("/v1/whatsapp-templates/{id}"), &t.org.agent).await;
    assert_eq!((template["quality"].as_str(), template["status"].as_str()), (Some("RED"), Some("APPROVED")), "{template}");
    let told: Vec<Value> = t.feed(&t.org.admin).await.into_iter().filter(|e| e["kind"] == "template.status_changed").collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!((told[0]["data"]["change"].as_str(), told[0]["data"]["quality"].as_str()), (Some("quality"), Some("RED")));
}
