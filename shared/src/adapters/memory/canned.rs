//! Canned responses in memory (`ports::CannedResponseStore`), with the DynamoDB adapter's
//! transactions: a response and its shortcut's claim are written together or not at all, its
//! usage counter lives apart from it (an edit never loses a count), and a use is counted once
//! per message.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, State, key, written};
use crate::domain::audit::AuditEntry;
use crate::domain::canned::CannedResponse;
use crate::error::{Error, Result};
use crate::ports::{CannedResponseStore, CannedSaved, Written};

/// `(org, scope, shortcut)`: the key of a shortcut's claim.
fn claim(r: &CannedResponse) -> (String, String, String) {
    (r.org_id.clone(), r.scope(), r.shortcut.clone())
}

impl State {
    /// The stored response with its counter, as the DynamoDB adapter reads them together.
    fn counted_canned(&self, org_id: &str, id: &str) -> Option<CannedResponse> {
        let mut r = self.canned.get(&key(org_id, id))?.clone();
        r.usage_count = self.canned_uses.get(&key(org_id, id)).copied().unwrap_or(0);
        Some(r)
    }

    /// Whether `r`'s shortcut is free in its scope, or already `r`'s own.
    fn canned_claim_free(&self, r: &CannedResponse) -> bool {
        self.canned_shortcuts.get(&claim(r)).is_none_or(|holder| *holder == r.id)
    }
}

/// The response as stored: its count is the counter's, never the value it was read with.
fn stored(r: &CannedResponse) -> CannedResponse {
    CannedResponse { usage_count: 0, ..r.clone() }
}

#[async_trait]
impl CannedResponseStore for MemoryStore {
    async fn create_canned_response(&self, response: &CannedResponse, audit: Option<&AuditEntry>) -> Result<CannedSaved> {
        let mut st = self.write("create_canned_response")?;
        if st.canned.contains_key(&key(&response.org_id, &response.id)) {
            return Ok(CannedSaved::AlreadyThere);
        }
        if !st.canned_claim_free(response) {
            return Ok(CannedSaved::ShortcutTaken);
        }
        if !super::audit::with_entry(&mut st, true, audit) {
            return Ok(CannedSaved::AlreadyThere);
        }
        st.canned_shortcuts.insert(claim(response), response.id.clone());
        st.canned.insert(key(&response.org_id, &response.id), stored(response));
        Ok(CannedSaved::Stored)
    }

    async fn canned_response(&self, org_id: &str, id: &str) -> Result<Option<CannedResponse>> {
        Ok(self.read("canned_response")?.counted_canned(org_id, id))
    }

    async fn canned_responses(&self, org_id: &str) -> Result<Vec<CannedResponse>> {
        let st = self.read("canned_responses")?;
        let ids: Vec<String> = st.canned.range(key(org_id, "")..).take_while(|((o, _), _)| o == org_id).map(|((_, id), _)| id.clone()).collect();
        Ok(ids.iter().filter_map(|id| st.counted_canned(org_id, id)).collect())
    }

    async fn save_canned_response(&self, before: &CannedResponse, after: &CannedResponse, audit: Option<&AuditEntry>) -> Result<CannedSaved> {
        let mut st = self.write("save_canned_response")?;
        let current = st.canned.get(&key(&before.org_id, &before.id)).map(|r| r.version);
        if current != Some(before.version) || after.version != before.version + 1 {
            return Err(Error::LostUpdate("canned response"));
        }
        if !st.canned_claim_free(after) {
            return Ok(CannedSaved::ShortcutTaken);
        }
        if !super::audit::with_entry(&mut st, true, audit) {
            return Err(Error::LostUpdate("canned response"));
        }
        st.canned_shortcuts.remove(&claim(before));
        st.canned_shortcuts.insert(claim(after), after.id.clone());
        st.canned.insert(key(&after.org_id, &after.id), stored(after));
        Ok(CannedSaved::Stored)
    }

    async fn delete_canned_response(&self, response: &CannedResponse, audit: Option<&AuditEntry>) -> Result<()> {
        let mut st = self.write("delete_canned_response")?;
        let k = key(&response.org_id, &response.id);
        let fits = st.canned.get(&k).map(|r| r.version) == Some(response.version);
        if !super::audit::with_entry(&mut st, fits, audit) {
            return Err(Error::LostUpdate("canned response"));
        }
        st.canned.remove(&k);
        st.canned_uses.remove(&k);
        st.canned_shortcuts.remove(&claim(response));
        Ok(())
    }

    async fn count_canned_use(&self, org_id: &str, id: &str, message_id: &str, _at: DateTime<Utc>) -> Result<Written> {
        let mut st = self.write("count_canned_use")?;
        let k = key(org_id, id);
        if !st.canned.contains_key(&k) {
            return Err(Error::NotFound("canned response"));
        }
        let first = st.canned_use_markers.insert((org_id.to_string(), id.to_string(), message_id.to_string()));
        if first {
            *st.canned_uses.entry(k).or_default() += 1;
        }
        Ok(written(first))
    }
}
