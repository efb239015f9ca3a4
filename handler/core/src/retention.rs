//! **Where the new retention of an original recovery point is decided.**
//!
//! After the copy chain's offsite hops completed, the original in the source vault is kept
//! only `NewDeleteAfterDays` (DESIGN.md "Retention shortening of originals"). [`decide`] turns
//! the facts about one recovery point into [`RetentionDecision::Shorten`] (the lifecycle to
//! send with `UpdateRecoveryPointLifecycle`) or [`RetentionDecision::Keep`]. Guards:
//!
//! 1. only in **source** accounts (never backup, pre-prod or management);
//! 2. never for **continuous** points (`UpdateRecoveryPointLifecycle` does not support them,
//!    and changing them leaves the point STOPPED, aws-facts §3);
//! 3. never in a **locked** vault (the lock forbids lifecycle changes);
//! 4. only when `DescribeCopyJob` **confirmed** the copy COMPLETED;
//! 5. not for points whose storage class is DELETED;
//! 6. days count in whole UTC days from `CreationDate`. With `age` = the point's age rounded
//!    **up** to whole days, the new `DeleteAfterDays` is
//!    `max(NewDeleteAfterDays, age + 1)`: the change can never make the point due at once,
//!    and the +1 day margin covers the partial day plus AWS's up-to-8-hours deletion delay;
//! 7. cold storage (`DeleteAfterDays >= MoveToColdStorageAfterDays + 90`, and the cold setting
//!    is frozen once moved):
//!    - point already COLD, or WARM but its move is already due (age >= cold days; the move
//!      may happen any moment): keep the cold days, raise the target to `cold + 90`, and send
//!      both fields (aws-facts §3: "if the current lifecycle has both fields, send both");
//!    - point WARM and the move still pending: **cancel** the move by sending
//!      `MoveToColdStorageAfterDays = -1` (as backup-events-aws does): a point that lives a
//!      week gains nothing from cold storage, and keeping it would force `cold + 90` days;
//! 8. never **lengthen**: when the target is not strictly below the current `DeleteAfterDays`,
//!    keep;
//! 9. never cut the organization's **total retention**: the copies (which keep the original's
//!    `CreationDate` and get `CopyDeleteAfterDays`) must live at least as long as the original
//!    would have. An original kept longer than its copies, or kept forever, is left alone:
//!    shortening it would silently turn a 365-day promise into a 35-day one. Raise
//!    `CopyDeleteAfterDays` to cover it.
//!
//! Each `Shorten` carries log-friendly `before`/`after` lines and the reasons that bound the
//! number.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::config::{Role, StackConfig};
use crate::event::StorageClass;

const DAY_SECS: i64 = 86_400;

/// The lifecycle a recovery point has now (`DescribeRecoveryPoint` → `Lifecycle`). Use
/// `None` for absent or -1 values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CurrentLifecycle {
    /// `DeleteAfterDays` (`None` = keep forever)
    pub delete_after_days: Option<u32>,
    /// `MoveToColdStorageAfterDays` (`None` = never moves)
    pub move_to_cold_storage_after_days: Option<u32>,
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
    /// Whether `DescribeCopyJob` confirmed the triggering copy COMPLETED.
    pub copy_confirmed: bool,
}

/// The `MoveToColdStorageAfterDays` to send along with a shortened `DeleteAfterDays`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColdMove {
    /// Keep (resend) the current cold setting.
    After(u32),
    /// Cancel the pending move: send -1.
    Cancel,
}

impl ColdMove {
    /// The value for the API's `MoveToColdStorageAfterDays`.
    pub fn api_value(self) -> i64 {
        match self {
            ColdMove::After(days) => i64::from(days),
            ColdMove::Cancel => -1,
        }
    }
}

impl Serialize for ColdMove {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.api_value())
    }
}

/// The answer for one recovery point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RetentionDecision {
    /// Send this lifecycle with `UpdateRecoveryPointLifecycle`.
    Shorten {
        /// New `DeleteAfterDays`.
        delete_after_days: u32,
        /// New `MoveToColdStorageAfterDays` (`None` = do not send: the point had none).
        move_to_cold_storage_after_days: Option<ColdMove>,
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
    if input.vault_locked {
        return RetentionDecision::keep(
            "the vault is locked (Vault Lock forbids lifecycle changes)",
        );
    }
    if !input.copy_confirmed {
        return RetentionDecision::keep(
            "the copy is not confirmed COMPLETED by DescribeCopyJob; the original keeps its retention",
        );
    }
    if input.storage_class == StorageClass::Deleted {
        return RetentionDecision::keep("the recovery point is already deleted");
    }
    let copies = config.copy_delete_after_days;
    match input.current.delete_after_days {
        None => {
            return RetentionDecision::keep(format!(
                "the original is kept forever and its copies only {copies} days \
                 (CopyDeleteAfterDays); shortening it would end the only long-term retention"
            ));
        }
        Some(current) if current > copies => {
            return RetentionDecision::keep(format!(
                "the original is kept {current} days and its copies only {copies} days \
                 (CopyDeleteAfterDays); shortening it would cut the total retention"
            ));
        }
        Some(_) => {}
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

    let cold_out = match input.current.move_to_cold_storage_after_days {
        None => None,
        Some(cold) => {
            let due = age >= u64::from(cold);
            if input.storage_class == StorageClass::Cold || due {
                let floor = u64::from(cold) + 90;
                if floor > target {
                    target = floor;
                    reasons.push(format!(
                        "the point is {} (MoveToColdStorageAfterDays = {cold}) and must stay 90 days in cold storage: {cold} + 90 = {floor}",
                        if input.storage_class == StorageClass::Cold {
                            "in cold storage"
                        } else {
                            "due to move to cold storage"
                        }
                    ));
                }
                Some(ColdMove::After(cold))
            } else {
                reasons.push(format!(
                    "the pending move to cold storage after {cold} days is cancelled (point is WARM, {age} day(s) old)"
                ));
                Some(ColdMove::Cancel)
            }
        }
    };

    if let Some(current) = input.current.delete_after_days
        && target >= u64::from(current)
    {
        return RetentionDecision::keep(format!(
            "DeleteAfterDays is already {current}, not above the shortened value {target}; retention is never lengthened"
        ));
    }
    // `target` is below the current u32 value, or bounded by max(u32, age + 1, u32 + 90).
    let delete_after_days = u32::try_from(target).unwrap_or(u32::MAX);

    let before = describe(
        input.creation_date,
        input.current.delete_after_days,
        input
            .current
            .move_to_cold_storage_after_days
            .map(ColdMove::After),
        Some(age),
    );
    let after = describe(input.creation_date, Some(delete_after_days), cold_out, None);
    RetentionDecision::Shorten {
        delete_after_days,
        move_to_cold_storage_after_days: cold_out,
        before,
        after,
        reasons,
    }
}

fn describe(
    created: DateTime<Utc>,
    delete: Option<u32>,
    cold: Option<ColdMove>,
    age: Option<u64>,
) -> String {
    let mut s = match delete {
        Some(d) => format!("DeleteAfterDays={d}"),
        None => "DeleteAfterDays=none (keep forever)".to_owned(),
    };
    match cold {
        Some(ColdMove::After(c)) => s.push_str(&format!(" MoveToColdStorageAfterDays={c}")),
        Some(ColdMove::Cancel) => s.push_str(" MoveToColdStorageAfterDays=-1 (move cancelled)"),
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
