//! Wiring: the one module that names concrete adapters. It reads a function's settings once per
//! cold start (only those the function declares it needs; a missing one fails init, naming the
//! variable), builds the clients, and hands the use cases their ports through `Deps`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::adapters::dynamo::DynamoStore;
use crate::adapters::graph::{GraphApi, Sandbox};
use crate::adapters::memory::{ManualClock, MemoryBlobs, MemoryLivePush, MemoryOutbox, MemorySecrets, MemoryStore, MemoryWebhookReceiver};
use crate::adapters::s3::S3Blobs;
use crate::adapters::secrets::SecretsManager;
use crate::adapters::sqs::SqsOutbox;
use crate::adapters::twilio::{TwilioVoice, VoiceSandbox};
use crate::app::access_tokens::AccessTokens;
use crate::app::actions::ActionPorts;
use crate::app::bot::BotPorts;
use crate::app::calls::CallPorts;
use crate::app::channels::ChannelPorts;
use crate::app::delivery::{DeliveryPorts, SenderPorts};
use crate::app::inbound::InboundPorts;
use crate::app::interactions::InteractionPorts;
use crate::app::support::{SupportPorts, TicketSearchPorts};
use crate::app::voice::VoicePorts;
use crate::domain::retry::RetryPolicy;
use crate::ports::{BlobStore, Clock, IdentityTokens, LivePush, Outbox, Queue, Secrets, Stores, SystemClock, VoiceProvider, WebhookSender, WhatsApp};
use crate::telemetry::{AwsCallCounter, AwsService};

/// A secret setting: usable, never printed (`Debug` says it is redacted).
pub use crate::domain::secret::Secret;

/// Builds the client of the secrets store (`secrets_manager`) on the function's AWS configuration,
/// below a name prefix. A function that reads or writes secrets names it in its `Needs`, so only
/// those functions link the Secrets Manager SDK (each Lambda package stays small).
pub type SecretsClient = fn(&SdkConfig, &str) -> Arc<dyn Secrets>;

/// Builds the blob store (`s3_bucket`) on the function's AWS configuration, for a bucket. Named in
/// `Needs` like the secrets client, so only the functions that store blobs link S3's operations.
pub type BlobsClient = fn(&SdkConfig, &str) -> Arc<dyn BlobStore>;

/// Builds the WhatsApp client (`graph_api`): only the functions that send link it (and reqwest).
pub type WhatsAppClient = fn(&GraphSettings) -> Arc<dyn WhatsApp>;

/// Builds the voice provider's client (`twilio`): only the functions that place calls link it.
pub type VoiceClient = fn(&str, Duration) -> Arc<dyn VoiceProvider>;

/// Builds the outbound webhook sender (`webhook_http`) for the deployment's destination policy:
/// only webhook-delivery links it.
pub type WebhookSenderClient = fn(crate::domain::webhook_subscription::DestinationPolicy) -> Arc<dyn WebhookSender>;

/// Builds the live-push client (`api_gateway_push`) for the WebSocket API's stage endpoint: only
/// live-push links the Management API's SDK.
pub type LivePushClient = fn(&SdkConfig, &str) -> Arc<dyn LivePush>;

/// Builds the dashboard token checker (`identity_tokens`): only ws-connections links it.
pub type IdentityClient = fn(&IdentitySettings) -> Arc<dyn IdentityTokens>;

/// How dashboard JWTs are checked (the WebSocket's authorizer): Cognito's keys in AWS; a shared
/// secret only in the dev stack (`DEV_JWT_SECRET`, never in template.yaml).
#[derive(Debug, Clone)]
pub enum IdentitySettings {
    Cognito { issuer: String, audience: String },
    SharedSecret { secret: Secret, issuer: String, audience: String },
}

/// What one function needs; its `main` declares it and init reads only those settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// The queues it puts jobs on (or hands back for a retry).
    pub queues: &'static [Queue],
    /// The media bucket (webhook bodies too large for a queue message, quarantine, media): the
    /// client to build, `Some(config::s3_bucket)`.
    pub blobs: Option<BlobsClient>,
    /// The Meta app secret and the webhook verify token (the webhook receiver only).
    pub webhook_secrets: bool,
    /// Sends to WhatsApp (the Graph API, or the sandbox when asked for explicitly): the client to
    /// build, `Some(config::graph_api)`.
    pub whatsapp: Option<WhatsAppClient>,
    /// Reads or writes secrets (the numbers' Graph access tokens, below `SECRETS_PREFIX`): the
    /// client to build, `Some(config::secrets_manager)`.
    pub secrets: Option<SecretsClient>,
    /// Places calls through the voice provider (Twilio's REST API, or the voice sandbox when
    /// `VOICE_SANDBOX=true` asks for it): the client to build, `Some(config::twilio)`.
    pub voice: Option<VoiceClient>,
    /// Knows the API's public base URL (`PUBLIC_API_URL`): where the voice provider fetches the
    /// call's TwiML and posts its callbacks, and what their signatures are computed over.
    pub public_url: bool,
    /// POSTs outbound webhook deliveries: the client to build, `Some(config::webhook_http)`.
    pub webhooks: Option<WebhookSenderClient>,
    /// Posts to dashboards' WebSocket connections (`LIVE_PUSH_ENDPOINT`): the client to build,
    /// `Some(config::api_gateway_push)`.
    pub live_push: Option<LivePushClient>,
    /// Checks dashboard JWTs (`JWT_ISSUER`, `JWT_AUDIENCE`): `Some(config::identity_tokens)`.
    pub identity: Option<IdentityClient>,
}

impl Needs {
    /// Everything: the dev gateway runs every function in one process.
    pub const EVERYTHING: Needs = Needs {
        queues: &[Queue::Inbound, Queue::Replies, Queue::NextSteps, Queue::Calls, Queue::Media, Queue::Webhooks],
        blobs: Some(s3_bucket),
        webhook_secrets: true,
        whatsapp: Some(graph_api),
        secrets: Some(secrets_manager),
        voice: Some(twilio),
        public_url: true,
        webhooks: Some(webhook_http),
        live_push: Some(api_gateway_push),
        identity: Some(identity_tokens),
    };
}

/// A setting the function needs is missing or unreadable; init stops with this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {name}: {reason}")]
pub struct SettingError {
    pub name: &'static str,
    pub reason: &'static str,
}

