//! CloudFormation YAML → the long JSON form.
//!
//! CloudFormation's short-form tags (`!Ref x`, `!Sub ...`, `!GetAtt a.b`) are plain YAML tags;
//! `serde_norway` keeps them as [`Value::Tagged`]. Converting them to `{"Ref": x}` /
//! `{"Fn::Sub": ...}` here lets everything downstream work on one representation, the same one a
//! JSON template would have.

use serde_json::{Map, Number, Value as Json};
use serde_norway::Value as Yaml;

use super::TemplateError;

/// The short-form tags and the long-form key each stands for.
const SHORT_FORMS: &[(&str, &str)] = &[
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("Sub", "Fn::Sub"),
    ("GetAtt", "Fn::GetAtt"),
    ("If", "Fn::If"),
    ("Equals", "Fn::Equals"),
    ("Contains", "Fn::Contains"),
    ("Not", "Fn::Not"),
    ("And", "Fn::And"),
    ("Or", "Fn::Or"),
    ("Join", "Fn::Join"),
    ("Split", "Fn::Split"),
    ("Select", "Fn::Select"),
    ("FindInMap", "Fn::FindInMap"),
    ("Base64", "Fn::Base64"),
    ("ImportValue", "Fn::ImportValue"),
    ("GetAZs", "Fn::GetAZs"),
    ("Cidr", "Fn::Cidr"),
];

/// Converts a parsed YAML document to JSON, expanding short-form tags. `path` names the
/// position for error messages.
pub(super) fn to_json(value: &Yaml, path: &str) -> Result<Json, TemplateError> {
    Ok(match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => number(n),
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to_json(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let key = match key {
                    Yaml::String(s) => s.clone(),
                    // YAML allows `true:` or `1:` as keys; CloudFormation reads them as strings.
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) => n.to_string(),
                    other => {
                        return Err(TemplateError::Syntax {
                            path: path.to_owned(),
                            message: format!("mapping key {other:?} is not a scalar"),
                        });
                    }
                };
                let item = to_json(item, &format!("{path}.{key}"))?;
                out.insert(key, item);
            }
            Json::Object(out)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let Some((_, long)) = SHORT_FORMS.iter().find(|(short, _)| *short == tag) else {
                return Err(TemplateError::Syntax {
                    path: path.to_owned(),
                    message: format!("unknown tag !{tag}"),
                });
            };
            let inner = to_json(&tagged.value, path)?;
            let inner = match (*long, inner) {
                // `!GetAtt Resource.Attribute` is the one short form whose argument changes shape.
                ("Fn::GetAtt", Json::String(s)) => match s.split_once('.') {
                    Some((resource, attribute)) => {
                        Json::Array(vec![resource.into(), attribute.into()])
                    }
                    None => {
                        return Err(TemplateError::Syntax {
                            path: path.to_owned(),
                            message: format!("!GetAtt {s} is not Resource.Attribute"),
                        });
                    }
                },
                (_, inner) => inner,
            };
            let mut out = Map::new();
            out.insert((*long).to_owned(), inner);
            Json::Object(out)
        }
    })
}

fn number(n: &serde_norway::Number) -> Json {
    if let Some(u) = n.as_u64() {
        Json::Number(u.into())
    } else if let Some(i) = n.as_i64() {
        Json::Number(i.into())
    } else {
        // NaN and infinities have no JSON form; CloudFormation would treat them as strings.
        n.as_f64()
            .and_then(Number::from_f64)
            .map_or_else(|| Json::String(n.to_string()), Json::Number)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn convert(text: &str) -> Json {
        let yaml: Yaml = serde_norway::from_str(text).unwrap();
        to_json(&yaml, "$").unwrap()
    }

    #[test]
    fn short_forms_become_long_forms() {
        let out = convert(
            "a: !Ref X\nb: !GetAtt Fn.Arn\nc: !Sub ['${A}', {A: !Ref AWS::Region}]\nd: !If [C, !Join [',', [x, y]], !Ref AWS::NoValue]\ne: !Not [!Condition C]\n",
        );
        assert_eq!(
            out,
            json!({
                "a": {"Ref": "X"},
                "b": {"Fn::GetAtt": ["Fn", "Arn"]},
                "c": {"Fn::Sub": ["${A}", {"A": {"Ref": "AWS::Region"}}]},
                "d": {"Fn::If": ["C", {"Fn::Join": [",", ["x", "y"]]}, {"Ref": "AWS::NoValue"}]},
                "e": {"Fn::Not": [{"Condition": "C"}]},
            })
        );
    }

    #[test]
    fn every_listed_tag_converts() {
        for (short, long) in SHORT_FORMS {
            let out = convert(&format!("v: !{short} [a, b]\n"));
            assert_eq!(out["v"][long], json!(["a", "b"]), "{short}");
        }
    }

    #[test]
    fn unknown_tag_and_bad_getatt_are_errors() {
        let yaml: Yaml = serde_norway::from_str("v: !Bogus x\n").unwrap();
        let err = to_json(&yaml, "$").unwrap_err();
        assert!(err.to_string().contains("unknown tag !Bogus"), "{err}");
        let yaml: Yaml = serde_norway::from_str("v: !GetAtt NoDot\n").unwrap();
        let err = to_json(&yaml, "$").unwrap_err();
        assert!(err.to_string().contains("$.v"), "{err}");
    }
}
