//! In memory: every store port with the DynamoDB adapters' observable semantics — conditional
//! writes, versions, all-or-nothing transactions, idempotency markers, counters, pages and
//! cursors — for fast tests of the use cases. `adapters::contract` runs the same cases against
//! this store and against DynamoDB (moto), so the two cannot drift.
//!
//! One mutex around plain maps, keyed like the table: a multi-item write checks every condition
//! first, then writes all or nothing, under one lock that is never held across an await. Lists
//! follow DynamoDB's paging: a page evaluates at most `limit` items per call, a filter drops some
//! of them, and up to [`FILTERED_CALLS_PER_PAGE`] calls fill one page (`DynamoStore::query_filled`).

mod actions;
mod audit;
mod calls;
mod campaigns;
mod canned;
mod chat_app;
mod compliance;
mod customer_context;
mod customer_links;
mod customers;
mod interactions;
mod media;
mod messaging;
mod rate_limits;
mod routing;
mod jobs;
mod sla;
mod support;
mod teams;
mod transactions;
mod live_push;
mod webhooks;
mod whatsapp_templates;

pub use jobs::{ManualClock, MemoryBlobs, MemoryOutbox, MemorySecrets, sqs_record};
pub use live_push::MemoryLivePush;
pub use webhooks::{MemoryWebhookReceiver, ReceivedWebhook};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::domain::action::{Action, ActionResponse};
use crate::domain::bot::StoredBotSettings;
use crate::domain::call::{Call, NpsCounts, ServiceRecord};
use crate::domain::call_schedule::ScheduleConfig;
use crate::domain::channel::Channel;
use crate::domain::conversation::Conversation;
use crate::domain::customer::{ChannelIdentity, Customer, IdentityChannel};
use crate::domain::event::DashboardEvent;
use crate::domain::interaction::Interaction;
use crate::domain::message::{DeliveryStatus, FailureReason, Message};
use crate::domain::response_template::ResponseTemplates;
use crate::domain::support::{SupportTicket, TicketMessage};
use crate::domain::workflow::{InteractionSettings, WorkflowTemplate};
use crate::error::{Error, Result};
use crate::ports::{EarlyStatus, Page, PageRequest, ScheduleRef, Written};

/// Calls one filtered page may take before it answers short, as `DynamoStore::query_filled`.
const FILTERED_CALLS_PER_PAGE: usize = 5;

/// `(org, id)`: most items are keyed by their organisation and their own id.
type Key = (String, String);

fn key(org: &str, id: &str) -> Key {
    (org.to_string(), id.to_string())
}

/// An identity item's key: the organisation, and the channel with the address (as DynamoDB's
/// `keys::identity`, an address is only unique within its channel).
fn identity_key(org: &str, channel: IdentityChannel, address: &str) -> Key {
    (org.to_string(), format!("{}#{address}", channel.as_str()))
}

fn identity_key_of(identity: &ChannelIdentity) -> Key {
    identity_key(&identity.org_id, identity.channel, &identity.address)
}

