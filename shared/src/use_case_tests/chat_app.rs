//! `app::chat_app`: an organisation's chat-app keys (two at most, the secret shown once and kept in
//! its own secret, another organisation's key 404) and the check of every signed call (headers,
//! time window, the key read every call, its secret kept, the signature).

use super::*;
use crate::app::chat_app::{self, SignedCall, authenticate, create_key, list_keys, remove_key};
use crate::domain::chat_app::{key_secret_name, sign};
use crate::ports::ChatAppKeyStore;

async fn created(w: &World, org: &str) -> crate::domain::chat_app::CreatedChatAppKey {
    create_key(w.store(), &*w.mem.secrets, org, w.deps.clock.now()).await.unwrap()
}

/// A call signed with `secret` at `at` (Unix seconds).
fn call<'a>(key_id: &'a str, timestamp: &'a str, signature: &'a str, body: &'a [u8]) -> SignedCall<'a> {
    SignedCall { key_id: Some(key_id), timestamp: Some(timestamp), signature: Some(signature), body }
}

#[tokio::test]
async fn a_key_keeps_its_secret_in_its_own_secret_shown_once() {
    let w = World::new();
    // WHEN an admin creates a key
    let key = created(&w, ORG).await;
    // THEN its secret is the organisation's secret of that key, and the list never shows it
    assert_eq!(w.mem.secrets.names(), vec![key_secret_name(ORG, &key.key_id)]);
    assert_eq!(w.mem.secrets.secret(&key_secret_name(ORG, &key.key_id)).await.unwrap().unwrap().expose(), key.secret);
    let listed = list_keys(w.store(), ORG).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key_id, key.key_id);
    assert!(!serde_json::to_string(&listed).unwrap().contains(&key.secret));
    assert_eq!(list_keys(w.store(), OTHER_ORG).await.unwrap(), []);
}

#[tokio::test]
async fn two_keys_at_most_so_a_rotation_overlaps_then_the_old_one_goes() {
    let w = World::new();
    let old = created(&w, ORG).await;
    let new = created(&w, ORG).await;
    assert_ne!(old.key_id, new.key_id);
    assert_ne!(old.secret, new.secret);
    // A third is refused until one goes.
    let third = create_key(w.store(), &*w.mem.secrets, ORG, t(0)).await;
    assert!(matches!(third, Err(Error::Conflict { .. })), "{third:?}");
    assert_eq!(w.mem.secrets.names().len(), 2, "the refused key left no secret");
    // Another organisation cannot remove ours (404), nor can an id that is not a key's.
    assert!(matches!(remove_key(w.store(), &*w.mem.secrets, OTHER_ORG, &old.key_id).await, Err(Error::NotFound(_))));
    assert!(matches!(remove_key(w.store(), &*w.mem.secrets, ORG, "cak_nope").await, Err(Error::NotFound(_))));
    // WHEN the old one is removed THEN its place is free again and its secret scheduled for deletion
    remove_key(w.store(), &*w.mem.secrets, ORG, &old.key_id).await.unwrap();
    assert!(matches!(remove_key(w.store(), &*w.mem.secrets, ORG, &old.key_id).await, Err(Error::NotFound(_))), "removed once");
    assert_eq!(w.mem.secrets.names(), vec![key_secret_name(ORG, &new.key_id)]);
    created(&w, ORG).await;
}

