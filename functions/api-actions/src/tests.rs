//! This function's `events/` samples through its handler, on the memory adapter.

use max_core::config::Deps;
use max_core::ports::Queue;
use max_core::testing::{http_samples, statuses};

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-actions", |req| crate::handle(req, deps)).await;
    assert_eq!(
        answered,
        statuses(&[
            ("action-feedback-unknown-action.json", 404),
            ("approve-unknown-action.json", 404),
            ("create-action-unknown-conversation.json", 404),
            ("get-response-templates-as-admin.json", 200),
            ("get-unknown-action.json", 404),
            ("list-pending-actions.json", 200),
        ])
    );
    // Nothing was decided, so nothing was queued for the customer.
    assert!(world.outbox.jobs(Queue::Replies).is_empty());
}
