//! The WhatsApp bot at work: each newly stored customer message (`inbound::Received`) is
//! decided on (`domain::bot::decide`) against the conversation's state, then acted on: the
//! conversation's state, a ticket opened or joined, and a reply queued through
//! `delivery::queue_reply`.
//!
//! A conversation waiting on a feedback call's WhatsApp survey (and any tap on a survey's list)
//! goes to the survey first (`calls::answer_survey`); what it lets go of comes back to the bot.
//!
//! Every action saves the conversation over the version it was decided on, so a decision taken on
//! a stale conversation (a second message of the same job, an admin closing the ticket meanwhile)
//! never lands: the conversation is read again and the message decided again.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::app::calls::{self, CallPorts, SurveyRoute};
use crate::app::inbound::Received;
use crate::app::delivery::{NewReply, queue_reply};
use crate::app::rate_limits::{self, AnnouncePorts};
use crate::app::support::{self, TicketOpening};
use crate::domain::bot::{BotDecision, BotReply, BotSettings, BotState, StoredBotSettings, TicketStep, decide};
use crate::domain::conversation::Conversation;
use crate::domain::ids::IdempotencyKey;
use crate::domain::message::{Sender, SenderType};
use crate::domain::outbound::OutboundContent;
use crate::error::{Error, Result};
use crate::optimistic::{retry_lost_updates, retry_until_landed};
use crate::domain::audit::{AuditActor, AuditEntity};
use crate::app::conversations::{self, ConversationEdit};
use crate::app::sla::SlaPorts;
use crate::domain::routing::TeamSource;
use crate::ports::{BotStore, ConversationStore, EventStore, Outbox, MessageStore, SupportStore, TeamStore, Written};

/// The ports the bot needs.
pub struct BotPorts<'a> {
    pub bot: &'a dyn BotStore,
    pub tickets: &'a dyn SupportStore,
    pub events: &'a dyn EventStore,
    pub conversations: &'a dyn ConversationStore,
    pub messages: &'a dyn MessageStore,
    pub outbox: &'a dyn Outbox,
    /// The feedback calls, whose WhatsApp survey answers come through here.
    pub calls: CallPorts<'a>,
    /// A menu entry naming a team moves the conversation there as a supervisor's `PATCH` does.
    pub sla: SlaPorts<'a>,
}

/// The organisation's bot settings, or the default ones (for the texts) when it has none.
pub async fn settings(bot: &dyn BotStore, org_id: &str) -> Result<BotSettings> {
    Ok(bot.bot_settings(org_id).await?.map(|s| s.settings).unwrap_or_default())
}

/// Stores the default menu and texts for a new organisation; an existing menu is kept.
pub async fn seed_defaults(bot: &dyn BotStore, org_id: &str, now: DateTime<Utc>) -> Result<Written> {
    let stored = StoredBotSettings { org_id: org_id.to_string(), settings: BotSettings::default(), updated_at: now, updated_by: None };
    bot.put_bot_settings_if_missing(&stored).await
}

/// `PUT /v1/bot/menu`: validated (the teams the entries name are the organisation's), then
/// stored whole.
pub async fn save_settings(bot: &dyn BotStore, teams: &dyn TeamStore, org_id: &str, settings: BotSettings, by: &AuditActor, now: DateTime<Utc>) -> Result<StoredBotSettings> {
    settings.validate()?;
    for (field, team) in settings.entry_teams() {
        if teams.team(org_id, team).await?.is_none() {
            return Err(Error::invalid(field, "no such team in the organisation"));
        }
    }
    let before = bot.bot_settings(org_id).await?;
    let stored = StoredBotSettings { org_id: org_id.to_string(), settings, updated_at: now, updated_by: Some(by.user_id.clone()) };
    let audit = by.change(now, org_id, (AuditEntity::Settings, "bot_menu"), "update", &["settings"], before.as_ref(), Some(&stored));
    bot.put_bot_settings(&stored, audit.as_ref()).await?;
    Ok(stored)
}

/// What the bot did with a message (for logs and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct BotOutcome {
    pub decision: BotDecision,
    /// The ticket the message opened or joined.
    pub ticket_id: Option<String>,
    /// The reply queued, if any.
    pub reply_id: Option<String>,
}

