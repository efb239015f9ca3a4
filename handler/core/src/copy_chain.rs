//! The copy chain: which hop comes next for an event (DESIGN.md "Copy chain").
//!
//! In a **source** account, region R, for each new recovery point in the managed vault:
//!
//! | trigger (in the managed vault)                                 | next                          |
//! |----------------------------------------------------------------|-------------------------------|
//! | Backup Job COMPLETED (plan or on demand), or Recovery Point State Change COMPLETED | hop 1: [`Hop::ToBackupRegion`] (backup account, backup region; the alternate when R is the backup region), or [`Hop::TwoHopFirst`] (backup account, region R) for a two-hop type |
//! | Copy Job COMPLETED, hop [`Hop::ToBackupRegion`]                 | [`Hop::ToLocalRegion`] if `CopyToLocalRegion`, else *offsite done* |
//! | Copy Job COMPLETED, hop [`Hop::ToLocalRegion`] or [`Hop::TwoHopFirst`] | *offsite done*        |
//! | Copy Job COMPLETED, hop [`Hop::ToPreProd`]                      | nothing: chain complete       |
//!
//! *Offsite done* = [`Hop::ToPreProd`] when the resource carries `PreProdTagKey=PreProdTagValue`
//! (exact, case-sensitive match on the resource's tags, a [`Facts`] item), this account is
//! admitted by `PreProdSourceAccountIds` and a pre-prod account exists; **plus**
//! [`Action::ShortenRetention`] of the original, confirmed by the copy job that just completed.
//! So shortening is triggered by the last *offsite* hop: the backup-region hop, or the
//! local-region hop when `CopyToLocalRegion` is on (it runs after the backup-region hop), or
//! for two-hop types the same-region hop into the backup account (the source account cannot
//! see the backup account's forward). The pre-prod hop never counts as offsite safety. The
//! pre-prod copy is started before the shortening in the plan; the shortened original still
//! lives at least a day (see [`crate::retention`]), far longer than a copy takes to start.
//!
//! Pre-prod account: the **first** of `PreProdAccountIds`, in the resource's region R (the
//! pre-prod restore runs where the resource lives). A copy that completed into any listed
//! pre-prod account's vault is recognised as the pre-prod hop.
//!
//! In the **backup** account: a Recovery Point State Change COMPLETED in the central vault in
//! region R, for a two-hop type, whose resource lives in R (so it is a hop-1 arrival, not an
//! already cross-region copy) and in another account → [`Hop::TwoHopForward`] to the backup
//! region (the alternate when R is the backup region, mirroring hop 1). Nothing else ever
//! starts a copy in backup or pre-prod accounts.
//!
//! Destinations come only from the configuration; event fields are only *compared* with it.
//! Failed copy/backup jobs in the managed vault become [`Action::Notify`]; everything else
//! becomes [`Action::Ignore`] with a precise reason.

use std::collections::BTreeMap;

use crate::arn::{Partition, RecoveryPointArn, VaultArn};
use crate::config::{Role, StackConfig};
use crate::decide::DecideError;
use crate::event::{
    BackupJobEvent, CopyJobEvent, EventError, EventMeta, RecoveryPointEvent, Status, StorageClass,
};
use crate::facts::{FactRequest, Facts};
use crate::idempotency::copy_token;
use crate::ids::{AccountId, Region};
use crate::notify;
use crate::plan::{Action, Hop, Lifecycle, Plan};

/// AWS Backup resource types crossvault copies (`resourceType` values, aws-facts §2). Other
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
    }
}

/// Which source-account hop a copy from region `region` into `dest` is, if any.
pub fn identify_hop(
    config: &StackConfig,
    region: &Region,
    dest: &VaultArn,
    resource_type: Option<&str>,
) -> Option<Hop> {
    let p = dest.partition;
    if *dest == central_vault(config, p, config.offsite_region_for(region)) {
        return Some(Hop::ToBackupRegion);
    }
    if *dest == central_vault(config, p, region) {
        return Some(
            if resource_type.is_some_and(|t| config.is_two_hop_type(t)) {
                Hop::TwoHopFirst
            } else {
                Hop::ToLocalRegion
            },
        );
    }
    if dest.region == *region
        && dest.name == config.preprod_vault_name
        && config.preprod_account_ids.contains(&dest.account)
    {
        return Some(Hop::ToPreProd);
    }
    None
}

/// The `StartCopyJob` action for one hop.
pub fn start_copy(
    config: &StackConfig,
    source_recovery_point_arn: &str,
    destination_vault_arn: VaultArn,
    hop: Hop,
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
        ),
        source_recovery_point_arn: source_recovery_point_arn.to_owned(),
        source_vault_name: config.vault_name.clone(),
        destination_vault_arn,
        iam_role_arn,
        lifecycle: Lifecycle {
            delete_after_days: config.copy_delete_after_days,
            move_to_cold_storage_after_days: config.copy_cold_after_days,
        },
        hop,
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

