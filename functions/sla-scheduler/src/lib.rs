//! SLA scheduler (EventBridge, every minute; `docs/sla.md`): reads the SLA deadline index's
//! minutes from its cursor to now — one Query per minute, proportional to what is due, never the
//! open conversations — and per conversation takes the steps owed (`sla.warning`, `sla.breached`
//! with its violation, `sla.escalated` and the escalation's actions) in one conditional write.
//! Firing twice changes nothing: a step taken is flagged on the conversation.

use lambda_runtime::Error;
use max_core::app::sla;
use max_core::config::Deps;
use serde_json::{Value, json};
use tracing::info;

pub async fn run(deps: &Deps) -> Result<Value, Error> {
    let run = sla::run_scheduler(&deps.sla_ports(), deps.clock.now()).await?;
    info!(minutes = run.minutes, due = run.due, warnings = run.warnings, breaches = run.breaches, escalations = run.escalations, "SLA steps taken");
    Ok(json!({
        "minutes": run.minutes,
        "due": run.due,
        "conversations": run.conversations,
        "warnings": run.warnings,
        "breaches": run.breaches,
        "escalations": run.escalations,
    }))
}

#[cfg(test)]
mod tests {
    use max_core::config::Deps;
    use max_core::testing::sample_events;

    /// The schedule's sample is what EventBridge sends; a run on an empty store reads the two
    /// minutes around now and takes nothing.
    #[tokio::test]
    async fn its_sample_event_runs_and_an_empty_index_takes_nothing() {
        let samples = sample_events("sla-scheduler");
        assert_eq!(samples.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["schedule-every-minute.json"]);
        let _: serde_json::Value = serde_json::from_str(&samples[0].1).unwrap();
        let (deps, _mem) = Deps::in_memory(chrono::Utc::now());
        let answer = super::run(&deps).await.unwrap();
        assert_eq!((answer["minutes"].as_u64(), answer["due"].as_u64(), answer["breaches"].as_u64()), (Some(2), Some(0), Some(0)));
        // The cursor moved: the next run a minute on reads from the minute before it.
        let again = super::run(&deps).await.unwrap();
        assert_eq!(again["due"].as_u64(), Some(0));
    }
}
