//! WhatsApp message templates: what an admin submits (checked as Meta checks it, so a mistake is
//! a 422 naming the field instead of a rejection minutes later), the record MAX keeps of each
//! template of the organisation's WhatsApp Business Accounts, how Meta's status and quality
//! webhooks move it, and whether a send may use it. Decisions: `docs/whatsapp-templates.md`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};

pub const MAX_NAME_CHARS: usize = 512;
pub const MAX_BODY_CHARS: usize = 1024;
pub const MAX_HEADER_CHARS: usize = 60;
pub const MAX_FOOTER_CHARS: usize = 60;
pub const MAX_BUTTONS: usize = 10;
pub const MAX_BUTTON_TEXT_CHARS: usize = 25;
pub const MAX_URL_BUTTONS: usize = 2;
pub const MAX_PHONE_BUTTONS: usize = 1;
pub const MAX_URL_CHARS: usize = 2000;
pub const MAX_PHONE_CHARS: usize = 20;
pub const MAX_COPY_CODE_CHARS: usize = 15;
/// A body has at most this many variables (1024 characters leave room for no more).
pub const MAX_VARIABLES: usize = 100;
pub const MAX_EXAMPLE_CHARS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

impl TemplateCategory {
    /// Meta's word, leniently (a webhook may carry one we do not know: then `None`).
    pub fn parse(word: &str) -> Option<Self> {
        match word.to_ascii_uppercase().as_str() {
            "MARKETING" => Some(TemplateCategory::Marketing),
            "UTILITY" => Some(TemplateCategory::Utility),
            "AUTHENTICATION" => Some(TemplateCategory::Authentication),
            _ => None,
        }
    }
}

/// A template's review state at Meta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateStatus {
    Pending,
    Approved,
    Rejected,
    Paused,
    Disabled,
    InAppeal,
    PendingDeletion,
    Deleted,
    /// Its quality is low: still sendable, disabled on `disable_date` unless it recovers.
    Flagged,
    LimitExceeded,
    Archived,
    Locked,
}

impl TemplateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateStatus::Pending => "PENDING",
            TemplateStatus::Approved => "APPROVED",
            TemplateStatus::Rejected => "REJECTED",
            TemplateStatus::Paused => "PAUSED",
            TemplateStatus::Disabled => "DISABLED",
            TemplateStatus::InAppeal => "IN_APPEAL",
            TemplateStatus::PendingDeletion => "PENDING_DELETION",
            TemplateStatus::Deleted => "DELETED",
            TemplateStatus::Flagged => "FLAGGED",
            TemplateStatus::LimitExceeded => "LIMIT_EXCEEDED",
            TemplateStatus::Archived => "ARCHIVED",
            TemplateStatus::Locked => "LOCKED",
        }
    }

    /// The status a webhook `event` (or a status in Meta's list) puts the template in. Meta's
    /// events that end a pause, a flag, an archive or a lock (`REINSTATED`, `UNPAUSED`,
    /// `UNARCHIVED`, `UNLOCKED`) make it sendable again: approved. `None` for a word we do not know.
    pub fn from_meta(word: &str) -> Option<Self> {
        Some(match word.to_ascii_uppercase().as_str() {
            "PENDING" => TemplateStatus::Pending,
            "APPROVED" | "REINSTATED" | "UNPAUSED" | "UNARCHIVED" | "UNLOCKED" => TemplateStatus::Approved,
            "REJECTED" => TemplateStatus::Rejected,
            "PAUSED" => TemplateStatus::Paused,
            "DISABLED" => TemplateStatus::Disabled,
            "IN_APPEAL" => TemplateStatus::InAppeal,
            "PENDING_DELETION" => TemplateStatus::PendingDeletion,
            "DELETED" => TemplateStatus::Deleted,
            "FLAGGED" => TemplateStatus::Flagged,
            "LIMIT_EXCEEDED" => TemplateStatus::LimitExceeded,
            "ARCHIVED" => TemplateStatus::Archived,
            "LOCKED" => TemplateStatus::Locked,
            _ => return None,
        })
    }

    /// Meta delivers messages of approved templates, and of flagged ones until they are disabled.
    pub fn sendable(self) -> bool {
        matches!(self, TemplateStatus::Approved | TemplateStatus::Flagged)
    }
}

/// Meta's quality rating of a template (`message_template_quality_update`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateQuality {
    Green,
    Yellow,
    Red,
    Unknown,
}

impl TemplateQuality {
    pub fn from_meta(word: &str) -> Option<Self> {
        match word.to_ascii_uppercase().as_str() {
            "GREEN" | "HIGH" => Some(TemplateQuality::Green),
            "YELLOW" | "MEDIUM" => Some(TemplateQuality::Yellow),
            "RED" | "LOW" => Some(TemplateQuality::Red),
            "UNKNOWN" => Some(TemplateQuality::Unknown),
            _ => None,
        }
    }
}

/// How a template names its variables: `{{1}}`, `{{2}}`… or `{{order_id}}`, never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParameterFormat {
    Positional,
    Named,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComponentKind {
    Header,
    Body,
    Footer,
    Buttons,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HeaderFormat {
    Text,
    Image,
    Video,
    Document,
    Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ButtonKind {
    QuickReply,
    Url,
    PhoneNumber,
    CopyCode,
    Otp,
}

/// A named variable's sample value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedExample {
    #[schema(min_length = 1, max_length = 100)]
    pub param_name: String,
    #[schema(min_length = 1, max_length = 1024)]
    pub example: String,
}

/// Sample values Meta's reviewers read: one per variable, in Meta's shapes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentExample {
    /// A text header's positional variable (one value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_text: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_text_named_params: Option<Vec<NamedExample>>,
    /// A media header's sample (a handle from Meta's resumable upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_handle: Option<Vec<String>>,
    /// The body's positional variables: one row of values, `{{1}}` first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<Vec<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text_named_params: Option<Vec<NamedExample>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateButton {
    #[serde(rename = "type")]
    pub kind: ButtonKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 25)]
    pub text: Option<String>,
    /// A URL button's address; it may end in one variable (`https://x.com/track/{{1}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 20)]
    pub phone_number: Option<String>,
    /// A URL variable's sample, or a copy-code button's sample code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Vec<String>>,
    /// One-time password buttons: `COPY_CODE`, `ONE_TAP` or `ZERO_TAP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_type: Option<String>,
}

