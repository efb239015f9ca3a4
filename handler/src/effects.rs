//! The effect layer: gathers the facts the decision core asks for and carries out its plans
//! with the AWS SDK. No decisions are made here; every "whether" lives in `crossvault-core`.

use std::collections::BTreeMap;

use aws_sdk_backup::types::Lifecycle as SdkLifecycle;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use crossvault_core::event::Status;
use crossvault_core::{
    Action, CurrentLifecycle, FactRequest, Facts, Plan, RecoveryPointArn, RetentionDecision,
    RetentionInput, StackConfig, StorageClass, retention,
};

use crate::aws_error::{self, ErrorClass};
use crate::batch::EventError;
use crate::clients::AwsClients;
use crate::clock::Clock;
use crate::sdk_values::{lifecycle_days, utc};

/// An AWS failure as an event outcome: throttling and service trouble are retried (SQS
/// redelivery), everything else (access denied, a missing vault or key, bad input) is
/// dead-lettered with the AWS error as the reason.
pub fn event_error<E, R>(action: &str, err: SdkError<E, R>) -> EventError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
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
    },
    NotNotified {
        subject: String,
        reason: String,
    },
    Ignored {
        reason: String,
    },
}

pub struct Effects<'a> {
    pub clients: &'a AwsClients,
    pub config: &'a StackConfig,
    pub clock: &'a dyn Clock,
}

