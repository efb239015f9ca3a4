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

/// Where a failed hop stands: this job's attempt, how many attempts failed so far, and how
/// many crossvault makes (`CopyMaxAttempts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    /// Which attempt the failed job was (1-based).
    pub attempt: u32,
    /// Failed attempts of the hop so far.
    pub failures: u32,
    /// `CopyMaxAttempts`.
    pub max: u32,
}

/// A copy that failed because of a KMS key: the key (when known) and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    /// The key AWS's message names, or the recovery point's `EncryptionKeyArn`.
    pub key_arn: Option<String>,
}

/// Whether AWS's status message says the copy failed because of a KMS key (access to it,
/// or a key that cannot be used), and the key it names.
pub fn key_problem(status_message: Option<&str>) -> Option<KeyProblem> {
    let message = status_message?;
    let lower = message.to_ascii_lowercase();
    let about_keys = lower.contains("kms")
        || lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == "key");
    if !about_keys {
        return None;
    }
    let key_arn = message
        .split(|c: char| {
            c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '(' | ')' | '[' | ']' | '<' | '>')
        })
        .map(|t| t.trim_end_matches(['.', ';', ':']))
        .find(|t| t.starts_with("arn:") && t.contains(":kms:"))
        .map(str::to_owned);
    Some(KeyProblem { key_arn })
}

fn key_lines(message: &mut String, key: Option<&KeyProblem>) {
    let Some(key) = key else { return };
    line(
        message,
        "Key",
        Some(key.key_arn.as_deref().unwrap_or("not named by AWS")),
    );
    message.push_str(
        "Fix: the key's policy must let the destination account (the backup account; the pre-prod \
         account for pre-prod copies) use it for the copy: see template/README.md, \"Resources' own keys\". \
         A resource encrypted with an AWS managed key (aws/rds, aws/ebs, ...) can never be copied across \
         accounts: re-encrypt it with a customer managed key.\n",
    );
}

fn copy_job_lines(e: &CopyJobEvent, hop: Option<Hop>) -> String {
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
    message
}

/// What a failed or abandoned `hop` means for the original.
pub fn what_giving_up_means(hop: Hop) -> &'static str {
    match hop {
        // Pre-prod copies never count as offsite safety: the shortening does not wait for them.
        Hop::ToPreProd => "the original's retention does not depend on the pre-prod copy",
        _ => "the original is never shortened",
    }
}

fn retention_note(hop: Hop) -> &'static str {
    match hop {
        Hop::ToPreProd => {
            "The original's retention does not depend on this pre-prod copy (pre-prod copies never count as offsite safety)."
        }
        _ => "The original keeps its full retention.",
    }
}

/// A copy job from the managed vault ended FAILED, ABORTED, EXPIRED or PARTIAL (not the last
/// allowed attempt of a hop: see [`gave_up`]).
pub fn copy_job_failed(
    e: &CopyJobEvent,
    hop: Option<Hop>,
    attempts: Option<Attempts>,
    key: Option<KeyProblem>,
) -> Action {
    let mut message = copy_job_lines(e, hop);
    key_lines(&mut message, key.as_ref());
    match (hop, attempts) {
        (None, _) | (_, None) => message.push_str(
            "This copy is not a hop of crossvault's chain (its destination is not one the configuration \
             asks for), so crossvault does not retry it; no original is shortened because of it.",
        ),
        (Some(hop), Some(a)) if a.attempt > a.max => message.push_str(&format!(
            "{} crossvault had already given up on this hop \
             ({} failed attempts, CopyMaxAttempts = {}): it is not retried.",
            retention_note(hop),
            a.failures,
            a.max
        )),
        (Some(hop), Some(a)) => message.push_str(&format!(
            "{} This was attempt {} of {}: the reconciler starts \
             attempt {} with a new copy job on its next run (ReconcileSchedule).",
            retention_note(hop),
            a.attempt,
            a.max,
            a.failures + 1
        )),
    }
    Action::Notify {
        subject: subject(format!(
            "crossvault: copy job {} in {} {}",
            e.state, e.meta.account, e.meta.region
        )),
        message,
    }
}

/// The last allowed attempt of a hop failed: crossvault gives up on it (once: this notice
/// belongs to the failure event of that attempt).
pub fn gave_up(e: &CopyJobEvent, hop: Hop, attempts: Attempts, key: Option<KeyProblem>) -> Action {
    let mut message = format!(
        "crossvault gave up copying recovery point {} to {} ({hop}) after {} failed attempts \
         (CopyMaxAttempts = {}).\n",
        e.source_recovery_point_arn
            .as_deref()
            .unwrap_or("(not in the event)"),
        e.destination_backup_vault_arn,
        attempts.failures,
        attempts.max
    );
    message.push_str(&copy_job_lines(e, Some(hop)));
    key_lines(&mut message, key.as_ref());
    message.push_str(match hop {
        Hop::ToPreProd => {
            "The original's retention does not depend on the pre-prod copy. Fix the cause, then copy the point by hand, \
             or raise CopyMaxAttempts: the reconciler then tries again while the point is inside its look-back \
             (ReconcileLookbackHours)."
        }
        _ => {
            "The original is never shortened by crossvault and keeps its full retention. Fix the cause, then copy \
             the point by hand, or raise CopyMaxAttempts: the reconciler then resumes the chain while the point is \
             inside its look-back (ReconcileLookbackHours)."
        }
    });
    Action::Notify {
        subject: subject(format!(
            "crossvault: gave up copying to {} {}",
            e.destination_backup_vault_arn.account, e.destination_backup_vault_arn.region
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
