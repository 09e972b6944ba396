//! Every sample event in `events/<function>/` goes through that function's handler: the files
//! are test inputs, not decoration.

use std::collections::BTreeMap;

use aws_lambda_events::event::sqs::SqsEvent;
use max_dev::registry;
use max_dev::testing::TestStack;

#[tokio::test]
async fn every_sample_event_runs_through_its_handler() {
    let t = TestStack::with(max_dev::testing::TestOptions { no_pollers: true, ..Default::default() }).await;
    let deps = &t.stack.deps;
    let root = max_dev::repo_root().join("events");
    let mut statuses = BTreeMap::new();
    let mut seen = 0;
    for dir in std::fs::read_dir(&root).unwrap().flatten() {
        let function = dir.file_name().to_string_lossy().to_string();
        let is_http = t.stack.template.routes.iter().any(|r| r.binary == function);
        let is_sqs = t.stack.template.queue_sources.iter().any(|q| q.binary == function);
        let is_schedule = t.stack.template.schedules.iter().any(|s| s.binary == function);
        assert!(is_http || is_sqs || is_schedule, "events/{function} names no function of template.yaml");
        let mut files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|f| f.path()).collect();
        files.sort();
        assert!(!files.is_empty(), "events/{function} has no sample");
        for file in files {
            let name = format!("{function}/{}", file.file_name().unwrap().to_string_lossy());
            let text = std::fs::read_to_string(&file).unwrap();
            seen += 1;
            if is_http {
                let req = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                let res = registry::invoke_http(&function, req, deps).await.expect("registered").expect("handler ran");
                assert!(res.status().as_u16() < 500, "{name}: {}", res.status());
                statuses.insert(name, res.status().as_u16());
            } else if is_sqs && text.contains("\"Records\"") {
                let event: SqsEvent = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                let res = registry::invoke_sqs(&function, event, deps).await.expect("registered").expect("handler ran");
                assert!(res.batch_item_failures.is_empty(), "{name}: a record failed");
            } else {
                assert!(is_schedule, "{name}: neither an SQS batch nor a scheduled event of this function");
                let event: serde_json::Value = serde_json::from_str(&text).unwrap();
                registry::invoke_schedule(&function, event, deps).await.expect("registered").expect("handler ran");
            }
        }
    }
    assert!(seen >= 6);
    assert_eq!(statuses.get("whatsapp-webhook/verify-subscription.json"), Some(&200));
    assert_eq!(statuses.get("whatsapp-webhook/receive-text-message.json"), Some(&200));
    assert_eq!(statuses.get("api-conversations/list-open-conversations.json"), Some(&200));
    assert_eq!(statuses.get("api-conversations/get-unknown-conversation.json"), Some(&404));
    assert_eq!(statuses.get("api-actions/list-pending-actions.json"), Some(&200));
    assert_eq!(statuses.get("api-actions/approve-unknown-action.json"), Some(&404));
    assert_eq!(statuses.get("api-actions/create-action-unknown-conversation.json"), Some(&404));
    assert_eq!(statuses.get("api-actions/get-response-templates-as-admin.json"), Some(&200));
    assert_eq!(statuses.get("api-events/events-from-now.json"), Some(&200));
    // The inbound sample stored Meta's text message in the demo organisation.
    let conversations = t.conversations().await;
    assert_eq!(conversations.len(), 1);
}
