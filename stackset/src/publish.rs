//! Artifact buckets and uploads: `<prefix>-<region>` in every target region (Lambda reads its
//! code only from a bucket in its own region), created if missing and kept to crossvault's
//! settings, the handler zip under its content-hash key and the template beside it.
//!
//! Bucket settings follow AWS's security reference architecture staging bucket: versioning,
//! SSE-S3 (no KMS key that every account would need a grant on), all public access blocked,
//! ACLs disabled, TLS only, nothing for principals outside the organization, and `GetObject`
//! only for the StackSet execution roles (and the management stack's deployer, when named).

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, ObjectOwnership,
    OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::aws::Clients;
use crate::config::{Config, Permission};
use crate::deployment::{PublishedArtifact, TemplateSource};
use crate::error::{CliError, aws, error_code};
use crate::output::{Progress, Report, Table};

/// The bucket of `region`.
pub fn bucket_name(prefix: &str, region: &str) -> String {
    format!("{prefix}-{region}")
}

/// The roles allowed to read the artifacts: the StackSet execution roles of the permission
/// model in use, and the management stack's deployer when crossvault assumes one.
pub fn reader_arns(config: &Config) -> Vec<String> {
    let mut arns = match &config.permission {
        Permission::ServiceManaged { .. } => vec!["arn:*:iam::*:role/stacksets-exec-*".to_owned()],
        Permission::SelfManaged {
            execution_role_name,
            ..
        } => vec![format!(
            "arn:*:iam::*:role/{}",
            execution_role_name
                .as_deref()
                .unwrap_or("AWSCloudFormationStackSetExecutionRole")
        )],
    };
    if let Some(role) = &config.management_stack.role_arn {
        arns.push(role.clone());
    }
    arns
}

/// The bucket policy.
pub fn bucket_policy(bucket: &str, organization_id: &str, readers: &[String]) -> Value {
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let objects = format!("{bucket_arn}/*");
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyOutsideTheOrganization",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects],
                "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": organization_id}}
            },
            {
                "Sid": "DenyWithoutTLS",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            },
            {
                "Sid": "StackSetExecutionRolesRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": objects,
                "Condition": {
                    "StringEquals": {"aws:PrincipalOrgID": organization_id},
                    "ArnLike": {"aws:PrincipalArn": readers}
                }
            }
        ]
    })
}

/// What publish did in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionResult {
    pub region: String,
    pub bucket: String,
    pub bucket_created: bool,
    /// Settings that were missing or different and were set.
    pub settings_fixed: Vec<String>,
    pub artifact: Upload,
    pub template: Upload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Upload {
    Uploaded,
    /// The object was there with the same content: nothing sent.
    AlreadyThere,
}

impl std::fmt::Display for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Uploaded => "uploaded",
            Self::AlreadyThere => "already there",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    pub artifact_key: String,
    pub artifact_sha256: String,
    pub template_key: String,
    pub organization_id: String,
    pub regions: Vec<RegionResult>,
}

impl PublishReport {
    pub fn uploads(&self) -> usize {
        self.regions
            .iter()
            .map(|r| {
                usize::from(r.artifact == Upload::Uploaded)
                    + usize::from(r.template == Upload::Uploaded)
            })
            .sum()
    }
}

impl std::fmt::Display for PublishReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "ArtifactKey  {}", self.artifact_key)?;
        writeln!(f, "template     {}", self.template_key)?;
        writeln!(f)?;
        let mut t = Table::new(["region", "bucket", "bucket state", "artifact", "template"]);
        for r in &self.regions {
            let state = if r.bucket_created {
                "created".to_owned()
            } else if r.settings_fixed.is_empty() {
                "as configured".to_owned()
            } else {
                format!("fixed: {}", r.settings_fixed.join(", "))
            };
            t.row([
                r.region.clone(),
                r.bucket.clone(),
                state,
                r.artifact.to_string(),
                r.template.to_string(),
            ]);
        }
        write!(f, "{t}")?;
        write!(
            f,
            "\n{} upload(s), {} region(s)",
            self.uploads(),
            self.regions.len()
        )
    }
}

