//! `sphere explain`. (Being written.)

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::{Cli, Ctx};

#[derive(Debug, Args)]
pub struct ExplainArgs {}

pub async fn run(_cli: &Cli, _ctx: &Ctx, _args: &ExplainArgs) -> Result<ExitCode> {
    bail!("`sphere explain` is not available yet")
}
