//! A small EventBridge event-pattern matcher: enough for crossvault's rules and for tests that
//! check which sample events a rule would deliver.
//!
//! Supported (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html):
//! nested objects; value lists (any item matches); exact strings, numbers, booleans and null;
//! `prefix`, `suffix`, `equals-ignore-case`, `wildcard` (`*` only), `anything-but` (a value,
//! a list, or `{"prefix"|"suffix": ...}`), `exists`, `numeric` ranges, and `$or`. An event
//! array matches when any element matches. As in EventBridge, matchers apply to leaf values:
//! an event object (such as `"destinationRecoveryPointArn": {}`) counts as no value, so
//! `exists: true` does not match it and `anything-but` does not either. An unknown matcher
//! never matches.

use serde_json::{Map, Value as Json};

/// Whether `event` matches the EventBridge `pattern`.
pub fn event_pattern_matches(pattern: &Json, event: &Json) -> bool {
    match pattern.as_object() {
        Some(fields) => object_matches(fields, Some(event)),
        None => false,
    }
}

fn object_matches(fields: &Map<String, Json>, event: Option<&Json>) -> bool {
    fields.iter().all(|(key, sub)| {
        if key == "$or" {
            return sub.as_array().is_some_and(|alternatives| {
                alternatives.iter().any(|alt| {
                    alt.as_object()
                        .is_some_and(|alt| object_matches(alt, event))
                })
            });
        }
        let value = event.and_then(|e| e.get(key));
        match sub {
            Json::Object(nested) => object_matches(nested, value.filter(|v| v.is_object())),
            Json::Array(matchers) => field_matches(matchers, value),
            _ => false,
        }
    })
}

/// A list of matchers against one field: any matcher matching any leaf value.
fn field_matches(matchers: &[Json], value: Option<&Json>) -> bool {
    let leaves: Vec<&Json> = match value {
        Some(Json::Array(items)) => items.iter().filter(|v| !v.is_object()).collect(),
        Some(Json::Object(_)) | None => Vec::new(),
        Some(leaf) => vec![leaf],
    };
    matchers.iter().any(
        |matcher| match matcher.as_object().and_then(|m| m.iter().next()) {
            Some((op, arg)) if op == "exists" => arg.as_bool() == Some(!leaves.is_empty()),
            Some((op, arg)) => leaves.iter().any(|leaf| operator_matches(op, arg, leaf)),
            None => leaves.iter().any(|leaf| scalar_equals(matcher, leaf)),
        },
    )
}

fn operator_matches(op: &str, arg: &Json, leaf: &Json) -> bool {
    let text = leaf.as_str();
    match op {
        "prefix" => string_op(arg, text, |p, t| t.starts_with(p)),
        "suffix" => string_op(arg, text, |s, t| t.ends_with(s)),
        "equals-ignore-case" => string_op(arg, text, |a, t| a.eq_ignore_ascii_case(t)),
        "wildcard" => string_op(arg, text, wildcard),
        "anything-but" => match arg {
            Json::Array(values) => !values.iter().any(|v| scalar_equals(v, leaf)),
            Json::Object(inner) => match inner.iter().next() {
                Some((inner_op, inner_arg)) if inner.len() == 1 && text.is_some() => {
                    !operator_matches(inner_op, inner_arg, leaf)
                }
                _ => false,
            },
            single => !scalar_equals(single, leaf),
        },
        "numeric" => leaf.as_f64().is_some_and(|n| numeric(arg, n)),
        _ => false,
    }
}

/// A string operator; it never matches a non-string value.
fn string_op(arg: &Json, text: Option<&str>, test: impl Fn(&str, &str) -> bool) -> bool {
    matches!((arg.as_str(), text), (Some(a), Some(t)) if test(a, t))
}

