//! Actions: create one (with its bubble in the conversation), decide it once, answer the customer,
//! and follow the answer's delivery (`follow_delivery`).
//!
//! A decision is one transaction and one job. The transaction writes, all or none: the decided
//! action, its answer's record, the answer itself (a `queued` message), the `action_status_update`
//! note, the decision on the bubble, the conversation's new state and the `action.decided` event.
//! The job puts the answer on the replies queue, so reply-sender sends it with the 24-hour window,
//! retries and delivery statuses of every reply. Exactly once: the transaction is conditional on
//! the action being the pending version the decision was made on, so it commits once; a repeated
//! decision finds the action decided and at most queues its answer again (FIFO deduplication and
//! reply-sender's status check make that harmless).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tracing::info;

use crate::domain::action::{
    Action, ActionResponse, ActionStatus, Actor, AnswerStatus, DecisionOutcome, DecisionRequest, NewAction, decide as decide_rule,
    is_built_in, response_key,
};
use crate::domain::audit::{AuditActor, AuditEntity};
use crate::domain::conversation::Conversation;
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::ids::{IdempotencyKey, new_id, stable_id};
use crate::domain::message::{DeliveryStatus, Direction, Message, Sender, SenderType};
use crate::domain::outbound::OutboundContent;
use crate::domain::response_template::{EffectiveTemplate, ResponseTemplates, TemplateSettingsRequest, compose};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{
    ActionFilter, ActionStore, ConversationStore, DecisionContext, DecisionWrite, EventStore, MessageStore, Outbox, Page, PageRequest,
    ResponseTemplateStore, Written,
};

use super::delivery::{enqueue, keyed_reply_id, outbound_message};

/// What the audit trail records of a decision: the status and the decision (who, reply text, an
/// edit's changes with the details before) and the details an edit changed.
const AUDITED_FIELDS: [&str; 3] = ["status", "details", "decision"];

/// Everything the action use cases touch.
pub struct ActionPorts<'a> {
    pub actions: &'a dyn ActionStore,
    pub templates: &'a dyn ResponseTemplateStore,
    pub conversations: &'a dyn ConversationStore,
    pub messages: &'a dyn MessageStore,
    pub events: &'a dyn EventStore,
    pub outbox: &'a dyn Outbox,
}

/// An action with its answer, as `GET /v1/actions/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ActionView {
    #[serde(flatten)]
    pub action: Action,
    pub response: Option<ActionResponse>,
}

impl ActionView {
    /// The action with its answer's record, `answer_status` taken from the record: the two move
    /// in one transaction, but a read of both (one BatchGetItem) is not isolated from it, so for
    /// a moment the record can be ahead; the record is the truth the action's copy follows.
    pub fn new(mut action: Action, response: Option<ActionResponse>) -> ActionView {
        if let Some(status) = response.as_ref().and_then(|r| AnswerStatus::of(r.status)) {
            action.answer_status = Some(status);
        }
        ActionView { action, response }
    }
}

fn sender(actor: &Actor) -> Sender {
    Sender { kind: SenderType::Agent, id: Some(actor.id.clone()), name: actor.name.clone() }
}

/// An agent-only message in the conversation (an action bubble or a status note).
fn internal_message(conversation: &Conversation, id: String, kind: &str, text: String, content: Value, by: &Actor, at: DateTime<Utc>) -> Message {
    Message {
        id,
        org_id: conversation.org_id.clone(),
        conversation_id: conversation.id.clone(),
        customer_id: conversation.customer_id.clone(),
        direction: Direction::Internal,
        kind: kind.to_string(),
        text: Some(text),
        content: Some(content),
        context: None,
        referral: None,
        errors: None,
        outbound: None,
        wamid: None,
        // Never sent: it reached the conversation, nothing more happens to it.
        status: DeliveryStatus::Received,
        failure: None,
        sender: sender(by),
        created_at: at,
        sent_at: None,
        delivered_at: None,
        read_at: None,
        failed_at: None,
        sent_as_template: None,
        idempotency_key: None,
        sending_at: None,
        resent_at: None,
        rate_limited: false,
        media: None,
    }
}

