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
