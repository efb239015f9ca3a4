//! A lenient model of the AWS Backup EventBridge events crossvault acts on (AWS docs).
//!
//! Quirks handled here, so no other module has to know them:
//! - the status is `detail.state` for backup and copy jobs (and CREATED restore jobs) but
//!   `detail.status` for recovery points and restore jobs: both keys are read, `state` first;
//! - sizes are strings in backup-job events and numbers in copy-job events;
//! - `detail.destinationRecoveryPointArn` is `{}` while a copy is RUNNING or FAILED (→ `None`);
//! - `detail.createdBy` appears only for plan-created jobs ([`Origin`]);
//! - recovery-point events carry `lifecycle.deleteAfterDays` / `moveToColdStorageAfterDays`
//!   and `calculatedLifeCycle` (capital C);
//! - dates are ISO-8601; `expectedCompletionDate` (not ISO) and every unknown field are ignored;
//! - `isEncrypted` is a string `"true"`/`"false"` (a JSON bool is accepted too).
//!
//! Every error names the JSON path of the missing or bad field.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::arn::VaultArn;
use crate::ids::{AccountId, Region};

/// A missing or malformed field in an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct EventError {
    /// JSON path of the field, e.g. `detail.sourceBackupVaultArn`.
    pub field: String,
    /// What is wrong, e.g. "expected an ARN string".
    pub problem: String,
}

impl EventError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// A job or recovery point status, normalised to upper case. Serializes as its upper-case
/// name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Status {
    /// CREATED
    Created,
    /// PENDING
    Pending,
    /// RUNNING
    Running,
    /// COMPLETED
    Completed,
    /// PARTIAL (composite jobs, partial recovery points)
    Partial,
    /// FAILED
    Failed,
    /// ABORTED
    Aborted,
    /// EXPIRED
    Expired,
    /// AVAILABLE (recovery points, as listed by the Backup API)
    Available,
    /// Anything else, kept verbatim.
    Other(String),
}

impl Status {
    /// Parses a status case-insensitively; unknown values become [`Status::Other`].
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_uppercase().as_str() {
            "CREATED" => Status::Created,
            "PENDING" => Status::Pending,
            "RUNNING" => Status::Running,
            "COMPLETED" => Status::Completed,
            "PARTIAL" => Status::Partial,
            "FAILED" => Status::Failed,
            "ABORTED" => Status::Aborted,
            "EXPIRED" => Status::Expired,
            "AVAILABLE" => Status::Available,
            _ => Status::Other(s.to_owned()),
        }
    }

    /// CREATED, PENDING or RUNNING: the job has not finished yet.
    pub fn is_in_progress(&self) -> bool {
        matches!(self, Status::Created | Status::Pending | Status::Running)
    }

    /// FAILED, ABORTED, EXPIRED or PARTIAL: the job finished without doing all its work.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Aborted | Status::Expired | Status::Partial
        )
    }
}

impl From<String> for Status {
    fn from(s: String) -> Self {
        Status::parse(&s)
    }
}

impl From<Status> for String {
    fn from(s: Status) -> String {
        s.to_string()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Created => "CREATED",
            Status::Pending => "PENDING",
            Status::Running => "RUNNING",
            Status::Completed => "COMPLETED",
            Status::Partial => "PARTIAL",
            Status::Failed => "FAILED",
            Status::Aborted => "ABORTED",
            Status::Expired => "EXPIRED",
            Status::Available => "AVAILABLE",
            Status::Other(s) => s,
        })
    }
}

/// A recovery point's storage tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    /// WARM
    Warm,
    /// COLD
    Cold,
    /// DELETED
    Deleted,
}

impl StorageClass {
    /// Parses `WARM`/`COLD`/`DELETED` case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "WARM" => Some(StorageClass::Warm),
            "COLD" => Some(StorageClass::Cold),
            "DELETED" => Some(StorageClass::Deleted),
            _ => None,
        }
    }
}

