//! `app::customer_context`: every section of the panel filled from the customer's own records,
//! each bounded, interactions split by the clock, another organisation's customer not found.

use super::*;
use crate::adapters::memory::MemoryStore;
use crate::app::customer_context::{ContextPorts, RECENT, customer_context};
use crate::domain::action::Action;
use crate::domain::call::Call;
use crate::domain::conversation::Conversation;
use crate::domain::customer::{Customer, ChannelIdentity};
use crate::domain::interaction::Interaction;
use crate::domain::support::{NewTicket, SupportTicket, TicketPriority, TicketSource, TicketStatus};
use crate::domain::transaction::Transaction;
use crate::ports::{ActionStore, CallSaved, CallStore, CallWrite, CustomerStore, InteractionStore, SupportStore, TicketWrite, TransactionStore, Written};

const CU: &str = "cu-1";

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid fixture")
}

fn ports(s: &MemoryStore) -> ContextPorts<'_> {
    ContextPorts { reads: s, interactions: s, transactions: s }
}

fn conversation(n: i64) -> Conversation {
    from(json!({
        "id": format!("C{n:03}"), "org_id": ORG, "customer_id": CU, "channel": "whatsapp", "phone_number_id": NUMBER,
        "customer_address": CUSTOMER, "status": if n % 2 == 0 { "closed" } else { "open" }, "created_at": t(n), "updated_at": t(n),
        "last_message_at": t(n), "last_message_preview": format!("message {n}"), "version": 1
    }))
}

/// A customer with `conversations` conversations (`C001`…, one a minute), opened one after another.
async fn given_customer(s: &MemoryStore, conversations: i64) {
    let customer: Customer = from(json!({ "id": CU, "org_id": ORG, "name": "Sheena", "created_at": t(0), "updated_at": t(0) }));
    let identity: ChannelIdentity = from(json!({ "org_id": ORG, "address": CUSTOMER, "customer_id": CU, "open_conversation_id": "C001" }));
    s.create_customer(&customer, &identity, &conversation(1)).await.unwrap();
    for n in 2..=conversations {
        assert_eq!(s.open_conversation(&identity, Some(&format!("C{:03}", n - 1)), &conversation(n)).await.unwrap(), Written::Stored);
    }
}

fn ticket(id: &str, status: TicketStatus, minute: i64) -> SupportTicket {
    let mut t_ = SupportTicket::open(NewTicket {
        id: id.into(),
        org_id: ORG.into(),
        source: TicketSource::Api,
        customer_id: Some(CU.into()),
        conversation_id: None,
        phone_number: None,
        sender_name: None,
        issue_description: format!("ticket {id}"),
        priority: TicketPriority::Medium,
        external_ref: None,
        now: t(minute),
    });
    t_.status = status;
    t_
}

fn interaction(id: &str, due: DateTime<Utc>, status: &str) -> Interaction {
    from(json!({
        "id": id, "org_id": ORG, "customer_id": CU, "type": "phone_call", "title": id, "status": status,
        "scheduled_at": due - Duration::hours(1), "due_at": due, "created_at": t(0), "updated_at": t(0), "version": 1
    }))
}

fn action(id: &str, minute: i64) -> Action {
    from(json!({
        "id": id, "org_id": ORG, "conversation_id": "C001", "customer_id": CU, "type": "refund_request",
        "title": id, "status": "pending", "created_by": { "id": "u1" }, "created_at": t(minute), "updated_at": t(minute),
        "request_message_id": format!("bubble-{id}"), "version": 1
    }))
}

fn call(id: &str, minute: i64, nps: Option<u8>) -> Call {
    from(json!({
        "id": id, "org_id": ORG, "customer_id": CU, "customer_number": "+16505551234", "status": if nps.is_some() { "completed" } else { "ready" },
        "nps_score": nps, "created_at": t(minute), "updated_at": t(minute), "version": 1
    }))
}

fn transaction(id: &str, minute: i64) -> Transaction {
    from(json!({
        "org_id": ORG, "customer_id": CU, "id": id, "amount_minor": 1999, "currency": "EUR", "status": "completed",
        "occurred_at": t(minute), "recorded_at": t(minute)
    }))
}

