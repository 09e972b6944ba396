//! Teams, their business hours and agents (issue 13, `docs/sla.md`): create, read, edit, the hours
//! with their own version, "open now, and until when" for an instant, agents with their teams,
//! skills and capacity, and each agent's own availability.

use chrono::{DateTime, Utc};

use crate::domain::agent::{Agent, AgentEdit, AgentInput, Availability};
use crate::domain::audit::{AuditActor, AuditEntity};
use crate::domain::ids::new_id;
use crate::domain::team::{BusinessHoursInput, HoursStatus, StoredBusinessHours, Team, TeamEdit, TeamInput};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{Page, PageRequest, TeamStore, Written};

/// What the audit trail records of a team, of its hours and of an agent (an agent's own
/// availability and routing's counters are not staff edits: not audited).
const TEAM_FIELDS: [&str; 4] = ["name", "description", "auto_assign", "after_hours_reply"];
const HOURS_FIELDS: [&str; 1] = ["hours"];
const AGENT_FIELDS: [&str; 5] = ["name", "team_ids", "skills", "languages", "capacity"];

pub async fn create(store: &dyn TeamStore, org_id: &str, input: TeamInput, by: &AuditActor, now: DateTime<Utc>) -> Result<Team> {
    let team = Team::new(new_id(now), org_id, input, now)?;
    let audit = by.change(now, org_id, (AuditEntity::Team, &team.id), "create", &TEAM_FIELDS, None, Some(&team));
    match store.create_team(&team, audit.as_ref()).await? {
        Written::Stored => Ok(team),
        // A fresh ULID taken: nothing was written, the caller can post again.
        Written::AlreadyThere => Err(Error::LostUpdate("team")),
    }
}

pub async fn get(store: &dyn TeamStore, org_id: &str, team_id: &str) -> Result<Team> {
    store.team(org_id, team_id).await?.ok_or(Error::NotFound("team"))
}

pub async fn list(store: &dyn TeamStore, org_id: &str, page: &PageRequest) -> Result<Page<Team>> {
    store.teams(org_id, page).await
}

/// Applies `edit` over what is stored: with a `version`, only over that version (409 otherwise);
/// without one, over whatever is stored, read again when a concurrent edit lands first.
pub async fn edit(store: &dyn TeamStore, org_id: &str, team_id: &str, edit: &TeamEdit, by: &AuditActor, now: DateTime<Utc>) -> Result<Team> {
    retry_lost_updates("team", |_| async move {
        let team = get(store, org_id, team_id).await?;
        let edited = team.edited(edit, now)?;
        let audit = by.change(now, org_id, (AuditEntity::Team, team_id), "update", &TEAM_FIELDS, Some(&team), Some(&edited));
        match store.save_team(&edited, audit.as_ref()).await? {
            Written::Stored => Ok(edited),
            Written::AlreadyThere => Err(Error::LostUpdate("team")),
        }
    })
    .await
}

/// The team's hours, or the default (open around the clock, version 0) when none are stored.
pub async fn business_hours(store: &dyn TeamStore, org_id: &str, team_id: &str) -> Result<StoredBusinessHours> {
    get(store, org_id, team_id).await?;
    Ok(store.business_hours(org_id, team_id).await?.unwrap_or_else(|| StoredBusinessHours::default_for(org_id, team_id)))
}

/// Replaces the team's hours, validated (422 names the field), over the version the caller read.
pub async fn save_business_hours(store: &dyn TeamStore, org_id: &str, team_id: &str, input: &BusinessHoursInput, by: &AuditActor, now: DateTime<Utc>) -> Result<StoredBusinessHours> {
    let hours = input.hours();
    hours.calendar()?;
    let before = business_hours(store, org_id, team_id).await?;
    let stored = StoredBusinessHours { org_id: org_id.into(), team_id: team_id.into(), hours, version: input.version + 1, updated_at: Some(now), updated_by: Some(by.user_id.clone()) };
    let audit = by.change(now, org_id, (AuditEntity::Team, team_id), "business_hours", &HOURS_FIELDS, Some(&before), Some(&stored));
    match store.save_business_hours(&stored, audit.as_ref()).await? {
        Written::Stored => Ok(stored),
        Written::AlreadyThere => {
            let current = store.business_hours(org_id, team_id).await?.map(|h| h.version).unwrap_or(0);
            Err(Error::stale_version("hours", input.version, current))
        }
    }
}

/// Open or closed at `at`, and the next change.
pub async fn status(store: &dyn TeamStore, org_id: &str, team_id: &str, at: DateTime<Utc>) -> Result<HoursStatus> {
    let stored = business_hours(store, org_id, team_id).await?;
    let calendar = stored.hours.calendar()?;
    let s = calendar.status_at(at);
    Ok(HoursStatus { team_id: team_id.into(), time_zone: stored.hours.time_zone.clone(), at, open: s.open, next_change: s.next_change, is_default: stored.version == 0 })
}

