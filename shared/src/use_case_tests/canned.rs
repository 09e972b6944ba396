//! `app::canned`: who may change what, who sees what, render from what MAX knows, and a send that
//! refuses a missing variable, never sends `{{…}}` and counts one use per message — retried, or
//! failed half-way.

use std::collections::BTreeMap;

use super::*;
use crate::app::canned::{Author, CannedQuery, create, delete, edit, get, list, render, send};
use crate::app::support::{Staff, TicketRequest};
use crate::domain::canned::{CannedAttachment, CannedEdit, CannedInput, CannedResponse};
use crate::domain::outbound::OutboundContent;
use crate::ports::CannedResponseStore;

fn supervisor() -> Author<'static> {
    Author { org_id: ORG, user_id: "sup-1", name: Some("Sue"), manages_shared: true, role: "supervisor" }
}

fn agent(user_id: &'static str) -> Author<'static> {
    Author { org_id: ORG, user_id, name: Some("Al"), manages_shared: false, role: "agent" }
}

fn input(shortcut: &str, content: &str) -> CannedInput {
    CannedInput {
        shortcut: shortcut.into(),
        title: "Pedido listo".into(),
        content: content.into(),
        category: Some("orders".into()),
        team_id: None,
        personal: false,
        attachments: vec![],
    }
}

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const ORDER_READY: &str = "Hola {{customer_name}}, tu pedido {{order_id}} está listo.";

/// GIVEN the organisation's `/order_ready` and a customer's open conversation (bot replies taken).
async fn given(w: &World) -> (CannedResponse, String) {
    let response = create(w.store(), &supervisor(), input("/order_ready", ORDER_READY), t(0)).await.unwrap();
    let conversation = w.given_conversation().await.conversation.id;
    w.reply_jobs();
    (response, conversation)
}

async fn uses(w: &World, id: &str) -> u64 {
    w.store().canned_response(ORG, id).await.unwrap().unwrap().usage_count
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().filter(|m| m.direction == crate::domain::message::Direction::Outbound).filter_map(|m| m.text.clone()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_missing_variable_is_a_422_naming_it_and_nothing_is_sent() {
    let w = World::new().with_channel(None).await;
    let (r, c) = given(&w).await;
    // WHEN the agent sends it without the order id
    let out = send(&w.deps.canned_send_ports(), &agent("a1"), &c, &r.id, &BTreeMap::new(), None, t(1)).await;
    // THEN 422 naming `values.order_id`; nothing stored, nothing queued, nothing counted
    assert!(matches!(out, Err(Error::Invalid { ref field, .. }) if field == "values.order_id"), "{out:?}");
    assert!(texts(&w.messages(&c).await).iter().all(|t| !t.contains("pedido")));
    assert!(w.reply_jobs().is_empty());
    assert_eq!(uses(&w, &r.id).await, 0);
}

#[tokio::test(start_paused = true)]
async fn a_send_renders_what_max_knows_and_a_retry_counts_nothing_more() {
    let w = World::new().with_channel(None).await;
    let (r, c) = given(&w).await;
    let key = request_key("greet-1", "canned");
    // The agent's value for something MAX knows is ignored: the customer's own name goes.
    let v = values(&[("order_id", "ORD-123"), ("customer_name", "Someone Else")]);
    let first = send(&w.deps.canned_send_ports(), &agent("a1"), &c, &r.id, &v, Some(&key), t(1)).await.unwrap();
    assert_eq!(first.text.as_deref(), Some("Hola Sheena Nelson, tu pedido ORD-123 está listo."));
    // WHEN the client retries the same request
    let again = send(&w.deps.canned_send_ports(), &agent("a1"), &c, &r.id, &v, Some(&key), t(2)).await.unwrap();
    // THEN the first message answers, one job was queued and one use counted
    assert_eq!(again.id, first.id);
    assert_eq!(w.reply_jobs().len(), 1);
    assert_eq!(uses(&w, &r.id).await, 1);
    // AND another send is another use
    send(&w.deps.canned_send_ports(), &agent("a1"), &c, &r.id, &v, None, t(3)).await.unwrap();
    assert_eq!(uses(&w, &r.id).await, 2);
}

#[tokio::test(start_paused = true)]
async fn a_send_whose_count_failed_is_counted_by_its_retry_once() {
    let w = World::new().with_channel(None).await;
    let (r, c) = given(&w).await;
    let key = request_key("greet-2", "canned");
    let v = values(&[("order_id", "ORD-9")]);
    // GIVEN the count fails after the reply was queued
    w.store().fail_next("count_canned_use", Error::backend("dynamodb", "throttled"));
    let out = send(&w.deps.canned_send_ports(), &agent("a1"), &c, &r.id, &v, Some(&key), t(1)).await;
    assert!(matches!(out, Err(Error::Backend { .. })), "{out:?}");
    assert_eq!(uses(&w, &r.id).await, 0);
    // WHEN the client retries with the same key THEN the same message, counted now, once
    let first = send(&w.deps.canned_send_ports(), &agent("a1"), &c, &r.id, &v, Some(&key), t(2)).await.unwrap();
    send(&w.deps.canned_send_ports(), &agent("a1"), &c, &r.id, &v, Some(&key), t(3)).await.unwrap();
    assert_eq!(uses(&w, &r.id).await, 1);
    assert_eq!(texts(&w.messages(&c).await).iter().filter(|t| t.contains("ORD-9")).count(), 1);
    assert_eq!(w.reply_jobs().len(), 1, "{first:?}");
}

#[tokio::test(start_paused = true)]
async fn attachments_follow_the_text_once_each() {
    let w = World::new().with_channel(None).await;
    let mut i = input("/manual", "Aquí está el manual, {{agent_name}}.");
    i.attachments = vec![CannedAttachment {
        media_type: crate::domain::canned::AttachmentType::Document,
        link: "https://example.com/manual.pdf".into(),
        caption: None,
        filename: Some("manual.pdf".into()),
    }];
    let r = create(w.store(), &supervisor(), i, t(0)).await.unwrap();
    let c = w.given_conversation().await.conversation.id;
    w.reply_jobs();
    let key = request_key("manual-1", "canned");
    for at in [1, 2] {
        send(&w.deps.canned_send_ports(), &agent("a1"), &c, &r.id, &BTreeMap::new(), Some(&key), t(at)).await.unwrap();
    }
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 2, "the text, then the document, once");
    let sent: Vec<Message> = w.messages(&c).await.into_iter().filter(|m| m.sender.id.as_deref() == Some("a1")).collect();
    assert_eq!(sent.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(), ["text", "document"]);
    assert_eq!(sent[0].text.as_deref(), Some("Aquí está el manual, Al."));
    assert_eq!(uses(&w, &r.id).await, 1);
    assert_eq!(r.attachments[0].content(), OutboundContent::Media { media_type: crate::domain::outbound::MediaType::Document, id: None, link: Some("https://example.com/manual.pdf".into()), media_id: None, caption: None, filename: Some("manual.pdf".into()) });
}

#[tokio::test(start_paused = true)]
async fn render_fills_the_open_ticket_and_lists_what_is_missing() {
    let w = World::new().with_channel(None).await;
    let r = create(w.store(), &supervisor(), input("/ticket", "{{customer_name}} ({{customer_phone}}), ticket {{ticket_id}}, order {{order_id}}"), t(0)).await.unwrap();
    let c = w.given_conversation().await.conversation;
    let ports = w.deps.canned_ports();
    // Without a ticket: the ticket id is missing too.
    let before = render(&ports, &agent("a1"), &r.id, Some(&c.id), &BTreeMap::new()).await.unwrap();
    assert_eq!(before.missing, ["ticket_id", "order_id"]);
    assert!(!before.text.contains("{{"));
    // GIVEN a ticket opened on the conversation
    let request = TicketRequest { issue_description: "Damaged".into(), conversation_id: Some(c.id.clone()), ..Default::default() };
    let staff = Staff { user_id: "admin-1".into(), name: None, role: "admin".into() };
    let ticket = crate::app::support::create(&w.deps.support_ports(), ORG, &request, &staff, t(1)).await.unwrap();
    let after = render(&ports, &agent("a1"), &r.id, Some(&c.id), &values(&[("order_id", "7")])).await.unwrap();
    assert_eq!(after.text, format!("Sheena Nelson ({CUSTOMER}), ticket {}, order 7", ticket.id));
    assert!(after.missing.is_empty());
    // Another organisation's conversation is not found.
    let theirs = Author { org_id: OTHER_ORG, ..agent("a1") };
    assert_not_found(render(&ports, &theirs, &r.id, Some(&c.id), &BTreeMap::new()).await, "canned response");
}

#[tokio::test(start_paused = true)]
async fn agents_keep_personal_responses_that_nobody_else_sees() {
    let w = World::new().with_channel(None).await;
    // An agent may not create, edit or delete the organisation's
    assert!(matches!(create(w.store(), &agent("a1"), input("/x", "x"), t(0)).await, Err(Error::Forbidden(_))));
    let shared = create(w.store(), &supervisor(), input("/greeting", "Hola"), t(0)).await.unwrap();
    let retitle = CannedEdit { title: Some("Mine".into()), ..Default::default() };
    assert!(matches!(edit(w.store(), &agent("a1"), &shared.id, retitle.clone(), t(1)).await, Err(Error::Forbidden(_))));
    assert!(matches!(delete(w.store(), &agent("a1"), &shared.id, t(9)).await, Err(Error::Forbidden(_))));
    // but keeps their own
    let mut mine = input("/greeting", "Hi from me");
    mine.personal = true;
    let personal = create(w.store(), &agent("a1"), mine, t(0)).await.unwrap();
    assert_not_found(get(w.store(), &agent("a2"), &personal.id).await, "canned response");
    assert_not_found(get(w.store(), &supervisor(), &personal.id).await, "canned response");
    assert_eq!(edit(w.store(), &agent("a1"), &personal.id, retitle, t(1)).await.unwrap().title, "Mine");
    let query = CannedQuery { q: Some("/gre".into()), limit: 50, ..Default::default() };
    assert_eq!(list(w.store(), &agent("a1"), &query).await.unwrap().len(), 2);
    assert_eq!(list(w.store(), &agent("a2"), &query).await.unwrap().len(), 1);
    // and another agent cannot send it
    let c = w.given_conversation().await.conversation.id;
    assert_not_found(send(&w.deps.canned_send_ports(), &agent("a2"), &c, &personal.id, &BTreeMap::new(), None, t(2)).await, "canned response");
    delete(w.store(), &agent("a1"), &personal.id, t(9)).await.unwrap();
    // The agent's creation and deletion are in the audit trail, with their role; the refused
    // delete of the shared one left none.
    let query = crate::domain::audit::AuditQuery { actor: Some("a1".into()), ..Default::default() };
    let trail = crate::ports::AuditStore::audit_entries(w.store(), ORG, &query, &crate::ports::PageRequest { limit: 10, cursor: None }).await.unwrap().items;
    let ops: Vec<(&str, &str, &str)> = trail.iter().map(|e| (e.operation.as_str(), e.entity_id.as_str(), e.actor.role.as_str())).collect();
    assert!(ops.contains(&("delete", personal.id.as_str(), "agent")) && !ops.iter().any(|(_, id, _)| *id == shared.id), "{ops:?}");
    assert_not_found(get(w.store(), &agent("a1"), &personal.id).await, "canned response");
}

#[tokio::test(start_paused = true)]
async fn the_list_is_filtered_by_team_and_category_and_most_used_first() {
    let w = World::new().with_channel(None).await;
    let mut sales = input("/pricing", "Desde $99");
    sales.team_id = Some("sales".into());
    sales.category = Some("sales".into());
    let sales = create(w.store(), &supervisor(), sales, t(0)).await.unwrap();
    let mut support = input("/reset", "Reset it");
    support.team_id = Some("support".into());
    create(w.store(), &supervisor(), support, t(0)).await.unwrap();
    let org_wide = create(w.store(), &supervisor(), input("/hours", "9 to 5"), t(0)).await.unwrap();
    w.store().count_canned_use(ORG, &sales.id, "M1", t(1)).await.unwrap();
    let shortcuts = |rs: Vec<CannedResponse>| rs.into_iter().map(|r| r.shortcut).collect::<Vec<_>>();
    let for_sales = CannedQuery { team_id: Some("sales".into()), limit: 50, ..Default::default() };
    assert_eq!(shortcuts(list(w.store(), &agent("a1"), &for_sales).await.unwrap()), ["/pricing", "/hours"]);
    let by_category = CannedQuery { category: Some("Orders".into()), limit: 50, ..Default::default() };
    assert_eq!(shortcuts(list(w.store(), &agent("a1"), &by_category).await.unwrap()), ["/hours", "/reset"]);
    let one = CannedQuery { limit: 1, ..Default::default() };
    assert_eq!(shortcuts(list(w.store(), &agent("a1"), &one).await.unwrap()), ["/pricing"]);
    // A taken shortcut is a 409, and an edit onto one too.
    assert_conflict(create(w.store(), &supervisor(), input("/hours", "again"), t(2)).await, "shortcut_taken");
    let onto = CannedEdit { shortcut: Some("/pricing".into()), team_id: Some(Some("sales".into())), ..Default::default() };
    assert_conflict(edit(w.store(), &supervisor(), &org_wide.id, onto, t(2)).await, "shortcut_taken");
}
