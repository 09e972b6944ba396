//! The WhatsApp bot: each organisation's menu and texts, and the pure decision of what to do with
//! a customer's message given where their conversation stands.
//!
//! - In `menu` (a new conversation starts there), any message gets the menu unless it chooses
//!   an entry: a button or list selection, its number ("2") or its exact title.
//! - `menu` / `hi` / `hola` bring the menu back from anywhere except `chat_support`, where only
//!   `menu` leaves (a customer greeting the support team is part of the chat).
//! - Choosing Chat support sets `chat_support` and sends the greeting. There the customer's first
//!   message opens a ticket and every later one joins it.
//! - Other states (an entry's `handover`, e.g. `ask_question`) leave the conversation to agents.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::outbound::{ListRow, ListSection, MAX_TEXT_CHARS, OutboundContent, ReplyButton};
use crate::domain::webhook::InboundMessage;
use crate::error::{Error, Result};

/// Where the bot is with a customer; stored as text on `Conversation.state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotState {
    Menu,
    ChatSupport,
    /// A state an entry hands over to (`ask_question`, ...): agents take it from there.
    Other(String),
}

impl BotState {
    pub const MENU: &'static str = "menu";
    pub const CHAT_SUPPORT: &'static str = "chat_support";

    pub fn parse(s: &str) -> Self {
        match s {
            "" | Self::MENU => BotState::Menu,
            Self::CHAT_SUPPORT => BotState::ChatSupport,
            other => BotState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            BotState::Menu => Self::MENU,
            BotState::ChatSupport => Self::CHAT_SUPPORT,
            BotState::Other(s) => s,
        }
    }
}

/// What choosing a menu entry does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MenuAction {
    /// Live chat with the support team: `chat_support`, then tickets.
    ChatSupport,
    /// Answers with a text and stays in the menu.
    Reply {
        #[schema(min_length = 1, max_length = 4096, pattern = "\\S")]
        text: String,
    },
    /// Answers with a text and moves the conversation to `state`, where agents take over.
    Handover {
        /// Not `menu` nor `chat_support`.
        #[schema(pattern = "^[a-z0-9_]{1,40}$")]
        state: String,
        #[schema(min_length = 1, max_length = 4096, pattern = "\\S")]
        text: String,
        /// The team whose queue the conversation goes to (one of the organisation's; checked when
        /// the menu is saved): as a supervisor's team change does, its SLA policy is evaluated
        /// again and it is routed. Honoured while the organisation's routing settings let the
        /// bot menu set teams (`team_sources` has `bot_menu`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
        team_id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MenuEntry {
    /// The id WhatsApp sends back when the entry is tapped.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub id: String,
    #[schema(min_length = 1, max_length = 20, pattern = "\\S")]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 72)]
    pub description: Option<String>,
    pub action: MenuAction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BotMenu {
    /// The message text above the choices.
    #[schema(min_length = 1, max_length = 1024, pattern = "\\S")]
    pub body: String,
    /// The label of the button that opens a list (lists only; up to 3 entries go as buttons).
    #[schema(min_length = 1, max_length = 20, pattern = "\\S")]
    pub button: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 60, pattern = "\\S")]
    pub header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 60, pattern = "\\S")]
    pub footer: Option<String>,
    #[schema(min_items = 1, max_items = 10)]
    pub entries: Vec<MenuEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BotTexts {
    /// Sent when the customer chooses Chat support.
    #[schema(min_length = 1, max_length = 4096, pattern = "\\S")]
    pub chat_support_greeting: String,
    /// Sent when an admin resolves the ticket.
    #[schema(min_length = 1, max_length = 4096, pattern = "\\S")]
    pub ticket_resolved: String,
    /// Sent when an admin closes the ticket without resolving it.
    #[schema(min_length = 1, max_length = 4096, pattern = "\\S")]
    pub ticket_closed: String,
    /// Sent instead of opening a ticket when the customer has opened `daily_ticket_limit`
    /// tickets today already; `{limit}` is replaced by the limit.
    #[serde(default = "default_ticket_limit_reached")]
    #[schema(min_length = 1, max_length = 4096, pattern = "\\S")]
    pub ticket_limit_reached: String,
}

