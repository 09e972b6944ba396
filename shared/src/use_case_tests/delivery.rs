//! `app::delivery`: queueing a reply (keyed idempotency, one job per reply, the lost-reply sweep),
//! sending it (24 h window, fallback template, refusals, retries, giving up, already handled) and
//! following its statuses into the feed.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::app::delivery::{NewReply, ReplyTo, SEND_CONFIRM_WAIT, SendResult, SenderPorts, queue_reply, requeue_lost_replies, send_reply};
use crate::domain::conversation::Conversation;
use crate::domain::message::{DeliveryStatus, OUTSIDE_WINDOW, Sender, SenderType, callback_tag};
use crate::domain::outbound::OutboundContent;
use crate::domain::secret::Secret;
use crate::ports::{ConversationStore, SendOutcome, WhatsApp};

fn agent() -> Sender {
    Sender { kind: SenderType::Agent, id: Some("agent-1".into()), name: Some("Ana".into()) }
}

fn reply<'a>(conversation_id: &'a str, text: &str, key: Option<&'a IdempotencyKey>, now: DateTime<Utc>) -> NewReply<'a> {
    NewReply { org_id: ORG, conversation_id, content: OutboundContent::text(text), sender: agent(), idempotency_key: key, now, just_read: None }
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

/// A Graph API that answers as scripted (accepting once the script is over) and keeps every request
/// with the token it carried.
#[derive(Default)]
pub(super) struct ScriptedGraph {
    answers: Mutex<VecDeque<SendOutcome>>,
    requests: Mutex<Vec<Value>>,
    tokens: Mutex<Vec<String>>,
}

impl ScriptedGraph {
    pub(super) fn answering(answers: impl IntoIterator<Item = SendOutcome>) -> Self {
        ScriptedGraph { answers: Mutex::new(answers.into_iter().collect()), ..ScriptedGraph::default() }
    }

    pub(super) fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// The access token of each request, in order.
    pub(super) fn tokens(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }
}

#[async_trait]
impl WhatsApp for ScriptedGraph {
    async fn send(&self, _: &str, token: &Secret, body: &Value) -> SendOutcome {
        self.tokens.lock().unwrap().push(token.expose().to_string());
        let mut requests = self.requests.lock().unwrap();
        requests.push(body.clone());
        let n = requests.len();
        self.answers.lock().unwrap().pop_front().unwrap_or(SendOutcome::Accepted { wamid: format!("wamid.out.{n}") })
    }
}

pub(super) fn refused(http_status: u16, code: i64) -> SendOutcome {
    SendOutcome::Refused { http_status: Some(http_status), code: Some(code), title: format!("error {code}"), detail: None }
}

pub(super) fn sender<'a>(w: &'a World, graph: &'a ScriptedGraph) -> SenderPorts<'a> {
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
async fn a_reply_queued_on_a_stale_copy_of_the_conversation_lands_on_the_current_one() {
    // GIVEN the caller's copy of the conversation, then another reply written after it was read
    let w = World::new().with_channel(None).await;
    let stale = w.given_conversation().await.conversation;
    queue(&w, &stale, "first", None, t(1)).await.unwrap();
    // WHEN a reply is queued on the stale copy
    let second = queue_reply(w.store(), w.store(), w.outbox(), NewReply { just_read: Some(&stale), ..reply(&stale.id, "second", None, t(2)) })
        .await
        .unwrap();
    // THEN it is stored once, on the current conversation: both replies kept, the preview the last
    let conversation = w.store().conversation(ORG, &stale.id).await.unwrap().unwrap();
    assert_eq!(conversation.version, stale.version + 2, "the stale write lost and went again on a fresh read");
    assert_eq!(conversation.last_message_preview.as_deref(), Some("second"));
    let texts: Vec<_> = w.messages(&stale.id).await.into_iter().filter_map(|m| m.text).collect();
    assert!(texts.ends_with(&["first".to_string(), "second".to_string()]), "{texts:?}");
    assert_eq!(w.reply_jobs().last().map(|j| j.message_id.clone()), Some(second.id));
}

#[tokio::test(start_paused = true)]
async fn a_copy_of_another_conversation_is_not_written_on() {
    let w = World::new().with_channel(None).await;
    let a = w.given_conversation_of("4915100000001", "wamid.a").await.conversation;
    let b = w.given_conversation_of("4915100000002", "wamid.b").await.conversation;
    queue_reply(w.store(), w.store(), w.outbox(), NewReply { just_read: Some(&b), ..reply(&a.id, "for a", None, t(2)) }).await.unwrap();
    let b_now = w.store().conversation(ORG, &b.id).await.unwrap().unwrap();
    assert_eq!(b_now.version, b.version, "b untouched");
    assert!(w.messages(&a.id).await.iter().any(|m| m.text.as_deref() == Some("for a")));
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
    // Tagged, so Meta's status callbacks name the message.
    assert_eq!(outbox[0].request["biz_opaque_callback_data"], callback_tag(&c.id, &m.id));
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
    let job = ReplyJob { org_id: OTHER_ORG.into(), conversation_id: c.id.clone(), message_id: "nope".into(), to: None };
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, t(1)).await.unwrap(), SendResult::Done);
    assert!(w.mem.whatsapp.outbox().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_reply_job_carries_where_it_goes_and_is_sent_with_one_claim_and_no_read() {
    // GIVEN an agent's reply queued on its conversation
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "on its way", None, t(1)).await.unwrap();
    let job = w.reply_jobs().remove(0);
    assert_eq!(job.to, Some(ReplyTo::of(&c)), "the number, the address and the window, copied when queued");
    // WHEN reply-sender takes it while reading the message or its conversation would fail
    w.store().fail_next("message_with_conversation", crate::Error::backend("dynamodb", "no read expected"));
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, t(1)).await.unwrap(), SendResult::Done);
    // THEN the claim alone gave it: sent once, to the conversation's customer, recorded, in the feed
    let outbox = w.mem.whatsapp.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].request["to"], c.customer_address.as_str());
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Sent);
    let told = w.events_of(ORG, EventKind::MessageStatusChanged).await;
    assert_eq!(told.iter().map(|e| e.data["status"].clone()).collect::<Vec<_>>(), ["sent"]);
    // AND the same job again (SQS redelivers) finds it claimed, reads it (the planted failure was
    // still there: the first send never read) and sends nothing more
    assert!(send_reply(&w.deps.sender_ports(), &job, 2, t(2)).await.is_err());
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 3, t(2)).await.unwrap(), SendResult::Done);
    assert_eq!(w.mem.whatsapp.outbox().len(), 1);
    assert_eq!(w.events_of(ORG, EventKind::MessageStatusChanged).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_job_copied_with_a_closed_window_sends_free_form_when_the_customer_wrote_since() {
    // GIVEN a reply queued a day after the customer's message: its job's copy says the window is closed
    let w = World::new().with_channel(Some("follow_up")).await;
    let c = w.given_conversation().await.conversation;
    let late = t(0) + Duration::hours(25);
    let m = queue(&w, &c, "sorry for the wait", None, late).await.unwrap();
    let job = w.reply_jobs().remove(0);
    assert!(job.to.as_ref().is_some_and(|to| to.window_closes_at < Some(late)));
    // WHEN the customer writes again before the job runs
    w.receive_text(CUSTOMER, "wamid.again", "still there?", late + Duration::seconds(1)).await;
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, late + Duration::seconds(2)).await.unwrap(), SendResult::Done);
    // THEN the reply goes as written, not as the fallback template
    let sent = w.message(&c.id, &m.id).await;
    assert_eq!((sent.status, sent.sent_as_template), (DeliveryStatus::Sent, None));
    let outbox = w.mem.whatsapp.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].request["type"], "text");
}

