//! DynamoDB for the audit trail (`docs/audit.md`): entries are put in the transaction of the
//! change they record (never on their own), and read per organisation by time, per actor, per
//! entity or per entity type, each a Query of its own partition (no scan). Kept a year (TTL).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::{DynamoStore, Filters, IndexQuery, keyed, n, sort_time};
use crate::domain::audit::{AuditEntry, AuditQuery};
use crate::error::Result;
use crate::ports::{AuditStore, Page, PageRequest, Written};

/// Key layout of the audit trail. Every partition key starts with `ORG#{org}`.
pub mod keys {
    use crate::domain::audit::AuditEntity;

    /// The organisation's entries by time.
    pub fn audit_pk(org: &str) -> String {
        format!("ORG#{org}#AUDIT")
    }
    /// Sort key of every audit partition: `{at}#{id}` (time-ordered, unique).
    pub fn audit_sort(at: &str, id: &str) -> String {
        format!("{at}#{id}")
    }
    /// gsi1: one actor's entries.
    pub fn by_actor(org: &str, user: &str) -> String {
        format!("ORG#{org}#AUDIT#ACTOR#{user}")
    }
    /// gsi2: one entity's entries.
    pub fn by_entity(org: &str, entity: AuditEntity, id: &str) -> String {
        format!("ORG#{org}#AUDIT#ENTITY#{entity}#{id}")
    }
    /// gsi3: one entity type's entries.
    pub fn by_type(org: &str, entity: AuditEntity) -> String {
        format!("ORG#{org}#AUDIT#TYPE#{entity}")
    }
}

impl DynamoStore {
    /// The put of an entry inside the transaction of its change; a new item only.
    pub(super) fn audit_put(&self, e: &AuditEntry) -> Result<TransactWriteItem> {
        let sort = keys::audit_sort(&sort_time(e.at), &e.id);
        let extra = [
            ("gsi1pk", keys::by_actor(&e.org_id, &e.actor.user_id)),
            ("gsi1sk", sort.clone()),
            ("gsi2pk", keys::by_entity(&e.org_id, e.entity_type, &e.entity_id)),
            ("gsi2sk", sort.clone()),
            ("gsi3pk", keys::by_type(&e.org_id, e.entity_type)),
            ("gsi3sk", sort.clone()),
            // Top level for the actor filter on the entity partitions.
            ("actor_id", e.actor.user_id.clone()),
        ];
        let mut item = keyed(e, (keys::audit_pk(&e.org_id), sort), &extra)?;
        item.insert("expires_at".into(), n(e.expires_at()));
        self.put_op(item, Some("attribute_not_exists(pk)"), None)
    }
}

impl DynamoStore {
    /// An entry on its own, for a change that is not one transaction (a customer's erasure).
    pub(super) async fn put_audit_entry(&self, entry: &AuditEntry) -> Result<()> {
        // A condition failing means this very entry is stored already (a retried call).
        self.transact(vec![self.audit_put(entry)?]).await.map(|_| ())
    }

    /// One item's write with, when given, the audit entry of the change in the same transaction:
    /// both or neither. `AlreadyThere` when a condition failed (nothing was written).
    pub(super) async fn write_audited(&self, op: TransactWriteItem, audit: &AuditEntry) -> Result<Written> {
        Ok(match self.transact(vec![op, self.audit_put(audit)?]).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }
}

#[async_trait]
impl AuditStore for DynamoStore {
    async fn audit_entries(&self, org_id: &str, query: &AuditQuery, page: &PageRequest) -> Result<Page<AuditEntry>> {
        // The most selective key serves the query; an actor beside an entity filters it.
        let mut filters = Filters::default();
        let (index, partition) = match (&query.entity, &query.actor) {
            (Some(f), actor) => {
                if let Some(a) = actor {
                    filters.equals("actor_id", a);
                }
                match &f.entity_id {
                    Some(id) => ("gsi2", keys::by_entity(org_id, f.entity_type, id)),
                    None => ("gsi3", keys::by_type(org_id, f.entity_type)),
                }
            }
            (None, Some(a)) => ("gsi1", keys::by_actor(org_id, a)),
            (None, None) => ("", keys::audit_pk(org_id)),
        };
        let (partition_attr, sort_attr) = if index.is_empty() { ("pk".to_string(), "sk".to_string()) } else { (format!("{index}pk"), format!("{index}sk")) };
        let q = IndexQuery {
            index: (!index.is_empty()).then_some(index),
            partition_attr: &partition_attr,
            partition,
            sort_attr: &sort_attr,
            prefix: "",
            from: query.from.map(sort_time),
            to: query.to.map(sort_time),
            forward: false,
        };
        self.query_index(q, filters, page).await
    }
}
