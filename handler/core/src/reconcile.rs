//! The reconciler's pure part: finish copy chains and shortenings the events missed (events
//! are best-effort, aws-facts §0.5).
//!
//! Input: the managed vault's recovery points and this account/region's copy jobs, both listed
//! by the effect layer for the look-back window (`ReconcileLookbackHours`), plus the resource
//! tags it was asked for ([`facts_needed`]). For each COMPLETED (or AVAILABLE) recovery point
//! created inside the window, walking the chain in order:
//!
//! - a hop with a COMPLETED copy job is done → look at the next one;
//! - a hop with a CREATED/PENDING/RUNNING copy job is under way → stop for this point;
//! - a hop with no copy job, or only FAILED/ABORTED/EXPIRED/PARTIAL ones → start it (with the
//!   same idempotency token as the event path, so a concurrent event starts nothing twice) and
//!   stop for this point.
//!
//! When every offsite hop is done: the pre-prod hop (as in [`crate::copy_chain`]), and a
//! [`Action::ShortenRetention`] confirmed by the last offsite hop's copy job — only when a
//! pre-check with [`crate::retention::decide`] (assuming an unlocked vault and a confirmed
//! copy; the effect layer re-decides with the real facts) says the original is still long.
//!
//! Points older than the window are skipped: their copy jobs are not in the listing, so the
//! chain's state is unknown, and a blind restart could duplicate a copy.
//!
//! In the backup account the same walk forwards two-hop arrivals ([`Hop::TwoHopForward`]);
//! other roles have nothing to reconcile.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::arn::{Partition, RecoveryPointArn, VaultArn};
use crate::config::{Role, StackConfig};
use crate::copy_chain::{self, destination, identify_hop, not_copyable, start_copy};
use crate::decide::DecideError;
use crate::event::{Status, StorageClass};
use crate::ids::Region;
use crate::plan::{Action, Hop, Plan};
use crate::retention::{self, CurrentLifecycle, RetentionDecision, RetentionInput};

/// One recovery point of the managed vault (`ListRecoveryPointsByBackupVault`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedRecoveryPoint {
    /// `RecoveryPointArn`
    pub recovery_point_arn: String,
    /// `ResourceArn`
    pub resource_arn: Option<String>,
    /// `ResourceType`
    pub resource_type: Option<String>,
    /// `CreationDate`
    pub creation_date: DateTime<Utc>,
    /// `Status`
    pub status: Status,
    /// `StorageClass`
    pub storage_class: StorageClass,
    /// `Lifecycle`
    pub lifecycle: CurrentLifecycle,
}

/// One copy job of this account and region (`ListCopyJobs`).
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
}

/// Everything the reconciler looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileInput {
    /// The current time.
    pub now: DateTime<Utc>,
    /// The partition this Lambda runs in.
    pub partition: Partition,
    /// The region this Lambda runs in.
    pub region: Region,
    /// The managed vault's recovery points.
    pub recovery_points: Vec<ListedRecoveryPoint>,
    /// This account and region's recent copy jobs.
    pub copy_jobs: Vec<ListedCopyJob>,
    /// Tags by resource ARN, for the ARNs [`facts_needed`] asked for.
    pub resource_tags: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HopState {
    Done { copy_job_id: String },
    UnderWay,
    Missing,
}

fn hop_state(
    config: &StackConfig,
    input: &ReconcileInput,
    rp: &str,
    resource_type: Option<&str>,
    hop: Hop,
) -> HopState {
    let forward_dest = destination(config, input.partition, &input.region, Hop::TwoHopForward);
    let mut state = HopState::Missing;
    for job in input
        .copy_jobs
        .iter()
        .filter(|j| j.source_recovery_point_arn == rp)
    {
        let job_hop = if hop == Hop::TwoHopForward {
            (Some(&job.destination_vault_arn) == forward_dest.as_ref())
                .then_some(Hop::TwoHopForward)
        } else {
            identify_hop(
                config,
                &input.region,
                &job.destination_vault_arn,
                resource_type,
            )
        };
        if job_hop != Some(hop) {
            continue;
        }
        if job.state == Status::Completed {
            return HopState::Done {
                copy_job_id: job.copy_job_id.clone(),
            };
        }
        if job.state.is_in_progress() {
            state = HopState::UnderWay;
        }
    }
    state
}

