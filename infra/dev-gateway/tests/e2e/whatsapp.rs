//! The webhook receiver and inbound processing, with Meta's own example payloads.

use futures::future::join_all;
use max_dev::testing::{TestOptions, TestStack, WAIT, all_fixtures, eventually, fixture};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The conversation of the customer with WhatsApp address `address`, once it exists.
async fn conversation_of(t: &TestStack, address: &str) -> Value {
    eventually(&format!("a conversation with {address}"), WAIT, || async {
        t.conversations().await.into_iter().find(|c| c["customer_address"] == address)
    })
    .await
}

async fn message_with_wamid(t: &TestStack, conversation_id: &str, wamid: &str) -> Value {
    eventually(&format!("message {wamid}"), WAIT, || async {
        t.messages(conversation_id).await.into_iter().find(|m| m["wamid"] == wamid)
    })
    .await
}

#[tokio::test]
async fn every_fixture_is_accepted_and_what_it_carries_is_visible() {
    let fixtures = all_fixtures();
    assert!(fixtures.len() >= 20, "fixtures beside the repo: found {}", fixtures.len());
    for (name, body) in fixtures {
        // Several of Meta's examples share a message id: each gets a stack of its own.
        let t = TestStack::start().await;
        let res = t.post_webhook(&body).await;
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        let json: Value = serde_json::from_slice(&body).unwrap();
        let mut statuses = 0;
        for entry in json["entry"].as_array().unwrap() {
            for change in entry["changes"].as_array().unwrap() {
                let value = &change["value"];
                match change["field"].as_str().unwrap() {
                    "messages" => {
                        for m in value["messages"].as_array().into_iter().flatten() {
                            let from = m["from"].as_str().unwrap();
                            let conversation = conversation_of(&t, from).await;
                            let stored = message_with_wamid(&t, conversation["id"].as_str().unwrap(), m["id"].as_str().unwrap()).await;
                            let kind = m["type"].as_str().unwrap();
                            assert_eq!(stored["type"], kind, "{name}");
                            assert_eq!(stored["direction"], "inbound", "{name}");
                            if let Some(content) = m.get(kind) {
                                assert_eq!(&stored["content"], content, "{name}: content kept whole");
                            }
                            if kind == "text" {
                                assert_eq!(stored["text"], m["text"]["body"], "{name}");
                            }
                            for key in ["context", "referral", "errors"] {
                                if let Some(v) = m.get(key) {
                                    assert_eq!(&stored[key], v, "{name}: {key}");
                                }
                            }
                            let customer_id = conversation["customer_id"].as_str().unwrap();
                            let (status, customer) = t.get(&format!("/v1/customers/{customer_id}"), &t.org.agent).await;
                            assert_eq!(status, StatusCode::OK);
                            if let Some(profile) = value["contacts"][0]["profile"]["name"].as_str() {
                                assert_eq!(customer["name"], profile, "{name}");
                            }
                        }
                        statuses += value["statuses"].as_array().map_or(0, Vec::len);
                    }
                    "message_template_status_update" => {
                        let template_id = value["message_template_id"].to_string();
                        let key = max_core::adapters::dynamo::keys::whatsapp_template(&t.org.seed.id, &template_id);
                        let stored: Value = eventually("template status", WAIT, || async {
                            t.stack.dynamo.get::<Value>(key.clone()).await.ok().flatten()
                        })
                        .await;
                        assert_eq!(stored["status"], value["event"], "{name}");
                        assert_eq!(stored["name"], value["message_template_name"], "{name}");
                    }
                    field => {
                        // Fields we do not act on are kept whole in S3, not dropped.
                        let s3 = t.stack.s3.clone();
                        let bucket = t.stack.settings.media_bucket.clone().expect("bucket");
                        let prefix = format!("webhooks/unhandled/{field}/");
                        eventually(&format!("{field} kept"), WAIT, || async {
                            let out = s3.list_objects_v2().bucket(&bucket).prefix(&prefix).send().await.ok()?;
                            (out.key_count().unwrap_or(0) > 0).then_some(())
                        })
                        .await;
                    }
                }
            }
        }
        if statuses > 0 {
            // Statuses for messages we never sent change nothing and are not errors: once the
            // job is consumed, no message moved and no status reached the feed.
            t.drained().await;
            let feed = t.feed(&t.org.admin).await;
            assert!(feed.iter().all(|e| e["kind"] != "message.status_changed"), "{name}: {feed:?}");
            for c in t.conversations().await {
                for m in t.messages(c["id"].as_str().unwrap()).await {
                    assert_eq!(m["direction"], "inbound", "{name}: only what the customer wrote: {m}");
                    assert_eq!(m["status"], "received", "{name}: {m}");
                }
            }
        }
    }
}

