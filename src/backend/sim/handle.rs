//! The [`Sim`] handle: opening the state (or seeding it), the stand-in for an unreadable
//! one, the [`Platform`] it serves, injected faults and the demo's clock reading.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::options::{SimOptions, topology_for};
use super::seed::{extend_catalog, kept_services, seed_inputs};
use super::state::{FileLock, FileStamp, read_state, stamp};
use super::sync::save;
use super::world::World;
use super::{state, world};
use crate::backend::{Platform, PlatformKind};
use crate::domain::Timestamp;
use crate::domain::catalog::Catalog;

/// The wall clock in milliseconds; the demo's own clock is this plus its offset (see
/// [`Sim::now`]).
pub(super) fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(super) struct Inner {
    pub(super) opts: SimOptions,
    pub(super) catalog: Arc<Catalog>,
    pub(super) fingerprint: u64,
    pub(super) world: Mutex<World>,
    /// Provider operations that fail (see [`Sim::fail_next`]).
    pub(super) faults: Mutex<Faults>,
    /// The catalog served: `catalog` plus the registered descriptors it was built with.
    pub(super) served: Mutex<(BTreeMap<String, String>, Arc<Catalog>)>,
    /// The wall clock, stopped here (milliseconds), for tests.
    pub(super) fixed_ms: Option<i64>,
    /// What opening changed that the user should hear once (a catalog change).
    pub(super) notices: Vec<String>,
    /// Why the state file could not be read, when this is the stand-in that
    /// [`Sim::unreadable`] opened: every read of the platform's truth fails with it.
    pub(super) unreadable: Option<String>,
    /// What [`Sim::open_deferred`] left unwritten (a freshly seeded state, or one that
    /// opening changed), for [`Sim::save_opened`]; `None` once written or when there
    /// was nothing to write.
    pub(super) unsaved: Mutex<Option<Unsaved>>,
}

/// A state opened and not written yet: the stamp of the file as it was read (`None`
/// when there was none and the state was seeded).
#[derive(Debug, Clone, Copy)]
pub(super) struct Unsaved {
    read: Option<FileStamp>,
}

/// When opening writes what it seeded or changed: before [`Sim::open_at`] returns
/// (every command), or later, in [`Sim::save_opened`] (the TUI: once its screen and
/// the platform are up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Now,
    Later,
}

/// Injected provider failures, for tests: one-shot ones from [`Sim::fail_next`], and
/// standing ones from `SPHERE_DEMO_FAIL` (comma-separated operation names), which fail
/// every call of that operation in this process.
#[derive(Debug, Default)]
pub(super) struct Faults {
    pub(super) once: Vec<String>,
    pub(super) always: Vec<String>,
}

/// The environment variable naming demo provider operations that always fail.
pub const FAIL_ENV: &str = "SPHERE_DEMO_FAIL";

/// The demo provider operations a failure can be injected into (see [`FAIL_ENV`]).
pub const FAULT_OPS: &[&str] = &[
    "add_lock",
    "append_audit",
    "copy_secret",
    "create_deployment",
    "create_environment",
    "create_repo",
    "decide_access",
    "delete_environment",
    "delete_secret",
    "extend_environment",
    "put_secret",
    "register",
    "remove_locks",
    "request_access",
    "restart",
    "reveal_secret",
    "rollback",
    "set_audit_outcome",
    "set_flag",
    "set_freeze",
    "set_hpa",
    "write_file",
];

/// The names in `SPHERE_DEMO_FAIL` that are no operation of the demo (they fail nothing).
pub fn unknown_faults(spec: &str) -> Vec<String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty() && !FAULT_OPS.contains(s))
        .map(str::to_string)
        .collect()
}

