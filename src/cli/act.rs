//! The CLI side of the actions: build an [`Action`], hand it to the dispatcher, turn
//! the result into output and an exit code. Also `sphere rollback`, `sphere restart`
//! and `sphere hpa set`.
//!
//! Exit codes of every action command: 0 done, 1 the provider failed (the audit
//! record says `failed`) or the confirmation was declined, 2 invalid input or a
//! confirmation needed with stdin not a terminal (pass `--yes`), 3 refused because a
//! lock covers the target (the holders and their reasons are printed; pass
//! `--override-lock REASON` to act anyway, audited as an override), 4 refused by the
//! policy (the rule and what would allow it are printed; the refusal is audited).
//!
//! Every mutating command takes `--reason TEXT` (recorded in the audit trail) and,
//! where a lock can stop it, `--override-lock REASON`.
//!
//! `--output json` prints the action's audit record(s) as `sphere audit --output json`
//! does: `[{"id", "at", "time", "who", "action", "target", "reason", "outcome",
//! "outcome_detail", "change", "details"}]`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::actions::{Action, Actor, Confirm, DispatchError, Policy, PolicyContext, dispatch};
use crate::backend::Platform;
use crate::domain::ClusterId;
use crate::domain::text::sanitize;

use super::audit::AuditItem;
use super::{Cli, Ctx, Output, UsageError, build_platform};

/// Exit code of a policy refusal.
pub const EXIT_REFUSED: u8 = 4;

/// Why the actor acts, and whether past a lock: `--reason` and `--override-lock`.
#[derive(Debug, Clone, Default, Args)]
pub struct WhyArgs {
    /// Why (recorded in the audit trail).
    #[arg(long)]
    pub reason: Option<String>,
    /// Act although a lock covers the target, on purpose, saying why (audited as an
    /// override naming the locks).
    #[arg(long, value_name = "REASON")]
    pub override_lock: Option<String>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub service: String,
    #[arg(long)]
    pub env: String,
    #[arg(long)]
    pub region: String,
    /// The version to run; default: the release before the current one.
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    #[command(flatten)]
    pub why: WhyArgs,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    pub service: String,
    #[arg(long)]
    pub env: String,
    #[arg(long)]
    pub region: String,
    #[command(flatten)]
    pub why: WhyArgs,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum HpaCommand {
    /// Set an HPA's min and max replicas (inside the policy's bounds).
    Set {
        service: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        region: String,
        #[arg(long)]
        min: u32,
        #[arg(long)]
        max: u32,
        #[command(flatten)]
        why: WhyArgs,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

pub async fn rollback(cli: &Cli, ctx: &Ctx, a: &RollbackArgs) -> Result<ExitCode> {
    let action = Action::Rollback {
        service: a.service.clone(),
        cluster: ClusterId::new(&a.env, &a.region),
        to: a.to.clone(),
    };
    run_action_why(cli, ctx, action, a.output, &a.why).await
}

pub async fn restart(cli: &Cli, ctx: &Ctx, a: &RestartArgs) -> Result<ExitCode> {
    let action = Action::Restart {
        service: a.service.clone(),
        cluster: ClusterId::new(&a.env, &a.region),
    };
    run_action_why(cli, ctx, action, a.output, &a.why).await
}

pub async fn hpa(cli: &Cli, ctx: &Ctx, cmd: &HpaCommand) -> Result<ExitCode> {
    let HpaCommand::Set {
        service,
        env,
        region,
        min,
        max,
        why,
        output,
    } = cmd;
    let action = Action::SetHpa {
        service: service.clone(),
        cluster: ClusterId::new(env, region),
        min: *min,
        max: *max,
    };
    run_action_why(cli, ctx, action, *output, why).await
}

/// The policy as the CLI sees it: config, the platform kind and `--read-only`; the
/// config's problems with environment names are printed (see [`super::policy_for`]).
pub(crate) fn policy(cli: &Cli, ctx: &Ctx, platform: &Platform) -> Policy {
    let (policy, problems) = super::policy_for(cli, ctx, platform);
    super::report_problems(&problems);
    policy
}

/// The actor: `--as NAME` (a catalog User), else the operator (see
/// [`super::resolve_actor`]).
pub(crate) async fn actor(
    cli: &Cli,
    ctx: &Ctx,
    platform: &Platform,
    pctx: &PolicyContext,
) -> Result<Actor> {
    super::resolve_actor(cli, ctx, platform, &pctx.catalog, &pctx.policy).await
}

/// Ask on the terminal; true when the answer confirms.
async fn ask(action: &Action, confirm: &Confirm) -> Result<bool> {
    let question = match confirm {
        Confirm::TypeToConfirm(text) => format!(
            "{}\nType {text:?} to confirm: ",
            sanitize(&action.describe())
        ),
        _ => format!("{}? [y/N] ", sanitize(&action.describe())),
    };
    Ok(confirm.accepts(&answer_on_terminal(question).await?))
}

/// Ask `question` on stderr and read one line of answer from stdin, off the runtime.
pub(crate) async fn answer_on_terminal(question: String) -> Result<String> {
    tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut err = std::io::stderr();
        err.write_all(question.as_bytes())?;
        err.flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line)
    })
    .await
    .context("the prompt task failed")?
    .context("reading the answer")
}

