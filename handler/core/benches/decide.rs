//! `cargo bench -p crossvault-core --bench decide`: times `decide` (parse + decide) over the
//! shared fixture events. No criterion: a warm loop with `std::time::Instant`. Target: at most
//! 50 µs per event.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use crossvault_core::{BackupEvent, Facts, StackConfig, decide};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/events");
const TARGET_NS: f64 = 50_000.0;

fn config() -> StackConfig {
    let env: BTreeMap<String, String> = [
        ("CROSSVAULT_ROLE", "source"),
        ("CROSSVAULT_ACCOUNT_ID", "111111111111"),
        ("CROSSVAULT_BACKUP_ACCOUNT_ID", "222222222222"),
        ("CROSSVAULT_BACKUP_REGION", "eu-central-1"),
        ("CROSSVAULT_BACKUP_REGION_ALTERNATE", "eu-west-1"),
        ("CROSSVAULT_PREPROD_ACCOUNT_IDS", "333333333333"),
        ("CROSSVAULT_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_CENTRAL_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_PREPROD_VAULT_NAME", "crossvault"),
        (
            "CROSSVAULT_COPY_ROLE_ARN",
            "arn:aws:iam::111111111111:role/crossvault-copy",
        ),
        ("CROSSVAULT_COPY_TO_LOCAL_REGION", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    StackConfig::from_env_map(&env).expect("valid bench configuration")
}

fn main() {
    let mut events: Vec<(String, Value)> = std::fs::read_dir(FIXTURES)
        .expect("fixtures directory")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).expect("readable fixture");
            (
                e.file_name().to_string_lossy().into_owned(),
                serde_json::from_str(&text).expect("JSON fixture"),
            )
        })
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    let config = config();
    // Every fact a decision can ask for (what explain assumes, plus the tag), gathered once per
    // event: the bench times parsing and deciding, not the look-ups.
    let facts_for = |event: &Value| {
        let parsed = BackupEvent::from_value(event).expect("fixture parses");
        Facts {
            resource_tags: Facts::with_tags([("CopyToPreProd", "true")]).resource_tags,
            ..Facts::without_aws(&parsed, &config)
        }
    };

    let iterations: u32 = std::env::var("CROSSVAULT_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    println!(
        "decide: {} fixture events, {iterations} iterations each",
        events.len()
    );
    let mut worst = 0.0f64;
    let mut total_ns = 0.0f64;
    for (name, event) in &events {
        let facts = facts_for(event);
        let run = || {
            let parsed = BackupEvent::from_value(black_box(event)).expect("parses");
            black_box(decide(&parsed, &config, &facts).expect("decides"))
        };
        // Warm up.
        for _ in 0..1_000 {
            run();
        }
        let start = Instant::now();
        for _ in 0..iterations {
            run();
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(iterations);
        worst = worst.max(ns);
        total_ns += ns;
        println!(
            "  {name:<45} {ns:>9.0} ns/event  {:>7.2} µs/event",
            ns / 1_000.0
        );
    }
    let mean = total_ns / events.len() as f64;
    println!(
        "mean {mean:.0} ns/event ({:.2} µs/event); worst {:.2} µs/event; target <= {:.0} µs: {}",
        mean / 1_000.0,
        worst / 1_000.0,
        TARGET_NS / 1_000.0,
        if worst <= TARGET_NS {
            "OK"
        } else {
            "OVER TARGET"
        }
    );
}
