//! The night: backup jobs started through the real `StartBackupJob` API in source accounts,
//! then every event the test bed emitted is delivered, account by account and region by
//! region, from crossvault's own queue (fed by the template's EventBridge rules) to that
//! account's handler, until the organization is quiet.
//!
//! Delivery mirrors the Lambda's SQS event source mapping with `ReportBatchItemFailures`: a
//! handled message is deleted; a retryable failure is made visible again (the queue's
//! `maxReceiveCount` moves it to the dead-letter queue in the end); a permanent failure goes to
//! the dead-letter queue at once, as the handler's batch code does.

use std::time::Duration;

use crossvault_handler::batch::EventError;
use crossvault_handler::effects::ActionOutcome;
use serde_json::Value;

use crate::install::Installation;
use crate::org::Org;
use crate::{Result, aws, err};

/// At most this many delivery rounds before the night is declared endless.
pub const MAX_ROUNDS: usize = 40;

/// One backup to take in the night.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSpec {
    pub account: String,
    pub region: String,
    /// The RDS DB instance identifier (created if missing).
    pub db_instance: String,
    pub tags: Vec<(String, String)>,
    /// The backup's lifecycle, as a backup plan rule would give it.
    pub delete_after_days: i64,
}

impl BackupSpec {
    /// An RDS DB instance backed up with a 35-day lifecycle.
    pub fn rds(account: &str, region: &str, db_instance: &str) -> Self {
        Self {
            account: account.to_owned(),
            region: region.to_owned(),
            db_instance: db_instance.to_owned(),
            tags: Vec::new(),
            delete_after_days: 35,
        }
    }

    /// The resource carries `key=value` (e.g. `CopyToPreProd=true`).
    pub fn tagged(mut self, key: &str, value: &str) -> Self {
        self.tags.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// A backup job the night started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedBackup {
    pub spec: BackupSpec,
    pub resource_arn: String,
    pub backup_job_id: String,
    /// The original recovery point (once the job completed).
    pub recovery_point_arn: Option<String>,
    pub state: String,
}

/// One event handed to a handler.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub account: String,
    pub region: String,
    pub detail_type: String,
    pub body: Value,
    pub result: std::result::Result<Vec<ActionOutcome>, EventError>,
}

/// What the night did.
#[derive(Debug, Clone, Default)]
pub struct NightLog {
    pub backups: Vec<StartedBackup>,
    pub deliveries: Vec<Delivery>,
    pub rounds: usize,
}

impl NightLog {
    /// The deliveries whose handling failed.
    pub fn failures(&self) -> Vec<&Delivery> {
        self.deliveries
            .iter()
            .filter(|d| d.result.is_err())
            .collect()
    }

    /// Every action outcome of the night, with the account and region that produced it.
    pub fn outcomes(&self) -> impl Iterator<Item = (&Delivery, &ActionOutcome)> {
        self.deliveries.iter().flat_map(|d| {
            d.result
                .as_ref()
                .map(|o| o.iter().map(move |o| (d, o)).collect::<Vec<_>>())
                .unwrap_or_default()
        })
    }
}

/// Creates each resource and starts its backup job (on demand, through `StartBackupJob`).
pub async fn start_backups(org: &Org, specs: &[BackupSpec]) -> Result<Vec<StartedBackup>> {
    let mut started = Vec::new();
    for spec in specs {
        let creds = org.credentials(&spec.account)?;
        let resource_arn = crate::clients::create_db_instance(
            org.testbed.endpoint(),
            creds,
            &spec.region,
            &spec.db_instance,
            &spec.tags,
        )
        .await?;
        let installation = org.installation(&spec.account, &spec.region)?;
        let vault = installation.vault_name.clone().ok_or_else(|| {
            err(format!(
                "{}/{} has no managed vault to back up into",
                spec.account, spec.region
            ))
        })?;
        let backup = installation.backup();
        let out = backup
            .start_backup_job()
            .backup_vault_name(&vault)
            .resource_arn(&resource_arn)
            .iam_role_arn(format!(
                "arn:aws:iam::{}:role/service-role/AWSBackupDefaultServiceRole",
                spec.account
            ))
            .idempotency_token(format!("night-{}", spec.db_instance))
            .lifecycle(
                aws_sdk_backup::types::Lifecycle::builder()
                    .delete_after_days(spec.delete_after_days)
                    .build(),
            )
            .send()
            .await
            .map_err(aws(&format!(
                "backup:StartBackupJob {resource_arn} in {}/{}",
                spec.account, spec.region
            )))?;
        let job_id = out.backup_job_id.unwrap_or_default();
        let job = backup
            .describe_backup_job()
            .backup_job_id(&job_id)
            .send()
            .await
            .map_err(aws(&format!("backup:DescribeBackupJob {job_id}")))?;
        started.push(StartedBackup {
            spec: spec.clone(),
            resource_arn,
            backup_job_id: job_id,
            recovery_point_arn: job.recovery_point_arn,
            state: job.state.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        });
    }
    Ok(started)
}

