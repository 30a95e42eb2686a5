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
use super::refs::{
    parse_descriptor_ref, validate_kind, validate_label_key, validate_name, validate_namespace,
    validate_tag,
};
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
    /// How many documents were entities too invalid to load (each has an Error problem).
    pub rejected: usize,
}

/// Parse every document of a (possibly multi-document) YAML file.
///
/// Invalid documents become problems; the other documents still load. Documents are split
/// on `---` / `...` marker lines first, so a syntax error in one document does not hide
/// the documents after it.
pub fn parse_documents(text: &str, file: &Path) -> ParsedFile {
    let mut out = ParsedFile::default();
    for chunk in split_documents(text) {
        if let Some(line) = nesting_beyond(chunk.text, MAX_NESTING) {
            out.problems.push(Problem {
                severity: Severity::Error,
                file: file.to_path_buf(),
                entity: None,
                reason: format!(
                    "document {}: nested deeper than {MAX_NESTING} levels at line {}, not parsed",
                    chunk.index + 1,
                    chunk.start_line + line
                ),
            });
            continue;
        }
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
            Ok(Doc::Foreign(p)) => out.problems.push(p),
            Ok(Doc::Entity(entity, warnings)) => {
                let entity = *entity;
                out.problems.extend(warnings);
                if entity.kind == Kind::Location {
                    out.location_targets.extend(location_targets(&entity));
                }
                out.entities.push(entity);
            }
            Err(p) => {
                out.rejected += 1;
                out.problems.push(p);
            }
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

/// Documents nested deeper than this are refused before parsing: the YAML parser takes
/// quadratic time on deep nesting, and no descriptor needs a tenth of it.
pub const MAX_NESTING: usize = 64;

/// The first line (1-based, in `text`) where the nesting of collections goes deeper than
/// `limit`, in one linear pass: flow collections (`[`, `{`) count one level each, block
/// collections one per indentation level. Quoted scalars, comments and block scalars
/// (`|`, `>`) are skipped, so text inside them never counts.
pub fn nesting_beyond(text: &str, limit: usize) -> Option<usize> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    // A block scalar's parent indentation: its content lines are deeper.
    let mut block_scalar: Option<usize> = None;
    for (no, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let body = line.trim();
        if let Some(parent) = block_scalar {
            if body.is_empty() || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        if quote.is_none() && flow == 0 {
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            while indents.last().is_some_and(|&i| i >= indent) {
                indents.pop();
            }
            indents.push(indent);
        }
        // `- - x` opens one block sequence per dash on one line.
        let mut extra = 0;
        let mut chars = line[indent..].chars().peekable();
        let mut prev = ' ';
        // At the start of a value: where a quote, a flow collection or a block
        // scalar indicator can begin.
        let mut at_value = true;
        while let Some(c) = chars.next() {
            if let Some(q) = quote {
                if c == q {
                    if q == '\'' && chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                } else if c == '\\' && q == '"' {
                    chars.next();
                }
                prev = c;
                continue;
            }
            match c {
                '#' if prev.is_whitespace() => break,
                '\'' | '"' if at_value => quote = Some(c),
                '[' | '{' if at_value || flow > 0 => flow += 1,
                ']' | '}' if flow > 0 => flow -= 1,
                '|' | '>' if at_value && flow == 0 => {
                    block_scalar = Some(indent);
                    break;
                }
                '-' if at_value && flow == 0 && chars.peek().is_none_or(|n| *n == ' ') => {
                    extra += 1;
                }
                _ => {}
            }
            at_value = match c {
                ' ' | '\t' => at_value,
                ':' | ',' | '[' | '{' | '?' => true,
                '-' => at_value && flow == 0,
                _ => false,
            };
            if c == ':' && chars.peek().is_some_and(|n| !n.is_whitespace()) && flow == 0 {
                at_value = false; // `a:b` is a plain scalar
            }
            prev = c;
            if indents.len() + flow + extra > limit {
                return Some(no + 1);
            }
        }
        if indents.len() + flow + extra > limit {
            return Some(no + 1);
        }
    }
    None
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

/// The apiVersions Backstage's processors accept for a known kind (none: any
/// `backstage.io` one, for kinds sphere does not know).
fn accepted_api_versions(kind: &Kind) -> &'static [&'static str] {
    match kind {
        Kind::Template => &["scaffolder.backstage.io/v1beta3"],
        Kind::Api => &[
            "backstage.io/v1alpha1",
            "backstage.io/v1beta1",
            "backstage.io/v1alpha2",
        ],
        Kind::Other(_) => &[],
        _ => &["backstage.io/v1alpha1", "backstage.io/v1beta1"],
    }
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
        Kind::Template => &["type", "steps"],
        Kind::User => &["memberOf"],
        _ => &[],
    }
}

/// What one document is.
enum Doc {
    /// A valid entity, and the warnings about it.
    Entity(Box<Entity>, Vec<Problem>),
    /// Not a Backstage entity (a Kubernetes manifest, a config file): a Warning, not loaded.
    Foreign(Problem),
}

/// The top-level fields Backstage's envelope schema allows (`additionalProperties: false`).
const ENVELOPE_FIELDS: [&str; 6] = [
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "relations",
    "status",
];

/// Is this the apiVersion of a Backstage entity: `backstage.io/...` or
/// `<something>.backstage.io/...` (`scaffolder.backstage.io/v1beta3`)?
pub fn is_backstage_api_version(v: &str) -> bool {
    match v.split_once('/') {
        Some((group, _)) => group == "backstage.io" || group.ends_with(".backstage.io"),
        None => false,
    }
}

/// The placeholders Backstage's `PlaceholderProcessor` resolves with its default
/// resolvers (`$text`, `$json`, `$yaml`) and the OpenAPI/AsyncAPI modules' (`$openapi`,
/// `$asyncapi`).
pub const PLACEHOLDERS: [&str; 5] = ["$text", "$json", "$yaml", "$openapi", "$asyncapi"];

/// A placeholder mapping (`{$text: ./api.yaml}`): its key and target, or why it is not one.
pub fn placeholder(m: &Map<String, Value>) -> Result<(&str, &str), String> {
    let mut keys = m.keys();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err("must be a string, or a mapping with exactly one placeholder key".into());
    };
    if !PLACEHOLDERS.contains(&key.as_str()) {
        return Err(if key.starts_with('$') {
            format!(
                "uses the unknown placeholder {key} (known: {})",
                PLACEHOLDERS.join(", ")
            )
        } else {
            format!("must be a string or a placeholder, not a mapping with the key {key:?}")
        });
    }
    match m.get(key) {
        Some(Value::String(t)) if !t.trim().is_empty() => Ok((key.as_str(), t.trim())),
        _ => Err(format!("placeholder {key} needs a non-empty string target")),
    }
}

