//! Campaigns (issue 16): a workflow started for many customers at once, with its progress and the
//! metrics of the interactions it created (`docs/interactions.md`, "Campaigns").
//!
//! The start is queued in pages; each customer is started at most once per campaign (a marker
//! written with the interaction), and every counter is an `ADD` in the write that moves it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::customer::CustomerSearch;
use crate::domain::ids::{check_id, stable_id};
use crate::domain::interaction::{Interaction, InteractionStatus};
use crate::error::{Error, Result};

/// The most customers one campaign names.
pub const MAX_CUSTOMERS: usize = 10_000;
/// Customers per page job: 10,000 customers are 100 jobs, each well inside a Lambda's time.
pub const PAGE_SIZE: usize = 100;
/// Customers started in one transaction: a marker and an interaction each, plus the campaign's
/// counters (61 of DynamoDB's 100 items).
pub const STARTS_PER_WRITE: usize = 30;

/// The customers a campaign is for: the customer search's query (`GET /v1/customers?q=`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignFilter {
    /// Words (or a phone number) the customers' names, phone, email or external id start with.
    #[schema(min_length = 1, max_length = 100, pattern = "[\\p{L}\\p{N}]")]
    pub q: String,
}

/// The body of `POST /v1/campaigns`: exactly one of `customer_ids` and `filter`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    #[serde(deserialize_with = "crate::domain::ids::id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub workflow_template_id: String,
    /// The organisation's customers to start (1–10,000, no repeats). Ids that are not the
    /// organisation's customers are counted as `skipped`.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 10000)]
    pub customer_ids: Option<Vec<String>>,
    #[serde(default)]
    pub filter: Option<CampaignFilter>,
}

/// Who a campaign targets.
#[derive(Debug, Clone, PartialEq)]
pub enum Audience {
    Customers(Vec<String>),
    Search(CustomerSearch),
}

