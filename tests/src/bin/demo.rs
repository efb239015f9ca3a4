//! The crossvault demo: an emulated organization on the local test bed, crossvault deployed
//! into it with `crossvault deploy`, one night of backups and the morning's story, account by
//! account and region by region; then the next night of the tagged production database, whose
//! pre-prod refresh replaces the first night's restore. Exits 1 when the story is not what
//! crossvault promises.
//!
//! Run it with `scripts/demo` (starts and stops a test bed of its own), or against a running
//! test bed: `CROSSVAULT_TESTBED_URL=http://127.0.0.1:5123 cargo run -p crossvault-tests --bin demo`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use crossvault_tests::install::Overrides;
use crossvault_tests::org::{BACKUP_REGION, Org, OrgIds, PRIMARY_REGION};
use crossvault_tests::refresh::{self, SlackStandIn};
use crossvault_tests::runner::{self, BackupSpec};
use crossvault_tests::{Result, story};

/// The pre-prod account's masking hook: an SSM Automation document its owner wrote.
const MASKING_DOCUMENT: &str = "crossvault-demo-mask";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("\ndemo: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<bool> {
    let started = Instant::now();
    let url = crossvault_tests::testbed_url()?;
    println!("crossvault demo: two nights of AWS Backup in an emulated AWS Organization");
    println!("test bed: {url}\n");
    println!("{}\n", story::DEPLOYED_EMULATION_NOTE);

    // The README's account ids on a fresh test bed; fresh ids when this one already has them.
    let mut org = Org::create(&url, OrgIds::contract()).await?;
    let used = org
        .backup(&org.ids.sources[0], PRIMARY_REGION)
        .await?
        .list_backup_vaults()
        .send()
        .await
        .map(|v| !v.backup_vault_list().is_empty())
        .unwrap_or(false);
    if used {
        println!("(this test bed already holds the README's accounts; using fresh account ids)\n");
        org = Org::create(&url, OrgIds::unique("demo")).await?;
    }
    let ids = org.ids.clone();
    println!(
        "Organization {}: management {}, backup {}, pre-prod {}, sources {}\n",
        org.organization.organization_id,
        ids.management,
        ids.backup,
        ids.preprod,
        ids.sources.join(", ")
    );

    // The pre-prod refresh needs what only the pre-prod account's owner can provide.
    let slack = SlackStandIn::start().await;
    refresh::prepare(&mut org, MASKING_DOCUMENT, Some(&slack.url())).await?;
    println!(
        "The pre-prod account {} as its owner prepares it for the refresh (crossvault creates none of this), in both regions:",
        ids.preprod
    );
    println!(
        "  DB subnet group {}; masking hook: SSM Automation document {MASKING_DOCUMENT} (here one step that takes a second; in a real account, the SQL that scrubs personal data)",
        refresh::SUBNET_GROUP
    );
    println!(
        "  Slack webhook URL in the SecureString {} (Slack is a local stand-in at {}; the URL is never logged)",
        refresh::SLACK_PARAMETER,
        slack.url().split("/services/").next().unwrap_or_default()
    );
    println!(
        "  StackSet parameters for the refresh: {}\n",
        [
            "RestoreOnArrival",
            "RestoreMaskingHook",
            "RestoreDBSubnetGroupName",
            "RestoreSecurityGroupIds",
            "SlackWebhookParameter",
        ]
        .iter()
        .filter_map(|k| Some(format!("{k}={}", org.params.get(*k)?)))
        .collect::<Vec<_>>()
        .join(" ")
    );

    // `--foreign-central-policy`: the central vaults admit another organization only, to show
    // a broken promise (copies FAIL, are reported, originals keep their retention; exit 1).
    let foreign = std::env::args().any(|a| a == "--foreign-central-policy");
    println!("Deploying crossvault with `crossvault deploy` (the harness plays only the Lambda):");
    let overrides = Overrides {
        central_vault_org_id: foreign.then(|| "o-someoneelse1".to_owned()),
    };
    print!("{}", org.deploy_with(&overrides).await?.summary(&overrides));
    let installed = started.elapsed();

    let (a, b) = (ids.sources[0].clone(), ids.sources[1].clone());
    let specs = [
        BackupSpec::rds(&a, PRIMARY_REGION, "orders").tagged("CopyToPreProd", "true"),
        BackupSpec::rds(&a, BACKUP_REGION, "billing"),
        BackupSpec::rds(&b, PRIMARY_REGION, "catalog"),
        BackupSpec::rds(&b, BACKUP_REGION, "ledger").tagged("CopyToPreProd", "true"),
        BackupSpec {
            delete_after_days: 90,
            ..BackupSpec::rds(&b, PRIMARY_REGION, "archive")
        },
    ];
    println!(
        "\nThe night: {} backup jobs (StartBackupJob, on demand)",
        specs.len()
    );
    for s in &specs {
        let tags: Vec<String> = s.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "  {} {:<13} RDS {:<8} DeleteAfterDays {}{}",
            s.account,
            s.region,
            s.db_instance,
            s.delete_after_days,
            if tags.is_empty() {
                String::new()
            } else {
                format!("  tags {}", tags.join(","))
            }
        );
    }
    let clock_before = org.clock.offset();
    let night = runner::night(&org, &specs).await?;
    let night_time = org.clock.offset() - clock_before;
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &night.deliveries {
        *by_type.entry(d.detail_type.as_str()).or_default() += 1;
    }
    println!(
        "Handler (Lambda's SQS event source mapping into Handler::handle): {} events delivered from crossvault's queues in {} rounds ({}), {} not handled on first delivery, {} dead-lettered",
        night.deliveries.len(),
        night.rounds,
        by_type
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
        night.failures().len(),
        night.dead_letters.len()
    );
    println!(
        "Jobs took their time: the organization's clock moved {} times, {} minutes of emulated AWS time",
        night.clock_moves,
        night_time.num_minutes()
    );

    let outcome = story::collect(&org).await?;
    println!("\nThe morning after, account by account, region by region:");
    print!("{}", story::render(&org, &night, &outcome));

    let now = org.now().await?;
    let mut broken = story::check(&org, &night, now, &outcome);
    let mut promises = story::promises(&org, &night, now, &outcome);

    // The next night: the tagged production database is backed up again; its new copy is
    // restored, masked and promoted, and the first night's restore is deleted.
    let orders = night
        .backups
        .iter()
        .find(|b| b.spec == specs[0])
        .ok_or_else(|| crossvault_tests::err("the night has no backup of orders"))?;
    println!(
        "\nThe next night: {} backed up again by its backup plan; pre-prod {} the morning after:",
        orders.resource_arn, ids.preprod
    );
    let next = refresh::next_night(&org, &specs[0], &orders.resource_arn).await?;
    println!(
        "Handler: {} events delivered, {} not handled on first delivery, {} dead-lettered",
        next.deliveries.len(),
        next.failures().len(),
        next.dead_letters.len()
    );
    let after = story::collect(&org).await?;
    print!(
        "{}",
        story::render_accounts(&org, &next, &after, std::slice::from_ref(&ids.preprod))
    );
    let now = org.now().await?;
    broken.extend(story::check(&org, &next, now, &after));
    promises.extend(story::promises(&org, &next, now, &after));
    // Each backup of a database with the pre-prod tag is one refresh.
    let refreshed = night
        .backups
        .iter()
        .chain(&next.backups)
        .filter(|b| {
            b.spec
                .tags
                .iter()
                .any(|(k, v)| k == "CopyToPreProd" && v == "true")
        })
        .count();

    let texts = slack.texts().await;
    println!(
        "\nSlack (the local stand-in) received {} message(s), the same as the topic's subscribers:",
        texts.len()
    );
    for t in &texts {
        println!("  {}", t.lines().next().unwrap_or_default());
    }
    if texts.iter().any(|t| t.contains(refresh::SLACK_PATH)) {
        broken.push("a Slack message contains the webhook URL".into());
    }

    println!(
        "\nTimings: setup and install {:.1} s, nights and story {:.1} s",
        installed.as_secs_f64(),
        (started.elapsed() - installed).as_secs_f64()
    );
    if broken.is_empty() {
        println!(
            "\nOK: every promise kept ({} originals: each copy in place with its lifecycle, originals shortened as the rules say, copies untouched in backup and pre-prod; {refreshed} pre-prod refreshes: each restore masked before it was promoted to its stable address, the superseded restore deleted)",
            promises.len()
        );
        Ok(true)
    } else {
        println!("\nBROKEN PROMISES ({}):", broken.len());
        for b in &broken {
            println!("  - {b}");
        }
        Ok(false)
    }
}
