//! Another organisation's data answers 404; no token answers 401.

use max_dev::testing::{TestStack, WAIT, eventually, fixture};
use reqwest::{Method, StatusCode};
use serde_json::json;

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
    let all = eventually("two conversations", WAIT, || async {
        let c = t.conversations().await;
        (c.len() == 2).then_some(c)
    })
    .await;
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
