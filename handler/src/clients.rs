//! AWS SDK clients, built once per cold start and shared by every invocation.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Every client the handler uses, for the function's own region, plus lazily built Backup
/// clients for other regions.
#[derive(Debug)]
pub struct AwsClients {
    config: SdkConfig,
    pub backup: aws_sdk_backup::Client,
    pub organizations: aws_sdk_organizations::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    regional_backup: Mutex<HashMap<String, aws_sdk_backup::Client>>,
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

    pub fn from_config(config: SdkConfig) -> Self {
        Self {
            backup: aws_sdk_backup::Client::new(&config),
            organizations: aws_sdk_organizations::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            tagging: aws_sdk_resourcegroupstagging::Client::new(&config),
            regional_backup: Mutex::new(HashMap::new()),
            config,
        }
    }

    /// Clients built elsewhere (tests with mocked clients, or another endpoint per service).
    /// `config` serves the region and any per-region Backup clients.
    pub fn from_parts(
        config: SdkConfig,
        backup: aws_sdk_backup::Client,
        organizations: aws_sdk_organizations::Client,
        sns: aws_sdk_sns::Client,
        sqs: aws_sdk_sqs::Client,
        tagging: aws_sdk_resourcegroupstagging::Client,
    ) -> Self {
        Self {
            config,
            backup,
            organizations,
            sns,
            sqs,
            tagging,
            regional_backup: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration the clients were built from (for clients built on first use).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    pub fn region(&self) -> Option<&str> {
        self.config.region().map(Region::as_ref)
    }

    /// A Backup client for `region`, built on first use.
    pub fn backup_in(&self, region: &str) -> aws_sdk_backup::Client {
        if self.region() == Some(region) {
            return self.backup.clone();
        }
        let mut cache = self
            .regional_backup
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache
            .entry(region.to_owned())
            .or_insert_with(|| {
                let conf = aws_sdk_backup::config::Builder::from(&self.config)
                    .region(Region::new(region.to_owned()))
                    .build();
                aws_sdk_backup::Client::from_conf(conf)
            })
            .clone()
    }
}
