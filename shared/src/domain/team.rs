//! Teams (issue 13): who answers which conversations, when they are open, and what a customer
//! hears when they write after hours. Their business hours are kept apart from the team
//! (`StoredBusinessHours`), each with its own version, so editing a name never races an hours edit.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::business_hours::{BusinessCalendar, BusinessHours};
use crate::error::{Error, Result};

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_AFTER_HOURS_REPLY_CHARS: usize = 1024;
/// What the after-hours reply may name: the next opening in the team's time zone.
pub const NEXT_OPENING: &str = "{{next_opening}}";
/// And the team's name.
pub const TEAM_NAME: &str = "{{team}}";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Team {
    pub id: String,
    pub org_id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Conversations queued to the team are assigned to its agents automatically.
    #[serde(default)]
    pub auto_assign: bool,
    /// Sent once per closed period to a customer who writes while the team is closed;
    /// `{{next_opening}}` becomes the next opening in the team's time zone. None: no reply.
    #[serde(default)]
    pub after_hours_reply: Option<String>,
    /// Counts writes; an edit lands only over the version it read.
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/teams`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    #[serde(default)]
    pub auto_assign: bool,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 1024, pattern = "\\S")]
    pub after_hours_reply: Option<String>,
}

/// `PATCH /v1/teams/{id}`: the fields given change; `null` clears a description or reply.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamEdit {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::interaction::present")]
    #[schema(max_length = 500, nullable)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub auto_assign: Option<bool>,
    #[serde(default, deserialize_with = "crate::domain::interaction::present")]
    #[schema(min_length = 1, max_length = 1024, pattern = "\\S", nullable)]
    pub after_hours_reply: Option<Option<String>>,
    /// The version read: a newer stored one answers 409. Absent: the edit applies to whatever is
    /// stored.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 9007199254740991.0)]
    pub version: Option<u64>,
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid("name", format!("must have 1 to {MAX_NAME_CHARS} characters, not blank")));
    }
    Ok(name.to_string())
}

fn check_description(description: Option<String>) -> Result<Option<String>> {
    match description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => Err(Error::invalid("description", format!("at most {MAX_DESCRIPTION_CHARS} characters"))),
        Some(d) if d.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn check_reply(reply: Option<String>) -> Result<Option<String>> {
    match reply {
        Some(r) if r.trim().is_empty() || r.chars().count() > MAX_AFTER_HOURS_REPLY_CHARS => {
            Err(Error::invalid("after_hours_reply", format!("must have 1 to {MAX_AFTER_HOURS_REPLY_CHARS} characters, not blank")))
        }
        // Only the one variable: a typo such as `{{next_open}}` would reach the customer as is.
        Some(r) if r.replace(NEXT_OPENING, "").replace(TEAM_NAME, "").contains("{{") => {
            Err(Error::invalid("after_hours_reply", format!("the only variables are {NEXT_OPENING} and {TEAM_NAME}")))
        }
        other => Ok(other),
    }
}

impl Team {
    pub fn new(id: String, org_id: &str, input: TeamInput, now: DateTime<Utc>) -> Result<Team> {
        Ok(Team {
            id,
            org_id: org_id.to_string(),
            name: check_name(&input.name)?,
            description: check_description(input.description)?,
            auto_assign: input.auto_assign,
            after_hours_reply: check_reply(input.after_hours_reply)?,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }

    /// The team with `edit` applied, one version on; 409 when the edit names an older version.
    pub fn edited(&self, edit: &TeamEdit, now: DateTime<Utc>) -> Result<Team> {
        if edit.version.is_some_and(|v| v != self.version) {
            return Err(Error::stale_version("team", edit.version.unwrap_or_default(), self.version));
        }
        let mut t = self.clone();
        if let Some(name) = &edit.name {
            t.name = check_name(name)?;
        }
        if let Some(description) = &edit.description {
            t.description = check_description(description.clone())?;
        }
        if let Some(auto_assign) = edit.auto_assign {
            t.auto_assign = auto_assign;
        }
        if let Some(reply) = &edit.after_hours_reply {
            t.after_hours_reply = check_reply(reply.clone())?;
        }
        t.version += 1;
        t.updated_at = now;
        Ok(t)
    }

    /// The after-hours reply for a customer writing now, with the team's name and the next opening filled in (in the
    /// team's time zone, e.g. "Monday 7 December 09:00 (Europe/Madrid)"); "soon" when the hours
    /// never open again, which an admin sees in the status route.
    pub fn after_hours_text(&self, calendar: &BusinessCalendar, next_opening: Option<DateTime<Utc>>) -> Option<String> {
        let reply = self.after_hours_reply.as_ref()?;
        let when = match next_opening {
            Some(t) => format!("{} ({})", t.with_timezone(&calendar.time_zone).format("%A %-d %B %H:%M"), calendar.time_zone.name()),
            None => "soon".to_string(),
        };
        Some(reply.replace(NEXT_OPENING, &when).replace(TEAM_NAME, &self.name))
    }
}

/// A team's business hours as stored: the hours, who saved them and when, and their version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredBusinessHours {
    pub org_id: String,
    pub team_id: String,
    #[serde(flatten)]
    pub hours: BusinessHours,
    /// 0 for the default (nothing stored): a `PUT` with version 0 creates, with n replaces n.
    pub version: u64,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

impl StoredBusinessHours {
    /// What a team without stored hours has: open around the clock in UTC, so nothing waits for
    /// an opening and business-hours SLAs count calendar time until hours are set.
    pub fn default_for(org_id: &str, team_id: &str) -> Self {
        StoredBusinessHours { org_id: org_id.into(), team_id: team_id.into(), hours: BusinessHours::always_open("UTC"), version: 0, updated_at: None, updated_by: None }
    }
}

/// `PUT /v1/teams/{id}/business-hours`: the whole hours, and the version read (0 when none were
/// stored); a newer stored version answers 409.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursInput {
    #[schema(schema_with = crate::domain::workflow::time_zone_schema)]
    pub time_zone: String,
    #[serde(default)]
    pub weekly: crate::domain::business_hours::WeeklyHours,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub holidays: Vec<crate::domain::business_hours::Holiday>,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub exceptions: Vec<crate::domain::business_hours::DatedHours>,
    #[schema(minimum = 0, maximum = 9007199254740991.0)]
    pub version: u64,
}

impl BusinessHoursInput {
    pub fn hours(&self) -> BusinessHours {
        BusinessHours { time_zone: self.time_zone.clone(), weekly: self.weekly.clone(), holidays: self.holidays.clone(), exceptions: self.exceptions.clone() }
    }
}

/// `GET /v1/teams/{id}/business-hours/status`: open or closed at an instant, and when that
/// changes.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HoursStatus {
    pub team_id: String,
    pub time_zone: String,
    pub at: DateTime<Utc>,
    pub open: bool,
    /// The next opening (closed) or closing (open); null when none comes within a year (open
    /// around the clock, or hours that never open again).
    pub next_change: Option<DateTime<Utc>>,
    /// The team has no hours stored: open around the clock.
    pub is_default: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::business_hours::{OpenWindow, WeeklyHours};
    use chrono::TimeZone;

    fn input() -> TeamInput {
        TeamInput { name: "  Billing ".into(), description: Some("Invoices and refunds".into()), auto_assign: true, after_hours_reply: Some(format!("We open {NEXT_OPENING}.")) }
    }

    #[track_caller]
    fn invalid<T: std::fmt::Debug>(r: Result<T>, field: &str) {
        match r {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected {field} refused, got {other:?}"),
        }
    }

    #[test]
    fn a_team_is_validated_and_trimmed() {
        let now = Utc::now();
        let t = Team::new("t1".into(), "o1", input(), now).unwrap();
        assert_eq!((t.name.as_str(), t.version, t.auto_assign), ("Billing", 1, true));
        invalid(Team::new("t".into(), "o1", TeamInput { name: " ".into(), ..input() }, now), "name");
        invalid(Team::new("t".into(), "o1", TeamInput { description: Some("x".repeat(501)), ..input() }, now), "description");
        invalid(Team::new("t".into(), "o1", TeamInput { after_hours_reply: Some("Back {{next_open}}".into()), ..input() }, now), "after_hours_reply");
    }

    #[test]
    fn an_edit_lands_on_the_version_it_read_and_null_clears() {
        let now = Utc::now();
        let t = Team::new("t1".into(), "o1", input(), now).unwrap();
        let e = TeamEdit { name: Some("Refunds".into()), description: Some(None), after_hours_reply: Some(None), version: Some(1), ..Default::default() };
        let t2 = t.edited(&e, now).unwrap();
        assert_eq!((t2.name.as_str(), t2.description.as_deref(), t2.after_hours_reply.as_deref(), t2.version), ("Refunds", None, None, 2));
        assert!(matches!(t2.edited(&e, now), Err(Error::Conflict { .. })));
        // Without a version the edit applies to what is stored.
        assert_eq!(t2.edited(&TeamEdit { auto_assign: Some(false), ..Default::default() }, now).unwrap().version, 3);
    }

    #[test]
    fn the_after_hours_reply_names_the_next_opening_in_the_teams_zone() {
        let t = Team::new("t1".into(), "o1", input(), Utc::now()).unwrap();
        let hours = BusinessHours { time_zone: "Europe/Madrid".into(), weekly: WeeklyHours::weekdays(&[OpenWindow::new("09:00", "17:00")]), holidays: vec![], exceptions: vec![] };
        let cal = hours.calendar().unwrap();
        let friday_night = Utc.with_ymd_and_hms(2026, 12, 4, 20, 0, 0).unwrap();
        let next = cal.next_open(friday_night);
        assert_eq!(t.after_hours_text(&cal, next).unwrap(), "We open Monday 7 December 09:00 (Europe/Madrid).");
        assert_eq!(t.after_hours_text(&cal, None).unwrap(), "We open soon.");
    }
}
