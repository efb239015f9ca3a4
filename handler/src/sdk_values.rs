//! Reading SDK values into the core's types, the same way everywhere.

use aws_sdk_backup::types::{CopyJob, Lifecycle};
use chrono::{DateTime, Utc};
use crossvault_core::event::Status;
use crossvault_core::{CurrentLifecycle, ListedCopyJob, VaultArn};

/// An SDK timestamp as a UTC date-time (`None` if out of chrono's range).
pub fn utc(d: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(d.secs(), d.subsec_nanos())
}

/// A UTC date-time as an SDK timestamp (whole seconds).
pub fn smithy(d: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(d.timestamp())
}

/// A lifecycle day count: AWS uses absent or `-1` for "no such step", the core uses `None`.
pub fn lifecycle_days(v: Option<i64>) -> Option<u32> {
    v.filter(|d| *d >= 0).and_then(|d| u32::try_from(d).ok())
}

/// An SDK lifecycle (absent = none of its steps).
pub fn lifecycle(l: Option<&Lifecycle>) -> CurrentLifecycle {
    CurrentLifecycle {
        delete_after_days: lifecycle_days(l.and_then(|l| l.delete_after_days)),
        move_to_cold_storage_after_days: lifecycle_days(
            l.and_then(|l| l.move_to_cold_storage_after_days),
        ),
        opt_in_to_archive: l.and_then(|l| l.opt_in_to_archive_for_supported_resources),
    }
}

/// A `ListCopyJobs` entry (`None` without the fields the chain needs: id, source, a parsable
/// destination vault and a state).
pub fn listed_copy_job(job: CopyJob) -> Option<ListedCopyJob> {
    Some(ListedCopyJob {
        destination_vault_arn: VaultArn::parse(job.destination_backup_vault_arn.as_deref()?)
            .ok()?,
        state: Status::parse(job.state.as_ref()?.as_str()),
        creation_date: job.creation_date.as_ref().and_then(utc),
        // A job that has not finished has no lifecycle worth reading; absent = not reported.
        destination_lifecycle: job
            .destination_recovery_point_lifecycle
            .as_ref()
            .map(|l| lifecycle(Some(l))),
        copy_job_id: job.copy_job_id?,
        source_recovery_point_arn: job.source_recovery_point_arn?,
        status_message: job.status_message,
        destination_recovery_point_arn: job.destination_recovery_point_arn,
        iam_role_arn: job.iam_role_arn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_backup::types::CopyJobState;

    #[test]
    fn minus_one_and_absent_mean_none() {
        assert_eq!(lifecycle_days(Some(-1)), None);
        assert_eq!(lifecycle_days(None), None);
        assert_eq!(lifecycle_days(Some(35)), Some(35));
        assert_eq!(
            utc(&aws_smithy_types::DateTime::from_secs(1_700_000_000))
                .unwrap()
                .to_rfc3339(),
            "2023-11-14T22:13:20+00:00"
        );
    }

    #[test]
    fn copy_jobs_keep_their_lifecycle_and_an_absent_one_stays_unknown() {
        let job = |l: Option<Lifecycle>| {
            CopyJob::builder()
                .copy_job_id("J")
                .source_recovery_point_arn("arn:aws:backup:eu-west-1:111111111111:recovery-point:1")
                .destination_backup_vault_arn(
                    "arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault",
                )
                .state(CopyJobState::Completed)
                .set_destination_recovery_point_lifecycle(l)
                .build()
        };
        let listed = listed_copy_job(job(Some(
            Lifecycle::builder().delete_after_days(35).build(),
        )))
        .unwrap();
        assert_eq!(listed.state, Status::Completed);
        assert_eq!(
            listed.destination_lifecycle,
            Some(CurrentLifecycle::delete_after(35))
        );
        assert_eq!(
            listed_copy_job(job(None)).unwrap().destination_lifecycle,
            None
        );
        assert!(
            listed_copy_job(CopyJob::builder().copy_job_id("J").build()).is_none(),
            "no source, no destination"
        );
    }
}