impl Effects<'_> {
    /// The facts a decision asked for.
    pub async fn gather(&self, request: &FactRequest) -> Result<Facts, EventError> {
        let mut facts = Facts::none();
        if let Some(arn) = &request.resource_tags_of {
            facts.resource_tags = Some(self.resource_tags(arn).await?);
        }
        Ok(facts)
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

    /// Carries out `plan`, in order. The first failure stops it: a rerun is safe, because copy
    /// jobs carry idempotency tokens and the retention decision is made afresh from the facts.
    pub async fn execute(&self, plan: &Plan) -> Result<Vec<ActionOutcome>, EventError> {
        let mut outcomes = Vec::with_capacity(plan.actions.len());
        for action in &plan.actions {
            let outcome = self.execute_one(action).await?;
            tracing::info!(outcome = %serde_json::to_string(&outcome).unwrap_or_default(), "action done");
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Carries out every action of `plan` even when some fail (the reconciler: one stuck
    /// recovery point must not stop the others); failures are logged and returned.
    pub async fn execute_each(&self, plan: &Plan) -> (Vec<ActionOutcome>, Vec<EventError>) {
        let mut outcomes = Vec::new();
        let mut errors = Vec::new();
        for action in &plan.actions {
            match self.execute_one(action).await {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    tracing::error!(error = %e, action = %action, "action failed");
                    errors.push(e);
                }
            }
        }
        (outcomes, errors)
    }

    async fn execute_one(&self, action: &Action) -> Result<ActionOutcome, EventError> {
        match action {
            Action::StartCopyJob {
                source_recovery_point_arn,
                source_vault_name,
                destination_vault_arn,
                iam_role_arn,
                lifecycle,
                idempotency_token,
                hop,
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
                })
            }
            Action::ShortenRetention {
                recovery_point_arn,
                vault_name,
                confirm_copy_job_id,
            } => {
                self.shorten_retention(
                    recovery_point_arn,
                    vault_name.as_str(),
                    confirm_copy_job_id.as_deref(),
                )
                .await
            }
            Action::Notify { subject, message } => {
                let Some(topic) = &self.config.notify_topic_arn else {
                    tracing::warn!(%subject, %message, "no notification topic configured");
                    return Ok(ActionOutcome::NotNotified {
                        subject: subject.clone(),
                        reason: "no CROSSVAULT_NOTIFY_TOPIC_ARN".into(),
                    });
                };
                self.clients
                    .sns
                    .publish()
                    .topic_arn(topic)
                    .subject(subject)
                    .message(message)
                    .send()
                    .await
                    .map_err(|e| event_error("sns:Publish", e))?;
                Ok(ActionOutcome::Notified {
                    subject: subject.clone(),
                })
            }
            Action::Ignore { reason } => {
                tracing::info!(%reason, "ignored");
                Ok(ActionOutcome::Ignored {
                    reason: reason.clone(),
                })
            }
        }
    }

    /// Gathers the facts `retention::decide` needs (the point, its vault's lock, the
    /// confirming copy job), asks it, and applies its answer.
    async fn shorten_retention(
        &self,
        recovery_point_arn: &str,
        vault_name: &str,
        confirm_copy_job_id: Option<&str>,
    ) -> Result<ActionOutcome, EventError> {
        let backup = &self.clients.backup;
        let point = backup
            .describe_recovery_point()
            .backup_vault_name(vault_name)
            .recovery_point_arn(recovery_point_arn)
            .send()
            .await
            .map_err(|e| event_error("backup:DescribeRecoveryPoint", e))?;
        let vault = backup
            .describe_backup_vault()
            .backup_vault_name(vault_name)
            .send()
            .await
            .map_err(|e| event_error("backup:DescribeBackupVault", e))?;
        let copy_confirmed = match confirm_copy_job_id {
            None => false,
            Some(id) => {
                let job = backup
                    .describe_copy_job()
                    .copy_job_id(id)
                    .send()
                    .await
                    .map_err(|e| event_error("backup:DescribeCopyJob", e))?;
                job.copy_job
                    .and_then(|j| j.state)
                    .is_some_and(|s| Status::parse(s.as_str()) == Status::Completed)
            }
        };
        let lifecycle = point.lifecycle.as_ref();
        let input = RetentionInput {
            now: self.clock.now(),
            creation_date: point.creation_date.as_ref().and_then(utc).ok_or_else(|| {
                EventError::Permanent(format!(
                    "DescribeRecoveryPoint gave no CreationDate for {recovery_point_arn}"
                ))
            })?,
            current: CurrentLifecycle {
                delete_after_days: lifecycle_days(lifecycle.and_then(|l| l.delete_after_days)),
                move_to_cold_storage_after_days: lifecycle_days(
                    lifecycle.and_then(|l| l.move_to_cold_storage_after_days),
                ),
            },
            storage_class: point
                .storage_class
                .as_ref()
                .and_then(|c| StorageClass::parse(c.as_str()))
                .unwrap_or(StorageClass::Warm),
            is_continuous: RecoveryPointArn::parse(recovery_point_arn)
                .is_ok_and(|a| a.is_continuous()),
            vault_locked: vault.locked.unwrap_or(false),
            role: self.config.role,
            copy_confirmed,
        };
        match retention::decide(&input, self.config) {
            RetentionDecision::Keep { reason } => {
                tracing::info!(recovery_point_arn, %reason, "retention kept");
                Ok(ActionOutcome::RetentionKept {
                    recovery_point_arn: recovery_point_arn.to_owned(),
                    reason,
                })
            }
            RetentionDecision::Shorten {
                delete_after_days,
                move_to_cold_storage_after_days,
                before,
                after,
                reasons,
            } => {
                let mut new =
                    SdkLifecycle::builder().delete_after_days(i64::from(delete_after_days));
                if let Some(cold) = move_to_cold_storage_after_days {
                    new = new.move_to_cold_storage_after_days(cold.api_value());
                }
                backup
                    .update_recovery_point_lifecycle()
                    .backup_vault_name(vault_name)
                    .recovery_point_arn(recovery_point_arn)
                    .lifecycle(new.build())
                    .send()
                    .await
                    .map_err(|e| event_error("backup:UpdateRecoveryPointLifecycle", e))?;
                tracing::info!(recovery_point_arn, %before, %after, reasons = %reasons.join("; "), "retention shortened");
                Ok(ActionOutcome::RetentionShortened {
                    recovery_point_arn: recovery_point_arn.to_owned(),
                    before,
                    after,
                })
            }
        }
    }
}
