//! `app::campaigns`: a campaign's start queued in pages, each customer started once however often
//! a page is delivered, unknown customers skipped, counters and metrics kept by the writes that
//! move them, validation, tenancy.

use super::*;
use crate::app::campaigns::{CampaignPageJob, NextStepQueueJob, PageOutcome, create, get, list, start_page};
use crate::app::interactions::{Actor, cancel, complete, templates};
use crate::domain::campaign::{Campaign, CampaignStatus, NewCampaign};
use crate::domain::customer::NewCustomer;
use crate::domain::interaction::Completion;
use crate::ports::{InteractionFilter, InteractionStore, PageRequest, Written};

const ADMIN: Actor<'static> = Actor { org_id: ORG, user_id: "admin-1" };

/// GIVEN `n` customers of the organisation named "Anna n" (ids in creation order).
async fn given_customers(w: &World, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let input: NewCustomer = serde_json::from_value(json!({ "name": format!("Anna {i}") })).unwrap();
        ids.push(crate::app::customers::create(w.store(), ORG, &input, "admin-1", t(0)).await.unwrap().id);
    }
    ids
}

async fn starter_template(w: &World) -> String {
    templates(w.store(), ORG, t(0)).await.unwrap()[0].id.clone()
}

fn named(template: &str, ids: &[String]) -> NewCampaign {
    serde_json::from_value(json!({ "name": "Spring renewals", "workflow_template_id": template, "customer_ids": ids })).unwrap()
}

/// The page jobs the create queued (taken off the queue).
fn page_jobs(w: &World) -> Vec<CampaignPageJob> {
    w.outbox()
        .take(Queue::NextSteps)
        .iter()
        .map(|m| match serde_json::from_str::<NextStepQueueJob>(&m.body).unwrap() {
            NextStepQueueJob::CampaignPage(job) => job,
            other => panic!("not a campaign page: {other:?}"),
        })
        .collect()
}

async fn run_pages(w: &World, jobs: &[CampaignPageJob]) -> PageOutcome {
    let mut total = PageOutcome::default();
    for job in jobs {
        let done = start_page(&w.deps.campaign_ports(), job, t(5)).await.unwrap();
        total.started += done.started;
        total.skipped += done.skipped;
        total.already += done.already;
    }
    total
}

async fn campaign_interactions(w: &World, campaign: &Campaign) -> Vec<crate::domain::interaction::Interaction> {
    let all = w.store().interactions(ORG, &InteractionFilter::default(), &PageRequest { limit: 100, cursor: None }).await.unwrap();
    all.items.into_iter().filter(|i| i.campaign_id.as_deref() == Some(campaign.id.as_str())).collect()
}

#[tokio::test(start_paused = true)]
async fn a_campaign_starts_each_customer_once_in_pages_even_when_a_page_is_delivered_twice() {
    let w = World::new();
    let mut ids = given_customers(&w, 150).await;
    ids.push("not-a-customer".into());
    let template = starter_template(&w).await;
    // WHEN an admin creates a campaign of 151 ids
    let campaign = create(&w.deps.campaign_ports(), &ADMIN, named(&template, &ids), None, t(1)).await.unwrap().0;
    // THEN it answers at once, starting, with its start queued in pages of 100
    assert_eq!((campaign.status, campaign.targeted, campaign.queued, campaign.started), (Some(CampaignStatus::Starting), 151, 151, 0));
    let jobs = page_jobs(&w);
    assert_eq!(jobs.iter().map(|j| j.customer_ids.len()).collect::<Vec<_>>(), vec![100, 51]);
    // WHEN the pages run, then the first one is delivered again
    let done = run_pages(&w, &jobs).await;
    assert_eq!((done.started, done.skipped, done.already), (150, 1, 0));
    let again = run_pages(&w, &jobs[..1]).await;
    // THEN nobody is started twice: one interaction per customer, counters unchanged
    assert_eq!((again.started, again.skipped, again.already), (0, 0, 100));
    let stored = get(w.store(), ORG, &campaign.id).await.unwrap();
    assert_eq!((stored.status, stored.started, stored.skipped, stored.queued), (Some(CampaignStatus::Started), 150, 1, 0));
    let mut created = Vec::new();
    let mut cursor = None;
    loop {
        let page = w.store().interactions(ORG, &InteractionFilter::default(), &PageRequest { limit: 100, cursor }).await.unwrap();
        created.extend(page.items.into_iter().filter(|i| i.campaign_id.as_deref() == Some(campaign.id.as_str())));
        if page.next_cursor.is_none() {
            break;
        }
        cursor = page.next_cursor;
    }
    let customers: std::collections::BTreeSet<_> = created.iter().map(|i| i.customer_id.clone()).collect();
    assert_eq!((created.len(), customers.len()), (150, 150));
    // Each is the workflow's first step, dated from the campaign, assigned to its creator.
    let first = &created[0];
    assert_eq!((first.step_number, first.template_id.as_deref(), first.assignee_id.as_deref()), (Some(1), Some(template.as_str()), Some("admin-1")));
    assert_eq!(first.id, campaign.interaction_id(&first.customer_id));
}

