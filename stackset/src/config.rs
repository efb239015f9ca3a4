//! crossvault's configuration file, `crossvault.config.yaml` (named so nobody takes it for the
//! template, `crossvault.yaml`), and the flags and `CROSSVAULT_*` variables that override it.
//!
//! Reading happens in two steps. [`ConfigFile::load`] turns the text into typed keys; a typo or
//! a wrong type is an error naming the file, line, key and the keys that exist there. [`Config`]
//! then resolves what the StackSet commands need (defaults, overrides, cross-key rules), again
//! pointing at the line at fault. `explain` only needs the `parameters:` map, so it stops after
//! the first step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use miette::{Diagnostic, NamedSource, SourceSpan};
use serde::{Deserialize, Serialize};

/// The file commands read when `--config` is not given (in the working directory).
pub const DEFAULT_FILE: &str = "crossvault.config.yaml";

/// A configuration problem, pointing at the file and line at fault when there is one.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{origin}: {message}")]
#[diagnostic(code(crossvault::config))]
pub struct ConfigError {
    /// `FILE:LINE` (or the flag / variable the value came from).
    pub origin: String,
    pub message: String,
    #[source_code]
    pub source_code: Option<NamedSource<String>>,
    #[label("{label}")]
    pub span: Option<SourceSpan>,
    pub label: String,
    #[help]
    pub help: Option<String>,
}

impl ConfigError {
    fn plain(
        origin: impl Into<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Box<Self> {
        Box::new(Self {
            origin: origin.into(),
            message: message.into(),
            source_code: None,
            span: None,
            label: String::new(),
            help,
        })
    }
}

/// A stack parameter value as written in YAML: text, a number, a boolean or a list (joined
/// with commas, as CloudFormation's `CommaDelimitedList` takes it).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ParameterValue {
    Text(String),
    Bool(bool),
    Number(serde_norway::Number),
    List(Vec<ParameterItem>),
    Null(()),
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ParameterItem {
    Text(String),
    Bool(bool),
    Number(serde_norway::Number),
}

impl ParameterValue {
    /// The value as CloudFormation receives it.
    pub fn to_parameter_string(&self) -> String {
        let item = |i: &ParameterItem| match i {
            ParameterItem::Text(s) => s.clone(),
            ParameterItem::Bool(b) => b.to_string(),
            ParameterItem::Number(n) => n.to_string(),
        };
        match self {
            Self::Text(s) => s.clone(),
            Self::Bool(b) => b.to_string(),
            Self::Number(n) => n.to_string(),
            Self::List(items) => items.iter().map(item).collect::<Vec<_>>().join(","),
            Self::Null(()) => String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PermissionModelName {
    /// Organizations trusted access; targets are OUs; never the management account.
    ServiceManaged,
    /// Your own administration and execution roles; targets are account ids.
    SelfManaged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegionConcurrency {
    Parallel,
    Sequential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConcurrencyMode {
    StrictFailureTolerance,
    SoftFailureTolerance,
}

/// `operation_preferences:` — how CloudFormation rolls an operation out (per operation; not
/// stored on the StackSet, so changing them alone changes nothing on the next deploy).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OperationPreferencesFile {
    pub region_concurrency: Option<RegionConcurrency>,
    pub region_order: Option<Vec<String>>,
    pub max_concurrent_count: Option<u32>,
    pub max_concurrent_percentage: Option<u32>,
    pub failure_tolerance_count: Option<u32>,
    pub failure_tolerance_percentage: Option<u32>,
    pub concurrency_mode: Option<ConcurrencyMode>,
}

/// `management_stack:` — the plain stack in the Organizations management account, which a
/// service-managed StackSet never reaches.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementStackFile {
    pub deploy: Option<bool>,
    pub stack_name: Option<String>,
    pub region: Option<String>,
    pub role_arn: Option<String>,
}

/// The file as written: every key optional; [`Config::resolve`] decides what is required.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub stack_set_name: Option<String>,
    pub description: Option<String>,
    pub permission_model: Option<PermissionModelName>,
    pub organizational_unit_ids: Option<Vec<String>>,
    pub accounts: Option<Vec<String>>,
    pub auto_deployment: Option<bool>,
    pub retain_stacks_on_account_removal: Option<bool>,
    pub administration_role_arn: Option<String>,
    pub execution_role_name: Option<String>,
    pub delegated_admin: Option<bool>,
    pub regions: Option<Vec<String>>,
    pub stack_set_region: Option<String>,
    pub artifact_bucket_prefix: Option<String>,
    pub artifact: Option<PathBuf>,
    pub operation_preferences: Option<OperationPreferencesFile>,
    pub management_stack: Option<ManagementStackFile>,
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub parameters: BTreeMap<String, ParameterValue>,
}

/// A loaded file: its typed keys and its text (for pointing at lines later).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub text: String,
    pub file: ConfigFile,
}

impl ConfigFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Loaded, Box<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::plain(
                path.display().to_string(),
                format!("cannot read the config file: {e}"),
                Some(format!(
                    "crossvault reads {DEFAULT_FILE} in the working directory, or the file \
                     --config / CROSSVAULT_CONFIG names; `crossvault init` writes a starter file"
                )),
            )
        })?;
        let file = Self::parse(path, &text)?;
        Ok(Loaded {
            path: path.to_path_buf(),
            text,
            file,
        })
    }

    /// Parses `text` (read from `path`): errors name the line, the key and the keys that exist.
    pub fn parse(path: &Path, text: &str) -> Result<Self, Box<ConfigError>> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let deserializer = serde_norway::Deserializer::from_str(text);
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let (message, mut help) = explain_serde_message(&inner.to_string(), &key);
            if message.contains("invalid type: integer") && help.as_deref().is_some_and(|h| h.contains("a string")) {
                help = Some(
                    "quote it, e.g. \"012345678901\": YAML reads unquoted digits as a number (and drops leading zeros)".into(),
                );
            }
            let location = inner.location();
            let line = location.as_ref().map(|l| l.line());
            let origin = match line {
                Some(line) => format!("{}:{line}", path.display()),
                None => path.display().to_string(),
            };
            let key_text = if key == "." || key.is_empty() {
                String::new()
            } else {
                format!("key `{key}`: ")
            };
            Box::new(ConfigError {
                origin,
                message: format!("{key_text}{message}"),
                source_code: Some(NamedSource::new(path.display().to_string(), text.to_owned())),
                span: location.map(|l| SourceSpan::from((l.index().min(text.len()), 1))),
                label: "here".into(),
                help,
            })
        })
    }
}

