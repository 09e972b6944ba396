//! Workflow templates (defined sequences of interactions), the organisation's interaction
//! settings and calendar, and the next-step rule: what follows a completed interaction and when.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::ids::stable_id;
use crate::domain::interaction::{Interaction, InteractionStatus, InteractionType, MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, Priority};
use crate::error::{Error, Result};

pub const MAX_STEPS: usize = 20;
/// The largest offset a step may have: a year.
pub const MAX_OFFSET_DAYS: i32 = 365;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_TEMPLATES: usize = 100;
pub const DEFAULT_FOLLOW_UP_DAYS: u32 = 3;
const MAX_HOLIDAYS: usize = 1000;

/// What happens when the last step of a template is completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnLastStep {
    /// The chain goes on with the default follow-up (so the customer still has a next step).
    #[default]
    DefaultFollowUp,
    /// The chain ends: nothing is created after the last step.
    End,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowStep {
    #[schema(minimum = 1)]
    pub step_number: u32,
    #[serde(rename = "type")]
    pub kind: InteractionType,
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    /// Days from the previous step's completion (or the workflow's start) to `scheduled_at`.
    #[schema(minimum = 0, maximum = 365)]
    pub scheduled_offset_days: i32,
    /// Days from `scheduled_at` to `due_at`.
    #[schema(minimum = 0, maximum = 365)]
    pub due_offset_days: i32,
    /// The step that follows this one; `None` on the last step.
    #[serde(default)]
    pub next_step: Option<u32>,
    #[serde(default)]
    pub priority: Option<Priority>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkflowTemplate {
    pub id: String,
    pub org_id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub is_active: bool,
    /// At most one template per organisation is the default (the store enforces it).
    pub is_default: bool,
    pub steps: Vec<WorkflowStep>,
    #[serde(default)]
    pub on_last_step: OnLastStep,
    #[serde(default)]
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl WorkflowTemplate {
    /// The entry of the sequence: the lowest step number (validation makes every other step
    /// reachable from it).
    pub fn first_step(&self) -> Option<&WorkflowStep> {
        self.steps.iter().min_by_key(|s| s.step_number)
    }

    pub fn step(&self, number: u32) -> Option<&WorkflowStep> {
        self.steps.iter().find(|s| s.step_number == number)
    }
}

/// The body of `POST /v1/interactions/templates` (and of a replacement with PUT).
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkflowTemplate {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    #[serde(default = "yes")]
    pub is_active: bool,
    #[serde(default)]
    pub is_default: bool,
    #[schema(min_items = 1, max_items = 20)]
    pub steps: Vec<WorkflowStep>,
    #[serde(default)]
    pub on_last_step: OnLastStep,
}

fn yes() -> bool {
    true
}

impl NewWorkflowTemplate {
    pub fn into_template(self, id: String, org_id: &str, created_by: Option<&str>, now: DateTime<Utc>) -> Result<WorkflowTemplate> {
        let name = self.name.trim().to_string();
        if name.is_empty() {
            return Err(Error::invalid("name", "must not be empty"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(Error::invalid("name", format!("must be at most {MAX_NAME_CHARS} characters")));
        }
        if self.description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
            return Err(Error::invalid("description", format!("must be at most {MAX_DESCRIPTION_CHARS} characters")));
        }
        if self.is_default && !self.is_active {
            return Err(Error::invalid("is_default", "an inactive template cannot be the default"));
        }
        validate_steps(&self.steps)?;
        Ok(WorkflowTemplate {
            id,
            org_id: org_id.to_string(),
            name,
            description: self.description,
            is_active: self.is_active,
            is_default: self.is_default,
            steps: self.steps,
            on_last_step: self.on_last_step,
            created_by: created_by.map(str::to_string),
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }
}

/// A template's steps form one chain from the first step: numbers unique and positive, offsets
/// between 0 and a year, every `next_step` pointing at a step of the template, no loop, and no
/// step left out of the chain. Errors name the step (`steps[2].next_step`).
pub fn validate_steps(steps: &[WorkflowStep]) -> Result<()> {
    if steps.is_empty() {
        return Err(Error::invalid("steps", "a template has at least one step"));
    }
    if steps.len() > MAX_STEPS {
        return Err(Error::invalid("steps", format!("a template has at most {MAX_STEPS} steps")));
    }
    let mut index_of: HashMap<u32, usize> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        let at = |field: &str| format!("steps[{i}].{field}");
        if step.step_number == 0 {
            return Err(Error::invalid(at("step_number"), "must be 1 or more"));
        }
        if index_of.insert(step.step_number, i).is_some() {
            return Err(Error::invalid(at("step_number"), format!("step {} appears twice", step.step_number)));
        }
        if step.title.trim().is_empty() {
            return Err(Error::invalid(at("title"), "must not be empty"));
        }
        if step.title.chars().count() > MAX_TITLE_CHARS {
            return Err(Error::invalid(at("title"), format!("must be at most {MAX_TITLE_CHARS} characters")));
        }
        if step.description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
            return Err(Error::invalid(at("description"), format!("must be at most {MAX_DESCRIPTION_CHARS} characters")));
        }
        for (field, days) in [("scheduled_offset_days", step.scheduled_offset_days), ("due_offset_days", step.due_offset_days)] {
            if days < 0 {
                return Err(Error::invalid(at(field), "must not be negative"));
            }
            if days > MAX_OFFSET_DAYS {
                return Err(Error::invalid(at(field), format!("must be at most {MAX_OFFSET_DAYS} days")));
            }
        }
    }
    for (i, step) in steps.iter().enumerate() {
        if let Some(next) = step.next_step
            && !index_of.contains_key(&next)
        {
            return Err(Error::invalid(format!("steps[{i}].next_step"), format!("points to step {next}, which the template does not have")));
        }
    }
    // Walk from every step; a step met twice on one walk closes a loop at the step pointing back.
    for start in 0..steps.len() {
        let mut seen: Vec<u32> = Vec::new();
        let mut at = start;
        loop {
            let step = &steps[at];
            seen.push(step.step_number);
            let Some(next) = step.next_step else { break };
            if seen.contains(&next) {
                let path: Vec<String> = seen.iter().chain(std::iter::once(&next)).map(u32::to_string).collect();
                return Err(Error::invalid(format!("steps[{at}].next_step"), format!("makes a loop: {}", path.join(" -> "))));
            }
            at = index_of[&next];
        }
    }
    let first = steps.iter().map(|s| s.step_number).min().unwrap_or(1);
    let mut reachable: HashSet<u32> = HashSet::new();
    let mut at = Some(first);
    while let Some(number) = at {
        reachable.insert(number);
        at = steps[index_of[&number]].next_step;
    }
    if let Some(i) = steps.iter().position(|s| !reachable.contains(&s.step_number)) {
        return Err(Error::invalid(
            format!("steps[{i}]"),
            format!("step {} cannot be reached from the first step ({first})", steps[i].step_number),
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------ settings and calendar

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OffsetUnit {
    /// Offsets count every day.
    #[default]
    CalendarDays,
    /// Offsets skip the organisation's weekend days and holidays.
    BusinessDays,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayOfWeek {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl DayOfWeek {
    pub fn weekday(self) -> Weekday {
        match self {
            Self::Monday => Weekday::Mon,
            Self::Tuesday => Weekday::Tue,
            Self::Wednesday => Weekday::Wed,
            Self::Thursday => Weekday::Thu,
            Self::Friday => Weekday::Fri,
            Self::Saturday => Weekday::Sat,
            Self::Sunday => Weekday::Sun,
        }
    }
}

/// An organisation's interaction settings: the default follow-up and how offsets are counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionSettings {
    /// Days from a completion to the default follow-up's `scheduled_at`.
    #[serde(default = "default_follow_up_days")]
    #[schema(minimum = 1, maximum = 365)]
    pub default_follow_up_days: u32,
    #[serde(default)]
    pub offsets_in: OffsetUnit,
    /// IANA time zone in which days are counted (a day later keeps the local time of day).
    #[serde(default = "utc")]
    #[schema(schema_with = time_zone_schema)]
    pub time_zone: String,
    #[serde(default = "default_weekend")]
    #[schema(schema_with = weekend_schema)]
    pub weekend: Vec<DayOfWeek>,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub holidays: Vec<NaiveDate>,
    /// Minutes before `scheduled_at` the assignee is reminded (`interaction.reminder`); 0 turns
    /// reminders off. At most a week.
    #[serde(default = "default_reminder_lead_minutes")]
    #[schema(minimum = 0, maximum = 10080, default = 15)]
    pub reminder_lead_minutes: u32,
}

/// The reminder's lead time when an organisation has not set one.
pub const DEFAULT_REMINDER_LEAD_MINUTES: u32 = 15;
const MAX_REMINDER_LEAD_MINUTES: u32 = 7 * 24 * 60;

fn default_reminder_lead_minutes() -> u32 {
    DEFAULT_REMINDER_LEAD_MINUTES
}

/// `time_zone` in the contract: the IANA names MAX knows.
pub(crate) fn time_zone_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
        .default(Some("UTC".into()))
        .build()
}

/// `weekend` in the contract: each day once, and at least one business day.
fn weekend_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(<DayOfWeek as utoipa::PartialSchema>::schema())
        .max_items(Some(6))
        .unique_items(true)
        .build()
}

fn default_follow_up_days() -> u32 {
    DEFAULT_FOLLOW_UP_DAYS
}

fn utc() -> String {
    "UTC".to_string()
}

fn default_weekend() -> Vec<DayOfWeek> {
    vec![DayOfWeek::Saturday, DayOfWeek::Sunday]
}

impl Default for InteractionSettings {
    fn default() -> Self {
        InteractionSettings {
            default_follow_up_days: DEFAULT_FOLLOW_UP_DAYS,
            offsets_in: OffsetUnit::CalendarDays,
            time_zone: utc(),
            weekend: default_weekend(),
            holidays: Vec::new(),
            reminder_lead_minutes: DEFAULT_REMINDER_LEAD_MINUTES,
        }
    }
}

impl InteractionSettings {
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_OFFSET_DAYS as u32).contains(&self.default_follow_up_days) {
            return Err(Error::invalid("default_follow_up_days", format!("must be from 1 to {MAX_OFFSET_DAYS}")));
        }
        if self.time_zone.parse::<Tz>().is_err() {
            return Err(Error::invalid("time_zone", "must be an IANA time zone such as Europe/Paris"));
        }
        let weekend: HashSet<DayOfWeek> = self.weekend.iter().copied().collect();
        if weekend.len() < self.weekend.len() {
            return Err(Error::invalid("weekend", "names a day twice"));
        }
        if weekend.len() >= 7 {
            return Err(Error::invalid("weekend", "at least one day of the week must be a business day"));
        }
        if self.holidays.len() > MAX_HOLIDAYS {
            return Err(Error::invalid("holidays", format!("at most {MAX_HOLIDAYS} dates")));
        }
        if self.reminder_lead_minutes > MAX_REMINDER_LEAD_MINUTES {
            return Err(Error::invalid("reminder_lead_minutes", format!("must be from 0 to {MAX_REMINDER_LEAD_MINUTES}")));
        }
        Ok(())
    }

    /// How long before `scheduled_at` reminders go out (zero: off).
    pub fn reminder_lead(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.reminder_lead_minutes))
    }

    pub fn calendar(&self) -> Calendar {
        Calendar {
            time_zone: self.time_zone.parse().unwrap_or(Tz::UTC),
            unit: self.offsets_in,
            weekend: self.weekend.iter().map(|d| d.weekday()).collect(),
            holidays: self.holidays.iter().copied().collect(),
        }
    }
}

/// How an organisation counts days.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub time_zone: Tz,
    pub unit: OffsetUnit,
    pub weekend: Vec<Weekday>,
    pub holidays: BTreeSet<NaiveDate>,
}

impl Default for Calendar {
    fn default() -> Self {
        InteractionSettings::default().calendar()
    }
}

impl Calendar {
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        !self.weekend.contains(&date.weekday()) && !self.holidays.contains(&date)
    }

    /// `days` days after `from`, at the same local time of day. In business days, each day counted
    /// is a business day, so a positive offset always lands on one; zero days is `from` itself.
    pub fn add_days(&self, from: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        if days == 0 {
            return from;
        }
        let local = from.with_timezone(&self.time_zone).naive_local();
        let date = match self.unit {
            OffsetUnit::CalendarDays => local.date() + Duration::days(i64::from(days)),
            OffsetUnit::BusinessDays => {
                let mut date = local.date();
                let mut counted = 0;
                // Validation keeps at least one business day a week, so this ends.
                while counted < days {
                    date += Duration::days(1);
                    if self.is_business_day(date) {
                        counted += 1;
                    }
                }
                date
            }
        };
        self.to_utc(NaiveDateTime::new(date, local.time()))
    }

    /// A local time back to UTC. In a DST gap the clock jumps forward, so the time an hour later
    /// stands in; in an overlap the earlier of the two instants is taken.
    fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.time_zone.from_local_datetime(&local) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
            LocalResult::None => self.to_utc(local + Duration::hours(1)),
        }
    }

    /// Midnight of `date` in the organisation's time zone (a workflow's `start_date`).
    pub fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        self.to_utc(date.and_hms_opt(0, 0, 0).unwrap_or_default())
    }
}

