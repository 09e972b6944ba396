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
    // In name order: later samples may see what earlier ones stored.
    let mut dirs: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().collect();
    dirs.sort_by_key(|d| d.file_name());
    for dir in dirs {
        let function = dir.file_name().to_string_lossy().to_string();
        let is_http = t.stack.template.routes.iter().any(|r| r.binary == function);
        let is_sqs = t.stack.template.queue_sources.iter().any(|q| q.binary == function);
        let is_schedule = t.stack.template.schedules.iter().any(|s| s.binary == function);
        let is_stream = t.stack.template.stream_sources.iter().any(|s| s.binary == function);
        let is_websocket = t.stack.template.websocket.as_ref().is_some_and(|w| w.binary == function);
        assert!(is_http || is_sqs || is_schedule || is_stream || is_websocket, "events/{function} names no function of template.yaml");
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
                statuses.insert(name, res.status().as_u16());
            } else if is_websocket {
                // The authorizer's answer is its policy; a route's is its status code.
                let event: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                let res = registry::invoke_websocket(&function, event, deps).await.expect("registered").expect("handler ran");
                let status = res["statusCode"].as_u64().or_else(|| (res["policyDocument"]["Statement"][0]["Effect"] == "Allow").then_some(200)).unwrap_or(0);
                statuses.insert(name, status as u16);
            } else if is_stream {
                let event: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                let res = registry::invoke_stream(&function, event, deps).await.expect("registered").expect("handler ran");
                assert!(res.batch_item_failures.is_empty(), "{name}: a record failed");
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
    // What each HTTP sample shows, by its name: every one is pinned, so a sample that starts
    // answering 401 or 500 fails here.
    let expected: BTreeMap<String, u16> = [
        ("api-actions/action-feedback-unknown-action.json", 404),
        ("api-actions/approve-unknown-action.json", 404),
        ("api-actions/create-action-unknown-conversation.json", 404),
        ("api-actions/get-response-templates-as-admin.json", 200),
        ("api-actions/get-unknown-action.json", 404),
        ("api-actions/list-pending-actions.json", 200),
        ("api-calls/create-demo-call-as-agent.json", 403),
        ("api-calls/create-service-record-bad-phone.json", 422),
        ("api-calls/create-service-record.json", 201),
        ("api-calls/get-schedule-config.json", 200),
        ("api-calls/get-unknown-call.json", 404),
        ("api-calls/get-unknown-service-record.json", 404),
        ("api-calls/initiate-unknown-demo-call.json", 404),
        ("api-calls/list-completed-detractors.json", 200),
        ("api-calls/list-ready-calls.json", 200),
        ("api-calls/list-service-records.json", 200),
        ("api-calls/nps-by-advisor.json", 200),
        ("api-calls/put-schedule-config-as-agent.json", 403),
        ("api-calls/put-schedule-config-overlapping-windows.json", 422),
        ("api-calls/put-schedule-config.json", 200),
        ("api-canned-responses/create-greeting.json", 201),
        ("api-canned-responses/create-malformed-variable.json", 422),
        ("api-canned-responses/create-personal.json", 201),
        ("api-canned-responses/create-shared-as-agent.json", 403),
        ("api-canned-responses/delete-unknown.json", 404),
        ("api-canned-responses/edit-unknown.json", 404),
        ("api-canned-responses/get-unknown.json", 404),
        ("api-canned-responses/list-by-typed-prefix.json", 200),
        ("api-canned-responses/render-unknown.json", 404),
        ("api-webhooks/create-as-agent.json", 403),
        ("api-webhooks/create-crm-subscription.json", 201),
        ("api-webhooks/create-http-url.json", 422),
        ("api-webhooks/create-private-address.json", 422),
        ("api-webhooks/delete-unknown.json", 404),
        ("api-webhooks/deliveries-unknown.json", 404),
        ("api-webhooks/edit-unknown.json", 404),
        ("api-webhooks/get-unknown.json", 404),
        ("api-webhooks/list.json", 200),
        ("api-webhooks/redeliver-unknown.json", 404),
        ("api-webhooks/replay-unknown.json", 404),
        ("api-webhooks/rotate-secret-unknown.json", 404),
        ("api-channels/create-chat-app-key.json", 201),
        ("api-channels/list-chat-app-keys.json", 200),
        ("api-channels/list-numbers-as-supervisor.json", 403),
        ("api-channels/list-numbers.json", 200),
        ("api-channels/register-number.json", 201),
        ("api-channels/remove-unknown-chat-app-key.json", 404),
        ("api-channels/remove-unknown-number.json", 404),
        ("api-channels/replay-unknown-number.json", 404),
        ("api-conversations/get-rate-limit-settings.json", 200),
        ("api-conversations/get-unknown-conversation.json", 404),
        ("api-conversations/list-open-conversations.json", 200),
        ("api-conversations/put-rate-limit-settings.json", 200),
        ("api-conversations/send-text-reply.json", 404),
        ("api-conversations/send-uploaded-image-reply.json", 404),
        ("api-conversations/update-conversation-as-agent.json", 403),
        ("api-conversations/update-unknown-conversation.json", 404),
        ("api-customers/context-unknown-customer.json", 404),
        ("api-customers/create-customer.json", 201),
        ("api-customers/erase-unknown-customer.json", 404),
        ("api-customers/export-unknown-customer.json", 404),
        ("api-customers/link-customer-into-itself.json", 409),
        ("api-customers/link-unknown-customer.json", 404),
        ("api-customers/list-transactions-unknown-customer.json", 404),
        ("api-customers/record-transaction-unknown-currency.json", 422),
        ("api-customers/record-transaction-unknown-customer.json", 404),
        ("api-customers/search-customers.json", 200),
        ("api-customers/unblock-unknown-customer.json", 404),
        ("api-customers/unlink-as-agent.json", 403),
        ("api-customers/update-unknown-customer.json", 404),
        ("api-events/audit-as-agent.json", 403),
        ("api-events/audit-of-every-ticket.json", 200),
        ("api-events/events-from-now.json", 200),
        ("api-events/events-from-the-beginning.json", 200),
        ("api-interactions/bulk-cancel-unknown-interactions.json", 200),
        ("api-interactions/complete-unknown-interaction.json", 404),
        ("api-interactions/create-campaign-repeated-customer.json", 422),
        ("api-interactions/create-interaction-unknown-customer.json", 422),
        ("api-interactions/create-template-with-loop.json", 422),
        ("api-interactions/get-unknown-campaign.json", 404),
        ("api-interactions/get-unknown-interaction.json", 404),
        ("api-interactions/list-overdue-interactions.json", 200),
        ("api-interactions/list-templates.json", 200),
        ("api-interactions/stats-by-assignee.json", 200),
        ("api-interactions/stats-over-366-days.json", 422),
        ("api-media/create-upload-too-large.json", 413),
        ("api-media/create-upload-unsupported-type.json", 422),
        ("api-media/create-upload.json", 201),
        ("api-media/get-media-retention.json", 200),
        ("api-media/get-unknown-media.json", 404),
        ("api-media/put-media-retention-as-agent.json", 403),
        ("api-media/put-media-retention.json", 200),
        ("api-support/add-customer-message.json", 404),
        ("api-support/admin-answer-ticket.json", 404),
        ("api-support/admin-assign-ticket.json", 404),
        ("api-support/admin-close-ticket.json", 404),
        ("api-support/admin-get-ticket.json", 404),
        ("api-support/admin-list-tickets.json", 200),
        ("api-support/admin-notifications.json", 200),
        ("api-support/admin-search-tickets-by-phone.json", 200),
        ("api-support/admin-update-ticket.json", 404),
        ("api-support/agent-notifications.json", 200),
        ("api-support/create-ticket.json", 201),
        ("api-support/get-bot-menu.json", 200),
        ("api-support/get-ticket.json", 404),
        ("api-support/list-open-tickets.json", 200),
        ("api-support/put-bot-menu.json", 200),
        ("api-teams/business-hours-unknown-team.json", 404),
        ("api-teams/create-agent.json", 201),
        ("api-teams/create-sla-policy-as-agent.json", 403),
        ("api-teams/create-sla-policy-without-targets.json", 422),
        ("api-teams/create-sla-policy.json", 201),
        ("api-teams/create-team-as-agent.json", 403),
        ("api-teams/create-team.json", 201),
        ("api-teams/edit-agent-bad-skill.json", 422),
        ("api-teams/edit-unknown-team.json", 404),
        ("api-teams/get-routing-settings.json", 200),
        ("api-teams/get-unknown-agent.json", 404),
        ("api-teams/get-unknown-sla-policy.json", 404),
        ("api-teams/get-unknown-team.json", 404),
        ("api-teams/list-online-agents.json", 200),
        ("api-teams/list-sla-policies.json", 200),
        ("api-teams/list-teams.json", 200),
        ("api-teams/put-business-hours-overlapping-windows.json", 422),
        ("api-teams/put-routing-settings-twice.json", 422),
        ("api-teams/put-routing-settings.json", 200),
        ("api-teams/set-my-availability.json", 200),
        ("api-teams/sla-compliance.json", 200),
        ("api-teams/sla-compliance-as-agent.json", 403),
        ("api-teams/sla-compliance-over-92-days.json", 422),
        ("api-teams/status-unknown-team.json", 404),
        ("api-whatsapp-templates/delete-unknown-template.json", 404),
        ("api-whatsapp-templates/get-unknown-template.json", 404),
        ("api-whatsapp-templates/list-templates.json", 200),
        ("api-whatsapp-templates/submit-template-as-agent.json", 403),
        ("api-whatsapp-templates/submit-template-without-samples.json", 422),
        ("api-whatsapp-templates/submit-template.json", 201),
        ("api-whatsapp-templates/sync-templates.json", 200),
        // Signed for the public URL of the memory adapter (api.example.com) with the demo voice
        // account's token: this stack has another URL and no voice account, so both are refused
        // (functions/voice-webhook's own test shows the signed one taken in).
        ("chat-app-webhook/receive-message-unknown-key.json", 401),
        ("chat-app-webhook/receive-status-unsigned.json", 401),
        ("voice-webhook/status-completed.json", 403),
        ("voice-webhook/status-forged.json", 403),
        ("whatsapp-webhook/receive-text-message.json", 200),
        ("whatsapp-webhook/verify-subscription.json", 200),
        ("ws-connections/authorizer.json", 200),
        ("ws-connections/connect.json", 200),
        ("ws-connections/default-ping.json", 200),
        ("ws-connections/disconnect.json", 200),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(statuses, expected, "every HTTP sample answers what it shows");
    // Six, media-worker's job and media-cleanup's daily run, sla-scheduler's and interaction-scheduler's
    // minute, webhook-delivery's job, and webhook-fanout's and live-push's stream batches.
    assert_eq!(seen, expected.len() + 13, "the HTTP and WebSocket samples and the thirteen SQS / schedule / stream samples");
    // The inbound sample stored Meta's text message in the demo organisation.
    let conversations = t.conversations().await;
    assert_eq!(conversations.len(), 1);
}
