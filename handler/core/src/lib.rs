//! # crossvault-core
//!
//! crossvault's pure decision core: no I/O, no clock, no AWS SDK. The Lambda's effect layer
//! (`crossvault-handler`) and the CLI's `crossvault explain` both call it.
//!
//! ## Two-phase design
//!
//! ```text
//!  EventBridge JSON ──► BackupEvent::from_value ──► facts_needed(&event, &config) ──► FactRequest
//!                                                                                      │
//!                             effect layer looks the facts up (ListTags, …) ◄──────────┘
//!                                      │
//!                                      ▼
//!                     decide(&event, &config, &facts) ──► Plan { actions }
//!                                                               │
//!      effect layer executes: StartCopyJob / ShortenRetention / Notify / Ignore (log only)
//! ```
//!
//! `decide` is staged: while a fact it needs is missing it answers
//! [`DecideError::NeedsFacts`] (the point's copy jobs, the point itself, the resource's tags);
//! the effect layer gathers them and asks again.
//!
//! `ShortenRetention` is itself a two-phase step: the effect layer describes the recovery point,
//! the vault's lock and the point's copy jobs (and, for two-hop types, the backup account's
//! forward), checks every required copy ([`verify::check`]) and calls [`retention::decide`] —
//! **the one place where a new retention is decided** — then applies its answer.
//!
//! The scheduled reconciler does the same for listings: [`reconcile::facts_needed`] then
//! [`reconcile::reconcile`].
//!
//! ## Where to look
//!
//! | concept | module |
//! |---|---|
//! | `CROSSVAULT_*` configuration | [`config`] |
//! | account ids, regions, vault names | [`ids`] |
//! | vault and recovery point ARNs | [`arn`] |
//! | the event model and its quirks | [`event`] |
//! | facts the effect layer gathers | [`facts`] |
//! | the plan and its actions | [`plan`] |
//! | which hop comes next | [`copy_chain`] |
//! | a point's copy jobs: done, under way, failed attempts | [`copy_jobs`] |
//! | idempotency tokens | [`idempotency`] |
//! | which copies a shortening waits for | [`verify`] |
//! | the new retention of originals | [`retention`] |
//! | RDS and Aurora under an AWS managed key (`aws/rds`) | [`managed_key`] |
//! | notification texts | [`notify`] |
//! | the reconciler | [`reconcile`] |
//! | the pre-prod refresh (restore, mask, promote, clean up) | [`restore`] |
//! | the entry point | [`decide()`] |

#![warn(missing_docs)]

pub mod arn;
pub mod config;
pub mod copy_chain;
pub mod copy_jobs;
pub mod decide;
pub mod event;
pub mod facts;
pub mod idempotency;
pub mod ids;
pub mod managed_key;
pub mod notify;
pub mod plan;
pub mod reconcile;
pub mod restore;
pub mod retention;
pub mod verify;

pub use arn::{Partition, RecoveryPointArn, RecoveryPointKind, VaultArn};
pub use config::{ConfigError, LogLevel, Role, StackConfig};
pub use copy_jobs::ListedCopyJob;
pub use decide::{DecideError, decide, decide_json, facts_needed, facts_needed_json};
pub use event::{BackupEvent, EventError, Status, StorageClass};
pub use facts::{FactRequest, Facts, RecoveryPointFacts, RecoveryPointRef};
pub use ids::{AccountId, Region, VaultName};
pub use managed_key::PointKey;
pub use plan::{Action, Hop, Lifecycle, Plan};
pub use retention::{CurrentLifecycle, RetentionDecision, RetentionInput};
pub use verify::{CheckedCopy, CopyEvidence, ForwardListing, RequiredCopy};
