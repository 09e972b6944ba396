//! When feedback calls may be placed: an organisation's (or a campaign's) schedule config, its
//! validation (errors name the field), and the calling rules compiled from it — "is this instant
//! open" and "the first open instant at or after t", exact across DST changes.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::call::{is_blank, normalise_phone};
use crate::domain::workflow::DayOfWeek;
use crate::error::{Error, Result};

pub const MAX_WINDOWS: usize = 6;
pub const MAX_HOLIDAYS: usize = 1000;
pub const MAX_DELAY_MINUTES: u32 = 30 * 24 * 60;
pub const MAX_ATTEMPTS: u32 = 10;
pub const MIN_SPACING_MINUTES: u32 = 5;
pub const MAX_SPACING_MINUTES: u32 = 7 * 24 * 60;
pub const MAX_CONCURRENT_CALLS: u32 = 100;
pub const MAX_PROMPT_CHARS: usize = 1000;
const MINUTES_PER_DAY: u32 = 24 * 60;

/// A daily calling window in local time: `start` inclusive, `end` exclusive, both `HH:MM`
/// (`end` may be `24:00`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallWindow {
    #[schema(example = "09:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// After `start`, and before the next window's start.
    #[schema(example = "12:00", pattern = "^(00:(0[1-9]|[1-5][0-9])|(0[1-9]|1[0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    pub end: String,
}

impl CallWindow {
    pub fn new(start: &str, end: &str) -> Self {
        CallWindow { start: start.into(), end: end.into() }
    }
}

/// The schedule of an organisation's feedback calls (`campaign_id` absent), or of one campaign's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduleConfig {
    /// The caller's organisation (set by the API, whatever a body says).
    #[serde(default)]
    #[schema(read_only)]
    pub org_id: String,
    /// The campaign this config decides for; absent for the organisation's own.
    #[serde(default, deserialize_with = "crate::domain::ids::optional_id")]
    #[schema(min_length = 1, max_length = 128, pattern = "^[^#]*[^#\\s][^#]*$")]
    pub campaign_id: Option<String>,
    /// IANA time zone of the windows, calling days and holidays.
    #[serde(default = "utc")]
    #[schema(schema_with = crate::domain::workflow::time_zone_schema)]
    pub time_zone: String,
    /// Each day once.
    #[serde(default = "weekdays")]
    #[schema(schema_with = calling_days_schema)]
    pub calling_days: Vec<DayOfWeek>,
    /// In order, not overlapping.
    #[serde(default = "default_windows")]
    #[schema(min_items = 1, max_items = 6)]
    pub windows: Vec<CallWindow>,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub holidays: Vec<NaiveDate>,
    /// From the service to the first attempt.
    #[serde(default = "default_delay")]
    #[schema(minimum = 0, maximum = 43200)]
    pub delay_after_service_minutes: u32,
    /// Calls placed before the WhatsApp fallback.
    #[serde(default = "default_attempts")]
    #[schema(minimum = 1, maximum = 10)]
    pub max_attempts: u32,
    /// From a missed attempt's end to the next attempt.
    #[serde(default = "default_spacing")]
    #[schema(minimum = 5, maximum = 10080)]
    pub retry_spacing_minutes: u32,
    /// Calls in flight at once for the organisation.
    #[serde(default = "default_concurrency")]
    #[schema(minimum = 1, maximum = 100)]
    pub max_concurrent_calls: u32,
    /// The E.164 number calls come from.
    #[serde(default)]
    #[schema(pattern = "^[ ().-]*\\+[ ().-]*[1-9]([ ().-]*[0-9]){7,14}[ ().-]*$")]
    pub caller_id: Option<String>,
    #[serde(default = "default_nps_prompt")]
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub nps_prompt: String,
    #[serde(default = "default_follow_up_prompt")]
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub follow_up_prompt: String,
    /// BCP 47 language of the prompts and of speech recognition.
    #[serde(default = "default_language")]
    #[schema(max_length = 35, pattern = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
    pub language: String,
    /// The provider's voice name.
    #[serde(default = "default_voice")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub voice: String,
    /// Ask on WhatsApp after the last missed attempt.
    #[serde(default = "yes")]
    pub whatsapp_fallback: bool,
    /// The version read (0 when none was stored): saving over a newer one answers 409.
    #[serde(default)]
    #[schema(maximum = 9007199254740991.0)]
    pub version: u64,
    /// When it was saved (set by the API).
    #[serde(default)]
    #[schema(read_only)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// `calling_days` in the contract: 1 to 7 days, each once.