#[tokio::test(start_paused = true)]
async fn every_section_is_filled_from_the_customers_records() {
    // GIVEN a customer with 3 conversations, an open, an in-progress and a resolved ticket,
    // interactions due before and after now (and a completed one), an action, two calls (one
    // scored 9, one 6, one unscored) and a transaction — and another customer's records beside
    let s = MemoryStore::new();
    given_customer(&s, 3).await;
    for (id, status, minute) in [("T1", TicketStatus::Open, 1), ("T2", TicketStatus::Resolved, 2), ("T3", TicketStatus::InProgress, 3)] {
        s.save_ticket(&TicketWrite { before: None, after: &ticket(id, status, minute), message: None, conversation: None, daily_cap: None, audit: None }).await.unwrap();
    }
    let now = t(100);
    for (id, due, status) in [("I-late", t(50), "pending"), ("I-later", t(90), "in_progress"), ("I-soon", t(120), "pending"), ("I-next-week", t(10_000), "pending"), ("I-done", t(60), "completed")] {
        s.create_interaction(&interaction(id, due, status), None).await.unwrap();
    }
    s.create_action(&action("A1", 5), None).await.unwrap();
    for (id, minute, nps) in [("K1", 1, Some(9)), ("K2", 2, Some(6)), ("K3", 3, None)] {
        assert_eq!(s.save_call(&CallWrite { before: None, after: &call(id, minute, nps), in_flight_cap: None }).await.unwrap(), CallSaved::Stored);
    }
    s.record_transaction(&transaction("order-1", 4)).await.unwrap();
    let mut stranger = call("K9", 9, Some(0));
    stranger.customer_id = Some("cu-2".into());
    s.save_call(&CallWrite { before: None, after: &stranger, in_flight_cap: None }).await.unwrap();

    // WHEN the panel is read
    let c = customer_context(ports(&s), ORG, CU, now).await.unwrap();

    // THEN each section holds what is the customer's
    assert_eq!((c.customer.id.as_str(), c.customer.name.as_deref()), (CU, Some("Sheena")));
    assert_eq!(c.conversation_count, 3);
    let conversations: Vec<&str> = c.conversations.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(conversations, ["C003", "C002", "C001"], "newest activity first");
    assert_eq!(c.conversations[1].status, crate::domain::conversation::ConversationStatus::Closed);
    assert_eq!(c.conversations[0].last_message_preview.as_deref(), Some("message 3"));
    let tickets: Vec<&str> = c.open_tickets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(tickets, ["T3", "T1"], "open and in progress, newest first");
    // overdue and pending follow the clock; the completed one is not open
    let ids = |v: &[Interaction]| v.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&c.interactions.overdue), ["I-late", "I-later"]);
    assert_eq!(ids(&c.interactions.pending), ["I-soon", "I-next-week"]);
    assert_eq!(c.interactions.next.as_ref().map(|i| i.id.as_str()), Some("I-soon"));
    assert!(!c.interactions.more);
    // a minute later than I-soon is due, it is overdue and the next is the week's
    let later = customer_context(ports(&s), ORG, CU, t(121)).await.unwrap();
    assert_eq!(ids(&later.interactions.overdue), ["I-late", "I-later", "I-soon"]);
    assert_eq!(later.interactions.next.map(|i| i.id), Some("I-next-week".to_string()));
    assert_eq!(c.actions.iter().map(|a| (a.action.id.as_str(), a.answer.is_some())).collect::<Vec<_>>(), [("A1", false)]);
    assert_eq!(c.feedback_calls.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["K3", "K2", "K1"]);
    assert_eq!((c.nps.answered, c.nps.latest, c.nps.average), (2, Some(6), Some(7.5)));
    assert_eq!(c.transactions.iter().map(|t| t.fields.id.as_str()).collect::<Vec<_>>(), ["order-1"]);
    assert!(!c.more_transactions);
}

#[tokio::test(start_paused = true)]
async fn each_section_holds_the_most_recent_only() {
    // GIVEN a customer with more of everything than a section holds
    let s = MemoryStore::new();
    let many = RECENT as i64 + 5;
    given_customer(&s, many).await;
    for n in 0..many {
        s.create_interaction(&interaction(&format!("I{n:03}"), t(1000 + n), "pending"), None).await.unwrap();
        s.create_action(&action(&format!("A{n:03}"), n), None).await.unwrap();
        s.record_transaction(&transaction(&format!("X{n:03}"), n)).await.unwrap();
    }
    // WHEN the panel is read
    let c = customer_context(ports(&s), ORG, CU, t(0)).await.unwrap();
    // THEN the newest conversations, actions and transactions, the soonest interactions
    assert_eq!(c.conversation_count, many as usize);
    assert_eq!(c.conversations.len(), RECENT);
    let newest = |prefix: &str, age: i64| format!("{prefix}{:03}", many - age);
    assert_eq!((c.conversations[0].id.clone(), c.conversations[RECENT - 1].id.clone()), (newest("C", 0), newest("C", RECENT as i64 - 1)));
    assert_eq!((c.actions.len(), c.actions[0].action.id.clone()), (RECENT, newest("A", 1)));
    assert_eq!((c.transactions.len(), c.transactions[0].fields.id.clone()), (RECENT, newest("X", 1)));
    assert!(c.more_transactions);
    assert_eq!((c.interactions.pending.len(), c.interactions.pending[0].id.as_str()), (RECENT, "I000"));
    assert!(c.interactions.more);
}

#[tokio::test(start_paused = true)]
async fn another_organisations_customer_is_not_found() {
    let s = MemoryStore::new();
    given_customer(&s, 1).await;
    assert_not_found(customer_context(ports(&s), OTHER_ORG, CU, t(0)).await, "customer");
    assert_not_found(customer_context(ports(&s), ORG, "nobody", t(0)).await, "customer");
    assert!(customer_context(ports(&s), ORG, CU, t(0)).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_conversation_shows_why_it_was_closed() {
    // GIVEN a customer with an open conversation
    let s = MemoryStore::new();
    given_customer(&s, 1).await;
    // WHEN an agent closes it THEN the panel says so, with when
    crate::app::conversations::close(&s, &crate::app::routing::RoutingPorts { routing: &s, teams: &s }, ORG, "C001", t(10)).await.unwrap();
    let c = customer_context(ports(&s), ORG, CU, t(11)).await.unwrap();
    let closed = &c.conversations[0];
    assert_eq!((closed.close_reason, closed.closed_at), (Some(crate::domain::conversation::CloseReason::Agent), Some(t(10))));
    // WHEN it is reopened THEN no reason is left
    crate::app::conversations::reopen(&s, &crate::app::routing::RoutingPorts { routing: &s, teams: &s }, ORG, "C001", t(12)).await.unwrap();
    let c = customer_context(ports(&s), ORG, CU, t(13)).await.unwrap();
    assert_eq!((c.conversations[0].close_reason, c.conversations[0].closed_at), (None, None));
}
