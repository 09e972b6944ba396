//! `app::customer_links`: a link moves every conversation once (250 of them, a link cut short and
//! asked again ends whole), messages from a moved identity land on the primary, the primary's
//! context holds both customers, one event per link, unlink gives back what the link took.

use std::collections::BTreeSet;

use super::*;
use crate::app::customer_context::{ContextPorts, customer_context};
use crate::app::customer_links::{link, unlink};
use crate::domain::chat_app::{ChatAppMessage, ChatAppUser};
use crate::domain::conversation::Conversation;
use crate::domain::customer::{ChannelIdentity, Customer, IdentityChannel};
use crate::domain::customer_link::LinkState;
use crate::ports::{ConversationStore, CustomerDirectory, CustomerLinkStore, CustomerStore, Written};

const SECONDARY: &str = "cu-s";

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid fixture")
}

fn conversation(n: usize) -> Conversation {
    from(json!({
        "id": format!("C{n:03}"), "org_id": ORG, "customer_id": SECONDARY, "channel": "whatsapp", "phone_number_id": NUMBER,
        "customer_address": CUSTOMER, "status": if n % 2 == 0 { "closed" } else { "open" }, "created_at": t(n as i64), "updated_at": t(n as i64),
        "last_message_at": t(n as i64), "version": 1
    }))
}

/// GIVEN the WhatsApp customer [`SECONDARY`] with `conversations` conversations, and a customer
/// created by hand (the primary).
async fn given_customers(w: &World, conversations: usize) -> String {
    let s = w.store();
    let customer: Customer = from(json!({ "id": SECONDARY, "org_id": ORG, "name": "Sheena", "phone": CUSTOMER, "created_at": t(0), "updated_at": t(0),
        "identities": [{ "channel": "whatsapp", "external_id": CUSTOMER }] }));
    let identity: ChannelIdentity = from(json!({ "org_id": ORG, "address": CUSTOMER, "customer_id": SECONDARY, "open_conversation_id": "C001" }));
    assert_eq!(s.create_customer(&customer, &identity, &conversation(1)).await.unwrap(), Written::Stored);
    for n in 2..=conversations {
        assert_eq!(s.open_conversation(&identity, Some(&format!("C{:03}", n - 1)), &conversation(n)).await.unwrap(), Written::Stored);
    }
    let input = from(json!({ "name": "Sheena Nelson", "email": "sheena@example.com" }));
    crate::app::customers::create(s, ORG, &input, "u-agent", t(0)).await.unwrap().id
}

/// Whose each of the `n` conversations is now.
async fn owners(w: &World, n: usize) -> Vec<String> {
    let mut owners = Vec::new();
    for i in 1..=n {
        owners.push(w.store().conversation(ORG, &format!("C{i:03}")).await.unwrap().expect("never lost").customer_id);
    }
    owners
}

async fn customer(w: &World, id: &str) -> Customer {
    w.store().customer(ORG, id).await.unwrap().expect("stored")
}

fn context_ports(w: &World) -> ContextPorts<'_> {
    ContextPorts { reads: w.store(), interactions: w.store(), transactions: w.store() }
}

