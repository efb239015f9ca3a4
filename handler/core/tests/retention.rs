//! Retention decisions: table tests and property tests for every guard, with the boundaries
//! (age = NewDeleteAfterDays, age = the cold days, one second either side of a UTC midnight)
//! in the tables and favoured by the generators.

mod common;

use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use common::*;
use crossvault_core::config::vars;
use crossvault_core::retention::{age_in_days_rounded_up, decide};
use crossvault_core::{
    CheckedCopy, CopyEvidence, CurrentLifecycle, Hop, RequiredCopy, RetentionDecision,
    RetentionInput, Role, StackConfig, StorageClass,
};
use proptest::prelude::*;

const FRANKFURT: &str = "arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault";
const LOCAL: &str = "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault";

fn created() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 3, 0, 5).unwrap()
}

fn copy(hop: Hop, dest: &str, evidence: CopyEvidence) -> CheckedCopy {
    CheckedCopy {
        required: RequiredCopy {
            hop,
            destination_vault_arn: dest.parse().unwrap(),
            via: None,
        },
        evidence,
    }
}

/// A COMPLETED copy kept `days` (`None` = forever).
fn kept(days: Option<u32>) -> CopyEvidence {
    CopyEvidence::Completed {
        copy_job_id: "j1".into(),
        lifecycle: Some(CurrentLifecycle {
            delete_after_days: days,
            ..CurrentLifecycle::default()
        }),
    }
}

fn input(age: Duration, delete: Option<u32>, cold: Option<u32>) -> RetentionInput {
    RetentionInput {
        now: created() + age,
        creation_date: created(),
        current: CurrentLifecycle {
            delete_after_days: delete,
            move_to_cold_storage_after_days: cold,
            opt_in_to_archive: None,
        },
        storage_class: StorageClass::Warm,
        is_continuous: false,
        vault_locked: false,
        role: Role::Source,
        copied_from: None,
        copies: vec![copy(Hop::ToBackupRegion, FRANKFURT, kept(Some(5000)))],
    }
}

fn shortened(d: &RetentionDecision) -> (u32, Option<u32>) {
    match d {
        RetentionDecision::Shorten {
            delete_after_days,
            move_to_cold_storage_after_days,
            ..
        } => (*delete_after_days, *move_to_cold_storage_after_days),
        RetentionDecision::Keep { reason } => panic!("kept: {reason}"),
    }
}

fn keep_reason(d: &RetentionDecision) -> &str {
    match d {
        RetentionDecision::Keep { reason } => reason,
        other => panic!("shortened: {other}"),
    }
}

#[test]
fn fresh_point_gets_new_delete_after_days() {
    let config = source(&[]);
    let d = decide(&input(Duration::hours(2), Some(35), None), &config);
    assert_eq!(shortened(&d), (7, None));
    let RetentionDecision::Shorten { before, after, .. } = &d else {
        unreachable!()
    };
    assert_eq!(
        before,
        "DeleteAfterDays=35 MoveToColdStorageAfterDays=none (created 2026-03-02T03:00:05Z, age 1 d rounded up, deleted from 2026-04-06T03:00:05Z)"
    );
    assert_eq!(
        after,
        "DeleteAfterDays=7 MoveToColdStorageAfterDays=none (created 2026-03-02T03:00:05Z, deleted from 2026-03-09T03:00:05Z)"
    );
}

#[test]
fn age_boundaries() {
    // (age, NewDeleteAfterDays, expected DeleteAfterDays)
    let day = Duration::days(1);
    let s = Duration::seconds(1);
    let cases = [
        (Duration::zero(), 7, 7),
        (s, 7, 7),
        (Duration::days(6), 7, 7),
        (Duration::days(6) + s, 7, 8),
        // Exactly NewDeleteAfterDays old: the +1 day margin still applies, or the point would
        // be due the moment its lifecycle changes.
        (Duration::days(7) - s, 7, 8),
        (Duration::days(7), 7, 8),
        (Duration::days(7) + s, 7, 9),
        (Duration::days(9), 7, 10),
        (Duration::days(9) + s, 7, 11),
        (day, 1, 2),
        (Duration::hours(-3), 7, 7),
    ];
    for (age, new_days, expected) in cases {
        let config = source(&[
            (vars::NEW_DELETE_AFTER_DAYS, &new_days.to_string()),
            (vars::COPY_DELETE_AFTER_DAYS, "5000"),
        ]);
        let d = decide(&input(age, Some(4000), None), &config);
        assert_eq!(
            shortened(&d).0,
            expected,
            "age {age}, NewDeleteAfterDays {new_days}"
        );
    }
}

