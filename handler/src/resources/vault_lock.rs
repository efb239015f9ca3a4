//! `Custom::BackupVaultLock`: AWS Backup Vault Lock on a vault the stack does not own.
//!
//! Governance mode (no `ChangeableForDays`) can be removed, so Delete removes it. Compliance
//! mode becomes immutable once its cooling-off period ends: then nobody, not even AWS, can
//! remove or change it, and Delete answers SUCCESS with a reason saying the lock stays — a
//! stack stuck in DELETE_FAILED over something that cannot be undone helps no one. With
//! `RetainOnDelete` (crossvault's own central vaults) Delete never removes a lock.

use chrono::{DateTime, Utc};

use crate::aws_error::{self, ErrorClass};
use crate::custom_resource::{
    OpResult, Outcome, Properties, PropertyError, Request, ResourceError, ResourceKind,
};
use crate::resources::vault_policy::vault_name;

/// AWS Backup's bounds: retention from 1 day to 100 years; compliance cooling-off at least 3
/// days (the 72-hour grace period).
const MAX_DAYS: u32 = 36_500;
const MIN_COOLING_OFF_DAYS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockSettings {
    pub min_retention_days: u32,
    pub max_retention_days: Option<u32>,
    /// `Some` = compliance mode.
    pub changeable_for_days: Option<u32>,
}

impl LockSettings {
    pub fn from_props(props: &Properties<'_>) -> Result<Self, PropertyError> {
        let min = props.u32("MinRetentionDays")?;
        let max = props.optional_u32("MaxRetentionDays")?;
        let changeable = props.optional_u32("ChangeableForDays")?;
        if !(1..=MAX_DAYS).contains(&min) {
            return Err(PropertyError::new(
                "MinRetentionDays",
                format!("must be 1 to {MAX_DAYS}, got {min}"),
            ));
        }
        if let Some(max) = max {
            if max > MAX_DAYS {
                return Err(PropertyError::new(
                    "MaxRetentionDays",
                    format!("must be at most {MAX_DAYS}, got {max}"),
                ));
            }
            if max < min {
                return Err(PropertyError::new(
                    "MaxRetentionDays",
                    format!("{max} is below MinRetentionDays {min}; raise it or lower the minimum"),
                ));
            }
        }
        if let Some(days) = changeable
            && days < MIN_COOLING_OFF_DAYS
        {
            return Err(PropertyError::new(
                "ChangeableForDays",
                format!(
                    "compliance mode needs a cooling-off of at least {MIN_COOLING_OFF_DAYS} days, got \
                     {days}; omit it for a governance lock"
                ),
            ));
        }
        Ok(Self {
            min_retention_days: min,
            max_retention_days: max,
            changeable_for_days: changeable,
        })
    }
}

/// The lock as `DescribeBackupVault` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentLock {
    pub locked: bool,
    pub min_retention_days: Option<i64>,
    pub max_retention_days: Option<i64>,
    /// When a compliance lock becomes immutable; `None` for governance mode.
    pub lock_date: Option<DateTime<Utc>>,
}

impl CurrentLock {
    /// A compliance lock whose cooling-off has ended.
    pub fn is_immutable(&self, now: DateTime<Utc>) -> bool {
        self.locked && self.lock_date.is_some_and(|d| d <= now)
    }

    fn matches(&self, wanted: &LockSettings) -> bool {
        self.locked
            && self.min_retention_days == Some(i64::from(wanted.min_retention_days))
            && self.max_retention_days == wanted.max_retention_days.map(i64::from)
    }
}

pub struct VaultLock {
    client: aws_sdk_backup::Client,
}

impl VaultLock {
    pub fn new(client: aws_sdk_backup::Client) -> Self {
        Self { client }
    }

    async fn current(&self, vault: &str) -> Result<Option<CurrentLock>, ResourceError> {
        match self
            .client
            .describe_backup_vault()
            .backup_vault_name(vault)
            .send()
            .await
        {
            Ok(out) => Ok(Some(CurrentLock {
                locked: out.locked.unwrap_or(false),
                min_retention_days: out.min_retention_days,
                max_retention_days: out.max_retention_days,
                lock_date: out.lock_date.as_ref().and_then(crate::sdk_values::utc),
            })),
            Err(e) if aws_error::classify(&e) == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(ResourceError::aws("backup:DescribeBackupVault", e)),
        }
    }

