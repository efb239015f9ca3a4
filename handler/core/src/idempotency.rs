//! Deterministic `StartCopyJob` idempotency tokens.
//!
//! Token = `"crossvault-"` + the first 32 hex digits (128 bits) of
//! SHA-256(`"crossvault-copy-v2\n" + source recovery point ARN + "\n" + destination vault ARN
//! + "\n" + attempt`).
//!
//! - Deterministic: a duplicate event, the reconciler and the event path all derive the same
//!   token for the same attempt of a hop, so AWS answers a repeat "with no action taken"
//!   (AWS docs).
//! - The attempt is `1 +` the number of earlier FAILED/ABORTED/EXPIRED copy jobs of that
//!   (point, destination) pair, read from `ListCopyJobs` ([`crate::copy_jobs`]). A retry after
//!   a failure therefore carries a new token and starts a new job; reusing the first token
//!   would be answered "success, no action taken" with the old FAILED job.
//! - Short and stable: 43 ASCII characters. The Backup API documents no length limit for
//!   `IdempotencyToken`; 43 stays well inside the 64-character limit common to AWS client
//!   tokens. 128 bits make collisions irrelevant.
//! - The newline separator cannot occur in an ARN, so distinct inputs cannot produce the same
//!   hash input. The `v2` domain tag keeps these tokens apart from v1 tokens (which had no
//!   attempt), so an upgrade never collides with a job started before it.

use sha2::{Digest, Sha256};

/// The token prefix.
pub const TOKEN_PREFIX: &str = "crossvault-";

/// Hex digits of the digest kept in the token.
pub const TOKEN_HEX_DIGITS: usize = 32;

/// The domain tag of the current token format.
pub const DOMAIN_TAG: &[u8] = b"crossvault-copy-v2\n";

/// The idempotency token for attempt `attempt` (1-based) of copying
/// `source_recovery_point_arn` into `destination_vault_arn`.
pub fn copy_token(
    source_recovery_point_arn: &str,
    destination_vault_arn: &str,
    attempt: u32,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN_TAG);
    hasher.update(source_recovery_point_arn.as_bytes());
    hasher.update(b"\n");
    hasher.update(destination_vault_arn.as_bytes());
    hasher.update(b"\n");
    hasher.update(attempt.to_string().as_bytes());
    let digest = hasher.finalize();
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + TOKEN_HEX_DIGITS);
    token.push_str(TOKEN_PREFIX);
    token.push_str(&hex::encode(&digest[..TOKEN_HEX_DIGITS / 2]));
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    const RP: &str = "arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-4f1c";
    const DEST: &str = "arn:aws:backup:eu-central-1:222222222222:backup-vault:crossvault";

    #[test]
    fn stable_format() {
        let t = copy_token(RP, DEST, 1);
        assert_eq!(t.len(), 43);
        assert!(t.starts_with(TOKEN_PREFIX));
        assert!(
            t[TOKEN_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        );
        assert_eq!(t, copy_token(RP, DEST, 1));
    }

    #[test]
    fn differs_by_source_destination_and_attempt() {
        let other_dest = "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault";
        assert_ne!(copy_token(RP, DEST, 1), copy_token(RP, other_dest, 1));
        assert_ne!(copy_token(RP, DEST, 1), copy_token(DEST, RP, 1));
        assert_ne!(copy_token(RP, DEST, 1), copy_token(RP, DEST, 2));
        // "…\n1" + "1" never equals "…\n11": the attempt is the last field.
        assert_ne!(copy_token(RP, DEST, 11), copy_token(RP, DEST, 1));
    }

    #[test]
    fn v1_tokens_are_not_reproduced() {
        // The v1 token of (RP, DEST) (no attempt, tag crossvault-copy-v1).
        let mut h = Sha256::new();
        h.update(b"crossvault-copy-v1\n");
        h.update(RP.as_bytes());
        h.update(b"\n");
        h.update(DEST.as_bytes());
        let v1 = format!("{TOKEN_PREFIX}{}", hex::encode(&h.finalize()[..16]));
        for attempt in 1..=5 {
            assert_ne!(copy_token(RP, DEST, attempt), v1);
        }
    }
}
