//! The stack's configuration: the `CROSSVAULT_*` environment variables the template sets on
//! the Lambda (see the shared contract), parsed into typed, validated fields.
//!
//! Parsing rules:
//! - a variable that is absent or empty (after trimming) takes its documented default; when it
//!   has none it is an error naming the variable;
//! - booleans are `true`/`false`, case-insensitive;
//! - lists are comma-separated, items trimmed, empty items dropped;
//! - days and hours are unsigned integers;
//! - every error names the variable and quotes the bad value.
//!
//! `CROSSVAULT_COPY_ROLE_ARN` is required only in the roles that start copy jobs (source and
//! backup); `CROSSVAULT_NOTIFY_TOPIC_ARN` is optional everywhere.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, Region, VaultName};

/// The environment variable names (the contract's "Handler configuration").
pub mod vars {
    /// `source | backup | preprod | management`
    pub const ROLE: &str = "CROSSVAULT_ROLE";
    /// This account.
    pub const ACCOUNT_ID: &str = "CROSSVAULT_ACCOUNT_ID";
    /// The central backup account.
    pub const BACKUP_ACCOUNT_ID: &str = "CROSSVAULT_BACKUP_ACCOUNT_ID";
    /// The backup region.
    pub const BACKUP_REGION: &str = "CROSSVAULT_BACKUP_REGION";
    /// The region used instead of the backup region for resources that live in it.
    pub const BACKUP_REGION_ALTERNATE: &str = "CROSSVAULT_BACKUP_REGION_ALTERNATE";
    /// Pre-prod accounts (comma list).
    pub const PREPROD_ACCOUNT_IDS: &str = "CROSSVAULT_PREPROD_ACCOUNT_IDS";
    /// This account's managed vault.
    pub const VAULT_NAME: &str = "CROSSVAULT_VAULT_NAME";
    /// The vault name in the backup account (every region).
    pub const CENTRAL_VAULT_NAME: &str = "CROSSVAULT_CENTRAL_VAULT_NAME";
    /// The vault name in pre-prod accounts.
    pub const PREPROD_VAULT_NAME: &str = "CROSSVAULT_PREPROD_VAULT_NAME";
    /// The IAM role passed to StartCopyJob.
    pub const COPY_ROLE_ARN: &str = "CROSSVAULT_COPY_ROLE_ARN";
    /// Retention of every copy (default 35).
    pub const COPY_DELETE_AFTER_DAYS: &str = "CROSSVAULT_COPY_DELETE_AFTER_DAYS";
    /// Cold-storage move of every copy ("" = none).
    pub const COPY_COLD_AFTER_DAYS: &str = "CROSSVAULT_COPY_COLD_AFTER_DAYS";
    /// The shortened retention of originals (default 7).
    pub const NEW_DELETE_AFTER_DAYS: &str = "CROSSVAULT_NEW_DELETE_AFTER_DAYS";
    /// `true`/`false`: second hop into the backup account in the resource's own region.
    pub const COPY_TO_LOCAL_REGION: &str = "CROSSVAULT_COPY_TO_LOCAL_REGION";
    /// Pre-prod tag key (default CopyToPreProd).
    pub const PREPROD_TAG_KEY: &str = "CROSSVAULT_PREPROD_TAG_KEY";
    /// Pre-prod tag value (default true).
    pub const PREPROD_TAG_VALUE: &str = "CROSSVAULT_PREPROD_TAG_VALUE";
    /// Accounts whose copies pre-prod admits ("" = every source).
    pub const PREPROD_SOURCE_ACCOUNT_IDS: &str = "CROSSVAULT_PREPROD_SOURCE_ACCOUNT_IDS";
    /// Resource types copied in two hops (comma list).
    pub const TWO_HOP_RESOURCE_TYPES: &str = "CROSSVAULT_TWO_HOP_RESOURCE_TYPES";
    /// The stack's SNS topic.
    pub const NOTIFY_TOPIC_ARN: &str = "CROSSVAULT_NOTIFY_TOPIC_ARN";
    /// Reconciler look-back window (default 72).
    pub const RECONCILE_LOOKBACK_HOURS: &str = "CROSSVAULT_RECONCILE_LOOKBACK_HOURS";
    /// `error|warn|info|debug` (default info).
    pub const LOG_LEVEL: &str = "CROSSVAULT_LOG_LEVEL";
    /// The central vault's Vault Lock minimum retention ("" = no lock).
    pub const LOCK_MIN_RETENTION_DAYS: &str = "CROSSVAULT_LOCK_MIN_RETENTION_DAYS";
    /// The central vault's Vault Lock maximum retention ("" = none).
    pub const LOCK_MAX_RETENTION_DAYS: &str = "CROSSVAULT_LOCK_MAX_RETENTION_DAYS";
    /// The Organizations management account ("" = none).
    pub const MANAGEMENT_ACCOUNT_ID: &str = "CROSSVAULT_MANAGEMENT_ACCOUNT_ID";
    /// Copy attempts per hop before crossvault gives up on it (default 3, at least 1).
    pub const COPY_MAX_ATTEMPTS: &str = "CROSSVAULT_COPY_MAX_ATTEMPTS";
    /// Source accounts with two-hop types: the backup account's read-only role that lets the
    /// source confirm the forward copy (`ListCopyJobs`) before shortening.
    pub const VERIFY_ROLE_ARN: &str = "CROSSVAULT_VERIFY_ROLE_ARN";
    /// Source accounts: the vault that re-encrypts RDS and Aurora points under an AWS managed
    /// key before they go to the backup account ("" = no such path, see `managed_key`).
    pub const REENCRYPT_VAULT_NAME: &str = "CROSSVAULT_REENCRYPT_VAULT_NAME";
}

