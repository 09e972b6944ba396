//! DynamoDB: one table, every key prefixed by the organisation. `docs/data-model.md` lists each
//! access pattern and the key or index that serves it; nothing here scans.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::channel::{Channel, WhatsAppTemplateStatus};
use crate::domain::conversation::{Conversation, ConversationStatus};
use crate::domain::customer::{Customer, WhatsAppIdentity};
use crate::domain::ids::sha256_hex;
use crate::domain::message::{DeliveryStatus, Direction, FailureReason, Message};
use crate::error::{Error, Result};
use crate::ports::{
    ChannelDirectory, ConversationFilter, ConversationStore, CustomerStore, EarlyStatus, MessageStore, Page, PageRequest,
    TemplateStatusStore, Written,
};

pub type Item = HashMap<String, AttributeValue>;

/// Key layout. Every partition key of tenant data starts with `ORG#{org}`.
pub mod keys {
    pub fn channel(phone_number_id: &str) -> (String, String) {
        (format!("WACHANNEL#{phone_number_id}"), "CHANNEL".into())
    }
    pub fn waba(waba_id: &str) -> (String, String) {
        (format!("WABA#{waba_id}"), "WABA".into())
    }
    pub fn customer(org: &str, customer: &str) -> (String, String) {
        (format!("ORG#{org}#CUSTOMER#{customer}"), "CUSTOMER".into())
    }
    pub fn whatsapp_identity(org: &str, address: &str) -> (String, String) {
        (format!("ORG#{org}#WA#{address}"), "IDENTITY".into())
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
/// A message as stored: keyed in its conversation, with its status rank (for monotonic status
/// updates) and, while it is an outbound message still `queued`, in the outbox index.
pub fn message_item(m: &Message) -> Result<Item> {
    let mut item = keyed(m, keys::message(&m.org_id, &m.conversation_id, &m.id), &[])?;
    item.insert("status_rank".into(), n(m.status.rank()));
    if m.direction == Direction::Outbound && m.status == DeliveryStatus::Queued {
        item.insert("gsi2pk".into(), s(keys::reply_outbox(reply_outbox_shard(&m.id))));
        item.insert("gsi2sk".into(), s(format!("{}#{}", sort_time(m.created_at), m.id)));
    }
    Ok(item)
}

pub fn key_map(key: (String, String)) -> Item {
    HashMap::from([("pk".to_string(), s(key.0)), ("sk".to_string(), s(key.1))])
}

/// Opaque cursor: the last evaluated key, base64url JSON. Only string keys exist in this table.
pub fn encode_cursor(key: &Item) -> String {
    let plain: HashMap<&str, &str> = key.iter().filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str()))).collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&plain).unwrap_or_default())
}

/// Reads a cursor back, refusing one that points into another partition (another organisation).
pub fn decode_cursor(cursor: &str, partition_attr: &str, partition: &str) -> Result<Item> {
    let bad = || Error::invalid("cursor", "is not a cursor this list returned");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let plain: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if plain.get(partition_attr).map(String::as_str) != Some(partition) {
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

/// A sent or failed message leaves the outbox index.
const OUT_OF_THE_OUTBOX: &str = " REMOVE gsi2pk, gsi2sk";

fn reply_key(message: &Message, key: &str) -> (String, String) {
    keys::reply_idempotency(&message.org_id, &message.conversation_id, &sha256_hex(key.as_bytes()))
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
        DeliveryStatus::Queued | DeliveryStatus::Received => return Ok(None),
    }
    Ok(Some((expression, values)))
}

#[derive(Debug)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Channels rarely change and every inbound message needs one: keep them for a minute.
    channels: Mutex<HashMap<String, (Instant, Option<Channel>)>>,
}

const CHANNEL_CACHE_TTL: Duration = Duration::from_secs(60);

/// DynamoDB calls one filtered page may take before it answers short (each reads up to the page
/// size of items): bounds the latency and cost of a rare filter on a long partition.
pub const FILTERED_CALLS_PER_PAGE: usize = 5;

