//! The catalog's data model: entities, references, relations and problems.
//!
//! Pure types, no I/O. Parsing lives in `parse`, resolution of relations in `resolve`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::domain::name::Name;

/// The kind of a catalog entity. Unknown kinds are kept (Backstage installs add their own).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Kind {
    Component,
    Api,
    Resource,
    System,
    Domain,
    Group,
    User,
    Location,
    Template,
    Other(Name),
}

impl Kind {
    /// Parse a kind case-insensitively (`component`, `Component`, `API`, `api` ...).
    pub fn parse(s: &str) -> Kind {
        match s.to_ascii_lowercase().as_str() {
            "component" => Kind::Component,
            "api" => Kind::Api,
            "resource" => Kind::Resource,
            "system" => Kind::System,
            "domain" => Kind::Domain,
            "group" => Kind::Group,
            "user" => Kind::User,
            "location" => Kind::Location,
            "template" => Kind::Template,
            _ => Kind::Other(Name::from(s)),
        }
    }

    /// The canonical spelling as written in descriptors (`Component`, `API`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            Kind::Component => "Component",
            Kind::Api => "API",
            Kind::Resource => "Resource",
            Kind::System => "System",
            Kind::Domain => "Domain",
            Kind::Group => "Group",
            Kind::User => "User",
            Kind::Location => "Location",
            Kind::Template => "Template",
            Kind::Other(s) => s,
        }
    }

    /// Lower-case form used in entity references (`component:default/x`).
    pub fn ref_prefix(&self) -> String {
        self.as_str().to_ascii_lowercase()
    }

    pub fn is_known(&self) -> bool {
        !matches!(self, Kind::Other(_))
    }
}

impl From<Kind> for String {
    fn from(k: Kind) -> String {
        k.as_str().to_string()
    }
}

impl From<String> for Kind {
    fn from(s: String) -> Kind {
        Kind::parse(&s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fully qualified entity reference: `kind:namespace/name`.
///
/// Comparison of kind, namespace and name is case-insensitive in Backstage; we store
/// namespace and name lower-cased in `key()` for lookups and keep the original spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct EntityRef {
    pub kind: Kind,
    pub namespace: Name,
    pub name: Name,
}

pub const DEFAULT_NAMESPACE: &str = "default";

impl EntityRef {
    pub fn new(kind: Kind, namespace: impl Into<Name>, name: impl Into<Name>) -> Self {
        EntityRef {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// Lower-cased `kind:namespace/name`, the form used for lookups.
    pub fn key(&self) -> String {
        let mut buf = String::new();
        self.write_key(&mut buf);
        buf
    }

    /// Write `key()` into `buf` (cleared first): no allocation once `buf` is big enough.
    pub fn write_key(&self, buf: &mut String) {
        write_key(&self.kind, &self.namespace, &self.name, buf);
    }
}

/// The lookup key of `kind:namespace/name`, written into a reusable buffer.
pub(crate) fn write_key(kind: &Kind, namespace: &str, name: &str, buf: &mut String) {
    buf.clear();
    buf.reserve(kind.as_str().len() + namespace.len() + name.len() + 2);
    for part in [kind.as_str(), ":", namespace, "/", name] {
        buf.extend(part.chars().map(|c| c.to_ascii_lowercase()));
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}/{}",
            self.kind.ref_prefix(),
            self.namespace,
            self.name
        )
    }
}

impl From<EntityRef> for String {
    fn from(r: EntityRef) -> String {
        r.to_string()
    }
}

impl TryFrom<String> for EntityRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        super::refs::parse_ref(&s, None, DEFAULT_NAMESPACE).map_err(|e| e.to_string())
    }
}

/// The relation types Backstage generates, each with its inverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RelationKind {
    OwnedBy,
    OwnerOf,
    PartOf,
    HasPart,
    ProvidesApi,
    ApiProvidedBy,
    ConsumesApi,
    ApiConsumedBy,
    DependsOn,
    DependencyOf,
    MemberOf,
    HasMember,
    ChildOf,
    ParentOf,
}

impl RelationKind {
    pub fn inverse(self) -> RelationKind {
        use RelationKind::*;
        match self {
            OwnedBy => OwnerOf,
            OwnerOf => OwnedBy,
            PartOf => HasPart,
            HasPart => PartOf,
            ProvidesApi => ApiProvidedBy,
            ApiProvidedBy => ProvidesApi,
            ConsumesApi => ApiConsumedBy,
            ApiConsumedBy => ConsumesApi,
            DependsOn => DependencyOf,
            DependencyOf => DependsOn,
            MemberOf => HasMember,
            HasMember => MemberOf,
            ChildOf => ParentOf,
            ParentOf => ChildOf,
        }
    }

