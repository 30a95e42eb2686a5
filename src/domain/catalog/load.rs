//! Loading descriptor files and following Locations.
//!
//! All file access goes through a [`SourceReader`], so the same loader runs on the real
//! filesystem ([`FsReader`]) and on an embedded, in-memory tree ([`EmbeddedReader`], used
//! by the demo platform and by tests).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::io;
use std::path::{Component, Path, PathBuf};

use super::model::{Catalog, Entity, Kind, Problem, Severity};
use super::parse::{location_targets, parse_documents};
use super::port::{self, PortDocs};
use super::resolve;

/// Read access to a tree of descriptor files.
pub trait SourceReader {
    /// The whole file as UTF-8 text.
    fn read(&self, path: &Path) -> io::Result<String>;
    fn is_dir(&self, path: &Path) -> bool;
    /// The entries of a directory (files and directories), in any order.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
}

/// The real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsReader;

impl SourceReader for FsReader {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(path)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
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

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
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
    /// Every file queued or parsed, normalised: each is parsed once.
    seen: HashSet<PathBuf>,
    queue: VecDeque<Pending>,
    /// For files reached through a Location: the file holding that Location.
    parents: HashMap<PathBuf, PathBuf>,
    entities: Vec<Entity>,
    problems: Vec<Problem>,
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
        self.collect(dir, 0, &mut files);
        files.sort();
        for f in files {
            self.enqueue(f, via.clone());
        }
    }

    fn collect(&mut self, dir: &Path, depth: usize, files: &mut Vec<PathBuf>) {
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
        let entries = match self.reader.list_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.error(dir, None, format!("cannot list directory: {e}"));
                return;
            }
        };
        for entry in entries {
            let entry = normalize(&entry);
            if self.reader.is_dir(&entry) {
                if !is_hidden(&entry) {
                    self.collect(&entry, depth + 1, files);
                }
            } else if is_descriptor(&entry) {
                files.push(entry);
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

    fn follow(&mut self, file: &Path, location: &Entity) {
        let entity = location.entity_ref().to_string();
        let kind = location.spec_type.as_deref().unwrap_or("file").trim();
        for target in location_targets(location) {
            if target.is_empty() {
                self.warn(file, Some(entity.clone()), "empty location target".into());
                continue;
            }
            if !kind.eq_ignore_ascii_case("file") || target.contains("://") {
                self.warn(
                    file,
                    Some(entity.clone()),
                    format!("remote targets are not fetched: {kind} target {target}"),
                );
                continue;
            }
            if target.contains(['*', '?', '[']) {
                self.warn(
                    file,
                    Some(entity.clone()),
                    format!("glob targets are not supported: {target}"),
                );
                continue;
            }
            let t = Path::new(&target);
            let path = if t.is_absolute() {
                normalize(t)
            } else {
                let base = file.parent().unwrap_or(Path::new(""));
                normalize(&base.join(t))
            };
            if let Some(chain) = self.cycle(file, &path) {
                let chain: Vec<_> = chain.iter().map(|p| p.display().to_string()).collect();
                self.warn(
                    file,
                    Some(entity.clone()),
                    format!("location cycle, not followed: {}", chain.join(" -> ")),
                );
                continue;
            }
            let via = Some(Via {
                file: file.to_path_buf(),
                entity: entity.clone(),
            });
            if self.reader.is_dir(&path) {
                self.walk(&path, via);
            } else {
                self.enqueue(path, via);
            }
        }
    }

    fn process(&mut self, p: Pending) {
        let text = match self.reader.read(&p.path) {
            Ok(t) => t,
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
        for e in &parsed.entities {
            if e.kind == Kind::Location {
                self.follow(&p.path, e);
            }
        }
        self.entities.extend(parsed.entities);
    }
}

/// Load a catalog from files and directories.
///
/// A directory contributes every `*.yaml` / `*.yml` file under it, and every `*.json` file
/// as Port-style blueprints and entities (see [`port`]); hidden directories are skipped
/// and files sorted by path. Location entities' file targets are followed relative to
/// the Location's file; each file is parsed once however it is reached, and Location
/// cycles are reported and cut. Remote targets are reported, not fetched. A file that
/// cannot be read is an Error problem; everything else still loads.
pub fn load(roots: &[PathBuf], reader: &dyn SourceReader) -> Catalog {
    let mut l = Loader {
        reader,
        seen: HashSet::new(),
        queue: VecDeque::new(),
        parents: HashMap::new(),
        entities: Vec::new(),
        problems: Vec::new(),
        port: PortDocs::default(),
    };
    // Roots first (directory walks included), then the Locations they lead to: a file in
    // a walked directory is always attributed to the walk, never reported as a cycle.
    for root in roots {
        let root = normalize(root);
        if reader.is_dir(&root) {
            l.walk(&root, None);
        } else {
            l.enqueue(root, None);
        }
    }
    while let Some(p) = l.queue.pop_front() {
        l.process(p);
    }
    if !l.port.is_empty() {
        let (entities, problems) = port::to_entities(std::mem::take(&mut l.port));
        l.entities.extend(entities);
        l.problems.extend(problems);
    }
    resolve::build(l.entities, l.problems)
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
        format!("apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {{name: {name}}}\n")
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
            got[0]
                .2
                .starts_with("remote targets are not fetched: url target https://github.com/")
        );
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
}
