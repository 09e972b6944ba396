//! Campaigns (issue 16): `POST /v1/campaigns` stores the campaign and queues its start as page
//! jobs on the next-step queue; each page job starts its customers, each exactly once
//! (`docs/interactions.md`, "Campaigns").

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::app::interactions::{Actor, NextStepJob, catalog_seeded};
use crate::domain::campaign::{Audience, Campaign, CampaignStart, NewCampaign, PAGE_SIZE, STARTS_PER_WRITE};
use crate::domain::ids::{IdempotencyKey, new_id};
use crate::domain::workflow::first_interaction;
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{CampaignStore, CustomerDirectory, Outbox, Page, PageRequest, Queue, QueueMessage, WorkflowStore, Written};

/// Everything the campaign use cases touch.
pub struct CampaignPorts<'a> {
    pub campaigns: &'a dyn CampaignStore,
    pub workflows: &'a dyn WorkflowStore,
    pub customers: &'a dyn CustomerDirectory,
    pub outbox: &'a dyn Outbox,
}

/// A page of a campaign's start, on the next-step queue: the customers named (a campaign of
/// `customer_ids`), or the customer search's page at `cursor` (a campaign of a `filter`, whose
/// job queues the next page when it is done).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignPageJob {
    pub org_id: String,
    pub campaign_id: String,
    pub page: u32,
    #[serde(default)]
    pub customer_ids: Vec<String>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// What the next-step queue carries.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum NextStepQueueJob {
    CampaignPage(CampaignPageJob),
    NextStep(NextStepJob),
}

/// What one page job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOutcome {
    pub started: usize,
    pub skipped: usize,
    /// Started (or skipped) by an earlier delivery of this page: nothing written for them.
    pub already: usize,
}

pub async fn get(campaigns: &dyn CampaignStore, org_id: &str, id: &str) -> Result<Campaign> {
    Ok(campaigns.campaign(org_id, id).await?.ok_or(Error::NotFound("campaign"))?.with_progress())
}

pub async fn list(campaigns: &dyn CampaignStore, org_id: &str, page: &PageRequest) -> Result<Page<Campaign>> {
    let page = campaigns.campaigns(org_id, page).await?;
    Ok(Page { items: page.items.into_iter().map(Campaign::with_progress).collect(), next_cursor: page.next_cursor })
}

/// Stores the campaign and queues its start; answers at once (`starting`), whatever the size.
/// With an `Idempotency-Key`, a retry answers the campaign the first request created
/// (`Written::AlreadyThere`) and queues its pages again: the first may have died between its
/// write and its jobs, and a page run again starts nobody twice. The same key with another
/// request is 422.
pub async fn create(ports: &CampaignPorts<'_>, actor: &Actor<'_>, request: NewCampaign, idempotency_key: Option<&IdempotencyKey>, now: DateTime<Utc>) -> Result<(Campaign, Written)> {
    let audience = request.validate()?;
    let org_id = actor.org_id;
    if let Some(key) = idempotency_key
        && let Some(first) = ports.campaigns.campaign_by_key(org_id, &key.key).await?
    {
        return repeated(ports, key, first, &audience).await;
    }
    let catalog = catalog_seeded(ports.workflows, actor.org_id, now).await?;
    let template =
        catalog.template(&request.workflow_template_id).ok_or_else(|| Error::invalid("workflow_template_id", "no template with this id"))?;
    if !template.is_active {
        return Err(Error::conflict("the template is inactive: activate it to start its workflow", "inactive"));
    }
    let id = idempotency_key.map_or_else(|| new_id(now), |k| k.id_at(org_id, now));
    let campaign = Campaign::new(id, org_id, &request, &audience, actor.user_id, now);
    if ports.campaigns.create_campaign(&campaign, idempotency_key.map(|k| k.key.as_str())).await? == Written::AlreadyThere {
        // A concurrent request with the same key won (without a key, ids do not collide).
        let key = idempotency_key.ok_or_else(|| Error::conflict("a campaign with this id exists already", "exists"))?;
        let first = ports.campaigns.campaign_by_key(org_id, &key.key).await?.ok_or_else(|| Error::conflict("a campaign with this id exists already", "exists"))?;
        return repeated(ports, key, first, &audience).await;
    }
    queue_pages(ports.outbox, &page_jobs(&campaign, &audience)).await?;
    info!(org_id, campaign_id = campaign.id, targeted = campaign.targeted, "campaign created; its start is queued");
    Ok((campaign, Written::Stored))
}

/// A repeated `Idempotency-Key`: the first campaign if this is the same request, its pages
/// queued again.
async fn repeated(ports: &CampaignPorts<'_>, key: &IdempotencyKey, first: Campaign, audience: &Audience) -> Result<(Campaign, Written)> {
    key.check_first(&first.org_id, &first.id, first.created_at)?;
    queue_pages(ports.outbox, &page_jobs(&first, audience)).await?;
    info!(org_id = first.org_id, campaign_id = first.id, "campaign requested again with its Idempotency-Key; its start is queued again");
    Ok((first.with_progress(), Written::AlreadyThere))
}

