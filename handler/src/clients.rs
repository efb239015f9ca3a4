//! AWS SDK clients, each built when an invocation first needs it and then shared by every
//! later invocation of the execution environment. A Backup event never pays for the
//! Organizations or SQS client it does not use; a custom resource never pays for tagging.

use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

/// A value built on first use (then kept). Derefs to the value, so `clients.backup.clone()`
/// is a Backup client.
pub struct Lazy<T> {
    cell: OnceLock<T>,
    make: Box<dyn Fn() -> T + Send + Sync>,
}

impl<T> Lazy<T> {
    /// Built by `make` on first use.
    pub fn new(make: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self {
            cell: OnceLock::new(),
            make: Box::new(make),
        }
    }

    /// Already built (tests with mocked clients).
    pub fn ready(value: T) -> Self {
        Self {
            cell: OnceLock::from(value),
            make: Box::new(|| unreachable!("a ready Lazy is never built")),
        }
    }

    /// Whether it has been built (for tests and the benchmark).
    pub fn is_built(&self) -> bool {
        self.cell.get().is_some()
    }
}

impl<T> Deref for Lazy<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.cell.get_or_init(|| (self.make)())
    }
}

impl<T> fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_built() {
            "Lazy(built)"
        } else {
            "Lazy(not built)"
        })
    }
}

/// Session name of the verify role's sessions (visible in the backup account's CloudTrail).
pub const VERIFY_SESSION_NAME: &str = "crossvault-verify";

/// Credentials of an assumed role are reused until this long before they expire.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(120);

/// Every client the handler uses, for the function's own region, plus clients for other
/// regions (SNS topics elsewhere) and for the backup account's verify role.
pub struct AwsClients {
    config: SdkConfig,
    pub backup: Lazy<aws_sdk_backup::Client>,
    pub organizations: Lazy<aws_sdk_organizations::Client>,
    pub sns: Lazy<aws_sdk_sns::Client>,
    pub sqs: Lazy<aws_sdk_sqs::Client>,
    pub tagging: Lazy<aws_sdk_resourcegroupstagging::Client>,
    pub sts: Lazy<aws_sdk_sts::Client>,
    /// The pre-prod refresh's clients (and SSM for the Slack webhook in every role).
    pub rds: Lazy<aws_sdk_rds::Client>,
    pub ssm: Lazy<aws_sdk_ssm::Client>,
    pub dynamodb: Lazy<aws_sdk_dynamodb::Client>,
    pub efs: Lazy<aws_sdk_efs::Client>,
    pub route53: Lazy<aws_sdk_route53::Client>,
    /// Describes the keys of RDS and Aurora points (an AWS managed key takes the
    /// re-encryption route).
    pub kms: Lazy<aws_sdk_kms::Client>,
    regional_sns: Mutex<HashMap<String, aws_sdk_sns::Client>>,
    verify: tokio::sync::Mutex<HashMap<(String, String), (aws_sdk_backup::Client, SystemTime)>>,
    verify_backup_override: Option<aws_sdk_backup::Client>,
}

impl fmt::Debug for AwsClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsClients")
            .field("region", &self.region())
            .field("backup", &self.backup)
            .field("organizations", &self.organizations)
            .field("sns", &self.sns)
            .field("sqs", &self.sqs)
            .field("tagging", &self.tagging)
            .field("sts", &self.sts)
            .field("rds", &self.rds)
            .field("ssm", &self.ssm)
            .field("kms", &self.kms)
            .finish_non_exhaustive()
    }
}

fn lazy<T: 'static>(config: &SdkConfig, make: fn(&SdkConfig) -> T) -> Lazy<T> {
    let config = config.clone();
    Lazy::new(move || make(&config))
}

