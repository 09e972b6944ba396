//! Feedback calls placed and answered on the dev stack (moto, pollers running): the scheduler's
//! minute, the dialer on the calls queue, the voice sandbox playing Twilio's signed callbacks into
//! the voice webhook, NPS, the WhatsApp survey after the last miss answered through the real
//! inbound path; a call outside its window waits; forged callbacks are refused; another
//! organisation sees nothing.

use chrono::{Duration, Timelike, Utc};
use max_core::app::calls::{self, DialJob};
use max_core::domain::twilio::signature;
use max_core::ports::Queue;
use max_dev::seed;
use max_dev::testing::{TestStack, WAIT, eventually, fixture};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const EVERY_DAY: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// GIVEN the stack with the demo organisation's voice account, and a schedule calling at any hour,
/// 24 h after the service, `max_attempts` attempts spaced by 5 minutes.
async fn stack(max_attempts: u32) -> TestStack {
    let t = TestStack::start().await;
    seed::voice_account(&t.stack.deps, &t.org.seed).await.unwrap();
    let body = json!({
        "time_zone": "UTC", "calling_days": EVERY_DAY, "windows": [{ "start": "00:00", "end": "24:00" }],
        "delay_after_service_minutes": 1440, "max_attempts": max_attempts, "retry_spacing_minutes": 5, "version": 0,
    });
    let (status, saved) = t.api(Method::PUT, "/v1/calls/schedule-config", &t.org.admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    t
}

/// A service done two days ago for `phone`: its call is due now. Returns the call id.
async fn due_call(t: &TestStack, phone: &str, advisor: &str) -> String {
    service(t, phone, advisor, Utc::now() - Duration::days(2)).await
}

/// A service done at `at` for `phone`; returns its call's id.
async fn service(t: &TestStack, phone: &str, advisor: &str, at: chrono::DateTime<Utc>) -> String {
    let body = json!({
        "customer_name": "Sheena Nelson", "customer_phone": phone, "service_type": "oil_change",
        "appointment_date": at, "service_advisor_id": advisor, "service_advisor_name": "Ravi",
    });
    let (status, record) = t.post("/v1/service-records", &t.org.agent, body).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    record["call_id"].as_str().unwrap().to_string()
}

async fn run_scheduler(t: &TestStack) {
    let res = t.http.post(t.url("/dev/schedules/call-scheduler")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn sandbox_calls(t: &TestStack) -> Vec<Value> {
    let body: Value = t.http.get(t.url("/dev/calls")).send().await.unwrap().json().await.unwrap();
    body["items"].as_array().cloned().unwrap_or_default()
}

/// The `n`th call the voice sandbox placed, once the dialer placed it.
async fn placed(t: &TestStack, n: usize) -> Value {
    eventually("the dialer places the call", WAIT, || async { sandbox_calls(t).await.get(n - 1).cloned() }).await
}

/// The customer answers the sandbox's call as `answer` says.
async fn answer(t: &TestStack, sandbox_call: &Value, answer: Value) -> Value {
    let id = sandbox_call["provider_call_id"].as_str().unwrap();
    let res = t.http.post(t.url(&format!("/dev/calls/{id}"))).json(&answer).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let played: Value = res.json().await.unwrap();
    for callback in played["callbacks"].as_array().unwrap() {
        assert!([200, 204].contains(&callback["status"].as_u64().unwrap()), "a callback was refused: {played}");
    }
    played
}

async fn call(t: &TestStack, id: &str) -> Value {
    let (status, call) = t.get(&format!("/v1/calls/{id}"), &t.org.agent).await;
    assert_eq!(status, StatusCode::OK, "{call}");
    call
}

async fn nps_today(t: &TestStack) -> Value {
    let today = Utc::now().date_naive();
    let (status, nps) = t.get(&format!("/v1/calls/nps?from={today}&to={today}"), &t.org.agent).await;
    assert_eq!(status, StatusCode::OK, "{nps}");
    nps
}

#[tokio::test]
async fn a_due_call_is_placed_answered_with_a_nine_and_counted_and_forged_callbacks_change_nothing() {
    let t = stack(2).await;
    let id = due_call(&t, "+16505550101", "adv-ravi").await;
    assert_eq!(call(&t, &id).await["status"], "ready");
    // WHEN the scheduler's minute runs: the dialer places it through the sandbox, from the
    // account's caller id, with the attempt's callback URLs
    run_scheduler(&t).await;
    let placed = placed(&t, 1).await;
    assert_eq!((placed["to"].as_str(), placed["from"].as_str()), (Some("+16505550101"), Some("+15550783881")));
    assert!(placed["status_callback_url"].as_str().unwrap().ends_with(&format!("/webhooks/voice/org_demo/{id}/1/status")), "{placed}");
    let started = eventually("in progress", WAIT, || async { Some(call(&t, &id).await).filter(|c| c["status"] == "in_progress") }).await;
    assert_eq!(started["attempts"], 1);
    // AND a forged "completed" callback is refused, and changes nothing
    let status_url = placed["status_callback_url"].as_str().unwrap();
    let forged = [("CallSid", placed["provider_call_id"].as_str().unwrap()), ("CallStatus", "completed")];
    let params: Vec<(String, String)> = forged.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let res = t.http.post(status_url).header("x-twilio-signature", signature("not-the-token", status_url, &params)).form(&forged).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(call(&t, &id).await["status"], "in_progress");
    // WHEN the customer picks up, keys 9 and says what went well
    answer(&t, &placed, json!({ "answer": "human", "digits": "9", "speech": "Quick and friendly" })).await;
    // THEN the call is completed by voice with NPS 9, the transcript and the duration
    let done = call(&t, &id).await;
    assert_eq!((done["status"].as_str(), done["completed_via"].as_str(), done["nps_score"].as_u64()), (Some("completed"), Some("voice"), Some(9)), "{done}");
    assert_eq!((done["transcript"].as_str(), done["duration_sec"].as_u64()), (Some("Quick and friendly"), Some(47)));
    // AND NPS moves: one promoter
    let nps = nps_today(&t).await;
    assert_eq!((nps["total"]["promoters"].as_u64(), nps["total"]["responses"].as_u64(), nps["total"]["nps"].as_f64()), (Some(1), Some(1), Some(100.0)), "{nps}");
    // AND the feed told the dashboard, once each
    let kinds: Vec<String> = t.feed(&t.org.agent).await.iter().filter(|e| e["data"]["call_id"] == id.as_str()).map(|e| e["kind"].as_str().unwrap_or_default().to_string()).collect();
    for kind in ["call.ready", "call.started", "call.completed"] {
        assert_eq!(kinds.iter().filter(|k| *k == kind).count(), 1, "{kind} in {kinds:?}");
    }
    // AND the scheduler's next minute places nothing more
    run_scheduler(&t).await;
    assert_eq!(sandbox_calls(&t).await.len(), 1);
    // AND another organisation finds no such call
    assert_eq!(t.get(&format!("/v1/calls/{id}"), &t.other.admin).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn missed_twice_the_customer_is_asked_on_whatsapp_and_the_answer_completes_the_call() {
    // GIVEN the fixtures' customer, who wrote on WhatsApp lately (their 24-hour window is open, so
    // the survey's list may be sent), with a call due now
    let t = stack(2).await;
    t.live_conversation().await;
    let id = due_call(&t, "+16505551234", "adv-ravi").await;
    run_scheduler(&t).await;
    // WHEN nobody answers the first attempt
    answer(&t, &placed(&t, 1).await, json!({ "answer": "no-answer" })).await;
    // THEN it is ready again, due after the spacing, its reason kept
    let again = call(&t, &id).await;
    assert_eq!((again["status"].as_str(), again["miss_reason"].as_str(), again["attempts"].as_u64()), (Some("ready"), Some("no_answer"), Some(1)), "{again}");
    // WHEN the second attempt is due (the scheduler's minute five minutes on, through the use case)
    let later = Utc::now() + Duration::minutes(6);
    let jobs = calls::take_due_calls(&*t.stack.deps.store, later).await.unwrap();
    assert_eq!(jobs, vec![DialJob { org_id: "org_demo".into(), call_id: id.clone(), attempt: 2 }]);
    t.stack.deps.outbox.send_batch(Queue::Calls, &[jobs[0].offered_in_minute_of(later)]).await.unwrap();
    // AND nobody answers it either
    answer(&t, &placed(&t, 2).await, json!({ "answer": "busy" })).await;
    // THEN the call is missed for good and the WhatsApp survey goes to the customer
    let missed = call(&t, &id).await;
    assert_eq!((missed["status"].as_str(), missed["miss_reason"].as_str(), missed["attempts"].as_u64()), (Some("missed"), Some("busy"), Some(2)), "{missed}");
    let sandbox = t.stack.sandbox.clone().unwrap();
    let survey = eventually("the survey is sent", WAIT, || async {
        sandbox.outbox().into_iter().find(|m| m.request["type"] == "interactive" && m.request["to"] == "16505551234")
    })
    .await;
    assert_eq!(survey.request["interactive"]["type"], "list", "{}", survey.request);
    // WHEN the customer types 3 on WhatsApp
    let mut body: Value = serde_json::from_slice(&crate::fresh(&fixture("meta-openapi/text-message.json"))).unwrap();
    let message = &mut body["entry"][0]["changes"][0]["value"]["messages"][0];
    message["text"]["body"] = json!("3");
    message["id"] = json!("wamid.SURVEY-ANSWER-3");
    assert_eq!(t.post_webhook(&serde_json::to_vec(&body).unwrap()).await.status(), StatusCode::OK);
    // THEN the call is completed via WhatsApp with NPS 3, and counted as a detractor
    let done = eventually("completed via WhatsApp", WAIT, || async { Some(call(&t, &id).await).filter(|c| c["status"] == "completed") }).await;
    assert_eq!((done["completed_via"].as_str(), done["nps_score"].as_u64()), (Some("whatsapp"), Some(3)), "{done}");
    let nps = nps_today(&t).await;
    assert_eq!((nps["total"]["detractors"].as_u64(), nps["total"]["responses"].as_u64()), (Some(1), Some(1)), "{nps}");
}

#[tokio::test]
async fn a_call_outside_the_window_is_not_placed_until_the_window_opens() {
    // GIVEN a window of one hour that starts three hours from now (every day)
    let t = TestStack::start().await;
    seed::voice_account(&t.stack.deps, &t.org.seed).await.unwrap();
    let opens = (Utc::now() + Duration::hours(3)).with_minute(0).unwrap().with_second(0).unwrap().with_nanosecond(0).unwrap();
    let (start, end) = (opens.format("%H:%M").to_string(), (opens + Duration::hours(1)).format("%H:%M").to_string());
    let end = if end == "00:00" { "24:00".to_string() } else { end };
    let body = json!({ "time_zone": "UTC", "calling_days": EVERY_DAY, "windows": [{ "start": start, "end": end }], "delay_after_service_minutes": 1440, "version": 0 });
    let (status, saved) = t.api(Method::PUT, "/v1/calls/schedule-config", &t.org.admin, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    // AND a service done a day ago: its call would be due now
    let id = service(&t, "+16505550102", "adv-ravi", Utc::now() - Duration::days(1)).await;
    // THEN the call is due when the window opens
    let due = call(&t, &id).await;
    assert_eq!(due["due_at"].as_str().map(|d| d.parse::<chrono::DateTime<Utc>>().unwrap()), Some(opens), "{due}");
    // WHEN the scheduler's minute runs now: nothing is queued, nothing placed
    run_scheduler(&t).await;
    assert_eq!(t.queued("CallsQueue").await, 0);
    assert!(sandbox_calls(&t).await.is_empty());
    assert_eq!(call(&t, &id).await["status"], "ready");
    // AND at the window's first minute the scheduler takes it
    let jobs = calls::take_due_calls(&*t.stack.deps.store, opens).await.unwrap();
    assert_eq!(jobs.iter().map(|j| j.call_id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    assert!(calls::take_due_calls(&*t.stack.deps.store, opens - Duration::minutes(1)).await.unwrap().is_empty());
}

#[tokio::test]
async fn voice_accounts_are_the_admins_and_never_show_their_token() {
    let t = TestStack::start().await;
    let body = json!({ "account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tw-secret-token", "caller_id": "+1 555 078 3881" });
    assert_eq!(t.api(Method::PUT, "/v1/channels/voice", &t.org.agent, Some(body.clone())).await.0, StatusCode::FORBIDDEN);
    assert_eq!(t.get("/v1/channels/voice", &t.org.admin).await.0, StatusCode::NOT_FOUND);
    let (status, created) = t.api(Method::PUT, "/v1/channels/voice", &t.org.admin, Some(body.clone())).await;
    assert_eq!((status, created["caller_id"].as_str()), (StatusCode::CREATED, Some("+15550783881")), "{created}");
    assert_eq!(t.api(Method::PUT, "/v1/channels/voice", &t.org.admin, Some(body)).await.0, StatusCode::OK, "registered again: rotation");
    let (status, shown) = t.get("/v1/channels/voice", &t.org.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!shown.to_string().contains("tw-secret-token"), "{shown}");
    let (status, problem) = t.api(Method::PUT, "/v1/channels/voice", &t.org.admin, Some(json!({ "account_sid": "AC1", "auth_token": "x", "caller_id": "+15550783881" }))).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("account_sid")), "{problem}");
    assert_eq!(t.get("/v1/channels/voice", &t.other.admin).await.0, StatusCode::NOT_FOUND, "another organisation's is its own");
    assert_eq!(t.api(Method::DELETE, "/v1/channels/voice", &t.org.admin, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(t.get("/v1/channels/voice", &t.org.admin).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_demo_call_initiated_rings_the_number_entered_and_its_answers_are_kept_out_of_nps() {
    let t = stack(2).await;
    // GIVEN a demo call to the number a supervisor typed
    let (status, demo) = t.post("/v1/calls/demo", &t.org.supervisor, json!({ "customer_number": "+1 (650) 555-0199", "customer_name": "Demo" })).await;
    assert_eq!(status, StatusCode::CREATED, "{demo}");
    let id = demo["id"].as_str().unwrap();
    // WHEN it is initiated: the dialer places it through the sandbox, to that number
    let (status, _) = t.post(&format!("/v1/calls/demo/{id}/initiate"), &t.org.supervisor, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let placed = placed(&t, 1).await;
    assert_eq!(placed["to"].as_str(), Some("+16505550199"), "{placed}");
    assert!(placed["twiml_url"].as_str().unwrap().ends_with(&format!("/webhooks/voice/org_demo/{id}/1/answer")), "{placed}");
    // AND a second initiation while it rings is refused: one demo attempt at a time
    let in_progress = eventually("in progress", WAIT, || async { Some(call(&t, id).await).filter(|c| c["status"] == "in_progress") }).await;
    assert_eq!(in_progress["attempts"], 1);
    assert_eq!(t.post(&format!("/v1/calls/demo/{id}/initiate"), &t.org.supervisor, json!({})).await.0, StatusCode::CONFLICT);
    // WHEN the person answers with a 10 and a comment
    answer(&t, &placed, json!({ "answer": "human", "digits": "10", "speech": "Sounds great" })).await;
    // THEN the demo is completed with its score and transcript, and the NPS counts only real customers
    let done = call(&t, id).await;
    assert_eq!((done["status"].as_str(), done["nps_score"].as_u64(), done["transcript"].as_str()), (Some("completed"), Some(10), Some("Sounds great")), "{done}");
    assert_eq!(nps_today(&t).await["total"]["responses"].as_u64(), Some(0));
}
