//! DynamoDB for outbound webhooks (`docs/webhooks.md`, "Data model"):
//!
//! - `ORG#o#WEBHOOKS` / `SUB#{id}`: a subscription (ids are ULIDs: one Query lists them in
//!   creation order; an organisation keeps at most 20, so fan-out reads them whole).
//! - `ORG#o#WEBHOOK#{subscription}#ATTEMPTS` / `{attempt id}`: the attempt log, newest first by
//!   its ULID, TTL `expires_at` 30 days after the attempt.
//!
//! The signing secrets are not in the table: each subscription's is a Secrets Manager secret.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{DynamoStore, Item, keyed, key_map, n, s};
use crate::domain::webhook_delivery::DeliveryAttempt;
use crate::domain::webhook_subscription::WebhookSubscription;
use crate::error::Result;
use crate::ports::{Page, PageRequest, WebhookStore, Written};

pub mod keys {
    pub fn subscriptions(org: &str) -> String {
        format!("ORG#{org}#WEBHOOKS")
    }
    pub fn subscription(org: &str, id: &str) -> (String, String) {
        (subscriptions(org), format!("SUB#{id}"))
    }
    pub fn attempts(org: &str, subscription: &str) -> String {
        format!("ORG#{org}#WEBHOOK#{subscription}#ATTEMPTS")
    }
    pub fn attempt(org: &str, subscription: &str, id: &str) -> (String, String) {
        (attempts(org, subscription), id.to_string())
    }
}

impl DynamoStore {
    /// Puts the subscription if `condition` holds (a save; apart from the delete, so a function
    /// that only saves is granted PutItem alone).
    async fn put_subscription_where(&self, item: Item, condition: &str, values: Item) -> Result<Written> {
        let mut put = self.client().put_item().table_name(self.table()).set_item(Some(item)).condition_expression(condition);
        if !values.is_empty() {
            put = put.set_expression_attribute_values(Some(values));
        }
        conditional_outcome(put.send().await.map(|_| ()).map_err(|e| (e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()), crate::adapters::sdk_error("dynamodb", e))))
    }

    /// Deletes the subscription if `condition` holds.
    async fn delete_subscription_where(&self, key: (String, String), condition: &str, values: Item) -> Result<Written> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key_map(key)))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()), crate::adapters::sdk_error("dynamodb", e)));
        conditional_outcome(result)
    }
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn create_webhook_subscription(&self, subscription: &WebhookSubscription) -> Result<Written> {
        self.put_new(keyed(subscription, keys::subscription(&subscription.org_id, &subscription.id), &[])?).await
    }

    async fn webhook_subscription(&self, org_id: &str, id: &str) -> Result<Option<WebhookSubscription>> {
        self.get_consistent(keys::subscription(org_id, id)).await
    }

    async fn webhook_subscriptions(&self, org_id: &str) -> Result<Vec<WebhookSubscription>> {
        let mut all = Vec::new();
        let mut page = PageRequest { limit: 100, cursor: None };
        loop {
            let found: Page<WebhookSubscription> = self.query_page(None, "pk", &keys::subscriptions(org_id), Some(("sk", "SUB#")), None, true, &page).await?;
            all.extend(found.items);
            match found.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    async fn save_webhook_subscription(&self, subscription: &WebhookSubscription) -> Result<Written> {
        if subscription.version <= 1 {
            return Ok(Written::AlreadyThere); // an edit is version 2 or more; creating is `create_webhook_subscription`
        }
        let key = keys::subscription(&subscription.org_id, &subscription.id);
        let item = keyed(subscription, key.clone(), &[])?;
        let values = HashMap::from([(":previous".to_string(), n(subscription.version - 1))]);
        self.put_subscription_where(item, "version = :previous", values).await
    }

    async fn delete_webhook_subscription(&self, subscription: &WebhookSubscription) -> Result<Written> {
        let key = keys::subscription(&subscription.org_id, &subscription.id);
        let values = HashMap::from([(":read".to_string(), n(subscription.version)), (":org".to_string(), s(&subscription.org_id))]);
        self.delete_subscription_where(key, "version = :read AND org_id = :org", values).await
    }

    async fn record_delivery_attempt(&self, attempt: &DeliveryAttempt) -> Result<Written> {
        self.put_new(keyed(attempt, keys::attempt(&attempt.org_id, &attempt.subscription_id, &attempt.id), &[])?).await
    }

    async fn delivery_attempts(&self, org_id: &str, subscription_id: &str, page: &PageRequest) -> Result<Page<DeliveryAttempt>> {
        self.query_page(None, "pk", &keys::attempts(org_id, subscription_id), None, None, false, page).await
    }

    async fn delivery_attempt(&self, org_id: &str, subscription_id: &str, attempt_id: &str) -> Result<Option<DeliveryAttempt>> {
        self.get_consistent(keys::attempt(org_id, subscription_id, attempt_id)).await
    }
}

/// A conditional write's result: a failed condition is `AlreadyThere`, any other error an error.
fn conditional_outcome(result: std::result::Result<(), (bool, crate::error::Error)>) -> Result<Written> {
    match result {
        Ok(()) => Ok(Written::Stored),
        Err((true, _)) => Ok(Written::AlreadyThere),
        Err((false, e)) => Err(e),
    }
}
