//! The audit trail: who changed what, when, from what to what (`docs/audit.md`).
//!
//! An entry is written in the same transaction as the change it records, so a change is never
//! stored without its entry (nor an entry without its change). It holds only the business
//! fields that changed, each as `before` → `after`; an erasure records that a customer was
//! erased, never what was erased. Entries are kept a year (TTL) and no route edits or deletes them.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// How long an entry is kept (the table's TTL removes it after).
pub const RETENTION_DAYS: i64 = 365;

/// What kind of thing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditEntity {
    Ticket,
    Action,
    WhatsappTemplate,
    ResponseTemplates,
    CannedResponse,
    SlaPolicy,
    Team,
    Agent,
    Settings,
    Channel,
    Customer,
}

impl AuditEntity {
    pub const ALL: [AuditEntity; 11] = [
        Self::Ticket,
        Self::Action,
        Self::WhatsappTemplate,
        Self::ResponseTemplates,
        Self::CannedResponse,
        Self::SlaPolicy,
        Self::Team,
        Self::Agent,
        Self::Settings,
        Self::Channel,
        Self::Customer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ticket => "ticket",
            Self::Action => "action",
            Self::WhatsappTemplate => "whatsapp_template",
            Self::ResponseTemplates => "response_templates",
            Self::CannedResponse => "canned_response",
            Self::SlaPolicy => "sla_policy",
            Self::Team => "team",
            Self::Agent => "agent",
            Self::Settings => "settings",
            Self::Channel => "channel",
            Self::Customer => "customer",
        }
    }
}

impl fmt::Display for AuditEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a change from the dashboard: their user id and the role they acted in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditActor {
    pub user_id: String,
    /// `agent`, `supervisor` or `admin`.
    pub role: String,
}

impl AuditActor {
    /// The entry of this actor's change of one entity from `before` to `after` (`None` for a
    /// creation or a deletion), keeping the listed business `fields` that differ; `None` when none
    /// moved. Every audited write path builds its entry with this one call and hands it to the
    /// store with the change (`docs/audit.md`).
    #[allow(clippy::too_many_arguments)]
    pub fn change<T: Serialize>(
        &self,
        at: DateTime<Utc>,
        org_id: &str,
        entity: (AuditEntity, &str),
        operation: &str,
        fields: &[&str],
        before: Option<&T>,
        after: Option<&T>,
    ) -> Option<AuditEntry> {
        AuditEntry::of_change(crate::domain::ids::new_id(at), org_id, at, self, entity.0, entity.1, operation, fields, before, after)
    }

    /// The entry of a customer's erasure: only *that* the customer was erased, never what.
    pub fn erasure(&self, at: DateTime<Utc>, org_id: &str, customer_id: &str) -> AuditEntry {
        let erased = |v: bool| serde_json::json!({ "erased": v });
        self.change(at, org_id, (AuditEntity::Customer, customer_id), "erase", &["erased"], Some(&erased(false)), Some(&erased(true)))
            .expect("erased moves from false to true")
    }
}

/// One field's move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub before: Value,
    pub after: Value,
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// A ULID of the change's time.
    pub id: String,
    pub org_id: String,
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    pub entity_type: AuditEntity,
    pub entity_id: String,
    /// What was done: `update`, `assign`, `close`, `decide`, `create`, `delete`, `erase`, ...
    pub operation: String,
    /// The changed business fields only, by name.
    pub changes: BTreeMap<String, FieldChange>,
}

impl AuditEntry {
    /// The entry of a change from `before` to `after`, keeping only `fields` that differ.
    /// `None` when none of them changed: nothing to record.
    #[allow(clippy::too_many_arguments)]
    pub fn of_change<T: Serialize>(
        id: String,
        org_id: &str,
        at: DateTime<Utc>,
        actor: &AuditActor,
        entity_type: AuditEntity,
        entity_id: &str,
        operation: &str,
        fields: &[&str],
        before: Option<&T>,
        after: Option<&T>,
    ) -> Option<AuditEntry> {
        let changes = changed_fields(fields, before, after);
        (!changes.is_empty()).then(|| AuditEntry {
            id,
            org_id: org_id.to_string(),
            at,
            actor: actor.clone(),
            entity_type,
            entity_id: entity_id.to_string(),
            operation: operation.to_string(),
            changes,
        })
    }

    /// When the table's TTL removes it (epoch seconds).
    pub fn expires_at(&self) -> i64 {
        (self.at + Duration::days(RETENTION_DAYS)).timestamp()
    }
}

/// The fields among `fields` whose serialized value differs between `before` and `after`
/// (a missing side reads as `null`: a creation or a deletion).
pub fn changed_fields<T: Serialize>(fields: &[&str], before: Option<&T>, after: Option<&T>) -> BTreeMap<String, FieldChange> {
    let as_json = |v: Option<&T>| v.and_then(|v| serde_json::to_value(v).ok()).unwrap_or(Value::Null);
    let (b, a) = (as_json(before), as_json(after));
    fields
        .iter()
        .filter_map(|f| {
            let (before, after) = (b.get(*f).cloned().unwrap_or(Value::Null), a.get(*f).cloned().unwrap_or(Value::Null));
            (before != after).then(|| (f.to_string(), FieldChange { before, after }))
        })
        .collect()
}

/// What `GET /v1/audit` asks for. Time bounds are half-open: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub entity: Option<EntityFilter>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// `entity=ticket` (every ticket's entries) or `entity=ticket:{id}` (one ticket's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityFilter {
    pub entity_type: AuditEntity,
    pub entity_id: Option<String>,
}

