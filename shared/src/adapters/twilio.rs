//! Twilio's Programmable Voice REST API over reqwest (`POST /2010-04-01/Accounts/{sid}/Calls.json`),
//! and the dev-mode voice sandbox that stands in for it.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::ports::{PlaceCall, PlaceOutcome, VoiceAccount, VoiceProvider};

#[derive(Debug, Clone)]
pub struct TwilioVoice {
    http: reqwest::Client,
    base_url: String,
}

impl TwilioVoice {
    /// `base_url` like `https://api.twilio.com`. Builds the HTTP client once (cold start).
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        let http = super::peer_http_client("Twilio", timeout);
        TwilioVoice { http, base_url: base_url.trim_end_matches('/').to_string() }
    }
}

#[async_trait]
impl VoiceProvider for TwilioVoice {
    async fn place_call(&self, account: &VoiceAccount, call: &PlaceCall) -> PlaceOutcome {
        let url = format!("{}/2010-04-01/Accounts/{}/Calls.json", self.base_url, account.account_sid);
        let timeout = call.ring_timeout_secs.to_string();
        let mut form: Vec<(&str, &str)> = vec![
            ("To", &call.to),
            ("From", &call.from),
            ("Url", &call.twiml_url),
            ("Method", "POST"),
            ("StatusCallback", &call.status_callback_url),
            ("StatusCallbackMethod", "POST"),
            ("Timeout", &timeout),
        ];
        // A repeated parameter, as Twilio reads a list.
        for event in ["initiated", "ringing", "answered", "completed"] {
            form.push(("StatusCallbackEvent", event));
        }
        if call.detect_machine {
            form.push(("MachineDetection", "Enable"));
        }
        let response = match self.http.post(&url).basic_auth(&account.account_sid, Some(&account.auth_token)).form(&form).send().await {
            Ok(r) => r,
            // Never connected: Twilio cannot have it.
            Err(e) if e.is_connect() => return PlaceOutcome::Refused { http_status: None, code: None, message: "connection failed".into() },
            Err(e) => return PlaceOutcome::Unanswered { reason: if e.is_timeout() { "timeout".into() } else { "transport error".into() } },
        };
        let status = response.status().as_u16();
        let json = response.json::<Value>().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return match json.get("sid").and_then(Value::as_str) {
                Some(sid) => PlaceOutcome::Placed { provider_call_id: sid.to_string() },
                None => PlaceOutcome::Unanswered { reason: format!("HTTP {status} without a call sid") },
            };
        }
        if status >= 500 {
            // Twilio's side failed mid-request: whether the call was created is unknown.
            return PlaceOutcome::Unanswered { reason: format!("HTTP {status}") };
        }
        PlaceOutcome::Refused {
            http_status: Some(status),
            code: json.get("code").and_then(Value::as_i64),
            message: json.get("message").and_then(Value::as_str).map_or_else(|| format!("HTTP {status}"), str::to_string),
        }
    }
}

/// One call the sandbox accepted: what Twilio would have been asked.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxCall {
    pub provider_call_id: String,
    pub account_sid: String,
    pub to: String,
    pub from: String,
    pub twiml_url: String,
    pub status_callback_url: String,
    pub placed_at: DateTime<Utc>,
}

/// The dev stack's voice provider: places nothing, keeps every call asked for; the dev gateway
/// plays the provider's signed callbacks for them on request (`POST /dev/calls/{id}`).
#[derive(Debug, Default)]
pub struct VoiceSandbox {
    calls: Mutex<Vec<SandboxCall>>,
}

impl VoiceSandbox {
    pub fn calls(&self) -> Vec<SandboxCall> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn call(&self, provider_call_id: &str) -> Option<SandboxCall> {
        self.calls().into_iter().find(|c| c.provider_call_id == provider_call_id)
    }
}

