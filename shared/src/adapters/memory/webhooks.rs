//! Outbound webhook subscriptions and their attempt log in memory (`ports::WebhookStore`), with
//! the DynamoDB adapter's conditions: a subscription is created once and saved or deleted only
//! over the version read; an attempt is logged once; the log pages newest first.

use async_trait::async_trait;

use super::{MemoryStore, fill_page, key, written};
use crate::domain::webhook_delivery::DeliveryAttempt;
use crate::domain::webhook_subscription::WebhookSubscription;
use crate::error::Result;
use crate::ports::{Page, PageRequest, WebhookStore, Written};

fn attempt_key(org: &str, subscription: &str, id: &str) -> (String, String, String) {
    (org.to_string(), subscription.to_string(), id.to_string())
}

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn create_webhook_subscription(&self, subscription: &WebhookSubscription) -> Result<Written> {
        let mut st = self.write("create_webhook_subscription")?;
        let k = key(&subscription.org_id, &subscription.id);
        if st.webhook_subscriptions.contains_key(&k) {
            return Ok(Written::AlreadyThere);
        }
        st.webhook_subscriptions.insert(k, subscription.clone());
        Ok(Written::Stored)
    }

    async fn webhook_subscription(&self, org_id: &str, id: &str) -> Result<Option<WebhookSubscription>> {
        Ok(self.read("webhook_subscription")?.webhook_subscriptions.get(&key(org_id, id)).cloned())
    }

    async fn webhook_subscriptions(&self, org_id: &str) -> Result<Vec<WebhookSubscription>> {
        let st = self.read("webhook_subscriptions")?;
        Ok(st.webhook_subscriptions.range(key(org_id, "")..).take_while(|((o, _), _)| o == org_id).map(|(_, s)| s.clone()).collect())
    }

    async fn save_webhook_subscription(&self, subscription: &WebhookSubscription) -> Result<Written> {
        let mut st = self.write("save_webhook_subscription")?;
        let k = key(&subscription.org_id, &subscription.id);
        let fits = subscription.version > 1 && st.webhook_subscriptions.get(&k).is_some_and(|s| s.version + 1 == subscription.version);
        if fits {
            st.webhook_subscriptions.insert(k, subscription.clone());
        }
        Ok(written(fits))
    }

    async fn delete_webhook_subscription(&self, subscription: &WebhookSubscription) -> Result<Written> {
        let mut st = self.write("delete_webhook_subscription")?;
        let k = key(&subscription.org_id, &subscription.id);
        let fits = st.webhook_subscriptions.get(&k).is_some_and(|s| s.version == subscription.version);
        if fits {
            st.webhook_subscriptions.remove(&k);
        }
        Ok(written(fits))
    }

    async fn record_delivery_attempt(&self, attempt: &DeliveryAttempt) -> Result<Written> {
        let mut st = self.write("record_delivery_attempt")?;
        let k = attempt_key(&attempt.org_id, &attempt.subscription_id, &attempt.id);
        if st.delivery_attempts.contains_key(&k) {
            return Ok(Written::AlreadyThere);
        }
        st.delivery_attempts.insert(k, attempt.clone());
        Ok(Written::Stored)
    }

    async fn delivery_attempts(&self, org_id: &str, subscription_id: &str, page: &PageRequest) -> Result<Page<DeliveryAttempt>> {
        let st = self.read("delivery_attempts")?;
        // `ORG#{org}#WEBHOOK#{subscription}#ATTEMPTS` / `{id}`, newest first.
        let mut entries: Vec<(String, DeliveryAttempt)> = st
            .delivery_attempts
            .range(attempt_key(org_id, subscription_id, "")..)
            .take_while(|((o, s, _), _)| o == org_id && s == subscription_id)
            .map(|((_, _, id), a)| (id.clone(), a.clone()))
            .collect();
        entries.reverse(); // in the query's order: descending
        fill_page(&format!("ORG#{org_id}#WEBHOOK#{subscription_id}#ATTEMPTS"), entries, false, |_| true, page)
    }

    async fn delivery_attempt(&self, org_id: &str, subscription_id: &str, attempt_id: &str) -> Result<Option<DeliveryAttempt>> {
        Ok(self.read("delivery_attempt")?.delivery_attempts.get(&attempt_key(org_id, subscription_id, attempt_id)).cloned())
    }
}

/// One request the memory receiver got.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedWebhook {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: std::time::Duration,
}

impl ReceivedWebhook {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Webhook receivers in memory (`ports::WebhookSender`): each URL answers from its script, in
/// order, then 200 once the script is spent; every request is kept.
#[derive(Default)]
pub struct MemoryWebhookReceiver {
    state: std::sync::Mutex<ReceiverState>,
}

#[derive(Default)]
struct ReceiverState {
    scripts: std::collections::HashMap<String, std::collections::VecDeque<crate::ports::WebhookAnswer>>,
    received: Vec<ReceivedWebhook>,
}

impl MemoryWebhookReceiver {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ReceiverState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `url`'s next answers, in order.
    pub fn answer(&self, url: &str, answers: impl IntoIterator<Item = crate::ports::WebhookAnswer>) {
        self.state().scripts.entry(url.to_string()).or_default().extend(answers);
    }

    /// A plain answer with this status and an empty body.
    pub fn status(status: u16) -> crate::ports::WebhookAnswer {
        crate::ports::WebhookAnswer::Answered { status, retry_after: None, body: Vec::new() }
    }

    /// Every request so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedWebhook> {
        self.state().received.clone()
    }
}

#[async_trait]
impl crate::ports::WebhookSender for MemoryWebhookReceiver {
    async fn post(&self, request: &crate::ports::WebhookRequest<'_>) -> crate::ports::WebhookAnswer {
        let mut state = self.state();
        state.received.push(ReceivedWebhook {
            url: request.url.to_string(),
            headers: request.headers.iter().map(|(n, v)| (n.to_string(), v.clone())).collect(),
            body: request.body.to_vec(),
            timeout: request.timeout,
        });
        state.scripts.get_mut(request.url).and_then(|s| s.pop_front()).unwrap_or_else(|| Self::status(200))
    }
}
