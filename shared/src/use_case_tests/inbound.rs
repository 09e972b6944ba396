//! `app::inbound`: a queued webhook change becomes a customer, a conversation and a message once;
//! statuses move forward only; template statuses move the organisation's templates; what cannot be placed is kept.

use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::app::inbound::InboundPorts;
use crate::domain::channel::quarantine_prefix;
use crate::domain::whatsapp_template::TemplateStatus;
use crate::domain::message::{DeliveryStatus, Direction};
use crate::ports::{BlobStore, ConversationStore, CustomerStore, MessageStore, WamidIndex, WhatsAppTemplateStore};

#[tokio::test(start_paused = true)]
async fn a_first_message_stores_customer_conversation_and_message_once() {
    // GIVEN the organisation's number
    let w = World::new().with_channel(None).await;
    // WHEN the customer's first text arrives
    let received = w.given_conversation().await;
    // THEN the customer, their identity, an open conversation with a 24 h window and the message exist
    let identity = w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().expect("identity");
    assert_eq!(identity.open_conversation_id.as_deref(), Some(received.conversation.id.as_str()));
    let customer = w.store().customer(ORG, &identity.customer_id).await.unwrap().expect("customer");
    assert_eq!(customer.name.as_deref(), Some("Sheena Nelson"));
    let c = w.store().conversation(ORG, &received.conversation.id).await.unwrap().unwrap();
    assert_eq!(c, received.conversation);
    assert_eq!(c.window_closes_at, Some(t(0) + Duration::hours(24)));
    let messages = w.messages(&c.id).await;
    assert_eq!(messages.len(), 1);
    assert_eq!((messages[0].direction, messages[0].status), (Direction::Inbound, DeliveryStatus::Received));
    assert_eq!(messages[0].wamid.as_deref(), Some("wamid.hello"));
    assert_eq!(messages[0].text.as_deref(), Some("hello"));
}

#[tokio::test(start_paused = true)]
async fn a_redelivered_wamid_stores_nothing_and_reaches_no_bot() {
    // GIVEN a message already stored and handled
    let w = World::new().with_channel(None).await;
    let first = w.given_conversation().await;
    w.store().mark_handled(&first.message).await.unwrap();
    // WHEN Meta (or SQS) delivers the same wamid again
    let again = w.receive_text(CUSTOMER, "wamid.hello", "hello", t(0)).await;
    // THEN nothing is new: no message, no conversation change, nothing handed to the bot
    assert!(again.is_empty());
    assert_eq!(w.messages(&first.conversation.id).await.len(), 1);
    let c = w.store().conversation(ORG, &first.conversation.id).await.unwrap().unwrap();
    assert_eq!(c.version, first.conversation.version);
}

