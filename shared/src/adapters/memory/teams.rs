//! Teams, their business hours and agents in memory (`ports::TeamStore`), with the DynamoDB adapter's
//! conditions: a team is created once, and a team or its hours are saved only over the version
//! they were read at.

use async_trait::async_trait;

use super::{MemoryStore, fill_page, key, written};
use crate::domain::agent::Agent;
use crate::domain::audit::AuditEntry;
use crate::domain::team::{StoredBusinessHours, Team};
use crate::error::Result;
use crate::ports::{Page, PageRequest, TeamStore, Written};

#[async_trait]
impl TeamStore for MemoryStore {
    async fn create_team(&self, team: &Team, audit: Option<&AuditEntry>) -> Result<Written> {
        let mut st = self.write("create_team")?;
        let k = key(&team.org_id, &team.id);
        let fits = !st.teams.contains_key(&k);
        if !super::audit::with_entry(&mut st, fits, audit) {
            return Ok(Written::AlreadyThere);
        }
        st.teams.insert(k, team.clone());
        Ok(Written::Stored)
    }

    async fn team(&self, org_id: &str, team_id: &str) -> Result<Option<Team>> {
        Ok(self.read("team")?.teams.get(&key(org_id, team_id)).cloned())
    }

    async fn teams(&self, org_id: &str, page: &PageRequest) -> Result<Page<Team>> {
        let st = self.read("teams")?;
        // `ORG#{org}#TEAMS` / `TEAM#{id}`, ascending.
        let entries: Vec<(String, Team)> = st.teams.range(key(org_id, "")..).take_while(|((o, _), _)| o == org_id).map(|((_, id), t)| (format!("TEAM#{id}"), t.clone())).collect();
        fill_page(&format!("ORG#{org_id}#TEAMS"), entries, true, |_| true, page)
    }

    async fn save_team(&self, team: &Team, audit: Option<&AuditEntry>) -> Result<Written> {
        let mut st = self.write("save_team")?;
        let k = key(&team.org_id, &team.id);
        let fits = st.teams.get(&k).is_some_and(|t| t.version + 1 == team.version);
        let fits = super::audit::with_entry(&mut st, fits, audit);
        if fits {
            st.teams.insert(k, team.clone());
        }
        Ok(written(fits))
    }

    async fn routing_settings(&self, org_id: &str) -> Result<Option<crate::domain::routing::StoredRoutingSettings>> {
        Ok(self.read("routing_settings")?.routing_settings.get(org_id).cloned())
    }

    async fn put_routing_settings(&self, settings: &crate::domain::routing::StoredRoutingSettings, audit: Option<&AuditEntry>) -> Result<()> {
        let mut st = self.write("put_routing_settings")?;
        if super::audit::with_entry(&mut st, true, audit) {
            st.routing_settings.insert(settings.org_id.clone(), settings.clone());
        }
        Ok(())
    }

    async fn business_hours(&self, org_id: &str, team_id: &str) -> Result<Option<StoredBusinessHours>> {
        Ok(self.read("business_hours")?.business_hours.get(&key(org_id, team_id)).cloned())
    }

    async fn save_business_hours(&self, hours: &StoredBusinessHours, audit: Option<&AuditEntry>) -> Result<Written> {
        let mut st = self.write("save_business_hours")?;
        let k = key(&hours.org_id, &hours.team_id);
        let stored = st.business_hours.get(&k).map(|h| h.version).unwrap_or(0);
        let fits = hours.version >= 1 && stored + 1 == hours.version;
        let fits = super::audit::with_entry(&mut st, fits, audit);
        if fits {
            st.business_hours.insert(k, hours.clone());
        }
        Ok(written(fits))
    }

    async fn create_agent(&self, agent: &Agent, audit: Option<&AuditEntry>) -> Result<Written> {
        let mut st = self.write("create_agent")?;
        let k = key(&agent.org_id, &agent.id);
        let fits = !st.agents.contains_key(&k);
        if !super::audit::with_entry(&mut st, fits, audit) {
            return Ok(Written::AlreadyThere);
        }
        st.agents.insert(k, agent.clone());
        Ok(Written::Stored)
    }

    async fn agent(&self, org_id: &str, user_id: &str) -> Result<Option<Agent>> {
        Ok(self.read("agent")?.agents.get(&key(org_id, user_id)).cloned())
    }

    async fn agents(&self, org_id: &str) -> Result<Vec<Agent>> {
        let st = self.read("agents")?;
        Ok(st.agents.range(key(org_id, "")..).take_while(|((o, _), _)| o == org_id).map(|(_, a)| a.clone()).collect())
    }

    async fn save_agent(&self, agent: &Agent, audit: Option<&AuditEntry>) -> Result<Written> {
        let mut st = self.write("save_agent")?;
        let k = key(&agent.org_id, &agent.id);
        let fits = st.agents.get(&k).is_some_and(|a| a.version + 1 == agent.version);
        let fits = super::audit::with_entry(&mut st, fits, audit);
        if fits {
            st.agents.insert(k, agent.clone());
        }
        Ok(written(fits))
    }
}