#[tokio::test(start_paused = true)]
async fn a_link_of_250_conversations_cut_short_and_asked_again_moves_each_once_and_unlink_gives_them_back() {
    // GIVEN a customer with 250 conversations and the customer they are to be linked into
    let w = World::new();
    let primary = given_customers(&w, 250).await;
    // WHEN the link is cut short: the fourth page of conversations fails
    w.store().fail_after("move_conversations", 3, Error::backend("dynamodb", "throttled"));
    let cut = link(w.deps.link_ports(), ORG, &primary, SECONDARY, "u-sup", t(300)).await;
    assert!(matches!(cut, Err(Error::Backend { .. })), "{cut:?}");
    // THEN the identity already leads to the primary, three pages moved, none lost
    let half = owners(&w, 250).await;
    assert_eq!(half.iter().filter(|o| **o == primary).count(), 90);
    assert_eq!(half.iter().filter(|o| *o == SECONDARY).count(), 160);
    assert_eq!(w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().unwrap().customer_id, primary);
    let moving = w.store().customer_link(ORG, SECONDARY).await.unwrap().unwrap();
    assert_eq!((moving.state, moving.conversation_ids.len()), (LinkState::Moving, 90));
    // and the primary's context already holds all 250 (the rest read through the merged customer)
    let context = customer_context(context_ports(&w), ORG, &primary, t(301)).await.unwrap();
    assert_eq!(context.conversation_count, 250);
    assert!(w.events_of(ORG, EventKind::CustomerLinked).await.is_empty(), "no event before the link is done");

    // WHEN it is asked again, then once more
    let done = link(w.deps.link_ports(), ORG, &primary, SECONDARY, "u-sup", t(302)).await.unwrap();
    let again = link(w.deps.link_ports(), ORG, &primary, SECONDARY, "u-admin", t(303)).await.unwrap();
    // THEN every conversation is the primary's, listed once, and the retry changed nothing
    assert_eq!(done.state, LinkState::Done);
    assert_eq!(done.conversation_ids.len(), 250);
    assert_eq!(done.conversation_ids.iter().collect::<BTreeSet<_>>().len(), 250, "no conversation moved twice");
    assert!(owners(&w, 250).await.iter().all(|o| *o == primary));
    assert_eq!(again, done);
    assert_eq!((done.linked_by.as_str(), done.linked_at), ("u-sup", t(300)));
    let p = customer(&w, &primary).await;
    assert_eq!(p.merged_customers, vec![SECONDARY.to_string()]);
    assert_eq!(p.addresses(IdentityChannel::Whatsapp).collect::<Vec<_>>(), vec![CUSTOMER]);
    let s = customer(&w, SECONDARY).await;
    assert_eq!((s.merged_into.as_deref(), s.identities.len()), (Some(primary.as_str()), 0));
    assert_eq!(w.events_of(ORG, EventKind::CustomerLinked).await.len(), 1, "one event however often asked");
    assert_eq!(customer_context(context_ports(&w), ORG, SECONDARY, t(304)).await.unwrap().conversation_count, 0);

    // WHEN it is unlinked, cut short on its second page, then asked again (twice)
    w.store().fail_after("move_conversations", 1, Error::backend("dynamodb", "throttled"));
    assert!(unlink(w.deps.link_ports(), ORG, &primary, SECONDARY, "u-sup", t(310)).await.is_err());
    let unlinked = unlink(w.deps.link_ports(), ORG, &primary, SECONDARY, "u-sup", t(311)).await.unwrap();
    let again = unlink(w.deps.link_ports(), ORG, &primary, SECONDARY, "u-sup", t(312)).await.unwrap();
    // THEN everything is the secondary's again, as before the link
    assert_eq!((unlinked.state, unlinked.unlinked_by.as_deref()), (LinkState::Unlinked, Some("u-sup")));
    assert_eq!(again, unlinked);
    assert!(owners(&w, 250).await.iter().all(|o| o == SECONDARY));
    assert_eq!(w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().unwrap().customer_id, SECONDARY);
    let s = customer(&w, SECONDARY).await;
    assert_eq!((s.merged_into.clone(), s.addresses(IdentityChannel::Whatsapp).collect::<Vec<_>>()), (None, vec![CUSTOMER]));
    let p = customer(&w, &primary).await;
    assert!(p.merged_customers.is_empty() && p.identities.is_empty());
    assert_eq!(w.events_of(ORG, EventKind::CustomerUnlinked).await.len(), 1);
    assert_eq!(customer_context(context_ports(&w), ORG, &primary, t(313)).await.unwrap().conversation_count, 0);
}

fn app_message(id: &str, user: &str, at: DateTime<Utc>) -> ChatAppMessage {
    ChatAppMessage { message_id: id.into(), user: ChatAppUser { id: user.into(), name: Some("Ana Souza".into()), email: None }, text: "hi from the app".into(), sent_at: at }
}

