//! The handler's clock in the harness: the machine's time plus the offset the harness last
//! gave its organization's clock on the test bed (`POST /_testbed/clock`). The test bed's
//! clock is the same machine time plus the same offset, so the handler and the emulated AWS
//! agree on "now" while a test moves days ahead.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// Follows one organization's clock on the test bed. Clone the `Arc` into every handler.
#[derive(Debug, Default)]
pub struct TestbedClock {
    offset_millis: AtomicI64,
}

impl TestbedClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Takes the offset the test bed reported after a clock call.
    pub fn follow(&self, offset_seconds: f64) {
        self.offset_millis
            .store((offset_seconds * 1000.0).round() as i64, Ordering::SeqCst);
    }

    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.offset_millis.load(Ordering::SeqCst))
    }
}

impl crossvault_handler::clock::Clock for TestbedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossvault_handler::clock::Clock;

    #[test]
    fn follows_the_offset_it_is_given() {
        let clock = TestbedClock::new();
        clock.follow(864_000.5);
        assert_eq!(clock.offset(), Duration::milliseconds(864_000_500));
        let ahead = clock.now() - Utc::now();
        assert!(ahead > Duration::days(10) - Duration::seconds(5), "{ahead}");
        assert!(
            ahead <= Duration::days(10) + Duration::seconds(1),
            "{ahead}"
        );
    }
}
