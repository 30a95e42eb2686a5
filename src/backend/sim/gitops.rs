//! The demo's GitOps repository: what "git" declares for every deployment (its version,
//! its HPA bounds), kept as the real model would keep it.
//!
//! Which actions write git and which only change what runs:
//! - **rollback** (and the delivery pipeline's releases) is a commit to the GitOps
//!   repository that the cluster then follows: git and live agree afterwards;
//! - **HPA bounds** (`sphere hpa set`, the `H` key) are a patch of the live HPA, as
//!   `kubectl patch hpa` would be: git keeps the bounds it had, so the HPA drifts
//!   from git until the bounds are set back (or git is changed to match);
//! - **restart** replaces pods and changes neither the version nor git: no drift.
//!
//! Only the differences are stored (a few entries, not one per deployment): git
//! declares what runs unless an entry says otherwise. A version entry remembers the
//! version that ran when it diverged: once the deployment runs another one (a
//! rollback, a release — each a git commit), the entry no longer applies. The seeded
//! demo has two deployments changed by hand in production (an incident hotfix nobody
//! committed), so git-vs-live drift exists from the start.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::state::DurableState;
use crate::domain::ClusterId;
use crate::domain::drift::{DeclaredHpa, DeclaredVersion, GitDeclared};

/// Where the demo's files would be in its GitOps repository (the default
/// `[github] version_path` layout, and `hpa.yaml` beside it).
fn dir(service: &str, cluster: &ClusterId) -> String {
    format!("apps/{service}/{}/{}", cluster.env, cluster.region)
}

fn key(service: &str, cluster: &ClusterId) -> String {
    format!("{service}/{}/{}", cluster.env, cluster.region)
}

/// A deployment changed outside git.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionEdit {
    /// What git declares.
    pub declared: String,
    /// What ran when it was changed by hand; another version means git was written
    /// since (and the cluster followed it).
    pub live: String,
}

/// What git declares where it differs from what runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GitopsModel {
    /// `service/env/region` → the version edit.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, VersionEdit>,
    /// `service/env/region` → the bounds git holds (`[min, max]`) while the live HPA
    /// has others.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hpas: BTreeMap<String, [u32; 2]>,
}

impl GitopsModel {
    /// The live HPA of `service` in `cluster` was patched from `old` to `new` outside
    /// git: git keeps what it held (the first bounds before any such patch); set back to
    /// them, the HPA is in sync again.
    pub fn hpa_patched(
        &mut self,
        service: &str,
        cluster: &ClusterId,
        old: [u32; 2],
        new: [u32; 2],
    ) {
        let k = key(service, cluster);
        let declared = *self.hpas.get(&k).unwrap_or(&old);
        if declared == new {
            self.hpas.remove(&k);
        } else {
            self.hpas.insert(k, declared);
        }
    }
}

/// The seeded hand edits: the first two production deployments (in the state's order)
/// of services with at least two releases run their latest release while git still
/// declares the one before it.
pub(crate) fn seed(state: &DurableState) -> GitopsModel {
    let mut model = GitopsModel::default();
    for d in &state.deployments {
        if model.versions.len() == 2 {
            break;
        }
        if d.cluster.env != "production" {
            continue;
        }
        let Some(releases) = state.releases.get(&d.service) else {
            continue;
        };
        let at = releases.iter().position(|r| *r == d.version);
        let Some(previous) = at.and_then(|i| i.checked_sub(1)).map(|i| &releases[i]) else {
            continue;
        };
        if model
            .versions
            .keys()
            .any(|k| k.starts_with(&format!("{}/", d.service)))
        {
            continue;
        }
        model.versions.insert(
            key(&d.service, &d.cluster),
            VersionEdit {
                declared: previous.to_string(),
                live: d.version.to_string(),
            },
        );
    }
    model
}

/// What git declares now, for every deployment and HPA of the demo.
pub(crate) fn declared(state: &DurableState) -> GitDeclared {
    let model = &state.gitops;
    let versions = state
        .deployments
        .iter()
        .map(|d| {
            let running = d.version.to_string();
            let version = match model.versions.get(&key(&d.service, &d.cluster)) {
                Some(edit) if edit.live == running => edit.declared.clone(),
                _ => running,
            };
            DeclaredVersion {
                service: d.service.to_string(),
                cluster: d.cluster.clone(),
                version,
                path: format!("{}/version", dir(&d.service, &d.cluster)),
            }
        })
        .collect();
    let hpas = state
        .hpas
        .iter()
        .map(|h| {
            let [min, max] = model
                .hpas
                .get(&key(&h.service, &h.cluster))
                .copied()
                .unwrap_or([h.min, h.max]);
            DeclaredHpa {
                service: h.service.to_string(),
                cluster: h.cluster.clone(),
                min,
                max,
                path: format!("{}/hpa.yaml", dir(&h.service, &h.cluster)),
            }
        })
        .collect();
    GitDeclared::new("the demo's GitOps repository".to_string(), versions, hpas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hpa_patch_drifts_until_set_back() {
        let c = ClusterId::new("production", "eu-west-1");
        let mut m = GitopsModel::default();
        m.hpa_patched("pay", &c, [2, 10], [2, 20]);
        assert_eq!(m.hpas.get("pay/production/eu-west-1"), Some(&[2, 10]));
        // A second patch: git still holds the first bounds.
        m.hpa_patched("pay", &c, [2, 20], [3, 30]);
        assert_eq!(m.hpas.get("pay/production/eu-west-1"), Some(&[2, 10]));
        m.hpa_patched("pay", &c, [3, 30], [2, 10]);
        assert!(m.hpas.is_empty(), "back in sync");
    }
}
