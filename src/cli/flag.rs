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

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use serde::Serialize;

use crate::domain::flags::{
    FlagDrift, FlagSummary, flag_columns, flag_drift, flag_matrix, flag_summary,
};
use crate::domain::{ClusterId, PendingFlag};

use super::print_table;
use super::{Cli, Ctx, Output, build_platform};

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
    let FlagCommand::List { env, output } = cmd;
    let (platform, _sim) = build_platform(cli, ctx)?;
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
                                    env: id.env.clone(),
                                    region: id.region.clone(),
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
