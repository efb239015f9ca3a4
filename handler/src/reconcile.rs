//! The scheduled reconcile: lists what happened in the look-back window and lets the core find
//! chains and shortenings the events missed (events are best-effort; rules may have been
//! disabled; the function may have been throttled), and retry failed hops. Switching
//! crossvault back on catches up.
//!
//! Work is done point by point, oldest first, until the invocation's deadline: one point's
//! failure is reported and the next point goes on; what is left is counted in the report and
//! done by the next run.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crossvault_core::event::Status;
use crossvault_core::reconcile::{
    self, ListedCopyJob, ReconcileInput, RecoveryPointFacts, candidates, point_plan, window_start,
};
use crossvault_core::{
    DecideError, Facts, Partition, Plan, Region, StackConfig, StorageClass, managed_key, verify,
};
use tokio::time::Instant;

use crate::batch::EventError;
use crate::clients::AwsClients;
use crate::effects::{ActionOutcome, Effects, event_error};
use crate::sdk_values::{lifecycle, listed_copy_job, smithy, utc};

/// The budget of a run started without an invocation deadline (tests, `crossvault invoke`).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(240);

/// Kept back from the invocation's deadline: the report still has to be written.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(10);

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
    /// Recovery points listed in the window.
    pub recovery_points: usize,
    /// Copy jobs listed in the window.
    pub copy_jobs: usize,
    /// The look-back used (hours; `ReconcileLookbackHours` capped at what AWS lists).
    pub lookback_hours: u32,
    /// Points worked on.
    pub checked: usize,
    /// Points older than the window.
    pub skipped_old: usize,
    /// Points not reached before the deadline: the next run does them.
    pub left_for_next_run: usize,
    pub outcomes: Vec<ActionOutcome>,
    /// `<recovery point>: <error>`, one per failed look-up or action.
    pub failures: Vec<String>,
    /// One line for the log.
    pub summary: String,
}

