//! Carrying out a refresh's steps ([`RestoreAction`]) with the SDK. Nothing is decided here
//! except what only a fresh look at AWS can tell: a deletion re-reads the resource's tags and
//! refuses when they are not crossvault's; a writer that already exists is ours only if its
//! tags say so.

use std::collections::BTreeMap;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use aws_sdk_ssm::types::ParameterType;
use crossvault_core::restore::resource::{HOOK_EXECUTION, STAGE, Stage, WRITER_OF};
use crossvault_core::restore::{DnsChange, Provenance, RestoreAction, RestoredKind, RestoredRef};

use crate::aws_error::{self, ErrorClass};
use crate::batch::EventError;
use crate::effects::{ActionOutcome, Effects, event_error};

/// RDS answers that say capacity, not the request, is the problem: a retry later can succeed.
pub const CAPACITY_CODES: &[&str] = &[
    "InsufficientDBInstanceCapacity",
    "InsufficientDBInstanceCapacityFault",
    "InsufficientDBClusterCapacityFault",
    "InsufficientStorageClusterCapacity",
];

/// An RDS error as an event outcome; capacity shortages are retried (SQS redelivery, then the
/// reconciler), although RDS answers them with a client error.
fn rds_error<E>(
    action: &str,
    err: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> EventError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + aws_smithy_types::retry::ProvideErrorKind
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    if aws_error::code(&err).is_some_and(|c| CAPACITY_CODES.contains(&c.as_str())) {
        return EventError::Retryable(format!(
            "{action} failed for lack of capacity (retried later): {}",
            aws_error::describe(&err)
        ));
    }
    event_error(action, err)
}

fn rds_tag_list(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_rds::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
        .collect()
}

