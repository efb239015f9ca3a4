//! The `crossvault` CLI (the StackSet packager), as a library so tests can drive it and
//! capture exactly what a user sees.
//!
//! [`run`] is the binary; [`run_with`] lets an embedding program (tests, the demo, benchmarks)
//! give the AWS configuration and interceptors instead of the environment.

pub mod artifact;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod deployment;
pub mod error;
pub mod management;
pub mod organization;
pub mod output;
pub mod plan;
pub mod publish;
pub mod retry;
pub mod stackset;
pub mod template;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};

use clap::Parser;

use crate::aws::Environment;
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
    let colors = Colors {
        out: color_allowed(std::io::stdout().is_terminal()),
        err: color_allowed(std::io::stderr().is_terminal()),
    };
    run_with(args, out, err, &Environment::default(), colors)
}

/// Whether output may carry ANSI colors: only on a terminal, and never with `NO_COLOR` set.
fn color_allowed(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Which streams may carry ANSI colors.
#[derive(Debug, Clone, Copy, Default)]
pub struct Colors {
    pub out: bool,
    pub err: bool,
}

/// [`run`] with the AWS environment given by the caller.
pub fn run_with(
    args: impl IntoIterator<Item = OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    env: &Environment,
    colors: Colors,
) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let help = matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            );
            let rendered = e.render();
            // Help is the answer asked for (stdout); anything else is an error (stderr). ANSI
            // styling only where that stream is a terminal.
            let (stream, color): (&mut dyn Write, bool) = if help {
                (out, colors.out)
            } else {
                (err, colors.err)
            };
            let _ = if color {
                write!(stream, "{}", rendered.ansi())
            } else {
                write!(stream, "{rendered}")
            };
            return if help { exit::OK } else { exit::USAGE };
        }
    };
    let global = cli.global.clone();
    let progress = if env.sdk_config.is_some() {
        Progress::plain(global.quiet)
    } else {
        Progress::new(global.quiet)
    };
    let format = global.output;
    let result = match &cli.command {
        Command::Build(args) => {
            commands::build::run(args, &progress).and_then(|r| finish(out, format, &r))
        }
        Command::Explain(args) => {
            commands::explain::run(args).and_then(|r| finish(out, format, &r))
        }
        Command::Invoke(args) => runtime()
            .block_on(async {
                crossvault_handler::runtime::init_tracing();
                let handler = crossvault_handler::runtime::build_handler().await;
                commands::invoke::run(args, &handler).await
            })
            .and_then(|r| finish(out, format, &r)),
        Command::Init(args) => runtime()
            .block_on(commands::init::run(args, &global, env, &progress))
            .and_then(|r| finish(out, format, &r)),
        Command::Publish(args) => runtime()
            .block_on(commands::publish::run(args, &global, env, &progress))
            .and_then(|r| finish(out, format, &r)),
        Command::Plan(args) => runtime()
            .block_on(commands::plan::run(args, &global, env, &progress))
            .and_then(|r| finish(out, format, &r)),
        Command::Deploy(args) => runtime()
            .block_on(commands::deploy::run(args, &global, env, &progress))
            .and_then(|r| finish(out, format, &r)),
        Command::Status(args) => runtime()
            .block_on(commands::status::run(args, &global, env, &progress))
            .and_then(|r| finish(out, format, &r)),
        Command::Destroy(args) => runtime()
            .block_on(commands::destroy::run(
                args,
                &global,
                env,
                &progress,
                &mut commands::destroy::TerminalConfirm,
            ))
            .and_then(|r| finish(out, format, &r)),
        Command::Package(args) => runtime()
            .block_on(commands::package::run(args, &global, env, &progress))
            .and_then(|r| finish(out, format, &r)),
    };
    progress.finish();
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            let _ = writeln!(err, "{}", render_error(&e, colors.err));
            code
        }
    }
}

/// An error as the user sees it: miette's report at a fixed width (so it reads the same in a
/// terminal, a CI log and a snapshot), colored only on a terminal.
pub fn render_error(e: &CliError, color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut text = String::new();
    match handler.render_report(&mut text, e) {
        Ok(()) => text.trim_end().to_owned(),
        Err(_) => e.to_string(),
    }
}

fn finish<R: Report>(
    out: &mut dyn Write,
    format: output::OutputFormat,
    report: &R,
) -> Result<i32, CliError> {
    match emit(out, format, report) {
        Ok(()) => Ok(report.exit_code()),
        // A reader that stopped early (`| head`) is not an error of the command.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(report.exit_code()),
        Err(source) => Err(CliError::Write {
            path: "<stdout>".into(),
            source,
        }),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
}
