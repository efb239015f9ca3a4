//! The pre-prod refresh's AWS edge: the facts `crossvault_core::restore` asks for (restore
//! metadata, restore jobs, restored resources, the masking hook's execution, the arriving
//! point's tags) and its steps ([`steps`]). The pre-prod reconciler is [`reconcile`].

pub mod describe;
pub mod reconcile;
pub mod steps;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crossvault_core::event::Status;
use crossvault_core::restore::{ListedRestoreJob, RestoreFacts, RestoreRequest};
use crossvault_core::{RecoveryPointArn, RecoveryPointKind};

use crate::batch::EventError;
use crate::effects::{Effects, event_error};
use crate::sdk_values::{smithy, utc};

/// A `ListRestoreJobs` entry (`None` without an id, a point or a status).
pub fn listed_restore_job(
    job: aws_sdk_backup::types::RestoreJobsListMember,
) -> Option<ListedRestoreJob> {
    Some(ListedRestoreJob {
        status: Status::parse(job.status.as_ref()?.as_str()),
        creation_date: job.creation_date.as_ref().and_then(utc),
        completion_date: job.completion_date.as_ref().and_then(utc),
        restore_job_id: job.restore_job_id?,
        recovery_point_arn: job.recovery_point_arn?,
        iam_role_arn: job.iam_role_arn,
        created_resource_arn: job.created_resource_arn,
        status_message: job.status_message,
        resource_type: job.resource_type,
        source_resource_arn: job.source_resource_arn,
    })
}

impl Effects<'_> {
    /// What a refresh decision asked for, looked up side by side.
    pub async fn gather_restore(
        &self,
        request: &RestoreRequest,
    ) -> Result<RestoreFacts, EventError> {
        let metadata = async {
            match &request.metadata_of {
                Some(rp) => self
                    .restore_metadata(&rp.recovery_point_arn, rp.vault_name.as_str())
                    .await
                    .map(Some),
                None => Ok(None),
            }
        };
        let jobs = async {
            match request.restore_jobs_since {
                Some(since) => self.restore_jobs_since(since).await.map(Some),
                None => Ok(None),
            }
        };
        let restores = async {
            match &request.restores_of {
                Some(source) => self.restores_of(source).await.map(Some),
                None => Ok(None),
            }
        };
        let resource = async {
            match &request.resource {
                Some(arn) => Ok(Some((arn.clone(), self.describe_restored(arn).await?))),
                None => Ok(None),
            }
        };
        let hook = async {
            match &request.hook_execution {
                Some(id) => self.hook_execution(id).await.map(Some),
                None => Ok(None),
            }
        };
        let (metadata, restore_jobs, restores, resource, hook) =
            futures::try_join!(metadata, jobs, restores, resource, hook)?;
        Ok(RestoreFacts {
            metadata,
            restore_jobs,
            restores,
            resource,
            hook,
        })
    }

    /// `GetRecoveryPointRestoreMetadata`: the production resource's configuration.
    pub async fn restore_metadata(
        &self,
        rp: &str,
        vault_name: &str,
    ) -> Result<BTreeMap<String, String>, EventError> {
        let out = self
            .clients
            .backup
            .get_recovery_point_restore_metadata()
            .backup_vault_name(vault_name)
            .recovery_point_arn(rp)
            .send()
            .await
            .map_err(|e| event_error("backup:GetRecoveryPointRestoreMetadata", e))?;
        Ok(out
            .restore_metadata
            .unwrap_or_default()
            .into_iter()
            .collect())
    }

    /// This account and region's restore jobs created after `since`, every page.
    pub async fn restore_jobs_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<ListedRestoreJob>, EventError> {
        let mut jobs = Vec::new();
        let mut pages = self
            .clients
            .backup
            .list_restore_jobs()
            .by_account_id(self.config.account_id.as_str())
            .by_created_after(smithy(since - chrono::Duration::minutes(5)))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| event_error("backup:ListRestoreJobs", e))?;
            jobs.extend(
                page.restore_jobs
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(listed_restore_job),
            );
        }
        Ok(jobs)
    }

    /// A pre-prod recovery point's own tags: pre-prod cannot read the production resource's,
    /// but AWS Backup gives a recovery point its resource's tags and a copy its source's.
    /// Snapshot-backed points (RDS, Aurora, EBS, EC2) are tagged in their own service (read
    /// with the tagging API); `backup:ListTags` serves only types AWS Backup fully manages.
    /// Tags that cannot be read count as none (the point is then restored only if its source
    /// is on the allow-list), with the reason in the log.
    pub async fn recovery_point_tags(
        &self,
        rp: &str,
    ) -> Result<BTreeMap<String, String>, EventError> {
        let kind = RecoveryPointArn::parse(rp).map(|p| p.kind);
        let read = if matches!(kind, Ok(RecoveryPointKind::Backup)) {
            self.backup_list_tags(rp).await
        } else {
            self.resource_tags(rp).await
        };
        match read {
            Err(EventError::Permanent(reason)) => {
                tracing::warn!(recovery_point_arn = rp, %reason, "recovery point tags unreadable: taken as none");
                Ok(BTreeMap::new())
            }
            other => other,
        }
    }

    async fn backup_list_tags(&self, rp: &str) -> Result<BTreeMap<String, String>, EventError> {
        let mut tags = BTreeMap::new();
        let mut pages = self
            .clients
            .backup
            .list_tags()
            .resource_arn(rp)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| event_error("backup:ListTags", e))?;
            tags.extend(page.tags.unwrap_or_default());
        }
        Ok(tags)
    }
}
