//! `sphere pods SERVICE`: live pods, deployments and HPAs of one service (C6).
//!
//! JSON (`--output json`), stable: `{ "service", "pods": [{"name", "service",
//! "cluster": {"env", "region"}, "phase", "ready", "restarts", "started_at", "node",
//! "version", "waiting"?, "last_termination"?}], "deployments": [DeploymentSummary],
//! "hpas": [{"service", "cluster", "min", "max", "current", "target_cpu",
//! "current_cpu"?}] }`, pods sorted by cluster then name.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::domain::catalog::Kind;
use crate::domain::text::{age, sanitize};
use crate::domain::{DeploymentSummary, HpaSummary, PodSummary};

use super::{Cli, Ctx, Output, UsageError, build_platform, scope_from};

#[derive(Debug, Args)]
pub struct PodsArgs {
    /// The service (a Component's name).
    pub service: String,
    /// Only this environment.
    #[arg(long)]
    pub env: Option<String>,
    /// Only this region.
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Serialize)]
struct PodsJson<'a> {
    service: &'a str,
    pods: Vec<PodSummary>,
    deployments: Vec<DeploymentSummary>,
    hpas: Vec<HpaSummary>,
}

pub async fn run(cli: &Cli, ctx: &Ctx, args: &PodsArgs) -> Result<ExitCode> {
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let topology = platform.topology_or_clusters().await;
    let scope = scope_from(args.env.as_deref(), args.region.as_deref(), &topology)?;
    let (catalog, snapshot) =
        tokio::try_join!(platform.catalog.load(), platform.clusters.snapshot(&scope))?;
    if catalog
        .find(Some(&Kind::Component), &args.service)
        .is_none()
    {
        return Err(UsageError(format!(
            "no service named {:?} in the catalog (try `sphere catalog list`)",
            args.service
        ))
        .into());
    }
    for (cluster, err) in &snapshot.errors {
        eprintln!("sphere: {cluster}: {}", sanitize(err));
    }
    let svc = args.service.as_str();
    let mut pods: Vec<PodSummary> = snapshot
        .pods
        .into_iter()
        .filter(|p| p.service == svc)
        .collect();
    pods.sort_by(|a, b| (&a.cluster, &a.name).cmp(&(&b.cluster, &b.name)));
    let mut deployments: Vec<DeploymentSummary> = snapshot
        .deployments
        .into_iter()
        .filter(|d| d.service == svc)
        .collect();
    deployments.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    let mut hpas: Vec<HpaSummary> = snapshot
        .hpas
        .into_iter()
        .filter(|h| h.service == svc)
        .collect();
    hpas.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&PodsJson {
                service: svc,
                pods,
                deployments,
                hpas
            })?
        ),
        Output::Table => print_table(&pods, &deployments, &hpas),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(pods: &[PodSummary], deployments: &[DeploymentSummary], hpas: &[HpaSummary]) {
    let now = chrono::Utc::now().timestamp();
    println!(
        "{:<26} {:<44} {:<9} {:<5} {:>8} {:>7} {:<28} {:<17} LAST TERMINATION",
        "CLUSTER", "POD", "PHASE", "READY", "RESTARTS", "AGE", "NODE", "REASON"
    );
    for p in pods {
        let reason = p
            .waiting
            .as_deref()
            .or(p.last_termination.as_deref())
            .unwrap_or("");
        println!(
            "{:<26} {:<44} {:<9} {:<5} {:>8} {:>7} {:<28} {:<17} {}",
            p.cluster.to_string(),
            sanitize(&p.name),
            p.phase.to_string(),
            if p.ready { "yes" } else { "no" },
            p.restarts,
            age(now - p.started_at),
            sanitize(&p.node),
            sanitize(reason),
            sanitize(p.last_termination.as_deref().unwrap_or("-"))
        );
    }
    println!();
    println!(
        "{:<26} {:<12} {:>7} {:<12}",
        "DEPLOYMENT", "VERSION", "READY", "ROLLOUT"
    );
    for d in deployments {
        println!(
            "{:<26} {:<12} {:>7} {:<12}",
            d.cluster.to_string(),
            sanitize(&d.version),
            format!("{}/{}", d.ready, d.desired),
            format!("{:?}", d.rollout).to_lowercase()
        );
    }
    if !hpas.is_empty() {
        println!();
        println!(
            "{:<26} {:>4} {:>4} {:>8} {:>10}",
            "HPA", "MIN", "MAX", "CURRENT", "CPU/TARGET"
        );
        for h in hpas {
            let cpu = h.current_cpu.map_or("-".to_string(), |c| format!("{c}%"));
            println!(
                "{:<26} {:>4} {:>4} {:>8} {:>10}",
                h.cluster.to_string(),
                h.min,
                h.max,
                h.current,
                format!("{cpu}/{}%", h.target_cpu)
            );
        }
    }
}
