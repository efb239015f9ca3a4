//! The pre-prod refresh and Slack at the AWS client boundary (aws-smithy-mocks, a real local
//! HTTP server for Slack): RDS name collisions, capacity shortages, a deletion whose tags
//! changed, and Slack timeouts — the exact calls made and which failures are retried.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_backup::operation::describe_recovery_point::DescribeRecoveryPointOutput;
use aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceOutput;
use aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput;
use aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput;
use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::types::{DbCluster, DbInstance, Endpoint, Tag as RdsTag};
use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesOutput;
use aws_sdk_resourcegroupstagging::types::{ResourceTagMapping, Tag};
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_ssm::operation::get_automation_execution::GetAutomationExecutionOutput;
use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
use aws_sdk_ssm::operation::put_parameter::PutParameterOutput;
use aws_sdk_ssm::types::{AutomationExecution, AutomationExecutionStatus, Parameter};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::DateTime;
use aws_smithy_types::body::SdkBody;
use crossvault_core::restore::resource::{
    HOOK_EXECUTION, MARKER, Provenance, RESTORED_AT, STAGE, WRITER_OF,
};
use crossvault_core::{Region, StackConfig};
use crossvault_handler::batch::EventError;
use crossvault_handler::clients::AwsClients;
use crossvault_handler::effects::ActionOutcome;
use crossvault_handler::pipeline::Pipeline;
use crossvault_handler::slack::{Slack, SlackDelivery};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const PREPROD: &str = "333333333333";
const ORDERS: &str = "arn:aws:rds:eu-west-1:111111111111:db:orders";
const RP: &str = "arn:aws:rds:eu-west-1:333333333333:cluster-snapshot:awsbackup:copyjob-1";
const CLUSTER: &str = "arn:aws:rds:eu-west-1:333333333333:cluster:ledger-a";
const TOPIC: &str = "arn:aws:sns:eu-west-1:333333333333:crossvault-notifications";

fn preprod_config(extra: &[(&str, &str)]) -> StackConfig {
    let mut vars: Vec<(&str, &str)> = vec![
        ("CROSSVAULT_ROLE", "preprod"),
        ("CROSSVAULT_ACCOUNT_ID", PREPROD),
        ("CROSSVAULT_BACKUP_ACCOUNT_ID", "222222222222"),
        ("CROSSVAULT_BACKUP_REGION", "eu-central-1"),
        ("CROSSVAULT_BACKUP_REGION_ALTERNATE", "eu-west-1"),
        ("CROSSVAULT_PREPROD_ACCOUNT_IDS", PREPROD),
        ("CROSSVAULT_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_CENTRAL_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_PREPROD_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_NOTIFY_TOPIC_ARN", TOPIC),
        ("CROSSVAULT_RESTORE_ON_ARRIVAL", "true"),
        (
            "CROSSVAULT_RESTORE_ROLE_ARN",
            "arn:aws:iam::333333333333:role/crossvault-restore-eu-west-1",
        ),
        ("CROSSVAULT_RESTORE_HOOK_DOCUMENT", "crossvault-mask"),
        ("CROSSVAULT_RESTORE_DB_SUBNET_GROUP", "preprod-db"),
        ("CROSSVAULT_RESTORE_DB_INSTANCE_CLASS", "db.t4g.medium"),
    ];
    vars.extend_from_slice(extra);
    StackConfig::from_iter(vars).unwrap()
}

fn sdk() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("eu-west-1"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

/// Mocked clients; no retries, so each rule sees exactly the calls the code makes.
#[derive(Default)]
struct Mocks<'a> {
    backup: Vec<&'a Rule>,
    tagging: Vec<&'a Rule>,
    sns: Vec<&'a Rule>,
    rds: Vec<&'a Rule>,
    ssm: Vec<&'a Rule>,
}

impl Mocks<'_> {
    fn pipeline(&self, config: StackConfig) -> Pipeline {
        macro_rules! no_retry {
            ($svc:ident) => {
                |b: $svc::config::Builder| {
                    b.retry_config($svc::config::retry::RetryConfig::disabled())
                }
            };
        }
        let clients = AwsClients::from_parts(
            sdk(),
            mock_client!(
                aws_sdk_backup,
                RuleMode::MatchAny,
                &self.backup,
                no_retry!(aws_sdk_backup)
            ),
            mock_client!(aws_sdk_organizations, RuleMode::MatchAny, &[]),
            mock_client!(
                aws_sdk_sns,
                RuleMode::MatchAny,
                &self.sns,
                no_retry!(aws_sdk_sns)
            ),
            mock_client!(aws_sdk_sqs, RuleMode::MatchAny, &[]),
            mock_client!(
                aws_sdk_resourcegroupstagging,
                RuleMode::MatchAny,
                &self.tagging,
                no_retry!(aws_sdk_resourcegroupstagging)
            ),
        )
        .with_refresh_clients(
            mock_client!(
                aws_sdk_rds,
                RuleMode::MatchAny,
                &self.rds,
                no_retry!(aws_sdk_rds)
            ),
            mock_client!(
                aws_sdk_ssm,
                RuleMode::MatchAny,
                &self.ssm,
                no_retry!(aws_sdk_ssm)
            ),
        );
        Pipeline::new(Arc::new(clients), config, Region::new("eu-west-1").unwrap())
    }
}

