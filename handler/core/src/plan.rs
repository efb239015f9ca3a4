//! The plan: what the effect layer should do. Serializable (for `explain --output json` and
//! logs) and printable (`Display`, for `explain` text output).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::arn::VaultArn;
use crate::ids::VaultName;
use crate::verify::RequiredCopy;

/// An ordered list of actions. The effect layer runs them in order; [`Action::Ignore`] is a
/// no-op that only explains itself in the log.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    /// The actions, in execution order.
    pub actions: Vec<Action>,
}

impl Plan {
    /// A plan with a single action.
    pub fn single(action: Action) -> Self {
        Self {
            actions: vec![action],
        }
    }

    /// A plan that does nothing, with the reason.
    pub fn ignore(reason: impl Into<String>) -> Self {
        Self::single(Action::Ignore {
            reason: reason.into(),
        })
    }

    /// True when every action is an [`Action::Ignore`] (nothing to execute).
    pub fn is_noop(&self) -> bool {
        self.actions
            .iter()
            .all(|a| matches!(a, Action::Ignore { .. }))
    }
}

/// The lifecycle passed to `StartCopyJob` (always explicit: a copy without one inherits the
/// source's retention, AWS docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lifecycle {
    /// `DeleteAfterDays`
    pub delete_after_days: u32,
    /// `MoveToColdStorageAfterDays` (omitted when `None`)
    pub move_to_cold_storage_after_days: Option<u32>,
}

