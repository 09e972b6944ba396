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

/// For a write that must land because what it records already happened outside (Meta accepted a
/// send): six attempts, 50 ms doubling to at most 2 s, riding out throttling and timeouts too.
pub const MUST_LAND: RetryPolicy = RetryPolicy { base: Duration::from_millis(50), max_delay: Duration::from_secs(2), max_attempts: 6 };

/// Runs `attempt` (given its 1-based number) until it does not lose an update. `what` names the
/// thing that kept changing when every attempt lost (the 409 the caller sees).
pub async fn retry_lost_updates<T, F, Fut>(what: &'static str, attempt: F) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    match retry(LOCKING, |e| matches!(e, Error::LostUpdate(_)), attempt).await {
        Err(Error::LostUpdate(_)) => Err(Error::LostUpdate(what)),
        other => other,
    }
}

/// Runs `attempt` (given its 1-based number) until it lands, through lost updates and backend
/// faults alike ([`MUST_LAND`]); the last error when none did.
pub async fn retry_until_landed<T, F, Fut>(attempt: F) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = attempt;
    let mut n = 1;
    loop {
        // A lost update is another writer that just landed: go again at once (LOCKING's pace; a
        // conversation busy with replies and statuses loses often, and MUST_LAND's pace made each
        // such send wait seconds). A backend fault (throttling, a timeout) waits MUST_LAND's.
        let pace = match attempt(n).await {
            Err(Error::LostUpdate(_)) if n < MUST_LAND.max_attempts + LOCKING.max_attempts => LOCKING,
            Err(Error::Backend { .. }) if n < MUST_LAND.max_attempts => MUST_LAND,
            other => return other,
        };
        tokio::time::sleep(pace.delay(n.min(pace.max_attempts), rand::random::<f64>())).await;
        n += 1;
    }
}

async fn retry<T, F, Fut>(policy: RetryPolicy, retryable: impl Fn(&Error) -> bool, mut attempt: F) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut n = 1;
    loop {
        match attempt(n).await {
            Err(e) if retryable(&e) && n < policy.max_attempts => tokio::time::sleep(policy.delay(n, rand::random::<f64>())).await,
            other => return other,
        }
        n += 1;
    }
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

    #[tokio::test(start_paused = true)]
    async fn a_write_that_must_land_rides_out_backend_faults_but_not_bad_input() {
        let calls = AtomicU32::new(0);
        let out = retry_until_landed(|n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    1 => Err(Error::backend("dynamodb", "throttled")),
                    2 => Err(Error::LostUpdate("item")),
                    _ => Ok(n),
                }
            }
        })
        .await;
        assert_eq!(out.unwrap(), 3);
        let out: Result<()> = retry_until_landed(|_| async { Err(Error::backend("dynamodb", "down")) }).await;
        assert!(matches!(out, Err(Error::Backend { .. })));
        let out: Result<()> = retry_until_landed(|_| async { Err(Error::invalid("wamid", "bad")) }).await;
        assert!(matches!(out, Err(Error::Invalid { .. })));
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
