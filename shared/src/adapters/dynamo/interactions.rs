//! DynamoDB for interactions and workflow templates (`docs/data-model.md`, section
//! "Interactions"). Every key is derived from the stored value in one place
//! (`interaction_item`), so a state change moves the item between indexes by itself:
//!
//! - table `ORG#o#INTERACTION#id` / `INTERACTION`: the interaction.
//! - gsi1 `ORG#o#CUSTOMER#c#INTERACTIONS` / `{O|C}#due#id`: a customer's interactions, open ones
//!   first by due date (next, pending, the customer's overdue, the customer filter of the list).
//! - gsi2 `ORG#o#OPEN_INTERACTIONS` / `due#id` while open (the organisation's overdue list);
//!   `NEXT_STEP_OWED` / `completed#org#id` while a next step is owed (the recovery sweep);
//!   absent otherwise.
//! - gsi3 `ORG#o#INTERACTIONS` / `due#id`: every interaction of the organisation by due date.
//! - gsi4 `INTDUE#{yyyy-mm-ddThh:mm}` / `{check_at}#{org}#{id}` while an alert (reminder, overdue)
//!   is owed: the interaction deadline index, one partition per minute, read by the interaction
//!   scheduler. Derived from the item like the others, so a reschedule, a completion or a
//!   cancel moves or removes the entry in the same write.
//! - `INTDUE#CURSOR` / `CURSOR`: the first minute the interaction scheduler has not finished with.
//! - table `ORG#o#INTSTATS#{type|assignee|template}` / `{day}#{group}`: the statistics counters
//!   (`created`, `completed`, `overdue`, the time to complete as `h{bucket}`), `ADD`ed in the
//!   transaction of the write that counts (`domain::interaction_stats::Counted`); the report
//!   reads one Query per group kind and range.
//! - table `ORG#o#WORKFLOWS` / `TEMPLATE#id` | `DEFAULT` | `SETTINGS` | `SEEDED`: the workflow
//!   catalog, read in one query.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::{DynamoStore, Filters, IndexQuery, Item, from_item, key_map, keyed, n, s, sort_time};
use crate::domain::campaign::CampaignTally;
use crate::domain::ids::sha256_hex;
use crate::domain::interaction::Interaction;
use crate::domain::interaction_stats::{Counted, StatsDay, StatsGroupBy};
use crate::domain::workflow::{InteractionSettings, MAX_TEMPLATES, WorkflowCatalog, WorkflowTemplate};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::domain::event::NewEvent;
use crate::ports::{InteractionDue, InteractionFilter, InteractionStore, Page, PageRequest, WorkflowStore, Written};


pub mod keys {
    pub fn interaction(org: &str, id: &str) -> (String, String) {
        (format!("ORG#{org}#INTERACTION#{id}"), "INTERACTION".into())
    }
    pub fn idempotency(org: &str, key_hash: &str) -> (String, String) {
        (format!("ORG#{org}#INTERACTION_KEY#{key_hash}"), "IDEMPOTENCY".into())
    }
    /// gsi1: a customer's interactions.
    pub fn customer_interactions(org: &str, customer: &str) -> String {
        format!("ORG#{org}#CUSTOMER#{customer}#INTERACTIONS")
    }
    /// gsi2: the organisation's open interactions by due date.
    pub fn open_interactions(org: &str) -> String {
        format!("ORG#{org}#OPEN_INTERACTIONS")
    }
    /// gsi2: completions whose next step is owed, across organisations (the sweep's only key).
    pub const NEXT_STEP_OWED: &str = "NEXT_STEP_OWED";
    /// gsi3: every interaction of the organisation by due date.
    pub fn all_interactions(org: &str) -> String {
        format!("ORG#{org}#INTERACTIONS")
    }
    /// gsi4: the interaction deadline index's minute, across organisations.
    pub fn interactions_due(minute: chrono::DateTime<chrono::Utc>) -> String {
        format!("INTDUE#{}", crate::domain::deadline_index::bucket(minute))
    }
    /// The statistics counters of one group kind.
    pub fn stats(org: &str, group_by: crate::domain::interaction_stats::StatsGroupBy) -> String {
        format!("ORG#{org}#INTSTATS#{}", group_by.as_str())
    }
    pub fn stats_day(day: chrono::NaiveDate, group: Option<&str>) -> String {
        format!("{}#{}", day.format("%Y-%m-%d"), group.unwrap_or_default())
    }
    pub fn alert_cursor() -> (String, String) {
        ("INTDUE#CURSOR".into(), "CURSOR".into())
    }
    pub fn workflows(org: &str) -> String {
        format!("ORG#{org}#WORKFLOWS")
    }
    pub fn workflow_template(org: &str, id: &str) -> (String, String) {
        (workflows(org), format!("TEMPLATE#{id}"))
    }
    pub fn default_workflow(org: &str) -> (String, String) {
        (workflows(org), "DEFAULT".into())
    }
    pub fn interaction_settings(org: &str) -> (String, String) {
        (workflows(org), "SETTINGS".into())
    }
    pub fn workflows_seeded(org: &str) -> (String, String) {
        (workflows(org), "SEEDED".into())
    }
}

