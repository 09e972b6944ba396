//! `app::support`: tickets created, answered, closed, updated and assigned — 409s on finished
//! tickets, one answer / one closing message per request, exact counters, tenancy, and nothing
//! half-written when the store fails.

use super::*;
use crate::app::support::{Staff, SupportPorts, TicketRequest, TicketSearch, answer, assign, close, create, get, notifications, update, view};
use crate::domain::conversation::Conversation;
use crate::domain::message::DeliveryStatus;
use crate::domain::support::{SupportTicket, TicketFilter, TicketPriority, TicketStatus};
use crate::ports::{ConversationStore, PageRequest};

fn admin() -> Staff {
    Staff { user_id: "admin-1".into(), name: Some("Ana".into()), role: "admin".into() }
}

fn about(c: Option<&Conversation>) -> TicketRequest {
    TicketRequest {
        issue_description: "Order 1042 arrived damaged".into(),
        conversation_id: c.map(|c| c.id.clone()),
        ..Default::default()
    }
}

fn ports(w: &World) -> SupportPorts<'_> {
    w.deps.support_ports()
}

/// GIVEN a customer's conversation with a ticket opened on it from the dashboard.
async fn given_ticket(w: &World) -> (Conversation, SupportTicket) {
    let c = w.given_conversation().await.conversation;
    let ticket = create(&ports(w), ORG, &about(Some(&c)), &admin(), t(1)).await.unwrap();
    (c, ticket)
}

const PAGE: PageRequest = PageRequest { limit: 100, cursor: None };

