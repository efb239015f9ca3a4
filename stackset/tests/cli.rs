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
