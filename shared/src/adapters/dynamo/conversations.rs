//! Channels, customers and their identities, and conversations on DynamoDB.

use std::collections::HashMap;
use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};

use crate::domain::audit::AuditEntry;
use crate::domain::channel::Channel;
use crate::domain::conversation::{Conversation, ConversationStatus};
use crate::domain::sla::Priority;
use crate::domain::customer::{ChannelIdentity, Customer, IdentityChannel};
use crate::error::{Error, Result};
use crate::ports::{
    ChannelDirectory, ChannelPut, ConversationFilter, ConversationStore, CustomerStore, Page, PageRequest,
    Written,
};

use super::*;

impl DynamoStore {
    pub(super) fn conversation_item(&self, c: &Conversation) -> Result<Item> {
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
        } else if let (ConversationStatus::Queued, Some(team)) = (c.status, &c.team_id) {
            extra.push(("gsi3pk", keys::team_queue(&c.org_id, team)));
            extra.push(("gsi3sk", sort));
        }
        // In the SLA deadline index while a step is owed: derived from the conversation itself,
        // so every write that starts, stops or fires a clock moves its entry at no extra call.
        if let Some(at) = c.sla.as_ref().and_then(|s| s.check_at).filter(|_| c.status.is_open()) {
            extra.push(("gsi4pk", keys::sla_due(at)));
            extra.push(("gsi4sk", format!("{}#{}#{}", sort_time(at), c.org_id, c.id)));
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
}

#[async_trait]
impl ChannelDirectory for DynamoStore {
    async fn put_channel(&self, channel: &Channel, audit: Option<&AuditEntry>) -> Result<ChannelPut> {
        let org = &channel.org_id;
        // Ours or nobody's: another organisation's number or WABA is never overwritten.
        let ours = Some("attribute_not_exists(pk) OR org_id = :org");
        let values = || Some(HashMap::from([(":org".to_string(), s(org))]));
        let extra = [("gsi1pk", keys::channels(org)), ("gsi1sk", channel.phone_number_id.clone())];
        let mut items = vec![self.put_op(keyed(channel, keys::channel(&channel.phone_number_id), &extra)?, ours, values())?];
        if let Some(waba) = &channel.waba_id {
            let mut item = key_map(keys::waba(waba));
            item.insert("org_id".to_string(), s(org));
            items.push(self.put_op(item, ours, values())?);
        }
        if let Some(entry) = audit {
            items.push(self.audit_put(entry)?);
        }
        let put = match self.transact(items).await? {
            Ok(()) => ChannelPut::Stored,
            Err(codes) if failed_condition(&codes, 0) => ChannelPut::NumberTaken,
            Err(_) => ChannelPut::WabaTaken,
        };
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).remove(&channel.phone_number_id);
        Ok(put)
    }

    async fn channel_by_number(&self, phone_number_id: &str) -> Result<Option<Channel>> {
        if let Some((at, cached)) = self.channels.lock().unwrap_or_else(|p| p.into_inner()).get(phone_number_id)
            && at.elapsed() < CHANNEL_CACHE_TTL {
                return Ok(Some(cached.clone()));
            }
        // Strongly consistent: a number registered a moment ago must be found (a change to it that
        // came in meanwhile would otherwise stay in quarantine).
        let channel: Option<Channel> = self.get_consistent(keys::channel(phone_number_id)).await?;
        if let Some(c) = &channel {
            self.channels.lock().unwrap_or_else(|p| p.into_inner()).insert(phone_number_id.to_string(), (Instant::now(), c.clone()));
        }
        Ok(channel)
    }

    async fn org_by_waba(&self, waba_id: &str) -> Result<Option<String>> {
        #[derive(serde::Deserialize)]
        struct Waba {
            org_id: String,
        }
        Ok(self.get::<Waba>(keys::waba(waba_id)).await?.map(|w| w.org_id))
    }

    async fn channels(&self, org_id: &str, page: &PageRequest) -> Result<Page<Channel>> {
        self.query_page(Some("gsi1"), "gsi1pk", &keys::channels(org_id), None, None, true, page).await
    }

    async fn delete_channel(&self, org_id: &str, phone_number_id: &str, audit: Option<&AuditEntry>) -> Result<Written> {
        let written = match audit {
            Some(entry) => {
                let ours = HashMap::from([(":org".to_string(), s(org_id))]);
                self.write_audited(self.delete_op(keys::channel(phone_number_id), Some(("org_id = :org", ours)))?, entry).await?
            }
            None => self.delete_if_org(keys::channel(phone_number_id), org_id).await?,
        };
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).remove(phone_number_id);
        Ok(written)
    }

    async fn forget_waba(&self, org_id: &str, waba_id: &str) -> Result<()> {
        self.delete_if_org(keys::waba(waba_id), org_id).await.map(|_| ())
    }
}

impl DynamoStore {
    /// Deletes the item at `key` if it is `org`'s (its `org_id`); `AlreadyThere` otherwise.
    async fn delete_if_org(&self, key: (String, String), org: &str) -> Result<Written> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key_map(key)))
            .condition_expression("org_id = :org")
            .expression_attribute_values(":org", s(org))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Stored),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(Written::AlreadyThere),
            Err(e) => Err(crate::adapters::sdk_error("dynamodb", e)),
        }
    }
}

#[async_trait]
impl CustomerStore for DynamoStore {
    async fn identity(&self, org_id: &str, channel: IdentityChannel, address: &str) -> Result<Option<ChannelIdentity>> {
        self.get(keys::identity(org_id, channel, address)).await
    }

