//! The scheduled reconcile: lists what happened in the look-back window and lets the core find
//! chains and shortenings the events missed (events are best-effort; rules may have been
//! disabled; the function may have been throttled). Switching crossvault back on catches up.

use chrono::{DateTime, Duration, Utc};
use crossvault_core::event::Status;
use crossvault_core::reconcile::{self, ListedCopyJob, ListedRecoveryPoint, ReconcileInput};
use crossvault_core::{CurrentLifecycle, Partition, Region, StackConfig, StorageClass, VaultArn};

use crate::batch::EventError;
use crate::clients::AwsClients;
use crate::clock::Clock;
use crate::effects::{ActionOutcome, Effects, event_error};
use crate::sdk_values::{lifecycle_days, utc};

fn smithy(d: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(d.timestamp())
}

/// The partition of a region name (recovery point and vault ARNs carry it).
pub fn partition_of(region: &str) -> Partition {
    if region.starts_with("cn-") {
        Partition::AwsCn
    } else if region.starts_with("us-gov-") {
        Partition::AwsUsGov
    } else {
        Partition::Aws
    }
}

/// What one reconcile run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReconcileReport {
    pub recovery_points: usize,
    pub copy_jobs: usize,
    pub outcomes: Vec<ActionOutcome>,
    pub failures: Vec<String>,
}

/// Runs one reconcile. Listing failures fail the run (the schedule's retry runs it again);
/// failures of single actions are reported and do not stop the others.
pub async fn run(
    clients: &AwsClients,
    config: &StackConfig,
    region: &Region,
    clock: &dyn Clock,
) -> Result<ReconcileReport, EventError> {
    let now = clock.now();
    let since = now - Duration::hours(i64::from(config.reconcile_lookback_hours));
    let mut input = ReconcileInput {
        now,
        partition: partition_of(region.as_str()),
        region: region.clone(),
        recovery_points: list_recovery_points(clients, config, since, now).await?,
        copy_jobs: list_copy_jobs(clients, config, since).await?,
        resource_tags: Default::default(),
    };
    let effects = Effects {
        clients,
        config,
        clock,
    };
    for arn in reconcile::facts_needed(&input, config) {
        let tags = effects.resource_tags(&arn).await?;
        input.resource_tags.insert(arn, tags);
    }
    let plan = reconcile::reconcile(&input, config)
        .map_err(|e| EventError::Permanent(format!("reconcile could not decide: {e}")))?;
    tracing::info!(
        recovery_points = input.recovery_points.len(),
        copy_jobs = input.copy_jobs.len(),
        actions = plan.actions.len(),
        "reconcile plan"
    );
    let (outcomes, errors) = effects.execute_each(&plan).await;
    Ok(ReconcileReport {
        recovery_points: input.recovery_points.len(),
        copy_jobs: input.copy_jobs.len(),
        outcomes,
        failures: errors.iter().map(ToString::to_string).collect(),
    })
}

/// `ListRecoveryPointsByBackupVault` does not report the storage class; a point whose cold
/// move is due is taken to be cold, so the core does not plan a cross-region copy AWS would
/// refuse. (Retention shortening re-reads the real class with `DescribeRecoveryPoint`.)
fn inferred_storage_class(
    created: DateTime<Utc>,
    now: DateTime<Utc>,
    cold_after: Option<u32>,
) -> StorageClass {
    match cold_after {
        Some(days) if now - created >= Duration::days(i64::from(days)) => StorageClass::Cold,
        _ => StorageClass::Warm,
    }
}

async fn list_recovery_points(
    clients: &AwsClients,
    config: &StackConfig,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<ListedRecoveryPoint>, EventError> {
    let mut points = Vec::new();
    let mut pages = clients
        .backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(config.vault_name.as_str())
        .by_created_after(smithy(since))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| event_error("backup:ListRecoveryPointsByBackupVault", e))?;
        for rp in page.recovery_points.unwrap_or_default() {
            let (Some(arn), Some(created)) = (
                rp.recovery_point_arn,
                rp.creation_date.as_ref().and_then(utc),
            ) else {
                continue;
            };
            let cold_after = lifecycle_days(
                rp.lifecycle
                    .as_ref()
                    .and_then(|l| l.move_to_cold_storage_after_days),
            );
            points.push(ListedRecoveryPoint {
                recovery_point_arn: arn,
                resource_arn: rp.resource_arn,
                resource_type: rp.resource_type,
                creation_date: created,
                status: rp
                    .status
                    .map_or(Status::Other(String::new()), |s| Status::parse(s.as_str())),
                storage_class: inferred_storage_class(created, now, cold_after),
                lifecycle: CurrentLifecycle {
                    delete_after_days: lifecycle_days(
                        rp.lifecycle.as_ref().and_then(|l| l.delete_after_days),
                    ),
                    move_to_cold_storage_after_days: cold_after,
                },
            });
        }
    }
    Ok(points)
}

async fn list_copy_jobs(
    clients: &AwsClients,
    config: &StackConfig,
    since: DateTime<Utc>,
) -> Result<Vec<ListedCopyJob>, EventError> {
    let mut jobs = Vec::new();
    let mut pages = clients
        .backup
        .list_copy_jobs()
        .by_account_id(config.account_id.as_str())
        .by_created_after(smithy(since))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| event_error("backup:ListCopyJobs", e))?;
        for job in page.copy_jobs.unwrap_or_default() {
            let (Some(id), Some(source), Some(dest), Some(state)) = (
                job.copy_job_id,
                job.source_recovery_point_arn,
                job.destination_backup_vault_arn
                    .as_deref()
                    .and_then(|a| VaultArn::parse(a).ok()),
                job.state,
            ) else {
                continue;
            };
            jobs.push(ListedCopyJob {
                copy_job_id: id,
                source_recovery_point_arn: source,
                destination_vault_arn: dest,
                state: Status::parse(state.as_str()),
            });
        }
    }
    Ok(jobs)
}
