//! Twilio Programmable Voice, as the feedback call speaks it: the request signature of its
//! callbacks (`X-Twilio-Signature`: base64 of HMAC-SHA1, keyed with the account's auth token, over
//! the full callback URL followed by every POST parameter sorted by name, a repeated name by
//! value, a repeated pair once, each written as its name then its value), the TwiML MAX answers a
//! call with (the NPS question, the follow-up question, the goodbye), reading the customer's score
//! from digits or speech, and reading a status callback into how the attempt ended.

use base64::Engine;
use chrono::{DateTime, Utc};
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


/// Form parameters as Twilio posts them (`application/x-www-form-urlencoded`), decoded, in order.
pub fn form_params(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}

/// A form parameter's value, when given and not empty.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// What the voice prompts say and how (the organisation's schedule config).
#[derive(Debug, Clone, PartialEq)]
pub struct Prompts<'a> {
    pub nps_prompt: &'a str,
    pub follow_up_prompt: &'a str,
    /// BCP 47, for `<Say>` and for speech recognition.
    pub language: &'a str,
    pub voice: &'a str,
}

/// The first TwiML of a feedback call: the NPS question, answered by keypad (`#` finishes, so 10
/// is two digits) or by voice; Twilio posts the result to `score_url`, also when nothing was
/// said (`actionOnEmptyResult`), so the call always reaches MAX's next step.
pub fn nps_question(prompts: &Prompts<'_>, score_url: &str) -> String {
    let hints = "zero, one, two, three, four, five, six, seven, eight, nine, ten";
    twiml(&format!(
        r##"<Gather input="dtmf speech" finishOnKey="#" timeout="8" speechTimeout="auto" language="{language}" hints="{hints}" action="{action}" method="POST" actionOnEmptyResult="true">{say}</Gather>"##,
        language = xml(prompts.language),
        action = xml(score_url),
        say = say(prompts, prompts.nps_prompt),
    ))
}

/// After the score: the open question, answered by voice, posted to `feedback_url`.
pub fn follow_up_question(prompts: &Prompts<'_>, feedback_url: &str) -> String {
    twiml(&format!(
        r#"<Gather input="speech" speechTimeout="auto" timeout="8" language="{language}" action="{action}" method="POST" actionOnEmptyResult="true">{say}</Gather>"#,
        language = xml(prompts.language),
        action = xml(feedback_url),
        say = say(prompts, prompts.follow_up_prompt),
    ))
}

/// The end of the call: `text` said, then hang up.
pub fn goodbye(prompts: &Prompts<'_>, text: &str) -> String {
    twiml(&format!("{}<Hangup/>", say(prompts, text)))
}

/// Hang up at once (an answering machine: nobody to ask).
pub fn hang_up() -> String {
    twiml("<Hangup/>")
}

/// Whether answering-machine detection says no person answered (`AnsweredBy` `machine_start`,
/// `machine_end_beep`, ... or `fax`).
pub fn answered_by_machine(params: &[(String, String)]) -> bool {
    param(params, "AnsweredBy").is_some_and(|a| a.starts_with("machine") || a == "fax")
}

