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
//! `ShortenRetention` is itself a two-phase step: the effect layer describes the recovery point,
//! the vault's lock and the confirming copy job, and calls [`retention::decide`] — **the one
//! place where a new retention is decided** — then applies its answer.
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
//! | idempotency tokens | [`idempotency`] |
//! | the new retention of originals | [`retention`] |
//! | notification texts | [`notify`] |
//! | the reconciler | [`reconcile`] |
//! | the entry point | [`decide()`] |

#![warn(missing_docs)]

pub mod arn;
pub mod config;
pub mod copy_chain;
pub mod decide;
pub mod event;
pub mod facts;
pub mod idempotency;
pub mod ids;
pub mod notify;
pub mod plan;
pub mod reconcile;
pub mod retention;

pub use arn::{Partition, RecoveryPointArn, RecoveryPointKind, VaultArn};
pub use config::{ConfigError, LogLevel, Role, StackConfig};
pub use decide::{DecideError, decide, decide_json, facts_needed, facts_needed_json};
pub use event::{BackupEvent, EventError, Status, StorageClass};
pub use facts::{FactRequest, Facts};
pub use ids::{AccountId, Region, VaultName};
pub use plan::{Action, Hop, Lifecycle, Plan};
pub use retention::{ColdMove, CurrentLifecycle, RetentionDecision, RetentionInput};
