//! The custom-resource request envelope.
//!
//! Parsing is split in two on purpose: the envelope (where to answer and which ids to echo) is
//! read first and on its own, so that a request whose properties are wrong, or whose
//! `RequestType` is unknown, still gets a FAILED answer instead of hanging the stack until
//! `ServiceTimeout`. Only a request without a usable `ResponseURL` cannot be answered.

use serde_json::{Map, Value};

use super::properties::{Properties, kind_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

impl std::fmt::Display for RequestType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Create => "Create",
            Self::Update => "Update",
            Self::Delete => "Delete",
        })
    }
}

/// The part of a request needed to send any answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub physical_resource_id: Option<String>,
}

/// A fully parsed request. `properties`/`old_properties` stay raw JSON: each resource kind reads
/// them through [`Properties`], which reports errors by property name.
#[derive(Debug, Clone)]
pub struct Request {
    pub envelope: Envelope,
    pub request_type: RequestType,
    pub resource_type: String,
    pub properties: Map<String, Value>,
    pub old_properties: Option<Map<String, Value>>,
    /// Account and region of the stack, from `StackId`: the scope of deterministic physical ids.
    pub account_id: String,
    pub region: String,
}

impl Request {
    pub fn props(&self) -> Properties<'_> {
        Properties::new(&self.properties)
    }

    pub fn old_props(&self) -> Option<Properties<'_>> {
        self.old_properties.as_ref().map(Properties::new)
    }
}

/// Why a request could not be parsed. `Unanswerable` means there is no address to answer to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("cannot answer this custom-resource request: {0}")]
    Unanswerable(String),
    #[error("{0}")]
    Invalid(String),
}

/// Reads only the envelope. Fails only when no answer can be sent.
pub fn parse_envelope(v: &Value) -> Result<Envelope, RequestError> {
    let obj = v
        .as_object()
        .ok_or_else(|| RequestError::Unanswerable(format!("event is {}", kind_of(v))))?;
    let response_url = match obj.get("ResponseURL") {
        Some(Value::String(s)) if s.starts_with("https://") || s.starts_with("http://") => {
            s.clone()
        }
        Some(Value::String(s)) => {
            return Err(RequestError::Unanswerable(format!(
                "ResponseURL {s:?} is not an http(s) URL"
            )));
        }
        Some(other) => {
            return Err(RequestError::Unanswerable(format!(
                "ResponseURL is {}, expected a URL string",
                kind_of(other)
            )));
        }
        None => return Err(RequestError::Unanswerable("ResponseURL is missing".into())),
    };
    // Missing ids are echoed as empty strings: CloudFormation will reject such an answer, but
    // sending it (and logging why) beats a silent hang, and real CloudFormation always sends them.
    let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    Ok(Envelope {
        response_url,
        stack_id: text("StackId"),
        request_id: text("RequestId"),
        logical_resource_id: text("LogicalResourceId"),
        physical_resource_id: obj
            .get("PhysicalResourceId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    })
}

/// Reads the rest of the request, given its envelope.
pub fn parse_request(v: &Value, envelope: Envelope) -> Result<Request, RequestError> {
    let obj = v.as_object().expect("envelope parsing checked the object");
    let invalid = |m: String| RequestError::Invalid(m);
    let request_type = match obj.get("RequestType").and_then(Value::as_str) {
        Some("Create") => RequestType::Create,
        Some("Update") => RequestType::Update,
        Some("Delete") => RequestType::Delete,
        Some(other) => {
            return Err(invalid(format!(
                "unknown RequestType {other:?}; expected Create, Update or Delete"
            )));
        }
        None => return Err(invalid("RequestType is missing".into())),
    };
    for (field, value) in [
        ("StackId", &envelope.stack_id),
        ("RequestId", &envelope.request_id),
        ("LogicalResourceId", &envelope.logical_resource_id),
    ] {
        if value.is_empty() {
            return Err(invalid(format!("{field} is missing")));
        }
    }
    if request_type != RequestType::Create && envelope.physical_resource_id.is_none() {
        return Err(invalid(format!(
            "PhysicalResourceId is missing on a {request_type} request"
        )));
    }
    let resource_type = obj
        .get("ResourceType")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("ResourceType is missing".into()))?
        .to_owned();
    let properties = match obj.get("ResourceProperties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(invalid(format!(
                "ResourceProperties is {}, expected an object",
                kind_of(other)
            )));
        }
    };
    let old_properties = match obj.get("OldResourceProperties") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(other) => {
            return Err(invalid(format!(
                "OldResourceProperties is {}, expected an object",
                kind_of(other)
            )));
        }
    };
    let (account_id, region) = stack_scope(&envelope.stack_id).ok_or_else(|| {
        invalid(format!(
            "StackId {:?} is not a CloudFormation stack ARN",
            envelope.stack_id
        ))
    })?;
    Ok(Request {
        envelope,
        request_type,
        resource_type,
        properties,
        old_properties,
        account_id,
        region,
    })
}

/// `arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>` → (account, region).
fn stack_scope(stack_id: &str) -> Option<(String, String)> {
    let mut parts = stack_id.splitn(6, ':');
    let (arn, _partition, service, region, account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let valid = arn == "arn"
        && service == "cloudformation"
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| (account.to_owned(), region.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "RequestType": "Create", "ResponseURL": "https://example.com/r",
            "StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/s/1",
            "RequestId": "r1", "LogicalResourceId": "L", "ResourceType": "Custom::X",
            "ResourceProperties": {"ServiceToken": "arn"}
        })
    }

    #[test]
    fn envelope_survives_a_broken_body() {
        let mut v = base();
        v["RequestType"] = json!("Upsert");
        v["ResourceProperties"] = json!("oops");
        let env = parse_envelope(&v).unwrap();
        assert_eq!(env.request_id, "r1");
        let err = parse_request(&v, env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown RequestType \"Upsert\"; expected Create, Update or Delete"
        );
    }

    #[test]
    fn no_response_url_is_unanswerable() {
        for bad in [
            json!({}),
            json!({"ResponseURL": 3}),
            json!({"ResponseURL": "ftp://x"}),
            json!([1]),
        ] {
            assert!(matches!(
                parse_envelope(&bad),
                Err(RequestError::Unanswerable(_))
            ));
        }
    }

    #[test]
    fn scope_comes_from_the_stack_arn() {
        let v = base();
        let r = parse_request(&v, parse_envelope(&v).unwrap()).unwrap();
        assert_eq!(
            (r.account_id.as_str(), r.region.as_str()),
            ("111111111111", "eu-west-1")
        );
        let mut v = base();
        v["StackId"] = json!("not-an-arn");
        assert!(
            parse_request(&v, parse_envelope(&v).unwrap())
                .unwrap_err()
                .to_string()
                .contains("not a CloudFormation stack ARN")
        );
    }

    #[test]
    fn update_and_delete_need_a_physical_id() {
        let mut v = base();
        v["RequestType"] = json!("Delete");
        let err = parse_request(&v, parse_envelope(&v).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PhysicalResourceId is missing on a Delete request"
        );
    }
}
