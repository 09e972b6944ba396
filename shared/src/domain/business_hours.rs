//! A team's business hours: a time zone, several open windows per weekday (split shifts, a
//! window may cross midnight), holidays and dated exceptions — validated (errors name the field)
//! and compiled into a calendar that answers "open now, and until when", "the next opening" and
//! "this much business time after t", exact across DST changes (the time zone database decides).
//!
//! Conventions, chosen so that a person reading the settings gets what they expect:
//! - A window belongs to the date it opens on. `22:00`–`02:00` on Friday is open from Friday 22:00
//!   to Saturday 02:00 even when Saturday is a holiday: the holiday closes Saturday's own windows.
//! - `close` at or before `open` crosses midnight; `24:00` closes at the end of the day.
//! - A wall time that a DST spring-forward skips opens (or closes) at the instant the clock jumps;
//!   a wall time a fall-back repeats is taken at its first occurrence. So a 01:00–04:00 window
//!   lasts 2 h on a spring-forward night and 4 h on a fall-back night, as the clock on the wall says.
//! - Windows that touch or overlap across days (Friday 22:00–02:00, Saturday 00:00–06:00) are one
//!   open span: the status's `next_change` is where the team really closes.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const MAX_WINDOWS_PER_DAY: usize = 6;
pub const MAX_DATED: usize = 1000;
const MINUTES_PER_DAY: u32 = 24 * 60;

/// An open window in local time, `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenWindow {
    #[schema(example = "09:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub open: String,
    /// At or before `open` means the next day (the window crosses midnight); `24:00` is midnight.
    #[schema(example = "17:00", pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    pub close: String,
}

impl OpenWindow {
    pub fn new(open: &str, close: &str) -> Self {
        OpenWindow { open: open.into(), close: close.into() }
    }
}

/// The windows of each weekday; a day left out is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    #[serde(default)]
    #[schema(max_items = 6)]
    pub monday: Vec<OpenWindow>,
    #[serde(default)]
    #[schema(max_items = 6)]
    pub tuesday: Vec<OpenWindow>,
    #[serde(default)]
    #[schema(max_items = 6)]
    pub wednesday: Vec<OpenWindow>,
    #[serde(default)]
    #[schema(max_items = 6)]
    pub thursday: Vec<OpenWindow>,
    #[serde(default)]
    #[schema(max_items = 6)]
    pub friday: Vec<OpenWindow>,
    #[serde(default)]
    #[schema(max_items = 6)]
    pub saturday: Vec<OpenWindow>,
    #[serde(default)]
    #[schema(max_items = 6)]
    pub sunday: Vec<OpenWindow>,
}

impl WeeklyHours {
    /// The days from Monday, with their field names.
    fn days(&self) -> [(&'static str, &Vec<OpenWindow>); 7] {
        [
            ("monday", &self.monday),
            ("tuesday", &self.tuesday),
            ("wednesday", &self.wednesday),
            ("thursday", &self.thursday),
            ("friday", &self.friday),
            ("saturday", &self.saturday),
            ("sunday", &self.sunday),
        ]
    }

    /// The same windows Monday to Friday, the weekend closed.
    pub fn weekdays(windows: &[OpenWindow]) -> Self {
        let w = windows.to_vec();
        WeeklyHours { monday: w.clone(), tuesday: w.clone(), wednesday: w.clone(), thursday: w.clone(), friday: w, ..Default::default() }
    }
}

/// A date closed all day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    pub date: NaiveDate,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: Option<String>,
}

/// A date with its own hours instead of its weekday's (no windows: closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatedHours {
    pub date: NaiveDate,
    #[serde(default)]
    #[schema(max_items = 6)]
    pub windows: Vec<OpenWindow>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub note: Option<String>,
}

