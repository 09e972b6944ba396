//! Interaction reminders and overdue alerts (`docs/interactions.md`): every minute the
//! interaction scheduler reads only the interaction deadline index's minutes due (the SLA
//! scheduler's pattern: `domain::deadline_index`) and, per interaction, flags the alerts owed on
//! it and records their events (`interaction.reminder`, `interaction.overdue`) in one
//! conditional write — firing twice sends nothing twice.

use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::{info, warn};

use crate::domain::deadline_index;
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::interaction::{Interaction, InteractionAlert};
use crate::error::Result;
use crate::optimistic::retry_lost_updates;
use crate::ports::InteractionStore;

/// What one run of the interaction scheduler did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertRun {
    /// Minutes of the deadline index read.
    pub minutes: u32,
    /// Index entries found due.
    pub due: u32,
    pub reminders: u32,
    pub overdue: u32,
}

/// One run at `now`: the index's minutes from the cursor to now, the alerts owed, and the cursor
/// moved to the minute before now (each minute is read by two runs).
pub async fn run_scheduler(store: &dyn InteractionStore, now: DateTime<Utc>) -> Result<AlertRun> {
    let mut run = AlertRun::default();
    for minute in deadline_index::minutes_due(store.interaction_alert_cursor().await?, now) {
        run.minutes += 1;
        for due in store.interactions_due(minute, now).await? {
            run.due += 1;
            for alert in send_alerts(store, &due.org_id, &due.interaction_id, now).await? {
                match alert {
                    InteractionAlert::Reminder => run.reminders += 1,
                    InteractionAlert::Overdue => run.overdue += 1,
                }
            }
        }
    }
    store.save_interaction_alert_cursor(deadline_index::cursor_after(now)).await?;
    Ok(run)
}

/// The alerts one interaction owes at `now`, flagged and recorded over the version read (a
/// concurrent edit or completion makes it read again, and then maybe nothing is owed).
async fn send_alerts(store: &dyn InteractionStore, org_id: &str, id: &str, now: DateTime<Utc>) -> Result<Vec<InteractionAlert>> {
    let sent = retry_lost_updates("interaction", |_| async move {
        let Some(mut interaction) = store.interaction(org_id, id).await? else { return Ok(Vec::new()) };
        let read = interaction.clone();
        let alerts = interaction.take_due_alerts(now);
        if interaction.version == read.version {
            // A stale index entry (the interaction moved on since the index was read): nothing owed.
            return Ok(Vec::new());
        }
        // A reminder dropped for the overdue alert sent with it is still flagged: one write.
        let events: Vec<NewEvent> = alerts.iter().map(|a| alert_event(&interaction, *a, now)).collect();
        store.record_interaction_alerts(&interaction, &events, crate::domain::campaign::tally(&read, &interaction).as_ref()).await?;
        for a in &alerts {
            info!(org_id, interaction_id = id, alert = a.as_str(), "interaction alert sent");
        }
        Ok(alerts)
    })
    .await;
    if let Err(e) = &sent {
        warn!(org_id, interaction_id = id, error = %e, "interaction alerts not sent");
    }
    sent
}

/// The event of an alert, addressed to the assignee; keyed by the interaction and the instant it
/// is about, so a retried run records it once and a new `scheduled_at` / `due_at` owes a new one.
fn alert_event(i: &Interaction, alert: InteractionAlert, now: DateTime<Utc>) -> NewEvent {
    let (kind, about) = match alert {
        InteractionAlert::Reminder => (EventKind::InteractionReminder, i.scheduled_at),
        InteractionAlert::Overdue => (EventKind::InteractionOverdue, i.due_at),
    };
    let mut data = json!({
        "interaction_id": i.id,
        "customer_id": i.customer_id,
        "type": i.kind,
        "title": i.title,
        "priority": i.priority,
        "status": i.status,
        "scheduled_at": i.scheduled_at,
        "due_at": i.due_at,
        "assignee_id": i.assignee_id,
        "conversation_id": i.conversation_id,
        "campaign_id": i.campaign_id,
    });
    if let Some(assignee) = &i.assignee_id {
        data["notify"] = json!({ "user_id": assignee });
    }
    let key = format!("interaction:{}:{}:{}", i.id, alert.as_str(), about.timestamp_millis());
    NewEvent::new(&i.org_id, kind, now, data, key)
}
