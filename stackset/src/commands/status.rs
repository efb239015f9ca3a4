//! `crossvault status`: the StackSet, its instances (status, reason, drift), its latest
//! operation and the management stack.

use serde::Serialize;

use crate::aws::Environment;
use crate::cli::Global;
use crate::commands::setup::{ConfigArgs, clients};
use crate::error::{CliError, aws, exit};
use crate::management::{self, CurrentStack};
use crate::output::{Progress, Report, Table};
use crate::stackset::{self, CurrentStackSet, Instance};

#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastOperation {
    pub operation_id: String,
    pub action: String,
    pub status: String,
    pub status_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub stack_set_name: String,
    pub stack_set_region: String,
    pub stack_set: Option<CurrentStackSet>,
    pub last_operation: Option<LastOperation>,
    pub instances: Vec<Instance>,
    pub management_stack_name: String,
    pub management_stack: Option<CurrentStack>,
}

impl StatusReport {
    fn unhealthy(&self) -> usize {
        self.instances.iter().filter(|i| !i.healthy()).count()
    }
}

impl Report for StatusReport {
    /// 3 when the StackSet is missing, an instance is not CURRENT or the management stack is
    /// not in a *_COMPLETE state without rollback.
    fn exit_code(&self) -> i32 {
        let management_bad = self
            .management_stack
            .as_ref()
            .is_some_and(|s| !s.status.ends_with("_COMPLETE") || s.status.contains("ROLLBACK"));
        if self.stack_set.is_none() || self.unhealthy() > 0 || management_bad {
            exit::OUTCOME_FAILED
        } else {
            exit::OK
        }
    }
}

impl std::fmt::Display for StatusReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(s) = &self.stack_set else {
            return write!(
                f,
                "StackSet {} does not exist in {} (crossvault deploy creates it)",
                self.stack_set_name, self.stack_set_region
            );
        };
        writeln!(
            f,
            "StackSet {} in {}: {} ({}{})",
            self.stack_set_name,
            self.stack_set_region,
            s.status,
            s.permission_model,
            match s.auto_deployment {
                Some((true, retain)) => format!(
                    ", auto-deployment on, {} stacks of accounts that leave",
                    if retain { "retains" } else { "deletes" }
                ),
                Some((false, _)) => ", auto-deployment off".to_owned(),
                None => String::new(),
            }
        )?;
        if let Some(key) = s.parameters.get("ArtifactKey") {
            writeln!(f, "ArtifactKey {key}")?;
        }
        if let Some(op) = &self.last_operation {
            writeln!(
                f,
                "last operation {} {}: {}{}",
                op.action,
                op.operation_id,
                op.status,
                op.status_reason
                    .as_ref()
                    .map(|r| format!(" - {r}"))
                    .unwrap_or_default()
            )?;
        }
        match &self.management_stack {
            Some(m) => writeln!(
                f,
                "management stack {}: {}{}",
                self.management_stack_name,
                m.status,
                m.status_reason
                    .as_ref()
                    .map(|r| format!(" - {r}"))
                    .unwrap_or_default()
            )?,
            None => writeln!(
                f,
                "management stack {}: not deployed",
                self.management_stack_name
            )?,
        }
        writeln!(f)?;
        let mut t = Table::new(["account", "region", "status", "detailed", "drift", "reason"]);
        for i in &self.instances {
            t.row([
                i.account.clone(),
                i.region.clone(),
                i.status.clone(),
                i.detailed_status.clone().unwrap_or_else(|| "-".into()),
                i.drift_status.clone().unwrap_or_else(|| "-".into()),
                i.status_reason.clone().unwrap_or_default(),
            ]);
        }
        if !t.is_empty() {
            write!(f, "{t}")?;
        }
        write!(
            f,
            "{} instance(s), {} not CURRENT",
            self.instances.len(),
            self.unhealthy()
        )
    }
}

pub async fn run(
    args: &StatusArgs,
    global: &Global,
    env: &Environment,
    progress: &Progress,
) -> Result<StatusReport, CliError> {
    let (config, _) = args.config.resolve()?;
    let clients = clients(&config, global, env).await?;
    progress.step(format!("reading StackSet {}", config.stack_set_name));
    let stack_set = stackset::describe(&clients, &config.stack_set_name).await?;
    let (instances, last_operation) = if stack_set.is_some() {
        let instances = stackset::instances(&clients, &config.stack_set_name).await?;
        let mut summaries = Vec::new();
        let mut pages = clients
            .cfn
            .list_stack_set_operations()
            .stack_set_name(&config.stack_set_name)
            .set_call_as(clients.call_as.clone())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws(format!(
                "cloudformation:ListStackSetOperations {}",
                config.stack_set_name
            )))?;
            summaries.extend(page.summaries.unwrap_or_default());
        }
        let last = summaries
            .into_iter()
            .max_by_key(|o| o.creation_timestamp.map(|t| (t.secs(), t.subsec_nanos())))
            .map(|o| LastOperation {
                operation_id: o.operation_id.unwrap_or_default(),
                action: o.action.map(|a| a.as_str().to_owned()).unwrap_or_default(),
                status: o.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                status_reason: o.status_reason.filter(|r| !r.is_empty()),
            });
        (instances, last)
    } else {
        (Vec::new(), None)
    };
    let management_stack = if config.management_stack.deploy {
        management::describe(&clients, &config.management_stack.stack_name).await?
    } else {
        None
    };
    progress.finish();
    Ok(StatusReport {
        stack_set_name: config.stack_set_name.clone(),
        stack_set_region: config.stack_set_region.clone(),
        stack_set,
        last_operation,
        instances,
        management_stack_name: config.management_stack.stack_name.clone(),
        management_stack,
    })
}
