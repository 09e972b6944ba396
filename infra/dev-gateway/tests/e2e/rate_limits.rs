//! Customer-side rate limits end to end (`docs/rate-limits.md`): signed webhooks through the dev
//! gateway, inbound-processor in process, DynamoDB in moto, the WhatsApp sandbox. A customer
//! posting 25 messages in one minute: all 25 stored and readable, 20 answered by the bot, one
//! `customer.rate_limited` event, one notice in the sandbox outbox, the block on the customer
//! until the cool-down ends or a supervisor lifts it.

use chrono::{DateTime, Duration, Utc};
use max_dev::testing::{CUSTOMER, TestStack, WAIT, eventually, fixture, items};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Meta's text message from the fixtures' customer, with its own WhatsApp id and time.
fn text_from_customer(wamid: &str, at: DateTime<Utc>) -> Vec<u8> {
    let mut v: Value =
        serde_json::from_slice(&fixture("meta-openapi/text-message.json")).expect("fixture JSON");
    let m = &mut v["entry"][0]["changes"][0]["value"]["messages"][0];
    m["id"] = json!(wamid);
    m["timestamp"] = json!(at.timestamp().to_string());
    m["text"]["body"] = json!(format!("message {wamid}"));
    serde_json::to_vec(&v).expect("JSON")
}

/// The whole feed as `token` sees it, following its cursor.
async fn whole_feed(t: &TestStack, token: &str) -> Vec<Value> {
    let (mut all, mut path) = (Vec::new(), "/v1/events?limit=100".to_string());
    loop {
        let (status, body) = t.get(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = items(&body);
        if page.is_empty() {
            return all;
        }
        all.extend(page);
        path = format!(
            "/v1/events?limit=100&after={}",
            body["next_cursor"].as_str().expect("a cursor")
        );
    }
}

/// The customer's conversation, once it is visible.
async fn first_conversation(t: &TestStack) -> String {
    let c = eventually("the conversation", WAIT, || async {
        t.conversations().await.into_iter().next()
    })
    .await;
    c["id"].as_str().expect("conversation id").to_string()
}

fn by_sender<'a>(messages: &'a [Value], kind: &str) -> Vec<&'a Value> {
    messages
        .iter()
        .filter(|m| m["sender"]["type"] == kind)
        .collect()
}

