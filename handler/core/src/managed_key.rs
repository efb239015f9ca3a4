//! RDS and Aurora recovery points encrypted with an AWS managed key (`aws/rds`).
//!
//! AWS Backup cannot copy such a point to another account: "Cross-account copy with AWS
//! managed keys isn't supported for resources that aren't fully managed by AWS Backup", and an
//! AWS managed key's policy can never admit another account. A copy **within** the account is
//! allowed, and AWS Backup encrypts a copy of a not fully managed type with the destination
//! vault's key. So crossvault routes such an original through a second vault of its own in the
//! same account and region, the **re-encryption vault** (`CROSSVAULT_REENCRYPT_VAULT_NAME`,
//! under the stack's customer managed key), and makes every offsite copy from the copy there:
//!
//! ```text
//!  managed vault ──Hop::ReEncrypt──► re-encryption vault ──normal hops──► central vault(s)
//!  original (aws/rds)                copy (customer key)                  (+ pre-prod)
//! ```
//!
//! Every step is an AWS Backup copy job, so the central copies are ordinary recovery points
//! (retention, Vault Lock), the attempts, tokens and notifications are the copy chain's own
//! ([`crate::copy_chain::hop_step_from`]), and the state is in AWS (the copy jobs). Once every
//! offsite copy of the re-encrypted copy is verified COMPLETED, the original is shortened as
//! usual (its required copies carry [`RequiredCopy::via`]) and the re-encrypted copy, which
//! crossvault made, is deleted ([`Action::DeleteIntermediate`], [`may_delete`]).
//!
//! Detection: the point's `EncryptionKeyArn` (`DescribeRecoveryPoint`) is described with
//! `kms:DescribeKey`; `KeyManager` `AWS` is an AWS managed key (for RDS and Aurora that is
//! `aws/rds`). The listing decides first when it can: a job into the re-encryption vault means
//! the point is on this route, a COMPLETED or running direct offsite copy means it is not.

use serde::{Deserialize, Serialize};

use crate::arn::{Partition, VaultArn};
use crate::config::{Role, StackConfig};
use crate::copy_chain::{
    self, Retry, destination, hop_step_from, need, offsite_hops, parse_rp, preprod_hop,
};
use crate::copy_jobs::{self, HopState, ListedCopyJob, hop_state};
use crate::decide::DecideError;
use crate::event::{BackupEvent, CopyJobEvent, EventMeta, Status};
use crate::facts::{FactRequest, Facts, RecoveryPointFacts, RouteRequest};
use crate::ids::{Region, VaultName};
use crate::notify::{self, Attempts};
use crate::plan::{Action, Hop, Lifecycle, Plan};
use crate::verify::{RequiredCopy, copy_in, required_copies};

/// The resource types whose points take this route when their key is AWS managed.
pub const REENCRYPTED_TYPES: &[&str] = &["RDS", "Aurora"];

/// What is known about the KMS key of a recovery point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "key", rename_all = "snake_case")]
pub enum PointKey {
    /// `kms:DescribeKey` of the point's `EncryptionKeyArn`.
    Described {
        /// The key.
        key_arn: String,
        /// `KeyManager` is `AWS` (an AWS managed key such as `aws/rds`).
        aws_managed: bool,
    },
    /// Not looked up: `crossvault explain` calls no AWS API.
    NotLookedUp,
}

/// A recovery point in the re-encryption vault whose original is to be found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntermediateRef {
    /// The re-encrypted copy.
    pub recovery_point_arn: String,
    /// The re-encryption vault.
    pub vault_arn: VaultArn,
    /// The protected resource (narrows the listing), when the event names it.
    pub resource_arn: Option<String>,
}

/// The re-encryption vault of this account in `region`, if one is configured.
pub fn reencrypt_vault(
    config: &StackConfig,
    partition: Partition,
    region: &Region,
) -> Option<VaultArn> {
    config.reencrypt_vault_name.as_ref().map(|name| {
        VaultArn::new(
            partition,
            region.clone(),
            config.account_id.clone(),
            name.clone(),
        )
    })
}

/// Whether a point of `resource_type` in this stack can take the route at all.
pub fn applies_to(config: &StackConfig, resource_type: Option<&str>) -> bool {
    config.role == Role::Source
        && config.reencrypt_vault_name.is_some()
        && resource_type
            .is_some_and(|t| REENCRYPTED_TYPES.iter().any(|k| k.eq_ignore_ascii_case(t)))
}