impl NewCampaign {
    /// The request's audience, or the first field that is wrong.
    pub fn validate(&self) -> Result<Audience> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::invalid("name", "must be 1 to 200 characters, not blank"));
        }
        match (&self.customer_ids, &self.filter) {
            (Some(_), Some(_)) | (None, None) => Err(Error::invalid("customer_ids", "give exactly one of customer_ids and filter")),
            (None, Some(filter)) => {
                let search = CustomerSearch::parse(&filter.q).map_err(|e| match e {
                    Error::Invalid { reason, .. } => Error::invalid("filter.q", reason),
                    other => other,
                })?;
                Ok(Audience::Search(search))
            }
            (Some(ids), None) => {
                if ids.is_empty() || ids.len() > MAX_CUSTOMERS {
                    return Err(Error::invalid("customer_ids", format!("must name 1 to {MAX_CUSTOMERS} customers")));
                }
                let mut seen = std::collections::HashSet::with_capacity(ids.len());
                for (i, id) in ids.iter().enumerate() {
                    let field = format!("customer_ids[{i}]");
                    check_id(&field, id)?;
                    if !seen.insert(id.as_str()) {
                        return Err(Error::invalid(field, "names a customer already in the list"));
                    }
                }
                Ok(Audience::Customers(ids.clone()))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Page jobs are still starting customers.
    Starting,
    /// Every targeted customer was started or skipped.
    Started,
}

/// A campaign and its counters. The counters move only by `ADD`s in the writes that start a
/// customer or move one of the campaign's interactions; `status`, `queued` and
/// `completion_rate` are derived from them on every read ([`Campaign::with_progress`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Campaign {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub workflow_template_id: String,
    /// The search the customers were found by (absent when the campaign named them).
    #[serde(default)]
    pub filter: Option<CampaignFilter>,
    /// The customers the campaign is for: the ids named, or those found by the filter so far.
    #[serde(default)]
    pub targeted: i64,
    /// Whether `targeted` is final (a filter's last page was read).
    #[serde(default)]
    pub all_targeted: bool,
    /// Customers whose first interaction the campaign created.
    #[serde(default)]
    pub started: i64,
    /// Customers not started: the id is not one of the organisation's customers.
    #[serde(default)]
    pub skipped: i64,
    /// Of the interactions the campaign created: completed, cancelled, and overdue alerts sent.
    #[serde(default)]
    pub completed: i64,
    #[serde(default)]
    pub cancelled: i64,
    #[serde(default)]
    pub overdue: i64,
    #[serde(default, skip_deserializing)]
    pub status: Option<CampaignStatus>,
    /// Targeted customers still waiting for their page job.
    #[serde(default, skip_deserializing)]
    pub queued: i64,
    /// `completed / started` (0 before anyone is started).
    #[serde(default, skip_deserializing)]
    pub completion_rate: f64,
    #[serde(default)]
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Campaign {
    pub fn new(id: String, org_id: &str, request: &NewCampaign, audience: &Audience, created_by: &str, now: DateTime<Utc>) -> Campaign {
        let named = match audience {
            Audience::Customers(ids) => Some(ids.len() as i64),
            Audience::Search(_) => None,
        };
        Campaign {
            id,
            org_id: org_id.to_string(),
            name: request.name.trim().to_string(),
            workflow_template_id: request.workflow_template_id.clone(),
            filter: request.filter.clone(),
            targeted: named.unwrap_or(0),
            all_targeted: named.is_some(),
            started: 0,
            skipped: 0,
            completed: 0,
            cancelled: 0,
            overdue: 0,
            status: None,
            queued: 0,
            completion_rate: 0.0,
            created_by: Some(created_by.to_string()),
            created_at: now,
        }
        .with_progress()
    }

    /// The campaign with its derived fields computed from the counters.
    pub fn with_progress(mut self) -> Campaign {
        let done = self.started + self.skipped;
        self.queued = (self.targeted - done).max(0);
        self.status = Some(if self.all_targeted && done >= self.targeted { CampaignStatus::Started } else { CampaignStatus::Starting });
        self.completion_rate = if self.started > 0 { self.completed as f64 / self.started as f64 } else { 0.0 };
        self
    }

    /// The id of the interaction the campaign creates for `customer_id`: the same on every run
    /// of a page, so a redelivered job writes the same key.
    pub fn interaction_id(&self, customer_id: &str) -> String {
        stable_id(self.created_at, &format!("campaign#{}#{customer_id}", self.id))
    }
}

/// One customer of a page: started with `interaction`, or skipped (not the organisation's).
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignStart {
    pub customer_id: String,
    pub interaction: Option<Interaction>,
}

/// What a write of one of a campaign's interactions adds to the campaign's metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignTally {
    pub org_id: String,
    pub campaign_id: String,
    pub completed: i64,
    pub cancelled: i64,
    pub overdue: i64,
}

