//! This function's `events/` samples through its handler, on the memory adapter.

use max_core::config::Deps;
use max_core::ports::Queue;
use max_core::testing::{http_samples, statuses};

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-conversations", |req| crate::handle(req, deps)).await;
    assert_eq!(
        answered,
        statuses(&[
            ("get-rate-limit-settings.json", 200),
            ("get-unknown-conversation.json", 404),
            ("list-open-conversations.json", 200),
            ("put-rate-limit-settings.json", 200),
            ("send-text-reply.json", 404),
            ("send-uploaded-image-reply.json", 404),
            ("update-conversation-as-agent.json", 403),
            ("update-unknown-conversation.json", 404),
        ])
    );
    // A reply to a conversation that does not exist queues nothing.
    assert!(world.outbox.jobs(Queue::Replies).is_empty());
}