#[derive(Debug, Clone)]
pub struct WebhookSecrets {
    pub app_secret: Secret,
    pub verify_token: Secret,
}

/// The Graph API: where it is and how long a send may take. No token: each number's own is a
/// secret (`SECRETS_PREFIX`), never one token for every organisation's numbers.
#[derive(Debug, Clone)]
pub struct GraphSettings {
    pub base_url: String,
    pub timeout: Duration,
}

/// Where a function's calls are placed.
#[derive(Debug, Clone)]
pub enum VoiceSettings {
    /// Twilio's Programmable Voice REST API (`https://api.twilio.com`, or wiremock in tests).
    Twilio { base_url: String, timeout: Duration },
    /// The local voice sandbox: calls recorded, never placed (`GET /dev/calls`).
    Sandbox,
}

/// Where a function's WhatsApp sends go.
#[derive(Debug, Clone)]
pub enum WhatsAppSettings {
    /// Meta's Graph API.
    Graph(GraphSettings),
    /// The local sandbox: sends recorded, never sent. Only when `WHATSAPP_SANDBOX=true` says so,
    /// so a deployed function with a missing token fails init instead of silently not sending.
    Sandbox,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    /// The URL of each queue the function declared.
    pub queues: HashMap<Queue, String>,
    pub media_bucket: Option<String>,
    pub webhook: Option<WebhookSecrets>,
    pub whatsapp: Option<WhatsAppSettings>,
    /// Where the secrets are named (`max/{stack}/`), when the function reads or writes them.
    pub secrets_prefix: Option<String>,
    pub voice: Option<VoiceSettings>,
    /// The API's public base URL, without a trailing `/`.
    pub public_url: Option<String>,
    pub retry: RetryPolicy,
    /// Which webhook destinations are allowed besides public https ones: loopback only when
    /// `WEBHOOKS_ALLOW_LOOPBACK=true` (the dev stack's local receivers; never set when deployed).
    pub webhook_destinations: crate::domain::webhook_subscription::DestinationPolicy,
    /// `WEBHOOKS_IMMEDIATE_RETRIES=true` (dev gateway only): a delivery's retries are queued
    /// without their delay (the schedule is still logged), so the dev stack shows them at once.
    pub webhook_retries: crate::app::webhook_delivery::RetryTiming,
    /// The WebSocket API's stage endpoint the Management API is called at (live-push).
    pub live_push_endpoint: Option<String>,
    /// How dashboard JWTs are checked (ws-connections).
    pub identity: Option<IdentitySettings>,
}

fn queue_variable(queue: Queue) -> &'static str {
    match queue {
        Queue::Inbound => "INBOUND_QUEUE_URL",
        Queue::Replies => "REPLIES_QUEUE_URL",
        Queue::NextSteps => "NEXT_STEP_QUEUE_URL",
        Queue::Calls => "CALLS_QUEUE_URL",
        Queue::Media => "MEDIA_QUEUE_URL",
        Queue::Webhooks => "WEBHOOKS_QUEUE_URL",
    }
}

impl Settings {
    /// Settings from any source of `NAME=value` pairs (the environment in a Lambda; the resources
    /// created from template.yaml in the dev gateway and tests). Reads only what `needs` names.
    pub fn from_lookup(needs: Needs, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let optional = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let required = |name: &'static str| optional(name).ok_or(SettingError { name, reason: "missing" });
        let number = |name: &'static str| -> Result<Option<u64>, SettingError> {
            optional(name).map(|v| v.parse().map_err(|_| SettingError { name, reason: "not a whole number" })).transpose()
        };
        let mut queues = HashMap::new();
        for &queue in needs.queues {
            queues.insert(queue, required(queue_variable(queue))?);
        }
        let webhook = match needs.webhook_secrets {
            true => Some(WebhookSecrets {
                app_secret: Secret::new(required("WHATSAPP_APP_SECRET")?),
                verify_token: Secret::new(required("WHATSAPP_VERIFY_TOKEN")?),
            }),
            false => None,
        };
        let whatsapp = match needs.whatsapp {
            None => None,
            Some(_) => match optional("WHATSAPP_SANDBOX").as_deref() {
                Some("true") => Some(WhatsAppSettings::Sandbox),
                Some("false") | None => Some(WhatsAppSettings::Graph(GraphSettings {
                    base_url: required("GRAPH_API_BASE_URL")?,
                    timeout: Duration::from_millis(number("GRAPH_API_TIMEOUT_MS")?.unwrap_or(10_000)),
                })),
                Some(_) => return Err(SettingError { name: "WHATSAPP_SANDBOX", reason: "must be true or false" }),
            },
        };
        let secrets_prefix = match needs.secrets {
            Some(_) => {
                let prefix = required("SECRETS_PREFIX")?;
                Some(if prefix.ends_with('/') { prefix } else { format!("{prefix}/") })
            }
            None => None,
        };
        let voice = match needs.voice {
            None => None,
            Some(_) => match optional("VOICE_SANDBOX").as_deref() {
                Some("true") => Some(VoiceSettings::Sandbox),
                Some("false") | None => Some(VoiceSettings::Twilio {
                    base_url: required("TWILIO_API_BASE_URL")?,
                    timeout: Duration::from_millis(number("TWILIO_API_TIMEOUT_MS")?.unwrap_or(10_000)),
                }),
                Some(_) => return Err(SettingError { name: "VOICE_SANDBOX", reason: "must be true or false" }),
            },
        };
        let public_url = match needs.public_url {
            true => Some(required("PUBLIC_API_URL")?.trim_end_matches('/').to_string()),
            false => None,
        };
        let mut retry = RetryPolicy::default();
        if let Some(ms) = number("REPLY_RETRY_BASE_MS")? {
            retry.base = Duration::from_millis(ms);
        }
        let allow_loopback = match optional("WEBHOOKS_ALLOW_LOOPBACK").as_deref() {
            Some("true") => true,
            Some("false") | None => false,
            Some(_) => return Err(SettingError { name: "WEBHOOKS_ALLOW_LOOPBACK", reason: "must be true or false" }),
        };
        let webhook_retries = match optional("WEBHOOKS_IMMEDIATE_RETRIES").as_deref() {
            Some("true") => crate::app::webhook_delivery::RetryTiming::Immediate,
            Some("false") | None => crate::app::webhook_delivery::RetryTiming::Scheduled,
            Some(_) => return Err(SettingError { name: "WEBHOOKS_IMMEDIATE_RETRIES", reason: "must be true or false" }),
        };
        let live_push_endpoint = match needs.live_push {
            Some(_) => Some(required("LIVE_PUSH_ENDPOINT")?.trim_end_matches('/').to_string()),
            None => None,
        };
        let identity = match needs.identity {
            Some(_) => {
                let (issuer, audience) = (required("JWT_ISSUER")?, required("JWT_AUDIENCE")?);
                Some(match optional("DEV_JWT_SECRET") {
                    Some(secret) => IdentitySettings::SharedSecret { secret: Secret::new(secret), issuer, audience },
                    None => IdentitySettings::Cognito { issuer, audience },
                })
            }
            None => None,
        };
        Ok(Settings {
            live_push_endpoint,
            identity,
            webhook_retries,
            table: required("TABLE_NAME")?,
            queues,
            media_bucket: if needs.blobs.is_some() { Some(required("MEDIA_BUCKET")?) } else { None },
            webhook,
            whatsapp,
            secrets_prefix,
            voice,
            public_url,
            retry,
            webhook_destinations: crate::domain::webhook_subscription::DestinationPolicy { allow_loopback },
        })
    }
}

