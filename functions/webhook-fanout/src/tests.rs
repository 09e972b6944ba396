//! The stream consumer on the memory adapter, fed this function's `events/` sample (a feed
//! event's INSERT and the feed counter's MODIFY, as DynamoDB Streams delivers them).

use aws_lambda_events::event::dynamodb::Event;
use chrono::{TimeZone, Utc};
use max_core::app::webhooks::{SubscriptionPorts, create};
use max_core::config::Deps;
use max_core::domain::webhook_delivery::DeliveryJob;
use max_core::domain::webhook_subscription::WebhookSubscriptionInput;
use max_core::ports::Queue;
use max_core::testing::sample_events;
use serde_json::json;

use crate::handle;

#[tokio::test]
async fn a_feed_insert_fans_out_and_other_items_are_skipped() {
    // GIVEN the demo organisation subscribed to tickets opened, and to calls only
    let (deps, world) = Deps::in_memory(Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap());
    let ports = SubscriptionPorts { store: &*world.store, secrets: &*world.secrets, destinations: Default::default() };
    let subscribe = |types: serde_json::Value| serde_json::from_value::<WebhookSubscriptionInput>(json!({"url": "https://crm.example.com/h", "event_types": types})).unwrap();
    let tickets = create(&ports, "org_demo", "admin", subscribe(json!(["ticket.opened"])), Utc::now()).await.unwrap();
    create(&ports, "org_demo", "admin", subscribe(json!(["call.completed"])), Utc::now()).await.unwrap();
    for (name, text) in sample_events("webhook-fanout") {
        let event: Event = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        // WHEN the stream hands the batch over
        let res = handle(event, &deps).await.unwrap();
        assert!(res.batch_item_failures.is_empty(), "{name}");
    }
    // THEN one job, for the subscription that wants the event, carrying the event whole
    let jobs: Vec<DeliveryJob> = world.outbox.jobs(Queue::Webhooks).iter().map(|m| serde_json::from_str(&m.body).unwrap()).collect();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].subscription_id, tickets.subscription.id);
    assert_eq!((jobs[0].event.seq, jobs[0].event.kind.as_str()), (42, "ticket.opened"));
    assert_eq!(jobs[0].event.data["ticket_id"], json!("01JTICKETSAMPLE00000000000"));
}

#[tokio::test]
async fn a_queue_outage_reports_the_record_so_the_stream_retries_from_it() {
    let (deps, world) = Deps::in_memory(Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap());
    let ports = SubscriptionPorts { store: &*world.store, secrets: &*world.secrets, destinations: Default::default() };
    let input: WebhookSubscriptionInput = serde_json::from_value(json!({"url": "https://crm.example.com/h", "event_types": ["*"]})).unwrap();
    create(&ports, "org_demo", "admin", input, Utc::now()).await.unwrap();
    world.outbox.fail_next_send(max_core::Error::backend("sqs", "unavailable"));
    let (_, text) = sample_events("webhook-fanout").remove(0);
    let res = handle(serde_json::from_str(&text).unwrap(), &deps).await.unwrap();
    let failed: Vec<Option<String>> = res.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, [Some("4421584500000000017450439091".to_string())]);
}
