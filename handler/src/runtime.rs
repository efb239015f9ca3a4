//! Assembly of a [`Handler`] from the environment, shared by the Lambda `bootstrap` and
//! `crossvault invoke`, so both run exactly the same code.

use std::time::Duration;

use crate::clients::AwsClients;
use crate::custom_resource::{Engine, EngineOptions};
use crate::handler::Handler;
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
    let engine = resources::all(&clients)
        .into_iter()
        .fold(Engine::new(http_client(), options), Engine::register);
    Handler::new(
        engine,
        Err("the AWS Backup event pipeline is not part of this build yet".into()),
        None,
    )
}
