//! `sphere secret ...`. (Being written.)

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;

use super::{Cli, Ctx};

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Not available yet.
    Todo,
}

pub async fn run(_cli: &Cli, _ctx: &Ctx, _cmd: &SecretCommand) -> Result<ExitCode> {
    bail!("`sphere secret` is not available yet")
}