/// Everything a handler needs, built once: the ports as trait objects, so the same handler runs
/// on AWS and, in tests, on the memory adapter.
pub struct Deps {
    pub settings: Settings,
    pub store: Arc<dyn Stores>,
    pub outbox: Arc<dyn Outbox>,
    pub blobs: Arc<dyn BlobStore>,
    pub whatsapp: Arc<dyn WhatsApp>,
    pub secrets: Arc<dyn Secrets>,
    pub voice: Arc<dyn VoiceProvider>,
    pub webhooks: Arc<dyn WebhookSender>,
    /// Dashboards' WebSocket connections (live-push).
    pub live: Arc<dyn LivePush>,
    /// Checks dashboard JWTs (the WebSocket's authorizer).
    pub identity: Arc<dyn IdentityTokens>,
    /// The Graph access tokens this warm function has read (reply-sender's cache).
    pub tokens: Arc<AccessTokens>,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    /// Cold-start wiring for a Lambda: settings from the environment, AWS from the default chain.
    /// A missing setting stops init here, naming the variable.
    pub async fn from_env(needs: Needs) -> Self {
        crate::telemetry::init_logging();
        let settings = match Settings::from_lookup(needs, |name| std::env::var(name).ok()) {
            Ok(settings) => settings,
            Err(e) => {
                tracing::error!(setting = e.name, reason = e.reason, "cannot start");
                panic!("{e}");
            }
        };
        let sdk = aws_config::defaults(BehaviorVersion::latest()).http_client(aws_https_client()).timeout_config(aws_timeouts()).load().await;
        // Only the clients the function named are built, and so linked.
        let whatsapp: Arc<dyn WhatsApp> = match (needs.whatsapp, &settings.whatsapp) {
            (Some(client), Some(WhatsAppSettings::Graph(g))) => client(g),
            (_, Some(WhatsAppSettings::Sandbox)) => Arc::new(Sandbox::default()),
            _ => Arc::new(NoWhatsApp),
        };
        let secrets: Arc<dyn Secrets> = match (needs.secrets, &settings.secrets_prefix) {
            (Some(client), Some(prefix)) => client(&sdk, prefix),
            _ => Arc::new(NoSecrets),
        };
        let blobs: Arc<dyn BlobStore> = match (needs.blobs, &settings.media_bucket) {
            (Some(client), Some(bucket)) => client(&sdk, bucket),
            _ => Arc::new(NoBlobs),
        };
        let voice: Arc<dyn VoiceProvider> = match (needs.voice, &settings.voice) {
            (Some(client), Some(VoiceSettings::Twilio { base_url, timeout })) => client(base_url, *timeout),
            (_, Some(VoiceSettings::Sandbox)) => Arc::new(VoiceSandbox::default()),
            _ => Arc::new(NoVoice),
        };
        let webhooks: Arc<dyn WebhookSender> = match needs.webhooks {
            Some(client) => client(settings.webhook_destinations),
            None => Arc::new(NoWebhooks),
        };
        let live: Arc<dyn LivePush> = match (needs.live_push, &settings.live_push_endpoint) {
            (Some(client), Some(endpoint)) => client(&sdk, endpoint),
            _ => Arc::new(NoLivePush),
        };
        let identity: Arc<dyn IdentityTokens> = match (needs.identity, &settings.identity) {
            (Some(client), Some(identity)) => client(identity),
            _ => Arc::new(NoIdentityTokens),
        };
        Deps::on_aws(settings, &sdk, AwsPorts { whatsapp, secrets, blobs, voice, webhooks, live, identity })
    }

    /// The AWS adapters (DynamoDB, SQS) for `settings`, each client counting its calls, with the
    /// other ports given.
    pub fn on_aws(settings: Settings, sdk: &SdkConfig, ports: AwsPorts) -> Self {
        let AwsPorts { whatsapp, secrets, blobs, voice, webhooks, live, identity } = ports;
        Deps {
            live,
            identity,
            store: Arc::new(DynamoStore::new(dynamodb_client(sdk), &settings.table)),
            outbox: Arc::new(SqsOutbox::new(sqs_client(sdk), settings.queues.clone())),
            blobs,
            whatsapp,
            secrets,
            voice,
            webhooks,
            tokens: Arc::new(AccessTokens::new()),
            clock: Arc::new(SystemClock),
            settings,
        }
    }

