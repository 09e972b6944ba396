//! Customer-side rate limits (`docs/rate-limits.md`): counted in `app::inbound` before anything
//! answers, one block per crossing with one event and one notice, messages kept while blocked,
//! unblocking and the settings.

use super::*;
use crate::app::bot::{BotOutcome, handle_received, seed_defaults};
use crate::app::rate_limits::{customer_view, save_settings, settings, unblock};
use crate::domain::message::SenderType;
use crate::domain::rate_limit::{BlockReason, RateLimitSettings};
use crate::ports::{ConversationStore, CustomerStore};

/// GIVEN the organisation's number and its bot (which answers every message in the menu state).
async fn given_bot() -> World {
    let w = World::new().with_channel(None).await;
    seed_defaults(w.store(), ORG, t(0)).await.unwrap();
    w
}

/// The customer writes; each stored message goes to the bot, as inbound-processor has it.
async fn customer_writes(w: &World, wamid: &str, at: DateTime<Utc>) -> Vec<(Received, BotOutcome)> {
    let mut handled = Vec::new();
    for r in w.receive_text(CUSTOMER, wamid, "hello", at).await {
        let outcome = handle_received(&w.deps.bot_ports(), &r, at).await.unwrap();
        handled.push((r, outcome));
    }
    handled
}

fn at_second(s: i64) -> DateTime<Utc> {
    t(0) + Duration::seconds(s)
}

/// Outbound messages of the conversation by who sent them.
async fn sent_by(w: &World, conversation_id: &str, kind: SenderType) -> Vec<Message> {
    w.messages(conversation_id)
        .await
        .into_iter()
        .filter(|m| m.sender.kind == kind)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn twenty_five_messages_in_a_minute_twenty_answered_all_kept_one_event_one_notice() {
    let w = given_bot().await;
    // WHEN the customer sends 25 messages within one minute
    let mut all = Vec::new();
    for i in 0..25 {
        all.extend(customer_writes(&w, &format!("wamid.{i}"), at_second(i * 2)).await);
    }
    // THEN all 25 are stored, the last 5 marked rate-limited
    assert_eq!(all.len(), 25);
    let conversation = all[0].0.conversation.id.clone();
    let inbound: Vec<Message> = w
        .messages(&conversation)
        .await
        .into_iter()
        .filter(|m| m.sender.kind == SenderType::Customer)
        .collect();
    assert_eq!(inbound.len(), 25);
    assert_eq!(inbound.iter().filter(|m| m.rate_limited).count(), 5);
    assert!(
        inbound[..20].iter().all(|m| !m.rate_limited),
        "the first 20 are within the limit"
    );
    // AND the bot answered the first 20 only; the 21st started the block and owes the one notice
    assert_eq!(sent_by(&w, &conversation, SenderType::Bot).await.len(), 20);
    let notices = sent_by(&w, &conversation, SenderType::System).await;
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0]
            .outbound
            .as_ref()
            .unwrap()
            .preview()
            .contains("10 minutes")
    );
    assert_eq!(all[20].1.reply_id.as_deref(), Some(notices[0].id.as_str()));
    assert!(
        all[20].0.rate_limit.is_some() && all[21..].iter().all(|(r, _)| r.rate_limit.is_none())
    );
    // AND one event for supervisors
    let events = w.events_of(ORG, EventKind::CustomerRateLimited).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["notify"], json!({ "role": "supervisor" }));
    assert_eq!(events[0].data["reason"], "messages_per_minute");
    assert_eq!(
        events[0].data["customer_id"],
        json!(all[0].0.conversation.customer_id)
    );
    // AND the customer shows the block, until the cool-down ends
    let view = customer_view(
        w.store(),
        ORG,
        &all[0].0.conversation.customer_id,
        at_second(60),
    )
    .await
    .unwrap();
    let block = view.blocked.expect("blocked");
    assert_eq!(
        (block.since, block.until, block.reason),
        (
            at_second(40),
            at_second(40) + Duration::minutes(10),
            BlockReason::MessagesPerMinute
        )
    );
    // AND every message is handled (nothing stays owed), no ticket was opened
    assert_eq!(
        crate::app::support::notifications(w.store(), ORG, None)
            .await
            .unwrap()
            .open_tickets,
        0
    );
}

