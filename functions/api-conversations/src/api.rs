#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of this function's routes (OpenAPI, assembled by max-dev). The statuses every
//! route shares (401, 422 for the query, 500; 400/413 for a body) are added there, once.

use max_core::app::conversations::{CloseConversation, ConversationEdit};
use max_core::domain::conversation::Conversation;
use max_core::domain::rate_limit::RateLimitSettings;
use max_core::domain::message::Message;
use max_core::http::PageBody;
use utoipa::OpenApi;

use crate::{AssignBody, ListQuery, MessagesQuery, ReplyBody};

#[derive(OpenApi)]
#[openapi(paths(
    list_conversations,
    get_conversation,
    update_conversation,
    list_messages,
    send_message,
    assign_conversation,
    close_conversation,
    reopen_conversation,
    get_rate_limit_settings,
    put_rate_limit_settings
))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// Conversations, newest activity first.
#[utoipa::path(get, path = "/v1/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, description = "A page of conversations", body = PageBody<Conversation>)))]
fn list_conversations() {}

/// One conversation.
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "conversations", params(("id" = String, Path)),
    responses((status = 200, description = "The conversation", body = Conversation), (status = 404, description = "No such conversation")))]
fn get_conversation() {}

/// Sets the conversation's team (`null`: none), priority and required skills (supervisors and
/// admins). A new team or priority evaluates the SLA policy again: a different policy restarts
/// the clocks still running under its targets.
#[utoipa::path(patch, path = "/v1/conversations/{id}", tag = "conversations", params(("id" = String, Path)), request_body = ConversationEdit,
    responses(
        (status = 200, description = "The conversation", body = Conversation),
        (status = 403, description = "Not a supervisor or admin"),
        (status = 404, description = "No such conversation"),
        (status = 409, description = "Changed by another write meanwhile, over and over"),
        (status = 422, description = "No such team, a team while the organisation's routing settings do not let people set teams (`team_id`), or a bad skill (the field is named)"),
    ))]
fn update_conversation() {}

/// A page of a conversation's messages.
#[utoipa::path(get, path = "/v1/conversations/{id}/messages", tag = "conversations", params(("id" = String, Path), MessagesQuery),
    responses((status = 200, description = "A page of messages", body = PageBody<Message>), (status = 404, description = "No such conversation")))]
fn list_messages() {}

/// Queues a reply to the customer (text, template, buttons, list, media), or a canned response
/// (`canned_response_id`, `values`) rendered for the conversation: a variable still missing
/// answers 422 naming it (`values.order_id`); its attachments follow as further messages; its
/// use is counted once. Media may name an upload (`media_id` from `POST /v1/media`): it must be
/// the organisation's (404), of the same type (422) and its bytes uploaded (409 naming
/// `content.media_id` until they are); Meta gets it by a presigned link minted at send time. It
/// is stored as a `queued` message at once; reply-sender sends it.
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key answers the first message")),
    request_body = ReplyBody,
    responses(
        (status = 202, description = "Queued", body = Message),
        (status = 404, description = "No such conversation, canned response, or upload (`media_id`)"),
        (status = 409, description = "The conversation does not accept replies (closed, or outside the 24-hour window for free-form text), or the upload's bytes are not uploaded (as declared) yet"),
    ))]
fn send_message() {}

/// Assigns the conversation to a user, or unassigns it. An agent of a team's conversation is
/// counted against their capacity: admins may exceed it; for others a full or not online agent is
/// 409 `at_capacity`. Unassigned in a team with auto-assignment, it is routed to another agent.
#[utoipa::path(post, path = "/v1/conversations/{id}/assign", tag = "conversations", params(("id" = String, Path)), request_body = AssignBody,
    responses(
        (status = 200, description = "The conversation", body = Conversation),
        (status = 404, description = "No such conversation"),
        (status = 409, description = "The agent is at capacity or not online (only admins may exceed it)"),
    ))]
fn assign_conversation() {}

/// Closes the conversation (closing a closed one again is harmless). With an `outcome`, the
/// conversation's open interaction (tied to it by `conversation_id`, created before the close) is
/// completed with it, and its next step follows as after `POST /v1/interactions/{id}/complete`;
/// a second close completes nothing more.
#[utoipa::path(post, path = "/v1/conversations/{id}/close", tag = "conversations", params(("id" = String, Path)),
    request_body(content = CloseConversation, description = "The outcome of the conversation's interaction, if any (no body, or `{}`, closes it alone)"),
    responses(
        (status = 200, description = "The conversation", body = Conversation),
        (status = 404, description = "No such conversation"),
        (status = 422, description = "A body field is invalid (`field` names it): `outcome` (1–100 characters, not blank), or `outcome_details` without an outcome"),
    ))]
fn close_conversation() {}

/// Reopens the conversation.
#[utoipa::path(post, path = "/v1/conversations/{id}/reopen", tag = "conversations", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The conversation", body = Conversation),
        (status = 404, description = "No such conversation"),
        (status = 409, description = "Another conversation is open with this customer"),
    ))]
fn reopen_conversation() {}

/// The organisation's customer-side rate limits (the defaults until an admin saves some).
#[utoipa::path(get, path = "/v1/settings/rate-limits", tag = "settings",
    responses((status = 200, description = "The rate limits", body = RateLimitSettings)))]
fn get_rate_limit_settings() {}

/// Replaces the organisation's customer-side rate limits (admins). Inbound processing applies
/// them within a minute.
#[utoipa::path(put, path = "/v1/settings/rate-limits", tag = "settings", request_body = RateLimitSettings,
    responses(
        (status = 200, description = "The rate limits saved", body = RateLimitSettings),
        (status = 403, description = "Not an admin"),
        (status = 422, description = "A limit out of range (the field is named)"),
    ))]
fn put_rate_limit_settings() {}
