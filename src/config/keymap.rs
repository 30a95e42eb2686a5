//! Keymaps: per-pane sections of bindings, each with a `desc` that help, the footer hints and
//! the command palette are built from. Multi-key sequences (`g g`) are supported.
//!
//! The default is embedded from `keymaps/default.toml`; the user's `<config dir>/keymap.toml`
//! is layered over it: an entry whose `on` equals a default's in the same section replaces
//! it, `run = "noop"` unbinds a key (also hiding it from outer sections), new entries are
//! tried before the defaults.
//!
//! Key notation: a single character (`q`, `G`, `/`, `?`, `1`), or a name in angle brackets:
//! `<Enter> <Esc> <Tab> <BackTab> <Up> <Down> <Left> <Right> <PageUp> <PageDown> <Home>
//! <End> <Space> <Backspace> <Delete> <Insert> <F1>..<F12> <lt> <gt>`, with modifiers
//! `<C-d>` (Ctrl), `<A-x>` (Alt), `<S-Up>` (Shift). Names are case-insensitive.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::{ConfigProblem, PathSeg, Paths, parse_toml, read_optional, value_problem};

/// The `run` that unbinds a key.
pub const NOOP: &str = "noop";

const DEFAULT_KEYMAP: &str = include_str!("../../keymaps/default.toml");

/// One key press: a key code and the Ctrl, Alt and Shift modifiers, normalised so that a
/// binding and an event for the same key compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    /// A key, normalised: Shift on a character is folded into the character (`G`, `?`),
    /// Ctrl+letter is lowercase, Shift+Tab is `<BackTab>`, modifiers other than Ctrl, Alt
    /// and Shift are dropped.
    pub fn new(code: KeyCode, modifiers: KeyModifiers) -> Key {
        let mut modifiers =
            modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Char(c) => {
                let mut c = c;
                if modifiers.contains(KeyModifiers::SHIFT) {
                    c = c.to_ascii_uppercase();
                    modifiers.remove(KeyModifiers::SHIFT);
                }
                if modifiers.contains(KeyModifiers::CONTROL) {
                    c = c.to_ascii_lowercase();
                }
                KeyCode::Char(c)
            }
            KeyCode::Tab if modifiers.contains(KeyModifiers::SHIFT) => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::BackTab => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key { code, modifiers }
    }

    /// A plain key with no modifiers.
    pub fn plain(code: KeyCode) -> Key {
        Key::new(code, KeyModifiers::NONE)
    }

    /// A character key with no modifiers.
    pub fn char(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    /// The key of a terminal event (the caller drops key releases).
    pub fn from_event(event: &KeyEvent) -> Key {
        Key::new(event.code, event.modifiers)
    }
}

impl From<KeyEvent> for Key {
    fn from(event: KeyEvent) -> Key {
        Key::from_event(&event)
    }
}

fn named_code(name: &str) -> Option<KeyCode> {
    Some(match name.to_ascii_lowercase().as_str() {
        "enter" | "return" | "cr" => KeyCode::Enter,
        "esc" | "escape" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "pageup" => KeyCode::PageUp,
        "pagedown" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "space" => KeyCode::Char(' '),
        "backspace" | "bs" => KeyCode::Backspace,
        "delete" | "del" => KeyCode::Delete,
        "insert" | "ins" => KeyCode::Insert,
        "lt" => KeyCode::Char('<'),
        "gt" => KeyCode::Char('>'),
        lower => {
            let n: u8 = lower.strip_prefix('f')?.parse().ok()?;
            if !(1..=12).contains(&n) {
                return None;
            }
            KeyCode::F(n)
        }
    })
}

impl FromStr for Key {
    type Err = String;