    async fn apply(&self, req: &Request) -> Result<Outcome, ResourceError> {
        let props = req.props();
        let vault = vault_name(&props)?;
        let wanted = LockSettings::from_props(&props)?;
        let Some(current) = self.current(&vault).await? else {
            return Err(ResourceError::Invalid(format!(
                "vault {vault} does not exist in account {} region {}; create it first, or name an \
                 existing vault",
                req.account_id, req.region
            )));
        };
        if current.is_immutable(Utc::now()) {
            if current.matches(&wanted) {
                return Ok(Outcome::with_note(format!(
                    "compliance lock on {vault} already as wanted"
                )));
            }
            return Err(ResourceError::Invalid(format!(
                "vault {vault} has a compliance lock that is immutable since {} (min {:?}, max {:?} \
                 days); it cannot be changed by anyone, so set the template's lock properties back \
                 to those values",
                current
                    .lock_date
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_default(),
                current.min_retention_days,
                current.max_retention_days
            )));
        }
        self.client
            .put_backup_vault_lock_configuration()
            .backup_vault_name(&vault)
            .min_retention_days(i64::from(wanted.min_retention_days))
            .set_max_retention_days(wanted.max_retention_days.map(i64::from))
            .set_changeable_for_days(wanted.changeable_for_days.map(i64::from))
            .send()
            .await
            .map_err(|e| ResourceError::aws("backup:PutBackupVaultLockConfiguration", e))?;
        let mode = match wanted.changeable_for_days {
            Some(days) => format!("compliance (immutable after {days} days)"),
            None => "governance".to_owned(),
        };
        Ok(Outcome::with_note(format!(
            "vault {vault} locked in {mode} mode: retention {}..{} days",
            wanted.min_retention_days,
            wanted
                .max_retention_days
                .map_or("unbounded".into(), |d| d.to_string())
        )))
    }

    async fn remove(&self, req: &Request) -> Result<Outcome, ResourceError> {
        let vault = vault_name(&req.props())?;
        if req.props().bool_or("RetainOnDelete", false)? {
            // Removing a lock weakens the vault's protection: never a side effect of deleting or
            // changing a stack. A role exempt from the vault's deny statement can remove a
            // governance lock deliberately.
            return Ok(Outcome::with_note(format!(
                "the lock on vault {vault} stays (RetainOnDelete)"
            )));
        }
        let Some(current) = self.current(&vault).await? else {
            return Ok(Outcome::with_note(format!(
                "vault {vault} is gone; no lock to remove"
            )));
        };
        if !current.locked {
            return Ok(Outcome::with_note(format!(
                "vault {vault} is not locked; nothing to remove"
            )));
        }
        if current.is_immutable(Utc::now()) {
            return Ok(Outcome::with_note(format!(
                "the compliance lock on vault {vault} stays: it is immutable since {} and no one \
                 can remove it; the stack no longer manages it",
                current
                    .lock_date
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_default()
            )));
        }
        match self
            .client
            .delete_backup_vault_lock_configuration()
            .backup_vault_name(&vault)
            .send()
            .await
        {
            Ok(_) => Ok(Outcome::with_note(format!(
                "lock removed from vault {vault}"
            ))),
            Err(e) if aws_error::classify(&e) == ErrorClass::NotFound => Ok(Outcome::with_note(
                format!("vault {vault} is gone; no lock to remove"),
            )),
            Err(e) => Err(ResourceError::aws(
                "backup:DeleteBackupVaultLockConfiguration",
                e,
            )),
        }
    }
}

impl ResourceKind for VaultLock {
    fn resource_type(&self) -> &'static str {
        "Custom::BackupVaultLock"
    }

    fn id_name(&self) -> &'static str {
        "vault-lock"
    }

    fn id_key(&self, props: &Properties<'_>) -> Result<Option<String>, ResourceError> {
        Ok(Some(vault_name(props)?))
    }

    fn validate(&self, req: &Request) -> Result<(), ResourceError> {
        LockSettings::from_props(&req.props())?;
        Ok(())
    }

    fn create<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(self.apply(req))
    }

    fn delete<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(self.remove(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(v: serde_json::Value) -> Result<LockSettings, PropertyError> {
        LockSettings::from_props(&Properties::new(v.as_object().unwrap()))
    }

    #[test]
    fn bad_lock_settings_say_what_to_change() {
        let e = settings(json!({"MinRetentionDays": "30", "MaxRetentionDays": "7"})).unwrap_err();
        assert_eq!(e.path, "MaxRetentionDays");
        assert!(
            e.problem.contains("below MinRetentionDays 30"),
            "{}",
            e.problem
        );
        let e = settings(json!({"MinRetentionDays": "7", "ChangeableForDays": "2"})).unwrap_err();
        assert_eq!(e.path, "ChangeableForDays");
        assert!(e.problem.contains("at least 3 days"), "{}", e.problem);
        let e = settings(json!({"MinRetentionDays": "0"})).unwrap_err();
        assert_eq!(e.path, "MinRetentionDays");
        assert_eq!(
            settings(json!({"MinRetentionDays": "7", "MaxRetentionDays": "3650", "ChangeableForDays": "3"})).unwrap(),
            LockSettings { min_retention_days: 7, max_retention_days: Some(3650), changeable_for_days: Some(3) }
        );
    }

    #[test]
    fn immutability_comes_from_the_lock_date() {
        let now = Utc::now();
        let lock = |date: Option<DateTime<Utc>>| CurrentLock {
            locked: true,
            min_retention_days: Some(7),
            max_retention_days: None,
            lock_date: date,
        };
        assert!(lock(Some(now - chrono::Duration::days(1))).is_immutable(now));
        assert!(
            !lock(Some(now + chrono::Duration::days(1))).is_immutable(now),
            "still cooling off"
        );
        assert!(!lock(None).is_immutable(now), "governance");
    }
}
