//! A model of `template/crossvault.yaml`: parse it, evaluate its Conditions for one account and
//! region, and read what that stack instance would get.
//!
//! The template decides each instance's role from `AWS::AccountId` / `AWS::Region` and the
//! (identical) StackSet parameters, so "which account gets what" is a pure function of the
//! template. `crossvault plan` and the tests use this module to answer it without AWS.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use crossvault_stackset::template::{Pseudo, Template, event_rules};
//!
//! let template = Template::parse(&std::fs::read_to_string("template/crossvault.yaml")?)?;
//! let params = BTreeMap::from([("BackupAccountId".to_owned(), "222222222222".to_owned())]);
//! let eval = template.evaluate(&params, &Pseudo::new("111111111111", "eu-west-1"))?;
//! println!("{} gets {} resources", eval.role, eval.resources.len());
//! for rule in event_rules(&eval)? {
//!     println!("{}: {:?}", rule.logical_id, rule.event_pattern);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Values are resolved as far as the template alone allows (see [`Evaluation::properties`]):
//! parameters, pseudo parameters, `Fn::If`/`Fn::Join`/`Fn::Split`/`Fn::Select`/`Fn::Sub`/
//! `Fn::FindInMap`, and the `Ref`/`Fn::GetAtt` of resources whose physical name the template
//! sets (IAM roles, vaults, queues, topics, functions, log groups), which become the ARNs
//! CloudFormation would produce. Anything else — e.g. `!GetAtt OrgInfo.OrganizationId`, known
//! only at deploy time — stays in its long JSON form, such as `{"Fn::GetAtt": ["OrgInfo",
//! "OrganizationId"]}`.

mod eval;
mod inspect;
mod pattern;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::Value as Json;

pub use eval::{Attributes, Evaluation, ExistingResource, Pseudo, RuleFailure};
pub use inspect::{
    CustomResource, EventRule, custom_resource_with, custom_resources, event_rules,
    handler_environment,
};
pub use pattern::event_pattern_matches;

/// Everything that can go wrong parsing or evaluating a template. Each variant names the
/// parameter, condition, function or position at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The text is not YAML.
    #[error("template is not valid YAML: {0}")]
    Yaml(String),
    /// The YAML is not a well-formed template at `path`.
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    /// A value was given for a parameter the template does not declare.
    #[error("unknown parameter {0}")]
    UnknownParameter(String),
    /// A parameter without a default was not given.
    #[error("missing required parameter {0} (it has no default)")]
    MissingParameter(String),
    /// A value outside the parameter's AllowedValues.
    #[error("parameter {parameter}: {value:?} is not one of {allowed:?}")]
    NotAllowed {
        parameter: String,
        value: String,
        allowed: Vec<String>,
    },
    /// `Ref` to something that is neither a parameter, a pseudo parameter nor a resource.
    #[error("{context}: unknown reference {name}")]
    UnknownReference { context: String, name: String },
    /// `Condition`/`Fn::If` naming a condition the template does not define.
    #[error("{context}: unknown condition {name}")]
    UnknownCondition { context: String, name: String },
    /// A condition that depends on itself.
    #[error("condition {0} depends on itself")]
    CyclicCondition(String),
    /// An intrinsic function this model does not evaluate, where a value was required.
    #[error("{context}: unsupported function {function}")]
    UnsupportedFunction { context: String, function: String },
    /// A value only known at deploy time (e.g. a custom resource's attribute), where a value
    /// was required.
    #[error("{context}: {what} is only known at deploy time")]
    Unresolvable { context: String, what: String },
    /// A function with arguments of the wrong shape, an index out of range and the like.
    #[error("{context}: {message}")]
    Invalid { context: String, message: String },
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// `String`, `Number`, `CommaDelimitedList`, `List<...>`, ...
    pub param_type: String,
    /// The default, as CloudFormation reads it (numbers as their text).
    pub default: Option<String>,
    /// `AllowedValues`, empty when any value is allowed. (`AllowedPattern` is left to
    /// CloudFormation and cfn-lint.)
    pub allowed_values: Vec<String>,
    /// `AllowedPattern` (a Java regular expression, as CloudFormation reads it).
    pub allowed_pattern: Option<String>,
    /// `ConstraintDescription`: CloudFormation's message when a value breaks the constraints.
    pub constraint_description: Option<String>,
    /// `MinValue` / `MaxValue` of a `Number` parameter, as written.
    pub min_value: Option<String>,
    pub max_value: Option<String>,
}

impl Parameter {
    /// Whether `Ref` gives a list (CommaDelimitedList and `List<...>` types).
    pub fn is_list(&self) -> bool {
        self.param_type == "CommaDelimitedList" || self.param_type.starts_with("List<")
    }
}

