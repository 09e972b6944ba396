//! `app::sla` on the memory adapter with the clock injected: a conversation's first message fixes
//! its policy and starts its clocks (business time from its team's hours), the deadline index
//! holds it at the next step's minute, the scheduler takes warning, breach and escalation once
//! each whatever how often it runs, a reply before the deadline leaves nothing to fire, and a
//! conversation without a policy is never in the index.

use super::*;
use crate::app::delivery::{NewReply, queue_reply};
use crate::app::sla::{SchedulerRun, SlaPorts, create, run_scheduler};
use crate::app::teams;
use crate::domain::business_hours::{OpenWindow, WeeklyHours};
use crate::domain::conversation::{Conversation, ConversationStatus};
use crate::domain::message::{Sender, SenderType};
use crate::domain::outbound::OutboundContent;
use crate::domain::sla::{CountedIn, Escalation, Priority, SlaMetric, SlaPolicyInput, SlaTargets};
use crate::domain::team::{BusinessHoursInput, TeamInput};
use crate::ports::{ConversationStore, ConversationFilter, PageRequest, SlaStore};

/// Friday 13 June 2025 (the fixtures' week), UTC.
fn friday(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 13, h, m, 0).unwrap()
}

fn monday(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 16, h, m, 0).unwrap()
}

fn ports(w: &World) -> SlaPorts<'_> {
    w.deps.sla_ports()
}

/// Moves the injected clock to `at`.
fn clock_at(w: &World, at: DateTime<Utc>) {
    let now = w.deps.clock.now();
    w.mem.clock.advance(at - now);
}

/// GIVEN a team open Monday to Friday 9–17 UTC, the default team of the organisation's number,
/// and a policy for it: first response in an hour of business time (warning at 80 %), escalation
/// 10 minutes over: priority up, to `escalate_to`'s queue.
async fn given_team_with_policy(w: &World, counted_in: CountedIn) -> (String, String, String) {
    let store = &*w.deps.store;
    let team = teams::create(store, ORG, TeamInput { name: "Billing".into(), description: None, auto_assign: false, after_hours_reply: None }, &admin_actor(), t(0)).await.unwrap();
    let escalate_to = teams::create(store, ORG, TeamInput { name: "Supervisors".into(), description: None, auto_assign: false, after_hours_reply: None }, &admin_actor(), t(0)).await.unwrap();
    let hours = BusinessHoursInput {
        time_zone: "UTC".into(),
        weekly: WeeklyHours::weekdays(&[OpenWindow::new("09:00", "17:00")]),
        holidays: vec![],
        exceptions: vec![],
        version: 0,
    };
    teams::save_business_hours(store, ORG, &team.id, &hours, &admin_actor(), t(0)).await.unwrap();
    let mut channel = w.store().channel_by_number(NUMBER).await.unwrap().unwrap();
    channel.default_team_id = Some(team.id.clone());
    w.store().put_channel(&channel, None).await.unwrap();
    let policy = create(
        &ports(w),
        ORG,
        SlaPolicyInput {
            name: "Billing first response".into(),
            team_id: Some(team.id.clone()),
            priority: None,
            targets: SlaTargets { first_response_seconds: Some(3600), next_response_seconds: Some(1800), resolution_seconds: None },
            counted_in,
            warning_percent: 80,
            escalation: Some(Escalation { after_seconds: 600, raise_priority: true, reassign_to_agent: None, reassign_to_team: Some(escalate_to.id.clone()), notify: true }),
        },
        &admin_actor(),
        t(0),
    )
    .await
    .unwrap();
    (team.id, escalate_to.id, policy.id)
}

async fn conversation(w: &World, id: &str) -> Conversation {
    w.store().conversation(ORG, id).await.unwrap().unwrap()
}

async fn run_at(w: &World, at: DateTime<Utc>) -> SchedulerRun {
    clock_at(w, at);
    run_scheduler(&ports(w), at).await.unwrap()
}