impl EntityFilter {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        let (kind, id) = match raw.split_once(':') {
            Some((k, id)) => (k, Some(id)),
            None => (raw, None),
        };
        let entity_type = AuditEntity::ALL.into_iter().find(|e| e.as_str() == kind).ok_or_else(|| {
            let names: Vec<&str> = AuditEntity::ALL.iter().map(|e| e.as_str()).collect();
            Error::invalid(field, format!("must be a type ({}) or type:id", names.join(", ")))
        })?;
        let entity_id = match id {
            None => None,
            Some(id) if !id.is_empty() && id.chars().count() <= 128 && !id.contains('#') && !id.chars().any(char::is_whitespace) => Some(id.to_string()),
            Some(_) => return Err(Error::invalid(field, "the id after type: must be 1 to 128 characters without spaces or #")),
        };
        Ok(EntityFilter { entity_type, entity_id })
    }
}

impl AuditQuery {
    /// Checks the bounds: `from` before `to`.
    pub fn validate(&self) -> Result<()> {
        if let (Some(f), Some(t)) = (self.from, self.to)
            && f >= t
        {
            return Err(Error::invalid("to", "must be after from"));
        }
        if self.actor.as_deref().is_some_and(|a| a.is_empty() || a.len() > 128 || a.contains('#')) {
            return Err(Error::invalid("actor", "must be a user id of 1 to 128 characters without #"));
        }
        Ok(())
    }

    pub fn matches(&self, e: &AuditEntry) -> bool {
        self.actor.as_ref().is_none_or(|a| *a == e.actor.user_id)
            && self.entity.as_ref().is_none_or(|f| f.entity_type == e.entity_type && f.entity_id.as_ref().is_none_or(|id| *id == e.entity_id))
            && self.from.is_none_or(|f| e.at >= f)
            && self.to.is_none_or(|t| e.at < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn admin() -> AuditActor {
        AuditActor { user_id: "u1".into(), role: "admin".into() }
    }

    #[test]
    fn only_the_listed_fields_that_changed_are_kept() {
        let before = json!({"status": "OPEN", "priority": "LOW", "assigned_admin_id": null, "updated_at": "1"});
        let after = json!({"status": "OPEN", "priority": "LOW", "assigned_admin_id": "a1", "updated_at": "2"});
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap();
        let fields = ["status", "priority", "assigned_admin_id"];
        let e = AuditEntry::of_change("E1".into(), "o", at, &admin(), AuditEntity::Ticket, "T1", "assign", &fields, Some(&before), Some(&after)).unwrap();
        assert_eq!(e.changes.len(), 1, "updated_at is not a business field; status did not move");
        assert_eq!(e.changes["assigned_admin_id"], FieldChange { before: Value::Null, after: json!("a1") });
        assert_eq!(e.expires_at(), (at + Duration::days(365)).timestamp());
        assert_eq!(AuditEntry::of_change("E2".into(), "o", at, &admin(), AuditEntity::Ticket, "T1", "assign", &fields, Some(&before), Some(&before)), None);
        let created = changed_fields(&["status"], None, Some(&after));
        assert_eq!(created["status"], FieldChange { before: Value::Null, after: json!("OPEN") });
    }

    #[test]
    fn an_erasure_says_only_that_the_customer_was_erased() {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap();
        let e = admin().erasure(at, "o", "C1");
        assert_eq!((e.entity_type, e.entity_id.as_str(), e.operation.as_str()), (AuditEntity::Customer, "C1", "erase"));
        assert_eq!(e.changes.len(), 1);
        assert_eq!(e.changes["erased"], FieldChange { before: json!(false), after: json!(true) });
        let created = admin().change(at, "o", (AuditEntity::Team, "T1"), "create", &["name"], None, Some(&json!({"name": "Sales"}))).unwrap();
        assert_eq!(created.changes["name"], FieldChange { before: Value::Null, after: json!("Sales") });
        assert_eq!(created.actor, admin());
    }

    #[test]
    fn entity_filters_are_a_type_or_type_and_id() {
        assert_eq!(EntityFilter::parse("entity", "ticket").unwrap(), EntityFilter { entity_type: AuditEntity::Ticket, entity_id: None });
        assert_eq!(EntityFilter::parse("entity", "ticket:01J").unwrap().entity_id.as_deref(), Some("01J"));
        for bad in ["tickets", "", "ticket:", "ticket:a#b", "ticket:a b"] {
            assert!(matches!(EntityFilter::parse("entity", bad), Err(Error::Invalid { field, .. }) if field == "entity"), "{bad}");
        }
    }

    #[test]
    fn a_query_matches_by_actor_entity_and_half_open_time() {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap();
        let e = AuditEntry::of_change("E1".into(), "o", at, &admin(), AuditEntity::Ticket, "T1", "update", &["status"], Some(&json!({"status": "OPEN"})), Some(&json!({"status": "CLOSED"}))).unwrap();
        assert!(AuditQuery::default().matches(&e));
        assert!(AuditQuery { actor: Some("u1".into()), from: Some(at), to: Some(at + Duration::seconds(1)), ..Default::default() }.matches(&e));
        assert!(!AuditQuery { to: Some(at), ..Default::default() }.matches(&e));
        assert!(!AuditQuery { actor: Some("u2".into()), ..Default::default() }.matches(&e));
        let other = EntityFilter { entity_type: AuditEntity::Ticket, entity_id: Some("T2".into()) };
        assert!(!AuditQuery { entity: Some(other), ..Default::default() }.matches(&e));
        assert!(AuditQuery { from: Some(at), to: Some(at), ..Default::default() }.validate().is_err());
    }
}
