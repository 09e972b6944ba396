//! SLAs through the dev gateway on moto (issue 13): a number's default team puts a customer's
//! new conversation in that team's queue under the team's policy; nobody answers, and the SLA
//! scheduler (`POST /dev/schedules/sla-scheduler?at=`, its clock moved past each instant) records
//! `sla.warning`, then `sla.breached` with the target and the actual seconds, then escalates once
//! (priority up, to the supervisors' queue). A reply before the deadline leaves nothing to fire.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use max_dev::testing::{TestStack, WAIT, eventually, fixture, items};

const NUMBER: &str = "301234567890555";
const WABA: &str = "301234567890500";

/// GIVEN a team (the number's default) and a supervisors' team, and the team's policy: first
/// response in 10 minutes of calendar time, warning at half, escalation a minute over.
async fn given_team_policy_and_number(t: &TestStack) -> (String, String) {
    let (s, team) = t.post("/v1/teams", &t.org.admin, json!({ "name": "Billing" })).await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    let (_, supervisors) = t.post("/v1/teams", &t.org.admin, json!({ "name": "Supervisors" })).await;
    let (team, supervisors) = (team["id"].as_str().unwrap().to_string(), supervisors["id"].as_str().unwrap().to_string());
    let policy = json!({
        "name": "Billing, first response in 10 minutes",
        "team_id": team,
        "targets": { "first_response_seconds": 600, "next_response_seconds": 600 },
        "counted_in": "calendar",
        "warning_percent": 50,
        "escalation": { "after_seconds": 60, "raise_priority": true, "reassign_to_team": supervisors, "notify": true }
    });
    let (s, created) = t.post("/v1/sla-policies", &t.org.agent, policy.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "admins write policies: {created}");
    let (s, created) = t.post("/v1/sla-policies", &t.org.admin, policy).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let registration = json!({
        "phone_number_id": NUMBER, "waba_id": WABA, "display_phone_number": "+1 555-010-0555",
        "access_token": "EAAG-sla-number-token", "default_team_id": team
    });
    let (s, registered) = t.post("/v1/channels/whatsapp", &t.org.admin, registration).await;
    assert_eq!(s, StatusCode::CREATED, "{registered}");
    (team, supervisors)
}

/// A customer's text to the number, stamped now; the conversation once it is stored.
async fn customer_writes(t: &TestStack) -> Value {
    let mut body: Value = serde_json::from_slice(&crate::fresh(&fixture("meta-openapi/text-message.json"))).unwrap();
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!(NUMBER);
    assert_eq!(t.post_webhook(&serde_json::to_vec(&body).unwrap()).await.status(), StatusCode::OK);
    // Processed, not only opened: the clocks start with the message's write, after the opening.
    eventually("the conversation", WAIT, || async { t.conversations().await.into_iter().find(|c| c["phone_number_id"] == NUMBER && !c["first_message_at"].is_null()) }).await
}

/// The team's SLA compliance around `started` (the day before to the day after), as a supervisor.
async fn compliance(t: &TestStack, team: &str, started: DateTime<Utc>) -> Value {
    let day = |d: DateTime<Utc>| d.date_naive().format("%Y-%m-%d").to_string();
    let path = format!("/v1/sla/compliance?team={team}&from={}&to={}", day(started - Duration::days(1)), day(started + Duration::days(1)));
    let (s, report) = t.get(&path, &t.org.supervisor).await;
    assert_eq!(s, StatusCode::OK, "{report}");
    report
}

/// Runs the SLA scheduler with its clock at `at`.
async fn scheduler_at(t: &TestStack, at: DateTime<Utc>) {
    let url = t.url(&format!("/dev/schedules/sla-scheduler?at={}", at.to_rfc3339_opts(SecondsFormat::Secs, true)));
    let res = t.http.post(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
}

async fn sla_events(t: &TestStack) -> Vec<Value> {
    t.feed(&t.org.agent).await.into_iter().filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("sla."))).collect()
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|d| d.with_timezone(&Utc)).expect("a time")
}

