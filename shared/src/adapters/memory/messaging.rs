//! Channels, customers, conversations and their messages, in memory (`adapters::dynamo`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Delivery, MemoryStore, State, advance, fill_page, identity_key, identity_key_of, key, sort_time, written};
use crate::domain::audit::AuditEntry;
use crate::domain::channel::Channel;
use crate::domain::conversation::{Conversation, ConversationStatus};
use crate::domain::customer::{ChannelIdentity, Customer, IdentityChannel};
use crate::domain::event::NewEvent;
use crate::domain::message::{DeliveryStatus, Direction, FailureReason, Message};
use crate::error::{Error, Result};
use crate::ports::{
    ChannelDirectory, ChannelPut, Claim, ConversationFilter, ConversationStore, CustomerStore, EarlyStatus, MessageStore, Page, PageRequest,
    WamidIndex, Written,
};

/// The outbox index is spread over this many shards (`adapters::dynamo::REPLY_OUTBOX_SHARDS`); the
/// sweep reads each shard oldest first, at most its limit per shard.
const REPLY_OUTBOX_SHARDS: u32 = 8;

fn reply_outbox_shard(message_id: &str) -> u32 {
    message_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % REPLY_OUTBOX_SHARDS
}

fn message_key(org: &str, conversation: &str, message: &str) -> (String, String, String) {
    (org.to_string(), conversation.to_string(), message.to_string())
}

fn delivery(m: &mut Message) -> Delivery<'_> {
    Delivery {
        status: &mut m.status,
        failure: &mut m.failure,
        sent_at: &mut m.sent_at,
        delivered_at: &mut m.delivered_at,
        read_at: &mut m.read_at,
        failed_at: &mut m.failed_at,
    }
}

impl State {
    pub(super) fn message_absent(&self, m: &Message) -> bool {
        !self.messages.contains_key(&message_key(&m.org_id, &m.conversation_id, &m.id))
    }

    pub(super) fn put_message(&mut self, m: &Message) {
        self.messages.insert(message_key(&m.org_id, &m.conversation_id, &m.id), m.clone());
    }

    fn message_of_wamid(&mut self, org: &str, wamid: &str) -> Option<&mut Message> {
        let (conversation, message) = self.wamids.get(&key(org, wamid))?.clone();
        self.messages.get_mut(&message_key(org, &conversation, &message))
    }

    /// `MessageStore::apply_status` under the lock.
    fn apply_status(&mut self, org: &str, wamid: &str, status: DeliveryStatus, failure: Option<&FailureReason>, at: DateTime<Utc>) -> Written {
        if !self.wamids.contains_key(&key(org, wamid)) {
            // The send is not recorded yet (or the WhatsApp id is not ours): kept for `mark_sent`.
            let entry = EarlyStatus { status, failure: failure.cloned(), at };
            self.early_statuses.entry(key(org, wamid)).or_default().insert(status.as_str(), entry);
            return Written::AlreadyThere;
        }
        match self.message_of_wamid(org, wamid) {
            Some(m) => advance(delivery(m), status, failure, at),
            None => Written::AlreadyThere,
        }
    }
}

#[async_trait]
impl ChannelDirectory for MemoryStore {
    async fn channel_by_number(&self, phone_number_id: &str) -> Result<Option<Channel>> {
        Ok(self.read("channel_by_number")?.channels.get(phone_number_id).cloned())
    }

    async fn org_by_waba(&self, waba_id: &str) -> Result<Option<String>> {
        Ok(self.read("org_by_waba")?.wabas.get(waba_id).cloned())
    }

    async fn put_channel(&self, channel: &Channel, audit: Option<&AuditEntry>) -> Result<ChannelPut> {
        let mut st = self.write("put_channel")?;
        let org = &channel.org_id;
        if st.channels.get(&channel.phone_number_id).is_some_and(|c| c.org_id != *org) {
            return Ok(ChannelPut::NumberTaken);
        }
        if channel.waba_id.as_ref().is_some_and(|waba| st.wabas.get(waba).is_some_and(|owner| owner != org)) {
            return Ok(ChannelPut::WabaTaken);
        }
        if !super::audit::with_entry(&mut st, true, audit) {
            return Ok(ChannelPut::NumberTaken);
        }
        if let Some(waba) = &channel.waba_id {
            st.wabas.insert(waba.clone(), org.clone());
        }
        st.channels.insert(channel.phone_number_id.clone(), channel.clone());
        Ok(ChannelPut::Stored)
    }

