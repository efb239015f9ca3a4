//! The effect layer: gathers the facts the decision core asks for and carries out its plans
//! with the AWS SDK. No decisions are made here; every "whether" lives in `crossvault-core`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_backup::types::Lifecycle as SdkLifecycle;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ProvideErrorKind;
use crossvault_core::config::Role;
use crossvault_core::event::Status;
use crossvault_core::{
    Action, FactRequest, Facts, ForwardListing, ListedCopyJob, Plan, RecoveryPointArn,
    RecoveryPointFacts, RequiredCopy, RetentionDecision, RetentionInput, StackConfig, StorageClass,
    retention, verify,
};

use crate::aws_error::{self, ErrorClass};
use crate::batch::EventError;
use crate::clients::AwsClients;
use crate::clock::Clock;
use crate::sdk_values::{lifecycle, listed_copy_job, utc};
use crate::slack::{Slack, SlackDelivery};

/// An AWS failure as an event outcome: throttling and service trouble are retried (SQS
/// redelivery), everything else (access denied, a missing vault or key, bad input) is
/// dead-lettered with the AWS error as the reason.
pub fn event_error<E>(action: &str, err: SdkError<E, HttpResponse>) -> EventError
where
    E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
{
    let class = aws_error::classify(&err);
    let message = format!("{action} failed: {}", aws_error::describe(&err));
    match class {
        ErrorClass::Retryable => EventError::Retryable(message),
        ErrorClass::NotFound | ErrorClass::Permanent => EventError::Permanent(message),
    }
}

/// What one executed action did, for the log and `crossvault invoke`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ActionOutcome {
    CopyStarted {
        copy_job_id: String,
        hop: String,
        destination_vault_arn: String,
        attempt: u32,
    },
    RetentionShortened {
        recovery_point_arn: String,
        before: String,
        after: String,
    },
    RetentionKept {
        recovery_point_arn: String,
        reason: String,
    },
    Notified {
        subject: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        slack: Option<SlackDelivery>,
    },
    NotNotified {
        subject: String,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        slack: Option<SlackDelivery>,
    },
    RestoreStarted {
        restore_job_id: String,
        name: String,
        attempt: u32,
    },
    RestoreTagged {
        resource_arn: String,
        stage: Option<String>,
    },
    WriterCreated {
        cluster_arn: String,
        instance_identifier: String,
    },
    HookStarted {
        resource_arn: String,
        execution_id: String,
    },
    Promoted {
        resource_arn: String,
        parameter_name: String,
        endpoint: String,
    },
    RestoreDeleted {
        resource_arn: String,
        reason: String,
    },
    /// A deletion crossvault refused after reading the resource again.
    RestoreKept {
        resource_arn: String,
        reason: String,
    },
    Ignored {
        reason: String,
    },
    /// crossvault's re-encrypted copy of an original was deleted (or was gone already).
    IntermediateDeleted {
        recovery_point_arn: String,
        original_recovery_point_arn: String,
    },
    /// crossvault's re-encrypted copy was kept, and why.
    IntermediateKept {
        recovery_point_arn: String,
        reason: String,
    },
}

/// What an invocation reads once: facts that cannot change within it. One invocation is one
/// SQS batch (or one reconcile run), so every shortening in it shares one look at the vault.
/// Concurrent records of a batch wait for the first look rather than each taking their own.
#[derive(Debug, Default)]
pub struct Session {
    vault_locked: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<bool>>>>,
    /// The Slack webhook URL, read once per invocation.
    pub slack_webhook: crate::slack::WebhookCache,
    /// Keys of RDS and Aurora points, described once per invocation.
    pub(crate) keys: crate::reencrypt::KeyCache,
}

pub struct Effects<'a> {
    pub clients: &'a AwsClients,
    pub config: &'a StackConfig,
    pub clock: &'a dyn Clock,
    pub session: &'a Session,
    pub slack: &'a Slack,
    /// The scheduled reconcile (its failures are reported in its report, not notified again).
    pub reconciling: bool,
}

