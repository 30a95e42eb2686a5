//! Relation resolution: the relations Backstage's processors generate from spec fields,
//! their inverses on the target entities, dangling references and duplicate entities.
//!
//! Linear in entities plus relations: one `HashMap` from lookup key to entity index.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::model::{Catalog, Entity, EntityRef, Kind, Problem, Relation, RelationKind, Severity};
use super::refs::parse_descriptor_ref;

/// A spec field holding one or more entity references, and the relation it declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefField {
    /// The key under `spec` (`providesApis`).
    pub field: &'static str,
    /// The kind assumed when a reference has none.
    pub default_kind: Kind,
    /// The relation from the declaring entity to the target.
    pub relation: RelationKind,
}

const fn field(field: &'static str, default_kind: Kind, relation: RelationKind) -> RefField {
    RefField {
        field,
        default_kind,
        relation,
    }
}

use RelationKind as R;

const COMPONENT_FIELDS: &[RefField] = &[
    field("subcomponentOf", Kind::Component, R::PartOf),
    field("providesApis", Kind::Api, R::ProvidesApi),
    field("consumesApis", Kind::Api, R::ConsumesApi),
    field("dependsOn", Kind::Component, R::DependsOn),
    field("dependencyOf", Kind::Component, R::DependencyOf),
];
const RESOURCE_FIELDS: &[RefField] = &[
    field("dependsOn", Kind::Component, R::DependsOn),
    field("dependencyOf", Kind::Component, R::DependencyOf),
];
const DOMAIN_FIELDS: &[RefField] = &[field("subdomainOf", Kind::Domain, R::PartOf)];
const USER_FIELDS: &[RefField] = &[field("memberOf", Kind::Group, R::MemberOf)];
const GROUP_FIELDS: &[RefField] = &[
    field("parent", Kind::Group, R::ChildOf),
    field("children", Kind::Group, R::ParentOf),
    field("members", Kind::User, R::HasMember),
];

/// The reference fields under `spec` of one kind, besides `owner` and `system`/`domain`
/// (those are parsed into `Entity::owner` and `Entity::part_of`).
pub fn spec_ref_fields(kind: &Kind) -> &'static [RefField] {
    match kind {
        Kind::Component => COMPONENT_FIELDS,
        Kind::Resource => RESOURCE_FIELDS,
        Kind::Domain => DOMAIN_FIELDS,
        Kind::User => USER_FIELDS,
        Kind::Group => GROUP_FIELDS,
        _ => &[],
    }
}

/// One relation an entity declares itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// The spec field it came from (`owner`, `system`, `providesApis` ...).
    pub field: &'static str,
    pub relation: RelationKind,
    pub target: EntityRef,
}

/// Every relation an entity declares: `owner`, `system`/`domain`, and the kind's reference
/// fields. References that do not parse come back as human-readable errors.
pub fn declared_refs(entity: &Entity) -> (Vec<Declared>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    if let Some(owner) = &entity.owner {
        out.push(Declared {
            field: "owner",
            relation: R::OwnedBy,
            target: owner.clone(),
        });
    }
    if let Some(part_of) = &entity.part_of {
        out.push(Declared {
            field: if entity.kind == Kind::System {
                "domain"
            } else {
                "system"
            },
            relation: R::PartOf,
            target: part_of.clone(),
        });
    }
    let fields = spec_ref_fields(&entity.kind);
    let spec = if fields.is_empty() {
        Value::Null
    } else {
        entity.spec.value()
    };
    for f in fields {
        let values = match spec.get(f.field) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => {
                let mut v = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) => v.push(s),
                        None => errors.push(format!(
                            "spec.{}[{i}] is not an entity reference (expected a string)",
                            f.field
                        )),
                    }
                }
                v
            }
            Some(_) => {
                errors.push(format!(
                    "spec.{} must be an entity reference or a list of them",
                    f.field
                ));
                continue;
            }
        };
        for s in values {
            match parse_descriptor_ref(s, Some(f.default_kind.clone()), &entity.namespace) {
                Ok(target) => out.push(Declared {
                    field: f.field,
                    relation: f.relation,
                    target,
                }),
                Err(e) => errors.push(format!("spec.{}: {e}", f.field)),
            }
        }
    }
    (out, errors)
}

