//! crossvault installed into one account and region, from `template/crossvault.yaml`.
//!
//! The harness plays CloudFormation as far as the test bed allows. The template is evaluated
//! for the account and region with `crossvault_stackset::template` (the same model
//! `crossvault plan` uses), and what the evaluation says exists is created through the real
//! APIs from its resolved properties:
//!
//! - custom resources run through the handler's own custom-resource `Engine`, which answers over
//!   HTTP to a local `ResponseURL`, exactly as in AWS, in dependency order (a resource whose
//!   properties read another's attributes runs after it), and the first FAILED one stops the
//!   install as it stops a stack. That includes the vault keys (`Custom::VaultKey`, real keys in
//!   the test bed's KMS), the vaults (`Custom::BackupVault`), their policies and locks, and the
//!   configuration check (`Custom::HandlerConfiguration`, given the environment the template
//!   gives the function); their `Data` fills the template's `!GetAtt` on them;
//! - `AWS::SQS::Queue`, `AWS::Events::Rule` (the template's resolved `EventPattern`, targeting
//!   the queue), `AWS::SNS::Topic`;
//! - the handler's configuration: `HandlerFunction`'s `Environment`, evaluated for this
//!   account and region, parsed by `StackConfig::from_iter` as the Lambda would.
//!
//! [`uninstall`] plays the stack's deletion: every custom resource gets its Delete (the vaults,
//! keys, policies and locks are retained by their kinds), queues, rules and topics are deleted.
//!
//! - the Lambda: the real [`Handler`] ([`crate::lambda`]) with the template's environment as its
//!   configuration and the organization's clock; the `EventSourceMapping`'s batch size and
//!   concurrency and the function's timeout, for the runner that plays the event source
//!   mapping.
//!
//! Not created, because the test bed cannot or need not: IAM roles (not checked by the test
//! bed; the ARNs the template resolves are used as they are), the Lambda function resource, its
//! log group and alarm, the event source mapping (the runner plays it), the reconcile schedule
//! (the runner invokes the handler with the Scheduled Event). moto's own CloudFormation runs
//! neither custom resources nor `AWS::Backup::*` resources, which is why the harness does this
//! itself.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::SdkConfig;
use crossvault_core::{Region, Role, StackConfig};
use crossvault_handler::Handler;
use crossvault_handler::clients::AwsClients;
use crossvault_handler::clock::Clock;
use crossvault_handler::context::InvocationContext;
use crossvault_handler::custom_resource::{DeliveryPolicy, Engine, EngineOptions, Status};
use crossvault_handler::resources::handler_configuration::HandlerConfiguration;
use crossvault_stackset::template::{
    CustomResource, Evaluation, Pseudo, Template, custom_resource_with, custom_resources,
    event_rules, handler_environment,
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
    /// The physical id CloudFormation keeps for it (later Updates and the Delete carry it).
    pub physical_resource_id: String,
    /// The properties it was last sent.
    pub properties: Value,
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
    /// What CloudFormation would delete with the stack (everything but the custom resources).
    deletable: Deletable,
}

/// The resources a stack's deletion removes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Deletable {
    pub queue_urls: Vec<String>,
    pub rule_names: Vec<String>,
    pub topic_arns: Vec<String>,
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

    /// The event queue's visibility timeout set to
    /// [`VISIBILITY_TIMEOUT_SECONDS`](crate::org::VISIBILITY_TIMEOUT_SECONDS), so the runner
    /// retries failed records within the night.
    pub async fn shorten_visibility_timeout(&self) -> Result<()> {
        let Some(queue) = &self.queue_url else {
            return Ok(());
        };
        self.sqs()
            .set_queue_attributes()
            .queue_url(queue)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                crate::org::VISIBILITY_TIMEOUT_SECONDS.to_string(),
            )
            .send()
            .await
            .map_err(aws(&format!("sqs:SetQueueAttributes {queue}")))?;
        Ok(())
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

    /// The body PUT to `path`, if any: parsed, and as it arrived.
    async fn answer_at(&self, path: &str) -> Option<(Value, Vec<u8>)> {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .rev()
            .find(|r| r.url.path() == path)
            .and_then(|r| {
                serde_json::from_slice(&r.body)
                    .ok()
                    .map(|body| (body, r.body.clone()))
            })
    }
}

