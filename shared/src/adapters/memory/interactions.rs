//! Interactions and workflow templates, in memory (`adapters::dynamo_interactions`): the same
//! index keys, ranges and filters, so lists come back in the same order and pages.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, State, fill_page, key, sort_time, written};
use crate::domain::campaign::CampaignTally;
use crate::domain::interaction::Interaction;
use crate::domain::interaction_stats::{Counted, StatsDay, StatsGroupBy};
use crate::domain::workflow::{InteractionSettings, MAX_TEMPLATES, WorkflowCatalog, WorkflowTemplate};
use crate::error::{Error, Result};
use crate::domain::deadline_index;
use crate::domain::event::NewEvent;
use crate::ports::{InteractionDue, InteractionFilter, InteractionStore, Page, PageRequest, WorkflowStore, Written};

/// `(org, group kind, day, group)`: one statistics counter (`domain::interaction_stats`).
pub(super) type StatsKey = (String, StatsGroupBy, chrono::NaiveDate, Option<String>);

impl State {
    /// Adds what a write of `i` counts to the statistics counters, as the DynamoDB adapter does
    /// in that write's transaction.
    pub(super) fn count_interaction(&mut self, i: &Interaction, counted: Option<Counted>) {
        for count in counted.map(|c| crate::domain::interaction_stats::counts(i, c)).unwrap_or_default() {
            let k = (count.org_id.clone(), count.group_by, count.day, count.group.clone());
            self.interaction_stats.entry(k).or_insert_with(|| StatsDay::new(&count.org_id, count.group_by, count.group.clone(), count.day)).add(&count);
        }
    }
}

/// Open interactions sort before closed ones in a customer's partition.
const OPEN: &str = "O#";
const CLOSED: &str = "C#";
/// Sorts after every timestamp: the open end of a range.
const END: &str = "~";

/// The index an interaction list reads, with the partition and sort key it gives an interaction.
#[derive(Clone, Copy)]
enum Index {
    /// A customer's interactions: `{O|C}#due#id`.
    Customer,
    /// The organisation's open interactions: `due#id`.
    Open,
    /// Completions whose next step is owed, across organisations: `completed#org#id`.
    Owed,
    /// Every interaction of the organisation: `due#id`.
    All,
}

fn index_key(index: Index, i: &Interaction) -> Option<(String, String)> {
    let due = sort_time(i.due_at);
    match index {
        Index::Customer => Some((
            format!("ORG#{}#CUSTOMER#{}#INTERACTIONS", i.org_id, i.customer_id),
            format!("{}{due}#{}", if i.status.is_open() { OPEN } else { CLOSED }, i.id),
        )),
        Index::Open => i.status.is_open().then(|| (format!("ORG#{}#OPEN_INTERACTIONS", i.org_id), format!("{due}#{}", i.id))),
        Index::Owed => (!i.status.is_open() && i.awaits_next_step()).then(|| {
            let completed = sort_time(i.completed_at.unwrap_or(i.updated_at));
            ("NEXT_STEP_OWED".to_string(), format!("{completed}#{}#{}", i.org_id, i.id))
        }),
        Index::All => Some((format!("ORG#{}#INTERACTIONS", i.org_id), format!("{due}#{}", i.id))),
    }
}

/// A sort-key condition, as the DynamoDB adapter builds it.
enum Range {
    Any,
    Between(String, String),
    AtLeast(String),
    Below(String),
}

impl Range {
    /// Bounds after `prefix`: `from` inclusive, `to` exclusive (keys are `time#id`, so a bound
    /// equal to a key's time sorts before it).
    fn new(prefix: &str, from: Option<String>, to: Option<String>) -> Range {
        let (from, to) = (from.map(|f| format!("{prefix}{f}")), to.map(|t| format!("{prefix}{t}")));
        match (from, to) {
            (Some(lo), Some(hi)) => Range::Between(lo, hi),
            (Some(lo), None) if prefix.is_empty() => Range::AtLeast(lo),
            (Some(lo), None) => Range::Between(lo, format!("{prefix}{END}")),
            (None, Some(hi)) if prefix.is_empty() => Range::Below(hi),
            (None, Some(hi)) => Range::Between(prefix.to_string(), hi),
            (None, None) if prefix.is_empty() => Range::Any,
            (None, None) => Range::Between(prefix.to_string(), format!("{prefix}{END}")),
        }
    }

