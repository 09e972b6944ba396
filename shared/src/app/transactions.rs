//! A customer's transactions, posted by the business's own systems (`docs/customer-context.md`):
//! recorded once per the business's id, listed newest first. The rules are
//! `domain::transaction`'s.

use chrono::{DateTime, Utc};

use crate::domain::transaction::{NewTransaction, Repeat, Transaction};
use crate::error::{Error, Result};
use crate::ports::{CustomerStore, Page, PageRequest, TransactionPut, TransactionStore, Written};

/// Records `new` for the customer: `Stored` the first time; the same body again answers the
/// recorded transaction (`AlreadyThere`, nothing changes); another body under a recorded id is a
/// conflict and the first stands. Another organisation's customer is not found.
pub async fn record(
    customers: &dyn CustomerStore,
    store: &dyn TransactionStore,
    org_id: &str,
    customer_id: &str,
    new: NewTransaction,
    now: DateTime<Utc>,
) -> Result<(Transaction, Written)> {
    new.validate(now)?;
    customers.customer(org_id, customer_id).await?.ok_or(Error::NotFound("customer"))?;
    let transaction = Transaction { org_id: org_id.to_string(), customer_id: customer_id.to_string(), fields: new, recorded_at: now };
    match store.record_transaction(&transaction).await? {
        TransactionPut::Stored => Ok((transaction, Written::Stored)),
        TransactionPut::Exists(first) => match first.repeat_of(&transaction.fields) {
            Repeat::Same => Ok((first, Written::AlreadyThere)),
            Repeat::Different => Err(Error::conflict(
                format!("transaction {} is recorded with other values; the first one stands", first.fields.id),
                "recorded",
            )),
        },
    }
}

/// The customer's transactions, newest first; another organisation's customer is not found.
pub async fn list(
    customers: &dyn CustomerStore,
    store: &dyn TransactionStore,
    org_id: &str,
    customer_id: &str,
    page: &PageRequest,
) -> Result<Page<Transaction>> {
    customers.customer(org_id, customer_id).await?.ok_or(Error::NotFound("customer"))?;
    store.transactions(org_id, customer_id, page).await
}
