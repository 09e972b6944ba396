//! Customers by hand: created, edited, found by search (`docs/customers.md`); and a customer's
//! data: everything stored about them (export), and erasure (both an admin's).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use tracing::info;

use crate::domain::audit::AuditActor;
use crate::domain::customer::{Customer, CustomerChanges, CustomerSearch, NewCustomer};
use crate::domain::erasure::CustomerRecord;
use crate::domain::ids::new_id;
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{CustomerAdded, CustomerDirectory, CustomerRecords, Page, PageRequest};

/// `POST /v1/customers`: a customer with what the business knows of them. A phone becomes their
/// WhatsApp identity (their messages land on them); a phone or external id that is already a
/// customer's answers 409 with that customer's id (`current`), and nothing is written — so a
/// repeated create changes nothing either.
pub async fn create(directory: &dyn CustomerDirectory, org_id: &str, input: &NewCustomer, by: &str, now: DateTime<Utc>) -> Result<Customer> {
    let (customer, identity) = input.customer(new_id(now), org_id, by, now)?;
    match directory.add_customer(&customer, identity.as_ref()).await? {
        CustomerAdded::Stored => {
            info!(org_id, customer_id = customer.id, by, "customer created");
            Ok(customer)
        }
        CustomerAdded::Taken { field, customer_id } => Err(Error::conflict(format!("{field}: already customer {customer_id}'s"), customer_id)),
    }
}

/// `PATCH /v1/customers/{id}`: the changes, made over the version the caller read (409 when the
/// customer changed since, `current` being the version now).
pub async fn update(directory: &dyn CustomerDirectory, org_id: &str, customer_id: &str, changes: &CustomerChanges, now: DateTime<Utc>) -> Result<Customer> {
    retry_lost_updates("customer", |_| async move {
        let stored = stored_customer(directory, org_id, customer_id).await?;
        let next = stored.changed(changes, now)?;
        directory.save_customer(&stored, &next).await?;
        Ok(next)
    })
    .await
}

/// The customer as stored now (a strongly consistent read: a version check must see the last write).
async fn stored_customer(directory: &dyn CustomerDirectory, org_id: &str, customer_id: &str) -> Result<Customer> {
    directory.customers_by_id(org_id, &[customer_id.to_string()]).await?.pop().ok_or(Error::NotFound("customer"))
}

/// `GET /v1/customers?q=`: customers whose name words, phone digits, email or external id start
/// with the query's words, in the order of the term they were found by; a page of the index
/// (`limit` entries) may answer fewer customers, and its cursor goes on from there.
pub async fn search(directory: &dyn CustomerDirectory, org_id: &str, q: &str, page: &PageRequest) -> Result<Page<Customer>> {
    let search = CustomerSearch::parse(q)?;
    let hits = directory.search_terms(org_id, &search.key, page).await?;
    let ids: Vec<String> = hits.items.iter().map(|h| h.customer_id.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let customers = directory.customers_by_id(org_id, &ids).await?;
    let items = hits
        .items
        .iter()
        .filter_map(|hit| customers.iter().find(|c| c.id == hit.customer_id && search.answers(c, &hit.term)))
        .cloned()
        .collect();
    Ok(Page { items, next_cursor: hits.next_cursor })
}

/// Everything stored about the customer (`GET /v1/customers/{id}/export`).
pub async fn export(records: &dyn CustomerRecords, org_id: &str, customer_id: &str) -> Result<CustomerRecord> {
    records.customer_record(org_id, customer_id).await?.ok_or(Error::NotFound("customer"))
}

/// Erases the customer (`DELETE /v1/customers/{id}`): what identifies or quotes them is removed
/// from every record of theirs, the records and so every count stay. Their open conversations are
/// closed as a close closes them: the agents' places given back and their SLA clocks counted in
/// the same write (a conversation changed meanwhile reads everything again), then each freed
/// agent takes their next. Erasing again writes nothing new.
pub async fn erase(records: &dyn CustomerRecords, routing: &crate::app::routing::RoutingPorts<'_>, org_id: &str, customer_id: &str, by: &AuditActor, at: DateTime<Utc>) -> Result<()> {
    let erasure = retry_lost_updates("conversation", |_| async move {
        let erasure = export(records, org_id, customer_id).await?.erasure(at);
        if !erasure.is_empty() {
            // The trail says only that the customer was erased, and by whom.
            records.store_erasure(&erasure, Some(&by.erasure(at, org_id, customer_id))).await?;
        }
        Ok(erasure)
    })
    .await?;
    for place in &erasure.places_given_back {
        crate::app::routing::agent_freed(routing, org_id, &place.change.agent_id, Some(&place.conversation_id), at).await?;
    }
    info!(
        org_id,
        customer_id,
        conversations = erasure.conversations.len(),
        places_given_back = erasure.places_given_back.len(),
        messages = erasure.messages.len(),
        tickets = erasure.tickets.len(),
        actions = erasure.actions.len(),
        interactions = erasure.interactions.len(),
        "customer erased"
    );
    Ok(())
}
