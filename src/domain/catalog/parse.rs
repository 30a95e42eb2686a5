//! Backstage descriptor parsing: one YAML file, any number of documents, one entity each.
//!
//! Pure: takes the text and the file name (for problems), does no I/O. Following
//! Location targets is `load`'s job, relations are `resolve`'s.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::domain::name::Name;

use super::model::{
    DEFAULT_NAMESPACE, Entity, EntityRef, Kind, Link, Problem, Severity, Source, TextMap,
};
use super::refs::{parse_ref, validate_name, validate_namespace};
use super::resolve::declared_refs;

/// What one file yielded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFile {
    /// Valid entities, in document order.
    pub entities: Vec<Entity>,
    /// Everything wrong with the file, entities that were dropped included.
    pub problems: Vec<Problem>,
    /// `spec.target` and `spec.targets` of every valid Location entity, as written.
    pub location_targets: Vec<String>,
}

/// Parse every document of a (possibly multi-document) YAML file.
///
/// Invalid documents become problems; the other documents still load. Documents are split
/// on `---` / `...` marker lines first, so a syntax error in one document does not hide
/// the documents after it.
pub fn parse_documents(text: &str, file: &Path) -> ParsedFile {
    let mut out = ParsedFile::default();
    for chunk in split_documents(text) {
        let value = match parse_chunk(chunk.text) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(_) => {
                // Parse again with the chunk at its real line so the error's line and
                // column are those of the file (only on the error path).
                let padded = format!("{}{}", "\n".repeat(chunk.start_line), chunk.text);
                let msg = match parse_chunk(&padded) {
                    Err(e) => e.to_string(),
                    Ok(_) => format!("near line {}", chunk.start_line + 1),
                };
                out.problems.push(Problem {
                    severity: Severity::Error,
                    file: file.to_path_buf(),
                    entity: None,
                    reason: format!("document {}: invalid YAML: {msg}", chunk.index + 1),
                });
                continue;
            }
        };
        let json = yaml_to_json(&value);
        if json.is_null() {
            continue; // an empty document
        }
        let source = Source {
            file: file.to_path_buf(),
            document: chunk.index,
        };
        match entity_from_value(json, source, chunk.start_line + 1) {
            Ok((entity, warnings)) => {
                out.problems.extend(warnings);
                if entity.kind == Kind::Location {
                    out.location_targets.extend(location_targets(&entity));
                }
                out.entities.push(entity);
            }
            Err(p) => out.problems.push(p),
        }
    }
    out
}

/// `spec.target` then `spec.targets` of a Location entity, as written.
pub fn location_targets(entity: &Entity) -> Vec<String> {
    let mut out = Vec::new();
    let spec = entity.spec.value();
    if let Some(t) = spec.get("target").and_then(Value::as_str) {
        out.push(t.trim().to_string());
    }
    if let Some(ts) = spec.get("targets").and_then(Value::as_array) {
        out.extend(
            ts.iter()
                .filter_map(Value::as_str)
                .map(|t| t.trim().to_string()),
        );
    }
    out
}

struct Chunk<'a> {
    text: &'a str,
    /// 0-based line of the chunk's first line in the file.
    start_line: usize,
    /// 0-based document index in the file.
    index: usize,
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}

fn is_trivial_line(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || line.starts_with('%')
}

