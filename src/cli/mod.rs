//! The headless CLI: the same platform and dispatcher as the TUI, for scripts and
//! pipelines. Table output for people, `--output json` for machines.
//!
//! Exit codes: 0 success, 1 failure (or an invalid catalog, or a provider failure of an
//! action), 2 bad usage (invalid input, or an action needing confirmation without
//! `--yes` and with no terminal), 3 `sphere lock check` found a lock, 4 an action
//! refused by the policy.

mod access;
mod act;
mod audit;
mod catalog;
mod deploy;
mod env;
mod explain;
mod flag;
mod lock;
mod pods;
mod score;
mod secret;
mod service;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::backend::sim::{Scale, Sim, SimOptions};
use crate::backend::{CatalogProvider, Platform};
use crate::config::settings::GroupBy;
use crate::config::{ColorSupport, Config, ConfigProblem, Paths};
use crate::domain::catalog::load::{EmbeddedReader, FsReader, load};
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
    /// Print shell completions.
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
    /// invalid (or, with --strict, when anything at all is wrong). Without a PATH, the
    /// catalog sphere opens (the config's `[catalog]` sources, or the demo's).
    Validate {
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Treat warnings (dangling references, unknown kinds) as failures too.
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
    Ok(crate::domain::Scope {
        env: env.map(str::to_string),
        region: region.map(str::to_string),
    })
}

