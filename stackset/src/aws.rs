//! The AWS clients a run needs, built once: CloudFormation in the StackSet's region (and, when
//! it differs, in the management stack's region / account), Organizations, STS, and one S3
//! client per target region (artifact buckets are regional).
//!
//! Endpoints, credentials and the profile come from the usual AWS settings (`AWS_PROFILE`,
//! `AWS_ENDPOINT_URL`, ...) or `--profile` / `--endpoint-url`. Every client carries the same
//! interceptors, so a caller (tests, `scripts/bench`) can see each request that goes out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::types::CallAs;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::error::CliError;

/// How to reach AWS: the global flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsArgs {
    /// AWS profile (default: AWS_PROFILE, then `default`).
    #[arg(long, global = true, env = "AWS_PROFILE", hide_env_values = true)]
    pub profile: Option<String>,
    /// Endpoint for every AWS service (e.g. a local emulator); default: the usual AWS settings.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

/// What an embedding program (tests, the demo, benchmarks) may give instead of the environment.
#[derive(Clone, Default)]
pub struct Environment {
    /// Use this configuration (endpoint, credentials) instead of loading one.
    pub sdk_config: Option<SdkConfig>,
    /// Added to every client.
    pub interceptors: Vec<SharedInterceptor>,
    /// Delays between polls and retries (tests shorten them).
    pub timing: Timing,
}

/// Delays crossvault waits between polls of a running operation and between retries of a
/// call AWS refused because another operation was in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub first_poll: Duration,
    pub max_poll: Duration,
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// Attempts for OperationInProgress / throttled calls before giving up.
    pub attempts: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            first_poll: Duration::from_secs(2),
            max_poll: Duration::from_secs(20),
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(60),
            attempts: 10,
        }
    }
}

impl Timing {
    /// No waiting: for tests against emulators and mocks.
    pub fn immediate() -> Self {
        Self {
            first_poll: Duration::from_millis(5),
            max_poll: Duration::from_millis(20),
            first_retry: Duration::from_millis(1),
            max_retry: Duration::from_millis(5),
            attempts: 5,
        }
    }
}

/// The clients of one run.
#[derive(Clone, Debug)]
pub struct Clients {
    pub sdk: SdkConfig,
    /// CloudFormation where the StackSet lives.
    pub cfn: aws_sdk_cloudformation::Client,
    /// CloudFormation for the management account's plain stack (its region; its account when
    /// a role is given).
    pub cfn_management: aws_sdk_cloudformation::Client,
    pub organizations: aws_sdk_organizations::Client,
    pub sts: aws_sdk_sts::Client,
    /// One per target region.
    pub s3: BTreeMap<String, aws_sdk_s3::Client>,
    /// `DELEGATED_ADMIN` on every StackSet call when configured.
    pub call_as: Option<CallAs>,
    pub timing: Timing,
}

/// Which clients a command needs.
#[derive(Debug, Clone, Default)]
pub struct ClientPlan {
    pub stack_set_region: String,
    pub management_region: String,
    pub management_role_arn: Option<String>,
    pub s3_regions: Vec<String>,
    pub delegated_admin: bool,
}

/// Loads the SDK configuration from the environment and the flags.
pub async fn load_sdk_config(args: &AwsArgs, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // Adaptive retry: throttling across hundreds of accounts slows crossvault down
        // instead of failing it.
        .retry_config(RetryConfig::adaptive().with_max_attempts(8));
    if let Some(profile) = &args.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &args.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    loader.load().await
}