/// What the caller wants changed from what the template says (for tests of failure paths).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replace the organization id the central vault's policy admits (a vault whose policy
    /// does not admit this organization).
    pub central_vault_org_id: Option<String>,
}

/// The handler's custom-resource engine as the Lambda builds it, except that the configuration
/// check reads `environment` (the function's environment as the template sets it).
pub(crate) fn engine(clients: &AwsClients, environment: &BTreeMap<String, String>) -> Engine {
    let environment = environment.clone();
    let configuration =
        HandlerConfiguration::with_environment(Arc::new(move || environment.clone()));
    crossvault_handler::resources::with_configuration(clients, configuration)
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
        )
}

/// One custom-resource request, answered through the engine to the stand-in's ResponseURL;
/// what arrived there is what CloudFormation would read.
#[allow(clippy::too_many_arguments)]
async fn request(
    cfn: &CloudFormationStandIn,
    engine: &Engine,
    account_id: &str,
    region: &str,
    request_type: &str,
    logical_id: &str,
    resource_type: &str,
    properties: &Value,
    previous: Option<&CustomResourceRun>,
) -> Result<CustomResourceRun> {
    let request = Request {
        account_id,
        region,
        stack_id: None,
        request_type,
        logical_id,
        resource_type,
        properties,
        previous,
    };
    Ok(request_in(cfn, engine, &request).await?.0)
}

/// A custom-resource request as CloudFormation sends it.
pub(crate) struct Request<'a> {
    pub account_id: &'a str,
    pub region: &'a str,
    /// The stack it belongs to; `None`: a stack id of the harness's own.
    pub stack_id: Option<&'a str>,
    pub request_type: &'a str,
    pub logical_id: &'a str,
    pub resource_type: &'a str,
    pub properties: &'a Value,
    pub previous: Option<&'a CustomResourceRun>,
}

/// [`request`] for any stack; also returns the response body exactly as the handler PUT it.
pub(crate) async fn request_in(
    cfn: &CloudFormationStandIn,
    engine: &Engine,
    r: &Request<'_>,
) -> Result<(CustomResourceRun, Vec<u8>)> {
    let Request {
        account_id,
        region,
        stack_id,
        request_type,
        logical_id,
        resource_type,
        properties,
        previous,
    } = *r;
    let where_ = format!("{account_id}/{region}");
    let n = cfn.next_request_id();
    let path = format!("/cfn/{account_id}/{region}/{logical_id}/{n}");
    let stack_id = stack_id.map_or_else(
        || format!("arn:aws:cloudformation:{region}:{account_id}:stack/crossvault/00000000-0000-0000-0000-{n:012}"),
        str::to_owned,
    );
    let mut request = json!({
        "RequestType": request_type,
        "ServiceToken": properties.get("ServiceToken").cloned().unwrap_or(Value::Null),
        "ResponseURL": format!("{}{path}", cfn.server.uri()),
        "StackId": stack_id,
        "RequestId": format!("crossvault-tests-{n}"),
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "ResourceProperties": properties,
    });
    if let Some(previous) = previous {
        request["PhysicalResourceId"] = json!(previous.physical_resource_id);
        if request_type == "Update" {
            request["OldResourceProperties"] = previous.properties.clone();
        }
    }
    let answer = engine
        .handle(&request, &InvocationContext::local(Duration::from_secs(60)))
        .await
        .map_err(|e| err(format!("{where_}: {logical_id} was not answered: {e}")))?;
    let (body, raw) = cfn.answer_at(&path).await.ok_or_else(|| {
        err(format!(
            "{where_}: {logical_id}: the engine says {:?} but nothing arrived at the ResponseURL",
            answer.status
        ))
    })?;
    let status = body["Status"].as_str().unwrap_or_default().to_owned();
    debug_assert_eq!(status == "SUCCESS", answer.status == Status::Success);
    let run = CustomResourceRun {
        logical_id: logical_id.to_owned(),
        resource_type: resource_type.to_owned(),
        status,
        reason: body
            .get("Reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        data: body
            .get("Data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        physical_resource_id: body["PhysicalResourceId"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        properties: properties.clone(),
    };
    Ok((run, raw))
}

/// The custom resources in the order CloudFormation creates them: a resource whose properties
/// read another's attributes (`!GetAtt VaultKey.KeyArn`), or that `DependsOn` another, after
/// it; otherwise OrganizationInfo first, then by logical id.
pub(crate) fn creation_order(customs: Vec<CustomResource>) -> Result<Vec<CustomResource>> {
    let ids: Vec<String> = customs.iter().map(|c| c.logical_id.clone()).collect();
    let mut pending: Vec<(CustomResource, Vec<String>)> = customs
        .into_iter()
        .map(|c| {
            let mut needs = template().resources()[&c.logical_id].depends_on.clone();
            references(&c.properties, &mut needs);
            needs.retain(|n| ids.contains(n) && *n != c.logical_id);
            (c, needs)
        })
        .collect();
    pending.sort_by_key(|(c, _)| {
        (
            c.resource_type != "Custom::OrganizationInfo",
            c.logical_id.clone(),
        )
    });
    let mut ordered: Vec<CustomResource> = Vec::new();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|(_, needs)| {
                needs
                    .iter()
                    .all(|n| ordered.iter().any(|o| o.logical_id == *n))
            })
            .ok_or_else(|| {
                err(format!(
                    "custom resources depend on each other in a cycle: {:?}",
                    pending
                        .iter()
                        .map(|(c, _)| &c.logical_id)
                        .collect::<Vec<_>>()
                ))
            })?;
        ordered.push(pending.remove(ready).0);
    }
    Ok(ordered)
}

