//! A WhatsApp business phone number registered to an organisation: how a webhook finds its tenant,
//! which secret holds the Graph token its replies are sent with, and where the messages that came
//! before it was registered are kept until they are replayed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::secret::Secret;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub org_id: String,
    pub phone_number_id: String,
    #[serde(default)]
    pub display_phone_number: Option<String>,
    /// The WhatsApp Business Account that owns the number; template status updates name only this.
    #[serde(default)]
    pub waba_id: Option<String>,
    /// Sent instead of a free-form message once the 24-hour customer-service window has closed.
    #[serde(default)]
    pub fallback_template: Option<TemplateRef>,
    /// When the number's Graph access token was last stored in its secret (the token itself is
    /// never on the channel). `None`: the number has no token of its own and cannot send.
    #[serde(default)]
    pub access_token_rotated_at: Option<DateTime<Utc>>,
    /// The team whose queue a new conversation on this number joins (`docs/sla.md`); none: the
    /// conversation waits for an agent or a supervisor to give it one.
    #[serde(default)]
    pub default_team_id: Option<String>,
}

/// An approved WhatsApp message template, by name and language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    /// The template's name as approved by Meta: lowercase letters, digits and underscores.
    #[schema(min_length = 1, max_length = 512, pattern = "^[a-z0-9_]+$")]
    pub name: String,
    /// Its language code (`en`, `en_US`, `pt_BR`, `fil`).
    #[schema(min_length = 2, max_length = 8, pattern = "^[A-Za-z]{2,3}(_[A-Za-z]{2,4})?$")]
    pub language: String,
}

/// A WhatsApp message template's review state, kept current by `message_template_status_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatsAppTemplateStatus {
    pub org_id: String,
    pub template_id: String,
    pub name: String,
    pub language: Option<String>,
    pub category: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Meta's ids (a phone number's, a WhatsApp Business Account's) are numbers written as text.
pub const MAX_GRAPH_ID_DIGITS: usize = 32;
/// Graph access tokens are a few hundred characters; Secrets Manager takes up to 64 KiB.
pub const MAX_ACCESS_TOKEN_CHARS: usize = 4096;

/// What an admin registers (`POST /v1/channels/whatsapp`): a number of the organisation's, its
/// account, and the Graph access token its replies are sent with. Registering the number again
/// replaces all of it (a new token: rotation).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRegistration {
    /// The number's id in the WhatsApp Cloud API (`metadata.phone_number_id` of its webhooks).
    #[schema(min_length = 1, max_length = 32, pattern = "^[0-9]+$")]
    pub phone_number_id: String,
    /// The WhatsApp Business Account the number belongs to.
    #[schema(min_length = 1, max_length = 32, pattern = "^[0-9]+$")]
    pub waba_id: String,
    /// The number as people see it (`15550783881`, `+1 555-078-3881`).
    #[schema(min_length = 1, max_length = 32, pattern = "^\\+?[0-9][0-9 -]{0,30}$")]
    pub display_phone_number: String,
    /// Sent instead of a free-form reply once the customer's 24-hour window has closed.
    #[serde(default)]
    pub fallback_template: Option<TemplateRef>,
    /// The Graph API access token (a system user's) that may send from this number. Write-only:
    /// kept in its own secret, never answered, never logged.
    #[schema(value_type = String, write_only, min_length = 1, max_length = 4096, pattern = "^[!-~]+$")]
    pub access_token: Secret,
    /// The team new conversations on this number join (a team of the organisation).
    #[serde(default, deserialize_with = "crate::domain::ids::optional_id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub default_team_id: Option<String>,
}

impl ChannelRegistration {
    /// Every field within its limits, or 422 naming the first that is not (the token's value is
    /// never part of the reason).
    pub fn validate(&self) -> Result<()> {
        check_graph_id("phone_number_id", &self.phone_number_id)?;
        check_graph_id("waba_id", &self.waba_id)?;
        check_display_number(&self.display_phone_number)?;
        if let Some(t) = &self.fallback_template {
            check_template(t)?;
        }
        let token = self.access_token.expose();
        if token.is_empty() || token.chars().count() > MAX_ACCESS_TOKEN_CHARS || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "access_token",
                format!("must be 1 to {MAX_ACCESS_TOKEN_CHARS} visible ASCII characters, without spaces"),
            ));
        }
        Ok(())
    }

    /// The organisation's channel this registration describes, its token stored at `now`.
    pub fn channel(&self, org_id: &str, now: DateTime<Utc>) -> Channel {
        Channel {
            org_id: org_id.to_string(),
            phone_number_id: self.phone_number_id.clone(),
            display_phone_number: Some(self.display_phone_number.clone()),
            waba_id: Some(self.waba_id.clone()),
            fallback_template: self.fallback_template.clone(),
            access_token_rotated_at: Some(now),
            default_team_id: self.default_team_id.clone(),
        }
    }
}

