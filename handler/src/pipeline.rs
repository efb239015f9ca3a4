//! AWS Backup events and the reconcile, end to end: parse, ask the core which facts it needs,
//! gather them, decide, execute.

use crossvault_core::{BackupEvent, Region, StackConfig, decide, facts_needed};
use futures::future::BoxFuture;
use serde_json::Value;

use crate::batch::EventError;
use crate::clients::AwsClients;
use crate::clock::{self, Clock};
use crate::context::InvocationContext;
use crate::effects::{ActionOutcome, Effects};
use crate::handler::BackupEvents;

pub struct Pipeline {
    clients: std::sync::Arc<AwsClients>,
    config: StackConfig,
    region: Region,
    clock: std::sync::Arc<dyn Clock>,
}

impl Pipeline {
    pub fn new(clients: std::sync::Arc<AwsClients>, config: StackConfig, region: Region) -> Self {
        Self {
            clients,
            config,
            region,
            clock: clock::system(),
        }
    }

    /// The same pipeline deciding by `clock` (tests against an emulator with its own time).
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// One event, with what was done, for callers that want the outcomes (tests, the demo).
    pub async fn process_event(&self, event: &Value) -> Result<Vec<ActionOutcome>, EventError> {
        let event = BackupEvent::from_value(event)
            .map_err(|e| EventError::Permanent(format!("malformed AWS Backup event: {e}")))?;
        let effects = Effects {
            clients: &self.clients,
            config: &self.config,
            clock: self.clock.as_ref(),
        };
        let request = facts_needed(&event, &self.config);
        let facts = effects.gather(&request).await?;
        let plan = decide(&event, &self.config, &facts)
            .map_err(|e| EventError::Permanent(format!("cannot decide: {e}")))?;
        tracing::info!(detail_type = event.detail_type(), plan = %plan, "plan");
        effects.execute(&plan).await
    }

    pub async fn reconcile_now(&self) -> Result<crate::reconcile::ReconcileReport, EventError> {
        crate::reconcile::run(
            &self.clients,
            &self.config,
            &self.region,
            self.clock.as_ref(),
        )
        .await
    }
}

impl BackupEvents for Pipeline {
    fn process<'a>(
        &'a self,
        event: &'a Value,
        _ctx: &'a InvocationContext,
    ) -> BoxFuture<'a, Result<(), EventError>> {
        Box::pin(async move { self.process_event(event).await.map(|_| ()) })
    }

    fn reconcile<'a>(
        &'a self,
        _ctx: &'a InvocationContext,
    ) -> BoxFuture<'a, Result<Value, EventError>> {
        Box::pin(async move {
            let report = self.reconcile_now().await?;
            Ok(serde_json::to_value(report).expect("report serialises"))
        })
    }
}
