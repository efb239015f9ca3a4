//! The night, driven the way AWS drives crossvault.
//!
//! Backup jobs are started through the real `StartBackupJob` API (or as a backup plan starts
//! them); their events reach crossvault's own queue through the template's EventBridge rules;
//! and the runner plays Lambda's **SQS event source mapping** for every queue: it receives
//! batches (the mapping's `BatchSize`, up to `MaximumConcurrency` batches at once) with their
//! system attributes, builds the event Lambda sends (`Records` with `messageId`,
//! `receiptHandle`, `body`, `attributes`, `messageAttributes`, `md5OfBody`, `eventSource`,
//! `eventSourceARN`, `awsRegion`), invokes the real [`Handler::handle`] (the entry the
//! `bootstrap` binary calls), and deletes only the records not reported in
//! `batchItemFailures`. A failed invocation (or an answer Lambda would not accept) returns the
//! whole batch. Nothing else: a record that is not deleted becomes visible again after the
//! queue's visibility timeout, the queue's own redrive policy (`maxReceiveCount`) moves it to
//! the dead-letter queue, and the handler dead-letters permanent failures itself
//! (`SqsDeadLetters`).
//!
//! The harness gives the queues a short visibility timeout
//! ([`crate::org::VISIBILITY_TIMEOUT_SECONDS`]) so a record left for redelivery comes back fast.
//! Unlike Lambda, the runner does not poll a queue again while one of its batches is being
//! handled, so a batch that outlasts that timeout is never handed out twice — what the
//! template's visibility timeout of 6 × the function timeout ensures in AWS.
//!
//! Jobs take time ([`crate::org::Org`] makes them timed): when every queue is quiet and jobs
//! are still under way, the runner moves the organization's clock to the next job step, and
//! delivers again, until nothing is left to do. The reconcile schedule is an invocation with
//! the Scheduled Event EventBridge sends ([`reconcile`]).
//!
//! [`Handler::handle`]: crossvault_handler::Handler::handle

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use crossvault_handler::InvocationContext;
use serde_json::{Value, json};

use crate::install::Installation;
use crate::org::Org;
use crate::{Result, aws, err};

/// A night that has not settled after this much wall time is declared endless.
pub const NIGHT_TIMEOUT: Duration = Duration::from_secs(300);

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
    /// The backup's `MoveToColdStorageAfterDays`, if any.
    pub cold_after_days: Option<i64>,
    /// Not RDS: a resource of this AWS Backup type and ARN (nothing is created for it).
    pub resource: Option<(String, String)>,
    /// The DB instance is encrypted with the AWS managed key `aws/rds`.
    pub aws_managed_key: bool,
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
            cold_after_days: None,
            resource: None,
            aws_managed_key: false,
        }
    }

    /// The DB instance is encrypted with the AWS managed key `aws/rds` (`StorageEncrypted`
    /// without a key), as many production databases were created.
    pub fn under_aws_rds(mut self) -> Self {
        self.aws_managed_key = true;
        self
    }

    /// An EFS file system (a type with a cold tier) named `name`, backed up for 35 days.
    pub fn efs(account: &str, region: &str, name: &str) -> Self {
        let arn = format!("arn:aws:elasticfilesystem:{region}:{account}:file-system/fs-{name}");
        Self {
            resource: Some(("EFS".to_owned(), arn)),
            ..Self::rds(account, region, name)
        }
    }

    /// The resource carries `key=value` (e.g. `CopyToPreProd=true`).
    pub fn tagged(mut self, key: &str, value: &str) -> Self {
        self.tags.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The backup's lifecycle: `delete_after_days`, and a cold move after `cold_after_days`.
    pub fn lifecycle(mut self, delete_after_days: i64, cold_after_days: Option<i64>) -> Self {
        self.delete_after_days = delete_after_days;
        self.cold_after_days = cold_after_days;
        self
    }

    fn sdk_lifecycle(&self) -> aws_sdk_backup::types::Lifecycle {
        let mut l =
            aws_sdk_backup::types::Lifecycle::builder().delete_after_days(self.delete_after_days);
        if let Some(cold) = self.cold_after_days {
            l = l.move_to_cold_storage_after_days(cold);
        }
        l.build()
    }
}

/// A backup job the night started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedBackup {
    pub spec: BackupSpec,
    pub resource_arn: String,
    pub backup_job_id: String,
    /// The original recovery point (the job's, whether it completed or not).
    pub recovery_point_arn: Option<String>,
    /// The job's state when it was started; [`refresh_backups`] reads it again.
    pub state: String,
}

