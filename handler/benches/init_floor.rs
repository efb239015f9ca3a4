//! The floor crossvault's cold start is measured against (`scripts/bench`): the least a Rust
//! Lambda that works with AWS Backup does before it can take its first event — the Runtime
//! API client, the SDK configuration from the environment, one Backup client. Built only with
//! the `bench-floor` feature, so it never ships.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let backup = aws_sdk_backup::Client::new(&config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let backup = backup.clone();
        async move {
            if let Some(vault) = event.payload.get("describeVault").and_then(Value::as_str) {
                backup
                    .describe_backup_vault()
                    .backup_vault_name(vault)
                    .send()
                    .await?;
            }
            Ok::<_, lambda_runtime::Error>(json!({"ok": true}))
        }
    }))
    .await
}
