//! How a failed Graph API send is handled, and the one retry policy (exponential backoff, full jitter).

use std::time::Duration;

/// What to do after a send attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailureKind {
    /// Throttling or a transient fault: try again later.
    Retryable,
    /// The 24-hour window has closed (Meta's 131047): fall back to a template or fail.
    OutsideWindow,
    /// The access token is invalid or expired (190): fail at once and alert.
    InvalidToken,
    /// Anything else Meta refused: retrying would be refused the same way.
    Permanent,
}

/// Meta error codes: 4 app rate limit, 80007 WABA rate limit, 130429 throughput, 131056 pair rate
/// limit, 131000/131016 service errors, 2 temporary API errors.
pub fn classify_graph_error(http_status: Option<u16>, code: Option<i64>) -> SendFailureKind {
    match code {
        Some(131047) => SendFailureKind::OutsideWindow,
        Some(190) => SendFailureKind::InvalidToken,
        Some(4 | 2 | 80007 | 130429 | 131056 | 131000 | 131016) => SendFailureKind::Retryable,
        _ => match http_status {
            None => SendFailureKind::Retryable, // timeout or connection error
            Some(s) if s >= 500 || s == 429 || s == 408 => SendFailureKind::Retryable,
            _ => SendFailureKind::Permanent,
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max_delay: Duration,
    /// Attempts in all, the first one included; after that the message fails and the job goes to the DLQ.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base: Duration::from_secs(2), max_delay: Duration::from_secs(300), max_attempts: 5 }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` after `attempt` (1-based) failed: a uniformly random
    /// point in [0, min(max, base·2^(attempt-1))]. `unit` is a random number in [0, 1).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(unit.clamp(0.0, 1.0))
    }

    pub fn exhausted(&self, attempt: u32) -> bool {
        attempt >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn meta_codes_are_classified() {
        assert_eq!(classify_graph_error(Some(400), Some(131047)), SendFailureKind::OutsideWindow);
        assert_eq!(classify_graph_error(Some(401), Some(190)), SendFailureKind::InvalidToken);
        assert_eq!(classify_graph_error(Some(400), Some(130429)), SendFailureKind::Retryable);
        assert_eq!(classify_graph_error(Some(400), Some(131056)), SendFailureKind::Retryable);
        assert_eq!(classify_graph_error(Some(400), Some(80007)), SendFailureKind::Retryable);
        assert_eq!(classify_graph_error(Some(403), Some(4)), SendFailureKind::Retryable);
        assert_eq!(classify_graph_error(Some(503), None), SendFailureKind::Retryable);
        assert_eq!(classify_graph_error(None, None), SendFailureKind::Retryable);
        assert_eq!(classify_graph_error(Some(400), Some(100)), SendFailureKind::Permanent);
    }

    #[test]
    fn attempts_are_bounded() {
        let p = RetryPolicy::default();
        assert!(!p.exhausted(4));
        assert!(p.exhausted(5));
    }

    #[test]
    fn the_delay_doubles_from_two_seconds_up_to_five_minutes() {
        // The default policy's bounds, written out: 2 s, 4 s, 8 s ... capped at 300 s.
        let p = RetryPolicy::default();
        let secs = |attempt: u32, unit: f64| p.delay(attempt, unit).as_secs_f64();
        for (attempt, cap) in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 32.0), (8, 256.0), (9, 300.0), (40, 300.0)] {
            assert_eq!(secs(attempt, 0.0), 0.0, "attempt {attempt}: full jitter starts at zero");
            assert!((secs(attempt, 0.5) - cap / 2.0).abs() < 1e-6, "attempt {attempt}: half way is {}", cap / 2.0);
            assert!((secs(attempt, 0.999_999) - cap).abs() < 1e-3, "attempt {attempt}: the top is {cap}");
        }
        assert_eq!(p.delay(0, 0.5), Duration::from_secs(1), "attempt 0 is treated as the first");
        assert_eq!(p.delay(2, 7.0), Duration::from_secs(4), "units beyond [0, 1] are clamped");
    }

    proptest! {
        #[test]
        fn delay_is_uniform_in_its_cap_and_never_shrinks_with_attempts(attempt in 1u32..40, unit in 0.0f64..1.0) {
            let p = RetryPolicy::default();
            let d = p.delay(attempt, unit);
            prop_assert!(d <= p.max_delay);
            // Linear in the random unit: the delay is `unit` of the top for this attempt.
            let top = p.delay(attempt, 1.0);
            prop_assert!((d.as_secs_f64() - top.as_secs_f64() * unit).abs() < 1e-6);
            // The top grows with each attempt until it meets the maximum.
            let next = p.delay(attempt + 1, 1.0);
            prop_assert!(next >= top);
            prop_assert!(next == p.max_delay || next == top * 2);
        }
    }
}
