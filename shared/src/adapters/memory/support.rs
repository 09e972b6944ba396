//! Support tickets and the bot, in memory (`adapters::dynamo_support`).

use std::collections::HashMap;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{MemoryStore, State, fill_page, key, written};
use crate::domain::bot::StoredBotSettings;
use crate::domain::message::DeliveryStatus;
use crate::domain::audit::AuditEntry;
use crate::domain::support::{Assigned, SupportTicket, TicketCounts, TicketFilter, TicketMessage, counter_changes, daily_limit_reached};
use crate::error::{Error, Result};
use crate::ports::{BotStore, Page, PageRequest, SupportStore, TicketWrite, Written};

/// Moves the organisation's ticket counters.
pub(super) fn count(st: &mut State, org: &str, changes: &[(String, i64)]) {
    let counters = st.ticket_counters.entry(org.to_string()).or_default();
    for (k, delta) in changes {
        *counters.entry(k.clone()).or_default() += delta;
    }
}

/// Cursor of a ticket list: the id the next page continues below (every list is ordered by id).
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

#[async_trait]
impl SupportStore for MemoryStore {
    async fn ticket(&self, org_id: &str, ticket_id: &str) -> Result<Option<SupportTicket>> {
        Ok(self.read("ticket")?.tickets.get(&key(org_id, ticket_id)).cloned())
    }

    async fn ticket_messages(&self, org_id: &str, ticket_id: &str, page: &PageRequest) -> Result<Page<TicketMessage>> {
        let st = self.read("ticket_messages")?;
        let start = (org_id.to_string(), ticket_id.to_string(), String::new());
        let entries: Vec<(String, TicketMessage)> = st
            .ticket_messages
            .range(start..)
            .take_while(|((o, t, _), _)| o == org_id && t == ticket_id)
            .map(|((_, _, id), m)| (format!("MSG#{id}"), m.clone()))
            .collect();
        fill_page(&format!("ORG#{org_id}#TICKET#{ticket_id}"), entries, true, |_| true, page)
    }

    async fn tickets(&self, org_id: &str, filter: &TicketFilter, page: &PageRequest) -> Result<Page<SupportTicket>> {
        let before = page.cursor.as_deref().map(decode_before).transpose()?;
        let limit = page.limit.max(1) as usize;
        let st = self.read("tickets")?;
        let matches = |t: &SupportTicket| {
            (filter.statuses.is_empty() || filter.statuses.contains(&t.status))
                && filter.priority.is_none_or(|p| t.priority == p)
                && filter.assigned.as_ref().is_none_or(|a| match a {
                    Assigned::Nobody => t.assigned_admin_id.is_none(),
                    Assigned::To(id) => t.assigned_admin_id.as_ref() == Some(id),
                })
        };
        // Newest first: ticket ids are ULIDs.
        let mut items: Vec<SupportTicket> = st
            .tickets
            .range(key(org_id, "")..)
            .take_while(|((o, _), _)| o == org_id)
            .map(|(_, t)| t)
            .filter(|t| before.as_ref().is_none_or(|b| t.id < *b) && matches(t))
            .cloned()
            .collect();
        items.reverse();
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more { items.last().map(|t| encode_before(&t.id)) } else { None };
        Ok(Page { items, next_cursor })
    }

