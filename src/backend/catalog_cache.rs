//! One catalog per process: the configured platform's [`ConfiguredCatalog`] behind a
//! cache that every reader shares (the panes, the policy, the Kubernetes workload
//! mapping, the AWS tagging), so an action or a key press reads no catalog at all.
//!
//! - [`load`](CatalogProvider::load) hands out the catalog held when it is younger than
//!   [`MAX_AGE`]; else (and at first) it reads it, once however many ask at the same
//!   time.
//! - [`refresh`](CatalogProvider::refresh) reads it again now (`C-r`, and the TUI every
//!   [`REFRESH_EVERY`] in the background). Reading again is cheap where nothing
//!   changed: GitHub answers `304` (see [`crate::backend::github`]) and the catalog is
//!   not parsed again — the same `Arc` comes back, so nothing is redrawn.
//! - Registering a descriptor makes the next `load` read again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use async_trait::async_trait;

use super::CatalogProvider;
use super::configured::{ConfiguredCatalog, LoadMemo};
use crate::domain::catalog::Catalog;

/// A catalog younger than this is handed out as it is.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// How often the TUI reads the catalog again in the background: a new repository
/// shows within a minute.
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);

struct Held {
    catalog: Arc<Catalog>,
    /// When it was read; `None`: read it again before handing it out.
    at: Option<Instant>,
}

/// The shared catalog of a configured platform.
pub struct CachedCatalog {
    inner: ConfiguredCatalog,
    max_age: Duration,
    held: Mutex<Option<Held>>,
    /// One read at a time; it holds what the last read was made of.
    reading: tokio::sync::Mutex<Option<LoadMemo>>,
}

impl CachedCatalog {
    pub fn new(inner: ConfiguredCatalog) -> CachedCatalog {
        CachedCatalog::with_max_age(inner, MAX_AGE)
    }

    pub fn with_max_age(inner: ConfiguredCatalog, max_age: Duration) -> CachedCatalog {
        CachedCatalog {
            inner,
            max_age,
            held: Mutex::new(None),
            reading: tokio::sync::Mutex::new(None),
        }
    }

    fn fresh(&self) -> Option<Arc<Catalog>> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let h = held.as_ref()?;
        h.at.filter(|at| at.elapsed() < self.max_age)
            .map(|_| h.catalog.clone())
    }

    /// Read the catalog (unless `only_if_stale` and another reader just did).
    async fn read(&self, only_if_stale: bool) -> Result<Arc<Catalog>> {
        let mut memo = self.reading.lock().await;
        if only_if_stale && let Some(c) = self.fresh() {
            return Ok(c);
        }
        let catalog = self.inner.load_with(&mut memo).await?;
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(Held {
            catalog: catalog.clone(),
            at: Some(Instant::now()),
        });
        Ok(catalog)
    }
}

#[async_trait]
impl CatalogProvider for CachedCatalog {
    async fn load(&self) -> Result<Arc<Catalog>> {
        match self.fresh() {
            Some(c) => Ok(c),
            None => self.read(true).await,
        }
    }

    async fn refresh(&self) -> Result<Arc<Catalog>> {
        self.read(false).await
    }

    fn refresh_every(&self) -> Option<Duration> {
        Some(REFRESH_EVERY)
    }

    async fn register(&self, descriptor_yaml: &str, location: &str) -> Result<()> {
        let r = self.inner.register(descriptor_yaml, location).await;
        if let Some(h) = self.held.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            h.at = None;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(name: &str, description: &str) -> String {
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n  description: {description}\nspec:\n  type: service\n  owner: team-a\n  lifecycle: production\n"
        )
    }

    fn files_catalog(dir: &std::path::Path) -> ConfiguredCatalog {
        ConfiguredCatalog {
            roots: vec![dir.join("catalog")],
            discovered: None,
            registered: Some(dir.join("registered.json")),
        }
    }

    /// Loads share one catalog; a refresh with nothing changed gives the very same one
    /// (nothing parsed, nothing to redraw); a changed file, a new file, a registered
    /// descriptor each show.
    #[tokio::test]
    async fn loads_share_one_catalog_and_a_refresh_changes_it_only_when_a_source_changed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("catalog");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("cart.yaml"), descriptor("cart", "one")).unwrap();
        let cached = CachedCatalog::new(files_catalog(dir.path()));
        let a = cached.load().await.unwrap();
        let b = cached.load().await.unwrap();
        assert!(Arc::ptr_eq(&a, &b), "a second load reads nothing");
        let c = cached.refresh().await.unwrap();
        assert!(Arc::ptr_eq(&a, &c), "nothing changed: the same catalog");

        std::fs::write(root.join("cart.yaml"), descriptor("cart", "two")).unwrap();
        let d = cached.refresh().await.unwrap();
        assert!(!Arc::ptr_eq(&a, &d));
        let cart = d.find(None, "cart").unwrap();
        assert_eq!(cart.description.as_deref(), Some("two"));

        std::fs::write(root.join("ledger.yaml"), descriptor("ledger", "new")).unwrap();
        let e = cached.refresh().await.unwrap();
        assert!(
            e.find(None, "ledger").is_some(),
            "a new file in a walked directory"
        );

        cached
            .register(
                &descriptor("golden", "registered"),
                "url:https://github.com/acme/golden/blob/main/catalog-info.yaml",
            )
            .await
            .unwrap();
        let f = cached.load().await.unwrap();
        assert!(f.find(None, "golden").is_some(), "registering reads again");
        assert!(Arc::ptr_eq(&f, &cached.load().await.unwrap()));
    }

    #[tokio::test]
    async fn an_old_catalog_is_read_again_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("catalog");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("cart.yaml"), descriptor("cart", "one")).unwrap();
        let cached = CachedCatalog::with_max_age(files_catalog(dir.path()), Duration::ZERO);
        let a = cached.load().await.unwrap();
        std::fs::write(root.join("cart.yaml"), descriptor("cart", "two")).unwrap();
        let b = cached.load().await.unwrap();
        let cart = b.find(None, "cart").unwrap();
        assert_eq!(cart.description.as_deref(), Some("two"));
        assert!(!Arc::ptr_eq(&a, &b));
    }
}
