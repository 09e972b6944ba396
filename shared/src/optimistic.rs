//! Optimistic locking, one way for every use case and adapter: read, decide, write over the version
//! read; when the write loses to a concurrent change (`Error::LostUpdate`), wait a jittered moment
//! and go again, a bounded number of times.

use std::future::Future;
use std::time::Duration;

use crate::domain::retry::RetryPolicy;
use crate::error::{Error, Result};

/// Eight attempts, 2 ms doubling to at most 50 ms between them (full jitter), so writers contending
/// for one conversation spread out instead of colliding again in step.
pub const LOCKING: RetryPolicy = RetryPolicy { base: Duration::from_millis(2), max_delay: Duration::from_millis(50), max_attempts: 8 };

/// Runs `attempt` (given its 1-based number) until it does not lose an update. `what` names the
/// thing that kept changing when every attempt lost (the 409 the caller sees).
pub async fn retry_lost_updates<T, F, Fut>(what: &'static str, mut attempt: F) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    for n in 1..=LOCKING.max_attempts {
        match attempt(n).await {
            Err(Error::LostUpdate(_)) if n < LOCKING.max_attempts => tokio::time::sleep(LOCKING.delay(n, rand::random::<f64>())).await,
            Err(Error::LostUpdate(_)) => break,
            other => return other,
        }
    }
    Err(Error::LostUpdate(what))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_lost_update_is_tried_again_until_it_lands() {
        let calls = AtomicU32::new(0);
        let out = retry_lost_updates("thing", |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { if n < 3 { Err(Error::LostUpdate("thing")) } else { Ok(n) } }
        })
        .await;
        assert_eq!(out.unwrap(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn it_gives_up_after_the_last_attempt_naming_what_kept_changing() {
        let calls = AtomicU32::new(0);
        let out: Result<()> = retry_lost_updates("ticket", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(Error::LostUpdate("row")) }
        })
        .await;
        assert!(matches!(out, Err(Error::LostUpdate("ticket"))));
        assert_eq!(calls.load(Ordering::SeqCst), LOCKING.max_attempts);
    }

    #[tokio::test]
    async fn other_errors_end_at_once() {
        let calls = AtomicU32::new(0);
        let out: Result<()> = retry_lost_updates("ticket", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(Error::NotFound("ticket")) }
        })
        .await;
        assert!(matches!(out, Err(Error::NotFound("ticket"))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
