//! What the function crates' tests share: their `events/` samples, and the demo organisation the
//! samples speak for, to run each function's handler on the memory adapter (`Deps::in_memory`).

use std::path::PathBuf;

use crate::domain::channel::{Channel, TemplateRef, access_token_secret};
use crate::domain::secret::Secret;
use crate::ports::{ChannelDirectory, ChannelPut, Secrets};

/// The organisation every sample's claims (and the dev stack's demo data) name.
pub const DEMO_ORG: &str = "org_demo";
/// The demo number's Graph access token, in its secret once the number is registered.
pub const DEMO_ACCESS_TOKEN: &str = "EAAG-demo-token";

/// The demo organisation's voice account (Twilio), as `PUT /v1/channels/voice` keeps it: its
/// auth token signs the `events/voice-webhook` samples.
pub const DEMO_VOICE_AUTH_TOKEN: &str = "tw-demo-auth-token";
pub const DEMO_VOICE_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";

pub async fn register_demo_voice_account(secrets: &dyn Secrets) {
    let account = crate::domain::channel::VoiceChannel {
        account_sid: DEMO_VOICE_ACCOUNT_SID.into(),
        auth_token: Secret::new(DEMO_VOICE_AUTH_TOKEN),
        caller_id: "+15550783881".into(),
        rotated_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
    };
    secrets.put_secret(&crate::domain::channel::voice_account_secret(DEMO_ORG), &account.to_secret()).await.expect("the demo voice account is stored");
}

/// The demo organisation's WhatsApp number: the one in Meta's example payloads.
pub fn demo_channel() -> Channel {
    Channel {
        org_id: DEMO_ORG.into(),
        phone_number_id: "106540352242922".into(),
        display_phone_number: Some("15550783881".into()),
        waba_id: Some("102290129340398".into()),
        fallback_template: Some(TemplateRef { name: "hello_world".into(), language: "en_US".into() }),
        access_token_rotated_at: Some(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH),
        default_team_id: None,
    }
}

/// The demo number registered with its token ([`DEMO_ACCESS_TOKEN`]) in its secret, as
/// `POST /v1/channels/whatsapp` leaves it, and its fallback template `hello_world` approved (as a
/// sync of Meta's list leaves it): what a function that sends needs.
pub async fn register_demo_channel<S: ChannelDirectory + crate::ports::WhatsAppTemplateStore + ?Sized>(store: &S, secrets: &dyn Secrets) {
    let channel = demo_channel();
    secrets.put_secret(&access_token_secret(DEMO_ORG, &channel.phone_number_id), &Secret::new(DEMO_ACCESS_TOKEN)).await.expect("the demo token is stored");
    assert_eq!(store.put_channel(&channel, None).await.expect("the demo channel is stored"), ChannelPut::Stored);
    let waba = channel.waba_id.clone().unwrap_or_default();
    let mut fallback = crate::domain::whatsapp_template::WhatsAppTemplate::discovered(DEMO_ORG, &waba, "1689556908129000", "hello_world", "en_US", chrono::DateTime::<chrono::Utc>::UNIX_EPOCH);
    fallback.status = crate::domain::whatsapp_template::TemplateStatus::Approved;
    fallback.body_parameters = Some(Vec::new());
    fallback.header_parameters = Some(Vec::new());
    fallback.version = 1;
    store.save_whatsapp_template(&fallback, None).await.expect("the demo fallback template is stored");
}

/// `../shared` beside the repository: the guide, the seeds and the fixtures (Meta's and Twilio's
/// bodies).
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// `events/<function>/*.json` as `(file name, text)`, in name order.
pub fn sample_events(function: &str) -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events").join(function);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|f| f.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "events/{function} has no sample");
    files
        .into_iter()
        .map(|p| (p.file_name().unwrap_or_default().to_string_lossy().to_string(), std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))))
        .collect()
}

/// Every HTTP sample of `function` through `handle`, with the status each answered, in name order.
pub async fn http_samples<F, Fut>(function: &str, mut handle: F) -> Vec<(String, u16)>
where
    F: FnMut(lambda_http::Request) -> Fut,
    Fut: std::future::Future<Output = Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error>>,
{
    let mut answered = Vec::new();
    for (name, text) in sample_events(function) {
        let request = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("events/{function}/{name}: {e}"));
        let response = handle(request).await.unwrap_or_else(|e| panic!("events/{function}/{name}: {e}"));
        answered.push((name, response.status().as_u16()));
    }
    answered
}

/// `[("file.json", 200), …]` as `http_samples` answers, for one `assert_eq!`.
pub fn statuses(expected: &[(&str, u16)]) -> Vec<(String, u16)> {
    expected.iter().map(|(name, status)| (name.to_string(), *status)).collect()
}

/// Another request made from one of `function`'s HTTP samples: its method and path (a `?query`
/// becomes the event's query parameters), then the caller's claims and body as the test needs.
pub struct SampleRequest {
    event: serde_json::Value,
}

impl SampleRequest {
    pub fn new(function: &str, sample: &str, method: &str, path: &str) -> SampleRequest {
        let (_, text) = sample_events(function).into_iter().find(|(name, _)| name == sample).unwrap_or_else(|| panic!("events/{function}/{sample}"));
        let mut event: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("events/{function}/{sample}: {e}"));
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        if !query.is_empty() {
            let pairs: serde_json::Map<String, serde_json::Value> = query.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), v.into())).collect();
            event["rawQueryString"] = query.into();
            event["queryStringParameters"] = pairs.into();
        }
        event["rawPath"] = path.into();
        event["requestContext"]["http"]["method"] = method.into();
        event["requestContext"]["http"]["path"] = path.into();
        SampleRequest { event }
    }

    /// The caller's one role (`cognito:groups`).
    pub fn group(self, group: &str) -> SampleRequest {
        self.claim("cognito:groups", &format!("[{group}]"))
    }

    /// A claim of the caller's token (`sub`, `custom:org_id`…).
    pub fn claim(mut self, name: &str, value: &str) -> SampleRequest {
        self.event["requestContext"]["authorizer"]["jwt"]["claims"][name] = value.into();
        self
    }

    /// The body, as the client sends it (JSON text, or anything else for a malformed body).
    pub fn body(mut self, body: &str) -> SampleRequest {
        self.event["body"] = body.into();
        self
    }

    pub fn build(self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.event.to_string()).expect("a sample stays an API Gateway event")
    }
}