fn calling_days_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(<DayOfWeek as utoipa::PartialSchema>::schema())
        .min_items(Some(1))
        .max_items(Some(7))
        .unique_items(true)
        .build()
}

fn utc() -> String {
    "UTC".into()
}
fn weekdays() -> Vec<DayOfWeek> {
    use DayOfWeek::*;
    vec![Monday, Tuesday, Wednesday, Thursday, Friday]
}
fn default_windows() -> Vec<CallWindow> {
    vec![CallWindow::new("09:00", "12:00"), CallWindow::new("14:00", "18:00")]
}
fn default_delay() -> u32 {
    24 * 60
}
fn default_attempts() -> u32 {
    2
}
fn default_spacing() -> u32 {
    120
}
fn default_concurrency() -> u32 {
    5
}
pub(crate) fn default_nps_prompt() -> String {
    "Thank you for visiting us. On a scale from 0 to 10, how likely are you to recommend us to a friend? Press the number, then the hash key.".into()
}
fn default_follow_up_prompt() -> String {
    "Thank you. Please tell us in a few words what went well, or what we could do better.".into()
}
fn default_language() -> String {
    "en-US".into()
}
fn default_voice() -> String {
    "Polly.Joanna".into()
}
fn yes() -> bool {
    true
}

impl ScheduleConfig {
    /// The defaults, for an organisation (or campaign) that stored none.
    pub fn default_for(org_id: &str, campaign_id: Option<&str>) -> Self {
        let mut config: ScheduleConfig = serde_json::from_value(serde_json::json!({})).unwrap_or_else(|_| unreachable!("every field has a default"));
        config.org_id = org_id.to_string();
        config.campaign_id = campaign_id.map(str::to_string);
        config
    }

    /// Checks every field (the error names it) and compiles the calling rules.
    pub fn rules(&self) -> Result<CallingRules> {
        let time_zone: Tz = self.time_zone.parse().map_err(|_| Error::invalid("time_zone", "must be an IANA time zone such as Europe/Paris"))?;
        if self.calling_days.is_empty() {
            return Err(Error::invalid("calling_days", "name at least one day"));
        }
        let days: BTreeSet<u32> = self.calling_days.iter().map(|d| d.weekday().num_days_from_monday()).collect();
        if days.len() < self.calling_days.len() {
            return Err(Error::invalid("calling_days", "names a day twice"));
        }
        if self.windows.is_empty() || self.windows.len() > MAX_WINDOWS {
            return Err(Error::invalid("windows", format!("give 1 to {MAX_WINDOWS} windows")));
        }
        let mut windows = Vec::with_capacity(self.windows.len());
        for (i, w) in self.windows.iter().enumerate() {
            let start = minute_of_day(&w.start, false).ok_or_else(|| Error::invalid(format!("windows[{i}].start"), "must be a time HH:MM from 00:00 to 23:59"))?;
            let end = minute_of_day(&w.end, true).ok_or_else(|| Error::invalid(format!("windows[{i}].end"), "must be a time HH:MM from 00:01 to 24:00"))?;
            if end <= start {
                return Err(Error::invalid(format!("windows[{i}].end"), "must be after the start"));
            }
            if let Some(&(_, previous_end)) = windows.last()
                && start < previous_end
            {
                return Err(Error::invalid(format!("windows[{i}].start"), "windows must be in order and must not overlap"));
            }
            windows.push((start, end));
        }
        if self.holidays.len() > MAX_HOLIDAYS {
            return Err(Error::invalid("holidays", format!("at most {MAX_HOLIDAYS} dates")));
        }
        if self.delay_after_service_minutes > MAX_DELAY_MINUTES {
            return Err(Error::invalid("delay_after_service_minutes", format!("must be from 0 to {MAX_DELAY_MINUTES}")));
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(Error::invalid("max_attempts", format!("must be from 1 to {MAX_ATTEMPTS}")));
        }
        if !(MIN_SPACING_MINUTES..=MAX_SPACING_MINUTES).contains(&self.retry_spacing_minutes) {
            return Err(Error::invalid("retry_spacing_minutes", format!("must be from {MIN_SPACING_MINUTES} to {MAX_SPACING_MINUTES}")));
        }
        if !(1..=MAX_CONCURRENT_CALLS).contains(&self.max_concurrent_calls) {
            return Err(Error::invalid("max_concurrent_calls", format!("must be from 1 to {MAX_CONCURRENT_CALLS}")));
        }
        if let Some(caller_id) = &self.caller_id {
            normalise_phone("caller_id", caller_id)?;
        }
        for (field, text) in [("nps_prompt", &self.nps_prompt), ("follow_up_prompt", &self.follow_up_prompt)] {
            if is_blank(text) || text.chars().count() > MAX_PROMPT_CHARS {
                return Err(Error::invalid(field, format!("must have 1 to {MAX_PROMPT_CHARS} characters")));
            }
        }
        crate::domain::language::check_tag("language", &self.language)?;
        let voice = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if self.voice.is_empty() || self.voice.len() > 64 || !self.voice.chars().all(voice) {
            return Err(Error::invalid("voice", "must be a voice name such as Polly.Joanna"));
        }
        Ok(CallingRules {
            time_zone,
            calling_days: days,
            windows,
            holidays: self.holidays.iter().copied().collect(),
            delay_after_service: Duration::minutes(i64::from(self.delay_after_service_minutes)),
            retry_spacing: Duration::minutes(i64::from(self.retry_spacing_minutes)),
        })
    }
}

