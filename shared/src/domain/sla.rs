//! Service-level agreements: policies per team and priority, the deadlines a clock start gives
//! (in business hours or calendar time), which policy applies to a conversation, the figures of a
//! violation, and the after-hours reply's "once per closed period" rule.
//!
//! A deadline is computed once, when its clock starts (a conversation's first message, each
//! customer message left unanswered, the opening for resolution), and stored in a deadline index;
//! the SLA scheduler then reads only what falls due (`docs/sla.md`). Nothing here does I/O.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::business_hours::BusinessCalendar;
use crate::domain::histogram::Histogram;
use crate::error::{Error, Result};

/// The longest target: 90 days.
pub const MAX_TARGET_SECONDS: u32 = 90 * 24 * 3600;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// One step up (an escalation's raise); urgent stays urgent.
    pub fn raised(self) -> Priority {
        match self {
            Priority::Low => Priority::Normal,
            Priority::Normal => Priority::High,
            Priority::High | Priority::Urgent => Priority::Urgent,
        }
    }
}

/// What an SLA measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaMetric {
    /// From the conversation's first customer message to the first agent reply.
    Frt,
    /// From each customer message left unanswered to the next agent reply.
    Nrt,
    /// From the opening to the close.
    Resolution,
}

impl SlaMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaMetric::Frt => "frt",
            SlaMetric::Nrt => "nrt",
            SlaMetric::Resolution => "resolution",
        }
    }
}

/// How a target's seconds are counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CountedIn {
    /// Only while the conversation's team is open (its business hours).
    #[default]
    BusinessHours,
    /// Around the clock.
    Calendar,
}

/// What happens once a deadline has been missed by `after_seconds` (once per clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Counted like the targets.
    #[schema(minimum = 0, maximum = 7776000)]
    pub after_seconds: u32,
    /// One step up: low → normal → high → urgent.
    #[serde(default)]
    pub raise_priority: bool,
    /// Reassigned to this agent (a supervisor), if set.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub reassign_to_agent: Option<String>,
    /// Moved to this team (and queued there), if set.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub reassign_to_team: Option<String>,
    /// An `sla.escalated` event is always written; `notify` also marks it for the supervisors'
    /// notifications.
    #[serde(default)]
    pub notify: bool,
}

/// The targets of a policy; a metric left out is not measured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaTargets {
    #[serde(default)]
    #[schema(minimum = 1, maximum = 7776000)]
    pub first_response_seconds: Option<u32>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 7776000)]
    pub next_response_seconds: Option<u32>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 7776000)]
    pub resolution_seconds: Option<u32>,
}

impl SlaTargets {
    pub fn of(&self, metric: SlaMetric) -> Option<u32> {
        match metric {
            SlaMetric::Frt => self.first_response_seconds,
            SlaMetric::Nrt => self.next_response_seconds,
            SlaMetric::Resolution => self.resolution_seconds,
        }
    }
}

/// A policy: the targets for conversations of a team (or any team) at a priority (or any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaPolicy {
    #[schema(read_only)]
    #[serde(default)]
    pub id: String,
    #[schema(read_only)]
    #[serde(default)]
    pub org_id: String,
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    /// `None`: every team without a policy of its own.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub team_id: Option<String>,
    /// `None`: every priority without a policy of its own.
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub targets: SlaTargets,
    #[serde(default)]
    pub counted_in: CountedIn,
    /// The share of a target at which `sla.warning` is emitted.
    #[serde(default = "default_warning_percent")]
    #[schema(minimum = 1, maximum = 99)]
    pub warning_percent: u8,
    #[serde(default)]
    pub escalation: Option<Escalation>,
    #[serde(default)]
    #[schema(maximum = 9007199254740991.0)]
    pub version: u64,
}

fn default_warning_percent() -> u8 {
    80
}

