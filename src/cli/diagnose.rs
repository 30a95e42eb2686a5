//! Why it is broken (C17, C18): `sphere problems`, `sphere describe pod`, `sphere
//! events` and `sphere logs`.
//!
//! - `sphere problems [--env E] [--output json]`: everything wrong in scope, worst
//!   first; exit 0 when nothing is, 1 when anything is. JSON: `{"problems": [{"severity",
//!   "kind", "what", "service"?, "where", "since"?, "next"}]}`.
//! - `sphere describe pod NAME [--env E] [--region R] [--output json]`: the pod's
//!   details (JSON: the pod summary's fields and `namespace`, `created_at`,
//!   `conditions`, `pod_ip`, `host_ip`, `owner`, `containers`).
//! - `sphere events SERVICE|POD [--env E] [--region R] [--output json]`: the events of
//!   the service (its deployments, replica sets and pods) or of one pod and its
//!   owners, newest first.
//! - `sphere logs SERVICE|POD [--env E] [--region R] [--container C] [--previous]
//!   [--since 10m] [--tail N] [-f] [--grep TEXT] [--output json]`: one pod's lines, or
//!   every pod of the service merged in time order across pods and regions with a short
//!   source prefix. For a service without `--tail` or `--since`, the last 10 lines of
//!   each pod (as `kubectl logs -l` does). JSON: one object per line (`at_ns`, `cluster`,
//!   `pod`, `container`, `text`, `notice`?).
//!
//! Logs and events in production are for the service's owners and admins, or a
//! granted `read-logs` access request (exit 4 otherwise, with how to ask); every read is
//! audited (`logs.read`, `events.read`), never what was read.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use futures::StreamExt;

use crate::actions::read::{ReadKind, authorize_read};
use crate::backend::Platform;
use crate::backend::logs::{LogSource, merged};
use crate::domain::catalog::{Catalog, Kind};
use crate::domain::drift::drift;
use crate::domain::flags::flag_drift;
use crate::domain::pod::{LogQuery, PodEvent, parse_since};
use crate::domain::problems::{ProblemInput, Unreadable, problems};
use crate::domain::service::LiveState;
use crate::domain::text::{age, rfc3339, sanitize};
use crate::domain::{ClusterId, PodSummary, Scope};

use super::act::EXIT_REFUSED;
use super::{Cli, Ctx, Output, UsageError, build_platform, print_table, scope_from};

