//! The morning after: what the organization holds, read back through the real APIs
//! (`ListRecoveryPointsByBackupVault`, `ListCopyJobs`, `ListRestoreJobs`, the notification
//! topic), rendered account by account and region by region, and checked against what
//! crossvault promises.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::org::{BACKUP_REGION, Org, PRIMARY_REGION, REGIONS};
use crate::runner::NightLog;
use crate::{Result, aws};

/// Said at the top of every story: what is real and what is emulated.
pub const EMULATION_NOTE: &str = "\
What is real and what is emulated here:
  - AWS itself is the local test bed: moto_server 5.2.1 extended with AWS Backup (tests/testbed),
    one endpoint for every service, each account entered through STS AssumeRole.
  - crossvault's template (template/crossvault.yaml) is evaluated per account and region by
    crossvault's template model; the vaults, vault policies, Vault Lock, SQS queues, EventBridge
    rules (the template's own event patterns) and SNS topic it declares are created through the
    real APIs. The harness plays CloudFormation: moto's CloudFormation runs neither custom
    resources nor AWS::Backup resources.
  - Custom resources (Custom::OrganizationInfo, Custom::BackupRegionSettings,
    Custom::BackupGlobalSettings) run through the handler's real custom-resource engine and
    answer over HTTP to a local ResponseURL.
  - The Lambda is the handler library's real entry (Handler::handle, what the bootstrap binary
    calls), in-process per account and region, with the configuration the template's
    HandlerFunction environment gives it. The harness plays Lambda's SQS event source mapping
    (batches from the real queue, partial-batch answers, visibility timeout, the queue's own
    redrive to the dead-letter queue) and the reconcile schedule.
  - Time: jobs take test bed time (a backup 10 minutes, a copy 30); the harness moves the
    organization's clock to the next job step when the queues are quiet, and the handler's
    clock follows it.
  - Not emulated: IAM permissions and roles, KMS keys and key policies, Lambda itself,
    CloudFormation itself.";

/// What the demo runs for real and what it emulates: it deploys through `crossvault deploy`
/// ([`crate::deployed`]), so CloudFormation makes the stacks and the harness plays only Lambda.
pub const DEPLOYED_EMULATION_NOTE: &str = "\
What is real and what is emulated here:
  - AWS itself is the local test bed: moto_server 5.2.1 extended with AWS Backup (tests/testbed),
    one endpoint for every service, each account entered through STS AssumeRole.
  - crossvault is deployed as a user deploys it: `crossvault deploy` (the CLI's own code, in
    process, as the management account) publishes the handler zip to an artifact bucket in every
    region, creates the service-managed StackSet and its instances, then the management
    account's plain stack. moto's CloudFormation creates every stack from
    template/crossvault.yaml: IAM roles, queues, event rules, the topic, the Lambda function and
    its event source mapping; the test bed makes a stack wait for its custom resources, as AWS
    does.
  - The harness plays only Lambda, which the test bed cannot run: each custom resource a stack
    waits for goes through the handler's real custom-resource engine (vault keys, vaults, their
    policies and locks, region and organization settings, the configuration check), whose answer
    is handed unchanged to the stack's response URL; the complete stack's queues, rules and topic
    are checked against the template before they are used.
  - The Lambda is the handler library's real entry (Handler::handle, what the bootstrap binary
    calls), in-process per account and region, with the configuration the template's
    HandlerFunction environment gives it. The harness plays Lambda's SQS event source mapping
    (batches from the real queue, partial-batch answers, visibility timeout, the queue's own
    redrive to the dead-letter queue) and the reconcile schedule.
  - Time: jobs take test bed time (a backup 10 minutes, a copy 30); the harness moves the
    organization's clock to the next job step when the queues are quiet, and the handler's
    clock follows it.
  - The pre-prod refresh: restore jobs create real (moto) DB instances from the copy that
    arrived, which emit RDS's DB-instance-created event (RDS-EVENT-0005); the masking hook's SSM Automation
    executions are the test bed's (they check the document and its parameters, run no step,
    and end with their EventBridge status change); Slack is a local HTTP stand-in.
  - Not emulated: IAM permissions (roles are created, never enforced), KMS key policies (keys
    are real, their policies not enforced), Lambda itself.";

