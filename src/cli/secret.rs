//! `sphere secret list|drift`: secret names and metadata across regions, and drift
//! between the regions of one environment. Values and value hashes are never printed.
//!
//! # JSON (stable: fields are only added)
//!
//! `sphere secret list SERVICE --output json` — an array, sorted by env, key, region:
//!
//! ```json
//! [{"service": "payments-api", "env": "production", "region": "eu-west-1",
//!   "key": "DATABASE_URL", "name": "production/payments-api/DATABASE_URL",
//!   "version_id": "…", "stages": ["AWSCURRENT"], "last_changed": 1700000000,
//!   "last_changed_at": "2023-11-14T22:13:20Z", "tags": {"team": "payments"}}]
//! ```
//!
//! `sphere secret drift [SERVICE] --output json` — an array of findings, sorted by
//! service, env, key, kind, regions (`kind` is `missing`, `extra`, `value_differs` or
//! `tags_differ`; `regions` are where the key is missing, extra, or differs):
//!
//! ```json
//! [{"service": "payments-api", "env": "production", "key": "REDIS_URL",
//!   "kind": "missing", "regions": ["eu-west-1"], "detail": "missing in eu-west-1; …"}]
//! ```
//!
//! Exit codes: 0 (drift or not), 1 when the platform cannot be read, 2 for an unknown
//! service, environment or region.
//!
//! # Actions (C7)
//!
//! - `sphere secret put SERVICE NAME --env E --region R`: create or update
//!   `<env>/<service>/<NAME>` with the standard tags. The value is read from stdin (one
//!   trailing newline stripped; piped, never typed on the terminal, never an argument);
//!   an empty value is refused. Overwriting an existing production secret needs `--yes`.
//! - `sphere secret delete SERVICE NAME --env E --region R`: destructive, needs `--yes`
//!   when stdin is not a terminal (production: type the service name).
//! - `sphere secret reveal SERVICE NAME --env E --region R`: prints exactly the value on
//!   stdout (a newline after it only on a terminal) and nothing else; audited as
//!   `secret.reveal`, the record never holding the value. No `--output json`.
//! - `sphere secret copy SERVICE NAME --env E --from R1 --to R2`: fix drift by copying a
//!   secret missing in R2 from R1; refused (exit 2) when R1 lacks it or R2 has it.
//!
//! Exit codes and `--output json` (the audit record) as for every action (see `act`).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use serde::Serialize;

use crate::actions::Action;
use crate::domain::SecretValue;

use crate::backend::Platform;
use crate::domain::catalog::Kind;
use crate::domain::drift::{DriftFinding, drift};
use crate::domain::text::sanitize;
use crate::domain::{SecretMeta, Timestamp};

