//! A restored resource and its provenance tags: the only state a refresh has.
//!
//! Every resource crossvault restores carries [`MARKER`] and the provenance tags
//! ([`Provenance`]); its [`Stage`] tag says how far its refresh has come. Cleanup deletes only
//! resources carrying the marker and the provenance of the same source resource; removing the
//! marker from a restore takes it out of crossvault's hands for good.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The marker tag: crossvault made this resource (value [`MARKER_VALUE`]).
pub const MARKER: &str = "crossvault:restore";
/// The marker's value (the tag format's version).
pub const MARKER_VALUE: &str = "v1";
/// The production account the data comes from.
pub const SOURCE_ACCOUNT: &str = "crossvault:source-account";
/// The production resource the data comes from (its ARN).
pub const SOURCE_RESOURCE: &str = "crossvault:source-resource";
/// The pre-prod recovery point it was restored from.
pub const RECOVERY_POINT: &str = "crossvault:recovery-point";
/// When the backup was taken (the recovery point's creation date): orders restores.
pub const BACKUP_TIME: &str = "crossvault:backup-time";
/// The restore job that made it.
pub const RESTORE_JOB: &str = "crossvault:restore-job";
/// When the restore job finished.
pub const RESTORED_AT: &str = "crossvault:restored-at";
/// How far the refresh has come ([`Stage`]).
pub const STAGE: &str = "crossvault:stage";
/// The masking hook's execution (SSM Automation execution id).
pub const HOOK_EXECUTION: &str = "crossvault:hook-execution";
/// On an Aurora writer instance: the cluster it was created for.
pub const WRITER_OF: &str = "crossvault:writer-of";

/// The AWS Backup resource types crossvault restores.
pub const RESTORABLE_TYPES: &[&str] = &["RDS", "Aurora", "DynamoDB", "EFS"];

/// What kind of resource a restore makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestoredKind {
    /// An RDS DB instance (`RDS`).
    RdsInstance,
    /// An Aurora DB cluster (`Aurora`); crossvault adds its writer instance.
    AuroraCluster,
    /// A DynamoDB table.
    DynamoDbTable,
    /// An EFS file system.
    EfsFileSystem,
}

impl RestoredKind {
    /// The kind an AWS Backup resource type restores into.
    pub fn of_resource_type(resource_type: &str) -> Option<Self> {
        match resource_type {
            t if t.eq_ignore_ascii_case("RDS") => Some(Self::RdsInstance),
            t if t.eq_ignore_ascii_case("Aurora") => Some(Self::AuroraCluster),
            t if t.eq_ignore_ascii_case("DynamoDB") => Some(Self::DynamoDbTable),
            t if t.eq_ignore_ascii_case("EFS") => Some(Self::EfsFileSystem),
            _ => None,
        }
    }

    /// The kind of a resource ARN, and its identifier (DB instance or cluster identifier,
    /// table name, file system id).
    pub fn of_arn(arn: &str) -> Option<(Self, String)> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" {
            return None;
        }
        let (kind, id) = match parts[2] {
            "rds" => {
                let (ty, id) = parts[5].split_once(':')?;
                match ty {
                    "db" => (Self::RdsInstance, id),
                    "cluster" => (Self::AuroraCluster, id),
                    _ => return None,
                }
            }
            "dynamodb" => (Self::DynamoDbTable, parts[5].strip_prefix("table/")?),
            "elasticfilesystem" => (Self::EfsFileSystem, parts[5].strip_prefix("file-system/")?),
            _ => return None,
        };
        (!id.is_empty() && !id.contains('/')).then(|| (kind, id.to_owned()))
    }

    /// The AWS Backup resource type.
    pub fn resource_type(self) -> &'static str {
        match self {
            Self::RdsInstance => "RDS",
            Self::AuroraCluster => "Aurora",
            Self::DynamoDbTable => "DynamoDB",
            Self::EfsFileSystem => "EFS",
        }
    }
}

impl fmt::Display for RestoredKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RdsInstance => "RDS DB instance",
            Self::AuroraCluster => "Aurora DB cluster",
            Self::DynamoDbTable => "DynamoDB table",
            Self::EfsFileSystem => "EFS file system",
        })
    }
}

