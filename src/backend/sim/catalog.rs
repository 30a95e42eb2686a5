//! The catalog the demo serves (the base plus registered descriptors), template
//! skeletons, and its [`CatalogProvider`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;

use super::Sim;
use crate::backend::CatalogProvider;
use crate::domain::catalog::parse::parse_documents;
use crate::domain::catalog::resolve;
use crate::domain::catalog::{Catalog, Severity};

/// The base catalog plus the entities of every registered descriptor, resolved
/// together (the first definition of an entity wins, as in any catalog).
fn with_registered(base: &Catalog, registered: &BTreeMap<String, String>) -> Catalog {
    let mut entities = base.entities().to_vec();
    let mut problems = base.problems.clone();
    for (location, text) in registered {
        let parsed = parse_documents(text, Path::new(location));
        entities.extend(parsed.entities);
        problems.extend(parsed.problems);
    }
    let mut catalog = resolve::build(entities, problems);
    // The base's problems are found again when resolving it a second time.
    let mut kept = Vec::with_capacity(catalog.problems.len());
    for p in std::mem::take(&mut catalog.problems) {
        if !kept.contains(&p) {
            kept.push(p);
        }
    }
    catalog.problems = kept;
    catalog
}

impl Sim {
    /// The catalog as served now: rebuilt when the registered descriptors changed.
    fn served_catalog(&self) -> Arc<Catalog> {
        let registered = self.world().durable.registered.clone();
        let mut served = self.inner.served.lock().unwrap_or_else(|e| e.into_inner());
        if served.0 != registered {
            let catalog = if registered.is_empty() {
                self.inner.catalog.clone()
            } else {
                Arc::new(with_registered(&self.inner.catalog, &registered))
            };
            *served = (registered, catalog);
        }
        served.1.clone()
    }

    /// The files of a template's skeleton, rendered with the form's values.
    pub(super) fn template_files(
        template: &str,
        values: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let v = |k: &str| values.get(k).map(String::as_str).unwrap_or("");
        let name = v("name");
        let mut files = BTreeMap::new();
        files.insert(
            "README.md".to_string(),
            format!(
                "# {name}\n\n{}\n\nCreated by sphere from the {template} template. Owner: {}.\n",
                v("description"),
                v("owner")
            ),
        );
        let (path, content) = match template {
            "node-service" => (
                "package.json",
                format!(
                    "{{\n  \"name\": \"{name}\",\n  \"version\": \"0.1.0\",\n  \"private\": true\n}}\n"
                ),
            ),
            "python-worker" => (
                "pyproject.toml",
                format!("[project]\nname = \"{name}\"\nversion = \"0.1.0\"\n"),
            ),
            _ => (
                "Cargo.toml",
                format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n"),
            ),
        };
        files.insert(path.to_string(), content);
        files.insert(
            "deploy/values.yaml".to_string(),
            format!(
                "replicas: {}\ndatabase: {}\ncache: {}\n",
                v("replicas"),
                v("database"),
                v("cache")
            ),
        );
        files
    }
}

#[async_trait]
impl CatalogProvider for Sim {
    async fn load(&self) -> Result<Arc<Catalog>> {
        if let Err(e) = self.refresh() {
            tracing::warn!("demo state refresh failed: {e:#}");
        }
        Ok(self.served_catalog())
    }

    async fn register(&self, descriptor_yaml: &str, location: &str) -> Result<()> {
        self.remote_call(300).await;
        self.check_fault("register")?;
        let parsed = parse_documents(descriptor_yaml, Path::new(location));
        if let Some(p) = parsed
            .problems
            .iter()
            .find(|p| p.severity == Severity::Error)
        {
            anyhow::bail!("the descriptor at {location} is invalid: {}", p.reason);
        }
        if parsed.entities.is_empty() {
            anyhow::bail!("the descriptor at {location} has no entity");
        }
        if self
            .world()
            .durable
            .registered
            .get(location)
            .map(String::as_str)
            == Some(descriptor_yaml)
        {
            return Ok(());
        }
        self.mutate(|s| {
            s.registered
                .insert(location.to_string(), descriptor_yaml.to_string());
        })
    }
}
