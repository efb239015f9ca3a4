//! `Custom::HandlerConfiguration`: the handler's own configuration (its `CROSSVAULT_*`
//! environment, which the template derives from the stack parameters) validated the way the
//! handler reads it at start-up, so that a stack whose parameters make it invalid fails at this
//! resource with the reason — before any key, vault or event rule exists — instead of completing
//! and then failing every event.
//!
//! CloudFormation's `Rules` cannot count list items or compare numbers, so these refusals live
//! here (the template's `Rules` refuse what equality and membership can express). Its
//! `Parameters` property lists the parameters the environment is made of: CloudFormation sends
//! an Update, and so a new check, whenever one of them changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use crossvault_core::StackConfig;
use crossvault_core::config::ConfigError;

use crate::custom_resource::{OpResult, Outcome, Request, ResourceError, ResourceKind};

/// Where the environment comes from: the Lambda's own, or (the test harness, which plays
/// CloudFormation in-process) the one the template gives the function.
pub type EnvironmentSource = Arc<dyn Fn() -> BTreeMap<String, String> + Send + Sync>;

/// The template parameter behind each variable, for a reason the user can act on.
const PARAMETER_OF: &[(&str, &str)] = &[
    ("CROSSVAULT_BACKUP_ACCOUNT_ID", "BackupAccountId"),
    ("CROSSVAULT_BACKUP_REGION", "BackupRegion"),
    (
        "CROSSVAULT_BACKUP_REGION_ALTERNATE",
        "BackupRegionAlternate",
    ),
    ("CROSSVAULT_PREPROD_ACCOUNT_IDS", "PreProdAccountIds"),
    (
        "CROSSVAULT_PREPROD_SOURCE_ACCOUNT_IDS",
        "ProductionAccountIds",
    ),
    ("CROSSVAULT_MANAGEMENT_ACCOUNT_ID", "ManagementAccountId"),
    ("CROSSVAULT_VAULT_NAME", "VaultName or SourceVaultName"),
    ("CROSSVAULT_COPY_DELETE_AFTER_DAYS", "CopyDeleteAfterDays"),
    (
        "CROSSVAULT_COPY_COLD_AFTER_DAYS",
        "CopyMoveToColdStorageAfterDays",
    ),
    ("CROSSVAULT_NEW_DELETE_AFTER_DAYS", "NewDeleteAfterDays"),
    ("CROSSVAULT_LOCK_MIN_RETENTION_DAYS", "LockMinRetentionDays"),
    ("CROSSVAULT_LOCK_MAX_RETENTION_DAYS", "LockMaxRetentionDays"),
    ("CROSSVAULT_TWO_HOP_RESOURCE_TYPES", "TwoHopResourceTypes"),
    (
        "CROSSVAULT_RECONCILE_LOOKBACK_HOURS",
        "ReconcileLookbackHours",
    ),
    ("CROSSVAULT_RESTORE_ROLE_ARN", "RestoreOnArrival"),
    ("CROSSVAULT_RESTORE_HOOK_DOCUMENT", "RestoreMaskingHook"),
    (
        "CROSSVAULT_RESTORE_SECURITY_GROUP_IDS",
        "RestoreSecurityGroupIds",
    ),
    ("CROSSVAULT_RESTORE_KEEP", "RestoreKeep"),
    (
        "CROSSVAULT_RESTORE_PARAMETER_PREFIX",
        "RestoreParameterPrefix",
    ),
    ("CROSSVAULT_RESTORE_HOSTED_ZONE_ID", "RestoreHostedZoneId"),
    ("CROSSVAULT_RESTORE_DNS_DOMAIN", "RestoreDnsDomain"),
    ("CROSSVAULT_RESTORE_MAX_SIZE_GIB", "RestoreMaxSizeGiB"),
    (
        "CROSSVAULT_SLACK_WEBHOOK_PARAMETER",
        "SlackWebhookParameter",
    ),
];

/// The reason a stack fails with, naming the parameter as well as the variable.
pub fn reason(error: &ConfigError) -> String {
    let var = match error {
        ConfigError::Missing { var }
        | ConfigError::Invalid { var, .. }
        | ConfigError::Inconsistent { var, .. } => *var,
    };
    let parameter = PARAMETER_OF
        .iter()
        .find(|(v, _)| *v == var)
        .map(|(_, p)| format!(" (parameter {p})"))
        .unwrap_or_default();
    format!(
        "the stack's parameters give the crossvault handler an invalid configuration{parameter}: \
         {error}; fix the parameter and update the stack"
    )
}

pub struct HandlerConfiguration {
    environment: EnvironmentSource,
}

impl HandlerConfiguration {
    /// The Lambda's own environment.
    pub fn from_process() -> Self {
        Self::with_environment(Arc::new(|| {
            std::env::vars()
                .filter(|(k, _)| k.starts_with("CROSSVAULT_"))
                .collect()
        }))
    }

    pub fn with_environment(environment: EnvironmentSource) -> Self {
        Self { environment }
    }

    fn check(&self) -> Result<Outcome, ResourceError> {
        let config = StackConfig::from_env_map(&(self.environment)())
            .map_err(|e| ResourceError::Invalid(reason(&e)))?;
        let mut data = serde_json::Map::new();
        data.insert("Role".into(), config.role.to_string().into());
        Ok(Outcome {
            data,
            no_echo: false,
            note: Some(format!("configuration valid for the {} role", config.role)),
        })
    }
}

impl ResourceKind for HandlerConfiguration {
    fn resource_type(&self) -> &'static str {
        "Custom::HandlerConfiguration"
    }

    fn id_name(&self) -> &'static str {
        "handler-configuration"
    }

    fn create<'a>(&'a self, _req: &'a Request) -> OpResult<'a> {
        Box::pin(async move { self.check() })
    }

    fn delete<'a>(&'a self, _req: &'a Request) -> OpResult<'a> {
        Box::pin(async { Ok(Outcome::with_note("a check; nothing to delete")) })
    }
}
