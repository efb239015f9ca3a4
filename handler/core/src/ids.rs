//! Validated identifiers: AWS account ids, region names and backup vault names.
//!
//! Each is a thin newtype over `String` that can only be built through validation, so a value
//! of these types in a [`crate::StackConfig`] or an ARN is known to be well-formed. They
//! serialize as plain strings.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier (the caller adds which field it came from).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {value:?}")]
pub struct IdError {
    /// What a valid value looks like.
    pub expected: &'static str,
    /// The rejected value.
    pub value: String,
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $check:path, $expected:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// What a valid value looks like (used in error messages).
            pub const EXPECTED: &'static str = $expected;

            /// Validates and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                if $check(&value) {
                    Ok(Self(value))
                } else {
                    Err(IdError { expected: $expected, value })
                }
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_newtype!(
    /// A 12-digit AWS account id.
    AccountId,
    is_account_id,
    "a 12-digit AWS account id"
);

string_newtype!(
    /// An AWS region name such as `eu-west-1`, `us-gov-west-1` or `cn-north-1`.
    Region,
    is_region,
    "an AWS region name like eu-west-1"
);

string_newtype!(
    /// An AWS Backup vault name: 2 to 50 characters of letters, digits, `-` and `_`
    /// (the `BackupVaultName` pattern of the Backup API).
    VaultName,
    is_vault_name,
    "a backup vault name (2-50 characters: letters, digits, '-', '_')"
);

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `<letters>(-<letters>)+-<digits>`, all lower case: eu-west-1, ap-southeast-2, us-gov-west-1.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() < 3 || s.len() > 32 {
        return false;
    }
    let (last, rest) = parts.split_last().expect("at least three parts");
    !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && rest
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

fn is_vault_name(s: &str) -> bool {
    (2..=50).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert!(AccountId::new("111111111111").is_ok());
        assert!(AccountId::new("11111111111").is_err());
        assert!(AccountId::new("11111111111a").is_err());
        assert!(AccountId::new(" 111111111111").is_err());
    }

    #[test]
    fn regions() {
        for ok in ["eu-west-1", "us-gov-west-1", "cn-north-1", "ap-southeast-2"] {
            assert!(Region::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "eu-west", "EU-west-1", "eu--1", "eu-west-1a", "west-1"] {
            assert!(Region::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn vault_names() {
        assert!(VaultName::new("crossvault").is_ok());
        assert!(VaultName::new("Default").is_ok());
        assert!(VaultName::new("a").is_err());
        assert!(VaultName::new("has space").is_err());
        assert!(VaultName::new("x".repeat(51)).is_err());
    }

    #[test]
    fn error_names_expectation_and_value() {
        let e = AccountId::new("12").unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected a 12-digit AWS account id, got \"12\""
        );
    }
}
