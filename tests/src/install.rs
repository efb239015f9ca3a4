//! crossvault installed into one account and region, from `template/crossvault.yaml`.
//!
//! The harness plays CloudFormation as far as the test bed allows. The template is evaluated
//! for the account and region with `crossvault_stackset::template` (the same model
//! `crossvault plan` uses), and what the evaluation says exists is created through the real
//! APIs from its resolved properties:
//!
//! - custom resources (`Custom::OrganizationInfo`, `Custom::BackupRegionSettings`,
//!   `Custom::BackupGlobalSettings`, ...) run through the handler's own custom-resource
//!   `Engine`, which answers over HTTP to a local `ResponseURL`, exactly as in AWS; their
//!   `Data` fills the template's `!GetAtt` on them (the organization id in vault policies);
//! - `AWS::Backup::BackupVault`: `CreateBackupVault`, its `AccessPolicy` with
//!   `PutBackupVaultAccessPolicy`, its `LockConfiguration` with `PutBackupVaultLockConfiguration`;
//! - `AWS::SQS::Queue`, `AWS::Events::Rule` (the template's resolved `EventPattern`, targeting
//!   the queue), `AWS::SNS::Topic`;
//! - the handler's configuration: `HandlerFunction`'s `Environment`, evaluated for this
//!   account and region, parsed by `StackConfig::from_iter` as the Lambda would.
//!
//! - the Lambda: the real [`Handler`] ([`crate::lambda`]) with the template's environment as its
//!   configuration and the organization's clock; the `EventSourceMapping`'s batch size and
//!   concurrency and the function's timeout, for the runner that plays the event source
//!   mapping.
//!
//! Not created, because the test bed cannot or need not: KMS keys (no key policies are
//! emulated; vaults use the test bed's default key, so `EncryptionKeyArn` is left out), IAM
//! roles (not checked by the test bed; the ARNs the template resolves are used as they are),
//! the Lambda function resource, its log group and alarm, the event source mapping (the runner
//! plays it), the reconcile schedule (the runner invokes the handler with the Scheduled Event).
//! moto's own CloudFormation runs neither custom resources nor `AWS::Backup::*` resources,
//! which is why the harness does this itself.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::SdkConfig;
use crossvault_core::{Region, Role, StackConfig};
use crossvault_handler::Handler;
use crossvault_handler::clock::Clock;
use crossvault_handler::context::InvocationContext;
use crossvault_handler::custom_resource::{DeliveryPolicy, Engine, EngineOptions, Status};
use crossvault_stackset::template::{
    Evaluation, Pseudo, Template, custom_resources, event_rules, handler_environment,
};
use serde_json::{Map, Value, json};

use crate::{Result, aws, err};

/// The parsed template, read once per process from the repository.
pub fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let path = crate::repo_root().join("template/crossvault.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Template::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// The template's `EventSourceMapping`, as the runner plays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSource {
    pub batch_size: usize,
    /// `ScalingConfig.MaximumConcurrency`: batches handled at the same time.
    pub maximum_concurrency: usize,
    /// `FunctionResponseTypes` has `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
}

/// One custom resource as the harness ran it.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomResourceRun {
    pub logical_id: String,
    pub resource_type: String,
    /// "SUCCESS" or "FAILED", as delivered to the ResponseURL.
    pub status: String,
    pub reason: Option<String>,
    pub data: Map<String, Value>,
}

/// crossvault in one account and region.
pub struct Installation {
    pub account_id: String,
    pub region: String,
    pub role: Role,
    /// The handler's configuration, from the template's `HandlerFunction` environment.
    pub config: StackConfig,
    /// The raw environment the template gives the handler.
    pub environment: BTreeMap<String, String>,
    pub sdk: SdkConfig,
    /// The Lambda's handler, entered the way Lambda enters it: `Handler::handle`.
    pub handler: Arc<Handler>,
    /// `HandlerFunction.Timeout`: each invocation's deadline.
    pub function_timeout: Duration,
    /// The `EventSourceMapping` from the queue to the function, if the instance has one.
    pub event_source: Option<EventSource>,
    /// The managed vault (source, central or pre-prod), if the instance has one.
    pub vault_name: Option<String>,
    pub queue_url: Option<String>,
    pub queue_arn: Option<String>,
    pub dead_letter_queue_url: Option<String>,
    pub topic_arn: Option<String>,
    /// A queue subscribed to the notification topic, standing in for the e-mail subscription.
    pub notifications_queue_url: Option<String>,
    pub custom_resources: Vec<CustomResourceRun>,
    /// What was created, one line each, for the story.
    pub created: Vec<String>,
}

