//! `crossvault publish`: the artifact buckets in every target region and the handler zip and
//! template in each.

use crate::aws::Environment;
use crate::cli::Global;
use crate::commands::setup::{ConfigArgs, clients, prepare};
use crate::error::{CliError, aws};
use crate::organization::Organization;
use crate::output::Progress;
use crate::publish::{PublishReport, publish};

#[derive(Debug, Clone, clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

pub async fn run(
    args: &PublishArgs,
    global: &Global,
    env: &Environment,
    progress: &Progress,
) -> Result<PublishReport, CliError> {
    let prepared = prepare(&args.config)?;
    let clients = clients(&prepared.config, global, env).await?;
    let caller = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(aws("sts:GetCallerIdentity"))?;
    let organization = Organization::read_id(&clients.organizations).await?;
    publish(
        &clients,
        &prepared.config,
        &prepared.artifact,
        &prepared.template,
        &organization,
        caller.account.as_deref().unwrap_or_default(),
        progress,
    )
    .await
}