impl SlaPolicy {
    /// Checks what the schema cannot say; the error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            return Err(Error::invalid("name", "must have 1 to 200 characters"));
        }
        let targets = [
            ("targets.first_response_seconds", self.targets.first_response_seconds),
            ("targets.next_response_seconds", self.targets.next_response_seconds),
            ("targets.resolution_seconds", self.targets.resolution_seconds),
        ];
        if targets.iter().all(|(_, t)| t.is_none()) {
            return Err(Error::invalid("targets", "set at least one target"));
        }
        for (field, target) in targets {
            if target.is_some_and(|t| t == 0 || t > MAX_TARGET_SECONDS) {
                return Err(Error::invalid(field, format!("must be from 1 to {MAX_TARGET_SECONDS} seconds")));
            }
        }
        if !(1..=99).contains(&self.warning_percent) {
            return Err(Error::invalid("warning_percent", "must be from 1 to 99"));
        }
        if let Some(e) = &self.escalation {
            if e.after_seconds > MAX_TARGET_SECONDS {
                return Err(Error::invalid("escalation.after_seconds", format!("must be from 0 to {MAX_TARGET_SECONDS}")));
            }
            if !e.raise_priority && e.reassign_to_agent.is_none() && e.reassign_to_team.is_none() && !e.notify {
                return Err(Error::invalid("escalation", "name what it does: raise_priority, reassign_to_agent, reassign_to_team or notify"));
            }
        }
        Ok(())
    }

    /// How specific the policy is for a conversation of `team` at `priority`: `None` when it does
    /// not apply; the most specific applies (team and priority, team, priority, neither).
    fn specificity(&self, team: Option<&str>, priority: Priority) -> Option<u8> {
        let team_score = match (&self.team_id, team) {
            (None, _) => 0,
            (Some(t), Some(team)) if t == team => 2,
            _ => return None,
        };
        let priority_score = match self.priority {
            None => 0,
            Some(p) if p == priority => 1,
            _ => return None,
        };
        Some(team_score + priority_score)
    }
}

/// The policy that applies to a conversation of `team` at `priority`, if any. Ties (two policies
/// equally specific) go to the lower id, so the choice never depends on the order read.
pub fn applicable_policy<'a>(policies: &'a [SlaPolicy], team: Option<&str>, priority: Priority) -> Option<&'a SlaPolicy> {
    policies
        .iter()
        .filter_map(|p| p.specificity(team, priority).map(|s| (s, p)))
        .max_by(|(a, pa), (b, pb)| a.cmp(b).then_with(|| pb.id.cmp(&pa.id)))
        .map(|(_, p)| p)
}

/// The most policies an organisation keeps: every message's processing may read them whole.
pub const MAX_POLICIES: usize = 200;

/// `POST /v1/sla-policies`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyInput {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    /// A team of the organisation; absent: any team without a policy of its own.
    #[serde(default, deserialize_with = "crate::domain::ids::optional_id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub team_id: Option<String>,
    /// Absent: any priority without a policy of its own.
    #[serde(default)]
    pub priority: Option<Priority>,
    pub targets: SlaTargets,
    #[serde(default)]
    pub counted_in: CountedIn,
    #[serde(default = "default_warning_percent")]
    #[schema(minimum = 1, maximum = 99, default = 80)]
    pub warning_percent: u8,
    #[serde(default)]
    pub escalation: Option<Escalation>,
}

/// `PATCH /v1/sla-policies/{id}`: the fields given change; `null` clears team, priority or
/// escalation.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyEdit {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::interaction::present")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$", nullable)]
    pub team_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::interaction::present")]
    #[schema(nullable)]
    pub priority: Option<Option<Priority>>,
    #[serde(default)]
    pub targets: Option<SlaTargets>,
    #[serde(default)]
    pub counted_in: Option<CountedIn>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 99)]
    pub warning_percent: Option<u8>,
    #[serde(default, deserialize_with = "crate::domain::interaction::present")]
    #[schema(nullable)]
    pub escalation: Option<Option<Escalation>>,
    /// The version read: a newer stored one answers 409. Absent: over whatever is stored.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 9007199254740991.0)]
    pub version: Option<u64>,
}

impl SlaPolicy {
    /// A new policy from `input`, validated (422 names the field).
    pub fn new(id: String, org_id: &str, input: SlaPolicyInput) -> Result<SlaPolicy> {
        let policy = SlaPolicy {
            id,
            org_id: org_id.to_string(),
            name: input.name.trim().to_string(),
            team_id: input.team_id,
            priority: input.priority,
            targets: input.targets,
            counted_in: input.counted_in,
            warning_percent: input.warning_percent,
            escalation: input.escalation,
            version: 1,
        };
        policy.validate()?;
        Ok(policy)
    }