/// A recovery point as `ListRecoveryPointsByBackupVault` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PointView {
    pub account: String,
    pub region: String,
    pub vault_name: String,
    pub arn: String,
    pub resource_arn: String,
    pub resource_type: String,
    pub status: String,
    pub creation_date: Option<DateTime<Utc>>,
    pub delete_after_days: Option<i64>,
    pub cold_after_days: Option<i64>,
    pub source_vault_arn: Option<String>,
}

/// A copy job as the source account's `ListCopyJobs` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyView {
    pub account: String,
    pub region: String,
    pub job_id: String,
    pub state: String,
    pub status_message: Option<String>,
    pub source_recovery_point_arn: String,
    pub destination_vault_arn: String,
    pub destination_recovery_point_arn: Option<String>,
    /// The backup plan whose copy action started it (`CreatedBy.BackupPlanId`), if any.
    pub created_by_plan: Option<String>,
}

/// A restore job (`ListRestoreJobs`).
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreView {
    pub account: String,
    pub region: String,
    pub job_id: String,
    pub status: String,
    pub recovery_point_arn: String,
    pub created_resource_arn: Option<String>,
}

/// One of crossvault's pre-prod restores, with the stable address of its production database
/// and its masking hook's status.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshView {
    pub account: String,
    pub region: String,
    pub restored: crate::refresh::Restored,
    /// The stable address parameter of its production database, and what it holds now.
    pub address_parameter: Option<String>,
    pub address: Option<String>,
    /// `GetAutomationExecution` of the hook execution it records.
    pub hook_status: Option<String>,
}

/// A message the handler published to its topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub account: String,
    pub region: String,
    pub subject: String,
    pub message: String,
}

/// Everything the organization holds after the night.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub points: Vec<PointView>,
    pub copies: Vec<CopyView>,
    pub restores: Vec<RestoreView>,
    pub refresh: Vec<RefreshView>,
    pub notifications: Vec<Notification>,
}

impl Outcome {
    pub fn point(&self, arn: &str) -> Option<&PointView> {
        self.points.iter().find(|p| p.arn == arn)
    }

    /// The points in `account`/`region`.
    pub fn points_in(&self, account: &str, region: &str) -> Vec<&PointView> {
        self.points
            .iter()
            .filter(|p| p.account == account && p.region == region)
            .collect()
    }

    /// Copy jobs that duplicate another (same source point, same destination, neither
    /// FAILED), one line per pair. Empty when every copy was made exactly once.
    pub fn duplicate_copies(&self) -> Vec<String> {
        let mut seen = BTreeMap::<(&str, &str), Vec<&str>>::new();
        for c in &self.copies {
            if c.state == "FAILED" {
                continue;
            }
            seen.entry((&c.source_recovery_point_arn, &c.destination_vault_arn))
                .or_default()
                .push(&c.job_id);
        }
        seen.into_iter()
            .filter(|(_, jobs)| jobs.len() > 1)
            .map(|((rp, vault), jobs)| format!("{rp} -> {vault}: {} jobs {jobs:?}", jobs.len()))
            .collect()
    }

    /// The copy jobs out of `source_recovery_point_arn`.
    pub fn copies_of(&self, source_recovery_point_arn: &str) -> Vec<&CopyView> {
        self.copies
            .iter()
            .filter(|c| c.source_recovery_point_arn == source_recovery_point_arn)
            .collect()
    }
}

fn to_chrono(d: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(d.secs(), d.subsec_nanos())
}

