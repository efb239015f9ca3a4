//! What the handler knows about the current invocation, independent of `lambda_runtime`, so
//! `crossvault invoke` and tests can run the same code with a deadline of their choosing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct InvocationContext {
    pub request_id: String,
    /// When the Lambda runtime will stop this invocation.
    pub deadline: Instant,
    pub log_group: String,
    pub log_stream: String,
}

impl InvocationContext {
    /// A context for a run outside Lambda (CLI, tests): the deadline is `budget` from now.
    pub fn local(budget: Duration) -> Self {
        Self {
            request_id: "local".into(),
            deadline: Instant::now() + budget,
            log_group: "(local run)".into(),
            log_stream: "(stderr)".into(),
        }
    }

    /// Converts the runtime's wall-clock deadline (milliseconds since the epoch) into a
    /// monotonic instant, so timers are not disturbed by clock adjustments during the run.
    pub fn from_lambda(ctx: &lambda_runtime::Context) -> Self {
        let now_wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let deadline_wall = Duration::from_millis(ctx.deadline);
        let remaining = deadline_wall.saturating_sub(now_wall);
        Self {
            request_id: ctx.request_id.clone(),
            deadline: Instant::now() + remaining,
            log_group: ctx.env_config.log_group.clone(),
            log_stream: ctx.env_config.log_stream.clone(),
        }
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}