impl std::fmt::Debug for Installation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installation")
            .field("account_id", &self.account_id)
            .field("region", &self.region)
            .field("role", &self.role)
            .field("vault_name", &self.vault_name)
            .field("queue_url", &self.queue_url)
            .finish_non_exhaustive()
    }
}

impl Installation {
    pub fn backup(&self) -> aws_sdk_backup::Client {
        aws_sdk_backup::Client::new(&self.sdk)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// The managed vault's ARN.
    pub fn vault_arn(&self) -> Option<String> {
        self.vault_name.as_ref().map(|name| {
            format!(
                "arn:aws:backup:{}:{}:backup-vault:{name}",
                self.region, self.account_id
            )
        })
    }
}

/// The local stand-in for CloudFormation's presigned response URL: a wiremock server that
/// accepts every PUT and keeps the bodies.
pub struct CloudFormationStandIn {
    server: wiremock::MockServer,
    counter: std::sync::atomic::AtomicU64,
}

impl CloudFormationStandIn {
    pub async fn start() -> Self {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("PUT"))
            .respond_with(wiremock::ResponseTemplate::new(200))
            .mount(&server)
            .await;
        Self {
            server,
            counter: Default::default(),
        }
    }

    fn next_request_id(&self) -> u64 {
        self.counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The body PUT to `path`, if any.
    async fn answer_at(&self, path: &str) -> Option<Value> {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .rev()
            .find(|r| r.url.path() == path)
            .and_then(|r| serde_json::from_slice(&r.body).ok())
    }
}

/// What the caller wants changed from what the template says (for tests of failure paths).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replace the organization id the central vault's policy admits (a vault whose policy
    /// does not admit this organization).
    pub central_vault_org_id: Option<String>,
}

