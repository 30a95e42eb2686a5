//! `sphere lock`, `sphere unlock` and `sphere freeze` (C8).
//!
//! A target holds a set of locks, one per holder: locking a target someone else locked
//! adds a second lock and says who holds the first and why.
//!
//! - `sphere lock SERVICE [--env E] [--region R] --reason TEXT`
//! - `sphere lock all --reason TEXT` / `sphere unlock all [--all-holders]` (the
//!   incident lock)
//! - `sphere unlock SERVICE [--env E] [--region R] [--all-holders] [--reason TEXT]`:
//!   removes your own locks; `--all-holders` removes every holder's, with a reason
//!   and a typed confirmation naming the other holders.
//! - `sphere lock check SERVICE --env E [--region R]`: the pipeline gate. Exit 0 when
//!   free, 3 when locked (every holder, when and why on stdout), 2 bad usage, 1 when
//!   the locks cannot be read. JSON: `{"service", "env", "region", "locked": bool,
//!   "holders": [NAME], "locks": [{"service", "env"?, "region"?, "reason", "by",
//!   "at"}]}`.
//! - `sphere freeze on --reason TEXT | off [--reason TEXT] | status`. Status JSON:
//!   `{"on", "reason"?, "by"?, "at"?}`.
//!
//! A service called `all` or `check` cannot be named here (the subcommands win).
//! The other exit codes are those of every action (see `act`).

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::actions::Action;
use crate::backend::facts::is_service;
use crate::domain::catalog::Kind;
use crate::domain::text::sanitize;
use crate::domain::{ClusterId, Lock};

use super::act::{WhyArgs, run_action, run_action_why};
use super::secret::rfc3339;
use super::{Cli, Ctx, Output, UsageError, build_platform, scope_from};