#[tokio::test]
async fn nobody_answers_warning_then_breach_with_the_figures_then_one_escalation() {
    let t = TestStack::start().await;
    let (team, supervisors) = given_team_policy_and_number(&t).await;
    // The admin's creations are in the audit trail (`docs/audit.md`): the team and the policy,
    // each with the admin and the business fields from nothing to what was created.
    let (s, audit) = t.get(&format!("/v1/audit?entity=team:{team}"), &t.org.admin).await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let entry = &audit["items"][0];
    assert_eq!((entry["operation"].as_str(), entry["actor"]["role"].as_str()), (Some("create"), Some("admin")), "{audit}");
    assert_eq!(entry["changes"]["name"], json!({ "before": null, "after": "Billing" }), "{entry}");
    let (_, audit) = t.get("/v1/audit?entity=sla_policy", &t.org.admin).await;
    let entry = &audit["items"][0];
    assert_eq!(entry["changes"]["warning_percent"], json!({ "before": null, "after": 50 }), "{audit}");
    assert_eq!(entry["changes"]["team_id"]["after"], json!(team));
    let c = customer_writes(&t).await;
    let id = c["id"].as_str().unwrap();
    assert_eq!((c["status"].as_str(), c["team_id"].as_str(), c["priority"].as_str()), (Some("queued"), Some(team.as_str()), Some("normal")), "{c}");
    let (_, queue) = t.get(&format!("/v1/conversations?status=queued&team_id={team}"), &t.org.agent).await;
    assert_eq!(items(&queue).len(), 1, "the team's queue: {queue}");
    let (_, c) = t.get(&format!("/v1/conversations/{id}"), &t.org.agent).await;
    let frt = &c["sla"]["frt"]["clock"];
    let started = at(&frt["started_at"]);
    assert_eq!((at(&frt["warn_at"]), at(&frt["due_at"]), at(&frt["escalate_at"])), (started + Duration::seconds(300), started + Duration::seconds(600), started + Duration::seconds(660)), "{c}");

    // Before the warning: nothing. At it: one warning, however often the scheduler runs.
    scheduler_at(&t, started + Duration::seconds(299)).await;
    assert!(sla_events(&t).await.is_empty());
    scheduler_at(&t, started + Duration::seconds(300)).await;
    scheduler_at(&t, started + Duration::seconds(330)).await;
    let events = sla_events(&t).await;
    assert_eq!(events.iter().map(|e| e["kind"].as_str().unwrap()).collect::<Vec<_>>(), ["sla.warning"], "{events:?}");
    assert_eq!((events[0]["data"]["target_seconds"].as_i64(), events[0]["data"]["actual_seconds"].as_i64()), (Some(600), Some(300)));

    // The breach, with the target and the actual seconds when seen; once.
    scheduler_at(&t, started + Duration::seconds(605)).await;
    scheduler_at(&t, started + Duration::seconds(606)).await;
    let events = sla_events(&t).await;
    assert_eq!(events.iter().map(|e| e["kind"].as_str().unwrap()).collect::<Vec<_>>(), ["sla.warning", "sla.breached"]);
    assert_eq!((events[1]["data"]["metric"].as_str(), events[1]["data"]["target_seconds"].as_i64(), events[1]["data"]["actual_seconds"].as_i64()), (Some("frt"), Some(600), Some(605)));
    let (_, c) = t.get(&format!("/v1/conversations/{id}"), &t.org.agent).await;
    assert_eq!(c["sla"]["violations"].as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!((c["sla"]["violations"][0]["metric"].as_str(), c["sla"]["violations"][0]["actual_seconds"].as_i64()), (Some("frt"), Some(605)));

    // The compliance report counts the miss once and lists the violation (supervisors read it).
    let report = compliance(&t, &team, started).await;
    let frt = &report["teams"][0]["metrics"][0];
    assert_eq!((frt["metric"].as_str(), frt["met"].as_u64(), frt["missed"].as_u64(), frt["compliance_percent"].as_f64()), (Some("frt"), Some(0), Some(1), Some(0.0)), "{report}");
    let violations = report["teams"][0]["violations"].as_array().cloned().unwrap_or_default();
    assert_eq!(violations.len(), 1, "{report}");
    assert_eq!((violations[0]["conversation_id"].as_str(), violations[0]["metric"].as_str(), violations[0]["target_seconds"].as_i64()), (Some(id), Some("frt"), Some(600)));
    let (s, _) = t.get(&format!("/v1/sla/compliance?team={team}"), &t.org.agent).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "agents do not read compliance");

    // The escalation: priority up, moved to the supervisors' queue; once.
    scheduler_at(&t, started + Duration::seconds(661)).await;
    scheduler_at(&t, started + Duration::seconds(720)).await;
    let events = sla_events(&t).await;
    assert_eq!(events.iter().map(|e| e["kind"].as_str().unwrap()).collect::<Vec<_>>(), ["sla.warning", "sla.breached", "sla.escalated"]);
    assert_eq!((events[2]["data"]["team_id"].as_str(), events[2]["data"]["notify"]["role"].as_str()), (Some(supervisors.as_str()), Some("supervisor")));
    let (_, c) = t.get(&format!("/v1/conversations/{id}"), &t.org.agent).await;
    assert_eq!((c["team_id"].as_str(), c["priority"].as_str(), c["status"].as_str()), (Some(supervisors.as_str()), Some("high"), Some("queued")), "{c}");
    let (_, queue) = t.get(&format!("/v1/conversations?status=queued&team_id={supervisors}&priority=high"), &t.org.agent).await;
    assert_eq!(items(&queue).len(), 1, "the supervisors' queue: {queue}");
}

