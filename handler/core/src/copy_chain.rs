//! The copy chain: which hop comes next for a recovery point (README, "copy chain").
//!
//! In a **source** account, region R, every new recovery point in the managed vault is copied
//! along a chain of hops; the point's own copy jobs (`ListCopyJobs`, [`crate::copy_jobs`]) are
//! the chain's only state. [`walk`] goes through the hops in order:
//!
//! | hop | destination | when |
//! |---|---|---|
//! | [`Hop::ToBackupRegion`] | backup account, backup region (the alternate when R is the backup region) | always, unless a two-hop type |
//! | [`Hop::ToLocalRegion`] | backup account, region R | `CopyToLocalRegion` |
//! | [`Hop::TwoHopFirst`] | backup account, region R (its handler forwards it, [`Hop::TwoHopForward`]) | types in `TwoHopResourceTypes` |
//! | [`Hop::ReEncrypt`] | this account's re-encryption vault, region R; every later hop starts from its copy there ([`crate::managed_key`]) | RDS and Aurora points under an AWS managed key (`aws/rds`) |
//! | [`Hop::ToPreProd`] | first pre-prod account, region R | the resource carries `PreProdTagKey=PreProdTagValue` (exact match, a [`Facts`] item), this account is admitted by `PreProdSourceAccountIds` and a pre-prod account exists |
//!
//! For each hop, by its exact destination: a COMPLETED job → the next hop; a job under way →
//! wait (its event moves the chain on); no job → start it (attempt 1); only failed jobs → the
//! reconciler starts attempt `n + 1` on its next run ([`Retry`]), with a new idempotency
//! token, until `CopyMaxAttempts` failures, then crossvault gives up on the hop (one notice,
//! from the failure event of the last allowed attempt) and never shortens the original.
//!
//! Once every offsite hop is done: the pre-prod hop if it applies, and
//! [`Action::ShortenRetention`] listing every offsite copy it waits for
//! ([`crate::verify::required_copies`]); the effect layer verifies them against fresh listings
//! before anything changes. The pre-prod hop never counts as offsite safety; it is started
//! before the shortening, and the shortened original still lives at least a day
//! ([`crate::retention`]), far longer than a copy takes to start.
//!
//! Only **originals** are copied: a point that arrived in the managed vault as someone else's
//! copy (`SourceBackupVaultArn`) is neither copied on nor shortened.
//!
//! In the **backup** account: a Recovery Point State Change COMPLETED in the central vault in
//! region R, for a two-hop type, whose resource lives in R (so it is a first-hop arrival, not
//! an already cross-region copy) and in another account → [`Hop::TwoHopForward`] to the
//! backup region (the alternate when R is the backup region), with the same attempt rules.
//! Nothing else ever starts a copy in backup or pre-prod accounts.
//!
//! Destinations come only from the configuration; event fields are only *compared* with it.
//! Failed copy/backup jobs in the managed vault become [`Action::Notify`]; everything else
//! becomes [`Action::Ignore`] with a precise reason.

use std::collections::BTreeMap;

use crate::arn::{Partition, RecoveryPointArn, VaultArn};
use crate::config::{Role, StackConfig};
use crate::copy_jobs::{self, HopState, ListedCopyJob, hop_state, jobs_into, merge_event_job};
use crate::decide::DecideError;
use crate::event::{
    BackupJobEvent, CopyJobEvent, EventError, EventMeta, RecoveryPointEvent, Status, StorageClass,
};
use crate::facts::{FactRequest, Facts, RecoveryPointFacts, RecoveryPointRef};
use crate::idempotency::copy_token;
use crate::ids::{AccountId, Region, VaultName};
use crate::managed_key::{self, Route};
use crate::notify::{self, Attempts};
use crate::plan::{Action, Hop, Lifecycle, Plan};
use crate::verify::required_copies;

/// AWS Backup resource types crossvault copies (`resourceType` values, AWS docs). Other
/// types are ignored, unless listed in `TwoHopResourceTypes`.
pub const COPYABLE_RESOURCE_TYPES: &[&str] = &[
    "Aurora",
    "CloudFormation",
    "DocumentDB",
    "DynamoDB",
    "EBS",
    "EC2",
    "EFS",
    "FSx",
    "Neptune",
    "RDS",
    "Redshift",
    "S3",
    "SAP HANA on Amazon EC2",
    "Storage Gateway",
    "Timestream",
    "VirtualMachine",
];

/// The central vault in the backup account, in `region`.
pub fn central_vault(config: &StackConfig, partition: Partition, region: &Region) -> VaultArn {
    VaultArn::new(
        partition,
        region.clone(),
        config.backup_account_id.clone(),
        config.central_vault_name.clone(),
    )
}

/// The pre-prod vault in `account`, `region`.
pub fn preprod_vault(
    config: &StackConfig,
    partition: Partition,
    account: &AccountId,
    region: &Region,
) -> VaultArn {
    VaultArn::new(
        partition,
        region.clone(),
        account.clone(),
        config.preprod_vault_name.clone(),
    )
}

