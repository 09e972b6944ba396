//! Customers and the channel identities that lead to them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::language::check_tag;
use crate::error::{Error, Result};

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
    /// The customers linked into this one (at most `customer_link::MAX_MERGED`): the context
    /// panel reads their tickets, actions, calls, interactions and transactions with this one's.
    pub merged_customers: Vec<String>,
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
    #[serde(default)]
    merged_customers: Vec<String>,
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
            merged_customers: c.merged_customers,
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
            merged_customers: Vec::new(),
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

// ------------------------------------------------------------------ created and edited by hand

const MAX_NAME_CHARS: usize = 200;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_EXTERNAL_ID_CHARS: usize = 128;
const MAX_NOTES_CHARS: usize = 4000;
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 50;
/// Name words indexed for search: enough for any real name, and a customer's terms always fit
/// in one transaction with the customer.
const MAX_NAME_TERMS: usize = 8;
/// Words of a search query.
const MAX_QUERY_WORDS: usize = 5;
const MAX_QUERY_CHARS: usize = 100;

/// `POST /v1/customers`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: Option<String>,
    /// E.164 (`+34600111222`): the customer's WhatsApp number. Their messages from it land on this
    /// customer; a number already a customer's answers 409 naming them.
    #[serde(default)]
    #[schema(pattern = "^\\+?[1-9][0-9]{6,14}$")]
    pub phone: Option<String>,
    #[serde(default)]
    #[schema(max_length = 254, pattern = "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$")]
    pub email: Option<String>,
    /// The business's own id; one customer per external id (409 naming the one who has it).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128, pattern = "^\\S+$")]
    pub external_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<TagText>, max_items = 20)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
    pub notes: Option<String>,
    #[serde(default)]
    #[schema(max_length = 35, pattern = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
    pub language: Option<String>,
}

/// `PATCH /v1/customers/{id}`: the fields given change (`null` clears one); `version` is the
/// version the change was made over (409 when the customer changed since).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerChanges {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, max_length = 254, pattern = "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$")]
    pub email: Option<Option<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<TagText>>, max_items = 20)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, min_length = 1, max_length = 4000, pattern = "\\S")]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, max_length = 35, pattern = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
    pub language: Option<Option<String>>,
    #[schema(minimum = 1)]
    pub version: u64,
}

/// A tag as the contract describes it (the fields stay plain strings).
struct TagText;

impl utoipa::PartialSchema for TagText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(MAX_TAG_CHARS)).pattern(Some("\\S")).into()
    }
}

impl utoipa::ToSchema for TagText {}

/// A field given, possibly as `null` (`Some(None)`), apart from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Free text: not blank, at most `max` characters, kept as given but trimmed.
fn text(field: &str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty (null clears it)"));
    }
    if chars(value) > max {
        return Err(Error::invalid(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Error::invalid(field, "must not hold control characters"));
    }
    Ok(value.to_string())
}

fn name(value: &str) -> Result<String> {
    let value = text("name", value, MAX_NAME_CHARS)?;
    if value.contains('\n') || value.contains('\t') {
        return Err(Error::invalid("name", "must be one line"));
    }
    Ok(value)
}

/// One `@`, something before it, a dotted domain after it, no spaces: what a mailbox looks like
/// (whether it exists is not ours to know).
fn email(value: &str) -> Result<String> {
    let value = value.trim();
    let valid = chars(value) <= MAX_EMAIL_CHARS
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.contains('@') && domain.split('.').count() >= 2 && domain.split('.').all(|p| !p.is_empty())
        });
    if valid { Ok(value.to_string()) } else { Err(Error::invalid("email", "must be an email address (name@example.com), at most 254 characters")) }
}

fn external_id(value: &str) -> Result<String> {
    let valid = (1..=MAX_EXTERNAL_ID_CHARS).contains(&chars(value)) && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid { Ok(value.to_string()) } else { Err(Error::invalid("external_id", "must be 1 to 128 characters without spaces")) }
}

