//! Dashboard JWTs checked in our own code: API Gateway's WebSocket APIs have no JWT authorizer,
//! so the WebSocket's `$connect` authorizer (ws-connections) checks the token the HTTP API's
//! authorizer checks, the same way: signature, expiry, issuer, audience (`docs/live-push.md`).
//!
//! - `CognitoTokens`: the user pool's RS256 keys from its JWKS URL, fetched on first use and
//!   again (at most once a minute) when a token names a key not seen yet (Cognito rotates).
//! - `SharedSecretTokens`: HS256 with a shared secret: the dev stack's tokens (`POST /dev/tokens`),
//!   only when `DEV_JWT_SECRET` is set, which template.yaml never sets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use tracing::warn;

use crate::ports::IdentityTokens;

/// How often an unknown key id may send us to the JWKS URL again: a flood of forged tokens naming
/// random key ids costs one fetch a minute, not one each.
const JWKS_REFETCH: Duration = Duration::from_secs(60);

/// The claims as API Gateway hands them to handlers: strings as they are, numbers and booleans
/// printed, arrays as `[a b]` (how the JWT authorizer flattens `cognito:groups`).
pub fn flatten_claims(claims: Map<String, Value>) -> HashMap<String, String> {
    claims
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s,
                Value::Array(items) => format!("[{}]", items.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect::<Vec<_>>().join(" ")),
                other => other.to_string(),
            };
            (name, text)
        })
        .collect()
}

fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(algorithm);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    // API Gateway's JWT authorizer allows no clock skew either.
    v.leeway = 0;
    v
}

pub struct CognitoTokens {
    jwks_url: String,
    issuer: String,
    audience: String,
    http: reqwest::Client,
    keys: Mutex<(HashMap<String, DecodingKey>, Option<Instant>)>,
}

impl CognitoTokens {
    pub fn new(jwks_url: &str, issuer: &str, audience: &str) -> Self {
        CognitoTokens {
            jwks_url: jwks_url.to_string(),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            http: super::peer_http_client("Cognito JWKS", Duration::from_secs(3)),
            keys: Mutex::new((HashMap::new(), None)),
        }
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        let mut keys = self.keys.lock().await;
        if let Some(k) = keys.0.get(kid) {
            return Some(k.clone());
        }
        if keys.1.is_some_and(|at| at.elapsed() < JWKS_REFETCH) {
            return None;
        }
        keys.1 = Some(Instant::now());
        let set: JwkSet = match self.http.get(&self.jwks_url).send().await.and_then(|r| r.error_for_status()) {
            Ok(r) => match r.json().await {
                Ok(set) => set,
                Err(e) => {
                    warn!(error = %e, "the user pool's JWKS is not a key set");
                    return None;
                }
            },
            Err(e) => {
                warn!(error = %e, "could not fetch the user pool's JWKS");
                return None;
            }
        };
        keys.0 = set.keys.iter().filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?))).collect();
        keys.0.get(kid).cloned()
    }
}

#[async_trait]
impl IdentityTokens for CognitoTokens {
    async fn claims(&self, token: &str) -> Option<HashMap<String, String>> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 {
            return None;
        }
        let key = self.key(header.kid.as_deref()?).await?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation(Algorithm::RS256, &self.issuer, &self.audience)).ok()?;
        Some(flatten_claims(data.claims))
    }
}

pub struct SharedSecretTokens {
    key: DecodingKey,
    issuer: String,
    audience: String,
}

impl SharedSecretTokens {
    pub fn new(secret: &str, issuer: &str, audience: &str) -> Self {
        SharedSecretTokens { key: DecodingKey::from_secret(secret.as_bytes()), issuer: issuer.to_string(), audience: audience.to_string() }
    }
}

#[async_trait]
impl IdentityTokens for SharedSecretTokens {
    async fn claims(&self, token: &str) -> Option<HashMap<String, String>> {
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &validation(Algorithm::HS256, &self.issuer, &self.audience)).ok()?;
        Some(flatten_claims(data.claims))
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    fn token(secret: &str, claims: Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    }

    fn claims(exp: i64) -> Value {
        json!({"sub": "u1", "custom:org_id": "org_a", "cognito:groups": ["agent", "admin"], "iss": "max-dev", "aud": "max-dashboard", "exp": exp})
    }

    #[tokio::test]
    async fn a_good_token_answers_its_claims_as_api_gateway_flattens_them() {
        let tokens = SharedSecretTokens::new("s3cret", "max-dev", "max-dashboard");
        let got = tokens.claims(&token("s3cret", claims(chrono::Utc::now().timestamp() + 60))).await.unwrap();
        assert_eq!(got["custom:org_id"], "org_a");
        assert_eq!(got["cognito:groups"], "[agent admin]");
    }

    #[tokio::test]
    async fn expired_forged_and_foreign_tokens_are_refused() {
        let tokens = SharedSecretTokens::new("s3cret", "max-dev", "max-dashboard");
        let later = chrono::Utc::now().timestamp() + 60;
        assert!(tokens.claims(&token("s3cret", claims(chrono::Utc::now().timestamp() - 1))).await.is_none(), "expired");
        assert!(tokens.claims(&token("other", claims(later))).await.is_none(), "another key");
        let mut foreign = claims(later);
        foreign["aud"] = json!("someone-else");
        assert!(tokens.claims(&token("s3cret", foreign)).await.is_none(), "another audience");
        let mut no_sub = claims(later);
        no_sub.as_object_mut().unwrap().remove("sub");
        assert!(tokens.claims(&token("s3cret", no_sub)).await.is_none(), "no subject");
        assert!(tokens.claims("not.a.token").await.is_none());
    }
}
