//! WhatsApp message templates: submitted to Meta with the organisation's token, kept current by
//! Meta's status and quality webhooks (and by a sync of Meta's list), announced to whoever
//! submitted them, and checked before any template message is queued. Decisions:
//! `docs/whatsapp-templates.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{info, warn};

use crate::app::access_tokens::AccessTokens;
use crate::domain::audit::{AuditActor, AuditEntity};
use crate::domain::outbound::OutboundContent;
use crate::domain::secret::Secret;
use crate::domain::webhook::{TemplateQualityChange, TemplateStatusChange};
use crate::domain::whatsapp_template::{Applied, NewTemplate, QualityUpdate, StatusUpdate, TemplateFilter, TemplateStatus, WhatsAppTemplate};
use crate::error::{Error, Result};
use crate::optimistic::retry_lost_updates;
use crate::ports::{ChannelDirectory, EventStore, Page, PageRequest, Secrets, WhatsAppTemplateStore, WhatsAppTemplates, Written};

/// The ports template management needs.
pub struct TemplatePorts<'a> {
    pub templates: &'a dyn WhatsAppTemplateStore,
    pub channels: &'a dyn ChannelDirectory,
    /// Each number's Graph token (a template request goes out with a token of one of the WABA's numbers).
    pub secrets: &'a dyn Secrets,
    pub tokens: &'a AccessTokens,
    pub meta: &'a dyn WhatsAppTemplates,
}

/// Pages of Meta's list read by one sync, per WABA (100 templates a page).
const MAX_SYNC_PAGES: usize = 20;

