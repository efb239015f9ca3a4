//! Views of an evaluated instance that the CLI and the test harness need: its event rules, the
//! handler's environment, and its custom resources.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::{Evaluation, TemplateError};

/// The logical id of the Lambda function whose environment is the handler configuration.
const HANDLER: &str = "HandlerFunction";

/// An `AWS::Events::Rule` that exists in the instance.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRule {
    pub logical_id: String,
    /// Resolved as far as possible (vault ARNs become `arn:<partition>:backup:<region>:<account>:backup-vault:<name>`).
    pub event_pattern: Option<Json>,
    pub schedule_expression: Option<String>,
    /// Logical ids of the targets that are resources of this template (`Arn: !GetAtt X.Arn`
    /// or `!Ref X`); targets outside the template are not listed.
    pub targets: Vec<String>,
}

/// A custom resource that exists in the instance.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomResource {
    pub logical_id: String,
    /// `Custom::...` or `AWS::CloudFormation::CustomResource`.
    pub resource_type: String,
    /// The properties as the handler receives them in `ResourceProperties`: resolved as far
    /// as possible, and every number and boolean turned into a string as CloudFormation does.
    pub properties: Json,
}

/// Every event rule of the instance, in logical-id order.
pub fn event_rules(eval: &Evaluation) -> Result<Vec<EventRule>, TemplateError> {
    let mut rules = Vec::new();
    for resource in eval
        .resources
        .iter()
        .filter(|r| r.resource_type == "AWS::Events::Rule")
    {
        let id = &resource.logical_id;
        let properties = eval.properties(id)?.unwrap_or(Json::Null);
        let raw_targets = eval.template().resources()[id].properties.get("Targets");
        let mut targets = Vec::new();
        for (i, target) in raw_targets
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(arn) = target.get("Arn") {
                targets.extend(target_logical_id(
                    eval,
                    arn,
                    &format!("Resources.{id}.Targets[{i}]"),
                )?);
            }
        }
        rules.push(EventRule {
            logical_id: id.clone(),
            event_pattern: properties.get("EventPattern").cloned(),
            schedule_expression: properties
                .get("ScheduleExpression")
                .and_then(Json::as_str)
                .map(str::to_owned),
            targets,
        });
    }
    Ok(rules)
}

/// The logical id a target ARN refers to (`!GetAtt X.Arn`, `!Ref X`), through `Fn::If`.
fn target_logical_id(
    eval: &Evaluation,
    arn: &Json,
    context: &str,
) -> Result<Option<String>, TemplateError> {
    let Some((function, args)) = arn
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
    else {
        return Ok(None);
    };
    let id = match (function.as_str(), args) {
        ("Ref", Json::String(id)) => id,
        ("Fn::GetAtt", Json::Array(parts)) => match parts.first().and_then(Json::as_str) {
            Some(id) => id,
            None => return Ok(None),
        },
        ("Fn::If", Json::Array(branches)) if branches.len() == 3 => {
            let condition = branches[0].as_str().unwrap_or_default();
            let chosen = match eval.conditions.get(condition) {
                Some(true) => &branches[1],
                Some(false) => &branches[2],
                None => {
                    return Err(TemplateError::UnknownCondition {
                        context: context.to_owned(),
                        name: condition.to_owned(),
                    });
                }
            };
            return target_logical_id(eval, chosen, context);
        }
        _ => return Ok(None),
    };
    Ok(eval
        .template()
        .resources()
        .contains_key(id)
        .then(|| id.to_owned()))
}

/// The handler function's environment variables, resolved as far as possible (values that
/// stay unresolved keep their long form). Empty if the instance has no handler.
pub fn handler_environment(eval: &Evaluation) -> Result<BTreeMap<String, Json>, TemplateError> {
    let Some(properties) = eval.properties(HANDLER)? else {
        return Ok(BTreeMap::new());
    };
    Ok(properties
        .pointer("/Environment/Variables")
        .and_then(Json::as_object)
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

/// Every custom resource of the instance, in logical-id order.
pub fn custom_resources(eval: &Evaluation) -> Result<Vec<CustomResource>, TemplateError> {
    let mut out = Vec::new();
    for resource in &eval.resources {
        let kind = &resource.resource_type;
        if !(kind.starts_with("Custom::") || kind == "AWS::CloudFormation::CustomResource") {
            continue;
        }
        let properties = eval.properties(&resource.logical_id)?.unwrap_or(Json::Null);
        out.push(CustomResource {
            logical_id: resource.logical_id.clone(),
            resource_type: kind.clone(),
            properties: stringify(properties),
        });
    }
    Ok(out)
}

/// One custom resource of the instance with `known` attributes resolved (what a deployment has
/// learned from the resources created before it); `None` if it does not exist here.
pub fn custom_resource_with(
    eval: &Evaluation,
    logical_id: &str,
    known: &super::Attributes,
) -> Result<Option<CustomResource>, TemplateError> {
    let Some(properties) = eval.properties_with(logical_id, known)? else {
        return Ok(None);
    };
    let resource_type = eval.template().resources()[logical_id]
        .resource_type
        .clone();
    Ok(Some(CustomResource {
        logical_id: logical_id.to_owned(),
        resource_type,
        properties: stringify(properties),
    }))
}

/// CloudFormation sends every scalar of a custom resource's properties as a string, inside
/// lists and maps too. Unresolved calls (one-key `Fn::`/`Ref` objects) are left alone.
fn stringify(value: Json) -> Json {
    match value {
        Json::Number(n) => Json::String(n.to_string()),
        Json::Bool(b) => Json::String(b.to_string()),
        Json::Array(items) => Json::Array(items.into_iter().map(stringify).collect()),
        Json::Object(map) => {
            let is_call = map.len() == 1 && map.keys().all(|k| k == "Ref" || k.starts_with("Fn::"));
            if is_call {
                Json::Object(map)
            } else {
                Json::Object(map.into_iter().map(|(k, v)| (k, stringify(v))).collect())
            }
        }
        other => other,
    }
}
