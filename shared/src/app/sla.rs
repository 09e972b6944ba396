//! SLAs (issue 13, `docs/sla.md`): policies (admins write), the policy that applies to a
//! conversation, its clocks started and stopped as messages come and go, and the SLA scheduler:
//! every minute it reads only the deadline index's minutes due and, per conversation, takes the
//! steps owed (warning, breach with its violation, escalation) with their events in one
//! conditional write — firing twice changes nothing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::{info, warn};

use crate::domain::audit::{AuditActor, AuditEntity};
use crate::domain::business_hours::BusinessCalendar;
use crate::domain::conversation::Conversation;
use crate::domain::deadline_index;
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::routing::{AssignedBy, Hold, assignment_events};
use crate::domain::ids::new_id;
use crate::domain::sla::{FiredStep, MAX_POLICIES, SlaPolicy, SlaPolicyEdit, SlaPolicyInput, SlaStep, applicable_policy};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{SlaStore, TeamStore, Written};

/// What SLA use cases need: the policies and the deadline index, and the teams (whose business
/// hours count business time, and which a policy or a conversation names).
#[derive(Clone, Copy)]
pub struct SlaPorts<'a> {
    pub sla: &'a dyn SlaStore,
    pub teams: &'a dyn TeamStore,
    /// An escalation to another team routes the conversation in its new queue.
    pub routing: &'a dyn crate::ports::RoutingStore,
}

impl<'a> SlaPorts<'a> {
    pub fn routing_ports(&self) -> crate::app::routing::RoutingPorts<'a> {
        crate::app::routing::RoutingPorts { routing: self.routing, teams: self.teams }
    }
}

// ------------------------------------------------------------------ policies

pub async fn list(store: &dyn SlaStore, org_id: &str) -> Result<Vec<SlaPolicy>> {
    store.sla_policies(org_id).await
}

pub async fn get(store: &dyn SlaStore, org_id: &str, id: &str) -> Result<SlaPolicy> {
    store.sla_policy(org_id, id).await?.ok_or(Error::NotFound("SLA policy"))
}

/// What the audit trail records of a policy.
const AUDITED_FIELDS: [&str; 7] = ["name", "team_id", "priority", "targets", "counted_in", "warning_percent", "escalation"];

pub async fn create(ports: &SlaPorts<'_>, org_id: &str, input: SlaPolicyInput, by: &AuditActor, now: DateTime<Utc>) -> Result<SlaPolicy> {
    let policy = SlaPolicy::new(new_id(now), org_id, input)?;
    check_teams(ports, &policy).await?;
    if ports.sla.sla_policies(org_id).await?.len() >= MAX_POLICIES {
        return Err(Error::invalid("name", format!("an organisation keeps at most {MAX_POLICIES} policies")));
    }
    let audit = by.change(now, org_id, (AuditEntity::SlaPolicy, &policy.id), "create", &AUDITED_FIELDS, None, Some(&policy));
    match ports.sla.create_sla_policy(&policy, audit.as_ref()).await? {
        Written::Stored => Ok(policy),
        Written::AlreadyThere => Err(Error::LostUpdate("SLA policy")),
    }
}

/// Applies `edit` over what is stored (with a `version`, only over that one: 409 otherwise).
/// Conversations take the new version when their policy is next evaluated (a team or priority
/// change); running clocks keep the deadlines they were given.
pub async fn edit(ports: &SlaPorts<'_>, org_id: &str, id: &str, edit: &SlaPolicyEdit, by: &AuditActor, now: DateTime<Utc>) -> Result<SlaPolicy> {
    retry_lost_updates("SLA policy", |_| async move {
        let before = get(ports.sla, org_id, id).await?;
        let edited = before.edited(edit)?;
        check_teams(ports, &edited).await?;
        let audit = by.change(now, org_id, (AuditEntity::SlaPolicy, id), "update", &AUDITED_FIELDS, Some(&before), Some(&edited));
        match ports.sla.save_sla_policy(&edited, audit.as_ref()).await? {
            Written::Stored => Ok(edited),
            Written::AlreadyThere => Err(Error::LostUpdate("SLA policy")),
        }
    })
    .await
}