/// Open interactions sort before closed ones in a customer's partition.
const OPEN: &str = "O#";
const CLOSED: &str = "C#";

fn dynamo_err(e: impl std::fmt::Display) -> Error {
    Error::backend("dynamodb", e)
}

/// The interaction as an item, with every index key its state calls for.
pub fn interaction_item(i: &Interaction) -> Result<Item> {
    let due = sort_time(i.due_at);
    let mut extra = vec![
        ("gsi1pk", keys::customer_interactions(&i.org_id, &i.customer_id)),
        ("gsi1sk", format!("{}{due}#{}", if i.status.is_open() { OPEN } else { CLOSED }, i.id)),
        ("gsi3pk", keys::all_interactions(&i.org_id)),
        ("gsi3sk", format!("{due}#{}", i.id)),
        ("due_sort", due.clone()),
    ];
    if i.status.is_open() {
        extra.push(("gsi2pk", keys::open_interactions(&i.org_id)));
        extra.push(("gsi2sk", format!("{due}#{}", i.id)));
    } else if i.awaits_next_step() {
        let completed = sort_time(i.completed_at.unwrap_or(i.updated_at));
        extra.push(("gsi2pk", keys::NEXT_STEP_OWED.to_string()));
        extra.push(("gsi2sk", format!("{completed}#{}#{}", i.org_id, i.id)));
    }
    if let Some(at) = i.alert_check_at() {
        extra.push(("gsi4pk", keys::interactions_due(at)));
        extra.push(("gsi4sk", format!("{}#{}#{}", sort_time(at), i.org_id, i.id)));
    }
    keyed(i, keys::interaction(&i.org_id, &i.id), &extra)
}

impl DynamoStore {
    fn interaction_put(&self, i: &Interaction) -> Result<TransactWriteItem> {
        let item = interaction_item(i)?;
        if i.version <= 1 {
            self.put_op(item, Some("attribute_not_exists(pk)"), None)
        } else {
            let values = HashMap::from([(":previous".to_string(), n(i.version - 1))]);
            self.put_op(item, Some("version = :previous"), Some(values))
        }
    }

    /// The statistics counters' `ADD`s for what this write of `i` counts (one update per group
    /// kind), to go in the write's own transaction: a write that fails counts nothing.
    fn interaction_stats_ops(&self, i: &Interaction, counted: Option<Counted>) -> Result<Vec<TransactWriteItem>> {
        self.stats_count_ops(counted.map(|c| crate::domain::interaction_stats::counts(i, c)).unwrap_or_default())
    }