/// A team's business hours as stored and as the API shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BusinessHours {
    /// IANA time zone of the windows and dates.
    #[schema(schema_with = crate::domain::workflow::time_zone_schema)]
    pub time_zone: String,
    #[serde(default)]
    pub weekly: WeeklyHours,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub holidays: Vec<Holiday>,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub exceptions: Vec<DatedHours>,
}

/// `HH:MM` as minutes since midnight; `24:00` only for a close.
fn minute_of_day(text: &str, close: bool) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let minute = h * 60 + m;
    let fits = minute < MINUTES_PER_DAY || (close && minute == MINUTES_PER_DAY);
    (m < 60 && fits).then_some(minute)
}

/// One day's windows as `(open, close)` minutes from that day's midnight, `close` past 1440 when
/// the window crosses midnight; sorted, not overlapping, a crossing window last.
fn day_windows(field: &str, windows: &[OpenWindow]) -> Result<Vec<(u32, u32)>> {
    if windows.len() > MAX_WINDOWS_PER_DAY {
        return Err(Error::invalid(field, format!("at most {MAX_WINDOWS_PER_DAY} windows a day")));
    }
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(windows.len());
    for (i, w) in windows.iter().enumerate() {
        let open = minute_of_day(&w.open, false).ok_or_else(|| Error::invalid(format!("{field}[{i}].open"), "must be a time HH:MM from 00:00 to 23:59"))?;
        let close = minute_of_day(&w.close, true).ok_or_else(|| Error::invalid(format!("{field}[{i}].close"), "must be a time HH:MM from 00:00 to 24:00"))?;
        let close = if close <= open { close + MINUTES_PER_DAY } else { close };
        if close - open > MINUTES_PER_DAY || (close == open + MINUTES_PER_DAY && open != 0) {
            return Err(Error::invalid(format!("{field}[{i}].close"), "a window lasts at most a day (00:00 to 24:00)"));
        }
        if let Some(&(_, previous_close)) = out.last()
            && open < previous_close
        {
            return Err(Error::invalid(format!("{field}[{i}].open"), "windows must be in order and must not overlap (a window crossing midnight comes last)"));
        }
        out.push((open, close));
    }
    Ok(out)
}

impl BusinessHours {
    /// Checks every field (the error names it) and compiles the calendar.
    pub fn calendar(&self) -> Result<BusinessCalendar> {
        let time_zone: Tz = self.time_zone.parse().map_err(|_| Error::invalid("time_zone", "must be an IANA time zone such as Europe/Paris"))?;
        let mut weekly: [Vec<(u32, u32)>; 7] = Default::default();
        for (i, (name, windows)) in self.weekly.days().into_iter().enumerate() {
            weekly[i] = day_windows(&format!("weekly.{name}"), windows)?;
        }
        if self.holidays.len() > MAX_DATED {
            return Err(Error::invalid("holidays", format!("at most {MAX_DATED} dates")));
        }
        if self.exceptions.len() > MAX_DATED {
            return Err(Error::invalid("exceptions", format!("at most {MAX_DATED} dates")));
        }
        let mut dated = BTreeMap::new();
        for (i, h) in self.holidays.iter().enumerate() {
            if h.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
                return Err(Error::invalid(format!("holidays[{i}].name"), "at most 200 characters"));
            }
            if dated.insert(h.date, Vec::new()).is_some() {
                return Err(Error::invalid(format!("holidays[{i}].date"), "names a date twice"));
            }
        }
        for (i, e) in self.exceptions.iter().enumerate() {
            if e.note.as_ref().is_some_and(|n| n.chars().count() > 200) {
                return Err(Error::invalid(format!("exceptions[{i}].note"), "at most 200 characters"));
            }
            let windows = day_windows(&format!("exceptions[{i}].windows"), &e.windows)?;
            if dated.insert(e.date, windows).is_some() {
                return Err(Error::invalid(format!("exceptions[{i}].date"), "a date is a holiday or an exception, once"));
            }
        }
        Ok(BusinessCalendar { time_zone, weekly, dated })
    }

    /// Open around the clock, every day: what a team without hours gets.
    pub fn always_open(time_zone: &str) -> Self {
        let all_day = vec![OpenWindow::new("00:00", "24:00")];
        let weekly = WeeklyHours { saturday: all_day.clone(), sunday: all_day.clone(), ..WeeklyHours::weekdays(&all_day) };
        BusinessHours { time_zone: time_zone.into(), weekly, holidays: Vec::new(), exceptions: Vec::new() }
    }
}

