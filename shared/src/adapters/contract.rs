//! The store contract: what every store adapter must answer, as cases run against each of them
//! (the memory store here, DynamoDB on moto in `max-dev`'s e2e tests), so they cannot drift.
//!
//! Each case takes a fresh, empty store. `store_contract!(#[tokio::test] fresh)` writes one test
//! per case, where `fresh()` is an async fn returning a [`Fixture`] (something that lends a store).
//!
//! Pages: DynamoDB may answer a full page with a cursor even when nothing follows (the next page
//! is then empty), so cases walk cursors to the end instead of asserting that exact boundary.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::adapters::memory::MemoryStore;
use crate::domain::action::{Action, ActionResponse, ActionStatus, Actor, AnswerStatus, Decision, TemplateSource};
use crate::domain::audit::{AuditActor, AuditEntity, AuditEntry, AuditQuery, EntityFilter};
use crate::domain::bot::{BotSettings, StoredBotSettings};
use crate::domain::call::{Call, CallStatus, CallType, CompletedVia, NewCall, ServiceRecord, ServiceRecordInput, ServiceStatus};
use crate::domain::call_schedule::ScheduleConfig;
use crate::domain::channel::Channel;
use crate::domain::whatsapp_template::{TemplateFilter, TemplateStatus, WhatsAppTemplate};
use crate::domain::conversation::{Conversation, ConversationStatus};
use crate::domain::customer::{ChannelIdentity, Customer, Identity, IdentityChannel};
use crate::domain::erasure::ERASED;
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::interaction::{Interaction, InteractionStatus, Priority};
use crate::domain::message::{DeliveryStatus, FailureReason, Message};
use crate::domain::response_template::ResponseTemplates;
use crate::domain::support::{Assigned, DailyTicketCap, NewTicket, SupportTicket, TicketFilter, TicketMessage, TicketPriority, TicketSource, TicketStatus};
use crate::domain::secret::Secret;
use crate::domain::workflow::{InteractionSettings, WorkflowTemplate};
use crate::error::{Error, Result};
use crate::ports::*;

/// What a case runs on: a fresh store, and whatever keeps it alive (a test stack).
pub trait Fixture {
    type Store: Stores + ?Sized;
    fn store(&self) -> &Self::Store;
}

impl Fixture for MemoryStore {
    type Store = MemoryStore;
    fn store(&self) -> &MemoryStore {
        self
    }
}

/// One test per contract case: `store_contract!(#[tokio::test] fresh);`.
#[macro_export]
macro_rules! store_contract {
    ($(#[$attr:meta])* $fresh:path) => {
        $crate::store_contract!(@cases [$(#[$attr])*] $fresh;
            channels_are_found_by_number_and_waba,
            a_number_and_its_waba_are_one_organisations_listed_and_removed,
            a_customer_is_created_once_and_all_or_nothing,
            another_organisation_finds_nothing,
            a_conversation_opens_only_over_the_previous_one,
            close_frees_the_identity_and_reopen_takes_it,
            a_conversation_is_saved_only_over_the_version_read,
            conversations_list_newest_activity_first_in_pages,
            filtered_conversation_pages_are_filled,
            a_cursor_of_another_list_is_refused,
            an_inbound_message_is_stored_once_per_wamid,
            an_inbound_message_over_a_changed_conversation_is_a_lost_update,
            an_outbound_message_is_stored_once_per_idempotency_key,
            an_outbound_message_over_a_changed_conversation_writes_nothing,
            messages_page_in_both_orders,
            a_send_is_recorded_once_and_indexed_by_wamid,
            a_send_records_its_sent_event_in_the_same_write,
            a_send_is_claimed_once_resent_at_most_once_and_released_by_its_claimant,
            delivery_statuses_only_move_forward,
            early_statuses_are_kept_and_applied_by_mark_sent,
            a_failed_message_is_final,
            queued_between_finds_queued_replies_in_range_across_organisations,
            queued_between_respects_its_limit_per_shard,
            a_message_is_read_with_its_conversation_and_statuses,
            an_action_is_created_once_per_idempotency_key,
            actions_list_newest_first_by_filter,
            action_pages_follow_cursors_and_fill_filtered_pages,
            a_decision_is_saved_all_or_nothing,
            a_decision_over_a_changed_conversation_writes_nothing_but_a_void_event,
            answer_statuses_only_move_forward,
            response_templates_are_versioned,
            whatsapp_templates_are_versioned_found_by_name_and_paged,
            a_canned_shortcut_is_claimed_once_per_scope,
            a_canned_save_moves_its_claim_over_the_version_read,
            a_canned_use_is_counted_once_per_message_and_survives_edits,
            events_are_numbered_in_order_and_deduplicated,
            a_repeated_event_leaves_a_void_number,
            events_after_respects_position_limit_and_organisation,
            events_of_two_organisations_in_one_call_are_refused,
            feed_waiters_are_capped_per_organisation_and_free_themselves,
            an_interaction_is_created_once_per_idempotency_key,
            an_interaction_save_refuses_a_lost_update,
            store_if_absent_stores_once,
            interactions_list_by_index_filter_and_order,
            filtered_interaction_pages_are_filled_like_dynamodb,
            open_interactions_are_soonest_due_first,
            owed_next_steps_are_completions_in_range_across_organisations,
            workflow_templates_are_versioned_with_one_default,
            workflow_templates_are_seeded_once_all_or_nothing,
            a_ticket_is_saved_with_its_counters,
            a_ticket_write_with_a_known_message_writes_nothing,
            a_ticket_write_over_a_changed_conversation_writes_nothing,
            a_customers_daily_ticket_cap_lets_one_of_two_racing_opens_through,
            tickets_are_found_by_external_ref_newest_first,
            audit_entries_come_with_their_change_and_are_read_by_actor_entity_and_time,
            tickets_list_newest_first_filtered_in_pages,
            ticket_messages_are_oldest_first,
            bot_settings_are_stored_if_missing_and_state_is_versioned,
            schedule_configs_are_versioned_and_registered,
            a_customer_is_registered_by_phone_once,
            a_service_record_and_its_call_are_created_once_all_or_nothing,
            service_records_list_newest_service_first_by_advisor_status_and_range,
            a_call_is_saved_over_the_version_read_with_its_counters,
            a_claim_takes_a_slot_only_below_the_cap,
            call_lists_are_ordered_filtered_and_paged,
            due_calls_are_the_ready_calls_of_their_schedule_due_by_now,
            stale_calls_are_in_progress_calls_quiet_since_before,
            a_customers_records_are_read_whole_and_erased_in_place,
            a_transaction_is_recorded_once_per_id_and_the_first_stands,
            transactions_list_newest_first_in_pages_per_customer,
            an_address_is_an_identity_only_on_its_own_channel,
            the_customers_links_lead_to_their_records,
            live_connections_are_kept_per_organisation_refreshed_and_forgotten,
            a_customer_is_added_with_terms_claim_and_identity_all_or_nothing,
            a_customer_save_moves_its_terms_over_the_version_read,
            search_terms_page_by_prefix_in_term_order,
            a_message_is_counted_once_per_window_however_often_it_is_delivered,
            one_block_holds_at_a_time_and_unblocking_is_harmless,
            rate_limit_settings_are_stored_per_organisation,
            a_media_file_is_created_once_and_read_only_by_its_organisation,
            expiring_media_are_the_stored_files_of_a_day_due_before_a_time,
            media_retention_is_stored_per_organisation,
            an_unused_upload_expires_a_day_on_and_a_used_one_after_the_retention,
            a_chat_app_key_holds_a_slot_and_is_found_by_id_until_removed,
            a_team_is_created_once_listed_in_pages_and_saved_over_the_version_read,
            business_hours_are_saved_over_the_version_read_per_team,
            sla_policies_are_created_once_saved_over_the_version_read_and_deleted,
            the_sla_deadline_index_holds_open_conversations_at_their_next_step,
            sla_steps_are_written_with_their_events_over_the_version_read,
            the_interaction_deadline_index_holds_open_interactions_at_their_next_alert,
            a_campaign_starts_each_customer_once_and_counts_in_the_same_write,
            compliance_is_counted_by_the_writes_that_end_clocks_per_team_and_day,
            an_assignment_takes_a_place_only_online_and_below_capacity_all_or_nothing,
            a_close_gives_the_holders_place_back_and_the_queue_is_oldest_first,
            a_link_switches_customers_and_identities_all_or_nothing,
            conversations_move_a_page_at_a_time_each_once,
            a_webhook_subscription_is_created_once_listed_and_saved_over_the_version_read,
            delivery_attempts_are_logged_once_newest_first_per_subscription,
        );
    };
    (@cases $attrs:tt $fresh:path; $($case:ident),* $(,)?) => {
        $( $crate::store_contract!(@case $attrs $fresh; $case); )*
    };
    (@case [$($attr:tt)*] $fresh:path; $case:ident) => {
        $($attr)*
        async fn $case() {
            let fixture = $fresh().await;
            $crate::adapters::contract::$case($crate::adapters::contract::Fixture::store(&fixture)).await;
        }
    };
}

// ------------------------------------------------------------------------------------ builders

const ORG: &str = "o1";
const OTHER: &str = "o2";

fn from_json<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid fixture")
}

/// Minutes after a fixed start.
fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn channel(org: &str, number: &str, waba: &str) -> Channel {
    from_json(json!({ "org_id": org, "phone_number_id": number, "waba_id": waba }))
}

fn customer(org: &str, id: &str) -> Customer {
    from_json(json!({ "id": id, "org_id": org, "created_at": t(0), "updated_at": t(0) }))
}

fn identity(org: &str, address: &str, customer: &str, open: Option<&str>) -> ChannelIdentity {
    ChannelIdentity {
        org_id: org.into(),
        channel: IdentityChannel::Whatsapp,
        address: address.into(),
        customer_id: customer.into(),
        open_conversation_id: open.map(str::to_string),
        profile_name: None,
        last_conversation_id: None,
        blocked: None,
    }
}

fn conversation(org: &str, id: &str, address: &str, last_message_at: DateTime<Utc>) -> Conversation {
    from_json(json!({
        "id": id, "org_id": org, "customer_id": format!("cu-{address}"), "channel": "whatsapp", "phone_number_id": "PN1",
        "customer_address": address, "status": "open", "created_at": t(0), "updated_at": last_message_at,
        "last_message_at": last_message_at, "version": 1
    }))
}

/// A conversation stored with its customer and identity (the identity points at it).
/// Assigns the conversation as the use case does: read, change, save over the version read.
async fn assign<S: Stores + ?Sized>(s: &S, org: &str, id: &str, agent: Option<&str>, at: DateTime<Utc>) -> Conversation {
    let mut c = s.conversation(org, id).await.unwrap().unwrap();
    c.assignee_id = agent.map(str::to_string);
    c.updated_at = at;
    c.version += 1;
    s.save_conversation(&c).await.unwrap();
    c
}

async fn stored_conversation<S: Stores + ?Sized>(s: &S, org: &str, id: &str, last_message_at: DateTime<Utc>) -> Conversation {
    let address = format!("addr-{id}");
    let c = conversation(org, id, &address, last_message_at);
    let written = s.create_customer(&customer(org, &c.customer_id), &identity(org, &address, &c.customer_id, Some(id)), &c).await;
    assert_eq!(written.unwrap(), Written::Stored);
    c
}

fn next_version(c: &Conversation) -> Conversation {
    let mut next = c.clone();
    next.version += 1;
    next
}

fn message(c: &Conversation, id: &str, direction: &str, status: &str, at: DateTime<Utc>) -> Message {
    from_json(json!({
        "id": id, "org_id": c.org_id, "conversation_id": c.id, "customer_id": c.customer_id, "direction": direction,
        "type": "text", "text": id, "status": status, "sender": { "type": if direction == "inbound" { "customer" } else { "agent" } },
        "created_at": at
    }))
}

fn inbound(c: &Conversation, id: &str, wamid: &str, at: DateTime<Utc>) -> Message {
    let mut m = message(c, id, "inbound", "received", at);
    m.wamid = Some(wamid.into());
    m
}

fn queued(c: &Conversation, id: &str, at: DateTime<Utc>) -> Message {
    message(c, id, "outbound", "queued", at)
}

/// Records `m` over `c`, answering the conversation's new state.
async fn record_outbound<S: Stores + ?Sized>(s: &S, c: &Conversation, m: &Message) -> Conversation {
    let next = next_version(c);
    assert_eq!(s.record_outbound(m, &next).await.unwrap(), Written::Stored);
    next
}

fn action(org: &str, id: &str, conversation: &Conversation, action_type: &str, status: ActionStatus) -> Action {
    Action {
        id: id.into(),
        org_id: org.into(),
        conversation_id: conversation.id.clone(),
        customer_id: conversation.customer_id.clone(),
        action_type: action_type.into(),
        title: format!("action {id}"),
        details: Default::default(),
        proposed_reply: None,
        status,
        created_by: Actor { id: "u1".into(), name: None },
        created_at: t(1),
        updated_at: t(1),
        request_message_id: format!("bubble-{id}"),
        decision: None,
        response_message_id: None,
        answer_status: None,
        version: 1,
    }
}

fn interaction(org: &str, id: &str, customer: &str, due: DateTime<Utc>, status: &str) -> Interaction {
    let mut i: Interaction = from_json(json!({
        "id": id, "org_id": org, "customer_id": customer, "type": "phone_call", "title": id, "status": status,
        "scheduled_at": due - Duration::hours(1), "due_at": due, "created_at": t(0), "updated_at": t(0), "version": 1
    }));
    if matches!(i.status, InteractionStatus::Completed | InteractionStatus::Skipped) {
        i.completed_at = Some(due);
    }
    i
}

fn ticket(org: &str, id: &str, priority: TicketPriority) -> SupportTicket {
    SupportTicket::open(NewTicket {
        id: id.into(),
        org_id: org.into(),
        source: TicketSource::Api,
        customer_id: None,
        conversation_id: None,
        phone_number: None,
        sender_name: None,
        issue_description: format!("ticket {id}"),
        priority,
        external_ref: None,
        now: t(0),
    })
}

fn ticket_message(t_: &SupportTicket, id: &str, at: DateTime<Utc>) -> TicketMessage {
    from_json(json!({
        "id": id, "ticket_id": t_.id, "org_id": t_.org_id, "sender_type": "user", "text": id, "created_at": at
    }))
}

fn new_ticket<'a>(after: &'a SupportTicket) -> TicketWrite<'a> {
    TicketWrite { before: None, after, message: None, conversation: None, daily_cap: None, audit: None }
}

fn workflow_template(org: &str, id: &str, is_default: bool, version: u64, created: i64) -> WorkflowTemplate {
    from_json(json!({
        "id": id, "org_id": org, "name": format!("template {id}"), "is_active": true, "is_default": is_default,
        "steps": [{ "step_number": 1, "type": "phone_call", "title": "Call", "scheduled_offset_days": 0, "due_offset_days": 1 }],
        "created_at": t(created), "updated_at": t(created), "version": version
    }))
}

fn event(org: &str, key: &str) -> NewEvent {
    NewEvent::new(org, EventKind::MessageStatusChanged, t(5), json!({ "key": key }), key)
}

fn page(limit: i32, cursor: Option<String>) -> PageRequest {
    PageRequest { limit, cursor }
}

/// Every page of a list, following cursors to the end (at most 50 pages).
async fn all_pages<T>(mut read: impl AsyncFnMut(Option<String>) -> Result<Page<T>>) -> Vec<Vec<T>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    for _ in 0..50 {
        let p = read(cursor).await.expect("a page");
        pages.push(p.items);
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => return pages,
        }
    }
    panic!("a list that never ends");
}

/// The ids of pages walked to the end, dropping an empty last page (DynamoDB may answer a full
/// page with a cursor when nothing follows).
fn page_ids<T>(pages: Vec<Vec<T>>, id: impl Fn(&T) -> String) -> Vec<Vec<String>> {
    let mut ids: Vec<Vec<String>> = pages.iter().map(|p| p.iter().map(&id).collect()).collect();
    if ids.len() > 1 && ids.last().is_some_and(Vec::is_empty) {
        ids.pop();
    }
    ids
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_string()).collect()
}

fn conversation_id(c: &Conversation) -> String {
    c.id.clone()
}

// ------------------------------------------------------------- channels, customers, conversations

pub async fn channels_are_found_by_number_and_waba<S: Stores + ?Sized>(s: &S) {
    s.put_channel(&channel(ORG, "PN1", "WABA1"), None).await.unwrap();
    assert_eq!(s.channel_by_number("PN1").await.unwrap().map(|c| c.org_id), Some(ORG.to_string()));
    assert_eq!(s.org_by_waba("WABA1").await.unwrap().as_deref(), Some(ORG));
    assert_eq!(s.channel_by_number("PN2").await.unwrap(), None);
    assert_eq!(s.org_by_waba("WABA2").await.unwrap(), None);
}

fn wa_template(org: &str, id: &str, name: &str, language: &str, status: TemplateStatus, version: u64) -> WhatsAppTemplate {
    let mut t = WhatsAppTemplate::discovered(org, "WABA1", id, name, language, t(0));
    t.status = status;
    t.version = version;
    t
}

pub async fn whatsapp_templates_are_versioned_found_by_name_and_paged<S: Stores + ?Sized>(s: &S) {
    let hello = wa_template(ORG, "T1", "hello", "en_US", TemplateStatus::Pending, 1);
    assert_eq!(s.save_whatsapp_template(&hello, None).await.unwrap(), Written::Stored);
    assert_eq!(s.save_whatsapp_template(&hello, None).await.unwrap(), Written::AlreadyThere, "new only once");
    let approved = WhatsAppTemplate { status: TemplateStatus::Approved, version: 2, ..hello.clone() };
    assert_eq!(s.save_whatsapp_template(&approved, None).await.unwrap(), Written::Stored);
    assert_eq!(s.save_whatsapp_template(&approved, None).await.unwrap(), Written::AlreadyThere, "changed meanwhile");
    assert_eq!(s.whatsapp_template(ORG, "T1").await.unwrap(), Some(approved.clone()));
    assert_eq!(s.whatsapp_template(OTHER, "T1").await.unwrap(), None);
    for t in [
        wa_template(ORG, "T2", "hello", "es", TemplateStatus::Rejected, 1),
        wa_template(ORG, "T3", "hello_world", "en_US", TemplateStatus::Approved, 1),
        wa_template(ORG, "T4", "alert", "en_US", TemplateStatus::Approved, 1),
        wa_template(OTHER, "T5", "hello", "en_US", TemplateStatus::Approved, 1),
    ] {
        assert_eq!(s.save_whatsapp_template(&t, None).await.unwrap(), Written::Stored);
    }
    let named = s.whatsapp_templates_named(ORG, "hello", "en_US").await.unwrap();
    assert_eq!(named.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["T1"], "not hello_world, not es, not the other organisation's");
    let everything = all_pages(async |cursor| s.whatsapp_templates(ORG, &TemplateFilter::default(), &page(2, cursor)).await).await.concat();
    assert_eq!(ids(&everything, |t| &t.id), ["T4", "T1", "T2", "T3"], "by name, then language");
    let approved_only = TemplateFilter { status: Some(TemplateStatus::Approved), name: None };
    let listed = all_pages(async |cursor| s.whatsapp_templates(ORG, &approved_only, &page(1, cursor)).await).await.concat();
    assert_eq!(ids(&listed, |t| &t.id), ["T4", "T1", "T3"]);
    let by_name = TemplateFilter { status: None, name: Some("hello".into()) };
    let listed = s.whatsapp_templates(ORG, &by_name, &page(10, None)).await.unwrap();
    assert_eq!(ids(&listed.items, |t| &t.id), ["T1", "T2"]);
    assert_eq!(s.delete_whatsapp_template(ORG, "T2", None).await.unwrap(), Written::Stored);
    assert_eq!(s.delete_whatsapp_template(ORG, "T2", None).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.whatsapp_template(ORG, "T2").await.unwrap(), None);
    assert_eq!(s.whatsapp_template(OTHER, "T5").await.unwrap().map(|t| t.name), Some("hello".to_string()));
}

pub async fn a_number_and_its_waba_are_one_organisations_listed_and_removed<S: Stores + ?Sized>(s: &S) {
    let all = async |org: &str| {
        let pages = all_pages(async |cursor| s.channels(org, &page(1, cursor)).await).await;
        page_ids(pages, |c: &Channel| c.phone_number_id.clone()).concat()
    };
    assert_eq!(s.put_channel(&channel(ORG, "200", "W1"), None).await.unwrap(), ChannelPut::Stored);
    assert_eq!(s.put_channel(&channel(ORG, "100", "W1"), None).await.unwrap(), ChannelPut::Stored);
    // Another organisation may take neither the number nor the account, and writes nothing trying.
    assert_eq!(s.put_channel(&channel(OTHER, "100", "W2"), None).await.unwrap(), ChannelPut::NumberTaken);
    assert_eq!(s.put_channel(&channel(OTHER, "300", "W1"), None).await.unwrap(), ChannelPut::WabaTaken);
    assert_eq!(s.org_by_waba("W2").await.unwrap(), None, "all or nothing");
    assert_eq!(s.channel_by_number("300").await.unwrap(), None, "all or nothing");
    assert_eq!(s.channel_by_number("100").await.unwrap().map(|c| c.org_id).as_deref(), Some(ORG));
    // Registering again replaces it.
    let mut again = channel(ORG, "100", "W1");
    again.display_phone_number = Some("+1 555".into());
    again.access_token_rotated_at = Some(t(5));
    assert_eq!(s.put_channel(&again, None).await.unwrap(), ChannelPut::Stored);
    assert_eq!(s.channel_by_number("100").await.unwrap(), Some(again));
    // Listed by number, one organisation's only.
    assert_eq!(all(ORG).await, ["100", "200"]);
    assert!(all(OTHER).await.is_empty());
    // Removed by its organisation only.
    assert_eq!(s.delete_channel(OTHER, "100", None).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.delete_channel(ORG, "100", None).await.unwrap(), Written::Stored);
    assert_eq!(s.delete_channel(ORG, "100", None).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.channel_by_number("100").await.unwrap(), None);
    assert_eq!(all(ORG).await, ["200"]);
    s.forget_waba(OTHER, "W1").await.unwrap();
    assert_eq!(s.org_by_waba("W1").await.unwrap().as_deref(), Some(ORG), "not theirs to forget");
    s.forget_waba(ORG, "W1").await.unwrap();
    assert_eq!(s.org_by_waba("W1").await.unwrap(), None);
    // Now another organisation may take the number.
    assert_eq!(s.put_channel(&channel(OTHER, "100", "W2"), None).await.unwrap(), ChannelPut::Stored);
}

pub async fn a_customer_is_created_once_and_all_or_nothing<S: Stores + ?Sized>(s: &S) {
    let c = conversation(ORG, "C1", "A1", t(1));
    let id = identity(ORG, "A1", &c.customer_id, Some("C1"));
    assert_eq!(s.create_customer(&customer(ORG, &c.customer_id), &id, &c).await.unwrap(), Written::Stored);
    assert_eq!(s.whatsapp_identity(ORG, "A1").await.unwrap(), Some(id.clone()));
    assert_eq!(s.customer(ORG, &c.customer_id).await.unwrap().map(|c| c.id), Some(c.customer_id.clone()));

    // A second worker creating another customer for the same address: nothing of it is stored.
    let c2 = conversation(ORG, "C2", "A1", t(2));
    let id2 = identity(ORG, "A1", "CU2", Some("C2"));
    assert_eq!(s.create_customer(&customer(ORG, "CU2"), &id2, &c2).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.customer(ORG, "CU2").await.unwrap(), None);
    assert_eq!(s.conversation(ORG, "C2").await.unwrap(), None);
    assert_eq!(s.whatsapp_identity(ORG, "A1").await.unwrap(), Some(id));
}


// ------------------------------------------------------------------ customers by hand, search

fn by_hand(org: &str, id: &str, body: serde_json::Value) -> (Customer, Option<ChannelIdentity>) {
    let input: crate::domain::customer::NewCustomer = from_json(body);
    let (mut c, identity) = input.customer("x".into(), org, "u1", t(0)).unwrap();
    c.id = id.into();
    (c, identity.map(|i| ChannelIdentity { customer_id: id.into(), ..i }))
}

async fn terms_of<S: Stores + ?Sized>(s: &S, org: &str, prefix: &str) -> Vec<String> {
    let page = s.search_terms(org, prefix, &PageRequest { limit: 100, cursor: None }).await.unwrap();
    page.items.into_iter().map(|h| format!("{}#{}", h.term, h.customer_id)).collect()
}

pub async fn a_customer_is_added_with_terms_claim_and_identity_all_or_nothing<S: Stores + ?Sized>(s: &S) {
    let (ana, phone) = by_hand(ORG, "CU1", json!({ "name": "Ana Ruiz", "phone": "+34600111222", "external_id": "crm-1" }));
    assert_eq!(s.add_customer(&ana, phone.as_ref()).await.unwrap(), CustomerAdded::Stored);
    assert_eq!(s.whatsapp_identity(ORG, "34600111222").await.unwrap().map(|i| i.customer_id).as_deref(), Some("CU1"));
    assert_eq!(s.customers_by_id(ORG, &["CU1".into(), "nobody".into()]).await.unwrap(), vec![ana.clone()]);
    assert_eq!(terms_of(s, ORG, "").await, ["34600111222#CU1", "ana#CU1", "crm-1#CU1", "ruiz#CU1"]);
    // The same number: refused naming CU1, nothing of CU2 written.
    let (dup, phone2) = by_hand(ORG, "CU2", json!({ "name": "Bea", "phone": "34600111222" }));
    assert_eq!(s.add_customer(&dup, phone2.as_ref()).await.unwrap(), CustomerAdded::Taken { field: "phone", customer_id: "CU1".into() });
    let (dup, _) = by_hand(ORG, "CU3", json!({ "name": "Bea", "external_id": "crm-1" }));
    assert_eq!(s.add_customer(&dup, None).await.unwrap(), CustomerAdded::Taken { field: "external_id", customer_id: "CU1".into() });
    assert!(s.customers_by_id(ORG, &["CU2".into(), "CU3".into()]).await.unwrap().is_empty());
    assert!(terms_of(s, ORG, "bea").await.is_empty());
    // Another organisation: its own number, id and index.
    let (other, phone) = by_hand(OTHER, "CU1", json!({ "name": "Ana", "phone": "34600111222", "external_id": "crm-1" }));
    assert_eq!(s.add_customer(&other, phone.as_ref()).await.unwrap(), CustomerAdded::Stored);
    assert_eq!(terms_of(s, OTHER, "ana").await, ["ana#CU1"]);
    assert!(s.customers_by_id(OTHER, &["CU9".into()]).await.unwrap().is_empty());
}

pub async fn a_customer_save_moves_its_terms_over_the_version_read<S: Stores + ?Sized>(s: &S) {
    let (ana, _) = by_hand(ORG, "CU1", json!({ "name": "Ana Ruiz", "email": "ana@x.io" }));
    s.add_customer(&ana, None).await.unwrap();
    let changes: crate::domain::customer::CustomerChanges = from_json(json!({ "name": "Ana Gil", "email": null, "version": 1 }));
    let next = ana.changed(&changes, t(1)).unwrap();
    s.save_customer(&ana, &next).await.unwrap();
    assert_eq!(terms_of(s, ORG, "").await, ["ana#CU1", "gil#CU1"]);
    assert_eq!(s.customers_by_id(ORG, &["CU1".into()]).await.unwrap(), vec![next.clone()]);
    // Over version 1 again: lost, nothing written.
    let lost = ana.changed(&from_json(json!({ "name": "Lost", "version": 1 })), t(2)).unwrap();
    assert!(matches!(s.save_customer(&ana, &lost).await, Err(Error::LostUpdate(_))));
    assert_eq!(terms_of(s, ORG, "").await, ["ana#CU1", "gil#CU1"]);
    // A customer item of before versions (inbound's, no `version`) saves over version 1.
    let c = conversation(ORG, "C1", "A1", t(1));
    let mut old = customer(ORG, &c.customer_id);
    old.name = Some("Old".into());
    s.create_customer(&old, &identity(ORG, "A1", &c.customer_id, Some("C1")), &c).await.unwrap();
    assert_eq!(terms_of(s, ORG, "old").await, [format!("old#{}", c.customer_id)]);
    let renamed = old.changed(&from_json(json!({ "name": "New", "version": 1 })), t(2)).unwrap();
    s.save_customer(&old, &renamed).await.unwrap();
    assert_eq!(terms_of(s, ORG, "new").await, [format!("new#{}", c.customer_id)]);
    assert!(terms_of(s, ORG, "old").await.is_empty());
}

