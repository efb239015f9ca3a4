//! Lenient, typed access to `ResourceProperties`.
//!
//! CloudFormation stringifies every scalar it passes to a custom resource, also inside lists
//! and maps (`true` arrives as `"true"`, `7` as `"7"`), while `crossvault invoke` and tests may
//! send real JSON types. Every accessor accepts both, and every error names the property path so
//! the FAILED reason tells the user exactly which template property to change.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A property that is missing, or present with a value of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("property {path}: {problem}")]
pub struct PropertyError {
    pub path: String,
    pub problem: String,
}

impl PropertyError {
    pub fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// Borrowed view of a `ResourceProperties` (or `OldResourceProperties`) object.
#[derive(Debug, Clone, Copy)]
pub struct Properties<'a> {
    map: &'a Map<String, Value>,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'a> Properties<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Self { map }
    }

    pub fn empty() -> Properties<'static> {
        Properties { map: &EMPTY }
    }

    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// A required, non-empty string. Numbers and booleans are accepted in their string form.
    pub fn string(&self, name: &str) -> Result<String, PropertyError> {
        self.optional_string(name)?
            .ok_or_else(|| PropertyError::new(name, "is required"))
    }

    /// An optional string; an empty string counts as absent (templates pass `""` for "not set").
    pub fn optional_string(&self, name: &str) -> Result<Option<String>, PropertyError> {
        match self.raw(name) {
            None => Ok(None),
            Some(v) => scalar_string(name, v).map(|s| (!s.is_empty()).then_some(s)),
        }
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, PropertyError> {
        Ok(self.optional_bool(name)?.unwrap_or(default))
    }

    pub fn optional_bool(&self, name: &str) -> Result<Option<bool>, PropertyError> {
        match self.raw(name) {
            None => Ok(None),
            Some(v) => parse_bool(name, v).map(Some),
        }
    }

    pub fn optional_u32(&self, name: &str) -> Result<Option<u32>, PropertyError> {
        match self.optional_string(name)? {
            None => Ok(None),
            Some(s) => s.trim().parse::<u32>().map(Some).map_err(|_| {
                PropertyError::new(name, format!("expected a whole number, got {s:?}"))
            }),
        }
    }

    pub fn u32(&self, name: &str) -> Result<u32, PropertyError> {
        self.optional_u32(name)?
            .ok_or_else(|| PropertyError::new(name, "is required"))
    }

    /// A list of strings. A single comma-separated string is accepted too, because a
    /// `CommaDelimitedList` parameter passed through `!Join` arrives that way.
    pub fn string_list(&self, name: &str) -> Result<Vec<String>, PropertyError> {
        match self.raw(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| scalar_string(&format!("{name}[{i}]"), v))
                .filter(|r| !matches!(r, Ok(s) if s.is_empty()))
                .collect(),
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()),
            Some(other) => Err(PropertyError::new(
                name,
                format!("expected a list of strings, got {}", kind_of(other)),
            )),
        }
    }

    /// A map of name to boolean (`{"RDS": "true"}`), as used by the AWS Backup settings APIs.
    pub fn bool_map(&self, name: &str) -> Result<Option<BTreeMap<String, bool>>, PropertyError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| Ok((k.clone(), parse_bool(&format!("{name}.{k}"), v)?)))
                .collect::<Result<_, _>>()
                .map(Some),
            // `NAME=true` items: how a CommaDelimitedList parameter ("RDS=true,EBS=false")
            // reaches a custom resource, as a list or still joined.
            Some(Value::Array(_)) => pairs_map(name, self.string_list(name)?).map(Some),
            Some(Value::String(s)) if s.contains('=') && !s.trim_start().starts_with('{') => {
                pairs_map(name, self.string_list(name)?).map(Some)
            }
            // A JSON-encoded object in a string is what some tools (Terraform's jsonencode
            // into a String parameter) produce; accept it rather than make users restructure.
            Some(Value::String(s)) if s.trim_start().starts_with('{') => {
                let parsed: Map<String, Value> = serde_json::from_str(s).map_err(|e| {
                    PropertyError::new(name, format!("is a string but not a JSON object: {e}"))
                })?;
                Properties::new(&parsed).bool_map_inner(name)
            }
            Some(other) => Err(PropertyError::new(
                name,
                format!(
                    "expected a map of names to \"true\"/\"false\", got {}",
                    kind_of(other)
                ),
            )),
        }
    }

    fn bool_map_inner(&self, name: &str) -> Result<Option<BTreeMap<String, bool>>, PropertyError> {
        self.map
            .iter()
            .map(|(k, v)| Ok((k.clone(), parse_bool(&format!("{name}.{k}"), v)?)))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// A list of JSON objects (e.g. IAM policy statements).
    pub fn object_list(&self, name: &str) -> Result<Vec<Map<String, Value>>, PropertyError> {
        match self.raw(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(m) => Ok(m.clone()),
                    other => Err(PropertyError::new(
                        format!("{name}[{i}]"),
                        format!("expected an object, got {}", kind_of(other)),
                    )),
                })
                .collect(),
            Some(Value::String(s)) if s.trim_start().starts_with('[') => {
                let parsed: Value = serde_json::from_str(s).map_err(|e| {
                    PropertyError::new(name, format!("is a string but not a JSON list: {e}"))
                })?;
                let wrapper = Map::from_iter([(name.to_owned(), parsed)]);
                Properties::new(&wrapper).object_list(name)
            }
            Some(other) => Err(PropertyError::new(
                name,
                format!("expected a list of objects, got {}", kind_of(other)),
            )),
        }
    }
}

