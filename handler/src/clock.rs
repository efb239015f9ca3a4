//! The time the handler decides by. Every "now" of the event pipeline and the reconciler
//! comes from a [`Clock`], so tests can run aged recovery points, cold moves and the
//! look-back window against an emulator whose clock is not the machine's.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock (what the Lambda uses).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The machine's clock moved by a fixed offset (an emulator running "days later").
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock(pub chrono::Duration);

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0
    }
}

/// The default clock, shared.
pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_clock_runs_ahead_by_its_offset() {
        let ahead = OffsetClock(chrono::Duration::days(10)).now() - SystemClock.now();
        assert!(ahead > chrono::Duration::days(10) - chrono::Duration::seconds(5));
        assert!(ahead <= chrono::Duration::days(10));
    }
}