pub async fn search_terms_page_by_prefix_in_term_order<S: Stores + ?Sized>(s: &S) {
    for (id, name) in [("CU1", "Lee Ann"), ("CU2", "Leeroy"), ("CU3", "Lea"), ("CU4", "Bo Lee")] {
        s.add_customer(&by_hand(ORG, id, json!({ "name": name })).0, None).await.unwrap();
    }
    assert_eq!(terms_of(s, ORG, "lee").await, ["lee#CU1", "lee#CU4", "leeroy#CU2"]);
    let first = s.search_terms(ORG, "le", &PageRequest { limit: 2, cursor: None }).await.unwrap();
    assert_eq!(first.items.iter().map(|h| h.customer_id.as_str()).collect::<Vec<_>>(), ["CU3", "CU1"]);
    let cursor = first.next_cursor.expect("more to read");
    let second = s.search_terms(ORG, "le", &PageRequest { limit: 2, cursor: Some(cursor.clone()) }).await.unwrap();
    assert_eq!(second.items.iter().map(|h| h.customer_id.as_str()).collect::<Vec<_>>(), ["CU4", "CU2"]);
    // A cursor of one organisation's index is refused in another's.
    assert!(s.search_terms(OTHER, "le", &PageRequest { limit: 2, cursor: Some(cursor) }).await.is_err());
}

pub async fn an_address_is_an_identity_only_on_its_own_channel<S: Stores + ?Sized>(s: &S) {
    // GIVEN a chat-app user whose app id happens to read like a WhatsApp number already known
    let on_whatsapp = conversation(ORG, "C1", "A1", t(1));
    let wa = identity(ORG, "A1", &on_whatsapp.customer_id, Some("C1"));
    assert_eq!(s.create_customer(&customer(ORG, &on_whatsapp.customer_id), &wa, &on_whatsapp).await.unwrap(), Written::Stored);
    let mut in_app = conversation(ORG, "C2", "A1", t(2));
    in_app.customer_id = "CU-APP".into();
    in_app.channel = "chat_app".into();
    let app = ChannelIdentity { channel: IdentityChannel::ChatApp, ..identity(ORG, "A1", "CU-APP", Some("C2")) };
    // WHEN the app's user writes first: THEN a customer of their own, the WhatsApp one untouched
    assert_eq!(s.create_customer(&customer(ORG, "CU-APP"), &app, &in_app).await.unwrap(), Written::Stored);
    assert_eq!(s.identity(ORG, IdentityChannel::ChatApp, "A1").await.unwrap(), Some(app.clone()));
    assert_eq!(s.whatsapp_identity(ORG, "A1").await.unwrap(), Some(wa));
    assert_eq!(s.identity(OTHER, IdentityChannel::ChatApp, "A1").await.unwrap(), None);
    // Closing the app conversation frees the app identity, not the WhatsApp one.
    let in_app = s.conversation(ORG, "C2").await.unwrap().unwrap();
    assert_eq!(s.close(&in_app, t(3)).await.unwrap(), Written::Stored);
    assert_eq!(s.identity(ORG, IdentityChannel::ChatApp, "A1").await.unwrap().unwrap().open_conversation_id, None);
    assert_eq!(s.whatsapp_identity(ORG, "A1").await.unwrap().unwrap().open_conversation_id.as_deref(), Some("C1"));
}

pub async fn another_organisation_finds_nothing<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let m = queued(&c, "M1", t(2));
    let c = record_outbound(s, &c, &m).await;
    s.mark_sent(&m, "wamid.1", t(3), None, None).await.unwrap();
    s.create_action(&action(ORG, "A1", &c, "other", ActionStatus::Pending), Some("K1")).await.unwrap();
    s.store_if_absent(&interaction(ORG, "I1", &c.customer_id, t(4), "pending")).await.unwrap();
    s.save_ticket(&new_ticket(&ticket(ORG, "T1", TicketPriority::High))).await.unwrap();
    s.record_event(&event(ORG, "E1")).await.unwrap();

    assert_eq!(s.conversation(OTHER, "C1").await.unwrap(), None);
    assert_eq!(s.customer(OTHER, &c.customer_id).await.unwrap(), None);
    assert_eq!(s.whatsapp_identity(OTHER, &c.customer_address).await.unwrap(), None);
    assert_eq!(s.message(OTHER, "C1", "M1").await.unwrap(), None);
    assert_eq!(s.message_by_wamid(OTHER, "wamid.1").await.unwrap(), None);
    assert_eq!(s.action(OTHER, "A1").await.unwrap(), None);
    assert_eq!(s.action_by_key(OTHER, "K1").await.unwrap(), None);
    assert_eq!(s.interaction(OTHER, "I1").await.unwrap(), None);
    assert_eq!(s.ticket(OTHER, "T1").await.unwrap(), None);
    assert!(s.conversations(OTHER, &ConversationFilter::default(), &page(10, None)).await.unwrap().items.is_empty());
    assert!(s.actions(OTHER, &ActionFilter::default(), &page(10, None)).await.unwrap().items.is_empty());
    assert!(s.interactions(OTHER, &InteractionFilter::default(), &page(10, None)).await.unwrap().items.is_empty());
    assert!(s.tickets(OTHER, &TicketFilter::default(), &page(10, None)).await.unwrap().items.is_empty());
    assert!(s.ticket_counts(OTHER).await.unwrap().counts.values().all(|n| *n == 0));
    assert_eq!(s.latest_event_seq(OTHER).await.unwrap(), 0);
    assert!(s.events_after(OTHER, 0, 10).await.unwrap().is_empty());
    // A status for our WhatsApp id in another organisation changes nothing of ours.
    assert_eq!(s.apply_status(OTHER, "wamid.1", DeliveryStatus::Read, None, t(5)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.message(ORG, "C1", "M1").await.unwrap().unwrap().status, DeliveryStatus::Sent);
}

// ------------------------------------------------------------------------- rate limits (issue 14)

pub async fn a_message_is_counted_once_per_window_however_often_it_is_delivered<S: Stores + ?Sized>(s: &S) {
    use crate::domain::rate_limit::{BlockReason, RateCounter};
    let minute = RateCounter::at(ORG, "A1", BlockReason::MessagesPerMinute, t(1));
    assert_eq!(s.count_once(&minute, "wamid.1").await.unwrap(), Some(1));
    // A redelivery of the same message counts nothing.
    assert_eq!(s.count_once(&minute, "wamid.1").await.unwrap(), None);
    assert_eq!(s.count_once(&minute, "wamid.2").await.unwrap(), Some(2));
    assert_eq!(s.count_once(&minute, "wamid.1").await.unwrap(), None);
    // Another window, another customer, another organisation, another limit: counted apart.
    let next = RateCounter::at(ORG, "A1", BlockReason::MessagesPerMinute, t(2));
    assert_eq!(s.count_once(&next, "wamid.1").await.unwrap(), Some(1));
    assert_eq!(s.count_once(&RateCounter::at(ORG, "A2", BlockReason::MessagesPerMinute, t(1)), "wamid.1").await.unwrap(), Some(1));
    assert_eq!(s.count_once(&RateCounter::at(OTHER, "A1", BlockReason::MessagesPerMinute, t(1)), "wamid.1").await.unwrap(), Some(1));
    assert_eq!(s.count_once(&RateCounter::at(ORG, "A1", BlockReason::ConversationsPerHour, t(1)), "wamid.1").await.unwrap(), Some(1));
    assert_eq!(s.count_once(&minute, "wamid.3").await.unwrap(), Some(3));
}

