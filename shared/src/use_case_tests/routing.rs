//! `app::routing` on the memory adapter: a queued conversation goes to the best eligible agent
//! (online, of the team, below capacity, every skill; proficiency, fewest open, longest idle),
//! stays queued when nobody has a place, and is taken when an agent closes one or comes online;
//! manual assignment, unassignment and team changes move the counters; 50 conversations routed
//! at once never put an agent over capacity.

use std::collections::BTreeMap;

use super::*;
use crate::app::conversations::{ConversationEdit, assign, close, reopen, update};
use crate::app::routing::{RoutingPorts, agent_freed, route};
use crate::app::teams;
use crate::domain::agent::{Agent, AgentEdit, AgentInput, Availability};
use crate::domain::conversation::{Conversation, ConversationStatus};
use crate::domain::team::{TeamEdit, TeamInput};
use crate::ports::{ChannelDirectory, ConversationStore, RoutingStore, TeamStore};

/// GIVEN a team (auto-assignment as given) that is the default team of the organisation's number.
async fn given_team(w: &World, auto_assign: bool) -> String {
    let store = &*w.deps.store;
    let team = teams::create(store, ORG, TeamInput { name: "Billing".into(), description: None, auto_assign, after_hours_reply: None }, &admin_actor(), t(0)).await.unwrap();
    let mut channel = w.store().channel_by_number(NUMBER).await.unwrap().unwrap();
    channel.default_team_id = Some(team.id.clone());
    w.store().put_channel(&channel, None).await.unwrap();
    team.id
}

/// GIVEN an agent of `team` with `skills`, `capacity`, online or not.
async fn given_agent(w: &World, id: &str, team: &str, skills: &[(&str, u8)], capacity: u32, online: bool) -> Agent {
    let store = &*w.deps.store;
    let input = AgentInput {
        user_id: id.into(),
        name: id.into(),
        team_ids: vec![team.into()],
        skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect::<BTreeMap<_, _>>(),
        languages: vec![],
        capacity,
    };
    let agent = teams::create_agent(store, ORG, input, &admin_actor(), t(0)).await.unwrap();
    if !online {
        return agent;
    }
    let online = agent.with_availability(Availability::Online, t(0)).unwrap();
    assert_eq!(store.save_agent(&online, None).await.unwrap(), crate::ports::Written::Stored);
    online
}

async fn agent(w: &World, id: &str) -> Agent {
    w.store().agent(ORG, id).await.unwrap().unwrap()
}

async fn conversation(w: &World, id: &str) -> Conversation {
    w.store().conversation(ORG, id).await.unwrap().unwrap()
}

/// A customer `n` writes for the first time at `t(n)`: a new conversation of the number's team.
async fn customer_writes(w: &World, n: i64) -> Conversation {
    w.receive_text(&format!("1650555{n:04}"), &format!("wamid.r{n}"), "hello", t(n)).await.remove(0).conversation
}

#[tokio::test(start_paused = true)]
async fn a_new_conversation_goes_to_the_best_online_agent_of_its_team_with_an_event() {
    // GIVEN a team with auto-assignment: an expert offline, a novice and a mid online
    let w = World::new().with_channel(None).await;
    let team = given_team(&w, true).await;
    given_agent(&w, "expert", &team, &[("billing", 5)], 3, false).await;
    given_agent(&w, "novice", &team, &[("billing", 1)], 3, true).await;
    given_agent(&w, "mid", &team, &[("billing", 3)], 3, true).await;
    // WHEN a customer writes (no skills required: fewest open, then the longest idle)
    let c = customer_writes(&w, 1).await;
    // THEN it is assigned at once, counted, with its event
    assert_eq!((c.status, c.assignee_id.as_deref()), (ConversationStatus::Assigned, Some("mid")));
    assert_eq!(conversation(&w, &c.id).await, c, "the message handling goes on with what is stored");
    assert_eq!((agent(&w, "mid").await.open_count, agent(&w, "mid").await.last_assigned_at), (1, Some(t(0))));
    let events = w.events_of(ORG, EventKind::ConversationAssigned).await;
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].data["assignee_id"].as_str(), events[0].data["by"].as_str()), (Some("mid"), Some("routing")));
    // AND the next goes to the one with fewest open; unassigned, it goes on, never back
    let mut queued = customer_writes(&w, 2).await;
    assert_eq!(queued.assignee_id.as_deref(), Some("novice"), "fewest open first: the novice had none");
    assign(&w.deps.routing_ports(), ORG, &queued.id, None, false, t(3)).await.unwrap();
    queued = conversation(&w, &queued.id).await;
    assert_eq!(queued.assignee_id.as_deref(), Some("mid"), "unassigned, it goes to another agent, never back");
}