/// Open or closed at an instant, and when that changes (`None`: it never changes again within the
/// calendar's horizon, e.g. a team with no hours at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OpenStatus {
    pub open: bool,
    pub next_change: Option<DateTime<Utc>>,
}

/// Validated business hours, ready to answer "when".
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessCalendar {
    pub time_zone: Tz,
    /// Monday first.
    weekly: [Vec<(u32, u32)>; 7],
    /// Holidays (no windows) and exceptions.
    dated: BTreeMap<NaiveDate, Vec<(u32, u32)>>,
}

/// How far ahead the calendar looks for an opening: past every dated entry, and then a week more
/// (a weekly window, if any, comes within it).
const WEEK: i64 = 7;

/// A span open this long is given out as it is (the next starts where it ends): a team open
/// around the clock has no closing to find, and a year is beyond any deadline or status.
const LONGEST_SPAN_DAYS: i64 = 366;

impl BusinessCalendar {
    fn windows_of(&self, date: NaiveDate) -> &[(u32, u32)] {
        match self.dated.get(&date) {
            Some(w) => w,
            None => &self.weekly[date.weekday().num_days_from_monday() as usize],
        }
    }

    /// The instant a local date's minute stands for: a skipped wall time is the instant the clock
    /// jumps past it; a repeated one its first occurrence.
    fn instant(&self, date: NaiveDate, minute: u32) -> DateTime<Utc> {
        let mut wall = NaiveDateTime::new(date, NaiveTime::MIN) + Duration::minutes(i64::from(minute));
        // Zones skip at most a day (Samoa, 2011): walk forward to the first wall time that exists.
        for _ in 0..=(MINUTES_PER_DAY + 1) {
            match self.time_zone.from_local_datetime(&wall) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.with_timezone(&Utc),
                LocalResult::None => wall += Duration::minutes(1),
            }
        }
        unreachable!("no time zone skips more than a day")
    }

    /// The UTC spans a date's windows are open, in order.
    fn spans_of(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        self.windows_of(date).iter().map(move |&(open, close)| (self.instant(date, open), self.instant(date, close)))
    }

    /// The last date that can still open: the last dated entry, or none if no weekday has hours.
    fn horizon(&self, from: NaiveDate) -> NaiveDate {
        let last_dated = self.dated.keys().next_back().copied().filter(|d| *d > from).unwrap_or(from);
        last_dated + Duration::days(WEEK + 1)
    }

    /// The open spans that end after `from`, merged where they touch or overlap, in order; the
    /// first may have started before `from`.
    pub fn open_spans(&self, from: DateTime<Utc>) -> OpenSpans<'_> {
        let date = from.with_timezone(&self.time_zone).date_naive().pred_opt().unwrap_or(NaiveDate::MIN);
        OpenSpans { calendar: self, from, next_date: date, horizon: self.horizon(date), merged: VecDeque::new() }
    }

    /// Open or closed at `t`, and the next instant that changes.
    pub fn status_at(&self, t: DateTime<Utc>) -> OpenStatus {
        match self.open_spans(t).next() {
            // Open for a year or more: no closing to announce.
            Some((start, end)) if start <= t => OpenStatus { open: true, next_change: (end - start < Duration::days(LONGEST_SPAN_DAYS)).then_some(end) },
            Some((start, _)) => OpenStatus { open: false, next_change: Some(start) },
            None => OpenStatus { open: false, next_change: None },
        }
    }

    /// `t` when open, else the next opening.
    pub fn next_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.open_spans(t).next().map(|(start, _)| start.max(t))
    }

    /// The instant `amount` of open time after `from` (a clock that only runs while open).
    /// `None` when the calendar never opens long enough.
    pub fn add_business_time(&self, from: DateTime<Utc>, amount: Duration) -> Option<DateTime<Utc>> {
        let mut left = amount;
        for (start, end) in self.open_spans(from) {
            let start = start.max(from);
            if end - start >= left {
                return Some(start + left);
            }
            left -= end - start;
        }
        None
    }

    /// The open time between two instants (zero when `to` is not after `from`).
    pub fn business_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        let mut total = Duration::zero();
        for (start, end) in self.open_spans(from) {
            if start >= to {
                break;
            }
            total += end.min(to) - start.max(from);
        }
        total
    }
}

