//! DynamoDB for support tickets and the bot: tickets with their messages, lists by status,
//! priority and assignee (GSIs 1-3, newest first, never a scan), the counter item kept in the
//! same transaction as every ticket write, and each organisation's bot settings. Keys are in
//! `docs/data-model.md` ("Support tickets and the bot").

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, TransactWriteItem, Update, WriteRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;

use super::{DynamoStore, Item, key_map, n, from_item, keyed, s};
use crate::domain::bot::StoredBotSettings;
use crate::domain::message::DeliveryStatus;
use crate::domain::audit::AuditEntry;
use crate::domain::support::{
    Assigned, DailyTicketCap, SupportTicket, TicketCounts, TicketFilter, TicketMessage, TicketStatus, counter_changes, daily_limit_reached,
};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{BotStore, Page, PageRequest, SupportStore, TicketWrite, Written};

/// Key layout of tickets and the bot. Every partition key starts with `ORG#{org}`.
pub mod keys {
    use crate::domain::support::{TicketPriority, TicketStatus};

    /// A ticket and its messages share a partition: `TICKET` and `MSG#{message id}`.
    pub fn ticket_pk(org: &str, ticket: &str) -> String {
        format!("ORG#{org}#TICKET#{ticket}")
    }
    pub fn ticket(org: &str, ticket: &str) -> (String, String) {
        (ticket_pk(org, ticket), "TICKET".into())
    }
    pub fn ticket_message(org: &str, ticket: &str, message: &str) -> (String, String) {
        (ticket_pk(org, ticket), format!("MSG#{message}"))
    }
    /// GSI sort key of every ticket list: ticket ids are ULIDs, so this is creation order.
    pub fn ticket_sort(ticket: &str) -> String {
        format!("TICKET#{ticket}")
    }
    /// gsi1: tickets by status.
    pub fn tickets_by_status(org: &str, status: TicketStatus) -> String {
        format!("ORG#{org}#TICKETS#STATUS#{status}")
    }
    /// gsi2: tickets by priority.
    pub fn tickets_by_priority(org: &str, priority: TicketPriority) -> String {
        format!("ORG#{org}#TICKETS#PRIORITY#{priority}")
    }
    /// gsi3: tickets by assigned admin, or nobody's.
    pub fn tickets_by_assignee(org: &str, assignee: Option<&str>) -> String {
        match assignee {
            Some(a) => format!("ORG#{org}#TICKETS#ASSIGNEE#{a}"),
            None => format!("ORG#{org}#TICKETS#UNASSIGNED"),
        }
    }
    /// One item per organisation with a number attribute per counter (`n:s=OPEN`, ...).
    pub fn ticket_counters(org: &str) -> (String, String) {
        (format!("ORG#{org}#SUPPORT"), "COUNTERS".into())
    }
    /// gsi4 (KEYS_ONLY): the tickets carrying one external reference.
    pub fn tickets_by_external_ref(org: &str, external_ref: &str) -> String {
        format!("ORG#{org}#TICKETS#REF#{external_ref}")
    }
    /// A customer's tickets opened on one UTC day (`n`), against the daily cap; TTL two days on.
    pub fn daily_ticket_cap(org: &str, customer: &str, day: &str) -> (String, String) {
        (format!("ORG#{org}#TICKETCAP#{customer}"), format!("DAY#{day}"))
    }
    pub fn bot_settings(org: &str) -> (String, String) {
        (format!("ORG#{org}#BOT"), "SETTINGS".into())
    }
}

fn sdk(e: impl std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static) -> Error {
    crate::adapters::sdk_error("dynamodb", e)
}

/// How a transaction ended: done, or cancelled with a reason code per item.
enum Outcome {
    Done,
    Cancelled(Vec<String>),
}

fn cancellation_codes(err: &SdkError<TransactWriteItemsError>) -> Option<Vec<String>> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => {
            Some(e.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect())
        }
        _ => None,
    }
}

