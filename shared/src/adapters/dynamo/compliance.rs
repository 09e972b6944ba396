//! DynamoDB for the SLA compliance report (`docs/sla.md`):
//!
//! - `ORG#o#SLASTATS#{team|-}` / `{day}#{metric}`: `met`, `missed`, and the response times'
//!   histogram as one counter per bucket `h{bucket}` (`domain::histogram`'s fixed bounds), all
//!   moved by `ADD` in the transaction of the write that ended the clock — a reply, a close, the
//!   scheduler's step — so concurrent writes never lose a count and no read comes first.
//! - `ORG#o#SLAVIOLATIONS#{team|-}` / `{day}#{due_at}#{conversation}#{metric}`: a violation as the
//!   report lists it, put in the same transaction as the miss it counts (kept 400 days).
//!
//! The report reads one Query of each per team and range.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{Duration, NaiveDate};

use super::{DynamoStore, Item, from_item, keyed, n, s};
use crate::domain::conversation::Conversation;
use crate::domain::histogram::Histogram;
use crate::domain::sla::{ComplianceDay, ReportedViolation, SlaMetric};
use crate::error::{Error, Result};
use crate::ports::ComplianceStore;

/// How long a listed violation is kept.
const VIOLATION_TTL_DAYS: i64 = 400;

pub mod keys {
    use chrono::NaiveDate;

    fn team(team_id: Option<&str>) -> &str {
        team_id.unwrap_or("-")
    }
    pub fn stats(org: &str, team_id: Option<&str>) -> String {
        format!("ORG#{org}#SLASTATS#{}", team(team_id))
    }
    pub fn violations(org: &str, team_id: Option<&str>) -> String {
        format!("ORG#{org}#SLAVIOLATIONS#{}", team(team_id))
    }
    pub fn day(day: NaiveDate) -> String {
        day.format("%Y-%m-%d").to_string()
    }
}

fn metric_of(name: &str) -> Option<SlaMetric> {
    [SlaMetric::Frt, SlaMetric::Nrt, SlaMetric::Resolution].into_iter().find(|m| m.as_str() == name)
}

impl DynamoStore {
    /// The counters' updates and the violations' puts for the clocks `c`'s change ended: one
    /// update per team, day and metric (a transaction names an item once).
    pub(super) fn compliance_ops(&self, c: &Conversation) -> Result<Vec<TransactWriteItem>> {
        let mut grouped: BTreeMap<(Option<&str>, NaiveDate, SlaMetric), ComplianceDay> = BTreeMap::new();
        let mut ops = Vec::new();
        for count in &c.sla_counts {
            grouped
                .entry((count.team_id.as_deref(), count.day, count.ended.metric))
                .or_insert_with(|| ComplianceDay::new(count.team_id.clone(), count.day, count.ended.metric))
                .count(count);
            if let Some(v) = count.reported_violation() {
                let sk = format!("{}#{}#{}#{}", keys::day(count.day), super::sort_time(v.violation.due_at), v.conversation_id, v.violation.metric.as_str());
                let mut item = keyed(&v, (keys::violations(&count.org_id, count.team_id.as_deref()), sk), &[])?;
                let expires = count.day.and_hms_opt(0, 0, 0).map_or(0, |d| (d.and_utc() + Duration::days(VIOLATION_TTL_DAYS)).timestamp());
                item.insert("expires_at".into(), n(expires));
                ops.push(self.put_op(item, None, None)?);
            }
        }
        for ((team, day, metric), counted) in grouped {
            let mut names = HashMap::from([("#day".to_string(), "day".to_string()), ("#metric".to_string(), "metric".to_string())]);
            let mut values: Item = HashMap::from([
                (":day".to_string(), s(keys::day(day))),
                (":metric".to_string(), s(metric.as_str())),
                (":met".to_string(), n(counted.met)),
                (":missed".to_string(), n(counted.missed)),
            ]);
            let mut set = "SET #day = :day, #metric = :metric".to_string();
            if let Some(team) = team {
                names.insert("#team".into(), "team_id".into());
                values.insert(":team".into(), s(team));
                set.push_str(", #team = :team");
            }
            let mut add = vec!["met :met".to_string(), "missed :missed".to_string()];
            histogram_adds(&counted.response_times, &mut add, &mut values);
            let key = (keys::stats(&c.org_id, team), format!("{}#{}", keys::day(day), metric.as_str()));
            ops.push(self.update_op(key, &format!("{set} ADD {}", add.join(", ")), None, values, Some(names))?);
        }
        Ok(ops)
    }

    /// Every item of one partition whose sort key lies in `from..=to`'s days (`{day}#…` keys).
    pub(super) async fn query_days(&self, pk: String, from: NaiveDate, to: NaiveDate, forward: bool, limit: Option<i32>) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":from", s(keys::day(from)))
                .expression_attribute_values(":to", s(format!("{}#{}", keys::day(to), char::MAX)))
                .scan_index_forward(forward)
                .set_limit(limit.map(|l| l - items.len() as i32))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| crate::adapters::sdk_error("dynamodb", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() && limit.is_none_or(|l| (items.len() as i32) < l) => start = Some(k),
                _ => return Ok(items),
            }
        }
    }
}

/// The histogram a counters item keeps as one counter per bucket, `h{bucket}` (`ADD`ed).
pub(super) fn histogram_of(item: &Item) -> Histogram {
    let number = |v: &aws_sdk_dynamodb::types::AttributeValue| v.as_n().ok().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    Histogram::from_counts(item.iter().filter_map(|(name, v)| name.strip_prefix('h').and_then(|b| b.parse::<u16>().ok()).map(|b| (b, number(v)))))
}

/// The `ADD` clauses (`h{bucket} :h{bucket}`) and values of a histogram's counts.
pub(super) fn histogram_adds(histogram: &Histogram, add: &mut Vec<String>, values: &mut Item) {
    for (bucket, count) in histogram.counts() {
        add.push(format!("h{bucket} :h{bucket}"));
        values.insert(format!(":h{bucket}"), n(count));
    }
}

/// A counters item read back.
fn compliance_day(item: &Item) -> Result<ComplianceDay> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let number = |v: &aws_sdk_dynamodb::types::AttributeValue| v.as_n().ok().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    let day = text("day").and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()).ok_or_else(|| Error::backend("dynamodb", "a compliance counter without its day"))?;
    let metric = text("metric").as_deref().and_then(metric_of).ok_or_else(|| Error::backend("dynamodb", "a compliance counter without its metric"))?;
    Ok(ComplianceDay {
        team_id: text("team_id"),
        day,
        metric,
        met: item.get("met").map_or(0, number),
        missed: item.get("missed").map_or(0, number),
        response_times: histogram_of(item),
    })
}

#[async_trait]
impl ComplianceStore for DynamoStore {
    async fn compliance_days(&self, org_id: &str, team_id: Option<&str>, from: NaiveDate, to: NaiveDate) -> Result<Vec<ComplianceDay>> {
        self.query_days(keys::stats(org_id, team_id), from, to, true, None).await?.iter().map(compliance_day).collect()
    }

    async fn compliance_violations(&self, org_id: &str, team_id: Option<&str>, from: NaiveDate, to: NaiveDate, limit: usize) -> Result<Vec<ReportedViolation>> {
        let limit = limit.clamp(1, 1000) as i32;
        self.query_days(keys::violations(org_id, team_id), from, to, false, Some(limit)).await?.into_iter().map(from_item).collect()
    }
}
