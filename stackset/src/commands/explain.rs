//! `crossvault explain EVENT.json`: the plan crossvault would make for an AWS Backup event in
//! the account and region it came from, without calling AWS.
//!
//! The handler's configuration is not typed in separately: the template is evaluated for that
//! account and region with the stack's parameters (from `--config` and `--parameter`), and its
//! Lambda environment becomes the configuration, exactly as a deployed stack would give it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crossvault_core::{BackupEvent, DecideError, Facts, Plan, StackConfig, decide};
use serde::Serialize;
use serde_json::Value;

use crate::commands::invoke::read_event;
use crate::config::{self, ConfigFile};
use crate::error::{CliError, exit};
use crate::output::Report;
use crate::template::{Evaluation, Pseudo, Template, handler_environment};

/// The template this CLI was built with.
pub use crate::deployment::TEMPLATE;

#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    /// The AWS Backup EventBridge event (JSON).
    pub event: PathBuf,
    /// crossvault's config file (default: ./crossvault.config.yaml when present); explain reads
    /// its `parameters:`.
    #[arg(long, value_name = "FILE", env = "CROSSVAULT_CONFIG")]
    pub config: Option<PathBuf>,
    /// A stack parameter, overriding the config file (repeatable).
    #[arg(long = "parameter", short = 'p', value_name = "NAME=VALUE", value_parser = key_value)]
    pub parameters: Vec<(String, String)>,
    /// The account the event is handled in (default: the event's `account`).
    #[arg(long)]
    pub account: Option<String>,
    /// The region the event is handled in (default: the event's `region`).
    #[arg(long)]
    pub region: Option<String>,
    /// A tag of the backed-up resource (repeatable); without any, a plan that depends on tags
    /// is shown for both cases.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = key_value)]
    pub tags: Vec<(String, String)>,
    /// Use this template instead of the one built in.
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

/// One possible plan, and the fact it depends on (if any).
#[derive(Debug, Serialize)]
pub struct Branch {
    pub when: Option<String>,
    pub plan: Plan,
}

#[derive(Debug, Serialize)]
pub struct ExplainReport {
    pub detail_type: String,
    pub account: String,
    pub region: String,
    pub role: String,
    pub branches: Vec<Branch>,
}

impl std::fmt::Display for ExplainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "event    {}", self.detail_type)?;
        writeln!(
            f,
            "handled  account {} region {} (role: {})",
            self.account, self.region, self.role
        )?;
        for branch in &self.branches {
            match &branch.when {
                Some(when) => writeln!(f, "\n{when}:")?,
                None => writeln!(f)?,
            }
            write!(f, "{}", branch.plan)?;
        }
        Ok(())
    }
}

impl Report for ExplainReport {
    fn exit_code(&self) -> i32 {
        exit::OK
    }
}

fn usage(message: String) -> CliError {
    CliError::Usage {
        message,
        help: "see `crossvault explain --help`".into(),
    }
}

pub fn run(args: &ExplainArgs) -> Result<ExplainReport, CliError> {
    let event = read_event(&args.event)?;
    let parsed = BackupEvent::from_value(&event)
        .map_err(|e| usage(format!("not an AWS Backup event: {e}")))?;
    let field = |name: &str| event.get(name).and_then(Value::as_str).map(str::to_owned);
    let account = args
        .account
        .clone()
        .or_else(|| field("account"))
        .ok_or_else(|| usage("the event has no `account`; pass --account".into()))?;
    let region = args
        .region
        .clone()
        .or_else(|| field("region"))
        .ok_or_else(|| usage("the event has no `region`; pass --region".into()))?;

    let config = stack_config(args, &account, &region)?;
    // Without AWS: no earlier copy jobs, the point is an original (the core's assumption).
    let facts = |tags: Option<BTreeMap<String, String>>| Facts {
        resource_tags: tags,
        ..Facts::without_aws(&parsed, &config)
    };
    let decide_with = |facts: &Facts| {
        decide(&parsed, &config, facts).map_err(|e| usage(format!("cannot decide: {e}")))
    };
    let given_tags =
        (!args.tags.is_empty()).then(|| args.tags.iter().cloned().collect::<BTreeMap<_, _>>());
    let branches = match decide(&parsed, &config, &facts(given_tags.clone())) {
        Ok(plan) => vec![Branch { when: None, plan }],
        Err(DecideError::NeedsFacts(request)) => {
            let resource = request.resource_tags_of.unwrap_or_default();
            let tag = format!("{}={}", config.preprod_tag_key, config.preprod_tag_value);
            let tagged = BTreeMap::from([(
                config.preprod_tag_key.clone(),
                config.preprod_tag_value.clone(),
            )]);
            vec![
                Branch {
                    when: Some(format!("if {resource} carries the tag {tag}")),
                    plan: decide_with(&facts(Some(tagged)))?,
                },
                Branch {
                    when: Some("otherwise".into()),
                    plan: decide_with(&facts(Some(BTreeMap::new())))?,
                },
            ]
        }
        Err(e) => return Err(usage(format!("cannot decide: {e}"))),
    };
    Ok(ExplainReport {
        detail_type: parsed.detail_type().to_owned(),
        account,
        region,
        role: config.role.to_string(),
        branches,
    })
}