/// Who started a job: a backup plan (`detail.createdBy` present) or someone on demand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Origin {
    /// No `createdBy` (or one without plan fields): an on-demand job.
    OnDemand,
    /// Started by a backup plan.
    Plan {
        /// `createdBy.backupPlanId`
        plan_id: Option<String>,
        /// `createdBy.backupPlanArn`
        plan_arn: Option<String>,
        /// `createdBy.backupPlanRuleId`
        rule_id: Option<String>,
    },
}

/// The lifecycle a recovery point event reports (`detail.lifecycle`). AWS uses -1 for
/// "not set"; such values are read as `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct EventLifecycle {
    /// `lifecycle.deleteAfterDays`
    pub delete_after_days: Option<u32>,
    /// `lifecycle.moveToColdStorageAfterDays`
    pub move_to_cold_storage_after_days: Option<u32>,
}

/// The envelope fields every event carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventMeta {
    /// `id`
    pub id: String,
    /// `detail-type`
    pub detail_type: String,
    /// `source`
    pub source: String,
    /// `account`: the account that emitted the event.
    pub account: AccountId,
    /// `region`: the region that emitted the event.
    pub region: Region,
    /// `time`
    pub time: Option<DateTime<Utc>>,
    /// `resources`
    pub resources: Vec<String>,
}

/// `Backup Job State Change`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupJobEvent {
    /// Envelope.
    pub meta: EventMeta,
    /// `detail.backupJobId`
    pub backup_job_id: String,
    /// `detail.state`
    pub state: Status,
    /// `detail.backupVaultArn`
    pub backup_vault_arn: VaultArn,
    /// `detail.backupVaultName`
    pub backup_vault_name: Option<String>,
    /// `resources[0]`: the new recovery point (only meaningful when COMPLETED).
    pub recovery_point_arn: Option<String>,
    /// `detail.resourceArn`
    pub resource_arn: Option<String>,
    /// `detail.resourceType`
    pub resource_type: Option<String>,
    /// `detail.creationDate`
    pub creation_date: Option<DateTime<Utc>>,
    /// `detail.completionDate`
    pub completion_date: Option<DateTime<Utc>>,
    /// `detail.backupSizeInBytes`
    pub backup_size_in_bytes: Option<u64>,
    /// `detail.statusMessage`
    pub status_message: Option<String>,
    /// `detail.createdBy`
    pub origin: Origin,
}

/// `Copy Job State Change` (emitted in the source vault's account and region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyJobEvent {
    /// Envelope.
    pub meta: EventMeta,
    /// `detail.copyJobId` (absent in CREATED events)
    pub copy_job_id: Option<String>,
    /// `detail.state`
    pub state: Status,
    /// `resources[0]`: the source recovery point.
    pub source_recovery_point_arn: Option<String>,
    /// `detail.sourceBackupVaultArn`
    pub source_backup_vault_arn: VaultArn,
    /// `detail.destinationBackupVaultArn`
    pub destination_backup_vault_arn: VaultArn,
    /// `detail.destinationRecoveryPointArn` (`{}` → `None`)
    pub destination_recovery_point_arn: Option<String>,
    /// `detail.resourceArn`
    pub resource_arn: Option<String>,
    /// `detail.resourceType`
    pub resource_type: Option<String>,
    /// `detail.creationDate`
    pub creation_date: Option<DateTime<Utc>>,
    /// `detail.completionDate`
    pub completion_date: Option<DateTime<Utc>>,
    /// `detail.backupSizeInBytes`
    pub backup_size_in_bytes: Option<u64>,
    /// `detail.statusMessage`
    pub status_message: Option<String>,
}

