//! DynamoDB for feedback calls (`docs/feedback-calls.md`, "Data model"). Every index key of a call
//! is derived from the stored value in one place (`call_item`), so a status change moves the call
//! between lists, and into or out of the due index, by itself:
//!
//! - table `ORG#o#CALL#id` / `CALL`: the call.
//! - gsi1 `ORG#o#CALLS#{status}` / `{list time}#id`: the ready, in-progress, missed, completed and
//!   cancelled lists (and the stale in-progress sweep).
//! - gsi2 `ORG#o#CALLS_DUE#{campaign or -}` / `{due_at}#id`, only while `ready` with a due time:
//!   what the scheduler reads, nothing else.
//! - gsi3 `ORG#o#SERVICE#record#CALLS` / `{created_at}#id`: a service record's calls.
//! - table `ORG#o#SERVICE#id` / `SERVICE`: the service record; gsi1 `ORG#o#SERVICES`, gsi3
//!   `ORG#o#SERVICES#ADVISOR#a`, both `{service time}#id`.
//! - table `ORG#o#CALLS#CONFIG` / `SCHEDULE#{campaign or -}` | `IN_FLIGHT`: the schedule configs
//!   and the in-flight counter (`n`).
//! - table `CALL_SCHEDULES` / `{org}#{campaign or -}`: the schedules the scheduler visits.
//! - table `ORG#o#NPS#{local date}` / `COUNTS`: `{group}#{p|n|d}` number attributes.
//!
//! A call write is one transaction: the call over the version read, the in-flight counter when
//! the call enters or leaves `in_progress` (a claim only while below the cap), the NPS day items
//! when it completes or its score changes.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{DynamoStore, Filters, IndexQuery, Item, failed_condition, key_map, keyed, n, sort_time};
use crate::domain::call::{Call, CallStatus, NpsClass, NpsCounts, NpsDay, ServiceRecord, in_flight_change, nps_changes};
use crate::domain::call_schedule::ScheduleConfig;
use crate::domain::customer::{ChannelIdentity, Customer};
use crate::error::{Error, Result};
use crate::ports::{CallFilter, CallSaved, CallStore, CallWrite, Page, PageRequest, ScheduleRef, ServiceRecordFilter, Written};

pub mod keys {
    /// `{campaign or -}`: the organisation's own schedule is `-`.
    pub fn schedule(campaign: Option<&str>) -> &str {
        campaign.unwrap_or("-")
    }
    pub fn call(org: &str, id: &str) -> (String, String) {
        (format!("ORG#{org}#CALL#{id}"), "CALL".into())
    }
    /// gsi1: one status list.
    pub fn calls_by_status(org: &str, status: &str) -> String {
        format!("ORG#{org}#CALLS#{status}")
    }
    /// gsi2: a schedule's ready calls by due time.
    pub fn calls_due(org: &str, campaign: Option<&str>) -> String {
        format!("ORG#{org}#CALLS_DUE#{}", schedule(campaign))
    }
    /// gsi3: a service record's calls.
    pub fn service_calls(org: &str, record: &str) -> String {
        format!("ORG#{org}#SERVICE#{record}#CALLS")
    }
    pub fn service_record(org: &str, id: &str) -> (String, String) {
        (format!("ORG#{org}#SERVICE#{id}"), "SERVICE".into())
    }
    /// gsi1: the organisation's service records by service time.
    pub fn service_records(org: &str) -> String {
        format!("ORG#{org}#SERVICES")
    }
    /// gsi3: an advisor's service records by service time.
    pub fn advisor_service_records(org: &str, advisor: &str) -> String {
        format!("ORG#{org}#SERVICES#ADVISOR#{advisor}")
    }
    fn calls_config(org: &str) -> String {
        format!("ORG#{org}#CALLS#CONFIG")
    }
    pub fn schedule_config(org: &str, campaign: Option<&str>) -> (String, String) {
        (calls_config(org), format!("SCHEDULE#{}", schedule(campaign)))
    }
    pub fn in_flight(org: &str) -> (String, String) {
        (calls_config(org), "IN_FLIGHT".into())
    }
    /// Across organisations: the scheduler's only cross-tenant read.
    pub const CALL_SCHEDULES: &str = "CALL_SCHEDULES";
    pub fn call_schedule(org: &str, campaign: Option<&str>) -> (String, String) {
        (CALL_SCHEDULES.into(), format!("{org}#{}", schedule(campaign)))
    }
    pub fn nps_day(org: &str, date: chrono::NaiveDate) -> (String, String) {
        (format!("ORG#{org}#NPS#{date}"), "COUNTS".into())
    }
}