    fn from_str(s: &str) -> Result<Key, String> {
        let unknown = || format!("unknown key name {s:?}");
        let mut chars = s.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            return Ok(Key::char(c));
        }
        let inner = s
            .strip_prefix('<')
            .and_then(|rest| rest.strip_suffix('>'))
            .filter(|inner| !inner.is_empty())
            .ok_or_else(unknown)?;
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = inner;
        loop {
            let mut it = rest.chars();
            let (Some(m), Some('-')) = (it.next(), it.next()) else {
                break;
            };
            let tail = it.as_str();
            if tail.is_empty() {
                break;
            }
            modifiers |= match m.to_ascii_lowercase() {
                'c' => KeyModifiers::CONTROL,
                'a' | 'm' => KeyModifiers::ALT,
                's' => KeyModifiers::SHIFT,
                _ => return Err(unknown()),
            };
            rest = tail;
        }
        let mut it = rest.chars();
        let code = match (it.next(), it.next()) {
            (Some(c), None) if modifiers != KeyModifiers::NONE => KeyCode::Char(c),
            _ => named_code(rest).ok_or_else(unknown)?,
        };
        Ok(Key::new(code, modifiers))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) if self.modifiers.is_empty() => return write!(f, "{c}"),
            KeyCode::Char('<') => "lt".to_string(),
            KeyCode::Char('>') => "gt".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".to_string(),
            KeyCode::Esc => "Esc".to_string(),
            KeyCode::Tab => "Tab".to_string(),
            KeyCode::BackTab => "BackTab".to_string(),
            KeyCode::Up => "Up".to_string(),
            KeyCode::Down => "Down".to_string(),
            KeyCode::Left => "Left".to_string(),
            KeyCode::Right => "Right".to_string(),
            KeyCode::PageUp => "PageUp".to_string(),
            KeyCode::PageDown => "PageDown".to_string(),
            KeyCode::Home => "Home".to_string(),
            KeyCode::End => "End".to_string(),
            KeyCode::Backspace => "Backspace".to_string(),
            KeyCode::Delete => "Delete".to_string(),
            KeyCode::Insert => "Insert".to_string(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        f.write_str("<")?;
        for (flag, prefix) in [
            (KeyModifiers::CONTROL, "C-"),
            (KeyModifiers::ALT, "A-"),
            (KeyModifiers::SHIFT, "S-"),
        ] {
            if self.modifiers.contains(flag) {
                f.write_str(prefix)?;
            }
        }
        write!(f, "{name}>")
    }
}

/// Keys written one after the other, as shown in hints: `gg`, `<C-d>`.
pub fn format_keys(keys: &[Key]) -> String {
    keys.iter().map(ToString::to_string).collect()
}

/// One binding: a key sequence, the command it runs and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The key sequence (one key, or several for `g g`).
    pub on: Vec<Key>,
    /// The command the TUI interprets (`quit`, `down`, `pane:3`, ...), or `noop`.
    pub run: String,
    /// What it does, for help, footer hints and the palette.
    pub desc: String,
}

/// Bindings by section (`global`, `list`, `catalog`, `filter`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Keymap {
    sections: BTreeMap<String, Vec<Binding>>,
}

impl Keymap {
    /// The embedded default keymap.
    pub fn builtin() -> Keymap {
        let mut problems = Vec::new();
        let file = PathBuf::from("<built-in>/keymaps/default.toml");
        parse_keymap(&file, DEFAULT_KEYMAP, None, &mut problems)
            .map(|sections| Keymap { sections })
            .unwrap_or_default()
    }

    /// The bindings of one section, innermost first; empty for an unknown section. `noop`
    /// entries are included: they hide a key from outer sections.
    pub fn section(&self, name: &str) -> &[Binding] {
        self.sections.get(name).map_or(&[], Vec::as_slice)
    }

    /// The section names.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.keys().map(String::as_str)
    }

    /// Layers a user file's sections over this keymap.
    fn layer(&mut self, user: BTreeMap<String, Vec<Binding>>) {
        // A user entry without a desc borrows one from a default running the same command,
        // in the same section first.
        let desc_for = |section: &str, run: &str| -> String {
            let find = |bindings: &[Binding]| {
                bindings
                    .iter()
                    .find(|b| b.run == run && !b.desc.is_empty())
                    .map(|b| b.desc.clone())
            };
            find(self.section(section))
                .or_else(|| self.sections.values().find_map(|b| find(b)))
                .unwrap_or_else(|| run.to_string())
        };
        let user: Vec<(String, Vec<Binding>)> = user
            .into_iter()
            .map(|(name, entries)| {
                let entries = entries
                    .into_iter()
                    .map(|mut entry| {
                        if entry.desc.is_empty() {
                            entry.desc = desc_for(&name, &entry.run);
                        }
                        entry
                    })
                    .collect();
                (name, entries)
            })
            .collect();
        for (name, entries) in user {
            let defaults = self.sections.remove(&name).unwrap_or_default();
            let mut merged: Vec<Binding> = Vec::with_capacity(defaults.len() + entries.len());
            let mut rest = defaults;
            for entry in entries {
                rest.retain(|b| b.on != entry.on);
                merged.retain(|b| b.on != entry.on);
                merged.push(entry);
            }
            merged.extend(rest);
            self.sections.insert(name, merged);
        }
    }
}

