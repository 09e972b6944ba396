//! Interactions through the API and the real next-step queue: completing one creates exactly one
//! next interaction with the right dates and links, whatever the duplicates and races; 409s,
//! 404s across organisations, 422s naming the field.

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, Utc};
use max_core::domain::conversation::{Conversation, ConversationStatus};
use max_core::domain::customer::{ChannelIdentity, Customer, IdentityChannel};
use max_dev::registry;
use max_dev::testing::{TestOptions, TestStack, WAIT, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};


/// A customer of `org` (as the inbound path would have created it); returns their id.
async fn customer(t: &TestStack, org: &str) -> String {
    let now = Utc::now();
    let id = ulid::Ulid::new().to_string();
    let address = format!("1555{}", &id[16..]);
    let customer = Customer::new(id.clone(), org, Some("Ana Ruiz".into()), Some(address.clone()), None, now);
    let identity = ChannelIdentity { org_id: org.into(), channel: IdentityChannel::Whatsapp, address: address.clone(), customer_id: id.clone(), open_conversation_id: Some(format!("c{id}")), profile_name: None, last_conversation_id: None, blocked: None };
    let conversation = Conversation {
        id: format!("c{id}"), org_id: org.into(), customer_id: id.clone(), channel: "whatsapp".into(),
        phone_number_id: "106540352242922".into(), customer_address: address, status: ConversationStatus::Open,
        assignee_id: None, state: "menu".into(), ticket_id: None, created_at: now, updated_at: now,
        last_message_at: now, last_message_preview: None, last_inbound_at: None, last_inbound_message_id: None, window_closes_at: None,
        closed_at: None, close_reason: None, team_id: None, priority: Default::default(), required_skills: vec![], first_message_at: None,
        first_response_at: None, waiting_since: None, sla_policy_id: None, sla: None, holds_capacity_of: None, version: 1, after_hours_reply: None, sla_counts: Vec::new(),
    };
    t.stack.deps.store.create_customer(&customer, &identity, &conversation).await.expect("customer stored");
    id
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}"))).unwrap().with_timezone(&Utc)
}

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

async fn create(t: &TestStack, token: &str, body: Value) -> Value {
    let (status, created) = t.post("/v1/interactions", token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn complete(t: &TestStack, id: &str) -> Value {
    let (status, done) = t.post(&format!("/v1/interactions/{id}/complete"), &t.org.agent, json!({ "outcome": "success" })).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "completed");
    done
}

/// The interaction that follows `previous`, once the next-step worker has created it.
async fn next_of(t: &TestStack, previous: &str) -> Value {
    eventually("the next interaction", WAIT, || async {
        let (_, p) = t.get(&format!("/v1/interactions/{previous}"), &t.org.agent).await;
        p["next_interaction_id"].as_str().map(str::to_string)
    })
    .await;
    let (_, p) = t.get(&format!("/v1/interactions/{previous}"), &t.org.agent).await;
    let (status, next) = t.get(&format!("/v1/interactions/{}", p["next_interaction_id"].as_str().unwrap()), &t.org.agent).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next["previous_interaction_id"], previous);
    next
}

