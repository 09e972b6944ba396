//! This function's `events/` samples through its handler, on the memory adapter.

use max_core::config::Deps;
use max_core::testing::{http_samples, statuses};

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-events", |req| crate::handle(req, deps)).await;
    assert_eq!(answered, statuses(&[("audit-as-agent.json", 403), ("audit-of-every-ticket.json", 200), ("events-from-now.json", 200), ("events-from-the-beginning.json", 200)]));
    let _ = &world;
}

/// The contract's `entity` pattern names exactly the audited entity types.
#[test]
fn the_entity_pattern_names_every_audited_type() {
    use max_core::domain::audit::AuditEntity;
    let contract = serde_json::to_string(&crate::api::openapi()).unwrap();
    let names: Vec<&str> = AuditEntity::ALL.iter().map(|e| e.as_str()).collect();
    assert!(contract.contains(&format!("^({})(:", names.join("|"))), "{names:?}");
}
