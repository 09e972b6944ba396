//! Dev JWTs (HS256), checked the way the API Gateway JWT authorizer checks Cognito's: signature,
//! expiry, issuer and audience. The claims reach the handlers exactly as in AWS: every value a
//! string, arrays as the authorizer flattens them (`["admin","agent"]` → `[admin agent]`). Like
//! the authorizer, the gateway decides nothing from the claims; the handlers' `http::caller`
//! reads the organisation from `custom:org_id` and the role from `cognito:groups` only.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use max_core::http::{GROUPS_CLAIM, ORG_CLAIM};
use serde_json::{Map, Value, json};

pub const ISSUER: &str = "max-dev";
pub const AUDIENCE: &str = "max-dashboard";
/// Dev tokens last 30 days: long enough for a day of `make dev`, short enough to be a token.
const LIFETIME_SECS: i64 = 30 * 86_400;

#[derive(Clone)]
pub struct DevTokens {
    secret: Vec<u8>,
}

/// Who a dev token speaks for, with the claims a Cognito ID token would carry.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub org_id: String,
    /// Cognito groups: `admin`, `supervisor`, `agent` (others are carried and grant nothing).
    pub groups: Vec<String>,
    pub sub: String,
    /// Any other claims (`name`, `email`, even `role` or `custom:role` to show they grant
    /// nothing). They cannot replace `sub`, `iss`, `aud`, `exp`, `iat`, the organisation or the
    /// groups: those come from the fields above.
    #[serde(default)]
    pub claims: Map<String, Value>,
}

impl TokenRequest {
    /// A user of `org_id` in one role group.
    pub fn user(org_id: &str, sub: &str, group: &str, name: &str) -> Self {
        let claims = Map::from_iter([("name".to_string(), json!(name))]);
        TokenRequest { org_id: org_id.into(), groups: vec![group.into()], sub: sub.into(), claims }
    }
}

impl DevTokens {
    pub fn new(secret: &str) -> Self {
        DevTokens { secret: secret.as_bytes().to_vec() }
    }

    /// A token for `sub` in `org_id` in the Cognito group `group` (agent, supervisor, admin).
    pub fn mint(&self, org_id: &str, sub: &str, group: &str, name: &str) -> String {
        self.mint_for(&TokenRequest::user(org_id, sub, group, name))
    }

    /// A signed token with the request's claims, valid 30 days.
    pub fn mint_for(&self, request: &TokenRequest) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = request.claims.clone();
        for (name, value) in [
            ("sub", json!(request.sub)),
            (ORG_CLAIM, json!(request.org_id)),
            (GROUPS_CLAIM, json!(request.groups)),
            ("iss", json!(ISSUER)),
            ("aud", json!(AUDIENCE)),
            ("iat", json!(now)),
            ("exp", json!(now + LIFETIME_SECS)),
        ] {
            claims.insert(name.to_string(), value);
        }
        // Encoding a JSON map with a fixed header cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&self.secret)).unwrap_or_default()
    }

    /// The claims as API Gateway passes them, or `None` if the token is bad.
    pub fn verify(&self, authorization: Option<&str>) -> Option<HashMap<String, String>> {
        let token = authorization?.trim();
        let token = token.strip_prefix("Bearer ").or_else(|| token.strip_prefix("bearer ")).unwrap_or(token);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        let data = jsonwebtoken::decode::<HashMap<String, Value>>(token, &DecodingKey::from_secret(&self.secret), &validation).ok()?;
        Some(data.claims.into_iter().map(|(k, v)| (k, as_authorizer_string(v))).collect())
    }
}

/// A claim's value as the HTTP API JWT authorizer hands it to a function.
fn as_authorizer_string(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Array(items) => {
            let items: Vec<String> = items.into_iter().map(as_authorizer_string).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
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
        assert_eq!((claims["custom:org_id"].as_str(), claims["cognito:groups"].as_str(), claims["name"].as_str()), ("org", "[admin]", "Ana"));
        assert!(!claims.contains_key("role") && !claims.contains_key("org_id"), "{claims:?}");
        assert!(DevTokens::new("s2").verify(Some(&token)).is_none());
        assert!(t.verify(None).is_none());
        assert!(t.verify(Some("Bearer nonsense")).is_none());
    }

    #[test]
    fn array_claims_arrive_flattened_as_the_authorizer_does() {
        let t = DevTokens::new("s1");
        let mut request = TokenRequest::user("org", "u1", "agent", "Al");
        request.groups.push("admin".into());
        request.claims.insert("custom:role".into(), json!("admin"));
        // Extra claims cannot replace the ones the request names.
        request.claims.insert(ORG_CLAIM.into(), json!("other"));
        request.claims.insert("exp".into(), json!(1));
        let claims = t.verify(Some(&t.mint_for(&request))).unwrap();
        assert_eq!(claims["cognito:groups"], "[agent admin]");
        assert_eq!((claims["custom:org_id"].as_str(), claims["custom:role"].as_str()), ("org", "admin"));
        assert!(claims["exp"].parse::<i64>().unwrap() > chrono::Utc::now().timestamp());
    }
}
