//! What a deployment consists of, worked out before any AWS call: the template, the artifact
//! and its content-hash key, the StackSet parameters (validated the way CloudFormation will),
//! and each instance's role.

use std::collections::BTreeMap;
use std::path::Path;

use crossvault_core::Role;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::artifact::{self, Architecture};
use crate::config::{Config, ConfigError, Loaded, closest, error_at, flag_error};
use crate::error::CliError;
use crate::template::{Pseudo, Template, TemplateError};

/// The template this CLI was built with.
pub const TEMPLATE: &str = include_str!("../../template/crossvault.yaml");

/// CloudFormation's limit for `TemplateBody`; larger templates go by `TemplateURL`.
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;

/// Every path creates named IAM roles.
pub const CAPABILITIES: [&str; 1] = ["CAPABILITY_NAMED_IAM"];

/// The handler zip as it will be published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedArtifact {
    pub path: String,
    pub architecture: Architecture,
    pub sha256: String,
    pub bytes: u64,
    /// `ArtifactKey`.
    pub key: String,
}

/// The template as it will be published and deployed.
#[derive(Debug, Clone)]
pub struct TemplateSource {
    pub text: String,
    pub model: Template,
    pub sha256: String,
    /// Where `publish` puts it in every bucket.
    pub key: String,
}

impl TemplateSource {
    pub fn load(path: Option<&Path>) -> Result<Self, CliError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| CliError::Read {
                path: p.display().to_string(),
                source,
            })?,
            None => TEMPLATE.to_owned(),
        };
        let model = Template::parse(&text).map_err(|e| CliError::Usage {
            message: format!("the template cannot be read: {e}"),
            help: "pass a CloudFormation template in YAML or JSON with --template".into(),
        })?;
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(Self {
            key: format!("crossvault/template-{sha256}.yaml"),
            text,
            model,
            sha256,
        })
    }
}

/// Reads the zip at `path` and works out its key (the architecture from `Architecture`).
pub fn read_artifact(
    path: &Path,
    architecture: Architecture,
) -> Result<PublishedArtifact, CliError> {
    let bytes = std::fs::read(path).map_err(|source| CliError::Read {
        path: path.display().to_string(),
        source,
    })?;
    if !bytes.starts_with(b"PK") {
        return Err(CliError::Usage {
            message: format!("{} is not a zip file", path.display()),
            help: "name the zip `crossvault build` wrote (artifact: in the config, or --artifact)"
                .into(),
        });
    }
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Ok(PublishedArtifact {
        path: path.display().to_string(),
        architecture,
        key: artifact::s3_key(architecture, &sha256),
        bytes: bytes.len() as u64,
        sha256,
    })
}

/// The `Architecture` parameter (the template's default when not given).
pub fn architecture(config: &Config, template: &Template) -> Result<Architecture, CliError> {
    let value = config
        .parameters
        .get("Architecture")
        .cloned()
        .or_else(|| {
            template
                .parameters()
                .get("Architecture")
                .and_then(|p| p.default.clone())
        })
        .unwrap_or_else(|| "arm64".to_owned());
    match value.as_str() {
        "arm64" => Ok(Architecture::Arm64),
        "x86_64" => Ok(Architecture::X86_64),
        other => Err(CliError::Usage {
            message: format!("Architecture {other:?} is neither arm64 nor x86_64"),
            help: "set parameters.Architecture to the target `crossvault build --arch` used".into(),
        }),
    }
}

/// The parameters every instance gets: the configured ones plus the artifact's location.
pub fn stack_parameters(config: &Config, artifact_key: &str) -> BTreeMap<String, String> {
    let mut params = config.parameters.clone();
    params.insert(
        "ArtifactBucketPrefix".into(),
        config.artifact_bucket_prefix.clone(),
    );
    params.insert("ArtifactKey".into(), artifact_key.to_owned());
    params
}