/// Deletes the policy with the entry of what it was (404 when there is none).
pub async fn delete(store: &dyn SlaStore, org_id: &str, id: &str, by: &AuditActor, now: DateTime<Utc>) -> Result<()> {
    let before = get(store, org_id, id).await?;
    let audit = by.change(now, org_id, (AuditEntity::SlaPolicy, id), "delete", &AUDITED_FIELDS, Some(&before), None);
    match store.delete_sla_policy(org_id, id, audit.as_ref()).await? {
        Written::Stored => Ok(()),
        Written::AlreadyThere => Err(Error::NotFound("SLA policy")),
    }
}

/// The teams a policy names must be the organisation's (422 naming the field).
async fn check_teams(ports: &SlaPorts<'_>, policy: &SlaPolicy) -> Result<()> {
    if let Some(team) = &policy.team_id
        && ports.teams.team(&policy.org_id, team).await?.is_none()
    {
        return Err(Error::invalid("team_id", "no such team in the organisation"));
    }
    if let Some(team) = policy.escalation.as_ref().and_then(|e| e.reassign_to_team.as_ref())
        && ports.teams.team(&policy.org_id, team).await?.is_none()
    {
        return Err(Error::invalid("escalation.reassign_to_team", "no such team in the organisation"));
    }
    Ok(())
}

// ------------------------------------------------------------------ clocks

/// The team's business hours as a calendar; `None` (around the clock) without a team or hours.
pub async fn calendar(teams: &dyn TeamStore, org_id: &str, team: Option<&str>) -> Result<Option<BusinessCalendar>> {
    let Some(team) = team else { return Ok(None) };
    match teams.business_hours(org_id, team).await? {
        Some(stored) => Ok(stored.hours.calendar().ok()),
        None => Ok(None),
    }
}

/// A customer message sent at `at` into `conversation`: its first message fixes the policy
/// (from the cached policies: no read when the organisation's are known) and starts the clocks;
/// later ones start the next-response clock when they are the first left unanswered. The
/// team's hours are read only when a business-hours clock starts. Without a policy nothing is
/// read after the first message.
pub async fn customer_wrote(ports: &SlaPorts<'_>, conversation: &mut Conversation, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
    if conversation.first_message_at.is_none() {
        let policies = ports.sla.sla_policies_cached(&conversation.org_id).await?;
        let policy = applicable_policy(&policies, conversation.team_id.as_deref(), conversation.priority).cloned();
        conversation.sla_policy_id = policy.as_ref().map(|p| p.id.clone());
        conversation.sla = policy.map(crate::domain::sla::ConversationSla::new);
    }
    let starts_a_clock = conversation.sla.is_some()
        && (conversation.first_message_at.is_none() || (conversation.waiting_since.is_none() && conversation.first_response_at.is_some()));
    let calendar = match conversation.sla_calendar_team().filter(|_| starts_a_clock) {
        Some(team) => calendar(ports.teams, &conversation.org_id, Some(team)).await?,
        None => None,
    };
    conversation.customer_wrote(at, now, calendar.as_ref());
    Ok(())
}

/// Evaluates the policy again (the team or the priority changed): a different one restarts the
/// clocks still owed under its targets.
pub async fn reevaluate(ports: &SlaPorts<'_>, conversation: &mut Conversation, now: DateTime<Utc>) -> Result<()> {
    let policies = ports.sla.sla_policies(&conversation.org_id).await?;
    let policy = applicable_policy(&policies, conversation.team_id.as_deref(), conversation.priority).cloned();
    let counts_business = policy.as_ref().is_some_and(|p| p.counted_in == crate::domain::sla::CountedIn::BusinessHours);
    let calendar = match conversation.team_id.as_deref().filter(|_| counts_business) {
        Some(team) => calendar(ports.teams, &conversation.org_id, Some(team)).await?,
        None => None,
    };
    conversation.apply_policy(policy.as_ref(), now, calendar.as_ref());
    Ok(())
}

// ------------------------------------------------------------------ the scheduler

/// What one run of the scheduler did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerRun {
    /// Minutes of the deadline index read.
    pub minutes: u32,
    /// Index entries found due.
    pub due: u32,
    /// Conversations written (steps taken).
    pub conversations: u32,
    pub warnings: u32,
    pub breaches: u32,
    pub escalations: u32,
}

/// The teams' calendars one run has read, by organisation and team.
type Calendars = std::sync::Mutex<HashMap<(String, String), Option<BusinessCalendar>>>;

