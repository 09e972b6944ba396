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

// ------------------------------------------------------------------ bulk

mod bulk {
    use super::*;
    use crate::app::interactions::{BulkItemResult, BulkOp, BulkRequest, bulk};

    fn request(op: BulkOp, ids: &[&str]) -> BulkRequest {
        BulkRequest { op, ids: ids.iter().map(|i| i.to_string()).collect(), assignee_id: None, scheduled_at: None, due_at: None }
    }

    fn invalid_field(out: Result<impl std::fmt::Debug, Error>) -> String {
        match out {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    /// Three calls of one customer: open, completed, open.
    async fn given_calls(w: &World) -> [Interaction; 3] {
        let a = given_call(w).await;
        let b = create(&ports(w), &USER, call(&a.customer_id), None, t(1)).await.unwrap();
        let c = create(&ports(w), &USER, call(&a.customer_id), None, t(1)).await.unwrap();
        complete(&ports(w), ORG, &b.id, &done(), t(2)).await.unwrap();
        next_step_jobs(w);
        [a, b, c]
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_reports_each_item_in_order_and_does_the_open_ones() {
        let w = World::new().with_channel(None).await;
        let [a, b, c] = given_calls(&w).await;
        let out = bulk(&ports(&w), ORG, &request(BulkOp::Cancel, &[&c.id, "01JUNKNOWN0000000000000000", &b.id, &a.id]), t(5)).await.unwrap();
        let [first, unknown, completed, last] = out.results.as_slice() else { panic!("{out:?}") };
        for (result, id) in [(first, &c.id), (last, &a.id)] {
            let BulkItemResult::Ok { id: got, interaction } = result else { panic!("{result:?}") };
            assert_eq!((got, interaction.status, interaction.cancelled_at), (id, InteractionStatus::Cancelled, Some(t(5))));
            assert_eq!(get(w.store(), ORG, id).await.unwrap().status, InteractionStatus::Cancelled);
        }
        assert_eq!(unknown, &BulkItemResult::NotFound { id: "01JUNKNOWN0000000000000000".into() });
        let BulkItemResult::Conflict { id, current_status, .. } = completed else { panic!("{completed:?}") };
        assert_eq!((id, current_status.as_deref()), (&b.id, Some("completed")));
        assert_eq!(get(w.store(), ORG, &b.id).await.unwrap().status, InteractionStatus::Completed, "left as it was");
        assert_eq!((out.succeeded, out.failed), (2, 2));
        assert!(next_step_jobs(&w).is_empty(), "a cancel owes no next step");
    }

    #[tokio::test(start_paused = true)]
    async fn another_organisations_interactions_are_not_found_and_left_alone() {
        let w = World::new().with_channel(None).await;
        let [a, _, c] = given_calls(&w).await;
        let out = bulk(&ports(&w), OTHER_ORG, &request(BulkOp::Cancel, &[&a.id, &c.id]), t(5)).await.unwrap();
        assert_eq!(out.results, [BulkItemResult::NotFound { id: a.id.clone() }, BulkItemResult::NotFound { id: c.id.clone() }]);
        assert_eq!((out.succeeded, out.failed), (0, 2));
        assert_eq!(get(w.store(), ORG, &a.id).await.unwrap(), a);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reschedule_moves_each_as_its_put_would_and_plans_the_reminders_again() {
        let w = World::new().with_channel(None).await;
        let [a, b, c] = given_calls(&w).await;
        // a and c: scheduled t(60), due t(120). Moved to t(300): due moves with it (same window).
        let mut moving = request(BulkOp::Reschedule, &[&a.id, &b.id, &c.id]);
        moving.scheduled_at = Some(t(300));
        let out = bulk(&ports(&w), ORG, &moving, t(5)).await.unwrap();
        for id in [&a.id, &c.id] {
            let stored = get(w.store(), ORG, id).await.unwrap();
            assert_eq!((stored.scheduled_at, stored.due_at), (t(300), t(360)));
            assert_eq!(stored.remind_at, Some(t(285)), "the default 15 minutes before the new time");
            assert_eq!(stored.alert_check_at(), Some(t(285)), "the deadline index moves with it");
        }
        assert!(matches!(&out.results[1], BulkItemResult::Conflict { current_status: Some(s), .. } if s == "completed"), "{out:?}");
        // A deadline alone before one interaction's start is that item's 422, not the request's.
        let d = create(&ports(&w), &USER, NewInteraction { scheduled_at: Some(t(500)), due_at: Some(t(600)), ..call(&a.customer_id) }, None, t(6)).await.unwrap();
        let mut deadline = request(BulkOp::Reschedule, &[&a.id, &d.id]);
        deadline.due_at = Some(t(400));
        let out = bulk(&ports(&w), ORG, &deadline, t(7)).await.unwrap();
        assert!(out.results[0].is_ok(), "{out:?}");
        assert!(matches!(&out.results[1], BulkItemResult::Invalid { id, field, .. } if id == &d.id && field == "due_at"), "{out:?}");
        assert_eq!(get(w.store(), ORG, &d.id).await.unwrap().due_at, t(600));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reassign_names_the_new_assignee_or_nobody() {
        let w = World::new().with_channel(None).await;
        let [a, _, c] = given_calls(&w).await;
        let mut to_bea = request(BulkOp::Reassign, &[&a.id, &c.id]);
        to_bea.assignee_id = Some(Some("agent-bea".into()));
        assert_eq!(bulk(&ports(&w), ORG, &to_bea, t(5)).await.unwrap().succeeded, 2);
        assert_eq!(get(w.store(), ORG, &c.id).await.unwrap().assignee_id.as_deref(), Some("agent-bea"));
        let mut to_nobody = request(BulkOp::Reassign, &[&a.id]);
        to_nobody.assignee_id = Some(None);
        assert_eq!(bulk(&ports(&w), ORG, &to_nobody, t(6)).await.unwrap().succeeded, 1);
        assert_eq!(get(w.store(), ORG, &a.id).await.unwrap().assignee_id, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_backend_failure_is_that_items_result() {
        let w = World::new().with_channel(None).await;
        let [a, ..] = given_calls(&w).await;
        w.store().fail_next("save_interaction", Error::backend("dynamodb", "unavailable"));
        let out = bulk(&ports(&w), ORG, &request(BulkOp::Cancel, &[&a.id]), t(5)).await.unwrap();
        assert!(matches!(&out.results[..], [BulkItemResult::Failed { id, .. }] if id == &a.id), "{out:?}");
        assert_eq!(out.failed, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_request_is_refused_whole_when_its_ids_or_fields_do_not_fit_the_operation() {
        let w = World::new().with_channel(None).await;
        let [a, _, c] = given_calls(&w).await;
        let many: Vec<String> = (0..101).map(|i| format!("01JUNKNOWN{i:016}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(invalid_field(bulk(&ports(&w), ORG, &request(BulkOp::Cancel, &many), t(5)).await), "ids");
        assert_eq!(invalid_field(bulk(&ports(&w), ORG, &request(BulkOp::Cancel, &[]), t(5)).await), "ids");
        assert_eq!(invalid_field(bulk(&ports(&w), ORG, &request(BulkOp::Cancel, &[&a.id, &c.id, &a.id]), t(5)).await), "ids[2]");
        assert_eq!(invalid_field(bulk(&ports(&w), ORG, &request(BulkOp::Cancel, &[&a.id, "x#y"]), t(5)).await), "ids[1]");
        assert_eq!(invalid_field(bulk(&ports(&w), ORG, &request(BulkOp::Reassign, &[&a.id]), t(5)).await), "assignee_id");
        assert_eq!(invalid_field(bulk(&ports(&w), ORG, &request(BulkOp::Reschedule, &[&a.id]), t(5)).await), "scheduled_at");
        let mut backwards = request(BulkOp::Reschedule, &[&a.id]);
        (backwards.scheduled_at, backwards.due_at) = (Some(t(300)), Some(t(200)));
        assert_eq!(invalid_field(bulk(&ports(&w), ORG, &backwards, t(5)).await), "due_at");
        let mut cancel_with_time = request(BulkOp::Cancel, &[&a.id]);
        cancel_with_time.scheduled_at = Some(t(300));
        assert_eq!(invalid_field(bulk(&ports(&w), ORG, &cancel_with_time, t(5)).await), "scheduled_at");
        // 100 is allowed: each unknown one is reported.
        let out = bulk(&ports(&w), ORG, &request(BulkOp::Cancel, &many[..100]), t(5)).await.unwrap();
        assert_eq!((out.results.len(), out.failed), (100, 100));
        // Nothing of the refused requests was done.
        assert_eq!(get(w.store(), ORG, &a.id).await.unwrap(), a);
    }
}

// ------------------------------------------------------------------ statistics

mod stats {
    use super::*;
    use crate::app::interaction_alerts::run_scheduler;
    use crate::app::interactions::stats;
    use crate::domain::interaction_stats::{GroupStats, StatsGroupBy};

    fn day(n: u32) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2025, 6, n).unwrap()
    }

    /// `(group, created, completed, overdue)` of each group.
    async fn counts(w: &World, org: &str, by: StatsGroupBy, from: u32, to: u32) -> Vec<(Option<String>, u64, u64, u64)> {
        let report = stats(w.store(), org, by, day(from), day(to)).await.unwrap();
        assert_eq!((report.from, report.to, report.group_by), (day(from), day(to), by));
        report.groups.iter().map(|g| (g.group.clone(), g.created, g.completed, g.overdue)).collect()
    }

    fn g(name: &str) -> Option<String> {
        Some(name.into())
    }

    async fn group(w: &World, by: StatsGroupBy, from: u32, to: u32, name: &str) -> GroupStats {
        let report = stats(w.store(), ORG, by, day(from), day(to)).await.unwrap();
        report.groups.into_iter().find(|x| x.group.as_deref() == Some(name)).unwrap_or_else(|| panic!("no group {name}"))
    }

    /// GIVEN on 9 June (t(0) is 09:00 UTC): a call (agent-1), a call assigned to agent-2 and an
    /// email (agent-1), each scheduled at t(60) and due at t(120), created at t(1); the first
    /// call completed 30 minutes after it was created, the second the next day; the scheduler
    /// fired at the reminders and after the deadline.
    async fn given_a_day_of_work(w: &World) -> [Interaction; 3] {
        let customer = w.given_conversation().await.conversation.customer_id;
        let key = request_key("req-a", "a call");
        let a = create(&ports(w), &USER, call(&customer), Some(&key), t(1)).await.unwrap();
        // The same request again (a client's retry) is not a second creation.
        create(&ports(w), &USER, call(&customer), Some(&key), t(1)).await.unwrap();
        let b = create(&ports(w), &USER, NewInteraction { assignee_id: Some("agent-2".into()), ..call(&customer) }, None, t(1)).await.unwrap();
        let email = NewInteraction { kind: InteractionType::new("email").unwrap(), ..call(&customer) };
        let c = create(&ports(w), &USER, email, None, t(1)).await.unwrap();
        complete(&ports(w), ORG, &a.id, &done(), t(31)).await.unwrap();
        for at in [t(45), t(121), t(121)] {
            run_scheduler(w.store(), at).await.unwrap();
        }
        complete(&ports(w), ORG, &b.id, &done(), t(24 * 60 + 1)).await.unwrap();
        [a, b, c]
    }

    #[tokio::test(start_paused = true)]
    async fn creations_completions_and_overdue_alerts_are_counted_per_group_and_day() {
        let w = World::new().with_channel(None).await;
        given_a_day_of_work(&w).await;
        // The first day: three created, one completed, the two still open then overdue (once,
        // though the scheduler fired twice after the deadline).
        assert_eq!(counts(&w, ORG, StatsGroupBy::Type, 9, 9).await, [(g("email"), 1, 0, 1), (g("phone_call"), 2, 1, 1)]);
        assert_eq!(counts(&w, ORG, StatsGroupBy::Assignee, 9, 9).await, [(g("agent-1"), 2, 1, 1), (g("agent-2"), 1, 0, 1)]);
        assert_eq!(counts(&w, ORG, StatsGroupBy::Template, 9, 9).await, [(None, 3, 1, 2)]);
        // The second day holds the late completion alone; both days add up.
        assert_eq!(counts(&w, ORG, StatsGroupBy::Type, 10, 10).await, [(g("phone_call"), 0, 1, 0)]);
        assert_eq!(counts(&w, ORG, StatsGroupBy::Type, 9, 10).await, [(g("email"), 1, 0, 1), (g("phone_call"), 2, 2, 1)]);
        assert!(counts(&w, ORG, StatsGroupBy::Type, 11, 30).await.is_empty());
        assert!(counts(&w, OTHER_ORG, StatsGroupBy::Type, 1, 30).await.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_to_complete_is_read_from_the_histogram() {
        let w = World::new().with_channel(None).await;
        given_a_day_of_work(&w).await;
        let within = |got: Option<u64>, exact: f64| {
            let got = got.expect("a time") as f64;
            assert!((got - exact).abs() <= exact * crate::domain::histogram::RELATIVE_ERROR, "{got} for {exact}");
        };
        let first_day = group(&w, StatsGroupBy::Type, 9, 9, "phone_call").await;
        within(first_day.median_seconds_to_complete, 1800.0);
        // 30 minutes and a day: the median is the smaller (nearest rank), the p90 the larger.
        let both = group(&w, StatsGroupBy::Type, 9, 10, "phone_call").await;
        within(both.median_seconds_to_complete, 1800.0);
        within(both.p90_seconds_to_complete, 1440.0 * 60.0);
        assert_eq!(group(&w, StatsGroupBy::Type, 9, 10, "email").await.median_seconds_to_complete, None, "nothing completed");
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_step_counts_as_created_and_its_link_counts_nothing() {
        let w = World::new().with_channel(None).await;
        let [a, ..] = given_a_day_of_work(&w).await;
        let jobs: Vec<_> = next_step_jobs(&w).into_iter().filter(|j| j.interaction_id == a.id).collect();
        for _ in 0..2 {
            create_next_step(w.store(), w.store(), &jobs[0], t(32)).await.unwrap();
        }
        // The follow-up (outside any template, the assignee kept): created once.
        assert_eq!(counts(&w, ORG, StatsGroupBy::Type, 9, 9).await, [(g("email"), 1, 0, 1), (g("follow_up"), 1, 0, 0), (g("phone_call"), 2, 1, 1)]);
        assert_eq!(counts(&w, ORG, StatsGroupBy::Assignee, 9, 9).await[0], (g("agent-1"), 3, 1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_range_is_at_most_366_days_and_not_backwards() {
        let w = World::new();
        for (from, to) in [(day(10), day(9)), (day(9) - chrono::Duration::days(366), day(9))] {
            match stats(w.store(), ORG, StatsGroupBy::Type, from, to).await {
                Err(Error::Invalid { field, .. }) => assert_eq!(field, "from"),
                other => panic!("{from}..{to}: {other:?}"),
            }
        }
        assert!(stats(w.store(), ORG, StatsGroupBy::Type, day(9) - chrono::Duration::days(365), day(9)).await.is_ok());
    }
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
