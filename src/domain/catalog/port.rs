//! Port-style catalog JSON (C2's second format): blueprints and entities, mapped onto the
//! Backstage model so the rest of sphere sees one catalog. Pure: text in, entities and
//! problems out.
//!
//! A file holds one object or an array of objects. An object with an `identifier` and a
//! `schema` mapping is a **blueprint** (`identifier`, `title`, `schema.properties`,
//! `relations: {name: {target, required, many}}`); an object with an `identifier` and no
//! `schema` is an **entity** (`identifier`, `title`, optional `blueprint`, `properties`,
//! `relations` whose values are a string, a list of strings or null). Anything else is an
//! Error problem naming the file (and the item, in an array).
//!
//! Blueprints are schema, not catalog entities. Their identifiers map to kinds
//! case-insensitively: Component, API, Resource, System and Domain to the Backstage kinds,
//! anything else to [`Kind::Other`].
//!
//! # The kind of an entity
//!
//! 1. its `blueprint` field;
//! 2. else, with blueprints loaded (from any Port file of the same load), the one blueprint
//!    whose relations include every relation the entity uses (when it uses any);
//! 3. else what other entities say it is: a relation that points at it and whose target
//!    is known (from the referring entity's blueprint, any blueprint defining a relation
//!    of that name, or the defaults below), when every such reference agrees;
//! 4. else the relations it uses: `domain` → System; `system`, `resources`, `components`,
//!    `consumesApi`, `providesApi` → Component; `provider` → API;
//! 5. else a Warning, and the entity is loaded with kind `PortEntity`.
//!
//! # Relations
//!
//! | Port relation | on | becomes |
//! | --- | --- | --- |
//! | `system` | Component, API, Resource | `spec.system` (partOf the System) |
//! | `domain` | System | `spec.domain` (partOf the Domain) |
//! | `resources`, `components` | Component, Resource | `spec.dependsOn` |
//! | `consumesApi` | Component | `spec.consumesApis` |
//! | `providesApi` | Component | `spec.providesApis` |
//! | `provider` | API | `spec.providesApis` of the provider Component |
//! | any other | | by its target's kind: API → consumesApis, System/Domain → partOf, Component/Resource → dependsOn |
//!
//! A relation the entity's kind cannot hold is a Warning and is dropped. `properties.type`
//! becomes `spec.type`; every property is kept under `spec.properties`. Identifiers must
//! be valid Backstage names (`CartAPI` is; `Cart API` is not): an invalid one is an Error
//! and the entity is not loaded, as on the YAML path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value};

use crate::domain::name::Name;

use super::model::{
    DEFAULT_NAMESPACE, Entity, EntityRef, Kind, Problem, Severity, Source, TextMap,
};
use super::refs::validate_name;

/// The kind given to an entity whose kind could not be determined.
pub const UNTYPED_KIND: &str = "PortEntity";

/// A relation a blueprint declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationDef {
    /// The target blueprint's identifier.
    pub target: String,
    pub required: bool,
    pub many: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Blueprint {
    pub identifier: String,
    pub title: Option<String>,
    /// `schema.properties`, as written.
    pub properties: Map<String, Value>,
    pub relations: BTreeMap<String, RelationDef>,
    pub source: Source,
}

impl Blueprint {
    pub fn kind(&self) -> Kind {
        blueprint_kind(&self.identifier)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortEntity {
    pub identifier: String,
    pub title: Option<String>,
    pub blueprint: Option<String>,
    pub team: Option<String>,
    pub properties: Map<String, Value>,
    /// Relation name to target identifiers (a single string becomes a one-item list;
    /// null and `[]` become an empty list).
    pub relations: BTreeMap<String, Vec<String>>,
    pub source: Source,
}

/// What Port files yielded; merge the files of one load with [`PortDocs::extend`], then
/// turn them into entities with [`to_entities`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortDocs {
    pub blueprints: Vec<Blueprint>,
    pub entities: Vec<PortEntity>,
    pub problems: Vec<Problem>,
}

impl PortDocs {
    pub fn extend(&mut self, other: PortDocs) {
        self.blueprints.extend(other.blueprints);
        self.entities.extend(other.entities);
        self.problems.extend(other.problems);
    }

