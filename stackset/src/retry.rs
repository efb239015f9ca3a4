//! Retrying StackSet calls that AWS refuses for a while: another operation in progress (without
//! managed execution, or while the execution mode changes) and throttling that outlasted the
//! SDK's own adaptive retry.

use std::future::Future;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::aws::Timing;
use crate::error::SdkError;
use crate::output::Progress;

/// Error codes worth waiting out.
pub fn is_retryable(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "OperationInProgressException"
                | "Throttling"
                | "ThrottlingException"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
        )
    )
}

/// Runs `call` until it succeeds, fails with an error that waiting cannot cure, or
/// `timing.attempts` attempts are spent; waits grow from `first_retry` to `max_retry`.
pub async fn retrying<T, E, R, F, Fut>(
    timing: &Timing,
    what: &str,
    progress: &Progress,
    mut call: F,
) -> Result<T, SdkError<E, R>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let mut delay = timing.first_retry;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if attempt < timing.attempts && is_retryable(e.code()) => {
                progress.line(format!(
                    "{what}: {} (attempt {attempt} of {}); retrying in {:.1} s",
                    e.code().unwrap_or_default(),
                    timing.attempts,
                    delay.as_secs_f64()
                ));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(timing.max_retry);
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// A fresh client token for one StackSet operation, kept across its retries so a retried call
/// cannot start the operation twice.
pub fn operation_id(purpose: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let digest = Sha256::digest(format!("{purpose}:{nanos}:{}:{n}", std::process::id()));
    format!("crossvault-{purpose}-{}", &hex::encode(digest)[..24])
}