/// An RDS (Query protocol) error as the wire brings it.
fn rds_error(code: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>from the wire</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        )),
    )
}

fn rds_tags(tags: &std::collections::BTreeMap<String, String>) -> Vec<RdsTag> {
    tags.iter()
        .map(|(k, v)| RdsTag::builder().key(k).value(v).build())
        .collect()
}

fn provenance(rp: &str, backup: &str) -> std::collections::BTreeMap<String, String> {
    Provenance {
        source_account: "111111111111".into(),
        source_resource: ORDERS.into(),
        recovery_point: rp.into(),
        backup_time: backup.parse().unwrap(),
    }
    .tags()
}

fn restore_completed(created: &str) -> Value {
    json!({"version": "0", "id": "e", "detail-type": "Restore Job State Change", "source": "aws.backup",
        "account": PREPROD, "time": "2026-03-02T06:40:00Z", "region": "eu-west-1", "resources": [RP],
        "detail": {"restoreJobId": "R1", "recoveryPointArn": RP, "status": "COMPLETED",
            "sourceResourceArn": ORDERS, "resourceType": "Aurora",
            "iamRoleArn": "arn:aws:iam::333333333333:role/crossvault-restore-eu-west-1",
            "creationDate": "2026-03-02T06:20:00Z", "completionDate": "2026-03-02T06:39:30Z",
            "createdResourceArn": created}})
}

fn aurora_rules() -> (Rule, Rule, Rule, Rule, Rule) {
    let point = mock!(aws_sdk_backup::Client::describe_recovery_point).then_output(|| {
        DescribeRecoveryPointOutput::builder()
            .recovery_point_arn(RP)
            .creation_date(DateTime::from_secs(1_772_420_405))
            .build()
    });
    let cluster = mock!(aws_sdk_rds::Client::describe_db_clusters)
        .match_requests(|r| r.db_cluster_identifier() == Some("ledger-a"))
        .then_output(|| {
            DescribeDbClustersOutput::builder()
                .db_clusters(
                    DbCluster::builder()
                        .db_cluster_identifier("ledger-a")
                        .db_cluster_arn(CLUSTER)
                        .status("available")
                        .engine("aurora-postgresql")
                        .endpoint("ledger-a.cluster-x.eu-west-1.rds.amazonaws.com")
                        .port(5432)
                        .build(),
                )
                .build()
        });
    let none_listed = mock!(aws_sdk_resourcegroupstagging::Client::get_resources)
        .then_output(|| GetResourcesOutput::builder().build());
    let tag = mock!(aws_sdk_rds::Client::add_tags_to_resource)
        .match_requests(|r| r.resource_name() == Some(CLUSTER))
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let publish =
        mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().build());
    (point, cluster, none_listed, tag, publish)
}

#[tokio::test]
async fn an_aurora_writer_name_collision_with_an_instance_crossvault_did_not_create_is_refused() {
    let (point, cluster, listed, tag, publish) = aurora_rules();
    let create = mock!(aws_sdk_rds::Client::create_db_instance)
        .then_http_response(|| rds_error("DBInstanceAlreadyExists"));
    // Someone else's instance of that name: no WRITER_OF tag.
    let existing = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("ledger-a-w"))
        .then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(
                    DbInstance::builder()
                        .db_instance_identifier("ledger-a-w")
                        .db_instance_status("available")
                        .tag_list(RdsTag::builder().key("team").value("dba").build())
                        .build(),
                )
                .build()
        });
    let mocks = Mocks {
        backup: vec![&point],
        tagging: vec![&listed],
        sns: vec![&publish],
        rds: vec![&cluster, &tag, &create, &existing],
        ..Mocks::default()
    };
    let p = mocks.pipeline(preprod_config(&[]));
    let err = p
        .process_event(&restore_completed(CLUSTER))
        .await
        .unwrap_err();
    let EventError::Permanent(message) = err else {
        panic!("a collision is not retried: {err:?}")
    };
    assert!(
        message.contains("ledger-a-w already exists and is not the writer"),
        "{message}"
    );
    assert!(message.contains("crossvault leaves it alone"), "{message}");
    assert_eq!(create.num_calls(), 1);
    assert_eq!(existing.num_calls(), 1);
    // The provenance was written and the restore notified before the writer step.
    assert_eq!(tag.num_calls(), 1);
    assert_eq!(publish.num_calls(), 1);
}

