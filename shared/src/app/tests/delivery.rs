//! `app::delivery`: queueing a reply (keyed idempotency, one job per reply, the lost-reply sweep),
//! sending it (24 h window, fallback template, refusals, retries, giving up, already handled) and
//! following its statuses into the feed.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::app::delivery::{NewReply, SendResult, SenderPorts, queue_reply, requeue_lost_replies, send_reply};
use crate::domain::conversation::Conversation;
use crate::domain::message::{DeliveryStatus, OUTSIDE_WINDOW, Sender, SenderType};
use crate::domain::outbound::OutboundContent;
use crate::ports::{SendOutcome, WhatsApp};

fn agent() -> Sender {
    Sender { kind: SenderType::Agent, id: Some("agent-1".into()), name: Some("Ana".into()) }
}

fn reply<'a>(conversation_id: &'a str, text: &str, key: Option<&'a IdempotencyKey>, now: DateTime<Utc>) -> NewReply<'a> {
    NewReply { org_id: ORG, conversation_id, content: OutboundContent::text(text), sender: agent(), idempotency_key: key, now }
}

/// Queues `text` as a request with `key` (the text is the request the key's fingerprint covers).
async fn queue(w: &World, c: &Conversation, text: &str, key: Option<&str>, now: DateTime<Utc>) -> crate::Result<Message> {
    let key = key.map(|k| request_key(k, text));
    queue_reply(w.store(), w.store(), w.outbox(), reply(&c.id, text, key.as_ref(), now)).await
}

/// GIVEN an agent's reply queued at `at` and sent by reply-sender through the sandbox.
pub(super) async fn given_sent_reply(w: &World, c: &Conversation, at: DateTime<Utc>) -> Message {
    let m = queue(w, c, "on its way", None, at).await.unwrap();
    for job in w.reply_jobs() {
        assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, at).await.unwrap(), SendResult::Done);
    }
    w.message(&c.id, &m.id).await
}

/// A Graph API that answers as scripted (accepting once the script is over) and keeps every request.
#[derive(Default)]
struct ScriptedGraph {
    answers: Mutex<VecDeque<SendOutcome>>,
    requests: Mutex<Vec<Value>>,
}

impl ScriptedGraph {
    fn answering(answers: impl IntoIterator<Item = SendOutcome>) -> Self {
        ScriptedGraph { answers: Mutex::new(answers.into_iter().collect()), requests: Mutex::default() }
    }

    fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait]
impl WhatsApp for ScriptedGraph {
    async fn send(&self, _: &str, body: &Value) -> SendOutcome {
        let mut requests = self.requests.lock().unwrap();
        requests.push(body.clone());
        let n = requests.len();
        self.answers.lock().unwrap().pop_front().unwrap_or(SendOutcome::Accepted { wamid: format!("wamid.out.{n}") })
    }
}

fn refused(http_status: u16, code: i64) -> SendOutcome {
    SendOutcome::Refused { http_status: Some(http_status), code: Some(code), title: format!("error {code}"), detail: None }
}

fn sender<'a>(w: &'a World, graph: &'a ScriptedGraph) -> SenderPorts<'a> {
    SenderPorts { whatsapp: graph, ..w.deps.sender_ports() }
}

// --- queue_reply ------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_repeated_idempotency_key_returns_the_first_reply_and_queues_nothing_new() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    // WHEN the same request is sent twice, a moment apart
    let first = queue(&w, &c, "hello there", Some("req-1"), t(1)).await.unwrap();
    let second = queue(&w, &c, "hello there", Some("req-1"), t(2)).await.unwrap();
    // THEN one message, one job, the first returned both times
    assert_eq!(second, first);
    assert_eq!(first.status, DeliveryStatus::Queued);
    let outbound: Vec<_> = w.messages(&c.id).await.into_iter().filter(|m| m.status == DeliveryStatus::Queued).collect();
    assert_eq!(outbound.len(), 1);
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].message_id, first.id);
}

#[tokio::test(start_paused = true)]
async fn an_idempotency_key_reused_with_another_request_answers_422_and_queues_nothing() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let first = queue(&w, &c, "hello there", Some("req-1"), t(1)).await.unwrap();
    // WHEN the key comes back with another text
    let out = queue(&w, &c, "goodbye", Some("req-1"), t(2)).await;
    // THEN 422 naming the key, and still the one message and its one job
    match out {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "Idempotency-Key"),
        other => panic!("the key was reused for another request: {other:?}"),
    }
    let outbound: Vec<_> = w.messages(&c.id).await.into_iter().filter(|m| m.status == DeliveryStatus::Queued).collect();
    assert_eq!(outbound.iter().map(|m| &m.id).collect::<Vec<_>>(), vec![&first.id]);
    assert_eq!(w.reply_jobs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn replies_without_a_key_are_each_queued_once_in_the_customers_group() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let a = queue(&w, &c, "one", None, t(1)).await.unwrap();
    let b = queue(&w, &c, "two", None, t(1)).await.unwrap();
    assert_ne!(a.id, b.id);
    let jobs = w.outbox().take(Queue::Replies);
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j.group_id.as_deref() == Some(format!("{ORG}#{}", c.customer_id).as_str())));
    assert_eq!(jobs.iter().map(|j| j.dedup_id.clone().unwrap()).collect::<Vec<_>>(), [a.id, b.id]);
}

