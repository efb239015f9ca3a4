//! The crossvault Lambda.
//!
//! One function per stack answers three kinds of input, told apart by shape
//! ([`incoming::classify`]): CloudFormation custom-resource requests ([`custom_resource`],
//! kinds in [`resources`]), AWS Backup events arriving in SQS batches ([`batch`]), and the
//! reconcile schedule. Decisions are made by the pure `crossvault-core` crate; this crate is the
//! AWS edge that gathers facts and carries out plans.

pub mod aws_error;
pub mod batch;
pub mod clients;
pub mod clock;
pub mod context;
pub mod custom_resource;
pub mod dead_letter;
pub mod effects;
pub mod handler;
pub mod incoming;
pub mod pipeline;
pub mod reconcile;
pub mod reencrypt;
pub mod resources;
pub mod restore;
pub mod runtime;
pub mod sdk_values;
pub mod slack;

pub use context::InvocationContext;
pub use handler::{Handler, HandlerError};
