//! Feedback calls on the phone. The dialer places each claimed attempt through the voice provider
//! with the organisation's own account; the provider's callbacks, verified with that account's
//! auth token, then drive the call: the TwiML of each step (the NPS question, the follow-up
//! question, goodbye) and how the attempt ended. Decisions: `docs/feedback-calls.md`.
//!
//! Every callback names its organisation, call and attempt in its URL
//! (`/webhooks/voice/{org}/{call}/{attempt}/{step}`), so it is applied to that attempt only, and
//! the rules of `domain::call` make a repeated or late one change nothing.

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tracing::{info, warn};

use crate::app::access_tokens::AccessTokens;
use crate::app::calls::{self, CallPorts, Claim, DialJob};
use crate::domain::call::{Call, CallEnd, CallStatus, ProviderResult};
use crate::domain::call_schedule::ScheduleConfig;
use crate::domain::channel::{VoiceChannel, voice_account_secret};
use crate::domain::twilio::{self, CallStage, Prompts};
use crate::error::{Error, Result};
use crate::ports::{PlaceCall, PlaceOutcome, Secrets, VoiceAccount, VoiceProvider};

/// The ports of the dialer and of the voice webhook.
pub struct VoicePorts<'a> {
    pub calls: CallPorts<'a>,
    pub voice: &'a dyn VoiceProvider,
    pub secrets: &'a dyn Secrets,
    /// The voice accounts this warm function has read (kept a few minutes, like Graph tokens).
    pub kept: &'a AccessTokens,
    /// The API's public base URL: where the provider fetches TwiML and posts callbacks.
    pub public_url: &'a str,
}

/// How long a call rings before it counts as not answered.
pub const RING_TIMEOUT_SECS: u32 = 25;
const THANK_YOU: &str = "Thank you for your feedback. Goodbye.";
const NO_SCORE: &str = "We could not hear a score. Thank you for your time. Goodbye.";

/// A step of a call, the last segment of its callback URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceStep {
    /// The call was answered: the provider fetches its first TwiML.
    Answer,
    /// The `<Gather>` of the score came back (digits or speech, or nothing).
    Score,
    /// The `<Gather>` of the open question came back.
    Feedback,
    /// A status callback (initiated, ringing, answered, completed / no-answer / busy / failed).
    Status,
}

impl VoiceStep {
    pub fn as_str(self) -> &'static str {
        match self {
            VoiceStep::Answer => "answer",
            VoiceStep::Score => "score",
            VoiceStep::Feedback => "feedback",
            VoiceStep::Status => "status",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [VoiceStep::Answer, VoiceStep::Score, VoiceStep::Feedback, VoiceStep::Status].into_iter().find(|step| step.as_str() == s)
    }
}

/// Everything but RFC 3986's unreserved characters is escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The URL of `step` of the job's attempt, below the API's public URL.
pub fn callback_url(public_url: &str, job: &DialJob, step: VoiceStep) -> String {
    let attempt = job.attempt.to_string();
    let mut url = format!("{}/webhooks/voice", public_url.trim_end_matches('/'));
    for segment in [job.org_id.as_str(), job.call_id.as_str(), attempt.as_str(), step.as_str()] {
        url.push('/');
        url.extend(utf8_percent_encode(segment, SEGMENT));
    }
    url
}

/// The job and step a callback path names (`/webhooks/voice/{org}/{call}/{attempt}/{step}`, as
/// [`callback_url`] wrote it); `None` when it is not one.
pub fn read_callback_path(path: &str) -> Option<(DialJob, VoiceStep)> {
    let rest = path.strip_prefix("/webhooks/voice/")?;
    let parts: Vec<String> = rest.trim_end_matches('/').split('/').map(|s| percent_decode_str(s).decode_utf8().map(|c| c.into_owned())).collect::<Result<_, _>>().ok()?;
    let [org_id, call_id, attempt, step] = parts.as_slice() else { return None };
    let attempt = attempt.parse::<u32>().ok().filter(|a| *a >= 1)?;
    if org_id.is_empty() || call_id.is_empty() || call_id.chars().count() > crate::domain::ids::MAX_ID_CHARS {
        return None;
    }
    Some((DialJob { org_id: org_id.clone(), call_id: call_id.clone(), attempt }, VoiceStep::parse(step)?))
}

// ------------------------------------------------------------------------------------ dialer

/// What the dialer did with a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Dialled {
    /// The provider took the call (its callbacks will say how it went).
    Placed { provider_call_id: String },
    /// Nothing to place: the attempt was taken before (a redelivered job) or the call moved on.
    Skipped,
    /// The organisation has no free slot: the job comes back later.
    AtCapacity,
    /// The attempt could not be placed (no voice account, the provider refused): missed as
    /// `failed`, retried per the schedule like any miss.
    Failed { reason: String },
    /// The request went out without a usable answer: the call may ring. Its callbacks, or the
    /// scheduler's sweep of silent calls, settle the attempt.
    Unknown { reason: String },
}

