//! Facts: what the decision core cannot see in an event and the effect layer must look up.
//!
//! Deciding is staged:
//! 1. [`crate::decide()`] called without a fact it needs fails with
//!    [`crate::DecideError::NeedsFacts`], naming every fact it knows it needs at that point
//!    ([`FactRequest`]), rather than guess;
//! 2. the effect layer gathers exactly those (`ListCopyJobs`, `DescribeRecoveryPoint`,
//!    `ListTags`…) and adds them to [`Facts`];
//! 3. `decide` runs again; a later stage may ask for more (the resource's tags are needed only
//!    once every offsite copy is done).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::StackConfig;
use crate::copy_jobs::ListedCopyJob;
use crate::event::{BackupEvent, Status, StorageClass};
use crate::ids::VaultName;
use crate::managed_key::{IntermediateRef, PointKey};
use crate::restore::{RestoreFacts, RestoreRequest};
use crate::retention::CurrentLifecycle;

/// A recovery point as `DescribeRecoveryPoint` or `ListRecoveryPointsByBackupVault` reports
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryPointFacts {
    /// `RecoveryPointArn`
    pub recovery_point_arn: String,
    /// `BackupVaultArn`
    pub backup_vault_arn: Option<String>,
    /// `SourceBackupVaultArn`: where the point was copied from, for a copy (AWS documents it
    /// null otherwise).
    pub source_backup_vault_arn: Option<String>,
    /// `ResourceArn`
    pub resource_arn: Option<String>,
    /// `ResourceType`
    pub resource_type: Option<String>,
    /// `CreationDate`
    pub creation_date: Option<DateTime<Utc>>,
    /// `Status`
    pub status: Option<Status>,
    /// `StorageClass`
    pub storage_class: Option<StorageClass>,
    /// `Lifecycle`
    pub lifecycle: CurrentLifecycle,
    /// `EncryptionKeyArn`
    pub encryption_key_arn: Option<String>,
    /// `BackupSizeInBytes` (a pre-prod restore refuses points over `RestoreMaxSizeGiB`)
    #[serde(default)]
    pub backup_size_in_bytes: Option<u64>,
}

impl RecoveryPointFacts {
    /// A point known only by its ARN.
    pub fn new(recovery_point_arn: impl Into<String>) -> Self {
        Self {
            recovery_point_arn: recovery_point_arn.into(),
            backup_vault_arn: None,
            source_backup_vault_arn: None,
            resource_arn: None,
            resource_type: None,
            creation_date: None,
            status: None,
            storage_class: None,
            lifecycle: CurrentLifecycle::default(),
            encryption_key_arn: None,
            backup_size_in_bytes: None,
        }
    }

    /// The vault this point was copied from, when it is a copy (not an original). A source
    /// vault equal to the point's own vault is read as an original.
    pub fn copied_from(&self) -> Option<&str> {
        self.source_backup_vault_arn
            .as_deref()
            .filter(|source| self.backup_vault_arn.as_deref() != Some(*source))
    }
}

/// Which recovery point to describe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryPointRef {
    /// The point.
    pub recovery_point_arn: String,
    /// The vault it is in (this account's).
    pub vault_name: VaultName,
}

/// The facts the effect layer gathered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Facts {
    /// The tags of [`FactRequest::resource_tags_of`] (`None` = not looked up; an empty map =
    /// the resource has no tags).
    pub resource_tags: Option<BTreeMap<String, String>>,
    /// The copy jobs of [`FactRequest::copy_jobs_of`] in this account and region (`None` = not
    /// listed).
    #[serde(default)]
    pub copy_jobs: Option<Vec<ListedCopyJob>>,
    /// The point of [`FactRequest::recovery_point`] (`None` = not described).
    #[serde(default)]
    pub recovery_point: Option<RecoveryPointFacts>,
    /// What a pre-prod refresh asked for ([`FactRequest::restore`]).
    #[serde(default)]
    pub restore: RestoreFacts,
    /// The key of [`FactRequest::key_of`] (`None` = not looked up).
    #[serde(default)]
    pub key: Option<PointKey>,
    /// The copy jobs of [`FactRequest::intermediate_copy_jobs_of`] (`None` = not listed).
    #[serde(default)]
    pub intermediate_copy_jobs: Option<Vec<ListedCopyJob>>,
    /// The re-encryption vault's copy jobs of [`FactRequest::origin_of`]'s resource (`None` =
    /// not listed).
    #[serde(default)]
    pub origin_jobs: Option<Vec<ListedCopyJob>>,
}

impl Facts {
    /// No facts at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Facts with the resource's tags.
    pub fn with_tags<I, K, V>(tags: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            resource_tags: Some(
                tags.into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
            ..Self::default()
        }
    }

    /// The same facts with this listing of copy jobs.
    pub fn and_copy_jobs(mut self, jobs: Vec<ListedCopyJob>) -> Self {
        self.copy_jobs = Some(jobs);
        self
    }

    /// The same facts with this recovery point.
    pub fn and_recovery_point(mut self, point: RecoveryPointFacts) -> Self {
        self.recovery_point = Some(point);
        self
    }

    /// What can be assumed about `event` without calling AWS (`crossvault explain`): the
    /// recovery point is an original in the vault the event names, and its copy jobs are the
    /// event's own plus, for a copy that completed, COMPLETED jobs for the hops before it.
    /// For a pre-prod refresh ([`crate::restore::assumed_without_aws`]): no restore jobs or
    /// restores yet, the restored resource usable, and a restore job's point backed up when
    /// the job was created (the event does not say when). Tags are left to the caller.
    pub fn without_aws(event: &BackupEvent, config: &StackConfig) -> Self {
        crate::copy_chain::assumed_without_aws(event, config)
    }

