//! The WhatsApp Cloud API webhook: signature, how a body is split for the inbound queue, and a
//! lenient reading of every shape Meta sends. Unknown types and fields are kept raw, never rejected.

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use super::message::{DeliveryStatus, FailureReason};

/// Meta's webhook bodies are small; anything over this is refused with 413.
pub const MAX_WEBHOOK_BYTES: usize = 3 * 1024 * 1024;

/// Checks `X-Hub-Signature-256: sha256=<hex>` against the raw body, in constant time.
pub fn verify_signature(app_secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // HMAC both sides with a fixed key: equal-length digests compared by `verify_slice`.
    let digest = |v: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"max-compare").expect("HMAC accepts keys of any length");
        mac.update(v);
        mac
    };
    let other = digest(b).finalize().into_bytes();
    digest(a).verify_slice(&other).is_ok()
}

/// The header value Meta would send for `body` (used by tests and the dev tools).
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One `entry[].changes[]` item, as it travels on the inbound queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookChange {
    #[serde(default)]
    pub entry_id: String,
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub value: Value,
    /// The entry's `time` (epoch seconds), when Meta gave one: orders template status webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_time: Option<i64>,
}

/// What the webhook receiver puts on the inbound queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundJob {
    /// The changes of one customer (or one WABA), in the order Meta sent them.
    Changes { received_at: DateTime<Utc>, changes: Vec<WebhookChange> },
    /// A body too large for a queue message, kept in the media bucket under `key`.
    Stored { received_at: DateTime<Utc>, key: String },
    /// A message a user wrote in the organisation's chat app (signed by its key: `org_id` is the
    /// key's organisation, never the body's word).
    ChatApp { received_at: DateTime<Utc>, org_id: String, message: super::chat_app::ChatAppMessage },
    /// What became of a reply the chat app was given.
    ChatAppStatus { received_at: DateTime<Utc>, org_id: String, status: super::chat_app::ChatAppStatus },
}

/// Why a correctly signed body cannot be processed (it is quarantined, and Meta still gets 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    NotJson,
    NoEntries,
}

/// Reads a webhook body into its changes. Lenient: an entry without changes is simply empty.
pub fn read_changes(body: &[u8]) -> Result<Vec<WebhookChange>, Unreadable> {
    let json: Value = serde_json::from_slice(body).map_err(|_| Unreadable::NotJson)?;
    let entries = json.get("entry").and_then(Value::as_array).ok_or(Unreadable::NoEntries)?;
    let mut changes = Vec::new();
    for entry in entries {
        let entry_id = scalar_string(entry.get("id")).unwrap_or_default();
        for change in entry.get("changes").and_then(Value::as_array).into_iter().flatten() {
            changes.push(WebhookChange {
                entry_id: entry_id.clone(),
                field: change.get("field").and_then(Value::as_str).unwrap_or_default().to_string(),
                value: change.get("value").cloned().unwrap_or(Value::Null),
                entry_time: entry.get("time").and_then(Value::as_i64),
            });
        }
    }
    Ok(changes)
}

impl WebhookChange {
    pub fn phone_number_id(&self) -> Option<String> {
        scalar_string(self.value.pointer("/metadata/phone_number_id"))
    }

    /// FIFO group: one business number and one customer, so a customer's events stay in order and
    /// different customers are processed in parallel. Changes without a customer (template status,
    /// account updates) are ordered per business account.
    pub fn ordering_key(&self) -> String {
        let customer = self
            .value
            .pointer("/messages/0/from")
            .or_else(|| self.value.pointer("/messages/0/from_user_id"))
            .or_else(|| self.value.pointer("/statuses/0/recipient_id"))
            .or_else(|| self.value.pointer("/statuses/0/recipient_user_id"))
            .or_else(|| self.value.pointer("/contacts/0/wa_id"))
            .or_else(|| self.value.pointer("/contacts/0/user_id"));
        match (self.phone_number_id(), scalar_string(customer)) {
            (Some(number), Some(customer)) => format!("{number}#{customer}"),
            (Some(number), None) => number,
            _ => format!("waba#{}", self.entry_id),
        }
    }
}