    /// Every port in memory, for tests of handlers and use cases: the store, the outbox, blobs,
    /// the WhatsApp sandbox and a clock standing at `now`. `InMemory` hands the test the same
    /// adapters to look at and steer.
    pub fn in_memory(now: chrono::DateTime<chrono::Utc>) -> (Deps, InMemory) {
        let world = InMemory {
            store: Arc::new(MemoryStore::new()),
            outbox: Arc::new(MemoryOutbox::new()),
            blobs: Arc::new(MemoryBlobs::new()),
            whatsapp: Arc::new(Sandbox::default()),
            secrets: Arc::new(MemorySecrets::new()),
            voice: Arc::new(VoiceSandbox::default()),
            webhooks: Arc::new(MemoryWebhookReceiver::new()),
            live: Arc::new(MemoryLivePush::new()),
            clock: Arc::new(ManualClock::at(now)),
        };
        let settings = Settings {
            table: "memory".into(),
            queues: HashMap::new(),
            media_bucket: Some("memory".into()),
            webhook: Some(WebhookSecrets { app_secret: Secret::new(IN_MEMORY_APP_SECRET), verify_token: Secret::new(IN_MEMORY_VERIFY_TOKEN) }),
            whatsapp: Some(WhatsAppSettings::Sandbox),
            secrets_prefix: Some("memory/".into()),
            voice: Some(VoiceSettings::Sandbox),
            public_url: Some(IN_MEMORY_PUBLIC_URL.into()),
            retry: RetryPolicy::default(),
            webhook_destinations: Default::default(),
            webhook_retries: Default::default(),
            live_push_endpoint: Some(IN_MEMORY_PUBLIC_URL.into()),
            identity: Some(IdentitySettings::SharedSecret {
                secret: Secret::new(IN_MEMORY_JWT_SECRET),
                issuer: IN_MEMORY_JWT_ISSUER.into(),
                audience: IN_MEMORY_JWT_AUDIENCE.into(),
            }),
        };
        let deps = Deps {
            live: world.live.clone(),
            identity: Arc::new(crate::adapters::identity_tokens::SharedSecretTokens::new(IN_MEMORY_JWT_SECRET, IN_MEMORY_JWT_ISSUER, IN_MEMORY_JWT_AUDIENCE)),
            settings,
            store: world.store.clone(),
            outbox: world.outbox.clone(),
            blobs: world.blobs.clone(),
            whatsapp: world.whatsapp.clone(),
            secrets: world.secrets.clone(),
            voice: world.voice.clone(),
            webhooks: world.webhooks.clone(),
            tokens: Arc::new(AccessTokens::new()),
            clock: world.clock.clone(),
        };
        (deps, world)
    }

    pub fn inbound_ports(&self) -> InboundPorts<'_> {
        let store = &*self.store;
        InboundPorts {
            channels: store,
            customers: store,
            conversations: store,
            messages: store,
            templates: store,
            blobs: &*self.blobs,
            rate_limits: store,
            deliveries: self.delivery_ports(),
            sla: self.sla_ports(),
            clock: &*self.clock,
            outbox: &*self.outbox,
        }
    }

    /// SLA policies, clocks and the scheduler (`app::sla`).
    pub fn sla_ports(&self) -> crate::app::sla::SlaPorts<'_> {
        crate::app::sla::SlaPorts { sla: &*self.store, teams: &*self.store, routing: &*self.store }
    }

    pub fn routing_ports(&self) -> crate::app::routing::RoutingPorts<'_> {
        crate::app::routing::RoutingPorts { routing: &*self.store, teams: &*self.store }
    }

    pub fn delivery_ports(&self) -> DeliveryPorts<'_> {
        let store = &*self.store;
        DeliveryPorts { wamids: store, messages: store, actions: store, events: store }
    }

    /// Inbound media: the worker's fetch, readers' presigned URLs, cleanup (`app::media`).
    pub fn media_ports(&self) -> crate::app::media::MediaPorts<'_> {
        let store = &*self.store;
        crate::app::media::MediaPorts {
            media: store,
            events: store,
            blobs: &*self.blobs,
            outbox: &*self.outbox,
            whatsapp: &*self.whatsapp,
            secrets: &*self.secrets,
            tokens: &self.tokens,
            clock: &*self.clock,
        }
    }

    pub fn sender_ports(&self) -> SenderPorts<'_> {
        let store = &*self.store;
        SenderPorts {
            messages: store,
            channels: store,
            whatsapp: &*self.whatsapp,
            secrets: &*self.secrets,
            tokens: &self.tokens,
            media: store,
            blobs: &*self.blobs,
            retry: self.settings.retry,
            deliveries: self.delivery_ports(),
        }
    }

    /// The chat-app channel's signed calls (`app::chat_app`).
    /// Customer links (`app::customer_links`).
    pub fn link_ports(&self) -> crate::app::customer_links::LinkPorts<'_> {
        let store = &*self.store;
        crate::app::customer_links::LinkPorts { directory: store, customers: store, links: store, events: store }
    }

    pub fn chat_app_ports(&self) -> crate::app::chat_app::ChatAppPorts<'_> {
        crate::app::chat_app::ChatAppPorts { keys: &*self.store, secrets: &*self.secrets, kept: &self.tokens, outbox: &*self.outbox }
    }

    pub fn channel_ports(&self) -> ChannelPorts<'_> {
        ChannelPorts { channels: &*self.store, secrets: &*self.secrets, blobs: &*self.blobs, outbox: &*self.outbox, teams: &*self.store }
    }

    pub fn bot_ports(&self) -> BotPorts<'_> {
        let store = &*self.store;
        BotPorts { bot: store, tickets: store, events: store, conversations: store, messages: store, outbox: &*self.outbox, calls: self.call_ports(), sla: self.sla_ports() }
    }

    pub fn support_ports(&self) -> SupportPorts<'_> {
        let store = &*self.store;
        SupportPorts { tickets: store, customers: store, conversations: store, messages: store, bot: store, events: store, outbox: &*self.outbox }
    }

    pub fn ticket_search_ports(&self) -> TicketSearchPorts<'_> {
        let store = &*self.store;
        TicketSearchPorts { tickets: store, customers: store, links: store }
    }

    pub fn action_ports(&self) -> ActionPorts<'_> {
        let store = &*self.store;
        ActionPorts { actions: store, templates: store, conversations: store, messages: store, events: store, outbox: &*self.outbox }
    }

    pub fn campaign_ports(&self) -> crate::app::campaigns::CampaignPorts<'_> {
        let store = &*self.store;
        crate::app::campaigns::CampaignPorts { campaigns: store, workflows: store, customers: store, outbox: &*self.outbox }
    }

    pub fn interaction_ports(&self) -> InteractionPorts<'_> {
        let store = &*self.store;
        InteractionPorts { interactions: store, workflows: store, customers: store, outbox: &*self.outbox }
    }

    /// The dialer's and the voice webhook's ports. `public_url` is required by their `Needs`.
    pub fn voice_ports(&self) -> VoicePorts<'_> {
        VoicePorts {
            calls: self.call_ports(),
            voice: &*self.voice,
            secrets: &*self.secrets,
            kept: &self.tokens,
            public_url: self.settings.public_url.as_deref().unwrap_or_default(),
        }
    }

    /// Fan-out of the feed's events to the webhooks queue (`app::webhook_delivery`).
    pub fn live_connection_ports(&self) -> crate::app::live_push::ConnectionPorts<'_> {
        crate::app::live_push::ConnectionPorts { connections: &*self.store, clock: &*self.clock }
    }

    pub fn live_push_ports(&self) -> crate::app::live_push::PushPorts<'_> {
        crate::app::live_push::PushPorts { connections: &*self.store, push: &*self.live, clock: &*self.clock }
    }

    pub fn webhook_fan_out_ports(&self) -> crate::app::webhook_delivery::FanOutPorts<'_> {
        crate::app::webhook_delivery::FanOutPorts { subscriptions: &*self.store, outbox: &*self.outbox, clock: &*self.clock }
    }

    /// One webhook delivery: sign, POST, log, retry, health (`app::webhook_delivery`).
    pub fn webhook_delivery_ports(&self) -> crate::app::webhook_delivery::DeliveryPorts<'_> {
        let store = &*self.store;
        crate::app::webhook_delivery::DeliveryPorts {
            subscriptions: store,
            events: store,
            secrets: &*self.secrets,
            sender: &*self.webhooks,
            outbox: &*self.outbox,
            clock: &*self.clock,
            timing: self.settings.webhook_retries,
            jitter: rand::random::<f64>,
        }
    }

    /// Redelivery and replay (`app::webhook_delivery`).
    pub fn webhook_resend_ports(&self) -> crate::app::webhook_delivery::ResendPorts<'_> {
        let store = &*self.store;
        crate::app::webhook_delivery::ResendPorts { subscriptions: store, events: store, outbox: &*self.outbox, clock: &*self.clock }
    }

    pub fn webhook_subscription_ports(&self) -> crate::app::webhooks::SubscriptionPorts<'_> {
        crate::app::webhooks::SubscriptionPorts { store: &*self.store, secrets: &*self.secrets, destinations: self.settings.webhook_destinations }
    }

    pub fn canned_ports(&self) -> crate::app::canned::CannedPorts<'_> {
        let store = &*self.store;
        crate::app::canned::CannedPorts { canned: store, conversations: store, customers: store, support: store }
    }

    /// Sending a canned response: rendering it, then queuing the reply.
    pub fn canned_send_ports(&self) -> crate::app::canned::SendPorts<'_> {
        crate::app::canned::SendPorts { canned: self.canned_ports(), messages: &*self.store, outbox: &*self.outbox }
    }

    /// Template management: the store, the numbers and their tokens, and Meta (the Graph API or
    /// the sandbox, whichever sends).
    pub fn template_ports(&self) -> crate::app::whatsapp_templates::TemplatePorts<'_> {
        let store = &*self.store;
        crate::app::whatsapp_templates::TemplatePorts {
            templates: store,
            channels: store,
            secrets: &*self.secrets,
            tokens: &self.tokens,
            meta: self.whatsapp.templates().unwrap_or(&NoTemplates),
        }
    }

    pub fn call_ports(&self) -> CallPorts<'_> {
        let store = &*self.store;
        CallPorts {
            calls: store,
            customers: store,
            events: store,
            channels: store,
            conversations: store,
            messages: store,
            outbox: &*self.outbox,
        }
    }
}