/// The call as an item, with every index key its state calls for.
fn call_item(c: &Call) -> Result<Item> {
    let mut extra = vec![
        ("gsi1pk", keys::calls_by_status(&c.org_id, c.status.as_str())),
        ("gsi1sk", format!("{}#{}", sort_time(c.list_time()), c.id)),
    ];
    if let (CallStatus::Ready, Some(due)) = (c.status, c.due_at) {
        extra.push(("gsi2pk", keys::calls_due(&c.org_id, c.campaign_id.as_deref())));
        extra.push(("gsi2sk", format!("{}#{}", sort_time(due), c.id)));
    }
    if let Some(record) = &c.service_record_id {
        extra.push(("gsi3pk", keys::service_calls(&c.org_id, record)));
        extra.push(("gsi3sk", format!("{}#{}", sort_time(c.created_at), c.id)));
    }
    keyed(c, keys::call(&c.org_id, &c.id), &extra)
}

fn service_record_item(r: &ServiceRecord) -> Result<Item> {
    let sort = format!("{}#{}", sort_time(r.service_time()), r.id);
    let mut extra = vec![("gsi1pk", keys::service_records(&r.org_id)), ("gsi1sk", sort.clone())];
    if let Some(advisor) = &r.service_advisor_id {
        extra.push(("gsi3pk", keys::advisor_service_records(&r.org_id, advisor)));
        extra.push(("gsi3sk", sort));
    }
    keyed(r, keys::service_record(&r.org_id, &r.id), &extra)
}

/// A registry entry: which organisation and campaign the scheduler visits (kept as attributes,
/// so campaign ids need no parsing out of the sort key).
#[derive(Serialize, Deserialize)]
struct ScheduleEntry {
    org_id: String,
    #[serde(default)]
    campaign_id: Option<String>,
}

/// The counter attribute of a group and class on an NPS day item.
fn nps_attribute(group: &str, class: NpsClass) -> String {
    format!("{group}#{}", class.suffix())
}

/// A call write's transaction, and where its in-flight update sits in it (for a claim's cap).
struct CallOps {
    items: Vec<TransactWriteItem>,
    in_flight_at: Option<usize>,
}

impl DynamoStore {
    fn schedule_entry_put(&self, org: &str, campaign: Option<&str>) -> Result<TransactWriteItem> {
        let entry = ScheduleEntry { org_id: org.to_string(), campaign_id: campaign.map(str::to_string) };
        self.put_op(keyed(&entry, keys::call_schedule(org, campaign), &[])?, None, None)
    }

