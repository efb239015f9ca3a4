//! The Lambda artifact: a reproducible zip with one executable, `bootstrap`, at its root.
//!
//! Reproducible on purpose: the S3 key is the zip's SHA-256, and CloudFormation only updates a
//! function when the key changes. Zip entries with the build time in them would give every
//! build a new key and redeploy an unchanged function across the whole organization.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use crate::error::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// Graviton: better price performance, the default.
    Arm64,
    X86_64,
}

impl Architecture {
    /// The name Lambda's `Architectures` property uses.
    pub fn lambda_name(self) -> &'static str {
        match self {
            Self::Arm64 => "arm64",
            Self::X86_64 => "x86_64",
        }
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.lambda_name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    pub zip_path: PathBuf,
    pub architecture: Architecture,
    pub sha256: String,
    pub zip_bytes: u64,
    pub binary_bytes: u64,
    /// The object key to publish under, and the template's `ArtifactKey` parameter.
    pub s3_key: String,
}

/// The S3 key for a zip with this digest.
pub fn s3_key(architecture: Architecture, sha256: &str) -> String {
    format!("crossvault/bootstrap-{architecture}-{sha256}.zip")
}

/// Zips `binary` as `bootstrap` (mode 0755, fixed timestamp) into `out_dir/bootstrap.zip`.
pub fn package(
    binary: &Path,
    out_dir: &Path,
    architecture: Architecture,
) -> Result<Artifact, CliError> {
    let bytes = std::fs::read(binary).map_err(|source| CliError::Read {
        path: binary.display().to_string(),
        source,
    })?;
    let zip = zip_bootstrap(&bytes).map_err(|e| CliError::Package(e.to_string()))?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| CliError::Package(format!("{}: {e}", out_dir.display())))?;
    let zip_path = out_dir.join("bootstrap.zip");
    std::fs::write(&zip_path, &zip)
        .map_err(|e| CliError::Package(format!("{}: {e}", zip_path.display())))?;
    let sha256 = hex::encode(Sha256::digest(&zip));
    Ok(Artifact {
        s3_key: s3_key(architecture, &sha256),
        zip_path,
        architecture,
        zip_bytes: zip.len() as u64,
        binary_bytes: bytes.len() as u64,
        sha256,
    })
}

fn zip_bootstrap(binary: &[u8]) -> zip::result::ZipResult<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .unix_permissions(0o755)
        .last_modified_time(zip::DateTime::default());
    writer.start_file("bootstrap", options)?;
    writer.write_all(binary)?;
    Ok(writer.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn zip_holds_an_executable_bootstrap_and_is_reproducible() {
        let dir = std::env::temp_dir().join(format!("crossvault-artifact-{}", std::process::id()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&bin, b"\x7fELF pretend binary").unwrap();
        let first = package(&bin, &dir.join("a"), Architecture::Arm64).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = package(&bin, &dir.join("b"), Architecture::Arm64).unwrap();
        assert_eq!(
            first.sha256, second.sha256,
            "same input, same digest, same key"
        );
        assert_eq!(
            first.s3_key,
            format!("crossvault/bootstrap-arm64-{}.zip", first.sha256)
        );
        assert_eq!(first.sha256.len(), 64);

        let mut archive =
            zip::ZipArchive::new(std::fs::File::open(&first.zip_path).unwrap()).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "bootstrap");
        assert_eq!(entry.unix_mode().unwrap() & 0o777, 0o755);
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert_eq!(content, b"\x7fELF pretend binary");

        std::fs::write(&bin, b"\x7fELF another binary").unwrap();
        let third = package(&bin, &dir.join("c"), Architecture::Arm64).unwrap();
        assert_ne!(third.sha256, first.sha256);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