#[tokio::test]
async fn a_batched_body_keeps_each_customer_apart() {
    let t = TestStack::start().await;
    assert_eq!(t.post_webhook(&fixture("batched-two-changes.json")).await.status(), StatusCode::OK);
    let ana = conversation_of(&t, "5215512345678").await;
    let juan = conversation_of(&t, "5215598765432").await;
    assert_ne!(ana["customer_id"], juan["customer_id"]);
    let ana_messages = eventually("both of Ana's messages", WAIT, || async {
        let m = t.messages(ana["id"].as_str().unwrap()).await;
        (m.len() == 2).then_some(m)
    })
    .await;
    assert_eq!(ana_messages[0]["text"], "Hola, necesito ayuda");
    assert_eq!(ana_messages[1]["text"], "2");
    let juan_messages = t.messages(juan["id"].as_str().unwrap()).await;
    assert_eq!(juan_messages[0]["type"], "image");
    assert_eq!(juan_messages[0]["content"]["id"], "1003383421387256");
}

#[tokio::test]
async fn the_same_payload_twenty_times_at_once_is_stored_once() {
    let t = TestStack::start().await;
    let body = fixture("meta-openapi/text-message.json");
    let answers = join_all((0..20).map(|_| t.post_webhook(&body))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    // However many copies SQS let through, every one was consumed before counting.
    t.drained().await;
    let all = t.conversations().await;
    assert_eq!(all.len(), 1, "one conversation");
    let messages = t.messages(all[0]["id"].as_str().unwrap()).await;
    assert_eq!(messages.len(), 1, "one message");
    assert_eq!(messages[0]["wamid"], "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=");
}

/// SQS delivers at least once: the same job through inbound-processor twice (not left to the
/// queue's deduplication window) stores the message once and leaves the conversation as it was.
#[tokio::test]
async fn a_redelivered_inbound_job_is_stored_once() {
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let body = crate::fresh(&fixture("batched-two-changes.json"));
    assert!(t.process_inbound(&body).await.batch_item_failures.is_empty());
    let first = t.conversations().await;
    assert_eq!(first.len(), 2, "two customers");
    let before: Vec<Vec<Value>> = join_all(first.iter().map(|c| t.messages(c["id"].as_str().unwrap()))).await;
    assert_eq!(before.iter().map(Vec::len).sum::<usize>(), 3, "Ana's two messages and Juan's one");
    let feed = t.feed(&t.org.admin).await;

    assert!(t.process_inbound(&body).await.batch_item_failures.is_empty(), "a duplicate is not a failure");
    assert_eq!(t.conversations().await, first, "the conversations are untouched (no new message, preview or version)");
    let after: Vec<Vec<Value>> = join_all(first.iter().map(|c| t.messages(c["id"].as_str().unwrap()))).await;
    assert_eq!(after, before, "each message stored once");
    assert_eq!(t.feed(&t.org.admin).await, feed, "nothing new in the feed");
}

/// A webhook body too large for one queue message (over 256 KiB) is kept in S3 under `inbound/`,
/// the queue gets a pointer to it, and inbound-processor reads it from there.
#[tokio::test]
async fn a_body_over_256_kib_goes_through_s3_and_is_processed() {
    let t = TestStack::start().await;
    let mut v: Value = serde_json::from_slice(&crate::fresh(&fixture("meta-openapi/text-message.json"))).unwrap();
    let template = v["entry"][0]["changes"][0]["value"]["messages"][0].clone();
    let messages: Vec<Value> = (0..20)
        .map(|i| {
            let mut m = template.clone();
            m["id"] = Value::String(format!("wamid.LARGE-{i:02}"));
            m["text"]["body"] = Value::String(format!("{i:02} {}", "x".repeat(14_000)));
            m
        })
        .collect();
    v["entry"][0]["changes"][0]["value"]["messages"] = Value::Array(messages);
    let body = serde_json::to_vec(&v).unwrap();
    assert!(body.len() > 256 * 1024, "{} bytes", body.len());
    assert_eq!(t.post_webhook(&body).await.status(), StatusCode::OK);

    let s3 = t.stack.s3.clone();
    let bucket = t.stack.settings.media_bucket.clone().expect("bucket");
    let listed = s3.list_objects_v2().bucket(&bucket).prefix("inbound/").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 1, "the body is kept whole once: {keys:?}");
    let kept = s3.get_object().bucket(&bucket).key(keys[0]).send().await.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(kept.as_ref(), body.as_slice());

    t.drained().await;
    let conversation = conversation_of(&t, "16505551234").await;
    let stored = t.messages(conversation["id"].as_str().unwrap()).await;
    let mut wamids: Vec<&str> = stored.iter().filter_map(|m| m["wamid"].as_str()).collect();
    wamids.sort();
    let want: Vec<String> = (0..20).map(|i| format!("wamid.LARGE-{i:02}")).collect();
    assert_eq!(wamids, want, "every message of the body");
    assert_eq!(stored[19]["text"].as_str().map(str::len), Some(14_003));
}

