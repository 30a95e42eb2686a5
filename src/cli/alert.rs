//! `sphere alert`: silences of the agent's drift alerts (see [`crate::agent::silences`]).
//!
//! - `sphere alert silence ID|PATTERN --reason R --for DURATION`: the agent does not
//!   POST the findings the pattern covers (a finding id as `sphere drift` shows it, or a
//!   pattern where `*` is any run of characters: `git/*`, `*/production/*`) until the
//!   silence expires; they are still published, marked silenced. A pattern silenced
//!   again gets the new reason and expiry. At most 30 days.
//! - `sphere alert unsilence ID|PATTERN`: remove a silence now (an open finding it held
//!   is POSTed then).
//! - `sphere alert silences [--output json]`: the silences, active and expired. JSON:
//!   `[{"pattern", "reason", "by", "at", "until", "audit_id", "active"}]`.
//!
//! Silence and unsilence are actions: policy, the audit trail (`alert.silence`,
//! `alert.unsilence`), exit codes as every action (see `act`). They need `[agent]`:
//! silences live in its `silences_topic`.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Subcommand;
use serde::Serialize;

use crate::actions::Action;
use crate::domain::audit::parse_duration;
use crate::domain::text::sanitize;

use super::act::{WhyArgs, run_action_why};
use super::secret::rfc3339;
use super::{Cli, Ctx, Output, build_platform, print_table};

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Stop the agent alerting on the findings a pattern covers, for a while.
    Silence {
        /// A finding id (`git/pay/production/eu-west-1`) or a pattern with `*` (`git/*`).
        pattern: String,
        /// Why (recorded in the silence and the audit trail).
        #[arg(long)]
        reason: String,
        /// How long: 30m, 8h, 7d (at most 30 days).
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
        for_seconds: i64,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Remove a silence now.
    Unsilence {
        pattern: String,
        #[command(flatten)]
        why: WhyArgs,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// The silences, active and expired.
    Silences {
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    silence: crate::agent::silences::Silence,
    active: bool,
}

pub async fn run(cli: &Cli, ctx: &Ctx, cmd: &AlertCommand) -> Result<ExitCode> {
    match cmd {
        AlertCommand::Silence {
            pattern,
            reason,
            for_seconds,
            output,
        } => {
            let action = Action::AlertSilence {
                pattern: pattern.clone(),
                reason: reason.clone(),
                for_seconds: *for_seconds,
            };
            run_action_why(cli, ctx, action, *output, &WhyArgs::default()).await
        }
        AlertCommand::Unsilence {
            pattern,
            why,
            output,
        } => {
            let action = Action::AlertUnsilence {
                pattern: pattern.clone(),
            };
            run_action_why(cli, ctx, action, *output, why).await
        }
        AlertCommand::Silences { output } => {
            let (platform, _sim) = build_platform(cli, ctx).await?;
            let store = platform.silences.clone().ok_or_else(|| {
                anyhow!("silences are kept by the agent: configure [agent] (its silences_topic)")
            })?;
            let now = platform.now();
            let rows: Vec<Row> = store
                .list()
                .await?
                .into_iter()
                .map(|s| Row {
                    active: s.active(now),
                    silence: s,
                })
                .collect();
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                Output::Table => {
                    if rows.is_empty() {
                        println!("no silences");
                    } else {
                        let lines: Vec<Vec<String>> = rows
                            .iter()
                            .map(|r| {
                                let s = &r.silence;
                                vec![
                                    sanitize(&s.pattern).into_owned(),
                                    sanitize(&s.by).into_owned(),
                                    if r.active {
                                        rfc3339(s.until)
                                    } else {
                                        format!("expired {}", rfc3339(s.until))
                                    },
                                    sanitize(&s.reason).into_owned(),
                                ]
                            })
                            .collect();
                        print_table(&["PATTERN", "BY", "UNTIL", "REASON"], &lines);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