/// Every queued outbound message writes the outbox index: spread over shards so one partition
/// does not cap the whole system's sending rate (~1,000 index writes per second per partition).
pub const REPLY_OUTBOX_SHARDS: u32 = 8;

fn reply_outbox_shard(message_id: &str) -> u32 {
    message_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % REPLY_OUTBOX_SHARDS
}

/// How long a client's idempotency key is remembered (replies, actions, interactions): clients
/// retry within seconds or minutes, not days.
pub const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into(), channels: Mutex::new(HashMap::new()) }
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
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        partition_attr: &str,
        partition: &str,
        page: &PageRequest,
    ) -> Result<Page<T>> {
        let mut start = page.cursor.as_deref().map(|c| decode_cursor(c, partition_attr, partition)).transpose()?;
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
        if let Some((attr, prefix)) = sort_prefix {
            key_condition.push_str(&format!(" AND begins_with({attr}, :prefix)"));
            values.insert(":prefix".into(), s(prefix));
        }
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(key_condition)
            .scan_index_forward(forward);
        if let Some((expression, filter_values)) = filter {
            query = query.filter_expression(expression).expression_attribute_names("#status", "status");
            values.extend(filter_values);
        }
        self.query_filled(query.set_expression_attribute_values(Some(values)), partition_attr, partition, page).await
    }


    fn conversation_item(&self, c: &Conversation) -> Result<Item> {
        let sort = format!("{}#{}", sort_time(c.last_message_at), c.id);
        let mut extra = vec![
            ("gsi1pk", keys::conversations_all(&c.org_id)),
            ("gsi1sk", sort.clone()),
            ("gsi2pk", keys::conversations_by_status(&c.org_id, c.status.as_str())),
            ("gsi2sk", sort.clone()),
        ];
        if let Some(a) = &c.assignee_id {
            extra.push(("gsi3pk", keys::conversations_by_assignee(&c.org_id, a)));
            extra.push(("gsi3sk", sort));
        }
        keyed(c, keys::conversation(&c.org_id, &c.id), &extra)
    }

    /// The put that saves conversation `c` at `c.version`: over version - 1, or new when version is 1.
    pub fn conversation_put(&self, c: &Conversation) -> Result<TransactWriteItem> {
        let item = self.conversation_item(c)?;
        if c.version <= 1 {
            self.put_op(item, Some("attribute_not_exists(pk)"), None)
        } else {
            let values = HashMap::from([(":previous".to_string(), n(c.version - 1))]);
            self.put_op(item, Some("version = :previous"), Some(values))
        }
    }

    /// Saves a changed conversation (its `version` already advanced), refusing a lost update.
    pub async fn save_conversation(&self, c: &Conversation) -> Result<()> {
        match self.transact(vec![self.conversation_put(c)?]).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::LostUpdate("conversation")),
        }
    }

    fn wamid_item(&self, org: &str, wamid: &str, conversation_id: &str, message_id: &str) -> Item {
        let (pk, sk) = keys::wamid(org, wamid);
        HashMap::from([
            ("pk".to_string(), s(pk)),
            ("sk".to_string(), s(sk)),
            ("conversation_id".to_string(), s(conversation_id)),
            ("message_id".to_string(), s(message_id)),
        ])
    }

    pub fn update_op(&self, key: (String, String), expression: &str, condition: &str, values: Item, names: Option<HashMap<String, String>>) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .update_expression(expression)
            .condition_expression(condition)
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

