//! The audit trail in memory (`adapters::dynamo::audit`): entries keyed `(org, {at}#{id})`,
//! written only with the change they record.

use async_trait::async_trait;

use super::{MemoryStore, State, fill_page};
use crate::domain::audit::{AuditEntry, AuditQuery};
use crate::error::Result;
use crate::ports::{AuditStore, Page, PageRequest};

fn sort_of(e: &AuditEntry) -> String {
    format!("{}#{}", e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), e.id)
}

/// Whether the entry can be stored (a new one only), checked before anything of its
/// transaction is applied.
pub(super) fn audit_fits(st: &State, e: &AuditEntry) -> bool {
    !st.audit.contains_key(&(e.org_id.clone(), sort_of(e)))
}

pub(super) fn put_audit(st: &mut State, e: &AuditEntry) {
    st.audit.insert((e.org_id.clone(), sort_of(e)), e.clone());
}

/// Whether a change whose own conditions hold (`fits`) is applied: only with its entry stored
/// (when given), both or neither. Stores the entry when it is.
pub(super) fn with_entry(st: &mut State, fits: bool, audit: Option<&AuditEntry>) -> bool {
    let applied = fits && audit.is_none_or(|e| audit_fits(st, e));
    if let (true, Some(e)) = (applied, audit) {
        put_audit(st, e);
    }
    applied
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn audit_entries(&self, org_id: &str, query: &AuditQuery, page: &PageRequest) -> Result<Page<AuditEntry>> {
        let st = self.read("audit_entries")?;
        // Newest first; the same keys and cursor as any partition read.
        let mut entries: Vec<(String, AuditEntry)> = st
            .audit
            .range((org_id.to_string(), String::new())..)
            .take_while(|((o, _), _)| o == org_id)
            .filter(|(_, e)| query.matches(e))
            .map(|((_, k), e)| (k.clone(), e.clone()))
            .collect();
        entries.reverse();
        fill_page(&format!("ORG#{org_id}#AUDIT"), entries, false, |_| true, page)
    }
}