#[test]
fn one_second_either_side_of_a_utc_midnight() {
    let config = source(&[]);
    let midnight = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
    // (created, now, expected)
    let s = Duration::seconds(1);
    let cases = [
        // Created a second before midnight, looked at a second after: 2 s old, not a day.
        (midnight - s, midnight + s, 7),
        // Created at midnight, exactly 7 days later, and a second either side.
        (midnight, midnight + Duration::days(7) - s, 8),
        (midnight, midnight + Duration::days(7), 8),
        (midnight, midnight + Duration::days(7) + s, 9),
        // Created a second after midnight, 7 days later a second before midnight.
        (midnight + s, midnight + Duration::days(7) - s, 8),
        (midnight - s, midnight + Duration::days(7) + s, 9),
    ];
    for (c, now, expected) in cases {
        let mut i = input(Duration::zero(), Some(35), None);
        i.creation_date = c;
        i.now = now;
        let d = decide(&i, &config);
        let (days, _) = shortened(&d);
        assert_eq!(days, expected, "created {c}, now {now}");
        let due = c + Duration::days(i64::from(days));
        assert!(
            due >= now + Duration::days(1),
            "created {c}, now {now}: due {due}"
        );
    }
}

#[test]
fn never_lengthens() {
    let config = source(&[]);
    for current in [1, 5, 7] {
        let d = decide(&input(Duration::hours(1), Some(current), None), &config);
        assert!(
            matches!(d, RetentionDecision::Keep { .. }),
            "{current}: {d}"
        );
    }
    // Age pushes the target above the current value: keep.
    let d = decide(&input(Duration::days(20), Some(15), None), &config);
    assert!(
        keep_reason(&d).contains("DeleteAfterDays is already 15, not above the shortened value 21"),
        "{d}"
    );
}

#[test]
fn never_cuts_below_what_the_copies_really_keep() {
    let config = source(&[]);
    // (original, copy) → shortened?
    let cases = [
        (Some(35), Some(35), true),
        (Some(35), Some(36), true),
        (Some(35), None, true),
        (None, None, true),
        (Some(36), Some(35), false),
        (Some(365), Some(35), false),
        (None, Some(5000), false),
    ];
    for (original, copy_days, shortens) in cases {
        let mut i = input(Duration::hours(1), original, None);
        i.copies = vec![copy(Hop::ToBackupRegion, FRANKFURT, kept(copy_days))];
        let d = decide(&i, &config);
        assert_eq!(
            matches!(d, RetentionDecision::Shorten { .. }),
            shortens,
            "original {original:?}, copy {copy_days:?}: {d}"
        );
        if !shortens {
            assert!(
                keep_reason(&d).contains("shortening it would cut the total retention"),
                "{d}"
            );
        }
    }
    // Every required copy counts: the local one kept only 10 days blocks it.
    let mut i = input(Duration::hours(1), Some(35), None);
    i.copies = vec![
        copy(Hop::ToBackupRegion, FRANKFURT, kept(Some(35))),
        copy(Hop::ToLocalRegion, LOCAL, kept(Some(10))),
    ];
    assert_eq!(
        keep_reason(&decide(&i, &config)),
        "the original is kept 35 days and its to-local-region copy (copy job j1) only 10 days; \
         shortening it would cut the total retention"
    );
    // A copy that did not report its lifecycle vouches for nothing.
    i.copies = vec![copy(
        Hop::ToBackupRegion,
        FRANKFURT,
        CopyEvidence::Completed {
            copy_job_id: "j7".into(),
            lifecycle: None,
        },
    )];
    assert!(keep_reason(&decide(&i, &config)).starts_with("copy job j7 (to-backup-region into"));
}