/// Resolve parsed entities into a catalog.
///
/// - Duplicate entity references (kind, namespace and name compared case-insensitively):
///   an Error problem, the first one wins.
/// - Each declared relation is added to its entity, and its inverse to the target when the
///   target exists. Targets that do not exist stay, with `resolved = false`, and each
///   gets one Warning problem.
/// - Every entity's relations end up sorted and de-duplicated.
pub fn build(entities: Vec<Entity>, mut problems: Vec<Problem>) -> Catalog {
    // One reusable buffer for lookup keys: no allocation per lookup.
    let mut key = String::new();
    let mut kept: Vec<Entity> = Vec::with_capacity(entities.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(entities.len());
    let mut duplicates = 0;
    for e in entities {
        e.write_key(&mut key);
        if let Some(&first) = index.get(key.as_str()) {
            duplicates += 1;
            let prev = &kept[first].source;
            problems.push(Problem {
                severity: Severity::Error,
                file: e.source.file.clone(),
                entity: Some(e.entity_ref().to_string()),
                reason: format!(
                    "duplicate entity (document {}): already defined in {} (document {}), which is kept",
                    e.source.document + 1,
                    prev.file.display(),
                    prev.document + 1
                ),
            });
        } else {
            index.insert(key.clone(), kept.len());
            kept.push(e);
        }
    }

    let mut inverses: Vec<(usize, Relation)> = Vec::new();
    let mut warned: HashSet<(&'static str, String)> = HashSet::new();
    for i in 0..kept.len() {
        let (declared, errors) = declared_refs(&kept[i]);
        let self_ref = kept[i].entity_ref();
        let mut self_label: Option<String> = None;
        let mut label = |r: &EntityRef| self_label.get_or_insert_with(|| r.to_string()).clone();
        for reason in errors {
            problems.push(Problem {
                severity: Severity::Error,
                file: kept[i].source.file.clone(),
                entity: Some(label(&self_ref)),
                reason,
            });
        }
        warned.clear();
        let mut relations = Vec::with_capacity(declared.len());
        for d in declared {
            d.target.write_key(&mut key);
            match index.get(key.as_str()) {
                Some(&j) => {
                    inverses.push((
                        j,
                        Relation {
                            kind: d.relation.inverse(),
                            target: self_ref.clone(),
                            resolved: true,
                        },
                    ));
                    // the target's own spelling, so equal targets compare equal
                    let target = if j == i {
                        self_ref.clone()
                    } else {
                        kept[j].entity_ref()
                    };
                    relations.push(Relation {
                        kind: d.relation,
                        target,
                        resolved: true,
                    });
                }
                None => {
                    if warned.insert((d.field, key.clone())) {
                        problems.push(Problem {
                            severity: Severity::Warning,
                            file: kept[i].source.file.clone(),
                            entity: Some(label(&self_ref)),
                            reason: format!("{} {} does not exist", d.field, d.target),
                        });
                    }
                    relations.push(Relation {
                        kind: d.relation,
                        target: d.target,
                        resolved: false,
                    });
                }
            }
        }
        // Relations the entity arrived with (none from `parse`) are kept, re-checked.
        for r in &mut kept[i].relations {
            r.target.write_key(&mut key);
            r.resolved = index.contains_key(key.as_str());
        }
        kept[i].relations.extend(relations);
    }
    for (j, r) in inverses {
        kept[j].relations.push(r);
    }
    for e in &mut kept {
        e.relations.sort_unstable();
        e.relations.dedup();
    }
    let mut catalog = Catalog::from_parts(kept, index, problems);
    catalog.add_left_out(duplicates);
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::parse::parse_documents;
    use crate::domain::catalog::refs::parse_ref;
    use std::path::Path;

    fn catalog(files: &[(&str, &str)]) -> Catalog {
        let mut entities = Vec::new();
        let mut problems = Vec::new();
        for (name, text) in files {
            let p = parse_documents(text, Path::new(name));
            entities.extend(p.entities);
            problems.extend(p.problems);
        }
        build(entities, problems)
    }

    fn r(s: &str) -> EntityRef {
        parse_ref(s, None, "default").unwrap()
    }

    fn rels(c: &Catalog, of: &str, kind: RelationKind) -> Vec<String> {
        let e = c.get(&r(of)).unwrap_or_else(|| panic!("{of} missing"));
        e.related(kind).map(|t| t.to_string()).collect()
    }

    const ORG: &str = "\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: org}
spec: {type: org, children: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, parent: org, children: [], members: [jo]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-b}
spec: {type: team, parent: org, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: jo}
spec: {memberOf: [team-b]}
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: money}
spec: {owner: org}
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: cards}
spec: {owner: org, subdomainOf: money}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: checkout}
spec: {owner: team-a, domain: money}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: payments}
spec: {type: openapi, lifecycle: production, owner: team-a, system: checkout, definition: x}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: db}
spec: {type: database, owner: team-a, system: checkout, dependencyOf: ['component:ledger']}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: payments-api}
spec:
  type: service
  lifecycle: production
  owner: team-a
  system: checkout
  providesApis: [payments]
  dependsOn: ['resource:db', ledger]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: ledger}
