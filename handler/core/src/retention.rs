//! **Where the new retention of an original recovery point is decided.**
//!
//! After the copy chain's offsite hops completed, the original in the source vault is kept
//! only `NewDeleteAfterDays` (README, "retention"). [`decide`] turns
//! the facts about one recovery point into [`RetentionDecision::Shorten`] (the lifecycle to
//! send with `UpdateRecoveryPointLifecycle`) or [`RetentionDecision::Keep`]. Guards, in order:
//!
//! 1. only in **source** accounts (never backup, pre-prod or management);
//! 2. never for **continuous** points (`UpdateRecoveryPointLifecycle` does not support them,
//!    and changing them leaves the point STOPPED, AWS docs);
//! 3. only **originals**: a point that arrived in the vault as a copy from another vault
//!    (`SourceBackupVaultArn`) belongs to someone else's chain;
//! 4. never in a **locked** vault (the lock forbids lifecycle changes);
//! 5. not for points whose storage class is DELETED;
//! 6. only when **every** offsite copy the configuration asks for is COMPLETED into exactly
//!    its destination ([`crate::verify`]);
//! 7. never cut the organization's **total retention**: each of those copies (which keep the
//!    original's `CreationDate`) must, by its real `DestinationRecoveryPointLifecycle`, live at
//!    least as long as the original would have. An original kept longer than a copy, or
//!    forever, is left alone; so is one whose copy did not report its lifecycle;
//! 8. days count in whole UTC days from `CreationDate`. With `age` = the point's age rounded
//!    **up** to whole days, the new `DeleteAfterDays` is
//!    `max(NewDeleteAfterDays, age + 1)`: the change can never make the point due at once,
//!    and the +1 day margin covers the partial day plus AWS's up-to-8-hours deletion delay;
//! 9. cold storage: a point with a cold setting (`MoveToColdStorageAfterDays`, whether it is
//!    COLD already or WARM with the move pending) is shortened at most to `cold + 90`
//!    (`DeleteAfterDays >= MoveToColdStorageAfterDays + 90`), and both fields are sent — the
//!    only form AWS documents (AWS docs: "if the current lifecycle has both fields, send
//!    both"; `-1` is documented only in both fields, to remove the lifecycle). A pending move
//!    is never cancelled with a lone `-1`. `OptInToArchiveForSupportedResources` is resent
//!    as it was;
//! 10. never **lengthen**: when the target is not strictly below the current
//!     `DeleteAfterDays`, keep.
//!
//! Each `Shorten` carries log-friendly `before`/`after` lines and the reasons that bound the
//! number.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Role, StackConfig};
use crate::event::StorageClass;
use crate::verify::{CheckedCopy, CopyEvidence};

const DAY_SECS: i64 = 86_400;

/// AWS keeps a recovery point at least this many days in cold storage.
pub const COLD_STORAGE_MINIMUM_DAYS: u32 = 90;

/// A lifecycle as AWS reports it (`DescribeRecoveryPoint` → `Lifecycle`, `ListCopyJobs` →
/// `DestinationRecoveryPointLifecycle`). Use `None` for absent or -1 values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CurrentLifecycle {
    /// `DeleteAfterDays` (`None` = keep forever)
    pub delete_after_days: Option<u32>,
    /// `MoveToColdStorageAfterDays` (`None` = never moves)
    pub move_to_cold_storage_after_days: Option<u32>,
    /// `OptInToArchiveForSupportedResources`
    #[serde(default)]
    pub opt_in_to_archive: Option<bool>,
}

impl CurrentLifecycle {
    /// A lifecycle with only `DeleteAfterDays`.
    pub fn delete_after(days: u32) -> Self {
        Self {
            delete_after_days: Some(days),
            ..Self::default()
        }
    }
}

