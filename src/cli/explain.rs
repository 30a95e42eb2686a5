//! `sphere explain SERVICE [--output table|json]` (C16): everything the platform knows
//! about a service — the catalog entry and its relations, the owner and its members,
//! links, where it runs and at which version, resources, secrets (names only, never
//! values), locks, the lifecycle with the next step, the readiness score — and the
//! commands to dig deeper (pods, problems, describe, events, logs) and who may read the
//! logs in production (the `read-logs` permission).
//!
//! JSON output (stable: fields are only added):
//!
//! ```json
//! { "service": "payments-api", "ref": "component:default/payments-api",
//!   "title": null, "description": "...", "type": "service", "lifecycle": "production",
//!   "system": "system:default/money-movement", "tags": ["java"],
//!   "owner": { "ref": "group:default/payments", "members": ["user:default/ada"] },
//!   "relations": { "depends_on": ["resource:default/payments-db"],
//!                  "used_by": [{ "ref": "component:default/checkout-service", "via": "dependsOn" }],
//!                  "provides_apis": ["api:default/payments-rest"],
//!                  "consumes_apis": ["api:default/fraud-grpc"] },
//!   "links": [{ "name": "Runbook", "url": "https://...", "source": "catalog" }],
//!   "link_problems": [],
//!   "deployments": [{ "env": "production", "region": "eu-west-1", "version": "2.3.1",
//!                     "desired": 3, "ready": 3, "rollout": "complete" }],
//!   "cluster_errors": [],
//!   "unread": [{ "source": "secrets in production/eu-west-1", "reason": "..." }],
//!   "resources": [{ "ref": "resource:default/payments-db", "type": "database", "description": "..." }],
//!   "missing_resources": [],
//!   "secrets": [{ "name": "production/payments-api/DATABASE_URL", "key": "DATABASE_URL",
//!                 "env": "production", "region": "eu-west-1", "version_id": "...",
//!                 "last_changed": 1700000000 }],
//!   "locks": [{ "service": "payments-api", "env": "production", "region": "eu-west-1",
//!               "reason": "...", "by": "...", "at": 1700000000 }],
//!   "lifecycle_stages": { "stages": [{ "id": "design_review", "title": "design review", "done": true,
//!                                      "evidence": "...", "source": "catalog" }],
//!                         "next_step": null },
//!   "score": { "scorecard": { "identifier": "...", "title": "..." }, "level": "Silver",
//!              "score": 87, "passed": 7, "total": 8, "rules": [ ... as in `sphere score` ] },
//!   "dig_deeper": ["sphere pods payments-api --env production", "sphere logs ...", "..."],
//!   "read_logs": { "permission": "read-logs",
//!                  "allowed": ["members of group:default/payments", "platform admins ([policy] admins)"],
//!                  "request": "sphere access request payments-api --permission read-logs --env production --reason TEXT" } }
//! ```
//!
//! Secrets carry no `value` field: values never leave the secrets provider here.
//! Exit codes: 0 explained, 1 unknown service, 2 bad usage.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::backend::facts::{ServiceFacts, gather};
use crate::domain::access::Permission;
use crate::domain::catalog::{Catalog, EntityRef, RelationKind};
use crate::domain::lifecycle::{Stage, Unread, next_step, stages};
use crate::domain::links::{LinkVars, ServiceLink, osc8, service_links};
use crate::domain::score::ScoreResult;
use crate::domain::text::sanitize;
use crate::domain::{Lock, Name, RolloutState, Timestamp};

use super::print_table;
use super::score::{CardRef, load_scorecard, score_facts};
use super::{Cli, Ctx, Output, build_platform};

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The service (a Component of the catalog).
    pub service: String,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Serialize)]
struct Explained<'a> {
    service: &'a str,
    #[serde(rename = "ref")]
    entity_ref: String,
    title: Option<&'a str>,
    description: Option<&'a str>,
    #[serde(rename = "type")]
    spec_type: Option<&'a str>,
    lifecycle: Option<&'a str>,
    system: Option<String>,
    tags: &'a [Name],
    owner: Option<Owner>,
    relations: Relations,
    links: Vec<ServiceLink>,
    link_problems: Vec<String>,
    deployments: Vec<Deployment<'a>>,
    cluster_errors: Vec<String>,
    /// Sources that could not be read (their facts are unknown, not absent).
    unread: &'a [Unread],
    resources: Vec<Resource<'a>>,
    missing_resources: &'a [String],
    secrets: Vec<Secret<'a>>,
    locks: &'a [Lock],
    lifecycle_stages: LifecycleOut,
    score: ScoreOut<'a>,
    dig_deeper: Vec<String>,
    /// Reading logs and events in production: who may, and the `read-logs` request.
    read_logs: ReadLogs,
}

