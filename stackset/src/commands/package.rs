//! `crossvault package`: the template with its artifact parameters' defaults pointing at the
//! published objects, for the console (parameter groups and labels intact: the text is edited
//! in place, not re-serialized) or `aws cloudformation deploy`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::aws::Environment;
use crate::cli::Global;
use crate::commands::setup::{ConfigArgs, clients, prepare};
use crate::error::CliError;
use crate::output::{Progress, Report};
use crate::publish;
use crate::template::Template;

#[derive(Debug, Clone, clap::Args)]
pub struct PackageArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Where to write the packaged template.
    #[arg(long, default_value = "crossvault.packaged.yaml", value_name = "FILE")]
    pub out: PathBuf,
    /// Do not check that every region's bucket holds the artifact (no AWS call).
    #[arg(long)]
    pub no_check: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageReport {
    pub path: String,
    pub artifact_bucket_prefix: String,
    pub artifact_key: String,
    /// Regions whose bucket was checked to hold the artifact (empty with --no-check).
    pub checked_regions: Vec<String>,
    /// `aws cloudformation deploy` for a single stack from the packaged template.
    pub deploy_command: String,
}

impl Report for PackageReport {}

impl std::fmt::Display for PackageReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "wrote {}", self.path)?;
        writeln!(
            f,
            "ArtifactBucketPrefix  {} (buckets <prefix>-<region>)",
            self.artifact_bucket_prefix
        )?;
        writeln!(f, "ArtifactKey           {}", self.artifact_key)?;
        if self.checked_regions.is_empty() {
            writeln!(f, "published objects not checked (--no-check)")?;
        } else {
            writeln!(
                f,
                "published in          {}",
                self.checked_regions.join(", ")
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "Console: CloudFormation > Create stack > Upload a template file > {} (acknowledge IAM resources with custom names).",
            self.path
        )?;
        write!(
            f,
            "CLI (one account and region):\n  {}",
            self.deploy_command
        )
    }
}

/// Sets (or replaces) `Default:` of parameter `name` in the template text, keeping everything
/// else byte for byte.
pub fn set_default(text: &str, name: &str, value: &str) -> Result<String, CliError> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let parameters = lines
        .iter()
        .position(|l| l.trim_end() == "Parameters:")
        .ok_or_else(|| CliError::Usage {
            message: "the template has no top-level Parameters: section".into(),
            help: "package a crossvault template".into(),
        })?;
    let header = format!("{name}:");
    let start = lines[parameters + 1..]
        .iter()
        .position(|l| {
            let trimmed = l.trim_start();
            trimmed.trim_end() == header && l.len() - trimmed.len() > 0
        })
        .map(|i| i + parameters + 1)
        .ok_or_else(|| CliError::Usage {
            message: format!("the template declares no parameter {name}"),
            help: "package a crossvault template".into(),
        })?;
    let indent = lines[start].len() - lines[start].trim_start().len();
    // The block ends at the next line indented no deeper than the parameter's name.
    let end = lines[start + 1..]
        .iter()
        .position(|l| !l.trim().is_empty() && l.len() - l.trim_start().len() <= indent)
        .map(|i| i + start + 1)
        .unwrap_or(lines.len());
    let quoted = serde_json::to_string(value).map_err(|e| CliError::Internal(e.to_string()))?;
    let property_indent = " ".repeat(indent + 2);
    let new_line = format!("{property_indent}Default: {quoted}\n");
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let existing = (start + 1..end).find(|&i| {
        lines[i].starts_with(&property_indent) && lines[i].trim_start().starts_with("Default:")
    });
    match existing {
        Some(i) => out[i] = new_line,
        None => {
            let after_type = (start + 1..end)
                .find(|&i| lines[i].trim_start().starts_with("Type:"))
                .unwrap_or(start);
            out.insert(after_type + 1, new_line);
        }
    }
    Ok(out.concat())
}

/// The packaged template text.
pub fn packaged(text: &str, defaults: &BTreeMap<String, String>) -> Result<String, CliError> {
    let mut text = text.to_owned();
    for (name, value) in defaults {
        text = set_default(&text, name, value)?;
    }
    // The edit must leave a template that reads back with exactly these defaults.
    let model = Template::parse(&text)
        .map_err(|e| CliError::Internal(format!("packaged template: {e}")))?;
    for (name, value) in defaults {
        let got = model.parameters().get(name).and_then(|p| p.default.clone());
        if got.as_deref() != Some(value.as_str()) {
            return Err(CliError::Internal(format!(
                "packaged template: {name} reads back as {got:?}, not {value:?}"
            )));
        }
    }
    Ok(text)
}