    /// The call over the version read (or new), its schedule's registry entry when new, and every
    /// counter the change moves.
    fn call_ops(&self, write: &CallWrite<'_>) -> Result<CallOps> {
        let after = write.after;
        let mut items = vec![match write.before {
            None => self.put_op(call_item(after)?, Some("attribute_not_exists(pk)"), None)?,
            Some(before) => {
                let values = HashMap::from([(":previous".to_string(), n(before.version))]);
                self.put_op(call_item(after)?, Some("version = :previous"), Some(values))?
            }
        }];
        if write.before.is_none() {
            items.push(self.schedule_entry_put(&after.org_id, after.campaign_id.as_deref())?);
            // The customer's link: what the customer context finds their calls by.
            if let Some(customer) = &after.customer_id {
                items.push(self.link_op(super::keys::customer_call(&after.org_id, customer, &after.id))?);
            }
        }
        let mut in_flight_at = None;
        let delta = in_flight_change(write.before, after);
        if delta != 0 {
            let mut values: Item = HashMap::from([(":d".to_string(), n(delta))]);
            let condition = match write.in_flight_cap.filter(|_| delta > 0) {
                Some(cap) => {
                    values.insert(":cap".into(), n(cap));
                    Some("attribute_not_exists(n) OR n < :cap")
                }
                None => None,
            };
            in_flight_at = Some(items.len());
            items.push(self.update_op(keys::in_flight(&after.org_id), "ADD n :d", condition, values, None)?);
        }
        // One update per local day; deltas of one attribute summed (an update names it once).
        let mut days: BTreeMap<NaiveDate, BTreeMap<String, i64>> = BTreeMap::new();
        for change in nps_changes(write.before, after) {
            *days.entry(change.date).or_default().entry(nps_attribute(&change.group, change.class)).or_default() += change.delta;
        }
        for (date, counters) in days {
            let mut names = HashMap::new();
            let mut values: Item = HashMap::new();
            let mut adds = Vec::new();
            for (i, (attribute, delta)) in counters.into_iter().enumerate() {
                names.insert(format!("#c{i}"), attribute);
                values.insert(format!(":c{i}"), n(delta));
                adds.push(format!("#c{i} :c{i}"));
            }
            let expression = format!("ADD {}", adds.join(", "));
            items.push(self.update_op(keys::nps_day(&after.org_id, date), &expression, None, values, Some(names))?);
        }
        Ok(CallOps { items, in_flight_at })
    }

    /// Ready, in-progress (stale sweep) and due reads: one partition between sort-key bounds.
    async fn read_calls(&self, index: &'static str, partition: String, to: String, limit: i32) -> Result<Vec<Call>> {
        let (partition_attr, sort_attr) = match index {
            "gsi1" => ("gsi1pk", "gsi1sk"),
            _ => ("gsi2pk", "gsi2sk"),
        };
        let query = IndexQuery { index: Some(index), partition_attr, partition, sort_attr, prefix: "", from: None, to: Some(to), forward: true };
        Ok(self.query_index(query, Filters::default(), &PageRequest { limit, cursor: None }).await?.items)
    }
}

#[async_trait]
impl CallStore for DynamoStore {
    async fn schedule_config(&self, org_id: &str, campaign_id: Option<&str>) -> Result<Option<ScheduleConfig>> {
        self.get_consistent(keys::schedule_config(org_id, campaign_id)).await
    }