/// The dialer's job: the organisation's voice account is read first (a read that fails leaves
/// the job to be retried, nothing taken), then the attempt is claimed (at most once, within the
/// organisation's cap), then placed.
pub async fn dial(ports: &VoicePorts<'_>, job: &DialJob, now: DateTime<Utc>) -> Result<Dialled> {
    let account = voice_account(ports, &job.org_id, now).await?;
    let (call, config) = match calls::claim(ports.calls.calls, job, now).await? {
        Claim::Skip => return Ok(Dialled::Skipped),
        Claim::AtCapacity => return Ok(Dialled::AtCapacity),
        Claim::Place { call, config } => (call, config),
    };
    let Some(account) = account else {
        warn!(org_id = job.org_id, call_id = job.call_id, "no voice account registered: the call cannot be placed");
        return failed(ports, job, "the organisation has no voice account (PUT /v1/channels/voice)", now).await;
    };
    let place = PlaceCall {
        to: call.customer_number.clone(),
        from: caller_id(&config, &account),
        twiml_url: callback_url(ports.public_url, job, VoiceStep::Answer),
        status_callback_url: callback_url(ports.public_url, job, VoiceStep::Status),
        ring_timeout_secs: RING_TIMEOUT_SECS,
        detect_machine: true,
    };
    let provider_account = VoiceAccount { account_sid: account.account_sid.clone(), auth_token: account.auth_token.expose().to_string() };
    match ports.voice.place_call(&provider_account, &place).await {
        PlaceOutcome::Placed { provider_call_id } => {
            calls::record_placement(&ports.calls, job, &provider_call_id, now).await?;
            info!(org_id = job.org_id, call_id = job.call_id, attempt = job.attempt, provider_call_id, "call placed");
            Ok(Dialled::Placed { provider_call_id })
        }
        PlaceOutcome::Refused { http_status, code, message } => {
            warn!(org_id = job.org_id, call_id = job.call_id, http_status, code, message, "the voice provider refused the call");
            failed(ports, job, &message, now).await
        }
        PlaceOutcome::Unanswered { reason } => {
            warn!(org_id = job.org_id, call_id = job.call_id, reason, "the voice provider did not answer; the call may ring");
            Ok(Dialled::Unknown { reason })
        }
    }
}

/// The schedule's caller id when it names one, else the account's.
fn caller_id(config: &ScheduleConfig, account: &VoiceChannel) -> String {
    config
        .caller_id
        .as_deref()
        .and_then(|c| crate::domain::call::normalise_phone("caller_id", c).ok())
        .unwrap_or_else(|| account.caller_id.clone())
}

async fn failed(ports: &VoicePorts<'_>, job: &DialJob, reason: &str, now: DateTime<Utc>) -> Result<Dialled> {
    let end = CallEnd { provider_call_id: None, result: ProviderResult::Failed, answered_at: None, ended_at: now, duration_sec: None };
    calls::apply_call_end(&ports.calls, job, &end).await?;
    Ok(Dialled::Failed { reason: reason.to_string() })
}

async fn voice_account(ports: &VoicePorts<'_>, org_id: &str, now: DateTime<Utc>) -> Result<Option<VoiceChannel>> {
    let secret = ports.kept.secret(ports.secrets, voice_account_secret(org_id), now).await?;
    read_account(org_id, secret.as_ref())
}

fn read_account(org_id: &str, secret: Option<&crate::domain::secret::Secret>) -> Result<Option<VoiceChannel>> {
    secret
        .map(|s| VoiceChannel::from_secret(s).ok_or_else(|| Error::backend("secretsmanager", format!("the voice account secret of {org_id} is not a voice account"))))
        .transpose()
}

// --------------------------------------------------------------------------------- callbacks

/// A callback as the provider sent it.
#[derive(Debug, Clone)]
pub struct Callback<'a> {
    pub job: DialJob,
    pub step: VoiceStep,
    /// The full URL the provider called (public URL, path and query): what it signed.
    pub url: &'a str,
    /// The form parameters, decoded.
    pub params: &'a [(String, String)],
    /// `X-Twilio-Signature`.
    pub signature: Option<&'a str>,
}

/// What MAX answers a callback with.
#[derive(Debug, Clone, PartialEq)]
pub enum VoiceAnswer {
    /// TwiML for the provider to play.
    Twiml(String),
    /// A status callback taken in (answered 204).
    Taken,
}