/// A left-aligned table; every cell is sanitised (it may come from a remote system).
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
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
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(&mut header.iter().copied());
    for r in &clean {
        line(&mut r.iter().map(String::as_str));
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
    let _log = init_logging(&paths);
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
                Command::Completions { shell } => {
                    let mut cmd = Cli::command();
                    clap_complete::generate(*shell, &mut cmd, "sphere", &mut std::io::stdout());
                    Ok(ExitCode::SUCCESS)
                }
                Command::Demo(_) if cli.read_only => {
                    eprintln!(
                        "sphere: refused: read-only mode: sphere was started read-only (--read-only); the demo's state and clock stay as they are"
                    );
                    Ok(ExitCode::from(act::EXIT_REFUSED))
                }
                Command::Demo(DemoCommand::Reset) => {
                    let path = demo_state_path(&cli, &ctx);
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
                    Sim::reset(&path)?;
                    println!("demo state reset ({})", path.display());
                    Ok(ExitCode::SUCCESS)
                }
                Command::Demo(DemoCommand::Advance { by }) => {
                    let (_platform, sim) = build_demo(&cli, &ctx)?;
                    let (now, gone) = sim.advance_clock(*by)?;
                    println!(
                        "demo clock moved {} forward: it reads {}{}",
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
    }
}

fn report_problems(problems: &[ConfigProblem]) {
    for p in problems {
        // Each problem says what applies instead.
        eprintln!("sphere: {p}");
    }
}

/// Logs go to a file in the state directory, never to the terminal.
fn init_logging(paths: &Paths) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::EnvFilter;
    let file = paths.log_file();
    let dir = file.parent()?;
    std::fs::create_dir_all(dir).ok()?;
    let name = file.file_name()?;
    let appender = tracing_appender::rolling::never(dir, name);
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("SPHERE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
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

/// The demo's own catalog, embedded in the binary.
pub fn demo_catalog() -> Catalog {
    let reader = EmbeddedReader::new(crate::backend::sim::assets::demo_sources());
    load(
        &[PathBuf::from(crate::backend::sim::assets::DEMO_ROOT)],
        &reader,
    )
}

/// A catalog read from descriptor files on every load.
pub struct FileCatalog {
    pub roots: Vec<PathBuf>,
}

#[async_trait::async_trait]
impl CatalogProvider for FileCatalog {
    async fn load(&self) -> Result<Arc<Catalog>> {
        let roots = self.roots.clone();
        tokio::task::spawn_blocking(move || Arc::new(load(&roots, &FsReader)))
            .await
            .context("catalog loading task failed")
    }
}

/// Build the platform: the configured one when the config declares one (unless
/// `--demo`), else the demo, with the catalog from the config's paths if set. The demo's
/// handle comes back beside it (its clock runs while the TUI is open).
pub async fn build_platform(cli: &Cli, ctx: &Ctx) -> Result<(Platform, Option<Sim>)> {
    if ctx.config.is_configured_platform() && !cli.demo {
        // What sphere read is remembered in the cache dir; SPHERE_NO_CACHE=1 reads
        // everything every time (to compare the cost).
        let caching = crate::backend::configured::Caching {
            dir: Some(ctx.paths.cache_dir.clone()),
            off: std::env::var_os("SPHERE_NO_CACHE").is_some_and(|v| !v.is_empty() && v != "0"),
        };
        let platform =
            crate::backend::configured::build_with(&ctx.config, &ctx.paths.data_dir, caching)
                .await
                .context("could not set up the configured platform")?;
        return Ok((platform, None));
    }
    let (platform, sim) = build_demo(cli, ctx)?;
    Ok((platform, Some(sim)))
}

/// The embedded demo platform, with the catalog from the config's paths if set.
pub fn build_demo(cli: &Cli, ctx: &Ctx) -> Result<(Platform, Sim)> {
    // A misspelt injected failure would fail nothing, silently.
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
    let own_catalog = &ctx.config.catalog.paths;
    let catalog = if own_catalog.is_empty() {
        demo_catalog()
    } else {
        load(own_catalog, &FsReader)
    };
    let opts = SimOptions {
        seed: demo_seed(cli, ctx),
        scale: cli.scale.clone().unwrap_or_default(),
        pace: cli.pace.unwrap_or(ctx.config.demo.pace),
        state_path: Some(demo_state_path(cli, ctx)),
    };
    let sim = Sim::open(opts, catalog).context("could not open the demo platform")?;
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
    let (platform, sim) = build_platform(cli, &ctx).await?;
    let theme_name = cli
        .theme
        .clone()
        .unwrap_or_else(|| ctx.config.theme.clone());
    let (theme, theme_problems) =
        crate::config::theme::load_theme(&theme_name, &ctx.paths, ColorSupport::detect());
    let (keymap, key_problems) = crate::config::keymap::load_keymap(&ctx.paths);
    let startup_problems = ctx
        .problems
        .iter()
        .chain(&theme_problems)
        .chain(&key_problems)
        .map(|p| p.to_string())
        .collect();
    let policy = crate::actions::Policy::from_config(
        &ctx.config.policy,
        platform.kind == crate::backend::PlatformKind::Demo,
        cli.read_only,
    );
    // `--as NAME` works here as in every command: a catalog User, checked before the
    // screen opens.
    let user = match &cli.act_as {
        Some(name) => {
            let catalog = platform.catalog.load().await?;
            crate::actions::Actor::resolve_as(name, &catalog, &policy)
                .map_err(|r| {
                    UsageError(format!(
                        "--as: {}",
                        crate::domain::text::sanitize(&r.to_string())
                    ))
                })?
                .name
        }
        None => ctx
            .config
            .actor(platform.kind == crate::backend::PlatformKind::Demo),
    };
    let group = match ctx.config.catalog.group_by {
        GroupBy::None => tui::catalog::Grouping::None,
        GroupBy::Owner => tui::catalog::Grouping::Owner,
        GroupBy::System => tui::catalog::Grouping::System,
    };
    let model = tui::model::Model::new(tui::model::ModelInit {
        platform_name: platform.name.clone(),
        demo: platform.kind == crate::backend::PlatformKind::Demo,
        user,
        topology: platform.clusters.topology(),
        keymap,
        theme,
        toast_ttl: Duration::from_secs(ctx.config.toast_seconds),
        group,
        policy,
    });
    let _clock = sim.as_ref().map(Sim::start_clock);
    tui::app::run(tui::app::RunOptions {
        platform,
        model,
        max_fps: ctx.config.max_fps,
        startup_problems,
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