    pub fn is_empty(&self) -> bool {
        self.blueprints.is_empty() && self.entities.is_empty() && self.problems.is_empty()
    }
}

/// A blueprint identifier's kind.
pub fn blueprint_kind(identifier: &str) -> Kind {
    match Kind::parse(identifier) {
        k @ (Kind::Component | Kind::Api | Kind::Resource | Kind::System | Kind::Domain) => k,
        _ => Kind::Other(identifier.into()),
    }
}

fn error(file: &Path, entity: Option<String>, reason: String) -> Problem {
    Problem {
        severity: Severity::Error,
        file: file.to_path_buf(),
        entity,
        reason,
    }
}

fn warning(file: &Path, entity: Option<String>, reason: String) -> Problem {
    Problem {
        severity: Severity::Warning,
        file: file.to_path_buf(),
        entity,
        reason,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parse one Port JSON file.
pub fn parse_port(text_in: &str, file: &Path) -> PortDocs {
    let mut out = PortDocs::default();
    let body = text_in.strip_prefix('\u{feff}').unwrap_or(text_in);
    let value: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => {
            out.problems
                .push(error(file, None, format!("invalid JSON: {e}")));
            return out;
        }
    };
    let (items, in_array) = match value {
        Value::Array(items) => (items, true),
        other => (vec![other], false),
    };
    for (i, item) in items.into_iter().enumerate() {
        let where_ = if in_array {
            format!("item {}: ", i + 1)
        } else {
            String::new()
        };
        let source = Source {
            file: file.to_path_buf(),
            document: i,
        };
        match parse_item(item, source) {
            Ok(Item::Blueprint(b)) => out.blueprints.push(b),
            Ok(Item::Entity(e)) => out.entities.push(e),
            Err((entity, reason)) => {
                out.problems
                    .push(error(file, entity, format!("{where_}{reason}")))
            }
        }
    }
    out
}

enum Item {
    Blueprint(Blueprint),
    Entity(PortEntity),
}

const NOT_PORT: &str = "not a Port blueprint or entity: expected an object with an \
                        `identifier` (and a `schema` object for a blueprint)";

fn parse_item(item: Value, source: Source) -> Result<Item, (Option<String>, String)> {
    let Value::Object(mut obj) = item else {
        return Err((None, NOT_PORT.to_string()));
    };
    let Some(identifier) = text(obj.get("identifier")) else {
        return Err((None, NOT_PORT.to_string()));
    };
    let title = text(obj.get("title"));
    if let Some(schema) = obj.get("schema") {
        let label = Some(format!("blueprint {identifier}"));
        let Value::Object(schema) = schema else {
            return Err((label, "schema is not an object".into()));
        };
        let properties = match schema.get("properties") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(p)) => p.clone(),
            Some(_) => return Err((label, "schema.properties is not an object".into())),
        };
        let mut relations = BTreeMap::new();
        match obj.get("relations") {
            None | Some(Value::Null) => {}
            Some(Value::Object(rels)) => {
                for (name, def) in rels {
                    let Some(target) = text(def.get("target")) else {
                        return Err((
                            label,
                            format!("relations.{name}: missing the target blueprint"),
                        ));
                    };
                    let flag = |k: &str| def.get(k).and_then(Value::as_bool).unwrap_or(false);
                    relations.insert(
                        name.clone(),
                        RelationDef {
                            target,
                            required: flag("required"),
                            many: flag("many"),
                        },
                    );
                }
            }
            Some(_) => return Err((label, "relations is not an object".into())),
        }
        return Ok(Item::Blueprint(Blueprint {
            identifier,
            title,
            properties,
            relations,
            source,
        }));
    }
    let label = Some(format!("entity {identifier}"));
    let properties = match obj.remove("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => return Err((label, "properties is not an object".into())),
    };
    let mut relations = BTreeMap::new();
    match obj.remove("relations") {
        None | Some(Value::Null) => {}
        Some(Value::Object(rels)) => {
            for (name, v) in rels {
                let targets = match v {
                    Value::Null => Vec::new(),
                    Value::String(s) => vec![s.trim().to_string()],
                    Value::Array(items) => {
                        let mut t = Vec::with_capacity(items.len());
                        for (i, x) in items.into_iter().enumerate() {
                            match x {
                                Value::String(s) => t.push(s.trim().to_string()),
                                _ => {
                                    return Err((
                                        label,
                                        format!(
                                            "relations.{name}[{i}] is not an identifier (expected a string)"
                                        ),
                                    ));
                                }
                            }
                        }
                        t
                    }
                    _ => {
                        return Err((
                            label,
                            format!("relations.{name} must be an identifier or a list of them"),
                        ));
                    }
                };
                relations.insert(
                    name,
                    targets.into_iter().filter(|t| !t.is_empty()).collect(),
                );
            }
        }
        Some(_) => return Err((label, "relations is not an object".into())),
    }
    let team = match obj.get("team") {
        Some(Value::Array(a)) => a.first().and_then(|v| text(Some(v))),
        other => text(other),
    };
    Ok(Item::Entity(PortEntity {
        identifier,
        title,
        blueprint: text(obj.get("blueprint")),
        team,
        properties,
        relations,
        source,
    }))
}

