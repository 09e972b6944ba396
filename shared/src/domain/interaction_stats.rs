//! Interaction statistics (`GET /v1/interactions/stats`): counters per organisation, UTC day and
//! group (the interaction's type, assignee or template) that the writes moving an interaction
//! add to — created, completed, overdue, and the time to complete as a [`Histogram`] — so the
//! report reads counters, never interactions. Which write counts what is decided here
//! ([`Counted`]); the stores ADD the counts in that write's own transaction.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::event::{EventKind, NewEvent};
use crate::domain::histogram::Histogram;
use crate::domain::interaction::{Interaction, InteractionStatus};
use crate::error::{Error, Result};

/// How the report groups interactions; every write counts under all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatsGroupBy {
    #[default]
    Type,
    Assignee,
    Template,
}

impl StatsGroupBy {
    pub const ALL: [StatsGroupBy; 3] = [Self::Type, Self::Assignee, Self::Template];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Type => "type",
            Self::Assignee => "assignee",
            Self::Template => "template",
        }
    }

    /// The interaction's group of this kind at the moment of the write (`None`: unassigned, or
    /// outside any template).
    fn group_of(self, i: &Interaction) -> Option<String> {
        match self {
            Self::Type => Some(i.kind.as_str().to_string()),
            Self::Assignee => i.assignee_id.clone(),
            Self::Template => i.template_id.clone(),
        }
    }
}

/// What one write of an interaction counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Stored for the first time: counted on its `created_at` day.
    Created,
    /// Completed (not skipped, not cancelled): counted on its `completed_at` day with its time to
    /// complete (`completed_at - created_at`).
    Completed,
    /// Its overdue alert was recorded: counted once per `due_at` (a new deadline can be missed
    /// again), on the day of `due_at`.
    Overdue,
}

impl Counted {
    /// What a save (the write of an interaction already stored) counts: the completion only.
    /// After it, an interaction is written again only to link its next step or to end its chain,
    /// and a closed one cannot be edited, so "completed, neither linked nor ended" is the
    /// completing write itself.
    pub fn by_save(i: &Interaction) -> Option<Counted> {
        (i.status == InteractionStatus::Completed && i.next_interaction_id.is_none() && !i.chain_ended).then_some(Counted::Completed)
    }

    /// What recording an interaction's alerts counts: its overdue alert, when among them.
    pub fn by_alerts(events: &[NewEvent]) -> Option<Counted> {
        events.iter().any(|e| e.kind == EventKind::InteractionOverdue).then_some(Counted::Overdue)
    }
}

/// One counter item: an organisation's interactions of one group on one UTC day. A write's
/// counts have the same shape (what it ADDs), so a store adds one to the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsDay {
    pub org_id: String,
    pub group_by: StatsGroupBy,
    /// `None`: no assignee, or no template.
    pub group: Option<String>,
    pub day: NaiveDate,
    pub created: u64,
    pub completed: u64,
    pub overdue: u64,
    /// Seconds from creation to completion, one per completion.
    pub times_to_complete: Histogram,
}

impl StatsDay {
    pub fn new(org_id: &str, group_by: StatsGroupBy, group: Option<String>, day: NaiveDate) -> Self {
        StatsDay { org_id: org_id.to_string(), group_by, group, day, created: 0, completed: 0, overdue: 0, times_to_complete: Histogram::new() }
    }

    /// Adds another count of the same group and day.
    pub fn add(&mut self, other: &StatsDay) {
        self.created += other.created;
        self.completed += other.completed;
        self.overdue += other.overdue;
        self.times_to_complete.merge(&other.times_to_complete);
    }
}

/// The counts a write of `i` adds: one per group kind.
pub fn counts(i: &Interaction, counted: Counted) -> Vec<StatsDay> {
    let (day, seconds) = match counted {
        Counted::Created => (i.created_at.date_naive(), None),
        Counted::Completed => {
            let done = i.completed_at.unwrap_or(i.updated_at);
            (done.date_naive(), Some((done - i.created_at).num_seconds().max(0) as u64))
        }
        Counted::Overdue => (i.due_at.date_naive(), None),
    };
    StatsGroupBy::ALL
        .into_iter()
        .map(|group_by| {
            let mut count = StatsDay::new(&i.org_id, group_by, group_by.group_of(i), day);
            match counted {
                Counted::Created => count.created = 1,
                Counted::Completed => count.completed = 1,
                Counted::Overdue => count.overdue = 1,
            }
            if let Some(seconds) = seconds {
                count.times_to_complete.record(seconds);
            }
            count
        })
        .collect()
}

/// The longest range the report reads, in days (`from` and `to` included).
pub const MAX_STATS_DAYS: i64 = 366;

/// Checks a report's range: `to` not before `from`, at most [`MAX_STATS_DAYS`] days.
pub fn stats_range(from: NaiveDate, to: NaiveDate) -> Result<()> {
    if to < from {
        return Err(Error::invalid("from", "must not be after to"));
    }
    if (to - from).num_days() + 1 > MAX_STATS_DAYS {
        return Err(Error::invalid("from", format!("at most {MAX_STATS_DAYS} days before to")));
    }
    Ok(())
}

/// One group's figures over the range.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupStats {
    /// The type, assignee or template id; `null`: unassigned, or outside any template.
    pub group: Option<String>,
    pub created: u64,
    pub completed: u64,
    pub overdue: u64,
    /// From creation to completion, seconds, within 11.8 % (`domain::histogram`); `null` when
    /// nothing was completed.
    pub median_seconds_to_complete: Option<u64>,
    pub p90_seconds_to_complete: Option<u64>,
}

