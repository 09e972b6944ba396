//! The integration test harness: one moto per test process, a fresh stack (own table, queues,
//! bucket) per test, two organisations, tokens, and signed-webhook helpers.

use std::sync::OnceLock;
use std::time::Duration;

use max_core::config::{Deps, GraphSettings};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use max_core::domain::webhook::{InboundJob, group_by_ordering_key, read_changes, sign};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::moto::{LocalAws, Moto};
use crate::seed::{self, SeedOrg};
use crate::{DevOptions, DevStack, repo_root};

static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();

fn moto_endpoints() -> LocalAws {
    match MOTO.get_or_init(|| Moto::start(&repo_root(), 0)) {
        Ok(m) => m.endpoints.clone(),
        Err(e) => panic!("moto is needed for integration tests: {e}"),
    }
}

/// The process ids of the tests' moto servers, when this process started them (benchmarks read
/// their CPU time).
pub fn moto_pids() -> Vec<u32> {
    MOTO.get().and_then(|m| m.as_ref().ok()).map(Moto::pids).unwrap_or_default()
}

pub struct TestOrg {
    pub seed: SeedOrg,
    pub admin: String,
    pub supervisor: String,
    pub agent: String,
}

pub struct TestStack {
    pub stack: DevStack,
    pub http: reqwest::Client,
    pub org: TestOrg,
    pub other: TestOrg,
    pub app_secret: String,
}

#[derive(Default)]
pub struct TestOptions {
    /// Base URL of a Graph API fake (wiremock); `None` uses the sandbox.
    pub graph_url: Option<String>,
    /// Poll the queues in the background like Lambda would (default true via `TestStack::start`).
    pub no_pollers: bool,
    /// Pollers per queue when polling (default 1; `make dev` runs 2).
    pub pollers_per_queue: Option<usize>,
    /// Poll exactly as `make dev` does (benchmarks).
    pub dev_pollers: bool,
    /// Most invocations at once per queue (default: `DevOptions`').
    pub max_concurrency: Option<usize>,
    /// Base URL of a Twilio fake (wiremock); `None` uses the voice sandbox.
    pub twilio_url: Option<String>,
    /// The sandbox serves a file for every media id a webhook names, as in `make dev`.
    pub sandbox_media: bool,
    /// Webhook subscriptions may not point at loopback (as when deployed); the dev stack allows it.
    pub webhooks_refuse_loopback: bool,
    /// Names the webhook sender resolves itself, to the addresses given (`DevOptions::webhook_hosts`).
    pub webhook_hosts: Vec<(String, std::net::IpAddr)>,
    /// Webhook retries wait their scheduled delay, as when deployed (benchmarks); the dev stack
    /// queues them at once.
    pub webhooks_scheduled_retries: bool,
    /// The stream pollers only read every 250 ms, not woken after each invocation (benchmarks).
    pub no_stream_doorbell: bool,
}

fn unique_prefix() -> String {
    format!("t{}", &ulid::Ulid::new().to_string().to_lowercase()[14..])
}

impl TestStack {
    pub async fn start() -> TestStack {
        TestStack::with(TestOptions::default()).await
    }

    pub async fn with_graph(url: &str) -> TestStack {
        TestStack::with(TestOptions { graph_url: Some(url.to_string()), ..Default::default() }).await
    }