/// What moving a campaign's interaction from `before` to `after` adds to the campaign: a
/// completion, a cancel, an overdue alert. Only the interactions the campaign created count (the
/// first step: `campaign_id` set, no previous one); next steps keep the campaign id but are
/// not the campaign's doing.
pub fn tally(before: &Interaction, after: &Interaction) -> Option<CampaignTally> {
    let campaign_id = after.campaign_id.as_ref().filter(|_| after.previous_interaction_id.is_none())?;
    let moved_to = |s: InteractionStatus| i64::from(after.status == s && before.status != s);
    let t = CampaignTally {
        org_id: after.org_id.clone(),
        campaign_id: campaign_id.clone(),
        completed: moved_to(InteractionStatus::Completed),
        cancelled: moved_to(InteractionStatus::Cancelled),
        overdue: i64::from(after.overdue_alerted_at.is_some() && before.overdue_alerted_at.is_none()),
    };
    (t.completed + t.cancelled + t.overdue > 0).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::interaction::{Completion, NewInteraction};
    use chrono::TimeZone;

    fn request(body: serde_json::Value) -> NewCampaign {
        serde_json::from_value(body).unwrap()
    }

    fn field(e: Error) -> String {
        match e {
            Error::Invalid { field, .. } => field,
            other => panic!("not a 422: {other:?}"),
        }
    }

    #[test]
    fn a_campaign_names_customers_or_a_filter_never_both_nor_neither() {
        let ids = request(serde_json::json!({ "name": "Spring", "workflow_template_id": "T1", "customer_ids": ["c1", "c2"] }));
        assert_eq!(ids.validate().unwrap(), Audience::Customers(vec!["c1".into(), "c2".into()]));
        let q = request(serde_json::json!({ "name": "Spring", "workflow_template_id": "T1", "filter": { "q": "anna" } }));
        assert!(matches!(q.validate().unwrap(), Audience::Search(_)));
        let both = request(serde_json::json!({ "name": "S", "workflow_template_id": "T1", "customer_ids": ["c1"], "filter": { "q": "a" } }));
        assert_eq!(field(both.validate().unwrap_err()), "customer_ids");
        let neither = request(serde_json::json!({ "name": "S", "workflow_template_id": "T1" }));
        assert_eq!(field(neither.validate().unwrap_err()), "customer_ids");
    }

    #[test]
    fn a_bad_or_repeated_customer_id_is_named_by_its_place() {
        let bad = request(serde_json::json!({ "name": "S", "workflow_template_id": "T1", "customer_ids": ["c1", "a#b"] }));
        assert_eq!(field(bad.validate().unwrap_err()), "customer_ids[1]");
        let twice = request(serde_json::json!({ "name": "S", "workflow_template_id": "T1", "customer_ids": ["c1", "c2", "c1"] }));
        assert_eq!(field(twice.validate().unwrap_err()), "customer_ids[2]");
        let many: Vec<String> = (0..=MAX_CUSTOMERS).map(|n| format!("c{n}")).collect();
        let too_many = request(serde_json::json!({ "name": "S", "workflow_template_id": "T1", "customer_ids": many }));
        assert_eq!(field(too_many.validate().unwrap_err()), "customer_ids");
        let blank = request(serde_json::json!({ "name": " ", "workflow_template_id": "T1", "customer_ids": ["c1"] }));
        assert_eq!(field(blank.validate().unwrap_err()), "name");
        let no_words = request(serde_json::json!({ "name": "S", "workflow_template_id": "T1", "filter": { "q": "  " } }));
        assert_eq!(field(no_words.validate().unwrap_err()), "filter.q");
    }

    #[test]
    fn progress_and_completion_rate_come_from_the_counters() {
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        let body = request(serde_json::json!({ "name": "S", "workflow_template_id": "T1", "customer_ids": ["c1", "c2", "c3", "c4"] }));
        let audience = body.validate().unwrap();
        let mut c = Campaign::new("K1".into(), "o1", &body, &audience, "admin", at);
        assert_eq!((c.status, c.queued, c.targeted), (Some(CampaignStatus::Starting), 4, 4));
        c.started = 3;
        c.skipped = 1;
        c.completed = 1;
        let c = c.with_progress();
        assert_eq!((c.status, c.queued), (Some(CampaignStatus::Started), 0));
        assert!((c.completion_rate - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(c.interaction_id("c1"), c.interaction_id("c1"));
        assert_ne!(c.interaction_id("c1"), c.interaction_id("c2"));
    }

    #[test]
    fn only_the_campaigns_own_interactions_move_its_metrics_once_per_change() {
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        let new: NewInteraction = serde_json::from_value(serde_json::json!({ "customer_id": "c1", "type": "phone_call", "title": "Call" })).unwrap();
        let mut open = new.into_interaction("I1".into(), "o1", None, at).unwrap();
        assert_eq!(tally(&open, &open.complete(&Completion { outcome: "ok".into(), outcome_details: None }, at).unwrap()), None);
        open.campaign_id = Some("K1".into());
        let done = open.complete(&Completion { outcome: "ok".into(), outcome_details: None }, at).unwrap();
        assert_eq!(tally(&open, &done).map(|t| (t.completed, t.cancelled, t.overdue)), Some((1, 0, 0)));
        assert_eq!(tally(&done, &done), None, "a later write of a completed one adds nothing");
        let cancelled = open.cancel(at).unwrap();
        assert_eq!(tally(&open, &cancelled).map(|t| (t.completed, t.cancelled)), Some((0, 1)));
        let mut alerted = open.clone();
        alerted.overdue_alerted_at = Some(at);
        assert_eq!(tally(&open, &alerted).map(|t| t.overdue), Some(1));
        let mut next_step = done.clone();
        next_step.previous_interaction_id = Some("I0".into());
        assert_eq!(tally(&open, &next_step), None, "a next step is not the campaign's doing");
    }
}