/// Everything stored, one map per item kind of the DynamoDB table.
#[derive(Default)]
struct State {
    channels: BTreeMap<String, Channel>,
    wabas: BTreeMap<String, String>,
    customers: BTreeMap<Key, Customer>,
    identities: BTreeMap<Key, ChannelIdentity>,
    conversations: BTreeMap<Key, Conversation>,
    /// `(org, conversation, message)`.
    messages: BTreeMap<(String, String, String), Message>,
    /// A reply's idempotency key → the message it stored: `(org, conversation, key)`.
    reply_keys: BTreeMap<(String, String, String), String>,
    /// `(org, wamid)` → `(conversation, message)`.
    wamids: BTreeMap<Key, (String, String)>,
    /// Inbound messages whose handling (bot, ticket) is owed: `(org, conversation, message)`.
    unhandled: BTreeSet<(String, String, String)>,
    /// Statuses Meta called back before the send was recorded: `(org, wamid)` → one per status.
    early_statuses: BTreeMap<Key, BTreeMap<&'static str, EarlyStatus>>,
    whatsapp_templates: BTreeMap<Key, crate::domain::whatsapp_template::WhatsAppTemplate>,
    interactions: BTreeMap<Key, Interaction>,
    campaigns: BTreeMap<Key, crate::domain::campaign::Campaign>,
    /// (org, Idempotency-Key) → the campaign it created.
    campaign_keys: BTreeMap<Key, String>,
    /// A campaign's started (or skipped) customers: `(org, campaign, customer)`.
    campaign_starts: BTreeSet<(String, String, String)>,
    interaction_keys: BTreeMap<Key, String>,
    /// The interaction scheduler's cursor (`INTDUE#CURSOR`).
    interaction_alert_cursor: Option<chrono::DateTime<chrono::Utc>>,
    workflow_templates: BTreeMap<Key, WorkflowTemplate>,
    default_workflows: BTreeMap<String, String>,
    interaction_settings: BTreeMap<String, InteractionSettings>,
    workflows_seeded: BTreeSet<String>,
    actions: BTreeMap<Key, Action>,
    action_responses: BTreeMap<Key, ActionResponse>,
    action_keys: BTreeMap<Key, String>,
    response_templates: BTreeMap<String, ResponseTemplates>,
    /// `(org, seq)`.
    events: BTreeMap<(String, u64), DashboardEvent>,
    event_counters: BTreeMap<String, u64>,
    /// `(org, dedupe key)` → the number the event got.
    event_keys: BTreeMap<Key, u64>,
    tickets: BTreeMap<Key, SupportTicket>,
    /// `(org, ticket, message)`.
    ticket_messages: BTreeMap<(String, String, String), TicketMessage>,
    ticket_counters: BTreeMap<String, BTreeMap<String, i64>>,
    /// The audit trail: `(org, {at}#{id})`.
    audit: BTreeMap<(String, String), crate::domain::audit::AuditEntry>,
    /// Tickets a customer opened per UTC day: (org, customer, day) → count.
    ticket_caps: BTreeMap<(String, String, String), u32>,
    bot_settings: BTreeMap<String, StoredBotSettings>,
    /// `(org, campaign or "-")`.
    schedule_configs: BTreeMap<Key, ScheduleConfig>,
    call_schedules: BTreeSet<ScheduleRef>,
    service_records: BTreeMap<Key, ServiceRecord>,
    calls: BTreeMap<Key, Call>,
    calls_in_flight: BTreeMap<String, i64>,
    /// `(org, local date)` → group → counts.
    nps_days: BTreeMap<(String, NaiveDate), BTreeMap<String, NpsCounts>>,
    /// Canned responses as stored (their counts apart, in `canned_uses`).
    canned: BTreeMap<Key, crate::domain::canned::CannedResponse>,
    canned_uses: BTreeMap<Key, u64>,
    /// Rate-limit settings by organisation.
    rate_limits: BTreeMap<String, crate::domain::rate_limit::StoredRateLimits>,
    /// `(org, address, window)` → the WhatsApp ids counted in that window.
    rate_counters: BTreeMap<(String, String, String), BTreeSet<String>>,
    /// `(org, scope, shortcut)` → the response holding it.
    canned_shortcuts: BTreeMap<(String, String, String), String>,
    /// `(org, response, message)`: the uses counted.
    canned_use_markers: BTreeSet<(String, String, String)>,
    /// `org` → the feed's long-poll waiters and when each place frees itself.
    waiters: BTreeMap<String, BTreeMap<String, DateTime<Utc>>>,
    /// Inbound media files, `(org, id)`, and each organisation's retention in days.
    media: BTreeMap<Key, crate::domain::media::MediaFile>,
    media_retention: BTreeMap<String, u32>,
    /// The customers' search index: `(org, "{term}#{customer}")` → the entry.
    customer_terms: BTreeMap<Key, crate::ports::TermHit>,
    /// `(org, external id)` → the customer holding it.
    external_ids: BTreeMap<Key, String>,
    /// Link items, `(org, secondary customer)`.
    customer_links: BTreeMap<Key, crate::domain::customer_link::CustomerLink>,
    /// `(org, customer, the business's id)`.
    transactions: BTreeMap<(String, String, String), crate::domain::transaction::Transaction>,
    /// Chat-app keys by key id, and each organisation's slots `(org, slot)` → the key holding it.
    chat_app_keys: BTreeMap<String, crate::domain::chat_app::ChatAppKey>,
    chat_app_slots: BTreeMap<(String, u8), String>,
    /// Teams and their business hours, `(org, team)`.
    teams: BTreeMap<Key, crate::domain::team::Team>,
    business_hours: BTreeMap<Key, crate::domain::team::StoredBusinessHours>,
    routing_settings: BTreeMap<String, crate::domain::routing::StoredRoutingSettings>,
    /// Agents, `(org, user)`.
    agents: BTreeMap<Key, crate::domain::agent::Agent>,
    /// SLA policies, `(org, policy)`, and the scheduler's cursor.
    sla_policies: BTreeMap<Key, crate::domain::sla::SlaPolicy>,
    sla_cursor: Option<chrono::DateTime<chrono::Utc>>,
    /// SLA compliance counters `(org, team or "", day, metric)` and violations
    /// `(org, team or "", day, due, conversation, metric)`.
    sla_stats: BTreeMap<compliance::StatsKey, crate::domain::sla::ComplianceDay>,
    sla_violations: BTreeMap<compliance::ViolationKey, crate::domain::sla::ReportedViolation>,
    /// Interaction statistics counters `(org, group kind, day, group)`.
    interaction_stats: BTreeMap<interactions::StatsKey, crate::domain::interaction_stats::StatsDay>,
    /// Outbound webhook subscriptions, `(org, id)`.
    webhook_subscriptions: BTreeMap<Key, crate::domain::webhook_subscription::WebhookSubscription>,
    /// Their attempt log, `(org, subscription, attempt id)`.
    delivery_attempts: BTreeMap<(String, String, String), crate::domain::webhook_delivery::DeliveryAttempt>,
    /// Dashboards' WebSocket connections, `(org, connection id)`.
    live_connections: BTreeMap<Key, crate::domain::live_push::LiveConnection>,
}