#[tokio::test(start_paused = true)]
async fn required_skills_and_proficiency_decide() {
    let w = World::new().with_channel(None).await;
    let team = given_team(&w, false).await;
    given_agent(&w, "spanish_only", &team, &[("spanish", 5)], 3, true).await;
    given_agent(&w, "both_low", &team, &[("spanish", 1), ("refunds", 2)], 3, true).await;
    given_agent(&w, "both_high", &team, &[("spanish", 4), ("refunds", 4)], 3, true).await;
    let c = customer_writes(&w, 1).await;
    assert_eq!(c.status, ConversationStatus::Queued, "auto-assignment off: it waits");
    // WHEN a supervisor asks for both skills and the team turns auto-assignment on
    let edit = ConversationEdit { required_skills: Some(vec!["Spanish".into(), "refunds".into()]), ..Default::default() };
    let c = update(&w.deps.sla_ports(), &w.deps.routing_ports(), ORG, &c.id, &edit, t(2)).await.unwrap();
    assert_eq!(c.status, ConversationStatus::Queued);
    teams::edit(&*w.deps.store, ORG, &team, &TeamEdit { auto_assign: Some(true), ..Default::default() }, &admin_actor(), t(3)).await.unwrap();
    let routed = route(&w.deps.routing_ports(), c, None, t(4)).await.unwrap();
    // THEN the agent with both, at the best proficiency
    assert_eq!(routed.assignee_id.as_deref(), Some("both_high"));
}

#[tokio::test(start_paused = true)]
async fn nobody_free_leaves_it_queued_until_a_close_frees_a_place() {
    // GIVEN one agent of capacity 1 holding a conversation
    let w = World::new().with_channel(None).await;
    let team = given_team(&w, true).await;
    given_agent(&w, "ana", &team, &[], 1, true).await;
    let first = customer_writes(&w, 1).await;
    assert_eq!(first.assignee_id.as_deref(), Some("ana"));
    // WHEN two more customers write
    let second = customer_writes(&w, 2).await;
    let third = customer_writes(&w, 3).await;
    // THEN they wait in the team's queue, capacity kept
    assert_eq!((second.status, third.status), (ConversationStatus::Queued, ConversationStatus::Queued));
    assert_eq!(agent(&w, "ana").await.open_count, 1);
    // WHEN ana closes hers
    close(w.store(), &w.deps.routing_ports(), ORG, &first.id, t(5)).await.unwrap();
    // THEN she takes the longest waiting one, and only that one
    assert_eq!(conversation(&w, &second.id).await.assignee_id.as_deref(), Some("ana"));
    assert_eq!(conversation(&w, &third.id).await.status, ConversationStatus::Queued);
    assert_eq!(agent(&w, "ana").await.open_count, 1);
    assert_eq!(conversation(&w, &first.id).await.holds_capacity_of, None);
}

#[tokio::test(start_paused = true)]
async fn an_agent_coming_online_takes_as_many_as_their_places() {
    let w = World::new().with_channel(None).await;
    let team = given_team(&w, true).await;
    given_agent(&w, "ana", &team, &[], 2, false).await;
    let waiting: Vec<Conversation> = futures::future::join_all((1..=3).map(|n| customer_writes(&w, n))).await;
    assert!(waiting.iter().all(|c| c.status == ConversationStatus::Queued), "nobody online");
    // WHEN ana comes online
    let ana = teams::set_availability(&w.deps.routing_ports(), ORG, "ana", Availability::Online, t(10)).await.unwrap();
    // THEN she has the two longest waiting, the third waits
    assert_eq!((ana.availability, ana.open_count), (Availability::Online, 2));
    let assignees: Vec<Option<String>> = futures::future::join_all(waiting.iter().map(|c| conversation(&w, &c.id))).await.into_iter().map(|c| c.assignee_id).collect();
    assert_eq!(assignees, [Some("ana".to_string()), Some("ana".to_string()), None]);
    // AND going away keeps them (she comes back to them)
    teams::set_availability(&w.deps.routing_ports(), ORG, "ana", Availability::Away, t(11)).await.unwrap();
    assert_eq!(agent(&w, "ana").await.open_count, 2);
    assert_eq!(conversation(&w, &waiting[0].id).await.assignee_id.as_deref(), Some("ana"));
}

