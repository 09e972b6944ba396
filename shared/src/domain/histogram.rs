//! A duration histogram in fixed logarithmic buckets, for figures such as an SLA's median and p90
//! response time or an interaction's handling time.
//!
//! The bucket bounds never change (a factor of 1.25 from 1 s to about 36 days), so a store can keep
//! one counter per bucket and ADD to it from concurrent writers without reading first, and two
//! histograms (days, teams) merge by adding counts. A quantile read back is the bucket's geometric
//! middle: within [`RELATIVE_ERROR`] of the exact value (nearest rank), or half a second for the
//! smallest buckets. Nothing here does I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Each bucket's upper bound is this many times its lower bound.
pub const GROWTH: f64 = 1.25;

/// Bucket 0 holds durations under 1 s; bucket `i ≥ 1` holds `[GROWTH^(i-1), GROWTH^i)` seconds;
/// the last one holds everything from `GROWTH^(BUCKETS-2)` s (≈ 36 days) up.
pub const BUCKETS: u16 = 69;

/// The largest relative error of a quantile above the smallest buckets: √GROWTH − 1 (≈ 11.8 %),
/// from reporting a bucket's geometric middle for any value inside it.
pub const RELATIVE_ERROR: f64 = 0.118_034;

/// The bucket a duration in seconds falls in.
pub fn bucket_of(seconds: u64) -> u16 {
    if seconds == 0 {
        return 0;
    }
    let estimate = ((seconds as f64).ln() / GROWTH.ln()).floor() as i64 + 1;
    let mut bucket = estimate.clamp(1, i64::from(BUCKETS - 1)) as u16;
    // The logarithm may land a hair off at an exact bound: settle against the bounds themselves.
    while bucket > 1 && (seconds as f64) < lower_bound(bucket) {
        bucket -= 1;
    }
    while bucket < BUCKETS - 1 && (seconds as f64) >= lower_bound(bucket + 1) {
        bucket += 1;
    }
    bucket
}

/// The smallest duration (seconds) bucket `bucket` holds.
pub fn lower_bound(bucket: u16) -> f64 {
    if bucket == 0 {
        0.0
    } else {
        GROWTH.powi(i32::from(bucket) - 1)
    }
}

/// What a quantile falling in `bucket` reads as, in whole seconds: its geometric middle; the last
/// (open) bucket reads as its lower bound ("at least").
fn representative(bucket: u16) -> u64 {
    match bucket {
        0 => 0,
        b if b == BUCKETS - 1 => lower_bound(b).round() as u64,
        b => (lower_bound(b) * GROWTH.sqrt()).round() as u64,
    }
}

/// Counts per bucket; buckets never recorded are absent (a store keeps only what was ADDed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    counts: BTreeMap<u16, u64>,
}

impl Histogram {
    pub fn new() -> Self {
        Self::default()
    }

    /// Built back from stored counters; buckets outside the fixed range are folded into the last
    /// (a larger range written by a later version still counts).
    pub fn from_counts(counts: impl IntoIterator<Item = (u16, u64)>) -> Self {
        let mut histogram = Self::new();
        for (bucket, count) in counts {
            histogram.add(bucket.min(BUCKETS - 1), count);
        }
        histogram
    }

    /// One more duration.
    pub fn record(&mut self, seconds: u64) {
        self.add(bucket_of(seconds), 1);
    }

    fn add(&mut self, bucket: u16, count: u64) {
        if count > 0 {
            *self.counts.entry(bucket).or_default() += count;
        }
    }