    /// The policy with `edit` applied, one version on, validated; 409 when the edit names an
    /// older version.
    pub fn edited(&self, edit: &SlaPolicyEdit) -> Result<SlaPolicy> {
        if let Some(v) = edit.version.filter(|v| *v != self.version) {
            return Err(Error::stale_version("policy", v, self.version));
        }
        let mut p = self.clone();
        if let Some(name) = &edit.name {
            p.name = name.trim().to_string();
        }
        if let Some(team) = &edit.team_id {
            p.team_id = team.clone();
        }
        if let Some(priority) = edit.priority {
            p.priority = priority;
        }
        if let Some(targets) = &edit.targets {
            p.targets = targets.clone();
        }
        if let Some(counted_in) = edit.counted_in {
            p.counted_in = counted_in;
        }
        if let Some(w) = edit.warning_percent {
            p.warning_percent = w;
        }
        if let Some(e) = &edit.escalation {
            p.escalation = e.clone();
        }
        p.validate()?;
        p.version += 1;
        Ok(p)
    }
}

/// A running SLA clock: its start and the three instants the scheduler acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaClock {
    pub metric: SlaMetric,
    pub policy_id: String,
    pub target_seconds: u32,
    pub counted_in: CountedIn,
    pub started_at: DateTime<Utc>,
    pub warn_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    #[serde(default)]
    pub escalate_at: Option<DateTime<Utc>>,
}

/// Measures time the way a policy counts it.
pub struct SlaTime<'a> {
    counted_in: CountedIn,
    calendar: Option<&'a BusinessCalendar>,
}

impl<'a> SlaTime<'a> {
    /// `calendar` is the team's business hours; without one, business-hours policies count
    /// around the clock (a team with no hours is treated as always open).
    pub fn new(counted_in: CountedIn, calendar: Option<&'a BusinessCalendar>) -> Self {
        SlaTime { counted_in, calendar }
    }

    fn calendar(&self) -> Option<&'a BusinessCalendar> {
        match self.counted_in {
            CountedIn::BusinessHours => self.calendar,
            CountedIn::Calendar => None,
        }
    }

    /// `seconds` of counted time after `from`; `None` if the hours never open long enough.
    pub fn after(&self, from: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
        match self.calendar() {
            Some(c) => c.add_business_time(from, Duration::seconds(seconds)),
            None => Some(from + Duration::seconds(seconds)),
        }
    }

    /// Counted time from `from` to `to`, whole seconds (0 if `to` is not after `from`).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        let d = match self.calendar() {
            Some(c) => c.business_time_between(from, to),
            None => (to - from).max(Duration::zero()),
        };
        d.num_seconds()
    }
}

/// Starts `metric`'s clock at `started_at` under `policy`: `None` when the policy has no target
/// for it, or the team's hours never open long enough to reach it (recorded as no deadline
/// rather than one that can never be met).
pub fn start_clock(policy: &SlaPolicy, metric: SlaMetric, started_at: DateTime<Utc>, calendar: Option<&BusinessCalendar>) -> Option<SlaClock> {
    let target = policy.targets.of(metric)?;
    let time = SlaTime::new(policy.counted_in, calendar);
    let target_s = i64::from(target);
    // The warning rounds down to the second, and never lands on the deadline itself.
    let warn_s = (target_s * i64::from(policy.warning_percent) / 100).clamp(0, target_s - 1);
    let due_at = time.after(started_at, target_s)?;
    let warn_at = time.after(started_at, warn_s)?;
    let escalate_at = policy.escalation.as_ref().and_then(|e| time.after(due_at, i64::from(e.after_seconds)));
    Some(SlaClock { metric, policy_id: policy.id.clone(), target_seconds: target, counted_in: policy.counted_in, started_at, warn_at, due_at, escalate_at })
}

/// A missed target as recorded: what, by how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Violation {
    pub metric: SlaMetric,
    pub policy_id: String,
    pub target_seconds: u32,
    /// Counted the policy's way, up to the answer (or to when the breach was seen, if none yet).
    pub actual_seconds: i64,
    pub started_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// When the late answer came (an agent's reply, the close); `None` while none has.
    #[serde(default)]
    pub answered_at: Option<DateTime<Utc>>,
}

impl SlaClock {
    /// Whether an answer (a reply, a resolution) at `at` met the target. The deadline instant
    /// itself is late: `[started_at, due_at)` is in time.
    pub fn met_by(&self, at: DateTime<Utc>) -> bool {
        at < self.due_at
    }

    /// The violation as of `at` (the answer, or now while none has come).
    pub fn violation(&self, at: DateTime<Utc>, calendar: Option<&BusinessCalendar>) -> Violation {
        let actual = SlaTime::new(self.counted_in, calendar).between(self.started_at, at);
        Violation { metric: self.metric, policy_id: self.policy_id.clone(), target_seconds: self.target_seconds, actual_seconds: actual, started_at: self.started_at, due_at: self.due_at, answered_at: None }
    }
}

