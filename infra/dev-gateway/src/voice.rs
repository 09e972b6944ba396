//! The voice sandbox's other half: plays, for a call the sandbox took, the callbacks Twilio would
//! send, signed with the organisation's auth token and posted over HTTP to the URLs MAX gave with
//! the call, in Twilio's order (initiated, ringing, then the TwiML requests of an answered call,
//! then the final status). So the dev stack and the end-to-end tests run the real webhook.

use chrono::Utc;
use max_core::adapters::twilio::SandboxCall;
use max_core::app::channels::voice_account;
use max_core::app::voice::read_callback_path;
use max_core::config::Deps;
use max_core::domain::twilio::signature;
use serde::{Deserialize, Serialize};

/// `POST /dev/calls/{provider_call_id}`: how the customer answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// `human`, `no-answer`, `busy`, `machine` or `failed`.
    pub answer: String,
    /// What the customer keys in for the score (`9`, `10#`), if anything.
    #[serde(default)]
    pub digits: Option<String>,
    /// What the customer says: the score when no digits are given, then the feedback.
    #[serde(default)]
    pub speech: Option<String>,
}

/// One callback played, as the provider saw its answer.
#[derive(Debug, Clone, Serialize)]
pub struct Played {
    pub url: String,
    pub status: u16,
    pub body: String,
}

/// Why a call could not be played.
#[derive(Debug)]
pub enum PlayError {
    /// 422: the answer asked for makes no sense.
    Invalid(String),
    /// 500: the stack could not sign or post.
    Failed(String),
}

const ANSWERS: [&str; 5] = ["human", "no-answer", "busy", "machine", "failed"];

/// Plays the call's callbacks for `answer`; answers each callback's status and body in order.
pub async fn play(deps: &Deps, http: &reqwest::Client, call: &SandboxCall, answer: &Answer) -> Result<Vec<Played>, PlayError> {
    if !ANSWERS.contains(&answer.answer.as_str()) {
        return Err(PlayError::Invalid(format!("answer must be one of {}", ANSWERS.join(", "))));
    }
    let path = url::Url::parse(&call.status_callback_url).map_err(|e| PlayError::Failed(format!("status callback URL: {e}")))?;
    let (job, _) = read_callback_path(path.path()).ok_or_else(|| PlayError::Failed("the status callback URL names no call".into()))?;
    let account = voice_account(&*deps.secrets, &job.org_id)
        .await
        .map_err(|e| PlayError::Failed(e.to_string()))?
        .ok_or_else(|| PlayError::Failed(format!("{} has no voice account: nothing can sign its callbacks", job.org_id)))?;
    let token = account.auth_token.expose().to_string();
    let base = |status: &str| -> Vec<(String, String)> {
        [
            ("AccountSid", call.account_sid.as_str()),
            ("CallSid", call.provider_call_id.as_str()),
            ("From", call.from.as_str()),
            ("To", call.to.as_str()),
            ("Direction", "outbound-api"),
            ("ApiVersion", "2010-04-01"),
            ("CallStatus", status),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let mut played = Vec::new();
    let post = |url: &str, params: Vec<(String, String)>| post_signed(http, &token, url.to_string(), params);
    let status_url = call.status_callback_url.as_str();
    let with = |mut params: Vec<(String, String)>, extra: &[(&str, &str)]| {
        params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        params
    };
    let timestamp = || Utc::now().to_rfc2822();
    played.push(post(status_url, with(base("initiated"), &[("CallbackSource", "call-progress-events"), ("Timestamp", &timestamp())])).await?);
    played.push(post(status_url, with(base("ringing"), &[("CallbackSource", "call-progress-events"), ("Timestamp", &timestamp())])).await?);
    let (final_status, answered_by, duration) = match answer.answer.as_str() {
        "human" | "machine" => {
            let answered_by = if answer.answer == "human" { "human" } else { "machine_start" };
            let answered = post(&call.twiml_url, with(base("in-progress"), &[("AnsweredBy", answered_by)])).await?;
            played.push(answered.clone());
            if let Some(score_url) = gather_action(&answered.body) {
                let mut gathered = vec![];
                match (&answer.digits, &answer.speech) {
                    (Some(d), _) => gathered.push(("Digits", d.as_str())),
                    (None, Some(s)) => gathered.extend([("SpeechResult", s.as_str()), ("Confidence", "0.92")]),
                    (None, None) => {}
                }
                let scored = post(&score_url, with(base("in-progress"), &gathered)).await?;
                played.push(scored.clone());
                if let Some(feedback_url) = gather_action(&scored.body) {
                    // The feedback is what was said, once the score was keyed in.
                    let said: Vec<(&str, &str)> = match (&answer.digits, &answer.speech) {
                        (Some(_), Some(s)) => vec![("SpeechResult", s.as_str()), ("Confidence", "0.9")],
                        _ => vec![],
                    };
                    played.push(post(&feedback_url, with(base("in-progress"), &said)).await?);
                }
            }
            ("completed", Some(answered_by), "47")
        }
        other => (other, None, "0"),
    };
    let mut last = vec![("CallDuration", duration), ("CallbackSource", "call-progress-events")];
    if let Some(by) = answered_by {
        last.push(("AnsweredBy", by));
    }
    let stamp = timestamp();
    last.push(("Timestamp", &stamp));
    played.push(post(status_url, with(base(final_status), &last)).await?);
    Ok(played)
}

/// Posts `params` to `url` as Twilio does: form-encoded, with `X-Twilio-Signature`.
async fn post_signed(http: &reqwest::Client, token: &str, url: String, params: Vec<(String, String)>) -> Result<Played, PlayError> {
    let signed = signature(token, &url, &params);
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
    let response = http
        .post(&url)
        .header("x-twilio-signature", signed)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| PlayError::Failed(format!("POST {url}: {e}")))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok(Played { url, status, body })
}

/// The `action` URL of the TwiML's `<Gather>`, unescaped; `None` when the TwiML gathers nothing.
fn gather_action(twiml: &str) -> Option<String> {
    let gather = &twiml[twiml.find("<Gather ")?..];
    let start = gather.find(" action=\"")? + " action=\"".len();
    let end = start + gather[start..].find('"')?;
    Some(gather[start..end].replace("&quot;", "\"").replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
}

#[cfg(test)]
mod tests {
    use super::gather_action;

    #[test]
    fn the_gathers_action_is_read_unescaped() {
        let twiml = r#"<?xml version="1.0"?><Response><Gather input="dtmf speech" action="http://127.0.0.1:1/webhooks/voice/o/c/1/score?a=1&amp;b=2" method="POST"><Say>Hi</Say></Gather></Response>"#;
        assert_eq!(gather_action(twiml).as_deref(), Some("http://127.0.0.1:1/webhooks/voice/o/c/1/score?a=1&b=2"));
        assert_eq!(gather_action("<Response><Say>Bye</Say><Hangup/></Response>"), None);
    }
}