/// Loads the default keymap with the user's `keymap.toml` layered over it. A bad user file
/// is reported and the defaults are returned unchanged.
pub fn load_keymap(paths: &Paths) -> (Keymap, Vec<ConfigProblem>) {
    let mut problems = Vec::new();
    let default_file = PathBuf::from("<built-in>/keymaps/default.toml");
    let Some(defaults) = parse_keymap(&default_file, DEFAULT_KEYMAP, None, &mut problems) else {
        return (Keymap::default(), problems);
    };
    let mut keymap = Keymap { sections: defaults };
    let file = paths.keymap_file();
    let src = match read_optional(&file) {
        Ok(Some(src)) => src,
        Ok(None) => return (keymap, problems),
        Err(problem) => {
            problems.push(problem);
            return (keymap, problems);
        }
    };
    let known: Vec<String> = keymap.sections.keys().cloned().collect();
    let before = problems.len();
    if let Some(user) = parse_keymap(&file, &src, Some(&known), &mut problems)
        && problems.len() == before
    {
        keymap.layer(user);
    }
    (keymap, problems)
}

/// `on` as written: one key or a list.
#[derive(Debug)]
struct OnSpec(Vec<String>);

impl<'de> Deserialize<'de> for OnSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OnSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key (\"q\", \"<C-d>\") or a list of keys ([\"g\", \"g\"])")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OnSpec, E> {
                Ok(OnSpec(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OnSpec, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = seq.next_element::<String>()? {
                    keys.push(key);
                }
                Ok(OnSpec(keys))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    on: OnSpec,
    run: String,
    desc: Option<String>,
}

/// Parses a keymap file. `known`: the sections a user file may use (`None` for the default,
/// which defines them and must give every entry a `desc`). `None` when the file does not
/// parse; problems with single entries are pushed and the entries left out.
fn parse_keymap(
    file: &Path,
    src: &str,
    known: Option<&[String]>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<BTreeMap<String, Vec<Binding>>> {
    let raw: BTreeMap<String, Vec<RawBinding>> = match parse_toml(file, src) {
        Ok(raw) => raw,
        Err(problem) => {
            problems.push(problem);
            return None;
        }
    };
    let mut sections = BTreeMap::new();
    for (name, entries) in raw {
        if let Some(known) = known
            && !known.contains(&name)
        {
            problems.push(value_problem(
                file,
                src,
                &[PathSeg::Key(&name)],
                format_args!("unknown section; the sections are {}", known.join(", ")),
            ));
            continue;
        }
        let mut bindings = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            let at = |field| [PathSeg::Key(&name), PathSeg::Index(i), PathSeg::Key(field)];
            if entry.on.0.is_empty() {
                problems.push(value_problem(file, src, &at("on"), "no keys"));
                continue;
            }
            let mut keys = Vec::with_capacity(entry.on.0.len());
            for (k, text) in entry.on.0.iter().enumerate() {
                match text.parse::<Key>() {
                    Ok(key) => keys.push(key),
                    Err(reason) => {
                        let mut path = at("on").to_vec();
                        if entry.on.0.len() > 1 {
                            path.push(PathSeg::Index(k));
                        }
                        problems.push(value_problem(file, src, &path, reason));
                    }
                }
            }
            if keys.len() != entry.on.0.len() {
                continue;
            }
            let run = entry.run.trim().to_string();
            if run.is_empty() {
                problems.push(value_problem(file, src, &at("run"), "empty command"));
                continue;
            }
            // Every command is checked against the TUI's registry now, not when the key
            // is pressed.
            if let Err(reason) = crate::tui::command::Command::parse(&run) {
                problems.push(value_problem(file, src, &at("run"), reason));
                continue;
            }
            let desc = entry.desc.unwrap_or_default().trim().to_string();
            if known.is_none() && desc.is_empty() && run != NOOP {
                problems.push(value_problem(
                    file,
                    src,
                    &at("desc"),
                    "every default needs a desc",
                ));
            }
            bindings.push(Binding {
                on: keys,
                run,
                desc,
            });
        }
        sections.insert(name, bindings);
    }
    Some(sections)
}

/// The outcome of feeding one key to a [`KeyMatcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// No binding (or a `noop` one): the key is the pane's to use (e.g. typed text).
    None,
    /// The keys so far begin a sequence: waiting for the next key.
    Pending,
    /// A binding matched: run this command.
    Run(String),
}

/// Matches key presses against a keymap, one key at a time, holding a pending sequence.
#[derive(Debug, Clone, Default)]
pub struct KeyMatcher {
    pending: Vec<Key>,
}

enum Lookup<'a> {
    Run(&'a str),
    Prefix,
    Nothing,
}

fn lookup<'a>(keymap: &'a Keymap, sections: &[&str], seq: &[Key]) -> Lookup<'a> {
    for name in sections {
        let bindings = keymap.section(name);
        if let Some(binding) = bindings.iter().find(|b| b.on == seq) {
            return Lookup::Run(&binding.run);
        }
        if bindings
            .iter()
            .any(|b| b.on.len() > seq.len() && b.on.starts_with(seq))
        {
            return Lookup::Prefix;
        }
    }
    Lookup::Nothing
}

