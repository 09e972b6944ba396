//! The WebSocket function on the memory adapter, fed this function's `events/` samples (the
//! authorizer's request and the three routes as API Gateway sends them).

use chrono::{TimeZone, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use max_core::config::{Deps, IN_MEMORY_JWT_SECRET};
use max_core::testing::sample_events;
use serde_json::{Value, json};

use crate::handle;

fn sample(name: &str) -> Value {
    let (_, text) = sample_events("ws-connections").into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no sample {name}"));
    serde_json::from_str(&text).unwrap()
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap()
}

fn token(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn claims(org: &str, groups: Value, exp: i64) -> Value {
    json!({"sub": "user_1", "custom:org_id": org, "cognito:groups": groups, "iss": "max-dev", "aud": "max-dashboard", "exp": exp})
}

/// The authorizer's sample with `token` in the query string (or none).
fn authorizer_with(token: Option<&str>) -> Value {
    let mut event = sample("authorizer.json");
    match token {
        Some(t) => {
            event["queryStringParameters"]["token"] = json!(t);
            event["multiValueQueryStringParameters"]["token"] = json!([t]);
        }
        None => {
            event["queryStringParameters"] = json!({});
            event["multiValueQueryStringParameters"] = json!({});
        }
    }
    event
}

#[tokio::test]
async fn the_authorizer_lets_a_good_token_in_with_its_organisation() {
    let (deps, _) = Deps::in_memory(now());
    let answer = handle(sample("authorizer.json"), &deps).await.unwrap();
    assert_eq!(answer["principalId"], "user_sample_agent");
    assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(answer["policyDocument"]["Statement"][0]["Resource"][0], "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/live/$connect");
    assert_eq!(answer["context"], json!({"org_id": "org_demo", "user_id": "user_sample_agent", "role": "agent"}));
}

#[tokio::test]
async fn bad_tokens_are_unauthorized() {
    let (deps, _) = Deps::in_memory(now());
    let later = Utc::now().timestamp() + 600;
    let cases = [
        ("no token", None),
        ("expired", Some(token(IN_MEMORY_JWT_SECRET, claims("org_a", json!(["agent"]), Utc::now().timestamp() - 5)))),
        ("another key", Some(token("forged", claims("org_a", json!(["agent"]), later)))),
        ("no organisation", Some(token(IN_MEMORY_JWT_SECRET, json!({"sub": "u", "cognito:groups": ["agent"], "iss": "max-dev", "aud": "max-dashboard", "exp": later})))),
        ("no role group", Some(token(IN_MEMORY_JWT_SECRET, claims("org_a", json!(["visitors"]), later)))),
        ("garbage", Some("not-a-token".to_string())),
    ];
    for (case, t) in cases {
        let err = handle(authorizer_with(t.as_deref()), &deps).await.unwrap_err();
        assert_eq!(err.to_string(), "Unauthorized", "{case}");
    }
}

#[tokio::test]
async fn connect_ping_and_disconnect_keep_then_forget_the_connection() {
    let (deps, _) = Deps::in_memory(now());
    // $connect with the authorizer's context: kept under org_demo
    assert_eq!(handle(sample("connect.json"), &deps).await.unwrap()["statusCode"], 200);
    let kept = deps.store.live_connections("org_demo", now()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].connection_id.as_str(), kept[0].user_id.as_str()), ("SampleConnA1=", "user_sample_agent"));
    assert!(deps.store.live_connections("org_other", now()).await.unwrap().is_empty());
    // $default (a ping) and $disconnect
    assert_eq!(handle(sample("default-ping.json"), &deps).await.unwrap()["statusCode"], 200);
    assert_eq!(handle(sample("disconnect.json"), &deps).await.unwrap()["statusCode"], 200);
    assert!(deps.store.live_connections("org_demo", now()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_route_without_the_authorizers_context_stores_nothing() {
    let (deps, _) = Deps::in_memory(now());
    let mut event = sample("connect.json");
    event["requestContext"].as_object_mut().unwrap().remove("authorizer");
    assert_eq!(handle(event, &deps).await.unwrap()["statusCode"], 401);
    assert!(deps.store.live_connections("org_demo", now()).await.unwrap().is_empty());
}