/// Cursor of a ticket list: the id the next page continues below. Every list is ordered by
/// ticket id, so one id continues any of them, merged or filtered.
fn encode_before(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("before:{id}"))
}

fn decode_before(cursor: &str) -> Result<String> {
    let bad = || Error::invalid("cursor", "is not a cursor this list returned");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?).map_err(|_| bad())?;
    let id = text.strip_prefix("before:").ok_or_else(bad)?;
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(bad());
    }
    Ok(id.to_string())
}

/// At most this many queries per partition for one page when a filter drops items.
const MAX_ROUNDS: usize = 4;

/// The part of a list filter the chosen index does not key on.
struct ListFilter {
    expression: String,
    names: HashMap<String, String>,
    values: Item,
}

/// One index partition of a ticket list, read down from `before`.
struct PartitionRead {
    items: Vec<SupportTicket>,
    /// The lowest ticket id read when the partition has more below it.
    explored_to: Option<String>,
}

impl DynamoStore {
    pub(super) fn ticket_item(&self, t: &SupportTicket) -> Result<Item> {
        let sort = keys::ticket_sort(&t.id);
        let mut extra = vec![
            ("gsi1pk", keys::tickets_by_status(&t.org_id, t.status)),
            ("gsi1sk", sort.clone()),
            ("gsi2pk", keys::tickets_by_priority(&t.org_id, t.priority)),
            ("gsi2sk", sort.clone()),
            ("gsi3pk", keys::tickets_by_assignee(&t.org_id, t.assigned_admin_id.as_deref())),
            ("gsi3sk", sort.clone()),
        ];
        // Only a ticket with a reference is in gsi4 (sparse); a cleared one leaves it.
        if let Some(r) = &t.external_ref {
            extra.push(("gsi4pk", keys::tickets_by_external_ref(&t.org_id, r)));
            extra.push(("gsi4sk", sort));
        }
        keyed(t, keys::ticket(&t.org_id, &t.id), &extra)
    }

