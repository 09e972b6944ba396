//! SLA compliance counters in memory (`ports::ComplianceStore`), kept as the DynamoDB adapter
//! keeps them: counted by the writes that end clocks (a reply, a close, the scheduler's steps)
//! from the conversation's `sla_counts`, in the same write.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{MemoryStore, State};
use crate::domain::conversation::Conversation;
use crate::domain::sla::{ComplianceDay, ReportedViolation, SlaMetric};
use crate::error::Result;
use crate::ports::ComplianceStore;

/// `(org, team or "", day, metric)`.
pub(super) type StatsKey = (String, String, NaiveDate, SlaMetric);
/// `(org, team or "", day, due, conversation, metric)`.
pub(super) type ViolationKey = (String, String, NaiveDate, DateTime<Utc>, String, SlaMetric);

fn team_key(team_id: Option<&str>) -> String {
    team_id.unwrap_or_default().to_string()
}

impl State {
    /// Adds the clocks `c`'s change ended to the counters, and lists its violations.
    pub(super) fn count_compliance(&mut self, c: &Conversation) {
        for count in &c.sla_counts {
            let team = team_key(count.team_id.as_deref());
            let k = (count.org_id.clone(), team.clone(), count.day, count.ended.metric);
            self.sla_stats.entry(k).or_insert_with(|| ComplianceDay::new(count.team_id.clone(), count.day, count.ended.metric)).count(count);
            if let Some(v) = count.reported_violation() {
                let k = (count.org_id.clone(), team, count.day, v.violation.due_at, v.conversation_id.clone(), v.violation.metric);
                self.sla_violations.insert(k, v);
            }
        }
    }
}

#[async_trait]
impl ComplianceStore for MemoryStore {
    async fn compliance_days(&self, org_id: &str, team_id: Option<&str>, from: NaiveDate, to: NaiveDate) -> Result<Vec<ComplianceDay>> {
        let st = self.read("compliance_days")?;
        let team = team_key(team_id);
        Ok(st.sla_stats.iter().filter(|((o, t, day, _), _)| o == org_id && *t == team && (from..=to).contains(day)).map(|(_, d)| d.clone()).collect())
    }

    async fn compliance_violations(&self, org_id: &str, team_id: Option<&str>, from: NaiveDate, to: NaiveDate, limit: usize) -> Result<Vec<ReportedViolation>> {
        let st = self.read("compliance_violations")?;
        let team = team_key(team_id);
        Ok(st
            .sla_violations
            .iter()
            .rev()
            .filter(|((o, t, day, ..), _)| o == org_id && *t == team && (from..=to).contains(day))
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect())
    }
}
