//! The demo platform's catalog, loaded through the real Backstage loader from the
//! descriptors embedded in the binary.

use std::collections::HashSet;

use sphere::backend::catalog::demo_catalog;
use sphere::domain::catalog::{Kind, RelationKind};

#[test]
fn demo_catalog_loads_clean_and_is_big_enough() {
    let c = demo_catalog();
    assert!(c.problems.is_empty(), "problems: {:#?}", c.problems);
    let count = |k: Kind| c.of_kind(&k).count();
    assert!(count(Kind::Component) >= 40);
    assert_eq!(count(Kind::System), 4);
    assert_eq!(count(Kind::Domain), 2);
    assert!(count(Kind::Api) >= 10);
    assert!(count(Kind::Resource) >= 10);
    assert!(count(Kind::User) >= 6);
    let teams: HashSet<_> = c
        .of_kind(&Kind::Component)
        .filter_map(|e| e.owner.as_ref().map(|o| o.name.clone()))
        .collect();
    assert!(
        teams.len() >= 6,
        "components across at least 6 teams: {teams:?}"
    );
}

#[test]
fn demo_catalog_has_relations_both_ways() {
    let c = demo_catalog();
    let with = |k: RelationKind| {
        c.entities()
            .iter()
            .filter(|e| e.related(k).next().is_some())
            .count()
    };
    for (rel, inverse) in [
        (RelationKind::DependsOn, RelationKind::DependencyOf),
        (RelationKind::ProvidesApi, RelationKind::ApiProvidedBy),
        (RelationKind::ConsumesApi, RelationKind::ApiConsumedBy),
        (RelationKind::OwnedBy, RelationKind::OwnerOf),
        (RelationKind::PartOf, RelationKind::HasPart),
        (RelationKind::MemberOf, RelationKind::HasMember),
    ] {
        assert!(with(rel) > 0, "some entity has {rel}");
        assert!(with(inverse) > 0, "some entity has {inverse}");
    }
    // A dependsOn chain: something depends on something that itself depends on more.
    let chain = c.of_kind(&Kind::Component).any(|e| {
        e.related(RelationKind::DependsOn).any(|t| {
            c.get(t)
                .is_some_and(|d| d.related(RelationKind::DependsOn).next().is_some())
        })
    });
    assert!(chain, "a dependsOn chain exists");
}

/// `sphere catalog validate` without a path checks the catalog sphere opens: here the
/// demo's, the same entities `catalog list` shows.
#[test]
fn validate_without_a_path_checks_the_catalog_sphere_opens() {
    let dir = crate::common::tmp();
    let out = crate::common::sphere(&dir, &["catalog", "validate", "--output", "json"]);
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["entities"], demo_catalog().len());
    assert_eq!(report["errors"], 0);
}