/// A Graph id: 1 to [`MAX_GRAPH_ID_DIGITS`] digits. It becomes part of a secret's name and of
/// S3 keys, so nothing else may be in it.
pub fn check_graph_id(field: &str, value: &str) -> Result<()> {
    if is_graph_id(value) {
        Ok(())
    } else {
        Err(Error::invalid(field, format!("must be 1 to {MAX_GRAPH_ID_DIGITS} digits")))
    }
}

pub fn is_graph_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_GRAPH_ID_DIGITS && value.bytes().all(|b| b.is_ascii_digit())
}

/// `^\+?[0-9][0-9 -]{0,30}$`, as the contract says.
fn check_display_number(value: &str) -> Result<()> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    let ok = digits.starts_with(|c: char| c.is_ascii_digit())
        && digits.len() <= 31
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b' ' || b == b'-');
    if ok { Ok(()) } else { Err(Error::invalid("display_phone_number", "must be digits, spaces and dashes, with an optional leading +, at most 32 characters")) }
}

/// Meta's template names and language codes, as the contract says.
fn check_template(t: &TemplateRef) -> Result<()> {
    let name_ok = !t.name.is_empty() && t.name.len() <= 512 && t.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(Error::invalid("fallback_template.name", "must be 1 to 512 lowercase letters, digits or underscores"));
    }
    let (lang, region) = t.language.split_once('_').map_or((t.language.as_str(), None), |(l, r)| (l, Some(r)));
    let letters = |s: &str, min: usize, max: usize| (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic());
    if !letters(lang, 2, 3) || !region.is_none_or(|r| letters(r, 2, 4)) {
        return Err(Error::invalid("fallback_template.language", "must be a language code such as en, en_US or fil"));
    }
    Ok(())
}

/// The name of the secret holding a number's Graph access token, below the deployment's prefix
/// (which the secrets adapter adds): one secret per organisation and number, so a token can only
/// ever be used for the number it was registered with, and another organisation registering the
/// same number later gets a secret of its own.
pub fn access_token_secret(org_id: &str, phone_number_id: &str) -> String {
    format!("whatsapp/{}/{}", secret_name_part(org_id), phone_number_id)
}

/// Secrets Manager names allow letters, digits and `/_+=.@-`. An organisation id is ours but may
/// hold other characters: they (and `=`, the escape) become `=` and two hex digits, so two ids
/// never share a name and none adds a level (`/`).
pub(crate) fn secret_name_part(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'.' | b'@' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("={b:02x}"));
        }
    }
    out
}

// -------------------------------------------------------------------------------- voice account

/// What an admin registers for the feedback calls (`PUT /v1/channels/voice`): the organisation's
/// own Twilio account, the auth token its calls are placed with (and its callbacks signed with),
/// and the number calls come from unless a schedule names another. Registering again replaces it
/// (a new token: rotation).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoiceRegistration {
    /// The Twilio account sid: `AC` and 32 hex digits.
    #[schema(pattern = "^AC[0-9a-fA-F]{32}$", example = "AC00000000000000000000000000000000")]
    pub account_sid: String,
    /// The account's auth token. Write-only: kept in the organisation's own secret, never
    /// answered, never logged.
    #[schema(value_type = String, write_only, min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    pub auth_token: Secret,
    /// One of the account's numbers, E.164 once spaces, dashes, dots and brackets are dropped.
    #[schema(pattern = "^[ ().-]*\\+[ ().-]*[1-9]([ ().-]*[0-9]){7,14}[ ().-]*$", example = "+1 555-078-3881")]
    pub caller_id: String,
}

/// Twilio's auth tokens are 32 characters; room for what another provider may use.
pub const MAX_AUTH_TOKEN_CHARS: usize = 128;

impl VoiceRegistration {
    /// The account as kept, once every field is checked (422 naming the first that is not; the
    /// token's value is never part of the reason).
    pub fn account(&self, now: DateTime<Utc>) -> Result<VoiceChannel> {
        let sid_ok = self.account_sid.len() == 34
            && self.account_sid.starts_with("AC")
            && self.account_sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if !sid_ok {
            return Err(Error::invalid("account_sid", "must be AC followed by 32 hex digits"));
        }
        let token = self.auth_token.expose();
        if token.is_empty() || token.chars().count() > MAX_AUTH_TOKEN_CHARS || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid("auth_token", format!("must be 1 to {MAX_AUTH_TOKEN_CHARS} visible ASCII characters, without spaces")));
        }
        let caller_id = crate::domain::call::normalise_phone("caller_id", &self.caller_id)?;
        Ok(VoiceChannel { account_sid: self.account_sid.clone(), auth_token: self.auth_token.clone(), caller_id, rotated_at: now })
    }
}

