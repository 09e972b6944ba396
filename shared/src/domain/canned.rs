//! Canned responses: an agent's quick replies (`/greeting`), their shortcuts, the `{{variables}}`
//! in their text and how a text is rendered from what MAX knows. Decisions:
//! `docs/canned-responses.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::ids::check_id;
use crate::domain::outbound::{MAX_TEXT_CHARS, MediaType, OutboundContent};
use crate::error::{Error, Result};

/// `/` and up to 31 characters: short enough to type, long enough to say what it is.
pub const MAX_SHORTCUT_CHARS: usize = 32;
pub const MAX_TITLE_CHARS: usize = 100;
pub const MAX_CATEGORY_CHARS: usize = 50;
/// A response is sent as one text message: WhatsApp's limit.
pub const MAX_CONTENT_CHARS: usize = MAX_TEXT_CHARS;
pub const MAX_ATTACHMENTS: usize = 5;
pub const MAX_VARIABLE_CHARS: usize = 64;
pub const MAX_VALUES: usize = 50;
pub const MAX_VALUE_CHARS: usize = 1024;
/// The most responses an organisation keeps (personal ones included): the list reads them all
/// with one Query and filters in the use case, which stays cheap only while this bounds it.
pub const MAX_RESPONSES_PER_ORG: usize = 500;

/// The variables MAX fills itself (when it knows them for the conversation and the caller).
pub const CUSTOMER_NAME: &str = "customer_name";
pub const CUSTOMER_PHONE: &str = "customer_phone";
pub const AGENT_NAME: &str = "agent_name";
pub const CONVERSATION_ID: &str = "conversation_id";
pub const TICKET_ID: &str = "ticket_id";
pub const KNOWN_VARIABLES: [&str; 5] = [CUSTOMER_NAME, CUSTOMER_PHONE, AGENT_NAME, CONVERSATION_ID, TICKET_ID];

/// What a canned response can carry besides its text: media by link, sent as further messages
/// after the text (uploads come with `POST /v1/media`, a later issue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentType {
    Image,
    Document,
    Audio,
    Video,
}

impl AttachmentType {
    fn media_type(self) -> MediaType {
        match self {
            AttachmentType::Image => MediaType::Image,
            AttachmentType::Document => MediaType::Document,
            AttachmentType::Audio => MediaType::Audio,
            AttachmentType::Video => MediaType::Video,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedAttachment {
    #[serde(rename = "type")]
    pub media_type: AttachmentType,
    /// Where Meta fetches the media: https only (the customer's phone shows what it serves).
    #[schema(min_length = 9, max_length = 2048, pattern = "^https://")]
    pub link: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pub caption: Option<String>,
    /// A document's name as the customer sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 240, pattern = "^[^/\\\\\\x00-\\x1f\\x7f-\\x9f]*[^/\\\\\\s\\x00-\\x1f\\x7f-\\x9f][^/\\\\\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub filename: Option<String>,
}

impl CannedAttachment {
    /// The message it becomes.
    pub fn content(&self) -> OutboundContent {
        OutboundContent::Media {
            media_type: self.media_type.media_type(),
            id: None,
            link: Some(self.link.clone()),
            media_id: None,
            caption: self.caption.clone(),
            filename: self.filename.clone(),
        }
    }

    /// WhatsApp's limits (those of a media reply), named `attachments[i].…`.
    fn validate(&self, i: usize) -> Result<()> {
        if !self.link.starts_with("https://") || self.link.len() <= "https://".len() {
            return Err(Error::invalid(format!("attachments[{i}].link"), "must be an https URL"));
        }
        self.content().validate().map_err(|e| match e {
            Error::Invalid { field, reason } => {
                Error::Invalid { field: format!("attachments[{i}].{}", field.strip_prefix("content.").unwrap_or(&field)), reason }
            }
            other => other,
        })
    }
}

/// A stored canned response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CannedResponse {
    pub id: String,
    pub org_id: String,
    /// `/` and a lowercase slug, unique within its scope (the organisation, the team, or the
    /// agent for a personal one).
    pub shortcut: String,
    pub title: String,
    /// The text, with `{{variables}}`.
    pub content: String,
    #[serde(default)]
    pub category: Option<String>,
    /// The team it belongs to; none: the whole organisation's (or a personal one).
    #[serde(default)]
    pub team_id: Option<String>,
    /// A personal response: the one agent who sees and uses it.
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub attachments: Vec<CannedAttachment>,
    /// The variables of `content`, in order of first appearance.
    #[serde(default)]
    pub variables: Vec<String>,
    /// How many times it was sent.
    #[serde(default)]
    pub usage_count: u64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// `POST /v1/canned-responses`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedInput {
    #[schema(min_length = 2, max_length = 32, pattern = "^/[a-z0-9][a-z0-9_-]*$")]
    pub shortcut: String,
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub title: String,
    #[schema(min_length = 1, max_length = 4096, pattern = "\\S")]
    pub content: String,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 50, pattern = "\\S")]
    pub category: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::ids::optional_id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub team_id: Option<String>,
    /// Only the caller sees it (the only kind agents may create).
    #[serde(default)]
    pub personal: bool,
    #[serde(default)]
    #[schema(max_items = 5)]
    pub attachments: Vec<CannedAttachment>,
}