/// Logical ids a value refers to with `!GetAtt` or `!Ref`.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some((id, _)) = get_att(map) {
                out.push(id);
            }
            map.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// The handler's environment, as the template wires it for this account and region, with what
/// only deploy time knows (`attributes`: the queues' `Ref`/`Arn`, custom resources' `Data`).
pub(crate) fn environment_of(
    eval: &Evaluation<'_>,
    attributes: &BTreeMap<(String, String), Value>,
    where_: &str,
) -> Result<BTreeMap<String, String>> {
    let raw_env = handler_environment(eval).map_err(|e| err(format!("{where_}: {e}")))?;
    let mut environment = BTreeMap::new();
    for (key, value) in raw_env {
        let value = substitute(value, attributes);
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
    Ok(environment)
}

/// A custom resource's properties as CloudFormation sends them: resolved by the template model,
/// `!GetAtt` of the custom resources answered before filled in from their `Data`, and the
/// caller's `overrides` applied. Anything still unresolved is an error.
pub(crate) fn custom_properties(
    eval: &Evaluation<'_>,
    custom: &CustomResource,
    attributes: &BTreeMap<(String, String), Value>,
    overrides: &Overrides,
    where_: &str,
) -> Result<Value> {
    let resolved = custom_resource_with(eval, &custom.logical_id, attributes)
        .map_err(|e| err(format!("{where_}: {e}")))?
        .map_or(custom.properties.clone(), |c| c.properties);
    let mut properties = substitute(resolved, attributes);
    if let (Some(org), "CentralVaultPolicy") = (
        overrides.central_vault_org_id.as_ref(),
        custom.logical_id.as_str(),
    ) {
        properties = replace_org_id(properties, org);
    }
    let unresolved = unresolved(&properties);
    if !unresolved.is_empty() {
        return Err(err(format!(
            "{where_}: {} ({}) has values only CloudFormation could know: {}",
            custom.logical_id,
            custom.resource_type,
            unresolved.join(", ")
        )));
    }
    Ok(properties)
}

/// The user-agent app name of the queue the harness subscribes to a notification topic
/// (`app/crossvault-observer` in the test bed's request log), so a test can tell it from
/// everything else the harness does.
pub const OBSERVER_APP: &str = "crossvault-observer";

/// Subscribes a queue `<topic name>-observer` to the topic `arn`: the harness reads
/// notifications from it (in AWS, the template's optional e-mail subscription). Returns its URL.
pub(crate) async fn observe_topic(
    sdk: &SdkConfig,
    where_: &str,
    name: &str,
    arn: &str,
) -> Result<String> {
    let sdk = sdk
        .to_builder()
        .app_name(aws_config::AppName::new(OBSERVER_APP).expect("a valid app name"))
        .build();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
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
    aws_sdk_sns::Client::new(&sdk)
        .subscribe()
        .topic_arn(arn)
        .protocol("sqs")
        .endpoint(&observer_arn)
        .send()
        .await
        .map_err(aws(&format!("{where_}: sns:Subscribe {observer}")))?;
    Ok(url)
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
    let mut deletable = Deletable::default();
    let mut attributes: BTreeMap<(String, String), Value> = BTreeMap::new();

    // 1. Queues (dead-letter queue first): the handler's environment names the DLQ.
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
        deletable.queue_urls.push(url.clone());
        // What `!Ref` and `!GetAtt .Arn` of the queue give, for the handler's environment.
        attributes.insert((id.clone(), "Ref".to_owned()), Value::String(url.clone()));
        attributes.insert((id.clone(), "Arn".to_owned()), Value::String(arn.clone()));
        queue_urls.insert(id.clone(), (url, arn));
    }

    // 2. The handler's environment, as the template wires it (the configuration check and the
    //    pipeline read it).
    let environment = environment_of(&eval, &attributes, &where_)?;

    // 3. Custom resources, in dependency order; the first failure stops the install.
    let engine = engine(&clients, &environment);
    let mut runs = Vec::new();
    let customs = custom_resources(&eval).map_err(|e| err(format!("{where_}: {e}")))?;
    for custom in creation_order(customs)? {
        let properties = custom_properties(&eval, &custom, &attributes, overrides, &where_)?;
        let run = request(
            cfn,
            &engine,
            account_id,
            region,
            "Create",
            &custom.logical_id,
            &custom.resource_type,
            &properties,
            None,
        )
        .await?;
        if run.status != "SUCCESS" {
            return Err(err(format!(
                "{where_}: custom resource {} ({}) FAILED: {}",
                run.logical_id,
                run.resource_type,
                run.reason.as_deref().unwrap_or("(no reason)")
            )));
        }
        for (k, v) in &run.data {
            attributes.insert((custom.logical_id.clone(), k.clone()), v.clone());
        }
        created.push(format!(
            "{} ({}): {}",
            run.logical_id,
            run.resource_type,
            run.reason.as_deref().unwrap_or("done")
        ));
        runs.push(run);
    }
    // 4. Rules and topics.
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
        deletable.rule_names.push(name);
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
        let url = observe_topic(&sdk, &where_, name, &arn).await?;
        created.push(format!("topic {name} (observed by queue {name}-observer)"));
        deletable.topic_arns.push(arn.clone());
        deletable.queue_urls.push(url.clone());
        topic_arn = Some(arn);
        notifications_queue_url = Some(url);
    }

    // 5. The handler's configuration, parsed as the Lambda parses it.
    assemble(Parts {
        eval: &eval,
        account_id,
        region,
        sdk,
        clients,
        clock,
        environment,
        attributes,
        queue_urls,
        topic_arn,
        notifications_queue_url,
        runs,
        created,
        deletable,
    })
}

