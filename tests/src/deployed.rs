//! crossvault deployed the way a user deploys it: `crossvault deploy` (the CLI's own code path,
//! in-process through `crossvault_stackset::run_with`) publishes the handler zip to an artifact
//! bucket in every region, creates the service-managed StackSet and its instances for the
//! organization, then the management account's plain stack. moto's CloudFormation creates each
//! stack for real: IAM roles, queues, event rules, the topic, the Lambda function and its event
//! source mapping (the test bed makes a stack wait for its custom resources, as AWS does:
//! `tests/testbed/crossvault_testbed/cloudformation.py`).
//!
//! What the test bed cannot do is run the Lambda. So the harness plays only that part, for
//! every stack of the deployment:
//!
//! - **custom resources**: each one CloudFormation is waiting for (`ListStackResources`:
//!   `CREATE_IN_PROGRESS`) goes through the handler's real custom-resource `Engine`, with the
//!   properties the template model resolves for that account and region ([`install`]'s code:
//!   `!GetAtt` of the custom resources answered before filled in from their `Data`). The
//!   handler answers to a local ResponseURL, as in AWS it answers to a presigned S3 URL that
//!   CloudFormation reads; the harness hands that body, unchanged, to moto's own response URL
//!   (`/cloudformation_<region>/cfnresponse?stack=<stack ARN>`), and the stack goes on;
//! - **adoption**: once the stack is `CREATE_COMPLETE`, its queues, rules and topic are read
//!   from the stack (`ListStackResources`) and checked against what the template model says
//!   they must be (queue attributes and redrive, rule patterns and targets, the topic's KMS
//!   key, which comes from a custom resource's `Data`); a difference is an error, never used;
//!   nothing of the stack is created by the harness. It then subscribes one observer queue to
//!   the topic (app `crossvault-observer`; in AWS, the optional e-mail subscription) and
//!   shortens the event queue's visibility timeout (the runner retries failed records within
//!   the night);
//! - **the Lambda itself**: the real [`Handler`](crossvault_handler::Handler) with the
//!   configuration the template model evaluates (the deployed dead-letter queue's URL filled
//!   in), and the event source mapping's batch size and concurrency from the model: the
//!   harness has no Lambda client, and the test bed keeps the mapping without running it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use crossvault_handler::custom_resource::Engine;
use crossvault_stackset::aws::{Environment, Timing};
use crossvault_stackset::template::{
    CustomResource, Evaluation, Pseudo, custom_resources, event_rules,
};
use serde_json::Value;

use crate::install::{
    self, CustomResourceRun, Deletable, Installation, Overrides, Parts, Request, template,
};
use crate::org::{Org, PRIMARY_REGION, REGIONS};
use crate::{Result, aws, err};

/// The user-agent app name of the CLI's clients here (`app/crossvault-cli` in the test bed's
/// request log).
pub const CLI_APP: &str = "crossvault-cli";
pub const STACK_SET_NAME: &str = "crossvault";
pub const MANAGEMENT_STACK_NAME: &str = "crossvault-management";
/// How long the harness waits for the deployment (and `deploy --timeout`).
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(200);

/// What `crossvault deploy` did, and the stacks it left.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Where the stand-in `bootstrap`, its zip and the configuration file were written.
    pub dir: PathBuf,
    pub config_path: PathBuf,
    /// `ArtifactKey`, from `crossvault build`.
    pub artifact_key: String,
    pub exit_code: i32,
    /// The deploy's result (stdout): what was published, the StackSet, the management stack,
    /// the per-account/region table.
    pub output: String,
    /// Its progress lines (stderr).
    pub progress: String,
    /// Every stack of the deployment, in the order of [`Org::installations`].
    pub stacks: Vec<DeployedStack>,
}

/// One stack of the deployment as CloudFormation reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedStack {
    pub account_id: String,
    pub region: String,
    pub stack_name: String,
    pub stack_id: String,
    pub status: String,
    /// The custom resources the harness answered for it, in the order CloudFormation asked.
    pub answered: Vec<String>,
}