/// One run at `now`: reads the index's minutes from the cursor (or the minute before now, the
/// first time) to now, takes the steps owed, and moves the cursor to the minute before now.
pub async fn run_scheduler(ports: &SlaPorts<'_>, now: DateTime<Utc>) -> Result<SchedulerRun> {
    let minutes = deadline_index::minutes_due(ports.sla.sla_cursor().await?, now);
    let mut run = SchedulerRun::default();
    let calendars = Calendars::default();
    for minute in minutes {
        run.minutes += 1;
        for due in ports.sla.sla_due(minute, now).await? {
            run.due += 1;
            let fired = take_steps(ports, &due.org_id, &due.conversation_id, now, &calendars).await?;
            if !fired.is_empty() {
                run.conversations += 1;
            }
            for f in fired {
                match f.step {
                    SlaStep::Warning => run.warnings += 1,
                    SlaStep::Breach => run.breaches += 1,
                    SlaStep::Escalation => run.escalations += 1,
                }
            }
        }
    }
    ports.sla.save_sla_cursor(deadline_index::cursor_after(now)).await?;
    Ok(run)
}

/// The steps owed by one conversation at `now`, written with their events over the version read
/// (a concurrent reply makes it read again, and then nothing is owed).
async fn take_steps(
    ports: &SlaPorts<'_>,
    org_id: &str,
    conversation_id: &str,
    now: DateTime<Utc>,
    calendars: &Calendars,
) -> Result<Vec<FiredStep>> {
    let fired = retry_lost_updates("conversation", |_| async move {
        let Some(mut c) = ports.sla.conversation_for_sla(org_id, conversation_id).await? else { return Ok((Vec::new(), None, None)) };
        if !c.status.is_open() || c.sla.is_none() {
            return Ok((Vec::new(), None, None));
        }
        let calendar = match c.sla_calendar_team().map(str::to_string) {
            Some(team) => {
                let cached = calendars.lock().unwrap_or_else(|p| p.into_inner()).get(&(org_id.to_string(), team.clone())).cloned();
                match cached {
                    Some(cal) => cal,
                    None => {
                        let cal = calendar(ports.teams, org_id, Some(&team)).await?;
                        calendars.lock().unwrap_or_else(|p| p.into_inner()).insert((org_id.to_string(), team), cal.clone());
                        cal
                    }
                }
            }
            None => None,
        };
        let Some(sla) = c.sla.as_mut() else { return Ok((Vec::new(), None, None)) };
        let before = sla.check_at;
        let fired = sla.fire_due(now, calendar.as_ref());
        if fired.is_empty() && before == sla.check_at {
            // A stale index entry (the conversation moved on): nothing to write.
            return Ok((Vec::new(), None, None));
        }
        let escalation = sla.policy.escalation.clone();
        // Counted as missed in this same write, for the team that had it (before an escalation).
        c.count_sla_breaches(&fired);
        let before = (c.assignee_id.clone(), c.holds_capacity_of.clone());
        let mut changes = Vec::new();
        if let Some(e) = escalation.as_ref().filter(|_| fired.iter().any(|f| f.step == SlaStep::Escalation)) {
            c.escalate(e);
            let after = c.assignee_id.clone();
            if after != before.0 {
                // The escalation's agent is counted even over capacity (the policy named them);
                // the agent it leaves gets their place back in the same write.
                c.assignee_id = before.0.clone();
                let hold = match &after {
                    Some(a) if ports.teams.agent(org_id, a).await?.is_some() => Hold::OverCapacity,
                    _ => Hold::NotCounted,
                };
                changes = crate::domain::routing::assign(&mut c, after.as_deref(), hold, now);
            }
        }
        c.updated_at = c.updated_at.max(now);
        c.version += 1;
        // Events show the conversation as the steps left it (an escalation's new team, priority).
        let mut events = fired.iter().map(|f| step_event(&c, f, escalation.as_ref(), now)).collect::<Vec<_>>();
        events.extend(assignment_events(&c, before.0.as_deref(), AssignedBy::Escalation, now));
        ports.sla.record_sla_steps(&c, &changes, &events).await?;
        for f in &fired {
            info!(org_id, conversation_id, metric = f.metric.as_str(), step = f.step.as_str(), "SLA step taken");
        }
        let released = before.1.filter(|h| c.holds_capacity_of.as_ref() != Some(h));
        let escalated = fired.iter().any(|f| f.step == SlaStep::Escalation);
        Ok((fired, escalated.then_some(c), released))
    })
    .await;
    // An escalation to a team's queue is routed there; the agent it left takes the next one.
    let fired = match fired {
        Ok((fired, Some(c), released)) if !fired.is_empty() => {
            let routing = ports.routing_ports();
            let c = crate::app::routing::route(&routing, c, None, now).await?;
            if let Some(agent) = released {
                crate::app::routing::agent_freed(&routing, org_id, &agent, Some(&c.id), now).await?;
            }
            Ok(fired)
        }
        Ok((fired, _, _)) => Ok(fired),
        Err(e) => Err(e),
    };
    if let Err(e) = &fired {
        warn!(org_id, conversation_id, error = %e, "SLA steps not taken");
    }
    fired
}

