//! Command results are `Serialize` and `Display`, so `--output json` costs nothing, and are
//! written through a `Write` so tests capture exactly what a user sees.

use std::fmt::Display;
use std::io::Write;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// A command's result.
pub trait Report: Serialize + Display {
    /// The exit code this result calls for (see [`crate::error::exit`]).
    fn exit_code(&self) -> i32 {
        crate::error::exit::OK
    }
}

pub fn emit<R: Report>(
    out: &mut dyn Write,
    format: OutputFormat,
    report: &R,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Text => writeln!(out, "{report}"),
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::other)?;
            writeln!(out)
        }
    }
}

/// Progress lines: a spinner on a terminal, plain lines otherwise (CI logs, pipes).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        use std::io::IsTerminal;
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Self { bar }
    }

    pub fn step(&self, message: impl Into<String>) {
        let message = message.into();
        match &self.bar {
            Some(bar) => bar.set_message(message),
            None => eprintln!("{message}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