/// Rewords serde's message: strips the position (shown as FILE:LINE) and turns "expected one of"
/// into help listing the keys that exist.
fn explain_serde_message(raw: &str, key: &str) -> (String, Option<String>) {
    // serde_norway appends " at line L column C"; the origin carries the line already.
    let message = match raw.find(" at line ") {
        Some(i) => &raw[..i],
        None => raw,
    };
    // serde_norway may lead with the path itself; the caller names the key once.
    let message = message
        .strip_prefix(&format!("{key}: "))
        .unwrap_or(message)
        .to_owned();
    if let Some((head, expected)) = message.split_once(", expected one of ") {
        let keys = expected.replace('`', "");
        return (
            head.to_owned(),
            Some(format!("the keys that exist here: {keys}")),
        );
    }
    if let Some((head, expected)) = message.split_once(", expected ") {
        let help = match key.rsplit('.').next() {
            Some(k) if !k.is_empty() => format!("`{k}` takes {expected}"),
            _ => format!("expected {expected}"),
        };
        return (head.to_owned(), Some(help));
    }
    (message, None)
}

/// Values given on the command line or in `CROSSVAULT_*` variables; they win over the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub stack_set_name: Option<String>,
    pub regions: Option<Vec<String>>,
    pub artifact_bucket_prefix: Option<String>,
    pub artifact: Option<PathBuf>,
    pub delegated_admin: Option<bool>,
    pub parameters: Vec<(String, String)>,
}

/// Where the StackSet deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum Permission {
    ServiceManaged {
        organizational_unit_ids: Vec<String>,
        auto_deployment: bool,
        retain_stacks_on_account_removal: bool,
    },
    SelfManaged {
        accounts: Vec<String>,
        administration_role_arn: Option<String>,
        execution_role_name: Option<String>,
    },
}

impl Permission {
    pub fn name(&self) -> &'static str {
        match self {
            Self::ServiceManaged { .. } => "SERVICE_MANAGED",
            Self::SelfManaged { .. } => "SELF_MANAGED",
        }
    }
}

