//! `sphere access` (C15): ask for access to a service one does not own, and decide.
//!
//! - `sphere access request SERVICE --permission read-secrets|operate|read-logs [--env E]
//!   --reason TEXT`: granted at once by ownership or a team rule (`[policy]
//!   access_rules`), else pending. The line printed starts `access request #ID`.
//! - `sphere access approve ID [--reason TEXT]` / `sphere access deny ID [--reason
//!   TEXT]`: a member of the group that owns the service, or a platform admin; the
//!   reason goes into the audit trail.
//! - `sphere access list [--pending] [--output json]`: every request (with
//!   `--pending`, those waiting for a decision), oldest first. JSON:
//!   `[{"id", "requester", "service", "permission", "env", "reason", "status": {"status",
//!   "by"?, "how"?}, "at", "expires_at"}]`. A grant lasts `[policy] access_grant_ttl`
//!   (default 8h); the table shows when it ends, and an expired one no longer
//!   authorizes.
//!
//! Exit codes are those of every action (see `act`): 0 done, 1 failed, 2 invalid input,
//! 4 refused by the policy.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};

use crate::actions::Action;
use crate::domain::Timestamp;
use crate::domain::access::{AccessRequest, AccessStatus, GrantHow, Permission};
use crate::domain::environment::format_duration;

use super::act::{WhyArgs, run_action, run_action_why};
use super::secret::rfc3339;
use super::{Cli, Ctx, Output, build_platform, print_table};

/// `--permission`, as the CLI spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PermissionArg {
    /// Reveal the service's secret values.
    ReadSecrets,
    /// Act on the service as an owner would.
    Operate,
    /// Read the service's logs and events in production.
    ReadLogs,
}

impl From<PermissionArg> for Permission {
    fn from(p: PermissionArg) -> Permission {
        match p {
            PermissionArg::ReadSecrets => Permission::ReadSecrets,
            PermissionArg::Operate => Permission::Operate,
            PermissionArg::ReadLogs => Permission::ReadLogs,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Ask for access to a service you do not own.
    Request {
        service: String,
        #[arg(long, value_enum)]
        permission: PermissionArg,
        /// Only this environment (default: every one).
        #[arg(long)]
        env: Option<String>,
        /// Why (recorded with the request and in the audit trail). Required.
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Grant a pending request (an owner of its service, or an admin).
    Approve {
        id: u64,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Deny a pending request (an owner of its service, or an admin).
    Deny {
        id: u64,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Every access request, oldest first.
    List {
        /// Only the requests waiting for a decision.
        #[arg(long)]
        pending: bool,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

pub async fn run(cli: &Cli, ctx: &Ctx, cmd: &AccessCommand) -> Result<ExitCode> {
    match cmd {
        AccessCommand::Request {
            service,
            permission,
            env,
            reason,
            output,
        } => {
            let action = Action::AccessRequest {
                service: service.clone(),
                permission: (*permission).into(),
                env: env.clone(),
                reason: reason.clone().unwrap_or_default(),
            };
            run_action(cli, ctx, action, *output).await
        }
        AccessCommand::Approve { id, reason, output } => {
            let why = because(reason);
            let reason = reason.clone().unwrap_or_default();
            run_action_why(
                cli,
                ctx,
                Action::AccessApprove { id: *id, reason },
                *output,
                &why,
            )
            .await
        }
        AccessCommand::Deny { id, reason, output } => {
            let why = because(reason);
            let reason = reason.clone().unwrap_or_default();
            run_action_why(
                cli,
                ctx,
                Action::AccessDeny { id: *id, reason },
                *output,
                &why,
            )
            .await
        }
        AccessCommand::List { pending, output } => list(cli, ctx, *pending, *output).await,
    }
}

fn status_text(s: &AccessStatus) -> String {
    match s {
        AccessStatus::Pending => "pending".to_string(),
        AccessStatus::Granted {
            how: GrantHow::Auto(rule),
            ..
        } => format!("granted ({rule})"),
        AccessStatus::Granted {
            by,
            how: GrantHow::Approved,
        } => format!("granted by {by}"),
        AccessStatus::Denied { by } => format!("denied by {by}"),
    }
}

/// When a grant ends: `in 7h59m`, `expired`; `-` when nothing was granted (or it does
/// not end).
fn expiry_text(r: &AccessRequest, now: Timestamp) -> String {
    match (&r.status, r.expires_at) {
        (AccessStatus::Granted { .. }, Some(t)) if t > now => {
            format!("in {}", format_duration(t - now))
        }
        (AccessStatus::Granted { .. }, Some(_)) => "expired".to_string(),
        _ => "-".to_string(),
    }
}

async fn list(cli: &Cli, ctx: &Ctx, pending: bool, output: Output) -> Result<ExitCode> {
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let mut requests = platform.ledger.access_requests().await?;
    if pending {
        requests.retain(|r| r.status == AccessStatus::Pending);
    }
    let now = platform.now();
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&requests)?),
        Output::Table => {
            let rows: Vec<Vec<String>> = requests
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        r.requester.clone(),
                        r.service.clone(),
                        r.permission.to_string(),
                        r.env.clone().unwrap_or_else(|| "*".to_string()),
                        status_text(&r.status),
                        expiry_text(r, now),
                        rfc3339(r.at),
                        r.reason.clone(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID",
                    "REQUESTER",
                    "SERVICE",
                    "PERMISSION",
                    "ENV",
                    "STATUS",
                    "EXPIRES",
                    "AT",
                    "REASON",
                ],
                &rows,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn because(reason: &Option<String>) -> WhyArgs {
    WhyArgs {
        reason: reason.clone(),
        override_lock: None,
    }
}
