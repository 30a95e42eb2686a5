//! Loading descriptor files and following Locations.
//!
//! All file access goes through a [`SourceReader`], so the same loader runs on the real
//! filesystem ([`FsReader`]) and on an embedded, in-memory tree ([`EmbeddedReader`], used
//! by the demo platform and by tests).
//!
//! Reading is bounded: on a real filesystem every file reached (by a walk, a Location
//! target, a glob or a placeholder) must lie inside one of the roots (symlinks resolved),
//! only regular files are read, and each file and the whole load have a size limit.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::model::{Catalog, Entity, Kind, Problem, SPHERE_LIMIT, Severity};
use super::parse::{location_targets, parse_documents, placeholder};
use super::port::{self, PortDocs};
use super::resolve;

/// The most one descriptor file may hold: 4 MiB.
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// The most one catalog load reads in all: 256 MiB.
pub const MAX_TOTAL_BYTES: u64 = 256 << 20;

/// Limits of one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_file_bytes: MAX_FILE_BYTES,
            max_total_bytes: MAX_TOTAL_BYTES,
        }
    }
}

/// Read access to a tree of descriptor files.
pub trait SourceReader {
    /// The whole file as UTF-8 text.
    fn read(&self, path: &Path) -> io::Result<String>;
    fn is_dir(&self, path: &Path) -> bool;
    /// The entries of a directory (files and directories), in any order.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// The file, if it holds at most `max` bytes. Readers of a real filesystem also
    /// refuse anything but a regular file (a FIFO would block, a device never end).
    fn read_limited(&self, path: &Path, max: u64) -> io::Result<String> {
        let text = self.read(path)?;
        if text.len() as u64 > max {
            return Err(too_large(text.len() as u64, max));
        }
        Ok(text)
    }
    /// Where `path` really is (symlinks resolved), for a reader of a real filesystem;
    /// `None` for a virtual tree or a path that does not exist. Only real paths are
    /// confined to the roots.
    fn real_path(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
    /// Is there a file at `path` (a URL included, for readers that hold some)?
    fn has_file(&self, path: &Path) -> bool {
        !self.is_dir(path) && self.read(path).is_ok()
    }
}

fn too_large(len: u64, max: u64) -> io::Error {
    io::Error::other(format!(
        "the file is {len} bytes, more than the limit of {max} bytes: not read"
    ))
}

/// The real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsReader;

#[cfg(unix)]
fn special_file(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn special_file(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

fn not_regular(t: std::fs::FileType) -> io::Error {
    io::Error::other(format!("{}, not a regular file: not read", special_file(t)))
}

impl SourceReader for FsReader {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.read_limited(path, MAX_FILE_BYTES)
    }

    fn read_limited(&self, path: &Path, max: u64) -> io::Result<String> {
        // Look before opening: opening a FIFO blocks until a writer comes.
        let meta = std::fs::metadata(path)?;
        if !meta.is_file() {
            return Err(not_regular(meta.file_type()));
        }
        if meta.len() > max {
            return Err(too_large(meta.len(), max));
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Swapped for a FIFO since the look: do not wait for a writer.
            opts.custom_flags(libc::O_NONBLOCK);
        }
        let file = opts.open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(not_regular(meta.file_type()));
        }
        let mut buf = Vec::with_capacity(meta.len() as usize);
        file.take(max + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 > max {
            return Err(too_large(buf.len() as u64, max));
        }
        String::from_utf8(buf).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )
        })
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(path)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    }

    fn real_path(&self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok()
    }

    fn has_file(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// A virtual tree of files compiled into the binary. Every prefix of a file's path is a
/// directory.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedReader {
    files: BTreeMap<PathBuf, &'static str>,
}

impl EmbeddedReader {
    /// `(path, contents)` pairs; paths are normalised (`./a/../b.yaml` is `b.yaml`).
    pub fn new(files: impl IntoIterator<Item = (&'static str, &'static str)>) -> Self {
        EmbeddedReader {
            files: files
                .into_iter()
                .map(|(p, text)| (normalize(Path::new(p)), text))
                .collect(),
        }
    }

    /// The normalised directory as a prefix: `.` is the empty prefix.
    fn prefix(path: &Path) -> PathBuf {
        let p = normalize(path);
        if p == Path::new(".") {
            PathBuf::new()
        } else {
            p
        }
    }
}

impl SourceReader for EmbeddedReader {
    fn read(&self, path: &Path) -> io::Result<String> {
        match self.files.get(&normalize(path)) {
            Some(text) => Ok((*text).to_string()),
            None if self.is_dir(path) => Err(io::Error::other("is a directory")),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such file in the embedded catalog",
            )),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        let dir = Self::prefix(path);
        self.files.keys().any(|k| k != &dir && k.starts_with(&dir))
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let dir = Self::prefix(path);
        let children: BTreeSet<PathBuf> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&dir).ok())
            .filter_map(|rel| rel.components().next())
            .map(|c| dir.join(c))
            .collect();
        if children.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such directory in the embedded catalog",
            ));
        }
        Ok(children.into_iter().collect())
    }
}

