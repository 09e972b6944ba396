//! `app::teams`: a team and its hours, each edited only over the version read, hours validated
//! naming the field, the status of an instant from the stored hours (or the default: open), and
//! another organisation's team not found.

use super::*;
use crate::app::teams::{business_hours, create, edit, get, list, save_business_hours, status};
use crate::domain::business_hours::{Holiday, OpenWindow, WeeklyHours};
use crate::domain::team::{BusinessHoursInput, TeamEdit, TeamInput};
use crate::ports::PageRequest;

fn billing() -> TeamInput {
    TeamInput { name: "Billing".into(), description: None, auto_assign: true, after_hours_reply: Some("We open {{next_opening}}.".into()) }
}

fn nine_to_five(version: u64) -> BusinessHoursInput {
    BusinessHoursInput {
        time_zone: "Europe/Madrid".into(),
        weekly: WeeklyHours::weekdays(&[OpenWindow::new("09:00", "13:00"), OpenWindow::new("14:00", "18:00")]),
        holidays: vec![Holiday { date: chrono::NaiveDate::from_ymd_opt(2026, 12, 8).unwrap(), name: Some("Inmaculada".into()) }],
        exceptions: vec![],
        version,
    }
}

#[tokio::test(start_paused = true)]
async fn a_team_is_created_listed_and_edited_over_the_version_read() {
    let w = World::new();
    let store = &*w.deps.store;
    let team = create(store, ORG, billing(), &admin_actor(), t(0)).await.unwrap();
    let second = create(store, ORG, TeamInput { name: "Sales".into(), ..billing() }, &admin_actor(), t(1)).await.unwrap();
    let page = list(store, ORG, &PageRequest { limit: 1, cursor: None }).await.unwrap();
    assert_eq!(page.items.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["Billing"]);
    let rest = list(store, ORG, &PageRequest { limit: 1, cursor: page.next_cursor.clone() }).await.unwrap();
    assert_eq!(rest.items[0].id, second.id);
    // An edit naming the version read lands once; the same edit again is 409, and nothing changed.
    let rename = TeamEdit { name: Some("Refunds".into()), version: Some(1), ..Default::default() };
    assert_eq!(edit(store, ORG, &team.id, &rename, &admin_actor(), t(2)).await.unwrap().version, 2);
    assert!(matches!(edit(store, ORG, &team.id, &TeamEdit { name: Some("Other".into()), version: Some(1), ..Default::default() }, &admin_actor(), t(3)).await, Err(Error::Conflict { .. })));
    assert_eq!(get(store, ORG, &team.id).await.unwrap().name, "Refunds");
    // Another organisation sees nothing.
    assert!(matches!(get(store, OTHER_ORG, &team.id).await, Err(Error::NotFound("team"))));
    assert!(matches!(edit(store, OTHER_ORG, &team.id, &rename, &admin_actor(), t(4)).await, Err(Error::NotFound("team"))));
    assert!(list(store, OTHER_ORG, &PageRequest { limit: 10, cursor: None }).await.unwrap().items.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_edit_without_a_version_lands_over_a_concurrent_one() {
    let w = World::new();
    let store = &*w.deps.store;
    let team = create(store, ORG, billing(), &admin_actor(), t(0)).await.unwrap();
    // The first save loses to another writer (a planted lost write), the retry reads again.
    w.store().fail_next("save_team", Error::LostUpdate("team"));
    let edited = edit(store, ORG, &team.id, &TeamEdit { auto_assign: Some(false), ..Default::default() }, &admin_actor(), t(1)).await.unwrap();
    assert_eq!((edited.auto_assign, edited.version), (false, 2));
}

#[tokio::test(start_paused = true)]
async fn hours_are_validated_versioned_and_answer_the_status() {
    let w = World::new();
    let store = &*w.deps.store;
    let team = create(store, ORG, billing(), &admin_actor(), t(0)).await.unwrap();
    // Nothing stored: the default, open around the clock.
    let default = business_hours(store, ORG, &team.id).await.unwrap();
    assert_eq!(default.version, 0);
    let friday_night = Utc.with_ymd_and_hms(2026, 12, 4, 20, 0, 0).unwrap();
    let s = status(store, ORG, &team.id, friday_night).await.unwrap();
    assert!(s.open && s.is_default && s.next_change.is_none());
    // A bad window is refused naming it, and nothing is stored.
    let mut bad = nine_to_five(0);
    bad.weekly.tuesday[1] = OpenWindow::new("12:00", "18:00");
    match save_business_hours(store, ORG, &team.id, &bad, &admin_actor(), t(1)).await {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "weekly.tuesday[1].open"),
        other => panic!("{other:?}"),
    }
    assert_eq!(business_hours(store, ORG, &team.id).await.unwrap().version, 0);
    // Saved over version 0; saving over 0 again is 409 naming the current version.
    let saved = save_business_hours(store, ORG, &team.id, &nine_to_five(0), &admin_actor(), t(2)).await.unwrap();
    assert_eq!((saved.version, saved.updated_by.as_deref()), (1, Some("admin-1")));
    match save_business_hours(store, ORG, &team.id, &nine_to_five(0), &admin_actor(), t(3)).await {
        Err(Error::Conflict { current, .. }) => assert_eq!(current.as_deref(), Some("version 1")),
        other => panic!("{other:?}"),
    }
    // Friday 21:00 in Madrid: closed until Monday 09:00 (Tuesday the 8th is a holiday, not Monday).
    let s = status(store, ORG, &team.id, friday_night).await.unwrap();
    assert_eq!((s.open, s.next_change, s.is_default), (false, Some(Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).unwrap()), false));
    let monday_evening = Utc.with_ymd_and_hms(2026, 12, 7, 17, 30, 0).unwrap(); // 18:30 Madrid
    assert_eq!(status(store, ORG, &team.id, monday_evening).await.unwrap().next_change, Some(Utc.with_ymd_and_hms(2026, 12, 9, 8, 0, 0).unwrap()));
    // Another organisation's team: not found, for hours and status alike.
    assert!(matches!(business_hours(store, OTHER_ORG, &team.id).await, Err(Error::NotFound("team"))));
    assert!(matches!(save_business_hours(store, OTHER_ORG, &team.id, &nine_to_five(1), &admin_actor(), t(4)).await, Err(Error::NotFound("team"))));
    assert!(matches!(status(store, OTHER_ORG, &team.id, friday_night).await, Err(Error::NotFound("team"))));
}

