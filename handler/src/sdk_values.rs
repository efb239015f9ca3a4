//! Reading SDK values into the core's types, the same way everywhere.

use chrono::{DateTime, Utc};

/// An SDK timestamp as a UTC date-time (`None` if out of chrono's range).
pub fn utc(d: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(d.secs(), d.subsec_nanos())
}

/// A lifecycle day count: AWS uses absent or `-1` for "no such step", the core uses `None`.
pub fn lifecycle_days(v: Option<i64>) -> Option<u32> {
    v.filter(|d| *d >= 0).and_then(|d| u32::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minus_one_and_absent_mean_none() {
        assert_eq!(lifecycle_days(Some(-1)), None);
        assert_eq!(lifecycle_days(None), None);
        assert_eq!(lifecycle_days(Some(35)), Some(35));
        assert_eq!(
            utc(&aws_smithy_types::DateTime::from_secs(1_700_000_000))
                .unwrap()
                .to_rfc3339(),
            "2023-11-14T22:13:20+00:00"
        );
    }
}