/// The calendar's open spans from an instant on (see [`BusinessCalendar::open_spans`]).
pub struct OpenSpans<'a> {
    calendar: &'a BusinessCalendar,
    from: DateTime<Utc>,
    /// The next local date whose windows are not yet read.
    next_date: NaiveDate,
    horizon: NaiveDate,
    /// Spans read and merged, not yet given out.
    merged: VecDeque<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Iterator for OpenSpans<'_> {
    type Item = (DateTime<Utc>, DateTime<Utc>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // A span can be given out once no later date can open before it ends: a date's
            // windows open at or after its own midnight.
            if let Some(&(start, end)) = self.merged.front() {
                let later_opens_at = self.calendar.instant(self.next_date, 0);
                let longest = end - start >= Duration::days(LONGEST_SPAN_DAYS);
                if later_opens_at > end || self.next_date > self.horizon || longest {
                    self.merged.pop_front();
                    if end > self.from {
                        return Some((start, end));
                    }
                    continue;
                }
            }
            if self.next_date > self.horizon {
                return None;
            }
            let date = self.next_date;
            self.next_date = date.succ_opt()?;
            for (start, end) in self.calendar.spans_of(date) {
                if end <= start {
                    continue; // a window entirely inside a spring-forward gap
                }
                match self.merged.back_mut() {
                    Some(last) if start <= last.1 => last.1 = last.1.max(end),
                    _ => self.merged.push_back((start, end)),
                }
            }
            if !self.calendar.windows_of(date).is_empty() {
                // Hours keep coming as long as some weekday has windows.
                let weekly_open = self.calendar.weekly.iter().any(|w| !w.is_empty());
                if weekly_open && self.horizon < date + Duration::days(WEEK + 1) {
                    self.horizon = date + Duration::days(WEEK + 1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn hours(zone: &str, weekly: WeeklyHours) -> BusinessHours {
        BusinessHours { time_zone: zone.into(), weekly, holidays: Vec::new(), exceptions: Vec::new() }
    }

    fn nine_to_five(zone: &str) -> BusinessCalendar {
        hours(zone, WeeklyHours::weekdays(&[OpenWindow::new("09:00", "17:00")])).calendar().unwrap()
    }

    #[track_caller]
    fn invalid(h: &BusinessHours, field: &str) {
        match h.calendar() {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected {field} refused, got {other:?}"),
        }
    }

    #[test]
    fn friday_afternoon_plus_an_hour_is_monday_morning() {
        // The case: created Friday 16:30, a 1 h target, Mon–Fri 9–17 → Monday 09:30.
        let cal = nine_to_five("UTC");
        let friday = utc(2026, 12, 4, 16, 30);
        assert_eq!(cal.add_business_time(friday, Duration::hours(1)), Some(utc(2026, 12, 7, 9, 30)));
        // In a zone ahead of UTC the answer is local 09:30 Monday.
        let madrid = nine_to_five("Europe/Madrid");
        let friday_local = utc(2026, 12, 4, 15, 30); // 16:30 in Madrid (UTC+1)
        assert_eq!(madrid.add_business_time(friday_local, Duration::hours(1)), Some(utc(2026, 12, 7, 8, 30)));
        // Counting back gives the hour.
        assert_eq!(cal.business_time_between(friday, utc(2026, 12, 7, 9, 30)), Duration::hours(1));
    }

    #[test]
    fn split_shifts_skip_the_lunch_break() {
        let cal = hours("UTC", WeeklyHours::weekdays(&[OpenWindow::new("09:00", "13:00"), OpenWindow::new("14:00", "18:00")])).calendar().unwrap();
        let monday_noon = utc(2026, 12, 7, 12, 0);
        assert_eq!(cal.add_business_time(monday_noon, Duration::hours(2)), Some(utc(2026, 12, 7, 15, 0)));
        assert_eq!(cal.status_at(utc(2026, 12, 7, 13, 30)), OpenStatus { open: false, next_change: Some(utc(2026, 12, 7, 14, 0)) });
        assert_eq!(cal.status_at(utc(2026, 12, 7, 9, 0)), OpenStatus { open: true, next_change: Some(utc(2026, 12, 7, 13, 0)) });
        // Exactly at a close it is closed (windows are [open, close)).
        assert!(!cal.status_at(utc(2026, 12, 7, 18, 0)).open);
        assert_eq!(cal.business_time_between(utc(2026, 12, 7, 0, 0), utc(2026, 12, 8, 0, 0)), Duration::hours(8));
    }

    #[test]
    fn a_window_crossing_midnight_belongs_to_the_day_it_opens() {
        // A night shift Friday 22:00 → Saturday 02:00; Saturday itself closed.
        let weekly = WeeklyHours { friday: vec![OpenWindow::new("22:00", "02:00")], ..Default::default() };
        let cal = hours("UTC", weekly.clone()).calendar().unwrap();
        assert_eq!(cal.status_at(utc(2026, 12, 5, 1, 0)), OpenStatus { open: true, next_change: Some(utc(2026, 12, 5, 2, 0)) });
        assert_eq!(cal.status_at(utc(2026, 12, 4, 21, 0)), OpenStatus { open: false, next_change: Some(utc(2026, 12, 4, 22, 0)) });
        // From Saturday 02:00 the next opening is next Friday 22:00.
        assert_eq!(cal.next_open(utc(2026, 12, 5, 2, 0)), Some(utc(2026, 12, 11, 22, 0)));
        // A holiday on Saturday does not cut Friday's night short; a holiday on Friday removes it.
        let mut h = hours("UTC", weekly);
        h.holidays.push(Holiday { date: date(2026, 12, 5), name: None });
        assert!(h.calendar().unwrap().status_at(utc(2026, 12, 5, 1, 0)).open);
        h.holidays.push(Holiday { date: date(2026, 12, 4), name: Some("Founders' day".into()) });
        assert!(!h.calendar().unwrap().status_at(utc(2026, 12, 4, 23, 0)).open);
    }

    #[test]
    fn windows_that_touch_across_midnight_are_one_span() {
        let all_day = vec![OpenWindow::new("00:00", "24:00")];
        let weekly = WeeklyHours { monday: all_day.clone(), tuesday: all_day, wednesday: vec![OpenWindow::new("00:00", "06:00")], ..Default::default() };
        let cal = hours("UTC", weekly).calendar().unwrap();
        assert_eq!(cal.status_at(utc(2026, 12, 7, 10, 0)), OpenStatus { open: true, next_change: Some(utc(2026, 12, 9, 6, 0)) });
        let always = BusinessHours::always_open("Europe/Paris").calendar().unwrap();
        let t = utc(2026, 12, 7, 10, 0);
        assert_eq!(always.add_business_time(t, Duration::days(10)), Some(t + Duration::days(10)));
        assert_eq!(always.add_business_time(t, Duration::days(800)), Some(t + Duration::days(800)));
        assert_eq!(always.status_at(t), OpenStatus { open: true, next_change: None });
        assert_eq!(always.business_time_between(t, t + Duration::days(400)), Duration::days(400));
    }

    #[test]
    fn holidays_and_exceptions_replace_the_weekday() {
        let mut h = hours("UTC", WeeklyHours::weekdays(&[OpenWindow::new("09:00", "17:00")]));
        h.holidays.push(Holiday { date: date(2026, 12, 25), name: Some("Christmas".into()) });
        h.exceptions.push(DatedHours { date: date(2026, 12, 24), windows: vec![OpenWindow::new("09:00", "12:00")], note: Some("Christmas Eve".into()) });
        h.exceptions.push(DatedHours { date: date(2026, 12, 26), windows: vec![OpenWindow::new("10:00", "14:00")], note: None }); // a Saturday, open
        let cal = h.calendar().unwrap();
        // Thursday 24th closes at noon; Friday 25th closed; Saturday 26th 10–14; then Monday.
        assert_eq!(cal.status_at(utc(2026, 12, 24, 11, 0)), OpenStatus { open: true, next_change: Some(utc(2026, 12, 24, 12, 0)) });
        assert_eq!(cal.next_open(utc(2026, 12, 24, 12, 0)), Some(utc(2026, 12, 26, 10, 0)));
        assert_eq!(cal.add_business_time(utc(2026, 12, 24, 11, 0), Duration::hours(6)), Some(utc(2026, 12, 28, 10, 0)));
    }

    #[test]
    fn dst_days_count_what_the_wall_clock_says() {
        // Europe/Madrid: 2026-03-29 02:00 → 03:00 (spring forward), 2026-10-25 03:00 → 02:00.
        let weekly = WeeklyHours { sunday: vec![OpenWindow::new("01:00", "04:00")], ..Default::default() };
        let cal = hours("Europe/Madrid", weekly).calendar().unwrap();
        let spring = utc(2026, 3, 29, 0, 0); // 01:00 CET
        assert_eq!(cal.status_at(spring), OpenStatus { open: true, next_change: Some(utc(2026, 3, 29, 2, 0)) }); // 04:00 CEST
        assert_eq!(cal.business_time_between(utc(2026, 3, 28, 0, 0), utc(2026, 3, 30, 0, 0)), Duration::hours(2));
        let autumn = utc(2026, 10, 24, 23, 0); // 01:00 CEST
        assert_eq!(cal.status_at(autumn), OpenStatus { open: true, next_change: Some(utc(2026, 10, 25, 3, 0)) }); // 04:00 CET
        assert_eq!(cal.business_time_between(utc(2026, 10, 24, 0, 0), utc(2026, 10, 26, 0, 0)), Duration::hours(4));
        // A window opening inside the skipped hour opens when the clock jumps (03:00 CEST).
        let gap = WeeklyHours { sunday: vec![OpenWindow::new("02:30", "05:00")], ..Default::default() };
        let cal = hours("Europe/Madrid", gap).calendar().unwrap();
        assert_eq!(cal.next_open(utc(2026, 3, 28, 12, 0)), Some(utc(2026, 3, 29, 1, 0)));
        // New York 9–17 keeps local hours on both sides of its change (2026-03-08).
        let ny = nine_to_five("America/New_York");
        assert_eq!(ny.next_open(utc(2026, 3, 6, 23, 0)), Some(utc(2026, 3, 9, 13, 0))); // 09:00 EDT
        assert_eq!(ny.next_open(utc(2026, 3, 5, 23, 0)), Some(utc(2026, 3, 6, 14, 0))); // 09:00 EST
    }

    #[test]
    fn a_calendar_that_never_opens_says_so() {
        let cal = hours("UTC", WeeklyHours::default()).calendar().unwrap();
        let t = utc(2026, 12, 7, 10, 0);
        assert_eq!(cal.status_at(t), OpenStatus { open: false, next_change: None });
        assert_eq!(cal.add_business_time(t, Duration::minutes(1)), None);
        assert_eq!(cal.business_time_between(t, t + Duration::days(30)), Duration::zero());
        // Only a dated exception opens it, once.
        let mut h = hours("UTC", WeeklyHours::default());
        h.exceptions.push(DatedHours { date: date(2027, 6, 1), windows: vec![OpenWindow::new("10:00", "11:00")], note: None });
        let cal = h.calendar().unwrap();
        assert_eq!(cal.status_at(t), OpenStatus { open: false, next_change: Some(utc(2027, 6, 1, 10, 0)) });
        assert_eq!(cal.add_business_time(t, Duration::minutes(90)), None);
    }

    #[test]
    fn validation_names_the_field() {
        let base = hours("UTC", WeeklyHours::weekdays(&[OpenWindow::new("09:00", "13:00"), OpenWindow::new("14:00", "18:00")]));
        let with = |f: &dyn Fn(&mut BusinessHours)| {
            let mut h = base.clone();
            f(&mut h);
            h
        };
        invalid(&with(&|h| h.time_zone = "Mars/Olympus".into()), "time_zone");
        invalid(&with(&|h| h.weekly.monday[0] = OpenWindow::new("9:00", "13:00")), "weekly.monday[0].open");
        invalid(&with(&|h| h.weekly.tuesday[1] = OpenWindow::new("14:00", "24:30")), "weekly.tuesday[1].close");
        invalid(&with(&|h| h.weekly.friday[1] = OpenWindow::new("12:00", "18:00")), "weekly.friday[1].open");
        invalid(&with(&|h| h.weekly.friday[0] = OpenWindow::new("22:00", "02:00")), "weekly.friday[1].open"); // a crossing window must come last
        invalid(&with(&|h| h.weekly.saturday = vec![OpenWindow::new("08:00", "08:00")]), "weekly.saturday[0].close");
        invalid(&with(&|h| h.weekly.sunday = vec![OpenWindow::new("01:00", "02:00"); 7]), "weekly.sunday");
        invalid(
            &with(&|h| {
                h.holidays.push(Holiday { date: date(2026, 1, 1), name: None });
                h.exceptions.push(DatedHours { date: date(2026, 1, 1), windows: Vec::new(), note: None });
            }),
            "exceptions[0].date",
        );
        invalid(&with(&|h| h.exceptions.push(DatedHours { date: date(2026, 1, 2), windows: vec![OpenWindow::new("25:00", "26:00")], note: None })), "exceptions[0].windows[0].open");
        assert!(with(&|h| h.weekly.saturday = vec![OpenWindow::new("00:00", "24:00")]).calendar().is_ok());
        assert!(with(&|h| h.weekly.saturday = vec![OpenWindow::new("20:00", "20:00")]).calendar().is_err());
    }

    #[test]
    fn business_time_added_then_measured_gives_it_back() {
        // Property over a week of starting points and amounts, in a DST zone across its change.
        let cal = hours("America/New_York", WeeklyHours::weekdays(&[OpenWindow::new("08:00", "12:00"), OpenWindow::new("13:00", "17:30")])).calendar().unwrap();
        let base = utc(2026, 3, 4, 0, 0);
        for step in 0..(14 * 24 * 4) {
            let from = base + Duration::minutes(15 * step);
            for minutes in [1_i64, 59, 60, 61, 270, 570, 571, 2_000] {
                let amount = Duration::minutes(minutes);
                let due = cal.add_business_time(from, amount).unwrap();
                assert_eq!(cal.business_time_between(from, due), amount, "from {from} + {minutes} min = {due}");
                assert!(cal.status_at(due - Duration::seconds(1)).open, "the last second before {due} is open");
            }
        }
    }
}