impl State {
    /// Whether `c` may be written at `c.version`: new at 1, else over version - 1.
    fn conversation_fits(&self, c: &Conversation) -> bool {
        let stored = self.conversations.get(&key(&c.org_id, &c.id));
        if c.version <= 1 { stored.is_none() } else { stored.is_some_and(|s| s.version == c.version - 1) }
    }

    fn put_conversation(&mut self, c: &Conversation) {
        // The clocks' ends are counted by the writes that count them, never stored with it.
        let stored = Conversation { sla_counts: Vec::new(), ..c.clone() };
        self.conversations.insert(key(&c.org_id, &c.id), stored);
    }

    /// Writes the customer with their search terms, moving the terms `previous` had (as
    /// DynamoDB writes them in the customer's transaction).
    fn put_customer(&mut self, previous: Option<&Customer>, c: &Customer) {
        for term in previous.map(Customer::search_terms).unwrap_or_default() {
            self.customer_terms.remove(&key(&c.org_id, &format!("{term}#{}", c.id)));
        }
        for term in c.search_terms() {
            let hit = crate::ports::TermHit { term: term.clone(), customer_id: c.id.clone() };
            self.customer_terms.insert(key(&c.org_id, &format!("{term}#{}", c.id)), hit);
        }
        self.customers.insert(key(&c.org_id, &c.id), c.clone());
    }
}