#[test]
fn every_required_copy_must_be_verified() {
    let config = source(&[]);
    let mut i = input(Duration::hours(1), Some(35), None);
    i.copies = vec![
        copy(Hop::ToBackupRegion, FRANKFURT, kept(Some(35))),
        copy(
            Hop::ToLocalRegion,
            LOCAL,
            CopyEvidence::Missing {
                reason: "copy job j2 is RUNNING".into(),
            },
        ),
    ];
    assert_eq!(
        keep_reason(&decide(&i, &config)),
        format!(
            "the to-local-region copy into {LOCAL} is not verified COMPLETED (copy job j2 is RUNNING); \
             the original keeps its retention"
        )
    );
    i.copies.clear();
    assert!(keep_reason(&decide(&i, &config)).contains("no offsite copy"));
}

#[test]
fn a_cold_setting_is_kept_and_bounds_the_shortening() {
    let config = source(&[]);
    // WARM with the move pending, due, or COLD: always at least cold + 90, both fields sent.
    for (age, class) in [
        (Duration::hours(1), StorageClass::Warm),
        (
            Duration::days(30) - Duration::seconds(1),
            StorageClass::Warm,
        ),
        (Duration::days(30), StorageClass::Warm),
        (
            Duration::days(30) + Duration::seconds(1),
            StorageClass::Warm,
        ),
        (Duration::days(40), StorageClass::Cold),
    ] {
        let mut i = input(age, Some(365), Some(30));
        i.storage_class = class;
        let d = decide(&i, &config);
        assert_eq!(shortened(&d), (120, Some(30)), "age {age}, {class:?}");
        let RetentionDecision::Shorten { reasons, .. } = &d else {
            unreachable!()
        };
        assert!(
            reasons.iter().any(|r| r.contains("30 + 90 = 120")),
            "{reasons:?}"
        );
    }
    // Already at or below cold + 90: keep.
    let i = input(Duration::hours(1), Some(120), Some(30));
    assert!(matches!(
        decide(&i, &config),
        RetentionDecision::Keep { .. }
    ));
    // Older than cold + 90 - 1 days: the age bound wins.
    let i = input(Duration::days(130), Some(365), Some(30));
    assert_eq!(shortened(&decide(&i, &config)), (131, Some(30)));
    // A COLD point that reports no cold setting is left alone.
    let mut i = input(Duration::days(40), Some(365), None);
    i.storage_class = StorageClass::Cold;
    assert!(keep_reason(&decide(&i, &config)).contains("reports no MoveToColdStorageAfterDays"));
}

#[test]
fn archive_opt_in_is_resent() {
    let mut i = input(Duration::hours(1), Some(35), None);
    i.current.opt_in_to_archive = Some(true);
    let RetentionDecision::Shorten {
        opt_in_to_archive, ..
    } = decide(&i, &source(&[]))
    else {
        panic!()
    };
    assert_eq!(opt_in_to_archive, Some(true));
}

#[test]
fn guards_keep() {
    let config = source(&[]);
    let base = input(Duration::hours(1), Some(35), None);
    let cases: Vec<(RetentionInput, &str)> = vec![
        (
            RetentionInput {
                role: Role::Backup,
                ..base.clone()
            },
            "only in source accounts; this is a backup account",
        ),
        (
            RetentionInput {
                role: Role::PreProd,
                ..base.clone()
            },
            "this is a preprod account",
        ),
        (
            RetentionInput {
                is_continuous: true,
                ..base.clone()
            },
            "continuous",
        ),
        (
            RetentionInput {
                copied_from: Some("arn:aws:backup:eu-west-1:444444444444:backup-vault:v".into()),
                ..base.clone()
            },
            "is a copy from arn:aws:backup:eu-west-1:444444444444:backup-vault:v, not an original",
        ),
        (
            RetentionInput {
                vault_locked: true,
                ..base.clone()
            },
            "locked",
        ),
        (
            RetentionInput {
                storage_class: StorageClass::Deleted,
                ..base.clone()
            },
            "already deleted",
        ),
    ];
    for (i, needle) in cases {
        match decide(&i, &config) {
            RetentionDecision::Keep { reason } => assert!(reason.contains(needle), "{reason}"),
            other => panic!("{needle}: {other}"),
        }
    }
}

