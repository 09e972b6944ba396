//! `app::whatsapp_templates`: a template submitted to Meta is kept PENDING with its creator; Meta's
//! status and quality webhooks move it once and in Meta's order, and tell its creator; a template
//! message is queued only with an approved template whose variables it fills; the fallback outside
//! the window only when approved; sync brings in templates made in Meta's tools.

use super::*;
use crate::app::delivery::{NewReply, SendResult, queue_reply, send_reply};
use crate::app::whatsapp_templates::{self as templates, SyncReport};
use crate::domain::message::{DeliveryStatus, OUTSIDE_WINDOW, Sender, SenderType};
use crate::domain::outbound::OutboundContent;
use crate::domain::whatsapp_template::{NewTemplate, TemplateFilter, TemplateQuality, TemplateStatus};
use crate::ports::{PageRequest, WhatsAppTemplateStore};

const ADMIN: &str = "user-admin";

fn admin() -> crate::domain::audit::AuditActor {
    crate::domain::audit::AuditActor { user_id: ADMIN.into(), role: "admin".into() }
}

fn order_shipped() -> NewTemplate {
    serde_json::from_value(json!({
        "name": "order_shipped", "language": "es", "category": "UTILITY",
        "components": [{ "type": "BODY", "text": "Hola {{1}}, tu pedido {{2}} ha sido enviado.", "example": { "body_text": [["Ana", "#123"]] } }]
    }))
    .unwrap()
}

fn status_webhook(template_id: &str, event: &str, reason: Option<&str>, time: i64) -> Value {
    json!({ "object": "whatsapp_business_account", "entry": [{ "id": WABA, "time": time, "changes": [{
        "field": "message_template_status_update",
        "value": { "event": event, "message_template_id": template_id.parse::<u64>().unwrap(), "message_template_name": "order_shipped",
                   "message_template_language": "es", "reason": reason, "message_template_category": "UTILITY" }
    }]}]})
}

async fn webhook(w: &World, body: Value) {
    process_job(&w.deps.inbound_ports(), &job(body, t(10))).await.unwrap();
}

