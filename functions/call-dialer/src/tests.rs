//! This function's `events/` sample through its handler, on the memory adapter with Twilio faked
//! at the HTTP level (wiremock), so the real client places the calls.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{TimeZone, Utc};
use max_core::adapters::twilio::TwilioVoice;
use max_core::app::calls;
use max_core::batch::StopBy;
use max_core::config::{Deps, InMemory};
use max_core::domain::call::{Call, CallStatus, CallType, MissReason, NewCall};
use max_core::domain::call_schedule::ScheduleConfig;
use max_core::ports::{CallSaved, CallWrite};
use max_core::testing::{DEMO_ORG, DEMO_VOICE_ACCOUNT_SID, register_demo_voice_account, sample_events};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn calls_path() -> String {
    format!("/2010-04-01/Accounts/{DEMO_VOICE_ACCOUNT_SID}/Calls.json")
}

/// GIVEN the sample's call, ready now, and Twilio (wiremock) answering each create with `answer`.
async fn given(call_id: &str, answer: ResponseTemplate) -> (Deps, InMemory, MockServer) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap();
    let (deps, world) = Deps::in_memory(now);
    let twilio = MockServer::start().await;
    Mock::given(method("POST")).and(path(calls_path())).respond_with(answer).mount(&twilio).await;
    let deps = Deps { voice: Arc::new(TwilioVoice::new(&twilio.uri(), StdDuration::from_secs(5))), ..deps };
    let new = NewCall {
        id: call_id.into(),
        org_id: DEMO_ORG.into(),
        customer_number: "+16505551234".into(),
        customer_name: None,
        customer_id: None,
        call_type: CallType::Feedback,
        campaign_id: None,
    };
    let call = Call::ready(new, now, now);
    assert_eq!(deps.store.save_call(&CallWrite { before: None, after: &call, in_flight_cap: None }).await.unwrap(), CallSaved::Stored);
    (deps, world, twilio)
}

fn sample() -> SqsEvent {
    let [(_, text)] = sample_events("call-dialer").try_into().expect("one sample");
    serde_json::from_str(&text).unwrap()
}

fn placed() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(serde_json::json!({ "sid": "CA22222222222222222222222222222222", "status": "queued" }))
}

#[tokio::test]
async fn its_sample_job_places_the_call_once_with_the_organisations_account() {
    let (deps, _world, twilio) = given("call_sample", placed()).await;
    register_demo_voice_account(&*deps.secrets).await;
    // WHEN the job is delivered twice
    for _ in 0..2 {
        let response = crate::handle(sample(), &deps, StopBy::NEVER).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
    }
    // THEN Twilio was asked once, from the account's caller id, with the attempt's callbacks
    let requests = twilio.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let form = max_core::domain::twilio::form_params(std::str::from_utf8(&requests[0].body).unwrap());
    let get = |name: &str| form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!((get("To").as_str(), get("From").as_str()), ("+16505551234", "+15550783881"));
    assert_eq!(get("Url"), "https://api.example.com/webhooks/voice/org_demo/call_sample/1/answer");
    assert_eq!(get("StatusCallback"), "https://api.example.com/webhooks/voice/org_demo/call_sample/1/status");
    // AND the call is in progress under Twilio's sid, its slot taken
    let call = calls::get(&*deps.store, DEMO_ORG, "call_sample").await.unwrap();
    assert_eq!((call.status, call.attempts), (CallStatus::InProgress, 1));
    assert_eq!(call.attempt_history[0].provider_call_id.as_deref(), Some("CA22222222222222222222222222222222"));
    assert_eq!(deps.store.calls_in_flight(DEMO_ORG).await.unwrap(), 1);
}

#[tokio::test]
async fn a_call_that_cannot_be_placed_is_missed_as_failed_and_retried_later() {
    // GIVEN an organisation without a voice account, and another whose account Twilio refuses
    for (with_account, answer) in [(false, placed()), (true, ResponseTemplate::new(401).set_body_json(serde_json::json!({ "code": 20003, "message": "Authenticate" })))] {
        let (deps, _world, twilio) = given("call_sample", answer).await;
        if with_account {
            register_demo_voice_account(&*deps.secrets).await;
        }
        let response = crate::handle(sample(), &deps, StopBy::NEVER).await.unwrap();
        assert!(response.batch_item_failures.is_empty(), "nothing to retry: the miss is recorded");
        let call = calls::get(&*deps.store, DEMO_ORG, "call_sample").await.unwrap();
        assert_eq!((call.status, call.miss_reason, call.attempts), (CallStatus::Ready, Some(MissReason::Failed), 1), "account: {with_account}");
        assert!(call.due_at.unwrap() > deps.clock.now(), "the next attempt is spaced");
        assert_eq!(deps.store.calls_in_flight(DEMO_ORG).await.unwrap(), 0, "its slot freed");
        assert_eq!(twilio.received_requests().await.unwrap().len(), usize::from(with_account));
    }
}

#[tokio::test]
async fn at_the_cap_the_job_is_let_go_and_the_call_stays_ready() {
    // GIVEN a cap of one call at a time, taken by another call in progress
    let (deps, _world, twilio) = given("call_sample", placed()).await;
    register_demo_voice_account(&*deps.secrets).await;
    let mut config = ScheduleConfig::default_for(DEMO_ORG, None);
    config.max_concurrent_calls = 1;
    calls::save_schedule_config(&*deps.store, DEMO_ORG, config, &max_core::domain::audit::AuditActor { user_id: "admin".into(), role: "admin".into() }, deps.clock.now()).await.unwrap();
    let busy = Call::ready(
        NewCall { id: "call_busy".into(), org_id: DEMO_ORG.into(), customer_number: "+16505550000".into(), customer_name: None, customer_id: None, call_type: CallType::Feedback, campaign_id: None },
        deps.clock.now(),
        deps.clock.now(),
    );
    deps.store.save_call(&CallWrite { before: None, after: &busy, in_flight_cap: None }).await.unwrap();
    let job = calls::DialJob { org_id: DEMO_ORG.into(), call_id: "call_busy".into(), attempt: 1 };
    assert!(matches!(calls::claim(&*deps.store, &job, deps.clock.now()).await.unwrap(), calls::Claim::Place { .. }));
    // WHEN the sample's job comes
    let response = crate::handle(sample(), &deps, StopBy::NEVER).await.unwrap();
    // THEN it is done with (not handed back to hold the organisation's queue), nothing is placed,
    // and the call waits, ready, for the scheduler's next offer
    assert!(response.batch_item_failures.is_empty());
    assert!(twilio.received_requests().await.unwrap().is_empty());
    let call = calls::get(&*deps.store, DEMO_ORG, "call_sample").await.unwrap();
    assert_eq!((call.status, call.attempts), (CallStatus::Ready, 0));
}