/// `Recovery Point State Change`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryPointEvent {
    /// Envelope.
    pub meta: EventMeta,
    /// `resources[0]`
    pub recovery_point_arn: String,
    /// `detail.status`
    pub status: Status,
    /// `detail.backupVaultArn`
    pub backup_vault_arn: VaultArn,
    /// `detail.backupVaultName`
    pub backup_vault_name: Option<String>,
    /// `detail.resourceArn`: the original resource (in the source account, also for copies).
    pub resource_arn: Option<String>,
    /// `detail.resourceType`
    pub resource_type: Option<String>,
    /// `detail.creationDate` (copies inherit the original's)
    pub creation_date: Option<DateTime<Utc>>,
    /// `detail.completionDate`
    pub completion_date: Option<DateTime<Utc>>,
    /// `detail.storageClass`
    pub storage_class: Option<StorageClass>,
    /// `detail.lifecycle`
    pub lifecycle: EventLifecycle,
    /// `detail.calculatedLifeCycle.deleteAt`
    pub delete_at: Option<DateTime<Utc>>,
    /// `detail.calculatedLifeCycle.moveToColdStorageAt`
    pub move_to_cold_storage_at: Option<DateTime<Utc>>,
    /// `detail.isEncrypted`
    pub is_encrypted: Option<bool>,
    /// `detail.statusMessage`
    pub status_message: Option<String>,
    /// `detail.createdBy`
    pub origin: Origin,
}

/// `Restore Job State Change`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreJobEvent {
    /// Envelope.
    pub meta: EventMeta,
    /// `detail.restoreJobId`
    pub restore_job_id: String,
    /// `detail.status` (or `detail.state` for CREATED)
    pub status: Status,
    /// `detail.recoveryPointArn` or `resources[0]`
    pub recovery_point_arn: Option<String>,
    /// `detail.backupVaultArn`
    pub backup_vault_arn: Option<String>,
    /// `detail.resourceType`
    pub resource_type: Option<String>,
    /// `detail.sourceResourceArn`
    pub source_resource_arn: Option<String>,
    /// `detail.createdResourceArn`
    pub created_resource_arn: Option<String>,
    /// `detail.statusMessage`
    pub status_message: Option<String>,
    /// `detail.completionDate`
    pub completion_date: Option<DateTime<Utc>>,
    /// `detail.creationDate`
    pub creation_date: Option<DateTime<Utc>>,
    /// `detail.iamRoleArn`: the role the restore ran as (crossvault's restore role for its
    /// own restores).
    pub iam_role_arn: Option<String>,
}

/// An AWS Backup event, by `detail-type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackupEvent {
    /// `Backup Job State Change`
    BackupJob(BackupJobEvent),
    /// `Copy Job State Change`
    CopyJob(CopyJobEvent),
    /// `Recovery Point State Change`
    RecoveryPoint(RecoveryPointEvent),
    /// `Restore Job State Change`
    RestoreJob(RestoreJobEvent),
    /// The pre-prod masking hook's completion (`aws.ssm`).
    Automation(crate::restore::events::AutomationEvent),
    /// A new RDS DB instance (`aws.rds`): a restore that became usable.
    RdsInstance(crate::restore::events::RdsInstanceEvent),
    /// Any other detail-type (not parsed further).
    Other {
        /// `detail-type`
        detail_type: String,
    },
}

