//! This function's `events/` samples, and a whole answered call, through its handler on the memory
//! adapter: signed callbacks drive the call, forged ones change nothing.

use chrono::{Duration, TimeZone, Utc};
use max_core::app::calls::{self, Claim, DialJob};
use max_core::app::voice::{VoiceStep, callback_url};
use max_core::config::{Deps, IN_MEMORY_PUBLIC_URL, InMemory};
use max_core::domain::call::{Call, CallStatus, CallType, CompletedVia, MissReason, NewCall};
use max_core::domain::twilio::signature;
use max_core::ports::{CallSaved, CallWrite};
use max_core::testing::{DEMO_ORG, DEMO_VOICE_AUTH_TOKEN, http_samples, register_demo_voice_account, statuses};
use serde_json::json;

const SID: &str = "CA11111111111111111111111111111111";

/// GIVEN the demo organisation's voice account and its call `call_id` placed (attempt 1, `SID`).
async fn placed_call(call_id: &str) -> (Deps, InMemory, DialJob) {
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 10, 14, 0).unwrap();
    let (deps, world) = Deps::in_memory(now);
    register_demo_voice_account(&*deps.secrets).await;
    let new = NewCall {
        id: call_id.into(),
        org_id: DEMO_ORG.into(),
        customer_number: "+16505551234".into(),
        customer_name: Some("Sheena Nelson".into()),
        customer_id: None,
        call_type: CallType::Feedback,
        campaign_id: None,
    };
    let call = Call::ready(new, now, now);
    assert_eq!(deps.store.save_call(&CallWrite { before: None, after: &call, in_flight_cap: None }).await.unwrap(), CallSaved::Stored);
    let job = DialJob { org_id: DEMO_ORG.into(), call_id: call_id.into(), attempt: 1 };
    assert!(matches!(calls::claim(&*deps.store, &job, now).await.unwrap(), Claim::Place { .. }));
    calls::record_placement(&deps.call_ports(), &job, SID, now).await.unwrap();
    (deps, world, job)
}

