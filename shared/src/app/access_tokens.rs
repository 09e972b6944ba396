//! The Graph access token a send goes out with: its number's own, read from the number's secret
//! and kept by the warm function for a while, so a send costs no Secrets Manager call.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::domain::channel::access_token_secret;
use crate::domain::secret::Secret;
use crate::error::Result;
use crate::ports::Secrets;

/// How long a token read from its secret is used before it is read again: a rotation reaches every
/// warm sender within this (or at once, when Meta refuses the old token: `refresh`).
pub const TOKEN_TTL: Duration = Duration::minutes(5);

/// The tokens read so far, by secret name, with when each was read. One per warm function (`Deps`).
#[derive(Default)]
pub struct AccessTokens {
    read: Mutex<HashMap<String, (DateTime<Utc>, Secret)>>,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens").finish_non_exhaustive()
    }
}

impl AccessTokens {
    pub fn new() -> Self {
        AccessTokens::default()
    }

    /// The organisation's token for the number: the one read less than [`TOKEN_TTL`] ago, else
    /// read now. `None` when the number has no secret (nothing is kept then: a token registered a
    /// moment later is found by the next send).
    pub async fn token(&self, secrets: &dyn Secrets, org_id: &str, phone_number_id: &str, now: DateTime<Utc>) -> Result<Option<Secret>> {
        self.secret(secrets, access_token_secret(org_id, phone_number_id), now).await
    }

    /// Reads the token again, whatever is kept: Meta refused the kept one (error 190), which a
    /// rotation since it was read explains.
    pub async fn refresh(&self, secrets: &dyn Secrets, org_id: &str, phone_number_id: &str, now: DateTime<Utc>) -> Result<Option<Secret>> {
        self.read(secrets, access_token_secret(org_id, phone_number_id), now).await
    }

    /// Any secret by name, kept the same way (the organisations' voice accounts).
    pub async fn secret(&self, secrets: &dyn Secrets, name: String, now: DateTime<Utc>) -> Result<Option<Secret>> {
        if let Some((read_at, value)) = self.lock().get(&name)
            && now - *read_at < TOKEN_TTL && now >= *read_at {
                return Ok(Some(value.clone()));
            }
        self.read(secrets, name, now).await
    }

    /// Reads the secret again, whatever is kept (what was kept was refused: a rotation since).
    pub async fn reread(&self, secrets: &dyn Secrets, name: String, now: DateTime<Utc>) -> Result<Option<Secret>> {
        self.read(secrets, name, now).await
    }

    async fn read(&self, secrets: &dyn Secrets, name: String, now: DateTime<Utc>) -> Result<Option<Secret>> {
        let token = secrets.secret(&name).await?;
        let mut kept = self.lock();
        match &token {
            Some(t) => kept.insert(name, (now, t.clone())),
            None => kept.remove(&name),
        };
        Ok(token)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (DateTime<Utc>, Secret)>> {
        self.read.lock().unwrap_or_else(|p| p.into_inner())
    }
}
