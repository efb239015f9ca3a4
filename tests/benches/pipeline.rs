//! A night through the real entry path against the test bed, and what it cost.
//!
//!     scripts/testbed start
//!     CROSSVAULT_TESTBED_URL=http://127.0.0.1:5123 cargo bench -p crossvault-tests --bench pipeline
//!
//! An emulated organization (two source accounts, two regions, 5 backups per account and
//! region, half of them tagged for pre-prod), jobs that take test bed time, AWS Backup's API
//! quota (5 mutating calls per second per account and region, `ThrottlingException` beyond),
//! and the harness playing Lambda's SQS event source mapping into `Handler::handle`. Reported:
//! events in, deliveries, copies made, shortenings, duplicate copies (0), lost promises (0),
//! dead-letter-queue entries, API calls per event (the handler's own, from the test bed's
//! request log), throttled calls, wall time; then the same events delivered again (the
//! idempotent path). Without `--bench` (e.g. `cargo test --benches`) or without
//! `CROSSVAULT_TESTBED_URL` it says so and exits 0.

use std::collections::BTreeMap;
use std::time::Instant;

use crossvault_tests::lambda::HANDLER_APP;
use crossvault_tests::org::{Org, OrgIds, REGIONS};
use crossvault_tests::runner::{self, BackupSpec};
use crossvault_tests::story;
use crossvault_tests::testbed::CallFilter;

const BACKUPS_PER_ACCOUNT_REGION: usize = 5;
/// AWS Backup's quota for mutating calls, per account and region (AWS docs).
const MUTATING_CALLS_PER_SECOND: f64 = 5.0;

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
    org.throttle(Some(MUTATING_CALLS_PER_SECOND))
        .await
        .expect("throttling");
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
    // Plan-style backups: AWS starts them itself, so they do not count against the quota.
    let backups = runner::start_plan_backups(&org, &specs, &[])
        .await
        .expect("backups");
    let since = org.testbed.last_request().await.expect("request log");
    let started = Instant::now();
    let night = runner::finish_night(&org, backups).await.expect("night");
    let wall = started.elapsed();
    let calls = org
        .testbed
        .requests(&CallFilter {
            app: Some(HANDLER_APP),
            since,
            ..CallFilter::default()
        })
        .await
        .expect("request log");
    let outcome = story::collect(&org).await.expect("outcome");
    let now = org.now().await.expect("clock");
    let broken = story::check(&org, &night, now, &outcome);

    let events = night.messages();
    let copies = outcome
        .copies
        .iter()
        .filter(|c| c.state == "COMPLETED")
        .count();
    let ok = |c: &&crossvault_tests::testbed::ApiCall| c.status == Some(200);
    let shortenings = calls
        .iter()
        .filter(|c| c.operation == "UpdateRecoveryPointLifecycle")
        .filter(ok)
        .count();
    let throttled = calls
        .iter()
        .filter(|c| c.error_code.as_deref() == Some("ThrottlingException"))
        .count();
    let mut by_operation: BTreeMap<String, usize> = BTreeMap::new();
    for c in &calls {
        *by_operation
            .entry(format!("{}:{}", c.service, c.operation))
            .or_default() += 1;
    }
    let per_event = |n: usize| n as f64 / events.max(1) as f64;

    println!(
        "pipeline bench: a night of {} backups ({} accounts x {} regions x {BACKUPS_PER_ACCOUNT_REGION}), \
         timed jobs, throttling at {MUTATING_CALLS_PER_SECOND}/s per account and region",
        night.backups.len(),
        org.ids.sources.len(),
        REGIONS.len()
    );
    println!("  events in                 {events}");
    println!(
        "  deliveries                {} ({} redelivered, {} reported failed)",
        night.deliveries.len(),
        night.redelivered().len(),
        night.failures().len()
    );
    println!("  copies made               {copies}");
    println!("  shortenings               {shortenings}");
    println!(
        "  duplicate copies          {}",
        outcome.duplicate_copies().len()
    );
    println!("  lost (broken promises)    {}", broken.len());
    println!("  dead-letter queue entries {}", night.dead_letters.len());
    println!(
        "  API calls per event       {:.2} ({} calls by the handler, {} throttled)",
        per_event(calls.len()),
        calls.len(),
        throttled
    );
    println!(
        "  calls by operation        {}",
        by_operation
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  wall time                 {:.2} s ({:.1} events/s; {} delivery rounds, {} clock moves)",
        wall.as_secs_f64(),
        events as f64 / wall.as_secs_f64(),
        night.rounds,
        night.clock_moves
    );
    for b in &broken {
        println!("  BROKEN: {b}");
    }

    // The same events once more: every copy deduplicated by its token, every shortening kept.
    let since = org.testbed.last_request().await.expect("request log");
    let started = Instant::now();
    let replayed = runner::replay(&org, &night.deliveries)
        .await
        .expect("replay");
    let mut again = Vec::new();
    runner::run_until_settled(&org, &mut again)
        .await
        .expect("replayed night");
    let rerun = started.elapsed();
    let calls = org
        .testbed
        .requests(&CallFilter {
            app: Some(HANDLER_APP),
            since,
            ..CallFilter::default()
        })
        .await
        .expect("request log");
    let after = story::collect(&org).await.expect("outcome");
    println!(
        "  duplicate delivery        {replayed} events in {:.2} s = {:.1} events/s, {:.2} API calls per event, \
         {} new copies, {} duplicates, {} dead-lettered",
        rerun.as_secs_f64(),
        replayed as f64 / rerun.as_secs_f64(),
        calls.len() as f64 / replayed.max(1) as f64,
        after.copies.len() - outcome.copies.len(),
        after.duplicate_copies().len(),
        runner::take_dead_letters(&org).await.expect("dlq").len()
    );
}
