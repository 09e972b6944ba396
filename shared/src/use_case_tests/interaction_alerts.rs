//! `app::interaction_alerts`: the interaction scheduler sends a reminder the organisation's lead
//! time before `scheduled_at` and an overdue alert once `due_at` has passed, each exactly once
//! however often it fires; a completion or a cancel owes nothing more; a reschedule owes a new
//! reminder; the alerts name the assignee.

use super::*;
use crate::app::interaction_alerts::{AlertRun, run_scheduler};
use crate::app::interactions::{Actor, cancel, complete, create, save_settings, settings, update};
use crate::domain::interaction::{Completion, Interaction, InteractionChange};
use crate::ports::InteractionStore;

const USER: Actor<'static> = Actor { org_id: ORG, user_id: "agent-1" };

/// GIVEN a customer with a call created at t(1), scheduled at t(60), due at t(120).
async fn given_call(w: &World) -> Interaction {
    let customer = w.given_conversation().await.conversation.customer_id;
    create(&w.deps.interaction_ports(), &USER, super::interactions::call(&customer), None, t(1)).await.unwrap()
}

async fn fire(w: &World, at: DateTime<Utc>) -> AlertRun {
    run_scheduler(w.store(), at).await.unwrap()
}

fn kinds(events: &[DashboardEvent]) -> Vec<&'static str> {
    events.iter().filter(|e| e.kind.as_str().starts_with("interaction.")).map(|e| e.kind.as_str()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_reminder_and_an_overdue_alert_are_sent_once_each_however_often_the_scheduler_fires() {
    let w = World::new().with_channel(None).await;
    let call = given_call(&w).await;
    assert_eq!(call.remind_at, Some(t(45)), "15 minutes before, the default lead");

    let early = fire(&w, t(44)).await;
    assert_eq!((early.minutes, early.due, early.reminders), (2, 0, 0));
    assert!(kinds(&w.events(ORG).await).is_empty());

    let first = fire(&w, t(45)).await;
    let again = fire(&w, t(45)).await;
    assert_eq!((first.reminders, again.reminders, again.due), (1, 0, 0), "the entry moved on to due_at");
    let events = w.events(ORG).await;
    assert_eq!(kinds(&events), ["interaction.reminder"]);
    let reminder = events.iter().find(|e| e.kind == EventKind::InteractionReminder).unwrap();
    assert_eq!(reminder.data["interaction_id"], call.id.as_str());
    assert_eq!(reminder.data["notify"]["user_id"], "agent-1");
    assert_eq!(reminder.data["scheduled_at"], json!(t(60)));

    // Due at t(120): not overdue at t(120) itself, once the minute after, once only.
    assert_eq!(fire(&w, t(120)).await.overdue, 0);
    assert_eq!(fire(&w, t(121)).await.overdue, 1);
    assert_eq!(fire(&w, t(121)).await.overdue, 0);
    assert_eq!(fire(&w, t(125)).await.overdue, 0);
    assert_eq!(kinds(&w.events(ORG).await), ["interaction.reminder", "interaction.overdue"]);
    let stored = w.store().interaction(ORG, &call.id).await.unwrap().unwrap();
    assert_eq!((stored.reminded_at, stored.overdue_alerted_at, stored.alert_check_at()), (Some(t(45)), Some(t(121)), None));
}

#[tokio::test(start_paused = true)]
async fn two_runs_reading_the_same_entry_send_one_alert() {
    let w = World::new().with_channel(None).await;
    let call = given_call(&w).await;
    // Two schedulers at once (a retried invocation): both read the entry before either writes.
    let (a, b) = futures::join!(run_scheduler(w.store(), t(46)), run_scheduler(w.store(), t(46)));
    assert_eq!(a.unwrap().reminders + b.unwrap().reminders, 1);
    assert_eq!(kinds(&w.events(ORG).await), ["interaction.reminder"]);
    assert!(w.store().interaction(ORG, &call.id).await.unwrap().unwrap().reminded_at.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_completed_or_cancelled_interaction_owes_nothing() {
    let w = World::new().with_channel(None).await;
    let done = given_call(&w).await;
    let dropped = given_call(&w).await;
    complete(&w.deps.interaction_ports(), ORG, &done.id, &Completion { outcome: "reached".into(), outcome_details: None }, t(10)).await.unwrap();
    cancel(w.store(), ORG, &dropped.id, t(10)).await.unwrap();
    for minute in [45, 46, 121, 122] {
        let run = fire(&w, t(minute)).await;
        assert_eq!((run.due, run.reminders, run.overdue), (0, 0, 0), "t({minute})");
    }
    assert!(kinds(&w.events(ORG).await).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_reschedule_owes_a_new_reminder_with_the_organisations_lead_and_a_reassignment_names_the_new_assignee() {
    let w = World::new().with_channel(None).await;
    let mut lead = settings(w.store(), ORG).await.unwrap();
    assert_eq!(lead.reminder_lead_minutes, 15);
    lead.reminder_lead_minutes = 30;
    save_settings(w.store(), ORG, &lead, &admin_actor(), t(0)).await.unwrap();
    let call = given_call(&w).await;
    assert_eq!(call.remind_at, Some(t(30)));
    assert_eq!(fire(&w, t(30)).await.reminders, 1);

    // Moved to t(300) (due moves with it, to t(360)) and given to another agent.
    let change: InteractionChange = serde_json::from_value(json!({ "scheduled_at": t(300), "assignee_id": "agent-2" })).unwrap();
    let moved = update(&w.deps.interaction_ports(), ORG, &call.id, &change, t(31)).await.unwrap();
    assert_eq!((moved.remind_at, moved.reminded_at, moved.due_at), (Some(t(270)), None, t(360)));
    assert_eq!(fire(&w, t(269)).await.reminders, 0);
    assert_eq!(fire(&w, t(270)).await.reminders, 1);
    let reminders = w.events_of(ORG, EventKind::InteractionReminder).await;
    assert_eq!(reminders.len(), 2);
    assert_eq!((reminders[1].data["notify"]["user_id"].as_str(), reminders[1].data["scheduled_at"].clone()), (Some("agent-2"), json!(t(300))));
    // The old due time passes unnoticed; the new one alerts.
    assert_eq!(fire(&w, t(121)).await.overdue, 0);
    assert_eq!(fire(&w, t(361)).await.overdue, 1);
}

#[tokio::test(start_paused = true)]
async fn reminders_off_still_send_the_overdue_alert() {
    let w = World::new().with_channel(None).await;
    let mut off = settings(w.store(), ORG).await.unwrap();
    off.reminder_lead_minutes = 0;
    save_settings(w.store(), ORG, &off, &admin_actor(), t(0)).await.unwrap();
    let call = given_call(&w).await;
    assert_eq!(call.remind_at, None);
    assert_eq!(fire(&w, t(60)).await.reminders, 0);
    assert_eq!(fire(&w, t(121)).await.overdue, 1);
    assert_eq!(kinds(&w.events(ORG).await), ["interaction.overdue"]);
}
