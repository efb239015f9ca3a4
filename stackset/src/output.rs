//! Command results are `Serialize` and `Display`, so `--output json` costs nothing, and are
//! written through a `Write` so tests capture exactly what a user sees.

use std::fmt::Display;
use std::io::Write;
use std::sync::Mutex;

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

/// Progress on stderr: a spinner or bar on a terminal, plain lines otherwise (CI logs, pipes),
/// nothing with `--quiet`.
pub struct Progress {
    quiet: bool,
    terminal: bool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        use std::io::IsTerminal;
        Self::with_terminal(quiet, std::io::stderr().is_terminal())
    }

    /// Progress that never draws (plain lines unless quiet): for embedding and tests.
    pub fn plain(quiet: bool) -> Self {
        Self::with_terminal(quiet, false)
    }

    fn with_terminal(quiet: bool, terminal: bool) -> Self {
        Self {
            quiet,
            terminal,
            bar: Mutex::new(None),
        }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Option<indicatif::ProgressBar>> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What is happening now: the spinner's message on a terminal, a line otherwise.
    pub fn step(&self, message: impl Into<String>) {
        let message = message.into();
        if self.quiet {
            return;
        }
        if self.terminal {
            let mut bar = self.current();
            let bar = bar.get_or_insert_with(|| {
                let b = indicatif::ProgressBar::new_spinner();
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                b
            });
            bar.set_message(message);
        } else {
            eprintln!("{message}");
        }
    }

    /// A line that stays (above a bar on a terminal).
    pub fn line(&self, message: impl Into<String>) {
        let message = message.into();
        if self.quiet {
            return;
        }
        match self.current().as_ref() {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }

    /// Starts a bar of `total` steps (plain lines off a terminal: one per [`Self::tick`]).
    pub fn start_bar(&self, total: u64, message: impl Into<String>) {
        let message = message.into();
        if self.quiet {
            return;
        }
        if self.terminal {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(message);
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            if let Some(old) = self.current().replace(bar) {
                old.finish_and_clear();
            }
        } else {
            eprintln!("{message} ({total})");
        }
    }

    /// One step of the bar done; `message` says which.
    pub fn tick(&self, message: impl Into<String>) {
        let message = message.into();
        if self.quiet {
            return;
        }
        match self.current().as_ref() {
            Some(bar) if bar.length().is_some() => {
                bar.inc(1);
                bar.println(message);
            }
            _ => eprintln!("{message}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = self.current().take() {
            bar.finish_and_clear();
        }
    }
}

/// A text table: columns padded to their widest cell, two spaces apart, no trailing spaces.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |f: &mut std::fmt::Formatter<'_>, cells: &[String]| -> std::fmt::Result {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate().take(columns) {
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                if i + 1 < columns {
                    let pad = widths[i] - cell.chars().count();
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(f, "{}", text.trim_end())
        };
        line(f, &self.header)?;
        for row in &self.rows {
            line(f, row)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns_and_trims_line_ends() {
        let mut t = Table::new(["account", "region", "change"]);
        t.row(["111111111111", "eu-west-1", "new instance"]);
        t.row(["2", "us-east-1", ""]);
        assert_eq!(
            t.to_string(),
            "account       region     change\n\
             111111111111  eu-west-1  new instance\n\
             2             us-east-1\n"
        );
    }
}
