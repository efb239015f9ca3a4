//! One module per command.

pub mod build;
pub mod explain;
pub mod invoke;