/// How far a restore's refresh has come (the [`STAGE`] tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Restored and tagged; not yet masked.
    Restored,
    /// The masking hook runs.
    Masking,
    /// At the stable address.
    Promoted,
    /// The masking hook failed: never promoted (kept for inspection until the next
    /// promotion's cleanup).
    HookFailed,
    /// Superseded: being deleted.
    Retired,
}

impl Stage {
    /// The tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restored => "restored",
            Self::Masking => "masking",
            Self::Promoted => "promoted",
            Self::HookFailed => "hook-failed",
            Self::Retired => "retired",
        }
    }

    /// Parses a tag value.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Restored,
            Self::Masking,
            Self::Promoted,
            Self::HookFailed,
            Self::Retired,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a restore's data comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The production account.
    pub source_account: String,
    /// The production resource's ARN.
    pub source_resource: String,
    /// The pre-prod recovery point.
    pub recovery_point: String,
    /// When the backup was taken.
    pub backup_time: DateTime<Utc>,
}

/// ISO-8601, seconds, `Z`: how times are written into tags.
pub fn tag_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Provenance {
    /// The provenance tags (with the marker).
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MARKER.to_owned(), MARKER_VALUE.to_owned()),
            (SOURCE_ACCOUNT.to_owned(), self.source_account.clone()),
            (SOURCE_RESOURCE.to_owned(), self.source_resource.clone()),
            (RECOVERY_POINT.to_owned(), self.recovery_point.clone()),
            (BACKUP_TIME.to_owned(), tag_time(self.backup_time)),
        ])
    }

    /// Reads the provenance of a resource's tags: `None` unless every provenance tag is there
    /// with crossvault's marker (such a resource is not crossvault's to touch).
    pub fn from_tags(tags: &BTreeMap<String, String>) -> Option<Self> {
        if tags.get(MARKER).map(String::as_str) != Some(MARKER_VALUE) {
            return None;
        }
        let get = |k: &str| tags.get(k).filter(|v| !v.is_empty()).cloned();
        Some(Self {
            source_account: get(SOURCE_ACCOUNT)?,
            source_resource: get(SOURCE_RESOURCE)?,
            recovery_point: get(RECOVERY_POINT)?,
            backup_time: DateTime::parse_from_rfc3339(&get(BACKUP_TIME)?)
                .ok()?
                .with_timezone(&Utc),
        })
    }
}

/// An Aurora cluster's writer instance, as described.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writer {
    /// `DBInstanceIdentifier`
    pub identifier: String,
    /// `DBInstanceStatus` is `available`.
    pub available: bool,
}

/// A restored resource as its service describes it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredResource {
    /// Its ARN.
    pub arn: String,
    /// What it is.
    pub kind: RestoredKind,
    /// DB instance/cluster identifier, table name or file system id.
    pub identifier: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// The service's status (`available`, `creating`, `ACTIVE`, …).
    pub status: String,
    /// Usable: `available` (RDS, Aurora, EFS) or `ACTIVE` (DynamoDB).
    pub available: bool,
    /// What clients connect to: `host:port` (RDS; Aurora's writer endpoint), the table name,
    /// the file system's DNS name. `None` while the service does not report one yet.
    pub endpoint: Option<String>,
    /// Aurora: the cluster's writer instance (`None` = it has none yet).
    pub writer: Option<Writer>,
    /// Whether deletion protection is on (RDS, Aurora, DynamoDB).
    pub deletion_protection: bool,
    /// RDS and Aurora: the engine (an Aurora writer is created with the cluster's).
    pub engine: Option<String>,
}

impl RestoredResource {
    /// The provenance tags, when the resource is crossvault's.
    pub fn provenance(&self) -> Option<Provenance> {
        Provenance::from_tags(&self.tags)
    }

    /// The stage tag (`None` when absent or unknown).
    pub fn stage(&self) -> Option<Stage> {
        self.tags.get(STAGE).and_then(|s| Stage::parse(s))
    }

