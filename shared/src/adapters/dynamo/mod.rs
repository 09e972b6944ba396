//! DynamoDB: one table, every key prefixed by the organisation. `docs/data-model.md` lists each
//! access pattern and the key or index that serves it; nothing here scans.

//!
//! The toolkit lives here (keys, items, reads, conditional writes, transactions, pages and
//! cursors); each store is a file of its own.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::channel::Channel;
use crate::domain::message::{DeliveryStatus, FailureReason};
use crate::error::{Error, Result};
use crate::ports::{
    Page, PageRequest, Written,
};

pub mod actions;
pub mod audit;
mod calls;
pub mod campaigns;
mod canned;
mod chat_app;
mod compliance;
mod conversations;
mod customer_context;
mod customer_links;
mod customers;
pub mod interactions;
mod media;
mod messages;
mod rate_limits;
mod routing;
mod sla;
pub mod support;
mod teams;
pub mod transactions;
mod live_push;
mod webhooks;
mod whatsapp_templates;

pub use interactions::interaction_item;
pub use messages::{REPLY_OUTBOX_SHARDS, message_item};

pub type Item = HashMap<String, AttributeValue>;

/// Key layout. Every partition key of tenant data starts with `ORG#{org}`.
pub mod keys {
    use crate::domain::customer::{ChannelIdentity, IdentityChannel};

