//! `app::actions`: create (idempotent, with its bubble), approve / deny / edit once, the same
//! decision again answers the same, a different one 409, the answer queued once (and again only
//! when its job was lost), its delivery statuses followed into the action once, tenancy, and
//! nothing half-written.

use serde_json::Map;

use super::*;
use crate::app::actions::{ActionPorts, create, decide, get};
use crate::app::delivery::send_reply;
use crate::domain::action::{Action, ActionStatus, Actor, AnswerStatus, DecisionRequest, NewAction};
use crate::domain::conversation::Conversation;
use crate::domain::message::DeliveryStatus;
use crate::ports::Written;

fn agent() -> Actor {
    Actor { id: "agent-1".into(), name: Some("Ana".into()) }
}

fn refund(c: &Conversation) -> NewAction {
    let details: Map<String, Value> = serde_json::from_value(json!({ "order_id": "1042", "amount": 25 })).unwrap();
    NewAction {
        conversation_id: c.id.clone(),
        action_type: "refund_request".into(),
        title: "Refund order 1042".into(),
        details,
        proposed_reply: Some("Your refund is on its way.".into()),
    }
}

fn approve() -> DecisionRequest {
    DecisionRequest::new(ActionStatus::Approved, None, "reply_text", None).unwrap()
}

fn deny() -> DecisionRequest {
    DecisionRequest::new(ActionStatus::Denied, Some("We cannot refund this order.".into()), "reply_text", None).unwrap()
}

fn edit() -> DecisionRequest {
    let changes: Map<String, Value> = serde_json::from_value(json!({ "amount": 20 })).unwrap();
    DecisionRequest::new(ActionStatus::Edited, None, "reply_text", Some(changes)).unwrap()
}

fn ports(w: &World) -> ActionPorts<'_> {
    w.deps.action_ports()
}

/// GIVEN a customer's conversation with a pending refund request.
async fn given_action(w: &World) -> (Conversation, Action) {
    let c = w.given_conversation().await.conversation;
    let (action, written) = create(&ports(w), ORG, agent(), refund(&c), Some(&request_key("req-1", "refund 1042")), t(1)).await.unwrap();
    assert_eq!(written, Written::Stored);
    (c, action)
}