/// The organisation's voice account, as its secret keeps it (one JSON value: the sid and caller id
/// are no secret, but keeping them with the token makes a registration one write and a call one
/// read).
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceChannel {
    pub account_sid: String,
    pub auth_token: Secret,
    /// E.164.
    pub caller_id: String,
    pub rotated_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct StoredVoiceChannel {
    account_sid: String,
    auth_token: String,
    caller_id: String,
    rotated_at: DateTime<Utc>,
}

impl VoiceChannel {
    /// The secret's value.
    pub fn to_secret(&self) -> Secret {
        let stored = StoredVoiceChannel {
            account_sid: self.account_sid.clone(),
            auth_token: self.auth_token.expose().to_string(),
            caller_id: self.caller_id.clone(),
            rotated_at: self.rotated_at,
        };
        Secret::new(serde_json::to_string(&stored).unwrap_or_else(|_| unreachable!("strings and a time serialise")))
    }

    /// Read back from the secret; `None` when it is not what `to_secret` wrote (never its text in
    /// an error).
    pub fn from_secret(secret: &Secret) -> Option<VoiceChannel> {
        let s: StoredVoiceChannel = serde_json::from_str(secret.expose()).ok()?;
        Some(VoiceChannel { account_sid: s.account_sid, auth_token: Secret::new(s.auth_token), caller_id: s.caller_id, rotated_at: s.rotated_at })
    }
}

/// The voice account as the API shows it: never the token, only when it was last stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct VoiceChannelView {
    pub account_sid: String,
    pub caller_id: String,
    pub auth_token_rotated_at: DateTime<Utc>,
}

impl From<&VoiceChannel> for VoiceChannelView {
    fn from(v: &VoiceChannel) -> Self {
        VoiceChannelView { account_sid: v.account_sid.clone(), caller_id: v.caller_id.clone(), auth_token_rotated_at: v.rotated_at }
    }
}

/// The name of the secret holding the organisation's voice account (below the deployment's
/// prefix): one per organisation, so its callbacks are verified with its own token only.
pub fn voice_account_secret(org_id: &str) -> String {
    format!("voice/{}", secret_name_part(org_id))
}

/// Where the webhook changes for a number nobody has registered are kept: one folder per number,
/// so registering it finds them by prefix (`quarantine_prefix`).
pub const UNKNOWN_NUMBER_QUARANTINE: &str = "quarantine/unknown-phone-number-id/";

/// The folder of one number's quarantined changes.
pub fn quarantine_prefix(phone_number_id: &str) -> String {
    format!("{UNKNOWN_NUMBER_QUARANTINE}{phone_number_id}/")
}