    pub fn channel(phone_number_id: &str) -> (String, String) {
        (format!("WACHANNEL#{phone_number_id}"), "CHANNEL".into())
    }
    pub fn waba(waba_id: &str) -> (String, String) {
        (format!("WABA#{waba_id}"), "WABA".into())
    }
    /// gsi1: an organisation's numbers, by phone number id.
    pub fn channels(org: &str) -> String {
        format!("ORG#{org}#CHANNELS")
    }
    pub fn customer_pk(org: &str, customer: &str) -> String {
        format!("ORG#{org}#CUSTOMER#{customer}")
    }
    pub fn customer(org: &str, customer: &str) -> (String, String) {
        (customer_pk(org, customer), "CUSTOMER".into())
    }
    /// In the customer's partition, one link per conversation and per ticket of theirs: what
    /// export and erasure find them by (a Query of one partition, no scan).
    pub fn customer_conversation(org: &str, customer: &str, conversation: &str) -> (String, String) {
        (customer_pk(org, customer), format!("CONV#{conversation}"))
    }
    pub fn customer_ticket(org: &str, customer: &str, ticket: &str) -> (String, String) {
        (customer_pk(org, customer), format!("TICKET#{ticket}"))
    }
    /// Links the customer context reads (an action's three indexes are taken by its conversation,
    /// status and type; a call's by status, due time and service record).
    pub fn customer_action(org: &str, customer: &str, action: &str) -> (String, String) {
        (customer_pk(org, customer), format!("ACTION#{action}"))
    }
    pub fn customer_call(org: &str, customer: &str, call: &str) -> (String, String) {
        (customer_pk(org, customer), format!("CALL#{call}"))
    }
    /// A secondary customer's link into a primary: the link job's state and what it moved
    /// (`adapters::dynamo::customer_links`).
    pub fn customer_link(org: &str, customer: &str) -> (String, String) {
        (customer_pk(org, customer), "LINK".into())
    }
    /// The identity item of an address on a channel: the one function that keys it. WhatsApp's
    /// keep the key they had before a second channel existed (no migration).
    pub fn identity(org: &str, channel: IdentityChannel, address: &str) -> (String, String) {
        let pk = match channel {
            IdentityChannel::Whatsapp => format!("ORG#{org}#WA#{address}"),
            other => format!("ORG#{org}#ID#{}#{address}", other.as_str()),
        };
        (pk, "IDENTITY".into())
    }
    /// The identity item's own key.
    pub fn identity_of(identity: &ChannelIdentity) -> (String, String) {
        self::identity(&identity.org_id, identity.channel, &identity.address)
    }
    /// The customers' search index: one item per term of a customer (`Customer::search_terms`),
    /// sorted `{term}#{customer}`, so a prefix search is one `begins_with` Query (no scan).
    pub fn customer_terms(org: &str) -> String {
        format!("ORG#{org}#CUSTOMER_TERMS")
    }
    pub fn customer_term(org: &str, term: &str, customer: &str) -> (String, String) {
        (customer_terms(org), format!("{term}#{customer}"))
    }
    /// The claim of an external id by one customer of the organisation.
    pub fn customer_external_id(org: &str, external_id: &str) -> (String, String) {
        (format!("ORG#{org}#CUSTOMER_EXTID#{external_id}"), "EXTERNAL_ID".into())
    }
    pub fn conversation_pk(org: &str, conversation: &str) -> String {
        format!("ORG#{org}#CONV#{conversation}")
    }
    pub fn conversation(org: &str, conversation: &str) -> (String, String) {
        (conversation_pk(org, conversation), "CONVERSATION".into())
    }
    pub fn message(org: &str, conversation: &str, message: &str) -> (String, String) {
        (conversation_pk(org, conversation), format!("MSG#{message}"))
    }
    /// A client's idempotency key on a reply, in its conversation's partition (hashed: keys are
    /// the client's text, of any length).
    pub fn reply_idempotency(org: &str, conversation: &str, key_hash: &str) -> (String, String) {
        (conversation_pk(org, conversation), format!("REPLYKEY#{key_hash}"))
    }
    /// gsi2: outbound messages still `queued`, across organisations, in [`REPLY_OUTBOX_SHARDS`]
    /// partitions (the lost-reply sweep's only key). A message leaves it when it is sent or fails.
    pub fn reply_outbox(shard: u32) -> String {
        format!("REPLY_OUTBOX#{shard}")
    }
    /// Delivery statuses Meta sent for a WhatsApp id before reply-sender recorded it (one
    /// attribute per status), until `mark_sent` applies them; TTL 7 days.
    pub fn early_statuses(org: &str, wamid: &str) -> (String, String) {
        (format!("ORG#{org}#WAMID#{wamid}"), "EARLY".into())
    }
    pub fn wamid(org: &str, wamid: &str) -> (String, String) {
        (format!("ORG#{org}#WAMID#{wamid}"), "WAMID".into())
    }
    pub fn whatsapp_template(org: &str, template_id: &str) -> (String, String) {
        (format!("ORG#{org}#WATEMPLATE#{template_id}"), "WATEMPLATE".into())
    }
    /// gsi1: an organisation's WhatsApp templates, sorted `{name}#{language}#{id}` (a send finds
    /// one by name and language with a key condition).
    pub fn whatsapp_templates(org: &str) -> String {
        format!("ORG#{org}#WATEMPLATES")
    }
    pub fn whatsapp_template_sort(name: &str, language: &str, template_id: &str) -> String {
        format!("{name}#{language}#{template_id}")
    }
    /// Conversation lists: all, by status, by assignee (GSI 1, 2, 3), newest activity first.
    pub fn conversations_all(org: &str) -> String {
        format!("ORG#{org}#CONVS")
    }
    pub fn conversations_by_status(org: &str, status: &str) -> String {
        format!("ORG#{org}#CONVS#STATUS#{status}")
    }
    pub fn conversations_by_assignee(org: &str, assignee: &str) -> String {
        format!("ORG#{org}#CONVS#ASSIGNEE#{assignee}")
    }
    /// gsi3 of a queued conversation: its team's queue.
    pub fn team_queue(org: &str, team: &str) -> String {
        format!("ORG#{org}#CONVS#QUEUE#{team}")
    }
    /// gsi4: the SLA deadline index, one partition per minute (`yyyy-mm-ddThh:mm`, UTC), across
    /// organisations: the scheduler reads only the minutes due.
    pub fn sla_due(minute: chrono::DateTime<chrono::Utc>) -> String {
        format!("SLADUE#{}", crate::domain::deadline_index::bucket(minute))
    }
}

