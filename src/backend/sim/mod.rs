//! The embedded demo platform (`sim`): in-process providers for every backend trait,
//! seeded deterministically from the demo catalog, alive on a clock, and shared between
//! `sphere` processes through a small JSON state file.
//!
//! The durable half (`state`) is what a real platform keeps in its systems of record:
//! deployment versions and their history, desired replicas, HPA bounds, secrets, flags,
//! repositories, locks, the freeze and the audit trail. Every change to it goes through
//! `Sim::mutate`, which holds an OS lock on `<state>.lock`. The live half (`world`) is
//! pods and rollout progress: in memory, regenerated at open, converging towards the
//! durable spec the way a controller would.
//!
//! The files, by concern:
//! - `handle`: [`Sim`], opening (or seeding) the state, faults, the clock reading;
//! - `options`: [`Scale`], [`SimOptions`] and the topology of a scale; `seed`: what
//!   seeding reads from the catalog;
//! - `clock`: the tick and one shared step of the world, the pipeline's releases;
//! - `sync`: the state file shared between processes, the one door for changes;
//! - `actions`: the mutations behind the provider traits;
//! - `catalog`, `clusters`, `providers` (secrets, repos, flags), `ledger`: the
//!   provider traits;
//! - `state` (durable), `world` (live), `watch`, `envs`, `secrets`, `diagnose`, `gitops`
//!   (what the demo's GitOps repository declares): the model itself.

mod actions;
pub mod assets;
mod catalog;
mod clock;
mod clusters;
mod diagnose;
mod envs;
mod gitops;
mod handle;
mod ledger;
mod options;
mod providers;
mod secrets;
mod seed;
pub(crate) mod state;
mod sync;
mod watch;
mod world;

#[cfg(test)]
mod state_tests;
#[cfg(test)]
mod tests;

pub use self::clock::PIPELINE_ACTOR;
pub use self::handle::{FAIL_ENV, FAULT_OPS, Sim, unknown_faults};
pub(crate) use self::options::topology_for;
pub use self::options::{Scale, SimOptions};
pub use self::state::StateError;