/// An organisation's bot: its menu and texts (`GET/PUT /v1/bot/menu`). The bot answers only
/// for organisations that have settings stored (seeded or saved) with `enabled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BotSettings {
    /// Off: the menu never answers; conversations already in chat support still feed their ticket.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    pub menu: BotMenu,
    pub texts: BotTexts,
    /// Words that bring the menu back (besides `menu`, which always does).
    #[serde(default = "default_keywords")]
    #[schema(schema_with = keywords_schema)]
    pub menu_keywords: Vec<String>,
    /// How many tickets one customer may open on WhatsApp in a UTC day (default 5); beyond it the
    /// bot answers `texts.ticket_limit_reached` and opens none. Tickets opened by staff through
    /// the API are not counted.
    #[serde(default = "default_daily_ticket_limit")]
    #[schema(minimum = 1, maximum = 1000, default = 5)]
    pub daily_ticket_limit: u32,
}

/// `menu_keywords` in the contract: words of 1 to 40 characters.
fn keywords_schema() -> utoipa::openapi::schema::Array {
    let word = utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String).min_length(Some(1)).max_length(Some(40)).pattern(Some("\\S"));
    utoipa::openapi::schema::ArrayBuilder::new().items(word).build()
}

fn enabled_by_default() -> bool {
    true
}

fn default_daily_ticket_limit() -> u32 {
    DEFAULT_DAILY_TICKET_LIMIT
}

fn default_ticket_limit_reached() -> String {
    TICKET_LIMIT_REACHED.to_string()
}

pub const DEFAULT_DAILY_TICKET_LIMIT: u32 = 5;
pub const MAX_DAILY_TICKET_LIMIT: u32 = 1000;

fn default_keywords() -> Vec<String> {
    vec!["menu".into(), "hi".into(), "hola".into()]
}

pub const CHAT_SUPPORT_GREETING: &str = "Live chat support — you can now chat with our support team. Please describe your issue.";
pub const TICKET_RESOLVED: &str = "Your support ticket has been resolved!";
pub const TICKET_LIMIT_REACHED: &str =
    "You have reached today's limit of {limit} support tickets. Please write again tomorrow, or reply menu to see the other options.";
pub const TICKET_CLOSED: &str = "Your support ticket has been closed. Write to us any time if you need more help.";

impl Default for BotSettings {
    fn default() -> Self {
        let entry = |id: &str, title: &str, description: &str, action: MenuAction| MenuEntry {
            id: id.into(),
            title: title.into(),
            description: Some(description.into()),
            action,
        };
        BotSettings {
            enabled: true,
            menu: BotMenu {
                body: "Hello! How can we help you today? Choose an option, or reply with its number.".into(),
                button: "Menu".into(),
                header: None,
                footer: None,
                entries: vec![
                    entry("ask_question", "Ask a question", "Our team answers here", MenuAction::Handover {
                        state: "ask_question".into(),
                        text: "Sure — type your question and our team will answer you here.".into(),
                        team_id: None,
                    }),
                    entry("chat_support", "Chat support", "Live chat with our support team", MenuAction::ChatSupport),
                    entry("opening_hours", "Opening hours", "When we are available", MenuAction::Reply {
                        text: "We are available Monday to Friday, 9:00 to 18:00. Reply menu to see the options again.".into(),
                    }),
                    entry("contact_us", "Contact us", "Other ways to reach us", MenuAction::Reply {
                        text: "You can reach us right here on WhatsApp at any time. Reply menu to see the options again.".into(),
                    }),
                ],
            },
            texts: BotTexts {
                chat_support_greeting: CHAT_SUPPORT_GREETING.into(),
                ticket_resolved: TICKET_RESOLVED.into(),
                ticket_closed: TICKET_CLOSED.into(),
                ticket_limit_reached: TICKET_LIMIT_REACHED.into(),
            },
            menu_keywords: default_keywords(),
            daily_ticket_limit: DEFAULT_DAILY_TICKET_LIMIT,
        }
    }
}

const MAX_BUTTONS: usize = 3;
const MAX_ENTRIES: usize = 10;

impl BotSettings {
    /// The menu as a WhatsApp message: reply buttons for up to three entries, a list otherwise.
    pub fn menu_message(&self) -> OutboundContent {
        let m = &self.menu;
        if m.entries.len() <= MAX_BUTTONS {
            OutboundContent::Buttons {
                body: m.body.clone(),
                buttons: m.entries.iter().map(|e| ReplyButton { id: e.id.clone(), title: e.title.clone() }).collect(),
                header: m.header.clone(),
                footer: m.footer.clone(),
            }
        } else {
            OutboundContent::List {
                body: m.body.clone(),
                button: m.button.clone(),
                sections: vec![ListSection {
                    title: None,
                    rows: m
                        .entries
                        .iter()
                        .map(|e| ListRow { id: e.id.clone(), title: e.title.clone(), description: e.description.clone() })
                        .collect(),
                }],
                header: m.header.clone(),
                footer: m.footer.clone(),
            }
        }
    }