/// The `crossvault.config.yaml` a user would write for this organization: the StackSet
/// service-managed on the organization's root, both regions, the organization's parameters;
/// the management stack in the primary region.
pub fn config_text(org: &Org, zip: &Path) -> String {
    let p = &org.params;
    // Every other parameter the organization sets (e.g. the pre-prod refresh's), as a user
    // adds it to the file; a JSON string is a YAML double-quoted string.
    let written = [
        "BackupAccountId",
        "BackupRegion",
        "BackupRegionAlternate",
        "PreProdAccountIds",
        "ManagementAccountId",
        "ArtifactBucketPrefix",
        "ArtifactKey",
    ];
    let more: String = p
        .iter()
        .filter(|(k, _)| !written.contains(&k.as_str()))
        .map(|(k, v)| format!("  {k}: {}\n", serde_json::Value::from(v.as_str())))
        .collect();
    format!(
        "# crossvault.config.yaml for the emulated organization {org_id} (written by the demo)\n\
         stack_set_name: {STACK_SET_NAME}\n\
         stack_set_region: {PRIMARY_REGION}\n\
         permission_model: service-managed\n\
         organizational_unit_ids: [{root}]\n\
         regions: [{regions}]\n\
         artifact_bucket_prefix: {prefix}\n\
         artifact: {zip}\n\
         management_stack:\n  stack_name: {MANAGEMENT_STACK_NAME}\n  region: {PRIMARY_REGION}\n\
         parameters:\n  BackupAccountId: \"{backup}\"\n  BackupRegion: {backup_region}\n  \
         BackupRegionAlternate: {alternate}\n  PreProdAccountIds: [\"{preprod}\"]\n  \
         ManagementAccountId: \"{management}\"\n{more}",
        org_id = org.organization.organization_id,
        root = org.organization.root_id,
        regions = REGIONS.join(", "),
        prefix = artifact_bucket_prefix(org),
        zip = zip.display(),
        backup = p["BackupAccountId"],
        backup_region = p["BackupRegion"],
        alternate = p["BackupRegionAlternate"],
        preprod = p["PreProdAccountIds"],
        management = p["ManagementAccountId"],
    )
}

/// `<prefix>-<region>` must be a bucket name nobody else on the test bed uses.
pub fn artifact_bucket_prefix(org: &Org) -> String {
    format!("crossvault-artifacts-{}", org.organization.organization_id)
}

/// The CLI as a user runs it, in-process; returns (exit code, stdout, stderr).
pub async fn cli(sdk: Option<SdkConfig>, args: &[&str]) -> (i32, String, String) {
    cli_with(sdk, Vec::new(), args).await
}

/// [`cli`] with interceptors on every client the CLI makes.
pub async fn cli_with(
    sdk: Option<SdkConfig>,
    interceptors: Vec<SharedInterceptor>,
    args: &[&str],
) -> (i32, String, String) {
    let env = Environment {
        sdk_config: sdk,
        interceptors,
        // The test bed answers at once; AWS's pace (seconds) would only slow the demo.
        timing: Timing {
            first_poll: Duration::from_millis(50),
            max_poll: Duration::from_millis(250),
            ..Timing::immediate()
        },
    };
    let args: Vec<std::ffi::OsString> = std::iter::once("crossvault")
        .chain(args.iter().copied())
        .map(Into::into)
        .collect();
    // A thread of its own, not `spawn_blocking`: when the harness gives up on a deployment, the
    // process must not wait at exit for a deploy still polling until its `--timeout`.
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let (mut out, mut errors) = (Vec::new(), Vec::new());
        let code = crossvault_stackset::run_with(
            args,
            &mut out,
            &mut errors,
            &env,
            crossvault_stackset::Colors::default(),
        );
        let _ = done.send((
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&errors).into_owned(),
        ));
    });
    result
        .await
        .unwrap_or_else(|_| (101, String::new(), "the CLI panicked".to_owned()))
}

/// The stand-in `bootstrap`: the test bed stores Lambda code without running it (the harness
/// runs the handler library in-process), so no release build is needed; `crossvault build
/// --binary` packages it exactly as it packages a real one.
const STAND_IN_BOOTSTRAP: &str = "#!/bin/sh\n\
    # crossvault demo stand-in: the local test bed never runs Lambda code; the harness runs\n\
    # the handler library in-process instead.\n\
    exit 1\n";

