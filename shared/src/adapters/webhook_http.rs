//! Outbound webhook deliveries over HTTP (`ports::WebhookSender`). The guard against requests to
//! private addresses sits inside the client's DNS resolution: every address a name resolves to is
//! judged by `refused_address` right before the connection is made, so a name that resolved to a
//! public address at creation and to 10.0.0.1 now (DNS rebinding) is still refused. Redirects are
//! never followed and no proxy is used (a proxy would resolve the name instead of us).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhook_subscription::{DestinationPolicy, check_url, refused_address};
use crate::ports::{WebhookAnswer, WebhookRequest, WebhookSender};

/// The answer's body is read this far (the log keeps 1,000 bytes).
const BODY_READ_LIMIT: usize = crate::domain::webhook_delivery::MAX_LOGGED_BODY_BYTES + 3;

/// A name whose every address is refused: the connection is never attempted.
#[derive(Debug)]
struct RefusedDestination(String);

impl std::fmt::Display for RefusedDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedDestination {}

/// The system's resolver with every answer checked. `hosts` answers some names itself (like
/// /etc/hosts): tests and the dev stack use it to make a name resolve to a private address.
struct GuardedResolver {
    policy: DestinationPolicy,
    hosts: Arc<HashMap<String, Vec<IpAddr>>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let fixed = self.hosts.get(&host).cloned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = match fixed {
                Some(ips) => ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| match refused_address(a.ip(), policy) {
                    Some(why) => {
                        refusal.get_or_insert_with(|| format!("{host} resolves to {why} ({})", a.ip()));
                        false
                    }
                    None => true,
                })
                .collect();
            if allowed.is_empty() {
                let why = refusal.unwrap_or_else(|| format!("{host} resolves to no address"));
                return Err(Box::new(RefusedDestination(why)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The webhook sender on reqwest, built once at cold start.
pub struct HttpWebhookSender {
    client: reqwest::Client,
    policy: DestinationPolicy,
}

impl HttpWebhookSender {
    pub fn new(policy: DestinationPolicy) -> Self {
        Self::with_hosts(policy, HashMap::new())
    }

    /// A sender that resolves the names in `hosts` to the addresses given (still judged by the
    /// guard), and every other name through the system.
    pub fn with_hosts(policy: DestinationPolicy, hosts: HashMap<String, Vec<IpAddr>>) -> Self {
        crate::config::install_tls_provider();
        let resolver = GuardedResolver { policy, hosts: Arc::new(hosts) };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent("MAX-Webhooks/1")
            .build()
            .unwrap_or_else(|e| panic!("the webhook HTTP client builds (TLS provider installed at cold start): {e}"));
        HttpWebhookSender { client, policy }
    }
}

/// The refusal the guard gave, when that is why the request failed.
fn refusal(error: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<RefusedDestination>() {
            return Some(refused.0.clone());
        }
        source = e.source();
    }
    None
}

/// The error with its causes, for the log (no URL: it may carry a token in its query).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(&self, request: &WebhookRequest<'_>) -> WebhookAnswer {
        // A literal address never reaches the resolver: judged here (and the scheme with it).
        if let Err(e) = check_url("url", request.url, self.policy) {
            return WebhookAnswer::Refused { reason: e.to_string() };
        }
        let mut post = self.client.post(request.url).timeout(request.timeout).body(request.body.to_vec());
        for (name, value) in request.headers {
            post = post.header(*name, value);
        }
        let mut response = match post.send().await {
            Ok(r) => r,
            Err(e) => {
                return match refusal(&e) {
                    Some(reason) => WebhookAnswer::Refused { reason },
                    None if e.is_timeout() => WebhookAnswer::TimedOut { error: describe(e) },
                    None => WebhookAnswer::ConnectionFailed { error: describe(e) },
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
        // Only the start of the body is kept; a body cut by the timeout keeps what came.
        let mut body = Vec::new();
        while body.len() < BODY_READ_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        body.truncate(BODY_READ_LIMIT);
        WebhookAnswer::Answered { status, retry_after, body }
    }
}