/// Split a YAML stream into documents at `---` and `...` lines in column 0. YAML forbids
/// these at the start of a line inside any scalar, so this split matches the parser's.
fn split_documents<'a>(text: &'a str) -> Vec<Chunk<'a>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 0usize;
    let mut has_marker = false;
    let mut trivial = true;
    let mut offset = 0usize;
    let mut index = 0usize;
    let mut push = |chunks: &mut Vec<Chunk<'a>>, s: usize, e: usize, line: usize, keep: bool| {
        if keep {
            chunks.push(Chunk {
                text: &text[s..e],
                start_line: line,
                index,
            });
            index += 1;
        }
    };
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        let content = line.trim_end_matches(['\n', '\r']);
        if is_marker(content, "---") {
            if has_marker || !trivial {
                push(&mut chunks, start, offset, start_line, true);
                start = offset;
                start_line = line_no;
            }
            // A preamble of comments or directives stays with the document it precedes.
            has_marker = true;
            trivial = true;
        } else if is_marker(content, "...") {
            push(
                &mut chunks,
                start,
                offset,
                start_line,
                has_marker || !trivial,
            );
            start = offset + line.len();
            start_line = line_no + 1;
            has_marker = false;
            trivial = true;
        } else if trivial && !is_trivial_line(content) {
            trivial = false;
        }
        offset += line.len();
    }
    push(
        &mut chunks,
        start,
        text.len(),
        start_line,
        has_marker || !trivial,
    );
    chunks
}

fn parse_chunk(text: &str) -> Result<Option<serde_norway::Value>, serde_norway::Error> {
    let mut de = serde_norway::Deserializer::from_str(text);
    match de.next() {
        None => Ok(None),
        Some(doc) => serde_norway::Value::deserialize(doc).map(Some),
    }
}

