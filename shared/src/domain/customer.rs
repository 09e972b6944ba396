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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WhatsAppIdentity {
    pub org_id: String,
    pub address: String,
    pub customer_id: String,
    /// Absent (not null) when none is open, so a condition can test `attribute_not_exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_conversation_id: Option<String>,
    #[serde(default)]
    pub profile_name: Option<String>,
    /// The conversation opened last (open or not): where a blocked customer's messages go when
    /// none is open (`docs/rate-limits.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_conversation_id: Option<String>,
    /// A rate-limit block, kept here because every inbound message reads this item anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<crate::domain::rate_limit::CustomerBlock>,
}

/// A phone number in E.164 (`+` optional, a country code that does not start with 0, at most 15
/// digits in all), as the digits alone: the form WhatsApp gives a customer's number (`wa_id`) in.
pub fn e164_digits(field: &str, raw: &str) -> crate::error::Result<String> {
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    let valid = (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if valid {
        Ok(digits.to_string())
    } else {
        Err(crate::error::Error::invalid(field, "must be a phone number in E.164 (+ and 7 to 15 digits, no spaces)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_e164_kept_as_digits() {
        assert_eq!(e164_digits("p", "+34600111222").unwrap(), "34600111222");
        assert_eq!(e164_digits("p", "16505551234").unwrap(), "16505551234");
        for bad in ["", "+", "0034600111222", "+34 600 111 222", "3460011122233344", "call me", "+1-650"] {
            assert!(e164_digits("p", bad).is_err(), "{bad:?}");
        }
    }

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