/// Adds an internal message to its conversation once (the conversation's optimistic lock, retried).
async fn record_internal(
    conversations: &dyn ConversationStore,
    messages: &dyn MessageStore,
    org_id: &str,
    conversation_id: &str,
    build: impl Fn(&Conversation) -> Message,
) -> Result<()> {
    let build = &build;
    retry_lost_updates("conversation", |_| async move {
        let mut conversation = conversations.conversation(org_id, conversation_id).await?.ok_or(Error::NotFound("conversation"))?;
        let message = build(&conversation);
        conversation.touch(message.created_at, message.text.as_deref());
        conversation.version += 1;
        // Stored now or before: either way it is there once.
        messages.record_outbound(&message, &conversation).await.map(|_| ())
    })
    .await
}

/// The action bubble: what was asked, and (updated on decision) its status.
fn request_bubble(action: &Action) -> impl Fn(&Conversation) -> Message + '_ {
    move |conversation| {
        let content = json!({
            "action_id": action.id,
            "type": action.action_type,
            "title": action.title,
            "details": action.details,
            "proposed_reply": action.proposed_reply,
            "status": action.status,
        });
        let text = format!("Action requested: {}", action.title);
        internal_message(conversation, action.request_message_id.clone(), "action_request", text, content, &action.created_by, action.created_at)
    }
}

/// The note that an action was decided, pointing at the answer sent to the customer.
fn status_note<'a>(action: &'a Action, response_message_id: &'a str) -> impl Fn(&Conversation) -> Message + 'a {
    move |conversation| {
        let decision = action.decision.as_ref();
        let (by, at) = decision.map_or((&action.created_by, action.updated_at), |d| (&d.decided_by, d.decided_at));
        let who = by.name.clone().unwrap_or_else(|| by.id.clone());
        let text = format!("{} {} by {who}", action.title, action.status.as_str());
        let content = json!({
            "action_id": action.id,
            "status": action.status,
            "reply_text": decision.and_then(|d| d.reply_text.clone()),
            "changes": decision.and_then(|d| d.changes.clone()),
            "response_message_id": response_message_id,
        });
        internal_message(conversation, stable_id(at, &format!("action_status_update#{}", action.id)), "action_status_update", text, content, by, at)
    }
}

// --- create, read, list ---------------------------------------------------------------------------

/// Creates an action on a conversation and shows it there as an `action_request` bubble. With an
/// idempotency key, a repeated request answers the action the first one created.
pub async fn create(
    ports: &ActionPorts<'_>,
    org_id: &str,
    by: Actor,
    new: NewAction,
    idempotency_key: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
) -> Result<(Action, Written)> {
    let custom_types = if is_built_in(&new.action_type) {
        Vec::new()
    } else {
        ports.templates.response_templates(org_id).await?.map(|t| t.custom_types).unwrap_or_default()
    };
    let new = new.validate(&custom_types)?;
    if let Some(key) = idempotency_key
        && let Some(existing) = ports.actions.action_by_key(org_id, &key.key).await?
    {
        key.check_first(org_id, &existing.id, existing.created_at)?;
        return finish_create(ports, existing, Written::AlreadyThere).await;
    }
    let conversation = ports.conversations.conversation(org_id, &new.conversation_id).await?.ok_or(Error::NotFound("conversation"))?;
    let id = idempotency_key.map_or_else(|| new_id(now), |k| k.id_at(org_id, now));
    let action = Action {
        request_message_id: stable_id(now, &format!("action_request#{id}")),
        id,
        org_id: org_id.to_string(),
        conversation_id: conversation.id.clone(),
        customer_id: conversation.customer_id.clone(),
        action_type: new.action_type,
        title: new.title,
        details: new.details,
        proposed_reply: new.proposed_reply,
        status: ActionStatus::Pending,
        created_by: by,
        created_at: now,
        updated_at: now,
        decision: None,
        response_message_id: None,
        answer_status: None,
        version: 1,
    };
    match ports.actions.create_action(&action, idempotency_key.map(|k| k.key.as_str())).await? {
        Written::Stored => finish_create(ports, action, Written::Stored).await,
        Written::AlreadyThere => {
            // A concurrent request with the same key won.
            let key = idempotency_key.ok_or(Error::NotFound("action"))?;
            let existing = ports.actions.action_by_key(org_id, &key.key).await?.ok_or(Error::NotFound("action"))?;
            key.check_first(org_id, &existing.id, existing.created_at)?;
            finish_create(ports, existing, Written::AlreadyThere).await
        }
    }
}

