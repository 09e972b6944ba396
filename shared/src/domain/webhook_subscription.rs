//! Outbound webhook subscriptions (`docs/webhooks.md`): where an organisation wants its events
//! sent, which ones, and the signing secrets (`whsec_…`) that prove a delivery came from MAX.
//! What is refused as a destination (private, loopback, link-local … addresses) is decided here
//! once, for the URL given at creation and for every address the sender's resolver sees.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use crate::domain::channel::secret_name_part;
use crate::domain::event::EventKind;
use crate::domain::secret::Secret;
use crate::error::{Error, Result};

/// The longest a subscriber may take to answer one delivery.
pub const MAX_TIMEOUT_SECS: u32 = 15;
pub const DEFAULT_TIMEOUT_SECS: u32 = 10;
pub const MAX_URL_CHARS: usize = 2048;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Each event is one queue message per subscription that wants it: bounded so one event's
/// fan-out stays one small batch of sends.
pub const MAX_SUBSCRIPTIONS_PER_ORG: usize = 20;
/// After a rotation the previous secret signs too, this long, so receivers can switch over.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);
/// `event_types: ["*"]`: every event, those added later included.
pub const ALL_EVENTS: &str = "*";
const SECRET_PREFIX: &str = "whsec_";

/// Why a subscription stopped receiving deliveries without an admin switching it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// An admin set `enabled: false`.
    ByAdmin,
    /// The endpoint answered 410 Gone.
    Gone,
    /// Every attempt failed for [`crate::domain::webhook_delivery::FAILING_DISABLES_AFTER`].
    Failing,
}

/// A stored subscription. Its signing secrets are not here: they are the subscription's own
/// secret ([`signing_secret_name`]), shown once at creation and at each rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookSubscription {
    pub id: String,
    pub org_id: String,
    /// Where deliveries are POSTed: https only.
    pub url: String,
    /// Event types sent, or `["*"]` for all.
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub enabled: bool,
    /// Set while `enabled` is false: who or what switched it off.
    #[serde(default)]
    pub disabled_reason: Option<DisabledReason>,
    /// How long one delivery may take, 1 to 15 seconds.
    pub timeout_secs: u32,
    /// The first failed attempt since the last delivered one (none while healthy).
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
    /// When the secret was last rotated (the previous one signs until 24 hours after).
    #[serde(default)]
    pub secret_rotated_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl WebhookSubscription {
    /// Whether a delivery of `kind` goes to this subscription now.
    pub fn wants(&self, kind: EventKind) -> bool {
        self.enabled && kind != EventKind::Void && self.event_types.iter().any(|t| t == ALL_EVENTS || t == kind.as_str())
    }
}

/// `POST /v1/webhook-subscriptions`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscriptionInput {
    /// https only; an address in a private, loopback, link-local, CGNAT, multicast or documentation
    /// range is refused here and again at every connection.
    #[schema(min_length = 9, max_length = 2048, pattern = "^https://")]
    pub url: String,
    /// Event types (see the catalogue in `docs/webhooks.md`), or `["*"]` for all.
    #[schema(schema_with = event_types_schema)]
    pub event_types: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default = "default_timeout")]
    #[schema(minimum = 1, maximum = 15)]
    pub timeout_secs: u32,
}

/// The catalogue's names (or `"*"` alone), each once: what `check_event_types` takes.
fn event_types_schema() -> utoipa::openapi::schema::Array {
    let names = std::iter::once(ALL_EVENTS).chain(EventKind::CATALOGUE.iter().map(|k| k.as_str()));
    let name = utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String).enum_values(Some(names));
    utoipa::openapi::schema::ArrayBuilder::new().items(name).min_items(Some(1)).max_items(Some(32)).unique_items(true).build()
}

fn enabled_by_default() -> bool {
    true
}

fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_SECS
}

/// `PATCH /v1/webhook-subscriptions/{id}`: the fields given change; `description: null` clears it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscriptionEdit {
    #[serde(default)]
    #[schema(min_length = 9, max_length = 2048, pattern = "^https://")]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(schema_with = event_types_schema)]
    pub event_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, max_length = 500)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 15)]
    pub timeout_secs: Option<u32>,
}

/// A field given, possibly as `null` (`Some(None)`), apart from one left out (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Which destinations the deployment allows besides public https ones. Only the dev stack turns
/// `loopback` on (its receivers are local test servers, plain http on 127.0.0.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DestinationPolicy {
    pub allow_loopback: bool,
}

