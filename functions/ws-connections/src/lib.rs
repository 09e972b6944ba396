//! The dashboards' WebSocket API (`docs/live-push.md`): one function is its `$connect`
//! authorizer and the integration of its three routes.
//!
//! - authorizer (`REQUEST`, identity source `?token=`): the same Cognito JWT the HTTP API takes,
//!   checked the same way (signature, expiry, issuer, audience) and read by the same rules
//!   (`http::caller_from_claims`: organisation from `custom:org_id`, role from `cognito:groups`).
//!   A good token is allowed with the caller in the context; any other answers `Unauthorized`,
//!   which API Gateway turns into 401 before a connection exists.
//! - `$connect`: keeps the connection under the organisation the authorizer put in the context
//!   (2 hours, API Gateway's own limit).
//! - `$disconnect`: forgets it.
//! - `$default`: any message from the client (a ping) keeps it 2 hours more.

use aws_lambda_events::event::apigw::{ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse, ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::event::iam::{IamPolicyEffect, IamPolicyStatement};
use lambda_runtime::Error;
use max_core::app::live_push;
use max_core::config::Deps;
use max_core::http::{Role, caller_from_claims};
use serde_json::{Value, json};
use tracing::{info, warn};

/// The authorizer's context keys: what every route of the connection is handed.
pub const ORG_KEY: &str = "org_id";
pub const USER_KEY: &str = "user_id";
pub const ROLE_KEY: &str = "role";

/// One invocation: the authorizer's request (`"type": "REQUEST"`) or a route's event.
pub async fn handle(event: Value, deps: &Deps) -> Result<Value, Error> {
    if event.get("type").and_then(Value::as_str) == Some("REQUEST") && event.get("methodArn").is_some() {
        let request: ApiGatewayCustomAuthorizerRequestTypeRequest = serde_json::from_value(event)?;
        return Ok(serde_json::to_value(authorize(&request, deps).await?)?);
    }
    let request: ApiGatewayWebsocketProxyRequest = serde_json::from_value(event)?;
    Ok(serde_json::to_value(route(&request, deps).await?)?)
}

/// The token from `?token=` (browsers cannot set headers on a WebSocket), checked like the HTTP
/// API's authorizer checks it. Anything wrong is the one answer `Unauthorized` (401), never why.
pub async fn authorize(request: &ApiGatewayCustomAuthorizerRequestTypeRequest, deps: &Deps) -> Result<ApiGatewayCustomAuthorizerResponse, Error> {
    let unauthorized = || Error::from("Unauthorized");
    let token = request.query_string_parameters.first("token").map(str::trim).filter(|t| !t.is_empty()).ok_or_else(unauthorized)?;
    let claims = deps.identity.claims(token).await.ok_or_else(unauthorized)?;
    let caller = caller_from_claims(&claims).map_err(|e| {
        info!(reason = %e, "a WebSocket token without an organisation or a role was refused");
        unauthorized()
    })?;
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = vec![request.method_arn.clone().ok_or_else(unauthorized)?];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".into());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(caller.user_id.clone());
    response.policy_document = policy;
    let role = match caller.role {
        Role::Admin => "admin",
        Role::Supervisor => "supervisor",
        Role::Agent => "agent",
    };
    response.context = json!({ ORG_KEY: caller.org_id, USER_KEY: caller.user_id, ROLE_KEY: role });
    Ok(response)
}

fn answer(status: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response
}

/// `$connect`, `$disconnect`, `$default`, for the caller the authorizer let in.
pub async fn route(request: &ApiGatewayWebsocketProxyRequest, deps: &Deps) -> Result<ApiGatewayProxyResponse, Error> {
    let ctx = &request.request_context;
    let field = |name: &str| ctx.authorizer.fields.get(name).and_then(Value::as_str).filter(|v| !v.is_empty());
    let (Some(org_id), Some(user_id), Some(connection_id)) = (field(ORG_KEY), field(USER_KEY), ctx.connection_id.as_deref()) else {
        // Only the authorizer lets a connection in; a route without its context is not ours.
        warn!(route = ?ctx.route_key, "a WebSocket route without the authorizer's context");
        return Ok(answer(401));
    };
    let ports = deps.live_connection_ports();
    let outcome = match ctx.route_key.as_deref() {
        Some("$connect") => live_push::connect(&ports, org_id, user_id, connection_id).await.map(|_| ()),
        Some("$disconnect") => live_push::disconnect(&ports, org_id, connection_id).await,
        _ => live_push::refresh(&ports, org_id, user_id, connection_id).await.map(|_| ()),
    };
    match outcome {
        Ok(()) => Ok(answer(200)),
        Err(max_core::error::Error::Invalid { .. }) => Ok(answer(400)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