#[tokio::test(start_paused = true)]
async fn a_ticket_on_a_conversation_takes_it_over_and_is_counted_and_announced() {
    let w = World::new().with_channel(None).await;
    let (c, ticket) = given_ticket(&w).await;
    assert_eq!(ticket.status, TicketStatus::Open);
    let conversation = w.store().conversation(ORG, &c.id).await.unwrap().unwrap();
    assert_eq!((conversation.state.as_str(), conversation.ticket_id.as_deref()), ("chat_support", Some(ticket.id.as_str())));
    let n = notifications(w.store(), ORG, None).await.unwrap();
    assert_eq!((n.open_tickets, n.in_progress, n.unassigned, n.has_alerts), (1, 0, 1, true));
    assert_eq!(w.events_of(ORG, EventKind::TicketOpened).await.len(), 1);
    assert_eq!(view(&ports(&w), ORG, &ticket.id, &PAGE).await.unwrap().messages.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_second_ticket_on_the_same_conversation_is_refused_with_409() {
    let w = World::new().with_channel(None).await;
    let (c, first) = given_ticket(&w).await;
    assert_conflict(create(&ports(&w), ORG, &about(Some(&c)), &admin(), t(2)).await, "OPEN");
    assert_eq!(notifications(w.store(), ORG, None).await.unwrap().open_tickets, 1);
    assert_eq!(w.store().conversation(ORG, &c.id).await.unwrap().unwrap().ticket_id, Some(first.id));
}

#[tokio::test(start_paused = true)]
async fn a_store_failure_while_opening_leaves_no_ticket_no_count_and_the_conversation_as_it_was() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    w.store().fail_next("save_ticket", Error::backend("dynamodb", "transaction cancelled"));
    assert!(create(&ports(&w), ORG, &about(Some(&c)), &admin(), t(1)).await.is_err());
    assert_eq!(notifications(w.store(), ORG, None).await.unwrap().open_tickets, 0);
    assert_eq!(w.store().conversation(ORG, &c.id).await.unwrap().unwrap(), c);
    assert!(w.events(ORG).await.iter().all(|e| e.kind != EventKind::TicketOpened));
}

#[tokio::test(start_paused = true)]
async fn a_ticket_phone_number_is_e164_stored_as_its_digits() {
    let w = World::new().with_channel(None).await;
    for bad in ["call me", "+34 600 111 222", "0034600111222", "1234567890123456"] {
        let request = TicketRequest { phone_number: Some(bad.into()), ..about(None) };
        match create(&ports(&w), ORG, &request, &admin(), t(1)).await {
            Err(Error::Invalid { field, .. }) => assert_eq!(field, "phone_number", "{bad}"),
            other => panic!("{bad} was accepted: {other:?}"),
        }
    }
    assert_eq!(notifications(w.store(), ORG, None).await.unwrap().open_tickets, 0);
    let request = TicketRequest { phone_number: Some("+34600111222".into()), ..about(None) };
    let ticket = create(&ports(&w), ORG, &request, &admin(), t(1)).await.unwrap();
    assert_eq!(ticket.phone_number.as_deref(), Some("34600111222"));
}

#[tokio::test(start_paused = true)]
async fn another_organisation_finds_no_ticket() {
    let w = World::new().with_channel(None).await;
    let (_, ticket) = given_ticket(&w).await;
    assert_not_found(get(w.store(), OTHER_ORG, &ticket.id).await, "ticket");
    assert_not_found(answer(&ports(&w), OTHER_ORG, &ticket.id, &admin(), "hi", None, t(2)).await, "ticket");
    assert_not_found(close(&ports(&w), OTHER_ORG, &ticket.id, TicketStatus::Resolved, &admin(), t(2)).await, "ticket");
    assert_not_found(assign(w.store(), OTHER_ORG, &ticket.id, Some("x"), &admin(), t(2)).await, "ticket");
    // and a ticket on another organisation's conversation is refused too
    let c = w.given_conversation_of("447700900123", "wamid.b").await.conversation;
    assert_not_found(create(&ports(&w), OTHER_ORG, &about(Some(&c)), &admin(), t(2)).await, "conversation");
    assert!(w.reply_jobs().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_answer_is_queued_once_per_idempotency_key_and_takes_the_ticket_in_progress() {
    let w = World::new().with_channel(None).await;
    let (c, ticket) = given_ticket(&w).await;
    let first = answer(&ports(&w), ORG, &ticket.id, &admin(), "We are sending a new one", Some(&request_key("k1", "We are sending a new one")), t(2)).await.unwrap();
    let again = answer(&ports(&w), ORG, &ticket.id, &admin(), "We are sending a new one", Some(&request_key("k1", "We are sending a new one")), t(3)).await.unwrap();
    assert_eq!(again.message_id, first.message_id);
    assert_eq!((first.ticket_status, first.whatsapp_status), (TicketStatus::InProgress, DeliveryStatus::Queued));
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].conversation_id.as_str(), jobs[0].message_id.as_str()), (c.id.as_str(), first.message_id.as_str()));
    let v = view(&ports(&w), ORG, &ticket.id, &PAGE).await.unwrap();
    assert_eq!(v.messages.len(), 2, "the issue and one answer");
    assert_eq!(w.events_of(ORG, EventKind::TicketAnswered).await.len(), 1);
    let n = notifications(w.store(), ORG, None).await.unwrap();
    assert_eq!((n.open_tickets, n.in_progress), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn closing_sends_one_closing_message_and_gives_the_conversation_back_to_the_menu() {
    let w = World::new().with_channel(None).await;
    let (c, ticket) = given_ticket(&w).await;
    let closed = close(&ports(&w), ORG, &ticket.id, TicketStatus::Resolved, &admin(), t(5)).await.unwrap();
    assert_eq!(closed.ticket.status, TicketStatus::Resolved);
    let closing = closed.closing_message_id.clone().expect("a closing message");
    let conversation = w.store().conversation(ORG, &c.id).await.unwrap().unwrap();
    assert_eq!((conversation.state.as_str(), conversation.ticket_id), ("menu", None));
    // WHEN the same close is repeated
    let again = close(&ports(&w), ORG, &ticket.id, TicketStatus::Resolved, &admin(), t(6)).await.unwrap();
    // THEN the same closing message, queued once; one event; counts exact
    assert_eq!(again.closing_message_id.as_deref(), Some(closing.as_str()));
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].message_id, closing);
    assert_eq!(w.events_of(ORG, EventKind::TicketClosed).await.len(), 1);
    let n = notifications(w.store(), ORG, None).await.unwrap();
    assert_eq!((n.open_tickets, n.in_progress, n.unassigned, n.has_alerts), (0, 0, 0, false));
}

