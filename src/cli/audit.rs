//! `sphere audit`: the audit trail, newest first.
//!
//! # JSON (stable: fields are only added)
//!
//! `sphere audit --output json` — an array, newest first:
//!
//! ```json
//! [{"id": 12, "at": 1700000000, "time": "2023-11-14T22:13:20Z", "who": "ada",
//!   "action": "lock.add", "target": "payments-api@production/us-east-1",
//!   "reason": "INC-2291", "outcome": "succeeded", "outcome_detail": null,
//!   "change": "lock.holder: ada (INC-2291)", "details": {"lock.holder": "ada (INC-2291)"}}]
//! ```
//!
//! `outcome` is `started`, `succeeded`, `failed` or `refused`; `outcome_detail` says why
//! for the last two. `reason` is `null` when none was given. `details` says what
//! changed, by name (`version.from`/`version.to` of a rollback or a release,
//! `hpa.from`/`hpa.to`, `value.from`/`value.to` and `percentage.*` of a flag,
//! `secret.version*`, `lock.holder`, `lock.others`, `lock.removed`, `lock.kept`,
//! `override.locks` and `override.reason` of a lock override, `locks` of a lock
//! refusal); `change` is the same in one line for people (`""` when none).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::domain::audit::{AuditFilter, change_text, filter, parse_duration};
use crate::domain::text::sanitize;
use crate::domain::{AuditRecord, Outcome, Timestamp};

use super::print_table;
use super::secret::{date, rfc3339};
use super::{Cli, Ctx, Output, build_platform};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only records this recent: 30m, 2h, 7d, 1w.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<i64>,
    /// Only records whose actor, action, target, reason, outcome or change contain
    /// this text.
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// One line of `sphere audit --output json`.
#[derive(Debug, Serialize)]
pub struct AuditItem<'a> {
    pub id: u64,
    pub at: Timestamp,
    pub time: String,
    pub who: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub reason: Option<&'a str>,
    pub outcome: &'static str,
    pub outcome_detail: Option<&'a str>,
    pub change: String,
    pub details: &'a crate::domain::Details,
}

fn outcome_parts(o: &Outcome) -> (&'static str, Option<&str>) {
    match o {
        Outcome::Started => ("started", None),
        Outcome::Succeeded => ("succeeded", None),
        Outcome::Failed(why) => ("failed", Some(why)),
        Outcome::Refused(why) => ("refused", Some(why)),
        Outcome::Interrupted(why) => ("interrupted", Some(why)),
    }
}

impl<'a> From<&'a AuditRecord> for AuditItem<'a> {
    fn from(r: &'a AuditRecord) -> Self {
        let (outcome, outcome_detail) = outcome_parts(&r.outcome);
        AuditItem {
            id: r.id,
            at: r.at,
            time: rfc3339(r.at),
            who: &r.actor,
            action: &r.action,
            target: &r.target,
            reason: r.reason.as_deref(),
            outcome,
            outcome_detail,
            change: change_text(&r.details),
            details: &r.details,
        }
    }
}

pub async fn run(cli: &Cli, ctx: &Ctx, args: &AuditArgs) -> Result<ExitCode> {
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let now = chrono::Utc::now().timestamp();
    let f = AuditFilter {
        since: args.since.map(|s| now.saturating_sub(s)),
        text: args.grep.clone(),
    };
    let records = platform.ledger.audit(f.since).await?;
    // Records that have not reached the trail's store yet are listed (from the local
    // journal); say so, on stderr, so scripts reading stdout are not disturbed.
    match platform.ledger.audit_backlog().await {
        Ok(Some(backlog)) => eprintln!("sphere: note: {}", sanitize(&backlog)),
        Ok(None) => {}
        Err(e) => eprintln!("sphere: note: the audit journal: {e:#}"),
    }
    let records = filter(&records, &f);
    match args.output {
        Output::Json => {
            let items: Vec<AuditItem> = records.iter().map(AuditItem::from).collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        Output::Table => {
            let rows: Vec<Vec<String>> = records
                .iter()
                .map(|r| {
                    let (o, why) = outcome_parts(&r.outcome);
                    vec![
                        date(r.at),
                        r.actor.clone(),
                        r.action.clone(),
                        r.target.clone(),
                        r.reason.clone().unwrap_or_default(),
                        change_text(&r.details),
                        match why {
                            Some(w) => format!("{o}: {w}"),
                            None => o.to_string(),
                        },
                    ]
                })
                .collect();
            print_table(
                &[
                    "TIME (UTC)",
                    "WHO",
                    "ACTION",
                    "TARGET",
                    "REASON",
                    "CHANGE",
                    "OUTCOME",
                ],
                &rows,
            );
            if records.is_empty() {
                println!("(no records)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
