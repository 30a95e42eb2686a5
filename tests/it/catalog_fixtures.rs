//! Loads Backstage's own example catalog (`shared/fixtures/backstage`, copied unchanged
//! from backstage/backstage and backstage/demo) and checks what sphere makes of it.
//!
//! Every number below was verified by reading the fixture files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sphere::domain::catalog::load::load_paths;
use sphere::domain::catalog::refs::parse_ref;
use sphere::domain::catalog::{Catalog, Entity, EntityRef, Kind, RelationKind, Severity};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/backstage")
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let root = fixtures();
        assert!(
            root.is_dir(),
            "fixtures not found at {} (shared/ must sit beside the repository)",
            root.display()
        );
        load_paths(&[root])
    })
}

fn r(s: &str) -> EntityRef {
    parse_ref(s, None, "default").unwrap()
}

fn entity(s: &str) -> &'static Entity {
    catalog()
        .get(&r(s))
        .unwrap_or_else(|| panic!("{s} not in the catalog"))
}

fn related(s: &str, kind: RelationKind) -> Vec<String> {
    entity(s).related(kind).map(|t| t.to_string()).collect()
}

/// (file relative to the fixtures, entity, reason) of each problem of one severity.
fn problems(severity: Severity) -> Vec<(String, Option<String>, String)> {
    let root = sphere::domain::catalog::load::normalize(&fixtures());
    catalog()
        .problems
        .iter()
        .filter(|p| p.severity == severity)
        .map(|p| {
            let file = p.file.strip_prefix(&root).unwrap_or(&p.file);
            (
                file.display().to_string(),
                p.entity.clone(),
                p.reason.clone(),
            )
        })
        .collect()
}

