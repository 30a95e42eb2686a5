//! What sphere remembers of GitHub between requests and between runs, so that asking
//! again costs nothing when nothing changed:
//!
//! - an HTTP cache for octocrab ([`CacheStorage`]): every GET that GitHub answered with
//!   an `ETag` (or `Last-Modified`) is asked again with `If-None-Match` (or
//!   `If-Modified-Since`); GitHub's `304 Not Modified` does not count against the rate
//!   limit, and octocrab hands back the remembered body;
//! - the discovery memo: per repository, the `pushed_at` and default branch it had when
//!   its descriptor was last read, and what was read (the text, or that there is none).
//!   A repository whose `pushed_at` did not move is not asked for its descriptor at all.
//!
//! Both are kept in one JSON file in the cache directory (written atomically, readable
//! only by the user); a file that cannot be read is logged and ignored (a cold start),
//! never an error. Only GitHub's JSON answers are kept: nothing in them is a secret.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use http::{HeaderMap, HeaderValue, Uri, header};
use octocrab::service::middleware::cache::{CacheKey, CacheStorage, CacheWriter, CachedResponse};
use serde::{Deserialize, Serialize};

/// The file format; another version is ignored (a cold start).
const FORMAT: u32 = 1;
/// Remembered answers at most; the least recently used go first.
const MAX_RESPONSES: usize = 20_000;

/// One remembered answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Response {
    etag: Option<String>,
    last_modified: Option<String>,
    content_type: Option<String>,
    link: Option<String>,
    body: String,
    /// When it was last used (a counter), to drop the least recently used.
    #[serde(default)]
    used: u64,
}

/// What discovery last read of one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoMemo {
    pub pushed_at: Option<String>,
    pub default_branch: Option<String>,
    /// The descriptor's text; `None`: the repository has none.
    pub descriptor: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    format: u32,
    responses: HashMap<String, Response>,
    repos: HashMap<String, RepoMemo>,
}

#[derive(Debug, Default)]
struct Inner {
    stored: Stored,
    clock: u64,
    dirty: bool,
}

/// The cache: shared by the octocrab client (as its [`CacheStorage`]) and the provider.
#[derive(Debug, Clone, Default)]
pub struct GithubCache {
    inner: Arc<Mutex<Inner>>,
    /// Where it is kept; `None`: in memory only.
    file: Option<PathBuf>,
}

impl GithubCache {
    /// A cache kept in memory only.
    pub fn in_memory() -> GithubCache {
        GithubCache::default()
    }