/// What the scheduler does at a clock's instants, in this order, each once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaStep {
    Warning,
    Breach,
    Escalation,
}

impl SlaStep {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaStep::Warning => "warning",
            SlaStep::Breach => "breach",
            SlaStep::Escalation => "escalation",
        }
    }
}

/// A clock as a conversation carries it: which of its steps have been taken, and whether an
/// answer (an agent's reply, the close) stopped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunningClock {
    pub clock: SlaClock,
    #[serde(default)]
    pub warned: bool,
    #[serde(default)]
    pub breached: bool,
    #[serde(default)]
    pub escalated: bool,
    /// When an answer stopped it; a stopped clock fires nothing more.
    #[serde(default)]
    pub stopped_at: Option<DateTime<Utc>>,
    /// Whether the answer came in time (set when stopped).
    #[serde(default)]
    pub met: Option<bool>,
}

impl RunningClock {
    fn new(clock: SlaClock) -> Self {
        RunningClock { clock, warned: false, breached: false, escalated: false, stopped_at: None, met: None }
    }

    /// The next step owed and its instant; none once stopped or done.
    pub fn next_step(&self) -> Option<(SlaStep, DateTime<Utc>)> {
        if self.stopped_at.is_some() {
            return None;
        }
        if !self.warned && !self.breached {
            Some((SlaStep::Warning, self.clock.warn_at))
        } else if !self.breached {
            Some((SlaStep::Breach, self.clock.due_at))
        } else if !self.escalated {
            self.clock.escalate_at.map(|at| (SlaStep::Escalation, at))
        } else {
            None
        }
    }
}

/// A step the scheduler took: what its event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredStep {
    pub metric: SlaMetric,
    pub step: SlaStep,
    pub clock: SlaClock,
    /// Counted the policy's way from the clock's start to when the step was seen.
    pub elapsed_seconds: i64,
}

/// A conversation's SLA: the policy that applied when it was last evaluated (a copy, so a
/// customer message starts its next-response clock without reading the policies), the clocks,
/// the violations, and when the scheduler is next to look (its deadline index entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationSla {
    pub policy: SlaPolicy,
    #[serde(default)]
    pub frt: Option<RunningClock>,
    #[serde(default)]
    pub nrt: Option<RunningClock>,
    #[serde(default)]
    pub resolution: Option<RunningClock>,
    #[serde(default)]
    pub violations: Vec<Violation>,
    /// The instant of the next step owed (never before the last write): the minute the
    /// conversation sits in the deadline index; `None` when nothing is owed.
    #[serde(default)]
    pub check_at: Option<DateTime<Utc>>,
}

impl ConversationSla {
    pub fn new(policy: SlaPolicy) -> Self {
        ConversationSla { policy, frt: None, nrt: None, resolution: None, violations: Vec::new(), check_at: None }
    }

    pub fn clock(&self, metric: SlaMetric) -> Option<&RunningClock> {
        match metric {
            SlaMetric::Frt => self.frt.as_ref(),
            SlaMetric::Nrt => self.nrt.as_ref(),
            SlaMetric::Resolution => self.resolution.as_ref(),
        }
    }

    fn slot(&mut self, metric: SlaMetric) -> &mut Option<RunningClock> {
        match metric {
            SlaMetric::Frt => &mut self.frt,
            SlaMetric::Nrt => &mut self.nrt,
            SlaMetric::Resolution => &mut self.resolution,
        }
    }

    /// Starts (or restarts) `metric`'s clock at `at`; nothing when the policy has no target for it.
    pub fn start(&mut self, metric: SlaMetric, at: DateTime<Utc>, calendar: Option<&BusinessCalendar>) {
        let clock = start_clock(&self.policy, metric, at, calendar).map(RunningClock::new);
        *self.slot(metric) = clock;
    }

