//! The pre-prod restore's part of the configuration (`CROSSVAULT_RESTORE_*`, and the Slack
//! webhook's parameter, which every role uses), parsed and checked with the same rules as the
//! rest of [`crate::config`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Reader, boolean, days, iam_role_arn, text};

/// The variable names.
pub mod vars {
    /// `true`/`false` (default false): restore arrivals in the pre-prod vault.
    pub const ON_ARRIVAL: &str = "CROSSVAULT_RESTORE_ON_ARRIVAL";
    /// Source resources allowed to be restored: ARNs or names (comma list).
    pub const SOURCES: &str = "CROSSVAULT_RESTORE_SOURCES";
    /// `true`/`false` (default true): also restore points carrying the pre-prod tag.
    pub const TAGGED_SOURCES: &str = "CROSSVAULT_RESTORE_TAGGED_SOURCES";
    /// The role passed to `StartRestoreJob`.
    pub const ROLE_ARN: &str = "CROSSVAULT_RESTORE_ROLE_ARN";
    /// `DBSubnetGroupName` of RDS and Aurora restores.
    pub const DB_SUBNET_GROUP: &str = "CROSSVAULT_RESTORE_DB_SUBNET_GROUP";
    /// `VpcSecurityGroupIds` (comma list).
    pub const SECURITY_GROUP_IDS: &str = "CROSSVAULT_RESTORE_SECURITY_GROUP_IDS";
    /// `DBInstanceClass` (RDS; Aurora's writer instance).
    pub const DB_INSTANCE_CLASS: &str = "CROSSVAULT_RESTORE_DB_INSTANCE_CLASS";
    /// `DBParameterGroupName` (RDS instances).
    pub const DB_PARAMETER_GROUP: &str = "CROSSVAULT_RESTORE_DB_PARAMETER_GROUP";
    /// `DBClusterParameterGroupName` (Aurora).
    pub const DB_CLUSTER_PARAMETER_GROUP: &str = "CROSSVAULT_RESTORE_DB_CLUSTER_PARAMETER_GROUP";
    /// `OptionGroupName` (RDS instances).
    pub const OPTION_GROUP: &str = "CROSSVAULT_RESTORE_OPTION_GROUP";
    /// `true`/`false` (default false): deletion protection of restores.
    pub const DELETION_PROTECTION: &str = "CROSSVAULT_RESTORE_DELETION_PROTECTION";
    /// Largest recovery point restored, GiB ("" = no limit).
    pub const MAX_SIZE_GIB: &str = "CROSSVAULT_RESTORE_MAX_SIZE_GIB";
    /// Promoted restores kept per source resource (default 1).
    pub const KEEP: &str = "CROSSVAULT_RESTORE_KEEP";
    /// The SSM Automation document run as the masking hook.
    pub const HOOK_DOCUMENT: &str = "CROSSVAULT_RESTORE_HOOK_DOCUMENT";
    /// `true`/`false` (default false): promote without a masking hook.
    pub const UNMASKED: &str = "CROSSVAULT_RESTORE_UNMASKED";
    /// The SSM parameter path of the stable addresses (default `/crossvault/preprod`).
    pub const PARAMETER_PREFIX: &str = "CROSSVAULT_RESTORE_PARAMETER_PREFIX";
    /// A Route 53 private hosted zone for the CNAMEs ("" = none).
    pub const HOSTED_ZONE_ID: &str = "CROSSVAULT_RESTORE_HOSTED_ZONE_ID";
    /// That zone's domain name.
    pub const DNS_DOMAIN: &str = "CROSSVAULT_RESTORE_DNS_DOMAIN";
    /// The SSM parameter holding the Slack webhook URL (a SecureString, or a Secrets Manager
    /// secret through `/aws/reference/secretsmanager/NAME`); "" = no Slack.
    pub const SLACK_WEBHOOK_PARAMETER: &str = "CROSSVAULT_SLACK_WEBHOOK_PARAMETER";
}

/// How a restore that cannot be started is retried: attempts per recovery point (a failed
/// restore job is started again, with a new name, by the reconciler).
pub const RESTORE_MAX_ATTEMPTS: u32 = 2;

