//! The two events a refresh needs besides AWS Backup's own: the masking hook's completion
//! (`aws.ssm` `EC2 Automation Execution Status-change Notification`) and a new DB instance
//! (`aws.rds` `RDS DB Instance Event`, `RDS-EVENT-0005` "DB instance created": a restore or an
//! Aurora writer that became usable after its restore job finished). Their `detail` fields
//! are PascalCase; times in the SSM event are not ISO-8601 and are not read.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::event::{EventError, EventMeta};

/// `detail-type` of the masking hook's completion.
pub const AUTOMATION_STATUS_CHANGE: &str = "EC2 Automation Execution Status-change Notification";
/// `detail-type` of RDS instance events.
pub const RDS_INSTANCE_EVENT: &str = "RDS DB Instance Event";
/// The source of [`AUTOMATION_STATUS_CHANGE`].
pub const SSM_SOURCE: &str = "aws.ssm";
/// The source of [`RDS_INSTANCE_EVENT`].
pub const RDS_SOURCE: &str = "aws.rds";
/// RDS's "DB instance created" (also sent for an instance restored from a snapshot).
pub const RDS_INSTANCE_CREATED: &str = "RDS-EVENT-0005";

/// An SSM Automation execution changed status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutomationEvent {
    /// Envelope.
    pub meta: EventMeta,
    /// `detail.ExecutionId`
    pub execution_id: String,
    /// `detail.Definition`: the document.
    pub definition: String,
    /// `detail.Status`
    pub status: String,
}

/// An RDS DB instance event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RdsInstanceEvent {
    /// Envelope.
    pub meta: EventMeta,
    /// `detail.EventID`
    pub event_id: Option<String>,
    /// `detail.SourceIdentifier`: the DB instance identifier.
    pub source_identifier: String,
    /// `detail.SourceArn`
    pub source_arn: Option<String>,
    /// `detail.Message`
    pub message: Option<String>,
}

fn field<'a>(detail: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, EventError> {
    match detail.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(EventError {
            field: format!("detail.{key}"),
            problem: "expected a string".into(),
        }),
    }
}

fn required<'a>(detail: &'a Map<String, Value>, key: &str) -> Result<&'a str, EventError> {
    field(detail, key)?.ok_or_else(|| EventError {
        field: format!("detail.{key}"),
        problem: "missing".into(),
    })
}

/// Parses the `detail` of an [`AUTOMATION_STATUS_CHANGE`].
pub fn automation(
    meta: EventMeta,
    detail: &Map<String, Value>,
) -> Result<AutomationEvent, EventError> {
    Ok(AutomationEvent {
        execution_id: required(detail, "ExecutionId")?.to_owned(),
        definition: required(detail, "Definition")?.to_owned(),
        status: required(detail, "Status")?.to_owned(),
        meta,
    })
}

/// Parses the `detail` of an [`RDS_INSTANCE_EVENT`].
pub fn rds_instance(
    meta: EventMeta,
    detail: &Map<String, Value>,
) -> Result<RdsInstanceEvent, EventError> {
    Ok(RdsInstanceEvent {
        event_id: field(detail, "EventID")?.map(str::to_owned),
        source_identifier: required(detail, "SourceIdentifier")?.to_owned(),
        source_arn: field(detail, "SourceArn")?.map(str::to_owned),
        message: field(detail, "Message")?.map(str::to_owned),
        meta,
    })
}
