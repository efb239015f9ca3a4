//! SQS batches through the real handler (`Handler::handle`, as `bootstrap` calls it) against
//! the local test bed (`CROSSVAULT_TESTBED_URL`; `scripts/bench` starts one):
//!
//! - a batch of 10 against one event, for new backups (first hops) and for completed copies
//!   (shortenings), median of several; target: a batch of 10 ≤ 3 × one event;
//! - AWS API calls per event by operation (counted by an interceptor on every client); target:
//!   a shortening ≤ 3 calls on the warm path plus the verification's listing;
//! - a night's totals: events in, copies made, shortenings, duplicate copy jobs (0), lost
//!   points (0), dead-lettered records, wall time.
//!
//! The test bed serves every AWS Backup call under one lock, in a few milliseconds, so against
//! it a batch is bound by the server, not the handler. The same paths are therefore also run
//! with an AWS-like round trip added to every call (`LATENCY`), where the handler's
//! concurrency is what the figure measures.
//!
//! Without `--bench` (e.g. `cargo test --benches`) or without a test bed it says so and exits 0.

#[path = "../tests/support/testbed.rs"]
mod testbed;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use crossvault_handler::batch::{DeadLetters, SqsRecord};
use crossvault_handler::clients::AwsClients;
use crossvault_handler::custom_resource::{Engine, EngineOptions};
use crossvault_handler::pipeline::Pipeline;
use crossvault_handler::{Handler, InvocationContext};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use testbed::{BACKUP_REGION, Org, SOURCE_REGION, lifecycle};
use tokio::time::Instant;

/// The round trip added to every call in the second run (AWS API calls take tens of ms).
const LATENCY: Duration = Duration::from_millis(25);
/// Rounds of (one event, then a batch of ten), interleaved so both see the same test bed
/// (it slows down as its state grows).
const ROUNDS: usize = 4;
const BATCH: usize = 10;

/// Counts every attempt of every operation, by `service:Operation`.
#[derive(Debug, Clone, Default)]
struct Calls(Arc<Mutex<BTreeMap<String, usize>>>);

impl Calls {
    fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "crossvault-bench-calls"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            *self
                .0
                .lock()
                .unwrap()
                .entry(format!("{}:{}", m.service(), m.name()))
                .or_default() += 1;
        }
        Ok(())
    }
}

/// Records what would go to the dead-letter queue.
#[derive(Default)]
struct Dlq(Mutex<Vec<String>>);

impl DeadLetters for Dlq {
    fn send<'a>(
        &'a self,
        record: &'a SqsRecord,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.0
                .lock()
                .unwrap()
                .push(format!("{}: {reason}", record.message_id));
            Ok(())
        })
    }
}

/// The SDK's own HTTP client, `delay` slower per call.
#[derive(Debug)]
struct Delayed {
    inner: SharedHttpClient,
    delay: Duration,
}

impl HttpClient for Delayed {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(DelayedConnector {
            inner: self.inner.http_connector(settings, components),
            delay: self.delay,
        })
    }
}

#[derive(Debug)]
struct DelayedConnector {
    inner: SharedHttpConnector,
    delay: Duration,
}

impl HttpConnector for DelayedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, delay) = (self.inner.clone(), self.delay);
        HttpConnectorFuture::new(async move {
            tokio::time::sleep(delay).await;
            inner.call(request).await
        })
    }
}

fn batch(events: &[Value]) -> Value {
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"messageId": format!("m{i}"), "eventSource": "aws:sqs", "body": e.to_string()}))
        .collect();
    json!({ "Records": records })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

struct Phase {
    single: Duration,
    batch: Duration,
    calls: BTreeMap<String, usize>,
    events: usize,
    invocations: usize,
}

/// What one run (one latency) measured.
struct Run {
    phases: Vec<Phase>,
    rps: Vec<String>,
    night: usize,
    redelivered_calls: usize,
    dead_lettered: usize,
}