/// Whether `vault` is this stack's re-encryption vault, in the event's region.
pub fn is_reencrypt_vault(config: &StackConfig, meta: &EventMeta, vault: &VaultArn) -> bool {
    config.role == Role::Source
        && reencrypt_vault(config, vault.partition, &meta.region).as_ref() == Some(vault)
}

/// The lifecycle of a re-encrypted copy: a backstop only (crossvault deletes it once its
/// copies are made); no cold move, since a cold point cannot be copied across accounts.
pub fn intermediate_lifecycle(config: &StackConfig) -> Lifecycle {
    Lifecycle {
        delete_after_days: config.copy_delete_after_days,
        move_to_cold_storage_after_days: None,
    }
}

/// How an original reaches the backup account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// Copied as it is.
    Direct,
    /// As it is, but its key was not looked up (`crossvault explain`): the plan says what an
    /// AWS managed key changes.
    KeyNotLookedUp,
    /// Through the re-encryption vault.
    ReEncrypt {
        /// Copy jobs of the original's copy there, once it has one (`None` = not listed).
        intermediate_jobs: Option<&'a [ListedCopyJob]>,
    },
}

/// Which route an original takes (`Err` = a fact is needed first).
///
/// The listing decides when it can: a job into the re-encryption vault means this route; a
/// COMPLETED or unfinished direct offsite copy means the point can be copied as it is (a
/// failed one proves nothing: it is what an AWS managed key does). Otherwise the key decides;
/// a point without `EncryptionKeyArn` is not encrypted and goes directly.
#[allow(clippy::too_many_arguments)]
pub fn route<'a>(
    config: &StackConfig,
    partition: Partition,
    region: &Region,
    rp: &str,
    resource_type: Option<&str>,
    jobs: &[ListedCopyJob],
    point: Option<&RecoveryPointFacts>,
    key: Option<&PointKey>,
    intermediate_jobs: Option<&'a [ListedCopyJob]>,
) -> Result<Route<'a>, FactRequest> {
    let Some(vault) =
        reencrypt_vault(config, partition, region).filter(|_| applies_to(config, resource_type))
    else {
        return Ok(Route::Direct);
    };
    let own = |j: &&ListedCopyJob| j.source_recovery_point_arn == rp;
    let reencrypt = || match copy_in(jobs, rp, &vault) {
        Some(copy) if intermediate_jobs.is_none() => Err(RouteRequest {
            intermediate_copy_jobs_of: Some(copy),
            ..RouteRequest::default()
        }
        .into_request()),
        _ => Ok(Route::ReEncrypt { intermediate_jobs }),
    };
    if jobs
        .iter()
        .filter(own)
        .any(|j| j.destination_vault_arn == vault)
    {
        return reencrypt();
    }
    let direct = jobs.iter().filter(own).any(|j| {
        !copy_jobs::is_failed_attempt(&j.state)
            && copy_chain::identify_hop(config, region, &j.destination_vault_arn, resource_type)
                .is_some_and(|h| h != Hop::ToPreProd)
    });
    if direct {
        return Ok(Route::Direct);
    }
    match key {
        Some(PointKey::NotLookedUp) => Ok(Route::KeyNotLookedUp),
        Some(PointKey::Described {
            aws_managed: true, ..
        }) => reencrypt(),
        Some(PointKey::Described { .. }) => Ok(Route::Direct),
        None => match point {
            None => Err(FactRequest {
                recovery_point: Some(crate::facts::RecoveryPointRef {
                    recovery_point_arn: rp.to_owned(),
                    vault_name: config.vault_name.clone(),
                }),
                ..FactRequest::default()
            }),
            Some(p) => match &p.encryption_key_arn {
                None => Ok(Route::Direct),
                Some(arn) => Err(RouteRequest {
                    key_of: Some(arn.clone()),
                    ..RouteRequest::default()
                }
                .into_request()),
            },
        },
    }
}

/// One original on the route, and what is known about it.
#[derive(Debug, Clone, Copy)]
pub struct Original<'a> {
    /// The stack.
    pub config: &'a StackConfig,
    /// The partition.
    pub partition: Partition,
    /// The region (of the point, the stack and the re-encryption vault).
    pub region: &'a Region,
    /// The original in the managed vault.
    pub recovery_point_arn: &'a str,
    /// Its resource type.
    pub resource_type: Option<&'a str>,
    /// Whose tags decide the pre-prod hop.
    pub tags_of: &'a str,
    /// Those tags, once looked up.
    pub tags: Option<&'a std::collections::BTreeMap<String, String>>,
    /// The original's copy jobs.
    pub jobs: &'a [ListedCopyJob],
    /// Whether a failed hop is started again now.
    pub retry: Retry,
}

