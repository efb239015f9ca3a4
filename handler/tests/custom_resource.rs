//! The custom-resource engine against a real local HTTP server standing in for the presigned S3
//! response URL: every answer is an actual PUT whose method, headers, body and size are checked.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_backup::operation::describe_region_settings::DescribeRegionSettingsOutput;
use aws_sdk_backup::operation::update_region_settings::UpdateRegionSettingsOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use crossvault_handler::InvocationContext;
use crossvault_handler::custom_resource::{
    DeliveryPolicy, Engine, EngineError, EngineOptions, OpResult, Outcome, Request, ResourceError,
    ResourceKind,
};
use crossvault_handler::resources::region_settings::RegionSettings;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A resource kind whose behaviour the test chooses.
#[derive(Default)]
struct Scripted {
    calls: AtomicUsize,
}

impl Scripted {
    async fn run(&self, req: &Request) -> Result<Outcome, ResourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let props = req.props();
        match props.optional_string("Behaviour")?.as_deref() {
            Some("sleep") => {
                tokio::time::sleep(Duration::from_secs(600)).await;
                Ok(Outcome::default())
            }
            Some("panic") => panic!("boom in the resource kind"),
            Some("secret") => Ok(Outcome {
                data: serde_json::Map::from_iter([("Token".into(), json!("s3cr3t-value"))]),
                no_echo: true,
                note: None,
            }),
            Some("big-data") => Ok(Outcome {
                data: serde_json::Map::from_iter([("Blob".into(), json!("z".repeat(5000)))]),
                ..Outcome::default()
            }),
            Some("long-error") => Err(ResourceError::Aws(format!(
                "START {} END",
                "w".repeat(9000)
            ))),
            _ => Ok(Outcome {
                data: serde_json::Map::from_iter([("Days".into(), json!(props.u32("Days")?))]),
                ..Outcome::default()
            }),
        }
    }
}

impl ResourceKind for Scripted {
    fn resource_type(&self) -> &'static str {
        "Custom::Scripted"
    }
    fn id_name(&self) -> &'static str {
        "scripted"
    }
    fn id_key(
        &self,
        props: &crossvault_handler::custom_resource::Properties<'_>,
    ) -> Result<Option<String>, ResourceError> {
        Ok(props.optional_string("Name")?)
    }
    fn create<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(self.run(req))
    }
    fn update<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(self.run(req))
    }
    fn delete<'a>(&'a self, req: &'a Request) -> OpResult<'a> {
        Box::pin(self.run(req))
    }
}

fn fast_options() -> EngineOptions {
    EngineOptions {
        response_reserve: Duration::from_millis(800),
        delivery: DeliveryPolicy {
            attempt_timeout: Duration::from_millis(500),
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        },
    }
}

fn engine_with(kind: Arc<dyn ResourceKind>) -> Engine {
    Engine::new(crossvault_handler::runtime::http_client(), fast_options()).register(kind)
}

fn request(server: &MockServer, request_type: &str, props: Value) -> Value {
    json!({
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:eu-west-1:111111111111:function:crossvault-handler",
        "ResponseURL": format!("{}/response?X-Amz-Signature=abc", server.uri()),
        "StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/crossvault/5b1c",
        "RequestId": "req-1",
        "LogicalResourceId": "Thing",
        "ResourceType": "Custom::Scripted",
        "ResourceProperties": props,
    })
}

async fn accepting_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/response"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// The single PUT the server received, checked for what S3's presigned URL demands.
async fn the_answer(server: &MockServer) -> Value {
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1, "exactly one answer");
    checked_body(&received[0])
}

fn checked_body(r: &wiremock::Request) -> Value {
    assert_eq!(r.method.as_str(), "PUT");
    assert_eq!(
        r.url.query(),
        Some("X-Amz-Signature=abc"),
        "presigned query kept"
    );
    let content_type = r.headers.get("content-type").map(|v| v.to_str().unwrap());
    assert_eq!(content_type, Some(""), "Content-Type must be sent empty");
    let length: usize = r.headers["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, r.body.len());
    assert!(r.body.len() <= 4096, "body is {} bytes", r.body.len());
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body["StackId"],
        "arn:aws:cloudformation:eu-west-1:111111111111:stack/crossvault/5b1c"
    );
    assert_eq!(body["RequestId"], "req-1");
    assert_eq!(body["LogicalResourceId"], "Thing");
    body
}

