//! Every function the dev gateway can run in process, by its binary name in template.yaml.
//! One arm per function: adding a Lambda means one line here.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_http::{Body, Request, Response};
use max_core::batch::StopBy;
use max_core::config::Deps;

pub type Failure = Box<dyn std::error::Error + Send + Sync>;

pub async fn invoke_http(binary: &str, req: Request, deps: &Deps) -> Option<Result<Response<Body>, Failure>> {
    Some(match binary {
        "whatsapp-webhook" => whatsapp_webhook::handle(req, deps).await,
        "chat-app-webhook" => chat_app_webhook::handle(req, deps).await,
        "api-conversations" => api_conversations::handle(req, deps).await,
        "api-customers" => api_customers::handle(req, deps).await,
        "api-interactions" => api_interactions::handle(req, deps).await,
        "api-actions" => api_actions::handle(req, deps).await,
        "api-events" => api_events::handle(req, deps).await,
        "api-support" => api_support::handle(req, deps).await,
        "api-calls" => api_calls::handle(req, deps).await,
        "api-whatsapp-templates" => api_whatsapp_templates::handle(req, deps).await,
        "api-canned-responses" => api_canned_responses::handle(req, deps).await,
        "api-webhooks" => api_webhooks::handle(req, deps).await,
        "api-teams" => api_teams::handle(req, deps).await,
        "api-channels" => api_channels::handle(req, deps).await,
        "voice-webhook" => voice_webhook::handle(req, deps).await,
        "api-media" => api_media::handle(req, deps).await,
        _ => return None,
    })
}

pub async fn invoke_sqs(binary: &str, event: SqsEvent, deps: &Deps) -> Option<Result<SqsBatchResponse, Failure>> {
    Some(match binary {
        // The dev stack has no invocation deadline.
        "inbound-processor" => inbound_processor::handle(event, deps, StopBy::NEVER).await,
        "reply-sender" => reply_sender::handle(event, deps, StopBy::NEVER).await,
        "next-step" => next_step::handle(event, deps, StopBy::NEVER).await,
        "call-dialer" => call_dialer::handle(event, deps, StopBy::NEVER).await,
        "media-worker" => media_worker::handle(event, deps, StopBy::NEVER).await,
        "webhook-delivery" => webhook_delivery::handle(event, deps, StopBy::NEVER).await,
        _ => return None,
    })
}

/// DynamoDB stream consumers get the stream's records (the dev gateway's stream poller).
pub async fn invoke_stream(binary: &str, event: aws_lambda_events::event::dynamodb::Event, deps: &Deps) -> Option<Result<DynamoDbEventResponse, Failure>> {
    Some(match binary {
        "webhook-fanout" => webhook_fanout::handle(event, deps).await,
        "live-push" => live_push::handle(event, deps).await,
        _ => return None,
    })
}

/// The WebSocket API's function gets API Gateway's events: its authorizer's request and its
/// routes' (`$connect`, `$disconnect`, `$default`), as JSON.
pub async fn invoke_websocket(binary: &str, event: serde_json::Value, deps: &Deps) -> Option<Result<serde_json::Value, Failure>> {
    Some(match binary {
        "ws-connections" => ws_connections::handle(event, deps).await,
        _ => return None,
    })
}

/// Scheduled functions get an EventBridge scheduled event.
pub async fn invoke_schedule(binary: &str, event: serde_json::Value, deps: &Deps) -> Option<Result<(), Failure>> {
    let _ = &event;
    Some(match binary {
        "next-step" => next_step::sweep(deps).await.map(|_| ()),
        "reply-sender" => reply_sender::sweep(deps).await.map(|_| ()),
        "call-scheduler" => call_scheduler::run(deps).await.map(|_| ()),
        "media-cleanup" => media_cleanup::run(deps).await.map(|_| ()),
        "sla-scheduler" => sla_scheduler::run(deps).await.map(|_| ()),
        "interaction-scheduler" => interaction_scheduler::run(deps).await.map(|_| ()),
        _ => return None,
    })
}