/// Sortable timestamp for sort keys (fixed width, UTC).
pub fn sort_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn to_item<T: Serialize>(value: &T) -> Result<Item> {
    serde_dynamo::to_item(value).map_err(|e| Error::backend("dynamodb", e))
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T> {
    serde_dynamo::from_item(item).map_err(|e| Error::backend("dynamodb", e))
}

/// `value` as an item with its key (and any index keys) added.
/// The feed event a DynamoDB stream record's new image holds, when it is one: an item of an
/// organisation's feed partition (`ORG#{org}#EVENTS`) that is not a void filler. What
/// webhook-fanout reads from the table's stream.
pub fn feed_event_from_stream(image: &serde_dynamo::Item) -> Option<crate::domain::event::DashboardEvent> {
    let pk = match image.get("pk")? {
        serde_dynamo::AttributeValue::S(pk) => pk,
        _ => return None,
    };
    if !(pk.starts_with("ORG#") && pk.ends_with("#EVENTS")) {
        return None;
    }
    let event: crate::domain::event::DashboardEvent = serde_dynamo::from_item(image.clone()).ok()?;
    (event.kind != crate::domain::event::EventKind::Void).then_some(event)
}

pub fn keyed<T: Serialize>(value: &T, key: (String, String), extra: &[(&str, String)]) -> Result<Item> {
    let mut item = to_item(value)?;
    item.insert("pk".into(), s(key.0));
    item.insert("sk".into(), s(key.1));
    for (name, v) in extra {
        item.insert((*name).to_string(), s(v.clone()));
    }
    Ok(item)
}


/// The `pk`/`sk` map of a key.
pub fn key_map(key: (String, String)) -> Item {
    HashMap::from([("pk".to_string(), s(key.0)), ("sk".to_string(), s(key.1))])
}

/// Opaque cursor: the last evaluated key, base64url JSON. Only string keys exist in this table.
pub fn encode_cursor(key: &Item) -> String {
    let plain: HashMap<&str, &str> = key.iter().filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str()))).collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&plain).unwrap_or_default())
}

/// The sort keys a query's key condition admits. A cursor's must be one of them: DynamoDB refuses
/// a start key outside the condition (a 500 for us), and no page we return ends outside it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SortRange {
    /// `begins_with(sort key, prefix)`.
    pub prefix: Option<String>,
    /// Inclusive bounds (`BETWEEN`, `>=`, `<`: the exclusive end admits one key more, harmlessly).
    pub low: Option<String>,
    pub high: Option<String>,
}

impl SortRange {
    /// Every sort key of the partition.
    pub fn all() -> Self {
        SortRange::default()
    }

    pub fn prefix(prefix: &str) -> Self {
        SortRange { prefix: Some(prefix.to_string()), ..SortRange::default() }
    }

    pub fn between(low: Option<String>, high: Option<String>) -> Self {
        SortRange { prefix: None, low, high }
    }

    fn admits(&self, sort: &str) -> bool {
        self.prefix.as_deref().is_none_or(|p| sort.starts_with(p))
            && self.low.as_deref().is_none_or(|l| sort >= l)
            && self.high.as_deref().is_none_or(|h| sort <= h)
    }
}

/// The longest key value a cursor may carry: DynamoDB's sort-key limit (partition keys allow 2048
/// bytes; ours are far shorter).
const MAX_CURSOR_KEY_BYTES: usize = 1024;

/// Reads a cursor back, refusing anything but what this list's query could have returned as its
/// last key: exactly the key attributes of the index queried (the table's `pk`/`sk`, plus the
/// index's own), all text of a key's size, the list's partition (another organisation's is
/// refused), and a sort key inside the query's range. Anything else would reach DynamoDB as an
/// invalid start key: a 500, where a forged or stale cursor deserves a 422.
pub fn decode_cursor(cursor: &str, partition_attr: &str, partition: &str, range: &SortRange) -> Result<Item> {
    let bad = || Error::invalid("cursor", "is not a cursor this list returned");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let plain: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    // `gsi1pk` → the index `gsi1`, sorted by `gsi1sk`; `pk` → the table.
    let index = partition_attr.strip_suffix("pk").unwrap_or(partition_attr);
    let sort_attr = format!("{index}sk");
    let mut expected = vec!["pk".to_string(), "sk".to_string()];
    if !index.is_empty() {
        expected.extend([partition_attr.to_string(), sort_attr.clone()]);
    }
    let shaped = plain.len() == expected.len()
        && expected.iter().all(|name| plain.get(name).is_some_and(|v| !v.is_empty() && v.len() <= MAX_CURSOR_KEY_BYTES));
    if !shaped || plain.get(partition_attr).map(String::as_str) != Some(partition) || !range.admits(&plain[&sort_attr]) {
        return Err(bad());
    }
    Ok(plain.into_iter().map(|(k, v)| (k, s(v))).collect())
}

fn cancellation_codes(err: &SdkError<TransactWriteItemsError>) -> Option<Vec<String>> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => {
            Some(e.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect())
        }
        _ => None,
    }
}


fn failed_condition(codes: &[String], index: usize) -> bool {
    codes.get(index).is_some_and(|c| c == "ConditionalCheckFailed")
}

