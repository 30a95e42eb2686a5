//! The Kubernetes provider: deployments, pods and HPAs of every `[[clusters]]` entry,
//! watched live with `kube::runtime` and kept as summaries; rollout restart and HPA
//! patches; and the lock store (one ConfigMap per cluster, written with optimistic
//! concurrency).
//!
//! One kube [`Client`](kube::Client) per configured cluster, built from the kubeconfig (the entry's
//! file, else `$KUBECONFIG`, else `~/.kube/config`) and the entry's context. Workloads
//! map to services by the `[kubernetes] service_label` label, or by a catalog
//! Component's `backstage.io/kubernetes-id` / `backstage.io/kubernetes-label-selector`
//! annotation ([`mapping`]). Only standard API calls are used: list, watch, get,
//! create, merge/strategic-merge patch and replace.
//!
//! The files, by concern:
//! - `client`: [`KubeClusters`], one connection per cluster, the timeout, the mapping;
//! - `workloads`: the [`ClusterProvider`](crate::backend::ClusterProvider) — snapshot
//!   reads, restart, HPA bounds, new deployments;
//! - `watch`: the live watch of workloads and environment namespaces;
//! - `summaries`: deployments, pods and HPAs as the panes keep them;
//! - `locks`: the lock object and the [`LockStore`](crate::backend::LockStore);
//! - `watch_store`: the watched lock objects and environment namespaces reads are served
//!   from; [`envs`]: ephemeral environments; [`diagnose`]: pod details, events and logs;
//!   [`mapping`]: which workloads are which service.

mod client;
pub mod diagnose;
pub mod envs;
mod locks;
pub mod mapping;
mod summaries;
mod watch;
mod watch_store;
mod workloads;

pub use self::client::KubeClusters;
pub use self::locks::{LOCK_FORMAT, LOCK_KEY, LOCK_OBJECT, LockDoc, parse_lock_text};
pub use self::mapping::Mapping;
pub use self::summaries::{deployment_summary, hpa_summary, image_version, pod_summary};