fn say(prompts: &Prompts<'_>, text: &str) -> String {
    format!(r#"<Say voice="{}" language="{}">{}</Say>"#, xml(prompts.voice), xml(prompts.language), xml(text))
}

fn twiml(inner: &str) -> String {
    format!(r#"<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>"#)
}

/// Text for XML content and attribute values.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The 0–10 score in a `<Gather>` result: the digits typed (`#` may trail them), else the first
/// number said ("9", "nine", "a ten"). Anything else is no score.
pub fn read_score(params: &[(String, String)]) -> Option<u8> {
    if let Some(digits) = param(params, "Digits") {
        return digits.trim().trim_end_matches('#').parse::<u8>().ok().filter(|s| *s <= 10);
    }
    super::call::score_in_words(param(params, "SpeechResult")?)
}

/// What the customer said in answer to the open question, if anything.
pub fn read_speech(params: &[(String, String)]) -> Option<String> {
    param(params, "SpeechResult").map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A status callback (`StatusCallbackEvent` initiated, ringing, answered, completed).
#[derive(Debug, Clone, PartialEq)]
pub struct CallProgress {
    pub provider_call_id: String,
    pub at: DateTime<Utc>,
    pub stage: CallStage,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallStage {
    /// Queued, initiated, ringing or in progress: the attempt goes on.
    Underway,
    /// The final status: how the attempt ended.
    Ended { result: super::call::ProviderResult, duration_sec: Option<u32> },
}

/// Reads a status callback; `None` when it is not one (no `CallSid` or no `CallStatus`).
/// `Timestamp` (RFC 2822) is when Twilio saw the change; `received_at` stands in without it.
pub fn read_progress(params: &[(String, String)], received_at: DateTime<Utc>) -> Option<CallProgress> {
    use super::call::ProviderResult;
    let provider_call_id = param(params, "CallSid")?.to_string();
    let status = param(params, "CallStatus")?;
    let at = param(params, "Timestamp").and_then(|t| DateTime::parse_from_rfc2822(t).ok()).map_or(received_at, |t| t.with_timezone(&Utc));
    let duration_sec = param(params, "CallDuration").and_then(|d| d.parse().ok());
    // Answering-machine detection: `machine_start`, `machine_end_beep`, ... and fax are no person.
    let machine = answered_by_machine(params);
    let result = match status {
        "completed" => ProviderResult::Completed { machine },
        "no-answer" => ProviderResult::NoAnswer,
        "busy" => ProviderResult::Busy,
        "failed" | "canceled" => ProviderResult::Failed,
        _ => return Some(CallProgress { provider_call_id, at, stage: CallStage::Underway }),
    };
    Some(CallProgress { provider_call_id, at, stage: CallStage::Ended { result, duration_sec } })
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

    fn fixture(name: &str) -> Vec<(String, String)> {
        let path = crate::testing::shared_dir().join("fixtures/twilio").join(name);
        form_params(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim())
    }

    const PROMPTS: Prompts<'static> = Prompts {
        nps_prompt: "How likely are you to recommend us, from 0 to 10? Press # when done.",
        follow_up_prompt: "What went well, or what could we do better?",
        language: "en-US",
        voice: "Polly.Joanna",
    };

    #[test]
    fn the_nps_question_gathers_keys_and_speech_and_always_comes_back() {
        let twiml = nps_question(&PROMPTS, "https://api.example.com/webhooks/voice/org_1/call_1/1/score?a=1&b=2");
        assert!(twiml.starts_with(r##"<?xml version="1.0" encoding="UTF-8"?><Response><Gather input="dtmf speech" finishOnKey="#""##), "{twiml}");
        assert!(twiml.contains(r#"action="https://api.example.com/webhooks/voice/org_1/call_1/1/score?a=1&amp;b=2""#), "the URL escaped: {twiml}");
        assert!(twiml.contains(r#"actionOnEmptyResult="true""#));
        assert!(twiml.contains(r#"<Say voice="Polly.Joanna" language="en-US">How likely are you to recommend us, from 0 to 10? Press # when done.</Say></Gather></Response>"#), "{twiml}");
        assert!(!twiml.contains("numDigits"), "10 is two digits: # finishes");
    }

    #[test]
    fn prompts_cannot_break_out_of_the_twiml() {
        let prompts = Prompts { follow_up_prompt: r#"Tell us </Say><Dial>+1900</Dial> "more""#, ..PROMPTS };
        let twiml = follow_up_question(&prompts, "https://x/feedback");
        assert!(!twiml.contains("<Dial>"), "{twiml}");
        assert!(twiml.contains("Tell us &lt;/Say&gt;&lt;Dial&gt;+1900&lt;/Dial&gt; &quot;more&quot;"), "{twiml}");
        assert!(twiml.contains(r#"<Gather input="speech""#));
        assert!(goodbye(&PROMPTS, "Thank you & goodbye").ends_with("<Say voice=\"Polly.Joanna\" language=\"en-US\">Thank you &amp; goodbye</Say><Hangup/></Response>"));
    }

    #[test]
    fn the_score_comes_from_the_keys_or_the_first_number_said() {
        assert_eq!(read_score(&fixture("gather-digits.txt")), Some(9));
        let said = |s: &str| read_score(&pairs(&[("SpeechResult", s)]));
        let typed = |d: &str| read_score(&pairs(&[("Digits", d)]));
        assert_eq!(typed("10#"), Some(10));
        assert_eq!(typed("0"), Some(0));
        assert_eq!(typed("11"), None, "out of range");
        assert_eq!(typed("#"), None);
        assert_eq!(said("Nine."), Some(9));
        assert_eq!(said("I'd say a ten, really"), Some(10));
        assert_eq!(said("8 out of 10"), Some(8));
        assert_eq!(said("probably zero"), Some(0));
        assert_eq!(said("twelve"), None);
        assert_eq!(said("no idea"), None);
        assert_eq!(read_score(&fixture("gather-speech.txt")), None, "feedback, not a score");
        assert_eq!(read_speech(&fixture("gather-speech.txt")).as_deref(), Some("The advisor explained everything but the wait was long."));
        assert_eq!(read_speech(&pairs(&[("SpeechResult", "  ")])), None);
    }

    #[test]
    fn status_callbacks_say_how_the_attempt_ended() {
        use crate::domain::call::ProviderResult;
        let now = Utc::now();
        let completed = read_progress(&fixture("call-status-completed.txt"), now).unwrap();
        assert_eq!(completed.provider_call_id, "CA11111111111111111111111111111111");
        assert_eq!(completed.at, DateTime::parse_from_rfc3339("2026-11-30T10:15:42Z").unwrap());
        assert_eq!(completed.stage, CallStage::Ended { result: ProviderResult::Completed { machine: false }, duration_sec: Some(47) });
        let missed = read_progress(&fixture("call-status-no-answer.txt"), now).unwrap();
        assert_eq!(missed.stage, CallStage::Ended { result: ProviderResult::NoAnswer, duration_sec: Some(0) });

        let with = |status: &str, answered_by: &str| {
            read_progress(&pairs(&[("CallSid", "CA1"), ("CallStatus", status), ("AnsweredBy", answered_by)]), now).unwrap().stage
        };
        assert_eq!(with("completed", "machine_end_beep"), CallStage::Ended { result: ProviderResult::Completed { machine: true }, duration_sec: None });
        assert_eq!(with("completed", "fax"), CallStage::Ended { result: ProviderResult::Completed { machine: true }, duration_sec: None });
        assert_eq!(with("busy", ""), CallStage::Ended { result: ProviderResult::Busy, duration_sec: None });
        assert_eq!(with("canceled", ""), CallStage::Ended { result: ProviderResult::Failed, duration_sec: None });
        assert_eq!(with("ringing", ""), CallStage::Underway);
        assert_eq!(read_progress(&pairs(&[("CallSid", "CA1"), ("CallStatus", "ringing")]), now).unwrap().at, now, "no Timestamp");
        assert_eq!(read_progress(&pairs(&[("CallStatus", "completed")]), now), None);
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