#[tokio::test(start_paused = true)]
async fn another_organisation_cannot_reply_in_the_conversation() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let out = queue_reply(w.store(), w.store(), w.outbox(), NewReply { org_id: OTHER_ORG, ..reply(&c.id, "hi", None, t(1)) }).await;
    assert_not_found(out, "conversation");
    assert!(w.reply_jobs().is_empty());
}

#[tokio::test(start_paused = true)]
async fn with_the_outbox_down_the_reply_stays_queued_and_the_sweep_queues_it_again() {
    // GIVEN the queue refusing the job after the reply was stored
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    w.outbox().fail_next_send(Error::backend("sqs", "unavailable"));
    let out = queue(&w, &c, "are you there?", None, t(1)).await;
    assert!(matches!(out, Err(Error::Backend { service: "sqs", .. })), "{out:?}");
    // THEN the message is stored `queued`, with no job
    let stored: Vec<_> = w.messages(&c.id).await.into_iter().filter(|m| m.status == DeliveryStatus::Queued).collect();
    assert_eq!(stored.len(), 1);
    assert!(w.reply_jobs().is_empty());
    // WHEN the sweep runs: too young at first, then after two minutes
    assert_eq!(requeue_lost_replies(w.store(), w.outbox(), t(2)).await.unwrap(), 0);
    assert_eq!(requeue_lost_replies(w.store(), w.outbox(), t(4)).await.unwrap(), 1);
    // THEN its job is queued once, and a second sweep is deduplicated by the FIFO queue
    requeue_lost_replies(w.store(), w.outbox(), t(5)).await.unwrap();
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].message_id, stored[0].id);
    // AND once sent, the sweep leaves it alone
    send_reply(&w.deps.sender_ports(), &jobs[0], 1, t(6)).await.unwrap();
    assert_eq!(requeue_lost_replies(w.store(), w.outbox(), t(8)).await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_store_write_leaves_no_message_and_no_job() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    w.store().fail_next("record_outbound", Error::backend("dynamodb", "throttled"));
    assert!(queue(&w, &c, "hi", Some("k"), t(1)).await.is_err());
    assert_eq!(w.messages(&c.id).await.len(), 1, "only the customer's message");
    assert!(w.reply_jobs().is_empty());
    // AND the retried request queues it once
    queue(&w, &c, "hi", Some("k"), t(1)).await.unwrap();
    assert_eq!(w.reply_jobs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_reply_over_a_conversation_that_keeps_changing_gives_up_with_lost_update() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    w.keeps_losing("record_outbound", "conversation");
    let out = queue(&w, &c, "hi", None, t(1)).await;
    assert!(matches!(out, Err(Error::LostUpdate("conversation"))), "{out:?}");
    assert!(w.reply_jobs().is_empty());
}

// --- send_reply -------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn inside_the_window_the_reply_is_sent_once_and_the_feed_told() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "hello there", None, t(1)).await.unwrap();
    let job = w.reply_jobs().remove(0);
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, t(1)).await.unwrap(), SendResult::Done);
    let sent = w.message(&c.id, &m.id).await;
    assert_eq!(sent.status, DeliveryStatus::Sent);
    let outbox = w.mem.whatsapp.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(sent.wamid.as_deref(), Some(outbox[0].wamid.as_str()));
    assert_eq!(outbox[0].request["to"], CUSTOMER);
    // WHEN SQS delivers the job again
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 2, t(2)).await.unwrap(), SendResult::Done);
    // THEN it is not sent twice, and the feed has one `sent`
    assert_eq!(w.mem.whatsapp.outbox().len(), 1);
    let told = w.events_of(ORG, EventKind::MessageStatusChanged).await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].data["status"], "sent");
}

#[tokio::test(start_paused = true)]
async fn a_job_for_an_unknown_message_is_dropped() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let job = ReplyJob { org_id: OTHER_ORG.into(), conversation_id: c.id.clone(), message_id: "nope".into() };
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, t(1)).await.unwrap(), SendResult::Done);
    assert!(w.mem.whatsapp.outbox().is_empty());
}