#[test]
fn entity_counts_per_kind() {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in catalog().entities() {
        *counts.entry(e.kind.to_string()).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = [
        // 25 Component documents, minus `invalid component`
        ("Component", 24),
        // includes backstage-mcp-server and local-inference-server, which have `remotes`
        // instead of a `definition` (newer Backstage API types); petstore-webhook is left
        // out: its `$text: ./petstore-webhook.oas.yaml` names a file the fixtures did not
        // copy, and an unresolvable placeholder fails the entity, as in Backstage
        ("API", 19),
        ("Resource", 1),
        ("System", 3),
        ("Domain", 3),
        ("Group", 9),
        // 3 + 5 + 5 + 2 in acme/team-{a,b,c,d}-group.yaml, guest twice (two namespaces)
        ("User", 17),
        // all*.yaml (8), acme-corp.yaml and the one inside acme/org.yaml
        ("Location", 10),
        ("Environment", 2),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(counts, expected);
    assert_eq!(catalog().len(), 88);
    assert_eq!(
        entity("environment:dev").kind,
        Kind::Other("Environment".into())
    );
}

#[test]
fn errors_are_the_invalid_component_and_the_files_the_fixtures_lack() {
    let errors = problems(Severity::Error);
    assert_eq!(errors.len(), 4, "{errors:#?}");

    // The placeholder's file sits beside the API in backstage/backstage, not here.
    let (file, ent, reason) = &errors[0];
    assert_eq!(file, "apis/petstore-webhook-api.yaml");
    assert_eq!(ent.as_deref(), Some("api:default/petstore-webhook"));
    assert!(
        reason.starts_with(
            "spec.definition: placeholder $text ./petstore-webhook.oas.yaml cannot be resolved: "
        ),
        "{reason}"
    );
    assert_eq!(catalog().left_out(), 2);

    let (file, ent, reason) = &errors[1];
    assert_eq!(file, "components/invalid-component.yaml");
    assert_eq!(ent.as_deref(), Some("component:default/invalid component"));
    assert!(reason.contains("not a valid name"), "{reason}");
    assert!(reason.contains("contains a space"), "{reason}");
    assert!(catalog().find(None, "invalid component").is_none());

    // all-ai-resources.yaml lists two files that are not among the fixtures.
    for (i, missing) in [
        "ai-resources/frontend-design-skill.yaml",
        "ai-resources/use-internal-apis-rule.yaml",
    ]
    .iter()
    .enumerate()
    {
        let (file, ent, reason) = &errors[i + 2];
        assert_eq!(file, missing);
        assert_eq!(
            ent.as_deref(),
            Some("location:default/example-ai-resources")
        );
        assert!(reason.starts_with("cannot read file: "), "{reason}");
        assert!(reason.contains("all-ai-resources.yaml"), "{reason}");
    }
}

#[test]
fn warnings_are_unknown_kinds_dangling_references_and_remote_placeholders() {
    let warnings = problems(Severity::Warning);
    let unknown: Vec<_> = warnings
        .iter()
        .filter(|w| w.2.starts_with("unknown kind"))
        .map(|w| (w.0.as_str(), w.1.as_deref()))
        .collect();
    assert_eq!(
        unknown,
        vec![
            ("environments/dev.yaml", Some("environment:default/dev")),
            ("environments/prod.yaml", Some("environment:default/prod")),
        ]
    );

    let mut dangling: Vec<_> = warnings
        .iter()
        .filter(|w| w.2.ends_with("does not exist"))
        .map(|w| (w.1.clone().unwrap_or_default(), w.2.clone()))
        .collect();
    dangling.sort();
    let inpixon = [
        "api:default/analytics",
        "api:default/awarecoreinsight",
        "api:default/awareproducerservice",
        "api:default/inpixonmappingsdk",
        "api:default/mapanalytics",
        "api:default/odpanalytics",
        "api:default/wokplaceanalytics",
        "component:default/analyticsapi",
        "component:default/aware",
        "component:default/jacs",
        "component:default/mapanalyticsapi",
        "component:default/odpanalyticsapi",
        "component:default/wokplaceanalytics",
    ];
    let mut expected: Vec<(String, String)> = inpixon
        .iter()
        .map(|e| {
            (
                e.to_string(),
                "owner group:default/inpixon does not exist".into(),
            )
        })
        .collect();
    for (e, reason) in [
        // demo-catalog-info.yaml: `owner: backstage/maintainers`
        (
            "component:default/demo",
            "owner group:backstage/maintainers does not exist",
        ),
        (
            "component:default/demo-service",
            "owner group:default/sre does not exist",
        ),
        (
            "component:default/dream11-svc",
            "owner group:default/sre does not exist",
        ),
        (
            "component:default/dream11-svc",
            "system system:default/sre does not exist",
        ),
        // `owner: guest` means group:guest; only user:guest exists
        (
            "component:default/playback-order",
            "owner group:default/guest does not exist",
        ),
        (
            "component:default/samdi-api",
            "system system:default/testing does not exist",
        ),
    ] {
        expected.push((e.to_string(), reason.to_string()));
    }
    expected.sort();
    assert_eq!(dangling, expected);
    // Eleven APIs' `$text` placeholders name remote URLs, which sphere does not fetch:
    // warnings about sphere's own limit, which `--strict` does not count.
    let remote: Vec<_> = catalog()
        .problems
        .iter()
        .filter(|p| p.is_sphere_limit())
        .map(|p| p.reason.as_str())
        .collect();
    assert_eq!(remote.len(), 11, "{remote:#?}");
    assert!(
        remote
            .iter()
            .all(|r| r.contains("spec.definition placeholder $text https://"))
    );
    assert_eq!(warnings.len(), 2 + 19 + 11, "{warnings:#?}");

    let demo = entity("component:demo");
    assert_eq!(demo.relations.len(), 1);
    assert!(!demo.relations[0].resolved);
    assert_eq!(demo.relations[0].target, r("group:backstage/maintainers"));
}

#[test]
fn user_guest_exists_so_owner_user_guest_resolves() {
    // acme/team-a-group.yaml defines user:default/guest (and user:development/guest), so
    // `owner: user:guest` is not dangling. Only the invalid component also used it.
    let searcher = entity("component:searcher");
    let owned_by: Vec<_> = searcher
        .relations
        .iter()
        .filter(|r| r.kind == RelationKind::OwnedBy)
        .collect();
    assert_eq!(owned_by.len(), 1);
    assert_eq!(owned_by[0].target, r("user:default/guest"));
    assert!(owned_by[0].resolved);
    assert_eq!(
        related("user:default/guest", RelationKind::OwnerOf),
        vec![
            "component:default/samdi-api",
            "component:default/searcher",
            "component:default/shuffle-api",
        ]
    );
    assert_eq!(entity("user:development/guest").namespace, "development");
}

#[test]
fn different_namespace_component() {
    let e = entity("component:alternative/different-namespace");
    assert_eq!(e.namespace, "alternative");
    assert_eq!(e.owner, Some(r("group:default/team-a")));
    assert!(catalog().get(&r("component:different-namespace")).is_none());
    assert!(
        related("group:team-a", RelationKind::OwnerOf)
            .contains(&"component:alternative/different-namespace".to_string())
    );
}

#[test]
fn each_file_is_parsed_once_and_there_are_no_duplicates() {
    // The directory walk reaches every file, and all.yaml, all-*.yaml, acme-corp.yaml and
    // acme/org.yaml reach most of them again through Locations. all-components.yaml and
    // the other all-*.yaml files hold only Location entities listing targets, and no two
    // documents in the fixtures define the same kind:namespace/name (user guest exists
    // in two namespaces, petstore and wayback-archive as two kinds): Backstage would
    // report no conflict, so any duplicate error here would come from parsing a file twice.
    assert!(
        !catalog()
            .problems
            .iter()
            .any(|p| p.reason.contains("duplicate")),
        "{:#?}",
        catalog().problems
    );
    let mut per_file: BTreeMap<String, usize> = BTreeMap::new();
    for e in catalog().entities() {
        let name = e.source.file.file_name().unwrap().to_string_lossy();
        *per_file.entry(name.into_owned()).or_default() += 1;
    }
    assert_eq!(per_file["team-a-group.yaml"], 6);
    assert_eq!(per_file["team-b-group.yaml"], 6);
    assert_eq!(per_file["org.yaml"], 2);
    assert_eq!(per_file["petstore-api.yaml"], 1);
    assert_eq!(per_file["all-components.yaml"], 1);
    let team_a_guest = entity("user:development/guest");
    assert_eq!(team_a_guest.source.document, 5);
}

#[test]
fn generated_inverse_relations() {
    use RelationKind as R;
    assert_eq!(
        related("group:team-a", R::OwnerOf),
        vec![
            "component:alternative/different-namespace",
            "component:default/artist-lookup",
            "component:default/wayback-archive",
            "component:default/wayback-archive-storage",
            "component:default/wayback-search",
            "component:default/www-artist",
            "api:default/backstage-mcp-server",
            "api:default/config-schema",
            "api:default/local-inference-server",
            "api:default/spotify",
            "api:default/wayback-archive",
            "api:default/wayback-search",
            "resource:default/artists-db",
            "system:default/artist-engagement-portal",
            "domain:default/artists",
        ]
    );
    assert_eq!(
        related("api:petstore", R::ApiProvidedBy),
        vec!["component:default/petstore"]
    );
    assert_eq!(
        related("api:wayback-archive", R::ApiProvidedBy),
        vec!["component:default/wayback-archive"]
    );
    assert_eq!(
        related("api:wayback-archive", R::ApiConsumedBy),
        vec!["component:default/wayback-search"]
    );
    // `consumesApis: ['component:artist-lookup']` names a Component; Backstage does not
    // check the kind, and neither do we.
    assert_eq!(
        related("component:artist-lookup", R::ApiConsumedBy),
        vec![
            "component:default/demo-service",
            "component:default/dream11-svc"
        ]
    );
    assert_eq!(
        related("system:artist-engagement-portal", R::HasPart),
        vec![
            "component:default/artist-lookup",
            "component:default/demo-service",
            "component:default/www-artist",
            "resource:default/artists-db",
        ]
    );
    assert_eq!(
        related("domain:playback", R::HasPart),
        vec!["system:default/audio-playback", "system:default/podcast"]
    );
    // Domain spec.subdomainOf
    assert_eq!(
        related("domain:audio", R::HasPart),
        vec!["domain:default/artists"]
    );
    // Component spec.subcomponentOf
    assert_eq!(
        related("component:wayback-archive", R::HasPart),
        vec![
            "component:default/wayback-archive-ingestion",
            "component:default/wayback-archive-storage",
        ]
    );
    assert_eq!(
        related("user:frank.tiernan", R::OwnerOf),
        vec!["domain:default/playback"]
    );
    // Group hierarchy: boxoffice lists team-c and team-d as children; team-e only names
    // boxoffice as its parent.
    assert_eq!(
        related("group:boxoffice", R::ParentOf),
        vec![
            "group:default/team-c",
            "group:default/team-d",
            "group:default/team-e"
        ]
    );
    assert_eq!(
        related("group:team-e", R::ChildOf),
        vec!["group:default/boxoffice"]
    );
    assert_eq!(
        related("group:acme-corp", R::ParentOf),
        vec!["group:default/infrastructure"]
    );
    assert_eq!(
        related("group:team-a", R::HasMember),
        vec![
            "user:default/breanna.davison",
            "user:default/guest",
            "user:default/janelle.dawe",
            "user:default/nigel.manning",
            "user:development/guest",
        ]
    );
    assert_eq!(
        related("user:development/guest", R::MemberOf),
        vec!["group:default/team-a"]
    );
}

#[test]
fn every_resolved_relation_has_its_inverse() {
    let c = catalog();
    let mut resolved = 0;
    for e in c.entities() {
        for rel in e.relations.iter().filter(|r| r.resolved) {
            let target = c.get(&rel.target).unwrap();
            assert!(
                target
                    .relations
                    .iter()
                    .any(|b| b.kind == rel.kind.inverse() && b.target == e.entity_ref()),
                "{} {} {}",
                e.entity_ref(),
                rel.kind,
                rel.target
            );
            resolved += 1;
        }
    }
    let unresolved: usize = c
        .entities()
        .iter()
        .map(|e| e.relations.iter().filter(|r| !r.resolved).count())
        .sum();
    assert_eq!(unresolved, 19, "one per dangling-reference warning");
    assert!(resolved > 150, "{resolved}");
}
