//! `sphere drift [--env E] [--output json]`: every kind of drift sphere knows — versions
//! between regions, secrets, flags, and git-vs-live (versions and HPA bounds against the
//! GitOps repository; see [`crate::agent::findings`]) — in one list.
//!
//! JSON: `{"findings": [{"id", "kind", "subject", "env", "regions", "detail"}],
//! "unread": [{"source", "error"}]}`.
//!
//! Exit codes: 0 when every source was read and nothing drifted; 1 when anything drifted,
//! or when a source (a cluster, a region's secrets, the flags) could not be read: then
//! no drift cannot be claimed (it fails closed); 2 for an unknown environment.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use super::{Cli, Ctx, Output, build_platform, print_table, scope_from};
use crate::agent::findings::{self, Finding};
use crate::domain::service::LiveState;
use crate::domain::text::sanitize;

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Only this environment.
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Serialize)]
struct Unread {
    source: String,
    error: String,
}

#[derive(Debug, Serialize)]
struct Report {
    findings: Vec<Finding>,
    unread: Vec<Unread>,
}

pub async fn run(cli: &Cli, ctx: &Ctx, a: &DriftArgs) -> Result<ExitCode> {
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let topo = platform.topology_or_clusters().await;
    let scope = scope_from(a.env.as_deref(), None, &topo)?;
    let demo = platform.kind == crate::backend::PlatformKind::Demo;
    let sources = crate::agent::default_sources(&ctx.config, demo);
    let reads = |s: &str| sources.contains(&s);
    let (snapshot, secrets, flags, declared) = tokio::join!(
        async {
            if reads("clusters") {
                Some(platform.clusters.snapshot(&scope).await)
            } else {
                None
            }
        },
        async {
            if reads("secrets") {
                Some(platform.secrets.list_partial(None).await)
            } else {
                None
            }
        },
        async {
            if reads("flags") {
                Some(platform.flags.list().await)
            } else {
                None
            }
        },
        // `Ok(None)`: no GitOps repository, nothing to compare.
        platform.repos.declared(),
    );
    let mut found = Vec::new();
    let mut unread = Vec::new();
    let mut failed = |source: &str, error: String| {
        unread.push(Unread {
            source: source.to_string(),
            error: sanitize(&error).into_owned(),
        })
    };
    let mut live = None;
    match snapshot {
        Some(Ok(snap)) => {
            for (cluster, error) in &snap.errors {
                failed("clusters", format!("{cluster}: {error}"));
            }
            let l = LiveState::from_snapshot(snap);
            found.extend(findings::version_drift(&l, &topo));
            live = Some(l);
        }
        Some(Err(e)) => failed("clusters", format!("{e:#}")),
        None => {}
    }
    match (declared, &live) {
        (Ok(Some(declared)), Some(live)) => found.extend(findings::git_drift(live, &declared)),
        (Ok(_), _) => {}
        (Err(e), _) => failed("git", format!("{e:#}")),
    }
    match secrets {
        Some(Ok(listing)) => {
            for f in &listing.failed {
                failed("secrets", f.error.clone());
            }
            found.extend(findings::secret_drift(&listing.secrets, &topo));
        }
        Some(Err(e)) => failed("secrets", format!("{e:#}")),
        None => {}
    }
    match flags {
        Some(Ok(flags)) => found.extend(findings::flag_drift(&flags)),
        Some(Err(e)) => failed("flags", format!("{e:#}")),
        None => {}
    }
    found.retain(|f| a.env.as_ref().is_none_or(|e| &f.env == e));
    found.sort_by(|x, y| (x.kind, &x.id).cmp(&(y.kind, &y.id)));
    let code = if found.is_empty() && unread.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    match a.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&Report {
                findings: found,
                unread
            })?
        ),
        Output::Table => {
            let rows: Vec<Vec<String>> = found
                .iter()
                .map(|f| {
                    vec![
                        f.kind.as_str().to_string(),
                        f.subject.clone(),
                        f.env.clone(),
                        f.regions.join(","),
                        f.detail.clone(),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                print_table(&["KIND", "SUBJECT", "ENV", "REGIONS", "DETAIL"], &rows);
            }
            for u in &unread {
                eprintln!("sphere: {} not read: {}", u.source, u.error);
            }
            match (found.len(), unread.is_empty()) {
                (0, true) => println!("no drift"),
                (0, false) => println!("no drift found, but not every source was read"),
                (1, _) => println!("1 drift"),
                (n, _) => println!("{n} drifts"),
            }
        }
    }
    Ok(code)
}