    /// Adds the facts `other` has and `self` lacks.
    pub fn merge(&mut self, other: Facts) {
        if other.resource_tags.is_some() {
            self.resource_tags = other.resource_tags;
        }
        if other.copy_jobs.is_some() {
            self.copy_jobs = other.copy_jobs;
        }
        if other.recovery_point.is_some() {
            self.recovery_point = other.recovery_point;
        }
        self.restore.merge(other.restore);
        if other.key.is_some() {
            self.key = other.key;
        }
        if other.intermediate_copy_jobs.is_some() {
            self.intermediate_copy_jobs = other.intermediate_copy_jobs;
        }
        if other.origin_jobs.is_some() {
            self.origin_jobs = other.origin_jobs;
        }
    }

    /// Every copy job these facts hold (the point's, its re-encrypted copy's, the
    /// re-encryption vault's), each once.
    pub fn all_copy_jobs(&self) -> Vec<ListedCopyJob> {
        let mut out: Vec<ListedCopyJob> = Vec::new();
        for list in [
            &self.copy_jobs,
            &self.intermediate_copy_jobs,
            &self.origin_jobs,
        ]
        .into_iter()
        .flatten()
        {
            for job in list {
                if !out.iter().any(|j| j.copy_job_id == job.copy_job_id) {
                    out.push(job.clone());
                }
            }
        }
        out
    }
}

/// The facts a decision needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FactRequest {
    /// Look up the tags of this ARN (the protected resource; the source recovery point when
    /// the event names no resource). Needed only to decide the pre-prod hop.
    pub resource_tags_of: Option<String>,
    /// List the copy jobs whose source is this recovery point (`ListCopyJobs`
    /// `BySourceRecoveryPointArn`): which hops are done, under way or failed, and the attempt
    /// of the next job.
    #[serde(default)]
    pub copy_jobs_of: Option<String>,
    /// Describe this recovery point (is it an original; its key).
    #[serde(default)]
    pub recovery_point: Option<RecoveryPointRef>,
    /// What a pre-prod refresh needs (restore metadata, restore jobs, restored resources, the
    /// masking hook's execution).
    #[serde(default)]
    pub restore: Box<RestoreRequest>,
    /// What the route of points under an AWS managed key asks for (boxed: most decisions
    /// never need it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Box<RouteRequest>>,
}

/// The facts [`crate::managed_key`] asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RouteRequest {
    /// Describe this KMS key (`kms:DescribeKey`): is it AWS managed?
    #[serde(default)]
    pub key_of: Option<String>,
    /// List the copy jobs whose source is this re-encrypted copy.
    #[serde(default)]
    pub intermediate_copy_jobs_of: Option<String>,
    /// Find the original of this re-encrypted copy (`ListCopyJobs` into the re-encryption
    /// vault).
    #[serde(default)]
    pub origin_of: Option<IntermediateRef>,
}

impl RouteRequest {
    /// This request as a [`FactRequest`].
    pub fn into_request(self) -> FactRequest {
        FactRequest {
            route: Some(Box::new(self)),
            ..FactRequest::default()
        }
    }

    /// True when nothing is asked for.
    pub fn is_empty(&self) -> bool {
        self.key_of.is_none()
            && self.intermediate_copy_jobs_of.is_none()
            && self.origin_of.is_none()
    }
}

impl FactRequest {
    /// The KMS key to describe, if any.
    pub fn key_of(&self) -> Option<&str> {
        self.route.as_ref().and_then(|r| r.key_of.as_deref())
    }

    /// The re-encrypted copy whose copy jobs to list, if any.
    pub fn intermediate_copy_jobs_of(&self) -> Option<&str> {
        self.route
            .as_ref()
            .and_then(|r| r.intermediate_copy_jobs_of.as_deref())
    }

    /// The re-encrypted copy whose original to find, if any.
    pub fn origin_of(&self) -> Option<&IntermediateRef> {
        self.route.as_ref().and_then(|r| r.origin_of.as_ref())
    }
}

impl FactRequest {
    /// True when the decision needs no facts.
    pub fn is_empty(&self) -> bool {
        self.resource_tags_of.is_none()
            && self.copy_jobs_of.is_none()
            && self.recovery_point.is_none()
            && self.restore.is_empty()
            && self.route.as_ref().is_none_or(|r| r.is_empty())
    }
}

impl fmt::Display for FactRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(arn) = &self.copy_jobs_of {
            parts.push(format!("the copy jobs of {arn}"));
        }
        if let Some(rp) = &self.recovery_point {
            parts.push(format!(
                "the recovery point {} in vault {}",
                rp.recovery_point_arn, rp.vault_name
            ));
        }
        if let Some(arn) = self.key_of() {
            parts.push(format!("the KMS key {arn}"));
        }
        if let Some(arn) = self.intermediate_copy_jobs_of() {
            parts.push(format!("the copy jobs of the re-encrypted copy {arn}"));
        }
        if let Some(r) = self.origin_of() {
            parts.push(format!(
                "the original of {} (copy jobs into {})",
                r.recovery_point_arn, r.vault_arn
            ));
        }
        if let Some(arn) = &self.resource_tags_of {
            parts.push(format!("the tags of {arn}"));
        }
        if !self.restore.is_empty() {
            parts.push(self.restore.to_string());
        }
        if parts.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}