/// Exit code of `sphere lock check` when a lock covers the deploy.
pub const EXIT_LOCKED: u8 = 3;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LockArgs {
    #[command(subcommand)]
    pub cmd: Option<LockCommand>,
    /// The service to lock.
    pub service: Option<String>,
    /// Only this environment (default: every one).
    #[arg(long)]
    pub env: Option<String>,
    /// Only this region (default: every one).
    #[arg(long)]
    pub region: Option<String>,
    /// Why (recorded with the lock and in the audit trail). Required.
    #[arg(long)]
    pub reason: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Lock every service everywhere (an incident); typed confirmation `lock all`.
    All {
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// May SERVICE deploy to ENV (and REGION)? Exit 0 free, 3 locked.
    Check {
        service: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        region: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct UnlockArgs {
    #[command(subcommand)]
    pub cmd: Option<UnlockCommand>,
    /// The service to unlock.
    pub service: Option<String>,
    /// Only this environment's locks (default: every one).
    #[arg(long)]
    pub env: Option<String>,
    /// Only this region's locks (default: every one).
    #[arg(long)]
    pub region: Option<String>,
    /// Remove every holder's locks, not only your own (needs --reason and a typed
    /// confirmation naming the other holders).
    #[arg(long)]
    pub all_holders: bool,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    pub reason: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum UnlockCommand {
    /// Release your lock on everything (typed confirmation `unlock all`); with
    /// --all-holders every holder's.
    All {
        /// Remove every holder's lock on everything (needs --reason and a typed
        /// confirmation naming the other holders).
        #[arg(long)]
        all_holders: bool,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum FreezeCommand {
    /// Switch the merge freeze on.
    On {
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Switch the merge freeze off.
    Off {
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Is the freeze on, since when, by whom and why.
    Status {
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

fn need_service(service: &Option<String>, verb: &str) -> Result<String> {
    service.clone().ok_or_else(|| {
        UsageError(format!(
            "name the service to {verb} (or `all`): sphere {verb} SERVICE"
        ))
        .into()
    })
}

pub async fn lock(cli: &Cli, ctx: &Ctx, args: &LockArgs) -> Result<ExitCode> {
    match &args.cmd {
        Some(LockCommand::All { reason, output }) => {
            let action = Action::LockAll {
                reason: reason.clone().unwrap_or_default(),
            };
            run_action(cli, ctx, action, *output).await
        }
        Some(LockCommand::Check {
            service,
            env,
            region,
            output,
        }) => check(cli, ctx, service, env, region.as_deref(), *output).await,
        None => {
            let action = Action::Lock {
                service: need_service(&args.service, "lock")?,
                env: args.env.clone(),
                region: args.region.clone(),
                reason: args.reason.clone().unwrap_or_default(),
            };
            run_action(cli, ctx, action, args.output).await
        }
    }
}

pub async fn unlock(cli: &Cli, ctx: &Ctx, args: &UnlockArgs) -> Result<ExitCode> {
    match &args.cmd {
        Some(UnlockCommand::All {
            all_holders,
            reason,
            output,
        }) => {
            let action = Action::UnlockAll {
                all_holders: *all_holders,
            };
            run_action_why(cli, ctx, action, *output, &because(reason)).await
        }
        None => {
            let action = Action::Unlock {
                service: need_service(&args.service, "unlock")?,
                env: args.env.clone(),
                region: args.region.clone(),
                all_holders: args.all_holders,
            };
            run_action_why(cli, ctx, action, args.output, &because(&args.reason)).await
        }
    }
}

fn because(reason: &Option<String>) -> WhyArgs {
    WhyArgs {
        reason: reason.clone(),
        override_lock: None,
    }
}

#[derive(Serialize)]
struct CheckJson<'a> {
    service: &'a str,
    env: &'a str,
    region: Option<&'a str>,
    locked: bool,
    /// Everyone holding a lock that covers it, in name order.
    holders: Vec<&'a str>,
    locks: Vec<&'a Lock>,
}

async fn check(
    cli: &Cli,
    ctx: &Ctx,
    service: &str,
    env: &str,
    region: Option<&str>,
    output: Output,
) -> Result<ExitCode> {
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let topology = platform.topology_or_clusters().await;
    scope_from(Some(env), region, &topology)?;
    let (catalog, locks) = tokio::try_join!(platform.catalog.load(), platform.ledger.locks())?;
    let Some(entity) = catalog
        .find(Some(&Kind::Component), service)
        .filter(|e| is_service(e))
    else {
        return Err(UsageError(format!(
            "{:?} is not a service in the catalog",
            sanitize(service)
        ))
        .into());
    };
    let name = entity.name.as_str();
    let regions: Vec<&str> = match region {
        Some(r) => vec![r],
        // The regions the environment runs in (a platform is not always a full grid).
        None => topology
            .regions_of(env)
            .iter()
            .map(String::as_str)
            .collect(),
    };
    let covering: Vec<&Lock> = locks
        .iter()
        .filter(|l| {
            regions
                .iter()
                .any(|r| l.covers(name, &ClusterId::new(env, *r)))
        })
        .collect();
    let locked = !covering.is_empty();
    let mut holders: Vec<&str> = covering.iter().map(|l| l.by.as_str()).collect();
    holders.sort_unstable();
    holders.dedup();
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&CheckJson {
                service: name,
                env,
                region,
                locked,
                holders: holders.clone(),
                locks: covering.clone(),
            })?
        ),
        Output::Table => {
            let place = format!("{env}/{}", region.unwrap_or("any region"));
            if locked {
                println!(
                    "{} is locked in {place} by {}:",
                    sanitize(name),
                    sanitize(&holders.join(", "))
                );
                for l in &covering {
                    println!(
                        "  {}@{}/{} by {} at {}: {}",
                        sanitize(&l.service),
                        l.env.as_deref().map(sanitize).unwrap_or("*".into()),
                        l.region.as_deref().map(sanitize).unwrap_or("*".into()),
                        sanitize(&l.by),
                        rfc3339(l.at),
                        sanitize(&l.reason)
                    );
                }
            } else {
                println!("{} is free to deploy in {place}", sanitize(name));
            }
        }
    }
    Ok(if locked {
        ExitCode::from(EXIT_LOCKED)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn freeze(cli: &Cli, ctx: &Ctx, cmd: &FreezeCommand) -> Result<ExitCode> {
    match cmd {
        FreezeCommand::On { reason, output } => {
            let action = Action::FreezeOn {
                reason: reason.clone().unwrap_or_default(),
            };
            run_action(cli, ctx, action, *output).await
        }
        FreezeCommand::Off { reason, output } => {
            run_action_why(cli, ctx, Action::FreezeOff, *output, &because(reason)).await
        }
        FreezeCommand::Status { output } => {
            let (platform, _sim) = build_platform(cli, ctx).await?;
            let f = platform.ledger.freeze().await?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&f)?),
                Output::Table if f.on => println!(
                    "merge freeze ON since {} by {}: {}",
                    f.at.map(rfc3339).unwrap_or_else(|| "?".into()),
                    sanitize(f.by.as_deref().unwrap_or("?")),
                    sanitize(f.reason.as_deref().unwrap_or(""))
                ),
                Output::Table => println!("merge freeze off"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