impl BackupEvent {
    /// Parses an EventBridge event.
    pub fn from_value(value: &Value) -> Result<Self, EventError> {
        let root = value
            .as_object()
            .ok_or_else(|| EventError::new("(event)", "expected a JSON object"))?;
        let detail_type = req_str(root, "", "detail-type")?;
        use crate::restore::events::{
            self as restore_events, AUTOMATION_STATUS_CHANGE, RDS_INSTANCE_EVENT,
        };
        let known = matches!(
            detail_type,
            "Backup Job State Change"
                | "Copy Job State Change"
                | "Recovery Point State Change"
                | "Restore Job State Change"
                | AUTOMATION_STATUS_CHANGE
                | RDS_INSTANCE_EVENT
        );
        if !known {
            return Ok(BackupEvent::Other {
                detail_type: detail_type.to_owned(),
            });
        }
        let meta = parse_meta(root, detail_type)?;
        let detail = root
            .get("detail")
            .and_then(Value::as_object)
            .ok_or_else(|| EventError::new("detail", "expected an object"))?;
        let d = Detail { map: detail };
        Ok(match detail_type {
            AUTOMATION_STATUS_CHANGE => {
                BackupEvent::Automation(restore_events::automation(meta, detail)?)
            }
            RDS_INSTANCE_EVENT => {
                BackupEvent::RdsInstance(restore_events::rds_instance(meta, detail)?)
            }
            "Backup Job State Change" => BackupEvent::BackupJob(BackupJobEvent {
                backup_job_id: d.req_str("backupJobId")?.to_owned(),
                state: d.status()?,
                backup_vault_arn: d.req_vault_arn("backupVaultArn")?,
                backup_vault_name: d.opt_str("backupVaultName")?,
                recovery_point_arn: meta.resources.first().cloned(),
                resource_arn: d.opt_str("resourceArn")?,
                resource_type: d.opt_str("resourceType")?,
                creation_date: d.opt_date("creationDate")?,
                completion_date: d.opt_date("completionDate")?,
                backup_size_in_bytes: d.opt_u64("backupSizeInBytes")?,
                status_message: d.opt_str("statusMessage")?,
                origin: d.origin()?,
                meta,
            }),
            "Copy Job State Change" => BackupEvent::CopyJob(CopyJobEvent {
                copy_job_id: d.opt_str("copyJobId")?,
                state: d.status()?,
                source_recovery_point_arn: meta.resources.first().cloned(),
                source_backup_vault_arn: d.req_vault_arn("sourceBackupVaultArn")?,
                destination_backup_vault_arn: d.req_vault_arn("destinationBackupVaultArn")?,
                destination_recovery_point_arn: d
                    .opt_arn_or_empty("destinationRecoveryPointArn")?,
                resource_arn: d.opt_str("resourceArn")?,
                resource_type: d.opt_str("resourceType")?,
                creation_date: d.opt_date("creationDate")?,
                completion_date: d.opt_date("completionDate")?,
                backup_size_in_bytes: d.opt_u64("backupSizeInBytes")?,
                status_message: d.opt_str("statusMessage")?,
                meta,
            }),
            "Recovery Point State Change" => {
                let recovery_point_arn = meta.resources.first().cloned().ok_or_else(|| {
                    EventError::new("resources[0]", "expected the recovery point ARN")
                })?;
                let lifecycle = match d.map.get("lifecycle") {
                    None | Some(Value::Null) => EventLifecycle::default(),
                    Some(Value::Object(l)) => EventLifecycle {
                        delete_after_days: opt_days(l, "detail.lifecycle.deleteAfterDays")?,
                        move_to_cold_storage_after_days: opt_days(
                            l,
                            "detail.lifecycle.moveToColdStorageAfterDays",
                        )?,
                    },
                    Some(_) => {
                        return Err(EventError::new("detail.lifecycle", "expected an object"));
                    }
                };
                let (delete_at, move_to_cold_storage_at) = match d.map.get("calculatedLifeCycle") {
                    None | Some(Value::Null) => (None, None),
                    Some(Value::Object(c)) => (
                        opt_date(c, "detail.calculatedLifeCycle", "deleteAt")?,
                        opt_date(c, "detail.calculatedLifeCycle", "moveToColdStorageAt")?,
                    ),
                    Some(_) => {
                        return Err(EventError::new(
                            "detail.calculatedLifeCycle",
                            "expected an object",
                        ));
                    }
                };
                BackupEvent::RecoveryPoint(RecoveryPointEvent {
                    recovery_point_arn,
                    status: d.status()?,
                    backup_vault_arn: d.req_vault_arn("backupVaultArn")?,
                    backup_vault_name: d.opt_str("backupVaultName")?,
                    resource_arn: d.opt_str("resourceArn")?,
                    resource_type: d.opt_str("resourceType")?,
                    creation_date: d.opt_date("creationDate")?,
                    completion_date: d.opt_date("completionDate")?,
                    storage_class: d.storage_class()?,
                    lifecycle,
                    delete_at,
                    move_to_cold_storage_at,
                    is_encrypted: d.opt_bool("isEncrypted")?,
                    status_message: d.opt_str("statusMessage")?,
                    origin: d.origin()?,
                    meta,
                })
            }
            _ => BackupEvent::RestoreJob(RestoreJobEvent {
                restore_job_id: d.req_str("restoreJobId")?.to_owned(),
                status: d.status()?,
                recovery_point_arn: match d.opt_str("recoveryPointArn")? {
                    Some(arn) => Some(arn),
                    None => meta.resources.first().cloned(),
                },
                backup_vault_arn: d.opt_str("backupVaultArn")?,
                resource_type: d.opt_str("resourceType")?,
                source_resource_arn: d.opt_str("sourceResourceArn")?,
                created_resource_arn: d.opt_str("createdResourceArn")?,
                status_message: d.opt_str("statusMessage")?,
                completion_date: d.opt_date("completionDate")?,
                creation_date: d.opt_date("creationDate")?,
                iam_role_arn: d.opt_str("iamRoleArn")?,
                meta,
            }),
        })
    }

