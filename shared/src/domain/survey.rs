//! The WhatsApp survey that follows a feedback call missed on its last attempt
//! (`docs/feedback-calls.md`, "The WhatsApp survey"): the list that asks the NPS question, where
//! the conversation stands while it waits (`Conversation.state`), and what a customer's message
//! means there.
//!
//! ```text
//! asked ─▶ survey:{call}:score ─score (row or typed)─▶ survey:{call}:feedback ─text─▶ menu
//!                 │ not a score                                 └─ "menu", not text ─▶ menu (the bot takes it)
//!                 ▼
//!          survey:{call}:score_again ─score─▶ feedback;  not a score, "menu" ─▶ menu (the bot takes it)
//! ```
//!
//! A tap on the list's row answers its call from any state: the row names the call.

use crate::domain::bot::ignored_kind;
use crate::domain::call_schedule::default_nps_prompt;
use crate::domain::call::score_in_words;
use crate::domain::outbound::{ListRow, ListSection, OutboundContent};
use crate::domain::webhook::InboundMessage;

const STATE_PREFIX: &str = "survey:";
const ROW_PREFIX: &str = "nps:";
/// WhatsApp's limit on an interactive message's body.
const MAX_BODY_CHARS: usize = 1024;
const HOW_TO_ANSWER: &str = "Choose a score from the list, or type a number from 0 to 10.";
const ASK_AGAIN: &str = "Sorry, we did not catch a score there.";
/// Sent once the free-text answer is in.
pub const THANK_YOU: &str = "Thank you for your feedback! Reply menu any time to see what we can help you with.";

/// Where a survey is in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyStage {
    /// The list was sent: waiting for the score.
    Score,
    /// Asked again once after a message that was not a score.
    ScoreAgain,
    /// The score is in: waiting for the one free-text answer.
    Feedback,
}

impl SurveyStage {
    fn as_str(self) -> &'static str {
        match self {
            SurveyStage::Score => "score",
            SurveyStage::ScoreAgain => "score_again",
            SurveyStage::Feedback => "feedback",
        }
    }
}

/// The conversation's state while a survey waits: `survey:{call_id}:{stage}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyState {
    pub call_id: String,
    pub stage: SurveyStage,
}

impl SurveyState {
    pub fn new(call_id: &str, stage: SurveyStage) -> Self {
        SurveyState { call_id: call_id.to_string(), stage }
    }

    pub fn parse(state: &str) -> Option<Self> {
        let (call_id, stage) = state.strip_prefix(STATE_PREFIX)?.rsplit_once(':')?;
        let stage = match stage {
            "score" => SurveyStage::Score,
            "score_again" => SurveyStage::ScoreAgain,
            "feedback" => SurveyStage::Feedback,
            _ => return None,
        };
        (!call_id.is_empty()).then(|| SurveyState::new(call_id, stage))
    }

    pub fn as_state(&self) -> String {
        format!("{STATE_PREFIX}{}:{}", self.call_id, self.stage.as_str())
    }
}

/// The row id of `score` in the list of `call_id`'s survey.
pub fn row_id(call_id: &str, score: u8) -> String {
    format!("{ROW_PREFIX}{call_id}:{score}")
}

/// The call and score of a tapped row of a survey list.
pub fn read_row_id(id: &str) -> Option<(&str, u8)> {
    let (call_id, score) = id.strip_prefix(ROW_PREFIX)?.rsplit_once(':')?;
    let score = score.parse::<u8>().ok().filter(|s| *s <= 10)?;
    (!call_id.is_empty()).then_some((call_id, score))
}

/// The question as WhatsApp shows it. The default prompt is worded for the phone ("press the
/// number, then the hash key"): on WhatsApp its first two sentences are asked; a prompt the
/// organisation wrote is sent as written.
pub fn whatsapp_prompt(nps_prompt: &str) -> String {
    if nps_prompt == default_nps_prompt() {
        return "Thank you for visiting us. On a scale from 0 to 10, how likely are you to recommend us to a friend?".into();
    }
    nps_prompt.trim().to_string()
}

/// The survey's list: rows 10 down to 1 (WhatsApp allows 10 rows in all, so 0 is typed — it is a
/// detractor like 1, so the NPS loses nothing), the question above, and the note that a typed
/// number 0–10 is read too. `again`: the polite second asking after a message that was no score.
pub fn survey_list(call_id: &str, nps_prompt: &str, again: bool) -> OutboundContent {
    let intro = if again { format!("{ASK_AGAIN} ") } else { String::new() };
    let room = MAX_BODY_CHARS - intro.chars().count() - HOW_TO_ANSWER.chars().count() - 2;
    let prompt: String = whatsapp_prompt(nps_prompt).chars().take(room).collect();
    let rows = (1..=10u8)
        .rev()
        .map(|score| ListRow {
            id: row_id(call_id, score),
            title: score.to_string(),
            description: match score {
                10 => Some("Extremely likely".into()),
                1 => Some("Not likely (type 0 for not at all)".into()),
                _ => None,
            },
        })
        .collect();
    OutboundContent::List {
        body: format!("{intro}{prompt}\n\n{HOW_TO_ANSWER}"),
        button: "Choose a score".into(),
        sections: vec![ListSection { title: Some("0 to 10".into()), rows }],
        header: None,
        footer: None,
    }
}

/// What a customer's message means to a survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SurveyStep {
    /// Not the survey's: the bot decides as usual.
    NotSurvey,
    /// Nothing to do (a reaction, WhatsApp's own notices).
    Ignore,
    /// The score for the call.
    Score { call_id: String, score: u8 },
    /// Not a score while waiting for one, the first time: the list again.
    AskAgain { call_id: String },
    /// The free-text answer.
    Feedback { call_id: String, text: String },
    /// The customer moved on ("menu", a second message that is no score, no text for the
    /// feedback): the conversation goes back to the menu and the bot takes the message.
    Leave,
}