/// Resolved operation preferences (crossvault's defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationPreferences {
    pub region_concurrency: RegionConcurrency,
    pub region_order: Vec<String>,
    pub max_concurrent: Amount,
    pub failure_tolerance: Amount,
    pub concurrency_mode: ConcurrencyMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Amount {
    Count(u32),
    Percentage(u32),
}

/// The management account's plain stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManagementStack {
    pub deploy: bool,
    pub stack_name: String,
    pub region: String,
    /// A role in the management account to deploy it with (when crossvault runs elsewhere,
    /// e.g. as the StackSets delegated administrator).
    pub role_arn: Option<String>,
}

/// Everything the StackSet commands need, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// The file it came from, if any.
    pub file: Option<PathBuf>,
    pub stack_set_name: String,
    pub description: String,
    pub permission: Permission,
    pub delegated_admin: bool,
    pub regions: Vec<String>,
    /// Where the StackSet itself lives (pinned, so a changed AWS_REGION cannot create a second
    /// StackSet elsewhere).
    pub stack_set_region: String,
    pub artifact_bucket_prefix: String,
    pub artifact: PathBuf,
    pub operation_preferences: OperationPreferences,
    pub management_stack: ManagementStack,
    pub tags: BTreeMap<String, String>,
    /// The stack parameters as given (file, then `-p`), without `ArtifactBucketPrefix` and
    /// `ArtifactKey`, which crossvault sets from what it publishes.
    pub parameters: BTreeMap<String, String>,
    /// Parameters whose value came from `-p` (errors name the flag, not a line).
    pub parameters_from_flags: std::collections::BTreeSet<String>,
}

/// An error about `key` in `loaded` (its line when it is there), for checks made after the
/// configuration resolved (e.g. parameters the template refuses).
pub fn error_at(
    loaded: Option<&Loaded>,
    key: &str,
    message: String,
    help: Option<String>,
) -> Box<ConfigError> {
    Locator { loaded }.error(key, message, help)
}

/// An error about a value given on the command line.
pub fn flag_error(flag: &str, message: String, help: Option<String>) -> Box<ConfigError> {
    ConfigError::plain(flag.to_owned(), message, help)
}

/// Default artifact: what `crossvault build` writes.
pub const DEFAULT_ARTIFACT: &str = "target/lambda/crossvault/bootstrap.zip";

/// Pinpoints problems found after parsing: the line of a key in the file, or the override.
struct Locator<'a> {
    loaded: Option<&'a Loaded>,
}

impl Locator<'_> {
    /// An error about `key` (a top-level or nested key name as written in the file).
    fn error(&self, key: &str, message: String, help: Option<String>) -> Box<ConfigError> {
        let Some(loaded) = self.loaded else {
            return ConfigError::plain("configuration", format!("{key}: {message}"), help);
        };
        let path = loaded.path.display().to_string();
        match find_key(&loaded.text, key) {
            Some((offset, len, line)) => Box::new(ConfigError {
                origin: format!("{path}:{line}"),
                message: format!("key `{key}`: {message}"),
                source_code: Some(NamedSource::new(path, loaded.text.clone())),
                span: Some(SourceSpan::from((offset, len))),
                label: "this key".into(),
                help,
            }),
            None => ConfigError::plain(path, format!("{key}: {message}"), help),
        }
    }

    /// An error about a value that came from a flag / variable.
    fn override_error(
        &self,
        flag: &str,
        message: String,
        help: Option<String>,
    ) -> Box<ConfigError> {
        ConfigError::plain(flag.to_owned(), message, help)
    }
}

/// Byte offset, length and 1-based line of `key:` in a YAML text (the last path segment, first
/// occurrence).
fn find_key(text: &str, key: &str) -> Option<(usize, usize, usize)> {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let bare = trimmed.trim_start_matches("- ");
        let dash = trimmed.len() - bare.len();
        if let Some(rest) = bare.strip_prefix(leaf)
            && rest.trim_start().starts_with(':')
        {
            return Some((offset + indent + dash, leaf.len(), i + 1));
        }
        offset += line.len();
    }
    None
}