/// `PATCH /v1/canned-responses/{id}`: the fields given change; `null` clears a category or team.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedEdit {
    #[serde(default)]
    #[schema(min_length = 2, max_length = 32, pattern = "^/[a-z0-9][a-z0-9_-]*$")]
    pub shortcut: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub title: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 4096, pattern = "\\S")]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, min_length = 1, max_length = 50, pattern = "\\S")]
    pub category: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub team_id: Option<Option<String>>,
    #[serde(default)]
    #[schema(max_items = 5)]
    pub attachments: Option<Vec<CannedAttachment>>,
}

/// A field given, possibly as `null` (`Some(None)`), apart from one left out (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn require_text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if chars(value) > max {
        return Err(Error::invalid(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

/// `/` and a lowercase slug: a letter or digit, then letters, digits, `_` and `-`.
pub fn check_shortcut(shortcut: &str) -> Result<()> {
    let invalid = |reason: &str| Error::invalid("shortcut", reason);
    let Some(slug) = shortcut.strip_prefix('/') else {
        return Err(invalid("must start with '/'"));
    };
    if slug.is_empty() || chars(shortcut) > MAX_SHORTCUT_CHARS {
        return Err(invalid(&format!("must be '/' and 1 to {} characters", MAX_SHORTCUT_CHARS - 1)));
    }
    let first_ok = slug.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !first_ok || !slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
        return Err(invalid("must be '/' and a lowercase slug: a-z, 0-9, '_' and '-', starting with a letter or digit"));
    }
    Ok(())
}

/// Whether `name` may name a variable: `[a-z0-9_]+`, at most [`MAX_VARIABLE_CHARS`].
pub fn is_variable_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_VARIABLE_CHARS && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A piece of a response's text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Variable(&'a str),
}

/// The text cut into plain text and `{{name}}` variables. Every `{{` must open a variable and
/// every `}}` close one: anything else is a typo the agent would send to the customer as is.
fn pieces(content: &str) -> Result<Vec<Piece<'_>>> {
    let malformed = |at: usize, reason: &str| {
        let byte_char = content[..at].chars().count();
        Error::invalid("content", format!("{reason} at character {byte_char}"))
    };
    let mut out = Vec::new();
    let mut rest = 0;
    while rest < content.len() {
        let tail = &content[rest..];
        let open = tail.find("{{");
        let close = tail.find("}}");
        match (open, close) {
            (_, Some(c)) if open.is_none_or(|o| c < o) => return Err(malformed(rest + c, "'}}' closes no variable")),
            (None, _) => {
                out.push(Piece::Text(tail));
                break;
            }
            (Some(o), _) => {
                if o > 0 {
                    out.push(Piece::Text(&tail[..o]));
                }
                let inner_start = rest + o + 2;
                let Some(end) = content[inner_start..].find("}}") else {
                    return Err(malformed(rest + o, "'{{' is never closed"));
                };
                let name = &content[inner_start..inner_start + end];
                if !is_variable_name(name) {
                    return Err(malformed(
                        rest + o,
                        &format!("'{{{{{name}}}}}' is no variable: names are a-z, 0-9 and '_' (at most {MAX_VARIABLE_CHARS})"),
                    ));
                }
                out.push(Piece::Variable(name));
                rest = inner_start + end + 2;
            }
        }
    }
    Ok(out)
}