/// Convert YAML to JSON. Mapping keys that are not strings are written as their YAML
/// scalar text; tags are dropped (Backstage ignores them too).
pub fn yaml_to_json(v: &serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::with_capacity(m.len());
            for (k, v) in m {
                out.insert(scalar_text(k), yaml_to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(&t.value),
    }
}

fn scalar_text(v: &serde_norway::Value) -> String {
    use serde_norway::Value as Y;
    match v {
        Y::Null => "null".into(),
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        Y::String(s) => s.clone(),
        Y::Tagged(t) => scalar_text(&t.value),
        other => yaml_to_json(other).to_string(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A scalar as text (Backstage stringly-types labels and annotations).
fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn non_empty_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The spec fields each kind requires, as Backstage's JSON schemas do.
fn required_spec_fields(kind: &Kind) -> &'static [&'static str] {
    match kind {
        Kind::Component => &["type", "lifecycle", "owner"],
        Kind::Api => &["type", "lifecycle", "owner", "definition"],
        Kind::Resource => &["type", "owner"],
        Kind::System => &["owner"],
        Kind::Domain => &["owner"],
        Kind::Group => &["type", "children"],
        _ => &[],
    }
}

/// Turn one document into an entity, or the Error problem that keeps it out.
fn entity_from_value(
    doc: Value,
    source: Source,
    line: usize,
) -> Result<(Entity, Vec<Problem>), Problem> {
    let doc_label = format!("document {} (line {line})", source.document + 1);
    let file = source.file.clone();
    let problem = |entity: Option<String>, reason: String| Problem {
        severity: Severity::Error,
        file: file.clone(),
        entity,
        reason,
    };
    let Value::Object(mut root) = doc else {
        return Err(problem(
            None,
            format!("{doc_label}: is {}, not a mapping", type_name(&doc)),
        ));
    };

    let kind_str = non_empty_str(&root, "kind").map(str::to_string);
    let metadata = match root.remove("metadata") {
        Some(Value::Object(m)) => Some(m),
        None | Some(Value::Null) => None,
        Some(other) => {
            return Err(problem(
                None,
                format!(
                    "{doc_label}: metadata is {}, not a mapping",
                    type_name(&other)
                ),
            ));
        }
    };
    let metadata = metadata.unwrap_or_default();
    let name = metadata
        .get("name")
        .and_then(scalar_string)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let namespace = metadata
        .get("namespace")
        .and_then(scalar_string)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());

    // The `kind:namespace/name` label used in problems, as far as it is known.
    let label = match (&kind_str, &name) {
        (Some(k), Some(n)) => Some(format!("{}:{namespace}/{n}", k.to_ascii_lowercase())),
        _ => None,
    };

    let mut missing = Vec::new();
    if non_empty_str(&root, "apiVersion").is_none() {
        missing.push("apiVersion");
    }
    if kind_str.is_none() {
        missing.push("kind");
    }
    if name.is_none() {
        missing.push("metadata.name");
    }
    let (Some(kind_str), Some(name), true) = (kind_str, name, missing.is_empty()) else {
        return Err(problem(
            label,
            format!("{doc_label}: missing required field {}", missing.join(", ")),
        ));
    };
    let kind = Kind::parse(&kind_str);

    if let Err(r) = validate_name(&name) {
        return Err(problem(
            label,
            format!("metadata.name {name:?} is not a valid name: it {r}"),
        ));
    }
    if let Err(r) = validate_namespace(&namespace) {
        return Err(problem(
            label,
            format!("metadata.namespace {namespace:?} is not a valid namespace: it {r}"),
        ));
    }

    let spec = match root.remove("spec") {
        Some(Value::Object(s)) => s,
        None | Some(Value::Null) => Map::new(),
        Some(other) => {
            return Err(problem(
                label,
                format!("spec is {}, not a mapping", type_name(&other)),
            ));
        }
    };

    let mut missing_spec = Vec::new();
    for field in required_spec_fields(&kind) {
        let present = match (*field, spec.get(*field)) {
            // children may be an empty list, but must be a list
            ("children", Some(Value::Array(_))) => true,
            ("children", _) => false,
            // an API definition is text, or a `$text`/`$json`/`$yaml` placeholder
            ("definition", Some(Value::Object(m))) => !m.is_empty(),
            ("definition", None) => api_has_remotes(&spec),
            (_, Some(v)) => scalar_string(v).is_some_and(|s| !s.trim().is_empty()),
            (_, None) => false,
        };
        if !present {
            missing_spec.push(format!("spec.{field}"));
        }
    }
    if !missing_spec.is_empty() {
        return Err(problem(
            label,
            format!("missing required field {}", missing_spec.join(", ")),
        ));
    }

    let str_field = |key: &str| non_empty_str(&spec, key).map(str::to_string);
    let owner = match spec.get("owner") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            parse_ref(s, Some(Kind::Group), &namespace)
                .map_err(|e| problem(label.clone(), format!("spec.owner: {e}")))?,
        ),
        Some(other) => {
            return Err(problem(
                label,
                format!("spec.owner is {}, not a string", type_name(other)),
            ));
        }
    };
    let part_of_field = match kind {
        Kind::Component | Kind::Api | Kind::Resource => Some(("system", Kind::System)),
        Kind::System => Some(("domain", Kind::Domain)),
        _ => None,
    };
    let mut part_of: Option<EntityRef> = None;
    if let Some((field, default_kind)) = part_of_field {
        match spec.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                part_of = Some(
                    parse_ref(s, Some(default_kind), &namespace)
                        .map_err(|e| problem(label.clone(), format!("spec.{field}: {e}")))?,
                );
            }
            Some(other) => {
                return Err(problem(
                    label,
                    format!("spec.{field} is {}, not a string", type_name(other)),
                ));
            }
        }
    }

    let mut entity = Entity {
        kind,
        namespace: namespace.into(),
        name: name.into(),
        title: metadata.get("title").and_then(scalar_string),
        description: metadata
            .get("description")
            .and_then(scalar_string)
            .map(Name::from),
        labels: string_map(metadata.get("labels")),
        annotations: string_map(metadata.get("annotations")),
        tags: metadata
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(scalar_string).map(Name::from).collect())
            .unwrap_or_default(),
        links: links(metadata.get("links")),
        spec_type: str_field("type").map(Name::from),
        lifecycle: str_field("lifecycle").map(Name::from),
        owner,
        part_of,
        relations: Vec::new(),
        spec: Value::Object(spec).into(),
        source,
    };

    // Every other reference field must parse too, as Backstage's processors require.
    let (_, errors) = declared_refs(&entity);
    if let Some(first) = errors.into_iter().next() {
        return Err(problem(label, first));
    }

    let mut warnings = Vec::new();
    if let Kind::Other(k) = &entity.kind {
        warnings.push(Problem {
            severity: Severity::Warning,
            file: entity.source.file.clone(),
            entity: label,
            reason: format!("unknown kind {k:?}: loaded without kind-specific checks"),
        });
    }
    if entity.kind == Kind::Location {
        entity.spec_type = entity.spec_type.or_else(|| Some(Name::new("file")));
    }
    Ok((entity, warnings))
}

