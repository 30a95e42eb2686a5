//! `sphere catalog list|show|validate`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::domain::Name;
use crate::domain::catalog::load::{FsReader, load};
use crate::domain::catalog::{Entity, Kind, Severity};
use crate::domain::text::sanitize;

use super::{CatalogCommand, Cli, Ctx, KindFilter, Output, build_platform};

/// One line of `sphere catalog list --output json`. Stable: fields are only added.
#[derive(Debug, Serialize)]
pub struct ListItem<'a> {
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub spec_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub tags: &'a [Name],
}

impl<'a> From<&'a Entity> for ListItem<'a> {
    fn from(e: &'a Entity) -> Self {
        ListItem {
            kind: e.kind.as_str(),
            namespace: &e.namespace,
            name: &e.name,
            title: e.title.as_deref(),
            description: e.description.as_deref(),
            spec_type: e.spec_type.as_deref(),
            lifecycle: e.lifecycle.as_deref(),
            owner: e.owner.as_ref().map(|r| r.to_string()),
            system: e.part_of.as_ref().map(|r| r.to_string()),
            tags: &e.tags,
        }
    }
}

/// `sphere catalog validate --output json`.
#[derive(Debug, Serialize)]
pub struct ValidateReport<'a> {
    pub entities: usize,
    pub by_kind: BTreeMap<String, usize>,
    pub errors: usize,
    pub warnings: usize,
    /// Entities left out as invalid (each has an error among `problems`).
    pub left_out: usize,
    pub problems: &'a [crate::domain::catalog::Problem],
}

pub async fn run(cli: &Cli, ctx: &Ctx, cmd: &CatalogCommand) -> Result<ExitCode> {
    match cmd {
        CatalogCommand::List { kind, output } => {
            let (platform, _sim) = build_platform(cli, ctx).await?;
            let catalog = platform.catalog.load().await?;
            let mut items: Vec<ListItem> = catalog
                .entities()
                .iter()
                .filter(|e| match kind {
                    KindFilter::All => true,
                    KindFilter::Only(k) => &e.kind == k,
                })
                .map(ListItem::from)
                .collect();
            items.sort_by(|a, b| (a.kind, a.namespace, a.name).cmp(&(b.kind, b.namespace, b.name)));
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&items)?),
                Output::Table => print_list(&items),
            }
            if let Some(note) = left_out_note(catalog.left_out()) {
                eprintln!("{note}");
            }
            Ok(ExitCode::SUCCESS)
        }
        CatalogCommand::Show { name, kind, output } => {
            let (platform, _sim) = build_platform(cli, ctx).await?;
            let catalog = platform.catalog.load().await?;
            let Some(e) = catalog
                .find(kind.as_ref().or(Some(&Kind::Component)), name)
                .or_else(|| catalog.find(kind.as_ref(), name))
            else {
                bail!(
                    "no entity named {name:?} in the catalog (try `sphere catalog list --kind all`)"
                );
            };
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(e)?),
                Output::Table => print_entity(e),
            }
            Ok(ExitCode::SUCCESS)
        }
        CatalogCommand::Validate {
            paths,
            strict,
            output,
        } => {
            let catalog = if paths.is_empty() {
                let (platform, _sim) = build_platform(cli, ctx).await?;
                platform.catalog.load().await?
            } else {
                let roots = paths.clone();
                std::sync::Arc::new(
                    tokio::task::spawn_blocking(move || load(&roots, &FsReader)).await?,
                )
            };
            let errors = catalog
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Error)
                .count();
            let warnings = catalog.problems.len() - errors;
            // Warnings about what sphere cannot follow (remote targets) say nothing
            // against the catalog: `--strict` does not fail on them.
            let catalog_warnings = catalog
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Warning && !p.is_sphere_limit())
                .count();
            let mut by_kind = BTreeMap::new();
            for e in catalog.entities() {
                *by_kind.entry(e.kind.to_string()).or_insert(0) += 1;
            }
            match output {
                Output::Json => {
                    let report = ValidateReport {
                        entities: catalog.len(),
                        by_kind,
                        errors,
                        warnings,
                        left_out: catalog.left_out(),
                        problems: &catalog.problems,
                    };
                    println!("{}", serde_json::to_string_pretty(&report)?);
                }
                Output::Table => {
                    for p in &catalog.problems {
                        println!("{}", sanitize(&p.to_string()));
                    }
                    // Kinds come from the descriptors: through the sanitiser like the rest.
                    let kinds: Vec<String> = by_kind
                        .iter()
                        .map(|(k, n)| format!("{n} {}", sanitize(k)))
                        .collect();
                    let kinds = if kinds.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", kinds.join(", "))
                    };
                    println!(
                        "{} entities loaded{kinds}; {errors} error{}, {warnings} warning{}",
                        catalog.len(),
                        if errors == 1 { "" } else { "s" },
                        if warnings == 1 { "" } else { "s" },
                    );
                }
            }
            let failed = errors > 0 || (*strict && catalog_warnings > 0);
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// The line `catalog list` writes on stderr when invalid entities were left out.
pub fn left_out_note(n: usize) -> Option<String> {
    (n > 0).then(|| {
        format!(
            "{n} invalid {} left out: run sphere catalog validate",
            if n == 1 { "entity" } else { "entities" }
        )
    })
}

fn print_list(items: &[ListItem]) {
    let short = |r: &Option<String>| {
        r.as_deref()
            .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
            .unwrap_or_default()
    };
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                i.name.to_string(),
                i.kind.to_string(),
                short(&i.owner),
                short(&i.system),
                i.spec_type.unwrap_or("").to_string(),
                i.lifecycle.unwrap_or("").to_string(),
            ]
        })
        .collect();
    super::print_table(
        &["NAME", "KIND", "OWNER", "SYSTEM", "TYPE", "LIFECYCLE"],
        &rows,
    );
}

fn print_entity(e: &Entity) {
    let s = |v: &str| sanitize(v).into_owned();
    println!("{}", s(&e.entity_ref().to_string()));
    if let Some(t) = &e.title {
        println!("  title        {}", s(t));
    }
    if let Some(d) = &e.description {
        println!("  description  {}", s(d));
    }
    for (label, v) in [
        ("type", e.spec_type.as_deref()),
        ("lifecycle", e.lifecycle.as_deref()),
    ] {
        if let Some(v) = v {
            println!("  {label:<12} {}", s(v));
        }
    }
    if let Some(o) = &e.owner {
        println!("  owner        {}", s(&o.to_string()));
    }
    if !e.tags.is_empty() {
        println!("  tags         {}", s(&e.tags.join(", ")));
    }
    for l in &e.links {
        println!(
            "  link         {} {}",
            s(l.title.as_deref().unwrap_or("")),
            s(&l.url)
        );
    }
    for (k, v) in &e.annotations {
        println!("  annotation   {}: {}", s(k), s(v));
    }
    for r in &e.relations {
        let mark = if r.resolved { "" } else { "  (missing)" };
        println!(
            "  {:<12} {}{mark}",
            r.kind.as_str(),
            s(&r.target.to_string())
        );
    }
    println!(
        "  source       {} (document {})",
        s(&e.source.file.display().to_string()),
        e.source.document + 1
    );
}