    async fn save_schedule_config(&self, config: &ScheduleConfig, audit: Option<&crate::domain::audit::AuditEntry>) -> Result<Written> {
        let campaign = config.campaign_id.as_deref();
        let item = keyed(config, keys::schedule_config(&config.org_id, campaign), &[])?;
        let put = if config.version <= 1 {
            self.put_op(item, Some("attribute_not_exists(pk)"), None)?
        } else {
            let values = HashMap::from([(":previous".to_string(), n(config.version - 1))]);
            self.put_op(item, Some("version = :previous"), Some(values))?
        };
        let mut items = vec![put, self.schedule_entry_put(&config.org_id, campaign)?];
        if let Some(entry) = audit {
            items.push(self.audit_put(entry)?);
        }
        Ok(match self.transact(items).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }

    async fn call_schedules(&self) -> Result<Vec<ScheduleRef>> {
        let mut schedules = Vec::new();
        for item in self.partition(None, "pk", keys::CALL_SCHEDULES, None).await? {
            let entry: ScheduleEntry = super::from_item(item)?;
            schedules.push(ScheduleRef { org_id: entry.org_id, campaign_id: entry.campaign_id });
        }
        Ok(schedules)
    }

    async fn register_customer(&self, customer: &Customer, identity: &ChannelIdentity) -> Result<Written> {
        let not_exists = Some("attribute_not_exists(pk)");
        let mut items = vec![
            self.put_op(keyed(identity, super::keys::identity_of(identity), &[])?, not_exists, None)?,
            self.put_op(keyed(customer, super::keys::customer(&customer.org_id, &customer.id), &[])?, not_exists, None)?,
        ];
        items.extend(self.term_puts(customer, &customer.search_terms())?);
        Ok(match self.transact(items).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }

    async fn service_record(&self, org_id: &str, id: &str) -> Result<Option<ServiceRecord>> {
        self.get_consistent(keys::service_record(org_id, id)).await
    }

    async fn create_service_record(&self, record: &ServiceRecord, call: Option<&Call>) -> Result<Written> {
        let mut items = vec![self.put_op(service_record_item(record)?, Some("attribute_not_exists(pk)"), None)?];
        if let Some(c) = call {
            items.extend(self.call_ops(&CallWrite { before: None, after: c, in_flight_cap: None })?.items);
        }
        Ok(match self.transact(items).await? {
            Ok(()) => Written::Stored,
            Err(_) => Written::AlreadyThere,
        })
    }

    async fn save_service_record(&self, record: &ServiceRecord) -> Result<()> {
        let values = HashMap::from([(":previous".to_string(), n(record.version.saturating_sub(1)))]);
        match self.transact(vec![self.put_op(service_record_item(record)?, Some("version = :previous"), Some(values))?]).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::LostUpdate("service record")),
        }
    }

