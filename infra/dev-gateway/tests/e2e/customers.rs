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
