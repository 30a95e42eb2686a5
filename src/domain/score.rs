//! Capability C11: the readiness score. Port-style scorecards (JSON) evaluated against a
//! flat map of properties built from a service's evidence.
//!
//! A scorecard:
//!
//! ```json
//! { "identifier": "production-readiness", "title": "Production readiness",
//!   "levels": [{ "title": "Bronze", "color": "bronze" }, { "title": "Silver" }, { "title": "Gold" }],
//!   "rules": [{ "identifier": "has-owner", "title": "Owner set", "level": "Bronze",
//!               "query": { "combinator": "and",
//!                          "conditions": [{ "property": "owner", "operator": "isNotEmpty" }] } }] }
//! ```
//!
//! Operators: `=` `!=` `>` `>=` `<` `<=` (numbers), `isEmpty` `isNotEmpty` (no value),
//! `contains` `doesNotContains` (text or list), `beginsWith` `doesNotBeginsWith`
//! `endsWith` `doesNotEndsWith` (text), `in` `notIn` (value is a list). Combinators:
//! `and`, `or`. Levels are listed lowest first; an entity reaches a level only when it
//! passes every rule of that level and of every level below (a level with no rules, like
//! Port's "Basic", is reached for free). `level` is `None` below the first level.
//!
//! Properties (see [`properties`]): `name`, `title`, `kind`, `namespace`, `type`,
//! `lifecycle`, `owner`, `system`, `description`, `tags`, `links` (URLs),
//! `annotations.<key>`, `labels.<key>`, `repo`, `repo_exists`, `ci_workflow`, `workflows`,
//! `design_doc`, `oncall` (the `pagerduty.com/service-id` annotation, else the URL of a
//! link titled on-call or PagerDuty), `core_packages_current` (from the backend's facts:
//! the `sphere.dev/core-packages` annotation, or the demo's derivation; not set when
//! unknown), `deployments`, `regions_in_production`, `all_regions_in_production`,
//! `regions_in_staging`, `resources_missing`, `secret_drift` (number of drift findings,
//! see [`secret_drift`]). A property that does not exist is null: `isEmpty` holds.
//!
//! Pure: no I/O. Loading the file is the caller's business; [`parse_scorecard`] names it.

use crate::domain::environment::EnvKind;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::lifecycle::{DESIGN_DOC_ANNOTATION, ServiceEvidence};
use super::name::Name;
use super::platform::{SecretMeta, Topology};

/// The scorecard shipped in the binary.
pub const BUILTIN_SCORECARD: &str = include_str!("../../assets/scorecard.json");
/// How error messages name the built-in scorecard.
pub const BUILTIN_SCORECARD_NAME: &str = "assets/scorecard.json (built in)";
/// The PagerDuty annotation used for `oncall`.
pub const PAGERDUTY_ANNOTATION: &str = "pagerduty.com/service-id";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scorecard {
    pub identifier: String,
    pub title: String,
    pub levels: Vec<Level>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Level {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub identifier: String,
    pub title: String,
    pub level: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub query: Query,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Query {
    pub combinator: Combinator,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Combinator {
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub property: String,
    pub operator: Operator,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operator {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "isEmpty")]
    IsEmpty,
    #[serde(rename = "isNotEmpty")]
    IsNotEmpty,
    #[serde(rename = "contains")]
    Contains,
    #[serde(rename = "doesNotContains")]
    DoesNotContain,
    #[serde(rename = "beginsWith")]
    BeginsWith,
    #[serde(rename = "doesNotBeginsWith")]
    DoesNotBeginWith,
    #[serde(rename = "endsWith")]
    EndsWith,
    #[serde(rename = "doesNotEndsWith")]
    DoesNotEndWith,
    #[serde(rename = "in")]
    In,
    #[serde(rename = "notIn")]
    NotIn,
}

impl Operator {
    const ALL: [Operator; 16] = [
        Operator::Eq,
        Operator::Ne,
        Operator::Gt,
        Operator::Ge,
        Operator::Lt,
        Operator::Le,
        Operator::IsEmpty,
        Operator::IsNotEmpty,
        Operator::Contains,
        Operator::DoesNotContain,
        Operator::BeginsWith,
        Operator::DoesNotBeginWith,
        Operator::EndsWith,
        Operator::DoesNotEndWith,
        Operator::In,
        Operator::NotIn,
    ];

    /// The spelling in scorecard files.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::Ne => "!=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::IsEmpty => "isEmpty",
            Operator::IsNotEmpty => "isNotEmpty",
            Operator::Contains => "contains",
            Operator::DoesNotContain => "doesNotContains",
            Operator::BeginsWith => "beginsWith",
            Operator::DoesNotBeginWith => "doesNotBeginsWith",
            Operator::EndsWith => "endsWith",
            Operator::DoesNotEndWith => "doesNotEndsWith",
            Operator::In => "in",
            Operator::NotIn => "notIn",
        }
    }

    pub fn parse(s: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|o| o.as_str() == s)
    }

    fn takes_value(self) -> bool {
        !matches!(self, Operator::IsEmpty | Operator::IsNotEmpty)
    }

    fn numeric(self) -> bool {
        matches!(
            self,
            Operator::Gt | Operator::Ge | Operator::Lt | Operator::Le
        )
    }
}

