//! Feedback calls in memory (`ports::CallStore`), with the keys and transactions the DynamoDB
//! adapter will have (`docs/feedback-calls.md`): a call write checks its version (and, for a
//! claim, the in-flight cap) and moves the in-flight and NPS counters, all or nothing.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{MemoryStore, State, check_limit, fill_page, identity_key_of, key, sort_time, written};
use crate::domain::call::{Call, CallStatus, NpsCounts, NpsDay, ServiceRecord, in_flight_change, nps_changes};
use crate::domain::call_schedule::ScheduleConfig;
use crate::domain::customer::{Customer, ChannelIdentity};
use crate::error::{Error, Result};
use crate::ports::{CallFilter, CallSaved, CallStore, CallWrite, Page, PageRequest, ScheduleRef, ServiceRecordFilter, Written};

/// The schedule a call belongs to (`{campaign or "-"}` in the keys).
fn schedule_of(call: &Call) -> ScheduleRef {
    ScheduleRef { org_id: call.org_id.clone(), campaign_id: call.campaign_id.clone() }
}

fn config_key(org_id: &str, campaign_id: Option<&str>) -> (String, String) {
    (org_id.to_string(), campaign_id.unwrap_or("-").to_string())
}

impl State {
    /// Every counter a call write moves, as `DynamoStore` does in the call's transaction.
    fn count_call(&mut self, before: Option<&Call>, after: &Call) {
        let in_flight = in_flight_change(before, after);
        if in_flight != 0 {
            *self.calls_in_flight.entry(after.org_id.clone()).or_default() += in_flight;
        }
        for change in nps_changes(before, after) {
            let day = self.nps_days.entry((after.org_id.clone(), change.date)).or_default();
            day.entry(change.group).or_default().add(change.class, change.delta);
        }
    }

    fn org_calls<'a>(&'a self, org_id: &'a str) -> impl Iterator<Item = &'a Call> + 'a {
        self.calls.range(key(org_id, "")..).take_while(move |((o, _), _)| o == org_id).map(|(_, c)| c)
    }
}

#[async_trait]
impl CallStore for MemoryStore {
    async fn schedule_config(&self, org_id: &str, campaign_id: Option<&str>) -> Result<Option<ScheduleConfig>> {
        Ok(self.read("schedule_config")?.schedule_configs.get(&config_key(org_id, campaign_id)).cloned())
    }

    async fn save_schedule_config(&self, config: &ScheduleConfig, audit: Option<&crate::domain::audit::AuditEntry>) -> Result<Written> {
        let mut st = self.write("save_schedule_config")?;
        let k = config_key(&config.org_id, config.campaign_id.as_deref());
        let fits = match st.schedule_configs.get(&k) {
            None => config.version <= 1,
            Some(stored) => stored.version + 1 == config.version,
        };
        let fits = super::audit::with_entry(&mut st, fits, audit);
        if fits {
            st.schedule_configs.insert(k, config.clone());
            st.call_schedules.insert(ScheduleRef { org_id: config.org_id.clone(), campaign_id: config.campaign_id.clone() });
        }
        Ok(written(fits))
    }

    async fn call_schedules(&self) -> Result<Vec<ScheduleRef>> {
        Ok(self.read("call_schedules")?.call_schedules.iter().cloned().collect())
    }

    async fn register_customer(&self, customer: &Customer, identity: &ChannelIdentity) -> Result<Written> {
        let mut st = self.write("register_customer")?;
        let fits = !st.identities.contains_key(&identity_key_of(identity)) && !st.customers.contains_key(&key(&customer.org_id, &customer.id));
        if fits {
            st.identities.insert(identity_key_of(identity), identity.clone());
            st.put_customer(None, customer);
        }
        Ok(written(fits))
    }

    async fn service_record(&self, org_id: &str, id: &str) -> Result<Option<ServiceRecord>> {
        Ok(self.read("service_record")?.service_records.get(&key(org_id, id)).cloned())
    }

    async fn create_service_record(&self, record: &ServiceRecord, call: Option<&Call>) -> Result<Written> {
        let mut st = self.write("create_service_record")?;
        let fits = !st.service_records.contains_key(&key(&record.org_id, &record.id)) && call.is_none_or(|c| !st.calls.contains_key(&key(&c.org_id, &c.id)));
        if !fits {
            return Ok(Written::AlreadyThere);
        }
        st.service_records.insert(key(&record.org_id, &record.id), record.clone());
        if let Some(c) = call {
            st.calls.insert(key(&c.org_id, &c.id), c.clone());
            st.call_schedules.insert(schedule_of(c));
            st.count_call(None, c);
        }
        Ok(Written::Stored)
    }

    async fn save_service_record(&self, record: &ServiceRecord) -> Result<()> {
        let mut st = self.write("save_service_record")?;
        let k = key(&record.org_id, &record.id);
        if st.service_records.get(&k).is_none_or(|r| r.version + 1 != record.version) {
            return Err(Error::LostUpdate("service record"));
        }
        st.service_records.insert(k, record.clone());
        Ok(())
    }

    async fn delete_service_record(&self, record: &ServiceRecord) -> Result<()> {
        let mut st = self.write("delete_service_record")?;
        let k = key(&record.org_id, &record.id);
        if st.service_records.get(&k).is_none_or(|r| r.version != record.version) {
            return Err(Error::LostUpdate("service record"));
        }
        st.service_records.remove(&k);
        Ok(())
    }

