//! Bad input never reaches DynamoDB as a 500: ids longer than any id we hand out, cursors that
//! point into the right partition with keys of their own. Run on moto, which refuses oversized
//! keys and malformed start keys the way DynamoDB does.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use max_dev::testing::{TestStack, WAIT, eventually, fixture};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn ids_longer_than_any_id_answer_404_in_paths_and_422_in_bodies_and_queries() {
    let t = TestStack::start().await;
    let admin = &t.org.admin;
    // Past DynamoDB's 2048-byte partition key once prefixed: it would be a ValidationException.
    let long = "A".repeat(3000);
    // Every wrong answer, so one run shows them all.
    let mut wrong = Vec::new();
    for (method, path) in [
        (Method::GET, format!("/v1/conversations/{long}")),
        (Method::GET, format!("/v1/conversations/{long}/messages")),
        (Method::POST, format!("/v1/conversations/{long}/close")),
        (Method::GET, format!("/v1/customers/{long}")),
        (Method::GET, format!("/v1/actions/{long}")),
        (Method::POST, format!("/v1/actions/{long}/approve")),
        (Method::GET, format!("/v1/interactions/{long}")),
        (Method::GET, format!("/v1/interactions/customers/{long}/next")),
        (Method::GET, format!("/v1/interactions/templates/{long}")),
        (Method::GET, format!("/v1/support/tickets/{long}")),
        (Method::GET, format!("/v1/admin/support/tickets/{long}")),
        (Method::DELETE, format!("/v1/channels/whatsapp/{long}")),
        (Method::POST, format!("/v1/channels/whatsapp/{long}/replay")),
    ] {
        let body = (method == Method::POST).then(|| json!({}));
        let (status, problem) = t.api(method.clone(), &path, admin, body).await;
        if (status, problem["status"].as_u64()) != (StatusCode::NOT_FOUND, Some(404)) {
            wrong.push(format!("{method} {}…: {status} {problem}", &path[..30]));
        }
    }
    let conversation = t.live_conversation().await;
    for (path, body, field) in [
        ("/v1/actions".to_string(), json!({ "conversation_id": long, "type": "refund_request", "title": "t" }), "conversation_id"),
        ("/v1/interactions".to_string(), json!({ "customer_id": long, "type": "call", "title": "t" }), "customer_id"),
        ("/v1/interactions/workflow/start".to_string(), json!({ "customer_id": long, "template_id": "x" }), "customer_id"),
        (format!("/v1/conversations/{conversation}/assign"), json!({ "assignee_id": long }), "assignee_id"),
        ("/v1/support/tickets".to_string(), json!({ "issue_description": "x", "conversation_id": long }), "conversation_id"),
        ("/v1/action-feedback".to_string(), json!({ "action_id": long, "status": "approved" }), "action_id"),
    ] {
        let (status, problem) = t.post(&path, admin, body).await;
        if (status, problem["field"].as_str()) != (StatusCode::UNPROCESSABLE_ENTITY, Some(field)) {
            wrong.push(format!("POST {path}: {status} {problem}"));
        }
    }
    for (query, field) in [
        (format!("/v1/conversations?assignee={long}"), "assignee"),
        (format!("/v1/actions?conversation_id={long}"), "conversation_id"),
        (format!("/v1/interactions?customer_id={long}"), "customer_id"),
        (format!("/v1/admin/support/tickets?assigned={long}"), "assigned"),
    ] {
        let (status, problem) = t.get(&query, admin).await;
        if (status, problem["field"].as_str()) != (StatusCode::UNPROCESSABLE_ENTITY, Some(field)) {
            wrong.push(format!("GET {}…: {status} {problem}", &query[..40]));
        }
    }
    assert!(wrong.is_empty(), "answered otherwise:\n{}", wrong.join("\n"));
    // The conversation the requests named (by a long assignee) is untouched.
    let (status, c) = t.get(&format!("/v1/conversations/{conversation}"), admin).await;
    assert_eq!((status, c["assignee_id"].clone()), (StatusCode::OK, Value::Null));
}

/// The cursor a list returned, as the JSON map of key attributes it carries.
fn cursor_keys(cursor: &str) -> serde_json::Map<String, Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).expect("base64url")).expect("a JSON map")
}

fn cursor_of(keys: &serde_json::Map<String, Value>) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(keys).unwrap())
}

#[tokio::test]
async fn a_cursor_in_the_right_partition_with_keys_of_its_own_answers_422() {
    let t = TestStack::start().await;
    assert_eq!(t.post_webhook(&crate::fresh(&fixture("batched-two-changes.json"))).await.status(), StatusCode::OK);
    eventually("two conversations", WAIT, || async { (t.conversations().await.len() == 2).then_some(()) }).await;
    let admin = &t.org.admin;
    let (status, page) = t.get("/v1/conversations?limit=1", admin).await;
    assert_eq!(status, StatusCode::OK);
    let genuine = cursor_keys(page["next_cursor"].as_str().expect("a second page"));
    let conversation = page["items"][0]["id"].as_str().unwrap().to_string();
    let (status, page) = t.get(&format!("/v1/conversations/{conversation}/messages?limit=1"), admin).await;
    assert_eq!(status, StatusCode::OK);
    let messages_cursor = page["next_cursor"].as_str().map(cursor_keys);

    let mut forged = Vec::new();
    // Right partition, an attribute that is no key of the index.
    let mut extra = genuine.clone();
    extra.insert("status".into(), json!("open"));
    forged.push(("an extra attribute", extra));
    // Right partition, the table's sort key missing.
    let mut missing = genuine.clone();
    missing.remove("sk");
    forged.push(("a missing key", missing));
    // Right partition, a sort key longer than DynamoDB allows.
    let mut long = genuine.clone();
    long.insert("gsi1sk".into(), json!("9".repeat(2000)));
    forged.push(("an oversized key", long));
    // Right partition, a key that is not text.
    let mut number = genuine.clone();
    number.insert("sk".into(), json!(7));
    forged.push(("a number", number));
    for (what, keys) in forged {
        let (status, problem) = t.get(&format!("/v1/conversations?limit=1&cursor={}", cursor_of(&keys)), admin).await;
        assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor")), "{what}: {problem}");
    }
    // A message cursor whose sort key leaves the list's range (`MSG#…`).
    let mut outside = messages_cursor.unwrap_or_else(|| {
        serde_json::Map::from_iter([("pk".to_string(), json!(format!("ORG#{}#CONV#{conversation}", t.org.seed.id))), ("sk".to_string(), json!("MSG#0"))])
    });
    outside.insert("sk".into(), json!("CONVERSATION"));
    let (status, problem) =
        t.get(&format!("/v1/conversations/{conversation}/messages?limit=1&cursor={}", cursor_of(&outside)), admin).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor")), "outside the range: {problem}");
    // The genuine cursor still works.
    let (status, second) = t.get(&format!("/v1/conversations?limit=1&cursor={}", cursor_of(&genuine)), admin).await;
    assert_eq!((status, second["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{second}");
}