/// Reads the outcome through the APIs, as each account sees it. Notifications are taken off
/// the observer queues, so each is returned by exactly one `collect`.
pub async fn collect(org: &Org) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    for installation in &org.installations {
        let Some(vault) = &installation.vault_name else {
            continue;
        };
        let backup = installation.backup();
        let (account, region) = (&installation.account_id, &installation.region);
        let mut pages = backup
            .list_recovery_points_by_backup_vault()
            .backup_vault_name(vault)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws("backup:ListRecoveryPointsByBackupVault"))?;
            for rp in page.recovery_points.unwrap_or_default() {
                outcome.points.push(PointView {
                    account: account.clone(),
                    region: region.clone(),
                    vault_name: vault.clone(),
                    arn: rp.recovery_point_arn.unwrap_or_default(),
                    resource_arn: rp.resource_arn.unwrap_or_default(),
                    resource_type: rp.resource_type.unwrap_or_default(),
                    status: rp.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    creation_date: rp.creation_date.as_ref().and_then(to_chrono),
                    delete_after_days: rp.lifecycle.as_ref().and_then(|l| l.delete_after_days),
                    cold_after_days: rp
                        .lifecycle
                        .as_ref()
                        .and_then(|l| l.move_to_cold_storage_after_days),
                    source_vault_arn: rp.source_backup_vault_arn,
                });
            }
        }
        let mut pages = backup.list_copy_jobs().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws("backup:ListCopyJobs"))?;
            for job in page.copy_jobs.unwrap_or_default() {
                outcome.copies.push(CopyView {
                    account: account.clone(),
                    region: region.clone(),
                    job_id: job.copy_job_id.unwrap_or_default(),
                    state: job.state.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    status_message: job.status_message,
                    source_recovery_point_arn: job.source_recovery_point_arn.unwrap_or_default(),
                    destination_vault_arn: job.destination_backup_vault_arn.unwrap_or_default(),
                    destination_recovery_point_arn: job.destination_recovery_point_arn,
                    created_by_plan: job.created_by.and_then(|c| c.backup_plan_id),
                });
            }
        }
        let mut pages = backup.list_restore_jobs().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws("backup:ListRestoreJobs"))?;
            for job in page.restore_jobs.unwrap_or_default() {
                outcome.restores.push(RestoreView {
                    account: account.clone(),
                    region: region.clone(),
                    job_id: job.restore_job_id.unwrap_or_default(),
                    status: job
                        .status
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    recovery_point_arn: job.recovery_point_arn.unwrap_or_default(),
                    created_resource_arn: job.created_resource_arn,
                });
            }
        }
        if installation.role == crossvault_core::Role::PreProd {
            for restored in crate::refresh::restores(org, account, region).await? {
                let source = restored.source().map(str::to_owned);
                let source_account = restored
                    .tags
                    .get(crossvault_core::restore::resource::SOURCE_ACCOUNT)
                    .cloned();
                let (address_parameter, address) = match (&source_account, &source) {
                    (Some(a), Some(s)) => (
                        Some(crate::refresh::address_parameter(a, s)),
                        crate::refresh::stable_address(org, region, a, s).await?,
                    ),
                    _ => (None, None),
                };
                let hook_status = match restored.hook_execution() {
                    Some(id) => Some(crate::refresh::hook_status(org, region, id).await?),
                    None => None,
                };
                outcome.refresh.push(RefreshView {
                    account: account.clone(),
                    region: region.clone(),
                    restored,
                    address_parameter,
                    address,
                    hook_status,
                });
            }
        }
        if let Some(queue) = &installation.notifications_queue_url {
            let sqs = installation.sqs();
            loop {
                let messages = crate::runner::receive(&sqs, queue, 10).await?;
                if messages.is_empty() {
                    break;
                }
                for m in messages {
                    let body: Value =
                        serde_json::from_str(m.body.as_deref().unwrap_or("")).unwrap_or_default();
                    outcome.notifications.push(Notification {
                        account: account.clone(),
                        region: region.clone(),
                        subject: body["Subject"].as_str().unwrap_or_default().to_owned(),
                        message: body["Message"].as_str().unwrap_or_default().to_owned(),
                    });
                    sqs.delete_message()
                        .queue_url(queue)
                        .receipt_handle(m.receipt_handle.unwrap_or_default())
                        .send()
                        .await
                        .map_err(aws("sqs:DeleteMessage (notifications)"))?;
                }
            }
        }
    }
    Ok(outcome)
}

/// What crossvault promises for one original of the night, worked out from the StackSet
/// parameters and the promises README.md states (not from the handler's code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promise {
    pub original: String,
    pub account: String,
    pub region: String,
    /// Every vault a copy must land in, with the copy's `DeleteAfterDays`.
    pub copies: Vec<(String, i64)>,
    /// The original's `DeleteAfterDays` afterwards.
    pub original_delete_after_days: i64,
    /// The original's `MoveToColdStorageAfterDays` afterwards (kept as it was).
    pub original_cold_after_days: Option<i64>,
}

fn param<'a>(org: &'a Org, name: &str, default: &'a str) -> &'a str {
    org.params.get(name).map(String::as_str).unwrap_or(default)
}