/// How far back AWS lists jobs: `ListBackupJobs` and `ListCopyJobSummaries` document "the last
/// 30 days" (AWS Backup API reference); `ListCopyJobs` states no period, so the same is
/// assumed. The reconciler looks back at most one day less, so the first copy jobs of the
/// oldest point it looks at are still listed and the point never looks "missing".
pub const MAX_LOOKBACK_HOURS: u32 = 29 * 24;

/// How many pre-prod accounts the template's Conditions can tell apart (they compare the list
/// item by item; `Fn::Split` cannot search it).
pub const MAX_PREPROD_ACCOUNTS: usize = 5;

/// What this stack instance is, worked out by the template's Conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A workload account: copies its recovery points out, shortens the originals.
    Source,
    /// The central backup account: receives copies, forwards two-hop types.
    Backup,
    /// A pre-production account: receives copies of tagged production resources.
    PreProd,
    /// The Organizations management account: global settings only.
    Management,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Source => "source",
            Role::Backup => "backup",
            Role::PreProd => "preprod",
            Role::Management => "management",
        })
    }
}

/// `CROSSVAULT_LOG_LEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// errors only
    Error,
    /// warnings and errors
    Warn,
    /// the default
    Info,
    /// everything
    Debug,
}

/// A configuration variable that is missing or invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is absent or empty.
    #[error("{var} is required but not set")]
    Missing {
        /// The variable name.
        var: &'static str,
    },
    /// A variable's value does not parse.
    #[error("{var}: expected {expected}, got {value:?}")]
    Invalid {
        /// The variable name.
        var: &'static str,
        /// The rejected value.
        value: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// Two variables contradict each other.
    #[error("{var}: {problem}")]
    Inconsistent {
        /// The variable to fix.
        var: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// The stack's configuration. Fields are public so tests and the CLI can build one directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackConfig {
    /// `CROSSVAULT_ROLE`
    pub role: Role,
    /// `CROSSVAULT_ACCOUNT_ID`
    pub account_id: AccountId,
    /// `CROSSVAULT_BACKUP_ACCOUNT_ID`
    pub backup_account_id: AccountId,
    /// `CROSSVAULT_BACKUP_REGION`
    pub backup_region: Region,
    /// `CROSSVAULT_BACKUP_REGION_ALTERNATE` (must differ from the backup region)
    pub backup_region_alternate: Region,
    /// `CROSSVAULT_PREPROD_ACCOUNT_IDS`
    pub preprod_account_ids: Vec<AccountId>,
    /// `CROSSVAULT_VAULT_NAME`: this account's managed vault.
    pub vault_name: VaultName,
    /// `CROSSVAULT_CENTRAL_VAULT_NAME`
    pub central_vault_name: VaultName,
    /// `CROSSVAULT_PREPROD_VAULT_NAME`
    pub preprod_vault_name: VaultName,
    /// `CROSSVAULT_COPY_ROLE_ARN` (required for source and backup roles)
    pub copy_role_arn: Option<String>,
    /// `CROSSVAULT_COPY_DELETE_AFTER_DAYS` (default 35)
    pub copy_delete_after_days: u32,
    /// `CROSSVAULT_COPY_COLD_AFTER_DAYS` (default none)
    pub copy_cold_after_days: Option<u32>,
    /// `CROSSVAULT_NEW_DELETE_AFTER_DAYS` (default 7, at least 1)
    pub new_delete_after_days: u32,
    /// `CROSSVAULT_COPY_TO_LOCAL_REGION` (default false)
    pub copy_to_local_region: bool,
    /// `CROSSVAULT_PREPROD_TAG_KEY` (default `CopyToPreProd`)
    pub preprod_tag_key: String,
    /// `CROSSVAULT_PREPROD_TAG_VALUE` (default `true`; compared exactly)
    pub preprod_tag_value: String,
    /// `CROSSVAULT_PREPROD_SOURCE_ACCOUNT_IDS` (empty = every source)
    pub preprod_source_account_ids: Vec<AccountId>,
    /// `CROSSVAULT_TWO_HOP_RESOURCE_TYPES`
    pub two_hop_resource_types: Vec<String>,
    /// `CROSSVAULT_NOTIFY_TOPIC_ARN`
    pub notify_topic_arn: Option<String>,
    /// `CROSSVAULT_RECONCILE_LOOKBACK_HOURS` (default 72)
    pub reconcile_lookback_hours: u32,
    /// `CROSSVAULT_LOG_LEVEL` (default info)
    pub log_level: LogLevel,
    /// `CROSSVAULT_LOCK_MIN_RETENTION_DAYS` (the central vault's lock; none = unlocked)
    pub lock_min_retention_days: Option<u32>,
    /// `CROSSVAULT_LOCK_MAX_RETENTION_DAYS`
    pub lock_max_retention_days: Option<u32>,
    /// `CROSSVAULT_MANAGEMENT_ACCOUNT_ID`
    pub management_account_id: Option<AccountId>,
    /// `CROSSVAULT_COPY_MAX_ATTEMPTS` (default 3, at least 1)
    pub copy_max_attempts: u32,
    /// `CROSSVAULT_VERIFY_ROLE_ARN` (source accounts with two-hop types; `None` = a two-hop
    /// original cannot be verified, so it is never shortened)
    pub verify_role_arn: Option<String>,
    /// `CROSSVAULT_REENCRYPT_VAULT_NAME` (source accounts; `None` = points under an AWS
    /// managed key are reported, not copied: see [`crate::managed_key`])
    #[serde(default)]
    pub reencrypt_vault_name: Option<VaultName>,
    /// The region the stack runs in (not a `CROSSVAULT_*` variable: the caller sets it with
    /// [`StackConfig::with_region`]; `None` = events are not checked against a region, as in
    /// `crossvault explain`, which evaluates the stack of the event's own region).
    #[serde(default)]
    pub region: Option<Region>,
    /// The pre-prod refresh (`CROSSVAULT_RESTORE_*`) and the Slack webhook's parameter.
    #[serde(default)]
    pub restore: crate::restore::RestoreSettings,
}

impl StackConfig {
    /// Parses the configuration from a map of environment variables. Variables that are not
    /// `CROSSVAULT_*` ones are ignored, so the whole environment may be passed.
    pub fn from_env_map(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let r = Reader { env };
        let role = r.required(vars::ROLE, |v| match v.to_ascii_lowercase().as_str() {
            "source" => Ok(Role::Source),
            "backup" => Ok(Role::Backup),
            "preprod" | "pre-prod" => Ok(Role::PreProd),
            "management" => Ok(Role::Management),
            _ => Err("one of source, backup, preprod, management".to_owned()),
        })?;
        let config = StackConfig {
            role,
            account_id: r.required(vars::ACCOUNT_ID, id::<AccountId>)?,
            backup_account_id: r.required(vars::BACKUP_ACCOUNT_ID, id::<AccountId>)?,
            backup_region: r.required(vars::BACKUP_REGION, id::<Region>)?,
            backup_region_alternate: r.required(vars::BACKUP_REGION_ALTERNATE, id::<Region>)?,
            preprod_account_ids: r.list(vars::PREPROD_ACCOUNT_IDS, id::<AccountId>)?,
            vault_name: r.required(vars::VAULT_NAME, id::<VaultName>)?,
            central_vault_name: r.required(vars::CENTRAL_VAULT_NAME, id::<VaultName>)?,
            preprod_vault_name: r.required(vars::PREPROD_VAULT_NAME, id::<VaultName>)?,
            copy_role_arn: r.optional(vars::COPY_ROLE_ARN, iam_role_arn)?,
            copy_delete_after_days: r.or(vars::COPY_DELETE_AFTER_DAYS, 35, days)?,
            copy_cold_after_days: r.optional(vars::COPY_COLD_AFTER_DAYS, days)?,
            new_delete_after_days: r.or(vars::NEW_DELETE_AFTER_DAYS, 7, days)?,
            copy_to_local_region: r.or(vars::COPY_TO_LOCAL_REGION, false, boolean)?,
            preprod_tag_key: r.or(vars::PREPROD_TAG_KEY, "CopyToPreProd".to_owned(), text)?,
            preprod_tag_value: r.or(vars::PREPROD_TAG_VALUE, "true".to_owned(), text)?,
            preprod_source_account_ids: r
                .list(vars::PREPROD_SOURCE_ACCOUNT_IDS, id::<AccountId>)?,
            two_hop_resource_types: r.list(vars::TWO_HOP_RESOURCE_TYPES, text)?,
            notify_topic_arn: r.optional(vars::NOTIFY_TOPIC_ARN, sns_arn)?,
            reconcile_lookback_hours: r.or(vars::RECONCILE_LOOKBACK_HOURS, 72, |v| {
                v.parse::<u32>()
                    .map_err(|_| "a whole number of hours".to_owned())
            })?,
            log_level: r.or(vars::LOG_LEVEL, LogLevel::Info, |v| {
                match v.to_ascii_lowercase().as_str() {
                    "error" => Ok(LogLevel::Error),
                    "warn" | "warning" => Ok(LogLevel::Warn),
                    "info" => Ok(LogLevel::Info),
                    "debug" => Ok(LogLevel::Debug),
                    _ => Err("one of error, warn, info, debug".to_owned()),
                }
            })?,
            lock_min_retention_days: r.optional(vars::LOCK_MIN_RETENTION_DAYS, days)?,
            lock_max_retention_days: r.optional(vars::LOCK_MAX_RETENTION_DAYS, days)?,
            management_account_id: r.optional(vars::MANAGEMENT_ACCOUNT_ID, id::<AccountId>)?,
            copy_max_attempts: r.or(vars::COPY_MAX_ATTEMPTS, 3, |v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| "a whole number of attempts, at least 1".to_owned())
            })?,
            verify_role_arn: r.optional(vars::VERIFY_ROLE_ARN, iam_role_arn)?,
            reencrypt_vault_name: r.optional(vars::REENCRYPT_VAULT_NAME, id::<VaultName>)?,
            region: None,
            restore: crate::restore::RestoreSettings::from_env(env)?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Like [`StackConfig::from_env_map`], from any iterator of pairs (e.g. `std::env::vars()`).
    /// (Not `FromIterator`: parsing can fail.)
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: BTreeMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_env_map(&map)
    }

    /// Cross-field checks.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.backup_region == self.backup_region_alternate {
            return Err(ConfigError::Inconsistent {
                var: vars::BACKUP_REGION_ALTERNATE,
                problem: format!(
                    "must differ from {} (both are {})",
                    vars::BACKUP_REGION,
                    self.backup_region
                ),
            });
        }
        if self.new_delete_after_days == 0 {
            return Err(ConfigError::Invalid {
                var: vars::NEW_DELETE_AFTER_DAYS,
                value: "0".into(),
                expected: "at least 1 day".into(),
            });
        }
        if self.copy_delete_after_days == 0 {
            return Err(ConfigError::Invalid {
                var: vars::COPY_DELETE_AFTER_DAYS,
                value: "0".into(),
                expected: "at least 1 day".into(),
            });
        }
        if let Some(cold) = self.copy_cold_after_days
            && u64::from(self.copy_delete_after_days) < u64::from(cold) + 90
        {
            return Err(ConfigError::Inconsistent {
                var: vars::COPY_DELETE_AFTER_DAYS,
                problem: format!(
                    "CopyDeleteAfterDays ({}) must be at least CopyMoveToColdStorageAfterDays + 90 = {} + 90 = {}: \
                     AWS keeps a recovery point at least 90 days in cold storage",
                    self.copy_delete_after_days,
                    cold,
                    u64::from(cold) + 90,
                ),
            });
        }
        // The backup account starts copy jobs only to forward two-hop types.
        let starts_copies = self.role == Role::Source
            || (self.role == Role::Backup && !self.two_hop_resource_types.is_empty());
        if starts_copies && self.copy_role_arn.is_none() {
            return Err(ConfigError::Inconsistent {
                var: vars::COPY_ROLE_ARN,
                problem: format!(
                    "is required in the {} role (it starts copy jobs)",
                    self.role
                ),
            });
        }
        if self.role == Role::PreProd {
            self.restore.validate_for_preprod()?;
        }
        if self.reencrypt_vault_name.as_ref() == Some(&self.vault_name) {
            return Err(ConfigError::Inconsistent {
                var: vars::REENCRYPT_VAULT_NAME,
                problem: format!(
                    "must differ from {} ({}): the re-encrypted copies are crossvault's own \
                     intermediates, deleted once copied, and must never be mistaken for originals",
                    vars::VAULT_NAME,
                    self.vault_name
                ),
            });
        }
        self.validate_deployment()
    }

    /// What would deploy and then fail later or silently: refused at start-up, and through the
    /// template's configuration check before anything is deployed.
    fn validate_deployment(&self) -> Result<(), ConfigError> {
        if self.preprod_account_ids.len() > MAX_PREPROD_ACCOUNTS {
            return Err(ConfigError::Inconsistent {
                var: vars::PREPROD_ACCOUNT_IDS,
                problem: format!(
                    "lists {} accounts; at most {MAX_PREPROD_ACCOUNTS} are supported (a 6th \
                     would be treated as a source account and have its backups copied away)",
                    self.preprod_account_ids.len()
                ),
            });
        }
        if let Some(management) = &self.management_account_id {
            if *management == self.backup_account_id {
                return Err(ConfigError::Inconsistent {
                    var: vars::MANAGEMENT_ACCOUNT_ID,
                    problem: format!(
                        "{management} is also {}: the management account's stack would take \
                         the backup role and never turn on cross-account backup",
                        vars::BACKUP_ACCOUNT_ID
                    ),
                });
            }
            if self.preprod_account_ids.contains(management) {
                return Err(ConfigError::Inconsistent {
                    var: vars::MANAGEMENT_ACCOUNT_ID,
                    problem: format!(
                        "{management} is also in {}: the management account's stack would take \
                         the pre-prod role and never turn on cross-account backup",
                        vars::PREPROD_ACCOUNT_IDS
                    ),
                });
            }
        }
        if let Some(min) = self.lock_min_retention_days {
            let max = self.lock_max_retention_days;
            let days = self.copy_delete_after_days;
            if days < min || max.is_some_and(|max| days > max) {
                return Err(ConfigError::Inconsistent {
                    var: vars::COPY_DELETE_AFTER_DAYS,
                    problem: format!(
                        "{days} days lies outside the central vault's Vault Lock range {min}..{} \
                         days, so AWS Backup would refuse every copy into it; make the lock \
                         range include it",
                        max.map_or("unbounded".to_owned(), |m| m.to_string())
                    ),
                });
            }
            if let Some(max) = max
                && max < min
            {
                return Err(ConfigError::Inconsistent {
                    var: vars::LOCK_MAX_RETENTION_DAYS,
                    problem: format!("{max} is below {} {min}", vars::LOCK_MIN_RETENTION_DAYS),
                });
            }
        }
        Ok(())
    }

    /// The same configuration, for a stack running in `region`.
    pub fn with_region(mut self, region: Region) -> Self {
        self.region = Some(region);
        self
    }

    /// The reconciler's look-back, capped at [`MAX_LOOKBACK_HOURS`].
    pub fn lookback_hours(&self) -> u32 {
        self.reconcile_lookback_hours.min(MAX_LOOKBACK_HOURS)
    }

    /// The partition-independent question "is this resource type copied in two hops?".
    pub fn is_two_hop_type(&self, resource_type: &str) -> bool {
        self.two_hop_resource_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(resource_type))
    }

    /// The region of the first offsite hop for a resource in `resource_region`: the backup
    /// region, or the alternate when the resource already lives in the backup region.
    pub fn offsite_region_for(&self, resource_region: &Region) -> &Region {
        if *resource_region == self.backup_region {
            &self.backup_region_alternate
        } else {
            &self.backup_region
        }
    }
}

