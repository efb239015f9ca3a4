//! The reconciler's pure part: finish copy chains and shortenings the events missed (events
//! are best-effort, AWS docs), and retry failed hops.
//!
//! Input: the managed vault's recovery points and this account/region's copy jobs, both listed
//! by the effect layer for the look-back window (`ReconcileLookbackHours`, capped at
//! [`crate::config::MAX_LOOKBACK_HOURS`]: older jobs are no longer listed, so an older point
//! would look "missing"), plus the resource tags it was asked for. Points are taken **oldest
//! first** ([`candidates`]), so a run cut short by its deadline leaves the newest work, which
//! the events are most likely to have done, for the next run.
//!
//! Each point is walked like the event path does ([`crate::copy_chain::walk`]), with one
//! difference: a failed hop is started again now ([`Retry::Now`]) with the next attempt's
//! token, until `CopyMaxAttempts`; after that the point is reported "given up", never
//! notified again (the notice belongs to the failure event of the last attempt).
//!
//! When every offsite hop is done, [`Action::ShortenRetention`] is planned only when a
//! pre-check with [`crate::retention::decide`] on what the listings show (this account's copy
//! jobs; an unlocked vault) says the original is still long; the effect layer re-decides with
//! every fact (the lock, the backup account's forward).
//!
//! Points older than the window are skipped: their copy jobs are not in the listing, so the
//! chain's state is unknown, and a blind restart could duplicate a copy. Points that arrived
//! as copies from another vault are not originals and are left alone.
//!
//! In the backup account the same walk forwards two-hop arrivals ([`Hop::TwoHopForward`]);
//! other roles have nothing to reconcile.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::arn::{Partition, RecoveryPointArn};
use crate::config::{Role, StackConfig};
use crate::copy_chain::{self, Chain, Retry, destination, hop_step, not_copyable};
pub use crate::copy_jobs::ListedCopyJob;
use crate::decide::DecideError;
use crate::event::{Status, StorageClass};
pub use crate::facts::RecoveryPointFacts;
use crate::ids::Region;
use crate::managed_key::{self, PointKey, Route};
use crate::plan::{Action, Hop, Plan};
use crate::retention::{self, RetentionDecision, RetentionInput};
use crate::verify::{self, ForwardListing, required_copies};

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
    pub recovery_points: Vec<RecoveryPointFacts>,
    /// This account and region's recent copy jobs.
    pub copy_jobs: Vec<ListedCopyJob>,
    /// Tags by resource ARN, for the ARNs [`facts_needed`] asked for.
    pub resource_tags: BTreeMap<String, BTreeMap<String, String>>,
    /// KMS keys by ARN, for the keys [`keys_needed`] asked for.
    #[serde(default)]
    pub keys: BTreeMap<String, PointKey>,
    /// The re-encryption vault's recovery points ([`crate::managed_key`]; empty without one).
    #[serde(default)]
    pub intermediates: Vec<RecoveryPointFacts>,
}

/// The points a run works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidates<'a> {
    /// COMPLETED (or AVAILABLE) points inside the window, oldest first.
    pub points: Vec<&'a RecoveryPointFacts>,
    /// Points older than the window (their jobs are not listed).
    pub skipped_old: usize,
}

/// The start of the look-back window.
pub fn window_start(config: &StackConfig, now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::hours(i64::from(config.lookback_hours()))
}

/// The points to work on, oldest first.
pub fn candidates<'a>(input: &'a ReconcileInput, config: &StackConfig) -> Candidates<'a> {
    let since = window_start(config, input.now);
    let mut points = Vec::new();
    let mut skipped_old = 0;
    for p in &input.recovery_points {
        if !matches!(p.status, Some(Status::Completed | Status::Available)) {
            continue;
        }
        match p.creation_date {
            Some(created) if created >= since => points.push(p),
            _ => skipped_old += 1,
        }
    }
    points.sort_by(|a, b| {
        (a.creation_date, &a.recovery_point_arn).cmp(&(b.creation_date, &b.recovery_point_arn))
    });
    Candidates {
        points,
        skipped_old,
    }
}

fn tags_of(p: &RecoveryPointFacts) -> &str {
    p.resource_arn.as_deref().unwrap_or(&p.recovery_point_arn)
}

/// The jobs of one point, from the account-wide listing.
fn jobs_of(input: &ReconcileInput, rp: &str) -> Vec<ListedCopyJob> {
    input
        .copy_jobs
        .iter()
        .filter(|j| j.source_recovery_point_arn == rp)
        .cloned()
        .collect()
}

