//! `crossvault deploy` for a whole organization against the test bed: API calls and wall time,
//! for 10 and for 500 accounts × 4 regions (the real template; moto creates every instance's
//! stack, so most of the wall time is the test bed's).
//!
//!     scripts/testbed start
//!     CROSSVAULT_TESTBED_URL=http://127.0.0.1:5123 cargo bench -p crossvault-tests --bench deploy
//!
//! Shows how calls grow: uploads with regions (never accounts), StackSet calls not with
//! accounts (one CreateStackInstances for every account of every region), and a second
//! deploy with nothing changed makes no CloudFormation write. Without `--bench` or without
//! `CROSSVAULT_TESTBED_URL` it says so and exits 0. `BENCH_ACCOUNTS=10,500` picks the sizes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossvault_stackset::aws::{Environment, RequestLog, Timing};
use crossvault_tests::clients::AccountCredentials;
use crossvault_tests::testbed::{MemberSpec, Testbed};

const REGIONS: [&str; 4] = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2"];

struct Run {
    wall: Duration,
    counts: BTreeMap<String, usize>,
    exit: i32,
}

fn run(args: Vec<String>, env: &Environment, log: &RequestLog) -> Run {
    log.clear();
    let started = Instant::now();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let exit = crossvault_stackset::run_with(
        std::iter::once("crossvault".to_owned())
            .chain(args)
            .map(Into::into),
        &mut out,
        &mut err,
        env,
        crossvault_stackset::Colors::default(),
    );
    let wall = started.elapsed();
    if exit != 0 {
        eprintln!(
            "{}\n{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
    }
    Run {
        wall,
        counts: log.counts(),
        exit,
    }
}

fn sum(counts: &BTreeMap<String, usize>, f: impl Fn(&str, &str) -> bool) -> usize {
    counts
        .iter()
        .filter(|(k, _)| {
            let (service, op) = k.split_once(':').unwrap_or_default();
            f(service, op)
        })
        .map(|(_, n)| n)
        .sum()
}

async fn organization(url: &str, size: usize) -> (String, Vec<String>, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let stem = format!("6{:05}", (nanos / 1000) % 100_000);
    let management = format!("{stem}999999");
    let accounts: Vec<String> = (0..size).map(|i| format!("{stem}{i:06}")).collect();
    let members: Vec<MemberSpec> = accounts
        .iter()
        .enumerate()
        .map(|(i, id)| MemberSpec {
            id: id.clone(),
            name: format!("account-{i}"),
            ou: Some(match i {
                0 => "Backup".to_owned(),
                1 => "PreProd".to_owned(),
                _ => format!("Workloads-{}", i % 10),
            }),
        })
        .collect();
    let org = Testbed::new(url)
        .create_organization(&management, &members)
        .await
        .expect("organization");
    (management, accounts, org.root_id)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("deploy bench: skipped (run it with cargo bench)");
        return;
    }
    let Ok(url) = crossvault_tests::testbed_url() else {
        println!(
            "deploy bench: skipped, {} is not set ({})",
            crossvault_tests::TESTBED_URL_VAR,
            crossvault_tests::HOW_TO_START
        );
        return;
    };
    let sizes: Vec<usize> = std::env::var("BENCH_ACCOUNTS")
        .unwrap_or_else(|_| "10,500".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!(
        "{:>8} {:>9} {:>10} {:>8} {:>8} {:>10} {:>10} {:>8} {:>10}",
        "accounts",
        "instances",
        "deploy s",
        "calls",
        "uploads",
        "StackSet",
        "SS writes",
        "Orgs",
        "again s/w"
    );
    for size in sizes {
        let (management, accounts, root) = runtime.block_on(organization(&url, size));
        let sdk = runtime.block_on(async {
            AccountCredentials::assume(&url, &management)
                .await
                .expect("credentials")
                .config("eu-west-1")
                .await
        });
        // moto creates every instance's stack inside the CreateStackInstances request (AWS
        // answers at once and works asynchronously): give that request time.
        let sdk = sdk
            .to_builder()
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(3600))
                    .build(),
            )
            .build();
        let dir = std::env::temp_dir().join(format!("crossvault-bench-{management}"));
        std::fs::create_dir_all(&dir).unwrap();
        let zip = dir.join("bootstrap.zip");
        // A stand-in handler zip: moto stores the code without running it.
        std::fs::write(&zip, b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").unwrap();
        let config = dir.join("crossvault.config.yaml");
        std::fs::write(
            &config,
            format!(
                "permission_model: service-managed\norganizational_unit_ids: [{root}]\n\
                 regions: [{}]\nartifact_bucket_prefix: cvbench-{management}\nartifact: {}\n\
                 management_stack:\n  deploy: false\nparameters:\n  BackupAccountId: \"{}\"\n  \
                 BackupRegion: eu-central-1\n  BackupRegionAlternate: eu-west-1\n  \
                 PreProdAccountIds: [\"{}\"]\n  ManagementAccountId: \"{management}\"\n",
                REGIONS.join(", "),
                zip.display(),
                accounts[0],
                accounts[1],
            ),
        )
        .unwrap();
        let log = RequestLog::new();
        let env = Environment {
            sdk_config: Some(sdk),
            interceptors: vec![log.interceptor()],
            timing: Timing {
                first_poll: Duration::from_millis(200),
                ..Timing::default()
            },
        };
        let args = vec![
            "deploy".to_owned(),
            "--config".to_owned(),
            config.display().to_string(),
            "-q".to_owned(),
            "--timeout".to_owned(),
            "2h".to_owned(),
        ];
        let first = run(args.clone(), &env, &log);
        let again = run(args, &env, &log);
        assert_eq!(first.exit, 0, "deploy failed");
        assert_eq!(again.exit, 0, "second deploy failed");
        let cfn_writes = |c: &BTreeMap<String, usize>| {
            sum(c, |s, op| {
                s == "CloudFormation" && crossvault_stackset::aws::is_cloudformation_write(op)
            })
        };
        let stack_set = |c: &BTreeMap<String, usize>| sum(c, |s, _| s == "CloudFormation");
        let total = |c: &BTreeMap<String, usize>| sum(c, |_, _| true);
        let uploads = sum(&first.counts, |s, op| s == "S3" && op == "PutObject");
        let orgs = sum(&first.counts, |s, _| s == "Organizations");
        assert_eq!(cfn_writes(&again.counts), 0, "the unchanged deploy wrote");
        println!(
            "{:>8} {:>9} {:>10.1} {:>8} {:>8} {:>10} {:>10} {:>8} {:>5.1}/{}",
            size,
            size * REGIONS.len(),
            first.wall.as_secs_f64(),
            total(&first.counts),
            uploads,
            stack_set(&first.counts),
            cfn_writes(&first.counts),
            orgs,
            again.wall.as_secs_f64(),
            cfn_writes(&again.counts),
        );
        for (op, n) in &first.counts {
            eprintln!("  {size} accounts, first deploy: {op} {n}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