    /// Counts a customer's new ticket against the day's cap, only while under it.
    fn daily_cap_op(&self, org: &str, cap: &DailyTicketCap, at: chrono::DateTime<Utc>) -> Result<TransactWriteItem> {
        let expires = (at + chrono::Duration::days(2)).timestamp();
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key_map(keys::daily_ticket_cap(org, &cap.customer_id, &cap.day))))
            .update_expression("ADD n :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(n) OR n < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(expires))
            .expression_attribute_values(":limit", n(cap.limit))
            .build()
            .map_err(|e| Error::backend("dynamodb", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn counters_op(&self, org: &str, changes: &[(String, i64)]) -> Result<TransactWriteItem> {
        let mut names = HashMap::new();
        let mut values: Item = HashMap::from([(":now".to_string(), s(Utc::now().to_rfc3339()))]);
        let mut adds = Vec::new();
        for (i, (key, delta)) in changes.iter().enumerate() {
            names.insert(format!("#c{i}"), key.clone());
            values.insert(format!(":c{i}"), n(delta));
            adds.push(format!("#c{i} :c{i}"));
        }
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key_map(keys::ticket_counters(org))))
            .update_expression(format!("SET updated_at = :now ADD {}", adds.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| Error::backend("dynamodb", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Runs a transaction, retrying DynamoDB's transaction conflicts (two writers on the counter
    /// item at once); a failed condition comes back as `Cancelled` with the per-item codes.
    async fn transact_support(&self, items: Vec<TransactWriteItem>) -> Result<Outcome> {
        let items = &items;
        retry_lost_updates("ticket counters", |_| async move {
            match self.client().transact_write_items().set_transact_items(Some(items.clone())).send().await {
                Ok(_) => Ok(Outcome::Done),
                Err(e) => match cancellation_codes(&e) {
                    // Another ticket write held the counter item at that moment: the same
                    // transaction again, after the helper's jittered pause.
                    Some(codes) if codes.iter().any(|c| c == "TransactionConflict") => Err(Error::LostUpdate("ticket counters")),
                    Some(codes) if codes.iter().all(|c| c == "ConditionalCheckFailed" || c == "None") => Ok(Outcome::Cancelled(codes)),
                    _ => Err(sdk(e)),
                },
            }
        })
        .await
    }

    /// Bulk import of tickets (moving an organisation's history over from another system,
    /// benchmarks): 25 tickets per BatchWriteItem, then one counter update for those 25. Not a
    /// transaction: meant for tickets that do not exist yet, with nothing else writing them.
    pub async fn import_tickets(&self, tickets: &[SupportTicket]) -> Result<()> {
        for chunk in tickets.chunks(25) {
            let mut requests = Vec::with_capacity(chunk.len());
            for t in chunk {
                let put = PutRequest::builder().set_item(Some(self.ticket_item(t)?)).build().map_err(|e| Error::backend("dynamodb", e))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            let mut pending = Some(HashMap::from([(self.table().to_string(), requests)]));
            for attempt in 0..8u64 {
                let Some(items) = pending.take().filter(|p| !p.is_empty()) else { break };
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                pending = self.client().batch_write_item().set_request_items(Some(items)).send().await.map_err(sdk)?.unprocessed_items;
            }
            if pending.is_some_and(|p| !p.is_empty()) {
                return Err(Error::backend("dynamodb", "tickets left unprocessed by BatchWriteItem"));
            }
            let mut totals: BTreeMap<(String, String), i64> = BTreeMap::new();
            for t in chunk {
                for (k, d) in counter_changes(None, t) {
                    *totals.entry((t.org_id.clone(), k)).or_default() += d;
                }
            }
            let mut by_org: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
            for ((org, k), d) in totals {
                by_org.entry(org).or_default().push((k, d));
            }
            for (org, changes) in by_org {
                let Some(update) = self.counters_op(&org, &changes)?.update else { continue };
                self.client()
                    .update_item()
                    .table_name(update.table_name)
                    .set_key(Some(update.key))
                    .update_expression(update.update_expression)
                    .set_expression_attribute_names(update.expression_attribute_names)
                    .set_expression_attribute_values(update.expression_attribute_values)
                    .send()
                    .await
                    .map_err(sdk)?;
            }
        }
        Ok(())
    }

    async fn read_partition(
        &self,
        index: &str,
        partition: String,
        before: Option<&str>,
        filter: Option<&ListFilter>,
        want: usize,
    ) -> Result<PartitionRead> {
        let (pk_attr, sk_attr) = (format!("{index}pk"), format!("{index}sk"));
        let mut condition = format!("{pk_attr} = :pk");
        let mut values: Item = HashMap::from([(":pk".to_string(), s(&partition))]);
        if let Some(b) = before {
            condition.push_str(&format!(" AND {sk_attr} < :before"));
            values.insert(":before".into(), s(keys::ticket_sort(b)));
        }
        if let Some(f) = filter {
            values.extend(f.values.clone());
        }
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        for _ in 0..MAX_ROUNDS {
            let mut query = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(index)
                .key_condition_expression(&condition)
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit(want as i32)
                .set_exclusive_start_key(start.take());
            if let Some(f) = filter {
                query = query.filter_expression(&f.expression).set_expression_attribute_names(Some(f.names.clone()));
            }
            let out = query.send().await.map_err(sdk)?;
            for item in out.items.unwrap_or_default() {
                items.push(from_item::<SupportTicket>(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || items.len() >= want {
                break;
            }
        }
        let explored_to = start.and_then(|k| {
            k.get(&sk_attr).and_then(|v| v.as_s().ok()).and_then(|sk| sk.strip_prefix("TICKET#")).map(str::to_string)
        });
        Ok(PartitionRead { items, explored_to })
    }
}

/// Merges partitions read newest first into one page. An item below a partition's explored
/// range may have unread neighbours there, so the page stops at the highest such boundary.
fn merge_page(reads: Vec<PartitionRead>, limit: usize) -> Page<SupportTicket> {
    let frontier = reads.iter().filter_map(|r| r.explored_to.clone()).max();
    let mut items: Vec<SupportTicket> = reads.into_iter().flat_map(|r| r.items).collect();
    items.sort_by(|a, b| b.id.cmp(&a.id));
    if let Some(f) = &frontier {
        items.retain(|t| t.id >= *f);
    }
    let more_read = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more_read {
        items.last().map(|t| encode_before(&t.id))
    } else {
        frontier.map(|f| encode_before(&f))
    };
    Page { items, next_cursor }
}

#[async_trait]
impl SupportStore for DynamoStore {
    async fn ticket(&self, org_id: &str, ticket_id: &str) -> Result<Option<SupportTicket>> {
        self.get(keys::ticket(org_id, ticket_id)).await
    }

    async fn ticket_messages(&self, org_id: &str, ticket_id: &str, page: &PageRequest) -> Result<Page<TicketMessage>> {
        let pk = keys::ticket_pk(org_id, ticket_id);
        self.query_page(None, "pk", &pk, Some(("sk", "MSG#")), None, true, page).await
    }

    async fn tickets(&self, org_id: &str, filter: &TicketFilter, page: &PageRequest) -> Result<Page<SupportTicket>> {
        let before = page.cursor.as_deref().map(decode_before).transpose()?;
        let limit = page.limit.max(1) as usize;
        let statuses: Vec<TicketStatus> =
            if filter.statuses.is_empty() { TicketStatus::ALL.to_vec() } else { filter.statuses.clone() };
        // The most selective dimension picks the index; the others filter within it.
        let (index, partitions, status_filtered, priority_filtered) = match (&filter.assigned, filter.priority) {
            (Some(a), _) => {
                let who = match a {
                    Assigned::Nobody => None,
                    Assigned::To(id) => Some(id.as_str()),
                };
                ("gsi3", vec![keys::tickets_by_assignee(org_id, who)], !filter.statuses.is_empty(), filter.priority.is_some())
            }
            (None, Some(p)) => ("gsi2", vec![keys::tickets_by_priority(org_id, p)], !filter.statuses.is_empty(), false),
            (None, None) => ("gsi1", statuses.iter().map(|st| keys::tickets_by_status(org_id, *st)).collect(), false, false),
        };
        let mut clauses = Vec::new();
        let mut values: Item = HashMap::new();
        let mut names = HashMap::new();
        if status_filtered {
            names.insert("#status".to_string(), "status".to_string());
            let names: Vec<String> = statuses.iter().enumerate().map(|(i, _)| format!(":st{i}")).collect();
            for (i, st) in statuses.iter().enumerate() {
                values.insert(format!(":st{i}"), s(st.as_str()));
            }
            clauses.push(format!("#status IN ({})", names.join(", ")));
        }
        if let Some(p) = filter.priority.filter(|_| priority_filtered) {
            values.insert(":priority".into(), s(p.as_str()));
            names.insert("#priority".to_string(), "priority".to_string());
            clauses.push("#priority = :priority".to_string());
        }
        let filter_expression = (!clauses.is_empty()).then(|| ListFilter { expression: clauses.join(" AND "), names, values });
        let reads = futures::future::try_join_all(
            partitions.into_iter().map(|p| self.read_partition(index, p, before.as_deref(), filter_expression.as_ref(), limit + 1)),
        )
        .await?;
        Ok(merge_page(reads, limit))
    }

    async fn ticket_counts(&self, org_id: &str) -> Result<TicketCounts> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key_map(keys::ticket_counters(org_id))))
            .send()
            .await
            .map_err(sdk)?;
        let counts: BTreeMap<String, i64> = out
            .item
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k.starts_with("n:"))
            .filter_map(|(k, v)| v.as_n().ok().and_then(|n| n.parse().ok()).map(|n| (k, n)))
            .collect();
        Ok(TicketCounts { counts })
    }

    async fn save_ticket(&self, write: &TicketWrite<'_>) -> Result<Written> {
        let after = write.after;
        let ticket_put = match write.before {
            None => self.put_op(self.ticket_item(after)?, Some("attribute_not_exists(pk)"), None)?,
            Some(before) => {
                let values = HashMap::from([(":previous".to_string(), n(before.version))]);
                self.put_op(self.ticket_item(after)?, Some("version = :previous"), Some(values))?
            }
        };
        let mut items = vec![ticket_put];
        let message_at = write.message.map(|m| -> Result<usize> {
            items.push(self.put_op(
                keyed(m, keys::ticket_message(&m.org_id, &m.ticket_id, &m.id), &[])?,
                Some("attribute_not_exists(pk)"),
                None,
            )?);
            Ok(items.len() - 1)
        });
        let message_at = message_at.transpose()?;
        let changes = counter_changes(write.before, after);
        if !changes.is_empty() {
            items.push(self.counters_op(&after.org_id, &changes)?);
        }
        if let Some(c) = write.conversation {
            items.push(self.conversation_put(c)?);
        }
        if let (None, Some(customer)) = (write.before, &after.customer_id) {
            items.push(self.link_op(super::keys::customer_ticket(&after.org_id, customer, &after.id))?);
        }
        if let Some(entry) = write.audit {
            items.push(self.audit_put(entry)?);
        }
        let cap_at = match write.daily_cap {
            Some(cap) => {
                items.push(self.daily_cap_op(&after.org_id, cap, after.created_at)?);
                Some(items.len() - 1)
            }
            None => None,
        };
        match self.transact_support(items).await? {
            Outcome::Done => Ok(Written::Stored),
            Outcome::Cancelled(codes) => {
                let failed = |i: usize| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
                // A repeat of a stored ticket first: its count is in the cap already.
                if message_at.is_some_and(failed) || (write.before.is_none() && failed(0)) {
                    Ok(Written::AlreadyThere)
                } else if let (Some(cap), Some(_)) = (write.daily_cap, cap_at.filter(|i| failed(*i))) {
                    Err(daily_limit_reached(cap))
                } else {
                    Err(Error::LostUpdate("ticket or its conversation"))
                }
            }
        }
    }

    async fn ticket_ids_by_external_ref(&self, org_id: &str, external_ref: &str) -> Result<Vec<String>> {
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .index_name("gsi4")
            .key_condition_expression("gsi4pk = :pk")
            .expression_attribute_values(":pk", s(keys::tickets_by_external_ref(org_id, external_ref)))
            .scan_index_forward(false);
        let items = self.query_all(query).await?;
        Ok(items
            .iter()
            .filter_map(|item| item.get("gsi4sk").and_then(|v| v.as_s().ok()).and_then(|sk| sk.strip_prefix("TICKET#")))
            .map(str::to_string)
            .collect())
    }

    async fn tickets_by_id(&self, org_id: &str, ids: &[String]) -> Result<Vec<SupportTicket>> {
        let mut found = self.batch_get(ids.iter().map(|id| keys::ticket(org_id, id)).collect()).await?;
        let mut tickets = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(item) = found.remove(&keys::ticket(org_id, id)) {
                tickets.push(from_item(item)?);
            }
        }
        Ok(tickets)
    }

    async fn delivery_statuses(&self, org_id: &str, conversation_id: &str, message_ids: &[String]) -> Result<HashMap<String, DeliveryStatus>> {
        #[derive(serde::Deserialize)]
        struct Status {
            id: String,
            status: DeliveryStatus,
        }
        let mut statuses = HashMap::new();
        let mut ids: Vec<&String> = message_ids.iter().collect();
        ids.sort();
        ids.dedup();
        for chunk in ids.chunks(100) {
            let mut wanted = KeysAndAttributes::builder().projection_expression("id, #status").expression_attribute_names("#status", "status");
            for id in chunk {
                wanted = wanted.keys(key_map(super::keys::message(org_id, conversation_id, id)));
            }
            let mut request = Some(HashMap::from([(self.table().to_string(), wanted.build().map_err(|e| Error::backend("dynamodb", e))?)]));
            // Throttled keys come back unprocessed: ask again a few times, then show what we have.
            for _ in 0..4 {
                let Some(items) = request.take().filter(|r| !r.is_empty()) else { break };
                let out = self.client().batch_get_item().set_request_items(Some(items)).send().await.map_err(sdk)?;
                for item in out.responses.unwrap_or_default().remove(self.table()).unwrap_or_default() {
                    let st: Status = from_item(item)?;
                    statuses.insert(st.id, st.status);
                }
                request = out.unprocessed_keys;
            }
        }
        Ok(statuses)
    }
}

#[async_trait]
impl BotStore for DynamoStore {
    async fn bot_settings(&self, org_id: &str) -> Result<Option<StoredBotSettings>> {
        self.get(keys::bot_settings(org_id)).await
    }

    async fn put_bot_settings(&self, settings: &StoredBotSettings, audit: Option<&AuditEntry>) -> Result<()> {
        let item = keyed(settings, keys::bot_settings(&settings.org_id), &[])?;
        match audit {
            Some(entry) => self.write_audited(self.put_op(item, None, None)?, entry).await.map(|_| ()),
            None => self.put(item).await,
        }
    }

    async fn put_bot_settings_if_missing(&self, settings: &StoredBotSettings) -> Result<Written> {
        self.put_new(keyed(settings, keys::bot_settings(&settings.org_id), &[])?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::support::{NewTicket, TicketPriority, TicketSource};

    fn ticket(id: &str) -> SupportTicket {
        SupportTicket::open(NewTicket {
            id: id.into(),
            org_id: "o".into(),
            source: TicketSource::Api,
            customer_id: None,
            conversation_id: None,
            phone_number: None,
            sender_name: None,
            issue_description: "x".into(),
            priority: TicketPriority::Low,
            external_ref: None,
            now: Utc::now(),
        })
    }

    fn ids(page: &Page<SupportTicket>) -> Vec<&str> {
        page.items.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        assert_eq!(decode_before(&encode_before("01JXYZ")).unwrap(), "01JXYZ");
        assert!(decode_before("not base64!").is_err());
        assert!(decode_before(&URL_SAFE_NO_PAD.encode("before:a#b")).is_err());
    }

    #[test]
    fn merged_pages_are_newest_first_and_stop_at_unread_ranges() {
        // Partition A is exhausted; B has more below "D" that were not read yet.
        let a = PartitionRead { items: vec![ticket("F"), ticket("C"), ticket("A")], explored_to: None };
        let b = PartitionRead { items: vec![ticket("E"), ticket("D")], explored_to: Some("D".into()) };
        let page = merge_page(vec![a, b], 10);
        assert_eq!(ids(&page), ["F", "E", "D"], "C and A wait until B's range below D is read");
        assert_eq!(decode_before(page.next_cursor.as_deref().unwrap()).unwrap(), "D");

        let a = PartitionRead { items: vec![ticket("F"), ticket("C"), ticket("A")], explored_to: None };
        let b = PartitionRead { items: vec![ticket("E")], explored_to: None };
        let page = merge_page(vec![a, b], 2);
        assert_eq!(ids(&page), ["F", "E"]);
        assert_eq!(decode_before(page.next_cursor.as_deref().unwrap()).unwrap(), "E");

        let a = PartitionRead { items: vec![ticket("B"), ticket("A")], explored_to: None };
        let page = merge_page(vec![a], 2);
        assert_eq!(ids(&page), ["B", "A"]);
        assert_eq!(page.next_cursor, None);
    }
}
