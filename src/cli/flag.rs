//! `sphere flag ...`. (Being written.)

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;

use super::{Cli, Ctx};

#[derive(Debug, Subcommand)]
pub enum FlagCommand {
    /// Not available yet.
    Todo,
}

pub async fn run(_cli: &Cli, _ctx: &Ctx, _cmd: &FlagCommand) -> Result<ExitCode> {
    bail!("`sphere flag` is not available yet")
}
