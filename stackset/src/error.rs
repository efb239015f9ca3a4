//! CLI errors: each carries help text (miette) and maps to a distinct exit code.

use miette::Diagnostic;

/// Process exit codes. Scripts can tell a usage mistake from a failed operation from a run
/// that completed with failures in it.
pub mod exit {
    pub const OK: i32 = 0;
    /// The operation itself failed (AWS error, build error, handler error).
    pub const FAILED: i32 = 1;
    /// Bad flags, config or input files; nothing was attempted.
    pub const USAGE: i32 = 2;
    /// The operation ran, and its outcome contains failures (a FAILED custom-resource answer,
    /// SQS records left for retry, failed stack instances).
    pub const OUTCOME_FAILED: i32 = 3;
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum CliError {
    #[error("cannot read {path}: {source}")]
    #[diagnostic(code(crossvault::io), help("check the path and its permissions"))]
    Read {
        path: String,
        source: std::io::Error,
    },

    #[error("{path} is not valid JSON: {source}")]
    #[diagnostic(
        code(crossvault::bad_json),
        help(
            "`crossvault invoke` and `explain` take one event as a JSON document, e.g. a file from tests/fixtures/events in the crossvault repository"
        )
    )]
    BadJson {
        path: String,
        source: serde_json::Error,
    },

    #[error("`{tool}` was not found")]
    #[diagnostic(code(crossvault::missing_tool), help("{help}"))]
    MissingTool { tool: String, help: String },

    #[error("`{command}` failed with {status}")]
    #[diagnostic(code(crossvault::command_failed), help("{help}"))]
    CommandFailed {
        command: String,
        status: String,
        help: String,
    },

    #[error("{message}")]
    #[diagnostic(code(crossvault::usage), help("{help}"))]
    Usage { message: String, help: String },

    #[error("packaging the Lambda artifact failed: {0}")]
    #[diagnostic(code(crossvault::package))]
    Package(String),

    #[error("the handler failed: {0}")]
    #[diagnostic(
        code(crossvault::handler),
        help("the same error would make Lambda retry the invocation; see the log lines above")
    )]
    Handler(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Read { .. }
            | Self::BadJson { .. }
            | Self::MissingTool { .. }
            | Self::Usage { .. } => exit::USAGE,
            Self::CommandFailed { .. } | Self::Package(_) | Self::Handler(_) => exit::FAILED,
        }
    }
}
