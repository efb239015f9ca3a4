//! `crossvault build`: compile the handler for Lambda (provided.al2023) and package it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::artifact::{self, Architecture, Artifact};
use crate::error::CliError;
use crate::output::{Progress, Report};

#[derive(Debug, Clone, clap::Args)]
pub struct BuildArgs {
    /// Target architecture of the Lambda function.
    #[arg(long, value_enum, default_value_t = Architecture::Arm64)]
    pub arch: Architecture,
    /// Where bootstrap.zip is written.
    #[arg(long, default_value = "target/lambda/crossvault")]
    pub out_dir: PathBuf,
    /// Package this already-built `bootstrap` binary instead of compiling.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct BuildReport {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub compiled: bool,
}

impl std::fmt::Display for BuildReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = &self.artifact;
        writeln!(f, "artifact      {}", a.zip_path.display())?;
        writeln!(f, "architecture  {}", a.architecture)?;
        writeln!(
            f,
            "zip size      {} bytes ({:.2} MiB)",
            a.zip_bytes,
            a.zip_bytes as f64 / 1_048_576.0
        )?;
        writeln!(f, "binary size   {} bytes", a.binary_bytes)?;
        writeln!(f, "sha256        {}", a.sha256)?;
        write!(f, "ArtifactKey   {}", a.s3_key)
    }
}

impl Report for BuildReport {}

pub fn run(args: &BuildArgs, progress: &Progress) -> Result<BuildReport, CliError> {
    let (binary, compiled) = match &args.binary {
        Some(path) => (path.clone(), false),
        None => (compile(args.arch, progress)?, true),
    };
    progress.step(format!("packaging {}", binary.display()));
    let artifact = artifact::package(&binary, &args.out_dir, args.arch)?;
    progress.finish();
    Ok(BuildReport { artifact, compiled })
}

/// The cargo-lambda to use: `$CARGO_LAMBDA`, then the copy `scripts/build` installs into
/// `.tools/lambda-venv`, then PATH.
fn cargo_lambda(root: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CARGO_LAMBDA") {
        return Some(PathBuf::from(p));
    }
    let venv = root.join(".tools/lambda-venv/bin/cargo-lambda");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("cargo-lambda"))
            .find(|p| p.is_file())
    })
}

fn compile(arch: Architecture, progress: &Progress) -> Result<PathBuf, CliError> {
    let root = workspace_root()?;
    let tool = cargo_lambda(&root).ok_or_else(|| CliError::MissingTool {
        tool: "cargo-lambda".into(),
        help: "run scripts/build, which installs pinned cargo-lambda and zig into .tools/, or \
               set CARGO_LAMBDA to a cargo-lambda binary"
            .into(),
    })?;
    // One output directory per architecture: cargo-lambda otherwise writes both targets to
    // the same target/lambda/bootstrap and a stale binary of the other one could be zipped.
    let lambda_dir = root.join("target").join(format!("lambda-{arch}"));
    let mut cmd = Command::new(&tool);
    cmd.current_dir(&root)
        .args([
            "lambda",
            "build",
            "--release",
            "--package",
            "crossvault-handler",
            "--bin",
            "bootstrap",
        ])
        .arg(match arch {
            Architecture::Arm64 => "--arm64",
            Architecture::X86_64 => "--x86-64",
        })
        .arg("--lambda-dir")
        .arg(&lambda_dir);
    if let Some(bin_dir) = tool.parent() {
        // zig from the same venv as cargo-lambda.
        let path = std::env::var_os("PATH").unwrap_or_default();
        let joined = std::env::join_paths(
            std::iter::once(bin_dir.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .map_err(|e| CliError::Package(e.to_string()))?;
        cmd.env("PATH", joined);
    }
    progress.step(format!(
        "compiling the handler for {arch} (release; takes minutes on a cold cache)"
    ));
    let status = cmd.status().map_err(|e| CliError::MissingTool {
        tool: tool.display().to_string(),
        help: format!("it could not be started: {e}"),
    })?;
    if !status.success() {
        return Err(CliError::CommandFailed {
            command: format!("{} lambda build --release --{arch}", tool.display()),
            status: status.to_string(),
            help: "see the compiler output above".into(),
        });
    }
    Ok(lambda_dir.join("bootstrap").join("bootstrap"))
}

/// The crossvault workspace this command runs in: the nearest ancestor of the current
/// directory with `Cargo.toml` and `handler/`.
pub fn workspace_root() -> Result<PathBuf, CliError> {
    let cwd = std::env::current_dir().map_err(|source| CliError::Read {
        path: ".".into(),
        source,
    })?;
    cwd.ancestors()
        .find(|d| d.join("Cargo.toml").is_file() && d.join("handler/Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| CliError::MissingTool {
            tool: "the crossvault source tree".into(),
            help: "run `crossvault build` inside the crossvault repository, or pass --binary"
                .into(),
        })
}
