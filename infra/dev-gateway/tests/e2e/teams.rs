//! Teams and business hours through the dev gateway on moto (issue 13): an admin creates a team
//! and sets split-shift hours with a holiday; anyone reads them and asks whether the team is open;
//! an agent cannot change them; a stale version is 409; bad windows are 422 naming the field.

use reqwest::{Method, StatusCode};
use serde_json::json;

use max_dev::testing::TestStack;

#[tokio::test]
async fn an_admin_sets_a_teams_hours_and_everyone_sees_when_it_is_open() {
    let t = TestStack::with(max_dev::testing::TestOptions { no_pollers: true, ..Default::default() }).await;
    let (s, team) = t.post("/v1/teams", &t.org.admin, json!({ "name": "Soporte", "after_hours_reply": "Abrimos {{next_opening}}." })).await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    let id = team["id"].as_str().unwrap();
    let hours = format!("/v1/teams/{id}/business-hours");
    // Until set: open around the clock, version 0.
    let (s, default) = t.get(&hours, &t.org.agent).await;
    assert_eq!((s, default["version"].as_u64(), default["time_zone"].as_str()), (StatusCode::OK, Some(0), Some("UTC")), "{default}");
    let split = json!({
        "time_zone": "Europe/Madrid",
        "weekly": {
            "monday": [{ "open": "09:00", "close": "14:00" }, { "open": "16:00", "close": "19:00" }],
            "tuesday": [{ "open": "09:00", "close": "14:00" }, { "open": "16:00", "close": "19:00" }]
        },
        "holidays": [{ "date": "2026-12-08", "name": "Inmaculada" }],
        "version": 0
    });
    let (s, problem) = t.api(Method::PUT, &hours, &t.org.agent, Some(split.clone())).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{problem}");
    let mut overlapping = split.clone();
    overlapping["weekly"]["monday"][1]["open"] = json!("13:00");
    let (s, problem) = t.api(Method::PUT, &hours, &t.org.admin, Some(overlapping)).await;
    assert_eq!((s, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("weekly.monday[1].open")), "{problem}");
    let (s, saved) = t.api(Method::PUT, &hours, &t.org.admin, Some(split.clone())).await;
    assert_eq!((s, saved["version"].as_u64()), (StatusCode::OK, Some(1)), "{saved}");
    let (s, _) = t.api(Method::PUT, &hours, &t.org.admin, Some(split)).await;
    assert_eq!(s, StatusCode::CONFLICT, "saved over version 0 twice");
    // Monday 7 December, 14:30 in Madrid (13:30Z): the lunch break, open again at 16:00 (15:00Z).
    let (s, status) = t.get(&format!("{hours}/status?at=2026-12-07T13:30:00Z"), &t.org.agent).await;
    assert_eq!((s, status["open"].as_bool(), status["next_change"].as_str()), (StatusCode::OK, Some(false), Some("2026-12-07T15:00:00Z")), "{status}");
    // Monday 18:30 Madrid: open until 19:00; after that Tuesday is a holiday, so next Monday.
    let (_, status) = t.get(&format!("{hours}/status?at=2026-12-07T17:30:00Z"), &t.org.agent).await;
    assert_eq!((status["open"].as_bool(), status["next_change"].as_str()), (Some(true), Some("2026-12-07T18:00:00Z")));
    let (_, status) = t.get(&format!("{hours}/status?at=2026-12-07T18:00:00Z"), &t.org.agent).await;
    assert_eq!((status["open"].as_bool(), status["next_change"].as_str()), (Some(false), Some("2026-12-14T08:00:00Z")));
    // The team reads back with its edit; the other organisation sees none of it.
    let (s, edited) = t.api(Method::PATCH, &format!("/v1/teams/{id}"), &t.org.admin, Some(json!({ "auto_assign": true, "version": 1 }))).await;
    assert_eq!((s, edited["auto_assign"].as_bool()), (StatusCode::OK, Some(true)), "{edited}");
    let (_, theirs) = t.get("/v1/teams", &t.other.admin).await;
    assert_eq!(theirs["items"].as_array().map(Vec::len), Some(0));
    assert_eq!(t.get(&hours, &t.other.admin).await.0, StatusCode::NOT_FOUND);
}

/// Agents on moto: an admin adds one to a team with skills; through a signed token the agent goes
/// online and is found among the team's online agents; another organisation finds none of it.
#[tokio::test]
async fn an_agent_goes_online_and_is_found_among_the_teams_online_agents() {
    let t = TestStack::with(max_dev::testing::TestOptions { no_pollers: true, ..Default::default() }).await;
    let (_, team) = t.post("/v1/teams", &t.org.admin, json!({ "name": "Billing" })).await;
    let team = team["id"].as_str().unwrap();
    let (_, whoami) = t.api(Method::PUT, "/v1/agents/me/availability", &t.org.agent, Some(json!({ "availability": "online" }))).await;
    assert_eq!(whoami["status"].as_u64(), Some(404), "not an agent yet: {whoami}");
    // The test organisation's agent token has the subject `{org}_agent`.
    let user = format!("{}_agent", t.org.seed.id);
    let (s, agent) = t.post("/v1/agents", &t.org.admin, json!({ "user_id": user, "name": "Sam", "team_ids": [team], "skills": { "billing": 5 }, "languages": ["es"] })).await;
    assert_eq!(s, StatusCode::CREATED, "{agent}");
    let (s, online) = t.api(Method::PUT, "/v1/agents/me/availability", &t.org.agent, Some(json!({ "availability": "online" }))).await;
    assert_eq!((s, online["availability"].as_str(), online["version"].as_u64()), (StatusCode::OK, Some("online"), Some(2)), "{online}");
    let (_, found) = t.get(&format!("/v1/agents?team_id={team}&availability=online"), &t.org.supervisor).await;
    assert_eq!(found["items"][0]["id"].as_str(), Some(user.as_str()), "{found}");
    let (_, theirs) = t.get("/v1/agents", &t.other.admin).await;
    assert_eq!(theirs["items"].as_array().map(Vec::len), Some(0));
}