fn ctx(secs: u64) -> InvocationContext {
    InvocationContext {
        request_id: "inv-1".into(),
        deadline: tokio::time::Instant::now() + Duration::from_secs(secs),
        log_group: "/aws/lambda/crossvault".into(),
        log_stream: "2026/11/22/[$LATEST]abc".into(),
    }
}

#[tokio::test]
async fn create_answers_success_with_a_deterministic_id_and_typed_data() {
    let server = accepting_server().await;
    let kind = Arc::new(Scripted::default());
    let engine = engine_with(kind.clone());
    let answer = engine
        .handle(
            &request(
                &server,
                "Create",
                json!({"Name": "crossvault", "Days": "7"}),
            ),
            &ctx(30),
        )
        .await
        .unwrap();
    assert!(answer.delivered);
    let body = the_answer(&server).await;
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(
        body["PhysicalResourceId"],
        "crossvault:scripted:111111111111:eu-west-1:crossvault"
    );
    assert_eq!(
        body["Data"],
        json!({"Days": 7}),
        "\"7\" arrives as a string and is parsed"
    );
    assert!(body.get("Reason").is_none());
}

#[tokio::test]
async fn a_bad_property_fails_with_a_reason_naming_it() {
    let server = accepting_server().await;
    let engine = engine_with(Arc::new(Scripted::default()));
    engine
        .handle(
            &request(&server, "Create", json!({"Days": "seven"})),
            &ctx(30),
        )
        .await
        .unwrap();
    let body = the_answer(&server).await;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(
        body["Reason"],
        "property Days: expected a whole number, got \"seven\""
    );
    assert_eq!(body["PhysicalResourceId"], "crossvault:create-failed:Thing");
}

#[tokio::test]
async fn the_rollback_delete_of_a_failed_create_touches_nothing() {
    let server = accepting_server().await;
    let kind = Arc::new(Scripted::default());
    let engine = engine_with(kind.clone());
    let mut req = request(&server, "Delete", json!({"Days": "seven"}));
    req["PhysicalResourceId"] = json!("crossvault:create-failed:Thing");
    engine.handle(&req, &ctx(30)).await.unwrap();
    let body = the_answer(&server).await;
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["PhysicalResourceId"], "crossvault:create-failed:Thing");
    assert_eq!(
        kind.calls.load(Ordering::SeqCst),
        0,
        "the kind was never called"
    );
}

#[tokio::test]
async fn update_with_the_same_key_keeps_the_id_and_a_new_key_replaces() {
    let kind = Arc::new(Scripted::default());
    let engine = engine_with(kind.clone());
    for (name, expected) in [
        (
            "crossvault",
            "crossvault:scripted:111111111111:eu-west-1:crossvault",
        ),
        ("other", "crossvault:scripted:111111111111:eu-west-1:other"),
    ] {
        let server = accepting_server().await;
        let mut req = request(&server, "Update", json!({"Name": name, "Days": "9"}));
        req["PhysicalResourceId"] = json!("crossvault:scripted:111111111111:eu-west-1:crossvault");
        req["OldResourceProperties"] = json!({"Name": "crossvault", "Days": "7"});
        engine.handle(&req, &ctx(30)).await.unwrap();
        let body = the_answer(&server).await;
        assert_eq!(body["Status"], "SUCCESS");
        assert_eq!(body["PhysicalResourceId"], expected);
    }
}

#[tokio::test]
async fn delete_of_an_id_this_kind_never_issued_is_a_no_op_success() {
    let server = accepting_server().await;
    let kind = Arc::new(Scripted::default());
    let engine = engine_with(kind.clone());
    let mut req = request(&server, "Delete", json!({}));
    req["PhysicalResourceId"] = json!("2026/11/22/[$LATEST]0123456789abcdef");
    engine.handle(&req, &ctx(30)).await.unwrap();
    let body = the_answer(&server).await;
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(
        body["PhysicalResourceId"],
        "2026/11/22/[$LATEST]0123456789abcdef"
    );
    assert_eq!(kind.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn server_fails_twice_then_accepts() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500).set_body_string("InternalError"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    let engine = engine_with(Arc::new(Scripted::default()));
    let answer = engine
        .handle(&request(&server, "Create", json!({"Days": "1"})), &ctx(30))
        .await
        .unwrap();
    assert!(answer.delivered);
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 3);
    let bodies: Vec<Value> = received.iter().map(checked_body).collect();
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "the same answer is resent"
    );
    assert_eq!(bodies[0]["Status"], "SUCCESS");
}