/// A scorecard that cannot be used: the file, the JSON path (`$.rules[2].level`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {path}: {reason}")]
pub struct ScorecardError {
    pub file: String,
    pub path: String,
    pub reason: String,
}

/// The built-in scorecard (`assets/scorecard.json`).
pub fn builtin_scorecard() -> Result<Scorecard, ScorecardError> {
    parse_scorecard(BUILTIN_SCORECARD_NAME, BUILTIN_SCORECARD)
}

/// Parse and check a scorecard. `file` names it in errors.
pub fn parse_scorecard(file: &str, text: &str) -> Result<Scorecard, ScorecardError> {
    let p = Parser { file };
    let root: Value = serde_json::from_str(text).map_err(|e| {
        p.err(
            "$",
            format!(
                "not valid JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    p.scorecard(&root)
}

struct Parser<'a> {
    file: &'a str,
}

impl Parser<'_> {
    fn err(&self, path: &str, reason: impl Into<String>) -> ScorecardError {
        ScorecardError {
            file: self.file.to_string(),
            path: path.to_string(),
            reason: reason.into(),
        }
    }

    fn object<'v>(
        &self,
        v: &'v Value,
        path: &str,
        allowed: &[&str],
    ) -> Result<&'v Map<String, Value>, ScorecardError> {
        let Value::Object(m) = v else {
            return Err(self.err(path, format!("expected an object, found {}", type_name(v))));
        };
        if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(self.err(
                &format!("{path}.{k}"),
                format!("unknown field (expected one of {})", allowed.join(", ")),
            ));
        }
        Ok(m)
    }

    fn string(
        &self,
        m: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<String, ScorecardError> {
        match self.opt_string(m, key, path)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(self.err(&format!("{path}.{key}"), "must not be empty")),
            None => Err(self.err(&format!("{path}.{key}"), "missing")),
        }
    }

    fn opt_string(
        &self,
        m: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<String>, ScorecardError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(
                &format!("{path}.{key}"),
                format!("expected a string, found {}", type_name(v)),
            )),
        }
    }

    fn array<'v>(
        &self,
        m: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<&'v [Value], ScorecardError> {
        match m.get(key) {
            Some(Value::Array(a)) => Ok(a),
            None => Err(self.err(&format!("{path}.{key}"), "missing")),
            Some(v) => Err(self.err(
                &format!("{path}.{key}"),
                format!("expected an array, found {}", type_name(v)),
            )),
        }
    }

    fn scorecard(&self, v: &Value) -> Result<Scorecard, ScorecardError> {
        let m = self.object(
            v,
            "$",
            &[
                "identifier",
                "title",
                "levels",
                "rules",
                "blueprint",
                "description",
            ],
        )?;
        let identifier = self.string(m, "identifier", "$")?;
        let title = self
            .opt_string(m, "title", "$")?
            .unwrap_or_else(|| identifier.clone());
        let mut levels: Vec<Level> = Vec::new();
        for (i, lv) in self.array(m, "levels", "$")?.iter().enumerate() {
            let path = format!("$.levels[{i}]");
            let lm = self.object(lv, &path, &["title", "color"])?;
            let level = Level {
                title: self.string(lm, "title", &path)?,
                color: self.opt_string(lm, "color", &path)?,
            };
            if levels.iter().any(|l| l.title == level.title) {
                return Err(self.err(
                    &format!("{path}.title"),
                    format!("level {:?} is listed twice", level.title),
                ));
            }
            levels.push(level);
        }
        if levels.is_empty() {
            return Err(self.err("$.levels", "needs at least one level"));
        }
        let mut rules: Vec<Rule> = Vec::new();
        for (i, rv) in self.array(m, "rules", "$")?.iter().enumerate() {
            let rule = self.rule(rv, &format!("$.rules[{i}]"), &levels)?;
            if rules.iter().any(|r| r.identifier == rule.identifier) {
                return Err(self.err(
                    &format!("$.rules[{i}].identifier"),
                    format!("rule {:?} is defined twice", rule.identifier),
                ));
            }
            rules.push(rule);
        }
        Ok(Scorecard {
            identifier,
            title,
            levels,
            rules,
        })
    }

    fn rule(&self, v: &Value, path: &str, levels: &[Level]) -> Result<Rule, ScorecardError> {
        let m = self.object(
            v,
            path,
            &["identifier", "title", "level", "description", "query"],
        )?;
        let identifier = self.string(m, "identifier", path)?;
        let title = self
            .opt_string(m, "title", path)?
            .unwrap_or_else(|| identifier.clone());
        let level = self.string(m, "level", path)?;
        if !levels.iter().any(|l| l.title == level) {
            let names: Vec<&str> = levels.iter().map(|l| l.title.as_str()).collect();
            return Err(self.err(
                &format!("{path}.level"),
                format!(
                    "unknown level {level:?} (the levels are {})",
                    names.join(", ")
                ),
            ));
        }
        let description = self.opt_string(m, "description", path)?;
        let qpath = format!("{path}.query");
        let qv = m.get("query").ok_or_else(|| self.err(&qpath, "missing"))?;
        let query = self.query(qv, &qpath)?;
        Ok(Rule {
            identifier,
            title,
            level,
            description,
            query,
        })
    }

    fn query(&self, v: &Value, path: &str) -> Result<Query, ScorecardError> {
        let m = self.object(v, path, &["combinator", "conditions"])?;
        let combinator = match self.string(m, "combinator", path)?.as_str() {
            "and" => Combinator::And,
            "or" => Combinator::Or,
            other => {
                return Err(self.err(
                    &format!("{path}.combinator"),
                    format!("unknown combinator {other:?} (use \"and\" or \"or\")"),
                ));
            }
        };
        let mut conditions = Vec::new();
        for (i, cv) in self.array(m, "conditions", path)?.iter().enumerate() {
            conditions.push(self.condition(cv, &format!("{path}.conditions[{i}]"))?);
        }
        if conditions.is_empty() {
            return Err(self.err(
                &format!("{path}.conditions"),
                "needs at least one condition",
            ));
        }
        Ok(Query {
            combinator,
            conditions,
        })
    }

    fn condition(&self, v: &Value, path: &str) -> Result<Condition, ScorecardError> {
        let m = self.object(v, path, &["property", "operator", "value"])?;
        let property = self.string(m, "property", path)?;
        let op_text = self.string(m, "operator", path)?;
        let Some(operator) = Operator::parse(&op_text) else {
            let all: Vec<&str> = Operator::ALL.iter().map(|o| o.as_str()).collect();
            return Err(self.err(
                &format!("{path}.operator"),
                format!(
                    "unknown operator {op_text:?} (expected one of {})",
                    all.join(" ")
                ),
            ));
        };
        let value = m.get("value").cloned();
        let vpath = format!("{path}.value");
        match (&value, operator.takes_value()) {
            (Some(_), false) => {
                return Err(self.err(&vpath, format!("{op_text} takes no value")));
            }
            (None, true) => return Err(self.err(&vpath, format!("{op_text} needs a value"))),
            _ => {}
        }
        if operator.numeric() && !value.as_ref().is_some_and(Value::is_number) {
            return Err(self.err(&vpath, format!("{op_text} needs a number")));
        }
        if matches!(operator, Operator::In | Operator::NotIn)
            && !value.as_ref().is_some_and(Value::is_array)
        {
            return Err(self.err(&vpath, format!("{op_text} needs a list")));
        }
        if matches!(
            operator,
            Operator::BeginsWith
                | Operator::DoesNotBeginWith
                | Operator::EndsWith
                | Operator::DoesNotEndWith
        ) && !value.as_ref().is_some_and(Value::is_string)
        {
            return Err(self.err(&vpath, format!("{op_text} needs a string")));
        }
        Ok(Condition {
            property,
            operator,
            value,
        })
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The flat property map rules are evaluated against, with a human note per derived
/// property ("2 of 3 regions, missing ap-southeast-2") used in the `why` of a rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Properties {
    pub values: BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
}

