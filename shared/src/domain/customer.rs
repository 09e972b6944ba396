//! Customers and the channel identities that lead to them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: String,
    pub org_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// E.164 digits as WhatsApp reports them (`wa_id`), when known.
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub identities: Vec<IdentityRef>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentityRef {
    pub channel: String,
    pub address: String,
}

/// A customer's address on WhatsApp. `wa_id` (the phone number) when Meta sends one; otherwise the
/// business-scoped `user_id`, which newer payloads carry instead for users with a username.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WhatsAppAddress(pub String);

impl WhatsAppAddress {
    pub fn from_parts(wa_id: Option<&str>, user_id: Option<&str>) -> Option<Self> {
        wa_id
            .filter(|s| !s.is_empty())
            .map(|s| WhatsAppAddress(s.to_string()))
            .or_else(|| user_id.filter(|s| !s.is_empty()).map(|s| WhatsAppAddress(format!("user:{s}"))))
    }

    /// What the Graph API accepts in `to`: the phone number, or the user id for username-only users.
    pub fn recipient(&self) -> (&'static str, &str) {
        match self.0.strip_prefix("user:") {
            Some(user_id) => ("recipient", user_id),
            None => ("to", &self.0),
        }
    }

    pub fn phone(&self) -> Option<&str> {
        (!self.0.starts_with("user:")).then_some(self.0.as_str())
    }
}

/// The link from a WhatsApp address to a customer, with the conversation currently open there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatsAppIdentity {
    pub org_id: String,
    pub address: String,
    pub customer_id: String,
    /// Absent (not null) when none is open, so a condition can test `attribute_not_exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_conversation_id: Option<String>,
    #[serde(default)]
    pub profile_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wa_id_wins_over_user_id() {
        let a = WhatsAppAddress::from_parts(Some("16505551234"), Some("US.123")).unwrap();
        assert_eq!(a.recipient(), ("to", "16505551234"));
        let b = WhatsAppAddress::from_parts(None, Some("US.123")).unwrap();
        assert_eq!(b.recipient(), ("recipient", "US.123"));
        assert_eq!(b.phone(), None);
        assert!(WhatsAppAddress::from_parts(Some(""), None).is_none());
    }
}