impl Effects<'_> {
    /// Carries out one refresh step.
    pub async fn restore_step(&self, step: &RestoreAction) -> Result<ActionOutcome, EventError> {
        match step {
            RestoreAction::StartRestoreJob {
                recovery_point_arn,
                resource_type,
                iam_role_arn,
                metadata,
                idempotency_token,
                attempt,
                name,
                ..
            } => {
                let out = self
                    .clients
                    .backup
                    .start_restore_job()
                    .recovery_point_arn(recovery_point_arn)
                    .resource_type(resource_type)
                    .iam_role_arn(iam_role_arn)
                    .idempotency_token(idempotency_token)
                    .set_metadata(Some(metadata.clone().into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| event_error("backup:StartRestoreJob", e))?;
                Ok(ActionOutcome::RestoreStarted {
                    restore_job_id: out.restore_job_id.unwrap_or_default(),
                    name: name.clone(),
                    attempt: *attempt,
                })
            }
            RestoreAction::TagRestore { resource, tags, .. } => {
                self.tag_restore(resource, tags).await?;
                Ok(ActionOutcome::RestoreTagged {
                    resource_arn: resource.arn.clone(),
                    stage: tags.get(STAGE).cloned(),
                })
            }
            RestoreAction::CreateWriter {
                cluster,
                instance_identifier,
                instance_class,
                engine,
                tags,
            } => {
                self.create_writer(cluster, instance_identifier, instance_class, engine, tags)
                    .await
            }
            RestoreAction::StartHook {
                resource,
                document,
                parameters,
                client_token,
            } => {
                let execution_id = self.start_hook(document, parameters, client_token).await?;
                // Recorded after the start (an id is only known then); a completion read before
                // this tag lands is matched by the execution's own ResourceArn.
                self.tag_restore(
                    resource,
                    &BTreeMap::from([
                        (STAGE.to_owned(), Stage::Masking.as_str().to_owned()),
                        (HOOK_EXECUTION.to_owned(), execution_id.clone()),
                    ]),
                )
                .await?;
                Ok(ActionOutcome::HookStarted {
                    resource_arn: resource.arn.clone(),
                    execution_id,
                })
            }
            RestoreAction::Promote {
                resource,
                parameter_name,
                endpoint,
                description,
                dns,
            } => {
                self.put_stable_address(parameter_name, endpoint, description)
                    .await?;
                if let Some(dns) = dns {
                    self.upsert_cname(dns).await?;
                }
                self.tag_restore(
                    resource,
                    &BTreeMap::from([(STAGE.to_owned(), Stage::Promoted.as_str().to_owned())]),
                )
                .await?;
                Ok(ActionOutcome::Promoted {
                    resource_arn: resource.arn.clone(),
                    parameter_name: parameter_name.clone(),
                    endpoint: endpoint.clone(),
                })
            }
            RestoreAction::DeleteRestore {
                resource,
                source_resource,
                reason,
            } => self.delete_restore(resource, source_resource, reason).await,
        }
    }

    /// Sets `tags` on a restored resource (its own service's tagging call).
    pub async fn tag_restore(
        &self,
        resource: &RestoredRef,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), EventError> {
        match resource.kind {
            RestoredKind::RdsInstance | RestoredKind::AuroraCluster => {
                self.clients
                    .rds
                    .add_tags_to_resource()
                    .resource_name(&resource.arn)
                    .set_tags(Some(rds_tag_list(tags)))
                    .send()
                    .await
                    .map_err(|e| event_error("rds:AddTagsToResource", e))?;
            }
            RestoredKind::DynamoDbTable => {
                let tags = tags
                    .iter()
                    .map(|(k, v)| {
                        aws_sdk_dynamodb::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                            .map_err(|e| EventError::Permanent(format!("tag {k}: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.clients
                    .dynamodb
                    .tag_resource()
                    .resource_arn(&resource.arn)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| event_error("dynamodb:TagResource", e))?;
            }
            RestoredKind::EfsFileSystem => {
                let tags = tags
                    .iter()
                    .map(|(k, v)| {
                        aws_sdk_efs::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                            .map_err(|e| EventError::Permanent(format!("tag {k}: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.clients
                    .efs
                    .tag_resource()
                    .resource_id(&resource.identifier)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| event_error("elasticfilesystem:TagResource", e))?;
            }
        }
        Ok(())
    }

    /// An Aurora restore's writer instance. One that already exists is taken when its tags say
    /// it is this cluster's writer (a duplicate event); any other name collision is refused.
    async fn create_writer(
        &self,
        cluster: &RestoredRef,
        identifier: &str,
        class: &str,
        engine: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<ActionOutcome, EventError> {
        let created = self
            .clients
            .rds
            .create_db_instance()
            .db_instance_identifier(identifier)
            .db_cluster_identifier(&cluster.identifier)
            .db_instance_class(class)
            .engine(engine)
            .publicly_accessible(false)
            .set_tags(Some(rds_tag_list(tags)))
            .send()
            .await;
        match created {
            Ok(_) => Ok(ActionOutcome::WriterCreated {
                cluster_arn: cluster.arn.clone(),
                instance_identifier: identifier.to_owned(),
            }),
            Err(e)
                if aws_error::code(&e).is_some_and(|c| {
                    c == "DBInstanceAlreadyExists" || c == "DBInstanceAlreadyExistsFault"
                }) =>
            {
                let arn = format!(
                    "{}:db:{identifier}",
                    cluster.arn.rsplit_once(":cluster:").map_or("", |(h, _)| h)
                );
                let existing = self.describe_restored(&arn).await?;
                if existing
                    .as_ref()
                    .is_some_and(|w| w.tag(WRITER_OF) == Some(cluster.identifier.as_str()))
                {
                    Ok(ActionOutcome::WriterCreated {
                        cluster_arn: cluster.arn.clone(),
                        instance_identifier: identifier.to_owned(),
                    })
                } else {
                    Err(EventError::Permanent(format!(
                        "rds:CreateDBInstance: {identifier} already exists and is not the writer \
                         crossvault created for {} (its tags do not say {WRITER_OF} = {}); \
                         crossvault leaves it alone: {}",
                        cluster.arn,
                        cluster.identifier,
                        aws_error::describe(&e)
                    )))
                }
            }
            Err(e) => Err(rds_error("rds:CreateDBInstance", e)),
        }
    }

    /// Starts the masking hook; returns its execution id.
    async fn start_hook(
        &self,
        document: &str,
        parameters: &BTreeMap<String, Vec<String>>,
        client_token: &str,
    ) -> Result<String, EventError> {
        let out = self
            .clients
            .ssm
            .start_automation_execution()
            .document_name(document)
            .set_parameters(Some(parameters.clone().into_iter().collect()))
            .client_token(client_token)
            .send()
            .await
            .map_err(|e| event_error("ssm:StartAutomationExecution", e))?;
        out.automation_execution_id.ok_or_else(|| {
            EventError::Retryable("ssm:StartAutomationExecution returned no execution id".into())
        })
    }

    /// `GetAutomationExecution`, as the core reads it.
    pub async fn hook_execution(
        &self,
        execution_id: &str,
    ) -> Result<crossvault_core::restore::HookExecution, EventError> {
        let out = self
            .clients
            .ssm
            .get_automation_execution()
            .automation_execution_id(execution_id)
            .send()
            .await
            .map_err(|e| event_error("ssm:GetAutomationExecution", e))?;
        let x = out.automation_execution.ok_or_else(|| {
            EventError::Retryable(format!(
                "ssm:GetAutomationExecution {execution_id}: no execution"
            ))
        })?;
        let status_text = x
            .automation_execution_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        Ok(crossvault_core::restore::HookExecution {
            execution_id: execution_id.to_owned(),
            document: x.document_name().unwrap_or_default().to_owned(),
            status: crossvault_core::restore::HookStatus::parse(&status_text),
            status_text,
            resource_arn: x
                .parameters()
                .and_then(|p| p.get("ResourceArn"))
                .and_then(|v| v.first())
                .cloned(),
            failure_message: x.failure_message().map(str::to_owned),
        })
    }

    /// Points the stable address's parameter at `endpoint` (a plain String parameter: an
    /// address, not a secret).
    async fn put_stable_address(
        &self,
        name: &str,
        endpoint: &str,
        description: &str,
    ) -> Result<(), EventError> {
        let description: String = description.chars().take(1024).collect();
        self.clients
            .ssm
            .put_parameter()
            .name(name)
            .value(endpoint)
            .r#type(ParameterType::String)
            .overwrite(true)
            .description(description)
            .send()
            .await
            .map_err(|e| event_error("ssm:PutParameter", e))?;
        Ok(())
    }

    async fn upsert_cname(&self, dns: &DnsChange) -> Result<(), EventError> {
        let build = |what: &str, e: aws_sdk_route53::error::BuildError| {
            EventError::Permanent(format!("route53 {what}: {e}"))
        };
        let record = ResourceRecordSet::builder()
            .name(&dns.record_name)
            .r#type(RrType::Cname)
            .ttl(60)
            .resource_records(
                ResourceRecord::builder()
                    .value(&dns.target)
                    .build()
                    .map_err(|e| build("record", e))?,
            )
            .build()
            .map_err(|e| build("record set", e))?;
        let batch = ChangeBatch::builder()
            .comment("crossvault: the newest masked pre-prod restore")
            .changes(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(record)
                    .build()
                    .map_err(|e| build("change", e))?,
            )
            .build()
            .map_err(|e| build("batch", e))?;
        self.clients
            .route53
            .change_resource_record_sets()
            .hosted_zone_id(&dns.hosted_zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| event_error("route53:ChangeResourceRecordSets", e))?;
        Ok(())
    }

    /// Deletes a superseded restore, after reading its tags again: only a resource that still
    /// carries crossvault's marker and `source`'s provenance goes, and never one with deletion
    /// protection on. It is tagged `retired` first, so a deletion cut short is finished by the
    /// reconciler.
    async fn delete_restore(
        &self,
        resource: &RestoredRef,
        source: &str,
        reason: &str,
    ) -> Result<ActionOutcome, EventError> {
        let Some(now) = self.describe_restored(&resource.arn).await? else {
            return Ok(ActionOutcome::RestoreDeleted {
                resource_arn: resource.arn.clone(),
                reason: format!("{reason} (already gone)"),
            });
        };
        let kept = |why: String| {
            tracing::warn!(resource_arn = %resource.arn, %why, "restore kept");
            Ok(ActionOutcome::RestoreKept {
                resource_arn: resource.arn.clone(),
                reason: why,
            })
        };
        match Provenance::from_tags(&now.tags) {
            Some(p) if p.source_resource == source => {}
            Some(p) => {
                return kept(format!(
                    "its tags now name {} as its source, not {source}",
                    p.source_resource
                ));
            }
            None => return kept("it no longer carries crossvault's provenance tags".into()),
        }
        if now.deletion_protection {
            return kept("deletion protection is on (RestoreDeletionProtection or by hand)".into());
        }
        if now.stage() != Some(Stage::Retired) {
            self.tag_restore(
                resource,
                &BTreeMap::from([(STAGE.to_owned(), Stage::Retired.as_str().to_owned())]),
            )
            .await?;
        }
        match resource.kind {
            RestoredKind::RdsInstance => {
                let deleted = self
                    .clients
                    .rds
                    .delete_db_instance()
                    .db_instance_identifier(&resource.identifier)
                    .skip_final_snapshot(true)
                    .delete_automated_backups(true)
                    .send()
                    .await;
                gone_is_fine(
                    "rds:DeleteDBInstance",
                    deleted,
                    &["DBInstanceNotFound", "DBInstanceNotFoundFault"],
                )?;
            }
            RestoredKind::AuroraCluster => {
                if let Some(writer) = &now.writer {
                    let writer_arn = format!(
                        "{}:db:{}",
                        resource.arn.rsplit_once(":cluster:").map_or("", |(h, _)| h),
                        writer.identifier
                    );
                    let ours = self
                        .describe_restored(&writer_arn)
                        .await?
                        .is_some_and(|w| w.tag(WRITER_OF) == Some(resource.identifier.as_str()));
                    if !ours {
                        return kept(format!(
                            "its instance {} was not created by crossvault; delete the cluster yourself",
                            writer.identifier
                        ));
                    }
                    let deleted = self
                        .clients
                        .rds
                        .delete_db_instance()
                        .db_instance_identifier(&writer.identifier)
                        .skip_final_snapshot(true)
                        .send()
                        .await;
                    gone_is_fine(
                        "rds:DeleteDBInstance",
                        deleted,
                        &["DBInstanceNotFound", "DBInstanceNotFoundFault"],
                    )?;
                }
                let deleted = self
                    .clients
                    .rds
                    .delete_db_cluster()
                    .db_cluster_identifier(&resource.identifier)
                    .skip_final_snapshot(true)
                    .send()
                    .await;
                match deleted {
                    Err(e)
                        if aws_error::code(&e).as_deref() == Some("InvalidDBClusterStateFault") =>
                    {
                        // Its writer is still being deleted: tagged retired, the reconciler
                        // deletes the cluster on a later run.
                        return Ok(ActionOutcome::RestoreKept {
                            resource_arn: resource.arn.clone(),
                            reason: format!(
                                "its writer is being deleted; the cluster follows on the next reconcile ({})",
                                aws_error::describe(&e)
                            ),
                        });
                    }
                    other => {
                        gone_is_fine("rds:DeleteDBCluster", other, &["DBClusterNotFoundFault"])?;
                    }
                }
            }
            RestoredKind::DynamoDbTable => {
                let deleted = self
                    .clients
                    .dynamodb
                    .delete_table()
                    .table_name(&resource.identifier)
                    .send()
                    .await;
                gone_is_fine(
                    "dynamodb:DeleteTable",
                    deleted,
                    &["ResourceNotFoundException"],
                )?;
            }
            RestoredKind::EfsFileSystem => {
                let deleted = self
                    .clients
                    .efs
                    .delete_file_system()
                    .file_system_id(&resource.identifier)
                    .send()
                    .await;
                gone_is_fine(
                    "elasticfilesystem:DeleteFileSystem",
                    deleted,
                    &["FileSystemNotFound"],
                )?;
            }
        }
        tracing::info!(resource_arn = %resource.arn, %reason, "restore deleted");
        Ok(ActionOutcome::RestoreDeleted {
            resource_arn: resource.arn.clone(),
            reason: reason.to_owned(),
        })
    }
}

/// A delete whose target is already gone succeeded.
fn gone_is_fine<T, E>(
    action: &str,
    result: Result<
        T,
        aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    >,
    not_found: &[&str],
) -> Result<(), EventError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + aws_smithy_types::retry::ProvideErrorKind
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if aws_error::code(&e).is_some_and(|c| not_found.contains(&c.as_str()))
                || aws_error::classify(&e) == ErrorClass::NotFound =>
        {
            Ok(())
        }
        Err(e) => Err(event_error(action, e)),
    }
}