/// One component of a template, in Meta's create-request shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateComponent {
    #[serde(rename = "type")]
    pub kind: ComponentKind,
    /// A header's kind (required for a header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<HeaderFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<ComponentExample>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buttons: Option<Vec<TemplateButton>>,
}

/// `POST /v1/whatsapp-templates`: a template to submit to Meta for review.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    /// Lowercase letters, digits and underscores.
    #[schema(min_length = 1, max_length = 512, pattern = "^[a-z0-9_]+$")]
    pub name: String,
    /// `en`, `en_US`, `pt_BR`, `fil`.
    #[schema(min_length = 2, max_length = 8, pattern = "^[A-Za-z]{2,3}(_[A-Za-z]{2,4})?$")]
    pub language: String,
    pub category: TemplateCategory,
    #[schema(min_items = 1, max_items = 4)]
    pub components: Vec<TemplateComponent>,
    /// The WhatsApp Business Account to submit it to; needed only when the organisation has
    /// numbers in several.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 32, pattern = "^[0-9]+$")]
    pub waba_id: Option<String>,
    /// Must agree with the variables the texts use, when given.
    #[serde(default)]
    pub parameter_format: Option<ParameterFormat>,
}

/// What validation learned about a template's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variables {
    pub format: ParameterFormat,
    /// The body's variables, `["1", "2"]` or `["order_id", "name"]`.
    pub body: Vec<String>,
    pub header: Vec<String>,
}

impl NewTemplate {
    /// Everything Meta checks on submission that can be checked here, or 422 naming the first
    /// field that fails (`components[1].example`).
    pub fn validate(&self) -> Result<Variables> {
        check_name("name", &self.name)?;
        check_language("language", &self.language)?;
        if let Some(w) = &self.waba_id {
            crate::domain::channel::check_graph_id("waba_id", w)?;
        }
        if self.components.is_empty() || self.components.len() > 4 {
            return Err(Error::invalid("components", "must have 1 to 4 components (HEADER, BODY, FOOTER, BUTTONS)"));
        }
        for (i, c) in self.components.iter().enumerate() {
            if self.components[..i].iter().any(|o| o.kind == c.kind) {
                return Err(Error::invalid(format!("components[{i}].type"), "each component kind appears at most once"));
            }
        }
        if !self.components.iter().any(|c| c.kind == ComponentKind::Body) {
            return Err(Error::invalid("components", "must have a BODY"));
        }
        let mut format: Option<ParameterFormat> = None;
        let mut vars = Variables { format: ParameterFormat::Positional, body: Vec::new(), header: Vec::new() };
        for (i, c) in self.components.iter().enumerate() {
            let at = |f: &str| format!("components[{i}].{f}");
            let found = match c.kind {
                ComponentKind::Header => check_header(c, &at)?,
                ComponentKind::Body => check_body(c, &at)?,
                ComponentKind::Footer => {
                    no_extras(c, &at, &["format", "example", "buttons"])?;
                    let text = require_text(&at("text"), c.text.as_deref(), MAX_FOOTER_CHARS)?;
                    if !placeholders(text).map_err(|r| Error::invalid(at("text"), r))?.names.is_empty() {
                        return Err(Error::invalid(at("text"), "a footer has no variables"));
                    }
                    None
                }
                ComponentKind::Buttons => {
                    no_extras(c, &at, &["format", "text", "example"])?;
                    check_buttons(c, &at, self.category)?;
                    None
                }
            };
            if let Some((found_format, names)) = found {
                if format.is_some_and(|f| f != found_format) {
                    return Err(Error::invalid(at("text"), "variables are either all positional ({{1}}) or all named ({{order_id}})"));
                }
                format = Some(found_format);
                match c.kind {
                    ComponentKind::Header => vars.header = names,
                    _ => vars.body = names,
                }
            }
        }
        if let Some(f) = format {
            vars.format = f;
        }
        if let Some(declared) = self.parameter_format
            && format.is_some_and(|f| f != declared)
        {
            return Err(Error::invalid("parameter_format", "does not match the variables the texts use"));
        }
        if let Some(declared) = self.parameter_format {
            vars.format = declared;
        }
        Ok(vars)
    }

    /// The body of `POST /{waba_id}/message_templates`.
    pub fn graph_request(&self, vars: &Variables) -> Value {
        let mut body = json!({
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "components": self.components,
        });
        if vars.format == ParameterFormat::Named {
            body["parameter_format"] = json!("NAMED");
        }
        body
    }
}

fn no_extras(c: &TemplateComponent, at: &dyn Fn(&str) -> String, absent: &[&str]) -> Result<()> {
    for field in absent {
        let present = match *field {
            "format" => c.format.is_some(),
            "text" => c.text.is_some(),
            "example" => c.example.is_some(),
            "buttons" => c.buttons.is_some(),
            _ => false,
        };
        if present {
            return Err(Error::invalid(at(field), format!("is not part of a {:?} component", c.kind).to_uppercase()));
        }
    }
    Ok(())
}

fn require_text<'a>(field: &str, text: Option<&'a str>, max: usize) -> Result<&'a str> {
    match text {
        Some(t) if !t.trim().is_empty() && t.chars().count() <= max => Ok(t),
        _ => Err(Error::invalid(field, format!("must be 1 to {max} characters"))),
    }
}

/// `(format, names)` when the component has variables.
type Found = Option<(ParameterFormat, Vec<String>)>;

fn check_header(c: &TemplateComponent, at: &dyn Fn(&str) -> String) -> Result<Found> {
    no_extras(c, at, &["buttons"])?;
    match c.format {
        None => Err(Error::invalid(at("format"), "a header needs a format: TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION")),
        Some(HeaderFormat::Text) => {
            let text = require_text(&at("text"), c.text.as_deref(), MAX_HEADER_CHARS)?;
            let found = placeholders(text).map_err(|r| Error::invalid(at("text"), r))?;
            if found.names.len() > 1 {
                return Err(Error::invalid(at("text"), "a header has at most one variable"));
            }
            let example = c.example.clone().unwrap_or_default();
            if example.body_text.is_some() || example.body_text_named_params.is_some() || example.header_handle.is_some() {
                return Err(Error::invalid(at("example"), "a text header's example is header_text or header_text_named_params"));
            }
            check_examples(&found, example.header_text.map(|v| vec![v]), example.header_text_named_params, at, "header_text")?;
            Ok(found.format.map(|f| (f, found.names)))
        }
        Some(HeaderFormat::Location) => {
            no_extras(c, at, &["text", "example"])?;
            Ok(None)
        }
        Some(_) => {
            no_extras(c, at, &["text"])?;
            let handles = c.example.as_ref().and_then(|e| e.header_handle.as_ref());
            if !handles.is_some_and(|h| h.len() == 1 && !h[0].trim().is_empty()) {
                return Err(Error::invalid(at("example"), "a media header needs example.header_handle: one uploaded sample"));
            }
            Ok(None)
        }
    }
}