/// Why an address is never a webhook destination, or `None` when it may be one. Every form of
/// the same address answers the same: an IPv4-mapped or -compatible IPv6 address is judged as
/// the IPv4 address it carries.
pub fn refused_address(ip: IpAddr, policy: DestinationPolicy) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4, policy),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => refused_v4(v4, policy),
            None => refused_v6(v6, policy),
        },
    }
}

/// The IPv4 address an IPv6 one stands for: mapped `::ffff:a.b.c.d`, the deprecated compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !(s[6] == 0 && s[7] <= 1) {
        return Some(tail); // ::a.b.c.d (but not :: or ::1, which are IPv6's own)
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    None
}

fn refused_v4(ip: Ipv4Addr, policy: DestinationPolicy) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        return (!policy.allow_loopback).then_some("a loopback address");
    }
    let refused = if ip.is_unspecified() || a == 0 {
        "an unspecified address (0.0.0.0/8)"
    } else if ip.is_private() {
        "a private address"
    } else if ip.is_link_local() {
        "a link-local address"
    } else if a == 100 && (64..128).contains(&b) {
        "a carrier-grade NAT address (100.64.0.0/10)"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if ip.is_broadcast() || a >= 240 {
        "a reserved address (240.0.0.0/4)"
    } else if (a, b, c) == (192, 0, 2) || (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113) {
        "a documentation address"
    } else if a == 198 && (b == 18 || b == 19) {
        "a benchmarking address (198.18.0.0/15)"
    } else if (a, b, c) == (192, 0, 0) {
        "an IETF protocol address (192.0.0.0/24)"
    } else {
        return None;
    };
    Some(refused)
}

fn refused_v6(ip: Ipv6Addr, policy: DestinationPolicy) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_loopback() {
        return (!policy.allow_loopback).then_some("a loopback address");
    }
    let refused = if ip.is_unspecified() {
        "an unspecified address"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "a private address (unique local fc00::/7)"
    } else if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
        "a link-local address"
    } else if s[0] & 0xff00 == 0xff00 {
        "a multicast address"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 || s[0] == 0x3fff && s[1] & 0xf000 == 0 {
        "a documentation address"
    } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
        "a discard-only address (100::/64)"
    } else if s[0] == 0x2001 && s[1] < 0x0200 {
        "an IETF protocol address (2001::/23)"
    } else {
        return None;
    };
    Some(refused)
}

/// Checks a subscription URL: https (plain http only to loopback when the policy allows it), a
/// host, no credentials in it, no fragment, and a literal address that is not refused. A host
/// name is checked again, address by address, each time the sender resolves it.
pub fn check_url(field: &str, value: &str, policy: DestinationPolicy) -> Result<url::Url> {
    let invalid = |reason: String| Error::invalid(field, reason);
    if value.chars().count() > MAX_URL_CHARS {
        return Err(invalid(format!("must be at most {MAX_URL_CHARS} characters")));
    }
    let url = url::Url::parse(value).map_err(|e| invalid(format!("is not a URL ({e})")))?;
    let host = url.host().ok_or_else(|| invalid("must name a host".into()))?;
    let literal = match &host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(*v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(*v6)),
        url::Host::Domain(_) => None,
    };
    let loopback_target = literal.is_some_and(|ip| ip.is_loopback()) || matches!(&host, url::Host::Domain(d) if is_localhost(d));
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_loopback && loopback_target => {}
        _ => return Err(invalid("must be an https URL".into())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials".into()));
    }
    if url.fragment().is_some() {
        return Err(invalid("must not have a fragment".into()));
    }
    if let Some(why) = literal.and_then(|ip| refused_address(ip, policy)) {
        return Err(invalid(format!("points at {why}")));
    }
    if let url::Host::Domain(d) = &host {
        if is_localhost(d) && !policy.allow_loopback {
            return Err(invalid("points at a loopback address".into()));
        }
        if !d.contains('.') && !is_localhost(d) {
            return Err(invalid("must name a public host (a fully qualified name)".into()));
        }
    }
    Ok(url)
}