/// This account's managed vault in `region`.
pub fn managed_vault(config: &StackConfig, partition: Partition, region: &Region) -> VaultArn {
    VaultArn::new(
        partition,
        region.clone(),
        config.account_id.clone(),
        config.vault_name.clone(),
    )
}

/// Where hop `hop` of a recovery point in region `region` goes (`None` for [`Hop::ToPreProd`]
/// when no pre-prod account is configured).
pub fn destination(
    config: &StackConfig,
    partition: Partition,
    region: &Region,
    hop: Hop,
) -> Option<VaultArn> {
    match hop {
        Hop::ToBackupRegion | Hop::TwoHopForward => Some(central_vault(
            config,
            partition,
            config.offsite_region_for(region),
        )),
        Hop::ToLocalRegion | Hop::TwoHopFirst => Some(central_vault(config, partition, region)),
        Hop::ToPreProd => config
            .preprod_account_ids
            .first()
            .map(|account| preprod_vault(config, partition, account, region)),
        Hop::ReEncrypt => managed_key::reencrypt_vault(config, partition, region),
    }
}

/// Which **configured** source-account hop a copy from region `region` into `dest` is, if
/// any. The same-region central vault is the local hop only with `CopyToLocalRegion`, and the
/// first two-hop hop only for two-hop types: a copy there otherwise (a plan's copy action, a
/// manual copy) is no hop at all.
pub fn identify_hop(
    config: &StackConfig,
    region: &Region,
    dest: &VaultArn,
    resource_type: Option<&str>,
) -> Option<Hop> {
    let p = dest.partition;
    if managed_key::reencrypt_vault(config, p, region).as_ref() == Some(dest) {
        return Some(Hop::ReEncrypt);
    }
    let two_hop = resource_type.is_some_and(|t| config.is_two_hop_type(t));
    if *dest == central_vault(config, p, region) {
        return if two_hop {
            Some(Hop::TwoHopFirst)
        } else if config.copy_to_local_region {
            Some(Hop::ToLocalRegion)
        } else {
            None
        };
    }
    if !two_hop && *dest == central_vault(config, p, config.offsite_region_for(region)) {
        return Some(Hop::ToBackupRegion);
    }
    if dest.region == *region
        && dest.name == config.preprod_vault_name
        && config.preprod_account_ids.contains(&dest.account)
    {
        return Some(Hop::ToPreProd);
    }
    None
}

/// The `StartCopyJob` action for attempt `attempt` of one hop out of the managed vault.
pub fn start_copy(
    config: &StackConfig,
    source_recovery_point_arn: &str,
    destination_vault_arn: VaultArn,
    hop: Hop,
    attempt: u32,
) -> Result<Action, DecideError> {
    start_copy_from(
        config,
        &config.vault_name,
        source_recovery_point_arn,
        destination_vault_arn,
        hop,
        attempt,
    )
}

/// The `StartCopyJob` action for attempt `attempt` of one hop out of `source_vault`.
pub fn start_copy_from(
    config: &StackConfig,
    source_vault: &VaultName,
    source_recovery_point_arn: &str,
    destination_vault_arn: VaultArn,
    hop: Hop,
    attempt: u32,
) -> Result<Action, DecideError> {
    let iam_role_arn = config
        .copy_role_arn
        .clone()
        .ok_or(DecideError::MissingConfig {
            var: crate::config::vars::COPY_ROLE_ARN,
        })?;
    Ok(Action::StartCopyJob {
        idempotency_token: copy_token(
            source_recovery_point_arn,
            &destination_vault_arn.to_string(),
            attempt,
        ),
        source_recovery_point_arn: source_recovery_point_arn.to_owned(),
        source_vault_name: source_vault.clone(),
        destination_vault_arn,
        iam_role_arn,
        lifecycle: match hop {
            Hop::ReEncrypt => managed_key::intermediate_lifecycle(config),
            _ => Lifecycle {
                delete_after_days: config.copy_delete_after_days,
                move_to_cold_storage_after_days: config.copy_cold_after_days,
            },
        },
        hop,
        attempt,
    })
}

/// Why a recovery point cannot be copied by `StartCopyJob` at all, if it cannot.
pub fn not_copyable(
    config: &StackConfig,
    rp: &RecoveryPointArn,
    resource_type: Option<&str>,
    storage_class: Option<StorageClass>,
) -> Option<String> {
    if rp.is_continuous() {
        return Some(format!(
            "{} is a continuous (point-in-time) recovery point: StartCopyJob does not support continuous backups",
            rp.arn
        ));
    }
    match storage_class {
        Some(StorageClass::Cold) => {
            return Some(format!(
                "{} is in cold storage: cold-tier recovery points cannot be copied across regions or accounts",
                rp.arn
            ));
        }
        Some(StorageClass::Deleted) => {
            return Some(format!("{} is deleted", rp.arn));
        }
        _ => {}
    }
    match resource_type {
        None => Some(format!(
            "{}: the event names no resource type, so crossvault cannot tell whether it can be copied",
            rp.arn
        )),
        Some(t) if !is_known_type(config, t) => Some(format!(
            "resource type {t:?} of {} is not one crossvault copies (known: {}; or list it in TwoHopResourceTypes)",
            rp.arn,
            COPYABLE_RESOURCE_TYPES.join(", ")
        )),
        Some(_) => None,
    }
}