fn check_body(c: &TemplateComponent, at: &dyn Fn(&str) -> String) -> Result<Found> {
    no_extras(c, at, &["format", "buttons"])?;
    let text = require_text(&at("text"), c.text.as_deref(), MAX_BODY_CHARS)?;
    let found = placeholders(text).map_err(|r| Error::invalid(at("text"), r))?;
    let example = c.example.clone().unwrap_or_default();
    if example.header_text.is_some() || example.header_text_named_params.is_some() || example.header_handle.is_some() {
        return Err(Error::invalid(at("example"), "a body's example is body_text or body_text_named_params"));
    }
    check_examples(&found, example.body_text, example.body_text_named_params, at, "body_text")?;
    Ok(found.format.map(|f| (f, found.names)))
}

/// One sample per variable: positional ones as one row of values in order, named ones by name.
fn check_examples(
    found: &Placeholders,
    rows: Option<Vec<Vec<String>>>,
    named: Option<Vec<NamedExample>>,
    at: &dyn Fn(&str) -> String,
    positional_key: &str,
) -> Result<()> {
    let named_key = format!("{positional_key}_named_params");
    let sample_ok = |s: &str| !s.trim().is_empty() && s.chars().count() <= MAX_EXAMPLE_CHARS;
    match found.format {
        None => {
            if rows.is_some() || named.is_some() {
                return Err(Error::invalid(at("example"), "the text has no variables: no example is given"));
            }
        }
        Some(ParameterFormat::Positional) => {
            if named.is_some() {
                return Err(Error::invalid(at(&format!("example.{named_key}")), "the variables are positional: give example.{positional_key}"));
            }
            let Some(rows) = rows else {
                return Err(Error::invalid(at("example"), format!("each variable needs a sample: example.{positional_key} with {} value(s)", found.names.len())));
            };
            let row = match rows.as_slice() {
                [row] => row,
                _ => return Err(Error::invalid(at(&format!("example.{positional_key}")), "must hold one row of samples")),
            };
            if row.len() != found.names.len() {
                return Err(Error::invalid(
                    at(&format!("example.{positional_key}")),
                    format!("has {} sample(s) for {} variable(s)", row.len(), found.names.len()),
                ));
            }
            if let Some(i) = row.iter().position(|s| !sample_ok(s)) {
                return Err(Error::invalid(at(&format!("example.{positional_key}[{i}]")), format!("must be 1 to {MAX_EXAMPLE_CHARS} characters")));
            }
        }
        Some(ParameterFormat::Named) => {
            if rows.is_some() {
                return Err(Error::invalid(at(&format!("example.{positional_key}")), format!("the variables are named: give example.{named_key}")));
            }
            let Some(named) = named else {
                return Err(Error::invalid(at("example"), format!("each variable needs a sample: example.{named_key}")));
            };
            let mut given: Vec<&str> = named.iter().map(|n| n.param_name.as_str()).collect();
            given.sort_unstable();
            let mut wanted: Vec<&str> = found.names.iter().map(String::as_str).collect();
            wanted.sort_unstable();
            if given != wanted {
                return Err(Error::invalid(at(&format!("example.{named_key}")), format!("must give one sample for each of {}", found.names.join(", "))));
            }
            if let Some(i) = named.iter().position(|n| !sample_ok(&n.example)) {
                return Err(Error::invalid(at(&format!("example.{named_key}[{i}].example")), format!("must be 1 to {MAX_EXAMPLE_CHARS} characters")));
            }
        }
    }
    Ok(())
}

fn check_buttons(c: &TemplateComponent, at: &dyn Fn(&str) -> String, category: TemplateCategory) -> Result<()> {
    let buttons = c.buttons.as_deref().unwrap_or_default();
    if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
        return Err(Error::invalid(at("buttons"), format!("must have 1 to {MAX_BUTTONS} buttons")));
    }
    let count = |k: ButtonKind| buttons.iter().filter(|b| b.kind == k).count();
    if count(ButtonKind::Url) > MAX_URL_BUTTONS {
        return Err(Error::invalid(at("buttons"), format!("at most {MAX_URL_BUTTONS} URL buttons")));
    }
    if count(ButtonKind::PhoneNumber) > MAX_PHONE_BUTTONS {
        return Err(Error::invalid(at("buttons"), format!("at most {MAX_PHONE_BUTTONS} PHONE_NUMBER button")));
    }
    if count(ButtonKind::CopyCode) > 1 {
        return Err(Error::invalid(at("buttons"), "at most 1 COPY_CODE button"));
    }
    for (j, b) in buttons.iter().enumerate() {
        let field = |f: &str| at(&format!("buttons[{j}].{f}"));
        let text_ok = |t: &Option<String>| t.as_deref().is_some_and(|t| !t.trim().is_empty() && t.chars().count() <= MAX_BUTTON_TEXT_CHARS);
        let needs_text = !matches!(b.kind, ButtonKind::CopyCode | ButtonKind::Otp);
        if needs_text && !text_ok(&b.text) {
            return Err(Error::invalid(field("text"), format!("must be 1 to {MAX_BUTTON_TEXT_CHARS} characters")));
        }
        match b.kind {
            ButtonKind::Url => {
                let url = b.url.as_deref().unwrap_or_default();
                if !(url.starts_with("https://") || url.starts_with("http://")) || url.chars().count() > MAX_URL_CHARS {
                    return Err(Error::invalid(field("url"), format!("must be an http(s) URL of at most {MAX_URL_CHARS} characters")));
                }
                let found = placeholders(url).map_err(|r| Error::invalid(field("url"), r))?;
                match found.names.as_slice() {
                    [] => {
                        if b.example.is_some() {
                            return Err(Error::invalid(field("example"), "the URL has no variable: no example is given"));
                        }
                    }
                    [one] if one == "1" && url.ends_with("{{1}}") => {
                        if !b.example.as_ref().is_some_and(|e| e.len() == 1 && !e[0].trim().is_empty()) {
                            return Err(Error::invalid(field("example"), "the URL's variable needs one sample"));
                        }
                    }
                    _ => return Err(Error::invalid(field("url"), "a URL has at most one variable, {{1}}, at its end")),
                }
            }
            ButtonKind::PhoneNumber => {
                let phone = b.phone_number.as_deref().unwrap_or_default();
                let digits = phone.strip_prefix('+').unwrap_or(phone);
                if digits.is_empty() || phone.len() > MAX_PHONE_CHARS || !digits.bytes().all(|d| d.is_ascii_digit()) {
                    return Err(Error::invalid(field("phone_number"), format!("must be a phone number of at most {MAX_PHONE_CHARS} characters")));
                }
            }
            ButtonKind::CopyCode => {
                if !b.example.as_ref().is_some_and(|e| e.len() == 1 && !e[0].is_empty() && e[0].chars().count() <= MAX_COPY_CODE_CHARS) {
                    return Err(Error::invalid(field("example"), format!("a copy-code button needs one sample code of at most {MAX_COPY_CODE_CHARS} characters")));
                }
            }
            ButtonKind::Otp => {
                if category != TemplateCategory::Authentication {
                    return Err(Error::invalid(field("type"), "OTP buttons are for AUTHENTICATION templates"));
                }
            }
            ButtonKind::QuickReply => {}
        }
    }
    Ok(())
}