#[test]
fn decision_serializes_for_logs() {
    let d = decide(
        &input(Duration::hours(1), Some(365), Some(30)),
        &source(&[]),
    );
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["decision"], "shorten");
    assert_eq!(json["delete_after_days"], 120);
    assert_eq!(json["move_to_cold_storage_after_days"], 30);
}

// ---- properties ----------------------------------------------------------------------------

const DAY: i64 = 86_400;

/// Seconds near the boundaries the rules care about, or anywhere.
fn age_secs(new_days: u32, cold: Option<u32>) -> BoxedStrategy<i64> {
    let around = |days: i64| (-1i64..=1).prop_map(move |d| days * DAY + d);
    let mut choices: Vec<(u32, BoxedStrategy<i64>)> = vec![
        (3, (-DAY..(400 * DAY)).boxed()),
        (2, (0i64..60).prop_flat_map(around).boxed()),
        (2, around(i64::from(new_days)).boxed()),
        (1, around(i64::from(new_days) - 1).boxed()),
    ];
    if let Some(c) = cold {
        choices.push((2, around(i64::from(c)).boxed()));
        choices.push((1, around(i64::from(c) + 90).boxed()));
    }
    proptest::strategy::Union::new_weighted(choices).boxed()
}

/// Creation times at, or a second either side of, a UTC midnight, or any second of the day.
fn creation() -> impl Strategy<Value = DateTime<Utc>> {
    let midnight = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
    prop_oneof![
        2 => (-1i64..=1).prop_map(move |s| midnight + Duration::seconds(s)),
        1 => (0i64..DAY).prop_map(move |s| midnight + Duration::seconds(s)),
    ]
}

fn lifecycle() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![
        1 => Just(None),
        4 => (1u32..2_000).prop_map(Some),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    new_days: u32,
    input: RetentionInput,
}

impl Case {
    fn config(&self) -> StackConfig {
        source(&[(vars::NEW_DELETE_AFTER_DAYS, &self.new_days.to_string())])
    }
}

fn arb_case() -> impl Strategy<Value = Case> {
    (1u32..60, proptest::option::of(0u32..400))
        .prop_flat_map(|(new_days, cold)| {
            (
                Just(new_days),
                Just(cold),
                age_secs(new_days, cold),
                creation(),
                lifecycle(),
                prop_oneof![
                    4 => Just(StorageClass::Warm),
                    2 => Just(StorageClass::Cold),
                    1 => Just(StorageClass::Deleted)
                ],
                proptest::bool::weighted(0.1),
                proptest::bool::weighted(0.1),
                prop_oneof![
                    6 => Just(Role::Source),
                    1 => Just(Role::Backup),
                    1 => Just(Role::PreProd),
                    1 => Just(Role::Management)
                ],
                proptest::bool::weighted(0.1),
                prop_oneof![4 => lifecycle(), 1 => Just(Some(5_000))],
                proptest::bool::weighted(0.1),
            )
        })
        .prop_map(
            |(
                new_days,
                cold,
                age,
                creation_date,
                delete,
                storage_class,
                continuous,
                locked,
                role,
                copied,
                copy_days,
                copy_missing,
            )| {
                let evidence = if copy_missing {
                    CopyEvidence::Missing {
                        reason: "no copy job".into(),
                    }
                } else {
                    kept(copy_days)
                };
                Case {
                    new_days,
                    input: RetentionInput {
                        now: creation_date + Duration::seconds(age),
                        creation_date,
                        current: CurrentLifecycle {
                            delete_after_days: delete,
                            move_to_cold_storage_after_days: cold,
                            opt_in_to_archive: None,
                        },
                        storage_class,
                        is_continuous: continuous,
                        vault_locked: locked,
                        role,
                        copied_from: copied.then(|| {
                            "arn:aws:backup:eu-west-1:444444444444:backup-vault:v".to_owned()
                        }),
                        copies: vec![copy(Hop::ToBackupRegion, FRANKFURT, evidence)],
                    },
                }
            },
        )
}