async fn package(dir: &Path) -> Result<(PathBuf, String)> {
    let bootstrap = dir.join("bootstrap");
    std::fs::write(&bootstrap, STAND_IN_BOOTSTRAP)
        .map_err(|e| err(format!("writing {}: {e}", bootstrap.display())))?;
    let (code, out, errors) = cli(
        None,
        &[
            "build",
            "--binary",
            &bootstrap.display().to_string(),
            "--out-dir",
            &dir.display().to_string(),
            "-q",
            "-o",
            "json",
        ],
    )
    .await;
    if code != 0 {
        return Err(err(format!(
            "crossvault build --binary exited {code}: {errors}"
        )));
    }
    let report: Value = serde_json::from_str(&out)
        .map_err(|e| err(format!("crossvault build -o json: {e}: {out}")))?;
    let field = |name: &str| {
        report[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| err(format!("crossvault build -o json has no {name}: {out}")))
    };
    Ok((PathBuf::from(field("zip_path")?), field("s3_key")?))
}

/// Which stacks the deploy has asked CloudFormation for: an interceptor on the CLI's clients
/// sees `CreateStackInstances` and `CreateStack` succeed, as Lambda would see CloudFormation's
/// first request; before that there is nothing to look for.
#[derive(Debug, Clone, Default)]
struct Started {
    instances: Arc<AtomicBool>,
    management: Arc<AtomicBool>,
}

impl Started {
    fn asked(&self, management: bool) -> bool {
        if management {
            self.management.load(Ordering::SeqCst)
        } else {
            self.instances.load(Ordering::SeqCst)
        }
    }
}

impl Intercept for Started {
    fn name(&self) -> &'static str {
        "crossvault-tests.Started"
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let succeeded = matches!(context.output_or_error(), Some(Ok(_)));
        match cfg.load::<Metadata>().map(|m| m.name()) {
            Some("CreateStackInstances") if succeeded => {
                self.instances.store(true, Ordering::SeqCst)
            }
            Some("CreateStack") if succeeded => self.management.store(true, Ordering::SeqCst),
            _ => {}
        }
        Ok(())
    }
}

/// One stack the harness plays the Lambda for.
struct Play {
    account_id: String,
    region: String,
    management: bool,
    eval: Evaluation<'static>,
    /// The account's configuration in this region, made once.
    sdk: Option<SdkConfig>,
    stack: Option<(String, String)>,
    status: String,
    environment: Option<BTreeMap<String, String>>,
    engine: Option<Arc<Engine>>,
    attributes: BTreeMap<(String, String), Value>,
    runs: Vec<CustomResourceRun>,
    answered: BTreeSet<String>,
    installation: Option<Installation>,
}

/// A stack's resource as `ListStackResources` reports it.
#[derive(Debug, Clone)]
struct StackResource {
    logical_id: String,
    resource_type: String,
    physical_id: String,
    status: String,
    reason: Option<String>,
}

impl Org {
    /// Deploys crossvault with `crossvault deploy` and plays the Lambda for every stack until
    /// each is `CREATE_COMPLETE`; then every stack is an [`Installation`], as [`Org::install`]
    /// makes them.
    pub async fn deploy(&mut self) -> Result<Deployment> {
        self.deploy_with(&Overrides::default()).await
    }