impl Properties {
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.values.insert(key.into(), value.into());
        self
    }

    pub fn note(&mut self, key: impl Into<String>, note: impl Into<String>) -> &mut Self {
        self.notes.insert(key.into(), note.into());
        self
    }

    pub fn get(&self, key: &str) -> &Value {
        self.values.get(key).unwrap_or(&Value::Null)
    }
}

fn opt(s: Option<&str>) -> Value {
    match s.map(str::trim) {
        Some(s) if !s.is_empty() => Value::String(s.to_string()),
        _ => Value::Null,
    }
}

/// Build the property map of one service (see the module doc for the names).
pub fn properties(ev: &ServiceEvidence) -> Properties {
    let e = ev.entity;
    let mut p = Properties::default();
    p.set("name", e.name.as_str())
        .set("kind", e.kind.as_str())
        .set("namespace", e.namespace.as_str())
        .set("title", opt(e.title.as_deref()))
        .set("type", opt(e.spec_type.as_deref()))
        .set("lifecycle", opt(e.lifecycle.as_deref()))
        .set(
            "owner",
            opt(e.owner.as_ref().map(|o| o.to_string()).as_deref()),
        )
        .set(
            "system",
            opt(e.part_of.as_ref().map(|o| o.to_string()).as_deref()),
        )
        .set("description", opt(e.description.as_deref()))
        .set(
            "tags",
            e.tags.iter().map(Name::to_string).collect::<Vec<_>>(),
        )
        .set(
            "links",
            e.links.iter().map(|l| l.url.clone()).collect::<Vec<_>>(),
        )
        .set("design_doc", opt(e.annotation(DESIGN_DOC_ANNOTATION)));
    for (k, v) in &e.annotations {
        p.set(format!("annotations.{k}"), opt(Some(v)));
    }
    for (k, v) in &e.labels {
        p.set(format!("labels.{k}"), opt(Some(v)));
    }

    // On-call: the PagerDuty annotation, else a link titled on-call / PagerDuty.
    if let Some(id) = e
        .annotation(PAGERDUTY_ANNOTATION)
        .filter(|s| !s.trim().is_empty())
    {
        p.set("oncall", id).note(
            "oncall",
            format!("PagerDuty service {id} ({PAGERDUTY_ANNOTATION})"),
        );
    } else if let Some(l) = e.links.iter().find(|l| {
        l.title.as_deref().is_some_and(|t| {
            let t = t.to_lowercase();
            t.contains("on-call") || t.contains("oncall") || t.contains("pagerduty")
        })
    }) {
        p.set("oncall", l.url.as_str())
            .note("oncall", format!("on-call link {}", l.url));
    } else {
        p.set("oncall", Value::Null).note(
            "oncall",
            format!("no {PAGERDUTY_ANNOTATION} annotation and no on-call link"),
        );
    }

    // Repository and CI.
    p.set("repo", opt(ev.repo_slug));
    let repo = ev.repo.filter(|r| r.exists);
    p.set("repo_exists", repo.is_some());
    let workflows = repo.map(|r| r.workflows.to_vec()).unwrap_or_default();
    let slug = ev.repo_slug.unwrap_or("");
    let ci_note = match (ev.repo_slug, repo) {
        (None, _) => "no repository annotated".to_string(),
        (Some(s), None) => format!("repository {s} not found"),
        (Some(s), Some(_)) if workflows.is_empty() => format!("no workflow in {s}"),
        (Some(_), Some(_)) => format!("{} in {slug}", workflows.join(", ")),
    };
    p.set("ci_workflow", !workflows.is_empty())
        .note("ci_workflow", ci_note)
        .set("workflows", workflows);

    // Core packages.
    match ev.core_packages {
        Some(c) => p
            .set("core_packages_current", c.current)
            .note("core_packages_current", c.evidence.clone()),
        None => p.set("core_packages_current", Value::Null).note(
            "core_packages_current",
            "unknown: nothing says which core package versions it uses",
        ),
    };

    // Where it runs.
    p.set("deployments", ev.deployments.len());
    // The platform's production (its own name for it: `prd`, `production-eu`).
    let envs = &ev.topology.environments;
    let production = EnvKind::Production.in_environments(envs);
    let prod = ev.regions_in(&production);
    // The regions production runs in, not every region (staging may be in fewer).
    let prod_spans = ev.topology.regions_of(&production);
    let total = prod_spans.len();
    let missing: Vec<&str> = prod_spans
        .iter()
        .filter(|r| !prod.contains(r))
        .map(String::as_str)
        .collect();
    let region_note = if prod.is_empty() {
        format!("not in production (0 of {total} regions)")
    } else if missing.is_empty() {
        format!("{} of {total} regions", prod.len())
    } else {
        format!(
            "{} of {total} regions, missing {}",
            prod.len(),
            missing.join(", ")
        )
    };
    p.set("regions_in_production", prod.len())
        .note("regions_in_production", region_note.clone())
        .set(
            "all_regions_in_production",
            !prod.is_empty() && missing.is_empty(),
        )
        .note("all_regions_in_production", region_note)
        .set(
            "regions_in_staging",
            ev.regions_in(&EnvKind::Staging.in_environments(envs)).len(),
        )
        .set("resources_missing", ev.missing_resources.len());

    // Secret drift: unknown (null, so `= 0` fails) when a region could not be read, as
    // its secrets would all look missing.
    if let Some(why) = ev.unread("secrets") {
        p.note("secret_drift", format!("unknown: {why}"));
        return p;
    }
    let findings = secret_drift(ev.secrets, ev.topology);
    let drift_note = if findings.is_empty() {
        let keys: BTreeSet<&str> = ev.secrets.iter().map(|s| s.key.as_str()).collect();
        format!("no drift across {} secret(s)", keys.len())
    } else {
        let shown: Vec<&str> = findings.iter().take(3).map(String::as_str).collect();
        let more = findings.len().saturating_sub(3);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!("{} finding(s): {}{more}", findings.len(), shown.join("; "))
    };
    p.set("secret_drift", findings.len())
        .note("secret_drift", drift_note);
    p
}