#[async_trait]
impl ChannelDirectory for DynamoStore {
    async fn put_channel(&self, channel: &Channel) -> Result<()> {
        self.put(keyed(channel, keys::channel(&channel.phone_number_id), &[])?).await?;
        if let Some(waba) = &channel.waba_id {
            let item = HashMap::from([
                ("pk".to_string(), s(keys::waba(waba).0)),
                ("sk".to_string(), s(keys::waba(waba).1)),
                ("org_id".to_string(), s(&channel.org_id)),
            ]);
            self.put(item).await?;
        }
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).remove(&channel.phone_number_id);
        Ok(())
    }

    async fn channel_by_number(&self, phone_number_id: &str) -> Result<Option<Channel>> {
        if let Some((at, cached)) = self.channels.lock().unwrap_or_else(|p| p.into_inner()).get(phone_number_id) {
            if at.elapsed() < CHANNEL_CACHE_TTL {
                return Ok(cached.clone());
            }
        }
        let channel: Option<Channel> = self.get(keys::channel(phone_number_id)).await?;
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(phone_number_id.to_string(), (Instant::now(), channel.clone()));
        Ok(channel)
    }

    async fn org_by_waba(&self, waba_id: &str) -> Result<Option<String>> {
        #[derive(serde::Deserialize)]
        struct Waba {
            org_id: String,
        }
        Ok(self.get::<Waba>(keys::waba(waba_id)).await?.map(|w| w.org_id))
    }
}

#[async_trait]
impl CustomerStore for DynamoStore {
    async fn whatsapp_identity(&self, org_id: &str, address: &str) -> Result<Option<WhatsAppIdentity>> {
        self.get(keys::whatsapp_identity(org_id, address)).await
    }