/// `HH:MM` as minutes since midnight; `24:00` only where `end` allows it.
fn minute_of_day(text: &str, end: bool) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let minute = h * 60 + m;
    let fits = if end { (1..=MINUTES_PER_DAY).contains(&minute) } else { minute < MINUTES_PER_DAY };
    (m < 60 && fits).then_some(minute)
}

/// A validated schedule, ready to answer "when".
#[derive(Debug, Clone, PartialEq)]
pub struct CallingRules {
    pub time_zone: Tz,
    /// `Weekday::num_days_from_monday` of each calling day.
    calling_days: BTreeSet<u32>,
    /// Minutes since local midnight, `[start, end)`, sorted, not overlapping.
    windows: Vec<(u32, u32)>,
    holidays: BTreeSet<NaiveDate>,
    pub delay_after_service: Duration,
    pub retry_spacing: Duration,
}

/// How many local dates `next_open` looks through: with at most [`MAX_HOLIDAYS`] holidays and at
/// least one calling day a week, an open date always comes within this many.
const SEARCH_DAYS: usize = 7 * (MAX_HOLIDAYS + 2);

impl CallingRules {
    fn is_calling_date(&self, date: NaiveDate) -> bool {
        self.calling_days.contains(&date.weekday().num_days_from_monday()) && !self.holidays.contains(&date)
    }

