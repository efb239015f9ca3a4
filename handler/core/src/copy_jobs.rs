//! The copy jobs of a recovery point, as `ListCopyJobs` reports them, and what they say about
//! one hop of the chain: done, under way, failed (how often), or not started.
//!
//! The listing is the chain's only state: nothing is stored. A hop is identified by its exact
//! destination vault ARN; a job into any other vault says nothing about it.
//!
//! - **Done**: a COMPLETED job into the destination.
//! - **Under way**: otherwise, a CREATED/PENDING/RUNNING job (AWS keeps a job CREATED for up to
//!   2 hours while it retries system errors, AWS docs), or a job in a state crossvault does
//!   not know: never a reason to start another job, never a reason to shorten.
//! - **Failed**: otherwise, FAILED/ABORTED/EXPIRED jobs (and PARTIAL, a composite job that did
//!   not copy everything: terminal and not COMPLETED, so it counts as a failed attempt too).
//!   The next attempt is `1 +` their number, which makes the next idempotency token new.
//! - **Not started**: no job at all.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::arn::VaultArn;
use crate::event::{CopyJobEvent, Status};
use crate::retention::CurrentLifecycle;

/// One copy job (`ListCopyJobs` → `CopyJobs[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedCopyJob {
    /// `CopyJobId`
    pub copy_job_id: String,
    /// `SourceRecoveryPointArn`
    pub source_recovery_point_arn: String,
    /// `DestinationBackupVaultArn`
    pub destination_vault_arn: VaultArn,
    /// `State`
    pub state: Status,
    /// `CreationDate`
    pub creation_date: Option<DateTime<Utc>>,
    /// `StatusMessage`
    pub status_message: Option<String>,
    /// `DestinationRecoveryPointArn` (the copy, once COMPLETED)
    pub destination_recovery_point_arn: Option<String>,
    /// `DestinationRecoveryPointLifecycle` (`None` = not reported: the copy's retention is
    /// unknown, so it cannot vouch for the original's)
    pub destination_lifecycle: Option<CurrentLifecycle>,
    /// `IamRoleArn`: the role the copy ran as (crossvault's copy role for its own copies).
    #[serde(default)]
    pub iam_role_arn: Option<String>,
}

impl ListedCopyJob {
    /// The job a Copy Job State Change event describes, as far as the event tells (`None`
    /// without a job id or source recovery point, e.g. a CREATED event). The event carries no
    /// lifecycle, so such a job never verifies a copy's retention.
    pub fn from_event(e: &CopyJobEvent) -> Option<Self> {
        Some(Self {
            copy_job_id: e.copy_job_id.clone()?,
            source_recovery_point_arn: e.source_recovery_point_arn.clone()?,
            destination_vault_arn: e.destination_backup_vault_arn.clone(),
            state: e.state.clone(),
            creation_date: e.creation_date,
            status_message: e.status_message.clone(),
            destination_recovery_point_arn: e.destination_recovery_point_arn.clone(),
            destination_lifecycle: None,
            iam_role_arn: None,
        })
    }
}

/// FAILED, ABORTED, EXPIRED or PARTIAL: a finished job that did not copy the point.
pub fn is_failed_attempt(state: &Status) -> bool {
    state.is_failure()
}

/// COMPLETED or a failed attempt: the job will not change any more.
pub fn is_terminal(state: &Status) -> bool {
    *state == Status::Completed || is_failed_attempt(state)
}

/// Adds what an event says about its own job to a listing. A terminal state is final, so it
/// replaces whatever the (possibly lagging) listing says; an in-progress state is only added
/// when the listing does not have the job yet (it may be older than what is listed).
pub fn merge_event_job(jobs: &mut Vec<ListedCopyJob>, job: ListedCopyJob) {
    match jobs.iter_mut().find(|j| j.copy_job_id == job.copy_job_id) {
        Some(listed) if is_terminal(&job.state) && !is_terminal(&listed.state) => {
            listed.state = job.state;
            if listed.status_message.is_none() {
                listed.status_message = job.status_message;
            }
            if listed.destination_recovery_point_arn.is_none() {
                listed.destination_recovery_point_arn = job.destination_recovery_point_arn;
            }
        }
        Some(_) => {}
        None => jobs.push(job),
    }
}

/// What the jobs say about one hop (one source point, one destination vault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HopState<'a> {
    /// No job into the destination.
    NotStarted,
    /// A job that has not finished (or is in a state crossvault does not know).
    UnderWay(&'a ListedCopyJob),
    /// COMPLETED job(s) into the destination, oldest first.
    Done(Vec<&'a ListedCopyJob>),
    /// Only failed attempts, oldest first.
    Failed(Vec<&'a ListedCopyJob>),
}

impl HopState<'_> {
    /// The number of failed attempts so far (0 unless [`HopState::Failed`]).
    pub fn failures(&self) -> u32 {
        match self {
            HopState::Failed(jobs) => u32::try_from(jobs.len()).unwrap_or(u32::MAX),
            _ => 0,
        }
    }

    /// The attempt a new job for this hop would be (1-based).
    pub fn next_attempt(&self) -> u32 {
        self.failures().saturating_add(1)
    }
}

impl fmt::Display for HopState<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HopState::NotStarted => f.write_str("not started"),
            HopState::UnderWay(job) => write!(f, "copy job {} is {}", job.copy_job_id, job.state),
            HopState::Done(jobs) => write!(
                f,
                "COMPLETED (copy job {})",
                jobs.last().map_or("?", |j| j.copy_job_id.as_str())
            ),
            HopState::Failed(jobs) => write!(f, "{} failed attempt(s)", jobs.len()),
        }
    }
}