/// `^[a-z0-9_]{1,512}$`.
pub fn check_name(field: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty() && name.len() <= MAX_NAME_CHARS && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok { Ok(()) } else { Err(Error::invalid(field, format!("must be 1 to {MAX_NAME_CHARS} lowercase letters, digits or underscores"))) }
}

/// `en`, `en_US`, `fil`, `zh_Hant_HK` is not one Meta has; `^[A-Za-z]{2,3}(_[A-Za-z]{2,4})?$`.
pub fn check_language(field: &str, language: &str) -> Result<()> {
    let (lang, region) = language.split_once('_').map_or((language, None), |(l, r)| (l, Some(r)));
    let letters = |s: &str, min: usize, max: usize| (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic());
    if letters(lang, 2, 3) && region.is_none_or(|r| letters(r, 2, 4)) {
        Ok(())
    } else {
        Err(Error::invalid(field, "must be a language code such as en, en_US or fil"))
    }
}

/// The variables of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholders {
    /// `None` when the text has none.
    pub format: Option<ParameterFormat>,
    /// Positional: `"1"..="n"`; named: distinct names in order of first use.
    pub names: Vec<String>,
}

/// Reads `{{1}}`… or `{{order_id}}` out of a text: positional ones must be numbered from 1
/// without a gap; named ones are lowercase letters, digits and underscores starting with a
/// letter; both kinds in one text are refused. `Err(reason)`.
pub fn placeholders(text: &str) -> std::result::Result<Placeholders, String> {
    let mut numbers: Vec<usize> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err("has a {{ without its }}".into());
        };
        let inner = &after[..close];
        if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
            let n: usize = inner.parse().map_err(|_| format!("{{{{{inner}}}}} is not a variable number"))?;
            if n == 0 || n > MAX_VARIABLES {
                return Err(format!("variables are numbered 1 to {MAX_VARIABLES}"));
            }
            if !numbers.contains(&n) {
                numbers.push(n);
            }
        } else if inner.starts_with(|c: char| c.is_ascii_lowercase())
            && inner.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            if !names.iter().any(|n| n == inner) {
                names.push(inner.to_string());
            }
        } else {
            return Err(format!("{{{{{inner}}}}} is neither a numbered ({{{{1}}}}) nor a named ({{{{order_id}}}}) variable"));
        }
        rest = &after[close + 2..];
    }
    match (numbers.is_empty(), names.is_empty()) {
        (true, true) => Ok(Placeholders { format: None, names }),
        (false, false) => Err("variables are either all positional ({{1}}) or all named ({{order_id}})".into()),
        (false, true) => {
            let mut sorted = numbers.clone();
            sorted.sort_unstable();
            if sorted.iter().enumerate().any(|(i, n)| *n != i + 1) {
                return Err(format!("numbered variables run from {{{{1}}}} without a gap (found {})", sorted.iter().map(|n| format!("{{{{{n}}}}}")).collect::<Vec<_>>().join(", ")));
            }
            Ok(Placeholders { format: Some(ParameterFormat::Positional), names: (1..=sorted.len()).map(|n| n.to_string()).collect() })
        }
        (true, false) => Ok(Placeholders { format: Some(ParameterFormat::Named), names }),
    }
}

/// The variables of components as Meta lists them (`GET message_templates`): read leniently, a
/// text we cannot read leaves them unknown (`None`).
pub fn variables_of(components: &Value) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let mut body = Some(Vec::new());
    let mut header = Some(Vec::new());
    for c in components.as_array().into_iter().flatten() {
        let kind = c.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
        let text = c.get("text").and_then(Value::as_str);
        let read = |t: Option<&str>| t.map_or(Some(Vec::new()), |t| placeholders(t).ok().map(|p| p.names));
        match kind.as_str() {
            "BODY" => body = read(text),
            "HEADER" => header = read(text),
            _ => {}
        }
    }
    (body, header)
}

/// What MAX keeps of one template of the organisation (keyed by Meta's id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WhatsAppTemplate {
    /// Meta's template id.
    pub id: String,
    pub org_id: String,
    /// The WhatsApp Business Account it belongs to.
    pub waba_id: String,
    pub name: String,
    pub language: String,
    #[serde(default)]
    pub category: Option<TemplateCategory>,
    pub status: TemplateStatus,
    /// Why Meta rejected or paused it (`INCORRECT_CATEGORY`, …).
    #[serde(default)]
    pub reason: Option<String>,
    /// When a flagged template will be, or a disabled one was, disabled (as Meta wrote it).
    #[serde(default)]
    pub disable_date: Option<String>,
    #[serde(default)]
    pub quality: Option<TemplateQuality>,
    /// The components as submitted, or as Meta lists them (empty for a template known only from
    /// a status webhook, until a sync).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub components: Value,
    #[serde(default)]
    pub parameter_format: Option<ParameterFormat>,
    /// The body's variables in order (`["1","2"]`, `["order_id"]`); `None` while unknown.
    #[serde(default)]
    pub body_parameters: Option<Vec<String>>,
    #[serde(default)]
    pub header_parameters: Option<Vec<String>>,
    /// Who submitted it through MAX (`None` for templates made in Meta's tools).
    #[serde(default)]
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Meta's time of the last status webhook applied (`None` before the first): an older one
    /// arriving late changes nothing.
    #[serde(default)]
    pub status_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub quality_at: Option<DateTime<Utc>>,
    pub version: u64,
}