    async fn delete_service_record(&self, record: &ServiceRecord) -> Result<()> {
        let values = HashMap::from([(":read".to_string(), n(record.version))]);
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(keys::service_record(&record.org_id, &record.id))))
            .condition_expression("version = :read")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| Error::backend("dynamodb", e))?;
        match self.transact(vec![TransactWriteItem::builder().delete(delete).build()]).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::LostUpdate("service record")),
        }
    }

    async fn service_records(&self, org_id: &str, filter: &ServiceRecordFilter, page: &PageRequest) -> Result<Page<ServiceRecord>> {
        let (index, partition_attr, sort_attr, partition) = match &filter.advisor_id {
            Some(a) => ("gsi3", "gsi3pk", "gsi3sk", keys::advisor_service_records(org_id, a)),
            None => ("gsi1", "gsi1pk", "gsi1sk", keys::service_records(org_id)),
        };
        let mut filters = Filters::default();
        if let Some(status) = filter.status {
            filters.equals("status", status.as_str());
        }
        let query = IndexQuery {
            index: Some(index),
            partition_attr,
            partition,
            sort_attr,
            prefix: "",
            from: filter.from.map(sort_time),
            to: filter.to.map(sort_time),
            forward: false,
        };
        self.query_index(query, filters, page).await
    }

    async fn call(&self, org_id: &str, id: &str) -> Result<Option<Call>> {
        self.get_consistent(keys::call(org_id, id)).await
    }

    async fn save_call(&self, write: &CallWrite<'_>) -> Result<CallSaved> {
        let CallOps { items, in_flight_at } = self.call_ops(write)?;
        match self.transact(items).await? {
            Ok(()) => Ok(CallSaved::Stored),
            Err(codes) if failed_condition(&codes, 0) => match write.before {
                None => Ok(CallSaved::AlreadyThere),
                Some(_) => Err(Error::LostUpdate("call")),
            },
            Err(codes) if in_flight_at.is_some_and(|i| failed_condition(&codes, i)) => Ok(CallSaved::AtCapacity),
            Err(_) => Err(Error::LostUpdate("call")),
        }
    }

    async fn calls(&self, org_id: &str, filter: &CallFilter, page: &PageRequest) -> Result<Page<Call>> {
        let mut filters = Filters::default();
        if let Some(a) = &filter.advisor_id {
            filters.equals("service_advisor_id", a);
        }
        if let Some(t) = &filter.service_type {
            filters.equals("service_type", t);
        }
        if let Some(tag) = &filter.tag {
            filters.contains("tags", tag);
        }
        if let Some(min) = filter.nps_min {
            filters.compare("nps_score", ">=", "min", n(min));
        }
        if let Some(max) = filter.nps_max {
            filters.compare("nps_score", "<=", "max", n(max));
        }
        let query = IndexQuery {
            index: Some("gsi1"),
            partition_attr: "gsi1pk",
            partition: keys::calls_by_status(org_id, filter.status.as_str()),
            sort_attr: "gsi1sk",
            prefix: "",
            from: filter.from.map(sort_time),
            to: filter.to.map(sort_time),
            forward: !filter.status.newest_first(),
        };
        self.query_index(query, filters, page).await
    }

    async fn due_calls(&self, schedule: &ScheduleRef, now: DateTime<Utc>, limit: i32) -> Result<Vec<Call>> {
        // `{now}~` sorts after every `{now}#id`: calls due at `now` itself are due.
        let partition = keys::calls_due(&schedule.org_id, schedule.campaign_id.as_deref());
        self.read_calls("gsi2", partition, format!("{}{}", sort_time(now), super::END), limit).await
    }

    async fn stale_calls(&self, org_id: &str, before: DateTime<Utc>, limit: i32) -> Result<Vec<Call>> {
        let partition = keys::calls_by_status(org_id, CallStatus::InProgress.as_str());
        self.read_calls("gsi1", partition, sort_time(before), limit).await
    }

    async fn calls_in_flight(&self, org_id: &str) -> Result<i64> {
        #[derive(Deserialize)]
        struct InFlight {
            #[serde(default)]
            n: i64,
        }
        Ok(self.get_consistent::<InFlight>(keys::in_flight(org_id)).await?.map_or(0, |c| c.n))
    }

    async fn nps_days(&self, org_id: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<NpsDay>> {
        let dates: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
        let mut days = Vec::new();
        // BatchGetItem takes 100 keys.
        for chunk in dates.chunks(100) {
            let wanted: Vec<(String, String)> = chunk.iter().map(|d| keys::nps_day(org_id, *d)).collect();
            for (date, item) in chunk.iter().zip(self.get_many_consistent(&wanted).await?) {
                let Some(item) = item else { continue };
                let mut groups: BTreeMap<String, NpsCounts> = BTreeMap::new();
                for (attribute, value) in &item {
                    let Some((group, suffix)) = attribute.rsplit_once('#') else { continue };
                    let Some(count) = value.as_n().ok().and_then(|v| v.parse::<i64>().ok()) else { continue };
                    let class = match suffix {
                        "p" => NpsClass::Promoter,
                        "n" => NpsClass::Passive,
                        "d" => NpsClass::Detractor,
                        _ => continue,
                    };
                    groups.entry(group.to_string()).or_default().add(class, count);
                }
                days.push(NpsDay { date: *date, groups });
            }
        }
        Ok(days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ready_calls_with_a_due_time_are_in_the_due_index() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        let mut c: Call = serde_json::from_value(serde_json::json!({
            "id": "C1", "org_id": "o1", "customer_number": "+16505551234", "status": "ready", "due_at": at,
            "created_at": at, "updated_at": at
        }))
        .unwrap();
        let attr = |item: &Item, name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let item = call_item(&c).unwrap();
        assert_eq!(attr(&item, "gsi2pk").as_deref(), Some("ORG#o1#CALLS_DUE#-"));
        assert_eq!(attr(&item, "gsi2sk").as_deref(), Some("2026-01-02T03:04:05.000Z#C1"));
        assert_eq!(attr(&item, "gsi1pk").as_deref(), Some("ORG#o1#CALLS#ready"));
        c.due_at = None;
        assert_eq!(attr(&call_item(&c).unwrap(), "gsi2pk"), None, "a demo waiting to be initiated");
        c.due_at = Some(at);
        c.status = CallStatus::InProgress;
        assert_eq!(attr(&call_item(&c).unwrap(), "gsi2pk"), None);
    }
}