#[tokio::test]
async fn a_call_is_accepted_only_signed_in_time_with_a_live_key() {
    let w = World::new();
    let key = created(&w, ORG).await;
    let ports = w.deps.chat_app_ports();
    let now = t(0);
    let body = br#"{"message_id":"m-1"}"#.as_slice();
    let ts = now.timestamp().to_string();
    let good = sign(&key.secret, now.timestamp(), body);
    // Signed now with the key: the key's organisation.
    let accepted = authenticate(&ports, &call(&key.key_id, &ts, &good, body), now).await.unwrap();
    assert_eq!(accepted.org_id, ORG);
    let refused = |r: crate::Result<crate::domain::chat_app::ChatAppKey>| matches!(r, Err(Error::Unauthorized));
    // Another body, a signature of another secret, a header missing, an unknown key: 401.
    assert!(refused(authenticate(&ports, &call(&key.key_id, &ts, &good, b"{}"), now).await));
    let forged = sign("cas_guess", now.timestamp(), body);
    assert!(refused(authenticate(&ports, &call(&key.key_id, &ts, &forged, body), now).await));
    let unsigned = SignedCall { signature: None, ..call(&key.key_id, &ts, &good, body) };
    assert!(refused(authenticate(&ports, &unsigned, now).await));
    let unknown = crate::domain::chat_app::key_id_from([7; 16]);
    assert!(refused(authenticate(&ports, &call(&unknown, &ts, &good, body), now).await));
    // The same call played back six minutes later: stale, refused before any read.
    let reads = w.mem.secrets.reads();
    let later = now + Duration::minutes(6);
    assert!(refused(authenticate(&ports, &call(&key.key_id, &ts, &good, body), later).await));
    assert_eq!(w.mem.secrets.reads(), reads);
    // Signed again two minutes on: fine, and the key's secret was kept (no second read).
    let later = now + Duration::minutes(2);
    let again = sign(&key.secret, later.timestamp(), body);
    let later_ts = later.timestamp().to_string();
    assert!(authenticate(&ports, &call(&key.key_id, &later_ts, &again, body), later).await.is_ok());
    assert_eq!(w.mem.secrets.reads(), reads, "the secret is kept by the warm function");
    // WHEN the key is removed THEN the next call is refused at once, secret kept or not.
    remove_key(w.store(), &*w.mem.secrets, ORG, &key.key_id).await.unwrap();
    assert!(refused(authenticate(&ports, &call(&key.key_id, &later_ts, &again, body), later).await));
}

#[tokio::test]
async fn a_removal_cut_short_refuses_calls_and_finishes_when_asked_again() {
    let w = World::new();
    let key = created(&w, ORG).await;
    // GIVEN a removal that deleted the secret, then failed to remove the key
    w.store().fail_next_write(Error::backend("dynamodb", "throttled"));
    assert!(remove_key(w.store(), &*w.mem.secrets, ORG, &key.key_id).await.is_err());
    assert!(w.store().chat_app_key(&key.key_id).await.unwrap().is_some());
    // THEN calls with it are refused already (no secret: as good as unknown)
    let now = t(0);
    let body = b"{}".as_slice();
    let signature = sign(&key.secret, now.timestamp(), body);
    let ts = now.timestamp().to_string();
    let ports = chat_app::ChatAppPorts { kept: &crate::app::access_tokens::AccessTokens::new(), ..w.deps.chat_app_ports() };
    assert!(matches!(authenticate(&ports, &call(&key.key_id, &ts, &signature, body), now).await, Err(Error::Unauthorized)));
    // AND asking again finishes it
    remove_key(w.store(), &*w.mem.secrets, ORG, &key.key_id).await.unwrap();
    assert_eq!(w.store().chat_app_key(&key.key_id).await.unwrap(), None);
}

// --- inbound: the app's messages go through the same processing as WhatsApp's -------------------

use crate::app::delivery::{NewReply, SendResult, queue_reply, send_reply};
use crate::domain::chat_app::{ChatAppMessage, ChatAppStatus, ChatAppUser, delivery_id};
use crate::domain::customer::IdentityChannel;
use crate::domain::message::{DeliveryStatus, Sender, SenderType};
use crate::domain::outbound::OutboundContent;
use crate::ports::{ConversationFilter, ConversationStore, CustomerStore, MessageStore, PageRequest};

fn app_message(id: &str, user: &str, text: &str, at: DateTime<Utc>) -> ChatAppMessage {
    ChatAppMessage {
        message_id: id.into(),
        user: ChatAppUser { id: user.into(), name: Some("Ana Souza".into()), email: Some("ana@example.com".into()) },
        text: text.into(),
        sent_at: at,
    }
}

/// What inbound-processor does with the job the messages route queued.
async fn app_posts(w: &World, message: ChatAppMessage, at: DateTime<Utc>) -> Vec<Received> {
    let job = InboundJob::ChatApp { received_at: at, org_id: ORG.into(), message };
    process_job(&w.deps.inbound_ports(), &job).await.unwrap()
}

async fn app_says(w: &World, status: ChatAppStatus, at: DateTime<Utc>) {
    let job = InboundJob::ChatAppStatus { received_at: at, org_id: ORG.into(), status };
    process_job(&w.deps.inbound_ports(), &job).await.unwrap();
}

fn status(message_id: &str, status: &str, at: DateTime<Utc>) -> ChatAppStatus {
    ChatAppStatus { message_id: message_id.into(), status: serde_json::from_value(status.into()).unwrap(), at, error: None }
}