/// The bubble and the `action.created` event; both idempotent, so a retried create completes them.
async fn finish_create(ports: &ActionPorts<'_>, action: Action, written: Written) -> Result<(Action, Written)> {
    record_internal(ports.conversations, ports.messages, &action.org_id, &action.conversation_id, request_bubble(&action)).await?;
    let data = json!({
        "action_id": action.id,
        "conversation_id": action.conversation_id,
        "type": action.action_type,
        "title": action.title,
        "status": action.status,
    });
    let event = NewEvent::new(&action.org_id, EventKind::ActionCreated, action.created_at, data, format!("action.created#{}", action.id));
    ports.events.record_event(&event).await?;
    Ok((action, written))
}

pub async fn get(actions: &dyn ActionStore, org_id: &str, action_id: &str) -> Result<ActionView> {
    match actions.action_with_response(org_id, action_id).await? {
        (Some(action), response) => Ok(ActionView::new(action, response)),
        (None, _) => Err(Error::NotFound("action")),
    }
}

pub async fn list(actions: &dyn ActionStore, org_id: &str, filter: &ActionFilter, page: &PageRequest) -> Result<Page<Action>> {
    if let Some(t) = &filter.action_type {
        crate::domain::action::validate_type_name("type", t)?;
    }
    actions.actions(org_id, filter, page).await
}

// --- decide -----------------------------------------------------------------------------------------

/// Decides an action and answers the customer: one transaction with every record of the decision,
/// then the answer's job for reply-sender. The same decision again answers the action as it is
/// (and queues its answer again if it was never sent: the first request may have died between
/// its transaction and its job); a different one answers 409 with the current status.
/// `role` is the decider's (from their token), for the audit trail's entry of the decision.
pub async fn decide(ports: &ActionPorts<'_>, org_id: &str, action_id: &str, request: &DecisionRequest, by: Actor, role: &str, now: DateTime<Utc>) -> Result<Action> {
    let by = &by;
    let auditor = AuditActor { user_id: by.id.clone(), role: role.to_string() };
    let auditor = &auditor;
    retry_lost_updates("action", |_| async move {
        let action = ports.actions.action(org_id, action_id).await?.ok_or(Error::NotFound("action"))?;
        let decided = match decide_rule(&action, request, by.clone(), now)? {
            DecisionOutcome::AlreadyDecided => {
                queue_unsent_answer(ports, &action).await?;
                return Ok(action);
            }
            DecisionOutcome::Decide(decided) => *decided,
        };
        let context = ports.actions.decision_context(&decided).await?;
        let audit = auditor.change(now, org_id, (AuditEntity::Action, action_id), "decide", &AUDITED_FIELDS, Some(&action), Some(&decided));
        let write = DecisionWrite { audit, ..decision_write(decided, context)? };
        match ports.actions.save_decision(&write).await? {
            Written::Stored => {
                enqueue(ports.outbox, &write.answer).await?;
                info!(action_id, status = write.action.status.as_str(), message_id = write.answer.id, "action decided, answer queued");
                Ok(write.action)
            }
            // Decided by someone else, or the conversation moved on: read again, decide again.
            Written::AlreadyThere => Err(Error::LostUpdate("action")),
        }
    })
    .await
}

async fn queue_unsent_answer(ports: &ActionPorts<'_>, action: &Action) -> Result<()> {
    let Some(message_id) = action.response_message_id.as_deref() else {
        return Ok(());
    };
    match ports.messages.message(&action.org_id, &action.conversation_id, message_id).await? {
        Some(answer) if answer.status == DeliveryStatus::Queued => enqueue(ports.outbox, &answer).await,
        _ => Ok(()),
    }
}

