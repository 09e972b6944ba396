//! Twilio's request signature (`X-Twilio-Signature`): base64 of HMAC-SHA1, keyed with the
//! account's auth token, over the full callback URL followed by every POST parameter sorted by
//! name (a repeated name by value, a repeated pair once), each written as its name then its value.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The signature Twilio sends for a POST to `url` with `params` (decoded form fields, in any order).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(signed(auth_token, url, params).finalize().into_bytes())
}

/// Whether `given` (the header) is the signature of this request, compared in constant time.
pub fn verify_signature(auth_token: &str, url: &str, params: &[(String, String)], given: &str) -> bool {
    let Ok(given) = STANDARD.decode(given.trim()) else { return false };
    signed(auth_token, url, params).verify_slice(&given).is_ok()
}

fn signed(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    // Twilio's helper libraries sign each distinct name/value pair once (a value repeated under
    // one name counts once): sorted and deduplicated.
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Twilio's published vector (twilio-php `RequestValidatorTest`, the same in every helper library).
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const TOKEN: &str = "12345";

    fn documented() -> Vec<(String, String)> {
        // Deliberately not in order: the signature sorts them.
        pairs(&[("To", "+18005551212"), ("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309"), ("Caller", "+14158675309")])
    }

    #[test]
    fn twilios_documented_vector() {
        assert_eq!(signature(TOKEN, URL, &documented()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(verify_signature(TOKEN, URL, &documented(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    /// Twilio's vector for a repeated name (twilio-php `testValidateWithArrayAndDuplicates`):
    /// values sorted, the duplicate `1234` signed once.
    #[test]
    fn repeated_parameters_sort_by_value_once_each() {
        let params = pairs(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]);
        assert_eq!(signature(TOKEN, URL, &params), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn any_change_breaks_it() {
        let good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        let mut tampered = documented();
        tampered[2].1 = "9".into();
        assert!(!verify_signature(TOKEN, URL, &tampered, good), "a changed value");
        assert!(!verify_signature(TOKEN, &format!("{URL}&x=1"), &documented(), good), "another URL");
        assert!(!verify_signature("54321", URL, &documented(), good), "another token");
        assert!(!verify_signature(TOKEN, URL, &documented(), "not base64 !"), "garbage");
        assert!(!verify_signature(TOKEN, URL, &documented(), ""), "empty");
    }
}
