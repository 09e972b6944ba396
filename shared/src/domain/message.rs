//! Messages in a conversation and their delivery status.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::outbound::OutboundContent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
    /// Visible to agents only (action bubbles, status notes); never sent to the customer.
    Internal,
}

/// Where an outbound message is. Statuses only move forward: queued < sent < delivered < read,
/// and failed is final, whatever order Meta's callbacks arrive in. `sending` is reply-sender's
/// claim on a queued message while it calls the Graph API: nothing is known of Meta yet, so it
/// ranks with `queued` (a callback moves it on, and a refusal gives it back to `queued`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// An inbound message: it reached us. Only outbound messages move on from `queued`.
    Received,
    Queued,
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "received" => Some(Self::Received),
            "queued" => Some(Self::Queued),
            "sending" => Some(Self::Sending),
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    /// Rank stored beside the status so DynamoDB can enforce monotonic updates in a condition.
    /// The numbers are stored: never renumber them.
    pub fn rank(self) -> u8 {
        match self {
            Self::Received => 0,
            Self::Queued | Self::Sending => 1,
            Self::Sent => 2,
            Self::Delivered => 3,
            Self::Read => 4,
            Self::Failed => 5,
        }
    }

    /// Whether a callback saying `next` may replace `self`.
    pub fn may_advance_to(self, next: DeliveryStatus) -> bool {
        self != DeliveryStatus::Failed && next.rank() > self.rank()
    }
}

/// Our reason for Meta's 131047 and for our own refusal to send outside the window.
pub const OUTSIDE_WINDOW: &str = "outside_customer_service_window";
/// Our failure reason for a reply from a number that has no Graph access token registered.
pub const NO_ACCESS_TOKEN: &str = "no_access_token";

/// Why a message failed: Meta's error code and title, or one of ours (`outside_customer_service_window`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailureReason {
    #[serde(default)]
    pub code: Option<i64>,
    pub reason: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
}

impl FailureReason {
    /// A failure Meta reported: 131047 reads as ours, everything else by Meta's title.
    pub fn from_meta(code: Option<i64>, title: Option<String>, detail: Option<String>) -> Self {
        let reason = match code {
            Some(131047) => OUTSIDE_WINDOW.to_string(),
            _ => title.clone().unwrap_or_else(|| "failed".to_string()),
        };
        FailureReason { code, reason, title, detail }
    }

    pub fn ours(reason: &str, detail: Option<String>) -> Self {
        FailureReason { code: None, reason: reason.to_string(), title: None, detail }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SenderType {
    Customer,
    Agent,
    Bot,
    System,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sender {
    #[serde(rename = "type")]
    pub kind: SenderType,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// Unset timestamps are left out of the stored item (not null), so a status update can fill the
/// earlier ones with `if_not_exists` when their callbacks never came.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub id: String,
    pub org_id: String,
    pub conversation_id: String,
    pub customer_id: String,
    pub direction: Direction,
    /// WhatsApp's message type as received (`text`, `image`, `interactive`, ... or anything new),
    /// or the outbound content's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// A human-readable rendering: the text, a caption, a button title, an emoji.
    #[serde(default)]
    pub text: Option<String>,
    /// The type-specific object exactly as WhatsApp sent it (inbound), kept whole.
    #[serde(default)]
    pub content: Option<Value>,
    #[serde(default)]
    pub context: Option<Value>,
    #[serde(default)]
    pub referral: Option<Value>,
    #[serde(default)]
    pub errors: Option<Value>,
    /// What to send (outbound only).
    #[serde(default)]
    pub outbound: Option<OutboundContent>,
    #[serde(default)]
    pub wamid: Option<String>,
    pub status: DeliveryStatus,
    #[serde(default)]
    pub failure: Option<FailureReason>,
    pub sender: Sender,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<DateTime<Utc>>,
    /// Set when the 24-hour window had closed and the organisation's fallback template went instead.
    #[serde(default)]
    pub sent_as_template: Option<String>,
    /// The client's `Idempotency-Key` for an agent reply: a retried request finds this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// When reply-sender last claimed it to call the Graph API (outbound only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_at: Option<DateTime<Utc>>,
    /// Set when it was sent a second time because Meta never answered the first request (a
    /// timeout) nor called back about it: the customer may have received it twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resent_at: Option<DateTime<Utc>>,
    /// A customer message received while they were rate-limited: stored for agents, answered by
    /// nobody, and left out of SLAs (`docs/rate-limits.md`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rate_limited: bool,
    /// The file of an inbound image, audio, video, document or sticker (`docs/media.md`): stored
    /// `pending`; its status and a presigned URL are read from its media record on every answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<crate::domain::media::MessageMedia>,
}

/// What reply-sender tags each send with (Graph's `biz_opaque_callback_data`, up to 512
/// characters): Meta returns it in the message's status callbacks, so a status finds its message
/// even when the send was never recorded (the store failed after Meta accepted it).
pub fn callback_tag(conversation_id: &str, message_id: &str) -> String {
    format!("max1:{conversation_id}:{message_id}")
}

/// The conversation and message a status callback's tag names, if it is one of ours.
pub fn read_callback_tag(tag: &str) -> Option<(&str, &str)> {
    let (conversation_id, message_id) = tag.strip_prefix("max1:")?.split_once(':')?;
    (!conversation_id.is_empty() && !message_id.is_empty() && !message_id.contains(':')).then_some((conversation_id, message_id))
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus::*;

    #[test]
    fn statuses_only_move_forward_and_failed_is_final() {
        assert!(Queued.may_advance_to(Sent));
        assert!(Sent.may_advance_to(Read));
        assert!(!Read.may_advance_to(Delivered));
        assert!(!Delivered.may_advance_to(Sent));
        assert!(Delivered.may_advance_to(Failed));
        assert!(!Failed.may_advance_to(Read));
        assert!(!Sent.may_advance_to(Sent));
        assert!(Sending.may_advance_to(Sent) && !Queued.may_advance_to(Sending));
    }

    #[test]
    fn a_callback_tag_reads_back_and_foreign_ones_do_not() {
        let tag = super::callback_tag("01CONV", "01MSG");
        assert_eq!(super::read_callback_tag(&tag), Some(("01CONV", "01MSG")));
        assert!(tag.len() <= 512);
        for foreign in ["", "max1:", "max1:c", "max1::m", "max1:c:", "other:c:m", "{\"source\":\"api\"}", "max1:c:m:x"] {
            assert_eq!(super::read_callback_tag(foreign), None, "{foreign}");
        }
    }
}
