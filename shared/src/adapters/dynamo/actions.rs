//! DynamoDB for actions, their answers, the answer templates and the dashboard's event feed.
//! Keys are listed in `docs/data-model.md` ("Actions and the event feed"); nothing here scans.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{DynamoStore, Item, SortRange, from_item, key_map, keyed, n, s, to_item};
use crate::domain::action::{Action, ActionResponse, ActionStatus, AnswerStatus};
use crate::domain::audit::AuditEntry;
use crate::domain::event::{DEDUPE_RETENTION, DashboardEvent, NewEvent};
use crate::domain::message::{DeliveryStatus, FailureReason, Message};
use crate::domain::response_template::ResponseTemplates;
use crate::error::{Error, Result};
use crate::ports::{
    ActionFilter, ActionStore, DecisionContext, DecisionWrite, EventStore, FeedWaiters, Page, PageRequest, ResponseTemplateStore, WaitPlace, WamidIndex,
    Written,
};

/// Key layout of this feature. Every partition key starts with `ORG#{org}`.
pub mod keys {
    /// All of an organisation's actions and their answers, one partition, sorted by id (creation time).
    pub fn actions(org: &str) -> String {
        format!("ORG#{org}#ACTIONS")
    }
    pub fn action(org: &str, action: &str) -> (String, String) {
        (actions(org), format!("ACTION#{action}"))
    }
    pub fn action_response(org: &str, action: &str) -> (String, String) {
        (actions(org), format!("RESPONSE#{action}"))
    }
    /// A client's `Idempotency-Key` on `POST /v1/actions`, pointing at the action it created.
    pub fn action_idempotency(org: &str, key: &str) -> (String, String) {
        (format!("ORG#{org}#ACTIONKEY#{key}"), "ACTIONKEY".into())
    }
    /// GSI 1: a conversation's actions.
    pub fn actions_by_conversation(org: &str, conversation: &str) -> String {
        format!("ORG#{org}#ACTIONS#CONV#{conversation}")
    }
    /// GSI 2: actions by status.
    pub fn actions_by_status(org: &str, status: &str) -> String {
        format!("ORG#{org}#ACTIONS#STATUS#{status}")
    }
    /// GSI 3: actions by type.
    pub fn actions_by_type(org: &str, action_type: &str) -> String {
        format!("ORG#{org}#ACTIONS#TYPE#{action_type}")
    }
    pub fn response_templates(org: &str) -> (String, String) {
        (format!("ORG#{org}#SETTINGS"), "ACTION_RESPONSE_TEMPLATES".into())
    }
    /// The feed: one partition per organisation, sort key the zero-padded sequence number.
    pub fn events(org: &str) -> String {
        format!("ORG#{org}#EVENTS")
    }
    pub fn event_sort(seq: u64) -> String {
        format!("{seq:020}")
    }
    pub fn event(org: &str, seq: u64) -> (String, String) {
        (events(org), event_sort(seq))
    }
    /// The feed's counter: the last sequence number handed out.
    pub fn event_counter(org: &str) -> (String, String) {
        (format!("ORG#{org}#EVENTS#SEQ"), "SEQ".into())
    }
    /// The feed's long-poll waiters: one item per organisation, a map of places.
    pub fn feed_waiters(org: &str) -> (String, String) {
        (format!("ORG#{org}#EVENTS#WAITERS"), "WAITERS".into())
    }
    /// One per recorded dedupe key: a retried job finds its event already there.
    pub fn event_dedupe(org: &str, key: &str) -> (String, String) {
        (format!("ORG#{org}#EVENTKEY#{key}"), "EVENTKEY".into())
    }
}