/// The variables of a text, in order of first appearance; 422 naming `content` when its braces
/// are malformed.
pub fn variables(content: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for piece in pieces(content)? {
        if let Piece::Variable(name) = piece
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// A text rendered for a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rendered {
    /// The text with every known variable filled; a missing one shows as `[name]`, never as
    /// `{{name}}`.
    pub text: String,
    /// The variables nothing filled, in order of first appearance.
    pub missing: Vec<String>,
}

/// Fills `content`'s variables from `known`; those it does not know are listed as missing and
/// shown as `[name]`. The text never carries `{{`: a value that brings one is broken up
/// (`{ {`), so what reaches the customer never looks like an unfilled variable.
pub fn render(content: &str, known: &BTreeMap<String, String>) -> Result<Rendered> {
    let mut text = String::with_capacity(content.len());
    let mut missing: Vec<String> = Vec::new();
    for piece in pieces(content)? {
        match piece {
            Piece::Text(t) => text.push_str(t),
            Piece::Variable(name) => match known.get(name).filter(|v| !v.trim().is_empty()) {
                Some(value) => text.push_str(value),
                None => {
                    if !missing.iter().any(|m| m == name) {
                        missing.push(name.to_string());
                    }
                    text.push('[');
                    text.push_str(name);
                    text.push(']');
                }
            },
        }
    }
    while text.contains("{{") {
        text = text.replace("{{", "{ {");
    }
    Ok(Rendered { text, missing })
}

/// The contract of a `values` map: variable names to non-blank texts, as [`check_values`] reads it.
pub fn values_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Type};
    let name = ObjectBuilder::new().schema_type(Type::String).pattern(Some(format!("^[a-z0-9_]{{1,{MAX_VARIABLE_CHARS}}}$")));
    let value = ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(MAX_VALUE_CHARS)).pattern(Some("\\S"));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(name))
        .additional_properties(Some(value))
        .max_properties(Some(MAX_VALUES))
        .description(Some("Values of variables MAX does not know (`order_id`); they never replace what it knows."))
        .build()
}

/// The caller's `values`: names of variables, each a non-blank text within limits; 422 naming
/// `values.{name}`.
pub fn check_values(values: &BTreeMap<String, String>) -> Result<()> {
    if values.len() > MAX_VALUES {
        return Err(Error::invalid("values", format!("must have at most {MAX_VALUES} values")));
    }
    for (name, value) in values {
        if !is_variable_name(name) {
            return Err(Error::invalid(format!("values.{name}"), "is no variable name: a-z, 0-9 and '_'"));
        }
        require_text(&format!("values.{name}"), value, MAX_VALUE_CHARS)?;
    }
    Ok(())
}

/// What fills the variables: what MAX knows wins; the caller's values fill the rest (a value
/// for something MAX knows is ignored: the agent cannot send another customer's name).
pub fn fill(known_by_max: BTreeMap<String, String>, values: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut all = known_by_max;
    for (name, value) in values {
        all.entry(name.clone()).or_insert_with(|| value.clone());
    }
    all
}

/// Where a shortcut must be unique: the organisation (`O`), a team (`T#team`) or an agent's own
/// responses (`U#user`).
pub fn shortcut_scope(team_id: Option<&str>, owner_id: Option<&str>) -> String {
    match (owner_id, team_id) {
        (Some(owner), _) => format!("U#{owner}"),
        (None, Some(team)) => format!("T#{team}"),
        (None, None) => "O".to_string(),
    }
}

