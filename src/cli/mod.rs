//! The headless CLI: the same platform and dispatcher as the TUI, for scripts and
//! pipelines. Table output for people, `--output json` for machines.
//!
//! Exit codes: 0 success, 1 failure (or an invalid catalog, or a provider failure of an
//! action), 2 bad usage (invalid input, or an action needing confirmation without
//! `--yes` and with no terminal), 3 `sphere lock check` found a lock, 4 an action
//! refused by the policy.

mod access;
mod act;
mod agent;
mod alert;
mod audit;
mod catalog;
mod complete;
mod deploy;
mod diagnose;
mod drift;
mod env;
mod explain;
mod flag;
mod lock;
mod pods;
mod score;
mod secret;
mod service;
mod suggest;
#[cfg(test)]
mod table_tests;

pub use complete::complete_if_asked;
pub use suggest::parse_from;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::backend::Platform;
use crate::backend::catalog::{FileCatalog, demo_catalog};
use crate::backend::sim::{Scale, Sim, SimOptions};
use crate::config::settings::GroupBy;
use crate::config::{ColorSupport, Config, ConfigProblem, Paths};
use crate::domain::catalog::load::{FsReader, load};
use crate::domain::catalog::{Catalog, Kind};
use crate::tui;

#[derive(Debug, Parser)]
#[command(
    name = "sphere",
    version,
    about = "An internal developer platform that lives in the terminal",
    long_about = "With no command, sphere opens the full-screen TUI. With a command it runs \
                  headless and prints a table, or JSON with --output json.\n\n\
                  With no configuration sphere runs on its embedded demo platform. A \
                  config.toml that declares [[clusters]], [aws], [github] or [kafka] connects \
                  it to those systems instead (see assets/config.sample.toml; --demo opens \
                  the demo anyway)."
)]
pub struct Cli {
    /// The config file (default: config.toml in the config directory).
    #[arg(long, global = true, env = "SPHERE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Seed of the demo platform: the same seed gives the same demo.
    #[arg(long, global = true, value_name = "N")]
    pub seed: Option<u64>,
    /// Size of the demo platform, e.g. services=10000,clusters=60,pods=50000.
    #[arg(long, global = true, value_name = "SPEC", value_parser = parse_scale)]
    pub scale: Option<Scale>,
    /// Speed of the demo's clock; 0 stops it (nothing changes by itself).
    #[arg(
        long,
        global = true,
        value_name = "FACTOR",
        value_parser = parse_pace,
        allow_hyphen_values = true
    )]
    pub pace: Option<f64>,
    /// Colour theme: dark, light, high-contrast, mono, or one of your own.
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,
    /// Act as this catalog User (the policy applies to them), e.g. `--as amara.okafor`.
    #[arg(long = "as", global = true, env = "SPHERE_AS", value_name = "NAME")]
    pub act_as: Option<String>,
    /// Read-only mode: every action is refused, for everyone.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Use the embedded demo platform even when the config declares a platform of its own.
    #[arg(long, global = true)]
    pub demo: bool,
    /// Confirm destructive actions without asking (needed when stdin is not a terminal).
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

fn parse_scale(s: &str) -> Result<Scale, String> {
    Scale::parse(s)
}

