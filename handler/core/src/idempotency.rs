//! Deterministic `StartCopyJob` idempotency tokens.
//!
//! Token = `"crossvault-"` + the first 32 hex digits (128 bits) of
//! SHA-256(`"crossvault-copy-v1\n" + source recovery point ARN + "\n" + destination vault ARN`).
//!
//! - Deterministic: a duplicate event, the reconciler and the event path all derive the same
//!   token for the same hop, so AWS answers a retry "with no action taken" (aws-facts §4).
//! - Short and stable: 43 ASCII characters. The Backup API documents no length limit for
//!   `IdempotencyToken`; 43 stays well inside the 64-character limit common to AWS client
//!   tokens. 128 bits make collisions irrelevant.
//! - The newline separator cannot occur in an ARN, so distinct (source, destination) pairs
//!   cannot produce the same hash input. The `v1` domain tag lets the format change later
//!   without colliding with old tokens.

use sha2::{Digest, Sha256};

/// The token prefix.
pub const TOKEN_PREFIX: &str = "crossvault-";

/// Hex digits of the digest kept in the token.
pub const TOKEN_HEX_DIGITS: usize = 32;

/// The idempotency token for copying `source_recovery_point_arn` into `destination_vault_arn`.
pub fn copy_token(source_recovery_point_arn: &str, destination_vault_arn: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"crossvault-copy-v1\n");
    hasher.update(source_recovery_point_arn.as_bytes());
    hasher.update(b"\n");
    hasher.update(destination_vault_arn.as_bytes());
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
        let t = copy_token(RP, DEST);
        assert_eq!(t.len(), 43);
        assert!(t.starts_with(TOKEN_PREFIX));
        assert!(
            t[TOKEN_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        );
        assert_eq!(t, copy_token(RP, DEST));
    }

    #[test]
    fn differs_by_source_and_destination() {
        let other_dest = "arn:aws:backup:eu-west-1:222222222222:backup-vault:crossvault";
        assert_ne!(copy_token(RP, DEST), copy_token(RP, other_dest));
        assert_ne!(copy_token(RP, DEST), copy_token(DEST, RP));
    }
}
