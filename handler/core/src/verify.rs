//! Which offsite copies a shortening waits for, and whether the listings show them.
//!
//! An original is shortened only when **every** offsite hop the configuration asks for has a
//! COMPLETED copy job into **exactly** that hop's destination ([`required_copies`]):
//!
//! | resource type | required copies |
//! |---|---|
//! | normal | [`Hop::ToBackupRegion`] (the backup region, or the alternate for resources in it); plus [`Hop::ToLocalRegion`] when `CopyToLocalRegion` |
//! | two-hop (`TwoHopResourceTypes`) | [`Hop::TwoHopFirst`] (backup account, same region) and [`Hop::TwoHopForward`] (the backup account's forward to the backup region) |
//!
//! A copy into any other vault, however it got there (a plan's copy action, a manual copy),
//! never counts. The source account cannot list the backup account's jobs, so the forward is
//! read through a read-only role in the backup account (`CROSSVAULT_VERIFY_ROLE_ARN`); without
//! it a two-hop original is never shortened.
//!
//! Each verified copy carries its real `DestinationRecoveryPointLifecycle`:
//! [`crate::retention`] compares it with what the original promises.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::arn::{Partition, VaultArn};
use crate::config::StackConfig;
use crate::copy_chain::central_vault;
use crate::copy_jobs::{HopState, ListedCopyJob, hop_state};
use crate::ids::Region;
use crate::plan::Hop;
use crate::retention::CurrentLifecycle;

/// One offsite copy a shortening requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredCopy {
    /// The hop.
    pub hop: Hop,
    /// Its exact destination.
    pub destination_vault_arn: VaultArn,
    /// Set when the copy is made not from the original but from the original's COMPLETED
    /// copy in this vault (the re-encryption vault, [`crate::managed_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<VaultArn>,
}

impl fmt::Display for RequiredCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}", self.hop, self.destination_vault_arn)?;
        if let Some(via) = &self.via {
            write!(f, " (from the re-encrypted copy in {via})")?;
        }
        Ok(())
    }
}

/// The offsite copies the configuration asks for, for a point of `resource_type` in
/// `region` (in the order the chain makes them).
pub fn required_copies(
    config: &StackConfig,
    partition: Partition,
    region: &Region,
    resource_type: Option<&str>,
) -> Vec<RequiredCopy> {
    let offsite = central_vault(config, partition, config.offsite_region_for(region));
    let local = central_vault(config, partition, region);
    let copy = |hop, destination_vault_arn| RequiredCopy {
        hop,
        destination_vault_arn,
        via: None,
    };
    if resource_type.is_some_and(|t| config.is_two_hop_type(t)) {
        return vec![
            copy(Hop::TwoHopFirst, local),
            copy(Hop::TwoHopForward, offsite),
        ];
    }
    let mut required = vec![copy(Hop::ToBackupRegion, offsite)];
    if config.copy_to_local_region {
        required.push(copy(Hop::ToLocalRegion, local));
    }
    required
}

/// What the listings say about one required copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "evidence", rename_all = "snake_case")]
pub enum CopyEvidence {
    /// A COMPLETED copy job into the destination.
    Completed {
        /// The job.
        copy_job_id: String,
        /// The copy's lifecycle as the job reports it (`None` = not reported).
        lifecycle: Option<CurrentLifecycle>,
    },
    /// No COMPLETED copy job (yet).
    Missing {
        /// What the listing shows instead.
        reason: String,
    },
}

/// A required copy and its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedCopy {
    /// The copy.
    pub required: RequiredCopy,
    /// What the listings show.
    pub evidence: CopyEvidence,
}

/// The backup account's copy jobs of the first two-hop copy, as the verify role read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardListing {
    /// Not read (the point is not a two-hop type, or the first hop is not COMPLETED).
    NotRead,
    /// Could not be read, and why (no verify role configured, the role refused).
    Unavailable(String),
    /// The backup account's jobs whose source is the first hop's copy.
    Listed(Vec<ListedCopyJob>),
}