/// How many violations a team's report lists (the latest deadlines first); `violations_truncated`
/// says when there were more in the range.
pub const REPORT_VIOLATIONS: usize = 100;

/// One team's compliance over a range: per metric met, missed, compliance %, median and p90, and
/// its violations.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct TeamCompliance {
    /// `null`: conversations without a team.
    pub team_id: Option<String>,
    pub metrics: Vec<crate::domain::sla::MetricCompliance>,
    /// The latest deadlines first, at most 100.
    pub violations: Vec<crate::domain::sla::ReportedViolation>,
    pub violations_truncated: bool,
}

/// `GET /v1/sla/compliance`: the days `from..=to` (UTC days of the clocks' ends).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ComplianceReport {
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    pub teams: Vec<TeamCompliance>,
}

/// The compliance report of `team` (another organisation's: 404), or of every team of the
/// organisation and of the conversations without one (those with nothing counted left out).
/// Reads: per team one Query of its counters and one of its violations; for every team, the
/// teams' pages first.
pub async fn compliance(
    compliance: &dyn crate::ports::ComplianceStore,
    teams: &dyn TeamStore,
    org_id: &str,
    team: Option<&str>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<ComplianceReport> {
    crate::domain::sla::compliance_range(from, to)?;
    let wanted: Vec<Option<String>> = match team {
        Some(id) => {
            teams.team(org_id, id).await?.ok_or(Error::NotFound("team"))?;
            vec![Some(id.to_string())]
        }
        None => {
            let mut all = Vec::new();
            let mut cursor = None;
            loop {
                let page = teams.teams(org_id, &crate::ports::PageRequest { limit: 100, cursor }).await?;
                all.extend(page.items.into_iter().map(|t| Some(t.id)));
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            all.push(None);
            all
        }
    };
    let mut report = ComplianceReport { from, to, teams: Vec::new() };
    for team_id in wanted {
        let days = compliance.compliance_days(org_id, team_id.as_deref(), from, to).await?;
        let mut violations = compliance.compliance_violations(org_id, team_id.as_deref(), from, to, REPORT_VIOLATIONS + 1).await?;
        let violations_truncated = violations.len() > REPORT_VIOLATIONS;
        violations.truncate(REPORT_VIOLATIONS);
        let metrics = crate::domain::sla::summarize(&days);
        if team.is_none() && metrics.is_empty() && violations.is_empty() {
            continue;
        }
        report.teams.push(TeamCompliance { team_id, metrics, violations, violations_truncated });
    }
    Ok(report)
}

/// The event of a step: `sla.warning`, `sla.breached` (target and actual seconds), `sla.escalated`
/// (what the escalation did). Keyed by the clock and the step, so a retried run records it once.
fn step_event(c: &Conversation, f: &FiredStep, escalation: Option<&crate::domain::sla::Escalation>, now: DateTime<Utc>) -> NewEvent {
    let kind = match f.step {
        SlaStep::Warning => EventKind::SlaWarning,
        SlaStep::Breach => EventKind::SlaBreached,
        SlaStep::Escalation => EventKind::SlaEscalated,
    };
    let mut data = json!({
        "conversation_id": c.id,
        "customer_id": c.customer_id,
        "team_id": c.team_id,
        "priority": c.priority,
        "metric": f.metric,
        "policy_id": f.clock.policy_id,
        "target_seconds": f.clock.target_seconds,
        "actual_seconds": f.elapsed_seconds,
        "started_at": f.clock.started_at,
        "due_at": f.clock.due_at,
    });
    if f.step == SlaStep::Escalation
        && let Some(e) = escalation
    {
        data["escalation"] = json!(e);
        if e.notify {
            data["notify"] = json!({"role": "supervisor"});
        }
    }
    let key = format!("sla:{}:{}:{}:{}:{}", c.id, f.metric.as_str(), f.clock.policy_id, f.clock.started_at.timestamp_millis(), f.step.as_str());
    NewEvent::new(&c.org_id, kind, now, data, key)
}