fn is_known_type(config: &StackConfig, t: &str) -> bool {
    COPYABLE_RESOURCE_TYPES
        .iter()
        .any(|k| k.eq_ignore_ascii_case(t))
        || config.is_two_hop_type(t)
}

/// Whether the pre-prod hop applies (`Err` = the tags are needed first).
pub fn preprod_hop(
    config: &StackConfig,
    tags: Option<&BTreeMap<String, String>>,
    tags_of: &str,
) -> Result<bool, FactRequest> {
    if config.preprod_account_ids.is_empty() || config.preprod_tag_key.is_empty() {
        return Ok(false);
    }
    if !config.preprod_source_account_ids.is_empty()
        && !config
            .preprod_source_account_ids
            .contains(&config.account_id)
    {
        return Ok(false);
    }
    match tags {
        None => Err(FactRequest {
            resource_tags_of: Some(tags_of.to_owned()),
            ..FactRequest::default()
        }),
        Some(tags) => Ok(tags.get(&config.preprod_tag_key) == Some(&config.preprod_tag_value)),
    }
}

/// When a hop that failed is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Now: the reconciler, which paces the attempts (one per run, every `ReconcileSchedule`),
    /// so a cause someone is fixing is not burned through in minutes.
    Now,
    /// Not on this path (events): the reconciler's next run starts the next attempt.
    ByReconciler,
}

/// One source-account recovery point and what is known about its chain.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a> {
    /// The stack.
    pub config: &'a StackConfig,
    /// The partition the stack runs in.
    pub partition: Partition,
    /// The point's (and the stack's) region.
    pub region: &'a Region,
    /// The original.
    pub rp: &'a RecoveryPointArn,
    /// Its resource type.
    pub resource_type: Option<&'a str>,
    /// Whose tags decide the pre-prod hop (the resource; the point if it names none).
    pub tags_of: &'a str,
    /// Those tags, once looked up.
    pub tags: Option<&'a BTreeMap<String, String>>,
    /// Its copy jobs in this account and region.
    pub jobs: &'a [ListedCopyJob],
    /// Whether a failed hop is started again on this path.
    pub retry: Retry,
    /// How the point reaches the backup account ([`managed_key::route`]).
    pub route: Route<'a>,
}

/// The hops of a point's chain up to the last offsite one, in order.
pub fn offsite_hops(config: &StackConfig, resource_type: Option<&str>) -> Vec<Hop> {
    if resource_type.is_some_and(|t| config.is_two_hop_type(t)) {
        vec![Hop::TwoHopFirst]
    } else if config.copy_to_local_region {
        vec![Hop::ToBackupRegion, Hop::ToLocalRegion]
    } else {
        vec![Hop::ToBackupRegion]
    }
}

fn last_message(jobs: &[&ListedCopyJob]) -> String {
    jobs.iter()
        .rev()
        .find_map(|j| j.status_message.clone())
        .unwrap_or_else(|| "AWS gave no status message".to_owned())
}

/// The next step of one hop out of the managed vault: `None` when it is done, else the action
/// to take now (which ends the walk for this point).
pub fn hop_step(
    config: &StackConfig,
    rp: &str,
    jobs: &[ListedCopyJob],
    hop: Hop,
    dest: VaultArn,
    retry: Retry,
) -> Result<Option<Action>, DecideError> {
    hop_step_from(config, &config.vault_name, rp, jobs, hop, dest, retry)
}

/// [`hop_step`] for a point in `source_vault`.
pub fn hop_step_from(
    config: &StackConfig,
    source_vault: &VaultName,
    rp: &str,
    jobs: &[ListedCopyJob],
    hop: Hop,
    dest: VaultArn,
    retry: Retry,
) -> Result<Option<Action>, DecideError> {
    let max = config.copy_max_attempts;
    let state = hop_state(jobs, rp, &dest);
    let action = match &state {
        HopState::Done(_) => return Ok(None),
        HopState::UnderWay(job) => Action::Ignore {
            reason: format!(
                "copy job {} ({hop}) of {rp} to {dest} is {}; the chain goes on when it is COMPLETED",
                job.copy_job_id, job.state
            ),
        },
        HopState::NotStarted => start_copy_from(config, source_vault, rp, dest, hop, 1)?,
        HopState::Failed(failed) if state.failures() >= max => Action::Ignore {
            reason: format!(
                "crossvault gave up on {hop} of {rp} to {dest} after {} failed attempt(s) \
                 (CopyMaxAttempts = {max}; last status message: {}); {}",
                failed.len(),
                last_message(failed),
                notify::what_giving_up_means(hop)
            ),
        },
        HopState::Failed(failed) => match retry {
            Retry::Now => {
                start_copy_from(config, source_vault, rp, dest, hop, state.next_attempt())?
            }
            Retry::ByReconciler => Action::Ignore {
                reason: format!(
                    "{hop} of {rp} to {dest} failed {} time(s) (last status message: {}); \
                     the reconciler starts attempt {} of {max} on its next run",
                    failed.len(),
                    last_message(failed),
                    state.next_attempt()
                ),
            },
        },
    };
    Ok(Some(action))
}