/// What the event source mapping did with one received record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Not reported as failed: deleted from the queue.
    Deleted,
    /// Reported in `batchItemFailures`: left for redelivery.
    Reported,
    /// The invocation failed or answered something Lambda rejects: the whole batch stays.
    BatchFailed(String),
}

/// One record handed to a handler.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub account: String,
    pub region: String,
    pub message_id: String,
    /// SQS's `ApproximateReceiveCount` of this receive (1 = first delivery).
    pub receive_count: u32,
    /// The number of records in the batch it came in.
    pub batch_size: usize,
    pub detail_type: String,
    pub body: Value,
    pub outcome: RecordOutcome,
}

/// A message in a dead-letter queue.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub account: String,
    pub region: String,
    pub body: String,
    /// `crossvault-reason`, set when the handler dead-lettered it (absent after SQS redrive).
    pub reason: Option<String>,
    /// `crossvault-source-message-id`, set by the handler.
    pub source_message_id: Option<String>,
    /// The message's id (for SQS redrive: the original's).
    pub message_id: String,
}

/// What the night did.
#[derive(Debug, Clone, Default)]
pub struct NightLog {
    pub backups: Vec<StartedBackup>,
    pub deliveries: Vec<Delivery>,
    /// Delivery rounds (receive, invoke, delete) until quiet.
    pub rounds: usize,
    /// Clock moves to the next job step.
    pub clock_moves: usize,
    /// What the dead-letter queues held at the end of the night (taken off them).
    pub dead_letters: Vec<DeadLetter>,
}

impl NightLog {
    /// The records that were not handled on their delivery (reported, or in a failed batch).
    pub fn failures(&self) -> Vec<&Delivery> {
        self.deliveries
            .iter()
            .filter(|d| d.outcome != RecordOutcome::Deleted)
            .collect()
    }

    /// Records received more than once.
    pub fn redelivered(&self) -> Vec<&Delivery> {
        self.deliveries
            .iter()
            .filter(|d| d.receive_count > 1)
            .collect()
    }

    /// The distinct messages delivered.
    pub fn messages(&self) -> usize {
        self.deliveries
            .iter()
            .map(|d| (&d.account, &d.region, &d.message_id))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    }
}

/// Creates each resource and starts its backup job (on demand, through `StartBackupJob`).
pub async fn start_backups(org: &Org, specs: &[BackupSpec]) -> Result<Vec<StartedBackup>> {
    let mut started = Vec::new();
    for spec in specs {
        let resource_arn = resource_of(org, spec).await?;
        let installation = org.installation(&spec.account, &spec.region)?;
        let vault = managed_vault(installation)?;
        let backup = installation.backup();
        let out = backup
            .start_backup_job()
            .backup_vault_name(&vault)
            .resource_arn(&resource_arn)
            .iam_role_arn(default_role(&spec.account))
            .idempotency_token(format!("night-{}", spec.db_instance))
            .lifecycle(spec.sdk_lifecycle())
            .send()
            .await
            .map_err(aws(&format!(
                "backup:StartBackupJob {resource_arn} in {}/{}",
                spec.account, spec.region
            )))?;
        let job_id = out.backup_job_id.unwrap_or_default();
        started.push(StartedBackup {
            spec: spec.clone(),
            resource_arn,
            backup_job_id: job_id,
            recovery_point_arn: out.recovery_point_arn,
            state: "CREATED".to_owned(),
        });
    }
    refresh_backups(org, &mut started).await?;
    Ok(started)
}

