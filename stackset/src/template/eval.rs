//! Condition evaluation and value resolution for one stack instance.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crossvault_core::config::Role;
use serde_json::{Map, Value as Json};

use super::{Template, TemplateError};

/// The pseudo parameters of one stack instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pseudo {
    pub account_id: String,
    pub region: String,
    pub partition: String,
    pub stack_name: String,
}

impl Pseudo {
    /// An instance in the `aws` partition, in a stack named `crossvault`.
    pub fn new(account_id: &str, region: &str) -> Self {
        Pseudo {
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            partition: "aws".to_owned(),
            stack_name: "crossvault".to_owned(),
        }
    }
}

/// A resource that exists in the evaluated instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingResource {
    pub logical_id: String,
    pub resource_type: String,
}

/// What one stack instance gets: the value of every condition, the resources that exist, and
/// the role the handler is told.
#[derive(Debug, Clone)]
pub struct Evaluation<'t> {
    pub conditions: BTreeMap<String, bool>,
    /// In logical-id order.
    pub resources: Vec<ExistingResource>,
    pub role: Role,
    template: &'t Template,
    params: BTreeMap<String, Json>,
    pseudo: Pseudo,
}

impl Template {
    /// Evaluates the template for one account and region. `params` are the StackSet's
    /// parameter values; omitted ones take their defaults. A `CommaDelimitedList` value is
    /// split on commas as CloudFormation does (items are not trimmed).
    pub fn evaluate(
        &self,
        params: &BTreeMap<String, String>,
        pseudo: &Pseudo,
    ) -> Result<Evaluation<'_>, TemplateError> {
        if let Some(unknown) = params
            .keys()
            .find(|name| !self.parameters.contains_key(*name))
        {
            return Err(TemplateError::UnknownParameter(unknown.clone()));
        }
        let mut values = BTreeMap::new();
        for (name, decl) in &self.parameters {
            let text = params
                .get(name)
                .or(decl.default.as_ref())
                .ok_or_else(|| TemplateError::MissingParameter(name.clone()))?;
            let items: Vec<&str> = if decl.is_list() {
                text.split(',').collect()
            } else {
                vec![text]
            };
            let allowed = |item: &&str| decl.allowed_values.iter().any(|a| a == item);
            if let Some(bad) = items
                .iter()
                .find(|item| !decl.allowed_values.is_empty() && !allowed(item))
            {
                return Err(TemplateError::NotAllowed {
                    parameter: name.clone(),
                    value: (*bad).to_owned(),
                    allowed: decl.allowed_values.clone(),
                });
            }
            let value = if decl.is_list() {
                Json::Array(items.into_iter().map(Json::from).collect())
            } else {
                Json::String(text.clone())
            };
            values.insert(name.clone(), value);
        }

        let scope = Scope {
            template: self,
            params: &values,
            pseudo,
            conditions: RefCell::default(),
            evaluating: RefCell::default(),
            known: None,
        };
        for name in self.conditions.keys() {
            scope.condition(name, "Conditions")?;
        }
        let conditions = scope.conditions.into_inner();

        let resources: Vec<ExistingResource> = self
            .resources
            .iter()
            .filter(|(_, r)| {
                r.condition
                    .as_ref()
                    .is_none_or(|c| conditions.get(c) == Some(&true))
            })
            .map(|(id, r)| ExistingResource {
                logical_id: id.clone(),
                resource_type: r.resource_type.clone(),
            })
            .collect();
        let mut evaluation = Evaluation {
            conditions,
            resources,
            role: Role::Source,
            template: self,
            params: values,
            pseudo: pseudo.clone(),
        };
        evaluation.role = evaluation.resolve_role()?;
        Ok(evaluation)
    }
}

/// A `Rules` assertion the parameters break: CloudFormation refuses the stack with this text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleFailure {
    pub rule: String,
    pub description: String,
}