/// Walks a point's chain: the one action for the first hop that is not done, or, when every
/// offsite hop is done, the pre-prod hop (if it applies) and the shortening. A point under an
/// AWS managed key goes through the re-encryption vault ([`managed_key::walk`]).
pub fn walk(c: &Chain<'_>) -> Result<Vec<Action>, DecideError> {
    match c.route {
        Route::Direct => walk_direct(c),
        Route::KeyNotLookedUp => {
            let mut actions = vec![managed_key::key_not_looked_up(
                c.config,
                c.partition,
                c.region,
                &c.rp.arn,
            )];
            actions.extend(walk_direct(c)?);
            Ok(actions)
        }
        Route::ReEncrypt { intermediate_jobs } => {
            managed_key::walk(&original(c), intermediate_jobs)
        }
    }
}

/// The original a chain is about, for [`managed_key`].
pub fn original<'a>(c: &Chain<'a>) -> managed_key::Original<'a> {
    managed_key::Original {
        config: c.config,
        partition: c.partition,
        region: c.region,
        recovery_point_arn: c.rp.arn.as_str(),
        resource_type: c.resource_type,
        tags_of: c.tags_of,
        tags: c.tags,
        jobs: c.jobs,
        retry: c.retry,
    }
}

fn walk_direct(c: &Chain<'_>) -> Result<Vec<Action>, DecideError> {
    let config = c.config;
    let rp = c.rp.arn.as_str();
    for hop in offsite_hops(config, c.resource_type) {
        let dest = destination(config, c.partition, c.region, hop).expect("offsite hops have one");
        if let Some(action) = hop_step(config, rp, c.jobs, hop, dest, c.retry)? {
            return Ok(vec![action]);
        }
    }
    let mut actions = Vec::with_capacity(2);
    if preprod_hop(config, c.tags, c.tags_of).map_err(DecideError::NeedsFacts)? {
        let dest = destination(config, c.partition, c.region, Hop::ToPreProd)
            .expect("preprod_hop checked that a pre-prod account exists");
        if let Some(action) = hop_step(config, rp, c.jobs, Hop::ToPreProd, dest, c.retry)? {
            actions.push(action);
        }
    }
    actions.push(Action::ShortenRetention {
        recovery_point_arn: rp.to_owned(),
        vault_name: config.vault_name.clone(),
        requires: required_copies(config, c.partition, c.region, c.resource_type),
    });
    Ok(actions)
}

/// Checks that an event is about this account's managed vault; `Err(reason)` otherwise.
fn check_managed(config: &StackConfig, meta: &EventMeta, vault: &VaultArn) -> Result<(), String> {
    if vault.account != config.account_id {
        return Err(format!(
            "vault {vault} belongs to account {}, not this account {}",
            vault.account, config.account_id
        ));
    }
    if vault.region != meta.region {
        return Err(format!(
            "vault {vault} is in region {} but the event came from {}",
            vault.region, meta.region
        ));
    }
    if vault.name != config.vault_name {
        return Err(format!(
            "vault {} is not the managed vault {} (crossvault acts only on its own vault)",
            vault.name, config.vault_name
        ));
    }
    Ok(())
}

pub(crate) fn parse_rp(arn: Option<&str>, field: &str) -> Result<RecoveryPointArn, DecideError> {
    let arn = arn.ok_or_else(|| EventError {
        field: field.to_owned(),
        problem: "missing (expected the recovery point ARN)".to_owned(),
    })?;
    RecoveryPointArn::parse(arn).map_err(|e| {
        DecideError::Event(EventError {
            field: field.to_owned(),
            problem: e.to_string(),
        })
    })
}