/// Hands a stored customer message to the bot, then records its handling done: a redelivered
/// job hands on only the messages still owed (each is handed on once; a repeat after a failure
/// between the two steps finds every bot action keyed by the message, its reply among them).
pub async fn handle_received(ports: &BotPorts<'_>, received: &Received, now: DateTime<Utc>) -> Result<BotOutcome> {
    let outcome = if received.message.rate_limited {
        // A rate-limited customer: no menu, no ticket, no survey, no auto-reply; only the block's
        // one notice, from the message that started it (`docs/rate-limits.md`).
        let announce = AnnouncePorts { events: ports.events, conversations: ports.conversations, messages: ports.messages, outbox: ports.outbox };
        let reply_id = rate_limits::announce_block(&announce, received, now).await?;
        BotOutcome { decision: BotDecision { next_state: None, reply: None, ticket: TicketStep::None, team_id: None }, ticket_id: None, reply_id }
    } else {
        on_received(ports, received, now).await?
    };
    retry_until_landed(|_| ports.messages.mark_handled(&received.message)).await?;
    Ok(outcome)
}

/// Reacts to one newly stored customer message. An organisation without bot settings (none
/// seeded or saved), or with the bot switched off, gets no menu; messages of a conversation
/// already in chat support still join its ticket.
pub async fn on_received(ports: &BotPorts<'_>, received: &Received, now: DateTime<Utc>) -> Result<BotOutcome> {
    let org_id = received.conversation.org_id.as_str();
    let current = match calls::answer_survey(&ports.calls, received, now).await? {
        SurveyRoute::Handled { reply_id, state } => {
            info!(conversation_id = received.conversation.id, message_id = received.message.id, state, "survey handled message");
            let decision = BotDecision { next_state: Some(BotState::parse(&state)), reply: None, ticket: TicketStep::None, team_id: None };
            return Ok(BotOutcome { decision, ticket_id: None, reply_id });
        }
        SurveyRoute::ToBot(conversation) => *conversation,
    };
    let current = &current;
    let stored = ports.bot.bot_settings(org_id).await?;
    let active = stored.as_ref().is_some_and(|s| s.settings.enabled);
    let settings = stored.map(|s| s.settings).unwrap_or_default();
    let settings = &settings;
    retry_lost_updates("conversation", |attempt| async move {
        // The first attempt decides on the conversation as the message left it; later ones on
        // what a concurrent change made of it.
        let conversation = if attempt == 1 {
            current.clone()
        } else {
            ports.conversations.conversation(org_id, &received.conversation.id).await?.ok_or(Error::NotFound("conversation"))?
        };
        let state = BotState::parse(&conversation.state);
        let mut decision = decide(settings, &state, conversation.ticket_id.as_deref(), &received.inbound);
        if !active && decision.ticket == TicketStep::None {
            decision = BotDecision { next_state: None, reply: None, ticket: TicketStep::None, team_id: None };
        }
        // The team first, so the state is saved over the version the move wrote (a retry after
        // the move finds the team already set: nothing changes twice).
        let conversation = match &decision.team_id {
            Some(team) => moved_to_team(ports, &conversation, team, now).await?,
            None => conversation,
        };
        let ticket_id = match act(ports, &conversation, received, &decision, settings.daily_ticket_limit).await? {
            Acted::Ticket(id) => id,
            Acted::LimitReached => {
                // No ticket: the customer is told, and the conversation goes back to the menu so
                // their next message is not another attempt at a ticket.
                decision = BotDecision { next_state: Some(BotState::Menu), reply: Some(BotReply::Text(settings.ticket_limit_text())), ticket: TicketStep::None, team_id: None };
                let mut updated = conversation.clone();
                updated.state = BotState::MENU.to_string();
                updated.ticket_id = None;
                updated.version += 1;
                ports.conversations.save_conversation(&updated).await?;
                None
            }
        };
        let reply_id = match &decision.reply {
            Some(reply) => Some(send(ports, settings, &conversation, received, reply, now).await?),
            None => None,
        };
        info!(
            conversation_id = conversation.id,
            message_id = received.message.id,
            state = decision.next_state.as_ref().map_or(state.as_str(), |s| s.as_str()),
            ticket_id = ticket_id.as_deref().unwrap_or_default(),
            "bot handled message"
        );
        Ok(BotOutcome { decision, ticket_id, reply_id })
    })
    .await
}