/// Installs crossvault into `account_id`/`region` with the StackSet `params`; its handler
/// decides by `clock`.
pub async fn install(
    cfn: &CloudFormationStandIn,
    sdk: SdkConfig,
    account_id: &str,
    region: &str,
    params: &BTreeMap<String, String>,
    overrides: &Overrides,
    clock: Arc<dyn Clock>,
) -> Result<Installation> {
    let template = template();
    let eval = template
        .evaluate(params, &Pseudo::new(account_id, region))
        .map_err(|e| err(format!("template for {account_id}/{region}: {e}")))?;
    let where_ = format!("{account_id}/{region}");
    let clients = Arc::new(crate::lambda::clients(&sdk, account_id, region));
    let mut created = Vec::new();

    // 1. Custom resources, OrganizationInfo first: the others (and the vault policies) use
    //    its attributes.
    let mut runs = Vec::new();
    let mut attributes: BTreeMap<(String, String), Value> = BTreeMap::new();
    let mut customs = custom_resources(&eval).map_err(|e| err(format!("{where_}: {e}")))?;
    customs.sort_by_key(|c| {
        (
            c.resource_type != "Custom::OrganizationInfo",
            c.logical_id.clone(),
        )
    });
    let engine = crossvault_handler::resources::all(&clients)
        .into_iter()
        .fold(
            Engine::new(
                crossvault_handler::runtime::http_client(),
                EngineOptions {
                    response_reserve: Duration::from_secs(2),
                    delivery: DeliveryPolicy {
                        attempt_timeout: Duration::from_secs(5),
                        first_backoff: Duration::from_millis(50),
                        max_backoff: Duration::from_millis(500),
                    },
                },
            ),
            Engine::register,
        );
    for custom in customs {
        let properties = substitute(custom.properties.clone(), &attributes);
        let unresolved = unresolved(&properties);
        if !unresolved.is_empty() {
            return Err(err(format!(
                "{where_}: {} ({}) has values only CloudFormation could know: {}",
                custom.logical_id,
                custom.resource_type,
                unresolved.join(", ")
            )));
        }
        let n = cfn.next_request_id();
        let path = format!("/cfn/{account_id}/{region}/{}/{n}", custom.logical_id);
        let request = json!({
            "RequestType": "Create",
            "ServiceToken": properties.get("ServiceToken").cloned().unwrap_or(Value::Null),
            "ResponseURL": format!("{}{path}", cfn.server.uri()),
            "StackId": format!("arn:aws:cloudformation:{region}:{account_id}:stack/crossvault/00000000-0000-0000-0000-{n:012}"),
            "RequestId": format!("crossvault-tests-{n}"),
            "LogicalResourceId": custom.logical_id,
            "ResourceType": custom.resource_type,
            "ResourceProperties": properties,
        });
        let answer = engine
            .handle(&request, &InvocationContext::local(Duration::from_secs(60)))
            .await
            .map_err(|e| {
                err(format!(
                    "{where_}: {} was not answered: {e}",
                    custom.logical_id
                ))
            })?;
        // What CloudFormation would read: the body that arrived at the ResponseURL.
        let body = cfn.answer_at(&path).await.ok_or_else(|| {
            err(format!(
                "{where_}: {}: the engine says {:?} but nothing arrived at the ResponseURL",
                custom.logical_id, answer.status
            ))
        })?;
        let status = body["Status"].as_str().unwrap_or_default().to_owned();
        let data = body
            .get("Data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in &data {
            attributes.insert((custom.logical_id.clone(), k.clone()), v.clone());
        }
        debug_assert_eq!(status == "SUCCESS", answer.status == Status::Success);
        runs.push(CustomResourceRun {
            logical_id: custom.logical_id.clone(),
            resource_type: custom.resource_type.clone(),
            status,
            reason: body
                .get("Reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
            data,
        });
    }
    if let Some(failed) = runs.iter().find(|r| r.status != "SUCCESS") {
        return Err(err(format!(
            "{where_}: custom resource {} ({}) FAILED: {}",
            failed.logical_id,
            failed.resource_type,
            failed.reason.as_deref().unwrap_or("(no reason)")
        )));
    }

    // 2. Vaults.
    let backup = aws_sdk_backup::Client::new(&sdk);
    let mut vault_name = None;
    for resource in eval
        .resources
        .iter()
        .filter(|r| r.resource_type == "AWS::Backup::BackupVault")
    {
        let mut props = properties(&eval, &resource.logical_id, &attributes)?;
        // KMS is not emulated: the vault takes the test bed's default key.
        if let Some(map) = props.as_object_mut() {
            map.remove("EncryptionKeyArn");
        }
        if let (Some(org), Some(policy)) = (
            overrides.central_vault_org_id.as_ref(),
            props.get_mut("AccessPolicy"),
        ) && resource.logical_id == "CentralVault"
        {
            *policy = replace_org_id(policy.take(), org);
        }
        check_resolved(&where_, &resource.logical_id, &props)?;
        let name = props["BackupVaultName"]
            .as_str()
            .ok_or_else(|| {
                err(format!(
                    "{where_}: {} has no BackupVaultName",
                    resource.logical_id
                ))
            })?
            .to_owned();
        match backup
            .create_backup_vault()
            .backup_vault_name(&name)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) => {}
            Err(e) => {
                return Err(aws(&format!("{where_}: backup:CreateBackupVault {name}"))(
                    e,
                ));
            }
        }
        let mut line = format!("vault {name} ({})", resource.logical_id);
        if let Some(policy) = props.get("AccessPolicy") {
            backup
                .put_backup_vault_access_policy()
                .backup_vault_name(&name)
                .policy(policy.to_string())
                .send()
                .await
                .map_err(aws(&format!(
                    "{where_}: backup:PutBackupVaultAccessPolicy {name}"
                )))?;
            let sids: Vec<&str> = policy["Statement"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["Sid"].as_str())
                .collect();
            line.push_str(&format!(", policy {}", sids.join("+")));
        }
        if let Some(lock) = props.get("LockConfiguration") {
            let mut put = backup
                .put_backup_vault_lock_configuration()
                .backup_vault_name(&name)
                .min_retention_days(number(&lock["MinRetentionDays"]).unwrap_or(1));
            if let Some(max) = number(&lock["MaxRetentionDays"]) {
                put = put.max_retention_days(max);
            }
            if let Some(days) = number(&lock["ChangeableForDays"]) {
                put = put.changeable_for_days(days);
            }
            put.send().await.map_err(aws(&format!(
                "{where_}: backup:PutBackupVaultLockConfiguration {name}"
            )))?;
            line.push_str(&format!(", Vault Lock {lock}"));
        }
        created.push(line);
        vault_name = Some(name);
    }

    // 3. Queues (dead-letter queue first), rules, topic.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut queue_urls: BTreeMap<String, (String, String)> = BTreeMap::new(); // logical id -> (url, arn)
    let mut queues: Vec<_> = eval
        .resources
        .iter()
        .filter(|r| r.resource_type == "AWS::SQS::Queue")
        .map(|r| r.logical_id.clone())
        .collect();
    let mut queue_props = BTreeMap::new();
    for id in &queues {
        queue_props.insert(id.clone(), properties(&eval, id, &attributes)?);
    }
    queues.sort_by_key(|id| queue_props[id].get("RedrivePolicy").is_some());
    for id in &queues {
        let props = &queue_props[id];
        check_resolved(&where_, id, props)?;
        let name = props["QueueName"]
            .as_str()
            .ok_or_else(|| err(format!("{where_}: {id} has no QueueName")))?;
        let mut create = sqs.create_queue().queue_name(name);
        for key in ["VisibilityTimeout", "MessageRetentionPeriod"] {
            if let Some(v) = number(&props[key]) {
                create = create.attributes(key.into(), v.to_string());
            }
        }
        if let Some(redrive) = props.get("RedrivePolicy") {
            create = create.attributes("RedrivePolicy".into(), redrive.to_string());
        }
        let url = create
            .send()
            .await
            .map_err(aws(&format!("{where_}: sqs:CreateQueue {name}")))?
            .queue_url
            .unwrap_or_default();
        let arn = queue_arn(&sqs, &url).await?;
        created.push(format!("queue {name} ({id})"));
        // What `!Ref` and `!GetAtt .Arn` of the queue give, for the handler's environment.
        attributes.insert((id.clone(), "Ref".to_owned()), Value::String(url.clone()));
        attributes.insert((id.clone(), "Arn".to_owned()), Value::String(arn.clone()));
        queue_urls.insert(id.clone(), (url, arn));
    }

    let events = aws_sdk_eventbridge::Client::new(&sdk);
    for rule in event_rules(&eval).map_err(|e| err(format!("{where_}: {e}")))? {
        let Some(pattern) = &rule.event_pattern else {
            // The reconcile schedule targets the Lambda; tests call reconcile_now instead.
            continue;
        };
        check_resolved(&where_, &rule.logical_id, pattern)?;
        let name = format!("crossvault-{}", rule.logical_id);
        events
            .put_rule()
            .name(&name)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .map_err(aws(&format!("{where_}: events:PutRule {name}")))?;
        let mut targets = Vec::new();
        for target in &rule.targets {
            let (_, arn) = queue_urls.get(target).ok_or_else(|| {
                err(format!(
                    "{where_}: rule {} targets {target}, which the harness did not create",
                    rule.logical_id
                ))
            })?;
            targets.push(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(arn)
                    .build()
                    .map_err(|e| err(format!("{where_}: target: {e}")))?,
            );
        }
        events
            .put_targets()
            .rule(&name)
            .set_targets(Some(targets))
            .send()
            .await
            .map_err(aws(&format!("{where_}: events:PutTargets {name}")))?;
        created.push(format!("rule {name} -> {}", rule.targets.join(",")));
    }

    let sns = aws_sdk_sns::Client::new(&sdk);
    let mut topic_arn = None;
    let mut notifications_queue_url = None;
    for resource in eval
        .resources
        .iter()
        .filter(|r| r.resource_type == "AWS::SNS::Topic")
    {
        let props = properties(&eval, &resource.logical_id, &attributes)?;
        let name = props["TopicName"].as_str().ok_or_else(|| {
            err(format!(
                "{where_}: {} has no TopicName",
                resource.logical_id
            ))
        })?;
        let arn = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .map_err(aws(&format!("{where_}: sns:CreateTopic {name}")))?
            .topic_arn
            .unwrap_or_default();
        // The harness reads notifications from a queue subscribed to the topic (in AWS, the
        // optional e-mail subscription).
        let observer = format!("{name}-observer");
        let url = sqs
            .create_queue()
            .queue_name(&observer)
            .send()
            .await
            .map_err(aws(&format!("{where_}: sqs:CreateQueue {observer}")))?
            .queue_url
            .unwrap_or_default();
        let observer_arn = queue_arn(&sqs, &url).await?;
        sns.subscribe()
            .topic_arn(&arn)
            .protocol("sqs")
            .endpoint(&observer_arn)
            .send()
            .await
            .map_err(aws(&format!("{where_}: sns:Subscribe {observer}")))?;
        created.push(format!("topic {name} (observed by queue {observer})"));
        topic_arn = Some(arn);
        notifications_queue_url = Some(url);
    }

    // 4. The handler's configuration, as the template wires it.
    let raw_env = handler_environment(&eval).map_err(|e| err(format!("{where_}: {e}")))?;
    let mut environment = BTreeMap::new();
    for (key, value) in raw_env {
        let value = substitute(value, &attributes);
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(err(format!(
                    "{where_}: HandlerFunction environment {key} stays unresolved: {other}"
                )));
            }
        };
        environment.insert(key, text);
    }
    let config = StackConfig::from_iter(environment.clone())
        .map_err(|e| err(format!("{where_}: the template's handler environment: {e}")))?;
    if let (Some(configured), Some(created)) = (&config.notify_topic_arn, &topic_arn)
        && configured != created
    {
        return Err(err(format!(
            "{where_}: CROSSVAULT_NOTIFY_TOPIC_ARN {configured} is not the topic created ({created})"
        )));
    }
    let region_id = Region::new(region).map_err(|e| err(format!("{where_}: region: {e}")))?;
    let handler = Arc::new(crate::lambda::handler(
        &clients,
        &config,
        region_id,
        &environment,
        clock,
    ));
    let function = properties(&eval, "HandlerFunction", &attributes)?;
    let function_timeout =
        Duration::from_secs(number(&function["Timeout"]).unwrap_or(3).max(1) as u64);
    let event_source = match eval
        .resources
        .iter()
        .find(|r| r.resource_type == "AWS::Lambda::EventSourceMapping")
    {
        Some(r) => {
            let props = properties(&eval, &r.logical_id, &attributes)?;
            Some(EventSource {
                batch_size: number(&props["BatchSize"]).unwrap_or(10).clamp(1, 10) as usize,
                maximum_concurrency: number(&props["ScalingConfig"]["MaximumConcurrency"])
                    .unwrap_or(2)
                    .max(1) as usize,
                report_batch_item_failures: props["FunctionResponseTypes"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|v| v == "ReportBatchItemFailures")),
            })
        }
        None => None,
    };
    Ok(Installation {
        account_id: account_id.to_owned(),
        region: region.to_owned(),
        role: eval.role,
        config,
        environment,
        sdk,
        handler,
        function_timeout,
        event_source,
        vault_name,
        queue_url: queue_urls.get("EventQueue").map(|(u, _)| u.clone()),
        queue_arn: queue_urls.get("EventQueue").map(|(_, a)| a.clone()),
        dead_letter_queue_url: queue_urls.get("DeadLetterQueue").map(|(u, _)| u.clone()),
        topic_arn,
        notifications_queue_url,
        custom_resources: runs,
        created,
    })
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws(&format!("sqs:GetQueueAttributes {url}")))?
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .ok_or_else(|| err(format!("{url} has no QueueArn")))
}

