//! Command-line interface definition.

use clap::{Parser, Subcommand};

use crate::commands::{build::BuildArgs, explain::ExplainArgs, invoke::InvokeArgs};
use crate::output::OutputFormat;

/// crossvault: AWS Backup across an AWS Organization, packaged as one CloudFormation StackSet.
#[derive(Debug, Parser)]
#[command(name = "crossvault", version, about, propagate_version = true)]
pub struct Cli {
    /// Output format of the command's result.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// No progress lines.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the Lambda artifact (bootstrap.zip for provided.al2023) and print its SHA-256.
    Build(BuildArgs),
    /// Run one event through the handler in-process, against the AWS endpoint the
    /// environment gives (AWS_ENDPOINT_URL, credentials, AWS_REGION).
    Invoke(InvokeArgs),
    /// Print the plan crossvault would make for an AWS Backup event, without calling AWS.
    Explain(ExplainArgs),
}
