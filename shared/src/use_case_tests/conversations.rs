//! `app::conversations`: assign, close, reopen — optimistic locking, 409s and tenancy.

use super::*;
use crate::app::conversations::{assign, close, get, reopen};
use crate::domain::conversation::ConversationStatus;

#[tokio::test(start_paused = true)]
async fn assigning_saves_over_the_version_read() {
    // GIVEN a customer's open conversation
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    // WHEN an agent takes it
    let assigned = assign(&w.deps.routing_ports(), ORG, &c.id, Some("agent-1"), false, t(5)).await.unwrap();
    // THEN it is theirs, one version on
    assert_eq!(assigned.assignee_id.as_deref(), Some("agent-1"));
    assert_eq!(assigned.version, c.version + 1);
    assert_eq!(get(w.store(), ORG, &c.id).await.unwrap(), assigned);
}

#[tokio::test(start_paused = true)]
async fn another_organisation_finds_no_conversation() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    assert_not_found(get(w.store(), OTHER_ORG, &c.id).await, "conversation");
    assert_not_found(assign(&w.deps.routing_ports(), OTHER_ORG, &c.id, Some("agent-1"), false, t(5)).await, "conversation");
    assert_not_found(close(w.store(), &w.deps.routing_ports(), OTHER_ORG, &c.id, t(5)).await, "conversation");
    assert_not_found(reopen(w.store(), &w.deps.routing_ports(), OTHER_ORG, &c.id, t(5)).await, "conversation");
    // AND the owner's conversation is untouched
    assert_eq!(get(w.store(), ORG, &c.id).await.unwrap(), c);
}

#[tokio::test(start_paused = true)]
async fn a_lost_update_is_read_again_and_retried_once_more() {
    // GIVEN a conversation someone else changes once while the agent assigns it
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    w.store().fail_next("save_assignment", Error::LostUpdate("conversation"));
    // WHEN the agent assigns it
    let assigned = assign(&w.deps.routing_ports(), ORG, &c.id, Some("agent-1"), false, t(5)).await.unwrap();
    // THEN the retry lands, once
    assert_eq!(assigned.version, c.version + 1);
    assert_eq!(get(w.store(), ORG, &c.id).await.unwrap().assignee_id.as_deref(), Some("agent-1"));
}

#[tokio::test(start_paused = true)]
async fn persistent_contention_answers_lost_update_and_changes_nothing() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    w.keeps_losing("save_assignment", "conversation");
    let out = assign(&w.deps.routing_ports(), ORG, &c.id, Some("agent-1"), false, t(5)).await;
    assert!(matches!(out, Err(Error::LostUpdate("conversation"))), "{out:?}");
    assert_eq!(get(w.store(), ORG, &c.id).await.unwrap(), c);
}

#[tokio::test(start_paused = true)]
async fn closing_twice_is_harmless() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let closed = close(w.store(), &w.deps.routing_ports(), ORG, &c.id, t(5)).await.unwrap();
    assert_eq!(closed.status, ConversationStatus::Closed);
    // WHEN it is closed again later
    let again = close(w.store(), &w.deps.routing_ports(), ORG, &c.id, t(9)).await.unwrap();
    // THEN nothing moved: same close time, same version
    assert_eq!(again, closed);
}

#[tokio::test(start_paused = true)]
async fn a_closed_conversation_reopens_when_the_customer_has_no_other() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    close(w.store(), &w.deps.routing_ports(), ORG, &c.id, t(5)).await.unwrap();
    let reopened = reopen(w.store(), &w.deps.routing_ports(), ORG, &c.id, t(6)).await.unwrap();
    assert_eq!(reopened.status, ConversationStatus::Open);
    // AND the customer's next message joins it instead of opening another
    let next = w.receive_text(CUSTOMER, "wamid.again", "still there?", t(7)).await;
    assert_eq!(next[0].conversation.id, c.id);
}

#[tokio::test(start_paused = true)]
async fn reopening_is_refused_when_the_customer_opened_another_conversation() {
    // GIVEN a closed conversation, and the customer writing again (a new one opens)
    let w = World::new().with_channel(None).await;
    let first = w.given_conversation().await.conversation;
    close(w.store(), &w.deps.routing_ports(), ORG, &first.id, t(5)).await.unwrap();
    let second = w.receive_text(CUSTOMER, "wamid.later", "me again", t(10)).await.remove(0).conversation;
    assert_ne!(second.id, first.id);
    // WHEN the agent reopens the old one
    let out = reopen(w.store(), &w.deps.routing_ports(), ORG, &first.id, t(11)).await;
    // THEN 409, it stays closed, the new one stays open
    assert_conflict(out, "closed");
    assert_eq!(get(w.store(), ORG, &first.id).await.unwrap().status, ConversationStatus::Closed);
    assert_eq!(get(w.store(), ORG, &second.id).await.unwrap().status, ConversationStatus::Open);
}