fn in_window(config: &StackConfig, input: &ReconcileInput, p: &ListedRecoveryPoint) -> bool {
    p.creation_date >= input.now - Duration::hours(i64::from(config.reconcile_lookback_hours))
}

fn candidate(p: &ListedRecoveryPoint) -> bool {
    matches!(p.status, Status::Completed | Status::Available)
}

fn tags_of(p: &ListedRecoveryPoint) -> &str {
    p.resource_arn.as_deref().unwrap_or(&p.recovery_point_arn)
}

/// The offsite hops of a point's chain, in order.
fn offsite_hops(config: &StackConfig, resource_type: Option<&str>) -> Vec<Hop> {
    if resource_type.is_some_and(|t| config.is_two_hop_type(t)) {
        vec![Hop::TwoHopFirst]
    } else if config.copy_to_local_region {
        vec![Hop::ToBackupRegion, Hop::ToLocalRegion]
    } else {
        vec![Hop::ToBackupRegion]
    }
}

/// Phase 1: the resource ARNs whose tags [`reconcile`] needs and `input` lacks.
pub fn facts_needed(input: &ReconcileInput, config: &StackConfig) -> BTreeSet<String> {
    let mut needed = BTreeSet::new();
    if config.role != Role::Source {
        return needed;
    }
    for p in input
        .recovery_points
        .iter()
        .filter(|p| candidate(p) && in_window(config, input, p))
    {
        let tags = input.resource_tags.get(tags_of(p));
        let all_done = offsite_hops(config, p.resource_type.as_deref())
            .into_iter()
            .all(|hop| {
                matches!(
                    hop_state(
                        config,
                        input,
                        &p.recovery_point_arn,
                        p.resource_type.as_deref(),
                        hop
                    ),
                    HopState::Done { .. }
                )
            });
        if all_done
            && let Err(request) = copy_chain::preprod_hop(config, tags, tags_of(p))
            && let Some(arn) = request.resource_tags_of
        {
            needed.insert(arn);
        }
    }
    needed
}

/// Phase 2: the plan that finishes every unfinished chain in `input`.
pub fn reconcile(input: &ReconcileInput, config: &StackConfig) -> Result<Plan, DecideError> {
    let mut actions = Vec::new();
    let mut checked = 0usize;
    let mut skipped_old = 0usize;
    for p in input.recovery_points.iter().filter(|p| candidate(p)) {
        if !in_window(config, input, p) {
            skipped_old += 1;
            continue;
        }
        checked += 1;
        match config.role {
            Role::Source => source_point(input, config, p, &mut actions)?,
            Role::Backup => backup_point(input, config, p, &mut actions)?,
            Role::PreProd | Role::Management => {}
        }
    }
    if matches!(config.role, Role::PreProd | Role::Management) {
        return Ok(Plan::ignore(format!(
            "reconcile: nothing to do in a {} account (it never starts copies)",
            config.role
        )));
    }
    if actions.is_empty() {
        actions.push(Action::Ignore {
            reason: format!(
                "reconcile: {checked} recovery point(s) checked, every chain complete or under way; {skipped_old} older than the {} h look-back skipped",
                config.reconcile_lookback_hours
            ),
        });
    }
    Ok(Plan { actions })
}

fn parse_listed(p: &ListedRecoveryPoint, actions: &mut Vec<Action>) -> Option<RecoveryPointArn> {
    match RecoveryPointArn::parse(&p.recovery_point_arn) {
        Ok(rp) => Some(rp),
        Err(e) => {
            actions.push(Action::Ignore {
                reason: format!("reconcile: listed recovery point skipped: {e}"),
            });
            None
        }
    }
}