    async fn create_customer(&self, customer: &Customer, identity: &WhatsAppIdentity, conversation: &Conversation) -> Result<Written> {
        let not_exists = Some("attribute_not_exists(pk)");
        let items = vec![
            self.put_op(keyed(identity, keys::whatsapp_identity(&identity.org_id, &identity.address), &[])?, not_exists, None)?,
            self.put_op(keyed(customer, keys::customer(&customer.org_id, &customer.id), &[])?, not_exists, None)?,
            self.conversation_put(conversation)?,
        ];
        Ok(match self.transact(items).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }

    async fn open_conversation(&self, identity: &WhatsAppIdentity, previous: Option<&str>, conversation: &Conversation) -> Result<Written> {
        let mut values = HashMap::from([(":new".to_string(), s(&conversation.id))]);
        let condition = match previous {
            Some(p) => {
                values.insert(":previous".into(), s(p));
                "open_conversation_id = :previous"
            }
            None => "attribute_exists(pk) AND attribute_not_exists(open_conversation_id)",
        };
        let items = vec![
            self.update_op(
                keys::whatsapp_identity(&identity.org_id, &identity.address),
                "SET open_conversation_id = :new",
                condition,
                values,
                None,
            )?,
            self.conversation_put(conversation)?,
        ];
        Ok(match self.transact(items).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }

    async fn customer(&self, org_id: &str, customer_id: &str) -> Result<Option<Customer>> {
        self.get(keys::customer(org_id, customer_id)).await
    }
}

#[async_trait]
impl ConversationStore for DynamoStore {
    async fn conversation(&self, org_id: &str, conversation_id: &str) -> Result<Option<Conversation>> {
        self.get(keys::conversation(org_id, conversation_id)).await
    }

    async fn conversations(&self, org_id: &str, filter: &ConversationFilter, page: &PageRequest) -> Result<Page<Conversation>> {
        match (&filter.assignee_id, filter.status) {
            (Some(assignee), status) => {
                let status_filter =
                    status.map(|st| ("#status = :status", HashMap::from([(":status".to_string(), s(st.as_str()))])));
                let pk = keys::conversations_by_assignee(org_id, assignee);
                self.query_page(Some("gsi3"), "gsi3pk", &pk, None, status_filter, false, page).await
            }
            (None, Some(status)) => {
                let pk = keys::conversations_by_status(org_id, status.as_str());
                self.query_page(Some("gsi2"), "gsi2pk", &pk, None, None, false, page).await
            }
            (None, None) => self.query_page(Some("gsi1"), "gsi1pk", &keys::conversations_all(org_id), None, None, false, page).await,
        }
    }

    async fn assign(&self, org_id: &str, conversation_id: &str, assignee_id: Option<&str>, at: DateTime<Utc>) -> Result<Conversation> {
        // Read, change, write over the version read; a concurrent change makes us read again.
        for _ in 0..5 {
            let mut c = self.conversation(org_id, conversation_id).await?.ok_or(Error::NotFound("conversation"))?;
            c.assignee_id = assignee_id.map(str::to_string);
            c.updated_at = at;
            c.version += 1;
            match self.save_conversation(&c).await {
                Ok(()) => return Ok(c),
                Err(Error::LostUpdate(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::LostUpdate("conversation"))
    }

    async fn close(&self, c: &Conversation, at: DateTime<Utc>) -> Result<Written> {
        let mut closed = c.clone();
        closed.status = ConversationStatus::Closed;
        closed.closed_at = Some(at);
        closed.updated_at = at;
        closed.version += 1;
        let values = HashMap::from([(":conversation".to_string(), s(&c.id))]);
        let items = vec![
            self.conversation_put(&closed)?,
            self.update_op(
                keys::whatsapp_identity(&c.org_id, &c.customer_address),
                "REMOVE open_conversation_id",
                "attribute_not_exists(open_conversation_id) OR open_conversation_id = :conversation",
                values,
                None,
            )?,
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(Written::Stored),
            Err(codes) if failed_condition(&codes, 0) => Err(Error::LostUpdate("conversation")),
            Err(_) => Ok(Written::AlreadyThere),
        }
    }

    async fn reopen(&self, c: &Conversation, at: DateTime<Utc>) -> Result<Written> {
        let mut open = c.clone();
        open.status = ConversationStatus::Open;
        open.closed_at = None;
        open.updated_at = at;
        open.version += 1;
        let values = HashMap::from([(":conversation".to_string(), s(&c.id))]);
        let items = vec![
            self.conversation_put(&open)?,
            self.update_op(
                keys::whatsapp_identity(&c.org_id, &c.customer_address),
                "SET open_conversation_id = :conversation",
                "attribute_not_exists(open_conversation_id) OR open_conversation_id = :conversation",
                values,
                None,
            )?,
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(Written::Stored),
            Err(codes) if failed_condition(&codes, 0) => Err(Error::LostUpdate("conversation")),
            Err(_) => Ok(Written::AlreadyThere),
        }
    }
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn record_inbound(&self, message: &Message, conversation: &Conversation) -> Result<Written> {
        let wamid = message.wamid.as_deref().ok_or_else(|| Error::invalid("wamid", "inbound messages carry one"))?;
        let not_exists = Some("attribute_not_exists(pk)");
        let items = vec![
            self.put_op(self.wamid_item(&message.org_id, wamid, &message.conversation_id, &message.id), not_exists, None)?,
            self.put_op(message_item(message)?, not_exists, None)?,
            self.conversation_put(conversation)?,
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(Written::Stored),
            Err(codes) if failed_condition(&codes, 0) || failed_condition(&codes, 1) => Ok(Written::AlreadyThere),
            Err(_) => Err(Error::LostUpdate("conversation")),
        }
    }

    async fn record_outbound(&self, message: &Message, conversation: &Conversation) -> Result<Written> {
        let mut items = vec![
            self.put_op(message_item(message)?, Some("attribute_not_exists(pk)"), None)?,
            self.conversation_put(conversation)?,
        ];
        if let Some(key) = &message.idempotency_key {
            items.push(self.idempotency_put(reply_key(message, key), &message.id, message.created_at)?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(Written::Stored),
            Err(codes) if failed_condition(&codes, 0) || failed_condition(&codes, 2) => Ok(Written::AlreadyThere),
            Err(_) => Err(Error::LostUpdate("conversation")),
        }
    }

    async fn queued_between(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit_per_shard: i32) -> Result<Vec<Message>> {
        let page = PageRequest { limit: limit_per_shard, cursor: None };
        let shards = (0..REPLY_OUTBOX_SHARDS).map(|shard| {
            let partition = keys::reply_outbox(shard);
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi2")
                .key_condition_expression("gsi2pk = :pk AND gsi2sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(&partition))
                .expression_attribute_values(":from", s(sort_time(from)))
                // Past every id stored at `to`.
                .expression_attribute_values(":to", s(format!("{}#~", sort_time(to))));
            let page = &page;
            async move { Ok::<_, Error>(self.query_filled::<Message>(query, "gsi2pk", &partition, page).await?.items) }
        });
        Ok(futures::future::try_join_all(shards).await?.into_iter().flatten().collect())
    }

    async fn message_by_idempotency_key(&self, org_id: &str, conversation_id: &str, key: &str) -> Result<Option<Message>> {
        let marker = keys::reply_idempotency(org_id, conversation_id, &sha256_hex(key.as_bytes()));
        match self.idempotency_target(marker).await? {
            Some(id) => self.message(org_id, conversation_id, &id).await,
            None => Ok(None),
        }
    }

    async fn message(&self, org_id: &str, conversation_id: &str, message_id: &str) -> Result<Option<Message>> {
        self.get(keys::message(org_id, conversation_id, message_id)).await
    }

    async fn message_with_conversation(&self, org_id: &str, conversation_id: &str, message_id: &str) -> Result<(Option<Message>, Option<Conversation>)> {
        let wanted = [keys::message(org_id, conversation_id, message_id), keys::conversation(org_id, conversation_id)];
        let mut found = self.get_many_consistent(&wanted).await?.into_iter();
        let message = found.next().flatten().map(from_item).transpose()?;
        let conversation = found.next().flatten().map(from_item).transpose()?;
        Ok((message, conversation))
    }

    async fn messages(&self, org_id: &str, conversation_id: &str, page: &PageRequest, newest_first: bool) -> Result<Page<Message>> {
        let pk = keys::conversation_pk(org_id, conversation_id);
        self.query_page(None, "pk", &pk, Some(("sk", "MSG#")), None, !newest_first, page).await
    }

    async fn mark_sent(&self, message: &Message, wamid: &str, at: DateTime<Utc>, sent_as_template: Option<&str>) -> Result<(Written, Vec<EarlyStatus>)> {
        let mut values = HashMap::from([
            (":sent".to_string(), s(DeliveryStatus::Sent.as_str())),
            (":rank".to_string(), n(DeliveryStatus::Sent.rank())),
            (":queued".to_string(), s(DeliveryStatus::Queued.as_str())),
            (":wamid".to_string(), s(wamid)),
            (":at".to_string(), s(at.to_rfc3339())),
        ]);
        let mut expression = "SET #status = :sent, status_rank = :rank, wamid = :wamid, sent_at = :at".to_string();
        if let Some(t) = sent_as_template {
            expression.push_str(", sent_as_template = :template");
            values.insert(":template".into(), s(t));
        }
        expression.push_str(OUT_OF_THE_OUTBOX);
        let names = Some(HashMap::from([("#status".to_string(), "status".to_string())]));
        let org = message.org_id.as_str();
        let mut items = vec![
            self.update_op(keys::message(org, &message.conversation_id, &message.id), &expression, "#status = :queued", values, names)?,
            self.put_op(self.wamid_item(org, wamid, &message.conversation_id, &message.id), None, None)?,
        ];
        // Usually nothing came before us: checked in the same transaction, so it costs no call.
        let early_key = keys::early_statuses(org, wamid);
        items.push(self.absent_op(early_key.clone())?);
        match self.transact(items.clone()).await? {
            Ok(()) => return Ok((Written::Stored, Vec::new())),
            Err(codes) if !failed_condition(&codes, 2) => return Ok((Written::AlreadyThere, Vec::new())),
            Err(_) => {}
        }
        // Meta called back first. Record the send: from then on no status can be kept any more
        // (keeping checks the marker is absent), so what is kept after the commit is all of them.
        items.pop();
        if self.transact(items).await?.is_err() {
            return Ok((Written::AlreadyThere, Vec::new()));
        }
        let mut early: Vec<EarlyStatus> = match self.get_item_consistent(early_key.clone()).await? {
            Some(item) => [DeliveryStatus::Delivered, DeliveryStatus::Read, DeliveryStatus::Failed]
                .iter()
                .filter_map(|st| item.get(st.as_str()).and_then(|v| v.as_m().ok()).cloned())
                .map(from_item)
                .collect::<Result<_>>()?,
            None => Vec::new(),
        };
        early.sort_by_key(|e| (e.status.rank(), e.at));
        let mut applied = Vec::new();
        for e in early {
            if self.apply_status(org, wamid, e.status, e.failure.as_ref(), e.at).await? == Written::Stored {
                applied.push(e);
            }
        }
        // Applied: not needed any more (the TTL would remove it too).
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(early_key)))
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        Ok((Written::Stored, applied))
    }

    async fn mark_failed(&self, message: &Message, failure: &FailureReason, at: DateTime<Utc>) -> Result<Written> {
        let values = HashMap::from([
            (":failed".to_string(), s(DeliveryStatus::Failed.as_str())),
            (":rank".to_string(), n(DeliveryStatus::Failed.rank())),
            (":failure".to_string(), AttributeValue::M(to_item(failure)?)),
            (":at".to_string(), s(at.to_rfc3339())),
        ]);
        self.update_if(
            keys::message(&message.org_id, &message.conversation_id, &message.id),
            &format!("SET #status = :failed, status_rank = :rank, failure = :failure, failed_at = :at{OUT_OF_THE_OUTBOX}"),
            "attribute_exists(pk) AND status_rank < :rank",
            values,
        )
        .await
    }

    async fn apply_status(&self, org_id: &str, wamid: &str, status: DeliveryStatus, failure: Option<&FailureReason>, at: DateTime<Utc>) -> Result<Written> {
        #[derive(serde::Deserialize)]
        struct Marker {
            conversation_id: String,
            message_id: String,
        }
        let mut marker = self.get_consistent::<Marker>(keys::wamid(org_id, wamid)).await?;
        if marker.is_none() {
            // The send is not recorded yet (or the WhatsApp id is not ours): keep the status for
            // `mark_sent` — unless the send gets recorded in between, then apply it after all.
            let entry = EarlyStatus { status, failure: failure.cloned(), at };
            let values = HashMap::from([
                (":entry".to_string(), AttributeValue::M(to_item(&entry)?)),
                (":expires".to_string(), n((at + chrono::Duration::days(7)).timestamp())),
            ]);
            let keep = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key_map(keys::early_statuses(org_id, wamid))))
                .update_expression("SET #status = :entry, expires_at = :expires")
                .expression_attribute_names("#status", status.as_str())
                .set_expression_attribute_values(Some(values))
                .build()
                .map_err(|e| Error::backend("dynamodb", e))?;
            let items = vec![self.absent_op(keys::wamid(org_id, wamid))?, TransactWriteItem::builder().update(keep).build()];
            if self.transact(items).await?.is_ok() {
                return Ok(Written::AlreadyThere);
            }
            marker = self.get_consistent::<Marker>(keys::wamid(org_id, wamid)).await?;
        }
        let Some(marker) = marker else {
            return Ok(Written::AlreadyThere);
        };
        let Some((expression, values)) = status_update(status, failure, at)? else {
            return Ok(Written::AlreadyThere);
        };
        self.update_if(
            keys::message(org_id, &marker.conversation_id, &marker.message_id),
            &expression,
            "attribute_exists(pk) AND status_rank < :rank AND status_rank < :failed_rank",
            values,
        )
        .await
    }
}

#[async_trait]
impl TemplateStatusStore for DynamoStore {
    async fn record_template_status(&self, status: &WhatsAppTemplateStatus) -> Result<()> {
        self.put(keyed(status, keys::whatsapp_template(&status.org_id, &status.template_id), &[])?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stay_in_their_partition() {
        let key: Item = HashMap::from([("pk".to_string(), s("ORG#a#CONV#1")), ("sk".to_string(), s("MSG#2"))]);
        let cursor = encode_cursor(&key);
        assert_eq!(decode_cursor(&cursor, "pk", "ORG#a#CONV#1").unwrap(), key);
        assert!(decode_cursor(&cursor, "pk", "ORG#b#CONV#1").is_err());
        assert!(decode_cursor("!!", "pk", "x").is_err());
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
