//! Messages on DynamoDB: stored once per WhatsApp id, delivery statuses applied monotonically,
//! statuses that came before the send kept, and the sharded outbox index of queued replies.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use crate::domain::conversation::Conversation;
use crate::domain::event::NewEvent;
use crate::domain::ids::sha256_hex;
use crate::domain::message::{DeliveryStatus, Direction, FailureReason, Message};
use crate::error::{Error, Result};
use crate::ports::{
    Claim, EarlyStatus, MessageStore, Page, PageRequest, Written,
};

use super::*;

/// A message as stored: keyed in its conversation, with its status rank (for monotonic status
/// updates) and, while it is an outbound message not yet sent or failed, in the outbox index.
pub fn message_item(m: &Message) -> Result<Item> {
    let mut item = keyed(m, keys::message(&m.org_id, &m.conversation_id, &m.id), &[])?;
    item.insert("status_rank".into(), n(m.status.rank()));
    if m.direction == Direction::Outbound && m.status == DeliveryStatus::Queued {
        item.insert("gsi2pk".into(), s(keys::reply_outbox(reply_outbox_shard(&m.id))));
        item.insert("gsi2sk".into(), s(format!("{}#{}", sort_time(m.created_at), m.id)));
    }
    Ok(item)
}

/// Set on an inbound message until its handling (bot, ticket) is done (`mark_handled`).
const HANDLING_OWED: &str = "handling_owed";

/// A sent or failed message leaves the outbox index.
const OUT_OF_THE_OUTBOX: &str = " REMOVE gsi2pk, gsi2sk";

fn reply_key(message: &Message, key: &str) -> (String, String) {
    keys::reply_idempotency(&message.org_id, &message.conversation_id, &sha256_hex(key.as_bytes()))
}

/// Every queued outbound message writes the outbox index: spread over shards so one partition
/// does not cap the whole system's sending rate (~1,000 index writes per second per partition).
pub const REPLY_OUTBOX_SHARDS: u32 = 8;

fn reply_outbox_shard(message_id: &str) -> u32 {
    message_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % REPLY_OUTBOX_SHARDS
}

impl DynamoStore {
    fn wamid_item(&self, org: &str, wamid: &str, conversation_id: &str, message_id: &str) -> Item {
        let (pk, sk) = keys::wamid(org, wamid);
        HashMap::from([
            ("pk".to_string(), s(pk)),
            ("sk".to_string(), s(sk)),
            ("conversation_id".to_string(), s(conversation_id)),
            ("message_id".to_string(), s(message_id)),
        ])
    }
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn record_inbound(&self, message: &Message, conversation: &Conversation) -> Result<Written> {
        let wamid = message.wamid.as_deref().ok_or_else(|| Error::invalid("wamid", "inbound messages carry one"))?;
        let not_exists = Some("attribute_not_exists(pk)");
        let mut item = message_item(message)?;
        item.insert(HANDLING_OWED.into(), AttributeValue::Bool(true));
        let items = vec![
            self.put_op(self.wamid_item(&message.org_id, wamid, &message.conversation_id, &message.id), not_exists, None)?,
            self.put_op(item, not_exists, None)?,
            self.conversation_put(conversation)?,
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(Written::Stored),
            Err(codes) if failed_condition(&codes, 0) || failed_condition(&codes, 1) => Ok(Written::AlreadyThere),
            Err(_) => Err(Error::LostUpdate("conversation")),
        }
    }

    async fn unhandled_inbound(&self, org_id: &str, wamid: &str) -> Result<Option<Message>> {
        #[derive(serde::Deserialize)]
        struct Marker {
            conversation_id: String,
            message_id: String,
        }
        let Some(marker) = self.get_consistent::<Marker>(keys::wamid(org_id, wamid)).await? else {
            return Ok(None);
        };
        match self.get_item_consistent(keys::message(org_id, &marker.conversation_id, &marker.message_id)).await? {
            Some(item) if item.contains_key(HANDLING_OWED) => Ok(Some(from_item(item)?)),
            _ => Ok(None),
        }
    }

    async fn mark_handled(&self, message: &Message) -> Result<()> {
        let values = HashMap::from([(":received".to_string(), s(DeliveryStatus::Received.as_str()))]);
        let key = keys::message(&message.org_id, &message.conversation_id, &message.id);
        self.update_if(key, &format!("REMOVE {HANDLING_OWED}"), "#status = :received", values).await?;
        Ok(())
    }