/// Normalise a path lexically: drop `.`, resolve `..` against the preceding component.
/// Does not touch the filesystem (so symlinks are not resolved). An empty result is `.`.
/// A URL location (`url:https://host/...`) is not a path and is kept as written: read
/// as one, its `//` became `/`.
pub fn normalize(path: &Path) -> PathBuf {
    if path.to_str().is_some_and(|s| s.contains("://")) {
        return path.to_path_buf();
    }
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // `/..` is `/`
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

/// Directory walks stop this deep (a guard against symlink loops).
const MAX_DEPTH: usize = 32;

fn is_descriptor(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
        || port::is_json(path)
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// Directory walks skip dot-directories (`.git`, `.github`, `.idea` ...) except
/// `.backstage`, where many repositories keep their descriptors.
fn skipped_dir(path: &Path) -> bool {
    let name = file_name(path);
    name.starts_with('.') && name != ".backstage"
}

/// Is this "path" a URL (a descriptor read from a remote location)?
fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(|s| s.contains("://"))
}

/// Resolve `target` against the URL `base` as a browser would: absolute URLs stay,
/// `/x` is from the host, anything else from the base's directory, `.`/`..` folded.
pub fn join_url(base: &str, target: &str) -> String {
    if target.contains("://") {
        return target.to_string();
    }
    let (prefix, base) = match base.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), base),
    };
    let (host, path) = base.split_once('/').unwrap_or((base, ""));
    let mut segs: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        let mut s: Vec<&str> = path.split('/').collect();
        s.pop(); // the base's own file name
        s
    };
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    format!("{prefix}{host}/{}", segs.join("/"))
}

