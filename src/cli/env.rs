//! `sphere env` (C14): ephemeral environments.
//!
//! - `sphere env create NAME --from ENV --ttl 7d [--region R]`: a copy of ENV's
//!   deployments (every region of it, or R), at the versions ENV runs now, that the
//!   platform removes when the TTL is up. The TTL is at most `[policy] env_ttl_max`.
//! - `sphere env extend NAME --by 3d`: more time (the creator, or an admin); what is
//!   left after it is at most `[policy] env_ttl_max`.
//! - `sphere env delete NAME`: now, with everything in it (the creator, or an admin);
//!   asks, or needs `--yes` when stdin is not a terminal.
//! - `sphere env list [--output json]`: every ephemeral environment with its expiry.
//!   JSON: `[{"name", "from", "regions", "created_by", "created_at", "expires_at",
//!   "expires_in_seconds"}]`.
//!
//! Durations are a number and `m`, `h` or `d` (`30m`, `8h`, `7d`, `1d12h`). Exit codes
//! are those of every action (see `act`).

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use serde::Serialize;

use crate::actions::Action;
use crate::domain::environment::{EphemeralEnv, parse_duration, short_remaining};

use super::act::{WhyArgs, run_action_why};
use super::secret::rfc3339;
use super::{Cli, Ctx, Output, build_platform, print_table};

/// `--ttl` / `--by`: seconds, from `30m`, `8h`, `7d`.
fn duration(s: &str) -> Result<i64, String> {
    parse_duration(s)
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Create an ephemeral environment from an existing one.
    Create {
        /// Its name: lowercase letters, digits and - (e.g. pr-1234).
        name: String,
        /// The environment to copy (its deployments, at the versions it runs now).
        #[arg(long, value_name = "ENV")]
        from: String,
        /// How long it lives: 30m, 8h, 7d (at most [policy] env_ttl_max).
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        ttl: i64,
        /// Only this region of the source (default: every region it spans).
        #[arg(long)]
        region: Option<String>,
        #[command(flatten)]
        why: WhyArgs,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Give an ephemeral environment more time.
    Extend {
        name: String,
        /// How much more: 30m, 8h, 3d.
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        by: i64,
        #[command(flatten)]
        why: WhyArgs,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete an ephemeral environment and everything in it, now.
    Delete {
        name: String,
        #[command(flatten)]
        why: WhyArgs,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Every ephemeral environment, oldest first, with its expiry.
    List {
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

pub async fn run(cli: &Cli, ctx: &Ctx, cmd: &EnvCommand) -> Result<ExitCode> {
    match cmd {
        EnvCommand::Create {
            name,
            from,
            ttl,
            region,
            why,
            output,
        } => {
            let action = Action::EnvCreate {
                name: name.clone(),
                from: from.clone(),
                region: region.clone(),
                ttl_seconds: *ttl,
            };
            run_action_why(cli, ctx, action, *output, why).await
        }
        EnvCommand::Extend {
            name,
            by,
            why,
            output,
        } => {
            let action = Action::EnvExtend {
                name: name.clone(),
                by_seconds: *by,
            };
            run_action_why(cli, ctx, action, *output, why).await
        }
        EnvCommand::Delete { name, why, output } => {
            let action = Action::EnvDelete { name: name.clone() };
            run_action_why(cli, ctx, action, *output, why).await
        }
        EnvCommand::List { output } => list(cli, ctx, *output).await,
    }
}

#[derive(Serialize)]
struct EnvJson<'a> {
    #[serde(flatten)]
    env: &'a EphemeralEnv,
    expires_in_seconds: i64,
}

async fn list(cli: &Cli, ctx: &Ctx, output: Output) -> Result<ExitCode> {
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let envs = platform.clusters.environments().await?;
    let now = platform.now();
    match output {
        Output::Json => {
            let items: Vec<EnvJson> = envs
                .iter()
                .map(|e| EnvJson {
                    env: e,
                    expires_in_seconds: e.remaining(now).max(0),
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        Output::Table => {
            if envs.is_empty() {
                eprintln!(
                    "sphere: no ephemeral environment; create one with `sphere env create NAME --from ENV --ttl 7d`"
                );
            }
            let rows: Vec<Vec<String>> = envs
                .iter()
                .map(|e| {
                    vec![
                        e.name.clone(),
                        e.from.clone(),
                        e.regions.join(","),
                        e.created_by.clone(),
                        // As the TUI's ⏳ reads it (one formatter); the last minute
                        // is not "0m": it is not up yet.
                        match e.remaining(now) {
                            left @ 1..60 => format!("<1m ({left}s)"),
                            left => short_remaining(left),
                        },
                        rfc3339(e.expires_at),
                    ]
                })
                .collect();
            print_table(
                &["NAME", "FROM", "REGIONS", "BY", "EXPIRES IN", "EXPIRES AT"],
                &rows,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