    /// The counters' `ADD`s for counts of one or several interactions (a campaign start's), added
    /// up per counter item first: a transaction names an item once.
    pub(super) fn stats_count_ops(&self, counts: Vec<StatsDay>) -> Result<Vec<TransactWriteItem>> {
        let mut merged: std::collections::BTreeMap<(String, StatsGroupBy, chrono::NaiveDate, Option<String>), StatsDay> = std::collections::BTreeMap::new();
        for c in counts {
            merged.entry((c.org_id.clone(), c.group_by, c.day, c.group.clone())).or_insert_with(|| StatsDay::new(&c.org_id, c.group_by, c.group.clone(), c.day)).add(&c);
        }
        let mut ops = Vec::new();
        for count in merged.into_values() {
            let mut names = HashMap::from([
                ("#day".to_string(), "day".to_string()),
                ("#created".to_string(), "created".to_string()),
                ("#completed".to_string(), "completed".to_string()),
                ("#overdue".to_string(), "overdue".to_string()),
            ]);
            let mut values: Item = HashMap::from([
                (":day".to_string(), s(count.day.format("%Y-%m-%d").to_string())),
                (":created".to_string(), n(count.created)),
                (":completed".to_string(), n(count.completed)),
                (":overdue".to_string(), n(count.overdue)),
            ]);
            let mut set = "SET #day = :day".to_string();
            if let Some(group) = &count.group {
                names.insert("#group".into(), "group".into());
                values.insert(":group".into(), s(group));
                set.push_str(", #group = :group");
            }
            let mut add = vec!["#created :created".to_string(), "#completed :completed".to_string(), "#overdue :overdue".to_string()];
            super::compliance::histogram_adds(&count.times_to_complete, &mut add, &mut values);
            let key = (keys::stats(&count.org_id, count.group_by), keys::stats_day(count.day, count.group.as_deref()));
            ops.push(self.update_op(key, &format!("{set} ADD {}", add.join(", ")), None, values, Some(names))?);
        }
        Ok(ops)
    }

    /// Stores a new interaction with its statistics counted, if its id is new.
    async fn put_new_interaction(&self, i: &Interaction) -> Result<Written> {
        let mut items = vec![self.put_op(interaction_item(i)?, Some("attribute_not_exists(pk)"), None)?];
        items.extend(self.interaction_stats_ops(i, Some(Counted::Created))?);
        Ok(match self.transact(items).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }

    fn template_put(&self, t: &WorkflowTemplate) -> Result<TransactWriteItem> {
        let item = keyed(t, keys::workflow_template(&t.org_id, &t.id), &[])?;
        if t.version <= 1 {
            self.put_op(item, Some("attribute_not_exists(pk)"), None)
        } else {
            let values = HashMap::from([(":previous".to_string(), n(t.version - 1))]);
            self.put_op(item, Some("version = :previous"), Some(values))
        }
    }

    async fn default_template_id(&self, org_id: &str) -> Result<Option<String>> {
        #[derive(serde::Deserialize)]
        struct DefaultWorkflow {
            template_id: String,
        }
        Ok(self.get_consistent::<DefaultWorkflow>(keys::default_workflow(org_id)).await?.map(|d| d.template_id))
    }
}

#[async_trait]
impl InteractionStore for DynamoStore {
    async fn interaction(&self, org_id: &str, id: &str) -> Result<Option<Interaction>> {
        self.get_consistent(keys::interaction(org_id, id)).await
    }

    async fn create_interaction(&self, interaction: &Interaction, idempotency_key: Option<&str>) -> Result<Interaction> {
        let Some(key) = idempotency_key else {
            return match self.put_new_interaction(interaction).await? {
                Written::Stored => Ok(interaction.clone()),
                Written::AlreadyThere => Err(Error::conflict("an interaction with this id exists already", "exists")),
            };
        };
        let put = self.interaction_put(interaction)?;
        let marker_key = keys::idempotency(&interaction.org_id, &sha256_hex(key.as_bytes()));
        let marker_put = self.idempotency_put(marker_key.clone(), &interaction.id, interaction.created_at)?;
        let mut items = vec![marker_put, put];
        items.extend(self.interaction_stats_ops(interaction, Some(Counted::Created))?);
        match self.transact(items).await? {
            Ok(()) => Ok(interaction.clone()),
            Err(_) => {
                let first = self.idempotency_target(marker_key).await?.ok_or(Error::NotFound("interaction"))?;
                self.interaction(&interaction.org_id, &first).await?.ok_or(Error::NotFound("interaction"))
            }
        }
    }