/// Drift between the regions of one environment, for one service's secrets: a key
/// present in some regions of an environment but not all (the regions where any of the
/// service's secrets exist in that environment), a value that differs between regions
/// (by `value_hash`), or tags that differ. One finding per key, environment and kind,
/// sorted.
pub fn secret_drift(secrets: &[SecretMeta], topology: &Topology) -> Vec<String> {
    // One definition of drift for the whole product: `domain::drift`.
    crate::domain::drift::drift(secrets, topology)
        .into_iter()
        .map(|d| {
            let what = match d.kind {
                crate::domain::drift::DriftKind::Missing => "missing",
                crate::domain::drift::DriftKind::Extra => "extra",
                crate::domain::drift::DriftKind::ValueDiffers => "value differs",
                crate::domain::drift::DriftKind::TagsDiffer => "tags differ",
            };
            format!("{} {what} in {}/{}", d.key, d.env, d.regions.join(","))
        })
        .collect()
}

/// The outcome of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleResult {
    pub identifier: String,
    pub title: String,
    pub level: String,
    pub passed: bool,
    /// Why it passed or failed ("description is empty", "3 of 3 regions").
    pub why: String,
}

/// A service's score against one scorecard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScoreResult {
    /// The highest level reached; `None` when even the first level is not.
    pub level: Option<String>,
    /// Percent of rules passed, rounded down.
    pub score: u32,
    pub passed: usize,
    pub total: usize,
    pub rules: Vec<RuleResult>,
}