fn pairs_map(name: &str, items: Vec<String>) -> Result<BTreeMap<String, bool>, PropertyError> {
    items
        .iter()
        .map(|item| {
            let (key, value) = item.split_once('=').ok_or_else(|| {
                PropertyError::new(
                    name,
                    format!("expected NAME=true or NAME=false, got {item:?}"),
                )
            })?;
            let key = key.trim().to_owned();
            let path = format!("{name}.{key}");
            Ok((key, parse_bool(&path, &Value::String(value.to_owned()))?))
        })
        .collect()
}

fn scalar_string(path: &str, v: &Value) -> Result<String, PropertyError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(PropertyError::new(
            path,
            format!("expected a string, got {}", kind_of(other)),
        )),
    }
}

fn parse_bool(path: &str, v: &Value) -> Result<bool, PropertyError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(PropertyError::new(
                path,
                format!("expected \"true\" or \"false\", got {s:?}"),
            )),
        },
        other => Err(PropertyError::new(
            path,
            format!("expected \"true\" or \"false\", got {}", kind_of(other)),
        )),
    }
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn scalars_arrive_as_strings_or_native_types() {
        let m = props(json!({"A": "true", "B": false, "C": "7", "D": 8, "E": "", "F": " FALSE "}));
        let p = Properties::new(&m);
        assert_eq!(p.optional_bool("A").unwrap(), Some(true));
        assert_eq!(p.optional_bool("B").unwrap(), Some(false));
        assert_eq!(p.optional_bool("F").unwrap(), Some(false));
        assert_eq!(p.u32("C").unwrap(), 7);
        assert_eq!(p.u32("D").unwrap(), 8);
        assert_eq!(
            p.optional_string("E").unwrap(),
            None,
            "empty string is absent"
        );
        assert_eq!(p.string("D").unwrap(), "8");
        assert!(p.bool_or("missing", true).unwrap());
    }

    #[test]
    fn errors_name_the_property_and_the_value() {
        let m = props(json!({"N": "seven", "B": "yes", "M": {"RDS": "maybe"}, "L": [{}]}));
        let p = Properties::new(&m);
        assert_eq!(
            p.u32("N").unwrap_err().to_string(),
            "property N: expected a whole number, got \"seven\""
        );
        assert_eq!(
            p.optional_bool("B").unwrap_err().to_string(),
            "property B: expected \"true\" or \"false\", got \"yes\""
        );
        assert_eq!(p.bool_map("M").unwrap_err().path, "M.RDS");
        assert_eq!(p.string_list("L").unwrap_err().path, "L[0]");
        assert_eq!(
            p.string("X").unwrap_err().to_string(),
            "property X: is required"
        );
    }

    #[test]
    fn lists_and_maps_are_lenient() {
        let m = props(json!({
            "L1": ["a", "", 3], "L2": "a, b,,c", "M1": {"RDS": "true", "EBS": false},
            "M2": "{\"EFS\": \"false\"}", "O": "[{\"Sid\": \"x\"}]"
        }));
        let p = Properties::new(&m);
        assert_eq!(p.string_list("L1").unwrap(), vec!["a", "3"]);
        assert_eq!(p.string_list("L2").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(
            p.bool_map("M1").unwrap().unwrap(),
            BTreeMap::from([("EBS".into(), false), ("RDS".into(), true)])
        );
        assert_eq!(
            p.bool_map("M2").unwrap().unwrap(),
            BTreeMap::from([("EFS".into(), false)])
        );
        assert_eq!(p.object_list("O").unwrap()[0]["Sid"], "x");
        let m = props(
            json!({"P1": ["RDS=true", "EBS=false"], "P2": "EFS=true, DynamoDB=FALSE", "P3": ["RDS"]}),
        );
        let p = Properties::new(&m);
        assert_eq!(
            p.bool_map("P1").unwrap().unwrap(),
            BTreeMap::from([("EBS".into(), false), ("RDS".into(), true)])
        );
        assert_eq!(
            p.bool_map("P2").unwrap().unwrap(),
            BTreeMap::from([("DynamoDB".into(), false), ("EFS".into(), true)])
        );
        assert_eq!(
            p.bool_map("P3").unwrap_err().to_string(),
            "property P3: expected NAME=true or NAME=false, got \"RDS\""
        );
        assert_eq!(p.bool_map("absent").unwrap(), None);
    }
}
