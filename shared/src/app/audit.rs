//! The audit trail's reading (`GET /v1/audit`, admins): the organisation's recorded changes,
//! newest first, by actor, entity and time. Entries are written by the use cases that make the
//! changes, inside the change's own transaction (`docs/audit.md`); nothing here writes or edits.

use crate::domain::audit::{AuditEntry, AuditQuery};
use crate::error::Result;
use crate::ports::{AuditStore, Page, PageRequest};

/// A page of the organisation's entries matching `query`, newest first.
pub async fn entries(audit: &dyn AuditStore, org_id: &str, query: &AuditQuery, page: &PageRequest) -> Result<Page<AuditEntry>> {
    query.validate()?;
    audit.audit_entries(org_id, query, page).await
}
