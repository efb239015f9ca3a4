//! The masking hook: an SSM Automation document run against a new restore before it is
//! promoted (a Lambda hook runs through crossvault's own one-step document). It is started with
//! the restore's endpoint and its provenance; its completion comes back as EventBridge's
//! `EC2 Automation Execution Status-change Notification`, and the reconciler reads executions
//! that event missed (`GetAutomationExecution`).
//!
//! The parameters crossvault passes (the document must declare them):
//!
//! | parameter | value |
//! |---|---|
//! | `ResourceArn` | the restored resource |
//! | `ResourceType` | `RDS`, `Aurora`, `DynamoDB` or `EFS` |
//! | `Endpoint` | `host:port`, the table name or the file system's DNS name |
//! | `SourceResourceArn` | the production resource |
//! | `RecoveryPointArn` | the pre-prod recovery point restored |

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::resource::{RECOVERY_POINT, RestoredResource, SOURCE_RESOURCE};

/// How an execution stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookStatus {
    /// Not finished.
    Running,
    /// Finished successfully: the restore may be promoted.
    Succeeded,
    /// Finished otherwise (failed, timed out, cancelled, rejected).
    Failed,
}

impl HookStatus {
    /// SSM's `AutomationExecutionStatus`.
    pub fn parse(status: &str) -> Self {
        match status {
            "Success" | "CompletedWithSuccess" => Self::Succeeded,
            "Failed"
            | "TimedOut"
            | "Cancelled"
            | "Rejected"
            | "CompletedWithFailure"
            | "ChangeCalendarOverrideRejected"
            | "Exited" => Self::Failed,
            _ => Self::Running,
        }
    }
}

impl fmt::Display for HookStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        })
    }
}

/// An execution, as `GetAutomationExecution` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookExecution {
    /// `AutomationExecutionId`
    pub execution_id: String,
    /// `DocumentName`
    pub document: String,
    /// SSM's status, verbatim.
    pub status_text: String,
    /// Its meaning.
    pub status: HookStatus,
    /// The `ResourceArn` parameter it was started with (`None`: not a crossvault hook run).
    pub resource_arn: Option<String>,
    /// `FailureMessage`
    pub failure_message: Option<String>,
}

/// The parameters of the hook for `restore`.
pub fn parameters(restore: &RestoredResource) -> BTreeMap<String, Vec<String>> {
    let one = |v: &str| vec![v.to_owned()];
    BTreeMap::from([
        ("ResourceArn".to_owned(), one(&restore.arn)),
        ("ResourceType".to_owned(), one(restore.kind.resource_type())),
        (
            "Endpoint".to_owned(),
            one(restore.endpoint.as_deref().unwrap_or_default()),
        ),
        (
            "SourceResourceArn".to_owned(),
            one(restore.tag(SOURCE_RESOURCE).unwrap_or_default()),
        ),
        (
            "RecoveryPointArn".to_owned(),
            one(restore.tag(RECOVERY_POINT).unwrap_or_default()),
        ),
    ])
}

/// Whether `document` (as configured: a name or an ARN) is the document SSM reports by
/// `reported` (a name, or an ARN for a shared document).
pub fn same_document(configured: &str, reported: &str) -> bool {
    let name = |d: &str| d.rsplit_once(":document/").map_or(d, |(_, n)| n).to_owned();
    configured == reported || name(configured) == name(reported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(HookStatus::parse("Success"), HookStatus::Succeeded);
        for s in ["Failed", "TimedOut", "Cancelled", "CompletedWithFailure"] {
            assert_eq!(HookStatus::parse(s), HookStatus::Failed, "{s}");
        }
        for s in ["Pending", "InProgress", "Waiting", "Cancelling", "Unknown"] {
            assert_eq!(HookStatus::parse(s), HookStatus::Running, "{s}");
        }
    }

    #[test]
    fn documents_by_name_or_arn() {
        assert!(same_document("mask", "mask"));
        assert!(same_document(
            "arn:aws:ssm:eu-west-1:444444444444:document/mask",
            "mask"
        ));
        assert!(!same_document("mask", "mask-other"));
    }
}