    /// The cache kept in `file`, with what it holds now (nothing when it is missing or
    /// unreadable: logged).
    pub fn open(file: PathBuf) -> GithubCache {
        let stored = match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<Stored>(&bytes) {
                Ok(s) if s.format == FORMAT => s,
                Ok(_) => Stored::default(),
                Err(e) => {
                    tracing::warn!(file = %file.display(), "GitHub cache ignored: {e}");
                    Stored::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Stored::default(),
            Err(e) => {
                tracing::warn!(file = %file.display(), "GitHub cache ignored: {e}");
                Stored::default()
            }
        };
        let clock = stored.responses.values().map(|r| r.used).max().unwrap_or(0);
        GithubCache {
            inner: Arc::new(Mutex::new(Inner {
                stored,
                clock,
                dirty: false,
            })),
            file: Some(file),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What discovery last read of `repo` (`owner/name`).
    pub fn repo(&self, repo: &str) -> Option<RepoMemo> {
        self.lock().stored.repos.get(repo).cloned()
    }

    /// Remember what discovery read of `repo`.
    pub fn set_repo(&self, repo: &str, memo: RepoMemo) {
        let mut inner = self.lock();
        if inner.stored.repos.get(repo) != Some(&memo) {
            inner.stored.repos.insert(repo.to_string(), memo);
            inner.dirty = true;
        }
    }

    /// Every repository's memo.
    pub fn repos(&self) -> Vec<(String, RepoMemo)> {
        let inner = self.lock();
        (inner.stored.repos.iter())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Keep the memo of these repositories only (the others left the org).
    pub fn retain_repos(&self, keep: &std::collections::HashSet<String>) {
        let mut inner = self.lock();
        let before = inner.stored.repos.len();
        inner.stored.repos.retain(|k, _| keep.contains(k));
        if inner.stored.repos.len() != before {
            inner.dirty = true;
        }
    }

    /// How many answers are remembered.
    pub fn responses(&self) -> usize {
        self.lock().stored.responses.len()
    }

    /// Write the cache to its file if it changed (atomically: a temporary file renamed
    /// over it). Errors are logged: a cache that cannot be written costs requests only.
    pub fn save(&self) {
        let Some(file) = &self.file else {
            return;
        };
        let bytes = {
            let mut inner = self.lock();
            if !inner.dirty {
                return;
            }
            if inner.stored.responses.len() > MAX_RESPONSES {
                let mut used: Vec<u64> = inner.stored.responses.values().map(|r| r.used).collect();
                used.sort_unstable();
                let cut = used[used.len() - MAX_RESPONSES];
                inner.stored.responses.retain(|_, r| r.used >= cut);
            }
            inner.stored.format = FORMAT;
            match serde_json::to_vec(&inner.stored) {
                Ok(b) => {
                    inner.dirty = false;
                    b
                }
                Err(e) => {
                    tracing::warn!("GitHub cache not serialised: {e}");
                    return;
                }
            }
        };
        if let Err(e) = write_atomically(file, &bytes) {
            tracing::warn!(file = %file.display(), "GitHub cache not written: {e}");
        }
    }
}

fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, file)
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl CacheStorage for GithubCache {
    fn try_hit(&self, uri: &Uri) -> Option<CacheKey> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let r = inner.stored.responses.get_mut(&uri.to_string())?;
        r.used = clock;
        match (&r.etag, &r.last_modified) {
            (Some(e), _) => Some(CacheKey::ETag(e.clone())),
            (None, Some(m)) => Some(CacheKey::LastModified(m.clone())),
            (None, None) => None,
        }
    }

    fn load(&self, uri: &Uri) -> Option<CachedResponse> {
        let inner = self.lock();
        let r = inner.stored.responses.get(&uri.to_string())?;
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (header::CONTENT_TYPE, &r.content_type),
            (header::LINK, &r.link),
        ] {
            if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(&r.body.len().to_string()) {
            headers.insert(header::CONTENT_LENGTH, v);
        }
        Some(CachedResponse {
            body: r.body.clone().into_bytes(),
            headers,
        })
    }

    fn writer(&self, uri: &Uri, key: CacheKey, headers: HeaderMap) -> Box<dyn CacheWriter> {
        let (etag, last_modified) = match key {
            CacheKey::ETag(e) => (Some(e), None),
            CacheKey::LastModified(m) => (None, Some(m)),
            // A kind of key this version does not know: remember nothing.
            _ => (None, None),
        };
        Box::new(Writer {
            cache: self.clone(),
            uri: uri.to_string(),
            etag,
            last_modified,
            content_type: header_text(&headers, header::CONTENT_TYPE),
            link: header_text(&headers, header::LINK),
            body: Vec::new(),
        })
    }
}

/// Collects one answer's body while octocrab reads it; kept when it is whole.
struct Writer {
    cache: GithubCache,
    uri: String,
    etag: Option<String>,
    last_modified: Option<String>,
    content_type: Option<String>,
    link: Option<String>,
    body: Vec<u8>,
}

impl CacheWriter for Writer {
    fn write_body(&mut self, data: &[u8]) {
        self.body.extend_from_slice(data);
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // The body is handed over when the answer was read to its end; an answer cut
        // short (a timeout) is not JSON and must never be replayed on a 304.
        if self.etag.is_none() && self.last_modified.is_none() {
            return;
        }
        let body = std::mem::take(&mut self.body);
        if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
            return;
        }
        let Ok(body) = String::from_utf8(body) else {
            return;
        };
        let mut inner = self.cache.lock();
        inner.clock += 1;
        let used = inner.clock;
        inner.stored.responses.insert(
            std::mem::take(&mut self.uri),
            Response {
                etag: self.etag.take(),
                last_modified: self.last_modified.take(),
                content_type: self.content_type.take(),
                link: self.link.take(),
                body,
                used,
            },
        );
        inner.dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(cache: &GithubCache, uri: &str, etag: &str, body: &[u8]) {
        let uri: Uri = uri.parse().unwrap();
        let mut w = cache.writer(&uri, CacheKey::ETag(etag.into()), HeaderMap::new());
        // In two pieces, as a body arrives.
        let (a, b) = body.split_at(body.len() / 2);
        w.write_body(a);
        w.write_body(b);
    }

    #[test]
    fn a_whole_answer_is_replayed_and_a_cut_one_is_not_kept() {
        let cache = GithubCache::in_memory();
        let uri: Uri = "/orgs/acme/repos?per_page=100".parse().unwrap();
        write(
            &cache,
            "/orgs/acme/repos?per_page=100",
            "\"abc\"",
            b"[{\"a\":1}]",
        );
        assert!(matches!(cache.try_hit(&uri), Some(CacheKey::ETag(e)) if e == "\"abc\""));
        assert_eq!(cache.load(&uri).unwrap().body, b"[{\"a\":1}]");
        let cut: Uri = "/repos/acme/x/contents/catalog-info.yaml".parse().unwrap();
        write(
            &cache,
            "/repos/acme/x/contents/catalog-info.yaml",
            "\"d\"",
            b"{\"conte",
        );
        assert!(cache.try_hit(&cut).is_none());
        assert!(cache.load(&cut).is_none());
    }

    #[test]
    fn kept_between_runs_in_the_file_and_a_bad_file_is_a_cold_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/github.json");
        let cache = GithubCache::open(file.clone());
        write(&cache, "/a", "\"1\"", b"{}");
        let memo = RepoMemo {
            pushed_at: Some("2026-11-20T09:00:00Z".into()),
            default_branch: Some("main".into()),
            descriptor: Some("kind: Component\n".into()),
        };
        cache.set_repo("acme/cart", memo.clone());
        cache.save();
        let again = GithubCache::open(file.clone());
        assert_eq!(again.repo("acme/cart"), Some(memo));
        assert!(again.try_hit(&"/a".parse().unwrap()).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "only the user reads it: {mode:o}");
        }
        std::fs::write(&file, "{ not json").unwrap();
        let cold = GithubCache::open(file);
        assert_eq!(cold.responses(), 0);
        assert!(cold.repo("acme/cart").is_none());
    }
}