fn template_reply<'a>(conversation_id: &'a str, name: &str, parameters: &[&str]) -> NewReply<'a> {
    NewReply {
        org_id: ORG,
        conversation_id,
        content: OutboundContent::Template { name: name.into(), language: "es".into(), parameters: parameters.iter().map(|p| p.to_string()).collect() },
        sender: Sender { kind: SenderType::Agent, id: Some("agent-1".into()), name: None },
        idempotency_key: None,
        now: t(1),
        just_read: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_submitted_template_is_pending_at_meta_with_its_creator() {
    // GIVEN the organisation's number
    let w = World::new().with_channel(None).await;
    // WHEN an admin submits a template
    let t1 = templates::submit(&w.deps.template_ports(), ORG, &admin(), &order_shipped(), t(1)).await.unwrap();
    // THEN Meta (the sandbox) has it, and MAX keeps it PENDING with who submitted it
    assert_eq!((t1.status, t1.created_by.as_deref(), t1.waba_id.as_str()), (TemplateStatus::Pending, Some(ADMIN), WABA));
    assert_eq!(w.mem.whatsapp.template_named("order_shipped", Some("es")).map(|s| s.id), Some(t1.id.clone()));
    assert_eq!(templates::get(w.store(), ORG, &t1.id).await.unwrap(), t1);
    assert!(matches!(templates::get(w.store(), OTHER_ORG, &t1.id).await, Err(Error::NotFound(_))), "another organisation's is not found");
    // AND submitting it again is Meta's refusal, a 422
    assert!(matches!(templates::submit(&w.deps.template_ports(), ORG, &admin(), &order_shipped(), t(2)).await, Err(Error::Invalid { .. })));
}

#[tokio::test(start_paused = true)]
async fn without_a_number_nothing_is_submitted_and_an_invalid_template_never_reaches_meta() {
    let w = World::new();
    assert!(matches!(templates::submit(&w.deps.template_ports(), ORG, &admin(), &order_shipped(), t(1)).await, Err(Error::Conflict { .. })));
    let w = World::new().with_channel(None).await;
    let mut bad = order_shipped();
    bad.components[0].example = None;
    assert!(matches!(templates::submit(&w.deps.template_ports(), ORG, &admin(), &bad, t(1)).await, Err(Error::Invalid { field, .. }) if field == "components[0].example"));
    assert!(w.mem.whatsapp.template_named("order_shipped", None).is_none());
}

#[tokio::test(start_paused = true)]
async fn with_numbers_in_two_wabas_the_request_names_one() {
    let w = World::new().with_channel(None).await;
    let second = crate::domain::channel::Channel { phone_number_id: "200000000000001".into(), waba_id: Some("300000000000001".into()), ..w.store().channel_by_number(NUMBER).await.unwrap().unwrap() };
    w.store().put_channel(&second, None).await.unwrap();
    w.mem.secrets.put_secret(&access_token_secret(ORG, "200000000000001"), &Secret::new("EAAG-second")).await.unwrap();
    assert!(matches!(templates::submit(&w.deps.template_ports(), ORG, &admin(), &order_shipped(), t(1)).await, Err(Error::Conflict { detail, .. }) if detail.starts_with("waba_id")));
    let named = NewTemplate { waba_id: Some("300000000000001".into()), ..order_shipped() };
    assert_eq!(templates::submit(&w.deps.template_ports(), ORG, &admin(), &named, t(1)).await.unwrap().waba_id, "300000000000001");
    let unknown = NewTemplate { waba_id: Some("999".into()), ..order_shipped() };
    assert!(matches!(templates::submit(&w.deps.template_ports(), ORG, &admin(), &unknown, t(1)).await, Err(Error::NotFound(_))));
}

#[tokio::test(start_paused = true)]
async fn approval_moves_the_template_once_and_tells_its_creator() {
    // GIVEN a submitted template
    let w = World::new().with_channel(None).await;
    let submitted = templates::submit(&w.deps.template_ports(), ORG, &admin(), &order_shipped(), t(1)).await.unwrap();
    // WHEN Meta approves it, and delivers the webhook twice
    webhook(&w, status_webhook(&submitted.id, "APPROVED", None, 1_749_416_500)).await;
    webhook(&w, status_webhook(&submitted.id, "APPROVED", None, 1_749_416_500)).await;
    // THEN it is APPROVED, and one event addressed to its creator says so
    let approved = w.store().whatsapp_template(ORG, &submitted.id).await.unwrap().unwrap();
    assert_eq!((approved.status, approved.version), (TemplateStatus::Approved, 2));
    let events = w.events_of(ORG, EventKind::TemplateStatusChanged).await;
    assert_eq!(events.len(), 1, "a repeat emits nothing");
    assert_eq!(events[0].data["notify"], json!({ "user_id": ADMIN }));
    assert_eq!((events[0].data["status"].as_str(), events[0].data["previous_status"].as_str()), (Some("APPROVED"), Some("PENDING")));
    // AND a late PENDING from before the approval changes nothing
    webhook(&w, status_webhook(&submitted.id, "PENDING", None, 1_749_416_400)).await;
    assert_eq!(w.store().whatsapp_template(ORG, &submitted.id).await.unwrap().unwrap().status, TemplateStatus::Approved);
    assert_eq!(w.events_of(ORG, EventKind::TemplateStatusChanged).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_rejection_carries_its_reason_and_quality_moves_too() {
    let w = World::new().with_channel(None).await;
    let submitted = templates::submit(&w.deps.template_ports(), ORG, &admin(), &order_shipped(), t(1)).await.unwrap();
    webhook(&w, status_webhook(&submitted.id, "REJECTED", Some("INCORRECT_CATEGORY"), 1_749_416_600)).await;
    let rejected = templates::get(w.store(), ORG, &submitted.id).await.unwrap();
    assert_eq!((rejected.status, rejected.reason.as_deref()), (TemplateStatus::Rejected, Some("INCORRECT_CATEGORY")));
    let quality = json!({ "object": "whatsapp_business_account", "entry": [{ "id": WABA, "time": 1_749_416_700, "changes": [{
        "field": "message_template_quality_update",
        "value": { "previous_quality_score": "GREEN", "new_quality_score": "YELLOW", "message_template_id": submitted.id.parse::<u64>().unwrap(),
                   "message_template_name": "order_shipped", "message_template_language": "es" } }]}]});
    webhook(&w, quality).await;
    assert_eq!(templates::get(w.store(), ORG, &submitted.id).await.unwrap().quality, Some(TemplateQuality::Yellow));
    let events = w.events_of(ORG, EventKind::TemplateStatusChanged).await;
    assert_eq!(events.iter().map(|e| e.data["change"].as_str().unwrap()).collect::<Vec<_>>(), ["status", "quality"]);
    assert_eq!(events[0].data["reason"], "INCORRECT_CATEGORY");
}

#[tokio::test(start_paused = true)]
async fn a_template_message_is_queued_only_with_an_approved_template_its_parameters_fill() {
    // GIVEN a conversation and the organisation's templates: one pending, one approved with two variables
    let w = World::new().with_channel(None).await;
    let c = w.given_conversation().await.conversation;
    w.given_template("promo", "es", TemplateStatus::Pending, 0).await;
    w.given_template("order_shipped", "es", TemplateStatus::Approved, 2).await;
    let store = w.store();
    // WHEN an agent sends an unknown, an unapproved, and a mismatched template: 422, nothing stored or queued
    for (name, params, field) in [("nope", vec![], "content.name"), ("promo", vec![], "content.name"), ("order_shipped", vec!["Ana"], "content.parameters")] {
        let out = queue_reply(store, store, w.outbox(), template_reply(&c.id, name, &params)).await;
        assert!(matches!(&out, Err(Error::Invalid { field: f, .. }) if f == field), "{name}: {out:?}");
    }
    assert!(w.reply_jobs().is_empty());
    assert_eq!(w.messages(&c.id).await.len(), 1, "only the customer's message");
    // THEN the approved one with its two parameters is queued
    queue_reply(store, store, w.outbox(), template_reply(&c.id, "order_shipped", &["Ana", "#123"])).await.unwrap();
    assert_eq!(w.reply_jobs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_fallback_template_not_approved_is_no_fallback() {
    // GIVEN a number whose fallback template Meta paused
    let w = World::new().with_channel(Some("follow_up")).await;
    let mut paused = w.store().whatsapp_templates_named(ORG, "follow_up", "en").await.unwrap().remove(0);
    paused.status = TemplateStatus::Paused;
    paused.version += 1;
    w.store().save_whatsapp_template(&paused, None).await.unwrap();
    let c = w.given_conversation().await.conversation;
    // WHEN a reply goes out after the window closed
    let late = t(0) + Duration::hours(25);
    let store = w.store();
    let reply = NewReply { content: OutboundContent::text("sorry"), now: late, ..template_reply(&c.id, "x", &[]) };
    let m = queue_reply(store, store, w.outbox(), reply).await.unwrap();
    let job = w.reply_jobs().remove(0);
    assert_eq!(send_reply(&w.deps.sender_ports(), &job, 1, late).await.unwrap(), SendResult::Done);
    // THEN nothing went to Meta, and the message failed as outside the window
    let failed = w.message(&c.id, &m.id).await;
    assert_eq!((failed.status, failed.failure.map(|f| f.reason)), (DeliveryStatus::Failed, Some(OUTSIDE_WINDOW.to_string())));
    assert!(w.mem.whatsapp.outbox().is_empty());
}

#[tokio::test(start_paused = true)]
async fn sync_brings_in_templates_made_in_metas_tools_and_their_status() {
    // GIVEN Meta knows a template MAX never saw, and one MAX has as PENDING
    let w = World::new().with_channel(None).await;
    let made_there = w.mem.whatsapp.know_template(WABA, "welcome", "en", "MARKETING", "APPROVED", json!([{ "type": "BODY", "text": "Hi {{1}}" }]));
    let submitted = templates::submit(&w.deps.template_ports(), ORG, &admin(), &order_shipped(), t(1)).await.unwrap();
    w.mem.whatsapp.set_template_status(&submitted.id, "REJECTED");
    // WHEN the admin syncs, twice
    let first = templates::sync(&w.deps.template_ports(), ORG, t(2)).await.unwrap();
    let again = templates::sync(&w.deps.template_ports(), ORG, t(3)).await.unwrap();
    // THEN the new one appears with its variables, the known one moves, and a repeat changes nothing
    assert_eq!(first, SyncReport { created: 1, updated: 1, unchanged: 0 });
    assert_eq!(again, SyncReport { created: 0, updated: 0, unchanged: 2 });
    let welcome = templates::get(w.store(), ORG, &made_there).await.unwrap();
    assert_eq!((welcome.status, welcome.body_parameters.clone(), welcome.created_by), (TemplateStatus::Approved, Some(vec!["1".to_string()]), None));
    assert_eq!(templates::get(w.store(), ORG, &submitted.id).await.unwrap().status, TemplateStatus::Rejected);
    let listed = templates::list(w.store(), ORG, &TemplateFilter { status: Some(TemplateStatus::Approved), name: None }, &PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert_eq!(listed.items.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["welcome"]);
}

#[tokio::test(start_paused = true)]
async fn a_delete_removes_it_at_meta_and_here() {
    let w = World::new().with_channel(None).await;
    let submitted = templates::submit(&w.deps.template_ports(), ORG, &admin(), &order_shipped(), t(1)).await.unwrap();
    assert!(matches!(templates::delete(&w.deps.template_ports(), OTHER_ORG, &submitted.id, &admin(), t(2)).await, Err(Error::NotFound(_))));
    templates::delete(&w.deps.template_ports(), ORG, &submitted.id, &admin(), t(2)).await.unwrap();
    assert!(w.mem.whatsapp.template_named("order_shipped", None).is_none());
    assert!(matches!(templates::get(w.store(), ORG, &submitted.id).await, Err(Error::NotFound(_))));
    // AND the audit trail has the submission and the deletion by the admin, the other
    // organisation's refused attempt none
    let query = crate::domain::audit::AuditQuery::default();
    let trail = crate::ports::AuditStore::audit_entries(w.store(), ORG, &query, &PageRequest { limit: 10, cursor: None }).await.unwrap().items;
    let ops: Vec<(&str, &str)> = trail.iter().map(|e| (e.operation.as_str(), e.entity_id.as_str())).collect();
    assert_eq!(ops, [("delete", submitted.id.as_str()), ("submit", submitted.id.as_str())], "newest first");
    assert_eq!(trail[1].changes["name"].after, json!("order_shipped"));
    assert_eq!(trail[0].changes["name"].before, json!("order_shipped"));
}

/// Meta answering a submission with a fixed id (to play its webhook before MAX stores the record).
struct FixedId(&'static str);

#[async_trait::async_trait]
impl crate::ports::WhatsAppTemplates for FixedId {
    async fn submit_template(&self, _: &str, _: &Secret, _: &Value) -> crate::Result<crate::ports::SubmittedTemplate> {
        Ok(crate::ports::SubmittedTemplate { id: self.0.into(), status: "PENDING".into() })
    }
    async fn list_templates(&self, _: &str, _: &Secret, _: Option<&str>) -> crate::Result<crate::ports::TemplateListPage> {
        Ok(crate::ports::TemplateListPage { templates: Vec::new(), after: None })
    }
    async fn delete_template(&self, _: &str, _: &Secret, _: &str, _: &str) -> crate::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_submission_after_its_approval_webhook_keeps_the_approval_and_adds_its_creator() {
    // GIVEN Meta's approval of template 777 processed before the submission's record was written
    let w = World::new().with_channel(None).await;
    webhook(&w, status_webhook("777", "APPROVED", None, 1_749_416_500)).await;
    // WHEN the submission stores its record
    let ports = templates::TemplatePorts { meta: &FixedId("777"), ..w.deps.template_ports() };
    let stored = templates::submit(&ports, ORG, &admin(), &order_shipped(), t(1)).await.unwrap();
    // THEN the status Meta sent stays, with the submission's creator and variables
    assert_eq!((stored.status, stored.created_by.as_deref(), stored.version), (TemplateStatus::Approved, Some(ADMIN), 2));
    assert_eq!(stored.body_parameters, Some(vec!["1".to_string(), "2".to_string()]));
    assert_eq!(templates::get(w.store(), ORG, "777").await.unwrap(), stored);
}