/// `localhost` and its subdomains resolve to loopback by definition (RFC 6761).
fn is_localhost(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

/// Checks the wanted event types: `["*"]` alone, or known types without repeats.
pub fn check_event_types(event_types: &[String]) -> Result<()> {
    let field = "event_types";
    if event_types.is_empty() {
        return Err(Error::invalid(field, "must name at least one event type, or \"*\" for all"));
    }
    if event_types.len() > 32 {
        return Err(Error::invalid(field, "must name at most 32 event types"));
    }
    let mut seen = BTreeSet::new();
    for (i, t) in event_types.iter().enumerate() {
        if t == ALL_EVENTS {
            if event_types.len() > 1 {
                return Err(Error::invalid(format!("{field}[{i}]"), "\"*\" already means every event type: give it alone"));
            }
            continue;
        }
        match event_kind(t) {
            Some(kind) if kind != EventKind::Void => {}
            _ => return Err(Error::invalid(format!("{field}[{i}]"), format!("{t:?} is not an event type of the catalogue"))),
        }
        if !seen.insert(t.as_str()) {
            return Err(Error::invalid(format!("{field}[{i}]"), format!("{t:?} is named twice")));
        }
    }
    Ok(())
}

/// The feed's event kind a catalogue name stands for.
pub fn event_kind(name: &str) -> Option<EventKind> {
    serde_json::from_value(Value::String(name.to_string())).ok()
}

fn check_description(value: Option<&str>) -> Result<()> {
    if let Some(d) = value {
        if d.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(Error::invalid("description", format!("must be at most {MAX_DESCRIPTION_CHARS} characters")));
        }
        if d.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(Error::invalid("description", "must not contain control characters"));
        }
    }
    Ok(())
}

fn check_timeout(value: u32) -> Result<()> {
    if !(1..=MAX_TIMEOUT_SECS).contains(&value) {
        return Err(Error::invalid("timeout_secs", format!("must be 1 to {MAX_TIMEOUT_SECS} seconds")));
    }
    Ok(())
}

impl WebhookSubscriptionInput {
    /// The new subscription, checked.
    pub fn into_subscription(self, id: String, org_id: &str, created_by: &str, now: DateTime<Utc>, policy: DestinationPolicy) -> Result<WebhookSubscription> {
        check_url("url", &self.url, policy)?;
        check_event_types(&self.event_types)?;
        check_description(self.description.as_deref())?;
        check_timeout(self.timeout_secs)?;
        Ok(WebhookSubscription {
            id,
            org_id: org_id.to_string(),
            url: self.url,
            event_types: self.event_types,
            description: self.description.filter(|d| !d.trim().is_empty()),
            enabled: self.enabled,
            disabled_reason: (!self.enabled).then_some(DisabledReason::ByAdmin),
            timeout_secs: self.timeout_secs,
            failing_since: None,
            secret_rotated_at: None,
            created_by: created_by.to_string(),
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }
}

impl WebhookSubscriptionEdit {
    /// `current` with the edit applied, at the next version. Enabling again forgets the failures
    /// that switched it off: the next failure starts a new 5-day count.
    pub fn apply(self, current: &WebhookSubscription, now: DateTime<Utc>, policy: DestinationPolicy) -> Result<WebhookSubscription> {
        let mut next = current.clone();
        if let Some(url) = self.url {
            check_url("url", &url, policy)?;
            next.url = url;
        }
        if let Some(types) = self.event_types {
            check_event_types(&types)?;
            next.event_types = types;
        }
        if let Some(description) = self.description {
            check_description(description.as_deref())?;
            next.description = description.filter(|d| !d.trim().is_empty());
        }
        if let Some(timeout) = self.timeout_secs {
            check_timeout(timeout)?;
            next.timeout_secs = timeout;
        }
        if let Some(enabled) = self.enabled {
            if enabled && !current.enabled {
                next.failing_since = None;
            }
            next.enabled = enabled;
            next.disabled_reason = match (enabled, current.enabled) {
                (true, _) => None,
                (false, true) => Some(DisabledReason::ByAdmin),
                (false, false) => current.disabled_reason,
            };
        }
        next.updated_at = now;
        next.version = current.version + 1;
        Ok(next)
    }
}

/// A signing secret: `whsec_` and the base64 of 32 random bytes (the HMAC key is the bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Secret);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

impl SigningSecret {
    /// A new secret from 32 random bytes (the caller's randomness: rules stay pure).
    pub fn from_random(random: [u8; 32]) -> Self {
        SigningSecret(Secret::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(random))))
    }

