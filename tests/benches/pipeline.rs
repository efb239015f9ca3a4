//! End-to-end events per second through `Pipeline::process_event` against the test bed.
//!
//!     scripts/testbed start
//!     CROSSVAULT_TESTBED_URL=http://127.0.0.1:5123 cargo bench -p crossvault-tests --bench pipeline
//!
//! Two numbers: a night (every event does real work: copy jobs started, lifecycles changed),
//! and the same events delivered again (the idempotent path: every copy deduplicated by its
//! token, every shortening kept). Without `--bench` (e.g. `cargo test --benches`) or without
//! `CROSSVAULT_TESTBED_URL` it says so and exits 0.

use std::time::Instant;

use crossvault_tests::org::{Org, OrgIds, REGIONS};
use crossvault_tests::runner::{self, BackupSpec};

const BACKUPS_PER_ACCOUNT_REGION: usize = 5;

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("pipeline bench: skipped (run it with cargo bench)");
        return;
    }
    let Ok(url) = crossvault_tests::testbed_url() else {
        println!(
            "pipeline bench: skipped, {} is not set ({})",
            crossvault_tests::TESTBED_URL_VAR,
            crossvault_tests::HOW_TO_START
        );
        return;
    };
    let mut org = Org::create(&url, OrgIds::unique("bench"))
        .await
        .expect("organization");
    org.install().await.expect("install");
    let mut specs = Vec::new();
    for source in org.ids.sources.clone() {
        for region in REGIONS {
            for i in 0..BACKUPS_PER_ACCOUNT_REGION {
                let spec = BackupSpec::rds(&source, region, &format!("db{i}-{region}"));
                specs.push(if i % 2 == 0 {
                    spec.tagged("CopyToPreProd", "true")
                } else {
                    spec
                });
            }
        }
    }
    let backups = runner::start_backups(&org, &specs).await.expect("backups");
    let started = Instant::now();
    let mut deliveries = Vec::new();
    runner::run_until_quiet(&org, &mut deliveries)
        .await
        .expect("night");
    let night = started.elapsed();
    assert!(deliveries.iter().all(|d| d.result.is_ok()));

    let started = Instant::now();
    let again = runner::redeliver(&org, &deliveries)
        .await
        .expect("redeliver");
    let rerun = started.elapsed();
    assert!(again.iter().all(|d| d.result.is_ok()));

    let rate = |n: usize, d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!(
        "pipeline bench: {} backups; night: {} events in {:.2} s = {:.1} events/s (SQS receive/delete included); \
         duplicate delivery: {} events in {:.2} s = {:.1} events/s",
        backups.len(),
        deliveries.len(),
        night.as_secs_f64(),
        rate(deliveries.len(), night),
        again.len(),
        rerun.as_secs_f64(),
        rate(again.len(), rerun)
    );
}
