//! Actions, their answers, the answer templates and the event feed, in memory
//! (`adapters::dynamo_actions`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Delivery, MemoryStore, State, advance, check_limit, fill_page, key, written};
use crate::domain::action::{Action, ActionResponse, AnswerStatus};
use crate::domain::audit::AuditEntry;
use crate::domain::event::{DashboardEvent, NewEvent};
use crate::domain::message::{DeliveryStatus, FailureReason, Message};
use crate::domain::response_template::ResponseTemplates;
use crate::error::{Error, Result};
use crate::ports::{ActionFilter, ActionStore, DecisionContext, DecisionWrite, EventStore, FeedWaiters, Page, PageRequest, ResponseTemplateStore, WaitPlace, Written};

impl State {
    /// Takes the organisation's next `count` sequence numbers and answers the last.
    pub(super) fn take_event_seqs(&mut self, org: &str, count: u64) -> u64 {
        let counter = self.event_counters.entry(org.to_string()).or_default();
        *counter += count;
        *counter
    }

    pub(super) fn put_event(&mut self, event: DashboardEvent) {
        self.events.insert((event.org_id.clone(), event.seq), event);
    }

    /// Records `event` inside another write, once per dedupe key (`MessageStore::mark_sent`).
    pub(super) fn record_event_with(&mut self, event: &NewEvent) {
        let marker = event.dedupe_key.as_ref().map(|k| key(&event.org_id, k));
        if marker.as_ref().is_some_and(|m| self.event_keys.contains_key(m)) {
            return;
        }
        let seq = self.take_event_seqs(&event.org_id, 1);
        if let Some(m) = marker {
            self.event_keys.insert(m, seq);
        }
        self.put_event(DashboardEvent::recorded(event, seq, Utc::now()));
    }
}

#[async_trait]
impl ActionStore for MemoryStore {
    async fn create_action(&self, action: &Action, idempotency_key: Option<&str>) -> Result<Written> {
        let mut st = self.write("create_action")?;
        let marker = idempotency_key.map(|k| key(&action.org_id, k));
        let fits = !st.actions.contains_key(&key(&action.org_id, &action.id)) && marker.as_ref().is_none_or(|m| !st.action_keys.contains_key(m));
        if fits {
            st.actions.insert(key(&action.org_id, &action.id), action.clone());
            if let Some(m) = marker {
                st.action_keys.insert(m, action.id.clone());
            }
        }
        Ok(written(fits))
    }

    async fn action_by_key(&self, org_id: &str, idempotency_key: &str) -> Result<Option<Action>> {
        let st = self.read("action_by_key")?;
        Ok(st.action_keys.get(&key(org_id, idempotency_key)).and_then(|id| st.actions.get(&key(org_id, id))).cloned())
    }

    async fn action(&self, org_id: &str, action_id: &str) -> Result<Option<Action>> {
        Ok(self.read("action")?.actions.get(&key(org_id, action_id)).cloned())
    }

    async fn action_with_response(&self, org_id: &str, action_id: &str) -> Result<(Option<Action>, Option<ActionResponse>)> {
        let st = self.read("action_with_response")?;
        Ok((st.actions.get(&key(org_id, action_id)).cloned(), st.action_responses.get(&key(org_id, action_id)).cloned()))
    }

    async fn decision_context(&self, action: &Action) -> Result<DecisionContext> {
        let st = self.read("decision_context")?;
        let org = action.org_id.as_str();
        let bubble = (org.to_string(), action.conversation_id.clone(), action.request_message_id.clone());
        Ok(DecisionContext {
            templates: st.response_templates.get(org).cloned(),
            conversation: st.conversations.get(&key(org, &action.conversation_id)).cloned(),
            customer: st.customers.get(&key(org, &action.customer_id)).cloned(),
            // A bubble without a content map (written by an older version) is left as it is.
            bubble_shown: st.messages.get(&bubble).is_some_and(|m| matches!(m.content, Some(serde_json::Value::Object(_)))),
        })
    }

