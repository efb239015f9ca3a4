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

    #[error("cannot write {path}: {source}")]
    #[diagnostic(code(crossvault::io))]
    Write {
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

    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(Box<crate::config::ConfigError>),

    /// An AWS call failed; `call` names the API and what it was about.
    #[error("{call} failed: {message}")]
    #[diagnostic(code(crossvault::aws), help("{help}"))]
    Aws {
        call: String,
        message: String,
        help: String,
    },

    /// crossvault refuses to go on: what it found would deploy but not work, or would destroy
    /// something it cannot justify. Nothing was changed.
    #[error("{message}")]
    #[diagnostic(code(crossvault::refused), help("{help}"))]
    Refused { message: String, help: String },

    /// A bug in crossvault.
    #[error("internal error: {0}")]
    #[diagnostic(
        code(crossvault::internal),
        help("this is a bug in crossvault; please report it with the command you ran")
    )]
    Internal(String),

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
            | Self::Usage { .. }
            | Self::Config(_)
            | Self::Refused { .. } => exit::USAGE,
            Self::CommandFailed { .. }
            | Self::Package(_)
            | Self::Handler(_)
            | Self::Aws { .. }
            | Self::Write { .. }
            | Self::Internal(_) => exit::FAILED,
        }
    }
}

impl From<Box<crate::config::ConfigError>> for CliError {
    fn from(e: Box<crate::config::ConfigError>) -> Self {
        Self::Config(e)
    }
}

pub use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Turns an SDK error into [`CliError::Aws`] naming `call`, with AWS's code and message and
/// help for the errors users meet most.
pub fn aws<E, R>(call: impl Into<String>) -> impl FnOnce(SdkError<E, R>) -> CliError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    move |e| aws_error(call.into(), &e)
}

/// The code of an SDK error (`None` for transport errors and the like).
pub fn error_code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.code()
}

pub fn aws_error<E, R>(call: String, e: &SdkError<E, R>) -> CliError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().unwrap_or_default().to_owned();
    let message = match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    };
    let help = if message.contains("not a delegated administrator") {
        "register this account as the StackSets delegated administrator (from the management \
         account: aws organizations register-delegated-administrator --service-principal \
         member.org.stacksets.cloudformation.amazonaws.com --account-id <this account>), or \
         set `delegated_admin: false` and run crossvault from the management account"
    } else {
        match code.as_str() {
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
                "the credentials in use lack this permission; check the profile or role crossvault runs with"
            }
            "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException" => {
                "the AWS credentials are expired or invalid; sign in again (e.g. aws sso login)"
            }
            "OperationInProgressException" => {
                "another StackSet operation kept running through every retry: wait for it \
                 (crossvault status) and run again"
            }
            "Throttling" | "ThrottlingException" | "TooManyRequestsException" => {
                "AWS throttled crossvault beyond its retries; run again later"
            }
            "" => {
                "AWS could not be reached or answered unexpectedly; check the network, the region and --endpoint-url"
            }
            _ => "see AWS's message",
        }
    };
    CliError::Aws {
        call,
        message,
        help: help.to_owned(),
    }
}
