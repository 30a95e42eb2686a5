//! The golden path (C4): a new service from a form, in five idempotent steps.
//!
//! Pure: the request, its validation against the catalog, the ordered steps, and what
//! each step writes (the repository's values, the CI workflow, the Backstage
//! descriptor). Running the steps is the dispatcher's job (`actions`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::catalog::{Catalog, Kind};

/// The templates a service can start from.
pub const TEMPLATES: &[&str] = &["rust-service", "node-service", "python-worker"];
/// The template when none is asked for.
pub const DEFAULT_TEMPLATE: &str = "rust-service";
/// Where the CI workflow goes in the new repository.
pub const CI_PATH: &str = ".github/workflows/ci.yaml";
/// Where the catalog descriptor goes in the new repository.
pub const DESCRIPTOR_PATH: &str = "catalog-info.yaml";
/// The organisation new repositories are created in.
pub const ORG: &str = "northwind";
/// The environment the new service is deployed to.
pub const DEV_ENV: &str = "dev";
/// The first version, deployed to dev.
pub const FIRST_VERSION: &str = "0.1.0";
/// Bounds of the requested replicas.
pub const MAX_REPLICAS: u8 = 10;
/// The longest service name (a Kubernetes label value).
pub const MAX_NAME: usize = 63;

/// The database a service asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Database {
    Postgres,
    Mysql,
}

impl Database {
    pub fn as_str(self) -> &'static str {
        match self {
            Database::Postgres => "postgres",
            Database::Mysql => "mysql",
        }
    }

    pub fn parse(s: &str) -> Option<Database> {
        match s {
            "postgres" | "postgresql" => Some(Database::Postgres),
            "mysql" => Some(Database::Mysql),
            _ => None,
        }
    }
}

/// The golden-path form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The owning Group's name.
    pub owner: String,
    /// One of [`TEMPLATES`].
    pub template: String,
    #[serde(default)]
    pub database: Option<Database>,
    #[serde(default)]
    pub cache: bool,
    /// Dev replicas per region, 1..=10.
    pub replicas: u8,
    /// The System it is part of (must exist), if any.
    #[serde(default)]
    pub system: Option<String>,
    /// The organisation its repository goes in: the platform's (`[github] org`);
    /// `None` until the platform fills it in, and then the demo's, [`ORG`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

/// One invalid field of the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

