//! The local stack: moto resources created from template.yaml, the dev gateway serving every
//! function in process, queue pollers, schedules, demo data, and the test harness built on them.

pub mod bench;
pub mod gateway;
pub mod live;
pub mod moto;
pub mod openapi;
pub mod pollers;
pub mod registry;
pub mod seed;
pub mod stack;
pub mod template;
pub mod testing;
pub mod tokens;
pub mod voice;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use max_core::adapters::graph::Sandbox;
use max_core::adapters::dynamo::DynamoStore;
use max_core::adapters::twilio::VoiceSandbox;
use max_core::config::{AwsClients, AwsPorts, Deps, GraphSettings, Needs, Settings, VoiceSettings, WhatsAppSettings};
use max_core::ports::{VoiceProvider, WhatsApp};
use tokio::task::JoinHandle;

use crate::stack::Resources;
use crate::template::Template;
use crate::tokens::DevTokens;

/// The repository root (where template.yaml is).
pub fn repo_root() -> PathBuf {
    if let Ok(root) = std::env::var("MAX_REPO") {
        return PathBuf::from(root);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| PathBuf::from("."))
}

#[derive(Clone)]
pub struct DevOptions {
    /// 0 picks a free port.
    pub port: u16,
    pub prefix: String,
    /// `None`: the WhatsApp sandbox records sends; `Some`: the Graph API (Meta, or wiremock in tests).
    pub graph: Option<GraphSettings>,
    /// Template parameters (`WhatsAppAppSecret`, `WhatsAppVerifyToken`, ...).
    pub parameters: BTreeMap<String, String>,
    pub jwt_secret: String,
    /// Receive loops (long polls) per queue; 0 polls nothing.
    pub pollers_per_queue: usize,
    /// Most invocations at once per queue (Lambda's `MaximumConcurrency`) when template.yaml
    /// sets none: a FIFO queue's concurrency grows with its active message groups up to this.
    pub max_concurrency: usize,
    pub schedules: bool,
    /// Overrides the reply retry base delay (tests use 0 to retry at once).
    pub retry_base_ms: Option<u64>,
    /// `None`: the voice sandbox records calls (`GET /dev/calls`); `Some`: Twilio's REST API at
    /// this base URL (Twilio, or wiremock in tests).
    pub voice: Option<String>,
    /// The URL the voice provider reaches this stack at (callbacks, signatures); the stack's own
    /// URL when `None`.
    pub public_url: Option<String>,
    /// The WhatsApp sandbox serves a file for every media id a webhook body names (`make dev`);
    /// tests give it the files they mean it to have, so an unknown id stays unknown.
    pub sandbox_media: bool,
    /// Webhook subscriptions may point at loopback (`WEBHOOKS_ALLOW_LOOPBACK`): the local
    /// receivers. Off in a test that proves loopback is refused.
    pub webhooks_allow_loopback: bool,
    /// A delivery's retries are queued at once (`WEBHOOKS_IMMEDIATE_RETRIES`; the schedule is
    /// still logged), so the dev stack shows a retried delivery without waiting minutes.
    pub webhooks_immediate_retries: bool,
    /// Names the webhook sender resolves itself (like /etc/hosts), each address still judged by
    /// the guard: how a test makes a public-looking name resolve to a refused address.
    pub webhook_hosts: std::collections::HashMap<String, Vec<std::net::IpAddr>>,
    /// The stream pollers are woken after each function invocation (`pollers::Writes`); off,
    /// they only read an idle stream every 250 ms (the push benchmark's comparison).
    pub stream_doorbell: bool,
}

impl DevOptions {
    pub fn new(prefix: &str) -> Self {
        let parameters = BTreeMap::from([
            ("WhatsAppAppSecret".to_string(), "dev-app-secret".to_string()),
            ("WhatsAppVerifyToken".to_string(), "dev-verify-token".to_string()),
            ("GraphApiBaseUrl".to_string(), String::new()),
            ("LogLevel".to_string(), "info".to_string()),
        ]);
        DevOptions {
            port: 0,
            prefix: prefix.to_string(),
            graph: None,
            parameters,
            jwt_secret: "max-dev-jwt-secret".to_string(),
            pollers_per_queue: 2,
            max_concurrency: 64,
            schedules: true,
            retry_base_ms: None,
            voice: None,
            public_url: None,
            sandbox_media: true,
            webhooks_allow_loopback: true,
            webhooks_immediate_retries: true,
            webhook_hosts: Default::default(),
            stream_doorbell: true,
        }
    }
}

