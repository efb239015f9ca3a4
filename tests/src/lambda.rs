//! The Lambda in the harness: the real [`Handler`] assembled the way
//! `crossvault_handler::runtime::build_handler_with` assembles it in the `bootstrap` binary, from
//! one stack's environment instead of the process's (every account's handler runs in the
//! harness's one process).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use crossvault_core::{Region, StackConfig};
use crossvault_handler::Handler;
use crossvault_handler::batch::DeadLetters;
use crossvault_handler::clients::AwsClients;
use crossvault_handler::clock::Clock;
use crossvault_handler::custom_resource::{Engine, EngineOptions};
use crossvault_handler::dead_letter::SqsDeadLetters;
use crossvault_handler::pipeline::Pipeline;
use crossvault_handler::resources::handler_configuration::HandlerConfiguration;

/// The user-agent app name of the handler's SDK clients (`app/crossvault-handler`).
pub const HANDLER_APP: &str = "crossvault-handler";

/// The handler's SDK configuration: the account's, with the retry policy the Lambda's
/// `AwsClients::from_env` sets (adaptive, 5 attempts) and the handler's app name.
pub fn handler_sdk(sdk: &SdkConfig) -> SdkConfig {
    sdk.to_builder()
        .retry_config(RetryConfig::adaptive().with_max_attempts(5))
        .app_name(aws_config::AppName::new(HANDLER_APP).expect("a valid app name"))
        .build()
}

/// The handler's clients in `account_id`/`region`, as `AwsClients::from_env` builds them in
/// the Lambda, with one difference the harness needs: each installation gets retry
/// partitions of its own. The SDK keeps a client's retry token bucket and adaptive rate
/// limiter per partition, process-wide; in Lambda one process is one account and region, but
/// the harness runs every account's handler (and parallel tests) in one process, where the
/// default partition (`backup-<region>`) would let one account's throttling slow the others.
pub fn clients(sdk: &SdkConfig, account_id: &str, region: &str) -> AwsClients {
    use aws_sdk_backup::config::retry::RetryPartition;
    let config = handler_sdk(sdk);
    let partition = |service: &str| RetryPartition::new(format!("{service}-{account_id}-{region}"));
    AwsClients::from_parts(
        config.clone(),
        aws_sdk_backup::Client::from_conf(
            aws_sdk_backup::config::Builder::from(&config)
                .retry_partition(partition("backup"))
                .build(),
        ),
        aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&config)
                .retry_partition(partition("organizations"))
                .build(),
        ),
        aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&config)
                .retry_partition(partition("sns"))
                .build(),
        ),
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&config)
                .retry_partition(partition("sqs"))
                .build(),
        ),
        aws_sdk_resourcegroupstagging::Client::from_conf(
            aws_sdk_resourcegroupstagging::config::Builder::from(&config)
                .retry_partition(partition("tagging"))
                .build(),
        ),
    )
}

/// The handler of one stack: custom-resource engine, event pipeline (deciding by `clock`) and,
/// when the stack has one, the dead-letter queue `CROSSVAULT_DEAD_LETTER_QUEUE_URL` names.
pub fn handler(
    clients: &Arc<AwsClients>,
    config: &StackConfig,
    region: Region,
    environment: &BTreeMap<String, String>,
    clock: Arc<dyn Clock>,
) -> Handler {
    let pipeline = Pipeline::new(clients.clone(), config.clone(), region).with_clock(clock);
    let dead_letters = environment
        .get("CROSSVAULT_DEAD_LETTER_QUEUE_URL")
        .filter(|url| !url.is_empty())
        .map(|url| {
            Arc::new(SqsDeadLetters {
                clients: clients.clone(),
                queue_url: url.clone(),
            }) as Arc<dyn DeadLetters>
        });
    // The configuration check reads the function's environment, which here is the template's
    // (the harness process has no CROSSVAULT_* variables of its own).
    let function_environment = environment.clone();
    let configuration =
        HandlerConfiguration::with_environment(Arc::new(move || function_environment.clone()));
    let engine = crossvault_handler::resources::with_configuration(clients, configuration)
        .into_iter()
        .fold(
            Engine::new(
                crossvault_handler::runtime::http_client(),
                EngineOptions::default(),
            ),
            Engine::register,
        );
    Handler::new(engine, Ok(Arc::new(pipeline)), dead_letters)
}