/// Everything [`decide`] needs to know about one original recovery point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionInput {
    /// The current time.
    pub now: DateTime<Utc>,
    /// The point's `CreationDate`.
    pub creation_date: DateTime<Utc>,
    /// Its current lifecycle.
    pub current: CurrentLifecycle,
    /// Its `StorageClass`.
    pub storage_class: StorageClass,
    /// Whether it is a continuous (PITR) point.
    pub is_continuous: bool,
    /// Whether its vault has a Vault Lock.
    pub vault_locked: bool,
    /// The role of the account that holds it.
    pub role: Role,
    /// `SourceBackupVaultArn` when the point is a copy from another vault (`None` = an
    /// original).
    pub copied_from: Option<String>,
    /// The offsite copies the configuration asks for, checked against the listings
    /// ([`crate::verify::check`]).
    pub copies: Vec<CheckedCopy>,
}

/// The answer for one recovery point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RetentionDecision {
    /// Send this lifecycle with `UpdateRecoveryPointLifecycle`.
    Shorten {
        /// New `DeleteAfterDays`.
        delete_after_days: u32,
        /// `MoveToColdStorageAfterDays` to send along (the current one, unchanged; `None` =
        /// the point has none, send none).
        move_to_cold_storage_after_days: Option<u32>,
        /// `OptInToArchiveForSupportedResources` to send along (the current one).
        opt_in_to_archive: Option<bool>,
        /// The lifecycle before, for the log.
        before: String,
        /// The lifecycle after, for the log.
        after: String,
        /// Which rules bound the new value.
        reasons: Vec<String>,
    },
    /// Leave the point alone.
    Keep {
        /// Why.
        reason: String,
    },
}

impl RetentionDecision {
    fn keep(reason: impl Into<String>) -> Self {
        RetentionDecision::Keep {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for RetentionDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetentionDecision::Shorten {
                before,
                after,
                reasons,
                ..
            } => write!(
                f,
                "shorten retention: before {before}; after {after}; because {}",
                reasons.join("; ")
            ),
            RetentionDecision::Keep { reason } => write!(f, "keep retention: {reason}"),
        }
    }
}

/// The point's age in whole days, rounded up (0 for a point created now or in the future).
pub fn age_in_days_rounded_up(now: DateTime<Utc>, creation_date: DateTime<Utc>) -> u64 {
    let secs = (now - creation_date).num_seconds().max(0);
    // `secs` is non-negative, so the cast is lossless.
    (secs as u64).div_ceil(DAY_SECS as u64)
}

fn days_text(days: Option<u32>) -> String {
    days.map_or_else(|| "forever".to_owned(), |d| format!("{d} days"))
}

/// Why the copies do not cover the original, if they do not (guards 6 and 7).
fn copies_fall_short(input: &RetentionInput, current: Option<u32>) -> Option<String> {
    if input.copies.is_empty() {
        return Some("no offsite copy is configured for this point".into());
    }
    for copy in &input.copies {
        let what = &copy.required;
        match &copy.evidence {
            CopyEvidence::Missing { reason } => {
                return Some(format!(
                    "the {} copy into {} is not verified COMPLETED ({reason}); the original keeps its retention",
                    what.hop, what.destination_vault_arn
                ));
            }
            CopyEvidence::Completed {
                copy_job_id,
                lifecycle: None,
            } => {
                return Some(format!(
                    "copy job {copy_job_id} ({} into {}) did not report the copy's lifecycle, so nothing shows it outlives the original",
                    what.hop, what.destination_vault_arn
                ));
            }
            CopyEvidence::Completed {
                copy_job_id,
                lifecycle: Some(lifecycle),
            } => {
                let kept = lifecycle.delete_after_days;
                let covers = match (current, kept) {
                    (_, None) => true,
                    (None, Some(_)) => false,
                    (Some(original), Some(copy)) => copy >= original,
                };
                if !covers {
                    return Some(format!(
                        "the original is kept {} and its {} copy (copy job {copy_job_id}) only {}; \
                         shortening it would cut the total retention",
                        days_text(current),
                        what.hop,
                        days_text(kept)
                    ));
                }
            }
        }
    }
    None
}