/// The handler configuration of the stack instance in `account`/`region`.
fn stack_config(args: &ExplainArgs, account: &str, region: &str) -> Result<StackConfig, CliError> {
    let template_text = match &args.template {
        Some(path) => std::fs::read_to_string(path).map_err(|source| CliError::Read {
            path: path.display().to_string(),
            source,
        })?,
        None => TEMPLATE.to_owned(),
    };
    let template = Template::parse(&template_text).map_err(|e| usage(format!("template: {e}")))?;
    let mut params = BTreeMap::new();
    if let Some(path) = config::locate(args.config.as_deref()) {
        let loaded = ConfigFile::load(&path)?;
        for (name, value) in &loaded.file.parameters {
            params.insert(name.clone(), value.to_parameter_string());
        }
        if let Some(prefix) = &loaded.file.artifact_bucket_prefix {
            params
                .entry("ArtifactBucketPrefix".to_owned())
                .or_insert_with(|| prefix.clone());
        }
    }
    params.extend(args.parameters.iter().cloned());
    fill_undecisive(&template, &mut params, account, region)?;
    let evaluation = template
        .evaluate(&params, &Pseudo::new(account, region))
        .map_err(|e| usage(format!("template: {e}")))?;
    let broken = evaluation
        .broken_rules()
        .map_err(|e| usage(format!("template: {e}")))?;
    if !broken.is_empty() {
        let lines: Vec<String> = broken
            .iter()
            .map(|b| format!("{}: {}", b.rule, b.description))
            .collect();
        return Err(usage(format!(
            "CloudFormation would refuse these parameters:\n  {}",
            lines.join("\n  ")
        )));
    }
    let env = handler_environment(&evaluation).map_err(|e| usage(format!("template: {e}")))?;
    if env.is_empty() {
        return Err(usage(format!(
            "account {account} in {region} gets no crossvault handler (role: {})",
            evaluation.role
        )));
    }
    let vars = env.into_iter().map(|(name, value)| {
        let text = match value {
            Value::String(s) => s,
            // A value only known after deployment (e.g. the copy role's ARN): shown by name.
            other => format!("<{}>", unresolved_name(&other)),
        };
        (name, text)
    });
    StackConfig::from_iter(vars).map_err(|e| usage(format!("configuration from the template: {e}")))
}

/// What a decision can depend on: the handler's environment and the instance's role.
fn decision_inputs(eval: &Evaluation) -> Result<(BTreeMap<String, Value>, String), CliError> {
    let env = handler_environment(eval).map_err(|e| usage(format!("template: {e}")))?;
    Ok((env, eval.role.to_string()))
}

/// Fills in the required parameters that no decision depends on (e.g. `ArtifactKey`): each
/// missing one is tried with two different values, and if the handler's environment and the
/// role come out the same, its value cannot change a plan. Any other missing one is named.
fn fill_undecisive(
    template: &Template,
    params: &mut BTreeMap<String, String>,
    account: &str,
    region: &str,
) -> Result<(), CliError> {
    let missing: Vec<String> = template
        .parameters()
        .iter()
        .filter(|(name, p)| p.default.is_none() && !params.contains_key(*name))
        .map(|(name, _)| name.clone())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let candidates = |name: &str| -> (String, String) {
        let allowed = &template.parameters()[name].allowed_values;
        match allowed.as_slice() {
            [a, b, ..] => (a.clone(), b.clone()),
            [a] => (a.clone(), a.clone()),
            [] => (
                "explain-placeholder-a".to_owned(),
                "explain-placeholder-b".to_owned(),
            ),
        }
    };
    let mut trial = params.clone();
    for name in &missing {
        trial.insert(name.clone(), candidates(name).0);
    }
    let pseudo = Pseudo::new(account, region);
    let mut needed = Vec::new();
    for name in &missing {
        let (a, b) = candidates(name);
        let mut with_b = trial.clone();
        with_b.insert(name.clone(), b);
        trial.insert(name.clone(), a);
        let first = template
            .evaluate(&trial, &pseudo)
            .map_err(|e| usage(format!("template: {e}")))?;
        let second = template
            .evaluate(&with_b, &pseudo)
            .map_err(|e| usage(format!("template: {e}")))?;
        if decision_inputs(&first)? != decision_inputs(&second)? {
            needed.push(name.clone());
        }
    }
    if !needed.is_empty() {
        return Err(CliError::Usage {
            message: format!(
                "the plan depends on {}, which {} no default",
                needed.join(", "),
                if needed.len() == 1 { "has" } else { "have" }
            ),
            help: format!(
                "give {} in the config file's parameters: (--config) or with -p NAME=VALUE",
                if needed.len() == 1 { "it" } else { "them" }
            ),
        });
    }
    *params = trial;
    Ok(())
}

fn unresolved_name(v: &Value) -> String {
    if let Some(att) = v.get("Fn::GetAtt").and_then(Value::as_array) {
        return att
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(".");
    }
    if let Some(r) = v.get("Ref").and_then(Value::as_str) {
        return r.to_owned();
    }
    "resolved at deployment".into()
}
