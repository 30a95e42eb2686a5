//! Port-style blueprint/entity JSON through the real loader and the built binary.
//!
//! The fixtures under `tests/fixtures/port/` are the entities and blueprints quoted in
//! `/work/shared/seeds/002_789ef244eed21609.txt`, copied as quoted with one fix: the
//! quoted Resource Blueprint uses typographic quotes (“ ”) and is not valid JSON, so in
//! `blueprints.json` those are plain `"` quotes (see `tests/fixtures/port/README.md`).

use std::path::{Path, PathBuf};
use std::process::Command;

use sphere::domain::catalog::load::load_paths;
use sphere::domain::catalog::{Catalog, Kind, RelationKind};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/port")
}

fn targets(c: &Catalog, kind: Kind, name: &str, rel: RelationKind) -> Vec<String> {
    let e = c
        .find(Some(&kind), name)
        .unwrap_or_else(|| panic!("{kind} {name} not loaded"));
    assert_eq!(e.kind, kind, "{name}");
    let mut v: Vec<String> = e
        .relations
        .iter()
        .filter(|r| r.kind == rel)
        .map(|r| {
            assert!(r.resolved, "{name} {rel} {} unresolved", r.target);
            r.target.to_string()
        })
        .collect();
    v.sort();
    v
}

fn check(c: &Catalog) {
    assert!(c.problems.is_empty(), "{:#?}", c.problems);
    assert_eq!(c.len(), 9);
    let kind = |n: &str| c.find(None, n).map(|e| e.kind.clone());
    assert_eq!(kind("Orders"), Some(Kind::Domain));
    assert_eq!(kind("Cart"), Some(Kind::System));
    assert_eq!(kind("Products"), Some(Kind::System));
    assert_eq!(kind("cart-sql-sb"), Some(Kind::Resource));
    assert_eq!(kind("CartAPI"), Some(Kind::Api));
    for n in [
        "CoreKafkaLibrary",
        "CorePaymentLibrary",
        "CartService",
        "ProductsService",
    ] {
        assert_eq!(kind(n), Some(Kind::Component), "{n}");
    }

    // Cart System is part of the Orders domain (and Orders has it as a part).
    assert_eq!(
        targets(c, Kind::System, "Cart", RelationKind::PartOf),
        vec!["domain:default/Orders"]
    );
    assert!(
        targets(c, Kind::Domain, "Orders", RelationKind::HasPart)
            .contains(&"system:default/Cart".to_string())
    );
    // CartService depends on cart-sql-sb (and its libraries) and consumes nothing.
    let deps = targets(c, Kind::Component, "CartService", RelationKind::DependsOn);
    assert!(
        deps.contains(&"resource:default/cart-sql-sb".to_string()),
        "{deps:?}"
    );
    assert_eq!(
        deps,
        vec![
            "component:default/CoreKafkaLibrary",
            "component:default/CorePaymentLibrary",
            "resource:default/cart-sql-sb",
        ]
    );
    assert!(targets(c, Kind::Component, "CartService", RelationKind::ConsumesApi).is_empty());
    assert_eq!(
        targets(c, Kind::Component, "CartService", RelationKind::PartOf),
        vec!["system:default/Cart"]
    );
    // ProductsService consumes CartAPI; CartService provides it.
    assert_eq!(
        targets(
            c,
            Kind::Component,
            "ProductsService",
            RelationKind::ConsumesApi
        ),
        vec!["api:default/CartAPI"]
    );
    assert_eq!(
        targets(c, Kind::Component, "CartService", RelationKind::ProvidesApi),
        vec!["api:default/CartAPI"]
    );
    assert_eq!(
        targets(c, Kind::Api, "CartAPI", RelationKind::ApiProvidedBy),
        vec!["component:default/CartService"]
    );
    // properties.type is the spec type.
    let t = |k: Kind, n: &str| c.find(Some(&k), n).and_then(|e| e.spec_type.clone());
    assert_eq!(
        t(Kind::Component, "CartService").as_deref(),
        Some("service")
    );
    assert_eq!(
        t(Kind::Component, "CoreKafkaLibrary").as_deref(),
        Some("library")
    );
    assert_eq!(t(Kind::Api, "CartAPI").as_deref(), Some("Open API"));
    assert_eq!(
        t(Kind::Resource, "cart-sql-sb").as_deref(),
        Some("postgress")
    );
    assert_eq!(
        c.find(Some(&Kind::Resource), "cart-sql-sb")
            .and_then(|e| e.title.as_deref()),
        Some("Cart SQL database")
    );
}

#[test]
fn seed_entities_with_blueprints_map_onto_the_catalog() {
    check(&load_paths(&[fixtures()]));
}

#[test]
fn seed_entities_without_blueprints_map_the_same() {
    check(&load_paths(&[fixtures().join("entities")]));
}

#[test]
fn invalid_identifier_and_non_port_json_are_errors_the_rest_loads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("bad-name.json"),
        r#"{"identifier": "Cart Service", "blueprint": "Component"}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("package.json"),
        r#"{"name": "x", "version": "1"}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("ok.json"),
        r#"{"identifier": "ok-svc", "blueprint": "Component", "properties": {"type": "service"}}"#,
    )
    .unwrap();
    let c = load_paths(&[root.to_path_buf()]);
    assert_eq!(c.len(), 1);
    assert!(c.find(Some(&Kind::Component), "ok-svc").is_some());
    assert_eq!(c.problems.len(), 2, "{:#?}", c.problems);
    assert!(c.has_errors());
    let bad = c
        .problems
        .iter()
        .find(|p| p.file.ends_with("bad-name.json"))
        .unwrap();
    assert!(
        bad.reason.contains("\"Cart Service\" is not a valid name"),
        "{}",
        bad.reason
    );
    let pkg = c
        .problems
        .iter()
        .find(|p| p.file.ends_with("package.json"))
        .unwrap();
    assert!(pkg.reason.contains("not a Port"), "{}", pkg.reason);

    let out = Command::new(env!("CARGO_BIN_EXE_sphere"))
        .args(["catalog", "validate"])
        .arg(root)
        .env("SPHERE_DATA_DIR", root.join("data"))
        .env("SPHERE_CONFIG_DIR", root.join("config"))
        .env("SPHERE_STATE_DIR", root.join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("package.json"), "{text}");
}

#[test]
fn sphere_catalog_validate_accepts_the_port_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = Command::new(env!("CARGO_BIN_EXE_sphere"))
        .args(["catalog", "validate", "--strict", "--output", "json"])
        .arg(fixtures())
        .env("SPHERE_DATA_DIR", d.join("data"))
        .env("SPHERE_CONFIG_DIR", d.join("config"))
        .env("SPHERE_STATE_DIR", d.join("state"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["entities"], 9);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["warnings"], 0);
    assert_eq!(v["by_kind"]["Component"], 4);
    assert_eq!(v["by_kind"]["System"], 2);
    assert_eq!(v["by_kind"]["Domain"], 1);
    assert_eq!(v["by_kind"]["Resource"], 1);
    assert_eq!(v["by_kind"]["API"], 1);
}