impl Evaluation<'_> {
    /// The `Rules` assertions these parameters break (empty when CloudFormation would accept
    /// them). A rule applies when it has no `RuleCondition` or its condition holds.
    pub fn broken_rules(&self) -> Result<Vec<RuleFailure>, TemplateError> {
        let scope = Scope {
            template: self.template,
            params: &self.params,
            pseudo: &self.pseudo,
            conditions: RefCell::new(self.conditions.clone()),
            evaluating: RefCell::default(),
            known: None,
        };
        let mut broken = Vec::new();
        for (name, rule) in self.template.rules() {
            let context = format!("Rules.{name}");
            if let Some(condition) = rule.get("RuleCondition")
                && !scope.truth(condition, &context)?
            {
                continue;
            }
            let assertions = rule
                .get("Assertions")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            for assertion in assertions {
                let holds = assertion
                    .get("Assert")
                    .map(|a| scope.truth(a, &context))
                    .transpose()?
                    .unwrap_or(true);
                if !holds {
                    broken.push(RuleFailure {
                        rule: name.clone(),
                        description: assertion
                            .get("AssertDescription")
                            .and_then(Json::as_str)
                            .unwrap_or("a template rule is not met")
                            .to_owned(),
                    });
                }
            }
        }
        Ok(broken)
    }

    /// Whether the resource exists in this instance.
    pub fn exists(&self, logical_id: &str) -> bool {
        self.resources.iter().any(|r| r.logical_id == logical_id)
    }

    /// The resource's properties with everything resolvable resolved: `Fn::If` branches
    /// chosen, `AWS::NoValue` removed, parameters and pseudo parameters substituted. What only
    /// CloudFormation can know stays in long form. `None` if the resource does not exist.
    pub fn properties(&self, logical_id: &str) -> Result<Option<Json>, TemplateError> {
        if !self.exists(logical_id) {
            return Ok(None);
        }
        let resource = &self.template.resources[logical_id];
        let scope = self.scope();
        Ok(Some(
            scope
                .partial(&resource.properties, &format!("Resources.{logical_id}"))?
                .unwrap_or(Json::Null),
        ))
    }

    /// The role: the handler's `CROSSVAULT_ROLE`, or, in a template without the handler, the
    /// role conditions.
    fn resolve_role(&self) -> Result<Role, TemplateError> {
        let context = "Resources.HandlerFunction.Properties.Environment.Variables.CROSSVAULT_ROLE";
        let raw = self
            .template
            .resources
            .get("HandlerFunction")
            .filter(|_| self.exists("HandlerFunction"))
            .and_then(|f| {
                f.properties
                    .pointer("/Environment/Variables/CROSSVAULT_ROLE")
            });
        if let Some(raw) = raw {
            let value = self.scope().strict(raw, context)?;
            return serde_json::from_value(value.clone()).map_err(|_| TemplateError::Invalid {
                context: context.to_owned(),
                message: format!("{value} is not a crossvault role"),
            });
        }
        let is = |name: &str| self.conditions.get(name) == Some(&true);
        Ok(if is("IsBackupAccount") {
            Role::Backup
        } else if is("IsPreProdAccount") {
            Role::PreProd
        } else if is("IsManagementAccount") {
            Role::Management
        } else {
            Role::Source
        })
    }

    pub(super) fn scope(&self) -> Scope<'_> {
        Scope {
            template: self.template,
            params: &self.params,
            pseudo: &self.pseudo,
            conditions: RefCell::new(self.conditions.clone()),
            evaluating: RefCell::default(),
            known: None,
        }
    }

    /// Like [`Evaluation::properties`], with attributes a deployment has learned (e.g. what the
    /// custom resources answered) resolved as well — inside `Fn::Sub`, `Fn::Join` and the
    /// like too, as CloudFormation resolves them.
    pub fn properties_with(
        &self,
        logical_id: &str,
        known: &Attributes,
    ) -> Result<Option<Json>, TemplateError> {
        if !self.exists(logical_id) {
            return Ok(None);
        }
        let resource = &self.template.resources[logical_id];
        let mut scope = self.scope();
        scope.known = Some(known);
        Ok(Some(
            scope
                .partial(&resource.properties, &format!("Resources.{logical_id}"))?
                .unwrap_or(Json::Null),
        ))
    }

    pub(super) fn template(&self) -> &Template {
        self.template
    }
}