#[tokio::test]
async fn a_reply_before_the_deadline_stops_the_clock_and_nothing_fires() {
    let t = TestStack::start().await;
    given_team_policy_and_number(&t).await;
    let c = customer_writes(&t).await;
    let id = c["id"].as_str().unwrap();
    let (s, sent) = t.post(&format!("/v1/conversations/{id}/messages"), &t.org.agent, json!({ "type": "text", "body": "Let me check" })).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{sent}");
    let (_, c) = t.get(&format!("/v1/conversations/{id}"), &t.org.agent).await;
    let started = at(&c["sla"]["frt"]["clock"]["started_at"]);
    assert_eq!((c["sla"]["frt"]["met"].as_bool(), c["waiting_since"].is_null()), (Some(true), true), "{c}");
    for seconds in [300, 600, 660, 900] {
        scheduler_at(&t, started + Duration::seconds(seconds)).await;
    }
    assert!(sla_events(&t).await.is_empty());
    let (_, c) = t.get(&format!("/v1/conversations/{id}"), &t.org.agent).await;
    assert_eq!(c["sla"]["violations"].as_array().map(Vec::len), Some(0), "{c}");
    // The compliance report counts it met once, with its response time.
    let team = c["team_id"].as_str().unwrap().to_string();
    let report = compliance(&t, &team, started).await;
    let frt = &report["teams"][0]["metrics"][0];
    assert_eq!((frt["metric"].as_str(), frt["met"].as_u64(), frt["missed"].as_u64(), frt["compliance_percent"].as_f64(), frt["answered"].as_u64()), (Some("frt"), Some(1), Some(0), Some(100.0), Some(1)), "{report}");
    assert!(frt["median_seconds"].as_u64().is_some(), "{report}");
    assert_eq!(report["teams"][0]["violations"].as_array().map(Vec::len), Some(0), "{report}");
    // A supervisor makes it urgent: the policy (any priority) still applies, nothing restarts.
    let (s, c) = t.api(Method::PATCH, &format!("/v1/conversations/{id}"), &t.org.supervisor, Some(json!({ "priority": "urgent" }))).await;
    assert_eq!((s, c["priority"].as_str()), (StatusCode::OK, Some("urgent")), "{c}");
    let (s, _) = t.api(Method::PATCH, &format!("/v1/conversations/{id}"), &t.org.agent, Some(json!({ "priority": "low" }))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// Answers the first `TransactWriteItems` after it is armed as DynamoDB answers a transaction
/// that met another one on the same item (`TransactionCanceledException`, `TransactionConflict`);
/// that transaction never reaches the table (it goes out as a `ListTables` whose answer is
/// replaced).
#[derive(Debug, Clone, Default)]
struct ConflictOnce {
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    answer_next: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl aws_sdk_dynamodb::config::Intercept for ConflictOnce {
    fn name(&self) -> &'static str {
        "ConflictOnce"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _runtime: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use std::sync::atomic::Ordering::SeqCst;
        let request = context.request_mut();
        let transaction = request.headers().get("x-amz-target") == Some("DynamoDB_20120810.TransactWriteItems");
        if transaction && self.armed.swap(false, SeqCst) {
            request.headers_mut().insert("x-amz-target", "DynamoDB_20120810.ListTables");
            request.headers_mut().insert("content-length", "2");
            *request.body_mut() = aws_smithy_types::body::SdkBody::from("{}");
            self.answer_next.store(true, SeqCst);
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut<'_>,
        _runtime: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if self.answer_next.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let body = json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
                "CancellationReasons": [{ "Code": "TransactionConflict", "Message": "Transaction is ongoing for the item" }]
            })
            .to_string();
            let response = context.response_mut();
            *response.status_mut() = 400u16.try_into()?;
            response.headers_mut().insert("content-length", body.len().to_string());
            *response.body_mut() = aws_smithy_types::body::SdkBody::from(body);
        }
        Ok(())
    }
}

