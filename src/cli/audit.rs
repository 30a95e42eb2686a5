//! `sphere audit`. (Being written.)

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::{Cli, Ctx};

#[derive(Debug, Args)]
pub struct AuditArgs {}

pub async fn run(_cli: &Cli, _ctx: &Ctx, _args: &AuditArgs) -> Result<ExitCode> {
    bail!("`sphere audit` is not available yet")
}