/// The conversation moved to the queue of the team a menu entry names, exactly as a supervisor's
/// `PATCH {team_id}` moves it (`conversations::update`): the policy evaluated again, its clocks,
/// and routed if the team assigns automatically. A team deleted since the menu was saved, or
/// routing settings that do not let the bot menu set teams, leave the conversation where it is
/// (the customer still gets the entry's answer).
async fn moved_to_team(ports: &BotPorts<'_>, conversation: &Conversation, team: &str, now: DateTime<Utc>) -> Result<Conversation> {
    if conversation.team_id.as_deref() == Some(team) {
        return Ok(conversation.clone());
    }
    let edit = ConversationEdit { team_id: Some(Some(team.to_string())), ..Default::default() };
    match conversations::change(&ports.sla, &ports.sla.routing_ports(), &conversation.org_id, &conversation.id, &edit, TeamSource::BotMenu, now).await {
        Ok(moved) => Ok(moved),
        Err(Error::Invalid { reason, .. }) => {
            warn!(org_id = conversation.org_id, conversation_id = conversation.id, team, reason = reason.as_str(), "the menu entry's team is not set: conversation left where it is");
            Ok(conversation.clone())
        }
        Err(e) => Err(e),
    }
}

/// What the decision's ticket step came to.
enum Acted {
    /// The ticket touched, if any.
    Ticket(Option<String>),
    /// The customer's daily ticket limit stopped a new ticket: nothing was written.
    LimitReached,
}

/// Applies the decision's state and ticket step.
async fn act(ports: &BotPorts<'_>, conversation: &Conversation, received: &Received, decision: &BotDecision, daily_limit: u32) -> Result<Acted> {
    let message = &received.message;
    let open = || async {
        Ok(match support::open_from_whatsapp(ports.tickets, ports.events, conversation, message, daily_limit).await? {
            TicketOpening::Opened(ticket) => Acted::Ticket(Some(ticket.id)),
            TicketOpening::LimitReached { .. } => Acted::LimitReached,
        })
    };
    match &decision.ticket {
        TicketStep::Open => open().await,
        TicketStep::Append { ticket_id } => match support::append_from_whatsapp(ports.tickets, conversation, ticket_id, message).await? {
            Some(ticket) => Ok(Acted::Ticket(Some(ticket.id))),
            // The ticket finished (or vanished) without the conversation hearing of it: start anew.
            None => open().await,
        },
        TicketStep::None if decision.next_state.is_none() && decision.reply.is_none() => Ok(Acted::Ticket(None)),
        TicketStep::None => {
            // Saved even when the state stays, so the reply is never sent on a stale decision.
            let mut updated = conversation.clone();
            if let Some(state) = &decision.next_state {
                updated.state = state.as_str().to_string();
            }
            updated.version += 1;
            ports.conversations.save_conversation(&updated).await?;
            Ok(Acted::Ticket(None))
        }
    }
}

async fn send(
    ports: &BotPorts<'_>,
    settings: &BotSettings,
    conversation: &Conversation,
    received: &Received,
    reply: &BotReply,
    now: DateTime<Utc>,
) -> Result<String> {
    let content = match reply {
        BotReply::Menu => settings.menu_message(),
        BotReply::Text(text) => OutboundContent::text(text),
    };
    let key = format!("bot:{}", received.message.id);
    let sent = queue_reply(
        ports.conversations,
        ports.messages,
        ports.outbox,
        NewReply {
            org_id: &conversation.org_id,
            conversation_id: &conversation.id,
            content,
            sender: Sender { kind: SenderType::Bot, id: None, name: None },
            idempotency_key: Some(&IdempotencyKey::internal(key)),
            now,
            // The bot's step may have just written the conversation (its state, a ticket).
            just_read: None,
        },
    )
    .await?;
    Ok(sent.id)
}
