//! `sphere score`. (Being written.)

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::{Cli, Ctx};

#[derive(Debug, Args)]
pub struct ScoreArgs {}

pub async fn run(_cli: &Cli, _ctx: &Ctx, _args: &ScoreArgs) -> Result<ExitCode> {
    bail!("`sphere score` is not available yet")
}
