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
/// and failed is final, whatever order Meta's callbacks arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// An inbound message: it reached us. Only outbound messages move on from `queued`.
    Received,
    Queued,
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
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    /// Rank stored beside the status so DynamoDB can enforce monotonic updates in a condition.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// Whether a callback saying `next` may replace `self`.
    pub fn may_advance_to(self, next: DeliveryStatus) -> bool {
        self != DeliveryStatus::Failed && next.rank() > self.rank()
    }
}

/// Our reason for Meta's 131047 and for our own refusal to send outside the window.
pub const OUTSIDE_WINDOW: &str = "outside_customer_service_window";

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
    }
}
