//! The files that shape sphere: `config.toml`, themes and keymaps, and where they live.
//!
//! Defaults are embedded in the binary (`themes/*.toml`, `keymaps/default.toml`); the user's
//! files in the config dir are layered over them, so a user file holds only what it changes.
//! A bad user file never stops sphere: every loader returns what it could build together with
//! a list of [`ConfigProblem`]s naming the file, the key and the reason, and falls back to the
//! defaults for whatever was wrong.

pub mod agent;
pub mod keymap;
pub mod paths;
pub mod platform;
pub mod retry;
pub mod settings;
pub mod theme;

pub use keymap::{Binding, Key, KeyMatcher, Keymap, Match, load_keymap};
pub use paths::{Paths, create_private_dir, open_private_append};
pub use settings::Config;
pub use theme::{ColorSupport, Slot, Theme, builtin_theme_names, load_theme};

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

/// A problem with one of the user's files: named precisely, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file the problem is in.
    pub file: PathBuf,
    /// The dotted key path inside the file (`catalog[3].on`, `demo.pace`), when known.
    pub key: Option<String>,
    /// What is wrong, with the line and column when known.
    pub reason: String,
}

impl ConfigProblem {
    /// A problem with a file as a whole (unreadable, missing, ...).
    pub fn file(file: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ConfigProblem {
            file: file.into(),
            key: None,
            reason: reason.into(),
        }
    }

    /// A problem with one key of a file.
    pub fn key(
        file: impl Into<PathBuf>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ConfigProblem {
            file: file.into(),
            key: Some(key.into()),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ConfigProblem {}

/// Reads a user file. `Ok(None)` when it does not exist.
pub(crate) fn read_optional(file: &Path) -> Result<Option<String>, ConfigProblem> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(ConfigProblem::file(file, format!("cannot read: {err}"))),
    }
}

/// Deserializes `src` (the text of `file`), turning a toml error into a [`ConfigProblem`]
/// that names the key at the error's position and keeps its line and column.
pub(crate) fn parse_toml<T: DeserializeOwned>(file: &Path, src: &str) -> Result<T, ConfigProblem> {
    toml::from_str(src).map_err(|err| toml_problem(file, src, &err))
}

pub(crate) fn toml_problem(file: &Path, src: &str, err: &toml::de::Error) -> ConfigProblem {
    let message = err.message().trim().to_string();
    let Some(span) = err.span() else {
        return ConfigProblem::file(file, message);
    };
    let (line, col) = line_col(src, span.start);
    ConfigProblem {
        file: file.to_path_buf(),
        key: key_path_at(src, span.start),
        reason: format!("line {line}, column {col}: {message}"),
    }
}

/// A problem with a value found after deserializing, located by its key path.
pub(crate) fn value_problem(
    file: &Path,
    src: &str,
    path: &[PathSeg<'_>],
    reason: impl fmt::Display,
) -> ConfigProblem {
    let reason = match span_of(src, path) {
        Some(pos) => {
            let (line, col) = line_col(src, pos);
            format!("line {line}, column {col}: {reason}")
        }
        None => reason.to_string(),
    };
    ConfigProblem {
        file: file.to_path_buf(),
        key: Some(format_path(path)),
        reason,
    }
}

/// One step of a key path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathSeg<'a> {
    Key(&'a str),
    Index(usize),
}

pub(crate) fn format_path(path: &[PathSeg<'_>]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&quote_key(k));
            }
            PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = src.get(..pos).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, col)
}

/// One owned step of a key path (see [`PathSeg`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn borrowed(segs: &[Seg]) -> Vec<PathSeg<'_>> {
    segs.iter()
        .map(|s| match s {
            Seg::Key(k) => PathSeg::Key(k),
            Seg::Index(i) => PathSeg::Index(*i),
        })
        .collect()
}

/// The dotted path of the deepest key or value whose span holds `pos`.
fn key_path_at(src: &str, pos: usize) -> Option<String> {
    let segs = segments_at(src, pos);
    (!segs.is_empty()).then(|| format_path(&borrowed(&segs)))
}

/// The key path of the deepest key or value whose span holds `pos`.
fn segments_at(src: &str, pos: usize) -> Vec<Seg> {
    let mut out = Vec::new();
    if let Ok(doc) = DeTable::parse(src) {
        walk_table(doc.get_ref(), pos, &mut out);
    }
    out
}

fn walk_table(table: &DeTable<'_>, pos: usize, out: &mut Vec<Seg>) -> bool {
    for (key, value) in table.iter() {
        let in_key = key.span().contains(&pos);
        let mark = out.len();
        out.push(Seg::Key(key.get_ref().to_string()));
        if in_key || value.span().contains(&pos) {
            if !in_key {
                walk_value(value.get_ref(), pos, out);
            }
            return true;
        }
        // Array-of-tables and sub-tables may carry narrow spans: look inside anyway.
        if walk_value(value.get_ref(), pos, out) {
            return true;
        }
        out.truncate(mark);
    }
    false
}

fn walk_value(value: &DeValue<'_>, pos: usize, out: &mut Vec<Seg>) -> bool {
    match value {
        DeValue::Table(table) => walk_table(table, pos, out),
        DeValue::Array(array) => {
            for (i, item) in array.iter().enumerate() {
                out.push(Seg::Index(i));
                if walk_value(item.get_ref(), pos, out) || item.span().contains(&pos) {
                    return true;
                }
                out.pop();
            }
            false
        }
        _ => false,
    }
}

