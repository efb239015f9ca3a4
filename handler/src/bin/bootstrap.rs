//! Lambda entry point: build the clients once per cold start, then serve invocations.

use crossvault_handler::{InvocationContext, runtime};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_tracing();
    let handler = runtime::build_handler().await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let ctx = InvocationContext::from_lambda(&event.context);
        handler.handle(event.payload, &ctx).await
    }))
    .await
}
