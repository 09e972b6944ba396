//! The stream consumer on the memory adapter, fed this function's `events/` sample (a feed
//! event's INSERT and the feed counter's MODIFY, as DynamoDB Streams delivers them).

use aws_lambda_events::event::dynamodb::Event;
use chrono::{TimeZone, Utc};
use max_core::app::live_push::connect;
use max_core::config::Deps;
use max_core::testing::sample_events;
use serde_json::Value;

use crate::handle;

fn sample() -> Event {
    let (_, text) = sample_events("live-push").remove(0);
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn a_feed_insert_reaches_its_organisations_connections_and_other_items_are_skipped() {
    // GIVEN two dashboards of the demo organisation and one of another
    let (deps, world) = Deps::in_memory(Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap());
    let ports = deps.live_connection_ports();
    connect(&ports, "org_demo", "u1", "DemoConn1=").await.unwrap();
    connect(&ports, "org_demo", "u2", "DemoConn2=").await.unwrap();
    connect(&ports, "org_other", "u9", "OtherConn1=").await.unwrap();
    // WHEN the stream hands the batch over
    let res = handle(sample(), &deps).await.unwrap();
    // THEN each demo dashboard got the event once, as the feed lists it; the other none
    assert!(res.batch_item_failures.is_empty());
    for id in ["DemoConn1=", "DemoConn2="] {
        let got: Vec<Value> = world.live.received(id).iter().map(|b| serde_json::from_slice(b).unwrap()).collect();
        assert_eq!(got.len(), 1, "{id}");
        assert_eq!(got[0]["kind"], "ticket.opened");
        assert_eq!(got[0]["data"]["ticket_id"], "01JTICKETSAMPLE00000000000");
        assert_eq!(got[0]["at"], "2026-12-06T10:00:00Z");
        assert!(got[0]["id"].is_string(), "the feed cursor that continues after it");
    }
    assert!(world.live.received("OtherConn1=").is_empty());
}

#[tokio::test]
async fn a_store_outage_reports_the_record_so_the_stream_retries_from_it() {
    let (deps, world) = Deps::in_memory(Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap());
    world.store.fail_next("live_connections", max_core::Error::backend("dynamodb", "unavailable"));
    let res = handle(sample(), &deps).await.unwrap();
    let failed: Vec<Option<String>> = res.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, [Some("4421584500000000017450439091".to_string())]);
}
