//! This function's `events/` samples and routes through its handler, on the memory adapter.

use max_core::config::Deps;
use max_core::testing::{SampleRequest, http_samples, statuses};
use serde_json::{Value, json};

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let answered = http_samples("api-teams", |req| crate::handle(req, deps)).await;
    assert_eq!(
        answered,
        statuses(&[
            ("business-hours-unknown-team.json", 404),
            ("create-agent.json", 201),
            ("create-sla-policy-as-agent.json", 403),
            ("create-sla-policy-without-targets.json", 422),
            ("create-sla-policy.json", 201),
            ("create-team-as-agent.json", 403),
            ("create-team.json", 201),
            ("edit-agent-bad-skill.json", 422),
            ("edit-unknown-team.json", 404),
            ("get-routing-settings.json", 200),
            ("get-unknown-agent.json", 404),
            ("get-unknown-sla-policy.json", 404),
            ("get-unknown-team.json", 404),
            ("list-online-agents.json", 200),
            ("list-sla-policies.json", 200),
            ("list-teams.json", 200),
            ("put-business-hours-overlapping-windows.json", 422),
            ("put-routing-settings-twice.json", 422),
            ("put-routing-settings.json", 200),
            ("set-my-availability.json", 200),
            ("sla-compliance-as-agent.json", 403),
            ("sla-compliance-over-92-days.json", 422),
            ("sla-compliance.json", 200),
            ("status-unknown-team.json", 404),
        ])
    );
}

/// A sample's request with another method, path, body and role (the caller is `user_{group}`).
fn request(method: &str, path: &str, body: Option<Value>, group: &str) -> lambda_http::Request {
    let r = SampleRequest::new("api-teams", "get-unknown-team.json", method, path).group(group).claim("sub", &format!("user_{group}"));
    match body {
        Some(b) => r.body(&b.to_string()).build(),
        None => r.build(),
    }
}

async fn call(deps: &Deps, method: &str, path: &str, body: Option<Value>, group: &str) -> (u16, Value) {
    let answer = crate::handle(request(method, path, body, group), deps).await.unwrap();
    (answer.status().as_u16(), serde_json::from_slice(answer.body()).unwrap_or(Value::Null))
}

#[tokio::test]
async fn admins_set_hours_everyone_reads_them_and_the_status_follows() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let (s, team) = call(deps, "POST", "/v1/teams", Some(json!({ "name": "Support" })), "admin").await;
    assert_eq!(s, 201, "{team}");
    let id = team["id"].as_str().unwrap();
    let hours = format!("/v1/teams/{id}/business-hours");
    let body = json!({
        "time_zone": "America/New_York",
        "weekly": { "monday": [{ "open": "09:00", "close": "17:00" }], "friday": [{ "open": "22:00", "close": "02:00" }] },
        "holidays": [{ "date": "2026-12-25", "name": "Christmas" }],
        "version": 0
    });
    // Agents and supervisors read, only admins write.
    assert_eq!(call(deps, "PUT", &hours, Some(body.clone()), "supervisor").await.0, 403);
    let (s, saved) = call(deps, "PUT", &hours, Some(body.clone()), "admin").await;
    assert_eq!((s, saved["version"].as_u64(), saved["updated_by"].as_str()), (200, Some(1), Some("user_admin")), "{saved}");
    assert_eq!(call(deps, "PUT", &hours, Some(body), "admin").await.0, 409, "version 0 is not what is stored any more");
    let (s, read) = call(deps, "GET", &hours, None, "agent").await;
    assert_eq!((s, read["time_zone"].as_str(), read["weekly"]["friday"][0]["close"].as_str()), (200, Some("America/New_York"), Some("02:00")));
    // Saturday 01:00 in New York is Friday's night shift: open until 02:00 local (07:00Z).
    let (s, status) = call(deps, "GET", &format!("{hours}/status?at=2026-12-05T06:00:00Z"), None, "agent").await;
    assert_eq!((s, status["open"].as_bool(), status["next_change"].as_str()), (200, Some(true), Some("2026-12-05T07:00:00Z")), "{status}");
    // A query it does not know, or a malformed instant, is 422.
    assert_eq!(call(deps, "GET", &format!("{hours}/status?when=now"), None, "agent").await.0, 422);
    assert_eq!(call(deps, "GET", &format!("{hours}/status?at=friday"), None, "agent").await.0, 422);
    // An edit without a version applies; the list shows the team.
    let (s, edited) = call(deps, "PATCH", &format!("/v1/teams/{id}"), Some(json!({ "auto_assign": true })), "admin").await;
    assert_eq!((s, edited["auto_assign"].as_bool(), edited["version"].as_u64()), (200, Some(true), Some(2)));
    let (s, list) = call(deps, "GET", "/v1/teams?limit=10", None, "agent").await;
    assert_eq!((s, list["items"][0]["id"].as_str()), (200, Some(id)));
}

#[tokio::test]
async fn admins_add_agents_and_each_agent_sets_only_their_own_availability() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    let body = json!({ "user_id": "user_agent", "name": "Sam", "skills": { "Billing": 3 }, "capacity": 2 });
    assert_eq!(call(deps, "POST", "/v1/agents", Some(body.clone()), "supervisor").await.0, 403);
    let (s, created) = call(deps, "POST", "/v1/agents", Some(body.clone()), "admin").await;
    assert_eq!((s, created["skills"]["billing"].as_u64(), created["availability"].as_str()), (201, Some(3), Some("offline")), "{created}");
    assert_eq!(call(deps, "POST", "/v1/agents", Some(body), "admin").await.0, 409);
    // The agent (user_agent) goes online; the admin, not an agent, is 404 on their own.
    let (s, me) = call(deps, "PUT", "/v1/agents/me/availability", Some(json!({ "availability": "online" })), "agent").await;
    assert_eq!((s, me["availability"].as_str()), (200, Some("online")), "{me}");
    assert_eq!(call(deps, "PUT", "/v1/agents/me/availability", Some(json!({ "availability": "online" })), "admin").await.0, 404);
    assert_eq!(call(deps, "PUT", "/v1/agents/me/availability", Some(json!({ "availability": "busy" })), "agent").await.0, 422);
    let (s, online) = call(deps, "GET", "/v1/agents?availability=online", None, "agent").await;
    assert_eq!((s, online["items"][0]["id"].as_str()), (200, Some("user_agent")));
    let (_, away) = call(deps, "GET", "/v1/agents?availability=away", None, "agent").await;
    assert_eq!(away["items"].as_array().map(Vec::len), Some(0));
    let (s, problem) = call(deps, "PATCH", "/v1/agents/user_agent", Some(json!({ "team_ids": ["01NOPE"] })), "admin").await;
    assert_eq!((s, problem["field"].as_str()), (422, Some("team_ids[0]")), "{problem}");
}