/// The organisation's numbers, grouped by WABA (only numbers that have a token).
async fn numbers_by_waba(channels: &dyn ChannelDirectory, org_id: &str) -> Result<BTreeMap<String, Vec<String>>> {
    let mut by_waba: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cursor = None;
    for _ in 0..50 {
        let page = channels.channels(org_id, &PageRequest { limit: 100, cursor }).await?;
        for c in page.items {
            if let (Some(waba), Some(_)) = (c.waba_id, c.access_token_rotated_at) {
                by_waba.entry(waba).or_default().push(c.phone_number_id);
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(by_waba)
}

fn no_number() -> Error {
    Error::Conflict {
        detail: "the organisation has no WhatsApp number registered with a token: register one first (POST /v1/channels/whatsapp)".into(),
        current: None,
    }
}

/// The WABA a request is about (the one named, else the organisation's only one) and a token of
/// one of its numbers.
async fn waba_and_token(ports: &TemplatePorts<'_>, org_id: &str, waba_id: Option<&str>, now: DateTime<Utc>) -> Result<(String, Secret)> {
    let by_waba = numbers_by_waba(ports.channels, org_id).await?;
    let (waba, numbers) = match waba_id {
        Some(w) => match by_waba.get_key_value(w) {
            Some(found) => found,
            None if by_waba.is_empty() => return Err(no_number()),
            // A WABA the organisation has no number in is, to it, unknown (another organisation's answers the same).
            None => return Err(Error::NotFound("WhatsApp Business Account (waba_id)")),
        },
        None => match by_waba.len() {
            0 => return Err(no_number()),
            1 => by_waba.iter().next().ok_or_else(no_number)?,
            _ => {
                let all: Vec<&str> = by_waba.keys().map(String::as_str).collect();
                // The body is fine; the organisation's state makes it ambiguous (409, as with no number at all).
                return Err(Error::Conflict {
                    detail: format!("waba_id: the organisation has numbers in several WhatsApp Business Accounts ({}): name one", all.join(", ")),
                    current: None,
                });
            }
        },
    };
    for number in numbers {
        if let Some(token) = ports.tokens.token(ports.secrets, org_id, number, now).await? {
            return Ok((waba.clone(), token));
        }
    }
    Err(no_number())
}

/// Submits a template to Meta for review (validated first, as Meta would) and keeps it `PENDING`
/// (or as Meta answered), with who submitted it.
/// What the audit trail records of a template: what was submitted and where it stands.
const AUDITED_FIELDS: [&str; 6] = ["name", "language", "category", "components", "waba_id", "status"];

pub async fn submit(ports: &TemplatePorts<'_>, org_id: &str, by: &AuditActor, new: &NewTemplate, now: DateTime<Utc>) -> Result<WhatsAppTemplate> {
    let user_id = by.user_id.as_str();
    let vars = new.validate()?;
    let (waba, token) = waba_and_token(ports, org_id, new.waba_id.as_deref(), now).await?;
    let submitted = ports.meta.submit_template(&waba, &token, &new.graph_request(&vars)).await?;
    let status = TemplateStatus::from_meta(&submitted.status).unwrap_or(TemplateStatus::Pending);
    let ours = WhatsAppTemplate::submitted(org_id, &waba, &submitted.id, new, &vars, user_id, status, now);
    let ours = &ours;
    let stored = retry_lost_updates("whatsapp template", |_| async move {
        let existing = ports.templates.whatsapp_template(org_id, &ours.id).await?;
        let record = match existing.clone() {
            None => ours.clone(),
            // Its status webhook came first (it created the record): keep the status, add what
            // only the submission knows.
            Some(e) => WhatsAppTemplate {
                components: ours.components.clone(),
                parameter_format: ours.parameter_format,
                body_parameters: ours.body_parameters.clone(),
                header_parameters: ours.header_parameters.clone(),
                created_by: ours.created_by.clone(),
                category: e.category.or(ours.category),
                version: e.version + 1,
                updated_at: now,
                ..e
            },
        };
        let audit = by.change(now, org_id, (AuditEntity::WhatsappTemplate, &record.id), "submit", &AUDITED_FIELDS, existing.as_ref(), Some(&record));
        match ports.templates.save_whatsapp_template(&record, audit.as_ref()).await? {
            Written::Stored => Ok(record),
            Written::AlreadyThere => Err(Error::LostUpdate("whatsapp template")),
        }
    })
    .await?;
    info!(org_id, template_id = stored.id, name = stored.name, status = stored.status.as_str(), "WhatsApp template submitted");
    Ok(stored)
}

pub async fn list(templates: &dyn WhatsAppTemplateStore, org_id: &str, filter: &TemplateFilter, page: &PageRequest) -> Result<Page<WhatsAppTemplate>> {
    templates.whatsapp_templates(org_id, filter, page).await
}

pub async fn get(templates: &dyn WhatsAppTemplateStore, org_id: &str, template_id: &str) -> Result<WhatsAppTemplate> {
    templates.whatsapp_template(org_id, template_id).await?.ok_or(Error::NotFound("template"))
}

/// Deletes the template at Meta (every language of its name goes there: Meta deletes by name
/// unless given the id, which MAX always gives), then MAX's record.
pub async fn delete(ports: &TemplatePorts<'_>, org_id: &str, template_id: &str, by: &AuditActor, now: DateTime<Utc>) -> Result<()> {
    let template = get(ports.templates, org_id, template_id).await?;
    let (waba, token) = waba_and_token(ports, org_id, Some(&template.waba_id), now).await.map_err(|e| match e {
        Error::NotFound(_) => Error::Conflict {
            detail: "no number of the organisation is registered in the template's WhatsApp Business Account any more".into(),
            current: None,
        },
        other => other,
    })?;
    ports.meta.delete_template(&waba, &token, &template.name, &template.id).await?;
    let audit = by.change(now, org_id, (AuditEntity::WhatsappTemplate, template_id), "delete", &AUDITED_FIELDS, Some(&template), None);
    ports.templates.delete_whatsapp_template(org_id, template_id, audit.as_ref()).await?;
    info!(org_id, template_id, name = template.name, "WhatsApp template deleted");
    Ok(())
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SyncReport {
    /// Templates MAX did not know (made in Meta's tools).
    pub created: u32,
    /// Known ones whose status, category, quality or components differed.
    pub updated: u32,
    pub unchanged: u32,
}

/// Reads Meta's list of every WABA of the organisation and brings MAX's records to it: templates
/// made in Meta's tools appear. Records Meta no longer lists are left as they are (a status
/// webhook `DELETED` or a delete through MAX removes them).
pub async fn sync(ports: &TemplatePorts<'_>, org_id: &str, now: DateTime<Utc>) -> Result<SyncReport> {
    let by_waba = numbers_by_waba(ports.channels, org_id).await?;
    if by_waba.is_empty() {
        return Err(no_number());
    }
    let mut report = SyncReport::default();
    for waba in by_waba.keys() {
        let (_, token) = waba_and_token(ports, org_id, Some(waba), now).await?;
        let mut after: Option<String> = None;
        for _ in 0..MAX_SYNC_PAGES {
            let page = ports.meta.list_templates(waba, &token, after.as_deref()).await?;
            for listed in &page.templates {
                let existing = ports.templates.whatsapp_template(org_id, &listed.id).await?;
                let (next, created) = match &existing {
                    None => {
                        let found = WhatsAppTemplate::discovered(org_id, waba, &listed.id, &listed.name, &listed.language, now);
                        let mut next = found.merged_with_meta(listed, now).unwrap_or(found);
                        next.version = 1;
                        (Some(next), true)
                    }
                    Some(e) => (e.merged_with_meta(listed, now), false),
                };
                match next {
                    None => report.unchanged += 1,
                    Some(next) => match ports.templates.save_whatsapp_template(&next, None).await? {
                        Written::Stored if created => report.created += 1,
                        Written::Stored => report.updated += 1,
                        // A webhook moved it meanwhile: that is newer than this list.
                        Written::AlreadyThere => report.unchanged += 1,
                    },
                }
            }
            after = page.after;
            if after.is_none() {
                break;
            }
        }
    }
    info!(org_id, created = report.created, updated = report.updated, unchanged = report.unchanged, "WhatsApp templates synced");
    Ok(report)
}

/// `message_template_status_update`: moves the template (creating it when MAX did not know it)
/// and announces the change; a repeat or an older webhook changes nothing.
pub async fn status_webhook(templates: &dyn WhatsAppTemplateStore, events: &dyn EventStore, org_id: &str, change: &TemplateStatusChange, received_at: DateTime<Utc>) -> Result<()> {
    let update = StatusUpdate {
        waba_id: change.waba_id.clone(),
        template_id: change.template_id.clone(),
        name: change.name.clone(),
        language: change.language.clone(),
        category: change.category.clone(),
        event: change.event.clone(),
        reason: change.reason.clone(),
        disable_date: change.disable_date.clone(),
        at: change.at.unwrap_or(received_at),
    };
    let update = &update;
    apply(templates, events, org_id, &update.template_id, "status", move |stored| WhatsAppTemplate::apply_status(stored, org_id, update, received_at), received_at).await
}

/// `message_template_quality_update`, like a status.
pub async fn quality_webhook(templates: &dyn WhatsAppTemplateStore, events: &dyn EventStore, org_id: &str, change: &TemplateQualityChange, received_at: DateTime<Utc>) -> Result<()> {
    let update = QualityUpdate {
        waba_id: change.waba_id.clone(),
        template_id: change.template_id.clone(),
        name: change.name.clone(),
        language: change.language.clone(),
        quality: change.new_quality.clone(),
        at: change.at.unwrap_or(received_at),
    };
    let update = &update;
    apply(templates, events, org_id, &update.template_id, "quality", move |stored| WhatsAppTemplate::apply_quality(stored, org_id, update, received_at), received_at).await
}

async fn apply(
    templates: &dyn WhatsAppTemplateStore,
    events: &dyn EventStore,
    org_id: &str,
    template_id: &str,
    what: &'static str,
    change: impl Fn(Option<&WhatsAppTemplate>) -> Applied,
    received_at: DateTime<Utc>,
) -> Result<()> {
    let change = &change;
    let (before, after) = retry_lost_updates("whatsapp template", |_| async move {
        let stored = templates.whatsapp_template(org_id, template_id).await?;
        match change(stored.as_ref()) {
            Applied::Changed(next) => match templates.save_whatsapp_template(&next, None).await? {
                Written::Stored => Ok((stored, Some(*next))),
                Written::AlreadyThere => Err(Error::LostUpdate("whatsapp template")),
            },
            // The record says this already. If the webhook moved it (it has Meta's time), the
            // event was recorded then, or the job died before: record it again under the same
            // key, which changes nothing when it is there.
            Applied::Repeat => {
                let seen = if what == "quality" { stored.as_ref().and_then(|s| s.quality_at) } else { stored.as_ref().and_then(|s| s.status_at) };
                Ok((None, stored.filter(|_| seen.is_some())))
            }
            Applied::Older => {
                info!(org_id, template_id, what, "late template webhook ignored: the record is newer");
                Ok((None, None))
            }
            Applied::Unknown => {
                warn!(org_id, template_id, what, "template webhook with a word we do not know: kept as it was");
                Ok((None, None))
            }
        }
    })
    .await?;
    if let Some(after) = after {
        events.record_event(&after.change_event(before.as_ref(), what, received_at)).await?;
        info!(org_id, template_id, what, status = after.status.as_str(), "WhatsApp template moved");
    }
    Ok(())
}

/// A template message is queued only with an approved template of the organisation of that name
/// and language whose variables its parameters fill: otherwise 422 before anything is stored.
/// Other content passes.
pub async fn check_sendable<T: WhatsAppTemplateStore + ?Sized>(templates: &T, org_id: &str, content: &OutboundContent) -> Result<()> {
    let OutboundContent::Template { name, language, parameters } = content else {
        return Ok(());
    };
    let found = templates.whatsapp_templates_named(org_id, name, language).await?;
    if found.is_empty() {
        return Err(Error::invalid(
            "content.name",
            format!("the organisation has no template {name} in {language}: submit it (POST /v1/whatsapp-templates) or sync Meta's list"),
        ));
    }
    // One per WABA: any that may carry these parameters will do.
    let checks: Vec<Result<()>> = found.iter().map(|t| t.check_send(parameters.len())).collect();
    if checks.iter().any(Result::is_ok) {
        return Ok(());
    }
    // The most telling refusal: a parameter mismatch on a sendable template, else the status.
    let sendable = found.iter().position(|t| t.status.sendable()).unwrap_or(0);
    checks.into_iter().nth(sendable).unwrap_or(Ok(()))
}