/// A declared resource, its properties in long JSON form.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub resource_type: String,
    /// The `Condition` that decides whether it exists.
    pub condition: Option<String>,
    pub properties: Json,
    /// `DependsOn`: what CloudFormation creates before it.
    pub depends_on: Vec<String>,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parameters: BTreeMap<String, Parameter>,
    mappings: Json,
    conditions: BTreeMap<String, Json>,
    resources: BTreeMap<String, Resource>,
    rules: BTreeMap<String, Json>,
}

impl Template {
    /// Parses a YAML (or JSON) template, expanding short-form tags.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let yaml: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| TemplateError::Yaml(e.to_string()))?;
        let root = yaml::to_json(&yaml, "$")?;
        let section = |name: &str| -> Result<serde_json::Map<String, Json>, TemplateError> {
            match root.get(name) {
                None => Ok(serde_json::Map::new()),
                Some(Json::Object(map)) => Ok(map.clone()),
                Some(_) => Err(syntax(name, "must be a mapping")),
            }
        };

        let mut parameters = BTreeMap::new();
        for (name, decl) in section("Parameters")? {
            let path = format!("Parameters.{name}");
            let param_type = decl
                .get("Type")
                .and_then(Json::as_str)
                .ok_or_else(|| syntax(&path, "has no Type"))?
                .to_owned();
            let default = decl
                .get("Default")
                .map(|d| scalar_text(d, &path))
                .transpose()?;
            let allowed_values = match decl.get("AllowedValues") {
                None => Vec::new(),
                Some(Json::Array(values)) => values
                    .iter()
                    .map(|v| scalar_text(v, &path))
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(syntax(&path, "AllowedValues must be a list")),
            };
            let text_of = |key: &str| decl.get(key).and_then(Json::as_str).map(str::to_owned);
            let number_of = |key: &str| decl.get(key).and_then(|v| scalar_text(v, &path).ok());
            parameters.insert(
                name,
                Parameter {
                    param_type,
                    default,
                    allowed_values,
                    allowed_pattern: text_of("AllowedPattern"),
                    constraint_description: text_of("ConstraintDescription"),
                    min_value: number_of("MinValue"),
                    max_value: number_of("MaxValue"),
                },
            );
        }

        let mut resources = BTreeMap::new();
        for (id, decl) in section("Resources")? {
            let path = format!("Resources.{id}");
            let resource_type = decl
                .get("Type")
                .and_then(Json::as_str)
                .ok_or_else(|| syntax(&path, "has no Type"))?
                .to_owned();
            let condition = match decl.get("Condition") {
                None => None,
                Some(Json::String(c)) => Some(c.clone()),
                Some(_) => return Err(syntax(&path, "Condition must be a condition name")),
            };
            let properties = decl
                .get("Properties")
                .cloned()
                .unwrap_or_else(|| Json::Object(Default::default()));
            let depends_on = match decl.get("DependsOn") {
                None => Vec::new(),
                Some(Json::String(one)) => vec![one.clone()],
                Some(Json::Array(many)) => many
                    .iter()
                    .map(|d| {
                        d.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| syntax(&path, "DependsOn must name resources"))
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(syntax(&path, "DependsOn must name resources")),
            };
            resources.insert(
                id,
                Resource {
                    resource_type,
                    condition,
                    properties,
                    depends_on,
                },
            );
        }

        Ok(Template {
            parameters,
            mappings: Json::Object(section("Mappings")?),
            conditions: section("Conditions")?.into_iter().collect(),
            resources,
            rules: section("Rules")?.into_iter().collect(),
        })
    }

    /// The declared rules (parameter assertions), in long JSON form.
    pub fn rules(&self) -> &BTreeMap<String, Json> {
        &self.rules
    }

    /// The declared parameters.
    pub fn parameters(&self) -> &BTreeMap<String, Parameter> {
        &self.parameters
    }

    /// The declared conditions, in long JSON form.
    pub fn conditions(&self) -> &BTreeMap<String, Json> {
        &self.conditions
    }

    /// Every declared resource, whatever its condition.
    pub fn resources(&self) -> &BTreeMap<String, Resource> {
        &self.resources
    }
}

fn syntax(path: &str, message: &str) -> TemplateError {
    TemplateError::Syntax {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

/// A parameter default or allowed value as CloudFormation sees it: always text.
fn scalar_text(value: &Json, path: &str) -> Result<String, TemplateError> {
    match value {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.to_string()),
        Json::Bool(b) => Ok(b.to_string()),
        _ => Err(syntax(path, "parameter values must be scalars")),
    }
}