fn err(field: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// The golden path's steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The repository, from the template with the form's values.
    Repository,
    /// The CI workflow file.
    Ci,
    /// `catalog-info.yaml` written to the repository.
    Descriptor,
    /// The catalog picks the descriptor up.
    Register,
    /// A dev deployment in every region.
    DeployDev,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Repository,
        Step::Ci,
        Step::Descriptor,
        Step::Register,
        Step::DeployDev,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Repository => "repository",
            Step::Ci => "ci",
            Step::Descriptor => "descriptor",
            Step::Register => "register",
            Step::DeployDev => "deploy-dev",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// For people: what the step does.
    pub fn title(self) -> &'static str {
        match self {
            Step::Repository => "repository from the template",
            Step::Ci => "CI workflow",
            Step::Descriptor => "catalog descriptor",
            Step::Register => "catalog registration",
            Step::DeployDev => "dev deployment",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `^[a-z0-9-]+$`, 1..=63 characters.
pub fn valid_name(name: &str) -> bool {
    name_problem(name).is_none()
}

/// Names a command already gives a meaning to (`sphere lock all`, `sphere lock check`).
pub const RESERVED_NAMES: [&str; 2] = ["all", "check"];

/// What is wrong with a new service's name, if anything: the characters and length of
/// `^[a-z0-9-]+$`, a letter or digit at both ends (Backstage's rule, checked again when
/// the descriptor is registered), and not a word the commands reserve.
pub fn name_problem(name: &str) -> Option<String> {
    let shape = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !shape {
        return Some(format!(
            "{name:?} is not a service name: 1–{MAX_NAME} characters of a-z, 0-9 and -"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some(format!(
            "{name:?} must start and end with a letter or digit"
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Some(format!(
            "{name:?} is reserved: `sphere lock {name}` already means something else"
        ));
    }
    None
}

impl ServiceRequest {
    /// A request with the defaults: the default template, one replica.
    pub fn new(name: &str, owner: &str) -> ServiceRequest {
        ServiceRequest {
            name: name.to_string(),
            description: String::new(),
            owner: owner.to_string(),
            template: DEFAULT_TEMPLATE.to_string(),
            database: None,
            cache: false,
            replicas: 1,
            system: None,
            org: None,
        }
    }

    /// The request in `org` (the platform's repository organisation), unless it names
    /// one already.
    pub fn or_org(mut self, org: Option<String>) -> ServiceRequest {
        if self.org.is_none() {
            self.org = org;
        }
        self
    }

    /// Every invalid field: the name (`^[a-z0-9-]+$`, 1–63, not taken in the catalog),
    /// the owner (an existing Group), the template, the replicas (1–10), the system.
    pub fn validate(&self, catalog: &Catalog) -> Result<(), Vec<FieldError>> {
        self.check(catalog, false)
    }

    /// [`validate`](Self::validate) for a re-run: a Component of that name that this
    /// very request registered (same location, same owner) does not count as taken.
    pub fn validate_resume(&self, catalog: &Catalog) -> Result<(), Vec<FieldError>> {
        self.check(catalog, true)
    }

    fn check(&self, catalog: &Catalog, resume: bool) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(why) = name_problem(&self.name) {
            errors.push(err("name", why));
        } else if let Some(e) = catalog
            .entities()
            .iter()
            .find(|e| e.name == self.name && matches!(e.kind, Kind::Component | Kind::Resource))
        {
            // Ours: registered from this request's location, for the same owner (another
            // group cannot take a service over by "resuming" it).
            let ours = resume
                && self.registered_from(&e.source.file)
                && e.owner.as_ref().is_some_and(|o| o.name == self.owner);
            if !ours {
                errors.push(err(
                    "name",
                    format!(
                        "{:?} is taken: the catalog already has {}",
                        self.name,
                        e.entity_ref()
                    ),
                ));
            }
        }
        if self.description.chars().count() > 500 {
            errors.push(err("description", "at most 500 characters"));
        }
        match catalog.find(Some(&Kind::Group), &self.owner) {
            Some(g) if g.kind == Kind::Group => {}
            _ => errors.push(err(
                "owner",
                format!("{:?} is not a Group in the catalog", self.owner),
            )),
        }
        if !TEMPLATES.contains(&self.template.as_str()) {
            errors.push(err(
                "template",
                format!(
                    "{:?} is not a template: use one of {}",
                    self.template,
                    TEMPLATES.join(", ")
                ),
            ));
        }
        if self.replicas < 1 || self.replicas > MAX_REPLICAS {
            errors.push(err(
                "replicas",
                format!("{} is not in 1..={MAX_REPLICAS}", self.replicas),
            ));
        }
        if let Some(s) = &self.system {
            match catalog.find(Some(&Kind::System), s) {
                Some(e) if e.kind == Kind::System => {}
                _ => errors.push(err(
                    "system",
                    format!("{s:?} is not a System in the catalog"),
                )),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The steps, in order.
    pub fn steps(&self) -> Vec<Step> {
        Step::ALL.to_vec()
    }

    /// `ORG/NAME`: the platform's organisation (the demo's, `northwind`, by default).
    pub fn slug(&self) -> String {
        format!("{}/{}", self.org.as_deref().unwrap_or(ORG), self.name)
    }

    /// Is `file` (an entity's source) this request's descriptor: the registered
    /// location (as given, or as the loader normalises it), or its repository's
    /// `catalog-info.yaml` as discovery names it (`HOST/ORG/NAME/catalog-info.yaml`)?
    pub fn registered_from(&self, file: &Path) -> bool {
        let location = self.location();
        file.as_os_str() == location.as_str()
            || file.ends_with(format!("{}/{DESCRIPTOR_PATH}", self.slug()))
    }

    /// Where the catalog reads the descriptor from (the registered location).
    pub fn location(&self) -> String {
        format!(
            "url:https://github.com/{}/blob/main/{DESCRIPTOR_PATH}",
            self.slug()
        )
    }

    /// The values the template is rendered with.
    pub fn template_values(&self) -> BTreeMap<String, String> {
        let mut v = BTreeMap::new();
        v.insert("name".to_string(), self.name.clone());
        v.insert("description".to_string(), self.description.clone());
        v.insert("owner".to_string(), self.owner.clone());
        v.insert(
            "database".to_string(),
            self.database.map(Database::as_str).unwrap_or("none").into(),
        );
        v.insert("cache".to_string(), self.cache.to_string());
        v.insert("replicas".to_string(), self.replicas.to_string());
        v
    }

    fn db_name(&self) -> String {
        format!("{}-db", self.name)
    }

    fn cache_name(&self) -> String {
        format!("{}-cache", self.name)
    }

    /// The CI workflow (GitHub Actions) for the template.
    pub fn ci_workflow(&self) -> String {
        let (setup, build, test) = match self.template.as_str() {
            "node-service" => (
                "actions/setup-node@v4\n        with:\n          node-version: 22",
                "npm ci && npm run build",
                "npm test",
            ),
            "python-worker" => (
                "actions/setup-python@v5\n        with:\n          python-version: \"3.12\"",
                "pip install -r requirements.txt",
                "pytest",
            ),
            _ => (
                "dtolnay/rust-toolchain@stable",
                "cargo build --locked",
                "cargo test --locked",
            ),
        };
        format!(
            "# Generated by sphere from the {template} template.\n\
             name: ci\n\
             on:\n  push:\n    branches: [main]\n  pull_request:\n\
             jobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n\
             \x20     - uses: actions/checkout@v4\n\
             \x20     - uses: {setup}\n\
             \x20     - run: {build}\n\
             \x20     - run: {test}\n\
             \x20 deploy-dev:\n    needs: build\n    if: github.ref == 'refs/heads/main'\n    runs-on: ubuntu-latest\n    steps:\n\
             \x20     - run: sphere lock check {name} --env {DEV_ENV}\n",
            template = self.template,
            name = self.name,
        )
    }

    /// `catalog-info.yaml`: the Component, plus a Resource for the database and one for
    /// the cache, as Backstage descriptors.
    pub fn descriptor(&self) -> String {
        // JSON strings are YAML strings: every free-text value is quoted this way.
        let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string());
        let system = self
            .system
            .as_ref()
            .map(|s| format!("  system: {}\n", q(s)))
            .unwrap_or_default();
        let mut depends = Vec::new();
        if self.database.is_some() {
            depends.push(format!("resource:{}", self.db_name()));
        }
        if self.cache {
            depends.push(format!("resource:{}", self.cache_name()));
        }
        let depends_on = if depends.is_empty() {
            String::new()
        } else {
            format!("  dependsOn: [{}]\n", depends.join(", "))
        };
        let mut out = format!(
            "apiVersion: backstage.io/v1alpha1\n\
             kind: Component\n\
             metadata:\n  name: {name}\n{description}  tags: [{tag}]\n\
             \x20 annotations:\n    github.com/project-slug: {slug}\n    backstage.io/kubernetes-id: {name}\n    sphere.dev/template: {template}\n\
             spec:\n  type: service\n  lifecycle: experimental\n  owner: {owner}\n{system}{depends_on}",
            name = self.name,
            description = if self.description.is_empty() {
                String::new()
            } else {
                format!("  description: {}\n", q(&self.description))
            },
            tag = self.template.split('-').next().unwrap_or("service"),
            slug = self.slug(),
            template = self.template,
            owner = q(&self.owner),
        );
        let resource = |name: &str, kind: &str, what: &str| {
            format!(
                "---\napiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: {name}\n  description: {desc}\nspec:\n  type: {kind}\n  owner: {owner}\n{system}",
                desc = q(&format!("{what} of {}", self.name)),
                owner = q(&self.owner),
            )
        };
        if let Some(db) = self.database {
            out.push_str(&resource(
                &self.db_name(),
                "database",
                &format!("The {} database", db.as_str()),
            ));
        }
        if self.cache {
            out.push_str(&resource(&self.cache_name(), "cache", "The cache"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::domain::catalog::load::{EmbeddedReader, load};
    use crate::domain::catalog::parse::parse_documents;

    fn demo() -> Catalog {
        let reader = EmbeddedReader::new(crate::backend::sim::assets::demo_sources());
        load(
            &[PathBuf::from(crate::backend::sim::assets::DEMO_ROOT)],
            &reader,
        )
    }

    fn fields(r: &ServiceRequest, c: &Catalog) -> Vec<String> {
        match r.validate(c) {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn a_good_request_is_valid() {
        let c = demo();
        let mut r = ServiceRequest::new("fraud-scorer", "payments");
        r.database = Some(Database::Postgres);
        r.cache = true;
        r.replicas = 10;
        r.system = Some("orders".into());
        assert_eq!(r.validate(&c), Ok(()));
    }

    #[test]
    fn the_name_is_checked() {
        let c = demo();
        for bad in [
            "",
            "Fraud",
            "fraud_scorer",
            "fraud scorer",
            &"a".repeat(64),
            "trail-",
            "-lead",
            "all",
            "check",
        ] {
            let r = ServiceRequest::new(bad, "payments");
            assert_eq!(fields(&r, &c), vec!["name"], "{bad:?}");
        }
        assert!(fields(&ServiceRequest::new(&"a".repeat(63), "payments"), &c).is_empty());
        // Taken: an existing service.
        let r = ServiceRequest::new("cart-service", "payments");
        assert_eq!(fields(&r, &c), vec!["name"]);
    }

    #[test]
    fn owner_template_replicas_and_system_are_checked() {
        let c = demo();
        let mut r = ServiceRequest::new("fraud-scorer", "nobody");
        assert_eq!(fields(&r, &c), vec!["owner"]);
        r.owner = "payments".into();
        r.template = "cobol-batch".into();
        assert_eq!(fields(&r, &c), vec!["template"]);
        r.template = "python-worker".into();
        for bad in [0, 11] {
            r.replicas = bad;
            assert_eq!(fields(&r, &c), vec!["replicas"], "{bad}");
        }
        r.replicas = 1;
        r.system = Some("atlantis".into());
        assert_eq!(fields(&r, &c), vec!["system"]);
        // A User is not a Group.
        let user = c
            .of_kind(&Kind::User)
            .next()
            .map(|u| u.name.clone())
            .unwrap_or_default();
        let r = ServiceRequest::new("fraud-scorer", &user);
        assert_eq!(fields(&r, &c), vec!["owner"]);
    }

    #[test]
    fn a_resume_may_reuse_its_own_name_but_not_take_another_groups() {
        let r = ServiceRequest::new("fraud-scorer", "payments");
        let mut entities = demo().entities().to_vec();
        entities.extend(parse_documents(&r.descriptor(), Path::new(&r.location())).entities);
        let c = crate::domain::catalog::resolve::build(entities, Vec::new());
        assert_eq!(r.validate_resume(&c), Ok(()));
        assert_eq!(
            fields(&r, &c),
            vec!["name"],
            "a fresh create finds it taken"
        );
        let other = ServiceRequest::new("fraud-scorer", "checkout");
        let e = other.validate_resume(&c).expect_err("taken");
        assert_eq!(e[0].field, "name");
    }

    #[test]
    fn the_steps_are_in_order() {
        let r = ServiceRequest::new("x", "payments");
        let names: Vec<&str> = r.steps().iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            ["repository", "ci", "descriptor", "register", "deploy-dev"]
        );
        for s in Step::ALL {
            assert_eq!(Step::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn the_descriptor_is_a_real_backstage_descriptor() {
        let mut r = ServiceRequest::new("fraud-scorer", "payments");
        r.description = "Scores: \"fraud\"\n# not a comment".into();
        r.database = Some(Database::Mysql);
        r.cache = true;
        r.system = Some("orders".into());
        let parsed = parse_documents(&r.descriptor(), Path::new("x.yaml"));
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.entities.len(), 3);
        let c = &parsed.entities[0];
        assert_eq!(c.kind, Kind::Component);
        assert_eq!(c.name, "fraud-scorer");
        assert_eq!(c.description.as_deref(), Some(r.description.as_str()));
        assert_eq!(c.spec_type.as_deref(), Some("service"));
        assert_eq!(c.owner.as_ref().map(|o| o.name.as_str()), Some("payments"));
        assert_eq!(c.part_of.as_ref().map(|o| o.name.as_str()), Some("orders"));
        assert_eq!(
            c.annotation("github.com/project-slug"),
            Some("northwind/fraud-scorer")
        );
        assert_eq!(
            c.annotation("backstage.io/kubernetes-id"),
            Some("fraud-scorer")
        );
        let res: Vec<(&str, Option<&str>)> = parsed.entities[1..]
            .iter()
            .map(|e| (e.name.as_str(), e.spec_type.as_deref()))
            .collect();
        assert_eq!(
            res,
            [
                ("fraud-scorer-db", Some("database")),
                ("fraud-scorer-cache", Some("cache"))
            ]
        );
        // Without database and cache: the Component alone.
        let plain = ServiceRequest::new("plain", "payments");
        let parsed = parse_documents(&plain.descriptor(), Path::new("x.yaml"));
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.entities.len(), 1);
    }

    #[test]
    fn the_workflow_follows_the_template() {
        let mut r = ServiceRequest::new("w", "payments");
        assert!(r.ci_workflow().contains("cargo test"));
        r.template = "python-worker".into();
        assert!(r.ci_workflow().contains("pytest"));
        assert!(
            serde_norway::from_str::<serde_norway::Value>(&r.ci_workflow()).is_ok(),
            "the workflow is YAML"
        );
    }
}
