//! `app::channels` and the tokens reply-sender sends with (`app::access_tokens`): a number is the
//! organisation's with its token in its own secret, never shown; another organisation's number is
//! 409; its quarantined messages are replayed once; each send carries its number's own token, read
//! once per five minutes and again when Meta refuses it.

use super::delivery::{ScriptedGraph, refused, sender};
use super::*;
use crate::app::access_tokens::TOKEN_TTL;
use crate::app::channels::{self, REPLAY_BATCH, Registered};
use crate::app::delivery::{NewReply, SEND_CONFIRM_WAIT, SendResult, queue_reply, send_reply};
use crate::domain::channel::{ChannelRegistration, access_token_secret, quarantine_prefix};
use crate::domain::message::{DeliveryStatus, NO_ACCESS_TOKEN, Sender, SenderType};
use crate::domain::outbound::OutboundContent;
use crate::ports::{BlobStore, Claim, ConversationFilter, ConversationStore, MessageStore, PageRequest, SendOutcome, Secrets};

const OTHER_NUMBER: &str = "209999999999999";
const OTHER_WABA: &str = "209999999999990";

fn registration(number: &str, waba: &str, token: &str) -> ChannelRegistration {
    serde_json::from_value(json!({
        "phone_number_id": number, "waba_id": waba, "display_phone_number": "+1 555-078-3881",
        "fallback_template": { "name": "hello_world", "language": "en_US" }, "access_token": token
    }))
    .unwrap()
}

async fn register(w: &World, org: &str, r: &ChannelRegistration) -> crate::Result<Registered> {
    channels::register(&w.deps.channel_ports(), org, r, &admin_actor(), w.deps.clock.now()).await
}

fn page() -> PageRequest {
    PageRequest { limit: 50, cursor: None }
}

/// What inbound-processor does with every job on the inbound queue since the last look.
async fn process_inbound_queue(w: &World) -> usize {
    let jobs = w.outbox().take(Queue::Inbound);
    for job in &jobs {
        let job: InboundJob = serde_json::from_str(&job.body).unwrap();
        process_job(&w.deps.inbound_ports(), &job).await.unwrap();
    }
    jobs.len()
}

async fn conversations(w: &World, org: &str) -> Vec<crate::domain::conversation::Conversation> {
    w.store().conversations(org, &ConversationFilter::default(), &page()).await.unwrap().items
}

// --- registering, listing, removing ------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_registered_number_keeps_its_token_in_its_own_secret_and_never_shows_it() {
    let w = World::new();
    // WHEN an admin registers the number with its token
    let registered = register(&w, ORG, &registration(NUMBER, WABA, "EAAG-first")).await.unwrap();
    // THEN the channel is the organisation's, the token is the secret of that organisation and number
    assert_eq!(w.store().channel_by_number(NUMBER).await.unwrap().map(|c| c.org_id).as_deref(), Some(ORG));
    assert_eq!(w.store().org_by_waba(WABA).await.unwrap().as_deref(), Some(ORG));
    assert_eq!(w.mem.secrets.names(), vec![format!("whatsapp/{ORG}/{NUMBER}")]);
    assert_eq!(w.mem.secrets.secret(&format!("whatsapp/{ORG}/{NUMBER}")).await.unwrap().unwrap().expose(), "EAAG-first");
    // AND what the API answers says a token is set and since when, never the token
    assert!(registered.channel.access_token_set);
    assert_eq!(registered.channel.access_token_rotated_at, Some(t(0)));
    let listed = channels::list(w.store(), ORG, &page()).await.unwrap();
    assert_eq!(listed.items, vec![registered.channel.clone()]);
    let answers = format!("{} {}", serde_json::to_string(&registered).unwrap(), serde_json::to_string(&listed.items).unwrap());
    assert!(!answers.contains("EAAG-first") && !answers.contains("access_token\":\""), "{answers}");
    // AND the channel stored in the table holds no token either
    let stored = serde_json::to_string(&w.store().channel_by_number(NUMBER).await.unwrap().unwrap()).unwrap();
    assert!(!stored.contains("EAAG-first"), "{stored}");
}