/// The prefix of a Secrets Manager secret read through Parameter Store.
pub const SECRETS_MANAGER_REFERENCE: &str = "/aws/reference/secretsmanager/";

/// A Route 53 private hosted zone the restores' CNAMEs go into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsZone {
    /// `HostedZoneId`
    pub hosted_zone_id: String,
    /// The zone's domain, without the trailing dot.
    pub domain: String,
}

/// Which arrivals are restored, how, and where the newest is reachable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreSettings {
    /// `CROSSVAULT_RESTORE_ON_ARRIVAL`
    pub on_arrival: bool,
    /// `CROSSVAULT_RESTORE_SOURCES`
    pub sources: Vec<String>,
    /// `CROSSVAULT_RESTORE_TAGGED_SOURCES`
    pub tagged_sources: bool,
    /// `CROSSVAULT_RESTORE_ROLE_ARN`
    pub role_arn: Option<String>,
    /// `CROSSVAULT_RESTORE_DB_SUBNET_GROUP`
    pub db_subnet_group: Option<String>,
    /// `CROSSVAULT_RESTORE_SECURITY_GROUP_IDS`
    pub security_group_ids: Vec<String>,
    /// `CROSSVAULT_RESTORE_DB_INSTANCE_CLASS`
    pub db_instance_class: Option<String>,
    /// `CROSSVAULT_RESTORE_DB_PARAMETER_GROUP`
    pub db_parameter_group: Option<String>,
    /// `CROSSVAULT_RESTORE_DB_CLUSTER_PARAMETER_GROUP`
    pub db_cluster_parameter_group: Option<String>,
    /// `CROSSVAULT_RESTORE_OPTION_GROUP`
    pub option_group: Option<String>,
    /// `CROSSVAULT_RESTORE_DELETION_PROTECTION`
    pub deletion_protection: bool,
    /// `CROSSVAULT_RESTORE_MAX_SIZE_GIB`
    pub max_size_gib: Option<u32>,
    /// `CROSSVAULT_RESTORE_KEEP` (at least 1)
    pub keep: u32,
    /// `CROSSVAULT_RESTORE_HOOK_DOCUMENT`
    pub hook_document: Option<String>,
    /// `CROSSVAULT_RESTORE_UNMASKED`
    pub unmasked: bool,
    /// `CROSSVAULT_RESTORE_PARAMETER_PREFIX`
    pub parameter_prefix: String,
    /// `CROSSVAULT_RESTORE_HOSTED_ZONE_ID` + `CROSSVAULT_RESTORE_DNS_DOMAIN`
    pub dns: Option<DnsZone>,
    /// `CROSSVAULT_SLACK_WEBHOOK_PARAMETER`
    pub slack_webhook_parameter: Option<String>,
}

impl Default for RestoreSettings {
    fn default() -> Self {
        Self {
            on_arrival: false,
            sources: Vec::new(),
            tagged_sources: true,
            role_arn: None,
            db_subnet_group: None,
            security_group_ids: Vec::new(),
            db_instance_class: None,
            db_parameter_group: None,
            db_cluster_parameter_group: None,
            option_group: None,
            deletion_protection: false,
            max_size_gib: None,
            keep: 1,
            hook_document: None,
            unmasked: false,
            parameter_prefix: DEFAULT_PARAMETER_PREFIX.to_owned(),
            dns: None,
            slack_webhook_parameter: None,
        }
    }
}

/// Where stable addresses live unless told otherwise.
pub const DEFAULT_PARAMETER_PREFIX: &str = "/crossvault/preprod";

fn parameter_path(value: &str) -> Result<String, String> {
    let ok = value.starts_with('/')
        && value.len() <= 900
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'));
    if ok {
        Ok(value.trim_end_matches('/').to_owned())
    } else {
        Err("an SSM parameter path (/letters, digits, _ . - and /)".to_owned())
    }
}

fn security_group(value: &str) -> Result<String, String> {
    let ok = value
        .strip_prefix("sg-")
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Ok(value.to_owned())
    } else {
        Err("a security group id (sg-…)".to_owned())
    }
}