fn scalar_equals(pattern: &Json, leaf: &Json) -> bool {
    match (pattern, leaf) {
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// `*` matches any run of characters; everything else is literal.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == text;
    }
    if !text.starts_with(first)
        || !text[first.len()..].ends_with(last)
        || text.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// `["<", 10, ">=", 2]` style comparisons, all of which must hold.
fn numeric(arg: &Json, n: f64) -> bool {
    let Some(items) = arg.as_array().filter(|a| !a.is_empty() && a.len() % 2 == 0) else {
        return false;
    };
    items
        .chunks(2)
        .all(|pair| match (pair[0].as_str(), pair[1].as_f64()) {
            (Some("<"), Some(x)) => n < x,
            (Some("<="), Some(x)) => n <= x,
            (Some("="), Some(x)) => n == x,
            (Some(">"), Some(x)) => n > x,
            (Some(">="), Some(x)) => n >= x,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event() -> Json {
        json!({
            "source": "aws.backup",
            "account": "111111111111",
            "resources": ["arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-1"],
            "detail": {"state": "RUNNING", "size": 42, "destinationRecoveryPointArn": {},
                       "createdBy": {"backupPlanId": "p"}}
        })
    }

    #[test]
    fn exact_prefix_suffix_and_arrays() {
        assert!(event_pattern_matches(
            &json!({"source": ["aws.backup"]}),
            &event()
        ));
        assert!(!event_pattern_matches(
            &json!({"source": ["aws.ec2"]}),
            &event()
        ));
        assert!(event_pattern_matches(
            &json!({"resources": [{"prefix": "arn:aws:rds:"}]}),
            &event()
        ));
        assert!(event_pattern_matches(
            &json!({"resources": [{"suffix": ":job-1"}]}),
            &event()
        ));
        assert!(event_pattern_matches(
            &json!({"detail": {"state": ["COMPLETED", "RUNNING"]}}),
            &event()
        ));
        assert!(!event_pattern_matches(
            &json!({"detail": {"state": ["running"]}}),
            &event()
        ));
        assert!(event_pattern_matches(
            &json!({"detail": {"state": [{"equals-ignore-case": "running"}]}}),
            &event()
        ));
    }

    #[test]
    fn anything_but_and_exists() {
        assert!(event_pattern_matches(
            &json!({"account": [{"anything-but": "222222222222"}]}),
            &event()
        ));
        assert!(!event_pattern_matches(
            &json!({"account": [{"anything-but": ["111111111111"]}]}),
            &event()
        ));
        assert!(!event_pattern_matches(
            &json!({"account": [{"anything-but": {"prefix": "111"}}]}),
            &event()
        ));
        // anything-but needs a value: a missing field does not match.
        assert!(!event_pattern_matches(
            &json!({"detail": {"missing": [{"anything-but": "x"}]}}),
            &event()
        ));
        assert!(event_pattern_matches(
            &json!({"detail": {"missing": [{"exists": false}]}}),
            &event()
        ));
        assert!(event_pattern_matches(
            &json!({"detail": {"state": [{"exists": true}]}}),
            &event()
        ));
        // `{}` is not a leaf value.
        assert!(!event_pattern_matches(
            &json!({"detail": {"destinationRecoveryPointArn": [{"exists": true}]}}),
            &event()
        ));
        assert!(event_pattern_matches(
            &json!({"detail": {"destinationRecoveryPointArn": [{"exists": false}]}}),
            &event()
        ));
    }

    #[test]
    fn or_numeric_wildcard_and_nesting() {
        let on_demand = json!({"detail": {"$or": [
            {"createdBy": [{"exists": false}]},
            {"createdBy": {"backupPlanArn": [{"exists": false}]}}
        ]}});
        assert!(event_pattern_matches(&on_demand, &event()));
        assert!(event_pattern_matches(
            &json!({"detail": {"size": [{"numeric": [">", 40, "<=", 42]}]}}),
            &event()
        ));
        assert!(!event_pattern_matches(
            &json!({"detail": {"size": [{"numeric": ["<", 42]}]}}),
            &event()
        ));
        assert!(event_pattern_matches(
            &json!({"detail": {"size": [42]}}),
            &event()
        ));
        assert!(event_pattern_matches(
            &json!({"resources": [{"wildcard": "arn:aws:rds:*:snapshot:*"}]}),
            &event()
        ));
        assert!(!event_pattern_matches(
            &json!({"resources": [{"wildcard": "arn:aws:ec2:*"}]}),
            &event()
        ));
        assert!(!event_pattern_matches(
            &json!({"detail": {"createdBy": {"backupPlanId": ["q"]}}}),
            &event()
        ));
        assert!(!event_pattern_matches(
            &json!({"detail": [{"prefix": "x"}]}),
            &event()
        ));
    }
}