    async fn actions(&self, org_id: &str, filter: &ActionFilter, page: &PageRequest) -> Result<Page<Action>> {
        let st = self.read("actions")?;
        let (status, action_type) = (filter.status, filter.action_type.as_deref());
        // The index the DynamoDB adapter reads (the most selective filter); the others filter it.
        let (partition, in_partition, status_filter, type_filter): (String, Box<dyn Fn(&Action) -> bool>, _, _) =
            match (&filter.conversation_id, status, action_type) {
                (Some(c), _, _) => (format!("ORG#{org_id}#ACTIONS#CONV#{c}"), Box::new(move |a| a.conversation_id == *c), status, action_type),
                (None, Some(s), _) => (format!("ORG#{org_id}#ACTIONS#STATUS#{}", s.as_str()), Box::new(move |a| a.status == s), None, action_type),
                (None, None, Some(t)) => (format!("ORG#{org_id}#ACTIONS#TYPE#{t}"), Box::new(move |a| a.action_type == t), None, None),
                (None, None, None) => (format!("ORG#{org_id}#ACTIONS"), Box::new(|_| true), None, None),
            };
        // Newest first: action ids are ULIDs.
        let mut entries: Vec<(String, Action)> = st
            .actions
            .range(key(org_id, "")..)
            .take_while(|((o, _), _)| o == org_id)
            .filter(|(_, a)| in_partition(a))
            .map(|((_, id), a)| (id.clone(), a.clone()))
            .collect();
        entries.reverse();
        let pass = |a: &Action| status_filter.is_none_or(|s| a.status == s) && type_filter.is_none_or(|t| a.action_type == t);
        fill_page(&partition, entries, false, pass, page)
    }

    async fn save_decision(&self, write: &DecisionWrite) -> Result<Written> {
        let action = &write.action;
        let decision = serde_json::to_value(&action.decision).map_err(|e| Error::backend("memory", e))?;
        let answer_status = serde_json::to_value(action.answer_status).map_err(|e| Error::backend("memory", e))?;
        let mut st = self.write("save_decision")?;
        let org = action.org_id.as_str();
        let now = Utc::now();
        // The number is taken first (outside the transaction), as on DynamoDB.
        let seq = st.take_event_seqs(org, 1);
        let bubble = (org.to_string(), action.conversation_id.clone(), action.request_message_id.clone());
        let decided_over = action.version.saturating_sub(1);
        let fits = st.actions.get(&key(org, &action.id)).is_some_and(|a| a.version == decided_over)
            && st.conversation_fits(&write.conversation)
            && st.message_absent(&write.answer)
            && st.message_absent(&write.note)
            && !st.action_responses.contains_key(&key(org, &action.id))
            && !st.events.contains_key(&(org.to_string(), seq))
            && (!write.bubble_shown || st.messages.contains_key(&bubble))
            && write.audit.as_ref().is_none_or(|e| super::audit::audit_fits(&st, e));
        let bubble_is_a_map = !write.bubble_shown || st.messages.get(&bubble).is_some_and(|m| matches!(m.content, Some(serde_json::Value::Object(_))));
        if !fits || !bubble_is_a_map {
            // Nothing was written: the number is given up so readers need not wait for it.
            st.events.entry((org.to_string(), seq)).or_insert_with(|| DashboardEvent::void(org, seq, now));
            if !bubble_is_a_map && fits {
                return Err(Error::backend("memory", "the bubble's content is not a map"));
            }
            return Ok(Written::AlreadyThere);
        }
        st.actions.insert(key(org, &action.id), action.clone());
        st.put_conversation(&write.conversation);
        st.put_message(&write.answer);
        st.put_message(&write.note);
        st.action_responses.insert(key(org, &action.id), write.response.clone());
        st.put_event(DashboardEvent::recorded(&write.event, seq, now));
        if let Some(e) = &write.audit {
            super::audit::put_audit(&mut st, e);
        }
        if let (true, Some(Message { content: Some(serde_json::Value::Object(content)), .. })) = (write.bubble_shown, st.messages.get_mut(&bubble)) {
            content.insert("status".into(), serde_json::Value::String(action.status.as_str().to_string()));
            content.insert("decision".into(), decision);
            content.insert("answer_status".into(), answer_status);
        }
        Ok(Written::Stored)
    }

    async fn apply_response_status(
        &self,
        action: &Action,
        status: DeliveryStatus,
        wamid: Option<&str>,
        failure: Option<&FailureReason>,
        at: DateTime<Utc>,
    ) -> Result<Written> {
        let Some(answer) = AnswerStatus::of(status) else {
            return Ok(Written::AlreadyThere);
        };
        let org_id = action.org_id.as_str();
        let mut st = self.write("apply_response_status")?;
        let Some(r) = st.action_responses.get_mut(&key(org_id, &action.id)) else {
            return Ok(Written::AlreadyThere);
        };
        let d = Delivery {
            status: &mut r.status,
            failure: &mut r.failure,
            sent_at: &mut r.sent_at,
            delivered_at: &mut r.delivered_at,
            read_at: &mut r.read_at,
            failed_at: &mut r.failed_at,
        };
        let outcome = advance(d, status, failure, at);
        if outcome != Written::Stored {
            return Ok(outcome);
        }
        if r.wamid.is_none() {
            r.wamid = wamid.map(str::to_string);
        }
        // The action and its bubble follow the record (never backwards: only when it moved).
        if let Some(a) = st.actions.get_mut(&key(org_id, &action.id)) {
            a.answer_status = Some(answer);
        }
        let bubble = (org_id.to_string(), action.conversation_id.clone(), action.request_message_id.clone());
        if let Some(Message { content: Some(serde_json::Value::Object(content)), .. }) = st.messages.get_mut(&bubble) {
            content.insert("answer_status".into(), serde_json::Value::String(answer.as_str().to_string()));
        }
        Ok(outcome)
    }
}

