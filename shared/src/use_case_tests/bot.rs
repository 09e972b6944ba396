//! `app::bot`: the menu, chat support opening one ticket, a message handled once however often it
//! is handed over.

use super::*;
use crate::app::bot::{on_received, seed_defaults};
use crate::domain::bot::{BotReply, TicketStep};
use crate::ports::{ConversationStore, Written};

async fn given_bot(w: &World) {
    assert_eq!(seed_defaults(w.store(), ORG, t(0)).await.unwrap(), Written::Stored);
}

/// The customer writes `text`; the bot reacts as inbound-processor has it do.
async fn customer_says(w: &World, wamid: &str, text: &str, at: DateTime<Utc>) -> (Received, crate::app::bot::BotOutcome) {
    let received = w.receive_text(CUSTOMER, wamid, text, at).await.remove(0);
    let outcome = on_received(&w.deps.bot_ports(), &received, at).await.unwrap();
    (received, outcome)
}

#[tokio::test(start_paused = true)]
async fn a_first_message_gets_the_menu_once_however_often_it_is_handled() {
    let w = World::new().with_channel(None).await;
    given_bot(&w).await;
    let (received, outcome) = customer_says(&w, "wamid.1", "hello", t(0)).await;
    assert_eq!(outcome.decision.reply, Some(BotReply::Menu));
    // WHEN the same stored message is handed to the bot again (the worker retried its bot step)
    let again = on_received(&w.deps.bot_ports(), &received, t(1)).await.unwrap();
    // THEN the same reply, queued once
    assert_eq!(again.reply_id, outcome.reply_id);
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(Some(jobs[0].message_id.clone()), outcome.reply_id);
    let menu = w.message(&received.conversation.id, &jobs[0].message_id).await;
    assert_eq!(menu.kind, "interactive");
}