    /// Checks an edited menu; the error names the field (`menu.entries[1].title`, ...).
    pub fn validate(&self) -> Result<()> {
        let m = &self.menu;
        if m.entries.is_empty() || m.entries.len() > MAX_ENTRIES {
            return Err(Error::invalid("menu.entries", format!("must have 1 to {MAX_ENTRIES} entries")));
        }
        let title_limit = if m.entries.len() <= MAX_BUTTONS { 20 } else { 24 };
        for (i, e) in m.entries.iter().enumerate() {
            let field = |name: &str| format!("menu.entries[{i}].{name}");
            require(&field("id"), &e.id, 200)?;
            require(&field("title"), &e.title, title_limit)?;
            if m.entries[..i].iter().any(|o| o.id == e.id) {
                return Err(Error::invalid(field("id"), "must be unique"));
            }
            if e.description.as_ref().is_some_and(|d| d.chars().count() > 72) {
                return Err(Error::invalid(field("description"), "must be at most 72 characters"));
            }
            match &e.action {
                MenuAction::ChatSupport => {}
                MenuAction::Reply { text } => require(&field("action.text"), text, MAX_TEXT_CHARS)?,
                MenuAction::Handover { state, text, .. } => {
                    require(&field("action.text"), text, MAX_TEXT_CHARS)?;
                    let valid = !state.is_empty()
                        && state.len() <= 40
                        && state.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if !valid || state == BotState::MENU || state == BotState::CHAT_SUPPORT {
                        return Err(Error::invalid(
                            field("action.state"),
                            "must be 1 to 40 of a-z, 0-9, _ and not menu or chat_support",
                        ));
                    }
                }
            }
        }
        require("menu.body", &m.body, 1024)?;
        // Shown only when the menu goes as a list, but stored and answered always: never blank.
        require("menu.button", &m.button, 20)?;
        if let Some(h) = &m.header {
            require("menu.header", h, 60)?;
        }
        if let Some(f) = &m.footer {
            require("menu.footer", f, 60)?;
        }
        require("texts.chat_support_greeting", &self.texts.chat_support_greeting, MAX_TEXT_CHARS)?;
        require("texts.ticket_resolved", &self.texts.ticket_resolved, MAX_TEXT_CHARS)?;
        require("texts.ticket_closed", &self.texts.ticket_closed, MAX_TEXT_CHARS)?;
        require("texts.ticket_limit_reached", &self.texts.ticket_limit_reached, MAX_TEXT_CHARS)?;
        if !(1..=MAX_DAILY_TICKET_LIMIT).contains(&self.daily_ticket_limit) {
            return Err(Error::invalid("daily_ticket_limit", format!("must be 1 to {MAX_DAILY_TICKET_LIMIT}")));
        }
        for (i, k) in self.menu_keywords.iter().enumerate() {
            require(&format!("menu_keywords[{i}]"), k, 40)?;
        }
        self.menu_message().validate()
    }

    /// What the bot answers when the daily ticket limit stops a new ticket.
    pub fn ticket_limit_text(&self) -> String {
        self.texts.ticket_limit_reached.replace("{limit}", &self.daily_ticket_limit.to_string())
    }

    /// The teams the entries name, with the field that names each (`menu.entries[i].action.team_id`):
    /// each must be one of the organisation's.
    pub fn entry_teams(&self) -> impl Iterator<Item = (String, &str)> {
        self.menu.entries.iter().enumerate().filter_map(|(i, e)| match &e.action {
            MenuAction::Handover { team_id: Some(team), .. } => Some((format!("menu.entries[{i}].action.team_id"), team.as_str())),
            _ => None,
        })
    }

    fn entry_by_id(&self, id: &str) -> Option<&MenuEntry> {
        self.menu.entries.iter().find(|e| e.id == id)
    }

    /// An entry chosen by typing: its number, or its title.
    fn entry_by_text(&self, text: &str) -> Option<&MenuEntry> {
        if let Ok(n) = text.parse::<usize>() {
            return n.checked_sub(1).and_then(|i| self.menu.entries.get(i));
        }
        self.menu.entries.iter().find(|e| normalise(&e.title) == text)
    }