    async fn create_customer(&self, customer: &Customer, identity: &ChannelIdentity, conversation: &Conversation) -> Result<Written> {
        let not_exists = Some("attribute_not_exists(pk)");
        let mut items = vec![
            self.put_op(keyed(identity, keys::identity_of(identity), &[])?, not_exists, None)?,
            self.put_op(keyed(customer, keys::customer(&customer.org_id, &customer.id), &[])?, not_exists, None)?,
            self.conversation_put(conversation)?,
            self.link_op(keys::customer_conversation(&customer.org_id, &customer.id, &conversation.id))?,
        ];
        items.extend(self.term_puts(customer, &customer.search_terms())?);
        Ok(match self.transact(items).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }

    async fn open_conversation(&self, identity: &ChannelIdentity, previous: Option<&str>, conversation: &Conversation) -> Result<Written> {
        // The identity must still lead to the conversation's customer: a link that re-pointed it
        // meanwhile sends the message to read it again (and open the conversation on the primary).
        let mut values = HashMap::from([(":new".to_string(), s(&conversation.id)), (":customer".to_string(), s(&conversation.customer_id))]);
        let condition = match previous {
            Some(p) => {
                values.insert(":previous".into(), s(p));
                "open_conversation_id = :previous AND customer_id = :customer"
            }
            None => "attribute_exists(pk) AND attribute_not_exists(open_conversation_id) AND customer_id = :customer",
        };
        let items = vec![
            self.update_op(
                keys::identity_of(identity),
                "SET open_conversation_id = :new, last_conversation_id = :new",
                Some(condition),
                values,
                None,
            )?,
            self.conversation_put(conversation)?,
            self.link_op(keys::customer_conversation(&conversation.org_id, &conversation.customer_id, &conversation.id))?,
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
        // The narrowest partition the filter allows; what is left is a filter on it (a page
        // stops after 4 queries, `query_page`).
        let (index, pk, status, team) = match (&filter.assignee_id, filter.status, &filter.team_id) {
            (Some(assignee), status, team) => ("gsi3", keys::conversations_by_assignee(org_id, assignee), status, team.as_ref()),
            (None, Some(ConversationStatus::Queued), Some(team)) => ("gsi3", keys::team_queue(org_id, team), None, None),
            (None, Some(status), team) => ("gsi2", keys::conversations_by_status(org_id, status.as_str()), None, team.as_ref()),
            (None, None, team) => ("gsi1", keys::conversations_all(org_id), None, team.as_ref()),
        };
        let mut conditions = Vec::new();
        let mut values = HashMap::new();
        if let Some(st) = status {
            conditions.push("#status = :status");
            values.insert(":status".to_string(), s(st.as_str()));
        }
        if let Some(team) = team {
            conditions.push("team_id = :team");
            values.insert(":team".to_string(), s(team));
        }
        if let Some(priority) = filter.priority {
            // Items written before priorities existed are normal.
            if priority == Priority::Normal {
                conditions.push("(priority = :priority OR attribute_not_exists(priority))");
            } else {
                conditions.push("priority = :priority");
            }
            values.insert(":priority".to_string(), s(priority.as_str()));
        }
        let expression = conditions.join(" AND ");
        let filter = (!conditions.is_empty()).then_some((expression.as_str(), values));
        let index_pk = format!("{index}pk");
        self.query_page(Some(index), &index_pk, &pk, None, filter, false, page).await
    }

    async fn save_conversation(&self, c: &Conversation) -> Result<()> {
        match self.transact(vec![self.conversation_put(c)?]).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::LostUpdate("conversation")),
        }
    }

    async fn close(&self, c: &Conversation, at: DateTime<Utc>) -> Result<Written> {
        let mut closed = c.clone();
        closed.status = ConversationStatus::Closed;
        closed.closed_at = Some(at);
        closed.updated_at = at;
        closed.version += 1;
        // The place the conversation held is given back in the close's own write.
        let released = closed.holds_capacity_of.take().map(|a| crate::domain::routing::CapacityChange::release(&c.org_id, &a, at));
        let values = HashMap::from([(":conversation".to_string(), s(&c.id))]);
        let mut items = vec![
            self.conversation_put(&closed)?,
            self.update_op(
                keys::identity(&c.org_id, IdentityChannel::of_conversation(&c.channel), &c.customer_address),
                "REMOVE open_conversation_id",
                Some("attribute_not_exists(open_conversation_id) OR open_conversation_id = :conversation"),
                values,
                None,
            )?,
        ];
        if let Some(change) = &released {
            items.push(self.capacity_op(change)?);
        }
        // The clocks the close stopped are counted with it.
        items.extend(self.compliance_ops(&closed)?);
        match self.transact(items).await? {
            Ok(()) => Ok(Written::Stored),
            Err(codes) if failed_condition(&codes, 0) => Err(Error::LostUpdate("conversation")),
            Err(_) => Ok(Written::AlreadyThere),
        }
    }

    async fn reopen(&self, c: &Conversation, at: DateTime<Utc>) -> Result<Written> {
        let mut open = c.clone();
        open.status = c.open_status();
        open.closed_at = None;
        open.updated_at = at;
        open.version += 1;
        let values = HashMap::from([(":conversation".to_string(), s(&c.id))]);
        let items = vec![
            self.conversation_put(&open)?,
            self.update_op(
                keys::identity(&c.org_id, IdentityChannel::of_conversation(&c.channel), &c.customer_address),
                "SET open_conversation_id = :conversation",
                Some("attribute_not_exists(open_conversation_id) OR open_conversation_id = :conversation"),
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