impl CannedResponse {
    /// A new response from `input`, by `created_by` (the owner too when personal).
    pub fn create(id: String, org_id: &str, created_by: &str, input: CannedInput, now: DateTime<Utc>) -> Result<CannedResponse> {
        if input.personal && input.team_id.is_some() {
            return Err(Error::invalid("team_id", "a personal response belongs to no team"));
        }
        let response = CannedResponse {
            id,
            org_id: org_id.to_string(),
            shortcut: input.shortcut,
            title: input.title,
            variables: Vec::new(),
            content: input.content,
            category: input.category,
            team_id: input.team_id,
            owner_id: input.personal.then(|| created_by.to_string()),
            attachments: input.attachments,
            usage_count: 0,
            created_by: created_by.to_string(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        response.checked()
    }

    /// The response with `edit` applied, checked, its version advanced.
    pub fn edited(&self, edit: CannedEdit, now: DateTime<Utc>) -> Result<CannedResponse> {
        let mut next = self.clone();
        if let Some(s) = edit.shortcut {
            next.shortcut = s;
        }
        if let Some(t) = edit.title {
            next.title = t;
        }
        if let Some(c) = edit.content {
            next.content = c;
        }
        if let Some(c) = edit.category {
            next.category = c;
        }
        if let Some(team) = edit.team_id {
            if self.owner_id.is_some() && team.is_some() {
                return Err(Error::invalid("team_id", "a personal response belongs to no team"));
            }
            next.team_id = team;
        }
        if let Some(a) = edit.attachments {
            next.attachments = a;
        }
        next.updated_at = now;
        next.version += 1;
        next.checked()
    }

    /// Every field within its limits, the variables read from the content.
    fn checked(mut self) -> Result<CannedResponse> {
        check_shortcut(&self.shortcut)?;
        require_text("title", &self.title, MAX_TITLE_CHARS)?;
        require_text("content", &self.content, MAX_CONTENT_CHARS)?;
        if let Some(c) = &self.category {
            require_text("category", c, MAX_CATEGORY_CHARS)?;
        }
        if let Some(team) = &self.team_id {
            check_id("team_id", team)?;
        }
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(Error::invalid("attachments", format!("must have at most {MAX_ATTACHMENTS} attachments")));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            a.validate(i)?;
        }
        self.variables = variables(&self.content)?;
        Ok(self)
    }

    /// Where its shortcut must be unique.
    pub fn scope(&self) -> String {
        shortcut_scope(self.team_id.as_deref(), self.owner_id.as_deref())
    }

    /// A personal response is its owner's alone; the others are everyone's in the organisation.
    pub fn visible_to(&self, user_id: &str) -> bool {
        self.owner_id.as_deref().is_none_or(|o| o == user_id)
    }

    /// Whether the list for `team` shows it: the organisation's, that team's and personal ones
    /// (other teams' are left out).
    pub fn in_team(&self, team: Option<&str>) -> bool {
        match (team, &self.team_id) {
            (None, _) | (_, None) => true,
            (Some(wanted), Some(own)) => wanted == own,
        }
    }

    /// The agent's typed prefix (`/gre`, `gre`, `Saludo`): the shortcut's slug, the title or one
    /// of the title's words begins with it, ignoring case. An empty prefix matches everything.
    pub fn matches(&self, query: &str) -> bool {
        let q = query.trim().to_lowercase();
        let q = q.strip_prefix('/').unwrap_or(&q);
        if q.is_empty() {
            return true;
        }
        let slug = self.shortcut.strip_prefix('/').unwrap_or(&self.shortcut);
        let title = self.title.to_lowercase();
        slug.starts_with(q) || title.starts_with(q) || title.split_whitespace().any(|w| w.starts_with(q))
    }
}

/// The list order: most used first, then by shortcut.
pub fn most_used_first(responses: &mut [CannedResponse]) {
    responses.sort_by(|a, b| b.usage_count.cmp(&a.usage_count).then_with(|| a.shortcut.cmp(&b.shortcut)).then_with(|| a.id.cmp(&b.id)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn known(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn field(err: Error) -> String {
        match err {
            Error::Invalid { field, .. } => field,
            other => panic!("not a 422: {other:?}"),
        }
    }

    fn input(shortcut: &str, content: &str) -> CannedInput {
        CannedInput {
            shortcut: shortcut.into(),
            title: "Saludo inicial".into(),
            content: content.into(),
            category: Some("general".into()),
            team_id: None,
            personal: false,
            attachments: vec![],
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn shortcuts_are_a_slash_and_a_lowercase_slug() {
        for good in ["/greeting", "/order_ready", "/2fa", "/a", &format!("/{}", "x".repeat(MAX_SHORTCUT_CHARS - 1))] {
            assert!(check_shortcut(good).is_ok(), "{good}");
        }
        for bad in ["greeting", "/", "/Greeting", "/grée", "/_x", "/-x", "/a b", "//a", &format!("/{}", "x".repeat(MAX_SHORTCUT_CHARS))] {
            assert_eq!(field(check_shortcut(bad).unwrap_err()), "shortcut", "{bad}");
        }
    }

    #[test]
    fn variables_are_read_in_order_once_each() {
        let v = variables("Hola {{customer_name}}, tu pedido {{order_id}} está listo, {{customer_name}}.").unwrap();
        assert_eq!(v, vec!["customer_name", "order_id"]);
        assert_eq!(variables("no variables { here } at all").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn malformed_braces_are_refused_naming_the_content() {
        for bad in ["Hola {{customer_name}", "Hola {{Customer}}", "Hola {{ name }}", "{{}}", "a }} b", "{{{x}}}", "{{a-b}}", "x {{y"] {
            let err = variables(bad).unwrap_err();
            assert_eq!(field(err), "content", "{bad}");
        }
        let long = format!("{{{{{}}}}}", "v".repeat(MAX_VARIABLE_CHARS + 1));
        assert!(variables(&long).is_err());
    }

    #[test]
    fn render_fills_what_is_known_and_lists_what_is_missing() {
        let r = render("Hola {{customer_name}}, tu pedido {{order_id}} está listo. {{order_id}}", &known(&[("customer_name", "Juan")])).unwrap();
        assert_eq!(r.text, "Hola Juan, tu pedido [order_id] está listo. [order_id]");
        assert_eq!(r.missing, vec!["order_id"]);
        let full = render("Hola {{customer_name}}, {{order_id}}", &known(&[("customer_name", "Juan"), ("order_id", "ORD-123")])).unwrap();
        assert_eq!((full.text.as_str(), full.missing.len()), ("Hola Juan, ORD-123", 0));
        // A blank value fills nothing.
        assert_eq!(render("{{a}}", &known(&[("a", "  ")])).unwrap().missing, vec!["a"]);
    }

    #[test]
    fn a_value_never_brings_braces_that_look_like_a_variable() {
        let r = render("Hola {{customer_name}}", &known(&[("customer_name", "{{agent_name}}")])).unwrap();
        assert!(!r.text.contains("{{"), "{}", r.text);
        let r = render("{ {{a}}", &known(&[("a", "{b")])).unwrap();
        assert!(!r.text.contains("{{"), "{}", r.text);
    }

    #[test]
    fn what_max_knows_wins_over_the_callers_values() {
        let all = fill(known(&[("customer_name", "Juan")]), &known(&[("customer_name", "Other"), ("order_id", "ORD-1")]));
        assert_eq!(all, known(&[("customer_name", "Juan"), ("order_id", "ORD-1")]));
    }

    #[test]
    fn values_are_variable_names_with_text() {
        assert!(check_values(&known(&[("order_id", "ORD-1")])).is_ok());
        assert_eq!(field(check_values(&known(&[("Order", "x")])).unwrap_err()), "values.Order");
        assert_eq!(field(check_values(&known(&[("order_id", " ")])).unwrap_err()), "values.order_id");
        assert_eq!(field(check_values(&known(&[("order_id", &"x".repeat(MAX_VALUE_CHARS + 1))])).unwrap_err()), "values.order_id");
        let many: BTreeMap<String, String> = (0..=MAX_VALUES).map(|i| (format!("v{i}"), "x".into())).collect();
        assert_eq!(field(check_values(&many).unwrap_err()), "values");
    }

    #[test]
    fn a_response_is_checked_and_reads_its_variables() {
        let r = CannedResponse::create("c1".into(), "o1", "u1", input("/greeting", "Hola {{customer_name}}"), at()).unwrap();
        assert_eq!((r.variables.clone(), r.scope(), r.owner_id.clone()), (vec!["customer_name".to_string()], "O".to_string(), None));
        assert_eq!(field(CannedResponse::create("c1".into(), "o1", "u1", input("/greeting", "Hola {{x"), at()).unwrap_err()), "content");
        assert_eq!(field(CannedResponse::create("c1".into(), "o1", "u1", input("Greeting", "x"), at()).unwrap_err()), "shortcut");
        let mut personal = input("/mine", "x");
        personal.personal = true;
        let p = CannedResponse::create("c2".into(), "o1", "u1", personal.clone(), at()).unwrap();
        assert_eq!((p.scope(), p.visible_to("u1"), p.visible_to("u2")), ("U#u1".to_string(), true, false));
        personal.team_id = Some("sales".into());
        assert_eq!(field(CannedResponse::create("c2".into(), "o1", "u1", personal, at()).unwrap_err()), "team_id");
    }

    #[test]
    fn attachments_are_https_media_named_by_index() {
        let mut i = input("/manual", "Here is the manual");
        let doc = CannedAttachment { media_type: AttachmentType::Document, link: "https://example.com/m.pdf".into(), caption: None, filename: Some("manual.pdf".into()) };
        i.attachments = vec![doc.clone(), CannedAttachment { link: "http://example.com/x.png".into(), media_type: AttachmentType::Image, caption: None, filename: None }];
        assert_eq!(field(CannedResponse::create("c".into(), "o", "u", i.clone(), at()).unwrap_err()), "attachments[1].link");
        i.attachments = vec![CannedAttachment { filename: Some("../x".into()), ..doc.clone() }];
        assert_eq!(field(CannedResponse::create("c".into(), "o", "u", i.clone(), at()).unwrap_err()), "attachments[0].filename");
        i.attachments = vec![doc.clone(); MAX_ATTACHMENTS + 1];
        assert_eq!(field(CannedResponse::create("c".into(), "o", "u", i, at()).unwrap_err()), "attachments");
        assert_eq!(doc.content().kind(), "document");
    }

    #[test]
    fn an_edit_changes_what_it_names_and_advances_the_version() {
        let r = CannedResponse::create("c1".into(), "o1", "u1", input("/greeting", "Hola"), at()).unwrap();
        let edit: CannedEdit = serde_json::from_str(r#"{"content":"Hola {{customer_name}}","category":null,"team_id":"sales"}"#).unwrap();
        let e = r.edited(edit, at()).unwrap();
        assert_eq!((e.version, e.category.clone(), e.team_id.as_deref(), e.variables.len(), e.scope()), (2, None, Some("sales"), 1, "T#sales".to_string()));
        let keep: CannedEdit = serde_json::from_str(r#"{"title":"Hi"}"#).unwrap();
        assert_eq!(r.edited(keep, at()).unwrap().category.as_deref(), Some("general"));
    }

    #[test]
    fn the_typed_prefix_matches_shortcut_or_title_ignoring_case() {
        let r = CannedResponse::create("c1".into(), "o1", "u1", input("/greeting", "Hola"), at()).unwrap();
        for q in ["/gre", "gre", "GRE", "/", "", "saludo", "Ini"] {
            assert!(r.matches(q), "{q}");
        }
        for q in ["/reet", "hola", "/greetings"] {
            assert!(!r.matches(q), "{q}");
        }
    }

    #[test]
    fn most_used_first_then_by_shortcut() {
        let mk = |s: &str, n: u64| {
            let mut r = CannedResponse::create(s.into(), "o", "u", input(s, "x"), at()).unwrap();
            r.usage_count = n;
            r
        };
        let mut list = vec![mk("/b", 1), mk("/c", 5), mk("/a", 1)];
        most_used_first(&mut list);
        assert_eq!(list.iter().map(|r| r.shortcut.as_str()).collect::<Vec<_>>(), ["/c", "/a", "/b"]);
    }

    proptest! {
        #[test]
        fn a_rendered_text_never_carries_an_unfilled_variable(
            content in "[a-z {}_]{0,60}",
            value in "[a-z{} ]{0,10}",
        ) {
            // Whatever the text and values, a text that parses renders without `{{`.
            if variables(&content).is_ok() {
                let mut k = BTreeMap::new();
                for name in variables(&content).unwrap().into_iter().step_by(2) {
                    k.insert(name, value.clone());
                }
                let r = render(&content, &k).unwrap();
                prop_assert!(!r.text.contains("{{"), "{:?} -> {:?}", content, r.text);
                for m in &r.missing {
                    prop_assert!(k.get(m).is_none_or(|v| v.trim().is_empty()));
                }
            }
        }

        #[test]
        fn parsed_variables_are_names(content in "\\PC{0,80}") {
            if let Ok(vars) = variables(&content) {
                prop_assert!(vars.iter().all(|v| is_variable_name(v)));
            }
        }
    }
}