    fn holds(&self, sort: &str) -> bool {
        match self {
            Range::Any => true,
            Range::Between(lo, hi) => lo.as_str() <= sort && sort <= hi.as_str(),
            Range::AtLeast(lo) => lo.as_str() <= sort,
            Range::Below(hi) => sort < hi.as_str(),
        }
    }
}

impl State {
    fn query_interactions(
        &self,
        index: Index,
        partition: &str,
        range: Range,
        forward: bool,
        pass: impl Fn(&Interaction) -> bool,
        page: &PageRequest,
    ) -> Result<Page<Interaction>> {
        let mut entries: Vec<(String, Interaction)> = self
            .interactions
            .values()
            .filter_map(|i| index_key(index, i).filter(|(pk, sk)| pk == partition && range.holds(sk)).map(|(_, sk)| (sk, i.clone())))
            .collect();
        entries.sort_by(|a, b| if forward { a.0.cmp(&b.0) } else { b.0.cmp(&a.0) });
        fill_page(partition, entries, forward, pass, page)
    }

    fn interaction_fits(&self, i: &Interaction) -> bool {
        let stored = self.interactions.get(&key(&i.org_id, &i.id));
        if i.version <= 1 { stored.is_none() } else { stored.is_some_and(|s| s.version == i.version - 1) }
    }

    fn template_fits(&self, t: &WorkflowTemplate) -> bool {
        let stored = self.workflow_templates.get(&key(&t.org_id, &t.id));
        if t.version <= 1 { stored.is_none() } else { stored.is_some_and(|s| s.version == t.version - 1) }
    }

    fn workflow_catalog(&self, org_id: &str) -> WorkflowCatalog {
        let default_template_id = self.default_workflows.get(org_id).cloned();
        let mut templates: Vec<WorkflowTemplate> =
            self.workflow_templates.range(key(org_id, "")..).take_while(|((o, _), _)| o == org_id).map(|(_, t)| t.clone()).collect();
        // The pointer is the truth about the default; the flag on the templates follows it.
        for t in &mut templates {
            t.is_default = default_template_id.as_deref() == Some(t.id.as_str());
        }
        templates.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.name.cmp(&b.name)));
        WorkflowCatalog {
            templates,
            default_template_id,
            settings: self.interaction_settings.get(org_id).cloned().unwrap_or_default(),
            seeded: self.workflows_seeded.contains(org_id),
        }
    }
}

#[async_trait]
impl InteractionStore for MemoryStore {
    async fn interaction(&self, org_id: &str, id: &str) -> Result<Option<Interaction>> {
        Ok(self.read("interaction")?.interactions.get(&key(org_id, id)).cloned())
    }

    async fn create_interaction(&self, interaction: &Interaction, idempotency_key: Option<&str>) -> Result<Interaction> {
        let mut st = self.write("create_interaction")?;
        let id = key(&interaction.org_id, &interaction.id);
        let Some(k) = idempotency_key else {
            if st.interactions.contains_key(&id) {
                return Err(Error::conflict("an interaction with this id exists already", "exists"));
            }
            st.interactions.insert(id, interaction.clone());
            st.count_interaction(interaction, Some(Counted::Created));
            return Ok(interaction.clone());
        };
        let marker = key(&interaction.org_id, k);
        if !st.interaction_keys.contains_key(&marker) && st.interaction_fits(interaction) {
            st.interaction_keys.insert(marker, interaction.id.clone());
            st.interactions.insert(id, interaction.clone());
            st.count_interaction(interaction, Some(Counted::Created));
            return Ok(interaction.clone());
        }
        // The key was used: the interaction the first request stored.
        let first = st.interaction_keys.get(&marker).ok_or(Error::NotFound("interaction"))?;
        st.interactions.get(&key(&interaction.org_id, first)).cloned().ok_or(Error::NotFound("interaction"))
    }

    async fn save_interaction(&self, interaction: &Interaction) -> Result<()> {
        let mut st = self.write("save_interaction")?;
        let id = key(&interaction.org_id, &interaction.id);
        if st.interactions.get(&id).is_none_or(|s| s.version != interaction.version.saturating_sub(1)) {
            return Err(Error::LostUpdate("interaction"));
        }
        st.interactions.insert(id, interaction.clone());
        st.count_interaction(interaction, Counted::by_save(interaction));
        Ok(())
    }

