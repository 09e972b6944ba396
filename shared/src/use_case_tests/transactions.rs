//! `app::transactions`: a customer's transactions recorded once per id, the first standing,
//! newest first, in their organisation only.

use chrono::{DateTime, Utc};

use crate::app::transactions::{list, record};
use crate::domain::transaction::NewTransaction;
use crate::error::Error;
use crate::ports::{PageRequest, TransactionStore, Written};

use crate::adapters::memory::MemoryStore;
use crate::domain::customer::{Customer, ChannelIdentity};
use crate::domain::transaction::TransactionStatus;
use crate::ports::CallStore;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn now() -> DateTime<Utc> {
    at("2026-12-05T12:00:00Z")
}

async fn store_with_customer(org: &str, id: &str) -> MemoryStore {
    let store = MemoryStore::new();
    add_customer(&store, org, id).await;
    store
}

async fn add_customer(store: &MemoryStore, org: &str, id: &str) {
    // From JSON: what a customer holds grows with other features.
    let customer: Customer =
        serde_json::from_value(serde_json::json!({ "id": id, "org_id": org, "created_at": now(), "updated_at": now() })).unwrap();
    let identity: ChannelIdentity =
        serde_json::from_value(serde_json::json!({ "org_id": org, "address": format!("3460011{id}"), "customer_id": id })).unwrap();
    store.register_customer(&customer, &identity).await.unwrap();
}

fn order(id: &str, amount_minor: i64, occurred_at: &str) -> NewTransaction {
    NewTransaction {
        id: id.into(),
        amount_minor,
        currency: "EUR".into(),
        status: TransactionStatus::Completed,
        occurred_at: at(occurred_at),
        description: None,
    }
}

#[tokio::test]
async fn a_repeat_answers_the_first_and_another_body_is_a_conflict() {
    // GIVEN a customer with one recorded order
    let s = store_with_customer("o1", "c1").await;
    let (first, written) = record(&s, &s, "o1", "c1", order("A-1", 1999, "2026-12-04T09:00:00Z"), now()).await.unwrap();
    assert_eq!((written, first.recorded_at), (Written::Stored, now()));
    // WHEN the same order is posted again later THEN the first answers, recorded when it was
    let later = now() + chrono::Duration::minutes(5);
    let (again, written) = record(&s, &s, "o1", "c1", order("A-1", 1999, "2026-12-04T09:00:00Z"), later).await.unwrap();
    assert_eq!((written, again), (Written::AlreadyThere, first.clone()));
    // WHEN another amount comes under the same id THEN 409, and the first stands
    let other = record(&s, &s, "o1", "c1", order("A-1", 2000, "2026-12-04T09:00:00Z"), later).await;
    assert!(matches!(other, Err(Error::Conflict { .. })), "{other:?}");
    let listed = list(&s, &s, "o1", "c1", &PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert_eq!(listed.items, vec![first]);
}

#[tokio::test]
async fn an_unknown_or_foreign_customer_is_not_found_and_bad_fields_are_named() {
    let s = store_with_customer("o1", "c1").await;
    add_customer(&s, "o2", "c2").await;
    for (org, customer) in [("o1", "nobody"), ("o1", "c2"), ("o2", "c1")] {
        let posted = record(&s, &s, org, customer, order("A-1", 1, "2026-12-04T09:00:00Z"), now()).await;
        assert!(matches!(posted, Err(Error::NotFound("customer"))), "{org} {customer}: {posted:?}");
        let listed = list(&s, &s, org, customer, &PageRequest { limit: 10, cursor: None }).await;
        assert!(matches!(listed, Err(Error::NotFound("customer"))), "{org} {customer}");
    }
    let bad = record(&s, &s, "o1", "c1", NewTransaction { currency: "EUE".into(), ..order("A-1", 1, "2026-12-04T09:00:00Z") }, now()).await;
    assert!(matches!(bad, Err(Error::Invalid { ref field, .. }) if field == "currency"), "{bad:?}");
    assert!(s.transactions("o1", "c1", &PageRequest { limit: 10, cursor: None }).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn the_list_is_newest_first() {
    let s = store_with_customer("o1", "c1").await;
    for (id, when) in [("old", "2026-01-01T00:00:00Z"), ("new", "2026-12-01T00:00:00Z"), ("mid", "2026-06-01T00:00:00Z")] {
        record(&s, &s, "o1", "c1", order(id, 100, when), now()).await.unwrap();
    }
    let listed = list(&s, &s, "o1", "c1", &PageRequest { limit: 10, cursor: None }).await.unwrap();
    let ids: Vec<&str> = listed.items.iter().map(|t| t.fields.id.as_str()).collect();
    assert_eq!(ids, ["new", "mid", "old"]);
}