/// Sums the days per group (groups in order, the `null` group first).
pub fn summarize(days: &[StatsDay]) -> Vec<GroupStats> {
    let mut groups: BTreeMap<Option<&str>, StatsDay> = BTreeMap::new();
    for day in days {
        groups.entry(day.group.as_deref()).or_insert_with(|| StatsDay::new(&day.org_id, day.group_by, day.group.clone(), day.day)).add(day);
    }
    groups
        .into_values()
        .map(|sum| GroupStats {
            median_seconds_to_complete: sum.times_to_complete.median(),
            p90_seconds_to_complete: sum.times_to_complete.p90(),
            group: sum.group,
            created: sum.created,
            completed: sum.completed,
            overdue: sum.overdue,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::interaction::{Completion, InteractionType, NewInteraction, Priority};

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    fn call() -> Interaction {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 23, 0, 0).unwrap();
        let new = NewInteraction {
            customer_id: "c1".into(),
            kind: InteractionType::new("phone_call").unwrap(),
            title: "Call".into(),
            description: None,
            priority: Priority::default(),
            scheduled_at: Some(at),
            due_at: Some(at + chrono::Duration::hours(2)),
            status: None,
            conversation_id: None,
            assignee_id: Some("agent-1".into()),
        };
        new.into_interaction("i1".into(), "org-1", Some("agent-1"), at).unwrap()
    }

    #[test]
    fn a_write_counts_under_each_group_kind_on_the_day_of_what_it_counts() {
        let created = call();
        let counted = counts(&created, Counted::Created);
        let groups: Vec<_> = counted.iter().map(|c| (c.group_by, c.group.as_deref(), c.day, c.created)).collect();
        assert_eq!(
            groups,
            [(StatsGroupBy::Type, Some("phone_call"), day(1), 1), (StatsGroupBy::Assignee, Some("agent-1"), day(1), 1), (StatsGroupBy::Template, None, day(1), 1)]
        );
        // Completed 90 minutes later, past midnight UTC: the next day, with its time to complete.
        let done = created.complete(&Completion { outcome: "reached".into(), outcome_details: None }, created.created_at + chrono::Duration::minutes(90)).unwrap();
        let counted = counts(&done, Counted::Completed);
        assert!(counted.iter().all(|c| c.day == day(2) && c.completed == 1 && c.created == 0));
        assert_eq!(counted[0].times_to_complete.median(), Histogram::from_counts([(crate::domain::histogram::bucket_of(5400), 1)]).median());
        // Overdue on its deadline's day (01:00 on the 2nd), whenever the alert went.
        assert!(counts(&created, Counted::Overdue).iter().all(|c| c.day == day(2) && c.overdue == 1));
    }

    #[test]
    fn only_the_completing_save_counts_a_completion() {
        let open = call();
        assert_eq!(Counted::by_save(&open), None);
        let done = open.complete(&Completion { outcome: "reached".into(), outcome_details: None }, open.created_at).unwrap();
        assert_eq!(Counted::by_save(&done), Some(Counted::Completed));
        let mut linked = done.clone();
        linked.next_interaction_id = Some("i2".into());
        let mut ended = done.clone();
        ended.chain_ended = true;
        assert_eq!((Counted::by_save(&linked), Counted::by_save(&ended)), (None, None));
        assert_eq!(Counted::by_save(&open.skip(open.created_at).unwrap()), None, "a skip is not a completion");
        assert_eq!(Counted::by_save(&open.cancel(open.created_at).unwrap()), None);
    }

    #[test]
    fn the_summary_adds_days_per_group_and_reads_the_median_from_the_histogram() {
        let mut days = Vec::new();
        for (d, group, minutes) in [(1, Some("a"), 10u64), (2, Some("a"), 20), (2, Some("a"), 30), (3, None, 60)] {
            let mut count = StatsDay::new("org-1", StatsGroupBy::Assignee, group.map(str::to_string), day(d));
            count.created = 1;
            count.completed = 1;
            count.times_to_complete.record(minutes * 60);
            days.push(count);
        }
        let summary = summarize(&days);
        assert_eq!(summary.iter().map(|g| (g.group.as_deref(), g.created, g.completed)).collect::<Vec<_>>(), [(None, 1, 1), (Some("a"), 3, 3)]);
        let median = summary[1].median_seconds_to_complete.unwrap() as f64;
        assert!((median - 1200.0).abs() <= 1200.0 * crate::domain::histogram::RELATIVE_ERROR, "{median}");
        let p90 = summary[1].p90_seconds_to_complete.unwrap() as f64;
        assert!((p90 - 1800.0).abs() <= 1800.0 * crate::domain::histogram::RELATIVE_ERROR, "{p90}");
        assert!(summarize(&[]).is_empty());
    }

    #[test]
    fn a_range_is_at_most_366_days_and_not_backwards() {
        assert!(stats_range(day(1), day(1)).is_ok());
        let year = NaiveDate::from_ymd_opt(2025, 12, 2).unwrap();
        assert!(stats_range(year, day(2)).is_ok(), "366 days");
        for (from, to) in [(day(2), day(1)), (year - chrono::Duration::days(1), day(2))] {
            assert!(matches!(stats_range(from, to), Err(Error::Invalid { field, .. }) if field == "from"), "{from}..{to}");
        }
    }
}