/// The next actions for an original on the route: the re-encryption hop until it is done,
/// then the hops of its copy ([`from_copy`]).
pub fn walk(
    o: &Original<'_>,
    intermediate_jobs: Option<&[ListedCopyJob]>,
) -> Result<Vec<Action>, DecideError> {
    let config = o.config;
    let vault =
        reencrypt_vault(config, o.partition, o.region).ok_or(DecideError::MissingConfig {
            var: crate::config::vars::REENCRYPT_VAULT_NAME,
        })?;
    let rp = o.recovery_point_arn;
    if let Some(action) = hop_step_from(
        config,
        &config.vault_name,
        rp,
        o.jobs,
        Hop::ReEncrypt,
        vault.clone(),
        o.retry,
    )? {
        return Ok(vec![action]);
    }
    let Some(copy) = copy_in(o.jobs, rp, &vault) else {
        return Ok(vec![Action::Ignore {
            reason: format!(
                "the re-encryption copy job of {rp} into {vault} is COMPLETED but reports no recovery point; \
                 nothing is copied from it and the original keeps its retention"
            ),
        }]);
    };
    let jobs = intermediate_jobs.ok_or_else(|| {
        DecideError::NeedsFacts(
            RouteRequest {
                intermediate_copy_jobs_of: Some(copy.clone()),
                ..RouteRequest::default()
            }
            .into_request(),
        )
    })?;
    from_copy(o, &vault, &copy, jobs)
}

/// The hops of the re-encrypted `copy` (the original's offsite hops, made from it), then the
/// pre-prod hop if it applies, the original's shortening (waiting for those copies) and the
/// deletion of `copy`.
pub fn from_copy(
    o: &Original<'_>,
    vault: &VaultArn,
    copy: &str,
    jobs: &[ListedCopyJob],
) -> Result<Vec<Action>, DecideError> {
    let config = o.config;
    for hop in offsite_hops(config, o.resource_type) {
        let dest = destination(config, o.partition, o.region, hop).expect("offsite hops have one");
        if let Some(action) = hop_step_from(config, &vault.name, copy, jobs, hop, dest, o.retry)? {
            return Ok(vec![action]);
        }
    }
    let mut actions = Vec::with_capacity(3);
    let mut settles = Vec::new();
    if preprod_hop(config, o.tags, o.tags_of).map_err(DecideError::NeedsFacts)? {
        let dest = destination(config, o.partition, o.region, Hop::ToPreProd)
            .expect("preprod_hop checked that a pre-prod account exists");
        settles.push(RequiredCopy {
            hop: Hop::ToPreProd,
            destination_vault_arn: dest.clone(),
            via: None,
        });
        if let Some(action) = hop_step_from(
            config,
            &vault.name,
            copy,
            jobs,
            Hop::ToPreProd,
            dest,
            o.retry,
        )? {
            actions.push(action);
        }
    }
    let offsite = required_copies(config, o.partition, o.region, o.resource_type);
    actions.push(Action::ShortenRetention {
        recovery_point_arn: o.recovery_point_arn.to_owned(),
        vault_name: config.vault_name.clone(),
        requires: offsite
            .iter()
            .cloned()
            .map(|r| RequiredCopy {
                via: Some(vault.clone()),
                ..r
            })
            .collect(),
    });
    actions.push(Action::DeleteIntermediate {
        recovery_point_arn: copy.to_owned(),
        vault_name: vault.name.clone(),
        original_recovery_point_arn: o.recovery_point_arn.to_owned(),
        // The backup account forwards its own copy, not this one.
        requires: offsite
            .into_iter()
            .filter(|r| r.hop != Hop::TwoHopForward)
            .collect(),
        settles,
    });
    Ok(actions)
}

/// The original of `copy` among `jobs` (the re-encryption vault's copy jobs): the source of a
/// COMPLETED job that made `copy` with crossvault's copy role.
pub fn original_of<'a>(
    config: &StackConfig,
    copy: &str,
    vault: &VaultArn,
    jobs: &'a [ListedCopyJob],
) -> Option<&'a ListedCopyJob> {
    jobs.iter().find(|j| {
        j.destination_vault_arn == *vault
            && j.destination_recovery_point_arn.as_deref() == Some(copy)
            && j.state == Status::Completed
            && made_by_crossvault(config, j)
    })
}