    /// A secret as written (`whsec_…`); the part after the prefix must be base64.
    pub fn parse(value: &str) -> Option<Self> {
        let key = value.strip_prefix(SECRET_PREFIX)?;
        let bytes = STANDARD.decode(key).ok()?;
        (!bytes.is_empty()).then(|| SigningSecret(Secret::new(value)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The HMAC key: the bytes the base64 after `whsec_` stands for.
    pub fn key(&self) -> Vec<u8> {
        self.0.expose().strip_prefix(SECRET_PREFIX).and_then(|k| STANDARD.decode(k).ok()).unwrap_or_default()
    }
}

/// A subscription's signing secrets: the current one, and after a rotation the previous one
/// until its overlap ends. Every delivery is signed by each secret still valid.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeys {
    pub current: SigningSecret,
    pub previous: Option<(SigningSecret, DateTime<Utc>)>,
}

impl SigningKeys {
    pub fn new(current: SigningSecret) -> Self {
        SigningKeys { current, previous: None }
    }

    /// The secrets that sign a delivery made at `now`: the current one first.
    pub fn signing_at(&self, now: DateTime<Utc>) -> Vec<&SigningSecret> {
        let mut keys = vec![&self.current];
        if let Some((previous, _)) = self.previous.as_ref().filter(|(_, until)| now < *until) {
            keys.push(previous);
        }
        keys
    }

    /// After a rotation at `now`: `fresh` signs from now on, the current one for
    /// [`ROTATION_OVERLAP`] more. A secret rotated out earlier stops at once (two at most).
    pub fn rotated(&self, fresh: SigningSecret, now: DateTime<Utc>) -> Self {
        SigningKeys { current: fresh, previous: Some((self.current.clone(), now + ROTATION_OVERLAP)) }
    }

    /// The value kept in the subscription's secret.
    pub fn to_secret(&self) -> Secret {
        let mut keys = vec![json!({"secret": self.current.expose()})];
        if let Some((previous, until)) = &self.previous {
            keys.push(json!({"secret": previous.expose(), "until": until}));
        }
        Secret::new(json!({"keys": keys}).to_string())
    }

    /// Reads what [`SigningKeys::to_secret`] wrote; `None` for anything else.
    pub fn from_secret(secret: &Secret) -> Option<Self> {
        let value: Value = serde_json::from_str(secret.expose()).ok()?;
        let keys = value.get("keys")?.as_array()?;
        let current = SigningSecret::parse(keys.first()?.get("secret")?.as_str()?)?;
        let previous = match keys.get(1) {
            Some(k) => {
                let until: DateTime<Utc> = serde_json::from_value(k.get("until")?.clone()).ok()?;
                Some((SigningSecret::parse(k.get("secret")?.as_str()?)?, until))
            }
            None => None,
        };
        Some(SigningKeys { current, previous })
    }
}

/// The secret (below the stack's prefix) holding a subscription's signing secrets.
pub fn signing_secret_name(org_id: &str, subscription_id: &str) -> String {
    format!("webhooks/{}/{subscription_id}", secret_name_part(org_id))
}

/// `POST /v1/webhook-subscriptions` and `POST …/{id}/rotate-secret` answer the secret: the only
/// times it is shown.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionWithSecret {
    #[serde(flatten)]
    pub subscription: WebhookSubscription,
    /// `whsec_…`: verify deliveries with it (Standard Webhooks). Shown only now.
    pub secret: String,
}

impl std::fmt::Debug for SubscriptionWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionWithSecret").field("subscription", &self.subscription).field("secret", &"[redacted]").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap()
    }

    const PUBLIC: DestinationPolicy = DestinationPolicy { allow_loopback: false };
    const DEV: DestinationPolicy = DestinationPolicy { allow_loopback: true };

    fn input(url: &str, types: &[&str]) -> WebhookSubscriptionInput {
        serde_json::from_value(json!({"url": url, "event_types": types})).unwrap()
    }

    fn subscription(types: &[&str]) -> WebhookSubscription {
        input("https://crm.example.com/hooks/max", types).into_subscription("s1".into(), "org", "admin", now(), PUBLIC).unwrap()
    }

    fn field(e: Error) -> String {
        match e {
            Error::Invalid { field, .. } => field,
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn a_subscription_is_https_enabled_and_waits_ten_seconds_by_default() {
        let s = subscription(&["ticket.opened"]);
        assert!(s.enabled && s.disabled_reason.is_none());
        assert_eq!(s.timeout_secs, 10);
        assert_eq!(s.version, 1);
        for bad in ["http://crm.example.com/x", "ftp://crm.example.com/x", "https://user:pw@crm.example.com/x", "https://crm.example.com/x#f", "https://intranet/x", "not a url"] {
            let e = input(bad, &["*"]).into_subscription("s".into(), "o", "a", now(), PUBLIC).unwrap_err();
            assert_eq!(field(e), "url", "{bad}");
        }
    }

    #[test]
    fn a_literal_address_in_a_refused_range_is_refused_at_creation() {
        for bad in [
            "https://127.0.0.1/x",
            "https://10.0.0.8/x",
            "https://172.16.0.1/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/x",
            "https://224.0.0.1/x",
            "https://192.0.2.10/x",
            "https://198.51.100.1/x",
            "https://203.0.113.9/x",
            "https://0.0.0.0/x",
            "https://[::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://[::ffff:169.254.169.254]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[2001:db8::1]/x",
            "https://localhost/x",
            "https://api.localhost/x",
            // Shorthand IPv4 forms the URL parser normalises: still 127.0.0.1.
            "https://2130706433/x",
            "https://0x7f.1/x",
        ] {
            let e = check_url("url", bad, PUBLIC).unwrap_err();
            assert_eq!(field(e), "url", "{bad}");
        }
        assert!(check_url("url", "https://93.184.215.14/hook", PUBLIC).is_ok());
        assert!(check_url("url", "https://[2606:4700::1111]/hook", PUBLIC).is_ok());
    }

    #[test]
    fn the_dev_stack_may_name_loopback_over_plain_http_and_nothing_else_private() {
        assert!(check_url("url", "http://127.0.0.1:8080/hook", DEV).is_ok());
        assert!(check_url("url", "http://localhost:8080/hook", DEV).is_ok());
        assert!(check_url("url", "http://127.0.0.1:8080/hook", PUBLIC).is_err());
        assert!(check_url("url", "http://10.0.0.1/hook", DEV).is_err(), "http stays for loopback only");
        assert!(check_url("url", "https://10.0.0.1/hook", DEV).is_err(), "private stays refused");
    }

    #[test]
    fn every_refused_range_is_refused_in_every_form() {
        let refused = [
            "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.31.255.255", "192.168.0.1", "169.254.0.1", "100.64.0.0", "100.127.255.255",
            "224.0.0.251", "239.255.255.250", "255.255.255.255", "240.0.0.1", "0.0.0.0", "0.1.2.3", "192.0.2.1", "198.51.100.7",
            "203.0.113.200", "198.18.0.1", "192.0.0.8", "::", "::1", "fc00::1", "fdff::1", "fe80::1", "fec0::1", "ff02::1",
            "2001:db8::1", "100::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
            "64:ff9b::a00:1", "2002:c0a8:101::1", "2002:7f00:1::", "3fff::1",
        ];
        for ip in refused {
            let addr: IpAddr = ip.parse().unwrap();
            assert!(refused_address(addr, PUBLIC).is_some(), "{ip} must be refused");
        }
        for ip in ["93.184.215.14", "8.8.8.8", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            let addr: IpAddr = ip.parse().unwrap();
            assert_eq!(refused_address(addr, PUBLIC), None, "{ip} is public");
        }
        // The dev switch lets loopback through, in every form, and nothing else.
        for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(refused_address(ip.parse().unwrap(), DEV), None, "{ip}");
        }
        assert!(refused_address("10.0.0.1".parse().unwrap(), DEV).is_some());
    }

    #[test]
    fn event_types_are_the_catalogues_or_every_one() {
        assert!(check_event_types(&["*".into()]).is_ok());
        assert!(check_event_types(&["ticket.opened".into(), "action.decided".into()]).is_ok());
        assert_eq!(field(check_event_types(&[]).unwrap_err()), "event_types");
        assert_eq!(field(check_event_types(&["ticket.opened".into(), "nope".into()]).unwrap_err()), "event_types[1]");
        assert_eq!(field(check_event_types(&["void".into()]).unwrap_err()), "event_types[0]");
        assert_eq!(field(check_event_types(&["*".into(), "ticket.opened".into()]).unwrap_err()), "event_types[0]");
        assert_eq!(field(check_event_types(&["ticket.opened".into(), "ticket.opened".into()]).unwrap_err()), "event_types[1]");
    }

    #[test]
    fn the_contracts_catalogue_is_every_kind_a_subscriber_can_want() {
        for kind in EventKind::CATALOGUE {
            assert_eq!(event_kind(kind.as_str()), Some(kind));
            assert!(check_event_types(&[kind.as_str().to_string()]).is_ok(), "{kind:?}");
        }
        assert!(!EventKind::CATALOGUE.contains(&EventKind::Void));
        let distinct: BTreeSet<_> = EventKind::CATALOGUE.iter().map(|k| k.as_str()).collect();
        assert_eq!(distinct.len(), EventKind::CATALOGUE.len());
    }

    #[test]
    fn a_subscription_wants_what_it_names_while_enabled() {
        let s = subscription(&["ticket.opened"]);
        assert!(s.wants(EventKind::TicketOpened));
        assert!(!s.wants(EventKind::TicketClosed));
        let all = subscription(&["*"]);
        assert!(all.wants(EventKind::CallCompleted));
        assert!(!all.wants(EventKind::Void), "a void number is never delivered");
        let off = WebhookSubscription { enabled: false, ..all };
        assert!(!off.wants(EventKind::CallCompleted));
    }

    #[test]
    fn an_edit_checks_what_it_changes_and_enabling_again_forgets_the_failures() {
        let s = subscription(&["*"]);
        let edit: WebhookSubscriptionEdit = serde_json::from_value(json!({"timeout_secs": 16})).unwrap();
        assert_eq!(field(edit.apply(&s, now(), PUBLIC).unwrap_err()), "timeout_secs");
        let edit: WebhookSubscriptionEdit = serde_json::from_value(json!({"url": "https://10.0.0.1/x"})).unwrap();
        assert_eq!(field(edit.apply(&s, now(), PUBLIC).unwrap_err()), "url");

        let failing = WebhookSubscription { enabled: false, disabled_reason: Some(DisabledReason::Failing), failing_since: Some(now()), ..s.clone() };
        let edit: WebhookSubscriptionEdit = serde_json::from_value(json!({"description": "CRM"})).unwrap();
        let still = edit.apply(&failing, now(), PUBLIC).unwrap();
        assert_eq!(still.disabled_reason, Some(DisabledReason::Failing), "an unrelated edit keeps why it is off");
        let edit: WebhookSubscriptionEdit = serde_json::from_value(json!({"enabled": true})).unwrap();
        let again = edit.apply(&failing, now(), PUBLIC).unwrap();
        assert!(again.enabled && again.disabled_reason.is_none() && again.failing_since.is_none());
        assert_eq!(again.version, s.version + 1);
        let edit: WebhookSubscriptionEdit = serde_json::from_value(json!({"enabled": false, "description": null})).unwrap();
        let off = edit.apply(&s, now(), PUBLIC).unwrap();
        assert_eq!(off.disabled_reason, Some(DisabledReason::ByAdmin));
        assert!(serde_json::from_value::<WebhookSubscriptionEdit>(json!({"secret": "x"})).is_err(), "unknown fields are refused");
    }

    #[test]
    fn a_secret_is_whsec_and_the_base64_of_32_bytes_never_printed() {
        let s = SigningSecret::from_random([7; 32]);
        assert!(s.expose().starts_with("whsec_"));
        assert_eq!(s.key(), vec![7u8; 32]);
        assert_eq!(s.expose().len(), "whsec_".len() + 44);
        assert!(!format!("{s:?}").contains(&s.expose()[6..]));
        assert!(SigningSecret::parse("whsec_!!").is_none());
        assert!(SigningSecret::parse("secret").is_none());
    }

    #[test]
    fn after_a_rotation_both_secrets_sign_for_24_hours_then_only_the_new_one() {
        let old = SigningSecret::from_random([1; 32]);
        let new = SigningSecret::from_random([2; 32]);
        let keys = SigningKeys::new(old.clone()).rotated(new.clone(), now());
        assert_eq!(keys.signing_at(now()), vec![&new, &old]);
        assert_eq!(keys.signing_at(now() + ROTATION_OVERLAP - Duration::seconds(1)), vec![&new, &old]);
        assert_eq!(keys.signing_at(now() + ROTATION_OVERLAP), vec![&new]);
        // A second rotation inside the window drops the oldest: two secrets at most.
        let third = SigningSecret::from_random([3; 32]);
        let again = keys.rotated(third.clone(), now() + Duration::hours(1));
        assert_eq!(again.signing_at(now() + Duration::hours(1)), vec![&third, &new]);
        // Kept and read back as the subscription's secret.
        assert_eq!(SigningKeys::from_secret(&again.to_secret()), Some(again));
        assert_eq!(SigningKeys::from_secret(&Secret::new("x")), None);
    }

    #[test]
    fn the_secret_name_escapes_the_organisation() {
        assert_eq!(signing_secret_name("org/1", "S1"), "webhooks/org=2f1/S1");
    }
}