/// The actions for one point (fails with [`DecideError::NeedsFacts`] when its pre-prod hop
/// needs the resource's tags and `input` lacks them).
pub fn point_plan(
    input: &ReconcileInput,
    config: &StackConfig,
    point: &RecoveryPointFacts,
) -> Result<Vec<Action>, DecideError> {
    let rp = match RecoveryPointArn::parse(&point.recovery_point_arn) {
        Ok(rp) => rp,
        Err(e) => {
            return Ok(vec![Action::Ignore {
                reason: format!("reconcile: listed recovery point skipped: {e}"),
            }]);
        }
    };
    match config.role {
        Role::Source => source_point(input, config, point, &rp),
        Role::Backup => backup_point(input, config, point, &rp),
        Role::PreProd | Role::Management => Ok(Vec::new()),
    }
}

fn source_point(
    input: &ReconcileInput,
    config: &StackConfig,
    p: &RecoveryPointFacts,
    rp: &RecoveryPointArn,
) -> Result<Vec<Action>, DecideError> {
    if let Some(source) = p.copied_from() {
        return Ok(vec![Action::Ignore {
            reason: format!(
                "reconcile: {} is a copy from {source}, not an original; left alone",
                rp.arn
            ),
        }]);
    }
    let resource_type = p.resource_type.as_deref();
    if let Some(reason) = not_copyable(config, rp, resource_type, p.storage_class) {
        return Ok(vec![Action::Ignore {
            reason: format!("reconcile: {reason}"),
        }]);
    }
    let jobs = jobs_of(input, &rp.arn);
    // The re-encrypted copy's own jobs are in the same account-wide listing.
    let copy = managed_key::reencrypt_vault(config, input.partition, &input.region)
        .and_then(|vault| verify::copy_in(&jobs, &rp.arn, &vault));
    let copy_jobs = copy.as_deref().map(|c| jobs_of(input, c));
    let route = managed_key::route(
        config,
        input.partition,
        &input.region,
        &rp.arn,
        resource_type,
        &jobs,
        Some(p),
        p.encryption_key_arn
            .as_ref()
            .and_then(|arn| input.keys.get(arn)),
        copy_jobs.as_deref(),
    )
    .map_err(DecideError::NeedsFacts)?;
    let chain = Chain {
        config,
        partition: input.partition,
        region: &input.region,
        rp,
        resource_type,
        tags_of: tags_of(p),
        tags: input.resource_tags.get(tags_of(p)),
        jobs: &jobs,
        retry: Retry::Now,
        route,
    };
    let mut actions = copy_chain::walk(&chain)?;
    if let (Route::ReEncrypt { .. }, Some(copy)) = (route, &copy)
        && !input
            .intermediates
            .iter()
            .any(|i| i.recovery_point_arn == *copy)
    {
        // Deleted already (the chain is done), or by someone else: nothing is copied from it,
        // deleted or, for a missing copy, verified.
        let unfinished = actions.iter().any(|a| {
            matches!(a, Action::StartCopyJob { source_recovery_point_arn, .. } if source_recovery_point_arn == copy)
        });
        actions.retain(|a| {
            !matches!(a, Action::DeleteIntermediate { .. })
                && !matches!(a, Action::StartCopyJob { source_recovery_point_arn, .. } if source_recovery_point_arn == copy)
        });
        if unfinished {
            actions.push(Action::Ignore {
                reason: format!(
                    "reconcile: the re-encrypted copy {copy} of {} is no longer in the re-encryption vault \
                     but its copies are not all made; the original keeps its retention",
                    rp.arn
                ),
            });
        }
    }
    let mut all_jobs = jobs.clone();
    all_jobs.extend(copy_jobs.unwrap_or_default());
    if let Some(i) = actions
        .iter()
        .position(|a| matches!(a, Action::ShortenRetention { .. }))
        && !still_long(input, config, p, rp, &all_jobs)
    {
        actions.remove(i);
    }
    Ok(actions)
}

/// The pre-check: would the original be shortened, by what this account's listings show?
fn still_long(
    input: &ReconcileInput,
    config: &StackConfig,
    p: &RecoveryPointFacts,
    rp: &RecoveryPointArn,
    jobs: &[ListedCopyJob],
) -> bool {
    let Some(creation_date) = p.creation_date else {
        return false;
    };
    // The forward is in the backup account: the effect layer reads it; not pre-checked here.
    let mut required = required_copies(
        config,
        input.partition,
        &input.region,
        p.resource_type.as_deref(),
    );
    if let Some(vault) = managed_key::reencrypt_vault(config, input.partition, &input.region)
        && verify::copy_in(jobs, &rp.arn, &vault).is_some()
    {
        for r in &mut required {
            r.via = Some(vault.clone());
        }
    }
    required.retain(|r| r.hop != Hop::TwoHopForward);
    let pre_check = retention::decide(
        &RetentionInput {
            now: input.now,
            creation_date,
            current: p.lifecycle,
            storage_class: p.storage_class.unwrap_or(StorageClass::Warm),
            is_continuous: rp.is_continuous(),
            vault_locked: false,
            role: config.role,
            copied_from: None,
            copies: verify::check(&required, &rp.arn, jobs, &ForwardListing::NotRead),
        },
        config,
    );
    matches!(pre_check, RetentionDecision::Shorten { .. })
}

