//! Which service a workload belongs to. By default the `[kubernetes] service_label`
//! label's value names it; a catalog Component may instead say how its workloads are
//! found, the way Backstage's Kubernetes plugin reads the same annotations:
//!
//! - `backstage.io/kubernetes-label-selector: 'app=web,tier in (frontend)'`: the
//!   workloads matching that selector are the Component's;
//! - `backstage.io/kubernetes-id: billing-legacy`: the workloads labelled
//!   `backstage.io/kubernetes-id=billing-legacy` are.
//!
//! A workload matched by a selector belongs to that Component (the first one by name
//! when several match); else one with the id label belongs to the Component of that id;
//! else its service label names the service.

use std::collections::{BTreeMap, HashMap};

use kube::core::{Expression, Selector, SelectorExt};

use crate::domain::catalog::Catalog;
use crate::domain::catalog::model::Kind;

/// The annotation (and the workload label) of a Component's Kubernetes id.
pub const KUBERNETES_ID: &str = "backstage.io/kubernetes-id";
/// The annotation holding a Component's own label selector.
pub const LABEL_SELECTOR: &str = "backstage.io/kubernetes-label-selector";

/// Workload labels → service, built from the service label and the catalog.
#[derive(Clone, Debug, Default)]
pub struct Mapping {
    label: String,
    /// `backstage.io/kubernetes-id` value → service.
    ids: HashMap<String, String>,
    /// Component selectors, in service order: (service, selector).
    selectors: Vec<(String, Selector)>,
    /// Annotations that could not be used, each naming the entity and the reason.
    pub problems: Vec<String>,
}

impl Mapping {
    /// Only the service label.
    pub fn by_label(label: &str) -> Self {
        Mapping {
            label: label.to_string(),
            ..Mapping::default()
        }
    }

    /// The service label plus the annotations of the catalog's Components. An
    /// annotation that cannot be used is a problem of its own; that Component's
    /// workloads are then found by the service label.
    pub fn from_catalog(label: &str, catalog: &Catalog) -> Self {
        let mut out = Mapping::by_label(label);
        let mut components: Vec<_> = catalog.of_kind(&Kind::Component).collect();
        components.sort_by(|a, b| a.name.cmp(&b.name));
        for entity in components {
            let name = entity.name.to_string();
            if let Some(text) = entity.annotation(LABEL_SELECTOR) {
                match parse_selector(text) {
                    Ok(selector) if !selector.selects_all() => {
                        out.selectors.push((name, selector));
                        continue;
                    }
                    Ok(_) => out.problems.push(format!(
                        "component {name}: {LABEL_SELECTOR} is empty: it would select every workload"
                    )),
                    Err(e) => out
                        .problems
                        .push(format!("component {name}: {LABEL_SELECTOR} {text:?}: {e}")),
                }
            }
            if let Some(id) = entity.annotation(KUBERNETES_ID) {
                let id = id.trim();
                if id.is_empty() {
                    out.problems
                        .push(format!("component {name}: {KUBERNETES_ID} is empty"));
                    continue;
                }
                match out.ids.get(id) {
                    Some(first) => out.problems.push(format!(
                        "component {name}: {KUBERNETES_ID} {id:?} is already the id of {first}"
                    )),
                    None => {
                        out.ids.insert(id.to_string(), name);
                    }
                }
            }
        }
        out
    }

    /// The service label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether only the service label maps workloads (no Component has a usable
    /// annotation).
    pub fn label_only(&self) -> bool {
        self.ids.is_empty() && self.selectors.is_empty()
    }

    /// The service a workload with these labels belongs to, if any.
    pub fn service(&self, labels: Option<&BTreeMap<String, String>>) -> Option<String> {
        let labels = labels?;
        if let Some((service, _)) = self.selectors.iter().find(|(_, s)| s.matches(labels)) {
            return Some(service.clone());
        }
        if let Some(service) = labels.get(KUBERNETES_ID).and_then(|id| self.ids.get(id)) {
            return Some(service.clone());
        }
        labels.get(&self.label).cloned()
    }

    /// The label selector to list and watch with: only workloads carrying the service
    /// label when nothing else maps them; else none (the namespace scope still
    /// applies) and [`Mapping::service`] decides.
    pub fn watch_selector(&self) -> Option<String> {
        self.label_only().then(|| self.label.clone())
    }

    /// The label selector of one service's workloads: its Component's selector, else
    /// its Kubernetes id, else the service label.
    pub fn selector_of(&self, service: &str) -> String {
        if let Some((_, selector)) = self.selectors.iter().find(|(s, _)| s == service) {
            return selector.to_string();
        }
        if let Some((id, _)) = self.ids.iter().find(|(_, s)| *s == service) {
            return format!("{KUBERNETES_ID}={id}");
        }
        format!("{}={service}", self.label)
    }
}

/// Parses a Kubernetes label selector: comma-separated `key`, `!key`, `key=value`,
/// `key==value`, `key!=value`, `key in (a,b)` and `key notin (a,b)`.
pub fn parse_selector(text: &str) -> Result<Selector, String> {
    let mut exprs = Vec::new();
    for part in split_top_level(text)? {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        exprs.push(parse_requirement(part)?);
    }
    Ok(exprs.into_iter().collect())
}

