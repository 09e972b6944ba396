//! This function's `events/` sample through its handler, on the memory adapter; every stored
//! message handed to the bot once, whatever fails on the way.

use aws_lambda_events::event::sqs::SqsEvent;
use max_core::adapters::memory::sqs_record;
use max_core::batch::StopBy;
use max_core::config::{Deps, InMemory};
use max_core::domain::message::Direction;
use max_core::domain::webhook::{InboundJob, read_changes};
use max_core::error::Error;
use max_core::ports::{ChannelDirectory, ConversationFilter, ConversationStore, MessageStore, PageRequest, QueueMessage, SupportStore};
use max_core::testing::{DEMO_ORG, demo_channel, sample_events};
use serde_json::json;

#[tokio::test]
async fn its_sample_stores_the_message_once_however_often_it_is_delivered() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    world.store.put_channel(&demo_channel(), None).await.unwrap();
    let [(_, text)] = sample_events("inbound-processor").try_into().expect("one sample");
    let event: SqsEvent = serde_json::from_str(&text).unwrap();

    // SQS delivers at least once: the same record twice stores one message.
    for _ in 0..2 {
        let answer = crate::handle(event.clone(), &deps, max_core::batch::StopBy::NEVER).await.unwrap();
        assert!(answer.batch_item_failures.is_empty());
    }

    let page = PageRequest { limit: 10, cursor: None };
    let conversations = world.store.conversations(DEMO_ORG, &ConversationFilter::default(), &page).await.unwrap().items;
    assert_eq!(conversations.len(), 1);
    let messages = world.store.messages(DEMO_ORG, &conversations[0].id, &page, false).await.unwrap().items;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].text.as_deref(), Some("Does it come in another color?"));
}

/// One webhook body carrying three messages from one customer (one SQS record, as the webhook
/// receiver queues them): the menu's greeting, the choice of chat support, then the problem.
fn three_messages() -> SqsEvent {
    let at = chrono::Utc::now();
    let message = |id: &str, second: i64, text: &str| {
        json!({ "from": "16505551234", "id": id, "timestamp": (at.timestamp() + second).to_string(), "type": "text", "text": { "body": text } })
    };
    let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
        "contacts": [{ "profile": { "name": "Sheena Nelson" }, "wa_id": "16505551234" }],
        "messages": [message("wamid.1", 0, "hello"), message("wamid.2", 1, "2"), message("wamid.3", 2, "my order is late")]
    }}]}]});
    let changes = read_changes(&serde_json::to_vec(&body).unwrap()).unwrap();
    let job = serde_json::to_string(&InboundJob::Changes { received_at: at, changes }).unwrap();
    let queued = QueueMessage { body: job, group_id: Some("106540352242922#16505551234".into()), dedup_id: None };
    let mut event = SqsEvent::default();
    event.records = vec![sqs_record(0, &queued, 1)];
    event
}

/// What the bot made of the customer's messages: the replies queued for them (in order), the
/// conversation's state, and the messages of its ticket.
async fn handled(world: &InMemory) -> (Vec<String>, String, usize) {
    let page = PageRequest { limit: 50, cursor: None };
    let conversation = world.store.conversations(DEMO_ORG, &ConversationFilter::default(), &page).await.unwrap().items.remove(0);
    let messages = world.store.messages(DEMO_ORG, &conversation.id, &page, false).await.unwrap().items;
    // Sorted: replies queued within one clock tick list by their keyed ids, which hash the
    // conversation's id (new in each world), so two worlds may list the same replies in two orders.
    let mut replies: Vec<String> = messages.iter().filter(|m| m.direction == Direction::Outbound).map(|m| m.text.clone().unwrap_or_default()).collect();
    replies.sort();
    let ticket_messages = match &conversation.ticket_id {
        Some(ticket) => world.store.ticket_messages(DEMO_ORG, ticket, &page).await.unwrap().items.len(),
        None => 0,
    };
    (replies, conversation.state, ticket_messages)
}

/// The demo organisation with its number and the default bot menu.
async fn demo_with_bot() -> (Deps, InMemory) {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    world.store.put_channel(&demo_channel(), None).await.unwrap();
    max_core::app::bot::seed_defaults(&*deps.store, DEMO_ORG, deps.clock.now()).await.unwrap();
    (deps, world)
}

#[tokio::test]
async fn a_job_failing_after_its_first_message_hands_each_message_on_once_when_redelivered() {
    // GIVEN what the bot makes of the three messages when nothing fails
    let (deps, world) = demo_with_bot().await;
    assert!(crate::handle(three_messages(), &deps, StopBy::NEVER).await.unwrap().batch_item_failures.is_empty());
    let expected = handled(&world).await;
    assert_eq!((expected.0.len(), expected.1.as_str(), expected.2), (2, "chat_support", 1), "menu, greeting, a ticket: {expected:?}");

    // WHEN storing the second message fails, and SQS delivers the record again
    let (deps, world) = demo_with_bot().await;
    world.store.fail_after("record_inbound", 1, Error::backend("dynamodb", "throttled"));
    let event = three_messages();
    assert_eq!(crate::handle(event.clone(), &deps, StopBy::NEVER).await.unwrap().batch_item_failures.len(), 1);
    assert!(crate::handle(event.clone(), &deps, StopBy::NEVER).await.unwrap().batch_item_failures.is_empty());
    // AND once more (a duplicate delivery)
    assert!(crate::handle(event, &deps, StopBy::NEVER).await.unwrap().batch_item_failures.is_empty());

    // THEN each message was handled once: the same replies, state and ticket, none lost or doubled
    assert_eq!(handled(&world).await, expected);
}

#[tokio::test]
async fn a_bot_step_that_keeps_failing_fails_the_record_and_the_redelivery_answers_once() {
    let (deps, world) = demo_with_bot().await;
    let [(_, sample)] = sample_events("inbound-processor").try_into().expect("one sample");
    let event: SqsEvent = serde_json::from_str(&sample).unwrap();
    // GIVEN the bot's settings unreadable for all three in-place attempts
    for _ in 0..3 {
        world.store.fail_next("bot_settings", Error::backend("dynamodb", "throttled"));
    }
    // WHEN the record runs, then comes back (twice)
    assert_eq!(crate::handle(event.clone(), &deps, StopBy::NEVER).await.unwrap().batch_item_failures.len(), 1);
    for _ in 0..2 {
        assert!(crate::handle(event.clone(), &deps, StopBy::NEVER).await.unwrap().batch_item_failures.is_empty());
    }
    // THEN the customer's message got its menu, once
    let (replies, _, _) = handled(&world).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
}