#[tokio::test(start_paused = true)]
async fn a_chat_app_user_and_a_whatsapp_customer_linked_are_one_context_and_new_messages_land_on_the_primary() {
    // GIVEN a chat-app user and a WhatsApp customer, each with a conversation, and a transaction
    // recorded on the WhatsApp one
    let w = World::new().with_channel(None).await;
    let job = crate::domain::webhook::InboundJob::ChatApp { received_at: t(0), org_id: ORG.into(), message: app_message("m-1", "user-42", t(0)) };
    let app = process_job(&w.deps.inbound_ports(), &job).await.unwrap().remove(0).conversation;
    let whatsapp = w.given_conversation().await.conversation;
    let (primary, secondary) = (app.customer_id.clone(), whatsapp.customer_id.clone());
    let txn = from(json!({ "id": "ord-1", "amount_minor": 1500, "currency": "EUR", "status": "completed", "occurred_at": t(1) }));
    crate::app::transactions::record(w.store(), w.store(), ORG, &secondary, txn, t(2)).await.unwrap();
    // WHEN a supervisor links the WhatsApp customer into the chat-app user
    link(w.deps.link_ports(), ORG, &primary, &secondary, "u-sup", t(3)).await.unwrap();
    // THEN the primary's context holds both conversations, and the transaction
    let context = customer_context(context_ports(&w), ORG, &primary, t(4)).await.unwrap();
    let channels: BTreeSet<_> = context.conversations.iter().map(|c| (c.id.clone(), c.channel.clone())).collect();
    assert_eq!(channels, BTreeSet::from([(app.id.clone(), "chat_app".to_string()), (whatsapp.id.clone(), "whatsapp".to_string())]));
    assert_eq!(context.customer.identities.len(), 2);
    assert_eq!(context.transactions.iter().map(|t| t.fields.id.as_str()).collect::<Vec<_>>(), ["ord-1"]);
    // and reading the secondary answers it merged into the primary
    let view = crate::app::rate_limits::customer_view(w.store(), ORG, &secondary, t(4)).await.unwrap();
    assert_eq!(view.customer.merged_into.as_deref(), Some(primary.as_str()));
    // WHEN the WhatsApp number writes again: into its open conversation, now the primary's
    let received = w.receive_text(CUSTOMER, "wamid.after-link", "me again", t(5)).await;
    assert_eq!((received[0].conversation.id.as_str(), received[0].conversation.customer_id.as_str()), (whatsapp.id.as_str(), primary.as_str()));
    // and once that conversation is closed, a new one opens on the primary
    let open = w.store().conversation(ORG, &whatsapp.id).await.unwrap().unwrap();
    assert_eq!(w.store().close(&open, t(6)).await.unwrap(), Written::Stored);
    let received = w.receive_text(CUSTOMER, "wamid.after-close", "new topic", t(7)).await;
    assert_ne!(received[0].conversation.id, whatsapp.id);
    assert_eq!(received[0].conversation.customer_id, primary);
    assert_eq!(received[0].message.customer_id, primary);
    // WHEN unlinked: the conversation the link moved goes back; the identity leads to the secondary
    let newer = received[0].conversation.id.clone();
    unlink(w.deps.link_ports(), ORG, &primary, &secondary, "u-sup", t(8)).await.unwrap();
    assert_eq!(w.store().conversation(ORG, &whatsapp.id).await.unwrap().unwrap().customer_id, secondary);
    // and so does the conversation the number opened on the primary since: its next message is the secondary's
    assert_eq!(w.store().conversation(ORG, &newer).await.unwrap().unwrap().customer_id, secondary);
    let received = w.receive_text(CUSTOMER, "wamid.after-unlink", "still me", t(9)).await;
    assert_eq!((received[0].conversation.id.as_str(), received[0].conversation.customer_id.as_str()), (newer.as_str(), secondary.as_str()));
    assert_eq!(w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().unwrap().customer_id, secondary);
    let context = customer_context(context_ports(&w), ORG, &primary, t(10)).await.unwrap();
    assert!(context.transactions.is_empty() && context.conversations.iter().all(|c| c.id != whatsapp.id && c.id != newer));
}