impl Report for PublishReport {}

/// Publishes the artifact and the template to every region of `config`: every bucket is
/// ready and holds both objects before this returns, or it fails naming the region.
pub async fn publish(
    clients: &Clients,
    config: &Config,
    artifact: &PublishedArtifact,
    template: &TemplateSource,
    organization_id: &str,
    account_id: &str,
    progress: &Progress,
) -> Result<PublishReport, CliError> {
    let zip = std::fs::read(&artifact.path).map_err(|source| CliError::Read {
        path: artifact.path.clone(),
        source,
    })?;
    let readers = reader_arns(config);
    progress.start_bar(
        config.regions.len() as u64,
        format!(
            "publishing {} and the template to {} region(s)",
            artifact.key,
            config.regions.len()
        ),
    );
    let work = config.regions.iter().map(|region| {
        let zip = &zip;
        let readers = &readers;
        async move {
            let result = publish_region(
                clients,
                config,
                region,
                zip,
                artifact,
                template,
                organization_id,
                account_id,
                readers,
            )
            .await;
            if let Ok(r) = &result {
                progress.tick(format!(
                    "{}: s3://{}/{} {}",
                    r.region, r.bucket, artifact.key, r.artifact
                ));
            }
            result
        }
    });
    let results: Vec<Result<RegionResult, CliError>> = futures::stream::iter(work)
        .buffer_unordered(8)
        .collect()
        .await;
    progress.finish();
    let mut regions = Vec::new();
    for r in results {
        regions.push(r?);
    }
    regions.sort_by(|a, b| a.region.cmp(&b.region));
    Ok(PublishReport {
        artifact_key: artifact.key.clone(),
        artifact_sha256: artifact.sha256.clone(),
        template_key: template.key.clone(),
        organization_id: organization_id.to_owned(),
        regions,
    })
}

#[allow(clippy::too_many_arguments)]
async fn publish_region(
    clients: &Clients,
    config: &Config,
    region: &str,
    zip: &[u8],
    artifact: &PublishedArtifact,
    template: &TemplateSource,
    organization_id: &str,
    account_id: &str,
    readers: &[String],
) -> Result<RegionResult, CliError> {
    let s3 = clients.s3(region)?;
    let bucket = bucket_name(&config.artifact_bucket_prefix, region);
    let bucket_created = ensure_bucket(s3, &bucket, region, account_id).await?;
    let settings_fixed = ensure_settings(
        s3,
        &bucket,
        &bucket_policy(&bucket, organization_id, readers),
        bucket_created,
    )
    .await?;
    let artifact_upload = put_once(
        s3,
        &bucket,
        &artifact.key,
        zip,
        &artifact.sha256,
        "application/zip",
    )
    .await?;
    let template_upload = put_once(
        s3,
        &bucket,
        &template.key,
        template.text.as_bytes(),
        &template.sha256,
        "application/x-yaml",
    )
    .await?;
    Ok(RegionResult {
        region: region.to_owned(),
        bucket,
        bucket_created,
        settings_fixed: if bucket_created {
            Vec::new()
        } else {
            settings_fixed
        },
        artifact: artifact_upload,
        template: template_upload,
    })
}