impl ScoreResult {
    /// The failing rules that stand between the service and its next level.
    pub fn blocking(&self, card: &Scorecard) -> Vec<&RuleResult> {
        let next = match &self.level {
            None => card.levels.first(),
            Some(l) => card
                .levels
                .iter()
                .position(|x| &x.title == l)
                .and_then(|i| card.levels.get(i + 1)),
        };
        let Some(next) = next else { return Vec::new() };
        self.rules
            .iter()
            .filter(|r| !r.passed && r.level == next.title)
            .collect()
    }
}

/// Evaluate every rule of the scorecard and work out the level.
pub fn evaluate(card: &Scorecard, props: &Properties) -> ScoreResult {
    let rules: Vec<RuleResult> = card
        .rules
        .iter()
        .map(|r| {
            let (passed, why) = eval_query(&r.query, props);
            RuleResult {
                identifier: r.identifier.clone(),
                title: r.title.clone(),
                level: r.level.clone(),
                passed,
                why,
            }
        })
        .collect();
    let mut level = None;
    for l in &card.levels {
        if rules
            .iter()
            .filter(|r| r.level == l.title)
            .all(|r| r.passed)
        {
            level = Some(l.title.clone());
        } else {
            break;
        }
    }
    let total = rules.len();
    let passed = rules.iter().filter(|r| r.passed).count();
    let score = (passed * 100).checked_div(total).map_or(100, |s| s as u32);
    ScoreResult {
        level,
        score,
        passed,
        total,
        rules,
    }
}