/// What deciding `action` writes: the answer rendered from the organisation's template, its
/// record, the note, the conversation and the event. Ids derive from the decision.
fn decision_write(mut action: Action, context: DecisionContext) -> Result<DecisionWrite> {
    let decision = action.decision.clone().ok_or_else(|| Error::backend("actions", "a decided action without its decision"))?;
    let mut conversation = context.conversation.ok_or(Error::NotFound("conversation"))?;
    let customer_name = context.customer.and_then(|c| c.name);
    let (text, template_source) = compose(context.templates.as_ref(), &action, customer_name.as_deref(), decision.decided_by.name.as_deref());
    // Just after the note, so the conversation reads: bubble, note, answer.
    let answer_at = decision.decided_at + Duration::milliseconds(1);
    let answer_key = response_key(&action.id);
    let answer_id = keyed_reply_id(&action.org_id, &action.conversation_id, &answer_key, answer_at);
    action.response_message_id = Some(answer_id.clone());

    let content = OutboundContent::text(text.clone());
    content.validate()?;
    let answer = outbound_message(&conversation, answer_id.clone(), content, sender(&decision.decided_by), answer_at, Some(&answer_key));
    let note = status_note(&action, &answer_id)(&conversation);
    conversation.touch(note.created_at, note.text.as_deref());
    conversation.touch(answer.created_at, answer.text.as_deref());
    conversation.version += 1;

    let response = ActionResponse {
        action_id: action.id.clone(),
        org_id: action.org_id.clone(),
        conversation_id: action.conversation_id.clone(),
        decision: decision.status,
        text,
        template_source,
        message_id: Some(answer_id.clone()),
        status: DeliveryStatus::Queued,
        wamid: None,
        failure: None,
        created_at: decision.decided_at,
        sent_at: None,
        delivered_at: None,
        read_at: None,
        failed_at: None,
    };
    let event = NewEvent::new(
        &action.org_id,
        EventKind::ActionDecided,
        decision.decided_at,
        json!({
            "action_id": action.id,
            "conversation_id": action.conversation_id,
            "type": action.action_type,
            "title": action.title,
            "status": action.status,
            "decided_by": decision.decided_by,
            "response_message_id": answer_id,
            "answer_status": action.answer_status,
        }),
        format!("action.decided#{}", action.id),
    );
    Ok(DecisionWrite { action, response, answer, note, bubble_shown: context.bubble_shown, conversation, event, audit: None })
}

// --- answer templates -----------------------------------------------------------------------------

/// `GET /v1/action-response-templates`: every type's template in force, and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TemplatesView {
    pub custom_types: Vec<String>,
    pub templates: Vec<EffectiveTemplate>,
    pub version: u64,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

fn templates_view(settings: Option<ResponseTemplates>, org_id: &str, now: DateTime<Utc>) -> TemplatesView {
    let stored = settings.is_some();
    let settings = settings.unwrap_or_else(|| ResponseTemplates::empty(org_id, now));
    TemplatesView {
        templates: settings.effective(),
        custom_types: settings.custom_types,
        version: settings.version,
        updated_at: stored.then_some(settings.updated_at),
        updated_by: settings.updated_by,
    }
}

pub async fn templates(store: &dyn ResponseTemplateStore, org_id: &str, now: DateTime<Utc>) -> Result<TemplatesView> {
    Ok(templates_view(store.response_templates(org_id).await?, org_id, now))
}

/// `PUT /v1/action-response-templates`: replaces the organisation's types and templates.
pub async fn save_templates(store: &dyn ResponseTemplateStore, org_id: &str, by: &AuditActor, request: TemplateSettingsRequest, now: DateTime<Utc>) -> Result<TemplatesView> {
    let current = store.response_templates(org_id).await?;
    let current_version = current.as_ref().map_or(0, |c| c.version);
    if let Some(v) = request.version.filter(|v| *v != current_version) {
        return Err(Error::conflict(format!("the templates changed since version {v}"), current_version.to_string()));
    }
    let settings = request.into_settings(org_id, &by.user_id, now, current_version + 1)?;
    let audit = by.change(now, org_id, (AuditEntity::ResponseTemplates, org_id), "update", &["custom_types", "templates"], current.as_ref(), Some(&settings));
    match store.save_response_templates(&settings, audit.as_ref()).await? {
        Written::Stored => Ok(templates_view(Some(settings), org_id, now)),
        Written::AlreadyThere => Err(Error::conflict("the templates changed meanwhile; read them again", current_version.to_string())),
    }
}