/// Starts each backup the way a backup plan does (AWS Backup starts plan jobs itself, so no
/// `StartBackupJob` call, no API quota): the job and its events carry `createdBy`. Each
/// `copy_actions` entry (a destination vault ARN and its `DeleteAfterDays`) is a copy action
/// of the plan's rule: AWS starts that copy when the backup completes.
pub async fn start_plan_backups(
    org: &Org,
    specs: &[BackupSpec],
    copy_actions: &[(String, i64)],
) -> Result<Vec<StartedBackup>> {
    use futures::StreamExt;
    // A few at a time: a night's plan jobs start together.
    futures::stream::iter(specs)
        .map(|spec| start_plan_backup(org, spec, copy_actions))
        .buffered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

async fn start_plan_backup(
    org: &Org,
    spec: &BackupSpec,
    copy_actions: &[(String, i64)],
) -> Result<StartedBackup> {
    let resource_arn = resource_of(org, spec).await?;
    let installation = org.installation(&spec.account, &spec.region)?;
    let mut lifecycle = json!({"DeleteAfterDays": spec.delete_after_days});
    if let Some(cold) = spec.cold_after_days {
        lifecycle["MoveToColdStorageAfterDays"] = json!(cold);
    }
    let actions: Vec<Value> = copy_actions
        .iter()
        .map(|(vault, days)| json!({"destinationBackupVaultArn": vault, "lifecycle": {"DeleteAfterDays": days}}))
        .collect();
    let answer = org
        .testbed
        .plan_backup_job(json!({
            "accountId": spec.account,
            "region": spec.region,
            "backupVaultName": managed_vault(installation)?,
            "resourceArn": resource_arn,
            "lifecycle": lifecycle,
            "copyActions": actions,
        }))
        .await?;
    Ok(StartedBackup {
        spec: spec.clone(),
        resource_arn,
        backup_job_id: answer["jobId"].as_str().unwrap_or_default().to_owned(),
        recovery_point_arn: answer["recoveryPointArn"].as_str().map(str::to_owned),
        state: answer["state"].as_str().unwrap_or_default().to_owned(),
    })
}

async fn resource_of(org: &Org, spec: &BackupSpec) -> Result<String> {
    if let Some((_, arn)) = &spec.resource {
        return Ok(arn.clone());
    }
    crate::clients::create_db_instance_with(
        org.testbed.endpoint(),
        org.credentials(&spec.account)?,
        &spec.region,
        &spec.db_instance,
        &spec.tags,
        spec.aws_managed_key,
    )
    .await
}

fn managed_vault(installation: &Installation) -> Result<String> {
    installation.vault_name.clone().ok_or_else(|| {
        err(format!(
            "{}/{} has no managed vault to back up into",
            installation.account_id, installation.region
        ))
    })
}

fn default_role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/service-role/AWSBackupDefaultServiceRole")
}

/// Reads each backup job's state again (`DescribeBackupJob`).
pub async fn refresh_backups(org: &Org, backups: &mut [StartedBackup]) -> Result<()> {
    for b in backups {
        let job = org
            .installation(&b.spec.account, &b.spec.region)?
            .backup()
            .describe_backup_job()
            .backup_job_id(&b.backup_job_id)
            .send()
            .await
            .map_err(aws(&format!(
                "backup:DescribeBackupJob {}",
                b.backup_job_id
            )))?;
        b.state = job.state.map(|s| s.as_str().to_owned()).unwrap_or_default();
        b.recovery_point_arn = job.recovery_point_arn.or(b.recovery_point_arn.take());
    }
    Ok(())
}

/// Backups, then the night until nothing is left to do, then the dead-letter queues.
pub async fn night(org: &Org, specs: &[BackupSpec]) -> Result<NightLog> {
    let backups = start_backups(org, specs).await?;
    finish_night(org, backups).await
}

/// The night for backups already started: delivered until settled, the backups' final
/// states read back, the dead-letter queues taken.
pub async fn finish_night(org: &Org, mut backups: Vec<StartedBackup>) -> Result<NightLog> {
    let mut log = NightLog::default();
    let (rounds, moves) = run_until_settled(org, &mut log.deliveries).await?;
    log.rounds = rounds;
    log.clock_moves = moves;
    refresh_backups(org, &mut backups).await?;
    log.backups = backups;
    log.dead_letters = take_dead_letters(org).await?;
    Ok(log)
}

/// Delivers until every queue is quiet and no job is under way, moving the organization's
/// clock to the next job step whenever the queues are quiet. Returns (rounds, clock moves).
pub async fn run_until_settled(
    org: &Org,
    deliveries: &mut Vec<Delivery>,
) -> Result<(usize, usize)> {
    let started = Instant::now();
    let mut rounds = 0;
    let mut moves = 0;
    loop {
        rounds += run_until_quiet(org, deliveries).await?;
        let state = org.clock_state().await?;
        if state.in_flight == 0 {
            return Ok((rounds, moves));
        }
        if started.elapsed() > NIGHT_TIMEOUT {
            return Err(err(format!(
                "the night did not settle in {NIGHT_TIMEOUT:?}: {} jobs still under way (next step due {:?})",
                state.in_flight, state.next_due_at
            )));
        }
        org.clock_to_next_job().await?;
        moves += 1;
    }
}