/// The promises for the night's originals. `now` is the test bed's clock.
pub fn promises(
    org: &Org,
    night: &NightLog,
    now: DateTime<Utc>,
    outcome: &Outcome,
) -> Vec<Promise> {
    let backup_region = param(org, "BackupRegion", BACKUP_REGION);
    let alternate = param(org, "BackupRegionAlternate", PRIMARY_REGION);
    let vault = param(org, "VaultName", "crossvault");
    let copy_days: i64 = param(org, "CopyDeleteAfterDays", "35")
        .parse()
        .unwrap_or(35);
    let new_days: i64 = param(org, "NewDeleteAfterDays", "7").parse().unwrap_or(7);
    let local = param(org, "CopyToLocalRegion", "false") == "true";
    let tag_key = param(org, "PreProdTagKey", "CopyToPreProd");
    let tag_value = param(org, "PreProdTagValue", "true");
    let preprod = param(org, "PreProdAccountIds", "")
        .split(',')
        .find(|s| !s.is_empty())
        .map(str::to_owned);
    let backup_account = param(org, "BackupAccountId", "");
    let mut out = Vec::new();
    for b in &night.backups {
        let Some(original) = &b.recovery_point_arn else {
            continue;
        };
        let region = b.spec.region.as_str();
        let offsite = if region == backup_region {
            alternate
        } else {
            backup_region
        };
        let resource_type = b.spec.resource.as_ref().map_or("RDS", |(t, _)| t.as_str());
        let two_hop = param(org, "TwoHopResourceTypes", "")
            .split(',')
            .any(|t| t.trim() == resource_type);
        // A two-hop type goes into the backup account in its own region first; the backup
        // account forwards it (a copy the source account does not own).
        let mut copies = if two_hop {
            vec![(Org::vault_arn(backup_account, region, vault), copy_days)]
        } else {
            vec![(Org::vault_arn(backup_account, offsite, vault), copy_days)]
        };
        if local && !two_hop {
            copies.push((Org::vault_arn(backup_account, region, vault), copy_days));
        }
        let tagged = b
            .spec
            .tags
            .iter()
            .any(|(k, v)| k == tag_key && v == tag_value);
        if let (true, Some(pp)) = (tagged, &preprod) {
            copies.push((Org::vault_arn(pp, region, vault), copy_days));
        }
        // Shortened to NewDeleteAfterDays, never below the point's age (whole days, rounded
        // up) + 1, never below its cold-storage days + 90 (both fields kept), never lengthened,
        // and never when the original outlives its copies (that would cut the organization's
        // total retention).
        let created = outcome
            .point(original)
            .and_then(|p| p.creation_date)
            .unwrap_or(now);
        let secs = (now - created).num_seconds().max(0);
        let age = (secs + 86_399) / 86_400;
        let before = b.spec.delete_after_days;
        let cold_floor = b.spec.cold_after_days.map_or(0, |c| c + 90);
        let shortened = if before > copy_days {
            before
        } else {
            new_days.max(age + 1).max(cold_floor).min(before)
        };
        out.push(Promise {
            original: original.clone(),
            account: b.spec.account.clone(),
            region: region.to_owned(),
            copies,
            original_delete_after_days: shortened,
            original_cold_after_days: b.spec.cold_after_days,
        });
    }
    out
}