#[tokio::test(start_paused = true)]
async fn a_repeated_create_answers_the_first_action_with_one_bubble_and_one_event() {
    let w = World::new().with_channel(None).await;
    let (c, first) = given_action(&w).await;
    let (again, written) = create(&ports(&w), ORG, agent(), refund(&c), Some(&request_key("req-1", "refund 1042")), t(2)).await.unwrap();
    assert_eq!((again, written), (first.clone(), Written::AlreadyThere));
    let bubbles: Vec<_> = w.messages(&c.id).await.into_iter().filter(|m| m.kind == "action_request").collect();
    assert_eq!(bubbles.len(), 1);
    assert_eq!(bubbles[0].id, first.request_message_id);
    assert_eq!(w.events_of(ORG, EventKind::ActionCreated).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_idempotency_key_reused_with_another_request_creates_no_action() {
    let w = World::new().with_channel(None).await;
    let (c, first) = given_action(&w).await;
    let mut other = refund(&c);
    other.title = "Another refund".into();
    let out = create(&ports(&w), ORG, agent(), other, Some(&request_key("req-1", "another refund")), t(2)).await;
    match out {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "Idempotency-Key"),
        other => panic!("the key was reused for another request: {other:?}"),
    }
    let page = crate::ports::ActionStore::actions(w.store(), ORG, &Default::default(), &crate::ports::PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert_eq!(page.items.iter().map(|a| &a.id).collect::<Vec<_>>(), vec![&first.id]);
}

#[tokio::test(start_paused = true)]
async fn approving_answers_the_customer_once_however_often_it_is_repeated() {
    let w = World::new().with_channel(None).await;
    let (c, action) = given_action(&w).await;
    let decided = decide(&ports(&w), ORG, &action.id, &approve(), agent(), "agent", t(2)).await.unwrap();
    assert_eq!((decided.status, decided.version), (ActionStatus::Approved, action.version + 1));
    let again = decide(&ports(&w), ORG, &action.id, &approve(), agent(), "agent", t(3)).await.unwrap();
    assert_eq!(again, decided);
    // THEN one answer, queued once, with its record; one note; one decided event
    let answer_id = decided.response_message_id.clone().expect("an answer");
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].message_id, answer_id);
    let answer = w.message(&c.id, &answer_id).await;
    assert_eq!(answer.status, DeliveryStatus::Queued);
    assert!(answer.text.unwrap().ends_with("Your refund is on its way."), "the default template with the proposed reply");
    let view = get(w.store(), ORG, &action.id).await.unwrap();
    assert_eq!(view.response.map(|r| r.status), Some(DeliveryStatus::Queued));
    assert_eq!(w.messages(&c.id).await.iter().filter(|m| m.kind == "action_status_update").count(), 1);
    assert_eq!(w.events_of(ORG, EventKind::ActionDecided).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_different_decision_after_one_is_409_with_the_current_status() {
    let w = World::new().with_channel(None).await;
    let (_, action) = given_action(&w).await;
    let edited = decide(&ports(&w), ORG, &action.id, &edit(), agent(), "agent", t(2)).await.unwrap();
    assert_eq!(edited.details["amount"], 20);
    assert_conflict(decide(&ports(&w), ORG, &action.id, &approve(), agent(), "agent", t(3)).await, "edited");
    assert_conflict(decide(&ports(&w), ORG, &action.id, &deny(), agent(), "agent", t(3)).await, "edited");
    assert_eq!(w.reply_jobs().len(), 1, "only the edit's answer");
    assert_eq!(get(w.store(), ORG, &action.id).await.unwrap().action, edited);
}

#[tokio::test(start_paused = true)]
async fn a_denial_sends_its_reply_text() {
    let w = World::new().with_channel(None).await;
    let (c, action) = given_action(&w).await;
    let denied = decide(&ports(&w), ORG, &action.id, &deny(), agent(), "agent", t(2)).await.unwrap();
    assert_eq!(denied.status, ActionStatus::Denied);
    let answer = w.message(&c.id, denied.response_message_id.as_deref().unwrap()).await;
    assert!(answer.text.unwrap().contains("We cannot refund this order."));
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_job_is_queued_again_by_the_repeated_decision() {
    // GIVEN the queue refusing the answer's job after the decision committed
    let w = World::new().with_channel(None).await;
    let (c, action) = given_action(&w).await;
    w.outbox().fail_next_send(Error::backend("sqs", "unavailable"));
    assert!(decide(&ports(&w), ORG, &action.id, &approve(), agent(), "agent", t(2)).await.is_err());
    let decided = get(w.store(), ORG, &action.id).await.unwrap().action;
    assert_eq!(decided.status, ActionStatus::Approved, "the transaction committed");
    assert!(w.reply_jobs().is_empty());
    // WHEN the client repeats the decision
    decide(&ports(&w), ORG, &action.id, &approve(), agent(), "agent", t(3)).await.unwrap();
    // THEN the answer's job is queued, once
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(Some(jobs[0].message_id.clone()), decided.response_message_id);
    // AND once the answer is sent, a repeat queues nothing
    send_reply(&w.deps.sender_ports(), &jobs[0], 1, t(4)).await.unwrap();
    decide(&ports(&w), ORG, &action.id, &approve(), agent(), "agent", t(5)).await.unwrap();
    assert!(w.reply_jobs().is_empty());
    let _ = c;
}

#[tokio::test(start_paused = true)]
async fn a_failed_decision_write_leaves_the_action_pending_and_nothing_else() {
    let w = World::new().with_channel(None).await;
    let (c, action) = given_action(&w).await;
    let before = w.messages(&c.id).await;
    let events_before = w.events(ORG).await.len();
    w.store().fail_next("save_decision", Error::backend("dynamodb", "transaction cancelled"));
    assert!(decide(&ports(&w), ORG, &action.id, &approve(), agent(), "agent", t(2)).await.is_err());
    assert_eq!(get(w.store(), ORG, &action.id).await.unwrap(), crate::app::actions::ActionView { action: action.clone(), response: None });
    assert_eq!(w.messages(&c.id).await, before, "no answer, no note");
    assert_eq!(w.events(ORG).await.len(), events_before);
    assert!(w.reply_jobs().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_decision_that_keeps_losing_answers_lost_update() {
    let w = World::new().with_channel(None).await;
    let (_, action) = given_action(&w).await;
    w.keeps_losing("save_decision", "action");
    let out = decide(&ports(&w), ORG, &action.id, &approve(), agent(), "agent", t(2)).await;
    assert!(matches!(out, Err(Error::LostUpdate("action"))), "{out:?}");
    assert_eq!(get(w.store(), ORG, &action.id).await.unwrap().action.status, ActionStatus::Pending);
}

#[tokio::test(start_paused = true)]
async fn another_organisation_finds_no_action_and_cannot_create_on_the_conversation() {
    let w = World::new().with_channel(None).await;
    let (c, action) = given_action(&w).await;
    assert_not_found(get(w.store(), OTHER_ORG, &action.id).await, "action");
    assert_not_found(decide(&ports(&w), OTHER_ORG, &action.id, &approve(), agent(), "agent", t(2)).await, "action");
    assert_not_found(create(&ports(&w), OTHER_ORG, agent(), refund(&c), None, t(2)).await, "conversation");
    assert!(w.reply_jobs().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_answers_delivery_statuses_reach_the_action_once() {
    // GIVEN an approved action whose answer reply-sender sent
    let w = World::new().with_channel(None).await;
    let (c, action) = given_action(&w).await;
    decide(&ports(&w), ORG, &action.id, &approve(), agent(), "agent", t(2)).await.unwrap();
    let reply = w.reply_jobs().remove(0);
    send_reply(&w.deps.sender_ports(), &reply, 1, t(3)).await.unwrap();
    let wamid = w.message(&c.id, &reply.message_id).await.wamid.unwrap();
    // WHEN Meta calls back delivered twice, then read
    for (status, at) in [("delivered", t(4)), ("delivered", t(4)), ("read", t(5))] {
        process_job(&w.deps.inbound_ports(), &job(status_webhook(&wamid, status, at, None), at)).await.unwrap();
    }
    // AND reply-sender's job is delivered again
    send_reply(&w.deps.sender_ports(), &reply, 2, t(6)).await.unwrap();
    // THEN the action's answer is read, and the feed told each status once
    let response = get(w.store(), ORG, &action.id).await.unwrap().response.unwrap();
    assert_eq!((response.status, response.wamid.as_deref()), (DeliveryStatus::Read, Some(wamid.as_str())));
    let told: Vec<String> = w.events_of(ORG, EventKind::ResponseStatusChanged).await.iter().map(|e| e.data["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(told, ["sent", "delivered", "read"]);
    assert_eq!(w.mem.whatsapp.outbox().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_action_and_its_bubble_show_processing_until_the_answer_is_sent_then_never_go_back() {
    // GIVEN an approved action: its answer is queued for reply-sender
    let w = World::new().with_channel(None).await;
    let (c, action) = given_action(&w).await;
    let decided = decide(&ports(&w), ORG, &action.id, &approve(), agent(), "agent", t(2)).await.unwrap();
    let shown = async || {
        let action = get(w.store(), ORG, &action.id).await.unwrap().action;
        let bubble = w.message(&c.id, &action.request_message_id).await.content.unwrap();
        (action.answer_status, serde_json::from_value::<Option<AnswerStatus>>(bubble["answer_status"].clone()).unwrap())
    };
    // THEN the action, its bubble and `action.decided` say processing
    assert_eq!(decided.answer_status, Some(AnswerStatus::Processing));
    assert_eq!(shown().await, (Some(AnswerStatus::Processing), Some(AnswerStatus::Processing)));
    assert_eq!(w.events_of(ORG, EventKind::ActionDecided).await[0].data["answer_status"], "processing");
    // WHEN reply-sender sends it: sent
    let reply = w.reply_jobs().remove(0);
    send_reply(&w.deps.sender_ports(), &reply, 1, t(3)).await.unwrap();
    assert_eq!(shown().await, (Some(AnswerStatus::Sent), Some(AnswerStatus::Sent)));
    // AND Meta says read, then (late, out of order) delivered and sent: read stays
    let wamid = w.message(&c.id, &reply.message_id).await.wamid.unwrap();
    for (status, at) in [("read", t(5)), ("delivered", t(4)), ("sent", t(3))] {
        process_job(&w.deps.inbound_ports(), &job(status_webhook(&wamid, status, at, None), at)).await.unwrap();
    }
    assert_eq!(shown().await, (Some(AnswerStatus::Read), Some(AnswerStatus::Read)));
    // AND the feed told each move once, with the status the dashboard shows
    let told: Vec<Value> = w.events_of(ORG, EventKind::ResponseStatusChanged).await.iter().map(|e| e.data["answer_status"].clone()).collect();
    assert_eq!(told, [json!("sent"), json!("read")]);
    // AND a read that caught the record ahead of the action's copy (one BatchGetItem is not
    // isolated from the transaction that moves both) shows the record's status
    let view = get(w.store(), ORG, &action.id).await.unwrap();
    let behind = crate::domain::action::Action { answer_status: Some(AnswerStatus::Processing), ..view.action.clone() };
    assert_eq!(crate::app::actions::ActionView::new(behind, view.response.clone()).action.answer_status, Some(AnswerStatus::Read));
    assert_eq!(crate::app::actions::ActionView::new(view.action, None).action.answer_status, Some(AnswerStatus::Read), "no record: the action's own");
}
