//! Retention decisions: table tests and property tests for every guard.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use crossvault_core::config::vars;
use crossvault_core::retention::{age_in_days_rounded_up, decide};
use crossvault_core::{
    ColdMove, CurrentLifecycle, RetentionDecision, RetentionInput, Role, StackConfig, StorageClass,
};
use proptest::prelude::*;

fn created() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 3, 0, 5).unwrap()
}

fn input(age: Duration, delete: Option<u32>, cold: Option<u32>) -> RetentionInput {
    RetentionInput {
        now: created() + age,
        creation_date: created(),
        current: CurrentLifecycle {
            delete_after_days: delete,
            move_to_cold_storage_after_days: cold,
        },
        storage_class: StorageClass::Warm,
        is_continuous: false,
        vault_locked: false,
        role: Role::Source,
        copy_confirmed: true,
    }
}

fn shortened(d: &RetentionDecision) -> (u32, Option<ColdMove>) {
    match d {
        RetentionDecision::Shorten {
            delete_after_days,
            move_to_cold_storage_after_days,
            ..
        } => (*delete_after_days, *move_to_cold_storage_after_days),
        RetentionDecision::Keep { reason } => panic!("kept: {reason}"),
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
fn old_point_keeps_age_plus_margin() {
    let config = source(&[]);
    // 9 days and 1 second old → 10 whole days rounded up → 11.
    let d = decide(
        &input(Duration::days(9) + Duration::seconds(1), Some(35), None),
        &config,
    );
    assert_eq!(shortened(&d).0, 11);
    // Exactly 9 days old → 9 + 1.
    assert_eq!(
        shortened(&decide(&input(Duration::days(9), Some(35), None), &config)).0,
        10
    );
    // Clock skew (created in the future) counts as age 0.
    assert_eq!(
        shortened(&decide(
            &input(Duration::hours(-3), Some(35), None),
            &config
        ))
        .0,
        7
    );
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
    assert!(matches!(d, RetentionDecision::Keep { .. }), "{d}");
}

#[test]
fn never_cuts_below_what_the_copies_keep() {
    // Copies keep 35 days (the default): an original promised longer, or forever, stays.
    for current in [None, Some(36), Some(365)] {
        let d = decide(&input(Duration::hours(1), current, None), &source(&[]));
        let RetentionDecision::Keep { reason } = &d else {
            panic!("{current:?} was shortened: {d}")
        };
        assert!(reason.contains("its copies only 35 days"), "{reason}");
    }
    // Exactly as long as the copies: the copies cover it.
    assert_eq!(
        shortened(&decide(
            &input(Duration::hours(1), Some(35), None),
            &source(&[])
        )),
        (7, None)
    );
    // Copies kept a year cover a 365-day original.
    let long_copies = source(&[(vars::COPY_DELETE_AFTER_DAYS, "365")]);
    assert_eq!(
        shortened(&decide(
            &input(Duration::hours(1), Some(365), None),
            &long_copies
        )),
        (7, None)
    );
}

#[test]
fn pending_cold_move_is_cancelled() {
    let d = decide(
        &input(Duration::hours(1), Some(365), Some(30)),
        &source(&[(vars::COPY_DELETE_AFTER_DAYS, "400")]),
    );
    assert_eq!(shortened(&d), (7, Some(ColdMove::Cancel)));
    assert_eq!(ColdMove::Cancel.api_value(), -1);
}

#[test]
fn cold_points_keep_cold_plus_90() {
    let config = source(&[(vars::COPY_DELETE_AFTER_DAYS, "400")]);
    let mut i = input(Duration::days(40), Some(365), Some(30));
    i.storage_class = StorageClass::Cold;
    assert_eq!(
        shortened(&decide(&i, &config)),
        (120, Some(ColdMove::After(30)))
    );
    // Warm but the move is due: treated as cold (it may move any moment).
    i.storage_class = StorageClass::Warm;
    assert_eq!(
        shortened(&decide(&i, &config)),
        (120, Some(ColdMove::After(30)))
    );
    // Already at or below cold + 90: keep.
    i.current.delete_after_days = Some(120);
    assert!(matches!(
        decide(&i, &config),
        RetentionDecision::Keep { .. }
    ));
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
                vault_locked: true,
                ..base.clone()
            },
            "locked",
        ),
        (
            RetentionInput {
                copy_confirmed: false,
                ..base.clone()
            },
            "not confirmed COMPLETED",
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
        &source(&[(vars::COPY_DELETE_AFTER_DAYS, "400")]),
    );
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["decision"], "shorten");
    assert_eq!(json["delete_after_days"], 7);
    assert_eq!(json["move_to_cold_storage_after_days"], -1);
}

/// Copies kept longer than any generated original, so the total-retention guard does not hide
/// the other guards; `prop_never_cuts_below_the_copies` covers it.
fn config_with(new_days: u32) -> StackConfig {
    source(&[
        (vars::NEW_DELETE_AFTER_DAYS, &new_days.to_string()),
        (vars::COPY_DELETE_AFTER_DAYS, "5000"),
    ])
}

