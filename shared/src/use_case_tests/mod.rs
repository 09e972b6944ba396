//! Unit tests of the use cases' rules on the memory adapter: idempotency, conflicts, exactly-once
//! fan-out, tenancy and what each failure leaves behind. Each test builds its world with
//! `Deps::in_memory` (as a handler test does), drives the use case the way its handler does, and
//! reads GIVEN / WHEN / THEN. Time is paused (`start_paused`), so the locking retries' backoff
//! costs nothing; nothing touches the network.
//!
//! The shared GIVEN helpers live here; one file per use-case module.

mod actions;
mod bot;
mod calls;
mod campaigns;
mod canned;
mod channels;
mod chat_app;
mod conversations;
mod customer_context;
mod customer_links;
mod customers;
mod delivery;
mod events;
mod inbound;
mod interaction_alerts;
mod interactions;
mod live_push;
mod media;
mod rate_limits;
mod routing;
mod support;
mod sla;
mod transactions;
mod teams;
mod uploads;
mod webhook_delivery;
mod webhooks;
mod whatsapp_templates;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};

use crate::adapters::memory::{MemoryOutbox, MemoryStore};
use crate::app::delivery::ReplyJob;
use crate::app::inbound::{Received, process_job};
use crate::config::{Deps, InMemory};
use crate::domain::channel::{Channel, TemplateRef, access_token_secret};
use crate::domain::event::{DashboardEvent, EventKind};
use crate::domain::ids::IdempotencyKey;
use crate::domain::message::Message;
use crate::domain::secret::Secret;
use crate::domain::webhook::{InboundJob, read_changes};
use crate::error::Error;
use crate::optimistic::LOCKING;
use crate::ports::{ChannelDirectory, ChannelPut, EventStore, MessageStore, Queue, Secrets};

/// The organisation under test, and another one that must never see its data.
pub const ORG: &str = "org-1";
pub const OTHER_ORG: &str = "org-2";
/// The business number and account of Meta's fixtures (`fixtures/whatsapp/meta-openapi`).
pub const NUMBER: &str = "106540352242922";
pub const WABA: &str = "102290129340398";
/// The customer of Meta's text-message fixture.
pub const CUSTOMER: &str = "16505551234";
/// The Graph access token registered for `NUMBER` (`World::with_channel`).
pub const TOKEN: &str = "EAAG-org-1-token";

/// A client's `Idempotency-Key` sent with `request` (what `http::idempotency_key` fingerprints).
pub fn request_key(key: &str, request: &str) -> IdempotencyKey {
    IdempotencyKey::for_request(key, request.as_bytes())
}

/// Minutes after a fixed start (the fixtures' day).
/// The admin the audit trail names for the changes the tests make.
pub fn admin_actor() -> crate::domain::audit::AuditActor {
    crate::domain::audit::AuditActor { user_id: "admin-1".into(), role: "admin".into() }
}

pub fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 9, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

/// Every port in memory, the clock standing at `t(0)`, with the adapters to look at and steer.
pub struct World {
    pub deps: Deps,
    pub mem: InMemory,
}

impl World {
    pub fn new() -> Self {
        ask_each_log_line();
        let (deps, mem) = Deps::in_memory(t(0));
        World { deps, mem }
    }

    /// GIVEN the organisation's WhatsApp number (with a fallback template when given) and its
    /// Graph access token [`TOKEN`] in its secret.
    pub async fn with_channel(self, fallback: Option<&str>) -> Self {
        let channel = Channel {
            org_id: ORG.into(),
            phone_number_id: NUMBER.into(),
            display_phone_number: Some("15550783881".into()),
            waba_id: Some(WABA.into()),
            fallback_template: fallback.map(|name| TemplateRef { name: name.into(), language: "en".into() }),
            access_token_rotated_at: Some(t(0)),
            default_team_id: None,
        };
        assert_eq!(self.store().put_channel(&channel, None).await.unwrap(), ChannelPut::Stored);
        self.mem.secrets.put_secret(&access_token_secret(ORG, NUMBER), &Secret::new(TOKEN)).await.unwrap();
        // The fallback is an approved template of the organisation's (a send checks it).
        if let Some(name) = fallback {
            self.given_template(name, "en", crate::domain::whatsapp_template::TemplateStatus::Approved, 0).await;
        }
        self
    }

    /// GIVEN a template of the organisation in `status` whose body has `variables` variables.
    pub async fn given_template(&self, name: &str, language: &str, status: crate::domain::whatsapp_template::TemplateStatus, variables: usize) -> crate::domain::whatsapp_template::WhatsAppTemplate {
        use crate::ports::WhatsAppTemplateStore;
        let id = format!("{}", 9_000_000 + self.store().whatsapp_templates(ORG, &Default::default(), &crate::ports::PageRequest { limit: 100, cursor: None }).await.unwrap().items.len());
        let mut template = crate::domain::whatsapp_template::WhatsAppTemplate::discovered(ORG, WABA, &id, name, language, t(0));
        template.status = status;
        template.body_parameters = Some((1..=variables).map(|n| n.to_string()).collect());
        template.header_parameters = Some(Vec::new());
        template.version = 1;
        assert_eq!(self.store().save_whatsapp_template(&template, None).await.unwrap(), crate::ports::Written::Stored);
        template
    }

    pub fn store(&self) -> &MemoryStore {
        &self.mem.store
    }

