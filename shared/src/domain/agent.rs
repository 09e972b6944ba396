//! Agents (issue 13): the people who answer, as routing needs them — their teams, skills with a
//! proficiency, languages, how many open conversations they take at once, and whether they are
//! taking any now. An agent is a user of the organisation (the token's subject); the role a
//! request acts with still comes from the token, never from this record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const MAX_TEAMS: usize = 20;
pub const MAX_SKILLS: usize = 50;
pub const MAX_LANGUAGES: usize = 20;
pub const MAX_CAPACITY: u32 = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Takes new conversations (routing assigns to online agents only).
    Online,
    /// Signed in, not taking new ones.
    Away,
    #[default]
    Offline,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agent {
    /// The user's id: the `sub` of their token.
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub team_ids: Vec<String>,
    /// Skill → proficiency, 1 (some) to 5 (expert).
    #[schema(value_type = Object)]
    pub skills: BTreeMap<String, u8>,
    /// BCP 47 tags (`es`, `en-US`).
    pub languages: Vec<String>,
    /// The most open conversations routing assigns them at once.
    pub capacity: u32,
    pub availability: Availability,
    #[serde(default)]
    pub availability_changed_at: Option<DateTime<Utc>>,
    /// Open conversations of a team held by the agent (routing's and manual assignments): kept by
    /// the writes that assign, unassign and close, in the same transaction (`docs/sla.md`).
    #[serde(default)]
    pub open_count: i64,
    /// The agent's latest assignment: the longest idle goes first among equals (round robin).
    #[serde(default)]
    pub last_assigned_at: Option<DateTime<Utc>>,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/agents`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentInput {
    /// The user's id (their token's `sub`).
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub user_id: String,
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub team_ids: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub skills: BTreeMap<String, u8>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub languages: Vec<String>,
    #[serde(default = "default_capacity")]
    #[schema(minimum = 1, maximum = 100, default = 5)]
    pub capacity: u32,
}

fn default_capacity() -> u32 {
    5
}

/// `PATCH /v1/agents/{id}`: the fields given replace theirs.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentEdit {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub team_ids: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub skills: Option<BTreeMap<String, u8>>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub languages: Option<Vec<String>>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub capacity: Option<u32>,
    /// The version read: a newer stored one answers 409; absent, the edit applies to what is
    /// stored.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 9007199254740991.0)]
    pub version: Option<u64>,
}

/// `PUT /v1/agents/me/availability`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityInput {
    pub availability: Availability,
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("name", "must have 1 to 100 characters, not blank"));
    }
    Ok(name.to_string())
}

/// Team ids: each a valid id, once, at most [`MAX_TEAMS`]. (That each exists is the use case's
/// check: it reads them.)
fn check_teams(team_ids: &[String]) -> Result<Vec<String>> {
    if team_ids.len() > MAX_TEAMS {
        return Err(Error::invalid("team_ids", format!("at most {MAX_TEAMS} teams")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, t) in team_ids.iter().enumerate() {
        crate::domain::ids::check_id(&format!("team_ids[{i}]"), t)?;
        if !seen.insert(t) {
            return Err(Error::invalid(format!("team_ids[{i}]"), "names a team twice"));
        }
    }
    Ok(team_ids.to_vec())
}

/// Skills: names lower-cased (`Billing` and `billing` are one skill), 1–50 characters of letters,
/// digits, `_` and `-`, proficiency 1–5.
fn check_skills(skills: &BTreeMap<String, u8>) -> Result<BTreeMap<String, u8>> {
    if skills.len() > MAX_SKILLS {
        return Err(Error::invalid("skills", format!("at most {MAX_SKILLS} skills")));
    }
    let mut out = BTreeMap::new();
    for (name, level) in skills {
        let field = format!("skills.{name}");
        let key = name.trim().to_lowercase();
        let valid = !key.is_empty() && key.chars().count() <= 50 && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(Error::invalid(field, "a skill is 1 to 50 letters, digits, _ or -"));
        }
        if !(1..=5).contains(level) {
            return Err(Error::invalid(field, "proficiency is 1 to 5"));
        }
        if out.insert(key, *level).is_some() {
            return Err(Error::invalid(field, "names a skill twice (skills ignore case)"));
        }
    }
    Ok(out)
}

/// Skill names a conversation requires (`field[i]` names a bad one): lower-cased like an
/// agent's, each once, at most 20.
pub fn skill_names(names: &[String], field: &str) -> Result<Vec<String>> {
    if names.len() > 20 {
        return Err(Error::invalid(field, "at most 20 skills"));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let key = name.trim().to_lowercase();
        let valid = !key.is_empty() && key.chars().count() <= 50 && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(Error::invalid(format!("{field}[{i}]"), "a skill is 1 to 50 letters, digits, _ or -"));
        }
        if !out.contains(&key) {
            out.push(key);
        }
    }
    Ok(out)
}

fn check_languages(languages: &[String]) -> Result<Vec<String>> {
    if languages.len() > MAX_LANGUAGES {
        return Err(Error::invalid("languages", format!("at most {MAX_LANGUAGES} languages")));
    }
    languages.iter().enumerate().map(|(i, l)| crate::domain::language::check_tag(format!("languages[{i}]"), l)).collect()
}

fn check_capacity(capacity: u32) -> Result<u32> {
    if !(1..=MAX_CAPACITY).contains(&capacity) {
        return Err(Error::invalid("capacity", format!("must be from 1 to {MAX_CAPACITY}")));
    }
    Ok(capacity)
}

impl Agent {
    pub fn new(org_id: &str, input: AgentInput, now: DateTime<Utc>) -> Result<Agent> {
        crate::domain::ids::check_id("user_id", &input.user_id)?;
        Ok(Agent {
            id: input.user_id,
            org_id: org_id.to_string(),
            name: check_name(&input.name)?,
            team_ids: check_teams(&input.team_ids)?,
            skills: check_skills(&input.skills)?,
            languages: check_languages(&input.languages)?,
            capacity: check_capacity(input.capacity)?,
            availability: Availability::Offline,
            availability_changed_at: None,
            open_count: 0,
            last_assigned_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }

    /// The agent with `edit` applied, one version on; 409 when it names an older version.
    pub fn edited(&self, edit: &AgentEdit, now: DateTime<Utc>) -> Result<Agent> {
        if edit.version.is_some_and(|v| v != self.version) {
            return Err(Error::stale_version("agent", edit.version.unwrap_or_default(), self.version));
        }
        let mut a = self.clone();
        if let Some(name) = &edit.name {
            a.name = check_name(name)?;
        }
        if let Some(teams) = &edit.team_ids {
            a.team_ids = check_teams(teams)?;
        }
        if let Some(skills) = &edit.skills {
            a.skills = check_skills(skills)?;
        }
        if let Some(languages) = &edit.languages {
            a.languages = check_languages(languages)?;
        }
        if let Some(capacity) = edit.capacity {
            a.capacity = check_capacity(capacity)?;
        }
        a.version += 1;
        a.updated_at = now;
        Ok(a)
    }

    /// The agent with a new availability (the same one changes nothing: `None`).
    pub fn with_availability(&self, availability: Availability, now: DateTime<Utc>) -> Option<Agent> {
        (self.availability != availability).then(|| Agent { availability, availability_changed_at: Some(now), version: self.version + 1, updated_at: now, ..self.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AgentInput {
        AgentInput {
            user_id: "user_ana".into(),
            name: " Ana ".into(),
            team_ids: vec!["01TEAM".into()],
            skills: BTreeMap::from([("Billing".into(), 4), ("spanish".into(), 5)]),
            languages: vec!["es".into(), "en-US".into()],
            capacity: 5,
        }
    }

    #[track_caller]
    fn invalid<T: std::fmt::Debug>(r: Result<T>, field: &str) {
        match r {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected {field} refused, got {other:?}"),
        }
    }

    #[test]
    fn an_agent_is_validated_with_skills_lower_cased() {
        let now = Utc::now();
        let a = Agent::new("o1", input(), now).unwrap();
        assert_eq!((a.name.as_str(), a.skills.get("billing"), a.availability, a.version), ("Ana", Some(&4), Availability::Offline, 1));
        invalid(Agent::new("o1", AgentInput { user_id: "a#b".into(), ..input() }, now), "user_id");
        invalid(Agent::new("o1", AgentInput { skills: BTreeMap::from([("billing".into(), 6)]), ..input() }, now), "skills.billing");
        invalid(Agent::new("o1", AgentInput { skills: BTreeMap::from([("Billing".into(), 3), ("billing".into(), 2)]), ..input() }, now), "skills.billing");
        invalid(Agent::new("o1", AgentInput { skills: BTreeMap::from([("tech support".into(), 3)]), ..input() }, now), "skills.tech support");
        invalid(Agent::new("o1", AgentInput { languages: vec!["español".into()], ..input() }, now), "languages[0]");
        invalid(Agent::new("o1", AgentInput { capacity: 0, ..input() }, now), "capacity");
        invalid(Agent::new("o1", AgentInput { team_ids: vec!["t1".into(), "t1".into()], ..input() }, now), "team_ids[1]");
    }

    #[test]
    fn edits_and_availability_move_the_version() {
        let now = Utc::now();
        let a = Agent::new("o1", input(), now).unwrap();
        let b = a.edited(&AgentEdit { capacity: Some(8), version: Some(1), ..Default::default() }, now).unwrap();
        assert_eq!((b.capacity, b.version), (8, 2));
        assert!(matches!(b.edited(&AgentEdit { capacity: Some(9), version: Some(1), ..Default::default() }, now), Err(Error::Conflict { .. })));
        let online = b.with_availability(Availability::Online, now).unwrap();
        assert_eq!((online.availability, online.version), (Availability::Online, 3));
        assert!(online.with_availability(Availability::Online, now).is_none(), "the same availability changes nothing");
    }
}