fn ssm_document(value: &str) -> Result<String, String> {
    let name_ok = |n: &str| {
        (3..=128).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    let ok = match value.strip_prefix("arn:") {
        Some(_) => {
            value.contains(":ssm:")
                && value
                    .split_once(":document/")
                    .is_some_and(|(_, n)| name_ok(n))
        }
        None => name_ok(value),
    };
    if ok {
        Ok(value.to_owned())
    } else {
        Err("an SSM Automation document name or ARN".to_owned())
    }
}

fn dns_domain(value: &str) -> Result<String, String> {
    let d = value.trim_end_matches('.');
    let ok = !d.is_empty()
        && d.len() <= 200
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(d.to_ascii_lowercase())
    } else {
        Err("a DNS domain name (e.g. preprod.internal)".to_owned())
    }
}

impl RestoreSettings {
    /// Parses the `CROSSVAULT_RESTORE_*` variables of `env`.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let r = Reader { env };
        let zone = r.optional(vars::HOSTED_ZONE_ID, text)?;
        let domain = r.optional(vars::DNS_DOMAIN, dns_domain)?;
        let dns = match (zone, domain) {
            (Some(hosted_zone_id), Some(domain)) => Some(DnsZone {
                hosted_zone_id,
                domain,
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Inconsistent {
                    var: vars::DNS_DOMAIN,
                    problem: "is required with a hosted zone (the CNAMEs are named in its domain)"
                        .into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Inconsistent {
                    var: vars::HOSTED_ZONE_ID,
                    problem: "is required with a DNS domain (the zone the CNAMEs go into)".into(),
                });
            }
        };
        let settings = Self {
            on_arrival: r.or(vars::ON_ARRIVAL, false, boolean)?,
            sources: r.list(vars::SOURCES, text)?,
            tagged_sources: r.or(vars::TAGGED_SOURCES, true, boolean)?,
            role_arn: r.optional(vars::ROLE_ARN, iam_role_arn)?,
            db_subnet_group: r.optional(vars::DB_SUBNET_GROUP, text)?,
            security_group_ids: r.list(vars::SECURITY_GROUP_IDS, security_group)?,
            db_instance_class: r.optional(vars::DB_INSTANCE_CLASS, text)?,
            db_parameter_group: r.optional(vars::DB_PARAMETER_GROUP, text)?,
            db_cluster_parameter_group: r.optional(vars::DB_CLUSTER_PARAMETER_GROUP, text)?,
            option_group: r.optional(vars::OPTION_GROUP, text)?,
            deletion_protection: r.or(vars::DELETION_PROTECTION, false, boolean)?,
            max_size_gib: r.optional(vars::MAX_SIZE_GIB, days)?,
            keep: r.or(vars::KEEP, 1, |v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=10).contains(n))
                    .ok_or_else(|| "a whole number of restores, 1 to 10".to_owned())
            })?,
            hook_document: r.optional(vars::HOOK_DOCUMENT, ssm_document)?,
            unmasked: r.or(vars::UNMASKED, false, boolean)?,
            parameter_prefix: r.or(
                vars::PARAMETER_PREFIX,
                DEFAULT_PARAMETER_PREFIX.to_owned(),
                parameter_path,
            )?,
            dns,
            slack_webhook_parameter: r.optional(vars::SLACK_WEBHOOK_PARAMETER, parameter_path)?,
        };
        Ok(settings)
    }

    /// Checks that need the stack's role: a pre-prod stack that restores needs its restore
    /// role and a masking hook (or the explicit acceptance of unmasked data).
    pub fn validate_for_preprod(&self) -> Result<(), ConfigError> {
        if !self.on_arrival {
            return Ok(());
        }
        if self.role_arn.is_none() {
            return Err(ConfigError::Inconsistent {
                var: vars::ROLE_ARN,
                problem: "is required when restores are on (the role AWS Backup restores as)"
                    .into(),
            });
        }
        if self.hook_document.is_none() && !self.unmasked {
            return Err(ConfigError::Inconsistent {
                var: vars::HOOK_DOCUMENT,
                problem: "restores are on but no masking hook is named: production data would be \
                          promoted unmasked. Name an SSM Automation document or a Lambda function \
                          in RestoreMaskingHook, or set RestoreUnmasked to true to accept \
                          unmasked production data in pre-prod"
                    .into(),
            });
        }
        Ok(())
    }

    /// Whether the Slack webhook is a Secrets Manager secret read through Parameter Store.
    pub fn slack_from_secrets_manager(&self) -> bool {
        self.slack_webhook_parameter
            .as_deref()
            .is_some_and(|p| p.starts_with(SECRETS_MANAGER_REFERENCE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<RestoreSettings, ConfigError> {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RestoreSettings::from_env(&env)
    }

    #[test]
    fn defaults_restore_nothing() {
        let s = parse(&[]).unwrap();
        assert_eq!(s, RestoreSettings::default());
        assert!(!s.on_arrival);
        assert_eq!(s.keep, 1);
        assert_eq!(s.parameter_prefix, "/crossvault/preprod");
        assert!(s.validate_for_preprod().is_ok());
    }

    #[test]
    fn a_preprod_stack_that_restores_needs_a_role_and_a_hook_or_says_unmasked() {
        let role = (
            vars::ROLE_ARN,
            "arn:aws:iam::333333333333:role/crossvault-restore-eu-west-1",
        );
        let e = parse(&[(vars::ON_ARRIVAL, "true")])
            .unwrap()
            .validate_for_preprod()
            .unwrap_err();
        assert!(matches!(e, ConfigError::Inconsistent { var, .. } if var == vars::ROLE_ARN));
        let e = parse(&[(vars::ON_ARRIVAL, "true"), role])
            .unwrap()
            .validate_for_preprod()
            .unwrap_err();
        assert!(e.to_string().contains("RestoreUnmasked"), "{e}");
        assert!(
            parse(&[(vars::ON_ARRIVAL, "true"), role, (vars::UNMASKED, "true")])
                .unwrap()
                .validate_for_preprod()
                .is_ok()
        );
        assert!(
            parse(&[
                (vars::ON_ARRIVAL, "true"),
                role,
                (vars::HOOK_DOCUMENT, "crossvault-mask")
            ])
            .unwrap()
            .validate_for_preprod()
            .is_ok()
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            (vars::SECURITY_GROUP_IDS, "sg-1,default"),
            (vars::KEEP, "0"),
            (vars::KEEP, "11"),
            (vars::PARAMETER_PREFIX, "crossvault"),
            (vars::SLACK_WEBHOOK_PARAMETER, "https://hooks.slack.com/x"),
            (vars::HOOK_DOCUMENT, "arn:aws:lambda:eu-west-1:1:function:x"),
            (vars::ROLE_ARN, "crossvault-restore"),
        ] {
            let e = parse(&[(var, value)]).unwrap_err();
            assert!(
                matches!(&e, ConfigError::Invalid { var: v, .. } if *v == var),
                "{var}={value}: {e}"
            );
        }
        let e = parse(&[(vars::HOSTED_ZONE_ID, "Z123")]).unwrap_err();
        assert!(matches!(e, ConfigError::Inconsistent { var, .. } if var == vars::DNS_DOMAIN));
    }

    #[test]
    fn slack_through_secrets_manager_is_recognised() {
        let s = parse(&[(
            vars::SLACK_WEBHOOK_PARAMETER,
            "/aws/reference/secretsmanager/crossvault/slack",
        )])
        .unwrap();
        assert!(s.slack_from_secrets_manager());
        let s = parse(&[(vars::SLACK_WEBHOOK_PARAMETER, "/crossvault/slack")]).unwrap();
        assert!(!s.slack_from_secrets_manager());
    }

    #[test]
    fn dns_zone_and_sources() {
        let s = parse(&[
            (vars::HOSTED_ZONE_ID, "Z0123"),
            (vars::DNS_DOMAIN, "PreProd.Internal."),
            (
                vars::SOURCES,
                "arn:aws:rds:eu-west-1:111111111111:db:orders, billing",
            ),
            (vars::SECURITY_GROUP_IDS, "sg-0a1b, sg-2c3d"),
        ])
        .unwrap();
        assert_eq!(
            s.dns,
            Some(DnsZone {
                hosted_zone_id: "Z0123".into(),
                domain: "preprod.internal".into()
            })
        );
        assert_eq!(s.sources.len(), 2);
        assert_eq!(s.security_group_ids, ["sg-0a1b", "sg-2c3d"]);
    }
}