/// Backstage's URL check is JavaScript's `new URL(value)`: a scheme and something after it.
fn is_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut c = scheme.chars();
    c.next().is_some_and(|c| c.is_ascii_alphabetic())
        && c.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

/// `metadata` checked as Backstage's `EntityMeta` schema and `FieldFormatEntityPolicy` do:
/// label and annotation keys, label values, tags and links.
fn check_metadata(metadata: &Map<String, Value>) -> Result<(), String> {
    for (field, value_rule) in [("labels", true), ("annotations", false)] {
        match metadata.get(field) {
            None => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    validate_label_key(k)
                        .map_err(|r| format!("metadata.{field} key {k:?} is not valid: it {r}"))?;
                    let Value::String(v) = v else {
                        return Err(format!(
                            "metadata.{field}.{k} must be a string, not {}",
                            type_name(v)
                        ));
                    };
                    if value_rule && !v.is_empty() {
                        validate_name(v).map_err(|r| {
                            format!("metadata.{field}.{k} value {v:?} is not valid: it {r}")
                        })?;
                    }
                }
            }
            Some(other) => {
                return Err(format!(
                    "metadata.{field} must be a mapping, not {}",
                    type_name(other)
                ));
            }
        }
    }
    match metadata.get("tags") {
        None => {}
        Some(Value::Array(tags)) => {
            for (i, t) in tags.iter().enumerate() {
                let Value::String(t) = t else {
                    return Err(format!(
                        "metadata.tags[{i}] must be a string, not {}",
                        type_name(t)
                    ));
                };
                validate_tag(t).map_err(|r| {
                    format!(
                        "metadata.tags[{i}] {t:?} is not a valid tag (lower-case letters, digits, ':', '+' and '#', joined by single '-'): it {r}"
                    )
                })?;
            }
        }
        Some(other) => {
            return Err(format!(
                "metadata.tags must be a list, not {}",
                type_name(other)
            ));
        }
    }
    match metadata.get("links") {
        None => {}
        Some(Value::Array(links)) => {
            for (i, l) in links.iter().enumerate() {
                let Value::Object(l) = l else {
                    return Err(format!(
                        "metadata.links[{i}] must be a mapping, not {}",
                        type_name(l)
                    ));
                };
                match l.get("url") {
                    Some(Value::String(u)) if is_url(u) => {}
                    Some(Value::String(u)) => {
                        return Err(format!("metadata.links[{i}].url {u:?} is not a URL"));
                    }
                    None => return Err(format!("metadata.links[{i}] has no url")),
                    Some(v) => {
                        return Err(format!(
                            "metadata.links[{i}].url must be a string, not {}",
                            type_name(v)
                        ));
                    }
                }
                match l.get("title") {
                    None => {}
                    Some(Value::String(t)) if !t.trim().is_empty() => {}
                    Some(_) => {
                        return Err(format!(
                            "metadata.links[{i}].title must be a non-empty string"
                        ));
                    }
                }
                match l.get("icon") {
                    None => {}
                    Some(Value::String(t)) if validate_name(t).is_ok() => {}
                    Some(v) => {
                        return Err(format!(
                            "metadata.links[{i}].icon {v} is not a valid icon name"
                        ));
                    }
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "metadata.links must be a list, not {}",
                type_name(other)
            ));
        }
    }
    // (`title` is no part of Backstage's EntityMeta schema, so any type passes there.)
    for field in ["namespace", "description", "uid", "etag"] {
        if let Some(v) = metadata.get(field)
            && !v.is_string()
        {
            return Err(format!(
                "metadata.{field} must be a string, not {}",
                type_name(v)
            ));
        }
    }
    Ok(())
}