/// The webhook secrets of `Deps::in_memory`: the dev stack's defaults, which the `events/` samples are
/// signed with.
pub const IN_MEMORY_APP_SECRET: &str = "dev-app-secret";
pub const IN_MEMORY_VERIFY_TOKEN: &str = "dev-verify-token";
/// The public URL of `Deps::in_memory` (what its callback URLs and signatures are made of).
pub const IN_MEMORY_PUBLIC_URL: &str = "https://api.example.com";
/// The in-memory deps check dashboard tokens signed HS256 with this secret, for this issuer and
/// audience: the dev stack's defaults, so one sample token (`events/ws-connections/`) runs on both.
pub const IN_MEMORY_JWT_SECRET: &str = "max-dev-jwt-secret";
pub const IN_MEMORY_JWT_ISSUER: &str = "max-dev";
pub const IN_MEMORY_JWT_AUDIENCE: &str = "max-dashboard";

/// The adapters behind `Deps::in_memory`, for the test to look at and steer.
pub struct InMemory {
    pub store: Arc<MemoryStore>,
    pub outbox: Arc<MemoryOutbox>,
    pub blobs: Arc<MemoryBlobs>,
    pub whatsapp: Arc<Sandbox>,
    pub secrets: Arc<MemorySecrets>,
    pub voice: Arc<VoiceSandbox>,
    /// The webhook receivers: scripted answers, every request kept.
    pub webhooks: Arc<MemoryWebhookReceiver>,
    /// The dashboards' connections: what each was sent.
    pub live: Arc<MemoryLivePush>,
    pub clock: Arc<ManualClock>,
}

/// The AWS SDK clients, each counting its calls (`telemetry`). S3 is addressed by path on a custom
/// endpoint (moto), by virtual host on AWS.
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
}

impl AwsClients {
    pub fn new(sdk: &SdkConfig) -> Self {
        AwsClients { dynamodb: dynamodb_client(sdk), sqs: sqs_client(sdk), s3: s3_client(sdk) }
    }
}

/// The ports `Deps::on_aws` does not build itself: each function builds only those it named.
pub struct AwsPorts {
    pub whatsapp: Arc<dyn WhatsApp>,
    pub secrets: Arc<dyn Secrets>,
    pub blobs: Arc<dyn BlobStore>,
    pub voice: Arc<dyn VoiceProvider>,
    pub webhooks: Arc<dyn WebhookSender>,
    pub live: Arc<dyn LivePush>,
    pub identity: Arc<dyn IdentityTokens>,
}