/// Checks every parameter the way CloudFormation will, before anything is published: names
/// the template declares, AllowedValues, AllowedPattern, MinValue / MaxValue, and required
/// ones present. Errors point at the config line (or the `-p` flag).
pub fn validate_parameters(
    config: &Config,
    loaded: Option<&Loaded>,
    template: &Template,
    params: &BTreeMap<String, String>,
) -> Result<(), CliError> {
    let declared = template.parameters();
    let err = |name: &str, message: String, help: Option<String>| -> CliError {
        let e: Box<ConfigError> = if config.parameters_from_flags.contains(name) {
            flag_error(&format!("-p {name}=..."), message, help)
        } else {
            error_at(loaded, name, message, help)
        };
        e.into()
    };
    for (name, value) in params {
        let Some(decl) = declared.get(name) else {
            let suggestion = closest(name, declared.keys().map(String::as_str))
                .map(|c| format!("did you mean {c}? "))
                .unwrap_or_default();
            return Err(err(
                name,
                format!("the template declares no parameter {name}"),
                Some(format!(
                    "{suggestion}the template's parameters: {}",
                    declared.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            ));
        };
        let constraint = decl
            .constraint_description
            .clone()
            .map(|d| format!("{name} {d}"));
        let items: Vec<&str> = if decl.is_list() {
            value.split(',').collect()
        } else {
            vec![value.as_str()]
        };
        if !decl.allowed_values.is_empty()
            && let Some(bad) = items
                .iter()
                .find(|i| !decl.allowed_values.iter().any(|a| a == *i))
        {
            return Err(err(
                name,
                format!("{bad:?} is not one of {}", decl.allowed_values.join(", ")),
                constraint,
            ));
        }
        if let Some(pattern) = &decl.allowed_pattern
            // CloudFormation's patterns are Java regular expressions; the ones Rust's engine
            // cannot read are left to CloudFormation.
            && let Ok(re) = regex::Regex::new(pattern)
            && let Some(bad) = items.iter().find(|i| !re.is_match(i))
        {
            let hint = if bad.chars().all(|c| c.is_ascii_digit()) && bad.len() < 12 {
                " (an account id written without quotes loses its leading zeros)"
            } else {
                ""
            };
            return Err(err(
                name,
                format!("{bad:?} does not match the template's pattern {pattern}{hint}"),
                constraint,
            ));
        }
        if decl.param_type == "Number" {
            let number: f64 = value.trim().parse().map_err(|_| {
                err(
                    name,
                    format!("{value:?} is not a number"),
                    constraint.clone(),
                )
            })?;
            let bound = |b: &Option<String>| b.as_deref().and_then(|t| t.parse::<f64>().ok());
            let below = bound(&decl.min_value).is_some_and(|min| number < min);
            let above = bound(&decl.max_value).is_some_and(|max| number > max);
            if below || above {
                return Err(err(
                    name,
                    format!(
                        "{value} is outside {}..{}",
                        decl.min_value.clone().unwrap_or_default(),
                        decl.max_value.clone().unwrap_or_default()
                    ),
                    constraint,
                ));
            }
        }
    }
    if let Some((name, _)) = declared
        .iter()
        .find(|(name, decl)| decl.default.is_none() && !params.contains_key(*name))
    {
        return Err(error_at(
            loaded,
            "parameters",
            format!("the template requires {name} (it has no default)"),
            Some(format!(
                "add it under parameters:, e.g.\n  parameters:\n    {name}: ..."
            )),
        )
        .into());
    }
    Ok(())
}

/// The template's `Rules` these parameters break (CloudFormation would refuse the StackSet).
pub fn broken_rules(
    template: &Template,
    params: &BTreeMap<String, String>,
    pseudo: &Pseudo,
) -> Result<Vec<String>, CliError> {
    let eval = template.evaluate(params, pseudo).map_err(template_error)?;
    Ok(eval
        .broken_rules()
        .map_err(template_error)?
        .into_iter()
        .map(|b| format!("{}: {}", b.rule, b.description))
        .collect())
}

/// The role the template gives `account` in `region`.
pub fn role_of(
    template: &Template,
    params: &BTreeMap<String, String>,
    account: &str,
    region: &str,
) -> Result<Role, CliError> {
    Ok(template
        .evaluate(params, &Pseudo::new(account, region))
        .map_err(template_error)?
        .role)
}

pub fn template_error(e: TemplateError) -> CliError {
    CliError::Usage {
        message: format!("template: {e}"),
        help: "check the parameters against the template (`crossvault plan` shows the details)"
            .into(),
    }
}

/// Text form of a role for tables.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Source => "source",
        Role::Backup => "backup",
        Role::PreProd => "pre-prod",
        Role::Management => "management",
    }
}