    /// An answer at `at` stops `metric`'s clock (a stopped one stays as it was), and says how
    /// the end counts in the compliance report: met; missed when late and no breach was counted
    /// yet (the answer came before the scheduler's run: its violation is recorded here, counted
    /// in calendar time); answered late when the breach was counted already.
    pub fn stop(&mut self, metric: SlaMetric, at: DateTime<Utc>) -> Option<ClockEnded> {
        let c = self.slot(metric).as_mut().filter(|c| c.stopped_at.is_none())?;
        c.stopped_at = Some(at);
        let met = c.clock.met_by(at);
        c.met = Some(met);
        let (breached, started) = (c.breached, c.clock.started_at);
        let response_seconds = Some((at - started).num_seconds().max(0) as u64);
        let clock = c.clock.clone();
        if met {
            return Some(ClockEnded { metric, end: ClockEnd::Met, at, response_seconds, violation: None });
        }
        if !breached {
            let mut violation = clock.violation(at, None);
            violation.answered_at = Some(at);
            self.violations.push(violation.clone());
            return Some(ClockEnded { metric, end: ClockEnd::Missed, at, response_seconds, violation: Some(violation) });
        }
        // The violation recorded at the breach learns when the answer finally came.
        if let Some(v) = self.violations.iter_mut().find(|v| v.metric == metric && v.started_at == started && v.answered_at.is_none()) {
            v.answered_at = Some(at);
        }
        Some(ClockEnded { metric, end: ClockEnd::AnsweredLate, at, response_seconds, violation: None })
    }

    /// Whether some step is still owed.
    pub fn is_running(&self) -> bool {
        [SlaMetric::Frt, SlaMetric::Nrt, SlaMetric::Resolution].iter().any(|m| self.clock(*m).and_then(RunningClock::next_step).is_some())
    }

    /// Places the conversation in the deadline index: at its next step's instant, or at `now` when
    /// that is already past (an entry in a minute the scheduler has left behind would be missed).
    pub fn reindex(&mut self, now: DateTime<Utc>) {
        self.check_at = [SlaMetric::Frt, SlaMetric::Nrt, SlaMetric::Resolution]
            .iter()
            .filter_map(|m| self.clock(*m).and_then(RunningClock::next_step))
            .map(|(_, at)| at)
            .min()
            .map(|at| at.max(now));
    }

    /// Takes every step due at `now`, in order (a late run warns, then breaches), each once:
    /// the flags are set, a breach records its violation. Returns what was fired (nothing when
    /// the scheduler finds the work done: firing twice changes nothing).
    pub fn fire_due(&mut self, now: DateTime<Utc>, calendar: Option<&BusinessCalendar>) -> Vec<FiredStep> {
        let mut fired = Vec::new();
        for metric in [SlaMetric::Frt, SlaMetric::Nrt, SlaMetric::Resolution] {
            while let Some((step, at)) = self.clock(metric).and_then(RunningClock::next_step) {
                if at > now {
                    break;
                }
                let Some(running) = self.slot(metric).as_mut() else { break };
                match step {
                    SlaStep::Warning => running.warned = true,
                    SlaStep::Breach => running.breached = true,
                    SlaStep::Escalation => running.escalated = true,
                }
                let clock = running.clock.clone();
                let elapsed_seconds = SlaTime::new(clock.counted_in, calendar).between(clock.started_at, now);
                if step == SlaStep::Breach {
                    self.violations.push(clock.violation(now, calendar));
                }
                fired.push(FiredStep { metric, step, clock, elapsed_seconds });
            }
        }
        self.reindex(now);
        fired
    }
}

/// How a clock's end counts in the compliance report (`docs/sla.md`): each clock counts once,
/// met or missed, when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockEnd {
    /// Answered before its deadline.
    Met,
    /// Its deadline passed: the scheduler's breach, or a late answer that came before it.
    Missed,
    /// A late answer after the breach was counted as missed: only its response time counts.
    AnsweredLate,
}

/// A clock that ended, as the conversation's write counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockEnded {
    pub metric: SlaMetric,
    pub end: ClockEnd,
    /// When it ended (the answer; the deadline for a breach).
    pub at: DateTime<Utc>,
    /// Calendar seconds from the clock's start to the answer (the median and p90); none at a breach.
    pub response_seconds: Option<u64>,
    /// The violation a miss recorded (the report lists it).
    pub violation: Option<Violation>,
}

/// One clock's end to add to the organisation's compliance counters, kept per team, day (UTC,
/// of the end) and metric. A conversation carries the ends of its latest change until the store
/// writes them in the same transaction as the conversation (ADDs: concurrent writes never lose a
/// count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceCount {
    pub org_id: String,
    pub conversation_id: String,
    pub team_id: Option<String>,
    pub day: NaiveDate,
    pub ended: ClockEnded,
}

impl ComplianceCount {
    pub fn met(&self) -> u64 {
        u64::from(self.ended.end == ClockEnd::Met)
    }

