//! A customer's export and erasure through the dev gateway: admins only, their organisation only,
//! erasure once (a repeat changes nothing).

use max_dev::testing::{CUSTOMER, TestStack};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn an_admin_exports_and_erases_a_customer_once_in_their_organisation() {
    let t = TestStack::start().await;
    let conversation = t.live_conversation().await;
    // Whatever the message set off (a bot reply) is done, so the records hold still.
    t.drained().await;
    let (_, c) = t.get(&format!("/v1/conversations/{conversation}"), &t.org.admin).await;
    let customer = c["customer_id"].as_str().expect("customer id").to_string();
    let (export, erase) = (format!("/v1/customers/{customer}/export"), format!("/v1/customers/{customer}"));
    // Agents may not; another organisation's admin finds nothing.
    assert_eq!(t.get(&export, &t.org.agent).await.0, StatusCode::FORBIDDEN);
    assert_eq!(t.api(Method::DELETE, &erase, &t.org.supervisor, None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(t.get(&export, &t.other.admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.api(Method::DELETE, &erase, &t.other.admin, None).await.0, StatusCode::NOT_FOUND);
    // The export holds the customer, their number, name and message.
    let (status, record) = t.get(&export, &t.org.admin).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    let text = record.to_string();
    assert!(text.contains(CUSTOMER) && text.contains("Sheena Nelson"), "{text}");
    let messages = record["messages"].as_array().map(Vec::len).unwrap_or(0);
    assert!(messages >= 1 && record["conversations"].as_array().map(Vec::len) == Some(1), "{record}");
    // Erased twice: 204 both times.
    for _ in 0..2 {
        let (status, body) = t.api(Method::DELETE, &erase, &t.org.admin, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    // The records stay, without the person.
    let (status, after) = t.get(&export, &t.org.admin).await;
    assert_eq!(status, StatusCode::OK);
    let text = after.to_string();
    assert!(!text.contains(CUSTOMER) && !text.contains("Sheena Nelson"), "{text}");
    assert_eq!(after["messages"].as_array().map(Vec::len), Some(messages));
    let (_, c) = t.get(&format!("/v1/conversations/{conversation}"), &t.org.admin).await;
    assert_eq!(c["status"], "closed");
    // The audit trail says once that the admin erased them (the repeat changed nothing), and
    // nothing of what was erased.
    let (status, audit) = t.get(&format!("/v1/audit?entity=customer:{customer}"), &t.org.admin).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries = audit["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!((entries[0]["operation"].as_str(), entries[0]["actor"]["role"].as_str()), (Some("erase"), Some("admin")), "{audit}");
    assert_eq!(entries[0]["changes"], serde_json::json!({ "erased": { "before": false, "after": true } }));
    assert!(!audit.to_string().contains(CUSTOMER) && !audit.to_string().contains("Sheena"), "{audit}");
    // Another organisation's data was not touched (its admin still sees an empty, working API).
    assert_eq!(t.get("/v1/conversations", &t.other.admin).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_customer_created_by_hand_is_found_edited_and_gets_their_numbers_messages() {
    let t = TestStack::start().await;
    // An agent creates the customer the fixtures' number belongs to, before they ever wrote.
    let body = serde_json::json!({ "name": "Sheena Nelson", "phone": format!("+{CUSTOMER}"), "email": "sheena@example.com", "external_id": "crm-1001", "tags": ["vip"] });
    let (status, sheena) = t.post("/v1/customers", &t.org.agent, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{sheena}");
    let id = sheena["id"].as_str().expect("id").to_string();
    assert_eq!((sheena["identities"][0]["channel"].as_str(), sheena["identities"][0]["external_id"].as_str()), (Some("whatsapp"), Some(CUSTOMER)));
    // The same again (a retry, a second agent): 409 naming her, nothing new.
    let (status, problem) = t.post("/v1/customers", &t.org.agent, body).await;
    assert_eq!((status, problem["current_status"].as_str()), (StatusCode::CONFLICT, Some(id.as_str())), "{problem}");
    // Found by a prefix of each thing she is known by; not by another organisation.
    for q in ["shee", "NELS", "%2B1%20650%20555", "sheena%40ex", "crm-10", "sheena%20nel"] {
        let (status, page) = t.get(&format!("/v1/customers?q={q}"), &t.org.agent).await;
        let ids: Vec<_> = max_dev::testing::items(&page).iter().map(|c| c["id"].as_str().unwrap_or_default().to_string()).collect();
        assert_eq!((status, ids), (StatusCode::OK, vec![id.clone()]), "q={q}: {page}");
    }
    let (status, page) = t.get("/v1/customers?q=shee", &t.other.admin).await;
    assert_eq!((status, page["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{page}");
    assert_eq!(t.get("/v1/customers?q=", &t.org.agent).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    // Edited over version 1; the same edit again is stale (409 with the version now).
    let path = format!("/v1/customers/{id}");
    let edit = serde_json::json!({ "name": "Sheena Nelson-Ruiz", "notes": "prefers mornings", "version": 1 });
    let (status, edited) = t.api(Method::PATCH, &path, &t.org.agent, Some(edit.clone())).await;
    assert_eq!((status, edited["version"].as_u64(), edited["notes"].as_str()), (StatusCode::OK, Some(2), Some("prefers mornings")), "{edited}");
    let (status, problem) = t.api(Method::PATCH, &path, &t.org.agent, Some(edit)).await;
    assert_eq!((status, problem["current_status"].as_str()), (StatusCode::CONFLICT, Some("2")), "{problem}");
    let (status, _) = t.api(Method::PATCH, &path, &t.other.admin, Some(serde_json::json!({ "version": 2 }))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, problem) = t.api(Method::PATCH, &path, &t.org.agent, Some(serde_json::json!({ "email": "nope", "version": 2 }))).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("email")), "{problem}");
    // Her first WhatsApp message lands on her.
    let conversation = t.live_conversation().await;
    let (_, c) = t.get(&format!("/v1/conversations/{conversation}"), &t.org.agent).await;
    assert_eq!(c["customer_id"].as_str(), Some(id.as_str()), "{c}");
    let (_, got) = t.get(&path, &t.org.agent).await;
    assert_eq!((got["name"].as_str(), got["merged_into"].clone()), (Some("Sheena Nelson-Ruiz"), serde_json::Value::Null), "{got}");
}

/// The must-hold: a chat-app user and a WhatsApp customer linked are one customer — one
/// context with both conversations, replies still on each conversation's own channel, the
/// number's next messages on the primary — and an unlink gives it all back.
#[tokio::test]
async fn a_chat_app_user_and_a_whatsapp_customer_linked_share_one_context_and_unlink_restores_them() {
    use max_dev::testing::{WAIT, eventually, fixture};
    use serde_json::json;
    let t = TestStack::start().await;
    // GIVEN a chat-app user and a WhatsApp customer, each with a conversation
    let key = crate::chat_app::create_key(&t).await;
    let (status, _) = crate::chat_app::app_posts(&t, &key, "/v1/channels/chat-app/messages", &crate::chat_app::message("app-msg-1", "Where is my order?")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(t.post_webhook(&crate::fresh(&fixture("meta-openapi/text-message.json"))).await.status(), StatusCode::OK);
    let on = |channel: &'static str| {
        let t = &t;
        async move { t.conversations().await.into_iter().find(|c| c["channel"] == channel) }
    };
    let app = eventually("the chat-app conversation", WAIT, || on("chat_app")).await;
    let whatsapp = eventually("the WhatsApp conversation", WAIT, || on("whatsapp")).await;
    t.drained().await;
    let (app_id, wa_id) = (app["id"].as_str().unwrap().to_string(), whatsapp["id"].as_str().unwrap().to_string());
    let (primary, secondary) = (app["customer_id"].as_str().unwrap().to_string(), whatsapp["customer_id"].as_str().unwrap().to_string());
    let link = format!("/v1/customers/{primary}/link");
    let body = json!({ "customer_id": secondary });

    // Agents may not link; another organisation finds neither customer; a customer with itself: 409.
    assert_eq!(t.post(&link, &t.org.agent, body.clone()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(t.post(&link, &t.other.admin, body.clone()).await.0, StatusCode::NOT_FOUND);
    let (status, problem) = t.post(&link, &t.org.supervisor, json!({ "customer_id": primary })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(problem["detail"].as_str().unwrap_or_default().starts_with("customer_id"), "{problem}");

    // WHEN a supervisor links the WhatsApp customer into the chat-app user, and asks again
    let (status, linked) = t.post(&link, &t.org.supervisor, body.clone()).await;
    assert_eq!((status, linked["state"].as_str()), (StatusCode::OK, Some("done")), "{linked}");
    assert_eq!(linked["conversation_ids"], json!([wa_id]));
    let (status, again) = t.post(&link, &t.org.supervisor, body.clone()).await;
    assert_eq!((status, &again), (StatusCode::OK, &linked), "a retry changes nothing");
    // THEN the secondary answers merged into the primary, whose context holds both conversations
    let (_, s) = t.get(&format!("/v1/customers/{secondary}"), &t.org.agent).await;
    assert_eq!(s["merged_into"].as_str(), Some(primary.as_str()), "{s}");
    let (status, context) = t.get(&format!("/v1/customers/{primary}/context"), &t.org.agent).await;
    assert_eq!(status, StatusCode::OK, "{context}");
    let mut ids: Vec<String> = context["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    let mut both = vec![app_id.clone(), wa_id.clone()];
    both.sort();
    assert_eq!(ids, both, "{context}");
    assert_eq!(context["customer"]["identities"].as_array().map(Vec::len), Some(2), "{context}");
    let linked_events = t.feed(&t.org.admin).await.into_iter().filter(|e| e["kind"] == "customer.linked").collect::<Vec<_>>();
    assert_eq!(linked_events.len(), 1, "{linked_events:?}");
    assert_eq!(linked_events[0]["data"]["customer_id"].as_str(), Some(secondary.as_str()));

    // WHEN an agent replies in each conversation THEN each goes out on its own channel
    let reply = |conversation: String, text: &'static str| {
        let t = &t;
        async move {
            let (status, sent) = t.post(&format!("/v1/conversations/{conversation}/messages"), &t.org.agent, json!({ "type": "text", "body": text })).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
            sent["id"].as_str().unwrap().to_string()
        }
    };
    reply(wa_id.clone(), "Your order ships today.").await;
    let app_reply = reply(app_id.clone(), "It is on its way.").await;
    let sandbox = t.stack.sandbox.clone().unwrap();
    let sent = eventually("the WhatsApp reply at Meta", WAIT, || async {
        sandbox.outbox().into_iter().find(|m| m.request["text"]["body"] == "Your order ships today.")
    })
    .await;
    assert_eq!(sent.request["to"].as_str(), Some(CUSTOMER));
    eventually("the chat-app reply as an event", WAIT, || async {
        t.feed(&t.org.admin).await.into_iter().find(|e| e["kind"] == "chat_app.message" && e["data"]["message_id"] == app_reply.as_str())
    })
    .await;
    assert!(sandbox.outbox().iter().all(|m| m.request["text"]["body"] != "It is on its way."), "the app's reply never goes to Meta");

    // WHEN the WhatsApp conversation is closed and the number writes again
    assert_eq!(t.post(&format!("/v1/conversations/{wa_id}/close"), &t.org.agent, json!({})).await.0, StatusCode::OK);
    let later = crate::fresh(&fixture("meta-openapi/text-message-with-context-product-inquiry.json"));
    assert_eq!(t.post_webhook(&later).await.status(), StatusCode::OK);
    // THEN its new conversation is the primary's
    let newer = eventually("the number's new conversation", WAIT, || async {
        t.conversations().await.into_iter().find(|c| c["channel"] == "whatsapp" && c["id"] != wa_id.as_str())
    })
    .await;
    assert_eq!(newer["customer_id"].as_str(), Some(primary.as_str()), "{newer}");
    t.drained().await;

    // WHEN unlinked (twice) THEN the moved conversation and the number are the secondary's again
    let unlink = format!("/v1/customers/{primary}/unlink");
    assert_eq!(t.post(&unlink, &t.other.admin, body.clone()).await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.post(&unlink, &t.org.agent, body.clone()).await.0, StatusCode::FORBIDDEN);
    let (status, unlinked) = t.post(&unlink, &t.org.supervisor, body.clone()).await;
    assert_eq!((status, unlinked["state"].as_str()), (StatusCode::OK, Some("unlinked")), "{unlinked}");
    assert_eq!(t.post(&unlink, &t.org.admin, body.clone()).await, (StatusCode::OK, unlinked.clone()));
    let (_, s) = t.get(&format!("/v1/customers/{secondary}"), &t.org.agent).await;
    assert_eq!((s["merged_into"].clone(), s["identities"][0]["external_id"].as_str()), (serde_json::Value::Null, Some(CUSTOMER)), "{s}");
    for id in [wa_id.as_str(), newer["id"].as_str().unwrap()] {
        let (_, c) = t.get(&format!("/v1/conversations/{id}"), &t.org.agent).await;
        assert_eq!(c["customer_id"].as_str(), Some(secondary.as_str()), "{c}");
    }
    let (_, context) = t.get(&format!("/v1/customers/{primary}/context"), &t.org.agent).await;
    assert!(context["conversations"].as_array().unwrap().iter().all(|c| c["id"] != wa_id.as_str()), "{context}");
    assert_eq!(t.feed(&t.org.admin).await.iter().filter(|e| e["kind"] == "customer.unlinked").count(), 1);
}