    async fn save_interaction(&self, interaction: &Interaction) -> Result<()> {
        let counted = self.interaction_stats_ops(interaction, Counted::by_save(interaction))?;
        if !counted.is_empty() {
            // The completion: the interaction over its version and the statistics, together.
            let mut items = vec![self.interaction_put(interaction)?];
            items.extend(counted);
            return self.transact(items).await?.map_err(|_| Error::LostUpdate("interaction"));
        }
        // One item: a conditional put (half the cost and latency of a one-item transaction).
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(interaction_item(interaction)?))
            .condition_expression("version = :previous")
            .expression_attribute_values(":previous", n(interaction.version.saturating_sub(1)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Err(Error::LostUpdate("interaction"))
            }
            Err(e) => Err(crate::adapters::sdk_error("dynamodb", e)),
        }
    }

    async fn save_interaction_tallied(&self, interaction: &Interaction, tally: &CampaignTally) -> Result<()> {
        let mut items = vec![self.interaction_put(interaction)?, self.campaign_tally_op(tally)?];
        items.extend(self.interaction_stats_ops(interaction, Counted::by_save(interaction))?);
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::LostUpdate("interaction")),
        }
    }

    async fn store_if_absent(&self, interaction: &Interaction) -> Result<Written> {
        self.put_new_interaction(interaction).await
    }

    async fn interactions(&self, org_id: &str, filter: &InteractionFilter, page: &PageRequest) -> Result<Page<Interaction>> {
        let mut filters = Filters::default();
        if let Some(kind) = &filter.kind {
            filters.equals("type", kind.as_str());
        }
        if let Some(priority) = filter.priority {
            filters.equals("priority", priority.as_str());
        }
        let (after, before) = (filter.due_after.map(sort_time), filter.due_before.map(sort_time));
        let forward = !filter.newest_first;
        let status_open = filter.status.map(|s| s.is_open());
        let query = if let Some(customer) = &filter.customer_id {
            // A customer's partition holds open (`O#`) then closed (`C#`) interactions.
            let prefix = match (filter.open_only, status_open) {
                (true, _) | (false, Some(true)) => OPEN,
                (false, Some(false)) => CLOSED,
                (false, None) => "",
            };
            if prefix.is_empty() {
                if let Some(a) = after.clone() {
                    filters.compare("due_sort", ">=", "after", s(a));
                }
                if let Some(b) = before.clone() {
                    filters.compare("due_sort", "<", "before", s(b));
                }
            }
            let ranged = !prefix.is_empty();
            IndexQuery {
                index: Some("gsi1"),
                partition_attr: "gsi1pk",
                partition: keys::customer_interactions(org_id, customer),
                sort_attr: "gsi1sk",
                prefix,
                from: after.filter(|_| ranged),
                to: before.filter(|_| ranged),
                forward,
            }
        } else if filter.open_only || status_open == Some(true) {
            IndexQuery {
                index: Some("gsi2"),
                partition_attr: "gsi2pk",
                partition: keys::open_interactions(org_id),
                sort_attr: "gsi2sk",
                prefix: "",
                from: after,
                to: before,
                forward,
            }
        } else {
            IndexQuery {
                index: Some("gsi3"),
                partition_attr: "gsi3pk",
                partition: keys::all_interactions(org_id),
                sort_attr: "gsi3sk",
                prefix: "",
                from: after,
                to: before,
                forward,
            }
        };
        if let Some(status) = filter.status {
            filters.equals("status", status.as_str());
        }
        self.query_index(query, filters, page).await
    }

    async fn open_interactions(&self, org_id: &str, customer_id: &str, due_before: Option<DateTime<Utc>>, page: &PageRequest) -> Result<Page<Interaction>> {
        let query = IndexQuery {
            index: Some("gsi1"),
            partition_attr: "gsi1pk",
            partition: keys::customer_interactions(org_id, customer_id),
            sort_attr: "gsi1sk",
            prefix: OPEN,
            from: None,
            to: due_before.map(sort_time),
            forward: true,
        };
        self.query_index(query, Filters::default(), page).await
    }

    async fn owed_next_steps(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit: i32) -> Result<Vec<Interaction>> {
        let query = IndexQuery {
            index: Some("gsi2"),
            partition_attr: "gsi2pk",
            partition: keys::NEXT_STEP_OWED.to_string(),
            sort_attr: "gsi2sk",
            prefix: "",
            from: Some(sort_time(from)),
            to: Some(sort_time(to)),
            forward: true,
        };
        Ok(self.query_index(query, Filters::default(), &PageRequest { limit, cursor: None }).await?.items)
    }

    async fn interactions_due(&self, minute: DateTime<Utc>, up_to: DateTime<Utc>) -> Result<Vec<InteractionDue>> {
        let due = self.due_entries(&keys::interactions_due(minute), up_to).await?;
        Ok(due.into_iter().map(|(check_at, org_id, interaction_id)| InteractionDue { org_id, interaction_id, check_at }).collect())
    }

    async fn interaction_alert_cursor(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.get_consistent::<AlertCursor>(keys::alert_cursor()).await?.map(|c| c.minute))
    }

    async fn save_interaction_alert_cursor(&self, minute: DateTime<Utc>) -> Result<()> {
        self.put(keyed(&AlertCursor { minute }, keys::alert_cursor(), &[])?).await
    }

    async fn record_interaction_alerts(&self, interaction: &Interaction, events: &[NewEvent], tally: Option<&CampaignTally>) -> Result<()> {
        let now = Utc::now();
        let count = events.len() as u64;
        let first = if count == 0 { 0 } else { self.take_event_seqs(&interaction.org_id, count).await? + 1 - count };
        let mut items = vec![self.interaction_put(interaction)?];
        if let Some(t) = tally {
            items.push(self.campaign_tally_op(t)?);
        }
        items.extend(self.interaction_stats_ops(interaction, Counted::by_alerts(events))?);
        for (n, event) in events.iter().enumerate() {
            items.extend(self.event_ops(event, first + n as u64, now)?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => {
                // The numbers taken stay in the feed as void; the caller reads the interaction again.
                if count > 0 {
                    self.void_events(&interaction.org_id, first, first + count - 1, now).await?;
                }
                Err(Error::LostUpdate("interaction"))
            }
        }
    }

    async fn interaction_stats(&self, org_id: &str, group_by: StatsGroupBy, from: chrono::NaiveDate, to: chrono::NaiveDate) -> Result<Vec<StatsDay>> {
        let items = self.query_days(keys::stats(org_id, group_by), from, to, true, None).await?;
        items.iter().map(|item| stats_day(org_id, group_by, item)).collect()
    }
}