fn backup_point(
    input: &ReconcileInput,
    config: &StackConfig,
    p: &RecoveryPointFacts,
    rp: &RecoveryPointArn,
) -> Result<Vec<Action>, DecideError> {
    let Some(resource_type) = p.resource_type.as_deref() else {
        return Ok(Vec::new());
    };
    if !config.is_two_hop_type(resource_type) {
        return Ok(Vec::new());
    }
    let Some((resource_region, resource_account)) = p
        .resource_arn
        .as_deref()
        .and_then(crate::arn::region_and_account)
    else {
        return Ok(Vec::new());
    };
    if resource_region != input.region || resource_account.as_ref() == Some(&config.account_id) {
        return Ok(Vec::new());
    }
    if let Some(reason) = not_copyable(config, rp, Some(resource_type), p.storage_class) {
        return Ok(vec![Action::Ignore {
            reason: format!("reconcile: {reason}"),
        }]);
    }
    let dest = destination(config, input.partition, &input.region, Hop::TwoHopForward)
        .expect("forward always has a destination");
    let jobs = jobs_of(input, &rp.arn);
    Ok(
        hop_step(config, &rp.arn, &jobs, Hop::TwoHopForward, dest, Retry::Now)?
            .into_iter()
            .collect(),
    )
}

/// The resource ARNs whose tags the candidates need and `input` lacks.
pub fn facts_needed(input: &ReconcileInput, config: &StackConfig) -> BTreeSet<String> {
    let mut needed = BTreeSet::new();
    for p in candidates(input, config).points {
        if let Err(DecideError::NeedsFacts(request)) = point_plan(input, config, p)
            && let Some(arn) = request.resource_tags_of
        {
            needed.insert(arn);
        }
    }
    needed
}

/// The KMS keys the candidates' routes need and `input` lacks ([`managed_key::route`]).
pub fn keys_needed(input: &ReconcileInput, config: &StackConfig) -> BTreeSet<String> {
    let mut needed = BTreeSet::new();
    for p in candidates(input, config).points {
        if let Err(DecideError::NeedsFacts(request)) = point_plan(input, config, p)
            && let Some(arn) = request.key_of()
        {
            needed.insert(arn.to_owned());
        }
    }
    needed
}

/// The whole plan: every candidate's actions, oldest first; a point whose tags are missing
/// gets an [`Action::Ignore`] naming them (and its shortening, which does not depend on them);
/// one whose key is missing, an [`Action::Ignore`] only.
pub fn reconcile(input: &ReconcileInput, config: &StackConfig) -> Result<Plan, DecideError> {
    if matches!(config.role, Role::PreProd | Role::Management) {
        return Ok(Plan::ignore(format!(
            "reconcile: nothing to do in a {} account (it never starts copies)",
            config.role
        )));
    }
    let candidates = candidates(input, config);
    let mut actions = Vec::new();
    for p in &candidates.points {
        match point_plan(input, config, p) {
            Ok(point_actions) => actions.extend(point_actions),
            Err(DecideError::NeedsFacts(request)) if request.resource_tags_of.is_none() => {
                actions.push(Action::Ignore {
                    reason: format!(
                        "reconcile: {} undecided: {request} not provided",
                        p.recovery_point_arn
                    ),
                });
            }
            Err(DecideError::NeedsFacts(request)) => {
                actions.push(Action::Ignore {
                    reason: format!(
                        "reconcile: pre-prod hop of {} undecided: {request} not provided",
                        p.recovery_point_arn
                    ),
                });
                let mut without_preprod = input.clone();
                without_preprod
                    .resource_tags
                    .insert(tags_of(p).to_owned(), BTreeMap::new());
                actions.extend(
                    point_plan(&without_preprod, config, p)?
                        .into_iter()
                        .filter(|a| matches!(a, Action::ShortenRetention { .. })),
                );
            }
            Err(e) => return Err(e),
        }
    }
    if actions.is_empty() {
        actions.push(Action::Ignore {
            reason: summary(config, candidates.points.len(), candidates.skipped_old),
        });
    }
    Ok(Plan { actions })
}

/// The line a quiet run reports.
pub fn summary(config: &StackConfig, checked: usize, skipped_old: usize) -> String {
    format!(
        "reconcile: {checked} recovery point(s) checked, every chain complete or under way; {skipped_old} older than the {} h look-back skipped",
        config.lookback_hours()
    )
}
