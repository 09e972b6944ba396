//! This function's `events/` samples through its handler, on the memory adapter and the sandbox
//! standing in for Meta: agents read, admins submit, sync and delete; a template Meta would refuse
//! is a 422 naming the field, before Meta is asked.

use max_core::config::Deps;
use max_core::ports::WhatsAppTemplateStore;
use max_core::testing::{DEMO_ORG, register_demo_channel, sample_events, statuses};

fn body(response: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    match response.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn its_sample_events_answer_what_they_show() {
    let (deps, world) = Deps::in_memory(chrono::Utc::now());
    register_demo_channel(&*world.store, &*world.secrets).await;
    let mut answered = Vec::new();
    let mut submitted = None;
    for (name, text) in sample_events("api-whatsapp-templates") {
        let response = crate::handle(lambda_http::request::from_str(&text).unwrap(), &deps).await.unwrap();
        answered.push((name.clone(), response.status().as_u16()));
        match name.as_str() {
            "submit-template.json" => submitted = Some(body(&response)),
            "submit-template-without-samples.json" => assert_eq!(body(&response)["field"], "components[0].example"),
            _ => {}
        }
    }
    assert_eq!(
        answered,
        statuses(&[
            ("delete-unknown-template.json", 404),
            ("get-unknown-template.json", 404),
            ("list-templates.json", 200),
            ("submit-template-as-agent.json", 403),
            ("submit-template-without-samples.json", 422),
            ("submit-template.json", 201),
            ("sync-templates.json", 200),
        ])
    );
    // The submitted template is PENDING at Meta (the sandbox) and here, with who submitted it.
    let submitted = submitted.unwrap();
    assert_eq!((submitted["status"].as_str(), submitted["created_by"].as_str()), (Some("PENDING"), Some("user_admin")));
    let id = submitted["id"].as_str().unwrap();
    assert_eq!(world.whatsapp.template_named("service_reminder", Some("en")).map(|t| t.id).as_deref(), Some(id));
    let stored = world.store.whatsapp_template(DEMO_ORG, id).await.unwrap().expect("kept");
    assert_eq!(stored.body_parameters, Some(vec!["1".to_string(), "2".to_string()]));
}

#[tokio::test]
async fn without_a_number_a_submission_is_a_409_and_a_bad_query_a_422() {
    let (deps, _world) = Deps::in_memory(chrono::Utc::now());
    let (_, text) = sample_events("api-whatsapp-templates").into_iter().find(|(n, _)| n == "submit-template.json").unwrap();
    let response = crate::handle(lambda_http::request::from_str(&text).unwrap(), &deps).await.unwrap();
    assert_eq!(response.status(), 409);
    let (_, text) = sample_events("api-whatsapp-templates").into_iter().find(|(n, _)| n == "list-templates.json").unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&text).unwrap();
    event["rawQueryString"] = "name=Not%20A%20Name".into();
    event["queryStringParameters"] = serde_json::json!({ "name": "Not A Name" });
    let response = crate::handle(lambda_http::request::from_str(&event.to_string()).unwrap(), &deps).await.unwrap();
    assert_eq!((response.status().as_u16(), body(&response)["field"].as_str()), (422, Some("name")));
}