/// The key of one quarantined change: the number's folder, the time it was received (keys list in
/// arrival order, so a replay queues a customer's messages in the order they came) and the hash of
/// what is kept (the same change kept twice is one object).
pub fn quarantine_key(phone_number_id: &str, received_at: DateTime<Utc>, content_sha256: &str) -> String {
    format!("{}{}-{}.json", quarantine_prefix(phone_number_id), received_at.format("%Y%m%dT%H%M%S%.3fZ"), content_sha256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_voice_registration_is_checked_field_by_field_and_kept_whole_in_its_secret() {
        let now = Utc.with_ymd_and_hms(2030, 1, 7, 9, 0, 0).unwrap();
        let given = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut body = serde_json::json!({ "account_sid": "AC0123456789abcdef0123456789ABCDEF", "auth_token": "tw-auth-token", "caller_id": "+1 555-078-3881" });
            edit(&mut body);
            serde_json::from_value::<VoiceRegistration>(body).unwrap().account(now)
        };
        let field = |r: Result<VoiceChannel>| match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected 422, got {other:?}"),
        };
        let account = given(&|_| {}).unwrap();
        assert_eq!(account.caller_id, "+15550783881");
        assert_eq!(VoiceChannel::from_secret(&account.to_secret()), Some(account.clone()));
        assert_eq!(VoiceChannelView::from(&account).account_sid, "AC0123456789abcdef0123456789ABCDEF");
        assert_eq!(field(given(&|b| b["account_sid"] = "AC123".into())), "account_sid");
        assert_eq!(field(given(&|b| b["account_sid"] = "XX0123456789abcdef0123456789abcdef".into())), "account_sid");
        assert_eq!(field(given(&|b| b["auth_token"] = "with space".into())), "auth_token");
        assert_eq!(field(given(&|b| b["auth_token"] = "".into())), "auth_token");
        assert_eq!(field(given(&|b| b["caller_id"] = "555".into())), "caller_id");
        assert!(!format!("{account:?}").contains("tw-auth-token"), "the token never reaches Debug");
        assert_eq!(VoiceChannel::from_secret(&Secret::new("not json")), None);
        assert_eq!(voice_account_secret("org/1"), "voice/org=2f1");
    }

    fn registration(edit: impl FnOnce(&mut serde_json::Value)) -> Result<ChannelRegistration> {
        let mut body = serde_json::json!({
            "phone_number_id": "106540352242922", "waba_id": "102290129340398", "display_phone_number": "+1 555-078-3881",
            "fallback_template": { "name": "hello_world", "language": "en_US" }, "access_token": "EAAGtoken123"
        });
        edit(&mut body);
        let r: ChannelRegistration = serde_json::from_value(body).map_err(|e| Error::invalid("body", e.to_string()))?;
        r.validate().map(|()| r)
    }

    fn refused_field(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        match registration(edit) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("accepted: {other:?}"),
        }
    }

    #[test]
    fn a_registration_within_its_limits_is_the_organisations_channel() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let channel = registration(|_| {}).unwrap().channel("org-1", at);
        assert_eq!((channel.org_id.as_str(), channel.phone_number_id.as_str()), ("org-1", "106540352242922"));
        assert_eq!(channel.waba_id.as_deref(), Some("102290129340398"));
        assert_eq!(channel.access_token_rotated_at, Some(at));
        assert!(registration(|b| b["fallback_template"] = serde_json::Value::Null).is_ok());
        assert!(registration(|b| b["display_phone_number"] = "15550783881".into()).is_ok());
        assert!(registration(|b| b["fallback_template"]["language"] = "fil".into()).is_ok());
    }

    #[test]
    fn each_field_out_of_its_limits_is_named() {
        assert_eq!(refused_field(|b| b["phone_number_id"] = "PN1".into()), "phone_number_id");
        assert_eq!(refused_field(|b| b["phone_number_id"] = "1".repeat(33).into()), "phone_number_id");
        assert_eq!(refused_field(|b| b["waba_id"] = "".into()), "waba_id");
        assert_eq!(refused_field(|b| b["display_phone_number"] = "call me".into()), "display_phone_number");
        assert_eq!(refused_field(|b| b["display_phone_number"] = "+".into()), "display_phone_number");
        assert_eq!(refused_field(|b| b["fallback_template"]["name"] = "Hello World".into()), "fallback_template.name");
        assert_eq!(refused_field(|b| b["fallback_template"]["language"] = "english".into()), "fallback_template.language");
        assert_eq!(refused_field(|b| b["access_token"] = "".into()), "access_token");
        assert_eq!(refused_field(|b| b["access_token"] = "two words".into()), "access_token");
        assert_eq!(refused_field(|b| b["access_token"] = "x".repeat(MAX_ACCESS_TOKEN_CHARS + 1).into()), "access_token");
    }

    #[test]
    fn a_refused_token_is_not_repeated_in_the_reason_nor_in_debug() {
        let err = registration(|b| b["access_token"] = "secret value".into()).unwrap_err();
        assert!(!err.to_string().contains("secret value"), "{err}");
        let r = registration(|_| {}).unwrap();
        assert!(!format!("{r:?}").contains("EAAGtoken123"));
    }

    #[test]
    fn secret_names_are_per_organisation_and_number_and_never_collide() {
        assert_eq!(access_token_secret("org_demo", "106540352242922"), "whatsapp/org_demo/106540352242922");
        assert_eq!(access_token_secret("acme-1.eu@x+y", "1"), "whatsapp/acme-1.eu@x+y/1");
        assert_eq!(access_token_secret("a b", "1"), "whatsapp/a=20b/1");
        assert_ne!(access_token_secret("a b", "1"), access_token_secret("a=20b", "1"));
        let name = access_token_secret("ñ/#", "1");
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b)), "{name}");
        assert_eq!(name.matches('/').count(), 2, "the organisation cannot add a level: {name}");
    }

    #[test]
    fn a_numbers_quarantined_changes_list_under_its_prefix_in_arrival_order() {
        let at = |s| Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, s).unwrap();
        let (a, b) = (quarantine_key("123", at(5), "ff"), quarantine_key("123", at(6), "00"));
        assert!(a.starts_with(&quarantine_prefix("123")) && b.starts_with(&quarantine_prefix("123")));
        assert!(a < b, "{a} {b}");
        assert!(!quarantine_key("1234", at(5), "ff").starts_with(&quarantine_prefix("123")), "another number's folder");
        assert_eq!(a, "quarantine/unknown-phone-number-id/123/20260102T030405.000Z-ff.json");
    }
}