#[tokio::test(start_paused = true)]
async fn agents_name_existing_teams_and_set_their_own_availability() {
    use crate::app::teams::{agent, agents, create_agent, edit_agent, set_availability};
    use crate::domain::agent::{AgentEdit, AgentInput, Availability};
    use std::collections::BTreeMap;
    let w = World::new();
    let store = &*w.deps.store;
    let routing = w.deps.routing_ports();
    let team = create(store, ORG, billing(), &admin_actor(), t(0)).await.unwrap();
    let input = |user: &str, teams: Vec<String>| AgentInput { user_id: user.into(), name: "Ana".into(), team_ids: teams, skills: BTreeMap::from([("billing".into(), 4)]), languages: vec!["es".into()], capacity: 3 };
    // A team the organisation does not have is refused naming it; nothing is stored.
    match create_agent(store, ORG, input("user_ana", vec![team.id.clone(), "01NOPE".into()]), &admin_actor(), t(1)).await {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "team_ids[1]"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(agent(store, ORG, "user_ana").await, Err(Error::NotFound("agent"))));
    let ana = create_agent(store, ORG, input("user_ana", vec![team.id.clone()]), &admin_actor(), t(1)).await.unwrap();
    assert_eq!(ana.availability, Availability::Offline);
    assert!(matches!(create_agent(store, ORG, input("user_ana", vec![]), &admin_actor(), t(2)).await, Err(Error::Conflict { .. })), "once per user");
    create_agent(store, ORG, input("user_bo", vec![]), &admin_actor(), t(2)).await.unwrap();
    // Availability is the agent's own; the same one twice changes nothing.
    let online = set_availability(&routing, ORG, "user_ana", Availability::Online, t(3)).await.unwrap();
    assert_eq!((online.availability, online.version, online.availability_changed_at), (Availability::Online, 2, Some(t(3))));
    assert_eq!(set_availability(&routing, ORG, "user_ana", Availability::Online, t(4)).await.unwrap().version, 2);
    assert!(matches!(set_availability(&routing, ORG, "user_nobody", Availability::Online, t(4)).await, Err(Error::NotFound("agent"))));
    // The team's online agents.
    let found = agents(store, ORG, Some(&team.id), Some(Availability::Online)).await.unwrap();
    assert_eq!(found.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["user_ana"]);
    assert_eq!(agents(store, ORG, None, None).await.unwrap().len(), 2);
    // An edit over a stale version is 409; another organisation finds no agent.
    assert!(matches!(edit_agent(&routing, ORG, "user_ana", &AgentEdit { capacity: Some(9), version: Some(1), ..Default::default() }, &admin_actor(), t(5)).await, Err(Error::Conflict { .. })));
    assert_eq!(edit_agent(&routing, ORG, "user_ana", &AgentEdit { capacity: Some(9), ..Default::default() }, &admin_actor(), t(5)).await.unwrap().capacity, 9);
    assert!(matches!(agent(store, OTHER_ORG, "user_ana").await, Err(Error::NotFound("agent"))));
    assert!(agents(store, OTHER_ORG, None, None).await.unwrap().is_empty());
}