/// Every promise the outcome breaks (empty = the story is what crossvault promises).
pub fn check(org: &Org, night: &NightLog, now: DateTime<Utc>, outcome: &Outcome) -> Vec<String> {
    let mut broken = Vec::new();
    let copy_days: i64 = param(org, "CopyDeleteAfterDays", "35")
        .parse()
        .unwrap_or(35);
    for b in &night.backups {
        if b.recovery_point_arn.is_none() || b.state != "COMPLETED" {
            broken.push(format!(
                "backup job {} of {} did not complete ({})",
                b.backup_job_id, b.resource_arn, b.state
            ));
        }
    }
    for promise in promises(org, night, now, outcome) {
        let Some(original) = outcome.point(&promise.original) else {
            broken.push(format!("original {} is gone", promise.original));
            continue;
        };
        let copies = outcome.copies_of(&promise.original);
        for (vault, days) in &promise.copies {
            let done: Vec<_> = copies
                .iter()
                .filter(|c| &c.destination_vault_arn == vault && c.state == "COMPLETED")
                .collect();
            let [job] = done.as_slice() else {
                broken.push(format!(
                    "{}: expected exactly one COMPLETED copy into {vault}, found {} (jobs: {})",
                    promise.original,
                    done.len(),
                    copies
                        .iter()
                        .map(|c| format!("{}→{} {}", c.job_id, c.destination_vault_arn, c.state))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            };
            let landed = job
                .destination_recovery_point_arn
                .as_deref()
                .and_then(|arn| outcome.point(arn));
            match landed {
                None => broken.push(format!(
                    "{}: copy job {} into {vault} COMPLETED but its recovery point is not in the vault",
                    promise.original, job.job_id
                )),
                Some(copy) if copy.delete_after_days != Some(*days) => broken.push(format!(
                    "{}: the copy in {vault} keeps {:?} days, expected {days}",
                    promise.original, copy.delete_after_days
                )),
                Some(_) => {}
            }
        }
        for extra in copies.iter().filter(|c| {
            !promise
                .copies
                .iter()
                .any(|(v, _)| *v == c.destination_vault_arn)
        }) {
            broken.push(format!(
                "{}: unexpected copy job {} into {} ({})",
                promise.original, extra.job_id, extra.destination_vault_arn, extra.state
            ));
        }
        if original.cold_after_days != promise.original_cold_after_days {
            broken.push(format!(
                "original {} in {}/{} moves to cold storage after {:?} days, expected {:?}",
                promise.original,
                promise.account,
                promise.region,
                original.cold_after_days,
                promise.original_cold_after_days
            ));
        }
        if original.delete_after_days != Some(promise.original_delete_after_days) {
            broken.push(format!(
                "original {} in {}/{} keeps {:?} days, expected {} after its copies",
                promise.original,
                promise.account,
                promise.region,
                original.delete_after_days,
                promise.original_delete_after_days
            ));
        }
    }
    // Nothing is ever shortened outside source accounts.
    for p in &outcome.points {
        let central_or_preprod = p.account == org.ids.backup || p.account == org.ids.preprod;
        if central_or_preprod && p.delete_after_days != Some(copy_days) {
            broken.push(format!(
                "{} in {}/{} ({}) keeps {:?} days; copies keep {copy_days}",
                p.arn,
                p.account,
                p.region,
                org.ids.label(&p.account),
                p.delete_after_days
            ));
        }
    }
    for d in &night.dead_letters {
        broken.push(format!(
            "an event was dead-lettered in {}/{}: {}",
            d.account,
            d.region,
            d.reason
                .as_deref()
                .unwrap_or("(moved by the queue's redrive policy after maxReceiveCount)")
        ));
    }
    broken.extend(check_refresh(org, night, outcome));
    for n in outcome
        .notifications
        .iter()
        .filter(|n| !is_good_news(&n.subject))
    {
        broken.push(format!(
            "{}/{} notified a failure: {}",
            n.account, n.region, n.subject
        ));
    }
    broken
}

/// A refresh's progress (a restore made, a restore promoted): good news, not a failure.
pub fn is_good_news(subject: &str) -> bool {
    [
        "crossvault: pre-prod restore COMPLETED",
        "crossvault: pre-prod refresh promoted",
    ]
    .iter()
    .any(|g| subject.starts_with(g))
}

/// What the pre-prod refresh promises for the night, worked out from the StackSet parameters
/// (README.md, "Pre-prod restore"): with `RestoreOnArrival`, every production database the
/// night copied to pre-prod (it carries the pre-prod tag) ends with its newest restore masked
/// (the hook's execution succeeded) and promoted, its stable address holding that restore's
/// endpoint, and no more of crossvault's restores of it than `RestoreKeep`. One line per
/// broken promise.
pub fn check_refresh(org: &Org, night: &NightLog, outcome: &Outcome) -> Vec<String> {
    let mut broken = Vec::new();
    if param(org, "RestoreOnArrival", "false") != "true" {
        return broken;
    }
    let tag_key = param(org, "PreProdTagKey", "CopyToPreProd");
    let tag_value = param(org, "PreProdTagValue", "true");
    let keep: usize = param(org, "RestoreKeep", "1").parse().unwrap_or(1);
    let masked = !param(org, "RestoreMaskingHook", "").is_empty();
    let preprod = &org.ids.preprod;
    for b in &night.backups {
        if !b
            .spec
            .tags
            .iter()
            .any(|(k, v)| k == tag_key && v == tag_value)
        {
            continue;
        }
        let region = &b.spec.region;
        let mut mine: Vec<&RefreshView> = outcome
            .refresh
            .iter()
            .filter(|r| {
                &r.account == preprod
                    && &r.region == region
                    && r.restored.source() == Some(b.resource_arn.as_str())
            })
            .collect();
        mine.sort_by_key(|r| {
            r.restored
                .tags
                .get(crossvault_core::restore::resource::BACKUP_TIME)
                .cloned()
        });
        let Some(newest) = mine.last() else {
            broken.push(format!(
                "{}: no pre-prod restore in {preprod}/{region}",
                b.resource_arn
            ));
            continue;
        };
        let id = &newest.restored.identifier;
        if newest.restored.stage() != "promoted" {
            broken.push(format!(
                "{}: its newest restore {id} is {}, not promoted",
                b.resource_arn,
                newest.restored.stage()
            ));
        }
        if newest.address.is_none() || newest.address != newest.restored.endpoint {
            broken.push(format!(
                "{}: the stable address {} holds {:?}, not the newest restore's endpoint {:?}",
                b.resource_arn,
                newest.address_parameter.as_deref().unwrap_or("(none)"),
                newest.address,
                newest.restored.endpoint
            ));
        }
        if masked && newest.hook_status.as_deref() != Some("Success") {
            broken.push(format!(
                "{}: {id} was promoted without a successful masking hook (execution {:?}: {:?})",
                b.resource_arn,
                newest.restored.hook_execution(),
                newest.hook_status
            ));
        }
        if mine.len() > keep {
            broken.push(format!(
                "{}: {} of crossvault's restores left, RestoreKeep = {keep}: {}",
                b.resource_arn,
                mine.len(),
                mine.iter()
                    .map(|r| r.restored.identifier.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    broken
}

fn short(arn: &str) -> String {
    let tail = arn.rsplit([':', '/']).next().unwrap_or(arn);
    if tail.len() > 16 {
        format!("…{}", &tail[tail.len() - 12..])
    } else {
        tail.to_owned()
    }
}

fn resource_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// `arn:aws:backup:R:A:backup-vault:N` → `A/R N`.
fn vault_label(arn: &str) -> String {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() >= 7 {
        format!("{}/{} {}", parts[4], parts[3], parts[6])
    } else {
        arn.to_owned()
    }
}

fn days(d: Option<i64>) -> String {
    d.map_or("no expiry".into(), |d| format!("{d} days"))
}

/// The account-by-account, region-by-region story.
pub fn render(org: &Org, night: &NightLog, outcome: &Outcome) -> String {
    let mut accounts = org.ids.sources.clone();
    accounts.extend([
        org.ids.backup.clone(),
        org.ids.preprod.clone(),
        org.ids.management.clone(),
    ]);
    render_accounts(org, night, outcome, &accounts)
}

/// The story of `accounts` only, region by region.
pub fn render_accounts(
    org: &Org,
    night: &NightLog,
    outcome: &Outcome,
    accounts: &[String],
) -> String {
    let mut s = String::new();
    let initial: BTreeMap<&str, i64> = night
        .backups
        .iter()
        .filter_map(|b| Some((b.recovery_point_arn.as_deref()?, b.spec.delete_after_days)))
        .collect();
    let tags: BTreeMap<&str, &Vec<(String, String)>> = night
        .backups
        .iter()
        .filter_map(|b| Some((b.recovery_point_arn.as_deref()?, &b.spec.tags)))
        .collect();
    for account in accounts {
        let _ = writeln!(s, "\n{} {account}", org.ids.label(account));
        for region in REGIONS {
            let Ok(installation) = org.installation(account, region) else {
                continue;
            };
            let points = outcome.points_in(account, region);
            let Some(vault) = &installation.vault_name else {
                let customs: Vec<String> = installation
                    .custom_resources
                    .iter()
                    .map(|c| format!("{} {}", c.resource_type, c.status))
                    .collect();
                let _ = writeln!(
                    s,
                    "  {region:<13} no vault (role {}); {}",
                    installation.role,
                    customs.join(", ")
                );
                continue;
            };
            if points.is_empty() {
                let _ = writeln!(s, "  {region:<13} {vault}: empty");
                continue;
            }
            for p in points {
                let originals_here = installation.role == crossvault_core::Role::Source;
                if originals_here {
                    let tag_note = tags
                        .get(p.arn.as_str())
                        .filter(|t| !t.is_empty())
                        .map(|t| {
                            format!(
                                ", {}",
                                t.iter()
                                    .map(|(k, v)| format!("{k}={v}"))
                                    .collect::<Vec<_>>()
                                    .join(",")
                            )
                        })
                        .unwrap_or_default();
                    let _ = writeln!(
                        s,
                        "  {region:<13} {} ({}{tag_note})  recovery point {}",
                        resource_name(&p.resource_arn),
                        p.resource_type,
                        short(&p.arn)
                    );
                    for c in outcome.copies_of(&p.arn) {
                        let landed = c
                            .destination_recovery_point_arn
                            .as_deref()
                            .and_then(|a| outcome.point(a));
                        match (c.state.as_str(), landed) {
                            ("COMPLETED", Some(copy)) => {
                                let _ = writeln!(
                                    s,
                                    "                → copied to {} ({})",
                                    vault_label(&c.destination_vault_arn),
                                    days(copy.delete_after_days)
                                );
                            }
                            // An aws/rds original's re-encrypted copy (crossvault's working
                            // vault, not collected): where its copies went.
                            ("COMPLETED", None)
                                if c.destination_vault_arn.ends_with("-reencrypt") =>
                            {
                                let _ = writeln!(
                                    s,
                                    "                → re-encrypted in {}",
                                    vault_label(&c.destination_vault_arn)
                                );
                                let copy = c
                                    .destination_recovery_point_arn
                                    .as_deref()
                                    .unwrap_or_default();
                                for onward in outcome.copies_of(copy) {
                                    let _ = writeln!(
                                        s,
                                        "                  → copied on to {} {}",
                                        vault_label(&onward.destination_vault_arn),
                                        onward.state
                                    );
                                }
                            }
                            (state, _) => {
                                let _ = writeln!(
                                    s,
                                    "                ✗ copy to {} {state}: {}",
                                    vault_label(&c.destination_vault_arn),
                                    c.status_message.as_deref().unwrap_or("")
                                );
                            }
                        }
                    }
                    match initial.get(p.arn.as_str()) {
                        Some(before) if Some(*before) != p.delete_after_days => {
                            let _ = writeln!(
                                s,
                                "                → original shortened {before} → {}",
                                days(p.delete_after_days)
                            );
                        }
                        _ => {
                            let _ = writeln!(
                                s,
                                "                → original kept: {}",
                                days(p.delete_after_days)
                            );
                        }
                    }
                } else {
                    let from = p
                        .source_vault_arn
                        .as_deref()
                        .map(vault_label)
                        .unwrap_or_else(|| "?".into());
                    let _ = writeln!(
                        s,
                        "  {region:<13} {vault}: {} ({}) from {from}  {}  ({}, untouched)",
                        resource_name(&p.resource_arn),
                        p.resource_type,
                        short(&p.arn),
                        days(p.delete_after_days)
                    );
                }
            }
            for r in outcome
                .restores
                .iter()
                .filter(|r| &r.account == account && r.region == region)
            {
                let made = r.created_resource_arn.as_deref().map(resource_name);
                let gone = made.is_some_and(|id| {
                    !outcome.refresh.iter().any(|v| {
                        &v.account == account && v.region == region && v.restored.identifier == id
                    })
                });
                let _ = writeln!(
                    s,
                    "  {region:<13} restore job {}: {} → {}{}",
                    r.status,
                    short(&r.recovery_point_arn),
                    made.unwrap_or("-"),
                    if gone { " (deleted since)" } else { "" }
                );
            }
            for v in outcome
                .refresh
                .iter()
                .filter(|v| &v.account == account && v.region == region)
            {
                let tags = &v.restored.tags;
                let _ = writeln!(
                    s,
                    "  {region:<13} {}: {} as backed up {}{}, {}",
                    v.restored.identifier,
                    v.restored.source().map(resource_name).unwrap_or("?"),
                    tags.get(crossvault_core::restore::resource::BACKUP_TIME)
                        .map_or("?", String::as_str),
                    v.hook_status
                        .as_deref()
                        .map(|h| format!(", masking hook {h}"))
                        .unwrap_or_default(),
                    v.restored.stage(),
                );
                if v.address.is_some() && v.address == v.restored.endpoint {
                    let _ = writeln!(
                        s,
                        "                → at the stable address {} = {}",
                        v.address_parameter.as_deref().unwrap_or("?"),
                        v.address.as_deref().unwrap_or("?")
                    );
                }
            }
            for n in outcome
                .notifications
                .iter()
                .filter(|n| &n.account == account && n.region == region)
            {
                let _ = writeln!(s, "  {region:<13} notified: {}", n.subject);
            }
        }
    }
    s
}
