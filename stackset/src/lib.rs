//! The `crossvault` CLI (the StackSet packager), as a library so tests can drive it and
//! capture exactly what a user sees.

pub mod artifact;
pub mod cli;
pub mod commands;
pub mod error;
pub mod output;
pub mod template;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{CliError, exit};
use crate::output::{Progress, Report, emit};

/// Runs the CLI with `args` (program name first), writing results to `out` and errors to `err`.
/// Returns the process exit code.
pub fn run(
    args: impl IntoIterator<Item = OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = write!(err, "{}", e.render().ansi());
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::OK
                }
                _ => exit::USAGE,
            };
        }
    };
    let progress = Progress::new(cli.quiet);
    let result = match &cli.command {
        Command::Build(args) => {
            commands::build::run(args, &progress).and_then(|r| finish(out, cli.output, &r))
        }
        Command::Explain(args) => {
            commands::explain::run(args).and_then(|r| finish(out, cli.output, &r))
        }
        Command::Invoke(args) => runtime()
            .block_on(async {
                crossvault_handler::runtime::init_tracing();
                let handler = crossvault_handler::runtime::build_handler().await;
                commands::invoke::run(args, &handler).await
            })
            .and_then(|r| finish(out, cli.output, &r)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            let _ = writeln!(err, "{:?}", miette::Report::new(e));
            code
        }
    }
}

fn finish<R: Report>(
    out: &mut dyn Write,
    format: output::OutputFormat,
    report: &R,
) -> Result<i32, CliError> {
    emit(out, format, report).map_err(|source| CliError::Read {
        path: "<stdout>".into(),
        source,
    })?;
    Ok(report.exit_code())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
}
