//! The GitHub facts of the service view (a repository, its workflows, its releases)
//! remembered for a while (issue 14, item 2): within [`FACTS_TTL`] an answer is given
//! again without asking GitHub; after it, GitHub is asked conditionally (the HTTP
//! cache's `If-None-Match`, a `304` not counted against the rate limit), and a
//! repository whose `pushed_at` and default branch did not move keeps the workflows
//! read before (its workflow directory is not asked again: nothing was pushed). A
//! write through sphere forgets what it changes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a fact is given again without asking GitHub.
pub const FACTS_TTL: Duration = Duration::from_secs(60);

/// Facts by key (a lower-case `owner/name`), with when they were read.
pub struct FactsMemo<T> {
    ttl: Mutex<Duration>,
    entries: Mutex<HashMap<String, (Instant, T)>>,
    /// Nothing is kept (a provider without a cache).
    off: std::sync::atomic::AtomicBool,
}

impl<T: Clone> Default for FactsMemo<T> {
    fn default() -> Self {
        FactsMemo {
            ttl: Mutex::new(FACTS_TTL),
            entries: Mutex::new(HashMap::new()),
            off: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl<T: Clone> FactsMemo<T> {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, T)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_ttl(&self, ttl: Duration) {
        *self.ttl.lock().unwrap_or_else(|p| p.into_inner()) = ttl;
    }

    fn ttl(&self) -> Duration {
        *self.ttl.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fact, when it was read less than the TTL ago.
    pub fn fresh(&self, key: &str) -> Option<T> {
        let ttl = self.ttl();
        let entries = self.entries();
        let (at, value) = entries.get(&key.to_lowercase())?;
        (at.elapsed() < ttl).then(|| value.clone())
    }

    /// The fact as last read, however long ago.
    pub fn last(&self, key: &str) -> Option<T> {
        self.entries()
            .get(&key.to_lowercase())
            .map(|(_, v)| v.clone())
    }

    /// Keeps nothing from now on.
    pub fn set_off(&self) {
        (self.off).store(true, std::sync::atomic::Ordering::Relaxed);
        self.entries().clear();
    }

    pub fn put(&self, key: &str, value: T) {
        if self.off.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        self.entries()
            .insert(key.to_lowercase(), (Instant::now(), value));
    }

    pub fn forget(&self, key: &str) {
        self.entries().remove(&key.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_within_the_ttl_and_last_after_it() {
        let m: FactsMemo<u32> = FactsMemo::default();
        m.put("Acme/Cart", 1);
        assert_eq!(m.fresh("acme/cart"), Some(1));
        m.set_ttl(Duration::ZERO);
        assert_eq!(m.fresh("acme/cart"), None);
        assert_eq!(m.last("acme/cart"), Some(1));
        m.forget("ACME/cart");
        assert_eq!(m.last("acme/cart"), None);
    }
}