#[tokio::test(start_paused = true)]
async fn a_raised_capacity_takes_from_the_queue_as_coming_online_does() {
    let w = World::new().with_channel(None).await;
    let team = given_team(&w, true).await;
    given_agent(&w, "ana", &team, &[], 1, true).await;
    let waiting: Vec<Conversation> = futures::future::join_all((1..=4).map(|n| customer_writes(&w, n))).await;
    assert_eq!(agent(&w, "ana").await.open_count, 1, "one place");
    // WHEN an admin raises her capacity to 3
    let raise = AgentEdit { capacity: Some(3), ..Default::default() };
    let ana = teams::edit_agent(&w.deps.routing_ports(), ORG, "ana", &raise, &admin_actor(), t(10)).await.unwrap();
    // THEN she takes the two longest waiting at once, and the fourth still waits
    assert_eq!((ana.capacity, ana.open_count), (3, 3));
    let assigned = futures::future::join_all(waiting.iter().map(|c| conversation(&w, &c.id))).await.into_iter().filter(|c| c.assignee_id.as_deref() == Some("ana")).count();
    assert_eq!(assigned, 3);
    assert_eq!(w.store().team_queue(ORG, &team, 10).await.unwrap().len(), 1);
    // AND a lowered capacity keeps what she has
    let lower = AgentEdit { capacity: Some(1), ..Default::default() };
    assert_eq!(teams::edit_agent(&w.deps.routing_ports(), ORG, "ana", &lower, &admin_actor(), t(11)).await.unwrap().open_count, 3);
    assert_eq!(w.store().team_queue(ORG, &team, 10).await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn equals_take_turns_round_robin() {
    let w = World::new().with_channel(None).await;
    let team = given_team(&w, true).await;
    for id in ["a", "b", "c"] {
        given_agent(&w, id, &team, &[], 5, true).await;
    }
    let mut order = Vec::new();
    for n in 1..=6 {
        // Each closes it at once: open counts stay equal, only idleness decides.
        w.mem.clock.advance(chrono::Duration::minutes(1));
        let c = customer_writes(&w, n).await;
        order.push(c.assignee_id.clone().unwrap());
        close(w.store(), &w.deps.routing_ports(), ORG, &c.id, w.deps.clock.now()).await.unwrap();
    }
    assert_eq!(order, ["a", "b", "c", "a", "b", "c"]);
    assert!(futures::future::join_all(["a", "b", "c"].map(|id| agent(&w, id))).await.iter().all(|a| a.open_count == 0));
}

#[tokio::test(start_paused = true)]
async fn an_admin_may_assign_over_capacity_an_agent_may_not() {
    let w = World::new().with_channel(None).await;
    let team = given_team(&w, true).await;
    given_agent(&w, "ana", &team, &[], 1, true).await;
    let first = customer_writes(&w, 1).await;
    let second = customer_writes(&w, 2).await;
    assert_eq!((first.assignee_id.as_deref(), second.status), (Some("ana"), ConversationStatus::Queued));
    // An agent (or supervisor) assigning to a full agent: 409, nothing moved
    assert_conflict(assign(&w.deps.routing_ports(), ORG, &second.id, Some("ana"), false, t(3)).await, "at_capacity");
    assert_eq!(agent(&w, "ana").await.open_count, 1);
    // An admin: taken over capacity
    let c = assign(&w.deps.routing_ports(), ORG, &second.id, Some("ana"), true, t(4)).await.unwrap();
    assert_eq!((c.status, c.holds_capacity_of.as_deref()), (ConversationStatus::Assigned, Some("ana")));
    assert_eq!(agent(&w, "ana").await.open_count, 2);
    // A user who is no agent is assigned by hand, counted by nobody; ana's place comes back
    let c = assign(&w.deps.routing_ports(), ORG, &second.id, Some("someone"), false, t(5)).await.unwrap();
    assert_eq!((c.assignee_id.as_deref(), c.holds_capacity_of.as_deref()), (Some("someone"), None));
    assert_eq!(agent(&w, "ana").await.open_count, 1);
    assert_eq!(w.events_of(ORG, EventKind::ConversationUnassigned).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_team_change_queues_it_for_the_new_team_and_frees_the_old_agent() {
    let w = World::new().with_channel(None).await;
    let billing = given_team(&w, true).await;
    let sales = teams::create(&*w.deps.store, ORG, TeamInput { name: "Sales".into(), description: None, auto_assign: true, after_hours_reply: None }, &admin_actor(), t(0)).await.unwrap().id;
    given_agent(&w, "ana", &billing, &[], 1, true).await;
    given_agent(&w, "sam", &sales, &[], 1, true).await;
    let c = customer_writes(&w, 1).await;
    let waiting = customer_writes(&w, 2).await;
    assert_eq!((c.assignee_id.as_deref(), waiting.status), (Some("ana"), ConversationStatus::Queued));
    // WHEN a supervisor moves the first to sales
    let edit = ConversationEdit { team_id: Some(Some(sales.clone())), ..Default::default() };
    let moved = update(&w.deps.sla_ports(), &w.deps.routing_ports(), ORG, &c.id, &edit, t(3)).await.unwrap();
    // THEN sales' agent has it, and ana took billing's waiting one with the place she got back
    assert_eq!((moved.team_id.as_deref(), moved.assignee_id.as_deref()), (Some(sales.as_str()), Some("sam")));
    assert_eq!(conversation(&w, &waiting.id).await.assignee_id.as_deref(), Some("ana"));
    assert_eq!((agent(&w, "ana").await.open_count, agent(&w, "sam").await.open_count), (1, 1));
    // AND a reopened conversation of a team is queued and routed again
    close(w.store(), &w.deps.routing_ports(), ORG, &moved.id, t(4)).await.unwrap();
    assert_eq!(agent(&w, "sam").await.open_count, 0);
    let reopened = reopen(w.store(), &w.deps.routing_ports(), ORG, &moved.id, t(5)).await.unwrap();
    assert_eq!((reopened.status, reopened.assignee_id.as_deref()), (ConversationStatus::Assigned, Some("sam")));
    assert_eq!(agent(&w, "sam").await.open_count, 1);
}

#[tokio::test(start_paused = true)]
async fn a_freed_agent_takes_only_what_their_skills_allow() {
    let w = World::new().with_channel(None).await;
    let team = given_team(&w, true).await;
    given_agent(&w, "ana", &team, &[("billing", 3)], 1, false).await;
    let needs_spanish = customer_writes(&w, 1).await;
    update(&w.deps.sla_ports(), &w.deps.routing_ports(), ORG, &needs_spanish.id, &ConversationEdit { required_skills: Some(vec!["spanish".into()]), ..Default::default() }, t(2))
        .await
        .unwrap();
    let plain = customer_writes(&w, 3).await;
    let taken = agent_freed(&RoutingPorts { routing: w.store(), teams: w.store() }, ORG, "ana", None, t(4)).await.unwrap();
    assert!(taken.is_empty(), "offline: nothing");
    teams::set_availability(&w.deps.routing_ports(), ORG, "ana", Availability::Online, t(5)).await.unwrap();
    assert_eq!(conversation(&w, &needs_spanish.id).await.status, ConversationStatus::Queued, "the older one needs a skill she lacks");
    assert_eq!(conversation(&w, &plain.id).await.assignee_id.as_deref(), Some("ana"));
    assert_eq!(w.store().team_queue(ORG, &team, 10).await.unwrap().len(), 1);
}

/// 50 conversations queued at once, routed concurrently (a multi-threaded runtime: the routes
/// really interleave between their read of the agents and their write) to 3 agents of capacity
/// 5: every agent ends exactly at capacity with as many conversations as it counts, the other 35
/// stay queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_conversations_routed_at_once_never_exceed_capacity() {
    let w = World::new().with_channel(None).await;
    let team = given_team(&w, false).await;
    for id in ["a", "b", "c"] {
        given_agent(&w, id, &team, &[], 5, true).await;
    }
    let queued: Vec<Conversation> = futures::future::join_all((1..=50).map(|n| customer_writes(&w, n))).await;
    assert!(queued.iter().all(|c| c.status == ConversationStatus::Queued));
    teams::edit(&*w.deps.store, ORG, &team, &TeamEdit { auto_assign: Some(true), ..Default::default() }, &admin_actor(), t(60)).await.unwrap();
    let store = w.store_arc();
    let tasks: Vec<_> = queued
        .into_iter()
        .map(|c| {
            let store = store.clone();
            tokio::spawn(async move { route(&RoutingPorts { routing: &*store, teams: &*store }, c, None, t(61)).await.unwrap() })
        })
        .collect();
    let routed: Vec<Conversation> = futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
    let mut per_agent: BTreeMap<String, i64> = BTreeMap::new();
    for c in &routed {
        let stored = conversation(&w, &c.id).await;
        assert_eq!(stored.assignee_id, c.assignee_id, "what route answers is what is stored");
        if let Some(a) = stored.assignee_id {
            *per_agent.entry(a).or_default() += 1;
        }
    }
    assert_eq!(per_agent, BTreeMap::from([("a".into(), 5), ("b".into(), 5), ("c".into(), 5)]));
    for id in ["a", "b", "c"] {
        assert_eq!(agent(&w, id).await.open_count, 5, "{id} counts exactly what it holds");
    }
    assert_eq!(w.store().team_queue(ORG, &team, 100).await.unwrap().len(), 35);
    assert_eq!(w.events_of(ORG, EventKind::ConversationAssigned).await.len(), 15);
}

#[tokio::test(start_paused = true)]
async fn an_erasure_gives_the_agents_place_back_and_counts_the_clocks_it_stops_as_a_close_does() {
    use crate::domain::sla::{CountedIn, SlaMetric, SlaPolicyInput, SlaTargets};
    // GIVEN a team with auto-assignment, one online agent with one place, a first-response policy
    let w = World::new().with_channel(None).await;
    let team = given_team(&w, true).await;
    given_agent(&w, "solo", &team, &[], 1, true).await;
    let targets = SlaTargets { first_response_seconds: Some(3600), next_response_seconds: None, resolution_seconds: None };
    let policy = SlaPolicyInput { name: "Billing".into(), team_id: Some(team.clone()), priority: None, targets, counted_in: CountedIn::Calendar, warning_percent: 80, escalation: None };
    crate::app::sla::create(&w.deps.sla_ports(), ORG, policy, &admin_actor(), t(0)).await.unwrap();
    // AND a customer's conversation the agent holds, and another waiting in the queue
    let held = customer_writes(&w, 1).await;
    let waiting = customer_writes(&w, 2).await;
    assert_eq!((held.assignee_id.as_deref(), waiting.status), (Some("solo"), ConversationStatus::Queued));
    assert!(held.sla.as_ref().is_some_and(|s| s.check_at.is_some()), "in the deadline index");
    // WHEN the first customer is erased, twice
    crate::app::customers::erase(w.store(), &w.deps.routing_ports(), ORG, &held.customer_id, &admin_actor(), t(5)).await.unwrap();
    crate::app::customers::erase(w.store(), &w.deps.routing_ports(), ORG, &held.customer_id, &admin_actor(), t(6)).await.unwrap();
    // THEN their conversation is closed, held by nobody, out of the deadline index
    let erased = conversation(&w, &held.id).await;
    assert_eq!((erased.status, erased.holds_capacity_of.as_deref()), (ConversationStatus::Closed, None));
    assert!(erased.sla.as_ref().is_some_and(|s| s.check_at.is_none() && s.frt.as_ref().is_some_and(|c| c.stopped_at == Some(t(5)))), "{:?}", erased.sla);
    // AND the place went back once and the agent took the waiting conversation with it
    assert_eq!(conversation(&w, &waiting.id).await.assignee_id.as_deref(), Some("solo"));
    assert_eq!(agent(&w, "solo").await.open_count, 1, "one given back, one taken: never 0 or -1");
    // AND the stopped first-response clock counted once, as a close before the deadline counts it
    let day = t(0).date_naive();
    let report = crate::app::sla::compliance(w.store(), w.store(), ORG, Some(&team), day, day).await.unwrap();
    let frt = report.teams[0].metrics.iter().find(|m| m.metric == SlaMetric::Frt).expect("frt counted");
    assert_eq!((frt.met, frt.missed), (1, 0), "{frt:?}");
}

#[tokio::test(start_paused = true)]
async fn the_organisations_routing_settings_decide_which_sources_set_a_conversations_team() {
    use crate::app::routing::{save_settings, settings};
    use crate::domain::bot::{BotSettings, MenuAction};
    use crate::domain::routing::{RoutingSettings, TeamSource};
    let w = World::new().with_channel(None).await;
    let team = given_team(&w, false).await;
    // GIVEN nothing saved: every source sets teams (what MAX did before the setting)
    assert_eq!(settings(w.store(), ORG).await.unwrap().team_sources, TeamSource::ALL.to_vec());
    let duplicated = RoutingSettings { team_sources: vec![TeamSource::Agent, TeamSource::Agent] };
    let refused = save_settings(w.store(), ORG, duplicated, &admin_actor(), t(0)).await;
    assert!(matches!(refused, Err(crate::error::Error::Invalid { ref field, .. }) if field == "team_sources[1]"), "{refused:?}");
    // WHEN only people set teams
    save_settings(w.store(), ORG, RoutingSettings { team_sources: vec![TeamSource::Agent] }, &admin_actor(), t(0)).await.unwrap();
    // THEN a new conversation on the number is not put in its default team
    let c = customer_writes(&w, 1).await;
    assert_eq!((c.team_id.as_deref(), c.status), (None, ConversationStatus::Open));
    // AND a bot menu entry naming the team answers but leaves the team alone
    let mut menu = BotSettings::default();
    menu.menu.entries[0].action = MenuAction::Handover { state: "billing".into(), text: "Billing answers here.".into(), team_id: Some(team.clone()) };
    crate::app::bot::save_settings(w.store(), w.store(), ORG, menu, &admin_actor(), t(0)).await.unwrap();
    let picked = w.receive_text("16505550001", "wamid.pick", "1", t(2)).await.remove(0);
    crate::app::bot::on_received(&w.deps.bot_ports(), &picked, t(2)).await.unwrap();
    let after_pick = conversation(&w, &c.id).await;
    assert_eq!((after_pick.state.as_str(), after_pick.team_id.as_deref()), ("billing", None));
    // AND a supervisor's PATCH does set it
    let edit = ConversationEdit { team_id: Some(Some(team.clone())), ..Default::default() };
    let moved = update(&w.deps.sla_ports(), &w.deps.routing_ports(), ORG, &c.id, &edit, t(3)).await.unwrap();
    assert_eq!((moved.team_id.as_deref(), moved.status), (Some(team.as_str()), ConversationStatus::Queued));
    // WHEN only the number's default sets teams: a PATCH naming a team is 422 `team_id`
    save_settings(w.store(), ORG, RoutingSettings { team_sources: vec![TeamSource::ChannelDefault] }, &admin_actor(), t(4)).await.unwrap();
    let patch = update(&w.deps.sla_ports(), &w.deps.routing_ports(), ORG, &c.id, &ConversationEdit { team_id: Some(None), ..Default::default() }, t(4)).await;
    assert!(matches!(patch, Err(crate::error::Error::Invalid { ref field, .. }) if field == "team_id"), "{patch:?}");
    assert_eq!(conversation(&w, &c.id).await.team_id.as_deref(), Some(team.as_str()), "unchanged");
    // AND the next customer's conversation is the number's team's again
    assert_eq!(customer_writes(&w, 2).await.team_id.as_deref(), Some(team.as_str()));
    // AND both saves are in the audit trail, the refused one is not, each with what it replaced
    let query = crate::domain::audit::AuditQuery { entity: Some(crate::domain::audit::EntityFilter { entity_type: crate::domain::audit::AuditEntity::Settings, entity_id: Some("routing".into()) }), ..Default::default() };
    let mut trail = crate::ports::AuditStore::audit_entries(w.store(), ORG, &query, &crate::ports::PageRequest { limit: 10, cursor: None }).await.unwrap().items;
    trail.sort_by_key(|e| e.at);
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert_eq!(&trail[1].actor, &admin_actor());
    assert_eq!(trail[0].changes["settings"].before, serde_json::Value::Null, "nothing was saved before");
    assert_eq!(trail[1].changes["settings"].before["team_sources"], serde_json::json!(["agent"]));
    assert_eq!(trail[1].changes["settings"].after["team_sources"], serde_json::json!(["channel_default"]));
}