/// The facts `request` names that `facts` lacks, as an error (or `Ok` when none are missing).
pub(crate) fn need(facts: &Facts, request: FactRequest) -> Result<(), DecideError> {
    let missing = FactRequest {
        resource_tags_of: request
            .resource_tags_of
            .filter(|_| facts.resource_tags.is_none()),
        copy_jobs_of: request.copy_jobs_of.filter(|_| facts.copy_jobs.is_none()),
        recovery_point: request
            .recovery_point
            .filter(|_| facts.recovery_point.is_none()),
        restore: Default::default(),
        route: request
            .route
            .map(|r| {
                Box::new(crate::facts::RouteRequest {
                    key_of: r.key_of.filter(|_| facts.key.is_none()),
                    intermediate_copy_jobs_of: r
                        .intermediate_copy_jobs_of
                        .filter(|_| facts.intermediate_copy_jobs.is_none()),
                    origin_of: r.origin_of.filter(|_| facts.origin_jobs.is_none()),
                })
            })
            .filter(|r| !r.is_empty()),
    };
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DecideError::NeedsFacts(missing))
    }
}

pub(crate) fn point_request(config: &StackConfig, rp: &str, describe: bool) -> FactRequest {
    FactRequest {
        copy_jobs_of: Some(rp.to_owned()),
        recovery_point: describe.then(|| RecoveryPointRef {
            recovery_point_arn: rp.to_owned(),
            vault_name: config.vault_name.clone(),
        }),
        ..FactRequest::default()
    }
}

/// Ignore a point that is someone else's copy.
fn not_an_original(point: &RecoveryPointFacts) -> Option<Plan> {
    point.copied_from().map(|source| {
        Plan::ignore(format!(
            "recovery point {} arrived in the managed vault as a copy from {source}; it is not an original, \
             so crossvault neither copies it on nor shortens it",
            point.recovery_point_arn
        ))
    })
}

/// The route of an original, by the listing and its key ([`managed_key::route`]).
fn route_of<'a>(
    config: &StackConfig,
    partition: Partition,
    region: &Region,
    rp: &str,
    resource_type: Option<&str>,
    jobs: &[ListedCopyJob],
    facts: &'a Facts,
) -> Result<Route<'a>, DecideError> {
    managed_key::route(
        config,
        partition,
        region,
        rp,
        resource_type,
        jobs,
        facts.recovery_point.as_ref(),
        facts.key.as_ref(),
        facts.intermediate_copy_jobs.as_deref(),
    )
    .map_err(DecideError::NeedsFacts)
}

/// Backup Job State Change.
pub fn backup_job(
    e: &BackupJobEvent,
    config: &StackConfig,
    facts: &Facts,
) -> Result<Plan, DecideError> {
    if config.role != Role::Source {
        return Ok(Plan::ignore(format!(
            "backup job {} in a {} account: crossvault copies only from source accounts",
            e.backup_job_id, config.role
        )));
    }
    if let Err(reason) = check_managed(config, &e.meta, &e.backup_vault_arn) {
        return Ok(Plan::ignore(format!(
            "backup job {}: {reason}",
            e.backup_job_id
        )));
    }
    match &e.state {
        Status::Completed => {
            let rp = parse_rp(e.recovery_point_arn.as_deref(), "resources[0]")?;
            if let Some(reason) = not_copyable(config, &rp, e.resource_type.as_deref(), None) {
                return Ok(Plan::ignore(reason));
            }
            // A backup job makes originals: the point is described only for its key, when it
            // may be under an AWS managed key.
            let resource_type = e.resource_type.as_deref();
            let describe = managed_key::applies_to(config, resource_type) && facts.key.is_none();
            need(facts, point_request(config, &rp.arn, describe))?;
            let jobs = facts.copy_jobs.as_deref().unwrap_or_default();
            let partition = e.backup_vault_arn.partition;
            let chain = Chain {
                config,
                partition,
                region: &e.meta.region,
                rp: &rp,
                resource_type,
                tags_of: e.resource_arn.as_deref().unwrap_or(&rp.arn),
                tags: facts.resource_tags.as_ref(),
                jobs,
                retry: Retry::ByReconciler,
                route: route_of(
                    config,
                    partition,
                    &e.meta.region,
                    &rp.arn,
                    resource_type,
                    jobs,
                    facts,
                )?,
            };
            Ok(Plan {
                actions: walk(&chain)?,
            })
        }
        s if s.is_failure() => Ok(Plan::single(notify::backup_job_failed(e))),
        s if s.is_in_progress() => Ok(Plan::ignore(format!(
            "backup job {} is {s}; the copy starts when it is COMPLETED",
            e.backup_job_id
        ))),
        s => Ok(Plan::ignore(format!(
            "backup job {} is {s}; no action for this state",
            e.backup_job_id
        ))),
    }
}