async fn print_records(platform: &Platform, ids: &[u64]) -> Result<()> {
    print_records_with(platform, ids, None).await
}

/// The audit records, each with `request_id` when the action made an access request
/// (a script approves it by that id).
async fn print_records_with(
    platform: &Platform,
    ids: &[u64],
    request_id: Option<u64>,
) -> Result<()> {
    let all = platform.ledger.audit(None).await?;
    let mut items: Vec<serde_json::Value> = all
        .iter()
        .filter(|r| ids.contains(&r.id))
        .map(|r| serde_json::to_value(AuditItem::from(r)))
        .collect::<Result<_, _>>()?;
    if let Some(id) = request_id {
        for item in &mut items {
            if let Some(o) = item.as_object_mut() {
                o.insert("request_id".to_string(), id.into());
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&items)?);
    Ok(())
}

/// Plan and dispatch one action from the command line.
pub(crate) async fn run_action(
    cli: &Cli,
    ctx: &Ctx,
    action: Action,
    output: Output,
) -> Result<ExitCode> {
    run_action_then(cli, ctx, action, output, Done::Print).await
}

/// [`run_action`] with the actor's `--reason` and `--override-lock`.
pub(crate) async fn run_action_why(
    cli: &Cli,
    ctx: &Ctx,
    action: Action,
    output: Output,
    why: &WhyArgs,
) -> Result<ExitCode> {
    run_action_full(cli, ctx, action, output, Done::Print, why).await
}

/// What to print when the action ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    /// The detail line (or, with `--output json`, the audit record).
    Print,
    /// The revealed secret value, exactly, and nothing else on stdout (a newline after
    /// it only when stdout is a terminal).
    Reveal,
}

fn print_revealed(done: &crate::actions::Dispatched) -> Result<()> {
    let Some(value) = &done.revealed else {
        anyhow::bail!("the provider returned no value");
    };
    super::secret::write_revealed(
        &mut std::io::stdout().lock(),
        value.expose(),
        std::io::stdout().is_terminal(),
    )
}

/// [`run_action`], printing what `done` says on success.
pub(crate) async fn run_action_then(
    cli: &Cli,
    ctx: &Ctx,
    action: Action,
    output: Output,
    on_done: Done,
) -> Result<ExitCode> {
    run_action_full(cli, ctx, action, output, on_done, &WhyArgs::default()).await
}

/// [`run_action_then`] with the actor's `--reason` and `--override-lock`.
pub(crate) async fn run_action_full(
    cli: &Cli,
    ctx: &Ctx,
    action: Action,
    output: Output,
    on_done: Done,
    why: &WhyArgs,
) -> Result<ExitCode> {
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let policy = policy(cli, ctx, &platform);
    let pctx = PolicyContext::gather(&platform, policy, &action)
        .await?
        .with_intent(why.reason.clone(), why.override_lock.clone());
    let actor = actor(cli, ctx, &platform, &pctx).await?;
    let mut confirmed = cli.yes;
    loop {
        match dispatch(&platform, &pctx, &actor, action.clone(), confirmed).await {
            Ok(done) => {
                match output {
                    _ if on_done == Done::Reveal => {
                        print_revealed(&done)?;
                        eprintln!(
                            "sphere: {} (audit #{})",
                            sanitize(&done.detail),
                            done.audit_id
                        );
                    }
                    Output::Json => {
                        print_records_with(&platform, &[done.audit_id], done.request_id).await?
                    }
                    Output::Table => {
                        println!("{} (audit #{})", sanitize(&done.detail), done.audit_id)
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            Err(DispatchError::NeedsConfirmation(confirm)) => {
                if !std::io::stdin().is_terminal() {
                    return Err(UsageError(format!(
                        "{} needs confirmation ({confirm}) and stdin is not a terminal: pass --yes; nothing changed",
                        sanitize(&action.describe())
                    ))
                    .into());
                }
                if !ask(&action, &confirm).await? {
                    eprintln!("sphere: not confirmed; nothing changed");
                    return Ok(ExitCode::FAILURE);
                }
                confirmed = true;
            }
            Err(DispatchError::Refused { refusal, audit_id }) => {
                if refusal.is_invalid() {
                    return Err(UsageError(format!(
                        "{}; nothing changed",
                        sanitize(&refusal.to_string())
                    ))
                    .into());
                }
                eprintln!("sphere: refused: {}", sanitize(&refusal.to_string()));
                if output == Output::Json
                    && let Some(id) = audit_id
                {
                    print_records(&platform, &[id]).await?;
                }
                return Ok(ExitCode::from(if refusal.is_lock() {
                    super::lock::EXIT_LOCKED
                } else {
                    EXIT_REFUSED
                }));
            }
            Err(DispatchError::Failed { audit_id, error }) => {
                eprintln!(
                    "sphere: {} failed: {} (audit #{audit_id})",
                    sanitize(&action.describe()),
                    sanitize(&error)
                );
                if output == Output::Json {
                    print_records(&platform, &[audit_id]).await?;
                }
                return Ok(ExitCode::FAILURE);
            }
            Err(e @ DispatchError::Audit { .. }) => {
                eprintln!("sphere: {}", sanitize(&e.to_string()));
                return Ok(ExitCode::FAILURE);
            }
        }
    }
}