    async fn channels(&self, org_id: &str, page: &PageRequest) -> Result<Page<Channel>> {
        let st = self.read("channels")?;
        // The index is keyed by number within the organisation's partition, as on DynamoDB.
        let entries: Vec<(String, Channel)> = st.channels.values().filter(|c| c.org_id == org_id).map(|c| (c.phone_number_id.clone(), c.clone())).collect();
        fill_page(&format!("{org_id}#CHANNELS"), entries, true, |_| true, page)
    }

    async fn delete_channel(&self, org_id: &str, phone_number_id: &str, audit: Option<&AuditEntry>) -> Result<Written> {
        let mut st = self.write("delete_channel")?;
        let ours = st.channels.get(phone_number_id).is_some_and(|c| c.org_id == org_id);
        if !super::audit::with_entry(&mut st, ours, audit) {
            return Ok(Written::AlreadyThere);
        }
        st.channels.remove(phone_number_id);
        Ok(Written::Stored)
    }

    async fn forget_waba(&self, org_id: &str, waba_id: &str) -> Result<()> {
        let mut st = self.write("forget_waba")?;
        if st.wabas.get(waba_id).is_some_and(|owner| owner == org_id) {
            st.wabas.remove(waba_id);
        }
        Ok(())
    }
}

#[async_trait]
impl CustomerStore for MemoryStore {
    async fn identity(&self, org_id: &str, channel: IdentityChannel, address: &str) -> Result<Option<ChannelIdentity>> {
        Ok(self.read("identity")?.identities.get(&identity_key(org_id, channel, address)).cloned())
    }

    async fn create_customer(&self, customer: &Customer, identity: &ChannelIdentity, conversation: &Conversation) -> Result<Written> {
        let mut st = self.write("create_customer")?;
        let fits = !st.identities.contains_key(&identity_key_of(identity))
            && !st.customers.contains_key(&key(&customer.org_id, &customer.id))
            && st.conversation_fits(conversation);
        if fits {
            st.identities.insert(identity_key_of(identity), identity.clone());
            st.put_customer(None, customer);
            st.put_conversation(conversation);
        }
        Ok(written(fits))
    }

    async fn open_conversation(&self, identity: &ChannelIdentity, previous: Option<&str>, conversation: &Conversation) -> Result<Written> {
        let mut st = self.write("open_conversation")?;
        let points_at_previous = st
            .identities
            .get(&identity_key_of(identity))
            .is_some_and(|i| i.open_conversation_id.as_deref() == previous && i.customer_id == conversation.customer_id);
        let fits = points_at_previous && st.conversation_fits(conversation);
        if fits {
            if let Some(i) = st.identities.get_mut(&identity_key_of(identity)) {
                i.open_conversation_id = Some(conversation.id.clone());
                i.last_conversation_id = Some(conversation.id.clone());
            }
            st.put_conversation(conversation);
        }
        Ok(written(fits))
    }

    async fn customer(&self, org_id: &str, customer_id: &str) -> Result<Option<Customer>> {
        Ok(self.read("customer")?.customers.get(&key(org_id, customer_id)).cloned())
    }
}

impl MemoryStore {
    /// Saves a changed conversation (its `version` already advanced), refusing a lost update.
    pub(super) fn save_conversation_as(&self, operation: &'static str, c: &Conversation) -> Result<()> {
        let mut st = self.write(operation)?;
        if !st.conversation_fits(c) {
            return Err(Error::LostUpdate("conversation"));
        }
        st.put_conversation(c);
        Ok(())
    }

    /// Closes or reopens `c`, moving its identity's open conversation with it.
    fn set_open(&self, operation: &'static str, c: &Conversation, open: bool, at: DateTime<Utc>) -> Result<Written> {
        let mut changed = c.clone();
        // A close gives the holder's place back in the same write.
        let released: Vec<_> = c.holds_capacity_of.iter().filter(|_| !open).map(|a| crate::domain::routing::CapacityChange::release(&c.org_id, a, at)).collect();
        if !open {
            changed.holds_capacity_of = None;
        }
        changed.status = if open { c.open_status() } else { ConversationStatus::Closed };
        changed.closed_at = if open { None } else { Some(at) };
        changed.updated_at = at;
        changed.version += 1;
        let mut st = self.write(operation)?;
        if !st.conversation_fits(&changed) {
            return Err(Error::LostUpdate("conversation"));
        }
        let identity = identity_key(&c.org_id, IdentityChannel::of_conversation(&c.channel), &c.customer_address);
        let free_or_ours = |i: &ChannelIdentity| i.open_conversation_id.as_deref().is_none_or(|o| o == c.id);
        if !st.identities.get(&identity).is_none_or(free_or_ours) || st.refused_change(&released).is_some() {
            return Ok(Written::AlreadyThere);
        }
        if let Some(i) = st.identities.get_mut(&identity) {
            i.open_conversation_id = open.then(|| c.id.clone());
        }
        st.put_conversation(&changed);
        st.apply_changes(&released);
        st.count_compliance(&changed);
        Ok(Written::Stored)
    }
}