/// Edit distance, for "did you mean".
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.to_lowercase().chars().collect();
        let b: Vec<char> = b.to_lowercase().chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != cb))
                    .min(row[j] + 1)
                    .min(row[j + 1] + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn is_region(s: &str) -> bool {
    // The template's own pattern: ^[a-z]{2}(-[a-z]+)+-\d$
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].len() == 1
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.chars().all(|c| c.is_ascii_digit())
}

fn is_ou_or_root(s: &str) -> bool {
    let lower_alnum = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    if let Some(rest) = s.strip_prefix("r-") {
        return (4..=32).contains(&rest.len()) && lower_alnum(rest);
    }
    if let Some(rest) = s.strip_prefix("ou-")
        && let Some((a, b)) = rest.split_once('-')
    {
        return (4..=32).contains(&a.len())
            && (8..=32).contains(&b.len())
            && lower_alnum(a)
            && lower_alnum(b);
    }
    false
}

fn is_stack_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && s.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_role_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && is_account(parts[4])
        && parts[5].starts_with("role/")
}

/// The template's `ArtifactBucketPrefix` pattern, plus S3's 63-character bucket name limit.
fn check_prefix(prefix: &str, regions: &[String]) -> Result<(), String> {
    let mut chars = prefix.chars();
    let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    if !first_ok || !rest_ok || !(2..=47).contains(&prefix.len()) {
        return Err(format!(
            "{prefix:?} is not a bucket name prefix: 2-47 lower-case letters, digits, `.` or `-`, \
             starting with a letter or digit"
        ));
    }
    if let Some(region) = regions.iter().find(|r| prefix.len() + 1 + r.len() > 63) {
        return Err(format!(
            "the bucket for {region}, {prefix}-{region}, is longer than S3's 63 characters"
        ));
    }
    Ok(())
}