/// Every interaction of a customer (open and closed).
async fn all_of(t: &TestStack, customer: &str) -> Vec<Value> {
    let (status, page) = t.get(&format!("/v1/interactions?customer_id={customer}&limit=100"), &t.org.agent).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn template_named(t: &TestStack, name: &str) -> Value {
    let (status, list) = t.get("/v1/interactions/templates", &t.org.agent).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().iter().find(|x| x["name"] == name).cloned().unwrap_or_else(|| panic!("no template {name}: {list}"))
}

/// `copies` of the next-step job for `interaction`, in one batch.
fn job_event(org: &str, interaction: &str, copies: usize) -> SqsEvent {
    max_dev::testing::sqs_job(&json!({ "org_id": org, "interaction_id": interaction }), copies, "next-step")
}

#[tokio::test]
async fn a_workflow_runs_step_by_step_with_its_dates_then_falls_back_to_the_follow_up() {
    let t = TestStack::start().await;
    let c = customer(&t, &t.org.seed.id).await;
    let standard = template_named(&t, "Standard Follow-up Sequence").await;
    assert_eq!(standard["is_default"], false, "seeded templates are not the default");

    let (status, first) = t
        .post("/v1/interactions/workflow/start", &t.org.agent, json!({ "customer_id": c, "template_id": standard["id"] }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!((first["type"].clone(), first["step_number"].clone()), (json!("phone_call"), json!(1)));
    let (_, next) = t.get(&format!("/v1/interactions/customers/{c}/next"), &t.org.agent).await;
    assert_eq!(next["id"], first["id"]);

    // Call done: the proposal is scheduled now and due two days later.
    let done = complete(&t, first["id"].as_str().unwrap()).await;
    let proposal = next_of(&t, first["id"].as_str().unwrap()).await;
    let completed_at = time(&done["completed_at"]);
    assert_eq!((proposal["type"].clone(), proposal["step_number"].clone()), (json!("send_proposal"), json!(2)));
    assert_eq!(proposal["template_id"], standard["id"]);
    assert_eq!(proposal["status"], "pending");
    assert_eq!(time(&proposal["scheduled_at"]), completed_at);
    assert_eq!(time(&proposal["due_at"]), completed_at + days(2));
    let (_, first_now) = t.get(&format!("/v1/interactions/{}", first["id"].as_str().unwrap()), &t.org.agent).await;
    assert_eq!(first_now["next_interaction_id"], proposal["id"]);
    let (_, next) = t.get(&format!("/v1/interactions/customers/{c}/next"), &t.org.agent).await;
    assert_eq!(next["id"], proposal["id"], "the customer's next step is the proposal");

    // Proposal sent: the follow-up is three days later, due two days after that.
    let done = complete(&t, proposal["id"].as_str().unwrap()).await;
    let follow_up = next_of(&t, proposal["id"].as_str().unwrap()).await;
    let completed_at = time(&done["completed_at"]);
    assert_eq!(follow_up["step_number"], 3);
    assert_eq!(time(&follow_up["scheduled_at"]), completed_at + days(3));
    assert_eq!(time(&follow_up["due_at"]), completed_at + days(5));

    // The last step does not end this template's chain: the default follow-up comes 3 days later.
    let done = complete(&t, follow_up["id"].as_str().unwrap()).await;
    let after = next_of(&t, follow_up["id"].as_str().unwrap()).await;
    assert_eq!(after["type"], "follow_up");
    assert_eq!(after["template_id"], Value::Null);
    assert_eq!(time(&after["scheduled_at"]), time(&done["completed_at"]) + days(3));
    assert_eq!(all_of(&t, &c).await.len(), 4);
}

#[tokio::test]
async fn outside_a_workflow_the_follow_up_then_the_default_template_come_next() {
    let t = TestStack::start().await;
    let c = customer(&t, &t.org.seed.id).await;
    // Follow-ups come 5 days later in this organisation.
    let (status, settings) = t.api(Method::PUT, "/v1/interactions/settings", &t.org.admin, Some(json!({ "default_follow_up_days": 5 }))).await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    let call = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "phone_call", "title": "Call on Monday" })).await;
    let done = complete(&t, call["id"].as_str().unwrap()).await;
    let follow_up = next_of(&t, call["id"].as_str().unwrap()).await;
    assert_eq!(follow_up["type"], "follow_up");
    assert_eq!(time(&follow_up["scheduled_at"]), time(&done["completed_at"]) + days(5));

    // With a default template, a completion outside any workflow starts it.
    let (status, quick) = t
        .post(
            "/v1/interactions/templates",
            &t.org.admin,
            json!({
                "name": "Demo first", "is_default": true,
                "steps": [
                    { "step_number": 1, "type": "demo", "title": "Product demo", "scheduled_offset_days": 1, "due_offset_days": 1, "next_step": 2 },
                    { "step_number": 2, "type": "email", "title": "Recap", "scheduled_offset_days": 0, "due_offset_days": 1 }
                ]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{quick}");
    let done = complete(&t, follow_up["id"].as_str().unwrap()).await;
    let demo = next_of(&t, follow_up["id"].as_str().unwrap()).await;
    assert_eq!((demo["type"].clone(), demo["template_id"].clone(), demo["step_number"].clone()), (json!("demo"), quick["id"].clone(), json!(1)));
    assert_eq!(time(&demo["scheduled_at"]), time(&done["completed_at"]) + days(1));
    assert_eq!(time(&demo["due_at"]), time(&done["completed_at"]) + days(2));

    // Choosing another default takes the flag from the first: one default per organisation.
    let standard = template_named(&t, "Standard Follow-up Sequence").await;
    let mut replacement = standard.clone();
    for field in ["id", "org_id", "created_by", "created_at", "updated_at", "version"] {
        replacement.as_object_mut().unwrap().remove(field);
    }
    replacement["is_default"] = json!(true);
    let (status, body) = t.api(Method::PUT, &format!("/v1/interactions/templates/{}", standard["id"].as_str().unwrap()), &t.org.admin, Some(replacement)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = t.get("/v1/interactions/templates", &t.org.agent).await;
    let defaults: Vec<&Value> = list["items"].as_array().unwrap().iter().filter(|x| x["is_default"] == true).collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], standard["id"]);
}

#[tokio::test]
async fn a_template_can_end_its_chain_at_the_last_step() {
    let t = TestStack::start().await;
    let c = customer(&t, &t.org.seed.id).await;
    let (status, once) = t
        .post(
            "/v1/interactions/templates",
            &t.org.admin,
            json!({
                "name": "One call", "on_last_step": "end",
                "steps": [{ "step_number": 1, "type": "phone_call", "title": "Call", "scheduled_offset_days": 0, "due_offset_days": 0 }]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{once}");
    let (_, first) = t.post("/v1/interactions/workflow/start", &t.org.agent, json!({ "customer_id": c, "template_id": once["id"], "start_date": "2026-01-22" })).await;
    assert_eq!(time(&first["scheduled_at"]), "2026-01-22T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
    complete(&t, first["id"].as_str().unwrap()).await;
    let ended = eventually("the chain to end", WAIT, || async {
        let (_, i) = t.get(&format!("/v1/interactions/{}", first["id"].as_str().unwrap()), &t.org.agent).await;
        (i["chain_ended"] == true).then_some(i)
    })
    .await;
    assert_eq!(ended["next_interaction_id"], Value::Null);
    assert_eq!(all_of(&t, &c).await.len(), 1);
}

#[tokio::test]
async fn duplicate_jobs_and_racing_completes_give_exactly_one_next_interaction() {
    let t = TestStack::start().await;
    let c = customer(&t, &t.org.seed.id).await;
    let call = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "phone_call", "title": "Call" })).await;
    let id = call["id"].as_str().unwrap().to_string();

    // Eight completes at once: one wins, the others see it completed.
    let path = format!("/v1/interactions/{id}/complete");
    let attempts = futures::future::join_all((0..8).map(|_| t.post(&path, &t.org.agent, json!({ "outcome": "success" })))).await;
    let won = attempts.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(won, 1, "{attempts:?}");
    for (status, body) in attempts.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["current_status"], "completed");
    }
    let next = next_of(&t, &id).await;

    // The same job again: twice through the real queue, twice in one batch, and two batches racing.
    let queue_url = t.stack.resources.queue_urls["NextStepQueue"].clone();
    let body = json!({ "org_id": t.org.seed.id, "interaction_id": id }).to_string();
    for _ in 0..2 {
        t.stack.sqs.send_message().queue_url(&queue_url).message_body(&body).send().await.unwrap();
    }
    let deps = &t.stack.deps;
    let (a, b) = futures::join!(
        registry::invoke_sqs("next-step", job_event(&t.org.seed.id, &id, 2), deps),
        registry::invoke_sqs("next-step", job_event(&t.org.seed.id, &id, 2), deps)
    );
    for response in [a, b] {
        assert!(response.expect("registered").expect("ran").batch_item_failures.is_empty());
    }
    t.drained().await;
    let all = all_of(&t, &c).await;
    assert_eq!(all.len(), 2, "the completed call and exactly one next step: {all:?}");
    assert!(all.iter().any(|x| x["id"] == next["id"]));
}

#[tokio::test]
async fn a_lost_job_is_queued_again_by_a_retried_complete_or_the_sweep() {
    let t = TestStack::start().await;
    let store = &*t.stack.deps.store;
    let c = customer(&t, &t.org.seed.id).await;
    let org = t.org.seed.id.clone();

    // Completed, but the function crashed before queueing the job.
    let call = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "phone_call", "title": "Call" })).await;
    let stored = store.interaction(&org, call["id"].as_str().unwrap()).await.unwrap().unwrap();
    let done = stored.complete(&max_core::domain::interaction::Completion { outcome: "success".into(), outcome_details: None }, Utc::now()).unwrap();
    store.save_interaction(&done).await.unwrap();
    // The client retries: 409 (it is completed), and the owed job goes out again.
    let (status, body) = t.post(&format!("/v1/interactions/{}/complete", done.id), &t.org.agent, json!({ "outcome": "success" })).await;
    assert_eq!((status, body["current_status"].clone()), (StatusCode::CONFLICT, json!("completed")));
    next_of(&t, &done.id).await;

    // Nobody retries: the scheduled sweep finds it once it has been owed for a while.
    let call = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "email", "title": "Mail" })).await;
    let stored = store.interaction(&org, call["id"].as_str().unwrap()).await.unwrap().unwrap();
    let long_ago = Utc::now() - chrono::Duration::minutes(15);
    let done = stored.complete(&max_core::domain::interaction::Completion { outcome: "sent".into(), outcome_details: None }, long_ago).unwrap();
    store.save_interaction(&done).await.unwrap();
    registry::invoke_schedule("next-step", json!({ "detail-type": "Scheduled Event" }), &t.stack.deps).await.expect("registered").expect("ran");
    let next = next_of(&t, &done.id).await;
    assert_eq!(time(&next["scheduled_at"]), done.completed_at.unwrap() + days(3));
    // Once linked, it is owed no more: another sweep queues nothing.
    assert_eq!(next_step::sweep(&t.stack.deps).await.unwrap(), 0);

    // The worker crashed after storing the next step but before linking it: the redelivered job
    // links that one instead of creating another.
    let call = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "meeting", "title": "Meet" })).await;
    let stored = store.interaction(&org, call["id"].as_str().unwrap()).await.unwrap().unwrap();
    let done = stored.complete(&max_core::domain::interaction::Completion { outcome: "met".into(), outcome_details: None }, Utc::now()).unwrap();
    store.save_interaction(&done).await.unwrap();
    let catalog = max_core::ports::WorkflowStore::workflow_catalog(store, &org).await.unwrap();
    let orphan = max_core::domain::workflow::next_interaction(&done, &catalog, Utc::now()).unwrap();
    store.store_if_absent(&orphan).await.unwrap();
    let before = all_of(&t, &c).await.len();
    let response = registry::invoke_sqs("next-step", job_event(&org, &done.id, 1), &t.stack.deps).await.expect("registered").expect("ran");
    assert!(response.batch_item_failures.is_empty());
    let next = next_of(&t, &done.id).await;
    assert_eq!(next["id"], orphan.id.as_str());
    assert_eq!(all_of(&t, &c).await.len(), before, "no second next step");
}

