//! A night over two source accounts and two regions: every copy in place with the right
//! lifecycle, every original shortened exactly as the rules say, nothing touched in the backup
//! and pre-prod accounts; a rerun of the same events changes nothing.

use crossvault_tests::org::{BACKUP_REGION, Org, OrgIds, PRIMARY_REGION};
use crossvault_tests::runner::{self, BackupSpec};
use crossvault_tests::story;

#[tokio::test(flavor = "multi_thread")]
async fn a_night_ends_with_every_copy_in_place_and_every_original_shortened() {
    let url = crossvault_tests::require_testbed();
    let mut org = Org::create(&url, OrgIds::unique("night")).await.unwrap();
    org.install().await.unwrap();
    let ids = org.ids.clone();
    let (a, b) = (ids.sources[0].clone(), ids.sources[1].clone());

    let night = runner::night(
        &org,
        &[
            BackupSpec::rds(&a, PRIMARY_REGION, "orders").tagged("CopyToPreProd", "true"),
            BackupSpec::rds(&a, BACKUP_REGION, "billing"),
            BackupSpec::rds(&b, PRIMARY_REGION, "catalog"),
            BackupSpec::rds(&b, BACKUP_REGION, "ledger").tagged("CopyToPreProd", "true"),
        ],
    )
    .await
    .unwrap();
    assert!(night.failures().is_empty(), "{:#?}", night.failures());
    let outcome = story::collect(&org).await.unwrap();
    let now = org.testbed.now().await.unwrap();
    eprintln!("{}", story::render(&org, &night, &outcome));
    assert_eq!(story::check(&org, &night, now, &outcome), Vec::<String>::new());
}