/// `scheduled_at` = `from` + `scheduled_offset_days`; `due_at` = `scheduled_at` + `due_offset_days`.
/// Negative offsets count as zero (validation refuses them before they are stored).
pub fn schedule(calendar: &Calendar, from: DateTime<Utc>, scheduled_offset_days: i32, due_offset_days: i32) -> (DateTime<Utc>, DateTime<Utc>) {
    let scheduled_at = calendar.add_days(from, scheduled_offset_days.max(0) as u32);
    let due_at = calendar.add_days(scheduled_at, due_offset_days.max(0) as u32);
    (scheduled_at, due_at)
}

// ------------------------------------------------------------------ the next-step rule

/// What the organisation has that the next-step rule looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkflowCatalog {
    pub templates: Vec<WorkflowTemplate>,
    pub default_template_id: Option<String>,
    pub settings: InteractionSettings,
    /// Whether the organisation's starter templates were stored already.
    pub seeded: bool,
}

impl WorkflowCatalog {
    pub fn template(&self, id: &str) -> Option<&WorkflowTemplate> {
        self.templates.iter().find(|t| t.id == id)
    }

    /// The active default template with at least one step, if the organisation has one.
    pub fn default_template(&self) -> Option<&WorkflowTemplate> {
        self.default_template_id.as_deref().and_then(|id| self.template(id)).filter(|t| t.is_active && !t.steps.is_empty())
    }
}