/// Backs up `ROUNDS * (1 + BATCH)` points and drives their events through a handler
/// whose clients are `delay` slower per call.
async fn run_paths(org: &Org, tag: &str, delay: Duration) -> Run {
    let calls = Calls::default();
    let base = testbed::sdk(&org.source, SOURCE_REGION).await;
    let sdk = if delay.is_zero() {
        base
    } else {
        // The test bed speaks plain HTTP: the SDK's hyper client without TLS.
        let default_http = aws_smithy_http_client::Builder::new().build_http();
        base.to_builder()
            .http_client(Delayed {
                inner: default_http,
                delay,
            })
            .build()
    };
    let clients = AwsClients::from_parts(
        sdk.clone(),
        aws_sdk_backup::Client::from_conf(
            aws_sdk_backup::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .build(),
        ),
        aws_sdk_organizations::Client::new(&sdk),
        aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .build(),
        ),
        aws_sdk_sqs::Client::new(&sdk),
        aws_sdk_resourcegroupstagging::Client::from_conf(
            aws_sdk_resourcegroupstagging::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .build(),
        ),
    );
    let pipeline = Pipeline::new(
        Arc::new(clients),
        org.source_config(&[]),
        SOURCE_REGION.parse().unwrap(),
    );
    let dlq = Arc::new(Dlq::default());
    let handler = Handler::new(
        Engine::new(
            crossvault_handler::runtime::http_client(),
            EngineOptions::default(),
        ),
        Ok(Arc::new(pipeline)),
        Some(dlq.clone()),
    );

    let points = ROUNDS * (1 + BATCH);
    let mut rps = Vec::with_capacity(points);
    for i in 0..points {
        rps.push(
            org.backup_efs(&format!("{tag}{i}"), lifecycle(35, None))
                .await,
        );
    }
    calls.take();
    let mut invocation = 0usize;
    let mut run = |events: Vec<Value>| {
        invocation += 1;
        let ctx = InvocationContext {
            request_id: format!("{tag}-{invocation}"),
            ..InvocationContext::local(Duration::from_secs(280))
        };
        let handler = &handler;
        async move {
            let started = Instant::now();
            let out = handler
                .handle(batch(&events), &ctx)
                .await
                .expect("a batch answer");
            assert_eq!(out, json!({"batchItemFailures": []}), "{out}");
            started.elapsed()
        }
    };

    // Phase 1: new backups → first hops. Phase 2: their completed copies → shortenings.
    let mut phases = Vec::new();
    for (kind, copy) in [
        ("Backup Job State Change", false),
        ("Copy Job State Change", true),
    ] {
        let mut events = Vec::new();
        for rp in &rps {
            let event = org
                .events(&org.source, SOURCE_REGION, kind, rp)
                .await
                .into_iter()
                .find(|e| {
                    e["detail"]["state"] == "COMPLETED"
                        && (!copy
                            || e["detail"]["destinationBackupVaultArn"].as_str()
                                == Some(org.central(BACKUP_REGION).as_str()))
                })
                .expect("the COMPLETED event");
            events.push(event);
        }
        let mut singles = Vec::new();
        let mut batches = Vec::new();
        for round in events.chunks(1 + BATCH) {
            singles.push(run(vec![round[0].clone()]).await);
            batches.push(run(round[1..].to_vec()).await);
        }
        phases.push(Phase {
            single: median(singles),
            batch: median(batches),
            calls: calls.take(),
            events: events.len(),
            invocations: 2 * ROUNDS,
        });
    }

    // Phase 3: every event of the night delivered again, in batches of ten.
    let mut night = Vec::new();
    for rp in &rps {
        for kind in [
            "Backup Job State Change",
            "Recovery Point State Change",
            "Copy Job State Change",
        ] {
            night.extend(org.events(&org.source, SOURCE_REGION, kind, rp).await);
        }
    }
    for chunk in night.chunks(BATCH) {
        run(chunk.to_vec()).await;
    }
    let redelivered_calls = calls.take().values().sum();
    let dead_lettered = dlq.0.lock().unwrap().len();
    Run {
        phases,
        rps,
        night: night.len(),
        redelivered_calls,
        dead_lettered,
    }
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if std::env::var("CROSSVAULT_TESTBED_URL").is_err() {
        println!(
            "events bench: skipped, CROSSVAULT_TESTBED_URL is not set (scripts/bench starts the test bed)"
        );
        return;
    }
    let wall = Instant::now();
    let org = Org::create().await;
    let runs = [
        (
            "the test bed as it is",
            run_paths(&org, "raw", Duration::ZERO).await,
        ),
        (
            "+25 ms per call (an AWS-like round trip)",
            run_paths(&org, "rtt", LATENCY).await,
        ),
    ];

    println!("crossvault events bench: SQS batches through Handler::handle against the test bed");
    println!(
        "{:<44} {:<30} {:>10} {:>12} {:>7} {:>7}",
        "calls", "path", "one event", "batch of 10", "ratio", "target"
    );
    for (label, run) in &runs {
        for (name, p) in ["new backup → first hop", "copy completed → shortening"]
            .iter()
            .zip(&run.phases)
        {
            let ratio = p.batch.as_secs_f64() / p.single.as_secs_f64();
            println!(
                "{label:<44} {name:<30} {:>10} {:>12} {ratio:>6.2}× {:>7}",
                ms(p.single),
                ms(p.batch),
                "<= 3×"
            );
        }
    }
    let (_, raw) = &runs[0];
    println!();
    println!(
        "API calls per event (every attempt, by operation; target: a shortening <= 3 + the verification's ListCopyJobs)"
    );
    for (name, p) in ["new backup → first hop", "copy completed → shortening"]
        .iter()
        .zip(&raw.phases)
    {
        let per: Vec<String> = p
            .calls
            .iter()
            .map(|(op, n)| format!("{op} {:.2}", *n as f64 / p.events as f64))
            .collect();
        let total: usize = p.calls.values().sum();
        println!(
            "  {name}: {:.2} ({}) over {} events in {} invocations",
            total as f64 / p.events as f64,
            per.join(", "),
            p.events,
            p.invocations
        );
    }
    println!(
        "  the night delivered again: {:.2} per event ({} events)",
        raw.redelivered_calls as f64 / raw.night as f64,
        raw.night
    );

    // The outcome of both runs, read back.
    let mut copies = 0;
    let mut duplicates = 0;
    let mut lost = 0;
    let mut short = 0;
    let mut backups = 0;
    for (_, run) in &runs {
        for rp in &run.rps {
            backups += 1;
            let mut destinations: Vec<String> = org
                .copy_jobs(rp)
                .await
                .iter()
                .filter_map(|j| j.destination_backup_vault_arn.clone())
                .collect();
            copies += destinations.len();
            destinations.sort();
            let n = destinations.len();
            destinations.dedup();
            duplicates += n - destinations.len();
            let (delete, _) = org.lifecycle_of(rp).await;
            if delete == Some(7) {
                short += 1;
            }
            if destinations != [org.central(BACKUP_REGION)] || delete != Some(7) {
                lost += 1;
            }
        }
    }
    let events_in: usize = runs
        .iter()
        .map(|(_, r)| r.phases.iter().map(|p| p.events).sum::<usize>() + r.night)
        .sum();
    let dead_lettered: usize = runs.iter().map(|(_, r)| r.dead_lettered).sum();
    println!();
    println!(
        "both runs: {events_in} events in, {backups} backups, {copies} copies made, {short} shortenings, \
         {duplicates} duplicate copy jobs, {lost} lost, {dead_lettered} dead-lettered, wall time {:.1} s",
        wall.elapsed().as_secs_f64()
    );
}