pub(crate) struct Reader<'a> {
    pub(crate) env: &'a BTreeMap<String, String>,
}

impl Reader<'_> {
    pub(crate) fn raw(&self, var: &'static str) -> Option<&str> {
        self.env
            .get(var)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn parse<T>(
        var: &'static str,
        value: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        parse(value).map_err(|expected| ConfigError::Invalid {
            var,
            value: value.to_owned(),
            expected,
        })
    }

    pub(crate) fn required<T>(
        &self,
        var: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let value = self.raw(var).ok_or(ConfigError::Missing { var })?;
        Self::parse(var, value, parse)
    }

    pub(crate) fn optional<T>(
        &self,
        var: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.raw(var)
            .map(|value| Self::parse(var, value, parse))
            .transpose()
    }

    pub(crate) fn or<T>(
        &self,
        var: &'static str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        Ok(self.optional(var, parse)?.unwrap_or(default))
    }

    pub(crate) fn list<T>(
        &self,
        var: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ConfigError> {
        let Some(value) = self.raw(var) else {
            return Ok(Vec::new());
        };
        value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                parse(item).map_err(|expected| ConfigError::Invalid {
                    var,
                    value: item.to_owned(),
                    expected: format!("a comma-separated list of {expected}s"),
                })
            })
            .collect()
    }
}