#[async_trait]
impl VoiceProvider for VoiceSandbox {
    async fn place_call(&self, account: &VoiceAccount, call: &PlaceCall) -> PlaceOutcome {
        // Twilio's call sids: "CA" and 32 hex digits.
        let provider_call_id = format!("CA{}", &crate::domain::ids::sha256_hex(ulid::Ulid::new().to_string().as_bytes())[..32]);
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).push(SandboxCall {
            provider_call_id: provider_call_id.clone(),
            account_sid: account.account_sid.clone(),
            to: call.to.clone(),
            from: call.from.clone(),
            twiml_url: call.twiml_url.clone(),
            status_callback_url: call.status_callback_url.clone(),
            placed_at: Utc::now(),
        });
        PlaceOutcome::Placed { provider_call_id }
    }
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{body_string_contains, header, method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    use super::*;
    use crate::domain::twilio::form_params;

    fn account() -> VoiceAccount {
        VoiceAccount { account_sid: "AC00000000000000000000000000000000".into(), auth_token: "tw-secret".into() }
    }

    fn call() -> PlaceCall {
        PlaceCall {
            to: "+16505551234".into(),
            from: "+15550783881".into(),
            twiml_url: "https://api.example.com/webhooks/voice/org_1/call_1/1/twiml".into(),
            status_callback_url: "https://api.example.com/webhooks/voice/org_1/call_1/1/status".into(),
            ring_timeout_secs: 25,
            detect_machine: true,
        }
    }

    fn client(base_url: &str, timeout: Duration) -> TwilioVoice {
        TwilioVoice::new(base_url, timeout)
    }

    fn calls_path() -> &'static str {
        "/2010-04-01/Accounts/AC00000000000000000000000000000000/Calls.json"
    }

    #[tokio::test]
    async fn a_call_is_created_with_its_callbacks_and_the_account_s_credentials() {
        let twilio = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(calls_path()))
            // Basic auth: the account sid and its auth token.
            .and(header("authorization", "Basic QUMwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDp0dy1zZWNyZXQ="))
            .and(body_string_contains("MachineDetection=Enable"))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({ "sid": "CA11111111111111111111111111111111", "status": "queued" })))
            .expect(1)
            .mount(&twilio)
            .await;
        let outcome = client(&twilio.uri(), Duration::from_secs(5)).place_call(&account(), &call()).await;
        assert_eq!(outcome, PlaceOutcome::Placed { provider_call_id: "CA11111111111111111111111111111111".into() });
        let sent: Vec<Request> = twilio.received_requests().await.unwrap_or_default();
        let form = form_params(std::str::from_utf8(&sent[0].body).unwrap());
        let get = |name: &str| form.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(get("To"), ["+16505551234"]);
        assert_eq!(get("From"), ["+15550783881"]);
        assert_eq!(get("Url"), ["https://api.example.com/webhooks/voice/org_1/call_1/1/twiml"]);
        assert_eq!(get("StatusCallback"), ["https://api.example.com/webhooks/voice/org_1/call_1/1/status"]);
        assert_eq!(get("StatusCallbackEvent"), ["initiated", "ringing", "answered", "completed"]);
        assert_eq!(get("Timeout"), ["25"]);
    }

    #[tokio::test]
    async fn a_refusal_keeps_twilio_s_code_and_message() {
        let twilio = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(calls_path()))
            .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "code": 21211, "message": "The 'To' number +1650 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400
            })))
            .mount(&twilio)
            .await;
        let outcome = client(&twilio.uri(), Duration::from_secs(5)).place_call(&account(), &call()).await;
        assert_eq!(outcome, PlaceOutcome::Refused { http_status: Some(400), code: Some(21211), message: "The 'To' number +1650 is not a valid phone number.".into() });
    }

    #[tokio::test]
    async fn no_usable_answer_means_the_call_may_exist() {
        let twilio = MockServer::start().await;
        Mock::given(method("POST")).and(path(calls_path())).respond_with(ResponseTemplate::new(503)).mount(&twilio).await;
        let voice = client(&twilio.uri(), Duration::from_millis(300));
        assert_eq!(voice.place_call(&account(), &call()).await, PlaceOutcome::Unanswered { reason: "HTTP 503".into() });
        let slow = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(2))).mount(&slow).await;
        let voice = client(&slow.uri(), Duration::from_millis(300));
        assert_eq!(voice.place_call(&account(), &call()).await, PlaceOutcome::Unanswered { reason: "timeout".into() });
        // Nobody listening: never placed.
        let voice = client("http://127.0.0.1:9", Duration::from_millis(300));
        assert!(matches!(voice.place_call(&account(), &call()).await, PlaceOutcome::Refused { http_status: None, .. }));
    }

    #[tokio::test]
    async fn the_sandbox_keeps_each_call_under_a_twilio_like_sid() {
        let sandbox = VoiceSandbox::default();
        let PlaceOutcome::Placed { provider_call_id } = sandbox.place_call(&account(), &call()).await else { panic!("placed") };
        assert!(provider_call_id.starts_with("CA") && provider_call_id.len() == 34, "{provider_call_id}");
        assert_eq!(sandbox.call(&provider_call_id).map(|c| c.to), Some("+16505551234".into()));
        assert_eq!(sandbox.calls().len(), 1);
    }

    #[test]
    fn the_token_never_reaches_debug() {
        assert!(!format!("{:?}", account()).contains("tw-secret"));
    }
}
