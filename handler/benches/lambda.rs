//! Benchmark of the real `bootstrap` binary (bench profile = release, native architecture)
//! against a local Lambda Runtime API:
//! - cold start: process start → first poll of `/invocation/next` (client set-up included),
//!   side by side with the floor, `init-floor` (a minimal lambda_runtime + aws-sdk-backup
//!   handler, built with `--features bench-floor`), runs interleaved so both see the same
//!   machine; target: crossvault no slower than the floor;
//! - latency of a no-op custom-resource request (answered over HTTP to a local server), first
//!   (cold) and warm (median, p99);
//! - peak RSS (VmHWM) after the runs;
//! - artifact size of `target/lambda/crossvault/bootstrap.zip` when `scripts/build` made one.
//!
//! Run with `scripts/bench` (or `cargo bench -p crossvault-handler --bench lambda`).

#[path = "../tests/support/runtime_api.rs"]
mod runtime_api;

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const COLD_STARTS: usize = 15;
/// Interleaved cold starts of crossvault and the floor.
const PAIRS: usize = 40;
const WARM_REQUESTS: usize = 200;

/// The floor binary, when the bench was built with `--features bench-floor`.
const FLOOR: Option<&str> = option_env!("CARGO_BIN_EXE_init-floor");

/// A source stack's configuration, so crossvault's init parses what a deployed one does.
const STACK: &[(&str, &str)] = &[
    ("CROSSVAULT_ROLE", "source"),
    ("CROSSVAULT_ACCOUNT_ID", "111111111111"),
    ("CROSSVAULT_BACKUP_ACCOUNT_ID", "222222222222"),
    ("CROSSVAULT_BACKUP_REGION", "eu-central-1"),
    ("CROSSVAULT_BACKUP_REGION_ALTERNATE", "eu-west-1"),
    ("CROSSVAULT_VAULT_NAME", "crossvault"),
    ("CROSSVAULT_CENTRAL_VAULT_NAME", "crossvault"),
    ("CROSSVAULT_PREPROD_VAULT_NAME", "crossvault"),
    (
        "CROSSVAULT_COPY_ROLE_ARN",
        "arn:aws:iam::111111111111:role/crossvault-copy-eu-west-1",
    ),
    (
        "CROSSVAULT_NOTIFY_TOPIC_ARN",
        "arn:aws:sns:eu-west-1:111111111111:crossvault-notifications",
    ),
];

/// Process start → first poll of the Runtime API, for `binary`.
async fn cold_start(binary: &str) -> Duration {
    let api = runtime_api::RuntimeApi::start().await.unwrap();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .envs(runtime_api::lambda_environment(&api))
        .envs(STACK.iter().copied())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("CROSSVAULT_LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    while api.first_poll().is_none() {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let took = api.first_poll().unwrap() - started;
    child.kill().await.unwrap();
    took
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing: only run when asked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let cfn = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&cfn)
        .await;
    let no_op = json!({
        "RequestType": "Delete", "ResponseURL": format!("{}/cfn", cfn.uri()),
        "StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/crossvault/1",
        "RequestId": "r-1", "LogicalResourceId": "RegionSettings",
        "ResourceType": "Custom::BackupRegionSettings",
        "PhysicalResourceId": "crossvault:create-failed:RegionSettings", "ResourceProperties": {}
    });

    let mut cold = Vec::new();
    let mut first_request = Vec::new();
    let mut warm = Vec::new();
    let mut peak_rss_kib = 0;
    for run in 0..COLD_STARTS {
        let api = runtime_api::RuntimeApi::start().await.unwrap();
        let started = Instant::now();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .envs(runtime_api::lambda_environment(&api))
            .envs(STACK.iter().copied())
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("CROSSVAULT_LOG_LEVEL", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        while api.first_poll().is_none() {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        cold.push(api.first_poll().unwrap() - started);

        let requests = if run == 0 { WARM_REQUESTS + 1 } else { 1 };
        for i in 0..requests {
            let t = Instant::now();
            let id = api.invoke(no_op.clone(), Duration::from_secs(30));
            let done = api
                .completion(&id, Duration::from_secs(10))
                .await
                .expect("answered");
            assert!(!done.is_error, "{:?}", done.body);
            if i == 0 {
                first_request.push(t.elapsed());
            } else {
                warm.push(t.elapsed());
            }
        }
        peak_rss_kib = peak_rss_kib.max(vm_hwm_kib(pid).unwrap_or(0));
        child.kill().await.unwrap();
    }

    // Cold starts of crossvault and of the floor, interleaved.
    let mut ours = Vec::new();
    let mut floor = Vec::new();
    if let Some(floor_binary) = FLOOR {
        for _ in 0..PAIRS {
            ours.push(cold_start(env!("CARGO_BIN_EXE_bootstrap")).await);
            floor.push(cold_start(floor_binary).await);
        }
    }

    let zip = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/lambda/crossvault/bootstrap.zip");
    let zip_size = std::fs::metadata(&zip).map(|m| m.len()).ok();
    println!(
        "crossvault Lambda benchmark (native {}, release profile)",
        std::env::consts::ARCH
    );
    println!("{:<44} {:>12} {:>10}", "metric", "value", "target");
    row(
        "cold start to first poll, median",
        ms(median(&mut cold)),
        "<= 20 ms",
    );
    row(
        "cold start to first poll, max",
        ms(*cold.iter().max().unwrap()),
        "",
    );
    if FLOOR.is_some() {
        let (ours_median, floor_median) = (median(&mut ours), median(&mut floor));
        let ((o1, o3), (f1, f3)) = (quartiles(&mut ours), quartiles(&mut floor));
        row(
            "cold start crossvault, median of 40 pairs",
            ms(ours_median),
            "<= floor",
        );
        row("cold start floor, median of 40 pairs", ms(floor_median), "");
        row(
            "  quartiles crossvault / floor",
            format!(
                "{:.2}-{:.2} / {:.2}-{:.2}",
                o1.as_secs_f64() * 1e3,
                o3.as_secs_f64() * 1e3,
                f1.as_secs_f64() * 1e3,
                f3.as_secs_f64() * 1e3
            ),
            "ms",
        );
        row(
            "crossvault − floor (medians)",
            format!(
                "{:+.2} ms",
                (ours_median.as_secs_f64() - floor_median.as_secs_f64()) * 1000.0
            ),
            "<= 0",
        );
    } else {
        row(
            "cold start of the floor",
            "not built".into(),
            "--features bench-floor",
        );
    }
    row(
        "first no-op custom-resource request, median",
        ms(median(&mut first_request)),
        "",
    );
    row(
        "warm no-op custom-resource request, median",
        ms(median(&mut warm)),
        "",
    );
    row(
        "warm no-op custom-resource request, p99",
        ms(percentile(&mut warm, 0.99)),
        "",
    );
    row(
        "peak RSS (VmHWM)",
        format!("{:.1} MiB", peak_rss_kib as f64 / 1024.0),
        "<= 40 MiB",
    );
    row(
        "artifact zip (scripts/build)",
        zip_size.map_or("not built".into(), |b| {
            format!("{:.2} MiB", b as f64 / 1_048_576.0)
        }),
        "<= 4 MiB",
    );
}

fn row(metric: &str, value: String, target: &str) {
    println!("{metric:<44} {value:>12} {target:>10}");
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The lower and upper quartile, for the spread of the interleaved runs.
fn quartiles(v: &mut [Duration]) -> (Duration, Duration) {
    (percentile(v, 0.25), percentile(v, 0.75))
}

fn median(v: &mut [Duration]) -> Duration {
    percentile(v, 0.5)
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