    async fn ticket_counts(&self, org_id: &str) -> Result<TicketCounts> {
        let st = self.read("ticket_counts")?;
        let counts = st
            .ticket_counters
            .get(org_id)
            .map(|c| c.iter().filter(|(k, _)| k.starts_with("n:")).map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        Ok(TicketCounts { counts })
    }

    async fn save_ticket(&self, write: &TicketWrite<'_>) -> Result<Written> {
        let mut st = self.write("save_ticket")?;
        let after = write.after;
        let ticket_key = key(&after.org_id, &after.id);
        let ticket_fits = match write.before {
            None => !st.tickets.contains_key(&ticket_key),
            Some(before) => st.tickets.get(&ticket_key).is_some_and(|t| t.version == before.version),
        };
        let message_key = write.message.map(|m| (m.org_id.clone(), m.ticket_id.clone(), m.id.clone()));
        let message_fits = message_key.as_ref().is_none_or(|k| !st.ticket_messages.contains_key(k));
        let conversation_fits = write.conversation.is_none_or(|c| st.conversation_fits(c));
        let cap_key = write.daily_cap.map(|c| (after.org_id.clone(), c.customer_id.clone(), c.day.clone()));
        let cap_fits = write.daily_cap.is_none_or(|c| cap_key.as_ref().and_then(|k| st.ticket_caps.get(k)).copied().unwrap_or(0) < c.limit);
        let audit_fits = write.audit.is_none_or(|e| super::audit::audit_fits(&st, e));
        if !(ticket_fits && message_fits && conversation_fits && cap_fits && audit_fits) {
            return if !message_fits || (write.before.is_none() && !ticket_fits) {
                Ok(Written::AlreadyThere)
            } else if let (false, Some(cap)) = (cap_fits, write.daily_cap) {
                Err(daily_limit_reached(cap))
            } else {
                Err(Error::LostUpdate("ticket or its conversation"))
            };
        }
        if let Some(e) = write.audit {
            super::audit::put_audit(&mut st, e);
        }
        if let Some(k) = cap_key {
            *st.ticket_caps.entry(k).or_default() += 1;
        }
        st.tickets.insert(ticket_key, after.clone());
        if let (Some(k), Some(m)) = (message_key, write.message) {
            st.ticket_messages.insert(k, m.clone());
        }
        count(&mut st, &after.org_id, &counter_changes(write.before, after));
        if let Some(c) = write.conversation {
            st.put_conversation(c);
        }
        Ok(Written::Stored)
    }

    async fn ticket_ids_by_external_ref(&self, org_id: &str, external_ref: &str) -> Result<Vec<String>> {
        let st = self.read("ticket_ids_by_external_ref")?;
        let mut ids: Vec<String> = st
            .tickets
            .range(key(org_id, "")..)
            .take_while(|((o, _), _)| o == org_id)
            .filter(|(_, t)| t.external_ref.as_deref() == Some(external_ref))
            .map(|((_, id), _)| id.clone())
            .collect();
        ids.reverse();
        Ok(ids)
    }

    async fn tickets_by_id(&self, org_id: &str, ids: &[String]) -> Result<Vec<SupportTicket>> {
        let st = self.read("tickets_by_id")?;
        Ok(ids.iter().filter_map(|id| st.tickets.get(&key(org_id, id)).cloned()).collect())
    }

    async fn delivery_statuses(&self, org_id: &str, conversation_id: &str, message_ids: &[String]) -> Result<HashMap<String, DeliveryStatus>> {
        let st = self.read("delivery_statuses")?;
        Ok(message_ids
            .iter()
            .filter_map(|id| {
                let m = st.messages.get(&(org_id.to_string(), conversation_id.to_string(), id.clone()))?;
                Some((id.clone(), m.status))
            })
            .collect())
    }
}

#[async_trait]
impl BotStore for MemoryStore {
    async fn bot_settings(&self, org_id: &str) -> Result<Option<StoredBotSettings>> {
        Ok(self.read("bot_settings")?.bot_settings.get(org_id).cloned())
    }

    async fn put_bot_settings(&self, settings: &StoredBotSettings, audit: Option<&AuditEntry>) -> Result<()> {
        let mut st = self.write("put_bot_settings")?;
        if super::audit::with_entry(&mut st, true, audit) {
            st.bot_settings.insert(settings.org_id.clone(), settings.clone());
        }
        Ok(())
    }

    async fn put_bot_settings_if_missing(&self, settings: &StoredBotSettings) -> Result<Written> {
        let mut st = self.write("put_bot_settings_if_missing")?;
        let missing = !st.bot_settings.contains_key(&settings.org_id);
        if missing {
            st.bot_settings.insert(settings.org_id.clone(), settings.clone());
        }
        Ok(written(missing))
    }
}
