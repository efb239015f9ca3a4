//! crossvault's end-to-end harness: an emulated AWS Organization on the local test bed
//! (`tests/testbed`, moto extended with AWS Backup), crossvault installed into it from
//! `template/crossvault.yaml`, and a runner that plays one night of backups through the real
//! handler library.
//!
//! | module | what |
//! |---|---|
//! | [`testbed`] | the test bed's control API (`/_testbed/`): organization, job progress, clock, event delivery, faults, logs |
//! | [`clock`] | the handler's clock, following the organization's clock on the test bed |
//! | [`clients`] | an `SdkConfig` per account and region, through STS `AssumeRole` |
//! | [`org`] | the emulated organization: fixed or per-test unique account ids, two regions, timed jobs |
//! | [`install`] | crossvault installed into one account/region from the evaluated template (the fast path the end-to-end tests take) |
//! | [`deployed`] | crossvault deployed with `crossvault deploy`, the harness playing only the Lambda (the demo's path) |
//! | [`lambda`] | the real `Handler` of one stack, as the `bootstrap` binary assembles it |
//! | [`runner`] | the night: backup jobs, then Lambda's SQS event source mapping and the reconcile schedule, with the clock moved on, until settled |
//! | [`story`] | the outcome read back through the APIs, rendered, and checked |
//!
//! A test reads as: given these vaults and this backup, after the night, these copies exist
//! with these lifecycles.
//!
//! What is emulated and what is not is said once, in [`story::EMULATION_NOTE`].

pub mod clients;
pub mod clock;
pub mod deployed;
pub mod install;
pub mod lambda;
pub mod org;
pub mod refresh;
pub mod runner;
pub mod story;
pub mod testbed;

use std::fmt;

/// Every harness failure: a message that says what was being done and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Builds an [`Error`] from anything printable.
pub fn err(message: impl Into<String>) -> Error {
    Error(message.into())
}

/// Maps an AWS SDK (or any) error into an [`Error`] naming the call, with the full error chain
/// (the SDK's own `Display` says only "service error").
pub fn aws<E>(call: &str) -> impl FnOnce(E) -> Error + '_
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| {
        Error(format!(
            "{call} failed: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        ))
    }
}

/// The variable that points the harness at the test bed.
pub const TESTBED_URL_VAR: &str = "CROSSVAULT_TESTBED_URL";

/// How to get a test bed, printed whenever it is missing.
pub const HOW_TO_START: &str = "the end-to-end tests need the local AWS test bed. Start it and point the tests at it:\n\
     \n    scripts/testbed start                                  # 127.0.0.1:${CROSSVAULT_TESTBED_PORT:-5123}\n\
     \x20   export CROSSVAULT_TESTBED_URL=http://127.0.0.1:5123\n\
     \x20   cargo test -p crossvault-tests\n\
     \n(scripts/test does all of this; scripts/testbed stop ends it.)";

/// The test bed's URL from `CROSSVAULT_TESTBED_URL`, or an error that says how to start one.
pub fn testbed_url() -> Result<String> {
    match std::env::var(TESTBED_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Ok(url.trim().trim_end_matches('/').to_owned()),
        _ => Err(err(format!("{TESTBED_URL_VAR} is not set: {HOW_TO_START}"))),
    }
}

/// For tests: the test bed's URL, or a panic with instructions (a missing test bed must fail
/// loudly, never pass silently).
pub fn require_testbed() -> String {
    match testbed_url() {
        Ok(url) => url,
        Err(e) => panic!("\n\n{e}\n"),
    }
}

/// The repository root (for the template).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}
