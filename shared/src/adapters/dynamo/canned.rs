//! DynamoDB for canned responses (`docs/canned-responses.md`, "Data model"). One partition per
//! organisation holds its responses, their shortcut claims and their usage counters, so the list
//! is one Query (no scan, no index):
//!
//! - `ORG#o#CANNED` / `R#{id}`: the response (without its count).
//! - `ORG#o#CANNED` / `N#{id}`: its usage counter (`uses`), apart, so an edit (a Put over the
//!   version read) never overwrites a count and a count never makes an edit lose.
//! - `ORG#o#CANNED` / `S#{scope}#{shortcut}`: the shortcut's claim (`response_id`), written in
//!   the same transaction as the response with `attribute_not_exists`: two creates of one
//!   shortcut give one response.
//! - `ORG#o#CANNED_USE#{id}` / `MSG#{message}`: a counted use, TTL a day past the reply's
//!   idempotency key: a retried send finds it and counts nothing.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};

use super::{DynamoStore, IDEMPOTENCY_TTL, Item, failed_condition, from_item, key_map, keyed, n, s};
use crate::domain::audit::AuditEntry;
use crate::domain::canned::CannedResponse;
use crate::error::{Error, Result};
use crate::ports::{CannedResponseStore, CannedSaved, Written};

pub mod keys {
    pub fn partition(org: &str) -> String {
        format!("ORG#{org}#CANNED")
    }
    pub fn response(org: &str, id: &str) -> (String, String) {
        (partition(org), format!("R#{id}"))
    }
    pub fn counter(org: &str, id: &str) -> (String, String) {
        (partition(org), format!("N#{id}"))
    }
    pub fn shortcut(org: &str, scope: &str, shortcut: &str) -> (String, String) {
        (partition(org), format!("S#{scope}#{shortcut}"))
    }
    pub fn counted_use(org: &str, id: &str, message: &str) -> (String, String) {
        (format!("ORG#{org}#CANNED_USE#{id}"), format!("MSG#{message}"))
    }
}

fn claim_key(r: &CannedResponse) -> (String, String) {
    keys::shortcut(&r.org_id, &r.scope(), &r.shortcut)
}

/// The response as stored: its count lives in the counter item.
fn response_item(r: &CannedResponse) -> Result<Item> {
    let mut item = keyed(r, keys::response(&r.org_id, &r.id), &[])?;
    item.remove("usage_count");
    Ok(item)
}

fn uses_of(item: &Item) -> u64 {
    item.get("uses").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl DynamoStore {
    fn claim_put(&self, r: &CannedResponse) -> Result<TransactWriteItem> {
        let mut item = key_map(claim_key(r));
        item.insert("response_id".into(), s(&r.id));
        self.put_op(item, Some("attribute_not_exists(pk)"), None)
    }

    /// Deletes `key` if it is absent or held by `id` (never another response's claim).
    fn claim_delete(&self, r: &CannedResponse) -> Result<TransactWriteItem> {
        let values = HashMap::from([(":id".to_string(), s(&r.id))]);
        self.delete_op(claim_key(r), Some(("attribute_not_exists(pk) OR response_id = :id", values)))
    }
}

#[async_trait]
impl CannedResponseStore for DynamoStore {
    async fn create_canned_response(&self, response: &CannedResponse, audit: Option<&AuditEntry>) -> Result<CannedSaved> {
        let mut items = vec![self.put_op(response_item(response)?, Some("attribute_not_exists(pk)"), None)?, self.claim_put(response)?];
        if let Some(entry) = audit {
            items.push(self.audit_put(entry)?);
        }
        Ok(match self.transact(items).await? {
            Ok(()) => CannedSaved::Stored,
            Err(codes) if failed_condition(&codes, 0) => CannedSaved::AlreadyThere,
            Err(_) => CannedSaved::ShortcutTaken,
        })
    }

    async fn canned_response(&self, org_id: &str, id: &str) -> Result<Option<CannedResponse>> {
        let found = self.get_many_consistent(&[keys::response(org_id, id), keys::counter(org_id, id)]).await?;
        let mut found = found.into_iter();
        let (response, counter) = (found.next().flatten(), found.next().flatten());
        let Some(item) = response else { return Ok(None) };
        let mut r: CannedResponse = from_item(item)?;
        r.usage_count = counter.as_ref().map(uses_of).unwrap_or(0);
        Ok(Some(r))
    }

    async fn canned_responses(&self, org_id: &str) -> Result<Vec<CannedResponse>> {
        let mut responses: Vec<CannedResponse> = Vec::new();
        let mut uses: HashMap<String, u64> = HashMap::new();
        for item in self.partition(None, "pk", &keys::partition(org_id), None).await? {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if let Some(id) = sk.strip_prefix("N#") {
                uses.insert(id.to_string(), uses_of(&item));
            } else if sk.starts_with("R#") {
                responses.push(from_item(item)?);
            }
        }
        for r in &mut responses {
            r.usage_count = uses.get(&r.id).copied().unwrap_or(0);
        }
        Ok(responses)
    }

    async fn save_canned_response(&self, before: &CannedResponse, after: &CannedResponse, audit: Option<&AuditEntry>) -> Result<CannedSaved> {
        let values = HashMap::from([(":previous".to_string(), n(before.version))]);
        let mut items = vec![self.put_op(response_item(after)?, Some("version = :previous"), Some(values))?];
        let moved = claim_key(before) != claim_key(after);
        if moved {
            items.push(self.claim_delete(before)?);
            items.push(self.claim_put(after)?);
        }
        if let Some(entry) = audit {
            items.push(self.audit_put(entry)?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(CannedSaved::Stored),
            Err(codes) if failed_condition(&codes, 0) || failed_condition(&codes, 1) => Err(Error::LostUpdate("canned response")),
            Err(_) => Ok(CannedSaved::ShortcutTaken),
        }
    }

    async fn delete_canned_response(&self, response: &CannedResponse, audit: Option<&AuditEntry>) -> Result<()> {
        let values = HashMap::from([(":read".to_string(), n(response.version))]);
        let mut items = vec![
            self.delete_op(keys::response(&response.org_id, &response.id), Some(("version = :read", values)))?,
            self.delete_op(keys::counter(&response.org_id, &response.id), None)?,
            self.claim_delete(response)?,
        ];
        if let Some(entry) = audit {
            items.push(self.audit_put(entry)?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::LostUpdate("canned response")),
        }
    }

    async fn count_canned_use(&self, org_id: &str, id: &str, message_id: &str, at: DateTime<Utc>) -> Result<Written> {
        let mut marker = key_map(keys::counted_use(org_id, id, message_id));
        // Kept a day past the reply's idempotency key: any retry that finds the first message
        // finds its use counted.
        marker.insert("expires_at".into(), n((at + IDEMPOTENCY_TTL + chrono::Duration::days(1)).timestamp()));
        let counter = self.update_op(keys::counter(org_id, id), "ADD uses :one", None, HashMap::from([(":one".to_string(), n(1))]), None)?;
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::response(org_id, id))))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| Error::backend("dynamodb", e))?;
        let items = vec![
            self.put_op(marker, Some("attribute_not_exists(pk)"), None)?,
            counter,
            TransactWriteItem::builder().condition_check(check).build(),
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(Written::Stored),
            Err(codes) if failed_condition(&codes, 0) => Ok(Written::AlreadyThere),
            Err(_) => Err(Error::NotFound("canned response")),
        }
    }
}
