//! Customers and the channel identities that lead to them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A customer: one person, whatever channels they write on (`docs/customers.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(from = "StoredCustomer")]
pub struct Customer {
    pub id: String,
    pub org_id: String,
    pub name: Option<String>,
    /// E.164 digits as WhatsApp reports them (`wa_id`), when known.
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The business's own id for this customer (its CRM, its app), unique in the organisation.
    pub external_id: Option<String>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    /// The customer's language, a BCP 47 tag (`es`, `pt-BR`).
    pub language: Option<String>,
    /// Every address that leads to this customer, one per channel and address.
    pub identities: Vec<Identity>,
    /// Set while this customer is linked into another (the primary): their identities and
    /// conversations are the primary's until an unlink.
    pub merged_into: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Counts writes; a write of version n succeeds only over version n-1 (optimistic locking).
    pub version: u64,
}

/// A channel a customer can be reached and recognised on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityChannel {
    #[default]
    Whatsapp,
    /// The organisation's own app, posting its users' messages server to server.
    ChatApp,
}

impl IdentityChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityChannel::Whatsapp => "whatsapp",
            IdentityChannel::ChatApp => "chat_app",
        }
    }

    /// The channel of a conversation (`Conversation::channel`); a conversation of no other
    /// channel is WhatsApp's.
    pub fn of_conversation(channel: &str) -> IdentityChannel {
        match channel {
            "chat_app" => IdentityChannel::ChatApp,
            _ => IdentityChannel::Whatsapp,
        }
    }
}

/// One of a customer's identities, as the customer lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    pub channel: IdentityChannel,
    /// The address on the channel: the WhatsApp `wa_id` (or `user:{id}`), the app's user id.
    pub external_id: String,
    /// Who gave this identity to the customer (a link, a customer created by hand); `null` when
    /// the customer's own first message on it created it.
    pub linked_by: Option<String>,
    /// When it became this customer's.
    pub linked_at: DateTime<Utc>,
}

/// An identity as stored in any age of the customer item: before links existed it was
/// `{channel, address}`.
#[derive(Deserialize)]
struct StoredIdentity {
    #[serde(default)]
    channel: IdentityChannel,
    #[serde(alias = "address")]
    external_id: String,
    #[serde(default)]
    linked_by: Option<String>,
    /// Absent before links existed: then the customer's creation, which is when it was made.
    #[serde(default)]
    linked_at: Option<DateTime<Utc>>,
}

/// The customer item as stored, any age: older items lack the fields added since.
#[derive(Deserialize)]
struct StoredCustomer {
    id: String,
    org_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    identities: Vec<StoredIdentity>,
    #[serde(default)]
    merged_into: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Items from before customers were edited carry none: they are at their first version.
    #[serde(default = "first_version")]
    version: u64,
}

fn first_version() -> u64 {
    1
}

impl From<StoredCustomer> for Customer {
    fn from(c: StoredCustomer) -> Customer {
        let created_at = c.created_at;
        let identities = c
            .identities
            .into_iter()
            .map(|i| Identity { channel: i.channel, external_id: i.external_id, linked_by: i.linked_by, linked_at: i.linked_at.unwrap_or(created_at) })
            .collect();
        Customer {
            id: c.id,
            org_id: c.org_id,
            name: c.name,
            phone: c.phone,
            email: c.email,
            external_id: c.external_id,
            tags: c.tags,
            notes: c.notes,
            language: c.language,
            identities,
            merged_into: c.merged_into,
            created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

impl Customer {
    /// A customer first seen now: on a channel by their own message (`identity`), or created by
    /// hand (no identity yet).
    pub fn new(id: String, org_id: &str, name: Option<String>, phone: Option<String>, identity: Option<Identity>, now: DateTime<Utc>) -> Customer {
        Customer {
            id,
            org_id: org_id.to_string(),
            name,
            phone,
            email: None,
            external_id: None,
            tags: Vec::new(),
            notes: None,
            language: None,
            identities: identity.into_iter().collect(),
            merged_into: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// The customer's addresses on `channel`.
    pub fn addresses(&self, channel: IdentityChannel) -> impl Iterator<Item = &str> {
        self.identities.iter().filter(move |i| i.channel == channel).map(|i| i.external_id.as_str())
    }
}

impl Identity {
    /// An identity the customer's own first message on `channel` created (`linked_by` null).
    pub fn first_seen(channel: IdentityChannel, external_id: &str, at: DateTime<Utc>) -> Identity {
        Identity { channel, external_id: external_id.to_string(), linked_by: None, linked_at: at }
    }
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

/// The identity item: the link from an address on a channel to a customer, with the
/// conversation currently open there. The one place an address resolves to a customer (inbound
/// processing reads it for every message); a link re-points it. Its key comes from
/// `(org, channel, address)` alone (`adapters::dynamo::keys::identity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelIdentity {
    pub org_id: String,
    /// Items written before a second channel existed carry none: they are WhatsApp's.
    #[serde(default)]
    pub channel: IdentityChannel,
    /// The address on the channel: WhatsApp's `wa_id` or `user:{user_id}`; the chat app's user id.
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
    fn customers_stored_before_links_read_with_their_identities_linked_at_creation() {
        let old = serde_json::json!({
            "id": "C1", "org_id": "o1", "name": "Ana", "phone": "34600111222",
            "identities": [{ "channel": "whatsapp", "address": "34600111222" }],
            "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-02T10:00:00Z"
        });
        let c: Customer = serde_json::from_value(old).unwrap();
        let created = "2026-11-01T10:00:00Z".parse().unwrap();
        assert_eq!(c.identities, vec![Identity { channel: IdentityChannel::Whatsapp, external_id: "34600111222".into(), linked_by: None, linked_at: created }]);
        assert_eq!((c.version, c.merged_into.as_deref(), c.tags.len()), (1, None, 0));
        // Written back in the new shape, it reads the same.
        let again: Customer = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(again.identities, c.identities);
        assert_eq!(serde_json::to_value(&c.identities[0]).unwrap()["external_id"], "34600111222");
    }

    #[test]
    fn identity_items_stored_before_a_second_channel_are_whatsapp() {
        let old = serde_json::json!({ "org_id": "o1", "address": "34600111222", "customer_id": "C1" });
        let i: ChannelIdentity = serde_json::from_value(old).unwrap();
        assert_eq!(i.channel, IdentityChannel::Whatsapp);
        assert_eq!(serde_json::to_value(IdentityChannel::ChatApp).unwrap(), "chat_app");
        assert_eq!(IdentityChannel::of_conversation("chat_app"), IdentityChannel::ChatApp);
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