/// Newer Backstage API types (`mcp-server`, `ai-model-server`) describe the API by its
/// `remotes` instead of a `definition`; Backstage's own example catalog has such APIs.
fn api_has_remotes(spec: &Map<String, Value>) -> bool {
    spec.get("remotes")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn string_map(v: Option<&Value>) -> TextMap {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| scalar_string(v).map(|v| (k.clone(), v)))
                .collect()
        })
        .unwrap_or_default()
}

fn links(v: Option<&Value>) -> Vec<Link> {
    let Some(items) = v.and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let url = item.get("url").and_then(Value::as_str)?.trim().to_string();
            if url.is_empty() {
                return None;
            }
            Some(Link {
                url,
                title: item.get("title").and_then(scalar_string),
                icon: item.get("icon").and_then(scalar_string),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse(text: &str) -> ParsedFile {
        parse_documents(text, Path::new("dir/catalog-info.yaml"))
    }

    fn errors(p: &ParsedFile) -> Vec<&Problem> {
        p.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect()
    }

    const COMPONENT: &str = "\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments-api
  title: Payments API
  description: Takes money
  labels: {tier: '1', pci: true}
  annotations:
    github.com/project-slug: acme/payments-api
  tags: [java, payments]
  links:
    - url: https://grafana.example.com/d/payments
      title: Dashboard
      icon: dashboard
    - title: no url, dropped
spec:
  type: service
  lifecycle: production
  owner: team-payments
  system: checkout
  providesApis: [payments]
";

    #[test]
    fn parses_a_full_component() {
        let p = parse(COMPONENT);
        assert_eq!(p.problems, vec![]);
        assert_eq!(p.entities.len(), 1);
        let e = &p.entities[0];
        assert_eq!(e.kind, Kind::Component);
        assert_eq!(e.namespace, "default");
        assert_eq!(e.name, "payments-api");
        assert_eq!(e.title.as_deref(), Some("Payments API"));
        assert_eq!(e.description.as_deref(), Some("Takes money"));
        assert_eq!(e.labels.get("pci"), Some("true"));
        assert_eq!(e.labels.get("tier"), Some("1"));
        assert_eq!(
            e.annotation("github.com/project-slug"),
            Some("acme/payments-api")
        );
        assert_eq!(e.tags, vec!["java", "payments"]);
        assert_eq!(e.links.len(), 1);
        assert_eq!(e.links[0].icon.as_deref(), Some("dashboard"));
        assert_eq!(e.spec_type.as_deref(), Some("service"));
        assert_eq!(e.lifecycle.as_deref(), Some("production"));
        assert_eq!(
            e.owner,
            Some(EntityRef::new(Kind::Group, "default", "team-payments"))
        );
        assert_eq!(
            e.part_of,
            Some(EntityRef::new(Kind::System, "default", "checkout"))
        );
        assert_eq!(e.spec.value()["providesApis"][0], "payments");
        assert_eq!(e.source.file, PathBuf::from("dir/catalog-info.yaml"));
        assert_eq!(e.source.document, 0);
    }

    #[test]
    fn owner_and_system_default_to_the_entity_namespace() {
        let p = parse(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x, namespace: payments}\n\
             spec: {type: service, lifecycle: production, owner: 'user:jo', system: checkout}\n",
        );
        let e = &p.entities[0];
        assert_eq!(e.owner, Some(EntityRef::new(Kind::User, "payments", "jo")));
        assert_eq!(
            e.part_of,
            Some(EntityRef::new(Kind::System, "payments", "checkout"))
        );
    }

    #[test]
    fn system_is_part_of_a_domain() {
        let p = parse(
            "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata: {name: s}\nspec: {owner: t, domain: d}\n",
        );
        assert_eq!(
            p.entities[0].part_of,
            Some(EntityRef::new(Kind::Domain, "default", "d"))
        );
    }

    #[test]
    fn multi_document_with_empty_documents() {
        let text = format!(
            "---\n{COMPONENT}---\n---\n# only a comment\n---\napiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: jo\n...\n"
        );
        let p = parse(&text);
        assert_eq!(p.problems, vec![]);
        let names: Vec<_> = p.entities.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["payments-api", "jo"]);
        assert_eq!(p.entities[0].source.document, 0);
        assert_eq!(p.entities[1].source.document, 3);
        assert_eq!(p.entities[1].kind, Kind::User);
    }

    #[test]
    fn missing_fields_are_errors_and_the_entity_is_dropped() {
        let text = "\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: a}
spec: {type: service, owner: t}
---
kind: Component
metadata: {name: b}
spec: {type: service, lifecycle: production, owner: t}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: c}
spec: {type: openapi, lifecycle: production, owner: t}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: d}
spec: {type: team}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {}
spec: {type: database, owner: t}
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: e}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: ok}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: ok-user}
";
        let p = parse(text);
        let names: Vec<_> = p.entities.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["ok", "ok-user"]);
        let errs = errors(&p);
        let got: Vec<_> = errs
            .iter()
            .map(|p| (p.entity.as_deref(), p.reason.as_str()))
            .collect();
        assert_eq!(got.len(), 6, "{got:#?}");
        assert_eq!(got[0].0, Some("component:default/a"));
        assert!(got[0].1.contains("spec.lifecycle"), "{}", got[0].1);
        assert_eq!(got[1].0, Some("component:default/b"));
        assert!(got[1].1.contains("apiVersion"), "{}", got[1].1);
        assert_eq!(got[2].0, Some("api:default/c"));
        assert!(got[2].1.contains("spec.definition"), "{}", got[2].1);
        assert!(got[3].1.contains("spec.children"), "{}", got[3].1);
        assert_eq!(got[4].0, None);
        assert!(got[4].1.contains("metadata.name"), "{}", got[4].1);
        assert!(got[5].1.contains("spec.owner"), "{}", got[5].1);
        assert!(
            errs.iter()
                .all(|p| p.file == Path::new("dir/catalog-info.yaml"))
        );
    }

    #[test]
    fn api_definition_may_be_a_placeholder_or_remotes() {
        let p = parse(
            "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: a}\n\
             spec: {type: openapi, lifecycle: production, owner: t, definition: {$text: ./a.yaml}}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: b}\n\
             spec: {type: mcp-server, lifecycle: production, owner: t, remotes: [{type: streamable-http, url: 'http://x'}]}\n",
        );
        assert_eq!(p.problems, vec![]);
        assert_eq!(p.entities.len(), 2);
    }

    #[test]
    fn invalid_name_is_an_error_naming_the_entity() {
        let p = parse(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: invalid component\n\
             spec: {type: service, lifecycle: production, owner: 'user:guest'}\n",
        );
        assert!(p.entities.is_empty());
        assert_eq!(p.problems.len(), 1);
        let e = &p.problems[0];
        assert_eq!(e.severity, Severity::Error);
        assert_eq!(
            e.entity.as_deref(),
            Some("component:default/invalid component")
        );
        assert!(e.reason.contains("contains a space"), "{}", e.reason);
    }

    #[test]
    fn invalid_references_are_errors() {
        let p = parse(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a}\n\
             spec: {type: service, lifecycle: production, owner: 'a:b:c'}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: b}\n\
             spec: {type: service, lifecycle: production, owner: t, dependsOn: ['resource:bad name']}\n",
        );
        assert!(p.entities.is_empty());
        assert_eq!(errors(&p).len(), 2);
        assert!(p.problems[0].reason.contains("spec.owner"));
        assert!(p.problems[1].reason.contains("spec.dependsOn"));
    }

    #[test]
    fn bad_yaml_reports_line_and_keeps_other_documents() {
        let text = "\
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: first}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: [unclosed
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: third}
";
        let p = parse(text);
        let names: Vec<_> = p.entities.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["first", "third"]);
        assert_eq!(p.entities[1].source.document, 2);
        assert_eq!(p.problems.len(), 1);
        let e = &p.problems[0];
        assert_eq!(e.severity, Severity::Error);
        assert_eq!(e.entity, None);
        assert!(
            e.reason.starts_with("document 2: invalid YAML"),
            "{}",
            e.reason
        );
        // The error is on line 9 of the file (the document starts on line 4).
        assert!(e.reason.contains("line 9"), "{}", e.reason);
    }

    #[test]
    fn not_a_mapping_is_an_error() {
        let p = parse("- a\n- b\n---\njust text\n");
        assert!(p.entities.is_empty());
        assert_eq!(p.problems.len(), 2);
        assert!(p.problems[0].reason.contains("a list, not a mapping"));
        assert!(p.problems[1].reason.contains("a string, not a mapping"));
    }

    #[test]
    fn unknown_kind_loads_with_a_warning() {
        let p = parse(
            "apiVersion: backstage.io/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec: {lifecycle: dev}\n",
        );
        assert_eq!(p.entities.len(), 1);
        assert_eq!(p.entities[0].kind, Kind::Other("Environment".into()));
        assert_eq!(p.problems.len(), 1);
        assert_eq!(p.problems[0].severity, Severity::Warning);
        assert_eq!(
            p.problems[0].entity.as_deref(),
            Some("environment:default/dev")
        );
        assert!(p.problems[0].reason.contains("unknown kind"));
    }

    #[test]
    fn template_kind_is_recognised() {
        let p = parse(
            "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: springboot}\n\
             spec: {owner: t, type: service, steps: [], parameters: []}\n",
        );
        assert_eq!(p.problems, vec![]);
        assert_eq!(p.entities[0].kind, Kind::Template);
        assert!(p.entities[0].owner.is_some());
    }

    #[test]
    fn unknown_fields_are_tolerated_and_kept_in_spec() {
        let p = parse(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nstatus: {x: 1}\n\
             metadata: {name: a, uid: 123, etag: abc}\n\
             spec: {type: service, lifecycle: production, owner: t, profile: {deep: [1, 2.5, true, null]}, 200: ok}\n",
        );
        assert_eq!(p.problems, vec![]);
        let spec = p.entities[0].spec.value();
        assert_eq!(spec["profile"]["deep"][1], 2.5);
        assert_eq!(spec["200"], "ok");
    }

    #[test]
    fn location_targets_are_collected() {
        let p = parse(
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: all}\n\
             spec: {target: ./one.yaml, targets: [./two.yaml, ' ../three.yaml ']}\n",
        );
        assert_eq!(
            p.location_targets,
            vec!["./one.yaml", "./two.yaml", "../three.yaml"]
        );
        assert_eq!(p.entities[0].kind, Kind::Location);
        assert_eq!(p.entities[0].spec_type.as_deref(), Some("file"));
    }

    #[test]
    fn block_scalars_with_dashes_inside_stay_one_document() {
        let p = parse(
            "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: a}\n\
             spec:\n  type: openapi\n  lifecycle: production\n  owner: t\n  definition: |\n    ---\n    openapi: 3.0.0\n",
        );
        assert_eq!(p.problems, vec![]);
        assert_eq!(
            p.entities[0].spec.value()["definition"],
            "---\nopenapi: 3.0.0\n"
        );
    }

    #[test]
    fn empty_file_and_directive_preamble() {
        assert_eq!(parse(""), ParsedFile::default());
        assert_eq!(parse("---\n"), ParsedFile::default());
        let p = parse(
            "%YAML 1.2\n---\napiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: jo}\n",
        );
        assert_eq!(p.problems, vec![]);
        assert_eq!(p.entities.len(), 1);
    }
}
