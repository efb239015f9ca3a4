//! The real `bootstrap` binary under a local Lambda Runtime API: the thin `main` builds the
//! handler once and serves invocations, and a custom-resource request is answered over HTTP.

#[path = "support/runtime_api.rs"]
mod runtime_api;

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_serves_invocations_from_the_runtime_api() {
    let api = runtime_api::RuntimeApi::start().await.unwrap();
    let cfn = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&cfn)
        .await;

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .envs(runtime_api::lambda_environment(&api))
        // Any AWS call would hit a closed port: this test proves none is made.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("CROSSVAULT_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // A rollback Delete of a failed Create: answered SUCCESS without touching AWS.
    let delete = json!({
        "RequestType": "Delete", "ResponseURL": format!("{}/cfn", cfn.uri()),
        "StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/crossvault/1",
        "RequestId": "r-1", "LogicalResourceId": "RegionSettings",
        "ResourceType": "Custom::BackupRegionSettings",
        "PhysicalResourceId": "crossvault:create-failed:RegionSettings",
        "ResourceProperties": {}
    });
    let id = api.invoke(delete, Duration::from_secs(30));
    let done = api
        .completion(&id, Duration::from_secs(20))
        .await
        .expect("the function answered");
    assert!(!done.is_error, "{:?}", done.body);
    assert_eq!(done.body["status"], "SUCCESS");
    assert_eq!(done.body["delivered"], true);
    let put: Value =
        serde_json::from_slice(&cfn.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(
        put["PhysicalResourceId"],
        "crossvault:create-failed:RegionSettings"
    );

    // An unrecognised event is an invocation error with a typed error name (so Lambda's
    // retry and the function's dead-letter queue keep it), and the process keeps serving.
    let id = api.invoke(json!({"hello": "world"}), Duration::from_secs(30));
    let done = api
        .completion(&id, Duration::from_secs(20))
        .await
        .expect("the function answered");
    assert!(done.is_error);
    assert_eq!(done.body["errorType"], "crossvault.UnrecognisedEvent");
    assert!(
        done.body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("hello"),
        "{}",
        done.body
    );

    assert!(api.init_error().is_none());
    child.kill().await.unwrap();
}
