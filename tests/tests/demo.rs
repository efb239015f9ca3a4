//! The README's first command, as CI runs it: the demo binary against the test bed, deploying
//! through `crossvault deploy` and replaying a night. It must keep every promise (exit 0) and say
//! so; with central vaults that admit another organization it must report the broken promises
//! and exit 1, never claim success.
//!
//! Needs the test bed: `scripts/testbed start` and
//! `export CROSSVAULT_TESTBED_URL=http://127.0.0.1:5123` (scripts/test does both).

use std::process::{Command, Output};

fn demo(args: &[&str]) -> (i32, String, String) {
    let url = crossvault_tests::require_testbed();
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(args)
        .env("CROSSVAULT_TESTBED_URL", &url)
        .output()
        .expect("the demo binary runs");
    (
        status.code().expect("the demo exits, no signal"),
        String::from_utf8(stdout).expect("utf-8 output"),
        String::from_utf8(stderr).expect("utf-8 errors"),
    )
}

// One test, two runs in turn: two demos started together would both find the README's account
// ids free on a fresh test bed and collide in them.
#[test]
fn the_demo_keeps_every_promise_and_reports_a_broken_one() {
    the_demo_deploys_with_crossvault_deploy_and_keeps_every_promise();
    a_central_vault_admitting_another_organization_is_a_broken_promise_and_exit_1();
}

fn the_demo_deploys_with_crossvault_deploy_and_keeps_every_promise() {
    let (code, out, errors) = demo(&[]);
    assert_eq!(code, 0, "the demo failed:\n{out}\n{errors}");
    // Deployed by the CLI: the StackSet, every instance current, the management stack.
    assert!(out.contains("StackSet   crossvault: created"), "{out}");
    assert!(out.contains("8 instance(s): 8 current, 0 not"), "{out}");
    assert!(
        out.contains("management stack crossvault-management (eu-west-1): CREATE_COMPLETE"),
        "{out}"
    );
    // The night's story: copies in both places, originals shortened, the long one kept.
    assert!(out.contains("→ original shortened 35 → 7 days"), "{out}");
    assert!(out.contains("→ original kept: 90 days"), "{out}");
    assert!(out.contains("0 dead-lettered"), "{out}");
    // The pre-prod refresh: both tagged databases restored, masked, promoted to their stable
    // address; the next night's restore of orders replaces the first one.
    assert!(
        out.contains("StackSet parameters for the refresh: RestoreOnArrival=true"),
        "{out}"
    );
    assert_eq!(
        out.matches("masking hook Success, promoted").count(),
        2 + 2,
        "orders and ledger after each night:\n{out}"
    );
    assert!(
        out.contains("/orders = orders-")
            && out.contains("→ at the stable address /crossvault/preprod/"),
        "{out}"
    );
    assert!(out.contains("/ledger = ledger-"), "{out}");
    assert_eq!(out.matches(" (deleted since)").count(), 1, "{out}");
    assert!(
        out.contains("notified: crossvault: pre-prod refresh promoted in "),
        "{out}"
    );
    assert!(
        out.contains("Slack (the local stand-in) received 6 message(s)"),
        "{out}"
    );
    // Nothing is left unimplemented: the story once said so for pre-prod restores.
    assert!(!out.to_lowercase().contains("implemented"), "{out}");
    assert!(
        out.contains("\nOK: every promise kept (6 originals"),
        "{out}"
    );
    assert!(out.contains("3 pre-prod refreshes"), "{out}");
    assert!(!out.contains("BROKEN PROMISES"), "{out}");
}

fn a_central_vault_admitting_another_organization_is_a_broken_promise_and_exit_1() {
    let (code, out, errors) = demo(&["--foreign-central-policy"]);
    assert_eq!(
        code, 1,
        "the demo must fail on a foreign central policy:\n{out}\n{errors}"
    );
    assert!(out.contains("BROKEN PROMISES"), "{out}");
    assert!(!out.contains("OK: every promise kept"), "{out}");
    // Nothing was shortened on a copy that never arrived.
    assert!(!out.contains("→ original shortened"), "{out}");
    // Nothing reached pre-prod, so nothing was restored; the check says so.
    assert!(out.contains(":db:orders: no pre-prod restore in "), "{out}");
}