/// A status webhook (`message_template_status_update`), read.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub waba_id: String,
    pub template_id: String,
    pub name: String,
    pub language: Option<String>,
    pub category: Option<String>,
    /// Meta's word (`APPROVED`, `REJECTED`, `REINSTATED`…).
    pub event: String,
    pub reason: Option<String>,
    pub disable_date: Option<String>,
    /// Meta's time (`entry.time`), else when we received it.
    pub at: DateTime<Utc>,
}

/// A quality webhook (`message_template_quality_update`), read.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityUpdate {
    pub waba_id: String,
    pub template_id: String,
    pub name: String,
    pub language: Option<String>,
    pub quality: String,
    pub at: DateTime<Utc>,
}

/// What a webhook does to the stored record.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The record to store (its `version` advanced, or 1 for a template MAX did not know).
    Changed(Box<WhatsAppTemplate>),
    /// The record says this already: nothing changes.
    Repeat,
    /// Meta's time is older than what the record shows: a late webhook, ignored.
    Older,
    /// A word we do not know: nothing changes.
    Unknown,
}

fn meta_reason(reason: Option<&str>) -> Option<String> {
    reason.filter(|r| !r.is_empty() && !r.eq_ignore_ascii_case("NONE")).map(str::to_string)
}

impl WhatsAppTemplate {
    /// A template submitted through MAX, as Meta accepted it.
    #[allow(clippy::too_many_arguments)]
    pub fn submitted(org_id: &str, waba_id: &str, id: &str, new: &NewTemplate, vars: &Variables, created_by: &str, status: TemplateStatus, now: DateTime<Utc>) -> Self {
        WhatsAppTemplate {
            id: id.to_string(),
            org_id: org_id.to_string(),
            waba_id: waba_id.to_string(),
            name: new.name.clone(),
            language: new.language.clone(),
            category: Some(new.category),
            status,
            reason: None,
            disable_date: None,
            quality: None,
            components: serde_json::to_value(&new.components).unwrap_or(Value::Array(Vec::new())),
            parameter_format: Some(vars.format),
            body_parameters: Some(vars.body.clone()),
            header_parameters: Some(vars.header.clone()),
            created_by: Some(created_by.to_string()),
            created_at: now,
            updated_at: now,
            status_at: None,
            quality_at: None,
            version: 1,
        }
    }

    /// A template MAX learns of from Meta (a webhook, or its list): made in Meta's tools.
    pub fn discovered(org_id: &str, waba_id: &str, id: &str, name: &str, language: &str, now: DateTime<Utc>) -> Self {
        WhatsAppTemplate {
            id: id.to_string(),
            org_id: org_id.to_string(),
            waba_id: waba_id.to_string(),
            name: name.to_string(),
            language: language.to_string(),
            category: None,
            status: TemplateStatus::Pending,
            reason: None,
            disable_date: None,
            quality: None,
            components: Value::Array(Vec::new()),
            parameter_format: None,
            body_parameters: None,
            header_parameters: None,
            created_by: None,
            created_at: now,
            updated_at: now,
            status_at: None,
            quality_at: None,
            version: 0,
        }
    }

    /// Applies a status webhook. `stored` `None`: a template MAX did not know (made in Meta's
    /// tools) is created from it.
    pub fn apply_status(stored: Option<&WhatsAppTemplate>, org_id: &str, update: &StatusUpdate, now: DateTime<Utc>) -> Applied {
        let Some(status) = TemplateStatus::from_meta(&update.event) else {
            return Applied::Unknown;
        };
        let base = match stored {
            Some(t) => t.clone(),
            // A template MAX never knew, gone at Meta: nothing to keep.
            None if status == TemplateStatus::Deleted => return Applied::Repeat,
            None => WhatsAppTemplate::discovered(org_id, &update.waba_id, &update.template_id, &update.name, update.language.as_deref().unwrap_or_default(), now),
        };
        if base.status_at.is_some_and(|seen| update.at < seen) {
            return Applied::Older;
        }
        let reason = meta_reason(update.reason.as_deref());
        let disable_date = update.disable_date.clone().or_else(|| if status == TemplateStatus::Disabled || status == TemplateStatus::Flagged { base.disable_date.clone() } else { None });
        if stored.is_some() && base.status == status && base.reason == reason && base.disable_date == disable_date {
            return Applied::Repeat;
        }
        let mut next = base;
        next.status = status;
        next.reason = reason;
        next.disable_date = disable_date;
        if let Some(c) = update.category.as_deref().and_then(TemplateCategory::parse) {
            next.category = Some(c);
        }
        next.status_at = Some(update.at);
        next.updated_at = now;
        next.version += 1;
        Applied::Changed(Box::new(next))
    }

    /// Applies a quality webhook, like a status one.
    pub fn apply_quality(stored: Option<&WhatsAppTemplate>, org_id: &str, update: &QualityUpdate, now: DateTime<Utc>) -> Applied {
        let Some(quality) = TemplateQuality::from_meta(&update.quality) else {
            return Applied::Unknown;
        };
        let base = match stored {
            Some(t) => t.clone(),
            None => {
                let mut t = WhatsAppTemplate::discovered(org_id, &update.waba_id, &update.template_id, &update.name, update.language.as_deref().unwrap_or_default(), now);
                // Meta rates only templates in use: approved ones.
                t.status = TemplateStatus::Approved;
                t
            }
        };
        if base.quality_at.is_some_and(|seen| update.at < seen) {
            return Applied::Older;
        }
        if stored.is_some() && base.quality == Some(quality) {
            return Applied::Repeat;
        }
        let mut next = base;
        next.quality = Some(quality);
        next.quality_at = Some(update.at);
        next.updated_at = now;
        next.version += 1;
        Applied::Changed(Box::new(next))
    }

