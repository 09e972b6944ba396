//! This function's `events/` sample through its handler, on the memory adapter.

use aws_lambda_events::event::sqs::SqsEvent;
use max_core::config::Deps;
use max_core::ports::Queue;
use max_core::testing::sample_events;

#[tokio::test]
async fn its_sample_names_an_unknown_interaction_and_is_dropped_without_a_retry() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let [(_, text)] = sample_events("next-step").try_into().expect("one sample");
    let event: SqsEvent = serde_json::from_str(&text).unwrap();
    let answer = crate::handle(event, &deps, max_core::batch::StopBy::NEVER).await.unwrap();
    // Not a failure (SQS would retry it for nothing), and no next step was made up.
    assert!(answer.batch_item_failures.is_empty());
    assert!(world.outbox.jobs(Queue::NextSteps).is_empty());
    assert_eq!(crate::sweep(&deps).await.unwrap(), 0);
}