    pub async fn deploy_with(&mut self, overrides: &Overrides) -> Result<Deployment> {
        let dir = std::env::temp_dir().join(format!(
            "crossvault-deployed-{}-{}",
            self.organization.organization_id,
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
        let (zip, artifact_key) = package(&dir).await?;
        let config_path = dir.join("crossvault.config.yaml");
        std::fs::write(&config_path, config_text(self, &zip))
            .map_err(|e| err(format!("writing {}: {e}", config_path.display())))?;
        // The stacks get these two from the deployment; the model must evaluate the same.
        self.params
            .insert("ArtifactBucketPrefix".into(), artifact_bucket_prefix(self));
        self.params
            .insert("ArtifactKey".into(), artifact_key.clone());

        let mut plays = Vec::new();
        let mut targets = vec![(self.ids.management.clone(), PRIMARY_REGION.to_owned())];
        for account in self.ids.all().into_iter().skip(1) {
            for region in REGIONS {
                targets.push((account.clone(), region.to_owned()));
            }
        }
        for (account_id, region) in targets {
            let eval = template()
                .evaluate(&self.params, &Pseudo::new(&account_id, &region))
                .map_err(|e| err(format!("template for {account_id}/{region}: {e}")))?;
            plays.push(Play {
                management: account_id == self.ids.management,
                account_id,
                region,
                eval,
                sdk: None,
                stack: None,
                status: String::new(),
                environment: None,
                engine: None,
                attributes: BTreeMap::new(),
                runs: Vec::new(),
                answered: BTreeSet::new(),
                installation: None,
            });
        }

        let sdk = self
            .sdk(&self.ids.management, PRIMARY_REGION)
            .await?
            .to_builder()
            .app_name(aws_config::AppName::new(CLI_APP).expect("a valid app name"))
            .build();
        let timeout = format!("{}s", DEPLOY_TIMEOUT.as_secs());
        let config_arg = config_path.display().to_string();
        let started = Started::default();
        let watch = started.clone();
        let deploy = async move {
            cli_with(
                Some(sdk),
                vec![SharedInterceptor::new(watch)],
                &[
                    "deploy",
                    "--config",
                    &config_arg,
                    "--timeout",
                    &timeout,
                    "-q",
                ],
            )
            .await
        };

        // Each stack at its own pace, as CloudFormation runs them; the deploy alongside, which
        // waits for the management stack the harness answers.
        let deadline = tokio::time::Instant::now() + DEPLOY_TIMEOUT;
        let (exit_code, output, progress) = {
            let stacks = futures::future::try_join_all(
                plays
                    .iter_mut()
                    .map(|play| self.play_until_adopted(play, &started, overrides, deadline)),
            );
            tokio::pin!(deploy, stacks);
            let mut result = None;
            let mut adopted = false;
            while result.is_none() || !adopted {
                tokio::select! {
                    outcome = &mut deploy, if result.is_none() => {
                        let (code, out, errors) = &outcome;
                        if *code != 0 {
                            return Err(err(format!(
                                "crossvault deploy exited {code}:\n{out}\n{errors}"
                            )));
                        }
                    result = Some(outcome);
                    }
                    outcome = &mut stacks, if !adopted => {
                        outcome?;
                        adopted = true;
                    }
                }
            }
            result.expect("the deploy finished")
        };

        let mut stacks = Vec::new();
        for play in plays {
            let (stack_name, stack_id) = play.stack.clone().unwrap_or_default();
            stacks.push(DeployedStack {
                account_id: play.account_id.clone(),
                region: play.region.clone(),
                stack_name,
                stack_id,
                status: play.status.clone(),
                answered: play.runs.iter().map(|r| r.logical_id.clone()).collect(),
            });
            let installation = play.installation.expect("adopted");
            installation.shorten_visibility_timeout().await?;
            self.installations.push(installation);
        }
        Ok(Deployment {
            dir,
            config_path,
            artifact_key,
            exit_code,
            output,
            progress,
            stacks,
        })
    }

    /// Plays the Lambda for one stack until it is adopted (or failed, or `deadline` passed).
    async fn play_until_adopted(
        &self,
        play: &mut Play,
        started: &Started,
        overrides: &Overrides,
        deadline: tokio::time::Instant,
    ) -> Result<()> {
        while play.installation.is_none() {
            let answered = self.step(play, started, overrides).await?;
            if play.installation.is_some() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(err(format!(
                    "{}/{}: the deployment's stack did not complete in {} s ({})",
                    play.account_id,
                    play.region,
                    DEPLOY_TIMEOUT.as_secs(),
                    if play.stack.is_some() {
                        play.status.as_str()
                    } else {
                        "no stack yet"
                    }
                )));
            }
            // An answer makes CloudFormation ask for what waited for it right away; otherwise
            // look again later (every look is a load on the one test bed process).
            if !answered {
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(())
    }

    /// One look at a stack: find it, answer the custom resources it waits for, adopt it once
    /// complete. True when it answered any.
    async fn step(
        &self,
        play: &mut Play,
        started: &Started,
        overrides: &Overrides,
    ) -> Result<bool> {
        let where_ = format!("{}/{}", play.account_id, play.region);
        let sdk = match &play.sdk {
            Some(sdk) => sdk.clone(),
            None => {
                let sdk = self.sdk(&play.account_id, &play.region).await?;
                play.sdk = Some(sdk.clone());
                sdk
            }
        };
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        if play.stack.is_none() {
            // Nothing to look for before the deploy has asked CloudFormation for the stack.
            if !started.asked(play.management) {
                return Ok(false);
            }
            play.stack = find_stack(&cfn, play.management).await?;
        }
        let Some((stack_name, stack_id)) = play.stack.clone() else {
            return Ok(false);
        };
        let resources = list_resources(&cfn, &stack_id).await?;
        if self.answer(play, &sdk, &resources, overrides).await? {
            return Ok(true);
        }
        let described = cfn
            .describe_stacks()
            .stack_name(&stack_id)
            .send()
            .await
            .map_err(aws(&format!("{where_}: cloudformation:DescribeStacks")))?
            .stacks
            .unwrap_or_default()
            .into_iter()
            .next()
            .ok_or_else(|| err(format!("{where_}: stack {stack_id} is gone")))?;
        play.status = described
            .stack_status
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        match play.status.as_str() {
            "CREATE_IN_PROGRESS" => Ok(false),
            "CREATE_COMPLETE" => {
                play.installation = Some(self.adopt(play, sdk, &resources).await?);
                Ok(false)
            }
            other => {
                let failures: Vec<String> = list_resources(&cfn, &stack_id)
                    .await?
                    .iter()
                    .filter(|r| r.status.ends_with("_FAILED"))
                    .map(|r| {
                        format!(
                            "{} ({}): {}",
                            r.logical_id,
                            r.resource_type,
                            r.reason.as_deref().unwrap_or("(no reason)")
                        )
                    })
                    .collect();
                Err(err(format!(
                    "{where_}: stack {stack_name} is {other}: {}; {}",
                    described.stack_status_reason.unwrap_or_default(),
                    failures.join("; ")
                )))
            }
        }
    }

    /// Answers every custom resource the stack waits for, through the handler's engine, and
    /// hands each answer to the stack's response URL. True when it answered any.
    async fn answer(
        &self,
        play: &mut Play,
        sdk: &SdkConfig,
        resources: &[StackResource],
        overrides: &Overrides,
    ) -> Result<bool> {
        let where_ = format!("{}/{}", play.account_id, play.region);
        let waiting: Vec<&StackResource> = resources
            .iter()
            .filter(|r| r.resource_type.starts_with("Custom::"))
            .filter(|r| r.status == "CREATE_IN_PROGRESS" && !play.answered.contains(&r.logical_id))
            .collect();
        if waiting.is_empty() {
            return Ok(false);
        }
        if play.environment.is_none() {
            // The function exists before any custom resource (it is their ServiceToken), and so
            // does every queue its environment names.
            for queue in resources
                .iter()
                .filter(|r| r.resource_type == "AWS::SQS::Queue")
            {
                let arn = queue_arn(sdk, &where_, &queue.physical_id).await?;
                play.attributes.insert(
                    (queue.logical_id.clone(), "Ref".into()),
                    Value::String(queue.physical_id.clone()),
                );
                play.attributes
                    .insert((queue.logical_id.clone(), "Arn".into()), Value::String(arn));
            }
            play.environment = Some(install::environment_of(
                &play.eval,
                &play.attributes,
                &where_,
            )?);
        }
        if play.engine.is_none() {
            // One Lambda execution environment per stack: built once, as Lambda keeps it warm.
            let environment = play.environment.clone().expect("set above");
            let clients = crate::lambda::clients(sdk, &play.account_id, &play.region);
            play.engine = Some(Arc::new(install::engine(&clients, &environment)));
        }
        let engine = play.engine.clone().expect("set above");
        let customs: BTreeMap<String, CustomResource> = custom_resources(&play.eval)
            .map_err(|e| err(format!("{where_}: {e}")))?
            .into_iter()
            .map(|c| (c.logical_id.clone(), c))
            .collect();
        let stack_id = play.stack.as_ref().expect("found").1.clone();
        let mut requests = Vec::new();
        for resource in waiting {
            let custom = customs.get(&resource.logical_id).ok_or_else(|| {
                err(format!(
                    "{where_}: the stack waits for {} ({}), which the template model says does not exist here",
                    resource.logical_id, resource.resource_type
                ))
            })?;
            let properties = install::custom_properties(
                &play.eval,
                custom,
                &play.attributes,
                overrides,
                &where_,
            )?;
            requests.push((custom, properties));
        }
        // What CloudFormation waits for at the same time it asks for at the same time.
        let http = response_client();
        let (account_id, region) = (&play.account_id, &play.region);
        let answers = futures::future::try_join_all(requests.iter().map(|(custom, properties)| {
            let (engine, http, stack_id, where_) = (&*engine, &http, &stack_id, &where_);
            async move {
                let (run, body) = install::request_in(
                    &self.cfn,
                    engine,
                    &Request {
                        account_id,
                        region,
                        stack_id: Some(stack_id),
                        request_type: "Create",
                        logical_id: &custom.logical_id,
                        resource_type: &custom.resource_type,
                        properties,
                        previous: None,
                    },
                )
                .await?;
                // CloudFormation reads the answer from where the handler put it: here, moto's
                // response URL for this stack.
                let url = format!(
                    "{}/cloudformation_{}/cfnresponse?stack={stack_id}",
                    self.testbed.endpoint(),
                    region
                );
                let response = http
                    .put(&url)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| err(format!("{where_}: PUT {url}: {e}")))?;
                if !response.status().is_success() {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    return Err(err(format!(
                        "{where_}: CloudFormation refused the answer for {}: {status} {text}",
                        custom.logical_id
                    )));
                }
                Ok(run)
            }
        }))
        .await?;
        for run in answers {
            for (k, v) in &run.data {
                play.attributes
                    .insert((run.logical_id.clone(), k.clone()), v.clone());
            }
            play.answered.insert(run.logical_id.clone());
            play.runs.push(run);
        }
        Ok(true)
    }

    /// The complete stack as an installation: its resources read from the stack and checked
    /// against the template model.
    async fn adopt(
        &self,
        play: &mut Play,
        sdk: SdkConfig,
        resources: &[StackResource],
    ) -> Result<Installation> {
        let where_ = format!("{}/{}", play.account_id, play.region);
        let eval = &play.eval;
        let by_id: BTreeMap<&str, &StackResource> = resources
            .iter()
            .map(|r| (r.logical_id.as_str(), r))
            .collect();
        let physical = |logical_id: &str| -> Result<String> {
            by_id
                .get(logical_id)
                .map(|r| r.physical_id.clone())
                .ok_or_else(|| {
                    err(format!(
                        "{where_}: the template declares {logical_id} here, the deployed stack has none"
                    ))
                })
        };
        let mut created = Vec::new();
        let mut queue_urls = BTreeMap::new();
        let mut deployed_queues = BTreeMap::new();
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        for resource in eval
            .resources
            .iter()
            .filter(|r| r.resource_type == "AWS::SQS::Queue")
        {
            let id = &resource.logical_id;
            let url = physical(id)?;
            let actual = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .map_err(aws(&format!("{where_}: sqs:GetQueueAttributes {url}")))?
                .attributes
                .unwrap_or_default();
            let arn = actual
                .get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
                .ok_or_else(|| err(format!("{where_}: {url} has no QueueArn")))?;
            play.attributes
                .insert((id.clone(), "Ref".into()), Value::String(url.clone()));
            play.attributes
                .insert((id.clone(), "Arn".into()), Value::String(arn.clone()));
            queue_urls.insert(id.clone(), (url, arn));
            deployed_queues.insert(id.clone(), actual);
        }
        for (id, (url, _)) in &queue_urls {
            let expected = install::properties(eval, id, &play.attributes)?;
            let actual = &deployed_queues[id];
            let get = |name: &str| {
                actual
                    .get(&aws_sdk_sqs::types::QueueAttributeName::from(name))
                    .cloned()
                    .unwrap_or_default()
            };
            let name = expected["QueueName"].as_str().unwrap_or_default();
            same(
                &where_,
                id,
                "QueueName",
                name,
                url.rsplit('/').next().unwrap_or_default(),
            )?;
            for key in ["VisibilityTimeout", "MessageRetentionPeriod"] {
                if let Some(n) = install::number(&expected[key]) {
                    same(&where_, id, key, &n.to_string(), &get(key))?;
                }
            }
            if let Some(redrive) = expected.get("RedrivePolicy") {
                let deployed: Value = serde_json::from_str(&get("RedrivePolicy"))
                    .map_err(|e| err(format!("{where_}: {id} RedrivePolicy: {e}")))?;
                same(
                    &where_,
                    id,
                    "RedrivePolicy.deadLetterTargetArn",
                    redrive["deadLetterTargetArn"].as_str().unwrap_or_default(),
                    deployed["deadLetterTargetArn"].as_str().unwrap_or_default(),
                )?;
                same(
                    &where_,
                    id,
                    "RedrivePolicy.maxReceiveCount",
                    &format!("{:?}", install::number(&redrive["maxReceiveCount"])),
                    &format!("{:?}", install::number(&deployed["maxReceiveCount"])),
                )?;
            }
            created.push(format!("queue {name} ({id})"));
        }

        let events = aws_sdk_eventbridge::Client::new(&sdk);
        for rule in event_rules(eval).map_err(|e| err(format!("{where_}: {e}")))? {
            let name = physical(&rule.logical_id)?;
            let deployed = events
                .describe_rule()
                .name(&name)
                .send()
                .await
                .map_err(aws(&format!("{where_}: events:DescribeRule {name}")))?;
            let targets: Vec<String> = events
                .list_targets_by_rule()
                .rule(&name)
                .send()
                .await
                .map_err(aws(&format!("{where_}: events:ListTargetsByRule {name}")))?
                .targets
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.arn)
                .collect();
            match &rule.event_pattern {
                Some(pattern) => {
                    let deployed_pattern: Value =
                        serde_json::from_str(deployed.event_pattern().unwrap_or("null"))
                            .map_err(|e| err(format!("{where_}: {name} EventPattern: {e}")))?;
                    same(
                        &where_,
                        &rule.logical_id,
                        "EventPattern",
                        &pattern.to_string(),
                        &deployed_pattern.to_string(),
                    )?;
                    let expected: Vec<String> =
                        rule.targets
                            .iter()
                            .map(|t| {
                                queue_urls.get(t).map(|(_, arn)| arn.clone()).ok_or_else(|| {
                                err(format!(
                                    "{where_}: rule {} targets {t}, not a queue of the stack",
                                    rule.logical_id
                                ))
                            })
                            })
                            .collect::<Result<_>>()?;
                    same(
                        &where_,
                        &rule.logical_id,
                        "Targets",
                        &expected.join(","),
                        &targets.join(","),
                    )?;
                    created.push(format!(
                        "rule {} -> {}",
                        rule.logical_id,
                        rule.targets.join(",")
                    ));
                }
                None => {
                    same(
                        &where_,
                        &rule.logical_id,
                        "ScheduleExpression",
                        rule.schedule_expression.as_deref().unwrap_or_default(),
                        deployed.schedule_expression().unwrap_or_default(),
                    )?;
                    created.push(format!(
                        "rule {} ({}; the runner plays the schedule)",
                        rule.logical_id,
                        rule.schedule_expression.as_deref().unwrap_or_default()
                    ));
                }
            }
        }

        let sns = aws_sdk_sns::Client::new(&sdk);
        let mut topic_arn = None;
        let mut notifications_queue_url = None;
        let mut deletable = Deletable::default();
        for resource in eval
            .resources
            .iter()
            .filter(|r| r.resource_type == "AWS::SNS::Topic")
        {
            let id = &resource.logical_id;
            let arn = physical(id)?;
            let expected = install::properties(eval, id, &play.attributes)?;
            let attributes = sns
                .get_topic_attributes()
                .topic_arn(&arn)
                .send()
                .await
                .map_err(aws(&format!("{where_}: sns:GetTopicAttributes {arn}")))?
                .attributes
                .unwrap_or_default();
            let name = expected["TopicName"].as_str().unwrap_or_default();
            same(
                &where_,
                id,
                "TopicName",
                name,
                arn.rsplit(':').next().unwrap_or_default(),
            )?;
            // The key comes from a custom resource's Data (`!GetAtt VaultKey.KeyArn`): the
            // value CloudFormation could only get from the handler's answer.
            let key = expected["KmsMasterKeyId"].as_str().unwrap_or_default();
            same(
                &where_,
                id,
                "KmsMasterKeyId",
                key,
                attributes
                    .get("KmsMasterKeyId")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )?;
            let url = install::observe_topic(&sdk, &where_, name, &arn).await?;
            created.push(format!("topic {name} (KMS key {key})"));
            deletable.queue_urls.push(url.clone());
            topic_arn = Some(arn);
            notifications_queue_url = Some(url);
        }

        let mut lines = vec![format!("by CloudFormation: {}", created.join("; "))];
        lines.extend(play.runs.iter().map(|run| {
            format!(
                "by the handler: {} ({}): {}",
                run.logical_id,
                run.resource_type,
                run.reason.as_deref().unwrap_or("done")
            )
        }));
        let clients = Arc::new(crate::lambda::clients(&sdk, &play.account_id, &play.region));
        install::assemble(Parts {
            eval,
            account_id: &play.account_id,
            region: &play.region,
            sdk,
            clients,
            clock: self.clock.clone(),
            environment: play.environment.clone().unwrap_or_default(),
            attributes: play.attributes.clone(),
            queue_urls,
            topic_arn,
            notifications_queue_url,
            runs: play.runs.clone(),
            created: lines,
            deletable,
        })
    }
}

/// The client that hands the handler's answers to CloudFormation, made once.
fn response_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new).clone()
}