/// The update that moves a delivery status forward (messages and action answers alike): a later
/// status implies the earlier ones happened even if their callbacks never came; `None` for
/// statuses that never come from a callback. Pair it with the condition
/// `status_rank < :rank AND status_rank < :failed_rank` (monotonic, failed is final).
pub fn status_update(status: DeliveryStatus, failure: Option<&FailureReason>, at: DateTime<Utc>) -> Result<Option<(String, Item)>> {
    let mut values = HashMap::from([
        (":status".to_string(), s(status.as_str())),
        (":rank".to_string(), n(status.rank())),
        (":at".to_string(), s(at.to_rfc3339())),
        (":failed_rank".to_string(), n(DeliveryStatus::Failed.rank())),
    ]);
    let mut expression = String::from("SET #status = :status, status_rank = :rank");
    match status {
        DeliveryStatus::Sent => expression.push_str(", sent_at = if_not_exists(sent_at, :at)"),
        DeliveryStatus::Delivered => expression.push_str(", delivered_at = :at, sent_at = if_not_exists(sent_at, :at)"),
        DeliveryStatus::Read => expression
            .push_str(", read_at = :at, delivered_at = if_not_exists(delivered_at, :at), sent_at = if_not_exists(sent_at, :at)"),
        DeliveryStatus::Failed => {
            expression.push_str(", failed_at = :at, failure = :failure");
            let f = failure.cloned().unwrap_or_else(|| FailureReason::ours("failed", None));
            values.insert(":failure".into(), AttributeValue::M(to_item(&f)?));
        }
        DeliveryStatus::Queued | DeliveryStatus::Sending | DeliveryStatus::Received => return Ok(None),
    }
    Ok(Some((expression, values)))
}

/// Sorts after every timestamp: the open end of a range.
pub(crate) const END: &str = "~";

/// A key condition on one partition and a sort-key range.
pub(crate) struct IndexQuery<'a> {
    pub(crate) index: Option<&'a str>,
    pub(crate) partition_attr: &'a str,
    pub(crate) partition: String,
    pub(crate) sort_attr: &'a str,
    /// The sort key's fixed prefix (`O#`, `C#`) or "".
    pub(crate) prefix: &'a str,
    /// Sort-key bounds after the prefix: `from` inclusive, `to` exclusive (keys are `time#id`).
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) forward: bool,
}

/// Filter expressions, with their names and values.
#[derive(Default)]
pub(crate) struct Filters {
    clauses: Vec<String>,
    names: HashMap<String, String>,
    values: Item,
}

impl Filters {
    pub(crate) fn equals(&mut self, attr: &str, value: &str) {
        let (name, placeholder) = (format!("#f_{attr}"), format!(":f_{attr}"));
        self.clauses.push(format!("{name} = {placeholder}"));
        self.names.insert(name, attr.to_string());
        self.values.insert(placeholder, s(value));
    }

    pub(crate) fn compare(&mut self, attr: &str, op: &str, tag: &str, value: AttributeValue) {
        let (name, placeholder) = (format!("#f_{attr}"), format!(":f_{attr}_{tag}"));
        self.clauses.push(format!("{name} {op} {placeholder}"));
        self.names.insert(name, attr.to_string());
        self.values.insert(placeholder, value);
    }

    /// `attr` (a list or a set) holds `value`.
    pub(crate) fn contains(&mut self, attr: &str, value: &str) {
        let (name, placeholder) = (format!("#f_{attr}"), format!(":f_{attr}"));
        self.clauses.push(format!("contains({name}, {placeholder})"));
        self.names.insert(name, attr.to_string());
        self.values.insert(placeholder, s(value));
    }
}

#[derive(Debug)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Channels rarely change and every inbound message needs one: keep those found for a minute.
    channels: Mutex<HashMap<String, (Instant, Channel)>>,
    /// Rate-limit settings by organisation (`None`: the defaults), kept a minute likewise.
    rate_limits: Mutex<HashMap<String, (Instant, Option<crate::domain::rate_limit::StoredRateLimits>)>>,
    /// SLA policies by organisation (empty: none), kept a minute likewise.
    sla_policies: Mutex<HashMap<String, (Instant, Vec<crate::domain::sla::SlaPolicy>)>>,
}

const CHANNEL_CACHE_TTL: Duration = Duration::from_secs(60);

/// DynamoDB calls one filtered page may take before it answers short (each reads up to the page
/// size of items): bounds the latency and cost of a rare filter on a long partition.
pub const FILTERED_CALLS_PER_PAGE: usize = 5;