/// Trimmed, without repeats (the first spelling stays), at most [`MAX_TAGS`].
fn tags(values: &[String]) -> Result<Vec<String>> {
    if values.len() > MAX_TAGS {
        return Err(Error::invalid("tags", format!("must be at most {MAX_TAGS} tags")));
    }
    let mut kept: Vec<String> = Vec::new();
    for (i, tag) in values.iter().enumerate() {
        let tag = text(&format!("tags[{i}]"), tag, MAX_TAG_CHARS)?;
        if tag.contains('\n') || tag.contains('\t') {
            return Err(Error::invalid(format!("tags[{i}]"), "must be one line"));
        }
        if !kept.iter().any(|k| k.to_lowercase() == tag.to_lowercase()) {
            kept.push(tag);
        }
    }
    Ok(kept)
}

impl NewCustomer {
    /// The customer it creates, checked field by field, and their WhatsApp identity when a phone
    /// is given (created by `by`, now).
    pub fn customer(&self, id: String, org_id: &str, by: &str, now: DateTime<Utc>) -> Result<(Customer, Option<ChannelIdentity>)> {
        let phone = self.phone.as_deref().map(|p| e164_digits("phone", p)).transpose()?;
        let on_whatsapp = phone.as_ref().map(|p| Identity { channel: IdentityChannel::Whatsapp, external_id: p.clone(), linked_by: Some(by.to_string()), linked_at: now });
        let mut customer = Customer::new(id, org_id, self.name.as_deref().map(name).transpose()?, phone.clone(), on_whatsapp, now);
        customer.email = self.email.as_deref().map(email).transpose()?;
        customer.external_id = self.external_id.as_deref().map(external_id).transpose()?;
        customer.tags = tags(&self.tags)?;
        customer.notes = self.notes.as_deref().map(|n| text("notes", n, MAX_NOTES_CHARS)).transpose()?;
        customer.language = self.language.as_deref().map(|l| check_tag("language", l)).transpose()?;
        let identity = phone.map(|address| ChannelIdentity {
            org_id: org_id.to_string(),
            channel: IdentityChannel::Whatsapp,
            address,
            customer_id: customer.id.clone(),
            open_conversation_id: None,
            profile_name: None,
            last_conversation_id: None,
            blocked: None,
        });
        Ok((customer, identity))
    }
}

impl Customer {
    /// The customer with `changes` made, one version on; 409 when they were made over another
    /// version than the stored one.
    pub fn changed(&self, changes: &CustomerChanges, now: DateTime<Utc>) -> Result<Customer> {
        if changes.version != self.version {
            return Err(Error::conflict(
                format!("the customer changed since version {}; read it again and repeat the change", changes.version),
                self.version.to_string(),
            ));
        }
        let mut next = self.clone();
        if let Some(v) = &changes.name {
            next.name = v.as_deref().map(name).transpose()?;
        }
        if let Some(v) = &changes.email {
            next.email = v.as_deref().map(email).transpose()?;
        }
        if let Some(v) = &changes.tags {
            next.tags = tags(v)?;
        }
        if let Some(v) = &changes.notes {
            next.notes = v.as_deref().map(|n| text("notes", n, MAX_NOTES_CHARS)).transpose()?;
        }
        if let Some(v) = &changes.language {
            next.language = v.as_deref().map(|l| check_tag("language", l)).transpose()?;
        }
        next.updated_at = now;
        next.version += 1;
        Ok(next)
    }

    /// What a search finds the customer by: each name word, the phone's digits, the email and the
    /// external id, lowercased (`docs/customers.md`, search).
    pub fn search_terms(&self) -> std::collections::BTreeSet<String> {
        let mut terms = std::collections::BTreeSet::new();
        if let Some(n) = &self.name {
            terms.extend(words(n).take(MAX_NAME_TERMS));
        }
        terms.extend(self.phone.clone());
        terms.extend(self.email.as_deref().map(str::to_lowercase));
        terms.extend(self.external_id.as_deref().map(str::to_lowercase));
        terms
    }
}