/// Delivers queued events (the event source mapping of every queue) until no queue has a
/// visible or in-flight message. Returns the number of delivery rounds.
pub async fn run_until_quiet(org: &Org, deliveries: &mut Vec<Delivery>) -> Result<usize> {
    let started = Instant::now();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let polls = org.with_queues().map(poll);
        let mut handled = 0;
        for result in futures::future::join_all(polls).await {
            let got = result?;
            handled += got.len();
            deliveries.extend(got);
        }
        if handled > 0 {
            continue;
        }
        // Nothing visible: quiet unless a message is in flight (left for redelivery).
        let mut in_flight = 0;
        for count in futures::future::join_all(org.with_queues().map(not_visible)).await {
            in_flight += count?;
        }
        if in_flight == 0 {
            return Ok(rounds);
        }
        if started.elapsed() > NIGHT_TIMEOUT {
            return Err(err(format!(
                "{in_flight} messages still in flight after {NIGHT_TIMEOUT:?} ({} deliveries)",
                deliveries.len()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn not_visible(installation: &Installation) -> Result<u64> {
    let queue = installation.queue_url.as_deref().unwrap_or_default();
    let out = installation
        .sqs()
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(aws(&format!("sqs:GetQueueAttributes {queue}")))?;
    Ok(out
        .attributes
        .and_then(|a| {
            a.get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0))
}

/// One poll of an installation's event source mapping: up to `MaximumConcurrency` batches,
/// each handed to its own invocation, all at once; then the deletes.
async fn poll(installation: &Installation) -> Result<Vec<Delivery>> {
    let (Some(queue), Some(source)) = (&installation.queue_url, installation.event_source) else {
        return Ok(Vec::new());
    };
    let sqs = installation.sqs();
    let mut batches = Vec::new();
    for _ in 0..source.maximum_concurrency {
        let messages = receive(&sqs, queue, source.batch_size).await?;
        if messages.is_empty() {
            break;
        }
        batches.push(messages);
    }
    let invocations = batches.iter().map(|messages| {
        let event = lambda_sqs_event(
            installation.queue_arn.as_deref().unwrap_or_default(),
            &installation.region,
            messages,
        );
        let ctx = InvocationContext::local(installation.function_timeout);
        async move { installation.handler.handle(event, &ctx).await }
    });
    let answers = futures::future::join_all(invocations).await;
    let mut deliveries = Vec::new();
    for (messages, answer) in batches.iter().zip(answers) {
        let failed = reported_failures(messages, answer, source.report_batch_item_failures);
        let delete: Vec<_> = messages
            .iter()
            .filter(|m| {
                failed
                    .as_ref()
                    .is_ok_and(|ids| !ids.contains(&m.message_id.clone().unwrap_or_default()))
            })
            .collect();
        if !delete.is_empty() {
            let mut request = sqs.delete_message_batch().queue_url(queue);
            for (i, m) in delete.iter().enumerate() {
                request = request.entries(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                        .build()
                        .map_err(|e| err(e.to_string()))?,
                );
            }
            let out = request
                .send()
                .await
                .map_err(aws(&format!("sqs:DeleteMessageBatch {queue}")))?;
            if !out.failed.is_empty() {
                return Err(err(format!(
                    "sqs:DeleteMessageBatch {queue}: {:?}",
                    out.failed
                )));
            }
        }
        for m in messages {
            let id = m.message_id.clone().unwrap_or_default();
            let body: Value =
                serde_json::from_str(m.body().unwrap_or_default()).unwrap_or(Value::Null);
            deliveries.push(Delivery {
                account: installation.account_id.clone(),
                region: installation.region.clone(),
                receive_count: m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                batch_size: messages.len(),
                detail_type: body["detail-type"].as_str().unwrap_or("?").to_owned(),
                body,
                outcome: match &failed {
                    Err(reason) => RecordOutcome::BatchFailed(reason.clone()),
                    Ok(ids) if ids.contains(&id) => RecordOutcome::Reported,
                    Ok(_) => RecordOutcome::Deleted,
                },
                message_id: id,
            });
        }
    }
    Ok(deliveries)
}

/// The ids Lambda leaves in the queue after an invocation, or why it keeps the whole batch.
/// As Lambda does: a function error, or (with `ReportBatchItemFailures`) an answer that is not
/// a batch response or names a record that was not in the batch, fails the whole batch.
fn reported_failures(
    messages: &[aws_sdk_sqs::types::Message],
    answer: std::result::Result<Value, crossvault_handler::HandlerError>,
    report_batch_item_failures: bool,
) -> std::result::Result<Vec<String>, String> {
    let answer = answer.map_err(|e| format!("function error: {e}"))?;
    if !report_batch_item_failures {
        return Ok(Vec::new());
    }
    let Some(failures) = answer.get("batchItemFailures") else {
        return if answer.is_null() || answer == json!({}) {
            Ok(Vec::new())
        } else {
            Err(format!("not a batch response: {answer}"))
        };
    };
    let ids: Vec<String> = failures
        .as_array()
        .ok_or_else(|| format!("batchItemFailures is not a list: {failures}"))?
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_owned())
        .collect();
    for id in &ids {
        if !messages.iter().any(|m| m.message_id.as_deref() == Some(id)) {
            return Err(format!("batchItemFailures names {id:?}, not in the batch"));
        }
    }
    Ok(ids)
}

/// The event Lambda's SQS event source mapping sends for `messages` of the queue `queue_arn`.
pub fn lambda_sqs_event(
    queue_arn: &str,
    region: &str,
    messages: &[aws_sdk_sqs::types::Message],
) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: BTreeMap<String, String> = m
                .attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
            let message_attributes: BTreeMap<String, Value> = m
                .message_attributes
                .iter()
                .flatten()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        json!({"stringValue": v.string_value, "stringListValues": [],
                            "binaryListValues": [], "dataType": v.data_type}),
                    )
                })
                .collect();
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            })
        })
        .collect();
    json!({"Records": records})
}