impl Clients {
    /// Builds every client of `plan` from `sdk`.
    pub async fn build(
        sdk: &SdkConfig,
        plan: &ClientPlan,
        env: &Environment,
    ) -> Result<Self, CliError> {
        let interceptors = &env.interceptors;
        let in_region = |region: &str| {
            sdk.to_builder()
                .region(Region::new(region.to_owned()))
                .build()
        };
        let cfn_in = |config: &SdkConfig| {
            let mut b = aws_sdk_cloudformation::config::Builder::from(config);
            for i in interceptors {
                b.push_interceptor(i.clone());
            }
            aws_sdk_cloudformation::Client::from_conf(b.build())
        };
        let stack_set_config = in_region(&plan.stack_set_region);
        let cfn = cfn_in(&stack_set_config);
        let management_config = in_region(&plan.management_region);
        let cfn_management = match &plan.management_role_arn {
            None => cfn_in(&management_config),
            Some(role_arn) => {
                let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
                    .session_name("crossvault-management-stack")
                    .configure(&management_config)
                    .build()
                    .await;
                let assumed = management_config
                    .to_builder()
                    .credentials_provider(
                        aws_sdk_cloudformation::config::SharedCredentialsProvider::new(provider),
                    )
                    .build();
                cfn_in(&assumed)
            }
        };
        // Organizations is global: the SDK resolves every region of a partition to its one
        // endpoint.
        let organizations = {
            let mut b = aws_sdk_organizations::config::Builder::from(&stack_set_config);
            for i in interceptors {
                b.push_interceptor(i.clone());
            }
            aws_sdk_organizations::Client::from_conf(b.build())
        };
        let sts = {
            let mut b = aws_sdk_sts::config::Builder::from(&stack_set_config);
            for i in interceptors {
                b.push_interceptor(i.clone());
            }
            aws_sdk_sts::Client::from_conf(b.build())
        };
        // A custom endpoint (an emulator, a VPC endpoint) serves buckets by path, not by
        // virtual host name.
        let path_style = sdk.endpoint_url().is_some();
        let s3 = plan
            .s3_regions
            .iter()
            .map(|region| {
                let mut b = aws_sdk_s3::config::Builder::from(&in_region(region))
                    .force_path_style(path_style);
                for i in interceptors {
                    b.push_interceptor(i.clone());
                }
                (region.clone(), aws_sdk_s3::Client::from_conf(b.build()))
            })
            .collect();
        Ok(Self {
            sdk: sdk.clone(),
            cfn,
            cfn_management,
            organizations,
            sts,
            s3,
            call_as: plan.delegated_admin.then_some(CallAs::DelegatedAdmin),
            timing: env.timing,
        })
    }

    /// The S3 client of `region` (every target region has one).
    pub fn s3(&self, region: &str) -> Result<&aws_sdk_s3::Client, CliError> {
        self.s3.get(region).ok_or_else(|| {
            CliError::Internal(format!("no S3 client was built for region {region}"))
        })
    }
}

/// One request as it went out (every attempt counts, retries included).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordedRequest {
    pub service: String,
    pub operation: String,
    /// The request body when it is small text (CloudFormation's and STS's query protocol
    /// bodies, where `CallAs` travels); empty otherwise.
    pub body: String,
}

/// An interceptor that records every request: the proof of what crossvault asked of AWS.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl RequestLog {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn interceptor(&self) -> SharedInterceptor {
        SharedInterceptor::new(self.clone())
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().expect("request log lock").clone()
    }

    pub fn clear(&self) {
        self.requests.lock().expect("request log lock").clear();
    }

    /// Requests per `service:operation`.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.requests() {
            *counts
                .entry(format!("{}:{}", r.service, r.operation))
                .or_insert(0) += 1;
        }
        counts
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "crossvault.RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_default();
        let body = context
            .request()
            .body()
            .bytes()
            .filter(|b| b.len() <= 1 << 20)
            .and_then(|b| std::str::from_utf8(b).ok())
            .filter(|_| service != "S3")
            .unwrap_or_default()
            .to_owned();
        self.requests
            .lock()
            .expect("request log lock")
            .push(RecordedRequest {
                service,
                operation,
                body,
            });
        Ok(())
    }
}

/// CloudFormation operations that change something (for "no write call" claims).
pub fn is_cloudformation_write(operation: &str) -> bool {
    !(operation.starts_with("Describe")
        || operation.starts_with("List")
        || operation.starts_with("Get")
        || operation.starts_with("Validate")
        || operation == "EstimateTemplateCost")
}