impl Effects<'_> {
    /// The facts a decision asked for, looked up side by side.
    pub async fn gather(&self, request: &FactRequest) -> Result<Facts, EventError> {
        let jobs = async {
            match &request.copy_jobs_of {
                Some(rp) => self.copy_jobs_of(rp).await.map(Some),
                None => Ok(None),
            }
        };
        let point = async {
            match &request.recovery_point {
                Some(r) => self
                    .describe_point(&r.recovery_point_arn, r.vault_name.as_str())
                    .await
                    .map(Some),
                None => Ok(None),
            }
        };
        let tags = async {
            match &request.resource_tags_of {
                // Pre-prod reads the arriving recovery point's own tags.
                Some(arn) if self.config.role == Role::PreProd => {
                    self.recovery_point_tags(arn).await.map(Some)
                }
                Some(arn) => self.resource_tags(arn).await.map(Some),
                None => Ok(None),
            }
        };
        let restore = async {
            if request.restore.is_empty() {
                Ok(Default::default())
            } else {
                self.gather_restore(&request.restore).await
            }
        };
        let key = async {
            match request.key_of() {
                Some(arn) => self.describe_key(arn).await.map(Some),
                None => Ok(None),
            }
        };
        let intermediate = async {
            match request.intermediate_copy_jobs_of() {
                Some(rp) => self.copy_jobs_of(rp).await.map(Some),
                None => Ok(None),
            }
        };
        let origin = async {
            match request.origin_of() {
                Some(r) => self.origin_jobs(r).await.map(Some),
                None => Ok(None),
            }
        };
        let (
            copy_jobs,
            recovery_point,
            resource_tags,
            key,
            intermediate_copy_jobs,
            origin_jobs,
            restore,
        ) = futures::try_join!(jobs, point, tags, key, intermediate, origin, restore)?;
        Ok(Facts {
            resource_tags,
            copy_jobs,
            recovery_point,
            restore,
            key,
            intermediate_copy_jobs,
            origin_jobs,
        })
    }

    /// The protected resource's tags, through the Resource Groups Tagging API (one call for
    /// every service AWS Backup protects). A resource that no longer exists has no tags, so its
    /// copies do not go to pre-prod.
    pub async fn resource_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, EventError> {
        let out = self
            .clients
            .tagging
            .get_resources()
            .resource_arn_list(arn)
            .send()
            .await
            .map_err(|e| event_error("tag:GetResources", e))?;
        Ok(out
            .resource_tag_mapping_list()
            .iter()
            .filter(|m| m.resource_arn() == Some(arn))
            .flat_map(|m| m.tags())
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    /// This account and region's copy jobs whose source is `rp`, every page.
    pub async fn copy_jobs_of(&self, rp: &str) -> Result<Vec<ListedCopyJob>, EventError> {
        list_copy_jobs_of(&self.clients.backup, rp)
            .await
            .map_err(|e| event_error("backup:ListCopyJobs", e))
    }

    /// `DescribeRecoveryPoint`.
    pub async fn describe_point(
        &self,
        rp: &str,
        vault_name: &str,
    ) -> Result<RecoveryPointFacts, EventError> {
        let out = self
            .clients
            .backup
            .describe_recovery_point()
            .backup_vault_name(vault_name)
            .recovery_point_arn(rp)
            .send()
            .await
            .map_err(|e| event_error("backup:DescribeRecoveryPoint", e))?;
        Ok(RecoveryPointFacts {
            recovery_point_arn: rp.to_owned(),
            backup_vault_arn: out.backup_vault_arn,
            source_backup_vault_arn: out.source_backup_vault_arn,
            resource_arn: out.resource_arn,
            resource_type: out.resource_type,
            creation_date: out.creation_date.as_ref().and_then(utc),
            status: out.status.map(|s| Status::parse(s.as_str())),
            storage_class: out
                .storage_class
                .as_ref()
                .and_then(|c| StorageClass::parse(c.as_str())),
            lifecycle: lifecycle(out.lifecycle.as_ref()),
            encryption_key_arn: out.encryption_key_arn,
            backup_size_in_bytes: out.backup_size_in_bytes.and_then(|b| u64::try_from(b).ok()),
        })
    }

    /// Whether the vault has a Vault Lock, read once per invocation (a failed read is not
    /// kept: the next record tries again).
    async fn vault_locked(&self, vault_name: &str) -> Result<bool, EventError> {
        let cell = self
            .session
            .vault_locked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(vault_name.to_owned())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let vault = self
                .clients
                .backup
                .describe_backup_vault()
                .backup_vault_name(vault_name)
                .send()
                .await
                .map_err(|e| event_error("backup:DescribeBackupVault", e))?;
            Ok(vault.locked.unwrap_or(false))
        })
        .await
        .copied()
    }

    /// The backup account's copy jobs of `copy` (the first two-hop copy there), read with the
    /// verify role. A role that is not configured or refuses is no error of the event: the
    /// forward is then unverified and the original kept; throttling is retried.
    async fn forward_listing(&self, copy: &str) -> Result<ForwardListing, EventError> {
        let Some(role) = &self.config.verify_role_arn else {
            return Ok(ForwardListing::Unavailable(
                "no CROSSVAULT_VERIFY_ROLE_ARN is configured, so the backup account's forward cannot be read".into(),
            ));
        };
        let region = self.clients.region().unwrap_or_default().to_owned();
        let backup = match self.clients.backup_as(role, &region).await {
            Ok(client) => client,
            Err(e) => return unavailable("sts:AssumeRole", role, e),
        };
        match list_copy_jobs_of(&backup, copy).await {
            Ok(jobs) => Ok(ForwardListing::Listed(jobs)),
            Err(e) => unavailable("backup:ListCopyJobs (verify role)", role, e),
        }
    }

    /// Carries out `plan`, in order. The first failure stops it: a rerun is safe, because copy
    /// jobs carry idempotency tokens and the retention decision is made afresh from the facts.
    /// `facts` are those the plan was decided on: the shortening reuses the point's listing
    /// and description instead of reading them again.
    pub async fn execute(
        &self,
        plan: &Plan,
        facts: &Facts,
    ) -> Result<Vec<ActionOutcome>, EventError> {
        let mut outcomes = Vec::with_capacity(plan.actions.len());
        for action in &plan.actions {
            let outcome = self.execute_one(action, facts).await?;
            tracing::info!(outcome = %serde_json::to_string(&outcome).unwrap_or_default(), "action done");
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Carries out every action of `plan` even when some fail (the reconciler: one stuck
    /// action must not stop the others); failures are logged and returned.
    pub async fn execute_each(
        &self,
        plan: &Plan,
        facts: &Facts,
    ) -> (Vec<ActionOutcome>, Vec<EventError>) {
        let mut outcomes = Vec::new();
        let mut errors = Vec::new();
        for action in &plan.actions {
            match self.execute_one(action, facts).await {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    tracing::error!(error = %e, action = %action, "action failed");
                    errors.push(e);
                }
            }
        }
        (outcomes, errors)
    }

    async fn execute_one(
        &self,
        action: &Action,
        facts: &Facts,
    ) -> Result<ActionOutcome, EventError> {
        match action {
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
                let mut sdk_lifecycle = SdkLifecycle::builder()
                    .delete_after_days(i64::from(lifecycle.delete_after_days));
                if let Some(cold) = lifecycle.move_to_cold_storage_after_days {
                    sdk_lifecycle = sdk_lifecycle.move_to_cold_storage_after_days(i64::from(cold));
                }
                let out = self
                    .clients
                    .backup
                    .start_copy_job()
                    .recovery_point_arn(source_recovery_point_arn)
                    .source_backup_vault_name(source_vault_name.as_str())
                    .destination_backup_vault_arn(destination_vault_arn.to_string())
                    .iam_role_arn(iam_role_arn)
                    .idempotency_token(idempotency_token)
                    .lifecycle(sdk_lifecycle.build())
                    .send()
                    .await
                    .map_err(|e| event_error("backup:StartCopyJob", e))?;
                Ok(ActionOutcome::CopyStarted {
                    copy_job_id: out.copy_job_id.unwrap_or_default(),
                    hop: hop.to_string(),
                    destination_vault_arn: destination_vault_arn.to_string(),
                    attempt: *attempt,
                })
            }
            Action::ShortenRetention {
                recovery_point_arn,
                vault_name,
                requires,
            } => {
                self.shorten_retention(recovery_point_arn, vault_name.as_str(), requires, facts)
                    .await
            }
            Action::DeleteIntermediate {
                recovery_point_arn,
                vault_name,
                original_recovery_point_arn,
                requires,
                settles,
            } => {
                self.delete_intermediate(
                    recovery_point_arn,
                    vault_name,
                    original_recovery_point_arn,
                    requires,
                    settles,
                    facts,
                )
                .await
            }
            Action::Notify { subject, message } => self.notify(subject, message).await,
            Action::Restore(step) => self.restore_step(step).await,
            Action::Ignore { reason } => {
                tracing::info!(%reason, "ignored");
                Ok(ActionOutcome::Ignored {
                    reason: reason.clone(),
                })
            }
        }
    }

    /// Publishes to the configured topic, which may live in another account and region (an
    /// organization-level topic): the client is the one for the topic's region.
    /// Slack gets the message too (when configured); its failures are reported, never fatal.
    pub(crate) async fn notify(
        &self,
        subject: &str,
        message: &str,
    ) -> Result<ActionOutcome, EventError> {
        let Some(topic) = &self.config.notify_topic_arn else {
            tracing::warn!(%subject, %message, "no notification topic configured");
            let slack = self.post_to_slack(subject, message).await;
            return Ok(ActionOutcome::NotNotified {
                subject: subject.to_owned(),
                reason: "no CROSSVAULT_NOTIFY_TOPIC_ARN".into(),
                slack,
            });
        };
        // The configuration checked the ARN's shape: arn:PARTITION:sns:REGION:ACCOUNT:NAME.
        let region = topic.split(':').nth(3).unwrap_or_default();
        self.clients
            .sns_in(region)
            .publish()
            .topic_arn(topic)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| event_error("sns:Publish", e))?;
        let slack = self.post_to_slack(subject, message).await;
        Ok(ActionOutcome::Notified {
            subject: subject.to_owned(),
            slack,
        })
    }

    /// Gathers the facts `retention::decide` needs (the point, its vault's lock, its copy jobs
    /// and, for two-hop types, the backup account's forward), checks every required copy, asks
    /// it, and applies its answer.
    async fn shorten_retention(
        &self,
        rp: &str,
        vault_name: &str,
        requires: &[RequiredCopy],
        facts: &Facts,
    ) -> Result<ActionOutcome, EventError> {
        let point = match facts
            .recovery_point
            .as_ref()
            .filter(|p| p.recovery_point_arn == rp && p.creation_date.is_some())
        {
            Some(point) => point.clone(),
            None => self.describe_point(rp, vault_name).await?,
        };
        let locked = self.vault_locked(vault_name).await?;
        let via = requires.iter().find_map(|r| r.via.as_ref());
        let jobs = self.verification_jobs(rp, via, facts).await?;
        let forward = match verify::forward_source(requires, rp, &jobs) {
            Some(copy) => self.forward_listing(&copy).await?,
            None => ForwardListing::NotRead,
        };
        let input = RetentionInput {
            now: self.clock.now(),
            creation_date: point.creation_date.ok_or_else(|| {
                EventError::Permanent(format!(
                    "DescribeRecoveryPoint gave no CreationDate for {rp}"
                ))
            })?,
            current: point.lifecycle,
            storage_class: point.storage_class.unwrap_or(StorageClass::Warm),
            is_continuous: RecoveryPointArn::parse(rp).is_ok_and(|a| a.is_continuous()),
            vault_locked: locked,
            role: self.config.role,
            copied_from: point.copied_from().map(str::to_owned),
            copies: verify::check(requires, rp, &jobs, &forward),
        };
        match retention::decide(&input, self.config) {
            RetentionDecision::Keep { reason } => {
                tracing::info!(recovery_point_arn = rp, %reason, "retention kept");
                Ok(ActionOutcome::RetentionKept {
                    recovery_point_arn: rp.to_owned(),
                    reason,
                })
            }
            RetentionDecision::Shorten {
                delete_after_days,
                move_to_cold_storage_after_days,
                opt_in_to_archive,
                before,
                after,
                reasons,
            } => {
                // Both fields when the point has a cold setting: the documented form.
                let new = SdkLifecycle::builder()
                    .delete_after_days(i64::from(delete_after_days))
                    .set_move_to_cold_storage_after_days(
                        move_to_cold_storage_after_days.map(i64::from),
                    )
                    .set_opt_in_to_archive_for_supported_resources(opt_in_to_archive)
                    .build();
                self.clients
                    .backup
                    .update_recovery_point_lifecycle()
                    .backup_vault_name(vault_name)
                    .recovery_point_arn(rp)
                    .lifecycle(new)
                    .send()
                    .await
                    .map_err(|e| event_error("backup:UpdateRecoveryPointLifecycle", e))?;
                tracing::info!(recovery_point_arn = rp, %before, %after, reasons = %reasons.join("; "), "retention shortened");
                Ok(ActionOutcome::RetentionShortened {
                    recovery_point_arn: rp.to_owned(),
                    before,
                    after,
                })
            }
        }
    }
}

