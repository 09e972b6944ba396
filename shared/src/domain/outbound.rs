//! What an agent (or the bot) sends, its validation against WhatsApp's limits, and the exact
//! Graph API request body it becomes.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// WhatsApp's limit on a text message body.
pub const MAX_TEXT_CHARS: usize = 4096;
const MAX_BUTTONS: usize = 3;
const MAX_BUTTON_TITLE_CHARS: usize = 20;
const MAX_LIST_ROWS: usize = 10;
const MAX_ROW_TITLE_CHARS: usize = 24;
const MAX_ROW_DESCRIPTION_CHARS: usize = 72;
const MAX_INTERACTIVE_BODY_CHARS: usize = 1024;
/// A template's body parameters: a body is at most 1024 characters, so neither more parameters
/// nor longer ones than these can make sense to Meta.
const MAX_TEMPLATE_PARAMETERS: usize = 50;
const MAX_TEMPLATE_PARAMETER_CHARS: usize = 1024;
/// Graph media ids are numeric strings of about 16 digits.
const MAX_MEDIA_ID_CHARS: usize = 128;
const MAX_MEDIA_LINK_CHARS: usize = 2048;
/// What the customer's phone shows as the document's name: a name, not a path.
const MAX_FILENAME_CHARS: usize = 240;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboundContent {
    Text {
        #[schema(min_length = 1, max_length = 4096, pattern = "\\S")]
        body: String,
        #[serde(default)]
        preview_url: bool,
    },
    Template {
        #[schema(min_length = 1, max_length = 512, pattern = "\\S")]
        name: String,
        #[schema(min_length = 1, max_length = 15, pattern = "\\S")]
        language: String,
        /// Body parameters, in order ({{1}}, {{2}}, ...).
        #[serde(default)]
        #[schema(schema_with = template_parameters_schema)]
        parameters: Vec<String>,
    },
    Buttons {
        #[schema(min_length = 1, max_length = 1024, pattern = "\\S")]
        body: String,
        #[schema(min_items = 1, max_items = 3)]
        buttons: Vec<ReplyButton>,
        #[serde(default)]
        header: Option<String>,
        #[serde(default)]
        footer: Option<String>,
    },
    List {
        #[schema(min_length = 1, max_length = 1024, pattern = "\\S")]
        body: String,
        /// The label of the button that opens the list.
        #[schema(min_length = 1, max_length = 20, pattern = "\\S")]
        button: String,
        sections: Vec<ListSection>,
        #[serde(default)]
        header: Option<String>,
        #[serde(default)]
        footer: Option<String>,
    },
    Media {
        media_type: MediaType,
        /// A Graph media id (from an upload to Meta); give exactly one of `id`, `link`, `media_id`.
        #[serde(default)]
        #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
        id: Option<String>,
        /// A file this organisation uploaded (`POST /v1/media`, then a PUT of its bytes), of this
        /// `media_type`: sent to Meta by a presigned link minted at send time. 404 for an unknown
        /// id (or another organisation's), 409 while its bytes are not uploaded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
        media_id: Option<String>,
        #[serde(default)]
        #[schema(min_length = 1, max_length = 2048, pattern = "^https?://")]
        link: Option<String>,
        #[serde(default)]
        #[schema(max_length = 1024)]
        caption: Option<String>,
        /// A document's name as the customer sees it: no path, no control characters.
        #[serde(default)]
        #[schema(min_length = 1, max_length = 240, pattern = "^[^/\\\\\\x00-\\x1f\\x7f-\\x9f]*[^/\\\\\\s][^/\\\\\\x00-\\x1f\\x7f-\\x9f]*$")]
        filename: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplyButton {
    #[schema(min_length = 1, max_length = 256, pattern = "\\S")]
    pub id: String,
    #[schema(min_length = 1, max_length = 20, pattern = "\\S")]
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListRow {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub id: String,
    #[schema(min_length = 1, max_length = 24, pattern = "\\S")]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 72)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Image => "image",
            MediaType::Audio => "audio",
            MediaType::Video => "video",
            MediaType::Document => "document",
            MediaType::Sticker => "sticker",
        }
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn template_parameters_schema() -> utoipa::openapi::Array {
    let item = utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_TEMPLATE_PARAMETER_CHARS))
        .pattern(Some("\\S"));
    utoipa::openapi::ArrayBuilder::new().items(item).max_items(Some(MAX_TEMPLATE_PARAMETERS)).build()
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

impl OutboundContent {
    pub fn text(body: impl Into<String>) -> Self {
        OutboundContent::Text { body: body.into(), preview_url: false }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            OutboundContent::Text { .. } => "text",
            OutboundContent::Template { .. } => "template",
            OutboundContent::Buttons { .. } | OutboundContent::List { .. } => "interactive",
            OutboundContent::Media { media_type, .. } => media_type.as_str(),
        }
    }

    /// Templates are the only messages Meta accepts outside the 24-hour window.
    pub fn is_template(&self) -> bool {
        matches!(self, OutboundContent::Template { .. })
    }

    /// A readable rendering for the conversation view.
    pub fn preview(&self) -> String {
        match self {
            OutboundContent::Text { body, .. } => body.clone(),
            OutboundContent::Template { name, parameters, .. } if parameters.is_empty() => format!("[template {name}]"),
            OutboundContent::Template { name, parameters, .. } => format!("[template {name}] {}", parameters.join(" | ")),
            OutboundContent::Buttons { body, .. } | OutboundContent::List { body, .. } => body.clone(),
            OutboundContent::Media { media_type, caption, filename, .. } => caption
                .clone()
                .or_else(|| filename.clone())
                .unwrap_or_else(|| format!("[{}]", media_type.as_str())),
        }
    }

    /// The upload (`POST /v1/media`) this content sends, if it sends one.
    pub fn upload_id(&self) -> Option<&str> {
        match self {
            OutboundContent::Media { media_id, .. } => media_id.as_deref(),
            _ => None,
        }
    }

    /// The same media sent from `url` (an upload's presigned GET, minted at send time).
    pub fn with_link(&self, url: String) -> OutboundContent {
        match self {
            OutboundContent::Media { media_type, caption, filename, .. } => OutboundContent::Media {
                media_type: *media_type,
                id: None,
                link: Some(url),
                media_id: None,
                caption: caption.clone(),
                filename: filename.clone(),
            },
            other => other.clone(),
        }
    }

    /// Checks WhatsApp's limits; the error names the offending field (prefixed with `content.`).
    pub fn validate(&self) -> Result<()> {
        match self {
            OutboundContent::Text { body, .. } => require_text("content.body", body, MAX_TEXT_CHARS),
            OutboundContent::Template { name, language, parameters } => {
                require_text("content.name", name, 512)?;
                require_text("content.language", language, 15)?;
                if parameters.len() > MAX_TEMPLATE_PARAMETERS {
                    return Err(Error::invalid("content.parameters", format!("must have at most {MAX_TEMPLATE_PARAMETERS} parameters")));
                }
                for (i, p) in parameters.iter().enumerate() {
                    require_text(&format!("content.parameters[{i}]"), p, MAX_TEMPLATE_PARAMETER_CHARS)?;
                }
                Ok(())
            }
            OutboundContent::Buttons { body, buttons, .. } => {
                require_text("content.body", body, MAX_INTERACTIVE_BODY_CHARS)?;
                if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
                    return Err(Error::invalid("content.buttons", format!("must have 1 to {MAX_BUTTONS} buttons")));
                }
                for (i, b) in buttons.iter().enumerate() {
                    require_text(&format!("content.buttons[{i}].id"), &b.id, 256)?;
                    require_text(&format!("content.buttons[{i}].title"), &b.title, MAX_BUTTON_TITLE_CHARS)?;
                }
                Ok(())
            }
            OutboundContent::List { body, button, sections, .. } => {
                require_text("content.body", body, MAX_INTERACTIVE_BODY_CHARS)?;
                require_text("content.button", button, MAX_BUTTON_TITLE_CHARS)?;
                let rows: usize = sections.iter().map(|s| s.rows.len()).sum();
                if rows == 0 || rows > MAX_LIST_ROWS {
                    return Err(Error::invalid("content.sections", format!("must have 1 to {MAX_LIST_ROWS} rows in all")));
                }
                for (si, s) in sections.iter().enumerate() {
                    for (ri, r) in s.rows.iter().enumerate() {
                        require_text(&format!("content.sections[{si}].rows[{ri}].id"), &r.id, 200)?;
                        require_text(&format!("content.sections[{si}].rows[{ri}].title"), &r.title, MAX_ROW_TITLE_CHARS)?;
                        if let Some(d) = &r.description
                            && chars(d) > MAX_ROW_DESCRIPTION_CHARS {
                                return Err(Error::invalid(
                                    format!("content.sections[{si}].rows[{ri}].description"),
                                    format!("must be at most {MAX_ROW_DESCRIPTION_CHARS} characters"),
                                ));
                            }
                    }
                }
                Ok(())
            }
            OutboundContent::Media { id, link, media_id, caption, filename, .. } => {
                if let Some(m) = media_id {
                    if id.is_some() || link.is_some() {
                        return Err(Error::invalid("content.media_id", "give exactly one of id, link or media_id"));
                    }
                    if chars(m) > MAX_MEDIA_ID_CHARS || m.contains('#') || m.trim().is_empty() {
                        return Err(Error::invalid("content.media_id", format!("must be an upload's id of at most {MAX_MEDIA_ID_CHARS} characters")));
                    }
                }
                match (id.as_deref().filter(|s| !s.is_empty()), link.as_deref().filter(|s| !s.is_empty())) {
                    (None, None) if media_id.is_some() => {}
                    (Some(_), Some(_)) | (None, None) => {
                        return Err(Error::invalid("content.id", "give exactly one of id, link or media_id"));
                    }
                    (None, Some(l)) if !(l.starts_with("https://") || l.starts_with("http://")) => {
                        return Err(Error::invalid("content.link", "must be an http(s) URL"));
                    }
                    (None, Some(l)) if chars(l) > MAX_MEDIA_LINK_CHARS => {
                        return Err(Error::invalid("content.link", format!("must be at most {MAX_MEDIA_LINK_CHARS} characters")));
                    }
                    (Some(i), None) if chars(i) > MAX_MEDIA_ID_CHARS || i.contains('#') || i.trim().is_empty() => {
                        return Err(Error::invalid("content.id", format!("must be a media id of at most {MAX_MEDIA_ID_CHARS} characters")));
                    }
                    _ => {}
                }
                if let Some(f) = filename {
                    require_text("content.filename", f, MAX_FILENAME_CHARS)?;
                    if f.contains(['/', '\\']) || f.chars().any(char::is_control) {
                        return Err(Error::invalid("content.filename", "must be a file name, without '/', '\\' or control characters"));
                    }
                }
                if let Some(c) = caption
                    && chars(c) > MAX_INTERACTIVE_BODY_CHARS {
                        return Err(Error::invalid("content.caption", "must be at most 1024 characters"));
                    }
                Ok(())
            }
        }
    }

    /// The JSON body of `POST /{phone_number_id}/messages` for this content.
    pub fn graph_request(&self, recipient: (&str, &str)) -> Value {
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
        });
        body[recipient.0] = json!(recipient.1);
        let optional_text = |t: &Option<String>| t.as_ref().map(|t| json!({ "text": t }));
        match self {
            OutboundContent::Text { body: text, preview_url } => {
                body["type"] = json!("text");
                body["text"] = json!({ "body": text, "preview_url": preview_url });
            }
            OutboundContent::Template { name, language, parameters } => {
                body["type"] = json!("template");
                let mut template = json!({ "name": name, "language": { "code": language } });
                if !parameters.is_empty() {
                    let params: Vec<Value> = parameters.iter().map(|p| json!({ "type": "text", "text": p })).collect();
                    template["components"] = json!([{ "type": "body", "parameters": params }]);
                }
                body["template"] = template;
            }
            OutboundContent::Buttons { body: text, buttons, header, footer } => {
                body["type"] = json!("interactive");
                let buttons: Vec<Value> = buttons
                    .iter()
                    .map(|b| json!({ "type": "reply", "reply": { "id": b.id, "title": b.title } }))
                    .collect();
                let mut interactive = json!({ "type": "button", "body": { "text": text }, "action": { "buttons": buttons } });
                if let Some(h) = header {
                    interactive["header"] = json!({ "type": "text", "text": h });
                }
                if let Some(f) = optional_text(footer) {
                    interactive["footer"] = f;
                }
                body["interactive"] = interactive;
            }
            OutboundContent::List { body: text, button, sections, header, footer } => {
                body["type"] = json!("interactive");
                let mut interactive = json!({
                    "type": "list",
                    "body": { "text": text },
                    "action": { "button": button, "sections": sections },
                });
                if let Some(h) = header {
                    interactive["header"] = json!({ "type": "text", "text": h });
                }
                if let Some(f) = optional_text(footer) {
                    interactive["footer"] = f;
                }
                body["interactive"] = interactive;
            }
            // An upload (`media_id`) is sent as the link reply-sender mints (`with_link`).
            OutboundContent::Media { media_type, id, link, caption, filename, .. } => {
                let kind = media_type.as_str();
                body["type"] = json!(kind);
                let mut media = json!({});
                if let Some(id) = id {
                    media["id"] = json!(id);
                }
                if let Some(link) = link {
                    media["link"] = json!(link);
                }
                // Meta rejects captions on audio and stickers, and filenames on anything but documents.
                if let Some(c) = caption.as_ref().filter(|_| !matches!(media_type, MediaType::Audio | MediaType::Sticker)) {
                    media["caption"] = json!(c);
                }
                if let Some(f) = filename.as_ref().filter(|_| *media_type == MediaType::Document) {
                    media["filename"] = json!(f);
                }
                body[kind] = media;
            }
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_the_graph_text_body() {
        let body = OutboundContent::text("Hello").graph_request(("to", "16505551234"));
        assert_eq!(
            body,
            json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text","text":{"body":"Hello","preview_url":false}})
        );
    }

    #[test]
    fn template_parameters_go_in_the_body_component() {
        let c = OutboundContent::Template { name: "order_shipped".into(), language: "es".into(), parameters: vec!["Ana".into()] };
        let body = c.graph_request(("to", "1"));
        assert_eq!(body["template"]["components"][0]["parameters"][0]["text"], "Ana");
        assert_eq!(body["template"]["language"]["code"], "es");
    }

    #[test]
    fn limits_name_the_field() {
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let err = OutboundContent::text(long).validate().unwrap_err();
        assert!(matches!(err, Error::Invalid { ref field, .. } if field == "content.body"));
        assert!(OutboundContent::text("x".repeat(MAX_TEXT_CHARS)).validate().is_ok());
        assert!(OutboundContent::text("  ").validate().is_err());
        let four = OutboundContent::Buttons {
            body: "pick".into(),
            buttons: (0..4).map(|i| ReplyButton { id: i.to_string(), title: "t".into() }).collect(),
            header: None,
            footer: None,
        };
        assert!(matches!(four.validate().unwrap_err(), Error::Invalid { ref field, .. } if field == "content.buttons"));
        let media = OutboundContent::Media { media_type: MediaType::Image, id: None, link: None, media_id: None, caption: None, filename: None };
        assert!(media.validate().is_err());
    }

    #[test]
    fn template_parameters_media_ids_links_and_filenames_have_limits() {
        let field = |c: OutboundContent| match c.validate() {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{c:?} was accepted: {other:?}"),
        };
        let template = |parameters: Vec<String>| OutboundContent::Template { name: "order_shipped".into(), language: "es".into(), parameters };
        assert!(template(vec!["Ana".into(); MAX_TEMPLATE_PARAMETERS]).validate().is_ok());
        assert_eq!(field(template(vec!["Ana".into(); MAX_TEMPLATE_PARAMETERS + 1])), "content.parameters");
        assert_eq!(field(template(vec!["Ana".into(), "x".repeat(MAX_TEMPLATE_PARAMETER_CHARS + 1)])), "content.parameters[1]");
        assert_eq!(field(template(vec![" ".into()])), "content.parameters[0]");
        let media = |id: Option<&str>, link: Option<&str>, filename: Option<&str>| OutboundContent::Media {
            media_type: MediaType::Document,
            id: id.map(str::to_string),
            link: link.map(str::to_string),
            media_id: None,
            caption: None,
            filename: filename.map(str::to_string),
        };
        assert!(media(Some("1166846181421424"), None, Some("invoice 1042.pdf")).validate().is_ok());
        assert_eq!(field(media(Some(&"1".repeat(MAX_MEDIA_ID_CHARS + 1)), None, None)), "content.id");
        let long_link = format!("https://example.com/{}", "a".repeat(MAX_MEDIA_LINK_CHARS));
        assert_eq!(field(media(None, Some(&long_link), None)), "content.link");
        for bad in ["../etc/passwd", "a\\b.pdf", "line\nbreak.pdf", " ", &"f".repeat(MAX_FILENAME_CHARS + 1)] {
            assert_eq!(field(media(Some("1"), None, Some(bad))), "content.filename", "{bad:?}");
        }
    }

    #[test]
    fn interactive_buttons_and_list_shapes() {
        let buttons = OutboundContent::Buttons {
            body: "Choose".into(),
            buttons: vec![ReplyButton { id: "yes".into(), title: "Yes".into() }],
            header: None,
            footer: Some("f".into()),
        };
        let b = buttons.graph_request(("to", "1"));
        assert_eq!(b["interactive"]["action"]["buttons"][0]["reply"]["id"], "yes");
        assert_eq!(b["interactive"]["footer"]["text"], "f");
        let list = OutboundContent::List {
            body: "Menu".into(),
            button: "Options".into(),
            sections: vec![ListSection { title: Some("Help".into()), rows: vec![ListRow { id: "1".into(), title: "Ask".into(), description: None }] }],
            header: None,
            footer: None,
        };
        let l = list.graph_request(("to", "1"));
        assert_eq!(l["interactive"]["type"], "list");
        assert_eq!(l["interactive"]["action"]["sections"][0]["rows"][0]["title"], "Ask");
    }
}