impl Config {
    /// Resolves the StackSet configuration from a loaded file (if any) and overrides.
    pub fn resolve(
        loaded: Option<&Loaded>,
        overrides: &Overrides,
    ) -> Result<Self, Box<ConfigError>> {
        let empty = ConfigFile::default();
        let file = loaded.map(|l| &l.file).unwrap_or(&empty);
        let at = Locator { loaded };
        let missing = |key: &str, example: &str| {
            let origin = match loaded {
                Some(l) => l.path.display().to_string(),
                None => format!("no config file ({DEFAULT_FILE} is not in the working directory)"),
            };
            ConfigError::plain(
                origin,
                format!("`{key}` is required"),
                Some(format!(
                    "add it to the config file, e.g.\n  {example}\n(`crossvault init` writes a \
                     starter file from what Organizations reports)"
                )),
            )
        };

        let stack_set_name = overrides
            .stack_set_name
            .clone()
            .or_else(|| file.stack_set_name.clone())
            .unwrap_or_else(|| "crossvault".to_owned());
        if !is_stack_name(&stack_set_name) {
            let message = format!(
                "{stack_set_name:?} is not a StackSet name: a letter, then letters, digits and \
                 `-`, at most 128 characters"
            );
            return Err(if overrides.stack_set_name.is_some() {
                at.override_error(
                    "--stack-set-name / CROSSVAULT_STACK_SET_NAME",
                    message,
                    None,
                )
            } else {
                at.error("stack_set_name", message, None)
            });
        }

        let (regions, regions_from_flag) = match (&overrides.regions, &file.regions) {
            (Some(r), _) => (r.clone(), true),
            (None, Some(r)) => (r.clone(), false),
            (None, None) => {
                return Err(missing("regions", "regions: [eu-west-1, eu-central-1]"));
            }
        };
        let region_error = |message: String| {
            if regions_from_flag {
                at.override_error("--regions / CROSSVAULT_REGIONS", message, None)
            } else {
                at.error("regions", message, None)
            }
        };
        if regions.is_empty() {
            return Err(region_error("no region given".into()));
        }
        if let Some(bad) = regions.iter().find(|r| !is_region(r)) {
            return Err(region_error(format!(
                "{bad:?} is not a region code such as eu-west-1"
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = regions.iter().find(|r| !seen.insert(r.as_str())) {
            return Err(region_error(format!("{dup} is listed twice")));
        }

        let stack_set_region = file
            .stack_set_region
            .clone()
            .unwrap_or_else(|| regions[0].clone());
        if !is_region(&stack_set_region) {
            return Err(at.error(
                "stack_set_region",
                format!("{stack_set_region:?} is not a region code such as eu-west-1"),
                None,
            ));
        }

        let permission = Self::permission(file, &at, &missing)?;
        let delegated_admin = overrides
            .delegated_admin
            .or(file.delegated_admin)
            .unwrap_or(false);
        if delegated_admin && matches!(permission, Permission::SelfManaged { .. }) {
            return Err(at.error(
                "delegated_admin",
                "a delegated administrator can only manage service-managed StackSets".into(),
                Some("use `permission_model: service-managed`, or run crossvault from the management account without delegated_admin".into()),
            ));
        }

        // Parameters: file, then -p. ArtifactBucketPrefix may come from there, ArtifactKey not.
        let mut parameters: BTreeMap<String, String> = file
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.to_parameter_string()))
            .collect();
        parameters.extend(overrides.parameters.iter().cloned());
        let prefix_param = parameters.remove("ArtifactBucketPrefix");
        let artifact_bucket_prefix = match (
            &overrides.artifact_bucket_prefix,
            &file.artifact_bucket_prefix,
            &prefix_param,
        ) {
            (Some(flag), _, _) => flag.clone(),
            (None, Some(key), Some(param)) if key != param => {
                return Err(at.error(
                    "ArtifactBucketPrefix",
                    format!(
                        "{param:?} differs from artifact_bucket_prefix {key:?}; crossvault \
                         publishes to one place"
                    ),
                    Some("keep only `artifact_bucket_prefix`".into()),
                ));
            }
            (None, Some(key), _) => key.clone(),
            (None, None, Some(param)) => param.clone(),
            (None, None, None) => {
                return Err(missing(
                    "artifact_bucket_prefix",
                    "artifact_bucket_prefix: crossvault-artifacts-o-exampleorgid   # buckets <prefix>-<region>",
                ));
            }
        };
        if let Err(message) = check_prefix(&artifact_bucket_prefix, &regions) {
            return Err(if overrides.artifact_bucket_prefix.is_some() {
                at.override_error(
                    "--artifact-bucket-prefix / CROSSVAULT_ARTIFACT_BUCKET_PREFIX",
                    message,
                    None,
                )
            } else {
                at.error("artifact_bucket_prefix", message, None)
            });
        }
        if parameters.contains_key("ArtifactKey") {
            return Err(at.error(
                "ArtifactKey",
                "is set by crossvault from the artifact it publishes".into(),
                Some(format!(
                    "remove it from `parameters:`; name the zip with `artifact:` (default \
                     {DEFAULT_ARTIFACT}, what `crossvault build` writes)"
                )),
            ));
        }

        let operation_preferences =
            Self::operation_preferences(file.operation_preferences.as_ref(), &regions, &at)?;

        let ms = file.management_stack.clone().unwrap_or_default();
        let management_stack = ManagementStack {
            deploy: ms.deploy.unwrap_or(true),
            stack_name: ms
                .stack_name
                .unwrap_or_else(|| format!("{stack_set_name}-management")),
            region: ms.region.unwrap_or_else(|| stack_set_region.clone()),
            role_arn: ms.role_arn,
        };
        if !is_stack_name(&management_stack.stack_name) {
            return Err(at.error(
                "stack_name",
                format!("{:?} is not a stack name", management_stack.stack_name),
                None,
            ));
        }
        if !is_region(&management_stack.region) {
            return Err(at.error(
                "region",
                format!("{:?} is not a region code", management_stack.region),
                None,
            ));
        }
        if let Some(arn) = &management_stack.role_arn
            && !is_role_arn(arn)
        {
            return Err(at.error(
                "role_arn",
                format!("{arn:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
                None,
            ));
        }

        Ok(Config {
            file: loaded.map(|l| l.path.clone()),
            stack_set_name,
            description: file.description.clone().unwrap_or_else(|| {
                "crossvault: AWS Backup copies across the organization (managed by the crossvault CLI)"
                    .to_owned()
            }),
            permission,
            delegated_admin,
            regions,
            stack_set_region,
            artifact_bucket_prefix,
            artifact: overrides
                .artifact
                .clone()
                .or_else(|| file.artifact.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_ARTIFACT)),
            operation_preferences,
            management_stack,
            tags: file.tags.clone().unwrap_or_default(),
            parameters,
            parameters_from_flags: overrides.parameters.iter().map(|(k, _)| k.clone()).collect(),
        })
    }

    fn permission(
        file: &ConfigFile,
        at: &Locator<'_>,
        missing: &dyn Fn(&str, &str) -> Box<ConfigError>,
    ) -> Result<Permission, Box<ConfigError>> {
        let model = file.permission_model.ok_or_else(|| {
            missing(
                "permission_model",
                "permission_model: service-managed   # or self-managed",
            )
        })?;
        let only = |key: &str, present: bool, model: &str| -> Result<(), Box<ConfigError>> {
            if present {
                Err(at.error(
                    key,
                    format!("only applies to permission_model: {model}"),
                    None,
                ))
            } else {
                Ok(())
            }
        };
        match model {
            PermissionModelName::ServiceManaged => {
                only("accounts", file.accounts.is_some(), "self-managed")?;
                only(
                    "administration_role_arn",
                    file.administration_role_arn.is_some(),
                    "self-managed",
                )?;
                only(
                    "execution_role_name",
                    file.execution_role_name.is_some(),
                    "self-managed",
                )?;
                let ous = file.organizational_unit_ids.clone().ok_or_else(|| {
                    missing(
                        "organizational_unit_ids",
                        "organizational_unit_ids: [r-abcd]   # the root, or OUs ou-abcd-12345678",
                    )
                })?;
                if ous.is_empty() {
                    return Err(at.error("organizational_unit_ids", "is empty".into(), None));
                }
                if let Some(bad) = ous.iter().find(|o| !is_ou_or_root(o)) {
                    return Err(at.error(
                        "organizational_unit_ids",
                        format!(
                            "{bad:?} is neither an OU id (ou-xxxx-xxxxxxxx) nor a root id (r-xxxx)"
                        ),
                        None,
                    ));
                }
                Ok(Permission::ServiceManaged {
                    organizational_unit_ids: ous,
                    auto_deployment: file.auto_deployment.unwrap_or(true),
                    retain_stacks_on_account_removal: file
                        .retain_stacks_on_account_removal
                        .unwrap_or(true),
                })
            }
            PermissionModelName::SelfManaged => {
                only(
                    "organizational_unit_ids",
                    file.organizational_unit_ids.is_some(),
                    "service-managed",
                )?;
                only(
                    "auto_deployment",
                    file.auto_deployment.is_some(),
                    "service-managed",
                )?;
                only(
                    "retain_stacks_on_account_removal",
                    file.retain_stacks_on_account_removal.is_some(),
                    "service-managed",
                )?;
                let accounts = file.accounts.clone().ok_or_else(|| {
                    missing("accounts", "accounts: [\"111111111111\", \"222222222222\"]")
                })?;
                if accounts.is_empty() {
                    return Err(at.error("accounts", "is empty".into(), None));
                }
                if let Some(bad) = accounts.iter().find(|a| !is_account(a)) {
                    return Err(at.error(
                        "accounts",
                        format!("{bad:?} is not a 12-digit account id"),
                        Some(
                            "quote account ids (\"012345678901\"): YAML reads a leading 0 as octal"
                                .into(),
                        ),
                    ));
                }
                if let Some(arn) = &file.administration_role_arn
                    && !is_role_arn(arn)
                {
                    return Err(at.error(
                        "administration_role_arn",
                        format!("{arn:?} is not an IAM role ARN"),
                        None,
                    ));
                }
                Ok(Permission::SelfManaged {
                    accounts,
                    administration_role_arn: file.administration_role_arn.clone(),
                    execution_role_name: file.execution_role_name.clone(),
                })
            }
        }
    }

    fn operation_preferences(
        file: Option<&OperationPreferencesFile>,
        regions: &[String],
        at: &Locator<'_>,
    ) -> Result<OperationPreferences, Box<ConfigError>> {
        let f = file.cloned().unwrap_or_default();
        let both = |a: bool, b: bool, key: &str, other: &str| -> Result<(), Box<ConfigError>> {
            if a && b {
                Err(at.error(key, format!("give `{key}` or `{other}`, not both"), None))
            } else {
                Ok(())
            }
        };
        both(
            f.max_concurrent_count.is_some(),
            f.max_concurrent_percentage.is_some(),
            "max_concurrent_count",
            "max_concurrent_percentage",
        )?;
        both(
            f.failure_tolerance_count.is_some(),
            f.failure_tolerance_percentage.is_some(),
            "failure_tolerance_count",
            "failure_tolerance_percentage",
        )?;
        let max_concurrent = match (f.max_concurrent_count, f.max_concurrent_percentage) {
            (Some(0), _) => {
                return Err(at.error("max_concurrent_count", "must be at least 1".into(), None));
            }
            (Some(n), _) => Amount::Count(n),
            (None, Some(p)) if !(1..=100).contains(&p) => {
                return Err(at.error(
                    "max_concurrent_percentage",
                    format!("{p} is not a percentage from 1 to 100"),
                    None,
                ));
            }
            (None, Some(p)) => Amount::Percentage(p),
            (None, None) => Amount::Percentage(25),
        };
        let failure_tolerance = match (f.failure_tolerance_count, f.failure_tolerance_percentage) {
            (Some(n), _) => Amount::Count(n),
            (None, Some(p)) if p > 100 => {
                return Err(at.error(
                    "failure_tolerance_percentage",
                    format!("{p} is not a percentage from 0 to 100"),
                    None,
                ));
            }
            (None, Some(p)) => Amount::Percentage(p),
            (None, None) => Amount::Percentage(10),
        };
        let concurrency_mode = f
            .concurrency_mode
            .unwrap_or(ConcurrencyMode::StrictFailureTolerance);
        if let (Amount::Count(max), Amount::Count(tolerance)) = (max_concurrent, failure_tolerance)
            && concurrency_mode == ConcurrencyMode::StrictFailureTolerance
            && max > tolerance + 1
        {
            return Err(at.error(
                "max_concurrent_count",
                format!(
                    "{max} is more than failure_tolerance_count + 1 ({}), which CloudFormation \
                     refuses in strict-failure-tolerance mode",
                    tolerance + 1
                ),
                Some("raise failure_tolerance_count, or use concurrency_mode: soft-failure-tolerance".into()),
            ));
        }
        let region_order = f.region_order.unwrap_or_default();
        if let Some(bad) = region_order.iter().find(|r| !regions.contains(r)) {
            return Err(at.error(
                "region_order",
                format!("{bad} is not one of `regions` ({})", regions.join(", ")),
                None,
            ));
        }
        Ok(OperationPreferences {
            region_concurrency: f.region_concurrency.unwrap_or(RegionConcurrency::Parallel),
            region_order,
            max_concurrent,
            failure_tolerance,
            concurrency_mode,
        })
    }
}

/// The config file to read: `--config`, else `crossvault.config.yaml` if present.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let default = PathBuf::from(DEFAULT_FILE);
            default.is_file().then_some(default)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, Box<ConfigError>> {
        ConfigFile::parse(Path::new("crossvault.config.yaml"), text)
    }

    fn resolve(text: &str) -> Result<Config, Box<ConfigError>> {
        let loaded = Loaded {
            path: PathBuf::from("crossvault.config.yaml"),
            text: text.to_owned(),
            file: parse(text)?,
        };
        Config::resolve(Some(&loaded), &Overrides::default())
    }

    const GOOD: &str = "\
stack_set_name: crossvault
permission_model: service-managed
organizational_unit_ids: [r-abcd]
regions: [eu-west-1, eu-central-1]
artifact_bucket_prefix: crossvault-artifacts
parameters:
  BackupAccountId: \"222222222222\"
  PreProdAccountIds: [\"333333333333\", \"444444444444\"]
  CopyDeleteAfterDays: 35
  CopyToLocalRegion: true
";

    #[test]
    fn a_good_file_resolves_with_defaults() {
        let c = resolve(GOOD).unwrap();
        assert_eq!(c.stack_set_region, "eu-west-1");
        assert_eq!(
            c.permission,
            Permission::ServiceManaged {
                organizational_unit_ids: vec!["r-abcd".into()],
                auto_deployment: true,
                retain_stacks_on_account_removal: true
            }
        );
        assert_eq!(
            c.parameters["PreProdAccountIds"],
            "333333333333,444444444444"
        );
        assert_eq!(c.parameters["CopyDeleteAfterDays"], "35");
        assert_eq!(c.parameters["CopyToLocalRegion"], "true");
        assert_eq!(c.management_stack.stack_name, "crossvault-management");
        assert_eq!(c.management_stack.region, "eu-west-1");
        assert_eq!(
            c.operation_preferences.max_concurrent,
            Amount::Percentage(25)
        );
        assert_eq!(c.artifact, PathBuf::from(DEFAULT_ARTIFACT));
    }

    #[test]
    fn a_typo_names_line_key_and_the_keys_that_exist() {
        let e = parse("stack_set_name: x\nregoins: [eu-west-1]\n").unwrap_err();
        assert_eq!(e.origin, "crossvault.config.yaml:2");
        assert!(
            e.message.contains("unknown field `regoins`"),
            "{}",
            e.message
        );
        let help = e.help.unwrap();
        assert!(
            help.contains("regions") && help.contains("stack_set_name"),
            "{help}"
        );
    }

    #[test]
    fn a_wrong_type_names_the_nested_key() {
        let e = parse("operation_preferences:\n  max_concurrent_count: many\n").unwrap_err();
        assert_eq!(e.origin, "crossvault.config.yaml:2");
        assert!(
            e.message
                .starts_with("key `operation_preferences.max_concurrent_count`: invalid type"),
            "{}",
            e.message
        );
    }

    #[test]
    fn cross_key_rules_point_at_the_line() {
        let e = resolve(&GOOD.replace(
            "regions: [eu-west-1, eu-central-1]",
            "regions: [eu-west-1, eu-west-1]",
        ))
        .unwrap_err();
        assert_eq!(e.origin, "crossvault.config.yaml:4");
        assert!(
            e.message.contains("eu-west-1 is listed twice"),
            "{}",
            e.message
        );

        let e = resolve(&format!("{GOOD}accounts: [\"111111111111\"]\n")).unwrap_err();
        assert_eq!(e.origin, "crossvault.config.yaml:11");
        assert!(
            e.message
                .contains("only applies to permission_model: self-managed")
        );

        let e = resolve(&format!("{GOOD}  ArtifactKey: x.zip\n")).unwrap_err();
        assert!(e.message.contains("ArtifactKey"), "{}", e.message);
    }

    #[test]
    fn required_keys_say_so_with_an_example() {
        let e = resolve("permission_model: self-managed\nregions: [eu-west-1]\n").unwrap_err();
        assert!(
            e.message.contains("`accounts` is required"),
            "{}",
            e.message
        );
        let e = Config::resolve(None, &Overrides::default()).unwrap_err();
        assert!(e.message.contains("`regions` is required"), "{}", e.message);
    }

    #[test]
    fn overrides_win_over_the_file() {
        let loaded = Loaded {
            path: PathBuf::from("c.yaml"),
            text: GOOD.to_owned(),
            file: parse(GOOD).unwrap(),
        };
        let c = Config::resolve(
            Some(&loaded),
            &Overrides {
                regions: Some(vec!["us-east-1".into()]),
                parameters: vec![("CopyDeleteAfterDays".into(), "40".into())],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.regions, ["us-east-1"]);
        assert_eq!(c.stack_set_region, "us-east-1");
        assert_eq!(c.parameters["CopyDeleteAfterDays"], "40");

        let e = Config::resolve(
            Some(&loaded),
            &Overrides {
                regions: Some(vec!["Europe".into()]),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.origin, "--regions / CROSSVAULT_REGIONS");
    }

    #[test]
    fn bucket_prefix_limits() {
        assert!(check_prefix("ok-prefix", &["eu-west-1".into()]).is_ok());
        assert!(check_prefix("Upper", &["eu-west-1".into()]).is_err());
        let long = "a".repeat(47);
        assert!(check_prefix(&long, &["xx-longerregionname-1".into()]).is_err());
    }

    #[test]
    fn strict_mode_caps_concurrency() {
        let text = format!(
            "{GOOD}operation_preferences:\n  max_concurrent_count: 5\n  failure_tolerance_count: 1\n"
        );
        let e = resolve(&text).unwrap_err();
        assert!(
            e.message
                .contains("more than failure_tolerance_count + 1 (2)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn closest_suggests_near_names() {
        let names = ["BackupAccountId", "BackupRegion", "VaultName"];
        assert_eq!(closest("BackupAcountId", names), Some("BackupAccountId"));
        assert_eq!(closest("Zzz", names), None);
    }
}