#[tokio::test]
async fn unsigned_wrongly_signed_and_oversized_bodies_are_refused_and_nothing_is_stored() {
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let body = fixture("meta-openapi/text-message.json");
    let post = |signature: Option<String>, body: Vec<u8>| {
        let mut req = t.http.post(t.url("/webhooks/whatsapp")).header("content-type", "application/json").body(body);
        if let Some(s) = signature {
            req = req.header("x-hub-signature-256", s);
        }
        req.send()
    };
    assert_eq!(post(None, body.clone()).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let wrong = max_core::domain::webhook::sign(b"not-the-secret", &body);
    assert_eq!(post(Some(wrong), body.clone()).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let tampered = max_core::domain::webhook::sign(t.app_secret.as_bytes(), &body);
    let mut changed = body.clone();
    changed[10] ^= 1;
    assert_eq!(post(Some(tampered), changed).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let huge = vec![b' '; 3 * 1024 * 1024 + 1];
    let signed = max_core::domain::webhook::sign(t.app_secret.as_bytes(), &huge);
    let res = post(Some(signed), huge).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(t.queued("InboundQueue").await, 0, "nothing was queued");
    // A correct one is queued, once.
    assert_eq!(t.post_webhook(&body).await.status(), StatusCode::OK);
    assert_eq!(t.queued("InboundQueue").await, 1);
}

#[tokio::test]
async fn signed_bodies_we_cannot_place_are_quarantined_with_200() {
    let t = TestStack::start().await;
    let s3 = t.stack.s3.clone();
    let bucket = t.stack.settings.media_bucket.clone().expect("bucket");
    assert_eq!(t.post_webhook(b"this is not json").await.status(), StatusCode::OK);
    let mut unknown: Value = serde_json::from_slice(&fixture("meta-openapi/text-message.json")).unwrap();
    unknown["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = Value::String("999".into());
    assert_eq!(t.post_webhook(&serde_json::to_vec(&unknown).unwrap()).await.status(), StatusCode::OK);
    for prefix in ["quarantine/unreadable-body/", "quarantine/unknown-phone-number-id/999/"] {
        eventually(prefix, WAIT, || async {
            let out = s3.list_objects_v2().bucket(&bucket).prefix(prefix).send().await.ok()?;
            (out.key_count().unwrap_or(0) == 1).then_some(())
        })
        .await;
    }
    t.drained().await;
    assert!(t.conversations().await.is_empty());
}

#[tokio::test]
async fn the_verification_handshake_answers_the_challenge_only_with_the_right_token() {
    let t = TestStack::start().await;
    let verify = |token: &str| {
        t.http
            .get(t.url(&format!("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444")))
            .send()
    };
    let ok = verify("dev-verify-token").await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(verify("wrong").await.unwrap().status(), StatusCode::FORBIDDEN);
}

/// The WhatsApp id is the key of an inbound message: the store refuses a second message with the
/// same wamid even under another message id (the marker, not only the message's own key).
#[tokio::test]
async fn the_store_keeps_one_message_per_wamid_whatever_its_id() {
    use max_core::ports::Written;
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    assert!(t.process_inbound(&crate::fresh(&fixture("meta-openapi/text-message.json"))).await.batch_item_failures.is_empty());
    let listed = t.conversations().await;
    let (org, conversation_id) = (t.org.seed.id.as_str(), listed[0]["id"].as_str().unwrap());
    let stored_id = t.messages(conversation_id).await[0]["id"].as_str().unwrap().to_string();
    let store = &t.stack.deps.store;
    let mut message = store.message(org, conversation_id, &stored_id).await.unwrap().expect("stored");
    let mut conversation = store.conversation(org, conversation_id).await.unwrap().expect("stored");
    message.id = max_core::domain::ids::new_id(chrono::Utc::now());
    conversation.version += 1;
    assert_eq!(store.record_inbound(&message, &conversation).await.unwrap(), Written::AlreadyThere);
    assert_eq!(t.messages(conversation_id).await.len(), 1);
    assert_eq!(t.conversations().await, listed, "the conversation is untouched");
}

#[tokio::test]
async fn a_customers_messages_of_one_second_list_in_the_order_sent() {
    // GIVEN ten messages a customer sent within one WhatsApp second, posted by Meta in order
    let t = TestStack::start().await;
    let base: Value = serde_json::from_slice(&fixture("meta-openapi/text-message.json")).unwrap();
    let second = chrono::Utc::now().timestamp().to_string();
    for i in 0..10 {
        let mut body = base.clone();
        let m = &mut body["entry"][0]["changes"][0]["value"]["messages"][0];
        m["id"] = json!(format!("wamid.ORDER-{i:02}"));
        m["timestamp"] = json!(second);
        m["text"]["body"] = json!(format!("{i:02}"));
        assert_eq!(t.post_webhook(&serde_json::to_vec(&body).unwrap()).await.status(), StatusCode::OK);
    }
    // THEN the conversation lists them in that order
    let from = base["entry"][0]["changes"][0]["value"]["messages"][0]["from"].as_str().unwrap();
    let conversation = conversation_of(&t, from).await;
    let id = conversation["id"].as_str().unwrap();
    let texts = eventually("the ten messages", WAIT, || async {
        let inbound = t.messages(id).await.into_iter().filter(|m| m["direction"] == "inbound");
        let texts: Vec<String> = inbound.map(|m| m["text"].as_str().unwrap_or_default().to_string()).collect();
        (texts.len() == 10).then_some(texts)
    })
    .await;
    assert_eq!(texts, (0..10).map(|i| format!("{i:02}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn two_hundred_messages_from_twenty_customers_posted_at_once_are_all_stored_each_in_order() {
    // GIVEN twenty customers writing at the same time, each sending ten messages one after the
    // other (Meta posts a number's webhooks concurrently, one customer's in order)
    let t = TestStack::start().await;
    let base: Value = serde_json::from_slice(&fixture("meta-openapi/text-message.json")).unwrap();
    let address = |c: usize| format!("3161555{c:04}");
    let customer = |c: usize| {
        let (t, base) = (&t, base.clone());
        async move {
            for i in 0..10 {
                let mut body = base.clone();
                let value = &mut body["entry"][0]["changes"][0]["value"];
                value["contacts"][0]["wa_id"] = json!(address(c));
                let m = &mut value["messages"][0];
                m["from"] = json!(address(c));
                m["id"] = json!(format!("wamid.LOAD-{c:02}-{i:02}"));
                m["timestamp"] = json!((chrono::Utc::now().timestamp()).to_string());
                m["text"]["body"] = json!(format!("{c:02}-{i:02}"));
                assert_eq!(t.post_webhook(&serde_json::to_vec(&body).unwrap()).await.status(), StatusCode::OK);
            }
        }
    };
    join_all((0..20).map(customer)).await;
    // THEN every message is stored, and each customer's conversation lists theirs in the order sent
    // (a minute: two hundred messages and the bot's answers on a shared machine)
    for c in 0..20 {
        let conversation = conversation_of(&t, &address(c)).await;
        let id = conversation["id"].as_str().unwrap();
        let texts = eventually(&format!("customer {c}'s ten messages"), std::time::Duration::from_secs(60), || async {
            let inbound = t.messages(id).await.into_iter().filter(|m| m["direction"] == "inbound");
            let texts: Vec<String> = inbound.map(|m| m["text"].as_str().unwrap_or_default().to_string()).collect();
            (texts.len() >= 10).then_some(texts)
        })
        .await;
        assert_eq!(texts, (0..10).map(|i| format!("{c:02}-{i:02}")).collect::<Vec<_>>(), "customer {c}");
    }
}
