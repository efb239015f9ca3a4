//! Telling the event kinds apart by shape. One Lambda receives CloudFormation custom-resource
//! requests, SQS batches of AWS Backup events, direct EventBridge events and the reconcile
//! schedule; anything else is rejected with a message that says what was received.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Incoming {
    CustomResource,
    SqsBatch,
    /// An EventBridge event delivered directly (not through the queue).
    EventBridge,
    /// The reconcile schedule (`detail-type: Scheduled Event`, `source: aws.events`).
    Scheduled,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised event: {0}")]
pub struct Unrecognised(pub String);

pub fn classify(event: &Value) -> Result<Incoming, Unrecognised> {
    let Some(obj) = event.as_object() else {
        return Err(Unrecognised(format!(
            "expected a JSON object, got {}",
            crate::custom_resource::properties::kind_of(event)
        )));
    };
    if obj.contains_key("RequestType") || obj.contains_key("ResponseURL") {
        return Ok(Incoming::CustomResource);
    }
    if let Some(Value::Array(records)) = obj.get("Records") {
        let all_sqs = !records.is_empty()
            && records
                .iter()
                .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"));
        return if all_sqs {
            Ok(Incoming::SqsBatch)
        } else {
            Err(Unrecognised(
                "a Records batch that is not (only) from SQS; crossvault reads AWS Backup \
                 events from its SQS queue"
                    .into(),
            ))
        };
    }
    if let (Some(detail_type), Some(source)) = (
        obj.get("detail-type").and_then(Value::as_str),
        obj.get("source").and_then(Value::as_str),
    ) {
        return Ok(
            if source == "aws.events" && detail_type == "Scheduled Event" {
                Incoming::Scheduled
            } else {
                Incoming::EventBridge
            },
        );
    }
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.truncate(10);
    Err(Unrecognised(format!(
        "neither a CloudFormation request, an SQS batch nor an EventBridge event (top-level keys: {keys:?})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes() {
        assert_eq!(
            classify(&json!({"RequestType": "Create"})),
            Ok(Incoming::CustomResource)
        );
        assert_eq!(
            classify(&json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]})),
            Ok(Incoming::SqsBatch)
        );
        assert_eq!(
            classify(&json!({"detail-type": "Scheduled Event", "source": "aws.events"})),
            Ok(Incoming::Scheduled)
        );
        assert_eq!(
            classify(&json!({"detail-type": "Copy Job State Change", "source": "aws.backup"})),
            Ok(Incoming::EventBridge)
        );
        assert!(classify(&json!({"Records": [{"eventSource": "aws:s3"}]})).is_err());
        assert!(classify(&json!({"Records": []})).is_err());
        assert!(classify(&json!([1, 2])).unwrap_err().0.contains("a list"));
        assert!(
            classify(&json!({"hello": 1}))
                .unwrap_err()
                .0
                .contains("hello")
        );
    }
}
