//! A recovery point's restore jobs, as `ListRestoreJobs` reports them: the restore's only
//! state before its resource exists. Like copy hops, each attempt has its own idempotency
//! token and name ([`super::naming`]); attempt = 1 + the point's failed restore jobs started
//! with crossvault's restore role.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::Status;

/// One restore job of `ListRestoreJobs` (or of a `Restore Job State Change`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedRestoreJob {
    /// `RestoreJobId`
    pub restore_job_id: String,
    /// `RecoveryPointArn`
    pub recovery_point_arn: String,
    /// `Status`
    pub status: Status,
    /// `IamRoleArn`: crossvault's jobs run as its restore role.
    pub iam_role_arn: Option<String>,
    /// `CreatedResourceArn` (once COMPLETED)
    pub created_resource_arn: Option<String>,
    /// `CreationDate`
    pub creation_date: Option<DateTime<Utc>>,
    /// `CompletionDate`
    pub completion_date: Option<DateTime<Utc>>,
    /// `StatusMessage`
    pub status_message: Option<String>,
    /// `ResourceType`
    #[serde(default)]
    pub resource_type: Option<String>,
    /// `SourceResourceArn` (when AWS reports it)
    #[serde(default)]
    pub source_resource_arn: Option<String>,
}

/// Where a point's restore stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreState<'a> {
    /// No job of crossvault's.
    NotStarted,
    /// A job is CREATED, PENDING or RUNNING.
    UnderWay(&'a ListedRestoreJob),
    /// A job COMPLETED.
    Done(&'a ListedRestoreJob),
    /// Only failed jobs (FAILED, ABORTED).
    Failed(Vec<&'a ListedRestoreJob>),
}

impl RestoreState<'_> {
    /// The attempt the next job would be.
    pub fn next_attempt(&self) -> u32 {
        match self {
            RestoreState::Failed(failed) => u32::try_from(failed.len()).unwrap_or(u32::MAX - 1) + 1,
            _ => 1,
        }
    }
}

/// The state of `recovery_point`'s restore from crossvault's jobs (those run as `role_arn`)
/// in `jobs`: a COMPLETED job wins over one under way, which wins over failures.
pub fn restore_state<'a>(
    jobs: &'a [ListedRestoreJob],
    recovery_point: &str,
    role_arn: &str,
) -> RestoreState<'a> {
    let ours: Vec<&ListedRestoreJob> = jobs
        .iter()
        .filter(|j| j.recovery_point_arn == recovery_point)
        .filter(|j| j.iam_role_arn.as_deref() == Some(role_arn))
        .collect();
    if let Some(done) = ours.iter().find(|j| j.status == Status::Completed) {
        return RestoreState::Done(done);
    }
    if let Some(running) = ours.iter().find(|j| j.status.is_in_progress()) {
        return RestoreState::UnderWay(running);
    }
    let failed: Vec<&ListedRestoreJob> =
        ours.into_iter().filter(|j| j.status.is_failure()).collect();
    if failed.is_empty() {
        RestoreState::NotStarted
    } else {
        RestoreState::Failed(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::333333333333:role/crossvault-restore-eu-west-1";

    fn job(id: &str, rp: &str, status: Status, role: &str) -> ListedRestoreJob {
        ListedRestoreJob {
            restore_job_id: id.into(),
            recovery_point_arn: rp.into(),
            status,
            iam_role_arn: Some(role.into()),
            created_resource_arn: None,
            creation_date: None,
            completion_date: None,
            status_message: None,
            resource_type: None,
            source_resource_arn: None,
        }
    }

    #[test]
    fn only_crossvaults_jobs_of_the_point_count() {
        let jobs = [
            job("a", "rp1", Status::Failed, ROLE),
            job(
                "b",
                "rp1",
                Status::Completed,
                "arn:aws:iam::333333333333:role/someone",
            ),
            job("c", "rp2", Status::Completed, ROLE),
        ];
        let state = restore_state(&jobs, "rp1", ROLE);
        assert!(matches!(&state, RestoreState::Failed(f) if f.len() == 1));
        assert_eq!(state.next_attempt(), 2);
        assert_eq!(restore_state(&jobs, "rp3", ROLE), RestoreState::NotStarted);
        assert!(matches!(
            restore_state(&jobs, "rp2", ROLE),
            RestoreState::Done(j) if j.restore_job_id == "c"
        ));
    }

    #[test]
    fn completed_beats_running_beats_failed() {
        let mut jobs = vec![
            job("a", "rp", Status::Failed, ROLE),
            job("b", "rp", Status::Running, ROLE),
        ];
        assert!(
            matches!(restore_state(&jobs, "rp", ROLE), RestoreState::UnderWay(j) if j.restore_job_id == "b")
        );
        jobs.push(job("c", "rp", Status::Completed, ROLE));
        assert!(
            matches!(restore_state(&jobs, "rp", ROLE), RestoreState::Done(j) if j.restore_job_id == "c")
        );
    }
}