    pub fn missed(&self) -> u64 {
        u64::from(self.ended.end == ClockEnd::Missed)
    }

    /// The violation as the report lists it.
    pub fn reported_violation(&self) -> Option<ReportedViolation> {
        self.ended.violation.clone().map(|violation| ReportedViolation { conversation_id: self.conversation_id.clone(), team_id: self.team_id.clone(), violation })
    }
}

/// A violation as the compliance report lists it: which conversation, in which team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportedViolation {
    pub conversation_id: String,
    pub team_id: Option<String>,
    #[serde(flatten)]
    pub violation: Violation,
}

/// The counters of one team, day and metric as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplianceDay {
    pub team_id: Option<String>,
    pub day: NaiveDate,
    pub metric: SlaMetric,
    pub met: u64,
    pub missed: u64,
    pub response_times: Histogram,
}

impl ComplianceDay {
    pub fn new(team_id: Option<String>, day: NaiveDate, metric: SlaMetric) -> Self {
        ComplianceDay { team_id, day, metric, met: 0, missed: 0, response_times: Histogram::new() }
    }

    /// Adds one clock's end.
    pub fn count(&mut self, count: &ComplianceCount) {
        self.met += count.met();
        self.missed += count.missed();
        if let Some(s) = count.ended.response_seconds {
            self.response_times.record(s);
        }
    }
}

/// The longest range the report reads, in days (`from` and `to` included).
pub const MAX_COMPLIANCE_DAYS: i64 = 92;

/// Checks a report's range: `to` not before `from`, at most [`MAX_COMPLIANCE_DAYS`] days.
pub fn compliance_range(from: NaiveDate, to: NaiveDate) -> Result<()> {
    if to < from {
        return Err(Error::invalid("to", "must not be before from"));
    }
    if (to - from).num_days() + 1 > MAX_COMPLIANCE_DAYS {
        return Err(Error::invalid("to", format!("at most {MAX_COMPLIANCE_DAYS} days from from")));
    }
    Ok(())
}

/// One metric's figures over a range.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MetricCompliance {
    pub metric: SlaMetric,
    pub met: u64,
    pub missed: u64,
    /// `met / (met + missed)` in percent, one decimal; `null` when nothing ended.
    pub compliance_percent: Option<f64>,
    /// Answers counted in the times below (late ones too).
    pub answered: u64,
    /// Response (or resolution) time, calendar seconds, within 11.8 % (`domain::histogram`).
    pub median_seconds: Option<u64>,
    pub p90_seconds: Option<u64>,
}

/// Sums a team's days per metric (in metric order; a metric with nothing counted is left out).
pub fn summarize(days: &[ComplianceDay]) -> Vec<MetricCompliance> {
    let mut out = Vec::new();
    for metric in [SlaMetric::Frt, SlaMetric::Nrt, SlaMetric::Resolution] {
        let (mut met, mut missed, mut times) = (0, 0, Histogram::new());
        for d in days.iter().filter(|d| d.metric == metric) {
            met += d.met;
            missed += d.missed;
            times.merge(&d.response_times);
        }
        if met + missed == 0 && times.count() == 0 {
            continue;
        }
        let compliance_percent = (met + missed > 0).then(|| (met as f64 * 1000.0 / (met + missed) as f64).round() / 10.0);
        out.push(MetricCompliance { metric, met, missed, compliance_percent, answered: times.count(), median_seconds: times.median(), p90_seconds: times.p90() });
    }
    out
}

/// The after-hours reply a conversation was last sent: for which closed period (named by the
/// opening that ends it; `None`: hours that never open again), and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AfterHoursReplied {
    pub opening: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// The after-hours reply goes out once per closed period: a closed period is named by the