#[tokio::test(start_paused = true)]
async fn a_job_without_its_conversation_reads_it_and_sends() {
    // GIVEN a job as queued before jobs carried their conversation (or by the lost-reply sweep)
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "on its way", None, t(1)).await.unwrap();
    let job = ReplyJob { to: None, ..w.reply_jobs().remove(0) };
    // WHEN reply-sender takes it twice
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, t(1)).await.unwrap(), SendResult::Done);
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 2, t(2)).await.unwrap(), SendResult::Done);
    // THEN it is sent once to the conversation's customer
    let outbox = w.mem.whatsapp.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].request["to"], c.customer_address.as_str());
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Sent);
}

#[tokio::test(start_paused = true)]
async fn a_job_carrying_its_conversation_for_an_unknown_message_is_dropped_unsent() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let job = ReplyJob { org_id: ORG.into(), conversation_id: c.id.clone(), message_id: "nope".into(), to: Some(ReplyTo::of(&c)) };
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, t(1)).await.unwrap(), SendResult::Done);
    assert!(w.mem.whatsapp.outbox().is_empty());
    assert_eq!(w.store().message(ORG, &c.id, "nope").await.unwrap(), None, "a claim never creates the message");
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
    let graph = ScriptedGraph::answering([SendOutcome::Refused { http_status: None, code: None, title: "connection failed".into(), detail: None }]);
    let last = w.deps.settings.retry.max_attempts;
    let out = send_reply(&sender(&w, &graph), &w.reply_jobs()[0], last, t(1)).await.unwrap();
    assert_eq!(out, SendResult::GiveUp);
    let failed = w.message(&c.id, &m.id).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert!(failed.failure.unwrap().reason.starts_with("retries_exhausted"));
}