use super::act::{Done, WhyArgs, run_action_then, run_action_why};
use super::{Cli, Ctx, Output, UsageError, build_platform, print_table, scope_from};

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Names and metadata of one service's secrets in every region (never values).
    List {
        service: String,
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        /// Only this region.
        #[arg(long)]
        region: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Differences between the regions of each environment: missing, extra, value
    /// differs (compared by hash), tags differ. Exits 0 whether or not there is drift.
    Drift {
        /// Only this service.
        service: Option<String>,
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Create or update a secret; the value is read from stdin (piped).
    Put {
        service: String,
        /// The short name, `^[A-Z][A-Z0-9_]*$` (DATABASE_URL).
        name: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        region: String,
        #[command(flatten)]
        why: WhyArgs,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete a secret in one region (confirmation; production: type the service name).
    Delete {
        service: String,
        name: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        region: String,
        #[command(flatten)]
        why: WhyArgs,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Print a secret's value on stdout, on purpose (audited).
    Reveal {
        service: String,
        name: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        region: String,
    },
    /// Fix drift: copy a secret missing in one region from another.
    Copy {
        service: String,
        name: String,
        #[arg(long)]
        env: String,
        /// The region that has it.
        #[arg(long, value_name = "REGION")]
        from: String,
        /// The region that lacks it.
        #[arg(long, value_name = "REGION")]
        to: String,
        #[command(flatten)]
        why: WhyArgs,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

/// Write a revealed value: exactly its bytes into a pipe or file; on a terminal its
/// control characters shown as escapes (`\x1b`, never the raw sequence that would
/// move the cursor or set the title) and a newline after it.
pub(crate) fn write_revealed(
    out: &mut impl std::io::Write,
    value: &str,
    terminal: bool,
) -> Result<()> {
    if terminal {
        out.write_all(crate::domain::text::escape_controls(value).as_bytes())?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(value.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

/// The value piped on stdin, with one trailing newline (`\n` or `\r\n`) stripped.
fn read_value() -> Result<SecretValue> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(UsageError(
            "pipe the value on stdin (e.g. `printf %s \"$VALUE\" | sphere secret put ...`) so it never shows on the terminal; nothing changed"
                .to_string(),
        )
        .into());
    }
    let mut raw = Vec::new();
    stdin
        .read_to_end(&mut raw)
        .context("reading the value from stdin")?;
    let mut text = String::from_utf8(raw)
        .map_err(|_| UsageError("the value on stdin is not UTF-8; nothing changed".into()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(UsageError(
            "invalid value: the value on stdin is empty; nothing changed".to_string(),
        )
        .into());
    }
    Ok(SecretValue::new(text))
}

/// The secret actions: `put`, `delete`, `reveal`, `copy`. `None` for the read commands.
async fn run_action_command(cli: &Cli, ctx: &Ctx, cmd: &SecretCommand) -> Option<Result<ExitCode>> {
    Some(match cmd {
        SecretCommand::Put {
            service,
            name,
            env,
            region,
            why,
            output,
        } => match read_value() {
            Ok(value) => {
                let action = Action::SecretPut {
                    service: service.clone(),
                    env: env.clone(),
                    region: region.clone(),
                    key: name.clone(),
                    value,
                };
                run_action_why(cli, ctx, action, *output, why).await
            }
            Err(e) => Err(e),
        },
        SecretCommand::Delete {
            service,
            name,
            env,
            region,
            why,
            output,
        } => {
            let action = Action::SecretDelete {
                service: service.clone(),
                env: env.clone(),
                region: region.clone(),
                key: name.clone(),
            };
            run_action_why(cli, ctx, action, *output, why).await
        }
        SecretCommand::Reveal {
            service,
            name,
            env,
            region,
        } => {
            let action = Action::SecretReveal {
                service: service.clone(),
                env: env.clone(),
                region: region.clone(),
                key: name.clone(),
            };
            run_action_then(cli, ctx, action, Output::Table, Done::Reveal).await
        }
        SecretCommand::Copy {
            service,
            name,
            env,
            from,
            to,
            why,
            output,
        } => {
            let action = Action::SecretCopy {
                service: service.clone(),
                env: env.clone(),
                key: name.clone(),
                from: from.clone(),
                to: to.clone(),
            };
            run_action_why(cli, ctx, action, *output, why).await
        }
        SecretCommand::List { .. } | SecretCommand::Drift { .. } => return None,
    })
}

/// One line of `sphere secret list --output json`.
#[derive(Debug, Serialize)]
pub struct SecretItem<'a> {
    pub service: &'a str,
    pub env: &'a str,
    pub region: &'a str,
    pub key: &'a str,
    pub name: &'a str,
    pub version_id: &'a str,
    pub stages: &'a [String],
    pub last_changed: Timestamp,
    pub last_changed_at: String,
    pub tags: &'a BTreeMap<String, String>,
}

impl<'a> From<&'a SecretMeta> for SecretItem<'a> {
    fn from(s: &'a SecretMeta) -> Self {
        SecretItem {
            service: &s.service,
            env: &s.env,
            region: &s.region,
            key: &s.key,
            name: &s.name,
            version_id: &s.version_id,
            stages: &s.stages,
            last_changed: s.last_changed,
            last_changed_at: rfc3339(s.last_changed),
            tags: &s.tags,
        }
    }
}

/// A usage error: the message on stderr, exit code 2.
pub(crate) fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("sphere: {}", sanitize(&msg.to_string()));
    ExitCode::from(2)
}

/// A service is known when the catalog has a Component of that name or a provider has
/// secrets for it.
async fn check_service(platform: &Platform, service: &str, secrets: &[SecretMeta]) -> Result<bool> {
    if secrets.iter().any(|s| s.service == service) {
        return Ok(true);
    }
    let catalog = platform.catalog.load().await?;
    Ok(catalog.find(Some(&Kind::Component), service).is_some())
}

/// Every secret the regions that answer hold; each region that could not be read is
/// named on stderr (like the deployments matrix does for an unreachable cluster).
async fn list_reporting(platform: &Platform, service: Option<&str>) -> Result<Vec<SecretMeta>> {
    let listing = platform.secrets.list_partial(service).await?;
    for f in &listing.failed {
        eprintln!("sphere: {}: {}", sanitize(&f.region), sanitize(&f.error));
    }
    Ok(listing.secrets)
}

pub async fn run(cli: &Cli, ctx: &Ctx, cmd: &SecretCommand) -> Result<ExitCode> {
    if let Some(result) = run_action_command(cli, ctx, cmd).await {
        return result;
    }
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let topo = platform.clusters.topology();
    match cmd {
        SecretCommand::List {
            service,
            env,
            region,
            output,
        } => {
            scope_from(env.as_deref(), region.as_deref(), &topo)?;
            let secrets = list_reporting(&platform, Some(service)).await?;
            if !check_service(&platform, service, &secrets).await? {
                return Ok(usage(format!(
                    "unknown service {service:?} (try `sphere catalog list`)"
                )));
            }
            let mut rows: Vec<&SecretMeta> = secrets
                .iter()
                .filter(|s| s.service == *service)
                .filter(|s| env.as_ref().is_none_or(|e| &s.env == e))
                .filter(|s| region.as_ref().is_none_or(|r| &s.region == r))
                .collect();
            let env_rank = |e: &str| topo.environments.iter().position(|x| x == e);
            let region_rank = |r: &str| topo.regions.iter().position(|x| x == r);
            rows.sort_by(|a, b| {
                (
                    env_rank(&a.env),
                    &a.env,
                    &a.key,
                    region_rank(&a.region),
                    &a.region,
                )
                    .cmp(&(
                        env_rank(&b.env),
                        &b.env,
                        &b.key,
                        region_rank(&b.region),
                        &b.region,
                    ))
            });
            match output {
                Output::Json => {
                    let items: Vec<SecretItem> =
                        rows.iter().map(|s| SecretItem::from(*s)).collect();
                    println!("{}", serde_json::to_string_pretty(&items)?);
                }
                Output::Table => {
                    let table: Vec<Vec<String>> = rows
                        .iter()
                        .map(|s| {
                            vec![
                                s.env.clone(),
                                s.region.clone(),
                                s.key.clone(),
                                s.version_id.clone(),
                                s.stages.join(","),
                                date(s.last_changed),
                                s.tags
                                    .iter()
                                    .map(|(k, v)| format!("{k}={v}"))
                                    .collect::<Vec<_>>()
                                    .join(" "),
                            ]
                        })
                        .collect();
                    print_table(
                        &[
                            "ENV", "REGION", "KEY", "VERSION", "STAGES", "CHANGED", "TAGS",
                        ],
                        &table,
                    );
                    if rows.is_empty() {
                        println!("(no secrets)");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SecretCommand::Drift {
            service,
            env,
            output,
        } => {
            scope_from(env.as_deref(), None, &topo)?;
            let secrets = list_reporting(&platform, service.as_deref()).await?;
            if let Some(s) = service
                && !check_service(&platform, s, &secrets).await?
            {
                return Ok(usage(format!(
                    "unknown service {s:?} (try `sphere catalog list`)"
                )));
            }
            let findings: Vec<DriftFinding> = drift(&secrets, &topo)
                .into_iter()
                .filter(|f| service.as_ref().is_none_or(|s| &f.service == s))
                .filter(|f| env.as_ref().is_none_or(|e| &f.env == e))
                .collect();
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&findings)?),
                Output::Table => {
                    let table: Vec<Vec<String>> = findings
                        .iter()
                        .map(|f| {
                            vec![
                                f.service.clone(),
                                f.env.clone(),
                                f.key.clone(),
                                f.kind.to_string(),
                                f.regions.join(","),
                                f.detail.clone(),
                            ]
                        })
                        .collect();
                    print_table(
                        &["SERVICE", "ENV", "KEY", "DRIFT", "REGIONS", "DETAIL"],
                        &table,
                    );
                    println!(
                        "{} finding{}",
                        findings.len(),
                        if findings.len() == 1 { "" } else { "s" }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        // Handled by `run_action_command` above.
        SecretCommand::Put { .. }
        | SecretCommand::Delete { .. }
        | SecretCommand::Reveal { .. }
        | SecretCommand::Copy { .. } => anyhow::bail!("not a read command"),
    }
}

/// `2024-05-01T12:00:00Z`.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    crate::domain::text::rfc3339(at)
}

/// `2024-05-01 12:00` (UTC), for tables.
pub(crate) fn date(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| at.to_string())
}
