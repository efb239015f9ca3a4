//! ARN parsing: backup vault ARNs and recovery point ARNs.
//!
//! Vault ARNs (`arn:PARTITION:backup:REGION:ACCOUNT:backup-vault:NAME`) are parsed strictly:
//! crossvault compares them with the vaults of its configuration to decide where a copy came
//! from and went to. Recovery point ARNs take several shapes (AWS docs): fully managed
//! types use `arn:P:backup:R:A:recovery-point:ID` (continuous points
//! `...:recovery-point:continuous:...`), RDS/Aurora/DocumentDB/Neptune use the native snapshot
//! ARN `arn:P:rds:R:A:snapshot:awsbackup:job-…` / `cluster-snapshot:…` (copies `copyjob-…`),
//! EBS and EC2 `arn:P:ec2:R::snapshot/snap-…` / `image/ami-…` (no account). Other services are
//! accepted as [`RecoveryPointKind::Other`] so a new type is never a parse error.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, Region, VaultName};

/// Why a string is not an ARN of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {value:?}: {problem}")]
pub struct ArnError {
    /// What was expected ("a backup vault ARN", "a recovery point ARN").
    pub expected: &'static str,
    /// The rejected value.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
}

/// The AWS partitions crossvault supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Partition {
    /// `aws`
    #[serde(rename = "aws")]
    Aws,
    /// `aws-cn`
    #[serde(rename = "aws-cn")]
    AwsCn,
    /// `aws-us-gov`
    #[serde(rename = "aws-us-gov")]
    AwsUsGov,
}

impl Partition {
    /// The partition as it appears in ARNs.
    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "aws" => Some(Partition::Aws),
            "aws-cn" => Some(Partition::AwsCn),
            "aws-us-gov" => Some(Partition::AwsUsGov),
            _ => None,
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A backup vault ARN: `arn:PARTITION:backup:REGION:ACCOUNT:backup-vault:NAME`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VaultArn {
    /// The partition.
    pub partition: Partition,
    /// The vault's region.
    pub region: Region,
    /// The vault's account.
    pub account: AccountId,
    /// The vault's name.
    pub name: VaultName,
}

impl VaultArn {
    /// Builds a vault ARN from its parts.
    pub fn new(partition: Partition, region: Region, account: AccountId, name: VaultName) -> Self {
        Self {
            partition,
            region,
            account,
            name,
        }
    }

    /// Parses `arn:PARTITION:backup:REGION:ACCOUNT:backup-vault:NAME`.
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        const EXPECTED: &str =
            "a backup vault ARN (arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME)";
        let err = |problem: String| ArnError {
            expected: EXPECTED,
            value: s.to_owned(),
            problem,
        };
        let parts: Vec<&str> = s.splitn(7, ':').collect();
        if parts.len() != 7 || parts[0] != "arn" {
            return Err(err(
                "not of the form arn:P:backup:R:A:backup-vault:NAME".into()
            ));
        }
        let partition = Partition::parse(parts[1])
            .ok_or_else(|| err(format!("unsupported partition {:?}", parts[1])))?;
        if parts[2] != "backup" {
            return Err(err(format!("service is {:?}, not \"backup\"", parts[2])));
        }
        let region = Region::new(parts[3]).map_err(|e| err(format!("region: {e}")))?;
        let account = AccountId::new(parts[4]).map_err(|e| err(format!("account: {e}")))?;
        if parts[5] != "backup-vault" {
            return Err(err(format!(
                "resource type is {:?}, not \"backup-vault\"",
                parts[5]
            )));
        }
        let name = VaultName::new(parts[6]).map_err(|e| err(format!("vault name: {e}")))?;
        Ok(Self {
            partition,
            region,
            account,
            name,
        })
    }
}

impl fmt::Display for VaultArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:backup:{}:{}:backup-vault:{}",
            self.partition, self.region, self.account, self.name
        )
    }
}

