//! `sphere score [SERVICE] [--output table|json] [--scorecard FILE]`: the readiness
//! score (C11) of one service, or of every service.
//!
//! The scorecard is Port-style JSON (see `domain::score`); the built-in one is
//! `assets/scorecard.json` (Bronze: owner, description, docs; Silver: on-call, CI
//! workflow, no secret drift; Gold: core packages current, every production region).
//!
//! JSON output (stable: fields are only added):
//!
//! One service:
//! ```json
//! { "service": "payments-api",
//!   "scorecard": { "identifier": "production-readiness", "title": "Production readiness" },
//!   "level": "Silver",            // null below the first level
//!   "score": 87, "passed": 7, "total": 8,
//!   "rules": [{ "identifier": "has-owner", "title": "Owner set", "level": "Bronze",
//!               "passed": true, "why": "owner is group:default/payments" }] }
//! ```
//!
//! Every service:
//! ```json
//! { "scorecard": { "identifier": "...", "title": "..." },
//!   "services": [{ "service": "payments-api", "owner": "group:default/payments",
//!                  "level": "Silver", "score": 87, "passed": 7, "total": 8,
//!                  "failing": ["core-packages-current"] }] }
//! ```
//!
//! Exit codes: 0 scored, 1 unknown service or unusable scorecard, 2 bad usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use crate::backend::facts::{ServiceFacts, gather, gather_all};
use crate::domain::score::{
    Properties, ScoreResult, Scorecard, builtin_scorecard, evaluate, parse_scorecard, properties,
};
use crate::domain::text::sanitize;

use super::{Cli, Ctx, Output, build_platform, print_table};

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The service to score; every service when left out.
    pub service: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// A Port-style scorecard JSON file instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub scorecard: Option<PathBuf>,
}

/// The scorecard's name in the JSON output.
#[derive(Debug, Serialize)]
pub struct CardRef<'a> {
    pub identifier: &'a str,
    pub title: &'a str,
}

impl<'a> From<&'a Scorecard> for CardRef<'a> {
    fn from(c: &'a Scorecard) -> Self {
        CardRef {
            identifier: &c.identifier,
            title: &c.title,
        }
    }
}

#[derive(Debug, Serialize)]
struct One<'a> {
    service: &'a str,
    scorecard: CardRef<'a>,
    #[serde(flatten)]
    result: &'a ScoreResult,
}

#[derive(Debug, Serialize)]
struct Row {
    service: String,
    owner: Option<String>,
    level: Option<String>,
    score: u32,
    passed: usize,
    total: usize,
    failing: Vec<String>,
}

#[derive(Debug, Serialize)]
struct All<'a> {
    scorecard: CardRef<'a>,
    services: Vec<Row>,
}

/// Load the scorecard: the file given, else the built-in one. Errors name the file.
pub fn load_scorecard(path: Option<&Path>) -> Result<Scorecard> {
    match path {
        None => Ok(builtin_scorecard()?),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the scorecard {}", p.display()))?;
            Ok(parse_scorecard(&p.display().to_string(), &text)?)
        }
    }
}

/// The property map and the score of one service.
pub fn score_facts(card: &Scorecard, facts: &ServiceFacts) -> (Properties, ScoreResult) {
    let names = facts.resource_names();
    let props = properties(&facts.evidence(&names));
    let result = evaluate(card, &props);
    (props, result)
}

pub async fn run(cli: &Cli, ctx: &Ctx, args: &ScoreArgs) -> Result<ExitCode> {
    let card = load_scorecard(args.scorecard.as_deref())?;
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let catalog = platform.catalog.load().await?;
    match &args.service {
        Some(name) => {
            let facts = gather(&platform, &catalog, name).await?;
            let (_, result) = score_facts(&card, &facts);
            match args.output {
                Output::Json => {
                    let one = One {
                        service: &facts.entity.name,
                        scorecard: CardRef::from(&card),
                        result: &result,
                    };
                    println!("{}", serde_json::to_string_pretty(&one)?);
                }
                Output::Table => print_one(&card, &facts.entity.name, &result),
            }
        }
        None => {
            let all = gather_all(&platform, &catalog).await?;
            let mut rows: Vec<Row> = all
                .iter()
                .map(|f| {
                    let (_, r) = score_facts(&card, f);
                    Row {
                        service: f.entity.name.to_string(),
                        owner: f.entity.owner.as_ref().map(|o| o.to_string()),
                        level: r.level.clone(),
                        score: r.score,
                        passed: r.passed,
                        total: r.total,
                        failing: r
                            .rules
                            .iter()
                            .filter(|x| !x.passed)
                            .map(|x| x.identifier.clone())
                            .collect(),
                    }
                })
                .collect();
            rows.sort_by(|a, b| a.service.cmp(&b.service));
            match args.output {
                Output::Json => {
                    let out = All {
                        scorecard: CardRef::from(&card),
                        services: rows,
                    };
                    println!("{}", serde_json::to_string_pretty(&out)?);
                }
                Output::Table => print_all(&card, &rows),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn s(v: &str) -> String {
    sanitize(v).into_owned()
}

fn level_text(level: &Option<String>) -> String {
    level
        .as_deref()
        .map(s)
        .unwrap_or_else(|| "none".to_string())
}

fn print_one(card: &Scorecard, service: &str, r: &ScoreResult) {
    println!(
        "{}: level {}, score {}% ({} of {} rules) on {}",
        s(service),
        level_text(&r.level),
        r.score,
        r.passed,
        r.total,
        s(&card.title)
    );
    let rows: Vec<Vec<String>> = r
        .rules
        .iter()
        .map(|x| {
            vec![
                s(&x.level),
                if x.passed { "pass" } else { "FAIL" }.to_string(),
                s(&x.title),
                s(&x.why),
            ]
        })
        .collect();
    print_table(&["LEVEL", "RESULT", "RULE", "WHY"], &rows);
    let blocking = r.blocking(card);
    if !blocking.is_empty() {
        let names: Vec<String> = blocking.iter().map(|b| s(&b.title)).collect();
        println!("next level needs: {}", names.join(", "));
    }
}

fn print_all(card: &Scorecard, rows: &[Row]) {
    println!("{} ({} services)", s(&card.title), rows.len());
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let owner = r
                .owner
                .as_deref()
                .map(|o| o.rsplit('/').next().unwrap_or(o))
                .unwrap_or("");
            vec![
                s(&r.service),
                s(owner),
                level_text(&r.level),
                format!("{}%", r.score),
                s(&r.failing.join(", ")),
            ]
        })
        .collect();
    print_table(&["SERVICE", "OWNER", "LEVEL", "SCORE", "FAILING"], &table);
}