fn names(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub(super) fn action_item(a: &Action) -> Result<Item> {
    keyed(
        a,
        keys::action(&a.org_id, &a.id),
        &[
            ("gsi1pk", keys::actions_by_conversation(&a.org_id, &a.conversation_id)),
            ("gsi1sk", a.id.clone()),
            ("gsi2pk", keys::actions_by_status(&a.org_id, a.status.as_str())),
            ("gsi2sk", a.id.clone()),
            ("gsi3pk", keys::actions_by_type(&a.org_id, &a.action_type)),
            ("gsi3sk", a.id.clone()),
        ],
    )
}

impl DynamoStore {
    /// A page of actions from `index` (or the table), newest first, with optional equality filters.
    async fn query_actions(
        &self,
        index: Option<&str>,
        partition_attr: &str,
        partition: &str,
        sort_prefix: Option<&str>,
        filters: &[(&str, &str)],
        page: &PageRequest,
    ) -> Result<Page<Action>> {
        let mut key_condition = format!("{partition_attr} = :pk");
        let mut values: Item = HashMap::from([(":pk".to_string(), s(partition))]);
        let mut range = SortRange::all();
        if let Some(prefix) = sort_prefix {
            key_condition.push_str(" AND begins_with(sk, :prefix)");
            values.insert(":prefix".into(), s(prefix));
            range = SortRange::prefix(prefix);
        }
        let mut attribute_names = HashMap::new();
        let mut conditions = Vec::new();
        for (i, (attr, value)) in filters.iter().enumerate() {
            attribute_names.insert(format!("#f{i}"), attr.to_string());
            values.insert(format!(":f{i}"), s(*value));
            conditions.push(format!("#f{i} = :f{i}"));
        }
        let mut query = self
            .client()
            .query()
            .table_name(self.table())
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(key_condition)
            .scan_index_forward(false);
        if !conditions.is_empty() {
            query = query.filter_expression(conditions.join(" AND ")).set_expression_attribute_names(Some(attribute_names));
        }
        self.query_filled(query.set_expression_attribute_values(Some(values)), partition_attr, partition, &range, page).await
    }
}

#[async_trait]
impl ActionStore for DynamoStore {
    async fn create_action(&self, action: &Action, idempotency_key: Option<&str>) -> Result<Written> {
        // With the customer's link (what the customer context finds it by), written again
        // harmlessly by a repeat.
        let mut items = vec![
            self.put_op(action_item(action)?, Some("attribute_not_exists(pk)"), None)?,
            self.link_op(super::keys::customer_action(&action.org_id, &action.customer_id, &action.id))?,
        ];
        if let Some(key) = idempotency_key {
            items.push(self.idempotency_put(keys::action_idempotency(&action.org_id, key), &action.id, action.created_at)?);
        }
        Ok(match self.transact(items).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }

    async fn action_by_key(&self, org_id: &str, idempotency_key: &str) -> Result<Option<Action>> {
        match self.idempotency_target(keys::action_idempotency(org_id, idempotency_key)).await? {
            Some(id) => self.action(org_id, &id).await,
            None => Ok(None),
        }
    }

    async fn action(&self, org_id: &str, action_id: &str) -> Result<Option<Action>> {
        self.get_consistent(keys::action(org_id, action_id)).await
    }

    async fn action_with_response(&self, org_id: &str, action_id: &str) -> Result<(Option<Action>, Option<ActionResponse>)> {
        let wanted = [keys::action(org_id, action_id), keys::action_response(org_id, action_id)];
        let mut found = self.get_many_consistent(&wanted).await?.into_iter();
        let action = found.next().flatten().map(from_item).transpose()?;
        let response = found.next().flatten().map(from_item).transpose()?;
        Ok((action, response))
    }

    async fn decision_context(&self, action: &Action) -> Result<DecisionContext> {
        let (org, conversation) = (action.org_id.as_str(), action.conversation_id.as_str());
        let wanted = [
            keys::response_templates(org),
            super::keys::conversation(org, conversation),
            super::keys::customer(org, &action.customer_id),
            super::keys::message(org, conversation, &action.request_message_id),
        ];
        let mut found = self.get_many_consistent(&wanted).await?.into_iter();
        Ok(DecisionContext {
            templates: found.next().flatten().map(from_item).transpose()?,
            conversation: found.next().flatten().map(from_item).transpose()?,
            customer: found.next().flatten().map(from_item).transpose()?,
            // A bubble without a content map (written by an older version) is left as it is.
            bubble_shown: found.next().flatten().is_some_and(|bubble| bubble.get("content").is_some_and(|c| c.is_m())),
        })
    }

    async fn actions(&self, org_id: &str, filter: &ActionFilter, page: &PageRequest) -> Result<Page<Action>> {
        let status = filter.status.map(ActionStatus::as_str);
        let action_type = filter.action_type.as_deref();
        match (&filter.conversation_id, status, action_type) {
            (Some(conversation), status, action_type) => {
                let mut filters = Vec::new();
                if let Some(st) = status {
                    filters.push(("status", st));
                }
                if let Some(t) = action_type {
                    filters.push(("type", t));
                }
                let pk = keys::actions_by_conversation(org_id, conversation);
                self.query_actions(Some("gsi1"), "gsi1pk", &pk, None, &filters, page).await
            }
            (None, Some(st), action_type) => {
                let filters: Vec<(&str, &str)> = action_type.map(|t| ("type", t)).into_iter().collect();
                let pk = keys::actions_by_status(org_id, st);
                self.query_actions(Some("gsi2"), "gsi2pk", &pk, None, &filters, page).await
            }
            (None, None, Some(t)) => {
                let pk = keys::actions_by_type(org_id, t);
                self.query_actions(Some("gsi3"), "gsi3pk", &pk, None, &[], page).await
            }
            (None, None, None) => self.query_actions(None, "pk", &keys::actions(org_id), Some("ACTION#"), &[], page).await,
        }
    }

    async fn save_decision(&self, write: &DecisionWrite) -> Result<Written> {
        let action = &write.action;
        let org_id = action.org_id.as_str();
        let now = Utc::now();
        // The event's number is taken first: the feed orders by it, so `action.decided` comes
        // before any status of the answer (which is queued only after this transaction).
        let seq = self.take_event_seqs(org_id, 1).await?;
        let not_exists = Some("attribute_not_exists(pk)");
        // Over the version it was decided on (read pending): any change since fails it.
        let decided_over_read = HashMap::from([(":previous".to_string(), n(action.version.saturating_sub(1)))]);
        let mut response = keyed(&write.response, keys::action_response(org_id, &action.id), &[])?;
        response.insert("status_rank".into(), n(write.response.status.rank()));
        let mut items = vec![
            self.put_op(action_item(action)?, Some("version = :previous"), Some(decided_over_read))?,
            self.conversation_put(&write.conversation)?,
            self.put_op(super::message_item(&write.answer)?, not_exists, None)?,
            self.put_op(super::message_item(&write.note)?, not_exists, None)?,
            self.put_op(response, not_exists, None)?,
            // No dedupe marker: the transaction commits once (the action's version), so does the event.
            self.put_op(self.event_item(&DashboardEvent::recorded(&write.event, seq, now))?, not_exists, None)?,
        ];
        if let Some(entry) = &write.audit {
            items.push(self.audit_put(entry)?);
        }
        if write.bubble_shown {
            let decision = match &action.decision {
                Some(d) => AttributeValue::M(to_item(d)?),
                None => AttributeValue::Null(true),
            };
            let answer = action.answer_status.map_or(AttributeValue::Null(true), |a| s(a.as_str()));
            let values = HashMap::from([(":status".to_string(), s(action.status.as_str())), (":decision".to_string(), decision), (":answer".to_string(), answer)]);
            items.push(self.update_op(
                super::keys::message(org_id, &action.conversation_id, &action.request_message_id),
                "SET content.#status = :status, content.decision = :decision, content.answer_status = :answer",
                Some("attribute_exists(pk)"),
                values,
                Some(names(&[("#status", "status")])),
            )?);
        }
        let outcome = self.transact(items).await;
        if !matches!(outcome, Ok(Ok(()))) {
            // Nothing was written: give the number up so readers need not wait for it. (Only if
            // it is still free: a transaction the SDK retried after it had committed wrote it.)
            self.put_new(self.event_item(&DashboardEvent::void(org_id, seq, now))?).await?;
        }
        Ok(match outcome? {
            Ok(()) => Written::Stored,
            // A condition failed: the action or the conversation changed meanwhile.
            Err(_) => Written::AlreadyThere,
        })
    }

    async fn apply_response_status(
        &self,
        action: &Action,
        status: DeliveryStatus,
        wamid: Option<&str>,
        failure: Option<&FailureReason>,
        at: DateTime<Utc>,
    ) -> Result<Written> {
        // Same rules as messages: a later status implies the earlier ones; failed is final.
        let (Some((mut expression, mut values)), Some(answer)) = (super::status_update(status, failure, at)?, AnswerStatus::of(status)) else {
            return Ok(Written::AlreadyThere);
        };
        if let Some(w) = wamid {
            expression.push_str(", wamid = if_not_exists(wamid, :wamid)");
            values.insert(":wamid".into(), s(w));
        }
        let org_id = action.org_id.as_str();
        let answer_value = || HashMap::from([(":answer".to_string(), s(answer.as_str()))]);
        // The record moves only forward; the action and its bubble follow in the same transaction,
        // so they never go backwards either.
        let record = self.update_op(
            keys::action_response(org_id, &action.id),
            &expression,
            Some("attribute_exists(pk) AND status_rank < :rank AND status_rank < :failed_rank"),
            values,
            Some(names(&[("#status", "status")])),
        )?;
        let on_action = self.update_op(keys::action(org_id, &action.id), "SET answer_status = :answer", Some("attribute_exists(pk)"), answer_value(), None)?;
        let bubble_key = super::keys::message(org_id, &action.conversation_id, &action.request_message_id);
        let on_bubble = self.update_op(bubble_key, "SET content.answer_status = :answer", Some("attribute_exists(content)"), answer_value(), None)?;
        match self.transact(vec![record.clone(), on_action.clone(), on_bubble]).await? {
            Ok(()) => Ok(Written::Stored),
            // Only the bubble is missing (a create that died before writing it): the record and
            // the action still move.
            Err(codes) if codes.first().is_some_and(|c| c == "None") && codes.get(2).is_some_and(|c| c == "ConditionalCheckFailed") => {
                Ok(if self.transact(vec![record, on_action]).await?.is_ok() { Written::Stored } else { Written::AlreadyThere })
            }
            Err(_) => Ok(Written::AlreadyThere),
        }
    }
}

#[async_trait]
impl ResponseTemplateStore for DynamoStore {
    async fn response_templates(&self, org_id: &str) -> Result<Option<ResponseTemplates>> {
        self.get_consistent(keys::response_templates(org_id)).await
    }

    async fn save_response_templates(&self, settings: &ResponseTemplates, audit: Option<&AuditEntry>) -> Result<Written> {
        self.put_versioned(keyed(settings, keys::response_templates(&settings.org_id), &[])?, settings.version, audit).await
    }
}

impl DynamoStore {
    /// Takes the organisation's next `count` sequence numbers and answers the last (an atomic
    /// counter: no retries under contention).
    pub(super) async fn take_event_seqs(&self, org_id: &str, count: u64) -> Result<u64> {
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_map(keys::event_counter(org_id))))
            .update_expression("ADD seq :count")
            .expression_attribute_values(":count", n(count))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
        out.attributes
            .as_ref()
            .and_then(|a| a.get("seq"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::backend("dynamodb", "the event counter answered no number"))
    }

    fn event_item(&self, event: &DashboardEvent) -> Result<Item> {
        let mut item = keyed(event, keys::event(&event.org_id, event.seq), &[])?;
        item.insert("expires_at".into(), n(event.expires_at));
        Ok(item)
    }

    fn dedupe_marker(&self, org_id: &str, key: &str, seq: u64, now: DateTime<Utc>) -> Item {
        let (pk, sk) = keys::event_dedupe(org_id, key);
        HashMap::from([
            ("pk".to_string(), s(pk)),
            ("sk".to_string(), s(sk)),
            ("seq".to_string(), n(seq)),
            ("expires_at".to_string(), n((now + DEDUPE_RETENTION).timestamp())),
        ])
    }

    /// The two writes that record `event` at `seq` inside another transaction: its dedupe marker
    /// (when it has a key; refused if the event was recorded before) and the event itself.
    pub(super) fn event_ops(&self, event: &NewEvent, seq: u64, now: DateTime<Utc>) -> Result<Vec<TransactWriteItem>> {
        let not_exists = Some("attribute_not_exists(pk)");
        let mut ops = Vec::new();
        if let Some(key) = &event.dedupe_key {
            ops.push(self.put_op(self.dedupe_marker(&event.org_id, key, seq, now), not_exists, None)?);
        }
        ops.push(self.put_op(self.event_item(&DashboardEvent::recorded(event, seq, now))?, not_exists, None)?);
        Ok(ops)
    }

    /// Writes `events` at the numbers from `first` on, each with its dedupe marker, and `void` at
    /// the numbers after them up to `last`, all or none. On refusal, which events were recorded
    /// before (their marker exists); nothing was written then.
    async fn write_events(&self, events: &[&NewEvent], first: u64, last: u64, now: DateTime<Utc>) -> Result<Result<(), Vec<bool>>> {
        let not_exists = Some("attribute_not_exists(pk)");
        let mut items = Vec::new();
        let mut marker_at = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let seq = first + i as u64;
            marker_at.push(event.dedupe_key.as_ref().map(|_| items.len()));
            if let Some(key) = &event.dedupe_key {
                items.push(self.put_op(self.dedupe_marker(&event.org_id, key, seq, now), not_exists, None)?);
            }
            items.push(self.put_op(self.event_item(&DashboardEvent::recorded(event, seq, now))?, not_exists, None)?);
        }
        if let Some(org_id) = events.first().map(|e| e.org_id.as_str()) {
            for seq in first + events.len() as u64..=last {
                items.push(self.put_op(self.event_item(&DashboardEvent::void(org_id, seq, now))?, None, None)?);
            }
        }
        Ok(self.transact(items).await?.map_err(|codes| {
            marker_at.iter().map(|at| at.is_some_and(|i| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed"))).collect()
        }))
    }

    /// Fills numbers taken for events that turned out to be recorded already, so readers need not wait.
    pub(super) async fn void_events(&self, org_id: &str, first: u64, last: u64, now: DateTime<Utc>) -> Result<()> {
        let items = (first..=last)
            .map(|seq| self.put_op(self.event_item(&DashboardEvent::void(org_id, seq, now))?, None, None))
            .collect::<Result<Vec<_>>>()?;
        self.transact(items).await?.map_err(|_| Error::backend("dynamodb", "void events refused"))
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn record_event(&self, event: &NewEvent) -> Result<Written> {
        Ok(self.record_events(std::slice::from_ref(event)).await?.pop().unwrap_or(Written::AlreadyThere))
    }

    async fn record_events(&self, events: &[NewEvent]) -> Result<Vec<Written>> {
        let Some(org_id) = events.first().map(|e| e.org_id.clone()) else {
            return Ok(Vec::new());
        };
        if events.iter().any(|e| e.org_id != org_id) {
            return Err(Error::backend("dynamodb", "events of one feed only"));
        }
        let now = Utc::now();
        let count = events.len() as u64;
        let last = self.take_event_seqs(&org_id, count).await?;
        let first = last + 1 - count;
        let all: Vec<&NewEvent> = events.iter().collect();
        let recorded_before = match self.write_events(&all, first, last, now).await? {
            Ok(()) => return Ok(vec![Written::Stored; events.len()]),
            Err(before) => before,
        };
        // Some were recorded before (a retried job, a repeated callback): write the others at the
        // numbers already taken, the rest of the numbers as void.
        let fresh: Vec<&NewEvent> = events.iter().zip(&recorded_before).filter(|(_, before)| !**before).map(|(e, _)| e).collect();
        let outcome = if fresh.is_empty() {
            self.void_events(&org_id, first, last, now).await.map(|()| true)
        } else {
            self.write_events(&fresh, first, last, now).await.map(|r| r.is_ok())
        };
        if !outcome? {
            // A concurrent duplicate got there in between: give up these numbers, one at a time.
            self.void_events(&org_id, first, last, now).await?;
            let mut written = Vec::new();
            for event in events {
                written.push(self.record_event(event).await?);
            }
            return Ok(written);
        }
        Ok(recorded_before.iter().map(|before| if *before { Written::AlreadyThere } else { Written::Stored }).collect())
    }

    async fn events_after(&self, org_id: &str, after: u64, limit: i32) -> Result<Vec<DashboardEvent>> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND sk > :after")
            .expression_attribute_values(":pk", s(keys::events(org_id)))
            .expression_attribute_values(":after", s(keys::event_sort(after)))
            .consistent_read(true)
            .scan_index_forward(true)
            .limit(limit)
            .send()
            .await
            .map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
        out.items.unwrap_or_default().into_iter().map(from_item).collect()
    }

    async fn latest_event_seq(&self, org_id: &str) -> Result<u64> {
        #[derive(Deserialize)]
        struct Counter {
            seq: u64,
        }
        Ok(self.get_consistent::<Counter>(keys::event_counter(org_id)).await?.map_or(0, |c| c.seq))
    }
}

#[async_trait]
impl WamidIndex for DynamoStore {
    async fn message_by_wamid(&self, org_id: &str, wamid: &str) -> Result<Option<Message>> {
        #[derive(Deserialize)]
        struct Marker {
            conversation_id: String,
            message_id: String,
        }
        let Some(marker) = self.get_consistent::<Marker>(super::keys::wamid(org_id, wamid)).await? else {
            return Ok(None);
        };
        self.get_consistent(super::keys::message(org_id, &marker.conversation_id, &marker.message_id)).await
    }
}

/// The waiters item: each place's holder and when it frees itself (epoch milliseconds), with a
/// version for optimistic locking.
#[derive(Debug, Default, serde::Serialize, Deserialize)]
struct FeedWaitersItem {
    #[serde(default)]
    places: HashMap<String, i64>,
    #[serde(default)]
    version: u64,
}

/// Takes of a place that lose to a concurrent one read again; past this many, the reader is told
/// to come back (a waiter storm is what the cap is for).
const WAIT_PLACE_ATTEMPTS: usize = 5;

#[async_trait]
impl FeedWaiters for DynamoStore {
    async fn take_wait_place(&self, org_id: &str, waiter: &str, now: DateTime<Utc>, until: DateTime<Utc>, cap: usize) -> Result<WaitPlace> {
        let key = keys::feed_waiters(org_id);
        for _ in 0..WAIT_PLACE_ATTEMPTS {
            let stored: FeedWaitersItem = self.get_consistent(key.clone()).await?.unwrap_or_default();
            let mut places: HashMap<String, i64> = stored.places.into_iter().filter(|(_, frees)| *frees > now.timestamp_millis()).collect();
            if places.len() >= cap && !places.contains_key(waiter) {
                let first = places.values().min().copied().unwrap_or_else(|| now.timestamp_millis());
                let frees_at = DateTime::from_timestamp_millis(first).unwrap_or(now);
                return Ok(WaitPlace::Full { frees_at });
            }
            places.insert(waiter.to_string(), until.timestamp_millis());
            let last = places.values().max().copied().unwrap_or_default();
            let mut item = keyed(&FeedWaitersItem { places, version: stored.version + 1 }, key.clone(), &[])?;
            // Gone once every place has freed itself (TTL), plus a margin.
            item.insert("expires_at".into(), n(last / 1000 + 3600));
            let put = self.client().put_item().table_name(self.table()).set_item(Some(item));
            let put = if stored.version == 0 {
                put.condition_expression("attribute_not_exists(pk)")
            } else {
                put.condition_expression("version = :version").expression_attribute_values(":version", n(stored.version))
            };
            match put.send().await {
                Ok(_) => return Ok(WaitPlace::Taken),
                Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => continue,
                Err(e) => return Err(crate::adapters::sdk_error("dynamodb", e)),
            }
        }
        Err(Error::LostUpdate("feed waiters"))
    }

    async fn leave_wait_place(&self, org_id: &str, waiter: &str) -> Result<()> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_map(keys::feed_waiters(org_id))))
            // The version moves too, so a concurrent take does not write the place back.
            .update_expression("REMOVE places.#waiter ADD version :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#waiter", waiter)
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(crate::adapters::sdk_error("dynamodb", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_sort_keys_sort_as_numbers() {
        assert!(keys::event_sort(9) < keys::event_sort(10));
        assert!(keys::event_sort(99_999) < keys::event_sort(100_000));
        assert_eq!(keys::event_sort(u64::MAX).len(), 20);
    }

    #[test]
    fn every_key_starts_with_the_organisation() {
        for pk in [
            keys::action("o1", "a").0,
            keys::action_response("o1", "a").0,
            keys::action_idempotency("o1", "k").0,
            keys::actions_by_conversation("o1", "c"),
            keys::actions_by_status("o1", "pending"),
            keys::actions_by_type("o1", "other"),
            keys::response_templates("o1").0,
            keys::event("o1", 1).0,
            keys::event_counter("o1").0,
            keys::event_dedupe("o1", "k").0,
        ] {
            assert!(pk.starts_with("ORG#o1#"), "{pk}");
        }
    }
}
