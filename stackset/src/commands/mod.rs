//! One module per command.

pub mod build;
pub mod deploy;
pub mod destroy;
pub mod explain;
pub mod init;
pub mod invoke;
pub mod package;
pub mod plan;
pub mod publish;
pub mod setup;
pub mod status;