/// Does `name` match the glob component `pat` (`*`, `?` and `[...]` classes)?
fn glob_match(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, len)) = class_match(&p[pi..], n[ni])
                        && matched
                    {
                        pi += len;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A `[...]` class at the start of `p`: whether `c` matches and the class's length.
fn class_match(p: &[char], c: char) -> Option<(bool, usize)> {
    let end = p.iter().skip(2).position(|&x| x == ']')? + 2;
    let body = &p[1..end];
    let (negate, body) = match body.first() {
        Some('!' | '^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            hit |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    Some((hit != negate, end + 1))
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// A file waiting to be parsed, and the Location that asked for it.
struct Pending {
    path: PathBuf,
    via: Option<Via>,
}

#[derive(Clone)]
struct Via {
    file: PathBuf,
    entity: String,
}

struct Loader<'r> {
    reader: &'r dyn SourceReader,
    opts: LoadOptions,
    /// The real directories every real file must lie in (a file root's directory).
    allowed: Vec<PathBuf>,
    /// Every file queued or parsed, normalised: each is parsed once.
    seen: HashSet<PathBuf>,
    queue: VecDeque<Pending>,
    /// For files reached through a Location: the file holding that Location.
    parents: HashMap<PathBuf, PathBuf>,
    entities: Vec<Entity>,
    problems: Vec<Problem>,
    /// Documents that were entities too invalid to load.
    rejected: usize,
    /// Bytes read so far, and files left unread once the total limit was reached.
    total: u64,
    unread: usize,
    /// Port JSON files, mapped together once every file is read (relations and kinds
    /// cross files).
    port: PortDocs,
}

impl Loader<'_> {
    fn error(&mut self, file: &Path, entity: Option<String>, reason: String) {
        self.problems.push(Problem {
            severity: Severity::Error,
            file: file.to_path_buf(),
            entity,
            reason,
        });
    }

    fn warn(&mut self, file: &Path, entity: Option<String>, reason: String) {
        self.problems.push(Problem {
            severity: Severity::Warning,
            file: file.to_path_buf(),
            entity,
            reason,
        });
    }

    /// A Warning about one of sphere's own limits (see [`Problem::is_sphere_limit`]).
    fn limit(&mut self, file: &Path, entity: Option<String>, reason: String) {
        self.warn(file, entity, format!("{SPHERE_LIMIT}{reason}"));
    }

    /// On a real filesystem: is `path` (symlinks resolved) inside one of the roots?
    /// The reason it is not, if not.
    fn outside(&self, path: &Path) -> Option<String> {
        let real = self.reader.real_path(path)?;
        if self.allowed.iter().any(|a| real.starts_with(a)) {
            return None;
        }
        let shown = if real == path {
            String::new()
        } else {
            format!(" (it is {})", real.display())
        };
        Some(format!(
            "{}{shown} is outside the catalog's roots: not read (add its directory to [catalog] paths, or name it on the command line, to read it)",
            path.display()
        ))
    }

    fn enqueue(&mut self, path: PathBuf, via: Option<Via>) {
        if self.seen.insert(path.clone()) {
            if let Some(v) = &via {
                self.parents.insert(path.clone(), v.file.clone());
            }
            self.queue.push_back(Pending { path, via });
        }
    }

    /// Queue every descriptor under `dir`, sorted by path.
    fn walk(&mut self, dir: &Path, via: Option<Via>) {
        let mut files = Vec::new();
        let mut visited = HashSet::new();
        self.collect(dir, 0, &mut files, &mut visited);
        files.sort();
        for f in files {
            self.enqueue(f, via.clone());
        }
    }

    fn collect(
        &mut self,
        dir: &Path,
        depth: usize,
        files: &mut Vec<PathBuf>,
        visited: &mut HashSet<PathBuf>,
    ) {
        if depth > MAX_DEPTH {
            self.warn(
                dir,
                None,
                format!(
                    "directory nested deeper than {MAX_DEPTH} levels, not read (a symlink loop?)"
                ),
            );
            return;
        }
        if let Some(real) = self.reader.real_path(dir)
            && !visited.insert(real)
        {
            return; // reached again through a symlink
        }
        let entries = match self.reader.list_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.error(dir, None, format!("cannot list directory: {e}"));
                return;
            }
        };
        for entry in entries {
            let entry = normalize(&entry);
            let is_dir = self.reader.is_dir(&entry);
            if (is_dir && skipped_dir(&entry)) || (!is_dir && !is_descriptor(&entry)) {
                continue;
            }
            if let Some(why) = self.outside(&entry) {
                self.limit(&entry, None, why);
                continue;
            }
            if is_dir {
                self.collect(&entry, depth + 1, files, visited);
            } else {
                files.push(entry);
            }
        }
    }

    /// Every file matching the glob `pattern` (`*`, `?`, `[...]` within a path segment,
    /// `**` for any number of directories), sorted. Dot-files and dot-directories match
    /// only a segment that starts with a dot, as in Backstage's glob.
    fn glob(&mut self, pattern: &Path) -> Vec<PathBuf> {
        let mut base = PathBuf::new();
        let mut rest: Vec<String> = Vec::new();
        for c in pattern.components() {
            let s = c.as_os_str().to_string_lossy().to_string();
            if rest.is_empty() && !has_glob(&s) {
                base.push(c);
            } else {
                rest.push(s);
            }
        }
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let mut out = BTreeSet::new();
        let mut visited = HashSet::new();
        self.glob_in(&base, &rest, 0, &mut out, &mut visited);
        out.into_iter().collect()
    }

    fn glob_in(
        &mut self,
        dir: &Path,
        pats: &[String],
        depth: usize,
        out: &mut BTreeSet<PathBuf>,
        visited: &mut HashSet<(PathBuf, usize)>,
    ) {
        let Some(pat) = pats.first() else { return };
        if depth > MAX_DEPTH || !self.reader.is_dir(dir) {
            return;
        }
        let key = self
            .reader
            .real_path(dir)
            .unwrap_or_else(|| dir.to_path_buf());
        if !visited.insert((key, pats.len())) {
            return;
        }
        if pat == "**" {
            self.glob_in(dir, &pats[1..], depth, out, visited);
        }
        let Ok(entries) = self.reader.list_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = normalize(&entry);
            let name = file_name(&entry).to_string();
            let is_dir = self.reader.is_dir(&entry);
            if pat == "**" {
                if is_dir && !name.starts_with('.') && self.outside(&entry).is_none() {
                    self.glob_in(&entry, pats, depth + 1, out, visited);
                }
                continue;
            }
            if (name.starts_with('.') && !pat.starts_with('.')) || !glob_match(pat, &name) {
                continue;
            }
            if pats.len() == 1 {
                if !is_dir {
                    out.insert(entry);
                }
            } else if is_dir && self.outside(&entry).is_none() {
                self.glob_in(&entry, &pats[1..], depth + 1, out, visited);
            }
        }
    }

    /// Is `target` the file at `from`, or a file whose Locations led to `from`?
    fn cycle(&self, from: &Path, target: &Path) -> Option<Vec<PathBuf>> {
        let mut chain = vec![from.to_path_buf()];
        let mut cur = from;
        loop {
            if cur == target {
                chain.reverse();
                chain.push(target.to_path_buf());
                return Some(chain);
            }
            // `parents` is a forest: a file gets a parent once, when first queued.
            cur = self.parents.get(cur)?;
            chain.push(cur.to_path_buf());
        }
    }

    /// Follow one Location's targets as Backstage's `LocationEntityProcessor` does: a
    /// relative target is resolved against the Location's own location, a `file` target
    /// may be a glob, and a `spec.type` left out is that of the location the Location was
    /// read from (`url` for a descriptor read from a URL, else `file`).
    fn follow(&mut self, file: &Path, location: &Entity) {
        let entity = location.entity_ref().to_string();
        let from_url = is_url(file);
        let kind = match location.spec.get("type") {
            Some(Value::String(t)) if !t.trim().is_empty() => t.trim().to_ascii_lowercase(),
            _ if from_url => "url".to_string(),
            _ => "file".to_string(),
        };
        let via = Some(Via {
            file: file.to_path_buf(),
            entity: entity.clone(),
        });
        for target in location_targets(location) {
            if target.is_empty() {
                self.warn(file, Some(entity.clone()), "empty location target".into());
                continue;
            }
            let path = match kind.as_str() {
                "url" => {
                    let url = if target.contains("://") {
                        target.clone()
                    } else if from_url {
                        join_url(&file.to_string_lossy(), &target)
                    } else {
                        self.limit(
                            file,
                            Some(entity.clone()),
                            format!(
                                "url target {target} is relative, and this Location was read from a file, not a URL, so there is nothing to resolve it against"
                            ),
                        );
                        continue;
                    };
                    let path = PathBuf::from(&url);
                    if !self.reader.has_file(&path) {
                        let resolved = if url == target {
                            String::new()
                        } else {
                            format!(" (resolved from {target})")
                        };
                        self.limit(
                            file,
                            Some(entity.clone()),
                            format!(
                                "remote targets are not fetched: url target {url}{resolved}; sphere reads the catalog offline"
                            ),
                        );
                        continue;
                    }
                    path
                }
                "file" if target.contains("://") => {
                    self.limit(
                        file,
                        Some(entity.clone()),
                        format!(
                            "remote targets are not fetched: file target {target} is a URL; sphere reads the catalog offline"
                        ),
                    );
                    continue;
                }
                "file" if from_url => {
                    self.limit(
                        file,
                        Some(entity.clone()),
                        format!(
                            "file target {target} of a Location read from a URL names a file on the Backstage server, which sphere does not read"
                        ),
                    );
                    continue;
                }
                "file" => {
                    let t = Path::new(&target);
                    if t.is_absolute() {
                        normalize(t)
                    } else {
                        let base = file.parent().unwrap_or(Path::new(""));
                        normalize(&base.join(t))
                    }
                }
                other => {
                    self.limit(
                        file,
                        Some(entity.clone()),
                        format!(
                            "location type {other:?} is not followed (sphere follows file targets, and url targets it already holds): target {target}"
                        ),
                    );
                    continue;
                }
            };
            if kind == "file" && has_glob(&target) {
                let matches = self.glob(&path);
                if matches.is_empty() {
                    self.warn(
                        file,
                        Some(entity.clone()),
                        format!("glob target {target} matches no file"),
                    );
                }
                for m in matches {
                    if let Some(why) = self.outside(&m) {
                        self.limit(file, Some(entity.clone()), why);
                    } else if self.cycle(file, &m).is_none() {
                        self.enqueue(m, via.clone());
                    }
                }
                continue;
            }
            if let Some(chain) = self.cycle(file, &path) {
                let chain: Vec<_> = chain.iter().map(|p| p.display().to_string()).collect();
                self.warn(
                    file,
                    Some(entity.clone()),
                    format!("location cycle, not followed: {}", chain.join(" -> ")),
                );
                continue;
            }
            if let Some(why) = self.outside(&path) {
                self.limit(file, Some(entity.clone()), why);
                continue;
            }
            if self.reader.is_dir(&path) {
                self.walk(&path, via.clone());
            } else {
                self.enqueue(path, via.clone());
            }
        }
    }

    /// Read one file within the per-file and the total limit.
    fn read(&mut self, path: &Path) -> io::Result<Option<String>> {
        let left = self.opts.max_total_bytes.saturating_sub(self.total);
        if left == 0 {
            self.unread += 1;
            return Ok(None);
        }
        let max = self.opts.max_file_bytes;
        let text = self.reader.read_limited(path, max)?;
        if text.len() as u64 > left {
            self.total = self.opts.max_total_bytes;
            self.unread += 1;
            return Ok(None);
        }
        self.total += text.len() as u64;
        Ok(Some(text))
    }

    fn process(&mut self, p: Pending) {
        let text = match self.read(&p.path) {
            Ok(Some(t)) => t,
            Ok(None) => return,
            Err(e) => {
                let (entity, from) = match &p.via {
                    Some(v) => (
                        Some(v.entity.clone()),
                        format!(" (a target of {} in {})", v.entity, v.file.display()),
                    ),
                    None => (None, String::new()),
                };
                self.error(&p.path, entity, format!("cannot read file: {e}{from}"));
                return;
            }
        };
        if port::is_json(&p.path) {
            self.port.extend(port::parse_port(&text, &p.path));
            return;
        }
        let parsed = parse_documents(&text, &p.path);
        self.problems.extend(parsed.problems);
        self.rejected += parsed.rejected;
        for e in parsed.entities {
            if e.kind == Kind::Location {
                self.follow(&p.path, &e);
            }
            if e.kind == Kind::Api && !self.resolve_definition(&p.path, &e) {
                self.rejected += 1;
                continue;
            }
            self.entities.push(e);
        }
    }

    /// An API whose `spec.definition` is a placeholder: can it be resolved, as
    /// Backstage's `PlaceholderProcessor` would? False (with an Error) when it cannot; a
    /// remote target sphere does not fetch is a Warning and the API stays.
    fn resolve_definition(&mut self, file: &Path, api: &Entity) -> bool {
        let Some(Value::Object(m)) = api.spec.get("definition") else {
            return true;
        };
        let Ok((key, target)) = placeholder(&m) else {
            return true; // parse already rejected it
        };
        let label = Some(api.entity_ref().to_string());
        let path = if target.contains("://") || is_url(file) {
            let url = join_url(&file.to_string_lossy(), target);
            let path = PathBuf::from(&url);
            if !self.reader.has_file(&path) {
                self.limit(
                    file,
                    label,
                    format!(
                        "spec.definition placeholder {key} {url} is not fetched; sphere reads the catalog offline"
                    ),
                );
                return true;
            }
            path
        } else {
            let base = file.parent().unwrap_or(Path::new(""));
            normalize(&base.join(target))
        };
        let fail = |why: String| {
            format!("spec.definition: placeholder {key} {target} cannot be resolved: {why}")
        };
        if let Some(why) = self.outside(&path) {
            self.error(file, label, fail(why));
            return false;
        }
        let text = match self.read(&path) {
            Ok(Some(t)) => t,
            Ok(None) => return true, // the total limit, reported once at the end
            Err(e) => {
                self.error(file, label, fail(format!("{}: {e}", path.display())));
                return false;
            }
        };
        let bad = match key {
            "$json" => serde_json::from_str::<Value>(&text)
                .err()
                .map(|e| format!("{} is not JSON: {e}", path.display())),
            "$yaml" | "$openapi" | "$asyncapi" => {
                serde_norway::from_str::<serde_norway::Value>(&text)
                    .err()
                    .map(|e| format!("{} is not YAML: {e}", path.display()))
            }
            _ => None,
        };
        if let Some(why) = bad {
            self.error(file, label, fail(why));
            return false;
        }
        true
    }
}