/// Creates the bucket unless this account already owns it. A bucket of that name owned by
/// someone else is an error: crossvault never writes into a bucket it does not own.
async fn ensure_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
    account_id: &str,
) -> Result<bool, CliError> {
    let head = s3
        .head_bucket()
        .bucket(bucket)
        .expected_bucket_owner(account_id)
        .send()
        .await;
    match head {
        Ok(_) => return Ok(false),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            if status != Some(404) {
                return Err(CliError::Refused {
                    message: format!(
                        "bucket {bucket} exists but is not this account's ({account_id}){}",
                        status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
                    ),
                    help: "bucket names are global: choose another artifact_bucket_prefix (e.g. \
                           with your organization id in it)"
                        .into(),
                });
            }
        }
    }
    let mut create = s3
        .create_bucket()
        .bucket(bucket)
        .object_ownership(ObjectOwnership::BucketOwnerEnforced);
    // us-east-1 takes no location constraint (and refuses its own name as one).
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => Ok(true),
        Err(e) if error_code(&e) == Some("BucketAlreadyOwnedByYou") => Ok(false),
        Err(e) if error_code(&e) == Some("BucketAlreadyExists") => Err(CliError::Refused {
            message: format!("bucket name {bucket} is taken by another account"),
            help: "bucket names are global: choose another artifact_bucket_prefix".into(),
        }),
        Err(e) => Err(aws(format!("s3:CreateBucket {bucket}"))(e)),
    }
}

/// Reads each setting and writes only those that differ; returns their names.
async fn ensure_settings(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    policy: &Value,
    fresh: bool,
) -> Result<Vec<String>, CliError> {
    let mut fixed = Vec::new();

    let pab = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    let current_pab = if fresh {
        None
    } else {
        s3.get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|o| o.public_access_block_configuration)
    };
    if current_pab.as_ref() != Some(&pab) {
        s3.put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(pab)
            .send()
            .await
            .map_err(aws(format!("s3:PutPublicAccessBlock {bucket}")))?;
        fixed.push("public access block".to_owned());
    }

    let versioned = !fresh
        && s3
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
            .map_err(aws(format!("s3:GetBucketVersioning {bucket}")))?
            .status
            == Some(BucketVersioningStatus::Enabled);
    if !versioned {
        s3.put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(aws(format!("s3:PutBucketVersioning {bucket}")))?;
        fixed.push("versioning".to_owned());
    }

    let encrypted = !fresh
        && s3
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|o| o.server_side_encryption_configuration)
            .is_some_and(|c| {
                c.rules.iter().any(|r| {
                    r.apply_server_side_encryption_by_default
                        .as_ref()
                        .is_some_and(|d| d.sse_algorithm == ServerSideEncryption::Aes256)
                })
            });
    if !encrypted {
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::Aes256)
                    .build()
                    .map_err(|e| CliError::Internal(e.to_string()))?,
            )
            .build();
        s3.put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(|e| CliError::Internal(e.to_string()))?,
            )
            .send()
            .await
            .map_err(aws(format!("s3:PutBucketEncryption {bucket}")))?;
        fixed.push("encryption".to_owned());
    }

    let owner_enforced = fresh
        || s3
            .get_bucket_ownership_controls()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|o| o.ownership_controls)
            .is_some_and(|c| {
                c.rules
                    .iter()
                    .any(|r| r.object_ownership == ObjectOwnership::BucketOwnerEnforced)
            });
    if !owner_enforced {
        s3.put_bucket_ownership_controls()
            .bucket(bucket)
            .ownership_controls(
                OwnershipControls::builder()
                    .rules(
                        OwnershipControlsRule::builder()
                            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                            .build()
                            .map_err(|e| CliError::Internal(e.to_string()))?,
                    )
                    .build()
                    .map_err(|e| CliError::Internal(e.to_string()))?,
            )
            .send()
            .await
            .map_err(aws(format!("s3:PutBucketOwnershipControls {bucket}")))?;
        fixed.push("object ownership".to_owned());
    }

    let current_policy: Option<Value> = if fresh {
        None
    } else {
        match s3.get_bucket_policy().bucket(bucket).send().await {
            Ok(o) => o.policy.and_then(|p| serde_json::from_str(&p).ok()),
            Err(e) if error_code(&e) == Some("NoSuchBucketPolicy") => None,
            Err(e) => return Err(aws(format!("s3:GetBucketPolicy {bucket}"))(e)),
        }
    };
    if current_policy.as_ref() != Some(policy) {
        s3.put_bucket_policy()
            .bucket(bucket)
            .policy(policy.to_string())
            .send()
            .await
            .map_err(aws(format!("s3:PutBucketPolicy {bucket}")))?;
        fixed.push("policy".to_owned());
    }
    Ok(fixed)
}