/// What `message` means in a conversation at `state`.
pub fn read_message(state: &str, message: &InboundMessage) -> SurveyStep {
    if let Some((call_id, score)) = message.selection_id().and_then(read_row_id) {
        return SurveyStep::Score { call_id: call_id.to_string(), score };
    }
    let Some(survey) = SurveyState::parse(state) else { return SurveyStep::NotSurvey };
    if ignored_kind(&message.kind) {
        return SurveyStep::Ignore;
    }
    let text = (message.kind == "text").then_some(message.text.as_deref()).flatten().map(str::trim).filter(|t| !t.is_empty());
    if text.is_some_and(|t| t.trim_matches(|c: char| c.is_ascii_punctuation()).eq_ignore_ascii_case("menu")) {
        return SurveyStep::Leave;
    }
    let call_id = survey.call_id;
    match survey.stage {
        SurveyStage::Score | SurveyStage::ScoreAgain => match text.and_then(score_in_words) {
            Some(score) => SurveyStep::Score { call_id, score },
            None if survey.stage == SurveyStage::Score => SurveyStep::AskAgain { call_id },
            None => SurveyStep::Leave,
        },
        SurveyStage::Feedback => match text {
            Some(text) => SurveyStep::Feedback { call_id, text: text.to_string() },
            None => SurveyStep::Leave,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(body: &str) -> InboundMessage {
        InboundMessage::read(json!({"id": "wamid.1", "from": "1", "type": "text", "text": {"body": body}}))
    }

    fn row(id: &str) -> InboundMessage {
        InboundMessage::read(json!({"id": "wamid.2", "from": "1", "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": id, "title": "x"}}}))
    }

    fn state(stage: SurveyStage) -> String {
        SurveyState::new("01CALL", stage).as_state()
    }

    #[test]
    fn the_list_has_ten_rows_from_10_down_and_fits_whatsapp_with_any_prompt() {
        let list = survey_list("01CALL", &default_nps_prompt(), false);
        list.validate().unwrap();
        let OutboundContent::List { body, sections, .. } = &list else { panic!("a list") };
        let ids: Vec<&str> = sections[0].rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), 10);
        assert_eq!((ids[0], ids[9]), ("nps:01CALL:10", "nps:01CALL:1"));
        assert!(body.contains("type a number from 0 to 10") && !body.contains("hash key"), "{body}");
        let long = "x".repeat(1000);
        let again = survey_list("01CALL", &long, true);
        again.validate().unwrap();
        assert!(matches!(&again, OutboundContent::List { body, .. } if body.starts_with(ASK_AGAIN)));
        assert!(matches!(survey_list("c", "How was it?", false), OutboundContent::List { body, .. } if body.starts_with("How was it?")));
    }

    #[test]
    fn states_and_row_ids_read_back() {
        for stage in [SurveyStage::Score, SurveyStage::ScoreAgain, SurveyStage::Feedback] {
            assert_eq!(SurveyState::parse(&state(stage)), Some(SurveyState::new("01CALL", stage)));
        }
        for other in ["menu", "chat_support", "survey:", "survey::score", "survey:01CALL:done"] {
            assert_eq!(SurveyState::parse(other), None, "{other}");
        }
        assert_eq!(read_row_id(&row_id("01CALL", 7)), Some(("01CALL", 7)));
        assert_eq!(read_row_id("nps:01CALL:11"), None);
        assert_eq!(read_row_id("chat_support"), None);
    }

    #[test]
    fn typed_scores_are_read_like_spoken_ones_and_anything_else_is_asked_again_once() {
        let waiting = state(SurveyStage::Score);
        for (typed, score) in [("9", 9), ("nine", 9), ("10/10", 10), (" 0 ", 0), ("I'd say 7.", 7), ("Ten!", 10)] {
            assert_eq!(read_message(&waiting, &text(typed)), SurveyStep::Score { call_id: "01CALL".into(), score }, "{typed}");
        }
        assert_eq!(read_message(&waiting, &text("great service")), SurveyStep::AskAgain { call_id: "01CALL".into() });
        assert_eq!(read_message(&waiting, &text("11")), SurveyStep::AskAgain { call_id: "01CALL".into() });
        let again = state(SurveyStage::ScoreAgain);
        assert_eq!(read_message(&again, &text("still no number")), SurveyStep::Leave);
        assert_eq!(read_message(&again, &text("8")), SurveyStep::Score { call_id: "01CALL".into(), score: 8 });
        assert_eq!(read_message(&waiting, &text("Menu")), SurveyStep::Leave);
        let reaction = InboundMessage::read(json!({"id": "wamid.3", "from": "1", "type": "reaction", "reaction": {"emoji": "👍"}}));
        assert_eq!(read_message(&waiting, &reaction), SurveyStep::Ignore);
    }

    #[test]
    fn the_feedback_is_the_next_text_and_a_row_answers_its_call_from_any_state() {
        let feedback = state(SurveyStage::Feedback);
        assert_eq!(read_message(&feedback, &text(" Too slow. ")), SurveyStep::Feedback { call_id: "01CALL".into(), text: "Too slow.".into() });
        assert_eq!(read_message(&feedback, &text("3")), SurveyStep::Feedback { call_id: "01CALL".into(), text: "3".into() });
        assert_eq!(read_message("menu", &row("nps:01OTHER:4")), SurveyStep::Score { call_id: "01OTHER".into(), score: 4 });
        assert_eq!(read_message("menu", &text("9")), SurveyStep::NotSurvey);
        assert_eq!(read_message("menu", &row("chat_support")), SurveyStep::NotSurvey);
    }
}
