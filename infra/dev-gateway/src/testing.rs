//! The integration test harness: one moto per test process, a fresh stack (own table, queues,
//! bucket) per test, two organisations, tokens, and signed-webhook helpers.

use std::sync::OnceLock;
use std::time::Duration;

use max_core::config::{GraphSettings, Secret};
use max_core::domain::webhook::sign;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::moto::Moto;
use crate::seed::{self, SeedOrg};
use crate::{DevOptions, DevStack, repo_root};

static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();

fn moto_url() -> String {
    match MOTO.get_or_init(|| Moto::start(&repo_root(), 0)) {
        Ok(m) => m.url.clone(),
        Err(e) => panic!("moto is needed for integration tests: {e}"),
    }
}

/// The process id of the tests' moto, when this process started it (benchmarks read its CPU time).
pub fn moto_pid() -> Option<u32> {
    MOTO.get().and_then(|m| m.as_ref().ok()).and_then(Moto::pid)
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
}

fn unique_prefix() -> String {
    format!("t{}", ulid::Ulid::new().to_string().to_lowercase()[14..].to_string())
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
        let endpoint = tokio::task::spawn_blocking(moto_url).await.expect("moto start");
        let mut dev = DevOptions::new(&unique_prefix());
        dev.schedules = false;
        dev.retry_base_ms = Some(0);
        if let Some(n) = options.max_concurrency {
            dev.max_concurrency = n;
        }
        if !options.dev_pollers {
            dev.pollers_per_queue = if options.no_pollers { 0 } else { options.pollers_per_queue.unwrap_or(1) };
        }
        dev.graph = options.graph_url.map(|base_url| GraphSettings {
            base_url,
            access_token: Secret::new("test-token"),
            timeout: Duration::from_secs(5),
        });
        let app_secret = dev.parameters["WhatsAppAppSecret"].clone();
        let stack = DevStack::start(&endpoint, dev).await.expect("dev stack starts");
        let org = SeedOrg::demo();
        let other = SeedOrg::other();
        for o in [&org, &other] {
            seed::register(&stack.deps, o).await.expect("seed");
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

    /// The demo org's open conversations (first page).
    pub async fn conversations(&self) -> Vec<Value> {
        let (_, body) = self.get("/v1/conversations", &self.org.admin).await;
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// All messages of a conversation, oldest first.
    pub async fn messages(&self, conversation_id: &str) -> Vec<Value> {
        let (_, body) = self.get(&format!("/v1/conversations/{conversation_id}/messages?limit=100"), &self.org.admin).await;
        body["items"].as_array().cloned().unwrap_or_default()
    }
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
