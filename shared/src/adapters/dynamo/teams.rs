//! DynamoDB for teams and their business hours (`docs/sla.md`). One partition per organisation,
//! so the list is one Query (no scan, no index):
//!
//! - `ORG#o#TEAMS` / `TEAM#{id}`: the team (ids are ULIDs: the list is in creation order).
//! - `ORG#o#TEAMS` / `HOURS#{id}`: its business hours, with their own version, so an edit of
//!   the team never races an edit of its hours.
//! - `ORG#o#AGENTS` / `AGENT#{user}`: an agent (the organisation's, read whole by one Query).

use std::collections::HashMap;

use async_trait::async_trait;

use super::{DynamoStore, Item, keyed, n};
use crate::domain::agent::Agent;
use crate::domain::audit::AuditEntry;
use crate::domain::team::{StoredBusinessHours, Team};
use crate::error::Result;
use crate::ports::{Page, PageRequest, TeamStore, Written};

pub mod keys {
    pub fn partition(org: &str) -> String {
        format!("ORG#{org}#TEAMS")
    }
    pub fn team(org: &str, id: &str) -> (String, String) {
        (partition(org), format!("TEAM#{id}"))
    }
    /// Beside the teams (`TEAM#` lists them; this is not one).
    pub fn routing_settings(org: &str) -> (String, String) {
        (partition(org), "ROUTING_SETTINGS".to_string())
    }
    pub fn business_hours(org: &str, team: &str) -> (String, String) {
        (partition(org), format!("HOURS#{team}"))
    }
    pub fn agents(org: &str) -> String {
        format!("ORG#{org}#AGENTS")
    }
    pub fn agent(org: &str, user: &str) -> (String, String) {
        (agents(org), format!("AGENT#{user}"))
    }
}

impl DynamoStore {
    /// Puts `item` at `version`: new at 1 (nothing there), else over `version - 1`.
    /// Deletes the item at `key` if it is there (`AlreadyThere` otherwise), with the audit entry
    /// of the deletion in the same transaction when given.
    pub(super) async fn delete_existing(&self, key: (String, String), audit: Option<&AuditEntry>) -> Result<Written> {
        if let Some(entry) = audit {
            return self.write_audited(self.delete_op(key, Some(("attribute_exists(pk)", HashMap::new())))?, entry).await;
        }
        let delete = self.client().delete_item().table_name(self.table()).set_key(Some(super::key_map(key))).condition_expression("attribute_exists(pk)");
        match delete.send().await {
            Ok(_) => Ok(Written::Stored),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(Written::AlreadyThere),
            Err(e) => Err(crate::adapters::sdk_error("dynamodb", e)),
        }
    }

    /// Puts `item` as version `version` over `version - 1` (new at 1: `attribute_not_exists`),
    /// with the audit entry of the change in the same transaction when given; `AlreadyThere` when
    /// the stored version is not the one it was made over (nothing written).
    pub(super) async fn put_versioned(&self, item: Item, version: u64, audit: Option<&AuditEntry>) -> Result<Written> {
        let (condition, values) = if version <= 1 {
            ("attribute_not_exists(pk)", None)
        } else {
            ("version = :previous", Some(HashMap::from([(":previous".to_string(), n(version - 1))])))
        };
        if let Some(entry) = audit {
            return self.write_audited(self.put_op(item, Some(condition), values)?, entry).await;
        }
        let put = self.client().put_item().table_name(self.table()).set_item(Some(item)).condition_expression(condition).set_expression_attribute_values(values);
        match put.send().await {
            Ok(_) => Ok(Written::Stored),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(Written::AlreadyThere),
            Err(e) => Err(crate::adapters::sdk_error("dynamodb", e)),
        }
    }
}

#[async_trait]
impl TeamStore for DynamoStore {
    async fn create_team(&self, team: &Team, audit: Option<&AuditEntry>) -> Result<Written> {
        self.put_versioned(keyed(team, keys::team(&team.org_id, &team.id), &[])?, 1, audit).await
    }

    async fn team(&self, org_id: &str, team_id: &str) -> Result<Option<Team>> {
        self.get_consistent(keys::team(org_id, team_id)).await
    }

    async fn teams(&self, org_id: &str, page: &PageRequest) -> Result<Page<Team>> {
        self.query_page(None, "pk", &keys::partition(org_id), Some(("sk", "TEAM#")), None, true, page).await
    }

    async fn save_team(&self, team: &Team, audit: Option<&AuditEntry>) -> Result<Written> {
        if team.version <= 1 {
            return Ok(Written::AlreadyThere); // an edit is version 2 or more; creating is `create_team`
        }
        self.put_versioned(keyed(team, keys::team(&team.org_id, &team.id), &[])?, team.version, audit).await
    }

    async fn routing_settings(&self, org_id: &str) -> Result<Option<crate::domain::routing::StoredRoutingSettings>> {
        self.get(keys::routing_settings(org_id)).await
    }

    async fn put_routing_settings(&self, settings: &crate::domain::routing::StoredRoutingSettings, audit: Option<&AuditEntry>) -> Result<()> {
        let item = keyed(settings, keys::routing_settings(&settings.org_id), &[])?;
        match audit {
            Some(entry) => self.write_audited(self.put_op(item, None, None)?, entry).await.map(|_| ()),
            None => self.put(item).await,
        }
    }

    async fn business_hours(&self, org_id: &str, team_id: &str) -> Result<Option<StoredBusinessHours>> {
        self.get_consistent(keys::business_hours(org_id, team_id)).await
    }

    async fn save_business_hours(&self, hours: &StoredBusinessHours, audit: Option<&AuditEntry>) -> Result<Written> {
        if hours.version == 0 {
            return Ok(Written::AlreadyThere);
        }
        self.put_versioned(keyed(hours, keys::business_hours(&hours.org_id, &hours.team_id), &[])?, hours.version, audit).await
    }

    async fn create_agent(&self, agent: &Agent, audit: Option<&AuditEntry>) -> Result<Written> {
        self.put_versioned(keyed(agent, keys::agent(&agent.org_id, &agent.id), &[])?, 1, audit).await
    }

    async fn agent(&self, org_id: &str, user_id: &str) -> Result<Option<Agent>> {
        self.get_consistent(keys::agent(org_id, user_id)).await
    }

    async fn agents(&self, org_id: &str) -> Result<Vec<Agent>> {
        let mut agents = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.query_page(None, "pk", &keys::agents(org_id), Some(("sk", "AGENT#")), None, true, &PageRequest { limit: 100, cursor }).await?;
            agents.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(agents),
            }
        }
    }

    async fn save_agent(&self, agent: &Agent, audit: Option<&AuditEntry>) -> Result<Written> {
        if agent.version <= 1 {
            return Ok(Written::AlreadyThere);
        }
        self.put_versioned(keyed(agent, keys::agent(&agent.org_id, &agent.id), &[])?, agent.version, audit).await
    }
}