/// Recovery Point State Change.
pub fn recovery_point(
    e: &RecoveryPointEvent,
    config: &StackConfig,
    facts: &Facts,
) -> Result<Plan, DecideError> {
    match config.role {
        Role::Source => {
            if let Err(reason) = check_managed(config, &e.meta, &e.backup_vault_arn) {
                return Ok(Plan::ignore(format!(
                    "recovery point {}: {reason}",
                    e.recovery_point_arn
                )));
            }
            if e.status != Status::Completed {
                return Ok(Plan::ignore(format!(
                    "recovery point {} is {}; crossvault copies COMPLETED points",
                    e.recovery_point_arn, e.status
                )));
            }
            let rp = parse_rp(Some(&e.recovery_point_arn), "resources[0]")?;
            if let Some(reason) =
                not_copyable(config, &rp, e.resource_type.as_deref(), e.storage_class)
            {
                return Ok(Plan::ignore(reason));
            }
            // The event does not say whether the point is a copy from elsewhere: describe it.
            need(facts, point_request(config, &rp.arn, true))?;
            let point = facts.recovery_point.as_ref().expect("needed above");
            if let Some(plan) = not_an_original(point) {
                return Ok(plan);
            }
            if let Some(reason) =
                not_copyable(config, &rp, e.resource_type.as_deref(), point.storage_class)
            {
                return Ok(Plan::ignore(reason));
            }
            let jobs = facts.copy_jobs.as_deref().unwrap_or_default();
            let partition = e.backup_vault_arn.partition;
            let resource_type = e.resource_type.as_deref();
            let chain = Chain {
                config,
                partition,
                region: &e.meta.region,
                rp: &rp,
                resource_type,
                tags_of: e.resource_arn.as_deref().unwrap_or(&rp.arn),
                tags: facts.resource_tags.as_ref(),
                jobs,
                retry: Retry::ByReconciler,
                route: route_of(
                    config,
                    partition,
                    &e.meta.region,
                    &rp.arn,
                    resource_type,
                    jobs,
                    facts,
                )?,
            };
            Ok(Plan {
                actions: walk(&chain)?,
            })
        }
        Role::Backup => two_hop_forward(e, config, facts),
        Role::PreProd => Ok(Plan::ignore(format!(
            "recovery point {} ({}) in vault {} of pre-prod account {}: pre-prod accounts never copy; restore on arrival is not decided by the copy chain",
            e.recovery_point_arn, e.status, e.backup_vault_arn, e.meta.account
        ))),
        Role::Management => Ok(Plan::ignore(format!(
            "recovery point {} in the management account: crossvault does not copy from it",
            e.recovery_point_arn
        ))),
    }
}

/// The backup account's forward of a two-hop type's first-hop arrival.
fn two_hop_forward(
    e: &RecoveryPointEvent,
    config: &StackConfig,
    facts: &Facts,
) -> Result<Plan, DecideError> {
    let rp_arn = &e.recovery_point_arn;
    if let Err(reason) = check_managed(config, &e.meta, &e.backup_vault_arn) {
        return Ok(Plan::ignore(format!("recovery point {rp_arn}: {reason}")));
    }
    if e.status != Status::Completed {
        return Ok(Plan::ignore(format!(
            "recovery point {rp_arn} is {}; the backup account forwards COMPLETED two-hop arrivals only",
            e.status
        )));
    }
    let Some(resource_type) = e.resource_type.as_deref() else {
        return Ok(Plan::ignore(format!(
            "recovery point {rp_arn} names no resource type; only two-hop types are forwarded"
        )));
    };
    if !config.is_two_hop_type(resource_type) {
        return Ok(Plan::ignore(format!(
            "recovery point {rp_arn} is a {resource_type} copy: only two-hop types ({}) are forwarded from the backup account",
            if config.two_hop_resource_types.is_empty() {
                "none configured".to_owned()
            } else {
                config.two_hop_resource_types.join(", ")
            }
        )));
    }
    let Some((resource_region, resource_account)) = e
        .resource_arn
        .as_deref()
        .and_then(crate::arn::region_and_account)
    else {
        return Ok(Plan::ignore(format!(
            "recovery point {rp_arn} has no parsable resourceArn; cannot tell a first-hop arrival from a forwarded copy"
        )));
    };
    if resource_region != e.meta.region {
        return Ok(Plan::ignore(format!(
            "recovery point {rp_arn} is already a cross-region copy (the resource lives in {resource_region}, the point in {}); nothing to forward",
            e.meta.region
        )));
    }
    if resource_account.as_ref() == Some(&config.account_id) {
        return Ok(Plan::ignore(format!(
            "recovery point {rp_arn} is the backup account's own backup, not a copy from a source account"
        )));
    }
    let rp = parse_rp(Some(rp_arn), "resources[0]")?;
    if let Some(reason) = not_copyable(config, &rp, Some(resource_type), e.storage_class) {
        return Ok(Plan::ignore(reason));
    }
    need(facts, point_request(config, rp_arn, false))?;
    let dest = destination(
        config,
        e.backup_vault_arn.partition,
        &e.meta.region,
        Hop::TwoHopForward,
    )
    .expect("forward always has a destination");
    let jobs = facts.copy_jobs.as_deref().unwrap_or_default();
    Ok(
        match hop_step(
            config,
            rp_arn,
            jobs,
            Hop::TwoHopForward,
            dest.clone(),
            Retry::ByReconciler,
        )? {
            Some(action) => Plan::single(action),
            None => Plan::ignore(format!(
                "the two-hop forward of {rp_arn} to {dest} is already COMPLETED"
            )),
        },
    )
}