/// Posts to WebSocket connections through the Management API at `endpoint` (`LivePushClient`).
pub fn api_gateway_push(sdk: &SdkConfig, endpoint: &str) -> Arc<dyn LivePush> {
    let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk).interceptor(AwsCallCounter(AwsService::ApiGateway)).endpoint_url(endpoint).build();
    Arc::new(crate::adapters::live_push::ApiGatewayPush::new(aws_sdk_apigatewaymanagement::Client::from_conf(config)))
}

/// The dashboard token checker for `settings` (`IdentityClient`): the user pool's published keys
/// (`{issuer}/.well-known/jwks.json`, Cognito's place for them), or the dev stack's shared secret.
pub fn identity_tokens(settings: &IdentitySettings) -> Arc<dyn IdentityTokens> {
    use crate::adapters::identity_tokens::{CognitoTokens, SharedSecretTokens};
    match settings {
        IdentitySettings::Cognito { issuer, audience } => Arc::new(CognitoTokens::new(&format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')), issuer, audience)),
        IdentitySettings::SharedSecret { secret, issuer, audience } => Arc::new(SharedSecretTokens::new(secret.expose(), issuer, audience)),
    }
}

fn dynamodb_client(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(AwsCallCounter(AwsService::DynamoDb)).build())
}

fn sqs_client(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(sdk).interceptor(AwsCallCounter(AwsService::Sqs)).build())
}

fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .interceptor(AwsCallCounter(AwsService::S3))
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The media bucket (`BlobsClient`).
pub fn s3_bucket(sdk: &SdkConfig, bucket: &str) -> Arc<dyn BlobStore> {
    Arc::new(S3Blobs::new(s3_client(sdk), bucket))
}

/// Outbound webhook deliveries over HTTP, the destination guard in the resolver (`WebhookSenderClient`).
pub fn webhook_http(policy: crate::domain::webhook_subscription::DestinationPolicy) -> Arc<dyn WebhookSender> {
    Arc::new(crate::adapters::webhook_http::HttpWebhookSender::new(policy))
}

/// The webhook sender of a function that declared it sends none: reaching it is a wiring bug.
struct NoWebhooks;

#[async_trait::async_trait]
impl WebhookSender for NoWebhooks {
    async fn post(&self, _: &crate::ports::WebhookRequest<'_>) -> crate::ports::WebhookAnswer {
        crate::ports::WebhookAnswer::ConnectionFailed { error: "this function is not wired to send webhooks".into() }
    }
}

/// The live push of a function that declared it pushes nothing: reaching it is a wiring bug.
struct NoLivePush;

#[async_trait::async_trait]
impl LivePush for NoLivePush {
    async fn post(&self, _: &str, _: &[u8]) -> crate::error::Result<crate::ports::PushAnswer> {
        Err(crate::error::Error::backend("live push", "this function is not wired to push to WebSocket connections"))
    }
}

/// The token checker of a function that declared it checks none: it accepts no token.
struct NoIdentityTokens;

#[async_trait::async_trait]
impl IdentityTokens for NoIdentityTokens {
    async fn claims(&self, _: &str) -> Option<HashMap<String, String>> {
        None
    }
}

/// Twilio's REST API (`VoiceClient`).
pub fn twilio(base_url: &str, timeout: Duration) -> Arc<dyn VoiceProvider> {
    Arc::new(TwilioVoice::new(base_url, timeout))
}

/// The WhatsApp port of a function that declared it never sends: reaching it is a wiring bug.
struct NoWhatsApp;

#[async_trait::async_trait]
impl WhatsApp for NoWhatsApp {
    async fn send(&self, _: &str, _: &Secret, _: &serde_json::Value) -> crate::ports::SendOutcome {
        crate::ports::SendOutcome::Refused { http_status: None, code: None, title: "this function is not wired to send WhatsApp messages".into(), detail: None }
    }
}

/// Template management of a function whose WhatsApp client cannot manage templates: a wiring bug.
struct NoTemplates;

#[async_trait::async_trait]
impl crate::ports::WhatsAppTemplates for NoTemplates {
    async fn submit_template(&self, _: &str, _: &Secret, _: &serde_json::Value) -> crate::Result<crate::ports::SubmittedTemplate> {
        Err(crate::Error::backend("graph", "this function is not wired to the Graph API"))
    }
    async fn list_templates(&self, _: &str, _: &Secret, _: Option<&str>) -> crate::Result<crate::ports::TemplateListPage> {
        Err(crate::Error::backend("graph", "this function is not wired to the Graph API"))
    }
    async fn delete_template(&self, _: &str, _: &Secret, _: &str, _: &str) -> crate::Result<()> {
        Err(crate::Error::backend("graph", "this function is not wired to the Graph API"))
    }
}

/// The voice port of a function that declared it places no calls: reaching it is a wiring bug.
struct NoVoice;

#[async_trait::async_trait]
impl VoiceProvider for NoVoice {
    async fn place_call(&self, _: &crate::ports::VoiceAccount, _: &crate::ports::PlaceCall) -> crate::ports::PlaceOutcome {
        crate::ports::PlaceOutcome::Refused { http_status: None, code: None, message: "this function is not wired to place calls".into() }
    }
}

/// The secrets port of a function that declared it reads no secrets.
struct NoSecrets;

#[async_trait::async_trait]
impl Secrets for NoSecrets {
    async fn put_secret(&self, _: &str, _: &Secret) -> crate::Result<()> {
        Err(crate::Error::backend("secretsmanager", "this function is not wired to Secrets Manager"))
    }
    async fn secret(&self, _: &str) -> crate::Result<Option<Secret>> {
        Err(crate::Error::backend("secretsmanager", "this function is not wired to Secrets Manager"))
    }
    async fn delete_secret(&self, _: &str) -> crate::Result<()> {
        Err(crate::Error::backend("secretsmanager", "this function is not wired to Secrets Manager"))
    }
}

/// The Secrets Manager client below `prefix`, counting its calls: what a function that reads or
/// writes secrets names in its `Needs` (`secrets: Some(config::secrets_manager)`).
pub fn secrets_manager(sdk: &SdkConfig, prefix: &str) -> Arc<dyn Secrets> {
    let config = aws_sdk_secretsmanager::config::Builder::from(sdk).interceptor(AwsCallCounter(AwsService::SecretsManager)).build();
    Arc::new(SecretsManager::new(aws_sdk_secretsmanager::Client::from_conf(config), prefix))
}