/// A resource's resolved properties with the custom resources' attributes filled in.
fn properties(
    eval: &Evaluation<'_>,
    logical_id: &str,
    attributes: &BTreeMap<(String, String), Value>,
) -> Result<Value> {
    let props = eval
        .properties(logical_id)
        .map_err(|e| err(format!("{logical_id}: {e}")))?
        .unwrap_or(Value::Null);
    Ok(substitute(props, attributes))
}

/// Fills in what only deploy time knows: `!GetAtt` of a custom resource (its `Data`) and
/// `!Ref`/`!GetAtt .Arn` of the queues the harness created.
fn substitute(value: Value, attributes: &BTreeMap<(String, String), Value>) -> Value {
    match value {
        Value::Object(map) => {
            if let Some(key) = get_att(&map)
                && let Some(v) = attributes.get(&key)
            {
                return v.clone();
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, substitute(v, attributes)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| substitute(v, attributes))
                .collect(),
        ),
        other => other,
    }
}

/// `{"Fn::GetAtt": [id, attr]}` → `(id, attr)`; `{"Ref": id}` → `(id, "Ref")`.
fn get_att(map: &Map<String, Value>) -> Option<(String, String)> {
    if map.len() != 1 {
        return None;
    }
    if let Some(Value::String(id)) = map.get("Ref") {
        return Some((id.clone(), "Ref".to_owned()));
    }
    match map.get("Fn::GetAtt")? {
        Value::Array(parts) if parts.len() == 2 => {
            Some((parts[0].as_str()?.to_owned(), parts[1].as_str()?.to_owned()))
        }
        Value::String(s) => s.split_once('.').map(|(a, b)| (a.to_owned(), b.to_owned())),
        _ => None,
    }
}