    pub fn outbox(&self) -> &MemoryOutbox {
        &self.mem.outbox
    }

    pub fn store_arc(&self) -> Arc<MemoryStore> {
        self.mem.store.clone()
    }

    /// A customer's text message arrives through the inbound worker (what `inbound-processor`
    /// does with a queued webhook body).
    pub async fn receive_text(&self, from: &str, wamid: &str, body: &str, at: DateTime<Utc>) -> Vec<Received> {
        process_job(&self.deps.inbound_ports(), &job(text_webhook(from, wamid, body, at), at)).await.unwrap()
    }

    /// GIVEN a customer who wrote "hello" at `t(0)`: customer, open conversation (window open for
    /// 24 h) and the stored message.
    pub async fn given_conversation(&self) -> Received {
        self.given_conversation_of(CUSTOMER, "wamid.hello").await
    }

    pub async fn given_conversation_of(&self, from: &str, wamid: &str) -> Received {
        let mut received = self.receive_text(from, wamid, "hello", t(0)).await;
        assert_eq!(received.len(), 1, "the first message is stored");
        received.remove(0)
    }

    /// The reply jobs queued since the last look (what reply-sender would receive next).
    pub fn reply_jobs(&self) -> Vec<ReplyJob> {
        self.outbox().take(Queue::Replies).iter().map(|m| serde_json::from_str(&m.body).unwrap()).collect()
    }

    /// Every event of the organisation's feed, void ones dropped.
    pub async fn events(&self, org: &str) -> Vec<DashboardEvent> {
        let all = self.store().events_after(org, 0, 1000).await.unwrap();
        all.into_iter().filter(|e| e.kind != EventKind::Void).collect()
    }

    pub async fn events_of(&self, org: &str, kind: EventKind) -> Vec<DashboardEvent> {
        self.events(org).await.into_iter().filter(|e| e.kind == kind).collect()
    }

    pub async fn message(&self, conversation_id: &str, id: &str) -> Message {
        self.store().message(ORG, conversation_id, id).await.unwrap().expect("the message is stored")
    }

    /// Every message of a conversation, oldest first.
    pub async fn messages(&self, conversation_id: &str) -> Vec<Message> {
        let page = crate::ports::PageRequest { limit: 1000, cursor: None };
        self.store().messages(ORG, conversation_id, &page, false).await.unwrap().items
    }

    /// Every attempt of `operation` loses to a concurrent writer (a conversation, a ticket, …
    /// that keeps changing under the use case).
    pub fn keeps_losing(&self, operation: &'static str, what: &'static str) {
        for _ in 0..LOCKING.max_attempts {
            self.store().fail_next(operation, Error::LostUpdate(what));
        }
    }
}

/// A webhook body as Meta posts it (`fixtures/whatsapp/meta-openapi/text-message.json`).
pub fn text_webhook(from: &str, wamid: &str, body: &str, at: DateTime<Utc>) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": WABA, "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": NUMBER },
            "contacts": [{ "profile": { "name": "Sheena Nelson" }, "wa_id": from }],
            "messages": [{ "from": from, "id": wamid, "timestamp": at.timestamp().to_string(), "type": "text", "text": { "body": body } }]
        }}]}]
    })
}

/// A delivery status callback (`fixtures/whatsapp/statuses/`), with Meta's errors when given.
pub fn status_webhook(wamid: &str, status: &str, at: DateTime<Utc>, errors: Option<Value>) -> Value {
    let mut s = json!({ "id": wamid, "status": status, "timestamp": at.timestamp().to_string(), "recipient_id": CUSTOMER });
    if let Some(e) = errors {
        s["errors"] = e;
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": WABA, "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": NUMBER },
            "statuses": [s]
        }}]}]
    })
}

/// The inbound job the webhook receiver queues for a body.
pub fn job(body: Value, received_at: DateTime<Utc>) -> InboundJob {
    let changes = read_changes(&serde_json::to_vec(&body).unwrap()).unwrap();
    InboundJob::Changes { received_at, changes }
}

/// The error is a 409 naming the current state.
#[track_caller]
pub fn assert_conflict(result: Result<impl std::fmt::Debug, Error>, current: &str) {
    match result {
        Err(Error::Conflict { current: Some(c), .. }) => assert_eq!(c, current),
        other => panic!("expected a 409 with current {current}, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_not_found(result: Result<impl std::fmt::Debug, Error>, what: &str) {
    match result {
        Err(Error::NotFound(w)) => assert_eq!(w, what),
        other => panic!("expected {what} not found, got {other:?}"),
    }
}

/// Tests that read the log install their subscriber for their own thread (`set_default`).
/// tracing caches per call site whether any subscriber listens, and a call site first reached
/// by another test's thread while one is being installed can keep "nobody listens" and drop that
/// test's lines (seen once in CI: `no_log_line_carries_a_token_even_at_trace` missed "WhatsApp
/// number removed", which another test logs too). A process-wide subscriber that records nothing
/// but answers "ask me each time" keeps every call site at "sometimes", so each line asks the
/// subscriber of the thread it runs on. Installed once, before any test's first use case.
fn ask_each_log_line() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another global (a test that initialised telemetry) already answers for every thread.
        let _ = tracing::subscriber::set_global_default(AskEachTime);
    });
}

struct AskEachTime;

impl tracing::Subscriber for AskEachTime {
    fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