impl AwsClients {
    /// Loads configuration from the environment (credentials, region, and the
    /// `AWS_ENDPOINT_URL[_<SERVICE>]` overrides the test bed uses).
    ///
    /// Adaptive retry: AWS Backup allows only about five mutating calls per second per account,
    /// and adaptive mode slows the client down when it is throttled instead of burning its
    /// attempts at full speed.
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::adaptive().with_max_attempts(5))
            .load()
            .await;
        Self::from_config(config)
    }

    /// Clients on `config`, each built on first use.
    pub fn from_config(config: SdkConfig) -> Self {
        Self {
            backup: lazy(&config, aws_sdk_backup::Client::new),
            organizations: lazy(&config, aws_sdk_organizations::Client::new),
            sns: lazy(&config, aws_sdk_sns::Client::new),
            sqs: lazy(&config, aws_sdk_sqs::Client::new),
            tagging: lazy(&config, aws_sdk_resourcegroupstagging::Client::new),
            sts: lazy(&config, aws_sdk_sts::Client::new),
            rds: lazy(&config, aws_sdk_rds::Client::new),
            ssm: lazy(&config, aws_sdk_ssm::Client::new),
            dynamodb: lazy(&config, aws_sdk_dynamodb::Client::new),
            efs: lazy(&config, aws_sdk_efs::Client::new),
            route53: lazy(&config, aws_sdk_route53::Client::new),
            kms: lazy(&config, aws_sdk_kms::Client::new),
            regional_sns: Mutex::new(HashMap::new()),
            verify: tokio::sync::Mutex::new(HashMap::new()),
            verify_backup_override: None,
            config,
        }
    }

    /// Clients built elsewhere (tests with mocked clients, or another endpoint per service).
    /// `config` serves the region and the clients not given (STS, other regions).
    pub fn from_parts(
        config: SdkConfig,
        backup: aws_sdk_backup::Client,
        organizations: aws_sdk_organizations::Client,
        sns: aws_sdk_sns::Client,
        sqs: aws_sdk_sqs::Client,
        tagging: aws_sdk_resourcegroupstagging::Client,
    ) -> Self {
        Self {
            backup: Lazy::ready(backup),
            organizations: Lazy::ready(organizations),
            sns: Lazy::ready(sns),
            sqs: Lazy::ready(sqs),
            tagging: Lazy::ready(tagging),
            ..Self::from_config(config)
        }
    }

    /// The configuration the clients were built from (for clients built on first use).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    /// The same clients with this STS client (tests).
    pub fn with_sts(mut self, sts: aws_sdk_sts::Client) -> Self {
        self.sts = Lazy::ready(sts);
        self
    }

    /// The same clients with these refresh clients (tests with mocked clients).
    pub fn with_refresh_clients(
        mut self,
        rds: aws_sdk_rds::Client,
        ssm: aws_sdk_ssm::Client,
    ) -> Self {
        self.rds = Lazy::ready(rds);
        self.ssm = Lazy::ready(ssm);
        self
    }

    /// The same clients with this KMS client (tests).
    pub fn with_kms(mut self, kms: aws_sdk_kms::Client) -> Self {
        self.kms = Lazy::ready(kms);
        self
    }

    /// The same clients with this SNS client for topics in `region` (tests).
    pub fn with_sns_in(self, region: &str, sns: aws_sdk_sns::Client) -> Self {
        self.regional_sns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(region.to_owned(), sns);
        self
    }

    /// The same clients, where the verify role's Backup client is `backup` once the role has
    /// been assumed (tests: the mocked STS answer carries no usable credentials).
    pub fn with_verify_backup(mut self, backup: aws_sdk_backup::Client) -> Self {
        self.verify_backup_override = Some(backup);
        self
    }

    pub fn region(&self) -> Option<&str> {
        self.config.region().map(Region::as_ref)
    }

    /// An SNS client for topics in `region` (the default one for the function's own region),
    /// built on first use.
    pub fn sns_in(&self, region: &str) -> aws_sdk_sns::Client {
        if self.region() == Some(region) {
            return self.sns.clone();
        }
        let mut cache = self.regional_sns.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(region.to_owned())
            .or_insert_with(|| {
                let conf = aws_sdk_sns::config::Builder::from(&self.config)
                    .region(Region::new(region.to_owned()))
                    .build();
                aws_sdk_sns::Client::from_conf(conf)
            })
            .clone()
    }

    /// A Backup client in `region` acting as `role_arn` (the backup account's read-only verify
    /// role), assumed through this region's STS endpoint. Credentials are reused until shortly
    /// before they expire.
    pub async fn backup_as(
        &self,
        role_arn: &str,
        region: &str,
    ) -> Result<aws_sdk_backup::Client, SdkError<AssumeRoleError, HttpResponse>> {
        let key = (role_arn.to_owned(), region.to_owned());
        let mut cache = self.verify.lock().await;
        if let Some((client, expires)) = cache.get(&key)
            && SystemTime::now() + CREDENTIALS_MARGIN < *expires
        {
            return Ok(client.clone());
        }
        let assumed = self
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(VERIFY_SESSION_NAME)
            .duration_seconds(900)
            .send()
            .await?;
        let expires = assumed
            .credentials()
            .and_then(|c| SystemTime::try_from(c.expiration).ok())
            .unwrap_or_else(|| SystemTime::now() + CREDENTIALS_MARGIN);
        let client = match (&self.verify_backup_override, assumed.credentials()) {
            (Some(client), _) => client.clone(),
            (None, Some(c)) => {
                let credentials = aws_sdk_backup::config::Credentials::new(
                    c.access_key_id(),
                    c.secret_access_key(),
                    Some(c.session_token().to_owned()),
                    Some(expires),
                    VERIFY_SESSION_NAME,
                );
                let conf = aws_sdk_backup::config::Builder::from(&self.config)
                    .region(Region::new(region.to_owned()))
                    .credentials_provider(credentials)
                    .build();
                aws_sdk_backup::Client::from_conf(conf)
            }
            (None, None) => {
                return Err(SdkError::construction_failure(
                    "sts:AssumeRole returned no credentials",
                ));
            }
        };
        cache.insert(key, (client.clone(), expires));
        Ok(client)
    }
}