/// The copy in the backup account whose forward must be verified: the destination recovery
/// point of the COMPLETED first two-hop copy of `source_recovery_point_arn` (`None` when the
/// point needs no forward, or the first hop has not COMPLETED with a reported copy).
pub fn forward_source(
    required: &[RequiredCopy],
    source_recovery_point_arn: &str,
    own_jobs: &[ListedCopyJob],
) -> Option<String> {
    required.iter().find(|r| r.hop == Hop::TwoHopForward)?;
    let first = required.iter().find(|r| r.hop == Hop::TwoHopFirst)?;
    let from = match &first.via {
        None => source_recovery_point_arn.to_owned(),
        Some(via) => copy_in(own_jobs, source_recovery_point_arn, via)?,
    };
    match hop_state(own_jobs, &from, &first.destination_vault_arn) {
        HopState::Done(jobs) => jobs
            .iter()
            .rev()
            .find_map(|j| j.destination_recovery_point_arn.clone()),
        _ => None,
    }
}

/// The recovery point a copy made via `vault` is made from: the destination of the latest
/// COMPLETED copy job of `original` into `vault` (`None` while there is none, or it reports
/// no copy).
pub fn copy_in(jobs: &[ListedCopyJob], original: &str, vault: &VaultArn) -> Option<String> {
    match hop_state(jobs, original, vault) {
        HopState::Done(done) => done
            .iter()
            .rev()
            .find_map(|j| j.destination_recovery_point_arn.clone()),
        _ => None,
    }
}

/// Checks every required copy of `source_recovery_point_arn` against this account's listing
/// (`own_jobs`) and, for the two-hop forward, the backup account's (`forward`). A copy made
/// via another vault is looked for among the jobs of the original's copy there.
pub fn check(
    required: &[RequiredCopy],
    source_recovery_point_arn: &str,
    own_jobs: &[ListedCopyJob],
    forward: &ForwardListing,
) -> Vec<CheckedCopy> {
    required
        .iter()
        .map(|r| {
            let from = match &r.via {
                None => Some(source_recovery_point_arn.to_owned()),
                Some(via) => copy_in(own_jobs, source_recovery_point_arn, via),
            };
            let Some(from) = from else {
                return CheckedCopy {
                    required: r.clone(),
                    evidence: CopyEvidence::Missing {
                        reason: format!(
                            "the original's re-encrypted copy in {} is not COMPLETED",
                            r.via.as_ref().map(ToString::to_string).unwrap_or_default()
                        ),
                    },
                };
            };
            let evidence = if r.hop == Hop::TwoHopForward {
                match (
                    forward_source(required, source_recovery_point_arn, own_jobs),
                    forward,
                ) {
                    (None, _) => CopyEvidence::Missing {
                        reason: "the first two-hop copy has no COMPLETED copy in the backup account to follow".into(),
                    },
                    (Some(_), ForwardListing::NotRead) => CopyEvidence::Missing {
                        reason: "the backup account's copy jobs were not read".into(),
                    },
                    (Some(_), ForwardListing::Unavailable(reason)) => CopyEvidence::Missing {
                        reason: reason.clone(),
                    },
                    (Some(copy), ForwardListing::Listed(jobs)) => {
                        evidence(hop_state(jobs, &copy, &r.destination_vault_arn))
                    }
                }
            } else {
                evidence(hop_state(own_jobs, &from, &r.destination_vault_arn))
            };
            CheckedCopy {
                required: r.clone(),
                evidence,
            }
        })
        .collect()
}

fn evidence(state: HopState<'_>) -> CopyEvidence {
    match state {
        HopState::Done(jobs) => {
            // The longest-kept COMPLETED copy speaks for the destination (a copy kept forever,
            // `DeleteAfterDays` none, is the longest); a copy that did not report its lifecycle
            // speaks only when no other does.
            let best = jobs
                .iter()
                .filter(|j| j.destination_lifecycle.is_some())
                .max_by_key(|j| {
                    let days = j.destination_lifecycle.and_then(|l| l.delete_after_days);
                    (days.is_none(), days)
                })
                .or(jobs.last())
                .expect("Done has at least one job");
            CopyEvidence::Completed {
                copy_job_id: best.copy_job_id.clone(),
                lifecycle: best.destination_lifecycle,
            }
        }
        HopState::UnderWay(job) => CopyEvidence::Missing {
            reason: format!("copy job {} is {}", job.copy_job_id, job.state),
        },
        HopState::Failed(jobs) => CopyEvidence::Missing {
            reason: format!("{} failed attempt(s) and no COMPLETED copy", jobs.len()),
        },
        HopState::NotStarted => CopyEvidence::Missing {
            reason: "no copy job".into(),
        },
    }
}