    /// The envelope, for every kind except [`BackupEvent::Other`].
    pub fn meta(&self) -> Option<&EventMeta> {
        match self {
            BackupEvent::BackupJob(e) => Some(&e.meta),
            BackupEvent::CopyJob(e) => Some(&e.meta),
            BackupEvent::RecoveryPoint(e) => Some(&e.meta),
            BackupEvent::RestoreJob(e) => Some(&e.meta),
            BackupEvent::Automation(e) => Some(&e.meta),
            BackupEvent::RdsInstance(e) => Some(&e.meta),
            BackupEvent::Other { .. } => None,
        }
    }

    /// The `source` AWS emits this kind of event with.
    pub fn expected_source(&self) -> &'static str {
        match self {
            BackupEvent::Automation(_) => crate::restore::events::SSM_SOURCE,
            BackupEvent::RdsInstance(_) => crate::restore::events::RDS_SOURCE,
            _ => "aws.backup",
        }
    }

    /// The `detail-type`.
    pub fn detail_type(&self) -> &str {
        match self {
            BackupEvent::Other { detail_type } => detail_type,
            other => &other.meta().expect("known kinds have a meta").detail_type,
        }
    }
}

impl TryFrom<&Value> for BackupEvent {
    type Error = EventError;
    fn try_from(value: &Value) -> Result<Self, EventError> {
        Self::from_value(value)
    }
}

fn parse_meta(root: &Map<String, Value>, detail_type: &str) -> Result<EventMeta, EventError> {
    let account = req_str(root, "", "account")?;
    let account = AccountId::new(account).map_err(|e| EventError::new("account", e.to_string()))?;
    let region = req_str(root, "", "region")?;
    let region = Region::new(region).map_err(|e| EventError::new("region", e.to_string()))?;
    let resources = match root.get("resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| EventError::new(format!("resources[{i}]"), "expected a string"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(EventError::new("resources", "expected an array of ARNs")),
    };
    Ok(EventMeta {
        id: opt_str(root, "", "id")?.unwrap_or_default(),
        detail_type: detail_type.to_owned(),
        source: opt_str(root, "", "source")?.unwrap_or_default(),
        account,
        region,
        time: opt_date(root, "", "time")?,
        resources,
    })
}

fn path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn req_str<'a>(
    map: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<&'a str, EventError> {
    match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        None | Some(Value::Null) => Err(EventError::new(path(prefix, key), "missing")),
        Some(_) => Err(EventError::new(
            path(prefix, key),
            "expected a non-empty string",
        )),
    }
}

fn opt_str(
    map: &Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<Option<String>, EventError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(EventError::new(path(prefix, key), "expected a string")),
    }
}

fn opt_date(
    map: &Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<Option<DateTime<Utc>>, EventError> {
    match opt_str(map, prefix, key)? {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(&s)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| {
                EventError::new(
                    path(prefix, key),
                    format!("expected an ISO-8601 date, got {s:?}"),
                )
            }),
    }
}

fn opt_days(map: &Map<String, Value>, field: &str) -> Result<Option<u32>, EventError> {
    let key = field.rsplit('.').next().unwrap_or(field);
    let n = match map.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match n {
        Some(n) if n < 0 => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| EventError::new(field, "number of days out of range")),
        None => Err(EventError::new(field, "expected a whole number of days")),
    }
}