/// The scheduler's write lost to a concurrent transaction (a reply landing at that moment) takes
/// feed numbers first; they are written void, so the feed does not wait ~3 s on a gap.
#[tokio::test]
async fn an_sla_step_lost_to_a_conflicting_transaction_voids_the_feed_numbers_it_took() {
    use max_core::ports::{EventStore, SlaStore};
    let t = TestStack::with(max_dev::testing::TestOptions { no_pollers: true, ..Default::default() }).await;
    let conflict = ConflictOnce::default();
    let config = t.stack.dynamo.client().config().to_builder().interceptor(conflict.clone()).build();
    let store = max_core::adapters::dynamo::DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), t.stack.dynamo.table());
    let org = t.org.seed.id.clone();
    let now = Utc::now();
    let conversation = max_core::domain::conversation::Conversation::open_on("01JCONFLICTSLA0000000000000".into(), &org, NUMBER, "01JCUSTOMER00000000000000A", "34600000001", now, now);
    let event = max_core::domain::event::NewEvent::new(&org, max_core::domain::event::EventKind::SlaWarning, now, json!({ "conversation_id": conversation.id }), "sla-conflict-warning");
    let before = store.latest_event_seq(&org).await.unwrap();

    // WHEN the step's transaction meets another one
    conflict.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = store.record_sla_steps(&conversation, &[], &[event]).await;

    // THEN it is a lost update (the scheduler reads again), and the number it took is void
    assert!(matches!(written, Err(max_core::error::Error::LostUpdate(_))), "{written:?}");
    assert!(!conflict.armed.load(std::sync::atomic::Ordering::SeqCst), "the transaction was sent");
    assert_eq!(store.latest_event_seq(&org).await.unwrap(), before + 1);
    let after = store.events_after(&org, before, 10).await.unwrap();
    assert_eq!(after.iter().map(|e| (e.seq, e.kind)).collect::<Vec<_>>(), vec![(before + 1, max_core::domain::event::EventKind::Void)]);
}

/// A team closed all day today and tomorrow (holidays) answers a customer's new conversation
/// with its after-hours reply once: a second message in the same closed period gets nothing.
#[tokio::test]
async fn a_closed_team_sends_its_after_hours_reply_once_per_closed_period() {
    let t = TestStack::start().await;
    let reply = "{{team}} is closed; we open {{next_opening}}.";
    let (s, team) = t.post("/v1/teams", &t.org.admin, json!({ "name": "Billing", "after_hours_reply": reply })).await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    let team = team["id"].as_str().unwrap().to_string();
    let today = Utc::now().date_naive();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let window = json!([{ "open": "09:00", "close": "17:00" }]);
    let weekly: serde_json::Map<String, Value> = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].iter().map(|d| (d.to_string(), window.clone())).collect();
    let hours = json!({
        "time_zone": "UTC",
        "weekly": weekly,
        "holidays": [{ "date": day(today), "name": "Closed" }, { "date": day(today + Duration::days(1)), "name": "Closed" }],
        "version": 0
    });
    let (s, saved) = t.api(Method::PUT, &format!("/v1/teams/{team}/business-hours"), &t.org.admin, Some(hours)).await;
    assert_eq!(s, StatusCode::OK, "{saved}");
    let registration = json!({
        "phone_number_id": NUMBER, "waba_id": WABA, "display_phone_number": "+1 555-010-0555",
        "access_token": "EAAG-sla-number-token", "default_team_id": team
    });
    let (s, registered) = t.post("/v1/channels/whatsapp", &t.org.admin, registration).await;
    assert_eq!(s, StatusCode::CREATED, "{registered}");

    // WHEN the customer writes twice while the team is closed
    let c = customer_writes(&t).await;
    let id = c["id"].as_str().unwrap().to_string();
    customer_writes_again(&t, &id).await;

    // THEN one reply, naming the team and the opening after the holidays; queued, low.
    let opening = (today + Duration::days(2)).format("%A %-d %B 09:00 (UTC)").to_string();
    let replies = eventually("the after-hours reply", WAIT, || async {
        let system: Vec<Value> = t.messages(&id).await.into_iter().filter(|m| m["sender"]["type"] == "system").collect();
        (!system.is_empty()).then_some(system)
    })
    .await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["text"].as_str(), Some(format!("Billing is closed; we open {opening}.").as_str()), "{replies:?}");
    let (_, c) = t.get(&format!("/v1/conversations/{id}"), &t.org.agent).await;
    assert_eq!((c["status"].as_str(), c["priority"].as_str(), c["team_id"].as_str()), (Some("queued"), Some("low"), Some(team.as_str())), "{c}");
}

/// Another text from the same customer, processed (two inbound messages in the conversation).
async fn customer_writes_again(t: &TestStack, id: &str) {
    let mut body: Value = serde_json::from_slice(&crate::fresh(&fixture("meta-openapi/text-message.json"))).unwrap();
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!(NUMBER);
    body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!("wamid.after-hours-second");
    assert_eq!(t.post_webhook(&serde_json::to_vec(&body).unwrap()).await.status(), StatusCode::OK);
    eventually("the second message", WAIT, || async {
        let inbound = t.messages(id).await.into_iter().filter(|m| m["direction"] == "inbound").count();
        (inbound >= 2).then_some(())
    })
    .await;
}
