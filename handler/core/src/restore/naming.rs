//! Names and tokens of a restore, all derived from the recovery point, so every path (event,
//! duplicate event, reconciler) derives the same ones.
//!
//! - The restored resource's name: `<source name>-<backup date>-<6 hex>`, where the hex digits
//!   come from SHA-256 of the recovery point and the attempt: unique per restore attempt (the
//!   second night's restore never collides with the first; a retried restore never collides
//!   with the failed attempt's leftovers), within RDS's identifier rules (1–63 characters,
//!   letters, digits and hyphens, a letter first, no `--`, no trailing `-`), leaving room for
//!   the Aurora writer's `-w`.
//! - `StartRestoreJob`'s idempotency token: `crossvault-` + 32 hex digits of SHA-256
//!   (`crossvault-restore-v1`, recovery point, attempt).
//! - The masking hook's `ClientToken` (SSM wants a UUID): from SHA-256 of the restored
//!   resource's ARN.
//! - The stable address: the SSM parameter `<prefix>/<source account>/<source name>` and,
//!   with a hosted zone, the CNAME `<source name>.<source account>.<domain>`.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// RDS's identifier limit.
pub const MAX_IDENTIFIER: usize = 63;
/// What the source name may take of it: 63 − `-YYYYMMDD-xxxxxx` (16) − the writer's `-w` (2).
pub const MAX_BASE: usize = MAX_IDENTIFIER - 16 - 2;
/// Suffix of an Aurora restore's writer instance.
pub const WRITER_SUFFIX: &str = "-w";

fn digest(domain: &str, parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(domain.as_bytes());
    for p in parts {
        h.update(b"\n");
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

/// The last path segment of a resource ARN (`db:orders` → `orders`, `table/carts` → `carts`).
pub fn source_name(resource_arn: &str) -> &str {
    let resource = resource_arn.splitn(6, ':').nth(5).unwrap_or(resource_arn);
    resource
        .rsplit([':', '/'])
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(resource)
}

/// `name` made a valid RDS identifier stem: lower case, letters, digits and single hyphens,
/// a letter first, at most `max` characters, no trailing hyphen.
pub fn identifier_stem(name: &str, max: usize) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        if out.is_empty() && !c.is_ascii_alphabetic() {
            out.push('r');
        }
        out.push(c);
    }
    out.truncate(max);
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("restore");
    }
    out
}

/// The name of attempt `attempt` of restoring `recovery_point` of `source_resource`, backed up
/// at `backup_time`.
pub fn restore_name(
    source_resource: &str,
    backup_time: DateTime<Utc>,
    recovery_point: &str,
    attempt: u32,
) -> String {
    let d = digest(
        "crossvault-restore-name-v1",
        &[recovery_point, &attempt.to_string()],
    );
    format!(
        "{}-{}-{}",
        identifier_stem(source_name(source_resource), MAX_BASE),
        backup_time.format("%Y%m%d"),
        &hex::encode(d)[..6]
    )
}

/// The writer instance of Aurora restore `cluster`.
pub fn writer_name(cluster: &str) -> String {
    format!("{cluster}{WRITER_SUFFIX}")
}

/// `StartRestoreJob`'s idempotency token for attempt `attempt` of `recovery_point`.
pub fn restore_token(recovery_point: &str, attempt: u32) -> String {
    let d = digest(
        "crossvault-restore-v1",
        &[recovery_point, &attempt.to_string()],
    );
    format!("crossvault-{}", &hex::encode(d)[..32])
}

/// The masking hook's `ClientToken` for `restored_arn` (UUID-shaped, as SSM requires).
pub fn hook_token(restored_arn: &str) -> String {
    let h = hex::encode(digest("crossvault-hook-v1", &[restored_arn]));
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn ssm_segment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The stable address's SSM parameter for `source_resource` of `source_account`.
pub fn parameter_name(prefix: &str, source_account: &str, source_resource: &str) -> String {
    format!(
        "{}/{}/{}",
        prefix.trim_end_matches('/'),
        ssm_segment(source_account),
        ssm_segment(source_name(source_resource))
    )
}

/// The stable CNAME of `source_resource` of `source_account` in `domain`.
pub fn dns_name(domain: &str, source_account: &str, source_resource: &str) -> String {
    format!(
        "{}.{}.{}",
        identifier_stem(source_name(source_resource), 63),
        source_account,
        domain
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const RP: &str = "arn:aws:rds:eu-west-1:333333333333:snapshot:awsbackup:copyjob-5a6b";

    fn valid_rds_identifier(id: &str) -> bool {
        (1..=MAX_IDENTIFIER).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !id.contains("--")
            && !id.ends_with('-')
    }

    #[test]
    fn names_are_unique_per_point_and_attempt_and_stable() {
        let db = "arn:aws:rds:eu-west-1:111111111111:db:orders";
        let night1 = restore_name(db, t("2026-03-02T03:00:05Z"), RP, 1);
        assert!(night1.starts_with("orders-20260302-"), "{night1}");
        assert_eq!(night1.len(), "orders-20260302-".len() + 6);
        assert_eq!(night1, restore_name(db, t("2026-03-02T03:00:05Z"), RP, 1));
        assert_ne!(night1, restore_name(db, t("2026-03-02T03:00:05Z"), RP, 2));
        let night2 = restore_name(db, t("2026-03-03T03:00:05Z"), &format!("{RP}x"), 1);
        assert_ne!(night1, night2);
        assert!(valid_rds_identifier(&night1));
        assert!(valid_rds_identifier(&writer_name(&night1)));
    }

    #[test]
    fn any_source_name_gives_a_valid_identifier() {
        for name in [
            "Orders_DB",
            "1orders",
            "--weird--name--",
            "a",
            "ünïcode-db",
            &"x".repeat(200),
            "carts.v2",
            "___",
        ] {
            let arn = format!("arn:aws:dynamodb:eu-west-1:111111111111:table/{name}");
            let id = restore_name(&arn, t("2026-03-02T03:00:05Z"), RP, 3);
            assert!(valid_rds_identifier(&id), "{name:?} -> {id:?}");
            assert!(valid_rds_identifier(&writer_name(&id)), "{id}");
        }
    }

    #[test]
    fn tokens() {
        let a = restore_token(RP, 1);
        assert_eq!(a.len(), 43);
        assert_ne!(a, restore_token(RP, 2));
        assert_ne!(a, crate::idempotency::copy_token(RP, RP, 1));
        let h = hook_token("arn:aws:rds:eu-west-1:333333333333:db:orders-20260302-1a2b3c");
        assert_eq!(h.len(), 36);
        assert_eq!(h.matches('-').count(), 4);
    }

    #[test]
    fn stable_address_names() {
        let db = "arn:aws:rds:eu-west-1:111111111111:db:orders";
        assert_eq!(
            parameter_name("/crossvault/preprod/", "111111111111", db),
            "/crossvault/preprod/111111111111/orders"
        );
        assert_eq!(
            dns_name("preprod.internal", "111111111111", db),
            "orders.111111111111.preprod.internal"
        );
        assert_eq!(
            source_name("arn:aws:elasticfilesystem:eu-west-1:1:file-system/fs-1"),
            "fs-1"
        );
    }
}