    /// Takes what Meta's list says of the template (sync); `None` when nothing differs.
    pub fn merged_with_meta(&self, listed: &ListedTemplate, now: DateTime<Utc>) -> Option<WhatsAppTemplate> {
        let mut next = self.clone();
        if let Some(s) = TemplateStatus::from_meta(&listed.status) {
            next.status = s;
        }
        if let Some(c) = listed.category.as_deref().and_then(TemplateCategory::parse) {
            next.category = Some(c);
        }
        if let Some(q) = listed.quality.as_deref().and_then(TemplateQuality::from_meta) {
            next.quality = Some(q);
        }
        if next.status == TemplateStatus::Rejected {
            next.reason = meta_reason(listed.rejected_reason.as_deref()).or(next.reason);
        }
        if listed.components.as_array().is_some_and(|c| !c.is_empty()) {
            next.components = listed.components.clone();
            let (body, header) = variables_of(&listed.components);
            next.body_parameters = body;
            next.header_parameters = header;
            next.parameter_format = listed.parameter_format.as_deref().map(|f| if f.eq_ignore_ascii_case("NAMED") { ParameterFormat::Named } else { ParameterFormat::Positional });
        }
        if next == *self {
            return None;
        }
        next.updated_at = now;
        next.version += 1;
        Some(next)
    }

    /// Whether a message may be sent with this template and `parameters` (the body's values, as
    /// `OutboundContent::Template` carries them): 422 naming `content.name` or `content.parameters`.
    pub fn check_send(&self, parameters: usize) -> Result<()> {
        if !self.status.sendable() {
            return Err(Error::invalid(
                "content.name",
                format!("template {} ({}) is {}, not APPROVED: Meta would refuse it", self.name, self.language, self.status.as_str()),
            ));
        }
        if self.header_parameters.as_ref().is_some_and(|h| !h.is_empty()) {
            return Err(Error::invalid("content.name", format!("template {} has a header variable, which replies cannot fill yet", self.name)));
        }
        // A reply carries its values in order; Meta wants named variables filled by name.
        if self.parameter_format == Some(ParameterFormat::Named) && self.body_parameters.as_ref().is_some_and(|b| !b.is_empty()) {
            return Err(Error::invalid("content.name", format!("template {} uses named variables, which replies cannot fill yet", self.name)));
        }
        if let Some(body) = &self.body_parameters
            && body.len() != parameters
        {
            return Err(Error::invalid(
                "content.parameters",
                format!("template {} ({}) has {} body variable(s); {} parameter(s) given", self.name, self.language, body.len(), parameters),
            ));
        }
        Ok(())
    }

    /// The feed event of a change (`template.status_changed`), addressed to its creator when MAX
    /// knows who submitted it (`data.notify`).
    pub fn change_event(&self, previous: Option<&WhatsAppTemplate>, what: &str, at: DateTime<Utc>) -> crate::domain::event::NewEvent {
        let mut data = json!({
            "template_id": self.id,
            "name": self.name,
            "language": self.language,
            "change": what,
            "status": self.status,
            "previous_status": previous.map(|p| p.status),
            "reason": self.reason,
            "disable_date": self.disable_date,
            "quality": self.quality,
        });
        if let Some(user) = &self.created_by {
            data["notify"] = json!({ "user_id": user });
        }
        let state = match what {
            "quality" => self.quality.map(|q| format!("{q:?}")).unwrap_or_default(),
            _ => format!("{}:{}", self.status.as_str(), self.reason.as_deref().unwrap_or_default()),
        };
        let seen = if what == "quality" { self.quality_at } else { self.status_at };
        let key = format!("watemplate:{}:{what}:{state}:{}", self.id, seen.map(|t| t.timestamp_millis()).unwrap_or_default());
        crate::domain::event::NewEvent::new(&self.org_id, crate::domain::event::EventKind::TemplateStatusChanged, at, data, key)
    }
}

/// One template as Meta's list (`GET /{waba_id}/message_templates`) has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedTemplate {
    pub id: String,
    pub name: String,
    pub language: String,
    pub status: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub components: Value,
    #[serde(default)]
    pub quality: Option<String>,
    #[serde(default)]
    pub rejected_reason: Option<String>,
    #[serde(default)]
    pub parameter_format: Option<String>,
}

/// Which templates a list shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateFilter {
    pub status: Option<TemplateStatus>,
    pub name: Option<String>,
}