#[tokio::test]
async fn an_existing_writer_crossvault_created_is_taken_as_done() {
    let (point, cluster, listed, tag, publish) = aurora_rules();
    let create = mock!(aws_sdk_rds::Client::create_db_instance)
        .match_requests(|r| {
            r.db_instance_identifier() == Some("ledger-a-w")
                && r.db_cluster_identifier() == Some("ledger-a")
                && r.db_instance_class() == Some("db.t4g.medium")
                && r.engine() == Some("aurora-postgresql")
                && r.publicly_accessible() == Some(false)
                && r.tags()
                    .iter()
                    .any(|t| t.key() == Some(WRITER_OF) && t.value() == Some("ledger-a"))
                && r.tags().iter().any(|t| t.key() == Some(MARKER))
        })
        .then_http_response(|| rds_error("DBInstanceAlreadyExists"));
    let ours = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("ledger-a-w"))
        .then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(
                    DbInstance::builder()
                        .db_instance_identifier("ledger-a-w")
                        .db_instance_status("creating")
                        .tag_list(RdsTag::builder().key(WRITER_OF).value("ledger-a").build())
                        .build(),
                )
                .build()
        });
    let mocks = Mocks {
        backup: vec![&point],
        tagging: vec![&listed],
        sns: vec![&publish],
        rds: vec![&cluster, &tag, &create, &ours],
        ..Mocks::default()
    };
    let p = mocks.pipeline(preprod_config(&[]));
    let outcomes = p.process_event(&restore_completed(CLUSTER)).await.unwrap();
    assert!(
        matches!(outcomes.last(), Some(ActionOutcome::WriterCreated { instance_identifier, .. }) if instance_identifier == "ledger-a-w"),
        "{outcomes:#?}"
    );
    assert_eq!(
        create.num_calls(),
        1,
        "the request carried the writer's tags and settings"
    );
}

#[tokio::test]
async fn a_capacity_shortage_creating_the_writer_is_retried_later() {
    let (point, cluster, listed, tag, publish) = aurora_rules();
    let create = mock!(aws_sdk_rds::Client::create_db_instance)
        .then_http_response(|| rds_error("InsufficientDBInstanceCapacity"));
    let mocks = Mocks {
        backup: vec![&point],
        tagging: vec![&listed],
        sns: vec![&publish],
        rds: vec![&cluster, &tag, &create],
        ..Mocks::default()
    };
    let p = mocks.pipeline(preprod_config(&[]));
    let err = p
        .process_event(&restore_completed(CLUSTER))
        .await
        .unwrap_err();
    let EventError::Retryable(message) = err else {
        panic!("capacity comes back: retried, not dead-lettered: {err:?}")
    };
    assert!(message.contains("lack of capacity"), "{message}");
    // A plain client error stays permanent.
    let (point, cluster, listed, tag, publish) = aurora_rules();
    let denied = mock!(aws_sdk_rds::Client::create_db_instance)
        .then_http_response(|| rds_error("InvalidParameterCombination"));
    let mocks = Mocks {
        backup: vec![&point],
        tagging: vec![&listed],
        sns: vec![&publish],
        rds: vec![&cluster, &tag, &denied],
        ..Mocks::default()
    };
    let err = mocks
        .pipeline(preprod_config(&[]))
        .process_event(&restore_completed(CLUSTER))
        .await
        .unwrap_err();
    assert!(matches!(err, EventError::Permanent(_)), "{err:?}");
    let _ = CreateDbInstanceOutput::builder().build();
}

fn db(id: &str, tags: std::collections::BTreeMap<String, String>) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier(id)
        .db_instance_arn(format!("arn:aws:rds:eu-west-1:333333333333:db:{id}"))
        .db_instance_status("available")
        .endpoint(
            Endpoint::builder()
                .address(format!("{id}.x.eu-west-1.rds.amazonaws.com"))
                .port(5432)
                .build(),
        )
        .set_tag_list(Some(rds_tags(&tags)))
        .build()
}