/// The page jobs of a campaign's start: the named customers by [`PAGE_SIZE`], or a filter's
/// first page (each filter page queues the next).
pub fn page_jobs(campaign: &Campaign, audience: &Audience) -> Vec<CampaignPageJob> {
    let job = |page: usize, customer_ids: Vec<String>| CampaignPageJob {
        org_id: campaign.org_id.clone(),
        campaign_id: campaign.id.clone(),
        page: page as u32,
        customer_ids,
        cursor: None,
    };
    match audience {
        Audience::Customers(ids) => ids.chunks(PAGE_SIZE).enumerate().map(|(n, chunk)| job(n, chunk.to_vec())).collect(),
        Audience::Search(_) => vec![job(0, Vec::new())],
    }
}

async fn queue_pages(outbox: &dyn Outbox, jobs: &[CampaignPageJob]) -> Result<()> {
    let messages = jobs
        .iter()
        .map(|job| serde_json::to_string(job).map(|body| QueueMessage { body, group_id: None, dedup_id: None }).map_err(|e| Error::backend("sqs", e)))
        .collect::<Result<Vec<_>>>()?;
    for batch in messages.chunks(10) {
        outbox.send_batch(Queue::NextSteps, batch).await?;
    }
    Ok(())
}

/// Starts one page of a campaign: each customer's first interaction of the workflow, exactly once
/// however often the job is delivered (a marker per customer, written with the interaction and
/// the counters; markers found already mean an earlier delivery did it). A filter's page then
/// queues the next page, or marks the targeting final after the last one.
pub async fn start_page(ports: &CampaignPorts<'_>, job: &CampaignPageJob, now: DateTime<Utc>) -> Result<PageOutcome> {
    let org_id = job.org_id.as_str();
    let Some(campaign) = ports.campaigns.campaign(org_id, &job.campaign_id).await? else {
        warn!(org_id, campaign_id = job.campaign_id, "page job of an unknown campaign dropped");
        return Ok(PageOutcome::default());
    };
    let (wanted, next_cursor) = match &campaign.filter {
        None => (job.customer_ids.iter().cloned().collect::<BTreeSet<_>>(), None),
        Some(filter) => {
            let page = PageRequest { limit: PAGE_SIZE as i32, cursor: job.cursor.clone() };
            let found = crate::app::customers::search(ports.customers, org_id, &filter.q, &page).await?;
            (found.items.into_iter().map(|c| c.id).collect(), found.next_cursor)
        }
    };
    let known: BTreeSet<String> = match &campaign.filter {
        // The search found them among the organisation's customers.
        Some(_) => wanted.clone(),
        None if wanted.is_empty() => BTreeSet::new(),
        None => ports.customers.customers_by_id(org_id, &wanted.iter().cloned().collect::<Vec<_>>()).await?.into_iter().map(|c| c.id).collect(),
    };
    let catalog = ports.workflows.workflow_catalog(org_id).await?;
    // The campaign was accepted with this template; a template is never deleted.
    let template = catalog.template(&campaign.workflow_template_id).ok_or(Error::NotFound("template"))?;
    let calendar = catalog.settings.calendar();
    let mut starts = Vec::with_capacity(wanted.len());
    for customer_id in wanted {
        let interaction = if known.contains(&customer_id) {
            // Every customer's dates count from the campaign's creation, not from when their page ran.
            let mut first = first_interaction(template, &calendar, campaign.interaction_id(&customer_id), &customer_id, campaign.created_at, campaign.created_by.as_deref(), now)?;
            first.campaign_id = Some(campaign.id.clone());
            first.plan_reminder(catalog.settings.reminder_lead(), now);
            Some(first)
        } else {
            None
        };
        starts.push(CampaignStart { customer_id, interaction });
    }
    let counts_targets = campaign.filter.is_some();
    let mut outcome = PageOutcome::default();
    for chunk in starts.chunks(STARTS_PER_WRITE) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            // Page jobs of one campaign running at once write the same campaign item: a lost race is retried.
            let pending_ref = &pending;
            let already = retry_lost_updates("campaign", |_| ports.campaigns.start_campaign_customers(org_id, &campaign.id, pending_ref, counts_targets)).await?;
            if already.is_empty() {
                outcome.started += pending.iter().filter(|s| s.interaction.is_some()).count();
                outcome.skipped += pending.iter().filter(|s| s.interaction.is_none()).count();
                break;
            }
            outcome.already += already.len();
            pending.retain(|s| !already.contains(&s.customer_id));
        }
    }
    if campaign.filter.is_some() {
        match next_cursor {
            Some(cursor) => {
                let next = CampaignPageJob { page: job.page + 1, customer_ids: Vec::new(), cursor: Some(cursor), ..job.clone() };
                queue_pages(ports.outbox, &[next]).await?;
            }
            None => ports.campaigns.finish_campaign_targeting(org_id, &campaign.id).await?,
        }
    }
    info!(org_id, campaign_id = campaign.id, page = job.page, started = outcome.started, skipped = outcome.skipped, already = outcome.already, "campaign page done");
    Ok(outcome)
}
