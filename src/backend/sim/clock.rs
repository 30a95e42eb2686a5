//! The demo's clock: the tick task, one step of the world (rollouts, pods, flags,
//! expiries) shared between processes, and the delivery pipeline's releases audited.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::Sim;
use super::state::FileLock;
use super::sync::save;
use super::world::World;
use super::{state, world};
use crate::domain::{Outcome, Timestamp};

impl Sim {
    /// Tick every `2 / pace` seconds on the current tokio runtime. `None` when pace is 0
    /// (nothing changes by itself) or there is no runtime. The task ends when every
    /// `Sim` handle is gone, or when the handle is aborted.
    pub fn start_clock(&self) -> Option<tokio::task::JoinHandle<()>> {
        let pace = self.inner.opts.pace;
        if !pace.is_finite() || pace <= 0.0 {
            return None;
        }
        let rt = tokio::runtime::Handle::try_current().ok()?;
        let period = Duration::from_secs_f64((2.0 / pace).max(0.01));
        let weak = Arc::downgrade(&self.inner);
        Some(rt.spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let sim = Sim { inner };
                let gap = i64::try_from(period.as_millis() / 2).unwrap_or(i64::MAX);
                if tokio::task::spawn_blocking(move || sim.tick_due(gap))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }))
    }

    /// One step of the clock, taken now: pick up other processes' changes, remove
    /// expired environments, move rollouts and pods, acknowledge flags, write the
    /// world for every other process, and tell every watcher.
    pub fn tick(&self) {
        self.step_shared(None);
    }

    /// The clock task's tick: a step, unless another process on the same state took one
    /// less than `gap_ms` ago (then only its step is read), so the world moves at
    /// one pace however many processes watch it.
    pub(super) fn tick_due(&self, gap_ms: i64) {
        self.step_shared(Some(gap_ms));
    }

    fn step_shared(&self, gap_ms: Option<i64>) {
        if let Err(e) = self.expire_due() {
            tracing::warn!("demo: removing expired environments failed: {e:#}");
        }
        // True when the step changed the durable state (a release, an acknowledged
        // flag), which is then written; else only the live half is.
        let step = |w: &mut World, now_ms: i64| {
            let now = now_ms.div_euclid(1000);
            let (rollout, ack) = w.step(now);
            let mut durable = false;
            if rollout && let Some(release) = w.start_rollout(now) {
                // A release changes a version; a held one is audited once.
                let audited = w.durable.audit.len();
                audit_release(&mut w.durable, now, &release);
                durable = release.held_by.is_empty() || w.durable.audit.len() != audited;
            }
            if ack {
                durable |= w.ack_flags() > 0;
            }
            w.stepped_at_ms = now_ms;
            w.reconcile(now);
            durable
        };
        let Some(path) = &self.inner.opts.state_path else {
            let mut w = self.world();
            let now_ms = self.wall_ms() + w.durable.clock_offset.saturating_mul(1000);
            step(&mut w, now_ms);
            w.flush();
            return;
        };
        let r = (|| -> Result<()> {
            let _lock = FileLock::exclusive(path)?;
            let mut w = self.world();
            self.catch_up(path, &mut w)?;
            let now_ms = self.wall_ms() + w.durable.clock_offset.saturating_mul(1000);
            if gap_ms.is_some_and(|gap| now_ms - w.stepped_at_ms < gap) {
                w.flush();
                return Ok(());
            }
            let durable = step(&mut w, now_ms);
            let saved = save(path, &mut w, durable);
            w.flush();
            saved
        })();
        if let Err(e) = r {
            tracing::warn!("demo state update failed: {e:#}");
        }
    }

    /// Emit `n` pod updates at once (for the ingest benchmark).
    pub fn churn_pods(&self, n: usize) {
        let mut w = self.world();
        w.churn(n);
        w.flush();
    }
}

/// The actor the demo's delivery pipeline is audited as.
pub const PIPELINE_ACTOR: &str = "system:pipeline";

/// Audit a release of the demo's delivery pipeline as `deployment.release` by
/// [`PIPELINE_ACTOR`], with `version.from`/`version.to`: succeeded, or refused naming
/// the locks that held it (once per target and version, not at every try).
fn audit_release(state: &mut state::DurableState, now: Timestamp, r: &world::Release) {
    let target = format!("{}@{}", r.service, r.cluster);
    let outcome = if r.held_by.is_empty() {
        Outcome::Succeeded
    } else {
        let told = state.audit.iter().rev().any(|a| {
            a.actor == PIPELINE_ACTOR
                && a.target == target
                && matches!(a.outcome, Outcome::Refused(_))
                && a.details.get("version.to") == Some(&r.to)
        });
        if told {
            return;
        }
        Outcome::Refused(format!(
            "locked by {}",
            crate::domain::holders_text(&r.held_by)
        ))
    };
    let id = state.append_audit(
        now,
        PIPELINE_ACTOR,
        "deployment.release",
        &target,
        Some(if r.held_by.is_empty() {
            "the delivery pipeline released a new version"
        } else {
            "the delivery pipeline held a new version back: the target is locked"
        }),
        outcome,
    );
    if let Some(rec) = state.audit.iter_mut().rev().find(|a| a.id == id) {
        rec.details.insert("version.from".into(), r.from.clone());
        rec.details.insert("version.to".into(), r.to.clone());
    }
}