#[derive(Debug, Serialize)]
struct Owner {
    #[serde(rename = "ref")]
    entity_ref: String,
    members: Vec<String>,
}

#[derive(Debug, Serialize)]
struct UsedBy {
    #[serde(rename = "ref")]
    entity_ref: String,
    /// `dependsOn`, or `api:<name>` when it consumes one of this service's APIs.
    via: String,
}

#[derive(Debug, Serialize)]
struct Relations {
    depends_on: Vec<String>,
    used_by: Vec<UsedBy>,
    provides_apis: Vec<String>,
    consumes_apis: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Deployment<'a> {
    env: &'a str,
    region: &'a str,
    version: &'a str,
    desired: u32,
    ready: u32,
    rollout: RolloutState,
}

#[derive(Debug, Serialize)]
struct Resource<'a> {
    #[serde(rename = "ref")]
    entity_ref: String,
    #[serde(rename = "type")]
    spec_type: Option<&'a str>,
    description: Option<&'a str>,
}

/// A secret's name and metadata. Deliberately no value (nor value hash).
#[derive(Debug, Serialize)]
struct Secret<'a> {
    name: &'a str,
    key: &'a str,
    env: &'a str,
    region: &'a str,
    version_id: &'a str,
    last_changed: Timestamp,
}

#[derive(Debug, Serialize)]
struct LifecycleOut {
    stages: Vec<Stage>,
    next_step: Option<String>,
}

#[derive(Debug, Serialize)]
struct ScoreOut<'a> {
    scorecard: CardRef<'a>,
    #[serde(flatten)]
    result: &'a ScoreResult,
}

fn relations(facts: &ServiceFacts, catalog: &Catalog) -> Relations {
    let e = &facts.entity;
    let refs =
        |k: RelationKind| -> Vec<String> { e.related(k).map(EntityRef::to_string).collect() };
    let mut used_by: Vec<UsedBy> = e
        .related(RelationKind::DependencyOf)
        .map(|r| UsedBy {
            entity_ref: r.to_string(),
            via: "dependsOn".to_string(),
        })
        .collect();
    for api in e.related(RelationKind::ProvidesApi) {
        if let Some(a) = catalog.get(api) {
            for consumer in a.related(RelationKind::ApiConsumedBy) {
                used_by.push(UsedBy {
                    entity_ref: consumer.to_string(),
                    via: format!("api:{}", a.name),
                });
            }
        }
    }
    Relations {
        depends_on: refs(RelationKind::DependsOn),
        used_by,
        provides_apis: refs(RelationKind::ProvidesApi),
        consumes_apis: refs(RelationKind::ConsumesApi),
    }
}

fn dig_deeper(service: &str) -> Vec<String> {
    vec![
        format!("sphere pods {service} --env production"),
        format!("sphere problems --env production"),
        format!("sphere describe pod POD --env production (a pod from `sphere pods`)"),
        format!("sphere events {service} --env production"),
        format!("sphere logs {service} --env production --tail 100"),
        format!("sphere logs POD --env production --previous"),
        format!("sphere secret drift {service}"),
        format!("sphere score {service}"),
        format!("sphere catalog show {service}"),
    ]
}

/// Who may read the service's logs and events in production (C18, seed 004), and how
/// anyone else asks: the `read-logs` permission.
#[derive(Debug, Serialize)]
struct ReadLogs {
    permission: &'static str,
    /// Who may read in production without asking: the owner's members and admins.
    allowed: Vec<String>,
    /// How anyone else asks (granted by an owner or `[policy] access_rules`).
    request: String,
}

fn read_logs(service: &str, owner: Option<&str>) -> ReadLogs {
    let mut allowed: Vec<String> = owner
        .map(|o| format!("members of {o}"))
        .into_iter()
        .collect();
    allowed.push("platform admins ([policy] admins)".to_string());
    ReadLogs {
        permission: Permission::ReadLogs.as_str(),
        allowed,
        request: format!(
            "sphere access request {service} --permission {} --env production --reason TEXT",
            Permission::ReadLogs.as_str()
        ),
    }
}