/// The deployment's stack in this account and region: the management stack, or the StackSet
/// instance's `StackSet-crossvault-<uuid>`.
async fn find_stack(
    cfn: &aws_sdk_cloudformation::Client,
    management: bool,
) -> Result<Option<(String, String)>> {
    let summaries = cfn
        .list_stacks()
        .send()
        .await
        .map_err(aws("cloudformation:ListStacks"))?
        .stack_summaries
        .unwrap_or_default();
    let instance_prefix = format!("StackSet-{STACK_SET_NAME}-");
    Ok(summaries
        .into_iter()
        .filter(|s| {
            s.stack_status
                .as_ref()
                .is_none_or(|st| st.as_str() != "DELETE_COMPLETE")
        })
        .find(|s| {
            let name = s.stack_name.as_deref().unwrap_or_default();
            if management {
                name == MANAGEMENT_STACK_NAME
            } else {
                name.starts_with(&instance_prefix)
            }
        })
        .map(|s| {
            (
                s.stack_name.unwrap_or_default(),
                s.stack_id.unwrap_or_default(),
            )
        }))
}

async fn list_resources(
    cfn: &aws_sdk_cloudformation::Client,
    stack_id: &str,
) -> Result<Vec<StackResource>> {
    let summaries = cfn
        .list_stack_resources()
        .stack_name(stack_id)
        .send()
        .await
        .map_err(aws(&format!(
            "cloudformation:ListStackResources {stack_id}"
        )))?
        .stack_resource_summaries
        .unwrap_or_default();
    Ok(summaries
        .into_iter()
        .map(|s| StackResource {
            logical_id: s.logical_resource_id.unwrap_or_default(),
            resource_type: s.resource_type.unwrap_or_default(),
            physical_id: s.physical_resource_id.unwrap_or_default(),
            status: s
                .resource_status
                .map(|st| st.as_str().to_owned())
                .unwrap_or_default(),
            reason: s.resource_status_reason,
        })
        .collect())
}

