//! Interaction scheduler (EventBridge, every minute; `docs/interactions.md`): reads the
//! interaction deadline index's minutes from its cursor to now — one Query per minute,
//! proportional to what is due, never the open interactions — and per interaction sends the
//! alerts owed (`interaction.reminder` the organisation's lead time before `scheduled_at`,
//! `interaction.overdue` once `due_at` has passed), each flagged on the interaction in the same
//! conditional write as its event. Firing twice sends nothing twice.

use lambda_runtime::Error;
use max_core::app::interaction_alerts;
use max_core::config::Deps;
use serde_json::{Value, json};
use tracing::info;

pub async fn run(deps: &Deps) -> Result<Value, Error> {
    let run = interaction_alerts::run_scheduler(&*deps.store, deps.clock.now()).await?;
    info!(minutes = run.minutes, due = run.due, reminders = run.reminders, overdue = run.overdue, "interaction alerts sent");
    Ok(json!({ "minutes": run.minutes, "due": run.due, "reminders": run.reminders, "overdue": run.overdue }))
}

#[cfg(test)]
mod tests {
    use max_core::config::Deps;
    use max_core::testing::sample_events;

    /// The schedule's sample is what EventBridge sends; a run on an empty store reads the two
    /// minutes around now and sends nothing.
    #[tokio::test]
    async fn its_sample_event_runs_and_an_empty_index_sends_nothing() {
        let samples = sample_events("interaction-scheduler");
        assert_eq!(samples.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["schedule-every-minute.json"]);
        let _: serde_json::Value = serde_json::from_str(&samples[0].1).unwrap();
        let (deps, _mem) = Deps::in_memory(chrono::Utc::now());
        let answer = super::run(&deps).await.unwrap();
        assert_eq!((answer["minutes"].as_u64(), answer["due"].as_u64(), answer["reminders"].as_u64()), (Some(2), Some(0), Some(0)));
        let again = super::run(&deps).await.unwrap();
        assert_eq!(again["due"].as_u64(), Some(0));
    }
}