/// What follows a completed interaction.
#[derive(Debug, Clone, PartialEq)]
pub enum NextStep<'a> {
    /// A step of a workflow template: the next one of the same workflow, or the first of the
    /// organisation's default template.
    Step { template: &'a WorkflowTemplate, step: &'a WorkflowStep },
    /// A `follow_up` this many days later.
    DefaultFollowUp { days: u32 },
    /// Nothing: the template says its last step ends the chain, or the interaction was not
    /// completed or skipped.
    End,
}

/// The rule: the template's next step if the interaction is part of a workflow; otherwise the
/// first step of the organisation's default template; otherwise a default follow-up. A workflow's
/// last step ends the chain only with `on_last_step: end`; else the default follow-up comes next.
/// An interaction whose template or step no longer exists counts as not part of a workflow.
pub fn next_step<'a>(done: &Interaction, catalog: &'a WorkflowCatalog) -> NextStep<'a> {
    if !done.status.moves_on() {
        return NextStep::End;
    }
    let current = done
        .template_id
        .as_deref()
        .and_then(|id| catalog.template(id))
        .and_then(|t| done.step_number.and_then(|n| t.step(n)).map(|step| (t, step)));
    if let Some((template, step)) = current {
        return match step.next_step.and_then(|n| template.step(n)) {
            Some(next) => NextStep::Step { template, step: next },
            None if template.on_last_step == OnLastStep::End => NextStep::End,
            None => NextStep::DefaultFollowUp { days: catalog.settings.default_follow_up_days },
        };
    }
    match catalog.default_template().and_then(|t| t.first_step().map(|step| (t, step))) {
        Some((template, step)) => NextStep::Step { template, step },
        None => NextStep::DefaultFollowUp { days: catalog.settings.default_follow_up_days },
    }
}

