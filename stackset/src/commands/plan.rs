//! `crossvault plan`: every target account × region with its role and what deploying would
//! change, and what would deploy but not work. Reads only.

use crate::aws::Environment;
use crate::cli::Global;
use crate::commands::setup::{ConfigArgs, clients, prepare};
use crate::error::{CliError, exit};
use crate::output::{Progress, Report};
use crate::plan::{Plan, PlanInputs, make_plan, survey};

#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

impl Report for Plan {
    /// 3 when the plan holds errors (deploy would refuse), else 0.
    fn exit_code(&self) -> i32 {
        if self.has_errors() {
            exit::OUTCOME_FAILED
        } else {
            exit::OK
        }
    }
}

pub async fn run(
    args: &PlanArgs,
    global: &Global,
    env: &Environment,
    progress: &Progress,
) -> Result<Plan, CliError> {
    let prepared = prepare(&args.config)?;
    let clients = clients(&prepared.config, global, env).await?;
    progress.step("reading Organizations, the StackSet and its instances");
    let survey = survey(&clients, &prepared.config).await?;
    progress.finish();
    make_plan(
        &PlanInputs {
            config: &prepared.config,
            template: &prepared.template.model,
            desired: &prepared.desired,
            artifact_key: &prepared.artifact.key,
        },
        &survey,
    )
}