impl KeyMatcher {
    pub fn new() -> KeyMatcher {
        KeyMatcher::default()
    }

    /// Feeds one key. `sections` are tried in order, innermost first (e.g.
    /// `["filter", "catalog", "list", "global"]`); in each, a complete match wins over the
    /// start of a longer sequence. A key that does not continue a pending sequence drops it
    /// and is tried on its own.
    pub fn feed(&mut self, keymap: &Keymap, sections: &[&str], key: Key) -> Match {
        self.pending.push(key);
        match lookup(keymap, sections, &self.pending) {
            Lookup::Run(run) => {
                self.pending.clear();
                if run == NOOP {
                    Match::None
                } else {
                    Match::Run(run.to_string())
                }
            }
            Lookup::Prefix => Match::Pending,
            Lookup::Nothing if self.pending.len() > 1 => {
                self.pending.clear();
                self.feed(keymap, sections, key)
            }
            Lookup::Nothing => {
                self.pending.clear();
                Match::None
            }
        }
    }

    /// The keys of a sequence in progress (to show `g…` in the footer).
    pub fn pending(&self) -> &[Key] {
        &self.pending
    }

    /// Drops a pending sequence (on focus change, popup, ...).
    pub fn reset(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyEventKind, KeyEventState};

    fn key(s: &str) -> Key {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn keys(s: &[&str]) -> Vec<Key> {
        s.iter().map(|k| key(k)).collect()
    }

    fn event(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }

    fn keymaps_on_disk() -> Vec<(PathBuf, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("keymaps");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("keymaps/ exists") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let src = std::fs::read_to_string(&path).expect("readable");
                out.push((path, src));
            }
        }
        assert!(!out.is_empty(), "no keymaps in {}", dir.display());
        out
    }

    #[test]
    fn every_shipped_keymap_parses_strictly_with_descs() {
        for (path, src) in keymaps_on_disk() {
            let mut problems = Vec::new();
            let sections = parse_keymap(&path, &src, None, &mut problems);
            assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
            let sections = sections.expect("parses");
            for (name, bindings) in &sections {
                assert!(!bindings.is_empty(), "{name} is empty");
                for (i, b) in bindings.iter().enumerate() {
                    assert!(!b.desc.is_empty(), "{name}[{i}] has no desc");
                    let dupes = bindings.iter().filter(|o| o.on == b.on).count();
                    assert_eq!(dupes, 1, "{name}: {} bound twice", format_keys(&b.on));
                }
            }
        }
        let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("keymaps/default.toml");
        let src = std::fs::read_to_string(default).expect("default keymap");
        assert_eq!(
            src, DEFAULT_KEYMAP,
            "the embedded default is keymaps/default.toml"
        );
    }

    #[test]
    fn keymap_files_deny_unknown_fields() {
        let mut problems = Vec::new();
        let src = "[[global]]\non = \"q\"\nrun = \"quit\"\ndesc = \"Quit\"\nwhen = \"always\"\n";
        assert!(parse_keymap(Path::new("k.toml"), src, None, &mut problems).is_none());
        assert_eq!(
            problems[0].key.as_deref(),
            Some("global[0].when"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn defaults_cover_the_documented_keys() {
        let keymap = Keymap::builtin();
        let run = |sections: &[&str], on: &[&str]| {
            let mut m = KeyMatcher::new();
            let mut last = Match::None;
            for k in on {
                last = m.feed(&keymap, sections, key(k));
            }
            last
        };
        let list = ["catalog", "list", "global"];
        for (on, expect) in [
            (&["q"][..], "quit"),
            (&["<C-c>"], "quit"),
            (&["?"], "help"),
            (&[":"], "palette"),
            (&["/"], "filter"),
            (&["<Tab>"], "next_pane"),
            (&["<BackTab>"], "prev_pane"),
            (&["3"], "pane:3"),
            (&["<C-z>"], "suspend"),
            (&["<Esc>"], "back"),
            (&["<C-l>"], "redraw"),
            (&["j"], "down"),
            (&["<Down>"], "down"),
            (&["k"], "up"),
            (&["g", "g"], "top"),
            (&["<Home>"], "top"),
            (&["G"], "bottom"),
            (&["<C-d>"], "page_down"),
            (&["<PageUp>"], "page_up"),
            (&["<Enter>"], "open"),
            (&["l"], "open"),
            (&["s"], "sort_next"),
            (&["S"], "sort_reverse"),
            (&["o"], "group_next"),
            (&["e"], "scope_env_next"),
            (&["r"], "scope_region_next"),
        ] {
            assert_eq!(run(&list, on), Match::Run(expect.into()), "{on:?}");
        }
        // While typing a filter, letters are text.
        assert_eq!(run(&["filter"], &["q"]), Match::None);
        assert_eq!(run(&["help", "global"], &["q"]), Match::Run("close".into()));
    }

    #[test]
    fn key_notation_round_trips() {
        for text in [
            "q",
            "G",
            "/",
            "?",
            ":",
            "1",
            "<",
            "<C-d>",
            "<A-x>",
            "<S-Up>",
            "<C-A-x>",
            "<Enter>",
            "<Esc>",
            "<Tab>",
            "<BackTab>",
            "<Up>",
            "<PageDown>",
            "<Home>",
            "<End>",
            "<Space>",
            "<Backspace>",
            "<Delete>",
            "<F1>",
            "<F12>",
            "<C-lt>",
            "<C-Space>",
        ] {
            let k = key(text);
            assert_eq!(k.to_string(), text, "display of {text}");
            assert_eq!(key(&k.to_string()), k, "round trip of {text}");
        }
        assert_eq!(key("<enter>"), key("<Enter>"));
        assert_eq!(key("<c-D>"), key("<C-d>"));
        assert_eq!(key("<S-g>"), key("G"));
        assert_eq!(key("<S-Tab>"), key("<BackTab>"));
        assert_eq!(key("<space>"), key(" "));
        for bad in ["", "<>", "<Ctl-x>", "<F13>", "ab", "<Foo>", "<C->"] {
            assert!(bad.parse::<Key>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn events_normalise_to_bindings() {
        let shift_g = event(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&shift_g), key("G"));
        let ctrl_d = event(KeyCode::Char('d'), KeyModifiers::CONTROL);
        assert_eq!(Key::from_event(&ctrl_d), key("<C-d>"));
        let backtab = event(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&backtab), key("<BackTab>"));
        let question = event(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&question), key("?"));

        let keymap = Keymap::builtin();
        let mut m = KeyMatcher::new();
        assert_eq!(
            m.feed(&keymap, &["list", "global"], Key::from_event(&shift_g)),
            Match::Run("bottom".into())
        );
    }

    #[test]
    fn sequences_wait_and_broken_sequences_reset() {
        let keymap = Keymap::builtin();
        let sections = ["catalog", "list", "global"];
        let mut m = KeyMatcher::new();
        assert_eq!(m.feed(&keymap, &sections, key("g")), Match::Pending);
        assert_eq!(m.pending(), &[key("g")]);
        assert_eq!(
            m.feed(&keymap, &sections, key("g")),
            Match::Run("top".into())
        );
        assert!(m.pending().is_empty());

        // `g` then `j`: the sequence is dropped and `j` runs alone.
        assert_eq!(m.feed(&keymap, &sections, key("g")), Match::Pending);
        assert_eq!(
            m.feed(&keymap, &sections, key("j")),
            Match::Run("down".into())
        );
        assert!(m.pending().is_empty());

        // `g` then an unbound key: nothing, and nothing pending.
        assert_eq!(m.feed(&keymap, &sections, key("g")), Match::Pending);
        assert_eq!(m.feed(&keymap, &sections, key("<F11>")), Match::None);
        assert!(m.pending().is_empty());
    }

    fn with_user_keymap(text: &str) -> (tempfile::TempDir, Keymap, Vec<ConfigProblem>) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::in_dir(tmp.path());
        std::fs::create_dir_all(&paths.config_dir).expect("mkdir");
        std::fs::write(paths.keymap_file(), text).expect("write");
        let (keymap, problems) = load_keymap(&paths);
        (tmp, keymap, problems)
    }

    #[test]
    fn no_user_file_gives_the_defaults() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (keymap, problems) = load_keymap(&Paths::in_dir(tmp.path()));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(keymap, Keymap::builtin());
    }

    #[test]
    fn user_entry_replaces_the_default_and_noop_unbinds() {
        let (_tmp, keymap, problems) = with_user_keymap(
            "[[global]]\non = \"q\"\nrun = \"back\"\n\n\
             [[global]]\non = \"<C-q>\"\nrun = \"quit\"\ndesc = \"Quit sphere\"\n\n\
             [[list]]\non = \"j\"\nrun = \"noop\"\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let global = keymap.section("global");
        let q: Vec<_> = global.iter().filter(|b| b.on == keys(&["q"])).collect();
        assert_eq!(q.len(), 1, "the default q is replaced, not shadowed");
        assert_eq!(q[0].run, "back");
        assert_eq!(
            q[0].desc, "Back / close",
            "a desc is borrowed from a default `back`"
        );
        assert_eq!(global[1].on, keys(&["<C-q>"]), "new entries come first");

        let mut m = KeyMatcher::new();
        let sections = ["list", "global"];
        assert_eq!(
            m.feed(&keymap, &sections, key("q")),
            Match::Run("back".into())
        );
        assert_eq!(
            m.feed(&keymap, &sections, key("<C-q>")),
            Match::Run("quit".into())
        );
        assert_eq!(m.feed(&keymap, &sections, key("j")), Match::None);
        assert_eq!(
            m.feed(&keymap, &sections, key("<Down>")),
            Match::Run("down".into())
        );
        // The help and the keymap table list `down` under <Down> only.
        let rows = crate::tui::command::key_rows(&keymap);
        let down = rows
            .iter()
            .find(|r| r.section == "list" && r.run == "down")
            .expect("down is still bound");
        assert_eq!(down.keys, [keys(&["<Down>"])], "{down:?}");
        assert_eq!(down.desc, "Move down");
    }

    fn assert_bad(text: &str, key_path: &str, reason: &str) {
        let (_tmp, keymap, problems) = with_user_keymap(text);
        assert_eq!(keymap, Keymap::builtin(), "defaults returned for {text:?}");
        assert!(!problems.is_empty(), "no problem for {text:?}");
        let shown = problems[0].to_string();
        assert!(shown.contains("keymap.toml"), "{shown}");
        assert_eq!(problems[0].key.as_deref(), Some(key_path), "{shown}");
        assert!(shown.contains(&format!("key `{key_path}`")), "{shown}");
        assert!(shown.contains(reason), "{shown}");
        assert!(shown.contains("line "), "{shown}");
    }

    #[test]
    fn bad_user_files_are_reported_and_ignored() {
        assert_bad(
            "[[global]]\non = \"x\"\nrun = \"quit\"\n[[catalog]]\non = \"q\"\nrun = \"quit\"\nrn = 1\n",
            "catalog[0].rn",
            "unknown field `rn`",
        );
        assert_bad(
            "[[global]]\non = \"x\"\nrun = \"quit\"\n[[catalog]]\non = [\"g\", \"<Ctl-x>\"]\nrun = \"top\"\n",
            "catalog[0].on[1]",
            "unknown key name \"<Ctl-x>\"",
        );
        assert_bad(
            "[[global]]\non = \"x\"\nrun = \"quit\"\n\n[[catlog]]\non = \"q\"\nrun = \"quit\"\n",
            "catlog",
            "unknown section",
        );
        // A command the TUI does not know is a problem at load, naming file and line,
        // not a toast when the key is pressed.
        assert_bad(
            "[[global]]\non = \"x\"\nrun = \"quit\"\n[[list]]\non = \"J\"\nrun = \"donw\"\n",
            "list[0].run",
            "unknown command \"donw\"",
        );
        assert_bad(
            "[[catalog]]\non = \"9\"\nrun = \"pane:9\"\n",
            "catalog[0].run",
            "no pane \"9\"",
        );
        let (_tmp, keymap, problems) = with_user_keymap("[[global]\non = \"x\"\n");
        assert_eq!(keymap, Keymap::builtin());
        assert!(
            problems[0].to_string().contains("line 1"),
            "{}",
            problems[0]
        );
    }
}