/// Runs one reconcile. Listing failures fail the run (the schedule's retry runs it again);
/// the failures of one point are reported and do not stop the others.
pub async fn run(
    effects: &Effects<'_>,
    region: &Region,
    deadline: Instant,
) -> Result<ReconcileReport, EventError> {
    let config = effects.config;
    if config.role == crossvault_core::Role::PreProd {
        return crate::restore::reconcile::run(effects, region, deadline).await;
    }
    let clients = effects.clients;
    let now = effects.clock.now();
    let since = window_start(config, now);
    let mut input = ReconcileInput {
        now,
        partition: partition_of(region.as_str()),
        region: region.clone(),
        recovery_points: list_recovery_points(clients, config, since, now).await?,
        copy_jobs: list_copy_jobs(clients, config, since).await?,
        resource_tags: Default::default(),
        keys: Default::default(),
        intermediates: effects.reencrypted_copies(since).await?,
    };
    let found = candidates(&input, config);
    let skipped_old = found.skipped_old;
    let points: Vec<RecoveryPointFacts> = found.points.into_iter().cloned().collect();
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for point in &points {
        if Instant::now() >= deadline {
            break;
        }
        checked += 1;
        let rp = point.recovery_point_arn.as_str();
        // The core asks for what it lacks (the resource's tags, the point's key), one at a
        // time; a point whose look-up failed, or that still lacks something, is reported.
        let mut decided = point_plan(&input, config, point);
        let mut lookup_failed = false;
        for _ in 0..2 {
            let Err(DecideError::NeedsFacts(request)) = &decided else {
                break;
            };
            let looked_up = if let Some(arn) = request.resource_tags_of.clone() {
                effects
                    .resource_tags(&arn)
                    .await
                    .map(|tags| drop(input.resource_tags.insert(arn, tags)))
            } else if let Some(arn) = request.key_of().map(str::to_owned) {
                effects
                    .describe_key(&arn)
                    .await
                    .map(|key| drop(input.keys.insert(arn, key)))
            } else {
                break;
            };
            if let Err(e) = looked_up {
                failures.push(format!("{rp}: {e}"));
                lookup_failed = true;
                break;
            }
            decided = point_plan(&input, config, point);
        }
        let actions = match decided {
            Ok(actions) => actions,
            Err(_) if lookup_failed => continue,
            Err(DecideError::NeedsFacts(request)) => {
                failures.push(format!("{rp}: reconcile asked for {request}"));
                continue;
            }
            Err(e) => {
                failures.push(format!("{rp}: cannot decide: {e}"));
                continue;
            }
        };
        if actions.is_empty() {
            continue;
        }
        let plan = Plan { actions };
        tracing::info!(recovery_point_arn = rp, plan = %plan, "reconcile plan");
        // The shortening verifies against this run's listing of the point's jobs (and of its
        // re-encrypted copy's, when it has one).
        let own: Vec<ListedCopyJob> = input
            .copy_jobs
            .iter()
            .filter(|j| j.source_recovery_point_arn == rp)
            .cloned()
            .collect();
        let copy = managed_key::reencrypt_vault(config, input.partition, region)
            .and_then(|vault| verify::copy_in(&own, rp, &vault));
        let mut facts = Facts::none().and_copy_jobs(own);
        facts.intermediate_copy_jobs = copy.map(|copy| {
            input
                .copy_jobs
                .iter()
                .filter(|j| j.source_recovery_point_arn == copy)
                .cloned()
                .collect()
        });
        let (done, errors) = effects.execute_each(&plan, &facts).await;
        outcomes.extend(done);
        failures.extend(errors.iter().map(|e| format!("{rp}: {e}")));
    }
    let left_for_next_run = points.len() - checked;
    let summary = if left_for_next_run > 0 {
        format!(
            "reconcile: {checked} of {} recovery point(s) checked before the deadline (oldest first); \
             {left_for_next_run} left for the next run; {skipped_old} older than the {} h look-back skipped",
            points.len(),
            config.lookback_hours()
        )
    } else {
        reconcile::summary(config, checked, skipped_old)
    };
    tracing::info!(
        recovery_points = input.recovery_points.len(),
        copy_jobs = input.copy_jobs.len(),
        checked,
        left_for_next_run,
        failures = failures.len(),
        "{summary}"
    );
    if outcomes.is_empty() {
        outcomes.push(ActionOutcome::Ignored {
            reason: summary.clone(),
        });
    }
    Ok(ReconcileReport {
        recovery_points: input.recovery_points.len(),
        copy_jobs: input.copy_jobs.len(),
        lookback_hours: config.lookback_hours(),
        checked,
        skipped_old,
        left_for_next_run,
        outcomes,
        failures,
        summary,
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
        Some(days) if now - created >= chrono::Duration::days(i64::from(days)) => {
            StorageClass::Cold
        }
        _ => StorageClass::Warm,
    }
}

pub(crate) async fn list_recovery_points(
    clients: &AwsClients,
    config: &StackConfig,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<RecoveryPointFacts>, EventError> {
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
            let lifecycle = lifecycle(rp.lifecycle.as_ref());
            points.push(RecoveryPointFacts {
                recovery_point_arn: arn,
                backup_vault_arn: rp.backup_vault_arn,
                source_backup_vault_arn: rp.source_backup_vault_arn,
                resource_arn: rp.resource_arn,
                resource_type: rp.resource_type,
                creation_date: Some(created),
                status: Some(
                    rp.status
                        .map_or(Status::Other(String::new()), |s| Status::parse(s.as_str())),
                ),
                storage_class: Some(inferred_storage_class(
                    created,
                    now,
                    lifecycle.move_to_cold_storage_after_days,
                )),
                lifecycle,
                encryption_key_arn: rp.encryption_key_arn,
                backup_size_in_bytes: rp.backup_size_in_bytes.and_then(|b| u64::try_from(b).ok()),
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
        jobs.extend(
            page.copy_jobs
                .unwrap_or_default()
                .into_iter()
                .filter_map(listed_copy_job),
        );
    }
    Ok(jobs)
}