    /// Backstage's spelling (`ownedBy`, `apiProvidedBy`, ...).
    pub fn as_str(self) -> &'static str {
        use RelationKind::*;
        match self {
            OwnedBy => "ownedBy",
            OwnerOf => "ownerOf",
            PartOf => "partOf",
            HasPart => "hasPart",
            ProvidesApi => "providesApi",
            ApiProvidedBy => "apiProvidedBy",
            ConsumesApi => "consumesApi",
            ApiConsumedBy => "apiConsumedBy",
            DependsOn => "dependsOn",
            DependencyOf => "dependencyOf",
            MemberOf => "memberOf",
            HasMember => "hasMember",
            ChildOf => "childOf",
            ParentOf => "parentOf",
        }
    }
}

impl fmt::Display for RelationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Relation {
    #[serde(rename = "type")]
    pub kind: RelationKind,
    #[serde(rename = "targetRef")]
    pub target: EntityRef,
    /// False when the target does not exist in the catalog (a dangling reference).
    pub resolved: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Link {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

/// Where an entity came from: the file and the 0-based document index in it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Source {
    pub file: PathBuf,
    pub document: usize,
}

/// One catalog entity, with the fields sphere uses pulled out of `spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    pub kind: Kind,
    pub namespace: Name,
    pub name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Name>,
    #[serde(default, skip_serializing_if = "TextMap::is_empty")]
    pub labels: TextMap,
    #[serde(default, skip_serializing_if = "TextMap::is_empty")]
    pub annotations: TextMap,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Name>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// `spec.type` (service, website, library, database, openapi, team ...).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub spec_type: Option<Name>,
    /// `spec.lifecycle` (production, experimental, deprecated ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Name>,
    /// `spec.owner`, resolved to a full reference (default kind Group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<EntityRef>,
    /// `spec.system` (Component, API, Resource) or `spec.domain` (System), resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_of: Option<EntityRef>,
    /// Every relation: the ones declared in spec, and the inverse ones generated from
    /// other entities. Sorted and de-duplicated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<Relation>,
    /// The raw `spec` mapping, unknown fields included.
    #[serde(default)]
    pub spec: Spec,
    pub source: Source,
}

impl Entity {
    pub fn entity_ref(&self) -> EntityRef {
        EntityRef::new(self.kind.clone(), self.namespace.clone(), self.name.clone())
    }

    /// Targets of every relation of one kind.
    pub fn related(&self, kind: RelationKind) -> impl Iterator<Item = &EntityRef> {
        self.relations
            .iter()
            .filter(move |r| r.kind == kind)
            .map(|r| &r.target)
    }

    /// `entity_ref().key()` without building the reference (see `EntityRef::write_key`).
    pub fn write_key(&self, buf: &mut String) {
        write_key(&self.kind, &self.namespace, &self.name, buf);
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key)
    }
}

/// Labels or annotations: a few text pairs sorted by key, in one list. (A `BTreeMap`
/// spends a node of about 500 bytes on the two annotations an entity typically has.)
/// Serialized as a JSON/YAML mapping, like the map it replaces. Keys are [`Name`]s, so
/// entities made together can share them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextMap(Box<[(Name, Box<str>)]>);

impl TextMap {
    pub fn new() -> TextMap {
        TextMap::default()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// Set `key` to `value`; the value it had, if any, is replaced.
    pub fn insert(&mut self, key: String, value: String) {
        let (key, value) = (Name::from(key), value.into_boxed_str());
        match self.0.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => {
                let mut v = std::mem::take(&mut self.0).into_vec();
                v.insert(i, (key, value));
                self.0 = v.into_boxed_slice();
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every pair, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }
}

impl<'a> IntoIterator for &'a TextMap {
    type Item = (&'a str, &'a str);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Name, Box<str>)>,
        fn(&'a (Name, Box<str>)) -> (&'a str, &'a str),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }
}

/// Like collecting into a map: sorted by key, the last value of a repeated key wins.
impl<K: Into<Name>, V: Into<Box<str>>> FromIterator<(K, V)> for TextMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> TextMap {
        let mut v: Vec<(Name, Box<str>)> = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        // Stable: among equal keys the input order stays, so the last one is kept.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Name, Box<str>)> = Vec::with_capacity(v.len());
        for (k, val) in v {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = val,
                _ => out.push((k, val)),
            }
        }
        TextMap(out.into_boxed_slice())
    }
}

impl Serialize for TextMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for TextMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TextMap, D::Error> {
        let m = BTreeMap::<String, String>::deserialize(d)?;
        Ok(m.into_iter().collect())
    }
}

/// An entity's raw `spec` mapping, kept as its compact JSON text: one allocation instead
/// of a map node and a string per field, shared by the entities whose spec is the same
/// text (see [`Spec::shared`]). Read it with [`Spec::value`] (parsed on each call, so
/// read it once per use) or [`Spec::get`]; serialized as the mapping itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Spec(Name);

impl Spec {
    pub fn new(value: &serde_json::Value) -> Spec {
        Spec(Name::from(Self::text(value)))
    }

