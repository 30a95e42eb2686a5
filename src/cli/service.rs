//! `sphere service create NAME --owner TEAM [...]`: the golden path (C4) from the
//! command line.
//!
//! Prints each step as it ends (`✓ repository  created northwind/x from rust-service`,
//! `✗ register  demo platform: injected failure of register`). Exit codes are those of
//! every action (see `act`): 0 created, 1 a step failed (run the same command again, or
//! `sphere service create --retry`, to resume at that step), 2 an invalid field (named;
//! nothing changed), 4 refused.
//!
//! A failed request is kept per user in the state directory (`golden-retry.json`, see
//! `config::retry`) until a run of it succeeds: `--retry` runs it again (the TUI offers
//! the same at start).
//!
//! `--output json`: `{"service", "ok", "error"?, "steps": [{"step", "status",
//! "error"?, "detail", "audit_id"?}], "audit": [records as `sphere audit --output
//! json`]}`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::actions::{
    Action, DispatchError, PolicyContext, StepReport, StepStatus, dispatch_with_progress,
};
use crate::config::retry::{FailedCreate, RetryStore};
use crate::domain::golden::{DEFAULT_TEMPLATE, Database, ServiceRequest};
use crate::domain::text::sanitize;

use super::act::{EXIT_REFUSED, actor, policy};
use super::audit::AuditItem;
use super::{Cli, Ctx, Output, UsageError, build_platform};

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Create a service on the golden path: repository from a template, CI workflow,
    /// catalog descriptor, registration, dev deployment. Re-run to resume after a
    /// failure; steps already done are skipped.
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The service's name: a-z, 0-9 and -, at most 63 characters, not taken.
    #[arg(required_unless_present = "retry")]
    pub name: Option<String>,
    /// The owning Group.
    #[arg(long, required_unless_present = "retry")]
    pub owner: Option<String>,
    /// Run your last failed creation again (kept across restarts), from the step that
    /// failed; the other fields come from it.
    #[arg(long, conflicts_with_all = ["name", "owner", "description", "template", "database", "cache", "replicas", "system"])]
    pub retry: bool,
    #[arg(long, default_value = "")]
    pub description: String,
    /// rust-service, node-service or python-worker.
    #[arg(long, default_value = DEFAULT_TEMPLATE)]
    pub template: String,
    /// postgres or mysql.
    #[arg(long)]
    pub database: Option<String>,
    /// A cache (a Resource in the descriptor).
    #[arg(long)]
    pub cache: bool,
    /// Dev replicas per region, 1–10.
    #[arg(long, default_value_t = 1)]
    pub replicas: u8,
    /// The System it belongs to.
    #[arg(long)]
    pub system: Option<String>,
    /// Start at this step (repository, ci, descriptor, register, deploy-dev) instead of
    /// the first one not done.
    #[arg(long, value_name = "STEP")]
    pub from_step: Option<String>,
    #[command(flatten)]
    pub why: super::act::WhyArgs,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

pub async fn run(cli: &Cli, ctx: &Ctx, cmd: &ServiceCommand) -> Result<ExitCode> {
    match cmd {
        ServiceCommand::Create(a) => create(cli, ctx, a).await,
    }
}

#[derive(Serialize)]
struct JsonResult<'a> {
    service: &'a str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    steps: Vec<StepReport>,
    audit: Vec<AuditItem<'a>>,
}