/// How long a client's idempotency key is remembered (replies, actions, interactions): clients
/// retry within seconds or minutes, not days.
pub const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into(), channels: Mutex::new(HashMap::new()), rate_limits: Mutex::new(HashMap::new()), sla_policies: Mutex::new(HashMap::new()) }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub async fn get<T: DeserializeOwned>(&self, key: (String, String)) -> Result<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        out.item.map(from_item).transpose()
    }

    /// A strongly consistent read, for read-modify-write paths that must see the latest write.
    pub async fn get_consistent<T: DeserializeOwned>(&self, key: (String, String)) -> Result<Option<T>> {
        self.get_item_consistent(key).await?.map(from_item).transpose()
    }

    async fn get_item_consistent(&self, key: (String, String)) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        Ok(out.item)
    }

    /// Several items in one strongly consistent BatchGetItem, in the order of `wanted` (`None` where
    /// absent). Keys DynamoDB leaves unprocessed (throttling) are read one by one rather than failed.
    pub async fn get_many_consistent(&self, wanted: &[(String, String)]) -> Result<Vec<Option<Item>>> {
        let mut request = KeysAndAttributes::builder().consistent_read(true);
        for key in wanted {
            request = request.keys(key_map(key.clone()));
        }
        let request = request.build().map_err(|e| Error::backend("dynamodb", e))?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, request)
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        let key_of = |item: &Item| {
            let attr = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            (attr("pk"), attr("sk"))
        };
        let mut found: Vec<Option<Item>> = vec![None; wanted.len()];
        for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
            if let Some(i) = wanted.iter().position(|w| *w == key_of(&item)) {
                found[i] = Some(item);
            }
        }
        let unprocessed = out.unprocessed_keys.unwrap_or_default().remove(&self.table).map(|k| k.keys).unwrap_or_default();
        for key in unprocessed {
            let key = key_of(&key);
            if let Some(i) = wanted.iter().position(|w| *w == key) {
                found[i] = self.get_item_consistent(key).await?;
            }
        }
        Ok(found)
    }

    pub async fn put(&self, item: Item) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        Ok(())
    }

    /// A put that must not overwrite: `AlreadyThere` when the key exists.
    pub async fn put_new(&self, item: Item) -> Result<Written> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Stored),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(Written::AlreadyThere),
            Err(e) => Err(super::sdk_error("dynamodb", e)),
        }
    }

    /// The transaction item that remembers a client's idempotency key for `IDEMPOTENCY_TTL`,
    /// pointing at what the request created; it fails (condition) when the key was used before.
    pub fn idempotency_put(&self, key: (String, String), target_id: &str, created_at: DateTime<Utc>) -> Result<TransactWriteItem> {
        let marker = HashMap::from([
            ("pk".to_string(), s(key.0)),
            ("sk".to_string(), s(key.1)),
            ("target_id".to_string(), s(target_id)),
            ("expires_at".to_string(), n((created_at + IDEMPOTENCY_TTL).timestamp())),
        ]);
        self.put_op(marker, Some("attribute_not_exists(pk)"), None)
    }

    /// The id an idempotency key points at, if the key was used (and not yet expired).
    pub async fn idempotency_target(&self, key: (String, String)) -> Result<Option<String>> {
        #[derive(serde::Deserialize)]
        struct Marker {
            target_id: String,
        }
        Ok(self.get_consistent::<Marker>(key).await?.map(|m| m.target_id))
    }

    /// The put of a link item (`pk`/`sk` only, written again harmlessly), inside a transaction.
    pub fn link_op(&self, key: (String, String)) -> Result<TransactWriteItem> {
        self.put_op(key_map(key), None, None)
    }

    /// A transaction item that writes nothing and holds only while the item at `key` is absent.
    pub fn absent_op(&self, key: (String, String)) -> Result<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| Error::backend("dynamodb", e))?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    pub fn put_op(&self, item: Item, condition: Option<&str>, values: Option<Item>) -> Result<TransactWriteItem> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some(c) = condition {
            put = put.condition_expression(c);
        }
        if let Some(v) = values {
            put = put.set_expression_attribute_values(Some(v));
        }
        Ok(TransactWriteItem::builder().put(put.build().map_err(|e| Error::backend("dynamodb", e))?).build())
    }

    /// Runs a transaction; on cancellation returns the per-item reason codes instead of an error.
    pub async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Result<(), Vec<String>>> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Ok(())),
            Err(e) => match cancellation_codes(&e) {
                Some(codes) if codes.iter().all(|c| c == "ConditionalCheckFailed" || c == "None") => Ok(Err(codes)),
                // Another transaction was writing one of the items at that moment: a concurrent
                // change like any other, which the optimistic-lock loops read again and retry.
                Some(codes) if codes.iter().any(|c| c == "TransactionConflict") => {
                    Err(Error::LostUpdate("item"))
                }
                _ => Err(super::sdk_error("dynamodb", e)),
            },
        }
    }

    /// One page of `query` (key condition, filter and values set; no `Limit` or start key) from
    /// the page's cursor: DynamoDB's pages are followed until `page.limit` items passed the filter
    /// or the partition ends, so a filter that drops items does not answer a short or empty page
    /// with a cursor. When a call's every evaluated item passed, its last key is the page's last
    /// item, so the cursor resumes right after it. At most [`FILTERED_CALLS_PER_PAGE`] calls per
    /// page (the page may then be short, still with its cursor).
    pub async fn query_filled<T: DeserializeOwned>(
        &self,
        query: QueryFluentBuilder,
        partition_attr: &str,
        partition: &str,
        range: &SortRange,
        page: &PageRequest,
    ) -> Result<Page<T>> {
        let mut start = page.cursor.as_deref().map(|c| decode_cursor(c, partition_attr, partition, range)).transpose()?;
        let mut items = Vec::new();
        for _ in 0..FILTERED_CALLS_PER_PAGE {
            let wanted = page.limit - items.len() as i32;
            let out = query
                .clone()
                .limit(wanted)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| super::sdk_error("dynamodb", e))?;
            for item in out.items.unwrap_or_default() {
                items.push(from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || items.len() as i32 >= page.limit {
                break;
            }
        }
        Ok(Page { items, next_cursor: start.as_ref().map(encode_cursor) })
    }

    /// A query on `index` (or the table) for one partition, newest first unless `forward`.
    #[allow(clippy::too_many_arguments)]
    pub async fn query_page<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        partition_attr: &str,
        partition: &str,
        sort_prefix: Option<(&str, &str)>,
        filter: Option<(&str, Item)>,
        forward: bool,
        page: &PageRequest,
    ) -> Result<Page<T>> {
        let mut key_condition = format!("{partition_attr} = :pk");
        let mut values: Item = HashMap::from([(":pk".to_string(), s(partition))]);
        let mut range = SortRange::all();
        if let Some((attr, prefix)) = sort_prefix {
            key_condition.push_str(&format!(" AND begins_with({attr}, :prefix)"));
            values.insert(":prefix".into(), s(prefix));
            range = SortRange::prefix(prefix);
        }
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(key_condition)
            .scan_index_forward(forward);
        if let Some((expression, filter_values)) = filter {
            query = query.filter_expression(expression);
            // DynamoDB refuses a name the expression does not use.
            if expression.contains("#status") {
                query = query.expression_attribute_names("#status", "status");
            }
            values.extend(filter_values);
        }
        self.query_filled(query.set_expression_attribute_values(Some(values)), partition_attr, partition, &range, page).await
    }

    /// Every item of a query, following its pages: for partitions that are small by design (a
    /// customer's links, an organisation's canned responses) or read whole on purpose (a deadline
    /// bucket).
    pub(super) async fn query_all(&self, query: QueryFluentBuilder) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = query.clone().set_exclusive_start_key(start.take()).send().await.map_err(|e| super::sdk_error("dynamodb", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// One partition (of the table or of `index`), whole, optionally only the sort keys that start
    /// with `prefix` (table partitions: the prefix applies to `sk`).
    pub(super) async fn partition(&self, index: Option<&str>, partition_attr: &str, partition: &str, prefix: Option<&str>) -> Result<Vec<Item>> {
        let mut query = self
            .client()
            .query()
            .table_name(self.table())
            .set_index_name(index.map(str::to_string))
            .expression_attribute_values(":pk", s(partition));
        query = match prefix {
            Some(p) => query.key_condition_expression(format!("{partition_attr} = :pk AND begins_with(sk, :prefix)")).expression_attribute_values(":prefix", s(p)),
            None => query.key_condition_expression(format!("{partition_attr} = :pk")),
        };
        self.query_all(query).await
    }

    /// A deadline index's minute bucket (gsi4 `pk`): every entry due at or before `up_to`, as
    /// (when, organisation, id) from its sort key `{at}#{org}#{id}`, all pages read. The SLA
    /// and interaction schedulers' one read of what is due.
    pub(crate) async fn due_entries(&self, pk: &str, up_to: DateTime<Utc>) -> Result<Vec<(DateTime<Utc>, String, String)>> {
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .index_name("gsi4")
            .key_condition_expression("gsi4pk = :pk AND gsi4sk <= :up_to")
            .expression_attribute_values(":pk", s(pk))
            // Every entry at `up_to` (the organisation and id follow the time).
            .expression_attribute_values(":up_to", s(format!("{}#~", sort_time(up_to))));
        let mut due = Vec::new();
        for item in self.query_all(query).await? {
            let Some(sk) = item.get("gsi4sk").and_then(|v| v.as_s().ok()) else { continue };
            let mut parts = sk.splitn(3, '#');
            let (Some(at), Some(org), Some(id)) = (parts.next(), parts.next(), parts.next()) else { continue };
            let Ok(at) = DateTime::parse_from_rfc3339(at) else { continue };
            due.push((at.with_timezone(&Utc), org.to_string(), id.to_string()));
        }
        Ok(due)
    }

    /// One page of a partition of the table or of an index, between sort-key bounds, with filters.
    pub(crate) async fn query_index<T: DeserializeOwned>(&self, q: IndexQuery<'_>, filters: Filters, page: &PageRequest) -> Result<Page<T>> {
        let mut names: HashMap<String, String> = filters.names;
        let mut values: Item = filters.values;
        names.insert("#pk".into(), q.partition_attr.into());
        values.insert(":pk".into(), s(&q.partition));
        let mut condition = "#pk = :pk".to_string();
        let (from, to) = (q.from.map(|f| format!("{}{f}", q.prefix)), q.to.map(|t| format!("{}{t}", q.prefix)));
        let range = match (from, to) {
            (Some(lo), Some(hi)) => Some(("BETWEEN :lo AND :hi", Some(lo), Some(hi))),
            (Some(lo), None) if q.prefix.is_empty() => Some((">= :lo", Some(lo), None)),
            (Some(lo), None) => Some(("BETWEEN :lo AND :hi", Some(lo), Some(format!("{}{END}", q.prefix)))),
            (None, Some(hi)) if q.prefix.is_empty() => Some(("< :hi", None, Some(hi))),
            (None, Some(hi)) => Some(("BETWEEN :lo AND :hi", Some(q.prefix.to_string()), Some(hi))),
            (None, None) if q.prefix.is_empty() => None,
            (None, None) => Some(("BETWEEN :lo AND :hi", Some(q.prefix.to_string()), Some(format!("{}{END}", q.prefix)))),
        };
        let admitted = range.as_ref().map_or_else(SortRange::all, |(_, lo, hi)| SortRange::between(lo.clone(), hi.clone()));
        if let Some((op, lo, hi)) = range {
            names.insert("#sk".into(), q.sort_attr.into());
            condition.push_str(&format!(" AND #sk {op}"));
            if let Some(lo) = lo {
                values.insert(":lo".into(), s(lo));
            }
            if let Some(hi) = hi {
                values.insert(":hi".into(), s(hi));
            }
        }
        let mut query = self
            .client()
            .query()
            .table_name(self.table())
            .set_index_name(q.index.map(str::to_string))
            .key_condition_expression(condition)
            .scan_index_forward(q.forward)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        if !filters.clauses.is_empty() {
            query = query.filter_expression(filters.clauses.join(" AND "));
        }
        self.query_filled(query, q.partition_attr, &q.partition, &admitted, page).await
    }

    /// The delete of `key` inside a transaction, under `condition` if any.
    pub fn delete_op(&self, key: (String, String), condition: Option<(&str, Item)>) -> Result<TransactWriteItem> {
        let mut delete = Delete::builder().table_name(&self.table).set_key(Some(key_map(key)));
        if let Some((expression, values)) = condition {
            // DynamoDB refuses an empty map of values (`attribute_exists(pk)` needs none).
            delete = delete.condition_expression(expression).set_expression_attribute_values((!values.is_empty()).then_some(values));
        }
        Ok(TransactWriteItem::builder().delete(delete.build().map_err(|e| Error::backend("dynamodb", e))?).build())
    }

    pub fn update_op(&self, key: (String, String), expression: &str, condition: Option<&str>, values: Item, names: Option<HashMap<String, String>>) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_values(Some(values))
            .set_expression_attribute_names(names)
            .build()
            .map_err(|e| Error::backend("dynamodb", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A single conditional update; `AlreadyThere` when the condition does not hold.
    async fn update_if(&self, key: (String, String), expression: &str, condition: &str, values: Item) -> Result<Written> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .expression_attribute_names("#status", "status")
            .return_values(ReturnValue::None)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Stored),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(Written::AlreadyThere),
            Err(e) => Err(super::sdk_error("dynamodb", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::{Direction, Message};

    #[test]
    fn cursors_round_trip_and_stay_in_their_partition() {
        let key: Item = HashMap::from([("pk".to_string(), s("ORG#a#CONV#1")), ("sk".to_string(), s("MSG#2"))]);
        let cursor = encode_cursor(&key);
        let messages = SortRange::prefix("MSG#");
        assert_eq!(decode_cursor(&cursor, "pk", "ORG#a#CONV#1", &messages).unwrap(), key);
        assert!(decode_cursor(&cursor, "pk", "ORG#b#CONV#1", &messages).is_err());
        assert!(decode_cursor("!!", "pk", "x", &messages).is_err());
    }

    #[test]
    fn a_cursor_carries_exactly_the_keys_of_its_index_within_its_range() {
        let plain = |pairs: &[(&str, &str)]| {
            let key: Item = pairs.iter().map(|(k, v)| (k.to_string(), s(*v))).collect();
            encode_cursor(&key)
        };
        let gsi1 = [("pk", "ORG#a#CONV#1"), ("sk", "CONVERSATION"), ("gsi1pk", "ORG#a#CONVS"), ("gsi1sk", "2026-01-01T00:00:00.000Z")];
        assert!(decode_cursor(&plain(&gsi1), "gsi1pk", "ORG#a#CONVS", &SortRange::all()).is_ok());
        let refused = |pairs: &[(&str, &str)], range: &SortRange| decode_cursor(&plain(pairs), "gsi1pk", "ORG#a#CONVS", range).is_err();
        assert!(refused(&[gsi1.as_slice(), &[("status", "open")]].concat(), &SortRange::all()), "an attribute that is no key");
        assert!(refused(&gsi1[1..], &SortRange::all()), "a key missing");
        assert!(refused(&[&gsi1[..3], &[("gsi1sk", "")]].concat(), &SortRange::all()), "an empty key");
        let long = "9".repeat(MAX_CURSOR_KEY_BYTES + 1);
        assert!(refused(&[&gsi1[..3], &[("gsi1sk", long.as_str())]].concat(), &SortRange::all()), "a key past DynamoDB's size");
        assert!(refused(&gsi1, &SortRange::prefix("O#")), "outside a prefix");
        assert!(refused(&gsi1, &SortRange::between(Some("2027".into()), None)), "below the range");
        assert!(refused(&gsi1, &SortRange::between(None, Some("2025".into()))), "above the range");
        let numeric = URL_SAFE_NO_PAD.encode(r#"{"pk":"ORG#a#CONV#1","sk":7}"#);
        assert!(decode_cursor(&numeric, "pk", "ORG#a#CONV#1", &SortRange::all()).is_err(), "a key that is not text");
    }

    #[test]
    fn only_outbound_messages_still_queued_are_in_the_outbox() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        let mut m: Message = serde_json::from_value(serde_json::json!({
            "id": "M1", "org_id": "o1", "conversation_id": "c1", "customer_id": "u1", "direction": "outbound",
            "type": "text", "status": "queued", "sender": { "type": "agent" }, "created_at": at
        }))
        .unwrap();
        let attr = |item: &Item, name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let item = message_item(&m).unwrap();
        let shard = attr(&item, "gsi2pk").unwrap();
        assert!(shard.starts_with("REPLY_OUTBOX#") && shard["REPLY_OUTBOX#".len()..].parse::<u32>().unwrap() < REPLY_OUTBOX_SHARDS);
        assert_eq!(attr(&item, "gsi2sk").as_deref(), Some("2026-01-02T03:04:05.000Z#M1"));
        m.status = DeliveryStatus::Sent;
        assert_eq!(attr(&message_item(&m).unwrap(), "gsi2pk"), None);
        m.status = DeliveryStatus::Received;
        for direction in [Direction::Inbound, Direction::Internal] {
            m.direction = direction;
            assert_eq!(attr(&message_item(&m).unwrap(), "gsi2pk"), None);
        }
    }

    #[test]
    fn sort_times_sort_as_strings() {
        let a = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        let b = a + chrono::Duration::milliseconds(1);
        assert!(sort_time(a) < sort_time(b));
    }
}
