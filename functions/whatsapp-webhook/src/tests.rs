//! This function's `events/` samples through its handler, on the memory adapter.

use max_core::config::Deps;
use max_core::ports::Queue;
use max_core::testing::{http_samples, statuses};

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("whatsapp-webhook", |req| crate::handle(req, deps)).await;
    assert_eq!(answered, statuses(&[("receive-text-message.json", 200), ("verify-subscription.json", 200)]));
    // The signed body became exactly one job for inbound-processor.
    assert_eq!(world.outbox.jobs(Queue::Inbound).len(), 1);
}
