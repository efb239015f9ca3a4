//! `crossvault invoke --event FILE`: one event through the same handler library the Lambda
//! runs, in-process, against whatever AWS endpoint and credentials the environment gives.

use std::path::PathBuf;
use std::time::Duration;

use crossvault_handler::incoming::{self, Incoming};
use crossvault_handler::{Handler, InvocationContext};
use serde::Serialize;
use serde_json::Value;

use crate::error::{CliError, exit};
use crate::output::Report;

#[derive(Debug, Clone, clap::Args)]
pub struct InvokeArgs {
    /// The event: a CloudFormation request, an SQS batch, or an EventBridge event (JSON).
    #[arg(long, value_name = "FILE")]
    pub event: PathBuf,
    /// The invocation's deadline, as Lambda would set it from the function timeout.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Serialize)]
pub struct InvokeReport {
    pub event_kind: Incoming,
    pub ok: bool,
    pub result: Value,
}

impl InvokeReport {
    /// Whether the run completed but carries failures inside its result.
    fn outcome_failed(&self) -> bool {
        self.result.get("status").and_then(Value::as_str) == Some("FAILED")
            || self
                .result
                .get("batchItemFailures")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
    }
}

impl std::fmt::Display for InvokeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "event kind  {:?}", self.event_kind)?;
        writeln!(
            f,
            "outcome     {}",
            if self.outcome_failed() {
                "completed with failures"
            } else {
                "ok"
            }
        )?;
        write!(
            f,
            "result      {}",
            serde_json::to_string_pretty(&self.result).unwrap_or_default()
        )
    }
}

impl Report for InvokeReport {
    fn exit_code(&self) -> i32 {
        if self.outcome_failed() {
            exit::OUTCOME_FAILED
        } else {
            exit::OK
        }
    }
}

pub fn read_event(path: &PathBuf) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| CliError::BadJson {
        path: path.display().to_string(),
        source,
    })
}

pub async fn run(args: &InvokeArgs, handler: &Handler) -> Result<InvokeReport, CliError> {
    let event = read_event(&args.event)?;
    let event_kind = incoming::classify(&event).map_err(|e| CliError::Handler(e.to_string()))?;
    let ctx = InvocationContext::local(Duration::from_secs(args.timeout));
    let result = handler
        .handle(event, &ctx)
        .await
        .map_err(|e| CliError::Handler(e.to_string()))?;
    Ok(InvokeReport {
        event_kind,
        ok: true,
        result,
    })
}
