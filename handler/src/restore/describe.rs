//! What a restored resource looks like now, read from its own service (status, endpoint,
//! tags), and crossvault's restores found by their provenance tags.

use std::collections::BTreeMap;

use aws_sdk_resourcegroupstagging::types::TagFilter;
use crossvault_core::restore::resource::{
    MARKER, MARKER_VALUE, SOURCE_RESOURCE, WRITER_OF, Writer,
};
use crossvault_core::restore::{RestoredKind, RestoredRef, RestoredResource};

use crate::aws_error::{self, ErrorClass};
use crate::batch::EventError;
use crate::effects::{Effects, event_error};

/// The resource types crossvault restores into, as the tagging API names them.
pub const RESTORED_RESOURCE_TYPES: &[&str] = &[
    "rds:db",
    "rds:cluster",
    "dynamodb:table",
    "elasticfilesystem:file-system",
];

fn rds_tags(tags: &[aws_sdk_rds::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// A not-found answer is `Ok(None)`; anything else an event error.
fn absent<T, E>(
    action: &str,
    result: Result<
        T,
        aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    >,
    not_found: &[&str],
) -> Result<Option<T>, EventError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + aws_smithy_types::retry::ProvideErrorKind
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e)
            if aws_error::code(&e).is_some_and(|c| not_found.contains(&c.as_str()))
                || aws_error::classify(&e) == ErrorClass::NotFound =>
        {
            Ok(None)
        }
        Err(e) => Err(event_error(action, e)),
    }
}

