//! The texts of notifications (SNS subject and message) for failed jobs and pre-prod restores.
//! Subjects stay under SNS's 100-character limit; messages name the job, the resource, the
//! vaults and AWS's `statusMessage`.

use crate::event::{BackupJobEvent, CopyJobEvent, RestoreJobEvent};
use crate::plan::{Action, Hop};

/// SNS subjects may be at most 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 100;

fn subject(text: String) -> String {
    if text.chars().count() <= MAX_SUBJECT_CHARS {
        text
    } else {
        let mut s: String = text.chars().take(MAX_SUBJECT_CHARS - 1).collect();
        s.push('…');
        s
    }
}

fn line(out: &mut String, label: &str, value: Option<&str>) {
    out.push_str(label);
    out.push_str(": ");
    out.push_str(value.unwrap_or("(not in the event)"));
    out.push('\n');
}

/// A backup job in the managed vault ended FAILED, ABORTED or EXPIRED.
pub fn backup_job_failed(e: &BackupJobEvent) -> Action {
    let mut message = format!(
        "AWS Backup job {} ended {} in account {}, region {}.\n",
        e.backup_job_id, e.state, e.meta.account, e.meta.region
    );
    line(&mut message, "Resource", e.resource_arn.as_deref());
    line(&mut message, "Resource type", e.resource_type.as_deref());
    line(&mut message, "Vault", Some(&e.backup_vault_arn.to_string()));
    line(&mut message, "Status message", e.status_message.as_deref());
    message.push_str("No copy is made for this backup; the resource has no new recovery point.");
    Action::Notify {
        subject: subject(format!(
            "crossvault: backup job {} in {} {}",
            e.state, e.meta.account, e.meta.region
        )),
        message,
    }
}

/// A copy job from the managed vault ended FAILED, ABORTED, EXPIRED or PARTIAL.
pub fn copy_job_failed(e: &CopyJobEvent, hop: Option<Hop>) -> Action {
    let mut message = format!(
        "AWS Backup copy job {} ended {} in account {}, region {}.\n",
        e.copy_job_id.as_deref().unwrap_or("(no id)"),
        e.state,
        e.meta.account,
        e.meta.region
    );
    line(&mut message, "Resource", e.resource_arn.as_deref());
    line(&mut message, "Resource type", e.resource_type.as_deref());
    line(
        &mut message,
        "Recovery point",
        e.source_recovery_point_arn.as_deref(),
    );
    line(
        &mut message,
        "From vault",
        Some(&e.source_backup_vault_arn.to_string()),
    );
    line(
        &mut message,
        "To vault",
        Some(&e.destination_backup_vault_arn.to_string()),
    );
    line(&mut message, "Hop", hop.map(|h| h.to_string()).as_deref());
    line(&mut message, "Status message", e.status_message.as_deref());
    message.push_str(
        "The copy chain stops here; the original keeps its full retention. \
         The reconciler retries the hop on its next run.",
    );
    Action::Notify {
        subject: subject(format!(
            "crossvault: copy job {} in {} {}",
            e.state, e.meta.account, e.meta.region
        )),
        message,
    }
}

/// A restore job in a pre-prod account finished (COMPLETED or not).
pub fn restore_job_finished(e: &RestoreJobEvent) -> Action {
    let ok = e.status == crate::event::Status::Completed;
    let mut message = format!(
        "Pre-prod restore job {} ended {} in account {}, region {}.\n",
        e.restore_job_id, e.status, e.meta.account, e.meta.region
    );
    line(
        &mut message,
        "Restored from",
        e.recovery_point_arn.as_deref(),
    );
    line(
        &mut message,
        "Original resource",
        e.source_resource_arn.as_deref(),
    );
    line(&mut message, "Resource type", e.resource_type.as_deref());
    if ok {
        line(
            &mut message,
            "New resource",
            e.created_resource_arn.as_deref(),
        );
    }
    line(&mut message, "Status message", e.status_message.as_deref());
    message.push_str(&format!(
        "Console: https://{r}.console.aws.amazon.com/backup/home?region={r}#/jobs/restore/details/{id}",
        r = e.meta.region,
        id = e.restore_job_id
    ));
    Action::Notify {
        subject: subject(format!(
            "crossvault: pre-prod restore {} in {} {}",
            e.status, e.meta.account, e.meta.region
        )),
        message,
    }
}
