//! What the StackSet commands share: the configuration flags, everything worked out before the
//! first AWS call, and the clients.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::aws::{ClientPlan, Clients, Environment, load_sdk_config};
use crate::cli::Global;
use crate::config::{self, Config, ConfigFile, Loaded, Overrides};
use crate::deployment::{self, PublishedArtifact, TemplateSource};
use crate::error::CliError;
use crate::stackset::DesiredStackSet;

/// Where the configuration comes from, and what overrides it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// crossvault's config file (default: ./crossvault.config.yaml when present).
    #[arg(long, value_name = "FILE", env = "CROSSVAULT_CONFIG")]
    pub config: Option<PathBuf>,
    /// StackSet name (overrides `stack_set_name`).
    #[arg(long, env = "CROSSVAULT_STACK_SET_NAME")]
    pub stack_set_name: Option<String>,
    /// Target regions, comma-separated (overrides `regions`).
    #[arg(long, value_delimiter = ',', env = "CROSSVAULT_REGIONS")]
    pub regions: Option<Vec<String>>,
    /// Artifact bucket prefix: buckets are <prefix>-<region> (overrides `artifact_bucket_prefix`).
    #[arg(long, env = "CROSSVAULT_ARTIFACT_BUCKET_PREFIX")]
    pub artifact_bucket_prefix: Option<String>,
    /// The handler zip (overrides `artifact`; default: what `crossvault build` writes).
    #[arg(long, value_name = "ZIP", env = "CROSSVAULT_ARTIFACT")]
    pub artifact: Option<PathBuf>,
    /// Run as the StackSets delegated administrator: CallAs=DELEGATED_ADMIN on every StackSet
    /// call (overrides `delegated_admin`).
    #[arg(long, env = "CROSSVAULT_DELEGATED_ADMIN", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub delegated_admin: Option<bool>,
    /// A stack parameter, overriding the config file (repeatable).
    #[arg(long = "parameter", short = 'p', value_name = "NAME=VALUE", value_parser = key_value)]
    pub parameters: Vec<(String, String)>,
    /// Use this template instead of the one built in.
    #[arg(long, value_name = "FILE", env = "CROSSVAULT_TEMPLATE")]
    pub template: Option<PathBuf>,
}

pub fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

impl ConfigArgs {
    /// Loads the file (if any) and resolves the configuration.
    pub fn resolve(&self) -> Result<(Config, Option<Loaded>), CliError> {
        let loaded = match config::locate(self.config.as_deref()) {
            Some(path) => Some(ConfigFile::load(&path)?),
            None => None,
        };
        let overrides = Overrides {
            stack_set_name: self.stack_set_name.clone(),
            regions: self.regions.clone(),
            artifact_bucket_prefix: self.artifact_bucket_prefix.clone(),
            artifact: self.artifact.clone(),
            delegated_admin: self.delegated_admin,
            parameters: self.parameters.clone(),
        };
        let config = Config::resolve(loaded.as_ref(), &overrides)?;
        Ok((config, loaded))
    }
}

/// Everything known before calling AWS: config, template, artifact, parameters.
pub struct Prepared {
    pub config: Config,
    pub loaded: Option<Loaded>,
    pub template: TemplateSource,
    pub artifact: PublishedArtifact,
    pub parameters: BTreeMap<String, String>,
    pub desired: DesiredStackSet,
}

/// Reads and checks everything local. Nothing here calls AWS, so every mistake it finds costs
/// nothing and changes nothing.
pub fn prepare(args: &ConfigArgs) -> Result<Prepared, CliError> {
    let (config, loaded) = args.resolve()?;
    let template = TemplateSource::load(args.template.as_deref())?;
    let architecture = deployment::architecture(&config, &template.model)?;
    let artifact = match deployment::read_artifact(&config.artifact, architecture) {
        Ok(a) => a,
        Err(CliError::Read { path, source }) => {
            return Err(CliError::Usage {
                message: format!("cannot read the handler zip {path}: {source}"),
                help: "build it first (`crossvault build`, or scripts/build), or name it with \
                       `artifact:` in the config / --artifact"
                    .into(),
            });
        }
        Err(e) => return Err(e),
    };
    let parameters = deployment::stack_parameters(&config, &artifact.key);
    deployment::validate_parameters(&config, loaded.as_ref(), &template.model, &parameters)?;
    let desired = DesiredStackSet::new(&config, &template.text, parameters.clone());
    Ok(Prepared {
        config,
        loaded,
        template,
        artifact,
        parameters,
        desired,
    })
}

/// The clients for `config`: CloudFormation in the StackSet's region, S3 in every target
/// region.
pub async fn clients(
    config: &Config,
    global: &Global,
    env: &Environment,
) -> Result<Clients, CliError> {
    let sdk = match &env.sdk_config {
        Some(sdk) => sdk.clone(),
        None => load_sdk_config(&global.aws, Some(&config.stack_set_region)).await,
    };
    let plan = ClientPlan {
        stack_set_region: config.stack_set_region.clone(),
        management_region: config.management_stack.region.clone(),
        management_role_arn: config.management_stack.role_arn.clone(),
        s3_regions: config.regions.clone(),
        delegated_admin: config.delegated_admin,
    };
    Clients::build(&sdk, &plan, env).await
}
