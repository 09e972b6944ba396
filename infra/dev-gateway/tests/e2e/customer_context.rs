//! A customer's transactions and context through the dev gateway on moto
//! (`docs/customer-context.md`): idempotent posts, newest first, another organisation 404.

use max_dev::testing::TestStack;
use reqwest::StatusCode;
use serde_json::json;

/// The customer of the stack's live conversation (the fixtures' WhatsApp customer).
async fn live_customer(t: &TestStack) -> String {
    let conversation = t.live_conversation().await;
    let (_, c) = t.get(&format!("/v1/conversations/{conversation}"), &t.org.admin).await;
    c["customer_id"].as_str().expect("customer id").to_string()
}

#[tokio::test]
async fn transactions_are_recorded_once_listed_newest_first_and_only_for_their_organisation() {
    let t = TestStack::start().await;
    let customer = live_customer(&t).await;
    let path = format!("/v1/customers/{customer}/transactions");
    let order = |id: &str, amount: i64, at: &str| {
        json!({ "id": id, "amount_minor": amount, "currency": "EUR", "status": "completed", "occurred_at": at })
    };
    // First post 201, the same again 200 with the first, another amount 409.
    let (status, first) = t.post(&path, &t.org.agent, order("A-1", 1999, "2026-11-20T10:00:00Z")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = t.post(&path, &t.org.agent, order("A-1", 1999, "2026-11-20T10:00:00Z")).await;
    assert_eq!((status, &again), (StatusCode::OK, &first));
    let (status, body) = t.post(&path, &t.org.agent, order("A-1", 2000, "2026-11-20T10:00:00Z")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // A bad currency names the field.
    let mut bad = order("A-2", 1, "2026-11-20T10:00:00Z");
    bad["currency"] = json!("EUE");
    let (status, body) = t.post(&path, &t.org.agent, bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("currency"), "{body}");
    // A refund, older and newer ones: newest first, two by two.
    t.post(&path, &t.org.agent, order("R-1", -500, "2026-11-25T10:00:00Z")).await;
    t.post(&path, &t.org.agent, order("A-0", 100, "2026-10-01T10:00:00Z")).await;
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match &cursor {
            Some(c) => format!("{path}?limit=2&cursor={c}"),
            None => format!("{path}?limit=2"),
        };
        let (status, body) = t.get(&page, &t.org.agent).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.extend(max_dev::testing::items(&body).iter().map(|i| i["id"].as_str().unwrap().to_string()));
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(ids, ["R-1", "A-1", "A-0"]);
    // Another organisation: 404 for both routes, and nothing recorded.
    assert_eq!(t.get(&path, &t.other.admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.post(&path, &t.other.admin, order("X-1", 1, "2026-11-20T10:00:00Z")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.get("/v1/customers/nobody/transactions", &t.org.agent).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_context_shows_every_section_and_only_to_its_organisation() {
    let t = TestStack::start().await;
    let conversation = t.live_conversation().await;
    let customer = live_customer(&t).await;
    let now = chrono::Utc::now();
    // An order, an action on the conversation, an interaction due an hour ago and one tomorrow.
    let order = json!({ "id": "A-1", "amount_minor": 1999, "currency": "EUR", "status": "completed", "occurred_at": now });
    assert_eq!(t.post(&format!("/v1/customers/{customer}/transactions"), &t.org.agent, order).await.0, StatusCode::CREATED);
    let action = json!({ "conversation_id": conversation, "type": "refund_request", "title": "Refund the oil change" });
    let (status, body) = t.post("/v1/actions", &t.org.agent, action).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (title, due) in [("Call back", now - chrono::Duration::hours(1)), ("Check the car", now + chrono::Duration::days(1))] {
        let interaction = json!({ "customer_id": customer, "type": "phone_call", "title": title,
            "scheduled_at": due - chrono::Duration::hours(1), "due_at": due });
        let (status, body) = t.post("/v1/interactions", &t.org.agent, interaction).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    t.drained().await;

    let path = format!("/v1/customers/{customer}/context");
    // (Its DynamoDB calls are counted by the benchmark, alone in its process: `bench-context`.)
    let (status, c) = t.get(&path, &t.org.agent).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["customer"]["id"], customer.as_str());
    assert_eq!(c["conversation_count"], 1);
    assert_eq!(c["conversations"][0]["id"], conversation.as_str());
    assert_eq!(c["conversations"][0]["status"], "open");
    assert!(c["conversations"][0]["last_message_at"].is_string(), "{c}");
    assert_eq!(c["actions"][0]["action"]["title"], "Refund the oil change");
    assert_eq!(c["interactions"]["overdue"][0]["title"], "Call back", "{c}");
    assert_eq!(c["interactions"]["next"]["title"], "Check the car", "{c}");
    assert_eq!(c["transactions"][0]["id"], "A-1");
    assert_eq!(c["nps"]["answered"], 0);
    // Another organisation's admin finds nothing; an unknown customer neither.
    assert_eq!(t.get(&path, &t.other.admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.get("/v1/customers/nobody/context", &t.org.agent).await.0, StatusCode::NOT_FOUND);
}