impl TemplateFilter {
    pub fn admits(&self, t: &WhatsAppTemplate) -> bool {
        self.status.is_none_or(|s| t.status == s) && self.name.as_ref().is_none_or(|n| &t.name == n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(body: Value) -> NewTemplate {
        serde_json::from_value(body).unwrap()
    }

    fn order_shipped() -> Value {
        json!({
            "name": "order_shipped", "language": "es", "category": "UTILITY",
            "components": [
                { "type": "HEADER", "format": "TEXT", "text": "Pedido {{1}}", "example": { "header_text": ["#123"] } },
                { "type": "BODY", "text": "Hola {{1}}, tu pedido {{2}} ha sido enviado.", "example": { "body_text": [["Ana", "#123"]] } },
                { "type": "FOOTER", "text": "Gracias" },
                { "type": "BUTTONS", "buttons": [
                    { "type": "URL", "text": "Seguir", "url": "https://example.com/track/{{1}}", "example": ["https://example.com/track/123"] },
                    { "type": "QUICK_REPLY", "text": "Ayuda" }
                ] }
            ]
        })
    }

    fn refused(edit: impl FnOnce(&mut Value)) -> String {
        let mut body = order_shipped();
        edit(&mut body);
        match template(body).validate() {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_complete_template_passes_with_its_variables() {
        let vars = template(order_shipped()).validate().unwrap();
        assert_eq!(vars, Variables { format: ParameterFormat::Positional, body: vec!["1".into(), "2".into()], header: vec!["1".into()] });
    }

    #[test]
    fn names_and_languages_follow_meta() {
        assert_eq!(refused(|b| b["name"] = json!("Order Shipped")), "name");
        assert_eq!(refused(|b| b["name"] = json!("x".repeat(513))), "name");
        assert_eq!(refused(|b| b["name"] = json!("")), "name");
        assert_eq!(refused(|b| b["language"] = json!("spanish")), "language");
        assert_eq!(refused(|b| b["language"] = json!("e")), "language");
        let mut ok = order_shipped();
        ok["language"] = json!("pt_BR");
        ok["name"] = json!("a".repeat(512));
        assert!(template(ok).validate().is_ok());
        assert!(serde_json::from_value::<NewTemplate>(json!({"name": "a", "language": "en", "category": "PROMO", "components": []})).is_err());
    }

    #[test]
    fn components_are_one_of_each_with_a_body() {
        assert_eq!(refused(|b| b["components"] = json!([])), "components");
        assert_eq!(refused(|b| b["components"] = json!([{ "type": "FOOTER", "text": "x" }])), "components");
        assert_eq!(refused(|b| b["components"][2] = json!({ "type": "BODY", "text": "again" })), "components[2].type");
    }

    #[test]
    fn texts_have_their_lengths() {
        assert_eq!(refused(|b| b["components"][1]["text"] = json!("x".repeat(1025))), "components[1].text");
        assert_eq!(refused(|b| b["components"][0]["text"] = json!(format!("{} {{{{1}}}}", "x".repeat(60)))), "components[0].text");
        assert_eq!(refused(|b| b["components"][2]["text"] = json!("y".repeat(61))), "components[2].text");
        assert_eq!(refused(|b| b["components"][2]["text"] = json!("Hi {{1}}")), "components[2].text");
        assert_eq!(refused(|b| b["components"][0]["format"] = Value::Null), "components[0].format");
    }

    #[test]
    fn each_variable_needs_its_sample() {
        assert_eq!(refused(|b| b["components"][1]["example"] = Value::Null), "components[1].example");
        assert_eq!(refused(|b| b["components"][1]["example"]["body_text"] = json!([["Ana"]])), "components[1].example.body_text");
        assert_eq!(refused(|b| b["components"][1]["example"]["body_text"] = json!([["Ana", " "]])), "components[1].example.body_text[1]");
        assert_eq!(refused(|b| b["components"][0]["example"] = Value::Null), "components[0].example");
        assert_eq!(refused(|b| b["components"][2]["example"] = json!({ "body_text": [["x"]] })), "components[2].example");
    }

    #[test]
    fn positional_variables_run_from_one_and_never_mix_with_named_ones() {
        assert_eq!(refused(|b| b["components"][1]["text"] = json!("Hola {{1}}, pedido {{3}}")), "components[1].text");
        assert_eq!(refused(|b| b["components"][1]["text"] = json!("Hola {{0}}")), "components[1].text");
        assert_eq!(refused(|b| b["components"][1]["text"] = json!("Hola {{1}} {{name}}")), "components[1].text");
        assert_eq!(refused(|b| b["components"][1]["text"] = json!("Hola {{ 1 }}")), "components[1].text");
        assert_eq!(refused(|b| b["components"][1]["text"] = json!("Hola {{1}")), "components[1].text");
        // A named body under a positional header: the texts disagree.
        assert_eq!(
            refused(|b| b["components"][1] = json!({ "type": "BODY", "text": "Hi {{first_name}}", "example": { "body_text_named_params": [{ "param_name": "first_name", "example": "Ana" }] } })),
            "components[1].text"
        );
        assert_eq!(placeholders("{{2}} then {{1}} and {{2}}").unwrap().names, ["1", "2"]);
    }

    #[test]
    fn named_variables_take_named_samples() {
        let named = json!({
            "name": "order_ready", "language": "en", "category": "UTILITY",
            "components": [{ "type": "BODY", "text": "Hi {{first_name}}, order {{order_id}} is ready, {{first_name}}.",
                "example": { "body_text_named_params": [{ "param_name": "order_id", "example": "#1" }, { "param_name": "first_name", "example": "Ana" }] } }]
        });
        let vars = template(named.clone()).validate().unwrap();
        assert_eq!((vars.format, vars.body.clone()), (ParameterFormat::Named, vec!["first_name".to_string(), "order_id".to_string()]));
        assert_eq!(template(named.clone()).graph_request(&vars)["parameter_format"], "NAMED");
        let mut missing = named.clone();
        missing["components"][0]["example"]["body_text_named_params"] = json!([{ "param_name": "first_name", "example": "Ana" }]);
        assert!(matches!(template(missing).validate(), Err(Error::Invalid { field, .. }) if field == "components[0].example.body_text_named_params"));
        let mut positional = named.clone();
        positional["components"][0]["example"] = json!({ "body_text": [["Ana", "#1"]] });
        assert!(matches!(template(positional).validate(), Err(Error::Invalid { field, .. }) if field == "components[0].example.body_text"));
        let mut declared = named;
        declared["parameter_format"] = json!("POSITIONAL");
        assert!(matches!(template(declared).validate(), Err(Error::Invalid { field, .. }) if field == "parameter_format"));
    }

    #[test]
    fn buttons_have_meta_limits() {
        let quick = |n: usize| json!((0..n).map(|i| json!({ "type": "QUICK_REPLY", "text": format!("b{i}") })).collect::<Vec<_>>());
        assert_eq!(refused(|b| b["components"][3]["buttons"] = quick(11)), "components[3].buttons");
        assert_eq!(refused(|b| b["components"][3]["buttons"] = json!([])), "components[3].buttons");
        assert_eq!(refused(|b| b["components"][3]["buttons"][1]["text"] = json!("x".repeat(26))), "components[3].buttons[1].text");
        assert_eq!(refused(|b| b["components"][3]["buttons"][0]["example"] = Value::Null), "components[3].buttons[0].example");
        assert_eq!(refused(|b| b["components"][3]["buttons"][0]["url"] = json!("ftp://x")), "components[3].buttons[0].url");
        assert_eq!(
            refused(|b| b["components"][3]["buttons"] = json!([{ "type": "PHONE_NUMBER", "text": "a", "phone_number": "+1555" }, { "type": "PHONE_NUMBER", "text": "b", "phone_number": "+1556" }])),
            "components[3].buttons"
        );
        assert_eq!(refused(|b| b["components"][3]["buttons"] = json!([{ "type": "OTP", "otp_type": "COPY_CODE" }])), "components[3].buttons[0].type");
        assert!(template(json!({ "name": "x", "language": "en", "category": "UTILITY",
            "components": [{ "type": "BODY", "text": "Hi" }, { "type": "BUTTONS", "buttons": quick(10) }] })).validate().is_ok());
    }

    #[test]
    fn media_headers_need_a_sample_handle() {
        assert_eq!(refused(|b| b["components"][0] = json!({ "type": "HEADER", "format": "IMAGE" })), "components[0].example");
        let mut ok = order_shipped();
        ok["components"][0] = json!({ "type": "HEADER", "format": "IMAGE", "example": { "header_handle": ["4::aW1hZ2U="] } });
        assert_eq!(template(ok).validate().unwrap().header, Vec::<String>::new());
    }

    fn stored(status: TemplateStatus, status_at: Option<i64>) -> WhatsAppTemplate {
        let new = template(order_shipped());
        let vars = new.validate().unwrap();
        let mut t = WhatsAppTemplate::submitted("org", "waba", "17", &new, &vars, "user_ada", status, at(0));
        t.status_at = status_at.map(at);
        t
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + secs, 0).unwrap()
    }

    fn update(event: &str, reason: Option<&str>, secs: i64) -> StatusUpdate {
        StatusUpdate {
            waba_id: "waba".into(),
            template_id: "17".into(),
            name: "order_shipped".into(),
            language: Some("es".into()),
            category: Some("UTILITY".into()),
            event: event.into(),
            reason: reason.map(str::to_string),
            disable_date: None,
            at: at(secs),
        }
    }

    #[test]
    fn status_webhooks_move_the_template_once_and_in_meta_order() {
        let pending = stored(TemplateStatus::Pending, None);
        let Applied::Changed(approved) = WhatsAppTemplate::apply_status(Some(&pending), "org", &update("APPROVED", Some("NONE"), 5), at(6)) else { panic!() };
        assert_eq!((approved.status, approved.reason.as_deref(), approved.version), (TemplateStatus::Approved, None, 2));
        assert_eq!(WhatsAppTemplate::apply_status(Some(&approved), "org", &update("APPROVED", None, 9), at(10)), Applied::Repeat);
        assert_eq!(WhatsAppTemplate::apply_status(Some(&approved), "org", &update("PENDING", None, 1), at(10)), Applied::Older);
        let Applied::Changed(paused) = WhatsAppTemplate::apply_status(Some(&approved), "org", &update("PAUSED", Some("LOW_QUALITY"), 20), at(21)) else { panic!() };
        assert_eq!((paused.status, paused.reason.as_deref()), (TemplateStatus::Paused, Some("LOW_QUALITY")));
        let Applied::Changed(back) = WhatsAppTemplate::apply_status(Some(&paused), "org", &update("REINSTATED", None, 30), at(31)) else { panic!() };
        assert_eq!(back.status, TemplateStatus::Approved);
        assert_eq!(WhatsAppTemplate::apply_status(Some(&back), "org", &update("SOMETHING_NEW", None, 40), at(41)), Applied::Unknown);
        let mut disabled = update("DISABLED", None, 50);
        disabled.disable_date = Some("1750000050".into());
        let Applied::Changed(off) = WhatsAppTemplate::apply_status(Some(&back), "org", &disabled, at(51)) else { panic!() };
        assert_eq!((off.status, off.disable_date.as_deref()), (TemplateStatus::Disabled, Some("1750000050")));
    }

    #[test]
    fn a_rejection_keeps_its_reason_and_an_unknown_template_is_created() {
        let Applied::Changed(t) = WhatsAppTemplate::apply_status(None, "org", &update("REJECTED", Some("INCORRECT_CATEGORY"), 5), at(6)) else { panic!() };
        assert_eq!((t.status, t.reason.as_deref(), t.version, t.created_by.as_deref()), (TemplateStatus::Rejected, Some("INCORRECT_CATEGORY"), 1, None));
        assert_eq!((t.name.as_str(), t.language.as_str(), t.body_parameters.as_ref()), ("order_shipped", "es", None));
        assert_eq!(WhatsAppTemplate::apply_status(None, "org", &update("DELETED", None, 5), at(6)), Applied::Repeat, "an unknown template's deletion keeps nothing");
    }

    #[test]
    fn quality_moves_like_status() {
        let approved = stored(TemplateStatus::Approved, Some(0));
        let q = |w: &str, s: i64| QualityUpdate { waba_id: "waba".into(), template_id: "17".into(), name: "order_shipped".into(), language: Some("es".into()), quality: w.into(), at: at(s) };
        let Applied::Changed(yellow) = WhatsAppTemplate::apply_quality(Some(&approved), "org", &q("YELLOW", 5), at(5)) else { panic!() };
        assert_eq!(yellow.quality, Some(TemplateQuality::Yellow));
        assert_eq!(WhatsAppTemplate::apply_quality(Some(&yellow), "org", &q("YELLOW", 6), at(6)), Applied::Repeat);
        assert_eq!(WhatsAppTemplate::apply_quality(Some(&yellow), "org", &q("RED", 1), at(6)), Applied::Older);
    }

    #[test]
    fn only_approved_templates_with_matching_parameters_are_sent() {
        let mut t = stored(TemplateStatus::Approved, None);
        t.header_parameters = Some(Vec::new());
        assert!(t.check_send(2).is_ok());
        assert!(matches!(t.check_send(1), Err(Error::Invalid { field, .. }) if field == "content.parameters"));
        t.status = TemplateStatus::Pending;
        assert!(matches!(t.check_send(2), Err(Error::Invalid { field, .. }) if field == "content.name"));
        t.status = TemplateStatus::Flagged;
        assert!(t.check_send(2).is_ok());
        t.header_parameters = Some(vec!["1".into()]);
        assert!(t.check_send(2).is_err());
        t.header_parameters = Some(Vec::new());
        t.body_parameters = None;
        assert!(t.check_send(7).is_ok(), "variables unknown until a sync: Meta checks them");
        t.body_parameters = Some(vec!["order_id".into()]);
        t.parameter_format = Some(ParameterFormat::Named);
        assert!(matches!(t.check_send(1), Err(Error::Invalid { field, .. }) if field == "content.name"), "named variables are not filled by position");
    }

    #[test]
    fn the_event_names_its_creator_and_is_keyed_by_the_change() {
        let t = stored(TemplateStatus::Approved, Some(5));
        let e = t.change_event(None, "status", at(5));
        assert_eq!(e.data["notify"], json!({ "user_id": "user_ada" }));
        assert_eq!(e.kind.as_str(), "template.status_changed");
        assert_eq!(t.change_event(None, "status", at(9)).dedupe_key, e.dedupe_key, "a repeat is the same event");
        let mut unknown = t.clone();
        unknown.created_by = None;
        assert!(unknown.change_event(None, "status", at(5)).data.get("notify").is_none());
    }

    #[test]
    fn listed_variables_are_read_leniently() {
        let (body, header) = variables_of(&json!([{ "type": "HEADER", "format": "IMAGE" }, { "type": "BODY", "text": "Hi {{1}} {{2}}" }]));
        assert_eq!((body, header), (Some(vec!["1".to_string(), "2".to_string()]), Some(vec![])));
        assert_eq!(variables_of(&json!([{ "type": "BODY", "text": "Hi {{1}} {{x}}" }])).0, None);
    }
}