/// Backups, then deliveries until quiet.
pub async fn night(org: &Org, specs: &[BackupSpec]) -> Result<NightLog> {
    let backups = start_backups(org, specs).await?;
    let mut log = NightLog {
        backups,
        ..NightLog::default()
    };
    log.rounds = run_until_quiet(org, &mut log.deliveries).await?;
    Ok(log)
}

/// Delivers queued events to the handlers until every queue was empty in two rounds in a row.
/// Returns the number of rounds.
pub async fn run_until_quiet(org: &Org, deliveries: &mut Vec<Delivery>) -> Result<usize> {
    let mut quiet = 0;
    for round in 1..=MAX_ROUNDS {
        let mut handled = 0;
        for installation in org.with_queues() {
            handled += drain(installation, deliveries).await?;
        }
        if handled == 0 {
            quiet += 1;
            if quiet == 2 {
                return Ok(round);
            }
        } else {
            quiet = 0;
        }
    }
    let pending: Vec<String> = deliveries
        .iter()
        .rev()
        .take(10)
        .map(|d| format!("{} {} {}", d.account, d.region, d.detail_type))
        .collect();
    Err(err(format!(
        "the organization was not quiet after {MAX_ROUNDS} rounds ({} deliveries; last: {})",
        deliveries.len(),
        pending.join("; ")
    )))
}

/// One batch of visible messages (up to 10, no waiting); empty when the queue is drained.
pub(crate) async fn receive_batch(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
) -> Result<Vec<aws_sdk_sqs::types::Message>> {
    let out = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(0)
        .send()
        .await
        .map_err(aws(&format!("sqs:ReceiveMessage {queue}")))?;
    Ok(out.messages.unwrap_or_default())
}

/// Receives and handles everything visible in one installation's queue.
async fn drain(installation: &Installation, deliveries: &mut Vec<Delivery>) -> Result<usize> {
    let Some(queue) = &installation.queue_url else {
        return Ok(0);
    };
    let sqs = installation.sqs();
    let mut handled = 0;
    loop {
        let messages = receive_batch(&sqs, queue).await?;
        if messages.is_empty() {
            return Ok(handled);
        }
        for message in messages {
            handled += 1;
            let receipt = message.receipt_handle.clone().unwrap_or_default();
            let body_text = message.body.clone().unwrap_or_default();
            let body: Value = serde_json::from_str(&body_text).unwrap_or(Value::Null);
            let result = if body.is_null() {
                Err(EventError::Permanent(format!(
                    "message body is not JSON: {body_text}"
                )))
            } else {
                installation.pipeline.process_event(&body).await
            };
            match &result {
                Ok(_) => {}
                Err(EventError::Retryable(_)) => {
                    // SQS hands it out again; after maxReceiveCount it lands in the DLQ.
                    sqs.change_message_visibility()
                        .queue_url(queue)
                        .receipt_handle(&receipt)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .map_err(aws("sqs:ChangeMessageVisibility"))?;
                }
                Err(EventError::Permanent(reason)) => {
                    if let Some(dlq) = &installation.dead_letter_queue_url {
                        sqs.send_message()
                            .queue_url(dlq)
                            .message_body(&body_text)
                            .message_attributes(
                                "crossvault-reason",
                                aws_sdk_sqs::types::MessageAttributeValue::builder()
                                    .data_type("String")
                                    .string_value(reason)
                                    .build()
                                    .map_err(|e| err(e.to_string()))?,
                            )
                            .send()
                            .await
                            .map_err(aws("sqs:SendMessage (dead letter)"))?;
                    }
                }
            }
            if !matches!(result, Err(EventError::Retryable(_))) {
                sqs.delete_message()
                    .queue_url(queue)
                    .receipt_handle(&receipt)
                    .send()
                    .await
                    .map_err(aws("sqs:DeleteMessage"))?;
            }
            deliveries.push(Delivery {
                account: installation.account_id.clone(),
                region: installation.region.clone(),
                detail_type: body["detail-type"].as_str().unwrap_or("?").to_owned(),
                body,
                result,
            });
        }
    }
}

/// Events lost: empties every crossvault queue without delivering anything.
pub async fn purge_queues(org: &Org) -> Result<usize> {
    let mut dropped = 0;
    for installation in org.with_queues() {
        let queue = installation.queue_url.as_deref().unwrap_or_default();
        let sqs = installation.sqs();
        loop {
            let messages = receive_batch(&sqs, queue).await?;
            if messages.is_empty() {
                break;
            }
            for m in messages {
                dropped += 1;
                sqs.delete_message()
                    .queue_url(queue)
                    .receipt_handle(m.receipt_handle.unwrap_or_default())
                    .send()
                    .await
                    .map_err(aws("sqs:DeleteMessage"))?;
            }
        }
    }
    Ok(dropped)
}

/// Hands the same events to the same handlers again (a duplicate delivery of the whole night).
pub async fn redeliver(org: &Org, deliveries: &[Delivery]) -> Result<Vec<Delivery>> {
    let mut again = Vec::new();
    for d in deliveries {
        let installation = org.installation(&d.account, &d.region)?;
        let result = installation.pipeline.process_event(&d.body).await;
        again.push(Delivery {
            result,
            ..d.clone()
        });
    }
    Ok(again)
}

/// Waits a little for the test bed (used between manual job steps).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}