/// The blob port of a function that declared it stores no blobs.
struct NoBlobs;

#[async_trait::async_trait]
impl BlobStore for NoBlobs {
    async fn put(&self, _: &str, _: Vec<u8>, _: &str) -> crate::Result<()> {
        Err(crate::Error::backend("s3", "this function is not wired to the media bucket"))
    }
    async fn get(&self, _: &str) -> crate::Result<Vec<u8>> {
        Err(crate::Error::backend("s3", "this function is not wired to the media bucket"))
    }
    async fn list(&self, _: &str, _: i32) -> crate::Result<Vec<String>> {
        Err(crate::Error::backend("s3", "this function is not wired to the media bucket"))
    }
    async fn delete(&self, _: &str) -> crate::Result<()> {
        Err(crate::Error::backend("s3", "this function is not wired to the media bucket"))
    }
    async fn put_chunks(&self, _: &str, _: &str, _: &mut dyn crate::ports::ChunkSource) -> crate::Result<u64> {
        Err(crate::Error::backend("s3", "this function is not wired to the media bucket"))
    }
    async fn presigned_get(&self, _: &str, _: u64) -> crate::Result<String> {
        Err(crate::Error::backend("s3", "this function is not wired to the media bucket"))
    }
    async fn presigned_put(&self, _: &str, _: &str, _: u64, _: u64) -> crate::Result<crate::ports::PresignedPut> {
        Err(crate::Error::backend("s3", "this function is not wired to the media bucket"))
    }
    async fn head(&self, _: &str) -> crate::Result<Option<crate::ports::BlobHead>> {
        Err(crate::Error::backend("s3", "this function is not wired to the media bucket"))
    }
}

/// The AWS SDK's HTTPS client, trusting only the certificate authorities AWS endpoints chain to
/// (Amazon Trust Services, its Starfield cross-sign, and DigiCert for endpoints not yet moved to
/// Amazon's CA), taken from the Mozilla root set compiled into the binary, instead of the host's
/// store. The SDK's default reads the platform's certificates at init: on a Debian host the bundle
/// and the 146 files of /etc/ssl/certs cost 7 ms of every cold start, and parsing all of Mozilla's
/// 150 roots still cost 4 ms (`make bench-cold-start`); these are a dozen, and do not depend on the
/// image. The Graph API client (reqwest) keeps the whole Mozilla set.
fn aws_https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
    use base64::Engine as _;
    let roots = aws_ca_roots().fold(TrustStore::empty().with_native_roots(false), |roots, der| {
            let body = base64::engine::general_purpose::STANDARD.encode(der);
            roots.with_pem_certificate(format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"))
        });
    let tls = TlsContext::builder().with_trust_store(roots).build().expect("a trust store of valid certificates");
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::AwsLc)).tls_context(tls).build_https()
}

/// The Mozilla roots of the organisations AWS endpoints' certificates chain to, picked at build
/// time (`build.rs`), so the rest of the set is not linked.
fn aws_ca_roots() -> impl Iterator<Item = &'static [u8]> {
    const AWS_CA_ROOTS: &[&[u8]] = include!(concat!(env!("OUT_DIR"), "/aws_ca_roots.rs"));
    AWS_CA_ROOTS.iter().copied()
}

/// The SDK sets no timeout on a call by default: a connection that never answers holds the function
/// until Lambda kills it, and the batch comes back after its visibility timeout. A DynamoDB, SQS or
/// S3 call answers in milliseconds; 4 s is a hung attempt, retried by the SDK, and the whole call
/// gives up within 9 s, under the API functions' 10 s Lambda timeout, so the caller gets a problem
/// answer instead of a Lambda timeout.
fn aws_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(4))
        .operation_timeout(Duration::from_secs(9))
        .build()
}