    fn is_menu_keyword(&self, text: &str) -> bool {
        text == "menu" || self.menu_keywords.iter().any(|k| normalise(k) == text)
    }
}

fn require(field: &str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(Error::invalid(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

/// Lower case, trimmed, without the punctuation people add ("Hi!", "menu.").
fn normalise(text: &str) -> String {
    text.trim().trim_matches(|c: char| c.is_ascii_punctuation() || c == '¡' || c == '¿').trim().to_lowercase()
}

/// What the bot sends.
#[derive(Debug, Clone, PartialEq)]
pub enum BotReply {
    Menu,
    Text(String),
}

/// What to do with the customer's message in chat support.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketStep {
    None,
    /// Open a ticket with this message as its first.
    Open,
    /// Add this message to the ticket on the conversation (a new one opens if it has finished).
    Append { ticket_id: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct BotDecision {
    /// The conversation's next state; `None` keeps it.
    pub next_state: Option<BotState>,
    pub reply: Option<BotReply>,
    pub ticket: TicketStep,
    /// The team whose queue the conversation moves to (a menu entry naming one).
    pub team_id: Option<String>,
}

impl BotDecision {
    fn nothing() -> Self {
        BotDecision { next_state: None, reply: None, ticket: TicketStep::None, team_id: None }
    }

    fn menu() -> Self {
        BotDecision { next_state: Some(BotState::Menu), reply: Some(BotReply::Menu), ticket: TicketStep::None, team_id: None }
    }

    fn choose(settings: &BotSettings, entry: &MenuEntry) -> Self {
        let (state, text, team_id) = match &entry.action {
            MenuAction::ChatSupport => (BotState::ChatSupport, settings.texts.chat_support_greeting.clone(), None),
            MenuAction::Reply { text } => (BotState::Menu, text.clone(), None),
            MenuAction::Handover { state, text, team_id } => (BotState::parse(state), text.clone(), team_id.clone()),
        };
        BotDecision { next_state: Some(state), reply: Some(BotReply::Text(text)), ticket: TicketStep::None, team_id }
    }
}

/// Message types that never drive the bot: reactions and WhatsApp's own notices.
pub(crate) fn ignored_kind(kind: &str) -> bool {
    matches!(kind, "reaction" | "system" | "unsupported" | "ephemeral" | "request_welcome")
}

/// What to do with `message` in a conversation at `state` with `ticket_id`.
pub fn decide(settings: &BotSettings, state: &BotState, ticket_id: Option<&str>, message: &InboundMessage) -> BotDecision {
    if ignored_kind(&message.kind) {
        return BotDecision::nothing();
    }
    if let Some(entry) = message.selection_id().and_then(|id| settings.entry_by_id(id)) {
        return BotDecision::choose(settings, entry);
    }
    let typed = (message.kind == "text").then(|| message.text.as_deref().map(normalise)).flatten();
    let typed = typed.as_deref();
    match state {
        BotState::ChatSupport => {
            if typed == Some("menu") {
                // The ticket stays open for the team; choosing Chat support again continues it.
                return BotDecision::menu();
            }
            let ticket = match ticket_id {
                Some(id) => TicketStep::Append { ticket_id: id.to_string() },
                None => TicketStep::Open,
            };
            BotDecision { next_state: None, reply: None, ticket, team_id: None }
        }
        BotState::Menu => match typed.and_then(|t| settings.entry_by_text(t)) {
            Some(entry) => BotDecision::choose(settings, entry),
            None => BotDecision::menu(),
        },
        BotState::Other(_) => {
            if typed.is_some_and(|t| settings.is_menu_keyword(t)) {
                BotDecision::menu()
            } else {
                BotDecision::nothing()
            }
        }
    }
}

/// Stored form of an organisation's bot settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredBotSettings {
    pub org_id: String,
    pub settings: BotSettings,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(body: &str) -> InboundMessage {
        InboundMessage::read(json!({"id": "wamid.1", "from": "1", "type": "text", "text": {"body": body}}))
    }

    fn list_reply(id: &str) -> InboundMessage {
        InboundMessage::read(json!({"id": "wamid.2", "from": "1", "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": id, "title": "x"}}}))
    }

    fn button_reply(id: &str) -> InboundMessage {
        InboundMessage::read(json!({"id": "wamid.3", "from": "1", "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": id, "title": "x"}}}))
    }

    fn greeting(s: &BotSettings) -> Option<BotReply> {
        Some(BotReply::Text(s.texts.chat_support_greeting.clone()))
    }

    #[test]
    fn default_menu_is_a_valid_list_with_the_required_entries() {
        let s = BotSettings::default();
        s.validate().unwrap();
        let titles: Vec<&str> = s.menu.entries.iter().map(|e| e.title.as_str()).collect();
        assert!(titles.contains(&"Ask a question") && titles.contains(&"Chat support") && titles.len() >= 4);
        let body = s.menu_message().graph_request(("to", "1"));
        assert_eq!(body["interactive"]["type"], "list");
        assert_eq!(body["interactive"]["action"]["sections"][0]["rows"][1]["id"], "chat_support");
        assert_eq!(s.texts.chat_support_greeting, "Live chat support — you can now chat with our support team. Please describe your issue.");
        assert_eq!(s.texts.ticket_resolved, "Your support ticket has been resolved!");
    }

    #[test]
    fn three_entries_or_fewer_go_as_buttons() {
        let mut s = BotSettings::default();
        s.menu.entries.truncate(3);
        s.validate().unwrap();
        assert!(matches!(s.menu_message(), OutboundContent::Buttons { ref buttons, .. } if buttons.len() == 3));
    }

    #[test]
    fn first_message_and_greetings_answer_with_the_menu() {
        let s = BotSettings::default();
        assert_eq!(decide(&s, &BotState::Menu, None, &text("Good morning, I have a problem")), BotDecision::menu());
        let asking = BotState::Other("ask_question".into());
        assert_eq!(decide(&s, &asking, None, &text("What time do you open?")), BotDecision::nothing());
        for word in ["menu", "Hi!", "HOLA", " hi "] {
            assert_eq!(decide(&s, &asking, None, &text(word)), BotDecision::menu(), "{word}");
            assert_eq!(decide(&s, &BotState::Menu, None, &text(word)), BotDecision::menu(), "{word}");
        }
    }

    #[test]
    fn chat_support_is_chosen_by_selection_number_or_title() {
        let s = BotSettings::default();
        let want = BotDecision { next_state: Some(BotState::ChatSupport), reply: greeting(&s), ticket: TicketStep::None, team_id: None };
        assert_eq!(decide(&s, &BotState::Menu, None, &list_reply("chat_support")), want);
        assert_eq!(decide(&s, &BotState::Menu, None, &button_reply("chat_support")), want);
        assert_eq!(decide(&s, &BotState::Menu, None, &text("2")), want);
        assert_eq!(decide(&s, &BotState::Menu, None, &text("chat support")), want);
        // A tap on an old menu works from anywhere.
        assert_eq!(decide(&s, &BotState::Other("ask_question".into()), None, &list_reply("chat_support")), want);
        // A number outside the menu shows the menu again.
        assert_eq!(decide(&s, &BotState::Menu, None, &text("9")), BotDecision::menu());
    }

    #[test]
    fn other_entries_reply_or_hand_over() {
        let s = BotSettings::default();
        let d = decide(&s, &BotState::Menu, None, &text("1"));
        assert_eq!(d.next_state, Some(BotState::Other("ask_question".into())));
        assert!(matches!(d.reply, Some(BotReply::Text(_))));
        let d = decide(&s, &BotState::Menu, None, &list_reply("opening_hours"));
        assert_eq!(d.next_state, Some(BotState::Menu));
        assert!(matches!(d.reply, Some(BotReply::Text(ref t)) if t.contains("Monday")));
    }

    #[test]
    fn in_chat_support_the_first_message_opens_a_ticket_and_later_ones_join_it() {
        let s = BotSettings::default();
        let open = decide(&s, &BotState::ChatSupport, None, &text("My order never arrived"));
        assert_eq!(open, BotDecision { next_state: None, reply: None, ticket: TicketStep::Open, team_id: None });
        let join = decide(&s, &BotState::ChatSupport, Some("T1"), &text("It was order 42"));
        assert_eq!(join.ticket, TicketStep::Append { ticket_id: "T1".into() });
        assert_eq!(join.reply, None);
        // Numbers and greetings are part of the chat here; only `menu` leaves.
        assert_eq!(decide(&s, &BotState::ChatSupport, Some("T1"), &text("2")).ticket, TicketStep::Append { ticket_id: "T1".into() });
        assert_eq!(decide(&s, &BotState::ChatSupport, None, &text("hola")).ticket, TicketStep::Open);
        assert_eq!(decide(&s, &BotState::ChatSupport, Some("T1"), &text("Menu")), BotDecision::menu());
        // Pictures join the ticket too.
        let image = InboundMessage::read(json!({"id": "w", "from": "1", "type": "image", "image": {"id": "m1"}}));
        assert_eq!(decide(&s, &BotState::ChatSupport, Some("T1"), &image).ticket, TicketStep::Append { ticket_id: "T1".into() });
    }

    #[test]
    fn reactions_never_drive_the_bot() {
        let s = BotSettings::default();
        let reaction = InboundMessage::read(json!({"id": "w", "from": "1", "type": "reaction", "reaction": {"message_id": "x", "emoji": "👍"}}));
        assert_eq!(decide(&s, &BotState::Menu, None, &reaction), BotDecision::nothing());
        assert_eq!(decide(&s, &BotState::ChatSupport, Some("T1"), &reaction), BotDecision::nothing());
    }

    #[test]
    fn states_round_trip_as_text() {
        for s in ["menu", "chat_support", "ask_question"] {
            assert_eq!(BotState::parse(s).as_str(), s);
        }
        assert_eq!(BotState::parse(""), BotState::Menu);
    }

    #[test]
    fn edits_are_validated_naming_the_field() {
        let mut s = BotSettings::default();
        s.menu.entries[1].title = String::new();
        assert!(matches!(s.validate().unwrap_err(), Error::Invalid { ref field, .. } if field == "menu.entries[1].title"));
        let mut s = BotSettings::default();
        s.menu.entries[2].id = s.menu.entries[0].id.clone();
        assert!(matches!(s.validate().unwrap_err(), Error::Invalid { ref field, .. } if field == "menu.entries[2].id"));
        let mut s = BotSettings::default();
        s.menu.entries[0].action = MenuAction::Handover { state: "chat_support".into(), text: "x".into(), team_id: None };
        assert!(matches!(s.validate().unwrap_err(), Error::Invalid { ref field, .. } if field == "menu.entries[0].action.state"));
        let mut s = BotSettings::default();
        s.texts.ticket_resolved = "x".repeat(MAX_TEXT_CHARS + 1);
        assert!(matches!(s.validate().unwrap_err(), Error::Invalid { ref field, .. } if field == "texts.ticket_resolved"));
        let mut s = BotSettings::default();
        s.menu.entries.clear();
        assert!(s.validate().is_err());
        // A blank list button is refused even when the menu would go as reply buttons.
        let mut s = BotSettings::default();
        s.menu.entries.truncate(2);
        s.menu.button = "\u{c}".into();
        assert!(matches!(s.validate().unwrap_err(), Error::Invalid { ref field, .. } if field == "menu.button"));
    }

    #[test]
    fn settings_read_back_with_keywords_defaulted() {
        let mut v = serde_json::to_value(BotSettings::default()).unwrap();
        v.as_object_mut().unwrap().remove("menu_keywords");
        v.as_object_mut().unwrap().remove("enabled");
        let s: BotSettings = serde_json::from_value(v).unwrap();
        assert_eq!(s.menu_keywords, vec!["menu", "hi", "hola"]);
        assert!(s.enabled);
    }

    #[test]
    fn the_daily_ticket_limit_defaults_to_5_and_must_be_1_to_1000() {
        // Settings stored before the limit existed read the default limit and text.
        let mut old = serde_json::to_value(BotSettings::default()).unwrap();
        old.as_object_mut().unwrap().remove("daily_ticket_limit");
        old["texts"].as_object_mut().unwrap().remove("ticket_limit_reached");
        let read: BotSettings = serde_json::from_value(old).unwrap();
        assert_eq!((read.daily_ticket_limit, read.texts.ticket_limit_reached.as_str()), (5, TICKET_LIMIT_REACHED));
        for bad in [0, 1001] {
            let e = BotSettings { daily_ticket_limit: bad, ..BotSettings::default() }.validate().unwrap_err();
            assert!(matches!(&e, Error::Invalid { field, .. } if field == "daily_ticket_limit"), "{bad}: {e}");
        }
        let s = BotSettings { daily_ticket_limit: 3, ..BotSettings::default() };
        assert!(s.validate().is_ok());
        assert!(s.ticket_limit_text().contains("limit of 3 support tickets"));
    }
}
