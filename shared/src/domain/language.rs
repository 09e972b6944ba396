//! Language tags (BCP 47) as MAX keeps them: a customer's language, the languages an agent
//! speaks (routing), the language of a feedback call's prompts and speech recognition.
//! (WhatsApp template languages are Meta's own codes, `en_US`: `whatsapp_template::check_language`.)

use crate::error::{Error, Result};

/// Longest tag kept: enough for a language, script, region and variant (`sr-Latn-RS-ekavsk`).
pub const MAX_TAG_CHARS: usize = 35;

/// `value` as a language tag in its usual shape: a 2–3 letter language, then subtags of 2–8
/// letters or digits (`es`, `pt-BR`, `zh-Hant`, `es-419`); otherwise 422 naming `field`.
pub fn check_tag(field: impl Into<String>, value: &str) -> Result<String> {
    let mut parts = value.split('-');
    let primary = parts.next().unwrap_or_default();
    let valid = value.len() <= MAX_TAG_CHARS
        && (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if valid { Ok(value.to_string()) } else { Err(Error::invalid(field, "must be a language tag such as es, pt-BR or es-419")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_tags_pass_and_words_or_odd_shapes_are_refused() {
        for ok in ["es", "en-US", "pt-BR", "zh-Hant", "es-419", "fil", "sr-Latn-RS"] {
            assert_eq!(check_tag("language", ok).unwrap(), ok);
        }
        for bad in ["", "e", "spanish", "español", "en US", "en_US", "en-", "-en", "en--US", "en-U", "1en", &format!("en-{}", "a".repeat(9)), &"en-abcdefgh".repeat(4)] {
            let err = check_tag("languages[2]", bad).unwrap_err();
            assert!(matches!(&err, Error::Invalid { field, .. } if field == "languages[2]"), "{bad:?}: {err:?}");
        }
    }

}