/// The next interaction's id: the same for every run of the rule on the same completion, so a
/// redelivered job or two racing workers write the same key and a conditional put keeps one.
pub fn next_interaction_id(done: &Interaction) -> String {
    stable_id(done.completed_at.unwrap_or(done.updated_at), &format!("next#{}", done.id))
}

/// The interaction that follows `done`, with its dates counted from the completion, linked back
/// to it; `None` when the chain ends.
pub fn next_interaction(done: &Interaction, catalog: &WorkflowCatalog, now: DateTime<Utc>) -> Option<Interaction> {
    let completed_at = done.completed_at.unwrap_or(done.updated_at);
    let calendar = catalog.settings.calendar();
    let (kind, title, description, priority, template_id, step_number, (scheduled_at, due_at)) = match next_step(done, catalog) {
        NextStep::End => return None,
        NextStep::Step { template, step } => (
            step.kind.clone(),
            step.title.clone(),
            step.description.clone(),
            step.priority.unwrap_or(done.priority),
            Some(template.id.clone()),
            Some(step.step_number),
            schedule(&calendar, completed_at, step.scheduled_offset_days, step.due_offset_days),
        ),
        NextStep::DefaultFollowUp { days } => (
            InteractionType::follow_up(),
            "Follow up".to_string(),
            Some(format!("Follow-up after: {}", done.title).chars().take(MAX_DESCRIPTION_CHARS).collect()),
            done.priority,
            None,
            None,
            schedule(&calendar, completed_at, days.min(MAX_OFFSET_DAYS as u32) as i32, 0),
        ),
    };
    Some(Interaction {
        id: next_interaction_id(done),
        org_id: done.org_id.clone(),
        customer_id: done.customer_id.clone(),
        kind,
        title,
        description,
        status: InteractionStatus::Pending,
        priority,
        scheduled_at,
        due_at,
        started_at: None,
        completed_at: None,
        cancelled_at: None,
        outcome: None,
        outcome_details: None,
        template_id,
        step_number,
        campaign_id: done.campaign_id.clone(),
        conversation_id: done.conversation_id.clone(),
        previous_interaction_id: Some(done.id.clone()),
        next_interaction_id: None,
        chain_ended: false,
        created_by: None,
        assignee_id: done.assignee_id.clone(),
        remind_at: None,
        reminded_at: None,
        overdue_alerted_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

/// The first interaction of a workflow started at `start`.
pub fn first_interaction(
    template: &WorkflowTemplate,
    calendar: &Calendar,
    id: String,
    customer_id: &str,
    start: DateTime<Utc>,
    created_by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Interaction> {
    let step = template.first_step().ok_or_else(|| Error::invalid("template_id", "the template has no steps"))?;
    let (scheduled_at, due_at) = schedule(calendar, start, step.scheduled_offset_days, step.due_offset_days);
    Ok(Interaction {
        id,
        org_id: template.org_id.clone(),
        customer_id: customer_id.to_string(),
        kind: step.kind.clone(),
        title: step.title.clone(),
        description: step.description.clone(),
        status: InteractionStatus::Pending,
        priority: step.priority.unwrap_or_default(),
        scheduled_at,
        due_at,
        started_at: None,
        completed_at: None,
        cancelled_at: None,
        outcome: None,
        outcome_details: None,
        template_id: Some(template.id.clone()),
        step_number: Some(step.step_number),
        campaign_id: None,
        conversation_id: None,
        previous_interaction_id: None,
        next_interaction_id: None,
        chain_ended: false,
        created_by: created_by.map(str::to_string),
        assignee_id: created_by.map(str::to_string),
        remind_at: None,
        reminded_at: None,
        overdue_alerted_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

// ------------------------------------------------------------------ seeded templates

/// The templates every organisation starts with (seeded once, neither is the default: an admin
/// chooses one, so no organisation's chain changes without someone deciding it).
pub fn seeded_templates(org_id: &str, now: DateTime<Utc>) -> Vec<WorkflowTemplate> {
    let step = |n: u32, kind: &str, title: &str, description: &str, scheduled: i32, due: i32, next: Option<u32>| WorkflowStep {
        step_number: n,
        kind: InteractionType::new(kind).unwrap_or_else(|_| InteractionType::follow_up()),
        title: title.to_string(),
        description: Some(description.to_string()),
        scheduled_offset_days: scheduled,
        due_offset_days: due,
        next_step: next,
        priority: None,
    };
    let template = |key: &str, name: &str, description: &str, steps: Vec<WorkflowStep>| WorkflowTemplate {
        id: seeded_template_id(org_id, key),
        org_id: org_id.to_string(),
        name: name.to_string(),
        description: Some(description.to_string()),
        is_active: true,
        is_default: false,
        steps,
        on_last_step: OnLastStep::DefaultFollowUp,
        created_by: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    vec![
        template(
            "standard-follow-up",
            "Standard Follow-up Sequence",
            "Call -> Proposal -> Follow-up",
            vec![
                step(1, "phone_call", "Initial Phone Call", "Make the initial contact call", 0, 0, Some(2)),
                step(2, "send_proposal", "Send Proposal", "Send the proposal within two days of the call", 0, 2, Some(3)),
                step(3, "follow_up", "Follow-up", "Follow up on the proposal", 3, 2, None),
            ],
        ),
        template(
            "quick-outreach",
            "Quick Outreach Sequence",
            "Email -> Call -> Final follow-up",
            vec![
                step(1, "email", "Initial Email", "Send the first email", 0, 0, Some(2)),
                step(2, "phone_call", "Follow-up Call", "Call the day after the email", 1, 0, Some(3)),
                step(3, "follow_up", "Final Follow-up", "Last follow-up two days after the call", 2, 0, None),
            ],
        ),
    ]
}

/// Seeded templates have the same id in every run, so seeding twice stores them once.
pub fn seeded_template_id(org_id: &str, key: &str) -> String {
    stable_id(DateTime::<Utc>::UNIX_EPOCH, &format!("{org_id}#seeded-workflow#{key}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::interaction::Completion;
    use chrono::TimeZone;
    use proptest::prelude::*;

    /// Monday 2026-01-19 10:00 UTC.
    fn monday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 19, 10, 0, 0).unwrap()
    }

    fn step(n: u32, next: Option<u32>) -> WorkflowStep {
        WorkflowStep {
            step_number: n,
            kind: InteractionType::new("phone_call").unwrap(),
            title: format!("Step {n}"),
            description: None,
            scheduled_offset_days: 0,
            due_offset_days: 0,
            next_step: next,
            priority: None,
        }
    }

    fn field_of(result: Result<()>) -> String {
        match result {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    fn standard(org: &str) -> WorkflowTemplate {
        seeded_templates(org, monday()).remove(0)
    }

    fn completed(template: Option<(&WorkflowTemplate, u32)>, at: DateTime<Utc>) -> Interaction {
        let mut i: Interaction = serde_json::from_value(serde_json::json!({
            "id": "01J0000000000000000000PREV", "org_id": "org", "customer_id": "cust", "type": "phone_call",
            "title": "Call", "status": "pending", "priority": "high",
            "scheduled_at": "2026-01-19T09:00:00Z", "due_at": "2026-01-19T09:00:00Z",
            "created_at": "2026-01-19T09:00:00Z", "updated_at": "2026-01-19T09:00:00Z", "version": 1
        }))
        .unwrap();
        if let Some((t, n)) = template {
            i.template_id = Some(t.id.clone());
            i.step_number = Some(n);
        }
        i.complete(&Completion { outcome: "success".into(), outcome_details: None }, at).unwrap()
    }

    // --- validation

    #[test]
    fn the_seeded_templates_are_valid() {
        for t in seeded_templates("org", monday()) {
            validate_steps(&t.steps).unwrap();
            assert!(t.is_active && !t.is_default);
        }
        assert_eq!(seeded_template_id("org", "a"), seeded_template_id("org", "a"));
        assert_ne!(seeded_template_id("org", "a"), seeded_template_id("other", "a"));
    }

    #[test]
    fn a_next_step_pointing_nowhere_is_refused_naming_the_step() {
        assert_eq!(field_of(validate_steps(&[step(1, Some(2)), step(2, Some(3)), step(3, Some(9))])), "steps[2].next_step");
    }

    #[test]
    fn loops_are_refused_naming_the_step_that_closes_them() {
        assert_eq!(field_of(validate_steps(&[step(1, Some(2)), step(2, Some(3)), step(3, Some(1))])), "steps[2].next_step");
        assert_eq!(field_of(validate_steps(&[step(1, Some(2)), step(2, Some(2))])), "steps[1].next_step");
        assert_eq!(field_of(validate_steps(&[step(1, Some(1))])), "steps[0].next_step");
    }

    #[test]
    fn negative_and_huge_offsets_are_refused_naming_the_step() {
        let mut steps = vec![step(1, Some(2)), step(2, None)];
        steps[1].due_offset_days = -1;
        assert_eq!(field_of(validate_steps(&steps)), "steps[1].due_offset_days");
        steps[1].due_offset_days = 0;
        steps[0].scheduled_offset_days = -3;
        assert_eq!(field_of(validate_steps(&steps)), "steps[0].scheduled_offset_days");
        steps[0].scheduled_offset_days = MAX_OFFSET_DAYS + 1;
        assert_eq!(field_of(validate_steps(&steps)), "steps[0].scheduled_offset_days");
    }

    #[test]
    fn numbers_are_unique_and_positive_and_every_step_is_on_the_chain() {
        assert_eq!(field_of(validate_steps(&[step(1, None), step(1, None)])), "steps[1].step_number");
        assert_eq!(field_of(validate_steps(&[step(0, None)])), "steps[0].step_number");
        assert_eq!(field_of(validate_steps(&[step(1, None), step(2, None)])), "steps[1]");
        assert_eq!(field_of(validate_steps(&[])), "steps");
        let mut untitled = step(1, None);
        untitled.title = " ".into();
        assert_eq!(field_of(validate_steps(&[untitled])), "steps[0].title");
    }

    #[test]
    fn steps_may_be_listed_in_any_order_and_numbered_with_gaps() {
        validate_steps(&[step(30, None), step(10, Some(20)), step(20, Some(30))]).unwrap();
        let t = WorkflowTemplate { steps: vec![step(30, None), step(10, Some(20)), step(20, Some(30))], ..standard("o") };
        assert_eq!(t.first_step().map(|s| s.step_number), Some(10));
    }

    #[test]
    fn an_inactive_template_cannot_be_the_default() {
        let body: NewWorkflowTemplate = serde_json::from_value(serde_json::json!({
            "name": "X", "is_active": false, "is_default": true,
            "steps": [{"step_number": 1, "type": "email", "title": "Mail", "scheduled_offset_days": 0, "due_offset_days": 0}]
        }))
        .unwrap();
        match body.into_template("t".into(), "o", None, monday()) {
            Err(Error::Invalid { field, .. }) => assert_eq!(field, "is_default"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn settings_are_validated() {
        assert!(InteractionSettings::default().validate().is_ok());
        let bad = [
            InteractionSettings { default_follow_up_days: 0, ..Default::default() },
            InteractionSettings { time_zone: "Mars/Olympus".into(), ..Default::default() },
            InteractionSettings {
                weekend: vec![
                    DayOfWeek::Monday, DayOfWeek::Tuesday, DayOfWeek::Wednesday, DayOfWeek::Thursday,
                    DayOfWeek::Friday, DayOfWeek::Saturday, DayOfWeek::Sunday,
                ],
                ..Default::default()
            },
        ];
        for (s, field) in bad.iter().zip(["default_follow_up_days", "time_zone", "weekend"]) {
            assert_eq!(field_of(s.validate()), field);
        }
    }

    // --- the next-step rule

    #[test]
    fn inside_a_workflow_the_templates_next_step_follows_with_its_offsets() {
        let t = standard("org");
        let catalog = WorkflowCatalog { templates: vec![t.clone()], ..Default::default() };
        let done = completed(Some((&t, 1)), monday());
        let next = next_interaction(&done, &catalog, monday()).unwrap();
        assert_eq!(next.kind.as_str(), "send_proposal");
        assert_eq!((next.template_id.as_deref(), next.step_number), (Some(t.id.as_str()), Some(2)));
        assert_eq!(next.scheduled_at, monday());
        assert_eq!(next.due_at, monday() + Duration::days(2), "the proposal is due by Wednesday");
        assert_eq!(next.previous_interaction_id.as_deref(), Some(done.id.as_str()));
        assert_eq!(next.customer_id, "cust");
        assert_eq!(next.priority, Priority::High, "a step without a priority keeps the chain's");
        assert_eq!(next.status, InteractionStatus::Pending);

        // Proposal sent on Wednesday: the follow-up is three days later, due two days after that.
        let wednesday = monday() + Duration::days(2);
        let done = completed(Some((&t, 2)), wednesday);
        let next = next_interaction(&done, &catalog, wednesday).unwrap();
        assert_eq!(next.step_number, Some(3));
        assert_eq!(next.scheduled_at, wednesday + Duration::days(3));
        assert_eq!(next.due_at, wednesday + Duration::days(5));
    }

    #[test]
    fn outside_a_workflow_the_default_templates_first_step_follows() {
        let mut t = standard("org");
        t.is_default = true;
        let catalog = WorkflowCatalog { templates: vec![t.clone()], default_template_id: Some(t.id.clone()), ..Default::default() };
        let next = next_interaction(&completed(None, monday()), &catalog, monday()).unwrap();
        assert_eq!((next.template_id.as_deref(), next.step_number), (Some(t.id.as_str()), Some(1)));
        assert_eq!(next.kind.as_str(), "phone_call");
    }

    #[test]
    fn without_a_usable_default_template_a_follow_up_comes_n_days_later() {
        let mut t = standard("org");
        let settings = InteractionSettings { default_follow_up_days: 5, ..Default::default() };
        let none = WorkflowCatalog { settings: settings.clone(), ..Default::default() };
        t.is_active = false;
        let inactive = WorkflowCatalog { templates: vec![t.clone()], default_template_id: Some(t.id.clone()), settings, seeded: true };
        for catalog in [none, inactive] {
            let next = next_interaction(&completed(None, monday()), &catalog, monday()).unwrap();
            assert_eq!(next.kind.as_str(), "follow_up");
            assert_eq!(next.template_id, None);
            assert_eq!(next.scheduled_at, monday() + Duration::days(5));
            assert_eq!(next.due_at, next.scheduled_at);
        }
        let default_days = WorkflowCatalog::default();
        let next = next_interaction(&completed(None, monday()), &default_days, monday()).unwrap();
        assert_eq!(next.scheduled_at, monday() + Duration::days(3));
    }

    #[test]
    fn the_last_step_ends_the_chain_only_if_the_template_says_so() {
        let mut t = standard("org");
        let catalog = WorkflowCatalog { templates: vec![t.clone()], ..Default::default() };
        let next = next_interaction(&completed(Some((&t, 3)), monday()), &catalog, monday()).unwrap();
        assert_eq!(next.kind.as_str(), "follow_up");
        assert_eq!(next.scheduled_at, monday() + Duration::days(3));

        t.on_last_step = OnLastStep::End;
        let catalog = WorkflowCatalog { templates: vec![t.clone()], ..Default::default() };
        assert_eq!(next_step(&completed(Some((&t, 3)), monday()), &catalog), NextStep::End);
        assert!(next_interaction(&completed(Some((&t, 3)), monday()), &catalog, monday()).is_none());
    }

    #[test]
    fn a_vanished_template_or_step_falls_back_as_if_outside_a_workflow() {
        let t = standard("org");
        let empty = WorkflowCatalog::default();
        assert_eq!(next_step(&completed(Some((&t, 1)), monday()), &empty), NextStep::DefaultFollowUp { days: 3 });
        let catalog = WorkflowCatalog { templates: vec![t.clone()], ..Default::default() };
        assert_eq!(next_step(&completed(Some((&t, 7)), monday()), &catalog), NextStep::DefaultFollowUp { days: 3 });
    }

    #[test]
    fn cancelled_and_open_interactions_have_no_next_step() {
        let catalog = WorkflowCatalog::default();
        let mut i = completed(None, monday());
        i.status = InteractionStatus::Cancelled;
        assert_eq!(next_step(&i, &catalog), NextStep::End);
        i.status = InteractionStatus::Pending;
        assert_eq!(next_step(&i, &catalog), NextStep::End);
        i.status = InteractionStatus::Skipped;
        assert_ne!(next_step(&i, &catalog), NextStep::End);
    }

    #[test]
    fn the_next_id_depends_only_on_the_completion() {
        let a = completed(None, monday());
        let catalog = WorkflowCatalog::default();
        let first = next_interaction(&a, &catalog, monday()).unwrap();
        let again = next_interaction(&a, &catalog, monday() + Duration::seconds(30)).unwrap();
        assert_eq!(first.id, again.id, "a redelivered job computes the same id");
        let mut b = a.clone();
        b.id = "01J0000000000000000000OTHR".into();
        assert_ne!(next_interaction_id(&a), next_interaction_id(&b));
    }

    #[test]
    fn a_workflow_starts_with_its_first_step_from_the_start_date() {
        let mut t = seeded_templates("org", monday()).remove(1);
        t.steps[0].scheduled_offset_days = 1;
        t.steps[0].due_offset_days = 2;
        let first = first_interaction(&t, &Calendar::default(), "i".into(), "cust", monday(), Some("u"), monday()).unwrap();
        assert_eq!(first.kind.as_str(), "email");
        assert_eq!(first.step_number, Some(1));
        assert_eq!(first.scheduled_at, monday() + Duration::days(1));
        assert_eq!(first.due_at, monday() + Duration::days(3));
    }

    // --- dates

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        let friday = monday() + Duration::days(4);
        let cal = InteractionSettings { offsets_in: OffsetUnit::BusinessDays, ..Default::default() }.calendar();
        assert_eq!(cal.add_days(friday, 1), monday() + Duration::days(7), "Friday + 1 business day = Monday");
        assert_eq!(cal.add_days(friday, 0), friday);
        let holiday = NaiveDate::from_ymd_opt(2026, 1, 26).unwrap();
        let cal = InteractionSettings { offsets_in: OffsetUnit::BusinessDays, holidays: vec![holiday], ..Default::default() }.calendar();
        assert_eq!(cal.add_days(friday, 1), monday() + Duration::days(8), "the Monday is a holiday");
    }

    #[test]
    fn days_keep_the_local_time_across_a_dst_change() {
        let cal = InteractionSettings { time_zone: "Europe/Paris".into(), ..Default::default() }.calendar();
        // Saturday 2026-03-28 09:00 in Paris (UTC+1); summer time starts on Sunday.
        let before = Utc.with_ymd_and_hms(2026, 3, 28, 8, 0, 0).unwrap();
        let after = cal.add_days(before, 2);
        assert_eq!(after, Utc.with_ymd_and_hms(2026, 3, 30, 7, 0, 0).unwrap(), "still 09:00 in Paris");
    }

    #[test]
    fn a_start_date_begins_at_local_midnight() {
        let cal = InteractionSettings { time_zone: "America/New_York".into(), ..Default::default() }.calendar();
        let start = cal.start_of(NaiveDate::from_ymd_opt(2026, 1, 22).unwrap());
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 1, 22, 5, 0, 0).unwrap());
    }

    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..4_000_000_000).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap())
    }

    proptest! {
        #[test]
        fn calendar_offsets_in_utc_are_whole_days(from in any_time(), s in 0i32..=MAX_OFFSET_DAYS, d in 0i32..=MAX_OFFSET_DAYS) {
            let (scheduled, due) = schedule(&Calendar::default(), from, s, d);
            prop_assert_eq!(scheduled, from + Duration::days(i64::from(s)));
            prop_assert_eq!(due, scheduled + Duration::days(i64::from(d)));
        }

        #[test]
        fn the_deadline_never_comes_before_the_start_nor_the_start_before_completion(
            from in any_time(), s in 0i32..=60, d in 0i32..=60, business in any::<bool>(),
            zone in prop::sample::select(vec!["UTC", "Europe/Paris", "America/Sao_Paulo", "Asia/Kolkata", "Australia/Lord_Howe"]),
        ) {
            let unit = if business { OffsetUnit::BusinessDays } else { OffsetUnit::CalendarDays };
            let cal = InteractionSettings { offsets_in: unit, time_zone: zone.into(), ..Default::default() }.calendar();
            let (scheduled, due) = schedule(&cal, from, s, d);
            prop_assert!(from <= scheduled && scheduled <= due);
        }

        #[test]
        fn n_business_days_later_is_a_business_day_with_exactly_n_business_days_counted(
            from in any_time(), n in 1u32..=40, holidays in prop::collection::vec(0i64..120, 0..10),
        ) {
            let start = from.date_naive();
            let holidays: Vec<NaiveDate> = holidays.into_iter().map(|k| start + Duration::days(k)).collect();
            let cal = InteractionSettings { offsets_in: OffsetUnit::BusinessDays, holidays, ..Default::default() }.calendar();
            let to = cal.add_days(from, n);
            prop_assert!(cal.is_business_day(to.date_naive()));
            prop_assert_eq!(to.time(), from.time());
            let counted = start.iter_days().skip(1).take_while(|d| *d <= to.date_naive()).filter(|d| cal.is_business_day(*d)).count();
            prop_assert_eq!(counted as u32, n);
            prop_assert!(to >= from + Duration::days(i64::from(n)));
        }

        #[test]
        fn more_days_never_land_earlier(from in any_time(), n in 0u32..60, business in any::<bool>()) {
            let unit = if business { OffsetUnit::BusinessDays } else { OffsetUnit::CalendarDays };
            let cal = InteractionSettings { offsets_in: unit, ..Default::default() }.calendar();
            prop_assert!(cal.add_days(from, n) < cal.add_days(from, n + 1));
        }
    }
}
