//! Facts: what the decision core cannot see in an event and the effect layer must look up.
//!
//! Deciding is two-phase:
//! 1. [`crate::facts_needed`] says which facts a decision needs ([`FactRequest`]);
//! 2. the effect layer gathers exactly those (e.g. `ListTags` on the resource) into [`Facts`];
//! 3. [`crate::decide()`] returns the plan. Called without a needed fact it fails with
//!    [`crate::DecideError::NeedsFacts`] rather than guess.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The facts the effect layer gathered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Facts {
    /// The tags of [`FactRequest::resource_tags_of`] (`None` = not looked up; an empty map =
    /// the resource has no tags).
    pub resource_tags: Option<BTreeMap<String, String>>,
}

impl Facts {
    /// No facts at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Facts with the resource's tags.
    pub fn with_tags<I, K, V>(tags: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            resource_tags: Some(
                tags.into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }
}

/// The facts a decision needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FactRequest {
    /// Look up the tags of this ARN (the protected resource; the source recovery point when
    /// the event names no resource). Needed only to decide the pre-prod hop.
    pub resource_tags_of: Option<String>,
}

impl FactRequest {
    /// True when the decision needs no facts.
    pub fn is_empty(&self) -> bool {
        self.resource_tags_of.is_none()
    }
}

impl fmt::Display for FactRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resource_tags_of {
            Some(arn) => write!(f, "the tags of {arn}"),
            None => f.write_str("nothing"),
        }
    }
}