/// Load a catalog from files and directories.
///
/// A directory contributes every `*.yaml` / `*.yml` file under it, and every `*.json` file
/// as Port-style blueprints and entities (see [`port`]); dot-directories other than
/// `.backstage` are skipped and files sorted by path. Location entities' targets are
/// followed as Backstage does (relative to the Location, globs in file targets); each
/// file is parsed once however it is reached, and Location cycles are reported and cut.
/// What sphere cannot follow offline is a Warning saying why. A file that cannot be read
/// is an Error problem; everything else still loads. See [`LoadOptions`] for the limits.
pub fn load(roots: &[PathBuf], reader: &dyn SourceReader) -> Catalog {
    load_with(roots, reader, LoadOptions::default())
}

/// [`load`] with other limits.
pub fn load_with(roots: &[PathBuf], reader: &dyn SourceReader, opts: LoadOptions) -> Catalog {
    let roots: Vec<PathBuf> = roots.iter().map(|r| normalize(r)).collect();
    let allowed = roots
        .iter()
        .filter_map(|r| {
            let real = reader.real_path(r)?;
            if reader.is_dir(r) {
                Some(real)
            } else {
                real.parent().map(Path::to_path_buf)
            }
        })
        .collect();
    let mut l = Loader {
        reader,
        opts,
        allowed,
        seen: HashSet::new(),
        queue: VecDeque::new(),
        parents: HashMap::new(),
        entities: Vec::new(),
        problems: Vec::new(),
        rejected: 0,
        total: 0,
        unread: 0,
        port: PortDocs::default(),
    };
    // Roots first (directory walks included), then the Locations they lead to: a file in
    // a walked directory is always attributed to the walk, never reported as a cycle.
    let mut dirs = Vec::new();
    for root in &roots {
        if reader.is_dir(root) {
            dirs.push(root.clone());
            l.walk(root, None);
        } else {
            l.enqueue(root.clone(), None);
        }
    }
    while let Some(p) = l.queue.pop_front() {
        l.process(p);
    }
    if l.unread > 0 {
        let first = roots.first().cloned().unwrap_or_default();
        l.error(
            &first,
            None,
            format!(
                "the catalog is larger than the limit of {} bytes for one load: {} file{} not read",
                l.opts.max_total_bytes,
                l.unread,
                if l.unread == 1 { "" } else { "s" }
            ),
        );
    }
    if !l.port.is_empty() {
        let (entities, problems) = port::to_entities(std::mem::take(&mut l.port));
        l.entities.extend(entities);
        l.problems.extend(problems);
    }
    for dir in dirs {
        if !l.entities.iter().any(|e| e.source.file.starts_with(&dir)) {
            l.warn(
                &dir,
                None,
                "no catalog entity found in this directory (descriptors are *.yaml and *.yml files with a backstage.io apiVersion, or Port *.json files)".into(),
            );
        }
    }
    let mut catalog = resolve::build(l.entities, l.problems);
    catalog.add_left_out(l.rejected);
    catalog
}