impl Effects<'_> {
    /// The resource `arn` as its service describes it (`None`: it does not exist).
    pub async fn describe_restored(
        &self,
        arn: &str,
    ) -> Result<Option<RestoredResource>, EventError> {
        let Some(r) = RestoredRef::from_arn(arn) else {
            return Err(EventError::Permanent(format!(
                "{arn} is not a resource crossvault restores into"
            )));
        };
        match r.kind {
            RestoredKind::RdsInstance => self.describe_db_instance(&r).await,
            RestoredKind::AuroraCluster => self.describe_db_cluster(&r).await,
            RestoredKind::DynamoDbTable => self.describe_table(&r).await,
            RestoredKind::EfsFileSystem => self.describe_file_system(&r).await,
        }
    }

    async fn describe_db_instance(
        &self,
        r: &RestoredRef,
    ) -> Result<Option<RestoredResource>, EventError> {
        let out = absent(
            "rds:DescribeDBInstances",
            self.clients
                .rds
                .describe_db_instances()
                .db_instance_identifier(&r.identifier)
                .send()
                .await,
            &["DBInstanceNotFound", "DBInstanceNotFoundFault"],
        )?;
        let Some(db) = out.and_then(|o| o.db_instances.unwrap_or_default().into_iter().next())
        else {
            return Ok(None);
        };
        let status = db.db_instance_status().unwrap_or_default().to_owned();
        Ok(Some(RestoredResource {
            arn: db.db_instance_arn().unwrap_or(&r.arn).to_owned(),
            kind: r.kind,
            identifier: r.identifier.clone(),
            tags: rds_tags(db.tag_list()),
            available: status == "available",
            status,
            endpoint: db
                .endpoint()
                .and_then(|e| Some(format!("{}:{}", e.address()?, e.port().unwrap_or_default()))),
            writer: None,
            deletion_protection: db.deletion_protection().unwrap_or(false),
            engine: db.engine().map(str::to_owned),
        }))
    }

    async fn describe_db_cluster(
        &self,
        r: &RestoredRef,
    ) -> Result<Option<RestoredResource>, EventError> {
        let out = absent(
            "rds:DescribeDBClusters",
            self.clients
                .rds
                .describe_db_clusters()
                .db_cluster_identifier(&r.identifier)
                .send()
                .await,
            &["DBClusterNotFoundFault", "DBClusterNotFound"],
        )?;
        let Some(cluster) = out.and_then(|o| o.db_clusters.unwrap_or_default().into_iter().next())
        else {
            return Ok(None);
        };
        let writer_id = cluster
            .db_cluster_members()
            .iter()
            .find(|m| m.is_cluster_writer().unwrap_or(false))
            .or_else(|| cluster.db_cluster_members().first())
            .and_then(|m| m.db_instance_identifier())
            .map(str::to_owned);
        let writer = match writer_id {
            Some(id) => {
                let writer_ref = RestoredRef {
                    arn: format!(
                        "{}:db:{id}",
                        r.arn.rsplit_once(":cluster:").map_or("", |(head, _)| head)
                    ),
                    kind: RestoredKind::RdsInstance,
                    identifier: id.clone(),
                };
                self.describe_db_instance(&writer_ref)
                    .await?
                    .map(|w| Writer {
                        identifier: id,
                        available: w.available,
                    })
            }
            None => None,
        };
        let status = cluster.status().unwrap_or_default().to_owned();
        Ok(Some(RestoredResource {
            arn: cluster.db_cluster_arn().unwrap_or(&r.arn).to_owned(),
            kind: r.kind,
            identifier: r.identifier.clone(),
            tags: rds_tags(cluster.tag_list()),
            available: status == "available",
            status,
            endpoint: cluster
                .endpoint()
                .map(|e| format!("{e}:{}", cluster.port().unwrap_or_default())),
            writer,
            deletion_protection: cluster.deletion_protection().unwrap_or(false),
            engine: cluster.engine().map(str::to_owned),
        }))
    }

    async fn describe_table(
        &self,
        r: &RestoredRef,
    ) -> Result<Option<RestoredResource>, EventError> {
        let out = absent(
            "dynamodb:DescribeTable",
            self.clients
                .dynamodb
                .describe_table()
                .table_name(&r.identifier)
                .send()
                .await,
            &["ResourceNotFoundException"],
        )?;
        let Some(table) = out.and_then(|o| o.table) else {
            return Ok(None);
        };
        let arn = table.table_arn().unwrap_or(&r.arn).to_owned();
        let tags = self
            .clients
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| event_error("dynamodb:ListTagsOfResource", e))?
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect();
        let status = table
            .table_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        Ok(Some(RestoredResource {
            arn,
            kind: r.kind,
            identifier: r.identifier.clone(),
            tags,
            available: status == "ACTIVE",
            status,
            endpoint: Some(r.identifier.clone()),
            writer: None,
            deletion_protection: table.deletion_protection_enabled().unwrap_or(false),
            engine: None,
        }))
    }

    async fn describe_file_system(
        &self,
        r: &RestoredRef,
    ) -> Result<Option<RestoredResource>, EventError> {
        let out = absent(
            "elasticfilesystem:DescribeFileSystems",
            self.clients
                .efs
                .describe_file_systems()
                .file_system_id(&r.identifier)
                .send()
                .await,
            &["FileSystemNotFound"],
        )?;
        let Some(fs) = out.and_then(|o| o.file_systems.unwrap_or_default().into_iter().next())
        else {
            return Ok(None);
        };
        let status = fs.life_cycle_state().as_str().to_owned();
        let region = r.arn.split(':').nth(3).unwrap_or_default();
        Ok(Some(RestoredResource {
            arn: fs.file_system_arn().unwrap_or(&r.arn).to_owned(),
            kind: r.kind,
            identifier: r.identifier.clone(),
            tags: fs
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect(),
            available: status == "available",
            status,
            endpoint: Some(format!("{}.efs.{region}.amazonaws.com", r.identifier)),
            writer: None,
            deletion_protection: false,
            engine: None,
        }))
    }

    /// Crossvault's restores here whose tag `key` is `value`, as the tagging API lists them
    /// (tags only: status and endpoint are read from each service when needed). Aurora
    /// writers are left out: they go with their cluster.
    pub async fn tagged_restores(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<RestoredResource>, EventError> {
        let mut out = Vec::new();
        let mut pages = self
            .clients
            .tagging
            .get_resources()
            .tag_filters(TagFilter::builder().key(key).values(value).build())
            .set_resource_type_filters(Some(
                RESTORED_RESOURCE_TYPES
                    .iter()
                    .map(|t| (*t).to_owned())
                    .collect(),
            ))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| event_error("tag:GetResources", e))?;
            for mapping in page.resource_tag_mapping_list.unwrap_or_default() {
                let Some(r) = mapping
                    .resource_arn
                    .as_deref()
                    .and_then(RestoredRef::from_arn)
                else {
                    continue;
                };
                let tags: BTreeMap<String, String> = mapping
                    .tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| (t.key, t.value))
                    .collect();
                if tags.get(MARKER).map(String::as_str) != Some(MARKER_VALUE)
                    || tags.contains_key(WRITER_OF)
                {
                    continue;
                }
                out.push(RestoredResource {
                    arn: r.arn,
                    kind: r.kind,
                    identifier: r.identifier,
                    tags,
                    status: "(listed)".into(),
                    available: false,
                    endpoint: None,
                    writer: None,
                    deletion_protection: false,
                    engine: None,
                });
            }
        }
        Ok(out)
    }

    /// Crossvault's restores of the production resource `source`.
    pub async fn restores_of(&self, source: &str) -> Result<Vec<RestoredResource>, EventError> {
        self.tagged_restores(SOURCE_RESOURCE, source).await
    }
}
