//! AWS Secrets Manager: each WhatsApp number's Graph access token is a secret of its own, named
//! below the deployment's prefix (`max/{stack}/`), the only names the functions' grants cover.
//!
//! Only the functions that read or write secrets build this client (`config::secrets_manager`, named
//! in their `Needs`), so the others do not link its SDK.

use async_trait::async_trait;

use crate::domain::secret::Secret;
use crate::error::Result;
use crate::ports::Secrets;

/// Days a deleted secret can still be restored (Secrets Manager's minimum is 7).
const RECOVERY_WINDOW_DAYS: i64 = 7;

#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
    prefix: String,
}

impl SecretsManager {
    /// `prefix` ends with `/` (`max/prod/`); every name is placed below it.
    pub fn new(client: aws_sdk_secretsmanager::Client, prefix: impl Into<String>) -> Self {
        SecretsManager { client, prefix: prefix.into() }
    }

    fn full_name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

#[async_trait]
impl Secrets for SecretsManager {
    async fn put_secret(&self, name: &str, value: &Secret) -> Result<()> {
        let id = self.full_name(name);
        let described = self.client.describe_secret().secret_id(&id).send().await;
        match described {
            Ok(d) => {
                // A secret scheduled for deletion takes no new value until it is restored.
                if d.deleted_date().is_some() {
                    self.client.restore_secret().secret_id(&id).send().await.map_err(|e| super::sdk_error("secretsmanager", e))?;
                }
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception()) => {
                let created = self.client.create_secret().name(&id).secret_string(value.expose()).send().await;
                match created {
                    Ok(_) => return Ok(()),
                    // Created by a concurrent registration of the same number: put the value over it.
                    Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_exists_exception()) => {}
                    Err(e) => return Err(super::sdk_error("secretsmanager", e)),
                }
            }
            Err(e) => return Err(super::sdk_error("secretsmanager", e)),
        }
        self.client
            .put_secret_value()
            .secret_id(&id)
            .secret_string(value.expose())
            .send()
            .await
            .map_err(|e| super::sdk_error("secretsmanager", e))?;
        Ok(())
    }

    async fn secret(&self, name: &str) -> Result<Option<Secret>> {
        match self.client.get_secret_value().secret_id(self.full_name(name)).send().await {
            Ok(out) => Ok(out.secret_string().map(Secret::new)),
            // Not there, or scheduled for deletion (Secrets Manager answers InvalidRequest then).
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception() || se.is_invalid_request_exception()) => {
                Ok(None)
            }
            Err(e) => Err(super::sdk_error("secretsmanager", e)),
        }
    }

    async fn delete_secret(&self, name: &str) -> Result<()> {
        let deleted = self.client.delete_secret().secret_id(self.full_name(name)).recovery_window_in_days(RECOVERY_WINDOW_DAYS).send().await;
        match deleted {
            Ok(_) => Ok(()),
            // Not there, or its deletion already scheduled.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception() || se.is_invalid_request_exception()) => Ok(()),
            Err(e) => Err(super::sdk_error("secretsmanager", e)),
        }
    }
}
