//! `crossvault explain`: the plan for each shared fixture, computed from the template evaluated
//! for the event's account and region, printed without any AWS call.

use std::process::{Command, Output};

use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/events");

/// A config file of its own per call: tests run in parallel, and a shared file could be read
/// while another test rewrites it.
fn config_file() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("crossvault-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("crossvault-{n}.yaml"));
    std::fs::write(
        &path,
        "parameters:\n  BackupAccountId: \"222222222222\"\n  BackupRegion: eu-central-1\n  \
         BackupRegionAlternate: eu-west-1\n  PreProdAccountIds: [\"333333333333\"]\n  \
         ManagementAccountId: \"999999999999\"\n  ArtifactBucketPrefix: crossvault-artifacts\n  \
         ArtifactKey: crossvault/bootstrap-arm64-0000.zip\n",
    )
    .unwrap();
    path
}

fn explain(fixture: &str, extra: &[&str]) -> Output {
    let config = config_file();
    Command::new(env!("CARGO_BIN_EXE_crossvault"))
        .arg("explain")
        .arg(format!("{FIXTURES}/{fixture}"))
        .arg("--config")
        .arg(&config)
        .args(extra)
        // Any AWS call would fail against a closed port.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn plan_created_rds_backup_copies_to_the_backup_region() {
    insta::assert_snapshot!(text(&explain("backup-job-completed-plan-rds.json", &[])));
}

#[test]
fn completed_copy_depends_on_the_pre_prod_tag_and_shows_both_plans() {
    let out = text(&explain("copy-job-completed-to-backup-account.json", &[]));
    assert!(
        out.contains(
            "if arn:aws:rds:eu-west-1:111111111111:db:orders carries the tag CopyToPreProd=true:"
        ),
        "{out}"
    );
    assert!(out.contains("otherwise:"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn a_given_tag_picks_one_plan_as_json() {
    let out = explain(
        "copy-job-completed-to-backup-account.json",
        &["--tag", "CopyToPreProd=true", "-o", "json"],
    );
    let v: Value = serde_json::from_str(&text(&out)).unwrap();
    assert_eq!(v["role"], "source");
    let branches = v["branches"].as_array().unwrap();
    assert_eq!(branches.len(), 1);
    assert!(branches[0]["when"].is_null());
    let actions = branches[0]["plan"]["actions"].as_array().unwrap();
    let kinds: Vec<_> = actions
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"start_copy_job"), "{kinds:?}");
    let copy = actions
        .iter()
        .find(|a| a["action"] == "start_copy_job")
        .unwrap();
    assert_eq!(
        copy["destination_vault_arn"],
        "arn:aws:backup:eu-west-1:333333333333:backup-vault:crossvault"
    );
}

#[test]
fn failed_copy_notifies() {
    insta::assert_snapshot!(text(&explain("copy-job-failed.json", &[])));
}

/// A pre-prod stack with restores on, a masking hook and a DB subnet group.
const RESTORES_ON: &[&str] = &[
    "-p",
    "RestoreOnArrival=true",
    "-p",
    "RestoreMaskingHook=crossvault-mask",
    "-p",
    "RestoreDBSubnetGroupName=preprod-db",
];

#[test]
fn a_preprod_arrival_is_ignored_while_restores_are_off() {
    let out = text(&explain("recovery-point-arrived-preprod.json", &[]));
    assert!(
        out.contains("restores are off (RestoreOnArrival = false)"),
        "{out}"
    );
    assert!(!out.contains("start restore job"), "{out}");
}

#[test]
fn a_preprod_arrival_of_the_tagged_database_starts_one_restore() {
    let out = text(&explain("recovery-point-arrived-preprod.json", RESTORES_ON));
    assert!(out.contains("start restore job (RDS, attempt 1)"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn crossvaults_completed_restore_is_tagged_notified_and_masked() {
    insta::assert_snapshot!(text(&explain(
        "restore-job-completed-crossvault.json",
        RESTORES_ON
    )));
}

#[test]
fn not_a_backup_event_is_a_usage_error() {
    let dir = std::env::temp_dir().join(format!("crossvault-explain-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("e.json");
    std::fs::write(&file, r#"{"detail-type": "Copy Job State Change", "source": "aws.backup", "detail": {"state": 7}}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crossvault"))
        .args([
            "explain",
            file.to_str().unwrap(),
            "-p",
            "BackupAccountId=222222222222",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an AWS Backup event"), "{err}");
}

#[test]
fn parameters_cloudformation_would_refuse_are_refused() {
    let out = explain(
        "backup-job-completed-plan-rds.json",
        &["-p", "PreProdAccountIds=333333333333,222222222222"],
    );
    assert_eq!(out.status.code(), Some(2));
    // miette wraps long lines behind a "│" margin: compare the words.
    let err = String::from_utf8_lossy(&out.stderr).replace('│', " ");
    let err = err.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        err.contains("CloudFormation would refuse these parameters"),
        "{err}"
    );
    assert!(
        err.contains(
            "PreProdIsNotTheBackupAccount: PreProdAccountIds must not include BackupAccountId"
        ),
        "{err}"
    );
}

/// `ArtifactBucketPrefix` and `ArtifactKey` only say where the code is: no decision depends on
/// them, so explain does not ask for them. `BackupAccountId` decides where copies go: asked for.
#[test]
fn explain_asks_only_for_the_parameters_a_decision_depends_on() {
    let dir = std::env::temp_dir().join(format!("crossvault-explain-min-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("crossvault.config.yaml");
    std::fs::write(
        &config,
        "parameters:\n  BackupAccountId: \"222222222222\"\n  BackupRegion: eu-central-1\n  \
         BackupRegionAlternate: eu-west-1\n  PreProdAccountIds: [\"333333333333\"]\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_crossvault"))
            .arg("explain")
            .arg(format!("{FIXTURES}/backup-job-completed-plan-rds.json"))
            .args(extra)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .output()
            .unwrap()
    };
    let with_full = text(&explain("backup-job-completed-plan-rds.json", &[]));
    let without_artifact = text(&run(&["--config", config.to_str().unwrap()]));
    assert_eq!(
        without_artifact, with_full,
        "the artifact parameters change nothing"
    );

    let out = run(&[
        "-p",
        "BackupRegion=eu-central-1",
        "-p",
        "BackupRegionAlternate=eu-west-1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).replace('│', " ");
    let err = err.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        err.contains("the plan depends on BackupAccountId, which has no default"),
        "{err}"
    );
    assert!(!err.contains("ArtifactKey"), "{err}");
}

/// The StackSet commands' config file serves explain as it is.
#[test]
fn explain_reads_the_full_stack_set_config_file() {
    let dir = std::env::temp_dir().join(format!("crossvault-explain-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("crossvault.config.yaml");
    std::fs::write(
        &config,
        "stack_set_name: crossvault\npermission_model: service-managed\n\
         organizational_unit_ids: [r-abcd]\nregions: [eu-west-1, eu-central-1]\n\
         artifact_bucket_prefix: crossvault-artifacts\noperation_preferences:\n  \
         max_concurrent_percentage: 50\nparameters:\n  BackupAccountId: \"222222222222\"\n  \
         BackupRegion: eu-central-1\n  BackupRegionAlternate: eu-west-1\n  \
         PreProdAccountIds: [\"333333333333\"]\n  ManagementAccountId: \"999999999999\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crossvault"))
        .arg("explain")
        .arg(format!("{FIXTURES}/backup-job-completed-plan-rds.json"))
        .arg("--config")
        .arg(&config)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(
        text(&out),
        text(&explain("backup-job-completed-plan-rds.json", &[]))
    );
}