pub async fn run(
    args: &PackageArgs,
    global: &Global,
    env: &Environment,
    progress: &Progress,
) -> Result<PackageReport, CliError> {
    let prepared = prepare(&args.config)?;
    let config = &prepared.config;
    let mut checked_regions = Vec::new();
    if !args.no_check {
        let clients = clients(config, global, env).await?;
        progress.step("checking the published artifact in every region");
        let missing = publish::missing_objects(&clients, config, &prepared.artifact.key).await?;
        progress.finish();
        if !missing.is_empty() {
            return Err(CliError::Refused {
                message: format!(
                    "the artifact is not published in {}: {}",
                    missing.keys().cloned().collect::<Vec<_>>().join(", "),
                    missing.values().cloned().collect::<Vec<_>>().join(", ")
                ),
                help: "run `crossvault publish` first (or --no-check to write the template anyway)"
                    .into(),
            });
        }
        checked_regions = config.regions.clone();
    }
    let defaults = BTreeMap::from([
        (
            "ArtifactBucketPrefix".to_owned(),
            config.artifact_bucket_prefix.clone(),
        ),
        ("ArtifactKey".to_owned(), prepared.artifact.key.clone()),
    ]);
    let text = packaged(&prepared.template.text, &defaults)?;
    std::fs::write(&args.out, &text).map_err(|source| CliError::Read {
        path: args.out.display().to_string(),
        source,
    })?;
    let overrides: Vec<String> = config
        .parameters
        .iter()
        .map(|(k, v)| shell_word(&format!("{k}={v}")))
        .collect();
    // `aws cloudformation deploy` refuses a template above the TemplateBody limit unless it may
    // upload it: the artifact bucket of the region the stack is deployed in takes it.
    let upload = if text.len() > crate::deployment::TEMPLATE_BODY_LIMIT {
        format!(
            " --s3-bucket {} --s3-prefix crossvault",
            shell_word(&format!(
                "{}-{}",
                config.artifact_bucket_prefix, config.stack_set_region
            ))
        )
    } else {
        String::new()
    };
    let deploy_command = format!(
        "aws cloudformation deploy --stack-name {} --template-file {}{upload} --capabilities CAPABILITY_NAMED_IAM{}",
        config.stack_set_name,
        shell_word(&args.out.display().to_string()),
        if overrides.is_empty() {
            String::new()
        } else {
            format!(" --parameter-overrides {}", overrides.join(" "))
        }
    );
    Ok(PackageReport {
        path: args.out.display().to_string(),
        artifact_bucket_prefix: config.artifact_bucket_prefix.clone(),
        artifact_key: prepared.artifact.key.clone(),
        checked_regions,
        deploy_command,
    })
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_=./:,@".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_default_inserts_after_type_and_replaces_an_existing_default() {
        let text = "Parameters:\n  A:\n    Type: String\n    Description: a\n  B:\n    Type: String\n    Default: old\nResources: {}\n";
        let once = set_default(text, "A", "new/key.zip").unwrap();
        assert_eq!(
            once,
            "Parameters:\n  A:\n    Type: String\n    Default: \"new/key.zip\"\n    Description: a\n  B:\n    Type: String\n    Default: old\nResources: {}\n"
        );
        let twice = set_default(&once, "B", "x").unwrap();
        assert!(
            twice.contains("  B:\n    Type: String\n    Default: \"x\"\nResources"),
            "{twice}"
        );
        assert!(set_default(text, "C", "x").is_err());
    }

    #[test]
    fn the_real_template_packages_and_keeps_its_interface_metadata() {
        let text = crate::deployment::TEMPLATE;
        let defaults = BTreeMap::from([
            ("ArtifactBucketPrefix".to_owned(), "my-artifacts".to_owned()),
            (
                "ArtifactKey".to_owned(),
                "crossvault/bootstrap-arm64-abc.zip".to_owned(),
            ),
        ]);
        let out = packaged(text, &defaults).unwrap();
        assert!(out.contains("AWS::CloudFormation::Interface"));
        assert_eq!(out.lines().count(), text.lines().count() + 2);
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("A=b"), "A=b");
        assert_eq!(shell_word("S=rate(6 hours)"), "'S=rate(6 hours)'");
    }
}
