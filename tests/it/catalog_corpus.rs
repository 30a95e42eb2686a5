//! Real descriptor files from public repositories (`tests/fixtures/catalog-corpus`, see
//! its SOURCES.md), loaded as one catalog: the counts per kind and every problem, each
//! checked by hand against what Backstage does with the same file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sphere::domain::catalog::load::{load_paths, normalize};
use sphere::domain::catalog::{Catalog, Severity};

fn root() -> PathBuf {
    normalize(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/catalog-corpus"))
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| load_paths(&[root()]))
}

/// (file relative to the corpus, entity, reason) of each problem of one severity.
fn problems(severity: Severity) -> Vec<(String, String, String)> {
    let root = root();
    catalog()
        .problems
        .iter()
        .filter(|p| p.severity == severity)
        .map(|p| {
            let file = p.file.strip_prefix(&root).unwrap_or(&p.file);
            (
                file.display().to_string(),
                p.entity.clone().unwrap_or_default(),
                p.reason.clone(),
            )
        })
        .collect()
}

const SAMPLES: &str = "backstage__backstage/plugins/scaffolder-backend/sample-templates";

#[test]
fn counts_per_kind() {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in catalog().entities() {
        *counts.entry(e.kind.to_string()).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = [
        // helm-ssm, backstage-existing, the catalog-backend and kubernetes-backend
        // plugins, backstage-cli, the six of example-components.yaml, dice-roller (once),
        // community-plugins, tech-insights and its three plugins
        ("Component", 17),
        // the v1beta3 ones: notifications, conditional-output, conditional-parameters
        ("Template", 3),
        // example-location, all-templates, local-templates, remote-templates
        ("Location", 4),
        // an unknown kind: loaded with a warning (Backstage would need a processor)
        ("LocationRef", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(counts, expected);
    assert_eq!(catalog().len(), 25);
    // sensei, the two catalog.backstage.io/v1 components, the two fixtures without an
    // apiVersion, the second dice-roller, five old Templates
    assert_eq!(catalog().left_out(), 11);
}

#[test]
fn every_error_is_a_rejection_backstage_makes_too() {
    let errors = problems(Severity::Error);
    let got: Vec<(&str, &str, &str)> = errors
        .iter()
        .map(|(f, e, r)| (f.as_str(), e.as_str(), r.as_str()))
        .collect();
    let cb = "backstage__backstage/plugins/catalog-backend";
    let expected: Vec<(String, &str, &str)> = vec![
        // NoForeignRootFieldsEntityPolicy: `links` belongs under metadata
        (
            "Zenika__sensei/.backstage/catalog-info.yaml".into(),
            "component:default/sensei",
            "unknown top-level field links (Backstage allows only apiVersion, kind, metadata, spec, relations, status)",
        ),
        // no processor recognises a Component of this apiVersion
        (
            format!("{cb}/fixtures/two_components.yaml"),
            "component:default/component1",
            "apiVersion \"catalog.backstage.io/v1\" is not one Backstage accepts for kind Component (backstage.io/v1alpha1, backstage.io/v1beta1)",
        ),
        (
            format!("{cb}/fixtures/two_components.yaml"),
            "component:default/component2",
            "apiVersion \"catalog.backstage.io/v1\" is not one Backstage accepts for kind Component (backstage.io/v1alpha1, backstage.io/v1beta1)",
        ),
        // the envelope requires apiVersion
        (
            format!("{cb}/src/processors/__fixtures__/fileReaderProcessor/component.yaml"),
            "component:default/component-test",
            "document 1 (line 1): missing required field apiVersion",
        ),
        (
            format!("{cb}/src/processors/__fixtures__/fileReaderProcessor/dir/api.yaml"),
            "api:default/api-test",
            "document 1 (line 1): missing required field apiVersion",
        ),
        // FieldFormatEntityPolicy: tags are DNS labels
        (
            format!("{SAMPLES}/docs-template/template.yaml"),
            "template:default/docs-template",
            "metadata.tags[0] \"Experimental\" is not a valid tag",
        ),
        // scaffolder v1beta2 Templates are no longer read
        (
            format!("{SAMPLES}/pull-request/template.yaml"),
            "template:default/pull-request",
            "apiVersion \"backstage.io/v1beta2\" is not one Backstage accepts for kind Template (scaffolder.backstage.io/v1beta3)",
        ),
        (
            format!("{SAMPLES}/react-ssr-template/template.yaml"),
            "template:default/react-ssr-template",
            "metadata.tags[0] \"Recommended\" is not a valid tag",
        ),
        (
            format!("{SAMPLES}/springboot-grpc-template/template.yaml"),
            "template:default/springboot-template",
            "metadata.tags[0] \"Recommended\" is not a valid tag",
        ),
        (
            format!("{SAMPLES}/v1beta2-demo/template.yaml"),
            "template:default/v1beta2-demo",
            "apiVersion \"backstage.io/v1beta2\" is not one Backstage accepts for kind Template (scaffolder.backstage.io/v1beta3)",
        ),
        // a target of all-templates.yaml this corpus did not copy
        (
            format!("{SAMPLES}/bui-kitchen-sink-demo/template.yaml"),
            "location:default/example-templates",
            "cannot read file: ",
        ),
        // the same entity in two files: the first is kept
        (
            "backstage__backstage/plugins/kubernetes-backend/examples/dice-roller/component.yaml"
                .into(),
            "component:default/dice-roller",
            "duplicate entity (document 1): already defined in ",
        ),
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for ((file, entity, reason), (want_file, want_entity, want_reason)) in got.iter().zip(&expected)
    {
        assert_eq!(file, want_file);
        assert_eq!(entity, want_entity, "{file}");
        assert!(reason.starts_with(want_reason), "{file}: {reason}");
    }
}

#[test]
fn warnings_are_manifests_limits_an_unknown_kind_and_dangling_references() {
    let warnings = problems(Severity::Warning);
    let of = |pred: &dyn Fn(&(String, String, String)) -> bool| {
        warnings.iter().filter(|w| pred(w)).collect::<Vec<_>>()
    };

    // The Kubernetes manifests beside the dice-roller descriptors: six documents, none
    // loaded, none counted.
    let manifests = of(&|w| w.2.contains("not a catalog entity"));
    assert_eq!(manifests.len(), 6, "{manifests:#?}");
    assert!(
        manifests
            .iter()
            .all(|w| w.0.ends_with("dice-roller/dice-roller-manifests.yaml"))
    );
    assert!(manifests[0].2.starts_with(
        "document 1 (line 1): not a catalog entity (apiVersion \"apps/v1\", kind \"Deployment\""
    ));
    assert!(
        manifests[5]
            .2
            .contains("\"rbac.authorization.k8s.io/v1\", kind \"ClusterRoleBinding\"")
    );

    // What sphere cannot follow offline: the six remote templates and a github Location.
    let limits: Vec<_> = catalog()
        .problems
        .iter()
        .filter(|p| p.is_sphere_limit())
        .map(|p| p.reason.as_str())
        .collect();
    assert_eq!(limits.len(), 7, "{limits:#?}");
    assert!(
        limits[0].contains("location type \"github\" is not followed"),
        "{}",
        limits[0]
    );
    assert!(limits[1..].iter().all(|r| r.contains(
        "remote targets are not fetched: url target https://github.com/backstage/software-templates/blob/main/scaffolder-templates/"
    )));

    let unknown = of(&|w| w.2.starts_with("unknown kind"));
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].1, "locationref:default/location-1");

    // Every owner in the corpus is outside it: Backstage keeps the relation silently,
    // sphere says so (on purpose). E-mail owners parse as Backstage parses them, and
    // namespaced ones keep their namespace.
    let dangling: Vec<String> = of(&|w| w.2.ends_with("does not exist"))
        .iter()
        .map(|w| w.2.clone())
        .collect();
    assert_eq!(dangling.len(), 20, "{dangling:#?}");
    for want in [
        "owner group:default/devops2 does not exist",
        "owner group:default/CNCF does not exist",
        "owner group:default/tools@example.com does not exist",
        "owner user:default/guest does not exist",
        "owner user:development/guest does not exist",
        "owner group:backstage/techdocs-core does not exist",
        "owner group:default/john@example.com does not exist",
    ] {
        assert!(dangling.iter().any(|d| d == want), "{want}: {dangling:#?}");
    }
    assert_eq!(warnings.len(), 6 + 7 + 1 + 20, "{warnings:#?}");
}
