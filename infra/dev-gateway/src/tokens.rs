//! Dev JWTs (HS256), checked the way the API Gateway JWT authorizer checks Cognito's: signature,
//! expiry, issuer and audience. The claims reach the handlers exactly as in AWS.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

pub const ISSUER: &str = "max-dev";
pub const AUDIENCE: &str = "max-dashboard";

#[derive(Clone)]
pub struct DevTokens {
    secret: Vec<u8>,
}

impl DevTokens {
    pub fn new(secret: &str) -> Self {
        DevTokens { secret: secret.as_bytes().to_vec() }
    }

    /// A token for `sub` in `org_id` with `role` (agent, supervisor, admin), valid 30 days.
    pub fn mint(&self, org_id: &str, sub: &str, role: &str, name: &str) -> String {
        let exp = chrono::Utc::now().timestamp() + 30 * 86_400;
        let claims = json!({
            "sub": sub, "org_id": org_id, "role": role, "name": name,
            "iss": ISSUER, "aud": AUDIENCE, "exp": exp, "iat": chrono::Utc::now().timestamp(),
        });
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&self.secret)).unwrap_or_default()
    }

    /// The claims as API Gateway passes them (every value a string), or `None` if the token is bad.
    pub fn verify(&self, authorization: Option<&str>) -> Option<HashMap<String, String>> {
        let token = authorization?.trim();
        let token = token.strip_prefix("Bearer ").or_else(|| token.strip_prefix("bearer ")).unwrap_or(token);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        let data = jsonwebtoken::decode::<HashMap<String, Value>>(token, &DecodingKey::from_secret(&self.secret), &validation).ok()?;
        Some(
            data.claims
                .into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, s)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_with_their_secret_only() {
        let t = DevTokens::new("s1");
        let token = t.mint("org", "u1", "admin", "Ana");
        let claims = t.verify(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(claims["org_id"], "org");
        assert_eq!(claims["role"], "admin");
        assert!(DevTokens::new("s2").verify(Some(&token)).is_none());
        assert!(t.verify(None).is_none());
        assert!(t.verify(Some("Bearer nonsense")).is_none());
    }
}