/// Refuses team ids the organisation does not have (422 naming the entry).
async fn teams_exist(store: &dyn TeamStore, org_id: &str, team_ids: &[String]) -> Result<()> {
    for (i, id) in team_ids.iter().enumerate() {
        if store.team(org_id, id).await?.is_none() {
            return Err(Error::invalid(format!("team_ids[{i}]"), "no such team in the organisation"));
        }
    }
    Ok(())
}

/// Registers a user of the organisation as an agent (offline until they say otherwise).
pub async fn create_agent(store: &dyn TeamStore, org_id: &str, input: AgentInput, by: &AuditActor, now: DateTime<Utc>) -> Result<Agent> {
    let agent = Agent::new(org_id, input, now)?;
    teams_exist(store, org_id, &agent.team_ids).await?;
    let audit = by.change(now, org_id, (AuditEntity::Agent, &agent.id), "create", &AGENT_FIELDS, None, Some(&agent));
    match store.create_agent(&agent, audit.as_ref()).await? {
        Written::Stored => Ok(agent),
        Written::AlreadyThere => Err(Error::conflict("the user is an agent already: change them with PATCH", "exists")),
    }
}

pub async fn agent(store: &dyn TeamStore, org_id: &str, user_id: &str) -> Result<Agent> {
    store.agent(org_id, user_id).await?.ok_or(Error::NotFound("agent"))
}

/// The organisation's agents, of one team and one availability when asked, by user id.
pub async fn agents(store: &dyn TeamStore, org_id: &str, team_id: Option<&str>, availability: Option<Availability>) -> Result<Vec<Agent>> {
    let all = store.agents(org_id).await?;
    Ok(all
        .into_iter()
        .filter(|a| team_id.is_none_or(|t| a.team_ids.iter().any(|x| x == t)))
        .filter(|a| availability.is_none_or(|v| a.availability == v))
        .collect())
}

/// Applies `edit` like a team's (with a version only over it; without, over what is stored).
/// An online agent left with free places (a raised capacity, a new team or skill) takes the
/// longest waiting conversations they now may, as coming online does; a lowered capacity keeps
/// what they have.
pub async fn edit_agent(ports: &crate::app::routing::RoutingPorts<'_>, org_id: &str, user_id: &str, edit: &AgentEdit, by: &AuditActor, now: DateTime<Utc>) -> Result<Agent> {
    let store = ports.teams;
    if let Some(teams) = &edit.team_ids {
        teams_exist(store, org_id, teams).await?;
    }
    let edited = retry_lost_updates("agent", |_| async move {
        let current = agent(store, org_id, user_id).await?;
        let edited = current.edited(edit, now)?;
        let audit = by.change(now, org_id, (AuditEntity::Agent, user_id), "update", &AGENT_FIELDS, Some(&current), Some(&edited));
        match store.save_agent(&edited, audit.as_ref()).await? {
            Written::Stored => Ok(edited),
            Written::AlreadyThere => Err(Error::LostUpdate("agent")),
        }
    })
    .await?;
    if edited.availability != Availability::Online || edited.open_count >= i64::from(edited.capacity) {
        return Ok(edited);
    }
    if crate::app::routing::agent_freed(ports, org_id, user_id, None, now).await?.is_empty() {
        return Ok(edited);
    }
    agent(store, org_id, user_id).await
}

/// The caller's own availability (404 when they are not an agent of the organisation); the same
/// availability again changes nothing. Coming online, they take the longest waiting
/// conversations of their teams' queues at once, as many as they have places. Going away or
/// offline keeps what they have (they come back to it; a supervisor reassigns it if not).
pub async fn set_availability(ports: &crate::app::routing::RoutingPorts<'_>, org_id: &str, user_id: &str, availability: Availability, now: DateTime<Utc>) -> Result<Agent> {
    let store = ports.teams;
    let saved = retry_lost_updates("agent", |_| async move {
        let current = agent(store, org_id, user_id).await?;
        let Some(changed) = current.with_availability(availability, now) else { return Ok(current) };
        match store.save_agent(&changed, None).await? {
            Written::Stored => Ok(changed),
            Written::AlreadyThere => Err(Error::LostUpdate("agent")),
        }
    })
    .await?;
    if saved.availability != Availability::Online {
        return Ok(saved);
    }
    if crate::app::routing::agent_freed(ports, org_id, user_id, None, now).await?.is_empty() {
        return Ok(saved);
    }
    agent(store, org_id, user_id).await
}
