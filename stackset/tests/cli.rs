//! The `crossvault` binary as a user runs it: arguments in, exact output and exit code out.

use std::process::{Command, Output};

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn crossvault(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crossvault"))
        .args(args)
        // Any AWS call would go to a closed port and fail: proves a command made none.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("CROSSVAULT_LOG_LEVEL", "error")
        .output()
        .expect("the crossvault binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("crossvault-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn build_packages_a_given_binary_as_text_and_json() {
    let dir = temp_dir("build");
    let bin = dir.join("bootstrap");
    std::fs::write(&bin, b"\x7fELF crossvault test binary").unwrap();
    let out_dir = dir.join("out");
    let args = [
        "build",
        "--binary",
        bin.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "-q",
    ];

    let text = crossvault(&args);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let shown = stdout(&text).replace(dir.to_str().unwrap(), "<tmp>");
    insta::assert_snapshot!("build_text", shown);

    let mut json_args = args.to_vec();
    json_args.extend(["--output", "json"]);
    let json_out = crossvault(&json_args);
    let v: Value = serde_json::from_str(&stdout(&json_out)).unwrap();
    assert_eq!(v["architecture"], "arm64");
    assert_eq!(v["compiled"], false);
    let sha = v["sha256"].as_str().unwrap();
    assert_eq!(v["s3_key"], format!("crossvault/bootstrap-arm64-{sha}.zip"));
    let zip_bytes = std::fs::read(out_dir.join("bootstrap.zip")).unwrap();
    assert_eq!(v["zip_bytes"], zip_bytes.len());
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&zip_bytes)),
        sha,
        "printed digest is the file's"
    );
}