    /// Adds another histogram's counts (another day, another team).
    pub fn merge(&mut self, other: &Histogram) {
        for (&bucket, &count) in &other.counts {
            self.add(bucket, count);
        }
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The non-empty buckets and their counts, lowest first.
    pub fn counts(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.counts.iter().map(|(&bucket, &count)| (bucket, count))
    }

    /// The duration (seconds) at quantile `q` in `[0, 1]` by nearest rank (the ⌈q·n⌉-th smallest),
    /// read as its bucket's middle; `None` when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (&bucket, &count) in &self.counts {
            seen += count;
            if seen >= rank {
                return Some(representative(bucket));
            }
        }
        self.counts.keys().next_back().map(|&bucket| representative(bucket))
    }

    pub fn median(&self) -> Option<u64> {
        self.quantile(0.5)
    }

    pub fn p90(&self) -> Option<u64> {
        self.quantile(0.9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    /// Within the documented bound: 11.8 % of the exact value, or half a second below 5 s where
    /// the rounding to whole seconds dominates.
    fn assert_within_bound(estimate: u64, exact: u64) {
        let error = (estimate as f64 - exact as f64).abs();
        let allowed = (exact as f64 * RELATIVE_ERROR).max(0.5) + 0.5;
        assert!(error <= allowed, "estimate {estimate} for exact {exact}: error {error} > {allowed}");
    }

    #[test]
    fn every_duration_falls_in_the_bucket_whose_bounds_hold_it() {
        for seconds in (0..5_000).chain([86_400, 2_592_000, 3_000_000, 10_000_000, u64::MAX]) {
            let bucket = bucket_of(seconds);
            assert!(bucket < BUCKETS);
            assert!(seconds as f64 >= lower_bound(bucket), "{seconds} below bucket {bucket}");
            if bucket < BUCKETS - 1 {
                assert!((seconds as f64) < lower_bound(bucket + 1), "{seconds} above bucket {bucket}");
            }
        }
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        // Thirty days still has a bucket of its own below the open last one.
        assert!(bucket_of(30 * 86_400) < BUCKETS - 1);
    }

    #[test]
    fn the_bounds_grow_by_the_same_factor() {
        for bucket in 1..BUCKETS - 1 {
            let ratio = lower_bound(bucket + 1) / lower_bound(bucket);
            assert!((ratio - GROWTH).abs() < 1e-9);
        }
    }

    #[test]
    fn median_and_p90_of_a_spread_stay_within_the_error_bound() {
        // GIVEN response times from 2 s to about 10 hours, spread unevenly (a deterministic sequence).
        let mut samples: Vec<u64> = (0..2_000u64).map(|i| 2 + (i * i * 7919) % 36_000).collect();
        let mut histogram = Histogram::new();
        for &s in &samples {
            histogram.record(s);
        }
        samples.sort_unstable();
        // THEN every quantile read back is within the bound of the exact one.
        for q in [0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0] {
            assert_within_bound(histogram.quantile(q).unwrap(), exact_quantile(&samples, q));
        }
        assert_eq!(histogram.count(), 2_000);
    }

    #[test]
    fn a_quantile_of_small_exact_values_is_exact() {
        let mut histogram = Histogram::new();
        for s in [1, 1, 2, 3, 3, 3, 4] {
            histogram.record(s);
        }
        assert_eq!(histogram.median(), Some(3));
        assert_eq!(histogram.quantile(0.0), Some(1));
        assert_eq!(histogram.p90(), Some(4));
    }

    #[test]
    fn the_median_moves_with_the_values() {
        // Fails if the quantile ignored the counts (e.g. read the first or last bucket).
        let mut fast = Histogram::new();
        let mut slow = Histogram::new();
        for _ in 0..9 {
            fast.record(60);
            slow.record(3_600);
        }
        fast.record(3_600);
        slow.record(60);
        assert_within_bound(fast.median().unwrap(), 60);
        assert_within_bound(slow.median().unwrap(), 3_600);
        assert_within_bound(fast.quantile(1.0).unwrap(), 3_600);
    }

    #[test]
    fn merged_histograms_equal_one_recorded_with_both() {
        let (mut monday, mut tuesday, mut both) = (Histogram::new(), Histogram::new(), Histogram::new());
        for s in [5, 50, 500] {
            monday.record(s);
            both.record(s);
        }
        for s in [50, 5_000] {
            tuesday.record(s);
            both.record(s);
        }
        monday.merge(&tuesday);
        assert_eq!(monday, both);
        assert_eq!(monday.count(), 5);
        assert_eq!(Histogram::from_counts(both.counts()), both);
    }

    #[test]
    fn an_empty_histogram_has_no_quantile() {
        assert_eq!(Histogram::new().median(), None);
        assert_eq!(Histogram::from_counts([(3, 0)]).count(), 0);
    }

    #[test]
    fn counters_beyond_the_range_fold_into_the_last_bucket() {
        let histogram = Histogram::from_counts([(500, 2), (BUCKETS - 1, 1)]);
        assert_eq!(histogram.counts().collect::<Vec<_>>(), vec![(BUCKETS - 1, 3)]);
        // The open bucket reads as its lower bound: "at least about 36 days".
        assert_eq!(histogram.median(), Some(lower_bound(BUCKETS - 1).round() as u64));
    }
}