/// Uploads `body` under `key` unless the object is there already with the same SHA-256 (kept
/// in its metadata). A different object under a content-hash key is refused, not overwritten:
/// it means someone else wrote there.
async fn put_once(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: &[u8],
    sha256: &str,
    content_type: &str,
) -> Result<Upload, CliError> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(head) => {
            let theirs = head
                .metadata
                .as_ref()
                .and_then(|m| m.get("sha256"))
                .cloned()
                .unwrap_or_default();
            if theirs == sha256 {
                return Ok(Upload::AlreadyThere);
            }
            return Err(CliError::Refused {
                message: format!(
                    "s3://{bucket}/{key} exists with other content (sha256 {:?}, expected {sha256})",
                    theirs
                ),
                help: "crossvault's keys name their content: an object that does not match was \
                       written by something else. Inspect it, remove it, and publish again"
                    .into(),
            });
        }
        Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => {}
        Err(e) => return Err(aws(format!("s3:HeadObject s3://{bucket}/{key}"))(e)),
    }
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .content_type(content_type)
        .metadata("sha256", sha256)
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .map_err(aws(format!("s3:PutObject s3://{bucket}/{key}")))?;
    Ok(Upload::Uploaded)
}

/// The regions whose bucket lacks `key` (HEAD only).
pub async fn missing_objects(
    clients: &Clients,
    config: &Config,
    key: &str,
) -> Result<BTreeMap<String, String>, CliError> {
    let mut missing = BTreeMap::new();
    for region in &config.regions {
        let bucket = bucket_name(&config.artifact_bucket_prefix, region);
        match clients
            .s3(region)?
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_response().map(|r| r.status().as_u16()),
                    Some(404 | 403)
                ) =>
            {
                missing.insert(region.clone(), format!("s3://{bucket}/{key}"));
            }
            Err(e) => return Err(aws(format!("s3:HeadObject s3://{bucket}/{key}"))(e)),
        }
    }
    Ok(missing)
}

/// Deletes every object version of the bucket, then the bucket (`destroy --purge-artifacts`).
pub async fn purge_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<usize, CliError> {
    let mut deleted = 0;
    loop {
        let listed = match s3.list_object_versions().bucket(bucket).send().await {
            Ok(l) => l,
            Err(e) if error_code(&e) == Some("NoSuchBucket") => return Ok(deleted),
            Err(e) => return Err(aws(format!("s3:ListObjectVersions {bucket}"))(e)),
        };
        let mut ids: Vec<(String, Option<String>)> = Vec::new();
        for v in listed.versions.unwrap_or_default() {
            if let Some(k) = v.key {
                ids.push((k, v.version_id));
            }
        }
        for m in listed.delete_markers.unwrap_or_default() {
            if let Some(k) = m.key {
                ids.push((k, m.version_id));
            }
        }
        if ids.is_empty() {
            break;
        }
        for (key, version) in ids {
            s3.delete_object()
                .bucket(bucket)
                .key(&key)
                .set_version_id(version)
                .send()
                .await
                .map_err(aws(format!("s3:DeleteObject s3://{bucket}/{key}")))?;
            deleted += 1;
        }
    }
    match s3.delete_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(deleted),
        Err(e) if error_code(&e) == Some("NoSuchBucket") => Ok(deleted),
        Err(e) => Err(aws(format!("s3:DeleteBucket {bucket}"))(e)),
    }
}

/// The object's HTTPS URL (for `TemplateURL`).
pub fn object_url(clients: &Clients, bucket: &str, region: &str, key: &str) -> String {
    match clients.sdk.endpoint_url() {
        Some(endpoint) => format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/')),
        None => format!("https://{bucket}.s3.{region}.amazonaws.com/{key}"),
    }
}