#[tokio::test]
async fn a_restore_whose_tags_changed_since_the_listing_is_kept() {
    // Night 2's hook succeeded: promote orders-b, delete orders-a — but orders-a's marker has
    // been removed since the listing (someone wants to keep it).
    let mut night2 = provenance("rp-2", "2026-03-03T03:00:05Z");
    night2.insert(STAGE.into(), "masking".into());
    night2.insert(HOOK_EXECUTION.into(), "X2".into());
    night2.insert(RESTORED_AT.into(), "2026-03-03T06:30:00Z".into());
    let mut night1 = provenance("rp-1", "2026-03-02T03:00:05Z");
    night1.insert(STAGE.into(), "promoted".into());
    let mut night1_now = night1.clone();
    night1_now.remove(MARKER);
    let execution = mock!(aws_sdk_ssm::Client::get_automation_execution).then_output(|| {
        GetAutomationExecutionOutput::builder()
            .automation_execution(
                AutomationExecution::builder()
                    .automation_execution_id("X2")
                    .document_name("crossvault-mask")
                    .automation_execution_status(AutomationExecutionStatus::Success)
                    .parameters(
                        "ResourceArn",
                        vec!["arn:aws:rds:eu-west-1:333333333333:db:orders-b".into()],
                    )
                    .build(),
            )
            .build()
    });
    let n2 = night2.clone();
    let describe_b = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("orders-b"))
        .then_output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(db("orders-b", n2.clone()))
                .build()
        });
    let n1 = night1_now.clone();
    let describe_a = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("orders-a"))
        .then_output(move || {
            DescribeDbInstancesOutput::builder()
                .db_instances(db("orders-a", n1.clone()))
                .build()
        });
    let listing = |id: &str, tags: &std::collections::BTreeMap<String, String>| {
        ResourceTagMapping::builder()
            .resource_arn(format!("arn:aws:rds:eu-west-1:333333333333:db:{id}"))
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap())
                    .collect(),
            ))
            .build()
    };
    let (la, lb) = (listing("orders-a", &night1), listing("orders-b", &night2));
    let listed =
        mock!(aws_sdk_resourcegroupstagging::Client::get_resources).then_output(move || {
            GetResourcesOutput::builder()
                .resource_tag_mapping_list(la.clone())
                .resource_tag_mapping_list(lb.clone())
                .build()
        });
    let put = mock!(aws_sdk_ssm::Client::put_parameter)
        .match_requests(|r| {
            r.name() == Some("/crossvault/preprod/111111111111/orders")
                && r.value() == Some("orders-b.x.eu-west-1.rds.amazonaws.com:5432")
                && r.overwrite() == Some(true)
        })
        .then_output(|| PutParameterOutput::builder().version(2).build());
    let tag = mock!(aws_sdk_rds::Client::add_tags_to_resource)
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let delete = mock!(aws_sdk_rds::Client::delete_db_instance)
        .then_output(|| DeleteDbInstanceOutput::builder().build());
    let publish =
        mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().build());
    let mocks = Mocks {
        tagging: vec![&listed],
        sns: vec![&publish],
        rds: vec![&describe_a, &describe_b, &tag, &delete],
        ssm: vec![&execution, &put],
        ..Mocks::default()
    };
    let p = mocks.pipeline(preprod_config(&[]));
    let hook_done = json!({"version": "0", "id": "h", "detail-type": "EC2 Automation Execution Status-change Notification",
        "source": "aws.ssm", "account": PREPROD, "time": "2026-03-03T07:00:00Z", "region": "eu-west-1",
        "resources": [], "detail": {"ExecutionId": "X2", "Definition": "crossvault-mask", "Status": "Success"}});
    let outcomes = p.process_event(&hook_done).await.unwrap();
    assert_eq!(put.num_calls(), 1, "promoted: {outcomes:#?}");
    assert!(
        outcomes.iter().any(|o| matches!(o, ActionOutcome::RestoreKept { resource_arn, reason }
            if resource_arn.ends_with(":db:orders-a") && reason.contains("no longer carries crossvault's provenance"))),
        "{outcomes:#?}"
    );
    assert_eq!(delete.num_calls(), 0, "nothing untagged is ever deleted");
    // Only orders-b was tagged (promoted); orders-a was not even tagged retired.
    assert_eq!(tag.num_calls(), 1);
}

