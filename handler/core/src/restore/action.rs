//! The steps of a pre-prod refresh, as plan actions ([`crate::plan::Action::Restore`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::resource::RestoredRef;

/// A CNAME to point at the promoted restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsChange {
    /// The private hosted zone.
    pub hosted_zone_id: String,
    /// The record (`orders.111111111111.preprod.internal`).
    pub record_name: String,
    /// The restore's endpoint host.
    pub target: String,
}

/// One step of a refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum RestoreAction {
    /// `StartRestoreJob` in this account and region.
    StartRestoreJob {
        /// `RecoveryPointArn` (in the pre-prod vault)
        recovery_point_arn: String,
        /// `ResourceType`
        resource_type: String,
        /// `IamRoleArn` (crossvault's restore role)
        iam_role_arn: String,
        /// `Metadata`
        metadata: BTreeMap<String, String>,
        /// `IdempotencyToken`
        idempotency_token: String,
        /// Which attempt (part of the token and the name).
        attempt: u32,
        /// The restored resource's name.
        name: String,
        /// The production resource.
        source_resource_arn: String,
    },
    /// Tag a restored resource (provenance, stage): the refresh's state.
    TagRestore {
        /// The resource.
        resource: RestoredRef,
        /// The tags to set.
        tags: BTreeMap<String, String>,
        /// Why.
        reason: String,
    },
    /// Create an Aurora restore's writer instance (AWS Backup restores the cluster alone).
    CreateWriter {
        /// The cluster.
        cluster: RestoredRef,
        /// `DBInstanceIdentifier`
        instance_identifier: String,
        /// `DBInstanceClass`
        instance_class: String,
        /// `Engine` (the cluster's).
        engine: String,
        /// Its tags (the cluster's provenance, and whose writer it is).
        tags: BTreeMap<String, String>,
    },
    /// Start the masking hook (`StartAutomationExecution`). The resource is tagged `masking`
    /// first, then with the execution id.
    StartHook {
        /// The restore to mask.
        resource: RestoredRef,
        /// `DocumentName`
        document: String,
        /// `Parameters`
        parameters: BTreeMap<String, Vec<String>>,
        /// `ClientToken`
        client_token: String,
    },
    /// Point the stable address at the restore: the SSM parameter (and the CNAME), then tag it
    /// `promoted`.
    Promote {
        /// The restore.
        resource: RestoredRef,
        /// The SSM parameter.
        parameter_name: String,
        /// Its new value.
        endpoint: String,
        /// The parameter's description (what it points at, since when).
        description: String,
        /// The CNAME, with a hosted zone.
        dns: Option<DnsChange>,
    },
    /// Delete a superseded restore. The effect layer reads its tags again first and deletes
    /// nothing that does not carry crossvault's marker and `source_resource`'s provenance.
    DeleteRestore {
        /// The restore.
        resource: RestoredRef,
        /// The production resource it must be a restore of.
        source_resource: String,
        /// Why it goes.
        reason: String,
    },
}

impl fmt::Display for RestoreAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StartRestoreJob {
                recovery_point_arn,
                resource_type,
                iam_role_arn,
                metadata,
                idempotency_token,
                attempt,
                name,
                source_resource_arn,
            } => {
                writeln!(f, "start restore job ({resource_type}, attempt {attempt})")?;
                writeln!(f, "     recovery point  {recovery_point_arn}")?;
                writeln!(f, "     of              {source_resource_arn}")?;
                writeln!(f, "     as              {name}")?;
                writeln!(f, "     role            {iam_role_arn}")?;
                if metadata.is_empty() {
                    writeln!(
                        f,
                        "     metadata        the point's restore metadata (read when deployed)"
                    )?;
                }
                for (k, v) in metadata {
                    writeln!(f, "     metadata        {k} = {v}")?;
                }
                write!(f, "     token           {idempotency_token}")
            }
            Self::TagRestore {
                resource,
                tags,
                reason,
            } => {
                writeln!(f, "tag restore {resource}: {reason}")?;
                let mut first = true;
                for (k, v) in tags {
                    if !first {
                        writeln!(f)?;
                    }
                    first = false;
                    write!(f, "     {k} = {v}")?;
                }
                Ok(())
            }
            Self::CreateWriter {
                cluster,
                instance_identifier,
                instance_class,
                engine,
                ..
            } => write!(
                f,
                "create writer instance {instance_identifier} ({instance_class}, {engine}) in {cluster}"
            ),
            Self::StartHook {
                resource,
                document,
                parameters,
                client_token,
            } => {
                writeln!(f, "run masking hook {document} on {resource}")?;
                for (k, v) in parameters {
                    writeln!(f, "     {k:<17} {}", v.join(","))?;
                }
                write!(f, "     client token      {client_token}")
            }
            Self::Promote {
                resource,
                parameter_name,
                endpoint,
                dns,
                ..
            } => {
                writeln!(f, "promote {resource}")?;
                write!(f, "     parameter       {parameter_name} = {endpoint}")?;
                if let Some(dns) = dns {
                    write!(
                        f,
                        "\n     CNAME           {} -> {} (zone {})",
                        dns.record_name, dns.target, dns.hosted_zone_id
                    )?;
                }
                Ok(())
            }
            Self::DeleteRestore {
                resource, reason, ..
            } => write!(f, "delete restore {resource}: {reason}"),
        }
    }
}
