//! The effects of the re-encryption route (RDS and Aurora points under an AWS managed key,
//! `crossvault_core::managed_key`): describing a point's key, finding a re-encrypted copy's
//! original, the copy jobs a verification needs, and deleting the re-encrypted copy. Every
//! "whether" is the core's.

use std::sync::Arc;

use aws_sdk_kms::types::KeyManagerType;
use crossvault_core::managed_key::{self, IntermediateRef, PointKey};
use crossvault_core::{Facts, ListedCopyJob, RequiredCopy, VaultArn, VaultName, verify};

use crate::aws_error::{self, ErrorClass};
use crate::batch::EventError;
use crate::effects::{ActionOutcome, Effects, event_error, list_copy_jobs_of};
use crate::sdk_values::listed_copy_job;

impl Effects<'_> {
    /// `kms:DescribeKey` of a recovery point's key: is it AWS managed? Read once per
    /// invocation per key (the points of a batch or a reconcile run share a few keys).
    pub async fn describe_key(&self, key_arn: &str) -> Result<PointKey, EventError> {
        let cell = self
            .session
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key_arn.to_owned())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let out = self
                .clients
                .kms
                .describe_key()
                .key_id(key_arn)
                .send()
                .await
                .map_err(|e| event_error("kms:DescribeKey", e))?;
            let manager = out.key_metadata.and_then(|m| m.key_manager);
            Ok(PointKey::Described {
                key_arn: key_arn.to_owned(),
                aws_managed: manager == Some(KeyManagerType::Aws),
            })
        })
        .await
        .cloned()
    }

    /// The re-encryption vault's copy jobs of the copy's resource, every page: the one that
    /// made the copy names its original.
    pub async fn origin_jobs(&self, r: &IntermediateRef) -> Result<Vec<ListedCopyJob>, EventError> {
        let mut jobs = Vec::new();
        let mut pages = self
            .clients
            .backup
            .list_copy_jobs()
            .by_destination_vault_arn(r.vault_arn.to_string())
            .set_by_resource_arn(r.resource_arn.clone())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| event_error("backup:ListCopyJobs", e))?;
            jobs.extend(
                page.copy_jobs
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(listed_copy_job),
            );
        }
        Ok(jobs)
    }

    /// The copy jobs a verification of `original` needs: its own (unless `facts` hold them or,
    /// for an event of its re-encrypted copy, that copy's re-encryption job) and, when its
    /// copies are made via the re-encryption vault, the re-encrypted copy's.
    pub async fn verification_jobs(
        &self,
        original: &str,
        via: Option<&VaultArn>,
        facts: &Facts,
    ) -> Result<Vec<ListedCopyJob>, EventError> {
        let mut jobs = facts.all_copy_jobs();
        if facts.copy_jobs.is_none() && facts.origin_jobs.is_none() {
            jobs.extend(self.copy_jobs_of(original).await?);
        }
        if let Some(via) = via
            && facts.intermediate_copy_jobs.is_none()
            && let Some(copy) = verify::copy_in(&jobs, original, via)
        {
            let more = list_copy_jobs_of(&self.clients.backup, &copy)
                .await
                .map_err(|e| event_error("backup:ListCopyJobs", e))?;
            jobs.extend(more);
        }
        let mut seen = std::collections::BTreeSet::new();
        jobs.retain(|j| seen.insert(j.copy_job_id.clone()));
        Ok(jobs)
    }

    /// [`crossvault_core::Action::DeleteIntermediate`]: checks the listings
    /// ([`managed_key::may_delete`]) and deletes the re-encrypted copy. A copy already gone is
    /// done; a deletion a retry cannot fix is notified (on the event path; the reconciler
    /// reports it) and the copy kept, to its lifecycle's end.
    pub(crate) async fn delete_intermediate(
        &self,
        copy: &str,
        vault_name: &VaultName,
        original: &str,
        requires: &[RequiredCopy],
        settles: &[RequiredCopy],
        facts: &Facts,
    ) -> Result<ActionOutcome, EventError> {
        let region = self
            .config
            .region
            .clone()
            .or_else(|| self.clients.region().and_then(|r| r.parse().ok()))
            .ok_or_else(|| EventError::Permanent("the stack's region is not known".into()))?;
        let partition = crate::reconcile::partition_of(region.as_str());
        let vault = managed_key::reencrypt_vault(self.config, partition, &region)
            .filter(|v| v.name == *vault_name)
            .ok_or_else(|| {
                EventError::Permanent(format!(
                    "{vault_name} is not this stack's re-encryption vault; nothing is deleted from it"
                ))
            })?;
        let jobs = self
            .verification_jobs(original, Some(&vault), facts)
            .await?;
        if let Err(reason) = managed_key::may_delete(
            self.config,
            copy,
            &vault,
            original,
            requires,
            settles,
            &jobs,
        ) {
            tracing::info!(recovery_point_arn = copy, %reason, "re-encrypted copy kept");
            return Ok(ActionOutcome::IntermediateKept {
                recovery_point_arn: copy.to_owned(),
                reason,
            });
        }
        let deleted = self
            .clients
            .backup
            .delete_recovery_point()
            .backup_vault_name(vault_name.as_str())
            .recovery_point_arn(copy)
            .send()
            .await;
        match deleted {
            Ok(_) => {
                tracing::info!(recovery_point_arn = copy, original, vault = %vault_name, "re-encrypted copy deleted");
                Ok(ActionOutcome::IntermediateDeleted {
                    recovery_point_arn: copy.to_owned(),
                    original_recovery_point_arn: original.to_owned(),
                })
            }
            Err(err) => match aws_error::classify(&err) {
                ErrorClass::NotFound => Ok(ActionOutcome::IntermediateDeleted {
                    recovery_point_arn: copy.to_owned(),
                    original_recovery_point_arn: original.to_owned(),
                }),
                ErrorClass::Retryable => Err(event_error("backup:DeleteRecoveryPoint", err)),
                ErrorClass::Permanent => {
                    let error = aws_error::describe(&err);
                    tracing::error!(recovery_point_arn = copy, original, %error, "re-encrypted copy not deleted");
                    if self.reconciling {
                        return Err(event_error("backup:DeleteRecoveryPoint", err));
                    }
                    let notice = managed_key::deletion_failed(
                        copy,
                        vault_name,
                        original,
                        &error,
                        self.config,
                    );
                    let crossvault_core::Action::Notify { subject, message } = &notice else {
                        unreachable!("deletion_failed is a notice")
                    };
                    self.notify(subject, message).await?;
                    Ok(ActionOutcome::IntermediateKept {
                        recovery_point_arn: copy.to_owned(),
                        reason: format!("backup:DeleteRecoveryPoint failed: {error} (notified)"),
                    })
                }
            },
        }
    }
}

