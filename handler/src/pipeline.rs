//! AWS Backup events and the reconcile, end to end: parse, ask the core which facts it needs,
//! gather them, decide (again, while it asks for more), execute.

use std::sync::{Arc, Mutex};

use crossvault_core::{BackupEvent, DecideError, Facts, Plan, Region, StackConfig, decide};
use futures::future::BoxFuture;
use serde_json::Value;

use crate::batch::EventError;
use crate::clients::AwsClients;
use crate::clock::{self, Clock};
use crate::context::InvocationContext;
use crate::effects::{ActionOutcome, Effects, Session};
use crate::handler::BackupEvents;

/// Rounds of "decide, gather what it asks for" before a decision is declared stuck (the core
/// asks in at most four: the point's jobs and description, its key, its re-encrypted copy's
/// jobs, then the resource's tags; a hook's completion in three: its execution, its restore,
/// then the restores of the same source).
const MAX_FACT_ROUNDS: usize = 6;

pub struct Pipeline {
    clients: Arc<AwsClients>,
    config: StackConfig,
    region: Region,
    clock: Arc<dyn Clock>,
    slack: crate::slack::Slack,
    /// The facts of the invocation being handled (by its request id).
    session: Mutex<Option<(String, Arc<Session>)>>,
}

impl Pipeline {
    /// The pipeline of a stack in `region`: events from elsewhere are not acted on.
    pub fn new(clients: Arc<AwsClients>, config: StackConfig, region: Region) -> Self {
        Self {
            slack: crate::slack::Slack::new(config.restore.slack_webhook_parameter.clone()),
            clients,
            config: config.with_region(region.clone()),
            region,
            clock: clock::system(),
            session: Mutex::new(None),
        }
    }

    /// The same pipeline posting to Slack with `slack`'s policy (tests).
    pub fn with_slack(mut self, slack: crate::slack::Slack) -> Self {
        self.slack = slack;
        self
    }

    /// The same pipeline deciding by `clock` (tests against an emulator with its own time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    pub fn clients(&self) -> &AwsClients {
        &self.clients
    }

    /// The session of invocation `ctx`: shared by every record of one batch, new for the next.
    fn session_for(&self, ctx: &InvocationContext) -> Arc<Session> {
        let mut current = self.session.lock().unwrap_or_else(|p| p.into_inner());
        match &*current {
            Some((id, session)) if *id == ctx.request_id => session.clone(),
            _ => {
                let session = Arc::new(Session::default());
                *current = Some((ctx.request_id.clone(), session.clone()));
                session
            }
        }
    }

    fn effects<'a>(&'a self, session: &'a Session) -> Effects<'a> {
        Effects {
            clients: &self.clients,
            config: &self.config,
            clock: self.clock.as_ref(),
            session,
            slack: &self.slack,
            reconciling: false,
        }
    }

    /// One event, with what was done, for callers that want the outcomes (tests, the demo).
    pub async fn process_event(&self, event: &Value) -> Result<Vec<ActionOutcome>, EventError> {
        self.process_in(event, &Session::default()).await
    }

    /// One event of an invocation whose session is `session`.
    pub async fn process_in(
        &self,
        event: &Value,
        session: &Session,
    ) -> Result<Vec<ActionOutcome>, EventError> {
        let event = BackupEvent::from_value(event)
            .map_err(|e| EventError::Permanent(format!("malformed AWS Backup event: {e}")))?;
        let effects = self.effects(session);
        let (plan, facts) = self.decide(&event, &effects).await?;
        tracing::info!(detail_type = event.detail_type(), plan = %plan, "plan");
        effects.execute(&plan, &facts).await
    }

    /// Decides, gathering what the core asks for until it can.
    async fn decide(
        &self,
        event: &BackupEvent,
        effects: &Effects<'_>,
    ) -> Result<(Plan, Facts), EventError> {
        let mut facts = Facts::none();
        for _ in 0..MAX_FACT_ROUNDS {
            match decide(event, &self.config, &facts) {
                Ok(plan) => return Ok((plan, facts)),
                Err(DecideError::NeedsFacts(request)) => {
                    tracing::debug!(%request, "gathering");
                    facts.merge(effects.gather(&request).await?);
                }
                Err(e) => return Err(EventError::Permanent(format!("cannot decide: {e}"))),
            }
        }
        Err(EventError::Permanent(format!(
            "cannot decide: still missing facts after {MAX_FACT_ROUNDS} rounds of look-ups"
        )))
    }

    /// One reconcile run with a deadline `budget` from now.
    pub async fn reconcile_now(&self) -> Result<crate::reconcile::ReconcileReport, EventError> {
        self.reconcile_until(tokio::time::Instant::now() + crate::reconcile::DEFAULT_BUDGET)
            .await
    }

    /// One reconcile run that leaves what it cannot finish before `deadline` for the next run.
    pub async fn reconcile_until(
        &self,
        deadline: tokio::time::Instant,
    ) -> Result<crate::reconcile::ReconcileReport, EventError> {
        let session = Session::default();
        let effects = Effects {
            reconciling: true,
            ..self.effects(&session)
        };
        crate::reconcile::run(&effects, &self.region, deadline).await
    }
}

impl BackupEvents for Pipeline {
    fn process<'a>(
        &'a self,
        event: &'a Value,
        ctx: &'a InvocationContext,
    ) -> BoxFuture<'a, Result<(), EventError>> {
        Box::pin(async move {
            let session = self.session_for(ctx);
            self.process_in(event, &session).await.map(|_| ())
        })
    }

    fn reconcile<'a>(
        &'a self,
        ctx: &'a InvocationContext,
    ) -> BoxFuture<'a, Result<Value, EventError>> {
        Box::pin(async move {
            let deadline = ctx
                .deadline
                .checked_sub(crate::reconcile::DEADLINE_RESERVE)
                .unwrap_or(ctx.deadline);
            let report = self.reconcile_until(deadline).await?;
            Ok(serde_json::to_value(report).expect("report serialises"))
        })
    }
}