#[tokio::test(start_paused = true)]
async fn a_redelivered_wamid_still_owed_its_handling_is_handed_on_again_not_stored_again() {
    // GIVEN a message stored by a job that failed before handing it to the bot
    let w = World::new().with_channel(None).await;
    let first = w.given_conversation().await;
    w.receive_text(CUSTOMER, "wamid.later", "later", t(1)).await;
    // WHEN the job is delivered again
    let again = w.receive_text(CUSTOMER, "wamid.hello", "hello", t(0)).await;
    // THEN the stored message is handed on, with its conversation as it now stands
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message, first.message);
    let now = w.store().conversation(ORG, &first.conversation.id).await.unwrap().unwrap();
    assert_eq!(again[0].conversation, now);
    assert_eq!(w.messages(&now.id).await.len(), 2, "nothing stored twice");
    // AND once handled, never again
    w.store().mark_handled(&again[0].message).await.unwrap();
    assert!(w.receive_text(CUSTOMER, "wamid.hello", "hello", t(0)).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_second_customer_gets_a_conversation_of_their_own() {
    let w = World::new().with_channel(None).await;
    let a = w.given_conversation().await;
    let b = w.given_conversation_of("447700900123", "wamid.b").await;
    assert_ne!(a.conversation.id, b.conversation.id);
    assert_ne!(a.conversation.customer_id, b.conversation.customer_id);
}

#[tokio::test(start_paused = true)]
async fn a_message_losing_to_a_concurrent_writer_is_stored_once_on_retry() {
    // GIVEN a conversation another worker changes while this message is recorded
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    w.store().fail_next("record_inbound", Error::LostUpdate("conversation"));
    // WHEN the next message arrives
    let received = w.receive_text(CUSTOMER, "wamid.2", "second", t(1)).await;
    // THEN it is stored once, in the same conversation
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].conversation.id, c.id);
    assert_eq!(w.messages(&c.id).await.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_store_write_leaves_nothing_and_the_retried_job_stores_it() {
    let w = World::new().with_channel(None).await;
    w.store().fail_next_write(Error::backend("dynamodb", "throttled"));
    let body = text_webhook(CUSTOMER, "wamid.x", "hi", t(0));
    let out = process_job(&w.deps.inbound_ports(), &job(body.clone(), t(0))).await;
    assert!(matches!(out, Err(Error::Backend { .. })), "{out:?}");
    assert!(w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().is_none(), "no half customer");
    // WHEN SQS delivers the job again
    let received = process_job(&w.deps.inbound_ports(), &job(body, t(0))).await.unwrap();
    assert_eq!(received.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_number_is_quarantined_in_its_own_folder_not_stored() {
    // GIVEN no channel for the number
    let w = World::new();
    let received = w.receive_text(CUSTOMER, "wamid.x", "hi", t(0)).await;
    assert!(received.is_empty());
    // THEN the change is kept under the number's folder, as the job it came in
    let kept = w.mem.blobs.keys(&quarantine_prefix(NUMBER));
    assert_eq!(kept.len(), 1);
    let job: InboundJob = serde_json::from_slice(&w.mem.blobs.get(&kept[0]).await.unwrap()).unwrap();
    assert!(matches!(job, InboundJob::Changes { received_at, ref changes } if received_at == t(0) && changes.len() == 1));
    assert!(w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().is_none());
    // AND the same change delivered again is the same object
    w.receive_text(CUSTOMER, "wamid.x", "hi", t(0)).await;
    assert_eq!(w.mem.blobs.keys(&quarantine_prefix(NUMBER)).len(), 1);
}

/// A registry in which the number gets registered while its first lookup's answer (none) is on its
/// way back: what a registration racing the processor looks like.
struct RegisteredDuringTheLookup<'a> {
    store: &'a MemoryStore,
    channel: Channel,
    done: Mutex<bool>,
}

#[async_trait]
impl ChannelDirectory for RegisteredDuringTheLookup<'_> {
    async fn channel_by_number(&self, number: &str) -> crate::Result<Option<Channel>> {
        let found = self.store.channel_by_number(number).await?;
        let first = !std::mem::replace(&mut *self.done.lock().unwrap(), true);
        if first {
            self.store.put_channel(&self.channel, None).await?;
        }
        Ok(found)
    }
    async fn org_by_waba(&self, waba: &str) -> crate::Result<Option<String>> {
        self.store.org_by_waba(waba).await
    }
    async fn put_channel(&self, channel: &Channel, audit: Option<&crate::domain::audit::AuditEntry>) -> crate::Result<ChannelPut> {
        self.store.put_channel(channel, audit).await
    }
    async fn channels(&self, org: &str, page: &crate::ports::PageRequest) -> crate::Result<crate::ports::Page<Channel>> {
        self.store.channels(org, page).await
    }
    async fn delete_channel(&self, org: &str, number: &str, audit: Option<&crate::domain::audit::AuditEntry>) -> crate::Result<crate::ports::Written> {
        self.store.delete_channel(org, number, audit).await
    }
    async fn forget_waba(&self, org: &str, waba: &str) -> crate::Result<()> {
        self.store.forget_waba(org, waba).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_number_registered_while_its_change_is_quarantined_handles_it_at_once() {
    // GIVEN the number is registered between the processor's lookup and its quarantine (the
    // registration's replay may have listed the folder before the change was in it)
    let w = World::new();
    let channel = Channel {
        org_id: ORG.into(),
        phone_number_id: NUMBER.into(),
        display_phone_number: None,
        waba_id: Some(WABA.into()),
        fallback_template: None,
        access_token_rotated_at: None,
        default_team_id: None,
    };
    let racing = RegisteredDuringTheLookup { store: w.store(), channel, done: Mutex::new(false) };
    let ports = InboundPorts { channels: &racing, ..w.deps.inbound_ports() };
    // WHEN the change is processed
    let received = process_job(&ports, &job(text_webhook(CUSTOMER, "wamid.race", "hi", t(0)), t(0))).await.unwrap();
    // THEN it is stored now, and nothing waits in quarantine for a replay nobody will ask for
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].conversation.org_id, ORG);
    assert!(w.mem.blobs.keys("quarantine/").is_empty());
}

#[tokio::test(start_paused = true)]
async fn delivery_statuses_only_move_forward() {
    // GIVEN a reply sent (its wamid known)
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let wamid = super::delivery::given_sent_reply(&w, &c, t(1)).await.wamid.unwrap();
    // WHEN Meta calls back read, then (late) delivered, then read again
    for (status, at) in [("read", t(3)), ("delivered", t(2)), ("read", t(3))] {
        process_job(&w.deps.inbound_ports(), &job(status_webhook(&wamid, status, at, None), at)).await.unwrap();
    }
    // THEN the message is read, delivered on the way, and the feed told each status once
    let m = w.store().message_by_wamid(ORG, &wamid).await.unwrap().expect("indexed by wamid");
    assert_eq!(m.status, DeliveryStatus::Read);
    assert_eq!((m.read_at, m.delivered_at), (Some(t(3)), Some(t(3))));
    let told: Vec<String> = w.events_of(ORG, EventKind::MessageStatusChanged).await.iter().map(|e| e.data["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(told, ["sent", "read"]);
}

#[tokio::test(start_paused = true)]
async fn a_status_of_another_organisations_number_touches_nothing_here() {
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    let sent = super::delivery::given_sent_reply(&w, &c, t(1)).await;
    // An unknown wamid (another tenant's message) on our number: nothing moves, nothing is told.
    process_job(&w.deps.inbound_ports(), &job(status_webhook("wamid.someone-else", "read", t(2), None), t(2))).await.unwrap();
    assert_eq!(w.message(&c.id, &sent.id).await.status, DeliveryStatus::Sent);
    assert_eq!(w.events_of(ORG, EventKind::MessageStatusChanged).await.len(), 1);
}

/// `fixtures/whatsapp/template-status-approved.json`.
fn template_approved() -> Value {
    json!({ "object": "whatsapp_business_account", "entry": [{ "id": WABA, "time": 1749416500, "changes": [{
        "field": "message_template_status_update",
        "value": { "event": "APPROVED", "message_template_id": 1689556908129832u64, "message_template_name": "order_shipped",
                   "message_template_language": "es", "reason": null, "message_template_category": "UTILITY" }
    }]}]})
}

#[tokio::test(start_paused = true)]
async fn a_template_status_moves_the_template_of_the_organisation_of_its_waba() {
    let w = World::new().with_channel(None).await;
    process_job(&w.deps.inbound_ports(), &job(template_approved(), t(5))).await.unwrap();
    let stored = w.store().whatsapp_template(ORG, "1689556908129832").await.unwrap().expect("created from the webhook");
    assert_eq!((stored.name.as_str(), stored.language.as_str(), stored.status), ("order_shipped", "es", TemplateStatus::Approved));
    assert_eq!(stored.status_at, chrono::DateTime::from_timestamp(1749416500, 0), "Meta's time orders later webhooks");
    assert_eq!(w.events_of(ORG, EventKind::TemplateStatusChanged).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_template_status_of_an_unknown_waba_is_quarantined() {
    let w = World::new();
    process_job(&w.deps.inbound_ports(), &job(template_approved(), t(5))).await.unwrap();
    assert_eq!(w.store().whatsapp_template(ORG, "1689556908129832").await.unwrap(), None);
    assert_eq!(w.mem.blobs.keys("quarantine/unknown-waba/").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_customers_messages_of_one_second_list_in_the_order_they_arrived() {
    // GIVEN a customer who writes ten messages within one WhatsApp second (the issue measured
    // them listed 04, 03, 01, 02, 00, 06, 05, 08, 07, 09)
    let w = World::new().with_channel(None).await;
    let second = t(0);
    for i in 0..10 {
        w.receive_text(CUSTOMER, &format!("wamid.{i:02}"), &format!("{i:02}"), second).await;
    }
    // AND Meta delivering the fifth one again
    w.receive_text(CUSTOMER, "wamid.04", "04", second).await;
    // THEN the conversation lists them once each, in the order sent
    let c = w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().unwrap().open_conversation_id.unwrap();
    let texts: Vec<String> = w.messages(&c).await.iter().map(|m| m.text.clone().unwrap()).collect();
    assert_eq!(texts, (0..10).map(|i| format!("{i:02}")).collect::<Vec<_>>());
    // AND each keeps WhatsApp's time
    assert!(w.messages(&c).await.iter().all(|m| m.created_at == second));
}