/// Groups changes by ordering key, keeping Meta's order inside each group and the groups in the
/// order they first appear.
pub fn group_by_ordering_key(changes: Vec<WebhookChange>) -> Vec<(String, Vec<WebhookChange>)> {
    let mut groups: Vec<(String, Vec<WebhookChange>)> = Vec::new();
    for change in changes {
        let key = change.ordering_key();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(change),
            None => groups.push((key, vec![change])),
        }
    }
    groups
}

/// A string from a JSON string or number (Meta sends ids and timestamps both ways).
fn scalar_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn timestamp(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let secs: i64 = scalar_string(v)?.parse().ok()?;
    Utc.timestamp_opt(secs, 0).single()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A `messages` change, read leniently.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesChange {
    pub phone_number_id: Option<String>,
    pub contacts: Vec<Contact>,
    pub messages: Vec<InboundMessage>,
    pub statuses: Vec<StatusUpdate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub wa_id: Option<String>,
    pub user_id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    pub wamid: String,
    pub from: Option<String>,
    pub from_user_id: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
    /// Meta's `type`, whatever it is (`unknown` when missing).
    pub kind: String,
    /// The object under the key named by `type`, kept whole.
    pub content: Option<Value>,
    pub text: Option<String>,
    pub context: Option<Value>,
    pub referral: Option<Value>,
    pub errors: Option<Value>,
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub wamid: String,
    /// Meta's status word; `status` is set when it is one we track.
    pub status_word: String,
    pub status: Option<DeliveryStatus>,
    pub timestamp: Option<DateTime<Utc>>,
    pub recipient_id: Option<String>,
    pub failure: Option<FailureReason>,
    /// The `biz_opaque_callback_data` the send carried (`message::callback_tag` for ours).
    pub callback_tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TemplateStatusChange {
    pub waba_id: String,
    pub template_id: String,
    pub name: String,
    pub language: Option<String>,
    pub category: Option<String>,
    pub event: String,
    pub reason: Option<String>,
    /// `disable_info.disable_date` of a disabled (or flagged) template, as Meta wrote it.
    pub disable_date: Option<String>,
    /// `entry.time`.
    pub at: Option<DateTime<Utc>>,
}

/// `message_template_quality_update`.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateQualityChange {
    pub waba_id: String,
    pub template_id: String,
    pub name: String,
    pub language: Option<String>,
    pub new_quality: String,
    pub at: Option<DateTime<Utc>>,
}

impl TemplateQualityChange {
    pub fn read(change: &WebhookChange) -> Option<Self> {
        let v = &change.value;
        Some(TemplateQualityChange {
            waba_id: change.entry_id.clone(),
            template_id: scalar_string(v.get("message_template_id"))?,
            name: str_at(v, "/message_template_name").unwrap_or_default().to_string(),
            language: str_at(v, "/message_template_language").map(str::to_string),
            new_quality: str_at(v, "/new_quality_score")?.to_string(),
            at: change.entry_time.and_then(|t| DateTime::from_timestamp(t, 0)),
        })
    }
}

impl MessagesChange {
    pub fn read(value: &Value) -> Self {
        let list = |key: &str| value.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
        MessagesChange {
            phone_number_id: scalar_string(value.pointer("/metadata/phone_number_id")),
            contacts: list("contacts")
                .iter()
                .map(|c| Contact {
                    wa_id: scalar_string(c.get("wa_id")),
                    user_id: scalar_string(c.get("user_id")),
                    name: str_at(c, "/profile/name").map(str::to_string),
                })
                .collect(),
            messages: list("messages").into_iter().map(InboundMessage::read).collect(),
            statuses: list("statuses").iter().filter_map(StatusUpdate::read).collect(),
        }
    }

    /// The contact that sent `message`: the one whose `wa_id` matches, else the only one.
    pub fn contact_for(&self, message: &InboundMessage) -> Option<&Contact> {
        self.contacts
            .iter()
            .find(|c| {
                (c.wa_id.is_some() && c.wa_id == message.from)
                    || (c.user_id.is_some() && c.user_id == message.from_user_id)
            })
            .or_else(|| (self.contacts.len() == 1).then(|| &self.contacts[0]))
    }
}

impl InboundMessage {
    pub fn read(raw: Value) -> Self {
        let kind = str_at(&raw, "/type").unwrap_or("unknown").to_string();
        let content = raw.get(&kind).cloned();
        let wamid = scalar_string(raw.get("id"))
            // Without an id we cannot deduplicate on Meta's key; the content hash is the next best.
            .unwrap_or_else(|| format!("nowamid.{}", super::ids::sha256_hex(raw.to_string().as_bytes())));
        let text = summary(&kind, content.as_ref(), &raw);
        InboundMessage {
            wamid,
            from: scalar_string(raw.get("from")),
            from_user_id: scalar_string(raw.get("from_user_id")),
            timestamp: timestamp(raw.get("timestamp")),
            kind,
            content,
            text,
            context: raw.get("context").cloned(),
            referral: raw.get("referral").cloned(),
            errors: raw.get("errors").cloned(),
            raw,
        }
    }

    /// The id of the reply button or list row chosen, if this message is such a choice.
    pub fn selection_id(&self) -> Option<&str> {
        let c = self.content.as_ref()?;
        match self.kind.as_str() {
            "interactive" => str_at(c, "/button_reply/id").or_else(|| str_at(c, "/list_reply/id")),
            "button" => str_at(c, "/payload"),
            _ => None,
        }
    }
}

/// A readable rendering of any message type, for the conversation view and previews.
fn summary(kind: &str, content: Option<&Value>, raw: &Value) -> Option<String> {
    let c = content.unwrap_or(&Value::Null);
    let s = |p: &str| str_at(c, p).map(str::to_string);
    match kind {
        "text" => s("/body"),
        "image" | "video" | "sticker" | "audio" => s("/caption"),
        "document" => s("/caption").or_else(|| s("/filename")),
        "location" => s("/name").or_else(|| s("/address")).or_else(|| {
            let (lat, lon) = (c.get("latitude")?, c.get("longitude")?);
            Some(format!("{lat},{lon}"))
        }),
        "contacts" => {
            let names: Vec<&str> = c
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|contact| str_at(contact, "/name/formatted_name"))
                .collect();
            (!names.is_empty()).then(|| names.join(", "))
        }
        "interactive" => s("/button_reply/title")
            .or_else(|| s("/list_reply/title"))
            .or_else(|| s("/nfm_reply/body"))
            .or_else(|| s("/nfm_reply/response_json")),
        "button" => s("/text").or_else(|| s("/payload")),
        // An empty or missing emoji means the customer removed their reaction.
        "reaction" => Some(s("/emoji").unwrap_or_default()),
        "order" => s("/text").or_else(|| {
            let items = c.get("product_items").and_then(Value::as_array).map_or(0, Vec::len);
            Some(format!("Order: {items} item(s)"))
        }),
        "system" => s("/body"),
        _ => str_at(raw, "/errors/0/title").map(str::to_string),
    }
}