/// Turn one document into an entity, a foreign document, or the Error problem that keeps
/// it out.
fn entity_from_value(doc: Value, source: Source, line: usize) -> Result<Doc, Problem> {
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

    // Only Backstage's own apiVersions are entities: a Kubernetes manifest or a config
    // file beside the descriptors is reported and left alone.
    let foreign = match root.get("apiVersion") {
        Some(Value::String(v)) if !v.trim().is_empty() => {
            (!is_backstage_api_version(v.trim())).then(|| format!("apiVersion {:?}", v.trim()))
        }
        None | Some(Value::Null) if !root.contains_key("kind") => {
            Some("no apiVersion and no kind".to_string())
        }
        _ => None,
    };
    if let Some(why) = foreign {
        let kind = match root.get("kind") {
            Some(Value::String(k)) => format!(", kind {k:?}"),
            _ => String::new(),
        };
        return Ok(Doc::Foreign(Problem {
            severity: Severity::Warning,
            file: file.clone(),
            entity: None,
            reason: format!(
                "{doc_label}: not a catalog entity ({why}{kind}; only backstage.io apiVersions are), not loaded"
            ),
        }));
    }

    let kind_str = match root.get("kind") {
        Some(Value::String(k)) if !k.trim().is_empty() => Some(k.trim().to_string()),
        None | Some(Value::Null) => None,
        Some(Value::String(_)) => None,
        Some(other) => {
            return Err(problem(
                None,
                format!(
                    "{doc_label}: kind must be a string, not {}",
                    type_name(other)
                ),
            ));
        }
    };
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
    let name = match metadata.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Some(other) => {
            return Err(problem(
                None,
                format!(
                    "{doc_label}: metadata.name must be a string, not {}",
                    type_name(other)
                ),
            ));
        }
    };
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());

    // The `kind:namespace/name` label used in problems, as far as it is known.
    let label = match (&kind_str, &name) {
        (Some(k), Some(n)) => Some(format!("{}:{namespace}/{n}", k.to_ascii_lowercase())),
        _ => None,
    };

    let mut missing = Vec::new();
    match root.get("apiVersion") {
        Some(Value::String(v)) if !v.trim().is_empty() => {}
        None | Some(Value::Null | Value::String(_)) => missing.push("apiVersion"),
        Some(other) => {
            return Err(problem(
                label,
                format!(
                    "{doc_label}: apiVersion must be a string, not {}",
                    type_name(other)
                ),
            ));
        }
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
    let mut unknown: Vec<&str> = root
        .keys()
        .map(String::as_str)
        .filter(|k| !ENVELOPE_FIELDS.contains(k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(problem(
            label,
            format!(
                "unknown top-level field{} {} (Backstage allows only {})",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", "),
                ENVELOPE_FIELDS.join(", ")
            ),
        ));
    }
    if let Err(r) = validate_kind(&kind_str) {
        return Err(problem(
            label,
            format!("kind {kind_str:?} is not a valid kind: it {r}"),
        ));
    }
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
    if let Err(r) = check_metadata(&metadata) {
        return Err(problem(label, r));
    }
    // Backstage's kind processors recognise a known kind only in their own apiVersions;
    // an entity no processor recognises is rejected.
    let api_version = root
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    let accepted = accepted_api_versions(&kind);
    if !accepted.is_empty() && !accepted.contains(&api_version) {
        return Err(problem(
            label,
            format!(
                "apiVersion {api_version:?} is not one Backstage accepts for kind {} ({})",
                kind.as_str(),
                accepted.join(", ")
            ),
        ));
    }
    for (field, want_list) in [("relations", true), ("status", false)] {
        match root.get(field) {
            None => {}
            Some(Value::Array(_)) if want_list => {}
            Some(Value::Object(_)) if !want_list => {}
            Some(other) => {
                return Err(problem(
                    label,
                    format!(
                        "{field} must be {}, not {}",
                        if want_list { "a list" } else { "a mapping" },
                        type_name(other)
                    ),
                ));
            }
        }
    }

    let spec = match root.remove("spec") {
        Some(Value::Object(s)) => s,
        // Every known kind's schema requires a spec (the required fields in it, when
        // the kind has some, are named below).
        None if kind.is_known() && required_spec_fields(&kind).is_empty() => {
            return Err(problem(label, "missing required field spec".into()));
        }
        None => Map::new(),
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
            // children may be an empty list, but must be a list; so must a Template's steps
            ("children" | "steps" | "memberOf", Some(Value::Array(_))) => true,
            ("children" | "steps" | "memberOf", _) => false,
            // an API definition is text, or a placeholder (checked below)
            ("definition", Some(Value::Object(_))) => true,
            ("definition", None) => api_has_remotes(&spec),
            (_, Some(Value::String(s))) => !s.trim().is_empty(),
            (_, _) => false,
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
    if kind == Kind::Api
        && let Some(Value::Object(m)) = spec.get("definition")
        && let Err(r) = placeholder(m)
    {
        return Err(problem(label, format!("spec.definition {r}")));
    }
    if kind == Kind::Location {
        for (i, t) in location_target_values(&spec).into_iter().enumerate() {
            if !matches!(t, Value::String(s) if !s.trim().is_empty()) {
                return Err(problem(
                    label,
                    format!("spec target {} must be a non-empty string", i + 1),
                ));
            }
        }
    }

    let str_field = |key: &str| non_empty_str(&spec, key).map(str::to_string);
    let owner = match (&kind, spec.get("owner")) {
        (_, None | Some(Value::Null)) => None,
        // A Location's spec has no owner field: whatever is there is not a reference.
        (Kind::Location, _) => None,
        // A Template's owner is any non-empty string (an e-mail address is fine).
        (Kind::Template, Some(Value::String(s))) => {
            parse_descriptor_ref(s, Some(Kind::Group), &namespace).ok()
        }
        (_, Some(Value::String(s))) => Some(
            parse_descriptor_ref(s, Some(Kind::Group), &namespace)
                .map_err(|e| problem(label.clone(), format!("spec.owner: {e}")))?,
        ),
        (_, Some(other)) => {
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
                    parse_descriptor_ref(s, Some(default_kind), &namespace)
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
    Ok(Doc::Entity(Box::new(entity), warnings))
}

/// `spec.target` and the items of `spec.targets`, as written.
fn location_target_values(spec: &Map<String, Value>) -> Vec<&Value> {
    let mut out: Vec<&Value> = spec.get("target").into_iter().collect();
    match spec.get("targets") {
        Some(Value::Array(ts)) => out.extend(ts),
        Some(other) => out.push(other),
        None => {}
    }
    out
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
  labels: {tier: '1', pci: 'true'}
  annotations:
    github.com/project-slug: acme/payments-api
  tags: [java, payments]
  links:
    - url: https://grafana.example.com/d/payments
      title: Dashboard
      icon: dashboard
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
            "---\n{COMPONENT}---\n---\n# only a comment\n---\napiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: jo\nspec: {{memberOf: []}}\n...\n"
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
spec: {memberOf: []}
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
             spec: {type: service, lifecycle: production, owner: 'group:'}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: b}\n\
             spec: {type: service, lifecycle: production, owner: t, dependsOn: ['resource:default/']}\n",
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
spec: {memberOf: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: [unclosed
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: third}
spec: {memberOf: []}
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
             metadata: {name: a, uid: '123', etag: abc}\n\
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
            "%YAML 1.2\n---\napiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: jo}\nspec: {memberOf: []}\n",
        );
        assert_eq!(p.problems, vec![]);
        assert_eq!(p.entities.len(), 1);
    }

    #[test]
    fn kubernetes_manifests_are_not_entities() {
        let p = parse(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: jo}\nspec: {memberOf: []}\n---\n\
             site_name: docs\nnav: [a]\n",
        );
        assert_eq!(p.entities.len(), 1, "{:#?}", p.problems);
        assert_eq!(p.rejected, 0);
        let got: Vec<_> = p
            .problems
            .iter()
            .map(|p| (p.severity, p.entity.clone(), p.reason.as_str()))
            .collect();
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(
            got.iter()
                .all(|g| g.0 == Severity::Warning && g.1.is_none())
        );
        assert!(got[0].2.starts_with("document 1 (line 1): not a catalog entity (apiVersion \"apps/v1\", kind \"Deployment\""), "{}", got[0].2);
        assert!(
            got[1].2.starts_with(
                "document 2 (line 5): not a catalog entity (apiVersion \"v1\", kind \"Service\""
            ),
            "{}",
            got[1].2
        );
        assert!(
            got[2].2.starts_with(
                "document 4 (line 14): not a catalog entity (no apiVersion and no kind"
            ),
            "{}",
            got[2].2
        );
        // Templates are entities of the scaffolder's apiVersion.
        assert!(is_backstage_api_version("scaffolder.backstage.io/v1beta3"));
        assert!(!is_backstage_api_version("backstage.io.evil.com/v1"));
        assert!(!is_backstage_api_version("notbackstage.io/v1"));
    }

    fn reason_of(text: &str) -> String {
        let p = parse(text);
        assert!(p.entities.is_empty(), "{:#?}", p.entities);
        assert_eq!(p.problems.len(), 1, "{:#?}", p.problems);
        assert_eq!(p.problems[0].severity, Severity::Error);
        assert_eq!(p.rejected, 1);
        p.problems[0].reason.clone()
    }

    const HEAD: &str = "apiVersion: backstage.io/v1alpha1\nkind: User\n";

    #[test]
    fn the_envelope_is_checked_as_backstage_does() {
        let r = reason_of(&format!(
            "{HEAD}metadata: {{name: jo}}\nextra: 1\nalso: 2\n"
        ));
        assert!(r.starts_with("unknown top-level fields also, extra (Backstage allows only apiVersion, kind, metadata, spec, relations, status)"), "{r}");
        let r = reason_of(&format!("{HEAD}metadata:\n  name: {{first: jo}}\n"));
        assert!(
            r.ends_with("metadata.name must be a string, not a mapping"),
            "{r}"
        );
        let r = reason_of(&format!("{HEAD}metadata: {{name: 42}}\n"));
        assert!(
            r.ends_with("metadata.name must be a string, not a number"),
            "{r}"
        );
        let r =
            reason_of("apiVersion: backstage.io/v1alpha1\nkind: 'Us er'\nmetadata: {name: jo}\n");
        assert!(r.contains("kind \"Us er\" is not a valid kind"), "{r}");
        let r = reason_of(
            "apiVersion: backstage.io/v1beta2\nkind: Template\nmetadata: {name: t}\nspec: {type: x, steps: []}\n",
        );
        assert!(r.starts_with("apiVersion \"backstage.io/v1beta2\" is not one Backstage accepts for kind Template (scaffolder.backstage.io/v1beta3)"), "{r}");
        let r =
            reason_of("apiVersion: catalog.backstage.io/v1\nkind: User\nmetadata: {name: jo}\n");
        assert!(
            r.contains("is not one Backstage accepts for kind User"),
            "{r}"
        );
        // Users list their groups (possibly none); every known kind has a spec.
        let r = reason_of(&format!("{HEAD}metadata: {{name: jo}}\nspec: {{}}\n"));
        assert_eq!(r, "missing required field spec.memberOf");
        let r =
            reason_of("apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\n");
        assert_eq!(r, "missing required field spec");
        let r = reason_of(&format!("{HEAD}metadata: {{name: jo}}\nspec: [a]\n"));
        assert!(r.contains("spec is a list"), "{r}");
    }

    #[test]
    fn labels_annotations_tags_and_links_follow_backstages_rules() {
        let ok = parse(&format!(
            "{HEAD}metadata:\n  name: jo\n  labels: {{backstage.io/custom: ValueStuff, tier: '', a.b-c_d: x}}\n  \
             annotations: {{example.com/bindings: 'any text: at all', plain: x}}\n  tags: [java, data-1, c++, 'c#', 'k8s:v1']\n  \
             links: [{{url: 'https://x.example', title: Admin, icon: dashboard}}]\nspec: {{memberOf: []}}\n"
        ));
        assert_eq!(ok.problems, vec![]);
        for (meta, want) in [
            (
                "labels: {pci: true}",
                "metadata.labels.pci must be a string, not a boolean",
            ),
            (
                "labels: {tier: 'gold star'}",
                "metadata.labels.tier value \"gold star\" is not valid",
            ),
            (
                "labels: {'a/b/c': x}",
                "metadata.labels key \"a/b/c\" is not valid: it contains more than one '/'",
            ),
            (
                "labels: {'Bad_Prefix/x': y}",
                "metadata.labels key \"Bad_Prefix/x\" is not valid",
            ),
            (
                "labels: {'-x': y}",
                "metadata.labels key \"-x\" is not valid",
            ),
            (
                "annotations: {'a b': x}",
                "metadata.annotations key \"a b\" is not valid",
            ),
            (
                "annotations: {n: 1}",
                "metadata.annotations.n must be a string, not a number",
            ),
            (
                "tags: [Java]",
                "metadata.tags[0] \"Java\" is not a valid tag",
            ),
            (
                "tags: [a--b]",
                "metadata.tags[0] \"a--b\" is not a valid tag",
            ),
            ("links: [{title: x}]", "metadata.links[0] has no url"),
            (
                "links: [{url: not-a-url}]",
                "metadata.links[0].url \"not-a-url\" is not a URL",
            ),
        ] {
            let r = reason_of(&format!("{HEAD}metadata:\n  name: jo\n  {meta}\n"));
            assert!(r.starts_with(want), "{meta}: {r}");
        }
    }

    #[test]
    fn owners_per_kind() {
        let p = parse(
            "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: t}\n\
             spec: {owner: jo@example.com, type: service, steps: []}\n---\n\
             apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: t2}\n\
             spec: {owner: 'group:', type: service, steps: []}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\n\
             spec: {owner: 'not a:ref:at all', targets: [./a.yaml]}\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c}\n\
             spec: {type: app, lifecycle: production, owner: adrien.nortain@zenika.com}\n",
        );
        assert_eq!(p.problems, vec![]);
        let owners: Vec<_> = p
            .entities
            .iter()
            .map(|e| e.owner.as_ref().map(|o| o.to_string()))
            .collect();
        assert_eq!(
            owners,
            vec![
                Some("group:default/jo@example.com".to_string()),
                None,
                None,
                // accepted as Backstage does; it can never resolve (a dangling reference)
                Some("group:default/adrien.nortain@zenika.com".to_string()),
            ]
        );
        let r = reason_of(
            "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: t}\nspec: {type: service}\n",
        );
        assert!(r.contains("missing required field spec.steps"), "{r}");
    }

    #[test]
    fn api_definition_placeholders() {
        for (def, want) in [
            ("{$text: ./a.yaml}", None),
            ("{$openapi: ./a.yaml}", None),
            ("{$asyncapi: 'https://x.example/a.yaml'}", None),
            (
                "{$foo: ./a.yaml}",
                Some("spec.definition uses the unknown placeholder $foo"),
            ),
            (
                "{$text: ./a, $json: ./b}",
                Some(
                    "spec.definition must be a string, or a mapping with exactly one placeholder key",
                ),
            ),
            (
                "{openapi: 3.0.0}",
                Some("spec.definition must be a string or a placeholder"),
            ),
            (
                "{$text: ''}",
                Some("spec.definition placeholder $text needs a non-empty string target"),
            ),
        ] {
            let text = format!(
                "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {{name: a}}\n\
                 spec: {{type: openapi, lifecycle: production, owner: t, definition: {def}}}\n"
            );
            match want {
                None => assert_eq!(parse(&text).problems, vec![], "{def}"),
                Some(w) => {
                    let r = reason_of(&text);
                    assert!(r.starts_with(w), "{def}: {r}");
                }
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!(
            "{HEAD}metadata: {{name: jo}}\nspec:\n  x: {}{}\n",
            "[".repeat(200),
            "]".repeat(200)
        );
        let p = parse(&deep);
        assert!(p.entities.is_empty());
        assert_eq!(p.problems.len(), 1, "{:#?}", p.problems);
        assert!(
            p.problems[0]
                .reason
                .starts_with("document 1: nested deeper than 64 levels at line 5"),
            "{}",
            p.problems[0].reason
        );
        let mut block = format!("{HEAD}metadata: {{name: jo}}\nspec:\n");
        for i in 0..80 {
            block.push_str(&format!("{}k{i}:\n", " ".repeat(2 * (i + 1))));
        }
        assert!(
            parse(&block).problems[0]
                .reason
                .contains("nested deeper than 64 levels")
        );
        // Brackets in quotes, comments and block scalars do not count.
        let fine = format!(
            "{HEAD}metadata:\n  name: jo\n  description: '{}'\n  # {}\nspec:\n  memberOf: []\n  text: |\n    {}\n  more: \"{}\"\n",
            "[".repeat(100),
            "{".repeat(100),
            "[".repeat(100),
            "{".repeat(100)
        );
        assert_eq!(parse(&fine).problems, vec![]);
    }
}