pub async fn run(cli: &Cli, ctx: &Ctx, args: &ExplainArgs) -> Result<ExitCode> {
    let card = load_scorecard(None)?;
    let (platform, _sim) = build_platform(cli, ctx).await?;
    let catalog = platform.catalog.load().await?;
    let facts = gather(&platform, &catalog, &args.service).await?;
    let e = &facts.entity;

    let names = facts.resource_names();
    let ev = facts.evidence(&names);
    let stage_list = stages(&ev);
    let next = next_step(&stage_list);
    let (_, result) = score_facts(&card, &facts);

    let prod_regions = ev.regions_in("production");
    let vars = LinkVars::for_entity(
        e,
        Some("production"),
        prod_regions
            .first()
            .or(facts.topology.regions_of("production").first())
            .map(String::as_str),
    );
    let (links, link_errors) = service_links(&ctx.config.links, e, &vars);

    let owner = e.owner.as_ref().map(|o| Owner {
        entity_ref: o.to_string(),
        members: catalog
            .get(o)
            .map(|g| {
                g.related(RelationKind::HasMember)
                    .map(EntityRef::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    });

    let out = Explained {
        service: &e.name,
        entity_ref: e.entity_ref().to_string(),
        title: e.title.as_deref(),
        description: e.description.as_deref(),
        spec_type: e.spec_type.as_deref(),
        lifecycle: e.lifecycle.as_deref(),
        system: e.part_of.as_ref().map(EntityRef::to_string),
        tags: &e.tags,
        owner,
        relations: relations(&facts, &catalog),
        links,
        link_problems: link_errors.iter().map(ToString::to_string).collect(),
        deployments: facts
            .deployments
            .iter()
            .map(|d| Deployment {
                env: &d.cluster.env,
                region: &d.cluster.region,
                version: &d.version,
                desired: d.desired,
                ready: d.ready,
                rollout: d.rollout,
            })
            .collect(),
        unread: &facts.unread,
        cluster_errors: facts
            .cluster_errors
            .iter()
            .map(|(c, err)| format!("{c}: {err}"))
            .collect(),
        resources: facts
            .resources
            .iter()
            .map(|r| Resource {
                entity_ref: r.entity_ref().to_string(),
                spec_type: r.spec_type.as_deref(),
                description: r.description.as_deref(),
            })
            .collect(),
        missing_resources: &facts.missing_resources,
        secrets: facts
            .secrets
            .iter()
            .map(|x| Secret {
                name: &x.name,
                key: &x.key,
                env: &x.env,
                region: &x.region,
                version_id: &x.version_id,
                last_changed: x.last_changed,
            })
            .collect(),
        locks: &facts.locks,
        lifecycle_stages: LifecycleOut {
            stages: stage_list,
            next_step: next,
        },
        score: ScoreOut {
            scorecard: CardRef::from(&card),
            result: &result,
        },
        dig_deeper: dig_deeper(&e.name),
        read_logs: read_logs(&e.name, e.owner.as_ref().map(|o| o.to_string()).as_deref()),
    };
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&out)?),
        Output::Table => print_explained(&out, &facts, std::io::stdout().is_terminal()),
    }
    Ok(ExitCode::SUCCESS)
}

fn s(v: &str) -> String {
    sanitize(v).into_owned()
}

fn section(title: &str) {
    println!();
    println!("{title}");
}