    /// An Aurora restore's writer instance (it goes with its cluster, never on its own).
    pub fn is_writer(&self) -> bool {
        self.tags.contains_key(WRITER_OF)
    }

    /// A tag's value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    /// The endpoint's host (without the port), for a CNAME.
    pub fn host(&self) -> Option<&str> {
        let endpoint = self.endpoint.as_deref()?;
        match self.kind {
            RestoredKind::DynamoDbTable => None,
            RestoredKind::EfsFileSystem => Some(endpoint),
            RestoredKind::RdsInstance | RestoredKind::AuroraCluster => {
                Some(endpoint.rsplit_once(':').map_or(endpoint, |(h, _)| h))
            }
        }
    }
}

/// A restored resource by ARN (what an action acts on).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RestoredRef {
    /// Its ARN.
    pub arn: String,
    /// What it is.
    pub kind: RestoredKind,
    /// Its identifier.
    pub identifier: String,
}

impl RestoredRef {
    /// From an ARN crossvault can restore into.
    pub fn from_arn(arn: &str) -> Option<Self> {
        RestoredKind::of_arn(arn).map(|(kind, identifier)| Self {
            arn: arn.to_owned(),
            kind,
            identifier,
        })
    }
}

impl From<&RestoredResource> for RestoredRef {
    fn from(r: &RestoredResource) -> Self {
        Self {
            arn: r.arn.clone(),
            kind: r.kind,
            identifier: r.identifier.clone(),
        }
    }
}

impl fmt::Display for RestoredRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.kind, self.identifier, self.arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_arns() {
        for (arn, kind, id) in [
            (
                "arn:aws:rds:eu-west-1:333333333333:db:orders-20260302-1a2b3c",
                RestoredKind::RdsInstance,
                "orders-20260302-1a2b3c",
            ),
            (
                "arn:aws:rds:eu-west-1:333333333333:cluster:ledger-x",
                RestoredKind::AuroraCluster,
                "ledger-x",
            ),
            (
                "arn:aws:dynamodb:eu-west-1:333333333333:table/carts-x",
                RestoredKind::DynamoDbTable,
                "carts-x",
            ),
            (
                "arn:aws:elasticfilesystem:eu-west-1:333333333333:file-system/fs-0123",
                RestoredKind::EfsFileSystem,
                "fs-0123",
            ),
        ] {
            assert_eq!(
                RestoredKind::of_arn(arn),
                Some((kind, id.to_owned())),
                "{arn}"
            );
        }
        for arn in [
            "arn:aws:rds:eu-west-1:333333333333:snapshot:x",
            "arn:aws:ec2:eu-west-1:333333333333:volume/vol-1",
            "arn:aws:dynamodb:eu-west-1:333333333333:table/t/stream/x",
            "orders",
        ] {
            assert_eq!(RestoredKind::of_arn(arn), None, "{arn}");
        }
    }

    #[test]
    fn provenance_needs_every_tag_and_the_marker() {
        let p = Provenance {
            source_account: "111111111111".into(),
            source_resource: "arn:aws:rds:eu-west-1:111111111111:db:orders".into(),
            recovery_point: "arn:aws:rds:eu-west-1:333333333333:snapshot:awsbackup:copyjob-1"
                .into(),
            backup_time: "2026-03-02T03:00:05Z".parse().unwrap(),
        };
        let tags = p.tags();
        assert_eq!(Provenance::from_tags(&tags), Some(p.clone()));
        assert_eq!(tags[BACKUP_TIME], "2026-03-02T03:00:05Z");
        for key in [
            MARKER,
            SOURCE_ACCOUNT,
            SOURCE_RESOURCE,
            RECOVERY_POINT,
            BACKUP_TIME,
        ] {
            let mut partial = tags.clone();
            partial.remove(key);
            assert_eq!(Provenance::from_tags(&partial), None, "without {key}");
        }
        let mut other_marker = tags.clone();
        other_marker.insert(MARKER.into(), "v0".into());
        assert_eq!(Provenance::from_tags(&other_marker), None);
    }
}
