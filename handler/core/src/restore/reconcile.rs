//! The pre-prod reconciler's pure part: what a run looks at, from three listings (the pre-prod
//! vault's points in the look-back window, the restore jobs of the window, crossvault's tagged
//! restores). Each item is then decided exactly as its event would have been
//! ([`super::arrival`] with `from_event = false`, [`super::restore_job`],
//! [`super::refresh::advance`]), with fresh descriptions gathered by the effect layer.
//!
//! - **Arrivals**: per production resource only its newest COMPLETED point (an older one would
//!   be superseded at once), and only when crossvault has no restore job of it that is under way
//!   or COMPLETED; a failed restore is started again here (attempt + 1), never on the event path.
//! - **Finished restore jobs** whose resource carries no provenance yet (the COMPLETED event was
//!   lost): tagged and moved on.
//! - **Restores** not yet at rest (restored, masking, retired): moved on — the hook started, the
//!   hook's result read (`GetAutomationExecution`), promoted, deleted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::jobs::{ListedRestoreJob, RestoreState, restore_state};
use super::resource::{RestoredRef, RestoredResource, Stage};
use crate::arn::Partition;
use crate::config::StackConfig;
use crate::event::{EventMeta, RestoreJobEvent, Status};
use crate::facts::RecoveryPointFacts;
use crate::ids::Region;

/// What a pre-prod reconcile run looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreprodInput {
    /// The current time.
    pub now: DateTime<Utc>,
    /// The partition.
    pub partition: Partition,
    /// This region.
    pub region: Region,
    /// The pre-prod vault's points created in the window.
    pub points: Vec<RecoveryPointFacts>,
    /// The restore jobs created in the window.
    pub restore_jobs: Vec<ListedRestoreJob>,
    /// Crossvault's restores here (by the marker tag; status as the listing knows it).
    pub restores: Vec<RestoredResource>,
}

/// One item of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// A point to restore (or retry).
    Arrival(RecoveryPointFacts),
    /// A COMPLETED restore job whose resource is not tagged yet.
    Finished(ListedRestoreJob),
    /// A restore to move on.
    Restore(RestoredRef),
}

/// The work of a run, in order: arrivals oldest first, then finished jobs, then restores.
pub fn work(input: &PreprodInput, config: &StackConfig) -> Vec<Work> {
    let mut out = Vec::new();
    let role = config.restore.role_arn.as_deref();
    if config.restore.on_arrival
        && let Some(role) = role
    {
        let mut newest: BTreeMap<&str, &RecoveryPointFacts> = BTreeMap::new();
        for p in &input.points {
            if !matches!(p.status, Some(Status::Completed | Status::Available)) {
                continue;
            }
            let Some(source) = p.resource_arn.as_deref() else {
                continue;
            };
            let newer = newest.get(source).is_none_or(|q| {
                (q.creation_date, &q.recovery_point_arn) < (p.creation_date, &p.recovery_point_arn)
            });
            if newer {
                newest.insert(source, p);
            }
        }
        let mut arrivals: Vec<&RecoveryPointFacts> = newest
            .into_values()
            .filter(|p| {
                matches!(
                    restore_state(&input.restore_jobs, &p.recovery_point_arn, role),
                    RestoreState::NotStarted | RestoreState::Failed(_)
                )
            })
            .collect();
        arrivals.sort_by_key(|p| (p.creation_date, p.recovery_point_arn.clone()));
        out.extend(arrivals.into_iter().cloned().map(Work::Arrival));
    }
    let tagged: Vec<&str> = input.restores.iter().map(|r| r.arn.as_str()).collect();
    for job in &input.restore_jobs {
        if job.status == Status::Completed
            && role.is_some()
            && job.iam_role_arn.as_deref() == role
            && job
                .created_resource_arn
                .as_deref()
                .is_some_and(|arn| !tagged.contains(&arn) && RestoredRef::from_arn(arn).is_some())
        {
            out.push(Work::Finished(job.clone()));
        }
    }
    let mut moving: Vec<&RestoredResource> = input
        .restores
        .iter()
        .filter(|r| {
            r.provenance().is_some()
                && !r.is_writer()
                && !matches!(r.stage(), Some(Stage::Promoted | Stage::HookFailed))
        })
        .collect();
    moving.sort_by_key(|r| (r.provenance().map(|p| p.backup_time), r.arn.clone()));
    out.extend(
        moving
            .into_iter()
            .map(|r| Work::Restore(RestoredRef::from(r))),
    );
    out
}

/// A listed restore job as the event its COMPLETED state would have sent.
pub fn job_event(
    job: &ListedRestoreJob,
    config: &StackConfig,
    region: &Region,
    now: DateTime<Utc>,
    source_resource_arn: Option<String>,
) -> RestoreJobEvent {
    RestoreJobEvent {
        meta: EventMeta {
            id: format!("reconcile:{}", job.restore_job_id),
            detail_type: "Restore Job State Change".into(),
            source: "aws.backup".into(),
            account: config.account_id.clone(),
            region: region.clone(),
            time: Some(now),
            resources: vec![job.recovery_point_arn.clone()],
        },
        restore_job_id: job.restore_job_id.clone(),
        status: job.status.clone(),
        recovery_point_arn: Some(job.recovery_point_arn.clone()),
        backup_vault_arn: None,
        resource_type: job.resource_type.clone(),
        source_resource_arn: source_resource_arn.or_else(|| job.source_resource_arn.clone()),
        created_resource_arn: job.created_resource_arn.clone(),
        status_message: job.status_message.clone(),
        completion_date: job.completion_date,
        creation_date: job.creation_date,
        iam_role_arn: job.iam_role_arn.clone(),
    }
}