/// opening that ends it, so the reply is due when the team is closed at `now` and the last reply
/// was sent for another opening (or never). Returns the opening to record with the reply; `None`
/// when no reply is due. A team that never opens again has one closed period (`None` opening).
pub fn after_hours_reply_due(calendar: &BusinessCalendar, now: DateTime<Utc>, last_reply_for: Option<Option<DateTime<Utc>>>) -> Option<Option<DateTime<Utc>>> {
    let status = calendar.status_at(now);
    if status.open {
        return None;
    }
    let period = status.next_change;
    (last_reply_for != Some(period)).then_some(period)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::business_hours::{BusinessHours, OpenWindow, WeeklyHours};
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn nine_to_five() -> BusinessCalendar {
        BusinessHours { time_zone: "UTC".into(), weekly: WeeklyHours::weekdays(&[OpenWindow::new("09:00", "17:00")]), holidays: vec![], exceptions: vec![] }.calendar().unwrap()
    }

    fn policy(id: &str, team: Option<&str>, priority: Option<Priority>) -> SlaPolicy {
        SlaPolicy {
            id: id.into(),
            org_id: "o1".into(),
            name: format!("policy {id}"),
            team_id: team.map(str::to_string),
            priority,
            targets: SlaTargets { first_response_seconds: Some(3600), next_response_seconds: Some(1800), resolution_seconds: None },
            counted_in: CountedIn::BusinessHours,
            warning_percent: 80,
            escalation: Some(Escalation { after_seconds: 600, raise_priority: true, reassign_to_agent: Some("sup".into()), reassign_to_team: None, notify: true }),
            version: 1,
        }
    }

    #[test]
    fn a_first_response_due_friday_afternoon_lands_on_monday() {
        let cal = nine_to_five();
        let clock = start_clock(&policy("p1", None, None), SlaMetric::Frt, utc(2026, 12, 4, 16, 30), Some(&cal)).unwrap();
        assert_eq!(clock.due_at, utc(2026, 12, 7, 9, 30));
        // 80 % of an hour = 48 min: 30 on Friday, 18 on Monday.
        assert_eq!(clock.warn_at, utc(2026, 12, 7, 9, 18));
        assert_eq!(clock.escalate_at, Some(utc(2026, 12, 7, 9, 40)));
        // Calendar time ignores the hours.
        let mut p = policy("p1", None, None);
        p.counted_in = CountedIn::Calendar;
        let clock = start_clock(&p, SlaMetric::Frt, utc(2026, 12, 4, 16, 30), Some(&cal)).unwrap();
        assert_eq!((clock.warn_at, clock.due_at), (utc(2026, 12, 4, 17, 18), utc(2026, 12, 4, 17, 30)));
        // No target, no clock.
        assert_eq!(start_clock(&p, SlaMetric::Resolution, utc(2026, 12, 4, 16, 30), Some(&cal)), None);
    }

    #[test]
    fn an_answer_before_the_deadline_meets_it_and_after_misses_by_the_counted_time() {
        let cal = nine_to_five();
        let clock = start_clock(&policy("p1", None, None), SlaMetric::Frt, utc(2026, 12, 4, 16, 30), Some(&cal)).unwrap();
        assert!(clock.met_by(utc(2026, 12, 7, 9, 29)));
        assert!(!clock.met_by(clock.due_at));
        // Answered Monday 10:00: 30 min Friday + 60 min Monday = 5,400 s of business time.
        let v = clock.violation(utc(2026, 12, 7, 10, 0), Some(&cal));
        assert_eq!((v.target_seconds, v.actual_seconds, v.metric), (3600, 5400, SlaMetric::Frt));
    }

    #[test]
    fn the_most_specific_policy_applies() {
        let policies = vec![policy("a", None, None), policy("b", None, Some(Priority::Urgent)), policy("c", Some("sales"), None), policy("d", Some("sales"), Some(Priority::Urgent))];
        let pick = |team, p| applicable_policy(&policies, team, p).map(|p| p.id.as_str());
        assert_eq!(pick(Some("sales"), Priority::Urgent), Some("d"));
        assert_eq!(pick(Some("sales"), Priority::Low), Some("c"));
        assert_eq!(pick(Some("support"), Priority::Urgent), Some("b"));
        assert_eq!(pick(None, Priority::Normal), Some("a"));
        assert_eq!(applicable_policy(&policies[2..3], Some("support"), Priority::Normal), None);
        // Equally specific: the lower id, whatever the order.
        let twins = vec![policy("z", None, None), policy("m", None, None)];
        assert_eq!(applicable_policy(&twins, None, Priority::Normal).map(|p| p.id.as_str()), Some("m"));
    }

    #[test]
    fn validation_names_the_field() {
        let check = |f: &dyn Fn(&mut SlaPolicy), field: &str| {
            let mut p = policy("p", None, None);
            f(&mut p);
            match p.validate() {
                Err(Error::Invalid { field: got, .. }) => assert_eq!(got, field),
                other => panic!("expected {field}, got {other:?}"),
            }
        };
        assert!(policy("p", None, None).validate().is_ok());
        check(&|p| p.name = " ".into(), "name");
        check(&|p| p.targets = SlaTargets::default(), "targets");
        check(&|p| p.targets.next_response_seconds = Some(0), "targets.next_response_seconds");
        check(&|p| p.targets.resolution_seconds = Some(MAX_TARGET_SECONDS + 1), "targets.resolution_seconds");
        check(&|p| p.warning_percent = 100, "warning_percent");
        check(&|p| p.escalation = Some(Escalation { after_seconds: 0, raise_priority: false, reassign_to_agent: None, reassign_to_team: None, notify: false }), "escalation");
    }

    #[test]
    fn the_after_hours_reply_goes_once_per_closed_period() {
        let cal = nine_to_five();
        let friday_night = utc(2026, 12, 4, 20, 0);
        let monday_opening = Some(utc(2026, 12, 7, 9, 0));
        assert_eq!(after_hours_reply_due(&cal, friday_night, None), Some(monday_opening));
        // Saturday, same closed period: nothing more.
        assert_eq!(after_hours_reply_due(&cal, utc(2026, 12, 5, 11, 0), Some(monday_opening)), None);
        // Open Monday: nothing; Monday night is a new period.
        assert_eq!(after_hours_reply_due(&cal, utc(2026, 12, 7, 10, 0), Some(monday_opening)), None);
        assert_eq!(after_hours_reply_due(&cal, utc(2026, 12, 7, 18, 0), Some(monday_opening)), Some(Some(utc(2026, 12, 8, 9, 0))));
    }

    #[test]
    fn priorities_raise_one_step_and_stop_at_urgent() {
        assert_eq!(Priority::Low.raised(), Priority::Normal);
        assert_eq!(Priority::High.raised(), Priority::Urgent);
        assert_eq!(Priority::Urgent.raised(), Priority::Urgent);
    }

    #[test]
    fn a_clock_owes_warning_then_breach_then_escalation_and_nothing_once_stopped() {
        let mut p = policy("p1", None, None);
        p.counted_in = CountedIn::Calendar;
        let mut sla = ConversationSla::new(p);
        let start = utc(2026, 12, 7, 10, 0);
        sla.start(SlaMetric::Frt, start, None);
        sla.reindex(start);
        assert_eq!(sla.check_at, Some(utc(2026, 12, 7, 10, 48)), "the warning at 80 % of an hour");
        // Nothing is due before; at 11:05 the warning and the breach together, in that order.
        assert!(sla.fire_due(utc(2026, 12, 7, 10, 47), None).is_empty());
        let fired = sla.fire_due(utc(2026, 12, 7, 11, 5), None);
        assert_eq!(fired.iter().map(|f| (f.step, f.elapsed_seconds)).collect::<Vec<_>>(), [(SlaStep::Warning, 3900), (SlaStep::Breach, 3900)]);
        assert_eq!((sla.violations.len(), sla.violations[0].actual_seconds, sla.violations[0].answered_at), (1, 3900, None));
        assert_eq!(sla.check_at, Some(utc(2026, 12, 7, 11, 10)), "the escalation next");
        assert!(sla.fire_due(utc(2026, 12, 7, 11, 5), None).is_empty(), "firing twice changes nothing");
        assert_eq!(sla.fire_due(utc(2026, 12, 7, 11, 10), None).iter().map(|f| f.step).collect::<Vec<_>>(), [SlaStep::Escalation]);
        assert_eq!(sla.check_at, None);
        sla.stop(SlaMetric::Frt, utc(2026, 12, 7, 11, 30));
        assert_eq!(sla.violations[0].answered_at, Some(utc(2026, 12, 7, 11, 30)), "the late answer is on the violation");
        // A stopped clock owes nothing; a late answer is not met.
        sla.start(SlaMetric::Nrt, utc(2026, 12, 7, 12, 0), None);
        sla.stop(SlaMetric::Nrt, utc(2026, 12, 7, 12, 40));
        sla.reindex(utc(2026, 12, 7, 12, 40));
        assert_eq!((sla.nrt.as_ref().and_then(|c| c.met), sla.check_at), (Some(false), None));
    }

    #[test]
    fn an_instant_already_past_is_placed_at_now_never_in_a_minute_behind() {
        let mut p = policy("p1", None, None);
        p.counted_in = CountedIn::Calendar;
        let mut sla = ConversationSla::new(p);
        // A message that reached us an hour late: its warning is already past.
        sla.start(SlaMetric::Frt, utc(2026, 12, 7, 9, 0), None);
        sla.reindex(utc(2026, 12, 7, 10, 0));
        assert_eq!(sla.check_at, Some(utc(2026, 12, 7, 10, 0)));
    }
}