#[tokio::test(start_paused = true)]
async fn outside_the_window_the_fallback_template_is_sent_instead() {
    let w = World::new().with_channel(Some("follow_up")).await;
    let c = w.given_conversation().await.conversation;
    let late = t(0) + Duration::hours(25);
    let m = queue(&w, &c, "sorry for the wait", None, late).await.unwrap();
    let job = w.reply_jobs().remove(0);
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, late).await.unwrap(), SendResult::Done);
    let sent = w.message(&c.id, &m.id).await;
    assert_eq!((sent.status, sent.sent_as_template.as_deref()), (DeliveryStatus::Sent, Some("follow_up")));
    let outbox = w.mem.whatsapp.outbox();
    assert_eq!(outbox[0].request["type"], "template");
    assert_eq!(outbox[0].request["template"]["name"], "follow_up");
}

#[tokio::test(start_paused = true)]
async fn outside_the_window_without_a_fallback_the_reply_fails_unsent() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let late = t(0) + Duration::hours(25);
    let m = queue(&w, &c, "sorry for the wait", None, late).await.unwrap();
    let job = w.reply_jobs().remove(0);
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, late).await.unwrap(), SendResult::Done);
    let failed = w.message(&c.id, &m.id).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.failure.unwrap().reason, OUTSIDE_WINDOW);
    assert!(w.mem.whatsapp.outbox().is_empty());
    let told = w.events_of(ORG, EventKind::MessageStatusChanged).await;
    assert_eq!(told[0].data["status"], "failed");
}

#[tokio::test(start_paused = true)]
async fn metas_131047_falls_back_to_the_template_once() {
    // GIVEN our clock thinks the window is open, Meta knows it closed
    let w = World::new().with_channel(Some("follow_up")).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "hi", None, t(1)).await.unwrap();
    let graph = ScriptedGraph::answering([refused(400, 131047)]);
    let job = w.reply_jobs().remove(0);
    assert_eq!(send_reply(&sender(&w, &graph), &job, 1, t(1)).await.unwrap(), SendResult::Done);
    let requests = graph.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!((requests[0]["type"].as_str(), requests[1]["type"].as_str()), (Some("text"), Some("template")));
    let sent = w.message(&c.id, &m.id).await;
    assert_eq!((sent.status, sent.sent_as_template.as_deref()), (DeliveryStatus::Sent, Some("follow_up")));
}

#[tokio::test(start_paused = true)]
async fn metas_131047_without_a_fallback_fails_outside_the_window() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "hi", None, t(1)).await.unwrap();
    let graph = ScriptedGraph::answering([refused(400, 131047)]);
    send_reply(&sender(&w, &graph), &w.reply_jobs()[0], 1, t(1)).await.unwrap();
    let failed = w.message(&c.id, &m.id).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    let failure = failed.failure.unwrap();
    assert_eq!((failure.code, failure.reason.as_str()), (Some(131047), OUTSIDE_WINDOW));
    assert_eq!(graph.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_refusal_fails_the_reply_at_once() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "hi", None, t(1)).await.unwrap();
    let graph = ScriptedGraph::answering([refused(400, 100)]);
    let job = w.reply_jobs().remove(0);
    assert_eq!(send_reply(&sender(&w, &graph), &job, 1, t(1)).await.unwrap(), SendResult::Done);
    let failed = w.message(&c.id, &m.id).await;
    assert_eq!((failed.status, failed.failure.unwrap().code), (DeliveryStatus::Failed, Some(100)));
    // AND a redelivered job sends nothing more
    send_reply(&sender(&w, &graph), &job, 2, t(2)).await.unwrap();
    assert_eq!(graph.requests().len(), 1);
    assert_eq!(w.events_of(ORG, EventKind::MessageStatusChanged).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_retryable_error_leaves_the_reply_queued_for_a_later_attempt() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "hi", None, t(1)).await.unwrap();
    let graph = ScriptedGraph::answering([refused(503, 131000)]);
    let job = w.reply_jobs().remove(0);
    let out = send_reply(&sender(&w, &graph), &job, 1, t(1)).await.unwrap();
    assert!(matches!(out, SendResult::RetryLater { delay_secs } if (0..=2).contains(&delay_secs)), "{out:?}");
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Queued);
    // WHEN the job comes back and Meta accepts
    assert_eq!(send_reply(&sender(&w, &graph), &job, 2, t(2)).await.unwrap(), SendResult::Done);
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Sent);
}

#[tokio::test(start_paused = true)]
async fn the_last_retryable_attempt_gives_up_and_marks_the_reply_failed() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "hi", None, t(1)).await.unwrap();
    let graph = ScriptedGraph::answering([SendOutcome::Refused { http_status: None, code: None, title: "timeout".into(), detail: None }]);
    let last = w.deps.settings.retry.max_attempts;
    let out = send_reply(&sender(&w, &graph), &w.reply_jobs()[0], last, t(1)).await.unwrap();
    assert_eq!(out, SendResult::GiveUp);
    let failed = w.message(&c.id, &m.id).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert!(failed.failure.unwrap().reason.starts_with("retries_exhausted"));
}