    /// Whether a call may be placed at `t`: its local date is a calling day and no holiday, and
    /// its local time of day is inside a window.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.time_zone).naive_local();
        let second = local.time().num_seconds_from_midnight();
        self.is_calling_date(local.date()) && self.windows.iter().any(|&(s, e)| s * 60 <= second && second < e * 60)
    }

    /// The first open instant at or after `at`; `None` only if no date within [`SEARCH_DAYS`] is
    /// a calling day (validation makes that impossible).
    ///
    /// "Open" can only switch on where the local time reaches a window's start (each instant that
    /// local time occurs: twice in a DST fall-back) or where the clock jumps (a DST transition),
    /// so the answer is `at` or the earliest such instant after it that is open.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_open(at) {
            return Some(at);
        }
        let first = at.with_timezone(&self.time_zone).date_naive().pred_opt()?;
        let mut found: Option<DateTime<Utc>> = None;
        for date in first.iter_days().take(SEARCH_DAYS) {
            // Every candidate of `date` (and of later dates) comes after its span starts.
            if found.is_some_and(|f| self.utc_span(date).0 > f) {
                break;
            }
            let candidates = self.window_starts(date).into_iter().chain(self.transition(date));
            for c in candidates {
                if c >= at && self.is_open(c) && found.is_none_or(|f| c < f) {
                    found = Some(c);
                }
            }
        }
        found
    }

    /// Every instant at which a window of `date` starts (none when the start is skipped by a
    /// spring-forward gap; two when a fall-back repeats it).
    fn window_starts(&self, date: NaiveDate) -> Vec<DateTime<Utc>> {
        if !self.is_calling_date(date) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for &(start, _) in &self.windows {
            let Some(time) = NaiveTime::from_num_seconds_from_midnight_opt(start * 60, 0) else { continue };
            match self.time_zone.from_local_datetime(&NaiveDateTime::new(date, time)) {
                LocalResult::Single(t) => out.push(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(a, b) => out.extend([a.with_timezone(&Utc), b.with_timezone(&Utc)]),
                LocalResult::None => {}
            }
        }
        out
    }

    /// The UTC span that `date` stands for in the search: `[date 00:00Z − 14 h, next date 00:00Z
    /// − 14 h)`. Consecutive dates tile the time line, so every DST transition is found once.
    fn utc_span(&self, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)) - Duration::hours(14);
        (start, start + Duration::days(1))
    }

    /// The instant the UTC offset changes inside `date`'s span, to the second (zones change at
    /// most once a day).
    fn transition(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let offset = |t: DateTime<Utc>| self.time_zone.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc();
        let at = |second: i64| DateTime::from_timestamp(second, 0).unwrap_or_else(|| unreachable!("a date's span is a valid time"));
        let (lo, hi) = self.utc_span(date);
        // Whole seconds: halving a `Duration` would land between seconds (zones change on one).
        let (mut lo, mut hi) = (lo.timestamp(), hi.timestamp());
        let after = offset(at(hi));
        if offset(at(lo)) == after {
            return None;
        }
        // Invariant: offset(lo) differs from `after`, offset(hi) equals it.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if offset(at(mid)) == after { hi = mid } else { lo = mid }
        }
        Some(at(hi))
    }

    /// The first attempt of a call for a service performed at `service_at`.
    pub fn first_attempt_due(&self, service_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_open(service_at + self.delay_after_service)
    }

    /// The next attempt after one that ended (missed) at `ended_at`.
    pub fn retry_due(&self, ended_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_open(ended_at + self.retry_spacing)
    }

    /// The local date of `t` (NPS counters are kept per local day).
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.time_zone).date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config(zone: &str, windows: &[(&str, &str)]) -> ScheduleConfig {
        let mut c = ScheduleConfig::default_for("o1", None);
        c.time_zone = zone.into();
        c.windows = windows.iter().map(|(s, e)| CallWindow::new(s, e)).collect();
        c
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[track_caller]
    fn invalid(c: &ScheduleConfig, field: &str) {
        match c.rules() {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected {field} refused, got {other:?}"),
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        let c = ScheduleConfig::default_for("o1", None);
        assert!(c.rules().is_ok());
        assert_eq!((c.max_attempts, c.delay_after_service_minutes, c.windows.len()), (2, 1440, 2));
    }

    #[test]
    fn validation_names_the_field() {
        let base = ScheduleConfig::default_for("o1", None);
        let with = |f: &dyn Fn(&mut ScheduleConfig)| {
            let mut c = base.clone();
            f(&mut c);
            c
        };
        invalid(&with(&|c| c.time_zone = "Mars/Olympus".into()), "time_zone");
        invalid(&with(&|c| c.calling_days.clear()), "calling_days");
        invalid(&with(&|c| c.calling_days = vec![DayOfWeek::Monday, DayOfWeek::Monday]), "calling_days");
        invalid(&with(&|c| c.windows.clear()), "windows");
        invalid(&with(&|c| c.windows[1] = CallWindow::new("14:00", "13:00")), "windows[1].end");
        invalid(&with(&|c| c.windows[0] = CallWindow::new("9:00", "12:00")), "windows[0].start");
        invalid(&with(&|c| c.windows[0] = CallWindow::new("+9:00", "12:00")), "windows[0].start");
        invalid(&with(&|c| c.windows[0] = CallWindow::new("09:60", "12:00")), "windows[0].start");
        invalid(&with(&|c| c.windows[0] = CallWindow::new("24:00", "24:00")), "windows[0].start");
        invalid(&with(&|c| c.windows[1] = CallWindow::new("11:00", "13:00")), "windows[1].start");
        invalid(&with(&|c| c.windows[0] = CallWindow::new("09:00", "24:01")), "windows[0].end");
        invalid(&with(&|c| c.max_attempts = 0), "max_attempts");
        invalid(&with(&|c| c.max_attempts = 11), "max_attempts");
        invalid(&with(&|c| c.retry_spacing_minutes = 1), "retry_spacing_minutes");
        invalid(&with(&|c| c.delay_after_service_minutes = MAX_DELAY_MINUTES + 1), "delay_after_service_minutes");
        invalid(&with(&|c| c.max_concurrent_calls = 0), "max_concurrent_calls");
        invalid(&with(&|c| c.caller_id = Some("555-0100".into())), "caller_id");
        invalid(&with(&|c| c.nps_prompt = " ".into()), "nps_prompt");
        invalid(&with(&|c| c.follow_up_prompt = "x".repeat(MAX_PROMPT_CHARS + 1)), "follow_up_prompt");
        invalid(&with(&|c| c.language = "en US".into()), "language");
        invalid(&with(&|c| c.voice = "".into()), "voice");
        invalid(&with(&|c| c.holidays = vec![NaiveDate::MIN; MAX_HOLIDAYS + 1]), "holidays");
        assert!(with(&|c| c.windows = vec![CallWindow::new("00:00", "24:00")]).rules().is_ok());
        assert!(with(&|c| c.caller_id = Some("+1 (555) 078-3881".into())).rules().is_ok());
    }

    #[test]
    fn a_time_inside_a_window_is_due_at_once_and_one_outside_at_the_next_window() {
        let rules = config("Europe/Paris", &[("09:00", "12:00"), ("14:00", "18:00")]).rules().unwrap();
        // Tuesday 2026-06-09, Paris is UTC+2.
        assert_eq!(rules.next_open(utc(2026, 6, 9, 8, 30)), Some(utc(2026, 6, 9, 8, 30)), "10:30 local is open");
        assert_eq!(rules.next_open(utc(2026, 6, 9, 10, 0)), Some(utc(2026, 6, 9, 12, 0)), "12:00 local waits for 14:00");
        assert_eq!(rules.next_open(utc(2026, 6, 9, 16, 0)), Some(utc(2026, 6, 10, 7, 0)), "18:00 local is closed: next morning");
        // Friday evening → Monday 09:00.
        assert_eq!(rules.next_open(utc(2026, 6, 12, 17, 0)), Some(utc(2026, 6, 15, 7, 0)));
    }

    #[test]
    fn holidays_are_skipped_in_local_dates() {
        let mut c = config("America/New_York", &[("09:00", "17:00")]);
        c.holidays = vec![NaiveDate::from_ymd_opt(2026, 7, 3).unwrap()];
        let rules = c.rules().unwrap();
        // Thursday 2026-07-02 20:00 in New York (UTC-4) → Friday is a holiday → Monday 09:00.
        assert_eq!(rules.next_open(utc(2026, 7, 3, 0, 0)), Some(utc(2026, 7, 6, 13, 0)));
    }

    #[test]
    fn the_first_attempt_waits_the_delay_then_the_window() {
        let rules = config("UTC", &[("09:00", "12:00")]).rules().unwrap();
        // Serviced Monday 2026-06-08 15:00 UTC; 24 h later is Tuesday 15:00 → Wednesday 09:00.
        assert_eq!(rules.first_attempt_due(utc(2026, 6, 8, 15, 0)), Some(utc(2026, 6, 10, 9, 0)));
        // A miss at 09:30 is retried 2 h later, 11:30, still inside the window.
        assert_eq!(rules.retry_due(utc(2026, 6, 10, 9, 30)), Some(utc(2026, 6, 10, 11, 30)));
    }

    #[test]
    fn a_window_starting_in_a_spring_forward_gap_opens_when_the_clock_lands() {
        // Paris 2026-03-29 (Sunday): 02:00 → 03:00. Window 02:30–04:00 every day.
        let mut c = config("Europe/Paris", &[("02:30", "04:00")]);
        c.calling_days = vec![DayOfWeek::Sunday];
        let rules = c.rules().unwrap();
        // Saturday evening UTC: the window opens at the jump, 01:00 UTC = 03:00 local (summer).
        assert_eq!(rules.next_open(utc(2026, 3, 28, 20, 0)), Some(utc(2026, 3, 29, 1, 0)));
    }

    #[test]
    fn a_fall_back_repeats_a_window_hour_only_inside_the_window() {
        // New York 2026-11-01 (Sunday): 02:00 EDT → 01:00 EST. Window 01:00–01:30.
        let mut c = config("America/New_York", &[("01:00", "01:30")]);
        c.calling_days = vec![DayOfWeek::Sunday];
        let rules = c.rules().unwrap();
        // First pass: 01:00 EDT = 05:00 UTC. Second pass: 01:00 EST = 06:00 UTC.
        assert_eq!(rules.next_open(utc(2026, 11, 1, 4, 0)), Some(utc(2026, 11, 1, 5, 0)));
        assert_eq!(rules.next_open(utc(2026, 11, 1, 5, 40)), Some(utc(2026, 11, 1, 6, 0)), "the repeated 01:00 opens again");
        assert!(!rules.is_open(utc(2026, 11, 1, 5, 45)), "01:45 EDT is outside");
    }

    #[test]
    fn a_fall_back_can_jump_back_into_a_window() {
        // Window 00:30–01:10: the clock going back from 02:00 to 01:00 lands at 01:00, inside.
        let mut c = config("America/New_York", &[("00:30", "01:10")]);
        c.calling_days = vec![DayOfWeek::Sunday];
        let rules = c.rules().unwrap();
        assert_eq!(rules.next_open(utc(2026, 11, 1, 5, 30)), Some(utc(2026, 11, 1, 6, 0)));
    }

    fn zones() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["UTC", "Europe/Paris", "America/New_York", "America/Sao_Paulo", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Apia", "America/Santiago"])
    }

    fn any_rules() -> impl Strategy<Value = CallingRules> {
        (zones(), prop::collection::btree_set(0u32..48, 2..8), prop::collection::btree_set(0u8..7, 1..7), prop::collection::vec(0i64..60, 0..6)).prop_filter_map(
            "windows need an even number of bounds",
            |(zone, bounds, days, holidays)| {
                let bounds: Vec<u32> = bounds.into_iter().map(|b| b * 30).collect();
                let windows: Vec<CallWindow> = bounds
                    .chunks(2)
                    .filter(|p| p.len() == 2)
                    .map(|p| CallWindow::new(&format!("{:02}:{:02}", p[0] / 60, p[0] % 60), &format!("{:02}:{:02}", p[1] / 60, p[1] % 60)))
                    .collect();
                let all = [DayOfWeek::Monday, DayOfWeek::Tuesday, DayOfWeek::Wednesday, DayOfWeek::Thursday, DayOfWeek::Friday, DayOfWeek::Saturday, DayOfWeek::Sunday];
                let mut c = config(zone, &[]);
                c.windows = windows;
                c.calling_days = days.into_iter().map(|d| all[d as usize]).collect();
                let start = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
                c.holidays = holidays.into_iter().map(|k| start + Duration::days(k)).collect();
                c.rules().ok()
            },
        )
    }

    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        // 2026-03-01 .. 2026-05-01 in seconds: both DST changes of the northern and southern zones.
        (1_772_323_200i64..1_777_593_600).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn the_answer_is_open_and_never_before_the_asked_time(rules in any_rules(), at in any_time()) {
            let due = rules.next_open(at).expect("a calling day exists");
            prop_assert!(due >= at);
            prop_assert!(rules.is_open(due));
        }

        #[test]
        fn no_open_minute_is_skipped(rules in any_rules(), at in any_time()) {
            let due = rules.next_open(at).expect("a calling day exists");
            // Every whole minute between `at` and the answer is closed.
            let mut t = at;
            let mut steps = 0;
            while t < due && steps < 20_000 {
                prop_assert!(!rules.is_open(t), "{t} is open but the answer was {due}");
                t += Duration::minutes(1);
                steps += 1;
            }
        }

        #[test]
        fn asking_again_at_the_answer_gives_the_answer(rules in any_rules(), at in any_time()) {
            let due = rules.next_open(at).expect("a calling day exists");
            prop_assert_eq!(rules.next_open(due), Some(due));
        }
    }
}
