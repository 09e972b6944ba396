//! A customer's data: everything stored about them (export), and erasure. Both are an admin's.

use chrono::{DateTime, Utc};
use tracing::info;

use crate::domain::erasure::CustomerRecord;
use crate::error::{Error, Result};
use crate::ports::CustomerRecords;

/// Everything stored about the customer (`GET /v1/customers/{id}/export`).
pub async fn export(records: &dyn CustomerRecords, org_id: &str, customer_id: &str) -> Result<CustomerRecord> {
    records.customer_record(org_id, customer_id).await?.ok_or(Error::NotFound("customer"))
}

/// Erases the customer (`DELETE /v1/customers/{id}`): what identifies or quotes them is removed
/// from every record of theirs, the records and so every count stay. Erasing again writes
/// nothing new.
pub async fn erase(records: &dyn CustomerRecords, org_id: &str, customer_id: &str, at: DateTime<Utc>) -> Result<()> {
    let record = export(records, org_id, customer_id).await?;
    let erasure = record.erasure(at);
    if !erasure.is_empty() {
        records.store_erasure(&erasure).await?;
    }
    info!(
        org_id,
        customer_id,
        conversations = erasure.conversations.len(),
        messages = erasure.messages.len(),
        tickets = erasure.tickets.len(),
        actions = erasure.actions.len(),
        interactions = erasure.interactions.len(),
        "customer erased"
    );
    Ok(())
}