fn made_by_crossvault(config: &StackConfig, job: &ListedCopyJob) -> bool {
    job.iam_role_arn.is_some() && job.iam_role_arn == config.copy_role_arn
}

/// Whether crossvault may delete its re-encrypted `copy` of `original` now, by the listings
/// (`jobs`: the copy jobs of both). `Err` says why not; the copy is then kept (its lifecycle
/// ends it at the latest).
///
/// Only a copy that crossvault provably made is deleted: a COMPLETED copy job from the
/// original into the re-encryption vault, run with crossvault's copy role, reports it as its
/// copy. It is deleted once every copy in `requires` is COMPLETED, every hop in `settles` has
/// finished (COMPLETED, or given up after `CopyMaxAttempts`) and no copy job from it is still
/// under way.
pub fn may_delete(
    config: &StackConfig,
    copy: &str,
    vault: &VaultArn,
    original: &str,
    requires: &[RequiredCopy],
    settles: &[RequiredCopy],
    jobs: &[ListedCopyJob],
) -> Result<(), String> {
    let made = jobs.iter().any(|j| {
        j.source_recovery_point_arn == original
            && j.destination_vault_arn == *vault
            && j.state == Status::Completed
            && j.destination_recovery_point_arn.as_deref() == Some(copy)
            && made_by_crossvault(config, j)
    });
    if !made {
        return Err(format!(
            "no COMPLETED copy job of {original} into {vault} run with crossvault's copy role reports {copy} \
             as its copy: crossvault deletes only re-encrypted copies it made"
        ));
    }
    if requires.is_empty() {
        return Err(
            "no offsite copy is configured, so nothing shows the copy has done its work".into(),
        );
    }
    for r in requires {
        if !matches!(
            hop_state(jobs, copy, &r.destination_vault_arn),
            HopState::Done(_)
        ) {
            return Err(format!(
                "its {} copy into {} is not COMPLETED ({})",
                r.hop,
                r.destination_vault_arn,
                hop_state(jobs, copy, &r.destination_vault_arn)
            ));
        }
    }
    for r in settles {
        let state = hop_state(jobs, copy, &r.destination_vault_arn);
        let finished = match &state {
            HopState::Done(_) => true,
            HopState::Failed(_) => state.failures() >= config.copy_max_attempts,
            HopState::NotStarted | HopState::UnderWay(_) => false,
        };
        if !finished {
            return Err(format!(
                "its {} copy into {} has not finished ({state}; CopyMaxAttempts = {})",
                r.hop, r.destination_vault_arn, config.copy_max_attempts
            ));
        }
    }
    if let Some(job) = jobs
        .iter()
        .find(|j| j.source_recovery_point_arn == copy && !copy_jobs::is_terminal(&j.state))
    {
        return Err(format!(
            "copy job {} from it into {} is {}",
            job.copy_job_id, job.destination_vault_arn, job.state
        ));
    }
    Ok(())
}

/// The plan's note when the key was not looked up (`crossvault explain`).
pub fn key_not_looked_up(
    config: &StackConfig,
    partition: Partition,
    region: &Region,
    rp: &str,
) -> Action {
    let vault = reencrypt_vault(config, partition, region)
        .map_or_else(|| "the re-encryption vault".to_owned(), |v| v.to_string());
    Action::Ignore {
        reason: format!(
            "the key of {rp} is not looked up without AWS; the plan below is for a customer managed key. \
             Under the AWS managed key aws/rds the point is first copied to {vault} (re-encrypted with \
             that vault's key), every offsite copy is made from there, and that copy is deleted once \
             they are COMPLETED"
        ),
    }
}

fn paragraph(config: &StackConfig, original: &str, copy: &str, vault: &VaultName) -> String {
    format!(
        "\nThis copy was made from crossvault's re-encrypted copy {copy} (vault {vault}) of the original \
         {original}, which is encrypted with an AWS managed key (aws/rds) and cannot be copied to another \
         account itself. The original keeps its full retention until the copies are made. The re-encrypted \
         copy is deleted once they are COMPLETED; until then (and if crossvault gives up) it stays in {vault}, \
         at most {} days from the original's creation (its lifecycle), so it can still be copied by hand. \
         If AWS's message is about a KMS key: the re-encryption vault's key must admit the destination \
         account (template/README.md, \"Keys\"), and AWS Backup must have re-encrypted the copy with it \
         (README, \"What crossvault assumes\").",
        config.copy_delete_after_days
    )
}