pub async fn one_block_holds_at_a_time_and_unblocking_is_harmless<S: Stores + ?Sized>(s: &S) {
    use crate::domain::rate_limit::{BlockReason, CustomerBlock, RateCounter, RateLimitSettings};
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let address = c.customer_address.clone();
    let settings = RateLimitSettings::default();
    let block = CustomerBlock::start(&settings, BlockReason::MessagesPerMinute, t(2), "wamid.21", "C1");
    assert_eq!(s.block_customer(ORG, &address, &block).await.unwrap(), block);
    let identity = s.whatsapp_identity(ORG, &address).await.unwrap().unwrap();
    assert_eq!(identity.blocked.as_ref(), Some(&block));
    assert_eq!(identity.open_conversation_id.as_deref(), Some("C1"), "the rest of the identity stays");
    // A second delivery crossing the limit meanwhile loses, and is answered the winner's block.
    let rival = CustomerBlock::start(&settings, BlockReason::MessagesPerMinute, t(3), "wamid.22", "C1");
    assert_eq!(s.block_customer(ORG, &address, &rival).await.unwrap(), block);
    assert_eq!(s.whatsapp_identity(ORG, &address).await.unwrap().unwrap().blocked, Some(block.clone()));
    // Another organisation's identity of the same address is not ours to block.
    assert!(matches!(s.block_customer(OTHER, &address, &rival).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.whatsapp_identity(OTHER, &address).await.unwrap(), None, "no identity created");
    // Once the cool-down ended, a new block may start.
    let later = CustomerBlock::start(&settings, BlockReason::ConversationsPerHour, block.until, "wamid.90", "C1");
    assert_eq!(s.block_customer(ORG, &address, &later).await.unwrap(), later);
    // Unblocking lifts the block and forgets the window's count.
    let minute = RateCounter::at(ORG, &address, BlockReason::MessagesPerMinute, t(12));
    assert_eq!(s.count_once(&minute, "wamid.91").await.unwrap(), Some(1));
    s.unblock_customer(ORG, &address, std::slice::from_ref(&minute)).await.unwrap();
    let identity = s.whatsapp_identity(ORG, &address).await.unwrap().unwrap();
    assert_eq!(identity.blocked, None);
    assert_eq!(identity.open_conversation_id.as_deref(), Some("C1"));
    assert_eq!(s.count_once(&minute, "wamid.91").await.unwrap(), Some(1), "counted afresh");
    // Again, and for an address nobody has: harmless, nothing created.
    s.unblock_customer(ORG, &address, &[]).await.unwrap();
    s.unblock_customer(ORG, "A9", &[]).await.unwrap();
    assert_eq!(s.whatsapp_identity(ORG, "A9").await.unwrap(), None);
}

pub async fn rate_limit_settings_are_stored_per_organisation<S: Stores + ?Sized>(s: &S) {
    use crate::domain::rate_limit::{RateLimitSettings, StoredRateLimits};
    assert_eq!(s.rate_limit_settings(ORG).await.unwrap(), None);
    let stored = StoredRateLimits {
        org_id: ORG.into(),
        settings: RateLimitSettings { messages_per_minute: 3, conversations_per_hour: 2, cooldown_minutes: 1 },
        updated_at: t(1),
        updated_by: "admin-1".into(),
    };
    s.put_rate_limit_settings(&stored, None).await.unwrap();
    assert_eq!(s.rate_limit_settings(ORG).await.unwrap(), Some(stored.clone()));
    assert_eq!(s.rate_limit_settings(OTHER).await.unwrap(), None);
    let changed = StoredRateLimits { settings: RateLimitSettings { messages_per_minute: 7, ..stored.settings }, ..stored };
    s.put_rate_limit_settings(&changed, None).await.unwrap();
    assert_eq!(s.rate_limit_settings(ORG).await.unwrap(), Some(changed.clone()), "a change is read back by whoever made it");
    // An admin's change is stored with its audit entry.
    let by = AuditActor { user_id: "admin-1".into(), role: "admin".into() };
    let again = StoredRateLimits { settings: RateLimitSettings { messages_per_minute: 9, ..changed.settings }, ..changed.clone() };
    let entry = by.change(t(3), ORG, (AuditEntity::Settings, "rate_limits"), "update", &["settings"], Some(&changed), Some(&again)).unwrap();
    s.put_rate_limit_settings(&again, Some(&entry)).await.unwrap();
    assert_eq!(s.rate_limit_settings(ORG).await.unwrap(), Some(again));
    assert_eq!(s.audit_entries(ORG, &AuditQuery::default(), &page(10, None)).await.unwrap().items, [entry]);
}

pub async fn a_team_is_created_once_listed_in_pages_and_saved_over_the_version_read<S: Stores + ?Sized>(s: &S) {
    use crate::domain::team::{Team, TeamEdit, TeamInput};
    let input = |name: &str| TeamInput { name: name.into(), description: None, auto_assign: false, after_hours_reply: None };
    let teams: Vec<Team> = ["Billing", "Sales", "Support"].iter().enumerate().map(|(i, n)| Team::new(format!("01TEAM{i}"), ORG, input(n), t(i as i64)).unwrap()).collect();
    for team in &teams {
        assert_eq!(s.create_team(team, None).await.unwrap(), Written::Stored);
    }
    assert_eq!(s.create_team(&teams[0], None).await.unwrap(), Written::AlreadyThere, "an id is created once");
    let first = s.teams(ORG, &PageRequest { limit: 2, cursor: None }).await.unwrap();
    assert_eq!(first.items.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["Billing", "Sales"]);
    let rest = s.teams(ORG, &PageRequest { limit: 2, cursor: first.next_cursor.clone() }).await.unwrap();
    assert_eq!((rest.items.len(), rest.items[0].name.as_str(), rest.next_cursor), (1, "Support", None));
    assert!(s.teams(OTHER, &PageRequest { limit: 10, cursor: None }).await.unwrap().items.is_empty());
    assert_eq!(s.team(OTHER, &teams[0].id).await.unwrap(), None);
    // Saved over the version read: once; the same version again writes nothing.
    let edited = teams[0].edited(&TeamEdit { name: Some("Refunds".into()), ..Default::default() }, t(5)).unwrap();
    assert_eq!(s.save_team(&edited, None).await.unwrap(), Written::Stored);
    let stale = teams[0].edited(&TeamEdit { name: Some("Lost".into()), ..Default::default() }, t(6)).unwrap();
    assert_eq!(s.save_team(&stale, None).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.team(ORG, &teams[0].id).await.unwrap(), Some(edited));
    // An edit of a team that does not exist creates nothing.
    let ghost = Team { id: "01GHOST".into(), version: 2, ..teams[1].clone() };
    assert_eq!(s.save_team(&ghost, None).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.team(ORG, "01GHOST").await.unwrap(), None);
}

pub async fn business_hours_are_saved_over_the_version_read_per_team<S: Stores + ?Sized>(s: &S) {
    use crate::domain::business_hours::{BusinessHours, OpenWindow, WeeklyHours};
    use crate::domain::team::StoredBusinessHours;
    let hours = |version: u64, open: &str| StoredBusinessHours {
        org_id: ORG.into(),
        team_id: "01TEAM".into(),
        hours: BusinessHours { time_zone: "Europe/Madrid".into(), weekly: WeeklyHours::weekdays(&[OpenWindow::new(open, "17:00")]), holidays: vec![], exceptions: vec![] },
        version,
        updated_at: Some(t(version as i64)),
        updated_by: Some("admin-1".into()),
    };
    assert_eq!(s.business_hours(ORG, "01TEAM").await.unwrap(), None);
    assert_eq!(s.save_business_hours(&hours(2, "09:00"), None).await.unwrap(), Written::AlreadyThere, "version 2 needs a version 1");
    assert_eq!(s.save_business_hours(&hours(1, "09:00"), None).await.unwrap(), Written::Stored);
    assert_eq!(s.save_business_hours(&hours(1, "10:00"), None).await.unwrap(), Written::AlreadyThere, "version 1 is taken");
    assert_eq!(s.save_business_hours(&hours(2, "08:00"), None).await.unwrap(), Written::Stored);
    assert_eq!(s.business_hours(ORG, "01TEAM").await.unwrap(), Some(hours(2, "08:00")));
    assert_eq!(s.business_hours(OTHER, "01TEAM").await.unwrap(), None);
    assert_eq!(s.business_hours(ORG, "01OTHER").await.unwrap(), None);
}

fn sla_policy(org: &str, id: &str) -> crate::domain::sla::SlaPolicy {
    from_json(json!({
        "id": id, "org_id": org, "name": format!("policy {id}"), "counted_in": "calendar",
        "targets": { "first_response_seconds": 600 }, "warning_percent": 50,
        "escalation": { "after_seconds": 60, "raise_priority": true }, "version": 1
    }))
}

/// `c` one version on with `policy`'s clocks started at `at`, as a customer's first message leaves it.
fn with_sla_clock(c: &Conversation, policy: &crate::domain::sla::SlaPolicy, at: DateTime<Utc>) -> Conversation {
    let mut next = next_version(c);
    next.sla = Some(crate::domain::sla::ConversationSla::new(policy.clone()));
    next.customer_wrote(at, at, None);
    next
}

pub async fn sla_policies_are_created_once_saved_over_the_version_read_and_deleted<S: Stores + ?Sized>(s: &S) {
    let (first, second) = (sla_policy(ORG, "01POLICYA"), sla_policy(ORG, "01POLICYB"));
    assert_eq!(s.create_sla_policy(&second, None).await.unwrap(), Written::Stored);
    assert_eq!(s.create_sla_policy(&first, None).await.unwrap(), Written::Stored);
    assert_eq!(s.create_sla_policy(&first, None).await.unwrap(), Written::AlreadyThere, "an id is created once");
    assert_eq!(s.sla_policies(ORG).await.unwrap().iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["01POLICYA", "01POLICYB"], "by id");
    assert_eq!(s.sla_policies_cached(ORG).await.unwrap().len(), 2, "a write is seen by the cache of whoever made it");
    assert!(s.sla_policies(OTHER).await.unwrap().is_empty());
    assert_eq!(s.sla_policy(OTHER, "01POLICYA").await.unwrap(), None);
    let edited = first.edited(&crate::domain::sla::SlaPolicyEdit { name: Some("Renamed".into()), ..Default::default() }).unwrap();
    assert_eq!(s.save_sla_policy(&edited, None).await.unwrap(), Written::Stored);
    assert_eq!(s.save_sla_policy(&edited, None).await.unwrap(), Written::AlreadyThere, "version 2 is taken");
    assert_eq!(s.sla_policy(ORG, "01POLICYA").await.unwrap(), Some(edited));
    assert_eq!(s.delete_sla_policy(OTHER, "01POLICYA", None).await.unwrap(), Written::AlreadyThere, "another organisation's is not found");
    assert_eq!(s.delete_sla_policy(ORG, "01POLICYA", None).await.unwrap(), Written::Stored);
    assert_eq!(s.delete_sla_policy(ORG, "01POLICYA", None).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.sla_policies_cached(ORG).await.unwrap().iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["01POLICYB"]);

    // A staff change's entry is stored with it, both or neither (`docs/audit.md`).
    let by = AuditActor { user_id: "admin-1".into(), role: "admin".into() };
    let fields = ["name"];
    let entries = async || s.audit_entries(ORG, &AuditQuery::default(), &page(10, None)).await.unwrap().items;
    let third = sla_policy(ORG, "01POLICYC");
    let created = by.change(t(7), ORG, (AuditEntity::SlaPolicy, "01POLICYC"), "create", &fields, None, Some(&third)).unwrap();
    assert_eq!(s.create_sla_policy(&third, Some(&created)).await.unwrap(), Written::Stored);
    let renamed = third.edited(&crate::domain::sla::SlaPolicyEdit { name: Some("Renamed".into()), ..Default::default() }).unwrap();
    let edit = by.change(t(8), ORG, (AuditEntity::SlaPolicy, "01POLICYC"), "update", &fields, Some(&third), Some(&renamed)).unwrap();
    assert_eq!(s.save_sla_policy(&renamed, Some(&edit)).await.unwrap(), Written::Stored);
    let stale = by.change(t(9), ORG, (AuditEntity::SlaPolicy, "01POLICYC"), "update", &fields, Some(&third), Some(&renamed)).unwrap();
    assert_eq!(s.save_sla_policy(&renamed, Some(&stale)).await.unwrap(), Written::AlreadyThere, "version 2 is taken");
    let missing = by.change(t(9), ORG, (AuditEntity::SlaPolicy, "01POLICYA"), "delete", &fields, Some(&first), None).unwrap();
    assert_eq!(s.delete_sla_policy(ORG, "01POLICYA", Some(&missing)).await.unwrap(), Written::AlreadyThere, "deleted before");
    let deleted = by.change(t(10), ORG, (AuditEntity::SlaPolicy, "01POLICYC"), "delete", &fields, Some(&renamed), None).unwrap();
    assert_eq!(s.delete_sla_policy(ORG, "01POLICYC", Some(&deleted)).await.unwrap(), Written::Stored);
    assert_eq!(s.sla_policy(ORG, "01POLICYC").await.unwrap(), None);
    assert_eq!(entries().await, [deleted, edit, created], "newest first; the refused writes left none");
}

pub async fn the_sla_deadline_index_holds_open_conversations_at_their_next_step<S: Stores + ?Sized>(s: &S) {
    let policy = sla_policy(ORG, "01POLICY");
    // Two organisations' conversations with clocks started at t(0): the warning at t(0) + 5 min.
    let a = with_sla_clock(&stored_conversation(s, ORG, "c-sla-a", t(0)).await, &policy, t(0));
    s.save_conversation(&a).await.unwrap();
    let b = with_sla_clock(&stored_conversation(s, OTHER, "c-sla-b", t(0)).await, &sla_policy(OTHER, "01POLICY"), t(0));
    s.save_conversation(&b).await.unwrap();
    let _without = stored_conversation(s, ORG, "c-no-sla", t(0)).await;
    let due = s.sla_due(t(5), t(5)).await.unwrap();
    let mut found: Vec<(&str, &str)> = due.iter().map(|d| (d.org_id.as_str(), d.conversation_id.as_str())).collect();
    found.sort();
    assert_eq!(found, [(ORG, "c-sla-a"), (OTHER, "c-sla-b")], "every organisation's, in the minute of the step");
    assert!(due.iter().all(|d| d.check_at == t(5)));
    assert!(s.sla_due(t(5), t(5) - Duration::seconds(1)).await.unwrap().is_empty(), "not before it is due");
    assert!(s.sla_due(t(4), t(10)).await.unwrap().is_empty(), "another minute holds nothing");
    // An answer stops the clocks: the entry moves out of the index with the same write.
    let mut answered = next_version(&a);
    answered.agent_replied(t(2), t(2));
    s.save_conversation(&answered).await.unwrap();
    let due = s.sla_due(t(5), t(5)).await.unwrap();
    assert_eq!(due.iter().map(|d| d.conversation_id.as_str()).collect::<Vec<_>>(), ["c-sla-b"]);
    // The resolution-free policy has nothing more owed for a; b closed leaves the index too.
    let closed = s.conversation(OTHER, "c-sla-b").await.unwrap().unwrap();
    assert_eq!(s.close(&closed, t(3)).await.unwrap(), Written::Stored);
    assert!(s.sla_due(t(5), t(5)).await.unwrap().is_empty());
}

/// An online agent of capacity 1 in team `t1`, stored.
async fn stored_agent<S: Stores + ?Sized>(s: &S, id: &str, capacity: u32, online: bool) -> crate::domain::agent::Agent {
    use crate::domain::agent::{Agent, AgentInput, Availability};
    let input = AgentInput { user_id: id.into(), name: id.into(), team_ids: vec!["t1".into()], skills: Default::default(), languages: vec![], capacity };
    let agent = Agent::new(ORG, input, t(0)).unwrap();
    assert_eq!(s.create_agent(&agent, None).await.unwrap(), Written::Stored);
    if !online {
        return agent;
    }
    let online = agent.with_availability(Availability::Online, t(0)).unwrap();
    assert_eq!(s.save_agent(&online, None).await.unwrap(), Written::Stored);
    online
}

/// A stored conversation queued in team `t1`.
async fn queued_conversation<S: Stores + ?Sized>(s: &S, id: &str, last_message_at: DateTime<Utc>) -> Conversation {
    let c = stored_conversation(s, ORG, id, last_message_at).await.in_team(Some("t1"));
    let c = next_version(&c);
    s.save_conversation(&c).await.unwrap();
    c
}

pub async fn an_assignment_takes_a_place_only_online_and_below_capacity_all_or_nothing<S: Stores + ?Sized>(s: &S) {
    use crate::domain::routing::{AssignedBy, Hold, assign, assignment_events};
    stored_agent(s, "ana", 1, true).await;
    stored_agent(s, "off", 5, false).await;
    let first = queued_conversation(s, "c-r1", t(1)).await;
    let second = queued_conversation(s, "c-r2", t(2)).await;
    let assigned = |c: &Conversation, agent: &str, hold: Hold| {
        let mut next = next_version(c);
        let changes = assign(&mut next, Some(agent), hold, t(3));
        let events = assignment_events(&next, c.assignee_id.as_deref(), AssignedBy::Routing, t(3));
        (next, changes, events)
    };
    // Offline: refused, nothing written (neither the conversation nor the event).
    let (next, changes, events) = assigned(&first, "off", Hold::WithinCapacity);
    assert_eq!(s.save_assignment(&next, &changes, &events).await.unwrap(), AssignmentWrite::AgentUnavailable("off".into()));
    assert_eq!(s.conversation_for_routing(ORG, "c-r1").await.unwrap().unwrap().assignee_id, None);
    assert!(s.events_after(ORG, 0, 10).await.unwrap().iter().all(|e| e.kind == EventKind::Void));
    // Online below capacity: the conversation, the counter, the idle time and the event at once.
    let (next, changes, events) = assigned(&first, "ana", Hold::WithinCapacity);
    assert_eq!(s.save_assignment(&next, &changes, &events).await.unwrap(), AssignmentWrite::Stored);
    let ana = s.agent(ORG, "ana").await.unwrap().unwrap();
    assert_eq!((ana.open_count, ana.last_assigned_at, ana.version), (1, Some(t(3)), 3));
    let stored = s.conversation_for_routing(ORG, "c-r1").await.unwrap().unwrap();
    assert_eq!((stored.status, stored.assignee_id.as_deref(), stored.holds_capacity_of.as_deref()), (ConversationStatus::Assigned, Some("ana"), Some("ana")));
    assert_eq!(s.events_after(ORG, 0, 10).await.unwrap().iter().filter(|e| e.kind == EventKind::ConversationAssigned).count(), 1);
    // At capacity: refused; over the stale version: the conversation changed.
    let (next, changes, events) = assigned(&second, "ana", Hold::WithinCapacity);
    assert_eq!(s.save_assignment(&next, &changes, &events).await.unwrap(), AssignmentWrite::AgentUnavailable("ana".into()));
    let (next, changes, events) = assigned(&first, "off", Hold::OverCapacity);
    assert_eq!(s.save_assignment(&next, &changes, &events).await.unwrap(), AssignmentWrite::ConversationChanged);
    // Over capacity (an admin): taken anyway; an agent's edit read before is then a lost update.
    let before_edit = s.agent(ORG, "ana").await.unwrap().unwrap();
    let (next, changes, events) = assigned(&second, "ana", Hold::OverCapacity);
    assert_eq!(s.save_assignment(&next, &changes, &events).await.unwrap(), AssignmentWrite::Stored);
    assert_eq!(s.agent(ORG, "ana").await.unwrap().unwrap().open_count, 2);
    let edit = crate::domain::agent::AgentEdit { capacity: Some(9), ..Default::default() };
    assert_eq!(s.save_agent(&before_edit.edited(&edit, t(4)).unwrap(), None).await.unwrap(), Written::AlreadyThere, "the counter is not put back");
    // No such agent: refused even over capacity (no agent is created by a counter).
    let third = queued_conversation(s, "c-r3", t(3)).await;
    let (next, changes, events) = assigned(&third, "ghost", Hold::OverCapacity);
    assert_eq!(s.save_assignment(&next, &changes, &events).await.unwrap(), AssignmentWrite::AgentUnavailable("ghost".into()));
    assert_eq!(s.agent(ORG, "ghost").await.unwrap(), None);
}

pub async fn a_close_gives_the_holders_place_back_and_the_queue_is_oldest_first<S: Stores + ?Sized>(s: &S) {
    use crate::domain::routing::{Hold, assign};
    stored_agent(s, "ana", 2, true).await;
    let newer = queued_conversation(s, "c-q-newer", t(9)).await;
    let older = queued_conversation(s, "c-q-older", t(2)).await;
    queued_conversation(s, "c-q-middle", t(5)).await;
    let queue = s.team_queue(ORG, "t1", 10).await.unwrap();
    assert_eq!(queue.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["c-q-older", "c-q-middle", "c-q-newer"]);
    assert_eq!(s.team_queue(ORG, "t1", 1).await.unwrap().len(), 1);
    assert!(s.team_queue(OTHER, "t1", 10).await.unwrap().is_empty());
    let mut taken = next_version(&older);
    let changes = assign(&mut taken, Some("ana"), Hold::WithinCapacity, t(10));
    assert_eq!(s.save_assignment(&taken, &changes, &[]).await.unwrap(), AssignmentWrite::Stored);
    assert_eq!(s.team_queue(ORG, "t1", 10).await.unwrap().iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["c-q-middle", "c-q-newer"], "an assigned one leaves the queue");
    assert_eq!(s.agent(ORG, "ana").await.unwrap().unwrap().open_count, 1);
    // The close gives the place back in its own write; the closed conversation holds nothing.
    assert_eq!(s.close(&taken, t(11)).await.unwrap(), Written::Stored);
    assert_eq!(s.agent(ORG, "ana").await.unwrap().unwrap().open_count, 0);
    let closed = s.conversation_for_routing(ORG, "c-q-older").await.unwrap().unwrap();
    assert_eq!((closed.status, closed.holds_capacity_of), (ConversationStatus::Closed, None));
    // A conversation holding no place closes without touching any agent.
    assert_eq!(s.close(&newer, t(12)).await.unwrap(), Written::Stored);
    assert_eq!(s.agent(ORG, "ana").await.unwrap().unwrap().open_count, 0);
}

pub async fn sla_steps_are_written_with_their_events_over_the_version_read<S: Stores + ?Sized>(s: &S) {
    let policy = sla_policy(ORG, "01POLICY");
    let c = with_sla_clock(&stored_conversation(s, ORG, "c-steps", t(0)).await, &policy, t(0));
    s.save_conversation(&c).await.unwrap();
    assert_eq!(s.sla_cursor().await.unwrap(), None);
    s.save_sla_cursor(t(4)).await.unwrap();
    assert_eq!(s.sla_cursor().await.unwrap(), Some(t(4)));
    let mut warned = next_version(&c);
    let fired = warned.sla.as_mut().unwrap().fire_due(t(5), None);
    assert_eq!(fired.len(), 1);
    let event = NewEvent::new(ORG, EventKind::SlaWarning, t(5), json!({ "conversation_id": "c-steps" }), "sla:c-steps:frt:warning");
    // Over a stale version: nothing written, the event neither.
    let mut stale = warned.clone();
    stale.version += 1;
    assert!(matches!(s.record_sla_steps(&stale, &[], std::slice::from_ref(&event)).await, Err(Error::LostUpdate(_))));
    assert!(s.events_after(ORG, 0, 10).await.unwrap().iter().all(|e| e.kind != EventKind::SlaWarning));
    // Over the version read: the flag, the next index entry and the event together.
    s.record_sla_steps(&warned, &[], std::slice::from_ref(&event)).await.unwrap();
    let stored = s.conversation_for_sla(ORG, "c-steps").await.unwrap().unwrap();
    assert!(stored.sla.as_ref().unwrap().frt.as_ref().unwrap().warned);
    assert_eq!(s.events_after(ORG, 0, 10).await.unwrap().iter().filter(|e| e.kind == EventKind::SlaWarning).count(), 1);
    assert!(s.sla_due(t(5), t(5)).await.unwrap().is_empty(), "the warning is taken");
    assert_eq!(s.sla_due(t(10), t(10)).await.unwrap().len(), 1, "the breach is next");
    // The same steps again (a second scheduler over the same read) write nothing more.
    assert!(matches!(s.record_sla_steps(&warned, &[], std::slice::from_ref(&event)).await, Err(Error::LostUpdate(_))));
    warned.version += 1;
    assert!(matches!(s.record_sla_steps(&warned, &[], std::slice::from_ref(&event)).await, Err(Error::LostUpdate(_))), "an event recorded once");
    assert_eq!(s.events_after(ORG, 0, 10).await.unwrap().iter().filter(|e| e.kind == EventKind::SlaWarning).count(), 1);
}

// ---------------------------------------------------------------------- interaction alerts (issue 16)

pub async fn the_interaction_deadline_index_holds_open_interactions_at_their_next_alert<S: Stores + ?Sized>(s: &S) {
    // Two organisations' calls scheduled at t(60) (reminded at t(45)), due at t(120).
    let planned = |org: &str, id: &str| {
        let mut i = interaction(org, id, "cust-1", t(120), "pending");
        i.scheduled_at = t(60);
        i.plan_reminder(Duration::minutes(15), t(0));
        i
    };
    let (a, b) = (planned(ORG, "i-alert-a"), planned(OTHER, "i-alert-b"));
    s.create_interaction(&a, None).await.unwrap();
    s.create_interaction(&b, None).await.unwrap();
    let due = s.interactions_due(t(45), t(45)).await.unwrap();
    let mut found: Vec<(&str, &str)> = due.iter().map(|d| (d.org_id.as_str(), d.interaction_id.as_str())).collect();
    found.sort();
    assert_eq!(found, [(ORG, "i-alert-a"), (OTHER, "i-alert-b")], "every organisation's, in the minute of the reminder");
    assert!(due.iter().all(|d| d.check_at == t(45)));
    assert!(s.interactions_due(t(45), t(45) - Duration::seconds(1)).await.unwrap().is_empty(), "not before it is due");
    assert!(s.interactions_due(t(44), t(200)).await.unwrap().is_empty(), "another minute holds nothing");

    assert_eq!(s.interaction_alert_cursor().await.unwrap(), None);
    s.save_interaction_alert_cursor(t(44)).await.unwrap();
    assert_eq!(s.interaction_alert_cursor().await.unwrap(), Some(t(44)));

    // The reminder flagged with its event: the entry moves to due_at in the same write.
    let mut reminded = a.clone();
    assert_eq!(reminded.take_due_alerts(t(45)).len(), 1);
    let event = NewEvent::new(ORG, EventKind::InteractionReminder, t(45), json!({ "interaction_id": "i-alert-a" }), "interaction:i-alert-a:reminder");
    let mut stale = reminded.clone();
    stale.version += 1;
    assert!(matches!(s.record_interaction_alerts(&stale, std::slice::from_ref(&event), None).await, Err(Error::LostUpdate(_))));
    assert!(s.events_after(ORG, 0, 10).await.unwrap().iter().all(|e| e.kind != EventKind::InteractionReminder), "nothing written");
    s.record_interaction_alerts(&reminded, std::slice::from_ref(&event), None).await.unwrap();
    assert_eq!(s.events_after(ORG, 0, 10).await.unwrap().iter().filter(|e| e.kind == EventKind::InteractionReminder).count(), 1);
    let due = s.interactions_due(t(45), t(45)).await.unwrap();
    assert_eq!(due.iter().map(|d| d.interaction_id.as_str()).collect::<Vec<_>>(), ["i-alert-b"]);
    assert_eq!(s.interactions_due(t(120), t(120)).await.unwrap().iter().map(|d| d.interaction_id.as_str()).collect::<Vec<_>>(), ["i-alert-a"]);
    // The same alert again (a second run over the same read, or a later version) writes nothing.
    assert!(matches!(s.record_interaction_alerts(&reminded, std::slice::from_ref(&event), None).await, Err(Error::LostUpdate(_))));
    let mut again = reminded.clone();
    again.version += 1;
    assert!(matches!(s.record_interaction_alerts(&again, std::slice::from_ref(&event), None).await, Err(Error::LostUpdate(_))), "an event recorded once");
    // A cancel takes it out of the index.
    let cancelled = s.interaction(OTHER, "i-alert-b").await.unwrap().unwrap().cancel(t(50)).unwrap();
    s.save_interaction(&cancelled).await.unwrap();
    assert!(s.interactions_due(t(45), t(45)).await.unwrap().is_empty());
}

pub async fn a_campaign_starts_each_customer_once_and_counts_in_the_same_write<S: Stores + ?Sized>(s: &S) {
    use crate::domain::campaign::{Campaign, CampaignStart, CampaignTally};
    let campaign: Campaign = from_json(json!({ "id": "K1", "org_id": ORG, "name": "Spring", "workflow_template_id": "T1", "targeted": 3, "all_targeted": true, "created_at": t(0) }));
    assert_eq!(s.create_campaign(&campaign, None).await.unwrap(), Written::Stored);
    assert_eq!(s.create_campaign(&campaign, None).await.unwrap(), Written::AlreadyThere);
    // A keyed campaign: the key finds it; the key again (another id) writes nothing at all.
    let keyed: Campaign = from_json(json!({ "id": "K2", "org_id": ORG, "name": "Keyed", "workflow_template_id": "T1", "created_at": t(0) }));
    assert_eq!(s.create_campaign(&keyed, Some("key-1")).await.unwrap(), Written::Stored);
    assert_eq!(s.campaign_by_key(ORG, "key-1").await.unwrap().map(|c| c.id), Some("K2".into()));
    assert_eq!(s.campaign_by_key(OTHER, "key-1").await.unwrap(), None, "keys are the organisation's");
    let retried = Campaign { id: "K3".into(), ..keyed.clone() };
    assert_eq!(s.create_campaign(&retried, Some("key-1")).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.campaign(ORG, "K3").await.unwrap(), None, "all or nothing");
    let first = |customer: &str| {
        let mut i = interaction(ORG, &format!("i-{customer}"), customer, t(120), "pending");
        i.campaign_id = Some("K1".into());
        i
    };
    let start = |customer: &str, known: bool| CampaignStart { customer_id: customer.into(), interaction: known.then(|| first(customer)) };
    let page = [start("c1", true), start("c2", true)];
    assert!(s.start_campaign_customers(ORG, "K1", &page, false).await.unwrap().is_empty());
    // A page again with one new customer: the ones started are named, nothing is written.
    let again = [start("c3", false), start("c2", true), start("c1", true)];
    let mut already = s.start_campaign_customers(ORG, "K1", &again, false).await.unwrap();
    already.sort();
    assert_eq!(already, ["c1", "c2"]);
    assert!(s.start_campaign_customers(ORG, "K1", &[start("c3", false)], false).await.unwrap().is_empty());
    let stored = s.campaign(ORG, "K1").await.unwrap().unwrap();
    assert_eq!((stored.targeted, stored.started, stored.skipped), (3, 2, 1));
    assert!(s.interaction(ORG, "i-c1").await.unwrap().is_some() && s.interaction(ORG, "i-c3").await.unwrap().is_none());
    // A completion with its tally: both or neither.
    let open = s.interaction(ORG, "i-c1").await.unwrap().unwrap();
    let mut done = open.clone();
    done.status = InteractionStatus::Completed;
    done.version += 1;
    let tally = CampaignTally { org_id: ORG.into(), campaign_id: "K1".into(), completed: 1, ..Default::default() };
    let mut stale = done.clone();
    stale.version += 1;
    assert!(matches!(s.save_interaction_tallied(&stale, &tally).await, Err(Error::LostUpdate(_))));
    s.save_interaction_tallied(&done, &tally).await.unwrap();
    assert_eq!(s.campaign(ORG, "K1").await.unwrap().unwrap().completed, 1, "counted once: the stale write added nothing");
    s.finish_campaign_targeting(ORG, "K1").await.unwrap();
    let listed = s.campaigns(ORG, &PageRequest { limit: 10, cursor: None }).await.unwrap().items;
    assert_eq!(listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["K2", "K1"], "newest (by id) first");
    assert!(s.campaigns(OTHER, &PageRequest { limit: 10, cursor: None }).await.unwrap().items.is_empty());
    assert!(s.campaign(OTHER, "K1").await.unwrap().is_none());
}

pub async fn compliance_is_counted_by_the_writes_that_end_clocks_per_team_and_day<S: Stores + ?Sized>(s: &S) {
    // GIVEN three conversations of team t1 whose first response is due in 10 minutes.
    let policy = sla_policy(ORG, "01POLICY");
    let mut clocks = Vec::new();
    for id in ["c-met", "c-breached", "c-closed-late"] {
        let mut c = with_sla_clock(&stored_conversation(s, ORG, id, t(0)).await, &policy, t(0));
        c.team_id = Some("t1".into());
        s.save_conversation(&c).await.unwrap();
        clocks.push(c);
    }
    // WHEN one is answered in 5 minutes (a reply), one breached (the scheduler's step) and one
    // closed 12 minutes in, before any breach was seen.
    let mut answered = clocks[0].clone();
    answered.agent_replied(t(5), t(5));
    record_outbound(s, &answered, &queued(&answered, "m-answer", t(5))).await;
    let mut breached = next_version(&clocks[1]);
    let fired = breached.sla.as_mut().unwrap().fire_due(t(11), None);
    breached.count_sla_breaches(&fired);
    s.record_sla_steps(&breached, &[], &[]).await.unwrap();
    let mut closed = clocks[2].clone();
    closed.closing(t(12));
    assert_eq!(s.close(&closed, t(12)).await.unwrap(), Written::Stored);
    // THEN the team's day counts 1 met and 2 missed, two answer times, both violations listed.
    let day = t(0).date_naive();
    let days = s.compliance_days(ORG, Some("t1"), day, day).await.unwrap();
    assert_eq!(days.len(), 1, "{days:?}");
    let frt = &days[0];
    assert_eq!((frt.metric, frt.met, frt.missed, frt.response_times.count(), frt.team_id.as_deref()), (crate::domain::sla::SlaMetric::Frt, 1, 2, 2, Some("t1")));
    let listed = s.compliance_violations(ORG, Some("t1"), day, day, 10).await.unwrap();
    let mut ids: Vec<&str> = listed.iter().map(|v| v.conversation_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["c-breached", "c-closed-late"]);
    assert_eq!(s.compliance_violations(ORG, Some("t1"), day, day, 1).await.unwrap().len(), 1, "at most the limit");
    // The counters are not stored on the conversation (read back, nothing to count again).
    assert!(s.conversation(ORG, "c-met").await.unwrap().unwrap().sla_counts.is_empty());
    // Another team, another organisation, another day: nothing.
    assert!(s.compliance_days(ORG, None, day, day).await.unwrap().is_empty());
    assert!(s.compliance_days(OTHER, Some("t1"), day, day).await.unwrap().is_empty());
    let next = day.succ_opt().unwrap();
    assert!(s.compliance_days(ORG, Some("t1"), next, next).await.unwrap().is_empty());
    assert!(s.compliance_violations(ORG, Some("t1"), next, next, 10).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------- outbound webhooks (issue 15)

fn subscription(org: &str, id: &str, at: DateTime<Utc>) -> crate::domain::webhook_subscription::WebhookSubscription {
    use crate::domain::webhook_subscription::{DestinationPolicy, WebhookSubscriptionInput};
    let input: WebhookSubscriptionInput = serde_json::from_value(json!({"url": "https://crm.example.com/hooks", "event_types": ["ticket.opened"]})).unwrap();
    input.into_subscription(id.into(), org, "admin-1", at, DestinationPolicy::default()).unwrap()
}

pub async fn a_webhook_subscription_is_created_once_listed_and_saved_over_the_version_read<S: Stores + ?Sized>(s: &S) {
    use crate::domain::webhook_subscription::WebhookSubscription;
    let subs: Vec<WebhookSubscription> = (0..3).map(|i| subscription(ORG, &format!("01SUB{i}"), t(i))).collect();
    for sub in &subs {
        assert_eq!(s.create_webhook_subscription(sub).await.unwrap(), Written::Stored);
    }
    assert_eq!(s.create_webhook_subscription(&subs[0]).await.unwrap(), Written::AlreadyThere, "an id is created once");
    s.create_webhook_subscription(&subscription(OTHER, "01SUBX", t(9))).await.unwrap();
    let ids = |list: Vec<WebhookSubscription>| list.into_iter().map(|x| x.id).collect::<Vec<_>>();
    assert_eq!(ids(s.webhook_subscriptions(ORG).await.unwrap()), ["01SUB0", "01SUB1", "01SUB2"]);
    assert_eq!(ids(s.webhook_subscriptions(OTHER).await.unwrap()), ["01SUBX"]);
    assert_eq!(s.webhook_subscription(OTHER, "01SUB0").await.unwrap(), None);
    assert_eq!(s.webhook_subscription(ORG, "01SUB0").await.unwrap(), Some(subs[0].clone()));
    // Saved over the version read, once.
    let edited = WebhookSubscription { description: Some("CRM".into()), version: 2, updated_at: t(5), ..subs[0].clone() };
    assert_eq!(s.save_webhook_subscription(&edited).await.unwrap(), Written::Stored);
    let stale = WebhookSubscription { description: Some("lost".into()), version: 2, ..subs[0].clone() };
    assert_eq!(s.save_webhook_subscription(&stale).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.webhook_subscription(ORG, "01SUB0").await.unwrap(), Some(edited.clone()));
    let ghost = WebhookSubscription { id: "01GHOST".into(), version: 2, ..subs[1].clone() };
    assert_eq!(s.save_webhook_subscription(&ghost).await.unwrap(), Written::AlreadyThere, "an edit creates nothing");
    assert_eq!(s.webhook_subscription(ORG, "01GHOST").await.unwrap(), None);
    // Deleted at the version read only; another organisation's is never touched.
    assert_eq!(s.delete_webhook_subscription(&subs[0]).await.unwrap(), Written::AlreadyThere, "version 1 moved on");
    let foreign = WebhookSubscription { org_id: OTHER.into(), ..subs[1].clone() };
    assert_eq!(s.delete_webhook_subscription(&foreign).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.delete_webhook_subscription(&edited).await.unwrap(), Written::Stored);
    assert_eq!(s.delete_webhook_subscription(&edited).await.unwrap(), Written::AlreadyThere);
    assert_eq!(ids(s.webhook_subscriptions(ORG).await.unwrap()), ["01SUB1", "01SUB2"]);
}

pub async fn delivery_attempts_are_logged_once_newest_first_per_subscription<S: Stores + ?Sized>(s: &S) {
    use crate::domain::webhook_delivery::{AttemptOutcome, DeliveryAttempt};
    let attempt = |org: &str, sub: &str, id: &str, n: u32| DeliveryAttempt {
        id: id.into(),
        org_id: org.into(),
        subscription_id: sub.into(),
        message_id: "msg_1".into(),
        event_type: "ticket.opened".into(),
        event_seq: 1,
        attempt: n,
        status_code: Some(500),
        response_body: Some("busy".into()),
        error: None,
        duration_ms: 12,
        outcome: AttemptOutcome::Retrying,
        next_attempt_at: Some(t(n as i64 + 1)),
        at: t(n as i64),
        expires_at: t(n as i64).timestamp() + 30 * 86400,
    };
    for (i, id) in ["01A1", "01A2", "01A3"].iter().enumerate() {
        assert_eq!(s.record_delivery_attempt(&attempt(ORG, "S1", id, i as u32 + 1)).await.unwrap(), Written::Stored);
    }
    assert_eq!(s.record_delivery_attempt(&attempt(ORG, "S1", "01A1", 9)).await.unwrap(), Written::AlreadyThere, "logged once");
    s.record_delivery_attempt(&attempt(ORG, "S2", "01B1", 1)).await.unwrap();
    s.record_delivery_attempt(&attempt(OTHER, "S1", "01C1", 1)).await.unwrap();
    let first = s.delivery_attempts(ORG, "S1", &PageRequest { limit: 2, cursor: None }).await.unwrap();
    assert_eq!(first.items.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["01A3", "01A2"], "newest first");
    let mut rest = s.delivery_attempts(ORG, "S1", &PageRequest { limit: 2, cursor: first.next_cursor.clone() }).await.unwrap();
    assert_eq!(rest.items.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["01A1"]);
    assert_eq!(rest.items.remove(0), attempt(ORG, "S1", "01A1", 1), "the first write stands");
    assert!(s.delivery_attempts(ORG, "S2", &PageRequest { limit: 2, cursor: first.next_cursor.clone() }).await.is_err(), "another list's cursor is refused");
    assert_eq!(s.delivery_attempt(ORG, "S1", "01A2").await.unwrap(), Some(attempt(ORG, "S1", "01A2", 2)));
    assert_eq!(s.delivery_attempt(OTHER, "S1", "01A2").await.unwrap(), None);
    assert_eq!(s.delivery_attempt(ORG, "S2", "01A2").await.unwrap(), None);
}

pub async fn live_connections_are_kept_per_organisation_refreshed_and_forgotten<S: Stores + ?Sized>(s: &S) {
    use crate::domain::live_push::{CONNECTION_TTL, LiveConnection};
    let ids = |list: Vec<LiveConnection>| list.into_iter().map(|c| c.connection_id).collect::<Vec<_>>();
    let a1 = LiveConnection::open(ORG, "AAAAconnA1=", "u1", t(1));
    let a2 = LiveConnection::open(ORG, "AAAAconnA2=", "u2", t(2));
    s.put_live_connection(&a1).await.unwrap();
    s.put_live_connection(&a2).await.unwrap();
    s.put_live_connection(&LiveConnection::open(OTHER, "BBBBconnB1=", "u9", t(1))).await.unwrap();
    assert_eq!(ids(s.live_connections(ORG, t(3)).await.unwrap()), ["AAAAconnA1=", "AAAAconnA2="]);
    assert_eq!(ids(s.live_connections(OTHER, t(3)).await.unwrap()), ["BBBBconnB1="]);
    assert_eq!(s.live_connections(ORG, t(3)).await.unwrap()[0], a1, "stored whole");
    // Expired ones are not answered (DynamoDB's TTL deletes late).
    assert_eq!(ids(s.live_connections(ORG, t(1) + CONNECTION_TTL).await.unwrap()), ["AAAAconnA2="]);
    // A refresh moves the expiry on; another organisation's delete touches nothing of ours.
    s.put_live_connection(&LiveConnection::open(ORG, "AAAAconnA1=", "u1", t(5))).await.unwrap();
    assert_eq!(ids(s.live_connections(ORG, t(2) + CONNECTION_TTL).await.unwrap()), ["AAAAconnA1="]);
    s.delete_live_connection(OTHER, "AAAAconnA1=").await.unwrap();
    assert_eq!(s.live_connections(ORG, t(3)).await.unwrap().len(), 2);
    s.delete_live_connection(ORG, "AAAAconnA1=").await.unwrap();
    s.delete_live_connection(ORG, "AAAAconnA1=").await.unwrap();
    assert_eq!(ids(s.live_connections(ORG, t(3)).await.unwrap()), ["AAAAconnA2="]);
}

pub async fn a_conversation_opens_only_over_the_previous_one<S: Stores + ?Sized>(s: &S) {
    let c1 = stored_conversation(s, ORG, "C1", t(1)).await;
    let id = s.whatsapp_identity(ORG, &c1.customer_address).await.unwrap().unwrap();
    let c2 = conversation(ORG, "C2", &c1.customer_address, t(2));
    // The identity points at C1: opening "over none" loses, and writes nothing.
    assert_eq!(s.open_conversation(&id, None, &c2).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.conversation(ORG, "C2").await.unwrap(), None);
    assert_eq!(s.open_conversation(&id, Some("C0"), &c2).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.open_conversation(&id, Some("C1"), &c2).await.unwrap(), Written::Stored);
    assert_eq!(s.whatsapp_identity(ORG, &c1.customer_address).await.unwrap().unwrap().open_conversation_id.as_deref(), Some("C2"));
    assert_eq!(s.conversation(ORG, "C2").await.unwrap(), Some(c2.clone()));
    // An identity that does not exist cannot be pointed anywhere.
    let nobody = identity(ORG, "A9", "CU9", None);
    assert_eq!(s.open_conversation(&nobody, None, &conversation(ORG, "C9", "A9", t(3))).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.conversation(ORG, "C9").await.unwrap(), None);
}

pub async fn close_frees_the_identity_and_reopen_takes_it<S: Stores + ?Sized>(s: &S) {
    let c1 = stored_conversation(s, ORG, "C1", t(1)).await;
    let address = c1.customer_address.clone();
    assert_eq!(s.close(&c1, t(2)).await.unwrap(), Written::Stored);
    let closed = s.conversation(ORG, "C1").await.unwrap().unwrap();
    assert_eq!((closed.status, closed.closed_at, closed.version), (ConversationStatus::Closed, Some(t(2)), 2));
    assert_eq!(s.whatsapp_identity(ORG, &address).await.unwrap().unwrap().open_conversation_id, None);
    // Closing the version read before is a lost update.
    assert!(matches!(s.close(&c1, t(3)).await, Err(Error::LostUpdate(_))));

    assert_eq!(s.reopen(&closed, t(4)).await.unwrap(), Written::Stored);
    let open = s.conversation(ORG, "C1").await.unwrap().unwrap();
    assert_eq!((open.status, open.closed_at, open.version), (ConversationStatus::Open, None, 3));
    assert_eq!(s.whatsapp_identity(ORG, &address).await.unwrap().unwrap().open_conversation_id.as_deref(), Some("C1"));

    // Another conversation took the number meanwhile: C1 cannot reopen, and stays closed.
    assert_eq!(s.close(&open, t(5)).await.unwrap(), Written::Stored);
    let id = s.whatsapp_identity(ORG, &address).await.unwrap().unwrap();
    assert_eq!(s.open_conversation(&id, None, &conversation(ORG, "C2", &address, t(6))).await.unwrap(), Written::Stored);
    let closed = s.conversation(ORG, "C1").await.unwrap().unwrap();
    assert_eq!(s.reopen(&closed, t(7)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.conversation(ORG, "C1").await.unwrap(), Some(closed));
    assert_eq!(s.whatsapp_identity(ORG, &address).await.unwrap().unwrap().open_conversation_id.as_deref(), Some("C2"));
}

pub async fn a_conversation_is_saved_only_over_the_version_read<S: Stores + ?Sized>(s: &S) {
    let stored = stored_conversation(s, ORG, "C1", t(1)).await;
    let mut assigned = stored.clone();
    assigned.assignee_id = Some("agent-1".into());
    assigned.updated_at = t(2);
    assigned.version += 1;
    s.save_conversation(&assigned).await.unwrap();
    assert_eq!(s.conversation(ORG, "C1").await.unwrap(), Some(assigned.clone()));
    // A save decided on the version before loses, and changes nothing.
    let mut stale = stored.clone();
    stale.state = "chat_support".into();
    stale.version += 1;
    assert!(matches!(s.save_conversation(&stale).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.conversation(ORG, "C1").await.unwrap(), Some(assigned));
}

pub async fn conversations_list_newest_activity_first_in_pages<S: Stores + ?Sized>(s: &S) {
    for (id, at) in [("C1", 3), ("C2", 1), ("C3", 5), ("C4", 2), ("C5", 4)] {
        stored_conversation(s, ORG, id, t(at)).await;
    }
    stored_conversation(s, OTHER, "C6", t(9)).await;
    let all = ConversationFilter::default();
    let first = s.conversations(ORG, &all, &page(2, None)).await.unwrap();
    assert_eq!(ids(&first.items, |c| &c.id), ["C3", "C5"]);
    assert!(first.next_cursor.is_some(), "more remain");
    let pages = all_pages(async |cursor| s.conversations(ORG, &all, &page(2, cursor)).await).await;
    assert_eq!(page_ids(pages, conversation_id), [vec!["C3", "C5"], vec!["C1", "C4"], vec!["C2"]]);
    let short = s.conversations(ORG, &all, &page(10, None)).await.unwrap();
    assert_eq!((short.items.len(), short.next_cursor), (5, None));
}

pub async fn filtered_conversation_pages_are_filled<S: Stores + ?Sized>(s: &S) {
    let mut latest = Vec::new();
    for i in 0..6 {
        stored_conversation(s, ORG, &format!("C{i}"), t(i)).await;
        latest.push(assign(s, ORG, &format!("C{i}"), Some("agent-a"), t(10)).await);
    }
    stored_conversation(s, ORG, "C9", t(20)).await;
    for i in [3, 4] {
        assert_eq!(s.close(&latest[i], t(11)).await.unwrap(), Written::Stored);
    }
    let open_of_a = ConversationFilter { status: Some(ConversationStatus::Open), assignee_id: Some("agent-a".into()), ..Default::default() };
    // Newest first C5, C4 (closed), C3 (closed), C2, ...: the page is filled past the closed ones.
    let first = s.conversations(ORG, &open_of_a, &page(2, None)).await.unwrap();
    assert_eq!(ids(&first.items, |c| &c.id), ["C5", "C2"]);
    let pages = all_pages(async |cursor| s.conversations(ORG, &open_of_a, &page(2, cursor)).await).await;
    assert_eq!(page_ids(pages, conversation_id), [vec!["C5", "C2"], vec!["C1", "C0"]]);
    let closed = ConversationFilter { status: Some(ConversationStatus::Closed), assignee_id: None, ..Default::default() };
    assert_eq!(ids(&s.conversations(ORG, &closed, &page(10, None)).await.unwrap().items, |c| &c.id), ["C4", "C3"]);
    let open = ConversationFilter { status: Some(ConversationStatus::Open), assignee_id: None, ..Default::default() };
    assert_eq!(ids(&s.conversations(ORG, &open, &page(10, None)).await.unwrap().items, |c| &c.id), ["C9", "C5", "C2", "C1", "C0"]);
    let of_a = ConversationFilter { status: None, assignee_id: Some("agent-a".into()), ..Default::default() };
    assert_eq!(s.conversations(ORG, &of_a, &page(10, None)).await.unwrap().items.len(), 6);
}

pub async fn a_cursor_of_another_list_is_refused<S: Stores + ?Sized>(s: &S) {
    for i in 0..3 {
        stored_conversation(s, ORG, &format!("C{i}"), t(i)).await;
    }
    let all = ConversationFilter::default();
    let cursor = s.conversations(ORG, &all, &page(1, None)).await.unwrap().next_cursor.expect("a cursor");
    assert!(matches!(s.conversations(OTHER, &all, &page(1, Some(cursor.clone()))).await, Err(Error::Invalid { .. })));
    let open = ConversationFilter { status: Some(ConversationStatus::Open), assignee_id: None, ..Default::default() };
    assert!(matches!(s.conversations(ORG, &open, &page(1, Some(cursor))).await, Err(Error::Invalid { .. })));
    assert!(matches!(s.conversations(ORG, &all, &page(1, Some("not a cursor".into()))).await, Err(Error::Invalid { .. })));
}

// ------------------------------------------------------------------------------------ messages

pub async fn an_inbound_message_is_stored_once_per_wamid<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let m = inbound(&c, "M1", "wamid.in1", t(2));
    let c2 = next_version(&c);
    assert_eq!(s.record_inbound(&m, &c2).await.unwrap(), Written::Stored);
    assert_eq!(s.message(ORG, "C1", "M1").await.unwrap(), Some(m.clone()));
    assert_eq!(s.message_by_wamid(ORG, "wamid.in1").await.unwrap(), Some(m.clone()));
    // Meta delivers it again, under another id of ours: nothing changes, the conversation neither.
    let again = inbound(&c, "M2", "wamid.in1", t(2));
    assert_eq!(s.record_inbound(&again, &next_version(&c2)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.message(ORG, "C1", "M2").await.unwrap(), None);
    assert_eq!(s.conversation(ORG, "C1").await.unwrap().unwrap().version, 2);
    let mut no_wamid = inbound(&c, "M3", "x", t(3));
    no_wamid.wamid = None;
    assert!(matches!(s.record_inbound(&no_wamid, &next_version(&c2)).await, Err(Error::Invalid { .. })));
}

pub async fn an_inbound_message_over_a_changed_conversation_is_a_lost_update<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    assign(s, ORG, "C1", Some("agent-1"), t(2)).await;
    let m = inbound(&c, "M1", "wamid.in1", t(3));
    assert!(matches!(s.record_inbound(&m, &next_version(&c)).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.message(ORG, "C1", "M1").await.unwrap(), None);
    assert_eq!(s.message_by_wamid(ORG, "wamid.in1").await.unwrap(), None);
    let fresh = s.conversation(ORG, "C1").await.unwrap().unwrap();
    assert_eq!(s.record_inbound(&m, &next_version(&fresh)).await.unwrap(), Written::Stored);
}

pub async fn an_outbound_message_is_stored_once_per_idempotency_key<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let mut m = queued(&c, "M1", t(2));
    m.idempotency_key = Some("key-1".into());
    let c = record_outbound(s, &c, &m).await;
    // A retried request: a new id, the same key.
    let mut retry = queued(&c, "M2", t(3));
    retry.idempotency_key = Some("key-1".into());
    assert_eq!(s.record_outbound(&retry, &next_version(&c)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.message(ORG, "C1", "M2").await.unwrap(), None);
    assert_eq!(s.message_by_idempotency_key(ORG, "C1", "key-1").await.unwrap(), Some(m.clone()));
    // The same id again (no key) is there already too.
    let same = queued(&c, "M1", t(4));
    assert_eq!(s.record_outbound(&same, &next_version(&c)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.conversation(ORG, "C1").await.unwrap(), Some(c.clone()));
    // Keys belong to their conversation.
    let other = stored_conversation(s, ORG, "C2", t(1)).await;
    let mut elsewhere = queued(&other, "M3", t(5));
    elsewhere.idempotency_key = Some("key-1".into());
    record_outbound(s, &other, &elsewhere).await;
    assert_eq!(s.message_by_idempotency_key(ORG, "C2", "key-1").await.unwrap().map(|m| m.id), Some("M3".into()));
    assert_eq!(s.message_by_idempotency_key(ORG, "C1", "key-2").await.unwrap(), None);
    assert_eq!(s.message_by_idempotency_key(OTHER, "C1", "key-1").await.unwrap(), None);
}

pub async fn an_outbound_message_over_a_changed_conversation_writes_nothing<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    assign(s, ORG, "C1", Some("agent-1"), t(2)).await;
    let mut m = queued(&c, "M1", t(3));
    m.idempotency_key = Some("key-1".into());
    assert!(matches!(s.record_outbound(&m, &next_version(&c)).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.message(ORG, "C1", "M1").await.unwrap(), None);
    assert_eq!(s.message_by_idempotency_key(ORG, "C1", "key-1").await.unwrap(), None);
    assert!(s.queued_between(t(0), t(10), 10).await.unwrap().is_empty());
    // The key was not used up: the retry over the fresh conversation is stored.
    let fresh = s.conversation(ORG, "C1").await.unwrap().unwrap();
    assert_eq!(s.record_outbound(&m, &next_version(&fresh)).await.unwrap(), Written::Stored);
}

pub async fn messages_page_in_both_orders<S: Stores + ?Sized>(s: &S) {
    let mut c = stored_conversation(s, ORG, "C1", t(1)).await;
    for i in 1..=5 {
        c = record_outbound(s, &c, &queued(&c, &format!("M{i}"), t(i))).await;
    }
    let other = stored_conversation(s, ORG, "C2", t(1)).await;
    record_outbound(s, &other, &queued(&other, "M9", t(9))).await;
    let id = |m: &Message| m.id.clone();
    let oldest = all_pages(async |cursor| s.messages(ORG, "C1", &page(2, cursor), false).await).await;
    assert_eq!(page_ids(oldest, id), [vec!["M1", "M2"], vec!["M3", "M4"], vec!["M5"]]);
    let newest = all_pages(async |cursor| s.messages(ORG, "C1", &page(2, cursor), true).await).await;
    assert_eq!(page_ids(newest, id), [vec!["M5", "M4"], vec!["M3", "M2"], vec!["M1"]]);
    let first = s.messages(ORG, "C1", &page(3, None), false).await.unwrap();
    assert!(first.next_cursor.is_some());
    assert!(s.messages(OTHER, "C1", &page(3, None), false).await.unwrap().items.is_empty());
}

pub async fn a_send_is_recorded_once_and_indexed_by_wamid<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let m = queued(&c, "M1", t(2));
    record_outbound(s, &c, &m).await;
    assert_eq!(s.mark_sent(&m, "wamid.1", t(3), Some("fallback"), None).await.unwrap(), (Written::Stored, Vec::new()));
    let sent = s.message(ORG, "C1", "M1").await.unwrap().unwrap();
    assert_eq!(
        (sent.status, sent.wamid.as_deref(), sent.sent_at, sent.sent_as_template.as_deref()),
        (DeliveryStatus::Sent, Some("wamid.1"), Some(t(3)), Some("fallback"))
    );
    assert_eq!(s.message_by_wamid(ORG, "wamid.1").await.unwrap(), Some(sent.clone()));
    // A second sender (SQS redelivery) finds it sent and changes nothing.
    assert_eq!(s.mark_sent(&m, "wamid.2", t(4), None, None).await.unwrap(), (Written::AlreadyThere, Vec::new()));
    assert_eq!(s.message_by_wamid(ORG, "wamid.2").await.unwrap(), None);
    assert_eq!(s.message(ORG, "C1", "M1").await.unwrap(), Some(sent));
    // A message never stored is not sent.
    assert_eq!(s.mark_sent(&queued(&c, "M9", t(2)), "wamid.9", t(4), None, None).await.unwrap().0, Written::AlreadyThere);
    assert_eq!(s.message_by_wamid(ORG, "wamid.9").await.unwrap(), None);
}

pub async fn a_send_records_its_sent_event_in_the_same_write<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let sent_event = |m: &str| NewEvent::new(ORG, EventKind::MessageStatusChanged, t(3), json!({ "message_id": m, "status": "sent" }), format!("message.status#{m}#sent"));
    let feed = async || -> Vec<Value> {
        let events = s.events_after(ORG, 0, 100).await.unwrap();
        events.into_iter().filter(|e| e.kind != EventKind::Void).map(|e| e.data).collect()
    };
    let m1 = queued(&c, "M1", t(2));
    record_outbound(s, &c, &m1).await;
    assert_eq!(s.mark_sent(&m1, "wamid.1", t(3), None, Some(&sent_event("M1"))).await.unwrap(), (Written::Stored, Vec::new()));
    assert_eq!(s.message(ORG, "C1", "M1").await.unwrap().unwrap().status, DeliveryStatus::Sent);
    assert_eq!(feed().await, [json!({ "message_id": "M1", "status": "sent" })]);
    // A redelivered job records neither the send nor its event again.
    assert_eq!(s.mark_sent(&m1, "wamid.1", t(4), None, Some(&sent_event("M1"))).await.unwrap().0, Written::AlreadyThere);
    // A message never stored: no event either.
    assert_eq!(s.mark_sent(&queued(&c, "M9", t(2)), "wamid.9", t(4), None, Some(&sent_event("M9"))).await.unwrap().0, Written::AlreadyThere);
    assert_eq!(feed().await.len(), 1);
    // Meta called back first: the send, the kept status and the event all land.
    let m2 = queued(&c, "M2", t(2));
    record_outbound(s, &s.conversation(ORG, "C1").await.unwrap().unwrap(), &m2).await;
    assert_eq!(s.apply_status(ORG, "wamid.2", DeliveryStatus::Delivered, None, t(5)).await.unwrap(), Written::AlreadyThere);
    let (written, applied) = s.mark_sent(&m2, "wamid.2", t(3), None, Some(&sent_event("M2"))).await.unwrap();
    assert_eq!((written, applied.iter().map(|e| e.status).collect::<Vec<_>>()), (Written::Stored, vec![DeliveryStatus::Delivered]));
    assert_eq!(s.message(ORG, "C1", "M2").await.unwrap().unwrap().status, DeliveryStatus::Delivered);
    // The event was in the feed already (its dedupe key): the send is recorded, the event not twice.
    let m3 = queued(&c, "M3", t(2));
    record_outbound(s, &s.conversation(ORG, "C1").await.unwrap().unwrap(), &m3).await;
    assert_eq!(s.record_event(&sent_event("M3")).await.unwrap(), Written::Stored);
    assert_eq!(s.mark_sent(&m3, "wamid.3", t(3), None, Some(&sent_event("M3"))).await.unwrap(), (Written::Stored, Vec::new()));
    assert_eq!(s.message(ORG, "C1", "M3").await.unwrap().unwrap().status, DeliveryStatus::Sent);
    let ids: Vec<Value> = feed().await.into_iter().map(|d| d["message_id"].clone()).collect();
    assert_eq!(ids, [json!("M1"), json!("M2"), json!("M3")], "each once, in the order recorded");
}

pub async fn a_send_is_claimed_once_resent_at_most_once_and_released_by_its_claimant<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let m = queued(&c, "M1", t(2));
    record_outbound(s, &c, &m).await;
    // One claim: `queued` → `sending`, answered as claimed (the message as stored from then on);
    // a second claimant finds it taken and is answered the message as it stands.
    let claimed = match s.claim_send(ORG, "C1", "M1", t(3)).await.unwrap() {
        Claim::Claimed(claimed) => claimed,
        other => panic!("not claimed: {other:?}"),
    };
    assert_eq!((claimed.status, claimed.sending_at, claimed.resent_at), (DeliveryStatus::Sending, Some(t(3)), None));
    assert_eq!(claimed.outbound, m.outbound, "the content to send comes with the claim");
    assert_eq!(claimed, s.message(ORG, "C1", "M1").await.unwrap().unwrap());
    assert_eq!(s.claim_send(ORG, "C1", "M1", t(4)).await.unwrap(), Claim::Unclaimed(Some(claimed.clone())));
    // Still in the outbox until sent or failed (the lost-reply sweep skips what is not `queued`).
    assert_eq!(s.queued_between(t(0), t(9), 10).await.unwrap().len(), 1);
    // A release needs the claim as read; then it is `queued` again and can be claimed anew.
    assert_eq!(s.release_send(&m).await.unwrap(), Written::AlreadyThere, "not the claim held");
    assert_eq!(s.release_send(&claimed).await.unwrap(), Written::Stored);
    assert_eq!(s.message(ORG, "C1", "M1").await.unwrap().unwrap().status, DeliveryStatus::Queued);
    assert!(matches!(s.claim_send(ORG, "C1", "M1", t(4)).await.unwrap(), Claim::Claimed(_)));
    let claimed = s.message(ORG, "C1", "M1").await.unwrap().unwrap();
    // A resend goes over the claim as read, once.
    assert_eq!(s.claim_resend(&m, t(6)).await.unwrap(), Written::AlreadyThere, "not the claim held");
    assert_eq!(s.claim_resend(&claimed, t(6)).await.unwrap(), Written::Stored);
    assert_eq!(s.claim_resend(&claimed, t(7)).await.unwrap(), Written::AlreadyThere, "that claim is gone");
    let resent = s.message(ORG, "C1", "M1").await.unwrap().unwrap();
    assert_eq!((resent.status, resent.sending_at, resent.resent_at), (DeliveryStatus::Sending, Some(t(6)), Some(t(6))));
    assert_eq!(s.claim_resend(&resent, t(8)).await.unwrap(), Written::AlreadyThere, "never a third send");
    // A sending message is recorded sent (and leaves the outbox); claims and releases no longer apply.
    assert_eq!(s.mark_sent(&resent, "wamid.1", t(9), None, None).await.unwrap(), (Written::Stored, Vec::new()));
    assert!(s.queued_between(t(0), t(9), 10).await.unwrap().is_empty());
    let sent = s.message(ORG, "C1", "M1").await.unwrap().unwrap();
    assert_eq!(s.release_send(&sent).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.claim_send(ORG, "C1", "M1", t(10)).await.unwrap(), Claim::Unclaimed(Some(sent.clone())));
    assert_eq!(s.message(ORG, "C1", "M1").await.unwrap().unwrap().status, DeliveryStatus::Sent);
    // A message never stored is never claimed, nor created by the claim; another organisation's
    // is not found.
    assert_eq!(s.claim_send(ORG, "C1", "M9", t(3)).await.unwrap(), Claim::Unclaimed(None));
    assert_eq!(s.message(ORG, "C1", "M9").await.unwrap(), None);
    assert_eq!(s.claim_send(OTHER, "C1", "M1", t(11)).await.unwrap(), Claim::Unclaimed(None));
}

pub async fn delivery_statuses_only_move_forward<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let m = queued(&c, "M1", t(2));
    record_outbound(s, &c, &m).await;
    s.mark_sent(&m, "wamid.1", t(3), None, None).await.unwrap();
    let apply = async |status: DeliveryStatus, at: i64| s.apply_status(ORG, "wamid.1", status, None, t(at)).await.unwrap();
    assert_eq!(apply(DeliveryStatus::Sent, 4).await, Written::AlreadyThere);
    assert_eq!(apply(DeliveryStatus::Read, 6).await, Written::Stored);
    assert_eq!(apply(DeliveryStatus::Delivered, 5).await, Written::AlreadyThere, "read implies delivered");
    assert_eq!(apply(DeliveryStatus::Queued, 5).await, Written::AlreadyThere);
    let read = s.message(ORG, "C1", "M1").await.unwrap().unwrap();
    assert_eq!((read.status, read.sent_at, read.delivered_at, read.read_at), (DeliveryStatus::Read, Some(t(3)), Some(t(6)), Some(t(6))));
    let failure = FailureReason::from_meta(Some(131026), Some("undeliverable".into()), None);
    assert_eq!(s.apply_status(ORG, "wamid.1", DeliveryStatus::Failed, Some(&failure), t(7)).await.unwrap(), Written::Stored);
    assert_eq!(apply(DeliveryStatus::Failed, 8).await, Written::AlreadyThere, "failed is final");
    let failed = s.message(ORG, "C1", "M1").await.unwrap().unwrap();
    assert_eq!((failed.status, failed.failure, failed.failed_at), (DeliveryStatus::Failed, Some(failure), Some(t(7))));
}

pub async fn early_statuses_are_kept_and_applied_by_mark_sent<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let m = queued(&c, "M1", t(2));
    record_outbound(s, &c, &m).await;
    // Meta calls back before reply-sender records the send: kept, not applied.
    assert_eq!(s.apply_status(ORG, "wamid.1", DeliveryStatus::Read, None, t(5)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.apply_status(ORG, "wamid.1", DeliveryStatus::Delivered, None, t(4)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.message(ORG, "C1", "M1").await.unwrap().unwrap().status, DeliveryStatus::Queued);
    let (written, applied) = s.mark_sent(&m, "wamid.1", t(3), None, None).await.unwrap();
    assert_eq!(written, Written::Stored);
    let applied: Vec<(DeliveryStatus, DateTime<Utc>)> = applied.iter().map(|e| (e.status, e.at)).collect();
    assert_eq!(applied, [(DeliveryStatus::Delivered, t(4)), (DeliveryStatus::Read, t(5))], "in order");
    let read = s.message(ORG, "C1", "M1").await.unwrap().unwrap();
    assert_eq!((read.status, read.sent_at, read.delivered_at, read.read_at), (DeliveryStatus::Read, Some(t(3)), Some(t(4)), Some(t(5))));
    // They were applied once: another message sent under that id later gets none of them.
    let m2 = queued(&c, "M2", t(6));
    record_outbound(s, &s.conversation(ORG, "C1").await.unwrap().unwrap(), &m2).await;
    assert_eq!(s.mark_sent(&m2, "wamid.1", t(7), None, None).await.unwrap(), (Written::Stored, Vec::new()));
    // A status for another organisation's id is kept there, not applied here.
    assert_eq!(s.apply_status(OTHER, "wamid.9", DeliveryStatus::Failed, None, t(8)).await.unwrap(), Written::AlreadyThere);
}

pub async fn a_failed_message_is_final<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let m = queued(&c, "M1", t(2));
    record_outbound(s, &c, &m).await;
    let failure = FailureReason::ours("outside_customer_service_window", None);
    assert_eq!(s.mark_failed(&m, &failure, t(3)).await.unwrap(), Written::Stored);
    assert_eq!(s.mark_failed(&m, &failure, t(4)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.mark_sent(&m, "wamid.1", t(5), None, None).await.unwrap().0, Written::AlreadyThere);
    let failed = s.message(ORG, "C1", "M1").await.unwrap().unwrap();
    assert_eq!((failed.status, failed.failure, failed.failed_at, failed.wamid), (DeliveryStatus::Failed, Some(failure), Some(t(3)), None));
    assert_eq!(s.mark_failed(&queued(&c, "M9", t(2)), &FailureReason::ours("x", None), t(3)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.message(ORG, "C1", "M9").await.unwrap(), None);
}

pub async fn queued_between_finds_queued_replies_in_range_across_organisations<S: Stores + ?Sized>(s: &S) {
    let mut c = stored_conversation(s, ORG, "C1", t(1)).await;
    for (id, at) in [("M10", 10), ("M15", 15), ("M20", 20), ("M21", 21), ("M9", 9), ("SENT", 12), ("FAILED", 13)] {
        c = record_outbound(s, &c, &queued(&c, id, t(at))).await;
    }
    s.mark_sent(&queued(&c, "SENT", t(12)), "wamid.1", t(14), None, None).await.unwrap();
    s.mark_failed(&queued(&c, "FAILED", t(13)), &FailureReason::ours("x", None), t(14)).await.unwrap();
    let c = s.conversation(ORG, "C1").await.unwrap().unwrap();
    assert_eq!(s.record_inbound(&inbound(&c, "IN", "wamid.in", t(11)), &next_version(&c)).await.unwrap(), Written::Stored);
    let o = stored_conversation(s, OTHER, "C2", t(1)).await;
    record_outbound(s, &o, &queued(&o, "O12", t(12))).await;

    let mut found = ids(&s.queued_between(t(10), t(20), 10).await.unwrap(), |m| &m.id);
    found.sort();
    assert_eq!(found, ["M10", "M15", "M20", "O12"], "both bounds inclusive, only queued outbound");
}

pub async fn queued_between_respects_its_limit_per_shard<S: Stores + ?Sized>(s: &S) {
    let mut c = stored_conversation(s, ORG, "C1", t(1)).await;
    for i in 0..20 {
        c = record_outbound(s, &c, &queued(&c, &format!("M{i:02}"), t(10 + i))).await;
    }
    assert_eq!(s.queued_between(t(0), t(100), 100).await.unwrap().len(), 20);
    let one_each = s.queued_between(t(0), t(100), 1).await.unwrap();
    assert!(!one_each.is_empty() && one_each.len() <= 8, "at most one per shard: {}", one_each.len());
    // Oldest first within a shard: each one found is the oldest of its shard, so two per shard
    // find those plus one more each.
    let two_each = s.queued_between(t(0), t(100), 2).await.unwrap();
    assert!(one_each.iter().all(|m| two_each.contains(m)));
    assert!(two_each.len() > one_each.len() && two_each.len() <= 16);
}

pub async fn a_message_is_read_with_its_conversation_and_statuses<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let m1 = queued(&c, "M1", t(2));
    let c = record_outbound(s, &c, &m1).await;
    let m2 = queued(&c, "M2", t(3));
    let c = record_outbound(s, &c, &m2).await;
    s.mark_sent(&m2, "wamid.2", t(4), None, None).await.unwrap();
    let (message, conversation) = s.message_with_conversation(ORG, "C1", "M1").await.unwrap();
    assert_eq!((message, conversation), (Some(m1), Some(c.clone())));
    assert_eq!(s.message_with_conversation(ORG, "C1", "M9").await.unwrap(), (None, Some(c)));
    assert_eq!(s.message_with_conversation(OTHER, "C1", "M1").await.unwrap(), (None, None));
    let wanted = ["M1".to_string(), "M2".to_string(), "M9".to_string(), "M1".to_string()];
    let statuses = s.delivery_statuses(ORG, "C1", &wanted).await.unwrap();
    assert_eq!(statuses.len(), 2);
    assert_eq!((statuses["M1"], statuses["M2"]), (DeliveryStatus::Queued, DeliveryStatus::Sent));
    assert!(s.delivery_statuses(OTHER, "C1", &wanted).await.unwrap().is_empty());
}

// ------------------------------------------------------------------------------------- actions

pub async fn an_action_is_created_once_per_idempotency_key<S: Stores + ?Sized>(s: &S) {
    let c = conversation(ORG, "C1", "A1", t(1));
    let a1 = action(ORG, "A1", &c, "other", ActionStatus::Pending);
    assert_eq!(s.create_action(&a1, Some("key-1")).await.unwrap(), Written::Stored);
    let a2 = action(ORG, "A2", &c, "other", ActionStatus::Pending);
    assert_eq!(s.create_action(&a2, Some("key-1")).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.action(ORG, "A2").await.unwrap(), None, "nothing of the repeat is stored");
    assert_eq!(s.action_by_key(ORG, "key-1").await.unwrap(), Some(a1.clone()));
    assert_eq!(s.action_by_key(ORG, "key-2").await.unwrap(), None);
    // The same id under a new key: the key is not used up either.
    assert_eq!(s.create_action(&a1, Some("key-3")).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.action_by_key(ORG, "key-3").await.unwrap(), None);
    assert_eq!(s.create_action(&a1, None).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.create_action(&a2, None).await.unwrap(), Written::Stored);
    // Keys are per organisation.
    let theirs = action(OTHER, "A1", &c, "other", ActionStatus::Pending);
    assert_eq!(s.create_action(&theirs, Some("key-1")).await.unwrap(), Written::Stored);
}

async fn stored_actions<S: Stores + ?Sized>(s: &S) {
    let c1 = conversation(ORG, "C1", "A1", t(1));
    let c2 = conversation(ORG, "C2", "A2", t(1));
    for (id, c, kind, status) in [
        ("A1", &c1, "refund_request", ActionStatus::Pending),
        ("A2", &c1, "other", ActionStatus::Approved),
        ("A3", &c2, "refund_request", ActionStatus::Approved),
        ("A4", &c1, "refund_request", ActionStatus::Approved),
        ("A5", &c2, "other", ActionStatus::Pending),
        ("A6", &c1, "refund_request", ActionStatus::Denied),
    ] {
        assert_eq!(s.create_action(&action(ORG, id, c, kind, status), None).await.unwrap(), Written::Stored);
    }
    s.create_action(&action(OTHER, "A7", &c1, "other", ActionStatus::Pending), None).await.unwrap();
}

pub async fn actions_list_newest_first_by_filter<S: Stores + ?Sized>(s: &S) {
    stored_actions(s).await;
    let list = async |filter: ActionFilter| ids(&s.actions(ORG, &filter, &page(10, None)).await.unwrap().items, |a| &a.id);
    assert_eq!(list(ActionFilter::default()).await, ["A6", "A5", "A4", "A3", "A2", "A1"]);
    let by_conversation = ActionFilter { conversation_id: Some("C1".into()), ..Default::default() };
    assert_eq!(list(by_conversation.clone()).await, ["A6", "A4", "A2", "A1"]);
    let approved = Some(ActionStatus::Approved);
    assert_eq!(list(ActionFilter { status: approved, ..by_conversation.clone() }).await, ["A4", "A2"]);
    let refunds = Some("refund_request".to_string());
    assert_eq!(list(ActionFilter { status: approved, action_type: refunds.clone(), ..by_conversation }).await, ["A4"]);
    assert_eq!(list(ActionFilter { status: approved, ..Default::default() }).await, ["A4", "A3", "A2"]);
    assert_eq!(list(ActionFilter { status: approved, action_type: refunds.clone(), conversation_id: None }).await, ["A4", "A3"]);
    assert_eq!(list(ActionFilter { action_type: refunds, ..Default::default() }).await, ["A6", "A4", "A3", "A1"]);
    assert_eq!(list(ActionFilter { action_type: Some("none_such".into()), ..Default::default() }).await, Vec::<String>::new());
}

pub async fn action_pages_follow_cursors_and_fill_filtered_pages<S: Stores + ?Sized>(s: &S) {
    stored_actions(s).await;
    let id = |a: &Action| a.id.clone();
    let all = ActionFilter::default();
    let pages = all_pages(async |cursor| s.actions(ORG, &all, &page(4, cursor)).await).await;
    assert_eq!(page_ids(pages, id), [vec!["A6", "A5", "A4", "A3"], vec!["A2", "A1"]]);
    // In C1 (A6 A4 A2 A1) the approved ones are A4, A2: one page of 2 skips A6 and holds both.
    let approved_in_c1 = ActionFilter { status: Some(ActionStatus::Approved), conversation_id: Some("C1".into()), action_type: None };
    let first = s.actions(ORG, &approved_in_c1, &page(2, None)).await.unwrap();
    assert_eq!(ids(&first.items, |a| &a.id), ["A4", "A2"]);
    let pages = all_pages(async |cursor| s.actions(ORG, &approved_in_c1, &page(2, cursor)).await).await;
    assert_eq!(page_ids(pages, id), [vec!["A4", "A2"]]);
}

/// An action with its bubble in a stored conversation, and the decision on it.
async fn decision<S: Stores + ?Sized>(s: &S) -> (Action, DecisionWrite) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let pending = action(ORG, "A1", &c, "refund_request", ActionStatus::Pending);
    let mut bubble = message(&c, &pending.request_message_id, "internal", "received", t(1));
    bubble.content = Some(json!({ "action_id": "A1", "status": "pending" }));
    let c = record_outbound(s, &c, &bubble).await;
    s.create_action(&pending, None).await.unwrap();

    let mut decided = pending.clone();
    decided.status = ActionStatus::Approved;
    decided.version = 2;
    decided.decision = Some(Decision {
        status: ActionStatus::Approved,
        reply_text: Some("yes".into()),
        changes: None,
        previous_details: None,
        decided_by: Actor { id: "u1".into(), name: None },
        decided_at: t(2),
    });
    decided.response_message_id = Some("ANSWER".into());
    decided.answer_status = Some(AnswerStatus::Processing);
    let answer = queued(&c, "ANSWER", t(2));
    let note = message(&c, "NOTE", "internal", "received", t(2));
    let response = ActionResponse {
        action_id: "A1".into(),
        org_id: ORG.into(),
        conversation_id: c.id.clone(),
        decision: ActionStatus::Approved,
        text: "yes".into(),
        template_source: TemplateSource::Generic,
        message_id: Some("ANSWER".into()),
        status: DeliveryStatus::Queued,
        wamid: None,
        failure: None,
        created_at: t(2),
        sent_at: None,
        delivered_at: None,
        read_at: None,
        failed_at: None,
    };
    let write = DecisionWrite {
        action: decided,
        response,
        answer,
        note,
        bubble_shown: true,
        conversation: next_version(&c),
        event: NewEvent { dedupe_key: None, ..NewEvent::new(ORG, EventKind::ActionDecided, t(2), json!({ "action_id": "A1" }), "") },
        audit: None,
    };
    let by = AuditActor { user_id: "agent-1".into(), role: "agent".into() };
    let audit = by.change(t(2), ORG, (AuditEntity::Action, "A1"), "decide", &["status"], Some(&pending), Some(&write.action));
    (pending, DecisionWrite { audit, ..write })
}

pub async fn a_decision_is_saved_all_or_nothing<S: Stores + ?Sized>(s: &S) {
    let (pending, write) = decision(s).await;
    let context = s.decision_context(&pending).await.unwrap();
    assert!(context.bubble_shown);
    assert_eq!(context.conversation.as_ref().map(|c| c.version), Some(2));
    assert_eq!(context.customer.map(|c| c.id), Some(pending.customer_id.clone()));
    assert_eq!(context.templates, None);

    assert_eq!(s.save_decision(&write).await.unwrap(), Written::Stored);
    let (action, response) = s.action_with_response(ORG, "A1").await.unwrap();
    assert_eq!(action, Some(write.action.clone()));
    assert_eq!(response, Some(write.response.clone()));
    assert_eq!(s.message(ORG, "C1", "ANSWER").await.unwrap(), Some(write.answer.clone()));
    assert_eq!(s.message(ORG, "C1", "NOTE").await.unwrap(), Some(write.note.clone()));
    assert_eq!(s.conversation(ORG, "C1").await.unwrap(), Some(write.conversation.clone()));
    let bubble = s.message(ORG, "C1", &pending.request_message_id).await.unwrap().unwrap();
    let content = bubble.content.unwrap();
    assert_eq!((content["status"].as_str(), content["decision"]["reply_text"].as_str()), (Some("approved"), Some("yes")));
    assert_eq!(content["answer_status"], "processing", "decided, the answer not sent yet");
    assert_eq!(content["action_id"], "A1", "the rest of the bubble is kept");
    let feed = s.events_after(ORG, 0, 10).await.unwrap();
    assert_eq!(feed.iter().map(|e| (e.seq, e.kind)).collect::<Vec<_>>(), [(1, EventKind::ActionDecided)]);
    assert!(ids(&s.queued_between(t(0), t(10), 10).await.unwrap(), |m| &m.id).contains(&"ANSWER".to_string()));
    assert_eq!(s.audit_entries(ORG, &AuditQuery::default(), &page(10, None)).await.unwrap().items, [write.audit.clone().unwrap()], "the decision's entry, in its transaction");

    // A second decision on the pending version read before: nothing is written.
    let mut again = write.clone();
    again.action.decision.as_mut().unwrap().reply_text = Some("no".into());
    again.conversation.version += 1;
    assert_eq!(s.save_decision(&again).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.action(ORG, "A1").await.unwrap(), Some(write.action));
    assert_eq!(s.conversation(ORG, "C1").await.unwrap(), Some(write.conversation));
}

pub async fn a_decision_over_a_changed_conversation_writes_nothing_but_a_void_event<S: Stores + ?Sized>(s: &S) {
    let (pending, write) = decision(s).await;
    assign(s, ORG, "C1", Some("agent-2"), t(3)).await;
    assert_eq!(s.save_decision(&write).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.action_with_response(ORG, "A1").await.unwrap(), (Some(pending.clone()), None));
    assert_eq!(s.message(ORG, "C1", "ANSWER").await.unwrap(), None);
    assert_eq!(s.message(ORG, "C1", "NOTE").await.unwrap(), None);
    assert!(s.audit_entries(ORG, &AuditQuery::default(), &page(10, None)).await.unwrap().items.is_empty(), "no entry without its change");
    let bubble = s.message(ORG, "C1", &pending.request_message_id).await.unwrap().unwrap();
    assert_eq!(bubble.content.unwrap()["status"], "pending");
    // The feed number it took is filled, so readers do not wait for it.
    assert_eq!(s.latest_event_seq(ORG).await.unwrap(), 1);
    let feed = s.events_after(ORG, 0, 10).await.unwrap();
    assert_eq!(feed.iter().map(|e| (e.seq, e.kind)).collect::<Vec<_>>(), [(1, EventKind::Void)]);
}

pub async fn answer_statuses_only_move_forward<S: Stores + ?Sized>(s: &S) {
    let (_, write) = decision(s).await;
    s.save_decision(&write).await.unwrap();
    let action = &write.action;
    let apply = async |status: DeliveryStatus, wamid: Option<&'static str>, at: i64| s.apply_response_status(action, status, wamid, None, t(at)).await.unwrap();
    // The action and its bubble follow the record, in the same write.
    let shown = async || {
        let bubble = s.message(ORG, "C1", &action.request_message_id).await.unwrap().unwrap().content.unwrap();
        (s.action(ORG, "A1").await.unwrap().unwrap().answer_status, bubble["answer_status"].as_str().map(str::to_string))
    };
    assert_eq!(shown().await, (Some(AnswerStatus::Processing), Some("processing".into())));
    // A bubble that is not there (a create that died before writing it) holds nothing up.
    let without_bubble = Action { request_message_id: "GONE".into(), ..action.clone() };
    assert_eq!(s.apply_response_status(&without_bubble, DeliveryStatus::Sent, Some("wamid.1"), None, t(3)).await.unwrap(), Written::Stored);
    assert_eq!(shown().await, (Some(AnswerStatus::Sent), Some("processing".into())));
    assert_eq!(s.message(ORG, "C1", "GONE").await.unwrap(), None, "no bubble made up");
    assert_eq!(apply(DeliveryStatus::Delivered, Some("wamid.2"), 4).await, Written::Stored);
    assert_eq!(apply(DeliveryStatus::Sent, None, 5).await, Written::AlreadyThere);
    assert_eq!(apply(DeliveryStatus::Queued, None, 5).await, Written::AlreadyThere);
    assert_eq!(shown().await, (Some(AnswerStatus::Delivered), Some("delivered".into())), "a late sent changes nothing");
    let r = s.action_with_response(ORG, "A1").await.unwrap().1.unwrap();
    assert_eq!((r.status, r.wamid.as_deref(), r.sent_at, r.delivered_at), (DeliveryStatus::Delivered, Some("wamid.1"), Some(t(3)), Some(t(4))));
    assert_eq!(apply(DeliveryStatus::Failed, None, 6).await, Written::Stored);
    assert_eq!(apply(DeliveryStatus::Read, None, 7).await, Written::AlreadyThere);
    assert_eq!(shown().await, (Some(AnswerStatus::Failed), Some("failed".into())));
    let r = s.action_with_response(ORG, "A1").await.unwrap().1.unwrap();
    assert_eq!((r.status, r.failure.map(|f| f.reason)), (DeliveryStatus::Failed, Some("failed".to_string())));
    let unknown = Action { id: "A9".into(), ..action.clone() };
    assert_eq!(s.apply_response_status(&unknown, DeliveryStatus::Read, None, None, t(8)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.action_with_response(ORG, "A9").await.unwrap(), (None, None));
}

pub async fn response_templates_are_versioned<S: Stores + ?Sized>(s: &S) {
    let mut v1 = ResponseTemplates::empty(ORG, t(1));
    v1.version = 1;
    v1.custom_types = vec!["warranty".into()];
    assert_eq!(s.save_response_templates(&v1, None).await.unwrap(), Written::Stored);
    assert_eq!(s.save_response_templates(&v1, None).await.unwrap(), Written::AlreadyThere, "new only once");
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.custom_types.push("loan".into());
    assert_eq!(s.save_response_templates(&v2, None).await.unwrap(), Written::Stored);
    assert_eq!(s.save_response_templates(&v2, None).await.unwrap(), Written::AlreadyThere, "someone saved in between");
    let mut v4 = v2.clone();
    v4.version = 4;
    assert_eq!(s.save_response_templates(&v4, None).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.response_templates(ORG).await.unwrap(), Some(v2));
    assert_eq!(s.response_templates(OTHER).await.unwrap(), None);
}

// -------------------------------------------------------------------------------------- events

pub async fn events_are_numbered_in_order_and_deduplicated<S: Stores + ?Sized>(s: &S) {
    assert_eq!(s.latest_event_seq(ORG).await.unwrap(), 0);
    let written = s.record_events(&[event(ORG, "E1"), event(ORG, "E2"), event(ORG, "E3")]).await.unwrap();
    assert_eq!(written, [Written::Stored; 3]);
    assert_eq!(s.record_event(&event(ORG, "E2")).await.unwrap(), Written::AlreadyThere);
    let mut without_key = event(ORG, "E4");
    without_key.dedupe_key = None;
    assert_eq!(s.record_event(&without_key).await.unwrap(), Written::Stored);
    assert_eq!(s.record_event(&without_key).await.unwrap(), Written::Stored, "no key, no deduplication");
    assert_eq!(s.record_events(&[]).await.unwrap(), Vec::<Written>::new());
    let feed = s.events_after(ORG, 0, 100).await.unwrap();
    let seen: Vec<(u64, Option<&str>)> = feed.iter().map(|e| (e.seq, e.data["key"].as_str())).collect();
    assert_eq!(seen, [(1, Some("E1")), (2, Some("E2")), (3, Some("E3")), (4, None), (5, Some("E4")), (6, Some("E4"))]);
    assert_eq!(feed[3].kind, EventKind::Void, "the repeat's number is filled");
    assert_eq!(s.latest_event_seq(ORG).await.unwrap(), 6);
}

pub async fn a_repeated_event_leaves_a_void_number<S: Stores + ?Sized>(s: &S) {
    s.record_event(&event(ORG, "E1")).await.unwrap();
    // A retried job: one event recorded before, one new. The new one takes the first number.
    let written = s.record_events(&[event(ORG, "E1"), event(ORG, "E2")]).await.unwrap();
    assert_eq!(written, [Written::AlreadyThere, Written::Stored]);
    let feed = s.events_after(ORG, 1, 10).await.unwrap();
    let seen: Vec<(u64, EventKind, Option<&str>)> = feed.iter().map(|e| (e.seq, e.kind, e.data["key"].as_str())).collect();
    assert_eq!(seen, [(2, EventKind::MessageStatusChanged, Some("E2")), (3, EventKind::Void, None)]);
    assert_eq!(s.record_events(&[event(ORG, "E1"), event(ORG, "E2")]).await.unwrap(), [Written::AlreadyThere; 2]);
    assert_eq!(s.latest_event_seq(ORG).await.unwrap(), 5);
    assert!(s.events_after(ORG, 3, 10).await.unwrap().iter().all(|e| e.kind == EventKind::Void));
}

pub async fn events_after_respects_position_limit_and_organisation<S: Stores + ?Sized>(s: &S) {
    let batch: Vec<NewEvent> = (1..=12).map(|i| event(ORG, &format!("E{i}"))).collect();
    s.record_events(&batch).await.unwrap();
    s.record_event(&event(OTHER, "X1")).await.unwrap();
    let seqs = |events: Vec<crate::domain::event::DashboardEvent>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(s.events_after(ORG, 0, 3).await.unwrap()), [1, 2, 3]);
    assert_eq!(seqs(s.events_after(ORG, 9, 10).await.unwrap()), [10, 11, 12]);
    assert_eq!(seqs(s.events_after(ORG, 12, 10).await.unwrap()), Vec::<u64>::new());
    assert_eq!(seqs(s.events_after(OTHER, 0, 10).await.unwrap()), [1]);
    assert_eq!((s.latest_event_seq(ORG).await.unwrap(), s.latest_event_seq(OTHER).await.unwrap()), (12, 1));
    let recorded = &s.events_after(ORG, 4, 1).await.unwrap()[0];
    assert_eq!((recorded.org_id.as_str(), recorded.at, recorded.data["key"].as_str()), (ORG, t(5), Some("E5")));
}

pub async fn events_of_two_organisations_in_one_call_are_refused<S: Stores + ?Sized>(s: &S) {
    assert!(s.record_events(&[event(ORG, "E1"), event(OTHER, "E2")]).await.is_err());
    assert_eq!(s.record_event(&event(ORG, "E1")).await.unwrap(), Written::Stored, "nothing of the refused call was kept");
    assert_eq!(s.record_event(&event(OTHER, "E2")).await.unwrap(), Written::Stored);
}

pub async fn feed_waiters_are_capped_per_organisation_and_free_themselves<S: Stores + ?Sized>(s: &S) {
    let until = |minutes| t(minutes);
    assert_eq!(s.take_wait_place(ORG, "r1", t(0), until(1), 2).await.unwrap(), WaitPlace::Taken);
    assert_eq!(s.take_wait_place(ORG, "r2", t(0), until(2), 2).await.unwrap(), WaitPlace::Taken);
    // Full: the answer says when the first place frees itself; the holders may take theirs again.
    assert_eq!(s.take_wait_place(ORG, "r3", t(0), until(1), 2).await.unwrap(), WaitPlace::Full { frees_at: until(1) });
    assert_eq!(s.take_wait_place(ORG, "r1", t(0), until(1), 2).await.unwrap(), WaitPlace::Taken);
    // Another organisation's places are its own.
    assert_eq!(s.take_wait_place(OTHER, "x1", t(0), until(1), 2).await.unwrap(), WaitPlace::Taken);
    // A reader that leaves frees its place; leaving twice (or without a place) is harmless.
    s.leave_wait_place(ORG, "r2").await.unwrap();
    s.leave_wait_place(ORG, "r2").await.unwrap();
    s.leave_wait_place(OTHER, "nobody").await.unwrap();
    s.leave_wait_place("o-without-waiters", "nobody").await.unwrap();
    assert_eq!(s.take_wait_place(ORG, "r3", t(0), until(1), 2).await.unwrap(), WaitPlace::Taken);
    assert!(matches!(s.take_wait_place(ORG, "r4", t(0), until(1), 2).await.unwrap(), WaitPlace::Full { .. }));
    // A place past its time (a reader that died) is free.
    assert_eq!(s.take_wait_place(ORG, "r4", t(1), until(3), 2).await.unwrap(), WaitPlace::Taken);
}

// --------------------------------------------------------------------------------- interactions

pub async fn an_interaction_is_created_once_per_idempotency_key<S: Stores + ?Sized>(s: &S) {
    let i1 = interaction(ORG, "I1", "CU1", t(10), "pending");
    assert_eq!(s.create_interaction(&i1, Some("key-1")).await.unwrap(), i1);
    let i2 = interaction(ORG, "I2", "CU1", t(20), "pending");
    assert_eq!(s.create_interaction(&i2, Some("key-1")).await.unwrap(), i1, "the repeat gets the first");
    assert_eq!(s.interaction(ORG, "I2").await.unwrap(), None);
    assert!(matches!(s.create_interaction(&i1, None).await, Err(Error::Conflict { .. })));
    assert_eq!(s.create_interaction(&i2, None).await.unwrap(), i2);
    // Keys are per organisation.
    let theirs = interaction(OTHER, "I3", "CU1", t(10), "pending");
    assert_eq!(s.create_interaction(&theirs, Some("key-1")).await.unwrap(), theirs);
}

pub async fn an_interaction_save_refuses_a_lost_update<S: Stores + ?Sized>(s: &S) {
    let i = interaction(ORG, "I1", "CU1", t(10), "pending");
    s.create_interaction(&i, None).await.unwrap();
    let mut started = i.clone();
    started.status = InteractionStatus::InProgress;
    started.version = 2;
    s.save_interaction(&started).await.unwrap();
    // Another writer saving over version 1 too loses.
    let mut cancelled = i.clone();
    cancelled.status = InteractionStatus::Cancelled;
    cancelled.version = 2;
    assert!(matches!(s.save_interaction(&cancelled).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.interaction(ORG, "I1").await.unwrap(), Some(started));
    let mut never = interaction(ORG, "I9", "CU1", t(10), "pending");
    never.version = 2;
    assert!(matches!(s.save_interaction(&never).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.interaction(ORG, "I9").await.unwrap(), None);
}

pub async fn store_if_absent_stores_once<S: Stores + ?Sized>(s: &S) {
    let next = interaction(ORG, "NEXT", "CU1", t(10), "pending");
    assert_eq!(s.store_if_absent(&next).await.unwrap(), Written::Stored);
    let mut other = next.clone();
    other.title = "another".into();
    assert_eq!(s.store_if_absent(&other).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.interaction(ORG, "NEXT").await.unwrap(), Some(next));
}

async fn stored_interactions<S: Stores + ?Sized>(s: &S) {
    let mut high = interaction(ORG, "I3", "CU1", t(30), "in_progress");
    high.priority = Priority::High;
    let mut email = interaction(ORG, "I4", "CU1", t(40), "cancelled");
    email.kind = from_json(json!("email"));
    for i in [
        interaction(ORG, "I1", "CU1", t(10), "pending"),
        interaction(ORG, "I2", "CU1", t(20), "completed"),
        high,
        email,
        interaction(ORG, "I5", "CU2", t(50), "pending"),
        interaction(OTHER, "I6", "CU1", t(5), "pending"),
    ] {
        assert_eq!(s.store_if_absent(&i).await.unwrap(), Written::Stored);
    }
}

pub async fn interactions_list_by_index_filter_and_order<S: Stores + ?Sized>(s: &S) {
    stored_interactions(s).await;
    let list = async |filter: InteractionFilter| ids(&s.interactions(ORG, &filter, &page(20, None)).await.unwrap().items, |i| &i.id);
    let of = |customer: &str| InteractionFilter { customer_id: Some(customer.into()), ..Default::default() };
    assert_eq!(list(InteractionFilter::default()).await, ["I1", "I2", "I3", "I4", "I5"], "soonest due first");
    assert_eq!(list(InteractionFilter { newest_first: true, ..Default::default() }).await, ["I5", "I4", "I3", "I2", "I1"]);
    assert_eq!(list(InteractionFilter { open_only: true, ..Default::default() }).await, ["I1", "I3", "I5"]);
    assert_eq!(list(InteractionFilter { status: Some(InteractionStatus::Completed), ..Default::default() }).await, ["I2"]);
    assert_eq!(list(InteractionFilter { status: Some(InteractionStatus::Pending), ..Default::default() }).await, ["I1", "I5"]);
    assert_eq!(list(InteractionFilter { priority: Some(Priority::High), ..Default::default() }).await, ["I3"]);
    assert_eq!(list(InteractionFilter { kind: Some(from_json(json!("email"))), ..Default::default() }).await, ["I4"]);
    let window = InteractionFilter { due_after: Some(t(20)), due_before: Some(t(40)), ..Default::default() };
    assert_eq!(list(window.clone()).await, ["I2", "I3"], "due_after inclusive, due_before exclusive");
    // A customer's partition holds the closed ones, then the open ones, each by due date.
    assert_eq!(list(of("CU1")).await, ["I2", "I4", "I1", "I3"]);
    assert_eq!(list(InteractionFilter { open_only: true, ..of("CU1") }).await, ["I1", "I3"]);
    assert_eq!(list(InteractionFilter { status: Some(InteractionStatus::Completed), ..of("CU1") }).await, ["I2"]);
    assert_eq!(list(InteractionFilter { customer_id: Some("CU1".into()), ..window }).await, ["I2", "I3"]);
    let overdue = InteractionFilter { open_only: true, due_before: Some(t(30)), customer_id: Some("CU1".into()), ..Default::default() };
    assert_eq!(list(overdue).await, ["I1"]);
    assert_eq!(list(of("CU9")).await, Vec::<String>::new());
}

pub async fn filtered_interaction_pages_are_filled_like_dynamodb<S: Stores + ?Sized>(s: &S) {
    for n in 1..=10 {
        let mut i = interaction(ORG, &format!("I{n:02}"), "CU1", t(n), "pending");
        if [2, 7, 9].contains(&n) {
            i.priority = Priority::High;
        }
        s.store_if_absent(&i).await.unwrap();
    }
    let high = InteractionFilter { priority: Some(Priority::High), ..Default::default() };
    // Each call reads as many as the page still wants; five calls at most: I01..I06 give one.
    let first = s.interactions(ORG, &high, &page(2, None)).await.unwrap();
    assert_eq!(ids(&first.items, |i| &i.id), ["I02"]);
    assert!(first.next_cursor.is_some(), "a short page still has its cursor");
    let pages = all_pages(async |cursor| s.interactions(ORG, &high, &page(2, cursor)).await).await;
    assert_eq!(page_ids(pages, |i: &Interaction| i.id.clone()), [vec!["I02"], vec!["I07", "I09"]]);
    let pages = all_pages(async |cursor| s.interactions(ORG, &InteractionFilter::default(), &page(4, cursor)).await).await;
    assert_eq!(pages.concat().len(), 10);
}

pub async fn open_interactions_are_soonest_due_first<S: Stores + ?Sized>(s: &S) {
    stored_interactions(s).await;
    let open = s.open_interactions(ORG, "CU1", None, &page(10, None)).await.unwrap();
    assert_eq!((ids(&open.items, |i| &i.id), open.next_cursor), (vec!["I1".to_string(), "I3".to_string()], None));
    let overdue = s.open_interactions(ORG, "CU1", Some(t(30)), &page(10, None)).await.unwrap();
    assert_eq!(ids(&overdue.items, |i| &i.id), ["I1"], "due_before is exclusive");
    let first = s.open_interactions(ORG, "CU1", None, &page(1, None)).await.unwrap();
    assert_eq!(ids(&first.items, |i| &i.id), ["I1"]);
    let second = s.open_interactions(ORG, "CU1", None, &page(1, first.next_cursor)).await.unwrap();
    assert_eq!(ids(&second.items, |i| &i.id), ["I3"]);
    assert!(s.open_interactions(OTHER, "CU2", None, &page(10, None)).await.unwrap().items.is_empty());
}

pub async fn owed_next_steps_are_completions_in_range_across_organisations<S: Stores + ?Sized>(s: &S) {
    let done = |org: &str, id: &str, at: i64| interaction(org, id, "CU1", t(at), "completed");
    let mut linked = done(ORG, "LINKED", 15);
    linked.next_interaction_id = Some("NEXT".into());
    let mut ended = done(ORG, "ENDED", 15);
    ended.chain_ended = true;
    let skipped = interaction(ORG, "SKIPPED", "CU1", t(16), "skipped");
    for i in [
        done(ORG, "AT_FROM", 10),
        done(ORG, "MIDDLE", 14),
        done(ORG, "AT_TO", 20),
        done(ORG, "BEFORE", 9),
        done(OTHER, "THEIRS", 12),
        linked,
        ended,
        skipped,
        interaction(ORG, "OPEN", "CU1", t(15), "pending"),
        interaction(ORG, "CANCELLED", "CU1", t(15), "cancelled"),
    ] {
        s.store_if_absent(&i).await.unwrap();
    }
    let owed = s.owed_next_steps(t(10), t(20), 10).await.unwrap();
    assert_eq!(ids(&owed, |i| &i.id), ["AT_FROM", "THEIRS", "MIDDLE", "SKIPPED"], "completed in [from, to), oldest first");
    assert_eq!(ids(&s.owed_next_steps(t(10), t(20), 2).await.unwrap(), |i| &i.id), ["AT_FROM", "THEIRS"]);
    // Linking the next step takes it off the list.
    let mut middle = s.interaction(ORG, "MIDDLE").await.unwrap().unwrap();
    middle.next_interaction_id = Some("NEXT2".into());
    middle.version += 1;
    s.save_interaction(&middle).await.unwrap();
    assert_eq!(ids(&s.owed_next_steps(t(10), t(20), 10).await.unwrap(), |i| &i.id), ["AT_FROM", "THEIRS", "SKIPPED"]);
}

// ------------------------------------------------------------------------------------ workflows

pub async fn workflow_templates_are_versioned_with_one_default<S: Stores + ?Sized>(s: &S) {
    let a = workflow_template(ORG, "WA", true, 1, 1);
    assert_eq!(s.put_workflow_template(&a).await.unwrap(), Written::Stored);
    assert_eq!(s.put_workflow_template(&a).await.unwrap(), Written::AlreadyThere, "new only once");
    let b = workflow_template(ORG, "WB", true, 1, 2);
    assert_eq!(s.put_workflow_template(&b).await.unwrap(), Written::Stored);
    let catalog = s.workflow_catalog(ORG).await.unwrap();
    assert_eq!(catalog.default_template_id.as_deref(), Some("WB"));
    let flags: Vec<(&str, bool)> = catalog.templates.iter().map(|t| (t.id.as_str(), t.is_default)).collect();
    assert_eq!(flags, [("WA", false), ("WB", true)], "one default, oldest first");
    assert!(!s.workflow_template(ORG, "WA").await.unwrap().unwrap().is_default);
    assert!(s.workflow_template(ORG, "WB").await.unwrap().unwrap().is_default);

    let mut b2 = b.clone();
    b2.version = 2;
    b2.is_default = false;
    b2.name = "renamed".into();
    assert_eq!(s.put_workflow_template(&b2).await.unwrap(), Written::Stored);
    assert_eq!(s.put_workflow_template(&b2).await.unwrap(), Written::AlreadyThere, "changed meanwhile");
    let catalog = s.workflow_catalog(ORG).await.unwrap();
    assert_eq!(catalog.default_template_id, None);
    assert_eq!(catalog.template("WB").map(|t| t.name.as_str()), Some("renamed"));
    assert!(catalog.templates.iter().all(|t| !t.is_default));
    assert_eq!(s.workflow_template(OTHER, "WA").await.unwrap(), None);
    assert!(s.workflow_catalog(OTHER).await.unwrap().templates.is_empty());
}

pub async fn workflow_templates_are_seeded_once_all_or_nothing<S: Stores + ?Sized>(s: &S) {
    let seeds = [workflow_template(ORG, "S1", false, 1, 1), workflow_template(ORG, "S2", false, 1, 2)];
    assert!(!s.workflow_catalog(ORG).await.unwrap().seeded);
    assert_eq!(s.seed_workflow_templates(ORG, &seeds).await.unwrap(), Written::Stored);
    assert_eq!(s.seed_workflow_templates(ORG, &seeds).await.unwrap(), Written::AlreadyThere);
    let catalog = s.workflow_catalog(ORG).await.unwrap();
    assert!(catalog.seeded);
    assert_eq!(ids(&catalog.templates, |t| &t.id), ["S1", "S2"]);
    assert_eq!(catalog.settings, InteractionSettings::default());

    // One of them exists already: none is stored, and the organisation is not marked seeded.
    s.put_workflow_template(&workflow_template(OTHER, "S1", false, 1, 1)).await.unwrap();
    let theirs = [workflow_template(OTHER, "S1", false, 1, 1), workflow_template(OTHER, "S3", false, 1, 3)];
    assert_eq!(s.seed_workflow_templates(OTHER, &theirs).await.unwrap(), Written::AlreadyThere);
    let catalog = s.workflow_catalog(OTHER).await.unwrap();
    assert_eq!((catalog.seeded, ids(&catalog.templates, |t| &t.id)), (false, vec!["S1".to_string()]));

    let settings: InteractionSettings = from_json(json!({ "default_follow_up_days": 5, "time_zone": "Europe/Paris" }));
    s.save_interaction_settings(ORG, &settings, None).await.unwrap();
    assert_eq!(s.workflow_catalog(ORG).await.unwrap().settings, settings);
    assert_eq!(s.workflow_catalog(OTHER).await.unwrap().settings, InteractionSettings::default());
}

// -------------------------------------------------------------------------------------- support

fn counts_of(counts: &crate::domain::support::TicketCounts, statuses: &[TicketStatus]) -> i64 {
    counts.total(&TicketFilter { statuses: statuses.to_vec(), ..Default::default() })
}

pub async fn a_ticket_is_saved_with_its_counters<S: Stores + ?Sized>(s: &S) {
    let t1 = ticket(ORG, "T1", TicketPriority::High);
    assert_eq!(s.save_ticket(&new_ticket(&t1)).await.unwrap(), Written::Stored);
    assert_eq!(s.save_ticket(&new_ticket(&t1)).await.unwrap(), Written::AlreadyThere, "new only once");
    s.save_ticket(&new_ticket(&ticket(ORG, "T2", TicketPriority::Low))).await.unwrap();
    let counts = s.ticket_counts(ORG).await.unwrap();
    assert_eq!((counts_of(&counts, &[TicketStatus::Open]), counts_of(&counts, &[])), (2, 2), "counted once");
    assert_eq!(counts.total(&TicketFilter { priority: Some(TicketPriority::High), ..Default::default() }), 1);

    let mut taken = t1.clone();
    taken.status = TicketStatus::InProgress;
    taken.assigned_admin_id = Some("admin-1".into());
    taken.version = 2;
    let write = TicketWrite { before: Some(&t1), after: &taken, message: None, conversation: None, daily_cap: None, audit: None };
    assert_eq!(s.save_ticket(&write).await.unwrap(), Written::Stored);
    // Another admin saving over the version read before loses, and moves no counter.
    let mut closed = t1.clone();
    closed.status = TicketStatus::Closed;
    closed.version = 2;
    let stale = TicketWrite { before: Some(&t1), after: &closed, message: None, conversation: None, daily_cap: None, audit: None };
    assert!(matches!(s.save_ticket(&stale).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.ticket(ORG, "T1").await.unwrap(), Some(taken));
    let counts = s.ticket_counts(ORG).await.unwrap();
    let by_status = [TicketStatus::Open, TicketStatus::InProgress, TicketStatus::Closed].map(|st| counts_of(&counts, &[st]));
    assert_eq!(by_status, [1, 1, 0]);
    let mine = TicketFilter { statuses: TicketStatus::ACTIVE.to_vec(), assigned: Some(Assigned::To("admin-1".into())), priority: None };
    let nobody = TicketFilter { assigned: Some(Assigned::Nobody), ..TicketFilter::open_list() };
    assert_eq!((counts.total(&mine), counts.total(&nobody)), (1, 1));
}

pub async fn a_ticket_write_with_a_known_message_writes_nothing<S: Stores + ?Sized>(s: &S) {
    let t1 = ticket(ORG, "T1", TicketPriority::Medium);
    let m1 = ticket_message(&t1, "TM1", t(1));
    assert_eq!(s.save_ticket(&TicketWrite { message: Some(&m1), ..new_ticket(&t1) }).await.unwrap(), Written::Stored);
    let mut answered = t1.clone();
    answered.status = TicketStatus::InProgress;
    answered.message_count = 2;
    answered.version = 2;
    // The same message again (a redelivered job): nothing changes, counters neither.
    let again = TicketWrite { before: Some(&t1), after: &answered, message: Some(&m1), conversation: None, daily_cap: None, audit: None };
    assert_eq!(s.save_ticket(&again).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.ticket(ORG, "T1").await.unwrap(), Some(t1.clone()));
    assert_eq!(counts_of(&s.ticket_counts(ORG).await.unwrap(), &[TicketStatus::InProgress]), 0);
    let m2 = ticket_message(&t1, "TM2", t(2));
    let next = TicketWrite { before: Some(&t1), after: &answered, message: Some(&m2), conversation: None, daily_cap: None, audit: None };
    assert_eq!(s.save_ticket(&next).await.unwrap(), Written::Stored);
    assert_eq!(counts_of(&s.ticket_counts(ORG).await.unwrap(), &[TicketStatus::InProgress]), 1);
}

pub async fn a_ticket_write_over_a_changed_conversation_writes_nothing<S: Stores + ?Sized>(s: &S) {
    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let t1 = ticket(ORG, "T1", TicketPriority::Medium);
    let mut with_ticket = next_version(&c);
    with_ticket.ticket_id = Some("T1".into());
    assign(s, ORG, "C1", Some("agent-1"), t(2)).await;
    let m1 = ticket_message(&t1, "TM1", t(1));
    let write = TicketWrite { before: None, after: &t1, message: Some(&m1), conversation: Some(&with_ticket), daily_cap: None, audit: None };
    assert!(matches!(s.save_ticket(&write).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.ticket(ORG, "T1").await.unwrap(), None);
    assert!(s.ticket_messages(ORG, "T1", &page(10, None)).await.unwrap().items.is_empty());
    assert_eq!(counts_of(&s.ticket_counts(ORG).await.unwrap(), &[]), 0);
    let fresh = s.conversation(ORG, "C1").await.unwrap().unwrap();
    let mut with_ticket = next_version(&fresh);
    with_ticket.ticket_id = Some("T1".into());
    let retry = TicketWrite { conversation: Some(&with_ticket), ..write };
    assert_eq!(s.save_ticket(&retry).await.unwrap(), Written::Stored);
    assert_eq!(s.conversation(ORG, "C1").await.unwrap(), Some(with_ticket));
}

pub async fn a_customers_daily_ticket_cap_lets_one_of_two_racing_opens_through<S: Stores + ?Sized>(s: &S) {
    // GIVEN a customer with one ticket of a daily cap of 2 opened today
    let cap = DailyTicketCap { customer_id: "CU1".into(), day: "2026-12-06".into(), limit: 2 };
    let t1 = ticket(ORG, "T1", TicketPriority::Medium);
    assert_eq!(s.save_ticket(&TicketWrite { daily_cap: Some(&cap), ..new_ticket(&t1) }).await.unwrap(), Written::Stored);
    // WHEN two more open at the same moment
    let (t2, t3) = (ticket(ORG, "T2", TicketPriority::Medium), ticket(ORG, "T3", TicketPriority::Medium));
    let (w2, w3) = (TicketWrite { daily_cap: Some(&cap), ..new_ticket(&t2) }, TicketWrite { daily_cap: Some(&cap), ..new_ticket(&t3) });
    let (a, b) = futures::join!(s.save_ticket(&w2), s.save_ticket(&w3));
    // THEN exactly one is stored; the other is refused with the cap's error and left no trace
    let stored: Vec<bool> = [&a, &b].iter().map(|r| matches!(r, Ok(Written::Stored))).collect();
    assert_eq!(stored.iter().filter(|x| **x).count(), 1, "{a:?} / {b:?}");
    let refused = if stored[0] { (&b, "T3") } else { (&a, "T2") };
    assert!(refused.0.as_ref().is_err_and(crate::domain::support::is_daily_limit_reached), "{:?}", refused.0);
    assert_eq!(s.ticket(ORG, refused.1).await.unwrap(), None);
    assert_eq!(counts_of(&s.ticket_counts(ORG).await.unwrap(), &[]), 2);
    // AND a repeat of a stored ticket is still just already there, not a limit
    assert_eq!(s.save_ticket(&TicketWrite { daily_cap: Some(&cap), ..new_ticket(&t1) }).await.unwrap(), Written::AlreadyThere);
    // AND another customer, or the next day, counts on its own
    let other = DailyTicketCap { customer_id: "CU2".into(), ..cap.clone() };
    let t4 = ticket(ORG, "T4", TicketPriority::Medium);
    assert_eq!(s.save_ticket(&TicketWrite { daily_cap: Some(&other), ..new_ticket(&t4) }).await.unwrap(), Written::Stored);
    let tomorrow = DailyTicketCap { day: "2026-12-07".into(), ..cap.clone() };
    let t5 = ticket(ORG, "T5", TicketPriority::Medium);
    assert_eq!(s.save_ticket(&TicketWrite { daily_cap: Some(&tomorrow), ..new_ticket(&t5) }).await.unwrap(), Written::Stored);
}

pub async fn tickets_are_found_by_external_ref_newest_first<S: Stores + ?Sized>(s: &S) {
    let with_ref = |id: &str, r: Option<&str>| SupportTicket { external_ref: r.map(str::to_string), ..ticket(ORG, id, TicketPriority::Low) };
    for (id, r) in [("T1", Some("S-1")), ("T2", Some("S-1")), ("T3", Some("S-2")), ("T4", None)] {
        s.save_ticket(&new_ticket(&with_ref(id, r))).await.unwrap();
    }
    s.save_ticket(&new_ticket(&SupportTicket { external_ref: Some("S-1".into()), ..ticket(OTHER, "T9", TicketPriority::Low) })).await.unwrap();
    assert_eq!(s.ticket_ids_by_external_ref(ORG, "S-1").await.unwrap(), ["T2", "T1"]);
    assert_eq!(s.ticket_ids_by_external_ref(ORG, "S-3").await.unwrap(), Vec::<String>::new());
    assert_eq!(s.ticket_ids_by_external_ref(OTHER, "S-2").await.unwrap(), Vec::<String>::new());
    // A reference cleared (or changed) moves the ticket out of the reference's list.
    let before = with_ref("T2", Some("S-1"));
    let mut after = before.clone();
    after.set_external_ref(None, t(5));
    after.version += 1;
    s.save_ticket(&TicketWrite { before: Some(&before), ..new_ticket(&after) }).await.unwrap();
    assert_eq!(s.ticket_ids_by_external_ref(ORG, "S-1").await.unwrap(), ["T1"]);
    let found = s.tickets_by_id(ORG, &["T3".into(), "TX".into(), "T1".into(), "T9".into()]).await.unwrap();
    assert_eq!(found.iter().map(|t_| t_.id.as_str()).collect::<Vec<_>>(), ["T3", "T1"], "in the order asked; missing and other organisations' left out");
}

/// Saves a change of ticket `id` (its priority) by `actor` at `at`, with its audit entry.
async fn audited_change<S: Stores + ?Sized>(s: &S, org: &str, id: &str, actor: &str, at: DateTime<Utc>, to: TicketPriority) -> AuditEntry {
    let before = s.ticket(org, id).await.unwrap().expect("the ticket");
    let mut after = before.clone();
    after.set_priority(to, at).unwrap();
    after.version += 1;
    let who = AuditActor { user_id: actor.into(), role: "admin".into() };
    let fields = crate::domain::support::AUDITED_FIELDS;
    let entry = AuditEntry::of_change(format!("E{}{id}{actor}", at.timestamp()), org, at, &who, AuditEntity::Ticket, id, "update", &fields, Some(&before), Some(&after)).unwrap();
    let write = TicketWrite { before: Some(&before), audit: Some(&entry), ..new_ticket(&after) };
    assert_eq!(s.save_ticket(&write).await.unwrap(), Written::Stored);
    entry
}

pub async fn audit_entries_come_with_their_change_and_are_read_by_actor_entity_and_time<S: Stores + ?Sized>(s: &S) {
    for (org, id) in [(ORG, "T1"), (ORG, "T2"), (OTHER, "T1")] {
        s.save_ticket(&new_ticket(&ticket(org, id, TicketPriority::Low))).await.unwrap();
    }
    let e1 = audited_change(s, ORG, "T1", "u1", t(60), TicketPriority::High).await;
    let e2 = audited_change(s, ORG, "T2", "u2", t(120), TicketPriority::Urgent).await;
    let e3 = audited_change(s, ORG, "T1", "u2", t(180), TicketPriority::Medium).await;
    let theirs = audited_change(s, OTHER, "T1", "u1", t(90), TicketPriority::High).await;
    // Every page of a query, two entries a page.
    let read = async |q: AuditQuery| -> Vec<AuditEntry> {
        all_pages(async |cursor| s.audit_entries(ORG, &q, &page(2, cursor)).await).await.concat()
    };
    let ids = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    // The entry is stored with its change, before and after the changed field only.
    let all = read(AuditQuery::default()).await;
    assert_eq!(all[2], e1);
    assert_eq!(e1.changes.keys().collect::<Vec<_>>(), ["priority"]);
    assert_eq!((e1.changes["priority"].before.clone(), e1.changes["priority"].after.clone()), (json!("LOW"), json!("HIGH")));
    // Newest first, by organisation, actor, entity (with an actor), entity type, time.
    assert_eq!(ids(all), [e3.id.clone(), e2.id.clone(), e1.id.clone()]);
    assert_eq!(ids(read(AuditQuery { actor: Some("u2".into()), ..Default::default() }).await), [e3.id.clone(), e2.id.clone()]);
    let t1 = EntityFilter { entity_type: AuditEntity::Ticket, entity_id: Some("T1".into()) };
    assert_eq!(ids(read(AuditQuery { entity: Some(t1.clone()), ..Default::default() }).await), [e3.id.clone(), e1.id.clone()]);
    assert_eq!(ids(read(AuditQuery { entity: Some(t1), actor: Some("u1".into()), ..Default::default() }).await), [e1.id.clone()]);
    let tickets = EntityFilter { entity_type: AuditEntity::Ticket, entity_id: None };
    assert_eq!(read(AuditQuery { entity: Some(tickets), ..Default::default() }).await.len(), 3);
    let actions = EntityFilter { entity_type: AuditEntity::Action, entity_id: None };
    assert!(read(AuditQuery { entity: Some(actions), ..Default::default() }).await.is_empty());
    // `from` inclusive, `to` exclusive.
    let window = AuditQuery { from: Some(t(120)), to: Some(t(180)), ..Default::default() };
    assert_eq!(ids(read(window).await), [e2.id.clone()]);
    // Another organisation's are its own.
    assert_eq!(s.audit_entries(OTHER, &AuditQuery::default(), &page(10, None)).await.unwrap().items, [theirs]);
}

pub async fn tickets_list_newest_first_filtered_in_pages<S: Stores + ?Sized>(s: &S) {
    let plan = [
        ("T1", TicketPriority::High, TicketStatus::Open, None),
        ("T2", TicketPriority::Low, TicketStatus::Closed, None),
        ("T3", TicketPriority::High, TicketStatus::InProgress, Some("admin-1")),
        ("T4", TicketPriority::Low, TicketStatus::Open, None),
        ("T5", TicketPriority::High, TicketStatus::Resolved, Some("admin-1")),
        ("T6", TicketPriority::Low, TicketStatus::InProgress, Some("admin-2")),
    ];
    for (id, priority, status, assignee) in plan {
        let mut t_ = ticket(ORG, id, priority);
        t_.status = status;
        t_.assigned_admin_id = assignee.map(str::to_string);
        s.save_ticket(&new_ticket(&t_)).await.unwrap();
    }
    s.save_ticket(&new_ticket(&ticket(OTHER, "T7", TicketPriority::High))).await.unwrap();
    let list = async |filter: TicketFilter| ids(&s.tickets(ORG, &filter, &page(10, None)).await.unwrap().items, |t| &t.id);
    assert_eq!(list(TicketFilter::default()).await, ["T6", "T5", "T4", "T3", "T2", "T1"]);
    assert_eq!(list(TicketFilter::open_list()).await, ["T6", "T4", "T3", "T1"]);
    let high = TicketFilter { priority: Some(TicketPriority::High), ..Default::default() };
    assert_eq!(list(high.clone()).await, ["T5", "T3", "T1"]);
    assert_eq!(list(TicketFilter { statuses: TicketStatus::ACTIVE.to_vec(), ..high }).await, ["T3", "T1"]);
    assert_eq!(list(TicketFilter { assigned: Some(Assigned::To("admin-1".into())), ..Default::default() }).await, ["T5", "T3"]);
    assert_eq!(list(TicketFilter { assigned: Some(Assigned::Nobody), ..TicketFilter::open_list() }).await, ["T4", "T1"]);
    let pages = all_pages(async |cursor| s.tickets(ORG, &TicketFilter::default(), &page(4, cursor)).await).await;
    assert_eq!(page_ids(pages, |t: &SupportTicket| t.id.clone()), [vec!["T6", "T5", "T4", "T3"], vec!["T2", "T1"]]);
    // Ticket lists read one more than the page: a page that ends the list has no cursor.
    assert_eq!(s.tickets(ORG, &TicketFilter::default(), &page(6, None)).await.unwrap().next_cursor, None);
    assert_eq!(s.tickets(ORG, &TicketFilter::open_list(), &page(4, None)).await.unwrap().next_cursor, None);
    let pages = all_pages(async |cursor| s.tickets(ORG, &TicketFilter::open_list(), &page(2, cursor)).await).await;
    assert_eq!(page_ids(pages, |t: &SupportTicket| t.id.clone()), [vec!["T6", "T4"], vec!["T3", "T1"]]);
    assert!(matches!(s.tickets(ORG, &TicketFilter::default(), &page(2, Some("nonsense".into()))).await, Err(Error::Invalid { .. })));
}

pub async fn ticket_messages_are_oldest_first<S: Stores + ?Sized>(s: &S) {
    let t1 = ticket(ORG, "T1", TicketPriority::Medium);
    s.save_ticket(&new_ticket(&t1)).await.unwrap();
    let mut before = t1.clone();
    for n in 1..=5 {
        let mut after = before.clone();
        after.version += 1;
        let m = ticket_message(&t1, &format!("TM{n}"), t(n));
        s.save_ticket(&TicketWrite { before: Some(&before), after: &after, message: Some(&m), conversation: None, daily_cap: None, audit: None }).await.unwrap();
        before = after;
    }
    let pages = all_pages(async |cursor| s.ticket_messages(ORG, "T1", &page(2, cursor)).await).await;
    assert_eq!(page_ids(pages, |m: &TicketMessage| m.id.clone()), [vec!["TM1", "TM2"], vec!["TM3", "TM4"], vec!["TM5"]]);
    assert!(s.ticket_messages(OTHER, "T1", &page(10, None)).await.unwrap().items.is_empty());
}

// ------------------------------------------------------------------------------------------ bot

pub async fn bot_settings_are_stored_if_missing_and_state_is_versioned<S: Stores + ?Sized>(s: &S) {
    let first = StoredBotSettings { org_id: ORG.into(), settings: BotSettings::default(), updated_at: t(1), updated_by: None };
    assert_eq!(s.put_bot_settings_if_missing(&first).await.unwrap(), Written::Stored);
    let second = StoredBotSettings { updated_at: t(2), updated_by: Some("admin".into()), ..first.clone() };
    assert_eq!(s.put_bot_settings_if_missing(&second).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.bot_settings(ORG).await.unwrap(), Some(first));
    s.put_bot_settings(&second, None).await.unwrap();
    assert_eq!(s.bot_settings(ORG).await.unwrap(), Some(second));
    assert_eq!(s.bot_settings(OTHER).await.unwrap(), None);

    let c = stored_conversation(s, ORG, "C1", t(1)).await;
    let mut chatting = next_version(&c);
    chatting.state = "chat_support".into();
    s.save_conversation(&chatting).await.unwrap();
    let mut menu = next_version(&c);
    menu.state = "menu".into();
    assert!(matches!(s.save_conversation(&menu).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.conversation(ORG, "C1").await.unwrap(), Some(chatting));
}

// ------------------------------------------------------------------------------ feedback calls

fn new_call(org: &str, id: &str, campaign: Option<&str>, due: DateTime<Utc>) -> Call {
    let new = NewCall {
        id: id.into(),
        org_id: org.into(),
        customer_number: "+16505551234".into(),
        customer_name: None,
        customer_id: None,
        call_type: CallType::Feedback,
        campaign_id: campaign.map(str::to_string),
    };
    Call::ready(new, due, t(0))
}

/// Stores a new call and answers it as stored.
async fn stored_call<S: Stores + ?Sized>(s: &S, call: Call) -> Call {
    assert_eq!(s.save_call(&CallWrite { before: None, after: &call, in_flight_cap: None }).await.unwrap(), CallSaved::Stored);
    call
}

/// `change` applied to `before` and saved over it (version advanced).
async fn changed<S: Stores + ?Sized>(s: &S, before: &Call, cap: Option<u32>, change: impl FnOnce(&mut Call)) -> (Call, CallSaved) {
    let mut after = before.clone();
    change(&mut after);
    after.version += 1;
    let saved = s.save_call(&CallWrite { before: Some(before), after: &after, in_flight_cap: cap }).await.unwrap();
    (after, saved)
}

fn completed(c: &mut Call, score: u8, at: DateTime<Utc>) {
    c.status = CallStatus::Completed;
    c.due_at = None;
    c.nps_score = Some(score);
    c.completed_via = Some(CompletedVia::Voice);
    c.completed_at = Some(at);
    c.nps_date = Some(at.date_naive());
    c.updated_at = at;
}

fn in_progress(c: &mut Call, at: DateTime<Utc>) {
    c.status = CallStatus::InProgress;
    c.due_at = None;
    c.attempts += 1;
    c.updated_at = at;
}

fn service_record(org: &str, id: &str, advisor: Option<&str>, status: ServiceStatus, at: DateTime<Utc>) -> ServiceRecord {
    let input = ServiceRecordInput {
        customer_phone: Some("+16505551234".into()),
        service_advisor_id: advisor.map(str::to_string),
        status,
        appointment_date: Some(at),
        ..ServiceRecordInput::default()
    };
    input.into_record(id.into(), org, None, t(0))
}

fn call_ids(calls: &[Call]) -> Vec<String> {
    ids(calls, |c| &c.id)
}

pub async fn schedule_configs_are_versioned_and_registered<S: Stores + ?Sized>(s: &S) {
    let mut first = ScheduleConfig::default_for(ORG, None);
    first.version = 1;
    assert_eq!(s.save_schedule_config(&first, None).await.unwrap(), Written::Stored);
    assert_eq!(s.save_schedule_config(&first, None).await.unwrap(), Written::AlreadyThere, "a second first save");
    let second = ScheduleConfig { version: 2, max_attempts: 3, ..first.clone() };
    assert_eq!(s.save_schedule_config(&second, None).await.unwrap(), Written::Stored);
    let stale = ScheduleConfig { version: 2, max_attempts: 4, ..first.clone() };
    assert_eq!(s.save_schedule_config(&stale, None).await.unwrap(), Written::AlreadyThere, "saved over an old version");
    assert_eq!(s.schedule_config(ORG, None).await.unwrap(), Some(second));
    let campaign = ScheduleConfig { version: 1, ..ScheduleConfig::default_for(ORG, Some("spring")) };
    assert_eq!(s.save_schedule_config(&campaign, None).await.unwrap(), Written::Stored);
    assert_eq!(s.schedule_config(ORG, Some("spring")).await.unwrap(), Some(campaign));
    assert_eq!(s.schedule_config(OTHER, None).await.unwrap(), None);
    let schedules = s.call_schedules().await.unwrap();
    assert_eq!(
        schedules,
        vec![ScheduleRef { org_id: ORG.into(), campaign_id: None }, ScheduleRef { org_id: ORG.into(), campaign_id: Some("spring".into()) }]
    );
}

pub async fn a_customer_is_registered_by_phone_once<S: Stores + ?Sized>(s: &S) {
    let id = identity(ORG, "16505551234", "CU1", None);
    assert_eq!(s.register_customer(&customer(ORG, "CU1"), &id).await.unwrap(), Written::Stored);
    assert_eq!(s.whatsapp_identity(ORG, "16505551234").await.unwrap(), Some(id));
    // A second registration of the number (another record at the same moment): nothing of it.
    let id2 = identity(ORG, "16505551234", "CU2", None);
    assert_eq!(s.register_customer(&customer(ORG, "CU2"), &id2).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.customer(ORG, "CU2").await.unwrap(), None);
    assert_eq!(s.whatsapp_identity(OTHER, "16505551234").await.unwrap(), None);
}

pub async fn a_service_record_and_its_call_are_created_once_all_or_nothing<S: Stores + ?Sized>(s: &S) {
    let record = service_record(ORG, "R1", Some("adv-1"), ServiceStatus::Completed, t(10));
    let mut call = new_call(ORG, "CALL1", None, t(60));
    call.service_record_id = Some("R1".into());
    assert_eq!(s.create_service_record(&record, Some(&call)).await.unwrap(), Written::Stored);
    assert_eq!(s.service_record(ORG, "R1").await.unwrap(), Some(record.clone()));
    assert_eq!(s.call(ORG, "CALL1").await.unwrap(), Some(call.clone()));
    assert_eq!(s.call_schedules().await.unwrap(), vec![ScheduleRef { org_id: ORG.into(), campaign_id: None }], "the call's schedule is visited");
    // A retried create writes nothing twice.
    assert_eq!(s.create_service_record(&record, Some(&call)).await.unwrap(), Written::AlreadyThere);
    // A new record whose call exists already: neither is written.
    let other = service_record(ORG, "R2", None, ServiceStatus::Completed, t(20));
    assert_eq!(s.create_service_record(&other, Some(&call)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.service_record(ORG, "R2").await.unwrap(), None);
    // A record without a call, and another organisation's reads.
    assert_eq!(s.create_service_record(&other, None).await.unwrap(), Written::Stored);
    assert_eq!(s.service_record(OTHER, "R1").await.unwrap(), None);
    assert_eq!(s.call(OTHER, "CALL1").await.unwrap(), None);
    // A record is saved only over the version read.
    let mut edited = record.clone();
    edited.version += 1;
    edited.feedback = Some("great".into());
    s.save_service_record(&edited).await.unwrap();
    assert!(matches!(s.save_service_record(&edited).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.service_record(ORG, "R1").await.unwrap(), Some(edited.clone()));
    // A record is deleted only as read: an older read loses, and its lists no longer show it.
    assert!(matches!(s.delete_service_record(&record).await, Err(Error::LostUpdate(_))));
    s.delete_service_record(&edited).await.unwrap();
    assert_eq!(s.service_record(ORG, "R1").await.unwrap(), None);
    let listed = s.service_records(ORG, &ServiceRecordFilter::default(), &page(10, None)).await.unwrap();
    assert_eq!(listed.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["R2"]);
    // Its call stays (its history and counters are the call's own).
    assert!(s.call(ORG, "CALL1").await.unwrap().is_some());
}

pub async fn service_records_list_newest_service_first_by_advisor_status_and_range<S: Stores + ?Sized>(s: &S) {
    for (id, advisor, status, at) in [
        ("R1", Some("adv-1"), ServiceStatus::Completed, t(10)),
        ("R2", Some("adv-2"), ServiceStatus::Completed, t(20)),
        ("R3", Some("adv-1"), ServiceStatus::Scheduled, t(30)),
        ("R4", None, ServiceStatus::Completed, t(40)),
        ("R5", Some("adv-1"), ServiceStatus::Completed, t(50)),
    ] {
        s.create_service_record(&service_record(ORG, id, advisor, status, at), None).await.unwrap();
    }
    s.create_service_record(&service_record(OTHER, "X1", Some("adv-1"), ServiceStatus::Completed, t(15)), None).await.unwrap();
    let list = async |filter: ServiceRecordFilter| {
        let pages = all_pages(async |cursor| s.service_records(ORG, &filter, &page(2, cursor)).await).await;
        page_ids(pages, |r: &ServiceRecord| r.id.clone()).concat()
    };
    assert_eq!(list(ServiceRecordFilter::default()).await, ["R5", "R4", "R3", "R2", "R1"]);
    let adv1 = ServiceRecordFilter { advisor_id: Some("adv-1".into()), ..ServiceRecordFilter::default() };
    assert_eq!(list(adv1.clone()).await, ["R5", "R3", "R1"]);
    assert_eq!(list(ServiceRecordFilter { status: Some(ServiceStatus::Completed), ..adv1 }).await, ["R5", "R1"]);
    // From inclusive, to exclusive.
    assert_eq!(list(ServiceRecordFilter { from: Some(t(20)), to: Some(t(40)), ..ServiceRecordFilter::default() }).await, ["R3", "R2"]);
}

pub async fn a_call_is_saved_over_the_version_read_with_its_counters<S: Stores + ?Sized>(s: &S) {
    let call = stored_call(s, new_call(ORG, "CALL1", None, t(0))).await;
    let duplicate = new_call(ORG, "CALL1", None, t(5));
    assert_eq!(s.save_call(&CallWrite { before: None, after: &duplicate, in_flight_cap: None }).await.unwrap(), CallSaved::AlreadyThere);
    // Claimed: one in flight.
    let (claimed, saved) = changed(s, &call, Some(5), |c| in_progress(c, t(1))).await;
    assert_eq!(saved, CallSaved::Stored);
    assert_eq!(s.calls_in_flight(ORG).await.unwrap(), 1);
    // A second writer over the version it read: lost, nothing written.
    let mut late = call.clone();
    late.notes = Some("late".into());
    late.version += 1;
    assert!(matches!(s.save_call(&CallWrite { before: Some(&call), after: &late, in_flight_cap: None }).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.call(ORG, "CALL1").await.unwrap(), Some(claimed.clone()));
    // Completed with 9 by an advisor: the slot frees and the day counts a promoter.
    let (done, _) = changed(s, &claimed, None, |c| {
        c.service_advisor_id = Some("adv-1".into());
        completed(c, 9, t(3));
    })
    .await;
    assert_eq!(s.calls_in_flight(ORG).await.unwrap(), 0);
    let day = t(3).date_naive();
    let days = s.nps_days(ORG, day, day).await.unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!((days[0].date, days[0].groups["all"].promoters, days[0].groups["advisor:adv-1"].promoters), (day, 1, 1));
    // The score corrected to 6: −promoter +detractor, in every group.
    changed(s, &done, None, |c| c.nps_score = Some(6)).await;
    let days = s.nps_days(ORG, day - Duration::days(3), day + Duration::days(3)).await.unwrap();
    assert_eq!(days.len(), 1, "only days with counters");
    let all = days[0].groups["all"];
    assert_eq!((all.promoters, all.passives, all.detractors), (0, 0, 1));
    assert_eq!(days[0].groups["advisor:adv-1"].detractors, 1);
    assert!(s.nps_days(OTHER, day, day).await.unwrap().is_empty());
    assert_eq!(s.calls_in_flight(OTHER).await.unwrap(), 0);
}

pub async fn a_claim_takes_a_slot_only_below_the_cap<S: Stores + ?Sized>(s: &S) {
    let a = stored_call(s, new_call(ORG, "A", None, t(0))).await;
    let b = stored_call(s, new_call(ORG, "B", None, t(0))).await;
    let elsewhere = stored_call(s, new_call(OTHER, "A", None, t(0))).await;
    assert_eq!(changed(s, &a, Some(1), |c| in_progress(c, t(1))).await.1, CallSaved::Stored);
    // The organisation is at its cap of one: the claim writes nothing.
    assert_eq!(changed(s, &b, Some(1), |c| in_progress(c, t(1))).await.1, CallSaved::AtCapacity);
    assert_eq!(s.call(ORG, "B").await.unwrap(), Some(b.clone()));
    assert_eq!(s.calls_in_flight(ORG).await.unwrap(), 1);
    // Another organisation's cap is its own.
    assert_eq!(changed(s, &elsewhere, Some(1), |c| in_progress(c, t(1))).await.1, CallSaved::Stored);
    // A higher cap lets it through.
    assert_eq!(changed(s, &b, Some(2), |c| in_progress(c, t(1))).await.1, CallSaved::Stored);
    assert_eq!(s.calls_in_flight(ORG).await.unwrap(), 2);
}

pub async fn call_lists_are_ordered_filtered_and_paged<S: Stores + ?Sized>(s: &S) {
    // Ready: soonest due first.
    for (id, due) in [("R3", t(30)), ("R1", t(10)), ("R2", t(20))] {
        stored_call(s, new_call(ORG, id, None, due)).await;
    }
    stored_call(s, new_call(OTHER, "R0", None, t(5))).await;
    let list = async |filter: CallFilter, limit: i32| {
        let pages = all_pages(async |cursor| s.calls(ORG, &filter, &page(limit, cursor)).await).await;
        page_ids(pages, |c: &Call| c.id.clone()).concat()
    };
    assert_eq!(list(CallFilter::of(CallStatus::Ready), 2).await, ["R1", "R2", "R3"]);
    assert_eq!(list(CallFilter { from: Some(t(10)), to: Some(t(30)), ..CallFilter::of(CallStatus::Ready) }, 2).await, ["R1", "R2"]);
    // Completed: newest completion first, filtered by advisor, service type, tag and NPS range.
    for (id, score, advisor, tag, at) in [
        ("C1", 9, "adv-1", "vip", t(100)),
        ("C2", 3, "adv-2", "vip", t(110)),
        ("C3", 7, "adv-1", "fleet", t(120)),
        ("C4", 10, "adv-1", "vip", t(130)),
    ] {
        let mut c = new_call(ORG, id, None, t(0));
        c.service_advisor_id = Some(advisor.into());
        c.service_type = Some("oil change".into());
        c.tags = vec![tag.into()];
        completed(&mut c, score, at);
        stored_call(s, c).await;
    }
    let done = CallFilter::of(CallStatus::Completed);
    assert_eq!(list(done.clone(), 3).await, ["C4", "C3", "C2", "C1"]);
    assert_eq!(list(CallFilter { advisor_id: Some("adv-1".into()), ..done.clone() }, 1).await, ["C4", "C3", "C1"]);
    assert_eq!(list(CallFilter { tag: Some("vip".into()), nps_min: Some(9), ..done.clone() }, 2).await, ["C4", "C1"]);
    assert_eq!(list(CallFilter { nps_min: Some(3), nps_max: Some(7), ..done.clone() }, 5).await, ["C3", "C2"]);
    assert_eq!(list(CallFilter { service_type: Some("tyres".into()), ..done.clone() }, 5).await, Vec::<String>::new());
    assert_eq!(list(CallFilter { from: Some(t(110)), to: Some(t(130)), ..done }, 5).await, ["C3", "C2"]);
    assert!(list(CallFilter::of(CallStatus::Missed), 5).await.is_empty());
}

pub async fn due_calls_are_the_ready_calls_of_their_schedule_due_by_now<S: Stores + ?Sized>(s: &S) {
    for (id, campaign, due) in [("D2", None, t(20)), ("D1", None, t(10)), ("D3", None, t(30)), ("P1", Some("spring"), t(10))] {
        stored_call(s, new_call(ORG, id, campaign, due)).await;
    }
    let claimed = stored_call(s, new_call(ORG, "D0", None, t(0))).await;
    changed(s, &claimed, None, |c| in_progress(c, t(1))).await;
    let mut demo = new_call(ORG, "DEMO", None, t(0));
    demo.due_at = None;
    stored_call(s, demo).await;
    stored_call(s, new_call(OTHER, "D1", None, t(10))).await;
    let own = ScheduleRef { org_id: ORG.into(), campaign_id: None };
    let due = async |now, limit| call_ids(&s.due_calls(&own, now, limit).await.unwrap());
    assert_eq!(due(t(20), 10).await, ["D1", "D2"], "due at now itself is due; in progress and demo are not");
    assert_eq!(due(t(30), 2).await, ["D1", "D2"], "soonest first, at most the limit");
    assert!(due(t(5), 10).await.is_empty());
    let spring = ScheduleRef { org_id: ORG.into(), campaign_id: Some("spring".into()) };
    assert_eq!(call_ids(&s.due_calls(&spring, t(30), 10).await.unwrap()), ["P1"]);
    assert_eq!(call_ids(&s.due_calls(&ScheduleRef { org_id: OTHER.into(), ..own.clone() }, t(30), 10).await.unwrap()), ["D1"]);
}

pub async fn stale_calls_are_in_progress_calls_quiet_since_before<S: Stores + ?Sized>(s: &S) {
    for (id, at) in [("S2", t(20)), ("S1", t(10)), ("S3", t(30))] {
        let c = stored_call(s, new_call(ORG, id, None, t(0))).await;
        changed(s, &c, None, |c| in_progress(c, at)).await;
    }
    stored_call(s, new_call(ORG, "READY", None, t(0))).await;
    assert_eq!(call_ids(&s.stale_calls(ORG, t(30), 10).await.unwrap()), ["S1", "S2"], "quiet since before, oldest first");
    assert_eq!(call_ids(&s.stale_calls(ORG, t(31), 1).await.unwrap()), ["S1"]);
    assert!(s.stale_calls(OTHER, t(31), 10).await.unwrap().is_empty());
}

// ------------------------------------------------------------------- chat-app keys (issue 12)

fn chat_app_key(org: &str, key_id: &str, slot: u8) -> crate::domain::chat_app::ChatAppKey {
    crate::domain::chat_app::ChatAppKey { org_id: org.into(), key_id: key_id.into(), slot, created_at: t(0) }
}

pub async fn a_chat_app_key_holds_a_slot_and_is_found_by_id_until_removed<S: Stores + ?Sized>(s: &S) {
    let first = chat_app_key(ORG, "cak_1", 1);
    assert_eq!(s.put_chat_app_key(&first).await.unwrap(), Written::Stored);
    assert_eq!(s.chat_app_key("cak_1").await.unwrap(), Some(first.clone()));
    // The slot is held: a second key there (two admins at once) writes nothing, not even its id.
    assert_eq!(s.put_chat_app_key(&chat_app_key(ORG, "cak_2", 1)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.chat_app_key("cak_2").await.unwrap(), None);
    // A key id is never taken twice, even for another slot or organisation.
    assert_eq!(s.put_chat_app_key(&chat_app_key(OTHER, "cak_1", 1)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.chat_app_keys(OTHER).await.unwrap(), []);
    let second = chat_app_key(ORG, "cak_2", 2);
    assert_eq!(s.put_chat_app_key(&second).await.unwrap(), Written::Stored);
    let theirs = chat_app_key(OTHER, "cak_3", 1);
    assert_eq!(s.put_chat_app_key(&theirs).await.unwrap(), Written::Stored);
    assert_eq!(s.chat_app_keys(ORG).await.unwrap(), [first.clone(), second.clone()]);
    assert_eq!(s.chat_app_keys(OTHER).await.unwrap(), [theirs.clone()]);
    // Removing needs the key as it is: another organisation's claim on it removes nothing.
    assert_eq!(s.delete_chat_app_key(&chat_app_key(OTHER, "cak_1", 1)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.delete_chat_app_key(&first).await.unwrap(), Written::Stored);
    assert_eq!(s.chat_app_key("cak_1").await.unwrap(), None);
    assert_eq!(s.delete_chat_app_key(&first).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.chat_app_keys(ORG).await.unwrap(), [second]);
    // The freed slot takes a new key.
    assert_eq!(s.put_chat_app_key(&chat_app_key(ORG, "cak_4", 1)).await.unwrap(), Written::Stored);
}

// ---------------------------------------------------------------------- canned responses (issue 14)

fn canned(org: &str, id: &str, shortcut: &str, team: Option<&str>, owner: Option<&str>) -> crate::domain::canned::CannedResponse {
    from_json(json!({
        "id": id, "org_id": org, "shortcut": shortcut, "title": "Saludo", "content": "Hola {{customer_name}}",
        "category": "general", "team_id": team, "owner_id": owner, "attachments": [], "variables": ["customer_name"],
        "usage_count": 0, "created_by": "sup", "created_at": t(0), "updated_at": t(0), "version": 1
    }))
}

pub async fn a_canned_shortcut_is_claimed_once_per_scope<S: Stores + ?Sized>(s: &S) {
    let greeting = canned(ORG, "C1", "/greeting", None, None);
    assert_eq!(s.create_canned_response(&greeting, None).await.unwrap(), CannedSaved::Stored);
    // The same response again is done already; another with its shortcut is refused, all of it.
    assert_eq!(s.create_canned_response(&greeting, None).await.unwrap(), CannedSaved::AlreadyThere);
    assert_eq!(s.create_canned_response(&canned(ORG, "C2", "/greeting", None, None), None).await.unwrap(), CannedSaved::ShortcutTaken);
    assert_eq!(s.canned_response(ORG, "C2").await.unwrap(), None);
    // A team's, an agent's and another organisation's scopes are their own.
    for (org, id, team, owner) in [(ORG, "C3", Some("sales"), None), (ORG, "C4", None, Some("a1")), (OTHER, "C5", None, None)] {
        assert_eq!(s.create_canned_response(&canned(org, id, "/greeting", team, owner), None).await.unwrap(), CannedSaved::Stored, "{id}");
    }
    assert_eq!(s.create_canned_response(&canned(ORG, "C6", "/greeting", Some("sales"), None), None).await.unwrap(), CannedSaved::ShortcutTaken);
    let ids = |list: Vec<crate::domain::canned::CannedResponse>| list.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.canned_responses(ORG).await.unwrap()), ["C1", "C3", "C4"]);
    assert_eq!(ids(s.canned_responses(OTHER).await.unwrap()), ["C5"]);
    assert_eq!(s.canned_response(ORG, "C1").await.unwrap(), Some(greeting));
    assert_eq!(s.canned_response(OTHER, "C1").await.unwrap(), None);
}

pub async fn a_canned_save_moves_its_claim_over_the_version_read<S: Stores + ?Sized>(s: &S) {
    let before = canned(ORG, "C1", "/greeting", None, None);
    s.create_canned_response(&before, None).await.unwrap();
    s.create_canned_response(&canned(ORG, "C2", "/hello", None, None), None).await.unwrap();
    let renamed = |r: &crate::domain::canned::CannedResponse, shortcut: &str| {
        let mut next = r.clone();
        next.shortcut = shortcut.into();
        next.version += 1;
        next
    };
    // Onto another's shortcut: refused, nothing written.
    assert_eq!(s.save_canned_response(&before, &renamed(&before, "/hello"), None).await.unwrap(), CannedSaved::ShortcutTaken);
    assert_eq!(s.canned_response(ORG, "C1").await.unwrap().unwrap().shortcut, "/greeting");
    // Onto a free one: the old shortcut is free again.
    let after = renamed(&before, "/hi");
    assert_eq!(s.save_canned_response(&before, &after, None).await.unwrap(), CannedSaved::Stored);
    assert_eq!(s.canned_response(ORG, "C1").await.unwrap(), Some(after.clone()));
    assert_eq!(s.create_canned_response(&canned(ORG, "C3", "/greeting", None, None), None).await.unwrap(), CannedSaved::Stored);
    // Over a version that moved on: a lost update.
    assert!(matches!(s.save_canned_response(&before, &renamed(&before, "/other"), None).await, Err(Error::LostUpdate(_))));
    // Into a team: the organisation's shortcut is freed, the team's taken.
    let mut team = after.clone();
    team.team_id = Some("sales".into());
    team.version += 1;
    assert_eq!(s.save_canned_response(&after, &team, None).await.unwrap(), CannedSaved::Stored);
    assert_eq!(s.create_canned_response(&canned(ORG, "C4", "/hi", None, None), None).await.unwrap(), CannedSaved::Stored);
    assert_eq!(s.create_canned_response(&canned(ORG, "C5", "/hi", Some("sales"), None), None).await.unwrap(), CannedSaved::ShortcutTaken);
    // Deleted over a stale version: refused; over the version read: gone with its claim.
    assert!(matches!(s.delete_canned_response(&after, None).await, Err(Error::LostUpdate(_))));
    s.delete_canned_response(&team, None).await.unwrap();
    assert_eq!(s.canned_response(ORG, "C1").await.unwrap(), None);
    assert_eq!(s.create_canned_response(&canned(ORG, "C5", "/hi", Some("sales"), None), None).await.unwrap(), CannedSaved::Stored);
}

pub async fn a_canned_use_is_counted_once_per_message_and_survives_edits<S: Stores + ?Sized>(s: &S) {
    let before = canned(ORG, "C1", "/greeting", None, None);
    s.create_canned_response(&before, None).await.unwrap();
    assert_eq!(s.count_canned_use(ORG, "C1", "M1", t(1)).await.unwrap(), Written::Stored);
    assert_eq!(s.count_canned_use(ORG, "C1", "M1", t(2)).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.count_canned_use(ORG, "C1", "M2", t(3)).await.unwrap(), Written::Stored);
    assert_eq!(s.canned_response(ORG, "C1").await.unwrap().unwrap().usage_count, 2);
    // An edit saved from a copy read before the counts loses none of them.
    let mut edited = before.clone();
    edited.title = "Saludo inicial".into();
    edited.version = 2;
    assert_eq!(s.save_canned_response(&before, &edited, None).await.unwrap(), CannedSaved::Stored);
    let listed = s.canned_responses(ORG).await.unwrap();
    assert_eq!((listed[0].title.as_str(), listed[0].usage_count), ("Saludo inicial", 2));
    // Another organisation's response, or one that is gone, counts nothing.
    assert!(matches!(s.count_canned_use(OTHER, "C1", "M3", t(4)).await, Err(Error::NotFound(_))));
    s.delete_canned_response(&edited, None).await.unwrap();
    assert!(matches!(s.count_canned_use(ORG, "C1", "M4", t(5)).await, Err(Error::NotFound(_))));
    // A new response with the same id starts from nothing.
    s.create_canned_response(&before, None).await.unwrap();
    assert_eq!(s.canned_response(ORG, "C1").await.unwrap().unwrap().usage_count, 0);
}

// ------------------------------------------------------------------- secrets and blobs

/// What a secrets case runs on: a fresh secrets store (or one below a fresh prefix).
pub trait SecretsFixture {
    fn secrets(&self) -> &dyn Secrets;
}

impl SecretsFixture for crate::adapters::memory::MemorySecrets {
    fn secrets(&self) -> &dyn Secrets {
        self
    }
}

/// What a blob case runs on: a fresh, empty blob store.
pub trait BlobFixture {
    fn blobs(&self) -> &dyn BlobStore;
}

impl BlobFixture for crate::adapters::memory::MemoryBlobs {
    fn blobs(&self) -> &dyn BlobStore {
        self
    }
}

/// One test per secrets contract case (memory here, Secrets Manager on moto in `max-dev`).
#[macro_export]
macro_rules! secrets_contract {
    ($(#[$attr:meta])* $fresh:path) => {
        $crate::secrets_contract!(@cases [$(#[$attr])*] $fresh;
            a_secret_is_created_read_replaced_and_deleted,
            a_secret_scheduled_for_deletion_comes_back_when_put_again,
        );
    };
    (@cases $attrs:tt $fresh:path; $($case:ident),* $(,)?) => {
        $( $crate::secrets_contract!(@case $attrs $fresh; $case); )*
    };
    (@case [$($attr:tt)*] $fresh:path; $case:ident) => {
        $($attr)*
        async fn $case() {
            let fixture = $fresh().await;
            $crate::adapters::contract::$case($crate::adapters::contract::SecretsFixture::secrets(&fixture)).await;
        }
    };
}

/// One test per blob contract case (memory here, S3 on moto in `max-dev`).
#[macro_export]
macro_rules! blob_contract {
    ($(#[$attr:meta])* $fresh:path) => {
        $crate::blob_contract!(@cases [$(#[$attr])*] $fresh;
            blobs_are_listed_by_prefix_in_key_order_up_to_a_limit_and_deleted,
            a_chunked_body_is_stored_whole_across_parts_with_its_type,
            a_blobs_head_tells_its_size_and_type_and_none_when_absent,
        );
    };
    (@cases $attrs:tt $fresh:path; $($case:ident),* $(,)?) => {
        $( $crate::blob_contract!(@case $attrs $fresh; $case); )*
    };
    (@case [$($attr:tt)*] $fresh:path; $case:ident) => {
        $($attr)*
        async fn $case() {
            let fixture = $fresh().await;
            $crate::adapters::contract::$case($crate::adapters::contract::BlobFixture::blobs(&fixture)).await;
        }
    };
}

pub async fn a_secret_is_created_read_replaced_and_deleted(s: &dyn Secrets) {
    let value = async |name: &str| s.secret(name).await.unwrap().map(|v| v.expose().to_string());
    assert_eq!(value("whatsapp/o1/1").await, None);
    s.put_secret("whatsapp/o1/1", &Secret::new("first")).await.unwrap();
    s.put_secret("whatsapp/o1/2", &Secret::new("other")).await.unwrap();
    assert_eq!(value("whatsapp/o1/1").await.as_deref(), Some("first"));
    s.put_secret("whatsapp/o1/1", &Secret::new("second")).await.unwrap();
    assert_eq!(value("whatsapp/o1/1").await.as_deref(), Some("second"));
    assert_eq!(value("whatsapp/o1/2").await.as_deref(), Some("other"), "each name its own secret");
    s.delete_secret("whatsapp/o1/1").await.unwrap();
    assert_eq!(value("whatsapp/o1/1").await, None);
    s.delete_secret("whatsapp/o1/1").await.unwrap();
    s.delete_secret("whatsapp/o1/never").await.unwrap();
    assert_eq!(value("whatsapp/o1/2").await.as_deref(), Some("other"));
}

pub async fn a_secret_scheduled_for_deletion_comes_back_when_put_again(s: &dyn Secrets) {
    s.put_secret("whatsapp/o1/1", &Secret::new("first")).await.unwrap();
    s.delete_secret("whatsapp/o1/1").await.unwrap();
    s.put_secret("whatsapp/o1/1", &Secret::new("again")).await.unwrap();
    assert_eq!(s.secret("whatsapp/o1/1").await.unwrap().map(|v| v.expose().to_string()).as_deref(), Some("again"));
}

pub async fn blobs_are_listed_by_prefix_in_key_order_up_to_a_limit_and_deleted(b: &dyn BlobStore) {
    for key in ["q/1/b.json", "q/1/a.json", "q/12/c.json", "q/other.json"] {
        b.put(key, key.as_bytes().to_vec(), "application/json").await.unwrap();
    }
    assert_eq!(b.list("q/1/", 10).await.unwrap(), ["q/1/a.json", "q/1/b.json"], "the prefix is a folder: q/12/ is not in it");
    assert_eq!(b.list("q/1/", 1).await.unwrap(), ["q/1/a.json"]);
    assert!(b.list("nothing/", 10).await.unwrap().is_empty());
    b.delete("q/1/a.json").await.unwrap();
    b.delete("q/1/never.json").await.unwrap();
    assert_eq!(b.list("q/1/", 10).await.unwrap(), ["q/1/b.json"]);
    assert!(b.get("q/1/a.json").await.is_err());
    assert_eq!(b.get("q/1/b.json").await.unwrap(), b"q/1/b.json");
}

pub async fn a_blobs_head_tells_its_size_and_type_and_none_when_absent(b: &dyn BlobStore) {
    b.put("media/o1/outbound/u1/a.png", vec![1, 2, 3, 4], "image/png").await.unwrap();
    let head = b.head("media/o1/outbound/u1/a.png").await.unwrap().expect("stored");
    assert_eq!((head.size, head.content_type.as_deref()), (4, Some("image/png")));
    assert_eq!(b.head("media/o1/outbound/u1/b.png").await.unwrap(), None);
}

// ------------------------------------------------------------------------ a customer's records

pub async fn a_customers_records_are_read_whole_and_erased_in_place<S: Stores + ?Sized>(s: &S) {
    // GIVEN a customer who wrote twice (a second conversation after the first was closed), with an
    // action, a ticket and an interaction; and another customer of the organisation
    let mut first = conversation(ORG, "C1", "34600111222", t(1));
    first.customer_id = "CU1".into();
    let mut cu1 = customer(ORG, "CU1");
    cu1.name = Some("Ana Ruiz".into());
    cu1.phone = Some("34600111222".into());
    cu1.identities = vec![Identity::first_seen(IdentityChannel::Whatsapp, "34600111222", t(0))];
    let identity1 = identity(ORG, "34600111222", "CU1", Some("C1"));
    assert_eq!(s.create_customer(&cu1, &identity1, &first).await.unwrap(), Written::Stored);
    s.record_inbound(&inbound(&first, "M1", "wamid.M1", t(1)), &next_version(&first)).await.unwrap();
    let first = s.conversation(ORG, "C1").await.unwrap().unwrap();
    assert_eq!(s.close(&first, t(2)).await.unwrap(), Written::Stored);
    let mut second = conversation(ORG, "C2", "34600111222", t(3));
    second.customer_id = "CU1".into();
    let identity1 = s.whatsapp_identity(ORG, "34600111222").await.unwrap().unwrap();
    assert_eq!(s.open_conversation(&identity1, None, &second).await.unwrap(), Written::Stored);
    s.record_inbound(&inbound(&second, "M2", "wamid.M2", t(3)), &next_version(&second)).await.unwrap();
    s.create_action(&action(ORG, "A1", &second, "refund", ActionStatus::Pending), None).await.unwrap();
    let mut t1 = ticket(ORG, "T1", TicketPriority::High);
    (t1.customer_id, t1.conversation_id, t1.phone_number) = (Some("CU1".into()), Some("C2".into()), Some("34600111222".into()));
    let tm = ticket_message(&t1, "TM1", t(3));
    s.save_ticket(&TicketWrite { before: None, after: &t1, message: Some(&tm), conversation: None, daily_cap: None, audit: None }).await.unwrap();
    s.create_interaction(&interaction(ORG, "I1", "CU1", t(10), "pending"), None).await.unwrap();
    stored_conversation(s, ORG, "C9", t(4)).await;
    s.create_interaction(&interaction(ORG, "I9", "cu-addr-C9", t(10), "pending"), None).await.unwrap();

    // WHEN the record is read
    let record = s.customer_record(ORG, "CU1").await.unwrap().expect("the customer's record");
    // THEN it holds everything of theirs and nothing of anyone else's
    assert_eq!(record.customer.name.as_deref(), Some("Ana Ruiz"));
    assert_eq!(ids(&record.identities, |i| &i.address), ["34600111222"]);
    assert_eq!(ids(&record.conversations, |c| &c.id), ["C1", "C2"]);
    assert_eq!(ids(&record.messages, |m| &m.id), ["M1", "M2"]);
    assert_eq!(ids(&record.actions, |a| &a.id), ["A1"]);
    assert_eq!((ids(&record.tickets, |t| &t.id), ids(&record.ticket_messages, |m| &m.id)), (vec!["T1".to_string()], vec!["TM1".to_string()]));
    assert_eq!(ids(&record.interactions, |i| &i.id), ["I1"]);
    assert_eq!(s.customer_record(OTHER, "CU1").await.unwrap(), None, "another organisation's");
    assert_eq!(s.customer_record(ORG, "nobody").await.unwrap(), None);

    // WHEN the erasure is stored
    s.store_erasure(&record.erasure(t(20)), None).await.unwrap();
    // THEN the records are there, without what identified the customer; the identity is gone
    let after = s.customer_record(ORG, "CU1").await.unwrap().expect("the records stay");
    assert_eq!((after.customer.name.clone(), after.customer.phone.clone(), after.identities.len()), (None, None, 0));
    assert!(s.whatsapp_identity(ORG, "34600111222").await.unwrap().is_none());
    assert_eq!(ids(&after.messages, |m| &m.id), ["M1", "M2"]);
    assert!(after.messages.iter().all(|m| m.text.as_deref() == Some(ERASED) && m.content.is_none()));
    assert!(after.tickets.iter().all(|t| t.phone_number.is_none() && t.issue_description == ERASED));
    assert!(after.conversations.iter().all(|c| c.status == ConversationStatus::Closed && c.customer_address == "erased:CU1"));
    assert_eq!(after.interactions[0].title, ERASED);
    assert_eq!(s.ticket_counts(ORG).await.unwrap().notifications(None).open_tickets, 1, "counters kept");
    // Everything was found again by the same links, so erasing again changes nothing.
    assert!(after.erasure(t(30)).is_empty());
    // The other customer is untouched.
    assert!(s.whatsapp_identity(ORG, "addr-C9").await.unwrap().is_some());
    assert_eq!(s.interaction(ORG, "I9").await.unwrap().unwrap().title, "I9");
}

// ------------------------------------------------------------------ customer links (issue 12)

/// GIVEN a secondary customer (`cu-addr-C1`, identity `addr-C1`) with conversations `C1`… `Cn`
/// and a primary (`cu-addr-P1`) with its own `P1`.
async fn linkable<S: Stores + ?Sized>(s: &S, n: usize) -> (Customer, Customer, ChannelIdentity) {
    stored_conversation(s, ORG, "P1", t(0)).await;
    let first = stored_conversation(s, ORG, "C1", t(1)).await;
    let mut previous = "C1".to_string();
    for i in 2..=n {
        let id = s.whatsapp_identity(ORG, &first.customer_address).await.unwrap().unwrap();
        let c = Conversation { id: format!("C{i}"), ..first.clone() };
        assert_eq!(s.open_conversation(&id, Some(&previous), &c).await.unwrap(), Written::Stored);
        previous = c.id;
    }
    let primary = s.customers_by_id(ORG, &["cu-addr-P1".to_string()]).await.unwrap().remove(0);
    let mut secondary = s.customers_by_id(ORG, &["cu-addr-C1".to_string()]).await.unwrap().remove(0);
    secondary.identities = vec![Identity::first_seen(IdentityChannel::Whatsapp, "addr-C1", t(1))];
    let identity = s.whatsapp_identity(ORG, "addr-C1").await.unwrap().unwrap();
    (primary, secondary, identity)
}

pub async fn a_link_switches_customers_and_identities_all_or_nothing<S: Stores + ?Sized>(s: &S) {
    use crate::domain::customer_link::{LinkState, linked};
    let (primary, secondary, identity) = linkable(s, 1).await;
    let (link, p, sec) = linked(&primary, &secondary, "u-sup", t(5));
    let step = |customers| LinkSwitch { link: &link, over: None, customers, identities: std::slice::from_ref(&identity), from: &secondary.id, to: &primary.id };
    // A customer read at another version: nothing is written.
    let stale = Customer { version: 7, ..secondary.clone() };
    assert!(matches!(s.switch_customers(&step([(&primary, &p), (&stale, &sec)])).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.customer_link(ORG, &secondary.id).await.unwrap(), None);
    assert_eq!(s.whatsapp_identity(ORG, "addr-C1").await.unwrap().unwrap().customer_id, secondary.id);
    assert_eq!(s.customers_by_id(ORG, &[primary.id.clone()]).await.unwrap()[0].version, primary.version);
    // Over the versions read: the link, both customers and the identity at once.
    s.switch_customers(&step([(&primary, &p), (&secondary, &sec)])).await.unwrap();
    assert_eq!(s.customer_link(ORG, &secondary.id).await.unwrap(), Some(link.clone()));
    assert_eq!(s.whatsapp_identity(ORG, "addr-C1").await.unwrap().unwrap().customer_id, primary.id);
    let both = s.customers_by_id(ORG, &[primary.id.clone(), secondary.id.clone()]).await.unwrap();
    let stored = |id: &str| both.iter().find(|c| c.id == id).cloned().unwrap();
    assert_eq!((stored(&primary.id), stored(&secondary.id)), (p.clone(), sec.clone()));
    assert_eq!(s.customer(ORG, &secondary.id).await.unwrap().unwrap().merged_into.as_deref(), Some(primary.id.as_str()));
    // A second start over "no link" loses (the link item is there), even over the new versions.
    assert!(matches!(s.switch_customers(&step([(&p, &p), (&sec, &sec)])).await, Err(Error::LostUpdate(_))));
    // A worker that read the identity before the switch cannot open a conversation for the secondary.
    let late = Conversation { id: "C9".into(), ..conversation(ORG, "C9", "addr-C1", t(6)) };
    let late = Conversation { customer_id: secondary.id.clone(), ..late };
    assert_eq!(s.open_conversation(&identity, Some("C1"), &late).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.conversation(ORG, "C9").await.unwrap(), None);
    // The link is the organisation's own.
    assert_eq!(s.customer_link(OTHER, &secondary.id).await.unwrap(), None);
    // Ended over the state it is in, once; the unlinking switch goes over that state.
    let done = link.ended(LinkState::Done, None, t(7));
    assert_eq!(s.end_link_step(&done, LinkState::Moving).await.unwrap(), Written::Stored);
    assert_eq!(s.end_link_step(&done, LinkState::Moving).await.unwrap(), Written::AlreadyThere);
    let (back, p2, sec2) = crate::domain::customer_link::unlinked(&done, &p, &sec, t(8));
    let moved = s.whatsapp_identity(ORG, "addr-C1").await.unwrap().unwrap();
    let unlinking = LinkSwitch { link: &back, over: Some(LinkState::Moving), customers: [(&p, &p2), (&sec, &sec2)], identities: std::slice::from_ref(&moved), from: &primary.id, to: &secondary.id };
    assert!(matches!(s.switch_customers(&unlinking).await, Err(Error::LostUpdate(_))), "the link is done, not moving");
    s.switch_customers(&LinkSwitch { over: Some(LinkState::Done), ..unlinking }).await.unwrap();
    assert_eq!(s.whatsapp_identity(ORG, "addr-C1").await.unwrap().unwrap().customer_id, secondary.id);
    assert_eq!(s.customer(ORG, &secondary.id).await.unwrap().unwrap().merged_into, None);
    let ended = back.ended(LinkState::Unlinked, Some("u-admin"), t(9));
    assert_eq!(s.end_link_step(&ended, LinkState::Unlinking).await.unwrap(), Written::Stored);
    assert_eq!(s.customer_link(ORG, &secondary.id).await.unwrap(), Some(ended));
}

pub async fn conversations_move_a_page_at_a_time_each_once<S: Stores + ?Sized>(s: &S) {
    use crate::domain::customer_link::{LinkState, linked};
    let (primary, secondary, identity) = linkable(s, 5).await;
    let (link, p, sec) = linked(&primary, &secondary, "u-sup", t(5));
    let switch = LinkSwitch { link: &link, over: None, customers: [(&primary, &p), (&secondary, &sec)], identities: std::slice::from_ref(&identity), from: &secondary.id, to: &primary.id };
    s.switch_customers(&switch).await.unwrap();
    let (from, to) = (secondary.id.as_str(), primary.id.as_str());
    let strings = |ids: &[&str]| ids.iter().map(|i| i.to_string()).collect::<Vec<_>>();
    // The secondary's conversations, a page at a time, in id order.
    assert_eq!(s.conversations_linked(ORG, from, 3).await.unwrap(), strings(&["C1", "C2", "C3"]));
    s.move_conversations(&link, &strings(&["C1", "C2", "C3"]), from, to).await.unwrap();
    assert_eq!(s.conversations_linked(ORG, from, 3).await.unwrap(), strings(&["C4", "C5"]));
    assert_eq!(s.conversations_linked(ORG, to, 10).await.unwrap(), strings(&["C1", "C2", "C3", "P1"]));
    assert_eq!(s.linked_among(ORG, to, &strings(&["C5", "C2", "C9"])).await.unwrap(), strings(&["C2"]));
    let c1 = s.conversation(ORG, "C1").await.unwrap().unwrap();
    assert_eq!((c1.customer_id.as_str(), c1.version), (to, 2), "re-pointed, one version on");
    assert_eq!(s.customer_link(ORG, from).await.unwrap().unwrap().conversation_ids, strings(&["C1", "C2", "C3"]));
    // The context reads the moved conversations as the primary's.
    let links = s.customer_links(ORG, to).await.unwrap().unwrap();
    assert_eq!(links.conversation_ids, strings(&["C1", "C2", "C3", "P1"]));
    // A page with one conversation moved already writes nothing at all.
    assert!(matches!(s.move_conversations(&link, &strings(&["C3", "C4"]), from, to).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.conversation(ORG, "C4").await.unwrap().unwrap().customer_id, from);
    assert_eq!(s.customer_link(ORG, from).await.unwrap().unwrap().conversation_ids.len(), 3);
    // A writer holding a moved conversation at its old version loses (and reads it again).
    assert!(matches!(s.save_conversation(&next_version(&c1_before(&c1))).await, Err(Error::LostUpdate(_))));
    // Once the link is done, no page of it moves anything more.
    let done = link.ended(LinkState::Done, None, t(6));
    assert_eq!(s.end_link_step(&done, LinkState::Moving).await.unwrap(), Written::Stored);
    assert!(matches!(s.move_conversations(&link, &strings(&["C4"]), from, to).await, Err(Error::LostUpdate(_))));
    assert_eq!(s.customer_link(ORG, from).await.unwrap().unwrap().conversation_ids.len(), 3, "the pages recorded stay");
    // Given back while unlinking, without changing what the link lists.
    let (back, p2, sec2) = crate::domain::customer_link::unlinked(&done, &p, &sec, t(7));
    let moved = s.whatsapp_identity(ORG, "addr-C1").await.unwrap().unwrap();
    s.switch_customers(&LinkSwitch { link: &back, over: Some(LinkState::Done), customers: [(&p, &p2), (&sec, &sec2)], identities: std::slice::from_ref(&moved), from: to, to: from }).await.unwrap();
    let back = s.customer_link(ORG, from).await.unwrap().unwrap();
    s.move_conversations(&back, &back.conversation_ids, to, from).await.unwrap();
    assert_eq!(s.conversations_linked(ORG, from, 10).await.unwrap(), strings(&["C1", "C2", "C3", "C4", "C5"]));
    assert_eq!(s.conversations_linked(ORG, to, 10).await.unwrap(), strings(&["P1"]));
    assert_eq!(s.customer_link(ORG, from).await.unwrap().unwrap().conversation_ids.len(), 3);
}

/// The conversation as a writer read it before the move (its version and customer then).
fn c1_before(moved: &Conversation) -> Conversation {
    Conversation { version: moved.version - 1, customer_id: "cu-addr-C1".into(), ..moved.clone() }
}

#[cfg(test)]
mod memory {
    async fn fresh() -> crate::adapters::memory::MemoryStore {
        crate::adapters::memory::MemoryStore::new()
    }

    crate::store_contract!(#[tokio::test] fresh);

    async fn fresh_secrets() -> crate::adapters::memory::MemorySecrets {
        crate::adapters::memory::MemorySecrets::new()
    }

    crate::secrets_contract!(#[tokio::test] fresh_secrets);

    async fn fresh_blobs() -> crate::adapters::memory::MemoryBlobs {
        crate::adapters::memory::MemoryBlobs::new()
    }

    crate::blob_contract!(#[tokio::test] fresh_blobs);
}

// ------------------------------------------------------------------ transactions (issue 12)

fn transaction(org: &str, customer: &str, id: &str, minute: i64, amount_minor: i64) -> crate::domain::transaction::Transaction {
    from_json(json!({
        "org_id": org, "customer_id": customer, "id": id, "amount_minor": amount_minor, "currency": "EUR",
        "status": "completed", "occurred_at": t(minute), "recorded_at": t(100)
    }))
}

pub async fn a_transaction_is_recorded_once_per_id_and_the_first_stands<S: Stores + ?Sized>(s: &S) {
    let first = transaction(ORG, "u1", "order-1", 1, 1999);
    assert_eq!(s.record_transaction(&first).await.unwrap(), TransactionPut::Stored);
    // The same post again, and another body under the same id: both find the first, unchanged.
    let again = crate::domain::transaction::Transaction { recorded_at: t(200), ..first.clone() };
    assert_eq!(s.record_transaction(&again).await.unwrap(), TransactionPut::Exists(first.clone()));
    let other = transaction(ORG, "u1", "order-1", 1, 2500);
    assert_eq!(s.record_transaction(&other).await.unwrap(), TransactionPut::Exists(first.clone()));
    let listed = s.transactions(ORG, "u1", &PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert_eq!(listed.items, vec![first]);
    // The id is the customer's own, in the organisation's own space.
    for (org, customer) in [(ORG, "u2"), (OTHER, "u1")] {
        assert_eq!(s.record_transaction(&transaction(org, customer, "order-1", 1, 5)).await.unwrap(), TransactionPut::Stored);
    }
}

pub async fn transactions_list_newest_first_in_pages_per_customer<S: Stores + ?Sized>(s: &S) {
    // Five, posted out of order; two at the same minute (the id breaks the tie, descending).
    for (id, minute) in [("b", 3), ("a", 1), ("e", 9), ("c", 3), ("d", 5)] {
        s.record_transaction(&transaction(ORG, "u1", id, minute, -100)).await.unwrap();
    }
    s.record_transaction(&transaction(ORG, "u2", "z", 50, 1)).await.unwrap();
    s.record_transaction(&transaction(OTHER, "u1", "y", 50, 1)).await.unwrap();
    let pages = all_pages(async |cursor| s.transactions(ORG, "u1", &PageRequest { limit: 2, cursor }).await).await;
    let ids: Vec<String> = pages.iter().flatten().map(|t| t.fields.id.clone()).collect();
    assert_eq!(ids, ["e", "d", "c", "b", "a"]);
    assert!(pages.iter().all(|p| p.len() <= 2));
    assert_eq!(s.transactions(OTHER, "u2", &PageRequest { limit: 10, cursor: None }).await.unwrap().items, vec![]);
    // A cursor of one customer's list is refused on another's.
    let first = s.transactions(ORG, "u1", &PageRequest { limit: 2, cursor: None }).await.unwrap();
    let refused = s.transactions(ORG, "u2", &PageRequest { limit: 2, cursor: first.next_cursor }).await;
    assert!(matches!(refused, Err(Error::Invalid { ref field, .. }) if field == "cursor"), "{refused:?}");
}

// ------------------------------------------------------------------ customer context (issue 12)

pub async fn the_customers_links_lead_to_their_records<S: Stores + ?Sized>(s: &S) {
    // A customer with two conversations, a ticket, two actions (one by idempotency key) and a
    // call; another customer's call and another organisation's customer beside.
    let c1 = stored_conversation(s, ORG, "C1", t(1)).await;
    let customer_id = c1.customer_id.clone();
    let mut c2 = conversation(ORG, "C2", &c1.customer_address, t(2));
    c2.customer_id = customer_id.clone();
    let identity_now = identity(ORG, &c1.customer_address, &customer_id, Some("C1"));
    assert_eq!(s.open_conversation(&identity_now, Some("C1"), &c2).await.unwrap(), Written::Stored);
    let mut t1 = ticket(ORG, "T1", TicketPriority::High);
    t1.customer_id = Some(customer_id.clone());
    assert_eq!(s.save_ticket(&new_ticket(&t1)).await.unwrap(), Written::Stored);
    let a1 = action(ORG, "A1", &c1, "refund_request", ActionStatus::Pending);
    let a2 = action(ORG, "A2", &c2, "other", ActionStatus::Pending);
    assert_eq!(s.create_action(&a1, None).await.unwrap(), Written::Stored);
    assert_eq!(s.create_action(&a2, Some("key-2")).await.unwrap(), Written::Stored);
    assert_eq!(s.create_action(&a2, Some("key-2")).await.unwrap(), Written::AlreadyThere);
    let mut k1 = new_call(ORG, "K1", None, t(5));
    k1.customer_id = Some(customer_id.clone());
    let k1 = stored_call(s, k1).await;
    let mut stranger = new_call(ORG, "K2", None, t(5));
    stranger.customer_id = Some("someone-else".into());
    stored_call(s, stranger).await;
    stored_conversation(s, OTHER, "C9", t(1)).await;

    let links = s.customer_links(ORG, &customer_id).await.unwrap().expect("the customer");
    assert_eq!(links.customer.id, customer_id);
    assert_eq!((links.conversation_ids, links.ticket_ids), (vec!["C1".to_string(), "C2".into()], vec!["T1".to_string()]));
    assert_eq!((links.action_ids, links.call_ids), (vec!["A1".to_string(), "A2".into()], vec!["K1".to_string()]));
    assert_eq!(s.customer_links(OTHER, &customer_id).await.unwrap(), None);
    assert_eq!(s.customer_links(ORG, "nobody").await.unwrap(), None);

    // The records in the order asked; unknown ids and another organisation's are left out.
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let wanted = LinkedIds { conversations: ids(&["C2", "C1", "C9"]), tickets: ids(&["T1", "T0"]), actions: ids(&["A2", "A1"]), calls: ids(&["K1"]) };
    let records = s.linked_records(ORG, &wanted).await.unwrap();
    assert_eq!(records.conversations.iter().map(conversation_id).collect::<Vec<_>>(), ["C2", "C1"]);
    assert_eq!(records.tickets, vec![t1]);
    assert_eq!(records.actions, vec![(a2, None), (a1, None)]);
    assert_eq!(records.calls, vec![k1]);
    assert_eq!(s.linked_records(OTHER, &wanted).await.unwrap().conversations.iter().map(conversation_id).collect::<Vec<_>>(), ["C9"]);
    assert_eq!(s.linked_records(ORG, &LinkedIds::default()).await.unwrap(), LinkedRecords::default());
}

// ------------------------------------------------------------------ media (issue 12)

fn media_file(org: &str, id: &str) -> crate::domain::media::MediaFile {
    let reference = crate::domain::media::media_reference("document", Some(&serde_json::json!({"id": format!("9{id}"), "filename": "a.pdf"}))).unwrap();
    crate::domain::media::MediaFile::pending(org, "conv-1", id, "106540352242922", &reference, media_time(0))
}

fn media_time(hours: i64) -> DateTime<Utc> {
    chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(hours)
}

pub async fn a_media_file_is_created_once_and_read_only_by_its_organisation<S: Stores + ?Sized>(s: &S) {
    use crate::domain::media::MediaStatus;
    let file = media_file(ORG, "m1");
    assert_eq!(s.create_media_file(&file).await.unwrap(), Written::Stored);
    let mut again = file.clone();
    again.channel_media_id = "other".into();
    assert_eq!(s.create_media_file(&again).await.unwrap(), Written::AlreadyThere);
    assert_eq!(s.media_file(ORG, "m1").await.unwrap(), Some(file.clone()), "the first write holds");
    assert_eq!(s.media_file(OTHER, "m1").await.unwrap(), None);
    let mut stored = file.clone();
    stored.stored("media/k".into(), Some("application/pdf".into()), 3, "h=".into(), media_time(1), 90);
    s.save_media_file(&stored).await.unwrap();
    assert_eq!(s.media_file(ORG, "m1").await.unwrap().map(|f| f.status), Some(MediaStatus::Stored));
    s.create_media_file(&media_file(ORG, "m2")).await.unwrap();
    let mut found = s.media_files(ORG, &["m2".into(), "m1".into(), "absent".into()]).await.unwrap();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(found.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["m1", "m2"]);
    assert!(s.media_files(OTHER, &["m1".into()]).await.unwrap().is_empty());
    s.delete_media_file(ORG, "m1").await.unwrap();
    assert_eq!(s.media_file(ORG, "m1").await.unwrap(), None);
    s.delete_media_file(ORG, "m1").await.unwrap();
}

pub async fn expiring_media_are_the_stored_files_of_a_day_due_before_a_time<S: Stores + ?Sized>(s: &S) {
    // Three files stored to expire on the same day at 02:00, 05:00 and 09:00 (two organisations),
    // one the next day, one still pending.
    for (org, id, stored_hour) in [(ORG, "a", 2), (OTHER, "b", 5), (ORG, "c", 9), (ORG, "d", 26)] {
        let mut f = media_file(org, id);
        s.create_media_file(&f).await.unwrap();
        f.stored(format!("media/{id}"), None, 1, "h=".into(), media_time(stored_hour), 10);
        s.save_media_file(&f).await.unwrap();
    }
    s.create_media_file(&media_file(ORG, "pending")).await.unwrap();
    let day = (media_time(0) + chrono::Duration::days(10)).date_naive();
    let ids = |v: Vec<crate::domain::media::MediaFile>| v.into_iter().map(|f| f.id).collect::<Vec<_>>();
    let at = |h: i64| media_time(h) + chrono::Duration::days(10);
    assert_eq!(ids(s.expiring_media(day, at(6), 10).await.unwrap()), ["a", "b"], "oldest first, across organisations");
    assert_eq!(ids(s.expiring_media(day, at(6), 1).await.unwrap()), ["a"]);
    assert_eq!(ids(s.expiring_media(day, at(2), 10).await.unwrap()), Vec::<String>::new(), "before, not at");
    assert_eq!(ids(s.expiring_media(day, at(48), 10).await.unwrap()), ["a", "b", "c"], "only that day's partition");
    assert_eq!(ids(s.expiring_media(day.succ_opt().unwrap(), at(48), 10).await.unwrap()), ["d"]);
}

pub async fn an_unused_upload_expires_a_day_on_and_a_used_one_after_the_retention<S: Stores + ?Sized>(s: &S) {
    use crate::domain::media::{MediaFile, MediaStatus, NewUpload, UNUSED_UPLOAD_KEPT};
    let wanted = NewUpload {
        media_type: crate::domain::outbound::MediaType::Image,
        mime_type: "image/png".into(),
        size: 4,
        filename: None,
        animated: None,
    };
    let ids = |v: Vec<MediaFile>| v.into_iter().map(|f| f.id).collect::<Vec<_>>();
    // GIVEN two uploads handed out at hour 0 (the second one in another organisation)
    let mut mine = MediaFile::upload(ORG, "up1", &wanted, "agent-1", media_time(0));
    assert_eq!(s.create_media_file(&mine).await.unwrap(), Written::Stored);
    s.create_media_file(&MediaFile::upload(OTHER, "up2", &wanted, "agent-9", media_time(0))).await.unwrap();
    assert_eq!(s.media_file(ORG, "up1").await.unwrap(), Some(mine.clone()));
    assert_eq!(s.media_file(OTHER, "up1").await.unwrap(), None);
    // THEN both wait in the index a day on, awaiting their bytes
    let day = (media_time(0) + UNUSED_UPLOAD_KEPT).date_naive();
    let after_a_day = media_time(0) + UNUSED_UPLOAD_KEPT + chrono::Duration::minutes(1);
    let due = s.expiring_media(day, after_a_day, 10).await.unwrap();
    assert_eq!(ids(due.clone()), ["up1", "up2"]);
    assert!(due.iter().all(|f| f.status == MediaStatus::AwaitingUpload));
    // WHEN a reply uses the first THEN it leaves that day for the retention's
    mine.used(media_time(1), 30);
    s.save_media_file(&mine).await.unwrap();
    assert_eq!(ids(s.expiring_media(day, after_a_day, 10).await.unwrap()), ["up2"]);
    let later = media_time(1) + chrono::Duration::days(30);
    assert_eq!(ids(s.expiring_media(later.date_naive(), later + chrono::Duration::minutes(1), 10).await.unwrap()), ["up1"]);
}

pub async fn media_retention_is_stored_per_organisation<S: Stores + ?Sized>(s: &S) {
    assert_eq!(s.media_retention(ORG).await.unwrap(), None);
    s.put_media_retention(ORG, 30, None).await.unwrap();
    s.put_media_retention(ORG, 7, None).await.unwrap();
    assert_eq!(s.media_retention(ORG).await.unwrap(), Some(7));
    assert_eq!(s.media_retention(OTHER).await.unwrap(), None);
}

/// A body handed over in odd-sized pieces.
struct Pieces(std::vec::IntoIter<Vec<u8>>);

#[async_trait::async_trait]
impl crate::ports::ChunkSource for Pieces {
    async fn next_chunk(&mut self) -> crate::error::Result<Option<Vec<u8>>> {
        Ok(self.0.next())
    }
}

pub async fn a_chunked_body_is_stored_whole_across_parts_with_its_type(b: &dyn BlobStore) {
    // Over two multipart parts (8 MiB each) in 1 MiB + 3 byte pieces, and a small one in one put.
    let big: Vec<u8> = (0..crate::ports::PART_BYTES * 2 + 12345).map(|i| (i % 251) as u8).collect();
    let mut pieces = Pieces(big.chunks(1024 * 1024 + 3).map(<[u8]>::to_vec).collect::<Vec<_>>().into_iter());
    assert_eq!(b.put_chunks("media/o/c/m/big.pdf", "application/pdf", &mut pieces).await.unwrap(), big.len() as u64);
    assert!(b.get("media/o/c/m/big.pdf").await.unwrap() == big, "the same bytes in order");
    let mut small = Pieces(vec![b"ab".to_vec(), b"c".to_vec()].into_iter());
    assert_eq!(b.put_chunks("media/o/c/m/small.jpg", "image/jpeg", &mut small).await.unwrap(), 3);
    assert_eq!(b.get("media/o/c/m/small.jpg").await.unwrap(), b"abc");
    assert!(b.presigned_get("media/o/c/m/small.jpg", 600).await.unwrap().contains("small.jpg"));
}