#[test]
fn usage_errors_exit_2_with_help() {
    let missing = crossvault(&["invoke", "--event", "/nonexistent/event.json"]);
    assert_eq!(missing.status.code(), Some(2));
    let err = stderr(&missing);
    assert!(err.contains("cannot read /nonexistent/event.json"), "{err}");
    assert!(err.contains("check the path and its permissions"), "{err}");

    let unknown = crossvault(&["deploy-everything"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("unrecognized subcommand"),
        "{}",
        stderr(&unknown)
    );

    let dir = temp_dir("badjson");
    let file = dir.join("e.json");
    std::fs::write(&file, "{not json").unwrap();
    let bad = crossvault(&["invoke", "--event", file.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("is not valid JSON"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn invoke_rejects_an_unrecognised_event_with_exit_1() {
    let dir = temp_dir("unknown");
    let file = dir.join("e.json");
    std::fs::write(&file, r#"{"hello": "world"}"#).unwrap();
    let out = crossvault(&["invoke", "--event", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unrecognised event"),
        "{}",
        stderr(&out)
    );
}

/// A rollback Delete of a failed Create goes through the real handler and answers the real
/// HTTP server, with no AWS call (the AWS endpoint is a closed port).
#[tokio::test(flavor = "multi_thread")]
async fn invoke_answers_a_custom_resource_request_over_http() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/cfn/delete-after-failed-create.json"
    );
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    event["ResponseURL"] = json!(format!("{}/cfn-response", server.uri()));
    let dir = temp_dir("invoke");
    let file = dir.join("e.json");
    std::fs::write(&file, event.to_string()).unwrap();

    let file_arg = file.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        crossvault(&["invoke", "--event", &file_arg, "-o", "json"])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["event_kind"], "CustomResource");
    assert_eq!(report["result"]["status"], "SUCCESS");
    assert_eq!(report["result"]["delivered"], true);
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        body["PhysicalResourceId"],
        "crossvault:create-failed:VaultLock"
    );
    assert_eq!(body["Status"], "SUCCESS");
}

/// Words of an error report, without miette's wrapping and frame.
fn flat(text: &str) -> String {
    text.replace(['│', '×', '╰', '─', '▶'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn crossvault_in(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crossvault"))
        .args(args)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("NO_COLOR")
        .output()
        .expect("the crossvault binary runs")
}

/// Help piped into a file or a pager carries no ANSI escapes, goes to stdout, exits 0.
#[test]
fn help_off_a_terminal_has_no_ansi_escapes() {
    for args in [
        &["--help"][..],
        &["deploy", "--help"],
        &["help", "plan"],
        &["--version"],
    ] {
        let out = crossvault(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let text = stdout(&out);
        assert!(!text.is_empty(), "{args:?}: help goes to stdout");
        assert!(
            !text.contains('\u{1b}'),
            "{args:?} printed ANSI escapes: {text:?}"
        );
    }
    let help = stdout(&crossvault(&["--help"]));
    for command in [
        "init", "build", "publish", "plan", "deploy", "status", "destroy", "package", "invoke",
        "explain",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "{command} missing from --help"
        );
    }
    assert!(help.contains("Exit codes: 0 success; 1 the operation failed; 2 usage or input error"));
    // A usage error on a pipe: no escapes either.
    let bad = crossvault(&["deploy", "--timeout", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(!stderr(&bad).contains('\u{1b}'), "{}", stderr(&bad));
}

/// A config typo: file, line, key and the keys that exist; nothing attempted (exit 2, no AWS
/// call: the endpoint is a closed port).
#[test]
fn config_errors_name_file_line_key_and_the_keys_that_exist() {
    let dir = temp_dir("config-typo");
    std::fs::write(
        dir.join("crossvault.config.yaml"),
        "stack_set_name: crossvault\npermission_model: service-managed\norganizational_unit_ids: [r-abcd]\nregoins: [eu-west-1]\n",
    )
    .unwrap();
    let out = crossvault_in(&dir, &["plan"]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("config_unknown_key", stderr(&out));

    std::fs::write(
        dir.join("crossvault.config.yaml"),
        "permission_model: self-managed\naccounts: [\"111111111111\"]\nregions: eu-west-1\n",
    )
    .unwrap();
    let out = crossvault_in(&dir, &["plan"]);
    assert_eq!(out.status.code(), Some(2));
    let err = flat(&stderr(&out));
    assert!(
        err.contains("crossvault.config.yaml:3: key `regions`: invalid type: string \"eu-west-1\""),
        "{err}"
    );
    assert!(err.contains("`regions` takes a sequence"), "{err}");
}

fn write_config(dir: &std::path::Path, parameters: &str) {
    std::fs::write(dir.join("bootstrap.zip"), b"PK\x05\x06 not really a zip").unwrap();
    std::fs::write(
        dir.join("crossvault.config.yaml"),
        format!(
            "permission_model: service-managed\norganizational_unit_ids: [r-abcd]\n\
             regions: [eu-west-1, eu-central-1]\nartifact_bucket_prefix: crossvault-artifacts\n\
             artifact: bootstrap.zip\nparameters:\n{parameters}"
        ),
    )
    .unwrap();
}

/// Parameters are checked the way CloudFormation will, before any AWS call: names (with a
/// suggestion), patterns, ranges.
#[test]
fn parameters_are_checked_before_anything_is_published() {
    let dir = temp_dir("params");
    write_config(
        &dir,
        "  BackupAcountId: \"222222222222\"\n  BackupRegion: eu-central-1\n  BackupRegionAlternate: eu-west-1\n",
    );
    let out = crossvault_in(&dir, &["deploy"]);
    assert_eq!(out.status.code(), Some(2));
    let err = flat(&stderr(&out));
    assert!(
        err.contains("crossvault.config.yaml:7: key `BackupAcountId`: the template declares no parameter BackupAcountId"),
        "{err}"
    );
    assert!(
        err.contains("7 BackupAcountId: \"222222222222\""),
        "the line is shown: {err}"
    );
    assert!(
        err.contains("help: did you mean BackupAccountId? the template's parameters: "),
        "{err}"
    );

    write_config(
        &dir,
        "  BackupAccountId: 22222222222\n  BackupRegion: eu-central-1\n  BackupRegionAlternate: eu-west-1\n",
    );
    let out = crossvault_in(&dir, &["plan"]);
    assert_eq!(out.status.code(), Some(2));
    let err = flat(&stderr(&out));
    assert!(
        err.contains("crossvault.config.yaml:7: key `BackupAccountId`: \"22222222222\" does not match the template's pattern ^\\d{12}$ (an account id written without quotes loses its leading zeros)"),
        "{err}"
    );
    assert!(
        err.contains("BackupAccountId must be a 12-digit AWS account ID."),
        "{err}"
    );

    write_config(
        &dir,
        "  BackupAccountId: \"222222222222\"\n  BackupRegion: eu-central-1\n  BackupRegionAlternate: eu-west-1\n  CopyDeleteAfterDays: 0\n",
    );
    let out = crossvault_in(&dir, &["plan", "-p", "NewDeleteAfterDays=many"]);
    assert_eq!(out.status.code(), Some(2));
    let err = flat(&stderr(&out));
    assert!(err.contains("0 is outside 1..36500"), "{err}");

    write_config(
        &dir,
        "  BackupAccountId: \"222222222222\"\n  BackupRegion: eu-central-1\n  BackupRegionAlternate: eu-west-1\n",
    );
    let out = crossvault_in(&dir, &["plan", "-p", "NewDeleteAfterDays=many"]);
    assert_eq!(out.status.code(), Some(2));
    let err = flat(&stderr(&out));
    assert!(
        err.contains("-p NewDeleteAfterDays=...: \"many\" is not a number"),
        "{err}"
    );
}

#[test]
fn deploy_without_the_handler_zip_says_how_to_build_it() {
    let dir = temp_dir("nozip");
    write_config(
        &dir,
        "  BackupAccountId: \"222222222222\"\n  BackupRegion: eu-central-1\n  BackupRegionAlternate: eu-west-1\n",
    );
    std::fs::remove_file(dir.join("bootstrap.zip")).unwrap();
    let out = crossvault_in(&dir, &["deploy"]);
    assert_eq!(out.status.code(), Some(2));
    let err = flat(&stderr(&out));
    assert!(
        err.contains("cannot read the handler zip bootstrap.zip"),
        "{err}"
    );
    assert!(err.contains("crossvault build"), "{err}");
}

#[test]
fn init_never_overwrites_an_existing_config_file() {
    let dir = temp_dir("init-exists");
    std::fs::write(dir.join("crossvault.config.yaml"), "# mine\n").unwrap();
    let out = crossvault_in(&dir, &["init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        flat(&stderr(&out))
            .contains("crossvault.config.yaml exists; init never overwrites a config file")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("crossvault.config.yaml")).unwrap(),
        "# mine\n"
    );
}