/// Why a value could not be computed.
enum Fail {
    /// Known only at deploy time or not modelled: partial resolution keeps the expression.
    Deferred(TemplateError),
    /// The template is wrong for these inputs: always an error.
    Error(TemplateError),
}

impl From<TemplateError> for Fail {
    fn from(e: TemplateError) -> Self {
        Fail::Error(e)
    }
}

type Step<T> = Result<T, Fail>;

/// The names of intrinsic functions; a one-key object with one of these keys is a call.
const FUNCTIONS: &[&str] = &[
    "Ref",
    "Condition",
    "Fn::Sub",
    "Fn::GetAtt",
    "Fn::If",
    "Fn::Equals",
    "Fn::Contains",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Fn::Join",
    "Fn::Split",
    "Fn::Select",
    "Fn::FindInMap",
    "Fn::Base64",
    "Fn::ImportValue",
    "Fn::GetAZs",
    "Fn::Cidr",
    "Fn::Length",
    "Fn::ToJsonString",
    "Fn::Transform",
];

/// The call in `value`, if it is one: `{"Fn::X": args}`. `{"Condition": "Name"}` counts only
/// with a string argument, so an IAM statement's `Condition` block is not mistaken for one.
fn call(value: &Json) -> Option<(&str, &Json)> {
    let map = value.as_object().filter(|m| m.len() == 1)?;
    let (name, args) = map.iter().next()?;
    let is_call = FUNCTIONS.contains(&name.as_str()) && (name != "Condition" || args.is_string());
    is_call.then_some((name.as_str(), args))
}

/// Resolution state: parameter values, pseudo parameters and the (memoised) conditions.
pub(super) struct Scope<'a> {
    template: &'a Template,
    params: &'a BTreeMap<String, Json>,
    pseudo: &'a Pseudo,
    conditions: RefCell<BTreeMap<String, bool>>,
    evaluating: RefCell<Vec<String>>,
    /// Attributes known from outside (a deployment's custom resources answered), by
    /// `(logical id, attribute)`; `Ref` is attribute `"Ref"`.
    known: Option<&'a Attributes>,
}

/// Attribute values a deployment has learned, by `(logical id, attribute)` (`"Ref"` for `Ref`).
pub type Attributes = BTreeMap<(String, String), Json>;