/// The SLA events of the organisation's feed, as `(kind, metric, target, actual)`.
async fn sla_events(w: &World) -> Vec<(String, String, i64, i64)> {
    w.events(ORG)
        .await
        .into_iter()
        .filter(|e| e.kind.as_str().starts_with("sla."))
        .map(|e| {
            (
                e.kind.as_str().to_string(),
                e.data["metric"].as_str().unwrap_or_default().to_string(),
                e.data["target_seconds"].as_i64().unwrap_or_default(),
                e.data["actual_seconds"].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_message_friday_at_16_30_is_due_monday_at_09_30_in_the_deadline_index() {
    let w = World::new().with_channel(None).await;
    let (team, _, policy) = given_team_with_policy(&w, CountedIn::BusinessHours).await;
    clock_at(&w, friday(16, 30));
    let received = w.receive_text(CUSTOMER, "wamid.fri", "my invoice is wrong", friday(16, 30)).await;
    let c = conversation(&w, &received[0].conversation.id).await;
    // The channel's default team put it in that team's queue, under the team's policy.
    assert_eq!((c.team_id.as_deref(), c.status, c.sla_policy_id.as_deref()), (Some(team.as_str()), ConversationStatus::Queued, Some(policy.as_str())));
    let frt = c.sla.as_ref().unwrap().frt.clone().unwrap();
    // An hour of business time: 30 minutes on Friday, 30 on Monday; the warning at 48 minutes.
    assert_eq!((frt.clock.warn_at, frt.clock.due_at, frt.clock.escalate_at), (monday(9, 18), monday(9, 30), Some(monday(9, 40))));
    assert_eq!(c.first_message_at, Some(friday(16, 30)));
    assert_eq!(c.waiting_since, Some(friday(16, 30)));
    // The index holds it at the warning's minute, and nowhere before.
    let due = w.store().sla_due(monday(9, 18), monday(9, 18)).await.unwrap();
    assert_eq!(due.iter().map(|d| d.conversation_id.as_str()).collect::<Vec<_>>(), [c.id.as_str()]);
    assert!(w.store().sla_due(friday(16, 30), friday(23, 59)).await.unwrap().is_empty());
    // The team's queue lists it.
    let filter = ConversationFilter { status: Some(ConversationStatus::Queued), team_id: Some(team.clone()), ..Default::default() };
    let queue = w.store().conversations(ORG, &filter, &PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert_eq!(queue.items.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn warning_breach_and_escalation_each_happen_once_however_often_the_scheduler_runs() {
    let w = World::new().with_channel(None).await;
    let (_, supervisors, _) = given_team_with_policy(&w, CountedIn::BusinessHours).await;
    clock_at(&w, friday(16, 30));
    let id = w.receive_text(CUSTOMER, "wamid.fri", "my invoice is wrong", friday(16, 30)).await[0].conversation.id.clone();
    // Friday evening and Monday before 09:18: nothing is due.
    let quiet = run_at(&w, friday(17, 0)).await;
    assert_eq!((quiet.warnings, quiet.breaches, quiet.escalations), (0, 0, 0));
    assert_eq!(run_at(&w, monday(9, 17)).await.warnings, 0);
    // WHEN the scheduler runs at the warning, twice.
    assert_eq!(run_at(&w, monday(9, 18)).await.warnings, 1);
    assert_eq!(run_at(&w, monday(9, 18) + Duration::seconds(30)).await.warnings, 0);
    // THEN at the breach and past it.
    assert_eq!(run_at(&w, monday(9, 30)).await.breaches, 1);
    assert_eq!(run_at(&w, monday(9, 31)).await.breaches, 0);
    let c = conversation(&w, &id).await;
    let sla = c.sla.clone().unwrap();
    assert_eq!(sla.violations.len(), 1);
    assert_eq!((sla.violations[0].metric, sla.violations[0].target_seconds, sla.violations[0].actual_seconds), (SlaMetric::Frt, 3600, 3600));
    // The escalation: priority up, moved to the supervisors' queue, once.
    assert_eq!(run_at(&w, monday(9, 40)).await.escalations, 1);
    assert_eq!(run_at(&w, monday(9, 45)).await.escalations, 0);
    let c = conversation(&w, &id).await;
    assert_eq!((c.priority, c.team_id.as_deref(), c.status), (Priority::High, Some(supervisors.as_str()), ConversationStatus::Queued));
    assert!(w.store().sla_due(monday(9, 45), monday(23, 0)).await.unwrap().is_empty(), "nothing more is owed by the first response");
    assert_eq!(
        sla_events(&w).await,
        [
            ("sla.warning".to_string(), "frt".to_string(), 3600, 2880),
            ("sla.breached".to_string(), "frt".to_string(), 3600, 3600),
            ("sla.escalated".to_string(), "frt".to_string(), 3600, 4200),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_late_run_warns_then_breaches_in_one_write() {
    let w = World::new().with_channel(None).await;
    given_team_with_policy(&w, CountedIn::Calendar).await;
    clock_at(&w, t(0));
    w.receive_text(CUSTOMER, "wamid.1", "hello", t(0)).await;
    assert_eq!(run_at(&w, t(1)).await.warnings, 0);
    // The scheduler was away for an hour: from its cursor it finds the warning (48) and the
    // breach (60) together.
    let run = run_at(&w, t(61)).await;
    assert_eq!((run.warnings, run.breaches, run.escalations), (1, 1, 0));
    assert_eq!(sla_events(&w).await.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["sla.warning", "sla.breached"]);
}

#[tokio::test(start_paused = true)]
async fn a_reply_before_the_deadline_stops_the_clock_and_the_scheduler_finds_nothing() {
    let w = World::new().with_channel(None).await;
    given_team_with_policy(&w, CountedIn::Calendar).await;
    clock_at(&w, t(0));
    let c = w.receive_text(CUSTOMER, "wamid.1", "hello", t(0)).await[0].conversation.clone();
    // An agent answers after 10 minutes.
    clock_at(&w, t(10));
    let reply = NewReply {
        org_id: ORG,
        conversation_id: &c.id,
        content: OutboundContent::text("Let me check"),
        sender: Sender { kind: SenderType::Agent, id: Some("agent-1".into()), name: None },
        idempotency_key: None,
        now: t(10),
        just_read: None,
    };
    queue_reply(w.store(), w.store(), w.outbox(), reply).await.unwrap();
    let c = conversation(&w, &c.id).await;
    let frt = c.sla.as_ref().unwrap().frt.clone().unwrap();
    assert_eq!((frt.stopped_at, frt.met, c.first_response_at, c.waiting_since), (Some(t(10)), Some(true), Some(t(10)), None));
    // No index entry is left: every later minute is empty, and runs fire nothing.
    for minute in [48, 60, 70] {
        assert!(w.store().sla_due(t(minute), t(minute)).await.unwrap().is_empty());
        let run = run_at(&w, t(minute)).await;
        assert_eq!((run.due, run.warnings, run.breaches), (0, 0, 0));
    }
    assert!(sla_events(&w).await.is_empty());
    // The customer writes again: the next-response clock starts (30 minutes).
    clock_at(&w, t(20));
    w.receive_text(CUSTOMER, "wamid.2", "any news?", t(20)).await;
    let nrt = conversation(&w, &c.id).await.sla.unwrap().nrt.unwrap();
    assert_eq!((nrt.clock.started_at, nrt.clock.due_at), (t(20), t(50)));
}

#[tokio::test(start_paused = true)]
async fn a_conversation_without_a_policy_is_never_in_the_index() {
    let w = World::new().with_channel(None).await;
    clock_at(&w, t(0));
    let c = w.receive_text(CUSTOMER, "wamid.1", "hello", t(0)).await[0].conversation.clone();
    let c = conversation(&w, &c.id).await;
    // No team: open as before teams existed; no policy, no clocks.
    assert_eq!((c.status, c.sla_policy_id.clone(), c.sla.is_none()), (ConversationStatus::Open, None, true));
    assert_eq!(c.first_message_at, Some(t(0)));
    assert_eq!(run_at(&w, t(600)).await, SchedulerRun { minutes: 2, ..Default::default() });
}

#[tokio::test(start_paused = true)]
async fn a_new_team_or_priority_evaluates_the_policy_again() {
    let w = World::new().with_channel(None).await;
    clock_at(&w, t(0));
    let c = w.receive_text(CUSTOMER, "wamid.1", "hello", t(0)).await[0].conversation.clone();
    let (team, _, policy) = given_team_with_policy(&w, CountedIn::Calendar).await;
    let edit = crate::app::conversations::ConversationEdit { team_id: Some(Some(team.clone())), priority: Some(Priority::Urgent), required_skills: Some(vec!["Billing".into()]) };
    let c = crate::app::conversations::update(&ports(&w), &w.deps.routing_ports(), ORG, &c.id, &edit, t(5)).await.unwrap();
    // The team's policy now applies, its clock from the first message.
    assert_eq!((c.sla_policy_id.as_deref(), c.status, c.required_skills.clone()), (Some(policy.as_str()), ConversationStatus::Queued, vec!["billing".to_string()]));
    assert_eq!(c.sla.as_ref().unwrap().frt.as_ref().unwrap().clock.due_at, t(60));
    // An unknown team is refused naming the field; another organisation's conversation is 404.
    let bad = crate::app::conversations::ConversationEdit { team_id: Some(Some("nope".into())), ..Default::default() };
    assert!(matches!(crate::app::conversations::update(&ports(&w), &w.deps.routing_ports(), ORG, &c.id, &bad, t(6)).await, Err(Error::Invalid { ref field, .. }) if field == "team_id"));
    let urgent = crate::app::conversations::ConversationEdit { priority: Some(Priority::Low), ..Default::default() };
    assert!(matches!(crate::app::conversations::update(&ports(&w), &w.deps.routing_ports(), OTHER_ORG, &c.id, &urgent, t(6)).await, Err(Error::NotFound(_))));
    // Clearing the team clears the policy: nothing left in the index.
    let none = crate::app::conversations::ConversationEdit { team_id: Some(None), ..Default::default() };
    let c = crate::app::conversations::update(&ports(&w), &w.deps.routing_ports(), ORG, &c.id, &none, t(7)).await.unwrap();
    assert_eq!((c.status, c.sla.is_none()), (ConversationStatus::Open, true));
    assert!(w.store().sla_due(t(48), t(48)).await.unwrap().is_empty());
}

/// An agent of the team answers the conversation at `at`.
async fn agent_answers(w: &World, conversation_id: &str, at: DateTime<Utc>) {
    clock_at(w, at);
    let reply = NewReply {
        org_id: ORG,
        conversation_id,
        content: OutboundContent::text("On it"),
        sender: Sender { kind: SenderType::Agent, id: Some("agent-1".into()), name: None },
        idempotency_key: None,
        now: at,
        just_read: None,
    };
    queue_reply(w.store(), w.store(), w.outbox(), reply).await.unwrap();
}

/// Within the histogram's bound (`domain::histogram`: 11.8 %).
fn about(seconds: Option<u64>, exact: u64) -> bool {
    seconds.is_some_and(|s| (s as f64 - exact as f64).abs() <= exact as f64 * 0.12)
}

#[tokio::test(start_paused = true)]
async fn compliance_counts_each_first_response_once_met_or_missed_with_median_p90_and_violations() {
    // GIVEN the team's policy (first response in 60 minutes, calendar time) and three customers
    // writing at once.
    let w = World::new().with_channel(None).await;
    let (team, _, _) = given_team_with_policy(&w, CountedIn::Calendar).await;
    clock_at(&w, t(0));
    let answered_in_time = w.receive_text(CUSTOMER, "wamid.a", "hello", t(0)).await[0].conversation.id.clone();
    let breached = w.receive_text("16505550002", "wamid.b", "hello", t(0)).await[0].conversation.id.clone();
    let answered_late = w.receive_text("16505550003", "wamid.c", "hello", t(0)).await[0].conversation.id.clone();
    // (The scheduler's first run sets its cursor.)
    run_at(&w, t(1)).await;
    // WHEN one is answered after 10 minutes, one at its deadline (before any scheduler run), and
    // the last breached by the scheduler (run twice) and answered 5 minutes after.
    agent_answers(&w, &answered_in_time, t(10)).await;
    agent_answers(&w, &answered_late, t(60)).await;
    assert_eq!(run_at(&w, t(61)).await.breaches, 1);
    assert_eq!(run_at(&w, t(62)).await.breaches, 0);
    agent_answers(&w, &breached, t(65)).await;

    // THEN the team's first response: 1 met, 2 missed (each once), three answer times.
    let day = t(0).date_naive();
    let store = &*w.deps.store;
    let report = crate::app::sla::compliance(store, store, ORG, Some(&team), day, day).await.unwrap();
    assert_eq!(report.teams.len(), 1);
    let figures = &report.teams[0];
    assert_eq!(figures.team_id.as_deref(), Some(team.as_str()));
    assert_eq!(figures.metrics.len(), 1, "{figures:?}");
    let frt = &figures.metrics[0];
    assert_eq!((frt.metric, frt.met, frt.missed, frt.compliance_percent, frt.answered), (SlaMetric::Frt, 1, 2, Some(33.3), 3));
    // 600, 3600 and 3900 seconds: the median is the second, the p90 the third.
    assert!(about(frt.median_seconds, 3600) && about(frt.p90_seconds, 3900), "{frt:?}");
    // Both misses are listed, the breach's and the late answer's, the latest deadline first.
    let mut listed: Vec<&str> = figures.violations.iter().map(|v| v.conversation_id.as_str()).collect();
    listed.sort_unstable();
    let mut expected = vec![breached.as_str(), answered_late.as_str()];
    expected.sort_unstable();
    assert_eq!(listed, expected);
    assert!(figures.violations.iter().all(|v| v.violation.metric == SlaMetric::Frt && v.violation.target_seconds == 3600));
    assert!(!figures.violations_truncated);

    // Every team: the same team, and no empty ones (the supervisors' team counted nothing).
    let all = crate::app::sla::compliance(store, store, ORG, None, day, day).await.unwrap();
    assert_eq!(all.teams.iter().map(|t| t.team_id.clone()).collect::<Vec<_>>(), vec![Some(team.clone())]);
    // Days outside the range count nothing.
    let before = crate::app::sla::compliance(store, store, ORG, Some(&team), day.pred_opt().unwrap(), day.pred_opt().unwrap()).await.unwrap();
    assert!(before.teams[0].metrics.is_empty() && before.teams[0].violations.is_empty());
    // A range over 92 days names `to`; another organisation's team is not found.
    let far = day + Duration::days(92);
    assert!(matches!(crate::app::sla::compliance(store, store, ORG, Some(&team), day, far).await, Err(Error::Invalid { ref field, .. }) if field == "to"));
    assert!(matches!(crate::app::sla::compliance(store, store, OTHER_ORG, Some(&team), day, day).await, Err(Error::NotFound(_))));
}

/// The system messages (after-hours replies) queued in a conversation, oldest first.
async fn after_hours_replies(w: &World, conversation_id: &str) -> Vec<String> {
    let page = w.store().messages(ORG, conversation_id, &PageRequest { limit: 50, cursor: None }, false).await.unwrap();
    page.items.into_iter().filter(|m| m.sender.kind == SenderType::System).filter_map(|m| m.text).collect()
}

#[tokio::test(start_paused = true)]
async fn a_closed_team_answers_once_per_closed_period_with_its_next_opening() {
    // GIVEN a team open weekdays 09:00–12:00 and 13:00–17:00 UTC (a lunch break), the number's
    // default team, with an after-hours reply naming the team and the next opening.
    let w = World::new().with_channel(None).await;
    let store = &*w.deps.store;
    let reply = "Thanks! {{team}} is closed now; we open {{next_opening}}.";
    let team = teams::create(store, ORG, TeamInput { name: "Billing".into(), description: None, auto_assign: true, after_hours_reply: Some(reply.into()) }, &admin_actor(), t(0)).await.unwrap();
    let hours = BusinessHoursInput {
        time_zone: "UTC".into(),
        weekly: WeeklyHours::weekdays(&[OpenWindow::new("09:00", "12:00"), OpenWindow::new("13:00", "17:00")]),
        holidays: vec![],
        exceptions: vec![],
        version: 0,
    };
    teams::save_business_hours(store, ORG, &team.id, &hours, &admin_actor(), t(0)).await.unwrap();
    let mut channel = w.store().channel_by_number(NUMBER).await.unwrap().unwrap();
    channel.default_team_id = Some(team.id.clone());
    w.store().put_channel(&channel, None).await.unwrap();

    // WHEN a customer writes on Friday evening, and again an hour later
    clock_at(&w, friday(18, 0));
    let c = w.receive_text(CUSTOMER, "wamid.1", "hello?", friday(18, 0)).await[0].conversation.clone();
    clock_at(&w, friday(19, 0));
    w.receive_text(CUSTOMER, "wamid.2", "anyone?", friday(19, 0)).await;
    // THEN one reply, naming the team and Monday's opening; the conversation waits, low.
    assert_eq!(after_hours_replies(&w, &c.id).await, ["Thanks! Billing is closed now; we open Monday 16 June 09:00 (UTC)."]);
    let stored = conversation(&w, &c.id).await;
    assert_eq!((stored.status, stored.priority), (ConversationStatus::Queued, Priority::Low));
    assert_eq!(stored.after_hours_reply.as_ref().and_then(|r| r.opening), Some(monday(9, 0)));
    assert_eq!(w.mem.outbox.jobs(crate::ports::Queue::Replies).len(), 1, "the reply went to the replies queue once");

    // While open, nothing; in the lunch break (another closed period), the reply names 13:00.
    clock_at(&w, monday(10, 0));
    w.receive_text(CUSTOMER, "wamid.3", "morning", monday(10, 0)).await;
    assert_eq!(after_hours_replies(&w, &c.id).await.len(), 1);
    clock_at(&w, monday(12, 30));
    w.receive_text(CUSTOMER, "wamid.4", "lunch?", monday(12, 30)).await;
    clock_at(&w, monday(12, 45));
    w.receive_text(CUSTOMER, "wamid.5", "still lunch?", monday(12, 45)).await;
    let replies = after_hours_replies(&w, &c.id).await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(replies[1].ends_with("we open Monday 16 June 13:00 (UTC)."), "{replies:?}");
    // The next night is a new closed period: replied again, naming Tuesday.
    clock_at(&w, monday(17, 30));
    w.receive_text(CUSTOMER, "wamid.6", "evening", monday(17, 30)).await;
    let replies = after_hours_replies(&w, &c.id).await;
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert!(replies[2].ends_with("we open Tuesday 17 June 09:00 (UTC)."), "{replies:?}");
    // The priority a queued conversation has is not lowered again by a later message.
    let stored = conversation(&w, &c.id).await;
    assert_eq!(stored.after_hours_reply.as_ref().and_then(|r| r.opening), Some(Utc.with_ymd_and_hms(2025, 6, 17, 9, 0, 0).unwrap()));
}