#[tokio::test(start_paused = true)]
async fn completing_and_cancelling_its_interactions_move_the_campaigns_metrics_once() {
    let w = World::new();
    let ids = given_customers(&w, 4).await;
    let template = starter_template(&w).await;
    let campaign = create(&w.deps.campaign_ports(), &ADMIN, named(&template, &ids), None, t(1)).await.unwrap().0;
    run_pages(&w, &page_jobs(&w)).await;
    let mine = campaign_interactions(&w, &campaign).await;
    let ports = w.deps.interaction_ports();
    let done = Completion { outcome: "renewed".into(), outcome_details: None };
    // WHEN one is completed (and the complete retried: 409), one cancelled
    complete(&ports, ORG, &mine[0].id, &done, t(10)).await.unwrap();
    assert!(matches!(complete(&ports, ORG, &mine[0].id, &done, t(11)).await, Err(Error::Conflict { .. })));
    cancel(w.store(), ORG, &mine[1].id, t(12)).await.unwrap();
    // THEN completed 1, cancelled 1, rate 1/4
    let c = get(w.store(), ORG, &campaign.id).await.unwrap();
    assert_eq!((c.completed, c.cancelled, c.overdue), (1, 1, 0));
    assert!((c.completion_rate - 0.25).abs() < 1e-9);
    // WHEN the next step of the completed one is created and completed
    let jobs: Vec<_> = w.outbox().take(Queue::NextSteps);
    let job: crate::app::interactions::NextStepJob = serde_json::from_str(&jobs[0].body).unwrap();
    let next_id = match crate::app::interactions::create_next_step(w.store(), w.store(), &job, t(13)).await.unwrap() {
        crate::app::interactions::NextStepOutcome::Created { next_id } => next_id,
        other => panic!("{other:?}"),
    };
    assert_eq!(w.store().interaction(ORG, &next_id).await.unwrap().unwrap().campaign_id.as_deref(), Some(campaign.id.as_str()));
    complete(&ports, ORG, &next_id, &done, t(14)).await.unwrap();
    // THEN the campaign's metrics count only what it created
    assert_eq!(get(w.store(), ORG, &campaign.id).await.unwrap().completed, 1);
}

#[tokio::test(start_paused = true)]
async fn an_overdue_alert_on_its_interaction_is_counted_once() {
    let w = World::new();
    let ids = given_customers(&w, 1).await;
    let template = starter_template(&w).await;
    let campaign = create(&w.deps.campaign_ports(), &ADMIN, named(&template, &ids), None, t(1)).await.unwrap().0;
    run_pages(&w, &page_jobs(&w)).await;
    let mine = &campaign_interactions(&w, &campaign).await[0];
    // WHEN the interaction scheduler runs twice after it is due
    let late = mine.due_at + Duration::seconds(30);
    crate::app::interaction_alerts::run_scheduler(w.store(), late).await.unwrap();
    crate::app::interaction_alerts::run_scheduler(w.store(), late).await.unwrap();
    // THEN overdue is 1
    assert_eq!(get(w.store(), ORG, &campaign.id).await.unwrap().overdue, 1);
}

#[tokio::test(start_paused = true)]
async fn a_filter_campaign_finds_its_customers_page_by_page() {
    let w = World::new();
    given_customers(&w, 120).await;
    let input: NewCustomer = serde_json::from_value(json!({ "name": "Bob Other" })).unwrap();
    crate::app::customers::create(w.store(), ORG, &input, "admin-1", t(0)).await.unwrap();
    let template = starter_template(&w).await;
    let body: NewCampaign = serde_json::from_value(json!({ "name": "Annas", "workflow_template_id": template, "filter": { "q": "anna" } })).unwrap();
    let campaign = create(&w.deps.campaign_ports(), &ADMIN, body, None, t(1)).await.unwrap().0;
    assert_eq!((campaign.targeted, campaign.status), (0, Some(CampaignStatus::Starting)));
    // WHEN each page runs (each queues the next), the first twice
    let first = page_jobs(&w);
    run_pages(&w, &first).await;
    let mut pages = 1;
    loop {
        let next = page_jobs(&w);
        if next.is_empty() {
            break;
        }
        run_pages(&w, &next).await;
        pages += 1;
    }
    run_pages(&w, &first).await;
    w.outbox().take(Queue::NextSteps);
    // THEN the 120 Annas are targeted and started once, Bob is not
    let c = get(w.store(), ORG, &campaign.id).await.unwrap();
    assert!(pages >= 2, "120 customers are more than a page");
    assert_eq!((c.targeted, c.started, c.skipped, c.status), (120, 120, 0, Some(CampaignStatus::Started)));
}

