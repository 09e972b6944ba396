//! This function's `events/` samples through its handler, on the memory adapter.

use max_core::config::Deps;
use max_core::ports::Queue;
use max_core::testing::{http_samples, statuses};

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-interactions", |req| crate::handle(req, deps)).await;
    assert_eq!(
        answered,
        statuses(&[
            ("complete-unknown-interaction.json", 404),
            ("create-interaction-unknown-customer.json", 422),
            ("create-template-with-loop.json", 422),
            ("get-unknown-interaction.json", 404),
            ("list-overdue-interactions.json", 200),
            ("list-templates.json", 200),
        ])
    );
    // Nothing completed: no next step owed.
    assert!(world.outbox.jobs(Queue::NextSteps).is_empty());
}