fn parse_pace(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        Ok(_) => Err(format!(
            "{s:?} is not a pace: use a number ≥ 0 (0 stops the clock)"
        )),
        Err(_) => Err(format!("{s:?} is not a number")),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The service catalog (Backstage descriptors).
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// The embedded demo platform.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Readiness score of one service or every service.
    Score(score::ScoreArgs),
    /// Everything sphere knows about a service, with the commands to dig deeper.
    Explain(explain::ExplainArgs),
    /// Deployments across regions and environments.
    #[command(subcommand)]
    Deploy(deploy::DeployCommand),
    /// Live pods of a service.
    Pods(pods::PodsArgs),
    /// Everything wrong in scope, worst first; exits 1 when anything is.
    Problems(diagnose::ProblemsArgs),
    /// Details of one object (a pod).
    #[command(subcommand)]
    Describe(diagnose::DescribeCommand),
    /// Events of a service or a pod (and its owners), newest first.
    Events(diagnose::EventsArgs),
    /// Logs of one pod, or of every pod of a service merged across regions.
    Logs(diagnose::LogsArgs),
    /// Secrets (names and metadata; values never shown unless revealed).
    #[command(subcommand)]
    Secret(secret::SecretCommand),
    /// Feature flags across clusters.
    #[command(subcommand)]
    Flag(flag::FlagCommand),
    /// The audit trail.
    Audit(audit::AuditArgs),
    /// Lock a service against deploys (or `lock all`; `lock check` for pipelines).
    Lock(lock::LockArgs),
    /// Remove a service's locks (or `unlock all`).
    Unlock(lock::UnlockArgs),
    /// The merge freeze: on, off, status.
    #[command(subcommand)]
    Freeze(lock::FreezeCommand),
    /// Access to services you do not own: request, approve, deny, list.
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// Roll a service back to an earlier release in one cluster.
    Rollback(act::RollbackArgs),
    /// Restart a service's deployment in one cluster.
    Restart(act::RestartArgs),
    /// Horizontal pod autoscalers.
    #[command(subcommand)]
    Hpa(act::HpaCommand),
    /// Services: create one on the golden path.
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// Ephemeral environments: create from an existing one with a TTL, extend,
    /// delete, list.
    #[command(subcommand)]
    Env(env::EnvCommand),
    /// Run headless: watch the platform once and publish it to Kafka (`[agent]` in the
    /// config), with drift findings, heartbeats, /healthz and /metrics.
    Agent(agent::AgentArgs),
    /// Every kind of drift (versions, secrets, flags, git-vs-live versions and HPAs);
    /// exits 1 when any.
    Drift(drift::DriftArgs),
    /// The agent's drift alerts: silence, unsilence, list the silences.
    #[command(subcommand)]
    Alert(alert::AlertCommand),
    /// Print the shell's completion hook (services, environments and regions
    /// included): `source <(sphere completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List entities (Components unless --kind says otherwise).
    List {
        /// Entity kind: component, api, resource, system, domain, group, user, location,
        /// template, or all.
        #[arg(long, default_value = "component", value_parser = parse_kind_filter)]
        kind: KindFilter,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Everything the catalog says about one entity.
    Show {
        name: String,
        /// The kind, when the name is ambiguous.
        #[arg(long, value_parser = parse_kind)]
        kind: Option<Kind>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Check descriptor files and report every problem; exits 1 when any entity is
    /// invalid (or, with --strict, when anything is wrong with the catalog; what sphere
    /// itself cannot follow, like remote targets, never fails it). Without a PATH, the
    /// catalog sphere opens (the config's `[catalog]` sources, or the demo's).
    Validate {
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Treat warnings (dangling references, unknown kinds, documents that are not
        /// entities, an empty directory) as failures too.
        #[arg(long)]
        strict: bool,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

/// `--kind`: one kind, or every kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindFilter {
    All,
    Only(Kind),
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    let k = Kind::parse(s);
    if k.is_known() {
        Ok(k)
    } else {
        Err(format!(
            "{s:?} is not a kind: use component, api, resource, system, domain, group, user, location or template"
        ))
    }
}

fn parse_kind_filter(s: &str) -> Result<KindFilter, String> {
    if s.eq_ignore_ascii_case("all") {
        Ok(KindFilter::All)
    } else {
        parse_kind(s)
            .map(KindFilter::Only)
            .map_err(|e| format!("{e}, or all"))
    }
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Forget the demo's saved state (locks, audit, versions) and start over.
    Reset,
    /// Move the demo's clock forward (every sphere on this state sees it):
    /// environments and access grants expire as if that time had passed.
    Advance {
        /// How far: 30m, 8h, 7d.
        #[arg(value_name = "DURATION", value_parser = crate::domain::environment::parse_duration)]
        by: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// A mistake in what was asked (an unknown service, region or environment): the
/// process exits 2, like a clap usage error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The scope named by `--env` and `--region`, checked against the topology.
pub fn scope_from(
    env: Option<&str>,
    region: Option<&str>,
    topology: &crate::domain::Topology,
) -> Result<crate::domain::Scope> {
    if let Some(e) = env
        && !topology.environments.iter().any(|x| x == e)
    {
        return Err(UsageError(format!(
            "--env {e:?} is not an environment: use one of {}",
            topology.environments.join(", ")
        ))
        .into());
    }
    if let Some(r) = region
        && !topology.regions.iter().any(|x| x == r)
    {
        return Err(UsageError(format!(
            "--region {r:?} is not a region: use one of {}",
            topology.regions.join(", ")
        ))
        .into());
    }
    // Both named: a cluster that exists (staging may run in fewer regions).
    if let (Some(e), Some(r)) = (env, region)
        && !topology.regions_of(e).iter().any(|x| x == r)
    {
        return Err(UsageError(format!(
            "{e} does not run in {r}: use --region {}",
            topology.regions_of(e).join(" or ")
        ))
        .into());
    }
    Ok(crate::domain::Scope {
        env: env.map(str::to_string),
        region: region.map(str::to_string),
    })
}

/// A left-aligned table; every cell is sanitised (it may come from a remote system).
/// It fits the width [`table_width`] gives: the widest columns but the first are cut to
/// fit, each cut cell ending in `…`.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    for line in table_lines(header, rows, table_width()) {
        println!("{line}");
    }
}

/// The width tables fit: `COLUMNS` when set, else the terminal's when stdout is one;
/// `None` (no cut) when piped, so scripts get every character.
fn table_width() -> Option<usize> {
    use std::io::IsTerminal;
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return Some(n);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    crossterm::terminal::size()
        .ok()
        .map(|(cols, _)| usize::from(cols))
        .filter(|n| *n > 0)
}

/// The lines of a table (see [`print_table`]), fitted to `width` when given.
fn table_lines(header: &[&str], rows: &[Vec<String>], width: Option<usize>) -> Vec<String> {
    let clean: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| crate::domain::text::sanitize(c).into_owned())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &clean {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    // The first column names the row (a time, a name): it is never cut.
    if let Some(width) = width
        && let Some((first, rest)) = widths.split_first()
    {
        let rest = fit_widths(rest, width.saturating_sub(first + 2));
        widths = std::iter::once(*first).chain(rest).collect();
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{:<w$}", elide(c, *w)))
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut lines = vec![line(&mut header.iter().copied())];
    for r in &clean {
        lines.push(line(&mut r.iter().map(String::as_str)));
    }
    lines
}

/// The narrowest a column is cut to (a short column is left as it is).
const MIN_COLUMN: usize = 8;

/// Column widths that fit `width` with two spaces between columns: the widest are cut
/// first, down to the same width, none below [`MIN_COLUMN`] (the table may then still
/// be wider than `width`).
fn fit_widths(widths: &[usize], width: usize) -> Vec<usize> {
    let mut out = widths.to_vec();
    let gaps = 2 * out.len().saturating_sub(1);
    loop {
        let total: usize = out.iter().sum::<usize>() + gaps;
        if total <= width {
            return out;
        }
        let widest = out.iter().copied().max().unwrap_or(0);
        if widest <= MIN_COLUMN {
            return out;
        }
        let next = out
            .iter()
            .copied()
            .filter(|w| *w < widest)
            .max()
            .unwrap_or(0);
        let at_widest = out.iter().filter(|w| **w == widest).count();
        // Cut every widest column by the same amount: to the next width down, or just
        // enough to fit, whichever is less.
        let cut = (total - width).div_ceil(at_widest);
        let to = widest
            .saturating_sub(cut)
            .max(next)
            .max(MIN_COLUMN.min(widest));
        for w in out.iter_mut().filter(|w| **w == widest) {
            *w = to;
        }
    }
}

/// `cell` cut to `width` characters, ending in `…` when cut.
fn elide(cell: &str, width: usize) -> std::borrow::Cow<'_, str> {
    if cell.chars().count() <= width {
        return std::borrow::Cow::Borrowed(cell);
    }
    let mut cut: String = cell.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    std::borrow::Cow::Owned(cut)
}

/// An action refused by the policy before it reached the dispatcher (`--as` by a
/// non-admin on a configured platform): the process exits 4, as for every refusal.
#[derive(Debug, thiserror::Error)]
#[error("refused: {0}")]
pub struct Refused(pub String);

/// Who is at the keyboard. On a configured platform, the identity its systems
/// authenticate: the GitHub token's login (GET /user), else the Kubernetes user (a
/// SelfSubjectReview of the first cluster), else `user` from the config, else `$USER`.
/// On the demo: `user` from the config, else `you`.
pub(crate) async fn operator(ctx: &Ctx, platform: &Platform) -> String {
    if platform.kind == crate::backend::PlatformKind::Demo {
        return ctx.config.actor(true);
    }
    let (github, kube) = tokio::join!(platform.repos.whoami(), platform.clusters.whoami());
    for (system, who) in [("GitHub", github), ("Kubernetes", kube)] {
        match who {
            Ok(Some(name)) => {
                tracing::info!(%name, "the {system} credentials authenticate this user");
                return name;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("{system} did not say who the credentials are: {e:#}"),
        }
    }
    ctx.config.actor(false)
}

/// The actor: `--as NAME` (a catalog User), else the operator (see [`operator`]).
///
/// On a configured platform `--as` is impersonation: only an admin may, the refusal
/// is audited, and the actor carries the admin's name (`by`) so the audit trail
/// records both. On the demo, `--as` is how one tries the policy as someone else.
pub(crate) async fn resolve_actor(
    cli: &Cli,
    ctx: &Ctx,
    platform: &Platform,
    catalog: &Catalog,
    policy: &crate::actions::Policy,
) -> Result<crate::actions::Actor> {
    use crate::actions::Actor;
    use crate::domain::text::sanitize;
    if platform.kind == crate::backend::PlatformKind::Demo {
        return demo_actor(cli, ctx, catalog, policy);
    }
    let me = operator(ctx, platform).await;
    let Some(name) = &cli.act_as else {
        return Ok(Actor::resolve(&me, catalog, policy));
    };
    let mut actor = Actor::resolve_as(name, catalog, policy)
        .map_err(|r| UsageError(format!("--as: {}", sanitize(&r.to_string()))))?;
    if actor.name == me {
        return Ok(actor);
    }
    let real = Actor::resolve(&me, catalog, policy);
    if !real.admin {
        let why = format!(
            "--as is impersonation: only platform admins ([policy] admins) may act as another user, and {me} is not one; nothing changed"
        );
        if let Err(e) = platform
            .ledger
            .append_audit(
                &me,
                "impersonate",
                &actor.name,
                None,
                crate::domain::Outcome::Refused(why.clone()),
            )
            .await
        {
            tracing::warn!("could not audit a refused --as: {e:#}");
        }
        return Err(Refused(sanitize(&why).into_owned()).into());
    }
    actor.by = Some(me);
    Ok(actor)
}

/// The actor on the demo, where nothing needs the platform open: `user` from the
/// config (else `you`), or `--as NAME`, which is how one tries the policy as someone
/// else (a catalog User; the demo's users are in its catalog before it is extended).
pub(crate) fn demo_actor(
    cli: &Cli,
    ctx: &Ctx,
    catalog: &Catalog,
    policy: &crate::actions::Policy,
) -> Result<crate::actions::Actor> {
    use crate::actions::Actor;
    let me = ctx.config.actor(true);
    match &cli.act_as {
        None => Ok(Actor::resolve(&me, catalog, policy)),
        Some(name) => Actor::resolve_as(name, catalog, policy).map_err(|r| {
            UsageError(format!(
                "--as: {}",
                crate::domain::text::sanitize(&r.to_string())
            ))
            .into()
        }),
    }
}

/// Everything both faces need, built once.
pub struct Ctx {
    pub paths: Paths,
    pub config: Config,
    pub problems: Vec<ConfigProblem>,
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let paths = Paths::discover()?;
    let (config, problems) = Config::load(&paths, cli.config.as_deref());
    // The agent logs to stdout (JSON when it is no terminal); everything else to a file.
    let _log = if matches!(cli.command, Some(Command::Agent(_))) {
        crate::agent::init_logging();
        None
    } else {
        init_logging(&paths)
    };
    let ctx = Ctx {
        paths,
        config,
        problems,
    };
    match &cli.command {
        None => run_tui(&cli, ctx).await,
        Some(other) => {
            report_problems(&ctx.problems);
            match other {
                Command::Catalog(cmd) => catalog::run(&cli, &ctx, cmd).await,
                Command::Score(args) => score::run(&cli, &ctx, args).await,
                Command::Explain(args) => explain::run(&cli, &ctx, args).await,
                Command::Deploy(cmd) => deploy::run(&cli, &ctx, cmd).await,
                Command::Pods(args) => pods::run(&cli, &ctx, args).await,
                Command::Problems(args) => diagnose::run_problems(&cli, &ctx, args).await,
                Command::Describe(cmd) => diagnose::describe(&cli, &ctx, cmd).await,
                Command::Events(args) => diagnose::events(&cli, &ctx, args).await,
                Command::Logs(args) => diagnose::logs(&cli, &ctx, args).await,
                Command::Secret(cmd) => secret::run(&cli, &ctx, cmd).await,
                Command::Flag(cmd) => flag::run(&cli, &ctx, cmd).await,
                Command::Audit(args) => audit::run(&cli, &ctx, args).await,
                Command::Lock(args) => lock::lock(&cli, &ctx, args).await,
                Command::Unlock(args) => lock::unlock(&cli, &ctx, args).await,
                Command::Freeze(cmd) => lock::freeze(&cli, &ctx, cmd).await,
                Command::Access(cmd) => access::run(&cli, &ctx, cmd).await,
                Command::Rollback(args) => act::rollback(&cli, &ctx, args).await,
                Command::Restart(args) => act::restart(&cli, &ctx, args).await,
                Command::Hpa(cmd) => act::hpa(&cli, &ctx, cmd).await,
                Command::Service(cmd) => service::run(&cli, &ctx, cmd).await,
                Command::Env(cmd) => env::run(&cli, &ctx, cmd).await,
                Command::Agent(args) => agent::run(&cli, &ctx, args).await,
                Command::Drift(args) => drift::run(&cli, &ctx, args).await,
                Command::Alert(cmd) => alert::run(&cli, &ctx, cmd).await,
                Command::Completions { shell } => {
                    // The hook calls sphere back, which offers the services,
                    // environments and regions of the platform (see complete.rs).
                    let me = std::env::args().next().unwrap_or_else(|| "sphere".into());
                    complete::write_registration(*shell, &me, &mut std::io::stdout())?;
                    Ok(ExitCode::SUCCESS)
                }
                Command::Demo(cmd) => demo(&cli, &ctx, cmd).await,
            }
        }
    }
}

/// `sphere demo reset` and `sphere demo advance`: for platform admins only, never in
/// read-only mode, and audited (advancing the clock expires other people's
/// environments and grants; a reset forgets everyone's locks and audit trail).
async fn demo(cli: &Cli, ctx: &Ctx, cmd: &DemoCommand) -> Result<ExitCode> {
    let what = match cmd {
        DemoCommand::Reset => "demo reset",
        DemoCommand::Advance { .. } => "demo advance",
    };
    if cli.read_only {
        eprintln!(
            "sphere: refused: read-only mode: sphere was started read-only (--read-only); the demo's state and clock stay as they are"
        );
        return Ok(ExitCode::from(act::EXIT_REFUSED));
    }
    // Who asks, from the catalog alone: a reset must work when the state cannot be read.
    let catalog = demo_catalog_of(ctx);
    let policy = crate::actions::Policy::from_config(&ctx.config.policy, true, cli.read_only);
    let actor = match &cli.act_as {
        Some(name) => crate::actions::Actor::resolve_as(name, &catalog, &policy).map_err(|r| {
            UsageError(format!(
                "--as: {}",
                crate::domain::text::sanitize(&r.to_string())
            ))
        })?,
        None => crate::actions::Actor::resolve(&ctx.config.actor(true), &catalog, &policy),
    };
    let audit_name = match cmd {
        DemoCommand::Reset => "demo.reset",
        DemoCommand::Advance { .. } => "demo.advance",
    };
    let target = match cmd {
        DemoCommand::Reset => "demo".to_string(),
        DemoCommand::Advance { by } => format!(
            "demo clock +{}",
            crate::domain::environment::format_duration(*by)
        ),
    };
    if !actor.admin {
        let why = format!(
            "{what} is for platform admins (config [policy] admins): {} is not one; it changes the demo for everyone (locks, audit trail, other people's environments and grants); nothing changed",
            actor.name
        );
        eprintln!("sphere: refused: {}", crate::domain::text::sanitize(&why));
        // Recorded where the state can be read (a reset may be refused over a broken one).
        match build_demo(cli, ctx) {
            Ok((platform, _sim)) => {
                platform
                    .ledger
                    .append_audit(
                        &actor.name,
                        audit_name,
                        &target,
                        None,
                        crate::domain::Outcome::Refused(why),
                    )
                    .await?;
            }
            Err(e) => tracing::warn!("the refused {what} is not audited: {e:#}"),
        }
        return Ok(ExitCode::from(act::EXIT_REFUSED));
    }
    match cmd {
        DemoCommand::Reset => {
            let path = demo_state_path(cli, ctx);
            // It forgets every lock, version and audit record: asked first.
            if !cli.yes {
                use std::io::IsTerminal;
                if !std::io::stdin().is_terminal() {
                    return Err(UsageError(
                        "demo reset forgets every lock, version and audit record of the demo; it needs confirmation and stdin is not a terminal: pass --yes; nothing changed".to_string(),
                    )
                    .into());
                }
                let answer = act::answer_on_terminal(format!(
                    "Forget the demo's locks, versions and audit trail ({})? [y/N] ",
                    path.display()
                ))
                .await?;
                if !crate::actions::Confirm::YesNo.accepts(&answer) {
                    eprintln!("sphere: not confirmed; nothing changed");
                    return Ok(ExitCode::FAILURE);
                }
            }
            // Never read: moved aside as it is, so an unreadable state can be reset.
            let backup = Sim::reset(&path)?;
            let reason = match &backup {
                Some(b) => format!("the previous state is kept as {}", b.display()),
                None => "there was no saved state".to_string(),
            };
            // The new state's trail starts with who reset it.
            let (platform, _sim) = build_demo(cli, ctx)?;
            let id = platform
                .ledger
                .append_audit(
                    &actor.name,
                    audit_name,
                    &target,
                    Some(&reason),
                    crate::domain::Outcome::Succeeded,
                )
                .await?;
            println!(
                "demo state reset ({}); {reason} (audit #{id})",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        DemoCommand::Advance { by } => {
            let (platform, sim) = build_demo(cli, ctx)?;
            let id = platform
                .ledger
                .append_audit(
                    &actor.name,
                    audit_name,
                    &target,
                    None,
                    crate::domain::Outcome::Started,
                )
                .await?;
            let (now, gone) = match sim.advance_clock(*by) {
                Ok(r) => r,
                Err(e) => {
                    let outcome = crate::domain::Outcome::Failed(format!("{e:#}"));
                    if let Err(e2) = platform.ledger.set_audit_outcome(id, outcome).await {
                        tracing::warn!("recording the outcome of audit #{id}: {e2:#}");
                    }
                    return Err(e);
                }
            };
            platform
                .ledger
                .set_audit_outcome(id, crate::domain::Outcome::Succeeded)
                .await?;
            println!(
                "demo clock moved {} forward: it reads {}{} (audit #{id})",
                crate::domain::environment::format_duration(*by),
                crate::domain::text::rfc3339(now),
                match gone {
                    0 => String::new(),
                    1 => "; 1 environment expired".to_string(),
                    n => format!("; {n} environments expired"),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The policy: `[policy]` checked against the platform's environments (a name that is
/// none fails closed, see [`Config::policy_for_environments`]), the platform kind and
/// `--read-only`; the problems found come back beside it.
pub(crate) fn policy_for(
    cli: &Cli,
    ctx: &Ctx,
    platform: &Platform,
) -> (crate::actions::Policy, Vec<ConfigProblem>) {
    let envs = platform.clusters.topology().environments;
    policy_for_envs(
        cli,
        ctx,
        &envs,
        platform.kind == crate::backend::PlatformKind::Demo,
    )
}

/// [`policy_for`] over the environments given (before the platform is open).
fn policy_for_envs(
    cli: &Cli,
    ctx: &Ctx,
    envs: &[String],
    demo: bool,
) -> (crate::actions::Policy, Vec<ConfigProblem>) {
    let (cfg, problems) = ctx.config.policy_for_environments(envs);
    let policy = crate::actions::Policy::from_config(&cfg, demo, cli.read_only);
    (policy, problems)
}

pub(crate) fn report_problems(problems: &[ConfigProblem]) {
    for p in problems {
        // Each problem says what applies instead.
        eprintln!("sphere: {p}");
    }
}

/// Logs go to a file in the state directory, never to the terminal. The directories
/// and the log are private to the user (0700, 0600): the log names services, users and
/// errors.
fn init_logging(paths: &Paths) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::EnvFilter;
    if let Err(e) = paths.ensure_dirs() {
        eprintln!("sphere: {e:#}");
    }
    let file = paths.log_file();
    let dir = file.parent()?;
    crate::config::create_private_dir(dir).ok()?;
    let log = match crate::config::open_private_append(&file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("sphere: no log: {e:#}");
            return None;
        }
    };
    let (writer, guard) = log_writer(log);
    let filter = EnvFilter::try_from_env("SPHERE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

/// Log lines that may wait for the logging thread; more are dropped until it catches
/// up. tracing-appender's default (128,000) allocates and touches a 4 MB buffer at
/// start (issue 16: 4.1 MB of the resident set at the bench scale); sphere logs a few
/// lines a second at `info`, and the thread writes them to a local file.
const LOG_BUFFER_LINES: usize = 4096;

/// The writer the log goes through, on its own thread.
fn log_writer<W: std::io::Write + Send + 'static>(
    out: W,
) -> (
    tracing_appender::non_blocking::NonBlocking,
    tracing_appender::non_blocking::WorkerGuard,
) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .lossy(true)
        .finish(out)
}

fn demo_seed(cli: &Cli, ctx: &Ctx) -> u64 {
    cli.seed.unwrap_or(ctx.config.demo.seed)
}

/// The demo's saved state: one file per seed and scale.
pub fn demo_state_path(cli: &Cli, ctx: &Ctx) -> PathBuf {
    let seed = demo_seed(cli, ctx);
    let scale = cli
        .scale
        .as_ref()
        .map(|s| {
            format!(
                "-{}s{}c{}p",
                s.services.unwrap_or(0),
                s.clusters.unwrap_or(0),
                s.pods.unwrap_or(0)
            )
        })
        .unwrap_or_default();
    ctx.paths
        .data_dir
        .join("demo")
        .join(format!("state-{seed}{scale}.json"))
}

/// Build the platform: the configured one when the config declares one (unless
/// `--demo`), else the demo, with the catalog from the config's paths if set. The demo's
/// handle comes back beside it (its clock runs while the TUI is open).
///
/// With `[source] agent` in the config, the TUI and the read-side commands (`deploy
/// matrix`, `secret list|drift`, `flag list`, `catalog list|show`, `drift`) read from
/// `sphere agent`'s topics instead (read to the end first; each stale source said on
/// stderr); actions and everything else read and act directly.
pub async fn build_platform(cli: &Cli, ctx: &Ctx) -> Result<(Platform, Option<Sim>)> {
    let (platform, sim) = build_direct(cli, ctx).await?;
    if !reads_from_agent(cli) {
        return Ok((platform, sim));
    }
    let platform = crate::backend::agent_source::from_config(platform, &ctx.config)?;
    // The TUI opens at once and says what it is waiting for; a command answers from
    // the topics read to their end.
    if let Some(feed) = platform.agent.as_ref().filter(|_| cli.command.is_some()) {
        feed.ready().await?;
        for w in feed.status().warnings() {
            eprintln!("sphere: {}", crate::domain::text::sanitize(&w));
        }
    }
    Ok((platform, sim))
}

/// The commands that read from the agent when `[source] agent` is set: the TUI and the
/// read-side CLI. Actions read what they check (locks, versions) directly.
fn reads_from_agent(cli: &Cli) -> bool {
    match &cli.command {
        None => true,
        Some(Command::Deploy(_) | Command::Drift(_)) => true,
        Some(Command::Secret(cmd)) => matches!(
            cmd,
            secret::SecretCommand::List { .. } | secret::SecretCommand::Drift { .. }
        ),
        Some(Command::Flag(cmd)) => matches!(cmd, flag::FlagCommand::List { .. }),
        Some(Command::Catalog(cmd)) => matches!(
            cmd,
            CatalogCommand::List { .. } | CatalogCommand::Show { .. }
        ),
        Some(_) => false,
    }
}

/// The platform the config declares (or the demo), read directly: what `sphere agent`
/// itself watches, and what every action goes to.
pub async fn build_direct(cli: &Cli, ctx: &Ctx) -> Result<(Platform, Option<Sim>)> {
    if ctx.config.is_configured_platform() && !cli.demo {
        // What sphere read is remembered in the cache dir; SPHERE_NO_CACHE=1 reads
        // everything every time (to compare the cost).
        let caching = crate::backend::configured::Caching {
            dir: Some(ctx.paths.cache_dir.clone()),
            off: std::env::var_os("SPHERE_NO_CACHE").is_some_and(|v| !v.is_empty() && v != "0"),
        };
        let mut platform =
            crate::backend::configured::build_with(&ctx.config, &ctx.paths.data_dir, caching)
                .await
                .context("could not set up the configured platform")?;
        platform.silences = crate::agent::silences::store(&ctx.config);
        return Ok((platform, None));
    }
    let (mut platform, sim) = build_demo(cli, ctx)?;
    platform.silences = crate::agent::silences::store(&ctx.config);
    Ok((platform, Some(sim)))
}

/// The embedded demo platform, with the catalog from the config's paths if set.
pub fn build_demo(cli: &Cli, ctx: &Ctx) -> Result<(Platform, Sim)> {
    warn_unknown_faults();
    let sim = Sim::open(demo_options(cli, ctx), demo_catalog_of(ctx))
        .context("could not open the demo platform")?;
    for notice in sim.notices() {
        eprintln!("sphere: {}", crate::domain::text::sanitize(notice));
    }
    demo_platform(ctx, sim)
}

/// A misspelt injected failure would fail nothing, silently: say so on stderr.
fn warn_unknown_faults() {
    if let Ok(spec) = std::env::var(crate::backend::sim::FAIL_ENV) {
        let unknown = crate::backend::sim::unknown_faults(&spec);
        if !unknown.is_empty() {
            eprintln!(
                "sphere: {}: {} fails nothing: it is no operation of the demo (one of {})",
                crate::backend::sim::FAIL_ENV,
                unknown.join(", "),
                crate::backend::sim::FAULT_OPS.join(", ")
            );
        }
    }
}

/// The demo's catalog: the config's `[catalog] paths` when set, else the embedded one.
fn demo_catalog_of(ctx: &Ctx) -> Catalog {
    let own_catalog = &ctx.config.catalog.paths;
    if own_catalog.is_empty() {
        demo_catalog()
    } else {
        load(own_catalog, &FsReader)
    }
}

fn demo_options(cli: &Cli, ctx: &Ctx) -> SimOptions {
    SimOptions {
        seed: demo_seed(cli, ctx),
        scale: cli.scale.clone().unwrap_or_default(),
        pace: cli.pace.unwrap_or(ctx.config.demo.pace),
        state_path: Some(demo_state_path(cli, ctx)),
    }
}

/// Open the demo for the TUI, off the async workers, while the screen is up. The
/// catalog at scale comes first and is handed to `early` (the TUI shows its rows while
/// the state is seeded or read; it is the catalog the platform then serves). A demo
/// state that cannot be read opens read-only, the problem shown, nothing replaced:
/// every pane that needs the state says why it has nothing. The demo's clock starts
/// once it is open; what opening seeded or changed is written once the platform is
/// handed over and its watch has listed the clusters (`Opened::after_watch`).
async fn open_demo_behind(
    cli: &Cli,
    ctx: &Ctx,
    opts: SimOptions,
    catalog: Catalog,
    early: Option<tokio::sync::oneshot::Sender<Arc<Catalog>>>,
) -> Result<tui::app::Opened> {
    let scale_opts = opts.clone();
    let catalog = tokio::task::spawn_blocking(move || Sim::scaled_catalog(&scale_opts, catalog))
        .await
        .context("scaling the demo catalog stopped")?;
    if let Some(early) = early {
        // (The screen may be gone already: the user quit.)
        let _ = early.send(catalog.clone());
    }
    let opened = tokio::task::spawn_blocking(move || {
        match Sim::open_deferred(opts.clone(), catalog.clone()) {
            Ok(sim) => Ok((sim, None)),
            Err(e) => match e.downcast_ref::<crate::backend::sim::StateError>() {
                Some(problem) => {
                    let problem = problem.to_string();
                    let sim = Sim::unreadable(opts, catalog, problem.clone())?;
                    Ok((sim, Some(format!("read-only: {problem}"))))
                }
                None => Err(e),
            },
        }
    })
    .await
    .context("opening the demo platform stopped")?
    .context("could not open the demo platform")?;
    let (sim, state_problem) = opened;
    let (platform, sim) = demo_platform(ctx, sim)?;
    // `[source] agent`: the panes read the agent's topics; actions go to the demo.
    let platform = crate::backend::agent_source::from_config(platform, &ctx.config)?;
    let (policy, _) = policy_for(cli, ctx, &platform);
    // An unreadable demo state: nothing may change until it is reset.
    let policy = crate::actions::Policy {
        read_only: policy.read_only || state_problem.is_some(),
        ..policy
    };
    let problems = state_problem
        .into_iter()
        .chain(sim.notices().iter().cloned())
        .collect();
    let _clock = sim.start_clock();
    let after_watch: Box<dyn FnOnce() + Send> = Box::new(move || {
        if let Err(e) = sim.save_opened() {
            // The next change, or the next start, writes it.
            tracing::warn!("demo: writing the opened state failed: {e:#}");
        }
    });
    Ok(tui::app::Opened {
        platform,
        policy,
        problems,
        after_watch: Some(after_watch),
    })
}

/// The platform over an opened demo, as the config dresses it.
fn demo_platform(ctx: &Ctx, sim: Sim) -> Result<(Platform, Sim)> {
    let own_catalog = &ctx.config.catalog.paths;
    let mut platform = sim.platform();
    if !own_catalog.is_empty() {
        platform.catalog = Arc::new(FileCatalog {
            roots: own_catalog.clone(),
        });
    }
    if let Some(name) = &ctx.config.platform_name {
        platform.name = name.clone();
    }
    platform.link_templates = ctx.config.links.clone();
    platform.webhook = ctx
        .config
        .webhook
        .as_ref()
        .map(crate::backend::webhook::Webhook::new)
        .transpose()?
        .map(Arc::new);
    Ok((platform, sim))
}

async fn run_tui(cli: &Cli, ctx: Ctx) -> Result<ExitCode> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the TUI needs a terminal; for scripts use a command such as `sphere catalog list --output json`"
        );
    }
    let theme_name = cli
        .theme
        .clone()
        .unwrap_or_else(|| ctx.config.theme.clone());
    let (theme, theme_problems) =
        crate::config::theme::load_theme(&theme_name, &ctx.paths, ColorSupport::detect());
    let (keymap, key_problems) = crate::config::keymap::load_keymap(&ctx.paths);
    let configured = ctx.config.is_configured_platform() && !cli.demo;
    // The demo opens behind the screen (seeding or reading its state takes a while at
    // scale): what the model needs first is known without it.
    let (source, name, topology, policy, policy_problems, actor) = if configured {
        let (platform, _) = build_platform(cli, &ctx).await?;
        let (policy, problems) = policy_for(cli, &ctx, &platform);
        // `--as NAME` works here as in every command: a catalog User, checked (and on
        // a configured platform, allowed to admins only) before the screen opens.
        let catalog = platform.catalog.load().await?;
        let actor = resolve_actor(cli, &ctx, &platform, &catalog, &policy).await?;
        let (name, topology) = (platform.name.clone(), platform.clusters.topology());
        let source = tui::app::Source::Ready(platform);
        (source, name, topology, policy, problems, actor)
    } else {
        warn_unknown_faults();
        let opts = demo_options(cli, &ctx);
        let topology = crate::backend::sim::topology_for(&opts.scale);
        let (policy, problems) = policy_for_envs(cli, &ctx, &topology.environments, true);
        let catalog = demo_catalog_of(&ctx);
        let actor = demo_actor(cli, &ctx, &catalog, &policy)?;
        let saved = opts.state_path.as_ref().is_some_and(|p| p.exists());
        let notice = if saved {
            "opening the demo: reading state…"
        } else {
            "opening the demo: seeding state…"
        };
        // The demo serves this catalog (at scale) unless the config names its own
        // files (then the platform reads those once open).
        let (early, catalog_rx) = if ctx.config.catalog.paths.is_empty() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let source = tui::app::Source::Opening {
            notice: notice.to_string(),
            catalog: catalog_rx,
            open: Box::pin(open_demo_behind(cli, &ctx, opts, catalog, early)),
        };
        let name = ctx
            .config
            .platform_name
            .clone()
            .unwrap_or_else(|| "demo".to_string());
        (source, name, topology, policy, problems, actor)
    };
    let startup_problems: Vec<String> = ctx
        .problems
        .iter()
        .chain(&theme_problems)
        .chain(&key_problems)
        .chain(&policy_problems)
        .map(|p| p.to_string())
        .collect();
    let user = actor.name.clone();
    let group = match ctx.config.catalog.group_by {
        GroupBy::None => tui::catalog::Grouping::None,
        GroupBy::Owner => tui::catalog::Grouping::Owner,
        GroupBy::System => tui::catalog::Grouping::System,
    };
    // A service creation of this user's that failed at a step (kept across restarts)
    // is offered again; a file that cannot be read is said, and left as it is.
    let retry_store = crate::config::retry::RetryStore::in_dir(&ctx.paths.state_dir);
    let (failed_create, retry_problem) = match retry_store.load(&user) {
        Ok(f) => (f, None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let startup_problems: Vec<String> = startup_problems.into_iter().chain(retry_problem).collect();
    let mut model = tui::model::Model::new(tui::model::ModelInit {
        platform_name: name,
        demo: !configured,
        user,
        topology,
        keymap,
        theme,
        toast_ttl: Duration::from_secs(ctx.config.toast_seconds),
        group,
        policy,
        retry_store: Some(retry_store),
        failed_create,
    });
    // The header names who acts; the audit trail also who impersonates them.
    model.impersonator = actor.by;
    tui::app::run(tui::app::RunOptions {
        source,
        model,
        max_fps: ctx.config.max_fps,
        startup_problems,
    })
    .await
    .map_err(|e| match tui::terminal::panicked() {
        // Where to read more.
        Some(_) => anyhow::anyhow!("{e:#}; the log: {}", ctx.paths.log_file().display()),
        None => e,
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod log_writer_tests {
    use std::io::Write;
    use std::sync::mpsc;

    /// A log file whose first write waits until the test lets it go (a slow disk).
    struct Stalled(mpsc::Receiver<()>);

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_log_buffer_is_bounded_and_drops_lines_beyond_it() {
        let (release, stalled) = mpsc::channel();
        let (mut writer, guard) = super::log_writer(Stalled(stalled));
        let extra = 100;
        for i in 0..super::LOG_BUFFER_LINES + extra {
            writer.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        // The logging thread holds at most the line it is writing; the buffer the
        // rest, so `extra` lines (or one less) were dropped instead of queued.
        let dropped = writer.error_counter().dropped_lines();
        assert!(
            (extra - 1..=extra).contains(&dropped),
            "{dropped} lines dropped"
        );
        drop(release);
        drop(guard);
    }
}