#[async_trait]
impl ResponseTemplateStore for MemoryStore {
    async fn response_templates(&self, org_id: &str) -> Result<Option<ResponseTemplates>> {
        Ok(self.read("response_templates")?.response_templates.get(org_id).cloned())
    }

    async fn save_response_templates(&self, settings: &ResponseTemplates, audit: Option<&AuditEntry>) -> Result<Written> {
        let mut st = self.write("save_response_templates")?;
        let stored = st.response_templates.get(&settings.org_id);
        let fits = if settings.version <= 1 { stored.is_none() } else { stored.is_some_and(|s| s.version == settings.version - 1) };
        let fits = super::audit::with_entry(&mut st, fits, audit);
        if fits {
            st.response_templates.insert(settings.org_id.clone(), settings.clone());
        }
        Ok(written(fits))
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn record_event(&self, event: &NewEvent) -> Result<Written> {
        Ok(self.record_events(std::slice::from_ref(event)).await?.pop().unwrap_or(Written::AlreadyThere))
    }

    async fn record_events(&self, events: &[NewEvent]) -> Result<Vec<Written>> {
        let Some(org) = events.first().map(|e| e.org_id.clone()) else {
            return Ok(Vec::new());
        };
        if events.iter().any(|e| e.org_id != org) {
            return Err(Error::backend("memory", "events of one feed only"));
        }
        let mut st = self.write("record_events")?;
        let now = Utc::now();
        let count = events.len() as u64;
        let last = st.take_event_seqs(&org, count);
        let first = last + 1 - count;
        let mut keys: Vec<&str> = events.iter().filter_map(|e| e.dedupe_key.as_deref()).collect();
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            // DynamoDB refuses a transaction writing one item twice (the numbers stay taken).
            return Err(Error::backend("memory", "one dedupe key twice in a transaction"));
        }
        // Events recorded before are not again; the fresh ones take the first numbers, the
        // numbers left over are filled as void (what the DynamoDB adapter writes).
        let recorded_before: Vec<bool> =
            events.iter().map(|e| e.dedupe_key.as_ref().is_some_and(|k| st.event_keys.contains_key(&key(&org, k)))).collect();
        let mut seq = first;
        for (event, before) in events.iter().zip(&recorded_before) {
            if *before {
                continue;
            }
            if let Some(k) = &event.dedupe_key {
                st.event_keys.insert(key(&org, k), seq);
            }
            st.put_event(DashboardEvent::recorded(event, seq, now));
            seq += 1;
        }
        for void in seq..=last {
            st.put_event(DashboardEvent::void(&org, void, now));
        }
        Ok(recorded_before.iter().map(|before| written(!*before)).collect())
    }

    async fn events_after(&self, org_id: &str, after: u64, limit: i32) -> Result<Vec<DashboardEvent>> {
        let limit = check_limit(limit)?;
        let st = self.read("events_after")?;
        let from = (org_id.to_string(), after.saturating_add(1));
        Ok(st.events.range(from..).take_while(|((o, _), _)| o == org_id).take(limit).map(|(_, e)| e.clone()).collect())
    }

    async fn latest_event_seq(&self, org_id: &str) -> Result<u64> {
        Ok(self.read("latest_event_seq")?.event_counters.get(org_id).copied().unwrap_or(0))
    }
}

#[async_trait]
impl FeedWaiters for MemoryStore {
    async fn take_wait_place(&self, org_id: &str, waiter: &str, now: DateTime<Utc>, until: DateTime<Utc>, cap: usize) -> Result<WaitPlace> {
        let mut st = self.write("take_wait_place")?;
        let places = st.waiters.entry(org_id.to_string()).or_default();
        places.retain(|_, frees_at| *frees_at > now);
        if places.len() >= cap && !places.contains_key(waiter) {
            let frees_at = places.values().min().copied().unwrap_or(now);
            return Ok(WaitPlace::Full { frees_at });
        }
        places.insert(waiter.to_string(), until);
        Ok(WaitPlace::Taken)
    }

    async fn leave_wait_place(&self, org_id: &str, waiter: &str) -> Result<()> {
        let mut st = self.write("leave_wait_place")?;
        if let Some(places) = st.waiters.get_mut(org_id) {
            places.remove(waiter);
        }
        Ok(())
    }
}