    pub async fn with(options: TestOptions) -> TestStack {
        // reqwest is built without a TLS provider (see `config::graph_api`); a test that never
        // builds the Graph API client still needs one for its own HTTP client.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let endpoints = tokio::task::spawn_blocking(moto_endpoints).await.expect("moto start");
        let mut dev = DevOptions::new(&unique_prefix());
        dev.schedules = false;
        dev.retry_base_ms = Some(0);
        if let Some(n) = options.max_concurrency {
            dev.max_concurrency = n;
        }
        if !options.dev_pollers {
            dev.pollers_per_queue = if options.no_pollers { 0 } else { options.pollers_per_queue.unwrap_or(1) };
        }
        dev.graph = options.graph_url.map(|base_url| GraphSettings { base_url, timeout: Duration::from_secs(5) });
        dev.voice = options.twilio_url;
        dev.sandbox_media = options.sandbox_media;
        dev.webhooks_allow_loopback = !options.webhooks_refuse_loopback;
        dev.webhooks_immediate_retries = !options.webhooks_scheduled_retries;
        dev.stream_doorbell = !options.no_stream_doorbell;
        for (host, ip) in options.webhook_hosts {
            dev.webhook_hosts.entry(host).or_default().push(ip);
        }
        let app_secret = dev.parameters["WhatsAppAppSecret"].clone();
        let stack = DevStack::start(&endpoints, dev).await.expect("dev stack starts");
        let org = SeedOrg::demo();
        let other = SeedOrg::other();
        for o in [&org, &other] {
            seed::register(&stack.deps, o).await.expect("seed");
            seed::whatsapp_templates(&stack.deps, stack.sandbox.as_deref(), o).await.expect("seed templates");
        }
        let mint = |o: &SeedOrg| TestOrg {
            admin: stack.tokens.mint(&o.id, &format!("{}_admin", o.id), "admin", "Ada Admin"),
            supervisor: stack.tokens.mint(&o.id, &format!("{}_supervisor", o.id), "supervisor", "Sue Supervisor"),
            agent: stack.tokens.mint(&o.id, &format!("{}_agent", o.id), "agent", "Al Agent"),
            seed: o.clone(),
        };
        let (org, other) = (mint(&org), mint(&other));
        stack.mark_ready();
        max_core::config::install_tls_provider();
        TestStack { http: reqwest::Client::new(), org, other, app_secret, stack }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.stack.url, path)
    }

    /// POSTs a webhook body signed with the app secret, as Meta would.
    pub async fn post_webhook(&self, body: &[u8]) -> reqwest::Response {
        let signature = sign(self.app_secret.as_bytes(), body);
        self.http
            .post(self.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body.to_vec())
            .send()
            .await
            .expect("webhook POST")
    }

    /// An API call with a bearer token; returns the status and the JSON body (Null if none).
    pub async fn api(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("API call");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.api(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.api(Method::POST, path, token, Some(body)).await
    }

    /// The demo org's open conversations (first page). Anything but 200 fails the test, so an
    /// empty list means empty, never a refused call.
    pub async fn conversations(&self) -> Vec<Value> {
        let (status, body) = self.get("/v1/conversations", &self.org.admin).await;
        assert_eq!(status, StatusCode::OK, "GET /v1/conversations: {body}");
        items(&body)
    }

    /// All messages of a conversation, oldest first (200 asserted, as for `conversations`).
    pub async fn messages(&self, conversation_id: &str) -> Vec<Value> {
        let path = format!("/v1/conversations/{conversation_id}/messages?limit=100");
        let (status, body) = self.get(&path, &self.org.admin).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        items(&body)
    }

    /// The organisation's event feed so far, oldest first, as `token` sees it (200 asserted).
    pub async fn feed(&self, token: &str) -> Vec<Value> {
        let (status, body) = self.get("/v1/events?limit=100", token).await;
        assert_eq!(status, StatusCode::OK, "GET /v1/events: {body}");
        items(&body)
    }

    /// A customer (Meta's example text message, stamped now so the 24-hour window is open) wrote;
    /// returns the conversation id once it is visible.
    pub async fn live_conversation(&self) -> String {
        let body = stamped_now(&fixture("meta-openapi/text-message.json"));
        assert_eq!(self.post_webhook(&body).await.status(), StatusCode::OK);
        // Listed once placed, but live only once the message is recorded with it (its window
        // open): a reply queued before that may find the window closed and go as a template.
        let c = eventually("conversation with its window open", WAIT, || async {
            self.conversations().await.into_iter().find(|c| !c["window_closes_at"].is_null())
        })
        .await;
        c["id"].as_str().expect("conversation id").to_string()
    }

    /// The URL of a queue of template.yaml by logical id (`InboundQueue`, `RepliesQueue`, ...).
    pub fn queue_url(&self, logical_id: &str) -> String {
        self.stack.resources.queue_urls.get(logical_id).unwrap_or_else(|| panic!("no queue {logical_id}")).clone()
    }

    /// How many messages a queue holds: visible, in flight or delayed.
    pub async fn queued(&self, logical_id: &str) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let attrs = self
            .stack
            .sqs
            .get_queue_attributes()
            .queue_url(self.queue_url(logical_id))
            .attribute_names(A::All)
            .send()
            .await
            .unwrap_or_else(|e| panic!("attributes of {logical_id}: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))
            .attributes
            .unwrap_or_default();
        let n = |k: A| attrs.get(&k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible) + n(A::ApproximateNumberOfMessagesDelayed)
    }

    /// Waits until every worker queue (inbound, replies, next-step) is empty at once: every job
    /// queued so far, and every job those jobs queued, has been consumed. Checked in pipeline
    /// order, and a worker queues its follow-up jobs before its own job is deleted, so an empty
    /// upstream queue means its follow-ups are already counted downstream. A "nothing else
    /// happened" check waits for this first, so it knows the event it is about was consumed.
    pub async fn drained(&self) {
        eventually("the inbound, replies and next-step queues to drain", WAIT, || async {
            for q in ["InboundQueue", "RepliesQueue", "NextStepQueue"] {
                if self.queued(q).await > 0 {
                    return None;
                }
            }
            Some(())
        })
        .await;
    }

    /// Runs inbound-processor's handler on the jobs the webhook would queue for `body` (one
    /// record per customer), as SQS would deliver them: a test calls it twice to redeliver.
    pub async fn process_inbound(&self, body: &[u8]) -> SqsBatchResponse {
        crate::registry::invoke_sqs("inbound-processor", inbound_event(body), &self.stack.deps).await.expect("registered").expect("handler ran")
    }
}

impl TestStack {
    /// A copy of the stack's dependencies (same table, queues, bucket, Graph API client) that a
    /// test changes to inject a double (`whatsapp`, `outbox`, `settings.retry`) before it runs a
    /// function's handler with it.
    pub fn deps_copy(&self) -> Deps {
        let deps = &self.stack.deps;
        Deps {
            settings: deps.settings.clone(),
            store: deps.store.clone(),
            outbox: deps.outbox.clone(),
            blobs: deps.blobs.clone(),
            whatsapp: deps.whatsapp.clone(),
            secrets: deps.secrets.clone(),
            voice: deps.voice.clone(),
            webhooks: deps.webhooks.clone(),
            live: deps.live.clone(),
            identity: deps.identity.clone(),
            tokens: deps.tokens.clone(),
            clock: deps.clock.clone(),
        }
    }
}

/// How long a test waits for something asynchronous before it fails.
pub const WAIT: Duration = Duration::from_secs(20);
/// The demo organisation's WhatsApp number (Meta's example `phone_number_id`).
pub const NUMBER: &str = "106540352242922";
/// The customer of Meta's example payloads.
pub const CUSTOMER: &str = "16505551234";

/// The `items` of a list answer (empty if none).
pub fn items(body: &Value) -> Vec<Value> {
    body["items"].as_array().cloned().unwrap_or_default()
}

/// A webhook body with every message timestamp set to now, so the 24-hour window is open.
pub fn stamped_now(body: &[u8]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).expect("fixture is JSON");
    let now = chrono::Utc::now().timestamp().to_string();
    for entry in v["entry"].as_array_mut().into_iter().flatten() {
        for change in entry["changes"].as_array_mut().into_iter().flatten() {
            for m in change["value"]["messages"].as_array_mut().into_iter().flatten() {
                m["timestamp"] = Value::String(now.clone());
            }
        }
    }
    serde_json::to_vec(&v).expect("JSON")
}