struct Detail<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Detail<'a> {
    fn req_str(&self, key: &str) -> Result<&'a str, EventError> {
        req_str(self.map, "detail", key)
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, EventError> {
        opt_str(self.map, "detail", key)
    }

    fn opt_date(&self, key: &str) -> Result<Option<DateTime<Utc>>, EventError> {
        opt_date(self.map, "detail", key)
    }

    fn req_vault_arn(&self, key: &str) -> Result<VaultArn, EventError> {
        match self.map.get(key) {
            Some(Value::String(s)) if s.starts_with("arn:") => {
                VaultArn::parse(s).map_err(|e| EventError::new(path("detail", key), e.to_string()))
            }
            None | Some(Value::Null) => Err(EventError::new(
                path("detail", key),
                "missing (expected an ARN string)",
            )),
            _ => Err(EventError::new(
                path("detail", key),
                "expected an ARN string",
            )),
        }
    }

    /// An ARN, or `{}` / `""` / null for "none yet".
    fn opt_arn_or_empty(&self, key: &str) -> Result<Option<String>, EventError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(o)) if o.is_empty() => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) if s.starts_with("arn:") => Ok(Some(s.clone())),
            Some(_) => Err(EventError::new(
                path("detail", key),
                "expected an ARN string or {}",
            )),
        }
    }

    /// `state`, else `status` (see the module docs).
    fn status(&self) -> Result<Status, EventError> {
        for key in ["state", "status"] {
            match self.map.get(key) {
                Some(Value::String(s)) if !s.is_empty() => return Ok(Status::parse(s)),
                None | Some(Value::Null) => {}
                Some(_) => return Err(EventError::new(path("detail", key), "expected a string")),
            }
        }
        Err(EventError::new(
            "detail.state",
            "missing (neither detail.state nor detail.status)",
        ))
    }

    fn opt_u64(&self, key: &str) -> Result<Option<u64>, EventError> {
        let bad = || {
            EventError::new(
                path("detail", key),
                "expected a size in bytes (number or numeric string)",
            )
        };
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                .map(Some)
                .ok_or_else(bad),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                s.parse::<u64>()
                    .ok()
                    .or_else(|| {
                        s.parse::<f64>()
                            .ok()
                            .filter(|f| *f >= 0.0)
                            .map(|f| f as u64)
                    })
                    .map(Some)
                    .ok_or_else(bad)
            }
            Some(_) => Err(bad()),
        }
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, EventError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(EventError::new(
                path("detail", key),
                "expected \"true\" or \"false\"",
            )),
        }
    }

    fn storage_class(&self) -> Result<Option<StorageClass>, EventError> {
        match self.opt_str("storageClass")? {
            None => Ok(None),
            Some(s) => StorageClass::parse(&s).map(Some).ok_or_else(|| {
                EventError::new(
                    "detail.storageClass",
                    format!("expected WARM, COLD or DELETED, got {s:?}"),
                )
            }),
        }
    }

    /// `createdBy` with a plan id or ARN → plan; otherwise on demand. (The documented
    /// on-demand filter tests `backupPlanArn`; recovery-point events may carry only
    /// `backupPlanId`, which also counts as a plan.)
    fn origin(&self) -> Result<Origin, EventError> {
        match self.map.get("createdBy") {
            None | Some(Value::Null) => Ok(Origin::OnDemand),
            Some(Value::Object(c)) => {
                let plan_id = opt_str(c, "detail.createdBy", "backupPlanId")?;
                let plan_arn = opt_str(c, "detail.createdBy", "backupPlanArn")?;
                let rule_id = opt_str(c, "detail.createdBy", "backupPlanRuleId")?;
                if plan_id.is_none() && plan_arn.is_none() {
                    Ok(Origin::OnDemand)
                } else {
                    Ok(Origin::Plan {
                        plan_id,
                        plan_arn,
                        rule_id,
                    })
                }
            }
            Some(_) => Err(EventError::new("detail.createdBy", "expected an object")),
        }
    }
}
