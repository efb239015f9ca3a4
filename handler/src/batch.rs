//! SQS batches with partial-batch failure reports.
//!
//! One bad record never fails or loses the others: each record is processed on its own, and
//! only records that failed with a retryable error are reported back (SQS redelivers them after
//! the visibility timeout, and moves them to the dead-letter queue after `maxReceiveCount`).
//! A record that can never succeed (malformed, access denied, vault gone) is sent to the
//! dead-letter queue at once, with the reason, instead of being retried five times.
//!
//! Records are handled [`CONCURRENCY`] at a time (5, about the mutating calls per second AWS
//! Backup allows an account): a batch of ten costs about as long as two or three events, not
//! ten, while the account's quota is not swamped (the SDK's adaptive retry slows down on
//! throttling). Records are independent: two
//! events about one recovery point derive the same idempotency tokens, so running them side
//! by side starts nothing twice.

use futures::StreamExt;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

use crate::context::InvocationContext;

/// Why one event failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Throttling, service trouble: let SQS redeliver it.
    #[error("retryable: {0}")]
    Retryable(String),
    /// Retrying cannot help: dead-letter it now, with this reason.
    #[error("permanent: {0}")]
    Permanent(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsRecord {
    pub message_id: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub attributes: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SqsBatch {
    pub records: Vec<SqsRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<BatchItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    pub item_identifier: String,
}

/// Where permanently failing records go.
pub trait DeadLetters: Send + Sync {
    fn send<'a>(
        &'a self,
        record: &'a SqsRecord,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// Records handled at the same time.
pub const CONCURRENCY: usize = 5;

/// Processes each record with `process`, [`CONCURRENCY`] at a time. Records not started
/// before the deadline (minus `reserve`) are reported as failures so SQS hands them out again.
/// Failures are reported in the batch's order.
pub async fn process_batch<'p, F>(
    batch: &SqsBatch,
    ctx: &InvocationContext,
    reserve: Duration,
    dead_letters: Option<&dyn DeadLetters>,
    process: F,
) -> BatchResponse
where
    F: Fn(Value) -> BoxFuture<'p, Result<(), EventError>>,
{
    let process = &process;
    let mut failed: Vec<usize> = futures::stream::iter(batch.records.iter().enumerate())
        .map(|(i, record)| async move {
            (!handled(record, ctx, reserve, dead_letters, process).await).then_some(i)
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|i| async move { i })
        .collect()
        .await;
    failed.sort_unstable();
    BatchResponse {
        batch_item_failures: failed
            .into_iter()
            .map(|i| BatchItemFailure {
                item_identifier: batch.records[i].message_id.clone(),
            })
            .collect(),
    }
}

/// Handles one record; `false` when SQS must hand it out again.
async fn handled<'p, F>(
    record: &SqsRecord,
    ctx: &InvocationContext,
    reserve: Duration,
    dead_letters: Option<&dyn DeadLetters>,
    process: &F,
) -> bool
where
    F: Fn(Value) -> BoxFuture<'p, Result<(), EventError>>,
{
    if ctx.remaining() <= reserve {
        tracing::warn!(message_id = %record.message_id, "deadline near: leaving the record for redelivery");
        return false;
    }
    let result = match serde_json::from_str::<Value>(&record.body) {
        Ok(event) => process(event).await,
        Err(e) => Err(EventError::Permanent(format!(
            "record body is not JSON: {e}"
        ))),
    };
    match result {
        Ok(()) => true,
        Err(EventError::Retryable(reason)) => {
            tracing::warn!(message_id = %record.message_id, %reason, "retryable failure; SQS will redeliver");
            false
        }
        Err(EventError::Permanent(reason)) => {
            tracing::error!(message_id = %record.message_id, %reason, "permanent failure");
            let sent = match dead_letters {
                Some(dlq) => dlq.send(record, &reason).await,
                None => Err("no dead-letter queue configured".into()),
            };
            match sent {
                Ok(()) => true,
                Err(e) => {
                    // Not lost either way: SQS's own redrive moves it after maxReceiveCount.
                    tracing::error!(message_id = %record.message_id, error = %e,
                        "could not dead-letter the record; leaving it to SQS redrive");
                    false
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    struct Recorder(Mutex<Vec<(String, String)>>, bool);
    impl DeadLetters for Recorder {
        fn send<'a>(
            &'a self,
            r: &'a SqsRecord,
            reason: &'a str,
        ) -> BoxFuture<'a, Result<(), String>> {
            Box::pin(async move {
                if self.1 {
                    return Err("SQS unavailable".into());
                }
                self.0
                    .lock()
                    .unwrap()
                    .push((r.message_id.clone(), reason.to_owned()));
                Ok(())
            })
        }
    }

    fn batch() -> SqsBatch {
        serde_json::from_value(json!({"Records": [
            {"messageId": "ok", "body": "{\"n\": 1}", "eventSource": "aws:sqs"},
            {"messageId": "throttled", "body": "{\"n\": 2}", "eventSource": "aws:sqs"},
            {"messageId": "denied", "body": "{\"n\": 3}", "eventSource": "aws:sqs"},
            {"messageId": "garbage", "body": "not json", "eventSource": "aws:sqs"},
        ]}))
        .unwrap()
    }

    fn process(v: Value) -> BoxFuture<'static, Result<(), EventError>> {
        Box::pin(async move {
            match v["n"].as_u64() {
                Some(1) => Ok(()),
                Some(2) => Err(EventError::Retryable("ThrottlingException".into())),
                _ => Err(EventError::Permanent("AccessDeniedException".into())),
            }
        })
    }

    #[tokio::test]
    async fn only_retryable_records_are_reported_and_permanent_ones_dead_lettered_once() {
        let dlq = Recorder(Mutex::new(vec![]), false);
        let ctx = InvocationContext::local(Duration::from_secs(60));
        let out = process_batch(&batch(), &ctx, Duration::from_secs(1), Some(&dlq), process).await;
        assert_eq!(
            out.batch_item_failures,
            vec![BatchItemFailure {
                item_identifier: "throttled".into()
            }]
        );
        let sent = dlq.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0], ("denied".into(), "AccessDeniedException".into()));
        assert_eq!(sent[1].0, "garbage");
        assert!(
            sent[1].1.starts_with("record body is not JSON"),
            "{}",
            sent[1].1
        );
    }

    #[tokio::test]
    async fn a_dead_letter_failure_falls_back_to_redelivery() {
        let dlq = Recorder(Mutex::new(vec![]), true);
        let ctx = InvocationContext::local(Duration::from_secs(60));
        let out = process_batch(&batch(), &ctx, Duration::from_secs(1), Some(&dlq), process).await;
        let ids: Vec<_> = out
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["throttled", "denied", "garbage"]);
    }

    #[tokio::test]
    async fn records_past_the_deadline_are_left_for_redelivery() {
        let ctx = InvocationContext::local(Duration::from_millis(10));
        let out = process_batch(&batch(), &ctx, Duration::from_secs(1), None, process).await;
        assert_eq!(out.batch_item_failures.len(), 4);
    }

    #[tokio::test]
    async fn records_run_side_by_side_with_a_bound_and_failures_keep_the_batch_order() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let records: Vec<Value> = (0..10)
            .map(|i| json!({"messageId": format!("m{i}"), "body": format!("{{\"n\": {i}}}"), "eventSource": "aws:sqs"}))
            .collect();
        let batch: SqsBatch = serde_json::from_value(json!({ "Records": records })).unwrap();
        let ctx = InvocationContext::local(Duration::from_secs(60));
        let out = process_batch(&batch, &ctx, Duration::from_secs(1), None, |v| {
            let (running, most) = (&running, &most);
            Box::pin(async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // Later records finish first: the answer must not depend on it.
                let n = v["n"].as_u64().unwrap();
                tokio::time::sleep(Duration::from_millis(5 * (10 - n))).await;
                running.fetch_sub(1, Ordering::SeqCst);
                if n % 3 == 0 {
                    Err(EventError::Retryable(format!("throttled {n}")))
                } else {
                    Ok(())
                }
            })
        })
        .await;
        assert_eq!(most.load(Ordering::SeqCst), CONCURRENCY);
        let ids: Vec<_> = out
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["m0", "m3", "m6", "m9"]);
    }

    #[test]
    fn response_shape_is_what_lambda_expects() {
        let r = BatchResponse {
            batch_item_failures: vec![BatchItemFailure {
                item_identifier: "m1".into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
        );
    }
}
