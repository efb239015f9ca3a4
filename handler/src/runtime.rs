//! Assembly of a [`Handler`] from the environment, shared by the Lambda `bootstrap` and
//! `crossvault invoke`, so both run exactly the same code.

use std::time::Duration;

use std::sync::Arc;

use crossvault_core::{Region, StackConfig};

use crate::batch::DeadLetters;
use crate::clients::AwsClients;
use crate::custom_resource::{Engine, EngineOptions};
use crate::dead_letter::SqsDeadLetters;
use crate::handler::BackupEvents;
use crate::handler::Handler;
use crate::pipeline::Pipeline;
use crate::resources;

/// JSON logs at the level of `CROSSVAULT_LOG_LEVEL` (default info), without ANSI colours or
/// timestamps (CloudWatch adds its own).
pub fn init_tracing() {
    let level = std::env::var("CROSSVAULT_LOG_LEVEL").unwrap_or_else(|_| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{level},aws_smithy_runtime=warn,aws_config=warn,hyper=warn"
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The HTTP client for custom-resource answers: rustls, no proxy look-ups, short connect
/// timeout (a presigned S3 URL answers fast or not at all).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("the HTTP client builds with rustls")
}

pub async fn build_handler() -> Handler {
    let clients = AwsClients::from_env().await;
    build_handler_with(clients, EngineOptions::default())
}

pub fn build_handler_with(clients: AwsClients, options: EngineOptions) -> Handler {
    let clients = Arc::new(clients);
    let engine = resources::all(&clients)
        .into_iter()
        .fold(Engine::new(http_client(), options), Engine::register);
    let events = pipeline_from_env(&clients).map(|p| Arc::new(p) as Arc<dyn BackupEvents>);
    if let Err(reason) = &events {
        // Custom resources still work, so the stack can be created and this shows in the log.
        tracing::error!(%reason, "AWS Backup events cannot be processed");
    }
    let dead_letters = std::env::var("CROSSVAULT_DEAD_LETTER_QUEUE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|queue_url| {
            Arc::new(SqsDeadLetters {
                client: clients.sqs.clone(),
                queue_url,
            }) as Arc<dyn DeadLetters>
        });
    Handler::new(engine, events, dead_letters)
}

/// The event pipeline from the `CROSSVAULT_*` variables the template sets.
pub fn pipeline_from_env(clients: &Arc<AwsClients>) -> Result<Pipeline, String> {
    let config =
        StackConfig::from_iter(std::env::vars().filter(|(k, _)| k.starts_with("CROSSVAULT_")))
            .map_err(|e| format!("configuration: {e}"))?;
    let region = clients
        .region()
        .ok_or_else(|| "no AWS region configured (AWS_REGION)".to_owned())
        .and_then(|r| Region::new(r).map_err(|e| e.to_string()))?;
    Ok(Pipeline::new(clients.clone(), config, region))
}