/// Copy Job State Change.
pub fn copy_job(
    e: &CopyJobEvent,
    config: &StackConfig,
    facts: &Facts,
) -> Result<Plan, DecideError> {
    let job = e.copy_job_id.as_deref().unwrap_or("(no id)");
    let dest = &e.destination_backup_vault_arn;
    if matches!(config.role, Role::PreProd | Role::Management) {
        return Ok(Plan::ignore(format!(
            "copy job {job} in a {} account: crossvault never copies from it",
            config.role
        )));
    }
    if managed_key::is_reencrypt_vault(config, &e.meta, &e.source_backup_vault_arn) {
        return managed_key::copy_job_from_copy(e, config, facts);
    }
    if let Err(reason) = check_managed(config, &e.meta, &e.source_backup_vault_arn) {
        return Ok(Plan::ignore(format!("copy job {job}: {reason}")));
    }
    let region = &e.meta.region;
    let partition = e.source_backup_vault_arn.partition;
    let hop = match config.role {
        Role::Backup => (*dest
            == destination(config, partition, region, Hop::TwoHopForward).expect("always some"))
        .then_some(Hop::TwoHopForward),
        _ => identify_hop(config, region, dest, e.resource_type.as_deref()),
    };
    match &e.state {
        Status::Completed => {}
        s if s.is_failure() => return copy_job_failed(e, config, facts, hop),
        s if s.is_in_progress() => {
            return Ok(Plan::ignore(format!(
                "copy job {job} to {dest} is {s}; the next hop starts when it is COMPLETED"
            )));
        }
        s => {
            return Ok(Plan::ignore(format!(
                "copy job {job} to {dest} is {s}; no action for this state"
            )));
        }
    }
    let Some(hop) = hop else {
        return Ok(Plan::ignore(format!(
            "copy job {job} to {dest} completed, but that vault is not a hop crossvault's configuration asks for \
             (a plan's copy action or a manual copy?); it never leads to shortening"
        )));
    };
    let rp = parse_rp(e.source_recovery_point_arn.as_deref(), "resources[0]")?;
    if rp.is_continuous() {
        return Ok(Plan::ignore(format!(
            "copy job {job}: {} is a continuous recovery point; crossvault does not chain it",
            rp.arn
        )));
    }
    match hop {
        Hop::TwoHopForward => {
            return Ok(Plan::ignore(format!(
                "copy job {job}: the two-hop forward of {} to {dest} completed; the chain is complete",
                rp.arn
            )));
        }
        Hop::ToPreProd => {
            return Ok(Plan::ignore(format!(
                "copy job {job}: the pre-prod copy of {} completed; the chain is complete",
                rp.arn
            )));
        }
        Hop::ToBackupRegion | Hop::ToLocalRegion | Hop::TwoHopFirst | Hop::ReEncrypt => {}
    }
    need(facts, point_request(config, &rp.arn, true))?;
    let point = facts.recovery_point.as_ref().expect("needed above");
    if let Some(plan) = not_an_original(point) {
        return Ok(plan);
    }
    // The event is the newest word on its own job; the listing may lag behind it.
    let mut jobs = facts.copy_jobs.clone().unwrap_or_default();
    if let Some(this) = ListedCopyJob::from_event(e) {
        merge_event_job(&mut jobs, this);
    }
    let resource_type = e
        .resource_type
        .as_deref()
        .or(point.resource_type.as_deref());
    let chain = Chain {
        config,
        partition,
        region,
        rp: &rp,
        resource_type,
        tags_of: e.resource_arn.as_deref().unwrap_or(&rp.arn),
        tags: facts.resource_tags.as_ref(),
        jobs: &jobs,
        retry: Retry::ByReconciler,
        // A completed direct hop shows the point is copied as it is; a completed
        // re-encryption shows it is not.
        route: if hop == Hop::ReEncrypt {
            Route::ReEncrypt {
                intermediate_jobs: facts.intermediate_copy_jobs.as_deref(),
            }
        } else {
            Route::Direct
        },
    };
    Ok(Plan {
        actions: walk(&chain)?,
    })
}

