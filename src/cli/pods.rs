//! `sphere pods`. (Being written.)

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::{Cli, Ctx};

#[derive(Debug, Args)]
pub struct PodsArgs {}

pub async fn run(_cli: &Cli, _ctx: &Ctx, _args: &PodsArgs) -> Result<ExitCode> {
    bail!("`sphere pods` is not available yet")
}