/// One batch of visible messages (up to `max`, no waiting), with their system and message
/// attributes; empty when the queue has none visible.
pub(crate) async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    max: usize,
) -> Result<Vec<aws_sdk_sqs::types::Message>> {
    let out = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(max.clamp(1, 10) as i32)
        .wait_time_seconds(0)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(aws(&format!("sqs:ReceiveMessage {queue}")))?;
    Ok(out.messages.unwrap_or_default())
}

/// Takes every message off every dead-letter queue.
pub async fn take_dead_letters(org: &Org) -> Result<Vec<DeadLetter>> {
    let mut out = Vec::new();
    for installation in org.with_queues() {
        let Some(queue) = &installation.dead_letter_queue_url else {
            continue;
        };
        let sqs = installation.sqs();
        loop {
            let messages = receive(&sqs, queue, 10).await?;
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let attribute = |name: &str| {
                    m.message_attributes
                        .as_ref()
                        .and_then(|a| a.get(name))
                        .and_then(|v| v.string_value.clone())
                };
                out.push(DeadLetter {
                    account: installation.account_id.clone(),
                    region: installation.region.clone(),
                    body: m.body.clone().unwrap_or_default(),
                    reason: attribute("crossvault-reason"),
                    source_message_id: attribute("crossvault-source-message-id"),
                    message_id: m.message_id.clone().unwrap_or_default(),
                });
                sqs.delete_message()
                    .queue_url(queue)
                    .receipt_handle(m.receipt_handle.unwrap_or_default())
                    .send()
                    .await
                    .map_err(aws("sqs:DeleteMessage (dead letter)"))?;
            }
        }
    }
    Ok(out)
}