async fn queue_arn(sdk: &SdkConfig, where_: &str, url: &str) -> Result<String> {
    aws_sdk_sqs::Client::new(sdk)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws(&format!("{where_}: sqs:GetQueueAttributes {url}")))?
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .ok_or_else(|| err(format!("{where_}: {url} has no QueueArn")))
}

/// A deployed value must be what the template model says; a difference is the emulator's
/// mistake (or the template's), and the harness must not build on it.
fn same(where_: &str, logical_id: &str, what: &str, expected: &str, deployed: &str) -> Result<()> {
    if expected == deployed {
        Ok(())
    } else {
        Err(err(format!(
            "{where_}: the deployed {logical_id} has {what} {deployed:?}, the template says {expected:?}"
        )))
    }
}

impl Deployment {
    /// What the demo prints about the deployment: the configuration, the deploy's own result
    /// table, and what the harness did in CloudFormation's stead.
    pub fn summary(&self, overrides: &Overrides) -> String {
        let mut s = String::new();
        let artifact = format!(
            "stand-in bootstrap packaged by `crossvault build --binary` as {}",
            self.artifact_key
        );
        s.push_str(&format!("  {} ({artifact}):\n", self.config_path.display()));
        if let Ok(text) = std::fs::read_to_string(&self.config_path) {
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                s.push_str(&format!("    {line}\n"));
            }
        }
        s.push_str(
            "  crossvault deploy --config crossvault.config.yaml (in-process, as the management account):\n",
        );
        for line in self.output.lines() {
            s.push_str(&format!("    {line}\n"));
        }
        s.push_str(
            "  moto's CloudFormation created every stack (IAM roles, queues, event rules, topics, the Lambda \
             function and its event source mapping); the harness answered the custom resources each stack \
             waited for, through the handler's custom-resource engine:\n",
        );
        for stack in &self.stacks {
            s.push_str(&format!(
                "    {:<12} {:<13} {} {}: {}\n",
                stack.account_id,
                stack.region,
                stack.stack_name,
                stack.status,
                stack.answered.join(", ")
            ));
        }
        if let Some(org) = &overrides.central_vault_org_id {
            s.push_str(&format!(
                "  --foreign-central-policy: the harness sent CentralVaultPolicy a policy admitting {org} instead of this organization\n"
            ));
        }
        s
    }
}
