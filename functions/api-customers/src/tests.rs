//! This function's `events/` samples through its handler, on the memory adapter.

use max_core::config::Deps;
use max_core::testing::{http_samples, statuses};

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-customers", |req| crate::handle(req, deps)).await;
    assert_eq!(
        answered,
        statuses(&[
            ("context-unknown-customer.json", 404),
            ("create-customer.json", 201),
            ("erase-unknown-customer.json", 404),
            ("export-unknown-customer.json", 404),
            ("link-customer-into-itself.json", 409),
            ("link-unknown-customer.json", 404),
            ("list-transactions-unknown-customer.json", 404),
            ("record-transaction-unknown-currency.json", 422),
            ("record-transaction-unknown-customer.json", 404),
            ("search-customers.json", 200),
            ("unblock-unknown-customer.json", 404),
            ("unlink-as-agent.json", 403),
            ("update-unknown-customer.json", 404),
        ])
    );
}