/// A copy from the re-encryption vault failed: the copy chain's notice, naming the original
/// and the re-encrypted copy.
pub fn with_intermediate(
    notice: Action,
    config: &StackConfig,
    original: Option<&str>,
    copy: &str,
    vault: &VaultName,
) -> Action {
    match notice {
        Action::Notify { subject, message } => Action::Notify {
            subject,
            message: format!(
                "{message}{}",
                paragraph(
                    config,
                    original.unwrap_or("(not found: no crossvault copy job reports this copy)"),
                    copy,
                    vault
                )
            ),
        },
        other => other,
    }
}

/// Deleting a re-encrypted copy failed for a reason a retry cannot fix.
pub fn deletion_failed(
    copy: &str,
    vault: &VaultName,
    original: &str,
    error: &str,
    config: &StackConfig,
) -> Action {
    Action::Notify {
        subject: format!(
            "crossvault: re-encrypted copy not deleted in {}",
            config.account_id
        ),
        message: format!(
            "crossvault could not delete its re-encrypted copy {copy} in vault {vault} (a copy of the original \
             {original}, made so it could be copied to the backup account; its copies are COMPLETED).\n\
             AWS's answer: {error}\n\
             Nothing is lost: the copy stays in {vault} until its lifecycle ends (at most {} days from the \
             original's creation) and the reconciler tries again on its next runs. Delete it by hand, or \
             fix the cause (the handler role's backup:DeleteRecoveryPoint, a lock or policy on {vault}).",
            config.copy_delete_after_days
        ),
    }
}

/// Copy Job State Change out of the re-encryption vault: a copy of a re-encrypted copy.
///
/// A finished job needs the copy's own jobs (attempts, the next hop) and its original (the
/// re-encryption vault's copy jobs for the resource: the one that made it). A COMPLETED hop
/// moves the original's chain on ([`from_copy`]); a failed one is notified like every copy
/// failure, naming the original and the re-encrypted copy.
pub fn copy_job_from_copy(
    e: &CopyJobEvent,
    config: &StackConfig,
    facts: &Facts,
) -> Result<Plan, DecideError> {
    let job = e.copy_job_id.as_deref().unwrap_or("(no id)");
    let dest = &e.destination_backup_vault_arn;
    let vault = e.source_backup_vault_arn.clone();
    let region = &e.meta.region;
    if e.state.is_in_progress() {
        return Ok(Plan::ignore(format!(
            "copy job {job} of a re-encrypted copy to {dest} is {}; the chain goes on when it is COMPLETED",
            e.state
        )));
    }
    if !copy_jobs::is_terminal(&e.state) {
        return Ok(Plan::ignore(format!(
            "copy job {job} of a re-encrypted copy to {dest} is {}; no action for this state",
            e.state
        )));
    }
    let copy = parse_rp(e.source_recovery_point_arn.as_deref(), "resources[0]")?;
    need(
        facts,
        RouteRequest {
            key_of: None,
            intermediate_copy_jobs_of: Some(copy.arn.clone()),
            origin_of: Some(IntermediateRef {
                recovery_point_arn: copy.arn.clone(),
                vault_arn: vault.clone(),
                resource_arn: e.resource_arn.clone(),
            }),
        }
        .into_request(),
    )?;
    let origin_jobs = facts.origin_jobs.as_deref().unwrap_or_default();
    let origin = original_of(config, &copy.arn, &vault, origin_jobs);
    let hop = copy_chain::identify_hop(config, region, dest, e.resource_type.as_deref())
        .filter(|h| *h != Hop::ReEncrypt);
    let mut jobs = facts.intermediate_copy_jobs.clone().unwrap_or_default();
    if let Some(this) = ListedCopyJob::from_event(e) {
        copy_jobs::merge_event_job(&mut jobs, this);
    }
    if e.state.is_failure() {
        let notice = failed(e, config, hop, &copy.arn, dest, &jobs);
        return Ok(Plan::single(with_intermediate(
            notice,
            config,
            origin.map(|j| j.source_recovery_point_arn.as_str()),
            &copy.arn,
            &vault.name,
        )));
    }
    let Some(origin) = origin else {
        return Ok(Plan::ignore(format!(
            "copy job {job}: {} in {vault} is not a re-encrypted copy crossvault made (no COMPLETED copy job \
             of crossvault's copy role from the managed vault reports it); nothing is copied on, shortened or \
             deleted because of it",
            copy.arn
        )));
    };
    let Some(hop) = hop else {
        return Ok(Plan::ignore(format!(
            "copy job {job} to {dest} completed, but that vault is not a hop crossvault's configuration asks for; \
             it never leads to shortening or to deleting {}",
            copy.arn
        )));
    };
    let original = Original {
        config,
        partition: vault.partition,
        region,
        recovery_point_arn: &origin.source_recovery_point_arn,
        resource_type: e.resource_type.as_deref(),
        tags_of: e
            .resource_arn
            .as_deref()
            .unwrap_or(&origin.source_recovery_point_arn),
        tags: facts.resource_tags.as_ref(),
        jobs: origin_jobs,
        retry: Retry::ByReconciler,
    };
    let mut actions = from_copy(&original, &vault, &copy.arn, &jobs)?;
    if hop == Hop::ToPreProd {
        actions.retain(|a| !matches!(a, Action::StartCopyJob { .. }));
    }
    Ok(Plan { actions })
}