    async fn store_if_absent(&self, interaction: &Interaction) -> Result<Written> {
        let mut st = self.write("store_if_absent")?;
        let id = key(&interaction.org_id, &interaction.id);
        let absent = !st.interactions.contains_key(&id);
        if absent {
            st.interactions.insert(id, interaction.clone());
            st.count_interaction(interaction, Some(Counted::Created));
        }
        Ok(written(absent))
    }

    async fn interactions(&self, org_id: &str, filter: &InteractionFilter, page: &PageRequest) -> Result<Page<Interaction>> {
        let st = self.read("interactions")?;
        let (after, before) = (filter.due_after.map(sort_time), filter.due_before.map(sort_time));
        let forward = !filter.newest_first;
        let status_open = filter.status.map(|s| s.is_open());
        // Due bounds are a key range where the index sorts by due date, a filter otherwise.
        let mut due_filtered = (None, None);
        let (index, partition, range) = if let Some(customer) = &filter.customer_id {
            let prefix = match (filter.open_only, status_open) {
                (true, _) | (false, Some(true)) => OPEN,
                (false, Some(false)) => CLOSED,
                (false, None) => "",
            };
            let partition = format!("ORG#{org_id}#CUSTOMER#{customer}#INTERACTIONS");
            if prefix.is_empty() {
                due_filtered = (after, before);
                (Index::Customer, partition, Range::Any)
            } else {
                (Index::Customer, partition, Range::new(prefix, after, before))
            }
        } else if filter.open_only || status_open == Some(true) {
            (Index::Open, format!("ORG#{org_id}#OPEN_INTERACTIONS"), Range::new("", after, before))
        } else {
            (Index::All, format!("ORG#{org_id}#INTERACTIONS"), Range::new("", after, before))
        };
        let pass = |i: &Interaction| {
            let due = sort_time(i.due_at);
            filter.kind.as_ref().is_none_or(|k| i.kind == *k)
                && filter.priority.is_none_or(|p| i.priority == p)
                && due_filtered.0.as_ref().is_none_or(|a| due >= *a)
                && due_filtered.1.as_ref().is_none_or(|b| due < *b)
                && filter.status.is_none_or(|s| i.status == s)
        };
        st.query_interactions(index, &partition, range, forward, pass, page)
    }

    async fn open_interactions(&self, org_id: &str, customer_id: &str, due_before: Option<DateTime<Utc>>, page: &PageRequest) -> Result<Page<Interaction>> {
        let st = self.read("open_interactions")?;
        let partition = format!("ORG#{org_id}#CUSTOMER#{customer_id}#INTERACTIONS");
        st.query_interactions(Index::Customer, &partition, Range::new(OPEN, None, due_before.map(sort_time)), true, |_| true, page)
    }

    async fn owed_next_steps(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit: i32) -> Result<Vec<Interaction>> {
        let st = self.read("owed_next_steps")?;
        let range = Range::new("", Some(sort_time(from)), Some(sort_time(to)));
        let page = PageRequest { limit, cursor: None };
        Ok(st.query_interactions(Index::Owed, "NEXT_STEP_OWED", range, true, |_| true, &page)?.items)
    }

    async fn interactions_due(&self, minute: DateTime<Utc>, up_to: DateTime<Utc>) -> Result<Vec<InteractionDue>> {
        let st = self.read("interactions_due")?;
        let bucket = deadline_index::bucket(minute);
        let mut due: Vec<InteractionDue> = st
            .interactions
            .values()
            .filter_map(|i| i.alert_check_at().map(|at| (i, at)))
            .filter(|(_, at)| deadline_index::bucket(*at) == bucket && *at <= up_to)
            .map(|(i, at)| InteractionDue { org_id: i.org_id.clone(), interaction_id: i.id.clone(), check_at: at })
            .collect();
        due.sort_by(|a, b| (a.check_at, &a.org_id, &a.interaction_id).cmp(&(b.check_at, &b.org_id, &b.interaction_id)));
        Ok(due)
    }

