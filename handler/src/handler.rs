//! The one entry point every invocation goes through.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::batch::{self, DeadLetters, EventError, SqsBatch};
use crate::clients::Lazy;
use crate::context::InvocationContext;
use crate::custom_resource::{Engine, EngineError};
use crate::incoming::{self, Incoming, Unrecognised};

/// The AWS Backup side of the handler: one event, or one reconcile run.
pub trait BackupEvents: Send + Sync {
    fn process<'a>(
        &'a self,
        event: &'a Value,
        ctx: &'a InvocationContext,
    ) -> BoxFuture<'a, Result<(), EventError>>;

    fn reconcile<'a>(
        &'a self,
        ctx: &'a InvocationContext,
    ) -> BoxFuture<'a, Result<Value, EventError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Unrecognised(#[from] Unrecognised),
    #[error(transparent)]
    CustomResource(#[from] EngineError),
    #[error("malformed SQS batch: {0}")]
    MalformedBatch(String),
    /// A direct (non-SQS) event or a reconcile failed: the invocation fails so that Lambda's
    /// asynchronous retry and the function's dead-letter queue keep it.
    #[error("{0}")]
    Event(#[from] EventError),
    #[error("this function has no AWS Backup event pipeline configured: {0}")]
    NoPipeline(String),
}

pub struct Handler {
    /// Built by the first custom-resource request: a Backup event never pays for the HTTP
    /// client that answers CloudFormation, nor for the clients of the resource kinds.
    engine: Lazy<Engine>,
    events: Result<Arc<dyn BackupEvents>, String>,
    dead_letters: Option<Arc<dyn DeadLetters>>,
    /// Time kept back from the deadline when working through an SQS batch.
    batch_reserve: Duration,
}

impl Handler {
    /// `events` is `Err(reason)` when the configuration does not allow event processing (the
    /// custom resources still work, so a stack can be created and report the problem).
    pub fn new(
        engine: Engine,
        events: Result<Arc<dyn BackupEvents>, String>,
        dead_letters: Option<Arc<dyn DeadLetters>>,
    ) -> Self {
        Self::with_lazy_engine(Lazy::ready(engine), events, dead_letters)
    }

    /// A handler whose custom-resource engine is built when it is first needed.
    pub fn with_lazy_engine(
        engine: Lazy<Engine>,
        events: Result<Arc<dyn BackupEvents>, String>,
        dead_letters: Option<Arc<dyn DeadLetters>>,
    ) -> Self {
        Self {
            engine,
            events,
            dead_letters,
            batch_reserve: Duration::from_secs(15),
        }
    }

    /// Whether the custom-resource engine has been built (tests, the benchmark).
    pub fn engine_built(&self) -> bool {
        self.engine.is_built()
    }

    pub fn with_batch_reserve(mut self, reserve: Duration) -> Self {
        self.batch_reserve = reserve;
        self
    }

    fn events(&self) -> Result<&dyn BackupEvents, HandlerError> {
        self.events
            .as_ref()
            .map(Arc::as_ref)
            .map_err(|e| HandlerError::NoPipeline(e.clone()))
    }

    pub async fn handle(
        &self,
        event: Value,
        ctx: &InvocationContext,
    ) -> Result<Value, HandlerError> {
        let kind =
            incoming::classify(&event).inspect_err(|e| tracing::error!(error = %e, "rejected"))?;
        tracing::debug!(?kind, "invocation");
        match kind {
            Incoming::CustomResource => {
                let answer = self.engine.handle(&event, ctx).await?;
                Ok(serde_json::to_value(answer).expect("answer serialises"))
            }
            Incoming::SqsBatch => {
                let batch: SqsBatch = serde_json::from_value(event)
                    .map_err(|e| HandlerError::MalformedBatch(e.to_string()))?;
                let events = match self.events() {
                    Ok(ev) => ev,
                    // Not dropped: every record goes back to the queue, then to its DLQ.
                    Err(e) => {
                        tracing::error!(error = %e, "cannot process the batch");
                        return Err(e);
                    }
                };
                let response = batch::process_batch(
                    &batch,
                    ctx,
                    self.batch_reserve,
                    self.dead_letters.as_deref(),
                    |ev| Box::pin(async move { events.process(&ev, ctx).await }),
                )
                .await;
                Ok(serde_json::to_value(response).expect("batch response serialises"))
            }
            Incoming::EventBridge => {
                self.events()?.process(&event, ctx).await?;
                Ok(serde_json::json!({"processed": 1}))
            }
            Incoming::Scheduled => Ok(self.events()?.reconcile(ctx).await?),
        }
    }
}

impl HandlerError {
    /// A stable error type name for the Lambda error report and metrics filters.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Unrecognised(_) => "crossvault.UnrecognisedEvent",
            Self::CustomResource(EngineError::Unanswerable(_)) => "crossvault.UnanswerableRequest",
            Self::CustomResource(EngineError::NotDelivered(_)) => "crossvault.ResponseNotDelivered",
            Self::MalformedBatch(_) => "crossvault.MalformedBatch",
            Self::Event(EventError::Retryable(_)) => "crossvault.RetryableEventError",
            Self::Event(EventError::Permanent(_)) => "crossvault.PermanentEventError",
            Self::NoPipeline(_) => "crossvault.NoEventPipeline",
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        Self {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}
