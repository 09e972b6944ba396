//! `app::interactions`: create (idempotent), update, complete, skip, cancel — 409s on closed ones,
//! exactly one next step per completion, owed next steps swept, templates and settings, tenancy.

use super::*;
use crate::app::interactions::{
    Actor, NextStepJob, NextStepOutcome, InteractionPorts, cancel, complete, create, create_next_step, get, requeue_owed_next_steps,
    save_settings, settings, templates, update,
};
use crate::domain::interaction::{Completion, Interaction, InteractionChange, InteractionStatus, InteractionType, NewInteraction, Priority};
use crate::ports::{InteractionFilter, InteractionStore, PageRequest};

const USER: Actor<'static> = Actor { org_id: ORG, user_id: "agent-1" };

pub(super) fn call(customer_id: &str) -> NewInteraction {
    NewInteraction {
        customer_id: customer_id.into(),
        kind: InteractionType::new("phone_call").unwrap(),
        title: "Call about the damaged order".into(),
        description: None,
        priority: Priority::default(),
        scheduled_at: Some(t(60)),
        due_at: Some(t(120)),
        status: None,
        conversation_id: None,
        assignee_id: None,
    }
}

fn done() -> Completion {
    Completion { outcome: "reached".into(), outcome_details: None }
}

fn ports(w: &World) -> InteractionPorts<'_> {
    w.deps.interaction_ports()
}

/// GIVEN a customer (they wrote on WhatsApp) with one pending call.
async fn given_call(w: &World) -> Interaction {
    let customer = w.given_conversation().await.conversation.customer_id;
    create(&ports(w), &USER, call(&customer), None, t(1)).await.unwrap()
}

fn next_step_jobs(w: &World) -> Vec<NextStepJob> {
    w.outbox().take(Queue::NextSteps).iter().map(|m| serde_json::from_str(&m.body).unwrap()).collect()
}

async fn all_interactions(w: &World, org: &str) -> Vec<Interaction> {
    let page = PageRequest { limit: 100, cursor: None };
    w.store().interactions(org, &InteractionFilter::default(), &page).await.unwrap().items
}