/// What an installation is made of, however it came about (installed by the harness or
/// adopted from a deployed stack).
pub(crate) struct Parts<'a> {
    pub eval: &'a Evaluation<'a>,
    pub account_id: &'a str,
    pub region: &'a str,
    pub sdk: SdkConfig,
    pub clients: Arc<AwsClients>,
    pub clock: Arc<dyn Clock>,
    pub environment: BTreeMap<String, String>,
    pub attributes: BTreeMap<(String, String), Value>,
    /// Logical id → (URL, ARN).
    pub queue_urls: BTreeMap<String, (String, String)>,
    pub topic_arn: Option<String>,
    pub notifications_queue_url: Option<String>,
    pub runs: Vec<CustomResourceRun>,
    pub created: Vec<String>,
    pub deletable: Deletable,
}

/// The installation: the handler's configuration parsed as the Lambda parses it, the real
/// handler, and what the runner needs to play the event source mapping.
pub(crate) fn assemble(parts: Parts<'_>) -> Result<Installation> {
    let Parts {
        eval,
        account_id,
        region,
        sdk,
        clients,
        clock,
        environment,
        attributes,
        queue_urls,
        topic_arn,
        notifications_queue_url,
        runs,
        created,
        deletable,
    } = parts;
    let where_ = format!("{account_id}/{region}");
    // The managed vault (the re-encryption vault is crossvault's working vault, not it).
    let vault_name = runs
        .iter()
        .find(|r| r.resource_type == "Custom::BackupVault" && r.logical_id != "ReEncryptVault")
        .and_then(|r| r.data.get("BackupVaultName"))
        .and_then(Value::as_str)
        .map(str::to_owned);
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
    let function = properties(eval, "HandlerFunction", &attributes)?;
    let function_timeout =
        Duration::from_secs(number(&function["Timeout"]).unwrap_or(3).max(1) as u64);
    let event_source = match eval
        .resources
        .iter()
        .find(|r| r.resource_type == "AWS::Lambda::EventSourceMapping")
    {
        Some(r) => {
            let props = properties(eval, &r.logical_id, &attributes)?;
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
        deletable,
    })
}

