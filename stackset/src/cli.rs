//! Command-line interface definition.

use clap::{Args, Parser, Subcommand};

use crate::aws::AwsArgs;
use crate::commands::{
    build::BuildArgs, deploy::DeployArgs, destroy::DestroyArgs, explain::ExplainArgs,
    init::InitArgs, invoke::InvokeArgs, package::PackageArgs, plan::PlanArgs, publish::PublishArgs,
    status::StatusArgs,
};
use crate::output::OutputFormat;

/// crossvault: AWS Backup across an AWS Organization, packaged as one CloudFormation StackSet.
///
/// Exit codes: 0 success; 1 the operation failed; 2 usage or input error (nothing attempted);
/// 3 the operation ran and its outcome contains failures.
#[derive(Debug, Parser)]
#[command(name = "crossvault", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Clone, Default, Args)]
pub struct Global {
    /// Output format of the command's result.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// No progress lines.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter crossvault.config.yaml from what Organizations reports.
    Init(InitArgs),
    /// Build the Lambda artifact (bootstrap.zip for provided.al2023) and print its SHA-256.
    Build(BuildArgs),
    /// Create the artifact buckets <prefix>-<region> where missing and upload the handler zip
    /// and the template to every region.
    Publish(PublishArgs),
    /// Show every target account × region with its role and what deploying would change, and
    /// what would deploy but not work. Changes nothing.
    Plan(PlanArgs),
    /// Publish, then create or update the StackSet and its instances and the management
    /// account's stack; wait, and report every account × region.
    Deploy(DeployArgs),
    /// The StackSet, its instances (status, reason, drift) and the management stack.
    Status(StatusArgs),
    /// Delete the instances, the StackSet and the management stack (vaults and recovery
    /// points stay).
    Destroy(DestroyArgs),
    /// Write the template with its artifact parameters pointing at the published objects, for
    /// the console or `aws cloudformation deploy`.
    Package(PackageArgs),
    /// Run one event through the handler in-process, against the AWS endpoint the
    /// environment gives (AWS_ENDPOINT_URL, credentials, AWS_REGION).
    Invoke(InvokeArgs),
    /// Print the plan crossvault would make for an AWS Backup event, without calling AWS.
    Explain(ExplainArgs),
}