impl Effects<'_> {
    /// The re-encryption vault's recovery points created since `since` (the reconciler deletes
    /// only copies that are still there); none without a re-encryption vault.
    pub async fn reencrypted_copies(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<crossvault_core::RecoveryPointFacts>, EventError> {
        let Some(vault) = &self.config.reencrypt_vault_name else {
            return Ok(Vec::new());
        };
        let mut points = Vec::new();
        let mut pages = self
            .clients
            .backup
            .list_recovery_points_by_backup_vault()
            .backup_vault_name(vault.as_str())
            .by_created_after(crate::sdk_values::smithy(since))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| event_error("backup:ListRecoveryPointsByBackupVault", e))?;
            for rp in page.recovery_points.unwrap_or_default() {
                let Some(arn) = rp.recovery_point_arn else {
                    continue;
                };
                points.push(crossvault_core::RecoveryPointFacts {
                    backup_vault_arn: rp.backup_vault_arn,
                    source_backup_vault_arn: rp.source_backup_vault_arn,
                    resource_arn: rp.resource_arn,
                    resource_type: rp.resource_type,
                    creation_date: rp.creation_date.as_ref().and_then(crate::sdk_values::utc),
                    encryption_key_arn: rp.encryption_key_arn,
                    ..crossvault_core::RecoveryPointFacts::new(arn)
                });
            }
        }
        Ok(points)
    }
}

/// What an invocation caches for the route.
pub type KeyCache =
    std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::OnceCell<PointKey>>>>;