/// Removes the entry at `path` from `table`; false when there is none.
fn remove_at(table: &mut toml::Table, path: &[Seg]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut here: Option<&mut toml::Value> = None;
    let mut root = Some(table);
    for seg in parents {
        let next = match (seg, root.take(), here.take()) {
            (Seg::Key(k), Some(t), None) => t.get_mut(k),
            (Seg::Key(k), None, Some(toml::Value::Table(t))) => t.get_mut(k),
            (Seg::Index(i), None, Some(toml::Value::Array(a))) => a.get_mut(*i),
            _ => None,
        };
        let Some(next) = next else { return false };
        here = Some(next);
    }
    match (last, root, here) {
        (Seg::Key(k), Some(t), None) => t.remove(k).is_some(),
        (Seg::Key(k), None, Some(toml::Value::Table(t))) => t.remove(k).is_some(),
        (Seg::Index(i), None, Some(toml::Value::Array(a))) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

/// Deserializes `src` key by key: a key that is unknown or of the wrong type is a
/// [`ConfigProblem`] and is left out, and the rest of the file still applies (a typo in
/// one key never throws the policy away). `None` only when the file is not TOML at
/// all, or a problem cannot be pinned to a key.
pub(crate) fn parse_toml_lenient<T: DeserializeOwned>(
    file: &Path,
    src: &str,
) -> (Option<T>, Vec<ConfigProblem>) {
    let mut table: toml::Table = match src.parse() {
        Ok(t) => t,
        Err(err) => return (None, vec![toml_problem(file, src, &err)]),
    };
    let mut problems = Vec::new();
    let mut text = src.to_string();
    // Each round removes one key, so this ends; the bound only guards a surprise.
    for _ in 0..256 {
        let err = match toml::from_str::<T>(&text) {
            Ok(value) => return (Some(value), problems),
            Err(err) => err,
        };
        let segs = err
            .span()
            .map(|s| segments_at(&text, s.start))
            .unwrap_or_default();
        let message = err.message().trim().to_string();
        let problem = if text == src {
            toml_problem(file, src, &err)
        } else {
            value_problem(file, src, &borrowed(&segs), &message)
        };
        if segs.is_empty() || !remove_at(&mut table, &segs) {
            problems.push(problem);
            return (None, problems);
        }
        problems.push(ConfigProblem {
            reason: format!(
                "{}; left out (its default applies), the rest of the file still does",
                problem.reason
            ),
            ..problem
        });
        text = match toml::to_string(&table) {
            Ok(t) => t,
            Err(_) => return (None, problems),
        };
    }
    (None, problems)
}

/// The byte position of the value (or key) at `path`.
fn span_of(src: &str, path: &[PathSeg<'_>]) -> Option<usize> {
    let doc = DeTable::parse(src).ok()?;
    let (first, rest) = path.split_first()?;
    let PathSeg::Key(first) = first else {
        return None;
    };
    let (mut key_span, mut value) = lookup(doc.get_ref(), first)?;
    for seg in rest {
        match (seg, value.get_ref()) {
            (PathSeg::Key(k), DeValue::Table(t)) => {
                (key_span, value) = lookup(t, k)?;
            }
            (PathSeg::Index(i), DeValue::Array(a)) => {
                value = a.get(*i)?;
                key_span = value.span().start;
            }
            _ => return None,
        }
    }
    let start = value.span().start;
    // Some values (tables from headers) carry no useful span; fall back to the key.
    Some(if start == 0 && key_span > 0 {
        key_span
    } else {
        start
    })
}

fn lookup<'a, 'i>(
    table: &'a DeTable<'i>,
    key: &str,
) -> Option<(usize, &'a toml::Spanned<DeValue<'i>>)> {
    table
        .iter()
        .find(|(k, _)| k.get_ref() == key)
        .map(|(k, v)| (k.span().start, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_key_and_reason() {
        let p = ConfigProblem::key(
            "keymap.toml",
            "catalog[3].on",
            "unknown key name \"<Ctl-x>\"",
        );
        assert_eq!(
            p.to_string(),
            "keymap.toml: key `catalog[3].on`: unknown key name \"<Ctl-x>\""
        );
        let p = ConfigProblem::file("/x/config.toml", "not found");
        assert_eq!(p.to_string(), "/x/config.toml: not found");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        top: Option<u16>,
        inner: Option<Inner>,
        list: Option<Vec<Inner>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        a: Option<u16>,
    }

    fn problem(src: &str) -> ConfigProblem {
        match parse_toml::<Doc>(Path::new("f.toml"), src) {
            Ok(doc) => panic!("expected an error, got {doc:?}"),
            Err(p) => p,
        }
    }

    #[test]
    fn toml_errors_name_the_key_and_keep_line_and_column() {
        let p = problem("top = 1\n[inner]\na = \"x\"\n");
        assert_eq!(p.key.as_deref(), Some("inner.a"), "{p}");
        assert!(p.reason.contains("line 3"), "{p}");

        let p = problem("[inner]\nb = 1\n");
        assert_eq!(p.key.as_deref(), Some("inner.b"), "{p}");
        assert!(p.reason.contains("unknown field `b`"), "{p}");

        let p = problem("[[list]]\na = 1\n[[list]]\nzzz = 2\n");
        assert_eq!(p.key.as_deref(), Some("list[1].zzz"), "{p}");

        let p = problem("top = 70000\n");
        assert_eq!(p.key.as_deref(), Some("top"), "{p}");

        let p = problem("top = = 1\n");
        assert!(p.reason.contains("line 1"), "{p}");
    }

    #[test]
    fn value_problems_are_located() {
        let src = "[[list]]\na = 1\n[[list]]\na = 2\n";
        let p = value_problem(
            Path::new("f.toml"),
            src,
            &[PathSeg::Key("list"), PathSeg::Index(1), PathSeg::Key("a")],
            "too big",
        );
        assert_eq!(p.key.as_deref(), Some("list[1].a"));
        assert_eq!(p.reason, "line 4, column 5: too big");
    }
}
