//! The environment, read once per cold start into `Deps`, which holds every client. Handlers
//! borrow it; no client is built per request. A missing setting fails at init, loudly.

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::adapters::dynamo::DynamoStore;
use crate::adapters::graph::{GraphApi, Sandbox};
use crate::adapters::s3::S3Blobs;
use crate::adapters::sqs::SqsQueue;
use crate::domain::retry::RetryPolicy;
use crate::ports::{Clock, SystemClock, WhatsApp};
use crate::telemetry::{AwsCallCounter, AwsService};

#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    pub inbound_queue_url: String,
    pub replies_queue_url: String,
    pub next_step_queue_url: String,
    pub media_bucket: String,
    pub whatsapp_app_secret: String,
    pub whatsapp_verify_token: String,
    /// `None` means dev mode: the sandbox records sends instead of calling Meta.
    pub graph: Option<GraphSettings>,
    pub retry: RetryPolicy,
}

#[derive(Debug, Clone)]
pub struct GraphSettings {
    pub base_url: String,
    pub access_token: String,
    pub timeout: Duration,
}

impl Settings {
    pub fn from_env() -> Self {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Settings from any source of `NAME=value` pairs (the environment in a Lambda; the resources
    /// created from template.yaml in the dev gateway and tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let optional = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let required = |name: &str| optional(name).unwrap_or_else(|| panic!("missing setting {name}"));
        let graph = match (optional("GRAPH_API_BASE_URL"), optional("WHATSAPP_ACCESS_TOKEN")) {
            (Some(base_url), Some(access_token)) => Some(GraphSettings {
                base_url,
                access_token,
                timeout: Duration::from_millis(optional("GRAPH_API_TIMEOUT_MS").and_then(|v| v.parse().ok()).unwrap_or(10_000)),
            }),
            _ => None,
        };
        let mut retry = RetryPolicy::default();
        if let Some(ms) = optional("REPLY_RETRY_BASE_MS").and_then(|v| v.parse().ok()) {
            retry.base = Duration::from_millis(ms);
        }
        Settings {
            table: required("TABLE_NAME"),
            inbound_queue_url: required("INBOUND_QUEUE_URL"),
            replies_queue_url: required("REPLIES_QUEUE_URL"),
            next_step_queue_url: optional("NEXT_STEP_QUEUE_URL").unwrap_or_default(),
            media_bucket: required("MEDIA_BUCKET"),
            whatsapp_app_secret: required("WHATSAPP_APP_SECRET"),
            whatsapp_verify_token: required("WHATSAPP_VERIFY_TOKEN"),
            graph,
            retry,
        }
    }
}

/// Everything a handler needs, built once.
pub struct Deps {
    pub settings: Settings,
    pub store: DynamoStore,
    pub queue: SqsQueue,
    pub blobs: S3Blobs,
    pub whatsapp: Arc<dyn WhatsApp>,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    /// Cold-start wiring for a Lambda: settings from the environment, AWS from the default chain.
    pub async fn from_env() -> Self {
        crate::telemetry::init_logging();
        let settings = Settings::from_env();
        let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
        let whatsapp: Arc<dyn WhatsApp> = match &settings.graph {
            Some(g) => Arc::new(graph_api(g)),
            None => Arc::new(Sandbox::default()),
        };
        Deps::new(settings, &sdk, whatsapp)
    }

    pub fn new(settings: Settings, sdk: &SdkConfig, whatsapp: Arc<dyn WhatsApp>) -> Self {
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(AwsCallCounter(AwsService::DynamoDb)).build();
        let sqs = aws_sdk_sqs::config::Builder::from(sdk).interceptor(AwsCallCounter(AwsService::Sqs)).build();
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .interceptor(AwsCallCounter(AwsService::S3))
            // moto (and any custom endpoint) serves buckets by path; AWS itself by virtual host.
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Deps {
            store: DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(dynamodb), &settings.table),
            queue: SqsQueue::new(aws_sdk_sqs::Client::from_conf(sqs)),
            blobs: S3Blobs::new(aws_sdk_s3::Client::from_conf(s3), &settings.media_bucket),
            whatsapp,
            clock: Arc::new(SystemClock),
            settings,
        }
    }
}

/// reqwest is built without a TLS crypto provider so it shares aws-lc with the AWS SDK instead of
/// pulling in a second implementation: install it once before building any reqwest client.
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The Graph API client.
pub fn graph_api(settings: &GraphSettings) -> GraphApi {
    install_tls_provider();
    GraphApi::new(&settings.base_url, &settings.access_token, settings.timeout)
}