#[tokio::test(start_paused = true)]
async fn a_bad_campaign_is_refused_before_anything_is_stored_and_another_organisation_sees_none() {
    let w = World::new();
    let ids = given_customers(&w, 2).await;
    let template = starter_template(&w).await;
    let ports = w.deps.campaign_ports();
    let field = |r: crate::error::Result<(Campaign, Written)>| match r {
        Err(Error::Invalid { field, .. }) => field,
        other => panic!("not a 422: {other:?}"),
    };
    let twice = vec![ids[0].clone(), ids[1].clone(), ids[0].clone()];
    assert_eq!(field(create(&ports, &ADMIN, named(&template, &twice), None, t(1)).await), "customer_ids[2]");
    assert_eq!(field(create(&ports, &ADMIN, named("no-such-template", &ids), None, t(1)).await), "workflow_template_id");
    assert!(w.outbox().jobs(Queue::NextSteps).is_empty(), "nothing queued");
    assert!(list(w.store(), ORG, &PageRequest { limit: 10, cursor: None }).await.unwrap().items.is_empty());
    // GIVEN a campaign, another organisation finds nothing
    let campaign = create(&ports, &ADMIN, named(&template, &ids), None, t(1)).await.unwrap().0;
    assert!(matches!(get(w.store(), OTHER_ORG, &campaign.id).await, Err(Error::NotFound(_))));
    assert!(list(w.store(), OTHER_ORG, &PageRequest { limit: 10, cursor: None }).await.unwrap().items.is_empty());
    assert_eq!(list(w.store(), ORG, &PageRequest { limit: 10, cursor: None }).await.unwrap().items.len(), 1);
    // A page job naming another organisation's customers starts nobody.
    let stray = CampaignPageJob { org_id: OTHER_ORG.into(), campaign_id: campaign.id.clone(), page: 0, customer_ids: ids.clone(), cursor: None };
    assert_eq!(start_page(&ports, &stray, t(2)).await.unwrap(), PageOutcome::default());
}

#[tokio::test(start_paused = true)]
async fn a_retried_create_with_its_idempotency_key_answers_the_first_campaign_and_starts_nobody_twice() {
    use crate::domain::ids::IdempotencyKey;
    let w = World::new();
    let ids = given_customers(&w, 3).await;
    let template = starter_template(&w).await;
    let ports = w.deps.campaign_ports();
    let key = |request: &str| IdempotencyKey::for_request("campaign-1", request.as_bytes());
    // WHEN an admin creates a campaign with a key, and the client retries it later
    let (first, written) = create(&ports, &ADMIN, named(&template, &ids), Some(&key("POST spring")), t(1)).await.unwrap();
    assert_eq!(written, Written::Stored);
    let (again, written) = create(&ports, &ADMIN, named(&template, &ids), Some(&key("POST spring")), t(5)).await.unwrap();
    // THEN the retry answers the first campaign; there is one campaign
    assert_eq!((written, again.id.as_str(), again.created_at), (Written::AlreadyThere, first.id.as_str(), first.created_at));
    assert_eq!(list(w.store(), ORG, &PageRequest { limit: 10, cursor: None }).await.unwrap().items.len(), 1);
    // AND its pages are queued again (the first may have died before queuing), yet running
    // them all starts each customer once
    let jobs = page_jobs(&w);
    assert_eq!(jobs.len(), 2, "the first request's page and the retry's");
    let done = run_pages(&w, &jobs).await;
    assert_eq!((done.started, done.already), (3, 3));
    assert_eq!(campaign_interactions(&w, &first).await.len(), 3);
    // AND the same key with another request is 422, naming the header, and stores nothing
    let other = create(&ports, &ADMIN, named(&template, &ids[..1]), Some(&key("POST autumn")), t(6)).await;
    assert!(matches!(&other, Err(Error::Invalid { field, .. }) if field == "Idempotency-Key"), "{other:?}");
    // AND another organisation's same key is its own
    let theirs = Actor { org_id: OTHER_ORG, user_id: "admin-2" };
    let other_template = templates(w.store(), OTHER_ORG, t(0)).await.unwrap()[0].id.clone();
    let (theirs, written) = create(&ports, &theirs, named(&other_template, &ids[..1]), Some(&key("POST spring")), t(7)).await.unwrap();
    assert_eq!(written, Written::Stored);
    assert_ne!(theirs.id, first.id);
}
