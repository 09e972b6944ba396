//! A secret value (a Graph access token, the Meta app secret): usable, never shown.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// `Debug` says it is redacted, and there is no `Display` and no `Serialize`: a secret cannot reach
/// a log line, a stored item or an API answer by accident. It is read from the environment or a
/// request body and handed to the one port that stores or uses it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// From a JSON string (a request body); serde's errors name the type, never the value of a string.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_never_printed() {
        let secret: Secret = serde_json::from_str(r#""EAAG-very-secret""#).unwrap();
        assert_eq!(secret.expose(), "EAAG-very-secret");
        let printed = format!("{secret:?} {:?}", Some(&secret));
        assert!(!printed.contains("very-secret"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }
}