/// reqwest is built without a TLS crypto provider so it shares aws-lc with the AWS SDK instead of
/// pulling in a second implementation: install it once before building any reqwest client.
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The Graph API client (`WhatsAppClient`).
pub fn graph_api(settings: &GraphSettings) -> Arc<dyn WhatsApp> {
    Arc::new(GraphApi::new(&settings.base_url, settings.timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_endpoints_roots_are_trusted_and_few() {
        let roots: Vec<&[u8]> = aws_ca_roots().collect();
        let has = |name: &str| roots.iter().any(|der| der.windows(name.len()).any(|w| w == name.as_bytes()));
        for name in ["Amazon Root CA 1", "Amazon Root CA 2", "Amazon Root CA 3", "Amazon Root CA 4", "Starfield Services Root Certificate Authority - G2", "DigiCert Global Root G2"] {
            assert!(has(name), "{name} is not trusted");
        }
        assert!(roots.len() <= 20, "{} roots: the point is to parse a few at init", roots.len());
        let _ = aws_https_client();
    }

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    const SENDER: Needs = Needs { queues: &[Queue::Replies], whatsapp: Some(graph_api), secrets: Some(secrets_manager), ..NONE };
    const NONE: Needs = Needs { queues: &[], blobs: None, webhook_secrets: false, whatsapp: None, secrets: None, voice: None, public_url: false, webhooks: None, live_push: None, identity: None };

    #[test]
    fn dashboard_tokens_are_cognitos_unless_the_dev_secret_is_given() {
        let needs = Needs { identity: Some(identity_tokens), ..NONE };
        let cognito = Settings::from_lookup(needs, lookup(&[("TABLE_NAME", "t"), ("JWT_ISSUER", "https://cognito-idp.eu-west-1.amazonaws.com/pool"), ("JWT_AUDIENCE", "client")])).unwrap();
        assert!(matches!(cognito.identity, Some(IdentitySettings::Cognito { .. })));
        let err = Settings::from_lookup(needs, lookup(&[("TABLE_NAME", "t"), ("JWT_ISSUER", "https://i")])).unwrap_err();
        assert_eq!(err.name, "JWT_AUDIENCE");
        let live = Needs { live_push: Some(api_gateway_push), ..NONE };
        assert_eq!(Settings::from_lookup(live, lookup(&[("TABLE_NAME", "t")])).unwrap_err().name, "LIVE_PUSH_ENDPOINT");
    }

    #[test]
    fn a_missing_setting_is_named() {
        let err = Settings::from_lookup(SENDER, lookup(&[("TABLE_NAME", "t"), ("GRAPH_API_BASE_URL", "https://g"), ("SECRETS_PREFIX", "max/s/")]))
            .unwrap_err();
        assert_eq!(err, SettingError { name: "REPLIES_QUEUE_URL", reason: "missing" });
        assert_eq!(err.to_string(), "setting REPLIES_QUEUE_URL: missing");
        let err = Settings::from_lookup(SENDER, lookup(&[("TABLE_NAME", "t"), ("GRAPH_API_BASE_URL", "https://g"), ("REPLIES_QUEUE_URL", "q")]))
            .unwrap_err();
        assert_eq!(err.name, "SECRETS_PREFIX", "a function that reads secrets names where they are");
    }

    #[test]
    fn the_secrets_prefix_is_a_folder_and_no_token_is_read_from_the_environment() {
        let settings = Settings::from_lookup(
            SENDER,
            lookup(&[("TABLE_NAME", "t"), ("REPLIES_QUEUE_URL", "q"), ("GRAPH_API_BASE_URL", "https://g"), ("SECRETS_PREFIX", "max/prod"), ("WHATSAPP_ACCESS_TOKEN", "global")]),
        )
        .unwrap();
        assert_eq!(settings.secrets_prefix.as_deref(), Some("max/prod/"));
        assert!(!format!("{settings:?}").contains("global"), "a global token is not a setting any more");
    }

    #[test]
    fn empty_graph_settings_fail_instead_of_switching_to_the_sandbox() {
        let err = Settings::from_lookup(SENDER, lookup(&[("TABLE_NAME", "t"), ("REPLIES_QUEUE_URL", "q"), ("SECRETS_PREFIX", "p/")])).unwrap_err();
        assert_eq!(err.name, "GRAPH_API_BASE_URL");
        let sandbox =
            Settings::from_lookup(SENDER, lookup(&[("TABLE_NAME", "t"), ("REPLIES_QUEUE_URL", "q"), ("SECRETS_PREFIX", "p/"), ("WHATSAPP_SANDBOX", "true")])).unwrap();
        assert!(matches!(sandbox.whatsapp, Some(WhatsAppSettings::Sandbox)));
        let typo =
            Settings::from_lookup(SENDER, lookup(&[("TABLE_NAME", "t"), ("REPLIES_QUEUE_URL", "q"), ("SECRETS_PREFIX", "p/"), ("WHATSAPP_SANDBOX", "yes")])).unwrap_err();
        assert_eq!(typo.name, "WHATSAPP_SANDBOX");
    }

    #[test]
    fn a_function_reads_only_what_it_declares() {
        // No secrets, no bucket, no other queue: an API that only reads needs none of them.
        let reader = Needs::default();
        let settings = Settings::from_lookup(reader, lookup(&[("TABLE_NAME", "t")])).unwrap();
        assert!(settings.queues.is_empty() && settings.webhook.is_none() && settings.whatsapp.is_none() && settings.media_bucket.is_none());
        assert!(settings.secrets_prefix.is_none());
    }

    #[test]
    fn the_dialer_places_calls_through_twilio_unless_the_sandbox_is_asked_for() {
        let dialer = Needs { secrets: Some(secrets_manager), voice: Some(twilio), public_url: true, ..NONE };
        let base = [("TABLE_NAME", "t"), ("SECRETS_PREFIX", "p/"), ("PUBLIC_API_URL", "https://api.example.com/")];
        let with = |extra: &'static [(&'static str, &'static str)]| {
            let pairs: Vec<(&'static str, &'static str)> = base.iter().chain(extra).copied().collect();
            Settings::from_lookup(dialer, move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
        };
        assert_eq!(with(&[]).unwrap_err().name, "TWILIO_API_BASE_URL", "no silent sandbox");
        let twilio = with(&[("TWILIO_API_BASE_URL", "https://api.twilio.com")]).unwrap();
        assert!(matches!(twilio.voice, Some(VoiceSettings::Twilio { ref base_url, .. }) if base_url == "https://api.twilio.com"));
        assert_eq!(twilio.public_url.as_deref(), Some("https://api.example.com"), "without its trailing slash");
        assert!(matches!(with(&[("VOICE_SANDBOX", "true")]).unwrap().voice, Some(VoiceSettings::Sandbox)));
        assert_eq!(with(&[("VOICE_SANDBOX", "maybe")]).unwrap_err().name, "VOICE_SANDBOX");
        let webhook = Needs { secrets: Some(secrets_manager), public_url: true, ..NONE };
        assert_eq!(Settings::from_lookup(webhook, lookup(&[("TABLE_NAME", "t"), ("SECRETS_PREFIX", "p/")])).unwrap_err().name, "PUBLIC_API_URL");
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let settings = Settings::from_lookup(
            Needs::EVERYTHING,
            lookup(&[
                ("TABLE_NAME", "t"),
                ("INBOUND_QUEUE_URL", "q1"),
                ("REPLIES_QUEUE_URL", "q2"),
                ("NEXT_STEP_QUEUE_URL", "q3"),
                ("CALLS_QUEUE_URL", "q4"),
                ("MEDIA_QUEUE_URL", "q5"),
                ("WEBHOOKS_QUEUE_URL", "q6"),
                ("MEDIA_BUCKET", "b"),
                ("WHATSAPP_APP_SECRET", "app-secret-value"),
                ("WHATSAPP_VERIFY_TOKEN", "verify-token-value"),
                ("GRAPH_API_BASE_URL", "https://g"),
                ("SECRETS_PREFIX", "max/dev/"),
                ("TWILIO_API_BASE_URL", "https://t"),
                ("PUBLIC_API_URL", "https://api.example.com"),
                ("LIVE_PUSH_ENDPOINT", "https://ws.example.com/live"),
                ("JWT_ISSUER", "max-dev"),
                ("JWT_AUDIENCE", "max-dashboard"),
                ("DEV_JWT_SECRET", "dev-jwt-secret-value"),
            ]),
        )
        .unwrap();
        let printed = format!("{settings:?}");
        for secret in ["app-secret-value", "verify-token-value", "dev-jwt-secret-value"] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
        assert!(printed.contains("[redacted]"));
    }
}