#[async_trait]
impl ConversationStore for MemoryStore {
    async fn conversation(&self, org_id: &str, conversation_id: &str) -> Result<Option<Conversation>> {
        Ok(self.read("conversation")?.conversations.get(&key(org_id, conversation_id)).cloned())
    }

    async fn conversations(&self, org_id: &str, filter: &ConversationFilter, page: &PageRequest) -> Result<Page<Conversation>> {
        let st = self.read("conversations")?;
        // The index the DynamoDB adapter reads: by assignee, a team's queue, by status, or all;
        // the rest of the filter applies to what the partition gives.
        let team = filter.team_id.clone();
        let (partition, in_partition, status, team): (String, Box<dyn Fn(&Conversation) -> bool>, _, _) =
            match (&filter.assignee_id, filter.status, &filter.team_id) {
                (Some(a), status, _) => {
                    (format!("ORG#{org_id}#CONVS#ASSIGNEE#{a}"), Box::new(move |c: &Conversation| c.assignee_id.as_ref() == Some(a)), status, team)
                }
                (None, Some(ConversationStatus::Queued), Some(t)) => (
                    format!("ORG#{org_id}#CONVS#QUEUE#{t}"),
                    Box::new(move |c: &Conversation| c.assignee_id.is_none() && c.status == ConversationStatus::Queued && c.team_id.as_ref() == Some(t)),
                    None,
                    None,
                ),
                (None, Some(s), _) => (format!("ORG#{org_id}#CONVS#STATUS#{}", s.as_str()), Box::new(move |c: &Conversation| c.status == s), None, team),
                (None, None, _) => (format!("ORG#{org_id}#CONVS"), Box::new(|_: &Conversation| true), None, team),
            };
        let mut entries: Vec<(String, Conversation)> = st
            .conversations
            .values()
            .filter(|c| c.org_id == org_id && in_partition(c))
            .map(|c| (format!("{}#{}", sort_time(c.last_message_at), c.id), c.clone()))
            .collect();
        entries.sort_by(|a, b| b.0.cmp(&a.0));
        let priority = filter.priority;
        let pass = |c: &Conversation| {
            status.is_none_or(|s| c.status == s) && team.as_ref().is_none_or(|t| c.team_id.as_ref() == Some(t)) && priority.is_none_or(|p| c.priority == p)
        };
        fill_page(&partition, entries, false, pass, page)
    }

    async fn save_conversation(&self, conversation: &Conversation) -> Result<()> {
        self.save_conversation_as("save_conversation", conversation)
    }

    async fn close(&self, conversation: &Conversation, at: DateTime<Utc>) -> Result<Written> {
        self.set_open("close", conversation, false, at)
    }