fn source_point(
    input: &ReconcileInput,
    config: &StackConfig,
    p: &ListedRecoveryPoint,
    actions: &mut Vec<Action>,
) -> Result<(), DecideError> {
    let Some(rp) = parse_listed(p, actions) else {
        return Ok(());
    };
    let resource_type = p.resource_type.as_deref();
    if let Some(reason) = not_copyable(config, &rp, resource_type, Some(p.storage_class)) {
        actions.push(Action::Ignore {
            reason: format!("reconcile: {reason}"),
        });
        return Ok(());
    }
    let mut confirm = None;
    for hop in offsite_hops(config, resource_type) {
        match hop_state(config, input, &rp.arn, resource_type, hop) {
            HopState::Done { copy_job_id } => confirm = Some(copy_job_id),
            HopState::UnderWay => return Ok(()),
            HopState::Missing => {
                let dest = destination(config, input.partition, &input.region, hop)
                    .expect("offsite hops always have a destination");
                actions.push(start_copy(config, &rp.arn, dest, hop)?);
                return Ok(());
            }
        }
    }
    // Every offsite hop is done.
    match copy_chain::preprod_hop(config, input.resource_tags.get(tags_of(p)), tags_of(p)) {
        Err(request) => actions.push(Action::Ignore {
            reason: format!(
                "reconcile: pre-prod hop of {} undecided: {request} not provided",
                rp.arn
            ),
        }),
        Ok(false) => {}
        Ok(true) => {
            if hop_state(config, input, &rp.arn, resource_type, Hop::ToPreProd) == HopState::Missing
            {
                let dest = destination(config, input.partition, &input.region, Hop::ToPreProd)
                    .expect("preprod_hop checked that a pre-prod account exists");
                actions.push(start_copy(config, &rp.arn, dest, Hop::ToPreProd)?);
            }
        }
    }
    let pre_check = retention::decide(
        &RetentionInput {
            now: input.now,
            creation_date: p.creation_date,
            current: p.lifecycle,
            storage_class: p.storage_class,
            is_continuous: rp.is_continuous(),
            vault_locked: false,
            role: config.role,
            copy_confirmed: true,
        },
        config,
    );
    if matches!(pre_check, RetentionDecision::Shorten { .. }) {
        actions.push(Action::ShortenRetention {
            recovery_point_arn: rp.arn.clone(),
            vault_name: config.vault_name.clone(),
            confirm_copy_job_id: confirm,
        });
    }
    Ok(())
}

fn backup_point(
    input: &ReconcileInput,
    config: &StackConfig,
    p: &ListedRecoveryPoint,
    actions: &mut Vec<Action>,
) -> Result<(), DecideError> {
    let Some(resource_type) = p.resource_type.as_deref() else {
        return Ok(());
    };
    if !config.is_two_hop_type(resource_type) {
        return Ok(());
    }
    let Some((resource_region, resource_account)) = p
        .resource_arn
        .as_deref()
        .and_then(crate::arn::region_and_account)
    else {
        return Ok(());
    };
    if resource_region != input.region || resource_account.as_ref() == Some(&config.account_id) {
        return Ok(());
    }
    let Some(rp) = parse_listed(p, actions) else {
        return Ok(());
    };
    if let Some(reason) = not_copyable(config, &rp, Some(resource_type), Some(p.storage_class)) {
        actions.push(Action::Ignore {
            reason: format!("reconcile: {reason}"),
        });
        return Ok(());
    }
    if hop_state(
        config,
        input,
        &rp.arn,
        Some(resource_type),
        Hop::TwoHopForward,
    ) == HopState::Missing
    {
        let dest = destination(config, input.partition, &input.region, Hop::TwoHopForward)
            .expect("forward always has a destination");
        actions.push(start_copy(config, &rp.arn, dest, Hop::TwoHopForward)?);
    }
    Ok(())
}
