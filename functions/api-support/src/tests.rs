//! This function's `events/` samples through its handler, on the memory adapter.

use max_core::config::Deps;
use max_core::testing::{DEMO_ORG, http_samples, sample_events, statuses};

use super::*;

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-support", |req| crate::handle(req, deps)).await;
    assert_eq!(
        answered,
        statuses(&[
            ("add-customer-message.json", 404),
            ("admin-answer-ticket.json", 404),
            ("admin-assign-ticket.json", 404),
            ("admin-close-ticket.json", 404),
            ("admin-get-ticket.json", 404),
            ("admin-list-tickets.json", 200),
            ("admin-notifications.json", 200),
            ("admin-search-tickets-by-phone.json", 200),
            ("admin-update-ticket.json", 404),
            ("agent-notifications.json", 200),
            ("create-ticket.json", 201),
            ("get-bot-menu.json", 200),
            ("get-ticket.json", 404),
            ("list-open-tickets.json", 200),
            ("put-bot-menu.json", 200),
        ])
    );
    // The one ticket the samples open is counted, and the menu they save is stored.
    let counts = max_core::ports::SupportStore::ticket_counts(&*world.store, DEMO_ORG).await.unwrap();
    assert_eq!(counts.notifications(None).open_tickets, 1);
    assert!(max_core::ports::BotStore::bot_settings(&*world.store, DEMO_ORG).await.unwrap().is_some());
}

#[test]
fn every_sample_event_reaches_a_route_with_a_caller() {
    let files = sample_events("api-support");
    assert!(files.len() >= 14, "one sample per route");
    let mut seen = Vec::new();
    for (name, text) in files {
        let req = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let path = segments(&req).unwrap_or_else(|e| panic!("{name}: {e}"));
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let route = Route::parse(req.method(), &path).unwrap_or_else(|| panic!("{name}: no route"));
        let who = caller(&req).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(who.require(route.role()).is_ok(), "{name}: the sample's role may call its route");
        seen.push(std::mem::discriminant(&route));
    }
    seen.sort_by_key(|d| format!("{d:?}"));
    seen.dedup();
    assert_eq!(seen.len(), 14, "every route has a sample event");
}

#[test]
fn admin_routes_need_a_supervisor_and_the_menu_edit_an_admin() {
    let get = Route::parse(&Method::GET, &["v1", "admin", "support", "tickets"]).expect("route");
    assert_eq!(get.role(), Role::Supervisor);
    assert_eq!(Route::parse(&Method::PUT, &["v1", "bot", "menu"]).expect("route").role(), Role::Admin);
    assert_eq!(Route::parse(&Method::GET, &["v1", "support", "open-tickets"]).expect("route").role(), Role::Agent);
    assert_eq!(Route::parse(&Method::DELETE, &["v1", "support", "tickets", "x"]), None);
}