/// The copy jobs whose source is `rp` that `backup`'s account lists, every page.
pub async fn list_copy_jobs_of(
    backup: &aws_sdk_backup::Client,
    rp: &str,
) -> Result<
    Vec<ListedCopyJob>,
    SdkError<aws_sdk_backup::operation::list_copy_jobs::ListCopyJobsError, HttpResponse>,
> {
    let mut jobs = Vec::new();
    let mut pages = backup
        .list_copy_jobs()
        .by_source_recovery_point_arn(rp)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        jobs.extend(
            page?
                .copy_jobs
                .unwrap_or_default()
                .into_iter()
                .filter_map(listed_copy_job),
        );
    }
    Ok(jobs)
}

/// A failed read through the verify role: retried when a retry can help, else the forward is
/// reported unverified (the original is kept) with AWS's reason.
fn unavailable<E>(
    action: &str,
    role: &str,
    err: SdkError<E, HttpResponse>,
) -> Result<ForwardListing, EventError>
where
    E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
{
    match aws_error::classify(&err) {
        ErrorClass::Retryable => Err(event_error(action, err)),
        ErrorClass::NotFound | ErrorClass::Permanent => Ok(ForwardListing::Unavailable(format!(
            "the backup account's forward could not be read with {role}: {action} failed: {}",
            aws_error::describe(&err)
        ))),
    }
}