fn arb_input() -> impl Strategy<Value = RetentionInput> {
    (
        -86_400i64..(400 * 86_400),
        proptest::option::of(1u32..2_000),
        proptest::option::of(0u32..400),
        prop_oneof![
            Just(StorageClass::Warm),
            Just(StorageClass::Cold),
            Just(StorageClass::Deleted)
        ],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(Role::Source),
            Just(Role::Backup),
            Just(Role::PreProd),
            Just(Role::Management)
        ],
        any::<bool>(),
    )
        .prop_map(
            |(age_secs, delete, cold, storage_class, continuous, locked, role, confirmed)| {
                RetentionInput {
                    now: created() + Duration::seconds(age_secs),
                    creation_date: created(),
                    current: CurrentLifecycle {
                        delete_after_days: delete,
                        move_to_cold_storage_after_days: cold,
                    },
                    storage_class,
                    is_continuous: continuous,
                    vault_locked: locked,
                    role,
                    copy_confirmed: confirmed,
                }
            },
        )
}

proptest! {
    #[test]
    fn prop_never_lengthens(i in arb_input(), new_days in 1u32..60) {
        if let (RetentionDecision::Shorten { delete_after_days, .. }, Some(current)) =
            (decide(&i, &config_with(new_days)), i.current.delete_after_days)
        {
            prop_assert!(delete_after_days < current);
        }
    }

    #[test]
    fn prop_never_below_age_plus_one(i in arb_input(), new_days in 1u32..60) {
        if let RetentionDecision::Shorten { delete_after_days, .. } = decide(&i, &config_with(new_days)) {
            let age = age_in_days_rounded_up(i.now, i.creation_date);
            prop_assert!(u64::from(delete_after_days) > age, "at least age + 1");
            // The point is never due at the moment of the change (nor within the next day).
            let due = i.creation_date + Duration::days(i64::from(delete_after_days));
            prop_assert!(due >= i.now + Duration::days(1));
        }
    }

    #[test]
    fn prop_never_below_cold_plus_90_when_cold(i in arb_input(), new_days in 1u32..60) {
        if let RetentionDecision::Shorten { delete_after_days, move_to_cold_storage_after_days, .. } =
            decide(&i, &config_with(new_days))
        {
            if let Some(cold) = i.current.move_to_cold_storage_after_days {
                if i.storage_class == StorageClass::Cold {
                    prop_assert_eq!(move_to_cold_storage_after_days, Some(ColdMove::After(cold)));
                }
                match move_to_cold_storage_after_days {
                    Some(ColdMove::After(c)) => prop_assert!(u64::from(delete_after_days) >= u64::from(c) + 90),
                    Some(ColdMove::Cancel) => prop_assert!(i.storage_class == StorageClass::Warm),
                    None => prop_assert!(false, "cold setting dropped silently"),
                }
            } else {
                prop_assert_eq!(move_to_cold_storage_after_days, None);
            }
        }
    }

    #[test]
    fn prop_guards_keep(i in arb_input(), new_days in 1u32..60) {
        let d = decide(&i, &config_with(new_days));
        if i.vault_locked || i.is_continuous || !i.copy_confirmed || i.role != Role::Source
            || i.storage_class == StorageClass::Deleted
        {
            prop_assert!(matches!(d, RetentionDecision::Keep { .. }), "{}", d);
        }
    }

    #[test]
    fn prop_never_cuts_below_the_copies(i in arb_input(), copies in 1u32..600) {
        let config = source(&[(vars::COPY_DELETE_AFTER_DAYS, &copies.to_string())]);
        if let RetentionDecision::Shorten { .. } = decide(&i, &config) {
            let current = i.current.delete_after_days;
            prop_assert!(current.is_some_and(|c| c <= copies), "{:?} > copies {}", current, copies);
        }
    }

    #[test]
    fn prop_deterministic(i in arb_input(), new_days in 1u32..60) {
        let config = config_with(new_days);
        prop_assert_eq!(decide(&i, &config), decide(&i.clone(), &config));
    }

    #[test]
    fn prop_at_least_new_days_unless_current_lower(i in arb_input(), new_days in 1u32..60) {
        match decide(&i, &config_with(new_days)) {
            RetentionDecision::Shorten { delete_after_days, .. } => prop_assert!(delete_after_days >= new_days),
            RetentionDecision::Keep { .. } => {}
        }
        // When every guard passes and the current value is above every floor, it shortens.
        let eligible = RetentionInput {
            role: Role::Source, vault_locked: false, is_continuous: false, copy_confirmed: true,
            storage_class: StorageClass::Warm,
            current: CurrentLifecycle { delete_after_days: Some(5_000), move_to_cold_storage_after_days: None },
            ..i
        };
        let is_shorten = matches!(decide(&eligible, &config_with(new_days)), RetentionDecision::Shorten { .. });
        prop_assert!(is_shorten);
    }
}
