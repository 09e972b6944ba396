//! Linking customers (`POST /v1/customers/{id}/link` and `/unlink`, `docs/customers.md`): one
//! person who wrote on two channels becomes one customer. The job is resumable and recorded on
//! the secondary's link item:
//! 1. the switch (one transaction): the link item, both customers, the identity items re-pointed
//!    — from here a message from a moved identity lands on the primary;
//! 2. the conversations, [`CONVERSATIONS_PER_PAGE`] per transaction, each moved only while still
//!    the old customer's, so a page cut short and asked again moves each once and loses none;
//! 3. the link's end state, then one event (keyed by the link, so a retry records nothing new).
//!
//! An unlink runs the same steps the other way for what the link item lists.

use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::info;

use crate::domain::customer::{ChannelIdentity, Customer};
use crate::domain::customer_link::{CONVERSATIONS_PER_PAGE, CustomerLink, LinkPlan, LinkState, UnlinkPlan, linked, plan_link, plan_unlink, unlinked};
use crate::domain::event::{EventKind, NewEvent};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{CustomerDirectory, CustomerLinkStore, CustomerStore, EventStore, LinkSwitch};

/// The ports a link reads and writes.
#[derive(Clone, Copy)]
pub struct LinkPorts<'a> {
    /// The customers, read strongly consistent (the switch writes over their versions).
    pub directory: &'a dyn CustomerDirectory,
    /// The identity items.
    pub customers: &'a dyn CustomerStore,
    pub links: &'a dyn CustomerLinkStore,
    pub events: &'a dyn EventStore,
}

fn same_customer(primary_id: &str, secondary_id: &str) -> Result<()> {
    if primary_id == secondary_id {
        return Err(Error::conflict("customer_id: a customer cannot be linked with itself", "same_customer"));
    }
    Ok(())
}

/// Both customers as stored now; either unknown (or another organisation's): 404.
async fn both(ports: LinkPorts<'_>, org_id: &str, primary_id: &str, secondary_id: &str) -> Result<(Customer, Customer)> {
    let found = ports.directory.customers_by_id(org_id, &[primary_id.to_string(), secondary_id.to_string()]).await?;
    let take = |id: &str| found.iter().find(|c| c.id == id).cloned().ok_or(Error::NotFound("customer"));
    Ok((take(primary_id)?, take(secondary_id)?))
}

/// The identity items of `customer`'s list that lead to `leads_to` now: the ones a switch
/// re-points (its transaction checks each again).
async fn identity_items(ports: LinkPorts<'_>, org_id: &str, identities: &[crate::domain::customer::Identity], leads_to: &str) -> Result<Vec<ChannelIdentity>> {
    let mut items = Vec::new();
    for i in identities {
        if let Some(item) = ports.customers.identity(org_id, i.channel, &i.external_id).await?
            && item.customer_id == leads_to
        {
            items.push(item);
        }
    }
    Ok(items)
}

/// Links `secondary_id` into `primary_id` (the job above) and answers the link. Asking again
/// for a link done or cut short finishes it and changes nothing more.
pub async fn link(ports: LinkPorts<'_>, org_id: &str, primary_id: &str, secondary_id: &str, by: &str, now: DateTime<Utc>) -> Result<CustomerLink> {
    same_customer(primary_id, secondary_id)?;
    let started = retry_lost_updates("customer link", |_| async move {
        let (primary, secondary) = both(ports, org_id, primary_id, secondary_id).await?;
        let existing = ports.links.customer_link(org_id, secondary_id).await?;
        match plan_link(&primary, &secondary, existing.as_ref())? {
            LinkPlan::Resume(link) => Ok(link),
            LinkPlan::Start => {
                let (link, p, s) = linked(&primary, &secondary, by, now);
                let identities = identity_items(ports, org_id, &secondary.identities, secondary_id).await?;
                let step = LinkSwitch { link: &link, over: None, customers: [(&primary, &p), (&secondary, &s)], identities: &identities, from: secondary_id, to: primary_id };
                ports.links.switch_customers(&step).await?;
                Ok(link)
            }
        }
    })
    .await?;
    if started.state == LinkState::Moving {
        move_remaining(ports, &started, secondary_id, primary_id).await?;
        ports.links.end_link_step(&started.ended(LinkState::Done, None, now), LinkState::Moving).await?;
    }
    let done = current(ports, org_id, secondary_id).await?;
    let data = json!({
        "customer_id": done.customer_id, "primary_id": done.primary_id, "linked_by": done.linked_by,
        "identities": done.identities, "conversations": done.conversation_ids.len(),
    });
    ports.events.record_event(&NewEvent::new(org_id, EventKind::CustomerLinked, done.linked_at, data, done.event_key(EventKind::CustomerLinked.as_str()))).await?;
    info!(org_id, primary_id, secondary_id, conversations = done.conversation_ids.len(), "customer linked");
    Ok(done)
}