/// The notice for a failed copy of a re-encrypted copy (the chain's texts, attempts counted
/// on the copy's jobs into `dest`).
fn failed(
    e: &CopyJobEvent,
    config: &StackConfig,
    hop: Option<Hop>,
    copy: &str,
    dest: &VaultArn,
    jobs: &[ListedCopyJob],
) -> Action {
    let key = notify::key_problem(e.status_message.as_deref());
    let Some(hop) = hop else {
        return notify::copy_job_failed(e, None, None, key);
    };
    let failed: Vec<&ListedCopyJob> = copy_jobs::jobs_into(jobs, copy, dest)
        .into_iter()
        .filter(|j| copy_jobs::is_failed_attempt(&j.state))
        .collect();
    let failures = u32::try_from(failed.len()).unwrap_or(u32::MAX);
    let attempt = e
        .copy_job_id
        .as_deref()
        .and_then(|id| failed.iter().position(|j| j.copy_job_id == id))
        .map_or(failures, |i| u32::try_from(i + 1).unwrap_or(u32::MAX));
    let attempts = Attempts {
        attempt,
        failures,
        max: config.copy_max_attempts,
    };
    if attempt == attempts.max {
        notify::gave_up(e, hop, attempts, key)
    } else {
        notify::copy_job_failed(e, Some(hop), Some(attempts), key)
    }
}

/// What `crossvault explain` assumes about this route without AWS: an original's key is not
/// looked up; a re-encryption that completed has no copies yet; a re-encrypted copy's
/// original is the one its re-encryption copy job names.
pub fn assume_without_aws(event: &BackupEvent, config: &StackConfig, facts: &mut Facts) {
    match event {
        BackupEvent::BackupJob(e) if applies_to(config, e.resource_type.as_deref()) => {
            facts.key = Some(PointKey::NotLookedUp);
        }
        BackupEvent::RecoveryPoint(e) if applies_to(config, e.resource_type.as_deref()) => {
            facts.key = Some(PointKey::NotLookedUp);
        }
        BackupEvent::CopyJob(e) => {
            let vault = &e.destination_backup_vault_arn;
            if is_reencrypt_vault(config, &e.meta, vault) {
                facts.intermediate_copy_jobs = Some(Vec::new());
            }
            if is_reencrypt_vault(config, &e.meta, &e.source_backup_vault_arn)
                && let Some(copy) = &e.source_recovery_point_arn
            {
                // The hops before this one, as for any completed copy, are the copy's.
                facts.intermediate_copy_jobs = facts.copy_jobs.take();
                facts.origin_jobs = Some(vec![ListedCopyJob {
                    copy_job_id: "(assumed re-encryption copy job)".into(),
                    source_recovery_point_arn: format!(
                        "(the original: the source of the copy job that made {copy})"
                    ),
                    destination_vault_arn: e.source_backup_vault_arn.clone(),
                    state: Status::Completed,
                    creation_date: None,
                    status_message: None,
                    destination_recovery_point_arn: Some(copy.clone()),
                    destination_lifecycle: Some(crate::retention::CurrentLifecycle::delete_after(
                        config.copy_delete_after_days,
                    )),
                    iam_role_arn: config.copy_role_arn.clone(),
                }]);
            }
        }
        _ => {}
    }
}