/// A running local stack. Stops its tasks when dropped.
pub struct DevStack {
    pub url: String,
    pub deps: Arc<Deps>,
    pub resources: Resources,
    pub template: Template,
    pub settings: Settings,
    /// The same table, queues and bucket as `deps`, as concrete clients: for tests and benchmarks
    /// that look underneath the ports (raw queue reads, bulk imports).
    pub dynamo: DynamoStore,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub sandbox: Option<Arc<Sandbox>>,
    /// The voice sandbox, unless calls go to Twilio (`DevOptions::voice`).
    pub voice_sandbox: Option<Arc<VoiceSandbox>>,
    pub tokens: DevTokens,
    /// One per queue event source: what its pollers did (see `pollers::PollerStats`).
    pub pollers: Vec<Arc<pollers::PollerStats>>,
    /// The functions' writes, rung after each invocation (the stream pollers read then).
    pub writes: Arc<pollers::Writes>,
    /// The gateway itself (its open WebSocket connections: `gateway.sockets`).
    pub gateway: Arc<gateway::Gateway>,
    ready: Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DevStack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl DevStack {
    /// Creates the resources under `options.prefix` at `endpoint`, wires the functions and starts
    /// serving, polling and scheduling.
    pub async fn start(endpoints: &moto::LocalAws, options: DevOptions) -> Result<DevStack, String> {
        let root = repo_root();
        let template = Template::load(&root.join("template.yaml"))?;
        let sdk = moto::sdk_config(endpoints).await;
        let resources = stack::create(&sdk, &template, &options.prefix).await?;
        // Bound first: the functions' public URL (voice callbacks) is this address.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|e| format!("binding 127.0.0.1:{}: {e}", options.port))?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let public_url = options.public_url.clone().unwrap_or_else(|| url.clone());
        let mut parameters = options.parameters.clone();
        parameters.insert("PublicApiUrl".into(), public_url);
        let env = resources.environment(&template, &parameters);
        // Every function runs in this one process; the sandboxes are asked for explicitly, as the
        // wiring requires, unless a Graph API or a Twilio API (the real ones, or wiremock in
        // tests) is given.
        let lookup = |name: &str| match name {
            "WHATSAPP_SANDBOX" => Some(options.graph.is_none().to_string()),
            "GRAPH_API_BASE_URL" => options.graph.as_ref().map(|g| g.base_url.clone()),
            "VOICE_SANDBOX" => Some(options.voice.is_none().to_string()),
            "TWILIO_API_BASE_URL" => options.voice.clone(),
            // Test receivers are local servers (docs/webhooks.md): loopback only, explicitly.
            "WEBHOOKS_ALLOW_LOOPBACK" => Some(options.webhooks_allow_loopback.to_string()),
            "WEBHOOKS_IMMEDIATE_RETRIES" => Some(options.webhooks_immediate_retries.to_string()),
            // The WebSocket API is this gateway (`crate::live`): its Management API too, and its
            // authorizer checks the dev tokens (`POST /dev/tokens`) the HTTP routes take.
            "LIVE_PUSH_ENDPOINT" => Some(url.clone()),
            "DEV_JWT_SECRET" => Some(options.jwt_secret.clone()),
            "JWT_ISSUER" => Some(tokens::ISSUER.to_string()),
            "JWT_AUDIENCE" => Some(tokens::AUDIENCE.to_string()),
            _ => env.get(name).cloned(),
        };
        let mut settings = Settings::from_lookup(Needs::EVERYTHING, lookup).map_err(|e| e.to_string())?;
        if let (Some(WhatsAppSettings::Graph(g)), Some(given)) = (&mut settings.whatsapp, &options.graph) {
            g.timeout = given.timeout;
        }
        if let Some(ms) = options.retry_base_ms {
            settings.retry.base = Duration::from_millis(ms);
        }
        let (whatsapp, sandbox): (Arc<dyn WhatsApp>, Option<Arc<Sandbox>>) = match &settings.whatsapp {
            Some(WhatsAppSettings::Graph(g)) => (max_core::config::graph_api(g), None),
            _ => {
                let s = Arc::new(Sandbox::default());
                (s.clone(), Some(s))
            }
        };
        // Secrets Manager in moto, below this stack's own prefix (`max/{prefix}/`, from the template).
        let prefix = settings.secrets_prefix.clone().ok_or("SECRETS_PREFIX is not in template.yaml")?;
        let secrets = max_core::config::secrets_manager(&sdk, &prefix);
        let (voice, voice_sandbox): (Arc<dyn VoiceProvider>, Option<Arc<VoiceSandbox>>) = match &settings.voice {
            Some(VoiceSettings::Twilio { base_url, timeout }) => (max_core::config::twilio(base_url, *timeout), None),
            _ => {
                let s = Arc::new(VoiceSandbox::default());
                (s.clone(), Some(s))
            }
        };
        let bucket = settings.media_bucket.clone().ok_or("MEDIA_BUCKET is not in template.yaml")?;
        let blobs = max_core::config::s3_bucket(&sdk, &bucket);
        let webhooks = Arc::new(max_core::adapters::webhook_http::HttpWebhookSender::with_hosts(settings.webhook_destinations, options.webhook_hosts.clone()));
        let live = max_core::config::api_gateway_push(&sdk, settings.live_push_endpoint.as_deref().ok_or("LIVE_PUSH_ENDPOINT is not set")?);
        let identity = max_core::config::identity_tokens(settings.identity.as_ref().ok_or("JWT_ISSUER is not set")?);
        let deps = Arc::new(Deps::on_aws(settings.clone(), &sdk, AwsPorts { whatsapp, secrets, blobs, voice, webhooks, live, identity }));
        let AwsClients { dynamodb, sqs, s3 } = AwsClients::new(&sdk);
        let dynamo = DynamoStore::new(dynamodb, &settings.table);
        let tokens = DevTokens::new(&options.jwt_secret);

        let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writes = Arc::new(pollers::Writes::default());
        let gateway = Arc::new(gateway::Gateway {
            ready: ready.clone(),
            deps: deps.clone(),
            routes: template.routes.clone(),
            tokens: tokens.clone(),
            sandbox: sandbox.clone(),
            sandbox_media: options.sandbox_media,
            voice_sandbox: voice_sandbox.clone(),
            scheduled: template.schedules.iter().map(|s| s.binary.clone()).collect(),
            openapi_yaml: openapi::yaml(),
            openapi_json: openapi::json(),
            http: {
                // The voice sandbox's callbacks go out over reqwest, built without a TLS provider.
                max_core::config::install_tls_provider();
                reqwest::Client::new()
            },
            url: url.clone(),
            websocket: template.websocket.clone(),
            sockets: Default::default(),
            writes: writes.clone(),
        });
        let gateway_handle = gateway.clone();
        let mut tasks = vec![tokio::spawn(async move {
            // The peer's address: `/dev/tokens` answers loopback callers only.
            let app = gateway::router(gateway).into_make_service_with_connect_info::<std::net::SocketAddr>();
            let _ = axum::serve(listener, app).await;
        })];

        // Pollers use their own client: event source mappings are not the functions' AWS calls.
        let poller_sqs = aws_sdk_sqs::Client::new(&sdk);
        let mut poller_stats = Vec::new();
        for source in &template.queue_sources {
            let (Some(url), Some(arn)) = (resources.queue_urls.get(&source.queue_logical_id), resources.queue_arns.get(&source.queue_logical_id)) else {
                return Err(format!("{} polls unknown queue {}", source.binary, source.queue_logical_id));
            };
            let stats = Arc::new(pollers::PollerStats::new(&source.queue_logical_id));
            poller_stats.push(stats.clone());
            if options.pollers_per_queue == 0 {
                continue;
            }
            let mapping = pollers::EventSourceMapping {
                stats,
                sqs: poller_sqs.clone(),
                queue_url: url.clone(),
                queue_arn: arn.clone(),
                binary: source.binary.clone(),
                batch_size: source.batch_size,
                deps: deps.clone(),
                receivers: options.pollers_per_queue,
                max_concurrency: source.maximum_concurrency.unwrap_or(options.max_concurrency),
                writes: writes.clone(),
            };
            tasks.extend(mapping.start());
        }
        // The table's stream, read from the DynamoDB moto (streams are part of its service).
        let streams = aws_sdk_dynamodbstreams::Client::from_conf(aws_sdk_dynamodbstreams::config::Builder::from(&sdk).endpoint_url(&endpoints.dynamodb_url).build());
        let poller_dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        for source in &template.stream_sources {
            if options.pollers_per_queue == 0 {
                continue;
            }
            let table = resources.tables.get(&source.table_logical_id).ok_or_else(|| format!("{} reads the stream of unknown table {}", source.binary, source.table_logical_id))?;
            let described = poller_dynamodb.describe_table().table_name(table).send().await.map_err(|e| format!("describe table {table}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            let stream_arn = described.table().and_then(|t| t.latest_stream_arn()).ok_or_else(|| format!("table {table} has no stream (StreamSpecification)"))?.to_string();
            let mapping = pollers::StreamSourceMapping {
                streams: streams.clone(),
                stream_arn,
                binary: source.binary.clone(),
                batch_size: source.batch_size,
                deps: deps.clone(),
                kick: if options.stream_doorbell { writes.bell() } else { Arc::new(tokio::sync::Notify::new()) },
            };
            tasks.push(mapping.start());
        }
        if options.schedules {
            for s in &template.schedules {
                let period = Duration::from_secs(template::schedule_period_secs(&s.expression));
                tasks.push(tokio::spawn(pollers::run_schedule(s.binary.clone(), period, deps.clone(), writes.clone())));
            }
        }
        Ok(DevStack { url, deps, resources, template, settings, dynamo, sqs, s3, sandbox, voice_sandbox, tokens, pollers: poller_stats, writes, gateway: gateway_handle, ready, tasks })
    }

    /// Seeding is done: `/health` answers 200 from now on.
    pub fn mark_ready(&self) {
        self.ready.store(true, std::sync::atomic::Ordering::Release);
    }
}
