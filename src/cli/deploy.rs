//! `sphere deploy matrix`: the deployments matrix (C5).
//!
//! JSON (`--output json`), stable: `{ "columns": [{"env", "region"}],
//! "rows": [{"service", "cells": [null | {"version", "ready", "desired", "rollout",
//! "crash_looping", "locked"?, "drift", "git"?: {"version"?, "hpa"?: [min, max]}}],
//! "drifted": [env]}], "drift": {env: count},
//! "summary": "..." }` — one cell per column, `null` where the service does not run.
//! With `[source] agent`, also `"agent": {broker, reachable, caught_up, sources:
//! [{source, age_seconds, stale}], ...}`.
//!
//! Table: one line per service, one column per cluster; a cell is
//! `VERSION READY/DESIRED` followed by `~` when it drifted from another region of the
//! same environment, `L` when locked, `G` when out of sync with git (the version or the
//! HPA bounds differ from what the GitOps repository declares), `R` while rolling out,
//! `!` when stalled or crash-looping.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use serde::Serialize;

use crate::domain::catalog::Kind;
use crate::domain::matrix::{self, Cell, Matrix};
use crate::domain::service::LiveState;
use crate::domain::text::sanitize;
use crate::domain::{RolloutState, Scope};

use super::{Cli, Ctx, Output, build_platform, scope_from};

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Every service's version, replicas, rollout and lock in every region and
    /// environment, with drift marked.
    Matrix {
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        /// Only this region.
        #[arg(long)]
        region: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Serialize)]
struct MatrixJson<'a> {
    #[serde(flatten)]
    matrix: &'a Matrix,
    summary: String,
    /// With `[source] agent`: how current each source the matrix came from is.
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<crate::backend::agent_source::FeedStatus>,
}

pub async fn run(cli: &Cli, ctx: &Ctx, cmd: &DeployCommand) -> Result<ExitCode> {
    let DeployCommand::Matrix {
        env,
        region,
        output,
    } = cmd;
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let topology = platform.topology_or_clusters().await;
    let scope = scope_from(env.as_deref(), region.as_deref(), &topology)?;
    let (catalog, snapshot, locks, declared) = tokio::join!(
        platform.catalog.load(),
        platform.clusters.snapshot(&scope),
        platform.ledger.locks(),
        platform.repos.declared(),
    );
    let (catalog, snapshot, locks) = (catalog?, snapshot?, locks?);
    // Git marks are extra: the matrix shows without them when git cannot be read.
    let declared = declared.unwrap_or_else(|e| {
        eprintln!(
            "sphere: git not read (no cell is marked out of sync): {}",
            sanitize(&format!("{e:#}"))
        );
        None
    });
    for (cluster, err) in &snapshot.errors {
        eprintln!("sphere: {cluster}: {}", sanitize(err));
    }
    let live = LiveState::from_snapshot(snapshot);
    let mut services: Vec<String> = catalog
        .of_kind(&Kind::Component)
        .filter(|e| matches!(e.spec_type.as_deref(), Some("service" | "website")))
        .map(|e| e.name.to_string())
        .collect();
    services.sort();
    let mut m = matrix::build(&services, &live, &locks, &topology, &scope);
    if let Some(declared) = &declared {
        matrix::mark_git(&mut m, &live, declared);
    }
    let envs = envs_in(&topology.environments, &scope);
    let summary = matrix::drift_summary(&m.drift, &envs);
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&MatrixJson {
                matrix: &m,
                summary,
                agent: platform.agent.as_ref().map(|f| f.status()),
            })?
        ),
        Output::Table => print_matrix(&m, &summary),
    }
    Ok(ExitCode::SUCCESS)
}

fn envs_in(envs: &[String], scope: &Scope) -> Vec<String> {
    envs.iter()
        .filter(|e| scope.env.as_ref().is_none_or(|s| s == *e))
        .cloned()
        .collect()
}

fn cell_text(c: &Option<Cell>) -> String {
    let Some(c) = c else {
        return "-".to_string();
    };
    let mut marks = String::new();
    if c.drift {
        marks.push('~');
    }
    if c.locked.is_some() {
        marks.push('L');
    }
    if c.git.is_some() {
        marks.push('G');
    }
    match c.rollout {
        RolloutState::Progressing => marks.push('R'),
        RolloutState::Stalled => marks.push('!'),
        RolloutState::Complete if c.crash_looping > 0 => marks.push('!'),
        RolloutState::Complete => {}
    }
    format!(
        "{} {}/{}{}{marks}",
        sanitize(&c.version),
        c.ready,
        c.desired,
        if marks.is_empty() { "" } else { " " }
    )
}

fn print_matrix(m: &Matrix, summary: &str) {
    let mut header = vec!["SERVICE".to_string()];
    header.extend(m.columns.iter().map(|c| c.to_string()));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = m
        .rows
        .iter()
        .map(|r| {
            let mut line = vec![sanitize(&r.service).into_owned()];
            line.extend(r.cells.iter().map(cell_text));
            line
        })
        .collect();
    super::print_table(&header, &rows);
    println!();
    println!("{summary}");
}
