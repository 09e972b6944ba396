//! This function's `events/` samples through its handler, on the memory adapter: admins only, the
//! token kept in its secret and never answered.

use max_core::config::Deps;
use max_core::ports::{ChannelDirectory, Secrets};
use max_core::testing::{DEMO_ORG, sample_events, statuses};

#[tokio::test]
async fn its_sample_events_answer_what_they_show_and_the_token_stays_in_its_secret() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let deps = &deps;
    // Each sample through the handler, keeping what it answered.
    let (mut answered, mut answers) = (Vec::new(), Vec::new());
    for (name, text) in sample_events("api-channels") {
        let response = crate::handle(lambda_http::request::from_str(&text).unwrap(), deps).await.unwrap();
        answered.push((name, response.status().as_u16()));
        answers.push(format!("{:?}", response.body()));
    }
    assert_eq!(
        answered,
        statuses(&[
            ("create-chat-app-key.json", 201),
            ("list-chat-app-keys.json", 200),
            ("list-numbers-as-supervisor.json", 403),
            ("list-numbers.json", 200),
            ("register-number.json", 201),
            ("remove-unknown-chat-app-key.json", 404),
            ("remove-unknown-number.json", 404),
            ("replay-unknown-number.json", 404),
        ])
    );
    // The registered number is the demo organisation's, its token in the secret of that number.
    let channel = world.store.channel_by_number("106540352242999").await.unwrap().expect("registered");
    assert_eq!(channel.org_id, DEMO_ORG);
    let token = world.secrets.secret(&format!("whatsapp/{DEMO_ORG}/106540352242999")).await.unwrap().expect("its secret");
    assert_eq!(token.expose(), "EAAG-sample-token-not-real");
    // No answer repeated it.
    assert!(answers.iter().all(|a| !a.contains("EAAG-sample-token")), "{answers:?}");
    assert!(answers.iter().any(|a| a.contains("access_token_set")), "{answers:?}");
}

#[tokio::test]
async fn registering_again_answers_200_and_a_body_out_of_its_limits_422_naming_the_field() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let (_, text) = sample_events("api-channels").into_iter().find(|(name, _)| name == "register-number.json").unwrap();
    let with_body = |body: &str| {
        let mut event: serde_json::Value = serde_json::from_str(&text).unwrap();
        event["body"] = body.into();
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    let original: serde_json::Value = serde_json::from_str(&text).unwrap();
    let body = original["body"].as_str().unwrap();
    assert_eq!(crate::handle(with_body(body), &deps).await.unwrap().status(), 201);
    assert_eq!(crate::handle(with_body(body), &deps).await.unwrap().status(), 200, "the same number again: rotated");
    let bad = body.replace("106540352242999", "not-a-number");
    let response = crate::handle(with_body(&bad), &deps).await.unwrap();
    assert_eq!(response.status(), 422);
    let problem: serde_json::Value = match response.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(problem["field"], "phone_number_id");
    let unknown = body.replace("\"waba_id\"", "\"token_type\": \"bearer\", \"waba_id\"");
    assert_eq!(crate::handle(with_body(&unknown), &deps).await.unwrap().status(), 422, "an unknown field");
}

#[tokio::test]
async fn a_chat_app_key_shows_its_secret_once_then_lists_without_it_and_removes_for_its_organisation_only() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    let sample = |name: &str| sample_events("api-channels").into_iter().find(|(n, _)| n == name).unwrap().1;
    let body = |response: lambda_http::Response<lambda_http::Body>| -> serde_json::Value {
        match response.body() {
            lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    let call = |text: String| crate::handle(lambda_http::request::from_str(&text).unwrap(), &deps);
    let created = body(call(sample("create-chat-app-key.json")).await.unwrap());
    let (key_id, secret) = (created["key_id"].as_str().unwrap(), created["secret"].as_str().unwrap());
    assert!(secret.starts_with("cas_"), "{created}");
    let stored = world.secrets.secret(&max_core::domain::chat_app::key_secret_name(DEMO_ORG, key_id)).await.unwrap().unwrap();
    assert_eq!(stored.expose(), secret);
    let listed = body(call(sample("list-chat-app-keys.json")).await.unwrap());
    assert_eq!(listed["items"][0]["key_id"], key_id);
    assert!(!listed.to_string().contains(secret), "{listed}");
    // A second key is fine (rotation), a third is 409.
    assert_eq!(call(sample("create-chat-app-key.json")).await.unwrap().status(), 201);
    assert_eq!(call(sample("create-chat-app-key.json")).await.unwrap().status(), 409);
    // Another organisation's admin cannot remove it; ours can, once.
    let remove = sample("remove-unknown-chat-app-key.json").replace("cak_00000000000000000000000000000000", key_id);
    assert_eq!(call(remove.replace("org_demo", "org_other")).await.unwrap().status(), 404);
    assert_eq!(call(remove.clone()).await.unwrap().status(), 204);
    assert_eq!(call(remove).await.unwrap().status(), 404);
}