#[derive(Debug, Subcommand)]
pub enum DescribeCommand {
    /// A pod: phase, conditions, node, IPs, owner, age, and per container the image,
    /// state, readiness, restarts, last termination and resources.
    Pod {
        /// The pod's name.
        name: String,
        /// Its environment (needed only when the name is in several clusters).
        #[arg(long)]
        env: Option<String>,
        /// Its region (needed only when the name is in several clusters).
        #[arg(long)]
        region: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// A service (a Component's name) or one of its pods.
    pub target: String,
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// A service (a Component's name: every pod of it) or one pod.
    pub target: String,
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    /// The container (default: the pod's first).
    #[arg(long, short = 'c')]
    pub container: Option<String>,
    /// The previous, ended instance of the container (the crash's own last lines).
    #[arg(long, short = 'p')]
    pub previous: bool,
    /// Only lines of the last DURATION (10s, 10m, 2h, 1d).
    #[arg(long, value_name = "DURATION", value_parser = parse_since)]
    pub since: Option<i64>,
    /// Only the last N lines of each pod.
    #[arg(long, value_name = "N")]
    pub tail: Option<u32>,
    /// Keep following: print new lines as they are written.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only lines containing TEXT.
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct ProblemsArgs {
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// What a SERVICE|POD argument names.
enum Target {
    Service { name: String, pods: Vec<PodSummary> },
    Pod(PodSummary),
}

impl Target {
    fn service(&self) -> &str {
        match self {
            Target::Service { name, .. } => name,
            Target::Pod(p) => &p.service,
        }
    }

    fn pods(&self) -> Vec<&PodSummary> {
        match self {
            Target::Service { pods, .. } => pods.iter().collect(),
            Target::Pod(p) => vec![p],
        }
    }
}

fn is_service(catalog: &Catalog, name: &str) -> Option<String> {
    catalog
        .find(Some(&Kind::Component), name)
        .filter(|e| crate::backend::facts::is_service(e))
        .map(|e| e.name.to_string())
}

/// The one pod called `name` in scope (a usage error when there is none, or several).
fn one_pod(pods: Vec<PodSummary>, name: &str, scope: &Scope) -> Result<PodSummary> {
    let mut found: Vec<PodSummary> = pods.into_iter().filter(|p| p.name == name).collect();
    match found.len() {
        0 => Err(UsageError(format!(
            "no pod named {:?} in {scope} (try `sphere pods SERVICE`)",
            sanitize(name)
        ))
        .into()),
        1 => Ok(found.remove(0)),
        _ => Err(UsageError(format!(
            "pod {:?} is in several clusters ({}): name one with --env and --region",
            sanitize(name),
            found
                .iter()
                .map(|p| p.cluster.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

async fn resolve(
    platform: &Platform,
    catalog: &Catalog,
    target: &str,
    scope: &Scope,
) -> Result<Target> {
    let snapshot = platform.clusters.snapshot(scope).await?;
    for (cluster, err) in &snapshot.errors {
        eprintln!("sphere: {cluster}: {}", sanitize(err));
    }
    if let Some(name) = is_service(catalog, target) {
        let mut pods: Vec<PodSummary> = snapshot
            .pods
            .into_iter()
            .filter(|p| p.service == name)
            .collect();
        pods.sort_by(|a, b| (&a.cluster, &a.name).cmp(&(&b.cluster, &b.name)));
        return Ok(Target::Service { name, pods });
    }
    Ok(Target::Pod(one_pod(snapshot.pods, target, scope)?))
}

/// `service@production/eu-west-1, ...`: where a read reads, for the audit trail.
fn read_target(service: &str, pods: &[&PodSummary], scope: &Scope) -> String {
    let mut clusters: Vec<&ClusterId> = pods.iter().map(|p| &p.cluster).collect();
    clusters.sort();
    clusters.dedup();
    if clusters.is_empty() {
        return format!("{service}@{}", scope_text(scope));
    }
    clusters
        .iter()
        .map(|c| format!("{service}@{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn scope_text(scope: &Scope) -> String {
    format!(
        "{}/{}",
        scope.env.as_deref().unwrap_or("*"),
        scope.region.as_deref().unwrap_or("*")
    )
}

/// The policy check and audit of a read; `Some(exit)` when refused.
async fn authorize(
    cli: &Cli,
    ctx: &Ctx,
    platform: &Platform,
    catalog: &Catalog,
    target: &Target,
    scope: &Scope,
    kind: ReadKind,
) -> Result<Option<ExitCode>> {
    let policy = super::act::policy(cli, ctx, platform);
    let actor = super::resolve_actor(cli, ctx, platform, catalog, &policy).await?;
    let pods = target.pods();
    let mut envs: Vec<&str> = pods.iter().map(|p| p.cluster.env.as_str()).collect();
    if let Some(e) = &scope.env {
        envs.push(e);
    }
    envs.sort_unstable();
    envs.dedup();
    let what = read_target(target.service(), &pods, scope);
    match authorize_read(
        platform,
        catalog,
        &actor,
        target.service(),
        &envs,
        &what,
        kind,
    )
    .await?
    {
        Ok(()) => Ok(None),
        Err(refusal) => {
            eprintln!("sphere: refused: {}", sanitize(&refusal.to_string()));
            Ok(Some(ExitCode::from(EXIT_REFUSED)))
        }
    }
}

pub async fn describe(cli: &Cli, ctx: &Ctx, cmd: &DescribeCommand) -> Result<ExitCode> {
    let DescribeCommand::Pod {
        name,
        env,
        region,
        output,
    } = cmd;
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let topology = platform.topology_or_clusters().await;
    let scope = scope_from(env.as_deref(), region.as_deref(), &topology)?;
    let snapshot = platform.clusters.snapshot(&scope).await?;
    let pod = one_pod(snapshot.pods, name, &scope)?;
    let details = platform
        .clusters
        .pod_details(&pod.cluster, &pod.name)
        .await?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&details)?),
        Output::Table => {
            for line in details.describe(platform.now()) {
                println!("{line}");
            }
            println!();
            println!(
                "Deeper: sphere logs {} --env {} --region {}{}",
                sanitize(&pod.name),
                pod.cluster.env,
                pod.cluster.region,
                if details.last_termination().is_some() {
                    " --previous"
                } else {
                    ""
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn events(cli: &Cli, ctx: &Ctx, args: &EventsArgs) -> Result<ExitCode> {
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let topology = platform.topology_or_clusters().await;
    let scope = scope_from(args.env.as_deref(), args.region.as_deref(), &topology)?;
    let catalog = platform.catalog.load().await?;
    let target = resolve(&platform, &catalog, &args.target, &scope).await?;
    if let Some(exit) = authorize(
        cli,
        ctx,
        &platform,
        &catalog,
        &target,
        &scope,
        ReadKind::Events,
    )
    .await?
    {
        return Ok(exit);
    }
    let mut clusters: Vec<ClusterId> = target.pods().iter().map(|p| p.cluster.clone()).collect();
    if let Target::Service { name, .. } = &target {
        // Where it has a deployment but no pod (scaled to nothing, all evicted).
        let snap = platform.clusters.snapshot(&scope).await?;
        clusters.extend(
            snap.deployments
                .into_iter()
                .filter(|d| &d.service == name)
                .map(|d| d.cluster),
        );
    }
    clusters.sort();
    clusters.dedup();
    let pod = match &target {
        Target::Pod(p) => Some(p.name.as_str()),
        Target::Service { .. } => None,
    };
    let reads = futures::future::join_all(
        clusters
            .iter()
            .map(|c| platform.clusters.events(c, target.service(), pod)),
    )
    .await;
    let mut all: Vec<PodEvent> = Vec::new();
    let mut failed = false;
    for (c, r) in clusters.iter().zip(reads) {
        match r {
            Ok(e) => all.extend(e),
            Err(e) => {
                failed = true;
                eprintln!("sphere: {c}: {}", sanitize(&format!("{e:#}")));
            }
        }
    }
    crate::domain::pod::sort_events(&mut all);
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&all)?),
        Output::Table => {
            let now = platform.now();
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|e| {
                    vec![
                        age(now - e.at),
                        e.cluster.to_string(),
                        e.kind.clone(),
                        e.reason.clone(),
                        format!("{}/{}", e.object.kind, e.object.name),
                        if e.count > 1 {
                            format!("{} (x{})", e.message, e.count)
                        } else {
                            e.message.clone()
                        },
                    ]
                })
                .collect();
            print_table(
                &["AGE", "CLUSTER", "TYPE", "REASON", "OBJECT", "MESSAGE"],
                &rows,
            );
        }
    }
    Ok(if failed && all.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn logs(cli: &Cli, ctx: &Ctx, args: &LogsArgs) -> Result<ExitCode> {
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let topology = platform.topology_or_clusters().await;
    let scope = scope_from(args.env.as_deref(), args.region.as_deref(), &topology)?;
    let catalog = platform.catalog.load().await?;
    let target = resolve(&platform, &catalog, &args.target, &scope).await?;
    if target.pods().is_empty() {
        return Err(UsageError(format!(
            "{} has no pods in {scope}",
            sanitize(target.service())
        ))
        .into());
    }
    if let Some(exit) = authorize(
        cli,
        ctx,
        &platform,
        &catalog,
        &target,
        &scope,
        ReadKind::Logs,
    )
    .await?
    {
        return Ok(exit);
    }
    let many = matches!(target, Target::Service { .. });
    let sources: Vec<LogSource> = target
        .pods()
        .iter()
        .map(|p| LogSource {
            cluster: p.cluster.clone(),
            pod: p.name.clone(),
        })
        .collect();
    let with_env = {
        let mut envs: Vec<&str> = sources.iter().map(|s| s.cluster.env.as_str()).collect();
        envs.dedup();
        envs.len() > 1
    };
    let query = LogQuery {
        container: args.container.clone(),
        previous: args.previous,
        since_seconds: args.since,
        tail: args
            .tail
            .or((many && args.since.is_none()).then_some(DEFAULT_SERVICE_TAIL)),
        follow: args.follow,
        after_ns: None,
    };
    let mut lines = merged(platform.clusters.clone(), sources, query).await?;
    let mut out = std::io::stdout().lock();
    while let Some(l) = lines.next().await {
        if let Some(g) = &args.grep
            && !l.notice
            && !l.text.contains(g.as_str())
        {
            continue;
        }
        let written = match args.output {
            Output::Json => writeln!(out, "{}", serde_json::to_string(&l)?),
            Output::Table => {
                let source = if many {
                    format!(" {}", l.source(with_env))
                } else {
                    String::new()
                };
                let mark = if l.notice { " sphere:" } else { "" };
                writeln!(out, "{}{source}{mark} {}", l.time_text(), l.text)
            }
        };
        // A closed pipe (`| head`) ends the read quietly.
        if written.is_err() || (args.follow && out.flush().is_err()) {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Lines per pod when every pod of a service is read without `--tail` or `--since`.
pub const DEFAULT_SERVICE_TAIL: u32 = 10;

pub async fn run_problems(cli: &Cli, ctx: &Ctx, args: &ProblemsArgs) -> Result<ExitCode> {
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let topology = platform.topology_or_clusters().await;
    let scope = scope_from(args.env.as_deref(), args.region.as_deref(), &topology)?;
    let (catalog, snapshot, locks, freeze, secrets, flags) = tokio::join!(
        platform.catalog.load(),
        platform.clusters.snapshot(&scope),
        platform.ledger.locks(),
        platform.ledger.freeze(),
        platform.secrets.list_partial(None),
        platform.flags.list(),
    );
    let mut unread = Unreadable::of_catalog(catalog.as_deref().map_err(|e| format!("{e:#}")));
    let mut note = |what: &str, e: &anyhow::Error, next: &str| {
        unread.push(Unreadable {
            what: what.to_string(),
            error: format!("{e:#}"),
            next: next.to_string(),
        })
    };
    let snapshot = snapshot.unwrap_or_else(|e| {
        note("clusters", &e, "sphere deploy matrix");
        Default::default()
    });
    let locks = locks.unwrap_or_else(|e| {
        note("locks", &e, "sphere lock check SERVICE");
        Vec::new()
    });
    let freeze = freeze
        .map_err(|e| note("merge freeze", &e, "sphere freeze status"))
        .ok();
    let flags = flags.unwrap_or_else(|e| {
        note("flags", &e, "sphere flag list");
        Vec::new()
    });
    let secrets = match secrets {
        Ok(l) => {
            for f in &l.failed {
                unread.push(Unreadable {
                    what: format!("secrets in {}", f.region),
                    error: f.error.clone(),
                    next: "sphere secret drift".to_string(),
                });
            }
            l.secrets
        }
        Err(e) => {
            unread.push(Unreadable {
                what: "secrets".to_string(),
                error: format!("{e:#}"),
                next: "sphere secret drift".to_string(),
            });
            Vec::new()
        }
    };
    let live = LiveState::from_snapshot(snapshot);
    let secret_drift = drift(&secrets, &topology);
    let flag_drift = flag_drift(&flags);
    let list = problems(&ProblemInput {
        live: &live,
        topology: &topology,
        scope: &scope,
        locks: &locks,
        freeze: freeze.as_ref(),
        secret_drift: &secret_drift,
        flag_drift: &flag_drift,
        unread: &unread,
        now: platform.now(),
    });
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "problems": list }))?
        ),
        Output::Table if list.is_empty() => println!("no problems in {scope}"),
        Output::Table => {
            let now = platform.now();
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|p| {
                    vec![
                        p.severity.as_str().to_string(),
                        p.what.clone(),
                        p.service.clone().unwrap_or_else(|| "-".into()),
                        p.place.clone(),
                        p.since.map_or("-".to_string(), |s| {
                            if s <= now {
                                format!("{} ago ({})", age(now - s), rfc3339(s))
                            } else {
                                format!("in {}", age(s - now))
                            }
                        }),
                        p.next.clone(),
                    ]
                })
                .collect();
            print_table(
                &["SEVERITY", "WHAT", "SERVICE", "WHERE", "SINCE", "DEEPER"],
                &rows,
            );
        }
    }
    Ok(if list.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