/// A callback as Twilio posts it to `url`, signed with `token`.
fn callback(url: &str, params: &[(&str, &str)], token: &str) -> lambda_http::Request {
    let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
    let path = url.strip_prefix(IN_MEMORY_PUBLIC_URL).unwrap();
    let event = json!({
        "version": "2.0", "routeKey": "POST /webhooks/voice/{orgId}/{callId}/{attempt}/{step}", "rawPath": path, "rawQueryString": "",
        "headers": { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature(token, url, &params) },
        "requestContext": { "accountId": "1", "apiId": "maxapi", "domainName": "api.example.com", "http": { "method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "54.172.60.0", "userAgent": "TwilioProxy/1.1" }, "requestId": "r", "routeKey": "POST /webhooks/voice/{orgId}/{callId}/{attempt}/{step}", "stage": "$default", "time": "30/Nov/2026:10:15:43 +0000", "timeEpoch": 0 },
        "isBase64Encoded": false, "body": body,
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

async fn post(deps: &Deps, req: lambda_http::Request) -> (u16, String) {
    let res = crate::handle(req, deps).await.unwrap();
    let body = match res.body() {
        lambda_http::Body::Text(t) => t.clone(),
        lambda_http::Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    (res.status().as_u16(), body)
}

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    // GIVEN the samples' call, placed as the fixture's CallSid and answered with a score of 9
    let (deps, _world, job) = placed_call("call_sample").await;
    calls::record_answers(&deps.call_ports(), &job, Some(SID), Some(9), None, deps.clock.now()).await.unwrap();
    let deps = &deps;
    // WHEN the signed final status and a forged copy come in
    let answered = http_samples("voice-webhook", |req| crate::handle(req, deps)).await;
    // THEN the signed one is taken in and completes the call; the forged one is refused
    assert_eq!(answered, statuses(&[("status-completed.json", 204), ("status-forged.json", 403)]));
    let call = calls::get(&*deps.store, DEMO_ORG, "call_sample").await.unwrap();
    assert_eq!((call.status, call.nps_score, call.duration_sec), (CallStatus::Completed, Some(9), Some(47)));
}

#[tokio::test]
async fn an_answered_call_asks_the_score_then_the_feedback_and_ends_completed_once() {
    let (deps, _world, job) = placed_call("call_1").await;
    let url = |step| callback_url(IN_MEMORY_PUBLIC_URL, &job, step);
    let call = [("CallSid", SID), ("AccountSid", "AC00000000000000000000000000000000")];
    let with = |extra: &[(&'static str, &'static str)]| call.iter().chain(extra).copied().collect::<Vec<_>>();
    // WHEN the customer picks up: the NPS question, gathering keys and speech, posting to `score`
    let (status, twiml) = post(&deps, callback(&url(VoiceStep::Answer), &with(&[("CallStatus", "in-progress"), ("AnsweredBy", "human")]), DEMO_VOICE_AUTH_TOKEN)).await;
    assert_eq!(status, 200, "{twiml}");
    assert!(twiml.contains(r#"<Gather input="dtmf speech""#) && twiml.contains(&format!(r#"action="{}""#, url(VoiceStep::Score))), "{twiml}");
    // AND keys 9#: the follow-up question, posting to `feedback`
    let (status, twiml) = post(&deps, callback(&url(VoiceStep::Score), &with(&[("Digits", "9#")]), DEMO_VOICE_AUTH_TOKEN)).await;
    assert_eq!(status, 200);
    assert!(twiml.contains(r#"<Gather input="speech""#) && twiml.contains(&url(VoiceStep::Feedback)), "{twiml}");
    // AND says what went well: goodbye
    let feedback = with(&[("SpeechResult", "Quick and friendly, thank you"), ("Confidence", "0.93")]);
    let (_, twiml) = post(&deps, callback(&url(VoiceStep::Feedback), &feedback, DEMO_VOICE_AUTH_TOKEN)).await;
    assert!(twiml.contains("<Hangup/>"), "{twiml}");
    // AND the call ends (sent twice, as Twilio retries)
    let done = with(&[("CallStatus", "completed"), ("CallDuration", "52"), ("Timestamp", "Mon, 30 Nov 2026 10:15:42 +0000")]);
    for _ in 0..2 {
        assert_eq!(post(&deps, callback(&url(VoiceStep::Status), &done, DEMO_VOICE_AUTH_TOKEN)).await.0, 204);
    }
    // THEN the call is completed by voice with NPS 9, the transcript and the duration, counted once
    let call = calls::get(&*deps.store, DEMO_ORG, "call_1").await.unwrap();
    assert_eq!((call.status, call.completed_via, call.nps_score), (CallStatus::Completed, Some(CompletedVia::Voice), Some(9)));
    assert_eq!((call.transcript.as_deref(), call.duration_sec), (Some("Quick and friendly, thank you"), Some(52)));
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let nps = calls::nps(&*deps.store, DEMO_ORG, day, day, None).await.unwrap();
    assert_eq!((nps.total.promoters, nps.total.responses), (1, 1));
}

#[tokio::test]
async fn a_forged_or_unsigned_callback_is_refused_and_changes_nothing() {
    let (deps, _world, job) = placed_call("call_1").await;
    let url = callback_url(IN_MEMORY_PUBLIC_URL, &job, VoiceStep::Status);
    let done = [("CallSid", SID), ("CallStatus", "no-answer")];
    let before = calls::get(&*deps.store, DEMO_ORG, "call_1").await.unwrap();
    // WHEN signed with another token, or for another URL, or not at all
    assert_eq!(post(&deps, callback(&url, &done, "not-the-token")).await.0, 403);
    let mut elsewhere = callback(&url, &done, DEMO_VOICE_AUTH_TOKEN);
    *elsewhere.uri_mut() = "https://api.example.com/webhooks/voice/org_demo/call_1/2/status".parse().unwrap();
    assert_eq!(post(&deps, elsewhere).await.0, 403, "a signature is for its own URL");
    let mut unsigned = callback(&url, &done, DEMO_VOICE_AUTH_TOKEN);
    unsigned.headers_mut().remove("x-twilio-signature");
    assert_eq!(post(&deps, unsigned).await.0, 403);
    // AND for an organisation without a voice account
    let other = DialJob { org_id: "org_other".into(), ..job.clone() };
    assert_eq!(post(&deps, callback(&callback_url(IN_MEMORY_PUBLIC_URL, &other, VoiceStep::Status), &done, DEMO_VOICE_AUTH_TOKEN)).await.0, 403);
    // THEN the call is as it was
    assert_eq!(calls::get(&*deps.store, DEMO_ORG, "call_1").await.unwrap(), before);
    // AND a signed callback for a call the organisation does not have is 404; a path that is no
    // callback is 404 too
    let unknown = DialJob { call_id: "nope".into(), ..job.clone() };
    assert_eq!(post(&deps, callback(&callback_url(IN_MEMORY_PUBLIC_URL, &unknown, VoiceStep::Status), &done, DEMO_VOICE_AUTH_TOKEN)).await.0, 404);
    let not_a_step = url.replace("/status", "/dance");
    assert_eq!(post(&deps, callback(&not_a_step, &done, DEMO_VOICE_AUTH_TOKEN)).await.0, 404);
}

#[tokio::test]
async fn a_machine_is_hung_up_on_and_the_attempt_missed_as_voicemail() {
    let (deps, _world, job) = placed_call("call_1").await;
    let url = |step| callback_url(IN_MEMORY_PUBLIC_URL, &job, step);
    let (_, twiml) = post(&deps, callback(&url(VoiceStep::Answer), &[("CallSid", SID), ("AnsweredBy", "machine_end_beep")], DEMO_VOICE_AUTH_TOKEN)).await;
    assert!(twiml.contains("<Hangup/>") && !twiml.contains("<Gather"), "{twiml}");
    let done = [("CallSid", SID), ("CallStatus", "completed"), ("AnsweredBy", "machine_end_beep"), ("CallDuration", "12")];
    assert_eq!(post(&deps, callback(&url(VoiceStep::Status), &done, DEMO_VOICE_AUTH_TOKEN)).await.0, 204);
    let call = calls::get(&*deps.store, DEMO_ORG, "call_1").await.unwrap();
    // Attempts left: ready again, its reason kept.
    assert_eq!((call.status, call.miss_reason), (CallStatus::Ready, Some(MissReason::Voicemail)));
    assert!(call.due_at.unwrap() > deps.clock.now() + Duration::minutes(60), "spaced by the schedule");
}