#[tokio::test]
async fn a_users_first_message_creates_their_customer_identity_and_chat_app_conversation_once() {
    let w = World::new();
    // WHEN the app posts a user's first message
    let received = app_posts(&w, app_message("m-1", "user-42", "where is my order?", t(0)), t(0)).await;
    // THEN it is stored in a new conversation on the chat-app channel, handed to the bot
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r.conversation.channel, "chat_app");
    assert_eq!(r.conversation.customer_address, "user-42");
    assert_eq!(r.message.text.as_deref(), Some("where is my order?"));
    assert_eq!(r.message.wamid.as_deref(), Some("chat_app:in:m-1"));
    assert_eq!(r.inbound.kind, "text");
    // AND the customer has the identity, made by the user's own message (linked by nobody)
    let identity = w.store().identity(ORG, IdentityChannel::ChatApp, "user-42").await.unwrap().expect("the identity");
    let customer = w.store().customer(ORG, &identity.customer_id).await.unwrap().unwrap();
    assert_eq!((customer.name.as_deref(), customer.email.as_deref()), (Some("Ana Souza"), Some("ana@example.com")));
    assert_eq!(customer.identities.len(), 1);
    assert_eq!((customer.identities[0].channel, customer.identities[0].external_id.as_str()), (IdentityChannel::ChatApp, "user-42"));
    assert_eq!(customer.identities[0].linked_by, None);
    // WHEN the app posts it again (a retry after the queue's 5 minutes) before the bot handled it
    // THEN the stored one is handed on again, nothing new stored; once handled, nothing at all
    let again = app_posts(&w, app_message("m-1", "user-42", "where is my order?", t(0)), t(9)).await;
    assert_eq!((again.len(), again[0].repeated, &again[0].message.id), (1, true, &r.message.id));
    w.store().mark_handled(&r.message).await.unwrap();
    assert!(app_posts(&w, app_message("m-1", "user-42", "where is my order?", t(0)), t(9)).await.is_empty());
    assert_eq!(w.messages(&r.conversation.id).await.len(), 1);
    // AND the user's next message joins the same conversation
    let next = app_posts(&w, app_message("m-2", "user-42", "thanks", t(1)), t(1)).await;
    assert_eq!(next[0].conversation.id, r.conversation.id);
    let all = w.store().conversations(ORG, &ConversationFilter::default(), &PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert_eq!(all.items.len(), 1);
    // The same id on WhatsApp is another identity: the app's user ids never meet phone numbers.
    assert_eq!(w.store().whatsapp_identity(ORG, "user-42").await.unwrap(), None);
    // Another organisation's app with the same user id has a customer of its own.
    let theirs = InboundJob::ChatApp { received_at: t(0), org_id: OTHER_ORG.into(), message: app_message("m-1", "user-42", "hi", t(0)) };
    let theirs = process_job(&w.deps.inbound_ports(), &theirs).await.unwrap();
    assert_ne!(theirs[0].conversation.customer_id, r.conversation.customer_id);
}

#[tokio::test]
async fn a_message_posted_ahead_of_our_clock_is_stored_at_our_time() {
    let w = World::new();
    let r = app_posts(&w, app_message("m-1", "user-42", "hi", t(3)), t(0)).await;
    assert_eq!(r[0].message.created_at, t(0));
}

/// GIVEN a user's conversation and an agent's reply queued in it.
async fn given_reply(w: &World) -> (crate::domain::conversation::Conversation, crate::domain::message::Message) {
    let r = app_posts(w, app_message("m-1", "user-42", "where is my order?", t(0)), t(0)).await.remove(0);
    let sender = Sender { kind: SenderType::Agent, id: Some("agent-1".into()), name: Some("Bea".into()) };
    let reply = NewReply {
        org_id: ORG,
        conversation_id: &r.conversation.id,
        content: OutboundContent::text("It ships today."),
        sender,
        idempotency_key: None,
        now: t(1),
        just_read: None,
    };
    let m = queue_reply(w.store(), w.store(), w.outbox(), reply).await.unwrap();
    (r.conversation, m)
}