    async fn record_outbound(&self, message: &Message, conversation: &Conversation) -> Result<Written> {
        let mut items = vec![
            self.put_op(message_item(message)?, Some("attribute_not_exists(pk)"), None)?,
            self.conversation_put(conversation)?,
        ];
        if let Some(key) = &message.idempotency_key {
            items.push(self.idempotency_put(reply_key(message, key), &message.id, message.created_at)?);
        }
        // The clocks the reply stopped are counted with it (after the items whose codes are read).
        items.extend(self.compliance_ops(conversation)?);
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
            let (page, range) = (&page, SortRange::all());
            async move { Ok::<_, Error>(self.query_filled::<Message>(query, "gsi2pk", &partition, &range, page).await?.items) }
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

    async fn claim_send(&self, org_id: &str, conversation_id: &str, message_id: &str, at: DateTime<Utc>) -> Result<Claim> {
        // The claim reads as it writes: the claimed item comes back, and a refused claim answers
        // the item as it stood (ReturnValuesOnConditionCheckFailure): no read before it.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::message(org_id, conversation_id, message_id))))
            .update_expression("SET #status = :sending, sending_at = :at")
            .condition_expression("#status = :queued")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":queued", s(DeliveryStatus::Queued.as_str()))
            .expression_attribute_values(":sending", s(DeliveryStatus::Sending.as_str()))
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.ok_or_else(|| Error::backend("dynamodb", "a claimed message came back without its attributes"))?;
                Ok(Claim::Claimed(from_item(item)?))
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                    Ok(Claim::Unclaimed(refused.item.clone().map(from_item).transpose()?))
                }
                _ => Err(crate::adapters::sdk_error("dynamodb", e)),
            },
        }
    }

    async fn claim_resend(&self, message: &Message, at: DateTime<Utc>) -> Result<Written> {
        let Some(claimed) = message.sending_at else {
            return Ok(Written::AlreadyThere);
        };
        let values = HashMap::from([
            (":sending".to_string(), s(DeliveryStatus::Sending.as_str())),
            (":claimed".to_string(), s(claimed.to_rfc3339())),
            (":at".to_string(), s(at.to_rfc3339())),
        ]);
        let key = keys::message(&message.org_id, &message.conversation_id, &message.id);
        let condition = "#status = :sending AND sending_at = :claimed AND attribute_not_exists(resent_at)";
        self.update_if(key, "SET sending_at = :at, resent_at = :at", condition, values).await
    }

    async fn release_send(&self, message: &Message) -> Result<Written> {
        let Some(claimed) = message.sending_at else {
            return Ok(Written::AlreadyThere);
        };
        let values = HashMap::from([
            (":queued".to_string(), s(DeliveryStatus::Queued.as_str())),
            (":sending".to_string(), s(DeliveryStatus::Sending.as_str())),
            (":claimed".to_string(), s(claimed.to_rfc3339())),
        ]);
        let key = keys::message(&message.org_id, &message.conversation_id, &message.id);
        self.update_if(key, "SET #status = :queued REMOVE sending_at", "#status = :sending AND sending_at = :claimed", values).await
    }

    async fn mark_sent(
        &self,
        message: &Message,
        wamid: &str,
        at: DateTime<Utc>,
        sent_as_template: Option<&str>,
        sent_event: Option<&NewEvent>,
    ) -> Result<(Written, Vec<EarlyStatus>)> {
        let mut values = HashMap::from([
            (":sent".to_string(), s(DeliveryStatus::Sent.as_str())),
            (":rank".to_string(), n(DeliveryStatus::Sent.rank())),
            (":queued".to_string(), s(DeliveryStatus::Queued.as_str())),
            (":sending".to_string(), s(DeliveryStatus::Sending.as_str())),
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
            self.update_op(keys::message(org, &message.conversation_id, &message.id), &expression, Some("#status IN (:queued, :sending)"), values, names)?,
            self.put_op(self.wamid_item(org, wamid, &message.conversation_id, &message.id), None, None)?,
        ];
        // The feed's `sent` event rides in the same transaction (issue 18: one transaction per
        // recorded send instead of two); its number is taken first, and given back as void
        // whenever the transaction does not land.
        let event = match sent_event {
            Some(e) => {
                let seq = self.take_event_seqs(org, 1).await?;
                Some((seq, self.event_ops(e, seq, Utc::now())?))
            }
            None => None,
        };
        let give_back = |seq: Option<u64>| async move {
            match seq {
                Some(seq) => self.void_events(org, seq, seq, Utc::now()).await,
                None => Ok(()),
            }
        };
        let seq = event.as_ref().map(|(seq, _)| *seq);
        let event_ops = event.map(|(_, ops)| ops).unwrap_or_default();
        // Usually nothing came before us: checked in the same transaction, so it costs no call.
        let early_key = keys::early_statuses(org, wamid);
        let mut first = items.clone();
        first.push(self.absent_op(early_key.clone())?);
        let marker_at = first.len();
        first.extend(event_ops.iter().cloned());
        match self.transact(first).await? {
            Ok(()) => return Ok((Written::Stored, Vec::new())),
            Err(codes) if failed_condition(&codes, 0) => {
                give_back(seq).await?;
                return Ok((Written::AlreadyThere, Vec::new()));
            }
            Err(codes) if seq.is_some() && failed_condition(&codes, marker_at) => {
                // The event is in the feed already (its dedupe marker exists): record the send alone.
                give_back(seq).await?;
                return self.mark_sent(message, wamid, at, sent_as_template, None).await;
            }
            Err(codes) if !failed_condition(&codes, 2) => {
                give_back(seq).await?;
                return Ok((Written::AlreadyThere, Vec::new()));
            }
            Err(_) => {}
        }
        // Meta called back first. Record the send: from then on no status can be kept any more
        // (keeping checks the marker is absent), so what is kept after the commit is all of them.
        items.extend(event_ops);
        if self.transact(items).await?.is_err() {
            give_back(seq).await?;
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
            .map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
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