/// [`load`] from the real filesystem.
pub fn load_paths(roots: &[PathBuf]) -> Catalog {
    load(roots, &FsReader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::EntityRef;

    fn user(name: &str) -> String {
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {{name: {name}}}\nspec: {{memberOf: []}}\n"
        )
    }

    fn location(name: &str, targets: &[&str]) -> String {
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {{name: {name}}}\nspec:\n  targets: [{}]\n",
            targets.join(", ")
        )
    }

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    fn names(c: &Catalog) -> Vec<String> {
        let mut v: Vec<_> = c
            .entities()
            .iter()
            .map(|e| e.entity_ref().to_string())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(
            normalize(Path::new("a/./b/../c.yaml")),
            PathBuf::from("a/c.yaml")
        );
        assert_eq!(normalize(Path::new("./a")), PathBuf::from("a"));
        assert_eq!(normalize(Path::new("a/..")), PathBuf::from("."));
        assert_eq!(normalize(Path::new("../x/../y")), PathBuf::from("../y"));
        assert_eq!(normalize(Path::new("/../a")), PathBuf::from("/a"));
        // A URL location is kept as written.
        let url = "url:https://github.com/acme/cart/blob/main/catalog-info.yaml";
        assert_eq!(normalize(Path::new(url)), PathBuf::from(url));
    }

    #[test]
    fn embedded_reader_is_a_tree() {
        let r = EmbeddedReader::new([
            ("cat/a.yaml", "a"),
            ("cat/sub/b.yml", "b"),
            ("top.yaml", "t"),
        ]);
        assert!(r.is_dir(Path::new("cat")));
        assert!(r.is_dir(Path::new("cat/sub")));
        assert!(r.is_dir(Path::new(".")));
        assert!(!r.is_dir(Path::new("cat/a.yaml")));
        assert!(!r.is_dir(Path::new("ca")));
        assert_eq!(r.read(Path::new("cat/./sub/../a.yaml")).unwrap(), "a");
        assert_eq!(
            r.read(Path::new("nope.yaml")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            r.list_dir(Path::new("cat")).unwrap(),
            vec![PathBuf::from("cat/a.yaml"), PathBuf::from("cat/sub")]
        );
        assert_eq!(
            r.list_dir(Path::new(".")).unwrap(),
            vec![PathBuf::from("cat"), PathBuf::from("top.yaml")]
        );
        assert!(r.list_dir(Path::new("nope")).is_err());
    }

    #[test]
    fn walks_directories_and_follows_locations_once() {
        let r = EmbeddedReader::new([
            (
                "cat/all.yaml",
                leak(location(
                    "all",
                    &[
                        "./users/a.yaml",
                        "../extra/x.yaml",
                        "./users/../users/b.yml",
                    ],
                )),
            ),
            ("cat/users/a.yaml", leak(user("a"))),
            ("cat/users/b.yml", leak(user("b"))),
            ("cat/users/readme.md", "not yaml"),
            ("cat/.git/config.yaml", "{{{ not parsed"),
            ("extra/x.yaml", leak(user("x"))),
            ("extra/not-walked.yaml", leak(user("nw"))),
        ]);
        let c = load(&[PathBuf::from("cat")], &r);
        assert_eq!(
            c.problems,
            vec![],
            "reached twice, parsed once: no duplicates"
        );
        assert_eq!(
            names(&c),
            vec![
                "location:default/all",
                "user:default/a",
                "user:default/b",
                "user:default/x"
            ]
        );
        let x = c.get(&EntityRef::new(Kind::User, "default", "x")).unwrap();
        assert_eq!(x.source.file, PathBuf::from("extra/x.yaml"));
    }

    #[test]
    fn location_target_may_be_a_directory() {
        let r = EmbeddedReader::new([
            ("root.yaml", leak(location("root", &["./teams"]))),
            ("teams/a.yaml", leak(user("a"))),
            ("teams/deep/b.yaml", leak(user("b"))),
        ]);
        let c = load(&[PathBuf::from("root.yaml")], &r);
        assert_eq!(c.problems, vec![]);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn cycles_are_reported_and_cut() {
        let r = EmbeddedReader::new([
            ("a.yaml", leak(location("a", &["./b.yaml"]))),
            ("b.yaml", leak(location("b", &["./c.yaml", "./a.yaml"]))),
            ("c.yaml", leak(location("c", &["./c.yaml", "./b.yaml"]))),
        ]);
        let c = load(&[PathBuf::from("a.yaml")], &r);
        assert_eq!(c.len(), 3);
        let reasons: Vec<_> = c.problems.iter().map(|p| p.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "location cycle, not followed: a.yaml -> b.yaml -> a.yaml",
                "location cycle, not followed: c.yaml -> c.yaml",
                "location cycle, not followed: b.yaml -> c.yaml -> b.yaml",
            ]
        );
        assert!(c.problems.iter().all(|p| p.severity == Severity::Warning));
        assert_eq!(c.problems[0].file, PathBuf::from("b.yaml"));
        assert_eq!(c.problems[0].entity.as_deref(), Some("location:default/b"));
    }

    #[test]
    fn remote_and_missing_targets() {
        let remote = "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: remote}\n\
                      spec: {type: url, target: 'https://github.com/acme/x/blob/main/catalog-info.yaml'}\n---\n\
                      apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: mixed}\n\
                      spec: {targets: ['http://example.com/a.yaml', ./missing.yaml]}\n";
        let r = EmbeddedReader::new([("loc.yaml", remote), ("ok.yaml", leak(user("ok")))]);
        let c = load(
            &[
                PathBuf::from("loc.yaml"),
                PathBuf::from("ok.yaml"),
                PathBuf::from("gone"),
            ],
            &r,
        );
        assert_eq!(c.len(), 3);
        let got: Vec<_> = c
            .problems
            .iter()
            .map(|p| (p.severity, p.file.display().to_string(), p.reason.clone()))
            .collect();
        assert_eq!(got.len(), 4, "{got:#?}");
        assert_eq!(got[0].0, Severity::Warning);
        assert!(
            got[0].2.starts_with(
                "not followed by sphere: remote targets are not fetched: url target https://github.com/"
            ),
            "{}",
            got[0].2
        );
        assert!(c.problems[0].is_sphere_limit() && c.problems[1].is_sphere_limit());
        assert_eq!(got[1].0, Severity::Warning);
        assert!(got[1].2.contains("http://example.com/a.yaml"));
        assert_eq!(got[2].0, Severity::Error);
        assert_eq!(got[2].1, "gone");
        assert!(got[2].2.contains("no such file"), "{}", got[2].2);
        assert_eq!(got[3].0, Severity::Error);
        assert_eq!(got[3].1, "missing.yaml");
        assert!(
            got[3]
                .2
                .contains("a target of location:default/mixed in loc.yaml"),
            "{}",
            got[3].2
        );
        assert_eq!(
            c.problems[3].entity.as_deref(),
            Some("location:default/mixed")
        );
    }

    #[test]
    fn filesystem_errors_are_reported_and_the_rest_loads() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("good.yaml"), user("good")).unwrap();
        std::fs::write(
            root.join("latin1.yaml"),
            b"kind: User\nmetadata: {name: caf\xe9}\n",
        )
        .unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(
            root.join("sub/loc.yml"),
            location("loc", &["../good.yaml", "./nope.yaml"]),
        )
        .unwrap();
        let c = load_paths(&[root.to_path_buf(), root.join("missing-root")]);
        assert_eq!(c.len(), 2);
        let errs: Vec<_> = c
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(errs[0].file.ends_with("latin1.yaml"));
        assert!(errs[0].reason.contains("UTF-8"), "{}", errs[0].reason);
        assert!(errs[1].file.ends_with("missing-root"));
        assert!(errs[2].file.ends_with("sub/nope.yaml"));
        assert_eq!(c.problems.len(), 3);
    }

    fn reasons(c: &Catalog) -> Vec<String> {
        c.problems
            .iter()
            .map(|p| format!("{:?} {}: {}", p.severity, p.file.display(), p.reason))
            .collect()
    }

    #[test]
    fn dot_backstage_is_read_and_other_dot_directories_are_not() {
        let r = EmbeddedReader::new([
            ("repo/.backstage/catalog-info.yaml", leak(user("a"))),
            ("repo/.github/workflows/ci.yaml", "on: push\njobs: {}\n"),
            ("repo/.git/x.yaml", "{{{ not parsed"),
        ]);
        let c = load(&[PathBuf::from("repo")], &r);
        assert_eq!(c.problems, vec![]);
        assert_eq!(names(&c), vec!["user:default/a"]);
        // A dot-directory named as a root is read.
        let c = load(&[PathBuf::from("repo/.github")], &r);
        assert_eq!(c.len(), 0);
        let got = reasons(&c);
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].contains("not a catalog entity"), "{got:#?}");
        assert!(
            got[1].starts_with("Warning repo/.github: no catalog entity found in this directory"),
            "{got:#?}"
        );
    }

    #[test]
    fn an_empty_directory_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README.md"), "# hi").unwrap();
        let c = load_paths(&[dir.path().to_path_buf()]);
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.problems[0].severity, Severity::Warning);
        assert!(c.problems[0].reason.starts_with("no catalog entity found"));
        assert!(!c.problems[0].is_sphere_limit());
    }

    #[test]
    fn glob_targets() {
        let r = EmbeddedReader::new([
            (
                "cat/all.yaml",
                leak(location(
                    "all",
                    &[
                        "'./teams/*.yaml'",
                        "'./**/catalog-info.yaml'",
                        "'./none/*.yaml'",
                        "'./t?ams/[ab]x.yml'",
                    ],
                )),
            ),
            ("cat/teams/a.yaml", leak(user("a"))),
            ("cat/teams/b.yaml", leak(user("b"))),
            ("cat/teams/ax.yml", leak(user("ax"))),
            ("cat/teams/c.txt", "not matched"),
            ("cat/teams/.hidden.yaml", "{{{ not matched"),
            ("cat/svc/one/catalog-info.yaml", leak(user("one"))),
            ("cat/svc/two/deep/catalog-info.yaml", leak(user("two"))),
            ("cat/catalog-info.yaml", leak(user("top"))),
            ("cat/.git/catalog-info.yaml", "{{{ not matched"),
        ]);
        let c = load(&[PathBuf::from("cat/all.yaml")], &r);
        assert_eq!(
            names(&c),
            vec![
                "location:default/all",
                "user:default/a",
                "user:default/ax",
                "user:default/b",
                "user:default/one",
                "user:default/top",
                "user:default/two",
            ]
        );
        let got = reasons(&c);
        assert_eq!(
            got,
            vec!["Warning cat/all.yaml: glob target ./none/*.yaml matches no file"]
        );
        assert!(glob_match("*.yaml", "a.yaml"));
        assert!(!glob_match("*.yaml", "a.yml"));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(glob_match("[!a]x", "bx"));
        assert!(!glob_match("[!a]x", "ax"));
    }

    #[test]
    fn url_locations_resolve_relative_targets_against_their_url() {
        let base = "https://github.com/acme/cat/blob/main";
        let loc = "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: org}\n\
                   spec:\n  targets: [./teams/a.yaml, ../main/b.yaml, ./missing.yaml, 'https://example.com/x.yaml']\n";
        let files: Vec<(&'static str, &'static str)> = vec![
            (leak(format!("{base}/catalog-info.yaml")), loc),
            (leak(format!("{base}/teams/a.yaml")), leak(user("a"))),
            (leak(format!("{base}/b.yaml")), leak(user("b"))),
        ];
        let r = EmbeddedReader::new(files);
        let c = load(&[PathBuf::from(format!("{base}/catalog-info.yaml"))], &r);
        assert_eq!(
            names(&c),
            vec!["location:default/org", "user:default/a", "user:default/b"]
        );
        let got: Vec<_> = c.problems.iter().map(|p| p.reason.clone()).collect();
        assert_eq!(got.len(), 2, "{got:#?}");
        assert_eq!(
            got[0],
            format!(
                "not followed by sphere: remote targets are not fetched: url target {base}/missing.yaml (resolved from ./missing.yaml); sphere reads the catalog offline"
            )
        );
        assert!(
            got[1].contains("url target https://example.com/x.yaml;"),
            "{}",
            got[1]
        );
        assert!(c.problems.iter().all(Problem::is_sphere_limit));

        // A relative url target in a Location read from a file has no URL to go by.
        let r = EmbeddedReader::new([(
            "loc.yaml",
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\nspec: {type: url, target: ./x.yaml}\n",
        )]);
        let c = load(&[PathBuf::from("loc.yaml")], &r);
        assert_eq!(c.problems.len(), 1);
        assert!(c.problems[0].is_sphere_limit());
        assert!(
            c.problems[0]
                .reason
                .contains("url target ./x.yaml is relative"),
            "{}",
            c.problems[0].reason
        );
        assert_eq!(
            join_url("https://h/a/b/c.yaml", "../d.yaml"),
            "https://h/a/d.yaml"
        );
        assert_eq!(
            join_url("https://h/a/b/c.yaml", "/d.yaml"),
            "https://h/d.yaml"
        );
    }

    #[test]
    fn definition_placeholders_must_resolve() {
        let api = |name: &str, def: &str| {
            format!(
                "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {{name: {name}}}\n\
                 spec: {{type: openapi, lifecycle: production, owner: t, definition: {def}}}\n"
            )
        };
        let text = [
            api("text-ok", "{$text: ./spec.yaml}"),
            api("text-missing", "{$text: ./gone.yaml}"),
            api("json-bad", "{$json: ./spec.yaml}"),
            api("yaml-ok", "{$openapi: ./spec.yaml}"),
            api("remote", "{$openapi: 'https://example.com/spec.yaml'}"),
        ]
        .join("---\n");
        let r = EmbeddedReader::new([
            ("apis.yaml", leak(text)),
            ("spec.yaml", "openapi: 3.0.0\ninfo: {title: x}\n"),
        ]);
        let c = load(&[PathBuf::from("apis.yaml")], &r);
        assert_eq!(
            names(&c),
            vec![
                "api:default/remote",
                "api:default/text-ok",
                "api:default/yaml-ok"
            ]
        );
        assert_eq!(c.left_out(), 2);
        let got: Vec<_> = c
            .problems
            .iter()
            .filter(|p| !p.reason.ends_with("does not exist"))
            .map(|p| {
                (
                    p.severity,
                    p.entity.clone().unwrap_or_default(),
                    p.reason.clone(),
                )
            })
            .collect();
        assert_eq!(got.len(), 3, "{got:#?}");
        assert_eq!(got[0].0, Severity::Error);
        assert_eq!(got[0].1, "api:default/text-missing");
        assert!(
            got[0].2.starts_with(
                "spec.definition: placeholder $text ./gone.yaml cannot be resolved: gone.yaml: "
            ),
            "{}",
            got[0].2
        );
        assert_eq!(got[1].1, "api:default/json-bad");
        assert!(
            got[1].2.contains(
                "placeholder $json ./spec.yaml cannot be resolved: spec.yaml is not JSON"
            ),
            "{}",
            got[1].2
        );
        assert_eq!(got[2].0, Severity::Warning);
        assert!(
            got[2]
                .2
                .contains("placeholder $openapi https://example.com/spec.yaml is not fetched"),
            "{}",
            got[2].2
        );
    }

    #[cfg(unix)]
    #[test]
    fn reading_stays_inside_the_roots_and_on_regular_files() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("cat");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(outer.path().join("secret.yaml"), user("secret")).unwrap();
        std::fs::create_dir(outer.path().join("elsewhere")).unwrap();
        std::fs::write(outer.path().join("elsewhere/e.yaml"), user("e")).unwrap();
        // A symlink out of the root, and a FIFO inside it.
        std::os::unix::fs::symlink(outer.path().join("elsewhere"), root.join("link")).unwrap();
        let fifo = root.join("pipe.yaml");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        std::fs::write(
            root.join("loc.yaml"),
            location(
                "loc",
                &[
                    "../secret.yaml",
                    "/dev/zero",
                    "'../../../../../../..'",
                    "./link/e.yaml",
                    "./ok.yaml",
                ],
            ),
        )
        .unwrap();
        std::fs::write(root.join("ok.yaml"), user("ok")).unwrap();
        let c = load_paths(std::slice::from_ref(&root));
        assert_eq!(names(&c), vec!["location:default/loc", "user:default/ok"]);
        let got = reasons(&c);
        assert_eq!(got.len(), 6, "{got:#?}");
        // the walk: the symlinked directory is outside, the FIFO is not a regular file
        assert!(
            got.iter()
                .any(|g| g.contains("link") && g.contains("is outside the catalog's roots")),
            "{got:#?}"
        );
        assert!(
            got.iter().any(|g| g.starts_with("Error")
                && g.contains("pipe.yaml")
                && g.contains("a FIFO, not a regular file")),
            "{got:#?}"
        );
        for target in [
            "secret.yaml",
            "/dev/zero",
            "sphere: / is",
            "elsewhere/e.yaml)",
        ] {
            assert!(
                got.iter()
                    .any(|g| g.contains(target) && g.contains("is outside the catalog's roots")),
                "{target}: {got:#?}"
            );
        }
        // Named on the command line, a file elsewhere is read.
        let c = load_paths(&[root.join("ok.yaml"), outer.path().join("secret.yaml")]);
        assert_eq!(c.len(), 2, "{:#?}", c.problems);
        // A device named directly is refused, not read.
        let c = load_paths(&[PathBuf::from("/dev/zero")]);
        assert!(
            c.problems[0]
                .reason
                .contains("a device, not a regular file"),
            "{:#?}",
            c.problems
        );
    }

    #[test]
    fn size_limits() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..4 {
            std::fs::write(
                dir.path().join(format!("u{i}.yaml")),
                user(&format!("u{i}")),
            )
            .unwrap();
        }
        std::fs::write(
            dir.path().join("big.yaml"),
            format!("{}# padding {}\n", user("big"), "x".repeat(500)),
        )
        .unwrap();
        let opts = LoadOptions {
            max_file_bytes: 200,
            max_total_bytes: 10_000,
        };
        let c = load_with(&[dir.path().to_path_buf()], &FsReader, opts);
        assert_eq!(c.len(), 4);
        assert_eq!(c.problems.len(), 1, "{:#?}", c.problems);
        assert!(c.problems[0].file.ends_with("big.yaml"));
        assert!(
            c.problems[0]
                .reason
                .contains("more than the limit of 200 bytes: not read"),
            "{}",
            c.problems[0].reason
        );
        let one = user("u0").len() as u64;
        let opts = LoadOptions {
            max_file_bytes: 200,
            max_total_bytes: 2 * one + 1,
        };
        let c = load_with(&[dir.path().to_path_buf()], &FsReader, opts);
        assert_eq!(c.len(), 2);
        let last = c.problems.last().unwrap();
        assert_eq!(last.severity, Severity::Error);
        assert!(
            last.reason.starts_with(&format!(
                "the catalog is larger than the limit of {} bytes for one load: 2 files not read",
                2 * one + 1
            )),
            "{}",
            last.reason
        );
    }
}