/// Which hop of the copy chain a copy job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hop {
    /// Source account → backup account, backup region (alternate region when the resource
    /// lives in the backup region). Cross-account and cross-region in one job.
    ToBackupRegion,
    /// Source account → backup account, the resource's own region (`CopyToLocalRegion`).
    ToLocalRegion,
    /// Source account → first pre-prod account, the resource's own region (tagged resources).
    ToPreProd,
    /// Two-hop types, hop 1: source account → backup account, same region.
    TwoHopFirst,
    /// Two-hop types, hop 2: the backup account forwards the copy to the backup region.
    TwoHopForward,
    /// RDS and Aurora points under an AWS managed key: this account's managed vault → this
    /// account's re-encryption vault, same region (re-encrypted with that vault's customer
    /// managed key); the offsite hops then start from that copy ([`crate::managed_key`]).
    ReEncrypt,
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hop::ToBackupRegion => "to-backup-region",
            Hop::ToLocalRegion => "to-local-region",
            Hop::ToPreProd => "to-pre-prod",
            Hop::TwoHopFirst => "two-hop-first",
            Hop::TwoHopForward => "two-hop-forward",
            Hop::ReEncrypt => "re-encrypt",
        })
    }
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// `StartCopyJob` in this account and region.
    StartCopyJob {
        /// `RecoveryPointArn`
        source_recovery_point_arn: String,
        /// `SourceBackupVaultName`
        source_vault_name: VaultName,
        /// `DestinationBackupVaultArn`
        destination_vault_arn: VaultArn,
        /// `IamRoleArn`
        iam_role_arn: String,
        /// `Lifecycle`
        lifecycle: Lifecycle,
        /// `IdempotencyToken` (see [`crate::idempotency`])
        idempotency_token: String,
        /// Which hop this is.
        hop: Hop,
        /// Which attempt of the hop (1 + earlier failed jobs of the same point and
        /// destination); part of the token.
        attempt: u32,
    },
    /// Shorten the original's retention. The effect layer gathers the facts
    /// (`DescribeRecoveryPoint`, the vault's lock, the point's copy jobs and, for two-hop
    /// types, the backup account's forward), checks `requires` against them
    /// ([`crate::verify::check`]), calls [`crate::retention::decide`] and applies its answer
    /// with `UpdateRecoveryPointLifecycle`.
    ShortenRetention {
        /// The original recovery point.
        recovery_point_arn: String,
        /// The vault it is in (this account's managed vault).
        vault_name: VaultName,
        /// Every offsite copy that must be verified COMPLETED into exactly its destination
        /// first.
        requires: Vec<RequiredCopy>,
    },
    /// Delete crossvault's re-encrypted copy of an original once it has done its work
    /// ([`crate::managed_key`]). The effect layer checks the listings first
    /// ([`crate::managed_key::may_delete`]): the copy was made from the original by
    /// crossvault's copy role into its re-encryption vault, every copy in `requires` is
    /// COMPLETED and every hop in `settles` has finished; otherwise it keeps the copy.
    DeleteIntermediate {
        /// The re-encrypted copy (`DeleteRecoveryPoint`'s `RecoveryPointArn`).
        recovery_point_arn: String,
        /// The re-encryption vault it is in.
        vault_name: VaultName,
        /// The original it is a copy of (in the managed vault).
        original_recovery_point_arn: String,
        /// Copies of it that must be COMPLETED first (the offsite hops).
        requires: Vec<RequiredCopy>,
        /// Hops from it that must have finished first, COMPLETED or given up (pre-prod).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        settles: Vec<RequiredCopy>,
    },
    /// Publish to the stack's SNS topic.
    Notify {
        /// Subject line (at most 100 characters, SNS's limit).
        subject: String,
        /// Body text.
        message: String,
    },
    /// A step of a pre-prod refresh ([`crate::restore`]).
    Restore(crate::restore::RestoreAction),
    /// Do nothing; log why.
    Ignore {
        /// Why nothing is done.
        reason: String,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::StartCopyJob {
                source_recovery_point_arn,
                source_vault_name,
                destination_vault_arn,
                iam_role_arn,
                lifecycle,
                idempotency_token,
                hop,
                attempt,
            } => {
                writeln!(f, "start copy job ({hop}, attempt {attempt})")?;
                writeln!(f, "     recovery point  {source_recovery_point_arn}")?;
                writeln!(f, "     from vault      {source_vault_name}")?;
                writeln!(f, "     to vault        {destination_vault_arn}")?;
                writeln!(f, "     role            {iam_role_arn}")?;
                write!(
                    f,
                    "     lifecycle       delete after {} days",
                    lifecycle.delete_after_days
                )?;
                if let Some(cold) = lifecycle.move_to_cold_storage_after_days {
                    write!(f, ", cold after {cold} days")?;
                }
                writeln!(f)?;
                write!(f, "     token           {idempotency_token}")
            }
            Action::ShortenRetention {
                recovery_point_arn,
                vault_name,
                requires,
            } => {
                writeln!(f, "shorten retention of the original")?;
                writeln!(f, "     recovery point  {recovery_point_arn}")?;
                write!(f, "     vault           {vault_name}")?;
                let mut label = "once verified";
                for copy in requires {
                    write!(f, "\n     {label:<15} {copy} COMPLETED")?;
                    if copy.hop == Hop::TwoHopForward {
                        write!(
                            f,
                            " (the backup account's forward, read with its verify role)"
                        )?;
                    }
                    label = "and";
                }
                Ok(())
            }
            Action::DeleteIntermediate {
                recovery_point_arn,
                vault_name,
                original_recovery_point_arn,
                requires,
                settles,
            } => {
                writeln!(f, "delete the re-encrypted copy")?;
                writeln!(f, "     recovery point  {recovery_point_arn}")?;
                writeln!(f, "     vault           {vault_name}")?;
                write!(f, "     copy of         {original_recovery_point_arn}")?;
                let mut label = "once verified";
                for copy in requires {
                    write!(
                        f,
                        "\n     {label:<15} {} → {} COMPLETED",
                        copy.hop, copy.destination_vault_arn
                    )?;
                    label = "and";
                }
                for copy in settles {
                    write!(
                        f,
                        "\n     {label:<15} {} → {} COMPLETED or given up",
                        copy.hop, copy.destination_vault_arn
                    )?;
                    label = "and";
                }
                Ok(())
            }
            Action::Notify { subject, message } => {
                writeln!(f, "notify: {subject}")?;
                let mut first = true;
                for line in message.lines() {
                    if !first {
                        writeln!(f)?;
                    }
                    first = false;
                    write!(f, "     {line}")?;
                }
                Ok(())
            }
            Action::Restore(step) => write!(f, "{step}"),
            Action::Ignore { reason } => write!(f, "ignore: {reason}"),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.actions.len();
        writeln!(f, "plan: {n} action{}", if n == 1 { "" } else { "s" })?;
        for (i, action) in self.actions.iter().enumerate() {
            writeln!(f, "  {}. {action}", i + 1)?;
        }
        Ok(())
    }
}
