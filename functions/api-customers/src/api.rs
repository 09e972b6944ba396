#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of this function's routes (OpenAPI, assembled by max-dev). The statuses every
//! route shares (401, 422 for the query, 500; 400/413 for a body) are added there, once.

use max_core::app::customer_context::CustomerContext;
use crate::directory::SearchQuery;
use max_core::app::rate_limits::CustomerView;
use max_core::domain::customer::{Customer, CustomerChanges, NewCustomer};
use max_core::domain::customer_link::{CustomerLink, LinkRequest};
use max_core::domain::erasure::CustomerRecord;
use max_core::domain::transaction::{NewTransaction, TransactionShape};
use max_core::http::{PageBody, PageQuery};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(search_customers, create_customer, update_customer, get_customer, erase_customer, export_customer, unblock_customer, record_transaction, list_transactions, customer_context, link_customer, unlink_customer))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// Customers whose name words, phone digits, email or external id start with `q` (each of its
/// words), in the order of the index term they were found by. A page reads `limit` index entries
/// and may answer fewer customers (each customer once); follow `next_cursor` to the end.
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(SearchQuery),
    responses((status = 200, description = "A page of customers", body = PageBody<Customer>)))]
fn search_customers() {}

/// Creates a customer (201). A `phone` becomes their WhatsApp identity (linked by the caller):
/// messages from that number land on them. A phone or external id that is already a customer's
/// answers 409 with that customer's id in `current`, writing nothing.
#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = NewCustomer,
    responses(
        (status = 201, description = "Created", body = Customer),
        (status = 409, description = "The phone or external id is already a customer's (`current`: their id)"),
    ))]
fn create_customer() {}

/// Changes name, email, tags, notes, language (`null` clears one; absent leaves it) over the
/// `version` read; 409 when the customer changed since (`current`: the version now).
#[utoipa::path(patch, path = "/v1/customers/{id}", tag = "customers", params(("id" = String, Path)), request_body = CustomerChanges,
    responses(
        (status = 200, description = "The customer, changed", body = Customer),
        (status = 404, description = "No such customer"),
        (status = 409, description = "The customer changed since `version` (`current`: the version now)"),
    ))]
fn update_customer() {}

/// A customer, with the rate-limit block holding now (`blocked`, `null` when none).
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers", params(("id" = String, Path)),
    responses((status = 200, description = "The customer", body = CustomerView), (status = 404, description = "No such customer")))]
fn get_customer() {}

/// Erases the customer (admins): names, numbers, addresses, message bodies and media references,
/// ticket, action and interaction texts are removed from every record of theirs; the records stay,
/// so every count stays; their conversations are closed. Erasing again changes nothing.
#[utoipa::path(delete, path = "/v1/customers/{id}", tag = "customers", params(("id" = String, Path)),
    responses(
        (status = 204, description = "Erased"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such customer"),
    ))]
fn erase_customer() {}

/// Everything stored about the customer (admins): the customer, their identities, conversations
/// and messages, tickets and their messages, actions and interactions.
#[utoipa::path(get, path = "/v1/customers/{id}/export", tag = "customers", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The customer's records", body = CustomerRecord),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such customer"),
    ))]
fn export_customer() {}

/// Lifts the customer's rate-limit block (supervisors, admins) and starts their counts afresh:
/// their next message is answered again. A customer who is not blocked stays as they are.
#[utoipa::path(post, path = "/v1/customers/{id}/unblock", tag = "customers", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The customer, unblocked", body = CustomerView),
        (status = 403, description = "Not a supervisor or an admin"),
        (status = 404, description = "No such customer"),
    ))]
fn unblock_customer() {}

/// Records a transaction from the business's systems (an order, a payment, a refund), idempotent
/// on its `id`: the same body again answers the first (200, nothing changes); another body under
/// a recorded id is refused (409) and the first stands. 422 names the field (an unknown
/// currency, a date more than a day ahead).
#[utoipa::path(post, path = "/v1/customers/{id}/transactions", tag = "customers", params(("id" = String, Path)), request_body = NewTransaction,
    responses(
        (status = 201, description = "Recorded", body = TransactionShape),
        (status = 200, description = "Recorded before with the same values", body = TransactionShape),
        (status = 404, description = "No such customer"),
        (status = 409, description = "Recorded before with other values"),
    ))]
fn record_transaction() {}

/// The customer's transactions, newest `occurred_at` first.
#[utoipa::path(get, path = "/v1/customers/{id}/transactions", tag = "customers", params(("id" = String, Path), PageQuery),
    responses((status = 200, description = "A page of transactions", body = PageBody<TransactionShape>), (status = 404, description = "No such customer")))]
fn list_transactions() {}

/// The customer context panel: the customer (identities, tags, `merged_into`), their most recent
/// conversations (status, last message, dates), open tickets, open interactions split into
/// next / pending / overdue by the clock, recent actions with their answers, feedback calls with
/// their NPS, and the newest transactions. A handful of by-customer reads, no scan.
#[utoipa::path(get, path = "/v1/customers/{id}/context", tag = "customers", params(("id" = String, Path)),
    responses((status = 200, description = "The customer's context", body = CustomerContext), (status = 404, description = "No such customer")))]
fn customer_context() {}

/// Links the customer `customer_id` (the secondary) into this one (the primary; supervisors and
/// admins): the secondary's identities and conversations become the primary's — its next messages
/// land on the primary — and reading the secondary answers `merged_into`. Its other records stay
/// its own and show in the primary's context. Asking again finishes a link cut short and changes
/// nothing more. 409 names `customer_id` for the customer itself, one already linked (`current`:
/// its primary) or holding linked customers, `id` for a primary itself linked elsewhere.
#[utoipa::path(post, path = "/v1/customers/{id}/link", tag = "customers", params(("id" = String, Path)), request_body = LinkRequest,
    responses(
        (status = 200, description = "Linked: the link with what it moved", body = CustomerLink),
        (status = 403, description = "Not a supervisor or an admin"),
        (status = 404, description = "No such customer (either of them)"),
        (status = 409, description = "The link is refused (`detail` names the field)"),
    ))]
fn link_customer() {}

/// Undoes the link of `customer_id` into this customer (supervisors and admins): the identities
/// and the conversations the link moved go back, `merged_into` is cleared. Asking again changes
/// nothing more; 409 when `customer_id` is not linked into this customer.
#[utoipa::path(post, path = "/v1/customers/{id}/unlink", tag = "customers", params(("id" = String, Path)), request_body = LinkRequest,
    responses(
        (status = 200, description = "Unlinked: the link as it ended", body = CustomerLink),
        (status = 403, description = "Not a supervisor or an admin"),
        (status = 404, description = "No such customer (either of them)"),
        (status = 409, description = "Not linked into this customer"),
    ))]
fn unlink_customer() {}
