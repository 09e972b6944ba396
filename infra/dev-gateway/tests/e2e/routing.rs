//! Routing through the dev gateway on moto (issue 13): conversations of a team with
//! auto-assignment go to its online agents within their capacity — 50 conversations routed at
//! once (50 concurrent requests, each routing inline) leave 3 agents of capacity 5 exactly full
//! and 35 conversations in the queue (the 15 events are counted on memory, `use_case_tests::routing`); a required skill picks the agent who has it, and a close
//! hands the freed place to the longest waiting conversation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use max_dev::testing::{TestStack, WAIT, eventually, fixture, items};

const NUMBER: &str = "301234567890777";
const WABA: &str = "301234567890700";

/// GIVEN a team (auto-assignment as given), the default team of a registered number.
async fn given_team_and_number(t: &TestStack, auto_assign: bool) -> String {
    let (s, team) = t.post("/v1/teams", &t.org.admin, json!({ "name": "Billing", "auto_assign": auto_assign })).await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    let team = team["id"].as_str().unwrap().to_string();
    let registration = json!({
        "phone_number_id": NUMBER, "waba_id": WABA, "display_phone_number": "+1 555-010-0777",
        "access_token": "EAAG-routing-number-token", "default_team_id": team
    });
    let (s, registered) = t.post("/v1/channels/whatsapp", &t.org.admin, registration).await;
    assert_eq!(s, StatusCode::CREATED, "{registered}");
    team
}

/// GIVEN an agent of `team` (user `{org}_{name}`) who goes online with their own token; their
/// token.
async fn given_online_agent(t: &TestStack, team: &str, name: &str, skills: Value, capacity: u32) -> (String, String) {
    let user = format!("{}_{name}", t.org.seed.id);
    let (s, agent) = t.post("/v1/agents", &t.org.admin, json!({ "user_id": user, "name": name, "team_ids": [team], "skills": skills, "capacity": capacity })).await;
    assert_eq!(s, StatusCode::CREATED, "{agent}");
    let token = t.stack.tokens.mint(&t.org.seed.id, &user, "agent", name);
    let (s, online) = t.api(Method::PUT, "/v1/agents/me/availability", &token, Some(json!({ "availability": "online" }))).await;
    assert_eq!((s, online["availability"].as_str()), (StatusCode::OK, Some("online")), "{online}");
    (user, token)
}

/// Customer `n` writes to the number (their own address and message id).
async fn customer_writes(t: &TestStack, n: usize) {
    let mut body: Value = serde_json::from_slice(&crate::fresh(&fixture("meta-openapi/text-message.json"))).unwrap();
    let address = format!("1650777{n:04}");
    let value = &mut body["entry"][0]["changes"][0]["value"];
    value["metadata"]["phone_number_id"] = json!(NUMBER);
    value["contacts"][0]["wa_id"] = json!(address);
    value["messages"][0]["from"] = json!(address);
    value["messages"][0]["id"] = json!(format!("wamid.routing.{n}"));
    assert_eq!(t.post_webhook(&serde_json::to_vec(&body).unwrap()).await.status(), StatusCode::OK);
}

/// The number's conversations whose first message is processed.
async fn processed(t: &TestStack) -> Vec<Value> {
    let (s, page) = t.get("/v1/conversations?limit=100", &t.org.admin).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    items(&page).into_iter().filter(|c| c["phone_number_id"] == NUMBER && !c["first_message_at"].is_null()).collect()
}

async fn agent(t: &TestStack, user: &str) -> Value {
    let (s, agent) = t.get(&format!("/v1/agents/{user}"), &t.org.admin).await;
    assert_eq!(s, StatusCode::OK, "{agent}");
    agent
}

async fn assigned_to(t: &TestStack, user: &str) -> Vec<Value> {
    let (s, page) = t.get(&format!("/v1/conversations?assignee={user}&limit=100"), &t.org.admin).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    items(&page)
}

async fn queue(t: &TestStack, team: &str) -> Vec<Value> {
    let (s, page) = t.get(&format!("/v1/conversations?status=queued&team_id={team}&limit=100"), &t.org.admin).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    items(&page)
}