fn eval_query(q: &Query, props: &Properties) -> (bool, String) {
    let results: Vec<(bool, String)> = q
        .conditions
        .iter()
        .map(|c| eval_condition(c, props))
        .collect();
    let join = |pick: &dyn Fn(&(bool, String)) -> bool| {
        let mut seen: Vec<&str> = Vec::new();
        for (_, why) in results.iter().filter(|r| pick(r)) {
            if !seen.contains(&why.as_str()) {
                seen.push(why);
            }
        }
        seen.join("; ")
    };
    match q.combinator {
        Combinator::And => {
            if results.iter().all(|r| r.0) {
                (true, join(&|_| true))
            } else {
                (false, join(&|r| !r.0))
            }
        }
        Combinator::Or => match results.iter().find(|r| r.0) {
            Some((_, why)) => (true, why.clone()),
            None => (false, join(&|_| true)),
        },
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A value as a reader wants it in a `why`.
fn show(v: &Value) -> String {
    fn short(s: &str) -> String {
        if s.chars().count() > 60 {
            let t: String = s.chars().take(57).collect();
            format!("{t}…")
        } else {
            s.to_string()
        }
    }
    match v {
        Value::Null => "not set".to_string(),
        Value::String(s) if s.trim().is_empty() => "empty".to_string(),
        Value::String(s) => short(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) if a.is_empty() => "empty".to_string(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(show).collect();
            short(&items.join(", "))
        }
        Value::Object(_) => "an object".to_string(),
    }
}

fn eval_condition(c: &Condition, props: &Properties) -> (bool, String) {
    let v = props.get(&c.property);
    let want = c.value.as_ref().unwrap_or(&Value::Null);
    let text = |v: &Value| v.as_str().map(str::to_string);
    let passed = match c.operator {
        Operator::Eq => values_equal(v, want),
        Operator::Ne => !values_equal(v, want),
        Operator::Gt | Operator::Ge | Operator::Lt | Operator::Le => {
            match (v.as_f64(), want.as_f64()) {
                (Some(x), Some(y)) => match c.operator {
                    Operator::Gt => x > y,
                    Operator::Ge => x >= y,
                    Operator::Lt => x < y,
                    _ => x <= y,
                },
                _ => false,
            }
        }
        Operator::IsEmpty => is_empty(v),
        Operator::IsNotEmpty => !is_empty(v),
        Operator::Contains | Operator::DoesNotContain => {
            let has = match (v, want) {
                (Value::String(s), Value::String(w)) => s.contains(w.as_str()),
                (Value::Array(a), w) => a.iter().any(|x| values_equal(x, w)),
                _ => false,
            };
            has == (c.operator == Operator::Contains)
        }
        Operator::BeginsWith | Operator::DoesNotBeginWith => {
            let has = matches!((text(v), text(want)), (Some(s), Some(w)) if s.starts_with(&w));
            has == (c.operator == Operator::BeginsWith)
        }
        Operator::EndsWith | Operator::DoesNotEndWith => {
            let has = matches!((text(v), text(want)), (Some(s), Some(w)) if s.ends_with(&w));
            has == (c.operator == Operator::EndsWith)
        }
        Operator::In | Operator::NotIn => {
            let has = want
                .as_array()
                .is_some_and(|a| a.iter().any(|x| values_equal(x, v)));
            has == (c.operator == Operator::In)
        }
    };
    let why = match props.notes.get(&c.property) {
        Some(note) => note.clone(),
        None => {
            let base = match (c.operator, is_empty(v), v) {
                (Operator::IsEmpty | Operator::IsNotEmpty, true, Value::Null) => {
                    format!("{} is not set", c.property)
                }
                (Operator::IsEmpty | Operator::IsNotEmpty, true, _) => {
                    format!("{} is empty", c.property)
                }
                _ => format!("{} is {}", c.property, show(v)),
            };
            if passed || !c.operator.takes_value() {
                base
            } else {
                format!("{base} (want {} {})", c.operator.as_str(), show(want))
            }
        }
    };
    (passed, why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(pairs: &[(&str, Value)]) -> Properties {
        let mut p = Properties::default();
        for (k, v) in pairs {
            p.set(*k, v.clone());
        }
        p
    }

    fn cond(property: &str, op: &str, value: Option<Value>) -> Condition {
        Condition {
            property: property.into(),
            operator: Operator::parse(op).expect("known operator"),
            value,
        }
    }

    fn check(p: &Properties, property: &str, op: &str, value: Option<Value>) -> bool {
        eval_condition(&cond(property, op, value), p).0
    }

    #[test]
    fn builtin_scorecard_parses_with_three_levels() {
        let card = builtin_scorecard().expect("builtin parses");
        let levels: Vec<&str> = card.levels.iter().map(|l| l.title.as_str()).collect();
        assert_eq!(levels, ["Bronze", "Silver", "Gold"]);
        assert_eq!(card.rules.len(), 8);
        for id in [
            "has-owner",
            "has-description",
            "has-docs",
            "has-oncall",
            "core-packages-current",
            "has-ci",
            "every-production-region",
            "no-secret-drift",
        ] {
            assert!(card.rules.iter().any(|r| r.identifier == id), "{id}");
        }
    }

    #[test]
    fn every_operator() {
        let p = props(&[
            ("n", json!(3)),
            ("s", json!("payments-api")),
            ("empty", json!("")),
            ("list", json!(["go", "critical"])),
            ("none_list", json!([])),
            ("b", json!(true)),
        ]);
        assert!(check(&p, "n", "=", Some(json!(3))));
        assert!(check(&p, "n", "=", Some(json!(3.0))));
        assert!(!check(&p, "n", "=", Some(json!(4))));
        assert!(check(&p, "b", "=", Some(json!(true))));
        assert!(!check(&p, "b", "=", Some(json!("true"))));
        assert!(check(&p, "n", "!=", Some(json!(4))));
        assert!(!check(&p, "n", "!=", Some(json!(3))));
        assert!(check(&p, "n", ">", Some(json!(2))));
        assert!(!check(&p, "n", ">", Some(json!(3))));
        assert!(check(&p, "n", ">=", Some(json!(3))));
        assert!(!check(&p, "n", ">=", Some(json!(4))));
        assert!(check(&p, "n", "<", Some(json!(4))));
        assert!(!check(&p, "n", "<", Some(json!(3))));
        assert!(check(&p, "n", "<=", Some(json!(3))));
        assert!(!check(&p, "n", "<=", Some(json!(2))));
        // Comparing text numerically fails rather than guessing.
        assert!(!check(&p, "s", ">", Some(json!(0))));
        assert!(check(&p, "empty", "isEmpty", None));
        assert!(check(&p, "missing", "isEmpty", None));
        assert!(check(&p, "none_list", "isEmpty", None));
        assert!(!check(&p, "s", "isEmpty", None));
        assert!(check(&p, "s", "isNotEmpty", None));
        assert!(!check(&p, "missing", "isNotEmpty", None));
        assert!(check(&p, "n", "isNotEmpty", None));
        assert!(check(&p, "s", "contains", Some(json!("ments"))));
        assert!(check(&p, "list", "contains", Some(json!("critical"))));
        assert!(!check(&p, "list", "contains", Some(json!("java"))));
        assert!(check(&p, "list", "doesNotContains", Some(json!("java"))));
        assert!(!check(&p, "s", "doesNotContains", Some(json!("pay"))));
        assert!(check(&p, "s", "beginsWith", Some(json!("pay"))));
        assert!(!check(&p, "s", "beginsWith", Some(json!("api"))));
        assert!(check(&p, "s", "doesNotBeginsWith", Some(json!("api"))));
        assert!(check(&p, "s", "endsWith", Some(json!("-api"))));
        assert!(!check(&p, "s", "endsWith", Some(json!("pay"))));
        assert!(check(&p, "s", "doesNotEndsWith", Some(json!("pay"))));
        assert!(check(&p, "s", "in", Some(json!(["x", "payments-api"]))));
        assert!(!check(&p, "s", "in", Some(json!(["x"]))));
        assert!(check(&p, "s", "notIn", Some(json!(["x"]))));
        assert!(check(&p, "n", "in", Some(json!([1, 3]))));
    }

    #[test]
    fn why_names_the_property_and_the_wanted_value() {
        let p = props(&[("description", Value::Null), ("n", json!(2))]);
        assert_eq!(
            eval_condition(&cond("description", "isNotEmpty", None), &p),
            (false, "description is not set".to_string())
        );
        assert_eq!(
            eval_condition(&cond("n", ">=", Some(json!(3))), &p),
            (false, "n is 2 (want >= 3)".to_string())
        );
        let mut p = p;
        p.note("n", "2 of 3 regions");
        assert_eq!(
            eval_condition(&cond("n", ">=", Some(json!(3))), &p).1,
            "2 of 3 regions"
        );
    }

    fn card(rules: Value) -> Scorecard {
        let doc = json!({
            "identifier": "t",
            "title": "T",
            "levels": [{"title": "Bronze"}, {"title": "Silver"}, {"title": "Gold"}],
            "rules": rules,
        });
        parse_scorecard("t.json", &doc.to_string()).expect("valid")
    }

    fn rule(id: &str, level: &str, combinator: &str, conditions: Value) -> Value {
        json!({"identifier": id, "title": id, "level": level,
               "query": {"combinator": combinator, "conditions": conditions}})
    }

    #[test]
    fn and_or_combinators() {
        let c = card(json!([
            rule(
                "both",
                "Bronze",
                "and",
                json!([
                    {"property": "a", "operator": "=", "value": 1},
                    {"property": "b", "operator": "=", "value": 1}
                ])
            ),
            rule(
                "either",
                "Bronze",
                "or",
                json!([
                    {"property": "a", "operator": "=", "value": 1},
                    {"property": "b", "operator": "=", "value": 1}
                ])
            ),
        ]));
        let r = evaluate(&c, &props(&[("a", json!(1)), ("b", json!(0))]));
        assert!(!r.rules[0].passed);
        assert_eq!(r.rules[0].why, "b is 0 (want = 1)");
        assert!(r.rules[1].passed);
        assert_eq!(r.rules[1].why, "a is 1");
        let r = evaluate(&c, &props(&[("a", json!(0)), ("b", json!(0))]));
        assert!(!r.rules[1].passed);
        assert_eq!(r.rules[1].why, "a is 0 (want = 1); b is 0 (want = 1)");
        let r = evaluate(&c, &props(&[("a", json!(1)), ("b", json!(1))]));
        assert!(r.rules.iter().all(|x| x.passed));
        assert_eq!((r.score, r.passed, r.total), (100, 2, 2));
    }

    #[test]
    fn level_needs_every_lower_level() {
        let c = card(json!([
            rule(
                "b1",
                "Bronze",
                "and",
                json!([{"property": "b1", "operator": "=", "value": true}])
            ),
            rule(
                "s1",
                "Silver",
                "and",
                json!([{"property": "s1", "operator": "=", "value": true}])
            ),
            rule(
                "g1",
                "Gold",
                "and",
                json!([{"property": "g1", "operator": "=", "value": true}])
            ),
        ]));
        let all = |b1: bool, s1: bool, g1: bool| {
            evaluate(
                &c,
                &props(&[("b1", json!(b1)), ("s1", json!(s1)), ("g1", json!(g1))]),
            )
        };
        assert_eq!(all(true, true, true).level.as_deref(), Some("Gold"));
        // Passing Gold's rule but failing Silver's gives Bronze only.
        let r = all(true, false, true);
        assert_eq!(r.level.as_deref(), Some("Bronze"));
        assert_eq!(r.score, 66);
        assert_eq!(
            r.blocking(&c)
                .iter()
                .map(|x| x.identifier.as_str())
                .collect::<Vec<_>>(),
            ["s1"]
        );
        // Failing Bronze gives no level at all, whatever else passes.
        assert_eq!(all(false, true, true).level, None);
        assert_eq!(all(true, true, false).level.as_deref(), Some("Silver"));
    }

    #[test]
    fn a_level_without_rules_is_reached_for_free() {
        let doc = json!({"identifier": "t", "levels": [{"title": "Basic"}, {"title": "Bronze"}],
            "rules": [rule("x", "Bronze", "and", json!([{"property": "x", "operator": "isNotEmpty"}]))]});
        let c = parse_scorecard("t.json", &doc.to_string()).expect("valid");
        assert_eq!(
            evaluate(&c, &Properties::default()).level.as_deref(),
            Some("Basic")
        );
    }

    fn parse_err(doc: Value) -> ScorecardError {
        parse_scorecard("my/card.json", &doc.to_string()).expect_err("should fail")
    }

    #[test]
    fn malformed_scorecards_name_the_file_and_path() {
        let base = |rules: Value| json!({"identifier": "t", "levels": [{"title": "Bronze"}], "rules": rules});
        let e = parse_err(base(json!([rule(
            "x",
            "Bronze",
            "and",
            json!([
                {"property": "a", "operator": "~", "value": 1}
            ])
        )])));
        assert_eq!(e.file, "my/card.json");
        assert_eq!(e.path, "$.rules[0].query.conditions[0].operator");
        assert!(e.reason.contains("\"~\""), "{}", e.reason);
        assert!(
            e.to_string().starts_with("my/card.json: $.rules[0].query"),
            "{e}"
        );

        let e = parse_err(base(json!([rule("x", "Platinum", "and", json!([]))])));
        assert_eq!(e.path, "$.rules[0].level");
        assert!(e.reason.contains("Platinum"), "{}", e.reason);

        let e = parse_err(base(json!([rule("x", "Bronze", "xor", json!([]))])));
        assert_eq!(e.path, "$.rules[0].query.combinator");

        let e = parse_err(base(json!([rule(
            "x",
            "Bronze",
            "and",
            json!([
                {"property": "a", "operator": ">", "value": "three"}
            ])
        )])));
        assert_eq!(e.path, "$.rules[0].query.conditions[0].value");

        let e = parse_err(base(json!([rule(
            "x",
            "Bronze",
            "and",
            json!([
                {"property": "a", "operator": "isEmpty", "value": 1}
            ])
        )])));
        assert_eq!(e.path, "$.rules[0].query.conditions[0].value");

        let e = parse_err(base(json!([{"identifier": "x", "level": "Bronze"}])));
        assert_eq!(e.path, "$.rules[0].query");
        assert_eq!(e.reason, "missing");

        let e = parse_err(json!({"identifier": "t", "levels": [], "rules": []}));
        assert_eq!(e.path, "$.levels");

        let e = parse_err(
            json!({"identifier": "t", "levels": [{"title": "B", "colour": "x"}], "rules": []}),
        );
        assert_eq!(e.path, "$.levels[0].colour");

        let e = parse_scorecard("bad.json", "{ \"identifier\": ").expect_err("syntax");
        assert_eq!((e.file.as_str(), e.path.as_str()), ("bad.json", "$"));
        assert!(e.reason.contains("line 1"), "{}", e.reason);
    }

    fn secret(env: &str, region: &str, key: &str, hash: u64) -> SecretMeta {
        SecretMeta {
            name: format!("{env}/svc/{key}"),
            service: "svc".into(),
            env: env.into(),
            region: region.into(),
            key: key.into(),
            version_id: "v1".into(),
            stages: vec![],
            last_changed: 0,
            tags: BTreeMap::new(),
            value_hash: Some(hash),
        }
    }

    #[test]
    fn secret_drift_counts_missing_differing_and_tags() {
        let clean = vec![
            secret("production", "us", "DB", 1),
            secret("production", "eu", "DB", 1),
        ];
        assert!(secret_drift(&clean, &Topology::default()).is_empty());
        let mut s = clean.clone();
        s.push(secret("production", "us", "API_KEY", 2));
        s.push(secret("production", "eu", "TOKEN", 3));
        s.push(secret("production", "us", "TOKEN", 4));
        s[1].tags.insert("team".into(), "other".into());
        let f = secret_drift(&s, &Topology::default());
        assert_eq!(
            f,
            // Two regions: no majority, so both are named (the rules of
            // `domain::drift`, shared with `sphere secret drift`).
            [
                "API_KEY extra in production/us",
                "DB tags differ in production/eu,us",
                "TOKEN value differs in production/eu,us",
            ]
        );
    }
}