/// Undoes the link of `secondary_id` into `primary_id`: the identities and the conversations the
/// link item lists go back (with those a moved identity opened since), `merged_into` is cleared. Asking again changes nothing more.
pub async fn unlink(ports: LinkPorts<'_>, org_id: &str, primary_id: &str, secondary_id: &str, by: &str, now: DateTime<Utc>) -> Result<CustomerLink> {
    same_customer(primary_id, secondary_id)?;
    let switched = retry_lost_updates("customer link", |_| async move {
        let (primary, secondary) = both(ports, org_id, primary_id, secondary_id).await?;
        let existing = ports.links.customer_link(org_id, secondary_id).await?;
        match plan_unlink(&primary, &secondary, existing.as_ref())? {
            UnlinkPlan::Finished(_) | UnlinkPlan::Resume(_) => Ok(()),
            UnlinkPlan::Start(link) => {
                let (next, p, s) = unlinked(&link, &primary, &secondary, now);
                let identities = identity_items(ports, org_id, &link.identities, primary_id).await?;
                let step = LinkSwitch { link: &next, over: Some(link.state), customers: [(&primary, &p), (&secondary, &s)], identities: &identities, from: primary_id, to: secondary_id };
                ports.links.switch_customers(&step).await
            }
        }
    });
    switched.await?;
    // Read after the switch: no page of the link can record more conversations once it is unlinking.
    let link = current(ports, org_id, secondary_id).await?;
    if link.state == LinkState::Unlinking {
        let link = &link;
        let give_back = given_back(ports, link).await?;
        for listed in give_back.chunks(CONVERSATIONS_PER_PAGE) {
            retry_lost_updates("customer link", |_| async move {
                let back = ports.links.linked_among(org_id, primary_id, listed).await?;
                if back.is_empty() { Ok(()) } else { ports.links.move_conversations(link, &back, primary_id, secondary_id).await }
            })
            .await?;
        }
        ports.links.end_link_step(&link.ended(LinkState::Unlinked, Some(by), now), LinkState::Unlinking).await?;
    }
    let done = current(ports, org_id, secondary_id).await?;
    let data = json!({
        "customer_id": done.customer_id, "primary_id": done.primary_id, "unlinked_by": done.unlinked_by,
        "conversations": done.conversation_ids.len(),
    });
    let at = done.unlinked_at.unwrap_or(now);
    ports.events.record_event(&NewEvent::new(org_id, EventKind::CustomerUnlinked, at, data, done.event_key(EventKind::CustomerUnlinked.as_str()))).await?;
    info!(org_id, primary_id, secondary_id, "customer unlinked");
    Ok(done)
}

/// What an unlink gives back: the conversations the link moved, and the ones a moved identity
/// opened on the primary since (its open and its last conversation: where its next message would
/// land). Those still the primary's are moved; a conversation of that identity is its address's.
async fn given_back(ports: LinkPorts<'_>, link: &CustomerLink) -> Result<Vec<String>> {
    let mut ids = link.conversation_ids.clone();
    for i in &link.identities {
        if let Some(item) = ports.customers.identity(&link.org_id, i.channel, &i.external_id).await? {
            for id in [item.open_conversation_id, item.last_conversation_id].into_iter().flatten() {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
    }
    Ok(ids)
}

/// The link item as stored now.
async fn current(ports: LinkPorts<'_>, org_id: &str, secondary_id: &str) -> Result<CustomerLink> {
    ports.links.customer_link(org_id, secondary_id).await?.ok_or(Error::LostUpdate("customer link"))
}

/// Moves every conversation still `from`'s to `to`, a page per transaction; each page is read
/// again before it is moved, so a page another request moved first is not moved twice.
pub async fn move_remaining(ports: LinkPorts<'_>, link: &CustomerLink, from: &str, to: &str) -> Result<()> {
    loop {
        let moved = retry_lost_updates("customer link", |_| async move {
            let page = ports.links.conversations_linked(&link.org_id, from, CONVERSATIONS_PER_PAGE).await?;
            if !page.is_empty() {
                ports.links.move_conversations(link, &page, from, to).await?;
            }
            Ok(page.len())
        })
        .await?;
        if moved == 0 {
            return Ok(());
        }
    }
}
