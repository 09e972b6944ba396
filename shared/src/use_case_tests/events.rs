//! `app::events`: the dashboard feed read from a cursor, its limit, the long poll and tenancy.

use std::time::Duration as Wait;

use super::*;
use crate::app::events::{EventView, FeedStart, read};
use crate::domain::event::{EventCursor, MAX_FEED_WAITERS, NewEvent};
use crate::ports::{Clock, FeedWaiters, WaitPlace};

async fn given_events(w: &World, org: &str, keys: &[&str]) {
    for k in keys {
        let e = NewEvent::new(org, EventKind::TicketOpened, t(1), json!({ "ticket_id": k }), format!("ticket.opened:{k}"));
        w.store().record_event(&e).await.unwrap();
    }
}

fn ticket_ids(events: &[DashboardEvent]) -> Vec<String> {
    events.iter().map(|e| e.data["ticket_id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn the_feed_is_read_in_order_from_a_cursor_up_to_the_limit() {
    // GIVEN three events
    let w = World::new();
    given_events(&w, ORG, &["a", "b", "c"]).await;
    let clock = &*w.mem.clock;
    // WHEN the dashboard reads two from the beginning, then on from the last one's id
    let first = read(w.store(), clock, ORG, FeedStart::Beginning, Wait::ZERO, 2).await.unwrap();
    assert_eq!(ticket_ids(&first.events), ["a", "b"]);
    let id = EventView::from(&first.events[1]).id;
    let cursor = EventCursor::decode("after", &id).unwrap();
    let rest = read(w.store(), clock, ORG, FeedStart::After(cursor), Wait::ZERO, 2).await.unwrap();
    // THEN it gets the third, once
    assert_eq!(ticket_ids(&rest.events), ["c"]);
    assert_eq!(rest.cursor, EventCursor(3));
}

#[tokio::test(start_paused = true)]
async fn reading_from_now_shows_only_what_happens_next() {
    let w = World::new();
    given_events(&w, ORG, &["old"]).await;
    let now = read(w.store(), &*w.mem.clock, ORG, FeedStart::Now, Wait::ZERO, 10).await.unwrap();
    assert!(now.events.is_empty());
    given_events(&w, ORG, &["new"]).await;
    let next = read(w.store(), &*w.mem.clock, ORG, FeedStart::After(now.cursor), Wait::ZERO, 10).await.unwrap();
    assert_eq!(ticket_ids(&next.events), ["new"]);
}

#[tokio::test(start_paused = true)]
async fn a_repeated_dedupe_key_is_one_event() {
    let w = World::new();
    given_events(&w, ORG, &["a", "a"]).await;
    let feed = read(w.store(), &*w.mem.clock, ORG, FeedStart::Beginning, Wait::ZERO, 10).await.unwrap();
    assert_eq!(ticket_ids(&feed.events), ["a"]);
}

#[tokio::test(start_paused = true)]
async fn another_organisations_events_are_never_read() {
    let w = World::new();
    given_events(&w, OTHER_ORG, &["theirs"]).await;
    let feed = read(w.store(), &*w.mem.clock, ORG, FeedStart::Beginning, Wait::ZERO, 10).await.unwrap();
    assert!(feed.events.is_empty());
    assert_eq!(feed.cursor, EventCursor(0));
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_wakes_with_an_event_recorded_while_it_waits() {
    // GIVEN a reader waiting on an empty feed
    let w = World::new();
    let store = w.store_arc();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Wait::from_millis(250)).await;
        let e = NewEvent::new(ORG, EventKind::TicketOpened, t(1), json!({ "ticket_id": "late" }), "ticket.opened:late");
        store.record_event(&e).await.unwrap();
    });
    let started = tokio::time::Instant::now();
    // WHEN an event is recorded a moment later
    let feed = read(w.store(), &*w.mem.clock, ORG, FeedStart::Beginning, Wait::from_secs(20), 10).await.unwrap();
    // THEN the reader answers with it, well before its wait is over (paused time: no real wait)
    assert_eq!(ticket_ids(&feed.events), ["late"]);
    assert!(started.elapsed() < Wait::from_secs(1));
    writer.await.unwrap();
    let _ = w.mem.clock.now();
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_on_a_quiet_feed_answers_empty_when_its_wait_is_over() {
    let w = World::new();
    let started = tokio::time::Instant::now();
    let feed = read(w.store(), &*w.mem.clock, ORG, FeedStart::Beginning, Wait::from_secs(2), 10).await.unwrap();
    assert!(feed.events.is_empty());
    assert!(started.elapsed() >= Wait::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn beyond_the_organisations_waiters_a_long_poll_answers_429_at_once() {
    // GIVEN every place of the organisation held by readers waiting 20 s
    let w = World::new();
    let clock = &*w.mem.clock;
    let now = clock.now();
    for i in 0..MAX_FEED_WAITERS {
        let place = w.store().take_wait_place(ORG, &format!("reader-{i}"), now, now + Duration::seconds(20), MAX_FEED_WAITERS).await.unwrap();
        assert_eq!(place, WaitPlace::Taken);
    }
    let started = tokio::time::Instant::now();
    // WHEN one more reader would have to wait
    let out = read(w.store(), clock, ORG, FeedStart::Beginning, Wait::from_secs(20), 10).await;
    // THEN it answers 429 with when a place frees, at once: paused time never moved, so it neither
    // slept nor polled
    match out {
        Err(Error::TooManyWaiting { retry_after_secs }) => assert_eq!(retry_after_secs, 20),
        other => panic!("the waiters' cap was not applied: {other:?}"),
    }
    assert_eq!(started.elapsed(), Wait::ZERO);
    // A read that need not wait still answers, and another organisation's readers still wait.
    let theirs = read(w.store(), clock, OTHER_ORG, FeedStart::Beginning, Wait::from_secs(1), 10).await.unwrap();
    assert!(theirs.events.is_empty());
    given_events(&w, ORG, &["a"]).await;
    let mine = read(w.store(), clock, ORG, FeedStart::Beginning, Wait::from_secs(20), 10).await.unwrap();
    assert_eq!(ticket_ids(&mine.events), ["a"]);
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_gives_its_place_back_when_it_answers() {
    let w = World::new();
    let clock = &*w.mem.clock;
    // GIVEN a reader that waited its full second on an empty feed
    let feed = read(w.store(), clock, ORG, FeedStart::Beginning, Wait::from_secs(1), 10).await.unwrap();
    assert!(feed.events.is_empty());
    // THEN its place is free again: the only place of a cap of one is taken by the next reader
    let now = clock.now();
    let place = w.store().take_wait_place(ORG, "next", now, now + Duration::seconds(20), 1).await.unwrap();
    assert_eq!(place, WaitPlace::Taken);
}