    /// The spec of `value`, its text shared with every other spec `names` handed out
    /// with the same text (generated entities have a few hundred specs among
    /// thousands of entities).
    pub fn shared(value: &serde_json::Value, names: &mut crate::domain::Interner) -> Spec {
        Spec(names.name(&Self::text(value)))
    }

    fn text(value: &serde_json::Value) -> String {
        // Serializing a `Value` cannot fail (its keys are strings).
        serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
    }

    /// The mapping (or whatever `spec` held), parsed.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }

    /// One field of the mapping.
    pub fn get(&self, field: &str) -> Option<serde_json::Value> {
        match self.value() {
            serde_json::Value::Object(mut m) => m.remove(field),
            _ => None,
        }
    }

    /// The compact JSON text.
    pub fn as_json(&self) -> &str {
        &self.0
    }
}

impl Default for Spec {
    fn default() -> Spec {
        Spec(Name::new("null"))
    }
}

impl From<serde_json::Value> for Spec {
    fn from(v: serde_json::Value) -> Spec {
        Spec::new(&v)
    }
}

impl fmt::Debug for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.value(), f)
    }
}

impl Serialize for Spec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Spec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Spec, D::Error> {
        Ok(Spec::new(&serde_json::Value::deserialize(d)?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The entity (or file) could not be loaded.
    Error,
    /// Loaded, but something is off (a dangling reference, an unknown kind).
    Warning,
}

/// How the reason of a Warning about one of sphere's own limits begins (a remote target
/// not fetched, a file outside the roots): the catalog may be valid for Backstage, so
/// `catalog validate --strict` does not fail on these.
pub const SPHERE_LIMIT: &str = "not followed by sphere: ";

/// One thing wrong with the catalog, located precisely enough to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub severity: Severity,
    pub file: PathBuf,
    /// `kind:namespace/name` when the problem is about one entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    pub reason: String,
}

impl Problem {
    /// A Warning about what sphere cannot follow, not about the catalog itself.
    pub fn is_sphere_limit(&self) -> bool {
        self.severity == Severity::Warning && self.reason.starts_with(SPHERE_LIMIT)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}: {}", self.file.display())?;
        if let Some(e) = &self.entity {
            write!(f, ": {e}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// A resolved catalog: every entity with its relations, and the problems found.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entities: Vec<Entity>,
    index: HashMap<String, usize>,
    pub problems: Vec<Problem>,
    /// Entities left out because they are invalid (each has an Error problem).
    left_out: usize,
}

impl Catalog {
    /// Build the index over already-resolved entities. Use `resolve::build` to get here
    /// from parsed entities.
    pub fn from_resolved(entities: Vec<Entity>, problems: Vec<Problem>) -> Catalog {
        let mut buf = String::new();
        let index = entities
            .iter()
            .enumerate()
            .map(|(i, e)| {
                e.write_key(&mut buf);
                (buf.clone(), i)
            })
            .collect();
        Catalog::from_parts(entities, index, problems)
    }

    /// A catalog over entities whose lookup index (`EntityRef::key` to position) is
    /// already built, as `resolve::build` does.
    pub(crate) fn from_parts(
        entities: Vec<Entity>,
        index: HashMap<String, usize>,
        problems: Vec<Problem>,
    ) -> Catalog {
        Catalog {
            entities,
            index,
            problems,
            left_out: 0,
        }
    }

    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// Annotate every entity that has no `key` annotation with what `value_of` gives
    /// for it (none: left as it is). Annotations are no part of the index's keys.
    pub fn default_annotation(&mut self, key: &str, value_of: impl Fn(&Entity) -> Option<String>) {
        for e in &mut self.entities {
            if e.annotation(key).is_none()
                && let Some(value) = value_of(e)
            {
                e.annotations.insert(key.to_string(), value);
            }
        }
    }

    pub fn get(&self, r: &EntityRef) -> Option<&Entity> {
        self.index.get(&r.key()).map(|&i| &self.entities[i])
    }

    /// Find by name, optionally restricted to a kind, in any namespace (default first).
    pub fn find(&self, kind: Option<&Kind>, name: &str) -> Option<&Entity> {
        if let Some(k) = kind {
            let r = EntityRef::new(k.clone(), DEFAULT_NAMESPACE, name);
            if let Some(e) = self.get(&r) {
                return Some(e);
            }
        }
        self.entities
            .iter()
            .filter(|e| kind.is_none_or(|k| &e.kind == k))
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }

    pub fn of_kind<'a>(&'a self, kind: &'a Kind) -> impl Iterator<Item = &'a Entity> + 'a {
        self.entities.iter().filter(move |e| &e.kind == kind)
    }

    pub fn len(&self) -> usize {
        self.entities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// How many entities were left out as invalid (duplicates included).
    pub fn left_out(&self) -> usize {
        self.left_out
    }

    pub(crate) fn add_left_out(&mut self, n: usize) {
        self.left_out += n;
    }

    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }
}