/// The target kind a relation name implies when no blueprint says.
fn default_target(relation: &str) -> Option<Kind> {
    Some(match relation.to_ascii_lowercase().as_str() {
        "system" => Kind::System,
        "domain" => Kind::Domain,
        "resources" | "resource" => Kind::Resource,
        "components" | "component" | "provider" => Kind::Component,
        "consumesapi" | "consumesapis" | "providesapi" | "providesapis" => Kind::Api,
        _ => return None,
    })
}

/// The kind an entity using this relation probably has (step 4).
fn kind_from_relation(relation: &str) -> Option<Kind> {
    Some(match relation.to_ascii_lowercase().as_str() {
        "domain" => Kind::System,
        "system" | "resources" | "components" | "consumesapi" | "consumesapis" | "providesapi"
        | "providesapis" => Kind::Component,
        "provider" => Kind::Api,
        _ => return None,
    })
}

struct Ctx<'a> {
    blueprints: BTreeMap<String, &'a Blueprint>,
}

impl Ctx<'_> {
    fn blueprint(&self, id: &str) -> Option<&Blueprint> {
        self.blueprints.get(&id.to_ascii_lowercase()).copied()
    }

    /// The kind of the target of relation `name` declared by an entity of blueprint
    /// `from` (if known).
    fn target_kind(&self, from: Option<&str>, name: &str) -> Option<Kind> {
        if let Some(def) = from
            .and_then(|b| self.blueprint(b))
            .and_then(|b| b.relations.get(name))
        {
            return Some(blueprint_kind(&def.target));
        }
        let targets: BTreeSet<String> = self
            .blueprints
            .values()
            .filter_map(|b| b.relations.get(name))
            .map(|d| d.target.to_ascii_lowercase())
            .collect();
        match targets.len() {
            1 => targets.first().map(|t| blueprint_kind(t)),
            0 => default_target(name),
            _ => None,
        }
    }
}