fn print_explained(x: &Explained, facts: &ServiceFacts, hyperlinks: bool) {
    let head = match x.description {
        Some(d) => format!("{} — {}", s(x.service), s(d)),
        None => s(x.service),
    };
    println!("{head}");
    let mut meta = vec![s(&x.entity_ref)];
    for (k, v) in [("type", x.spec_type), ("lifecycle", x.lifecycle)] {
        if let Some(v) = v {
            meta.push(format!("{k} {}", s(v)));
        }
    }
    if let Some(sys) = &x.system {
        meta.push(format!("system {}", s(sys)));
    }
    if !x.tags.is_empty() {
        meta.push(format!("tags {}", s(&x.tags.join(", "))));
    }
    println!("  {}", meta.join(" · "));

    section("OWNER");
    match &x.owner {
        Some(o) if o.members.is_empty() => println!("  {}", s(&o.entity_ref)),
        Some(o) => println!(
            "  {} — members: {}",
            s(&o.entity_ref),
            s(&o.members.join(", "))
        ),
        None => println!("  (no owner)"),
    }

    section("RELATIONS");
    let list = |v: &[String]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            s(&v.join(", "))
        }
    };
    println!("  depends on     {}", list(&x.relations.depends_on));
    let used: Vec<String> = x
        .relations
        .used_by
        .iter()
        .map(|u| format!("{} ({})", u.entity_ref, u.via))
        .collect();
    println!("  used by        {}", list(&used));
    println!("  provides APIs  {}", list(&x.relations.provides_apis));
    println!("  consumes APIs  {}", list(&x.relations.consumes_apis));

    section("LINKS");
    if x.links.is_empty() {
        println!("  (none)");
    }
    let width = x
        .links
        .iter()
        .map(|l| l.name.chars().count())
        .max()
        .unwrap_or(0);
    for l in &x.links {
        let url = if hyperlinks {
            osc8(&l.url, &l.url)
        } else {
            s(&l.url)
        };
        println!("  {:<width$}  {url}", s(&l.name));
    }
    for p in &x.link_problems {
        println!("  (link problem: {})", s(p));
    }

    section("RUNS IN");
    if x.deployments.is_empty() {
        println!("  (not deployed anywhere)");
    } else {
        let rows: Vec<Vec<String>> = x
            .deployments
            .iter()
            .map(|d| {
                vec![
                    format!("  {}", s(d.env)),
                    s(d.region),
                    s(d.version),
                    format!("{}/{}", d.ready, d.desired),
                    match d.rollout {
                        RolloutState::Complete => "complete",
                        RolloutState::Progressing => "progressing",
                        RolloutState::Stalled => "stalled",
                    }
                    .to_string(),
                ]
            })
            .collect();
        print_table(&["  ENV", "REGION", "VERSION", "READY", "ROLLOUT"], &rows);
    }
    for e in &x.cluster_errors {
        println!("  (unreachable: {})", s(e));
    }

    section("RESOURCES");
    if x.resources.is_empty() && x.missing_resources.is_empty() {
        println!("  (none)");
    }
    for r in &x.resources {
        println!(
            "  {} ({}) {}",
            s(&r.entity_ref),
            s(r.spec_type.unwrap_or("?")),
            s(r.description.unwrap_or(""))
        );
    }
    for m in x.missing_resources {
        println!("  {} (missing from the catalog)", s(m));
    }

    section("SECRETS (names only)");
    let not_read = |source: &str| {
        for u in x.unread.iter().filter(|u| u.source.starts_with(source)) {
            println!("  (not read: {}: {})", s(&u.source), s(&u.reason));
        }
    };
    not_read("secrets");
    if facts.secrets.is_empty() && x.unread.iter().all(|u| !u.source.starts_with("secrets")) {
        println!("  (none)");
    }
    // KEY  env: region, region; env: region
    let mut by_key: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, Vec<&str>>> =
        std::collections::BTreeMap::new();
    for sec in &facts.secrets {
        by_key
            .entry(sec.key.as_str())
            .or_default()
            .entry(sec.env.as_str())
            .or_default()
            .push(sec.region.as_str());
    }
    let kw = by_key.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    for (key, envs) in &by_key {
        let places: Vec<String> = envs
            .iter()
            .map(|(env, regions)| format!("{env}: {}", regions.join(", ")))
            .collect();
        println!("  {:<kw$}  {}", s(key), s(&places.join("; ")));
    }

    section("LOCKS");
    not_read("locks");
    if x.locks.is_empty() && x.unread.iter().all(|u| u.source != "locks") {
        println!("  (none)");
    }
    for l in x.locks {
        let scope = format!(
            "{}/{}",
            l.env.as_deref().unwrap_or("*"),
            l.region.as_deref().unwrap_or("*")
        );
        println!(
            "  {} {} by {}: {}",
            s(&l.service),
            s(&scope),
            s(&l.by),
            s(&l.reason)
        );
    }

    section("LIFECYCLE");
    let tw = x
        .lifecycle_stages
        .stages
        .iter()
        .map(|st| st.title.chars().count())
        .max()
        .unwrap_or(0);
    for st in &x.lifecycle_stages.stages {
        println!(
            "  {} {:<tw$}  {} [{}]",
            if st.done { "✓" } else { "✗" },
            st.title,
            s(&st.evidence),
            s(&st.source)
        );
    }
    match &x.lifecycle_stages.next_step {
        Some(n) => println!("  next step: {}", s(n)),
        None => println!("  every stage done"),
    }

    section("SCORE");
    let r = x.score.result;
    println!(
        "  level {}, {}% ({} of {} rules) on {}",
        r.level
            .as_deref()
            .map(s)
            .unwrap_or_else(|| "none".to_string()),
        r.score,
        r.passed,
        r.total,
        s(x.score.scorecard.title)
    );
    for rule in r.rules.iter().filter(|rule| !rule.passed) {
        println!(
            "  ✗ {} ({}): {}",
            s(&rule.title),
            s(&rule.level),
            s(&rule.why)
        );
    }

    section("DIG DEEPER");
    for c in &x.dig_deeper {
        println!("  {}", s(c));
    }
    let r = &x.read_logs;
    println!(
        "  logs and events in production: {} may read them; anyone else asks for {}:",
        s(&r.allowed.join(" and ")),
        r.permission
    );
    println!("    {}", s(&r.request));
}