impl std::str::FromStr for VaultArn {
    type Err = ArnError;
    fn from_str(s: &str) -> Result<Self, ArnError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for VaultArn {
    type Error = ArnError;
    fn try_from(s: String) -> Result<Self, ArnError> {
        Self::parse(&s)
    }
}

impl From<VaultArn> for String {
    fn from(v: VaultArn) -> String {
        v.to_string()
    }
}

/// The shape of a recovery point ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryPointKind {
    /// `arn:P:backup:R:A:recovery-point:ID` (fully managed types: EFS, DynamoDB advanced, S3, …).
    Backup,
    /// `arn:P:backup:R:A:recovery-point:continuous:…` (point-in-time recovery).
    Continuous,
    /// `arn:P:rds:R:A:snapshot:…` (RDS instance snapshot).
    RdsSnapshot,
    /// `arn:P:rds:R:A:cluster-snapshot:…` (Aurora, DocumentDB, Neptune).
    RdsClusterSnapshot,
    /// `arn:P:ec2:R::snapshot/snap-…` (EBS).
    Ec2Snapshot,
    /// `arn:P:ec2:R::image/ami-…` (EC2 instance).
    Ec2Image,
    /// Any other service's ARN (FSx, Redshift, …).
    Other,
}

/// A parsed recovery point ARN. [`RecoveryPointArn::arn`] keeps the original text, which is
/// what every AWS call takes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecoveryPointArn {
    /// The ARN exactly as received.
    pub arn: String,
    /// The partition.
    pub partition: Partition,
    /// The service (`backup`, `rds`, `ec2`, …).
    pub service: String,
    /// The region the point lives in.
    pub region: Region,
    /// The account the point lives in; `None` for EC2/EBS ARNs, which leave it empty.
    pub account: Option<AccountId>,
    /// The shape of the ARN.
    pub kind: RecoveryPointKind,
}

impl RecoveryPointArn {
    /// Parses any recovery point ARN; see the module docs for the shapes.
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        const EXPECTED: &str = "a recovery point ARN";
        let err = |problem: String| ArnError {
            expected: EXPECTED,
            value: s.to_owned(),
            problem,
        };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" {
            return Err(err("not of the form arn:P:SERVICE:R:A:RESOURCE".into()));
        }
        let partition = Partition::parse(parts[1])
            .ok_or_else(|| err(format!("unsupported partition {:?}", parts[1])))?;
        let service = parts[2];
        if service.is_empty() {
            return Err(err("empty service".into()));
        }
        let region = Region::new(parts[3]).map_err(|e| err(format!("region: {e}")))?;
        let account = if parts[4].is_empty() {
            None
        } else {
            Some(AccountId::new(parts[4]).map_err(|e| err(format!("account: {e}")))?)
        };
        let resource = parts[5];
        if resource.is_empty() {
            return Err(err("empty resource part".into()));
        }
        let kind = match service {
            "backup" => {
                if let Some(rest) = resource.strip_prefix("recovery-point:") {
                    if rest.starts_with("continuous:") {
                        RecoveryPointKind::Continuous
                    } else {
                        RecoveryPointKind::Backup
                    }
                } else {
                    return Err(err(format!(
                        "a backup ARN must name a recovery-point, not {resource:?}"
                    )));
                }
            }
            "rds" if resource.starts_with("snapshot:") => RecoveryPointKind::RdsSnapshot,
            "rds" if resource.starts_with("cluster-snapshot:") => {
                RecoveryPointKind::RdsClusterSnapshot
            }
            "ec2" if resource.starts_with("snapshot/") => RecoveryPointKind::Ec2Snapshot,
            "ec2" if resource.starts_with("image/") => RecoveryPointKind::Ec2Image,
            _ if resource.contains(":continuous:") || resource.starts_with("continuous:") => {
                RecoveryPointKind::Continuous
            }
            _ => RecoveryPointKind::Other,
        };
        if matches!(service, "backup" | "rds") && account.is_none() {
            return Err(err("missing account".into()));
        }
        Ok(Self {
            arn: s.to_owned(),
            partition,
            service: service.to_owned(),
            region,
            account,
            kind,
        })
    }

    /// True for continuous (point-in-time recovery) points, which `StartCopyJob` cannot copy.
    pub fn is_continuous(&self) -> bool {
        self.kind == RecoveryPointKind::Continuous
    }
}