#[tokio::test(start_paused = true)]
async fn a_repeated_create_with_the_same_key_returns_the_first_interaction() {
    let w = World::new().with_channel(None).await;
    let customer = w.given_conversation().await.conversation.customer_id;
    let key = request_key("req-1", "a call");
    let first = create(&ports(&w), &USER, call(&customer), Some(&key), t(1)).await.unwrap();
    let again = create(&ports(&w), &USER, call(&customer), Some(&key), t(2)).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(all_interactions(&w, ORG).await.len(), 1);
    // The key with another request: 422, nothing more stored.
    let out = create(&ports(&w), &USER, call(&customer), Some(&request_key("req-1", "another call")), t(3)).await;
    match out {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "Idempotency-Key"),
        other => panic!("the key was reused for another request: {other:?}"),
    }
    assert_eq!(all_interactions(&w, ORG).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn another_organisations_customer_and_interaction_are_not_found() {
    let w = World::new().with_channel(None).await;
    let mine = given_call(&w).await;
    let theirs = Actor { org_id: OTHER_ORG, user_id: "agent-9" };
    let out = create(&ports(&w), &theirs, call(&mine.customer_id), None, t(2)).await;
    assert!(matches!(&out, Err(Error::Invalid { field, .. }) if field == "customer_id"), "{out:?}");
    assert_not_found(get(w.store(), OTHER_ORG, &mine.id).await, "interaction");
    assert_not_found(complete(&ports(&w), OTHER_ORG, &mine.id, &done(), t(2)).await, "interaction");
    assert_not_found(cancel(w.store(), OTHER_ORG, &mine.id, t(2)).await, "interaction");
    assert!(all_interactions(&w, OTHER_ORG).await.is_empty());
    assert!(next_step_jobs(&w).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_completion_queues_one_job_and_the_job_creates_one_next_step() {
    let w = World::new().with_channel(None).await;
    let call = given_call(&w).await;
    let completed = complete(&ports(&w), ORG, &call.id, &done(), t(10)).await.unwrap();
    assert_eq!(completed.status, InteractionStatus::Completed);
    let jobs = next_step_jobs(&w);
    assert_eq!(jobs, [NextStepJob { org_id: ORG.into(), interaction_id: call.id.clone() }]);
    // WHEN the job runs twice (SQS delivers at least once)
    let first = create_next_step(w.store(), w.store(), &jobs[0], t(11)).await.unwrap();
    let second = create_next_step(w.store(), w.store(), &jobs[0], t(12)).await.unwrap();
    // THEN one next interaction, linked both ways
    let NextStepOutcome::Created { next_id } = first else { panic!("{first:?}") };
    assert_eq!(second, NextStepOutcome::AlreadyLinked);
    assert_eq!(all_interactions(&w, ORG).await.len(), 2);
    let next = get(w.store(), ORG, &next_id).await.unwrap();
    assert_eq!(next.previous_interaction_id.as_deref(), Some(call.id.as_str()));
    assert_eq!(get(w.store(), ORG, &call.id).await.unwrap().next_interaction_id, Some(next_id));
}

#[tokio::test(start_paused = true)]
async fn completing_twice_is_409_and_requeues_a_next_step_still_owed() {
    let w = World::new().with_channel(None).await;
    let call = given_call(&w).await;
    complete(&ports(&w), ORG, &call.id, &done(), t(10)).await.unwrap();
    next_step_jobs(&w);
    // WHEN the client retries the completion (its first answer was lost)
    assert_conflict(complete(&ports(&w), ORG, &call.id, &done(), t(11)).await, "completed");
    // THEN the owed next step's job is queued again
    let jobs = next_step_jobs(&w);
    assert_eq!(jobs.len(), 1);
    // AND once the next step exists, a further retry queues nothing
    create_next_step(w.store(), w.store(), &jobs[0], t(12)).await.unwrap();
    assert_conflict(complete(&ports(&w), ORG, &call.id, &done(), t(13)).await, "completed");
    assert!(next_step_jobs(&w).is_empty());
}

#[tokio::test(start_paused = true)]
async fn with_the_queue_down_the_completion_stays_and_the_sweep_queues_its_next_step() {
    let w = World::new().with_channel(None).await;
    let call = given_call(&w).await;
    w.outbox().fail_next_send(Error::backend("sqs", "unavailable"));
    assert!(complete(&ports(&w), ORG, &call.id, &done(), t(10)).await.is_err());
    assert_eq!(get(w.store(), ORG, &call.id).await.unwrap().status, InteractionStatus::Completed);
    assert!(next_step_jobs(&w).is_empty());
    // WHEN the sweep runs: too early, then after ten minutes
    assert_eq!(requeue_owed_next_steps(w.store(), w.outbox(), t(15)).await.unwrap(), 0);
    assert_eq!(requeue_owed_next_steps(w.store(), w.outbox(), t(21)).await.unwrap(), 1);
    let jobs = next_step_jobs(&w);
    create_next_step(w.store(), w.store(), &jobs[0], t(22)).await.unwrap();
    // THEN nothing is owed any more
    assert_eq!(requeue_owed_next_steps(w.store(), w.outbox(), t(25)).await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn skipping_through_update_moves_the_workflow_on_once() {
    let w = World::new().with_channel(None).await;
    let call = given_call(&w).await;
    let change = InteractionChange { status: Some(InteractionStatus::Skipped), priority: Some(Priority::High), ..Default::default() };
    let skipped = update(&ports(&w), ORG, &call.id, &change, t(5)).await.unwrap();
    assert_eq!((skipped.status, skipped.priority, skipped.version), (InteractionStatus::Skipped, Priority::High, call.version + 1));
    assert_eq!(next_step_jobs(&w).len(), 1);
    assert_conflict(update(&ports(&w), ORG, &call.id, &change, t(6)).await, "skipped");
    assert!(next_step_jobs(&w).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_interaction_is_closed_and_owes_nothing() {
    let w = World::new().with_channel(None).await;
    let call = given_call(&w).await;
    assert_eq!(cancel(w.store(), ORG, &call.id, t(5)).await.unwrap().status, InteractionStatus::Cancelled);
    assert_conflict(complete(&ports(&w), ORG, &call.id, &done(), t(6)).await, "cancelled");
    assert_conflict(cancel(w.store(), ORG, &call.id, t(6)).await, "cancelled");
    assert!(next_step_jobs(&w).is_empty());
    let job = NextStepJob { org_id: ORG.into(), interaction_id: call.id.clone() };
    assert_eq!(create_next_step(w.store(), w.store(), &job, t(7)).await.unwrap(), NextStepOutcome::Ignored);
}

#[tokio::test(start_paused = true)]
async fn an_edit_losing_once_is_retried_and_losing_always_answers_lost_update() {
    let w = World::new().with_channel(None).await;
    let call = given_call(&w).await;
    w.store().fail_next("save_interaction", Error::LostUpdate("interaction"));
    let change = InteractionChange { title: Some("Call back".into()), ..Default::default() };
    assert_eq!(update(&ports(&w), ORG, &call.id, &change, t(2)).await.unwrap().version, call.version + 1);
    w.keeps_losing("save_interaction", "interaction");
    let out = complete(&ports(&w), ORG, &call.id, &done(), t(3)).await;
    assert!(matches!(out, Err(Error::LostUpdate("interaction"))), "{out:?}");
    assert_eq!(get(w.store(), ORG, &call.id).await.unwrap().status, InteractionStatus::Pending);
    assert!(next_step_jobs(&w).is_empty(), "no job for a completion that was not stored");
}

#[tokio::test(start_paused = true)]
async fn the_starter_templates_are_seeded_once_and_settings_are_validated() {
    let w = World::new();
    let first = templates(w.store(), ORG, t(0)).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(templates(w.store(), ORG, t(1)).await.unwrap(), first);
    assert!(templates(w.store(), OTHER_ORG, t(1)).await.unwrap().iter().all(|tpl| tpl.org_id == OTHER_ORG));
    let mut s = settings(w.store(), ORG).await.unwrap();
    s.default_follow_up_days = 3;
    save_settings(w.store(), ORG, &s, &admin_actor(), t(0)).await.unwrap();
    assert_eq!(settings(w.store(), ORG).await.unwrap().default_follow_up_days, 3);
    s.time_zone = "Mars/Olympus".into();
    assert!(matches!(save_settings(w.store(), ORG, &s, &admin_actor(), t(0)).await, Err(Error::Invalid { .. })));
    assert_eq!(settings(w.store(), ORG).await.unwrap().time_zone, "UTC");
}

// ------------------------------------------------------------------ closing a conversation with an outcome

mod close_with_outcome {
    use super::*;
    use crate::app::conversations::{CloseConversation, close_with_outcome};

    fn with_outcome(outcome: &str) -> CloseConversation {
        CloseConversation { outcome: Some(outcome.into()), outcome_details: Some("wants the proposal".into()) }
    }

    /// GIVEN a conversation and a call tied to it (created at t(1)).
    async fn given_tied_call(w: &World) -> (crate::domain::conversation::Conversation, Interaction) {
        let c = w.given_conversation().await.conversation;
        let mut request = call(&c.customer_id);
        request.conversation_id = Some(c.id.clone());
        let tied = create(&ports(w), &USER, request, None, t(1)).await.unwrap();
        (c, tied)
    }

    #[tokio::test(start_paused = true)]
    async fn closing_with_an_outcome_completes_the_tied_interaction_and_its_next_step_follows_once() {
        let w = World::new().with_channel(None).await;
        let (c, tied) = given_tied_call(&w).await;
        let closed = close_with_outcome(w.store(), &w.deps.routing_ports(), &ports(&w), ORG, &c.id, &with_outcome("success"), t(5)).await.unwrap();
        assert_eq!(closed.conversation.status, crate::domain::conversation::ConversationStatus::Closed);
        let done = closed.completed.expect("the tied interaction is completed");
        assert_eq!((done.id.as_str(), done.status, done.outcome.as_deref(), done.completed_at), (tied.id.as_str(), InteractionStatus::Completed, Some("success"), Some(t(5))));
        // The next step, as after any completion: one job, one next interaction, tied to the same conversation.
        let jobs = next_step_jobs(&w);
        assert_eq!(jobs.len(), 1);
        let NextStepOutcome::Created { next_id } = create_next_step(w.store(), w.store(), &jobs[0], t(6)).await.unwrap() else { panic!("a next step") };
        let next = get(w.store(), ORG, &next_id).await.unwrap();
        assert_eq!((next.status, next.conversation_id.as_deref()), (InteractionStatus::Pending, Some(c.id.as_str())));

        // Closing again (a retry, a double click) completes nothing: not the next step either.
        let linked = get(w.store(), ORG, &tied.id).await.unwrap();
        let again = close_with_outcome(w.store(), &w.deps.routing_ports(), &ports(&w), ORG, &c.id, &with_outcome("success"), t(7)).await.unwrap();
        assert!(again.completed.is_none());
        assert!(next_step_jobs(&w).is_empty());
        assert_eq!(get(w.store(), ORG, &next_id).await.unwrap().status, InteractionStatus::Pending);
        assert_eq!(get(w.store(), ORG, &tied.id).await.unwrap(), linked, "completed once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_the_close_alone_succeeded_completes_the_interaction() {
        let w = World::new().with_channel(None).await;
        let (c, tied) = given_tied_call(&w).await;
        // The first attempt closed the conversation and failed before the completion.
        crate::app::conversations::close(w.store(), &w.deps.routing_ports(), ORG, &c.id, t(5)).await.unwrap();
        let retried = close_with_outcome(w.store(), &w.deps.routing_ports(), &ports(&w), ORG, &c.id, &with_outcome("no_answer"), t(6)).await.unwrap();
        assert_eq!(retried.completed.map(|i| i.id), Some(tied.id));
    }

    #[tokio::test(start_paused = true)]
    async fn a_bad_outcome_is_refused_before_anything_is_closed() {
        let w = World::new().with_channel(None).await;
        let (c, tied) = given_tied_call(&w).await;
        for (request, field) in [
            (with_outcome("  "), "outcome"),
            (with_outcome(&"x".repeat(101)), "outcome"),
            (CloseConversation { outcome: None, outcome_details: Some("why".into()) }, "outcome_details"),
        ] {
            let out = close_with_outcome(w.store(), &w.deps.routing_ports(), &ports(&w), ORG, &c.id, &request, t(5)).await;
            assert!(matches!(&out, Err(Error::Invalid { field: f, .. }) if f == field), "{out:?}");
        }
        assert!(crate::app::conversations::get(w.store(), ORG, &c.id).await.unwrap().status.is_open());
        assert_eq!(get(w.store(), ORG, &tied.id).await.unwrap().status, InteractionStatus::Pending);
        // Without an outcome it closes alone; another organisation's conversation is 404.
        assert_not_found(close_with_outcome(w.store(), &w.deps.routing_ports(), &ports(&w), OTHER_ORG, &c.id, &with_outcome("success"), t(5)).await, "conversation");
        let closed = close_with_outcome(w.store(), &w.deps.routing_ports(), &ports(&w), ORG, &c.id, &CloseConversation::default(), t(5)).await.unwrap();
        assert!(closed.completed.is_none());
        assert_eq!(get(w.store(), ORG, &tied.id).await.unwrap().status, InteractionStatus::Pending);
    }

    #[tokio::test(start_paused = true)]
    async fn an_interaction_of_another_conversation_is_left_alone() {
        let w = World::new().with_channel(None).await;
        let c = w.given_conversation().await.conversation;
        let untied = create(&ports(&w), &USER, call(&c.customer_id), None, t(1)).await.unwrap();
        let closed = close_with_outcome(w.store(), &w.deps.routing_ports(), &ports(&w), ORG, &c.id, &with_outcome("success"), t(5)).await.unwrap();
        assert!(closed.completed.is_none());
        assert_eq!(get(w.store(), ORG, &untied.id).await.unwrap().status, InteractionStatus::Pending);
    }
}