    async fn interaction_alert_cursor(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.read("interaction_alert_cursor")?.interaction_alert_cursor)
    }

    async fn save_interaction_alert_cursor(&self, minute: DateTime<Utc>) -> Result<()> {
        self.write("save_interaction_alert_cursor")?.interaction_alert_cursor = Some(minute);
        Ok(())
    }

    async fn record_interaction_alerts(&self, interaction: &Interaction, events: &[NewEvent], tally: Option<&CampaignTally>) -> Result<()> {
        let mut st = self.write("record_interaction_alerts")?;
        let recorded_before = events.iter().any(|e| e.dedupe_key.as_ref().is_some_and(|k| st.event_keys.contains_key(&key(&e.org_id, k))));
        if !st.interaction_fits(interaction) || recorded_before {
            return Err(Error::LostUpdate("interaction"));
        }
        st.interactions.insert(key(&interaction.org_id, &interaction.id), interaction.clone());
        st.count_interaction(interaction, Counted::by_alerts(events));
        for event in events {
            st.record_event_with(event);
        }
        if let Some(t) = tally {
            st.add_campaign_tally(t);
        }
        Ok(())
    }

    async fn save_interaction_tallied(&self, interaction: &Interaction, tally: &CampaignTally) -> Result<()> {
        let mut st = self.write("save_interaction_tallied")?;
        if !st.interaction_fits(interaction) {
            return Err(Error::LostUpdate("interaction"));
        }
        st.interactions.insert(key(&interaction.org_id, &interaction.id), interaction.clone());
        st.add_campaign_tally(tally);
        st.count_interaction(interaction, Counted::by_save(interaction));
        Ok(())
    }

    async fn interaction_stats(&self, org_id: &str, group_by: StatsGroupBy, from: chrono::NaiveDate, to: chrono::NaiveDate) -> Result<Vec<StatsDay>> {
        let st = self.read("interaction_stats")?;
        Ok(st.interaction_stats.iter().filter(|((o, g, day, _), _)| o == org_id && *g == group_by && (from..=to).contains(day)).map(|(_, d)| d.clone()).collect())
    }
}

#[async_trait]
impl WorkflowStore for MemoryStore {
    async fn workflow_catalog(&self, org_id: &str) -> Result<WorkflowCatalog> {
        Ok(self.read("workflow_catalog")?.workflow_catalog(org_id))
    }

    async fn workflow_template(&self, org_id: &str, id: &str) -> Result<Option<WorkflowTemplate>> {
        let st = self.read("workflow_template")?;
        Ok(st.workflow_templates.get(&key(org_id, id)).map(|t| {
            let mut t = t.clone();
            t.is_default = st.default_workflows.get(org_id).map(String::as_str) == Some(id);
            t
        }))
    }

    async fn put_workflow_template(&self, t: &WorkflowTemplate) -> Result<Written> {
        let mut st = self.write("put_workflow_template")?;
        if t.version <= 1 && st.workflow_catalog(&t.org_id).templates.len() >= MAX_TEMPLATES {
            // A full catalogue is the organisation's state, not a bad field: 409, as on DynamoDB.
            return Err(Error::Conflict { detail: format!("an organisation has at most {MAX_TEMPLATES} templates"), current: None });
        }
        if !st.template_fits(t) {
            return Ok(Written::AlreadyThere);
        }
        let current = st.default_workflows.get(&t.org_id).cloned();
        if t.is_default && current.as_deref() != Some(t.id.as_str()) {
            if let Some(previous) = &current {
                // The old default loses its flag; if it vanished, DynamoDB's transaction keeps
                // failing on it and the adapter gives up.
                let Some(old) = st.workflow_templates.get_mut(&key(&t.org_id, previous)) else {
                    return Err(Error::LostUpdate("default template"));
                };
                old.is_default = false;
            }
            st.default_workflows.insert(t.org_id.clone(), t.id.clone());
        } else if !t.is_default && current.as_deref() == Some(t.id.as_str()) {
            st.default_workflows.remove(&t.org_id);
        }
        st.workflow_templates.insert(key(&t.org_id, &t.id), t.clone());
        Ok(Written::Stored)
    }

    async fn seed_workflow_templates(&self, org_id: &str, templates: &[WorkflowTemplate]) -> Result<Written> {
        let mut st = self.write("seed_workflow_templates")?;
        let fits = !st.workflows_seeded.contains(org_id) && templates.iter().all(|t| st.template_fits(t));
        if fits {
            st.workflows_seeded.insert(org_id.to_string());
            for t in templates {
                st.workflow_templates.insert(key(&t.org_id, &t.id), t.clone());
            }
        }
        Ok(written(fits))
    }

    async fn save_interaction_settings(&self, org_id: &str, settings: &InteractionSettings, audit: Option<&crate::domain::audit::AuditEntry>) -> Result<()> {
        let mut st = self.write("save_interaction_settings")?;
        if super::audit::with_entry(&mut st, true, audit) {
            st.interaction_settings.insert(org_id.to_string(), settings.clone());
        }
        Ok(())
    }
}