/// Splits at the commas outside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ')' at {}", i + 1))?;
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".to_string());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_requirement(part: &str) -> Result<Expression, String> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Expression::DoesNotExist(checked_key(key.trim())?));
    }
    if let Some((key, value)) = part.split_once("!=") {
        return Ok(Expression::NotEqual(
            checked_key(key.trim())?,
            checked_value(value.trim())?,
        ));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Expression::Equal(
            checked_key(key.trim())?,
            checked_value(value.trim())?,
        ));
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    let rest = words.next().unwrap_or_default().trim_start();
    if rest.is_empty() {
        return Ok(Expression::Exists(checked_key(key)?));
    }
    let (op, list) = rest
        .split_once(char::is_whitespace)
        .map(|(op, list)| (op, list.trim()))
        .or_else(|| rest.find('(').map(|i| (rest[..i].trim(), &rest[i..])))
        .ok_or_else(|| format!("{part:?} is not a requirement"))?;
    let values = list
        .strip_prefix('(')
        .and_then(|l| l.strip_suffix(')'))
        .ok_or_else(|| format!("{part:?}: the values of {op:?} go in parentheses"))?
        .split(',')
        .map(|v| checked_value(v.trim()))
        .collect::<Result<_, _>>()?;
    let key = checked_key(key)?;
    match op {
        "in" => Ok(Expression::In(key, values)),
        "notin" => Ok(Expression::NotIn(key, values)),
        _ => Err(format!("{op:?} is not an operator (=, ==, !=, in, notin)")),
    }
}

/// A label key: `[prefix/]name`, the name 1–63 of alphanumerics, `-`, `_`, `.`.
fn checked_key(key: &str) -> Result<String, String> {
    let name = key.rsplit_once('/').map_or(key, |(_, n)| n);
    let ok = !name.is_empty()
        && name.len() <= 63
        && key.len() <= 253 + 1 + 63
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if ok {
        Ok(key.to_string())
    } else {
        Err(format!("{key:?} is not a label key"))
    }
}

/// A label value: empty, or up to 63 alphanumerics, `-`, `_`, `.`.
fn checked_value(value: &str) -> Result<String, String> {
    let ok = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(value.to_string())
    } else {
        Err(format!("{value:?} is not a label value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::load::{EmbeddedReader, load};

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_parse_and_match() {
        let s = parse_selector("app=web, tier in (frontend, edge),!canary,env!=dev,team")
            .expect("parses");
        assert!(s.matches(&labels(&[
            ("app", "web"),
            ("tier", "edge"),
            ("env", "prod"),
            ("team", "x")
        ])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "edge"),
            ("team", "x"),
            ("canary", "1")
        ])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "back"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "edge"), ("env", "dev")])));
        let s = parse_selector("app.kubernetes.io/name==a,x notin (1,2)").expect("parses");
        assert!(s.matches(&labels(&[("app.kubernetes.io/name", "a"), ("x", "3")])));
        assert!(!s.matches(&labels(&[("app.kubernetes.io/name", "a"), ("x", "2")])));

        for bad in [
            "app=(web",
            "tier in frontend",
            "a b c",
            "app=we b",
            "tier like (a)",
        ] {
            assert!(parse_selector(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn the_catalog_annotations_decide_before_the_label() {
        let files = [
            (
                "a.yaml",
                "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: billing\n  annotations:\n    backstage.io/kubernetes-id: billing-legacy\nspec:\n  type: service\n  owner: team-a\n  lifecycle: production\n",
            ),
            (
                "b.yaml",
                "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: web\n  annotations:\n    backstage.io/kubernetes-label-selector: 'app=web,tier in (frontend)'\nspec:\n  type: website\n  owner: team-a\n  lifecycle: production\n",
            ),
            (
                "c.yaml",
                "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: broken\n  annotations:\n    backstage.io/kubernetes-label-selector: 'app in web'\nspec:\n  type: service\n  owner: team-a\n  lifecycle: production\n",
            ),
        ];
        let catalog = load(
            &["a.yaml".into(), "b.yaml".into(), "c.yaml".into()],
            &EmbeddedReader::new(files),
        );
        let m = Mapping::from_catalog("app.kubernetes.io/name", &catalog);
        assert!(!m.label_only());
        assert_eq!(m.watch_selector(), None);
        assert_eq!(m.problems.len(), 1, "{:?}", m.problems);
        assert!(m.problems[0].contains("broken"), "{:?}", m.problems);

        let svc = |pairs: &[(&str, &str)]| m.service(Some(&labels(pairs)));
        assert_eq!(
            svc(&[("backstage.io/kubernetes-id", "billing-legacy")]).as_deref(),
            Some("billing")
        );
        assert_eq!(
            svc(&[
                ("app", "web"),
                ("tier", "frontend"),
                ("app.kubernetes.io/name", "x")
            ])
            .as_deref(),
            Some("web")
        );
        assert_eq!(svc(&[("app", "web"), ("tier", "backend")]), None);
        assert_eq!(
            svc(&[("app.kubernetes.io/name", "search")]).as_deref(),
            Some("search")
        );
        assert_eq!(svc(&[("backstage.io/kubernetes-id", "unknown")]), None);
        assert_eq!(
            m.selector_of("billing"),
            "backstage.io/kubernetes-id=billing-legacy"
        );
        assert_eq!(m.selector_of("web"), "app=web,tier in (frontend)");
        assert_eq!(m.selector_of("search"), "app.kubernetes.io/name=search");

        let plain = Mapping::by_label("app.kubernetes.io/name");
        assert_eq!(
            plain.watch_selector().as_deref(),
            Some("app.kubernetes.io/name")
        );
    }
}