#[tokio::test(start_paused = true)]
async fn registering_the_number_again_rotates_its_token() {
    let w = World::new();
    register(&w, ORG, &registration(NUMBER, WABA, "EAAG-first")).await.unwrap();
    w.mem.clock.advance(Duration::days(30));
    // WHEN the same organisation registers it again with a new token
    let again = register(&w, ORG, &registration(NUMBER, WABA, "EAAG-second")).await.unwrap();
    // THEN one number, one secret, holding the new token, rotated now
    assert_eq!(again.channel.access_token_rotated_at, Some(t(0) + Duration::days(30)));
    assert_eq!(channels::list(w.store(), ORG, &page()).await.unwrap().items.len(), 1);
    assert_eq!(w.mem.secrets.names().len(), 1);
    assert_eq!(w.mem.secrets.secret(&format!("whatsapp/{ORG}/{NUMBER}")).await.unwrap().unwrap().expose(), "EAAG-second");
}

#[tokio::test(start_paused = true)]
async fn a_number_or_account_another_organisation_holds_is_409_and_nothing_is_written() {
    let w = World::new();
    register(&w, ORG, &registration(NUMBER, WABA, "EAAG-ours")).await.unwrap();
    // WHEN another organisation registers our number (with an account of its own)
    let number = register(&w, OTHER_ORG, &registration(NUMBER, OTHER_WABA, "EAAG-theirs")).await;
    // THEN 409 naming the number
    match number {
        Err(Error::Conflict { detail, .. }) => assert!(detail.starts_with("phone_number_id"), "{detail}"),
        other => panic!("expected 409: {other:?}"),
    }
    // WHEN it registers a number of its own on our account
    let account = register(&w, OTHER_ORG, &registration(OTHER_NUMBER, WABA, "EAAG-theirs")).await;
    match account {
        Err(Error::Conflict { detail, .. }) => assert!(detail.starts_with("waba_id"), "{detail}"),
        other => panic!("expected 409: {other:?}"),
    }
    // THEN nothing of theirs was stored, and ours is untouched
    assert_eq!(w.mem.secrets.names(), vec![format!("whatsapp/{ORG}/{NUMBER}")]);
    assert_eq!(w.mem.secrets.secret(&format!("whatsapp/{ORG}/{NUMBER}")).await.unwrap().unwrap().expose(), "EAAG-ours");
    assert!(channels::list(w.store(), OTHER_ORG, &page()).await.unwrap().items.is_empty());
    assert_eq!(w.store().channel_by_number(NUMBER).await.unwrap().unwrap().org_id, ORG);
    assert_eq!(w.store().channel_by_number(OTHER_NUMBER).await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn a_registration_out_of_its_limits_is_422_and_writes_nothing() {
    let w = World::new();
    let out = register(&w, ORG, &registration("PN1", WABA, "EAAG")).await;
    match out {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "phone_number_id"),
        other => panic!("expected 422: {other:?}"),
    }
    assert!(w.mem.secrets.names().is_empty());
}

#[tokio::test(start_paused = true)]
async fn removing_a_number_deletes_its_secret_its_channel_and_its_unused_account() {
    let w = World::new();
    register(&w, ORG, &registration(NUMBER, WABA, "EAAG-ours")).await.unwrap();
    register(&w, ORG, &registration(OTHER_NUMBER, WABA, "EAAG-ours-2")).await.unwrap();
    // WHEN another organisation tries, then we remove the first number
    assert_not_found(channels::remove(&w.deps.channel_ports(), OTHER_ORG, NUMBER, &admin_actor(), t(9)).await, "channel");
    channels::remove(&w.deps.channel_ports(), ORG, NUMBER, &admin_actor(), t(9)).await.unwrap();
    // THEN its secret and channel are gone; the account stays ours (another number is on it)
    assert_eq!(w.mem.secrets.names(), vec![format!("whatsapp/{ORG}/{OTHER_NUMBER}")]);
    assert_eq!(w.store().channel_by_number(NUMBER).await.unwrap(), None);
    assert_eq!(w.store().org_by_waba(WABA).await.unwrap().as_deref(), Some(ORG));
    // WHEN the last number on the account goes too, so does the account; again is 404
    channels::remove(&w.deps.channel_ports(), ORG, OTHER_NUMBER, &admin_actor(), t(9)).await.unwrap();
    assert_eq!(w.store().org_by_waba(WABA).await.unwrap(), None);
    // AND the audit trail has each registration and removal by the admin (never the token)
    let query = crate::domain::audit::AuditQuery::default();
    let trail = crate::ports::AuditStore::audit_entries(w.store(), ORG, &query, &crate::ports::PageRequest { limit: 10, cursor: None }).await.unwrap().items;
    let mut ops: Vec<(&str, &str)> = trail.iter().map(|e| (e.operation.as_str(), e.entity_id.as_str())).collect();
    ops.sort();
    assert_eq!(ops, [("register", NUMBER), ("register", OTHER_NUMBER), ("remove", NUMBER), ("remove", OTHER_NUMBER)]);
    assert!(trail.iter().all(|e| e.actor == admin_actor() && !serde_json::to_string(&e.changes).unwrap().contains("EAAG")), "{trail:?}");
    assert!(trail.iter().filter(|e| e.operation == "remove").all(|e| e.changes["waba_id"].after.is_null()));
    assert!(w.mem.secrets.names().is_empty());
    assert_not_found(channels::remove(&w.deps.channel_ports(), ORG, OTHER_NUMBER, &admin_actor(), t(9)).await, "channel");
    // AND another organisation may register the number now, with a secret of its own
    register(&w, OTHER_ORG, &registration(NUMBER, OTHER_WABA, "EAAG-theirs")).await.unwrap();
    assert_eq!(w.mem.secrets.names(), vec![format!("whatsapp/{OTHER_ORG}/{NUMBER}")]);
}

// --- replaying what came before the number was registered ---------------------------------------

#[tokio::test(start_paused = true)]
async fn a_message_to_an_unregistered_number_is_replayed_once_when_it_is_registered() {
    // GIVEN a customer who wrote to the number before anyone registered it
    let w = World::new();
    assert!(w.receive_text(CUSTOMER, "wamid.early", "anyone there?", t(0)).await.is_empty());
    assert_eq!(w.mem.blobs.keys(&quarantine_prefix(NUMBER)).len(), 1);
    assert!(conversations(&w, ORG).await.is_empty());
    // WHEN the organisation registers the number
    let registered = register(&w, ORG, &registration(NUMBER, WABA, "EAAG")).await.unwrap();
    assert_eq!((registered.replay.requeued, registered.replay.more), (1, false));
    let replayed_job = w.outbox().jobs(Queue::Inbound)[0].body.clone();
    assert_eq!(process_inbound_queue(&w).await, 1);
    // THEN the conversation is there with the message, and nothing is left in quarantine
    let listed = conversations(&w, ORG).await;
    assert_eq!(listed.len(), 1);
    let messages = w.messages(&listed[0].id).await;
    assert_eq!(messages.iter().map(|m| m.wamid.as_deref()).collect::<Vec<_>>(), [Some("wamid.early")]);
    assert!(w.mem.blobs.keys(&quarantine_prefix(NUMBER)).is_empty());
    // WHEN it is replayed again on demand, and the first job is delivered once more
    let again = channels::replay(&w.deps.channel_ports(), ORG, NUMBER).await.unwrap();
    assert_eq!(again.requeued, 0);
    assert_eq!(process_inbound_queue(&w).await, 0);
    let job: InboundJob = serde_json::from_str(&replayed_job).unwrap();
    process_job(&w.deps.inbound_ports(), &job).await.unwrap();
    // THEN still one conversation with one message
    assert_eq!(conversations(&w, ORG).await.len(), 1);
    assert_eq!(w.messages(&listed[0].id).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_replay_queues_each_customers_changes_in_the_order_they_came_in_batches() {
    // GIVEN more quarantined messages than one replay takes, from two customers
    let w = World::new();
    let count = REPLAY_BATCH + 3;
    for i in 0..count {
        let from = if i % 2 == 0 { CUSTOMER } else { "5215512345678" };
        w.receive_text(from, &format!("wamid.q{i:03}"), &format!("message {i}"), t(0) + Duration::seconds(i as i64)).await;
    }
    // WHEN the number is registered, then replayed on demand
    let first = register(&w, ORG, &registration(NUMBER, WABA, "EAAG")).await.unwrap().replay;
    let second = channels::replay(&w.deps.channel_ports(), ORG, NUMBER).await.unwrap();
    // THEN the first takes a batch and says more wait, the second takes the rest
    assert_eq!((first.requeued, first.more, second.requeued, second.more), (REPLAY_BATCH, true, 3, false));
    // AND each customer's changes are queued in their group, oldest first
    let jobs = w.outbox().jobs(Queue::Inbound);
    assert_eq!(jobs.len(), count);
    let wamids_of = |group: &str| -> Vec<String> {
        jobs.iter()
            .filter(|j| j.group_id.as_deref() == Some(group))
            .map(|j| serde_json::from_str::<Value>(&j.body).unwrap()["changes"][0]["value"]["messages"][0]["id"].as_str().unwrap().to_string())
            .collect()
    };
    let ours = wamids_of(&format!("{NUMBER}#{CUSTOMER}"));
    assert_eq!(ours.len(), count.div_ceil(2));
    assert!(ours.windows(2).all(|p| p[0] < p[1]), "{ours:?}");
    assert_eq!(process_inbound_queue(&w).await, count);
    assert_eq!(conversations(&w, ORG).await.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn another_organisations_number_cannot_be_replayed() {
    let w = World::new();
    w.receive_text(CUSTOMER, "wamid.early", "hi", t(0)).await;
    assert_not_found(channels::replay(&w.deps.channel_ports(), ORG, NUMBER).await, "channel");
    register(&w, OTHER_ORG, &registration(OTHER_NUMBER, OTHER_WABA, "EAAG")).await.unwrap();
    assert_not_found(channels::replay(&w.deps.channel_ports(), OTHER_ORG, NUMBER).await, "channel");
    assert_eq!(w.mem.blobs.keys(&quarantine_prefix(NUMBER)).len(), 1, "still waiting for its number");
}

#[tokio::test(start_paused = true)]
async fn a_replay_cut_off_after_queueing_queues_again_and_the_message_is_still_stored_once() {
    // GIVEN a quarantined message, and a replay whose queueing works but whose cleanup never ran
    // (the message was queued, the function died before deleting it)
    let w = World::new();
    w.receive_text(CUSTOMER, "wamid.early", "hi", t(0)).await;
    let kept = w.mem.blobs.keys(&quarantine_prefix(NUMBER));
    let body = w.mem.blobs.get(&kept[0]).await.unwrap();
    register(&w, ORG, &registration(NUMBER, WABA, "EAAG")).await.unwrap();
    w.mem.blobs.put(&kept[0], body, "application/json").await.unwrap();
    // WHEN it is replayed again (SQS drops the repeat by its deduplication id within 5 minutes;
    // later it would not), and the job is processed twice
    assert_eq!(channels::replay(&w.deps.channel_ports(), ORG, NUMBER).await.unwrap().requeued, 1);
    assert!(w.mem.blobs.keys(&quarantine_prefix(NUMBER)).is_empty());
    let queued = w.outbox().take(Queue::Inbound);
    for job in queued.iter().chain(queued.iter()) {
        process_job(&w.deps.inbound_ports(), &serde_json::from_str(&job.body).unwrap()).await.unwrap();
    }
    // THEN one message
    let listed = conversations(&w, ORG).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(w.messages(&listed[0].id).await.len(), 1);
}

// --- each send with its number's own token --------------------------------------------------------

async fn queued_reply(w: &World, conversation_id: &str, text: &str) -> Message {
    let reply = NewReply {
        org_id: ORG,
        conversation_id,
        content: OutboundContent::text(text),
        sender: Sender { kind: SenderType::Agent, id: Some("agent-1".into()), name: None },
        idempotency_key: None,
        now: w.deps.clock.now(),
        just_read: None,
    };
    queue_reply(w.store(), w.store(), w.outbox(), reply).await.unwrap()
}

async fn send_all(w: &World, graph: &ScriptedGraph) {
    for job in w.reply_jobs() {
        assert_eq!(send_reply(&sender(w, graph), &job, 1, w.deps.clock.now()).await.unwrap(), SendResult::Done);
    }
}

#[tokio::test(start_paused = true)]
async fn a_warm_sender_reads_a_numbers_token_once_per_five_minutes() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let graph = ScriptedGraph::default();
    // WHEN three replies go out within five minutes, and one more after
    for text in ["one", "two", "three"] {
        queued_reply(&w, &c.id, text).await;
        send_all(&w, &graph).await;
    }
    assert_eq!(w.mem.secrets.reads(), 1, "one read for three sends");
    w.mem.clock.advance(TOKEN_TTL + Duration::seconds(1));
    queued_reply(&w, &c.id, "four").await;
    send_all(&w, &graph).await;
    // THEN every request carried the number's token, read twice in all
    assert_eq!(graph.tokens(), vec![TOKEN; 4]);
    assert_eq!(w.mem.secrets.reads(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_token_meta_refuses_is_read_again_and_a_rotated_one_sends() {
    // GIVEN a sender that read the token, and the token rotated since
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let graph = ScriptedGraph::answering([SendOutcome::Accepted { wamid: "wamid.out.1".into() }, refused(401, 190)]);
    queued_reply(&w, &c.id, "one").await;
    send_all(&w, &graph).await;
    register(&w, ORG, &registration(NUMBER, WABA, "EAAG-rotated")).await.unwrap();
    // WHEN Meta refuses the kept token (190)
    let m = queued_reply(&w, &c.id, "two").await;
    send_all(&w, &graph).await;
    // THEN the token is read again and the reply goes out with the new one, once
    assert_eq!(graph.tokens(), vec![TOKEN, TOKEN, "EAAG-rotated"]);
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Sent);
}

#[tokio::test(start_paused = true)]
async fn a_token_meta_refuses_that_was_not_rotated_fails_the_reply() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let graph = ScriptedGraph::answering([refused(401, 190)]);
    let m = queued_reply(&w, &c.id, "one").await;
    send_all(&w, &graph).await;
    // One request: the token read again is the same, so Meta would refuse it again.
    assert_eq!(graph.tokens(), vec![TOKEN]);
    let failed = w.message(&c.id, &m.id).await;
    assert_eq!((failed.status, failed.failure.map(|f| f.code)), (DeliveryStatus::Failed, Some(Some(190))));
}

#[tokio::test(start_paused = true)]
async fn a_number_without_a_token_fails_its_replies_without_calling_meta() {
    // GIVEN a channel stored without a token (registered before tokens were per number)
    let w = World::new();
    let mut channel = registration(NUMBER, WABA, "unused").channel(ORG, t(0));
    channel.access_token_rotated_at = None;
    w.store().put_channel(&channel, None).await.unwrap();
    let c = w.given_conversation().await.conversation;
    let graph = ScriptedGraph::default();
    let m = queued_reply(&w, &c.id, "hello").await;
    send_all(&w, &graph).await;
    assert!(graph.requests().is_empty());
    let failed = w.message(&c.id, &m.id).await;
    assert_eq!((failed.status, failed.failure.map(|f| f.reason)), (DeliveryStatus::Failed, Some(NO_ACCESS_TOKEN.to_string())));
}

#[tokio::test(start_paused = true)]
async fn a_reply_being_sent_waits_for_metas_word_before_a_missing_token_fails_it() {
    // GIVEN a reply claimed for sending (it may have reached Meta), then its number's token removed
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let graph = ScriptedGraph::default();
    let m = queued_reply(&w, &c.id, "hello").await;
    assert!(matches!(w.store().claim_send(ORG, &c.id, &m.id, t(0)).await.unwrap(), Claim::Claimed(_)));
    w.mem.secrets.delete_secret(&access_token_secret(ORG, NUMBER)).await.unwrap();
    let job = w.reply_jobs().remove(0);
    // WHEN its job comes back while Meta's callback may still come
    let early = send_reply(&sender(&w, &graph), &job, 2, t(0) + Duration::seconds(1)).await.unwrap();
    // THEN it waits, still sending: a callback saying sent or delivered can still record it
    assert!(matches!(early, SendResult::RetryLater { .. }), "{early:?}");
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Sending);
    // WHEN no word came in time, it cannot be sent again without a token: it fails, saying why
    let late = send_reply(&sender(&w, &graph), &job, 3, t(0) + SEND_CONFIRM_WAIT + Duration::seconds(1)).await.unwrap();
    assert_eq!(late, SendResult::Done);
    let failed = w.message(&c.id, &m.id).await;
    assert_eq!((failed.status, failed.failure.map(|f| f.reason)), (DeliveryStatus::Failed, Some(NO_ACCESS_TOKEN.to_string())));
    assert!(graph.requests().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_token_that_cannot_be_read_leaves_the_reply_queued_for_a_retry() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let graph = ScriptedGraph::default();
    let m = queued_reply(&w, &c.id, "hello").await;
    w.mem.secrets.fail_next(Error::backend("secretsmanager", "unavailable"));
    let job = w.reply_jobs().remove(0);
    // WHEN Secrets Manager fails, the job fails (SQS retries it) and the reply is not claimed
    assert!(send_reply(&sender(&w, &graph), &job, 1, t(0)).await.is_err());
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Queued);
    // THEN the retry sends it at once
    assert_eq!(send_reply(&sender(&w, &graph), &job, 2, t(0)).await.unwrap(), SendResult::Done);
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Sent);
}

#[tokio::test(start_paused = true)]
async fn each_organisations_number_sends_with_its_own_token() {
    // GIVEN two organisations, each with its number and token
    let w = World::new();
    register(&w, ORG, &registration(NUMBER, WABA, "EAAG-org-1")).await.unwrap();
    register(&w, OTHER_ORG, &registration(OTHER_NUMBER, OTHER_WABA, "EAAG-org-2")).await.unwrap();
    let ours = w.given_conversation().await.conversation;
    let mut body = text_webhook("5215512345678", "wamid.theirs", "hola", t(0));
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!(OTHER_NUMBER);
    let theirs = process_job(&w.deps.inbound_ports(), &job(body, t(0))).await.unwrap().remove(0).conversation;
    assert_eq!(theirs.org_id, OTHER_ORG);
    // WHEN each answers its customer
    let graph = ScriptedGraph::default();
    queued_reply(&w, &ours.id, "hi").await;
    send_all(&w, &graph).await;
    let reply = NewReply {
        org_id: OTHER_ORG,
        conversation_id: &theirs.id,
        content: OutboundContent::text("hola"),
        sender: Sender { kind: SenderType::Agent, id: None, name: None },
        idempotency_key: None,
        now: t(0),
        just_read: None,
    };
    queue_reply(w.store(), w.store(), w.outbox(), reply).await.unwrap();
    send_all(&w, &graph).await;
    // THEN each request carried its own organisation's token
    assert_eq!(graph.tokens(), vec!["EAAG-org-1", "EAAG-org-2"]);
}

// --- never in a log line ------------------------------------------------------------------------

/// Log lines, as the functions write them (JSON), kept for the test to read.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn no_log_line_carries_a_token_even_at_trace() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().json().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // WHEN a number is registered, its token rotated, Meta refuses the kept one, a number
    // without a token tries to send, and the number is removed
    let w = World::new();
    register(&w, ORG, &registration(NUMBER, WABA, "EAAG-logged-never-1")).await.unwrap();
    let c = w.given_conversation().await.conversation;
    let graph = ScriptedGraph::answering([SendOutcome::Accepted { wamid: "wamid.out.1".into() }, refused(401, 190), refused(401, 190)]);
    queued_reply(&w, &c.id, "one").await;
    send_all(&w, &graph).await;
    register(&w, ORG, &registration(NUMBER, WABA, "EAAG-logged-never-2")).await.unwrap();
    queued_reply(&w, &c.id, "two").await;
    send_all(&w, &graph).await;
    channels::remove(&w.deps.channel_ports(), ORG, NUMBER, &admin_actor(), t(9)).await.unwrap();
    w.store().put_channel(&registration(NUMBER, WABA, "x").channel(ORG, t(0)), None).await.unwrap();
    w.mem.clock.advance(TOKEN_TTL + Duration::seconds(1));
    queued_reply(&w, &c.id, "three").await;
    send_all(&w, &graph).await;
    // THEN the log tells all of it, and no line holds a token
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for told in ["WhatsApp number registered", "WhatsApp access token rejected", "WhatsApp access token missing", "WhatsApp number removed"] {
        assert!(text.contains(told), "the log does not say {told:?}:\n{text}");
    }
    assert!(!text.contains("EAAG-logged-never"), "a token reached the log:\n{text}");
}