/// The demo platform. Cheap to clone.
#[derive(Clone)]
pub struct Sim {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.inner.opts.seed)
            .field("scale", &self.inner.opts.scale)
            .field("state_path", &self.inner.opts.state_path)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Open the demo platform over an already-loaded catalog: load the state file (or
    /// seed a new one when there is none, and write it). A state file that cannot be
    /// read, or is for another seed or scale, is a [`super::state::StateError`]: nothing is replaced.
    /// A catalog that changed keeps the state that still applies (see
    /// `state::merge_catalog`); the change is told once ([`Sim::notices`]).
    pub fn open(opts: SimOptions, catalog: Catalog) -> Result<Sim> {
        Sim::open_at(opts, catalog, None)
    }

    /// [`Sim::open`] with the wall clock stopped at `at` (milliseconds), for tests.
    pub(crate) fn open_at(opts: SimOptions, catalog: Catalog, at: Option<i64>) -> Result<Sim> {
        let catalog = Sim::scaled_catalog(&opts, catalog);
        Sim::open_with(opts, catalog, at, Write::Now)
    }

    /// The catalog the demo serves at the scale of `opts`: `catalog` with synthetic
    /// services added up to `--scale services=N`. It needs no state: the TUI shows its
    /// rows while [`Sim::open_deferred`] seeds or reads the state, and the platform
    /// opened over it serves this very catalog (the same `Arc`, while nothing is
    /// registered), so it is not built twice.
    pub fn scaled_catalog(opts: &SimOptions, catalog: Catalog) -> Arc<Catalog> {
        Arc::new(match opts.scale.services {
            Some(n) => extend_catalog(&catalog, n, opts.seed),
            None => catalog,
        })
    }

    /// [`Sim::open`] over a catalog already at scale ([`Sim::scaled_catalog`]), except
    /// that what opening would write (a freshly seeded state; a saved one that opening
    /// changed: a merged catalog, interrupted actions, a live half moved out) is left
    /// for [`Sim::save_opened`], so the platform is handed over before tens of megabytes
    /// are written at scale. Until then the file is as it was (none, for a fresh
    /// start): a process that ends first leaves the next start to seed or read it
    /// again, as this one did. Every change made meanwhile writes the whole state
    /// itself (see `mutate_world`).
    pub fn open_deferred(opts: SimOptions, catalog: Arc<Catalog>) -> Result<Sim> {
        Sim::open_with(opts, catalog, None, Write::Later)
    }

    /// [`Sim::open_deferred`] with the wall clock stopped at `at`, for tests.
    #[cfg(test)]
    pub(crate) fn open_deferred_at(
        opts: SimOptions,
        catalog: Arc<Catalog>,
        at: Option<i64>,
    ) -> Result<Sim> {
        Sim::open_with(opts, catalog, at, Write::Later)
    }

    /// Write what [`Sim::open_deferred`] left unwritten, holding the state's lock. When
    /// another process wrote the state file since this one read it (or, fresh, wrote
    /// one first), or this one has written since (a change, a step of the clock), the
    /// file is newer than what opening made: it is read (as any other process's
    /// write), never overwritten. True when this wrote the state. Call it off the
    /// UI task: at scale it writes tens of megabytes.
    pub fn save_opened(&self) -> Result<bool> {
        let Some(path) = &self.inner.opts.state_path else {
            return Ok(false);
        };
        let taken = self
            .inner
            .unsaved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(unsaved) = taken else {
            return Ok(false);
        };
        let started = Instant::now();
        let _lock = FileLock::exclusive(path)?;
        let mut w = self.world();
        let untouched = w.stamp == unsaved.read && stamp(path) == unsaved.read;
        // (Untouched, this reads at most a step of the live half another process took.)
        self.catch_up(path, &mut w)?;
        if untouched {
            save(path, &mut w, true)?;
        }
        w.flush();
        let wrote = untouched;
        drop(w);
        tracing::info!(
            "demo: the state opened {} in {:.1} ms",
            if wrote {
                "written"
            } else {
                "was newer on disk: read, not written"
            },
            started.elapsed().as_secs_f64() * 1e3
        );
        Ok(wrote)
    }

    fn open_with(
        opts: SimOptions,
        catalog: Arc<Catalog>,
        at: Option<i64>,
        when: Write,
    ) -> Result<Sim> {
        let clock = || at.unwrap_or_else(wall_ms);
        let opening = Instant::now();
        let topology = topology_for(&opts.scale);
        let (services, slugs, users) = seed_inputs(&catalog);
        let fingerprint = state::fingerprint(&services, &slugs);
        let seed_now = || {
            state::seed_state(
                opts.seed,
                &opts.scale,
                &topology,
                &services,
                &slugs,
                &users,
                clock().div_euclid(1000),
            )
        };
        let mut notices = Vec::new();
        // Held until the world (and its live half) is written.
        let mut lock = None;
        // The stamp of the live half's file, when the world's live half is read from it.
        let mut live_stamp = None;
        let (durable, file_stamp, write) = match &opts.state_path {
            None => (seed_now(), None, false),
            Some(path) => {
                lock = Some(FileLock::exclusive(path)?);
                let n =
                    state::clean_stale_tmp(path) + state::clean_stale_tmp(&state::live_path(path));
                if n > 0 {
                    tracing::info!("demo: removed {n} temporary file(s) of an unfinished write");
                }
                match read_state(path)? {
                    None => (seed_now(), None, true),
                    Some(mut s) => {
                        state::check_identity(path, &s, opts.seed, &opts.scale)?;
                        // The live half has a file of its own (an older state file kept
                        // it inside: then it moves out).
                        let inline = s.live.is_some();
                        if !inline {
                            live_stamp = stamp(&state::live_path(path));
                            s.live = state::read_live(path)?;
                        }
                        let mut write = inline || s.live.is_none();
                        if s.fingerprint != fingerprint {
                            let keep = kept_services(&services, &s.registered);
                            let keep: std::collections::HashSet<&str> =
                                keep.iter().map(String::as_str).collect();
                            let teams: BTreeMap<&str, &str> = services
                                .iter()
                                .filter_map(|s| Some((s.name.as_str(), s.owner.as_deref()?)))
                                .collect();
                            let now = clock().div_euclid(1000) + s.clock_offset;
                            let change =
                                state::merge_catalog(&mut s, seed_now(), &keep, &teams, now);
                            let text = change.describe();
                            tracing::warn!("demo: {text}");
                            notices.push(text);
                            write = true;
                        }
                        let n = state::interrupt_orphans(&mut s);
                        if n > 0 {
                            tracing::warn!(
                                "demo: {n} audit record(s) of actions killed mid-way marked interrupted"
                            );
                            write = true;
                        }
                        (s, stamp(path), write)
                    }
                }
            }
        };
        // The world spans the ephemeral environments too; they keep the base
        // topology's regions in order.
        let now = clock().div_euclid(1000) + durable.clock_offset;
        let full = topology.with_ephemeral(&durable.environments);
        let read = opening.elapsed();
        let mut world = World::new(durable, file_stamp, full, opts.seed, now);
        let made = opening.elapsed();
        world.live_stamp = live_stamp;
        let mut unsaved = None;
        if let Some(path) = &opts.state_path
            && write
        {
            match when {
                Write::Now => save(path, &mut world, true)?,
                Write::Later => unsaved = Some(Unsaved { read: file_stamp }),
            }
        }
        drop(lock);
        world::give_back_freed_memory();
        tracing::info!(
            "demo: opened in {:.1} ms (state {:.1} ms, world {:.1} ms, to write: {write}, {})",
            opening.elapsed().as_secs_f64() * 1e3,
            read.as_secs_f64() * 1e3,
            (made - read).as_secs_f64() * 1e3,
            if unsaved.is_some() {
                "later"
            } else {
                "written"
            },
        );
        let sim = Sim {
            inner: Arc::new(Inner {
                opts,
                served: Mutex::new((BTreeMap::new(), catalog.clone())),
                catalog,
                fingerprint,
                world: Mutex::new(world),
                fixed_ms: at,
                notices,
                unreadable: None,
                unsaved: Mutex::new(unsaved),
                faults: Mutex::new(Faults {
                    once: Vec::new(),
                    always: std::env::var(FAIL_ENV)
                        .unwrap_or_default()
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                }),
            }),
        };
        // Whatever expired while no sphere ran goes now.
        if let Err(e) = sim.expire_due() {
            tracing::warn!("demo: removing expired environments failed: {e:#}");
        }
        Ok(sim)
    }

    /// A stand-in for a demo whose state file cannot be read (`problem`), for the TUI
    /// to open read-only with the problem shown: the catalog and topology are the
    /// demo's; every read of the platform's truth (clusters, secrets, flags, repos,
    /// locks, freeze, audit, access) fails with the problem, and every change too.
    /// The file is neither read nor written.
    /// `catalog` is at scale already ([`Sim::scaled_catalog`]).
    pub fn unreadable(opts: SimOptions, catalog: Arc<Catalog>, problem: String) -> Result<Sim> {
        let opts = SimOptions {
            state_path: None,
            pace: 0.0,
            ..opts
        };
        let mut sim = Sim::open_with(opts, catalog, None, Write::Now)?;
        if let Some(inner) = Arc::get_mut(&mut sim.inner) {
            inner.unreadable = Some(problem);
        }
        Ok(sim)
    }

    /// An error when this is the stand-in for an unreadable state (fail closed).
    pub(super) fn readable(&self) -> Result<()> {
        match &self.inner.unreadable {
            Some(problem) => Err(anyhow::anyhow!("{problem}")),
            None => Ok(()),
        }
    }

    /// The demo platform behind every provider trait.
    pub fn platform(&self) -> Platform {
        Platform {
            name: "demo".to_string(),
            kind: PlatformKind::Demo,
            catalog: Arc::new(self.clone()),
            clusters: Arc::new(self.clone()),
            secrets: Arc::new(self.clone()),
            repos: Arc::new(self.clone()),
            flags: Arc::new(self.clone()),
            ledger: Arc::new(self.clone()),
            link_templates: Default::default(),
            webhook: None,
            silences: None,
            agent: None,
        }
    }

    /// Make the next call of one provider operation fail before it changes anything, as
    /// an unreachable system would. Operations: `add_lock`, `remove_locks`, `set_freeze`,
    /// `append_audit`, `set_audit_outcome`, `restart`, `set_hpa`, `rollback`, `put_secret`,
    /// `delete_secret`, `reveal_secret`, `copy_secret`, `set_flag`, `create_repo`,
    /// `write_file`, `register`, `create_deployment`, `request_access`,
    /// `decide_access`, `create_environment`, `extend_environment`,
    /// `delete_environment`.
    pub fn fail_next(&self, op: &str) {
        self.faults().once.push(op.to_string());
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.inner.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An error when a failure of `op` was injected (consuming a one-shot one).
    /// The time a call to GitHub, Backstage or a cluster API takes, so the golden
    /// path's steps show their progress one by one: `ms` at pace 1, shorter when the
    /// clock runs faster, none when it is stopped (`--pace 0`, as the tests run).
    pub(super) async fn remote_call(&self, ms: u64) {
        let pace = self.inner.opts.pace;
        if pace.is_finite() && pace > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(ms as f64 / 1000.0 / pace)).await;
        }
    }

    pub(super) fn check_fault(&self, op: &str) -> Result<()> {
        debug_assert!(FAULT_OPS.contains(&op), "{op} is missing from FAULT_OPS");
        self.readable()?;
        let mut f = self.faults();
        let injected = if let Some(i) = f.once.iter().position(|o| o == op) {
            f.once.remove(i);
            true
        } else {
            f.always.iter().any(|o| o == op)
        };
        if injected {
            anyhow::bail!("demo platform: injected failure of {op}");
        }
        Ok(())
    }

    pub(super) fn world(&self) -> MutexGuard<'_, World> {
        self.inner.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wall clock in milliseconds (stopped, in tests opened with [`Sim::open_at`]).
    pub(super) fn wall_ms(&self) -> i64 {
        self.inner.fixed_ms.unwrap_or_else(wall_ms)
    }

    /// What the demo's clock reads: the wall clock plus however far it was moved
    /// forward (`sphere demo advance`).
    pub fn now(&self) -> Timestamp {
        self.wall_ms().div_euclid(1000) + self.world().durable.clock_offset
    }

    /// What opening the state changed that the user should hear once (a catalog
    /// change: what was seeded, what was dropped).
    pub fn notices(&self) -> &[String] {
        &self.inner.notices
    }
}