impl StatusUpdate {
    pub fn read(v: &Value) -> Option<Self> {
        let wamid = scalar_string(v.get("id"))?;
        let status_word = str_at(v, "/status").unwrap_or_default().to_string();
        let failure = v.get("errors").and_then(Value::as_array).and_then(|e| e.first()).map(|e| {
            FailureReason::from_meta(
                e.get("code").and_then(Value::as_i64),
                str_at(e, "/title").or_else(|| str_at(e, "/message")).map(str::to_string),
                str_at(e, "/error_data/details").map(str::to_string),
            )
        });
        Some(StatusUpdate {
            wamid,
            status: DeliveryStatus::parse(&status_word),
            status_word,
            timestamp: timestamp(v.get("timestamp")),
            recipient_id: scalar_string(v.get("recipient_id")),
            failure,
            callback_tag: str_at(v, "/biz_opaque_callback_data").map(str::to_string),
        })
    }
}

impl TemplateStatusChange {
    pub fn read(change: &WebhookChange) -> Option<Self> {
        let v = &change.value;
        Some(TemplateStatusChange {
            waba_id: change.entry_id.clone(),
            template_id: scalar_string(v.get("message_template_id"))?,
            name: str_at(v, "/message_template_name").unwrap_or_default().to_string(),
            language: str_at(v, "/message_template_language").map(str::to_string),
            category: str_at(v, "/message_template_category").map(str::to_string),
            event: str_at(v, "/event").unwrap_or("UNKNOWN").to_string(),
            reason: str_at(v, "/reason").map(str::to_string),
            disable_date: scalar_string(v.pointer("/disable_info/disable_date")),
            at: change.entry_time.and_then(|t| DateTime::from_timestamp(t, 0)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signature_is_checked_over_the_raw_bytes() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = sign(b"secret", body);
        assert!(verify_signature(b"secret", body, Some(&header)));
        assert!(!verify_signature(b"other", body, Some(&header)));
        assert!(!verify_signature(b"secret", b"{}", Some(&header)));
        assert!(!verify_signature(b"secret", body, None));
        assert!(!verify_signature(b"secret", body, Some("sha256=zz")));
        assert!(!verify_signature(b"secret", body, Some(header.trim_start_matches("sha256="))));
    }

    #[test]
    fn bodies_that_are_not_webhooks_are_unreadable() {
        assert_eq!(read_changes(b"not json"), Err(Unreadable::NotJson));
        assert_eq!(read_changes(b"{}"), Err(Unreadable::NoEntries));
    }

    #[test]
    fn changes_group_by_number_and_customer() {
        let body = json!({"entry":[{"id":"W","changes":[
            {"field":"messages","value":{"metadata":{"phone_number_id":"P"},"messages":[{"from":"A","id":"1","type":"text"}]}},
            {"field":"messages","value":{"metadata":{"phone_number_id":"P"},"messages":[{"from":"B","id":"2","type":"text"}]}},
            {"field":"messages","value":{"metadata":{"phone_number_id":"P"},"statuses":[{"recipient_id":"A","id":"3","status":"read"}]}},
            {"field":"message_template_status_update","value":{"message_template_id":1}}
        ]}]});
        let groups = group_by_ordering_key(read_changes(body.to_string().as_bytes()).unwrap());
        let keys: Vec<&str> = groups.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["P#A", "P#B", "waba#W"]);
        assert_eq!(groups[0].1.len(), 2);
    }

    #[test]
    fn reactions_without_emoji_and_unknown_types_are_kept() {
        let removed = InboundMessage::read(json!({"id":"w1","from":"1","type":"reaction","reaction":{"message_id":"w0"}}));
        assert_eq!(removed.text.as_deref(), Some(""));
        let odd = InboundMessage::read(json!({"id":"w2","from":"1","type":"hologram","hologram":{"x":1},"extra":true}));
        assert_eq!(odd.kind, "hologram");
        assert_eq!(odd.content, Some(json!({"x":1})));
        assert_eq!(odd.raw["extra"], json!(true));
        let untyped = InboundMessage::read(json!({"from":"1"}));
        assert_eq!(untyped.kind, "unknown");
        assert!(untyped.wamid.starts_with("nowamid."));
    }

    #[test]
    fn contacts_without_wa_id_match_by_user_id() {
        let change = MessagesChange::read(&json!({
            "metadata":{"phone_number_id":123},
            "contacts":[{"user_id":"US.1","profile":{"name":"Ana"}},{"wa_id":"2"}],
            "messages":[{"from_user_id":"US.1","id":"w","timestamp":1749416383,"type":"text","text":{"body":"hi"}}]
        }));
        assert_eq!(change.phone_number_id.as_deref(), Some("123"));
        let m = &change.messages[0];
        assert_eq!(change.contact_for(m).unwrap().name.as_deref(), Some("Ana"));
        assert_eq!(m.timestamp.unwrap().timestamp(), 1_749_416_383);
    }

    #[test]
    fn selections_come_from_buttons_and_lists() {
        let b = InboundMessage::read(json!({"id":"w","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"support","title":"Chat support"}}}));
        assert_eq!(b.selection_id(), Some("support"));
        assert_eq!(b.text.as_deref(), Some("Chat support"));
        let l = InboundMessage::read(json!({"id":"w","type":"button","button":{"payload":"P","text":"T"}}));
        assert_eq!(l.selection_id(), Some("P"));
    }

    #[test]
    fn failed_status_carries_code_and_title() {
        let s = StatusUpdate::read(&json!({"id":"w","status":"failed","errors":[{"code":131047,"title":"Re-engagement message"}]})).unwrap();
        assert_eq!(s.status, Some(DeliveryStatus::Failed));
        let f = s.failure.unwrap();
        assert_eq!(f.code, Some(131047));
        assert_eq!(f.title.as_deref(), Some("Re-engagement message"));
        assert_eq!(f.reason, crate::domain::message::OUTSIDE_WINDOW);
    }
}