/// Whether the callback was signed with the organisation's auth token. A kept account that does
/// not verify it is read again once (a rotation since it was kept). An organisation without a
/// voice account, a missing or wrong signature: 403, nothing read or written.
async fn verify(ports: &VoicePorts<'_>, callback: &Callback<'_>, now: DateTime<Utc>) -> Result<()> {
    let org_id = callback.job.org_id.as_str();
    let Some(signature) = callback.signature else {
        warn!(org_id, "voice callback without a signature");
        return Err(Error::Forbidden("the callback is not signed".into()));
    };
    let verifies = |account: &Option<VoiceChannel>| {
        account.as_ref().is_some_and(|a| twilio::verify_signature(a.auth_token.expose(), callback.url, callback.params, signature))
    };
    let kept = voice_account(ports, org_id, now).await?;
    if verifies(&kept) {
        return Ok(());
    }
    let fresh = read_account(org_id, ports.kept.reread(ports.secrets, voice_account_secret(org_id), now).await?.as_ref())?;
    if verifies(&fresh) {
        return Ok(());
    }
    warn!(org_id, "voice callback signature missing or wrong");
    Err(Error::Forbidden("the callback signature is wrong".into()))
}

/// A verified callback, applied: the TwiML of the call's next step, or the attempt's status.
/// A callback for another organisation's call, or an unknown one, is 404 (after the signature:
/// an unsigned request learns nothing).
pub async fn on_callback(ports: &VoicePorts<'_>, callback: &Callback<'_>, now: DateTime<Utc>) -> Result<VoiceAnswer> {
    verify(ports, callback, now).await?;
    let job = &callback.job;
    let call = calls::get(ports.calls.calls, &job.org_id, &job.call_id).await?;
    let sid = twilio::param(callback.params, "CallSid");
    match callback.step {
        VoiceStep::Status => {
            let Some(progress) = twilio::read_progress(callback.params, now) else {
                return Err(Error::BadRequest("a status callback names CallSid and CallStatus".into()));
            };
            match progress.stage {
                CallStage::Underway => note_placement(ports, job, &call, Some(&progress.provider_call_id), now).await?,
                CallStage::Ended { result, duration_sec } => {
                    let answered_at = duration_sec.filter(|d| *d > 0).map(|d| progress.at - chrono::Duration::seconds(i64::from(d)));
                    let end = CallEnd { provider_call_id: Some(progress.provider_call_id), result, answered_at, ended_at: progress.at, duration_sec };
                    let (_, change) = calls::apply_call_end(&ports.calls, job, &end).await?;
                    info!(org_id = job.org_id, call_id = job.call_id, attempt = job.attempt, ?change, "call ended");
                }
            }
            Ok(VoiceAnswer::Taken)
        }
        step => {
            let config = calls::schedule_config(ports.calls.calls, &job.org_id, call.campaign_id.as_deref()).await?;
            let prompts = Prompts { nps_prompt: &config.nps_prompt, follow_up_prompt: &config.follow_up_prompt, language: &config.language, voice: &config.voice };
            if !is_current(&call, job) {
                // Cancelled meanwhile, or an old attempt's call still up: say nothing more.
                return Ok(VoiceAnswer::Twiml(twilio::goodbye(&prompts, THANK_YOU)));
            }
            let twiml = match step {
                VoiceStep::Answer => {
                    note_placement(ports, job, &call, sid, now).await?;
                    if twilio::answered_by_machine(callback.params) {
                        // Nobody to ask; the final status callback says `machine` and misses it.
                        twilio::hang_up()
                    } else {
                        twilio::nps_question(&prompts, &callback_url(ports.public_url, job, VoiceStep::Score))
                    }
                }
                VoiceStep::Score => match twilio::read_score(callback.params) {
                    Some(score) => {
                        calls::record_answers(&ports.calls, job, sid, Some(score), None, now).await?;
                        twilio::follow_up_question(&prompts, &callback_url(ports.public_url, job, VoiceStep::Feedback))
                    }
                    None => twilio::goodbye(&prompts, NO_SCORE),
                },
                VoiceStep::Feedback => {
                    if let Some(speech) = twilio::read_speech(callback.params) {
                        calls::record_answers(&ports.calls, job, sid, None, Some(&speech), now).await?;
                    }
                    twilio::goodbye(&prompts, THANK_YOU)
                }
                VoiceStep::Status => unreachable!("handled above"),
            };
            Ok(VoiceAnswer::Twiml(twiml))
        }
    }
}

/// Whether the call is still at this attempt, under way.
fn is_current(call: &Call, job: &DialJob) -> bool {
    call.status == CallStatus::InProgress && call.attempts == job.attempt
}

/// The provider's id of the attempt, when its create went unanswered (`Dialled::Unknown`) and a
/// callback is the first to name it.
async fn note_placement(ports: &VoicePorts<'_>, job: &DialJob, call: &Call, sid: Option<&str>, now: DateTime<Utc>) -> Result<()> {
    let known = call.attempt_history.iter().any(|a| a.number == job.attempt && a.provider_call_id.is_some());
    match sid {
        Some(sid) if !known && is_current(call, job) => calls::record_placement(&ports.calls, job, sid, now).await.map(|_| ()),
        _ => Ok(()),
    }
}
