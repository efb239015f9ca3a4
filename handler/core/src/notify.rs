//! The texts of notifications (SNS subject and message, posted to Slack as they are) for
//! failed jobs and the pre-prod refresh. Subjects stay under SNS's 100-character limit;
//! messages name the job, the resource, the accounts, how long it took, the outcome, AWS's
//! `statusMessage` and a console link.

use chrono::{DateTime, Utc};

use crate::config::StackConfig;
use crate::event::{BackupJobEvent, CopyJobEvent, RestoreJobEvent};
use crate::ids::Region;
use crate::plan::{Action, Hop};
use crate::restore::action::DnsChange;
use crate::restore::hook::HookExecution;
use crate::restore::resource::{self, Provenance, RestoredKind, RestoredResource, Stage};

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

/// `to - from`, readably ("42 s", "17 min", "2 h 05 min"); `None` without both ends.
pub fn duration(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<String> {
    let secs = (to? - from?).num_seconds().max(0);
    Some(if secs < 60 {
        format!("{secs} s")
    } else if secs < 3600 {
        format!("{} min {:02} s", secs / 60, secs % 60)
    } else {
        format!("{} h {:02} min", secs / 3600, (secs % 3600) / 60)
    })
}

fn console(region: &str, fragment: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/{fragment}")
}

/// The AWS Backup console page of a job (`kind`: backup, copy, restore).
pub fn job_console(region: &Region, kind: &str, job_id: &str) -> String {
    console(
        region.as_str(),
        &format!("backup/home?region={region}#/jobs/{kind}/details/{job_id}"),
    )
}

/// The console page of a restored resource.
pub fn resource_console(r: &RestoredResource) -> String {
    let region = r.arn.split(':').nth(3).unwrap_or_default();
    let id = &r.identifier;
    console(
        region,
        &match r.kind {
            RestoredKind::RdsInstance => {
                format!("rds/home?region={region}#database:id={id};is-cluster=false")
            }
            RestoredKind::AuroraCluster => {
                format!("rds/home?region={region}#database:id={id};is-cluster=true")
            }
            RestoredKind::DynamoDbTable => {
                format!("dynamodbv2/home?region={region}#table?name={id}")
            }
            RestoredKind::EfsFileSystem => format!("efs/home?region={region}#/file-systems/{id}"),
        },
    )
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
    line(
        &mut message,
        "Duration",
        duration(e.creation_date, e.completion_date.or(e.meta.time)).as_deref(),
    );
    line(
        &mut message,
        "Console",
        Some(&job_console(&e.meta.region, "backup", &e.backup_job_id)),
    );
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
    line(
        &mut message,
        "Duration",
        duration(e.creation_date, e.completion_date.or(e.meta.time)).as_deref(),
    );
    if let Some(id) = &e.copy_job_id {
        line(
            &mut message,
            "Console",
            Some(&job_console(&e.meta.region, "copy", id)),
        );
    }
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

fn accounts_line(message: &mut String, source_account: &str, preprod_account: &str) {
    line(
        message,
        "Accounts",
        Some(&format!(
            "production {source_account} -> pre-prod {preprod_account}"
        )),
    );
}

fn source_account_of(arn: &str) -> String {
    arn.split(':').nth(4).unwrap_or_default().to_owned()
}

/// A restore crossvault would start cannot start (no subnet group, over the size limit ...).
pub fn restore_cannot_start(
    config: &StackConfig,
    region: &Region,
    recovery_point: &str,
    source_resource: &str,
    reason: &str,
) -> Action {
    let mut message =
        format!("crossvault did not start the pre-prod restore of {source_resource}: {reason}.\n");
    accounts_line(
        &mut message,
        &source_account_of(source_resource),
        config.account_id.as_str(),
    );
    line(&mut message, "Recovery point", Some(recovery_point));
    line(
        &mut message,
        "Outcome",
        Some("not started; the pre-prod restore in place (if any) stays"),
    );
    line(
        &mut message,
        "Console",
        Some(&console(
            region.as_str(),
            &format!(
                "backup/home?region={region}#/backupvaults/details/{}",
                config.preprod_vault_name
            ),
        )),
    );
    message.push_str("Fix the parameter; the next arrival (or the reconciler, within ReconcileLookbackHours) restores it.");
    Action::Notify {
        subject: subject(format!(
            "crossvault: pre-prod restore not started in {} {region}",
            config.account_id
        )),
        message,
    }
}

/// A restore job crossvault started ended FAILED or ABORTED.
pub fn restore_failed(e: &RestoreJobEvent) -> Action {
    let mut message = format!(
        "crossvault's pre-prod restore job {} ended {} in account {}, region {}.\n",
        e.restore_job_id, e.status, e.meta.account, e.meta.region
    );
    if let Some(source) = e.source_resource_arn.as_deref() {
        accounts_line(
            &mut message,
            &source_account_of(source),
            e.meta.account.as_str(),
        );
    }
    line(
        &mut message,
        "Original resource",
        e.source_resource_arn.as_deref(),
    );
    line(
        &mut message,
        "Restored from",
        e.recovery_point_arn.as_deref(),
    );
    line(&mut message, "Status message", e.status_message.as_deref());
    line(
        &mut message,
        "Duration",
        duration(e.creation_date, e.completion_date.or(e.meta.time)).as_deref(),
    );
    line(
        &mut message,
        "Console",
        Some(&job_console(&e.meta.region, "restore", &e.restore_job_id)),
    );
    message.push_str(&format!(
        "Outcome: the pre-prod restore in place (if any) stays at the stable address. The reconciler \
         starts a new restore job under a new name while attempts remain ({} per recovery point).",
        crate::restore::settings::RESTORE_MAX_ATTEMPTS
    ));
    Action::Notify {
        subject: subject(format!(
            "crossvault: pre-prod restore {} in {} {}",
            e.status, e.meta.account, e.meta.region
        )),
        message,
    }
}

/// A restore crossvault started completed (its resource exists; masking comes next).
pub fn restore_completed(
    config: &StackConfig,
    e: &RestoreJobEvent,
    restored: &RestoredResource,
) -> Action {
    let source = e.source_resource_arn.as_deref().unwrap_or_default();
    let mut message = format!(
        "crossvault restored {source} into pre-prod as {} {}.\n",
        restored.kind, restored.identifier
    );
    accounts_line(
        &mut message,
        &source_account_of(source),
        e.meta.account.as_str(),
    );
    line(
        &mut message,
        "Restored from",
        e.recovery_point_arn.as_deref(),
    );
    line(&mut message, "New resource", Some(&restored.arn));
    line(
        &mut message,
        "Duration",
        duration(e.creation_date, e.completion_date.or(e.meta.time)).as_deref(),
    );
    line(
        &mut message,
        "Outcome",
        Some(match &config.restore.hook_document {
            Some(_) => "restored; the masking hook runs next, and only its success promotes it",
            None => "restored; promoted without masking (RestoreUnmasked = true)",
        }),
    );
    line(
        &mut message,
        "Console",
        Some(&job_console(&e.meta.region, "restore", &e.restore_job_id)),
    );
    message.push_str(
        "Production data is now in pre-prod: masking it is your duty (RestoreMaskingHook).",
    );
    Action::Notify {
        subject: subject(format!(
            "crossvault: pre-prod restore COMPLETED in {} {}",
            e.meta.account, e.meta.region
        )),
        message,
    }
}

fn in_place(restores: &[RestoredResource], source: &str) -> Option<String> {
    restores
        .iter()
        .filter(|r| r.stage() == Some(Stage::Promoted))
        .filter_map(|r| Some((r.provenance()?, r)))
        .filter(|(p, _)| p.source_resource == source)
        .max_by_key(|(p, _)| p.backup_time)
        .map(|(_, r)| r.arn.clone())
}

/// The masking hook failed: the restore is not promoted.
pub fn hook_failed(
    config: &StackConfig,
    restored: &RestoredResource,
    provenance: &Provenance,
    restores: &[RestoredResource],
    execution: &HookExecution,
) -> Action {
    let region = restored
        .arn
        .split(':')
        .nth(3)
        .unwrap_or_default()
        .to_owned();
    let mut message = format!(
        "The masking hook {} failed ({}) on {} {}: it is NOT promoted.\n",
        execution.document, execution.status_text, restored.kind, restored.identifier
    );
    accounts_line(
        &mut message,
        &provenance.source_account,
        config.account_id.as_str(),
    );
    line(
        &mut message,
        "Original resource",
        Some(&provenance.source_resource),
    );
    line(&mut message, "Restore", Some(&restored.arn));
    line(&mut message, "Execution", Some(&execution.execution_id));
    line(
        &mut message,
        "Failure",
        execution.failure_message.as_deref(),
    );
    line(
        &mut message,
        "Outcome",
        Some(&match in_place(restores, &provenance.source_resource) {
            Some(previous) => {
                format!("the previous restore {previous} stays at the stable address")
            }
            None => "nothing is at the stable address yet".to_owned(),
        }),
    );
    line(
        &mut message,
        "Console",
        Some(&console(
            &region,
            &format!(
                "systems-manager/automation/execution/{}?region={region}",
                execution.execution_id
            ),
        )),
    );
    message.push_str(
        "The unmasked restore is kept for inspection (tagged crossvault:stage = hook-failed) and \
         deleted by the next successful promotion; delete it sooner if it must not stay.",
    );
    Action::Notify {
        subject: subject(format!(
            "crossvault: masking hook failed in {} {region}",
            config.account_id
        )),
        message,
    }
}

/// A restore was promoted to the stable address.
pub fn promoted(
    config: &StackConfig,
    restored: &RestoredResource,
    provenance: &Provenance,
    parameter: &str,
    dns: Option<&DnsChange>,
    superseded: &[&RestoredResource],
    at: Option<DateTime<Utc>>,
) -> Action {
    let region = restored
        .arn
        .split(':')
        .nth(3)
        .unwrap_or_default()
        .to_owned();
    let mut message = format!(
        "crossvault promoted {} {} to pre-prod's stable address for {}.\n",
        restored.kind, restored.identifier, provenance.source_resource
    );
    accounts_line(
        &mut message,
        &provenance.source_account,
        config.account_id.as_str(),
    );
    line(
        &mut message,
        "Stable address",
        Some(&format!(
            "SSM parameter {parameter} = {}",
            restored.endpoint.as_deref().unwrap_or_default()
        )),
    );
    if let Some(dns) = dns {
        line(
            &mut message,
            "CNAME",
            Some(&format!("{} -> {}", dns.record_name, dns.target)),
        );
    }
    line(
        &mut message,
        "Backup taken",
        Some(&resource::tag_time(provenance.backup_time)),
    );
    let restored_at = restored
        .tag(resource::RESTORED_AT)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    line(
        &mut message,
        "Duration",
        duration(restored_at, at)
            .map(|d| format!("{d} from the end of the restore to promotion"))
            .as_deref(),
    );
    line(
        &mut message,
        "Outcome",
        Some(&if superseded.is_empty() {
            "promoted; no older restore to delete".to_owned()
        } else {
            format!(
                "promoted; deleting {} older restore(s): {}",
                superseded.len(),
                superseded
                    .iter()
                    .map(|r| r.arn.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }),
    );
    line(&mut message, "Console", Some(&resource_console(restored)));
    message.push_str(&match &config.restore.hook_document {
        Some(document) => format!("Masked by {document} before promotion."),
        None => "Promoted WITHOUT masking (RestoreUnmasked = true): it holds production data."
            .to_owned(),
    });
    Action::Notify {
        subject: subject(format!(
            "crossvault: pre-prod refresh promoted in {} {region}",
            config.account_id
        )),
        message,
    }
}