impl Scope<'_> {
    /// The value of a named condition.
    fn condition(&self, name: &str, context: &str) -> Result<bool, TemplateError> {
        if let Some(value) = self.conditions.borrow().get(name) {
            return Ok(*value);
        }
        let definition =
            self.template
                .conditions
                .get(name)
                .ok_or_else(|| TemplateError::UnknownCondition {
                    context: context.to_owned(),
                    name: name.to_owned(),
                })?;
        if self.evaluating.borrow().iter().any(|n| n == name) {
            return Err(TemplateError::CyclicCondition(name.to_owned()));
        }
        self.evaluating.borrow_mut().push(name.to_owned());
        let value = self.truth(definition, &format!("Conditions.{name}"));
        self.evaluating.borrow_mut().pop();
        let value = value?;
        self.conditions.borrow_mut().insert(name.to_owned(), value);
        Ok(value)
    }

    /// A condition function's value.
    fn truth(&self, value: &Json, context: &str) -> Result<bool, TemplateError> {
        match self.strict(value, context)? {
            Json::Bool(b) => Ok(b),
            other => Err(TemplateError::Invalid {
                context: context.to_owned(),
                message: format!(
                    "{other} is not a condition (Fn::Equals, Fn::And, Fn::Or, Fn::Not, Condition)"
                ),
            }),
        }
    }

    /// Fully resolves `value`; anything deferred is an error.
    pub(super) fn strict(&self, value: &Json, context: &str) -> Result<Json, TemplateError> {
        match self.eval(value, context) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(TemplateError::Invalid {
                context: context.to_owned(),
                message: "AWS::NoValue where a value is required".to_owned(),
            }),
            Err(Fail::Deferred(e) | Fail::Error(e)) => Err(e),
        }
    }

    /// Resolves what can be resolved and keeps deferred calls as they are. `None` = NoValue.
    pub(super) fn partial(
        &self,
        value: &Json,
        context: &str,
    ) -> Result<Option<Json>, TemplateError> {
        if let Some((name, args)) = call(value) {
            // Choosing the branch first lets a partly resolvable branch be resolved in part.
            if name == "Fn::If" {
                let (chosen, _) = self.branch(args, context)?;
                return self.partial(chosen, context);
            }
            return match self.eval(value, context) {
                Ok(v) => Ok(v),
                Err(Fail::Deferred(_)) => Ok(Some(value.clone())),
                Err(Fail::Error(e)) => Err(e),
            };
        }
        rebuild(value, context, |v, c| self.partial(v, c)).map(Some)
    }

    /// The chosen branch of `Fn::If` arguments, and the condition's name.
    fn branch<'v>(
        &self,
        args: &'v Json,
        context: &str,
    ) -> Result<(&'v Json, &'v str), TemplateError> {
        let [cond, yes, no] = fixed::<3>(args, "Fn::If", context)?;
        let name = cond
            .as_str()
            .ok_or_else(|| invalid(context, "Fn::If needs a condition name"))?;
        Ok((
            if self.condition(name, context)? {
                yes
            } else {
                no
            },
            name,
        ))
    }

    /// Evaluates `value` completely. `Ok(None)` is `AWS::NoValue`.
    fn eval(&self, value: &Json, context: &str) -> Step<Option<Json>> {
        let Some((name, args)) = call(value) else {
            return rebuild(value, context, |v, c| self.eval(v, c)).map(Some);
        };
        let value = match name {
            "Ref" => {
                let target = args
                    .as_str()
                    .ok_or_else(|| invalid(context, "Ref needs a name"))?;
                if target == "AWS::NoValue" {
                    return Ok(None);
                }
                self.reference(target, context)?
            }
            "Fn::GetAtt" => {
                let [resource, attribute] = fixed::<2>(args, name, context)?;
                let resource = resource
                    .as_str()
                    .ok_or_else(|| invalid(context, "Fn::GetAtt needs a resource name"))?;
                let attribute = self.text(attribute, context)?;
                Json::String(self.attribute(resource, &attribute, context)?)
            }
            "Fn::Sub" => Json::String(self.sub(args, context)?),
            "Fn::If" => {
                let (chosen, _) = self.branch(args, context)?;
                return self.eval(chosen, context);
            }
            "Fn::Join" => {
                let [delimiter, items] = fixed::<2>(args, name, context)?;
                let delimiter = delimiter
                    .as_str()
                    .ok_or_else(|| invalid(context, "Fn::Join needs a literal delimiter"))?;
                let items = self.list(items, context)?;
                Json::String(items.join(delimiter))
            }
            "Fn::Split" => {
                let [delimiter, source] = fixed::<2>(args, name, context)?;
                let delimiter = delimiter
                    .as_str()
                    .ok_or_else(|| invalid(context, "Fn::Split needs a literal delimiter"))?;
                let source = self.text(source, context)?;
                Json::Array(source.split(delimiter).map(Json::from).collect())
            }
            "Fn::Select" => {
                let [index, items] = fixed::<2>(args, name, context)?;
                let index = self.text(index, context)?;
                let index: usize = index
                    .parse()
                    .map_err(|_| invalid(context, &format!("Fn::Select index {index:?}")))?;
                let items = self.list(items, context)?;
                let item = items.get(index).ok_or_else(|| {
                    invalid(
                        context,
                        &format!(
                            "Fn::Select index {index} out of range for {} items",
                            items.len()
                        ),
                    )
                })?;
                Json::String(item.clone())
            }
            "Fn::FindInMap" => {
                let [map, top, second] = fixed::<3>(args, name, context)?;
                let keys = [
                    self.text(map, context)?,
                    self.text(top, context)?,
                    self.text(second, context)?,
                ];
                let found = keys
                    .iter()
                    .try_fold(&self.template.mappings, |node, key| node.get(key.as_str()));
                let found = found.ok_or_else(|| {
                    invalid(context, &format!("Fn::FindInMap {keys:?} not found"))
                })?;
                self.eval(found, context)?.unwrap_or(Json::Null)
            }
            "Fn::Equals" => {
                let [a, b] = fixed::<2>(args, name, context)?;
                let (a, b) = (self.required(a, context)?, self.required(b, context)?);
                Json::Bool(comparable(&a) == comparable(&b))
            }
            "Fn::And" | "Fn::Or" => {
                let items = args
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| invalid(context, &format!("{name} needs a list")))?;
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.push(self.truth(item, context)?);
                }
                Json::Bool(if name == "Fn::And" {
                    values.iter().all(|v| *v)
                } else {
                    values.iter().any(|v| *v)
                })
            }
            // Rules only: whether a list parameter holds a value.
            "Fn::Contains" => {
                let [list, item] = fixed::<2>(args, name, context)?;
                let (list, item) = (self.required(list, context)?, self.required(item, context)?);
                let list = list
                    .as_array()
                    .ok_or_else(|| invalid(context, "Fn::Contains needs a list first"))?;
                Json::Bool(list.iter().any(|v| comparable(v) == comparable(&item)))
            }
            "Fn::Not" => {
                let [inner] = fixed::<1>(args, name, context)?;
                Json::Bool(!self.truth(inner, context)?)
            }
            "Condition" => {
                let condition = args
                    .as_str()
                    .ok_or_else(|| invalid(context, "Condition needs a name"))?;
                Json::Bool(self.condition(condition, context)?)
            }
            other => {
                return Err(Fail::Deferred(TemplateError::UnsupportedFunction {
                    context: context.to_owned(),
                    function: other.to_owned(),
                }));
            }
        };
        Ok(Some(value))
    }

    /// A value that must exist (not NoValue).
    fn required(&self, value: &Json, context: &str) -> Step<Json> {
        self.eval(value, context)?
            .ok_or_else(|| invalid(context, "AWS::NoValue where a value is required").into())
    }

    /// A value that must be text; CloudFormation reads numbers and booleans as text.
    fn text(&self, value: &Json, context: &str) -> Step<String> {
        match self.required(value, context)? {
            Json::String(s) => Ok(s),
            Json::Number(n) => Ok(n.to_string()),
            Json::Bool(b) => Ok(b.to_string()),
            other => Err(invalid(context, &format!("{other} is not a string")).into()),
        }
    }

    /// A value that must be a list of texts: a literal list (NoValue items dropped) or a list
    /// value such as a CommaDelimitedList or `Fn::Split`.
    fn list(&self, value: &Json, context: &str) -> Step<Vec<String>> {
        let items = match value {
            Json::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(self.eval(item, context)?);
                }
                out
            }
            other => match self.required(other, context)? {
                Json::Array(items) => items,
                v => return Err(invalid(context, &format!("{v} is not a list")).into()),
            },
        };
        items
            .into_iter()
            .map(|item| match item {
                Json::String(s) => Ok(s),
                Json::Number(n) => Ok(n.to_string()),
                Json::Bool(b) => Ok(b.to_string()),
                v => Err(invalid(context, &format!("list item {v} is not a string")).into()),
            })
            .collect()
    }

    /// `Ref name`: a parameter, a pseudo parameter or a resource.
    fn reference(&self, name: &str, context: &str) -> Step<Json> {
        if let Some(value) = self.params.get(name) {
            return Ok(value.clone());
        }
        let pseudo = match name {
            "AWS::AccountId" => Some(self.pseudo.account_id.clone()),
            "AWS::Region" => Some(self.pseudo.region.clone()),
            "AWS::Partition" => Some(self.pseudo.partition.clone()),
            "AWS::StackName" => Some(self.pseudo.stack_name.clone()),
            "AWS::URLSuffix" => Some(
                if self.pseudo.partition == "aws-cn" {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                }
                .to_owned(),
            ),
            _ => None,
        };
        if let Some(value) = pseudo {
            return Ok(Json::String(value));
        }
        if name == "AWS::StackId" || name == "AWS::NotificationARNs" {
            return Err(deferred(context, name));
        }
        Ok(Json::String(self.attribute(name, "Ref", context)?))
    }

    /// `Ref` (attribute "Ref") or `Fn::GetAtt` of a resource: the ARN or name CloudFormation
    /// would return, for resources whose physical name the template sets.
    fn attribute(&self, id: &str, attribute: &str, context: &str) -> Step<String> {
        if let Some(value) = self
            .known
            .and_then(|k| k.get(&(id.to_owned(), attribute.to_owned())))
        {
            return self.text(value, context);
        }
        let resource =
            self.template
                .resources
                .get(id)
                .ok_or_else(|| TemplateError::UnknownReference {
                    context: context.to_owned(),
                    name: id.to_owned(),
                })?;
        if let Some(condition) = &resource.condition
            && !self.condition(condition, context)?
        {
            return Err(invalid(
                context,
                &format!("{id} does not exist here (condition {condition} is false)"),
            )
            .into());
        }
        let what = || format!("{id}.{attribute}");
        let name_of = |property: &str| -> Step<String> {
            match resource.properties.get(property) {
                Some(v) => self.text(v, context),
                None => Err(deferred(context, &format!("{} (generated name)", what()))),
            }
        };
        let Pseudo {
            account_id: a,
            region: r,
            partition: p,
            ..
        } = self.pseudo;
        match (resource.resource_type.as_str(), attribute) {
            ("AWS::IAM::Role", "Ref") => name_of("RoleName"),
            ("AWS::IAM::Role", "Arn") if resource.properties.get("Path").is_none() => {
                Ok(format!("arn:{p}:iam::{a}:role/{}", name_of("RoleName")?))
            }
            ("AWS::Backup::BackupVault", "Ref" | "BackupVaultName") => name_of("BackupVaultName"),
            ("AWS::Backup::BackupVault", "BackupVaultArn") => Ok(format!(
                "arn:{p}:backup:{r}:{a}:backup-vault:{}",
                name_of("BackupVaultName")?
            )),
            ("AWS::SQS::Queue", "QueueName") => name_of("QueueName"),
            ("AWS::SQS::Queue", "Arn") => {
                Ok(format!("arn:{p}:sqs:{r}:{a}:{}", name_of("QueueName")?))
            }
            ("AWS::SQS::Queue", "Ref" | "QueueUrl") => Ok(format!(
                "https://sqs.{r}.amazonaws.com/{a}/{}",
                name_of("QueueName")?
            )),
            ("AWS::SNS::Topic", "TopicName") => name_of("TopicName"),
            ("AWS::SNS::Topic", "Ref" | "TopicArn") => {
                Ok(format!("arn:{p}:sns:{r}:{a}:{}", name_of("TopicName")?))
            }
            ("AWS::Lambda::Function", "Ref") => name_of("FunctionName"),
            ("AWS::Lambda::Function", "Arn") => Ok(format!(
                "arn:{p}:lambda:{r}:{a}:function:{}",
                name_of("FunctionName")?
            )),
            ("AWS::Logs::LogGroup", "Ref") => name_of("LogGroupName"),
            ("AWS::Logs::LogGroup", "Arn") => Ok(format!(
                "arn:{p}:logs:{r}:{a}:log-group:{}:*",
                name_of("LogGroupName")?
            )),
            _ => Err(deferred(context, &what())),
        }
    }

    /// `Fn::Sub`: a string, or `[string, {variables}]`.
    fn sub(&self, args: &Json, context: &str) -> Step<String> {
        let (text, variables) = match args {
            Json::String(s) => (s.as_str(), None),
            Json::Array(parts) if parts.len() == 2 => (
                parts[0]
                    .as_str()
                    .ok_or_else(|| invalid(context, "Fn::Sub needs a literal string"))?,
                Some(
                    parts[1]
                        .as_object()
                        .ok_or_else(|| invalid(context, "Fn::Sub variables must be a mapping"))?,
                ),
            ),
            _ => {
                return Err(
                    invalid(context, "Fn::Sub needs a string or [string, variables]").into(),
                );
            }
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| invalid(context, &format!("unclosed ${{ in Fn::Sub {text:?}")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                // `${!Name}` is the escape for a literal `${Name}`.
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.and_then(|v| v.get(name)) {
                out.push_str(&self.text(value, context)?);
            } else if let Some((resource, attribute)) = name.split_once('.') {
                out.push_str(&self.attribute(resource, attribute, context)?);
            } else {
                match self.reference(name, context)? {
                    Json::String(s) => out.push_str(&s),
                    _ => {
                        return Err(invalid(
                            context,
                            &format!("Fn::Sub cannot insert the list {name}"),
                        )
                        .into());
                    }
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Rebuilds a mapping or list from its children as `child` resolves them, dropping
/// `AWS::NoValue` (`None`) as CloudFormation does; scalars are returned as they are.
fn rebuild<E>(
    value: &Json,
    context: &str,
    mut child: impl FnMut(&Json, &str) -> Result<Option<Json>, E>,
) -> Result<Json, E> {
    Ok(match value {
        Json::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if let Some(v) = child(v, &format!("{context}.{k}"))? {
                    out.insert(k.clone(), v);
                }
            }
            Json::Object(out)
        }
        Json::Array(items) => {
            let mut out = Vec::new();
            for (i, v) in items.iter().enumerate() {
                out.extend(child(v, &format!("{context}[{i}]"))?);
            }
            Json::Array(out)
        }
        scalar => scalar.clone(),
    })
}

/// CloudFormation compares scalars as text (`!Equals [!Ref NumberParam, "7"]` is true).
fn comparable(value: &Json) -> Json {
    match value {
        Json::Number(n) => Json::String(n.to_string()),
        Json::Bool(b) => Json::String(b.to_string()),
        Json::Array(items) => Json::Array(items.iter().map(comparable).collect()),
        other => other.clone(),
    }
}

/// The `N` arguments of a function that takes exactly `N`.
fn fixed<'v, const N: usize>(
    args: &'v Json,
    function: &str,
    context: &str,
) -> Result<[&'v Json; N], TemplateError> {
    let items = match args {
        Json::Array(items) => items.iter().collect::<Vec<_>>(),
        single if N == 1 => vec![single],
        _ => Vec::new(),
    };
    items
        .try_into()
        .map_err(|_| invalid(context, &format!("{function} takes {N} arguments")))
}

fn invalid(context: &str, message: &str) -> TemplateError {
    TemplateError::Invalid {
        context: context.to_owned(),
        message: message.to_owned(),
    }
}

fn deferred(context: &str, what: &str) -> Fail {
    Fail::Deferred(TemplateError::Unresolvable {
        context: context.to_owned(),
        what: what.to_owned(),
    })
}