#[tokio::test(start_paused = true)]
async fn a_blocked_customer_is_answered_again_once_the_cool_down_ends() {
    let w = given_bot().await;
    for i in 0..21 {
        customer_writes(&w, &format!("wamid.{i}"), at_second(i)).await;
    }
    let blocked_at = at_second(20);
    // WHEN they write during the cool-down, then at its very end
    let during = customer_writes(&w, "wamid.during", blocked_at + Duration::minutes(9)).await;
    let after = customer_writes(&w, "wamid.after", blocked_at + Duration::minutes(10)).await;
    // THEN the first is kept unanswered, the second answered by the bot
    assert!(during[0].0.message.rate_limited && during[0].1.reply_id.is_none());
    assert!(!after[0].0.message.rate_limited);
    assert!(after[0].1.reply_id.is_some());
    assert_eq!(
        w.events_of(ORG, EventKind::CustomerRateLimited).await.len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_redelivered_message_is_counted_once_and_the_block_announced_once() {
    let w = given_bot().await;
    // GIVEN 20 messages, each delivered twice (SQS and Meta redeliver)
    for i in 0..20 {
        customer_writes(&w, &format!("wamid.{i}"), at_second(i)).await;
        assert!(
            customer_writes(&w, &format!("wamid.{i}"), at_second(i))
                .await
                .is_empty(),
            "a handled duplicate is ignored"
        );
    }
    // THEN nobody is blocked: a redelivery counts nothing
    let id = w
        .store()
        .whatsapp_identity(ORG, CUSTOMER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id.blocked, None);
    // WHEN the 21st is stored but its job fails before the bot, and is delivered again
    let first = w
        .receive_text(CUSTOMER, "wamid.20", "hello", at_second(20))
        .await;
    assert!(first[0].message.rate_limited && first[0].rate_limit.is_some());
    let again = customer_writes(&w, "wamid.20", at_second(20)).await;
    // THEN the redelivery still knows it started the block, and announces it once
    assert_eq!(again.len(), 1);
    assert!(again[0].0.repeated && again[0].0.rate_limit.is_some());
    handle_received(&w.deps.bot_ports(), &again[0].0, at_second(21))
        .await
        .unwrap();
    assert_eq!(
        w.events_of(ORG, EventKind::CustomerRateLimited).await.len(),
        1
    );
    assert_eq!(
        sent_by(&w, &first[0].conversation.id, SenderType::System)
            .await
            .len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn the_sixth_new_conversation_in_an_hour_is_not_opened() {
    let w = given_bot().await;
    let mut conversations = Vec::new();
    // GIVEN five conversations opened and closed within the hour
    for i in 0..5 {
        let handled = customer_writes(&w, &format!("wamid.{i}"), t(i * 5)).await;
        let c = w
            .store()
            .conversation(ORG, &handled[0].0.conversation.id)
            .await
            .unwrap()
            .unwrap();
        crate::app::conversations::close(w.store(), &w.deps.routing_ports(), ORG, &c.id, t(i * 5 + 1))
            .await
            .unwrap();
        conversations.push(c.id);
    }
    conversations.dedup();
    assert_eq!(conversations.len(), 5);
    // WHEN the customer writes again in the same hour
    let sixth = customer_writes(&w, "wamid.5", t(30)).await;
    // THEN no sixth conversation: the message is kept on the latest one, which stays closed
    let (received, outcome) = &sixth[0];
    assert_eq!(received.conversation.id, conversations[4]);
    assert!(received.message.rate_limited);
    let latest = w
        .store()
        .conversation(ORG, &conversations[4])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        latest.status,
        crate::domain::conversation::ConversationStatus::Closed
    );
    assert_eq!(
        w.store()
            .whatsapp_identity(ORG, CUSTOMER)
            .await
            .unwrap()
            .unwrap()
            .open_conversation_id,
        None
    );
    // AND one block, one event, one notice
    assert_eq!(
        received.rate_limit.as_ref().map(|b| b.reason),
        Some(BlockReason::ConversationsPerHour)
    );
    assert!(outcome.reply_id.is_some());
    assert_eq!(
        w.events_of(ORG, EventKind::CustomerRateLimited).await.len(),
        1
    );
    // AND the next message during the cool-down joins it too, answered by nobody
    let next = customer_writes(&w, "wamid.6", t(31)).await;
    assert_eq!(next[0].0.conversation.id, conversations[4]);
    assert!(next[0].0.message.rate_limited && next[0].1.reply_id.is_none());
    assert_eq!(
        sent_by(&w, &conversations[4], SenderType::System)
            .await
            .len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_supervisor_unblocks_and_the_next_message_is_answered() {
    let w = given_bot().await;
    for i in 0..21 {
        customer_writes(&w, &format!("wamid.{i}"), at_second(i)).await;
    }
    let customer_id = w
        .store()
        .whatsapp_identity(ORG, CUSTOMER)
        .await
        .unwrap()
        .unwrap()
        .customer_id;
    // WHEN a supervisor unblocks the customer (another organisation cannot)
    assert_not_found(
        unblock(w.store(), w.store(), OTHER_ORG, &customer_id, at_second(30)).await,
        "customer",
    );
    let view = unblock(w.store(), w.store(), ORG, &customer_id, at_second(30))
        .await
        .unwrap();
    assert_eq!(view.blocked, None);
    assert_eq!(
        customer_view(w.store(), ORG, &customer_id, at_second(31))
            .await
            .unwrap()
            .blocked,
        None
    );
    // THEN their next message, in the same minute, is answered and counted afresh
    let next = customer_writes(&w, "wamid.next", at_second(32)).await;
    assert!(!next[0].0.message.rate_limited && next[0].1.reply_id.is_some());
    // AND unblocking again changes nothing
    assert_eq!(
        unblock(w.store(), w.store(), ORG, &customer_id, at_second(33))
            .await
            .unwrap()
            .blocked,
        None
    );
}

#[tokio::test(start_paused = true)]
async fn settings_are_validated_and_applied_to_the_next_message() {
    let w = given_bot().await;
    assert_eq!(
        settings(w.store(), ORG).await.unwrap(),
        RateLimitSettings::default()
    );
    let bad = RateLimitSettings {
        messages_per_minute: 0,
        ..RateLimitSettings::default()
    };
    assert!(
        matches!(save_settings(w.store(), ORG, bad, &admin_actor(), t(0)).await, Err(Error::Invalid { field, .. }) if field == "messages_per_minute")
    );
    let tight = RateLimitSettings {
        messages_per_minute: 2,
        conversations_per_hour: 5,
        cooldown_minutes: 1,
    };
    save_settings(w.store(), ORG, tight, &admin_actor(), t(0))
        .await
        .unwrap();
    assert_eq!(settings(w.store(), ORG).await.unwrap(), tight);
    assert_eq!(
        settings(w.store(), OTHER_ORG).await.unwrap(),
        RateLimitSettings::default()
    );
    // WHEN the customer sends three messages in a minute
    let mut handled = Vec::new();
    for i in 0..3 {
        handled.extend(customer_writes(&w, &format!("wamid.{i}"), at_second(i)).await);
    }
    // THEN the third is over the limit, blocked for one minute
    assert_eq!(
        handled
            .iter()
            .map(|(r, _)| r.message.rate_limited)
            .collect::<Vec<_>>(),
        [false, false, true]
    );
    let block = handled[2].0.rate_limit.clone().expect("the block");
    assert_eq!(block.until, at_second(2) + Duration::minutes(1));
}

#[tokio::test(start_paused = true)]
async fn a_crossing_that_finds_another_deliverys_block_follows_it_and_announces_nothing() {
    use crate::domain::rate_limit::CustomerBlock;
    use crate::ports::RateLimitStore;
    let w = given_bot().await;
    for i in 0..20 {
        customer_writes(&w, &format!("wamid.{i}"), at_second(i)).await;
    }
    // GIVEN a block another delivery set for a later message (Meta delivers out of order)
    let conversation = w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().unwrap().open_conversation_id.unwrap();
    let theirs = CustomerBlock::start(&RateLimitSettings::default(), BlockReason::MessagesPerMinute, at_second(50), "wamid.later", &conversation);
    assert_eq!(w.store().block_customer(ORG, CUSTOMER, &theirs).await.unwrap(), theirs);
    // WHEN an earlier message, the 21st of its minute, crosses the limit too
    let crossing = customer_writes(&w, "wamid.20", at_second(30)).await;
    // THEN it is kept unanswered under that block, which it did not start: no event, no notice
    let (received, outcome) = &crossing[0];
    assert!(received.message.rate_limited && received.rate_limit.is_none() && outcome.reply_id.is_none());
    assert_eq!(w.store().whatsapp_identity(ORG, CUSTOMER).await.unwrap().unwrap().blocked, Some(theirs));
    assert!(w.events_of(ORG, EventKind::CustomerRateLimited).await.is_empty());
}