/// Which calls a planted failure hits.
enum FaultOn {
    Operation(&'static str),
    AnyWrite,
}

/// A planted failure: the call it hits after letting `spare` such calls through.
struct Fault {
    on: FaultOn,
    spare: u32,
    error: Error,
}

/// The in-memory store. `Default` is an empty table.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    faults: Mutex<Vec<Fault>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next call of `operation` (a port method's name, e.g. `"record_outbound"`) fails with
    /// `error` before it reads or writes anything: what a failed call leaves behind, in a test.
    pub fn fail_next(&self, operation: &'static str, error: Error) {
        self.fail_after(operation, 0, error);
    }

    /// The call of `operation` after the next `spare` ones fails with `error` (those go through):
    /// a failure in the middle of a job.
    pub fn fail_after(&self, operation: &'static str, spare: u32, error: Error) {
        self.lock_faults().push(Fault { on: FaultOn::Operation(operation), spare, error });
    }

    /// The next call that writes (whichever it is) fails with `error`, writing nothing.
    pub fn fail_next_write(&self, error: Error) {
        self.lock_faults().push(Fault { on: FaultOn::AnyWrite, spare: 0, error });
    }

    fn lock_faults(&self) -> MutexGuard<'_, Vec<Fault>> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn planted_fault(&self, operation: &'static str, writes: bool) -> Result<()> {
        let mut faults = self.lock_faults();
        let hit = faults.iter().position(|f| match f.on {
            FaultOn::Operation(name) => name == operation,
            FaultOn::AnyWrite => writes,
        });
        match hit {
            Some(i) if faults[i].spare > 0 => {
                faults[i].spare -= 1;
                Ok(())
            }
            Some(i) => Err(faults.remove(i).error),
            None => Ok(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state, for an operation that only reads.
    fn read(&self, operation: &'static str) -> Result<MutexGuard<'_, State>> {
        self.planted_fault(operation, false)?;
        Ok(self.lock())
    }

    /// The state, for an operation that writes.
    fn write(&self, operation: &'static str) -> Result<MutexGuard<'_, State>> {
        self.planted_fault(operation, true)?;
        Ok(self.lock())
    }

    // --- bulk writes outside the ports, as `DynamoStore` has them ---

    /// Bulk import of tickets that do not exist yet (history from another system, benchmarks).
    pub async fn import_tickets(&self, tickets: &[SupportTicket]) -> Result<()> {
        let mut st = self.write("import_tickets")?;
        for t in tickets {
            st.tickets.insert(key(&t.org_id, &t.id), t.clone());
            support::count(&mut st, &t.org_id, &crate::domain::support::counter_changes(None, t));
        }
        Ok(())
    }
}

/// The fixed-width UTC timestamp DynamoDB's sort keys sort by (`adapters::dynamo::sort_time`):
/// bounds and orders compare at this precision there, so they do here.
fn sort_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn bad_cursor() -> Error {
    Error::invalid("cursor", "is not a cursor this list returned")
}

/// Opaque cursor: the list's partition and the sort key of the last item evaluated.
fn encode_cursor(partition: &str, sort: &str) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::json!({ "p": partition, "k": sort }).to_string())
}

/// Reads a cursor back, refusing one of another list (another organisation's among them).
fn decode_cursor(cursor: &str, partition: &str) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Plain {
        p: String,
        k: String,
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
    let plain: Plain = serde_json::from_slice(&bytes).map_err(|_| bad_cursor())?;
    if plain.p != partition {
        return Err(bad_cursor());
    }
    Ok(plain.k)
}

/// DynamoDB refuses a `Limit` below 1.
fn check_limit(limit: i32) -> Result<usize> {
    usize::try_from(limit).ok().filter(|l| *l >= 1).ok_or_else(|| Error::backend("memory", "limit must be at least 1"))
}

/// One page of a partition's `entries` (sort key and item, in the query's order: ascending when
/// `forward`) from the page's cursor, the way `DynamoStore::query_filled` reads DynamoDB: each
/// call evaluates up to the items still wanted, `pass` drops some, calls go on until the page is
/// full or the partition ends (at most [`FILTERED_CALLS_PER_PAGE`]); the cursor is the last
/// evaluated key, given only when more items remain after it.
fn fill_page<T>(partition: &str, entries: Vec<(String, T)>, forward: bool, pass: impl Fn(&T) -> bool, page: &PageRequest) -> Result<Page<T>> {
    let limit = check_limit(page.limit)?;
    let start = match page.cursor.as_deref() {
        Some(c) => {
            let after = decode_cursor(c, partition)?;
            entries.iter().position(|(k, _)| if forward { *k > after } else { *k < after }).unwrap_or(entries.len())
        }
        None => 0,
    };
    let total = entries.len();
    let mut rest = entries.into_iter().skip(start);
    let mut position = start;
    let mut items = Vec::new();
    let mut last: Option<String> = None;
    for _ in 0..FILTERED_CALLS_PER_PAGE {
        let wanted = limit - items.len();
        let mut evaluated = None;
        for (k, item) in rest.by_ref().take(wanted) {
            position += 1;
            if pass(&item) {
                items.push(item);
            }
            evaluated = Some(k);
        }
        last = evaluated.filter(|_| position < total);
        if last.is_none() || items.len() >= limit {
            break;
        }
    }
    Ok(Page { items, next_cursor: last.map(|k| encode_cursor(partition, &k)) })
}

/// What a delivery status callback may change, on a message or on an action's answer.
struct Delivery<'a> {
    status: &'a mut DeliveryStatus,
    failure: &'a mut Option<FailureReason>,
    sent_at: &'a mut Option<DateTime<Utc>>,
    delivered_at: &'a mut Option<DateTime<Utc>>,
    read_at: &'a mut Option<DateTime<Utc>>,
    failed_at: &'a mut Option<DateTime<Utc>>,
}

/// Moves a delivery status forward like `adapters::dynamo::status_update` with its condition: a
/// later status implies the earlier ones; failed is final; `queued` and `received` never come
/// from a callback.
fn advance(d: Delivery<'_>, status: DeliveryStatus, failure: Option<&FailureReason>, at: DateTime<Utc>) -> Written {
    let applies = matches!(status, DeliveryStatus::Sent | DeliveryStatus::Delivered | DeliveryStatus::Read | DeliveryStatus::Failed);
    if !applies || d.status.rank() >= status.rank() || d.status.rank() >= DeliveryStatus::Failed.rank() {
        return Written::AlreadyThere;
    }
    *d.status = status;
    match status {
        DeliveryStatus::Sent => {
            d.sent_at.get_or_insert(at);
        }
        DeliveryStatus::Delivered => {
            *d.delivered_at = Some(at);
            d.sent_at.get_or_insert(at);
        }
        DeliveryStatus::Read => {
            *d.read_at = Some(at);
            d.delivered_at.get_or_insert(at);
            d.sent_at.get_or_insert(at);
        }
        _ => {
            *d.failed_at = Some(at);
            *d.failure = Some(failure.cloned().unwrap_or_else(|| FailureReason::ours("failed", None)));
        }
    }
    Written::Stored
}

fn written(stored: bool) -> Written {
    if stored { Written::Stored } else { Written::AlreadyThere }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(keys: &[&str]) -> Vec<(String, String)> {
        keys.iter().map(|k| (k.to_string(), k.to_string())).collect()
    }

    #[test]
    fn pages_follow_the_cursor_and_end_without_one() {
        let page = |cursor| PageRequest { limit: 2, cursor };
        let first = fill_page("P", entries(&["a", "b", "c"]), true, |_| true, &page(None)).unwrap();
        assert_eq!(first.items, ["a", "b"]);
        let second = fill_page("P", entries(&["a", "b", "c"]), true, |_| true, &page(first.next_cursor)).unwrap();
        assert_eq!((second.items, second.next_cursor), (vec!["c".to_string()], None));
    }

    #[test]
    fn a_filtered_page_stops_after_five_calls_with_its_cursor() {
        let many: Vec<String> = (0..100).map(|i| format!("{i:03}")).collect();
        let all = many.iter().map(|k| (k.clone(), k.clone())).collect();
        let page = fill_page("P", all, true, |k: &String| k == "099", &PageRequest { limit: 3, cursor: None }).unwrap();
        assert!(page.items.is_empty(), "5 calls of 3 items evaluate 15");
        assert_eq!(decode_cursor(page.next_cursor.as_deref().unwrap(), "P").unwrap(), "014");
        assert!(decode_cursor(page.next_cursor.as_deref().unwrap(), "Q").is_err());
    }

    fn conversation(version: u64) -> Conversation {
        serde_json::from_value(serde_json::json!({
            "id": "C1", "org_id": "o1", "customer_id": "u1", "channel": "whatsapp", "phone_number_id": "PN1",
            "customer_address": "A1", "status": "open", "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "last_message_at": "2026-01-01T00:00:00Z", "version": version
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_failed_write_leaves_nothing_behind_and_the_retry_stores() {
        use crate::ports::{ConversationStore, MessageStore};
        // GIVEN a stored conversation and a reply whose write will fail
        let store = MemoryStore::new();
        store.lock().put_conversation(&conversation(1));
        let mut reply: Message = serde_json::from_value(serde_json::json!({
            "id": "M1", "org_id": "o1", "conversation_id": "C1", "customer_id": "u1", "direction": "outbound",
            "type": "text", "status": "queued", "sender": { "type": "agent" }, "created_at": "2026-01-01T00:01:00Z"
        }))
        .unwrap();
        reply.idempotency_key = Some("k1".into());
        store.fail_next("record_outbound", Error::backend("dynamodb", "throttled"));
        // WHEN it is recorded
        let failed = store.record_outbound(&reply, &conversation(2)).await;
        // THEN it failed, and neither the message, its key nor the conversation changed
        assert!(matches!(failed, Err(Error::Backend { .. })));
        assert_eq!(store.message("o1", "C1", "M1").await.unwrap(), None);
        assert_eq!(store.message_by_idempotency_key("o1", "C1", "k1").await.unwrap(), None);
        assert_eq!(store.conversation("o1", "C1").await.unwrap().map(|c| c.version), Some(1));
        // AND the retry goes through
        assert_eq!(store.record_outbound(&reply, &conversation(2)).await.unwrap(), Written::Stored);
    }

    #[tokio::test]
    async fn a_write_fault_waits_for_a_write() {
        use crate::ports::ConversationStore;
        let store = MemoryStore::new();
        store.lock().put_conversation(&conversation(1));
        store.fail_next_write(Error::backend("dynamodb", "down"));
        assert!(store.conversation("o1", "C1").await.unwrap().is_some(), "reads are not hit");
        assert!(store.save_conversation(&conversation(2)).await.is_err());
        assert_eq!(store.conversation("o1", "C1").await.unwrap().map(|c| c.version), Some(1));
        store.save_conversation(&conversation(2)).await.unwrap();
        assert_eq!(store.conversation("o1", "C1").await.unwrap().map(|c| c.version), Some(2));
    }

    #[test]
    fn a_planted_fault_hits_once() {
        let store = MemoryStore::new();
        store.fail_next_write(Error::backend("memory", "down"));
        assert!(store.read("r").is_ok());
        assert!(store.write("w").is_err());
        assert!(store.write("w").is_ok());
    }

    #[test]
    fn a_fault_after_spare_calls_lets_them_through_first() {
        let store = MemoryStore::new();
        store.fail_after("w", 2, Error::backend("memory", "down"));
        assert!(store.write("other").is_ok());
        assert!(store.write("w").is_ok() && store.write("w").is_ok());
        assert!(store.write("w").is_err());
        assert!(store.write("w").is_ok());
    }
}