/// The batch inbound-processor gets for a webhook `body`: the jobs the webhook queues for it
/// (one record per customer, in Meta's order).
pub fn inbound_event(body: &[u8]) -> SqsEvent {
    let changes = read_changes(body).expect("a webhook body");
    let records: Vec<(String, Option<String>)> = group_by_ordering_key(changes)
        .into_iter()
        .map(|(group, changes)| {
            let job = InboundJob::Changes { received_at: chrono::Utc::now(), changes };
            (serde_json::to_string(&job).expect("job JSON"), Some(group))
        })
        .collect();
    sqs_event(&records, "inbound.fifo")
}

/// An SQS batch as Lambda hands it to a function: one record per `(body, message group)`, each
/// on its second delivery (a redelivery, past SQS deduplication).
pub fn sqs_event(records: &[(String, Option<String>)], queue: &str) -> SqsEvent {
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, (body, group))| {
            let mut attributes = json!({ "ApproximateReceiveCount": "2" });
            if let Some(g) = group {
                attributes["MessageGroupId"] = json!(g);
            }
            json!({
                "messageId": format!("test-{i}-{}", ulid::Ulid::new()), "receiptHandle": format!("receipt-{i}"),
                "body": body, "attributes": attributes, "messageAttributes": {},
                "eventSource": "aws:sqs", "eventSourceARN": format!("arn:aws:sqs:us-east-1:000000000000:{queue}"), "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("an SQS event")
}

/// `copies` records of one job body, for a function's handler.
pub fn sqs_job(body: &Value, copies: usize, queue: &str) -> SqsEvent {
    let records: Vec<(String, Option<String>)> = (0..copies).map(|_| (body.to_string(), Some("test".to_string()))).collect();
    sqs_event(&records, queue)
}

/// Polls `check` until it returns `Some` or `timeout` passes (then panics with `what`).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fixture from `../shared/fixtures/whatsapp/` (beside the repo).
pub fn fixture(relative: &str) -> Vec<u8> {
    let path = repo_root().join("../shared/fixtures/whatsapp").join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// Every fixture file under `../shared/fixtures/whatsapp/`, as (relative path, bytes).
pub fn all_fixtures() -> Vec<(String, Vec<u8>)> {
    let base = repo_root().join("../shared/fixtures/whatsapp");
    let mut out = Vec::new();
    let mut dirs = vec![base.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                let rel = p.strip_prefix(&base).unwrap_or(&p).to_string_lossy().to_string();
                out.push((rel, std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}
