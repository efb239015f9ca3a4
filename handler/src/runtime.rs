//! Assembly of a [`Handler`] from the environment, shared by the Lambda `bootstrap` and
//! `crossvault invoke`, so both run exactly the same code.

use std::time::Duration;

use std::sync::Arc;

use crossvault_core::{Region, StackConfig};

use crate::batch::DeadLetters;
use crate::clients::{AwsClients, Lazy};
use crate::custom_resource::{Engine, EngineOptions};
use crate::dead_letter::SqsDeadLetters;
use crate::handler::BackupEvents;
use crate::handler::Handler;
use crate::pipeline::Pipeline;
use crate::resources;

/// JSON logs at the level of `CROSSVAULT_LOG_LEVEL` (default info), without ANSI colours or
/// timestamps (CloudWatch adds its own). The SDK's own chatter is held at warn.
///
/// `Targets` rather than `EnvFilter`: it needs no regex engine, which keeps about a megabyte
/// out of the Lambda artifact.
pub fn init_tracing() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let level = std::env::var("CROSSVAULT_LOG_LEVEL")
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let filter = Targets::new()
        .with_default(level)
        .with_target("aws_smithy_runtime", LevelFilter::WARN)
        .with_target("aws_config", LevelFilter::WARN)
        .with_target("hyper", LevelFilter::WARN)
        .with_target("hyper_util", LevelFilter::WARN)
        .with_target("rustls", LevelFilter::WARN);
    let format = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry()
        .with(format)
        .with(filter)
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

/// The handler on `clients`. Nothing but the configuration is read here: clients, the
/// custom-resource engine and its HTTP client are built by the first invocation that needs
/// them (cold start is paid per execution environment, and most of them only see events).
pub fn build_handler_with(clients: AwsClients, options: EngineOptions) -> Handler {
    let clients = Arc::new(clients);
    let engine_clients = clients.clone();
    let engine = Lazy::new(move || {
        resources::all(&engine_clients).into_iter().fold(
            Engine::new(http_client(), options.clone()),
            Engine::register,
        )
    });
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
                clients: clients.clone(),
                queue_url,
            }) as Arc<dyn DeadLetters>
        });
    Handler::with_lazy_engine(engine, events, dead_letters)
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
