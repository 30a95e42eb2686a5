//! `sphere flag list`: every feature flag in every cluster, with its value and rollout
//! percentage; flags whose clusters disagree inside one environment are marked drifted,
//! and changes sent but not yet acknowledged are shown as pending.
//!
//! # JSON (stable: fields are only added)
//!
//! `sphere flag list --output json`:
//!
//! ```json
//! {"clusters": ["production/us-east-1", "…"],
//!  "flags": [{"name": "checkout.new-flow", "drifted": true,
//!             "cells": [{"cluster": "production/us-east-1", "env": "production",
//!                        "region": "us-east-1", "value": "on", "percentage": 25,
//!                        "pending": {"value": "on", "percentage": 100, "sent_at": 1700000000}}]}],
//!  "drift": [{"name": "checkout.new-flow", "env": "production",
//!             "variants": [{"value": "on", "percentage": 25, "regions": ["us-east-1", "…"]}]}],
//!  "summary": {"flags": 12, "drifted": 4, "pending_flags": 2, "pending_clusters": 3}}
//! ```
//!
//! `cells` lists only the clusters that have the flag, in `clusters` order; `pending` is
//! `null` when nothing is in flight. With `--env`, only that environment's clusters.
//!
//! # `sphere flag set NAME VALUE [--percentage N] [--env E] [--region R]` (C10)
//!
//! Sends the value (and rollout percentage 0–100; without it each cluster keeps its
//! own) to every cluster inside the scope that has the flag (no `--env`/`--region`:
//! every cluster). The change shows as `pending` in `flag list` until each cluster
//! acknowledges it. Who may: platform admins any flag; a Group's members the flags
//! whose name starts with the Group's name and a dot (`payments.router` for
//! `payments`). Confirmation: typing the flag's name for production or everywhere, y/N
//! otherwise (`--yes` when stdin is not a terminal). Exit codes and `--output json` (the
//! audit record) as for every action (see `act`); an unknown flag exits 2.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use serde::Serialize;

use crate::domain::flags::{
    FlagDrift, FlagSummary, flag_columns, flag_drift, flag_matrix, flag_summary,
};
use crate::domain::{ClusterId, PendingFlag};

use super::act::{WhyArgs, run_action_why};
use super::print_table;
use super::{Cli, Ctx, Output, build_platform};
use crate::actions::Action;

#[derive(Debug, Subcommand)]
pub enum FlagCommand {
    /// Every flag across clusters: value and percentage, drift and pending changes.
    List {
        /// Only this environment's clusters.
        #[arg(long)]
        env: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Set a flag's value (and percentage) in every cluster of the scope; pending until
    /// each cluster acknowledges.
    Set {
        name: String,
        value: String,
        /// Rollout percentage, 0–100 (default: each cluster keeps its own).
        #[arg(long, value_name = "N")]
        percentage: Option<u8>,
        /// Only this environment's clusters (default: every one).
        #[arg(long)]
        env: Option<String>,
        /// Only this region's clusters (default: every one).
        #[arg(long)]
        region: Option<String>,
        #[command(flatten)]
        why: WhyArgs,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Debug, Serialize)]
pub struct FlagListJson {
    pub clusters: Vec<String>,
    pub flags: Vec<FlagJson>,
    pub drift: Vec<FlagDrift>,
    pub summary: FlagSummary,
}

#[derive(Debug, Serialize)]
pub struct FlagJson {
    pub name: String,
    pub drifted: bool,
    pub cells: Vec<FlagCellJson>,
}

#[derive(Debug, Serialize)]
pub struct FlagCellJson {
    pub cluster: String,
    pub env: String,
    pub region: String,
    pub value: String,
    pub percentage: u8,
    pub pending: Option<PendingFlag>,
}

pub async fn run(cli: &Cli, ctx: &Ctx, cmd: &FlagCommand) -> Result<ExitCode> {
    let (env, output) = match cmd {
        FlagCommand::List { env, output } => (env, output),
        FlagCommand::Set {
            name,
            value,
            percentage,
            env,
            region,
            why,
            output,
        } => {
            let action = Action::FlagSet {
                name: name.clone(),
                value: value.clone(),
                percentage: *percentage,
                env: env.clone(),
                region: region.clone(),
            };
            return run_action_why(cli, ctx, action, *output, why).await;
        }
    };
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let topo = platform.clusters.topology();
    super::scope_from(env.as_deref(), None, &topo)?;
    let mut flags = platform.flags.list().await?;
    flags.retain(|f| env.as_ref().is_none_or(|e| &f.cluster.env == e));
    let mut scoped = topo.clone();
    if let Some(e) = env {
        scoped.environments = vec![e.clone()];
    }
    let cols: Vec<ClusterId> = flag_columns(&flags, &scoped);
    let rows = flag_matrix(&flags, &scoped);
    let summary = flag_summary(&rows);
    match output {
        Output::Json => {
            let doc = FlagListJson {
                clusters: cols.iter().map(ToString::to_string).collect(),
                flags: rows
                    .iter()
                    .map(|r| FlagJson {
                        name: r.name.clone(),
                        drifted: r.drifted,
                        cells: r
                            .cells
                            .iter()
                            .zip(&cols)
                            .filter_map(|(c, id)| {
                                c.as_ref().map(|c| FlagCellJson {
                                    cluster: id.to_string(),
                                    env: id.env.to_string(),
                                    region: id.region.to_string(),
                                    value: c.value.clone(),
                                    percentage: c.percentage,
                                    pending: c.pending.clone(),
                                })
                            })
                            .collect(),
                    })
                    .collect(),
                drift: flag_drift(&flags),
                summary,
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Output::Table => {
            let mut header: Vec<String> = vec!["FLAG".into(), "DRIFT".into()];
            header.extend(cols.iter().map(ToString::to_string));
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let mut line = vec![
                        r.name.clone(),
                        if r.drifted { "DRIFT" } else { "" }.to_string(),
                    ];
                    line.extend(r.cells.iter().map(|c| match c {
                        None => "-".to_string(),
                        Some(c) => {
                            let now = format!("{} {}%", c.value, c.percentage);
                            match &c.pending {
                                Some(p) => {
                                    format!("{now} (pending {} {}%)", p.value, p.percentage)
                                }
                                None => now,
                            }
                        }
                    }));
                    line
                })
                .collect();
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            print_table(&header, &table);
            println!(
                "{} flags, {} drifted, {} pending in {} cluster{}",
                summary.flags,
                summary.drifted,
                summary.pending_flags,
                summary.pending_clusters,
                if summary.pending_clusters == 1 {
                    ""
                } else {
                    "s"
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
