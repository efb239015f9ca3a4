//! Test-bed harness (filled in by the test-bed work).