#[tokio::test(start_paused = true)]
async fn chat_support_opens_one_ticket_and_later_messages_join_it() {
    let w = World::new().with_channel(None).await;
    given_bot(&w).await;
    customer_says(&w, "wamid.1", "hello", t(0)).await;
    let (_, chose) = customer_says(&w, "wamid.2", "2", t(1)).await;
    assert!(matches!(chose.decision.reply, Some(BotReply::Text(_))), "the chat support greeting");
    // WHEN the customer describes the problem, and the bot is handed that message twice
    let (received, opened) = customer_says(&w, "wamid.3", "my order is late", t(2)).await;
    assert_eq!(opened.decision.ticket, TicketStep::Open);
    let ticket_id = opened.ticket_id.clone().expect("a ticket");
    let repeat = on_received(&w.deps.bot_ports(), &received, t(3)).await.unwrap();
    // THEN one ticket (the same one), counted once, announced once
    assert_eq!(repeat.ticket_id.as_deref(), Some(ticket_id.as_str()));
    assert_eq!(crate::app::support::notifications(w.store(), ORG, None).await.unwrap().open_tickets, 1);
    assert_eq!(w.events_of(ORG, EventKind::TicketOpened).await.len(), 1);
    let c = w.store().conversation(ORG, &received.conversation.id).await.unwrap().unwrap();
    assert_eq!((c.state.as_str(), c.ticket_id.as_deref()), ("chat_support", Some(ticket_id.as_str())));
    // AND the next message joins it without a reply
    let (_, joined) = customer_says(&w, "wamid.4", "any news?", t(4)).await;
    assert_eq!(joined.ticket_id.as_deref(), Some(ticket_id.as_str()));
    assert_eq!(joined.reply_id, None);
    let view = crate::app::support::view(&w.deps.support_ports(), ORG, &ticket_id, &crate::ports::PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert_eq!(view.messages.len(), 2);
    assert_eq!(w.reply_jobs().len(), 2, "the menu and the greeting only");
}

#[tokio::test(start_paused = true)]
async fn without_bot_settings_nobody_gets_a_menu() {
    let w = World::new().with_channel(None).await;
    let (received, outcome) = customer_says(&w, "wamid.1", "hello", t(0)).await;
    assert_eq!((outcome.decision.reply, outcome.reply_id), (None, None));
    assert!(w.reply_jobs().is_empty());
    let c = w.store().conversation(ORG, &received.conversation.id).await.unwrap().unwrap();
    assert_eq!(c, received.conversation, "nothing written");
}

#[tokio::test(start_paused = true)]
async fn beyond_the_daily_ticket_limit_the_bot_says_so_and_opens_none() {
    let w = World::new().with_channel(None).await;
    // GIVEN a bot that lets a customer open 2 tickets a day
    let settings = crate::domain::bot::BotSettings { daily_ticket_limit: 2, ..Default::default() };
    crate::app::bot::save_settings(w.store(), w.store(), ORG, settings, &admin_actor(), t(0)).await.unwrap();
    let support = w.deps.support_ports();
    let staff = crate::app::support::Staff { user_id: "admin-1".into(), name: None, role: "admin".into() };
    customer_says(&w, "wamid.1", "hello", t(1)).await;
    // AND two tickets opened (and resolved) today
    for n in 0..2 {
        customer_says(&w, &format!("wamid.c{n}"), "2", t(2 + n * 3)).await;
        let (_, opened) = customer_says(&w, &format!("wamid.o{n}"), "my order is late", t(3 + n * 3)).await;
        let ticket_id = opened.ticket_id.expect("a ticket");
        crate::app::support::close(&support, ORG, &ticket_id, crate::domain::support::TicketStatus::Resolved, &staff, t(4 + n * 3)).await.unwrap();
    }
    w.reply_jobs();
    // WHEN the customer asks for a third
    customer_says(&w, "wamid.c2", "2", t(10)).await;
    let (received, third) = customer_says(&w, "wamid.o2", "and another thing", t(11)).await;
    // THEN no ticket, and the bot says so
    assert_eq!(third.ticket_id, None);
    let limit_text = crate::domain::bot::TICKET_LIMIT_REACHED.replace("{limit}", "2");
    assert_eq!(third.decision.reply, Some(BotReply::Text(limit_text.clone())));
    let jobs = w.reply_jobs();
    assert_eq!(jobs.len(), 2, "the greeting, then the limit");
    assert_eq!(w.message(&received.conversation.id, &jobs[1].message_id).await.text.as_deref(), Some(limit_text.as_str()));
    let counts = crate::app::support::notifications(w.store(), ORG, None).await.unwrap();
    assert_eq!((counts.open_tickets, counts.in_progress), (0, 0));
    assert_eq!(w.events_of(ORG, EventKind::TicketOpened).await.len(), 2);
    // AND the conversation is back at the menu, without a ticket
    let c = w.store().conversation(ORG, &received.conversation.id).await.unwrap().unwrap();
    assert_eq!((c.state.as_str(), c.ticket_id.as_deref()), ("menu", None));
    // AND the same message handled again says it once more under the same key: no second reply
    on_received(&w.deps.bot_ports(), &received, t(12)).await.unwrap();
    assert!(w.reply_jobs().is_empty());
    // AND the next UTC day a ticket opens again
    let tomorrow = t(24 * 60);
    customer_says(&w, "wamid.c3", "2", tomorrow).await;
    let (_, fourth) = customer_says(&w, "wamid.o3", "new day, new problem", tomorrow + chrono::Duration::minutes(1)).await;
    assert!(fourth.ticket_id.is_some());
}

/// GIVEN a team "Billing" with auto-assignment, an online agent of it, an SLA policy for it, and a
/// bot whose first entry hands over to that team.
async fn given_bot_handing_over_to_a_team(w: &World) -> (String, String) {
    use crate::domain::agent::{AgentInput, Availability};
    use crate::domain::bot::{BotSettings, MenuAction};
    use crate::domain::sla::{CountedIn, SlaPolicyInput, SlaTargets};
    use crate::domain::team::TeamInput;
    let store = &*w.deps.store;
    let team = crate::app::teams::create(store, ORG, TeamInput { name: "Billing".into(), description: None, auto_assign: true, after_hours_reply: None }, &admin_actor(), t(0)).await.unwrap();
    let input = AgentInput { user_id: "ana".into(), name: "Ana".into(), team_ids: vec![team.id.clone()], skills: Default::default(), languages: vec![], capacity: 2 };
    let agent = crate::app::teams::create_agent(store, ORG, input, &admin_actor(), t(0)).await.unwrap();
    store.save_agent(&agent.with_availability(Availability::Online, t(0)).unwrap(), None).await.unwrap();
    let targets = SlaTargets { first_response_seconds: Some(3600), next_response_seconds: None, resolution_seconds: None };
    let policy = SlaPolicyInput { name: "Billing".into(), team_id: Some(team.id.clone()), priority: None, targets, counted_in: CountedIn::Calendar, warning_percent: 80, escalation: None };
    let policy = crate::app::sla::create(&w.deps.sla_ports(), ORG, policy, &admin_actor(), t(0)).await.unwrap();
    let mut settings = BotSettings::default();
    settings.menu.entries[0].action = MenuAction::Handover { state: "billing".into(), text: "Billing will answer you here.".into(), team_id: Some(team.id.clone()) };
    crate::app::bot::save_settings(w.store(), w.store(), ORG, settings, &admin_actor(), t(0)).await.unwrap();
    (team.id, policy.id)
}

#[tokio::test(start_paused = true)]
async fn a_menu_entry_naming_a_team_moves_the_conversation_to_its_queue_and_routes_it() {
    let w = World::new().with_channel(None).await;
    let (team, policy) = given_bot_handing_over_to_a_team(&w).await;
    let (received, _) = customer_says(&w, "wamid.1", "hello", t(1)).await;
    assert_eq!((received.conversation.team_id.as_deref(), received.conversation.sla_policy_id.as_deref()), (None, None), "the bot's, no team yet");
    // WHEN the customer picks the entry (and the bot is handed that message twice)
    let (picked, outcome) = customer_says(&w, "wamid.2", "1", t(2)).await;
    on_received(&w.deps.bot_ports(), &picked, t(3)).await.unwrap();
    // THEN the answer, and the conversation in the team, its policy applied, given to its online agent
    assert_eq!(outcome.decision.reply, Some(BotReply::Text("Billing will answer you here.".into())));
    let c = w.store().conversation(ORG, &picked.conversation.id).await.unwrap().unwrap();
    assert_eq!(
        (c.state.as_str(), c.team_id.as_deref(), c.status, c.assignee_id.as_deref(), c.sla_policy_id.as_deref()),
        ("billing", Some(team.as_str()), crate::domain::conversation::ConversationStatus::Assigned, Some("ana"), Some(policy.as_str()))
    );
    assert!(c.sla.as_ref().is_some_and(|s| s.frt.is_some()), "the first response clock runs from the first message");
    let assigned = w.events_of(ORG, EventKind::ConversationAssigned).await;
    assert_eq!(assigned.len(), 1, "moved and routed once");
    use crate::ports::TeamStore;
    assert_eq!(w.store().agent(ORG, "ana").await.unwrap().unwrap().open_count, 1);
}

#[tokio::test(start_paused = true)]
async fn a_menu_entry_must_name_one_of_the_organisations_teams() {
    use crate::domain::bot::{BotSettings, MenuAction};
    let w = World::new().with_channel(None).await;
    let mut settings = BotSettings::default();
    settings.menu.entries[1].action = MenuAction::Handover { state: "billing".into(), text: "x".into(), team_id: Some("team-of-nobody".into()) };
    let refused = crate::app::bot::save_settings(w.store(), w.store(), ORG, settings, &admin_actor(), t(0)).await;
    assert!(matches!(refused, Err(crate::error::Error::Invalid { ref field, .. }) if field == "menu.entries[1].action.team_id"), "{refused:?}");
    assert!(crate::ports::BotStore::bot_settings(w.store(), ORG).await.unwrap().is_none(), "nothing stored");
}