impl fmt::Display for RecoveryPointArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// The region and account of any ARN (`arn:P:SERVICE:REGION:ACCOUNT:…`), used for resource
/// ARNs (`resourceArn`) whose service-specific shape crossvault does not care about.
/// `None` when the text is not an ARN or the region is empty or invalid.
pub fn region_and_account(arn: &str) -> Option<(Region, Option<AccountId>)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return None;
    }
    let region = Region::new(parts[3]).ok()?;
    let account = AccountId::new(parts[4]).ok();
    Some((region, account))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_arn_round_trips() {
        for s in [
            "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault",
            "arn:aws-cn:backup:cn-north-1:111111111111:backup-vault:v_1",
            "arn:aws-us-gov:backup:us-gov-west-1:111111111111:backup-vault:Default",
        ] {
            let v = VaultArn::parse(s).unwrap();
            assert_eq!(v.to_string(), s);
        }
    }

    #[test]
    fn vault_arn_rejects() {
        for s in [
            "",
            "crossvault",
            "arn:aws:backup:eu-west-1:111111111111:backup-plan:x",
            "arn:aws:s3:eu-west-1:111111111111:backup-vault:x",
            "arn:aws-iso:backup:eu-west-1:111111111111:backup-vault:xx",
            "arn:aws:backup:eu-west-1:1111:backup-vault:xx",
            "arn:aws:backup:eu-west-1:111111111111:backup-vault:x/y",
        ] {
            assert!(VaultArn::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn recovery_point_kinds() {
        let cases = [
            (
                "arn:aws:backup:eu-west-1:111111111111:recovery-point:1a2b",
                RecoveryPointKind::Backup,
                Some("111111111111"),
            ),
            (
                "arn:aws:backup:eu-west-1:111111111111:recovery-point:continuous:db-abc-1234",
                RecoveryPointKind::Continuous,
                Some("111111111111"),
            ),
            (
                "arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-4f1c",
                RecoveryPointKind::RdsSnapshot,
                Some("111111111111"),
            ),
            (
                "arn:aws:rds:eu-central-1:222222222222:snapshot:awsbackup:copyjob-8e2d",
                RecoveryPointKind::RdsSnapshot,
                Some("222222222222"),
            ),
            (
                "arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:awsbackup:job-1",
                RecoveryPointKind::RdsClusterSnapshot,
                Some("111111111111"),
            ),
            (
                "arn:aws:ec2:eu-west-1::snapshot/snap-0123",
                RecoveryPointKind::Ec2Snapshot,
                None,
            ),
            (
                "arn:aws:ec2:eu-west-1::image/ami-0123",
                RecoveryPointKind::Ec2Image,
                None,
            ),
            (
                "arn:aws:fsx:eu-west-1:111111111111:backup/backup-0123",
                RecoveryPointKind::Other,
                Some("111111111111"),
            ),
        ];
        for (s, kind, account) in cases {
            let rp = RecoveryPointArn::parse(s).unwrap();
            assert_eq!(rp.kind, kind, "{s}");
            assert_eq!(rp.account.as_ref().map(|a| a.as_str()), account, "{s}");
            assert_eq!(rp.is_continuous(), kind == RecoveryPointKind::Continuous);
            assert_eq!(rp.to_string(), s);
        }
    }

    #[test]
    fn recovery_point_rejects() {
        for s in [
            "",
            "not-an-arn",
            "arn:aws:backup:eu-west-1:111111111111:backup-vault:crossvault",
            "arn:aws:rds:eu-west-1::snapshot:x",
            "arn:aws:rds:nowhere:111111111111:snapshot:x",
        ] {
            assert!(RecoveryPointArn::parse(s).is_err(), "{s}");
        }
    }
}