/// A source stack whose copy failed: its notice goes to SNS and to Slack.
fn source_config() -> StackConfig {
    StackConfig::from_iter([
        ("CROSSVAULT_ROLE", "source"),
        ("CROSSVAULT_ACCOUNT_ID", "111111111111"),
        ("CROSSVAULT_BACKUP_ACCOUNT_ID", "222222222222"),
        ("CROSSVAULT_BACKUP_REGION", "eu-central-1"),
        ("CROSSVAULT_BACKUP_REGION_ALTERNATE", "eu-west-1"),
        ("CROSSVAULT_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_CENTRAL_VAULT_NAME", "crossvault"),
        ("CROSSVAULT_PREPROD_VAULT_NAME", "crossvault"),
        (
            "CROSSVAULT_COPY_ROLE_ARN",
            "arn:aws:iam::111111111111:role/crossvault-copy",
        ),
        (
            "CROSSVAULT_NOTIFY_TOPIC_ARN",
            "arn:aws:sns:eu-west-1:111111111111:crossvault-notifications",
        ),
        ("CROSSVAULT_SLACK_WEBHOOK_PARAMETER", "/crossvault/slack"),
    ])
    .unwrap()
}

fn copy_failed() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/events/copy-job-failed.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn notify_through_slack(server: &MockServer, slack: Slack) -> (Vec<ActionOutcome>, usize) {
    let url = format!("{}/services/T0/B0/the-secret-part", server.uri());
    let webhook = mock!(aws_sdk_ssm::Client::get_parameter)
        .match_requests(|r| {
            r.name() == Some("/crossvault/slack") && r.with_decryption() == Some(true)
        })
        .then_output(move || {
            GetParameterOutput::builder()
                .parameter(Parameter::builder().value(url.clone()).build())
                .build()
        });
    let jobs = mock!(aws_sdk_backup::Client::list_copy_jobs).then_output(|| {
        aws_sdk_backup::operation::list_copy_jobs::ListCopyJobsOutput::builder().build()
    });
    let publish =
        mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().build());
    let mocks = Mocks {
        backup: vec![&jobs],
        sns: vec![&publish],
        ssm: vec![&webhook],
        ..Mocks::default()
    };
    let p = mocks.pipeline(source_config()).with_slack(slack);
    let outcomes = p
        .process_event(&copy_failed())
        .await
        .expect("Slack is never fatal");
    assert_eq!(publish.num_calls(), 1, "SNS got it whatever Slack does");
    (outcomes, webhook.num_calls())
}

fn slack_of(outcomes: &[ActionOutcome]) -> Option<SlackDelivery> {
    outcomes.iter().find_map(|o| match o {
        ActionOutcome::Notified { slack, .. } => slack.clone(),
        _ => None,
    })
}

#[tokio::test]
async fn a_slack_timeout_is_retried_reported_and_never_fatal_nor_logged_with_the_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let slack = Slack::new(Some("/crossvault/slack".into())).with_policy(
        2,
        Duration::from_millis(200),
        Duration::from_millis(10),
    );
    let (outcomes, reads) = notify_through_slack(&server, slack).await;
    let Some(SlackDelivery::Failed { attempts, reason }) = slack_of(&outcomes) else {
        panic!("{outcomes:#?}")
    };
    assert_eq!(attempts, 2);
    assert!(
        reason.contains("timed out") || reason.contains("timeout"),
        "{reason}"
    );
    let shown = serde_json::to_string(&outcomes).unwrap();
    assert!(
        !shown.contains("the-secret-part") && !shown.contains(&server.uri()),
        "{shown}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(reads, 1, "the webhook is read once per invocation");
}

#[tokio::test]
async fn slack_retries_server_errors_and_gives_up_at_once_on_client_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let policy = || {
        Slack::new(Some("/crossvault/slack".into())).with_policy(
            3,
            Duration::from_secs(2),
            Duration::from_millis(10),
        )
    };
    let (outcomes, _) = notify_through_slack(&server, policy()).await;
    assert_eq!(
        slack_of(&outcomes),
        Some(SlackDelivery::Delivered { attempts: 2 })
    );
    let body: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[1].body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("*crossvault: copy job FAILED in 111111111111 eu-west-1*\n"),
        "{text}"
    );
    assert!(
        text.contains("Console: https://eu-west-1.console.aws.amazon.com/backup/"),
        "{text}"
    );

    let gone = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no_service"))
        .mount(&gone)
        .await;
    let (outcomes, _) = notify_through_slack(&gone, policy()).await;
    let Some(SlackDelivery::Failed { attempts, reason }) = slack_of(&outcomes) else {
        panic!("{outcomes:#?}")
    };
    assert_eq!(attempts, 1, "a client error is not retried");
    assert!(
        reason.contains("404") && reason.contains("no_service"),
        "{reason}"
    );
}