#[tokio::test(start_paused = true)]
async fn a_link_is_refused_for_itself_unknown_customers_another_organisation_and_a_second_primary() {
    let w = World::new();
    let primary = given_customers(&w, 1).await;
    let ports = w.deps.link_ports();
    let conflict = |r: Result<crate::domain::customer_link::CustomerLink, Error>| match r {
        Err(Error::Conflict { detail, .. }) => detail,
        other => panic!("not a 409: {other:?}"),
    };
    assert!(conflict(link(ports, ORG, &primary, &primary, "u", t(1)).await).starts_with("customer_id:"));
    assert_not_found(link(ports, ORG, &primary, "nobody", "u", t(1)).await, "customer");
    assert_not_found(link(ports, ORG, "nobody", SECONDARY, "u", t(1)).await, "customer");
    assert_not_found(link(ports, OTHER_ORG, &primary, SECONDARY, "u", t(1)).await, "customer");
    assert_not_found(unlink(ports, OTHER_ORG, &primary, SECONDARY, "u", t(1)).await, "customer");
    // Unlinking what is not linked: 409.
    assert!(conflict(unlink(ports, ORG, &primary, SECONDARY, "u", t(1)).await).starts_with("customer_id:"));
    // Nothing was written by any of them.
    assert!(w.store().customer_link(ORG, SECONDARY).await.unwrap().is_none());
    assert_eq!(customer(&w, SECONDARY).await.version, 1);
    // Linked once; into a third customer it is refused, naming the first primary.
    link(ports, ORG, &primary, SECONDARY, "u", t(2)).await.unwrap();
    let third = crate::app::customers::create(w.store(), ORG, &from(json!({ "name": "Other" })), "u", t(3)).await.unwrap().id;
    match link(ports, ORG, &third, SECONDARY, "u", t(4)).await {
        Err(Error::Conflict { detail, current }) => assert!(detail.starts_with("customer_id:") && current.as_deref() == Some(primary.as_str()), "{detail}"),
        other => panic!("not a 409: {other:?}"),
    }
    // and the primary, holding a linked customer, cannot itself be linked elsewhere
    assert!(conflict(link(ports, ORG, &third, &primary, "u", t(4)).await).starts_with("customer_id:"));
    assert_eq!(w.store().customers_by_id(ORG, &[third.clone()]).await.unwrap()[0].version, 1);
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_read_the_identity_before_the_link_opens_nothing_on_the_secondary() {
    // GIVEN a customer whose only conversation is closed, and an identity read before a link
    let w = World::new();
    let primary = given_customers(&w, 2).await;
    let open = w.store().conversation(ORG, "C001").await.unwrap().unwrap();
    let _ = w.store().close(&open, t(5)).await.unwrap();
    let stale = w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().unwrap();
    link(w.deps.link_ports(), ORG, &primary, SECONDARY, "u", t(6)).await.unwrap();
    // WHEN that worker opens a conversation for the customer it read
    let late: Conversation = from(json!({
        "id": "C999", "org_id": ORG, "customer_id": SECONDARY, "channel": "whatsapp", "phone_number_id": NUMBER,
        "customer_address": CUSTOMER, "status": "open", "created_at": t(7), "updated_at": t(7), "last_message_at": t(7), "version": 1
    }));
    // THEN it is refused (it reads again and finds the primary), and nothing is left on the secondary
    assert_eq!(w.store().open_conversation(&stale, stale.open_conversation_id.as_deref(), &late).await.unwrap(), Written::AlreadyThere);
    assert!(w.store().conversations_linked(ORG, SECONDARY, 10).await.unwrap().is_empty());
}