#[tokio::test]
async fn closed_interactions_answer_409_with_their_status() {
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let c = customer(&t, &t.org.seed.id).await;
    let a = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "phone_call", "title": "A" })).await;
    let b = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "phone_call", "title": "B" })).await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    complete(&t, a).await;
    let (status, cancelled) = t.post(&format!("/v1/interactions/{b}/cancel"), &t.org.agent, json!({})).await;
    assert_eq!((status, cancelled["status"].clone()), (StatusCode::OK, json!("cancelled")));
    for (path, body, current) in [
        (format!("/v1/interactions/{a}/complete"), json!({ "outcome": "again" }), "completed"),
        (format!("/v1/interactions/{a}/cancel"), json!({}), "completed"),
        (format!("/v1/interactions/{b}/complete"), json!({ "outcome": "late" }), "cancelled"),
        (format!("/v1/interactions/{b}/cancel"), json!({}), "cancelled"),
    ] {
        let (status, problem) = t.post(&path, &t.org.agent, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {problem}");
        assert_eq!(problem["current_status"], current, "{path}");
    }
    let (status, problem) = t.api(Method::PUT, &format!("/v1/interactions/{b}"), &t.org.agent, Some(json!({ "title": "x" }))).await;
    assert_eq!((status, problem["current_status"].clone()), (StatusCode::CONFLICT, json!("cancelled")));
}