    async fn reopen(&self, conversation: &Conversation, at: DateTime<Utc>) -> Result<Written> {
        self.set_open("reopen", conversation, true, at)
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn record_inbound(&self, message: &Message, conversation: &Conversation) -> Result<Written> {
        let wamid = message.wamid.as_deref().ok_or_else(|| Error::invalid("wamid", "inbound messages carry one"))?;
        let mut st = self.write("record_inbound")?;
        if st.wamids.contains_key(&key(&message.org_id, wamid)) || !st.message_absent(message) {
            return Ok(Written::AlreadyThere);
        }
        if !st.conversation_fits(conversation) {
            return Err(Error::LostUpdate("conversation"));
        }
        st.wamids.insert(key(&message.org_id, wamid), (message.conversation_id.clone(), message.id.clone()));
        st.put_message(message);
        st.unhandled.insert(message_key(&message.org_id, &message.conversation_id, &message.id));
        st.put_conversation(conversation);
        Ok(Written::Stored)
    }

    async fn unhandled_inbound(&self, org_id: &str, wamid: &str) -> Result<Option<Message>> {
        let st = self.read("unhandled_inbound")?;
        let Some((conversation, message)) = st.wamids.get(&key(org_id, wamid)) else {
            return Ok(None);
        };
        let at = message_key(org_id, conversation, message);
        Ok(st.unhandled.contains(&at).then(|| st.messages.get(&at).cloned()).flatten())
    }

    async fn mark_handled(&self, message: &Message) -> Result<()> {
        self.write("mark_handled")?.unhandled.remove(&message_key(&message.org_id, &message.conversation_id, &message.id));
        Ok(())
    }

    async fn record_outbound(&self, message: &Message, conversation: &Conversation) -> Result<Written> {
        let mut st = self.write("record_outbound")?;
        let reply_key = message.idempotency_key.as_ref().map(|k| message_key(&message.org_id, &message.conversation_id, k));
        if !st.message_absent(message) || reply_key.as_ref().is_some_and(|k| st.reply_keys.contains_key(k)) {
            return Ok(Written::AlreadyThere);
        }
        if !st.conversation_fits(conversation) {
            return Err(Error::LostUpdate("conversation"));
        }
        st.put_message(message);
        st.put_conversation(conversation);
        st.count_compliance(conversation);
        if let Some(k) = reply_key {
            st.reply_keys.insert(k, message.id.clone());
        }
        Ok(Written::Stored)
    }

    async fn message(&self, org_id: &str, conversation_id: &str, message_id: &str) -> Result<Option<Message>> {
        Ok(self.read("message")?.messages.get(&message_key(org_id, conversation_id, message_id)).cloned())
    }

    async fn queued_between(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit_per_shard: i32) -> Result<Vec<Message>> {
        let st = self.read("queued_between")?;
        let (low, high) = (sort_time(from), format!("{}#~", sort_time(to)));
        let mut shards: Vec<Vec<(String, Message)>> = vec![Vec::new(); REPLY_OUTBOX_SHARDS as usize];
        // In the outbox: outbound, not yet sent nor failed (recording either takes a message out).
        let in_outbox = |m: &&Message| m.direction == Direction::Outbound && matches!(m.status, DeliveryStatus::Queued | DeliveryStatus::Sending);
        for m in st.messages.values().filter(in_outbox) {
            let sort = format!("{}#{}", sort_time(m.created_at), m.id);
            if low <= sort && sort <= high {
                shards[reply_outbox_shard(&m.id) as usize].push((sort, m.clone()));
            }
        }
        let mut found = Vec::new();
        for (shard, mut entries) in shards.into_iter().enumerate() {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let page = PageRequest { limit: limit_per_shard, cursor: None };
            found.extend(fill_page(&format!("REPLY_OUTBOX#{shard}"), entries, true, |_| true, &page)?.items);
        }
        Ok(found)
    }

    async fn message_by_idempotency_key(&self, org_id: &str, conversation_id: &str, key: &str) -> Result<Option<Message>> {
        let st = self.read("message_by_idempotency_key")?;
        Ok(st
            .reply_keys
            .get(&message_key(org_id, conversation_id, key))
            .and_then(|id| st.messages.get(&message_key(org_id, conversation_id, id)))
            .cloned())
    }

    async fn message_with_conversation(&self, org_id: &str, conversation_id: &str, message_id: &str) -> Result<(Option<Message>, Option<Conversation>)> {
        let st = self.read("message_with_conversation")?;
        Ok((
            st.messages.get(&message_key(org_id, conversation_id, message_id)).cloned(),
            st.conversations.get(&key(org_id, conversation_id)).cloned(),
        ))
    }

    async fn messages(&self, org_id: &str, conversation_id: &str, page: &PageRequest, newest_first: bool) -> Result<Page<Message>> {
        let st = self.read("messages")?;
        let mut entries: Vec<(String, Message)> = st
            .messages
            .range(message_key(org_id, conversation_id, "")..)
            .take_while(|((o, c, _), _)| o == org_id && c == conversation_id)
            .map(|((_, _, id), m)| (format!("MSG#{id}"), m.clone()))
            .collect();
        if newest_first {
            entries.reverse();
        }
        fill_page(&format!("ORG#{org_id}#CONV#{conversation_id}"), entries, !newest_first, |_| true, page)
    }

    async fn claim_send(&self, org_id: &str, conversation_id: &str, message_id: &str, at: DateTime<Utc>) -> Result<Claim> {
        let mut st = self.write("claim_send")?;
        let Some(m) = st.messages.get_mut(&message_key(org_id, conversation_id, message_id)) else {
            return Ok(Claim::Unclaimed(None));
        };
        if m.status != DeliveryStatus::Queued {
            return Ok(Claim::Unclaimed(Some(m.clone())));
        }
        m.status = DeliveryStatus::Sending;
        m.sending_at = Some(at);
        Ok(Claim::Claimed(m.clone()))
    }

    async fn claim_resend(&self, message: &Message, at: DateTime<Utc>) -> Result<Written> {
        let mut st = self.write("claim_resend")?;
        let Some(m) = st.messages.get_mut(&message_key(&message.org_id, &message.conversation_id, &message.id)) else {
            return Ok(Written::AlreadyThere);
        };
        if m.status != DeliveryStatus::Sending || message.sending_at.is_none() || m.sending_at != message.sending_at || m.resent_at.is_some() {
            return Ok(Written::AlreadyThere);
        }
        m.sending_at = Some(at);
        m.resent_at = Some(at);
        Ok(Written::Stored)
    }

    async fn release_send(&self, message: &Message) -> Result<Written> {
        let mut st = self.write("release_send")?;
        let Some(m) = st.messages.get_mut(&message_key(&message.org_id, &message.conversation_id, &message.id)) else {
            return Ok(Written::AlreadyThere);
        };
        if m.status != DeliveryStatus::Sending || message.sending_at.is_none() || m.sending_at != message.sending_at {
            return Ok(Written::AlreadyThere);
        }
        m.status = DeliveryStatus::Queued;
        m.sending_at = None;
        Ok(Written::Stored)
    }

    async fn mark_sent(
        &self,
        message: &Message,
        wamid: &str,
        at: DateTime<Utc>,
        sent_as_template: Option<&str>,
        sent_event: Option<&NewEvent>,
    ) -> Result<(Written, Vec<EarlyStatus>)> {
        let mut st = self.write("mark_sent")?;
        let org = message.org_id.as_str();
        let Some(m) = st.messages.get_mut(&message_key(org, &message.conversation_id, &message.id)) else {
            return Ok((Written::AlreadyThere, Vec::new()));
        };
        if !matches!(m.status, DeliveryStatus::Queued | DeliveryStatus::Sending) {
            return Ok((Written::AlreadyThere, Vec::new()));
        }
        m.status = DeliveryStatus::Sent;
        m.wamid = Some(wamid.to_string());
        m.sent_at = Some(at);
        if let Some(t) = sent_as_template {
            m.sent_as_template = Some(t.to_string());
        }
        st.wamids.insert(key(org, wamid), (message.conversation_id.clone(), message.id.clone()));
        if let Some(event) = sent_event {
            st.record_event_with(event);
        }
        // Statuses Meta called back first: applied now, in order, then forgotten.
        let Some(kept) = st.early_statuses.remove(&key(org, wamid)) else {
            return Ok((Written::Stored, Vec::new()));
        };
        // One per status, in rank order (what the DynamoDB adapter sorts them into).
        let early = [DeliveryStatus::Delivered, DeliveryStatus::Read, DeliveryStatus::Failed].iter().filter_map(|s| kept.get(s.as_str()).cloned());
        let mut applied = Vec::new();
        for e in early {
            if st.apply_status(org, wamid, e.status, e.failure.as_ref(), e.at) == Written::Stored {
                applied.push(e);
            }
        }
        Ok((Written::Stored, applied))
    }

    async fn mark_failed(&self, message: &Message, failure: &FailureReason, at: DateTime<Utc>) -> Result<Written> {
        let mut st = self.write("mark_failed")?;
        let Some(m) = st.messages.get_mut(&message_key(&message.org_id, &message.conversation_id, &message.id)) else {
            return Ok(Written::AlreadyThere);
        };
        if m.status.rank() >= DeliveryStatus::Failed.rank() {
            return Ok(Written::AlreadyThere);
        }
        m.status = DeliveryStatus::Failed;
        m.failure = Some(failure.clone());
        m.failed_at = Some(at);
        Ok(Written::Stored)
    }

    async fn apply_status(&self, org_id: &str, wamid: &str, status: DeliveryStatus, failure: Option<&FailureReason>, at: DateTime<Utc>) -> Result<Written> {
        Ok(self.write("apply_status")?.apply_status(org_id, wamid, status, failure, at))
    }
}

#[async_trait]
impl WamidIndex for MemoryStore {
    async fn message_by_wamid(&self, org_id: &str, wamid: &str) -> Result<Option<Message>> {
        let st = self.read("message_by_wamid")?;
        let Some((conversation, message)) = st.wamids.get(&key(org_id, wamid)) else {
            return Ok(None);
        };
        Ok(st.messages.get(&message_key(org_id, conversation, message)).cloned())
    }
}