/// Events lost: empties every crossvault queue without delivering anything.
pub async fn purge_queues(org: &Org) -> Result<usize> {
    let mut dropped = 0;
    for installation in org.with_queues() {
        let queue = installation.queue_url.as_deref().unwrap_or_default();
        let sqs = installation.sqs();
        loop {
            let messages = receive(&sqs, queue, 10).await?;
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

/// Every event of `deliveries` arrives once more (EventBridge delivers at least once): each
/// body is sent again to the queue it came from, for the event source mapping to deliver.
pub async fn replay(org: &Org, deliveries: &[Delivery]) -> Result<usize> {
    let mut sent = std::collections::BTreeSet::new();
    for d in deliveries {
        if !sent.insert((&d.account, &d.region, &d.message_id)) {
            continue;
        }
        let installation = org.installation(&d.account, &d.region)?;
        installation
            .sqs()
            .send_message()
            .queue_url(installation.queue_url.as_deref().unwrap_or_default())
            .message_body(d.body.to_string())
            .send()
            .await
            .map_err(aws("sqs:SendMessage (replay)"))?;
    }
    Ok(sent.len())
}

/// The reconcile schedule fires in `account`/`region`: the handler is invoked with the
/// Scheduled Event EventBridge sends for the template's `ReconcileRule`. Returns its answer
/// (the reconcile report) or the invocation's error.
pub async fn reconcile(
    org: &Org,
    account: &str,
    region: &str,
) -> std::result::Result<Value, String> {
    let installation = org.installation(account, region).map_err(|e| e.0)?;
    let now = org.clock.as_ref();
    let time = crossvault_handler::clock::Clock::now(now)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let event = json!({
        "version": "0",
        "id": format!("crossvault-tests-{}", time),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": time,
        "region": region,
        "resources": [format!("arn:aws:events:{region}:{account}:rule/crossvault-ReconcileRule")],
        "detail": {},
    });
    let ctx = InvocationContext::local(installation.function_timeout);
    installation
        .handler
        .handle(event, &ctx)
        .await
        .map_err(|e| e.to_string())
}

/// The reconcile schedule fires in every installation with a queue (source, backup,
/// pre-prod), in install order. Returns each answer.
pub async fn reconcile_everywhere(
    org: &Org,
) -> Vec<(String, String, std::result::Result<Value, String>)> {
    let mut out = Vec::new();
    for installation in org.with_queues() {
        let (account, region) = (&installation.account_id, &installation.region);
        out.push((
            account.clone(),
            region.clone(),
            reconcile(org, account, region).await,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::{Message, MessageAttributeValue};

    fn message(id: &str) -> Message {
        Message::builder()
            .message_id(id)
            .receipt_handle(format!("handle-{id}"))
            .body(r#"{"detail-type": "Copy Job State Change"}"#)
            .md5_of_body("0123456789abcdef0123456789abcdef")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .attributes(MessageSystemAttributeName::SentTimestamp, "1767225600000")
            .message_attributes(
                "crossvault-reason",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("why")
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[test]
    fn the_event_has_the_shape_lambda_sends() {
        let arn = "arn:aws:sqs:eu-west-1:111111111111:crossvault-events";
        let event = lambda_sqs_event(arn, "eu-west-1", &[message("m1")]);
        assert_eq!(
            event,
            json!({"Records": [{
                "messageId": "m1",
                "receiptHandle": "handle-m1",
                "body": r#"{"detail-type": "Copy Job State Change"}"#,
                "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1767225600000"},
                "messageAttributes": {"crossvault-reason": {"stringValue": "why",
                    "stringListValues": [], "binaryListValues": [], "dataType": "String"}},
                "md5OfBody": "0123456789abcdef0123456789abcdef",
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "eu-west-1",
            }]})
        );
        // The handler recognises it as an SQS batch.
        assert_eq!(
            crossvault_handler::incoming::classify(&event),
            Ok(crossvault_handler::incoming::Incoming::SqsBatch)
        );
    }

    #[test]
    fn only_reported_records_stay_and_answers_lambda_rejects_keep_the_whole_batch() {
        let batch = [message("m1"), message("m2")];
        let answer = |v: Value| Ok::<_, crossvault_handler::HandlerError>(v);
        assert_eq!(
            reported_failures(
                &batch,
                answer(json!({"batchItemFailures": [{"itemIdentifier": "m2"}]})),
                true
            ),
            Ok(vec!["m2".to_owned()])
        );
        assert_eq!(
            reported_failures(&batch, answer(json!({"batchItemFailures": []})), true),
            Ok(vec![])
        );
        assert_eq!(
            reported_failures(&batch, answer(json!({})), true),
            Ok(vec![])
        );
        assert!(
            reported_failures(
                &batch,
                answer(json!({"batchItemFailures": [{"itemIdentifier": "other"}]})),
                true
            )
            .is_err()
        );
        assert!(reported_failures(&batch, answer(json!({"processed": 1})), true).is_err());
        let failed = Err(crossvault_handler::HandlerError::MalformedBatch("x".into()));
        assert!(
            reported_failures(&batch, failed, true)
                .unwrap_err()
                .starts_with("function error")
        );
        // Without ReportBatchItemFailures a successful invocation deletes every record.
        assert_eq!(
            reported_failures(
                &batch,
                answer(json!({"batchItemFailures": [{"itemIdentifier": "m2"}]})),
                false
            ),
            Ok(vec![])
        );
    }
}