#[tokio::test]
async fn another_organisation_sees_none_of_it() {
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let c = customer(&t, &t.org.seed.id).await;
    let i = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "phone_call", "title": "Call" })).await;
    let id = i["id"].as_str().unwrap();
    let b = &t.other.admin;
    for (m, path, body) in [
        (Method::GET, format!("/v1/interactions/{id}"), None),
        (Method::PUT, format!("/v1/interactions/{id}"), Some(json!({ "title": "mine now" }))),
        (Method::POST, format!("/v1/interactions/{id}/complete"), Some(json!({ "outcome": "success" }))),
        (Method::POST, format!("/v1/interactions/{id}/cancel"), Some(json!({}))),
        (Method::GET, format!("/v1/interactions/customers/{c}/next"), None),
        (Method::GET, format!("/v1/interactions/customers/{c}/pending"), None),
        (Method::GET, format!("/v1/interactions/customers/{c}/overdue"), None),
    ] {
        let (status, problem) = t.api(m.clone(), &path, b, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{m} {path}: {problem}");
    }
    let (_, list) = t.get(&format!("/v1/interactions?customer_id={c}"), b).await;
    assert_eq!(list["items"], json!([]));
    // Another organisation's template or customer cannot be named either.
    let standard = template_named(&t, "Standard Follow-up Sequence").await;
    let (status, problem) = t.get(&format!("/v1/interactions/templates/{}", standard["id"].as_str().unwrap()), b).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (status, problem) = t.post("/v1/interactions/workflow/start", b, json!({ "customer_id": c, "template_id": standard["id"] })).await;
    assert_eq!((status, problem["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("template_id")));
    let (status, problem) = t.post("/v1/interactions", b, json!({ "customer_id": c, "type": "sms", "title": "Hi" })).await;
    assert_eq!((status, problem["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("customer_id")));
}

#[tokio::test]
async fn bad_input_answers_422_naming_the_field() {
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let c = customer(&t, &t.org.seed.id).await;
    let step = |n: u32, next: Value, scheduled: i64, due: i64| {
        json!({ "step_number": n, "type": "phone_call", "title": format!("Step {n}"), "scheduled_offset_days": scheduled, "due_offset_days": due, "next_step": next })
    };
    for (steps, field) in [
        (json!([step(1, json!(2), 0, 0), step(2, json!(3), 0, 0), step(3, json!(9), 0, 0)]), "steps[2].next_step"),
        (json!([step(1, json!(2), 0, 0), step(2, json!(1), 0, 0)]), "steps[1].next_step"),
        (json!([step(1, json!(2), 0, 0), step(2, Value::Null, 0, -1)]), "steps[1].due_offset_days"),
        (json!([step(1, Value::Null, -2, 0)]), "steps[0].scheduled_offset_days"),
        (json!([]), "steps"),
    ] {
        let (status, problem) = t.post("/v1/interactions/templates", &t.org.admin, json!({ "name": "Broken", "steps": steps })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (status, _) = t.post("/v1/interactions/templates", &t.org.agent, json!({ "name": "Mine", "steps": [step(1, Value::Null, 0, 0)] })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "templates are settings: admins only");

    for (body, field) in [
        (json!({ "customer_id": c, "type": "phone_call" }), "title"),
        (json!({ "customer_id": c, "type": "Phone Call", "title": "x" }), "type"),
        (json!({ "customer_id": c, "type": "phone_call", "title": "x", "priority": "asap" }), "priority"),
        (json!({ "customer_id": c, "type": "phone_call", "title": "x", "scheduled_at": "2026-02-02T10:00:00Z", "due_at": "2026-02-01T10:00:00Z" }), "due_at"),
        (json!({ "customer_id": "nobody", "type": "phone_call", "title": "x" }), "customer_id"),
        (json!({ "customer_id": c, "type": "phone_call", "title": "x", "status": "completed" }), "status"),
    ] {
        let (status, problem) = t.post("/v1/interactions", &t.org.agent, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let i = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "site_visit", "title": "Visit the site" })).await;
    let id = i["id"].as_str().unwrap();
    let (status, problem) = t.post(&format!("/v1/interactions/{id}/complete"), &t.org.agent, json!({ "outcome": " " })).await;
    assert_eq!((status, problem["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("outcome")));
    let (status, problem) = t.post(&format!("/v1/interactions/{id}/complete"), &t.org.agent, json!({})).await;
    assert_eq!((status, problem["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("outcome")), "{problem}");
    let (status, problem) = t.api(Method::PUT, &format!("/v1/interactions/{id}"), &t.org.agent, Some(json!({ "status": "completed" }))).await;
    assert_eq!((status, problem["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("status")));
    for (query, field) in [("status=done", "status"), ("due_before=monday", "due_before"), ("overdue=maybe", "overdue"), ("limit=0", "limit")] {
        let (status, problem) = t.get(&format!("/v1/interactions?{query}"), &t.org.agent).await;
        assert_eq!((status, problem["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(field)), "{query}");
    }
    let (status, problem) = t.api(Method::PUT, "/v1/interactions/settings", &t.org.admin, Some(json!({ "time_zone": "Mars/Olympus" }))).await;
    assert_eq!((status, problem["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("time_zone")));
}

#[tokio::test]
async fn next_pending_overdue_and_the_list_filters() {
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let c = customer(&t, &t.org.seed.id).await;
    let other = customer(&t, &t.org.seed.id).await;
    let now = Utc::now();
    let at = |d: i64| (now + days(d)).to_rfc3339();
    let late = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "phone_call", "title": "Late call", "scheduled_at": at(-3), "due_at": at(-1), "priority": "high" })).await;
    let soon = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "email", "title": "Mail", "scheduled_at": at(1), "due_at": at(2) })).await;
    let later = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "meeting", "title": "Meet", "scheduled_at": at(5), "due_at": at(6) })).await;
    let elsewhere = create(&t, &t.org.agent, json!({ "customer_id": other, "type": "sms", "title": "Text", "scheduled_at": at(-2), "due_at": at(-2) })).await;

    let (_, next) = t.get(&format!("/v1/interactions/customers/{c}/next"), &t.org.agent).await;
    assert_eq!(next["id"], late["id"], "the most pressing open interaction comes first");
    let (_, pending) = t.get(&format!("/v1/interactions/customers/{c}/pending"), &t.org.agent).await;
    let ids: Vec<&Value> = pending["items"].as_array().unwrap().iter().map(|x| &x["id"]).collect();
    assert_eq!(ids, [&late["id"], &soon["id"], &later["id"]]);
    let (_, overdue) = t.get(&format!("/v1/interactions/customers/{c}/overdue"), &t.org.agent).await;
    assert_eq!(overdue["items"].as_array().unwrap().iter().map(|x| &x["id"]).collect::<Vec<_>>(), [&late["id"]]);
    let (_, org_overdue) = t.get("/v1/interactions?overdue=true", &t.org.agent).await;
    let ids: Vec<&Value> = org_overdue["items"].as_array().unwrap().iter().map(|x| &x["id"]).collect();
    assert_eq!(ids, [&elsewhere["id"], &late["id"]], "the organisation's overdue list, oldest deadline first");

    // Started interactions are still open (and still overdue); completed ones are neither.
    let (status, started) = t.api(Method::PUT, &format!("/v1/interactions/{}", late["id"].as_str().unwrap()), &t.org.agent, Some(json!({ "status": "in_progress" }))).await;
    assert_eq!((status, started["status"].clone()), (StatusCode::OK, json!("in_progress")));
    let (_, overdue) = t.get(&format!("/v1/interactions/customers/{c}/overdue"), &t.org.agent).await;
    assert_eq!(overdue["items"].as_array().unwrap().len(), 1);
    complete(&t, late["id"].as_str().unwrap()).await;
    let (_, overdue) = t.get(&format!("/v1/interactions/customers/{c}/overdue"), &t.org.agent).await;
    assert_eq!(overdue["items"], json!([]));
    let (_, next) = t.get(&format!("/v1/interactions/customers/{c}/next"), &t.org.agent).await;
    assert_eq!(next["id"], soon["id"]);

    for (query, expected) in [
        (format!("customer_id={c}&status=completed"), vec![&late["id"]]),
        (format!("customer_id={c}&type=meeting"), vec![&later["id"]]),
        ("priority=high".to_string(), vec![&late["id"]]),
        (format!("due_after={}&due_before={}", urlencode(&at(0)), urlencode(&at(3))), vec![&soon["id"]]),
        ("status=pending&order=desc".to_string(), vec![&later["id"], &soon["id"], &elsewhere["id"]]),
    ] {
        let (status, page) = t.get(&format!("/v1/interactions?{query}"), &t.org.agent).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        let ids: Vec<&Value> = page["items"].as_array().unwrap().iter().map(|x| &x["id"]).collect();
        assert_eq!(ids, expected, "{query}");
    }
    // Pages follow the cursor and stay in their list.
    let (_, page) = t.get("/v1/interactions?limit=2", &t.org.agent).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (_, page2) = t.get(&format!("/v1/interactions?limit=2&cursor={cursor}"), &t.org.agent).await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 2);
    let (status, _) = t.get(&format!("/v1/interactions?limit=2&cursor={cursor}"), &t.other.agent).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // An idempotency key gives back the first interaction.
    let send = || async {
        t.http
            .post(t.url("/v1/interactions"))
            .bearer_auth(&t.org.agent)
            .header("idempotency-key", "retry-me")
            .json(&json!({ "customer_id": c, "type": "phone_call", "title": "Once" }))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let (first, again) = (send().await, send().await);
    assert_eq!(first["id"], again["id"]);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn the_sample_events_answer_what_they_show() {
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let root = max_dev::repo_root().join("events");
    for (file, status, field) in [
        ("list-overdue-interactions.json", 200, None),
        ("get-unknown-interaction.json", 404, None),
        ("complete-unknown-interaction.json", 404, None),
        ("create-interaction-unknown-customer.json", 422, Some("customer_id")),
        ("list-templates.json", 200, None),
        ("create-template-with-loop.json", 422, Some("steps[1].next_step")),
        ("bulk-cancel-unknown-interactions.json", 200, None),
        ("stats-by-assignee.json", 200, None),
        ("stats-over-366-days.json", 422, Some("from")),
    ] {
        let text = std::fs::read_to_string(root.join("api-interactions").join(file)).unwrap();
        let req = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let res = registry::invoke_http("api-interactions", req, &t.stack.deps).await.expect("registered").expect("ran");
        assert_eq!(res.status().as_u16(), status, "{file}");
        if let Some(field) = field {
            let body: Value = match res.body() {
                lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap(),
                other => panic!("{file}: unexpected body {other:?}"),
            };
            assert_eq!(body["field"], field, "{file}");
        }
    }
    let text = std::fs::read_to_string(root.join("next-step/sqs-next-step.json")).unwrap();
    let event: SqsEvent = serde_json::from_str(&text).unwrap();
    let res = registry::invoke_sqs("next-step", event, &t.stack.deps).await.expect("registered").expect("ran");
    assert!(res.batch_item_failures.is_empty(), "a job for an unknown interaction is dropped, not retried");
}

/// Skipping a step (`PUT` with `status: skipped`) moves the chain on like a completion, with the
/// next step's dates counted from the skip; an inactive template cannot be started, but a chain
/// already running through it goes on.
#[tokio::test]
async fn a_skipped_step_moves_the_chain_and_an_inactive_template_cannot_be_started() {
    let t = TestStack::start().await;
    let c = customer(&t, &t.org.seed.id).await;
    let standard = template_named(&t, "Standard Follow-up Sequence").await;
    let (status, first) = t.post("/v1/interactions/workflow/start", &t.org.agent, json!({ "customer_id": c, "template_id": standard["id"] })).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first_id = first["id"].as_str().unwrap();

    // The template goes inactive while its chain runs.
    let mut inactive = standard.clone();
    for field in ["id", "org_id", "created_by", "created_at", "updated_at", "version"] {
        inactive.as_object_mut().unwrap().remove(field);
    }
    inactive["is_active"] = json!(false);
    let (status, saved) = t.api(Method::PUT, &format!("/v1/interactions/templates/{}", standard["id"].as_str().unwrap()), &t.org.admin, Some(inactive)).await;
    assert_eq!((status, saved["is_active"].clone()), (StatusCode::OK, json!(false)), "{saved}");
    let (status, problem) = t.post("/v1/interactions/workflow/start", &t.org.agent, json!({ "customer_id": c, "template_id": standard["id"] })).await;
    assert_eq!((status, problem["current_status"].clone()), (StatusCode::CONFLICT, json!("inactive")), "{problem}");

    let (status, skipped) = t.api(Method::PUT, &format!("/v1/interactions/{first_id}"), &t.org.agent, Some(json!({ "status": "skipped" }))).await;
    assert_eq!((status, skipped["status"].clone()), (StatusCode::OK, json!("skipped")), "{skipped}");
    let skipped_at = time(&skipped["completed_at"]);
    let proposal = next_of(&t, first_id).await;
    assert_eq!((proposal["type"].clone(), proposal["step_number"].clone(), proposal["template_id"].clone()), (json!("send_proposal"), json!(2), standard["id"].clone()));
    assert_eq!(time(&proposal["scheduled_at"]), skipped_at);
    assert_eq!(time(&proposal["due_at"]), skipped_at + days(2));
    let (status, problem) = t.api(Method::PUT, &format!("/v1/interactions/{first_id}"), &t.org.agent, Some(json!({ "status": "skipped" }))).await;
    assert_eq!((status, problem["current_status"].clone()), (StatusCode::CONFLICT, json!("skipped")));
    t.drained().await;
    assert_eq!(all_of(&t, &c).await.len(), 2, "the skipped step and exactly one next");
}

/// Runs the interaction scheduler with its clock at `at`.
async fn scheduler_at(t: &TestStack, at: DateTime<Utc>) {
    let url = t.url(&format!("/dev/schedules/interaction-scheduler?at={}", at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    let res = t.http.post(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
}

async fn interaction_alerts(t: &TestStack) -> Vec<Value> {
    t.feed(&t.org.agent).await.into_iter().filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("interaction."))).collect()
}

/// Issue 16's must-hold: the scheduler fired twice at each moment sends one reminder (15 minutes
/// before `scheduled_at`, the default lead) and one overdue alert (once `due_at` has passed), to
/// the assignee; a completed interaction owes nothing.
#[tokio::test]
async fn a_reminder_and_an_overdue_alert_fire_once_each_when_the_scheduler_fires_twice() {
    let t = TestStack::start().await;
    let customer = customer(&t, &t.org.seed.id).await;
    let scheduled = Utc::now() + chrono::Duration::hours(1);
    let due = scheduled + chrono::Duration::hours(1);
    let call = create(&t, &t.org.agent, json!({ "customer_id": customer, "type": "phone_call", "title": "Call about the proposal", "scheduled_at": scheduled, "due_at": due })).await;
    let done = create(&t, &t.org.agent, json!({ "customer_id": customer, "type": "email", "title": "Send the proposal", "scheduled_at": scheduled, "due_at": due })).await;
    complete(&t, done["id"].as_str().unwrap()).await;
    let agent = format!("{}_agent", t.org.seed.id);
    assert_eq!((call["assignee_id"].as_str(), time(&call["remind_at"])), (Some(agent.as_str()), scheduled - chrono::Duration::minutes(15)), "{call}");

    scheduler_at(&t, scheduled - chrono::Duration::minutes(16)).await;
    assert!(interaction_alerts(&t).await.is_empty(), "not yet");
    scheduler_at(&t, scheduled - chrono::Duration::minutes(15) + chrono::Duration::seconds(1)).await;
    scheduler_at(&t, scheduled - chrono::Duration::minutes(15) + chrono::Duration::seconds(1)).await;
    let alerts = interaction_alerts(&t).await;
    assert_eq!(alerts.iter().map(|e| e["kind"].as_str().unwrap()).collect::<Vec<_>>(), ["interaction.reminder"], "{alerts:?}");
    assert_eq!((alerts[0]["data"]["interaction_id"].as_str(), alerts[0]["data"]["notify"]["user_id"].as_str()), (call["id"].as_str(), Some(agent.as_str())));

    scheduler_at(&t, due + chrono::Duration::seconds(30)).await;
    scheduler_at(&t, due + chrono::Duration::seconds(30)).await;
    scheduler_at(&t, due + chrono::Duration::minutes(2)).await;
    let alerts = interaction_alerts(&t).await;
    assert_eq!(alerts.iter().map(|e| e["kind"].as_str().unwrap()).collect::<Vec<_>>(), ["interaction.reminder", "interaction.overdue"], "{alerts:?}");
    assert_eq!(alerts[1]["data"]["interaction_id"].as_str(), call["id"].as_str());
    let (_, stored) = t.get(&format!("/v1/interactions/{}", call["id"].as_str().unwrap()), &t.org.agent).await;
    assert!(!stored["reminded_at"].is_null() && !stored["overdue_alerted_at"].is_null(), "{stored}");
}

/// Issue 16's must-hold: closing a conversation with an outcome completes its interaction and the
/// next step follows through the real next-step queue; closing it again completes nothing more.
#[tokio::test]
async fn closing_a_conversation_with_an_outcome_completes_its_interaction_and_creates_the_next() {
    let t = TestStack::start().await;
    let customer = customer(&t, &t.org.seed.id).await;
    let conversation = format!("c{customer}");
    let call = create(&t, &t.org.agent, json!({ "customer_id": customer, "type": "phone_call", "title": "Call back", "conversation_id": conversation })).await;
    let id = call["id"].as_str().unwrap();

    let (s, problem) = t.post(&format!("/v1/conversations/{conversation}/close"), &t.org.agent, json!({ "outcome": " " })).await;
    assert_eq!((s, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("outcome")), "{problem}");
    let (s, closed) = t.post(&format!("/v1/conversations/{conversation}/close"), &t.org.agent, json!({ "outcome": "success", "outcome_details": "booked a visit" })).await;
    assert_eq!((s, closed["status"].as_str()), (StatusCode::OK, Some("closed")), "{closed}");
    let (_, done) = t.get(&format!("/v1/interactions/{id}"), &t.org.agent).await;
    assert_eq!((done["status"].as_str(), done["outcome"].as_str()), (Some("completed"), Some("success")), "{done}");
    let next = next_of(&t, id).await;
    assert_eq!((next["status"].as_str(), next["conversation_id"].as_str()), (Some("pending"), Some(conversation.as_str())), "{next}");
    let (_, done) = t.get(&format!("/v1/interactions/{id}"), &t.org.agent).await;

    let (s, _) = t.post(&format!("/v1/conversations/{conversation}/close"), &t.org.agent, json!({ "outcome": "success" })).await;
    assert_eq!(s, StatusCode::OK);
    let (_, next_again) = t.get(&format!("/v1/interactions/{}", next["id"].as_str().unwrap()), &t.org.agent).await;
    assert_eq!(next_again["status"].as_str(), Some("pending"), "a second close completes nothing: {next_again}");
    let (_, done_again) = t.get(&format!("/v1/interactions/{id}"), &t.org.agent).await;
    assert_eq!(done_again["version"], done["version"]);
    assert_eq!(all_of(&t, &customer).await.len(), 2, "one next step");
}

/// Issue 16's must-hold: a campaign of 500 customers completes its start through the real
/// next-step queue with exactly 500 interactions, one per customer; a page job delivered again
/// (twice, in one batch) changes nothing, nor does the create retried with its Idempotency-Key
/// (its pages queued again); completing one of its interactions moves `completed` and the
/// completion rate.
#[tokio::test]
async fn a_campaign_of_500_customers_starts_each_once_and_counts_its_completions() {
    use futures::stream::{self, StreamExt};
    let t = TestStack::start().await;
    let org = t.org.seed.id.clone();
    let ids: Vec<String> = stream::iter(0..500).map(|_| customer(&t, &org)).buffer_unordered(16).collect().await;
    let template = template_named(&t, "Standard Follow-up Sequence").await;
    let body = json!({ "name": "Spring renewals", "workflow_template_id": template["id"], "customer_ids": ids });
    let (s, _) = t.post("/v1/campaigns", &t.org.agent, body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "admins only");
    // With an Idempotency-Key, sent twice (a client retrying): one campaign, the retry 200.
    let keyed = || async {
        let res = t.http.post(t.url("/v1/campaigns")).bearer_auth(&t.org.admin).header("idempotency-key", "spring-renewals-1").json(&body).send().await.unwrap();
        (res.status(), res.json::<Value>().await.unwrap())
    };
    let (s, campaign) = keyed().await;
    assert_eq!((s, campaign["status"].as_str(), campaign["targeted"].as_i64()), (StatusCode::ACCEPTED, Some("starting"), Some(500)), "{campaign}");
    let id = campaign["id"].as_str().unwrap().to_string();
    let (s, retried) = keyed().await;
    assert_eq!((s, retried["id"].as_str()), (StatusCode::OK, Some(id.as_str())), "{retried}");
    let path = format!("/v1/campaigns/{id}");
    let started = eventually("the campaign's start", std::time::Duration::from_secs(120), || async {
        let (_, c) = t.get(&path, &t.org.agent).await;
        (c["status"] == "started").then_some(c)
    })
    .await;
    assert_eq!((started["started"].as_i64(), started["skipped"].as_i64(), started["queued"].as_i64()), (Some(500), Some(0), Some(0)), "{started}");

    let mine = |items: Vec<Value>| items.into_iter().filter(|i| i["campaign_id"] == id.as_str()).collect::<Vec<_>>();
    let mut created = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor.as_deref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let (s, page) = t.get(&format!("/v1/interactions?limit=100{after}"), &t.org.agent).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        created.extend(mine(page["items"].as_array().cloned().unwrap_or_default()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let customers: std::collections::BTreeSet<&str> = created.iter().map(|i| i["customer_id"].as_str().unwrap()).collect();
    assert_eq!((created.len(), customers.len()), (500, 500), "one interaction per customer");

    // The first page's job delivered again, twice in one batch: nothing changes.
    let page = json!({ "org_id": org, "campaign_id": id, "page": 0, "customer_ids": ids[..100] });
    let response = registry::invoke_sqs("next-step", max_dev::testing::sqs_job(&page, 2, "next-step"), &t.stack.deps).await.expect("registered").expect("ran");
    assert!(response.batch_item_failures.is_empty());
    let (_, again) = t.get(&path, &t.org.agent).await;
    assert_eq!((again["started"].as_i64(), again["skipped"].as_i64()), (Some(500), Some(0)), "{again}");
    let (_, first_customer) = t.get(&format!("/v1/interactions?customer_id={}", ids[0]), &t.org.agent).await;
    assert_eq!(first_customer["items"].as_array().map(Vec::len), Some(1), "{first_customer}");

    // Completing one of its interactions moves the metrics.
    complete(&t, created[0]["id"].as_str().unwrap()).await;
    let (_, done) = t.get(&path, &t.org.agent).await;
    assert_eq!((done["completed"].as_i64(), done["completion_rate"].as_f64()), (Some(1), Some(1.0 / 500.0)), "{done}");
    let (_, list) = t.get("/v1/campaigns?limit=10", &t.org.agent).await;
    assert!(list["items"].as_array().unwrap().iter().any(|c| c["id"] == id.as_str()), "{list}");
    t.drained().await;
}

/// Issue 16: a bulk cancel over one open interaction, an unknown one, another organisation's and
/// a completed one answers 200 with each result in the request's order, and does only the first.
#[tokio::test]
async fn a_bulk_cancel_reports_ok_not_found_and_conflict_per_item() {
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let c = customer(&t, &t.org.seed.id).await;
    let open = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "phone_call", "title": "Open" })).await;
    let done = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "phone_call", "title": "Done" })).await;
    let (open, done) = (open["id"].as_str().unwrap(), done["id"].as_str().unwrap());
    complete(&t, done).await;
    let theirs_customer = customer(&t, &t.other.seed.id).await;
    let (s, theirs) = t.post("/v1/interactions", &t.other.agent, json!({ "customer_id": theirs_customer, "type": "sms", "title": "Theirs" })).await;
    assert_eq!(s, StatusCode::CREATED, "{theirs}");
    let theirs = theirs["id"].as_str().unwrap();

    let ids = json!([open, "01JUNKNOWN0000000000000000", theirs, done]);
    let (s, out) = t.post("/v1/interactions/bulk", &t.org.agent, json!({ "op": "cancel", "ids": ids })).await;
    assert_eq!(s, StatusCode::OK, "{out}");
    let results: Vec<(&str, &str)> = out["results"].as_array().unwrap().iter().map(|r| (r["id"].as_str().unwrap(), r["result"].as_str().unwrap())).collect();
    assert_eq!(results, [(open, "ok"), ("01JUNKNOWN0000000000000000", "not_found"), (theirs, "not_found"), (done, "conflict")]);
    assert_eq!(out["results"][0]["interaction"]["status"], "cancelled");
    assert_eq!(out["results"][3]["current_status"], "completed");
    assert_eq!((out["succeeded"].as_u64(), out["failed"].as_u64()), (Some(1), Some(3)));
    assert_eq!(t.get(&format!("/v1/interactions/{open}"), &t.org.agent).await.1["status"], "cancelled");
    assert_eq!(t.get(&format!("/v1/interactions/{theirs}"), &t.other.agent).await.1["status"], "pending", "another organisation's is left alone");

    // A reschedule moves the reminder as its PUT would; the whole request is refused (422 naming
    // the field) when it names an id twice or more than 100.
    let later = create(&t, &t.org.agent, json!({ "customer_id": c, "type": "phone_call", "title": "Later" })).await;
    let later = later["id"].as_str().unwrap();
    let at = Utc::now() + days(2);
    let (s, out) = t.post("/v1/interactions/bulk", &t.org.agent, json!({ "op": "reschedule", "ids": [later], "scheduled_at": at })).await;
    assert_eq!((s, out["results"][0]["result"].as_str()), (StatusCode::OK, Some("ok")), "{out}");
    let (_, stored) = t.get(&format!("/v1/interactions/{later}"), &t.org.agent).await;
    assert_eq!((time(&stored["scheduled_at"]), time(&stored["remind_at"])), (at, at - chrono::Duration::minutes(15)), "{stored}");
    let many: Vec<String> = (0..101).map(|i| format!("id-{i}")).collect();
    for (body, field) in [
        (json!({ "op": "cancel", "ids": [later, open, later] }), "ids[2]"),
        (json!({ "op": "cancel", "ids": many }), "ids"),
        (json!({ "op": "reassign", "ids": [later] }), "assignee_id"),
    ] {
        let (s, problem) = t.post("/v1/interactions/bulk", &t.org.agent, body).await;
        assert_eq!((s, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{problem}");
    }
}

/// Issue 16: the statistics after creating, completing and missing the deadline of a few
/// interactions, read from the counters the writes keep on the dev stack (moto).
#[tokio::test]
async fn the_stats_count_created_completed_and_overdue_per_type_and_assignee() {
    let t = TestStack::with(TestOptions { no_pollers: true, ..Default::default() }).await;
    let c = customer(&t, &t.org.seed.id).await;
    let now = Utc::now();
    let (scheduled, due) = (now + chrono::Duration::minutes(30), now + chrono::Duration::minutes(40));
    let mut ids = Vec::new();
    for (kind, assignee) in [("phone_call", "ana"), ("phone_call", "bea"), ("email", "ana")] {
        let i = create(&t, &t.org.agent, json!({ "customer_id": c, "type": kind, "title": "Work", "assignee_id": assignee, "scheduled_at": scheduled, "due_at": due })).await;
        ids.push(i["id"].as_str().unwrap().to_string());
    }
    complete(&t, &ids[0]).await;
    // The reminders, then past the deadline (twice): the two still open are overdue once each.
    scheduler_at(&t, scheduled - chrono::Duration::minutes(15) + chrono::Duration::seconds(1)).await;
    scheduler_at(&t, due + chrono::Duration::seconds(30)).await;
    scheduler_at(&t, due + chrono::Duration::seconds(30)).await;

    let day = due.date_naive();
    let read = |by: &'static str| {
        let t = &t;
        async move {
            let (s, report) = t.get(&format!("/v1/interactions/stats?from={}&to={day}&group_by={by}", now.date_naive()), &t.org.supervisor).await;
            assert_eq!(s, StatusCode::OK, "{report}");
            report["groups"].as_array().unwrap().iter().map(|g| (g["group"].as_str().unwrap_or("-").to_string(), g["created"].as_u64().unwrap(), g["completed"].as_u64().unwrap(), g["overdue"].as_u64().unwrap())).collect::<Vec<_>>()
        }
    };
    let s = |x: &str| x.to_string();
    assert_eq!(read("type").await, [(s("email"), 1, 0, 1), (s("phone_call"), 2, 1, 1)]);
    assert_eq!(read("assignee").await, [(s("ana"), 2, 1, 1), (s("bea"), 1, 0, 1)]);
    let (_, report) = t.get("/v1/interactions/stats?group_by=type", &t.org.admin).await;
    let calls = report["groups"].as_array().unwrap().iter().find(|g| g["group"] == "phone_call").cloned().unwrap();
    assert!(calls["median_seconds_to_complete"].as_u64().is_some_and(|m| m < 60), "completed within seconds: {calls}");
    // Agents do not read everyone's figures; a range over 366 days is refused naming `from`.
    assert_eq!(t.get("/v1/interactions/stats", &t.org.agent).await.0, StatusCode::FORBIDDEN);
    let (st, problem) = t.get("/v1/interactions/stats?from=2025-01-01&to=2026-12-31", &t.org.admin).await;
    assert_eq!((st, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("from")), "{problem}");
    // Another organisation's figures are its own: empty.
    assert_eq!(t.get("/v1/interactions/stats", &t.other.admin).await.1["groups"], json!([]));
}
