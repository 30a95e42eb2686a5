//! What seeding reads from the catalog: its services, repository slugs and users, the
//! synthetic services a larger scale adds, and which services a changed catalog keeps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::state::ServiceSpec;
use crate::domain::catalog::parse::parse_documents;
use crate::domain::catalog::{
    Catalog, DEFAULT_NAMESPACE, Entity, EntityRef, Kind, Relation, RelationKind, Source, Spec,
    TextMap,
};
use crate::domain::{Interner, Name};

/// The services whose state a changed catalog keeps: the catalog's and the ones
/// registered through sphere.
pub(super) fn kept_services(
    services: &[ServiceSpec],
    registered: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut keep: Vec<String> = services.iter().map(|s| s.name.to_string()).collect();
    for (location, text) in registered {
        let parsed = parse_documents(text, Path::new(location));
        keep.extend(
            parsed
                .entities
                .iter()
                .filter(|e| e.kind == Kind::Component)
                .map(|e| e.name.to_string()),
        );
    }
    keep
}

pub(super) fn is_service(e: &Entity) -> bool {
    e.kind == Kind::Component && matches!(e.spec_type.as_deref(), Some("service" | "website"))
}

pub(super) const SLUG: &str = "github.com/project-slug";

const WORDS_A: &[&str] = &[
    "orders",
    "billing",
    "ledger",
    "search",
    "cart",
    "identity",
    "risk",
    "pricing",
    "shipping",
    "inventory",
    "loyalty",
    "media",
    "reports",
    "fx",
    "kyc",
    "ads",
    "geo",
    "tax",
    "mail",
    "ranking",
];
const WORDS_B: &[&str] = &[
    "api",
    "worker",
    "sync",
    "gateway",
    "indexer",
    "scheduler",
    "consumer",
    "publisher",
    "adapter",
    "service",
];

/// Add synthetic services until there are `n`, spread over the existing owners and systems.
pub(super) fn extend_catalog(catalog: &Catalog, n: usize, seed: u64) -> Catalog {
    let have = catalog.entities().iter().filter(|e| is_service(e)).count();
    if n <= have {
        return catalog.clone();
    }
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xca7a_1095);
    let mut owners: Vec<EntityRef> = catalog
        .of_kind(&Kind::Group)
        .filter(|g| g.spec_type.as_deref() == Some("team"))
        .map(Entity::entity_ref)
        .collect();
    if owners.is_empty() {
        owners = catalog
            .entities()
            .iter()
            .filter_map(|e| e.owner.clone())
            .collect();
        owners.sort();
        owners.dedup();
    }
    let mut systems: Vec<EntityRef> = catalog
        .of_kind(&Kind::System)
        .map(Entity::entity_ref)
        .collect();
    if systems.is_empty() {
        systems = catalog
            .entities()
            .iter()
            .filter_map(|e| e.part_of.clone())
            .collect();
        systems.sort();
        systems.dedup();
    }
    let mut entities = catalog.entities().to_vec();
    entities.reserve(n - have);
    // What every generated service has in common is stored once.
    let namespace = Name::new(DEFAULT_NAMESPACE);
    let service = Name::new("service");
    let (experimental, production) = (Name::new("experimental"), Name::new("production"));
    let (slug_key, k8s_key) = (Name::new(SLUG), Name::new("backstage.io/kubernetes-id"));
    let generated = Name::new("generated");
    let description = Name::new("Generated service (scale test).");
    let mut specs = Interner::new();
    let mut i = 0usize;
    let mut added = 0usize;
    while added < n - have {
        i += 1;
        let name = format!(
            "{}-{}-{:05}",
            WORDS_A[rng.usize(..WORDS_A.len())],
            WORDS_B[rng.usize(..WORDS_B.len())],
            i
        );
        if catalog.find(Some(&Kind::Component), &name).is_some() {
            continue;
        }
        let owner = (!owners.is_empty()).then(|| owners[rng.usize(..owners.len())].clone());
        let system = (!systems.is_empty()).then(|| systems[rng.usize(..systems.len())].clone());
        let lifecycle = if rng.f32() < 0.1 {
            &experimental
        } else {
            &production
        };
        let mut relations = Vec::with_capacity(2);
        if let Some(o) = &owner {
            relations.push(Relation {
                kind: RelationKind::OwnedBy,
                target: o.clone(),
                resolved: true,
            });
        }
        if let Some(s) = &system {
            relations.push(Relation {
                kind: RelationKind::PartOf,
                target: s.clone(),
                resolved: true,
            });
        }
        let annotations: TextMap = [
            (slug_key.clone(), format!("northwind/{name}")),
            (k8s_key.clone(), name.clone()),
        ]
        .into_iter()
        .collect();
        let spec = Spec::shared(
            &serde_json::json!({
            "type": "service",
            "lifecycle": lifecycle.as_str(),
            "owner": owner.as_ref().map(|o| o.to_string()),
            "system": system.as_ref().map(|s| s.to_string()),
            }),
            &mut specs,
        );
        entities.push(Entity {
            kind: Kind::Component,
            namespace: namespace.clone(),
            name: Name::from(name),
            title: None,
            description: Some(description.clone()),
            labels: TextMap::new(),
            annotations,
            tags: vec![generated.clone()],
            links: Vec::new(),
            spec_type: Some(service.clone()),
            lifecycle: Some(lifecycle.clone()),
            owner,
            part_of: system,
            relations,
            spec,
            source: Source {
                file: PathBuf::from("<generated>"),
                document: added,
            },
        });
        added += 1;
    }
    Catalog::from_resolved(entities, catalog.problems.clone())
}

/// What seeding reads from the catalog: its services, repository slugs and users.
pub(super) fn seed_inputs(catalog: &Catalog) -> (Vec<ServiceSpec>, Vec<String>, Vec<String>) {
    let services: Vec<ServiceSpec> = catalog
        .entities()
        .iter()
        .filter(|e| is_service(e))
        .map(|e| ServiceSpec {
            name: Name::from(&e.name),
            lifecycle: e.lifecycle.clone(),
            owner: e.owner.as_ref().map(|o| o.name.clone()),
            synthetic: e.source.file.as_os_str() == "<generated>",
        })
        .collect();
    let mut slugs: Vec<String> = catalog
        .of_kind(&Kind::Component)
        .filter_map(|e| e.annotation(SLUG).map(str::to_string))
        .collect();
    slugs.sort();
    slugs.dedup();
    let mut users: Vec<String> = catalog
        .of_kind(&Kind::User)
        .map(|u| u.name.to_string())
        .collect();
    users.sort();
    (services, slugs, users)
}