#[tokio::test]
async fn twenty_five_messages_in_a_minute_twenty_answered_one_event_one_notice_blocked_until_unblocked()
 {
    let t = TestStack::start().await;
    // The bot answers every message in its menu state: what "handled" looks like.
    max_dev::seed::bot_menu(&t.stack.deps, &t.org.seed)
        .await
        .expect("bot menu");
    // One timestamp for all: the same fixed minute whenever the test runs.
    let at = Utc::now();
    let bodies: Vec<Vec<u8>> = (0..25)
        .map(|i| text_from_customer(&format!("wamid.rate.{i:02}"), at))
        .collect();

    // GIVEN 20 messages, the fifth of them delivered once more (an SQS redelivery of its job)
    for body in &bodies[..20] {
        assert_eq!(t.post_webhook(body).await.status(), StatusCode::OK);
    }
    let conversation = first_conversation(&t).await;
    let customer_messages = |n: usize| {
        let conversation = conversation.clone();
        let t = &t;
        async move {
            let messages = t.messages(&conversation).await;
            (by_sender(&messages, "customer").len() >= n).then_some(messages)
        }
    };
    eventually("the first 20 messages stored", WAIT, || {
        customer_messages(20)
    })
    .await;
    let redelivered = t.process_inbound(&bodies[4]).await;
    assert!(redelivered.batch_item_failures.is_empty());

    // WHEN 5 more arrive within the same minute
    for body in &bodies[20..] {
        assert_eq!(t.post_webhook(body).await.status(), StatusCode::OK);
    }
    eventually("all 25 messages stored", WAIT, || customer_messages(25)).await;
    t.drained().await;

    // THEN all 25 are stored and readable, the last 5 marked rate-limited
    let messages = t.messages(&conversation).await;
    let inbound = by_sender(&messages, "customer");
    assert_eq!(inbound.len(), 25, "{messages:?}");
    let limited: Vec<&str> = inbound
        .iter()
        .filter(|m| m["rate_limited"] == true)
        .map(|m| m["wamid"].as_str().unwrap())
        .collect();
    assert_eq!(
        limited,
        [
            "wamid.rate.20",
            "wamid.rate.21",
            "wamid.rate.22",
            "wamid.rate.23",
            "wamid.rate.24"
        ]
    );
    // AND the bot answered 20 (the redelivery counted and answered nothing more); one notice
    assert_eq!(
        by_sender(&messages, "bot").len(),
        20,
        "{:?}",
        messages
            .iter()
            .map(|m| (m["sender"].clone(), m["type"].clone()))
            .collect::<Vec<_>>()
    );
    let notices = by_sender(&messages, "system");
    assert_eq!(notices.len(), 1, "{notices:?}");
    // AND the notice reached WhatsApp once (the sandbox's outbox)
    let sandbox = t.stack.sandbox.as_ref().expect("the WhatsApp sandbox");
    let sent_notices = eventually("the notice is sent", WAIT, || async {
        let sent: Vec<_> = sandbox
            .outbox()
            .into_iter()
            .filter(|m| {
                m.request["text"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("paused"))
            })
            .collect();
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent_notices.len(), 1);
    assert_eq!(sent_notices[0].request["to"], CUSTOMER);
    // AND one event, meant for supervisors
    let feed = whole_feed(&t, &t.org.supervisor).await;
    let events: Vec<&Value> = feed
        .iter()
        .filter(|e| e["kind"] == "customer.rate_limited")
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["notify"], json!({ "role": "supervisor" }));
    assert_eq!(events[0]["data"]["reason"], "messages_per_minute");
    let customer = events[0]["data"]["customer_id"]
        .as_str()
        .expect("customer id")
        .to_string();
    // AND the customer shows the block, for the cool-down (10 minutes by default)
    let path = format!("/v1/customers/{customer}");
    let (status, shown) = t.get(&path, &t.org.agent).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["blocked"]["reason"], "messages_per_minute", "{shown}");
    let until: DateTime<Utc> = shown["blocked"]["until"].as_str().unwrap().parse().unwrap();
    let since: DateTime<Utc> = shown["blocked"]["since"].as_str().unwrap().parse().unwrap();
    assert_eq!(until - since, Duration::minutes(10));
    assert_eq!(t.get(&path, &t.other.admin).await.0, StatusCode::NOT_FOUND);

    // WHEN the customer writes once more during the cool-down, then once it has ended
    assert_eq!(
        t.post_webhook(&text_from_customer(
            "wamid.rate.during",
            at + Duration::minutes(5)
        ))
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        t.post_webhook(&text_from_customer("wamid.rate.after", until))
            .await
            .status(),
        StatusCode::OK
    );
    eventually("both stored", WAIT, || customer_messages(27)).await;
    t.drained().await;
    // THEN the first is kept unanswered, the second answered again
    let messages = t.messages(&conversation).await;
    let flag = |wamid: &str| {
        messages
            .iter()
            .find(|m| m["wamid"] == wamid)
            .map(|m| m["rate_limited"] == true)
    };
    assert_eq!(
        (flag("wamid.rate.during"), flag("wamid.rate.after")),
        (Some(true), Some(false))
    );
    assert_eq!(by_sender(&messages, "bot").len(), 21);
    assert_eq!(
        by_sender(&messages, "system").len(),
        1,
        "one notice per block"
    );
    assert_eq!(
        whole_feed(&t, &t.org.admin)
            .await
            .iter()
            .filter(|e| e["kind"] == "customer.rate_limited")
            .count(),
        1
    );

    // Unblocking: supervisors and admins only, their organisation only, harmless twice.
    let unblock = format!("/v1/customers/{customer}/unblock");
    assert_eq!(
        t.api(Method::POST, &unblock, &t.org.agent, None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.api(Method::POST, &unblock, &t.other.supervisor, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    for _ in 0..2 {
        let (status, body) = t.api(Method::POST, &unblock, &t.org.supervisor, None).await;
        assert_eq!(
            (status, &body["blocked"]),
            (StatusCode::OK, &Value::Null),
            "{body}"
        );
    }
    assert_eq!(t.get(&path, &t.org.agent).await.1["blocked"], Value::Null);
}

#[tokio::test]
async fn rate_limit_settings_are_read_by_anyone_written_by_admins_validated_and_applied() {
    let t = TestStack::start().await;
    let (status, defaults) = t.get("/v1/settings/rate-limits", &t.org.agent).await;
    assert_eq!(
        (status, defaults),
        (
            StatusCode::OK,
            json!({ "messages_per_minute": 20, "conversations_per_hour": 5, "cooldown_minutes": 10 })
        )
    );
    let tight =
        json!({ "messages_per_minute": 2, "conversations_per_hour": 5, "cooldown_minutes": 1 });
    assert_eq!(
        t.api(
            Method::PUT,
            "/v1/settings/rate-limits",
            &t.org.supervisor,
            Some(tight.clone())
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (status, problem) = t.api(Method::PUT, "/v1/settings/rate-limits", &t.org.admin, Some(json!({ "messages_per_minute": 0, "conversations_per_hour": 5, "cooldown_minutes": 1 }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem.to_string().contains("messages_per_minute"),
        "{problem}"
    );
    let (status, saved) = t
        .api(
            Method::PUT,
            "/v1/settings/rate-limits",
            &t.org.admin,
            Some(tight.clone()),
        )
        .await;
    assert_eq!((status, &saved), (StatusCode::OK, &tight));
    assert_eq!(
        t.get("/v1/settings/rate-limits", &t.org.agent).await.1,
        tight
    );
    // Another organisation keeps the defaults.
    assert_eq!(
        t.get("/v1/settings/rate-limits", &t.other.agent).await.1["messages_per_minute"],
        20
    );
    // WHEN the customer sends three messages in a minute, THEN the third is over the limit.
    let at = Utc::now();
    for i in 0..3 {
        assert_eq!(
            t.post_webhook(&text_from_customer(&format!("wamid.tight.{i}"), at))
                .await
                .status(),
            StatusCode::OK
        );
    }
    let conversation = first_conversation(&t).await;
    let messages = eventually("three messages stored", WAIT, || async {
        let m = t.messages(&conversation).await;
        (by_sender(&m, "customer").len() >= 3).then_some(m)
    })
    .await;
    let limited: Vec<bool> = by_sender(&messages, "customer")
        .iter()
        .map(|m| m["rate_limited"] == true)
        .collect();
    assert_eq!(limited, [false, false, true]);
}
