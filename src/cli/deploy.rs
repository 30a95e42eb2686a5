//! `sphere deploy ...`. (Being written.)

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;

use super::{Cli, Ctx};

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Not available yet.
    Todo,
}

pub async fn run(_cli: &Cli, _ctx: &Ctx, _cmd: &DeployCommand) -> Result<ExitCode> {
    bail!("`sphere deploy` is not available yet")
}