#[tokio::test]
async fn fifty_conversations_routed_at_once_leave_three_agents_exactly_at_capacity() {
    let t = TestStack::start().await;
    // GIVEN a team without auto-assignment yet, three online agents of capacity 5, and 50
    // customers' conversations waiting in its queue
    let team = given_team_and_number(&t, false).await;
    let mut agents = Vec::new();
    for name in ["r1", "r2", "r3"] {
        agents.push(given_online_agent(&t, &team, name, json!({}), 5).await.0);
    }
    futures::future::join_all((0..50).map(|n| customer_writes(&t, n))).await;
    let waiting = eventually("50 conversations processed", WAIT * 3, || async { Some(processed(&t).await).filter(|c| c.len() == 50) }).await;
    assert!(waiting.iter().all(|c| c["status"] == "queued" && c["assignee_id"].is_null()), "auto-assignment is off: all queued");
    // WHEN auto-assignment is switched on and 50 supervisors' edits queue them again at once
    // (each `PATCH` routes its conversation inline)
    let (s, on) = t.api(Method::PATCH, &format!("/v1/teams/{team}"), &t.org.admin, Some(json!({ "auto_assign": true }))).await;
    assert_eq!(s, StatusCode::OK, "{on}");
    let edits = waiting.iter().map(|c| {
        let path = format!("/v1/conversations/{}", c["id"].as_str().unwrap());
        let t = &t;
        async move { t.api(Method::PATCH, &path, &t.org.supervisor, Some(json!({ "priority": "high" }))).await }
    });
    let answers = futures::future::join_all(edits).await;
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::OK), "{:?}", answers.iter().find(|(s, _)| *s != StatusCode::OK));
    // THEN each agent holds exactly 5 (counted and listed), the 35 others wait
    let assigned = answers.iter().filter(|(_, c)| c["status"] == "assigned").count();
    assert_eq!(assigned, 15, "as the edits answered");
    for user in &agents {
        let a = agent(&t, user).await;
        assert_eq!(a["open_count"].as_i64(), Some(5), "{a}");
        assert_eq!(assigned_to(&t, user).await.len(), 5, "{user}'s conversations");
    }
    assert_eq!(queue(&t, &team).await.len(), 35);
}