/// A text's words for search: lowercased, split at anything that is not a letter, digit, `@`,
/// `.`, `_`, `+` or `-`, and without the punctuation around them.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || "@._+-'".contains(c)))
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
}

/// `GET /v1/customers?q=`: a prefix of the customers' names, phones, emails or external ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSearch {
    /// The word the index is read by (the longest: the fewest hits to read).
    pub key: String,
    /// Every word of the query; a customer found has a term starting with each.
    pub words: Vec<String>,
}

impl CustomerSearch {
    /// A phone number in any punctuation (`+34 600-111`) searches by its digits; anything else by
    /// its words.
    pub fn parse(q: &str) -> Result<CustomerSearch> {
        let q = q.trim();
        let invalid = |reason: &str| Error::invalid("q", reason);
        if q.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if chars(q) > MAX_QUERY_CHARS {
            return Err(invalid("must be at most 100 characters"));
        }
        let phone_like = q.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) && q.chars().any(|c| c.is_ascii_digit());
        let words: Vec<String> = if phone_like { vec![q.chars().filter(char::is_ascii_digit).collect()] } else { words(q).collect() };
        if words.is_empty() {
            return Err(invalid("must hold a letter or a digit"));
        }
        if words.len() > MAX_QUERY_WORDS {
            return Err(invalid("must be at most 5 words"));
        }
        // The first of the longest (`max_by_key` keeps the last of equals).
        let key = words.iter().rev().max_by_key(|w| chars(w)).cloned().unwrap_or_default();
        Ok(CustomerSearch { key, words })
    }

    /// Whether the customer found under `term` (one of their terms starting with `key`) is an
    /// answer, and the one answer for them: every word starts one of their terms, and `term` is
    /// the first of their terms under `key` (a customer indexed twice under it, "ana anabel" for
    /// "ana", is answered once, on whichever page holds that first term).
    pub fn answers(&self, customer: &Customer, term: &str) -> bool {
        let terms = customer.search_terms();
        let first_under_key = terms.iter().find(|t| t.starts_with(&self.key));
        first_under_key.is_some_and(|t| t == term) && self.words.iter().all(|w| terms.iter().any(|t| t.starts_with(w.as_str())))
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
pub fn e164_digits(field: &str, raw: &str) -> Result<String> {
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    let valid = (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if valid {
        Ok(digits.to_string())
    } else {
        Err(Error::invalid(field, "must be a phone number in E.164 (+ and 7 to 15 digits, no spaces)"))
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


    fn now() -> DateTime<Utc> {
        "2026-12-06T10:00:00Z".parse().unwrap()
    }

    fn new_customer(body: serde_json::Value) -> Result<(Customer, Option<ChannelIdentity>)> {
        let input: NewCustomer = serde_json::from_value(body).unwrap();
        input.customer("CU1".into(), "o1", "u-admin", now())
    }

    fn field_of(e: Error) -> String {
        match e {
            Error::Invalid { field, .. } => field,
            other => panic!("not a 422: {other:?}"),
        }
    }

    #[test]
    fn a_customer_made_by_hand_has_their_number_as_a_whatsapp_identity_linked_by_its_maker() {
        let (c, identity) = new_customer(serde_json::json!({
            "name": "  Ana Ruiz ", "phone": "+34 600111222".replace(' ', ""), "email": "Ana@Example.com", "external_id": "crm-7",
            "tags": ["vip", "VIP", " fleet "], "notes": "prefers mornings", "language": "es"
        }))
        .unwrap();
        assert_eq!((c.name.as_deref(), c.phone.as_deref(), c.tags.clone()), (Some("Ana Ruiz"), Some("34600111222"), vec!["vip".to_string(), "fleet".into()]));
        assert_eq!(c.identities, vec![Identity { channel: IdentityChannel::Whatsapp, external_id: "34600111222".into(), linked_by: Some("u-admin".into()), linked_at: now() }]);
        let identity = identity.unwrap();
        assert_eq!((identity.customer_id.as_str(), identity.address.as_str(), identity.open_conversation_id.as_deref()), ("CU1", "34600111222", None));
        assert_eq!(c.version, 1);
        let terms: Vec<_> = c.search_terms().into_iter().collect();
        assert_eq!(terms, ["34600111222", "ana", "ana@example.com", "crm-7", "ruiz"]);
        // Without a phone: no identity until they write or are linked.
        let (c, identity) = new_customer(serde_json::json!({ "name": "Bo" })).unwrap();
        assert!(identity.is_none() && c.identities.is_empty());
    }

    #[test]
    fn a_bad_field_is_named() {
        for (body, field) in [
            (serde_json::json!({ "name": "  " }), "name"),
            (serde_json::json!({ "name": "a\nb" }), "name"),
            (serde_json::json!({ "phone": "600 111" }), "phone"),
            (serde_json::json!({ "email": "ana@" }), "email"),
            (serde_json::json!({ "email": "ana example.com" }), "email"),
            (serde_json::json!({ "external_id": "a b" }), "external_id"),
            (serde_json::json!({ "tags": ["ok", ""] }), "tags[1]"),
            (serde_json::json!({ "tags": vec!["t"; 21] }), "tags"),
            (serde_json::json!({ "notes": "x".repeat(4001) }), "notes"),
            (serde_json::json!({ "language": "spanish" }), "language"),
        ] {
            assert_eq!(field_of(new_customer(body.clone()).unwrap_err()), field, "{body}");
        }
    }

    #[test]
    fn a_change_applies_over_its_version_only_and_null_clears() {
        let (c, _) = new_customer(serde_json::json!({ "name": "Ana", "email": "a@b.co", "tags": ["x"] })).unwrap();
        let changes: CustomerChanges = serde_json::from_value(serde_json::json!({ "email": null, "tags": ["y"], "version": 1 })).unwrap();
        let later = now() + chrono::Duration::minutes(1);
        let next = c.changed(&changes, later).unwrap();
        assert_eq!((next.name.as_deref(), next.email.as_deref(), next.tags.clone(), next.version, next.updated_at), (Some("Ana"), None, vec!["y".to_string()], 2, later));
        // The same change again, over the version it was made on: the customer moved on, 409.
        assert!(matches!(next.changed(&changes, later), Err(Error::Conflict { .. })));
        let blank: CustomerChanges = serde_json::from_value(serde_json::json!({ "name": "", "version": 2 })).unwrap();
        assert_eq!(field_of(next.changed(&blank, later).unwrap_err()), "name");
    }

    #[test]
    fn a_search_reads_the_index_by_its_longest_word_and_answers_each_customer_once() {
        let phone = CustomerSearch::parse(" +34 (600) 111-2 ").unwrap();
        assert_eq!((phone.key.as_str(), phone.words.len()), ("346001112", 1));
        let name = CustomerSearch::parse("Ana RUI").unwrap();
        assert_eq!((name.key.as_str(), name.words.clone()), ("ana", vec!["ana".to_string(), "rui".into()]));
        for bad in ["", "   ", "!!", &"a".repeat(101), "a b c d e f"] {
            assert_eq!(field_of(CustomerSearch::parse(bad).unwrap_err()), "q", "{bad:?}");
        }
        let mut c = Customer::new("CU1".into(), "o1", Some("Ana Anabel Ruiz".into()), None, None, now());
        c.email = Some("ana@x.io".into());
        let ana = CustomerSearch::parse("ana").unwrap();
        // Indexed under "ana", "ana@x.io" and "anabel": answered only from the first.
        assert!(ana.answers(&c, "ana"));
        assert!(!ana.answers(&c, "anabel") && !ana.answers(&c, "ana@x.io"));
        assert!(name.answers(&c, "ana"));
        assert!(!CustomerSearch::parse("ana lopez").unwrap().answers(&c, "ana"));
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
