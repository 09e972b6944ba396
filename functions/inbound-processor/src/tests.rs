//! This function's `events/` sample through its handler, on the memory adapter.

use aws_lambda_events::event::sqs::SqsEvent;
use max_core::config::Deps;
use max_core::ports::{ChannelDirectory, ConversationFilter, ConversationStore, MessageStore, PageRequest};
use max_core::testing::{DEMO_ORG, demo_channel, sample_events};

#[tokio::test]
async fn its_sample_stores_the_message_once_however_often_it_is_delivered() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    world.store.put_channel(&demo_channel()).await.unwrap();
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