/// Decides the new retention of one original recovery point. See the module docs for the
/// rules, in order.
pub fn decide(input: &RetentionInput, config: &StackConfig) -> RetentionDecision {
    if input.role != Role::Source {
        return RetentionDecision::keep(format!(
            "originals are shortened only in source accounts; this is a {} account",
            input.role
        ));
    }
    if input.is_continuous {
        return RetentionDecision::keep(
            "continuous (point-in-time) recovery points do not support lifecycle changes",
        );
    }
    if let Some(vault) = &input.copied_from {
        return RetentionDecision::keep(format!(
            "the point is a copy from {vault}, not an original; crossvault shortens only originals"
        ));
    }
    if input.vault_locked {
        return RetentionDecision::keep(
            "the vault is locked (Vault Lock forbids lifecycle changes)",
        );
    }
    if input.storage_class == StorageClass::Deleted {
        return RetentionDecision::keep("the recovery point is already deleted");
    }
    let current = input.current.delete_after_days;
    if let Some(reason) = copies_fall_short(input, current) {
        return RetentionDecision::keep(reason);
    }

    let age = age_in_days_rounded_up(input.now, input.creation_date);
    let new_days = u64::from(config.new_delete_after_days);
    let mut reasons = vec![format!("NewDeleteAfterDays = {new_days}")];
    let mut target = new_days;
    if age + 1 > target {
        target = age + 1;
        reasons.push(format!(
            "the point is {age} day(s) old (rounded up) + 1 day margin = {target}"
        ));
    }

    let cold = input.current.move_to_cold_storage_after_days;
    match cold {
        Some(cold) => {
            let floor = u64::from(cold) + u64::from(COLD_STORAGE_MINIMUM_DAYS);
            if floor > target {
                target = floor;
                reasons.push(format!(
                    "the point has a cold setting (MoveToColdStorageAfterDays = {cold}, storage class {}) \
                     and must stay 90 days in cold storage: {cold} + 90 = {floor}",
                    storage_class_text(input.storage_class)
                ));
            }
        }
        None if input.storage_class == StorageClass::Cold => {
            return RetentionDecision::keep(
                "the point is in cold storage but reports no MoveToColdStorageAfterDays; \
                 the 90-day cold minimum cannot be honoured without it",
            );
        }
        None => {}
    }

    if let Some(current) = current
        && target >= u64::from(current)
    {
        return RetentionDecision::keep(format!(
            "DeleteAfterDays is already {current}, not above the shortened value {target}; retention is never lengthened"
        ));
    }
    // `target` is below the current u32 value, or bounded by max(u32, age + 1, u32 + 90).
    let delete_after_days = u32::try_from(target).unwrap_or(u32::MAX);

    let before = describe(input.creation_date, current, cold, Some(age));
    let after = describe(input.creation_date, Some(delete_after_days), cold, None);
    RetentionDecision::Shorten {
        delete_after_days,
        move_to_cold_storage_after_days: cold,
        opt_in_to_archive: input.current.opt_in_to_archive,
        before,
        after,
        reasons,
    }
}

fn storage_class_text(class: StorageClass) -> &'static str {
    match class {
        StorageClass::Warm => "WARM",
        StorageClass::Cold => "COLD",
        StorageClass::Deleted => "DELETED",
    }
}

fn describe(
    created: DateTime<Utc>,
    delete: Option<u32>,
    cold: Option<u32>,
    age: Option<u64>,
) -> String {
    let mut s = match delete {
        Some(d) => format!("DeleteAfterDays={d}"),
        None => "DeleteAfterDays=none (keep forever)".to_owned(),
    };
    match cold {
        Some(c) => s.push_str(&format!(" MoveToColdStorageAfterDays={c}")),
        None => s.push_str(" MoveToColdStorageAfterDays=none"),
    }
    s.push_str(&format!(
        " (created {}",
        created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ));
    if let Some(age) = age {
        s.push_str(&format!(", age {age} d rounded up"));
    }
    if let Some(d) = delete {
        let at = created + Duration::days(i64::from(d));
        s.push_str(&format!(
            ", deleted from {}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    s.push(')');
    s
}