/// Turn the Port documents of one load into catalog entities (the caller adds them to
/// the ones from YAML before resolving), with the problems found on the way (the
/// documents' own parse problems included).
pub fn to_entities(docs: PortDocs) -> (Vec<Entity>, Vec<Problem>) {
    let PortDocs {
        blueprints,
        entities,
        mut problems,
    } = docs;
    let ctx = Ctx {
        blueprints: blueprints
            .iter()
            .map(|b| (b.identifier.to_ascii_lowercase(), b))
            .collect(),
    };

    // Valid names only, as on the YAML path.
    let mut valid: Vec<&PortEntity> = Vec::with_capacity(entities.len());
    for e in &entities {
        match validate_name(&e.identifier) {
            Ok(()) => valid.push(e),
            Err(r) => problems.push(error(
                &e.source.file,
                Some(format!("entity {}", e.identifier)),
                format!("identifier {:?} is not a valid name: it {r}", e.identifier),
            )),
        }
    }

    // What referring entities say each identifier is (step 3).
    let mut referenced_as: BTreeMap<String, BTreeSet<Kind>> = BTreeMap::new();
    for e in &valid {
        for (name, targets) in &e.relations {
            if let Some(k) = ctx.target_kind(e.blueprint.as_deref(), name) {
                for t in targets {
                    referenced_as
                        .entry(t.to_ascii_lowercase())
                        .or_default()
                        .insert(k.clone());
                }
            }
        }
    }

    // Kinds.
    let mut kinds: Vec<Kind> = Vec::with_capacity(valid.len());
    for e in &valid {
        let kind = infer_kind(e, &ctx, &blueprints, &referenced_as);
        let kind = match kind {
            Some(k) => k,
            None => {
                problems.push(warning(
                    &e.source.file,
                    Some(format!("entity {}", e.identifier)),
                    format!(
                        "no blueprint given and none could be inferred from the blueprints, \
                         references or relations; loaded as kind {UNTYPED_KIND}"
                    ),
                ));
                Kind::Other(UNTYPED_KIND.into())
            }
        };
        if let Kind::Other(k) = &kind
            && k != UNTYPED_KIND
        {
            problems.push(warning(
                &e.source.file,
                Some(label(&kind, &e.identifier)),
                format!(
                    "blueprint {k:?} has no Backstage kind: loaded without kind-specific checks"
                ),
            ));
        }
        kinds.push(kind);
    }
    // identifier -> kind, for relation targets (first wins on duplicates; resolve reports).
    let mut kind_of: BTreeMap<String, Kind> = BTreeMap::new();
    for (e, k) in valid.iter().zip(&kinds) {
        kind_of
            .entry(e.identifier.to_ascii_lowercase())
            .or_insert_with(|| k.clone());
    }
    let target_ref = |from: &PortEntity, rel: &str, id: &str| -> (Kind, String) {
        let k = kind_of
            .get(&id.to_ascii_lowercase())
            .cloned()
            .or_else(|| ctx.target_kind(from.blueprint.as_deref(), rel))
            .unwrap_or(Kind::Component);
        let r = EntityRef::new(k.clone(), DEFAULT_NAMESPACE, id).to_string();
        (k, r)
    };

    // Build spec fields; API providers add to their component afterwards.
    let mut specs: Vec<Map<String, Value>> = vec![Map::new(); valid.len()];
    let mut part_of: Vec<Option<EntityRef>> = vec![None; valid.len()];
    // (provider identifier, the API's reference, where the API was declared)
    let mut provided: Vec<(String, String, Source)> = Vec::new();
    for (i, e) in valid.iter().enumerate() {
        let kind = &kinds[i];
        let me = label(kind, &e.identifier);
        let push = |spec: &mut Map<String, Value>, field: &str, r: String| {
            let list = spec
                .entry(field.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = list
                && !a.iter().any(|x| x.as_str() == Some(r.as_str()))
            {
                a.push(Value::String(r));
            }
        };
        for (name, targets) in &e.relations {
            let lname = name.to_ascii_lowercase();
            for t in targets {
                let (tk, r) = target_ref(e, name, t);
                let field: Option<&str> = match (lname.as_str(), kind) {
                    ("provider", Kind::Api) => {
                        provided.push((t.clone(), me.clone(), e.source.clone()));
                        continue;
                    }
                    ("system", Kind::Component | Kind::Api | Kind::Resource)
                    | ("domain", Kind::System) => Some("partOf"),
                    ("resources" | "components", Kind::Component | Kind::Resource) => {
                        Some("dependsOn")
                    }
                    ("consumesapi" | "consumesapis", Kind::Component) => Some("consumesApis"),
                    ("providesapi" | "providesapis", Kind::Component) => Some("providesApis"),
                    (
                        "system" | "domain" | "resources" | "components" | "consumesapi"
                        | "consumesapis" | "providesapi" | "providesapis" | "provider",
                        _,
                    ) => None,
                    // Any other relation: by its target's kind.
                    (_, k) => match (&tk, k) {
                        (Kind::Api, Kind::Component) => Some("consumesApis"),
                        (Kind::System, Kind::Component | Kind::Api | Kind::Resource)
                        | (Kind::Domain, Kind::System) => Some("partOf"),
                        (Kind::Component | Kind::Resource, Kind::Component | Kind::Resource) => {
                            Some("dependsOn")
                        }
                        _ => None,
                    },
                };
                match field {
                    Some("partOf") => {
                        if part_of[i].is_none() {
                            part_of[i] = Some(EntityRef::new(tk, DEFAULT_NAMESPACE, t.clone()));
                        } else {
                            problems.push(warning(
                                &e.source.file,
                                Some(me.clone()),
                                format!("relations.{name}: {t} ignored, the entity is already part of another"),
                            ));
                        }
                    }
                    Some(f) => push(&mut specs[i], f, r),
                    None => problems.push(warning(
                        &e.source.file,
                        Some(me.clone()),
                        format!(
                            "relations.{name}: a {} cannot hold this relation to {t}; dropped",
                            kind.as_str()
                        ),
                    )),
                }
            }
        }
    }
    for (provider, api, source) in provided {
        let at = valid
            .iter()
            .position(|e| e.identifier.eq_ignore_ascii_case(&provider));
        match at {
            Some(j) if kinds[j] == Kind::Component => {
                let list = specs[j]
                    .entry("providesApis".to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = list
                    && !a.iter().any(|x| x.as_str() == Some(api.as_str()))
                {
                    a.push(Value::String(api));
                }
            }
            _ => problems.push(warning(
                &source.file,
                Some(api.clone()),
                format!(
                    "relations.provider: {provider} is not a Component among the Port entities; \
                     the providesApi relation is not recorded"
                ),
            )),
        }
    }

    let mut out = Vec::with_capacity(valid.len());
    for (i, e) in valid.iter().enumerate() {
        let mut spec = std::mem::take(&mut specs[i]);
        let spec_type = text(e.properties.get("type"));
        if let Some(t) = &spec_type {
            spec.insert("type".into(), Value::String(t.clone()));
        }
        if let Some(p) = &part_of[i] {
            let field = if kinds[i] == Kind::System {
                "domain"
            } else {
                "system"
            };
            spec.insert(field.into(), Value::String(p.to_string()));
        }
        if !e.properties.is_empty() {
            spec.insert("properties".into(), Value::Object(e.properties.clone()));
        }
        if let Some(b) = &e.blueprint {
            spec.insert("blueprint".into(), Value::String(b.clone()));
        }
        let owner = e
            .team
            .as_ref()
            .map(|t| EntityRef::new(Kind::Group, DEFAULT_NAMESPACE, t.clone()));
        if let Some(o) = &owner {
            spec.insert("owner".into(), Value::String(o.to_string()));
        }
        out.push(Entity {
            kind: kinds[i].clone(),
            namespace: DEFAULT_NAMESPACE.into(),
            name: e.identifier.as_str().into(),
            title: e.title.clone(),
            description: text(e.properties.get("description")).map(Name::from),
            labels: TextMap::new(),
            annotations: TextMap::new(),
            tags: Vec::new(),
            links: Vec::new(),
            spec_type: spec_type.map(Name::from),
            lifecycle: text(e.properties.get("lifecycle")).map(Name::from),
            owner,
            part_of: part_of[i].take(),
            relations: Vec::new(),
            spec: Value::Object(spec).into(),
            source: e.source.clone(),
        });
    }
    (out, problems)
}

fn label(kind: &Kind, id: &str) -> String {
    format!("{}:{DEFAULT_NAMESPACE}/{id}", kind.ref_prefix())
}

fn infer_kind(
    e: &PortEntity,
    ctx: &Ctx<'_>,
    blueprints: &[Blueprint],
    referenced_as: &BTreeMap<String, BTreeSet<Kind>>,
) -> Option<Kind> {
    // 1. Its blueprint.
    if let Some(b) = &e.blueprint {
        return Some(blueprint_kind(b));
    }
    // 2. The one blueprint whose relations cover the entity's.
    if !e.relations.is_empty() && !blueprints.is_empty() {
        let fits: Vec<&Blueprint> = ctx
            .blueprints
            .values()
            .copied()
            .filter(|b| e.relations.keys().all(|r| b.relations.contains_key(r)))
            .collect();
        if let [only] = fits.as_slice() {
            return Some(only.kind());
        }
    }
    // 3. What references to it say.
    if let Some(ks) = referenced_as.get(&e.identifier.to_ascii_lowercase())
        && ks.len() == 1
    {
        return ks.first().cloned();
    }
    // 4. The relations it uses.
    let by_rel: BTreeSet<Kind> = e
        .relations
        .keys()
        .filter_map(|r| kind_from_relation(r))
        .collect();
    if by_rel.len() == 1 {
        return by_rel.first().cloned();
    }
    None
}

/// Is this path a Port JSON file (by extension)?
pub fn is_json(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::RelationKind;
    use crate::domain::catalog::resolve;

    fn load(files: &[(&str, &str)]) -> crate::domain::catalog::Catalog {
        let mut docs = PortDocs::default();
        for (name, text) in files {
            docs.extend(parse_port(text, Path::new(name)));
        }
        let (entities, problems) = to_entities(docs);
        resolve::build(entities, problems)
    }

    #[test]
    fn blueprint_kinds() {
        assert_eq!(blueprint_kind("Component"), Kind::Component);
        assert_eq!(blueprint_kind("api"), Kind::Api);
        assert_eq!(blueprint_kind("Domain"), Kind::Domain);
        assert_eq!(blueprint_kind("Cluster"), Kind::Other("Cluster".into()));
        assert_eq!(blueprint_kind("User"), Kind::Other("User".into()));
    }

    #[test]
    fn without_blueprints_kinds_come_from_references_and_relations() {
        let c = load(&[(
            "e.json",
            r#"[{"identifier": "Orders", "relations": {}},
                {"identifier": "Cart", "relations": {"domain": "Orders"}},
                {"identifier": "db", "properties": {"type": "postgres"}},
                {"identifier": "Svc", "relations": {"system": "Cart", "resources": ["db"]}},
                {"identifier": "Lonely"}]"#,
        )]);
        let kind = |n: &str| c.find(None, n).map(|e| e.kind.clone());
        assert_eq!(kind("Orders"), Some(Kind::Domain));
        assert_eq!(kind("Cart"), Some(Kind::System));
        assert_eq!(kind("db"), Some(Kind::Resource));
        assert_eq!(kind("Svc"), Some(Kind::Component));
        assert_eq!(kind("Lonely"), Some(Kind::Other(UNTYPED_KIND.into())));
        let warns: Vec<_> = c
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
            .collect();
        assert_eq!(warns.len(), 1, "{:#?}", c.problems);
        assert!(warns[0].reason.contains("none could be inferred"));
        let svc = c.find(Some(&Kind::Component), "Svc").unwrap();
        assert_eq!(
            svc.related(RelationKind::DependsOn)
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["resource:default/db"]
        );
    }

    #[test]
    fn bad_identifiers_and_shapes_are_errors() {
        let c = load(&[
            (
                "a.json",
                r#"[{"identifier": "Cart API", "blueprint": "API"}, {"foo": 1}, 3,
                    {"identifier": "ok", "blueprint": "Component", "relations": {"x": 5}}]"#,
            ),
            ("b.json", "{not json"),
            ("c.json", r#"{"foo": "bar"}"#),
        ]);
        assert_eq!(c.len(), 0);
        let got: Vec<(String, String)> = c
            .problems
            .iter()
            .map(|p| (p.file.display().to_string(), p.reason.clone()))
            .collect();
        assert!(
            c.problems.iter().all(|p| p.severity == Severity::Error),
            "{got:#?}"
        );
        assert_eq!(got.len(), 6, "{got:#?}");
        assert!(
            got.iter()
                .any(|(f, r)| f == "a.json" && r.starts_with("item 2: not a Port"))
        );
        assert!(
            got.iter()
                .any(|(f, r)| f == "a.json" && r.starts_with("item 3: not a Port"))
        );
        assert!(
            got.iter()
                .any(|(f, r)| f == "a.json" && r.contains("relations.x must be"))
        );
        assert!(
            got.iter()
                .any(|(f, r)| f == "b.json" && r.starts_with("invalid JSON"))
        );
        assert!(
            got.iter()
                .any(|(f, r)| f == "c.json" && r.starts_with("not a Port"))
        );
        assert!(
            got.iter()
                .any(|(_, r)| r.contains("\"Cart API\" is not a valid name"))
        );
    }

    #[test]
    fn custom_blueprints_and_custom_relations() {
        let c = load(&[(
            "x.json",
            r#"[{"identifier": "Cluster", "schema": {"properties": {}},
                 "relations": {"runsOn": {"target": "Component", "required": false, "many": true}}},
                {"identifier": "k1", "blueprint": "Cluster"},
                {"identifier": "svc", "blueprint": "Component",
                 "relations": {"uses": ["lib"], "owner-api": "a1"}},
                {"identifier": "lib", "blueprint": "Component"},
                {"identifier": "a1", "blueprint": "API"}]"#,
        )]);
        assert_eq!(
            c.find(None, "k1").unwrap().kind,
            Kind::Other("Cluster".into())
        );
        let svc = c.find(Some(&Kind::Component), "svc").unwrap();
        let deps: Vec<String> = svc
            .related(RelationKind::DependsOn)
            .map(ToString::to_string)
            .collect();
        assert_eq!(deps, vec!["component:default/lib"]);
        let apis: Vec<String> = svc
            .related(RelationKind::ConsumesApi)
            .map(ToString::to_string)
            .collect();
        assert_eq!(apis, vec!["api:default/a1"]);
    }
}