// --- never a message twice, nothing lost --------------------------------------------------------

fn unanswered() -> SendOutcome {
    SendOutcome::Unanswered { reason: "timeout".into() }
}

/// What SQS does with a reply job: hands it to reply-sender from `start` (receive count 1, 2, …)
/// until it is done, again after a failed attempt's visibility timeout or after the delay an
/// attempt asked for, with Meta's status callbacks (`meta`) delivered on the way. Returns when it
/// is done (or given up, or after `receives`), with the time it ended at.
async fn deliver_job(w: &World, graph: &ScriptedGraph, job: &ReplyJob, start: DateTime<Utc>, receives: u32) -> DateTime<Utc> {
    const VISIBILITY: i64 = 180;
    let mut now = start;
    for attempt in 1..=receives {
        match send_reply(&sender(w, graph), job, attempt, now).await {
            Ok(SendResult::Done | SendResult::GiveUp) => return now,
            Ok(SendResult::RetryLater { delay_secs }) => now += Duration::seconds(i64::from(delay_secs)),
            Err(_) => now += Duration::seconds(VISIBILITY),
        }
    }
    now
}

/// Meta's status callback for the `n`th request `graph` received, as Meta sends it: the wamid it
/// answered (or would have) and the tag the request carried.
async fn meta_calls_back(w: &World, graph: &ScriptedGraph, n: usize, status: &str, at: DateTime<Utc>) {
    let tag = graph.requests()[n - 1]["biz_opaque_callback_data"].clone();
    let mut body = status_webhook(&format!("wamid.out.{n}"), status, at, None);
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = tag;
    process_job(&w.deps.inbound_ports(), &job(body, at)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_store_failing_after_metas_200_sends_once() {
    // GIVEN a queued reply, and DynamoDB failing (throttled) when its send is recorded
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "your car is ready", None, t(1)).await.unwrap();
    let job = w.reply_jobs().remove(0);
    let graph = ScriptedGraph::default();
    w.store().fail_next("mark_sent", Error::backend("dynamodb", "throttled"));
    w.store().fail_next("mark_sent", Error::LostUpdate("item"));
    // WHEN SQS delivers the job as long as it takes
    deliver_job(&w, &graph, &job, t(1), 5).await;
    // THEN Meta got one request, and the message is sent with its wamid, told once
    assert_eq!(graph.requests().len(), 1);
    let sent = w.message(&c.id, &m.id).await;
    assert_eq!((sent.status, sent.wamid.as_deref(), sent.resent_at), (DeliveryStatus::Sent, Some("wamid.out.1"), None));
    assert_eq!(w.events_of(ORG, EventKind::MessageStatusChanged).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_send_the_store_never_recorded_is_recorded_by_metas_callback_and_never_resent() {
    // GIVEN DynamoDB refusing every attempt to record the send Meta accepted
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "your car is ready", None, t(1)).await.unwrap();
    let job = w.reply_jobs().remove(0);
    let graph = ScriptedGraph::default();
    for _ in 0..crate::optimistic::MUST_LAND.max_attempts {
        w.store().fail_next("mark_sent", Error::backend("dynamodb", "unavailable"));
    }
    // WHEN the job runs: it is done (Meta has the message), the message still `sending`
    assert_eq!(send_reply(&sender(&w, &graph), &job, 1, t(1)).await.unwrap(), SendResult::Done);
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Sending);
    // AND SQS delivers the job again at once (a duplicate), before Meta has called back
    let out = send_reply(&sender(&w, &graph), &job, 2, t(1)).await.unwrap();
    assert!(matches!(out, SendResult::RetryLater { .. }), "it waits for Meta's word: {out:?}");
    // AND Meta calls back `sent`, then `delivered`, with the send's tag
    meta_calls_back(&w, &graph, 1, "sent", t(1)).await;
    meta_calls_back(&w, &graph, 1, "delivered", t(2)).await;
    // AND the job comes back once more, long after
    deliver_job(&w, &graph, &job, t(10), 5).await;
    // THEN one request, and the message is delivered under the wamid Meta gave it
    assert_eq!(graph.requests().len(), 1);
    let m = w.message(&c.id, &m.id).await;
    assert_eq!((m.status, m.wamid.as_deref(), m.sent_at, m.resent_at), (DeliveryStatus::Delivered, Some("wamid.out.1"), Some(t(1)), None));
    let told: Vec<String> = w.events_of(ORG, EventKind::MessageStatusChanged).await.iter().map(|e| e.data["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(told, ["sent", "delivered"]);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_send_meta_delivered_is_sent_at_most_once_more_and_the_message_says_so() {
    // GIVEN Graph timing out on the first request (Meta took it all the same), then answering
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "your car is ready", None, t(1)).await.unwrap();
    let job = w.reply_jobs().remove(0);
    let graph = ScriptedGraph::answering([unanswered()]);
    // WHEN SQS delivers the job as long as it takes, and Meta's callback of the first send is lost
    let ended = deliver_job(&w, &graph, &job, t(1), 5).await;
    // THEN it was sent once more, only after waiting for Meta's word, and the message shows it
    assert_eq!(graph.requests().len(), 2);
    assert_eq!(ended - t(1), SEND_CONFIRM_WAIT);
    let m = w.message(&c.id, &m.id).await;
    assert_eq!((m.status, m.wamid.as_deref(), m.resent_at), (DeliveryStatus::Sent, Some("wamid.out.2"), Some(ended)));
    // AND a later delivery of the job sends nothing more
    deliver_job(&w, &graph, &job, ended + Duration::hours(1), 5).await;
    assert_eq!(graph.requests().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_send_unanswered_twice_is_never_sent_a_third_time() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "your car is ready", None, t(1)).await.unwrap();
    let job = w.reply_jobs().remove(0);
    let graph = ScriptedGraph::answering([unanswered(), unanswered()]);
    deliver_job(&w, &graph, &job, t(1), 5).await;
    assert_eq!(graph.requests().len(), 2);
    // The message stays `sending` (Meta may still call back), marked as sent twice.
    let m = w.message(&c.id, &m.id).await;
    assert_eq!(m.status, DeliveryStatus::Sending);
    assert!(m.resent_at.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_send_meta_confirms_in_time_is_not_sent_again() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "your car is ready", None, t(1)).await.unwrap();
    let job = w.reply_jobs().remove(0);
    let graph = ScriptedGraph::answering([unanswered()]);
    let out = send_reply(&sender(&w, &graph), &job, 1, t(1)).await.unwrap();
    assert!(matches!(out, SendResult::RetryLater { .. }), "{out:?}");
    // WHEN Meta's `sent` callback comes before the job is back
    meta_calls_back(&w, &graph, 1, "sent", t(1)).await;
    deliver_job(&w, &graph, &job, t(3), 5).await;
    // THEN one request; the message is sent, never resent
    assert_eq!(graph.requests().len(), 1);
    let m = w.message(&c.id, &m.id).await;
    assert_eq!((m.status, m.resent_at), (DeliveryStatus::Sent, None));
}

#[tokio::test(start_paused = true)]
async fn a_callback_tag_of_another_message_or_not_ours_records_nothing() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let m = queue(&w, &c, "hi", None, t(1)).await.unwrap();
    let graph = ScriptedGraph::answering([unanswered()]);
    send_reply(&sender(&w, &graph), &w.reply_jobs()[0], 1, t(1)).await.unwrap();
    // A tag naming no message of ours, and another system's tag: nothing moves.
    for tag in [json!(callback_tag("nope", "nope")), json!("{\"source\":\"crm\"}")] {
        let mut body = status_webhook("wamid.x", "delivered", t(2), None);
        body["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = tag;
        process_job(&w.deps.inbound_ports(), &job(body, t(2))).await.unwrap();
    }
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Sending);
}