/// A copy job from the managed vault ended FAILED/ABORTED/EXPIRED/PARTIAL: notify, counting
/// the attempt when it is a hop of the chain, and give up after the last allowed attempt.
fn copy_job_failed(
    e: &CopyJobEvent,
    config: &StackConfig,
    facts: &Facts,
    hop: Option<Hop>,
) -> Result<Plan, DecideError> {
    let key = notify::key_problem(e.status_message.as_deref());
    let (Some(hop), Some(rp)) = (hop, e.source_recovery_point_arn.as_deref()) else {
        return Ok(Plan::single(notify::copy_job_failed(e, None, None, key)));
    };
    // The key is named by AWS's message or, failing that, by the point's EncryptionKeyArn.
    let describe = key.as_ref().is_some_and(|k| k.key_arn.is_none()) && config.role == Role::Source;
    need(facts, point_request(config, rp, describe))?;
    let key = key.map(|mut k| {
        if k.key_arn.is_none() {
            k.key_arn = facts
                .recovery_point
                .as_ref()
                .and_then(|p| p.encryption_key_arn.clone());
        }
        k
    });
    let mut jobs = facts.copy_jobs.clone().unwrap_or_default();
    let this = ListedCopyJob::from_event(e);
    if let Some(this) = this.clone() {
        merge_event_job(&mut jobs, this);
    }
    let failed: Vec<&ListedCopyJob> = jobs_into(&jobs, rp, &e.destination_backup_vault_arn)
        .into_iter()
        .filter(|j| copy_jobs::is_failed_attempt(&j.state))
        .collect();
    let failures = u32::try_from(failed.len()).unwrap_or(u32::MAX);
    let attempt = this
        .and_then(|t| failed.iter().position(|j| j.copy_job_id == t.copy_job_id))
        .map_or(failures, |i| u32::try_from(i + 1).unwrap_or(u32::MAX));
    let attempts = Attempts {
        attempt,
        failures,
        max: config.copy_max_attempts,
    };
    Ok(Plan::single(if attempt == attempts.max {
        notify::gave_up(e, hop, attempts, key)
    } else {
        notify::copy_job_failed(e, Some(hop), Some(attempts), key)
    }))
}

/// See [`Facts::without_aws`].
pub fn assumed_without_aws(event: &crate::event::BackupEvent, config: &StackConfig) -> Facts {
    use crate::event::BackupEvent;
    let point = match event {
        BackupEvent::BackupJob(e) => e.recovery_point_arn.clone(),
        BackupEvent::CopyJob(e) => e.source_recovery_point_arn.clone(),
        BackupEvent::RecoveryPoint(e) => Some(e.recovery_point_arn.clone()),
        BackupEvent::RestoreJob(e) => e.recovery_point_arn.clone(),
        BackupEvent::Automation(_) | BackupEvent::RdsInstance(_) | BackupEvent::Other { .. } => {
            None
        }
    };
    let mut jobs = Vec::new();
    if let BackupEvent::CopyJob(e) = event
        && e.state == Status::Completed
        && let Some(rp) = &e.source_recovery_point_arn
    {
        let region = &e.meta.region;
        let partition = e.source_backup_vault_arn.partition;
        let hop = identify_hop(
            config,
            region,
            &e.destination_backup_vault_arn,
            e.resource_type.as_deref(),
        );
        // The re-encryption comes before every offsite hop.
        let earlier = offsite_hops(config, e.resource_type.as_deref())
            .into_iter()
            .take_while(|h| Some(*h) != hop && hop != Some(Hop::ReEncrypt));
        for (i, h) in earlier.enumerate() {
            if let Some(dest) = destination(config, partition, region, h) {
                jobs.push(ListedCopyJob {
                    copy_job_id: format!("(assumed earlier hop {})", i + 1),
                    source_recovery_point_arn: rp.clone(),
                    destination_vault_arn: dest,
                    state: Status::Completed,
                    creation_date: None,
                    status_message: None,
                    destination_recovery_point_arn: None,
                    destination_lifecycle: None,
                    iam_role_arn: None,
                });
            }
        }
    }
    let recovery_point = point.map(|arn| {
        let mut facts = RecoveryPointFacts::new(arn);
        if let BackupEvent::RecoveryPoint(e) = event {
            facts.backup_vault_arn = Some(e.backup_vault_arn.to_string());
            facts.resource_arn = e.resource_arn.clone();
            facts.resource_type = e.resource_type.clone();
            facts.creation_date = e.creation_date;
            facts.status = Some(e.status.clone());
            facts.storage_class = e.storage_class;
            facts.lifecycle = crate::retention::CurrentLifecycle {
                delete_after_days: e.lifecycle.delete_after_days,
                move_to_cold_storage_after_days: e.lifecycle.move_to_cold_storage_after_days,
                opt_in_to_archive: None,
            };
        }
        // The backup's own creation date is not in a restore job's event (DescribeRecoveryPoint
        // gives it): the job's creation date stands in, so the plan shows its provenance tags.
        if let BackupEvent::RestoreJob(e) = event {
            facts.resource_arn = e.source_resource_arn.clone();
            facts.resource_type = e.resource_type.clone();
            facts.creation_date = e.creation_date;
        }
        facts
    });
    let mut facts = Facts {
        resource_tags: None,
        copy_jobs: Some(jobs),
        recovery_point,
        restore: crate::restore::assumed_without_aws(event, config),
        ..Facts::default()
    };
    managed_key::assume_without_aws(event, config, &mut facts);
    facts
}
