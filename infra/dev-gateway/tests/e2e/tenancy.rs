//! Another organisation's data answers 404; no token answers 401.

use max_dev::testing::{TestStack, WAIT, eventually, fixture};
use max_dev::tokens::TokenRequest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn organisation_b_sees_none_of_organisation_a() {
    let t = TestStack::start().await;
    // Two customers, so A's list has a second page and a cursor to try in B's.
    assert_eq!(t.post_webhook(&crate::fresh(&fixture("batched-two-changes.json"))).await.status(), StatusCode::OK);
    let all = eventually("two conversations", WAIT, || async {
        let c = t.conversations().await;
        (c.len() == 2).then_some(c)
    })
    .await;
    let c = &all[0];
    let id = c["id"].as_str().unwrap();
    let customer = c["customer_id"].as_str().unwrap();
    let b = &t.other.admin;
    for (m, path) in [
        (Method::GET, format!("/v1/conversations/{id}")),
        (Method::GET, format!("/v1/conversations/{id}/messages")),
        (Method::GET, format!("/v1/customers/{customer}")),
        (Method::POST, format!("/v1/conversations/{id}/close")),
        (Method::POST, format!("/v1/conversations/{id}/reopen")),
    ] {
        let (status, body) = t.api(m.clone(), &path, b, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{m} {path}: {body}");
    }
    let (status, _) = t.post(&format!("/v1/conversations/{id}/messages"), b, json!({ "type": "text", "body": "hi" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = t.post(&format!("/v1/conversations/{id}/assign"), b, json!({ "assignee_id": "x" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, list) = t.get("/v1/conversations", b).await;
    assert_eq!((status, list["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{list}");
    // A cursor from A's list is refused in B's (and works in A's).
    let (status, page) = t.get("/v1/conversations?limit=1", &t.org.admin).await;
    assert_eq!(status, StatusCode::OK);
    let cursor = page["next_cursor"].as_str().expect("A's list has a second page");
    let (status, second) = t.get(&format!("/v1/conversations?limit=1&cursor={cursor}"), &t.org.admin).await;
    assert_eq!((status, second["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{second}");
    let (status, problem) = t.get(&format!("/v1/conversations?limit=1&cursor={cursor}"), b).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "cursor");
    let res = t.http.get(t.url("/v1/conversations")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn assign_close_reopen_and_filters() {
    let t = TestStack::start().await;
    assert_eq!(t.post_webhook(&crate::fresh(&fixture("batched-two-changes.json"))).await.status(), StatusCode::OK);
    eventually("two conversations", WAIT, || async { (t.conversations().await.len() == 2).then_some(()) }).await;
    // Listed before their processing ends (the bot's greeting, its reply job): every job done
    // first, or a late one would race the close below (seen: the reopen answered 409, and once
    // a second open conversation).
    t.drained().await;
    let all = t.conversations().await;
    let first = all[0]["id"].as_str().unwrap();
    let (status, assigned) = t.post(&format!("/v1/conversations/{first}/assign"), &t.org.agent, json!({ "assignee_id": "org_demo_agent" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(assigned["assignee_id"], "org_demo_agent");
    let (_, mine) = t.get("/v1/conversations?assignee=me", &t.org.agent).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (status, closed) = t.post(&format!("/v1/conversations/{first}/close"), &t.org.agent, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(closed["status"], "closed");
    let (status, again) = t.post(&format!("/v1/conversations/{first}/close"), &t.org.agent, json!({})).await;
    assert_eq!((status, again["status"].clone()), (StatusCode::OK, json!("closed")), "closing twice is harmless");
    let (_, open) = t.get("/v1/conversations?status=open", &t.org.agent).await;
    assert_eq!(open["items"].as_array().unwrap().len(), 1);
    let (_, closed_list) = t.get("/v1/conversations?status=closed", &t.org.agent).await;
    assert_eq!(closed_list["items"].as_array().unwrap().len(), 1);
    let (status, _) = t.post(&format!("/v1/conversations/{first}/messages"), &t.org.agent, json!({ "type": "text", "body": "late" })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, reopened) = t.post(&format!("/v1/conversations/{first}/reopen"), &t.org.agent, json!({})).await;
    assert_eq!((status, reopened["status"].clone()), (StatusCode::OK, json!("open")));
    let (status, body) = t.get("/v1/conversations?status=archived", &t.org.agent).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "status");
    let (_, page) = t.get("/v1/conversations?limit=1", &t.org.agent).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (_, page2) = t.get(&format!("/v1/conversations?limit=1&cursor={cursor}"), &t.org.agent).await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert_ne!(page2["items"][0]["id"], page["items"][0]["id"]);
}

#[tokio::test]
async fn a_closed_conversation_is_followed_by_a_new_one_when_the_customer_writes() {
    let t = TestStack::start().await;
    let id = t.live_conversation().await;
    let id = id.as_str();
    let c = t.conversations().await.into_iter().find(|c| c["id"] == id).unwrap();
    let (status, closed) = t.post(&format!("/v1/conversations/{id}/close"), &t.org.agent, json!({})).await;
    assert_eq!((status, closed["status"].as_str()), (StatusCode::OK, Some("closed")), "{closed}");
    let later = crate::fresh(&fixture("meta-openapi/text-message-with-context-product-inquiry.json"));
    assert_eq!(t.post_webhook(&later).await.status(), StatusCode::OK);
    let newer = eventually("a new conversation", WAIT, || async {
        t.conversations().await.into_iter().find(|x| x["id"] != id && x["status"] == "open")
    })
    .await;
    assert_eq!(newer["customer_id"], c["customer_id"], "same customer");
    let (status, _) = t.post(&format!("/v1/conversations/{id}/reopen"), &t.org.agent, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "the customer already has an open conversation");
}

/// Every route of template.yaml: without a token 401; every route naming a resource in its path,
/// called by another organisation with this organisation's real ids, 404 (as if it did not exist).
#[tokio::test]
async fn every_route_refuses_no_token_and_answers_404_for_another_organisations_ids() {
    let t = TestStack::with(max_dev::testing::TestOptions { no_pollers: true, ..Default::default() }).await;
    assert!(t.process_inbound(&crate::fresh(&fixture("meta-openapi/text-message.json"))).await.batch_item_failures.is_empty());
    let c = t.conversations().await[0].clone();
    let (conversation, customer) = (c["id"].as_str().unwrap(), c["customer_id"].as_str().unwrap());
    let (s, ticket) = t.post("/v1/support/tickets", &t.org.agent, json!({ "issue_description": "Noise", "conversation_id": conversation })).await;
    assert_eq!(s, StatusCode::CREATED, "{ticket}");
    let ticket = ticket["ticket_id"].as_str().unwrap();
    let (s, action) = t.post("/v1/actions", &t.org.agent, json!({ "conversation_id": conversation, "type": "refund_request", "title": "Refund" })).await;
    assert_eq!(s, StatusCode::CREATED, "{action}");
    let action = action["id"].as_str().unwrap();
    let (s, interaction) = t.post("/v1/interactions", &t.org.agent, json!({ "customer_id": customer, "type": "phone_call", "title": "Call" })).await;
    assert_eq!(s, StatusCode::CREATED, "{interaction}");
    let interaction = interaction["id"].as_str().unwrap();
    let (s, templates) = t.get("/v1/interactions/templates", &t.org.agent).await;
    assert_eq!(s, StatusCode::OK);
    let mut template = templates["items"][0].clone();
    let template_id = template["id"].as_str().unwrap().to_string();
    for field in ["id", "org_id", "created_by", "created_at", "updated_at", "version"] {
        template.as_object_mut().unwrap().remove(field);
    }
    let (s, campaign) = t.post("/v1/campaigns", &t.org.admin, json!({ "name": "Ours", "workflow_template_id": template_id, "customer_ids": [customer] })).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{campaign}");
    let campaign = campaign["id"].as_str().unwrap().to_string();
    let (s, record) = t.post("/v1/service-records", &t.org.agent, json!({ "customer_name": "Ana Ruiz", "customer_phone": "+34 600 111 222" })).await;
    assert_eq!(s, StatusCode::CREATED, "{record}");
    let (record, call) = (record["id"].as_str().unwrap().to_string(), record["call_id"].as_str().unwrap().to_string());
    let (s, demo) = t.post("/v1/calls/demo", &t.org.admin, json!({ "customer_number": "+34600111222" })).await;
    assert_eq!(s, StatusCode::CREATED, "{demo}");
    let demo = demo["id"].as_str().unwrap().to_string();
    let (s, seeded) = t.get("/v1/whatsapp-templates?name=hello_world", &t.org.agent).await;
    assert_eq!(s, StatusCode::OK, "{seeded}");
    let wa_template = seeded["items"][0]["id"].as_str().expect("the seeded fallback template").to_string();
    let (s, canned) = t.post("/v1/canned-responses", &t.org.admin, json!({ "shortcut": "/greeting", "title": "Hola", "content": "Hola {{customer_name}}" })).await;
    assert_eq!(s, StatusCode::CREATED, "{canned}");
    let canned = canned["id"].as_str().unwrap().to_string();
    let (s, team) = t.post("/v1/teams", &t.org.admin, json!({ "name": "Billing" })).await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    let team = team["id"].as_str().unwrap().to_string();
    let (s, key) = t.post("/v1/channels/chat-app", &t.org.admin, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let chat_key = key["key_id"].as_str().unwrap().to_string();
    let (s, second) = t.post("/v1/customers", &t.org.agent, json!({ "name": "Second Customer" })).await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    let second = second["id"].as_str().unwrap().to_string();
    let (s, hook) = t.post("/v1/webhook-subscriptions", &t.org.admin, json!({ "url": "https://crm.example.com/hooks", "event_types": ["*"] })).await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    let hook = hook["id"].as_str().unwrap().to_string();
    let (s, agent) = t.post("/v1/agents", &t.org.admin, json!({ "user_id": "user_tenancy_agent", "name": "Ana", "team_ids": [team] })).await;
    assert_eq!(s, StatusCode::CREATED, "{agent}");
    let (s, policy) = t.post("/v1/sla-policies", &t.org.admin, json!({ "name": "Ours", "targets": { "first_response_seconds": 600 } })).await;
    assert_eq!(s, StatusCode::CREATED, "{policy}");
    let policy = policy["id"].as_str().unwrap().to_string();
    // A customer's document (the image fixture shares the text's wamid): its file is recorded
    // (pending: no pollers) under its message's id.
    assert!(t.process_inbound(&crate::fresh(&fixture("media/document.json"))).await.batch_item_failures.is_empty());
    let mut media = None;
    for c in t.conversations().await {
        if let Some(m) = t.messages(c["id"].as_str().unwrap()).await.into_iter().find(|m| m["media"].is_object()) {
            media = m["id"].as_str().map(str::to_string);
        }
    }
    let media = media.expect("the document's message");
    assert_eq!(t.get(&format!("/v1/media/{media}"), &t.org.agent).await.0, StatusCode::CONFLICT, "ours: still pending");

    // (method, path of template.yaml) -> (path with our ids, a body the route would accept).
    let cases: Vec<(&str, &str, String, Value)> = vec![
        ("GET", "/v1/conversations/{id}", format!("/v1/conversations/{conversation}"), Value::Null),
        ("GET", "/v1/conversations/{id}/messages", format!("/v1/conversations/{conversation}/messages"), Value::Null),
        ("POST", "/v1/conversations/{id}/messages", format!("/v1/conversations/{conversation}/messages"), json!({ "type": "text", "body": "hi" })),
        ("POST", "/v1/conversations/{id}/assign", format!("/v1/conversations/{conversation}/assign"), json!({ "assignee_id": "x" })),
        ("POST", "/v1/conversations/{id}/close", format!("/v1/conversations/{conversation}/close"), json!({})),
        ("POST", "/v1/conversations/{id}/reopen", format!("/v1/conversations/{conversation}/reopen"), json!({})),
        ("GET", "/v1/customers/{id}", format!("/v1/customers/{customer}"), Value::Null),
        ("PATCH", "/v1/customers/{id}", format!("/v1/customers/{customer}"), json!({ "name": "ours now", "version": 1 })),
        ("GET", "/v1/customers/{id}/export", format!("/v1/customers/{customer}/export"), Value::Null),
        ("DELETE", "/v1/customers/{id}", format!("/v1/customers/{customer}"), Value::Null),
        ("POST", "/v1/customers/{id}/unblock", format!("/v1/customers/{customer}/unblock"), Value::Null),
        (
            "POST",
            "/v1/customers/{id}/transactions",
            format!("/v1/customers/{customer}/transactions"),
            json!({ "id": "order-1", "amount_minor": 1999, "currency": "EUR", "status": "completed", "occurred_at": "2026-11-21T09:30:00Z" }),
        ),
        ("GET", "/v1/customers/{id}/transactions", format!("/v1/customers/{customer}/transactions"), Value::Null),
        ("GET", "/v1/customers/{id}/context", format!("/v1/customers/{customer}/context"), Value::Null),
        ("POST", "/v1/customers/{id}/link", format!("/v1/customers/{customer}/link"), json!({ "customer_id": second })),
        ("POST", "/v1/customers/{id}/unlink", format!("/v1/customers/{customer}/unlink"), json!({ "customer_id": second })),
        ("POST", "/v1/support/tickets/{id}/messages", format!("/v1/support/tickets/{ticket}/messages"), json!({ "message": "hi" })),
        ("GET", "/v1/support/tickets/{id}", format!("/v1/support/tickets/{ticket}"), Value::Null),
        ("GET", "/v1/admin/support/tickets/{id}", format!("/v1/admin/support/tickets/{ticket}"), Value::Null),
        ("POST", "/v1/admin/support/tickets/{id}/messages", format!("/v1/admin/support/tickets/{ticket}/messages"), json!({ "message": "hi" })),
        ("POST", "/v1/admin/support/tickets/{id}/close", format!("/v1/admin/support/tickets/{ticket}/close"), json!({})),
        ("PATCH", "/v1/admin/support/tickets/{id}", format!("/v1/admin/support/tickets/{ticket}"), json!({ "priority": "HIGH" })),
        ("POST", "/v1/admin/support/tickets/{id}/assign", format!("/v1/admin/support/tickets/{ticket}/assign"), json!({ "admin_id": "me" })),
        ("GET", "/v1/actions/{id}", format!("/v1/actions/{action}"), Value::Null),
        ("POST", "/v1/actions/{id}/approve", format!("/v1/actions/{action}/approve"), json!({})),
        ("POST", "/v1/actions/{id}/deny", format!("/v1/actions/{action}/deny"), json!({})),
        ("POST", "/v1/actions/{id}/edit", format!("/v1/actions/{action}/edit"), json!({ "changes": { "amount": "1.00" } })),
        ("GET", "/v1/interactions/customers/{customerId}/next", format!("/v1/interactions/customers/{customer}/next"), Value::Null),
        ("GET", "/v1/interactions/customers/{customerId}/pending", format!("/v1/interactions/customers/{customer}/pending"), Value::Null),
        ("GET", "/v1/interactions/customers/{customerId}/overdue", format!("/v1/interactions/customers/{customer}/overdue"), Value::Null),
        ("GET", "/v1/interactions/templates/{templateId}", format!("/v1/interactions/templates/{template_id}"), Value::Null),
        ("PUT", "/v1/interactions/templates/{templateId}", format!("/v1/interactions/templates/{template_id}"), template.clone()),
        ("GET", "/v1/interactions/{id}", format!("/v1/interactions/{interaction}"), Value::Null),
        ("PUT", "/v1/interactions/{id}", format!("/v1/interactions/{interaction}"), json!({ "title": "mine now" })),
        ("POST", "/v1/interactions/{id}/complete", format!("/v1/interactions/{interaction}/complete"), json!({ "outcome": "success" })),
        ("POST", "/v1/interactions/{id}/cancel", format!("/v1/interactions/{interaction}/cancel"), json!({})),
        ("GET", "/v1/campaigns/{id}", format!("/v1/campaigns/{campaign}"), Value::Null),
        ("GET", "/v1/service-records/{id}", format!("/v1/service-records/{record}"), Value::Null),
        ("PUT", "/v1/service-records/{id}", format!("/v1/service-records/{record}"), json!({ "do_not_call": true })),
        ("DELETE", "/v1/service-records/{id}", format!("/v1/service-records/{record}"), Value::Null),
        ("GET", "/v1/calls/{id}", format!("/v1/calls/{call}"), Value::Null),
        ("PUT", "/v1/calls/{id}", format!("/v1/calls/{call}"), json!({ "notes": "ours now" })),
        ("DELETE", "/v1/calls/{id}", format!("/v1/calls/{call}"), Value::Null),
        ("POST", "/v1/calls/{id}/retry", format!("/v1/calls/{call}/retry"), json!({})),
        ("POST", "/v1/calls/demo/{id}/initiate", format!("/v1/calls/demo/{demo}/initiate"), json!({})),
        ("DELETE", "/v1/channels/whatsapp/{phoneNumberId}", format!("/v1/channels/whatsapp/{}", t.org.seed.phone_number_id), Value::Null),
        ("POST", "/v1/channels/whatsapp/{phoneNumberId}/replay", format!("/v1/channels/whatsapp/{}/replay", t.org.seed.phone_number_id), json!({})),
        ("GET", "/v1/whatsapp-templates/{id}", format!("/v1/whatsapp-templates/{wa_template}"), Value::Null),
        ("DELETE", "/v1/whatsapp-templates/{id}", format!("/v1/whatsapp-templates/{wa_template}"), Value::Null),
        ("GET", "/v1/canned-responses/{id}", format!("/v1/canned-responses/{canned}"), Value::Null),
        ("PATCH", "/v1/canned-responses/{id}", format!("/v1/canned-responses/{canned}"), json!({ "title": "ours now" })),
        ("POST", "/v1/canned-responses/{id}/render", format!("/v1/canned-responses/{canned}/render"), json!({ "conversation_id": conversation })),
        ("DELETE", "/v1/canned-responses/{id}", format!("/v1/canned-responses/{canned}"), Value::Null),
        ("GET", "/v1/media/{id}", format!("/v1/media/{media}"), Value::Null),
        ("GET", "/v1/teams/{id}", format!("/v1/teams/{team}"), Value::Null),
        ("PATCH", "/v1/teams/{id}", format!("/v1/teams/{team}"), json!({ "name": "ours now" })),
        ("GET", "/v1/teams/{id}/business-hours", format!("/v1/teams/{team}/business-hours"), Value::Null),
        ("PUT", "/v1/teams/{id}/business-hours", format!("/v1/teams/{team}/business-hours"), json!({ "time_zone": "UTC", "version": 0 })),
        ("GET", "/v1/teams/{id}/business-hours/status", format!("/v1/teams/{team}/business-hours/status"), Value::Null),
        ("DELETE", "/v1/channels/chat-app/keys/{keyId}", format!("/v1/channels/chat-app/keys/{chat_key}"), Value::Null),
        ("GET", "/v1/webhook-subscriptions/{id}", format!("/v1/webhook-subscriptions/{hook}"), Value::Null),
        ("PATCH", "/v1/webhook-subscriptions/{id}", format!("/v1/webhook-subscriptions/{hook}"), json!({ "enabled": false })),
        ("POST", "/v1/webhook-subscriptions/{id}/rotate-secret", format!("/v1/webhook-subscriptions/{hook}/rotate-secret"), json!({})),
        ("GET", "/v1/webhook-subscriptions/{id}/deliveries", format!("/v1/webhook-subscriptions/{hook}/deliveries"), Value::Null),
        ("POST", "/v1/webhook-subscriptions/{id}/deliveries/{deliveryId}/redeliver", format!("/v1/webhook-subscriptions/{hook}/deliveries/01JATTEMPT0000000000000000/redeliver"), json!({})),
        ("POST", "/v1/webhook-subscriptions/{id}/replay", format!("/v1/webhook-subscriptions/{hook}/replay?since=2026-01-01T00:00:00Z"), json!({})),
        ("DELETE", "/v1/webhook-subscriptions/{id}", format!("/v1/webhook-subscriptions/{hook}"), Value::Null),
        ("GET", "/v1/agents/{id}", "/v1/agents/user_tenancy_agent".to_string(), Value::Null),
        ("PATCH", "/v1/agents/{id}", "/v1/agents/user_tenancy_agent".to_string(), json!({ "capacity": 1 })),
        ("PATCH", "/v1/conversations/{id}", format!("/v1/conversations/{conversation}"), json!({ "priority": "urgent" })),
        ("GET", "/v1/sla-policies/{id}", format!("/v1/sla-policies/{policy}"), Value::Null),
        ("PATCH", "/v1/sla-policies/{id}", format!("/v1/sla-policies/{policy}"), json!({ "name": "theirs now" })),
        ("DELETE", "/v1/sla-policies/{id}", format!("/v1/sla-policies/{policy}"), Value::Null),
    ];
    let routes = &t.stack.template.routes;
    let with_ids: Vec<(String, String)> = routes.iter().filter(|r| r.authorized && r.path.contains('{')).map(|r| (r.method.to_uppercase(), r.path.clone())).collect();
    let covered: Vec<(String, String)> = cases.iter().map(|(m, p, _, _)| (m.to_string(), p.to_string())).collect();
    for route in &with_ids {
        assert!(covered.contains(route), "route {route:?} of template.yaml has no case here");
    }
    for (m, template_path, path, body) in &cases {
        assert!(with_ids.contains(&(m.to_string(), template_path.to_string())), "{m} {template_path} is not a route of template.yaml");
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        let body = (!body.is_null()).then(|| body.clone());
        let (status, problem) = t.api(method, path, &t.other.admin, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{m} {path} as another organisation: {problem}");
    }
    // Our team's SLA compliance is not theirs to read (`?team=` names the team).
    let (s, problem) = t.get(&format!("/v1/sla/compliance?team={team}"), &t.other.admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "our team's compliance as another organisation: {problem}");
    // Nothing of ours changed under their calls.
    assert_eq!(t.get(&format!("/v1/actions/{action}"), &t.org.agent).await.1["status"], "pending");
    assert_eq!(t.get(&format!("/v1/whatsapp-templates/{wa_template}"), &t.org.agent).await.1["status"], "APPROVED", "not deleted by another organisation");
    assert_eq!(t.get(&format!("/v1/interactions/{interaction}"), &t.org.agent).await.1["title"], "Call");
    assert_eq!(t.get("/v1/campaigns", &t.other.admin).await.1["items"], json!([]), "our campaign is not in their list");
    let (_, ours) = t.get(&format!("/v1/conversations/{conversation}"), &t.org.agent).await;
    assert_eq!((ours["status"].as_str(), ours["priority"].as_str()), (Some("open"), Some("normal")), "{ours}");
    assert_eq!(t.get(&format!("/v1/sla-policies/{policy}"), &t.org.agent).await.1["name"], "Ours", "not changed nor deleted by another organisation");
    let (_, keys) = t.get("/v1/channels/chat-app", &t.org.admin).await;
    assert_eq!(keys["items"][0]["key_id"].as_str(), Some(chat_key.as_str()), "not deleted by another organisation: {keys}");
    assert!(t.get(&format!("/v1/customers/{customer}"), &t.org.agent).await.1["phone"].is_string(), "not erased by another organisation");
    assert_eq!(t.get(&format!("/v1/customers/{second}"), &t.org.agent).await.1["merged_into"], Value::Null, "not linked by another organisation");
    let (s, ours) = t.get(&format!("/v1/calls/{call}"), &t.org.agent).await;
    assert_eq!((s, ours["status"].as_str(), ours["notes"].clone()), (StatusCode::OK, Some("ready"), Value::Null), "{ours}");
    assert_eq!(t.get(&format!("/v1/service-records/{record}"), &t.org.agent).await.1["do_not_call"], false);
    assert_eq!(t.queued("CallsQueue").await, 0, "another organisation initiated nothing");
    let (s, ours) = t.get(&format!("/v1/webhook-subscriptions/{hook}"), &t.org.admin).await;
    assert_eq!((s, ours["enabled"].as_bool(), ours["version"].as_u64()), (StatusCode::OK, Some(true), Some(1)), "not changed by another organisation: {ours}");
    let (_, numbers) = t.get("/v1/channels/whatsapp", &t.org.admin).await;
    assert_eq!(numbers["items"][0]["phone_number_id"].as_str(), Some(t.org.seed.phone_number_id.as_str()), "not removed by another organisation");

    for route in routes.iter().filter(|r| r.authorized) {
        let path = route.path.replace("{id}", "x").replace("{customerId}", "x").replace("{templateId}", "x").replace("{phoneNumberId}", "1").replace("{keyId}", "x");
        let method = Method::from_bytes(route.method.to_uppercase().as_bytes()).unwrap();
        let res = t.http.request(method, t.url(&path)).json(&json!({})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{} {path} without a token", route.method);
    }
}

/// What the API reads from a token, through a handler as API Gateway calls it: the organisation
/// only from Cognito's `custom:org_id`, the role only from `cognito:groups` (the strongest role
/// group). Claims a user could write (`org_id`, `role`, `custom:role`) count for nothing. A token
/// without an organisation or a subject is 401; one in no role group is 403.
#[tokio::test]
async fn claims_name_the_organisation_and_the_role() {
    let t = TestStack::with(max_dev::testing::TestOptions { no_pollers: true, ..Default::default() }).await;
    let sample = std::fs::read_to_string(max_dev::repo_root().join("events/api-support/admin-notifications.json")).unwrap();
    let call = |claims: Value| {
        let mut event: Value = serde_json::from_str(&sample).unwrap();
        event["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        let deps = &t.stack.deps;
        async move {
            let res = max_dev::registry::invoke_http("api-support", req, deps).await.unwrap().unwrap();
            let body: Value = match res.body() {
                lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
                _ => Value::Null,
            };
            (res.status().as_u16(), body)
        }
    };
    let org = t.org.seed.id.as_str();
    let (s, body) = call(json!({ "sub": "u1", "custom:org_id": org, "cognito:groups": "[agent admin]" })).await;
    assert_eq!(s, 200, "custom:org_id and the strongest group: {body}");
    assert!(body["open_tickets"].is_number(), "{body}");
    let (s, _) = call(json!({ "sub": "u1", "custom:org_id": org, "cognito:groups": "[agent]" })).await;
    assert_eq!(s, 403, "an agent's group does not reach the admin view");
    let (s, _) = call(json!({ "sub": "u1", "custom:org_id": org, "cognito:groups": "[agent]", "role": "admin", "custom:role": "admin" })).await;
    assert_eq!(s, 403, "role attributes do not outrank the groups");
    let (s, body) = call(json!({ "sub": "u1", "custom:org_id": org, "custom:role": "admin" })).await;
    assert_eq!((s, body["status"].as_u64()), (403, Some(403)), "no role group is no role: {body}");
    let (s, body) = call(json!({ "sub": "u1", "org_id": org, "cognito:groups": "[admin]" })).await;
    assert_eq!((s, body["status"].as_u64()), (401, Some(401)), "a plain org_id names no organisation: {body}");
    let (s, _) = call(json!({ "sub": "u1", "custom:org_id": "", "cognito:groups": "[admin]" })).await;
    assert_eq!(s, 401, "an empty organisation");
    let (s, _) = call(json!({ "custom:org_id": org, "cognito:groups": "[admin]" })).await;
    assert_eq!(s, 401, "no subject");
}

/// Through the dev gateway, with a signed token as Cognito would issue it: custom attributes that
/// say admin (of another organisation, even) do not make an agent an admin.
#[tokio::test]
async fn a_token_whose_attributes_say_admin_but_whose_groups_say_agent_is_an_agent() {
    let t = TestStack::with(max_dev::testing::TestOptions { no_pollers: true, ..Default::default() }).await;
    let mut request = TokenRequest::user(&t.org.seed.id, "u_sneaky", "agent", "Sneaky Agent");
    for (name, value) in [("role", "admin"), ("custom:role", "admin"), ("org_id", t.other.seed.id.as_str())] {
        request.claims.insert(name.into(), json!(value));
    }
    let sneaky = t.stack.tokens.mint_for(&request);
    for admin_only in ["/v1/action-response-templates", "/v1/admin/support/notifications"] {
        let (status, problem) = t.get(admin_only, &sneaky).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{admin_only}: {problem}");
        assert_eq!(problem["type"], "https://max.dev/problems/forbidden");
    }
    // The same token works where an agent may act, in the organisation of `custom:org_id`.
    assert!(t.process_inbound(&crate::fresh(&fixture("meta-openapi/text-message.json"))).await.batch_item_failures.is_empty());
    let (status, list) = t.get("/v1/conversations", &sneaky).await;
    assert_eq!((status, list["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{list}");
    assert_eq!(list["items"][0]["org_id"].as_str(), Some(t.org.seed.id.as_str()));
    // And the admin group does reach them.
    for admin_only in ["/v1/action-response-templates", "/v1/admin/support/notifications"] {
        assert_eq!(t.get(admin_only, &t.org.admin).await.0, StatusCode::OK, "{admin_only}");
    }
}

/// `POST /dev/tokens` mints a token the gateway accepts for any organisation, groups, subject and
/// extra claims; the API reads it like any other (the role from the groups only).
#[tokio::test]
async fn dev_tokens_act_as_any_user() {
    let t = TestStack::with(max_dev::testing::TestOptions { no_pollers: true, ..Default::default() }).await;
    let mint = |body: Value| {
        let req = t.http.post(t.url("/dev/tokens")).json(&body);
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let org = t.org.seed.id.as_str();
    let (status, answer) = mint(json!({ "org_id": org, "groups": ["supervisor"], "sub": "u_sue", "claims": { "name": "Sue", "custom:role": "admin" } })).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let supervisor = answer["token"].as_str().expect("a token").to_string();
    assert_eq!(t.get("/v1/admin/support/notifications", &supervisor).await.0, StatusCode::OK, "a supervisor's route");
    assert_eq!(t.get("/v1/action-response-templates", &supervisor).await.0, StatusCode::FORBIDDEN, "an admin's route");
    let (_, answer) = mint(json!({ "org_id": org, "groups": [], "sub": "u_nobody" })).await;
    assert_eq!(t.get("/v1/conversations", answer["token"].as_str().unwrap()).await.0, StatusCode::FORBIDDEN, "no role group");
    let (_, answer) = mint(json!({ "org_id": t.other.seed.id, "groups": ["admin"], "sub": "u_other" })).await;
    assert_eq!(t.get("/v1/action-response-templates", answer["token"].as_str().unwrap()).await.0, StatusCode::OK, "any organisation");
    for bad in [json!({ "groups": ["admin"], "sub": "u1" }), json!({ "org_id": "", "groups": [], "sub": "u1" }), json!({ "org_id": org, "groups": "admin", "sub": "u1" })] {
        let (status, answer) = mint(bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {answer}");
    }
    // A token signed with another secret is still refused.
    let forged = max_dev::tokens::DevTokens::new("not-the-dev-secret").mint(org, "u1", "admin", "Mallory");
    assert_eq!(t.get("/v1/conversations", &forged).await.0, StatusCode::UNAUTHORIZED);
}

/// Errors are problem+json with `type`, `title`, `status` (and `invalid_params` naming a bad
/// field); a backend failure is a 500 that tells the caller nothing of the backend.
#[tokio::test]
async fn errors_are_problem_json_and_a_500_hides_the_backend() {
    let t = TestStack::with(max_dev::testing::TestOptions { no_pollers: true, ..Default::default() }).await;
    assert!(t.process_inbound(&crate::fresh(&fixture("meta-openapi/text-message.json"))).await.batch_item_failures.is_empty());
    let conversation = t.conversations().await[0]["id"].as_str().unwrap().to_string();
    let res = t
        .http
        .post(t.url(&format!("/v1/conversations/{conversation}/messages")))
        .bearer_auth(&t.org.agent)
        .json(&json!({ "type": "text", "body": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "https://max.dev/problems/invalid-field", "{problem}");
    assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()), "{problem}");
    assert_eq!(problem["status"], 422);
    assert_eq!(problem["invalid_params"][0]["name"], "content.body", "{problem}");
    assert!(problem["invalid_params"][0]["reason"].is_string(), "{problem}");
    for (path, status, kind) in [("/v1/conversations/nope", 404, "not-found"), ("/v1/admin/support/notifications", 403, "forbidden")] {
        let (s, problem) = t.get(path, &t.org.agent).await;
        assert_eq!(s.as_u16(), status, "{path}: {problem}");
        assert_eq!((problem["type"].as_str(), problem["status"].as_u64()), (Some(format!("https://max.dev/problems/{kind}").as_str()), Some(status as u64)));
    }

    // The table is gone: every read fails in DynamoDB.
    let mut broken = t.deps_copy();
    broken.store = std::sync::Arc::new(max_core::adapters::dynamo::DynamoStore::new(t.stack.dynamo.client().clone(), "no-such-table-secret-name"));
    let sample = std::fs::read_to_string(max_dev::repo_root().join("events/api-conversations/list-open-conversations.json")).unwrap();
    let req = lambda_http::request::from_str(&sample).unwrap();
    let res = max_dev::registry::invoke_http("api-conversations", req, &broken).await.unwrap().unwrap();
    assert_eq!(res.status().as_u16(), 500);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let text = match res.body() {
        lambda_http::Body::Text(text) => text.clone(),
        other => panic!("unexpected body {other:?}"),
    };
    let problem: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((problem["type"].as_str(), problem["status"].as_u64()), (Some("https://max.dev/problems/internal"), Some(500)), "{problem}");
    assert_eq!(problem.as_object().unwrap().len(), 3, "type, title and status only: {problem}");
    for secret in ["no-such-table", "dynamodb", "ResourceNotFound", "DynamoDB"] {
        assert!(!text.contains(secret), "the answer names the backend ({secret}): {text}");
    }
}