fn id<T>(value: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = crate::ids::IdError>,
{
    value.parse::<T>().map_err(|e| e.expected.to_owned())
}

pub(crate) fn text(value: &str) -> Result<String, String> {
    Ok(value.to_owned())
}

pub(crate) fn days(value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .map_err(|_| "a whole number of days".to_owned())
}

pub(crate) fn boolean(value: &str) -> Result<bool, String> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("true or false".to_owned())
    }
}

pub(crate) fn iam_role_arn(value: &str) -> Result<String, String> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && AccountId::new(parts[4]).is_ok()
        && parts[5].starts_with("role/")
        && parts[5].len() > "role/".len();
    if ok {
        Ok(value.to_owned())
    } else {
        Err("an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)".to_owned())
    }
}

fn sns_arn(value: &str) -> Result<String, String> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "sns"
        && Region::new(parts[3]).is_ok()
        && AccountId::new(parts[4]).is_ok()
        && !parts[5].is_empty();
    if ok {
        Ok(value.to_owned())
    } else {
        Err("an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> BTreeMap<String, String> {
        [
            (vars::ROLE, "source"),
            (vars::ACCOUNT_ID, "111111111111"),
            (vars::BACKUP_ACCOUNT_ID, "222222222222"),
            (vars::BACKUP_REGION, "eu-central-1"),
            (vars::BACKUP_REGION_ALTERNATE, "eu-west-1"),
            (vars::VAULT_NAME, "crossvault"),
            (vars::CENTRAL_VAULT_NAME, "crossvault"),
            (vars::PREPROD_VAULT_NAME, "crossvault"),
            (
                vars::COPY_ROLE_ARN,
                "arn:aws:iam::111111111111:role/crossvault-copy",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn with(pairs: &[(&str, &str)]) -> Result<StackConfig, ConfigError> {
        let mut env = base();
        for (k, v) in pairs {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        StackConfig::from_env_map(&env)
    }

    #[test]
    fn defaults() {
        let c = StackConfig::from_env_map(&base()).unwrap();
        assert_eq!(c.role, Role::Source);
        assert_eq!(c.copy_delete_after_days, 35);
        assert_eq!(c.copy_cold_after_days, None);
        assert_eq!(c.new_delete_after_days, 7);
        assert!(!c.copy_to_local_region);
        assert_eq!(c.preprod_tag_key, "CopyToPreProd");
        assert_eq!(c.preprod_tag_value, "true");
        assert!(c.preprod_account_ids.is_empty());
        assert!(c.two_hop_resource_types.is_empty());
        assert_eq!(c.notify_topic_arn, None);
        assert_eq!(c.reconcile_lookback_hours, 72);
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.copy_max_attempts, 3);
        assert_eq!(c.verify_role_arn, None);
        assert_eq!(c.reencrypt_vault_name, None);
        assert_eq!(c.region, None);
    }

    #[test]
    fn copy_attempts_and_verify_role() {
        let c = with(&[
            (vars::COPY_MAX_ATTEMPTS, "1"),
            (
                vars::VERIFY_ROLE_ARN,
                "arn:aws:iam::222222222222:role/crossvault-verify-eu-west-1",
            ),
        ])
        .unwrap();
        assert_eq!(c.copy_max_attempts, 1);
        assert_eq!(
            c.verify_role_arn.as_deref(),
            Some("arn:aws:iam::222222222222:role/crossvault-verify-eu-west-1")
        );
        for bad in ["0", "-1", "three"] {
            let e = with(&[(vars::COPY_MAX_ATTEMPTS, bad)]).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "CROSSVAULT_COPY_MAX_ATTEMPTS: expected a whole number of attempts, at least 1, got {bad:?}"
                )
            );
        }
        assert!(matches!(
            with(&[(vars::VERIFY_ROLE_ARN, "crossvault-verify")]),
            Err(ConfigError::Invalid { var, .. }) if var == vars::VERIFY_ROLE_ARN
        ));
    }

    #[test]
    fn the_reencryption_vault_is_never_the_managed_vault() {
        let c = with(&[(vars::REENCRYPT_VAULT_NAME, "crossvault-reencrypt")]).unwrap();
        assert_eq!(
            c.reencrypt_vault_name.as_ref().map(VaultName::as_str),
            Some("crossvault-reencrypt")
        );
        let e = with(&[(vars::REENCRYPT_VAULT_NAME, "crossvault")]).unwrap_err();
        assert!(
            matches!(&e, ConfigError::Inconsistent { var, .. } if *var == vars::REENCRYPT_VAULT_NAME),
            "{e}"
        );
        assert!(matches!(
            with(&[(vars::REENCRYPT_VAULT_NAME, "no spaces allowed")]),
            Err(ConfigError::Invalid { var, .. }) if var == vars::REENCRYPT_VAULT_NAME
        ));
    }

    #[test]
    fn cold_copies_must_outlive_the_cold_minimum() {
        let e = with(&[
            (vars::COPY_COLD_AFTER_DAYS, "30"),
            (vars::COPY_DELETE_AFTER_DAYS, "119"),
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "CROSSVAULT_COPY_DELETE_AFTER_DAYS: CopyDeleteAfterDays (119) must be at least \
             CopyMoveToColdStorageAfterDays + 90 = 30 + 90 = 120: AWS keeps a recovery point at \
             least 90 days in cold storage"
        );
        // Exactly the minimum is valid.
        let c = with(&[
            (vars::COPY_COLD_AFTER_DAYS, "30"),
            (vars::COPY_DELETE_AFTER_DAYS, "120"),
        ])
        .unwrap();
        assert_eq!(c.copy_cold_after_days, Some(30));
    }

    #[test]
    fn lookback_is_capped_at_what_aws_lists() {
        assert_eq!(with(&[]).unwrap().lookback_hours(), 72);
        assert_eq!(
            with(&[(vars::RECONCILE_LOOKBACK_HOURS, "696")])
                .unwrap()
                .lookback_hours(),
            696
        );
        assert_eq!(
            with(&[(vars::RECONCILE_LOOKBACK_HOURS, "2000")])
                .unwrap()
                .lookback_hours(),
            MAX_LOOKBACK_HOURS
        );
    }

    #[test]
    fn full() {
        let c = with(&[
            (vars::ROLE, "PreProd"),
            (vars::PREPROD_ACCOUNT_IDS, " 333333333333 ,, 555555555555,"),
            (vars::COPY_DELETE_AFTER_DAYS, "200"),
            (vars::COPY_COLD_AFTER_DAYS, "30"),
            (vars::NEW_DELETE_AFTER_DAYS, "3"),
            (vars::COPY_TO_LOCAL_REGION, "TRUE"),
            (vars::TWO_HOP_RESOURCE_TYPES, "EBS, EC2"),
            (
                vars::NOTIFY_TOPIC_ARN,
                "arn:aws:sns:eu-west-1:333333333333:crossvault",
            ),
            (vars::LOG_LEVEL, "DEBUG"),
            (vars::RECONCILE_LOOKBACK_HOURS, "24"),
        ])
        .unwrap();
        assert_eq!(c.role, Role::PreProd);
        assert_eq!(c.preprod_account_ids.len(), 2);
        assert_eq!(c.copy_cold_after_days, Some(30));
        assert!(c.copy_to_local_region);
        assert_eq!(c.two_hop_resource_types, vec!["EBS", "EC2"]);
        assert!(c.is_two_hop_type("ebs"));
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.reconcile_lookback_hours, 24);
    }

    #[test]
    fn errors_name_variable_and_value() {
        let e = with(&[(vars::BACKUP_ACCOUNT_ID, "12345")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CROSSVAULT_BACKUP_ACCOUNT_ID: expected a 12-digit AWS account id, got \"12345\""
        );
        let e = with(&[(vars::COPY_TO_LOCAL_REGION, "yes")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CROSSVAULT_COPY_TO_LOCAL_REGION: expected true or false, got \"yes\""
        );
        let e = with(&[(vars::PREPROD_ACCOUNT_IDS, "333333333333,abc")]).unwrap_err();
        assert!(
            e.to_string().contains("CROSSVAULT_PREPROD_ACCOUNT_IDS"),
            "{e}"
        );
        assert!(e.to_string().contains("\"abc\""), "{e}");
        let e = with(&[(vars::NEW_DELETE_AFTER_DAYS, "-1")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("CROSSVAULT_NEW_DELETE_AFTER_DAYS"),
            "{e}"
        );
        let e = with(&[(vars::ROLE, "prod")]).unwrap_err();
        assert!(e.to_string().contains("\"prod\""), "{e}");
    }

    #[test]
    fn missing_and_inconsistent() {
        let mut env = base();
        env.remove(vars::VAULT_NAME);
        assert_eq!(
            StackConfig::from_env_map(&env).unwrap_err(),
            ConfigError::Missing {
                var: vars::VAULT_NAME
            }
        );
        env = base();
        env.insert(vars::VAULT_NAME.into(), "   ".into());
        assert!(matches!(
            StackConfig::from_env_map(&env),
            Err(ConfigError::Missing { .. })
        ));
        assert!(matches!(
            with(&[(vars::BACKUP_REGION_ALTERNATE, "eu-central-1")]),
            Err(ConfigError::Inconsistent { var, .. }) if var == vars::BACKUP_REGION_ALTERNATE
        ));
        assert!(matches!(
            with(&[(vars::COPY_COLD_AFTER_DAYS, "30")]),
            Err(ConfigError::Inconsistent { var, .. }) if var == vars::COPY_DELETE_AFTER_DAYS
        ));
        assert!(matches!(
            with(&[(vars::COPY_ROLE_ARN, "")]),
            Err(ConfigError::Inconsistent { var, .. }) if var == vars::COPY_ROLE_ARN
        ));
        assert!(with(&[(vars::COPY_ROLE_ARN, ""), (vars::ROLE, "management")]).is_ok());
        assert!(matches!(
            with(&[(vars::COPY_ROLE_ARN, "crossvault-copy")]),
            Err(ConfigError::Invalid { var, .. }) if var == vars::COPY_ROLE_ARN
        ));
    }

    #[test]
    fn deployments_that_would_fail_later_are_refused() {
        let six = "333333333301,333333333302,333333333303,333333333304,333333333305,333333333306";
        let e = with(&[(vars::PREPROD_ACCOUNT_IDS, six)]).unwrap_err();
        assert!(
            matches!(&e, ConfigError::Inconsistent { var, problem } if *var == vars::PREPROD_ACCOUNT_IDS && problem.contains("lists 6 accounts")),
            "{e}"
        );
        assert!(
            with(&[(vars::PREPROD_ACCOUNT_IDS, &six[..64])]).is_ok(),
            "five"
        );
        let e = with(&[(vars::MANAGEMENT_ACCOUNT_ID, "222222222222")]).unwrap_err();
        assert!(
            matches!(&e, ConfigError::Inconsistent { var, .. } if *var == vars::MANAGEMENT_ACCOUNT_ID),
            "{e}"
        );
        let e = with(&[
            (vars::PREPROD_ACCOUNT_IDS, "333333333333"),
            (vars::MANAGEMENT_ACCOUNT_ID, "333333333333"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("pre-prod role"), "{e}");
        assert!(with(&[(vars::MANAGEMENT_ACCOUNT_ID, "999999999999")]).is_ok());
        // Vault Lock range against the copies' retention (35 by default), at both bounds.
        assert!(with(&[(vars::LOCK_MIN_RETENTION_DAYS, "35")]).is_ok());
        let e = with(&[(vars::LOCK_MIN_RETENTION_DAYS, "36")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("outside the central vault's Vault Lock range 36..unbounded"),
            "{e}"
        );
        assert!(
            with(&[
                (vars::LOCK_MIN_RETENTION_DAYS, "7"),
                (vars::LOCK_MAX_RETENTION_DAYS, "35")
            ])
            .is_ok()
        );
        let e = with(&[
            (vars::LOCK_MIN_RETENTION_DAYS, "7"),
            (vars::LOCK_MAX_RETENTION_DAYS, "34"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("7..34"), "{e}");
        assert!(
            with(&[(vars::LOCK_MAX_RETENTION_DAYS, "1")]).is_ok(),
            "no lock, no range"
        );
    }

    #[test]
    fn the_backup_role_needs_a_copy_role_only_to_forward_two_hop_types() {
        let backup = [(vars::ROLE, "backup"), (vars::COPY_ROLE_ARN, "")];
        assert!(with(&backup).is_ok());
        let mut two_hop = backup.to_vec();
        two_hop.push((vars::TWO_HOP_RESOURCE_TYPES, "EBS"));
        assert!(matches!(
            with(&two_hop),
            Err(ConfigError::Inconsistent { var, .. }) if var == vars::COPY_ROLE_ARN
        ));
    }

    #[test]
    fn from_iter_ignores_other_variables() {
        let mut pairs: Vec<(String, String)> = base().into_iter().collect();
        pairs.push(("PATH".into(), "/usr/bin".into()));
        pairs.push(("AWS_REGION".into(), "eu-west-1".into()));
        assert!(StackConfig::from_iter(pairs).is_ok());
    }

    #[test]
    fn offsite_region() {
        let c = StackConfig::from_env_map(&base()).unwrap();
        assert_eq!(
            c.offsite_region_for(&Region::new("eu-west-1").unwrap())
                .as_str(),
            "eu-central-1"
        );
        assert_eq!(
            c.offsite_region_for(&Region::new("eu-central-1").unwrap())
                .as_str(),
            "eu-west-1"
        );
    }
}
