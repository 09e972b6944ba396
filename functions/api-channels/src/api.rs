#![allow(dead_code)] // the functions only carry their operation's attributes
//! The contract of this function's routes (OpenAPI, assembled by max-dev). The statuses every
//! route shares (401, 422 for the query, 500; 400/413 for a body) are added there, once.

use max_core::app::channels::{ChannelView, Registered, Replayed};
use max_core::domain::channel::{ChannelRegistration, VoiceChannelView, VoiceRegistration};
use max_core::domain::chat_app::CreatedChatAppKey;

use crate::ChatAppKeys;
use max_core::http::{PageBody, PageQuery};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(
    list_channels, register_channel, remove_channel, replay_channel, list_chat_app_keys, create_chat_app_key, remove_chat_app_key, get_voice_account,
    register_voice_account, remove_voice_account
))]
struct Api;

/// This function's operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// The organisation's WhatsApp numbers, by phone number id (admins). A number's access token is
/// never shown: only whether it has one and when it was last rotated.
#[utoipa::path(get, path = "/v1/channels/whatsapp", tag = "channels", params(PageQuery),
    responses(
        (status = 200, description = "A page of numbers", body = PageBody<ChannelView>),
        (status = 403, description = "Not an admin"),
    ))]
fn list_channels() {}

/// Registers one of the organisation's WhatsApp numbers with its Graph access token (admins), or
/// registers it again (new details, a new token: rotation). The token is kept in the number's own
/// secret and never answered. Messages that came to the number before it was registered are
/// replayed at once (`replay`; when `more` is true, call the replay route for the rest).
#[utoipa::path(post, path = "/v1/channels/whatsapp", tag = "channels", request_body = ChannelRegistration,
    responses(
        (status = 201, description = "Registered", body = Registered),
        (status = 200, description = "Registered again: details replaced, token rotated", body = Registered),
        (status = 403, description = "Not an admin"),
        (status = 409, description = "The number, or its WhatsApp Business Account, is registered to another organisation"),
    ))]
fn register_channel() {}

/// Removes one of the organisation's numbers (admins): its token's secret is scheduled for
/// deletion, and messages to the number are quarantined again until it is registered.
#[utoipa::path(delete, path = "/v1/channels/whatsapp/{phoneNumberId}", tag = "channels",
    params(("phoneNumberId" = String, Path, description = "The number's phone_number_id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such number of the organisation"),
    ))]
fn remove_channel() {}

/// Queues again, through the normal inbound path, the messages kept for the number while it was
/// not registered (admins): the oldest 100 at a time, each once; what was queued leaves
/// quarantine, so asking again replays nothing twice.
#[utoipa::path(post, path = "/v1/channels/whatsapp/{phoneNumberId}/replay", tag = "channels",
    params(("phoneNumberId" = String, Path, description = "The number's phone_number_id")),
    responses(
        (status = 200, description = "What was queued again", body = Replayed),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such number of the organisation"),
    ))]
fn replay_channel() {}

/// The organisation's chat-app API keys (admins): ids and creation dates, never a secret.
#[utoipa::path(get, path = "/v1/channels/chat-app", tag = "channels",
    responses(
        (status = 200, description = "The keys (two at most)", body = ChatAppKeys),
        (status = 403, description = "Not an admin"),
    ))]
fn list_chat_app_keys() {}

/// Creates an API key for the organisation's chat app (admins): its id goes in `X-Max-Key-Id`, and
/// its HMAC-SHA256 secret, shown in this answer only, signs every call the app makes to
/// `/v1/channels/chat-app/messages` and `/statuses` (`docs/chat-app.md`). Two keys at most, so a
/// key is rotated without a gap: create the second, switch the app, delete the first.
#[utoipa::path(post, path = "/v1/channels/chat-app", tag = "channels",
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = CreatedChatAppKey),
        (status = 403, description = "Not an admin"),
        (status = 409, description = "The organisation holds two keys already"),
    ))]
fn create_chat_app_key() {}

/// Removes one of the organisation's chat-app keys (admins): calls signed with it are refused at
/// once, and its secret is scheduled for deletion.
#[utoipa::path(delete, path = "/v1/channels/chat-app/keys/{keyId}", tag = "channels",
    params(("keyId" = String, Path, description = "The key's id (`cak_…`)")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such key of the organisation"),
    ))]
fn remove_chat_app_key() {}

/// The organisation's voice account for the feedback calls (admins): its Twilio account sid and
/// caller id; never the auth token, only when it was last stored.
#[utoipa::path(get, path = "/v1/channels/voice", tag = "channels",
    responses(
        (status = 200, description = "The voice account", body = VoiceChannelView),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "The organisation has registered none"),
    ))]
fn get_voice_account() {}

/// Registers the organisation's voice account (admins), or registers it again (rotation): feedback
/// calls are placed with it and its callbacks verified with its auth token, kept in the
/// organisation's own secret and never answered.
#[utoipa::path(put, path = "/v1/channels/voice", tag = "channels", request_body = VoiceRegistration,
    responses(
        (status = 201, description = "Registered", body = VoiceChannelView),
        (status = 200, description = "Registered again: the account replaced, its token rotated", body = VoiceChannelView),
        (status = 403, description = "Not an admin"),
    ))]
fn register_voice_account() {}

/// Removes the organisation's voice account (admins): its secret is scheduled for deletion; no
/// call is placed and no callback accepted until one is registered again.
#[utoipa::path(delete, path = "/v1/channels/voice", tag = "channels",
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "The organisation has registered none"),
    ))]
fn remove_voice_account() {}