    async fn service_records(&self, org_id: &str, filter: &ServiceRecordFilter, page: &PageRequest) -> Result<Page<ServiceRecord>> {
        let st = self.read("service_records")?;
        // The index of the advisor when there is one (gsi3), else the organisation's (gsi1); the
        // sort key is `{service time}#{id}`, newest first; time bounds are key bounds.
        let partition = match &filter.advisor_id {
            Some(a) => format!("ORG#{org_id}#SERVICES#ADVISOR#{a}"),
            None => format!("ORG#{org_id}#SERVICES"),
        };
        let (from, to) = (filter.from.map(sort_time), filter.to.map(sort_time));
        let mut entries: Vec<(String, ServiceRecord)> = st
            .service_records
            .range(key(org_id, "")..)
            .take_while(|((o, _), _)| o == org_id)
            .map(|(_, r)| r)
            .filter(|r| filter.advisor_id.as_ref().is_none_or(|a| r.service_advisor_id.as_ref() == Some(a)))
            .filter(|r| {
                let t = sort_time(r.service_time());
                from.as_ref().is_none_or(|f| t >= *f) && to.as_ref().is_none_or(|b| t < *b)
            })
            .map(|r| (format!("{}#{}", sort_time(r.service_time()), r.id), r.clone()))
            .collect();
        entries.sort_by(|a, b| b.0.cmp(&a.0));
        fill_page(&partition, entries, false, |r| filter.status.is_none_or(|s| r.status == s), page)
    }

    async fn call(&self, org_id: &str, id: &str) -> Result<Option<Call>> {
        Ok(self.read("call")?.calls.get(&key(org_id, id)).cloned())
    }

    async fn save_call(&self, write: &CallWrite<'_>) -> Result<CallSaved> {
        let mut st = self.write("save_call")?;
        let after = write.after;
        let k = key(&after.org_id, &after.id);
        match write.before {
            None if st.calls.contains_key(&k) => return Ok(CallSaved::AlreadyThere),
            Some(before) if st.calls.get(&k).is_none_or(|c| c.version != before.version) => return Err(Error::LostUpdate("call")),
            _ => {}
        }
        if let Some(cap) = write.in_flight_cap
            && in_flight_change(write.before, after) > 0
            && st.calls_in_flight.get(&after.org_id).copied().unwrap_or_default() >= i64::from(cap)
        {
            return Ok(CallSaved::AtCapacity);
        }
        st.calls.insert(k, after.clone());
        if write.before.is_none() {
            st.call_schedules.insert(schedule_of(after));
        }
        st.count_call(write.before, after);
        Ok(CallSaved::Stored)
    }

    async fn calls(&self, org_id: &str, filter: &CallFilter, page: &PageRequest) -> Result<Page<Call>> {
        let st = self.read("calls")?;
        // gsi1 `ORG#{org}#CALLS#{status}` / `{list time}#{id}`; the time range is a key range.
        let partition = format!("ORG#{org_id}#CALLS#{}", filter.status.as_str());
        let (from, to) = (filter.from.map(sort_time), filter.to.map(sort_time));
        let mut entries: Vec<(String, Call)> = st
            .org_calls(org_id)
            .filter(|c| c.status == filter.status)
            .map(|c| (sort_time(c.list_time()), c))
            .filter(|(t, _)| from.as_ref().is_none_or(|f| t >= f) && to.as_ref().is_none_or(|b| t < b))
            .map(|(t, c)| (format!("{t}#{}", c.id), c.clone()))
            .collect();
        let forward = !filter.status.newest_first();
        entries.sort_by(|a, b| if forward { a.0.cmp(&b.0) } else { b.0.cmp(&a.0) });
        fill_page(&partition, entries, forward, |c| filter.admits(c), page)
    }

    async fn due_calls(&self, schedule: &ScheduleRef, now: DateTime<Utc>, limit: i32) -> Result<Vec<Call>> {
        let limit = check_limit(limit)?;
        let st = self.read("due_calls")?;
        // gsi2 `ORG#{org}#CALLS_DUE#{schedule}` / `{due_at}#{id}`, only while ready: `sk <= now`.
        let mut due: Vec<&Call> = st
            .org_calls(&schedule.org_id)
            .filter(|c| c.status == CallStatus::Ready && c.campaign_id == schedule.campaign_id)
            .filter(|c| c.due_at.is_some_and(|d| sort_time(d) <= sort_time(now)))
            .collect();
        due.sort_by_key(|c| (c.due_at, c.id.clone()));
        Ok(due.into_iter().take(limit).cloned().collect())
    }

    async fn stale_calls(&self, org_id: &str, before: DateTime<Utc>, limit: i32) -> Result<Vec<Call>> {
        let limit = check_limit(limit)?;
        let st = self.read("stale_calls")?;
        let mut stale: Vec<&Call> = st.org_calls(org_id).filter(|c| c.status == CallStatus::InProgress && c.list_time() < before).collect();
        stale.sort_by_key(|c| (c.list_time(), c.id.clone()));
        Ok(stale.into_iter().take(limit).cloned().collect())
    }

    async fn calls_in_flight(&self, org_id: &str) -> Result<i64> {
        Ok(self.read("calls_in_flight")?.calls_in_flight.get(org_id).copied().unwrap_or_default())
    }

    async fn nps_days(&self, org_id: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<NpsDay>> {
        let st = self.read("nps_days")?;
        Ok(st
            .nps_days
            .range((org_id.to_string(), from)..=(org_id.to_string(), to))
            .map(|((_, date), groups): (&(String, NaiveDate), &BTreeMap<String, NpsCounts>)| NpsDay { date: *date, groups: groups.clone() })
            .collect())
    }
}