/// The first hop for a new recovery point in the managed vault of `region`.
pub fn first_hop(
    config: &StackConfig,
    partition: Partition,
    region: &Region,
    rp: &RecoveryPointArn,
    resource_type: Option<&str>,
    storage_class: Option<StorageClass>,
) -> Result<Plan, DecideError> {
    if let Some(reason) = not_copyable(config, rp, resource_type, storage_class) {
        return Ok(Plan::ignore(reason));
    }
    let hop = if resource_type.is_some_and(|t| config.is_two_hop_type(t)) {
        Hop::TwoHopFirst
    } else {
        Hop::ToBackupRegion
    };
    let dest = destination(config, partition, region, hop).expect("backup hops always have one");
    Ok(Plan::single(start_copy(config, &rp.arn, dest, hop)?))
}

/// Whether the pre-prod hop applies (`Ok(None)` = no; `Err` = the tags are needed first).
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
        }),
        Some(tags) => Ok(tags.get(&config.preprod_tag_key) == Some(&config.preprod_tag_value)),
    }
}

/// The actions once the last offsite hop completed: the pre-prod hop if it applies, then
/// shortening the original.
pub fn offsite_done(
    config: &StackConfig,
    partition: Partition,
    region: &Region,
    source_rp: &str,
    tags_of: &str,
    tags: Option<&BTreeMap<String, String>>,
    confirm_copy_job_id: Option<String>,
) -> Result<Plan, DecideError> {
    let mut actions = Vec::with_capacity(2);
    if preprod_hop(config, tags, tags_of).map_err(DecideError::NeedsFacts)? {
        let dest = destination(config, partition, region, Hop::ToPreProd)
            .expect("preprod_hop checked that a pre-prod account exists");
        actions.push(start_copy(config, source_rp, dest, Hop::ToPreProd)?);
    }
    actions.push(Action::ShortenRetention {
        recovery_point_arn: source_rp.to_owned(),
        vault_name: config.vault_name.clone(),
        confirm_copy_job_id,
    });
    Ok(Plan { actions })
}

/// Checks that an event is about this account's managed vault; `Err(reason)` otherwise.
fn check_managed(config: &StackConfig, meta: &EventMeta, vault: &VaultArn) -> Result<(), String> {
    if meta.account != config.account_id {
        return Err(format!(
            "event from account {} but this stack runs in account {}",
            meta.account, config.account_id
        ));
    }
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

fn parse_rp(arn: Option<&str>, field: &str) -> Result<RecoveryPointArn, DecideError> {
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

/// Backup Job State Change.
pub fn backup_job(e: &BackupJobEvent, config: &StackConfig) -> Result<Plan, DecideError> {
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
            first_hop(
                config,
                e.backup_vault_arn.partition,
                &e.meta.region,
                &rp,
                e.resource_type.as_deref(),
                None,
            )
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
pub fn recovery_point(e: &RecoveryPointEvent, config: &StackConfig) -> Result<Plan, DecideError> {
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
            first_hop(
                config,
                e.backup_vault_arn.partition,
                &e.meta.region,
                &rp,
                e.resource_type.as_deref(),
                e.storage_class,
            )
        }
        Role::Backup => two_hop_forward(e, config),
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
fn two_hop_forward(e: &RecoveryPointEvent, config: &StackConfig) -> Result<Plan, DecideError> {
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
    let dest = destination(
        config,
        e.backup_vault_arn.partition,
        &e.meta.region,
        Hop::TwoHopForward,
    )
    .expect("forward always has a destination");
    Ok(Plan::single(start_copy(
        config,
        rp_arn,
        dest,
        Hop::TwoHopForward,
    )?))
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
        s if s.is_failure() => return Ok(Plan::single(notify::copy_job_failed(e, hop))),
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
            "copy job {job} to {dest} completed, but that vault is not a crossvault hop destination (a manual copy?)"
        )));
    };
    let rp = parse_rp(e.source_recovery_point_arn.as_deref(), "resources[0]")?;
    if rp.is_continuous() {
        return Ok(Plan::ignore(format!(
            "copy job {job}: {} is a continuous recovery point; crossvault does not chain it",
            rp.arn
        )));
    }
    let tags_of = e.resource_arn.as_deref().unwrap_or(&rp.arn);
    let confirm = e.copy_job_id.clone();
    match hop {
        Hop::TwoHopForward => Ok(Plan::ignore(format!(
            "copy job {job}: the two-hop forward of {} to {dest} completed; the chain is complete",
            rp.arn
        ))),
        Hop::ToPreProd => Ok(Plan::ignore(format!(
            "copy job {job}: the pre-prod copy of {} completed; the chain is complete",
            rp.arn
        ))),
        Hop::ToBackupRegion if config.copy_to_local_region => {
            let local =
                destination(config, partition, region, Hop::ToLocalRegion).expect("always some");
            Ok(Plan::single(start_copy(
                config,
                &rp.arn,
                local,
                Hop::ToLocalRegion,
            )?))
        }
        Hop::ToBackupRegion | Hop::ToLocalRegion | Hop::TwoHopFirst => offsite_done(
            config,
            partition,
            region,
            &rp.arn,
            tags_of,
            facts.resource_tags.as_ref(),
            confirm,
        ),
    }
}