#[tokio::test]
async fn an_agents_reply_goes_to_the_app_as_an_event_never_to_meta() {
    let w = World::new();
    let (c, m) = given_reply(&w).await;
    let job = w.reply_jobs().remove(0);
    assert_eq!(job.to.as_ref().and_then(|to| to.channel.as_deref()), Some("chat_app"));
    // WHEN reply-sender takes the job
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, t(1)).await.unwrap(), SendResult::Done);
    // THEN the app's event carries the reply for the user, the message is sent, Meta got nothing
    let events = w.events_of(ORG, EventKind::ChatAppMessage).await;
    assert_eq!(events.len(), 1);
    let data = &events[0].data;
    assert_eq!((data["message_id"].as_str(), data["user_id"].as_str()), (Some(m.id.as_str()), Some("user-42")));
    assert_eq!((data["conversation_id"].as_str(), data["text"].as_str()), (Some(c.id.as_str()), Some("It ships today.")));
    assert!(w.mem.whatsapp.outbox().is_empty());
    let sent = w.message(&c.id, &m.id).await;
    assert_eq!(sent.status, DeliveryStatus::Sent);
    assert_eq!(sent.wamid.as_deref(), Some(delivery_id(&m.id).as_str()));
    assert_eq!(w.events_of(ORG, EventKind::MessageStatusChanged).await.len(), 1);
    // WHEN SQS delivers the job again THEN nothing is told twice
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 2, t(2)).await.unwrap(), SendResult::Done);
    assert_eq!(w.events_of(ORG, EventKind::ChatAppMessage).await.len(), 1);
    assert_eq!(w.events_of(ORG, EventKind::MessageStatusChanged).await.len(), 1);
}

#[tokio::test]
async fn a_job_that_died_after_the_event_delivers_again_without_a_second_event() {
    let w = World::new();
    let (c, m) = given_reply(&w).await;
    let job = w.reply_jobs().remove(0);
    // GIVEN an attempt that claimed and told the app, then failed to record the send
    w.store().fail_next("mark_sent", Error::backend("dynamodb", "throttled"));
    assert!(send_reply(&w.deps.sender_ports(), &job, 1, t(1)).await.is_err());
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Sending);
    // WHEN the job comes back (no read of the conversation: an old job without `to`)
    let old = crate::app::delivery::ReplyJob { to: None, ..job };
    assert_eq!(send_reply(&w.deps.sender_ports(), &old, 2, t(2)).await.unwrap(), SendResult::Done);
    // THEN it is sent, and the app was told once
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Sent);
    assert_eq!(w.events_of(ORG, EventKind::ChatAppMessage).await.len(), 1);
    assert!(w.mem.whatsapp.outbox().is_empty());
}

#[tokio::test]
async fn the_apps_statuses_move_the_reply_forward_only_and_reach_the_feed() {
    let w = World::new();
    let (c, m) = given_reply(&w).await;
    // A status that comes before the send is recorded waits for it.
    app_says(&w, status(&m.id, "delivered", t(2)), t(2)).await;
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Queued);
    let job = w.reply_jobs().remove(0);
    send_reply(&w.deps.sender_ports(), &job, 1, t(1)).await.unwrap();
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Delivered);
    app_says(&w, status(&m.id, "read", t(3)), t(3)).await;
    // An older word changes nothing.
    app_says(&w, status(&m.id, "delivered", t(4)), t(4)).await;
    let read = w.message(&c.id, &m.id).await;
    assert_eq!((read.status, read.read_at), (DeliveryStatus::Read, Some(t(3))));
    let told: Vec<String> = w.events_of(ORG, EventKind::MessageStatusChanged).await.iter().map(|e| e.data["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(told, ["sent", "delivered", "read"]);
    // Another organisation's app naming our message moves nothing.
    let theirs = InboundJob::ChatAppStatus { received_at: t(5), org_id: OTHER_ORG.into(), status: status(&m.id, "failed", t(5)) };
    process_job(&w.deps.inbound_ports(), &theirs).await.unwrap();
    assert_eq!(w.message(&c.id, &m.id).await.status, DeliveryStatus::Read);
}

#[tokio::test]
async fn a_failed_status_is_final_with_the_apps_words() {
    let w = World::new();
    let (c, m) = given_reply(&w).await;
    send_reply(&w.deps.sender_ports(), &w.reply_jobs().remove(0), 1, t(1)).await.unwrap();
    let failed = ChatAppStatus { error: Some("user uninstalled the app".into()), ..status(&m.id, "failed", t(2)) };
    app_says(&w, failed, t(2)).await;
    app_says(&w, status(&m.id, "read", t(3)), t(3)).await;
    let stored = w.message(&c.id, &m.id).await;
    assert_eq!(stored.status, DeliveryStatus::Failed);
    assert_eq!(stored.failure.and_then(|f| f.detail).as_deref(), Some("user uninstalled the app"));
}