/// Jobs of `source_recovery_point_arn` into exactly `destination`, oldest first (by creation
/// date, then id, so the order is the same on every run).
pub fn jobs_into<'a>(
    jobs: &'a [ListedCopyJob],
    source_recovery_point_arn: &str,
    destination: &VaultArn,
) -> Vec<&'a ListedCopyJob> {
    let mut matching: Vec<&ListedCopyJob> = jobs
        .iter()
        .filter(|j| {
            j.source_recovery_point_arn == source_recovery_point_arn
                && j.destination_vault_arn == *destination
        })
        .collect();
    matching
        .sort_by(|a, b| (a.creation_date, &a.copy_job_id).cmp(&(b.creation_date, &b.copy_job_id)));
    matching
}

/// The state of the hop from `source_recovery_point_arn` into `destination`.
pub fn hop_state<'a>(
    jobs: &'a [ListedCopyJob],
    source_recovery_point_arn: &str,
    destination: &VaultArn,
) -> HopState<'a> {
    let matching = jobs_into(jobs, source_recovery_point_arn, destination);
    let done: Vec<_> = matching
        .iter()
        .copied()
        .filter(|j| j.state == Status::Completed)
        .collect();
    if !done.is_empty() {
        return HopState::Done(done);
    }
    if let Some(job) = matching.iter().rev().find(|j| !is_terminal(&j.state)) {
        return HopState::UnderWay(job);
    }
    if matching.is_empty() {
        HopState::NotStarted
    } else {
        HopState::Failed(matching)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const RP: &str = "arn:aws:backup:eu-west-1:111111111111:recovery-point:1";

    fn dest() -> VaultArn {
        "arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault"
            .parse()
            .unwrap()
    }

    fn job(id: &str, state: Status, minute: u32) -> ListedCopyJob {
        ListedCopyJob {
            copy_job_id: id.into(),
            source_recovery_point_arn: RP.into(),
            destination_vault_arn: dest(),
            state,
            creation_date: Some(Utc.with_ymd_and_hms(2026, 3, 2, 4, minute, 0).unwrap()),
            status_message: None,
            destination_recovery_point_arn: None,
            destination_lifecycle: None,
            iam_role_arn: None,
        }
    }

    #[test]
    fn states_in_order_of_precedence() {
        assert_eq!(hop_state(&[], RP, &dest()), HopState::NotStarted);
        let failed = [job("a", Status::Failed, 1), job("b", Status::Expired, 2)];
        let state = hop_state(&failed, RP, &dest());
        assert_eq!(state.failures(), 2);
        assert_eq!(state.next_attempt(), 3);
        // AWS keeps a retried job CREATED: under way, whatever failed before.
        let mut jobs = failed.to_vec();
        jobs.push(job("c", Status::Created, 3));
        assert!(
            matches!(hop_state(&jobs, RP, &dest()), HopState::UnderWay(j) if j.copy_job_id == "c")
        );
        assert_eq!(hop_state(&jobs, RP, &dest()).next_attempt(), 1);
        // An unknown state is treated as under way, never as missing.
        let odd = [job("d", Status::Other("QUEUED".into()), 1)];
        assert!(matches!(
            hop_state(&odd, RP, &dest()),
            HopState::UnderWay(_)
        ));
        jobs.push(job("e", Status::Completed, 4));
        assert!(matches!(hop_state(&jobs, RP, &dest()), HopState::Done(d) if d.len() == 1));
    }

    #[test]
    fn only_the_exact_pair_counts() {
        let mut other_dest = job("x", Status::Failed, 1);
        other_dest.destination_vault_arn =
            "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault"
                .parse()
                .unwrap();
        let mut other_point = job("y", Status::Completed, 1);
        other_point.source_recovery_point_arn = format!("{RP}0");
        assert_eq!(
            hop_state(&[other_dest, other_point], RP, &dest()),
            HopState::NotStarted
        );
    }

    #[test]
    fn a_terminal_event_state_overrides_a_lagging_listing() {
        let mut jobs = vec![job("a", Status::Running, 1)];
        merge_event_job(&mut jobs, job("a", Status::Failed, 1));
        assert_eq!(jobs[0].state, Status::Failed);
        // An older in-progress event never overrides a finished job.
        merge_event_job(&mut jobs, job("a", Status::Running, 1));
        assert_eq!(jobs[0].state, Status::Failed);
        // A job the listing does not have yet is added.
        merge_event_job(&mut jobs, job("b", Status::Completed, 2));
        assert_eq!(jobs.len(), 2);
    }
}