spec: {type: service, lifecycle: production, owner: 'user:jo', consumesApis: [payments], subcomponentOf: payments-api}
";

    #[test]
    fn ownership_both_ways() {
        let c = catalog(&[("org.yaml", ORG)]);
        assert_eq!(
            rels(&c, "component:payments-api", R::OwnedBy),
            vec!["group:default/team-a"]
        );
        assert_eq!(
            rels(&c, "group:team-a", R::OwnerOf),
            // sorted by kind (in `Kind` order), then namespace and name
            vec![
                "component:default/payments-api",
                "api:default/payments",
                "resource:default/db",
                "system:default/checkout",
            ]
        );
        assert_eq!(
            rels(&c, "user:jo", R::OwnerOf),
            vec!["component:default/ledger"]
        );
        assert_eq!(
            rels(&c, "group:org", R::OwnerOf),
            vec!["domain:default/cards", "domain:default/money"]
        );
    }

    #[test]
    fn part_of_both_ways() {
        let c = catalog(&[("org.yaml", ORG)]);
        assert_eq!(
            rels(&c, "system:checkout", R::PartOf),
            vec!["domain:default/money"]
        );
        assert_eq!(
            rels(&c, "domain:money", R::HasPart),
            vec!["system:default/checkout", "domain:default/cards"]
        );
        assert_eq!(
            rels(&c, "system:checkout", R::HasPart),
            vec![
                "component:default/payments-api",
                "api:default/payments",
                "resource:default/db",
            ]
        );
        // subcomponentOf is partOf too
        assert_eq!(
            rels(&c, "component:ledger", R::PartOf),
            vec!["component:default/payments-api"]
        );
        assert_eq!(
            rels(&c, "component:payments-api", R::HasPart),
            vec!["component:default/ledger"]
        );
    }

    #[test]
    fn apis_both_ways() {
        let c = catalog(&[("org.yaml", ORG)]);
        assert_eq!(
            rels(&c, "component:payments-api", R::ProvidesApi),
            vec!["api:default/payments"]
        );
        assert_eq!(
            rels(&c, "api:payments", R::ApiProvidedBy),
            vec!["component:default/payments-api"]
        );
        assert_eq!(
            rels(&c, "component:ledger", R::ConsumesApi),
            vec!["api:default/payments"]
        );
        assert_eq!(
            rels(&c, "api:payments", R::ApiConsumedBy),
            vec!["component:default/ledger"]
        );
    }

    #[test]
    fn dependencies_both_ways() {
        let c = catalog(&[("org.yaml", ORG)]);
        // `ledger` without a kind defaults to Component; db's dependencyOf adds the same
        // dependsOn to ledger.
        assert_eq!(
            rels(&c, "component:payments-api", R::DependsOn),
            vec!["component:default/ledger", "resource:default/db"]
        );
        assert_eq!(
            rels(&c, "resource:db", R::DependencyOf),
            vec!["component:default/ledger", "component:default/payments-api"]
        );
        assert_eq!(
            rels(&c, "component:ledger", R::DependsOn),
            vec!["resource:default/db"]
        );
        assert_eq!(
            rels(&c, "component:ledger", R::DependencyOf),
            vec!["component:default/payments-api"]
        );
    }

    #[test]
    fn membership_and_hierarchy_both_ways() {
        let c = catalog(&[("org.yaml", ORG)]);
        assert_eq!(
            rels(&c, "user:jo", R::MemberOf),
            vec!["group:default/team-a", "group:default/team-b"]
        );
        assert_eq!(
            rels(&c, "group:team-b", R::HasMember),
            vec!["user:default/jo"]
        );
        assert_eq!(
            rels(&c, "group:team-a", R::HasMember),
            vec!["user:default/jo"]
        );
        assert_eq!(
            rels(&c, "group:team-a", R::ChildOf),
            vec!["group:default/org"]
        );
        // org lists only team-a as a child; team-b's parent adds the other
        assert_eq!(
            rels(&c, "group:org", R::ParentOf),
            vec!["group:default/team-a", "group:default/team-b"]
        );
        // team-a's parent and org's children declare the same pair: de-duplicated
        let team_a = c.get(&r("group:team-a")).unwrap();
        assert_eq!(team_a.related(R::ChildOf).count(), 1);
    }

    #[test]
    fn every_resolved_relation_has_its_inverse() {
        let c = catalog(&[("org.yaml", ORG)]);
        assert_eq!(c.problems, vec![]);
        let mut n = 0;
        for e in c.entities() {
            for rel in &e.relations {
                assert!(rel.resolved);
                let target = c.get(&rel.target).unwrap();
                assert!(
                    target.relations.iter().any(
                        |back| back.kind == rel.kind.inverse() && back.target == e.entity_ref()
                    ),
                    "{} {} {} has no inverse",
                    e.entity_ref(),
                    rel.kind,
                    rel.target
                );
                n += 1;
            }
            let mut sorted = e.relations.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted, e.relations);
        }
        assert!(n > 30, "{n}");
    }

    #[test]
    fn dangling_references_are_unresolved_with_one_warning_each() {
        let c = catalog(&[(
            "svc.yaml",
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc}\n\
             spec: {type: service, lifecycle: production, owner: guests, system: nowhere, \
             consumesApis: [gone, gone], dependsOn: ['resource:x']}\n",
        )]);
        let e = c.get(&r("component:svc")).unwrap();
        assert_eq!(e.relations.len(), 4);
        assert!(e.relations.iter().all(|r| !r.resolved));
        let reasons: Vec<_> = c.problems.iter().map(|p| p.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "owner group:default/guests does not exist",
                "system system:default/nowhere does not exist",
                "consumesApis api:default/gone does not exist",
                "dependsOn resource:default/x does not exist",
            ]
        );
        assert!(c.problems.iter().all(|p| p.severity == Severity::Warning
            && p.file == Path::new("svc.yaml")
            && p.entity.as_deref() == Some("component:default/svc")));
    }

    #[test]
    fn references_are_case_insensitive_and_take_the_targets_spelling() {
        let c = catalog(&[(
            "a.yaml",
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: Team-A}\nspec: {type: team, children: []}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc}\n\
             spec: {type: service, lifecycle: production, owner: 'Group:team-a'}\n",
        )]);
        assert_eq!(c.problems, vec![]);
        assert_eq!(
            rels(&c, "component:svc", R::OwnedBy),
            vec!["group:default/Team-A"]
        );
    }

    #[test]
    fn duplicates_are_errors_and_the_first_wins() {
        let one = "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: jo, title: first}\nspec: {memberOf: []}\n";
        let two = "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: JO, title: second}\nspec: {memberOf: []}\n\
                   ---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: jo}\nspec: {type: team, children: []}\n";
        let c = catalog(&[("one.yaml", one), ("two.yaml", two)]);
        assert_eq!(
            c.len(),
            2,
            "a Group named jo is not a duplicate of the User"
        );
        assert_eq!(
            c.get(&r("user:jo")).unwrap().title.as_deref(),
            Some("first")
        );
        assert_eq!(c.problems.len(), 1);
        let p = &c.problems[0];
        assert_eq!(p.severity, Severity::Error);
        assert_eq!(p.file, Path::new("two.yaml"));
        assert_eq!(p.entity.as_deref(), Some("user:default/JO"));
        assert!(
            p.reason.contains("already defined in one.yaml"),
            "{}",
            p.reason
        );
    }

    #[test]
    fn same_name_in_another_namespace_is_distinct() {
        let text = "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: guest}\nspec: {memberOf: []}\n---\n\
                    apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: guest, namespace: dev}\n\
                    spec: {memberOf: ['group:default/t', t]}\n---\n\
                    apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: t}\nspec: {type: team, children: []}\n";
        let c = catalog(&[("u.yaml", text)]);
        assert_eq!(c.len(), 3);
        // `t` without a namespace means dev/t, which does not exist
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.problems[0].reason, "memberOf group:dev/t does not exist");
        assert_eq!(rels(&c, "group:t", R::HasMember), vec!["user:dev/guest"]);
    }

    #[test]
    fn scales_linearly() {
        // Not a timing assertion (see the bench); checks correctness at size.
        let mut entities = Vec::new();
        for i in 0..2000 {
            let text = format!(
                "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: c{i}}}\n\
                 spec: {{type: service, lifecycle: production, owner: t{}, dependsOn: [c{}]}}\n",
                i % 10,
                (i + 1) % 2000
            );
            entities.extend(parse_documents(&text, Path::new("x.yaml")).entities);
        }
        let c = build(entities, Vec::new());
        assert_eq!(c.len(), 2000);
        assert_eq!(c.problems.len(), 2000, "one dangling owner warning each");
        let e = c.get(&r("component:c5")).unwrap();
        assert_eq!(e.related(R::DependencyOf).count(), 1);
    }
}
