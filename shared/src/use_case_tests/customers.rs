//! `app::customers`: export and erasure of a customer, once, in their organisation only.

use super::*;
use crate::app::customers::{erase, export};
use crate::domain::erasure::ERASED;
use crate::ports::CustomerStore;

#[tokio::test(start_paused = true)]
async fn a_customer_is_exported_whole_and_erased_once() {
    // GIVEN a customer who wrote "hello"
    let w = World::new().with_channel(None).await;
    let received = w.given_conversation().await;
    let customer_id = received.conversation.customer_id.clone();
    // WHEN an admin exports them
    let record = export(w.store(), ORG, &customer_id).await.unwrap();
    // THEN the export holds their number and their message
    let exported = serde_json::to_string(&record).unwrap();
    assert!(exported.contains(CUSTOMER) && exported.contains("\"hello\""), "{exported}");
    // WHEN the customer is erased, twice
    erase(w.store(), ORG, &customer_id, t(5)).await.unwrap();
    let once = export(w.store(), ORG, &customer_id).await.unwrap();
    erase(w.store(), ORG, &customer_id, t(6)).await.unwrap();
    // THEN nothing of theirs is left but the shape, and the second erasure changed nothing
    let erased = serde_json::to_string(&once).unwrap();
    assert!(!erased.contains(CUSTOMER) && !erased.contains("\"hello\""), "{erased}");
    assert_eq!(once.messages.len(), record.messages.len(), "the messages stay, without their bodies");
    assert!(once.messages.iter().all(|m| m.text.as_deref().is_none_or(|t| t == ERASED)));
    assert_eq!(export(w.store(), ORG, &customer_id).await.unwrap(), once);
    // and their number no longer leads to them: a new message starts a new customer
    assert!(w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn another_organisations_customer_is_not_found() {
    let w = World::new().with_channel(None).await;
    let customer_id = w.given_conversation().await.conversation.customer_id;
    assert_not_found(export(w.store(), OTHER_ORG, &customer_id).await, "customer");
    assert_not_found(erase(w.store(), OTHER_ORG, &customer_id, t(5)).await, "customer");
    assert_not_found(erase(w.store(), ORG, "nobody", t(5)).await, "customer");
    // and nothing was erased
    assert!(w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().is_some());
}
