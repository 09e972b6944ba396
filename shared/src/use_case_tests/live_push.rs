//! Live push on the memory adapter (`app::live_push`): connections kept per organisation with a
//! TTL, `$disconnect` forgetting them, an event posted only to its organisation's connections, a
//! closed connection forgotten, a failing one not holding up the others.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};

use crate::app::live_push::{Pushed, connect, disconnect, push, refresh};
use crate::config::Deps;
use crate::domain::event::{DashboardEvent, EventKind, NewEvent};
use crate::domain::live_push::CONNECTION_TTL;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap()
}

/// `org`'s feed records a ticket opened; answers the event as stored (what the stream carries).
async fn ticket_opened(deps: &Deps, org: &str, ticket: &str) -> DashboardEvent {
    let event = NewEvent::new(org, EventKind::TicketOpened, deps.clock.now(), json!({ "ticket_id": ticket }), format!("ticket-opened:{ticket}"));
    deps.store.record_event(&event).await.unwrap();
    deps.store.events_after(org, 0, 100).await.unwrap().into_iter().find(|e| e.data["ticket_id"] == json!(ticket)).unwrap()
}

fn received(mem: &crate::config::InMemory, connection: &str) -> Vec<Value> {
    mem.live.received(connection).iter().map(|b| serde_json::from_slice(b).unwrap()).collect()
}

#[tokio::test]
async fn a_connection_is_kept_under_its_organisation_for_two_hours() {
    let (deps, mem) = Deps::in_memory(now());
    // WHEN a user of org A connects
    let c = connect(&deps.live_connection_ports(), "org_a", "user_1", "AAAAconnA1=").await.unwrap();
    // THEN it is A's, until the TTL, and no other organisation sees it
    assert_eq!(c.expires_at, (now() + CONNECTION_TTL).timestamp());
    assert_eq!(deps.store.live_connections("org_a", now()).await.unwrap(), vec![c.clone()]);
    assert!(deps.store.live_connections("org_b", now()).await.unwrap().is_empty());
    mem.clock.advance(CONNECTION_TTL);
    assert!(deps.store.live_connections("org_a", deps.clock.now()).await.unwrap().is_empty(), "past its TTL");
}

#[tokio::test]
async fn a_ping_keeps_the_connection_two_more_hours() {
    let (deps, mem) = Deps::in_memory(now());
    connect(&deps.live_connection_ports(), "org_a", "user_1", "AAAAconnA1=").await.unwrap();
    mem.clock.advance(Duration::minutes(90));
    refresh(&deps.live_connection_ports(), "org_a", "user_1", "AAAAconnA1=").await.unwrap();
    mem.clock.advance(Duration::minutes(90));
    assert_eq!(deps.store.live_connections("org_a", deps.clock.now()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn disconnect_forgets_the_connection() {
    let (deps, _) = Deps::in_memory(now());
    let ports = deps.live_connection_ports();
    connect(&ports, "org_a", "user_1", "AAAAconnA1=").await.unwrap();
    connect(&ports, "org_a", "user_2", "AAAAconnA2=").await.unwrap();
    disconnect(&ports, "org_a", "AAAAconnA1=").await.unwrap();
    let left: Vec<String> = deps.store.live_connections("org_a", now()).await.unwrap().into_iter().map(|c| c.connection_id).collect();
    assert_eq!(left, ["AAAAconnA2="]);
    // Another organisation's disconnect of the same id touches nothing of A's.
    disconnect(&ports, "org_b", "AAAAconnA2=").await.unwrap();
    assert_eq!(deps.store.live_connections("org_a", now()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_connection_id_that_api_gateway_never_gives_is_refused() {
    let (deps, _) = Deps::in_memory(now());
    let err = connect(&deps.live_connection_ports(), "org_a", "user_1", "ORG#b#LIVE").await.unwrap_err();
    assert!(err.to_string().contains("connection_id"), "{err}");
}

#[tokio::test]
async fn an_event_reaches_its_organisations_connections_only_as_the_feed_shows_it() {
    let (deps, mem) = Deps::in_memory(now());
    let ports = deps.live_connection_ports();
    connect(&ports, "org_a", "user_1", "AAAAconnA1=").await.unwrap();
    connect(&ports, "org_a", "user_2", "AAAAconnA2=").await.unwrap();
    connect(&ports, "org_b", "user_9", "BBBBconnB1=").await.unwrap();
    // WHEN A's feed records a ticket opened and the stream hands it over
    let event = ticket_opened(&deps, "org_a", "T1").await;
    let pushed = push(&deps.live_push_ports(), &event).await.unwrap();
    // THEN both of A's connections get it, B's none
    assert_eq!(pushed, Pushed { delivered: 2, gone: 0, failed: 0 });
    assert!(mem.live.received("BBBBconnB1=").is_empty());
    let got = received(&mem, "AAAAconnA1=");
    // …in the shape `GET /v1/events` lists it
    let feed = crate::app::events::EventView::from(&event);
    assert_eq!(got, vec![serde_json::to_value(&feed).unwrap()]);
    assert_eq!(got[0]["kind"], "ticket.opened");
    assert_eq!(got[0]["data"]["ticket_id"], "T1");
    assert_eq!(received(&mem, "AAAAconnA2="), got);
}

#[tokio::test]
async fn a_closed_connection_is_forgotten_and_the_others_still_get_the_event() {
    let (deps, mem) = Deps::in_memory(now());
    let ports = deps.live_connection_ports();
    for id in ["AAAAconnA1=", "AAAAconnA2=", "AAAAconnA3="] {
        connect(&ports, "org_a", "user_1", id).await.unwrap();
    }
    mem.live.close("AAAAconnA1=");
    mem.live.fail("AAAAconnA2=");
    let pushed = push(&deps.live_push_ports(), &ticket_opened(&deps, "org_a", "T1").await).await.unwrap();
    assert_eq!(pushed, Pushed { delivered: 1, gone: 1, failed: 1 });
    assert_eq!(mem.live.received("AAAAconnA3=").len(), 1);
    // The gone one is forgotten; the failing one is kept (it may be a throttle).
    let left: Vec<String> = deps.store.live_connections("org_a", now()).await.unwrap().into_iter().map(|c| c.connection_id).collect();
    assert_eq!(left, ["AAAAconnA2=", "AAAAconnA3="]);
}

#[tokio::test]
async fn expired_connections_are_not_posted_to() {
    let (deps, mem) = Deps::in_memory(now());
    connect(&deps.live_connection_ports(), "org_a", "user_1", "AAAAconnA1=").await.unwrap();
    mem.clock.advance(CONNECTION_TTL + Duration::seconds(1));
    let pushed = push(&deps.live_push_ports(), &ticket_opened(&deps, "org_a", "T1").await).await.unwrap();
    assert_eq!(pushed, Pushed::default());
    assert_eq!(mem.live.posts(), 0);
}

#[tokio::test]
async fn a_store_outage_fails_the_push_so_the_stream_retries_it() {
    let (deps, mem) = Deps::in_memory(now());
    connect(&deps.live_connection_ports(), "org_a", "user_1", "AAAAconnA1=").await.unwrap();
    let event = ticket_opened(&deps, "org_a", "T1").await;
    mem.store.fail_next("live_connections", crate::Error::backend("dynamodb", "unavailable"));
    assert!(push(&deps.live_push_ports(), &event).await.is_err());
    assert_eq!(mem.live.posts(), 0);
}
