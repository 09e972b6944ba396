//! Live push on AWS: `PostToConnection` through API Gateway's Management API, at the WebSocket
//! API's stage endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`; in the dev
//! stack, the dev gateway's own URL, which serves the same API).

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::primitives::Blob;

use crate::error::Result;
use crate::ports::{LivePush, PushAnswer};

pub struct ApiGatewayPush {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ApiGatewayPush {
    pub fn new(client: aws_sdk_apigatewaymanagement::Client) -> Self {
        ApiGatewayPush { client }
    }
}

#[async_trait]
impl LivePush for ApiGatewayPush {
    async fn post(&self, connection_id: &str, payload: &[u8]) -> Result<PushAnswer> {
        match self.client.post_to_connection().connection_id(connection_id).data(Blob::new(payload)).send().await {
            Ok(_) => Ok(PushAnswer::Delivered),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_gone_exception()) => Ok(PushAnswer::Gone),
            Err(e) => Err(super::sdk_error("apigateway", e)),
        }
    }
}