#[tokio::test]
async fn a_required_skill_picks_its_agent_and_a_close_hands_the_place_on() {
    let t = TestStack::start().await;
    let team = given_team_and_number(&t, true).await;
    let (generalist, _) = given_online_agent(&t, &team, "generalist", json!({ "billing": 2 }), 1).await;
    let (speaker, speaker_token) = given_online_agent(&t, &team, "speaker", json!({ "billing": 1, "spanish": 4 }), 1).await;
    // Two customers: one each (fewest open first).
    customer_writes(&t, 1).await;
    customer_writes(&t, 2).await;
    let both = eventually("both routed", WAIT, || async { Some(processed(&t).await).filter(|c| c.len() == 2 && c.iter().all(|c| c["status"] == "assigned")) }).await;
    assert_eq!((agent(&t, &generalist).await["open_count"].as_i64(), agent(&t, &speaker).await["open_count"].as_i64()), (Some(1), Some(1)));
    // WHEN a third customer writes, nobody has a place: it waits
    customer_writes(&t, 3).await;
    let third = eventually("the third processed", WAIT, || async { processed(&t).await.into_iter().find(|c| !both.iter().any(|b| b["id"] == c["id"])) }).await;
    assert_eq!(third["status"], "queued", "{third}");
    let third_id = third["id"].as_str().unwrap();
    // AND it needs Spanish
    let (s, _) = t.api(Method::PATCH, &format!("/v1/conversations/{third_id}"), &t.org.supervisor, Some(json!({ "required_skills": ["spanish"] }))).await;
    assert_eq!(s, StatusCode::OK);
    // WHEN the generalist closes theirs: they lack the skill, it keeps waiting
    let generalists = assigned_to(&t, &generalist).await;
    let (s, _) = t.api(Method::POST, &format!("/v1/conversations/{}/close", generalists[0]["id"].as_str().unwrap()), &t.org.agent, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(agent(&t, &generalist).await["open_count"].as_i64(), Some(0));
    let (_, c) = t.get(&format!("/v1/conversations/{third_id}"), &t.org.agent).await;
    assert_eq!(c["status"], "queued", "{c}");
    // WHEN the speaker closes theirs: the place goes to the one that needs Spanish
    let speakers = assigned_to(&t, &speaker).await;
    let (s, _) = t.api(Method::POST, &format!("/v1/conversations/{}/close", speakers[0]["id"].as_str().unwrap()), &speaker_token, None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, c) = t.get(&format!("/v1/conversations/{third_id}"), &t.org.agent).await;
    assert_eq!((c["status"].as_str(), c["assignee_id"].as_str()), (Some("assigned"), Some(speaker.as_str())), "{c}");
    assert_eq!(agent(&t, &speaker).await["open_count"].as_i64(), Some(1));
    // AND a fourth customer goes to the generalist's free place; an agent cannot assign it over
    // the speaker's capacity, an admin can
    let fourth_id = {
        customer_writes(&t, 4).await;
        let fourth = eventually("the fourth routed (after its message is stored)", WAIT, || async { processed(&t).await.into_iter().find(|c| c["status"] == "assigned" && c["customer_address"].as_str().is_some_and(|a| a.ends_with("0004"))) }).await;
        fourth["id"].as_str().unwrap().to_string()
    };
    let (_, fourth) = t.get(&format!("/v1/conversations/{fourth_id}"), &t.org.agent).await;
    assert_eq!(fourth["assignee_id"].as_str(), Some(generalist.as_str()), "the generalist had a place: {fourth}");
    let (s, refused) = t.post(&format!("/v1/conversations/{fourth_id}/assign"), &t.org.agent, json!({ "assignee_id": speaker })).await;
    assert_eq!(s, StatusCode::CONFLICT, "{refused}");
    let (s, taken) = t.post(&format!("/v1/conversations/{fourth_id}/assign"), &t.org.admin, json!({ "assignee_id": speaker })).await;
    assert_eq!((s, taken["assignee_id"].as_str()), (StatusCode::OK, Some(speaker.as_str())), "{taken}");
    assert_eq!((agent(&t, &speaker).await["open_count"].as_i64(), agent(&t, &generalist).await["open_count"].as_i64()), (Some(2), Some(0)));
}

/// A customer's erasure closes their conversation as a close does: the agent's place comes back
/// (and goes to the conversation waiting), and it leaves the deadline index.
#[tokio::test]
async fn an_erasure_gives_the_agents_place_back_to_the_queue() {
    let t = TestStack::start().await;
    let team = given_team_and_number(&t, true).await;
    let (solo, _) = given_online_agent(&t, &team, "solo", json!({}), 1).await;
    customer_writes(&t, 1).await;
    let held = eventually("the first routed", WAIT, || async { processed(&t).await.into_iter().find(|c| c["status"] == "assigned") }).await;
    customer_writes(&t, 2).await;
    let waiting = eventually("the second queued", WAIT, || async { processed(&t).await.into_iter().find(|c| c["status"] == "queued") }).await;
    // WHEN an admin erases the first customer
    let customer = held["customer_id"].as_str().unwrap();
    let (s, b) = t.api(Method::DELETE, &format!("/v1/customers/{customer}"), &t.org.admin, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    // THEN their conversation is closed and the agent's place went to the waiting one
    let (_, erased) = t.get(&format!("/v1/conversations/{}", held["id"].as_str().unwrap()), &t.org.admin).await;
    assert_eq!(erased["status"], "closed", "{erased}");
    let (_, next) = t.get(&format!("/v1/conversations/{}", waiting["id"].as_str().unwrap()), &t.org.admin).await;
    assert_eq!((next["status"].as_str(), next["assignee_id"].as_str()), (Some("assigned"), Some(solo.as_str())), "{next}");
    assert_eq!(agent(&t, &solo).await["open_count"].as_i64(), Some(1), "one given back, one taken");
}

/// The organisation decides which sources set a conversation's team (`/v1/routing/settings`).
#[tokio::test]
async fn routing_settings_leave_the_numbers_default_team_out_and_refuse_a_patch_when_people_may_not() {
    let t = TestStack::start().await;
    let team = given_team_and_number(&t, false).await;
    let (s, shown) = t.get("/v1/routing/settings", &t.org.agent).await;
    assert_eq!((s, shown["team_sources"].clone()), (StatusCode::OK, json!(["channel_default", "bot_menu", "agent"])), "every source until saved");
    let only_people = json!({ "team_sources": ["agent"] });
    assert_eq!(t.api(Method::PUT, "/v1/routing/settings", &t.org.supervisor, Some(only_people.clone())).await.0, StatusCode::FORBIDDEN);
    let (s, twice) = t.api(Method::PUT, "/v1/routing/settings", &t.org.admin, Some(json!({ "team_sources": ["agent", "agent"] }))).await;
    assert_eq!((s, twice["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("team_sources[1]")), "{twice}");
    let (s, saved) = t.api(Method::PUT, "/v1/routing/settings", &t.org.admin, Some(only_people)).await;
    assert_eq!((s, saved["team_sources"].clone()), (StatusCode::OK, json!(["agent"])), "{saved}");
    // WHEN a customer writes to the team's number: no team
    customer_writes(&t, 1).await;
    let c = eventually("processed", WAIT, || async { processed(&t).await.into_iter().next() }).await;
    assert_eq!((c["team_id"].clone(), c["status"].as_str()), (Value::Null, Some("open")), "{c}");
    // AND a supervisor moves it; once only the number's default sets teams, a PATCH is 422
    let path = format!("/v1/conversations/{}", c["id"].as_str().unwrap());
    let (s, moved) = t.api(Method::PATCH, &path, &t.org.supervisor, Some(json!({ "team_id": team }))).await;
    assert_eq!((s, moved["status"].as_str()), (StatusCode::OK, Some("queued")), "{moved}");
    t.api(Method::PUT, "/v1/routing/settings", &t.org.admin, Some(json!({ "team_sources": ["channel_default"] }))).await;
    let (s, refused) = t.api(Method::PATCH, &path, &t.org.supervisor, Some(json!({ "team_id": null }))).await;
    assert_eq!((s, refused["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("team_id")), "{refused}");
    // Both saves are in the audit trail (newest first), each with what it replaced; the refused
    // ones are not.
    let (s, audit) = t.get("/v1/audit?entity=settings:routing", &t.org.admin).await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let sources = |i: usize, side: &str| audit["items"][i]["changes"]["settings"][side]["team_sources"].clone();
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(2), "{audit}");
    assert_eq!((sources(0, "before"), sources(0, "after")), (json!(["agent"]), json!(["channel_default"])), "{audit}");
    assert_eq!((sources(1, "before"), sources(1, "after")), (Value::Null, json!(["agent"])), "{audit}");
    assert_eq!(audit["items"][1]["actor"]["role"].as_str(), Some("admin"), "{audit}");
}