/// Every intrinsic function call left in `value` (values only CloudFormation could know).
fn unresolved(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if map.len() == 1 && map.keys().all(|k| k == "Ref" || k.starts_with("Fn::")) {
                    out.push(v.to_string());
                } else {
                    map.values().for_each(|v| walk(v, out));
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(value, &mut out);
    out
}

fn check_resolved(where_: &str, logical_id: &str, value: &Value) -> Result<()> {
    let left = unresolved(value);
    if left.is_empty() {
        Ok(())
    } else {
        Err(err(format!(
            "{where_}: {logical_id} keeps values only CloudFormation could know: {}",
            left.join(", ")
        )))
    }
}

/// Replaces every `aws:PrincipalOrgID` condition value in a policy with `org`.
fn replace_org_id(policy: Value, org: &str) -> Value {
    match policy {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    if k == "aws:PrincipalOrgID" {
                        (k, Value::String(org.to_owned()))
                    } else {
                        (k, replace_org_id(v, org))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| replace_org_id(v, org)).collect())
        }
        other => other,
    }
}

/// A template number (CloudFormation numbers arrive as text from `Ref` to a Number parameter).
fn number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_att_of_a_custom_resource_is_filled_in() {
        let attrs = BTreeMap::from([(
            ("OrgInfo".to_owned(), "OrganizationId".to_owned()),
            json!("o-abc"),
        )]);
        let v = json!({"StringEquals": {"aws:PrincipalOrgID": {"Fn::GetAtt": ["OrgInfo", "OrganizationId"]}}});
        assert_eq!(
            substitute(v, &attrs),
            json!({"StringEquals": {"aws:PrincipalOrgID": "o-abc"}})
        );
        assert_eq!(
            unresolved(&json!({"a": [{"Fn::GetAtt": ["VaultKey", "Arn"]}]})),
            vec![r#"{"Fn::GetAtt":["VaultKey","Arn"]}"#.to_owned()]
        );
    }

    #[test]
    fn the_template_parses() {
        assert!(template().resources().contains_key("HandlerFunction"));
    }
}