fn print_step(r: &StepReport) {
    let (mark, text) = match &r.status {
        StepStatus::Done => ("✓", r.detail.clone()),
        StepStatus::AlreadyDone => ("✓", "already done".to_string()),
        StepStatus::Skipped => ("·", "skipped".to_string()),
        StepStatus::Failed(e) => ("✗", e.clone()),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{mark} {:<11} {}", r.step.as_str(), sanitize(&text));
    let _ = out.flush();
}

/// The request the arguments describe.
fn request_of(a: &CreateArgs) -> Result<ServiceRequest> {
    let database = match a.database.as_deref() {
        None => None,
        Some(d) => Some(Database::parse(d).ok_or_else(|| {
            UsageError(format!(
                "invalid database: {:?} is not a database: use postgres or mysql; nothing changed",
                sanitize(d)
            ))
        })?),
    };
    Ok(ServiceRequest {
        name: a.name.clone().unwrap_or_default(),
        description: a.description.clone(),
        owner: a.owner.clone().unwrap_or_default(),
        template: a.template.clone(),
        database,
        cache: a.cache,
        replicas: a.replicas,
        system: a.system.clone(),
        org: None,
    })
}

async fn create(cli: &Cli, ctx: &Ctx, a: &CreateArgs) -> Result<ExitCode> {
    let store = RetryStore::in_dir(&ctx.paths.state_dir);
    let fresh = if a.retry { None } else { Some(request_of(a)?) };
    let (platform, _sim) = build_platform(cli, ctx).await?;
    // Who acts decides which kept request `--retry` means.
    let request = match fresh {
        Some(r) => r,
        None => {
            let catalog = platform.catalog.load().await?;
            let (probe_policy, _) = super::policy_for(cli, ctx, &platform);
            let who = super::resolve_actor(cli, ctx, &platform, &catalog, &probe_policy).await?;
            let kept = store
                .load(&who.name)
                .map_err(|e| UsageError(format!("{e:#}")))?;
            let Some(kept) = kept else {
                return Err(UsageError(format!(
                    "no failed service creation of {} to retry (kept in {}); nothing changed",
                    sanitize(&who.name),
                    store.path().display()
                ))
                .into());
            };
            if !a.output.eq(&Output::Json) {
                println!(
                    "retrying {} (failed {}: {})",
                    sanitize(&kept.request.name),
                    kept.step
                        .as_deref()
                        .map_or_else(|| "before".to_string(), |s| format!("at {s}")),
                    sanitize(&kept.error)
                );
            }
            kept.request
        }
    };
    let name = request.name.clone();
    let action = Action::ServiceCreate {
        request: request.clone(),
        from_step: a.from_step.clone(),
    };
    let pctx = PolicyContext::gather(&platform, policy(cli, ctx, &platform), &action)
        .await?
        .with_intent(a.why.reason.clone(), a.why.override_lock.clone());
    let actor = actor(cli, ctx, &platform, &pctx).await?;
    let json = a.output == Output::Json;
    let steps: Arc<Mutex<Vec<StepReport>>> = Arc::default();
    let seen = steps.clone();
    let mut on_step = move |r: &StepReport| {
        if !json {
            print_step(r);
        }
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r.clone());
    };
    let result = dispatch_with_progress(
        &platform,
        &pctx,
        &actor,
        action.clone(),
        cli.yes,
        &mut on_step,
    )
    .await;
    let steps = std::mem::take(&mut *steps.lock().unwrap_or_else(|e| e.into_inner()));
    let ids: Vec<u64> = steps.iter().filter_map(|s| s.audit_id).collect();
    let emit_json = |ok: bool, error: Option<String>, extra: Option<u64>| {
        let platform = platform.clone();
        let mut ids = ids.clone();
        ids.extend(extra);
        let steps = steps.clone();
        let name = name.clone();
        async move {
            let all = platform.ledger.audit(None).await?;
            let audit = all
                .iter()
                .filter(|r| ids.contains(&r.id))
                .map(AuditItem::from)
                .collect();
            let out = JsonResult {
                service: &name,
                ok,
                error,
                steps,
                audit,
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
            anyhow::Ok(())
        }
    };
    // Kept for a retry after a failed step, forgotten once it succeeds (a failure to
    // keep it is said, never fatal: the creation's own outcome stands).
    let keep = |r: Result<()>| {
        if let Err(e) = r {
            eprintln!("sphere: the retry could not be kept: {e:#}");
        }
    };
    match &result {
        Ok(_) => keep(store.clear(&actor.name)),
        Err(DispatchError::Failed { error, .. }) => keep(store.save(
            &actor.name,
            &FailedCreate {
                request,
                step: steps.iter().find_map(|s| match s.status {
                    StepStatus::Failed(_) => Some(s.step.as_str().to_string()),
                    _ => None,
                }),
                error: error.clone(),
                at: platform.now(),
            },
        )),
        Err(_) => {}
    }
    match result {
        Ok(done) => {
            if json {
                emit_json(true, None, Some(done.audit_id)).await?;
            } else {
                println!("{}", sanitize(&done.detail));
            }
            Ok(ExitCode::SUCCESS)
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
            if json {
                emit_json(false, Some(refusal.to_string()), audit_id).await?;
            }
            Ok(ExitCode::from(EXIT_REFUSED))
        }
        Err(DispatchError::NeedsConfirmation(confirm)) => Err(UsageError(format!(
            "{} needs confirmation ({confirm}): pass --yes; nothing changed",
            sanitize(&action.describe())
        ))
        .into()),
        Err(DispatchError::Failed { audit_id, error }) => {
            eprintln!(
                "sphere: creating {} failed: {} (audit #{audit_id}); `sphere service create --retry` resumes at the step that failed",
                sanitize(&name),
                sanitize(&error)
            );
            if json {
                emit_json(false, Some(error), None).await?;
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e @ DispatchError::Audit { .. }) => {
            eprintln!("sphere: {}", sanitize(&e.to_string()));
            if json {
                emit_json(false, Some(e.to_string()), None).await?;
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