fn floor_to_utc_midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::days(1)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn prop_never_lengthens(c in arb_case()) {
        if let (RetentionDecision::Shorten { delete_after_days, .. }, Some(current)) =
            (decide(&c.input, &c.config()), c.input.current.delete_after_days)
        {
            prop_assert!(delete_after_days < current);
        }
    }

    #[test]
    fn prop_never_due_at_once(c in arb_case()) {
        let i = &c.input;
        if let RetentionDecision::Shorten { delete_after_days, .. } = decide(i, &c.config()) {
            let age = age_in_days_rounded_up(i.now, i.creation_date);
            prop_assert!(u64::from(delete_after_days) > age, "at least age + 1");
            // Deleted at creation + days (what AWS computes): at least a day from now.
            let due = i.creation_date + Duration::days(i64::from(delete_after_days));
            prop_assert!(due >= i.now + Duration::days(1), "due {} at {}", due, i.now);
            // Even if AWS counted whole UTC days (deleting at the midnight before), never due now.
            prop_assert!(floor_to_utc_midnight(due) > i.now, "due {} at {}", due, i.now);
        }
    }

    #[test]
    fn prop_never_below_cold_plus_90(c in arb_case()) {
        if let RetentionDecision::Shorten { delete_after_days, move_to_cold_storage_after_days, .. } =
            decide(&c.input, &c.config())
        {
            // The cold setting is always sent back unchanged, never cancelled.
            prop_assert_eq!(move_to_cold_storage_after_days, c.input.current.move_to_cold_storage_after_days);
            if let Some(cold) = move_to_cold_storage_after_days {
                prop_assert!(u64::from(delete_after_days) >= u64::from(cold) + 90);
            } else {
                prop_assert!(c.input.storage_class != StorageClass::Cold);
            }
        }
    }

    #[test]
    fn prop_guards_keep(c in arb_case()) {
        let i = &c.input;
        let d = decide(i, &c.config());
        if i.vault_locked || i.is_continuous || i.role != Role::Source
            || i.storage_class == StorageClass::Deleted || i.copied_from.is_some()
            || i.copies.iter().any(|c| matches!(c.evidence, CopyEvidence::Missing { .. }))
        {
            prop_assert!(matches!(d, RetentionDecision::Keep { .. }), "{}", d);
        }
    }

    #[test]
    fn prop_never_cuts_below_the_copies(c in arb_case()) {
        if let RetentionDecision::Shorten { .. } = decide(&c.input, &c.config()) {
            let original = c.input.current.delete_after_days;
            for copy in &c.input.copies {
                let CopyEvidence::Completed { lifecycle: Some(l), .. } = &copy.evidence else {
                    return Err(TestCaseError::fail("shortened without a verified copy"));
                };
                match (original, l.delete_after_days) {
                    (_, None) => {}
                    (Some(o), Some(k)) => prop_assert!(k >= o, "copy {} < original {}", k, o),
                    (None, Some(k)) => prop_assert!(false, "original forever, copy {}", k),
                }
            }
        }
    }

    #[test]
    fn prop_deterministic(c in arb_case()) {
        let config = c.config();
        prop_assert_eq!(decide(&c.input, &config), decide(&c.input.clone(), &config));
    }

    #[test]
    fn prop_exactly_the_bound(c in arb_case()) {
        // When every guard passes, the new value is exactly the largest bound, below the current.
        let i = RetentionInput {
            role: Role::Source, vault_locked: false, is_continuous: false, copied_from: None,
            storage_class: StorageClass::Warm,
            current: CurrentLifecycle { delete_after_days: Some(4_000), ..c.input.current },
            copies: vec![copy(Hop::ToBackupRegion, FRANKFURT, kept(None))],
            ..c.input.clone()
        };
        let age = age_in_days_rounded_up(i.now, i.creation_date);
        let mut bound = u64::from(c.new_days).max(age + 1);
        if let Some(cold) = i.current.move_to_cold_storage_after_days {
            bound = bound.max(u64::from(cold) + 90);
        }
        match decide(&i, &c.config()) {
            RetentionDecision::Shorten { delete_after_days, .. } => {
                prop_assert_eq!(u64::from(delete_after_days), bound)
            }
            RetentionDecision::Keep { reason } => prop_assert!(bound >= 4_000, "{}", reason),
        }
    }
}
