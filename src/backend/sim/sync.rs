//! The state file shared between `sphere` processes: saving the world, catching up with
//! another process's write, `sphere demo reset`, and the one door for durable changes.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Sim;
use super::options::topology_for;
use super::seed::seed_inputs;
use super::state;
use super::state::{DurableState, FileLock, read_state, stamp, write_state};
use super::world::World;
use crate::domain::Timestamp;

/// Write the world's live half to its file, and its durable state to the state file
/// when `durable` (it changed), each atomically; hold the state's lock. On failure our
/// memory is ahead of the files: both are read again at the next chance.
pub(super) fn save(path: &Path, w: &mut World, durable: bool) -> Result<()> {
    let r = (|| -> Result<()> {
        w.live_stamp = Some(write_state(&state::live_path(path), &w.live_out())?);
        if durable {
            w.stamp = Some(write_state(path, &w.durable)?);
        }
        Ok(())
    })();
    if r.is_err() {
        (w.stamp, w.live_stamp) = (None, None);
    }
    r
}

impl Sim {
    /// Read the state file when another process changed it (hold its lock): its
    /// durable state and its live half replace ours, and watchers hear what differs.
    /// True when it was read.
    pub(super) fn catch_up(&self, path: &Path, w: &mut World) -> Result<bool> {
        let (mut current, mut live_now) = (stamp(path), stamp(&state::live_path(path)));
        if current.is_none() && w.stamp.is_some() {
            // The file we read is gone: another process ran `sphere demo reset` (it moved
            // the file aside). Start over from the seed as a first opening would, never
            // writing our old world back over the reset; then adopt that world below like
            // any other process's, so watchers hear what differs.
            tracing::info!("demo: {} was reset by another process", path.display());
            let mut fresh = self.seeded_world();
            save(path, &mut fresh, true)?;
            drop(fresh);
            (current, live_now) = (stamp(path), stamp(&state::live_path(path)));
        }
        if current.is_none() || (current == w.stamp && live_now == w.live_stamp) {
            return Ok(false);
        }
        let mut live = None;
        if current != w.stamp {
            let Some(mut s) = read_state(path)? else {
                return Ok(false);
            };
            state::check_identity(path, &s, self.inner.opts.seed, &self.inner.opts.scale)?;
            if s.fingerprint != self.inner.fingerprint {
                tracing::warn!(
                    "demo: {} was written for another catalog; showing it as it is",
                    path.display()
                );
            }
            // (An older state file keeps its live half inside.)
            live = s.live.take();
            w.adopt(s);
        }
        if live.is_none() && live_now != w.live_stamp {
            live = state::read_live(path)?;
        }
        if let Some(live) = live {
            w.load_live(live);
        }
        let now = self.wall_ms().div_euclid(1000) + w.durable.clock_offset;
        w.reconcile(now);
        (w.stamp, w.live_stamp) = (current, live_now);
        Ok(true)
    }

    /// A new world from the seed at the wall clock, as the first opening of a state file
    /// makes it.
    fn seeded_world(&self) -> World {
        let opts = &self.inner.opts;
        let topology = topology_for(&opts.scale);
        let (services, slugs, users) = seed_inputs(&self.inner.catalog);
        let now = self.wall_ms().div_euclid(1000);
        let durable = state::seed_state(
            opts.seed,
            &opts.scale,
            &topology,
            &services,
            &slugs,
            &users,
            now,
        );
        let full = topology.with_ephemeral(&durable.environments);
        World::new(durable, None, full, opts.seed, now)
    }

    /// Reload the durable state when another process changed the file; emits events for
    /// what changed. True when it reloaded.
    pub fn refresh(&self) -> Result<bool> {
        let Some(path) = &self.inner.opts.state_path else {
            return Ok(false);
        };
        let (current, live_now) = (stamp(path), stamp(&state::live_path(path)));
        if current.is_none() || {
            let w = self.world();
            current == w.stamp && live_now == w.live_stamp
        } {
            return Ok(false);
        }
        let _lock = FileLock::exclusive(path)?;
        let mut w = self.world();
        let read = self.catch_up(path, &mut w)?;
        w.flush();
        Ok(read)
    }

    /// `sphere demo reset`: move the state file aside as a dated backup next to it
    /// (without reading it: it may be unreadable), so the next command seeds a new
    /// one. The backup's path, when there was a file.
    pub fn reset(state_path: &Path) -> Result<Option<PathBuf>> {
        let _lock = FileLock::exclusive(state_path)?;
        let backup = state::back_up(state_path, chrono::Utc::now())?;
        // The live half goes with it (a new state makes its own).
        let live = state::live_path(state_path);
        if let Err(e) = std::fs::remove_file(&live)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(anyhow::Error::new(e).context(format!("removing {}", live.display())));
        }
        state::clean_stale_tmp(state_path);
        state::clean_stale_tmp(&live);
        Ok(backup)
    }

    /// The one door for durable changes: lock `<state>.lock`, re-read the file if another
    /// process changed it, apply `f`, reconcile the live world, write both atomically,
    /// release. A file that cannot be read fails the change: it is never replaced.
    pub(super) fn mutate_world<R>(&self, f: impl FnOnce(&mut World, Timestamp) -> R) -> Result<R> {
        let Some(path) = &self.inner.opts.state_path else {
            let mut w = self.world();
            let now = self.wall_ms().div_euclid(1000) + w.durable.clock_offset;
            let r = f(&mut w, now);
            w.reconcile(now);
            w.flush();
            return Ok(r);
        };
        let _lock = FileLock::exclusive(path)?;
        let mut w = self.world();
        self.catch_up(path, &mut w)?;
        let now = self.wall_ms().div_euclid(1000) + w.durable.clock_offset;
        let r = f(&mut w, now);
        w.reconcile(now);
        let saved = save(path, &mut w, true);
        w.flush();
        saved.map(|()| r)
    }

    /// Apply `f` to the durable state (see `mutate_world`).
    #[allow(dead_code)]
    pub(crate) fn mutate<R>(&self, f: impl FnOnce(&mut DurableState) -> R) -> Result<R> {
        self.mutate_world(|w, _| f(&mut w.durable))
    }
}