#[tokio::test]
async fn server_always_403_gives_up_before_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(403).set_body_string("<Error><Code>AccessDenied</Code></Error>"),
        )
        .mount(&server)
        .await;
    let engine = engine_with(Arc::new(Scripted::default()));
    let started = tokio::time::Instant::now();
    let err = engine
        .handle(&request(&server, "Create", json!({"Days": "1"})), &ctx(3))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(3),
        "gave up after {elapsed:?}"
    );
    let EngineError::NotDelivered(e) = err else {
        panic!("expected NotDelivered, got {err:?}")
    };
    assert!(e.attempts >= 3, "retried: {} attempts", e.attempts);
    assert!(e.last_error.contains("403"), "{}", e.last_error);
    assert_eq!(
        server.received_requests().await.unwrap().len() as u32,
        e.attempts
    );
}

#[tokio::test]
async fn a_kind_that_overruns_the_deadline_is_answered_failed_in_time() {
    let server = accepting_server().await;
    let engine = engine_with(Arc::new(Scripted::default()));
    let started = tokio::time::Instant::now();
    engine
        .handle(
            &request(&server, "Create", json!({"Behaviour": "sleep"})),
            &ctx(2),
        )
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    let body = the_answer(&server).await;
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().unwrap();
    assert!(reason.starts_with("timed out after 1 s"), "{reason}");
    assert!(
        reason.contains("see log group /aws/lambda/crossvault stream 2026/11/22/[$LATEST]abc"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_panicking_kind_is_answered_failed() {
    let server = accepting_server().await;
    let engine = engine_with(Arc::new(Scripted::default()));
    engine
        .handle(
            &request(&server, "Update", json!({"Behaviour": "panic"})).tap_physical_id(),
            &ctx(30),
        )
        .await
        .unwrap();
    let body = the_answer(&server).await;
    assert_eq!(body["Status"], "FAILED");
    assert!(
        body["Reason"]
            .as_str()
            .unwrap()
            .contains("the Custom::Scripted handler panicked: boom in the resource kind"),
        "{}",
        body["Reason"]
    );
    assert_eq!(
        body["PhysicalResourceId"], "crossvault:scripted:111111111111:eu-west-1",
        "update keeps its id"
    );
}

#[tokio::test]
async fn malformed_envelopes() {
    let server = accepting_server().await;
    let engine = engine_with(Arc::new(Scripted::default()));
    // No ResponseURL: nothing can be answered; the error says why and no request is made.
    let mut req = request(&server, "Create", json!({}));
    req.as_object_mut().unwrap().remove("ResponseURL");
    let err = engine.handle(&req, &ctx(5)).await.unwrap_err();
    assert!(matches!(err, EngineError::Unanswerable(_)), "{err:?}");
    assert!(server.received_requests().await.unwrap().is_empty());

    // Unknown RequestType and properties of the wrong shape are answered FAILED.
    for (mutate, expected) in [
        (
            json!({"RequestType": "Upsert"}),
            "unknown RequestType \"Upsert\"; expected Create, Update or Delete",
        ),
        (
            json!({"ResourceProperties": ["a"]}),
            "ResourceProperties is a list, expected an object",
        ),
        (
            json!({"StackId": "stack"}),
            "StackId \"stack\" is not a CloudFormation stack ARN",
        ),
        (
            json!({"ResourceType": "Custom::Nope"}),
            "unsupported ResourceType \"Custom::Nope\"; this handler supports Custom::Scripted",
        ),
    ] {
        let server = accepting_server().await;
        let mut req = request(&server, "Create", json!({"Days": "1"}));
        for (k, v) in mutate.as_object().unwrap() {
            req[k] = v.clone();
        }
        engine.handle(&req, &ctx(5)).await.unwrap();
        let received = server.received_requests().await.unwrap();
        let body: Value = serde_json::from_slice(&received[0].body).unwrap();
        assert_eq!(body["Status"], "FAILED");
        assert_eq!(body["Reason"], expected);
        assert_eq!(body["PhysicalResourceId"], "crossvault:create-failed:Thing");
    }
}

#[tokio::test]
async fn oversized_answers_stay_within_4096_bytes() {
    for (behaviour, reason_part) in [
        ("big-data", "at most 4096 bytes"),
        ("long-error", "bytes cut"),
    ] {
        let server = accepting_server().await;
        let engine = engine_with(Arc::new(Scripted::default()));
        engine
            .handle(
                &request(&server, "Create", json!({"Behaviour": behaviour})),
                &ctx(30),
            )
            .await
            .unwrap();
        let body = the_answer(&server).await;
        assert_eq!(body["Status"], "FAILED");
        assert!(
            body["Reason"].as_str().unwrap().contains(reason_part),
            "{}",
            body["Reason"]
        );
    }
}

#[tokio::test]
async fn no_echo_is_honoured_and_the_secret_is_never_logged() {
    let logs = LogCapture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = accepting_server().await;
    let engine = engine_with(Arc::new(Scripted::default()));
    engine
        .handle(
            &request(&server, "Create", json!({"Behaviour": "secret"})),
            &ctx(30),
        )
        .await
        .unwrap();
    let body = the_answer(&server).await;
    assert_eq!(body["NoEcho"], true);
    assert_eq!(body["Data"]["Token"], "s3cr3t-value");
    let logged = logs.text();
    assert!(logged.contains("Data withheld: NoEcho"), "{logged}");
    assert!(
        !logged.contains("s3cr3t-value"),
        "secret leaked into logs: {logged}"
    );
}

/// Every request in tests/fixtures/cfn, through the real kinds, answered over HTTP.
#[tokio::test]
async fn shared_fixtures() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/cfn");
    let describe = mock!(aws_sdk_backup::Client::describe_region_settings).then_output(|| {
        DescribeRegionSettingsOutput::builder()
            .resource_type_opt_in_preference("RDS", true)
            .resource_type_opt_in_preference("EBS", true)
            .build()
    });
    let update = mock!(aws_sdk_backup::Client::update_region_settings)
        .match_requests(|r| {
            let opt_in = r.resource_type_opt_in_preference().unwrap();
            let mgmt = r.resource_type_management_preference().unwrap();
            // Current settings (RDS, EBS) with the wanted five types overlaid.
            opt_in.get("Aurora") == Some(&true)
                && opt_in.get("RDS") == Some(&true)
                && opt_in.len() == 5
                && mgmt.get("DynamoDB") == Some(&true)
        })
        .then_output(|| UpdateRegionSettingsOutput::builder().build());
    let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&describe, &update]);
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("tests/fixtures/cfn exists") {
        let path = entry.unwrap().path();
        let server = accepting_server().await;
        let mut req: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        req["ResponseURL"] = json!(format!("{}/response?X-Amz-Signature=abc", server.uri()));
        let engine = Engine::new(crossvault_handler::runtime::http_client(), fast_options())
            .register(Arc::new(RegionSettings::new(backup.clone())));
        engine.handle(&req, &ctx(30)).await.unwrap();
        let received = server.received_requests().await.unwrap();
        let body: Value = serde_json::from_slice(&received[0].body).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        let expected_id = match name {
            "delete-after-failed-create.json" => "crossvault:create-failed:VaultLock",
            _ => "crossvault:region-settings:111111111111:eu-west-1",
        };
        assert_eq!(body["Status"], "SUCCESS", "{name}: {body}");
        assert_eq!(body["PhysicalResourceId"], expected_id, "{name}");
        assert_eq!(body["RequestId"], req["RequestId"], "{name}");
        seen += 1;
    }
    assert_eq!(seen, 3);
    assert_eq!(
        describe.num_calls(),
        2,
        "create and update read the current settings"
    );
    assert_eq!(
        update.num_calls(),
        2,
        "create and update write the merged settings; the delete writes nothing"
    );
}

trait TapPhysicalId {
    fn tap_physical_id(self) -> Self;
}
impl TapPhysicalId for Value {
    fn tap_physical_id(mut self) -> Self {
        self["PhysicalResourceId"] = json!("crossvault:scripted:111111111111:eu-west-1");
        self
    }
}

#[derive(Clone, Default)]
struct LogCapture(Arc<std::sync::Mutex<Vec<u8>>>);
impl LogCapture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