/// Sends an Update of the installed custom resource `logical_id` with `properties` (what a
/// stack update with changed parameters sends), and records it when it succeeded.
pub async fn update_custom_resource(
    cfn: &CloudFormationStandIn,
    installation: &mut Installation,
    logical_id: &str,
    properties: Value,
) -> Result<CustomResourceRun> {
    let clients = AwsClients::from_config(installation.sdk.clone());
    let engine = engine(&clients, &installation.environment);
    let index = installation
        .custom_resources
        .iter()
        .position(|r| r.logical_id == logical_id)
        .ok_or_else(|| err(format!("{logical_id} is not installed")))?;
    let previous = installation.custom_resources[index].clone();
    let run = request(
        cfn,
        &engine,
        &installation.account_id,
        &installation.region,
        "Update",
        logical_id,
        &previous.resource_type,
        &properties,
        Some(&previous),
    )
    .await?;
    if run.status == "SUCCESS" {
        installation.custom_resources[index] = run.clone();
    }
    Ok(run)
}

/// Deletes the stack: every custom resource gets its Delete (newest first, as CloudFormation
/// deletes dependants before what they depend on), then the queues, rules and topics go.
/// Returns the custom resources' answers; a FAILED one is an error (DELETE_FAILED).
pub async fn uninstall(
    cfn: &CloudFormationStandIn,
    installation: Installation,
) -> Result<Vec<CustomResourceRun>> {
    let where_ = format!("{}/{}", installation.account_id, installation.region);
    let clients = AwsClients::from_config(installation.sdk.clone());
    let engine = engine(&clients, &installation.environment);
    let mut answers = Vec::new();
    for run in installation.custom_resources.iter().rev() {
        let answer = request(
            cfn,
            &engine,
            &installation.account_id,
            &installation.region,
            "Delete",
            &run.logical_id,
            &run.resource_type,
            &run.properties,
            Some(run),
        )
        .await?;
        if answer.status != "SUCCESS" {
            return Err(err(format!(
                "{where_}: deleting {} FAILED: {}",
                run.logical_id,
                answer.reason.as_deref().unwrap_or("(no reason)")
            )));
        }
        answers.push(answer);
    }
    let events = aws_sdk_eventbridge::Client::new(&installation.sdk);
    for name in &installation.deletable.rule_names {
        events
            .remove_targets()
            .rule(name)
            .ids("queue")
            .send()
            .await
            .map_err(aws(&format!("{where_}: events:RemoveTargets {name}")))?;
        events
            .delete_rule()
            .name(name)
            .send()
            .await
            .map_err(aws(&format!("{where_}: events:DeleteRule {name}")))?;
    }
    let sns = aws_sdk_sns::Client::new(&installation.sdk);
    for arn in &installation.deletable.topic_arns {
        sns.delete_topic()
            .topic_arn(arn)
            .send()
            .await
            .map_err(aws(&format!("{where_}: sns:DeleteTopic {arn}")))?;
    }
    let sqs = installation.sqs();
    for url in &installation.deletable.queue_urls {
        sqs.delete_queue()
            .queue_url(url)
            .send()
            .await
            .map_err(aws(&format!("{where_}: sqs:DeleteQueue {url}")))?;
    }
    Ok(answers)
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
pub(crate) fn properties(
    eval: &Evaluation<'_>,
    logical_id: &str,
    attributes: &BTreeMap<(String, String), Value>,
) -> Result<Value> {
    let props = eval
        .properties_with(logical_id, attributes)
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
pub(crate) fn number(value: &Value) -> Option<i64> {
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