/// A statistics counters item read back.
fn stats_day(org_id: &str, group_by: StatsGroupBy, item: &Item) -> Result<StatsDay> {
    let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    let day = item
        .get("day")
        .and_then(|v| v.as_s().ok())
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| dynamo_err("an interaction statistics counter without its day"))?;
    let group = item.get("group").and_then(|v| v.as_s().ok()).cloned();
    let mut stats = StatsDay::new(org_id, group_by, group, day);
    (stats.created, stats.completed, stats.overdue) = (number("created"), number("completed"), number("overdue"));
    stats.times_to_complete = super::compliance::histogram_of(item);
    Ok(stats)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct AlertCursor {
    minute: DateTime<Utc>,
}

#[async_trait]
impl WorkflowStore for DynamoStore {
    async fn workflow_catalog(&self, org_id: &str) -> Result<WorkflowCatalog> {
        let mut catalog = WorkflowCatalog::default();
        // Templates are capped per organisation, so this is one page in practice.
        for mut item in self.partition(None, "pk", &keys::workflows(org_id), None).await? {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            match sk.as_str() {
                "DEFAULT" => catalog.default_template_id = item.get("template_id").and_then(|v| v.as_s().ok()).cloned(),
                "SETTINGS" => {
                    // Settings refuse unknown fields (they come from an API body); drop the keys.
                    item.remove("pk");
                    item.remove("sk");
                    catalog.settings = from_item(item)?;
                }
                "SEEDED" => catalog.seeded = true,
                _ if sk.starts_with("TEMPLATE#") => catalog.templates.push(from_item(item)?),
                _ => {}
            }
        }
        // The pointer is the truth about the default; the flag on the templates follows it.
        for t in &mut catalog.templates {
            t.is_default = catalog.default_template_id.as_deref() == Some(t.id.as_str());
        }
        catalog.templates.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.name.cmp(&b.name)));
        Ok(catalog)
    }

    async fn workflow_template(&self, org_id: &str, id: &str) -> Result<Option<WorkflowTemplate>> {
        let template: Option<WorkflowTemplate> = self.get_consistent(keys::workflow_template(org_id, id)).await?;
        match template {
            Some(mut t) => {
                t.is_default = self.default_template_id(org_id).await?.as_deref() == Some(id);
                Ok(Some(t))
            }
            None => Ok(None),
        }
    }

    async fn put_workflow_template(&self, t: &WorkflowTemplate) -> Result<Written> {
        if t.version <= 1 {
            let count = self.workflow_catalog(&t.org_id).await?.templates.len();
            if count >= MAX_TEMPLATES {
                // The organisation's state refuses it, not the request: 409, like other limits of state.
                return Err(Error::Conflict { detail: format!("an organisation has at most {MAX_TEMPLATES} templates"), current: None });
            }
        }
        // The pointer item decides the default; moving it is conditional on where it pointed, so
        // two admins choosing different defaults at once cannot both win.
        retry_lost_updates("default template", |_| async move {
            let current = self.default_template_id(&t.org_id).await?;
            let mut items = vec![self.template_put(t)?];
            let pointer = keys::default_workflow(&t.org_id);
            if t.is_default && current.as_deref() != Some(t.id.as_str()) {
                let item = HashMap::from([
                    ("pk".to_string(), s(&pointer.0)),
                    ("sk".to_string(), s(&pointer.1)),
                    ("template_id".to_string(), s(&t.id)),
                ]);
                items.push(match &current {
                    None => self.put_op(item, Some("attribute_not_exists(pk)"), None)?,
                    Some(previous) => {
                        self.put_op(item, Some("template_id = :previous"), Some(HashMap::from([(":previous".to_string(), s(previous))])))?
                    }
                });
                if let Some(previous) = &current {
                    let update = Update::builder()
                        .table_name(self.table())
                        .set_key(Some(key_map(keys::workflow_template(&t.org_id, previous))))
                        .update_expression("SET is_default = :no")
                        .condition_expression("attribute_exists(pk)")
                        .expression_attribute_values(":no", AttributeValue::Bool(false))
                        .build()
                        .map_err(dynamo_err)?;
                    items.push(TransactWriteItem::builder().update(update).build());
                }
            } else if !t.is_default && current.as_deref() == Some(t.id.as_str()) {
                let delete = Delete::builder()
                    .table_name(self.table())
                    .set_key(Some(key_map(pointer)))
                    .condition_expression("template_id = :me")
                    .expression_attribute_values(":me", s(&t.id))
                    .build()
                    .map_err(dynamo_err)?;
                items.push(TransactWriteItem::builder().delete(delete).build());
            }
            match self.transact(items).await? {
                Ok(()) => Ok(Written::Stored),
                Err(codes) if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") => Ok(Written::AlreadyThere),
                // The default moved meanwhile (or its old template vanished): read it again.
                Err(_) => Err(Error::LostUpdate("default template")),
            }
        })
        .await
    }

    async fn seed_workflow_templates(&self, org_id: &str, templates: &[WorkflowTemplate]) -> Result<Written> {
        let marker = keys::workflows_seeded(org_id);
        let marker = HashMap::from([("pk".to_string(), s(marker.0)), ("sk".to_string(), s(marker.1))]);
        let mut items = vec![self.put_op(marker, Some("attribute_not_exists(pk)"), None)?];
        for t in templates {
            items.push(self.template_put(t)?);
        }
        Ok(match self.transact(items).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }

    async fn save_interaction_settings(&self, org_id: &str, settings: &InteractionSettings, audit: Option<&crate::domain::audit::AuditEntry>) -> Result<()> {
        let item = keyed(settings, keys::interaction_settings(org_id), &[])?;
        match audit {
            Some(entry) => self.write_audited(self.put_op(item, None, None)?, entry).await.map(|_| ()),
            None => self.put(item).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::interaction::{Completion, NewInteraction};
    use crate::adapters::dynamo::END;
    use chrono::TimeZone;

    fn interaction() -> Interaction {
        let req: NewInteraction = serde_json::from_value(serde_json::json!({
            "customer_id": "c1", "type": "phone_call", "title": "Call", "due_at": "2026-01-21T10:00:00Z",
            "scheduled_at": "2026-01-19T10:00:00Z"
        }))
        .unwrap();
        req.into_interaction("I1".into(), "o1", None, Utc.with_ymd_and_hms(2026, 1, 18, 0, 0, 0).unwrap()).unwrap()
    }

    fn attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
        item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
    }

    #[test]
    fn an_open_interaction_is_in_the_open_indexes() {
        let item = interaction_item(&interaction()).unwrap();
        assert_eq!(attr(&item, "pk"), Some("ORG#o1#INTERACTION#I1"));
        assert_eq!(attr(&item, "gsi1pk"), Some("ORG#o1#CUSTOMER#c1#INTERACTIONS"));
        assert_eq!(attr(&item, "gsi1sk"), Some("O#2026-01-21T10:00:00.000Z#I1"));
        assert_eq!(attr(&item, "gsi2pk"), Some("ORG#o1#OPEN_INTERACTIONS"));
        assert_eq!(attr(&item, "gsi2sk"), Some("2026-01-21T10:00:00.000Z#I1"));
        assert_eq!(attr(&item, "gsi3pk"), Some("ORG#o1#INTERACTIONS"));
    }

    #[test]
    fn a_completion_moves_it_to_the_owed_list_until_linked_then_out_of_gsi2() {
        let at = Utc.with_ymd_and_hms(2026, 1, 19, 11, 0, 0).unwrap();
        let mut done = interaction().complete(&Completion { outcome: "success".into(), outcome_details: None }, at).unwrap();
        let item = interaction_item(&done).unwrap();
        assert_eq!(attr(&item, "gsi1sk"), Some("C#2026-01-21T10:00:00.000Z#I1"));
        assert_eq!(attr(&item, "gsi2pk"), Some(keys::NEXT_STEP_OWED));
        assert_eq!(attr(&item, "gsi2sk"), Some("2026-01-19T11:00:00.000Z#o1#I1"));
        done.next_interaction_id = Some("I2".into());
        let item = interaction_item(&done).unwrap();
        assert_eq!(attr(&item, "gsi2pk"), None);
        let cancelled = interaction().cancel(at).unwrap();
        assert_eq!(attr(&interaction_item(&cancelled).unwrap(), "gsi2pk"), None);
    }

    #[test]
    fn due_bounds_sort_as_the_half_open_range_they_mean() {
        // The item's own sort key against bounds built as `query_interactions` builds them
        // (`BETWEEN prefix+from AND prefix+to`, or `prefix+END` for an open end).
        let due = Utc.with_ymd_and_hms(2026, 1, 21, 10, 0, 0).unwrap();
        let item = interaction_item(&interaction()).unwrap();
        let key = attr(&item, "gsi1sk").unwrap().to_string();
        let bound = |at: chrono::DateTime<Utc>| format!("{OPEN}{}", sort_time(at));
        let inside = |lo: &str, hi: &str| lo <= key.as_str() && key.as_str() <= hi;
        let ms = chrono::Duration::milliseconds(1);
        assert!(inside(&bound(due - ms), &bound(due + ms)), "due between the bounds is inside");
        assert!(inside(&bound(due), &bound(due + ms)), "due exactly at the lower bound is inside");
        assert!(!inside(&bound(due - ms), &bound(due)), "due exactly at the upper bound is outside");
        assert!(!inside(&bound(due + ms), &format!("{OPEN}{END}")), "due before the lower bound is outside");
        assert!(inside(OPEN, &format!("{OPEN}{END}")), "the open prefix holds it");
        assert!(!inside(CLOSED, &format!("{CLOSED}{END}")), "the closed prefix does not");
    }
}
