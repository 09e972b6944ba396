//! The minute buckets the schedulers read (SLA steps, interaction reminders and overdue alerts):
//! an item owing something at instant `t` carries an index entry in the bucket of `t`'s minute,
//! and a scheduler reads, each run, only the minutes from its cursor to now.

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};

/// The most minutes one run reads when the scheduler was stopped for long (a day): older entries
/// are past every deadline anyway, and a run must end within its timeout.
pub const MAX_MINUTES_PER_RUN: i64 = 24 * 60;
/// Each minute is read again by the next run: an entry written at the end of a minute may reach
/// the index (a GSI) after this run read that minute.
pub const OVERLAP: Duration = Duration::minutes(1);

/// The minute `t` falls in.
pub fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

/// The bucket's name in keys: `yyyy-mm-ddThh:mm` (UTC).
pub fn bucket(t: DateTime<Utc>) -> String {
    minute_of(t).format("%Y-%m-%dT%H:%M").to_string()
}

/// The minutes a run at `now` reads, oldest first: from the cursor (the first time, the minute
/// before now; after an outage, at most a day back) to now's minute.
pub fn minutes_due(cursor: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let last = minute_of(now);
    let mut minute = match cursor {
        Some(c) => minute_of(c).max(last - Duration::minutes(MAX_MINUTES_PER_RUN)),
        None => last - OVERLAP,
    };
    let mut minutes = Vec::new();
    while minute <= last {
        minutes.push(minute);
        minute += Duration::minutes(1);
    }
    minutes
}

/// The cursor a run at `now` leaves: one minute behind, so the next run reads this minute again.
pub fn cursor_after(now: DateTime<Utc>) -> DateTime<Utc> {
    minute_of(now) - OVERLAP
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, h, m, s).unwrap()
    }

    #[test]
    fn the_first_run_reads_the_minute_before_now_and_now() {
        assert_eq!(minutes_due(None, at(9, 31, 20)), [at(9, 30, 0), at(9, 31, 0)]);
        assert_eq!(bucket(at(9, 31, 20)), "2026-12-07T09:31");
    }

    #[test]
    fn a_run_reads_from_its_cursor_and_leaves_it_a_minute_behind() {
        let cursor = cursor_after(at(9, 31, 20));
        assert_eq!(cursor, at(9, 30, 0));
        assert_eq!(minutes_due(Some(cursor), at(9, 33, 5)), [at(9, 30, 0), at(9, 31, 0), at(9, 32, 0), at(9, 33, 0)]);
    }

    #[test]
    fn after_an_outage_a_run_reads_at_most_a_day_back() {
        let minutes = minutes_due(Some(at(0, 0, 0) - Duration::days(3)), at(9, 0, 0));
        assert_eq!(minutes.len() as i64, MAX_MINUTES_PER_RUN + 1);
        assert_eq!(minutes[0], at(9, 0, 0) - Duration::days(1));
    }

    #[test]
    fn a_cursor_ahead_of_the_clock_reads_nothing() {
        assert!(minutes_due(Some(at(10, 0, 0)), at(9, 0, 0)).is_empty());
    }
}