#[tokio::test(start_paused = true)]
async fn a_finished_ticket_refuses_answers_other_outcomes_reopening_and_assignment() {
    let w = World::new().with_channel(None).await;
    let (_, ticket) = given_ticket(&w).await;
    close(&ports(&w), ORG, &ticket.id, TicketStatus::Resolved, &admin(), t(5)).await.unwrap();
    w.reply_jobs();
    assert_conflict(answer(&ports(&w), ORG, &ticket.id, &admin(), "hello?", None, t(6)).await, "RESOLVED");
    assert_conflict(close(&ports(&w), ORG, &ticket.id, TicketStatus::Closed, &admin(), t(6)).await, "RESOLVED");
    assert_conflict(update(&ports(&w), ORG, &ticket.id, Some(TicketStatus::Open), None, None, &admin(), t(6)).await, "RESOLVED");
    assert_conflict(assign(w.store(), ORG, &ticket.id, Some("admin-2"), &admin(), t(6)).await, "RESOLVED");
    assert!(w.reply_jobs().is_empty(), "nothing sent to the customer");
}

#[tokio::test(start_paused = true)]
async fn update_and_assign_move_the_counters() {
    let w = World::new().with_channel(None).await;
    let (_, ticket) = given_ticket(&w).await;
    let updated = update(&ports(&w), ORG, &ticket.id, Some(TicketStatus::InProgress), Some(TicketPriority::High), None, &admin(), t(2)).await.unwrap();
    assert_eq!((updated.status, updated.priority), (TicketStatus::InProgress, TicketPriority::High));
    let assigned = assign(w.store(), ORG, &ticket.id, Some("admin-1"), &admin(), t(3)).await.unwrap();
    assert_eq!(assigned.assigned_admin_id.as_deref(), Some("admin-1"));
    let n = notifications(w.store(), ORG, Some("admin-1")).await.unwrap();
    assert_eq!((n.open_tickets, n.in_progress, n.unassigned, n.assigned_to_me), (0, 1, 0, Some(1)));
    // Assigning to the same admin again writes nothing.
    assert_eq!(assign(w.store(), ORG, &ticket.id, Some("admin-1"), &admin(), t(4)).await.unwrap().version, assigned.version);
    // A status of RESOLVED through update closes the ticket like close does (one closing message).
    update(&ports(&w), ORG, &ticket.id, Some(TicketStatus::Resolved), None, None, &admin(), t(5)).await.unwrap();
    assert_eq!(w.reply_jobs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_assignment_losing_once_is_retried_and_losing_always_answers_lost_update() {
    let w = World::new().with_channel(None).await;
    let (_, ticket) = given_ticket(&w).await;
    w.store().fail_next("save_ticket", Error::LostUpdate("ticket"));
    let assigned = assign(w.store(), ORG, &ticket.id, Some("admin-1"), &admin(), t(2)).await.unwrap();
    assert_eq!(assigned.version, ticket.version + 1);
    w.keeps_losing("save_ticket", "ticket");
    let out = assign(w.store(), ORG, &ticket.id, Some("admin-2"), &admin(), t(3)).await;
    assert!(matches!(out, Err(Error::LostUpdate("ticket"))), "{out:?}");
    assert_eq!(get(w.store(), ORG, &ticket.id).await.unwrap().assigned_admin_id.as_deref(), Some("admin-1"));
}

async fn search_of(w: &World, org: &str, search: &TicketSearch, page: &PageRequest) -> Vec<String> {
    let ports = w.deps.ticket_search_ports();
    let found = crate::app::support::search(&ports, org, search, &TicketFilter::default(), page).await.unwrap();
    found.items.into_iter().map(|t| t.id).collect()
}

#[tokio::test(start_paused = true)]
async fn tickets_are_found_by_the_customers_phone_and_by_their_external_ref() {
    let w = World::new().with_channel(None).await;
    // GIVEN a ticket on the customer's conversation, one typed in with their phone and a
    // reference, and another customer's ticket
    let (_, on_conversation) = given_ticket(&w).await;
    let typed = TicketRequest { phone_number: Some(format!("+{CUSTOMER}")), external_ref: Some(" STU-1 ".into()), ..about(None) };
    let typed = create(&ports(&w), ORG, &typed, &admin(), t(2)).await.unwrap();
    assert_eq!((typed.customer_id.as_deref(), typed.external_ref.as_deref()), (on_conversation.customer_id.as_deref(), Some("STU-1")));
    let other = w.given_conversation_of("447700900123", "wamid.b").await.conversation;
    let theirs = create(&ports(&w), ORG, &about(Some(&other)), &admin(), t(3)).await.unwrap();
    // WHEN searched by the phone (with or without +) THEN the customer's tickets, newest first
    let phone = TicketSearch::from_query(Some(&format!("+{CUSTOMER}")), None).unwrap().unwrap();
    assert_eq!(phone, TicketSearch::Phone(CUSTOMER.into()));
    assert_eq!(search_of(&w, ORG, &phone, &PAGE).await, [typed.id.clone(), on_conversation.id.clone()]);
    assert_eq!(search_of(&w, ORG, &TicketSearch::Phone("447700900123".into()), &PAGE).await, [theirs.id.clone()]);
    // in pages, with the search's total
    let sp = w.deps.ticket_search_ports();
    let first = crate::app::support::search(&sp, ORG, &phone, &TicketFilter::default(), &PageRequest { limit: 1, cursor: None }).await.unwrap();
    assert_eq!((first.items.len(), first.total), (1, 2));
    let next = PageRequest { limit: 1, cursor: first.next_cursor.clone() };
    assert_eq!(search_of(&w, ORG, &phone, &next).await, [on_conversation.id.clone()]);
    // filtered: only the open one after the other is resolved
    close(&ports(&w), ORG, &typed.id, TicketStatus::Resolved, &admin(), t(4)).await.unwrap();
    let open = TicketFilter { statuses: vec![TicketStatus::Open], ..Default::default() };
    let found = crate::app::support::search(&sp, ORG, &phone, &open, &PAGE).await.unwrap();
    assert_eq!((found.items.iter().map(|t| t.id.clone()).collect::<Vec<_>>(), found.total), (vec![on_conversation.id.clone()], 1));
    // AND by the reference, exactly
    assert_eq!(search_of(&w, ORG, &TicketSearch::ExternalRef("STU-1".into()), &PAGE).await, [typed.id.clone()]);
    assert!(search_of(&w, ORG, &TicketSearch::ExternalRef("STU".into()), &PAGE).await.is_empty());
    // AND nobody else's: an unknown number, another organisation
    assert!(search_of(&w, ORG, &TicketSearch::Phone("34600000000".into()), &PAGE).await.is_empty());
    assert!(search_of(&w, OTHER_ORG, &phone, &PAGE).await.is_empty());
    assert!(search_of(&w, OTHER_ORG, &TicketSearch::ExternalRef("STU-1".into()), &PAGE).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_bad_search_names_its_field() {
    let field_of = |r: crate::error::Result<Option<TicketSearch>>| match r {
        Err(Error::Invalid { field, .. }) => field,
        other => panic!("accepted: {other:?}"),
    };
    assert_eq!(field_of(TicketSearch::from_query(Some("+34 600"), None)), "phone");
    assert_eq!(field_of(TicketSearch::from_query(None, Some("a b"))), "external_ref");
    assert_eq!(field_of(TicketSearch::from_query(Some("+34600111222"), Some("S1"))), "external_ref");
    assert_eq!(TicketSearch::from_query(None, None).unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn an_admin_sets_changes_and_clears_the_external_ref() {
    let w = World::new().with_channel(None).await;
    let (_, ticket) = given_ticket(&w).await;
    let by_ref = async |r: &str| search_of(&w, ORG, &TicketSearch::ExternalRef(r.into()), &PAGE).await;
    let set = update(&ports(&w), ORG, &ticket.id, None, None, Some(Some(" S-9 ".into())), &admin(), t(2)).await.unwrap();
    assert_eq!(set.external_ref.as_deref(), Some("S-9"));
    assert_eq!(by_ref("S-9").await, [ticket.id.clone()]);
    match update(&ports(&w), ORG, &ticket.id, None, None, Some(Some("S 9".into())), &admin(), t(3)).await {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "external_ref"),
        other => panic!("accepted: {other:?}"),
    }
    update(&ports(&w), ORG, &ticket.id, None, None, Some(Some("S-10".into())), &admin(), t(4)).await.unwrap();
    assert!(by_ref("S-9").await.is_empty());
    assert_eq!(by_ref("S-10").await, [ticket.id.clone()]);
    let cleared = update(&ports(&w), ORG, &ticket.id, None, None, Some(None), &admin(), t(5)).await.unwrap();
    assert_eq!(cleared.external_ref, None);
    assert!(by_ref("S-10").await.is_empty());
    assert_not_found(update(&ports(&w), OTHER_ORG, &ticket.id, None, None, Some(Some("X".into())), &admin(), t(6)).await, "ticket");
}

#[tokio::test(start_paused = true)]
async fn staff_changes_to_a_ticket_are_in_the_audit_trail_with_before_and_after() {
    use crate::domain::audit::{AuditEntity, AuditQuery, EntityFilter};
    let w = World::new().with_channel(None).await;
    let (_, ticket) = given_ticket(&w).await;
    let sue = Staff { user_id: "sup-1".into(), name: None, role: "supervisor".into() };
    // WHEN a supervisor assigns the ticket, assigns it again to the same admin (no change), and
    // an admin raises its priority, sets a reference and resolves it
    assign(w.store(), ORG, &ticket.id, Some("admin-7"), &sue, t(2)).await.unwrap();
    assign(w.store(), ORG, &ticket.id, Some("admin-7"), &sue, t(3)).await.unwrap();
    update(&ports(&w), ORG, &ticket.id, None, Some(TicketPriority::Urgent), Some(Some("S-1".into())), &admin(), t(4)).await.unwrap();
    close(&ports(&w), ORG, &ticket.id, TicketStatus::Resolved, &admin(), t(5)).await.unwrap();
    // THEN each change is one entry: who, what, when, the changed fields before → after
    let all = crate::app::audit::entries(w.store(), ORG, &AuditQuery::default(), &PAGE).await.unwrap().items;
    let mut seen: Vec<(&str, &str, Vec<&String>)> = all.iter().map(|e| (e.actor.user_id.as_str(), e.operation.as_str(), e.changes.keys().collect())).collect();
    // The update's two changes share their time: their order between them is their ids'.
    seen[1..3].sort_by(|a, b| b.2.cmp(&a.2));
    assert_eq!(
        seen,
        [
            ("admin-1", "close", vec![&"status".to_string()]),
            ("admin-1", "update", vec![&"priority".to_string()]),
            ("admin-1", "update", vec![&"external_ref".to_string()]),
            ("sup-1", "assign", vec![&"assigned_admin_id".to_string()]),
        ]
    );
    let assigned = &all[3];
    assert_eq!((assigned.actor.role.as_str(), assigned.entity_type, assigned.entity_id.as_str(), assigned.at), ("supervisor", AuditEntity::Ticket, ticket.id.as_str(), t(2)));
    assert_eq!((assigned.changes["assigned_admin_id"].before.clone(), assigned.changes["assigned_admin_id"].after.clone()), (serde_json::Value::Null, serde_json::json!("admin-7")));
    assert_eq!((all[0].changes["status"].before.clone(), all[0].changes["status"].after.clone()), (serde_json::json!("OPEN"), serde_json::json!("RESOLVED")));
    // AND it is found by actor and by entity; another organisation sees none of it
    let by_sue = AuditQuery { actor: Some("sup-1".into()), ..Default::default() };
    assert_eq!(crate::app::audit::entries(w.store(), ORG, &by_sue, &PAGE).await.unwrap().items, [assigned.clone()]);
    let of_ticket = AuditQuery { entity: Some(EntityFilter { entity_type: AuditEntity::Ticket, entity_id: Some(ticket.id.clone()) }), ..Default::default() };
    assert_eq!(crate::app::audit::entries(w.store(), ORG, &of_ticket, &PAGE).await.unwrap().items.len(), 4);
    assert!(crate::app::audit::entries(w.store(), OTHER_ORG, &AuditQuery::default(), &PAGE).await.unwrap().items.is_empty());
    // AND a change that fails to store leaves no entry (same transaction)
    w.store().fail_next("save_ticket", Error::backend("dynamodb", "transaction cancelled"));
    // (a reference may change on a resolved ticket: this reaches the store)
    let failed = update(&ports(&w), ORG, &ticket.id, None, None, Some(Some("S-2".into())), &admin(), t(6)).await;
    assert!(matches!(failed, Err(Error::Backend { .. })), "{failed:?}");
    assert_eq!(crate::app::audit::entries(w.store(), ORG, &AuditQuery::default(), &PAGE).await.unwrap().items.len(), 4);
    // AND bad bounds name their field
    let backwards = AuditQuery { from: Some(t(5)), to: Some(t(1)), ..Default::default() };
    assert!(matches!(crate::app::audit::entries(w.store(), ORG, &backwards, &PAGE).await, Err(Error::Invalid { field, .. }) if field == "to"));
}
