//! Catalog providers over descriptor files: the demo's catalog embedded in the binary,
//! and a catalog read from the descriptor files and directories of `[catalog] paths`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::CatalogProvider;
use crate::domain::catalog::Catalog;
use crate::domain::catalog::load::{EmbeddedReader, FsReader, load};

/// The demo's own catalog, embedded in the binary.
pub fn demo_catalog() -> Catalog {
    let reader = EmbeddedReader::new(crate::backend::sim::assets::demo_sources());
    load(
        &[PathBuf::from(crate::backend::sim::assets::DEMO_ROOT)],
        &reader,
    )
}

/// A catalog read from descriptor files on every load.
pub struct FileCatalog {
    pub roots: Vec<PathBuf>,
}

#[async_trait::async_trait]
impl CatalogProvider for FileCatalog {
    async fn load(&self) -> Result<Arc<Catalog>> {
        let roots = self.roots.clone();
        tokio::task::spawn_blocking(move || Arc::new(load(&roots, &FsReader)))
            .await
            .context("catalog loading task failed")
    }
}
